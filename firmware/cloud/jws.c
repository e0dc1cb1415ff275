#include "cloud/jws.h"

#include <mbedtls/bignum.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/rand.h"
#include "core/util.h"

struct ob_cloud_key {
	mbedtls_pk_context pk;   /* MBEDTLS_PK_ECKEY on P-256 */
	bool has_private;
};

/* ---- base64url ---- */

size_t ob_cloud_base64url_decoded_len(size_t len)
{
	return len / 4 * 3 + (len % 4 > 1 ? len % 4 - 1 : 0);
}

/* The value of one base64url character, or -1. */
static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int ob_cloud_base64url_decode(const char *in, size_t len, unsigned char *out, size_t out_cap,
			      size_t *out_len)
{
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t used = 0;

	*out_len = 0;
	if (len % 4 == 1)
		return OB_EINVAL;
	if (ob_cloud_base64url_decoded_len(len) > out_cap)
		return OB_ETOOBIG;
	for (size_t i = 0; i < len; i++) {
		int value = sextet((unsigned char)in[i]);

		if (value < 0)
			return OB_EINVAL;
		acc = acc << 6 | (uint32_t)value;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[used++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* The bits a partial group does not use must be zero: one text per byte string. */
	if (acc != 0)
		return OB_EINVAL;
	*out_len = used;
	return 0;
}

/* ---- keys ---- */

/* mbedTLS 2.28 takes a non-const context where it only reads one. */
static mbedtls_pk_context *pk_of(const struct ob_cloud_key *key)
{
	return (mbedtls_pk_context *)&key->pk;
}

static struct ob_cloud_key *key_new(void)
{
	struct ob_cloud_key *key = calloc(1, sizeof(*key));

	if (key)
		mbedtls_pk_init(&key->pk);
	return key;
}

void ob_cloud_key_free(struct ob_cloud_key **key)
{
	if (!key || !*key)
		return;
	mbedtls_pk_free(&(*key)->pk); /* zeroes the private part */
	free(*key);
	*key = NULL;
}

int ob_cloud_key_generate(struct ob_cloud_key **out)
{
	struct ob_cloud_key *key = key_new();
	int ret = OB_EIO;

	*out = NULL;
	if (!key)
		return OB_ENOMEM;
	if (mbedtls_pk_setup(&key->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0) {
		ret = OB_ENOMEM;
		goto fail_free;
	}
	if (mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key->pk), ob_random_mbedtls,
				NULL) != 0)
		goto fail_free;
	key->has_private = true;
	*out = key;
	return 0;

fail_free:
	ob_cloud_key_free(&key);
	return ret;
}

/* True for an EC key on P-256. */
static bool is_p256(const mbedtls_pk_context *pk)
{
	return mbedtls_pk_get_type(pk) == MBEDTLS_PK_ECKEY &&
	       mbedtls_pk_ec(*pk)->grp.id == MBEDTLS_ECP_DP_SECP256R1;
}

int ob_cloud_key_from_pem(const char *text, size_t len, bool private_key,
			  struct ob_cloud_key **out, char *err, size_t err_len)
{
	const char *what = private_key ? "private key" : "public key";
	struct ob_cloud_key *key = NULL;
	unsigned char *copy = NULL;
	size_t copy_len = len;
	int rc;
	int ret = OB_EINVAL;

	*out = NULL;
	/* mbedTLS reads PEM only from a NUL-terminated buffer whose NUL len counts. */
	copy = malloc(len + 1);
	key = key_new();
	if (!copy || !key) {
		ret = OB_ENOMEM;
		snprintf(err, err_len, "out of memory reading a %s", what);
		goto out_free;
	}
	memcpy(copy, text, len);
	copy[len] = '\0';
	if (memmem(text, len, "-----BEGIN", 10))
		copy_len = strlen((char *)copy) + 1;
	if (private_key)
		rc = mbedtls_pk_parse_key(&key->pk, copy, copy_len, NULL, 0);
	else
		rc = mbedtls_pk_parse_public_key(&key->pk, copy, copy_len);
	if (rc != 0) {
		snprintf(err, err_len, "not a %s in PEM or DER (mbedTLS -0x%04x)", what,
			 (unsigned)-rc);
		goto out_free;
	}
	if (!is_p256(&key->pk)) {
		snprintf(err, err_len, "the %s is not an ECDSA P-256 key (ES256 needs one)", what);
		goto out_free;
	}
	if (private_key) {
		const mbedtls_ecp_keypair *pair = mbedtls_pk_ec(key->pk);

		/* A file whose public point is not d×G would sign what nobody can verify. */
		if (mbedtls_ecp_check_pub_priv(pair, pair) != 0) {
			snprintf(err, err_len, "the private key's public part does not match it");
			goto out_free;
		}
		key->has_private = true;
	}
	*out = key;
	key = NULL;
	ret = 0;
out_free:
	ob_cloud_key_free(&key);
	if (copy) {
		ob_secure_zero(copy, len + 1);
		free(copy);
	}
	return ret;
}

int ob_cloud_key_private_pem(const struct ob_cloud_key *key, char *out, size_t out_len)
{
	if (!key->has_private)
		return OB_EINVAL;
	return mbedtls_pk_write_key_pem(pk_of(key), (unsigned char *)out, out_len) == 0 ?
		       0 : OB_ETOOBIG;
}

int ob_cloud_key_public_pem(const struct ob_cloud_key *key, char *out, size_t out_len)
{
	return mbedtls_pk_write_pubkey_pem(pk_of(key), (unsigned char *)out, out_len) == 0 ?
		       0 : OB_ETOOBIG;
}

int ob_cloud_key_spki_der(const struct ob_cloud_key *key, unsigned char *out, size_t cap,
			  size_t *out_len)
{
	/* mbedTLS writes DER backwards, at the end of the buffer. */
	int n = mbedtls_pk_write_pubkey_der(pk_of(key), out, cap);

	if (n <= 0)
		return OB_ETOOBIG;
	memmove(out, out + cap - (size_t)n, (size_t)n);
	*out_len = (size_t)n;
	return 0;
}

int ob_cloud_key_spki_sha256(const struct ob_cloud_key *key, unsigned char digest[32])
{
	unsigned char der[OB_CLOUD_SPKI_MAX];
	size_t len;

	if (ob_cloud_key_spki_der(key, der, sizeof(der), &len) != 0 ||
	    mbedtls_sha256_ret(der, len, digest, 0) != 0)
		return OB_EINTERNAL;
	return 0;
}

int ob_cloud_key_id(const struct ob_cloud_key *key, char out[OB_CLOUD_KEY_ID_CHARS + 1])
{
	unsigned char digest[32];

	if (ob_cloud_key_spki_sha256(key, digest) != 0)
		return OB_EINTERNAL;
	ob_hex_encode(digest, OB_CLOUD_KEY_ID_CHARS / 2, out);
	return 0;
}

int ob_cloud_key_public_xy(const struct ob_cloud_key *key, unsigned char x[OB_CLOUD_COORD_BYTES],
			   unsigned char y[OB_CLOUD_COORD_BYTES])
{
	const mbedtls_ecp_keypair *pair = mbedtls_pk_ec(key->pk);
	unsigned char point[1 + 2 * OB_CLOUD_COORD_BYTES];
	size_t len = 0;

	if (mbedtls_ecp_point_write_binary(&pair->grp, &pair->Q, MBEDTLS_ECP_PF_UNCOMPRESSED, &len,
					   point, sizeof(point)) != 0 ||
	    len != sizeof(point))
		return OB_EINTERNAL;
	memcpy(x, point + 1, OB_CLOUD_COORD_BYTES);
	memcpy(y, point + 1 + OB_CLOUD_COORD_BYTES, OB_CLOUD_COORD_BYTES);
	return 0;
}

bool ob_cloud_key_has_private(const struct ob_cloud_key *key)
{
	return key->has_private;
}

/* ---- parsing ---- */

void ob_cloud_jws_clear(struct ob_jws *jws)
{
	json_decref(jws->header);
	free(jws->payload);
	memset(jws, 0, sizeof(*jws));
}

/* Reads a header member that must be a string when present; NULL when absent. */
static int header_string(const json_t *header, const char *name, const char **out, char *err,
			 size_t err_len)
{
	const json_t *value = json_object_get(header, name);

	*out = NULL;
	if (!value)
		return 0;
	if (!json_is_string(value)) {
		snprintf(err, err_len, "the JWS header's \"%s\" must be a string, got %s", name,
			 ob_json_type_phrase(value));
		return OB_EINVAL;
	}
	*out = json_string_value(value);
	return 0;
}

static int parse_header(const char *b64, size_t len, struct ob_jws *out, char *err,
			size_t err_len)
{
	unsigned char raw[OB_JWS_HEADER_MAX];
	size_t raw_len;
	json_error_t jerr;
	int ret;

	ret = ob_cloud_base64url_decode(b64, len, raw, sizeof(raw), &raw_len);
	if (ret == OB_ETOOBIG) {
		snprintf(err, err_len, "the JWS header is longer than %d bytes", OB_JWS_HEADER_MAX);
		return ret;
	}
	if (ret != 0 || raw_len == 0) {
		snprintf(err, err_len, "the JWS header is not unpadded base64url");
		return OB_EINVAL;
	}
	out->header = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!json_is_object(out->header)) {
		snprintf(err, err_len, "the JWS header is not a JSON object%s%s",
			 out->header ? "" : ": ", out->header ? "" : jerr.text);
		return OB_EINVAL;
	}
	if (json_object_get(out->header, "crit")) {
		snprintf(err, err_len, "the JWS header names critical extensions (\"crit\"), "
				       "which this box does not implement");
		return OB_EINVAL;
	}
	ret = header_string(out->header, "alg", &out->alg, err, err_len);
	if (ret == 0 && !out->alg) {
		snprintf(err, err_len, "the JWS header has no \"alg\"");
		ret = OB_EINVAL;
	}
	if (ret == 0)
		ret = header_string(out->header, "typ", &out->typ, err, err_len);
	if (ret == 0)
		ret = header_string(out->header, "kid", &out->kid, err, err_len);
	return ret;
}

