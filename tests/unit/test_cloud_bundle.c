/* Desired-state bundles: a good bundle passes with every field filled; each envelope check
 * refuses with its protocol code and a message (not a JWS, alg, typ, kid, signature, compat,
 * device, expiry, times, generation, poll interval, payload), in the protocol's order; a
 * bundle without kid is tried with every pinned key; and the pinned key list refuses what
 * is no P-256 public key, naming the entry. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/bundle.h"
#include "cloud_vectors.h"
#include "core/err.h"
#include "core/rand.h"
#include "core/util.h"

#define NOW_MS INT64_C(1790000000000)        /* 2026-09-21 */
#define HOUR_MS INT64_C(3600000)
#define DEVICE "obx-00112233445566778899aabbccddeeff"
#define OTHER_DEVICE "obx-ffeeddccbbaa99887766554433221100"

/* An RSA public key (openssl genpkey -algorithm RSA, 1024 bits): not ES256's kind of key. */
#define RSA_PUBLIC_PEM                                                      \
	"-----BEGIN PUBLIC KEY-----\n"                                      \
	"MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDWyi0QTytx4KX5WwlosdasvKsY\n" \
	"bla5URjPPDHosS8b3KiQX+sYJvDra0wOnaQGD+SOQm1OBx75jiWd8aZxgk0HrhRb\n" \
	"vMjBbOfyfpwd9AMxbMR4/pu4jLm1ecpmfPwcgeuMqnA4j8QC6ATG3gOM19837GZL\n" \
	"pPLSlhS1asqII/93LQIDAQAB\n"                                         \
	"-----END PUBLIC KEY-----\n"

/* A secp256k1 public key: an EC key, but not on P-256. */
#define K256_PUBLIC_PEM                                                     \
	"-----BEGIN PUBLIC KEY-----\n"                                      \
	"MFYwEAYHKoZIzj0CAQYFK4EEAAoDQgAEfFLFcNXdqf6lSG5GT9xR0WlC/LF/FhSQ\n" \
	"jVRSWFslAQgcs8/omrgdprGhEWHxxMmsJM4+t2e/fseaNrU/uaIbYg==\n"         \
	"-----END PUBLIC KEY-----\n"

/* Two pinned keys and one the box does not pin, made once for every test. */
static struct ob_cloud_key *pinned;
static struct ob_cloud_key *pinned2;
static struct ob_cloud_key *unpinned;
static char pinned_kid[OB_CLOUD_KEY_ID_CHARS + 1];
static char pinned2_kid[OB_CLOUD_KEY_ID_CHARS + 1];
static char unpinned_kid[OB_CLOUD_KEY_ID_CHARS + 1];
static struct ob_cloud_keyring ring;

static json_t *public_pem(const struct ob_cloud_key *key)
{
	char pem[OB_CLOUD_KEY_PEM_MAX];

	assert_int_equal(ob_cloud_key_public_pem(key, pem, sizeof(pem)), 0);
	return json_string(pem);
}

static int setup(void **state)
{
	json_t *pems;
	char err[256];

	(void)state;
	if (ob_random_init() != 0 || ob_cloud_key_generate(&pinned) != 0 ||
	    ob_cloud_key_generate(&pinned2) != 0 || ob_cloud_key_generate(&unpinned) != 0)
		return -1;
	ob_cloud_key_id(pinned, pinned_kid);
	ob_cloud_key_id(pinned2, pinned2_kid);
	ob_cloud_key_id(unpinned, unpinned_kid);
	pems = json_pack("[o, o]", public_pem(pinned), public_pem(pinned2));
	if (ob_cloud_keyring_load(pems, &ring, err, sizeof(err)) != 0) {
		json_decref(pems);
		return -1;
	}
	json_decref(pems);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ob_cloud_keyring_clear(&ring);
	ob_cloud_key_free(&unpinned);
	ob_cloud_key_free(&pinned2);
	ob_cloud_key_free(&pinned);
	ob_random_free();
	return 0;
}

static json_t *iso(int64_t ms)
{
	char text[32];

	ob_time_iso8601(ms, text, sizeof(text));
	return json_string(text);
}

