/* Hardware backends behind one vtable, registered in one table (hw.c), each compiled in by
 * its Kconfig option. The engine asks this module for a backend; it never names one.
 *
 * A channel's video pipeline on a backend: the backend's device (open_device), the input
 * decoded on it when it can (open_decoder: frames on the device, or in system memory when
 * it cannot), one scale chain per rung (scale_filter: from where the decoded frames are to
 * where the rung's encoder wants them), and the rung's encoder (open_encoder, on the device
 * when the backend encodes that codec, else the software encoder fed from system memory:
 * the mixed path of a GPU with NVDEC and no NVENC). */
#ifndef OB_HW_HW_H
#define OB_HW_HW_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libavcodec/avcodec.h>
#include <libavutil/buffer.h>
#include <libavutil/dict.h>
#include <libavutil/pixfmt.h>
#include <libavutil/rational.h>

/* What one rung of a ladder asks of its encoder. */
struct ob_hw_encode_params {
	const char *codec;        /* "h264" or "hevc" */
	const char *profile;      /* "high", "main", "baseline", "main10" */
	const char *preset;       /* x264's names; each backend maps them to its own scale */
	int width;
	int height;
	AVRational frame_rate;    /* frames per second */
	AVRational time_base;     /* of the frames the encoder gets */
	int bitrate_kbps;         /* target */
	int max_bitrate_kbps;     /* VBV maximum rate */
	int buffer_kbits;         /* VBV buffer */
	int gop_frames;           /* segment duration x frame rate: every GOP starts a segment */
	int threads;              /* CPU threads this encoder may use; 0: it decides */
};

/* How a backend drives one libavcodec encoder for a rung (map_encoder's answer): what is
 * set on the AVCodecContext and what goes in the private options. Unit tests read it
 * without a device; open_encoder applies it. */
struct ob_hw_encoder_setup {
	char encoder[32];            /* libavcodec encoder name: "h264_vaapi", "libx264" */
	bool device_frames;          /* takes frames on the backend's device (hw_frames_ctx) */
	enum AVPixelFormat sw_format; /* the pixels: of system-memory frames, or the device
				      * frames' sw_format (NV12, P010, YUV420P) */
	int64_t bit_rate;            /* bit/s */
	int64_t rc_max_rate;         /* bit/s, 0 for none */
	int rc_buffer_size;          /* bits, 0 for none */
	int gop_size;
	int keyint_min;
	int max_b_frames;            /* -1: the encoder's default */
	int profile;                 /* FF_PROFILE_*, FF_PROFILE_UNKNOWN for the default */
	int thread_count;            /* 0: the encoder decides */
	int flags;                   /* AV_CODEC_FLAG_* */
	AVDictionary *options;       /* the encoder's private options; the caller frees them */
};

/* One device a backend found, as admission counts it (capacity's answer). Figures of 0
 * mean "not limited by this". */
struct ob_hw_device_caps {
	char id[64];              /* what open_device takes: "/dev/dri/renderD128", "0" */
	char label[96];           /* for people: the GPU's or driver's name */
	bool decodes;             /* decodes and scales a channel's input */
	bool encodes;             /* has an encoder (false: NVDEC without NVENC) */
	char encode_codecs[4][8]; /* "h264", "hevc", ... ("" ends the list) */
	int sessions;             /* encode sessions at once (one per rung) */
	double encode_pixel_rate; /* width x height x fps, summed over the rungs, per second */
	double decode_pixel_rate; /* pixels per second decoded */
};

#define OB_HW_DEVICES_MAX 8

