/* Playback tokens (EdgeAuth 2.0): vectors from the independent Python reference, time
 * windows and skew, tampering, key rings, ACL wildcards and lists, path tricks, malformed and
 * oversized tokens, url mode, address binding, issuing, and finding the token in a request. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <string.h>

#include "access/token.h"
#include "core/err.h"
#include "core/util.h"

#define KEY1_HEX "0123456789abcdef0123456789abcdef"
#define KEY2_HEX "fedcba9876543210fedcba9876543210"
#define T0 INT64_C(1700000000)

/* Made by tests/token/edgeauth_ref.py with KEY1_HEX. */
#define REF_ACL_LIST                                                                    \
	"ip=10.0.0.1~st=1700000000~exp=1700003600~acl=/live/premium/*!/vod/x/*~id=viewer 1" \
	"~hmac=8ad6e429dd99a57d932ee81eb595ff8e60618fc9ea754e537083f929699f6b92"
#define REF_ALL_FIELDS                                                                   \
	"ip=2001:db8::1~st=1700000000~exp=1700000600~acl=/live/demo/*~id=s-42~data=plan=gold" \
	"~hmac=ee53b179db4b7002bb62f156f0d3f3a2c188ecb3e68fa6fb7cb90f844ed3b76b"
#define REF_URL "exp=1700000600~hmac=af79579ca1b5f80388d7e4740549f577259940062aad6e1b7d56ab0a2764d7a2"
#define REF_URL_ESCAPED \
	"exp=1700003600~data=a%2fb+c~hmac=aeeabb4b71e3ca1a10611c1362374bfee031aff75b01de987b6b46c739f83020"

struct fixture {
	struct ob_token_key key1;
	struct ob_token_key key2;
	struct ob_token_ring *ring;     /* key2, then key1 */
	struct ob_token_policy policy;  /* ring, no skew */
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	assert_int_equal(ob_access_token_key_from_hex("k1", KEY1_HEX, &f.key1), 0);
	assert_int_equal(ob_access_token_key_from_hex("k2", KEY2_HEX, &f.key2), 0);
	f.ring = ob_access_token_ring_new();
	assert_non_null(f.ring);
	assert_int_equal(ob_access_token_ring_add(f.ring, &f.key2), 0);
	assert_int_equal(ob_access_token_ring_add(f.ring, &f.key1), 0);
	f.policy.ring = f.ring;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ob_access_token_ring_free(&f->ring);
	assert_null(f->ring);
	return 0;
}

static enum ob_token_result check(const struct ob_token_policy *policy, const char *token,
				  const char *path, const char *addr, int64_t now)
{
	struct ob_token_request request = { .path = path, .client_addr = addr, .now_s = now };

	return ob_access_token_verify(policy, token, token ? strlen(token) : 0, &request, NULL);
}

/* Signs any text with mbedTLS's one-shot HMAC, independently of the module: appends
 * "~hmac=<hex>" (and signs "~url=URL" after the text when url is not NULL). */
static void sign_text(const struct ob_token_key *key, const char *text, const char *url,
		      char *out, size_t out_len)
{
	char message[4096];
	unsigned char mac[32];
	char hex[65];

	snprintf(message, sizeof(message), "%s%s%s", text, url ? "~url=" : "", url ? url : "");
	assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
					 key->secret, key->secret_len,
					 (const unsigned char *)message, strlen(message), mac),
			 0);
	ob_hex_encode(mac, sizeof(mac), hex);
	assert_true((size_t)snprintf(out, out_len, "%s~hmac=%s", text, hex) < out_len);
}

