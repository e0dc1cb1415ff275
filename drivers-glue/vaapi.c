/* VAAPI (Intel and AMD GPUs through libva). This slice probes: every /dev/dri/renderD*
 * node is opened with libva and reported with its driver, and the decode (VLD) and encode
 * (EncSlice, EncSliceLP) entrypoints it has for H.264, HEVC and AV1. The zero-copy
 * pipeline (VAAPI decode, scale_vaapi per rung, h264_vaapi/hevc_vaapi) is the next slice
 * (docs/hardware.md): until it lands, open_encoder and open_decoder refuse with the probe's
 * reason and "auto" moves on to the next backend. */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libavutil/hwcontext.h>
#include <libavutil/hwcontext_vaapi.h>
#include <va/va.h>
#include <va/va_drm.h>

#include "backend.h"
#include "core/err.h"
#include "core/util.h"
#include "hw.h"

#define RENDER_NODES "/dev/dri/renderD*"

extern const struct ob_hw_backend ob_hw_vaapi;

/* The profiles a codec is probed with, the most common first: a codec "has" decode or
 * encode when any of them has the entrypoint. */
struct codec_profiles {
	const char *codec;
	VAProfile profiles[4];
	int n_profiles;
};

static const struct codec_profiles codecs[] = {
	{ "h264",
	  { VAProfileH264High, VAProfileH264Main, VAProfileH264ConstrainedBaseline },
	  3 },
	{ "hevc", { VAProfileHEVCMain, VAProfileHEVCMain10 }, 2 },
	{ "av1", { VAProfileAV1Profile0 }, 1 },
};

static bool profile_listed(const VAProfile *list, int n, VAProfile profile)
{
	for (int i = 0; i < n; i++)
		if (list[i] == profile)
			return true;
	return false;
}

/* The largest picture the driver takes for profile/entrypoint, when it says. */
static void add_max_size(VADisplay dpy, VAProfile profile, VAEntrypoint entrypoint,
			 json_t *out)
{
	VAConfigAttrib attrs[2] = {
		{ .type = VAConfigAttribMaxPictureWidth },
		{ .type = VAConfigAttribMaxPictureHeight },
	};

	if (json_object_get(out, "max_width") ||
	    vaGetConfigAttributes(dpy, profile, entrypoint, attrs, 2) != VA_STATUS_SUCCESS)
		return;
	if (attrs[0].value == VA_ATTRIB_NOT_SUPPORTED || attrs[1].value == VA_ATTRIB_NOT_SUPPORTED)
		return;
	json_object_set_new(out, "max_width", json_integer(attrs[0].value));
	json_object_set_new(out, "max_height", json_integer(attrs[1].value));
}

/* {"decode": bool, "encode": bool, "encode_low_power": bool, max size} for one codec. */
static json_t *codec_caps(VADisplay dpy, const VAProfile *have, int n_have,
			  const struct codec_profiles *c, bool *can_encode)
{
	VAEntrypoint *entrypoints = malloc(sizeof(*entrypoints) * (size_t)vaMaxNumEntrypoints(dpy));
	json_t *out = json_object();
	bool decode = false, encode = false, encode_lp = false;

	for (int i = 0; entrypoints && out && i < c->n_profiles; i++) {
		int n = 0;

		if (!profile_listed(have, n_have, c->profiles[i]) ||
		    vaQueryConfigEntrypoints(dpy, c->profiles[i], entrypoints, &n) !=
			    VA_STATUS_SUCCESS)
			continue;
		for (int e = 0; e < n; e++) {
			decode |= entrypoints[e] == VAEntrypointVLD;
			encode |= entrypoints[e] == VAEntrypointEncSlice;
			encode_lp |= entrypoints[e] == VAEntrypointEncSliceLP;
			if (entrypoints[e] == VAEntrypointVLD ||
			    entrypoints[e] == VAEntrypointEncSlice ||
			    entrypoints[e] == VAEntrypointEncSliceLP)
				add_max_size(dpy, c->profiles[i], entrypoints[e], out);
		}
	}
	free(entrypoints);
	if (!out)
		return NULL;
	json_object_set_new(out, "decode", json_boolean(decode));
	json_object_set_new(out, "encode", json_boolean(encode));
	json_object_set_new(out, "encode_low_power", json_boolean(encode_lp));
	*can_encode |= (encode || encode_lp) && strcmp(c->codec, "av1") != 0;
	return out;
}

/* Reports one render node; *can_encode is set when it encodes H.264 or HEVC. The reason
 * it cannot be used, if any, goes to the device's "error" and to reason. */
