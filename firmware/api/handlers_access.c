/* /api/v1/access/... and /api/v1/playback-tokens: the entitlement policy, the token keys
 * (imported or generated; never readable back), revocations, the decision counters, and
 * issuing playback tokens. Every change is put into effect for the origin before the
 * answer goes out. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/err.h"
#include "core/events.h"
#include "core/json.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/util.h"

#define MODULE "api"
#define GENERATED_KEY_BYTES 32

/* Tells the event log what access change this request made. */
static void access_event(struct ob_req *req, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void access_event(struct ob_req *req, const char *what, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ob_event_publish(OB_EVENT_INFO, "access.changed", NULL,
			 json_pack("{s:s, s:s}", "what", what, "actor", req->actor), "%s (by %s)",
			 message, req->actor);
}

void ob_api_access_reload(struct ob_req *req)
{
	char err[256];

	if (ob_access_entitle_reload(req->api->entitle, req->api->store, err, sizeof(err)) != 0)
		ob_error(MODULE, "the playback access state was not reloaded: %s", err);
}

/* ---- policy ---- */

void ob_api_get_access_policy(struct ob_req *req)
{
	struct ob_access_policy policy;

	ob_access_entitle_policy(req->api->entitle, &policy);
	ob_api_reply_json(req, 200, ob_access_policy_to_json(&policy));
}

/* Sends 409 and returns nonzero when a channel names a risk class the policy lacks. */
static int risk_classes_in_use(struct ob_req *req, const struct ob_access_policy *policy)
{
	json_t *channels = ob_store_doc_list(req->api->store, OB_STORE_CHANNELS);
	json_t *channel;
	size_t i;
	int ret = 0;

	json_array_foreach(channels, i, channel) {
		const char *risk = json_string_value(json_object_get(channel, "risk_class"));

		if (risk && !ob_access_policy_risk(policy, risk)) {
			ob_api_reply_error(req, 409, "conflict",
					   "risk_classes: channel \"%s\" uses the risk class \"%s\"; "
					   "keep the class, or move the channel to another first",
					   json_string_value(json_object_get(channel, "id")), risk);
			ret = -1;
			break;
		}
	}
	json_decref(channels);
	return ret;
}

void ob_api_put_access_policy(struct ob_req *req)
{
	struct ob_access_policy policy;
	char err[512];
	json_t *doc;
	int ret;

	if (ob_access_policy_from_json(req->body, &policy, err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	if (risk_classes_in_use(req, &policy) != 0)
		return;
	doc = ob_access_policy_to_json(&policy);
	{
		struct ob_audit audit = ob_api_audit(req, "access.policy", "policy", doc);

		ret = ob_store_access_policy_put(req->api->store, doc, &audit);
	}
	if (ret != 0) {
		json_decref(doc);
		ob_api_reply_err(req, ret, "the policy could not be saved");
		return;
	}
	ob_api_access_reload(req);
	access_event(req, "policy", "the access policy was changed");
	ob_api_reply_json(req, 200, doc);
}

/* ---- keys ---- */

static const struct ob_json_field key_create_fields[] = {
	{ "id", OB_JSON_STRING, true },
	{ "secret_hex", OB_JSON_STRING, false },
	{ "signing", OB_JSON_BOOLEAN, false },
};

static const struct ob_json_field key_update_fields[] = {
	{ "signing", OB_JSON_BOOLEAN, true },
};

void ob_api_get_access_keys(struct ob_req *req)
{
	ob_api_reply_json(req, 200,
			  json_pack("{s:o}", "keys", ob_store_access_key_list(req->api->store)));
}

static void fingerprint(const unsigned char *secret, size_t len, char out[17])
{
	unsigned char digest[32];

	mbedtls_sha256_ret(secret, len, digest, 0);
	ob_hex_encode(digest, 8, out);
}

void ob_api_post_access_keys(struct ob_req *req)
{
	struct ob_access_key_row row = { 0 };
	struct ob_token_key key;
	char err[512];
	char hex[2 * OB_TOKEN_KEY_MAX_BYTES + 1] = "";
	const char *id;
	const char *secret_hex;
	json_t *detail;
	int ret;

	if (ob_json_check_fields(req->body, key_create_fields, OB_ARRAY_SIZE(key_create_fields),
				 "", err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	id = json_string_value(json_object_get(req->body, "id"));
	secret_hex = json_string_value(json_object_get(req->body, "secret_hex"));
	if (!ob_is_slug(id, OB_TOKEN_KEY_ID_MAX)) {
		ob_api_reply_error(req, 400, "invalid",
				   "id: 1 to %d characters of a-z, 0-9, - and _, starting with a "
				   "letter or digit (\"2026-11\", \"cdn-a\")", OB_TOKEN_KEY_ID_MAX);
		return;
	}
	if (!secret_hex) {
		unsigned char secret[GENERATED_KEY_BYTES];

		ret = ob_random_bytes(secret, sizeof(secret));
		if (ret != 0) {
			ob_api_reply_err(req, ret, "no random bytes for a new key");
			return;
		}
		ob_hex_encode(secret, sizeof(secret), hex);
		ob_secure_zero(secret, sizeof(secret));
		secret_hex = hex;
	}
	if (ob_access_token_key_from_hex(id, secret_hex, &key) != 0) {
		ob_api_reply_error(req, 400, "invalid",
				   "secret_hex: must be %d to %d hex digits (an even number; the "
				   "key as the CDN's token configuration shows it)",
				   2 * OB_TOKEN_KEY_MIN_BYTES, 2 * OB_TOKEN_KEY_MAX_BYTES);
		goto out_wipe;
	}
	ob_strlcpy(row.id, key.id, sizeof(row.id));
	memcpy(row.secret, key.secret, key.secret_len);
	row.secret_len = key.secret_len;
	fingerprint(key.secret, key.secret_len, row.fingerprint);
	row.signing = json_is_true(json_object_get(req->body, "signing"));
	ob_strlcpy(row.source, hex[0] ? "generated" : "imported", sizeof(row.source));
	ob_strlcpy(row.created_by, req->actor, sizeof(row.created_by));
	row.created_ms = ob_time_wall_ms();
	detail = json_pack("{s:s, s:s, s:b}", "fingerprint", row.fingerprint, "source", row.source,
			   "signing", row.signing);
	{
		struct ob_audit audit = ob_api_audit(req, "access.key.create", row.id, detail);

		ret = ob_store_access_key_add(req->api->store, &row, &audit);
	}
	json_decref(detail);
	if (ret == OB_EEXIST) {
		ob_api_reply_error(req, 409, "exists",
				   "id: a key \"%s\" exists; give the new key another id", row.id);
	} else if (ret == OB_ETOOBIG) {
		ob_api_reply_error(req, 409, "conflict",
				   "the box holds %d keys, the most it tries per token; retire one "
				   "with DELETE /api/v1/access/keys/ID first", OB_ACCESS_KEYS_MAX);
	} else if (ret != 0) {
		ob_api_reply_err(req, ret, "the key could not be stored");
	} else {
		json_t *body;
		json_t *keys;
		json_t *item;
		size_t i;

		ob_api_access_reload(req);
		access_event(req, "keys", "token key \"%s\" added", row.id);
		/* The stored row as the list shows it, plus the secret once when generated. */
		keys = ob_store_access_key_list(req->api->store);
		body = NULL;
		json_array_foreach(keys, i, item)
			if (strcmp(json_string_value(json_object_get(item, "id")), row.id) == 0)
				body = json_incref(item);
		json_decref(keys);
		if (!body)
			body = json_pack("{s:s}", "id", row.id);
		if (hex[0])
			json_object_set_new(body, "secret_hex", json_string(hex));
		ob_api_reply_json(req, 201, body);
	}
out_wipe:
	ob_secure_zero(hex, sizeof(hex));
	ob_secure_zero(&key, sizeof(key));
	ob_secure_zero(&row, sizeof(row));
}

void ob_api_patch_access_key(struct ob_req *req)
{
	char err[512];
	int ret;

	if (ob_json_check_fields(req->body, key_update_fields, OB_ARRAY_SIZE(key_update_fields),
				 "", err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	if (!json_is_true(json_object_get(req->body, "signing"))) {
		ob_api_reply_error(req, 400, "invalid",
				   "signing: only true is accepted (make another key the signing key "
				   "to take the mark from this one)");
		return;
	}
	{
		struct ob_audit audit = ob_api_audit(req, "access.key.signing", req->params[0], NULL);

		ret = ob_store_access_key_set_signing(req->api->store, req->params[0], &audit);
	}
	if (ret == OB_ENOTFOUND) {
		ob_api_reply_error(req, 404, "not_found", "no token key \"%s\"", req->params[0]);
		return;
	}
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the key could not be changed");
		return;
	}
	ob_api_access_reload(req);
	access_event(req, "keys", "token key \"%s\" now signs new tokens", req->params[0]);
	ob_api_get_access_keys(req);
}

void ob_api_delete_access_key(struct ob_req *req)
{
	struct ob_audit audit = ob_api_audit(req, "access.key.delete", req->params[0], NULL);
	int ret = ob_store_access_key_delete(req->api->store, req->params[0], &audit);

	if (ret == OB_ENOTFOUND) {
		ob_api_reply_error(req, 404, "not_found", "no token key \"%s\"", req->params[0]);
	} else if (ret == OB_ECONFLICT) {
		ob_api_reply_error(req, 409, "conflict",
				   "\"%s\" signs new tokens; make another key the signing key "
				   "(PATCH /api/v1/access/keys/ID {\"signing\": true}) first",
				   req->params[0]);
	} else if (ret != 0) {
		ob_api_reply_err(req, ret, "the key could not be deleted");
	} else {
		ob_api_access_reload(req);
		access_event(req, "keys", "token key \"%s\" retired", req->params[0]);
		ob_api_reply_empty(req, NULL);
	}
}

/* ---- revocations ---- */

void ob_api_get_access_revocations(struct ob_req *req)
{
	ob_api_reply_json(req, 200,
			  json_pack("{s:o}", "revocations",
				    ob_store_access_revocation_list(req->api->store,
								    ob_time_wall_ms())));
}

void ob_api_post_access_revocations(struct ob_req *req)
{
	struct ob_revocation_input rev;
	const char *value = rev.value;
	int64_t id = 0;
	char err[512];
	int ret;

	if (ob_access_revocation_from_json(req->body, ob_time_wall_ms(), &rev, err,
					   sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	{
		struct ob_audit audit = ob_api_audit(req, "access.revoke", value, req->body);

		ret = ob_store_access_revocation_add(req->api->store, rev.viewer ? "viewer" : "token",
						     value, rev.reason[0] ? rev.reason : NULL,
						     rev.expires_ms, &audit, &id);
	}
	if (ret == OB_EEXIST) {
		ob_api_reply_error(req, 409, "exists", "%s \"%s\" is revoked already",
				   rev.viewer ? "viewer_id" : "token_id", value);
		return;
	}
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the revocation could not be stored");
		return;
	}
	ob_api_access_reload(req);
	access_event(req, "revocations", "%s %s revoked", rev.viewer ? "viewer" : "token", value);
	{
		json_t *list = ob_store_access_revocation_list(req->api->store, ob_time_wall_ms());
		json_t *item;
		json_t *body = NULL;
		size_t i;

		json_array_foreach(list, i, item)
			if (json_integer_value(json_object_get(item, "id")) == id)
				body = json_incref(item);
		json_decref(list);
		ob_api_reply_json(req, 201, body ? body : json_pack("{s:I}", "id", (json_int_t)id));
	}
}

void ob_api_delete_access_revocation(struct ob_req *req)
{
	char *end;
	long long id;
	int ret;

	errno = 0;
	id = strtoll(req->params[0], &end, 10);
	if (*end || errno || id <= 0) {
		ob_api_reply_error(req, 404, "not_found",
				   "no revocation \"%s\" (ids are the numbers GET "
				   "/api/v1/access/revocations lists)", req->params[0]);
		return;
	}
	{
		struct ob_audit audit = ob_api_audit(req, "access.unrevoke", req->params[0], NULL);

		ret = ob_store_access_revocation_delete(req->api->store, id, &audit);
	}
	if (ret == OB_ENOTFOUND) {
		ob_api_reply_error(req, 404, "not_found", "no revocation %lld", id);
	} else if (ret != 0) {
		ob_api_reply_err(req, ret, "the revocation could not be deleted");
	} else {
		ob_api_access_reload(req);
		access_event(req, "revocations", "revocation %s lifted", req->params[0]);
		ob_api_reply_empty(req, NULL);
	}
}

void ob_api_get_access_stats(struct ob_req *req)
{
	ob_api_reply_json(req, 200, ob_access_entitle_stats(req->api->entitle));
}

/* ---- issuing ---- */

static const struct ob_json_field issue_fields[] = {
	{ "path", OB_JSON_STRING, true },
	{ "risk_class", OB_JSON_STRING, false },
	{ "ttl_seconds", OB_JSON_INTEGER, false },
	{ "viewer_id", OB_JSON_STRING, false },
	{ "session_id", OB_JSON_STRING, false },
	{ "ip", OB_JSON_STRING, false },
};

/* The Host header when it is a plain host[:port] (nothing a URL could be bent with). */
static const char *usable_host(struct ob_req *req)
{
	const char *host = mg_get_header(req->conn, "Host");

	if (!host || !*host || strlen(host) > 255 ||
	    strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
		    strlen(host))
		return NULL;
	return host;
}

void ob_api_post_playback_tokens(struct ob_req *req)
{
	struct ob_entitle_issue issue = { 0 };
	struct ob_entitle_issued issued;
	const json_t *ttl = json_object_get(req->body, "ttl_seconds");
	const char *host;
	char err[512];
	char url[OB_TOKEN_MAX_CHARS + OB_TOKEN_PATH_MAX + 300];
	char expires[32];
	int ret;

	if (ob_json_check_fields(req->body, issue_fields, OB_ARRAY_SIZE(issue_fields), "", err,
				 sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	if (ttl && json_integer_value(ttl) <= 0) {
		ob_api_reply_error(req, 400, "invalid",
				   "ttl_seconds: a number of seconds above 0 (or leave it out for "
				   "the risk class's lifetime)");
		return;
	}
	issue.path = json_string_value(json_object_get(req->body, "path"));
	issue.risk_class = json_string_value(json_object_get(req->body, "risk_class"));
	issue.ttl_s = ttl ? json_integer_value(ttl) : 0;
	issue.viewer_id = json_string_value(json_object_get(req->body, "viewer_id"));
	issue.session_id = json_string_value(json_object_get(req->body, "session_id"));
	issue.ip = json_string_value(json_object_get(req->body, "ip"));
	issue.now_s = ob_time_wall_ms() / 1000;
	if (strchr(issue.path, '?') || strchr(issue.path, '#')) {
		ob_api_reply_error(req, 400, "invalid",
				   "path: the content's path alone, without a query or fragment");
		return;
	}
	ret = ob_access_entitle_issue(req->api->entitle, &issue, &issued, err, sizeof(err));
	if (ret == OB_ENOTFOUND) {
		ob_api_reply_error(req, 409, "conflict", "%s", err);
		return;
	}
	if (ret != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	host = usable_host(req);
	if (host)
		snprintf(url, sizeof(url), "%s://%s%s?" OB_TOKEN_NAME_DEFAULT "=%s",
			 req->info->is_ssl ? "https" : "http", host, issue.path, issued.token);
	else
		snprintf(url, sizeof(url), "%s?" OB_TOKEN_NAME_DEFAULT "=%s", issue.path,
			 issued.token);
	ob_time_iso8601(issued.expiry * 1000, expires, sizeof(expires));
	ob_api_reply_json(req, 201,
			  json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s, s:s, s:s}", "token",
				    issued.token, "url", url, "acl", issued.acl, "expires_at",
				    expires, "expires", (json_int_t)issued.expiry, "ttl_seconds",
				    (json_int_t)issued.ttl_s, "risk_class", issued.risk_class, "key_id",
				    issued.key_id, "token_id", issued.token_id));
	ob_debug(MODULE, "%s issued token %s for %s (%s, %" PRId64 " s)", req->actor,
		 issued.token_id, issue.path, issued.risk_class, issued.ttl_s);
}