int ob_cloud_jws_parse(const char *text, size_t len, struct ob_jws *out, char *err,
		       size_t err_len)
{
	const char *dot1;
	const char *dot2;
	size_t payload_b64_len;
	size_t signature_b64_len;
	int ret;

	memset(out, 0, sizeof(*out));
	if (len > OB_JWS_TEXT_MAX) {
		snprintf(err, err_len, "the JWS is %zu bytes, more than the %d this box takes", len,
			 OB_JWS_TEXT_MAX);
		return OB_ETOOBIG;
	}
	dot1 = text ? memchr(text, '.', len) : NULL;
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - text)) : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - text))) {
		snprintf(err, err_len, "not a compact JWS: it must be three base64url parts "
				       "separated by two dots");
		return OB_EINVAL;
	}
	ret = parse_header(text, (size_t)(dot1 - text), out, err, err_len);
	if (ret != 0)
		goto fail_clear;
	payload_b64_len = (size_t)(dot2 - dot1 - 1);
	if (ob_cloud_base64url_decoded_len(payload_b64_len) > OB_JWS_PAYLOAD_MAX) {
		snprintf(err, err_len, "the JWS payload is longer than %d bytes", OB_JWS_PAYLOAD_MAX);
		ret = OB_ETOOBIG;
		goto fail_clear;
	}
	out->payload = malloc(ob_cloud_base64url_decoded_len(payload_b64_len) + 1);
	if (!out->payload) {
		snprintf(err, err_len, "out of memory for a JWS payload");
		ret = OB_ENOMEM;
		goto fail_clear;
	}
	ret = ob_cloud_base64url_decode(dot1 + 1, payload_b64_len, out->payload,
					ob_cloud_base64url_decoded_len(payload_b64_len),
					&out->payload_len);
	if (ret != 0) {
		snprintf(err, err_len, "the JWS payload is not unpadded base64url");
		ret = OB_EINVAL;
		goto fail_clear;
	}
	out->payload[out->payload_len] = '\0';
	signature_b64_len = len - (size_t)(dot2 + 1 - text);
	ret = ob_cloud_base64url_decode(dot2 + 1, signature_b64_len, out->signature,
					sizeof(out->signature), &out->signature_len);
	if (ret != 0) {
		snprintf(err, err_len, ret == OB_ETOOBIG ?
			 "the JWS signature is longer than ES256's %d bytes" :
			 "the JWS signature is not unpadded base64url", OB_JWS_SIGNATURE_BYTES);
		ret = OB_EINVAL;
		goto fail_clear;
	}
	if (mbedtls_sha256_ret((const unsigned char *)text, (size_t)(dot2 - text), out->digest,
			       0) != 0) {
		snprintf(err, err_len, "SHA-256 failed");
		ret = OB_EINTERNAL;
		goto fail_clear;
	}
	return 0;

