/* NVIDIA GPUs: NVDEC decode, CUDA scaling and NVENC encode through the CUDA driver, all
 * loaded at run time (nv-codec-headers' loader: libcuda.so.1, libnvcuvid.so.1,
 * libnvidia-encode.so.1), so one firmware runs on boxes with and without the driver. The
 * probe reports each GPU's name, compute capability and memory, the codecs NVDEC decodes
 * (cuvidGetDecoderCaps) and the codecs an NVENC encode session lists. The pipelines: a
 * CUDA device on the GPU, libavcodec's decoders with the NVDEC hwaccel, scale_cuda per
 * rung, and h264_nvenc/hevc_nvenc; on a GPU with NVDEC and no NVENC (A100, A30, H100,
 * H200) scale_cuda's frames are downloaded for a CPU encoder (the mixed path). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The loader's messages ("Cannot load libcuda.so.1") would go to stderr: the report says
 * what is missing instead. */
#define FFNV_LOG_FUNC(logctx, msg, ...) ((void)(logctx))
#define FFNV_DEBUG_LOG_FUNC(logctx, msg, ...) ((void)(logctx))
#include <ffnvcodec/dynlink_loader.h>

#include <libavutil/hwcontext.h>

#include "backend.h"
#include "core/err.h"
#include "core/util.h"
#include "hw.h"

extern const struct ob_hw_backend ob_hw_nvenc;

#define NO_NVENC "this GPU has no NVENC (it can decode and scale, a CPU encodes)"

/* Not in nv-codec-headers 11.1; the value of NVIDIA's Video Codec SDK 12. */
static const GUID av1_guid = { 0x0a352289, 0x0aa7, 0x4759,
			       { 0x86, 0x2d, 0x5d, 0x15, 0xcd, 0x16, 0xd2, 0x54 } };

static const struct {
	const char *name;
	cudaVideoCodec nvdec;
	const GUID *nvenc;
} codecs[] = {
	{ "h264", cudaVideoCodec_H264, &NV_ENC_CODEC_H264_GUID },
	{ "hevc", cudaVideoCodec_HEVC, &NV_ENC_CODEC_HEVC_GUID },
	{ "av1", cudaVideoCodec_AV1, &av1_guid },
};

/* Compute capabilities of the data-centre chips built without NVENC: GA100 (A100, A30)
 * and GH100 (H100, H200, H800, GH200). Used when libnvidia-encode.so.1 is not there to ask. */
static const struct {
	int major, minor;
} no_nvenc_chips[] = { { 8, 0 }, { 9, 0 } };

/* NVDEC engines of the data-centre chips that have several, from NVIDIA's A100, A30 and
 * H100 whitepapers; every other GPU counts one, the least an NVDEC GPU has. */
static const struct {
	int major, minor;
	int engines;
} nvdec_chips[] = {
	{ 8, 0, 4 }, /* GA100: A100 has 5, A30 4 */
	{ 9, 0, 7 }, /* GH100: H100, H200, GH200 */
};

/* The resources of one probe, released in one place. */
struct nv {
	CudaFunctions *cu;
	CuvidFunctions *cuvid;  /* NULL without libnvcuvid.so.1 */
	NvencFunctions *nvenc;  /* NULL without libnvidia-encode.so.1 */
};

static const char *cu_error(const struct nv *nv, CUresult rc)
{
	const char *name = NULL;

	if (nv->cu->cuGetErrorName(rc, &name) != CUDA_SUCCESS || !name)
		name = "unknown CUDA error";
	return name;
}

static int nvdec_engines_of(int major, int minor)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(nvdec_chips); i++)
		if (nvdec_chips[i].major == major && nvdec_chips[i].minor == minor)
			return nvdec_chips[i].engines;
	return 1;
}

static bool chip_has_no_nvenc(int major, int minor)
{
	for (size_t i = 0; i < sizeof(no_nvenc_chips) / sizeof(no_nvenc_chips[0]); i++)
		if (no_nvenc_chips[i].major == major && no_nvenc_chips[i].minor == minor)
			return true;
	return false;
}

