#include "core/events.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"

#define MODULE "events"
#define WRITE_BATCH 64
#define WRITE_RETRY_MS 1000

static struct {
	pthread_mutex_t lock;
	pthread_cond_t readers;      /* a new event, or the log stopping */
	pthread_cond_t writer;       /* an event to write, or the log stopping */
	bool running;
	bool stopping;
	bool writer_started;
	bool conds_ready;            /* readers and writer initialised (by the first start) */
	pthread_t writer_thread;
	ob_events_sink sink;
	void *sink_ctx;
	int64_t base_seq;            /* the last sequence number before this run */
	int64_t published;           /* the last sequence number handed out */
	int64_t written;             /* the last one the sink took (or dropped) */
	unsigned wake_generation;    /* bumped by ob_events_wake_all */
	struct ob_event ring[OB_EVENTS_RING]; /* seq s lives in ring[s % OB_EVENTS_RING] */
} ev = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
};

static const char *const level_names[] = {
	[OB_EVENT_INFO] = "info",
	[OB_EVENT_WARNING] = "warning",
	[OB_EVENT_ERROR] = "error",
};

const char *ob_event_level_name(enum ob_event_level level)
{
	return (unsigned)level < OB_ARRAY_SIZE(level_names) ? level_names[level] : "info";
}

int ob_event_level_parse(const char *name, enum ob_event_level *out)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(level_names); i++) {
		if (name && strcmp(name, level_names[i]) == 0) {
			*out = (enum ob_event_level)i;
			return 0;
		}
	}
	return OB_EINVAL;
}

bool ob_event_matches(const struct ob_event *event, const struct ob_event_filter *filter)
{
	if (!filter)
		return true;
	if (event->level < filter->min_level)
		return false;
	if (filter->channel[0] && strcmp(event->channel, filter->channel) != 0)
		return false;
	return strncmp(event->kind, filter->kind, strlen(filter->kind)) == 0;
}

json_t *ob_event_json(const struct ob_event *event)
{
	char at[32];
	json_t *data = json_loads(event->data, 0, NULL);

	ob_time_iso8601(event->at_ms, at, sizeof(at));
	if (!json_is_object(data)) {
		json_decref(data);
		data = json_object();
	}
	return json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:o}", "seq", (json_int_t)event->seq,
			 "at", at, "kind", event->kind, "level", ob_event_level_name(event->level),
			 "channel", event->channel[0] ? json_string(event->channel) : json_null(),
			 "message", event->message, "data", data);
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* The oldest sequence number still in the ring. Lock held. */
static int64_t oldest_locked(void)
{
	int64_t oldest = ev.published - OB_EVENTS_RING + 1;

	return oldest > ev.base_seq + 1 ? oldest : ev.base_seq + 1;
}

static void *writer_main(void *arg)
{
	struct ob_event *batch = arg;

	pthread_mutex_lock(&ev.lock);
	for (;;) {
		size_t count;
		int ret;

		while (!ev.stopping && ev.written == ev.published)
			pthread_cond_wait(&ev.writer, &ev.lock);
		if (ev.written == ev.published)
			break;
		if (ev.written + 1 < oldest_locked()) {
			ob_warn(MODULE, "%lld events left memory before they could be stored; the "
					"stored log skips them",
				(long long)(oldest_locked() - ev.written - 1));
			ev.written = oldest_locked() - 1;
		}
		count = (size_t)(ev.published - ev.written);
		if (count > WRITE_BATCH)
			count = WRITE_BATCH;
		for (size_t i = 0; i < count; i++)
			batch[i] = ev.ring[(ev.written + 1 + (int64_t)i) % OB_EVENTS_RING];
		pthread_mutex_unlock(&ev.lock);
		ret = ev.sink(ev.sink_ctx, batch, count);
		if (ret != 0) {
			struct timespec pause = { 0, WRITE_RETRY_MS * 1000000L };

			nanosleep(&pause, NULL);
			ret = ev.sink(ev.sink_ctx, batch, count);
			if (ret != 0)
				ob_warn(MODULE, "%zu events (from %lld) could not be stored: %s; they "
						"stay out of the stored log",
					count, (long long)batch[0].seq, ob_strerror(ret));
		}
		pthread_mutex_lock(&ev.lock);
		ev.written = batch[count - 1].seq;
	}
	pthread_mutex_unlock(&ev.lock);
	free(batch);
	return NULL;
}

