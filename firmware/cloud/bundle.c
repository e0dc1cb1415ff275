#include "cloud/bundle.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/util.h"

static const char *const refusal_codes[] = {
	[OB_CLOUD_ACCEPTED] = "accepted",
	[OB_CLOUD_BAD_SIGNATURE] = "bad_signature",
	[OB_CLOUD_UNKNOWN_KEY] = "unknown_key",
	[OB_CLOUD_INCOMPATIBLE] = "incompatible",
	[OB_CLOUD_WRONG_DEVICE] = "wrong_device",
	[OB_CLOUD_EXPIRED] = "expired",
	[OB_CLOUD_OLD_GENERATION] = "old_generation",
	[OB_CLOUD_INVALID] = "invalid",
};

const char *ob_cloud_refusal_code(enum ob_cloud_refusal refusal)
{
	if ((size_t)refusal >= OB_ARRAY_SIZE(refusal_codes))
		return "invalid";
	return refusal_codes[refusal];
}

void ob_cloud_keyring_clear(struct ob_cloud_keyring *ring)
{
	for (size_t i = 0; i < ring->count; i++)
		ob_cloud_key_free(&ring->keys[i]);
	memset(ring, 0, sizeof(*ring));
}

int ob_cloud_keyring_load(const json_t *pems, struct ob_cloud_keyring *ring, char *err,
			  size_t err_len)
{
	const json_t *item;
	size_t i;
	int ret;

	memset(ring, 0, sizeof(*ring));
	if (!json_is_array(pems) || json_array_size(pems) == 0 ||
	    json_array_size(pems) > OB_CLOUD_PINNED_KEYS_MAX) {
		snprintf(err, err_len,
			 "bundle_keys: a list of 1 to %d PEM public keys (the control plane's "
			 "bundle signing keys)", OB_CLOUD_PINNED_KEYS_MAX);
		return OB_EINVAL;
	}
	json_array_foreach(pems, i, item) {
		const char *pem = json_string_value(item);
		char why[256] = "";

		if (!pem) {
			snprintf(err, err_len, "bundle_keys[%zu]: a PEM public key, as a string", i);
			ret = OB_EINVAL;
			goto fail_clear;
		}
		ret = ob_cloud_key_from_pem(pem, strlen(pem), false, &ring->keys[ring->count], why,
					    sizeof(why));
		if (ret != 0) {
			snprintf(err, err_len, "bundle_keys[%zu]: %s", i, why);
			goto fail_clear;
		}
		ob_cloud_key_id(ring->keys[ring->count], ring->kids[ring->count]);
		ring->count++;
	}
	return 0;

fail_clear:
	ob_cloud_keyring_clear(ring);
	return ret;
}

void ob_cloud_bundle_clear(struct ob_cloud_bundle *bundle)
{
	json_decref(bundle->payload);
	memset(bundle, 0, sizeof(*bundle));
}