/* What NVDEC decodes on the current context: names in list, sizes in limits. */
static void probe_nvdec(const struct nv *nv, json_t *dev)
{
	json_t *list = json_array();
	json_t *limits = json_object();

	for (size_t i = 0; nv->cuvid && nv->cuvid->cuvidGetDecoderCaps &&
			   i < sizeof(codecs) / sizeof(codecs[0]);
	     i++) {
		CUVIDDECODECAPS caps = {
			.eCodecType = codecs[i].nvdec,
			.eChromaFormat = cudaVideoChromaFormat_420,
			.nBitDepthMinus8 = 0,
		};

		if (nv->cuvid->cuvidGetDecoderCaps(&caps) != CUDA_SUCCESS || !caps.bIsSupported)
			continue;
		json_array_append_new(list, json_string(codecs[i].name));
		json_object_set_new(limits, codecs[i].name,
				    json_pack("{s:i, s:i}", "max_width", (int)caps.nMaxWidth,
					      "max_height", (int)caps.nMaxHeight));
	}
	if (!nv->cuvid)
		json_object_set_new(dev, "nvdec_error",
				    json_string("libnvcuvid.so.1 not found (the driver's decode "
						"library is not installed)"));
	json_object_set_new(dev, "nvdec", list);
	json_object_set_new(dev, "nvdec_limits", limits);
}

/* Opens an encode session on ctx and lists its codecs; 0, or the reason in why. */
static int probe_nvenc(const struct nv *nv, CUcontext ctx, json_t *list, char *why,
		       size_t why_len)
{
	NV_ENCODE_API_FUNCTION_LIST api = { .version = NV_ENCODE_API_FUNCTION_LIST_VER };
	NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS open = {
		.version = NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER,
		.deviceType = NV_ENC_DEVICE_TYPE_CUDA,
		.device = ctx,
		.apiVersion = NVENCAPI_VERSION,
	};
	GUID guids[16];
	uint32_t max_version = 0, n_guids = 0;
	void *encoder = NULL;
	NVENCSTATUS st;

	if (nv->nvenc->NvEncodeAPIGetMaxSupportedVersion(&max_version) != NV_ENC_SUCCESS ||
	    max_version < ((NVENCAPI_MAJOR_VERSION << 4) | NVENCAPI_MINOR_VERSION)) {
		snprintf(why, why_len, "the NVIDIA driver supports NVENC API %u.%u, this firmware "
				       "needs %d.%d: update the driver",
			 max_version >> 4, max_version & 0xf, NVENCAPI_MAJOR_VERSION,
			 NVENCAPI_MINOR_VERSION);
		return OB_EUNSUPPORTED;
	}
	st = nv->nvenc->NvEncodeAPICreateInstance(&api);
	if (st != NV_ENC_SUCCESS) {
		snprintf(why, why_len, "NvEncodeAPICreateInstance failed (NVENCSTATUS %d)", st);
		return OB_EIO;
	}
	st = api.nvEncOpenEncodeSessionEx(&open, &encoder);
	if (st == NV_ENC_ERR_NO_ENCODE_DEVICE || st == NV_ENC_ERR_UNSUPPORTED_DEVICE) {
		snprintf(why, why_len, NO_NVENC);
		return OB_EUNSUPPORTED;
	}
	if (st != NV_ENC_SUCCESS) {
		snprintf(why, why_len, "NVENC did not open an encode session (NVENCSTATUS %d)", st);
		return OB_EIO;
	}
	if (api.nvEncGetEncodeGUIDCount(encoder, &n_guids) == NV_ENC_SUCCESS && n_guids > 0) {
		if (n_guids > sizeof(guids) / sizeof(guids[0]))
			n_guids = sizeof(guids) / sizeof(guids[0]);
		if (api.nvEncGetEncodeGUIDs(encoder, guids, n_guids, &n_guids) != NV_ENC_SUCCESS)
			n_guids = 0;
	}
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		for (uint32_t g = 0; g < n_guids; g++)
			if (memcmp(&guids[g], codecs[i].nvenc, sizeof(GUID)) == 0)
				json_array_append_new(list, json_string(codecs[i].name));
	api.nvEncDestroyEncoder(encoder);
	if (json_array_size(list) == 0) {
		snprintf(why, why_len, "NVENC on this GPU lists no H.264, HEVC or AV1 encoder");
		return OB_EUNSUPPORTED;
	}
	return 0;
}

