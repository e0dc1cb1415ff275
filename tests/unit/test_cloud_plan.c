/* A bundle's payload checked part by part against a real store: an empty payload changes
 * nothing; each part in its change form (the policy normalised, token keys with their
 * fingerprint and source, revocations as rows, ladders and channels by id with defaults,
 * settings as JSON text, commands as given); and each invalid part refused with a message
 * that names the field, including what depends on the store (stored ladders and the risk
 * classes stored channels use). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/internal.h"
#include "core/err.h"
#include "core/util.h"
#include "engine/engine.h"
#include "store/store.h"

#define NOW_MS INT64_C(1790000000000) /* 2026-09-21T14:13:20Z */
#define SECRET1 "00112233445566778899aabbccddeeff"
#define SECRET2 "FFEEDDCCBBAA99887766554433221100FFEEDDCC"
#define LADDER(id) "{\"id\":\"" id "\",\"name\":\"Site\",\"rungs\":[{\"width\":1280," \
		   "\"height\":720,\"video_bitrate_kbps\":3000}]}"
#define CHANNEL(name, more) "{\"name\":\"" name "\",\"input\":{\"url\":\"test://pattern\"}" more "}"
#define KEY(id) "{\"id\":\"" id "\",\"secret_hex\":\"" SECRET1 "\"}"

struct fixture {
	char dir[64];
	struct ob_store *store;
	struct ob_access_policy policy;   /* the policy in force: the defaults */
};

static const struct ob_audit test_audit = { .actor = "test", .action = "test.change" };

static int setup(void **state)
{
	static struct fixture f;
	char err[512];

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/ob-cloud-plan-XXXXXX");
	if (!mkdtemp(f.dir) || ob_store_open(f.dir, &f.store, err, sizeof(err)) != 0)
		return -1;
	ob_access_policy_defaults(&f.policy);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	ob_store_close(&f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *value = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!value)
		fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
	return value;
}

/* Builds a plan from payload text that must pass; the caller clears *plan. */
static void build_ok(struct fixture *f, const char *payload_text, struct ob_cloud_plan *plan)
{
	json_t *payload = parse(payload_text);
	char err[768] = "";

	if (ob_cloud_plan_build(f->store, &f->policy, payload, NOW_MS, plan, err, sizeof(err)) != 0)
		fail_msg("refused: %s\n  payload: %s", err, payload_text);
	json_decref(payload);
	assert_true(json_is_object(plan->change));
	assert_true(json_is_array(plan->commands));
	assert_true(json_is_object(plan->summary));
}

/* Builds a plan from payload text that must be refused with a message holding fragment. */
static void build_refused(struct fixture *f, const char *payload_text, const char *fragment)
{
	json_t *payload = parse(payload_text);
	struct ob_cloud_plan plan;
	char err[768] = "";
	int ret = ob_cloud_plan_build(f->store, &f->policy, payload, NOW_MS, &plan, err,
				      sizeof(err));

	json_decref(payload);
	if (ret != OB_EINVAL)
		fail_msg("accepted (%d): %s", ret, payload_text);
	if (!strstr(err, fragment))
		fail_msg("message \"%s\" lacks \"%s\"\n  payload: %s", err, fragment, payload_text);
	/* A refused plan holds nothing. */
	assert_null(plan.change);
	assert_null(plan.commands);
	assert_null(plan.summary);
	assert_false(plan.access);
}

static void put_doc(struct fixture *f, enum ob_store_collection coll, const char *text)
{
	json_t *doc = parse(text);

	if (coll == OB_STORE_CHANNELS)
		ob_engine_channel_fill_defaults(doc);
	assert_int_equal(ob_store_doc_put(f->store, coll, doc, true, &test_audit), 0);
	json_decref(doc);
}

/* ---- what passes ---- */