static int refuse(enum ob_cloud_refusal *why, enum ob_cloud_refusal refusal, char *err,
		  size_t err_len, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int refuse(enum ob_cloud_refusal *why, enum ob_cloud_refusal refusal, char *err,
		  size_t err_len, const char *fmt, ...)
{
	va_list ap;

	*why = refusal;
	va_start(ap, fmt);
	vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	return OB_EINVAL;
}

/* Verifies with the key kid names, or with each pinned key when there is no kid. */
static int verify_signature(const struct ob_jws *jws, const struct ob_cloud_keyring *ring,
			    char kid_out[OB_CLOUD_KEY_ID_CHARS + 1], enum ob_cloud_refusal *why,
			    char *err, size_t err_len)
{
	bool named = false;

	for (size_t i = 0; i < ring->count; i++) {
		if (jws->kid && strcmp(jws->kid, ring->kids[i]) != 0)
			continue;
		named = true;
		if (ob_cloud_jws_verify(jws, ring->keys[i]) == 0) {
			ob_strlcpy(kid_out, ring->kids[i], OB_CLOUD_KEY_ID_CHARS + 1);
			return 0;
		}
	}
	if (jws->kid && !named)
		return refuse(why, OB_CLOUD_UNKNOWN_KEY, err, err_len,
			      "the bundle is signed with key \"%.16s\", which this box does not pin "
			      "(it pins %zu key%s; enroll again with the control plane's current "
			      "bundle_keys)", jws->kid, ring->count, ring->count == 1 ? "" : "s");
	return refuse(why, OB_CLOUD_BAD_SIGNATURE, err, err_len,
		      "the bundle's signature does not verify with the pinned key%s: it was "
		      "changed after signing, or signed with another key",
		      jws->kid ? "" : "s");
}

/* Reads a claim that must be an RFC 3339 time. */
static int time_claim(const json_t *claims, const char *name, int64_t *ms,
		      enum ob_cloud_refusal *why, char *err, size_t err_len)
{
	const char *text = json_string_value(json_object_get(claims, name));

	if (!text || ob_time_parse_iso8601(text, ms) != 0)
		return refuse(why, OB_CLOUD_INVALID, err, err_len,
			      "%s: an RFC 3339 time such as \"2026-12-25T10:00:00Z\"", name);
	return 0;
}

/* The claims after the signature verified, in the protocol's order. */
static int check_claims(const json_t *claims, const char *device_id, int64_t now_ms,
			struct ob_cloud_bundle *out, enum ob_cloud_refusal *why, char *err,
			size_t err_len)
{
	const json_t *generation = json_object_get(claims, "generation");
	const char *compat = json_string_value(json_object_get(claims, "compat"));
	const char *device = json_string_value(json_object_get(claims, "device_id"));
	const json_t *poll = json_object_get(claims, "poll_interval_s");
	const json_t *payload = json_object_get(claims, "payload");

	if (!json_is_object(claims))
		return refuse(why, OB_CLOUD_INVALID, err, err_len,
			      "the bundle's payload is not a JSON object");
	if (!compat || strcmp(compat, OB_CLOUD_BUNDLE_COMPAT) != 0)
		return refuse(why, OB_CLOUD_INCOMPATIBLE, err, err_len,
			      "the bundle's format \"%.63s\" is not one this box reads (it reads "
			      "\"%s\"): the control plane must send this box's format",
			      compat ? compat : "(none)", OB_CLOUD_BUNDLE_COMPAT);
	if (!device || (strcmp(device, device_id) != 0 && strcmp(device, OB_CLOUD_FLEET_DEVICE) != 0))
		return refuse(why, OB_CLOUD_WRONG_DEVICE, err, err_len,
			      "the bundle is for device \"%.40s\", not this box (%s)",
			      device ? device : "(none)", device_id);
	if (time_claim(claims, "expires_at", &out->expires_at_ms, why, err, err_len) != 0 ||
	    time_claim(claims, "issued_at", &out->issued_at_ms, why, err, err_len) != 0)
		return OB_EINVAL;
	if (out->expires_at_ms <= now_ms) {
		char when[32];

		ob_time_iso8601(out->expires_at_ms, when, sizeof(when));
		return refuse(why, OB_CLOUD_EXPIRED, err, err_len,
			      "the bundle expired at %s (by this box's clock); the control plane "
			      "must sign it again", when);
	}
	if (!json_is_integer(generation) || json_integer_value(generation) < 1)
		return refuse(why, OB_CLOUD_INVALID, err, err_len,
			      "generation: a whole number of 1 or more");
	if (poll && (!json_is_integer(poll) || json_integer_value(poll) < OB_CLOUD_POLL_MIN_S ||
		     json_integer_value(poll) > OB_CLOUD_POLL_MAX_S))
		return refuse(why, OB_CLOUD_INVALID, err, err_len,
			      "poll_interval_s: a whole number of seconds from %d to %d",
			      OB_CLOUD_POLL_MIN_S, OB_CLOUD_POLL_MAX_S);
	if (!json_is_object(payload))
		return refuse(why, OB_CLOUD_INVALID, err, err_len,
			      "payload: an object (the parts of the box's configuration to set)");
	out->generation = json_integer_value(generation);
	ob_strlcpy(out->device_id, device, sizeof(out->device_id));
	ob_strlcpy(out->compat, compat, sizeof(out->compat));
	out->poll_interval_s = poll ? (int)json_integer_value(poll) : 0;
	out->payload = json_incref((json_t *)payload);
	return 0;
}

int ob_cloud_bundle_check(const char *text, size_t len, const struct ob_cloud_keyring *ring,
			  const char *device_id, int64_t now_ms, struct ob_cloud_bundle *out,
			  enum ob_cloud_refusal *why, char *err, size_t err_len)
{
	struct ob_jws jws = { 0 };
	json_t *claims = NULL;
	json_error_t jerr;
	char why_text[256] = "";
	int ret;

	memset(out, 0, sizeof(*out));
	*why = OB_CLOUD_ACCEPTED;
	ret = ob_cloud_jws_parse(text, len, &jws, why_text, sizeof(why_text));
	if (ret != 0) {
		if (ret == OB_ENOMEM)
			return ret;
		return refuse(why, OB_CLOUD_BAD_SIGNATURE, err, err_len,
			      "the bundle is not a compact JWS: %s", why_text);
	}
	if (strcmp(jws.alg, OB_JWS_ALG) != 0) {
		ret = refuse(why, OB_CLOUD_BAD_SIGNATURE, err, err_len,
			     "the bundle's alg is \"%.20s\"; only %s is taken", jws.alg, OB_JWS_ALG);
		goto out_clear;
	}
	if (!jws.typ || strcmp(jws.typ, OB_CLOUD_BUNDLE_TYP) != 0) {
		ret = refuse(why, OB_CLOUD_BAD_SIGNATURE, err, err_len,
			     "the JWS's typ is \"%.40s\", not \"%s\": it is not a bundle",
			     jws.typ ? jws.typ : "(none)", OB_CLOUD_BUNDLE_TYP);
		goto out_clear;
	}
	ret = verify_signature(&jws, ring, out->kid, why, err, err_len);
	if (ret != 0)
		goto out_clear;
	claims = json_loadb((const char *)jws.payload, jws.payload_len, JSON_REJECT_DUPLICATES,
			    &jerr);
	if (!claims) {
		ret = refuse(why, OB_CLOUD_INVALID, err, err_len,
			     "the bundle's payload is not JSON: %s (line %d)", jerr.text, jerr.line);
		goto out_clear;
	}
	ret = check_claims(claims, device_id, now_ms, out, why, err, err_len);
	json_decref(claims);
out_clear:
	ob_cloud_jws_clear(&jws);
	if (ret != 0)
		ob_cloud_bundle_clear(out);
	return ret;
}