/* The claims of a good bundle for DEVICE at NOW_MS. */
static json_t *good_claims(void)
{
	json_t *claims = json_pack("{s:s, s:i, s:s, s:i, s:{s:{s:s}}}", "device_id", DEVICE,
				   "generation", 42, "compat", OB_CLOUD_BUNDLE_COMPAT,
				   "poll_interval_s", 60, "payload", "settings", "box_name", "edge-1");

	assert_non_null(claims);
	json_object_set_new(claims, "issued_at", iso(NOW_MS - HOUR_MS));
	json_object_set_new(claims, "expires_at", iso(NOW_MS + 24 * HOUR_MS));
	return claims;
}

/* Signs claims (borrowed) with key under {"typ", "kid"} (either NULL: left out). */
static char *sign_claims(const struct ob_cloud_key *key, const char *typ, const char *kid,
			 const json_t *claims)
{
	json_t *header = json_object();
	char *payload = json_dumps(claims, JSON_COMPACT | JSON_ENCODE_ANY);
	char *text = NULL;

	assert_non_null(payload);
	if (typ)
		json_object_set_new(header, "typ", json_string(typ));
	if (kid)
		json_object_set_new(header, "kid", json_string(kid));
	assert_int_equal(ob_cloud_jws_sign(key, header, payload, strlen(payload), &text), 0);
	json_decref(header);
	free(payload);
	return text;
}

/* b64(header_json).b64(payload) with a good ES256 signature by key, whatever the header
 * says: made with mbedTLS from the key's private PEM, as a forger holding it would. */
static char *sign_raw(const struct ob_cloud_key *key, const char *header_json,
		      const char *payload)
{
	char pem[OB_CLOUD_KEY_PEM_MAX];
	mbedtls_pk_context pk;
	mbedtls_ecp_keypair *pair;
	mbedtls_mpi r, s;
	unsigned char digest[32];
	unsigned char signature[64];
	size_t len = ob_base64url_len(strlen(header_json)) + ob_base64url_len(strlen(payload)) +
		     ob_base64url_len(64) + 3;
	char *out = malloc(len);
	size_t used;

	assert_non_null(out);
	assert_int_equal(ob_cloud_key_private_pem(key, pem, sizeof(pem)), 0);
	ob_base64url_encode((const unsigned char *)header_json, strlen(header_json), out);
	used = strlen(out);
	out[used++] = '.';
	ob_base64url_encode((const unsigned char *)payload, strlen(payload), out + used);
	used += strlen(out + used);
	mbedtls_pk_init(&pk);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	assert_int_equal(mbedtls_pk_parse_key(&pk, (const unsigned char *)pem, strlen(pem) + 1,
					      NULL, 0), 0);
	pair = mbedtls_pk_ec(pk);
	assert_int_equal(mbedtls_sha256_ret((const unsigned char *)out, used, digest, 0), 0);
	assert_int_equal(mbedtls_ecdsa_sign_det_ext(&pair->grp, &r, &s, &pair->d, digest, 32,
						    MBEDTLS_MD_SHA256, ob_random_mbedtls, NULL), 0);
	assert_int_equal(mbedtls_mpi_write_binary(&r, signature, 32), 0);
	assert_int_equal(mbedtls_mpi_write_binary(&s, signature + 32, 32), 0);
	out[used++] = '.';
	ob_base64url_encode(signature, sizeof(signature), out + used);
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&r);
	mbedtls_pk_free(&pk);
	ob_secure_zero(pem, sizeof(pem));
	return out;
}

/* Checks text and expects a refusal with code want and a message holding fragment. */
static void expect_refused(const char *what, const char *text, enum ob_cloud_refusal want,
			   const char *fragment)
{
	struct ob_cloud_bundle out;
	enum ob_cloud_refusal why = OB_CLOUD_ACCEPTED;
	char err[768] = "";
	int ret = ob_cloud_bundle_check(text, strlen(text), &ring, DEVICE, NOW_MS, &out, &why, err,
					sizeof(err));

	if (ret != OB_EINVAL || why != want)
		fail_msg("%s: got %d, %s (%s); wanted %s", what, ret, ob_cloud_refusal_code(why), err,
			 ob_cloud_refusal_code(want));
	if (!strstr(err, fragment))
		fail_msg("%s: message \"%s\" lacks \"%s\"", what, err, fragment);
	/* Nothing of a refused bundle is left to use. */
	assert_null(out.payload);
	assert_int_equal(out.generation, 0);
	assert_string_equal(out.kid, "");
}

