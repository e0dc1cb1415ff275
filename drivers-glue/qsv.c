/* Intel Quick Sync Video through oneVPL. The probe asks oneVPL's dispatcher (MFXLoad,
 * MFXEnumImplementations) for every implementation with its type, acceleration mode,
 * codecs and render node; only a hardware implementation with an H.264 or HEVC encoder
 * makes the backend available (oneVPL's pure-software implementation is never a reason to
 * choose QSV over libx264). The pipeline: a QSV device derived from a VAAPI device on the
 * render node (as Jellyfin does), the h264_qsv/hevc_qsv decoders, vpp_qsv per rung, and
 * the h264_qsv/hevc_qsv encoders. */
/* The extended device ID (the render node of an implementation) is still marked
 * experimental in oneVPL 2.8; its structures do not change the layout of the others. */
#define ONEVPL_EXPERIMENTAL
#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <libavutil/error.h>
#include <libavutil/hwcontext.h>
#include <vpl/mfx.h>

#include "backend.h"
#include "core/err.h"
#include "core/util.h"
#include "hw.h"

#define RENDER_NODES "/dev/dri/renderD*"

/* QSV frame pools are fixed at creation: surfaces an upload reserves beyond its own for
 * the frames a rung's queue (8) and its encoder (async_depth 4, B-frames) hold, as
 * Jellyfin reserves. */
#define UPLOAD_EXTRA_FRAMES 64

extern const struct ob_hw_backend ob_hw_qsv;

static const struct {
	mfxU32 id;
	const char *name;
} codec_names[] = {
	{ MFX_CODEC_AVC, "h264" },   { MFX_CODEC_HEVC, "hevc" }, { MFX_CODEC_AV1, "av1" },
	{ MFX_CODEC_VP9, "vp9" },    { MFX_CODEC_VP8, "vp8" },   { MFX_CODEC_MPEG2, "mpeg2" },
	{ MFX_CODEC_JPEG, "mjpeg" },
};

static const struct {
	mfxAccelerationMode mode;
	const char *name;
} accel_names[] = {
	{ MFX_ACCEL_MODE_NA, "none" },
	{ MFX_ACCEL_MODE_VIA_VAAPI, "vaapi-drm-render-node" },
	{ MFX_ACCEL_MODE_VIA_VAAPI_DRM_MODESET, "vaapi-drm-modeset" },
	{ MFX_ACCEL_MODE_VIA_VAAPI_GLX, "vaapi-glx" },
	{ MFX_ACCEL_MODE_VIA_VAAPI_X11, "vaapi-x11" },
	{ MFX_ACCEL_MODE_VIA_VAAPI_WAYLAND, "vaapi-wayland" },
	{ MFX_ACCEL_MODE_VIA_D3D9, "d3d9" },
	{ MFX_ACCEL_MODE_VIA_D3D11, "d3d11" },
	{ MFX_ACCEL_MODE_VIA_HDDLUNITE, "hddlunite" },
};

/* "h264" for a codec we know, else its FourCC as text ("VC1"). */
static json_t *codec_name(mfxU32 id)
{
	char fourcc[5];
	int n = 0;

	for (size_t i = 0; i < sizeof(codec_names) / sizeof(codec_names[0]); i++)
		if (codec_names[i].id == id)
			return json_string(codec_names[i].name);
	for (int shift = 0; shift < 32; shift += 8) {
		char c = (char)((id >> shift) & 0xff);

		if (c > ' ' && c < 0x7f)
			fourcc[n++] = c;
	}
	fourcc[n] = '\0';
	return json_string(fourcc);
}

static json_t *accel_name(mfxAccelerationMode mode)
{
	for (size_t i = 0; i < sizeof(accel_names) / sizeof(accel_names[0]); i++)
		if (accel_names[i].mode == mode)
			return json_string(accel_names[i].name);
	return json_sprintf("0x%04x", (unsigned)mode);
}

