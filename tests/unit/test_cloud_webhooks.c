/* Lifecycle webhooks: which event becomes which type (the recovered rule, failovers and
 * other events ignored), subscriptions, the payload, the signature against a vector made
 * with Python's hmac, the backoff's bounds; the outbox in a real store (queueing and the
 * cursor in one transaction, one subject's deliveries in order, the pending bound,
 * attempts, a manual retry, pruning); and the sender thread over a fake transport
 * (retries until a 2xx, the same idempotency key each time, a valid signature, a stop that
 * does not wait out a long backoff). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cloud/webhooks.h"
#include "core/err.h"
#include "core/events.h"
#include "core/rand.h"
#include "core/util.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	struct ob_store *store;
};

static const struct ob_audit test_audit = { .actor = "test", .action = "test.change" };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[1024];

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/ob-webhooks-XXXXXX");
	if (!mkdtemp(f->dir) || ob_store_open(f->dir, &f->store, err, sizeof(err)) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	ob_store_close(&f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct ob_event make_event(int64_t seq, const char *kind, const char *channel,
				  const char *data)
{
	struct ob_event e = { .seq = seq, .at_ms = 1700000000000LL + seq };

	ob_strlcpy(e.kind, kind, sizeof(e.kind));
	ob_strlcpy(e.channel, channel ? channel : "", sizeof(e.channel));
	ob_strlcpy(e.message, "something happened", sizeof(e.message));
	ob_strlcpy(e.data, data ? data : "{}", sizeof(e.data));
	return e;
}

#define STATE(to, from) "{\"state\":\"" to "\",\"previous\":\"" from "\",\"reason\":\"\"}"

/* ---- the type table ---- */

static void test_events_become_types_in_order(void **state)
{
	/* One channel's life, and the other kinds, in the order the log has them. */
	static const struct {
		const char *kind;
		const char *channel;
		const char *data;
		const char *type;     /* NULL: not a lifecycle event */
		const char *subject;
	} cases[] = {
		{ "channel.created", "news", "{\"actor\":\"user:admin\"}", NULL, NULL },
		{ "channel.state", "news", STATE("starting", "stopped"), NULL, NULL },
		{ "channel.state", "news", STATE("live", "starting"), "channel.live", "news" },
		/* a failover while on air: live again from live */
		{ "channel.state", "news", STATE("live", "live"), NULL, NULL },
		{ "channel.state", "news", STATE("degraded", "live"), "channel.degraded", "news" },
		{ "channel.state", "news", STATE("live", "degraded"), "channel.recovered", "news" },
		{ "channel.state", "news", STATE("failed", "live"), "channel.failed", "news" },
		{ "channel.state", "news", STATE("starting", "failed"), NULL, NULL },
		/* failed since the last live, through starting: still a recovery */
		{ "channel.state", "news", STATE("live", "starting"), "channel.recovered", "news" },
		{ "channel.state", "news", STATE("stopped", "live"), NULL, NULL },
		{ "channel.state", "news", STATE("starting", "stopped"), NULL, NULL },
		{ "channel.state", "news", STATE("live", "starting"), "channel.live", "news" },
		/* another channel's trouble is its own */
		{ "channel.state", "sport", STATE("failed", "starting"), "channel.failed", "sport" },
		{ "channel.state", "news", STATE("degraded", "live"), "channel.degraded", "news" },
		{ "channel.deleted", "news", "{}", NULL, NULL },
		{ "channel.state", "news", STATE("live", "starting"), "channel.live", "news" },
		{ "channel.state", "sport", STATE("live", "starting"), "channel.recovered", "sport" },
		{ "cloud.applied", NULL, "{\"generation\":7,\"source\":\"poll\"}", "policy.applied",
		  "policy" },
		{ "cloud.rolled_back", NULL, "{\"generation\":8,\"error\":\"x\"}",
		  "policy.rolled_back", "policy" },
		{ "update.started", NULL, "{}", "update.started", "update" },
		{ "update.done", NULL, "{}", "update.done", "update" },
		{ "update.failed", NULL, "{}", "update.failed", "update" },
		{ "asset.ready", NULL, "{\"asset\":\"film-1\"}", "asset.ready", "film-1" },
		{ "asset.published", NULL, "{\"asset\":\"film-1\"}", "asset.published", "film-1" },
		{ "asset.unpublished", "vod", "{}", "asset.unpublished", "vod" },
		{ "asset.failed", NULL, "{\"asset\":\"film-2\"}", "asset.failed", "film-2" },
		{ "box.started", NULL, "{\"version\":\"1\"}", NULL, NULL },
		{ "access.changed", NULL, "{\"what\":\"keys\"}", NULL, NULL },
		{ "settings.changed", NULL, "{}", NULL, NULL },
		{ "channel.note", "news", "{\"note\":\"x\"}", NULL, NULL },
		{ "webhook.test", NULL, "{\"webhook\":\"0123456789abcdef\"}", NULL, NULL },
		{ "channel.state", "news", "not json", NULL, NULL },
	};
	struct ob_cloud_webhook_tracker tracker;

	(void)state;
	assert_int_equal(ob_cloud_webhook_tracker_init(&tracker), 0);
	for (size_t i = 0; i < OB_ARRAY_SIZE(cases); i++) {
		struct ob_event e = make_event((int64_t)i + 1, cases[i].kind, cases[i].channel,
					       cases[i].data);
		char subject[OB_WEBHOOK_SUBJECT_MAX + 1] = "";
		size_t type = SIZE_MAX;
		bool lifecycle = ob_cloud_webhook_classify(&tracker, &e, &type, subject,
							   sizeof(subject));

		if (!cases[i].type) {
			if (lifecycle)
				fail_msg("case %zu (%s %s): not a lifecycle event, got %s", i,
					 cases[i].kind, cases[i].data, ob_cloud_webhook_type_name(type));
			continue;
		}
		if (!lifecycle)
			fail_msg("case %zu (%s %s): expected %s, got none", i, cases[i].kind,
				 cases[i].data, cases[i].type);
		assert_string_equal(ob_cloud_webhook_type_name(type), cases[i].type);
		assert_string_equal(subject, cases[i].subject);
	}
	ob_cloud_webhook_tracker_clear(&tracker);
}

