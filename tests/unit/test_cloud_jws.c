/* Compact JWS with ES256: strict base64url, the RFC 7515 A.3 vector, sign and verify, every
 * alg but ES256 refused, tampering, malformed and oversized text, the size limits, and P-256
 * keys in PEM (SEC1, PKCS#8, SubjectPublicKeyInfo; other curves and mismatched pairs
 * refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cloud/jws.h"
#include "cloud_vectors.h"
#include "core/err.h"
#include "core/rand.h"
#include "core/util.h"

/* Base64url of a string, into a new buffer. */
static char *b64(const void *data, size_t len)
{
	char *out = malloc(ob_base64url_len(len) + 1);

	assert_non_null(out);
	ob_base64url_encode(data, len, out);
	return out;
}

/* "b64(header).b64(payload).signature" from parts. */
static char *compact(const char *header_json, const char *payload, const char *signature_b64)
{
	char *h = b64(header_json, strlen(header_json));
	char *p = b64(payload, strlen(payload));
	size_t len = strlen(h) + strlen(p) + strlen(signature_b64) + 3;
	char *out = malloc(len);

	assert_non_null(out);
	snprintf(out, len, "%s.%s.%s", h, p, signature_b64);
	free(h);
	free(p);
	return out;
}

static struct ob_cloud_key *load_key(const char *pem, bool private_key)
{
	struct ob_cloud_key *key = NULL;
	char err[256];

	if (ob_cloud_key_from_pem(pem, strlen(pem), private_key, &key, err, sizeof(err)) != 0)
		fail_msg("key does not load: %s", err);
	return key;
}

/* Parses and verifies text with key: 0, or the first error. */
static int parse_and_verify(const char *text, const struct ob_cloud_key *key)
{
	struct ob_jws jws;
	char err[256];
	int ret = ob_cloud_jws_parse(text, strlen(text), &jws, err, sizeof(err));

	if (ret == 0)
		ret = ob_cloud_jws_verify(&jws, key);
	else
		assert_true(err[0] != '\0');
	ob_cloud_jws_clear(&jws);
	return ret;
}

/* ---- base64url ---- */

static const struct {
	const char *text;
	const char *bytes;   /* expected decoding, or NULL when refused */
	size_t bytes_len;
} b64_cases[] = {
	{ "", "", 0 },
	{ "Zg", "f", 1 },
	{ "Zm8", "fo", 2 },
	{ "Zm9v", "foo", 3 },
	{ "Zm9vYg", "foob", 4 },
	{ "Zm9vYmE", "fooba", 5 },
	{ "Zm9vYmFy", "foobar", 6 },
	{ "-_8", "\xfb\xff", 2 },          /* the two characters base64url changes */
	{ "AAAA", "\0\0\0", 3 },
	{ "Zh", NULL, 0 },                 /* 'h' leaves bits set that "f" does not use */
	{ "Zm9", NULL, 0 },                /* '9' likewise for "fo" */
	{ "Zg==", NULL, 0 },               /* padding */
	{ "Zm8=", NULL, 0 },
	{ "Zm9v=", NULL, 0 },
	{ "Z", NULL, 0 },                  /* 4n+1 characters never decode */
	{ "Zm9vY", NULL, 0 },
	{ "Zm+v", NULL, 0 },               /* the standard alphabet's '+' and '/' */
	{ "Zm/v", NULL, 0 },
	{ "Zm 9v", NULL, 0 },
	{ "Zm9v\n", NULL, 0 },
	{ "Zm.v", NULL, 0 },
	{ "Zm\xc3\xa9", NULL, 0 },
};

static void test_base64url_decoding(void **state)
{
	unsigned char out[16];
	size_t len;

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(b64_cases); i++) {
		int ret = ob_cloud_base64url_decode(b64_cases[i].text, strlen(b64_cases[i].text), out,
						    sizeof(out), &len);

		if (b64_cases[i].bytes) {
			if (ret != 0 || len != b64_cases[i].bytes_len ||
			    memcmp(out, b64_cases[i].bytes, len) != 0)
				fail_msg("\"%s\": got %d, %zu bytes", b64_cases[i].text, ret, len);
		} else if (ret != OB_EINVAL) {
			fail_msg("\"%s\": accepted (%d)", b64_cases[i].text, ret);
		}
	}
	/* A NUL inside the counted length is a bad character, not an end. */
	assert_int_equal(ob_cloud_base64url_decode("Zm\0v", 4, out, sizeof(out), &len), OB_EINVAL);
	/* One byte too small a buffer. */
	assert_int_equal(ob_cloud_base64url_decode("Zm9vYmFy", 8, out, 5, &len), OB_ETOOBIG);
	assert_int_equal(ob_cloud_base64url_decode("Zm9vYmFy", 8, out, 6, &len), 0);
	assert_int_equal(len, 6);
}