/* One GPU's report; *encodes is set when NVENC encodes H.264 or HEVC on it, and why says
 * why not otherwise. */
static json_t *probe_device(const struct nv *nv, int index, bool *encodes, char *why,
			    size_t why_len)
{
	CUresult (*total_mem)(size_t *, CUdevice) = NULL;
	json_t *dev = json_pack("{s:i}", "index", index);
	json_t *nvenc_codecs = json_array();
	char name[256] = "";
	int major = 0, minor = 0;
	size_t memory = 0;
	CUcontext ctx = NULL, popped;
	CUdevice device;
	CUresult rc;

	if (!dev || !nvenc_codecs)
		goto out;
	rc = nv->cu->cuDeviceGet(&device, index);
	if (rc == CUDA_SUCCESS)
		rc = nv->cu->cuDeviceGetName(name, sizeof(name) - 1, device);
	if (rc == CUDA_SUCCESS)
		rc = nv->cu->cuDeviceComputeCapability(&major, &minor, device);
	if (rc != CUDA_SUCCESS) {
		snprintf(why, why_len, "GPU %d did not answer: %s", index, cu_error(nv, rc));
		goto out_error;
	}
	json_object_set_new(dev, "name", json_string(name));
	json_object_set_new(dev, "compute_capability", json_sprintf("%d.%d", major, minor));
	json_object_set_new(dev, "nvdec_engines", json_integer(nvdec_engines_of(major, minor)));
	*(void **)&total_mem = dlsym(nv->cu->lib, "cuDeviceTotalMem_v2");
	if (total_mem && total_mem(&memory, device) == CUDA_SUCCESS)
		json_object_set_new(dev, "memory_bytes", json_integer((json_int_t)memory));
	rc = nv->cu->cuCtxCreate(&ctx, 0, device);
	if (rc != CUDA_SUCCESS) {
		snprintf(why, why_len, "%s: no CUDA context: %s", name, cu_error(nv, rc));
		goto out_error;
	}
	probe_nvdec(nv, dev);
	if (!nv->nvenc)
		snprintf(why, why_len, "%s",
			 chip_has_no_nvenc(major, minor)
				 ? NO_NVENC
				 : "libnvidia-encode.so.1 not found (the driver's encode library "
				   "is not installed)");
	else if (probe_nvenc(nv, ctx, nvenc_codecs, why, why_len) == 0)
		*encodes = json_array_size(nvenc_codecs) > 0;
	else if (chip_has_no_nvenc(major, minor))
		snprintf(why, why_len, NO_NVENC);
	nv->cu->cuCtxPopCurrent(&popped);
	nv->cu->cuCtxDestroy(ctx);
	json_object_set_new(dev, "nvenc", json_boolean(*encodes));
	json_object_set(dev, "nvenc_codecs", nvenc_codecs);
	/* NVENC does not say how many engines it has: the capacity model counts one. */
	json_object_set_new(dev, "nvenc_engines", json_integer(*encodes ? 1 : 0));
	if (!*encodes)
		json_object_set_new(dev, "reason", json_string(why));
	goto out;

out_error:
	json_object_set_new(dev, "nvenc", json_false());
	json_object_set_new(dev, "reason", json_string(why));
out:
	json_decref(nvenc_codecs);
	return dev;
}

