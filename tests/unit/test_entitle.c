/* Entitlement: the policy's JSON and its checks, address ranges, decisions on premium
 * requests (the cache, its invalidation by a new state, revocations, networks, sessions),
 * issuing, the state loaded from a real store, and the origin carrying the token into
 * playlists. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/entitle.h"
#include "api/internal.h"
#include "core/err.h"
#include "core/strbuf.h"
#include "core/util.h"
#include "store/store.h"

#define KEY1_HEX "0123456789abcdef0123456789abcdef"
#define KEY2_HEX "fedcba9876543210fedcba9876543210"
#define NOW INT64_C(1800000000)
#define MASTER "/premium/live/news/master.m3u8"
#define SEGMENT "/premium/live/news/v0/12.m4s"

/* ---- the policy ---- */

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *doc = json_loads(text, 0, &jerr);

	if (!doc)
		fail_msg("test JSON does not parse: %s: %s", text, jerr.text);
	return doc;
}

static void test_policy_defaults_round_trip(void **state)
{
	struct ob_access_policy policy;
	struct ob_access_policy again;
	char err[256];
	json_t *doc;
	json_t *empty = json_object();

	(void)state;
	assert_int_equal(ob_access_policy_from_json(empty, &policy, err, sizeof(err)), 0);
	assert_string_equal(policy.default_risk, "standard");
	assert_int_equal(policy.risk_count, 3);
	assert_int_equal(ob_access_policy_risk(&policy, "high")->max_ttl_s, 900);
	assert_int_equal(policy.skew_s, 30);
	assert_true(policy.check_address);
	assert_int_equal(policy.transport, OB_TRANSPORT_QUERY);
	doc = ob_access_policy_to_json(&policy);
	assert_int_equal(ob_access_policy_from_json(doc, &again, err, sizeof(err)), 0);
	assert_int_equal(again.risk_count, policy.risk_count);
	assert_string_equal(again.default_risk, policy.default_risk);
	json_decref(doc);
	json_decref(empty);
}

static void test_policy_refuses_with_the_field_named(void **state)
{
	static const struct {
		const char *doc;
		const char *field;
	} rows[] = {
		{ "{\"allowed_networks\": [\"10.0.0.0/33\"]}", "allowed_networks[0]" },
		{ "{\"allowed_networks\": [\"nope\"]}", "allowed_networks[0]" },
		{ "{\"allowed_networks\": \"10.0.0.0/8\"}", "allowed_networks" },
		{ "{\"risk_classes\": {\"x\": {\"ttl_seconds\": 600, \"max_ttl_seconds\": 60}}, "
		  "\"default_risk_class\": \"x\"}", "risk_classes.x" },
		{ "{\"risk_classes\": {\"x\": {\"ttl_seconds\": 5}}, \"default_risk_class\": \"x\"}",
		  "risk_classes.x.ttl_seconds" },
		{ "{\"risk_classes\": {\"Bad Name\": {\"ttl_seconds\": 60}}}", "risk_classes" },
		{ "{\"risk_classes\": {\"x\": {\"ttl_seconds\": 60, \"ttl\": 1}}}", "risk_classes.x" },
		{ "{\"risk_classes\": {\"x\": {\"ttl_seconds\": 60}}}", "default_risk_class" },
		{ "{\"default_risk_class\": \"gold\"}", "default_risk_class" },
		{ "{\"max_sessions_per_viewer\": 17}", "max_sessions_per_viewer" },
		{ "{\"clock_skew_seconds\": -1}", "clock_skew_seconds" },
		{ "{\"token_transport\": \"header\"}", "token_transport" },
		{ "{\"check_address\": 1}", "check_address" },
		{ "{\"tll\": 1}", "unknown field \"tll\"" },
	};

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(rows); i++) {
		struct ob_access_policy policy;
		char err[512] = "";
		json_t *doc = parse(rows[i].doc);

		if (ob_access_policy_from_json(doc, &policy, err, sizeof(err)) != OB_EINVAL)
			fail_msg("%s was accepted", rows[i].doc);
		if (strncmp(err, rows[i].field, strlen(rows[i].field)) != 0)
			fail_msg("%s: the message \"%s\" does not start with %s", rows[i].doc, err,
				 rows[i].field);
		json_decref(doc);
	}
}

