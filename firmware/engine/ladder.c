#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/util.h"
#include "engine/engine.h"

static const struct ob_json_field ladder_fields[] = {
	{ "id", OB_JSON_STRING, true },
	{ "name", OB_JSON_STRING, true },
	{ "rungs", OB_JSON_ARRAY, true },
	{ "audio", OB_JSON_OBJECT, false },
	{ "check_steps", OB_JSON_BOOLEAN, false },
};

static const struct ob_json_field rung_fields[] = {
	{ "width", OB_JSON_INTEGER, true },
	{ "height", OB_JSON_INTEGER, true },
	{ "video_bitrate_kbps", OB_JSON_INTEGER, true },
	{ "max_bitrate_kbps", OB_JSON_INTEGER, false },
	{ "buffer_kbits", OB_JSON_INTEGER, false },
	{ "codec", OB_JSON_STRING, false },
	{ "profile", OB_JSON_STRING, false },
	{ "preset", OB_JSON_STRING, false },
};

static const struct ob_json_field audio_fields[] = {
	{ "mode", OB_JSON_STRING, true },
	{ "bitrate_kbps", OB_JSON_INTEGER, false },
};

/* A bounded integer member of a rung or of the audio object. */
struct int_rule {
	const char *name;
	long long min;
	long long max;
	const char *unit;
	bool even;
};

static const struct int_rule rung_ints[] = {
	{ "width", 128, 7680, "pixels", true },
	{ "height", 96, 4320, "pixels", true },
	{ "video_bitrate_kbps", 64, 100000, "kbit/s", false },
	{ "max_bitrate_kbps", 64, 200000, "kbit/s", false },
	{ "buffer_kbits", 64, 800000, "kbit", false },
};

/* Profiles by codec; the first is the default. */
static const char *const h264_profiles[] = { "high", "main", "baseline", NULL };
static const char *const hevc_profiles[] = { "main", "main10", NULL };

static const struct {
	const char *codec;
	const char *const *profiles;
} codecs[] = {
	{ "h264", h264_profiles },
	{ "hevc", hevc_profiles },
};

/* x264's preset names; hardware backends map them to their own scale (drivers-glue). */
static const char *const presets[] = { "ultrafast", "superfast", "veryfast", "faster", "fast",
				       "medium", "slow", "slower", "veryslow", NULL };

#define DEFAULT_PRESET "veryfast"
#define DEFAULT_AUDIO_KBPS 128

static void list_text(const char *const *list, char *out, size_t out_len)
{
	size_t used = 0;

	out[0] = '\0';
	for (const char *const *p = list; *p && used < out_len; p++)
		used += (size_t)snprintf(out + used, out_len - used, "%s%s", p == list ? "" : ", ",
					 *p);
}

static int check_int(const json_t *obj, const struct int_rule *rule, const char *where,
		     char *err, size_t err_len)
{
	const json_t *v = json_object_get(obj, rule->name);
	long long n;

	if (!v)
		return 0;
	n = json_integer_value(v);
	if (n < rule->min || n > rule->max) {
		snprintf(err, err_len, "%s.%s: must be between %lld and %lld %s, got %lld", where,
			 rule->name, rule->min, rule->max, rule->unit, n);
		return OB_EINVAL;
	}
	if (rule->even && n % 2 != 0) {
		snprintf(err, err_len,
			 "%s.%s: must be even (video is encoded in 4:2:0), got %lld; use %lld",
			 where, rule->name, n, n + 1);
		return OB_EINVAL;
	}
	return 0;
}

static long long int_member(const json_t *obj, const char *name, long long fallback)
{
	const json_t *v = json_object_get(obj, name);

	return v ? (long long)json_integer_value(v) : fallback;
}

static const char *str_member(const json_t *obj, const char *name, const char *fallback)
{
	const json_t *v = json_object_get(obj, name);

	return v ? json_string_value(v) : fallback;
}

static int check_rung(const json_t *rung, const char *where, char *err, size_t err_len)
{
	const char *codec;
	const char *const *profiles = NULL;
	char choices[128];
	long long bitrate;
	int ret;

	if (!json_is_object(rung)) {
		snprintf(err, err_len, "%s: must be an object, got %s", where,
			 ob_json_type_phrase(rung));
		return OB_EINVAL;
	}
	ret = ob_json_check_fields(rung, rung_fields, OB_ARRAY_SIZE(rung_fields), where, err,
				   err_len);
	for (size_t i = 0; ret == 0 && i < OB_ARRAY_SIZE(rung_ints); i++)
		ret = check_int(rung, &rung_ints[i], where, err, err_len);
	if (ret != 0)
		return ret;
	bitrate = int_member(rung, "video_bitrate_kbps", 0);
	if (int_member(rung, "max_bitrate_kbps", bitrate) < bitrate) {
		snprintf(err, err_len,
			 "%s.max_bitrate_kbps: must not be below video_bitrate_kbps (%lld kbit/s)",
			 where, bitrate);
		return OB_EINVAL;
	}
	codec = str_member(rung, "codec", "h264");
	for (size_t i = 0; i < OB_ARRAY_SIZE(codecs); i++)
		if (strcmp(codecs[i].codec, codec) == 0)
			profiles = codecs[i].profiles;
	if (!profiles) {
		snprintf(err, err_len, "%s.codec: must be \"h264\" or \"hevc\", got \"%.32s\"", where,
			 codec);
		return OB_EINVAL;
	}
	if (!ob_str_in_list(profiles, str_member(rung, "profile", profiles[0]))) {
		list_text(profiles, choices, sizeof(choices));
		snprintf(err, err_len, "%s.profile: %s takes one of %s, got \"%.32s\"", where, codec,
			 choices, str_member(rung, "profile", ""));
		return OB_EINVAL;
	}
	if (!ob_str_in_list(presets, str_member(rung, "preset", DEFAULT_PRESET))) {
		list_text(presets, choices, sizeof(choices));
		snprintf(err, err_len, "%s.preset: must be one of %s, got \"%.32s\"", where, choices,
			 str_member(rung, "preset", ""));
		return OB_EINVAL;
	}
	return 0;
}