static void test_every_type_is_listed_once(void **state)
{
	json_t *types = ob_cloud_webhook_types_json();
	static const char *const expected[] = {
		"channel.live", "channel.recovered", "channel.degraded", "channel.failed",
		"policy.applied", "policy.rolled_back", "update.started", "update.done",
		"update.failed", "asset.ready", "asset.published", "asset.unpublished",
		"asset.failed",
	};

	(void)state;
	assert_int_equal(ob_cloud_webhook_type_count(), OB_ARRAY_SIZE(expected));
	assert_int_equal(json_array_size(types), OB_ARRAY_SIZE(expected));
	for (size_t i = 0; i < OB_ARRAY_SIZE(expected); i++) {
		bool found = false;

		for (size_t t = 0; t < ob_cloud_webhook_type_count(); t++)
			found |= strcmp(ob_cloud_webhook_type_name(t), expected[i]) == 0;
		if (!found)
			fail_msg("type %s is not in the table", expected[i]);
	}
	assert_null(ob_cloud_webhook_type_name(ob_cloud_webhook_type_count()));
	json_decref(types);
}

static void test_subscriptions_are_checked(void **state)
{
	static const struct {
		const char *json;
		const char *error;  /* the start of the message, or NULL for accepted */
	} cases[] = {
		{ "[\"*\"]", NULL },
		{ "[\"channel.live\",\"policy.applied\"]", NULL },
		{ "[]", "events: must be a non-empty array" },
		{ "[\"channel.up\"]", "events[0]: unknown type \"channel.up\"; the types are: " },
		{ "[\"channel.live\",7]", "events[1]: must be a string" },
		{ "[\"channel.live\",\"channel.live\"]", "events[1]: \"channel.live\" is listed" },
		{ "[\"channel.live\",\"*\"]", "events[1]: \"*\" (every type) stands alone" },
		{ "[\"ping\"]", "events[0]: unknown type" },
	};
	char err[512];
	uint32_t mask;

	(void)state;
	for (size_t i = 0; i < OB_ARRAY_SIZE(cases); i++) {
		json_t *events = json_loads(cases[i].json, 0, NULL);
		int ret = ob_cloud_webhook_events_parse(events, &mask, err, sizeof(err));

		if (!cases[i].error) {
			if (ret != 0)
				fail_msg("%s refused: %s", cases[i].json, err);
		} else {
			assert_int_equal(ret, OB_EINVAL);
			if (strncmp(err, cases[i].error, strlen(cases[i].error)) != 0)
				fail_msg("%s: got \"%s\"", cases[i].json, err);
		}
		json_decref(events);
	}
	{
		json_t *all = json_pack("[s]", "*");

		/* Every type, those added later too. */
		assert_int_equal(ob_cloud_webhook_events_parse(all, &mask, err, sizeof(err)), 0);
		assert_true(mask == UINT32_MAX);
		json_decref(all);
	}
}

/* ---- what a delivery carries ---- */

static void test_signature_matches_a_known_vector(void **state)
{
	/* python3 -c 'import hmac, hashlib; print(hmac.new(b"whsec_0123456789abcdefghij",
	 *     b"1700000000.{\"type\":\"channel.live\"}", hashlib.sha256).hexdigest())' */
	static const char secret[] = "whsec_0123456789abcdefghij";
	static const char body[] = "{\"type\":\"channel.live\"}";
	char out[OB_CLOUD_WEBHOOK_SIGNATURE_MAX + 1];
	char small[40];

	(void)state;
	assert_int_equal(ob_cloud_webhook_sign((const unsigned char *)secret, strlen(secret),
					       1700000000, body, strlen(body), out, sizeof(out)),
			 0);
	assert_string_equal(out, "t=1700000000,v1=6391e39c08396f75c84c3afe1a190aba86a79bd5ee5bd3"
				 "32d95361b7e8ac3c07");
	/* The time is signed too: a second later is another signature. */
	assert_int_equal(ob_cloud_webhook_sign((const unsigned char *)secret, strlen(secret),
					       1700000001, body, strlen(body), out, sizeof(out)),
			 0);
	assert_string_equal(out, "t=1700000001,v1=fb2189d6e0ad09fb3ce43c5860f4f8d44c5e1c142ec4a8"
				 "d8ded9ab2e24664baf");
	assert_int_equal(ob_cloud_webhook_sign((const unsigned char *)secret, strlen(secret),
					       1700000001, body, strlen(body), small, sizeof(small)),
			 OB_EINTERNAL);
}

