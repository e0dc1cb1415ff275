/* The event log: publishing and sequence numbers, filters, readers that wait and wake,
 * the ring's bound (a reader that fell behind is told), the writer handing every event to a
 * real SQLite store before stop, and the store's listing, paging and bound. */
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

#include "core/err.h"
#include "core/events.h"
#include "core/util.h"
#include "store/store.h"

/* A sink that keeps what it was given, and can be told to fail. */
struct capture {
	pthread_mutex_t lock;
	int64_t seqs[4096];
	size_t count;
	size_t calls;
	int fail_next;
};

static int capture_sink(void *ctx, const struct ob_event *events, size_t count)
{
	struct capture *c = ctx;
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	c->calls++;
	if (c->fail_next > 0) {
		c->fail_next--;
		ret = OB_EIO;
	} else {
		for (size_t i = 0; i < count && c->count < OB_ARRAY_SIZE(c->seqs); i++)
			c->seqs[c->count++] = events[i].seq;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static void test_sequence_continues_and_levels_parse(void **state)
{
	enum ob_event_level level;
	struct ob_event out[4];
	int64_t next;
	bool gap;

	(void)state;
	assert_int_equal(ob_event_publish(OB_EVENT_INFO, "box.started", NULL, NULL, "x"), 0);
	assert_int_equal(ob_events_start(41, NULL, NULL), 0);
	assert_int_equal(ob_events_start(41, NULL, NULL), OB_EEXIST);
	assert_int_equal(ob_event_publish(OB_EVENT_INFO, "box.started", NULL, NULL, "up"), 42);
	assert_int_equal(ob_event_publish(OB_EVENT_ERROR, "channel.state", "news",
					  json_pack("{s:s}", "state", "failed"), "channel %s failed",
					  "news"),
			 43);
	assert_int_equal(ob_events_last_seq(), 43);
	assert_int_equal(ob_events_wait(41, NULL, 0, out, 4, &next, &gap), 2);
	assert_false(gap);
	assert_int_equal(next, 43);
	assert_string_equal(out[1].message, "channel news failed");
	assert_string_equal(out[1].channel, "news");
	assert_string_equal(out[1].data, "{\"state\":\"failed\"}");
	assert_string_equal(out[0].data, "{}");
	ob_events_stop();
	assert_int_equal(ob_event_publish(OB_EVENT_INFO, "box.started", NULL, NULL, "x"), 0);

	assert_int_equal(ob_event_level_parse("warning", &level), 0);
	assert_int_equal(level, OB_EVENT_WARNING);
	assert_int_equal(ob_event_level_parse("loud", &level), OB_EINVAL);
	assert_string_equal(ob_event_level_name(OB_EVENT_ERROR), "error");
}

static void test_filters(void **state)
{
	struct ob_event e = { .seq = 1, .level = OB_EVENT_WARNING };
	struct ob_event_filter f = { 0 };

	(void)state;
	ob_strlcpy(e.kind, "channel.state", sizeof(e.kind));
	ob_strlcpy(e.channel, "news", sizeof(e.channel));
	assert_true(ob_event_matches(&e, NULL));
	assert_true(ob_event_matches(&e, &f));
	f.min_level = OB_EVENT_ERROR;
	assert_false(ob_event_matches(&e, &f));
	f.min_level = OB_EVENT_WARNING;
	ob_strlcpy(f.kind, "channel.", sizeof(f.kind));
	assert_true(ob_event_matches(&e, &f));
	ob_strlcpy(f.kind, "access.", sizeof(f.kind));
	assert_false(ob_event_matches(&e, &f));
	f.kind[0] = '\0';
	ob_strlcpy(f.channel, "sport", sizeof(f.channel));
	assert_false(ob_event_matches(&e, &f));
	ob_strlcpy(f.channel, "news", sizeof(f.channel));
	assert_true(ob_event_matches(&e, &f));
}

static void test_json_form(void **state)
{
	struct ob_event e = { .seq = 7, .at_ms = 1800000000000, .level = OB_EVENT_INFO };
	json_t *doc;

	(void)state;
	ob_strlcpy(e.kind, "box.started", sizeof(e.kind));
	ob_strlcpy(e.message, "up", sizeof(e.message));
	ob_strlcpy(e.data, "{\"version\":\"1\"}", sizeof(e.data));
	doc = ob_event_json(&e);
	assert_non_null(doc);
	assert_int_equal(json_integer_value(json_object_get(doc, "seq")), 7);
	assert_string_equal(json_string_value(json_object_get(doc, "at")),
			    "2027-01-15T08:00:00.000Z");
	assert_true(json_is_null(json_object_get(doc, "channel")));
	assert_string_equal(json_string_value(json_object_get(doc, "level")), "info");
	assert_string_equal(
		json_string_value(json_object_get(json_object_get(doc, "data"), "version")), "1");
	json_decref(doc);
	/* Stored data that is not an object shows as an empty one. */
	ob_strlcpy(e.data, "[1]", sizeof(e.data));
	doc = ob_event_json(&e);
	assert_int_equal(json_object_size(json_object_get(doc, "data")), 0);
	json_decref(doc);
}

struct waiter {
	int64_t after;
	struct ob_event_filter filter;
	size_t got;
	int64_t seq;
	int64_t waited_ms;
};

static void *wait_main(void *arg)
{
	struct waiter *w = arg;
	struct ob_event out[2];
	int64_t next;
	bool gap;
	int64_t start = ob_time_mono_ms();

	w->got = ob_events_wait(w->after, &w->filter, 5000, out, 2, &next, &gap);
	w->waited_ms = ob_time_mono_ms() - start;
	w->seq = w->got ? out[0].seq : 0;
	return NULL;
}

static void test_a_waiting_reader_wakes_for_its_event_only(void **state)
{
	struct waiter w = { 0 };
	struct timespec pause = { 0, 100 * 1000 * 1000 };
	pthread_t thread;

	(void)state;
	assert_int_equal(ob_events_start(0, NULL, NULL), 0);
	ob_strlcpy(w.filter.channel, "news", sizeof(w.filter.channel));
	assert_int_equal(pthread_create(&thread, NULL, wait_main, &w), 0);
	nanosleep(&pause, NULL);
	ob_event_publish(OB_EVENT_INFO, "channel.state", "sport", NULL, "not this one");
	nanosleep(&pause, NULL);
	ob_event_publish(OB_EVENT_INFO, "channel.state", "news", NULL, "this one");
	pthread_join(thread, NULL);
	assert_int_equal(w.got, 1);
	assert_int_equal(w.seq, 2);
	assert_true(w.waited_ms < 4000);

	/* Stopping the log wakes a reader at once. */
	memset(&w, 0, sizeof(w));
	w.after = ob_events_last_seq();
	assert_int_equal(pthread_create(&thread, NULL, wait_main, &w), 0);
	nanosleep(&pause, NULL);
	ob_events_wake_all();
	pthread_join(thread, NULL);
	assert_int_equal(w.got, 0);
	assert_true(w.waited_ms < 4000);
	ob_events_stop();
}

static void test_a_reader_that_fell_behind_is_told(void **state)
{
	struct ob_event out[8];
	int64_t next;
	bool gap;

	(void)state;
	assert_int_equal(ob_events_start(0, NULL, NULL), 0);
	for (int i = 0; i < OB_EVENTS_RING + 10; i++)
		ob_event_publish(OB_EVENT_INFO, "channel.note", "news", NULL, "note %d", i);
	assert_int_equal(ob_events_wait(0, NULL, 0, out, 8, &next, &gap), 8);
	assert_true(gap);
	assert_int_equal(out[0].seq, 11); /* the oldest the ring still holds */
	assert_int_equal(next, 18);
	assert_int_equal(ob_events_wait(next, NULL, 0, out, 8, &next, &gap), 8);
	assert_false(gap);
	assert_int_equal(out[0].seq, 19);
	ob_events_stop();
}

static void test_the_writer_hands_every_event_over_before_stop(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));

	(void)state;
	pthread_mutex_init(&c->lock, NULL);
	c->fail_next = 1; /* the first batch fails once and is tried again */
	assert_int_equal(ob_events_start(100, capture_sink, c), 0);
	for (int i = 0; i < 300; i++)
		ob_event_publish(OB_EVENT_INFO, "channel.note", NULL, NULL, "n%d", i);
	ob_events_stop();
	assert_int_equal(c->count, 300);
	for (size_t i = 0; i < c->count; i++)
		assert_int_equal(c->seqs[i], 101 + (int64_t)i);
	assert_true(c->calls >= 300 / 64 + 1);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void test_the_store_keeps_lists_and_bounds_the_log(void **state)
{
	char dir[] = "/tmp/ottbox-events-XXXXXX";
	char err[512] = "";
	char cmd[128];
	struct ob_store *store = NULL;
	struct ob_event_filter f = { 0 };
	json_t *list;

	(void)state;
	assert_non_null(mkdtemp(dir));
	if (ob_store_open(dir, &store, err, sizeof(err)) != 0)
		fail_msg("store: %s", err);
	assert_int_equal(ob_store_events_last_seq(store), 0);
	assert_int_equal(ob_events_start(ob_store_events_last_seq(store), ob_store_events_sink,
					 store),
			 0);
	ob_event_publish(OB_EVENT_INFO, "channel.created", "news", NULL, "created");
	ob_event_publish(OB_EVENT_WARNING, "channel.state", "news",
			 json_pack("{s:s}", "state", "degraded"), "degraded");
	ob_event_publish(OB_EVENT_INFO, "access.changed", NULL, NULL, "keys");
	ob_event_publish(OB_EVENT_ERROR, "channel.state", "sport", NULL, "failed");
	ob_events_stop();
	assert_int_equal(ob_store_events_last_seq(store), 4);

	list = ob_store_events_list(store, NULL, 0, 0, 10);
	assert_int_equal(json_array_size(list), 4);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 4);
	json_decref(list);
	list = ob_store_events_list(store, NULL, 3, 0, 10); /* before 3, newest first */
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 2);
	json_decref(list);
	list = ob_store_events_list(store, NULL, 0, 2, 10); /* after 2, oldest first */
	assert_int_equal(json_array_size(list), 2);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 0), "seq")), 3);
	json_decref(list);
	ob_strlcpy(f.channel, "news", sizeof(f.channel));
	f.min_level = OB_EVENT_WARNING;
	list = ob_store_events_list(store, &f, 0, 0, 10);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_array_get(list, 0), "data"), "state")),
			    "degraded");
	json_decref(list);
	memset(&f, 0, sizeof(f));
	ob_strlcpy(f.kind, "channel.", sizeof(f.kind));
	list = ob_store_events_list(store, &f, 0, 0, 10);
	assert_int_equal(json_array_size(list), 3);
	json_decref(list);

	/* A restart goes on from the stored numbers; the log keeps the newest only. */
	assert_int_equal(ob_events_start(ob_store_events_last_seq(store), ob_store_events_sink,
					 store),
			 0);
	assert_int_equal(ob_event_publish(OB_EVENT_INFO, "box.started", NULL, NULL, "again"), 5);
	ob_events_stop();
	{
		struct ob_event many[64];

		memset(many, 0, sizeof(many));
		for (int64_t base = 6; base < 6 + OB_STORE_EVENTS_KEEP + 64; base += 64) {
			for (int i = 0; i < 64; i++) {
				many[i].seq = base + i;
				ob_strlcpy(many[i].kind, "channel.note", sizeof(many[i].kind));
				ob_strlcpy(many[i].data, "{}", sizeof(many[i].data));
			}
			assert_int_equal(ob_store_events_append(store, many, 64), 0);
		}
	}
	list = ob_store_events_list(store, NULL, 0, 0, 1);
	{
		int64_t newest = json_integer_value(json_object_get(json_array_get(list, 0), "seq"));

		json_decref(list);
		list = ob_store_events_list(store, NULL, 0, 0, 500);
		assert_int_equal(json_array_size(list), 500);
		json_decref(list);
		list = ob_store_events_list(store, NULL, 0, newest - OB_STORE_EVENTS_KEEP - 1, 5);
		/* Nothing at or below newest - KEEP survives. */
		assert_int_equal(
			json_integer_value(json_object_get(json_array_get(list, 0), "seq")),
			newest - OB_STORE_EVENTS_KEEP + 1);
		json_decref(list);
	}
	ob_store_close(&store);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence_continues_and_levels_parse),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_json_form),
		cmocka_unit_test(test_a_waiting_reader_wakes_for_its_event_only),
		cmocka_unit_test(test_a_reader_that_fell_behind_is_told),
		cmocka_unit_test(test_the_writer_hands_every_event_over_before_stop),
		cmocka_unit_test(test_the_store_keeps_lists_and_bounds_the_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
