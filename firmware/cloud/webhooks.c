/* Lifecycle webhooks: the table of types, payloads and signatures, and the sender thread.
 *
 * The sender reads the event log in order (the ring of core/events.h, the store when it
 * fell behind), classifies each event once, and queues a delivery for every enabled
 * webhook subscribed to its type, together with the webhook's cursor, in one transaction.
 * Then it sends what is due: of each webhook's subjects only the oldest pending delivery, so
 * one subject's deliveries arrive in order. The outbox is the store: what is pending at a
 * stop goes at the next start. */
#include "cloud/webhooks.h"

#include <mbedtls/md.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/events.h"
#include "core/json.h"
#include "core/log.h"
#include "core/rand.h"
#include "core/util.h"
#include "store/store.h"

#define MODULE "webhooks"
#define INTAKE_BATCH 64               /* events classified per pass */
#define DUE_BATCH 8                   /* deliveries picked per look at the outbox */
#define DUE_ROUNDS 4                  /* looks at the outbox before the log is read again */
#define IDLE_WAIT_MS 1000             /* the longest wait for an event between checks */
#define CURSOR_WRITE_EVENTS 256       /* a cursor with nothing to queue is written after */
#define CURSOR_WRITE_MS 60000         /* this many events or this long */
#define PRUNE_EVERY_MS (3600 * 1000)
#define ERROR_BODY_CHARS 120          /* of a refusing answer's body, kept with the attempt */
#define MAX_RESPONSE_BODY (64 * 1024) /* a receiver's answer is read and dropped */

_Static_assert(OB_WEBHOOK_URL_MAX == OB_HTTP_URL_MAX, "a webhook URL is an HTTP URL");

const struct ob_cloud_webhook_timing ob_cloud_webhook_timing_default = {
	.first_retry_ms = 5000,
	.max_retry_ms = 3600 * 1000,
	.max_age_ms = 3LL * 24 * 3600 * 1000,
};

/* ---- the lifecycle types: one row each; an event takes the first row that fits ---- */

enum subject_from {
	SUBJECT_CHANNEL,  /* the event's channel */
	SUBJECT_POLICY,   /* "policy": the box's one policy */
	SUBJECT_UPDATE,   /* "update": the box's firmware */
	SUBJECT_ASSET,    /* data.asset, else the event's channel */
};

/* Whether a type depends on the channel's trouble: degraded or failed since its last live. */
enum trouble_rule {
	ANY_TIME,
	UNTROUBLED,      /* only for a channel not in trouble */
	AFTER_TROUBLE,   /* only for a channel in trouble */
};

static const struct lifecycle_type {
	const char *name;
	const char *kind;          /* the event log's kind */
	const char *state;         /* channel.state: the data.state it takes; NULL: any */
	enum trouble_rule when;
	bool troubles;             /* the channel is in trouble from here to its next live */
	enum subject_from subject;
	const char *description;
} types[] = {
	{ .name = "channel.live", .kind = "channel.state", .state = "live", .when = UNTROUBLED,
	  .subject = SUBJECT_CHANNEL, .description = "a channel went live (on air)" },
	{ .name = "channel.recovered", .kind = "channel.state", .state = "live",
	  .when = AFTER_TROUBLE, .subject = SUBJECT_CHANNEL,
	  .description = "a channel is live again after it was degraded or failed" },
	{ .name = "channel.degraded", .kind = "channel.state", .state = "degraded",
	  .troubles = true, .subject = SUBJECT_CHANNEL,
	  .description = "a channel is on air with a problem (backup input, a rung lost)" },
	{ .name = "channel.failed", .kind = "channel.state", .state = "failed", .troubles = true,
	  .subject = SUBJECT_CHANNEL,
	  .description = "a channel failed and is off air (the box retries it)" },
	{ .name = "policy.applied", .kind = "cloud.applied", .subject = SUBJECT_POLICY,
	  .description = "a policy bundle from the control plane or an upload was applied" },
	{ .name = "policy.rolled_back", .kind = "cloud.rolled_back", .subject = SUBJECT_POLICY,
	  .description = "a policy bundle failed its health check and was rolled back" },
	{ .name = "update.started", .kind = "update.started", .subject = SUBJECT_UPDATE,
	  .description = "a firmware update began installing" },
	{ .name = "update.done", .kind = "update.done", .subject = SUBJECT_UPDATE,
	  .description = "a firmware update was installed" },
	{ .name = "update.failed", .kind = "update.failed", .subject = SUBJECT_UPDATE,
	  .description = "a firmware update failed" },
	{ .name = "asset.ready", .kind = "asset.ready", .subject = SUBJECT_ASSET,
	  .description = "an asset was packaged and is ready to publish" },
	{ .name = "asset.published", .kind = "asset.published", .subject = SUBJECT_ASSET,
	  .description = "an asset was published (playable)" },
	{ .name = "asset.unpublished", .kind = "asset.unpublished", .subject = SUBJECT_ASSET,
	  .description = "an asset was unpublished" },
	{ .name = "asset.failed", .kind = "asset.failed", .subject = SUBJECT_ASSET,
	  .description = "an asset failed to ingest or package" },
};