static void test_payload_carries_the_event(void **state)
{
	struct ob_event e = make_event(42, "channel.state", "news", STATE("live", "starting"));
	char key[OB_WEBHOOK_KEY_MAX + 1];
	char other[OB_WEBHOOK_KEY_MAX + 1];
	char body[OB_WEBHOOK_PAYLOAD_MAX + 1];
	char tiny[32];
	json_t *doc;

	(void)state;
	assert_int_equal(ob_cloud_webhook_new_key("obx-0011", key, sizeof(key)), 0);
	assert_int_equal(ob_cloud_webhook_new_key("obx-0011", other, sizeof(other)), 0);
	assert_int_equal(strncmp(key, "obx-0011.", 9), 0);
	assert_int_equal(strlen(key), 9 + 32);
	assert_string_not_equal(key, other);
	assert_int_equal(ob_cloud_webhook_payload("obx-0011", key, "channel.live", "news", &e, body,
						  sizeof(body)),
			 0);
	doc = json_loads(body, 0, NULL);
	assert_non_null(doc);
	assert_string_equal(json_string_value(json_object_get(doc, "id")), key);
	assert_string_equal(json_string_value(json_object_get(doc, "type")), "channel.live");
	assert_string_equal(json_string_value(json_object_get(doc, "subject")), "news");
	assert_string_equal(json_string_value(json_object_get(doc, "box")), "obx-0011");
	assert_string_equal(json_string_value(json_object_get(doc, "at")),
			    "2023-11-14T22:13:20.042Z");
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "data"),
							       "state")),
			    "live");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(doc, "event"), "seq")),
			 42);
	assert_string_equal(json_string_value(json_object_get(json_object_get(doc, "event"),
							       "kind")),
			    "channel.state");
	json_decref(doc);
	assert_int_equal(ob_cloud_webhook_payload("obx-0011", key, "channel.live", "news", &e, tiny,
						  sizeof(tiny)),
			 OB_ETOOBIG);
}

static void test_backoff_doubles_within_bounds(void **state)
{
	const struct ob_cloud_webhook_timing *t = &ob_cloud_webhook_timing_default;
	int64_t base = t->first_retry_ms;

	(void)state;
	for (int failures = 1; failures <= 40; failures++) {
		int64_t low = ob_cloud_webhook_backoff_ms(t, failures, 0);
		int64_t high = ob_cloud_webhook_backoff_ms(t, failures, UINT32_MAX);

		assert_int_equal(low, base / 2);
		assert_true(high >= low && high <= base);
		for (uint32_t r = 1; r < 4000000000u; r += 99999989u) {
			int64_t wait = ob_cloud_webhook_backoff_ms(t, failures, r);

			assert_true(wait >= base / 2 && wait <= base);
		}
		base = base * 2 > t->max_retry_ms ? t->max_retry_ms : base * 2;
	}
	/* 5 s, 10 s, ... 2560 s at the tenth failure; the 1 h cap from the eleventh on. */
	assert_int_equal(ob_cloud_webhook_backoff_ms(t, 1, 0), 2500);
	assert_int_equal(ob_cloud_webhook_backoff_ms(t, 10, 0), 1280000);
	assert_int_equal(ob_cloud_webhook_backoff_ms(t, 11, 0), 1800000);
	assert_int_equal(ob_cloud_webhook_backoff_ms(t, 1000, 0), 1800000);
	assert_true(t->max_age_ms == 3LL * 24 * 3600 * 1000);
}

/* ---- the outbox ---- */

static void add_hook(struct fixture *f, const char *id, const char *events, int64_t cursor)
{
	struct ob_webhook hook = { .enabled = true, .cursor_seq = cursor };

	ob_strlcpy(hook.id, id, sizeof(hook.id));
	ob_strlcpy(hook.url, "http://127.0.0.1:9/hook", sizeof(hook.url));
	memcpy(hook.secret, "0123456789abcdef", 16);
	hook.secret_len = 16;
	ob_strlcpy(hook.events, events, sizeof(hook.events));
	ob_strlcpy(hook.created_by, "test", sizeof(hook.created_by));
	assert_int_equal(ob_store_webhook_create(f->store, &hook, &test_audit), 0);
}

static struct ob_webhook_new_delivery delivery(int64_t seq, const char *subject)
{
	struct ob_webhook_new_delivery d = {
		.event_seq = seq,
		.type = "channel.live",
		.subject = subject,
		.idempotency_key = "key",
		.payload = "{}",
	};
	return d;
}

static int64_t cursor_of(struct fixture *f, const char *id)
{
	struct ob_webhook hook;

	assert_int_equal(ob_store_webhook_get(f->store, id, &hook), 0);
	return hook.cursor_seq;
}

static json_int_t count_of(struct fixture *f, const char *id, const char *what)
{
	json_t *view = NULL;
	json_int_t n;

	assert_int_equal(ob_store_webhook_show(f->store, id, &view), 0);
	n = json_integer_value(json_object_get(json_object_get(view, "deliveries"), what));
	json_decref(view);
	return n;
}