static void test_issue_matches_the_reference(void **state)
{
	struct fixture *f = *state;
	struct ob_token_params list = { .has_start = true, .start = T0, .window_s = 3600,
					.acl = "/live/premium/*!/vod/x/*", .id = "viewer 1",
					.ip = "10.0.0.1" };
	struct ob_token_params all = { .has_start = true, .start = T0, .expiry = T0 + 600,
				       .acl = "/live/demo/*", .ip = "2001:db8::1", .id = "s-42",
				       .data = "plan=gold" };
	struct ob_token_params url = { .expiry = T0 + 600, .url = "/live/demo/master.m3u8" };
	struct ob_token_params escaped = { .expiry = T0 + 3600, .url = "/live/demo/seg 1.ts",
					   .data = "a/b c", .escape_early = true };
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	assert_int_equal(ob_access_token_issue(&f->key1, &list, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_string_equal(token, REF_ACL_LIST);
	assert_int_equal(ob_access_token_issue(&f->key1, &all, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_string_equal(token, REF_ALL_FIELDS);
	assert_int_equal(ob_access_token_issue(&f->key1, &url, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_string_equal(token, REF_URL);
	assert_int_equal(ob_access_token_issue(&f->key1, &escaped, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_string_equal(token, REF_URL_ESCAPED);
}

static void test_reference_tokens_verify(void **state)
{
	struct fixture *f = *state;
	struct ob_token_policy escaping = f->policy;
	struct ob_token_request request = { .path = "/vod/x/a/b/seg.m4s",
					    .client_addr = "10.0.0.1", .now_s = T0 + 10 };
	struct ob_token_verdict verdict;

	assert_int_equal(ob_access_token_verify(&f->policy, REF_ACL_LIST, strlen(REF_ACL_LIST),
						&request, &verdict),
			 OB_TOKEN_OK);
	/* Signed with key1, the second key of the ring. */
	assert_int_equal(verdict.key_index, 1);
	assert_string_equal(ob_access_token_ring_key_id(f->ring, 1), "k1");
	assert_int_equal(verdict.token.expiry, T0 + 3600);
	assert_int_equal(verdict.token.id.len, 8);
	assert_memory_equal(verdict.token.id.ptr, "viewer 1", 8);
	assert_null(verdict.token.data.ptr);
	assert_int_equal(check(&f->policy, REF_ALL_FIELDS, "/live/demo/720p/seg_1.m4s",
			       "2001:db8::1", T0 + 600),
			 OB_TOKEN_OK);
	assert_int_equal(check(&f->policy, REF_URL, "/live/demo/master.m3u8", NULL, T0),
			 OB_TOKEN_OK);
	escaping.escape_url = true;
	assert_int_equal(check(&escaping, REF_URL_ESCAPED, "/live/demo/seg%201.ts", NULL, T0),
			 OB_TOKEN_OK);
	assert_int_equal(check(&f->policy, REF_URL_ESCAPED, "/live/demo/seg%201.ts", NULL, T0),
			 OB_TOKEN_BAD_SIGNATURE);
}

static void test_wrong_key_is_a_bad_signature(void **state)
{
	struct fixture *f = *state;
	struct ob_token_policy only_key2 = f->policy;
	struct ob_token_ring *ring = ob_access_token_ring_new();
	struct ob_token_key other;

	assert_int_equal(ob_access_token_ring_add(ring, &f->key2), 0);
	only_key2.ring = ring;
	assert_int_equal(check(&only_key2, REF_ACL_LIST, "/live/premium/a", "10.0.0.1", T0),
			 OB_TOKEN_BAD_SIGNATURE);
	/* A key one byte shorter than the right one. */
	assert_int_equal(ob_access_token_key_from_hex("k3", "0123456789abcdef0123456789abcd",
						      &other), 0);
	assert_int_equal(ob_access_token_ring_add(ring, &other), 0);
	assert_int_equal(check(&only_key2, REF_ACL_LIST, "/live/premium/a", "10.0.0.1", T0),
			 OB_TOKEN_BAD_SIGNATURE);
	ob_access_token_ring_free(&ring);
	only_key2.ring = NULL;
	assert_int_equal(check(&only_key2, REF_ACL_LIST, "/live/premium/a", "10.0.0.1", T0),
			 OB_TOKEN_BAD_SIGNATURE);
}

static void test_time_window_and_skew(void **state)
{
	static const struct {
		int64_t now;
		int64_t skew;
		enum ob_token_result expected;
	} cases[] = {
		{ T0 - 1, 0, OB_TOKEN_NOT_YET_VALID },
		{ T0, 0, OB_TOKEN_OK },
		{ T0 - 30, 30, OB_TOKEN_OK },              /* early, within the skew */
		{ T0 - 31, 30, OB_TOKEN_NOT_YET_VALID },
		{ T0 + 600, 0, OB_TOKEN_OK },              /* the last valid second */
		{ T0 + 601, 0, OB_TOKEN_EXPIRED },
		{ T0 + 630, 30, OB_TOKEN_OK },             /* late, within the skew */
		{ T0 + 631, 30, OB_TOKEN_EXPIRED },
		{ T0 + 601, -5, OB_TOKEN_EXPIRED },        /* a negative skew counts as none */
		{ T0 + 601 + 7200, 7200, OB_TOKEN_EXPIRED }, /* capped at OB_TOKEN_SKEW_MAX_S */
		{ T0 + 600 + OB_TOKEN_SKEW_MAX_S, 7200, OB_TOKEN_OK },
	};
	struct fixture *f = *state;
	struct ob_token_params params = { .has_start = true, .start = T0, .window_s = 600,
					  .acl = "/live/*" };
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	for (size_t i = 0; i < OB_ARRAY_SIZE(cases); i++) {
		struct ob_token_policy policy = f->policy;

		policy.skew_s = cases[i].skew;
		if (check(&policy, token, "/live/x", NULL, cases[i].now) != cases[i].expected)
			fail_msg("case %zu: now %+lld skew %lld: got %s", i,
				 (long long)(cases[i].now - T0), (long long)cases[i].skew,
				 ob_access_token_reason(check(&policy, token, "/live/x", NULL,
							      cases[i].now)));
	}
}

static void test_without_st_only_exp_counts(void **state)
{
	struct fixture *f = *state;
	struct ob_token_params params = { .window_s = 60, .acl = "/*" };
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	assert_int_equal(ob_access_token_issue(&f->key1, &params, T0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_int_equal(strncmp(token, "exp=1700000060~acl=/*~hmac=", 27), 0);
	assert_int_equal(check(&f->policy, token, "/a", NULL, 0), OB_TOKEN_OK);
	assert_int_equal(check(&f->policy, token, "/a", NULL, T0 + 61), OB_TOKEN_EXPIRED);
}

/* Every field changed (and still well-formed), one at a time: the MAC no longer matches. */
static void test_tampered_fields_are_bad_signatures(void **state)
{
	static const char *const tampered[] = {
		"ip=10.0.0.2~st=1700000000~exp=1700000600~acl=/live/*~id=s-1~data=d",
		"ip=10.0.0.1~st=1600000000~exp=1700000600~acl=/live/*~id=s-1~data=d",
		"ip=10.0.0.1~st=1700000000~exp=1800000600~acl=/live/*~id=s-1~data=d",
		"ip=10.0.0.1~st=1700000000~exp=1700000600~acl=/*~id=s-1~data=d",
		"ip=10.0.0.1~st=1700000000~exp=1700000600~acl=/live/*!/premium/*~id=s-1~data=d",
		"ip=10.0.0.1~st=1700000000~exp=1700000600~acl=/live/*~id=s-2~data=d",
		"ip=10.0.0.1~st=1700000000~exp=1700000600~acl=/live/*~id=s-1~data=e",
		"st=1700000000~exp=1700000600~acl=/live/*~id=s-1~data=d",   /* ip dropped */
		"ip=10.0.0.1~exp=1700000600~acl=/live/*~id=s-1~data=d",     /* st dropped */
		"ip=10.0.0.1~st=1700000000~exp=1700000600~acl=/live/*~data=d", /* id dropped */
		"ip=10.0.0.1~st=1700000000~exp=1700000600~acl=/live/*~id=s-1", /* data dropped */
	};
	static const char original[] =
		"ip=10.0.0.1~st=1700000000~exp=1700000600~acl=/live/*~id=s-1~data=d";
	struct fixture *f = *state;
	char signed_token[512];
	char token[512];
	char *hmac;

	sign_text(&f->key1, original, NULL, signed_token, sizeof(signed_token));
	assert_int_equal(check(&f->policy, signed_token, "/live/a", "10.0.0.1", T0), OB_TOKEN_OK);
	hmac = strstr(signed_token, "~hmac=");
	for (size_t i = 0; i < OB_ARRAY_SIZE(tampered); i++) {
		snprintf(token, sizeof(token), "%s%s", tampered[i], hmac);
		if (check(&f->policy, token, "/live/a", "10.0.0.1", T0) != OB_TOKEN_BAD_SIGNATURE)
			fail_msg("tampered case %zu accepted: %s", i, token);
	}
	/* The MAC itself: each of its digits changed. */
	for (size_t i = 0; i < 64; i++) {
		char *digit;

		strcpy(token, signed_token);
		digit = strstr(token, "~hmac=") + 6 + i;
		*digit = *digit == '0' ? '1' : '0';
		assert_int_equal(check(&f->policy, token, "/live/a", "10.0.0.1", T0),
				 OB_TOKEN_BAD_SIGNATURE);
	}
}

static void test_acl_wildcards_and_lists(void **state)
{
	static const struct {
		const char *acl;
		const char *path;
		bool match;
	} cases[] = {
		{ "/live/premium/*", "/live/premium/master.m3u8", true },
		{ "/live/premium/*", "/live/premium/720p/seg_00001.m4s", true }, /* '*' spans '/' */
		{ "/live/premium/*", "/live/premium/", true },
		{ "/live/premium/*", "/live/premium", false },
		{ "/live/premium/*", "/live/premiumx/a", false },
		{ "/live/premium/*", "/live/public/a", false },
		{ "/live/premium/master.m3u8", "/live/premium/master.m3u8", true },
		{ "/live/premium/master.m3u8", "/live/premium/master.m3u8x", false },
		{ "/a/*!/b/*", "/b/c", true },
		{ "/a/*!/b/*", "/a/c", true },
		{ "/a/*!/b/*", "/c/d", false },
		{ "/a/x!/b/*", "/a/x", true },
		{ "/a/x!/b/*", "/a/xy", false },
		{ "/seg_?.ts", "/seg_1.ts", true },
		{ "/seg_?.ts", "/seg_10.ts", false },
		{ "/seg_?.ts", "/seg_.ts", false },
		{ "*", "/anything/at/all", true },
		{ "/*", "/", true },
		{ "/a/*/b", "/a/x/y/b", true },
		{ "/a/*/b", "/a/b", false },
		{ "/a/**", "/a/b", true },
		{ "/live/*/master.m3u8", "/live/news/master.m3u8", true },
		{ "/live/*/master.m3u8", "/live/news/720p.m3u8", false },
		{ "%2flive%2f*", "/live/x", true },        /* an escaped ACL (Java's escapeEarly) */
		{ "/a%2fb/*", "/a/b/c", true },
		{ "/a/%2a", "/a/x", false },               /* an escaped '*' is a literal '*' */
		{ "/a/%2a", "/a/*", true },
		{ "/a%20b/*", "/a b/c", true },
		{ "/a/%zz", "/a/%zz", false },             /* a bad escape matches nothing */
		{ "*a*a*a*a*a*a*a*b", "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false },
	};

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(cases); i++)
		if (ob_access_token_acl_match(cases[i].acl, strlen(cases[i].acl), cases[i].path) !=
		    cases[i].match)
			fail_msg("acl \"%s\" against \"%s\": expected %s", cases[i].acl,
				 cases[i].path, cases[i].match ? "a match" : "no match");
}

static void test_path_normalisation(void **state)
{
	static const struct {
		const char *raw;
		const char *normalised; /* NULL: refused */
	} cases[] = {
		{ "/a/b", "/a/b" },
		{ "//a//b", "/a/b" },
		{ "/a/./b", "/a/b" },
		{ "/a/b/", "/a/b/" },
		{ "/", "/" },
		{ "//", "/" },
		{ "/a/.", "/a/" },
		{ "/.", "/" },
		{ "/...", "/..." },
		{ "/..a/b..", "/..a/b.." },
		{ "/%41%62", "/Ab" },
		{ "/a%20b", "/a b" },
		{ "/caf%C3%A9", "/caf\xc3\xa9" },
		{ "/a+b", "/a+b" },
		{ "/a/../b", NULL },
		{ "/..", NULL },
		{ "/a/..", NULL },
		{ "/a/%2e%2e/b", NULL },
		{ "/a/%2E%2E/b", NULL },
		{ "/a/.%2e/b", NULL },
		{ "/a/%2e./b", NULL },
		{ "/a%2f..%2fb", NULL },          /* encoded '/' */
		{ "/a%2fb", NULL },
		{ "/a%2Fb", NULL },
		{ "/a%5cb", NULL },               /* encoded '\' */
		{ "/a\\b", NULL },
		{ "/a%252e%252e/b", NULL },       /* double encoding leaves a '%' */
		{ "/a%25", NULL },
		{ "/a%00b", NULL },
		{ "/a%0ab", NULL },
		{ "/a%7f", NULL },
		{ "/a\tb", NULL },
		{ "/a%zz", NULL },
		{ "/a%2", NULL },
		{ "/a%", NULL },
		{ "a/b", NULL },
		{ "", NULL },
		{ "/a?x=1", NULL },
		{ "/a#x", NULL },
	};
	char out[OB_TOKEN_PATH_MAX + 1];
	char long_path[OB_TOKEN_PATH_MAX + 2];

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(cases); i++) {
		int ret = ob_access_token_path_normalize(cases[i].raw, out, sizeof(out));

		if (cases[i].normalised && (ret != 0 || strcmp(out, cases[i].normalised) != 0))
			fail_msg("\"%s\": expected \"%s\", got %d \"%s\"", cases[i].raw,
				 cases[i].normalised, ret, out);
		if (!cases[i].normalised && ret != OB_EINVAL)
			fail_msg("\"%s\": expected a refusal, got %d \"%s\"", cases[i].raw, ret, out);
	}
	assert_int_equal(ob_access_token_path_normalize(NULL, out, sizeof(out)), OB_EINVAL);
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	assert_int_equal(ob_access_token_path_normalize(long_path, out, sizeof(out)), OB_ETOOBIG);
	long_path[OB_TOKEN_PATH_MAX] = '\0';
	assert_int_equal(ob_access_token_path_normalize(long_path, out, sizeof(out)), 0);
	/* One byte too small for "/a/b" and its NUL. */
	assert_int_equal(ob_access_token_path_normalize("/a/b", out, 4), OB_ETOOBIG);
	assert_int_equal(ob_access_token_path_normalize("/a/b", out, 5), 0);
	assert_int_equal(ob_access_token_path_normalize("/", out, 1), OB_ETOOBIG);
}

static void test_path_tricks_cannot_leave_the_acl(void **state)
{
	static const char *const escapes[] = {
		"/live/public/../premium/master.m3u8",
		"/live/public/%2e%2e/premium/master.m3u8",
		"/live/public/%2E./premium/master.m3u8",
		"/live/public%2f..%2fpremium/master.m3u8",
		"/live/public/%252e%252e/premium/master.m3u8",
		"/live/public/..%5cpremium/master.m3u8",
		"/live/public/..\\premium/master.m3u8",
		"/live/public/%00/../premium/master.m3u8",
		"/live/publicity/master.m3u8",
		"live/public/master.m3u8",
	};
	struct fixture *f = *state;
	struct ob_token_params params = { .expiry = T0 + 60, .acl = "/live/public/*" };
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	for (size_t i = 0; i < OB_ARRAY_SIZE(escapes); i++)
		if (check(&f->policy, token, escapes[i], NULL, T0) != OB_TOKEN_OUTSIDE_ACL)
			fail_msg("\"%s\" was let through", escapes[i]);
	assert_int_equal(check(&f->policy, token, NULL, NULL, T0), OB_TOKEN_OUTSIDE_ACL);
	assert_int_equal(check(&f->policy, token, "//live//public/./a.m4s", NULL, T0), OB_TOKEN_OK);
	assert_int_equal(check(&f->policy, token, "/live/public/%61.m4s", NULL, T0), OB_TOKEN_OK);
}

static void test_malformed_tokens(void **state)
{
	static const char hmac[] = "hmac=0000000000000000000000000000000000000000000000000000000000000000";
	static const char *const bad[] = {
		"exp=1700000600~exp=1700000600~acl=/*~",      /* duplicated */
		"exp=1700000600~acl=/*~acl=/*~",
		"exp=1700000600~foo=bar~",                    /* unknown */
		"exp=1700000600~url=/a~",                     /* url is never in the token */
		"exp=1700000600~salt=x~",
		"EXP=1700000600~acl=/*~",
		"acl=/*~exp=1700000600~",                     /* out of order */
		"exp=1700000600~id=a~acl=/*~",
		"acl=/*~",                                    /* no exp */
		"",
		"exp=1700000600~acl~",                        /* no '=' */
		"exp=1700000600~~",                           /* empty field */
		"~exp=1700000600~",
		"st=~exp=1700000600~",                        /* bad numbers */
		"st=12a~exp=1700000600~",
		"st=-1~exp=1700000600~",
		"st=+1~exp=1700000600~",
		"exp=~",
		"exp=1700000600 ~",
		"exp=1234567890123~",
		"ip=~exp=1700000600~",                        /* bad addresses */
		"ip=10.0.0.256~exp=1700000600~",
		"ip=example.com~exp=1700000600~",
		"ip=fe80::1%25eth0~exp=1700000600~",
		"exp=1700000600~acl=~",                       /* bad ACLs */
		"exp=1700000600~acl=/a!!/b~",
		"exp=1700000600~acl=!/a~",
		"exp=1700000600~acl=/a!~",
		"exp=1700000600~acl=/a%zz~",
		"exp=1700000600~acl=/a%2~",
		"exp=1700000600~data=a\nb~",                  /* control characters */
		"exp=1700000600~data=a\x7f~",
	};
	static const char *const bad_macs[] = {
		"exp=1700000600~acl=/*~hmac=",
		"exp=1700000600~acl=/*~hmac=000000000000000000000000000000000000000000000000000000000000000",
		"exp=1700000600~acl=/*~hmac=00000000000000000000000000000000000000000000000000000000000000000",
		"exp=1700000600~acl=/*~hmac=000000000000000000000000000000000000000000000000000000000000000g",
		"exp=1700000600~acl=/*~hmac=ABCDEF0000000000000000000000000000000000000000000000000000000000",
		"exp=1700000600~acl=/*~hmac=0000000000000000000000000000000000000000000000000000000000000000~",
		"exp=1700000600~hmac=0000000000000000000000000000000000000000000000000000000000000000~acl=/*",
		"exp=1700000600~acl=/*",
	};
	struct fixture *f = *state;
	struct ob_token parsed;
	char token[512];
	static const char with_nul[] = "exp=1700000600~data=a\0b~hmac=00";

	for (size_t i = 0; i < OB_ARRAY_SIZE(bad); i++) {
		snprintf(token, sizeof(token), "%s%s", bad[i], hmac);
		if (check(&f->policy, token, "/a", NULL, T0) != OB_TOKEN_MALFORMED)
			fail_msg("accepted as well-formed: %s", token);
		assert_int_equal(ob_access_token_parse(token, strlen(token), &parsed), OB_EINVAL);
	}
	for (size_t i = 0; i < OB_ARRAY_SIZE(bad_macs); i++)
		if (check(&f->policy, bad_macs[i], "/a", NULL, T0) != OB_TOKEN_MALFORMED)
			fail_msg("accepted as well-formed: %s", bad_macs[i]);
	assert_int_equal(ob_access_token_parse(with_nul, sizeof(with_nul) - 1, &parsed), OB_EINVAL);
	assert_int_equal(check(&f->policy, NULL, "/a", NULL, T0), OB_TOKEN_MISSING);
	assert_int_equal(check(&f->policy, "", "/a", NULL, T0), OB_TOKEN_MISSING);
}

static void test_oversized_tokens(void **state)
{
	struct fixture *f = *state;
	struct ob_token_params params = { .expiry = T0 + 60, .acl = "/*" };
	char data[OB_TOKEN_MAX_CHARS + 8];
	char text[OB_TOKEN_MAX_CHARS + 64];
	char token[OB_TOKEN_MAX_CHARS + 128];
	char err[256];
	struct ob_token parsed;
	/* The fields before data, data, then "~hmac=" and 64 hex digits. */
	size_t fixed = strlen("exp=1700000060~acl=/*~data=") + strlen("~hmac=") + 64;

	memset(data, 'd', sizeof(data));
	data[OB_TOKEN_MAX_CHARS - fixed] = '\0';
	params.data = data;
	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_int_equal(strlen(token), OB_TOKEN_MAX_CHARS);
	assert_int_equal(check(&f->policy, token, "/a", NULL, T0), OB_TOKEN_OK);
	/* One byte more is refused at issue and, signed anyway, at verification. */
	data[OB_TOKEN_MAX_CHARS - fixed] = 'd';
	data[OB_TOKEN_MAX_CHARS - fixed + 1] = '\0';
	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token), err,
					       sizeof(err)), OB_ETOOBIG);
	assert_string_equal(token, "");
	snprintf(text, sizeof(text), "exp=1700000060~acl=/*~data=%s", data);
	sign_text(&f->key1, text, NULL, token, sizeof(token));
	assert_int_equal(strlen(token), OB_TOKEN_MAX_CHARS + 1);
	assert_int_equal(ob_access_token_parse(token, strlen(token), &parsed), OB_ETOOBIG);
	assert_int_equal(check(&f->policy, token, "/a", NULL, T0), OB_TOKEN_MALFORMED);
	/* An output buffer one byte too small. */
	params.data = "x";
	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, data, strlen(token), err,
					       sizeof(err)), OB_ETOOBIG);
	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, data, strlen(token) + 1, err,
					       sizeof(err)), 0);
}

/* Empty id and data (the Java generator writes them for empty strings) verify when signed. */
static void test_empty_values(void **state)
{
	struct fixture *f = *state;
	char token[512];
	struct ob_token_verdict verdict;
	struct ob_token_request request = { .path = "/a", .now_s = T0 };

	sign_text(&f->key1, "exp=1700000600~acl=/*~id=~data=", NULL, token, sizeof(token));
	assert_int_equal(ob_access_token_verify(&f->policy, token, strlen(token), &request,
						&verdict),
			 OB_TOKEN_OK);
	assert_non_null(verdict.token.id.ptr);
	assert_int_equal(verdict.token.id.len, 0);
	assert_int_equal(verdict.token.data.len, 0);
	/* Empty values given to the issuer leave their fields out, as the generators do. */
	{
		struct ob_token_params params = { .expiry = T0 + 600, .acl = "/*", .id = "",
						  .data = "", .ip = "" };
		char err[256];

		assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token),
						       err, sizeof(err)), 0);
		assert_int_equal(strncmp(token, "exp=1700000600~acl=/*~hmac=", 27), 0);
	}
}