_Static_assert(OB_ARRAY_SIZE(types) <= 32, "a subscription is a 32-bit mask");

size_t ob_cloud_webhook_type_count(void)
{
	return OB_ARRAY_SIZE(types);
}

const char *ob_cloud_webhook_type_name(size_t index)
{
	return index < OB_ARRAY_SIZE(types) ? types[index].name : NULL;
}

json_t *ob_cloud_webhook_types_json(void)
{
	json_t *out = json_array();

	for (size_t i = 0; out && i < OB_ARRAY_SIZE(types); i++)
		json_array_append_new(out, json_pack("{s:s, s:s}", "type", types[i].name,
						     "description", types[i].description));
	return out;
}

/* The type names, comma-separated, for error messages. */
static void type_names(char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < OB_ARRAY_SIZE(types) && used < len; i++)
		used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "",
					 types[i].name);
}

int ob_cloud_webhook_events_parse(const json_t *events, uint32_t *mask, char *err,
				  size_t err_len)
{
	char names[512];
	json_t *item;
	size_t i;

	*mask = 0;
	type_names(names, sizeof(names));
	if (!json_is_array(events) || json_array_size(events) == 0) {
		snprintf(err, err_len,
			 "events: must be a non-empty array of event types, or [\"*\"] for all; "
			 "the types are: %s", names);
		return OB_EINVAL;
	}
	json_array_foreach(events, i, item) {
		const char *name = json_string_value(item);
		size_t t;

		if (!name) {
			snprintf(err, err_len, "events[%zu]: must be a string, got %s", i,
				 ob_json_type_phrase(item));
			return OB_EINVAL;
		}
		if (strcmp(name, "*") == 0) {
			if (json_array_size(events) != 1) {
				snprintf(err, err_len,
					 "events[%zu]: \"*\" (every type) stands alone; send [\"*\"] "
					 "or a list of types", i);
				return OB_EINVAL;
			}
			*mask = UINT32_MAX;
			return 0;
		}
		for (t = 0; t < OB_ARRAY_SIZE(types); t++)
			if (strcmp(types[t].name, name) == 0)
				break;
		if (t == OB_ARRAY_SIZE(types)) {
			snprintf(err, err_len, "events[%zu]: unknown type \"%.40s\"; the types are: %s",
				 i, name, names);
			return OB_EINVAL;
		}
		if (*mask & (1u << t)) {
			snprintf(err, err_len, "events[%zu]: \"%s\" is listed twice", i, name);
			return OB_EINVAL;
		}
		*mask |= 1u << t;
	}
	return 0;
}

int ob_cloud_webhook_tracker_init(struct ob_cloud_webhook_tracker *tracker)
{
	tracker->troubled = json_object();
	return tracker->troubled ? 0 : OB_ENOMEM;
}

void ob_cloud_webhook_tracker_clear(struct ob_cloud_webhook_tracker *tracker)
{
	json_decref(tracker->troubled);
	tracker->troubled = NULL;
}

bool ob_cloud_webhook_classify(struct ob_cloud_webhook_tracker *tracker,
			       const struct ob_event *event, size_t *type, char *subject,
			       size_t subject_len)
{
	bool is_state = strcmp(event->kind, "channel.state") == 0;
	bool troubled = event->channel[0] &&
			json_object_get(tracker->troubled, event->channel) != NULL;
	const char *state = NULL;
	const char *asset = NULL;
	json_t *data = NULL;
	bool found = false;

	if (strcmp(event->kind, "channel.deleted") == 0) {
		json_object_del(tracker->troubled, event->channel);
		return false;
	}
	data = json_loads(event->data, 0, NULL);
	if (is_state) {
		const char *previous = json_string_value(json_object_get(data, "previous"));

		state = json_string_value(json_object_get(data, "state"));
		/* What goes on air changed while live (a failover): no news for a receiver. */
		if (!state || (previous && strcmp(previous, state) == 0))
			goto out;
	}
	for (size_t i = 0; i < OB_ARRAY_SIZE(types) && !found; i++) {
		const struct lifecycle_type *t = &types[i];

		if (strcmp(t->kind, event->kind) != 0 || (t->state && !state) ||
		    (t->state && strcmp(t->state, state) != 0) ||
		    (t->when == UNTROUBLED && troubled) || (t->when == AFTER_TROUBLE && !troubled))
			continue;
		found = true;
		*type = i;
		switch (t->subject) {
		case SUBJECT_CHANNEL:
			ob_strlcpy(subject, event->channel, subject_len);
			break;
		case SUBJECT_POLICY:
			ob_strlcpy(subject, "policy", subject_len);
			break;
		case SUBJECT_UPDATE:
			ob_strlcpy(subject, "update", subject_len);
			break;
		case SUBJECT_ASSET:
			asset = json_string_value(json_object_get(data, "asset"));
			ob_strlcpy(subject, asset && *asset ? asset : event->channel, subject_len);
			break;
		}
		if (t->troubles && event->channel[0])
			json_object_set_new(tracker->troubled, event->channel, json_true());
	}
	if (found && !subject[0])
		ob_strlcpy(subject, types[*type].kind, subject_len);
out:
	if (is_state && state && strcmp(state, "live") == 0)
		json_object_del(tracker->troubled, event->channel);
	json_decref(data);
	return found;
}

