#include "core/rand.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <pthread.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/util.h"

static pthread_mutex_t rand_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context entropy;
static mbedtls_ctr_drbg_context drbg;
static bool rand_ready;

int ob_random_init(void)
{
	static const char personal[] = "ottbox";
	int ret = 0;

	pthread_mutex_lock(&rand_lock);
	if (rand_ready)
		goto out_unlock;
	mbedtls_entropy_init(&entropy);
	mbedtls_ctr_drbg_init(&drbg);
	if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
				  (const unsigned char *)personal, sizeof(personal) - 1) != 0) {
		mbedtls_ctr_drbg_free(&drbg);
		mbedtls_entropy_free(&entropy);
		ret = OB_EIO;
		goto out_unlock;
	}
	mbedtls_ctr_drbg_set_prediction_resistance(&drbg, MBEDTLS_CTR_DRBG_PR_OFF);
	rand_ready = true;
out_unlock:
	pthread_mutex_unlock(&rand_lock);
	return ret;
}

void ob_random_free(void)
{
	pthread_mutex_lock(&rand_lock);
	if (rand_ready) {
		mbedtls_ctr_drbg_free(&drbg);
		mbedtls_entropy_free(&entropy);
		rand_ready = false;
	}
	pthread_mutex_unlock(&rand_lock);
}

int ob_random_bytes(void *buf, size_t len)
{
	unsigned char *out = buf;
	int ret = 0;

	if (!rand_ready && ob_random_init() != 0)
		return OB_EIO;
	pthread_mutex_lock(&rand_lock);
	while (len > 0) {
		size_t chunk = len > MBEDTLS_CTR_DRBG_MAX_REQUEST ? MBEDTLS_CTR_DRBG_MAX_REQUEST : len;

		if (mbedtls_ctr_drbg_random(&drbg, out, chunk) != 0) {
			ret = OB_EIO;
			break;
		}
		out += chunk;
		len -= chunk;
	}
	pthread_mutex_unlock(&rand_lock);
	return ret;
}

int ob_random_hex(char *out, size_t n_bytes)
{
	unsigned char raw[64];
	int ret;

	if (n_bytes > sizeof(raw))
		return OB_EINVAL;
	ret = ob_random_bytes(raw, n_bytes);
	if (ret == 0)
		ob_hex_encode(raw, n_bytes, out);
	ob_secure_zero(raw, sizeof(raw));
	return ret;
}

int ob_random_base64url(char *out, size_t out_len, size_t n_bytes)
{
	unsigned char raw[64];
	int ret;

	if (n_bytes > sizeof(raw) || out_len < ob_base64url_len(n_bytes) + 1)
		return OB_EINVAL;
	ret = ob_random_bytes(raw, n_bytes);
	if (ret == 0)
		ob_base64url_encode(raw, n_bytes, out);
	ob_secure_zero(raw, sizeof(raw));
	return ret;
}

int ob_random_mbedtls(void *unused, unsigned char *out, size_t len)
{
	(void)unused;
	return ob_random_bytes(out, len) == 0 ? 0 : MBEDTLS_ERR_CTR_DRBG_ENTROPY_SOURCE_FAILED;
}
