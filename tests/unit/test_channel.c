/* Channel validation: input URLs of every kind, the media library's file rule, bounds,
 * and the defaults (the id derived from the name). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "engine/engine.h"

static const struct {
	const char *url;
	int expect;
	const char *message_has;
} urls[] = {
	{ "srt://0.0.0.0:9000?mode=listener", 0, NULL },
	{ "srt://encoder.lan:9000?mode=caller&latency=200", 0, NULL },
	{ "srt://0.0.0.0", OB_EINVAL, "srt needs a port" },
	{ "udp://239.1.1.1:5000", 0, NULL },
	{ "udp://@:5000", 0, NULL },
	{ "udp://239.1.1.1", OB_EINVAL, "udp needs a port" },
	{ "udp://239.1.1.1:70000", OB_EINVAL, "is not a URL" },
	{ "rtmp://0.0.0.0:1935/live/studio", 0, NULL },
	{ "rtmp://0.0.0.0/live", OB_EINVAL, "rtmp://HOST[:PORT]/APP/STREAM" },
	{ "rtsp://camera.lan/stream1", 0, NULL },
	{ "rtsp://[fe80::1]:554/s", 0, NULL },
	{ "rtsp:///nohost", OB_EINVAL, "rtsp needs a host" },
	{ "https://cdn.example/live/index.m3u8", 0, NULL },
	{ "test://pattern", 0, NULL },
	{ "test://pattern?size=1280x720&rate=25&type=bars", 0, NULL },
	{ "test://pattern?size=1281x720", OB_EINVAL, "even" },
	{ "test://pattern?rate=500", OB_EINVAL, "rate must be 1 to 120" },
	{ "test://pattern?type=noise", OB_EINVAL, "\"bars\" or \"moving\"" },
	{ "test://colours", OB_EINVAL, "test://pattern" },
	{ "file:promo/loop.mp4", 0, NULL },
	{ "file:loop.ts?loop=1", 0, NULL },
	{ "file:loop.ts?loop=1&x=../y", OB_EINVAL, "?loop=1" },
	{ "file:/etc/passwd", OB_EINVAL, "media library" },
	{ "file:../ottbox.db", OB_EINVAL, "\"..\"" },
	{ "file:promo/../../ottbox.db", OB_EINVAL, "\"..\"" },
	{ "file:promo//x.mp4", OB_EINVAL, "media library" },
	{ "file:", OB_EINVAL, "media library" },
	{ "ftp://files.example/x.ts", OB_EINVAL, "scheme \"ftp\" is not an input" },
	{ "concat:a|b", OB_EINVAL, "is not a URL" },
	{ "srt://x:9000 ; rm -rf", OB_EINVAL, "without spaces" },
	{ "", OB_EINVAL, "must be a URL" },
};

static void test_input_urls(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		char err[512] = "";
		int ret = ob_engine_input_url_check(urls[i].url, "input.url", err, sizeof(err));

		if (ret != urls[i].expect)
			fail_msg("\"%s\": got %d (%s)", urls[i].url, ret, err);
		if (urls[i].message_has && !strstr(err, urls[i].message_has))
			fail_msg("\"%s\": \"%s\" lacks \"%s\"", urls[i].url, err, urls[i].message_has);
		if (ret != 0 && strncmp(err, "input.url", 9) != 0)
			fail_msg("\"%s\": message does not name the field: %s", urls[i].url, err);
	}
}

#define IN "\"input\":{\"url\":\"test://pattern\"}"

static const struct {
	const char *json;
	int expect;
	const char *message_has;
} channels[] = {
	{ "{\"name\":\"News\"," IN "}", 0, NULL },
	{ "{\"id\":\"news-1\",\"name\":\"News\"," IN ",\"ladder\":\"1080p-5\",\"segment_seconds\":2,"
	  "\"live_window_segments\":10,\"dvr_window_seconds\":3600,\"access\":\"premium\","
	  "\"backend\":\"software\",\"autostart\":true}", 0, NULL },
	{ "{\"name\":\"News\"}", OB_EINVAL, "input: required field is missing" },
	{ "{\"name\":\"News\",\"input\":{}}", OB_EINVAL, "input.url: required field is missing" },
	{ "{\"name\":\"News\",\"input\":{\"url\":\"test://pattern\",\"backup_url\":null}}", 0,
	  NULL },
	{ "{\"name\":\"News\",\"input\":{\"url\":\"test://pattern\",\"backup_url\":"
	  "\"test://pattern\"}}", OB_EINVAL, "input.backup_url: must differ" },
	{ "{\"name\":\"News\",\"input\":{\"url\":\"test://pattern\",\"backup_url\":\"ftp://x/y\"}}",
	  OB_EINVAL, "input.backup_url: scheme" },
	{ "{\"name\":\"News\",\"input\":{\"url\":\"test://pattern\",\"failover_after_s\":0}}",
	  OB_EINVAL, "input.failover_after_s: must be between 1 and 60" },
	{ "{\"name\":\"News\"," IN ",\"segment_seconds\":10}", OB_EINVAL,
	  "segment_seconds: must be between 2 and 6 s, got 10" },
	{ "{\"name\":\"News\"," IN ",\"segment_seconds\":1}", OB_EINVAL, "segment_seconds" },
	{ "{\"name\":\"News\"," IN ",\"dvr_window_seconds\":10}", OB_EINVAL,
	  "dvr_window_seconds: must be 0 (no DVR) or at least the live window (6 segments of 4 s" },
	{ "{\"name\":\"News\"," IN ",\"access\":\"vip\"}", OB_EINVAL, "access: must be" },
	{ "{\"name\":\"News\"," IN ",\"backend\":\"cuda\"}", OB_EINVAL, "backend: must be" },
	{ "{\"id\":\"News!\",\"name\":\"News\"," IN "}", OB_EINVAL, "id: must be 1 to 32" },
	{ "{\"name\":\"\"," IN "}", OB_EINVAL, "name: must be 1 to 64" },
	{ "{\"name\":\"News\"," IN ",\"colour\":\"red\"}", OB_EINVAL, "colour: unknown field" },
	{ "{\"name\":\"News\"," IN ",\"autostart\":\"yes\"}", OB_EINVAL,
	  "autostart: must be a boolean" },
};

static void test_channel_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(channels) / sizeof(channels[0]); i++) {
		json_error_t jerr;
		json_t *doc = json_loads(channels[i].json, 0, &jerr);
		char err[512] = "";
		int ret;

		if (!doc)
			fail_msg("case %zu is not JSON: %s", i, jerr.text);
		ret = ob_engine_channel_validate(doc, err, sizeof(err));
		if (ret != channels[i].expect)
			fail_msg("case %zu: got %d (%s)", i, ret, err);
		if (channels[i].message_has && !strstr(err, channels[i].message_has))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, channels[i].message_has);
		json_decref(doc);
	}
}

static void test_defaults_and_the_id_from_the_name(void **state)
{
	json_t *doc = json_loads("{\"name\":\"Évening News — HD\"," IN "}", 0, NULL);
	char err[256];

	(void)state;
	ob_engine_channel_fill_defaults(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "id")), "vening-news-hd");
	assert_string_equal(json_string_value(json_object_get(doc, "ladder")), "720p-3");
	assert_int_equal(json_integer_value(json_object_get(doc, "segment_seconds")), 4);
	assert_int_equal(json_integer_value(json_object_get(doc, "live_window_segments")), 6);
	assert_int_equal(json_integer_value(json_object_get(doc, "dvr_window_seconds")), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "access")), "public");
	assert_string_equal(json_string_value(json_object_get(doc, "backend")), "auto");
	assert_true(json_is_false(json_object_get(doc, "autostart")));
	assert_true(json_is_null(json_object_get(json_object_get(doc, "input"), "backup_url")));
	/* a document with its defaults is still valid: it can be sent back as it is */
	assert_int_equal(ob_engine_channel_validate(doc, err, sizeof(err)), 0);
	json_decref(doc);
	doc = json_loads("{\"name\":\"!!!\"," IN "}", 0, NULL);
	ob_engine_channel_fill_defaults(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "id")), "channel");
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_input_urls),
		cmocka_unit_test(test_channel_table),
		cmocka_unit_test(test_defaults_and_the_id_from_the_name),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