static void test_webhook_crud_is_audited(void **state)
{
	struct fixture *f = *state;
	struct ob_webhook hook;
	json_t *audit;
	json_t *list;

	add_hook(f, "aaaaaaaaaaaaaaaa", "[\"*\"]", 5);
	assert_int_equal(ob_store_webhook_create(f->store, &(struct ob_webhook){ .id =
									    "aaaaaaaaaaaaaaaa",
									    .url = "http://x/",
									    .secret_len = 16,
									    .events = "[\"*\"]",
									    .created_by = "t" },
						 &test_audit),
			 OB_EEXIST);
	assert_int_equal(ob_store_webhook_get(f->store, "aaaaaaaaaaaaaaaa", &hook), 0);
	assert_int_equal(hook.secret_len, 16);
	assert_int_equal(hook.cursor_seq, 5);
	hook.enabled = false;
	ob_strlcpy(hook.url, "https://example.net/in", sizeof(hook.url));
	assert_int_equal(ob_store_webhook_update(f->store, &hook, &test_audit), 0);
	list = ob_store_webhook_list(f->store);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "url")),
			    "https://example.net/in");
	assert_true(json_is_false(json_object_get(json_array_get(list, 0), "enabled")));
	assert_null(json_object_get(json_array_get(list, 0), "secret"));
	json_decref(list);
	assert_int_equal(ob_store_webhook_delete(f->store, "aaaaaaaaaaaaaaaa", &test_audit), 0);
	assert_int_equal(ob_store_webhook_delete(f->store, "aaaaaaaaaaaaaaaa", &test_audit),
			 OB_ENOTFOUND);
	audit = ob_store_audit_list(f->store, 0, 100);
	assert_int_equal(json_array_size(audit), 3); /* create, update, delete */
	json_decref(audit);
	for (int i = 0; i < OB_WEBHOOKS_MAX; i++) {
		char id[OB_WEBHOOK_ID_LEN + 1];

		snprintf(id, sizeof(id), "%016d", i);
		add_hook(f, id, "[\"*\"]", 0);
	}
	assert_int_equal(ob_store_webhook_create(f->store, &(struct ob_webhook){ .id = "full",
									    .url = "http://x/",
									    .secret_len = 16,
									    .events = "[\"*\"]",
									    .created_by = "t" },
						 &test_audit),
			 OB_ETOOBIG);
}