static void test_base64url_round_trip(void **state)
{
	unsigned char data[64];
	unsigned char back[64];
	char text[OB_BASE64URL_CHARS(64) + 1];

	(void)state;
	for (size_t len = 0; len <= sizeof(data); len++) {
		size_t got;

		assert_int_equal(ob_random_bytes(data, len), 0);
		ob_base64url_encode(data, len, text);
		assert_int_equal(strlen(text), OB_BASE64URL_CHARS(len));
		assert_int_equal(ob_cloud_base64url_decoded_len(strlen(text)), len);
		assert_int_equal(ob_cloud_base64url_decode(text, strlen(text), back, sizeof(back), &got),
				 0);
		assert_int_equal(got, len);
		assert_memory_equal(back, data, len);
	}
}

/* ---- the RFC vector ---- */

static void test_rfc7515_a3_verifies(void **state)
{
	struct ob_cloud_key *key = load_key(RFC_PUBLIC_PEM, false);
	unsigned char x[32], y[32], want_x[32], want_y[32];
	struct ob_jws jws;
	char err[256];
	size_t len;

	(void)state;
	/* The PEM holds the RFC's coordinates. */
	assert_int_equal(ob_cloud_key_public_xy(key, x, y), 0);
	assert_int_equal(ob_cloud_base64url_decode(RFC_X, strlen(RFC_X), want_x, 32, &len), 0);
	assert_int_equal(ob_cloud_base64url_decode(RFC_Y, strlen(RFC_Y), want_y, 32, &len), 0);
	assert_memory_equal(x, want_x, 32);
	assert_memory_equal(y, want_y, 32);

	assert_int_equal(ob_cloud_jws_parse(RFC_JWS, strlen(RFC_JWS), &jws, err, sizeof(err)), 0);
	assert_string_equal(jws.alg, "ES256");
	assert_null(jws.typ);
	assert_null(jws.kid);
	assert_int_equal(jws.payload_len, strlen(RFC_PAYLOAD_TEXT));
	assert_memory_equal(jws.payload, RFC_PAYLOAD_TEXT, jws.payload_len);
	assert_int_equal(jws.payload[jws.payload_len], '\0');
	assert_int_equal(jws.signature_len, 64);
	assert_int_equal(ob_cloud_jws_verify(&jws, key), 0);
	ob_cloud_jws_clear(&jws);
	assert_null(jws.header);
	ob_cloud_key_free(&key);
	assert_null(key);
}

/* Every one-character change anywhere in the RFC's JWS is refused. */
static void test_rfc7515_a3_tampered(void **state)
{
	struct ob_cloud_key *key = load_key(RFC_PUBLIC_PEM, false);
	struct ob_cloud_key *other = NULL;
	char text[sizeof(RFC_JWS)];

	(void)state;
	for (size_t i = 0; i < strlen(RFC_JWS); i++) {
		if (RFC_JWS[i] == '.')
			continue;
		memcpy(text, RFC_JWS, sizeof(text));
		text[i] = text[i] == 'A' ? 'B' : 'A';
		if (parse_and_verify(text, key) == 0)
			fail_msg("changed at %zu, still verifies: %s", i, text);
	}
	/* 'R' differs from the last character 'Q' only in bits the signature does not use: a
	 * lenient decoder reads the same signature, this one refuses the text. */
	memcpy(text, RFC_JWS, sizeof(text));
	text[strlen(text) - 1] = 'R';
	assert_int_equal(parse_and_verify(text, key), OB_EINVAL);
	/* Another key. */
	assert_int_equal(ob_cloud_key_generate(&other), 0);
	assert_int_equal(parse_and_verify(RFC_JWS, other), OB_EAUTH);
	ob_cloud_key_free(&other);
	ob_cloud_key_free(&key);
}

/* ---- signing ---- */

