#include <stdbool.h>
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <libavutil/dict.h>
#include <libavutil/error.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "hw.h"

/* Encoders and decoders the software path may use, by libavcodec name. */
static const char *const encoder_names[] = { "libx264", "libx265", "aac", NULL };
static const char *const decoder_names[] = { "h264", "hevc", "mpeg2video", "aac", NULL };

static int software_probe(json_t *report)
{
	json_t *encoders = json_array();
	json_t *decoders = json_array();
	int video_encoders = 0;

	for (const char *const *n = encoder_names; *n; n++) {
		const AVCodec *codec = avcodec_find_encoder_by_name(*n);

		if (!codec)
			continue;
		json_array_append_new(encoders, json_string(*n));
		video_encoders += codec->type == AVMEDIA_TYPE_VIDEO;
	}
	for (const char *const *n = decoder_names; *n; n++)
		if (avcodec_find_decoder_by_name(*n))
			json_array_append_new(decoders, json_string(*n));
	json_object_set_new(report, "available", json_boolean(video_encoders > 0));
	if (video_encoders == 0)
		json_object_set_new(report, "reason",
				    json_string("libavcodec has no libx264 or libx265 encoder"));
	json_object_set_new(report, "encoders", encoders);
	json_object_set_new(report, "decoders", decoders);
	json_object_set_new(report, "libavcodec", json_string(av_version_info()));
	return 0;
}

/* x264 and x265 share the option names this needs; only the params key differs. */
static int software_open_encoder(const struct ob_hw_encode_params *p, AVCodecContext **out,
				 char *err, size_t err_len)
{
	bool hevc = strcmp(p->codec, "hevc") == 0;
	const char *name = hevc ? "libx265" : "libx264";
	const AVCodec *codec;
	AVCodecContext *ctx;
	AVDictionary *opts = NULL;
	const AVDictionaryEntry *left = NULL;
	char params[256];
	int rc;

	*out = NULL;
	if (!hevc && strcmp(p->codec, "h264") != 0) {
		snprintf(err, err_len, "software: no encoder for codec \"%s\"", p->codec);
		return OB_EUNSUPPORTED;
	}
	codec = avcodec_find_encoder_by_name(name);
	if (!codec) {
		snprintf(err, err_len, "software: libavcodec on this box has no %s", name);
		return OB_EUNSUPPORTED;
	}
	if (p->gop_frames < 1 || p->width < 16 || p->height < 16 || p->bitrate_kbps < 1 ||
	    p->frame_rate.num <= 0 || p->frame_rate.den <= 0 || p->time_base.num <= 0 ||
	    p->time_base.den <= 0) {
		snprintf(err, err_len, "software: encoder parameters out of range");
		return OB_EINVAL;
	}
	ctx = avcodec_alloc_context3(codec);
	if (!ctx)
		return OB_ENOMEM;
	ctx->width = p->width;
	ctx->height = p->height;
	ctx->time_base = p->time_base;
	ctx->framerate = p->frame_rate;
	ctx->pix_fmt = p->profile && strcmp(p->profile, "main10") == 0 ? AV_PIX_FMT_YUV420P10LE
									 : AV_PIX_FMT_YUV420P;
	ctx->bit_rate = (int64_t)p->bitrate_kbps * 1000;
	ctx->rc_max_rate = (int64_t)p->max_bitrate_kbps * 1000;
	ctx->rc_buffer_size = p->buffer_kbits * 1000;
	ctx->gop_size = p->gop_frames;
	ctx->thread_count = p->threads > 0 ? p->threads : 0;
	ctx->keyint_min = p->gop_frames;
	/* Closed GOPs with headers out of band: what CMAF segments need. */
	ctx->flags |= AV_CODEC_FLAG_CLOSED_GOP | AV_CODEC_FLAG_GLOBAL_HEADER;
	/* Every rung keyframes on the same frames: a fixed GOP and no scene-cut keyframes;
	 * a forced I frame (segment cut after a discontinuity) is an IDR. */
	snprintf(params, sizeof(params), "scenecut=0:open-gop=0:keyint=%d:min-keyint=%d%s",
		 p->gop_frames, p->gop_frames, hevc ? ":log-level=error" : "");
	av_dict_set(&opts, hevc ? "x265-params" : "x264-params", params, 0);
	av_dict_set(&opts, "forced-idr", "1", 0);
	if (p->preset)
		av_dict_set(&opts, "preset", p->preset, 0);
	if (p->profile)
		av_dict_set(&opts, "profile", p->profile, 0);
	rc = avcodec_open2(ctx, codec, &opts);
	if (rc < 0) {
		char averr[AV_ERROR_MAX_STRING_SIZE];

		av_strerror(rc, averr, sizeof(averr));
		snprintf(err, err_len, "software: %s did not open for %dx%d at %d kbit/s: %s", name,
			 p->width, p->height, p->bitrate_kbps, averr);
		avcodec_free_context(&ctx);
		av_dict_free(&opts);
		return OB_EIO;
	}
	left = av_dict_get(opts, "", NULL, AV_DICT_IGNORE_SUFFIX);
	if (left) {
		snprintf(err, err_len, "software: %s does not take the option \"%s\"", name,
			 left->key);
		avcodec_free_context(&ctx);
		av_dict_free(&opts);
		return OB_EINTERNAL;
	}
	av_dict_free(&opts);
	*out = ctx;
	return 0;
}

static int software_open_decoder(const AVCodecParameters *par, AVCodecContext **out, char *err,
				 size_t err_len)
{
	const AVCodec *codec = avcodec_find_decoder(par->codec_id);
	AVCodecContext *ctx;
	int rc;

	*out = NULL;
	if (!codec) {
		snprintf(err, err_len, "software: libavcodec has no decoder for %s",
			 avcodec_get_name(par->codec_id));
		return OB_EUNSUPPORTED;
	}
	ctx = avcodec_alloc_context3(codec);
	if (!ctx)
		return OB_ENOMEM;
	rc = avcodec_parameters_to_context(ctx, par);
	if (rc >= 0) {
		/* Frame and slice threads, as many as the box has: frame threads cost a frame
		 * of latency each (tens of milliseconds against segments of seconds) and are
		 * what keeps one decoder ahead of several encoders. */
		ctx->thread_count = 0;
		ctx->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
		/* Frames bigger than 4K are refused before any allocation is made for them. */
		ctx->max_pixels = 4096 * 2304;
		rc = avcodec_open2(ctx, codec, NULL);
	}
	if (rc < 0) {
		char averr[AV_ERROR_MAX_STRING_SIZE];

		av_strerror(rc, averr, sizeof(averr));
		snprintf(err, err_len, "software: the %s decoder did not open: %s", codec->name,
			 averr);
		avcodec_free_context(&ctx);
		return OB_EIO;
	}
	*out = ctx;
	return 0;
}

static int software_scale_filter(const struct ob_hw_encode_params *p, char *out, size_t out_len)
{
	const char *format = p->profile && strcmp(p->profile, "main10") == 0 ? "yuv420p10le"
									     : "yuv420p";
	int n = snprintf(out, out_len, "scale=w=%d:h=%d:flags=bicubic,format=%s", p->width,
			 p->height, format);

	return n < 0 || (size_t)n >= out_len ? OB_ETOOBIG : 0;
}

const struct ob_hw_backend ob_hw_software = {
	.name = "software",
	.description = "CPU encoding with libx264/libx265 through libavcodec",
	.probe = software_probe,
	.open_encoder = software_open_encoder,
	.open_decoder = software_open_decoder,
	.scale_filter = software_scale_filter,
};