/* ---- what a delivery carries ---- */

int ob_cloud_webhook_new_key(const char *box_id, char *out, size_t out_len)
{
	char random_hex[33];
	int ret = ob_random_hex(random_hex, 16);

	if (ret != 0)
		return ret;
	if (snprintf(out, out_len, "%s.%s", box_id, random_hex) >= (int)out_len)
		return OB_ETOOBIG;
	return 0;
}

int ob_cloud_webhook_payload(const char *box_id, const char *key, const char *type,
			     const char *subject, const struct ob_event *event, char *out,
			     size_t out_len)
{
	json_t *data = json_loads(event->data, 0, NULL);
	char at[32];
	json_t *doc;
	char *text;
	int ret = 0;

	ob_time_iso8601(event->at_ms, at, sizeof(at));
	if (!json_is_object(data)) {
		json_decref(data);
		data = json_object();
	}
	doc = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:{s:I, s:s, s:s}}", "id", key, "type",
			type, "subject", subject, "at", at, "box", box_id, "data", data, "event",
			"seq", (json_int_t)event->seq, "kind", event->kind, "message",
			event->message);
	text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (!text)
		ret = OB_ENOMEM;
	else if (ob_strlcpy(out, text, out_len) != 0)
		ret = OB_ETOOBIG;
	free(text);
	json_decref(doc);
	return ret;
}

int ob_cloud_webhook_sign(const unsigned char *secret, size_t secret_len, int64_t unix_s,
			  const char *body, size_t body_len, char *out, size_t out_len)
{
	mbedtls_md_context_t md;
	unsigned char mac[32];
	char stamp[24];
	char hex[65];
	int len = snprintf(stamp, sizeof(stamp), "%lld.", (long long)unix_s);
	int ret;

	mbedtls_md_init(&md);
	ret = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
	if (ret == 0)
		ret = mbedtls_md_hmac_starts(&md, secret, secret_len);
	if (ret == 0)
		ret = mbedtls_md_hmac_update(&md, (const unsigned char *)stamp, (size_t)len);
	if (ret == 0)
		ret = mbedtls_md_hmac_update(&md, (const unsigned char *)body, body_len);
	if (ret == 0)
		ret = mbedtls_md_hmac_finish(&md, mac);
	mbedtls_md_free(&md);
	if (ret != 0)
		return OB_EINTERNAL;
	ob_hex_encode(mac, sizeof(mac), hex);
	if (snprintf(out, out_len, "t=%lld,v1=%s", (long long)unix_s, hex) >= (int)out_len)
		return OB_EINTERNAL;
	return 0;
}

int64_t ob_cloud_webhook_backoff_ms(const struct ob_cloud_webhook_timing *timing, int failures,
				    uint32_t random)
{
	int64_t wait = timing->first_retry_ms;
	int64_t half;

	for (int i = 1; i < failures && wait < timing->max_retry_ms; i++)
		wait *= 2;
	if (wait > timing->max_retry_ms)
		wait = timing->max_retry_ms;
	half = wait / 2;
	return half + (int64_t)(random % (uint64_t)(wait - half + 1));
}

/* ---- the sender ---- */

#define TYPE_PING (SIZE_MAX - 1) /* an event's type: a test of one webhook */

static const char *type_name(size_t type)
{
	return type == TYPE_PING ? OB_CLOUD_WEBHOOK_PING : types[type].name;
}