/* Checks text and expects it to pass; the caller clears *out. */
static void expect_accepted(const char *what, const char *text, struct ob_cloud_bundle *out)
{
	enum ob_cloud_refusal why = OB_CLOUD_INVALID;
	char err[768] = "";

	if (ob_cloud_bundle_check(text, strlen(text), &ring, DEVICE, NOW_MS, out, &why, err,
				  sizeof(err)) != 0)
		fail_msg("%s: refused (%s): %s", what, ob_cloud_refusal_code(why), err);
	assert_int_equal(why, OB_CLOUD_ACCEPTED);
}

static void test_good_bundle_fills_every_field(void **state)
{
	json_t *claims = good_claims();
	char *text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	struct ob_cloud_bundle out;
	int64_t issued;
	int64_t expires;

	(void)state;
	expect_accepted("good", text, &out);
	assert_int_equal(out.generation, 42);
	assert_string_equal(out.device_id, DEVICE);
	assert_string_equal(out.kid, pinned_kid);
	assert_string_equal(out.compat, OB_CLOUD_BUNDLE_COMPAT);
	assert_int_equal(ob_time_parse_iso8601(json_string_value(json_object_get(claims,
										 "issued_at")),
					       &issued), 0);
	assert_int_equal(ob_time_parse_iso8601(json_string_value(json_object_get(claims,
										 "expires_at")),
					       &expires), 0);
	assert_int_equal(out.issued_at_ms, issued);
	assert_int_equal(out.expires_at_ms, expires);
	assert_int_equal(out.poll_interval_s, 60);
	assert_true(json_equal(out.payload, json_object_get(claims, "payload")));
	/* The payload is the bundle's own reference: it outlives the claims. */
	json_decref(claims);
	assert_string_equal(json_string_value(json_object_get(json_object_get(out.payload,
									      "settings"),
							      "box_name")),
			    "edge-1");
	ob_cloud_bundle_clear(&out);
	assert_null(out.payload);
	assert_int_equal(out.generation, 0);
	free(text);
}

/* ---- the envelope: parse, alg, typ, kid, signature ---- */