static void test_url_mode(void **state)
{
	struct fixture *f = *state;
	struct ob_token_params params = { .expiry = T0 + 60, .url = "/live/demo/master.m3u8" };
	struct ob_token_policy escaping = f->policy;
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_null(strstr(token, "url="));
	assert_int_equal(check(&f->policy, token, "/live/demo/master.m3u8", NULL, T0), OB_TOKEN_OK);
	assert_int_equal(check(&f->policy, token, "/live//demo/./master.m3u8", NULL, T0),
			 OB_TOKEN_OK);
	assert_int_equal(check(&f->policy, token, "/live/demo/720p.m3u8", NULL, T0),
			 OB_TOKEN_BAD_SIGNATURE);
	assert_int_equal(check(&f->policy, token, "/live/demo/master.m3u8/", NULL, T0),
			 OB_TOKEN_BAD_SIGNATURE);
	assert_int_equal(check(&f->policy, token, "/live/x/../demo/master.m3u8", NULL, T0),
			 OB_TOKEN_OUTSIDE_ACL);
	assert_int_equal(check(&f->policy, token, "/live/demo/master.m3u8", NULL, T0 + 61),
			 OB_TOKEN_EXPIRED);
	/* escape_early: the url is signed form-encoded, and must be verified the same way. */
	params.escape_early = true;
	params.url = "/vod/a b/c~d.mp4";
	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token), err,
					       sizeof(err)), OB_EINVAL);
	params.url = "/vod/a b/c(1).mp4";
	assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	escaping.escape_url = true;
	assert_int_equal(check(&escaping, token, "/vod/a%20b/c(1).mp4", NULL, T0), OB_TOKEN_OK);
	assert_int_equal(check(&f->policy, token, "/vod/a%20b/c(1).mp4", NULL, T0),
			 OB_TOKEN_BAD_SIGNATURE);
	{
		char expected[512];

		sign_text(&f->key1, "exp=1700000060", "%2fvod%2fa+b%2fc%281%29.mp4", expected,
			  sizeof(expected));
		assert_string_equal(token, expected);
	}
}