static json_t *probe_node(const char *node, bool *can_encode, char *reason, size_t reason_len)
{
	json_t *dev = json_pack("{s:s}", "node", node);
	json_t *caps = json_object();
	VAProfile *profiles = NULL;
	VADisplay dpy;
	VAStatus st;
	int fd, major = 0, minor = 0, n_profiles = 0;

	if (!dev || !caps)
		goto out_free;
	fd = open(node, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(reason, reason_len, "cannot open %s: %s (is ottboxd in the render group?)",
			 node, strerror(errno));
		goto out_error;
	}
	dpy = vaGetDisplayDRM(fd);
	if (!dpy) {
		snprintf(reason, reason_len, "libva has no display for %s", node);
		goto out_close;
	}
	/* libva prints what it loads to stderr; the report says it instead. */
	vaSetInfoCallback(dpy, NULL, NULL);
	vaSetErrorCallback(dpy, NULL, NULL);
	st = vaInitialize(dpy, &major, &minor);
	if (st != VA_STATUS_SUCCESS) {
		snprintf(reason, reason_len, "libva could not initialize %s: %s", node,
			 vaErrorStr(st));
		goto out_terminate;
	}
	json_object_set_new(dev, "va_api", json_sprintf("%d.%d", major, minor));
	json_object_set_new(dev, "driver", json_string(vaQueryVendorString(dpy)));
	/* libva does not say how many media engines (VDBox, VCN) the GPU has: the capacity
	 * model counts one unless a report says more (docs/hardware.md, "Capacity"). */
	json_object_set_new(dev, "media_engines", json_integer(1));
	profiles = malloc(sizeof(*profiles) * (size_t)vaMaxNumProfiles(dpy));
	if (profiles && vaQueryConfigProfiles(dpy, profiles, &n_profiles) == VA_STATUS_SUCCESS)
		for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
			json_object_set_new(caps, codecs[i].codec,
					    codec_caps(dpy, profiles, n_profiles, &codecs[i],
						       can_encode));
	free(profiles);
	json_object_set(dev, "codecs", caps);
	if (!*can_encode)
		snprintf(reason, reason_len, "%s has no H.264 or HEVC encode entrypoint", node);
	vaTerminate(dpy);
	close(fd);
	goto out_free;

out_terminate:
	vaTerminate(dpy);
out_close:
	close(fd);
out_error:
	json_object_set_new(dev, "error", json_string(reason));
out_free:
	json_decref(caps);
	return dev;
}

static int vaapi_probe(json_t *report)
{
	json_t *devices = json_array();
	char reason[512] = "";
	bool available = false;
	glob_t nodes = { 0 };

	if (!devices)
		return OB_ENOMEM;
	if (glob(RENDER_NODES, 0, NULL, &nodes) != 0 || nodes.gl_pathc == 0) {
		snprintf(reason, sizeof(reason), "no /dev/dri render node");
	} else {
		for (size_t i = 0; i < nodes.gl_pathc; i++) {
			char why[512] = "";
			bool can_encode = false;

			json_array_append_new(devices, probe_node(nodes.gl_pathv[i], &can_encode,
								  why, sizeof(why)));
			available |= can_encode;
			if (!reason[0])
				snprintf(reason, sizeof(reason), "%s", why);
		}
	}
	globfree(&nodes);
	json_object_set_new(report, "available", json_boolean(available));
	if (!available)
		json_object_set_new(report, "reason", json_string(reason));
	json_object_set_new(report, "devices", devices);
	return 0;
}

/* The codecs a rung may ask of VAAPI, as the capacity answer lists them. */
static const char *const encode_codecs[] = { "h264", "hevc" };

/* A render node's usable devices: one that decodes or encodes H.264 or HEVC. Pixel rates
 * are the media-engine model times the node's "media_engines" (1 when absent). */
static int vaapi_capacity(const json_t *report, struct ob_hw_device_caps *out, size_t max,
			  size_t *count)
{
	const json_t *devices = json_object_get(report, "devices");

	*count = 0;
	for (size_t i = 0; i < json_array_size(devices) && *count < max; i++) {
		const json_t *dev = json_array_get(devices, i);
		const json_t *caps_of = json_object_get(dev, "codecs");
		const char *node = json_string_value(json_object_get(dev, "node"));
		const char *driver = json_string_value(json_object_get(dev, "driver"));
		struct ob_hw_device_caps *caps = &out[*count];
		int engines = ob_hw_json_int(dev, "media_engines", 1, 16, 1);

		if (!node || !node[0] || strlen(node) >= sizeof(caps->id) ||
		    json_object_get(dev, "error"))
			continue;
		memset(caps, 0, sizeof(*caps));
		for (size_t c = 0; c < OB_ARRAY_SIZE(encode_codecs); c++) {
			const json_t *one = json_object_get(caps_of, encode_codecs[c]);

			caps->decodes |= json_is_true(json_object_get(one, "decode"));
			if (json_is_true(json_object_get(one, "encode")) ||
			    json_is_true(json_object_get(one, "encode_low_power")))
				ob_hw_caps_add_codec(caps, encode_codecs[c]);
		}
		caps->encodes = caps->encode_codecs[0][0] != '\0';
		if (!caps->decodes && !caps->encodes)
			continue;
		ob_strlcpy(caps->id, node, sizeof(caps->id));
		ob_strlcpy(caps->label, driver ? driver : node, sizeof(caps->label));
		caps->sessions = 0;
		if (caps->encodes)
			caps->encode_pixel_rate = engines * OB_HW_MEDIA_ENGINE_ENCODE_RATE;
		if (caps->decodes)
			caps->decode_pixel_rate = engines * OB_HW_MEDIA_ENGINE_DECODE_RATE;
		(*count)++;
	}
	return *count ? 0 : OB_EUNSUPPORTED;
}