struct ob_cloud_webhooks {
	struct ob_store *store;
	char box_id[64];
	struct ob_cloud_webhook_timing timing;
	ob_cloud_webhook_send_fn send;
	pthread_t thread;
	atomic_bool stop;
	struct ob_cloud_webhook_tracker tracker;
	int64_t tracked_seq;            /* the last event classified */
	int64_t next_due_ms;            /* wall clock; 0: look at the outbox at once */
	int64_t next_prune_ms;          /* monotonic */
	int64_t cursor_written_ms[OB_WEBHOOKS_MAX]; /* monotonic, per loaded webhook */
	struct ob_webhook *hooks;       /* [OB_WEBHOOKS_MAX]: as last loaded */
	uint32_t masks[OB_WEBHOOKS_MAX];
	size_t hook_count;
	struct ob_event *events;        /* [INTAKE_BATCH] */
	size_t types[INTAKE_BATCH];     /* per event: its type, or SIZE_MAX for none */
	char subjects[INTAKE_BATCH][OB_WEBHOOK_SUBJECT_MAX + 1];
	char ping_for[INTAKE_BATCH][OB_WEBHOOK_ID_LEN + 1]; /* TYPE_PING: the webhook tested */
	char keys[INTAKE_BATCH][OB_WEBHOOK_KEY_MAX + 1];
	char (*payloads)[OB_WEBHOOK_PAYLOAD_MAX + 1]; /* [INTAKE_BATCH] */
	struct ob_webhook_new_delivery queue[INTAKE_BATCH];
	struct ob_webhook_due *due;     /* [DUE_BATCH] */
	struct ob_webhook *sending;     /* the webhook of the delivery being sent */
};

/* The host of a URL, for log lines (a URL's path may hold a receiver's token). */
static void url_host(const char *url, char *out, size_t len)
{
	const char *start = strstr(url, "://");
	size_t n;

	start = start ? start + 3 : url;
	n = strcspn(start, "/?#");
	if (n >= len)
		n = len - 1;
	memcpy(out, start, n);
	out[n] = '\0';
}

/* Loads the webhooks and their subscriptions. */
static int load_hooks(struct ob_cloud_webhooks *ws)
{
	int ret = ob_store_webhooks_load(ws->store, ws->hooks, OB_WEBHOOKS_MAX, &ws->hook_count);

	for (size_t i = 0; ret == 0 && i < ws->hook_count; i++) {
		json_t *events = json_loads(ws->hooks[i].events, 0, NULL);
		char err[512];

		if (ob_cloud_webhook_events_parse(events, &ws->masks[i], err, sizeof(err)) != 0) {
			ob_warn(MODULE, "webhook \"%s\": its stored events do not read (%s); it "
					"gets none until they are set again",
				ws->hooks[i].id, err);
			ws->masks[i] = 0;
		}
		json_decref(events);
	}
	if (ret != 0)
		ws->hook_count = 0;
	return ret;
}

/* Queues what a batch of classified events means for one webhook, with its cursor. 0, or
 * the store's error (the batch is then taken again). */
static int queue_for_hook(struct ob_cloud_webhooks *ws, size_t h, size_t count)
{
	const struct ob_webhook *hook = &ws->hooks[h];
	int64_t last_seq = ws->events[count - 1].seq;
	int64_t now_mono = ob_time_mono_ms();
	int64_t now = ob_time_wall_ms();
	size_t queued = 0;
	size_t dropped = 0;
	int ret;

	if (hook->cursor_seq >= last_seq)
		return 0;
	for (size_t i = 0; hook->enabled && i < count; i++) {
		const struct ob_event *e = &ws->events[i];
		size_t type = ws->types[i];

		if (e->seq <= hook->cursor_seq || type == SIZE_MAX)
			continue;
		if (type == TYPE_PING ? strcmp(ws->ping_for[i], hook->id) != 0
				      : !(ws->masks[h] & (1u << type)))
			continue;
		if (ob_cloud_webhook_new_key(ws->box_id, ws->keys[queued], sizeof(ws->keys[0])) != 0 ||
		    ob_cloud_webhook_payload(ws->box_id, ws->keys[queued], type_name(type),
					     ws->subjects[i], e, ws->payloads[queued],
					     sizeof(ws->payloads[0])) != 0) {
			ob_warn(MODULE, "webhook \"%s\": event %lld (%s) cannot be made into a "
					"delivery; skipped",
				hook->id, (long long)e->seq, type_name(type));
			continue;
		}
		ws->queue[queued] = (struct ob_webhook_new_delivery){
			.event_seq = e->seq,
			.type = type_name(type),
			.subject = ws->subjects[i],
			.idempotency_key = ws->keys[queued],
			.payload = ws->payloads[queued],
		};
		queued++;
	}
	/* A cursor with nothing to queue is written now and then, not per event: what a
	 * restart reads again behind it are events that queued nothing. */
	if (!queued && last_seq - hook->cursor_seq < CURSOR_WRITE_EVENTS &&
	    now_mono - ws->cursor_written_ms[h] < CURSOR_WRITE_MS)
		return 0;
	ret = ob_store_webhook_enqueue(ws->store, hook->id, ws->queue, queued, last_seq, now,
				       ws->timing.max_age_ms, &dropped);
	if (ret == 0) {
		ws->cursor_written_ms[h] = now_mono;
		if (queued)
			ws->next_due_ms = 0;
	} else if (ret == OB_ENOTFOUND) {
		ret = 0; /* deleted meanwhile */
	} else {
		ob_error(MODULE, "webhook \"%s\": %zu deliveries could not be queued: %s; tried "
				 "again in a moment",
			 hook->id, queued, ob_strerror(ret));
	}
	if (dropped)
		ob_warn(MODULE, "webhook \"%s\": %zu deliveries dropped: %d are pending already "
				"(the receiver has not taken them); see its history",
			hook->id, dropped, OB_WEBHOOK_PENDING_MAX);
	return ret;
}

