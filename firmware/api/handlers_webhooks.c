/* /api/v1/webhooks/...: operators register receivers of lifecycle events, read what was
 * sent to them (every attempt and the outcome), test them, and send a failed delivery
 * again. The secret is shown once, when the box makes it. The sender (cloud/webhooks.c)
 * does the sending; it learns of changes from the webhook.* events published here. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "cloud/http.h"
#include "cloud/webhooks.h"
#include "core/err.h"
#include "core/events.h"
#include "core/json.h"
#include "core/rand.h"
#include "core/util.h"

#define SECRET_PREFIX "whsec_"
#define GENERATED_SECRET_BYTES 32  /* base64url: 43 characters after the prefix */
#define DELIVERIES_DEFAULT 20
#define DELIVERIES_MAX 100

static const struct ob_json_field create_fields[] = {
	{ "url", OB_JSON_STRING, true },
	{ "events", OB_JSON_ARRAY, true },
	{ "description", OB_JSON_STRING, false },
	{ "enabled", OB_JSON_BOOLEAN, false },
	{ "secret", OB_JSON_STRING, false },
};

static const struct ob_json_field update_fields[] = {
	{ "url", OB_JSON_STRING, false },
	{ "events", OB_JSON_ARRAY, false },
	{ "description", OB_JSON_STRING_OR_NULL, false },
	{ "enabled", OB_JSON_BOOLEAN, false },
	{ "secret", OB_JSON_STRING, false },
	{ "rotate_secret", OB_JSON_BOOLEAN, false },
};

/* Tells the event log (and so the sender) what changed; data {"webhook", "what",
 * "actor"}. */