static void test_address_binding(void **state)
{
	static const struct {
		const char *bound;
		bool escape;
		const char *peer;
		bool skip;
		enum ob_token_result expected;
	} cases[] = {
		{ "10.0.0.1", false, "10.0.0.1", false, OB_TOKEN_OK },
		{ "10.0.0.1", false, "10.0.0.2", false, OB_TOKEN_ADDRESS },
		{ "10.0.0.1", false, NULL, false, OB_TOKEN_ADDRESS },
		{ "10.0.0.1", false, "", false, OB_TOKEN_ADDRESS },
		{ "10.0.0.1", false, "::ffff:10.0.0.1", false, OB_TOKEN_OK },
		{ "10.0.0.1", false, "10.0.0.2", true, OB_TOKEN_OK },
		{ "2001:db8::1", false, "2001:DB8:0::1", false, OB_TOKEN_OK },
		{ "2001:db8::1", false, "2001:db8::2", false, OB_TOKEN_ADDRESS },
		{ "::1", true, "::1", false, OB_TOKEN_OK },       /* written as ip=%3a%3a1 */
		{ "::1", true, "127.0.0.1", false, OB_TOKEN_ADDRESS },
	};
	struct fixture *f = *state;
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	for (size_t i = 0; i < OB_ARRAY_SIZE(cases); i++) {
		struct ob_token_params params = { .expiry = T0 + 60, .acl = "/*",
						  .ip = cases[i].bound,
						  .escape_early = cases[i].escape };
		struct ob_token_policy policy = f->policy;

		policy.skip_address_check = cases[i].skip;
		assert_int_equal(ob_access_token_issue(&f->key1, &params, 0, token, sizeof(token),
						       err, sizeof(err)), 0);
		if (check(&policy, token, "/a", cases[i].peer, T0) != cases[i].expected)
			fail_msg("case %zu: token %s from %s", i, token,
				 cases[i].peer ? cases[i].peer : "(unknown)");
	}
	/* Without an ip field, any peer will do. */
	assert_int_equal(check(&f->policy, REF_URL, "/live/demo/master.m3u8", "192.0.2.9", T0),
			 OB_TOKEN_OK);
}