static void test_networks(void **state)
{
	struct ob_network nets[3];

	(void)state;
	assert_int_equal(ob_access_network_parse("10.1.2.3/8", &nets[0]), 0);
	assert_int_equal(nets[0].addr[1], 0); /* host bits cleared */
	assert_int_equal(ob_access_network_parse("2001:db8::/32", &nets[1]), 0);
	assert_int_equal(ob_access_network_parse("192.168.1.77", &nets[2]), 0);
	assert_int_equal(nets[2].prefix, 32);
	assert_true(ob_access_network_match(nets, 3, "10.200.0.1"));
	assert_true(ob_access_network_match(nets, 3, "::ffff:10.0.0.9")); /* dual-stack peer */
	assert_true(ob_access_network_match(nets, 3, "2001:DB8:1::5"));
	assert_true(ob_access_network_match(nets, 3, "192.168.1.77"));
	assert_false(ob_access_network_match(nets, 3, "192.168.1.78"));
	assert_false(ob_access_network_match(nets, 3, "11.0.0.1"));
	assert_false(ob_access_network_match(nets, 3, "2001:db9::1"));
	assert_false(ob_access_network_match(nets, 3, "not an address"));
	assert_false(ob_access_network_match(nets, 3, NULL));
	assert_int_equal(ob_access_network_parse("10.0.0.0/", &nets[0]), OB_EINVAL);
	assert_int_equal(ob_access_network_parse("10.0.0.0/-1", &nets[0]), OB_EINVAL);
	assert_int_equal(ob_access_network_parse("::/129", &nets[0]), OB_EINVAL);
	assert_int_equal(ob_access_network_parse("", &nets[0]), OB_EINVAL);
	/* prefix 0 is every address of the family */
	assert_int_equal(ob_access_network_parse("0.0.0.0/0", &nets[0]), 0);
	assert_true(ob_access_network_match(nets, 1, "203.0.113.5"));
	assert_false(ob_access_network_match(nets, 1, "2001:db8::1"));
}

/* ---- decisions ---- */

struct fixture {
	struct ob_entitle *ent;
	struct ob_access_policy policy;
	struct ob_token_key key1;
	struct ob_token_key key2;
};

/* Installs a state: key1 (signing) and optionally key2, channel "news" premium and
 * "open" public, the fixture's policy, and the revocations given (NULL-terminated
 * "token:ID" / "viewer:ID"). */
static void install(struct fixture *f, bool with_key1, bool with_key2,
		    const char *const *revocations)
{
	struct ob_entitle_state *s = ob_access_entitle_state_new(&f->policy);

	assert_non_null(s);
	if (with_key1)
		assert_int_equal(ob_access_entitle_state_add_key(s, &f->key1, true), 0);
	if (with_key2)
		assert_int_equal(ob_access_entitle_state_add_key(s, &f->key2, !with_key1), 0);
	assert_int_equal(ob_access_entitle_state_add_content(s, "news", OB_CLASS_PREMIUM, NULL),
			 0);
	assert_int_equal(ob_access_entitle_state_add_content(s, "open", OB_CLASS_PUBLIC, NULL),
			 0);
	assert_int_equal(ob_access_entitle_state_add_content(s, "vip", OB_CLASS_PREMIUM, "high"),
			 0);
	for (const char *const *r = revocations; r && *r; r++)
		assert_int_equal(ob_access_entitle_state_revoke(
					 s, strncmp(*r, "viewer:", 7) == 0 ? OB_REVOKE_VIEWER
									  : OB_REVOKE_TOKEN,
					 strchr(*r, ':') + 1),
				 0);
	ob_access_entitle_install(f->ent, &s);
	assert_null(s);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->ent = ob_access_entitle_new(64);
	ob_access_policy_defaults(&f->policy);
	if (!f->ent || ob_access_token_key_from_hex("k1", KEY1_HEX, &f->key1) != 0 ||
	    ob_access_token_key_from_hex("k2", KEY2_HEX, &f->key2) != 0)
		return -1;
	install(f, true, false, NULL);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ob_access_entitle_free(&f->ent);
	assert_null(f->ent);
	free(f);
	return 0;
}