static int nvenc_probe(json_t *report)
{
	struct nv nv = { 0 };
	json_t *devices = json_array();
	char reason[512] = "";
	bool available = false;
	int count = 0, version = 0;
	CUresult (*driver_version)(int *) = NULL;
	CUresult rc;

	if (!devices)
		return OB_ENOMEM;
	if (cuda_load_functions(&nv.cu, NULL) != 0) {
		snprintf(reason, sizeof(reason), "libcuda.so.1 not found (no NVIDIA driver)");
		goto out;
	}
	if (cuvid_load_functions(&nv.cuvid, NULL) != 0)
		nv.cuvid = NULL;
	if (nvenc_load_functions(&nv.nvenc, NULL) != 0)
		nv.nvenc = NULL;
	rc = nv.cu->cuInit(0);
	if (rc == CUDA_SUCCESS)
		rc = nv.cu->cuDeviceGetCount(&count);
	if (rc != CUDA_SUCCESS || count == 0) {
		snprintf(reason, sizeof(reason), "the NVIDIA driver found no GPU (%s)",
			 rc == CUDA_SUCCESS ? "cuDeviceGetCount: 0" : cu_error(&nv, rc));
		goto out;
	}
	*(void **)&driver_version = dlsym(nv.cu->lib, "cuDriverGetVersion");
	if (driver_version && driver_version(&version) == CUDA_SUCCESS)
		json_object_set_new(report, "cuda_driver_api",
				    json_sprintf("%d.%d", version / 1000, version % 1000 / 10));
	for (int i = 0; i < count; i++) {
		char why[512] = "";
		bool encodes = false;

		json_array_append_new(devices, probe_device(&nv, i, &encodes, why, sizeof(why)));
		available |= encodes;
		if (!encodes && !reason[0])
			snprintf(reason, sizeof(reason), "%s", why);
	}

out:
	nvenc_free_functions(&nv.nvenc);
	cuvid_free_functions(&nv.cuvid);
	cuda_free_functions(&nv.cu);
	json_object_set_new(report, "available", json_boolean(available));
	if (!available)
		json_object_set_new(report, "reason", json_string(reason));
	json_object_set_new(report, "devices", devices);
	return 0;
}

/* The capacity model of one NVENC engine (1080p H.264/HEVC at 300 frames/s, presets p1-p4)
 * and one NVDEC engine (1080p at 400 frames/s): conservative figures below NVIDIA's
 * published ones (docs/hardware.md, "Capacity"). */
#define NVENC_ENGINE_RATE (1920.0 * 1080.0 * 300.0)
#define NVDEC_ENGINE_RATE (1920.0 * 1080.0 * 400.0)

static const char *const encode_codecs[] = { "h264", "hevc" };

/* NVENC sessions the driver lets GeForce and TITAN cards open at once, by the CUDA version
 * of the driver: 3 before R530, 5 from R530 (CUDA 12.1), 8 from R550 (CUDA 12.4). */
static int consumer_session_limit(const char *cuda_driver_api)
{
	int major = 0, minor = 0;

	if (!cuda_driver_api || sscanf(cuda_driver_api, "%d.%d", &major, &minor) != 2)
		return 3;
	if (major > 12 || (major == 12 && minor >= 4))
		return 8;
	if (major == 12 && minor >= 1)
		return 5;
	return 3;
}

static bool is_consumer_card(const char *name)
{
	return name && (strstr(name, "GeForce") || strstr(name, "TITAN"));
}

/* The NVDEC engines a device's report counts, else the model by compute capability. */
static int nvdec_engines_in(const json_t *dev)
{
	const char *cc = json_string_value(json_object_get(dev, "compute_capability"));
	int major = 0, minor = 0;

	if (json_object_get(dev, "nvdec_engines"))
		return ob_hw_json_int(dev, "nvdec_engines", 1, 16, 1);
	if (cc && sscanf(cc, "%d.%d", &major, &minor) == 2)
		return nvdec_engines_of(major, minor);
	return 1;
}

/* What one GPU of the report does: decodes when NVDEC takes H.264 or HEVC, encodes the
 * codecs of an NVENC session. false when it does neither. */
static bool read_device(const json_t *dev, struct ob_hw_device_caps *caps)
{
	const json_t *nvdec = json_object_get(dev, "nvdec");
	const json_t *nvenc_codecs = json_object_get(dev, "nvenc_codecs");
	const char *name = json_string_value(json_object_get(dev, "name"));
	const json_t *index = json_object_get(dev, "index");

	memset(caps, 0, sizeof(*caps));
	if (!json_is_integer(index) || json_integer_value(index) < 0)
		return false;
	for (size_t c = 0; c < OB_ARRAY_SIZE(encode_codecs); c++) {
		caps->decodes |= ob_hw_json_lists(nvdec, encode_codecs[c]);
		if (json_is_true(json_object_get(dev, "nvenc")) &&
		    ob_hw_json_lists(nvenc_codecs, encode_codecs[c]))
			ob_hw_caps_add_codec(caps, encode_codecs[c]);
	}
	caps->encodes = caps->encode_codecs[0][0] != '\0';
	snprintf(caps->id, sizeof(caps->id), "%" JSON_INTEGER_FORMAT, json_integer_value(index));
	if (name)
		ob_strlcpy(caps->label, name, sizeof(caps->label));
	else
		snprintf(caps->label, sizeof(caps->label), "GPU %s", caps->id);
	return caps->decodes || caps->encodes;
}

