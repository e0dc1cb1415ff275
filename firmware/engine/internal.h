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
	const struct ob_hw_backend *backend; /* opens the decoders (software) */
	const struct ob_hw_backend *video_backend; /* opens the video decoder; NULL: backend */
	AVBufferRef *video_device;   /* the video decoder's device (borrowed), NULL for none */
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

/* Replaces the video decoder of an open input with one of backend on device (borrowed,
 * NULL for system memory): video packets are skipped up to the next keyframe so the new
 * decoder starts clean. 0, or the backend's code with the reason in err (the old decoder
 * is kept). */
int ob_input_set_video_decoder(struct ob_input *in, const struct ob_hw_backend *backend,
			       AVBufferRef *device, char *err, size_t err_len);

/* True when the input's video decoder is backend's on device (NULL: system memory), or it
 * has no decoder (the test pattern). */
bool ob_input_decodes_on(const struct ob_input *in, const struct ob_hw_backend *backend,
			 const AVBufferRef *device);

/* True when ob_input_read failed because a backend's video decoder gave up (errors in a
 * row with no frame), not because the source went away. */
bool ob_input_decoder_failed(const struct ob_input *in);

/* Hands an open input to another owner with its own options (stop flag, timeouts). */
void ob_input_set_options(struct ob_input *in, const struct ob_input_options *opts);

/* Closes the input and sets *in to NULL. */
void ob_input_close(struct ob_input **in);

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
