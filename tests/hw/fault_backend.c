/* A backend for the tests only (compiled into the ASan daemon and unit tests, never into
 * the firmware): it works like the software backend, except where OTTBOX_TEST_HW tells it
 * to fail the way hardware fails, so the tests can prove the runtime fallback.
 *
 *   OTTBOX_TEST_HW unset       absent ("available": false), never placed
 *   OTTBOX_TEST_HW=ok          works
 *   OTTBOX_TEST_HW=fail-open   its device does not open
 *   OTTBOX_TEST_HW=fail-after=N  each encoder fails after N frames (the packet buffer
 *                              callback refuses, as a device that hangs or resets does)
 *   OTTBOX_TEST_HW=decode-fail-after=N  its video decoders fail once N frames were
 *                              decoded on it (the frame buffer callback refuses)
 *
 * It sits first in the table, so "auto" places channels on it while it is configured. */
#include <libavcodec/avcodec.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"
#include "hw.h"

extern const struct ob_hw_backend ob_hw_software;

#define ENV "OTTBOX_TEST_HW"

static const char *mode(void)
{
	const char *m = getenv(ENV);

	return m && *m ? m : NULL;
}

/* Frames an encoder takes before it fails; 0 for never. */
static long fail_after(void)
{
	const char *m = mode();

	return m && strncmp(m, "fail-after=", 11) == 0 ? strtol(m + 11, NULL, 10) : 0;
}

/* Frames its decoders may decode, all together, before they fail; 0 for never. */
static long decode_fail_after(void)
{
	const char *m = mode();

	return m && strncmp(m, "decode-fail-after=", 18) == 0 ? strtol(m + 18, NULL, 10) : 0;
}

static atomic_long frames_decoded;

static int fault_probe(json_t *report)
{
	const char *m = mode();

	json_object_set_new(report, "available", json_boolean(m != NULL));
	if (!m)
		json_object_set_new(report, "reason", json_string("a test backend: " ENV
								  " is not set"));
	else
		json_object_set_new(report, "mode", json_string(m));
	return 0;
}

static int fault_capacity(const json_t *report, struct ob_hw_device_caps *out, size_t max,
			  size_t *count)
{
	*count = 0;
	if (!json_is_true(json_object_get(report, "available")) || max < 1)
		return OB_EUNSUPPORTED;
	memset(out, 0, sizeof(*out));
	ob_strlcpy(out->id, "fault0", sizeof(out->id));
	ob_strlcpy(out->label, "test device that fails on purpose", sizeof(out->label));
	out->decodes = true;
	out->encodes = true;
	ob_strlcpy(out->encode_codecs[0], "h264", sizeof(out->encode_codecs[0]));
	ob_strlcpy(out->encode_codecs[1], "hevc", sizeof(out->encode_codecs[1]));
	*count = 1;
	return 0;
}

static int fault_open_device(const char *id, AVBufferRef **out, char *err, size_t err_len)
{
	const char *m = mode();

	(void)id;
	*out = NULL;
	if (!m) {
		snprintf(err, err_len, "fault: " ENV " is not set");
		return OB_EUNSUPPORTED;
	}
	if (strcmp(m, "fail-open") == 0) {
		snprintf(err, err_len, "fault: the test device did not open (" ENV "=fail-open)");
		return OB_EIO;
	}
	return 0;
}

/* The decoders' frame buffers come from here: past the set number of frames it refuses,
 * and decoding fails with EIO from then on. Thread-safe (frame threads call it). */
static int failing_frame_buffer(AVCodecContext *ctx, AVFrame *frame, int flags)
{
	long limit = decode_fail_after();

	if (limit > 0 && atomic_fetch_add(&frames_decoded, 1) >= limit)
		return AVERROR(EIO);
	return avcodec_default_get_buffer2(ctx, frame, flags);
}

static int fault_open_decoder(const AVCodecParameters *par, AVBufferRef *device,
			      AVCodecContext **out, char *err, size_t err_len)
{
	int ret = ob_hw_software.open_decoder(par, device, out, err, err_len);

	if (ret == 0 && par->codec_type == AVMEDIA_TYPE_VIDEO && decode_fail_after() > 0)
		(*out)->get_buffer2 = failing_frame_buffer;
	return ret;
}

static int fault_map_encoder(const struct ob_hw_encode_params *params,
			     struct ob_hw_encoder_setup *out, char *err, size_t err_len)
{
	return ob_hw_software.map_encoder(params, out, err, err_len);
}

/* The encoder's packet buffers come from here: after the set number of frames it refuses,
 * and avcodec_receive_packet() fails with EIO. */
static int failing_buffer(AVCodecContext *ctx, AVPacket *pkt, int flags)
{
	long limit = fail_after();

	if (limit > 0 && ctx->frame_number > limit)
		return AVERROR(EIO);
	return avcodec_default_get_encode_buffer(ctx, pkt, flags);
}

static int fault_open_encoder(const struct ob_hw_encode_params *params, AVBufferRef *frames,
			      AVCodecContext **out, char *err, size_t err_len)
{
	int ret = ob_hw_software.open_encoder(params, frames, out, err, err_len);

	if (ret == 0)
		(*out)->get_encode_buffer = failing_buffer;
	return ret;
}

static int fault_scale_filter(const struct ob_hw_encode_params *params, bool in_device,
			      bool out_device, char *out, size_t out_len)
{
	return ob_hw_software.scale_filter(params, in_device, out_device, out, out_len);
}

const struct ob_hw_backend ob_hw_fault = {
	.name = "fault",
	.description = "test backend: the software path, failing on purpose (" ENV ")",
	.probe = fault_probe,
	.capacity = fault_capacity,
	.open_device = fault_open_device,
	.open_decoder = fault_open_decoder,
	.map_encoder = fault_map_encoder,
	.open_encoder = fault_open_encoder,
	.scale_filter = fault_scale_filter,
};