static int vaapi_open_device(const char *id, AVBufferRef **out, char *err, size_t err_len)
{
	struct ob_hw_device_caps caps;
	int ret;

	*out = NULL;
	ret = ob_hw_find_device(&ob_hw_vaapi, id, &caps, err, err_len);
	if (ret == 0)
		ret = ob_hw_create_device("vaapi", AV_HWDEVICE_TYPE_VAAPI, caps.id, out, err,
					  err_len);
	return ret;
}

/* libavcodec's own decoders with the VAAPI hwaccel; audio, and video the driver does not
 * decode, in system memory. */
static int vaapi_open_decoder(const AVCodecParameters *par, AVBufferRef *device,
			      AVCodecContext **out, char *err, size_t err_len)
{
	return ob_hw_open_decoder("vaapi", par, NULL, device, out, err, err_len);
}

/* What a rung's codec and profile become on VAAPI. */
static const struct vaapi_profile {
	const char *codec;
	const char *profile;          /* the rung's; the first of a codec is its default */
	const char *encoder;
	const char *option;           /* the encoder's "profile" */
	int av_profile;
	VAProfile va_profile;
	enum AVPixelFormat sw_format;
	int max_b_frames;
} rung_profiles[] = {
	{ "h264", "high", "h264_vaapi", "high", FF_PROFILE_H264_HIGH, VAProfileH264High,
	  AV_PIX_FMT_NV12, 2 },
	{ "h264", "main", "h264_vaapi", "main", FF_PROFILE_H264_MAIN, VAProfileH264Main,
	  AV_PIX_FMT_NV12, 2 },
	{ "h264", "baseline", "h264_vaapi", "constrained_baseline",
	  FF_PROFILE_H264_CONSTRAINED_BASELINE, VAProfileH264ConstrainedBaseline,
	  AV_PIX_FMT_NV12, 0 },
	{ "hevc", "main", "hevc_vaapi", "main", FF_PROFILE_HEVC_MAIN, VAProfileHEVCMain,
	  AV_PIX_FMT_NV12, 2 },
	{ "hevc", "main10", "hevc_vaapi", "main10", FF_PROFILE_HEVC_MAIN_10, VAProfileHEVCMain10,
	  AV_PIX_FMT_P010, 2 },
};

/* x264's presets on h264_vaapi's quality scale (the driver's TargetUsage: 1 best quality,
 * 7 fastest; 4 is iHD's default). */
static const int quality_of_preset[OB_HW_PRESETS] = { 7, 7, 6, 5, 5, 4, 3, 2, 1, 1 };

static const struct vaapi_profile *find_profile(const struct ob_hw_encode_params *p)
{
	for (size_t i = 0; p->codec && i < OB_ARRAY_SIZE(rung_profiles); i++)
		if (strcmp(rung_profiles[i].codec, p->codec) == 0 &&
		    (!p->profile || strcmp(rung_profiles[i].profile, p->profile) == 0))
			return &rung_profiles[i];
	return NULL;
}