static void test_enqueue_and_cursor_are_one_transaction(void **state)
{
	struct fixture *f = *state;
	struct ob_webhook_new_delivery ds[3] = { delivery(11, "news"), delivery(12, "news"),
						 delivery(13, "news") };
	size_t dropped = 99;

	add_hook(f, "aaaaaaaaaaaaaaaa", "[\"*\"]", 10);
	assert_int_equal(ob_store_webhook_enqueue(f->store, "aaaaaaaaaaaaaaaa", ds, 2, 20, 1000,
						  60000, &dropped),
			 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(cursor_of(f, "aaaaaaaaaaaaaaaa"), 20);
	assert_int_equal(count_of(f, "aaaaaaaaaaaaaaaa", "pending"), 2);
	/* A failing insert (a delivery without a type) takes the cursor back with it. */
	ds[1].type = NULL;
	assert_int_equal(ob_store_webhook_enqueue(f->store, "aaaaaaaaaaaaaaaa", ds, 3, 30, 1000,
						  60000, NULL),
			 OB_EIO);
	assert_int_equal(cursor_of(f, "aaaaaaaaaaaaaaaa"), 20);
	assert_int_equal(count_of(f, "aaaaaaaaaaaaaaaa", "pending"), 2);
	/* The cursor never goes back; a webhook that is gone takes nothing. */
	assert_int_equal(ob_store_webhook_enqueue(f->store, "aaaaaaaaaaaaaaaa", NULL, 0, 15, 1000,
						  60000, NULL),
			 0);
	assert_int_equal(cursor_of(f, "aaaaaaaaaaaaaaaa"), 20);
	ds[1].type = "channel.live";
	assert_int_equal(ob_store_webhook_enqueue(f->store, "bbbbbbbbbbbbbbbb", ds, 3, 30, 1000,
						  60000, NULL),
			 OB_ENOTFOUND);
	/* At start, cursors past the log's end come back to it. */
	assert_int_equal(ob_store_webhook_cursors_clamp(f->store, 18), 0);
	assert_int_equal(cursor_of(f, "aaaaaaaaaaaaaaaa"), 18);
}

/* The ids of the due deliveries, in the order given. */
static size_t due_ids(struct fixture *f, int64_t now, int64_t *ids, int64_t *next_due)
{
	struct ob_webhook_due due[8];
	size_t count = 0;

	assert_int_equal(ob_store_webhook_due(f->store, now, due, 8, &count, next_due), 0);
	for (size_t i = 0; i < count; i++)
		ids[i] = due[i].id;
	return count;
}

static void record(struct fixture *f, int64_t id, int http_status, int64_t at,
		   enum ob_webhook_status status, int64_t next)
{
	struct ob_webhook_attempt a = {
		.at_ms = at,
		.duration_ms = 5,
		.http_status = http_status,
		.error = http_status >= 200 && http_status < 300 ? NULL : "answered 500",
	};

	assert_int_equal(ob_store_webhook_attempt_record(f->store, id, &a, status, next), 0);
}

static void test_one_subject_goes_in_order(void **state)
{
	struct fixture *f = *state;
	struct ob_webhook_new_delivery ds[4] = { delivery(1, "news"), delivery(2, "sport"),
						 delivery(3, "news"), delivery(4, "news") };
	struct ob_webhook hook;
	int64_t ids[8];
	int64_t next_due;
	size_t n;

	add_hook(f, "aaaaaaaaaaaaaaaa", "[\"*\"]", 0);
	add_hook(f, "cccccccccccccccc", "[\"*\"]", 0);
	assert_int_equal(ob_store_webhook_enqueue(f->store, "aaaaaaaaaaaaaaaa", ds, 4, 4, 1000,
						  100000, NULL),
			 0);
	/* ids 1 (news), 2 (sport), 3 (news), 4 (news): the heads of news and sport */
	n = due_ids(f, 1000, ids, &next_due);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 2);
	assert_int_equal(next_due, INT64_MAX);
	/* Nothing is due before its time. */
	assert_int_equal(due_ids(f, 999, ids, &next_due), 0);
	assert_int_equal(next_due, 1000);
	/* news's head fails and waits: the next of news waits behind it, sport goes. */
	record(f, 1, 500, 1000, OB_WEBHOOK_PENDING, 6000);
	n = due_ids(f, 2000, ids, &next_due);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 2);
	assert_int_equal(next_due, 6000);
	record(f, 2, 200, 2000, OB_WEBHOOK_DELIVERED, 0);
	assert_int_equal(due_ids(f, 2000, ids, &next_due), 0);
	/* Its retry succeeds: then 3, then 4. */
	n = due_ids(f, 6000, ids, &next_due);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 1);
	record(f, 1, 204, 6000, OB_WEBHOOK_DELIVERED, 0);
	n = due_ids(f, 6000, ids, &next_due);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 3);
	/* A delivery that gives up lets the next of its subject go. */
	record(f, 3, 0, 6000, OB_WEBHOOK_FAILED, 0);
	n = due_ids(f, 6000, ids, &next_due);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 4);
	/* A disabled webhook sends nothing; its deliveries wait. */
	assert_int_equal(ob_store_webhook_get(f->store, "aaaaaaaaaaaaaaaa", &hook), 0);
	hook.enabled = false;
	assert_int_equal(ob_store_webhook_update(f->store, &hook, &test_audit), 0);
	assert_int_equal(due_ids(f, 6000, ids, &next_due), 0);
	assert_int_equal(count_of(f, "aaaaaaaaaaaaaaaa", "pending"), 1);
	assert_int_equal(count_of(f, "aaaaaaaaaaaaaaaa", "delivered"), 2);
	assert_int_equal(count_of(f, "aaaaaaaaaaaaaaaa", "failed"), 1);
}

