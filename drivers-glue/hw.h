/* Hardware backends behind one vtable, registered in one table (hw.c), each compiled in by
 * its Kconfig option. The engine asks this module for a backend; it never names one. */
#ifndef OB_HW_HW_H
#define OB_HW_HW_H

#include <jansson.h>
#include <libavcodec/avcodec.h>
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

struct ob_hw_backend {
	const char *name;        /* "software", "vaapi", "qsv", "nvenc" */
	const char *description; /* one line for people */
	/* Fills report (an empty object) with what this backend finds on the box:
	 * "available" (bool), "reason" when it is not, and what it can do. 0 or OB_E*. */
	int (*probe)(json_t *report);
	/* Opens an encoder for a rung: closed GOPs of exactly gop_frames, no scene-cut
	 * keyframes, IDR on request (AV_PICTURE_TYPE_I), the rate control asked for. On
	 * success *out is an opened context the caller frees with avcodec_free_context.
	 * OB_EUNSUPPORTED when this backend has no encoder for the codec, OB_EINVAL or OB_EIO
	 * with a message. */
	int (*open_encoder)(const struct ob_hw_encode_params *params, AVCodecContext **out,
			    char *err, size_t err_len);
	/* Opens a decoder for an input stream (video or audio) described by par. On success
	 * *out is an opened context the caller frees with avcodec_free_context. OB_EUNSUPPORTED
	 * when this backend cannot decode it, OB_EIO with a message. */
	int (*open_decoder)(const AVCodecParameters *par, AVCodecContext **out, char *err,
			    size_t err_len);
	/* Writes the libavfilter chain that turns a decoded frame into a rung's input frame
	 * (scaled to width x height, in the encoder's pixel format) to out. 0 or OB_ETOOBIG. */
	int (*scale_filter)(const struct ob_hw_encode_params *params, char *out, size_t out_len);
};

/* The backends compiled into this firmware, best first; *count gets their number. */
const struct ob_hw_backend *const *ob_hw_backends(size_t *count);

/* Probes every backend and returns a new array of reports, each with "name" and
 * "description" added. */
json_t *ob_hw_probe_all(void);

/* A compiled-in backend by name, or NULL. */
const struct ob_hw_backend *ob_hw_backend_find(const char *name);

/* For a backend that probes a device but has no pipeline on it in this firmware: probes
 * it again and writes why it cannot take the job to err ("vaapi: no /dev/dri render node",
 * or that the device is there and its pipeline is not in this firmware). Always returns
 * OB_EUNSUPPORTED, so "auto" moves on to the next backend. */
int ob_hw_refuse(const struct ob_hw_backend *backend, char *err, size_t err_len);

#endif