/* Neighbouring rungs: the lower one must be no larger and cheaper, and within the step. */
static int check_order(const json_t *above, const json_t *below, size_t index, bool steps,
		       char *err, size_t err_len)
{
	long long w_hi = int_member(above, "width", 0), h_hi = int_member(above, "height", 0);
	long long w_lo = int_member(below, "width", 0), h_lo = int_member(below, "height", 0);
	long long b_hi = int_member(above, "video_bitrate_kbps", 0);
	long long b_lo = int_member(below, "video_bitrate_kbps", 0);
	long long lowest = b_hi * (100 - OB_LADDER_STEP_MAX_PERCENT) / 100;
	long long highest = b_hi * (100 - OB_LADDER_STEP_MIN_PERCENT) / 100;

	if (w_lo > w_hi || h_lo > h_hi || b_lo >= b_hi) {
		snprintf(err, err_len,
			 "rungs[%zu]: rungs go from the highest to the lowest, but %lldx%lld at "
			 "%lld kbit/s follows %lldx%lld at %lld kbit/s; reorder them",
			 index, w_lo, h_lo, b_lo, w_hi, h_hi, b_hi);
		return OB_EINVAL;
	}
	if (steps && (b_lo < lowest || b_lo > highest)) {
		snprintf(err, err_len,
			 "rungs[%zu].video_bitrate_kbps: %lld kbit/s is %.1f %% below the rung "
			 "above (%lld kbit/s); make each step %d-%d %% lower (%lld to %lld kbit/s "
			 "here) for smooth switching, or set check_steps to false",
			 index, b_lo, 100.0 * (double)(b_hi - b_lo) / (double)b_hi, b_hi,
			 OB_LADDER_STEP_MIN_PERCENT, OB_LADDER_STEP_MAX_PERCENT, lowest, highest);
		return OB_EINVAL;
	}
	return 0;
}

static int check_id(const char *id, char *err, size_t err_len)
{
	if (ob_is_slug(id, OB_LADDER_ID_MAX))
		return 0;
	snprintf(err, err_len,
		 "id: must be 1 to %d characters of a-z, 0-9, '-' or '_', starting with a "
		 "letter or digit (it appears in URLs)",
		 OB_LADDER_ID_MAX);
	return OB_EINVAL;
}

static int check_audio(const json_t *audio, char *err, size_t err_len)
{
	const char *mode;
	long long kbps;

	if (!audio)
		return 0;
	if (ob_json_check_fields(audio, audio_fields, OB_ARRAY_SIZE(audio_fields), "audio", err,
				 err_len) != 0)
		return OB_EINVAL;
	mode = str_member(audio, "mode", "");
	if (strcmp(mode, "aac") != 0 && strcmp(mode, "passthrough") != 0) {
		snprintf(err, err_len,
			 "audio.mode: must be \"aac\" (encoded once, shared by every rung) or "
			 "\"passthrough\", got \"%.32s\"",
			 mode);
		return OB_EINVAL;
	}
	if (strcmp(mode, "passthrough") == 0 && json_object_get(audio, "bitrate_kbps")) {
		snprintf(err, err_len, "audio.bitrate_kbps: passthrough keeps the source's bitrate; "
				       "leave bitrate_kbps out");
		return OB_EINVAL;
	}
	kbps = int_member(audio, "bitrate_kbps", DEFAULT_AUDIO_KBPS);
	if (kbps < 32 || kbps > 512) {
		snprintf(err, err_len, "audio.bitrate_kbps: must be between 32 and 512 kbit/s, got %lld",
			 kbps);
		return OB_EINVAL;
	}
	return 0;
}