static void test_empty_payload_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_plan plan;

	build_ok(f, "{}", &plan);
	assert_int_equal(json_object_size(plan.change), 0);
	assert_int_equal(json_array_size(plan.commands), 0);
	assert_int_equal(json_object_size(plan.summary), 0);
	assert_false(plan.access);
	ob_cloud_plan_clear(&plan);
	assert_null(plan.change);
	ob_cloud_plan_clear(&plan); /* a cleared plan clears again */

	/* Empty parts are parts: they say "none of these". */
	build_ok(f, "{\"access\":{\"keys\":[],\"revocations\":[]},\"ladders\":[],\"channels\":[],"
		    "\"settings\":{},\"commands\":[]}", &plan);
	assert_int_equal(json_array_size(json_object_get(plan.change, "keys")), 0);
	assert_int_equal(json_array_size(json_object_get(plan.change, "revocations")), 0);
	assert_int_equal(json_object_size(json_object_get(plan.change, "ladders")), 0);
	assert_int_equal(json_object_size(json_object_get(plan.change, "channels")), 0);
	assert_int_equal(json_object_size(json_object_get(plan.change, "settings")), 0);
	assert_null(json_object_get(plan.change, "policy"));
	assert_null(json_object_get(plan.change, "commands"));
	assert_true(plan.access);
	ob_cloud_plan_clear(&plan);
}

static void test_policy_is_normalised(void **state)
{
	struct fixture *f = *state;
	struct ob_access_policy parsed;
	struct ob_cloud_plan plan;
	json_t *want;
	json_t *doc = parse("{\"risk_classes\":{\"gold\":{\"ttl_seconds\":600}},"
			    "\"default_risk_class\":\"gold\",\"allowed_networks\":[\"10.1.0.0/16\"]}");
	char err[256];
	const json_t *policy;

	build_ok(f, "{\"access\":{\"policy\":{\"risk_classes\":{\"gold\":{\"ttl_seconds\":600}},"
		    "\"default_risk_class\":\"gold\",\"allowed_networks\":[\"10.1.0.0/16\"]}}}",
		 &plan);
	assert_int_equal(ob_access_policy_from_json(doc, &parsed, err, sizeof(err)), 0);
	want = ob_access_policy_to_json(&parsed);
	policy = json_object_get(plan.change, "policy");
	assert_true(json_equal(policy, want));
	/* Every field is there, the defaults filled. */
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(json_object_get(policy, "risk_classes"), "gold"),
				 "max_ttl_seconds")),
			 600);
	assert_non_null(json_object_get(policy, "clock_skew_seconds"));
	assert_string_equal(json_string_value(json_object_get(policy, "token_transport")), "query");
	assert_true(plan.access);
	assert_true(json_is_true(json_object_get(plan.summary, "policy")));
	json_decref(want);
	json_decref(doc);
	ob_cloud_plan_clear(&plan);
}

static void fingerprint_of(const char *hex, char out[17])
{
	unsigned char secret[64];
	unsigned char digest[32];
	size_t len = strlen(hex) / 2;

	assert_int_equal(ob_hex_decode(hex, secret, len), 0);
	assert_int_equal(mbedtls_sha256_ret(secret, len, digest, 0), 0);
	ob_hex_encode(digest, 8, out);
}