static void test_sign_verify_round_trip(void **state)
{
	struct ob_cloud_key *key = NULL;
	struct ob_cloud_key *other = NULL;
	json_t *header = json_pack("{s:s, s:s, s:s}", "typ", "test+jwt", "kid", "k1", "alg", "HS256");
	static const char payload[] = "{\"hello\":\"world\"}";
	char *text = NULL;
	char *again = NULL;
	struct ob_jws jws;
	char err[256];

	(void)state;
	assert_int_equal(ob_cloud_key_generate(&key), 0);
	assert_int_equal(ob_cloud_key_generate(&other), 0);
	assert_true(ob_cloud_key_has_private(key));
	assert_int_equal(ob_cloud_jws_sign(key, header, payload, strlen(payload), &text), 0);
	/* alg first and ES256 whatever the header said; the other members in order. */
	assert_int_equal(strncmp(text, "eyJhbGciOiJFUzI1NiIsInR5cCI6InRlc3Qrand0Iiwia2lkIjoiazEifQ.",
				 57), 0);
	assert_int_equal(ob_cloud_jws_parse(text, strlen(text), &jws, err, sizeof(err)), 0);
	assert_string_equal(jws.typ, "test+jwt");
	assert_string_equal(jws.kid, "k1");
	assert_int_equal(jws.payload_len, strlen(payload));
	assert_memory_equal(jws.payload, payload, jws.payload_len);
	assert_int_equal(ob_cloud_jws_verify(&jws, key), 0);
	assert_int_equal(ob_cloud_jws_verify(&jws, other), OB_EAUTH);
	ob_cloud_jws_clear(&jws);
	/* RFC 6979: the same key and input sign the same. */
	assert_int_equal(ob_cloud_jws_sign(key, header, payload, strlen(payload), &again), 0);
	assert_string_equal(text, again);
	free(again);
	free(text);

	/* An empty payload, no header members, and a payload of any bytes. */
	assert_int_equal(ob_cloud_jws_sign(key, NULL, "", 0, &text), 0);
	assert_int_equal(strncmp(text, "eyJhbGciOiJFUzI1NiJ9..", 22), 0);
	assert_int_equal(parse_and_verify(text, key), 0);
	free(text);
	assert_int_equal(ob_cloud_jws_sign(key, NULL, "\0\xff\n", 3, &text), 0);
	assert_int_equal(parse_and_verify(text, key), 0);
	free(text);

	/* A public key cannot sign; a header must be an object. */
	{
		struct ob_cloud_key *public_only = load_key(RFC_PUBLIC_PEM, false);
		json_t *array = json_array();

		assert_false(ob_cloud_key_has_private(public_only));
		assert_int_equal(ob_cloud_jws_sign(public_only, NULL, "x", 1, &text), OB_EINVAL);
		assert_null(text);
		assert_int_equal(ob_cloud_jws_sign(key, array, "x", 1, &text), OB_EINVAL);
		json_decref(array);
		ob_cloud_key_free(&public_only);
	}
	json_decref(header);
	ob_cloud_key_free(&other);
	ob_cloud_key_free(&key);
}

/* The RFC's private key signs what its public key verifies. */
static void test_sign_with_the_rfc_key(void **state)
{
	struct ob_cloud_key *sec1 = load_key(RFC_PRIVATE_SEC1_PEM, true);
	struct ob_cloud_key *pkcs8 = load_key(RFC_PRIVATE_PKCS8_PEM, true);
	struct ob_cloud_key *public_key = load_key(RFC_PUBLIC_PEM, false);
	char *text = NULL;

	(void)state;
	assert_int_equal(ob_cloud_jws_sign(sec1, NULL, "payload", 7, &text), 0);
	assert_int_equal(parse_and_verify(text, public_key), 0);
	free(text);
	assert_int_equal(ob_cloud_jws_sign(pkcs8, NULL, "payload", 7, &text), 0);
	assert_int_equal(parse_and_verify(text, public_key), 0);
	free(text);
	ob_cloud_key_free(&public_key);
	ob_cloud_key_free(&pkcs8);
	ob_cloud_key_free(&sec1);
}

/* ---- algs other than ES256 ---- */

/* b64(header).b64(payload) signed with the RFC's private key by mbedTLS directly, whatever
 * the header says: a good ES256 signature under any header. */
