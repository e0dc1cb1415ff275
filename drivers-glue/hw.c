#include "hw.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libavutil/error.h>
#include <libavutil/hwcontext.h>
#include <libavutil/pixdesc.h>

#include "backend.h"
#include "generated/autoconf.h"
#include "core/err.h"
#include "core/util.h"

#if defined(OB_HW_TEST_BACKEND) && defined(CONFIG_HW_SOFTWARE)
extern const struct ob_hw_backend ob_hw_fault;
#endif
#ifdef CONFIG_HW_NVENC
extern const struct ob_hw_backend ob_hw_nvenc;
#endif
#ifdef CONFIG_HW_QSV
extern const struct ob_hw_backend ob_hw_qsv;
#endif
#ifdef CONFIG_HW_VAAPI
extern const struct ob_hw_backend ob_hw_vaapi;
#endif
#ifdef CONFIG_HW_SOFTWARE
extern const struct ob_hw_backend ob_hw_software;
#endif

/* Best first: admission (place.h) prefers the first backend with a device that can take a
 * ladder. */
static const struct ob_hw_backend *const backends[] = {
#if defined(OB_HW_TEST_BACKEND) && defined(CONFIG_HW_SOFTWARE)
	&ob_hw_fault, /* the tests' build only: fails on purpose (tests/hw/fault_backend.c) */
#endif
#ifdef CONFIG_HW_NVENC
	&ob_hw_nvenc,
#endif
#ifdef CONFIG_HW_QSV
	&ob_hw_qsv,
#endif
#ifdef CONFIG_HW_VAAPI
	&ob_hw_vaapi,
#endif
#ifdef CONFIG_HW_SOFTWARE
	&ob_hw_software,
#endif
	NULL,
};

/* Decoded frames on a device that the scale chains may hold beyond what the decoder needs
 * for its references: one per rung's scale filter in flight, with room to spare. */
#define DEVICE_EXTRA_FRAMES 8

/* The largest picture a decoder may allocate: 4K DCI-ish, refused before allocation. */
#define MAX_DECODE_PIXELS (4096 * 2304)

static const char *const x264_presets[OB_HW_PRESETS] = {
	"ultrafast", "superfast", "veryfast", "faster", "fast",
	"medium",    "slow",      "slower",   "veryslow", "placebo",
};

const struct ob_hw_backend *const *ob_hw_backends(size_t *count)
{
	*count = OB_ARRAY_SIZE(backends) - 1;
	return backends;
}