/* Issues a token for news with an optional viewer and session id. */
static void issue(struct fixture *f, const char *viewer, const char *session, char *out,
		  size_t out_len)
{
	struct ob_entitle_issue req = {
		.path = MASTER, .viewer_id = viewer, .session_id = session, .now_s = NOW,
	};
	struct ob_entitle_issued issued;
	char err[256] = "";

	if (ob_access_entitle_issue(f->ent, &req, &issued, err, sizeof(err)) != 0)
		fail_msg("issue failed: %s", err);
	ob_strlcpy(out, issued.token, out_len);
}

static enum ob_entitle_result check_at(struct fixture *f, const char *path, const char *token,
				       const char *client, int64_t now,
				       struct ob_entitle_decision *d)
{
	struct ob_entitle_request req = {
		.path = path,
		.client_addr = client,
		.token = token,
		.token_len = token ? strlen(token) : 0,
		.now_s = now,
	};
	struct ob_entitle_decision scratch;

	return ob_access_entitle_check(f->ent, &req, d ? d : &scratch);
}

static enum ob_entitle_result check(struct fixture *f, const char *path, const char *token)
{
	return check_at(f, path, token, "192.0.2.10", NOW + 1, NULL);
}

static void test_issued_token_plays_and_is_cached(void **state)
{
	struct fixture *f = *state;
	struct ob_entitle_decision d;
	char token[OB_TOKEN_MAX_CHARS + 1];
	json_t *stats;

	issue(f, "alice", NULL, token, sizeof(token));
	assert_non_null(strstr(token, "acl=/premium/live/news/*"));
	assert_non_null(strstr(token, "data=viewer=alice"));
	assert_int_equal(check_at(f, MASTER, token, "192.0.2.10", NOW + 1, &d), OB_ENTITLE_OK);
	assert_false(d.cached);
	assert_int_equal(d.expiry, NOW + 3600); /* standard: one hour */
	assert_int_equal(check_at(f, SEGMENT, token, "192.0.2.10", NOW + 2, &d), OB_ENTITLE_OK);
	assert_true(d.cached);
	/* The cache still checks the path and the time on every request. */
	assert_int_equal(check_at(f, "/premium/live/vip/master.m3u8", token, "192.0.2.10",
				  NOW + 3, &d),
			 OB_ENTITLE_OUTSIDE_ACL);
	assert_true(d.cached);
	assert_int_equal(check_at(f, SEGMENT, token, "192.0.2.10", NOW + 3600 + 31, &d),
			 OB_ENTITLE_EXPIRED);
	assert_true(d.cached);
	assert_int_equal(check_at(f, "/premium/live/news/../vip/x.m4s", token, "192.0.2.10",
				  NOW + 3, NULL),
			 OB_ENTITLE_OUTSIDE_ACL);
	stats = ob_access_entitle_stats(f->ent);
	assert_int_equal(json_integer_value(json_object_get(stats, "allowed")), 2);
	assert_int_equal(json_integer_value(json_object_get(
				 json_object_get(stats, "denied"), "outside_acl")),
			 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(stats, "cache"),
							    "entries")),
			 1);
	json_decref(stats);
}

