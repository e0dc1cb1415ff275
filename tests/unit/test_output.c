/* A channel's output on disk: segment numbering, the readiness gate for the master playlist
 * and the MPD, the live window trimming files off the disk, discontinuities, the end. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "packager/packager.h"

#define SEG 2 /* seconds */
#define T0 1795000000LL /* seconds: live media time is wall-clock time */

static char dir[] = "/tmp/ob-test-output-XXXXXX";

static const struct ob_pkg_output_track tracks[] = {
	{ .name = "v0", .video = true, .timescale = 90000, .width = 640, .height = 360,
	  .frame_rate = 25, .average_bps = 800000, .peak_bps = 880000, .codecs = "avc1.64001E" },
	{ .name = "v1", .video = true, .timescale = 90000, .width = 320, .height = 180,
	  .frame_rate = 25, .average_bps = 480000, .peak_bps = 528000, .codecs = "avc1.64000D" },
	{ .name = "a0", .video = false, .timescale = 48000, .sample_rate = 48000, .channels = 2,
	  .average_bps = 128000, .peak_bps = 128000, .codecs = "mp4a.40.2" },
};

static bool exists(const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

static char *read_text(const char *name)
{
	char path[512];
	char *text = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(ob_read_file(path, 1 << 20, &text, &len), 0);
	return text;
}

static size_t count_files(const char *sub, const char *suffix)
{
	char path[512];
	struct dirent *e;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)))
		n += strstr(e->d_name, suffix) != NULL;
	closedir(d);
	return n;
}

/* Adds segment i (of SEG seconds from T0) of epoch to track. */
static int add(struct ob_pkg_output *o, size_t track, int64_t i, uint32_t epoch, int64_t epoch_start_s)
{
	int64_t ts = tracks[track].timescale;
	struct ob_pkg_segment seg = {
		.start = (T0 + i * SEG) * ts,
		.duration = SEG * ts,
		.wall_ms = (T0 + i * SEG) * 1000,
		.epoch = epoch,
		.epoch_start = epoch_start_s * ts,
		.init_id = (uint64_t)epoch_start_s,
	};

	return ob_pkg_output_segment(o, track, &seg, "segment", 7, "ts", 2);
}

static struct ob_pkg_output *open_output(int live_window)
{
	struct ob_pkg_output_config config = {
		.dir = dir,
		.segment_seconds = SEG,
		.live_window_segments = live_window,
		.ts = true,
	};
	struct ob_pkg_output *o = NULL;
	char err[256];

	assert_int_equal(ob_pkg_output_open(&config, tracks, OB_ARRAY_SIZE(tracks), &o, err,
					sizeof(err)), 0);
	for (size_t t = 0; t < OB_ARRAY_SIZE(tracks); t++)
		assert_int_equal(ob_pkg_output_init_segment(o, t, T0, "init", 4), 0);
	return o;
}

static void test_master_waits_for_every_track(void **state)
{
	struct ob_pkg_output *o = open_output(3);
	char *master;

	(void)state;
	assert_int_equal(add(o, 0, 0, 7, T0), 0);
	assert_int_equal(add(o, 1, 0, 7, T0), 0);
	/* The rungs have their first segment but the audio does not: nothing to play yet. */
	assert_true(exists("v0.m3u8"));
	assert_false(exists("master.m3u8"));
	assert_false(exists("manifest.mpd"));
	assert_false(ob_pkg_output_ready(o));
	assert_int_equal(add(o, 2, 0, 7, T0), 0);
	assert_true(ob_pkg_output_ready(o));
	master = read_text("master.m3u8");
	assert_non_null(strstr(master, "RESOLUTION=640x360,CODECS=\"avc1.64001E,mp4a.40.2\""));
	assert_non_null(strstr(master, "URI=\"a0.m3u8\""));
	free(master);
	assert_true(exists("manifest.mpd"));
	master = read_text("master-ts.m3u8");
	assert_non_null(strstr(master, "\nv1-ts.m3u8\n"));
	assert_non_null(strstr(master, "URI=\"a0-ts.m3u8\""));
	free(master);
	ob_pkg_output_close(&o);
}