static int vaapi_map_encoder(const struct ob_hw_encode_params *p, struct ob_hw_encoder_setup *out,
			     char *err, size_t err_len)
{
	const struct vaapi_profile *profile = find_profile(p);
	int preset = ob_hw_preset_index(p->preset);
	bool cbr = false;
	int ret;

	ob_hw_setup_clear(out);
	if (!profile) {
		snprintf(err, err_len, "vaapi: no encoder for %s profile %s",
			 p->codec ? p->codec : "(no codec)", p->profile ? p->profile : "(default)");
		return OB_EUNSUPPORTED;
	}
	ret = ob_hw_check_params("vaapi", p, err, err_len);
	if (ret == 0)
		ret = ob_hw_rate_mode("vaapi", p, &cbr, err, err_len);
	if (ret == 0 && preset < 0) {
		snprintf(err, err_len, "vaapi: unknown preset \"%s\"", p->preset);
		ret = OB_EINVAL;
	}
	if (ret != 0)
		return ret;
	ob_strlcpy(out->encoder, profile->encoder, sizeof(out->encoder));
	out->device_frames = true;
	out->sw_format = profile->sw_format;
	ob_hw_setup_common(p, out);
	out->max_b_frames = profile->max_b_frames;
	out->profile = profile->av_profile;
	ret = ob_hw_setup_option(out, "profile", profile->option);
	if (ret == 0)
		ret = ob_hw_setup_option(out, "rc_mode", cbr ? "CBR" : "VBR");
	/* Every I frame an IDR: each GOP starts one, and so does a frame the engine marks
	 * AV_PICTURE_TYPE_I (vaapi_encode always makes those IDR). VAAPI never adds scene-cut
	 * keyframes. */
	if (ret == 0)
		ret = ob_hw_setup_option(out, "idr_interval", "0");
	/* hevc_vaapi in FFmpeg 5.1 has no quality option: the driver's default speed. */
	if (ret == 0 && strcmp(profile->codec, "h264") == 0)
		ret = ob_hw_setup_option_int(out, "quality", quality_of_preset[preset]);
	return ret;
}

/* Which encode entrypoints the device under frames has for profile. */
static int device_entrypoints(const AVBufferRef *frames, VAProfile profile, bool *normal,
			      bool *low_power, char *err, size_t err_len)
{
	const AVHWFramesContext *fc = (const AVHWFramesContext *)frames->data;
	const AVVAAPIDeviceContext *va;
	VAEntrypoint *list;
	int n = 0;

	*normal = *low_power = false;
	if (fc->device_ctx->type != AV_HWDEVICE_TYPE_VAAPI) {
		snprintf(err, err_len, "vaapi: the frames given are on a %s device, not VAAPI",
			 av_hwdevice_get_type_name(fc->device_ctx->type));
		return OB_EINVAL;
	}
	va = fc->device_ctx->hwctx;
	list = malloc(sizeof(*list) * (size_t)vaMaxNumEntrypoints(va->display));
	if (!list)
		return OB_ENOMEM;
	if (vaQueryConfigEntrypoints(va->display, profile, list, &n) != VA_STATUS_SUCCESS)
		n = 0;
	for (int i = 0; i < n; i++) {
		*normal |= list[i] == VAEntrypointEncSlice;
		*low_power |= list[i] == VAEntrypointEncSliceLP;
	}
	free(list);
	return 0;
}

/* map_encoder's setup on the frames' device, on the low-power entrypoint (VDEnc) when the
 * driver has only that one for the profile (Intel Gen 11+ for some profiles, Arc). */
static int vaapi_open_encoder(const struct ob_hw_encode_params *p, AVBufferRef *frames,
			      AVCodecContext **out, char *err, size_t err_len)
{
	const struct vaapi_profile *profile = find_profile(p);
	struct ob_hw_encoder_setup setup;
	bool normal = false, low_power = false;
	int ret;

	*out = NULL;
	ret = vaapi_map_encoder(p, &setup, err, err_len);
	if (ret == 0 && frames) {
		ret = device_entrypoints(frames, profile->va_profile, &normal, &low_power, err,
					 err_len);
		if (ret == 0 && !normal && !low_power) {
			snprintf(err, err_len,
				 "vaapi: the driver has no %s %s encoder on this device",
				 profile->codec, profile->profile);
			ret = OB_EUNSUPPORTED;
		}
		if (ret == 0 && !normal)
			ret = ob_hw_setup_option(&setup, "low_power", "1");
	}
	if (ret == 0)
		ret = ob_hw_open_mapped("vaapi", p, &setup, frames, out, err, err_len);
	av_dict_free(&setup.options);
	return ret;
}

/* Chains between where the frames are and where the rung's encoder wants them: scaled on
 * the GPU (scale_vaapi) when either end is there, downloaded (hwdownload) or uploaded
 * (hwupload) at the device's edge, converted to the software encoder's format on the CPU. */
static int vaapi_scale_filter(const struct ob_hw_encode_params *p, bool in_device,
			      bool out_device, char *out, size_t out_len)
{
	return ob_hw_device_chain(p, in_device, out_device, "scale_vaapi", "hwupload", out,
				  out_len);
}

const struct ob_hw_backend ob_hw_vaapi = {
	.name = "vaapi",
	.description = "Intel and AMD GPUs through libva (VAAPI)",
	.probe = vaapi_probe,
	.capacity = vaapi_capacity,
	.open_device = vaapi_open_device,
	.open_decoder = vaapi_open_decoder,
	.map_encoder = vaapi_map_encoder,
	.open_encoder = vaapi_open_encoder,
	.scale_filter = vaapi_scale_filter,
};