int ob_engine_ladder_validate(const json_t *ladder, char *err, size_t err_len)
{
	const json_t *rungs;
	long chars;
	bool steps;
	size_t n;
	int ret;

	if (!json_is_object(ladder)) {
		snprintf(err, err_len, "a ladder must be a JSON object");
		return OB_EINVAL;
	}
	ret = ob_json_check_fields(ladder, ladder_fields, OB_ARRAY_SIZE(ladder_fields), "", err,
				   err_len);
	if (ret == 0)
		ret = check_id(json_string_value(json_object_get(ladder, "id")), err, err_len);
	if (ret != 0)
		return ret;
	chars = ob_utf8_chars(json_string_value(json_object_get(ladder, "name")));
	if (chars < 1 || chars > 64) {
		snprintf(err, err_len, "name: must be 1 to 64 characters without control characters");
		return OB_EINVAL;
	}
	rungs = json_object_get(ladder, "rungs");
	n = json_array_size(rungs);
	if (n < 1 || n > OB_LADDER_RUNGS_MAX) {
		snprintf(err, err_len, "rungs: a ladder has 1 to %d rungs, got %zu",
			 OB_LADDER_RUNGS_MAX, n);
		return OB_EINVAL;
	}
	steps = !json_is_false(json_object_get(ladder, "check_steps"));
	for (size_t i = 0; i < n; i++) {
		char where[16];

		snprintf(where, sizeof(where), "rungs[%zu]", i);
		ret = check_rung(json_array_get(rungs, i), where, err, err_len);
		if (ret == 0 && i > 0)
			ret = check_order(json_array_get(rungs, i - 1), json_array_get(rungs, i), i,
					  steps, err, err_len);
		if (ret != 0)
			return ret;
	}
	return check_audio(json_object_get(ladder, "audio"), err, err_len);
}

void ob_engine_ladder_fill_defaults(json_t *ladder)
{
	json_t *rungs = json_object_get(ladder, "rungs");
	json_t *audio = json_object_get(ladder, "audio");
	size_t i;
	json_t *rung;

	json_array_foreach(rungs, i, rung) {
		long long bitrate = int_member(rung, "video_bitrate_kbps", 0);
		const char *codec = str_member(rung, "codec", "h264");

		if (!json_object_get(rung, "max_bitrate_kbps"))
			json_object_set_new(rung, "max_bitrate_kbps", json_integer(bitrate * 11 / 10));
		if (!json_object_get(rung, "buffer_kbits"))
			json_object_set_new(rung, "buffer_kbits", json_integer(bitrate * 2));
		if (!json_object_get(rung, "codec"))
			json_object_set_new(rung, "codec", json_string(codec));
		if (!json_object_get(rung, "profile"))
			json_object_set_new(rung, "profile",
					    json_string(strcmp(codec, "hevc") == 0 ? "main" : "high"));
		if (!json_object_get(rung, "preset"))
			json_object_set_new(rung, "preset", json_string(DEFAULT_PRESET));
	}
	if (!audio) {
		audio = json_pack("{s:s}", "mode", "aac");
		json_object_set_new(ladder, "audio", audio);
	}
	if (strcmp(str_member(audio, "mode", "aac"), "aac") == 0 &&
	    !json_object_get(audio, "bitrate_kbps"))
		json_object_set_new(audio, "bitrate_kbps", json_integer(DEFAULT_AUDIO_KBPS));
	if (!json_object_get(ladder, "check_steps"))
		json_object_set_new(ladder, "check_steps", json_true());
}

/* The built-in ladders: every step 38-43 % below the one above, after Apple's HLS
 * authoring guidance for 16:9 content, trimmed to what a live encoder box carries. */
static const struct {
	const char *id;
	const char *name;
	struct {
		int width, height, kbps;
	} rungs[OB_LADDER_RUNGS_MAX];
} builtin[] = {
	{ "1080p-5", "1080p, five rungs",
	  { { 1920, 1080, 6000 }, { 1280, 720, 3500 }, { 960, 540, 2000 }, { 768, 432, 1200 },
	    { 640, 360, 730 } } },
	{ "720p-3", "720p, three rungs",
	  { { 1280, 720, 3000 }, { 960, 540, 1800 }, { 640, 360, 1100 } } },
};

static json_t *preset_json(size_t index)
{
	json_t *rungs = json_array();
	json_t *ladder;

	for (size_t r = 0; r < OB_LADDER_RUNGS_MAX && builtin[index].rungs[r].width; r++)
		json_array_append_new(rungs, json_pack("{s:i, s:i, s:i}", "width",
						       builtin[index].rungs[r].width, "height",
						       builtin[index].rungs[r].height,
						       "video_bitrate_kbps",
						       builtin[index].rungs[r].kbps));
	ladder = json_pack("{s:s, s:s, s:o}", "id", builtin[index].id, "name", builtin[index].name,
			   "rungs", rungs);
	ob_engine_ladder_fill_defaults(ladder);
	json_object_set_new(ladder, "builtin", json_true());
	return ladder;
}

json_t *ob_engine_ladder_presets(void)
{
	json_t *out = json_array();

	for (size_t i = 0; i < OB_ARRAY_SIZE(builtin); i++)
		json_array_append_new(out, preset_json(i));
	return out;
}

json_t *ob_engine_ladder_preset(const char *id)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(builtin); i++)
		if (strcmp(builtin[i].id, id) == 0)
			return preset_json(i);
	return NULL;
}