const struct ob_hw_backend *ob_hw_backend_find(const char *name)
{
	for (size_t i = 0; backends[i]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

json_t *ob_hw_probe_all(void)
{
	json_t *out = json_array();

	for (size_t i = 0; out && backends[i]; i++) {
		json_t *report = json_object();

		if (!report)
			continue;
		if (backends[i]->probe(report) != 0 && !json_object_get(report, "available"))
			json_object_set_new(report, "available", json_false());
		json_object_set_new(report, "name", json_string(backends[i]->name));
		json_object_set_new(report, "description", json_string(backends[i]->description));
		json_array_append_new(out, report);
	}
	return out;
}

int ob_hw_open_mapped(const char *prefix, const struct ob_hw_encode_params *params,
		      struct ob_hw_encoder_setup *setup, AVBufferRef *frames, AVCodecContext **out,
		      char *err, size_t err_len)
{
	const AVCodec *codec = avcodec_find_encoder_by_name(setup->encoder);
	const AVHWFramesContext *device_frames = NULL;
	const AVDictionaryEntry *left;
	AVCodecContext *ctx;
	char averr[AV_ERROR_MAX_STRING_SIZE];
	int ret;

	*out = NULL;
	if (!codec) {
		snprintf(err, err_len, "%s: libavcodec on this box has no %s", prefix,
			 setup->encoder);
		return OB_EUNSUPPORTED;
	}
	if (setup->device_frames) {
		if (!frames) {
			snprintf(err, err_len,
				 "%s: %s encodes frames on the device, and no device frames were "
				 "given (open the device and build the scale chain first)",
				 prefix, setup->encoder);
			return OB_EINVAL;
		}
		device_frames = (const AVHWFramesContext *)frames->data;
		if (device_frames->sw_format != setup->sw_format) {
			snprintf(err, err_len,
				 "%s: %s wants %s frames on the device, the chain gives %s", prefix,
				 setup->encoder, av_get_pix_fmt_name(setup->sw_format),
				 av_get_pix_fmt_name(device_frames->sw_format));
			return OB_EINVAL;
		}
	}
	ctx = avcodec_alloc_context3(codec);
	if (!ctx)
		return OB_ENOMEM;
	ctx->width = params->width;
	ctx->height = params->height;
	ctx->time_base = params->time_base;
	ctx->framerate = params->frame_rate;
	ctx->pix_fmt = device_frames ? device_frames->format : setup->sw_format;
	ctx->bit_rate = setup->bit_rate;
	ctx->rc_max_rate = setup->rc_max_rate;
	ctx->rc_buffer_size = setup->rc_buffer_size;
	ctx->gop_size = setup->gop_size;
	ctx->keyint_min = setup->keyint_min;
	if (setup->max_b_frames >= 0)
		ctx->max_b_frames = setup->max_b_frames;
	if (setup->profile != FF_PROFILE_UNKNOWN)
		ctx->profile = setup->profile;
	ctx->thread_count = setup->thread_count;
	ctx->flags |= setup->flags;
	if (device_frames) {
		ctx->hw_frames_ctx = av_buffer_ref(frames);
		if (!ctx->hw_frames_ctx) {
			ret = OB_ENOMEM;
			goto fail_free_context;
		}
	}
	ret = avcodec_open2(ctx, codec, &setup->options);
	if (ret < 0) {
		av_strerror(ret, averr, sizeof(averr));
		snprintf(err, err_len, "%s: %s did not open for %dx%d at %d kbit/s: %s", prefix,
			 setup->encoder, params->width, params->height, params->bitrate_kbps,
			 averr);
		ret = OB_EIO;
		goto fail_free_context;
	}
	left = av_dict_get(setup->options, "", NULL, AV_DICT_IGNORE_SUFFIX);
	if (left) {
		snprintf(err, err_len, "%s: %s does not take the option \"%s\"", prefix,
			 setup->encoder, left->key);
		ret = OB_EINTERNAL;
		goto fail_free_context;
	}
	*out = ctx;
	return 0;

fail_free_context:
	avcodec_free_context(&ctx);
	return ret;
}

int ob_hw_preset_index(const char *preset)
{
	if (!preset || !preset[0])
		preset = "medium";
	for (int i = 0; i < OB_HW_PRESETS; i++)
		if (strcmp(x264_presets[i], preset) == 0)
			return i;
	return -1;
}

bool ob_hw_is_main10(const struct ob_hw_encode_params *params)
{
	return params->profile && strcmp(params->profile, "main10") == 0;
}

int ob_hw_check_params(const char *prefix, const struct ob_hw_encode_params *p, char *err,
		       size_t err_len)
{
	if (!p->codec || p->gop_frames < 1 || p->width < 16 || p->height < 16 ||
	    p->bitrate_kbps < 1 || p->frame_rate.num <= 0 || p->frame_rate.den <= 0 ||
	    p->time_base.num <= 0 || p->time_base.den <= 0) {
		snprintf(err, err_len, "%s: encoder parameters out of range", prefix);
		return OB_EINVAL;
	}
	return 0;
}

int ob_hw_rate_mode(const char *prefix, const struct ob_hw_encode_params *p, bool *cbr,
		    char *err, size_t err_len)
{
	if (p->max_bitrate_kbps > 0 && p->max_bitrate_kbps < p->bitrate_kbps) {
		snprintf(err, err_len, "%s: maximum rate %d kbit/s is below the target %d kbit/s",
			 prefix, p->max_bitrate_kbps, p->bitrate_kbps);
		return OB_EINVAL;
	}
	*cbr = p->max_bitrate_kbps == p->bitrate_kbps;
	return 0;
}

void ob_hw_setup_clear(struct ob_hw_encoder_setup *setup)
{
	memset(setup, 0, sizeof(*setup));
	setup->sw_format = AV_PIX_FMT_NONE;
	setup->max_b_frames = -1;
	setup->profile = FF_PROFILE_UNKNOWN;
}

void ob_hw_setup_common(const struct ob_hw_encode_params *p, struct ob_hw_encoder_setup *setup)
{
	setup->bit_rate = (int64_t)p->bitrate_kbps * 1000;
	setup->rc_max_rate = (int64_t)p->max_bitrate_kbps * 1000;
	setup->rc_buffer_size = p->buffer_kbits * 1000;
	setup->gop_size = p->gop_frames;
	setup->keyint_min = p->gop_frames;
	setup->thread_count = p->threads > 0 ? p->threads : 0;
	/* Closed GOPs with headers out of band: what CMAF segments need. */
	setup->flags = AV_CODEC_FLAG_CLOSED_GOP | AV_CODEC_FLAG_GLOBAL_HEADER;
}

int ob_hw_setup_option(struct ob_hw_encoder_setup *setup, const char *key, const char *value)
{
	return av_dict_set(&setup->options, key, value, 0) < 0 ? OB_ENOMEM : 0;
}

int ob_hw_setup_option_int(struct ob_hw_encoder_setup *setup, const char *key, int64_t value)
{
	return av_dict_set_int(&setup->options, key, value, 0) < 0 ? OB_ENOMEM : 0;
}

int ob_hw_format_chain(char *out, size_t out_len, const char *format, ...)
{
	va_list ap;
	int n;

	va_start(ap, format);
	n = vsnprintf(out, out_len, format, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= out_len ? OB_ETOOBIG : 0;
}

int ob_hw_system_chain(const struct ob_hw_encode_params *p, char *out, size_t out_len)
{
	return ob_hw_format_chain(out, out_len, "scale=w=%d:h=%d:flags=bicubic,format=%s",
				  p->width, p->height,
				  ob_hw_is_main10(p) ? "yuv420p10le" : "yuv420p");
}

int ob_hw_device_chain(const struct ob_hw_encode_params *p, bool in_device, bool out_device,
		       const char *scaler, const char *upload, char *out, size_t out_len)
{
	bool ten = ob_hw_is_main10(p);
	const char *surface = ten ? "p010" : "nv12";

	if (!in_device && !out_device)
		return ob_hw_system_chain(p, out, out_len);
	if (in_device && out_device)
		return ob_hw_format_chain(out, out_len, "%s=w=%d:h=%d:format=%s", scaler, p->width,
					  p->height, surface);
	if (in_device)
		return ob_hw_format_chain(out, out_len,
					  "%s=w=%d:h=%d:format=%s,hwdownload,format=%s,format=%s",
					  scaler, p->width, p->height, surface, surface,
					  ten ? "yuv420p10le" : "yuv420p");
	return ob_hw_format_chain(out, out_len, "format=%s,%s,%s=w=%d:h=%d:format=%s", surface,
				  upload, scaler, p->width, p->height, surface);
}

/* The pixel format codec decodes to on a device of type, or AV_PIX_FMT_NONE when it has
 * no hardware decoding there. */
static enum AVPixelFormat device_format(const AVCodec *codec, enum AVHWDeviceType type)
{
	const AVCodecHWConfig *config;

	for (int i = 0; (config = avcodec_get_hw_config(codec, i)); i++)
		if ((config->methods & AV_CODEC_HW_CONFIG_METHOD_HW_DEVICE_CTX) &&
		    config->device_type == type)
			return config->pix_fmt;
	return AV_PIX_FMT_NONE;
}

/* get_format: the device's format when the decoder offers it (the hardware takes this
 * stream), else the first format in system memory. Called again without the device's
 * format when the hardware refuses the stream. */
static enum AVPixelFormat pick_format(AVCodecContext *ctx, const enum AVPixelFormat *offered)
{
	const AVHWDeviceContext *device = (const AVHWDeviceContext *)ctx->hw_device_ctx->data;
	enum AVPixelFormat want = device_format(ctx->codec, device->type);
	const enum AVPixelFormat *p;

	for (p = offered; *p != AV_PIX_FMT_NONE; p++)
		if (*p == want)
			return want;
	for (p = offered; *p != AV_PIX_FMT_NONE; p++) {
		const AVPixFmtDescriptor *desc = av_pix_fmt_desc_get(*p);

		if (desc && !(desc->flags & AV_PIX_FMT_FLAG_HWACCEL))
			return *p;
	}
	return AV_PIX_FMT_NONE;
}

int ob_hw_open_decoder(const char *prefix, const AVCodecParameters *par, const AVCodec *codec,
		       AVBufferRef *device, AVCodecContext **out, char *err, size_t err_len)
{
	AVCodecContext *ctx;
	char averr[AV_ERROR_MAX_STRING_SIZE];
	int ret;

	*out = NULL;
	if (!codec)
		codec = avcodec_find_decoder(par->codec_id);
	if (!codec) {
		snprintf(err, err_len, "%s: libavcodec has no decoder for %s", prefix,
			 avcodec_get_name(par->codec_id));
		return OB_EUNSUPPORTED;
	}
	ctx = avcodec_alloc_context3(codec);
	if (!ctx)
		return OB_ENOMEM;
	ret = avcodec_parameters_to_context(ctx, par);
	if (ret < 0)
		goto fail_free_context;
	/* Frame and slice threads, as many as the box has: frame threads cost a frame of
	 * latency each (tens of milliseconds against segments of seconds) and are what keeps
	 * one decoder ahead of several encoders. With a device they also carry the software
	 * fallback of a stream the hardware refuses. */
	ctx->thread_count = 0;
	ctx->thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE;
	/* Frames bigger than 4K are refused before any allocation is made for them. */
	ctx->max_pixels = MAX_DECODE_PIXELS;
	if (device && par->codec_type == AVMEDIA_TYPE_VIDEO &&
	    device_format(codec, ((const AVHWDeviceContext *)device->data)->type) !=
		    AV_PIX_FMT_NONE) {
		ctx->hw_device_ctx = av_buffer_ref(device);
		if (!ctx->hw_device_ctx) {
			avcodec_free_context(&ctx);
			return OB_ENOMEM;
		}
		ctx->get_format = pick_format;
		ctx->extra_hw_frames = DEVICE_EXTRA_FRAMES;
	}
	ret = avcodec_open2(ctx, codec, NULL);
	if (ret < 0)
		goto fail_free_context;
	*out = ctx;
	return 0;

fail_free_context:
	av_strerror(ret, averr, sizeof(averr));
	snprintf(err, err_len, "%s: the %s decoder did not open: %s", prefix, codec->name, averr);
	avcodec_free_context(&ctx);
	return OB_EIO;
}

int ob_hw_create_device(const char *prefix, enum AVHWDeviceType type, const char *device,
			AVBufferRef **out, char *err, size_t err_len)
{
	int ret;

	*out = NULL;
	ret = av_hwdevice_ctx_create(out, type, device, NULL, 0);
	if (ret < 0) {
		char averr[AV_ERROR_MAX_STRING_SIZE];

		av_strerror(ret, averr, sizeof(averr));
		snprintf(err, err_len, "%s: could not open the %s device %s: %s", prefix,
			 av_hwdevice_get_type_name(type), device, averr);
		return OB_EIO;
	}
	return 0;
}

int ob_hw_find_device(const struct ob_hw_backend *backend, const char *id,
		      struct ob_hw_device_caps *caps, char *err, size_t err_len)
{
	struct ob_hw_device_caps found[OB_HW_DEVICES_MAX];
	json_t *report = json_object();
	const char *reason;
	char ids[256] = "";
	size_t count = 0, used = 0;
	int ret = OB_EUNSUPPORTED;

	if (!report)
		return OB_ENOMEM;
	if (backend->probe(report) != 0 ||
	    backend->capacity(report, found, OB_ARRAY_SIZE(found), &count) != 0 || count == 0) {
		reason = json_string_value(json_object_get(report, "reason"));
		snprintf(err, err_len, "%s: %s", backend->name,
			 reason ? reason : "the probe found no usable device");
		goto out_free_report;
	}
	for (size_t i = 0; i < count; i++) {
		if (!id || !id[0] || strcmp(found[i].id, id) == 0) {
			*caps = found[i];
			ret = 0;
			goto out_free_report;
		}
		if (used < sizeof(ids))
			used += (size_t)snprintf(ids + used, sizeof(ids) - used, "%s%s",
						 i ? ", " : "", found[i].id);
	}
	snprintf(err, err_len, "%s: no usable device \"%s\" (the probe found %s)", backend->name,
		 id, ids);

out_free_report:
	json_decref(report);
	return ret;
}

bool ob_hw_json_lists(const json_t *list, const char *s)
{
	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *item = json_string_value(json_array_get(list, i));

		if (item && strcmp(item, s) == 0)
			return true;
	}
	return false;
}

int ob_hw_json_int(const json_t *object, const char *key, int min, int max, int fallback)
{
	const json_t *value = json_object_get(object, key);
	json_int_t n;

	if (!json_is_integer(value))
		return fallback;
	n = json_integer_value(value);
	return n >= min && n <= max ? (int)n : fallback;
}

void ob_hw_caps_add_codec(struct ob_hw_device_caps *caps, const char *codec)
{
	size_t n = OB_ARRAY_SIZE(caps->encode_codecs);

	for (size_t i = 0; i < n; i++) {
		if (strcmp(caps->encode_codecs[i], codec) == 0)
			return;
		if (!caps->encode_codecs[i][0]) {
			ob_strlcpy(caps->encode_codecs[i], codec, sizeof(caps->encode_codecs[i]));
			return;
		}
	}
}