static void test_issue_refuses_what_would_not_verify(void **state)
{
	static const struct ob_token_params bad[] = {
		{ .expiry = T0 + 60 },                                  /* neither acl nor url */
		{ .expiry = T0 + 60, .acl = "/*", .url = "/a" },        /* both */
		{ .expiry = T0 + 60, .acl = "/a!!/b" },
		{ .expiry = T0 + 60, .acl = "!/a" },
		{ .expiry = T0 + 60, .acl = "/a~b" },
		{ .expiry = T0 + 60, .acl = "/a%zz" },
		{ .expiry = T0 + 60, .url = "/a~b" },
		{ .expiry = T0 + 60, .acl = "/*", .id = "a~b" },
		{ .expiry = T0 + 60, .acl = "/*", .data = "a\nb" },
		{ .expiry = T0 + 60, .acl = "/*", .ip = "not-an-address" },
		{ .expiry = T0 + 60, .acl = "/*", .ip = "10.0.0.1~" },
		{ .acl = "/*" },                                        /* no lifetime */
		{ .expiry = -1, .acl = "/*" },
		{ .window_s = -1, .acl = "/*" },
		{ .has_start = true, .start = T0, .expiry = T0, .acl = "/*" },
		{ .has_start = true, .start = 0, .expiry = T0, .acl = "/*" },
		{ .expiry = INT64_C(1000000000000), .acl = "/*" },
	};
	struct fixture *f = *state;
	struct ob_token_key short_key = f->key1;
	struct ob_token_params good = { .expiry = T0 + 60, .acl = "/*" };
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	for (size_t i = 0; i < OB_ARRAY_SIZE(bad); i++) {
		err[0] = '\0';
		if (ob_access_token_issue(&f->key1, &bad[i], T0, token, sizeof(token), err,
					  sizeof(err)) != OB_EINVAL)
			fail_msg("case %zu was issued: %s", i, token);
		assert_true(strlen(err) > 0);
		assert_string_equal(token, "");
	}
	short_key.secret_len = OB_TOKEN_KEY_MIN_BYTES - 1;
	assert_int_equal(ob_access_token_issue(&short_key, &good, T0, token, sizeof(token), err,
					       sizeof(err)), OB_EINVAL);
}