static void test_envelope_refusals(void **state)
{
	json_t *claims = good_claims();
	char *payload = json_dumps(claims, JSON_COMPACT);
	char header[256];
	char *text;

	(void)state;
	expect_refused("not a JWS", "hello, control plane", OB_CLOUD_BAD_SIGNATURE,
		       "not a compact JWS");
	expect_refused("empty", "", OB_CLOUD_BAD_SIGNATURE, "not a compact JWS");
	expect_refused("four parts", "a.b.c.d", OB_CLOUD_BAD_SIGNATURE, "not a compact JWS");

	/* A good ES256 signature by the pinned key, under a header that says HS256. */
	snprintf(header, sizeof(header), "{\"alg\":\"HS256\",\"typ\":\"%s\",\"kid\":\"%s\"}",
		 OB_CLOUD_BUNDLE_TYP, pinned_kid);
	text = sign_raw(pinned, header, payload);
	expect_refused("alg HS256", text, OB_CLOUD_BAD_SIGNATURE, "alg is \"HS256\"");
	free(text);
	snprintf(header, sizeof(header), "{\"alg\":\"none\",\"typ\":\"%s\"}", OB_CLOUD_BUNDLE_TYP);
	text = sign_raw(pinned, header, payload);
	expect_refused("alg none", text, OB_CLOUD_BAD_SIGNATURE, "only ES256");
	free(text);
	/* The construction is sound: the same signing under an ES256 header passes. */
	snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"typ\":\"%s\",\"kid\":\"%s\"}",
		 OB_CLOUD_BUNDLE_TYP, pinned_kid);
	text = sign_raw(pinned, header, payload);
	{
		struct ob_cloud_bundle out;

		expect_accepted("raw ES256", text, &out);
		ob_cloud_bundle_clear(&out);
	}
	free(text);

	text = sign_claims(pinned, "JWT", pinned_kid, claims);
	expect_refused("typ JWT", text, OB_CLOUD_BAD_SIGNATURE, "typ is \"JWT\"");
	free(text);
	text = sign_claims(pinned, NULL, pinned_kid, claims);
	expect_refused("no typ", text, OB_CLOUD_BAD_SIGNATURE, "typ is \"(none)\"");
	free(text);

	/* A kid that names no pinned key, even when the key that signed is pinned. */
	text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, "0123456789abcdef", claims);
	expect_refused("unknown kid", text, OB_CLOUD_UNKNOWN_KEY, "\"0123456789abcdef\"");
	free(text);
	text = sign_claims(unpinned, OB_CLOUD_BUNDLE_TYP, unpinned_kid, claims);
	expect_refused("unpinned kid", text, OB_CLOUD_UNKNOWN_KEY, "pins 2 keys");
	free(text);

	/* An unpinned key signing under a pinned key's kid. */
	text = sign_claims(unpinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	expect_refused("forged kid", text, OB_CLOUD_BAD_SIGNATURE, "does not verify");
	free(text);
	/* The kid of one pinned key, the signature of the other. */
	text = sign_claims(pinned2, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	expect_refused("kid of the other pinned key", text, OB_CLOUD_BAD_SIGNATURE,
		       "does not verify");
	free(text);

	/* Changed payload bytes under the original signature. */
	text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	{
		char *dot1 = strchr(text, '.');
		char *dot2 = strchr(dot1 + 1, '.');
		json_t *changed = good_claims();
		char *changed_text;
		char *forged;
		size_t len;

		json_object_set_new(changed, "generation", json_integer(43));
		changed_text = json_dumps(changed, JSON_COMPACT);
		len = strlen(text) + ob_base64url_len(strlen(changed_text)) + 1;
		forged = malloc(len);
		assert_non_null(forged);
		memcpy(forged, text, (size_t)(dot1 + 1 - text));
		ob_base64url_encode((const unsigned char *)changed_text, strlen(changed_text),
				    forged + (dot1 + 1 - text));
		strcat(forged, dot2);
		expect_refused("changed payload", forged, OB_CLOUD_BAD_SIGNATURE, "does not verify");
		/* One flipped character of the payload part too. */
		dot1[5] = dot1[5] == 'A' ? 'B' : 'A';
		expect_refused("flipped payload byte", text, OB_CLOUD_BAD_SIGNATURE, "");
		free(forged);
		free(changed_text);
		json_decref(changed);
	}
	free(text);
	free(payload);
	json_decref(claims);
}

/* ---- the claims, after the signature verified ---- */

static const struct {
	const char *what;
	const char *member;       /* the claim set or removed */
	const char *value;        /* its JSON, or NULL to remove it */
	enum ob_cloud_refusal want;
	const char *fragment;
} claim_cases[] = {
	{ "compat 2", "compat", "\"ottbox-bundle/2\"", OB_CLOUD_INCOMPATIBLE,
	  "\"ottbox-bundle/2\" is not one this box reads" },
	{ "compat number", "compat", "1", OB_CLOUD_INCOMPATIBLE, "(none)" },
	{ "no compat", "compat", NULL, OB_CLOUD_INCOMPATIBLE, "(none)" },
	{ "another device", "device_id", "\"" OTHER_DEVICE "\"", OB_CLOUD_WRONG_DEVICE,
	  "for device \"" OTHER_DEVICE "\", not this box (" DEVICE ")" },
	{ "empty device", "device_id", "\"\"", OB_CLOUD_WRONG_DEVICE, "not this box" },
	{ "no device", "device_id", NULL, OB_CLOUD_WRONG_DEVICE, "(none)" },
	{ "expired an hour ago", "expires_at", "\"2026-09-21T13:13:20Z\"", OB_CLOUD_EXPIRED,
	  "expired at 2026-09-21T13:13:20" },
	{ "expires now", "expires_at", "\"2026-09-21T14:13:20Z\"", OB_CLOUD_EXPIRED, "expired at" },
	{ "expires_at not a time", "expires_at", "\"tomorrow\"", OB_CLOUD_INVALID, "expires_at: " },
	{ "expires_at a number", "expires_at", "1790000000", OB_CLOUD_INVALID, "expires_at: " },
	{ "expires_at without zone", "expires_at", "\"2026-12-25T10:00:00\"", OB_CLOUD_INVALID,
	  "expires_at: an RFC 3339 time" },
	{ "no expires_at", "expires_at", NULL, OB_CLOUD_INVALID, "expires_at: " },
	{ "issued_at not a time", "issued_at", "\"2026-13-45\"", OB_CLOUD_INVALID, "issued_at: " },
	{ "no issued_at", "issued_at", NULL, OB_CLOUD_INVALID, "issued_at: " },
	{ "generation 0", "generation", "0", OB_CLOUD_INVALID, "generation: " },
	{ "generation -1", "generation", "-1", OB_CLOUD_INVALID, "generation: " },
	{ "generation 1.5", "generation", "1.5", OB_CLOUD_INVALID, "generation: " },
	{ "generation 2.0", "generation", "2.0", OB_CLOUD_INVALID, "generation: " },
	{ "generation \"2\"", "generation", "\"2\"", OB_CLOUD_INVALID, "generation: " },
	{ "generation true", "generation", "true", OB_CLOUD_INVALID, "generation: " },
	{ "no generation", "generation", NULL, OB_CLOUD_INVALID, "generation: " },
	{ "poll 9", "poll_interval_s", "9", OB_CLOUD_INVALID, "poll_interval_s: " },
	{ "poll 86401", "poll_interval_s", "86401", OB_CLOUD_INVALID,
	  "poll_interval_s: a whole number of seconds from 10 to 86400" },
	{ "poll 0", "poll_interval_s", "0", OB_CLOUD_INVALID, "poll_interval_s: " },
	{ "poll \"60\"", "poll_interval_s", "\"60\"", OB_CLOUD_INVALID, "poll_interval_s: " },
	{ "poll 60.5", "poll_interval_s", "60.5", OB_CLOUD_INVALID, "poll_interval_s: " },
	{ "poll null", "poll_interval_s", "null", OB_CLOUD_INVALID, "poll_interval_s: " },
	{ "poll huge", "poll_interval_s", "4294967356", OB_CLOUD_INVALID, "poll_interval_s: " },
	{ "payload array", "payload", "[]", OB_CLOUD_INVALID, "payload: an object" },
	{ "payload string", "payload", "\"{}\"", OB_CLOUD_INVALID, "payload: an object" },
	{ "payload null", "payload", "null", OB_CLOUD_INVALID, "payload: an object" },
	{ "no payload", "payload", NULL, OB_CLOUD_INVALID, "payload: an object" },
};

static void test_claim_refusals(void **state)
{
	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(claim_cases); i++) {
		json_t *claims = good_claims();
		char *text;

		if (claim_cases[i].value) {
			json_t *value = json_loads(claim_cases[i].value, JSON_DECODE_ANY, NULL);

			assert_non_null(value);
			json_object_set_new(claims, claim_cases[i].member, value);
		} else {
			json_object_del(claims, claim_cases[i].member);
		}
		text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
		expect_refused(claim_cases[i].what, text, claim_cases[i].want,
			       claim_cases[i].fragment);
		free(text);
		json_decref(claims);
	}
}

