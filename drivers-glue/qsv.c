/* Intel Quick Sync Video through oneVPL. This slice probes: oneVPL's dispatcher
 * (MFXLoad, MFXEnumImplementations) lists every implementation it finds with its type,
 * acceleration mode and codecs; only a hardware implementation with an H.264 or HEVC
 * encoder makes the backend available (oneVPL's pure-software implementation is never a
 * reason to choose QSV over libx264). The zero-copy pipeline (QSV decode, vpp_qsv per
 * rung, h264_qsv/hevc_qsv) is the next slice (docs/hardware.md): until it lands,
 * open_encoder and open_decoder refuse with the probe's reason and "auto" moves on. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <vpl/mfx.h>

#include "core/err.h"
#include "hw.h"

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

static int qsv_open_encoder(const struct ob_hw_encode_params *params, AVCodecContext **out,
			    char *err, size_t err_len)
{
	(void)params;
	*out = NULL;
	return ob_hw_refuse(&ob_hw_qsv, err, err_len);
}

static int qsv_open_decoder(const AVCodecParameters *par, AVCodecContext **out, char *err,
			    size_t err_len)
{
	(void)par;
	*out = NULL;
	return ob_hw_refuse(&ob_hw_qsv, err, err_len);
}

/* Frames stay on the GPU: vpp_qsv scales (on the media engine's fixed-function scaler)
 * and converts in one pass. */
static int qsv_scale_filter(const struct ob_hw_encode_params *p, char *out, size_t out_len)
{
	const char *format = p->profile && strcmp(p->profile, "main10") == 0 ? "p010" : "nv12";
	int n = snprintf(out, out_len, "vpp_qsv=w=%d:h=%d:format=%s", p->width, p->height,
			 format);

	return n < 0 || (size_t)n >= out_len ? OB_ETOOBIG : 0;
}

const struct ob_hw_backend ob_hw_qsv = {
	.name = "qsv",
	.description = "Intel Quick Sync Video through oneVPL",
	.probe = qsv_probe,
	.open_encoder = qsv_open_encoder,
	.open_decoder = qsv_open_decoder,
	.scale_filter = qsv_scale_filter,
};