int ob_events_start(int64_t last_seq, ob_events_sink sink, void *ctx)
{
	pthread_condattr_t attr;
	struct ob_event *batch = NULL;
	int ret = 0;

	pthread_mutex_lock(&ev.lock);
	if (ev.running) {
		ret = OB_EEXIST;
		goto out_unlock;
	}
	if (!ev.conds_ready) {
		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&ev.readers, &attr);
		pthread_cond_init(&ev.writer, &attr);
		pthread_condattr_destroy(&attr);
		ev.conds_ready = true;
	}
	ev.base_seq = last_seq > 0 ? last_seq : 0;
	ev.published = ev.base_seq;
	ev.written = ev.base_seq;
	ev.sink = sink;
	ev.sink_ctx = ctx;
	ev.stopping = false;
	ev.writer_started = false;
	if (sink) {
		batch = calloc(WRITE_BATCH, sizeof(*batch));
		if (!batch || pthread_create(&ev.writer_thread, NULL, writer_main, batch) != 0) {
			free(batch);
			ret = OB_ENOMEM;
			goto out_unlock;
		}
		ev.writer_started = true;
	}
	ev.running = true;
out_unlock:
	pthread_mutex_unlock(&ev.lock);
	return ret;
}

void ob_events_stop(void)
{
	bool join;

	pthread_mutex_lock(&ev.lock);
	if (!ev.running) {
		pthread_mutex_unlock(&ev.lock);
		return;
	}
	ev.stopping = true;
	join = ev.writer_started;
	pthread_cond_broadcast(&ev.writer);
	pthread_cond_broadcast(&ev.readers);
	pthread_mutex_unlock(&ev.lock);
	if (join)
		pthread_join(ev.writer_thread, NULL);
	pthread_mutex_lock(&ev.lock);
	ev.running = false;
	ev.writer_started = false;
	pthread_mutex_unlock(&ev.lock);
}

int64_t ob_event_publish(enum ob_event_level level, const char *kind, const char *channel,
			 json_t *data, const char *fmt, ...)
{
	struct ob_event *slot;
	char message[OB_EVENT_MESSAGE_MAX + 1];
	char *text = data ? json_dumps(data, JSON_COMPACT) : NULL;
	int64_t seq = 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&ev.lock);
	if (!ev.running || ev.stopping)
		goto out_unlock;
	seq = ++ev.published;
	slot = &ev.ring[seq % OB_EVENTS_RING];
	memset(slot, 0, sizeof(*slot));
	slot->seq = seq;
	slot->at_ms = ob_time_wall_ms();
	slot->level = level;
	ob_strlcpy(slot->kind, kind, sizeof(slot->kind));
	ob_strlcpy(slot->channel, channel ? channel : "", sizeof(slot->channel));
	ob_strlcpy(slot->message, message, sizeof(slot->message));
	if (text && json_is_object(data) && strlen(text) < sizeof(slot->data))
		memcpy(slot->data, text, strlen(text) + 1);
	else
		ob_strlcpy(slot->data, "{}", sizeof(slot->data));
	pthread_cond_broadcast(&ev.readers);
	pthread_cond_signal(&ev.writer);
out_unlock:
	pthread_mutex_unlock(&ev.lock);
	free(text);
	json_decref(data);
	return seq;
}

size_t ob_events_wait(int64_t after, const struct ob_event_filter *filter, int timeout_ms,
		      struct ob_event *out, size_t max, int64_t *next, bool *gap)
{
	struct timespec deadline;
	size_t copied = 0;
	unsigned generation;

	*gap = false;
	deadline_after(&deadline, timeout_ms > 0 ? timeout_ms : 0);
	pthread_mutex_lock(&ev.lock);
	if (!ev.conds_ready) {
		/* Never started: nothing will come; wait as asked so a reader does not spin. */
		struct timespec pause = { timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L };

		pthread_mutex_unlock(&ev.lock);
		if (timeout_ms > 0)
			nanosleep(&pause, NULL);
		*next = after;
		return 0;
	}
	generation = ev.wake_generation;
	for (;;) {
		if (ev.published > after) {
			int64_t seq = after + 1;

			if (seq < oldest_locked()) {
				*gap = true;
				seq = oldest_locked();
			}
			for (; seq <= ev.published && copied < max; seq++) {
				const struct ob_event *e = &ev.ring[seq % OB_EVENTS_RING];

				if (ob_event_matches(e, filter))
					out[copied++] = *e;
			}
			after = seq - 1;
		}
		if (copied || !ev.running || ev.stopping || generation != ev.wake_generation ||
		    timeout_ms <= 0)
			break;
		if (pthread_cond_timedwait(&ev.readers, &ev.lock, &deadline) != 0)
			timeout_ms = 0; /* one last look, then out */
	}
	pthread_mutex_unlock(&ev.lock);
	*next = after;
	return copied;
}

int64_t ob_events_last_seq(void)
{
	int64_t seq;

	pthread_mutex_lock(&ev.lock);
	seq = ev.published;
	pthread_mutex_unlock(&ev.lock);
	return seq;
}

void ob_events_wake_all(void)
{
	pthread_mutex_lock(&ev.lock);
	ev.wake_generation++;
	if (ev.running)
		pthread_cond_broadcast(&ev.readers);
	pthread_mutex_unlock(&ev.lock);
}