/* One implementation's report; *encodes is set when it encodes H.264 or HEVC. */
static json_t *describe(const mfxImplDescription *d, bool *encodes)
{
	json_t *decoders = json_array();
	json_t *encoders = json_array();
	char name[MFX_IMPL_NAME_LEN + 1];

	memcpy(name, d->ImplName, MFX_IMPL_NAME_LEN);
	name[MFX_IMPL_NAME_LEN] = '\0';
	for (mfxU16 i = 0; d->Dec.Codecs && i < d->Dec.NumCodecs; i++)
		json_array_append_new(decoders, codec_name(d->Dec.Codecs[i].CodecID));
	for (mfxU16 i = 0; d->Enc.Codecs && i < d->Enc.NumCodecs; i++) {
		mfxU32 id = d->Enc.Codecs[i].CodecID;

		json_array_append_new(encoders, codec_name(id));
		*encodes |= id == MFX_CODEC_AVC || id == MFX_CODEC_HEVC;
	}
	return json_pack("{s:s, s:s, s:o, s:o, s:o, s:o}", "name", name, "impl",
			 d->Impl == MFX_IMPL_TYPE_HARDWARE ? "hardware" : "software",
			 "acceleration_mode", accel_name(d->AccelerationMode), "api_version",
			 json_sprintf("%u.%u", d->ApiVersion.Major, d->ApiVersion.Minor),
			 "decoders", decoders, "encoders", encoders);
}

/* A hardware implementation's device: its render node and name when the runtime tells
 * (oneVPL 2.6's extended device ID), and the media engines the capacity model counts (one:
 * oneVPL does not say). */
static void add_device(mfxLoader loader, mfxU32 index, json_t *impl)
{
	mfxExtendedDeviceId *id = NULL;

	json_object_set_new(impl, "media_engines", json_integer(1));
	if (MFXEnumImplementations(loader, index, MFX_IMPLCAPS_DEVICE_ID_EXTENDED,
				   (mfxHDL *)&id) != MFX_ERR_NONE || !id)
		return;
	if (id->DRMRenderNodeNum > 0)
		json_object_set_new(impl, "render_node",
				    json_sprintf("/dev/dri/renderD%u",
						 (unsigned)id->DRMRenderNodeNum));
	id->DeviceName[sizeof(id->DeviceName) - 1] = '\0';
	if (id->DeviceName[0])
		json_object_set_new(impl, "device_name", json_string(id->DeviceName));
	MFXDispReleaseImplDescription(loader, id);
}

static int qsv_probe(json_t *report)
{
	json_t *impls = json_array();
	mfxLoader loader;
	bool hardware = false, available = false;
	const char *reason = NULL;

	if (!impls)
		return OB_ENOMEM;
	loader = MFXLoad();
	if (!loader) {
		reason = "the oneVPL dispatcher did not start";
		goto out;
	}
	for (mfxU32 i = 0;; i++) {
		mfxImplDescription *desc = NULL;
		bool encodes = false;
		json_t *one;

		if (MFXEnumImplementations(loader, i, MFX_IMPLCAPS_IMPLDESCSTRUCTURE,
					   (mfxHDL *)&desc) != MFX_ERR_NONE || !desc)
			break;
		one = describe(desc, &encodes);
		if (one)
			json_array_append_new(impls, one);
		if (desc->Impl == MFX_IMPL_TYPE_HARDWARE) {
			hardware = true;
			available |= encodes;
			if (one)
				add_device(loader, i, one);
		}
		MFXDispReleaseImplDescription(loader, desc);
	}
	MFXUnload(loader);
	if (!hardware)
		reason = "oneVPL found no hardware implementation (no Intel GPU, or no oneVPL GPU "
			 "runtime such as libmfx-gen1.2)";
	else if (!available)
		reason = "oneVPL's hardware implementation has no H.264 or HEVC encoder";

out:
	json_object_set_new(report, "available", json_boolean(available));
	if (reason)
		json_object_set_new(report, "reason", json_string(reason));
	json_object_set_new(report, "implementations", impls);
	return 0;
}

