/* NVIDIA GPUs: NVDEC decode, CUDA scaling and NVENC encode through the CUDA driver, all
 * loaded at run time (nv-codec-headers' loader: libcuda.so.1, libnvcuvid.so.1,
 * libnvidia-encode.so.1), so one firmware runs on boxes with and without the driver. This
 * slice probes: each GPU's name, compute capability and memory, the codecs NVDEC decodes
 * (cuvidGetDecoderCaps) and the codecs an NVENC encode session lists. A GPU with NVDEC but
 * no NVENC (A100, A30, H100, H200) is reported so. The zero-copy pipelines (NVDEC to
 * scale_cuda to h264_nvenc/hevc_nvenc, and NVDEC with scale_cuda feeding a CPU encoder)
 * are the next slice (docs/hardware.md): until they land, open_encoder and open_decoder
 * refuse with the probe's reason and "auto" moves on to the next backend. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* The loader's messages ("Cannot load libcuda.so.1") would go to stderr: the report says
 * what is missing instead. */
#define FFNV_LOG_FUNC(logctx, msg, ...) ((void)(logctx))
#define FFNV_DEBUG_LOG_FUNC(logctx, msg, ...) ((void)(logctx))
#include <ffnvcodec/dynlink_loader.h>

#include "core/err.h"
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

static int nvenc_open_encoder(const struct ob_hw_encode_params *params, AVCodecContext **out,
			      char *err, size_t err_len)
{
	(void)params;
	*out = NULL;
	return ob_hw_refuse(&ob_hw_nvenc, err, err_len);
}

static int nvenc_open_decoder(const AVCodecParameters *par, AVCodecContext **out, char *err,
			      size_t err_len)
{
	(void)par;
	*out = NULL;
	return ob_hw_refuse(&ob_hw_nvenc, err, err_len);
}

/* Frames stay on the GPU: scale_cuda scales and keeps NVDEC's surface format. */
static int nvenc_scale_filter(const struct ob_hw_encode_params *p, char *out, size_t out_len)
{
	int n = snprintf(out, out_len, "scale_cuda=%d:%d", p->width, p->height);

	return n < 0 || (size_t)n >= out_len ? OB_ETOOBIG : 0;
}

const struct ob_hw_backend ob_hw_nvenc = {
	.name = "nvenc",
	.description = "NVIDIA GPUs: NVDEC, CUDA scaling and NVENC through the CUDA driver",
	.probe = nvenc_probe,
	.open_encoder = nvenc_open_encoder,
	.open_decoder = nvenc_open_decoder,
	.scale_filter = nvenc_scale_filter,
};