static void test_keys_and_rings(void **state)
{
	static const char *const bad_hex[] = {
		"", "0123456789abcde", "0123456789abcdef0", "0123456789abcdeg",
		"0123456789abcd",        /* 7 bytes: too short */
		"0123456789abcdef 0123456789abcdef",
	};
	struct fixture *f = *state;
	struct ob_token_key key;
	struct ob_token_ring *ring = ob_access_token_ring_new();
	char max_hex[2 * OB_TOKEN_KEY_MAX_BYTES + 3];
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];
	struct ob_token_params params = { .expiry = T0 + 60, .acl = "/*" };
	struct ob_token_policy policy = { .ring = ring };

	for (size_t i = 0; i < OB_ARRAY_SIZE(bad_hex); i++)
		assert_int_equal(ob_access_token_key_from_hex("k", bad_hex[i], &key), OB_EINVAL);
	assert_int_equal(ob_access_token_key_from_hex("", KEY1_HEX, &key), OB_EINVAL);
	assert_int_equal(ob_access_token_key_from_hex("a b", KEY1_HEX, &key), OB_EINVAL);
	assert_int_equal(ob_access_token_key_from_hex(NULL, KEY1_HEX, &key), OB_EINVAL);
	assert_int_equal(ob_access_token_key_from_hex("0123456789012345678901234567890123",
						      KEY1_HEX, &key), OB_EINVAL);
	/* Upper-case hex decodes to the same key. */
	assert_int_equal(ob_access_token_key_from_hex("k1", "0123456789ABCDEF0123456789ABCDEF",
						      &key), 0);
	assert_memory_equal(key.secret, f->key1.secret, f->key1.secret_len);
	/* The shortest and the longest keys sign and verify. */
	assert_int_equal(ob_access_token_key_from_hex("short", "0011223344556677", &key), 0);
	assert_int_equal(ob_access_token_ring_add(ring, &key), 0);
	assert_int_equal(ob_access_token_issue(&key, &params, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_int_equal(check(&policy, token, "/a", NULL, T0), OB_TOKEN_OK);
	memset(max_hex, 'e', 2 * OB_TOKEN_KEY_MAX_BYTES);
	max_hex[2 * OB_TOKEN_KEY_MAX_BYTES] = '\0';
	assert_int_equal(ob_access_token_key_from_hex("long", max_hex, &key), 0);
	assert_int_equal(key.secret_len, OB_TOKEN_KEY_MAX_BYTES);
	assert_int_equal(ob_access_token_ring_add(ring, &key), 0);
	assert_int_equal(ob_access_token_issue(&key, &params, 0, token, sizeof(token), err,
					       sizeof(err)), 0);
	assert_int_equal(check(&policy, token, "/a", NULL, T0), OB_TOKEN_OK);
	strcat(max_hex, "ee");
	assert_int_equal(ob_access_token_key_from_hex("longer", max_hex, &key), OB_EINVAL);
	assert_int_equal(key.secret_len, 0); /* zeroed on failure */
	/* Ids are unique; the ring holds at most OB_TOKEN_RING_MAX keys. */
	assert_int_equal(ob_access_token_ring_add(ring, &f->key1), 0);
	assert_int_equal(ob_access_token_ring_add(ring, &f->key1), OB_EEXIST);
	key = f->key2;
	for (int i = (int)ob_access_token_ring_count(ring); i < OB_TOKEN_RING_MAX; i++) {
		snprintf(key.id, sizeof(key.id), "extra%d", i);
		assert_int_equal(ob_access_token_ring_add(ring, &key), 0);
	}
	assert_int_equal(ob_access_token_ring_count(ring), OB_TOKEN_RING_MAX);
	strcpy(key.id, "one-too-many");
	assert_int_equal(ob_access_token_ring_add(ring, &key), OB_ETOOBIG);
	assert_string_equal(ob_access_token_ring_key_id(ring, 0), "short");
	assert_null(ob_access_token_ring_key_id(ring, OB_TOKEN_RING_MAX));
	key.secret_len = 0;
	strcpy(key.id, "empty");
	assert_int_equal(ob_access_token_ring_add(ring, &key), OB_EINVAL);
	ob_access_token_ring_free(&ring);
	assert_null(ring);
	ob_access_token_ring_free(&ring);
	assert_int_equal(ob_access_token_ring_count(NULL), 0);
}

static void test_extract_from_query_cookie_and_header(void **state)
{
	static const char token[] = "exp=1~acl=/*~hmac=ab";
	char out[OB_TOKEN_MAX_CHARS + 1];
	char big[OB_TOKEN_MAX_CHARS + 64];
	enum ob_token_location where;

	(void)state;
	assert_int_equal(ob_access_token_extract(NULL, "a=1&__token__=exp=1~acl=/*~hmac=ab&b=2",
						 NULL, NULL, out, sizeof(out), &where), 0);
	assert_string_equal(out, token);
	assert_int_equal(where, OB_TOKEN_FROM_QUERY);
	/* Percent-encoded as a whole: decoded once. */
	assert_int_equal(ob_access_token_extract(NULL, "__token__=exp%3D1%7Eacl%3D%2F%2A%7Ehmac%3Dab",
						 NULL, NULL, out, sizeof(out), &where), 0);
	assert_string_equal(out, token);
	/* Encoded as encodeURIComponent does: '=' and '/' encoded, '~' and '*' left alone. */
	assert_int_equal(ob_access_token_extract(NULL, "__token__=exp%3D1~acl%3D%2F*~hmac%3Dab",
						 NULL, NULL, out, sizeof(out), NULL), 0);
	assert_string_equal(out, token);
	/* As written (with its '='), escapes inside are the token's own. */
	assert_int_equal(ob_access_token_extract(NULL, "__token__=exp=1~data=a%2fb~hmac=ab", NULL,
						 NULL, out, sizeof(out), NULL), 0);
	assert_string_equal(out, "exp=1~data=a%2fb~hmac=ab");
	assert_int_equal(ob_access_token_extract(NULL, "__token__=a~b&__token__=a~b", NULL, NULL,
						 out, sizeof(out), &where), OB_EINVAL);
	assert_int_equal(ob_access_token_extract(NULL, "__token__&__token__=a~b", NULL, NULL, out,
						 sizeof(out), &where), OB_EINVAL);
	assert_int_equal(ob_access_token_extract(NULL, "x__token__=a~b&__token__x=a~b", NULL, NULL,
						 out, sizeof(out), &where), OB_ENOTFOUND);
	assert_int_equal(where, OB_TOKEN_FROM_NONE);
	assert_int_equal(ob_access_token_extract(NULL, "__token__=%zz", NULL, NULL, out,
						 sizeof(out), &where), OB_EINVAL);
	assert_int_equal(ob_access_token_extract(NULL, "__token__=%00", NULL, NULL, out,
						 sizeof(out), &where), OB_EINVAL);
	/* Cookies: the first non-empty one of that name; quotes taken off. */
	assert_int_equal(ob_access_token_extract(NULL, NULL,
						 "a=b; __token__=exp=1~acl=/*~hmac=ab; __token__=x~y",
						 NULL, out, sizeof(out), &where), 0);
	assert_string_equal(out, token);
	assert_int_equal(where, OB_TOKEN_FROM_COOKIE);
	assert_int_equal(ob_access_token_extract(NULL, NULL, "__token__=\"exp=1~acl=/*~hmac=ab\"",
						 NULL, out, sizeof(out), &where), 0);
	assert_string_equal(out, token);
	/* A header holds the token alone. */
	assert_int_equal(ob_access_token_extract(NULL, NULL, "a=b", "  exp=1~acl=/*~hmac=ab ", out,
						 sizeof(out), &where), 0);
	assert_string_equal(out, token);
	assert_int_equal(where, OB_TOKEN_FROM_HEADER);
	/* The query string wins; an empty value there falls through to the cookie. */
	assert_int_equal(ob_access_token_extract(NULL, "__token__=q~1", "__token__=c~1", "h~1",
						 out, sizeof(out), &where), 0);
	assert_string_equal(out, "q~1");
	assert_int_equal(ob_access_token_extract(NULL, "__token__=", "__token__=c~1", "h~1", out,
						 sizeof(out), &where), 0);
	assert_string_equal(out, "c~1");
	assert_int_equal(where, OB_TOKEN_FROM_COOKIE);
	assert_int_equal(ob_access_token_extract(NULL, "", "", "  ", out, sizeof(out), &where),
			 OB_ENOTFOUND);
	/* Another name. */
	assert_int_equal(ob_access_token_extract("hdnts", "__token__=a~b&hdnts=c~d", NULL, NULL,
						 out, sizeof(out), &where), 0);
	assert_string_equal(out, "c~d");
	/* Too long: refused, not cut. */
	memcpy(big, "__token__=", 10);
	memset(big + 10, '~', OB_TOKEN_MAX_CHARS + 1);
	big[10 + OB_TOKEN_MAX_CHARS + 1] = '\0';
	assert_int_equal(ob_access_token_extract(NULL, big, NULL, NULL, out, sizeof(out), &where),
			 OB_ETOOBIG);
	big[10 + OB_TOKEN_MAX_CHARS] = '\0';
	assert_int_equal(ob_access_token_extract(NULL, big, NULL, NULL, out, sizeof(out), &where),
			 0);
	assert_int_equal(ob_access_token_extract(NULL, big, NULL, NULL, out, 100, &where),
			 OB_ETOOBIG);
}

static void test_reasons(void **state)
{
	static const char *const expected[] = {
		[OB_TOKEN_OK] = "ok",
		[OB_TOKEN_MISSING] = "missing",
		[OB_TOKEN_MALFORMED] = "malformed",
		[OB_TOKEN_EXPIRED] = "expired",
		[OB_TOKEN_NOT_YET_VALID] = "not_yet_valid",
		[OB_TOKEN_BAD_SIGNATURE] = "bad_signature",
		[OB_TOKEN_OUTSIDE_ACL] = "outside_acl",
		[OB_TOKEN_ADDRESS] = "address",
	};

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(expected); i++)
		assert_string_equal(ob_access_token_reason((enum ob_token_result)i), expected[i]);
	assert_string_equal(ob_access_token_reason((enum ob_token_result)99), "unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_matches_the_reference),
		cmocka_unit_test(test_reference_tokens_verify),
		cmocka_unit_test(test_wrong_key_is_a_bad_signature),
		cmocka_unit_test(test_time_window_and_skew),
		cmocka_unit_test(test_without_st_only_exp_counts),
		cmocka_unit_test(test_tampered_fields_are_bad_signatures),
		cmocka_unit_test(test_acl_wildcards_and_lists),
		cmocka_unit_test(test_path_normalisation),
		cmocka_unit_test(test_path_tricks_cannot_leave_the_acl),
		cmocka_unit_test(test_malformed_tokens),
		cmocka_unit_test(test_oversized_tokens),
		cmocka_unit_test(test_empty_values),
		cmocka_unit_test(test_url_mode),
		cmocka_unit_test(test_address_binding),
		cmocka_unit_test(test_issue_refuses_what_would_not_verify),
		cmocka_unit_test(test_keys_and_rings),
		cmocka_unit_test(test_extract_from_query_cookie_and_header),
		cmocka_unit_test(test_reasons),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