/* Claims that are no JSON object, under a good signature. */
static void test_claims_not_an_object(void **state)
{
	static const char *const payloads[] = { "[1,2]", "\"bundle\"", "42", "null", "{", "",
						"{\"generation\":1,\"generation\":2}" };
	char header[256];

	(void)state;
	snprintf(header, sizeof(header), "{\"alg\":\"ES256\",\"typ\":\"%s\",\"kid\":\"%s\"}",
		 OB_CLOUD_BUNDLE_TYP, pinned_kid);
	for (size_t i = 0; i < OB_ARRAY_SIZE(payloads); i++) {
		char *text = sign_raw(pinned, header, payloads[i]);

		expect_refused(payloads[i], text, OB_CLOUD_INVALID, "the bundle's payload is not");
		free(text);
	}
}

/* The checks run in the protocol's order: the first that fails is the one reported. */
static void test_refusals_in_protocol_order(void **state)
{
	json_t *claims = good_claims();
	char *text;

	(void)state;
	json_object_set_new(claims, "compat", json_string("ottbox-bundle/9"));
	json_object_set_new(claims, "device_id", json_string(OTHER_DEVICE));
	json_object_set_new(claims, "expires_at", iso(NOW_MS - HOUR_MS));
	json_object_set_new(claims, "generation", json_integer(0));
	/* An unknown kid before a bad signature, a signature before every claim. */
	text = sign_claims(unpinned, OB_CLOUD_BUNDLE_TYP, unpinned_kid, claims);
	expect_refused("unknown key first", text, OB_CLOUD_UNKNOWN_KEY, "");
	free(text);
	text = sign_claims(unpinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	expect_refused("signature first", text, OB_CLOUD_BAD_SIGNATURE, "");
	free(text);
	text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	expect_refused("compat first", text, OB_CLOUD_INCOMPATIBLE, "");
	free(text);
	json_object_set_new(claims, "compat", json_string(OB_CLOUD_BUNDLE_COMPAT));
	text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	expect_refused("device next", text, OB_CLOUD_WRONG_DEVICE, "");
	free(text);
	json_object_set_new(claims, "device_id", json_string(DEVICE));
	text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	expect_refused("expiry next", text, OB_CLOUD_EXPIRED, "");
	free(text);
	json_object_set_new(claims, "expires_at", iso(NOW_MS + HOUR_MS));
	text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	expect_refused("generation last", text, OB_CLOUD_INVALID, "generation");
	free(text);
	json_decref(claims);
}

/* What passes besides the plain good bundle. */
static void test_accepted_variants(void **state)
{
	static const struct {
		const char *what;
		const char *member;
		const char *value;     /* JSON, or NULL to remove the member */
		int poll;              /* the poll_interval_s that results */
	} cases[] = {
		{ "every box", "device_id", "\"*\"", 60 },
		{ "poll 10", "poll_interval_s", "10", 10 },
		{ "poll 86400", "poll_interval_s", "86400", 86400 },
		{ "no poll", "poll_interval_s", NULL, 0 },
		{ "empty payload", "payload", "{}", 60 },
		{ "generation 1", "generation", "1", 60 },
		{ "offset time", "expires_at", "\"2026-09-21T16:13:20+01:00\"", 60 },
		{ "fractional time", "issued_at", "\"2026-09-21T13:13:20.250Z\"", 60 },
		{ "expires in a second", "expires_at", "\"2026-09-21T14:13:21Z\"", 60 },
	};

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(cases); i++) {
		json_t *claims = good_claims();
		struct ob_cloud_bundle out;
		char *text;

		if (cases[i].value)
			json_object_set_new(claims, cases[i].member,
					    json_loads(cases[i].value, JSON_DECODE_ANY, NULL));
		else
			json_object_del(claims, cases[i].member);
		text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
		expect_accepted(cases[i].what, text, &out);
		if (out.poll_interval_s != cases[i].poll)
			fail_msg("%s: poll_interval_s %d", cases[i].what, out.poll_interval_s);
		assert_true(json_is_object(out.payload));
		if (strcmp(cases[i].member, "device_id") == 0)
			assert_string_equal(out.device_id, "*");
		ob_cloud_bundle_clear(&out);
		free(text);
		json_decref(claims);
	}
}