static void test_keys_carry_fingerprint_and_source(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_plan plan;
	const json_t *rows;
	char want[17];

	build_ok(f, "{\"access\":{\"keys\":[{\"id\":\"k1\",\"secret_hex\":\"" SECRET1 "\","
		    "\"signing\":true},{\"id\":\"k2\",\"secret_hex\":\"" SECRET2 "\"}]}}", &plan);
	rows = json_object_get(plan.change, "keys");
	assert_int_equal(json_array_size(rows), 2);
	for (size_t i = 0; i < 2; i++) {
		const json_t *row = json_array_get(rows, i);

		assert_string_equal(json_string_value(json_object_get(row, "id")), i ? "k2" : "k1");
		assert_string_equal(json_string_value(json_object_get(row, "secret_hex")),
				    i ? SECRET2 : SECRET1);
		fingerprint_of(i ? SECRET2 : SECRET1, want);
		assert_string_equal(json_string_value(json_object_get(row, "fingerprint")), want);
		assert_true(json_is_boolean(json_object_get(row, "signing")));
		assert_int_equal(json_is_true(json_object_get(row, "signing")), i == 0);
		assert_string_equal(json_string_value(json_object_get(row, "source")), "cloud");
		assert_string_equal(json_string_value(json_object_get(row, "created_by")), "cloud");
		assert_int_equal(json_object_size(row), 6);
	}
	assert_true(plan.access);
	assert_int_equal(json_integer_value(json_object_get(plan.summary, "keys")), 2);
	/* The summary never carries a secret. */
	{
		char *summary = json_dumps(plan.summary, 0);

		assert_null(strstr(summary, SECRET1));
		free(summary);
	}
	ob_cloud_plan_clear(&plan);

	/* Eight keys is the most, and a key of the most and the least bytes passes. */
	build_ok(f, "{\"access\":{\"keys\":[" KEY("a") "," KEY("b") "," KEY("c") "," KEY("d") ","
		    KEY("e") "," KEY("f") "," KEY("g") ",{\"id\":\"h\",\"secret_hex\":\""
		    "0011223344556677\"}]}}", &plan);
	assert_int_equal(json_array_size(json_object_get(plan.change, "keys")), 8);
	ob_cloud_plan_clear(&plan);
}

static void test_revocations_as_rows(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_plan plan;
	const json_t *rows;
	const json_t *row;

	build_ok(f, "{\"access\":{\"revocations\":[{\"token_id\":\"t-1\",\"reason\":\"leaked\"},"
		    "{\"viewer_id\":\"v9\",\"expires_at\":\"2026-09-22T00:00:00Z\"},"
		    "{\"viewer_id\":\"v10\",\"expires_at\":null}]}}", &plan);
	rows = json_object_get(plan.change, "revocations");
	assert_int_equal(json_array_size(rows), 3);
	row = json_array_get(rows, 0);
	assert_string_equal(json_string_value(json_object_get(row, "kind")), "token");
	assert_string_equal(json_string_value(json_object_get(row, "value")), "t-1");
	assert_string_equal(json_string_value(json_object_get(row, "reason")), "leaked");
	assert_true(json_is_null(json_object_get(row, "expires_ms")));
	row = json_array_get(rows, 1);
	assert_string_equal(json_string_value(json_object_get(row, "kind")), "viewer");
	assert_string_equal(json_string_value(json_object_get(row, "value")), "v9");
	assert_true(json_is_null(json_object_get(row, "reason")));
	assert_int_equal(json_integer_value(json_object_get(row, "expires_ms")),
			 INT64_C(1790035200000));
	row = json_array_get(rows, 2);
	assert_true(json_is_null(json_object_get(row, "expires_ms")));
	assert_true(plan.access);
	assert_int_equal(json_integer_value(json_object_get(plan.summary, "revocations")), 3);
	ob_cloud_plan_clear(&plan);
}