static void test_denials_name_their_reason(void **state)
{
	struct fixture *f = *state;
	struct ob_entitle_decision d;
	struct ob_entitle_request unreadable = {
		.path = MASTER, .client_addr = "192.0.2.10", .unreadable = true, .now_s = NOW,
	};
	char token[OB_TOKEN_MAX_CHARS + 1];
	char tampered[OB_TOKEN_MAX_CHARS + 1];

	issue(f, NULL, NULL, token, sizeof(token));
	assert_int_equal(check(f, MASTER, NULL), OB_ENTITLE_MISSING);
	assert_int_equal(check(f, MASTER, ""), OB_ENTITLE_MISSING);
	assert_int_equal(ob_access_entitle_check(f->ent, &unreadable, &d), OB_ENTITLE_MALFORMED);
	assert_string_equal(ob_access_entitle_reason(d.result), "malformed");
	assert_int_equal(check(f, MASTER, "exp=1~exp=2~hmac=00"), OB_ENTITLE_MALFORMED);
	ob_strlcpy(tampered, token, sizeof(tampered));
	tampered[4] = tampered[4] == '9' ? '8' : '9'; /* a digit of exp */
	assert_int_equal(check(f, MASTER, tampered), OB_ENTITLE_BAD_SIGNATURE);
	assert_int_equal(check_at(f, MASTER, token, "192.0.2.10", NOW + 3600 + 31, &d),
			 OB_ENTITLE_EXPIRED);
	assert_non_null(strstr(d.message, "expired at"));
	for (int r = 0; r < OB_ENTITLE_RESULT_COUNT; r++)
		assert_string_not_equal(ob_access_entitle_reason(r), "unknown");
}

static void test_a_new_state_retires_cached_decisions(void **state)
{
	struct fixture *f = *state;
	static const char *const revoke_token[] = { "token:t-1", NULL };
	static const char *const revoke_viewer[] = { "viewer:bob", NULL };
	char token[OB_TOKEN_MAX_CHARS + 1];
	char other[OB_TOKEN_MAX_CHARS + 1];

	issue(f, "bob", "t-1", token, sizeof(token));
	issue(f, "carol", "t-2", other, sizeof(other));
	assert_int_equal(check(f, MASTER, token), OB_ENTITLE_OK);
	assert_int_equal(check(f, MASTER, token), OB_ENTITLE_OK); /* now cached */
	install(f, true, false, revoke_token);
	assert_int_equal(check(f, SEGMENT, token), OB_ENTITLE_REVOKED);
	assert_int_equal(check(f, SEGMENT, other), OB_ENTITLE_OK);
	install(f, true, false, revoke_viewer);
	assert_int_equal(check(f, SEGMENT, token), OB_ENTITLE_REVOKED);
	install(f, true, false, NULL);
	assert_int_equal(check(f, SEGMENT, token), OB_ENTITLE_OK);
	/* The key retired: its cached tokens stop at once. */
	install(f, false, true, NULL);
	assert_int_equal(check(f, SEGMENT, token), OB_ENTITLE_BAD_SIGNATURE);
}

static void test_rotation_keeps_old_tokens_until_the_key_goes(void **state)
{
	struct fixture *f = *state;
	struct ob_entitle_issue req = { .path = MASTER, .now_s = NOW };
	struct ob_entitle_issued issued;
	char old_token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	issue(f, NULL, NULL, old_token, sizeof(old_token));
	install(f, true, true, NULL);
	/* key2 signs now (install marks key1 signing; flip to key2 as the API would) */
	{
		struct ob_entitle_state *s = ob_access_entitle_state_new(&f->policy);

		assert_int_equal(ob_access_entitle_state_add_key(s, &f->key1, false), 0);
		assert_int_equal(ob_access_entitle_state_add_key(s, &f->key2, true), 0);
		assert_int_equal(ob_access_entitle_state_add_content(s, "news", OB_CLASS_PREMIUM,
								     NULL),
				 0);
		ob_access_entitle_install(f->ent, &s);
	}
	assert_int_equal(ob_access_entitle_issue(f->ent, &req, &issued, err, sizeof(err)), 0);
	assert_string_equal(issued.key_id, "k2");
	assert_int_equal(check(f, MASTER, old_token), OB_ENTITLE_OK);
	assert_int_equal(check(f, MASTER, issued.token), OB_ENTITLE_OK);
	install(f, false, true, NULL);
	assert_int_equal(check(f, MASTER, old_token), OB_ENTITLE_BAD_SIGNATURE);
	assert_int_equal(check(f, MASTER, issued.token), OB_ENTITLE_OK);
}