static void test_attempts_and_a_manual_retry(void **state)
{
	struct fixture *f = *state;
	struct ob_webhook_new_delivery d = delivery(1, "news");
	struct ob_webhook_due due[2];
	json_t *shown = NULL;
	json_t *list;
	size_t count;
	int64_t next_due;

	add_hook(f, "aaaaaaaaaaaaaaaa", "[\"*\"]", 0);
	assert_int_equal(ob_store_webhook_enqueue(f->store, "aaaaaaaaaaaaaaaa", &d, 1, 1, 1000,
						  100000, NULL),
			 0);
	for (int i = 0; i < OB_WEBHOOK_ATTEMPTS_KEEP + 5; i++)
		record(f, 1, 500, 1000 + i, OB_WEBHOOK_PENDING, 1000 + i + 1);
	record(f, 1, 0, 2000, OB_WEBHOOK_FAILED, 0);
	assert_int_equal(ob_store_webhook_delivery_show(f->store, "aaaaaaaaaaaaaaaa", 1, &shown), 0);
	assert_string_equal(json_string_value(json_object_get(shown, "status")), "failed");
	assert_int_equal(json_integer_value(json_object_get(shown, "attempts")),
			 OB_WEBHOOK_ATTEMPTS_KEEP + 6);
	/* Only the newest attempts are kept, oldest first. */
	assert_int_equal(json_array_size(json_object_get(shown, "attempt_log")),
			 OB_WEBHOOK_ATTEMPTS_KEEP);
	assert_true(json_is_null(json_object_get(
		json_array_get(json_object_get(shown, "attempt_log"), OB_WEBHOOK_ATTEMPTS_KEEP - 1),
		"http_status")));
	json_decref(shown);
	/* Only a failed one goes again, and its backoff starts over. */
	assert_int_equal(ob_store_webhook_delivery_retry(f->store, "aaaaaaaaaaaaaaaa", 1, 3000,
							 100000, &test_audit),
			 0);
	assert_int_equal(ob_store_webhook_delivery_retry(f->store, "aaaaaaaaaaaaaaaa", 1, 3000,
							 100000, &test_audit),
			 OB_ECONFLICT);
	assert_int_equal(ob_store_webhook_delivery_retry(f->store, "aaaaaaaaaaaaaaaa", 2, 3000,
							 100000, &test_audit),
			 OB_ENOTFOUND);
	assert_int_equal(ob_store_webhook_delivery_retry(f->store, "bbbbbbbbbbbbbbbb", 1, 3000,
							 100000, &test_audit),
			 OB_ENOTFOUND);
	assert_int_equal(ob_store_webhook_due(f->store, 3000, due, 2, &count, &next_due), 0);
	assert_int_equal(count, 1);
	assert_int_equal(due[0].attempts, OB_WEBHOOK_ATTEMPTS_KEEP + 6);
	assert_int_equal(due[0].backoff_base, OB_WEBHOOK_ATTEMPTS_KEEP + 6);
	assert_int_equal(due[0].expires_ms, 103000);
	list = ob_store_webhook_deliveries(f->store, "aaaaaaaaaaaaaaaa", "pending", 0, 10);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	list = ob_store_webhook_deliveries(f->store, "aaaaaaaaaaaaaaaa", "failed", 0, 10);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

static void test_pending_deliveries_are_bounded(void **state)
{
	struct fixture *f = *state;
	size_t total = OB_WEBHOOK_PENDING_MAX + 5;
	struct ob_webhook_new_delivery *ds = calloc(total, sizeof(*ds));
	size_t dropped = 0;

	assert_non_null(ds);
	for (size_t i = 0; i < total; i++)
		ds[i] = delivery((int64_t)i + 1, "news");
	add_hook(f, "aaaaaaaaaaaaaaaa", "[\"*\"]", 0);
	assert_int_equal(ob_store_webhook_enqueue(f->store, "aaaaaaaaaaaaaaaa", ds,
						  OB_WEBHOOK_PENDING_MAX - 1, 100, 1000, 100000,
						  &dropped),
			 0);
	assert_int_equal(dropped, 0);
	assert_int_equal(ob_store_webhook_enqueue(f->store, "aaaaaaaaaaaaaaaa", ds, 6, 200, 1000,
						  100000, &dropped),
			 0);
	assert_int_equal(dropped, 5);
	assert_int_equal(count_of(f, "aaaaaaaaaaaaaaaa", "pending"), OB_WEBHOOK_PENDING_MAX);
	assert_int_equal(count_of(f, "aaaaaaaaaaaaaaaa", "dropped"), 5);
	/* Dropped ones still move the cursor: they are not offered again. */
	assert_int_equal(cursor_of(f, "aaaaaaaaaaaaaaaa"), 200);
	free(ds);
}

static void test_old_history_is_pruned(void **state)
{
	struct fixture *f = *state;
	struct ob_webhook_new_delivery ds[6] = { delivery(1, "a"), delivery(2, "b"),
						 delivery(3, "c"), delivery(4, "d"),
						 delivery(5, "e"), delivery(6, "f") };
	json_t *list;
	int deleted = -1;

	add_hook(f, "aaaaaaaaaaaaaaaa", "[\"*\"]", 0);
	add_hook(f, "cccccccccccccccc", "[\"*\"]", 0);
	assert_int_equal(ob_store_webhook_enqueue(f->store, "aaaaaaaaaaaaaaaa", ds, 6, 6, 1000,
						  100000, NULL),
			 0);
	assert_int_equal(ob_store_webhook_enqueue(f->store, "cccccccccccccccc", ds, 2, 6, 1000,
						  100000, NULL),
			 0);
	/* aaaa: 1 finished long ago, 2..5 finished lately, 6 pending; cccc: 7, 8 lately. */
	record(f, 1, 200, 1000, OB_WEBHOOK_DELIVERED, 0);
	for (int64_t id = 2; id <= 5; id++)
		record(f, id, id == 3 ? 0 : 200, 900000, id == 3 ? OB_WEBHOOK_FAILED
								 : OB_WEBHOOK_DELIVERED,
		       0);
	record(f, 7, 200, 900000, OB_WEBHOOK_DELIVERED, 0);
	record(f, 8, 200, 900000, OB_WEBHOOK_DELIVERED, 0);
	/* Keep the newest 3 finished per webhook, and none older than 500 s. */
	assert_int_equal(ob_store_webhook_prune(f->store, 1000000, 3, 500000, &deleted), 0);
	assert_int_equal(deleted, 2); /* 1 (old), 2 (beyond the newest 3) */
	list = ob_store_webhook_deliveries(f->store, "aaaaaaaaaaaaaaaa", NULL, 0, 100);
	assert_int_equal(json_array_size(list), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), 6);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 3), "id")), 3);
	json_decref(list);
	/* Paging back from an id. */
	list = ob_store_webhook_deliveries(f->store, "aaaaaaaaaaaaaaaa", NULL, 5, 2);
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "id")), 4);
	json_decref(list);
	assert_int_equal(count_of(f, "cccccccccccccccc", "delivered"), 2);
	/* Deleting a webhook takes its deliveries. */
	assert_int_equal(ob_store_webhook_delete(f->store, "aaaaaaaaaaaaaaaa", &test_audit), 0);
	list = ob_store_webhook_deliveries(f->store, "aaaaaaaaaaaaaaaa", NULL, 0, 100);
	assert_int_equal(json_array_size(list), 0);
	json_decref(list);
}