static void test_ladders_and_channels_by_id(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_plan plan;
	const json_t *ladder;
	const json_t *channel;
	const json_t *rung;

	build_ok(f, "{\"ladders\":[{\"id\":\"site-hd\",\"name\":\"Site\",\"builtin\":true,"
		    "\"rungs\":[{\"width\":1280,\"height\":720,\"video_bitrate_kbps\":3000}]}],"
		    "\"channels\":[" CHANNEL("News", ",\"ladder\":\"site-hd\",\"status\":{},"
					     "\"playback\":{}") ","
		    CHANNEL("Sport", ",\"id\":\"sport\",\"access\":\"premium\","
				      "\"risk_class\":\"high\"") "]}", &plan);
	ladder = json_object_get(json_object_get(plan.change, "ladders"), "site-hd");
	assert_non_null(ladder);
	assert_null(json_object_get(ladder, "builtin"));
	rung = json_array_get(json_object_get(ladder, "rungs"), 0);
	assert_int_equal(json_integer_value(json_object_get(rung, "max_bitrate_kbps")), 3300);
	assert_string_equal(json_string_value(json_object_get(rung, "preset")), "veryfast");
	assert_true(json_is_true(json_object_get(ladder, "check_steps")));
	assert_non_null(json_object_get(ladder, "audio"));

	assert_int_equal(json_object_size(json_object_get(plan.change, "channels")), 2);
	channel = json_object_get(json_object_get(plan.change, "channels"), "news");
	assert_non_null(channel);
	assert_string_equal(json_string_value(json_object_get(channel, "id")), "news");
	assert_string_equal(json_string_value(json_object_get(channel, "ladder")), "site-hd");
	assert_int_equal(json_integer_value(json_object_get(channel, "segment_seconds")), 4);
	assert_string_equal(json_string_value(json_object_get(channel, "access")), "public");
	/* No class named: the policy's default. */
	assert_string_equal(json_string_value(json_object_get(channel, "risk_class")), "standard");
	assert_null(json_object_get(channel, "status"));
	assert_null(json_object_get(channel, "playback"));
	channel = json_object_get(json_object_get(plan.change, "channels"), "sport");
	assert_string_equal(json_string_value(json_object_get(channel, "ladder")), "720p-3");
	assert_string_equal(json_string_value(json_object_get(channel, "risk_class")), "high");
	assert_true(plan.access);
	assert_int_equal(json_integer_value(json_object_get(plan.summary, "ladders")), 1);
	assert_int_equal(json_integer_value(json_object_get(plan.summary, "channels")), 2);
	ob_cloud_plan_clear(&plan);

	/* A ladder stored on the box and a built-in one both count. */
	put_doc(f, OB_STORE_LADDERS, LADDER("stored"));
	build_ok(f, "{\"channels\":[" CHANNEL("A", ",\"ladder\":\"stored\"") ","
		    CHANNEL("B", ",\"ladder\":\"1080p-5\"") "]}", &plan);
	ob_cloud_plan_clear(&plan);
}

static void test_settings_as_json_text(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_plan plan;
	const json_t *settings;

	build_ok(f, "{\"settings\":{\"box_name\":\"edge \\\"7\\\"\",\"session_idle_timeout_s\":600,"
		    "\"log_level\":\"warn\"}}", &plan);
	settings = json_object_get(plan.change, "settings");
	assert_int_equal(json_object_size(settings), 3);
	assert_string_equal(json_string_value(json_object_get(settings, "box_name")),
			    "\"edge \\\"7\\\"\"");
	assert_string_equal(json_string_value(json_object_get(settings, "session_idle_timeout_s")),
			    "600");
	assert_string_equal(json_string_value(json_object_get(settings, "log_level")), "\"warn\"");
	assert_false(plan.access);
	assert_string_equal(json_string_value(json_object_get(json_object_get(plan.summary,
									      "settings"),
							      "box_name")),
			    "edge \"7\"");
	ob_cloud_plan_clear(&plan);
}

static void test_commands_as_given(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_plan plan;
	static const char commands[] =
		"[{\"id\":\"c-1\",\"type\":\"restart_channel\",\"channel\":\"news\"},"
		"{\"id\":\"c-2\",\"type\":\"reboot\"},{\"id\":\"c-3\",\"type\":\"rotate_token_keys\"},"
		"{\"id\":\"c-4\",\"type\":\"collect_diagnostics\"},"
		"{\"id\":\"c-5\",\"type\":\"install_update\",\"url\":\"https://cp.example/u.raucb\","
		"\"sha256\":\"00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\"}]";
	char payload[1024];
	json_t *want = parse(commands);

	snprintf(payload, sizeof(payload), "{\"commands\":%s}", commands);
	build_ok(f, payload, &plan);
	assert_true(json_equal(plan.commands, want));
	assert_null(json_object_get(plan.change, "commands"));
	assert_int_equal(json_integer_value(json_object_get(plan.summary, "commands")), 5);
	assert_false(plan.access);
	ob_cloud_plan_clear(&plan);
	json_decref(want);

	/* The table knows each type and nothing else. */
	assert_non_null(ob_cloud_command_type("reboot"));
	assert_string_equal(ob_cloud_command_type("install_update")->fields[1], "sha256");
	assert_null(ob_cloud_command_type("format_disk"));
	assert_null(ob_cloud_command_type(NULL));
}

