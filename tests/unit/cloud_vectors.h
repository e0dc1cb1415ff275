/* Public test vectors for the cloud tests: RFC 7515 Appendix A.3 (ES256), its key in PEM,
 * and keys the box must refuse. The PEM forms of the RFC's JWK were written by Python's
 * cryptography 38 from the JWK's x, y and d; the tests check that they hold the RFC's
 * coordinates. The expected ids were computed with Python's hashlib over the DER
 * SubjectPublicKeyInfo that cryptography writes. */
#ifndef OB_TESTS_CLOUD_VECTORS_H
#define OB_TESTS_CLOUD_VECTORS_H

/* RFC 7515 A.3.1: the JWK's coordinates and the compact JWS. */
#define RFC_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define RFC_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define RFC_HEADER "eyJhbGciOiJFUzI1NiJ9"
#define RFC_PAYLOAD \
	"eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
#define RFC_SIGNATURE \
	"DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
#define RFC_JWS RFC_HEADER "." RFC_PAYLOAD "." RFC_SIGNATURE
#define RFC_PAYLOAD_TEXT \
	"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}"

#define RFC_PUBLIC_PEM                                                      \
	"-----BEGIN PUBLIC KEY-----\n"                                      \
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n" \
	"6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"     \
	"-----END PUBLIC KEY-----\n"

#define RFC_PRIVATE_SEC1_PEM                                                \
	"-----BEGIN EC PRIVATE KEY-----\n"                                  \
	"MHcCAQEEII6bEJ5xkJi/mASH3x9dd+nLKWBuvtImO19XwhPfhPSyoAoGCCqGSM49\n" \
	"AwEHoUQDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEXH8UTNG72b\n" \
	"focs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"                             \
	"-----END EC PRIVATE KEY-----\n"

#define RFC_PRIVATE_PKCS8_PEM                                               \
	"-----BEGIN PRIVATE KEY-----\n"                                     \
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgjpsQnnGQmL+YBIff\n" \
	"H1136cspYG6+0iY7X1fCE9+E9LKhRANCAAR/zc4ncPbEXUGDy+5v20t7WAczNXvp\n" \
	"7xO6z248e9FURcfxRM0bvZt+hyzf7bnuufSzaV1uqQskrYpGIyiFiOWt\n"         \
	"-----END PRIVATE KEY-----\n"

/* The RFC key's id (kid) and device id, from Python's hashlib. */
#define RFC_KEY_ID "2bd1bb0c44a897c3"
#define RFC_DEVICE_ID "obx-2bd1bb0c44a897c30a7aa0991cde38d8"

/* A P-384 public key: not ES256's curve. */
#define P384_PUBLIC_PEM                                                     \
	"-----BEGIN PUBLIC KEY-----\n"                                      \
	"MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAECPZQBFSyYrd+U3oNvuuZcwQoBSdeotzC\n" \
	"20+y7G041r36qWZ//Ec53Dj/FXbhLnbbw5xQg4Fh7UVYlpvqZH9biS0ZOgVz9meM\n" \
	"uxrMArbkt/QJ1+iwbqOKE57pTIsWj0Bx\n"                                 \
	"-----END PUBLIC KEY-----\n"

/* A SEC1 private key whose public point belongs to another key. */
#define MISMATCHED_PRIVATE_PEM                                              \
	"-----BEGIN EC PRIVATE KEY-----\n"                                  \
	"MHcCAQEEIFa6/yp2LE9z7LwiHLuSF5u2usszSrLx67MROc9ndXRhoAoGCCqGSM49\n" \
	"AwEHoUQDQgAEi66bydipdR1f5Wsc3ifUtVPGDAUaWjW9OR29ItfMfCasRAFQBHkt\n" \
	"mhkP4umMv2FpOoj8zGMh7b4ro/HBJMwMfg==\n"                             \
	"-----END EC PRIVATE KEY-----\n"

/* The DER SubjectPublicKeyInfo of a P-256 key is this prefix and the uncompressed point
 * (0x04, x, y): id-ecPublicKey, prime256v1, a BIT STRING of 66 bytes. */
#define P256_SPKI_PREFIX                                                             \
	"\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01\x06\x08\x2a\x86\x48\xce\x3d" \
	"\x03\x01\x07\x03\x42\x00"
#define P256_SPKI_PREFIX_LEN 26

#endif