static const char *const encode_codecs[] = { "h264", "hevc" };

/* Each hardware implementation that decodes or encodes H.264 or HEVC, once per render
 * node. The id is the render node ("" when the runtime does not say: open_device then
 * takes the first one). Pixel rates: the media-engine model times "media_engines". */
static int qsv_capacity(const json_t *report, struct ob_hw_device_caps *out, size_t max,
			size_t *count)
{
	const json_t *impls = json_object_get(report, "implementations");

	*count = 0;
	for (size_t i = 0; i < json_array_size(impls) && *count < max; i++) {
		const json_t *impl = json_array_get(impls, i);
		const char *type = json_string_value(json_object_get(impl, "impl"));
		const char *node = json_string_value(json_object_get(impl, "render_node"));
		const char *name = json_string_value(json_object_get(impl, "device_name"));
		struct ob_hw_device_caps *caps = &out[*count];
		int engines = ob_hw_json_int(impl, "media_engines", 1, 16, 1);
		bool seen = false;

		if (!type || strcmp(type, "hardware") != 0)
			continue;
		if (!node || strlen(node) >= sizeof(caps->id))
			node = "";
		for (size_t k = 0; k < *count; k++)
			seen |= strcmp(out[k].id, node) == 0;
		if (seen)
			continue;
		memset(caps, 0, sizeof(*caps));
		for (size_t c = 0; c < OB_ARRAY_SIZE(encode_codecs); c++) {
			caps->decodes |= ob_hw_json_lists(json_object_get(impl, "decoders"),
							  encode_codecs[c]);
			if (ob_hw_json_lists(json_object_get(impl, "encoders"), encode_codecs[c]))
				ob_hw_caps_add_codec(caps, encode_codecs[c]);
		}
		caps->encodes = caps->encode_codecs[0][0] != '\0';
		if (!caps->decodes && !caps->encodes)
			continue;
		if (!name)
			name = json_string_value(json_object_get(impl, "name"));
		ob_strlcpy(caps->id, node, sizeof(caps->id));
		ob_strlcpy(caps->label, name ? name : "oneVPL hardware", sizeof(caps->label));
		caps->sessions = 0;
		if (caps->encodes)
			caps->encode_pixel_rate = engines * OB_HW_MEDIA_ENGINE_ENCODE_RATE;
		if (caps->decodes)
			caps->decode_pixel_rate = engines * OB_HW_MEDIA_ENGINE_DECODE_RATE;
		(*count)++;
	}
	return *count ? 0 : OB_EUNSUPPORTED;
}

/* The first render node, for a runtime that does not name its own. */
static int first_render_node(char *out, size_t out_len)
{
	glob_t nodes = { 0 };
	int ret = OB_EUNSUPPORTED;

	if (glob(RENDER_NODES, 0, NULL, &nodes) == 0 && nodes.gl_pathc > 0)
		ret = ob_strlcpy(out, nodes.gl_pathv[0], out_len) == 0 ? 0 : OB_ETOOBIG;
	globfree(&nodes);
	return ret;
}

/* A VAAPI device on the render node, and the QSV device derived from it: oneVPL's session
 * then shares libva's display with the VAAPI filters and hwupload, as in Jellyfin's
 * "-init_hw_device vaapi=va:NODE -init_hw_device qsv=qs@va". */
