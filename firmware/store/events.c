#include <sqlite3.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"
#include "store/store.h"

#define MODULE "store"

int ob_store_events_append(struct ob_store *store, const struct ob_event *events, size_t count)
{
	sqlite3_stmt *stmt = NULL;
	int ret = OB_EIO;

	pthread_mutex_lock(&store->lock);
	if (ob_store_exec(store, "SAVEPOINT events") != 0)
		goto out_unlock;
	if (ob_store_prepare(store,
			     "INSERT OR IGNORE INTO events (seq, at_ms, level, kind, channel, "
			     "message, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
			     &stmt) != 0)
		goto out_rollback;
	for (size_t i = 0; i < count; i++) {
		const struct ob_event *e = &events[i];

		sqlite3_reset(stmt);
		sqlite3_bind_int64(stmt, 1, e->seq);
		sqlite3_bind_int64(stmt, 2, e->at_ms);
		sqlite3_bind_int(stmt, 3, (int)e->level);
		sqlite3_bind_text(stmt, 4, e->kind, -1, SQLITE_STATIC);
		if (e->channel[0])
			sqlite3_bind_text(stmt, 5, e->channel, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(stmt, 5);
		sqlite3_bind_text(stmt, 6, e->message, -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 7, e->data, -1, SQLITE_STATIC);
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			ob_warn(MODULE, "%s: event %lld not stored: %s", store->path,
				(long long)e->seq, sqlite3_errmsg(store->db));
			goto out_rollback;
		}
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	/* The log is bounded by count: older events go as new ones arrive. */
	if (ob_store_prepare(store, "DELETE FROM events WHERE seq <= ?", &stmt) != 0)
		goto out_rollback;
	sqlite3_bind_int64(stmt, 1, events[count - 1].seq - OB_STORE_EVENTS_KEEP);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		goto out_rollback;
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (ob_store_exec(store, "RELEASE events") != 0)
		goto out_rollback;
	ret = 0;
	goto out_unlock;
out_rollback:
	sqlite3_finalize(stmt);
	ob_store_exec(store, "ROLLBACK TO events");
	ob_store_exec(store, "RELEASE events");
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int64_t ob_store_events_last_seq(struct ob_store *store)
{
	sqlite3_stmt *stmt;
	int64_t seq = 0;

	pthread_mutex_lock(&store->lock);
	if (ob_store_prepare(store, "SELECT coalesce(max(seq), 0) FROM events", &stmt) == 0) {
		if (sqlite3_step(stmt) == SQLITE_ROW)
			seq = sqlite3_column_int64(stmt, 0);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return seq;
}

static void copy_text(sqlite3_stmt *stmt, int column, char *out, size_t len)
{
	const char *text = (const char *)sqlite3_column_text(stmt, column);

	ob_strlcpy(out, text ? text : "", len);
}

json_t *ob_store_events_list(struct ob_store *store, const struct ob_event_filter *filter,
			     int64_t before, int64_t after, int limit)
{
	static const char newest_first[] =
		"SELECT seq, at_ms, level, kind, channel, message, data FROM events "
		"WHERE seq < ?1 AND level >= ?2 AND (?3 = '' OR channel = ?3) "
		"AND substr(kind, 1, length(?4)) = ?4 ORDER BY seq DESC LIMIT ?5";
	static const char oldest_first[] =
		"SELECT seq, at_ms, level, kind, channel, message, data FROM events "
		"WHERE seq > ?1 AND level >= ?2 AND (?3 = '' OR channel = ?3) "
		"AND substr(kind, 1, length(?4)) = ?4 ORDER BY seq ASC LIMIT ?5";
	static const struct ob_event_filter everything;
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	if (!filter)
		filter = &everything;
	pthread_mutex_lock(&store->lock);
	if (!out || ob_store_prepare(store, after > 0 ? oldest_first : newest_first, &stmt) != 0)
		goto out_unlock;
	sqlite3_bind_int64(stmt, 1, after > 0 ? after : before > 0 ? before : INT64_MAX);
	sqlite3_bind_int(stmt, 2, (int)filter->min_level);
	sqlite3_bind_text(stmt, 3, filter->channel, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, filter->kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, limit);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		struct ob_event e = { 0 };
		int level = sqlite3_column_int(stmt, 2);

		e.seq = sqlite3_column_int64(stmt, 0);
		e.at_ms = sqlite3_column_int64(stmt, 1);
		e.level = level >= OB_EVENT_INFO && level <= OB_EVENT_ERROR ? (enum ob_event_level)level
									    : OB_EVENT_INFO;
		copy_text(stmt, 3, e.kind, sizeof(e.kind));
		copy_text(stmt, 4, e.channel, sizeof(e.channel));
		copy_text(stmt, 5, e.message, sizeof(e.message));
		copy_text(stmt, 6, e.data, sizeof(e.data));
		json_array_append_new(out, ob_event_json(&e));
	}
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return out;
}

int ob_store_events_sink(void *ctx, const struct ob_event *events, size_t count)
{
	return count ? ob_store_events_append(ctx, events, count) : 0;
}
