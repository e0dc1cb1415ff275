/* The device identity: the key made once (0600 in a 0700 directory) and reused, key files
 * open to others, links and damaged files refused, the device id against an independent
 * computation, the JWK's coordinates, and the device token and enrollment JWS as the
 * protocol writes them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cloud/identity.h"
#include "cloud/jws.h"
#include "cloud_vectors.h"
#include "core/err.h"
#include "core/rand.h"
#include "core/util.h"

#define T0 INT64_C(1795000000)

struct fixture {
	char dir[64];        /* a data directory, removed after each test */
	char key_path[128];
};

static int setup(void **state)
{
	static struct fixture f;

	snprintf(f.dir, sizeof(f.dir), "/tmp/ottbox-identity-XXXXXX");
	if (!mkdtemp(f.dir))
		return -1;
	snprintf(f.key_path, sizeof(f.key_path), "%s/%s", f.dir, OB_CLOUD_KEY_FILE);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct ob_cloud_identity *open_ok(const struct fixture *f, bool *created)
{
	struct ob_cloud_identity *identity = NULL;
	char err[512];

	if (ob_cloud_identity_open(f->dir, &identity, created, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	return identity;
}

/* The device id from the key file, computed here: mbedTLS reads the PEM, the DER
 * SubjectPublicKeyInfo is the fixed P-256 prefix and the uncompressed point. */
static void independent_device_id(const char *key_path, char out[OB_CLOUD_DEVICE_ID_CHARS + 1],
				  unsigned char point[65])
{
	unsigned char der[P256_SPKI_PREFIX_LEN + 65];
	unsigned char digest[32];
	mbedtls_pk_context pk;
	size_t len = 0;

	mbedtls_pk_init(&pk);
	assert_int_equal(mbedtls_pk_parse_keyfile(&pk, key_path, NULL), 0);
	assert_int_equal(mbedtls_ecp_point_write_binary(&mbedtls_pk_ec(pk)->grp,
							&mbedtls_pk_ec(pk)->Q,
							MBEDTLS_ECP_PF_UNCOMPRESSED, &len, point, 65),
			 0);
	assert_int_equal(len, 65);
	memcpy(der, P256_SPKI_PREFIX, P256_SPKI_PREFIX_LEN);
	memcpy(der + P256_SPKI_PREFIX_LEN, point, 65);
	assert_int_equal(mbedtls_sha256_ret(der, sizeof(der), digest, 0), 0);
	memcpy(out, "obx-", 4);
	ob_hex_encode(digest, 16, out + 4);
	mbedtls_pk_free(&pk);
}

static void test_key_made_once_and_reused(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_identity *first;
	struct ob_cloud_identity *second;
	char device_dir[128];
	char expected[OB_CLOUD_DEVICE_ID_CHARS + 1];
	unsigned char point[65];
	struct stat st;
	bool created = false;

	first = open_ok(f, &created);
	assert_true(created);
	assert_int_equal(stat(f->key_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(device_dir, sizeof(device_dir), "%s/device", f->dir);
	assert_int_equal(stat(device_dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);

	second = open_ok(f, &created);
	assert_false(created);
	assert_string_equal(ob_cloud_identity_device_id(first), ob_cloud_identity_device_id(second));
	assert_int_equal(strlen(ob_cloud_identity_device_id(first)), OB_CLOUD_DEVICE_ID_CHARS);
	independent_device_id(f->key_path, expected, point);
	assert_string_equal(ob_cloud_identity_device_id(first), expected);
	ob_cloud_identity_free(&second);
	ob_cloud_identity_free(&first);
	assert_null(first);
	ob_cloud_identity_free(&first);
}

/* A data directory that does not exist yet is made (with its parents). */
static void test_key_made_in_a_new_data_dir(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_identity *identity = NULL;
	char nested[128];
	char err[512];
	bool created = false;

	snprintf(nested, sizeof(nested), "%s/a/b", f->dir);
	assert_int_equal(ob_cloud_identity_open(nested, &identity, &created, err, sizeof(err)), 0);
	assert_true(created);
	ob_cloud_identity_free(&identity);
}

static void test_key_open_to_others_refused(void **state)
{
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0602, 0620, 0601 };
	struct fixture *f = *state;
	struct ob_cloud_identity *identity = open_ok(f, NULL);
	char err[512];

	ob_cloud_identity_free(&identity);
	for (size_t i = 0; i < OB_ARRAY_SIZE(modes); i++) {
		assert_int_equal(chmod(f->key_path, modes[i]), 0);
		err[0] = '\0';
		assert_int_equal(ob_cloud_identity_open(f->dir, &identity, NULL, err, sizeof(err)),
				 OB_EPERM);
		assert_null(identity);
		/* The message names the file and says how to fix it. */
		assert_non_null(strstr(err, f->key_path));
		assert_non_null(strstr(err, "chmod 600"));
	}
	/* Fixed as the message says, the same key serves again. */
	assert_int_equal(chmod(f->key_path, 0600), 0);
	identity = open_ok(f, NULL);
	ob_cloud_identity_free(&identity);
	/* 0400 is private too. */
	assert_int_equal(chmod(f->key_path, 0400), 0);
	identity = open_ok(f, NULL);
	ob_cloud_identity_free(&identity);
}

static void test_key_link_and_damage_refused(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_identity *identity = open_ok(f, NULL);
	char elsewhere[160];
	char err[512];

	ob_cloud_identity_free(&identity);
	/* A symbolic link, even to a private key file. */
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere.pem", f->dir);
	assert_int_equal(rename(f->key_path, elsewhere), 0);
	assert_int_equal(symlink(elsewhere, f->key_path), 0);
	assert_int_equal(ob_cloud_identity_open(f->dir, &identity, NULL, err, sizeof(err)), OB_EPERM);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(unlink(f->key_path), 0);

	/* Damaged or foreign content: not replaced behind the operator's back. */
	assert_int_equal(ob_write_file_atomic(f->key_path, "not a key\n", 10, 0600), 0);
	assert_int_equal(ob_cloud_identity_open(f->dir, &identity, NULL, err, sizeof(err)),
			 OB_ECORRUPT);
	assert_non_null(strstr(err, "move it away"));
	assert_int_equal(ob_write_file_atomic(f->key_path, RFC_PUBLIC_PEM, strlen(RFC_PUBLIC_PEM),
					      0600), 0);
	assert_int_equal(ob_cloud_identity_open(f->dir, &identity, NULL, err, sizeof(err)),
			 OB_ECORRUPT);
	assert_int_equal(ob_write_file_atomic(f->key_path, "", 0, 0600), 0);
	assert_int_equal(ob_cloud_identity_open(f->dir, &identity, NULL, err, sizeof(err)),
			 OB_ECORRUPT);
	/* A directory where the key should be. */
	assert_int_equal(unlink(f->key_path), 0);
	assert_int_equal(mkdir(f->key_path, 0700), 0);
	assert_int_equal(ob_cloud_identity_open(f->dir, &identity, NULL, err, sizeof(err)), OB_EPERM);
	assert_null(identity);
	assert_int_equal(rmdir(f->key_path), 0);

	/* A key installed by hand (PKCS#8 here) is the box's key. */
	assert_int_equal(ob_write_file_atomic(f->key_path, RFC_PRIVATE_PKCS8_PEM,
					      strlen(RFC_PRIVATE_PKCS8_PEM), 0600), 0);
	identity = open_ok(f, NULL);
	assert_string_equal(ob_cloud_identity_device_id(identity), RFC_DEVICE_ID);
	ob_cloud_identity_free(&identity);
}

/* The JWK's x and y decode to 32 bytes each: the public point of the key file. */
static void test_jwk_holds_the_public_point(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_identity *identity = open_ok(f, NULL);
	char expected_id[OB_CLOUD_DEVICE_ID_CHARS + 1];
	unsigned char point[65];
	unsigned char coord[40];
	json_t *jwk = ob_cloud_identity_jwk(identity);
	const char *x;
	const char *y;
	size_t len;

	assert_non_null(jwk);
	independent_device_id(f->key_path, expected_id, point);
	assert_int_equal(json_object_size(jwk), 4);
	assert_string_equal(json_string_value(json_object_get(jwk, "kty")), "EC");
	assert_string_equal(json_string_value(json_object_get(jwk, "crv")), "P-256");
	x = json_string_value(json_object_get(jwk, "x"));
	y = json_string_value(json_object_get(jwk, "y"));
	assert_int_equal(strlen(x), 43);
	assert_int_equal(strlen(y), 43);
	assert_int_equal(ob_cloud_base64url_decode(x, strlen(x), coord, sizeof(coord), &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(coord, point + 1, 32);
	assert_int_equal(ob_cloud_base64url_decode(y, strlen(y), coord, sizeof(coord), &len), 0);
	assert_int_equal(len, 32);
	assert_memory_equal(coord, point + 33, 32);
	json_decref(jwk);
	ob_cloud_identity_free(&identity);
}

/* The RFC's key as a device: its JWK is the RFC's, its id what Python computed. */
static void test_identity_of_a_known_key(void **state)
{
	struct ob_cloud_key *key = NULL;
	struct ob_cloud_key *public_key = NULL;
	struct ob_cloud_identity *identity = NULL;
	char err[256];
	json_t *jwk;

	(void)state;
	assert_int_equal(ob_cloud_key_from_pem(RFC_PRIVATE_SEC1_PEM, strlen(RFC_PRIVATE_SEC1_PEM),
					       true, &key, err, sizeof(err)), 0);
	assert_int_equal(ob_cloud_identity_from_key(&key, &identity), 0);
	assert_null(key);
	assert_string_equal(ob_cloud_identity_device_id(identity), RFC_DEVICE_ID);
	jwk = ob_cloud_identity_jwk(identity);
	assert_string_equal(json_string_value(json_object_get(jwk, "x")), RFC_X);
	assert_string_equal(json_string_value(json_object_get(jwk, "y")), RFC_Y);
	json_decref(jwk);
	ob_cloud_identity_free(&identity);

	/* A public key is no identity. */
	assert_int_equal(ob_cloud_key_from_pem(RFC_PUBLIC_PEM, strlen(RFC_PUBLIC_PEM), false,
					       &public_key, err, sizeof(err)), 0);
	assert_int_equal(ob_cloud_identity_from_key(&public_key, &identity), OB_EINVAL);
	assert_null(identity);
	ob_cloud_key_free(&public_key);
}

/* Parses and verifies a JWS the identity made; returns its payload (new reference). */
static json_t *verified_payload(const struct ob_cloud_identity *identity, const char *text,
				json_t **header)
{
	struct ob_jws jws;
	char err[256];
	json_t *payload;

	assert_int_equal(ob_cloud_jws_parse(text, strlen(text), &jws, err, sizeof(err)), 0);
	assert_int_equal(ob_cloud_jws_verify(&jws, ob_cloud_identity_key(identity)), 0);
	payload = json_loadb((const char *)jws.payload, jws.payload_len, JSON_REJECT_DUPLICATES,
			     NULL);
	assert_non_null(payload);
	*header = json_incref(jws.header);
	ob_cloud_jws_clear(&jws);
	return payload;
}

static void test_device_token(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_identity *identity = open_ok(f, NULL);
	const char *id = ob_cloud_identity_device_id(identity);
	char *token = NULL;
	char *second = NULL;
	json_t *header;
	json_t *payload;
	json_t *header2;
	json_t *payload2;
	unsigned char jti[32];
	size_t len;

	assert_int_equal(ob_cloud_identity_device_token(identity, "https://cp.example.net/ottbox",
							"GET", "/v1/devices/x/desired", T0,
							&token), 0);
	payload = verified_payload(identity, token, &header);
	assert_int_equal(json_object_size(header), 3);
	assert_string_equal(json_string_value(json_object_get(header, "alg")), "ES256");
	assert_string_equal(json_string_value(json_object_get(header, "typ")), "ottbox-device+jwt");
	assert_string_equal(json_string_value(json_object_get(header, "kid")), id);
	assert_int_equal(json_object_size(payload), 7);
	assert_string_equal(json_string_value(json_object_get(payload, "iss")), id);
	assert_string_equal(json_string_value(json_object_get(payload, "aud")),
			    "https://cp.example.net/ottbox");
	assert_int_equal(json_integer_value(json_object_get(payload, "iat")), T0);
	assert_int_equal(json_integer_value(json_object_get(payload, "exp")), T0 + 120);
	assert_string_equal(json_string_value(json_object_get(payload, "htm")), "GET");
	assert_string_equal(json_string_value(json_object_get(payload, "htu")),
			    "/v1/devices/x/desired");
	assert_int_equal(ob_cloud_base64url_decode(
				 json_string_value(json_object_get(payload, "jti")),
				 json_string_length(json_object_get(payload, "jti")), jti,
				 sizeof(jti), &len), 0);
	assert_int_equal(len, 16);

	/* Every token has its own jti. */
	assert_int_equal(ob_cloud_identity_device_token(identity, "https://cp.example.net/ottbox",
							"GET", "/v1/devices/x/desired", T0,
							&second), 0);
	payload2 = verified_payload(identity, second, &header2);
	assert_string_not_equal(json_string_value(json_object_get(payload, "jti")),
				json_string_value(json_object_get(payload2, "jti")));
	json_decref(payload2);
	json_decref(header2);
	free(second);

	/* Arguments out of shape. */
	{
		static const struct {
			const char *aud, *htm, *htu;
		} bad[] = {
			{ "", "GET", "/x" },
			{ "https://cp example", "GET", "/x" },
			{ "https://cp", "get", "/x" },
			{ "https://cp", "", "/x" },
			{ "https://cp", "GET\r\nX", "/x" },
			{ "https://cp", "GET", "x" },
			{ "https://cp", "GET", "" },
			{ "https://cp", "GET", "/a b" },
		};

		for (size_t i = 0; i < OB_ARRAY_SIZE(bad); i++) {
			assert_int_equal(ob_cloud_identity_device_token(identity, bad[i].aud,
									bad[i].htm, bad[i].htu, T0,
									&second), OB_EINVAL);
			assert_null(second);
		}
	}
	json_decref(payload);
	json_decref(header);
	free(token);
	ob_cloud_identity_free(&identity);
}

static void test_enrollment_jws(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_identity *identity = open_ok(f, NULL);
	json_t *box = json_pack("{s:s, s:s, s:[{s:s, s:b}]}", "version", "0.1.0", "box_name",
				"lab-1", "hardware", "name", "nvenc", "available", 1);
	json_t *jwk = ob_cloud_identity_jwk(identity);
	json_t *header;
	json_t *payload;
	char *text = NULL;

	assert_int_equal(ob_cloud_identity_enrollment_jws(identity, "one-time-token", box, T0,
							  &text), 0);
	payload = verified_payload(identity, text, &header);
	assert_int_equal(json_object_size(header), 3);
	assert_string_equal(json_string_value(json_object_get(header, "typ")), "ottbox-enroll+jwt");
	assert_null(json_object_get(header, "kid"));
	assert_true(json_equal(json_object_get(header, "jwk"), jwk));
	assert_int_equal(json_object_size(payload), 4);
	assert_string_equal(json_string_value(json_object_get(payload, "device_id")),
			    ob_cloud_identity_device_id(identity));
	assert_string_equal(json_string_value(json_object_get(payload, "enrollment_token")),
			    "one-time-token");
	assert_int_equal(json_integer_value(json_object_get(payload, "iat")), T0);
	assert_true(json_equal(json_object_get(payload, "box"), box));
	/* The box object is borrowed: still the caller's alone. */
	assert_int_equal(box->refcount, 1);

	json_decref(payload);
	json_decref(header);
	free(text);
	assert_int_equal(ob_cloud_identity_enrollment_jws(identity, "", box, T0, &text), OB_EINVAL);
	assert_int_equal(ob_cloud_identity_enrollment_jws(identity, "a b", box, T0, &text),
			 OB_EINVAL);
	assert_int_equal(ob_cloud_identity_enrollment_jws(identity, "t", NULL, T0, &text),
			 OB_EINVAL);
	assert_null(text);
	json_decref(jwk);
	json_decref(box);
	ob_cloud_identity_free(&identity);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_key_made_once_and_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_made_in_a_new_data_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_open_to_others_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_link_and_damage_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jwk_holds_the_public_point, setup, teardown),
		cmocka_unit_test(test_identity_of_a_known_key),
		cmocka_unit_test_setup_teardown(test_device_token, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enrollment_jws, setup, teardown),
	};
	int ret;

	assert_int_equal(ob_random_init(), 0);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ob_random_free();
	return ret;
}