/* Each GPU that decodes or encodes. Sessions: professional and data-centre cards have no
 * count limit (0); GeForce and TITAN cards share the driver's limit between them. Pixel
 * rates: the engine models times "nvenc_engines" (1 when absent) and "nvdec_engines" (the
 * model by compute capability when absent). */
static int nvenc_capacity(const json_t *report, struct ob_hw_device_caps *out, size_t max,
			  size_t *count)
{
	const json_t *devices = json_object_get(report, "devices");
	int limit = consumer_session_limit(
		json_string_value(json_object_get(report, "cuda_driver_api")));
	int consumers = 0;
	struct ob_hw_device_caps caps;

	*count = 0;
	for (size_t i = 0; i < json_array_size(devices); i++) {
		const json_t *dev = json_array_get(devices, i);

		consumers += read_device(dev, &caps) && caps.encodes &&
			     is_consumer_card(json_string_value(json_object_get(dev, "name")));
	}
	for (size_t i = 0; i < json_array_size(devices) && *count < max; i++) {
		const json_t *dev = json_array_get(devices, i);
		struct ob_hw_device_caps *one = &out[*count];

		if (!read_device(dev, one))
			continue;
		if (one->encodes) {
			if (is_consumer_card(one->label))
				one->sessions = limit / consumers > 0 ? limit / consumers : 1;
			one->encode_pixel_rate =
				ob_hw_json_int(dev, "nvenc_engines", 1, 16, 1) * NVENC_ENGINE_RATE;
		}
		if (one->decodes)
			one->decode_pixel_rate = nvdec_engines_in(dev) * NVDEC_ENGINE_RATE;
		(*count)++;
	}
	return *count ? 0 : OB_EUNSUPPORTED;
}

/* A CUDA device on the GPU of ordinal id. */
static int nvenc_open_device(const char *id, AVBufferRef **out, char *err, size_t err_len)
{
	struct ob_hw_device_caps caps;
	int ret;

	*out = NULL;
	ret = ob_hw_find_device(&ob_hw_nvenc, id, &caps, err, err_len);
	if (ret == 0)
		ret = ob_hw_create_device("nvenc", AV_HWDEVICE_TYPE_CUDA, caps.id, out, err,
					  err_len);
	return ret;
}

/* libavcodec's own decoders with the NVDEC hwaccel; audio, and video NVDEC does not
 * decode, in system memory. */
static int nvenc_open_decoder(const AVCodecParameters *par, AVBufferRef *device,
			      AVCodecContext **out, char *err, size_t err_len)
{
	return ob_hw_open_decoder("nvenc", par, NULL, device, out, err, err_len);
}

/* What a rung's codec and profile become on NVENC. HEVC has no B-frames: NVENC before
 * Turing has none for HEVC, and FFmpeg refuses to open it then rather than leave them out. */
static const struct nvenc_profile {
	const char *codec;
	const char *profile; /* the rung's and the encoder's; the first of a codec is its default */
	const char *encoder;
	int av_profile;
	enum AVPixelFormat sw_format;
	int max_b_frames;
} rung_profiles[] = {
	{ "h264", "high", "h264_nvenc", FF_PROFILE_H264_HIGH, AV_PIX_FMT_NV12, 2 },
	{ "h264", "main", "h264_nvenc", FF_PROFILE_H264_MAIN, AV_PIX_FMT_NV12, 2 },
	{ "h264", "baseline", "h264_nvenc", FF_PROFILE_H264_BASELINE, AV_PIX_FMT_NV12, 0 },
	{ "hevc", "main", "hevc_nvenc", FF_PROFILE_HEVC_MAIN, AV_PIX_FMT_NV12, 0 },
	{ "hevc", "main10", "hevc_nvenc", FF_PROFILE_HEVC_MAIN_10, AV_PIX_FMT_P010, 0 },
};

/* x264's presets on NVENC's p1 (fastest) ... p7 (best); p4 is NVENC's medium. */
static const char *const preset_names[OB_HW_PRESETS] = {
	"p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7", "p7",
};

