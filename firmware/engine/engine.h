/* The engine: channel pipelines (ingest, decode once, a ladder of scaled rungs, one encoder
 * per rung). This header starts with the ladder model that every channel is built from. */
#ifndef OB_ENGINE_ENGINE_H
#define OB_ENGINE_ENGINE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define OB_LADDER_ID_MAX 32
#define OB_LADDER_RUNGS_MAX 8

/* The bitrate step between neighbouring rungs that keeps ABR switching smooth: each rung
 * 30 to 45 % below the one above it. A ladder opts out with "check_steps": false. */
#define OB_LADDER_STEP_MIN_PERCENT 30
#define OB_LADDER_STEP_MAX_PERCENT 45

/* Checks a ladder document as the API takes it:
 *   {"id", "name", "rungs": [{"width", "height", "video_bitrate_kbps",
 *     "max_bitrate_kbps"?, "buffer_kbits"?, "codec"?, "profile"?, "preset"?}, ...],
 *    "audio"?: {"mode": "aac"|"passthrough", "bitrate_kbps"?}, "check_steps"?}
 * Returns 0, or OB_EINVAL with a message naming the field and saying what to change
 * ("rungs[2].video_bitrate_kbps: ..."). */
int ob_engine_ladder_validate(const json_t *ladder, char *err, size_t err_len);

/* Fills the optional fields of a valid ladder with their defaults, in place: max bitrate
 * 110 % of the target, a buffer of two seconds at the target, H.264 High, preset veryfast,
 * AAC at 128 kbit/s, check_steps true. */
void ob_engine_ladder_fill_defaults(json_t *ladder);

/* The built-in ladders, each a complete document with "builtin": true (new reference). */
json_t *ob_engine_ladder_presets(void);

/* One built-in ladder by id (new reference), or NULL. */
json_t *ob_engine_ladder_preset(const char *id);

/* ---- channels ---- */

#define OB_CHANNEL_ID_MAX 32

/* Checks a channel document as the API takes it (see docs/openapi.yaml, Channel):
 *   {"id"?, "name", "input": {"url", "backup_url"?, "failover_after_s"?}, "ladder"?,
 *    "segment_seconds"?, "live_window_segments"?, "dvr_window_seconds"?, "access"?,
 *    "backend"?, "autostart"?}
 * Input URLs must be of a kind the box ingests (srt, rtmp, udp, rtsp, http(s), file,
 * test://pattern) and well formed for it. Whether the ladder exists is the caller's check.
 * Returns 0, or OB_EINVAL with a message naming the field. */
int ob_engine_channel_validate(const json_t *channel, char *err, size_t err_len);

/* Fills a valid channel's optional fields with their defaults, in place, deriving "id"
 * from the name when it is missing (lowercase, '-' for anything else, at most 32). */
void ob_engine_channel_fill_defaults(json_t *channel);

/* Checks one input URL; where names the field for the message. 0 or OB_EINVAL. */
int ob_engine_input_url_check(const char *url, const char *where, char *err, size_t err_len);

/* ---- running channels ---- */

struct ob_store;
struct ob_engine;

/* Sends libav*'s log lines to ottbox's log (errors as warnings, the rest at debug). */
void ob_engine_log_setup(void);

/* Makes the engine over a borrowed store (which must outlive it). Channels write to
 * DATA_DIR/live/<id>; file: inputs read DATA_DIR/media. 0 or OB_ENOMEM. */
int ob_engine_create(struct ob_store *store, const char *data_dir, struct ob_engine **out);

/* Stops every running channel and frees the engine; sets *engine to NULL. */
void ob_engine_destroy(struct ob_engine **engine);

/* Starts a stored channel (a running one is left running). 0, OB_ENOTFOUND (no such
 * channel), or OB_EINVAL/OB_EUNSUPPORTED with the reason in err. */
int ob_engine_start(struct ob_engine *engine, const char *id, char *err, size_t err_len);

/* Stops a channel: final segments are written and its playlists end. 0 whether or not it
 * ran. */
int ob_engine_stop(struct ob_engine *engine, const char *id);

/* Restarts a channel when it runs, so a changed configuration takes effect. */
int ob_engine_restart_if_running(struct ob_engine *engine, const char *id, char *err,
				 size_t err_len);

/* The channel's status document (new reference): {"state": "stopped"} when not running,
 * else state, reason, input, rungs, audio, notes; always "playback" paths. */
json_t *ob_engine_status(struct ob_engine *engine, const char *id);

/* Starts every stored channel with "autostart": true; failures are logged. */
void ob_engine_autostart(struct ob_engine *engine);

/* Runs the engine once over a local file with a ladder (validated, defaults filled) and
 * writes VOD HLS and DASH into out_dir, as fast as the machine allows. 0, or an OB_E* code
 * with the reason in err. */
int ob_engine_transcode(const char *input_path, const json_t *ladder, int segment_seconds,
			const char *out_dir, char *err, size_t err_len);

#endif
