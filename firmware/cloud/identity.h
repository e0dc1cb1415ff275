/* The box's identity towards a control plane: its device key (ECDSA P-256, kept in
 * DATA_DIR/device/key.pem, made on first use), the device id derived from it, its public key
 * as a JWK, and the two JWS it signs: a device token per request and the enrollment
 * request. docs/control-plane.md ("Identities and keys", "Device requests", "Enrollment") is
 * the contract. */
#ifndef OB_CLOUD_IDENTITY_H
#define OB_CLOUD_IDENTITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/jws.h"

#define OB_CLOUD_DEVICE_ID_PREFIX "obx-"
#define OB_CLOUD_DEVICE_ID_CHARS 36        /* "obx-" and 16 bytes in lowercase hex */
#define OB_CLOUD_KEY_FILE "device/key.pem" /* under the data directory */
#define OB_CLOUD_DEVICE_TOKEN_TYP "ottbox-device+jwt"
#define OB_CLOUD_ENROLL_TYP "ottbox-enroll+jwt"
#define OB_CLOUD_DEVICE_TOKEN_TTL_S 120    /* exp - iat of a device token */
#define OB_CLOUD_JTI_BYTES 16              /* random bytes of a device token's jti */

/* The device key and what derives from it. Read-only once opened: any thread may sign. */
struct ob_cloud_identity;

/* Opens the device identity of the box whose data directory is data_dir: reads
 * DATA_DIR/device/key.pem, or, when there is none, makes a new key and writes it there
 * (directory mode 0700, file mode 0600, atomically: a reader never sees half a key, and two
 * processes starting together end up with one key). A key file that others may read or
 * write, that another user owns, or that is not a regular file is refused (OB_EPERM), with a
 * message saying how to fix it; one that holds no P-256 private key is OB_ECORRUPT.
 * *created (may be NULL) says whether a new key was made. The caller owns *out. */
int ob_cloud_identity_open(const char *data_dir, struct ob_cloud_identity **out, bool *created,
			   char *err, size_t err_len);

/* An identity over a key pair, which it takes (*key is set to NULL): for tests and tools.
 * 0, OB_EINVAL (not a key pair) or OB_ENOMEM. */
int ob_cloud_identity_from_key(struct ob_cloud_key **key, struct ob_cloud_identity **out);

/* Frees an identity and its key, and sets *identity to NULL; NULL is fine. */
void ob_cloud_identity_free(struct ob_cloud_identity **identity);

/* The device id, "obx-" and 32 hex digits (borrowed; lives as long as the identity). */
const char *ob_cloud_identity_device_id(const struct ob_cloud_identity *identity);

/* The device key (borrowed; lives as long as the identity). */
const struct ob_cloud_key *ob_cloud_identity_key(const struct ob_cloud_identity *identity);

/* The device id of a key: "obx-" and the first 16 bytes, in lowercase hex, of the SHA-256
 * of its DER SubjectPublicKeyInfo, and a NUL. 0 or OB_EINTERNAL. */
int ob_cloud_device_id(const struct ob_cloud_key *key, char out[OB_CLOUD_DEVICE_ID_CHARS + 1]);

/* The public key as a JWK (RFC 7517): {"kty":"EC","crv":"P-256","x","y"}, each coordinate
 * 32 bytes in unpadded base64url. A new reference, or NULL when out of memory. */
json_t *ob_cloud_identity_jwk(const struct ob_cloud_identity *identity);

/* Makes a device token for one request: header {"alg":"ES256","typ":"ottbox-device+jwt",
 * "kid":device id}, payload {"iss":device id,"aud":audience,"iat":now_s,"exp":now_s+120,
 * "jti":16 random bytes in base64url,"htm":method,"htu":path}. audience is the control
 * plane's base URL, method an HTTP method in capitals, path the request's path (starting
 * with '/'). *out gets a new string the caller frees with free(). 0, OB_EINVAL (an argument
 * out of shape), OB_ENOMEM or OB_EIO. */
int ob_cloud_identity_device_token(const struct ob_cloud_identity *identity,
				   const char *audience, const char *method, const char *path,
				   int64_t now_s, char **out);

/* Makes the enrollment request's body: header {"alg":"ES256","typ":"ottbox-enroll+jwt",
 * "jwk":the public key}, payload {"device_id","enrollment_token","iat":now_s,"box"}. box is
 * borrowed ({"version","box_name","hardware"} by the protocol; an object). *out gets a new
 * string the caller frees with free(). 0, OB_EINVAL, OB_ENOMEM or OB_EIO. */
int ob_cloud_identity_enrollment_jws(const struct ob_cloud_identity *identity,
				     const char *enrollment_token, const json_t *box,
				     int64_t now_s, char **out);

#endif