static void test_numbers_follow_media_time_and_window_trims_disk(void **state)
{
	struct ob_pkg_output *o = open_output(3);
	char *playlist;
	char expect[64];

	(void)state;
	for (int64_t i = 0; i < 12; i++)
		for (size_t t = 0; t < OB_ARRAY_SIZE(tracks); t++)
			assert_int_equal(add(o, t, i, 7, T0), 0);
	/* The first number is the start time over the segment duration, then one by one. */
	snprintf(expect, sizeof(expect), "v0/%lld.m4s", (long long)(T0 / SEG + 11));
	playlist = read_text("v0.m3u8");
	assert_non_null(strstr(playlist, expect));
	snprintf(expect, sizeof(expect), "#EXT-X-MEDIA-SEQUENCE:%lld\n", (long long)(T0 / SEG + 9));
	assert_non_null(strstr(playlist, expect));
	assert_null(strstr(playlist, "#EXT-X-ENDLIST"));
	free(playlist);
	/* Three listed, three more kept for players holding an older playlist, no more. */
	assert_int_equal(count_files("v0", ".m4s"), 6);
	assert_int_equal(count_files("a0", ".m4s"), 6);
	assert_int_equal(count_files("v1", ".ts"), 6);
	playlist = read_text("v0-ts.m3u8");
	snprintf(expect, sizeof(expect), "v0/%lld.ts", (long long)(T0 / SEG + 11));
	assert_non_null(strstr(playlist, expect));
	assert_null(strstr(playlist, "EXT-X-MAP"));
	free(playlist);
	ob_pkg_output_close(&o);
}

static void test_discontinuity_and_end(void **state)
{
	struct ob_pkg_output *o = open_output(6);
	char expect[96];
	char *playlist;
	char *mpd;

	(void)state;
	for (int64_t i = 0; i < 3; i++)
		for (size_t t = 0; t < OB_ARRAY_SIZE(tracks); t++)
			assert_int_equal(add(o, t, i, 7, T0), 0);
	/* Input lost for a while: the next epoch starts later, with its own init segment. */
	for (size_t t = 0; t < OB_ARRAY_SIZE(tracks); t++) {
		assert_int_equal(ob_pkg_output_init_segment(o, t, T0 + 10 * SEG, "init", 4), 0);
		assert_int_equal(add(o, t, 10, 8, T0 + 10 * SEG), 0);
	}
	/* Out of order (earlier than the newest) is refused. */
	assert_int_equal(add(o, 0, 4, 8, T0 + 10 * SEG), OB_EINVAL);
	assert_int_equal(ob_pkg_output_finish(o), 0);
	playlist = read_text("v1.m3u8");
	snprintf(expect, sizeof(expect), "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"v1/init-%lld.mp4\"",
		 (long long)(T0 + 10 * SEG));
	assert_non_null(strstr(playlist, expect));
	assert_non_null(strstr(playlist, "#EXT-X-DISCONTINUITY-SEQUENCE:7\n"));
	assert_non_null(strstr(playlist, "#EXT-X-ENDLIST\n"));
	free(playlist);
	mpd = read_text("manifest.mpd");
	assert_non_null(strstr(mpd, "<Period id=\"7\""));
	assert_non_null(strstr(mpd, "<Period id=\"8\""));
	assert_non_null(strstr(mpd, "type=\"static\""));
	free(mpd);
	ob_pkg_output_close(&o);
}

static void test_codec_strings(void **state)
{
	/* An Annex B SPS of High profile (100), constraints 0, level 3.1. */
	static uint8_t sps[] = { 0, 0, 0, 1, 0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9 };
	AVCodecParameters *par = avcodec_parameters_alloc();
	char codecs[48];

	(void)state;
	par->codec_id = AV_CODEC_ID_H264;
	par->extradata = sps;
	par->extradata_size = sizeof(sps);
	assert_int_equal(ob_pkg_codec_string(par, codecs, sizeof(codecs)), 0);
	assert_string_equal(codecs, "avc1.64001F");
	par->extradata_size = 3;
	assert_int_equal(ob_pkg_codec_string(par, codecs, sizeof(codecs)), OB_EINVAL);
	par->extradata = NULL;
	par->extradata_size = 0;
	par->codec_id = AV_CODEC_ID_AAC;
	par->profile = FF_PROFILE_AAC_LOW;
	assert_int_equal(ob_pkg_codec_string(par, codecs, sizeof(codecs)), 0);
	assert_string_equal(codecs, "mp4a.40.2");
	par->codec_id = AV_CODEC_ID_MP3;
	assert_int_equal(ob_pkg_codec_string(par, codecs, sizeof(codecs)), OB_EUNSUPPORTED);
	avcodec_parameters_free(&par);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_master_waits_for_every_track),
		cmocka_unit_test(test_numbers_follow_media_time_and_window_trims_disk),
		cmocka_unit_test(test_discontinuity_and_end),
		cmocka_unit_test(test_codec_strings),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
