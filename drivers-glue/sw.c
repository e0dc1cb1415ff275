#include <libavcodec/avcodec.h>
#include <libavutil/avutil.h>

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

const struct ob_hw_backend ob_hw_software = {
	.name = "software",
	.description = "CPU encoding with libx264/libx265 through libavcodec",
	.probe = software_probe,
};
