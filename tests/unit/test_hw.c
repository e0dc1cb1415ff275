/* drivers-glue: the backend table, the probe report of every compiled backend (on a box
 * without the device, each hardware backend says why it is absent, and open_device says
 * the same), every backend's scale chains (each parsed by libavfilter), every backend's
 * encoder mapping (each option taken by the real FFmpeg encoder), capacity() on the
 * reports of devices in the field, decoders put on a device, and the software encoders as
 * the engine opens them: keyframes exactly every GOP (a scene cut adds none), a forced IDR
 * on request, and a clear refusal for what a backend cannot encode. Real libx264/libx265,
 * libva, oneVPL and the CUDA loader. */
#include <dlfcn.h>
#include <glob.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <libavfilter/avfilter.h>
#include <libavutil/frame.h>
#include <libavutil/hwcontext.h>
#include <libavutil/log.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <stdio.h>
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

/* The software backend; a test that needs it is skipped in a firmware built without it. */
static const struct ob_hw_backend *software(void)
{
	const struct ob_hw_backend *sw = ob_hw_backend_find("software");

	if (!sw)
		skip();
	return sw;
}

static void test_table_and_probe(void **state)
{
	json_t *report;
	size_t count;
	const struct ob_hw_backend *const *all = ob_hw_backends(&count);

	(void)state;
	software();
	report = ob_hw_probe_all();
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

/* The four chains of a backend for one rung: [in_device][out_device], NULL where the
 * backend has none. */
static const struct {
	const char *backend;
	const char *profile;
	int width, height;
	const char *device_format; /* the pixel format of frames on the device */
	const char *chain[2][2];
} scale_cases[] = {
	{ "software", "high", 1280, 720, NULL,
	  { { "scale=w=1280:h=720:flags=bicubic,format=yuv420p", NULL }, { NULL, NULL } } },
	{ "software", "main10", 1920, 1080, NULL,
	  { { "scale=w=1920:h=1080:flags=bicubic,format=yuv420p10le", NULL }, { NULL, NULL } } },
	{ "vaapi", "high", 1280, 720, "vaapi",
	  { { "scale=w=1280:h=720:flags=bicubic,format=yuv420p",
	      "format=nv12,hwupload,scale_vaapi=w=1280:h=720:format=nv12" },
	    { "scale_vaapi=w=1280:h=720:format=nv12,hwdownload,format=nv12,format=yuv420p",
	      "scale_vaapi=w=1280:h=720:format=nv12" } } },
	{ "vaapi", "main10", 3840, 2160, "vaapi",
	  { { "scale=w=3840:h=2160:flags=bicubic,format=yuv420p10le",
	      "format=p010,hwupload,scale_vaapi=w=3840:h=2160:format=p010" },
	    { "scale_vaapi=w=3840:h=2160:format=p010,hwdownload,format=p010,format=yuv420p10le",
	      "scale_vaapi=w=3840:h=2160:format=p010" } } },
	{ "qsv", "main", 640, 360, "qsv",
	  { { "scale=w=640:h=360:flags=bicubic,format=yuv420p",
	      "format=nv12,hwupload=extra_hw_frames=64,vpp_qsv=w=640:h=360:format=nv12" },
	    { "vpp_qsv=w=640:h=360:format=nv12,hwdownload,format=nv12,format=yuv420p",
	      "vpp_qsv=w=640:h=360:format=nv12" } } },
	{ "qsv", "main10", 1920, 1080, "qsv",
	  { { "scale=w=1920:h=1080:flags=bicubic,format=yuv420p10le",
	      "format=p010,hwupload=extra_hw_frames=64,vpp_qsv=w=1920:h=1080:format=p010" },
	    { "vpp_qsv=w=1920:h=1080:format=p010,hwdownload,format=p010,format=yuv420p10le",
	      "vpp_qsv=w=1920:h=1080:format=p010" } } },
	{ "nvenc", "high", 854, 480, "cuda",
	  { { "scale=w=854:h=480:flags=bicubic,format=yuv420p",
	      "format=nv12,hwupload,scale_cuda=w=854:h=480:format=nv12" },
	    /* the mixed path: NVDEC and scale_cuda, a CPU encoder (an H100) */
	    { "scale_cuda=w=854:h=480:format=nv12,hwdownload,format=nv12,format=yuv420p",
	      "scale_cuda=w=854:h=480:format=nv12" } } },
	{ "nvenc", "main10", 1280, 720, "cuda",
	  { { "scale=w=1280:h=720:flags=bicubic,format=yuv420p10le",
	      "format=p010,hwupload,scale_cuda=w=1280:h=720:format=p010" },
	    { "scale_cuda=w=1280:h=720:format=p010,hwdownload,format=p010,format=yuv420p10le",
	      "scale_cuda=w=1280:h=720:format=p010" } } },
};

/* libavfilter parses chain between a buffer source of frames in source_format and a sink,
 * creating and initialising every filter of it with its options (no device is needed
 * until the graph is configured). */
static void assert_chain_parses(const char *chain, const char *source_format)
{
	AVFilterGraph *graph = avfilter_graph_alloc();
	char desc[1024];
	int rc;

	snprintf(desc, sizeof(desc),
		 "buffer=video_size=1920x1080:pix_fmt=%s:time_base=1/30:pixel_aspect=1/1[in];"
		 "[in]%s[out];[out]buffersink",
		 source_format, chain);
	rc = avfilter_graph_parse_ptr(graph, desc, NULL, NULL, NULL);
	if (rc < 0)
		fail_msg("libavfilter does not take \"%s\": %s", chain, av_err2str(rc));
	/* buffer, buffersink and at least one filter of the chain */
	assert_true(graph->nb_filters >= 3);
	avfilter_graph_free(&graph);
}

static void test_scale_chains_per_backend(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(scale_cases) / sizeof(scale_cases[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(scale_cases[i].backend);
		struct ob_hw_encode_params p = params("h264", scale_cases[i].profile, 60);

		if (!b)
			continue;
		p.width = scale_cases[i].width;
		p.height = scale_cases[i].height;
		for (int in = 0; in < 2; in++)
			for (int on = 0; on < 2; on++) {
				const char *want = scale_cases[i].chain[in][on];
				char out[256];
				size_t len;

				if (!want) {
					assert_int_equal(
						b->scale_filter(&p, in, on, out, sizeof(out)),
						OB_EUNSUPPORTED);
					continue;
				}
				assert_int_equal(b->scale_filter(&p, in, on, out, sizeof(out)), 0);
				assert_string_equal(out, want);
				/* exactly enough room, then one byte too little */
				len = strlen(want);
				assert_int_equal(b->scale_filter(&p, in, on, out, len + 1), 0);
				assert_int_equal(b->scale_filter(&p, in, on, out, len), OB_ETOOBIG);
				assert_chain_parses(want, in ? scale_cases[i].device_format
							     : "yuv420p");
			}
	}
}

/* What a backend's map_encoder makes of one rung. Every option is listed: the test fails on
 * one too many as on one missing. */
static const struct {
	const char *backend;
	const char *codec, *profile, *preset;
	int max_kbps; /* the target is 400 */
	const char *encoder;
	enum AVPixelFormat sw_format;
	int max_b_frames;
	int profile_id;
	const char *options[12]; /* "key=value" */
} map_cases[] = {
	/* software: exactly what it set before the vtable changed, so output is bit-identical */
	{ "software", "h264", "high", "ultrafast", 440, "libx264", AV_PIX_FMT_YUV420P, -1,
	  FF_PROFILE_UNKNOWN,
	  { "x264-params=scenecut=0:open-gop=0:keyint=60:min-keyint=60", "forced-idr=1",
	    "preset=ultrafast", "profile=high" } },
	{ "software", "hevc", "main", "medium", 400, "libx265", AV_PIX_FMT_YUV420P, -1,
	  FF_PROFILE_UNKNOWN,
	  { "x265-params=scenecut=0:open-gop=0:keyint=60:min-keyint=60:log-level=error",
	    "forced-idr=1", "preset=medium", "profile=main" } },
	{ "software", "hevc", "main10", "slow", 440, "libx265", AV_PIX_FMT_YUV420P10LE, -1,
	  FF_PROFILE_UNKNOWN,
	  { "x265-params=scenecut=0:open-gop=0:keyint=60:min-keyint=60:log-level=error",
	    "forced-idr=1", "preset=slow", "profile=main10" } },
	{ "vaapi", "h264", "high", "veryfast", 400, "h264_vaapi", AV_PIX_FMT_NV12, 2,
	  FF_PROFILE_H264_HIGH,
	  { "profile=high", "rc_mode=CBR", "idr_interval=0", "quality=6" } },
	{ "vaapi", "h264", "main", "slow", 600, "h264_vaapi", AV_PIX_FMT_NV12, 2,
	  FF_PROFILE_H264_MAIN,
	  { "profile=main", "rc_mode=VBR", "idr_interval=0", "quality=3" } },
	{ "vaapi", "h264", "baseline", NULL, 440, "h264_vaapi", AV_PIX_FMT_NV12, 0,
	  FF_PROFILE_H264_CONSTRAINED_BASELINE,
	  { "profile=constrained_baseline", "rc_mode=VBR", "idr_interval=0", "quality=4" } },
	{ "vaapi", "hevc", "main", "medium", 440, "hevc_vaapi", AV_PIX_FMT_NV12, 2,
	  FF_PROFILE_HEVC_MAIN, { "profile=main", "rc_mode=VBR", "idr_interval=0" } },
	{ "vaapi", "hevc", "main10", "veryslow", 400, "hevc_vaapi", AV_PIX_FMT_P010, 2,
	  FF_PROFILE_HEVC_MAIN_10, { "profile=main10", "rc_mode=CBR", "idr_interval=0" } },
	{ "qsv", "h264", "high", "veryfast", 400, "h264_qsv", AV_PIX_FMT_NV12, 2,
	  FF_PROFILE_H264_HIGH,
	  { "profile=high", "preset=veryfast", "idr_interval=0", "forced_idr=1",
	    "async_depth=4", "look_ahead=0", "adaptive_i=0" } },
	{ "qsv", "h264", "main", "medium", 440, "h264_qsv", AV_PIX_FMT_NV12, 2,
	  FF_PROFILE_H264_MAIN,
	  { "profile=main", "preset=medium", "idr_interval=0", "forced_idr=1",
	    "async_depth=4", "look_ahead=0", "adaptive_i=0" } },
	{ "qsv", "hevc", "main", "slower", 440, "hevc_qsv", AV_PIX_FMT_NV12, 2,
	  FF_PROFILE_HEVC_MAIN,
	  { "profile=main", "preset=slower", "idr_interval=0", "forced_idr=1",
	    "async_depth=4" } },
	{ "qsv", "hevc", "main10", "placebo", 400, "hevc_qsv", AV_PIX_FMT_P010, 2,
	  FF_PROFILE_HEVC_MAIN_10,
	  { "profile=main10", "preset=veryslow", "idr_interval=0", "forced_idr=1",
	    "async_depth=4" } },
	{ "nvenc", "h264", "high", "veryfast", 400, "h264_nvenc", AV_PIX_FMT_NV12, 2,
	  FF_PROFILE_H264_HIGH,
	  { "preset=p2", "profile=high", "rc=cbr", "tune=hq", "rc-lookahead=0",
	    "no-scenecut=1", "forced-idr=1", "strict_gop=1", "zerolatency=0",
	    "b_ref_mode=disabled" } },
	{ "nvenc", "h264", "main", NULL, 440, "h264_nvenc", AV_PIX_FMT_NV12, 2,
	  FF_PROFILE_H264_MAIN,
	  { "preset=p4", "profile=main", "rc=vbr", "tune=hq", "rc-lookahead=0",
	    "no-scenecut=1", "forced-idr=1", "strict_gop=1", "zerolatency=0",
	    "b_ref_mode=disabled" } },
	{ "nvenc", "h264", "baseline", "ultrafast", 440, "h264_nvenc", AV_PIX_FMT_NV12, 0,
	  FF_PROFILE_H264_BASELINE,
	  { "preset=p1", "profile=baseline", "rc=vbr", "tune=hq", "rc-lookahead=0",
	    "no-scenecut=1", "forced-idr=1", "strict_gop=1", "zerolatency=0",
	    "b_ref_mode=disabled" } },
	{ "nvenc", "hevc", "main", "slow", 400, "hevc_nvenc", AV_PIX_FMT_NV12, 0,
	  FF_PROFILE_HEVC_MAIN,
	  { "preset=p5", "profile=main", "rc=cbr", "tune=hq", "rc-lookahead=0",
	    "no-scenecut=1", "forced-idr=1", "strict_gop=1", "zerolatency=0",
	    "b_ref_mode=disabled" } },
	{ "nvenc", "hevc", "main10", "veryslow", 440, "hevc_nvenc", AV_PIX_FMT_P010, 0,
	  FF_PROFILE_HEVC_MAIN_10,
	  { "preset=p7", "profile=main10", "rc=vbr", "tune=hq", "rc-lookahead=0",
	    "no-scenecut=1", "forced-idr=1", "strict_gop=1", "zerolatency=0",
	    "b_ref_mode=disabled" } },
};

/* The real encoder's private options take every option of setup, as avcodec_open2 would
 * give them: the names exist and the values parse. */
static void assert_encoder_takes(const struct ob_hw_encoder_setup *setup)
{
	const AVCodec *codec = avcodec_find_encoder_by_name(setup->encoder);
	const AVDictionaryEntry *e = NULL;
	AVCodecContext *ctx;

	if (!codec)
		fail_msg("libavcodec has no encoder %s", setup->encoder);
	ctx = avcodec_alloc_context3(codec);
	assert_non_null(ctx);
	while ((e = av_dict_get(setup->options, "", e, AV_DICT_IGNORE_SUFFIX))) {
		int rc = av_opt_set(ctx->priv_data, e->key, e->value, 0);

		if (rc != 0)
			fail_msg("%s does not take %s=%s: %s", setup->encoder, e->key, e->value,
				 av_err2str(rc));
	}
	avcodec_free_context(&ctx);
}

static void test_map_encoder_per_backend(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(map_cases) / sizeof(map_cases[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(map_cases[i].backend);
		struct ob_hw_encode_params p = params(map_cases[i].codec, map_cases[i].profile, 60);
		struct ob_hw_encoder_setup setup;
		char err[256] = "";
		int n = 0;

		if (!b)
			continue;
		p.preset = map_cases[i].preset;
		p.max_bitrate_kbps = map_cases[i].max_kbps;
		if (b->map_encoder(&p, &setup, err, sizeof(err)) != 0)
			fail_msg("%s %s %s: %s", map_cases[i].backend, map_cases[i].codec,
				 map_cases[i].profile, err);
		assert_string_equal(setup.encoder, map_cases[i].encoder);
		assert_int_equal(setup.device_frames,
				 strcmp(map_cases[i].backend, "software") != 0);
		assert_int_equal(setup.sw_format, map_cases[i].sw_format);
		assert_int_equal(setup.max_b_frames, map_cases[i].max_b_frames);
		assert_int_equal(setup.profile, map_cases[i].profile_id);
		/* the rung's rates and GOP, closed, with headers out of band */
		assert_int_equal(setup.bit_rate, 400000);
		assert_int_equal(setup.rc_max_rate, map_cases[i].max_kbps * 1000);
		assert_int_equal(setup.rc_buffer_size, 800000);
		assert_int_equal(setup.gop_size, 60);
		assert_int_equal(setup.keyint_min, 60);
		assert_int_equal((unsigned)setup.flags,
				 AV_CODEC_FLAG_CLOSED_GOP | AV_CODEC_FLAG_GLOBAL_HEADER);
		for (; n < 12 && map_cases[i].options[n]; n++) {
			const char *kv = map_cases[i].options[n];
			const char *eq = strchr(kv, '=');
			char key[64];
			const AVDictionaryEntry *e;

			snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
			e = av_dict_get(setup.options, key, NULL, 0);
			if (!e || strcmp(e->value, eq + 1) != 0)
				fail_msg("%s %s %s: %s is \"%s\", expected \"%s\"",
					 map_cases[i].backend, map_cases[i].codec,
					 map_cases[i].profile, key, e ? e->value : "(unset)",
					 eq + 1);
		}
		assert_int_equal(av_dict_count(setup.options), n);
		assert_encoder_takes(&setup);
		av_dict_free(&setup.options);
	}
}

/* What a backend has no encoder for, and parameters out of range. */
static const struct {
	const char *backend, *codec, *profile, *preset;
	int max_kbps, gop;
	int code;
} map_refusals[] = {
	{ "software", "vp9", NULL, "medium", 440, 60, OB_EUNSUPPORTED },
	{ "software", "h264", "high", "medium", 440, 0, OB_EINVAL },
	{ "vaapi", "h264", "main10", "medium", 440, 60, OB_EUNSUPPORTED },
	{ "vaapi", "hevc", "high", "medium", 440, 60, OB_EUNSUPPORTED },
	{ "vaapi", "av1", NULL, "medium", 440, 60, OB_EUNSUPPORTED },
	{ "vaapi", "h264", "high", "medium", 300, 60, OB_EINVAL },
	{ "vaapi", "h264", "high", "turbo", 440, 60, OB_EINVAL },
	{ "qsv", "h264", "main10", "medium", 440, 60, OB_EUNSUPPORTED },
	{ "qsv", "hevc", "baseline", "medium", 440, 60, OB_EUNSUPPORTED },
	{ "qsv", "hevc", "main", "medium", 440, 0, OB_EINVAL },
	{ "nvenc", "h264", "main10", "medium", 440, 60, OB_EUNSUPPORTED },
	{ "nvenc", "vp9", NULL, "medium", 440, 60, OB_EUNSUPPORTED },
	{ "nvenc", "hevc", "main", "medium", 399, 60, OB_EINVAL },
	{ "nvenc", "hevc", "main", "p4", 440, 60, OB_EINVAL },
};

static void test_map_encoder_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(map_refusals) / sizeof(map_refusals[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(map_refusals[i].backend);
		struct ob_hw_encode_params p =
			params(map_refusals[i].codec, map_refusals[i].profile, map_refusals[i].gop);
		struct ob_hw_encoder_setup setup;
		char err[256] = "";
		int rc;

		if (!b)
			continue;
		p.preset = map_refusals[i].preset;
		p.max_bitrate_kbps = map_refusals[i].max_kbps;
		rc = b->map_encoder(&p, &setup, err, sizeof(err));
		if (rc != map_refusals[i].code)
			fail_msg("%s %s %s: %d (%s), expected %d", map_refusals[i].backend,
				 map_refusals[i].codec, map_refusals[i].profile, rc, err,
				 map_refusals[i].code);
		/* a message that names the backend */
		assert_int_equal(strncmp(err, b->name, strlen(b->name)), 0);
		av_dict_free(&setup.options);
	}
}

/* ob_hw_open_mapped: an option the encoder does not take fails the open, and device
 * frames must be there and hold the pixels the encoder wants. */
static void test_open_mapped_checks(void **state)
{
	const struct ob_hw_backend *sw = software();
	struct ob_hw_encode_params p = params("h264", "high", 60);
	struct ob_hw_encoder_setup setup;
	AVBufferRef *device, *frames;
	AVCodecContext *ctx = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(sw->map_encoder(&p, &setup, err, sizeof(err)), 0);
	av_dict_set(&setup.options, "no-such-option", "1", 0);
	assert_int_equal(ob_hw_open_mapped("software", &p, &setup, NULL, &ctx, err, sizeof(err)),
			 OB_EINTERNAL);
	assert_null(ctx);
	assert_string_equal(err, "software: libx264 does not take the option \"no-such-option\"");
	av_dict_free(&setup.options);

	/* a device frames context, allocated but never initialised: the check comes first */
	device = av_hwdevice_ctx_alloc(AV_HWDEVICE_TYPE_VAAPI);
	assert_non_null(device);
	frames = av_hwframe_ctx_alloc(device);
	assert_non_null(frames);
	((AVHWFramesContext *)frames->data)->format = AV_PIX_FMT_VAAPI;
	((AVHWFramesContext *)frames->data)->sw_format = AV_PIX_FMT_NV12;
	setup.options = NULL;
	strcpy(setup.encoder, "hevc_vaapi");
	setup.device_frames = true;
	setup.sw_format = AV_PIX_FMT_P010;
	assert_int_equal(ob_hw_open_mapped("vaapi", &p, &setup, frames, &ctx, err, sizeof(err)),
			 OB_EINVAL);
	assert_string_equal(err, "vaapi: hevc_vaapi wants p010le frames on the device, the chain "
				 "gives nv12");
	assert_int_equal(ob_hw_open_mapped("vaapi", &p, &setup, NULL, &ctx, err, sizeof(err)),
			 OB_EINVAL);
	assert_null(ctx);
	av_buffer_unref(&frames);
	av_buffer_unref(&device);
}

static const struct {
	const char *backend;
	const char *report;
	size_t count;
	struct ob_hw_device_caps caps[2];
} capacity_cases[] = {
	/* An Intel iGPU with two media engines (VDBox) on iHD, HEVC on the low-power
	 * entrypoint only, and a second node whose driver did not load. */
	{ "vaapi",
	  "{\"available\": true, \"devices\": ["
	  " {\"node\": \"/dev/dri/renderD128\", \"va_api\": \"1.17\", \"media_engines\": 2,"
	  "  \"driver\": \"Intel iHD driver for Intel(R) Gen Graphics - 23.1.1 ()\","
	  "  \"codecs\": {"
	  "   \"h264\": {\"decode\": true, \"encode\": true, \"encode_low_power\": true,"
	  "            \"max_width\": 4096, \"max_height\": 4096},"
	  "   \"hevc\": {\"decode\": true, \"encode\": false, \"encode_low_power\": true},"
	  "   \"av1\": {\"decode\": true, \"encode\": false, \"encode_low_power\": false}}},"
	  " {\"node\": \"/dev/dri/renderD129\", \"error\": \"libva could not initialize "
	  "/dev/dri/renderD129: unknown libva error\"}]}",
	  1,
	  { { "/dev/dri/renderD128", "Intel iHD driver for Intel(R) Gen Graphics - 23.1.1 ()", true,
	      true, { "h264", "hevc" }, 0, 2 * 1920.0 * 1080 * 180, 2 * 1920.0 * 1080 * 360 } } },
	/* An AMD GPU that decodes and has no encoder, and no media_engines (one is counted). */
	{ "vaapi",
	  "{\"available\": false, \"reason\": \"/dev/dri/renderD128 has no H.264 or HEVC encode "
	  "entrypoint\", \"devices\": [{\"node\": \"/dev/dri/renderD128\", \"driver\": \"Mesa "
	  "Gallium driver 22.3.6 for AMD Radeon\", \"codecs\": {\"h264\": {\"decode\": true, "
	  "\"encode\": false, \"encode_low_power\": false}, \"hevc\": {\"decode\": true, "
	  "\"encode\": false, \"encode_low_power\": false}}}]}",
	  1,
	  { { "/dev/dri/renderD128", "Mesa Gallium driver 22.3.6 for AMD Radeon", true, false,
	      { "" }, 0, 0, 1920.0 * 1080 * 360 } } },
	/* The same Intel iGPU as oneVPL's GPU runtime sees it, beside oneVPL's CPU
	 * implementation (never a device). */
	{ "qsv",
	  "{\"available\": true, \"implementations\": ["
	  " {\"name\": \"mfx-gen\", \"impl\": \"hardware\", \"acceleration_mode\": "
	  "\"vaapi-drm-render-node\", \"api_version\": \"2.9\", \"decoders\": [\"h264\", \"hevc\", "
	  "\"av1\"], \"encoders\": [\"h264\", \"hevc\"], \"render_node\": \"/dev/dri/renderD128\","
	  " \"device_name\": \"Intel(R) UHD Graphics 770\", \"media_engines\": 2},"
	  " {\"name\": \"oneAPI VPL CPU Implementation\", \"impl\": \"software\", \"decoders\": "
	  "[\"h264\"], \"encoders\": [\"h264\"]}]}",
	  1,
	  { { "/dev/dri/renderD128", "Intel(R) UHD Graphics 770", true, true, { "h264", "hevc" },
	      0, 2 * 1920.0 * 1080 * 180, 2 * 1920.0 * 1080 * 360 } } },
	/* A GeForce with NVENC on an R550 driver: eight sessions. */
	{ "nvenc",
	  "{\"available\": true, \"cuda_driver_api\": \"12.4\", \"devices\": [{\"index\": 0, "
	  "\"name\": \"NVIDIA GeForce RTX 4080\", \"compute_capability\": \"8.9\", \"nvdec\": "
	  "[\"h264\", \"hevc\", \"av1\"], \"nvenc\": true, \"nvenc_codecs\": [\"h264\", \"hevc\", "
	  "\"av1\"]}]}",
	  1,
	  { { "0", "NVIDIA GeForce RTX 4080", true, true, { "h264", "hevc" }, 8,
	      1920.0 * 1080 * 300, 1920.0 * 1080 * 400 } } },
	/* Two GeForce cards on an R535 driver share its five sessions. */
	{ "nvenc",
	  "{\"available\": true, \"cuda_driver_api\": \"12.2\", \"devices\": ["
	  " {\"index\": 0, \"name\": \"NVIDIA GeForce RTX 3060\", \"nvdec\": [\"h264\", \"hevc\"],"
	  "  \"nvenc\": true, \"nvenc_codecs\": [\"h264\", \"hevc\"]},"
	  " {\"index\": 1, \"name\": \"NVIDIA GeForce GTX 1660\", \"nvdec\": [\"h264\", \"hevc\"],"
	  "  \"nvenc\": true, \"nvenc_codecs\": [\"h264\", \"hevc\"]}]}",
	  2,
	  { { "0", "NVIDIA GeForce RTX 3060", true, true, { "h264", "hevc" }, 2,
	      1920.0 * 1080 * 300, 1920.0 * 1080 * 400 },
	    { "1", "NVIDIA GeForce GTX 1660", true, true, { "h264", "hevc" }, 2,
	      1920.0 * 1080 * 300, 1920.0 * 1080 * 400 } } },
	/* A data-centre L4 with two NVENC engines: no session limit. */
	{ "nvenc",
	  "{\"available\": true, \"cuda_driver_api\": \"12.4\", \"devices\": [{\"index\": 0, "
	  "\"name\": \"NVIDIA L4\", \"compute_capability\": \"8.9\", \"nvdec\": [\"h264\", "
	  "\"hevc\", \"av1\"], \"nvdec_engines\": 4, \"nvenc\": true, \"nvenc_engines\": 2, "
	  "\"nvenc_codecs\": [\"h264\", \"hevc\", \"av1\"]}]}",
	  1,
	  { { "0", "NVIDIA L4", true, true, { "h264", "hevc" }, 0, 2 * 1920.0 * 1080 * 300,
	      4 * 1920.0 * 1080 * 400 } } },
	/* An H100: NVDEC (seven engines by its compute capability), no NVENC. */
	{ "nvenc",
	  "{\"available\": false, \"reason\": \"this GPU has no NVENC (it can decode and scale, a "
	  "CPU encodes)\", \"cuda_driver_api\": \"12.4\", \"devices\": [{\"index\": 0, \"name\": "
	  "\"NVIDIA H100 80GB HBM3\", \"compute_capability\": \"9.0\", \"memory_bytes\": "
	  "85045870592, \"nvdec\": [\"h264\", \"hevc\", \"av1\"], \"nvenc\": false, "
	  "\"nvenc_codecs\": [], \"reason\": \"this GPU has no NVENC (it can decode and scale, a "
	  "CPU encodes)\"}]}",
	  1,
	  { { "0", "NVIDIA H100 80GB HBM3", true, false, { "" }, 0, 0,
	      7 * 1920.0 * 1080 * 400 } } },
	/* No GPU at all, in each backend's shape. */
	{ "vaapi",
	  "{\"available\": false, \"reason\": \"no /dev/dri render node\", \"devices\": []}",
	  0, { { .id = "" } } },
	{ "qsv",
	  "{\"available\": false, \"reason\": \"oneVPL found no hardware implementation\", "
	  "\"implementations\": []}",
	  0, { { .id = "" } } },
	{ "nvenc",
	  "{\"available\": false, \"reason\": \"libcuda.so.1 not found (no NVIDIA driver)\", "
	  "\"devices\": []}",
	  0, { { .id = "" } } },
	{ "software", "{\"available\": false, \"reason\": \"libavcodec has no libx264 or libx265 "
		      "encoder\", \"encoders\": [\"aac\"]}", 0, { { .id = "" } } },
};

static void assert_caps_equal(const struct ob_hw_device_caps *got,
			      const struct ob_hw_device_caps *want)
{
	assert_string_equal(got->id, want->id);
	assert_string_equal(got->label, want->label);
	assert_int_equal(got->decodes, want->decodes);
	assert_int_equal(got->encodes, want->encodes);
	for (size_t c = 0; c < 4; c++)
		assert_string_equal(got->encode_codecs[c], want->encode_codecs[c]);
	assert_int_equal(got->sessions, want->sessions);
	assert_true(got->encode_pixel_rate == want->encode_pixel_rate);
	assert_true(got->decode_pixel_rate == want->decode_pixel_rate);
}

static void test_capacity_of_field_devices(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(capacity_cases) / sizeof(capacity_cases[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(capacity_cases[i].backend);
		struct ob_hw_device_caps caps[OB_HW_DEVICES_MAX];
		json_error_t jerr;
		json_t *report = json_loads(capacity_cases[i].report, 0, &jerr);
		size_t count = 99;
		int rc;

		if (!b) {
			json_decref(report);
			continue;
		}
		if (!report)
			fail_msg("case %zu: %s", i, jerr.text);
		rc = b->capacity(report, caps, OB_HW_DEVICES_MAX, &count);
		assert_int_equal(rc, capacity_cases[i].count ? 0 : OB_EUNSUPPORTED);
		assert_int_equal(count, capacity_cases[i].count);
		for (size_t d = 0; d < count; d++)
			assert_caps_equal(&caps[d], &capacity_cases[i].caps[d]);
		/* room for one device: the first one */
		if (capacity_cases[i].count > 1) {
			assert_int_equal(b->capacity(report, caps, 1, &count), 0);
			assert_int_equal(count, 1);
			assert_caps_equal(&caps[0], &capacity_cases[i].caps[0]);
		}
		json_decref(report);
	}
}

/* The software backend: one slot with no figures, id "". */
static void test_capacity_of_this_box(void **state)
{
	json_t *reports = ob_hw_probe_all();
	size_t i;
	json_t *report;

	(void)state;
	json_array_foreach(reports, i, report) {
		const struct ob_hw_backend *b =
			ob_hw_backend_find(json_string_value(json_object_get(report, "name")));
		struct ob_hw_device_caps caps[OB_HW_DEVICES_MAX];
		size_t count = 99;
		int rc = b->capacity(report, caps, OB_HW_DEVICES_MAX, &count);

		if (strcmp(b->name, "software") == 0) {
			assert_int_equal(rc, 0);
			assert_int_equal(count, 1);
			assert_string_equal(caps[0].id, "");
			assert_true(caps[0].decodes && caps[0].encodes);
			assert_string_equal(caps[0].encode_codecs[0], "h264");
			assert_int_equal(caps[0].sessions, 0);
			assert_true(caps[0].encode_pixel_rate == 0);
			assert_true(caps[0].decode_pixel_rate == 0);
			assert_non_null(strstr(caps[0].label, "CPU"));
		} else if (rc != 0) {
			/* no device here: none listed, and the report says why */
			assert_int_equal(rc, OB_EUNSUPPORTED);
			assert_int_equal(count, 0);
			assert_non_null(json_string_value(json_object_get(report, "reason")));
		}
	}
	json_decref(reports);
}

static void test_open_device(void **state)
{
	const struct ob_hw_backend *sw = ob_hw_backend_find("software");
	AVBufferRef *device = (AVBufferRef *)&device;
	char err[512] = "";

	(void)state;
	if (sw) {
		assert_int_equal(sw->open_device(NULL, &device, err, sizeof(err)), 0);
		assert_null(device);
	}
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(absent[i].name);
		char prefix[128];

		if (!b || absent[i].device_here())
			continue;
		snprintf(prefix, sizeof(prefix), "%s: %s", absent[i].name, absent[i].reason);
		for (int named = 0; named < 2; named++) {
			device = (AVBufferRef *)&device;
			err[0] = '\0';
			assert_int_equal(b->open_device(named ? "/dev/dri/renderD128" : "", &device,
							err, sizeof(err)),
					 OB_EUNSUPPORTED);
			assert_null(device);
			if (strncmp(err, prefix, strlen(prefix)) != 0)
				fail_msg("open_device said \"%s\", expected \"%s…\"", err,
					 prefix);
		}
	}
}

/* A hardware encoder takes frames on its device: without them it refuses, saying so. */
static void test_hardware_encoder_without_frames(void **state)
{
	static const char *const hardware[] = { "vaapi", "qsv", "nvenc" };

	(void)state;
	for (size_t i = 0; i < sizeof(hardware) / sizeof(hardware[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(hardware[i]);
		struct ob_hw_encode_params p = params("h264", "high", 60);
		AVCodecContext *ctx = (AVCodecContext *)&ctx;
		char err[512] = "";

		if (!b)
			continue;
		assert_int_equal(b->open_encoder(&p, NULL, &ctx, err, sizeof(err)), OB_EINVAL);
		assert_null(ctx);
		assert_int_equal(strncmp(err, b->name, strlen(b->name)), 0);
		assert_non_null(strstr(err, "no device frames were given"));
		/* what it has no encoder for, it says before asking for frames */
		p = params("vp9", NULL, 60);
		assert_int_equal(b->open_encoder(&p, NULL, &ctx, err, sizeof(err)),
				 OB_EUNSUPPORTED);
	}
}

/* Every backend decodes video and audio in system memory without a device; with one, a
 * video decoder takes its own reference to it and picks the device's format when offered,
 * else a software one. The devices are allocated, never opened: no GPU is needed. */
static void test_open_decoder(void **state)
{
	static const struct {
		const char *backend;
		enum AVHWDeviceType type;
		enum AVPixelFormat device_format;
	} cases[] = {
		{ "software", AV_HWDEVICE_TYPE_NONE, AV_PIX_FMT_NONE },
		{ "vaapi", AV_HWDEVICE_TYPE_VAAPI, AV_PIX_FMT_VAAPI },
		{ "nvenc", AV_HWDEVICE_TYPE_CUDA, AV_PIX_FMT_CUDA },
		{ "qsv", AV_HWDEVICE_TYPE_NONE, AV_PIX_FMT_NONE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ob_hw_backend *b = ob_hw_backend_find(cases[i].backend);
		AVCodecParameters *par = avcodec_parameters_alloc();
		AVBufferRef *device = NULL;
		AVCodecContext *ctx = NULL;
		char err[256] = "";

		if (!b) {
			avcodec_parameters_free(&par);
			continue;
		}
		par->codec_type = AVMEDIA_TYPE_VIDEO;
		par->codec_id = AV_CODEC_ID_H264;
		if (b->open_decoder(par, NULL, &ctx, err, sizeof(err)) != 0)
			fail_msg("%s: %s", b->name, err);
		assert_null(ctx->hw_device_ctx);
		assert_int_equal(ctx->max_pixels, 4096 * 2304);
		avcodec_free_context(&ctx);
		par->codec_type = AVMEDIA_TYPE_AUDIO;
		par->codec_id = AV_CODEC_ID_AAC;
		par->sample_rate = 48000;
		par->ch_layout = (AVChannelLayout)AV_CHANNEL_LAYOUT_STEREO;
		if (b->open_decoder(par, NULL, &ctx, err, sizeof(err)) != 0)
			fail_msg("%s: %s", b->name, err);
		avcodec_free_context(&ctx);
		if (cases[i].type != AV_HWDEVICE_TYPE_NONE) {
			enum AVPixelFormat both[] = { cases[i].device_format, AV_PIX_FMT_YUV420P,
						      AV_PIX_FMT_NONE };
			enum AVPixelFormat system_only[] = { AV_PIX_FMT_YUV420P, AV_PIX_FMT_NONE };

			device = av_hwdevice_ctx_alloc(cases[i].type);
			assert_non_null(device);
			/* audio on a device backend: decoded in system memory */
			assert_int_equal(b->open_decoder(par, device, &ctx, err, sizeof(err)), 0);
			assert_null(ctx->hw_device_ctx);
			avcodec_free_context(&ctx);
			par->codec_type = AVMEDIA_TYPE_VIDEO;
			par->codec_id = AV_CODEC_ID_H264;
			if (b->open_decoder(par, device, &ctx, err, sizeof(err)) != 0)
				fail_msg("%s: %s", b->name, err);
			assert_ptr_equal(ctx->hw_device_ctx->data, device->data);
			assert_int_equal(ctx->get_format(ctx, both), cases[i].device_format);
			assert_int_equal(ctx->get_format(ctx, system_only), AV_PIX_FMT_YUV420P);
			assert_true(ctx->extra_hw_frames > 0);
			avcodec_free_context(&ctx);
			/* a codec with no hardware decoder for the device: system memory */
			par->codec_id = AV_CODEC_ID_PNG;
			assert_int_equal(b->open_decoder(par, device, &ctx, err, sizeof(err)), 0);
			assert_null(ctx->hw_device_ctx);
			avcodec_free_context(&ctx);
			av_buffer_unref(&device);
		}
		avcodec_parameters_free(&par);
	}
}

static void test_h264_keyframes_only_at_gop_boundaries(void **state)
{
	const struct ob_hw_backend *sw = software();
	struct ob_hw_encode_params p = params("h264", "high", 60);
	AVCodecContext *ctx = NULL;
	int64_t keys[16];
	char err[256] = "";
	int n;

	(void)state;
	if (sw->open_encoder(&p, NULL, &ctx, err, sizeof(err)) != 0)
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
	const struct ob_hw_backend *sw = software();
	struct ob_hw_encode_params p = params("h264", "main", 60);
	AVCodecContext *ctx = NULL;
	int64_t keys[16];
	char err[256] = "";
	int n;

	(void)state;
	if (sw->open_encoder(&p, NULL, &ctx, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	n = encode(ctx, 100, 1000, 45, keys, 16);
	assert_true(n >= 2);
	assert_int_equal(keys[0], 0);
	assert_int_equal(keys[1], 45);
	avcodec_free_context(&ctx);
}

static void test_hevc_keyframes(void **state)
{
	const struct ob_hw_backend *sw = software();
	struct ob_hw_encode_params p = params("hevc", "main", 30);
	AVCodecContext *ctx = NULL;
	int64_t keys[16];
	char err[256] = "";
	int n;

	(void)state;
	if (sw->open_encoder(&p, NULL, &ctx, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	n = encode(ctx, 70, 40, -1, keys, 16);
	assert_int_equal(n, 3);
	assert_int_equal(keys[1], 30);
	assert_int_equal(keys[2], 60);
	avcodec_free_context(&ctx);
}

static void test_refusals(void **state)
{
	const struct ob_hw_backend *sw = software();
	struct ob_hw_encode_params p = params("vp9", NULL, 30);
	AVCodecContext *ctx = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(sw->open_encoder(&p, NULL, &ctx, err, sizeof(err)), OB_EUNSUPPORTED);
	assert_non_null(strstr(err, "vp9"));
	assert_null(ctx);
	p = params("h264", "high", 0);
	assert_int_equal(sw->open_encoder(&p, NULL, &ctx, err, sizeof(err)), OB_EINVAL);
	p = params("h264", "main10", 30); /* x264 here is 8-bit: it says so, it does not crash */
	assert_int_not_equal(sw->open_encoder(&p, NULL, &ctx, err, sizeof(err)), 0);
	assert_null(ctx);
}

int main(void)
{
	av_log_set_level(AV_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_and_probe),
		cmocka_unit_test(test_every_probe_reports_name_availability_and_reason),
		cmocka_unit_test(test_backends_compiled_in_as_configured),
		cmocka_unit_test(test_scale_chains_per_backend),
		cmocka_unit_test(test_map_encoder_per_backend),
		cmocka_unit_test(test_map_encoder_refusals),
		cmocka_unit_test(test_open_mapped_checks),
		cmocka_unit_test(test_capacity_of_field_devices),
		cmocka_unit_test(test_capacity_of_this_box),
		cmocka_unit_test(test_open_device),
		cmocka_unit_test(test_hardware_encoder_without_frames),
		cmocka_unit_test(test_open_decoder),
		cmocka_unit_test(test_h264_keyframes_only_at_gop_boundaries),
		cmocka_unit_test(test_forced_idr),
		cmocka_unit_test(test_hevc_keyframes),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
