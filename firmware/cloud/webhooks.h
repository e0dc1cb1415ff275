/* Lifecycle webhooks: which events of the event log operators may subscribe to (one table),
 * what a delivery carries and how it is signed, and the sender: one thread that turns new
 * events into deliveries in the store's outbox (webhook_deliveries) and POSTs them, retried
 * with backoff, at least once and in order per subject. docs/webhooks.md is the contract. */
#ifndef OB_CLOUD_WEBHOOKS_H
#define OB_CLOUD_WEBHOOKS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cloud/http.h"

struct ob_event;
struct ob_store;

#define OB_CLOUD_WEBHOOK_PING "ping"              /* the type of a test delivery */
#define OB_CLOUD_WEBHOOK_TEST_KIND "webhook.test" /* the event that asks for one: data
						   * {"webhook": id, "actor"} */
#define OB_CLOUD_WEBHOOK_SIGNATURE_MAX 96         /* "t=UNIX,v1=" and 64 hex digits */
#define OB_CLOUD_WEBHOOK_TIMEOUT_MS 3000          /* connect, handshake, each read/write */
#define OB_CLOUD_WEBHOOK_TOTAL_TIMEOUT_MS 5000    /* a whole request */

/* ---- the lifecycle types ---- */

/* How many types there are; their bits in a subscription mask are 1u << index. */
size_t ob_cloud_webhook_type_count(void);

/* The name of type index ("channel.live"), or NULL past the end. */
const char *ob_cloud_webhook_type_name(size_t index);

/* A new array of {"type", "description"} for every type, in table order. */
json_t *ob_cloud_webhook_types_json(void);

/* Reads a subscription, a non-empty array of distinct type names or ["*"] (every type,
 * those added later too), into a mask. 0, or OB_EINVAL with a message naming the entry
 * ("events[1]: unknown type \"channel.up\"; the types are: ..."). */
int ob_cloud_webhook_events_parse(const json_t *events, uint32_t *mask, char *err,
				  size_t err_len);

/* What the sender remembers between events: the channels that were degraded or failed
 * since they were last live, so their next "live" is channel.recovered. */
struct ob_cloud_webhook_tracker {
	json_t *troubled;      /* {channel id: true} */
};

/* Starts an empty tracker (0 or OB_ENOMEM) / frees what it holds. */
int ob_cloud_webhook_tracker_init(struct ob_cloud_webhook_tracker *tracker);
void ob_cloud_webhook_tracker_clear(struct ob_cloud_webhook_tracker *tracker);

/* Classifies one event of the log, oldest first, updating the tracker: true when it is a
 * lifecycle event, with *type (static) its type index and subject (subject_len bytes, at
 * least OB_WEBHOOK_SUBJECT_MAX + 1) what it concerns; false for every other event. */
bool ob_cloud_webhook_classify(struct ob_cloud_webhook_tracker *tracker,
			       const struct ob_event *event, size_t *type, char *subject,
			       size_t subject_len);

/* A new random idempotency key, "BOX_ID.32 hex digits", into out (out_len bytes, at least
 * OB_WEBHOOK_KEY_MAX + 1). 0 or OB_EIO. */
int ob_cloud_webhook_new_key(const char *box_id, char *out, size_t out_len);

/* The JSON body of a delivery of an event, compact, into out (out_len bytes): {"id": key,
 * "type", "subject", "at": the event's time, "box", "data": the event's data, "event":
 * {"seq", "kind", "message"}}. 0, OB_ETOOBIG or OB_ENOMEM. */
int ob_cloud_webhook_payload(const char *box_id, const char *key, const char *type,
			     const char *subject, const struct ob_event *event, char *out,
			     size_t out_len);

/* The X-Ottbox-Signature value "t=UNIX,v1=HEX", HEX being the lowercase HMAC-SHA256 under
 * secret of "UNIX.BODY", into out (at least OB_CLOUD_WEBHOOK_SIGNATURE_MAX + 1 bytes). 0 or
 * OB_EINTERNAL. */
int ob_cloud_webhook_sign(const unsigned char *secret, size_t secret_len, int64_t unix_s,
			  const char *body, size_t body_len, char *out, size_t out_len);

/* How deliveries are retried. */
struct ob_cloud_webhook_timing {
	int64_t first_retry_ms;  /* the wait after the first failed attempt; it doubles... */
	int64_t max_retry_ms;    /* ...up to this */
	int64_t max_age_ms;      /* an attempt failing later than this after the delivery was
				  * queued gives it up (and the next one of its subject goes) */
};

/* 5 s, doubling to 1 h, for 3 days. */
extern const struct ob_cloud_webhook_timing ob_cloud_webhook_timing_default;

/* The timing in effect: the default, or in the tests' build what
 * OTTBOX_TEST_WEBHOOK_TIMING="FIRST_MS,MAX_MS,AGE_MS" says. */
void ob_cloud_webhook_timing_get(struct ob_cloud_webhook_timing *timing);

/* The wait before the next attempt after `failures` failed ones in a row (1 for the first):
 * first_retry_ms doubled failures-1 times, at most max_retry_ms, then with jitter taken from
 * random: between half of it and all of it. */
int64_t ob_cloud_webhook_backoff_ms(const struct ob_cloud_webhook_timing *timing, int failures,
				    uint32_t random);

/* ---- the sender ---- */

/* Sends one request; ob_cloud_http_request's contract. */
typedef int (*ob_cloud_webhook_send_fn)(const struct ob_http_request *req,
					struct ob_http_response *resp, char *err,
					size_t err_len);

struct ob_cloud_webhooks_config {
	struct ob_store *store;                 /* borrowed; outlives the sender */
	const char *box_id;                     /* copied: the device id deliveries carry */
	struct ob_cloud_webhook_timing timing;  /* zeroed: ob_cloud_webhook_timing_default */
	ob_cloud_webhook_send_fn send;          /* NULL: ob_cloud_http_request */
};

struct ob_cloud_webhooks;

/* Starts the sender over a store whose event log is running (core/events.h), with the
 * timing of ob_cloud_webhook_timing_get and the HTTP client. Besides lifecycle events it
 * queues a ping for each OB_CLOUD_WEBHOOK_TEST_KIND event, to the webhook it names. The
 * caller owns *out. 0, OB_ENOMEM or OB_EIO. */
int ob_cloud_webhooks_start(struct ob_store *store, const char *box_id,
			    struct ob_cloud_webhooks **out);

/* Same, configured (for tests: another transport, a shorter timing). */
int ob_cloud_webhooks_start_config(const struct ob_cloud_webhooks_config *config,
				   struct ob_cloud_webhooks **out);

/* Stops the sender: at once when it waits, after the request in flight (bounded by
 * OB_CLOUD_WEBHOOK_TOTAL_TIMEOUT_MS) when it sends. What is pending stays in the store for
 * the next start. Sets *webhooks to NULL; NULL is fine. */
void ob_cloud_webhooks_stop(struct ob_cloud_webhooks **webhooks);

#endif
