/* Webhooks in the store: the registered receivers (secrets included, never listed) and
 * their delivery outbox, which the webhook sender (cloud/webhooks.c) fills from the event
 * log and drains; each delivery keeps its newest attempts for the history. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"

#define MODULE "store"

static const char *const status_names[] = {
	[OB_WEBHOOK_PENDING] = "pending",
	[OB_WEBHOOK_DELIVERED] = "delivered",
	[OB_WEBHOOK_FAILED] = "failed",
};

static void copy_text(sqlite3_stmt *stmt, int column, char *out, size_t len)
{
	const char *text = (const char *)sqlite3_column_text(stmt, column);

	ob_strlcpy(out, text ? text : "", len);
}

static void bind_text_or_null(sqlite3_stmt *stmt, int index, const char *text)
{
	if (text && *text)
		sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, index);
}

/* Runs a statement that returns one integer; lock held. */
static int query_int64(struct ob_store *store, sqlite3_stmt *stmt, int64_t *out)
{
	int rc = sqlite3_step(stmt);

	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		return 0;
	}
	ob_error(MODULE, "%s: %s", store->path, sqlite3_errmsg(store->db));
	return OB_EIO;
}

/* Runs a statement with no result rows inside the caller's transaction; lock held. */
static int step_done(struct ob_store *store, sqlite3_stmt *stmt)
{
	if (sqlite3_step(stmt) == SQLITE_DONE)
		return 0;
	ob_error(MODULE, "%s: %s", store->path, sqlite3_errmsg(store->db));
	return OB_EIO;
}

/* ---- webhooks ---- */