static void test_networks_and_address_binding(void **state)
{
	struct fixture *f = *state;
	struct ob_entitle_issue req = { .path = MASTER, .ip = "198.51.100.7", .now_s = NOW };
	struct ob_entitle_issued issued;
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	issue(f, NULL, NULL, token, sizeof(token));
	assert_int_equal(ob_access_network_parse("192.0.2.0/24", &f->policy.networks[0]), 0);
	f->policy.network_count = 1;
	install(f, true, false, NULL);
	assert_int_equal(check_at(f, MASTER, token, "192.0.2.99", NOW, NULL), OB_ENTITLE_OK);
	assert_int_equal(check_at(f, MASTER, token, "203.0.113.1", NOW, NULL), OB_ENTITLE_ADDRESS);
	f->policy.network_count = 0;
	install(f, true, false, NULL);
	assert_int_equal(ob_access_entitle_issue(f->ent, &req, &issued, err, sizeof(err)), 0);
	assert_int_equal(check_at(f, MASTER, issued.token, "198.51.100.7", NOW, NULL),
			 OB_ENTITLE_OK);
	assert_int_equal(check_at(f, MASTER, issued.token, "198.51.100.8", NOW, NULL),
			 OB_ENTITLE_ADDRESS);
	f->policy.check_address = false; /* behind a CDN that checks it */
	install(f, true, false, NULL);
	assert_int_equal(check_at(f, MASTER, issued.token, "198.51.100.8", NOW, NULL),
			 OB_ENTITLE_OK);
}

static void test_sessions_per_viewer(void **state)
{
	struct fixture *f = *state;
	char first[OB_TOKEN_MAX_CHARS + 1];
	char second[OB_TOKEN_MAX_CHARS + 1];
	char third[OB_TOKEN_MAX_CHARS + 1];
	char other_viewer[OB_TOKEN_MAX_CHARS + 1];
	struct ob_entitle_decision d;

	f->policy.max_sessions_per_viewer = 2;
	f->policy.session_idle_s = 60;
	install(f, true, false, NULL);
	issue(f, "dave", NULL, first, sizeof(first));
	issue(f, "dave", NULL, second, sizeof(second));
	issue(f, "dave", NULL, third, sizeof(third));
	issue(f, "erin", NULL, other_viewer, sizeof(other_viewer));
	assert_int_equal(check_at(f, MASTER, first, "192.0.2.1", NOW, NULL), OB_ENTITLE_OK);
	assert_int_equal(check_at(f, MASTER, second, "192.0.2.2", NOW + 1, NULL), OB_ENTITLE_OK);
	assert_int_equal(check_at(f, MASTER, third, "192.0.2.3", NOW + 2, &d),
			 OB_ENTITLE_TOO_MANY_SESSIONS);
	assert_non_null(strstr(d.message, "dave"));
	assert_int_equal(check_at(f, MASTER, other_viewer, "192.0.2.4", NOW + 2, NULL),
			 OB_ENTITLE_OK);
	/* The sessions already playing go on. */
	assert_int_equal(check_at(f, SEGMENT, first, "192.0.2.1", NOW + 30, NULL), OB_ENTITLE_OK);
	assert_int_equal(check_at(f, SEGMENT, second, "192.0.2.2", NOW + 30, NULL), OB_ENTITLE_OK);
	/* A session idle for session_idle_seconds has ended: the third may start. */
	assert_int_equal(check_at(f, SEGMENT, first, "192.0.2.1", NOW + 100, NULL), OB_ENTITLE_OK);
	assert_int_equal(check_at(f, MASTER, third, "192.0.2.3", NOW + 101, NULL), OB_ENTITLE_OK);
}