static void webhook_event(struct ob_req *req, const char *kind, const char *id,
			  const char *what, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static void webhook_event(struct ob_req *req, const char *kind, const char *id,
			  const char *what, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ob_event_publish(OB_EVENT_INFO, kind, NULL,
			 json_pack("{s:s, s:s, s:s}", "webhook", id, "what", what, "actor",
				   req->actor),
			 "webhook \"%s\" %s (by %s)", id, message, req->actor);
}

/* Checks the url, events, description and secret a body sets, and puts them into hook.
 * Sends 400 and returns nonzero when one is not acceptable. */
static int take_fields(struct ob_req *req, struct ob_webhook *hook)
{
	const json_t *url = json_object_get(req->body, "url");
	const json_t *events = json_object_get(req->body, "events");
	const json_t *description = json_object_get(req->body, "description");
	const json_t *enabled = json_object_get(req->body, "enabled");
	const char *secret = json_string_value(json_object_get(req->body, "secret"));
	struct ob_http_url parsed;
	char err[768];

	if (url) {
		if (ob_cloud_http_url_parse(json_string_value(url), &parsed, err, sizeof(err)) != 0) {
			ob_api_reply_error(req, 400, "invalid", "%s (the receiver's http:// or "
					   "https:// URL)", err);
			return -1;
		}
		ob_strlcpy(hook->url, json_string_value(url), sizeof(hook->url));
	}
	if (events) {
		uint32_t mask;
		char *text;

		if (ob_cloud_webhook_events_parse(events, &mask, err, sizeof(err)) != 0) {
			ob_api_reply_error(req, 400, "invalid", "%s", err);
			return -1;
		}
		text = json_dumps(events, JSON_COMPACT);
		if (!text || ob_strlcpy(hook->events, text, sizeof(hook->events)) != 0) {
			free(text);
			ob_api_reply_error(req, 400, "invalid", "events: list each type once");
			return -1;
		}
		free(text);
	}
	if (description) {
		const char *text = json_string_value(description);
		long chars = text ? ob_utf8_chars(text) : 0;

		if (chars < 0 || chars > OB_WEBHOOK_DESCRIPTION_CHARS) {
			ob_api_reply_error(req, 400, "invalid",
					   "description: at most %d characters of text without "
					   "control characters (what the receiver is, for people)",
					   OB_WEBHOOK_DESCRIPTION_CHARS);
			return -1;
		}
		ob_strlcpy(hook->description, text ? text : "", sizeof(hook->description));
	}
	if (enabled)
		hook->enabled = json_is_true(enabled);
	if (secret) {
		size_t len = strlen(secret);
		bool printable = true;

		for (size_t i = 0; i < len; i++)
			printable = printable && secret[i] > 0x20 && secret[i] < 0x7f;
		if (len < OB_WEBHOOK_SECRET_MIN || len > OB_WEBHOOK_SECRET_MAX || !printable) {
			ob_api_reply_error(req, 400, "invalid",
					   "secret: %d to %d printable ASCII characters without "
					   "spaces (or leave it out, and the box makes one)",
					   OB_WEBHOOK_SECRET_MIN, OB_WEBHOOK_SECRET_MAX);
			return -1;
		}
		memcpy(hook->secret, secret, len);
		hook->secret_len = len;
	}
	return 0;
}

/* Makes a secret, "whsec_" and 32 random bytes in base64url, into hook and text. */
static int new_secret(struct ob_webhook *hook, char *text, size_t text_len)
{
	char random[64];
	int ret = ob_random_base64url(random, sizeof(random), GENERATED_SECRET_BYTES);

	if (ret == 0 && snprintf(text, text_len, "%s%s", SECRET_PREFIX, random) >= (int)text_len)
		ret = OB_EINTERNAL;
	if (ret == 0) {
		hook->secret_len = strlen(text);
		memcpy(hook->secret, text, hook->secret_len);
	}
	ob_secure_zero(random, sizeof(random));
	return ret;
}

/* What the audit log keeps of a webhook: never the secret, and of the URL only its host
 * (a receiver's URL may carry its token). New reference. */
static json_t *audit_detail(const struct ob_webhook *hook, json_t *changed)
{
	struct ob_http_url parsed;
	json_t *detail;

	if (ob_cloud_http_url_parse(hook->url, &parsed, NULL, 0) != 0)
		parsed.host[0] = '\0';
	detail = json_pack("{s:s, s:o, s:b}", "host", parsed.host, "events",
			   json_loads(hook->events, 0, NULL), "enabled", hook->enabled);
	if (detail && changed)
		json_object_set_new(detail, "changed", changed);
	else
		json_decref(changed);
	return detail;
}

/* Answers 200/201 with the webhook as GET shows it, and the secret when given. */
static void reply_hook(struct ob_req *req, int status, const char *id, const char *secret)
{
	json_t *body = NULL;
	int ret = ob_store_webhook_show(req->api->store, id, &body);

	if (ret != 0) {
		ob_api_reply_err(req, ret, "the webhook cannot be read");
		return;
	}
	if (secret)
		json_object_set_new(body, "secret", json_string(secret));
	ob_api_reply_json(req, status, body);
}

static void reply_no_hook(struct ob_req *req)
{
	ob_api_reply_error(req, 404, "not_found",
			   "no webhook \"%.40s\" (GET /api/v1/webhooks lists them)", req->params[0]);
}

void ob_api_get_webhooks(struct ob_req *req)
{
	ob_api_reply_json(req, 200,
			  json_pack("{s:o, s:o}", "webhooks", ob_store_webhook_list(req->api->store),
				    "event_types", ob_cloud_webhook_types_json()));
}

void ob_api_post_webhooks(struct ob_req *req)
{
	struct ob_webhook *hook = calloc(1, sizeof(*hook));
	char secret[sizeof(SECRET_PREFIX) + 64] = "";
	char err[512];
	json_t *detail;
	int ret;

	if (!hook) {
		ob_api_reply_err(req, OB_ENOMEM, "out of memory");
		return;
	}
	if (ob_json_check_fields(req->body, create_fields, OB_ARRAY_SIZE(create_fields), "", err,
				 sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		goto out_free;
	}
	hook->enabled = true;
	if (take_fields(req, hook) != 0)
		goto out_free;
	ret = ob_random_hex(hook->id, OB_WEBHOOK_ID_LEN / 2);
	if (ret == 0 && !hook->secret_len)
		ret = new_secret(hook, secret, sizeof(secret));
	if (ret != 0) {
		ob_api_reply_err(req, ret, "no random bytes for the webhook");
		goto out_free;
	}
	/* A new webhook hears of what happens from now on, not of the past. */
	hook->cursor_seq = ob_events_last_seq();
	ob_strlcpy(hook->created_by, req->actor, sizeof(hook->created_by));
	detail = audit_detail(hook, NULL);
	{
		struct ob_audit audit = ob_api_audit(req, "webhook.create", hook->id, detail);

		ret = ob_store_webhook_create(req->api->store, hook, &audit);
	}
	json_decref(detail);
	if (ret == OB_ETOOBIG) {
		ob_api_reply_error(req, 409, "conflict",
				   "the box holds %d webhooks, the most it serves; delete one "
				   "(DELETE /api/v1/webhooks/ID) first", OB_WEBHOOKS_MAX);
	} else if (ret != 0) {
		ob_api_reply_err(req, ret, "the webhook could not be stored");
	} else {
		webhook_event(req, "webhook.changed", hook->id, "created", "created");
		reply_hook(req, 201, hook->id, secret[0] ? secret : NULL);
	}
out_free:
	ob_secure_zero(secret, sizeof(secret));
	ob_secure_zero(hook, sizeof(*hook));
	free(hook);
}

void ob_api_get_webhook(struct ob_req *req)
{
	json_t *body = NULL;
	int ret = ob_store_webhook_show(req->api->store, req->params[0], &body);

	if (ret == OB_ENOTFOUND)
		reply_no_hook(req);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the webhook cannot be read");
	else
		ob_api_reply_json(req, 200, body);
}

void ob_api_patch_webhook(struct ob_req *req)
{
	struct ob_webhook *hook = calloc(1, sizeof(*hook));
	char secret[sizeof(SECRET_PREFIX) + 64] = "";
	json_t *changed = json_array();
	const char *key;
	json_t *value;
	char err[512];
	json_t *detail;
	int ret;

	if (!hook || !changed) {
		ob_api_reply_err(req, OB_ENOMEM, "out of memory");
		goto out_free;
	}
	if (ob_json_check_fields(req->body, update_fields, OB_ARRAY_SIZE(update_fields), "", err,
				 sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		goto out_free;
	}
	if (json_object_get(req->body, "rotate_secret")) {
		if (!json_is_true(json_object_get(req->body, "rotate_secret"))) {
			ob_api_reply_error(req, 400, "invalid",
					   "rotate_secret: only true is taken (the box makes a new "
					   "secret and shows it once)");
			goto out_free;
		}
		if (json_object_get(req->body, "secret")) {
			ob_api_reply_error(req, 400, "invalid",
					   "rotate_secret: give either a secret or rotate_secret, "
					   "not both");
			goto out_free;
		}
	}
	ret = ob_store_webhook_get(req->api->store, req->params[0], hook);
	if (ret == OB_ENOTFOUND) {
		reply_no_hook(req);
		goto out_free;
	} else if (ret != 0) {
		ob_api_reply_err(req, ret, "the webhook cannot be read");
		goto out_free;
	}
	if (take_fields(req, hook) != 0)
		goto out_free;
	if (json_is_true(json_object_get(req->body, "rotate_secret")) &&
	    (ret = new_secret(hook, secret, sizeof(secret))) != 0) {
		ob_api_reply_err(req, ret, "no random bytes for a new secret");
		goto out_free;
	}
	json_object_foreach(req->body, key, value)
		json_array_append_new(changed, json_string(strcmp(key, "rotate_secret") == 0
								   ? "secret"
								   : key));
	detail = audit_detail(hook, json_incref(changed));
	{
		struct ob_audit audit = ob_api_audit(req, "webhook.update", hook->id, detail);

		ret = ob_store_webhook_update(req->api->store, hook, &audit);
	}
	json_decref(detail);
	if (ret == OB_ENOTFOUND) {
		reply_no_hook(req);
	} else if (ret != 0) {
		ob_api_reply_err(req, ret, "the webhook could not be changed");
	} else {
		webhook_event(req, "webhook.changed", hook->id, "updated", "changed");
		reply_hook(req, 200, hook->id, secret[0] ? secret : NULL);
	}
out_free:
	json_decref(changed);
	ob_secure_zero(secret, sizeof(secret));
	if (hook)
		ob_secure_zero(hook, sizeof(*hook));
	free(hook);
}

void ob_api_delete_webhook(struct ob_req *req)
{
	struct ob_audit audit = ob_api_audit(req, "webhook.delete", req->params[0], NULL);
	int ret = ob_store_webhook_delete(req->api->store, req->params[0], &audit);

	if (ret == OB_ENOTFOUND) {
		reply_no_hook(req);
	} else if (ret != 0) {
		ob_api_reply_err(req, ret, "the webhook could not be deleted");
	} else {
		webhook_event(req, "webhook.changed", req->params[0], "deleted",
			      "deleted, with its deliveries");
		ob_api_reply_empty(req, NULL);
	}
}

/* Whether a webhook exists; sends 404 (or the store's error) and returns false when not. */
static bool hook_exists(struct ob_req *req, struct ob_webhook *hook)
{
	int ret = ob_store_webhook_get(req->api->store, req->params[0], hook);

	ob_secure_zero(hook->secret, sizeof(hook->secret));
	if (ret == OB_ENOTFOUND)
		reply_no_hook(req);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the webhook cannot be read");
	return ret == 0;
}

void ob_api_get_webhook_deliveries(struct ob_req *req)
{
	static const char *const statuses[] = { "pending", "delivered", "failed", NULL };
	struct ob_webhook *hook = calloc(1, sizeof(*hook));
	long long limit = DELIVERIES_DEFAULT;
	long long before = 0;
	char status[16];

	if (!hook) {
		ob_api_reply_err(req, OB_ENOMEM, "out of memory");
		return;
	}
	if (ob_api_query_int(req, "limit", 1, DELIVERIES_MAX, &limit) != 0 ||
	    ob_api_query_int(req, "before", 1, INT64_MAX, &before) != 0 ||
	    ob_api_query_str(req, "status", status, sizeof(status)) != 0)
		goto out_free;
	if (status[0] && !ob_str_in_list(statuses, status)) {
		ob_api_reply_error(req, 400, "invalid",
				   "status: pending, delivered or failed (or leave it out for all)");
		goto out_free;
	}
	if (!hook_exists(req, hook))
		goto out_free;
	ob_api_reply_json(req, 200,
			  json_pack("{s:o}", "deliveries",
				    ob_store_webhook_deliveries(req->api->store, hook->id,
								status[0] ? status : NULL, before,
								(int)limit)));
out_free:
	free(hook);
}

void ob_api_post_webhook_test(struct ob_req *req)
{
	struct ob_webhook *hook = calloc(1, sizeof(*hook));
	int64_t seq;

	if (!hook) {
		ob_api_reply_err(req, OB_ENOMEM, "out of memory");
		return;
	}
	if (!hook_exists(req, hook))
		goto out_free;
	if (!hook->enabled) {
		ob_api_reply_error(req, 409, "conflict",
				   "webhook \"%s\" is disabled; enable it (PATCH {\"enabled\": true}) "
				   "to test it", hook->id);
		goto out_free;
	}
	{
		struct ob_audit audit = ob_api_audit(req, "webhook.test", hook->id, NULL);

		ob_store_audit_add(req->api->store, &audit, "ok");
	}
	/* The sender turns this event into the ping, as it does with lifecycle events. */
	seq = ob_event_publish(OB_EVENT_INFO, OB_CLOUD_WEBHOOK_TEST_KIND, NULL,
			       json_pack("{s:s, s:s}", "webhook", hook->id, "actor", req->actor),
			       "webhook \"%s\" sent a test delivery (by %s)", hook->id,
			       req->actor);
	if (seq <= 0) {
		ob_api_reply_error(req, 503, "stopping", "the box is stopping; test it once it is "
				   "back");
		goto out_free;
	}
	ob_api_reply_json(req, 202,
			  json_pack("{s:s, s:s, s:I}", "webhook", hook->id, "type",
				    OB_CLOUD_WEBHOOK_PING, "event_seq", (json_int_t)seq));
out_free:
	free(hook);
}

void ob_api_post_webhook_delivery_retry(struct ob_req *req)
{
	struct ob_cloud_webhook_timing timing;
	json_t *body = NULL;
	char *end;
	long long id;
	int ret;

	errno = 0;
	id = strtoll(req->params[1], &end, 10);
	if (*end || errno || id <= 0) {
		ob_api_reply_error(req, 404, "not_found",
				   "no delivery \"%.40s\" (ids are the numbers GET "
				   "/api/v1/webhooks/ID/deliveries lists)", req->params[1]);
		return;
	}
	ob_cloud_webhook_timing_get(&timing);
	{
		char target[OB_ROUTE_PARAM_LEN + 24];
		struct ob_audit audit;

		snprintf(target, sizeof(target), "%s/%lld", req->params[0], id);
		audit = ob_api_audit(req, "webhook.retry", target, NULL);
		ret = ob_store_webhook_delivery_retry(req->api->store, req->params[0], id,
						      ob_time_wall_ms(), timing.max_age_ms, &audit);
	}
	if (ret == OB_ENOTFOUND) {
		ob_api_reply_error(req, 404, "not_found", "webhook \"%.40s\" has no delivery %lld",
				   req->params[0], id);
		return;
	}
	if (ret == OB_ECONFLICT) {
		ob_api_reply_error(req, 409, "conflict",
				   "delivery %lld is not failed: a pending one goes by itself, a "
				   "delivered one arrived", id);
		return;
	}
	if (ret == 0)
		ret = ob_store_webhook_delivery_show(req->api->store, req->params[0], id, &body);
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the delivery could not be sent again");
		return;
	}
	webhook_event(req, "webhook.changed", req->params[0], "retried", "sends delivery %lld "
		      "again", id);
	ob_api_reply_json(req, 202, body);
}