/* ---- the sender over a fake transport ---- */

#define SENT_MAX 32

static struct {
	pthread_mutex_t lock;
	const char *fail_type;     /* requests of this type (NULL: all)... */
	int fail_first;            /* ...are answered 500 this many times, then 200 */
	int answered;
	int count;
	char keys[SENT_MAX][OB_WEBHOOK_KEY_MAX + 1];
	char types[SENT_MAX][32];
	char bodies[SENT_MAX][OB_WEBHOOK_PAYLOAD_MAX + 1];
	char signatures[SENT_MAX][OB_CLOUD_WEBHOOK_SIGNATURE_MAX + 1];
	int statuses[SENT_MAX];
} fake = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void header_value(const char *headers, const char *name, char *out, size_t len)
{
	const char *at = strstr(headers, name);
	size_t n;

	out[0] = '\0';
	if (!at)
		return;
	at += strlen(name);
	n = strcspn(at, "\r");
	if (n >= len)
		n = len - 1;
	memcpy(out, at, n);
	out[n] = '\0';
}

static int fake_send(const struct ob_http_request *req, struct ob_http_response *resp,
		     char *err, size_t err_len)
{
	int i;

	(void)err;
	(void)err_len;
	memset(resp, 0, sizeof(*resp));
	pthread_mutex_lock(&fake.lock);
	i = fake.count < SENT_MAX ? fake.count++ : SENT_MAX - 1;
	header_value(req->headers, "Idempotency-Key: ", fake.keys[i], sizeof(fake.keys[i]));
	header_value(req->headers, "X-Ottbox-Event: ", fake.types[i], sizeof(fake.types[i]));
	header_value(req->headers, "X-Ottbox-Signature: ", fake.signatures[i],
		     sizeof(fake.signatures[i]));
	memcpy(fake.bodies[i], req->body, req->body_len);
	fake.bodies[i][req->body_len] = '\0';
	resp->status = 200;
	if ((!fake.fail_type || strcmp(fake.types[i], fake.fail_type) == 0) &&
	    fake.answered++ < fake.fail_first)
		resp->status = 500;
	fake.statuses[i] = resp->status;
	pthread_mutex_unlock(&fake.lock);
	resp->retry_after_s = -1;
	resp->body = strdup(resp->status == 500 ? "try later" : "");
	resp->body_len = strlen(resp->body);
	return 0;
}

static void fake_reset(const char *fail_type, int fail_first)
{
	pthread_mutex_lock(&fake.lock);
	fake.fail_type = fail_type;
	fake.fail_first = fail_first;
	fake.answered = 0;
	fake.count = 0;
	pthread_mutex_unlock(&fake.lock);
}

static int fake_count(void)
{
	int n;

	pthread_mutex_lock(&fake.lock);
	n = fake.count;
	pthread_mutex_unlock(&fake.lock);
	return n;
}

static void wait_for_requests(int n, int timeout_ms)
{
	int64_t until = ob_time_mono_ms() + timeout_ms;

	while (fake_count() < n && ob_time_mono_ms() < until) {
		struct timespec pause = { 0, 10 * 1000 * 1000 };

		nanosleep(&pause, NULL);
	}
	if (fake_count() < n)
		fail_msg("%d requests after %d ms, expected %d", fake_count(), timeout_ms, n);
}