static void bind_hook(sqlite3_stmt *stmt, const struct ob_webhook *hook)
{
	sqlite3_bind_text(stmt, 1, hook->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, hook->url, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(stmt, 3, hook->secret, (int)hook->secret_len, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 4, hook->events, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(stmt, 5, hook->enabled);
	bind_text_or_null(stmt, 6, hook->description);
}

int ob_store_webhook_create(struct ob_store *store, const struct ob_webhook *hook,
			    const struct ob_audit *audit)
{
	int64_t now = hook->created_ms ? hook->created_ms : ob_time_wall_ms();
	int64_t count = 0;
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, "SELECT count(*) FROM webhooks", &stmt);
	if (ret != 0)
		goto out_unlock;
	ret = query_int64(store, stmt, &count);
	sqlite3_finalize(stmt);
	if (ret == 0 && count >= OB_WEBHOOKS_MAX)
		ret = OB_ETOOBIG;
	if (ret != 0)
		goto out_unlock;
	ret = ob_store_prepare(store,
			       "INSERT INTO webhooks(id, url, secret, events, enabled, description, "
			       "cursor_seq, dropped, created_by, created_ms, updated_ms) "
			       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	bind_hook(stmt, hook);
	sqlite3_bind_int64(stmt, 7, hook->cursor_seq);
	sqlite3_bind_int64(stmt, 8, hook->dropped);
	sqlite3_bind_text(stmt, 9, hook->created_by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 10, now);
	ret = ob_store_run_change(store, stmt, audit);
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

static const char hook_columns[] =
	"id, url, secret, events, enabled, description, cursor_seq, dropped, created_by, "
	"created_ms, updated_ms";

static void read_hook(sqlite3_stmt *stmt, struct ob_webhook *out)
{
	int secret_len = sqlite3_column_bytes(stmt, 2);

	memset(out, 0, sizeof(*out));
	copy_text(stmt, 0, out->id, sizeof(out->id));
	copy_text(stmt, 1, out->url, sizeof(out->url));
	if (secret_len > 0 && secret_len <= OB_WEBHOOK_SECRET_MAX) {
		memcpy(out->secret, sqlite3_column_blob(stmt, 2), (size_t)secret_len);
		out->secret_len = (size_t)secret_len;
	}
	copy_text(stmt, 3, out->events, sizeof(out->events));
	out->enabled = sqlite3_column_int(stmt, 4) != 0;
	copy_text(stmt, 5, out->description, sizeof(out->description));
	out->cursor_seq = sqlite3_column_int64(stmt, 6);
	out->dropped = sqlite3_column_int64(stmt, 7);
	copy_text(stmt, 8, out->created_by, sizeof(out->created_by));
	out->created_ms = sqlite3_column_int64(stmt, 9);
	out->updated_ms = sqlite3_column_int64(stmt, 10);
}

int ob_store_webhook_get(struct ob_store *store, const char *id, struct ob_webhook *out)
{
	char sql[256];
	sqlite3_stmt *stmt;
	int ret;

	snprintf(sql, sizeof(sql), "SELECT %s FROM webhooks WHERE id = ?", hook_columns);
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, sql, &stmt);
	if (ret == 0) {
		int rc;

		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			read_hook(stmt, out);
		else
			ret = rc == SQLITE_DONE ? OB_ENOTFOUND : OB_EIO;
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_webhook_update(struct ob_store *store, const struct ob_webhook *hook,
			    const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "UPDATE webhooks SET url = ?2, secret = ?3, events = ?4, enabled = ?5, "
			       "description = ?6, updated_ms = ?7 WHERE id = ?1",
			       &stmt);
	if (ret == 0) {
		bind_hook(stmt, hook);
		sqlite3_bind_int64(stmt, 7, ob_time_wall_ms());
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_webhook_delete(struct ob_store *store, const char *id,
			    const struct ob_audit *audit)
{
	return ob_store_change_by_key(store, "DELETE FROM webhooks WHERE id = ?", id, audit);
}

int ob_store_webhooks_load(struct ob_store *store, struct ob_webhook *hooks, size_t max,
			   size_t *count)
{
	char sql[256];
	sqlite3_stmt *stmt;
	int ret;

	*count = 0;
	snprintf(sql, sizeof(sql), "SELECT %s FROM webhooks ORDER BY created_ms, id",
		 hook_columns);
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, sql, &stmt);
	if (ret == 0) {
		while (*count < max && sqlite3_step(stmt) == SQLITE_ROW)
			read_hook(stmt, &hooks[(*count)++]);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_webhook_cursors_clamp(struct ob_store *store, int64_t seq)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, "UPDATE webhooks SET cursor_seq = ?1 WHERE cursor_seq > ?1",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_int64(stmt, 1, seq);
		ret = step_done(store, stmt);
		if (ret == 0 && sqlite3_changes(store->db) > 0)
			ob_warn(MODULE, "%s: %d webhook cursors were past the event log's last "
					"event %lld (the box stopped without storing its last events); "
					"they start from there",
				store->path, sqlite3_changes(store->db), (long long)seq);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

/* The webhook's delivery counts and last attempt; lock held. New reference or NULL. */
static json_t *hook_stats(struct ob_store *store, const char *id, int64_t dropped)
{
	json_t *counts = json_pack("{s:i, s:i, s:i, s:I}", "pending", 0, "delivered", 0, "failed",
				   0, "dropped", (json_int_t)dropped);
	json_t *last = json_null();
	sqlite3_stmt *stmt;

	if (ob_store_prepare(store,
			     "SELECT status, count(*) FROM webhook_deliveries WHERE webhook_id = ? "
			     "GROUP BY status",
			     &stmt) == 0) {
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			const char *status = (const char *)sqlite3_column_text(stmt, 0);

			if (status && json_object_get(counts, status))
				json_object_set_new(counts, status,
						    json_integer(sqlite3_column_int64(stmt, 1)));
		}
		sqlite3_finalize(stmt);
	}
	if (ob_store_prepare(store,
			     "SELECT a.at_ms, a.http_status, a.error, a.delivery_id "
			     "FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id "
			     "WHERE d.webhook_id = ? ORDER BY a.id DESC LIMIT 1",
			     &stmt) == 0) {
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(stmt) == SQLITE_ROW) {
			json_decref(last);
			last = json_pack("{s:o, s:o, s:s?, s:I}", "at",
					 ob_store_time_or_null(sqlite3_column_int64(stmt, 0)),
					 "http_status",
					 sqlite3_column_type(stmt, 1) == SQLITE_NULL
						 ? json_null()
						 : json_integer(sqlite3_column_int(stmt, 1)),
					 "error", (const char *)sqlite3_column_text(stmt, 2),
					 "delivery", (json_int_t)sqlite3_column_int64(stmt, 3));
		}
		sqlite3_finalize(stmt);
	}
	return json_pack("{s:o, s:o}", "deliveries", counts, "last_attempt", last);
}

/* A webhook row as the API shows it; lock held. */
static json_t *hook_json(struct ob_store *store, const struct ob_webhook *hook)
{
	json_t *events = json_loads(hook->events, 0, NULL);
	json_t *out;
	json_t *stats;

	if (!json_is_array(events)) {
		json_decref(events);
		events = json_array();
	}
	out = json_pack("{s:s, s:s, s:o, s:b, s:s?, s:s, s:o, s:o}", "id", hook->id, "url",
			hook->url, "events", events, "enabled", hook->enabled, "description",
			hook->description[0] ? hook->description : NULL, "created_by",
			hook->created_by, "created_at", ob_store_time_or_null(hook->created_ms),
			"updated_at", ob_store_time_or_null(hook->updated_ms));
	stats = hook_stats(store, hook->id, hook->dropped);
	if (out && stats)
		json_object_update(out, stats);
	json_decref(stats);
	return out;
}

int ob_store_webhook_show(struct ob_store *store, const char *id, json_t **out)
{
	struct ob_webhook *hook = malloc(sizeof(*hook));
	int ret;

	*out = NULL;
	if (!hook)
		return OB_ENOMEM;
	ret = ob_store_webhook_get(store, id, hook);
	if (ret == 0) {
		pthread_mutex_lock(&store->lock);
		*out = hook_json(store, hook);
		pthread_mutex_unlock(&store->lock);
		if (!*out)
			ret = OB_ENOMEM;
	}
	ob_secure_zero(hook, sizeof(*hook));
	free(hook);
	return ret;
}

json_t *ob_store_webhook_list(struct ob_store *store)
{
	struct ob_webhook *hooks = calloc(OB_WEBHOOKS_MAX, sizeof(*hooks));
	json_t *out = json_array();
	size_t count = 0;

	if (hooks && out && ob_store_webhooks_load(store, hooks, OB_WEBHOOKS_MAX, &count) == 0) {
		pthread_mutex_lock(&store->lock);
		for (size_t i = 0; i < count; i++)
			json_array_append_new(out, hook_json(store, &hooks[i]));
		pthread_mutex_unlock(&store->lock);
	}
	if (hooks) {
		ob_secure_zero(hooks, OB_WEBHOOKS_MAX * sizeof(*hooks));
		free(hooks);
	}
	return out;
}

/* ---- the outbox ---- */

/* Inserts deliveries for a webhook within the pending bound, inside the caller's
 * transaction; lock held. *dropped gets the ones left out. */
static int insert_deliveries(struct ob_store *store, const char *webhook_id,
			     const struct ob_webhook_new_delivery *deliveries, size_t count,
			     int64_t now_ms, int64_t max_age_ms, size_t *dropped)
{
	sqlite3_stmt *stmt;
	int64_t pending = 0;
	size_t room;
	int ret;

	*dropped = 0;
	ret = ob_store_prepare(store,
			       "SELECT count(*) FROM webhook_deliveries WHERE webhook_id = ? AND "
			       "status = 'pending'",
			       &stmt);
	if (ret != 0)
		return ret;
	sqlite3_bind_text(stmt, 1, webhook_id, -1, SQLITE_TRANSIENT);
	ret = query_int64(store, stmt, &pending);
	sqlite3_finalize(stmt);
	if (ret != 0)
		return ret;
	room = pending >= OB_WEBHOOK_PENDING_MAX ? 0 : (size_t)(OB_WEBHOOK_PENDING_MAX - pending);
	ret = ob_store_prepare(store,
			       "INSERT INTO webhook_deliveries(webhook_id, event_seq, type, subject, "
			       "payload, idempotency_key, status, next_attempt_ms, expires_ms, "
			       "created_ms) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
			       &stmt);
	if (ret != 0)
		return ret;
	for (size_t i = 0; i < count && ret == 0; i++) {
		const struct ob_webhook_new_delivery *d = &deliveries[i];

		if (i >= room) {
			*dropped = count - i;
			break;
		}
		sqlite3_reset(stmt);
		sqlite3_bind_text(stmt, 1, webhook_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 2, d->event_seq);
		sqlite3_bind_text(stmt, 3, d->type, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 4, d->subject, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 5, d->payload, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 6, d->idempotency_key, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 7, now_ms);
		sqlite3_bind_int64(stmt, 8, now_ms + max_age_ms);
		sqlite3_bind_int64(stmt, 9, now_ms);
		ret = step_done(store, stmt);
	}
	sqlite3_finalize(stmt);
	return ret;
}

int ob_store_webhook_enqueue(struct ob_store *store, const char *webhook_id,
			     const struct ob_webhook_new_delivery *deliveries, size_t count,
			     int64_t cursor_seq, int64_t now_ms, int64_t max_age_ms,
			     size_t *dropped)
{
	sqlite3_stmt *stmt;
	size_t left_out = 0;
	int ret;

	pthread_mutex_lock(&store->lock);
	if (ob_store_exec(store, "SAVEPOINT webhook_enqueue") != 0) {
		ret = OB_EIO;
		goto out_unlock;
	}
	/* The webhook first: a deleted one takes no deliveries. */
	ret = ob_store_prepare(store,
			       "UPDATE webhooks SET cursor_seq = max(cursor_seq, ?2) WHERE id = ?1",
			       &stmt);
	if (ret != 0)
		goto fail_rollback;
	sqlite3_bind_text(stmt, 1, webhook_id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 2, cursor_seq);
	ret = step_done(store, stmt);
	sqlite3_finalize(stmt);
	if (ret == 0 && sqlite3_changes(store->db) == 0)
		ret = OB_ENOTFOUND;
	if (ret != 0)
		goto fail_rollback;
	ret = insert_deliveries(store, webhook_id, deliveries, count, now_ms, max_age_ms,
				&left_out);
	if (ret != 0)
		goto fail_rollback;
	if (left_out > 0) {
		ret = ob_store_prepare(store, "UPDATE webhooks SET dropped = dropped + ? WHERE id = ?",
				       &stmt);
		if (ret != 0)
			goto fail_rollback;
		sqlite3_bind_int64(stmt, 1, (int64_t)left_out);
		sqlite3_bind_text(stmt, 2, webhook_id, -1, SQLITE_TRANSIENT);
		ret = step_done(store, stmt);
		sqlite3_finalize(stmt);
		if (ret != 0)
			goto fail_rollback;
	}
	if (ob_store_exec(store, "RELEASE webhook_enqueue") != 0) {
		ret = OB_EIO;
		goto fail_rollback;
	}
	if (dropped)
		*dropped = left_out;
	goto out_unlock;

fail_rollback:
	ob_store_exec(store, "ROLLBACK TO webhook_enqueue; RELEASE webhook_enqueue");
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

/* The head of each subject's queue: the oldest pending delivery of every (webhook, subject)
 * of the enabled webhooks. */
#define QUEUE_HEADS                                                                          \
	"(SELECT min(id) AS id FROM webhook_deliveries WHERE status = 'pending' "             \
	"GROUP BY webhook_id, subject) h JOIN webhook_deliveries d ON d.id = h.id "          \
	"JOIN webhooks w ON w.id = d.webhook_id AND w.enabled = 1"

int ob_store_webhook_due(struct ob_store *store, int64_t now_ms, struct ob_webhook_due *out,
			 size_t max, size_t *count, int64_t *next_due_ms)
{
	sqlite3_stmt *stmt;
	int ret;

	*count = 0;
	*next_due_ms = INT64_MAX;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "SELECT d.id, d.webhook_id, d.type, d.idempotency_key, d.attempts, "
			       "d.backoff_base, d.expires_ms, d.payload FROM " QUEUE_HEADS
			       " WHERE d.next_attempt_ms <= ?1 ORDER BY d.next_attempt_ms, d.id "
			       "LIMIT ?2",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_int64(stmt, 1, now_ms);
	sqlite3_bind_int64(stmt, 2, (int64_t)max);
	while (*count < max && sqlite3_step(stmt) == SQLITE_ROW) {
		struct ob_webhook_due *d = &out[(*count)++];

		d->id = sqlite3_column_int64(stmt, 0);
		copy_text(stmt, 1, d->webhook_id, sizeof(d->webhook_id));
		copy_text(stmt, 2, d->type, sizeof(d->type));
		copy_text(stmt, 3, d->idempotency_key, sizeof(d->idempotency_key));
		d->attempts = sqlite3_column_int(stmt, 4);
		d->backoff_base = sqlite3_column_int(stmt, 5);
		d->expires_ms = sqlite3_column_int64(stmt, 6);
		copy_text(stmt, 7, d->payload, sizeof(d->payload));
	}
	sqlite3_finalize(stmt);
	ret = ob_store_prepare(store,
			       "SELECT min(d.next_attempt_ms) FROM " QUEUE_HEADS
			       " WHERE d.next_attempt_ms > ?",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_int64(stmt, 1, now_ms);
	if (sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		*next_due_ms = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_webhook_attempt_record(struct ob_store *store, int64_t delivery_id,
				    const struct ob_webhook_attempt *attempt,
				    enum ob_webhook_status status, int64_t next_attempt_ms)
{
	bool ok = attempt->http_status >= 200 && attempt->http_status <= 299;
	char error[OB_WEBHOOK_ERROR_MAX + 1];
	sqlite3_stmt *stmt;
	int ret;

	ob_strlcpy(error, attempt->error ? attempt->error : "", sizeof(error));
	if ((unsigned)status >= OB_ARRAY_SIZE(status_names))
		return OB_EINVAL;
	pthread_mutex_lock(&store->lock);
	if (ob_store_exec(store, "SAVEPOINT webhook_attempt") != 0) {
		ret = OB_EIO;
		goto out_unlock;
	}
	ret = ob_store_prepare(store,
			       "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?2, "
			       "next_attempt_ms = ?3, last_status = ?4, last_error = ?5, "
			       "finished_ms = CASE WHEN ?2 = 'pending' THEN NULL ELSE ?6 END "
			       "WHERE id = ?1",
			       &stmt);
	if (ret != 0)
		goto fail_rollback;
	sqlite3_bind_int64(stmt, 1, delivery_id);
	sqlite3_bind_text(stmt, 2, status_names[status], -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, next_attempt_ms);
	if (attempt->http_status > 0)
		sqlite3_bind_int(stmt, 4, attempt->http_status);
	else
		sqlite3_bind_null(stmt, 4);
	bind_text_or_null(stmt, 5, ok ? NULL : error);
	sqlite3_bind_int64(stmt, 6, attempt->at_ms + attempt->duration_ms);
	ret = step_done(store, stmt);
	sqlite3_finalize(stmt);
	if (ret == 0 && sqlite3_changes(store->db) == 0)
		ret = OB_ENOTFOUND;
	if (ret != 0)
		goto fail_rollback;
	ret = ob_store_prepare(store,
			       "INSERT INTO webhook_attempts(delivery_id, at_ms, duration_ms, "
			       "http_status, error) VALUES (?, ?, ?, ?, ?)",
			       &stmt);
	if (ret != 0)
		goto fail_rollback;
	sqlite3_bind_int64(stmt, 1, delivery_id);
	sqlite3_bind_int64(stmt, 2, attempt->at_ms);
	sqlite3_bind_int64(stmt, 3, attempt->duration_ms);
	if (attempt->http_status > 0)
		sqlite3_bind_int(stmt, 4, attempt->http_status);
	else
		sqlite3_bind_null(stmt, 4);
	bind_text_or_null(stmt, 5, ok ? NULL : error);
	ret = step_done(store, stmt);
	sqlite3_finalize(stmt);
	if (ret != 0)
		goto fail_rollback;
	ret = ob_store_prepare(store,
			       "DELETE FROM webhook_attempts WHERE delivery_id = ?1 AND id NOT IN "
			       "(SELECT id FROM webhook_attempts WHERE delivery_id = ?1 "
			       "ORDER BY id DESC LIMIT ?2)",
			       &stmt);
	if (ret != 0)
		goto fail_rollback;
	sqlite3_bind_int64(stmt, 1, delivery_id);
	sqlite3_bind_int(stmt, 2, OB_WEBHOOK_ATTEMPTS_KEEP);
	ret = step_done(store, stmt);
	sqlite3_finalize(stmt);
	if (ret != 0)
		goto fail_rollback;
	if (ob_store_exec(store, "RELEASE webhook_attempt") != 0) {
		ret = OB_EIO;
		goto fail_rollback;
	}
	goto out_unlock;

fail_rollback:
	ob_store_exec(store, "ROLLBACK TO webhook_attempt; RELEASE webhook_attempt");
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_webhook_delivery_retry(struct ob_store *store, const char *webhook_id,
				    int64_t delivery_id, int64_t now_ms, int64_t max_age_ms,
				    const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "UPDATE webhook_deliveries SET status = 'pending', "
			       "backoff_base = attempts, next_attempt_ms = ?3, expires_ms = ?3 + ?4, "
			       "finished_ms = NULL WHERE id = ?1 AND webhook_id = ?2 AND "
			       "status = 'failed'",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_int64(stmt, 1, delivery_id);
		sqlite3_bind_text(stmt, 2, webhook_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 3, now_ms);
		sqlite3_bind_int64(stmt, 4, max_age_ms);
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	if (ret == OB_ENOTFOUND &&
	    ob_store_prepare(store,
			     "SELECT count(*) FROM webhook_deliveries WHERE id = ? AND webhook_id = ?",
			     &stmt) == 0) {
		int64_t exists = 0;

		/* Nothing changed: no such delivery, or one that is not failed. */
		sqlite3_bind_int64(stmt, 1, delivery_id);
		sqlite3_bind_text(stmt, 2, webhook_id, -1, SQLITE_TRANSIENT);
		if (query_int64(store, stmt, &exists) == 0 && exists)
			ret = OB_ECONFLICT;
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

/* A delivery's newest attempts, oldest first; lock held. New array. */
static json_t *attempts_json(struct ob_store *store, int64_t delivery_id)
{
	json_t *out = json_array();
	sqlite3_stmt *stmt;

	if (out && ob_store_prepare(store,
				    "SELECT at_ms, duration_ms, http_status, error FROM "
				    "webhook_attempts WHERE delivery_id = ? ORDER BY id",
				    &stmt) == 0) {
		sqlite3_bind_int64(stmt, 1, delivery_id);
		while (sqlite3_step(stmt) == SQLITE_ROW)
			json_array_append_new(
				out,
				json_pack("{s:o, s:I, s:o, s:s?}", "at",
					  ob_store_time_or_null(sqlite3_column_int64(stmt, 0)),
					  "duration_ms", (json_int_t)sqlite3_column_int64(stmt, 1),
					  "http_status",
					  sqlite3_column_type(stmt, 2) == SQLITE_NULL
						  ? json_null()
						  : json_integer(sqlite3_column_int(stmt, 2)),
					  "error", (const char *)sqlite3_column_text(stmt, 3)));
		sqlite3_finalize(stmt);
	}
	return out;
}

static const char delivery_columns[] =
	"id, event_seq, type, subject, idempotency_key, status, attempts, next_attempt_ms, "
	"expires_ms, last_status, last_error, created_ms, finished_ms, payload";

/* The delivery row a statement stands on, as the API shows it; lock held. */
static json_t *delivery_json(struct ob_store *store, sqlite3_stmt *stmt)
{
	int64_t id = sqlite3_column_int64(stmt, 0);
	const char *status = (const char *)sqlite3_column_text(stmt, 5);
	bool pending = status && strcmp(status, "pending") == 0;
	json_t *payload = json_loads((const char *)sqlite3_column_text(stmt, 13), 0, NULL);

	if (!json_is_object(payload)) {
		json_decref(payload);
		payload = json_object();
	}
	return json_pack("{s:I, s:o, s:s?, s:s?, s:s?, s:s?, s:i, s:o, s:o, s:o, s:s?, s:o, "
			 "s:o, s:o, s:o}",
			 "id", (json_int_t)id, "event_seq",
			 sqlite3_column_type(stmt, 1) == SQLITE_NULL
				 ? json_null()
				 : json_integer(sqlite3_column_int64(stmt, 1)),
			 "type", (const char *)sqlite3_column_text(stmt, 2), "subject",
			 (const char *)sqlite3_column_text(stmt, 3), "idempotency_key",
			 (const char *)sqlite3_column_text(stmt, 4), "status", status, "attempts",
			 sqlite3_column_int(stmt, 6), "next_attempt_at",
			 pending ? ob_store_time_or_null(sqlite3_column_int64(stmt, 7)) : json_null(),
			 "expires_at",
			 pending ? ob_store_time_or_null(sqlite3_column_int64(stmt, 8)) : json_null(),
			 "last_http_status",
			 sqlite3_column_type(stmt, 9) == SQLITE_NULL
				 ? json_null()
				 : json_integer(sqlite3_column_int(stmt, 9)),
			 "last_error", (const char *)sqlite3_column_text(stmt, 10), "created_at",
			 ob_store_time_or_null(sqlite3_column_int64(stmt, 11)), "finished_at",
			 ob_store_time_or_null(sqlite3_column_int64(stmt, 12)), "payload", payload,
			 "attempt_log", attempts_json(store, id));
}

int ob_store_webhook_delivery_show(struct ob_store *store, const char *webhook_id,
				   int64_t delivery_id, json_t **out)
{
	char sql[384];
	sqlite3_stmt *stmt;
	int ret;

	*out = NULL;
	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM webhook_deliveries WHERE id = ? AND webhook_id = ?",
		 delivery_columns);
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, sql, &stmt);
	if (ret == 0) {
		int rc;

		sqlite3_bind_int64(stmt, 1, delivery_id);
		sqlite3_bind_text(stmt, 2, webhook_id, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW)
			*out = delivery_json(store, stmt);
		ret = rc == SQLITE_ROW ? (*out ? 0 : OB_ENOMEM)
		      : rc == SQLITE_DONE ? OB_ENOTFOUND
					  : OB_EIO;
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

json_t *ob_store_webhook_deliveries(struct ob_store *store, const char *webhook_id,
				    const char *status, int64_t before_id, int limit)
{
	char sql[512];
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	snprintf(sql, sizeof(sql),
		 "SELECT %s FROM webhook_deliveries WHERE webhook_id = ?1 AND id < ?2 AND "
		 "(?3 IS NULL OR status = ?3) ORDER BY id DESC LIMIT ?4",
		 delivery_columns);
	pthread_mutex_lock(&store->lock);
	if (out && ob_store_prepare(store, sql, &stmt) == 0) {
		sqlite3_bind_text(stmt, 1, webhook_id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 2, before_id > 0 ? before_id : INT64_MAX);
		bind_text_or_null(stmt, 3, status);
		sqlite3_bind_int(stmt, 4, limit);
		while (sqlite3_step(stmt) == SQLITE_ROW)
			json_array_append_new(out, delivery_json(store, stmt));
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}

int ob_store_webhook_prune(struct ob_store *store, int64_t now_ms, int keep, int64_t keep_ms,
			   int *deleted)
{
	sqlite3_stmt *stmt;
	int ret;

	if (deleted)
		*deleted = 0;
	pthread_mutex_lock(&store->lock);
	/* Rank the finished deliveries of each webhook, newest first; drop the old and the
	 * many. Attempts go with them (ON DELETE CASCADE). */
	ret = ob_store_prepare(store,
			       "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM "
			       "(SELECT id, finished_ms, row_number() OVER (PARTITION BY webhook_id "
			       "ORDER BY id DESC) AS rank FROM webhook_deliveries "
			       "WHERE status != 'pending') WHERE rank > ?1 OR finished_ms < ?2)",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_int(stmt, 1, keep);
		sqlite3_bind_int64(stmt, 2, now_ms - keep_ms);
		ret = step_done(store, stmt);
		if (ret == 0 && deleted)
			*deleted = sqlite3_changes(store->db);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_webhook_events_after(struct ob_store *store, int64_t after, int64_t until,
				  const char *kind_prefix, struct ob_event *out, size_t max,
				  size_t *count)
{
	sqlite3_stmt *stmt;
	int ret;

	*count = 0;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "SELECT seq, at_ms, level, kind, channel, message, data FROM events "
			       "WHERE seq > ?1 AND seq <= ?2 AND substr(kind, 1, length(?3)) = ?3 "
			       "ORDER BY seq LIMIT ?4",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_int64(stmt, 1, after);
	sqlite3_bind_int64(stmt, 2, until > 0 ? until : INT64_MAX);
	sqlite3_bind_text(stmt, 3, kind_prefix ? kind_prefix : "", -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 4, (int64_t)max);
	while (*count < max && sqlite3_step(stmt) == SQLITE_ROW) {
		struct ob_event *e = &out[(*count)++];
		int level = sqlite3_column_int(stmt, 2);

		memset(e, 0, sizeof(*e));
		e->seq = sqlite3_column_int64(stmt, 0);
		e->at_ms = sqlite3_column_int64(stmt, 1);
		e->level = level >= OB_EVENT_INFO && level <= OB_EVENT_ERROR ? (enum ob_event_level)level
									    : OB_EVENT_INFO;
		copy_text(stmt, 3, e->kind, sizeof(e->kind));
		copy_text(stmt, 4, e->channel, sizeof(e->channel));
		copy_text(stmt, 5, e->message, sizeof(e->message));
		copy_text(stmt, 6, e->data, sizeof(e->data));
	}
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}
