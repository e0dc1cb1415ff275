/* Cryptographically secure random bytes from mbedTLS's CTR-DRBG, shared by all threads. */
#ifndef OB_CORE_RAND_H
#define OB_CORE_RAND_H

#include <stddef.h>

/* Seeds the generator from the system's entropy. Call once before any thread starts. */
int ob_random_init(void);

/* Frees the generator. */
void ob_random_free(void);

/* Fills buf with len random bytes. Returns 0 or OB_EIO. Thread-safe. */
int ob_random_bytes(void *buf, size_t len);

/* Writes n_bytes random bytes as 2*n_bytes lowercase hex digits and a NUL into out,
 * which must hold 2*n_bytes+1 characters. */
int ob_random_hex(char *out, size_t n_bytes);

/* Writes n_bytes random bytes as unpadded base64url and a NUL into out (out_len bytes). */
int ob_random_base64url(char *out, size_t out_len, size_t n_bytes);

/* The mbedTLS-style f_rng callback over the shared generator, for key generation. */
int ob_random_mbedtls(void *unused, unsigned char *out, size_t len);

#endif