struct ob_hw_backend {
	const char *name;        /* "software", "vaapi", "qsv", "nvenc" */
	const char *description; /* one line for people */
	/* Fills report (an empty object) with what this backend finds on the box:
	 * "available" (bool), "reason" when it is not, and what it can do. 0 or OB_E*. */
	int (*probe)(json_t *report);
	/* The devices in a report that probe made (or a descriptor of the same shape, in the
	 * tests), with what each can take: fills out[0..*count). 0, or OB_EUNSUPPORTED with
	 * *count 0 when the report has no usable device. */
	int (*capacity)(const json_t *report, struct ob_hw_device_caps *out, size_t max,
			size_t *count);
	/* Opens the device named by id (a capacity() id; NULL or "" for the first usable one)
	 * as a libavutil hardware device context in *out, which the caller unrefs. The
	 * software backend sets *out to NULL and succeeds. OB_EUNSUPPORTED or OB_EIO with a
	 * message. */
	int (*open_device)(const char *id, AVBufferRef **out, char *err, size_t err_len);
	/* Opens a decoder for an input stream (video or audio) described by par. With a
	 * device (borrowed; the decoder keeps its own reference) a video decoder outputs
	 * frames on it when the hardware decodes the stream, and frames in system memory when
	 * it does not (the caller looks at frame->hw_frames_ctx). On success *out is an opened
	 * context the caller frees with avcodec_free_context. OB_EUNSUPPORTED when this
	 * backend cannot decode it, OB_EIO with a message. */
	int (*open_decoder)(const AVCodecParameters *par, AVBufferRef *device, AVCodecContext **out,
			    char *err, size_t err_len);
	/* How this backend encodes a rung: closed GOPs of exactly gop_frames, no scene-cut
	 * keyframes, an IDR for a frame marked AV_PICTURE_TYPE_I, the rate control asked for.
	 * Fills *out (options in out->options, which the caller frees even on failure).
	 * OB_EUNSUPPORTED when this backend has no encoder for the codec or profile (the
	 * engine then encodes the rung in software), OB_EINVAL with a message for parameters
	 * out of range. Needs no device. */
	int (*map_encoder)(const struct ob_hw_encode_params *params, struct ob_hw_encoder_setup *out,
			   char *err, size_t err_len);
	/* Opens the rung's encoder as map_encoder describes it. frames (borrowed) is the
	 * filtergraph's output hw_frames_ctx when setup.device_frames, else NULL. On success
	 * *out is an opened context the caller frees with avcodec_free_context. The codes of
	 * map_encoder, and OB_EIO with a message when the device refuses. */
	int (*open_encoder)(const struct ob_hw_encode_params *params, AVBufferRef *frames,
			    AVCodecContext **out, char *err, size_t err_len);
	/* Writes the libavfilter chain that turns a decoded frame into the rung's input frame
	 * (scaled to width x height, in the encoder's pixel format) to out. in_device: the
	 * decoded frames are on this backend's device (else in system memory, uploaded by the
	 * chain when out_device); out_device: the rung's encoder takes device frames (else the
	 * chain ends in system memory, downloaded when in_device). The engine gives every
	 * filter the device. 0, OB_EUNSUPPORTED for a combination this backend has no chain
	 * for, or OB_ETOOBIG. */
	int (*scale_filter)(const struct ob_hw_encode_params *params, bool in_device,
			    bool out_device, char *out, size_t out_len);
};

/* The backends compiled into this firmware, best first; *count gets their number. */
const struct ob_hw_backend *const *ob_hw_backends(size_t *count);

/* Probes every backend and returns a new array of reports, each with "name" and
 * "description" added. */
json_t *ob_hw_probe_all(void);

/* A compiled-in backend by name, or NULL. */
const struct ob_hw_backend *ob_hw_backend_find(const char *name);

/* Applies a setup (the caller keeps and frees setup->options' remains) to a new context
 * of setup->encoder and opens it with frames (borrowed, or NULL) and the params' size,
 * frame rate and time base: the common half of every backend's open_encoder. An option the
 * encoder does not take is an error (OB_EINTERNAL), so a mapping cannot silently do
 * nothing. prefix names the backend in messages. */
int ob_hw_open_mapped(const char *prefix, const struct ob_hw_encode_params *params,
		      struct ob_hw_encoder_setup *setup, AVBufferRef *frames, AVCodecContext **out,
		      char *err, size_t err_len);

#endif
