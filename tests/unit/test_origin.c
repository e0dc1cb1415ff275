/* The playback origin's pure parts: which request paths name a file (and with what type and
 * caching), and what a Range header asks of a file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/internal.h"
#include "core/err.h"
#include "generated/autoconf.h"

#define PLAYLIST "public, max-age=1"
#define SEGMENT "public, max-age=31536000, immutable"
#define M3U8 "application/vnd.apple.mpegurl"

static void test_path_accepts_each_file_form(void **state)
{
	static const struct {
		const char *path;
		const char *channel;
		const char *name;
		const char *mime;
		const char *cache_control;
		bool playlist;
	} rows[] = {
		{ "/live/news/master.m3u8", "news", "master.m3u8", M3U8, PLAYLIST, true },
		{ "/live/news/manifest.mpd", "news", "manifest.mpd", "application/dash+xml",
		  PLAYLIST, true },
		{ "/live/news/v0.m3u8", "news", "v0.m3u8", M3U8, PLAYLIST, true },
		{ "/live/news/a0.m3u8", "news", "a0.m3u8", M3U8, PLAYLIST, true },
		{ "/live/news/v12.m3u8", "news", "v12.m3u8", M3U8, PLAYLIST, true },
		{ "/live/news/v0/init-1.mp4", "news", "v0/init-1.mp4", "video/mp4", SEGMENT, false },
		{ "/live/news/a0/init-1.mp4", "news", "a0/init-1.mp4", "audio/mp4", SEGMENT, false },
		{ "/live/news/v3/100.m4s", "news", "v3/100.m4s", "video/mp4", SEGMENT, false },
		{ "/live/news/a0/0.m4s", "news", "a0/0.m4s", "audio/mp4", SEGMENT, false },
		{ "/live/n-1_x/v0/18446744073709551615.m4s", "n-1_x", "v0/18446744073709551615.m4s",
		  "video/mp4", SEGMENT, false },
		{ "/live/0123456789abcdefghijklmnopqrstuv/master.m3u8",
		  "0123456789abcdefghijklmnopqrstuv", "master.m3u8", M3U8, PLAYLIST, true },
#ifdef CONFIG_PKG_HLS_TS
		{ "/live/news/v0/7.ts", "news", "v0/7.ts", "video/mp2t", SEGMENT, false },
#endif
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ob_origin_file file;
		char err[512] = "";

		if (ob_api_origin_parse_path(rows[i].path, &file, err, sizeof(err)) != 0)
			fail_msg("%s refused: %s", rows[i].path, err);
		assert_string_equal(file.channel, rows[i].channel);
		assert_string_equal(file.name, rows[i].name);
		assert_string_equal(file.mime, rows[i].mime);
		assert_string_equal(file.cache_control, rows[i].cache_control);
		assert_int_equal(file.playlist, rows[i].playlist);
	}
}

static void test_path_refuses_anything_else(void **state)
{
	static const struct {
		const char *path;
		int err;
		const char *mentions;
	} rows[] = {
		{ "/live/news/../ottbox.db", OB_ENOTFOUND, "\"../ottbox.db\"" },
		{ "/live/../ottbox.db", OB_EINVAL, "not a channel id" },
		{ "/live/news/v0/../../x", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/.master.m3u8.tmp", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/.100.m4s.tmp", OB_ENOTFOUND, "is not a file" },
		{ "/live/news//master.m3u8", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/master.m3u8/", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0//100.m4s", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/master.m3u8.bak", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/Master.m3u8", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/master", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/", OB_ENOTFOUND, "is not a file" },
		{ "/live/news", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/x0.m3u8", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v.m3u8", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v01.m3u8", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v1000.m3u8", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/0100.m4s", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/-1.m4s", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/1.5.m4s", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/123456789012345678901.m4s", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/init-.mp4", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/init-1.m4s", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/100.mp4", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/100.m4s.x", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/sub/100.m4s", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0.m3u8/100.m4s", OB_ENOTFOUND, "is not a file" },
		{ "/live/news/v0/100.m4s\n", OB_ENOTFOUND, "\"v0/100.m4s?\"" },
		{ "/live/news/\xc3\x28.m3u8", OB_ENOTFOUND, "\"?(.m3u8\"" },
#ifndef CONFIG_PKG_HLS_TS
		{ "/live/news/v0/7.ts", OB_ENOTFOUND, "is not a file" },
#endif
		{ "/live/News/master.m3u8", OB_EINVAL, "\"News\" is not a channel id" },
		{ "/live/-news/master.m3u8", OB_EINVAL, "not a channel id" },
		{ "/live/ne.ws/master.m3u8", OB_EINVAL, "not a channel id" },
		{ "/live/ne\"ws/master.m3u8", OB_EINVAL, "\"ne?ws\" is not a channel id" },
		{ "/live/0123456789abcdefghijklmnopqrstuvw/master.m3u8", OB_EINVAL, "1 to 32" },
		{ "/live//master.m3u8", OB_EINVAL, "no channel id" },
		{ "/live/", OB_EINVAL, "no channel id" },
		{ "/livex/news/master.m3u8", OB_ENOTFOUND, "is not under /live/" },
		{ "/api/v1/health", OB_ENOTFOUND, "is not under /live/" },
		{ "", OB_ENOTFOUND, "is not under /live/" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct ob_origin_file file;
		char err[512] = "";
		int ret = ob_api_origin_parse_path(rows[i].path, &file, err, sizeof(err));

		if (ret != rows[i].err || !strstr(err, rows[i].mentions))
			fail_msg("%s: got %d \"%s\", want %d mentioning %s", rows[i].path, ret, err,
				 rows[i].err, rows[i].mentions);
		assert_string_equal(file.channel, "");
	}
}

static void test_path_error_quotes_at_most_64_characters(void **state)
{
	char path[300] = "/live/news/";
	char quoted[80] = "\"";
	struct ob_origin_file file;
	char err[512];

	(void)state;
	memset(path + strlen(path), 'x', 200);
	memset(quoted + 1, 'x', 64);
	strcpy(quoted + 65, "...\"");
	assert_int_equal(ob_api_origin_parse_path(path, &file, err, sizeof(err)), OB_ENOTFOUND);
	if (!strstr(err, quoted))
		fail_msg("want %s in: %s", quoted, err);
}

static void test_path_error_fits_a_small_buffer(void **state)
{
	struct ob_origin_file file;
	char err[16];

	(void)state;
	assert_int_equal(ob_api_origin_parse_path("/live/news/x", &file, err, sizeof(err)),
			 OB_ENOTFOUND);
	assert_int_equal(strlen(err), sizeof(err) - 1);
}

static void test_range_header(void **state)
{
	static const struct {
		const char *header;
		uint64_t size;
		enum ob_origin_range want;
		uint64_t first;
		uint64_t last;
	} rows[] = {
		{ NULL, 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=0-9", 100, OB_ORIGIN_RANGE_PARTIAL, 0, 9 },
		{ "BYTES=0-9", 100, OB_ORIGIN_RANGE_PARTIAL, 0, 9 },
		{ "bytes=10-", 100, OB_ORIGIN_RANGE_PARTIAL, 10, 99 },
		{ "bytes=99-99", 100, OB_ORIGIN_RANGE_PARTIAL, 99, 99 },
		{ "bytes=90-100", 100, OB_ORIGIN_RANGE_PARTIAL, 90, 99 },
		{ "bytes=0-18446744073709551615", 100, OB_ORIGIN_RANGE_PARTIAL, 0, 99 },
		{ "bytes=0-99999999999999999999999", 100, OB_ORIGIN_RANGE_PARTIAL, 0, 99 },
		{ "bytes=-10", 100, OB_ORIGIN_RANGE_PARTIAL, 90, 99 },
		{ "bytes=-100", 100, OB_ORIGIN_RANGE_PARTIAL, 0, 99 },
		{ "bytes=-1000", 100, OB_ORIGIN_RANGE_PARTIAL, 0, 99 },
		{ "bytes= 0-9 ", 100, OB_ORIGIN_RANGE_PARTIAL, 0, 9 },
		{ "bytes=100-", 100, OB_ORIGIN_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=100-200", 100, OB_ORIGIN_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=99999999999999999999-", 100, OB_ORIGIN_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=-0", 100, OB_ORIGIN_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=0-", 0, OB_ORIGIN_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=-5", 0, OB_ORIGIN_RANGE_UNSATISFIABLE, 0, 0 },
		{ "bytes=9-0", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=0-1,5-6", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=0-1, 200-300", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=-", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=abc", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=0x10-", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=+1-2", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes=1-2x", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "items=0-9", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "bytes 0-9", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
		{ "", 100, OB_ORIGIN_RANGE_WHOLE, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		uint64_t first = 0;
		uint64_t last = 0;
		enum ob_origin_range got =
			ob_api_origin_range(rows[i].header, rows[i].size, &first, &last);

		if (got != rows[i].want)
			fail_msg("\"%s\" of %llu bytes: got %d, want %d",
				 rows[i].header ? rows[i].header : "(none)",
				 (unsigned long long)rows[i].size, got, rows[i].want);
		if (got == OB_ORIGIN_RANGE_PARTIAL) {
			assert_int_equal(first, rows[i].first);
			assert_int_equal(last, rows[i].last);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_accepts_each_file_form),
		cmocka_unit_test(test_path_refuses_anything_else),
		cmocka_unit_test(test_path_error_quotes_at_most_64_characters),
		cmocka_unit_test(test_path_error_fits_a_small_buffer),
		cmocka_unit_test(test_range_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