static int qsv_open_device(const char *id, AVBufferRef **out, char *err, size_t err_len)
{
	struct ob_hw_device_caps caps;
	AVBufferRef *vaapi = NULL;
	char node[64];
	int ret;

	*out = NULL;
	ret = ob_hw_find_device(&ob_hw_qsv, id, &caps, err, err_len);
	if (ret != 0)
		return ret;
	if (caps.id[0])
		ob_strlcpy(node, caps.id, sizeof(node));
	else if (first_render_node(node, sizeof(node)) != 0) {
		snprintf(err, err_len, "qsv: oneVPL found a GPU, and there is no /dev/dri render "
				       "node to open it on");
		return OB_EUNSUPPORTED;
	}
	ret = ob_hw_create_device("qsv", AV_HWDEVICE_TYPE_VAAPI, node, &vaapi, err, err_len);
	if (ret != 0)
		return ret;
	ret = av_hwdevice_ctx_create_derived(out, AV_HWDEVICE_TYPE_QSV, vaapi, 0);
	if (ret < 0) {
		char averr[AV_ERROR_MAX_STRING_SIZE];

		av_strerror(ret, averr, sizeof(averr));
		snprintf(err, err_len, "qsv: could not start a oneVPL session on %s: %s", node,
			 averr);
		ret = OB_EIO;
	}
	av_buffer_unref(&vaapi);
	return ret;
}

/* The oneVPL decoder for each codec it has; anything else (audio included) decodes in
 * system memory with libavcodec's own. */
static const struct {
	enum AVCodecID id;
	const char *decoder;
} qsv_decoders[] = {
	{ AV_CODEC_ID_H264, "h264_qsv" },
	{ AV_CODEC_ID_HEVC, "hevc_qsv" },
	{ AV_CODEC_ID_MPEG2VIDEO, "mpeg2_qsv" },
	{ AV_CODEC_ID_VP9, "vp9_qsv" },
	{ AV_CODEC_ID_AV1, "av1_qsv" },
};

static int qsv_open_decoder(const AVCodecParameters *par, AVBufferRef *device,
			    AVCodecContext **out, char *err, size_t err_len)
{
	const AVCodec *codec = NULL;

	for (size_t i = 0; device && i < OB_ARRAY_SIZE(qsv_decoders); i++)
		if (qsv_decoders[i].id == par->codec_id)
			codec = avcodec_find_decoder_by_name(qsv_decoders[i].decoder);
	return ob_hw_open_decoder("qsv", par, codec, device, out, err, err_len);
}

/* What a rung's codec and profile become on QSV. */
static const struct qsv_profile {
	const char *codec;
	const char *profile; /* the rung's; the first of a codec is its default */
	const char *encoder;
	int av_profile;
	enum AVPixelFormat sw_format;
	int max_b_frames;
} rung_profiles[] = {
	{ "h264", "high", "h264_qsv", FF_PROFILE_H264_HIGH, AV_PIX_FMT_NV12, 2 },
	{ "h264", "main", "h264_qsv", FF_PROFILE_H264_MAIN, AV_PIX_FMT_NV12, 2 },
	{ "h264", "baseline", "h264_qsv", FF_PROFILE_H264_BASELINE, AV_PIX_FMT_NV12, 0 },
	{ "hevc", "main", "hevc_qsv", FF_PROFILE_HEVC_MAIN, AV_PIX_FMT_NV12, 2 },
	{ "hevc", "main10", "hevc_qsv", FF_PROFILE_HEVC_MAIN_10, AV_PIX_FMT_P010, 2 },
};

/* x264's presets on oneVPL's TargetUsage names (veryfast = 7 ... veryslow = 1). */
static const char *const preset_names[OB_HW_PRESETS] = {
	"veryfast", "veryfast", "veryfast", "faster", "fast",
	"medium",   "slow",     "slower",   "veryslow", "veryslow",
};

