/* drivers-glue: the backend table, the probe report, and the software encoders as the
 * engine opens them: keyframes exactly every GOP (a scene cut adds none), a forced IDR on
 * request, and a clear refusal for what a backend cannot encode. Real libx264/libx265. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <string.h>

#include "core/err.h"
#include "hw.h"

#define W 320
#define H 180

static struct ob_hw_encode_params params(const char *codec, const char *profile, int gop)
{
	struct ob_hw_encode_params p = {
		.codec = codec, .profile = profile, .preset = "ultrafast", .width = W, .height = H,
		.frame_rate = { 30, 1 }, .time_base = { 1, 30 }, .bitrate_kbps = 400,
		.max_bitrate_kbps = 440, .buffer_kbits = 800, .gop_frames = gop,
	};
	return p;
}

/* Frame i: flat and still before the cut, then a busy pattern unlike anything before. */
static void paint(AVFrame *frame, int i, int cut)
{
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++)
			frame->data[0][y * frame->linesize[0] + x] =
				i < cut ? (uint8_t)(60 + (i & 1))
					: (uint8_t)(((x / 8 + y / 8 + i) & 1) ? 235 : 16);
	for (int y = 0; y < H / 2; y++) {
		memset(frame->data[1] + y * frame->linesize[1], i < cut ? 128 : 40, W / 2);
		memset(frame->data[2] + y * frame->linesize[2], i < cut ? 128 : 220, W / 2);
	}
}

static void drain(AVCodecContext *ctx, int64_t *keys, int *n_keys, int max_keys)
{
	AVPacket *pkt = av_packet_alloc();

	while (avcodec_receive_packet(ctx, pkt) == 0) {
		if ((pkt->flags & AV_PKT_FLAG_KEY) && *n_keys < max_keys)
			keys[(*n_keys)++] = pkt->pts;
		av_packet_unref(pkt);
	}
	av_packet_free(&pkt);
}

/* Encodes n frames with a scene cut at frame cut (and a forced I frame at forced, or -1);
 * returns the keyframes' pts in keys. */
static int encode(AVCodecContext *ctx, int n, int cut, int forced, int64_t *keys, int max_keys)
{
	AVFrame *frame = av_frame_alloc();
	int n_keys = 0;

	frame->format = ctx->pix_fmt;
	frame->width = W;
	frame->height = H;
	assert_int_equal(av_frame_get_buffer(frame, 0), 0);
	for (int i = 0; i < n; i++) {
		assert_int_equal(av_frame_make_writable(frame), 0);
		paint(frame, i, cut);
		frame->pts = i;
		frame->pict_type = i == forced ? AV_PICTURE_TYPE_I : AV_PICTURE_TYPE_NONE;
		assert_int_equal(avcodec_send_frame(ctx, frame), 0);
		drain(ctx, keys, &n_keys, max_keys);
	}
	avcodec_send_frame(ctx, NULL);
	drain(ctx, keys, &n_keys, max_keys);
	av_frame_free(&frame);
	return n_keys;
}

static void test_table_and_probe(void **state)
{
	json_t *report = ob_hw_probe_all();
	size_t count;

	(void)state;
	assert_non_null(ob_hw_backend_find("software"));
	assert_null(ob_hw_backend_find("nope"));
	assert_ptr_equal(ob_hw_backends(&count)[count], NULL);
	assert_true(json_array_size(report) >= 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(report, 0), "name")),
			    "software");
	assert_true(json_is_true(json_object_get(json_array_get(report, 0), "available")));
	json_decref(report);
}

static void test_h264_keyframes_only_at_gop_boundaries(void **state)
{
	const struct ob_hw_backend *sw = ob_hw_backend_find("software");
	struct ob_hw_encode_params p = params("h264", "high", 60);
	AVCodecContext *ctx = NULL;
	int64_t keys[16];
	char err[256] = "";
	int n;

	(void)state;
	if (sw->open_encoder(&p, &ctx, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_non_null(ctx->extradata); /* headers out of band, for CMAF */
	n = encode(ctx, 150, 90, -1, keys, 16);
	/* the cut at frame 90 must not start a GOP: every rung keyframes at 0, 60, 120 */
	assert_int_equal(n, 3);
	assert_int_equal(keys[0], 0);
	assert_int_equal(keys[1], 60);
	assert_int_equal(keys[2], 120);
	avcodec_free_context(&ctx);
}

static void test_forced_idr(void **state)
{
	const struct ob_hw_backend *sw = ob_hw_backend_find("software");
	struct ob_hw_encode_params p = params("h264", "main", 60);
	AVCodecContext *ctx = NULL;
	int64_t keys[16];
	char err[256] = "";
	int n;

	(void)state;
	if (sw->open_encoder(&p, &ctx, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	n = encode(ctx, 100, 1000, 45, keys, 16);
	assert_true(n >= 2);
	assert_int_equal(keys[0], 0);
	assert_int_equal(keys[1], 45);
	avcodec_free_context(&ctx);
}

static void test_hevc_keyframes(void **state)
{
	const struct ob_hw_backend *sw = ob_hw_backend_find("software");
	struct ob_hw_encode_params p = params("hevc", "main", 30);
	AVCodecContext *ctx = NULL;
	int64_t keys[16];
	char err[256] = "";
	int n;

	(void)state;
	if (sw->open_encoder(&p, &ctx, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	n = encode(ctx, 70, 40, -1, keys, 16);
	assert_int_equal(n, 3);
	assert_int_equal(keys[1], 30);
	assert_int_equal(keys[2], 60);
	avcodec_free_context(&ctx);
}

static void test_refusals(void **state)
{
	const struct ob_hw_backend *sw = ob_hw_backend_find("software");
	struct ob_hw_encode_params p = params("vp9", NULL, 30);
	AVCodecContext *ctx = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(sw->open_encoder(&p, &ctx, err, sizeof(err)), OB_EUNSUPPORTED);
	assert_non_null(strstr(err, "vp9"));
	assert_null(ctx);
	p = params("h264", "high", 0);
	assert_int_equal(sw->open_encoder(&p, &ctx, err, sizeof(err)), OB_EINVAL);
	p = params("h264", "main10", 30); /* x264 here is 8-bit: it says so, it does not crash */
	assert_int_not_equal(sw->open_encoder(&p, &ctx, err, sizeof(err)), 0);
	assert_null(ctx);
}

int main(void)
{
	av_log_set_level(AV_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_and_probe),
		cmocka_unit_test(test_h264_keyframes_only_at_gop_boundaries),
		cmocka_unit_test(test_forced_idr),
		cmocka_unit_test(test_hevc_keyframes),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