static char *sign_raw(const char *header_json, const char *payload)
{
	mbedtls_pk_context pk;
	mbedtls_ecp_keypair *pair;
	mbedtls_mpi r, s;
	unsigned char digest[32];
	unsigned char signature[64];
	char *input = compact(header_json, payload, "");
	size_t len = strlen(input) + OB_BASE64URL_CHARS(64) + 1;
	char *out = malloc(len);

	input[strlen(input) - 1] = '\0'; /* drop the last '.' */
	mbedtls_pk_init(&pk);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	assert_int_equal(mbedtls_pk_parse_key(&pk, (const unsigned char *)RFC_PRIVATE_SEC1_PEM,
					      sizeof(RFC_PRIVATE_SEC1_PEM), NULL, 0), 0);
	pair = mbedtls_pk_ec(pk);
	assert_int_equal(mbedtls_sha256_ret((const unsigned char *)input, strlen(input), digest, 0),
			 0);
	assert_int_equal(mbedtls_ecdsa_sign_det_ext(&pair->grp, &r, &s, &pair->d, digest, 32,
						    MBEDTLS_MD_SHA256, ob_random_mbedtls, NULL), 0);
	assert_int_equal(mbedtls_mpi_write_binary(&r, signature, 32), 0);
	assert_int_equal(mbedtls_mpi_write_binary(&s, signature + 32, 32), 0);
	snprintf(out, len, "%s.", input);
	ob_base64url_encode(signature, sizeof(signature), out + strlen(out));
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&r);
	mbedtls_pk_free(&pk);
	free(input);
	return out;
}

static void test_other_algs_refused(void **state)
{
	static const char *const algs[] = {
		"{\"alg\":\"none\"}", "{\"alg\":\"HS256\"}", "{\"alg\":\"ES384\"}",
		"{\"alg\":\"es256\"}", "{\"alg\":\"ES256 \"}", "{\"alg\":\"RS256\"}",
		"{\"alg\":\"PS256\"}", "{\"alg\":\"ES256K\"}", "{\"alg\":\"\"}",
	};
	struct ob_cloud_key *key = load_key(RFC_PUBLIC_PEM, false);
	unsigned char mac[32];
	char mac_b64[OB_BASE64URL_CHARS(32) + 1];
	char *text;

	(void)state;
	/* The construction is sound: under an ES256 header the signature verifies. */
	text = sign_raw("{\"alg\":\"ES256\",\"typ\":\"x\"}", "{\"generation\":99}");
	assert_int_equal(parse_and_verify(text, key), 0);
	free(text);
	/* The same good signature under any other alg is refused. */
	for (size_t i = 0; i < OB_ARRAY_SIZE(algs); i++) {
		text = sign_raw(algs[i], "{\"generation\":99}");
		if (parse_and_verify(text, key) != OB_EAUTH)
			fail_msg("%s accepted", algs[i]);
		free(text);
	}
	/* alg "none" with no signature at all. */
	text = compact("{\"alg\":\"none\"}", "{\"generation\":99}", "");
	assert_int_equal(parse_and_verify(text, key), OB_EAUTH);
	free(text);

	/* HS256 keyed with the public key's PEM: the classic confusion of key types. */
	text = compact("{\"alg\":\"HS256\"}", "{\"generation\":99}", "");
	*strrchr(text, '.') = '\0';
	assert_int_equal(mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
					 (const unsigned char *)RFC_PUBLIC_PEM, strlen(RFC_PUBLIC_PEM),
					 (const unsigned char *)text, strlen(text), mac), 0);
	ob_base64url_encode(mac, sizeof(mac), mac_b64);
	{
		size_t len = strlen(text) + strlen(mac_b64) + 2;
		char *full = malloc(len);

		snprintf(full, len, "%s.%s", text, mac_b64);
		assert_int_equal(parse_and_verify(full, key), OB_EAUTH);
		free(full);
	}
	free(text);
	ob_cloud_key_free(&key);
}

/* ---- malformed and oversized ---- */