/* ---- what is refused ---- */

static const struct {
	const char *payload;
	const char *fragment;
} refusals[] = {
	/* the payload's parts */
	{ "{\"bogus\":{}}", "payload.bogus: not a part this box takes" },
	{ "{\"settings\":{},\"Access\":{}}", "payload.Access: not a part" },
	/* access */
	{ "{\"access\":[]}", "access: an object {\"policy\", \"keys\", \"revocations\"}" },
	{ "{\"access\":{\"users\":[]}}", "access.users: unknown field" },
	{ "{\"access\":{\"policy\":[]}}", "access.policy: must be" },
	{ "{\"access\":{\"keys\":{}}}", "access.keys: must be" },
	{ "{\"access\":{\"revocations\":\"t-1\"}}", "access.revocations: must be" },
	{ "{\"access\":{\"policy\":{\"risk_classes\":{}}}}",
	  "access.policy.risk_classes: must be an object of 1 to 8 classes" },
	{ "{\"access\":{\"policy\":{\"colour\":\"red\"}}}", "access.policy.unknown field \"colour\"" },
	{ "{\"access\":{\"policy\":{\"default_risk_class\":\"gold\"}}}",
	  "access.policy.default_risk_class: must name one of the risk_classes" },
	{ "{\"access\":{\"keys\":[7]}}", "access.keys[0]: an object" },
	{ "{\"access\":{\"keys\":[{\"id\":\"Bad Id\",\"secret_hex\":\"" SECRET1 "\"}]}}",
	  "access.keys[0].id: 1 to 32 characters" },
	{ "{\"access\":{\"keys\":[{\"id\":\"-k\",\"secret_hex\":\"" SECRET1 "\"}]}}",
	  "access.keys[0].id: 1 to 32 characters" },
	{ "{\"access\":{\"keys\":[{\"id\":\"k123456789012345678901234567890123\",\"secret_hex\":"
	  "\"" SECRET1 "\"}]}}", "access.keys[0].id: 1 to 32" },
	{ "{\"access\":{\"keys\":[" KEY("ok") ",{\"id\":\"k2\",\"secret_hex\":\"00112233445566\"}]}}",
	  "access.keys[1].secret_hex: must be 16 to 128 hex digits" },
	{ "{\"access\":{\"keys\":[{\"id\":\"k\",\"secret_hex\":\"0011223344556677z\"}]}}",
	  "access.keys[0].secret_hex: must be 16 to 128 hex digits" },
	{ "{\"access\":{\"keys\":[{\"id\":\"k\",\"secret_hex\":\"00112233445566zz\"}]}}",
	  "access.keys[0].secret_hex: " },
	{ "{\"access\":{\"keys\":[{\"id\":\"k\",\"secret_hex\":\"00112233445566778899aabbccddeeff"
	  "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aa"
	  "bbccddeeff00\"}]}}", "access.keys[0].secret_hex: " },
	{ "{\"access\":{\"keys\":[{\"id\":\"k\"}]}}",
	  "access.keys[0].secret_hex: required field is missing" },
	{ "{\"access\":{\"keys\":[{\"id\":\"k\",\"secret_hex\":\"" SECRET1 "\",\"signing\":1}]}}",
	  "access.keys[0].signing: must be" },
	{ "{\"access\":{\"keys\":[{\"id\":\"k\",\"secret_hex\":\"" SECRET1 "\",\"source\":\"x\"}]}}",
	  "access.keys[0].source: unknown field" },
	{ "{\"access\":{\"keys\":[" KEY("k1") "," KEY("k2") "," KEY("k1") "]}}",
	  "access.keys[2].id: \"k1\" is listed twice" },
	{ "{\"access\":{\"keys\":[{\"id\":\"a\",\"secret_hex\":\"" SECRET1 "\",\"signing\":true},"
	  "{\"id\":\"b\",\"secret_hex\":\"" SECRET1 "\",\"signing\":true}]}}",
	  "access.keys: 2 keys are marked signing; mark one" },
	{ "{\"access\":{\"keys\":[" KEY("a") "," KEY("b") "," KEY("c") "," KEY("d") "," KEY("e") ","
	  KEY("f") "," KEY("g") "," KEY("h") "," KEY("i") "]}}", "access.keys: at most 8 keys" },
	{ "{\"access\":{\"revocations\":[\"t-1\"]}}", "access.revocations[0]: an object" },
	{ "{\"access\":{\"revocations\":[{\"token_id\":\"t\",\"viewer_id\":\"v\"}]}}",
	  "access.revocations[0]: give exactly one of token_id" },
	{ "{\"access\":{\"revocations\":[{\"reason\":\"x\"}]}}",
	  "access.revocations[0]: give exactly one" },
	{ "{\"access\":{\"revocations\":[{\"token_id\":\"t\"},{\"token_id\":\"a b\"}]}}",
	  "access.revocations[1].token_id: 1 to 64 characters" },
	{ "{\"access\":{\"revocations\":[{\"token_id\":\"t\",\"expires_at\":\"2026-09-21T00:00:00Z\"}]}}",
	  "access.revocations[0].expires_at: a time in the future" },
	{ "{\"access\":{\"revocations\":[{\"token_id\":\"t\",\"when\":1}]}}",
	  "access.revocations[0].when: unknown field" },
	/* ladders */
	{ "{\"ladders\":{}}", "ladders: a list of ladder documents" },
	{ "{\"ladders\":[3]}", "ladders[0]: a ladder document (an object)" },
	{ "{\"ladders\":[" LADDER("1080p-5") "]}",
	  "ladders[0] (\"1080p-5\"): a built-in ladder has this id and cannot be replaced" },
	{ "{\"ladders\":[" LADDER("ok") "," LADDER("720p-3") "]}",
	  "ladders[1] (\"720p-3\"): a built-in ladder has this id" },
	{ "{\"ladders\":[" LADDER("twice") "," LADDER("twice") "]}",
	  "ladders[1] (\"twice\"): this id is listed twice" },
	{ "{\"ladders\":[{\"id\":\"l\",\"name\":\"L\",\"rungs\":[]}]}",
	  "ladders[0] (\"l\"): rungs: a ladder has 1 to 8 rungs" },
	{ "{\"ladders\":[{\"name\":\"L\",\"rungs\":[]}]}", "ladders[0]: " },
	/* channels */
	{ "{\"channels\":{}}", "channels: a list of channel documents" },
	{ "{\"channels\":[null]}", "channels[0]: a channel document (an object)" },
	{ "{\"channels\":[" CHANNEL("News", ",\"segment_seconds\":10") "]}",
	  "channels[0]: segment_seconds: must be between 2 and 6" },
	{ "{\"channels\":[" CHANNEL("News", ",\"id\":\"news\",\"segment_seconds\":10") "]}",
	  "channels[0] (\"news\"): segment_seconds: must be between 2 and 6" },
	{ "{\"channels\":[" CHANNEL("News", ",\"ladder\":\"nowhere\"") "]}",
	  "channels[0]: ladder: there is no ladder \"nowhere\" on the box or in the bundle" },
	{ "{\"ladders\":[" LADDER("elsewhere") "],\"channels\":["
	  CHANNEL("News", ",\"ladder\":\"nowhere\"") "]}", "ladder: there is no ladder \"nowhere\"" },
	{ "{\"channels\":[" CHANNEL("News", ",\"risk_class\":\"platinum\"") "]}",
	  "channels[0]: risk_class: the access policy has no risk class \"platinum\"" },
	{ "{\"access\":{\"policy\":{\"risk_classes\":{\"gold\":{\"ttl_seconds\":600}},"
	  "\"default_risk_class\":\"gold\"}},\"channels\":[" CHANNEL("News", ",\"risk_class\":\"high\"")
	  "]}", "channels[0]: risk_class: the access policy has no risk class \"high\"" },
	{ "{\"channels\":[" CHANNEL("News", "") "," CHANNEL("news", "") "]}",
	  "channels[1]: this id is listed twice" },
	{ "{\"channels\":[" CHANNEL("News", ",\"colour\":\"red\"") "]}", "channels[0]: colour" },
	/* settings */
	{ "{\"settings\":[]}", "settings: an object of settings" },
	{ "{\"settings\":{\"colour\":\"red\"}}", "settings.colour: unknown setting" },
	{ "{\"settings\":{\"session_idle_timeout_s\":5}}",
	  "settings.session_idle_timeout_s: must be between 60 and 86400" },
	{ "{\"settings\":{\"box_name\":7}}", "settings.box_name: must be a string" },
	{ "{\"settings\":{\"session_absolute_timeout_s\":600,\"session_idle_timeout_s\":700}}",
	  "settings.session_absolute_timeout_s: must not be shorter" },
	/* commands */
	{ "{\"commands\":{}}", "commands: a list of at most 32 commands" },
	{ "{\"commands\":[[]]}", "commands[0]: an object" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"format_disk\"}]}",
	  "commands[0].type: one of restart_channel, reboot" },
	{ "{\"commands\":[{\"id\":\"c-1\"}]}", "commands[0].type: one of" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"restart_channel\"}]}",
	  "commands[0].channel: required for restart_channel (a string)" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"restart_channel\",\"channel\":5}]}",
	  "commands[0].channel: required for restart_channel" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"install_update\",\"url\":\"https://u\"}]}",
	  "commands[0].sha256: required for install_update" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"reboot\",\"channel\":\"news\"}]}",
	  "commands[0].channel: reboot takes no such field" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"restart_channel\",\"channel\":\"n\","
	  "\"force\":true}]}", "commands[0].force: restart_channel takes no such field" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"install_update\",\"url\":\"https://u\","
	  "\"sha256\":\"abc\"}]}", "commands[0].sha256: 64 hex digits" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"install_update\",\"url\":\"https://u\","
	  "\"sha256\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeefg\"}]}",
	  "commands[0].sha256: 64 hex digits" },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"install_update\",\"url\":\"https://u\","
	  "\"sha256\":\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00\"}]}",
	  "commands[0].sha256: 64 hex digits" },
	{ "{\"commands\":[{\"id\":\"\",\"type\":\"reboot\"}]}", "commands[0].id: 1 to 64 characters" },
	{ "{\"commands\":[{\"type\":\"reboot\"}]}", "commands[0].id: 1 to 64 characters" },
	{ "{\"commands\":[{\"id\":17,\"type\":\"reboot\"}]}", "commands[0].id: " },
	{ "{\"commands\":[{\"id\":\"c 1\",\"type\":\"reboot\"}]}", "commands[0].id: " },
	{ "{\"commands\":[{\"id\":\"c\\t1\",\"type\":\"reboot\"}]}", "commands[0].id: " },
	{ "{\"commands\":[{\"id\":\"c\\n1\",\"type\":\"reboot\"}]}", "commands[0].id: " },
	{ "{\"commands\":[{\"id\":\"c-1\",\"type\":\"reboot\"},{\"id\":\"c-2-0123456789012345678901"
	  "234567890123456789012345678901234567890123\",\"type\":\"reboot\"}]}", "commands[1].id: " },
};