/* A test of one webhook (the API's event): a ping for it alone, whatever it subscribed. */
static void take_ping(struct ob_cloud_webhooks *ws, size_t i)
{
	json_t *data = json_loads(ws->events[i].data, 0, NULL);
	const char *id = json_string_value(json_object_get(data, "webhook"));

	if (id && ob_strlcpy(ws->ping_for[i], id, sizeof(ws->ping_for[0])) == 0) {
		ws->types[i] = TYPE_PING;
		ob_strlcpy(ws->subjects[i], OB_CLOUD_WEBHOOK_PING, sizeof(ws->subjects[0]));
	}
	json_decref(data);
}

/* Classifies a batch of events and queues their deliveries. True when done; false when
 * the store failed, and the tracker is as it was, to take the same batch again. */
static bool take_events(struct ob_cloud_webhooks *ws, size_t count)
{
	json_t *before = json_deep_copy(ws->tracker.troubled);
	bool ok = before != NULL;

	for (size_t i = 0; ok && i < count; i++) {
		ws->subjects[i][0] = '\0';
		if (!ob_cloud_webhook_classify(&ws->tracker, &ws->events[i], &ws->types[i],
					       ws->subjects[i], sizeof(ws->subjects[0])))
			ws->types[i] = SIZE_MAX;
		if (strcmp(ws->events[i].kind, OB_CLOUD_WEBHOOK_TEST_KIND) == 0)
			take_ping(ws, i);
		/* A webhook changed through the API: its deliveries may be due now. */
		if (strncmp(ws->events[i].kind, "webhook.", 8) == 0)
			ws->next_due_ms = 0;
	}
	if (ok)
		ok = load_hooks(ws) == 0;
	for (size_t h = 0; ok && h < ws->hook_count; h++)
		ok = queue_for_hook(ws, h, count) == 0;
	if (ok) {
		ws->tracked_seq = ws->events[count - 1].seq;
		json_decref(before);
	} else if (before) {
		json_decref(ws->tracker.troubled);
		ws->tracker.troubled = before;
	}
	return ok;
}

/* Reads the log after the last event classified, waiting up to wait_ms for one; true when
 * more may be waiting. */
static bool intake(struct ob_cloud_webhooks *ws, int wait_ms)
{
	int64_t next = ws->tracked_seq;
	bool gap = false;
	size_t n = ob_events_wait(ws->tracked_seq, NULL, wait_ms, ws->events, INTAKE_BATCH, &next,
				  &gap);

	if (gap) {
		/* Fell behind the ring: the events before its oldest come from the store. */
		int64_t first = n ? ws->events[0].seq : next + 1;
		size_t stored = 0;

		if (ob_store_webhook_events_after(ws->store, ws->tracked_seq, first - 1, "",
						  ws->events, INTAKE_BATCH, &stored) != 0 ||
		    (stored && !take_events(ws, stored)))
			return false;
		if (stored < INTAKE_BATCH && ws->tracked_seq < first - 1) {
			ob_warn(MODULE, "events %lld to %lld were never stored; webhooks skip them",
				(long long)ws->tracked_seq + 1, (long long)first - 1);
			ws->tracked_seq = first - 1;
		}
		return true;
	}
	if (n && !take_events(ws, n))
		return false;
	return n == INTAKE_BATCH;
}

/* What to keep of a refusing answer: its status and the start of its body, printable. */
static void describe_answer(const struct ob_http_response *resp, char *out, size_t len)
{
	size_t used = (size_t)snprintf(out, len, "answered %d", resp->status);
	size_t shown = 0;

	if (resp->body_len == 0 || used + 3 >= len)
		return;
	used += (size_t)snprintf(out + used, len - used, ": ");
	while (shown < resp->body_len && shown < ERROR_BODY_CHARS && used + 1 < len) {
		unsigned char c = (unsigned char)resp->body[shown++];

		out[used++] = c >= 0x20 && c < 0x7f ? (char)c : ' ';
	}
	out[used] = '\0';
}