static void test_malformed_jws(void **state)
{
	static const char *const headers[] = {
		"not json", "[\"alg\",\"ES256\"]", "\"ES256\"", "{}", "{\"alg\":256}",
		"{\"alg\":null}", "{\"alg\":\"ES256\",\"kid\":7}", "{\"alg\":\"ES256\",\"typ\":[]}",
		"{\"alg\":\"ES256\",\"crit\":[\"exp\"]}", "{\"alg\":\"ES256\",\"alg\":\"none\"}",
		"{\"alg\":\"ES256\"} trailing", "",
	};
	static const char *const texts[] = {
		"", ".", "..", "...", "a", "a.b", "a.b.c.d", "eyJhbGciOiJFUzI1NiJ9",
		"eyJhbGciOiJFUzI1NiJ9.e30", "eyJhbGciOiJFUzI1NiJ9.e30.AA.AA",
		"eyJhbGciOiJFUzI1NiJ9=.e30.", "eyJhbGciOiJFUzI1NiJ9.e30=.",
		"eyJhbGciOiJFUzI1NiJ9.e30.A", " " RFC_JWS, RFC_JWS " ", RFC_JWS "\n",
		RFC_HEADER "." RFC_PAYLOAD "." RFC_SIGNATURE "AAAA", /* 67 bytes of signature */
	};
	struct ob_jws jws;
	char err[256];

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(headers); i++) {
		char *text = compact(headers[i], "{}", RFC_SIGNATURE);

		err[0] = '\0';
		if (ob_cloud_jws_parse(text, strlen(text), &jws, err, sizeof(err)) == 0)
			fail_msg("header %s parsed", headers[i]);
		assert_true(err[0] != '\0');
		assert_null(jws.header);
		assert_null(jws.payload);
		free(text);
	}
	for (size_t i = 0; i < OB_ARRAY_SIZE(texts); i++) {
		err[0] = '\0';
		if (ob_cloud_jws_parse(texts[i], strlen(texts[i]), &jws, err, sizeof(err)) == 0)
			fail_msg("\"%s\" parsed", texts[i]);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(ob_cloud_jws_parse(NULL, 0, &jws, err, sizeof(err)), OB_EINVAL);
	assert_int_equal(ob_cloud_jws_verify(NULL, NULL), OB_EINVAL);
	/* A cleared JWS clears again. */
	ob_cloud_jws_clear(&jws);
}

/* A header of exactly OB_JWS_HEADER_MAX bytes and a payload of exactly OB_JWS_PAYLOAD_MAX
 * parse; one byte more does not. */
static void test_size_limits(void **state)
{
	struct ob_cloud_key *key = NULL;
	char *payload = malloc(OB_JWS_PAYLOAD_MAX + 1);
	char *header_text = malloc(OB_JWS_HEADER_MAX + 2);
	char *text = NULL;
	struct ob_jws jws;
	char err[256];
	size_t pad;

	(void)state;
	assert_int_equal(ob_cloud_key_generate(&key), 0);
	memset(payload, 'p', OB_JWS_PAYLOAD_MAX + 1);
	assert_int_equal(ob_cloud_jws_sign(key, NULL, payload, OB_JWS_PAYLOAD_MAX, &text), 0);
	assert_true(strlen(text) <= OB_JWS_TEXT_MAX);
	assert_int_equal(parse_and_verify(text, key), 0);
	free(text);
	assert_int_equal(ob_cloud_jws_sign(key, NULL, payload, OB_JWS_PAYLOAD_MAX + 1, &text),
			 OB_EINVAL);

	/* {"alg":"ES256","x":"ppp..."} of exactly the limit, then one more. */
	pad = OB_JWS_HEADER_MAX - strlen("{\"alg\":\"ES256\",\"x\":\"\"}");
	for (int extra = 0; extra <= 1; extra++) {
		snprintf(header_text, OB_JWS_HEADER_MAX + 2, "{\"alg\":\"ES256\",\"x\":\"%.*s\"}",
			 (int)(pad + (size_t)extra), payload);
		text = compact(header_text, "{}", RFC_SIGNATURE);
		assert_int_equal(ob_cloud_jws_parse(text, strlen(text), &jws, err, sizeof(err)),
				 extra ? OB_ETOOBIG : 0);
		ob_cloud_jws_clear(&jws);
		free(text);
	}
	/* The signing side keeps the same limit. */
	{
		json_t *header = json_pack("{s:s%}", "x", payload, pad + 1);

		assert_int_equal(ob_cloud_jws_sign(key, header, "x", 1, &text), OB_EINVAL);
		json_decref(header);
	}
	/* Text longer than any parseable JWS is refused before it is looked at. */
	{
		char *huge = malloc(OB_JWS_TEXT_MAX + 2);

		memset(huge, 'A', OB_JWS_TEXT_MAX + 1);
		huge[OB_JWS_TEXT_MAX + 1] = '\0';
		assert_int_equal(ob_cloud_jws_parse(huge, OB_JWS_TEXT_MAX + 1, &jws, err, sizeof(err)),
				 OB_ETOOBIG);
		free(huge);
	}
	free(header_text);
	free(payload);
	ob_cloud_key_free(&key);
}

/* ---- keys ---- */

