/* Cost of one playback token verification, for `make bench`: a typical ACL token checked
 * against a 2-key ring, once signed by the first key and once by the second (both MACs
 * computed). Prints, per case, the median and the 90th percentile of nanoseconds per
 * verification over batches, as "key=N median_ns=X p90_ns=Y iterations=Z". */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "access/token.h"
#include "core/err.h"

#define ITERATIONS 200000
#define BATCH 1000
#define BATCHES (ITERATIONS / BATCH)
#define NOW INT64_C(1735689600)

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Times verifications of token; 0, or 1 when a verification does not answer ok. */
static int measure(const struct ob_token_policy *policy, const char *token, int key_number)
{
	static double per_call[BATCHES];
	struct ob_token_request request = {
		.path = "/live/premium/news/720p/seg_000123.m4s",
		.client_addr = "198.51.100.7",
		.now_s = NOW,
	};
	size_t len = strlen(token);
	unsigned failures = 0;

	for (int i = 0; i < BATCH; i++) /* warm up */
		failures += ob_access_token_verify(policy, token, len, &request, NULL) != OB_TOKEN_OK;
	for (int b = 0; b < BATCHES; b++) {
		int64_t started = now_ns();

		for (int i = 0; i < BATCH; i++)
			failures += ob_access_token_verify(policy, token, len, &request, NULL) !=
				    OB_TOKEN_OK;
		per_call[b] = (double)(now_ns() - started) / BATCH;
	}
	if (failures) {
		fprintf(stderr, "token_bench: %u verifications did not answer ok\n", failures);
		return 1;
	}
	qsort(per_call, BATCHES, sizeof(per_call[0]), compare_double);
	printf("key=%d median_ns=%.0f p90_ns=%.0f iterations=%d\n", key_number,
	       per_call[BATCHES / 2], per_call[BATCHES * 9 / 10], ITERATIONS);
	return 0;
}

int main(void)
{
	struct ob_token_params params = { .has_start = true, .start = NOW - 60, .window_s = 14400,
					  .acl = "/live/premium/news/*!/vod/premium/news/*",
					  .id = "viewer-0123456789" };
	struct ob_token_key keys[2];
	struct ob_token_ring *ring = ob_access_token_ring_new();
	struct ob_token_policy policy = { .ring = ring, .skew_s = OB_TOKEN_SKEW_DEFAULT_S };
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];
	int ret = 0;

	if (!ring || ob_access_token_key_from_hex("current", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", &keys[0]) ||
	    ob_access_token_key_from_hex("previous", "00112233445566778899aabbccddeeff", &keys[1]) ||
	    ob_access_token_ring_add(ring, &keys[0]) || ob_access_token_ring_add(ring, &keys[1])) {
		fprintf(stderr, "token_bench: the key ring could not be built\n");
		return 1;
	}
	for (int k = 0; k < 2 && ret == 0; k++) {
		if (ob_access_token_issue(&keys[k], &params, NOW, token, sizeof(token), err,
					  sizeof(err)) != 0) {
			fprintf(stderr, "token_bench: %s\n", err);
			ret = 1;
		} else {
			ret = measure(&policy, token, k + 1);
		}
	}
	ob_access_token_ring_free(&ring);
	return ret;
}