static int qsv_map_encoder(const struct ob_hw_encode_params *p, struct ob_hw_encoder_setup *out,
			   char *err, size_t err_len)
{
	const struct qsv_profile *profile = NULL;
	int preset = ob_hw_preset_index(p->preset);
	bool cbr = false, h264;
	int ret;

	ob_hw_setup_clear(out);
	for (size_t i = 0; p->codec && !profile && i < OB_ARRAY_SIZE(rung_profiles); i++)
		if (strcmp(rung_profiles[i].codec, p->codec) == 0 &&
		    (!p->profile || strcmp(rung_profiles[i].profile, p->profile) == 0))
			profile = &rung_profiles[i];
	if (!profile) {
		snprintf(err, err_len, "qsv: no encoder for %s profile %s",
			 p->codec ? p->codec : "(no codec)", p->profile ? p->profile : "(default)");
		return OB_EUNSUPPORTED;
	}
	ret = ob_hw_check_params("qsv", p, err, err_len);
	if (ret == 0)
		ret = ob_hw_rate_mode("qsv", p, &cbr, err, err_len);
	if (ret == 0 && preset < 0) {
		snprintf(err, err_len, "qsv: unknown preset \"%s\"", p->preset);
		ret = OB_EINVAL;
	}
	if (ret != 0)
		return ret;
	h264 = strcmp(profile->codec, "h264") == 0;
	ob_strlcpy(out->encoder, profile->encoder, sizeof(out->encoder));
	out->device_frames = true;
	out->sw_format = profile->sw_format;
	ob_hw_setup_common(p, out);
	/* qsvenc has no rate-control option: it picks CBR when rc_max_rate equals bit_rate
	 * (cbr here), VBR otherwise, as long as look-ahead is off. */
	out->max_b_frames = profile->max_b_frames;
	out->profile = profile->av_profile;
	ret = ob_hw_setup_option(out, "profile", profile->profile);
	if (ret == 0)
		ret = ob_hw_setup_option(out, "preset", preset_names[preset]);
	/* IdrInterval 0: every I frame is an IDR, so every GOP (closed: the context's
	 * CLOSED_GOP flag becomes MFX_GOP_CLOSED) starts with one; hevc_qsv shifts the value
	 * to mean the same. A frame marked AV_PICTURE_TYPE_I is forced to an IDR. */
	if (ret == 0)
		ret = ob_hw_setup_option(out, "idr_interval", "0");
	if (ret == 0)
		ret = ob_hw_setup_option(out, "forced_idr", "1");
	if (ret == 0)
		ret = ob_hw_setup_option(out, "async_depth", "4");
	/* No scene-cut I frames and no look-ahead rate control; h264_qsv has the switches,
	 * hevc_qsv in FFmpeg 5.1 does not (the runtime's AdaptiveI is off without them). */
	if (ret == 0 && h264)
		ret = ob_hw_setup_option(out, "look_ahead", "0");
	if (ret == 0 && h264)
		ret = ob_hw_setup_option(out, "adaptive_i", "0");
	return ret;
}

static int qsv_open_encoder(const struct ob_hw_encode_params *p, AVBufferRef *frames,
			    AVCodecContext **out, char *err, size_t err_len)
{
	struct ob_hw_encoder_setup setup;
	int ret;

	*out = NULL;
	ret = qsv_map_encoder(p, &setup, err, err_len);
	if (ret == 0)
		ret = ob_hw_open_mapped("qsv", p, &setup, frames, out, err, err_len);
	av_dict_free(&setup.options);
	return ret;
}

/* Frames stay on the GPU when they can: vpp_qsv scales (on the media engine's
 * fixed-function scaler) and converts in one pass. QSV's frame pools are fixed, so an
 * upload reserves room for the frames the rung's queue and encoder hold. */
static int qsv_scale_filter(const struct ob_hw_encode_params *p, bool in_device,
			    bool out_device, char *out, size_t out_len)
{
	char upload[48];

	snprintf(upload, sizeof(upload), "hwupload=extra_hw_frames=%d", UPLOAD_EXTRA_FRAMES);
	return ob_hw_device_chain(p, in_device, out_device, "vpp_qsv", upload, out, out_len);
}

const struct ob_hw_backend ob_hw_qsv = {
	.name = "qsv",
	.description = "Intel Quick Sync Video through oneVPL",
	.probe = qsv_probe,
	.capacity = qsv_capacity,
	.open_device = qsv_open_device,
	.open_decoder = qsv_open_decoder,
	.map_encoder = qsv_map_encoder,
	.open_encoder = qsv_open_encoder,
	.scale_filter = qsv_scale_filter,
};