static void test_issue_refuses(void **state)
{
	struct fixture *f = *state;
	static const struct {
		struct ob_entitle_issue req;
		int want;
		const char *says;
	} rows[] = {
		{ { .path = "/live/open/master.m3u8", .now_s = NOW }, OB_EINVAL, "public" },
		{ { .path = "/premium/live/open/master.m3u8", .now_s = NOW }, OB_EINVAL, "public" },
		{ { .path = "/live/news/master.m3u8", .now_s = NOW }, OB_EINVAL, "premium" },
		{ { .path = "/premium/live/gone/master.m3u8", .now_s = NOW }, OB_EINVAL,
		  "no channel" },
		{ { .path = "/premium/live/../news/x", .now_s = NOW }, OB_EINVAL, "path" },
		{ { .path = "news", .now_s = NOW }, OB_EINVAL, "path" },
		{ { .path = MASTER, .risk_class = "gold", .now_s = NOW }, OB_EINVAL, "risk_class" },
		{ { .path = MASTER, .ttl_s = 4 * 3600 + 1, .now_s = NOW }, OB_EINVAL,
		  "ttl_seconds" },
		{ { .path = "/premium/live/vip/master.m3u8", .ttl_s = 901, .now_s = NOW }, OB_EINVAL,
		  "\"high\"" },
		{ { .path = MASTER, .viewer_id = "a~b", .now_s = NOW }, OB_EINVAL, "viewer_id" },
		{ { .path = MASTER, .viewer_id = "a,viewer=b", .now_s = NOW }, OB_EINVAL,
		  "viewer_id" },
		{ { .path = MASTER, .session_id = "has space", .now_s = NOW }, OB_EINVAL,
		  "session_id" },
		{ { .path = MASTER, .ip = "not-an-ip", .now_s = NOW }, OB_EINVAL, "" },
	};
	struct ob_entitle_issue ok = { .path = "/premium/live/vip/master.m3u8", .now_s = NOW };
	struct ob_entitle_issued issued;
	char err[256];

	for (size_t i = 0; i < OB_ARRAY_SIZE(rows); i++) {
		err[0] = '\0';
		if (ob_access_entitle_issue(f->ent, &rows[i].req, &issued, err, sizeof(err)) !=
		    rows[i].want)
			fail_msg("row %zu (%s) was not refused", i, rows[i].req.path);
		if (!strstr(err, rows[i].says))
			fail_msg("row %zu: \"%s\" does not say %s", i, err, rows[i].says);
	}
	/* The channel's own risk class sets the lifetime. */
	assert_int_equal(ob_access_entitle_issue(f->ent, &ok, &issued, err, sizeof(err)), 0);
	assert_string_equal(issued.risk_class, "high");
	assert_int_equal(issued.ttl_s, 300);
	install(f, false, false, NULL);
	assert_int_equal(ob_access_entitle_issue(f->ent, &ok, &issued, err, sizeof(err)),
			 OB_ENOTFOUND);
	assert_non_null(strstr(err, "POST /api/v1/access/keys"));
}

static void test_cache_stays_bounded(void **state)
{
	struct fixture *f = *state;
	struct ob_entitle_decision d;
	json_t *stats;
	char token[OB_TOKEN_MAX_CHARS + 1];

	for (int i = 0; i < 500; i++) {
		char session[32];

		snprintf(session, sizeof(session), "s%d", i);
		issue(f, NULL, session, token, sizeof(token));
		assert_int_equal(check(f, MASTER, token), OB_ENTITLE_OK);
	}
	stats = ob_access_entitle_stats(f->ent);
	assert_true(json_integer_value(json_object_get(json_object_get(stats, "cache"),
						       "entries")) <= 64);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(stats, "cache"),
							    "capacity")),
			 64);
	json_decref(stats);
	/* Junk never enters the cache: a real viewer's entry is not pushed out by it. */
	for (int i = 0; i < 500; i++) {
		char junk[128];

		snprintf(junk, sizeof(junk), "exp=%d~acl=/*~hmac=%064d", 1900000000 + i, i);
		assert_int_equal(check(f, MASTER, junk), OB_ENTITLE_BAD_SIGNATURE);
	}
	assert_int_equal(check_at(f, MASTER, token, "192.0.2.10", NOW + 1, &d), OB_ENTITLE_OK);
	assert_true(d.cached);
}

