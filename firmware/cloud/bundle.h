/* Desired-state bundles (docs/control-plane.md, "The bundle"): the pinned signing keys a
 * box trusts, and the checks a bundle must pass before anything of it is applied
 * (signature, key, compat, device, expiry). The generation and the payload are checked by
 * the sync, which knows the box's state. */
#ifndef OB_CLOUD_BUNDLE_H
#define OB_CLOUD_BUNDLE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/identity.h"
#include "cloud/jws.h"

#define OB_CLOUD_BUNDLE_TYP "ottbox-bundle+jws"
#define OB_CLOUD_BUNDLE_COMPAT "ottbox-bundle/1"
#define OB_CLOUD_FLEET_DEVICE "*"          /* a bundle's device_id for every box */
#define OB_CLOUD_PINNED_KEYS_MAX 8
#define OB_CLOUD_POLL_MIN_S 10
#define OB_CLOUD_POLL_MAX_S 86400
#define OB_CLOUD_COMPAT_MAX 63

/* Why a bundle is refused; the codes are the protocol's. */
enum ob_cloud_refusal {
	OB_CLOUD_ACCEPTED = 0,
	OB_CLOUD_BAD_SIGNATURE,   /* does not parse, not ES256, wrong typ, or does not verify */
	OB_CLOUD_UNKNOWN_KEY,     /* kid names no pinned key */
	OB_CLOUD_INCOMPATIBLE,    /* compat is not a format this box reads */
	OB_CLOUD_WRONG_DEVICE,    /* for another box */
	OB_CLOUD_EXPIRED,         /* expires_at has passed */
	OB_CLOUD_OLD_GENERATION,  /* not above the highest generation applied */
	OB_CLOUD_INVALID,         /* claims or payload fail validation */
};

/* "bad_signature", "unknown_key", ... ("accepted" for OB_CLOUD_ACCEPTED). */
const char *ob_cloud_refusal_code(enum ob_cloud_refusal refusal);

/* The control plane's bundle signing keys the box pinned at enrollment. */
struct ob_cloud_keyring {
	struct ob_cloud_key *keys[OB_CLOUD_PINNED_KEYS_MAX];
	char kids[OB_CLOUD_PINNED_KEYS_MAX][OB_CLOUD_KEY_ID_CHARS + 1];
	size_t count;
};

/* Reads a JSON array of 1 to OB_CLOUD_PINNED_KEYS_MAX PEM public keys (P-256) into ring
 * (cleared first). 0, or OB_EINVAL with a message naming the entry ("bundle_keys[1]: ..."),
 * or OB_ENOMEM. */
int ob_cloud_keyring_load(const json_t *pems, struct ob_cloud_keyring *ring, char *err,
			  size_t err_len);

/* Frees the keys of a ring and zeroes it. */
void ob_cloud_keyring_clear(struct ob_cloud_keyring *ring);

/* A bundle whose envelope checks passed. */
struct ob_cloud_bundle {
	int64_t generation;                          /* 1 or more */
	char device_id[OB_CLOUD_DEVICE_ID_CHARS + 1]; /* the box's id, or "*" */
	char kid[OB_CLOUD_KEY_ID_CHARS + 1];         /* the pinned key that verified it */
	char compat[OB_CLOUD_COMPAT_MAX + 1];
	int64_t issued_at_ms;
	int64_t expires_at_ms;
	int poll_interval_s;                         /* 0 when the bundle sets none */
	json_t *payload;                             /* an object (owned) */
};

/* Checks a compact JWS bundle of len bytes for the box device_id at now_ms against the
 * pinned keys, in the protocol's order: parse, typ and alg, kid, signature; then the claims
 * (a positive integer generation, device_id, compat, RFC 3339 issued_at and expires_at,
 * poll_interval_s within bounds, an object payload). 0 with *out filled; otherwise a
 * refusal in *why (never OB_CLOUD_ACCEPTED) with a message in err, and OB_EINVAL (or
 * OB_ENOMEM). Free *out with ob_cloud_bundle_clear. */
int ob_cloud_bundle_check(const char *text, size_t len, const struct ob_cloud_keyring *ring,
			  const char *device_id, int64_t now_ms, struct ob_cloud_bundle *out,
			  enum ob_cloud_refusal *why, char *err, size_t err_len);

/* Frees what a check made and zeroes *bundle. */
void ob_cloud_bundle_clear(struct ob_cloud_bundle *bundle);

#endif