static void test_invalid_parts_name_the_field(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < OB_ARRAY_SIZE(refusals); i++)
		build_refused(f, refusals[i].payload, refusals[i].fragment);
}

/* 32 commands pass, 33 do not; a command id of 64 characters passes, 65 do not. */
static void test_command_limits(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_plan plan;
	char payload[4096];

	for (int count = 32; count <= 33; count++) {
		size_t used = (size_t)snprintf(payload, sizeof(payload), "{\"commands\":[");
		for (int i = 0; i < count; i++)
			used += (size_t)snprintf(payload + used, sizeof(payload) - used,
						 "%s{\"id\":\"c-%d\",\"type\":\"collect_diagnostics\"}",
						 i ? "," : "", i);
		snprintf(payload + used, sizeof(payload) - used, "]}");
		if (count == 32) {
			build_ok(f, payload, &plan);
			assert_int_equal(json_array_size(plan.commands), 32);
			ob_cloud_plan_clear(&plan);
		} else {
			build_refused(f, payload, "commands: a list of at most 32 commands");
		}
	}
	snprintf(payload, sizeof(payload), "{\"commands\":[{\"id\":\"%064d\",\"type\":\"reboot\"}]}",
		 7);
	build_ok(f, payload, &plan);
	ob_cloud_plan_clear(&plan);
	snprintf(payload, sizeof(payload), "{\"commands\":[{\"id\":\"%065d\",\"type\":\"reboot\"}]}",
		 7);
	build_refused(f, payload, "commands[0].id: 1 to 64 characters");
}