static void test_content_paths(void **state)
{
	struct fixture *f = *state;
	char id[33];
	char risk[OB_RISK_NAME_MAX + 1];
	bool premium;

	assert_int_equal(ob_access_content_path("/premium/live/news/v0.m3u8", &premium, id,
						sizeof(id)),
			 0);
	assert_true(premium);
	assert_string_equal(id, "news");
	assert_int_equal(ob_access_content_path("/live/open/master.m3u8", &premium, id,
						sizeof(id)),
			 0);
	assert_false(premium);
	assert_int_equal(ob_access_content_path("/premium/vod/x", &premium, id, sizeof(id)),
			 OB_EINVAL);
	assert_int_equal(ob_access_content_path("/live//x", &premium, id, sizeof(id)), OB_EINVAL);
	assert_int_equal(ob_access_entitle_content(f->ent, "news", risk), OB_CLASS_PREMIUM);
	assert_string_equal(risk, "standard");
	assert_int_equal(ob_access_entitle_content(f->ent, "vip", risk), OB_CLASS_PREMIUM);
	assert_string_equal(risk, "high");
	assert_int_equal(ob_access_entitle_content(f->ent, "open", NULL), OB_CLASS_PUBLIC);
	assert_int_equal(ob_access_entitle_content(f->ent, "gone", NULL), OB_CLASS_UNKNOWN);
}

/* ---- the state from a real store ---- */

