/* The software backend: libavcodec's decoders, libswscale through the scale filter, and
 * libx264/libx265 on the CPU. It is also the encoder of the mixed path, where a GPU decodes
 * and scales and the CPU encodes. */
#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "core/err.h"
#include "core/util.h"
#include "hw.h"

/* Encoders and decoders the software path may use, by libavcodec name. */
static const char *const encoder_names[] = { "libx264", "libx265", "aac", NULL };
static const char *const decoder_names[] = { "h264", "hevc", "mpeg2video", "aac", NULL };

/* The rung codecs and the encoder each maps to. */
static const struct {
	const char *codec;
	const char *encoder;
	const char *params_key; /* where the GOP settings go */
	const char *params_tail;
} encoders[] = {
	{ "h264", "libx264", "x264-params", "" },
	{ "hevc", "libx265", "x265-params", ":log-level=error" },
};

static int software_probe(json_t *report)
{
	json_t *encoders_found = json_array();
	json_t *decoders = json_array();
	int video_encoders = 0;

	for (const char *const *n = encoder_names; *n; n++) {
		const AVCodec *codec = avcodec_find_encoder_by_name(*n);

		if (!codec)
			continue;
		json_array_append_new(encoders_found, json_string(*n));
		video_encoders += codec->type == AVMEDIA_TYPE_VIDEO;
	}
	for (const char *const *n = decoder_names; *n; n++)
		if (avcodec_find_decoder_by_name(*n))
			json_array_append_new(decoders, json_string(*n));
	json_object_set_new(report, "available", json_boolean(video_encoders > 0));
	if (video_encoders == 0)
		json_object_set_new(report, "reason",
				    json_string("libavcodec has no libx264 or libx265 encoder"));
	json_object_set_new(report, "encoders", encoders_found);
	json_object_set_new(report, "decoders", decoders);
	json_object_set_new(report, "libavcodec", json_string(av_version_info()));
	return 0;
}

/* One slot for the CPU, with no figures: how many pixels a core encodes differs twenty-fold
 * between x264's ultrafast and veryslow and with the source, so a per-core figure would be
 * wrong either way. Rungs beyond the CPU show as queue drops in the channel's status
 * (docs/hardware.md, "Capacity"). */
static int software_capacity(const json_t *report, struct ob_hw_device_caps *out, size_t max,
			     size_t *count)
{
	const json_t *found = json_object_get(report, "encoders");
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	struct ob_hw_device_caps *caps = out;

	*count = 0;
	if (max == 0 || !json_is_true(json_object_get(report, "available")))
		return OB_EUNSUPPORTED;
	memset(caps, 0, sizeof(*caps));
	snprintf(caps->label, sizeof(caps->label), "CPU, %ld cores", cores > 0 ? cores : 1);
	caps->decodes = true;
	for (size_t i = 0; i < OB_ARRAY_SIZE(encoders); i++)
		if (ob_hw_json_lists(found, encoders[i].encoder))
			ob_hw_caps_add_codec(caps, encoders[i].codec);
	caps->encodes = caps->encode_codecs[0][0] != '\0';
	*count = 1;
	return 0;
}

static int software_open_device(const char *id, AVBufferRef **out, char *err, size_t err_len)
{
	(void)id;
	(void)err;
	(void)err_len;
	*out = NULL;
	return 0;
}

/* The CPU decodes everything libavcodec decodes; a device given here is not used. */
static int software_open_decoder(const AVCodecParameters *par, AVBufferRef *device,
				 AVCodecContext **out, char *err, size_t err_len)
{
	(void)device;
	return ob_hw_open_decoder("software", par, NULL, NULL, out, err, err_len);
}

/* x264 and x265 share the option names this needs; only the params key differs. */
static int software_map_encoder(const struct ob_hw_encode_params *p,
				struct ob_hw_encoder_setup *out, char *err, size_t err_len)
{
	char params[256];
	size_t i;
	int ret;

	ob_hw_setup_clear(out);
	for (i = 0; p->codec && i < OB_ARRAY_SIZE(encoders); i++)
		if (strcmp(p->codec, encoders[i].codec) == 0)
			break;
	if (!p->codec || i == OB_ARRAY_SIZE(encoders)) {
		snprintf(err, err_len, "software: no encoder for codec \"%s\"",
			 p->codec ? p->codec : "(none)");
		return OB_EUNSUPPORTED;
	}
	if (!avcodec_find_encoder_by_name(encoders[i].encoder)) {
		snprintf(err, err_len, "software: libavcodec on this box has no %s",
			 encoders[i].encoder);
		return OB_EUNSUPPORTED;
	}
	ret = ob_hw_check_params("software", p, err, err_len);
	if (ret != 0)
		return ret;
	ob_strlcpy(out->encoder, encoders[i].encoder, sizeof(out->encoder));
	out->device_frames = false;
	out->sw_format = ob_hw_is_main10(p) ? AV_PIX_FMT_YUV420P10LE : AV_PIX_FMT_YUV420P;
	ob_hw_setup_common(p, out);
	/* Every rung keyframes on the same frames: a fixed GOP and no scene-cut keyframes;
	 * a forced I frame (segment cut after a discontinuity) is an IDR. */
	snprintf(params, sizeof(params), "scenecut=0:open-gop=0:keyint=%d:min-keyint=%d%s",
		 p->gop_frames, p->gop_frames, encoders[i].params_tail);
	ret = ob_hw_setup_option(out, encoders[i].params_key, params);
	if (ret == 0)
		ret = ob_hw_setup_option(out, "forced-idr", "1");
	if (ret == 0 && p->preset)
		ret = ob_hw_setup_option(out, "preset", p->preset);
	if (ret == 0 && p->profile)
		ret = ob_hw_setup_option(out, "profile", p->profile);
	return ret;
}

static int software_open_encoder(const struct ob_hw_encode_params *p, AVBufferRef *frames,
				 AVCodecContext **out, char *err, size_t err_len)
{
	struct ob_hw_encoder_setup setup;
	int ret;

	*out = NULL;
	ret = software_map_encoder(p, &setup, err, err_len);
	if (ret == 0)
		ret = ob_hw_open_mapped("software", p, &setup, frames, out, err, err_len);
	av_dict_free(&setup.options);
	return ret;
}

/* Frames in system memory only: scaled by libswscale into the encoder's format. */
static int software_scale_filter(const struct ob_hw_encode_params *p, bool in_device,
				 bool out_device, char *out, size_t out_len)
{
	if (in_device || out_device)
		return OB_EUNSUPPORTED;
	return ob_hw_system_chain(p, out, out_len);
}

const struct ob_hw_backend ob_hw_software = {
	.name = "software",
	.description = "CPU encoding with libx264/libx265 through libavcodec",
	.probe = software_probe,
	.capacity = software_capacity,
	.open_device = software_open_device,
	.open_decoder = software_open_decoder,
	.map_encoder = software_map_encoder,
	.open_encoder = software_open_encoder,
	.scale_filter = software_scale_filter,
};
