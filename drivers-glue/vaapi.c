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
#include <va/va.h>
#include <va/va_drm.h>

#include "core/err.h"
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

static int vaapi_open_encoder(const struct ob_hw_encode_params *params, AVCodecContext **out,
			      char *err, size_t err_len)
{
	(void)params;
	*out = NULL;
	return ob_hw_refuse(&ob_hw_vaapi, err, err_len);
}

static int vaapi_open_decoder(const AVCodecParameters *par, AVCodecContext **out, char *err,
			      size_t err_len)
{
	(void)par;
	*out = NULL;
	return ob_hw_refuse(&ob_hw_vaapi, err, err_len);
}

/* Frames stay on the GPU: scale_vaapi scales and converts in one pass. */
static int vaapi_scale_filter(const struct ob_hw_encode_params *p, char *out, size_t out_len)
{
	const char *format = p->profile && strcmp(p->profile, "main10") == 0 ? "p010" : "nv12";
	int n = snprintf(out, out_len, "scale_vaapi=w=%d:h=%d:format=%s", p->width, p->height,
			 format);

	return n < 0 || (size_t)n >= out_len ? OB_ETOOBIG : 0;
}

const struct ob_hw_backend ob_hw_vaapi = {
	.name = "vaapi",
	.description = "Intel and AMD GPUs through libva (VAAPI)",
	.probe = vaapi_probe,
	.open_encoder = vaapi_open_encoder,
	.open_decoder = vaapi_open_decoder,
	.scale_filter = vaapi_scale_filter,
};