/* Without a kid every pinned key is tried; the one that verified is named. */
static void test_no_kid_tries_every_pinned_key(void **state)
{
	json_t *claims = good_claims();
	struct ob_cloud_bundle out;
	char *text;

	(void)state;
	text = sign_claims(pinned2, OB_CLOUD_BUNDLE_TYP, NULL, claims);
	expect_accepted("second pinned key", text, &out);
	assert_string_equal(out.kid, pinned2_kid);
	ob_cloud_bundle_clear(&out);
	free(text);
	text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, NULL, claims);
	expect_accepted("first pinned key", text, &out);
	assert_string_equal(out.kid, pinned_kid);
	ob_cloud_bundle_clear(&out);
	free(text);
	text = sign_claims(unpinned, OB_CLOUD_BUNDLE_TYP, NULL, claims);
	expect_refused("no pinned key", text, OB_CLOUD_BAD_SIGNATURE,
		       "does not verify with the pinned keys");
	free(text);
	/* A ring with no keys verifies nothing. */
	{
		struct ob_cloud_keyring empty = { 0 };
		struct ob_cloud_bundle none;
		enum ob_cloud_refusal why;
		char err[512];

		text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, NULL, claims);
		assert_int_equal(ob_cloud_bundle_check(text, strlen(text), &empty, DEVICE, NOW_MS,
						       &none, &why, err, sizeof(err)),
				 OB_EINVAL);
		assert_int_equal(why, OB_CLOUD_BAD_SIGNATURE);
		assert_null(none.payload);
		free(text);
	}
	json_decref(claims);
}

