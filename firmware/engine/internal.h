/* Shared between the engine's own files; not part of its public interface. */
#ifndef OB_ENGINE_INTERNAL_H
#define OB_ENGINE_INTERNAL_H

#include <libavcodec/avcodec.h>
#include <libavutil/frame.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "hw.h"

/* ---- inputs: ingest and decode ---- */

struct ob_input;

/* What an input is asked to do. Borrowed for the input's life. */
struct ob_input_options {
	const char *url;             /* as stored in the channel (validated) */
	const char *media_dir;       /* DATA_DIR/media, where file: inputs live */
	bool realtime;               /* pace files and the test pattern at their frame rate */
	int open_timeout_ms;         /* give up opening (or waiting for a publisher) after this */
	int silence_timeout_ms;      /* an open input that delivers nothing this long is lost */
	const atomic_bool *stop;     /* set by the owner: every wait ends at once */
	const struct ob_hw_backend *backend; /* opens the decoders */
	bool audio_passthrough;      /* hand AAC audio out as packets, not decoded */
};

/* What the input carries, known once it is open. */
struct ob_input_info {
	bool has_video;
	bool has_audio;
	char format[32];             /* demuxer: "mpegts", "flv", ... ("lavfi" for the pattern) */
	char video_codec[32];
	int width;
	int height;
	AVRational frame_rate;       /* nominal; 25/1 when the input does not say */
	AVRational sample_aspect;
	enum AVPixelFormat pix_fmt;
	char audio_codec[32];
	int sample_rate;
	int channels;
	bool audio_packets;          /* the audio comes as packets (passthrough of AAC) */
};

/* Opens an input and its decoders. OB_EINVAL (not a usable source: no video, forbidden
 * format), OB_EIO (cannot reach it, timed out) or OB_ENOMEM, with the reason in err. */
int ob_input_open(const struct ob_input_options *opts, struct ob_input **out, char *err,
		  size_t err_len);

/* The input's streams. */
const struct ob_input_info *ob_input_info(const struct ob_input *in);

/* Reads the next decoded frame into frame (unreferenced first) with its pts in
 * microseconds (AV_TIME_BASE_Q); *video tells which stream. With audio_packets, audio comes
 * as a packet instead, into packet, with pts, dts and duration in microseconds. 0 with a
 * frame, 2 with a packet, 1 at the end of a file that does not loop, OB_EIO when the input
 * is lost (reason in err), OB_EBUSY when asked to stop. */
int ob_input_read(struct ob_input *in, AVFrame *frame, AVPacket *packet, bool *video, char *err,
		  size_t err_len);

/* The audio stream's codec parameters (audio_packets inputs), or NULL. */
const AVCodecParameters *ob_input_audio_parameters(const struct ob_input *in);

/* Bytes read from the source so far, and the monotonic time of the last packet. */
void ob_input_counters(const struct ob_input *in, int64_t *bytes, int64_t *last_packet_ms);

/* Hands an open input to another owner with its own options (stop flag, timeouts). */
void ob_input_set_options(struct ob_input *in, const struct ob_input_options *opts);

/* Closes the input and sets *in to NULL. */
void ob_input_close(struct ob_input **in);

/* ---- output: a channel's files on disk, through the packager ---- */

#include "packager/packager.h"

#define OB_TRACK_NAME_MAX 8

/* One output track (a video rung or the audio), as the manifests describe it. */
struct ob_output_track {
	char name[OB_TRACK_NAME_MAX]; /* "v0".."v7", "a0": its playlist and directory */
	bool video;
	uint32_t timescale;
	int width;
	int height;
	double frame_rate;
	long average_bps;             /* the target */
	long peak_bps;                /* the VBV maximum (audio: the target) */
	int sample_rate;
	int channels;
	char codecs[48];              /* RFC 6381 */
};

/* How a run writes its files. */
struct ob_output_config {
	const char *dir;              /* DATA_DIR/live/<channel>, or transcode's --out */
	int segment_seconds;
	int live_window_segments;     /* segments in a live playlist */
	int dvr_window_seconds;       /* when > 0, playlists list this much instead */
	bool vod;                     /* one pass over a file: keep every segment */
	bool ts;                      /* MPEG-TS HLS too: NAME-ts.m3u8, master-ts.m3u8 */
	int64_t availability_start_ms; /* wall clock of media time 0 */
};

struct ob_output;

/* Empties (or makes) the directory and prepares the timelines for tracks (copied).
 * 0, OB_EIO or OB_ENOMEM with a message. */
int ob_output_open(const struct ob_output_config *config, const struct ob_output_track *tracks,
		   size_t n_tracks, struct ob_output **out, char *err, size_t err_len);

/* Updates a track's codecs string (known once its encoder is open). */
void ob_output_set_codecs(struct ob_output *o, size_t track, const char *codecs);

/* Publishes a track's init segment for an epoch: TRACK/init-INIT_ID.mp4, init_id being
 * unique across the channel's runs (the segments of the epoch carry it). 0 or OB_EIO. */
int ob_output_init_segment(struct ob_output *o, size_t track, uint64_t init_id,
			   const void *data, size_t len);

/* Publishes a track's next media segment, CMAF (data) and, with ts, the same media as
 * MPEG-TS (ts_data, or NULL); its number is assigned here: consecutive per track, the
 * first from its start time. Rewrites the playlists it changes; older segments leave the
 * window and the disk. Thread-safe. 0, OB_EINVAL (out of order) or OB_EIO. */
int ob_output_segment(struct ob_output *o, size_t track, struct ob_pkg_segment *seg,
		      const void *data, size_t len, const void *ts_data, size_t ts_len);

/* True once every track has a segment, so the master playlist and the MPD exist. */
bool ob_output_ready(struct ob_output *o);

/* Writes the final playlists (EXT-X-ENDLIST, a static MPD). */
int ob_output_finish(struct ob_output *o);

/* Frees the output (files stay) and sets *o to NULL. */
void ob_output_close(struct ob_output **o);

/* ---- a run: one channel's pipeline, from input to output, in its own threads ---- */

struct ob_run;

struct ob_run_config {
	const char *id;               /* the channel's id, for messages */
	const json_t *channel;        /* validated, defaults filled (borrowed during start) */
	const json_t *ladder;         /* validated, defaults filled (borrowed during start) */
	const char *out_dir;
	const char *media_dir;        /* where file: inputs live */
	bool transcode;               /* one pass over a file, as fast as possible, VOD output */
	int64_t min_origin_us;        /* live: start no earlier (the channel's last run's end) */
};

/* Starts a run in its own threads. 0, or OB_EINVAL/OB_ENOMEM/OB_EUNSUPPORTED with the
 * reason in err (a source that fails later shows in the status instead). */
int ob_run_start(const struct ob_run_config *config, struct ob_run **out, char *err,
		 size_t err_len);

/* The run's status document (new reference): state, reason, input, rungs, audio, notes. */
json_t *ob_run_status(struct ob_run *run);

/* True once the run ended by itself (a file that does not loop, a transcode). */
bool ob_run_finished(struct ob_run *run);

/* Waits until the run ends by itself (a transcode, a file that does not loop). Returns 0
 * when it ended cleanly, OB_EIO with the reason in err otherwise. */
int ob_run_wait(struct ob_run *run, char *err, size_t err_len);

/* Stops the run (final segments are written, the playlists end), joins its threads and
 * frees it; sets *run to NULL. Returns where its media ended (microseconds of media time),
 * 0 for none. */
int64_t ob_run_stop(struct ob_run **run);

#endif
