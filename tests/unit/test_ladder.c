/* Ladder validation (table-driven), defaults, and the built-in presets. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "engine/engine.h"

#define R(w, h, kbps) "{\"width\":" #w ",\"height\":" #h ",\"video_bitrate_kbps\":" #kbps "}"
#define L(rungs) "{\"id\":\"l\",\"name\":\"Ladder\",\"rungs\":[" rungs "]}"

static const struct {
	const char *json;
	int expect;
	const char *message_has;
} cases[] = {
	{ L(R(1920, 1080, 6000) "," R(1280, 720, 3500) "," R(640, 360, 2000)), 0, NULL },
	{ L(R(1280, 720, 3000)), 0, NULL },
	/* the step rule: 30-45 % below the rung above, with the exact range in the message */
	{ L(R(1920, 1080, 6000) "," R(1280, 720, 2400)), OB_EINVAL,
	  "rungs[1].video_bitrate_kbps: 2400 kbit/s is 60.0 % below the rung above (6000 kbit/s); "
	  "make each step 30-45 % lower (3300 to 4200 kbit/s here)" },
	{ L(R(1920, 1080, 6000) "," R(1280, 720, 4500)), OB_EINVAL, "25.0 % below" },
	{ L(R(1920, 1080, 6000) "," R(1280, 720, 3300)), 0, NULL },
	{ L(R(1920, 1080, 6000) "," R(1280, 720, 4200)), 0, NULL },
	{ "{\"id\":\"l\",\"name\":\"L\",\"check_steps\":false,\"rungs\":[" R(1920, 1080, 6000) ","
	  R(1280, 720, 2400) "]}", 0, NULL },
	/* order, sizes */
	{ L(R(1280, 720, 3500) "," R(1920, 1080, 6000)), OB_EINVAL,
	  "rungs[1]: rungs go from the highest to the lowest" },
	{ L(R(1280, 720, 3500) "," R(1280, 720, 3500)), OB_EINVAL, "highest to the lowest" },
	{ L(R(1281, 720, 3000)), OB_EINVAL, "rungs[0].width: must be even" },
	{ L(R(1280, 719, 3000)), OB_EINVAL, "rungs[0].height: must be even" },
	{ L(R(64, 64, 3000)), OB_EINVAL, "rungs[0].width: must be between 128 and 7680" },
	{ L(R(1280, 720, 10)), OB_EINVAL, "rungs[0].video_bitrate_kbps: must be between 64" },
	{ L(), OB_EINVAL, "rungs: a ladder has 1 to 8 rungs, got 0" },
	{ L("{\"width\":1280,\"height\":720}"), OB_EINVAL,
	  "rungs[0].video_bitrate_kbps: required field is missing" },
	{ L("{\"width\":\"1280\",\"height\":720,\"video_bitrate_kbps\":3000}"), OB_EINVAL,
	  "rungs[0].width: must be an integer, got a string" },
	{ L("{\"width\":1280,\"height\":720,\"video_bitrate_kbps\":3000,\"fps\":30}"), OB_EINVAL,
	  "rungs[0].fps: unknown field" },
	{ L("7"), OB_EINVAL, "rungs[0]: must be an object" },
	/* codec, profile, preset, rate control */
	{ L("{\"width\":1280,\"height\":720,\"video_bitrate_kbps\":3000,\"codec\":\"hevc\","
	    "\"profile\":\"main10\"}"), 0, NULL },
	{ L("{\"width\":1280,\"height\":720,\"video_bitrate_kbps\":3000,\"codec\":\"hevc\","
	    "\"profile\":\"high\"}"), OB_EINVAL, "rungs[0].profile: hevc takes one of main, main10" },
	{ L("{\"width\":1280,\"height\":720,\"video_bitrate_kbps\":3000,\"codec\":\"vp9\"}"),
	  OB_EINVAL, "rungs[0].codec: must be \"h264\" or \"hevc\"" },
	{ L("{\"width\":1280,\"height\":720,\"video_bitrate_kbps\":3000,\"preset\":\"turbo\"}"),
	  OB_EINVAL, "rungs[0].preset: must be one of ultrafast" },
	{ L("{\"width\":1280,\"height\":720,\"video_bitrate_kbps\":3000,"
	    "\"max_bitrate_kbps\":2000}"), OB_EINVAL,
	  "rungs[0].max_bitrate_kbps: must not be below video_bitrate_kbps (3000 kbit/s)" },
	/* audio */
	{ "{\"id\":\"l\",\"name\":\"L\",\"audio\":{\"mode\":\"passthrough\"},\"rungs\":["
	  R(1280, 720, 3000) "]}", 0, NULL },
	{ "{\"id\":\"l\",\"name\":\"L\",\"audio\":{\"mode\":\"passthrough\",\"bitrate_kbps\":96},"
	  "\"rungs\":[" R(1280, 720, 3000) "]}", OB_EINVAL, "audio.bitrate_kbps: passthrough" },
	{ "{\"id\":\"l\",\"name\":\"L\",\"audio\":{\"mode\":\"opus\"},\"rungs\":["
	  R(1280, 720, 3000) "]}", OB_EINVAL, "audio.mode: must be \"aac\"" },
	{ "{\"id\":\"l\",\"name\":\"L\",\"audio\":{\"mode\":\"aac\",\"bitrate_kbps\":8},"
	  "\"rungs\":[" R(1280, 720, 3000) "]}", OB_EINVAL, "audio.bitrate_kbps: must be between" },
	/* identity */
	{ "{\"id\":\"Bad Id\",\"name\":\"L\",\"rungs\":[" R(1280, 720, 3000) "]}", OB_EINVAL,
	  "id: must be 1 to 32 characters" },
	{ "{\"id\":\"l\",\"name\":\"\",\"rungs\":[" R(1280, 720, 3000) "]}", OB_EINVAL,
	  "name: must be 1 to 64 characters" },
	{ "{\"name\":\"L\",\"rungs\":[" R(1280, 720, 3000) "]}", OB_EINVAL,
	  "id: required field is missing" },
};