/* The text is read to len, not to a NUL: bytes after it do not count. */
static void test_length_is_the_bound(void **state)
{
	json_t *claims = good_claims();
	char *text = sign_claims(pinned, OB_CLOUD_BUNDLE_TYP, pinned_kid, claims);
	size_t len = strlen(text);
	char *longer = malloc(len + 8);
	struct ob_cloud_bundle out;
	enum ob_cloud_refusal why;
	char err[512];

	(void)state;
	assert_non_null(longer);
	memcpy(longer, text, len);
	memcpy(longer + len, "garbage", 8);
	assert_int_equal(ob_cloud_bundle_check(longer, len, &ring, DEVICE, NOW_MS, &out, &why, err,
					       sizeof(err)), 0);
	ob_cloud_bundle_clear(&out);
	/* One byte short of the signature is refused. */
	assert_int_equal(ob_cloud_bundle_check(text, len - 1, &ring, DEVICE, NOW_MS, &out, &why, err,
					       sizeof(err)), OB_EINVAL);
	assert_int_equal(why, OB_CLOUD_BAD_SIGNATURE);
	free(longer);
	free(text);
	json_decref(claims);
}

static void test_refusal_codes(void **state)
{
	static const char *const codes[] = {
		[OB_CLOUD_ACCEPTED] = "accepted",
		[OB_CLOUD_BAD_SIGNATURE] = "bad_signature",
		[OB_CLOUD_UNKNOWN_KEY] = "unknown_key",
		[OB_CLOUD_INCOMPATIBLE] = "incompatible",
		[OB_CLOUD_WRONG_DEVICE] = "wrong_device",
		[OB_CLOUD_EXPIRED] = "expired",
		[OB_CLOUD_OLD_GENERATION] = "old_generation",
		[OB_CLOUD_INVALID] = "invalid",
	};

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(codes); i++)
		assert_string_equal(ob_cloud_refusal_code((enum ob_cloud_refusal)i), codes[i]);
	assert_string_equal(ob_cloud_refusal_code((enum ob_cloud_refusal)99), "invalid");
}

/* ---- the pinned keys ---- */

static void test_keyring_loads_up_to_eight(void **state)
{
	struct ob_cloud_keyring loaded;
	json_t *pems = json_array();
	struct ob_cloud_key *keys[OB_CLOUD_PINNED_KEYS_MAX];
	char err[512];

	(void)state;
	for (size_t i = 0; i < OB_CLOUD_PINNED_KEYS_MAX; i++) {
		assert_int_equal(ob_cloud_key_generate(&keys[i]), 0);
		json_array_append_new(pems, public_pem(keys[i]));
	}
	assert_int_equal(ob_cloud_keyring_load(pems, &loaded, err, sizeof(err)), 0);
	assert_int_equal(loaded.count, OB_CLOUD_PINNED_KEYS_MAX);
	for (size_t i = 0; i < OB_CLOUD_PINNED_KEYS_MAX; i++) {
		char kid[OB_CLOUD_KEY_ID_CHARS + 1];

		ob_cloud_key_id(keys[i], kid);
		assert_string_equal(loaded.kids[i], kid);
		assert_false(ob_cloud_key_has_private(loaded.keys[i]));
	}
	/* The last key of eight verifies a bundle named by its kid. */
	{
		json_t *claims = good_claims();
		char *text = sign_claims(keys[7], OB_CLOUD_BUNDLE_TYP, loaded.kids[7], claims);
		struct ob_cloud_bundle out;
		enum ob_cloud_refusal why;

		assert_int_equal(ob_cloud_bundle_check(text, strlen(text), &loaded, DEVICE, NOW_MS,
						       &out, &why, err, sizeof(err)), 0);
		assert_string_equal(out.kid, loaded.kids[7]);
		ob_cloud_bundle_clear(&out);
		free(text);
		json_decref(claims);
	}
	ob_cloud_keyring_clear(&loaded);
	assert_int_equal(loaded.count, 0);
	assert_null(loaded.keys[0]);
	/* A ninth is one too many. */
	json_array_append_new(pems, public_pem(pinned));
	assert_int_equal(ob_cloud_keyring_load(pems, &loaded, err, sizeof(err)), OB_EINVAL);
	assert_non_null(strstr(err, "bundle_keys: a list of 1 to 8"));
	assert_int_equal(loaded.count, 0);
	for (size_t i = 0; i < OB_CLOUD_PINNED_KEYS_MAX; i++)
		ob_cloud_key_free(&keys[i]);
	json_decref(pems);
}