static void test_sender_retries_in_order_with_one_key(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_webhooks_config config = {
		.store = f->store,
		.box_id = "obx-test",
		.timing = { .first_retry_ms = 20, .max_retry_ms = 80, .max_age_ms = 60000 },
		.send = fake_send,
	};
	struct ob_cloud_webhooks *ws = NULL;
	json_t *list;

	fake_reset("channel.degraded", 2);
	assert_int_equal(ob_events_start(0, ob_store_events_sink, f->store), 0);
	ob_event_publish(OB_EVENT_INFO, "channel.state", "news",
			 json_pack("{s:s, s:s}", "state", "live", "previous", "starting"),
			 "before the webhook: not sent");
	add_hook(f, "aaaaaaaaaaaaaaaa", "[\"channel.live\",\"channel.degraded\"]",
		 ob_events_last_seq());
	add_hook(f, "cccccccccccccccc", "[\"policy.applied\"]", ob_events_last_seq());
	assert_int_equal(ob_cloud_webhooks_start_config(&config, &ws), 0);
	ob_event_publish(OB_EVENT_INFO, "channel.state", "news",
			 json_pack("{s:s, s:s}", "state", "degraded", "previous", "live"),
			 "degraded");
	ob_event_publish(OB_EVENT_INFO, "channel.state", "news",
			 json_pack("{s:s, s:s}", "state", "live", "previous", "degraded"),
			 "recovered: not subscribed");
	ob_event_publish(OB_EVENT_INFO, "channel.state", "news",
			 json_pack("{s:s, s:s}", "state", "failed", "previous", "live"),
			 "failed: not subscribed");
	ob_event_publish(OB_EVENT_INFO, "channel.state", "news",
			 json_pack("{s:s, s:s}", "state", "live", "previous", "starting"),
			 "live again: recovered, not subscribed");
	ob_event_publish(OB_EVENT_INFO, "channel.state", "sport",
			 json_pack("{s:s, s:s}", "state", "live", "previous", "starting"),
			 "sport live");
	ob_event_publish(OB_EVENT_INFO, "webhook.test", NULL,
			 json_pack("{s:s}", "webhook", "aaaaaaaaaaaaaaaa"), "a test");
	/* degraded (news) fails twice and then arrives; sport and the ping go meanwhile. */
	wait_for_requests(5, 10000);
	ob_cloud_webhooks_stop(&ws);
	assert_null(ws);
	ob_events_stop();
	assert_int_equal(fake_count(), 5);
	{
		int news = -1;
		int degraded_tries = 0;

		for (int i = 0; i < fake.count; i++) {
			json_t *body = json_loads(fake.bodies[i], 0, NULL);
			const char *sig = fake.signatures[i];
			char expected[OB_CLOUD_WEBHOOK_SIGNATURE_MAX + 1];
			long long t = strtoll(sig + 2, NULL, 10);

			assert_non_null(body);
			assert_string_equal(json_string_value(json_object_get(body, "id")),
					    fake.keys[i]);
			assert_string_equal(json_string_value(json_object_get(body, "type")),
					    fake.types[i]);
			assert_string_equal(json_string_value(json_object_get(body, "box")),
					    "obx-test");
			assert_int_equal(ob_cloud_webhook_sign((const unsigned char *)"0123456789abcdef",
							       16, t, fake.bodies[i],
							       strlen(fake.bodies[i]), expected,
							       sizeof(expected)),
					 0);
			assert_string_equal(sig, expected);
			if (strcmp(fake.types[i], "channel.degraded") == 0) {
				/* every try of it carries the same key */
				if (news < 0)
					news = i;
				assert_string_equal(fake.keys[i], fake.keys[news]);
				degraded_tries++;
			}
			json_decref(body);
		}
		assert_int_equal(degraded_tries, 3);
	}
	list = ob_store_webhook_deliveries(f->store, "aaaaaaaaaaaaaaaa", NULL, 0, 10);
	/* ping, live (sport), degraded (news): newest first, all delivered */
	assert_int_equal(json_array_size(list), 3);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "type")),
			    "ping");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 1), "subject")),
			    "sport");
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 2), "type")),
			    "channel.degraded");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 2), "attempts")),
			 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(json_string_value(json_object_get(json_array_get(list, i),
								      "status")),
				    "delivered");
	json_decref(list);
	/* The other webhook heard nothing: it subscribed to none of it. */
	assert_int_equal(count_of(f, "cccccccccccccccc", "delivered") +
				 count_of(f, "cccccccccccccccc", "pending"),
			 0);
	/* Its cursor moved at the stop, so a new start does not look at those again. */
	assert_int_equal(cursor_of(f, "cccccccccccccccc"), 7);
}

static void test_sender_stops_during_a_long_backoff(void **state)
{
	struct fixture *f = *state;
	struct ob_cloud_webhooks_config config = {
		.store = f->store,
		.box_id = "obx-test",
		.timing = { .first_retry_ms = 3600000, .max_retry_ms = 3600000,
			    .max_age_ms = 86400000 },
		.send = fake_send,
	};
	struct ob_cloud_webhooks *ws = NULL;
	int64_t started;
	json_t *list;

	fake_reset(NULL, 1000);
	assert_int_equal(ob_events_start(0, ob_store_events_sink, f->store), 0);
	add_hook(f, "aaaaaaaaaaaaaaaa", "[\"*\"]", 0);
	assert_int_equal(ob_cloud_webhooks_start_config(&config, &ws), 0);
	ob_event_publish(OB_EVENT_ERROR, "channel.state", "news",
			 json_pack("{s:s, s:s}", "state", "failed", "previous", "live"), "failed");
	wait_for_requests(1, 5000);
	started = ob_time_mono_ms();
	ob_cloud_webhooks_stop(&ws);
	assert_true(ob_time_mono_ms() - started < 1500);
	ob_events_stop();
	/* It stays pending, for the next start. */
	list = ob_store_webhook_deliveries(f->store, "aaaaaaaaaaaaaaaa", "pending", 0, 10);
	assert_int_equal(json_array_size(list), 1);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "attempts")),
			 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0),
							      "last_error")),
			    "answered 500: try later");
	json_decref(list);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_events_become_types_in_order),
		cmocka_unit_test(test_every_type_is_listed_once),
		cmocka_unit_test(test_subscriptions_are_checked),
		cmocka_unit_test(test_signature_matches_a_known_vector),
		cmocka_unit_test(test_payload_carries_the_event),
		cmocka_unit_test(test_backoff_doubles_within_bounds),
		cmocka_unit_test_setup_teardown(test_webhook_crud_is_audited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_and_cursor_are_one_transaction, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_one_subject_goes_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_attempts_and_a_manual_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_deliveries_are_bounded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_old_history_is_pruned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sender_retries_in_order_with_one_key, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sender_stops_during_a_long_backoff, setup,
						teardown),
	};
	int ret;

	assert_int_equal(ob_random_init(), 0);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	ob_random_free();
	return ret;
}
