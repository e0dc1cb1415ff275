/* Fuzzes the desired-state bundle check (ob_cloud_bundle_check) against one fixed pinned key,
 * the RFC 7515 A.3 key. Every input is checked as a compact JWS; an input that starts with
 * '{' is also taken as the claims of a bundle, signed with the pinned key (with and without
 * a kid), so the claims' checks see arbitrary JSON behind a good signature. Checks that an
 * accepted bundle holds what the protocol promises (generation 1 or more, this box or "*",
 * the one compat, a future expiry, a poll interval within bounds or none, an object
 * payload, the pinned kid) and that a refused one holds nothing and says why. */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/cloud_vectors.h"
#include "cloud/bundle.h"
#include "core/err.h"
#include "core/rand.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_MS INT64_C(1790000000000) /* 2026-09-21T14:13:20Z */
#define DEVICE "obx-00112233445566778899aabbccddeeff"

static struct ob_cloud_key *signer;
static struct ob_cloud_keyring ring;

static void setup(void)
{
	json_t *pems;
	char err[256];

	if (signer)
		return;
	pems = json_pack("[s]", RFC_PUBLIC_PEM);
	if (ob_random_init() != 0 || !pems ||
	    ob_cloud_key_from_pem(RFC_PRIVATE_SEC1_PEM, strlen(RFC_PRIVATE_SEC1_PEM), true, &signer,
				  err, sizeof(err)) != 0 ||
	    ob_cloud_keyring_load(pems, &ring, err, sizeof(err)) != 0 || ring.count != 1 ||
	    strcmp(ring.kids[0], RFC_KEY_ID) != 0)
		abort();
	json_decref(pems);
}

static void check(const char *text, size_t len)
{
	struct ob_cloud_bundle out;
	enum ob_cloud_refusal why = OB_CLOUD_ACCEPTED;
	char err[768];
	int ret;

	err[0] = '\0';
	ret = ob_cloud_bundle_check(text, len, &ring, DEVICE, NOW_MS, &out, &why, err, sizeof(err));
	if (ret == 0) {
		int64_t poll = out.poll_interval_s;

		if (why != OB_CLOUD_ACCEPTED || out.generation < 1 || !json_is_object(out.payload) ||
		    (strcmp(out.device_id, DEVICE) != 0 && strcmp(out.device_id, "*") != 0) ||
		    strcmp(out.compat, OB_CLOUD_BUNDLE_COMPAT) != 0 ||
		    strcmp(out.kid, RFC_KEY_ID) != 0 || out.expires_at_ms <= NOW_MS ||
		    (poll != 0 && (poll < OB_CLOUD_POLL_MIN_S || poll > OB_CLOUD_POLL_MAX_S)))
			abort();
		ob_cloud_bundle_clear(&out);
		if (out.payload || out.generation)
			abort();
		return;
	}
	if ((ret != OB_EINVAL && ret != OB_ENOMEM) || out.payload || out.generation ||
	    out.kid[0] || memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (ret == OB_EINVAL && (why == OB_CLOUD_ACCEPTED || err[0] == '\0'))
		abort();
}

/* The input as claims, signed with the pinned key. */
static void check_signed(const uint8_t *data, size_t size, bool with_kid)
{
	json_t *header = json_pack("{s:s}", "typ", OB_CLOUD_BUNDLE_TYP);
	char *text = NULL;

	if (!header)
		abort();
	if (with_kid)
		json_object_set_new(header, "kid", json_string(RFC_KEY_ID));
	if (ob_cloud_jws_sign(signer, header, data, size, &text) == 0) {
		check(text, strlen(text));
		free(text);
	}
	json_decref(header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	setup();
	check((const char *)data, size);
	if (size > 0 && data[0] == '{' && size <= OB_JWS_PAYLOAD_MAX) {
		check_signed(data, size, true);
		check_signed(data, size, false);
	}
	return 0;
}