fail_clear:
	ob_cloud_jws_clear(out);
	return ret;
}

/* ---- verifying and signing ---- */

int ob_cloud_jws_verify(const struct ob_jws *jws, const struct ob_cloud_key *key)
{
	mbedtls_ecp_group grp;
	mbedtls_mpi r;
	mbedtls_mpi s;
	int ret = OB_EAUTH;

	if (!jws || !key || !jws->alg)
		return OB_EINVAL;
	if (strcmp(jws->alg, OB_JWS_ALG) != 0 || jws->signature_len != OB_JWS_SIGNATURE_BYTES)
		return OB_EAUTH;
	/* A group of our own: mbedTLS caches tables in the one it computes with, so sharing
	 * the key's would race between threads. */
	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) != 0 ||
	    mbedtls_mpi_read_binary(&r, jws->signature, OB_CLOUD_COORD_BYTES) != 0 ||
	    mbedtls_mpi_read_binary(&s, jws->signature + OB_CLOUD_COORD_BYTES,
				    OB_CLOUD_COORD_BYTES) != 0)
		goto out_free;
	/* mbedtls_ecdsa_verify refuses r or s outside [1, n-1] itself. */
	if (mbedtls_ecdsa_verify(&grp, jws->digest, sizeof(jws->digest), &mbedtls_pk_ec(key->pk)->Q,
				 &r, &s) == 0)
		ret = 0;
