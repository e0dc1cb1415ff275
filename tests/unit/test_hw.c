/* drivers-glue: the backend table, the probe report of every compiled backend (on a box
 * without the device, each hardware backend says why it is absent), each backend's scale
 * filter, hardware backends refusing to open without a device, and the software encoders
 * as the engine opens them: keyframes exactly every GOP (a scene cut adds none), a forced
 * IDR on request, and a clear refusal for what a backend cannot encode. Real
 * libx264/libx265, libva, oneVPL and the CUDA loader. */
#include <dlfcn.h>
#include <glob.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>
#include <string.h>

#include "core/err.h"
#include "generated/autoconf.h"
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
	const struct ob_hw_backend *const *all = ob_hw_backends(&count);

	(void)state;
	assert_non_null(ob_hw_backend_find("software"));
	assert_null(ob_hw_backend_find("nope"));
	assert_ptr_equal(all[count], NULL);
	assert_int_equal(json_array_size(report), count);
	/* best first: software is the last resort */
	assert_string_equal(all[count - 1]->name, "software");
	for (size_t i = 0; i < count; i++)
		assert_string_equal(
			json_string_value(json_object_get(json_array_get(report, i), "name")),
			all[i]->name);
	assert_true(json_is_true(json_object_get(json_array_get(report, count - 1),
						 "available")));
	json_decref(report);
}

static bool have_render_node(void)
{
	glob_t nodes = { 0 };
	bool found = glob("/dev/dri/renderD*", 0, NULL, &nodes) == 0 && nodes.gl_pathc > 0;

	globfree(&nodes);
	return found;
}

static bool have_libcuda(void)
{
	void *lib = dlopen("libcuda.so.1", RTLD_LAZY);

	if (lib)
		dlclose(lib);
	return lib != NULL;
}

/* What each backend must say on a box without its device. */
static const struct {
	const char *name;
	bool (*device_here)(void);
	const char *reason; /* the start of the reason */
} absent[] = {
	{ "vaapi", have_render_node, "no /dev/dri render node" },
	{ "qsv", have_render_node, "oneVPL found no hardware implementation" },
	{ "nvenc", have_libcuda, "libcuda.so.1 not found (no NVIDIA driver)" },
};

static void test_every_probe_reports_name_availability_and_reason(void **state)
{
	json_t *report = ob_hw_probe_all();
	size_t i;
	json_t *one;

	(void)state;
	json_array_foreach(report, i, one) {
		const char *reason = json_string_value(json_object_get(one, "reason"));

		assert_non_null(json_string_value(json_object_get(one, "name")));
		assert_non_null(json_string_value(json_object_get(one, "description")));
		assert_true(json_is_boolean(json_object_get(one, "available")));
		if (!json_is_true(json_object_get(one, "available")))
			assert_true(reason && reason[0]);
	}
	for (i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(absent[i].name);
		json_t *r;
		const char *reason;

		if (!b || absent[i].device_here())
			continue;
		r = json_object();
		assert_int_equal(b->probe(r), 0);
		reason = json_string_value(json_object_get(r, "reason"));
		assert_true(json_is_false(json_object_get(r, "available")));
		assert_non_null(reason);
		if (strncmp(reason, absent[i].reason, strlen(absent[i].reason)) != 0)
			fail_msg("%s: reason \"%s\", expected \"%s…\"", absent[i].name, reason,
				 absent[i].reason);
		json_decref(r);
	}
	json_decref(report);
}

static void test_backends_compiled_in_as_configured(void **state)
{
	(void)state;
#ifdef CONFIG_HW_VAAPI
	assert_non_null(ob_hw_backend_find("vaapi"));
#else
	assert_null(ob_hw_backend_find("vaapi"));
#endif
#ifdef CONFIG_HW_QSV
	assert_non_null(ob_hw_backend_find("qsv"));
#else
	assert_null(ob_hw_backend_find("qsv"));
#endif
#ifdef CONFIG_HW_NVENC
	assert_non_null(ob_hw_backend_find("nvenc"));
#else
	assert_null(ob_hw_backend_find("nvenc"));
#endif
}

static const struct {
	const char *backend;
	const char *profile;
	int width, height;
	const char *filter;
} scale_cases[] = {
	{ "software", "high", 1280, 720, "scale=w=1280:h=720:flags=bicubic,format=yuv420p" },
	{ "software", "main10", 1920, 1080,
	  "scale=w=1920:h=1080:flags=bicubic,format=yuv420p10le" },
	{ "vaapi", "high", 1280, 720, "scale_vaapi=w=1280:h=720:format=nv12" },
	{ "vaapi", "main10", 3840, 2160, "scale_vaapi=w=3840:h=2160:format=p010" },
	{ "qsv", "main", 640, 360, "vpp_qsv=w=640:h=360:format=nv12" },
	{ "qsv", "main10", 1920, 1080, "vpp_qsv=w=1920:h=1080:format=p010" },
	{ "nvenc", "high", 854, 480, "scale_cuda=854:480" },
};

static void test_scale_filter_per_backend(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scale_cases) / sizeof(scale_cases[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(scale_cases[i].backend);
		struct ob_hw_encode_params p = params("h264", scale_cases[i].profile, 60);
		char out[128];
		size_t len = strlen(scale_cases[i].filter);

		if (!b)
			continue;
		p.width = scale_cases[i].width;
		p.height = scale_cases[i].height;
		assert_int_equal(b->scale_filter(&p, out, sizeof(out)), 0);
		assert_string_equal(out, scale_cases[i].filter);
		/* exactly enough room, then one byte too little */
		assert_int_equal(b->scale_filter(&p, out, len + 1), 0);
		assert_int_equal(b->scale_filter(&p, out, len), OB_ETOOBIG);
	}
}

static void test_hardware_without_device_refuses_to_open(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(absent[i].name);
		struct ob_hw_encode_params p = params("h264", "high", 60);
		AVCodecParameters *par = avcodec_parameters_alloc();
		AVCodecContext *ctx = NULL;
		char err[512] = "", prefix[64];

		if (!b || absent[i].device_here()) {
			avcodec_parameters_free(&par);
			continue;
		}
		snprintf(prefix, sizeof(prefix), "%s: %s", absent[i].name, absent[i].reason);
		assert_int_equal(b->open_encoder(&p, &ctx, err, sizeof(err)), OB_EUNSUPPORTED);
		assert_null(ctx);
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			fail_msg("open_encoder said \"%s\", expected \"%s…\"", err, prefix);
		par->codec_type = AVMEDIA_TYPE_VIDEO;
		par->codec_id = AV_CODEC_ID_H264;
		ctx = NULL;
		err[0] = '\0';
		assert_int_equal(b->open_decoder(par, &ctx, err, sizeof(err)), OB_EUNSUPPORTED);
		assert_null(ctx);
		if (strncmp(err, prefix, strlen(prefix)) != 0)
			fail_msg("open_decoder said \"%s\", expected \"%s…\"", err, prefix);
		avcodec_parameters_free(&par);
	}
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
		cmocka_unit_test(test_every_probe_reports_name_availability_and_reason),
		cmocka_unit_test(test_backends_compiled_in_as_configured),
		cmocka_unit_test(test_scale_filter_per_backend),
		cmocka_unit_test(test_hardware_without_device_refuses_to_open),
		cmocka_unit_test(test_h264_keyframes_only_at_gop_boundaries),
		cmocka_unit_test(test_forced_idr),
		cmocka_unit_test(test_hevc_keyframes),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