static void test_validation_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_error_t jerr;
		json_t *ladder = json_loads(cases[i].json, 0, &jerr);
		char err[512] = "";
		int ret;

		if (!ladder)
			fail_msg("case %zu is not JSON: %s", i, jerr.text);
		ret = ob_engine_ladder_validate(ladder, err, sizeof(err));
		if (ret != cases[i].expect)
			fail_msg("case %zu: got %d (%s), expected %d", i, ret, err, cases[i].expect);
		if (cases[i].message_has && !strstr(err, cases[i].message_has))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].message_has);
		json_decref(ladder);
	}
}

static void test_defaults_are_filled_and_still_valid(void **state)
{
	json_t *ladder = json_loads(L(R(1920, 1080, 6000) "," R(1280, 720, 3500)), 0, NULL);
	json_t *rung;
	char err[256];

	(void)state;
	ob_engine_ladder_fill_defaults(ladder);
	rung = json_array_get(json_object_get(ladder, "rungs"), 0);
	assert_int_equal(json_integer_value(json_object_get(rung, "max_bitrate_kbps")), 6600);
	assert_int_equal(json_integer_value(json_object_get(rung, "buffer_kbits")), 12000);
	assert_string_equal(json_string_value(json_object_get(rung, "codec")), "h264");
	assert_string_equal(json_string_value(json_object_get(rung, "profile")), "high");
	assert_string_equal(json_string_value(json_object_get(rung, "preset")), "veryfast");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ladder, "audio"),
							      "mode")),
			    "aac");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(ladder, "audio"),
							    "bitrate_kbps")),
			 128);
	assert_true(json_is_true(json_object_get(ladder, "check_steps")));
	assert_int_equal(ob_engine_ladder_validate(ladder, err, sizeof(err)), 0);
	json_decref(ladder);
}

/* Every built-in ladder obeys the rules an operator's ladder must obey. */
static void test_presets_pass_their_own_rules(void **state)
{
	json_t *presets = ob_engine_ladder_presets();
	json_t *ladder;
	size_t i;

	(void)state;
	assert_true(json_array_size(presets) >= 2);
	json_array_foreach(presets, i, ladder) {
		json_t *copy = json_deep_copy(ladder);
		char err[512] = "";

		assert_true(json_is_true(json_object_get(copy, "builtin")));
		json_object_del(copy, "builtin");
		if (ob_engine_ladder_validate(copy, err, sizeof(err)) != 0)
			fail_msg("preset %s: %s", json_string_value(json_object_get(copy, "id")), err);
		json_decref(copy);
	}
	json_decref(presets);
	ladder = ob_engine_ladder_preset("1080p-5");
	assert_non_null(ladder);
	assert_int_equal(json_array_size(json_object_get(ladder, "rungs")), 5);
	json_decref(ladder);
	assert_null(ob_engine_ladder_preset("nope"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation_table),
		cmocka_unit_test(test_defaults_are_filled_and_still_valid),
		cmocka_unit_test(test_presets_pass_their_own_rules),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