/* Signs and POSTs one delivery to its webhook. 0 when an answer came, with its status and
 * Retry-After (seconds, or -1), and for a refusal what it said in error; otherwise the
 * client's error, with its message in error. */
static int post(struct ob_cloud_webhooks *ws, const struct ob_webhook *hook,
		const struct ob_webhook_due *d, int64_t unix_s, int *http_status,
		int *retry_after_s, char *error, size_t error_len)
{
	struct ob_http_response resp = { 0 };
	char signature[OB_CLOUD_WEBHOOK_SIGNATURE_MAX + 1];
	char headers[512];
	size_t body_len = strlen(d->payload);
	struct ob_http_request req = {
		.method = "POST",
		.url = hook->url,
		.headers = headers,
		.body = d->payload,
		.body_len = body_len,
		.timeout_ms = OB_CLOUD_WEBHOOK_TIMEOUT_MS,
		.total_timeout_ms = OB_CLOUD_WEBHOOK_TOTAL_TIMEOUT_MS,
		.max_body = MAX_RESPONSE_BODY,
	};
	int ret = ob_cloud_webhook_sign(hook->secret, hook->secret_len, unix_s, d->payload,
					body_len, signature, sizeof(signature));

	if (ret != 0) {
		snprintf(error, error_len, "the delivery could not be signed");
		return ret;
	}
	snprintf(headers, sizeof(headers),
		 "Content-Type: application/json\r\nX-Ottbox-Event: %s\r\n"
		 "X-Ottbox-Delivery: %lld\r\nIdempotency-Key: %s\r\nX-Ottbox-Signature: %s\r\n",
		 d->type, (long long)d->id, d->idempotency_key, signature);
	ret = ws->send(&req, &resp, error, error_len);
	if (ret != 0)
		return ret;
	*http_status = resp.status;
	*retry_after_s = resp.retry_after_s;
	if (resp.status < 200 || resp.status > 299)
		describe_answer(&resp, error, error_len);
	ob_cloud_http_response_clear(&resp);
	return 0;
}

/* Sends one delivery and records what came of it; false when nothing was recorded. */
static bool deliver(struct ob_cloud_webhooks *ws, const struct ob_webhook_due *d)
{
	struct ob_webhook *hook = ws->sending;
	struct ob_webhook_attempt attempt = { 0 };
	enum ob_webhook_status status = OB_WEBHOOK_DELIVERED;
	char error[OB_WEBHOOK_ERROR_MAX + 1] = "";
	char host[128];
	int retry_after_s = -1;
	int64_t next_ms = 0;
	int64_t started;
	int ret;

	if (ob_store_webhook_get(ws->store, d->webhook_id, hook) != 0 || !hook->enabled)
		return false; /* deleted or disabled meanwhile */
	url_host(hook->url, host, sizeof(host));
	attempt.at_ms = ob_time_wall_ms();
	started = ob_time_mono_ms();
	ret = post(ws, hook, d, attempt.at_ms / 1000, &attempt.http_status, &retry_after_s, error,
		   sizeof(error));
	attempt.duration_ms = ob_time_mono_ms() - started;
	if (ret != 0 || attempt.http_status < 200 || attempt.http_status > 299) {
		int64_t now = attempt.at_ms + attempt.duration_ms;
		int failures = d->attempts + 1 - d->backoff_base;
		uint32_t random = 0;

		attempt.error = error;
		if (now >= d->expires_ms) {
			status = OB_WEBHOOK_FAILED;
		} else {
			status = OB_WEBHOOK_PENDING;
			ob_random_bytes(&random, sizeof(random));
			next_ms = ob_cloud_webhook_backoff_ms(&ws->timing, failures, random);
			/* A receiver that asks for a pause (429, 503) gets it, within the bound. */
			if ((int64_t)retry_after_s * 1000 > next_ms)
				next_ms = (int64_t)retry_after_s * 1000;
			if (next_ms > ws->timing.max_retry_ms)
				next_ms = ws->timing.max_retry_ms;
			next_ms += now;
		}
	}
	ret = ob_store_webhook_attempt_record(ws->store, d->id, &attempt, status, next_ms);
	if (ret != 0 && ret != OB_ENOTFOUND)
		ob_error(MODULE, "webhook \"%s\": the attempt on delivery %lld was not recorded: "
				 "%s; it is sent again",
			 hook->id, (long long)d->id, ob_strerror(ret));
	if (status == OB_WEBHOOK_PENDING) {
		ob_info(MODULE, "webhook \"%s\": delivery %lld (%s) to %s: %s; attempt %d, next in "
				"%.1f s",
			hook->id, (long long)d->id, d->type, host, error, d->attempts + 1,
			(double)(next_ms - attempt.at_ms - attempt.duration_ms) / 1000.0);
	} else if (status == OB_WEBHOOK_FAILED) {
		ob_warn(MODULE, "webhook \"%s\": delivery %lld (%s) to %s gave up after %d attempts: "
				"%s",
			hook->id, (long long)d->id, d->type, host, d->attempts + 1, error);
		ob_event_publish(OB_EVENT_WARNING, "webhook.failed", NULL,
				 json_pack("{s:s, s:I, s:s, s:i, s:s}", "webhook", hook->id,
					   "delivery", (json_int_t)d->id, "type", d->type,
					   "attempts", d->attempts + 1, "error", error),
				 "webhook \"%s\": delivery %lld (%s) to %s failed after %d attempts "
				 "(%s); POST /api/v1/webhooks/%s/deliveries/%lld/retry sends it again",
				 hook->id, (long long)d->id, d->type, host, d->attempts + 1, error,
				 hook->id, (long long)d->id);
	}
	ob_secure_zero(hook->secret, sizeof(hook->secret));
	return ret == 0 || ret == OB_ENOTFOUND;
}