/* The fixed options of every rung: high-quality tuning with B-frames that are not
 * references (pre-Turing NVENC has no B references), no look-ahead and so no scene-cut I
 * frames, a forced I frame as an IDR, an even rate from GOP to GOP, reordering allowed. */
static const char *const fixed_options[][2] = {
	{ "tune", "hq" },          { "rc-lookahead", "0" }, { "no-scenecut", "1" },
	{ "forced-idr", "1" },     { "strict_gop", "1" },   { "zerolatency", "0" },
	{ "b_ref_mode", "disabled" },
};

static int nvenc_map_encoder(const struct ob_hw_encode_params *p, struct ob_hw_encoder_setup *out,
			     char *err, size_t err_len)
{
	const struct nvenc_profile *profile = NULL;
	int preset = ob_hw_preset_index(p->preset);
	bool cbr = false;
	int ret;

	ob_hw_setup_clear(out);
	for (size_t i = 0; p->codec && !profile && i < OB_ARRAY_SIZE(rung_profiles); i++)
		if (strcmp(rung_profiles[i].codec, p->codec) == 0 &&
		    (!p->profile || strcmp(rung_profiles[i].profile, p->profile) == 0))
			profile = &rung_profiles[i];
	if (!profile) {
		snprintf(err, err_len, "nvenc: no encoder for %s profile %s",
			 p->codec ? p->codec : "(no codec)", p->profile ? p->profile : "(default)");
		return OB_EUNSUPPORTED;
	}
	ret = ob_hw_check_params("nvenc", p, err, err_len);
	if (ret == 0)
		ret = ob_hw_rate_mode("nvenc", p, &cbr, err, err_len);
	if (ret == 0 && preset < 0) {
		snprintf(err, err_len, "nvenc: unknown preset \"%s\"", p->preset);
		ret = OB_EINVAL;
	}
	if (ret != 0)
		return ret;
	ob_strlcpy(out->encoder, profile->encoder, sizeof(out->encoder));
	out->device_frames = true;
	out->sw_format = profile->sw_format;
	/* gop_size becomes NVENC's gopLength and its IDR period: every GOP starts with an
	 * IDR, so every GOP is closed. */
	ob_hw_setup_common(p, out);
	out->max_b_frames = profile->max_b_frames;
	out->profile = profile->av_profile;
	ret = ob_hw_setup_option(out, "preset", preset_names[preset]);
	if (ret == 0)
		ret = ob_hw_setup_option(out, "profile", profile->profile);
	if (ret == 0)
		ret = ob_hw_setup_option(out, "rc", cbr ? "cbr" : "vbr");
	for (size_t i = 0; ret == 0 && i < OB_ARRAY_SIZE(fixed_options); i++)
		ret = ob_hw_setup_option(out, fixed_options[i][0], fixed_options[i][1]);
	return ret;
}

static int nvenc_open_encoder(const struct ob_hw_encode_params *p, AVBufferRef *frames,
			      AVCodecContext **out, char *err, size_t err_len)
{
	struct ob_hw_encoder_setup setup;
	int ret;

	*out = NULL;
	ret = nvenc_map_encoder(p, &setup, err, err_len);
	if (ret == 0)
		ret = ob_hw_open_mapped("nvenc", p, &setup, frames, out, err, err_len);
	av_dict_free(&setup.options);
	return ret;
}

/* Frames stay on the GPU when they can: scale_cuda scales and converts in one pass. The
 * mixed path (NVDEC and scale_cuda, a CPU encoder) downloads the scaled frames. */
static int nvenc_scale_filter(const struct ob_hw_encode_params *p, bool in_device,
			      bool out_device, char *out, size_t out_len)
{
	return ob_hw_device_chain(p, in_device, out_device, "scale_cuda", "hwupload", out,
				  out_len);
}

const struct ob_hw_backend ob_hw_nvenc = {
	.name = "nvenc",
	.description = "NVIDIA GPUs: NVDEC, CUDA scaling and NVENC through the CUDA driver",
	.probe = nvenc_probe,
	.capacity = nvenc_capacity,
	.open_device = nvenc_open_device,
	.open_decoder = nvenc_open_decoder,
	.map_encoder = nvenc_map_encoder,
	.open_encoder = nvenc_open_encoder,
	.scale_filter = nvenc_scale_filter,
};