static void test_keys_in_pem(void **state)
{
	struct ob_cloud_key *sec1 = load_key(RFC_PRIVATE_SEC1_PEM, true);
	struct ob_cloud_key *pkcs8 = load_key(RFC_PRIVATE_PKCS8_PEM, true);
	struct ob_cloud_key *public_key = load_key(RFC_PUBLIC_PEM, false);
	struct ob_cloud_key *back = NULL;
	struct ob_cloud_key *key = NULL;
	char pem[OB_CLOUD_KEY_PEM_MAX];
	char id[OB_CLOUD_KEY_ID_CHARS + 1];
	char err[256];

	(void)state;
	/* The id is the same from every form, and is what Python computed. */
	assert_int_equal(ob_cloud_key_id(sec1, id), 0);
	assert_string_equal(id, RFC_KEY_ID);
	assert_int_equal(ob_cloud_key_id(pkcs8, id), 0);
	assert_string_equal(id, RFC_KEY_ID);
	assert_int_equal(ob_cloud_key_id(public_key, id), 0);
	assert_string_equal(id, RFC_KEY_ID);

	/* Private and public PEM write and read back to the same key. */
	assert_int_equal(ob_cloud_key_private_pem(sec1, pem, sizeof(pem)), 0);
	assert_non_null(strstr(pem, "-----BEGIN EC PRIVATE KEY-----"));
	back = load_key(pem, true);
	assert_int_equal(ob_cloud_key_id(back, id), 0);
	assert_string_equal(id, RFC_KEY_ID);
	ob_cloud_key_free(&back);
	assert_int_equal(ob_cloud_key_public_pem(sec1, pem, sizeof(pem)), 0);
	assert_string_equal(pem, RFC_PUBLIC_PEM);
	/* A buffer one byte too small. */
	assert_int_equal(ob_cloud_key_public_pem(sec1, pem, strlen(RFC_PUBLIC_PEM)), OB_ETOOBIG);
	assert_int_equal(ob_cloud_key_private_pem(public_key, pem, sizeof(pem)), OB_EINVAL);

	/* Refused: a public key where a private one is wanted, another curve, a private key
	 * whose public part is another key's, and text that is no key. */
	assert_int_equal(ob_cloud_key_from_pem(RFC_PUBLIC_PEM, strlen(RFC_PUBLIC_PEM), true, &key,
					       err, sizeof(err)), OB_EINVAL);
	assert_null(key);
	assert_int_equal(ob_cloud_key_from_pem(P384_PUBLIC_PEM, strlen(P384_PUBLIC_PEM), false,
					       &key, err, sizeof(err)), OB_EINVAL);
	assert_non_null(strstr(err, "P-256"));
	assert_int_equal(ob_cloud_key_from_pem(MISMATCHED_PRIVATE_PEM,
					       strlen(MISMATCHED_PRIVATE_PEM), true, &key, err,
					       sizeof(err)), OB_EINVAL);
	assert_non_null(strstr(err, "does not match"));
	assert_int_equal(ob_cloud_key_from_pem("hello", 5, false, &key, err, sizeof(err)),
			 OB_EINVAL);
	assert_int_equal(ob_cloud_key_from_pem("", 0, true, &key, err, sizeof(err)), OB_EINVAL);
	/* PEM without a NUL at len: only the counted bytes are read. */
	assert_int_equal(ob_cloud_key_from_pem(RFC_PUBLIC_PEM "garbage", strlen(RFC_PUBLIC_PEM),
					       false, &key, err, sizeof(err)), 0);
	ob_cloud_key_free(&key);
	ob_cloud_key_free(&key); /* NULL is fine */
	ob_cloud_key_free(&public_key);
	ob_cloud_key_free(&pkcs8);
	ob_cloud_key_free(&sec1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64url_decoding),
		cmocka_unit_test(test_base64url_round_trip),
		cmocka_unit_test(test_rfc7515_a3_verifies),
		cmocka_unit_test(test_rfc7515_a3_tampered),
		cmocka_unit_test(test_sign_verify_round_trip),
		cmocka_unit_test(test_sign_with_the_rfc_key),
		cmocka_unit_test(test_other_algs_refused),
		cmocka_unit_test(test_malformed_jws),
		cmocka_unit_test(test_size_limits),
		cmocka_unit_test(test_keys_in_pem),
	};
	int ret;

	assert_int_equal(ob_random_init(), 0);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ob_random_free();
	return ret;
}