/* Sends what is due; returns when the next delivery is due (wall clock, INT64_MAX: none
 * pending). */
static int64_t send_due(struct ob_cloud_webhooks *ws)
{
	int64_t next_due = INT64_MAX;

	for (int round = 0; round < DUE_ROUNDS && !atomic_load(&ws->stop); round++) {
		size_t count = 0;
		bool recorded = false;

		if (ob_store_webhook_due(ws->store, ob_time_wall_ms(), ws->due, DUE_BATCH, &count,
					 &next_due) != 0)
			return ob_time_wall_ms() + IDLE_WAIT_MS;
		if (count == 0)
			return next_due;
		for (size_t i = 0; i < count && !atomic_load(&ws->stop); i++)
			recorded |= deliver(ws, &ws->due[i]);
		if (!recorded) /* the store refuses, or a webhook went: not in a tight loop */
			return ob_time_wall_ms() + IDLE_WAIT_MS;
	}
	return 0; /* more may be due: look again after the log */
}

/* At start: cursors past the log's end come back to it, the tracker learns the channels'
 * trouble from the stored log, and reading starts after the least advanced cursor. */
static int resume(struct ob_cloud_webhooks *ws)
{
	int64_t last = ob_events_last_seq();
	int64_t from = last;
	int64_t after = 0;
	size_t count;
	int ret = ob_store_webhook_cursors_clamp(ws->store, last);

	if (ret == 0)
		ret = load_hooks(ws);
	if (ret != 0)
		return ret;
	for (size_t i = 0; i < ws->hook_count; i++)
		if (ws->hooks[i].cursor_seq < from)
			from = ws->hooks[i].cursor_seq;
	do {
		size_t type;
		char subject[OB_WEBHOOK_SUBJECT_MAX + 1];

		ret = ob_store_webhook_events_after(ws->store, after, from, "channel.", ws->events,
						    INTAKE_BATCH, &count);
		for (size_t i = 0; ret == 0 && i < count; i++) {
			ob_cloud_webhook_classify(&ws->tracker, &ws->events[i], &type, subject,
						  sizeof(subject));
			after = ws->events[i].seq;
		}
	} while (ret == 0 && count == INTAKE_BATCH);
	ws->tracked_seq = from;
	return ret;
}

/* At stop: every cursor moves to the last event classified. */
static void write_cursors(struct ob_cloud_webhooks *ws)
{
	if (load_hooks(ws) != 0)
		return;
	for (size_t h = 0; h < ws->hook_count; h++)
		if (ws->hooks[h].cursor_seq < ws->tracked_seq)
			ob_store_webhook_enqueue(ws->store, ws->hooks[h].id, NULL, 0, ws->tracked_seq,
						 ob_time_wall_ms(), ws->timing.max_age_ms, NULL);
}

static void *sender_main(void *arg)
{
	struct ob_cloud_webhooks *ws = arg;
	bool catch_up = true; /* the first read takes what the last run left, without waiting */

	while (!atomic_load(&ws->stop)) {
		int64_t now = ob_time_wall_ms();
		int64_t wait_ms;

		if (ws->next_due_ms <= now)
			ws->next_due_ms = send_due(ws);
		if (ob_time_mono_ms() >= ws->next_prune_ms) {
			int deleted = 0;

			if (ob_store_webhook_prune(ws->store, now, OB_WEBHOOK_KEEP_FINISHED,
						   OB_WEBHOOK_KEEP_FINISHED_MS, &deleted) == 0 &&
			    deleted)
				ob_info(MODULE, "%d old deliveries left the history", deleted);
			ws->next_prune_ms = ob_time_mono_ms() + PRUNE_EVERY_MS;
		}
		if (atomic_load(&ws->stop))
			break;
		now = ob_time_wall_ms();
		wait_ms = ws->next_due_ms - now;
		if (wait_ms > IDLE_WAIT_MS)
			wait_ms = IDLE_WAIT_MS;
		if (wait_ms < 0 || catch_up)
			wait_ms = 0;
		catch_up = false;
		while (intake(ws, (int)wait_ms) && !atomic_load(&ws->stop))
			wait_ms = 0;
	}
	write_cursors(ws);
	return NULL;
}

