/* Compact JWS (RFC 7515) with ES256 only (RFC 7518 §3.4: ECDSA P-256, SHA-256, the
 * signature as raw r||s), for the control plane's bundles and the box's device tokens:
 * strict base64url, parsing with bounded sizes, verifying, signing, and the P-256 keys they
 * use. Every other alg ("none", HS256, RS256, ...) is refused, and so is a header with
 * "crit". docs/control-plane.md says where each JWS is used. */
#ifndef OB_CLOUD_JWS_H
#define OB_CLOUD_JWS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define OB_JWS_HEADER_MAX 2048            /* bytes of a decoded protected header */
#define OB_JWS_PAYLOAD_MAX (256 * 1024)   /* bytes of a decoded payload */
#define OB_JWS_SIGNATURE_BYTES 64         /* ES256: r and s, 32 bytes each, big-endian */
#define OB_JWS_ALG "ES256"
/* Characters of unpadded base64url for n bytes. */
#define OB_BASE64URL_CHARS(n) ((n) / 3 * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))
/* The longest compact JWS that can parse: each part at its limit, and two dots. */
#define OB_JWS_TEXT_MAX                                                             \
	(OB_BASE64URL_CHARS(OB_JWS_HEADER_MAX) + 1 + OB_BASE64URL_CHARS(OB_JWS_PAYLOAD_MAX) + \
	 1 + OB_BASE64URL_CHARS(OB_JWS_SIGNATURE_BYTES))

#define OB_CLOUD_KEY_ID_CHARS 16          /* a key's id: 8 bytes of SHA-256, in hex */
#define OB_CLOUD_COORD_BYTES 32           /* a P-256 coordinate */
#define OB_CLOUD_SPKI_MAX 160             /* DER SubjectPublicKeyInfo of a P-256 key (91) */
#define OB_CLOUD_KEY_PEM_MAX 1024         /* a P-256 private key in PEM (about 230) */

/* ---- base64url (RFC 4648 §5), unpadded as JWS writes it ---- */

/* Bytes that len characters of unpadded base64url decode to (when len is valid). */
size_t ob_cloud_base64url_decoded_len(size_t len);

/* Decodes len characters (no NUL needed) into out (out_cap bytes); *out_len gets the count.
 * Strict: only A-Z a-z 0-9 '-' '_', no '=' padding, no length of 4n+1, and the bits a last
 * partial group leaves unused must be zero (one text per byte string). 0, OB_EINVAL on
 * any other text, OB_ETOOBIG when out_cap is too small. Never reads past in[len-1]. */
int ob_cloud_base64url_decode(const char *in, size_t len, unsigned char *out, size_t out_cap,
			      size_t *out_len);

/* ---- keys ---- */

/* An ECDSA P-256 key: a public key, or a key pair. Read-only once made, so one key may sign
 * or verify in several threads at once. */
struct ob_cloud_key;

/* Makes a new key pair from the shared random generator (core/rand). 0, OB_ENOMEM or
 * OB_EIO. The caller owns *out. */
int ob_cloud_key_generate(struct ob_cloud_key **out);

/* Reads one key from len bytes of PEM (the first block; no NUL needed) or DER: with
 * private_key, a private key (SEC1 "EC PRIVATE KEY" or PKCS#8 "PRIVATE KEY", unencrypted);
 * without, a SubjectPublicKeyInfo ("PUBLIC KEY"). Only P-256 is taken. 0, or OB_EINVAL/OB_ENOMEM with a message in err.
 * The caller owns *out. */
int ob_cloud_key_from_pem(const char *text, size_t len, bool private_key,
			  struct ob_cloud_key **out, char *err, size_t err_len);

/* Writes a key pair's private key as SEC1 PEM ("EC PRIVATE KEY") and a NUL into out
 * (out_len bytes; OB_CLOUD_KEY_PEM_MAX is enough). 0, OB_EINVAL for a public key, or
 * OB_ETOOBIG. */
int ob_cloud_key_private_pem(const struct ob_cloud_key *key, char *out, size_t out_len);

/* Writes the public key as PEM ("PUBLIC KEY") and a NUL into out. 0 or OB_ETOOBIG. */
int ob_cloud_key_public_pem(const struct ob_cloud_key *key, char *out, size_t out_len);