static void test_reload_from_the_store(void **state)
{
	struct fixture *f = *state;
	struct ob_audit audit = { .actor = "test", .action = "test" };
	struct ob_access_key_row row = { .id = "k1", .fingerprint = "0000", .source = "imported",
					 .created_by = "test" };
	struct ob_store *store = NULL;
	struct ob_access_policy policy;
	char dir[] = "/tmp/ob-entitle-XXXXXX";
	char err[512] = "";
	char token[OB_TOKEN_MAX_CHARS + 1];
	char cmd[128];
	json_t *channel;
	json_t *doc;
	int64_t id = 0;

	assert_non_null(mkdtemp(dir));
	if (ob_store_open(dir, &store, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	assert_int_equal(ob_access_entitle_reload(f->ent, store, err, sizeof(err)), 0);
	assert_int_equal(ob_access_entitle_content(f->ent, "news", NULL), OB_CLASS_UNKNOWN);
	memcpy(row.secret, f->key1.secret, f->key1.secret_len);
	row.secret_len = f->key1.secret_len;
	assert_int_equal(ob_store_access_key_add(store, &row, &audit), 0);
	channel = parse("{\"id\": \"news\", \"name\": \"News\", \"access\": \"premium\", "
			"\"risk_class\": \"high\"}");
	assert_int_equal(ob_store_doc_put(store, OB_STORE_CHANNELS, channel, true, &audit), 0);
	doc = parse("{\"max_sessions_per_viewer\": 3, \"token_transport\": \"cookie\"}");
	assert_int_equal(ob_store_access_policy_put(store, doc, &audit), 0);
	assert_int_equal(ob_store_access_revocation_add(store, "viewer", "mallory", "test", 0,
							&audit, &id),
			 0);
	assert_true(id > 0);
	assert_int_equal(ob_store_access_revocation_add(store, "viewer", "mallory", NULL, 0,
							&audit, NULL),
			 OB_EEXIST);
	assert_int_equal(ob_access_entitle_reload(f->ent, store, err, sizeof(err)), 0);
	ob_access_entitle_policy(f->ent, &policy);
	assert_int_equal(policy.max_sessions_per_viewer, 3);
	assert_int_equal(policy.transport, OB_TRANSPORT_COOKIE);
	assert_int_equal(ob_access_entitle_content(f->ent, "news", NULL), OB_CLASS_PREMIUM);
	issue(f, "mallory", NULL, token, sizeof(token));
	assert_int_equal(check(f, MASTER, token), OB_ENTITLE_REVOKED);
	assert_int_equal(ob_store_access_revocation_delete(store, id, &audit), 0);
	assert_int_equal(ob_access_entitle_reload(f->ent, store, err, sizeof(err)), 0);
	assert_int_equal(check(f, MASTER, token), OB_ENTITLE_OK);
	/* The signing key stays while others remain; the last one may go. */
	assert_int_equal(ob_store_access_key_delete(store, "k1", &audit), 0);
	assert_int_equal(ob_store_access_key_delete(store, "k1", &audit), OB_ENOTFOUND);
	json_decref(channel);
	json_decref(doc);
	ob_store_close(&store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- carrying the token ---- */

static void test_carry_token_into_hls(void **state)
{
	static const char master[] =
		"#EXTM3U\n"
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",URI=\"a0.m3u8\"\n"
		"#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001E\",AUDIO=\"audio\"\r\n"
		"v0.m3u8\r\n"
		"\n"
		"#EXT-X-MAP:URI=\"v0/init-1.mp4?x=1\"\n"
		"v0/12.m4s";
	static const char want[] =
		"#EXTM3U\n"
		"#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"audio\",URI=\"a0.m3u8?__token__=T\"\n"
		"#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS=\"avc1.64001E\",AUDIO=\"audio\"\r\n"
		"v0.m3u8?__token__=T\r\n"
		"\n"
		"#EXT-X-MAP:URI=\"v0/init-1.mp4?x=1&__token__=T\"\n"
		"v0/12.m4s?__token__=T";
	struct ob_strbuf out = { 0 };

	(void)state;
	assert_true(ob_api_origin_carry_token(master, strlen(master), false, "__token__=T", &out));
	assert_string_equal(out.data, want);
	ob_strbuf_free(&out);
}

static void test_carry_token_into_the_mpd(void **state)
{
	static const char mpd[] =
		"<SegmentTemplate timescale=\"90000\" initialization=\"$RepresentationID$/init-1.mp4\" "
		"media=\"$RepresentationID$/$Number$.m4s\" startNumber=\"5\">\n"
		"<Representation id=\"v0\" mimeType=\"video/mp4\"/>\n";
	static const char want[] =
		"<SegmentTemplate timescale=\"90000\" initialization=\"$RepresentationID$/init-1.mp4"
		"?__token__=T\" media=\"$RepresentationID$/$Number$.m4s?__token__=T\" "
		"startNumber=\"5\">\n"
		"<Representation id=\"v0\" mimeType=\"video/mp4\"/>\n";
	struct ob_strbuf out = { 0 };

	(void)state;
	assert_true(ob_api_origin_carry_token(mpd, strlen(mpd), true, "__token__=T", &out));
	assert_string_equal(out.data, want);
	assert_true(ob_api_origin_carry_token("", 0, true, "__token__=T", &out));
	assert_string_equal(out.data, "");
	ob_strbuf_free(&out);
}

static void test_token_for_uri(void **state)
{
	char out[256];

	(void)state;
	assert_true(ob_api_origin_token_for_uri("exp=1~acl=/a/*!/b/*~hmac=ab", out, sizeof(out)));
	assert_string_equal(out, "exp=1~acl=/a/*!/b/*~hmac=ab");
	/* Anything else is encoded whole, '~' included, so it is decoded once on return. */
	assert_true(ob_api_origin_token_for_uri("exp=1~id=a b&c~hmac=ab", out, sizeof(out)));
	assert_string_equal(out, "exp%3D1%7Eid%3Da%20b%26c%7Ehmac%3Dab");
	assert_true(ob_api_origin_token_for_uri("exp=1~data=%41$~hmac=ab", out, sizeof(out)));
	assert_null(strchr(out, '$'));
	assert_null(strchr(out, '~'));
	assert_false(ob_api_origin_token_for_uri("exp=1~id=a b~hmac=ab", out, 8));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_defaults_round_trip),
		cmocka_unit_test(test_policy_refuses_with_the_field_named),
		cmocka_unit_test(test_networks),
		cmocka_unit_test_setup_teardown(test_issued_token_plays_and_is_cached, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_denials_name_their_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_new_state_retires_cached_decisions, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rotation_keeps_old_tokens_until_the_key_goes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_networks_and_address_binding, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_per_viewer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_issue_refuses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache_stays_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_content_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload_from_the_store, setup, teardown),
		cmocka_unit_test(test_carry_token_into_hls),
		cmocka_unit_test(test_carry_token_into_the_mpd),
		cmocka_unit_test(test_token_for_uri),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