/* What the store holds takes part: a channel may name a ladder only the bundle brings, and a
 * new policy must keep the classes the stored channels use. */
static void test_checks_against_the_store(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_plan plan;

	build_refused(f, "{\"channels\":[" CHANNEL("News", ",\"ladder\":\"site\"") "]}",
		      "ladder: there is no ladder \"site\"");
	build_ok(f, "{\"ladders\":[" LADDER("site") "],\"channels\":["
		    CHANNEL("News", ",\"ladder\":\"site\"") "]}", &plan);
	ob_cloud_plan_clear(&plan);

	/* A stored channel in class "high"; a policy without it is refused... */
	put_doc(f, OB_STORE_CHANNELS, CHANNEL("Sport", ",\"risk_class\":\"high\""));
	build_refused(f, "{\"access\":{\"policy\":{\"risk_classes\":{\"standard\":"
			 "{\"ttl_seconds\":3600}}}}}",
		      "access.policy.risk_classes: channel \"sport\" uses the risk class \"high\"");
	/* ...unless the same bundle moves the channel to a class it keeps. */
	build_ok(f, "{\"access\":{\"policy\":{\"risk_classes\":{\"standard\":{\"ttl_seconds\":"
		    "3600}}}},\"channels\":[" CHANNEL("Sport", ",\"risk_class\":\"standard\"") "]}",
		 &plan);
	ob_cloud_plan_clear(&plan);
	/* A policy that keeps the class passes; a bundle without a policy is not checked so. */
	build_ok(f, "{\"access\":{\"policy\":{\"risk_classes\":{\"high\":{\"ttl_seconds\":300}},"
		    "\"default_risk_class\":\"high\"}}}", &plan);
	ob_cloud_plan_clear(&plan);
	build_ok(f, "{\"access\":{\"keys\":[" KEY("k1") "]}}", &plan);
	ob_cloud_plan_clear(&plan);

	/* A stored channel with no class takes the default: dropping the default class of the
	 * policy in force is fine as long as the new policy has a default of its own. */
	put_doc(f, OB_STORE_CHANNELS, CHANNEL("Plain", ""));
	build_ok(f, "{\"access\":{\"policy\":{\"risk_classes\":{\"high\":{\"ttl_seconds\":300}},"
		    "\"default_risk_class\":\"high\"}}}", &plan);
	ob_cloud_plan_clear(&plan);

	/* The channels are checked against the bundle's policy, not the one in force. */
	build_ok(f, "{\"access\":{\"policy\":{\"risk_classes\":{\"high\":{\"ttl_seconds\":300},"
		    "\"gold\":{\"ttl_seconds\":60}},\"default_risk_class\":\"gold\"}},\"channels\":["
		    CHANNEL("News", ",\"risk_class\":\"gold\"") "," CHANNEL("Other", "") "]}", &plan);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(plan.change, "channels"), "other"),
				    "risk_class")),
			    "gold");
	ob_cloud_plan_clear(&plan);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_payload_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_is_normalised, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keys_carry_fingerprint_and_source, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_revocations_as_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ladders_and_channels_by_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_as_json_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_as_given, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_parts_name_the_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_checks_against_the_store, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