/* The DER SubjectPublicKeyInfo (named curve, uncompressed point: what OpenSSL and Python's
 * cryptography write) into out (cap bytes); *out_len gets its length. 0 or OB_ETOOBIG. */
int ob_cloud_key_spki_der(const struct ob_cloud_key *key, unsigned char *out, size_t cap,
			  size_t *out_len);

/* The SHA-256 of the DER SubjectPublicKeyInfo: what the device id and a key id derive
 * from. 0 or OB_EINTERNAL. */
int ob_cloud_key_spki_sha256(const struct ob_cloud_key *key, unsigned char digest[32]);

/* A key's id, as the bundle header's "kid" names a signing key: the first 8 bytes of
 * ob_cloud_key_spki_sha256 in lowercase hex, and a NUL. 0 or OB_EINTERNAL. */
int ob_cloud_key_id(const struct ob_cloud_key *key, char out[OB_CLOUD_KEY_ID_CHARS + 1]);

/* The public point's coordinates, 32 bytes each, big-endian (a JWK's "x" and "y"). */
int ob_cloud_key_public_xy(const struct ob_cloud_key *key, unsigned char x[OB_CLOUD_COORD_BYTES],
			   unsigned char y[OB_CLOUD_COORD_BYTES]);

/* True when the key holds a private part (it can sign). */
bool ob_cloud_key_has_private(const struct ob_cloud_key *key);

/* Frees a key (its private part wiped) and sets *key to NULL; NULL is fine. */
void ob_cloud_key_free(struct ob_cloud_key **key);

/* ---- JWS ---- */

/* A parsed compact JWS. It owns its header and payload; the text it came from may go. */
struct ob_jws {
	json_t *header;             /* the protected header, a JSON object */
	const char *alg;            /* header "alg" (borrowed from header) */
	const char *typ;            /* header "typ", or NULL (borrowed from header) */
	const char *kid;            /* header "kid", or NULL (borrowed from header) */
	unsigned char *payload;     /* decoded payload, with a NUL after it (not counted) */
	size_t payload_len;
	unsigned char signature[OB_JWS_SIGNATURE_BYTES];
	size_t signature_len;       /* decoded bytes; ES256 needs exactly 64 */
	unsigned char digest[32];   /* SHA-256 of the signing input, BASE64URL(header).BASE64URL(payload) */
};

/* Parses len bytes of compact JWS text (no NUL needed): three base64url parts, the header
 * a JSON object of at most OB_JWS_HEADER_MAX bytes with a string "alg" and no "crit",
 * "typ" and "kid" strings when present, the payload at most OB_JWS_PAYLOAD_MAX bytes, any
 * bytes. Whitespace around the text is not taken. Does not check the alg or the signature:
 * ob_cloud_jws_verify does. 0, or OB_EINVAL/OB_ETOOBIG/OB_ENOMEM with a message in err;
 * *out is cleared on failure. Free it with ob_cloud_jws_clear. */
int ob_cloud_jws_parse(const char *text, size_t len, struct ob_jws *out, char *err,
		       size_t err_len);

/* Verifies a parsed JWS with a public key (or a key pair's public part): alg must be ES256,
 * the signature 64 bytes, r and s in range, and the signature good over the signing input.
 * 0 when it verifies, OB_EAUTH when it does not (any reason), OB_EINVAL for a NULL. */
int ob_cloud_jws_verify(const struct ob_jws *jws, const struct ob_cloud_key *key);

/* Frees what a parse made and zeroes *jws (safe on a zeroed or cleared one). */
void ob_cloud_jws_clear(struct ob_jws *jws);

/* Signs payload (len bytes, any) with a key pair: the protected header is {"alg":"ES256"}
 * followed by the members of header (borrowed; an object or NULL; its own "alg" is
 * ignored), as compact JSON. *out gets the compact JWS as a new NUL-terminated string the
 * caller frees with free(). 0, OB_EINVAL (no private key, header not an object, header or
 * payload over the limits), OB_ENOMEM or OB_EIO (the generator failed). */
int ob_cloud_jws_sign(const struct ob_cloud_key *key, const json_t *header, const void *payload,
		      size_t payload_len, char **out);

#endif