out_free:
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&r);
	mbedtls_ecp_group_free(&grp);
	return ret;
}

/* {"alg":"ES256"} and then header's other members, as compact JSON (caller frees). */
static char *header_text(const json_t *header)
{
	json_t *full = json_pack("{s:s}", "alg", OB_JWS_ALG);
	const char *name;
	json_t *value;
	char *text = NULL;

	if (!full)
		return NULL;
	json_object_foreach((json_t *)header, name, value) {
		if (strcmp(name, "alg") != 0 && json_object_set(full, name, value) != 0)
			goto out_free;
	}
	text = json_dumps(full, JSON_COMPACT);
out_free:
	json_decref(full);
	return text;
}

/* Signs a SHA-256 digest: r||s, 32 bytes each. */
static int sign_digest(const struct ob_cloud_key *key, const unsigned char digest[32],
		       unsigned char signature[OB_JWS_SIGNATURE_BYTES])
{
	mbedtls_ecp_group grp;
	mbedtls_mpi r;
	mbedtls_mpi s;
	int ret = OB_EIO;

	mbedtls_ecp_group_init(&grp);
	mbedtls_mpi_init(&r);
	mbedtls_mpi_init(&s);
	/* Deterministic k (RFC 6979), with the generator blinding the computation. */
	if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
	    mbedtls_ecdsa_sign_det_ext(&grp, &r, &s, &mbedtls_pk_ec(key->pk)->d, digest, 32,
				       MBEDTLS_MD_SHA256, ob_random_mbedtls, NULL) == 0 &&
	    mbedtls_mpi_write_binary(&r, signature, OB_CLOUD_COORD_BYTES) == 0 &&
	    mbedtls_mpi_write_binary(&s, signature + OB_CLOUD_COORD_BYTES, OB_CLOUD_COORD_BYTES) == 0)
		ret = 0;
	mbedtls_mpi_free(&s);
	mbedtls_mpi_free(&r);
	mbedtls_ecp_group_free(&grp);
	return ret;
}

int ob_cloud_jws_sign(const struct ob_cloud_key *key, const json_t *header, const void *payload,
		      size_t payload_len, char **out)
{
	unsigned char signature[OB_JWS_SIGNATURE_BYTES];
	unsigned char digest[32];
	char *head = NULL;
	char *text = NULL;
	size_t head_len;
	size_t used;
	int ret = OB_EINVAL;

	*out = NULL;
	if (!key || !key->has_private || (header && !json_is_object(header)) ||
	    payload_len > OB_JWS_PAYLOAD_MAX || (!payload && payload_len))
		return OB_EINVAL;
	head = header_text(header);
	if (!head)
		return OB_ENOMEM;
	head_len = strlen(head);
	if (head_len > OB_JWS_HEADER_MAX)
		goto out_free;
	text = malloc(ob_base64url_len(head_len) + 1 + ob_base64url_len(payload_len) + 1 +
		      ob_base64url_len(OB_JWS_SIGNATURE_BYTES) + 1);
	if (!text) {
		ret = OB_ENOMEM;
		goto out_free;
	}
	ob_base64url_encode((const unsigned char *)head, head_len, text);
	used = strlen(text);
	text[used++] = '.';
	ob_base64url_encode(payload, payload_len, text + used);
	used += strlen(text + used);
	if (mbedtls_sha256_ret((const unsigned char *)text, used, digest, 0) != 0) {
		ret = OB_EINTERNAL;
		goto out_free;
	}
	ret = sign_digest(key, digest, signature);
	if (ret != 0)
		goto out_free;
	text[used++] = '.';
	ob_base64url_encode(signature, sizeof(signature), text + used);
	*out = text;
	text = NULL;
out_free:
	free(text);
	free(head);
	return ret;
}
