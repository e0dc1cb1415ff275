/* The event log over HTTP: GET /api/v1/events pages through the stored log, and
 * GET /api/v1/events/stream pushes new events and the box's live figures as server-sent
 * events (text/event-stream), so the console updates without polling. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/err.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"

#define MODULE "api"
#define STREAM_BATCH 32
#define STREAM_REPLAY_MAX 500      /* events resent after a reconnect, at most */
#define STREAM_KEEPALIVE_MS 5000   /* a comment line when nothing else was sent: it also
                                    * finds a client that left, freeing its slot */
#define STREAM_SESSION_CHECK_MS 5000
#define STREAM_STATS_DEFAULT_S 2
#define STREAM_RETRY_MS 3000       /* the browser's reconnect delay */

void ob_api_event(struct ob_req *req, const char *kind, const char *channel, const char *fmt,
		  ...)
{
	char message[OB_EVENT_MESSAGE_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	ob_event_publish(OB_EVENT_INFO, kind, channel, json_pack("{s:s}", "actor", req->actor),
			 "%s (by %s)", message, req->actor);
}

/* Reads channel, level and kind from the query into filter; sends 400 and returns nonzero
 * when one is not acceptable. */
static int read_filter(struct ob_req *req, struct ob_event_filter *filter)
{
	char level[16];

	memset(filter, 0, sizeof(*filter));
	if (ob_api_query_str(req, "channel", filter->channel, sizeof(filter->channel)) != 0 ||
	    ob_api_query_str(req, "kind", filter->kind, sizeof(filter->kind)) != 0 ||
	    ob_api_query_str(req, "level", level, sizeof(level)) != 0)
		return -1;
	if (filter->channel[0] && !ob_is_slug(filter->channel, OB_EVENT_CHANNEL_MAX)) {
		ob_api_reply_error(req, 400, "invalid",
				   "channel: must be a channel id (lowercase letters, digits and "
				   "'-', at most %d)", OB_EVENT_CHANNEL_MAX);
		return -1;
	}
	if (level[0] && ob_event_level_parse(level, &filter->min_level) != 0) {
		ob_api_reply_error(req, 400, "invalid",
				   "level: must be info, warning or error (the least severe to "
				   "show)");
		return -1;
	}
	return 0;
}

void ob_api_get_events(struct ob_req *req)
{
	struct ob_event_filter filter;
	long long limit = 100;
	long long before = 0;
	long long after = 0;

	if (read_filter(req, &filter) != 0 || ob_api_query_int(req, "limit", 1, 500, &limit) != 0 ||
	    ob_api_query_int(req, "before", 1, INT64_MAX, &before) != 0 ||
	    ob_api_query_int(req, "after", 0, INT64_MAX, &after) != 0)
		return;
	if (before && after) {
		ob_api_reply_error(req, 400, "invalid",
				   "before: give either before (older events, newest first) or "
				   "after (newer events, oldest first), not both");
		return;
	}
	ob_api_reply_json(req, 200,
			  json_pack("{s:o, s:I}", "events",
				    ob_store_events_list(req->api->store, &filter, before, after,
							 (int)limit),
				    "last_seq", (json_int_t)ob_events_last_seq()));
}

/* ---- the stream ---- */

struct stream {
	struct ob_req *req;
	struct ob_event_filter filter;
	int64_t cursor;               /* the last sequence number looked at */
	int64_t last_write_ms;
	bool broken;                  /* a write failed: the client is gone */
	struct ob_cpu_sample cpu;
};

static void stream_write(struct stream *s, const char *text, size_t len)
{
	if (s->broken)
		return;
	if (mg_write(s->req->conn, text, len) != (int)len)
		s->broken = true;
	s->last_write_ms = ob_time_mono_ms();
}

/* Sends one server-sent event: an optional id, a type and a JSON document (taken). */
static void stream_send(struct stream *s, int64_t id, const char *type, json_t *doc)
{
	char *text = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	char head[96];
	int len;

	json_decref(doc);
	if (!text)
		return;
	len = id > 0 ? snprintf(head, sizeof(head), "id: %lld\nevent: %s\ndata: ", (long long)id,
				type)
		     : snprintf(head, sizeof(head), "event: %s\ndata: ", type);
	/* Compact JSON has no raw newline, so one data line carries it whole. */
	stream_write(s, head, (size_t)len);
	stream_write(s, text, strlen(text));
	stream_write(s, "\n\n", 2);
	free(text);
}

static void send_event(struct stream *s, const struct ob_event *e)
{
	stream_send(s, e->seq, "event", ob_event_json(e));
}

static void send_stats(struct stream *s)
{
	char at[32];

	ob_time_iso8601(ob_time_wall_ms(), at, sizeof(at));
	stream_send(s, 0, "stats",
		    json_pack("{s:s, s:o, s:o}", "at", at, "channels",
			      ob_api_channels_with_status(s->req->api), "system",
			      ob_api_system_load(s->req->api, &s->cpu)));
}

/* After a reconnect: the events the client missed, from the store, then the ring. */
static void replay(struct stream *s, int64_t last_id)
{
	json_t *missed = ob_store_events_list(s->req->api->store, &s->filter, 0, last_id,
					      STREAM_REPLAY_MAX);
	json_t *event;
	size_t i;

	s->cursor = last_id;
	json_array_foreach(missed, i, event) {
		int64_t seq = json_integer_value(json_object_get(event, "seq"));

		stream_send(s, seq, "event", json_incref(event));
		if (seq > s->cursor)
			s->cursor = seq;
	}
	json_decref(missed);
}

/* Whether the caller may keep the stream: its console session still lives. */
static bool still_allowed(struct stream *s)
{
	struct ob_req *req = s->req;
	struct ob_store *store = req->api->store;

	if (!req->via_session)
		return true; /* an API key that is revoked ends with the next request it makes */
	return ob_access_session_alive(
		       req->api->sessions, req->session_id, ob_time_mono_ms(),
		       ob_store_setting_int(store, "session_idle_timeout_s") * 1000,
		       ob_store_setting_int(store, "session_absolute_timeout_s") * 1000) == 0;
}

/* The Last-Event-ID a reconnecting browser sends (or ?last_event_id=), or -1 for none. */
static int read_last_id(struct ob_req *req, long long *last_id)
{
	const char *header = mg_get_header(req->conn, "Last-Event-ID");
	char *end;

	*last_id = -1;
	if (header && header[0]) {
		errno = 0;
		*last_id = strtoll(header, &end, 10);
		if (*end || errno == ERANGE || *last_id < 0) {
			ob_api_reply_error(req, 400, "invalid",
					   "Last-Event-ID: must be the seq of an event this box sent");
			return -1;
		}
		return 0;
	}
	return ob_api_query_int(req, "last_event_id", 0, INT64_MAX, last_id);
}

void ob_api_get_events_stream(struct ob_req *req)
{
	struct ob_api *api = req->api;
	struct stream s = { .req = req };
	struct ob_event batch[STREAM_BATCH];
	long long stats_s = STREAM_STATS_DEFAULT_S;
	long long last_id;
	int64_t next_stats_ms;
	int64_t next_check_ms;
	char head[64];

	if (read_filter(req, &s.filter) != 0 ||
	    ob_api_query_int(req, "stats", 0, 60, &stats_s) != 0 || read_last_id(req, &last_id) != 0)
		return;
	if (atomic_fetch_add(&api->event_streams, 1) >= api->event_streams_max) {
		atomic_fetch_sub(&api->event_streams, 1);
		ob_api_reply_error_headers(req, 503, "busy", "Retry-After: 10\r\n",
					   "this box already serves its most event streams at once; "
					   "close another console tab, or try again shortly");
		return;
	}
	req->status = 200;
	/* No length: the answer lasts until either side closes it. */
	mg_printf(req->conn,
		  "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
		  "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
		  "X-Accel-Buffering: no\r\nConnection: close\r\n\r\n");
	snprintf(head, sizeof(head), "retry: %d\n\n", STREAM_RETRY_MS);
	stream_write(&s, head, strlen(head));
	if (last_id >= 0)
		replay(&s, last_id);
	else
		s.cursor = ob_events_last_seq();
	next_stats_ms = ob_time_mono_ms();
	next_check_ms = ob_time_mono_ms() + STREAM_SESSION_CHECK_MS;
	while (!s.broken && !atomic_load(&api->stopping)) {
		int64_t now = ob_time_mono_ms();
		int64_t wait_ms = STREAM_KEEPALIVE_MS;
		bool gap;
		size_t n;

		if (stats_s > 0 && now >= next_stats_ms) {
			send_stats(&s);
			next_stats_ms = now + stats_s * 1000;
		}
		if (now >= next_check_ms) {
			if (!still_allowed(&s)) {
				stream_send(&s, 0, "end",
					    json_pack("{s:s}", "reason",
						      "the session has ended; log in again"));
				break;
			}
			next_check_ms = now + STREAM_SESSION_CHECK_MS;
		}
		if (now - s.last_write_ms >= STREAM_KEEPALIVE_MS)
			stream_write(&s, ": keepalive\n\n", strlen(": keepalive\n\n"));
		if (stats_s > 0 && next_stats_ms - now < wait_ms)
			wait_ms = next_stats_ms - now;
		if (next_check_ms - now < wait_ms)
			wait_ms = next_check_ms - now;
		n = ob_events_wait(s.cursor, &s.filter, (int)(wait_ms > 0 ? wait_ms : 0), batch,
				   STREAM_BATCH, &s.cursor, &gap);
		if (gap) {
			static const char missed[] =
				": some events were missed; GET /api/v1/events has them\n\n";

			stream_write(&s, missed, sizeof(missed) - 1);
		}
		for (size_t i = 0; i < n; i++)
			send_event(&s, &batch[i]);
	}
	atomic_fetch_sub(&api->event_streams, 1);
}