static void test_keyring_refusals(void **state)
{
	static const struct {
		const char *what;
		const char *second;   /* JSON of bundle_keys[1] after a good key; NULL: whole list */
		const char *list;     /* the whole list, when second is NULL */
		const char *fragment;
	} cases[] = {
		{ "not a list", NULL, "{\"pem\":\"x\"}", "bundle_keys: a list of 1 to 8" },
		{ "a string", NULL, "\"-----BEGIN PUBLIC KEY-----\"", "bundle_keys: a list" },
		{ "empty list", NULL, "[]", "bundle_keys: a list of 1 to 8" },
		{ "a number", "42", NULL, "bundle_keys[1]: a PEM public key, as a string" },
		{ "null", "null", NULL, "bundle_keys[1]: a PEM public key, as a string" },
		{ "an object", "{}", NULL, "bundle_keys[1]: a PEM public key, as a string" },
		{ "text", "\"hello\"", NULL, "bundle_keys[1]: not a public key in PEM or DER" },
		{ "empty text", "\"\"", NULL, "bundle_keys[1]: not a public key" },
		{ "private key", "PRIVATE", NULL, "bundle_keys[1]: not a public key" },
		{ "P-384", "P384", NULL, "bundle_keys[1]: the public key is not an ECDSA P-256 key" },
		{ "secp256k1", "K256", NULL, "bundle_keys[1]: the public key is not an ECDSA P-256" },
		{ "RSA", "RSA", NULL, "bundle_keys[1]: the public key is not an ECDSA P-256 key" },
	};

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(cases); i++) {
		struct ob_cloud_keyring loaded;
		json_t *pems;
		char err[512] = "";

		if (!cases[i].second) {
			pems = json_loads(cases[i].list, JSON_DECODE_ANY, NULL);
		} else {
			json_t *second;

			if (strcmp(cases[i].second, "PRIVATE") == 0)
				second = json_string(RFC_PRIVATE_SEC1_PEM);
			else if (strcmp(cases[i].second, "P384") == 0)
				second = json_string(P384_PUBLIC_PEM);
			else if (strcmp(cases[i].second, "K256") == 0)
				second = json_string(K256_PUBLIC_PEM);
			else if (strcmp(cases[i].second, "RSA") == 0)
				second = json_string(RSA_PUBLIC_PEM);
			else
				second = json_loads(cases[i].second, JSON_DECODE_ANY, NULL);
			pems = json_pack("[o, o]", public_pem(pinned), second);
		}
		assert_non_null(pems);
		memset(&loaded, 0xa5, sizeof(loaded));
		if (ob_cloud_keyring_load(pems, &loaded, err, sizeof(err)) != OB_EINVAL)
			fail_msg("%s: loaded", cases[i].what);
		if (!strstr(err, cases[i].fragment))
			fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].what, err,
				 cases[i].fragment);
		/* Nothing half-loaded stays behind (ASan sees a leaked first key). */
		assert_int_equal(loaded.count, 0);
		assert_null(loaded.keys[0]);
		json_decref(pems);
	}
	/* A NULL list is refused like any other non-list. */
	{
		struct ob_cloud_keyring loaded;
		char err[512] = "";

		assert_int_equal(ob_cloud_keyring_load(NULL, &loaded, err, sizeof(err)), OB_EINVAL);
		assert_non_null(strstr(err, "bundle_keys"));
	}
	/* The first entry is named as [0]. */
	{
		struct ob_cloud_keyring loaded;
		json_t *pems = json_pack("[s]", P384_PUBLIC_PEM);
		char err[512] = "";

		assert_int_equal(ob_cloud_keyring_load(pems, &loaded, err, sizeof(err)), OB_EINVAL);
		assert_non_null(strstr(err, "bundle_keys[0]: "));
		json_decref(pems);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_bundle_fills_every_field),
		cmocka_unit_test(test_envelope_refusals),
		cmocka_unit_test(test_claim_refusals),
		cmocka_unit_test(test_claims_not_an_object),
		cmocka_unit_test(test_refusals_in_protocol_order),
		cmocka_unit_test(test_accepted_variants),
		cmocka_unit_test(test_no_kid_tries_every_pinned_key),
		cmocka_unit_test(test_length_is_the_bound),
		cmocka_unit_test(test_refusal_codes),
		cmocka_unit_test(test_keyring_loads_up_to_eight),
		cmocka_unit_test(test_keyring_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