void ob_cloud_webhook_timing_get(struct ob_cloud_webhook_timing *timing)
{
#ifdef OB_HW_TEST_BACKEND
	/* The tests' build only: OTTBOX_TEST_WEBHOOK_TIMING="FIRST_MS,MAX_MS,AGE_MS". */
	const char *text = getenv("OTTBOX_TEST_WEBHOOK_TIMING");
	long long first;
	long long max;
	long long age;

	*timing = ob_cloud_webhook_timing_default;
	if (text && sscanf(text, "%lld,%lld,%lld", &first, &max, &age) == 3 && first > 0 &&
	    max >= first && age > 0) {
		timing->first_retry_ms = first;
		timing->max_retry_ms = max;
		timing->max_age_ms = age;
	}
#else
	*timing = ob_cloud_webhook_timing_default;
#endif
}

static void free_sender(struct ob_cloud_webhooks *ws)
{
	ob_cloud_webhook_tracker_clear(&ws->tracker);
	if (ws->hooks)
		ob_secure_zero(ws->hooks, OB_WEBHOOKS_MAX * sizeof(*ws->hooks));
	free(ws->hooks);
	free(ws->sending);
	free(ws->events);
	free(ws->payloads);
	free(ws->due);
	free(ws);
}

int ob_cloud_webhooks_start_config(const struct ob_cloud_webhooks_config *config,
				   struct ob_cloud_webhooks **out)
{
	struct ob_cloud_webhooks *ws = calloc(1, sizeof(*ws));
	int ret;

	*out = NULL;
	if (!ws)
		return OB_ENOMEM;
	ws->store = config->store;
	ob_strlcpy(ws->box_id, config->box_id, sizeof(ws->box_id));
	ws->timing = config->timing.first_retry_ms > 0 ? config->timing
						       : ob_cloud_webhook_timing_default;
	ws->send = config->send ? config->send : ob_cloud_http_request;
	ws->hooks = calloc(OB_WEBHOOKS_MAX, sizeof(*ws->hooks));
	ws->sending = calloc(1, sizeof(*ws->sending));
	ws->events = calloc(INTAKE_BATCH, sizeof(*ws->events));
	ws->payloads = calloc(INTAKE_BATCH, sizeof(*ws->payloads));
	ws->due = calloc(DUE_BATCH, sizeof(*ws->due));
	atomic_init(&ws->stop, false);
	if (!ws->hooks || !ws->sending || !ws->events || !ws->payloads || !ws->due ||
	    ob_cloud_webhook_tracker_init(&ws->tracker) != 0) {
		ret = OB_ENOMEM;
		goto fail_free;
	}
	ret = resume(ws);
	if (ret != 0)
		goto fail_free;
	if (pthread_create(&ws->thread, NULL, sender_main, ws) != 0) {
		ret = OB_ENOMEM;
		goto fail_free;
	}
	*out = ws;
	return 0;

fail_free:
	free_sender(ws);
	return ret;
}

int ob_cloud_webhooks_start(struct ob_store *store, const char *box_id,
			    struct ob_cloud_webhooks **out)
{
	struct ob_cloud_webhooks_config config = {
		.store = store,
		.box_id = box_id,
		.send = ob_cloud_http_request,
	};

	ob_cloud_webhook_timing_get(&config.timing);
	if (memcmp(&config.timing, &ob_cloud_webhook_timing_default, sizeof(config.timing)) != 0)
		ob_warn(MODULE, "test timing: retries after %lld ms, at most %lld ms apart, for "
				"%lld ms",
			(long long)config.timing.first_retry_ms, (long long)config.timing.max_retry_ms,
			(long long)config.timing.max_age_ms);
	return ob_cloud_webhooks_start_config(&config, out);
}

void ob_cloud_webhooks_stop(struct ob_cloud_webhooks **wsp)
{
	struct ob_cloud_webhooks *ws = *wsp;

	if (!ws)
		return;
	atomic_store(&ws->stop, true);
	ob_events_wake_all();
	pthread_join(ws->thread, NULL);
	free_sender(ws);
	*wsp = NULL;
}
