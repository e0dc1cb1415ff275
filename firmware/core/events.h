/* The box's event log, as operators read it: what happened to channels, access and the box
 * ("channel \"news\" is degraded: the primary input was lost"). Any thread publishes; events
 * get a sequence number that grows across restarts, wait in a bounded in-memory ring for
 * live readers (the console's event stream), and a writer thread hands them in batches to a
 * sink (the store) so no publisher ever waits on the disk. One log per process, like the
 * log module. */
#ifndef OB_CORE_EVENTS_H
#define OB_CORE_EVENTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OB_EVENT_KIND_MAX 31
#define OB_EVENT_CHANNEL_MAX 32
#define OB_EVENT_MESSAGE_MAX 511
#define OB_EVENT_DATA_MAX 1023
#define OB_EVENTS_RING 1024 /* events kept in memory for live readers */

enum ob_event_level {
	OB_EVENT_INFO = 0,
	OB_EVENT_WARNING = 1,
	OB_EVENT_ERROR = 2,
};

struct ob_event {
	int64_t seq;                               /* from 1, never reused */
	int64_t at_ms;                             /* wall clock */
	enum ob_event_level level;
	char kind[OB_EVENT_KIND_MAX + 1];          /* "channel.state" */
	char channel[OB_EVENT_CHANNEL_MAX + 1];    /* the channel it concerns, or "" */
	char message[OB_EVENT_MESSAGE_MAX + 1];    /* for people */
	char data[OB_EVENT_DATA_MAX + 1];          /* a compact JSON object, "{}" when none */
};

/* What a reader wants; zeroed means everything. */
struct ob_event_filter {
	enum ob_event_level min_level;
	char channel[OB_EVENT_CHANNEL_MAX + 1];    /* "" for every channel and none */
	char kind[OB_EVENT_KIND_MAX + 1];          /* a prefix of the kind ("channel."), or "" */
};

/* Hands a batch of events, oldest first, to durable storage. Returns 0 or an OB_E* code
 * (the batch is then retried once, later, and dropped after that with a log line). */
typedef int (*ob_events_sink)(void *ctx, const struct ob_event *events, size_t count);

/* Starts the log: sequence numbers continue after last_seq (the highest the sink holds),
 * and a writer thread feeds sink (may be NULL: events live only in memory). 0 or OB_E*. */
int ob_events_start(int64_t last_seq, ob_events_sink sink, void *ctx);

/* Hands every event published so far to the sink, stops the writer and wakes every waiting
 * reader (ob_events_wait then answers at once). Publishing after it only logs. */
void ob_events_stop(void);

/* Publishes an event. channel may be NULL; data (taken, may be NULL) is an object stored
 * as compact JSON (an empty object when longer than OB_EVENT_DATA_MAX). Never blocks on
 * I/O. Returns the event's sequence number, or 0 when the log is not running. */
int64_t ob_event_publish(enum ob_event_level level, const char *kind, const char *channel,
			 json_t *data, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* Copies up to max events after seq `after` that match filter (NULL: all) into out, oldest
 * first, waiting up to timeout_ms for the first one. *next is the sequence number to pass
 * as `after` next time (it moves past events that did not match). Returns the number copied;
 * *gap is set when events after `after` already left the ring (read them from the store). */
size_t ob_events_wait(int64_t after, const struct ob_event_filter *filter, int timeout_ms,
		      struct ob_event *out, size_t max, int64_t *next, bool *gap);

/* The highest sequence number published so far (0 before the first). */
int64_t ob_events_last_seq(void);

/* Wakes every reader waiting in ob_events_wait (for example when the server stops). */
void ob_events_wake_all(void);

/* Whether an event matches a filter (NULL matches everything). */
bool ob_event_matches(const struct ob_event *event, const struct ob_event_filter *filter);

/* "info", "warning", "error". */
const char *ob_event_level_name(enum ob_event_level level);

/* Reads a level name; 0, or OB_EINVAL for anything else. */
int ob_event_level_parse(const char *name, enum ob_event_level *out);

/* The event as the API shows it: {"seq", "at", "kind", "level", "channel" (string or null),
 * "message", "data"} (new reference, or NULL when out of memory). */
json_t *ob_event_json(const struct ob_event *event);

#endif
