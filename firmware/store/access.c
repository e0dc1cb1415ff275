/* Playback access in the store: the token keys (secrets included, never listed), the one
 * policy document and the revocations. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"

#define MODULE "store"

/* Counts the rows of a query with no parameters; lock held. */
static int count_rows(struct ob_store *store, const char *sql, int *count)
{
	sqlite3_stmt *stmt;
	int ret = ob_store_prepare(store, sql, &stmt);

	if (ret != 0)
		return ret;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*count = sqlite3_column_int(stmt, 0);
	else
		ret = OB_EIO;
	sqlite3_finalize(stmt);
	return ret;
}

/* Runs one statement with a text parameter inside the caller's transaction; lock held.
 * Sets *changed to the number of rows it changed. */
static int run_keyed(struct ob_store *store, const char *sql, const char *key, int *changed)
{
	sqlite3_stmt *stmt;
	int ret = ob_store_prepare(store, sql, &stmt);

	if (ret != 0)
		return ret;
	if (key)
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		ob_error(MODULE, "%s: %s", store->path, sqlite3_errmsg(store->db));
		ret = OB_EIO;
	}
	if (changed)
		*changed = sqlite3_changes(store->db);
	sqlite3_finalize(stmt);
	return ret;
}

int ob_store_access_key_add(struct ob_store *store, const struct ob_access_key_row *key,
			    const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int count = 0;
	bool signing = key->signing;
	int ret;

	pthread_mutex_lock(&store->lock);
	if (ob_store_exec(store, "SAVEPOINT key_add") != 0) {
		ret = OB_EIO;
		goto out_unlock;
	}
	ret = count_rows(store, "SELECT count(*) FROM access_keys", &count);
	if (ret == 0 && count >= OB_ACCESS_KEYS_MAX)
		ret = OB_ETOOBIG;
	if (ret != 0)
		goto fail_rollback;
	if (count == 0)
		signing = true;
	if (signing && (ret = run_keyed(store, "UPDATE access_keys SET signing = 0", NULL,
					NULL)) != 0)
		goto fail_rollback;
	ret = ob_store_prepare(store,
			       "INSERT INTO access_keys(id, secret, fingerprint, signing, source, "
			       "created_by, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
			       &stmt);
	if (ret != 0)
		goto fail_rollback;
	sqlite3_bind_text(stmt, 1, key->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(stmt, 2, key->secret, (int)key->secret_len, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 3, key->fingerprint, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(stmt, 4, signing);
	sqlite3_bind_text(stmt, 5, key->source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 6, key->created_by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 7, key->created_ms ? key->created_ms : ob_time_wall_ms());
	ret = ob_store_run_change(store, stmt, audit);
	sqlite3_finalize(stmt);
	if (ret != 0)
		goto fail_rollback;
	if (ob_store_exec(store, "RELEASE key_add") != 0) {
		ret = OB_EIO;
		goto fail_rollback;
	}
	goto out_unlock;

fail_rollback:
	ob_store_exec(store, "ROLLBACK TO key_add; RELEASE key_add");
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_access_key_set_signing(struct ob_store *store, const char *id,
				    const struct ob_audit *audit)
{
	return ob_store_change_by_key(store,
				      "UPDATE access_keys SET signing = (id = ?1) WHERE EXISTS "
				      "(SELECT 1 FROM access_keys WHERE id = ?1)",
				      id, audit);
}

int ob_store_access_key_delete(struct ob_store *store, const char *id,
			       const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "DELETE FROM access_keys WHERE id = ?1 AND (signing = 0 OR "
			       "(SELECT count(*) FROM access_keys) = 1)",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	if (ret == OB_ENOTFOUND) {
		/* Nothing deleted: no such key, or the signing key with others left. */
		ret = ob_store_prepare(store, "SELECT count(*) FROM access_keys WHERE id = ?",
				       &stmt);
		if (ret == 0) {
			int exists = 0;

			sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
			if (sqlite3_step(stmt) == SQLITE_ROW)
				exists = sqlite3_column_int(stmt, 0);
			sqlite3_finalize(stmt);
			ret = exists ? OB_ECONFLICT : OB_ENOTFOUND;
		}
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_access_keys_load(struct ob_store *store, struct ob_access_key_row *keys,
			      size_t max, size_t *count)
{
	sqlite3_stmt *stmt;
	int ret;

	*count = 0;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "SELECT id, secret, fingerprint, signing, source, created_by, "
			       "created_ms FROM access_keys ORDER BY created_ms, id",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	while (sqlite3_step(stmt) == SQLITE_ROW && *count < max) {
		struct ob_access_key_row *k = &keys[*count];
		int secret_len = sqlite3_column_bytes(stmt, 1);

		memset(k, 0, sizeof(*k));
		ob_strlcpy(k->id, (const char *)sqlite3_column_text(stmt, 0), sizeof(k->id));
		if (secret_len <= 0 || secret_len > OB_ACCESS_KEY_SECRET_MAX) {
			ob_warn(MODULE, "%s: token key \"%s\" has a secret of %d bytes; skipped",
				store->path, k->id, secret_len);
			continue;
		}
		memcpy(k->secret, sqlite3_column_blob(stmt, 1), (size_t)secret_len);
		k->secret_len = (size_t)secret_len;
		ob_strlcpy(k->fingerprint, (const char *)sqlite3_column_text(stmt, 2),
			   sizeof(k->fingerprint));
		k->signing = sqlite3_column_int(stmt, 3) != 0;
		ob_strlcpy(k->source, (const char *)sqlite3_column_text(stmt, 4), sizeof(k->source));
		ob_strlcpy(k->created_by, (const char *)sqlite3_column_text(stmt, 5),
			   sizeof(k->created_by));
		k->created_ms = sqlite3_column_int64(stmt, 6);
		(*count)++;
	}
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

json_t *ob_store_access_key_list(struct ob_store *store)
{
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	pthread_mutex_lock(&store->lock);
	if (out && ob_store_prepare(store,
				    "SELECT id, fingerprint, signing, source, created_by, created_ms "
				    "FROM access_keys ORDER BY created_ms, id",
				    &stmt) == 0) {
		while (sqlite3_step(stmt) == SQLITE_ROW)
			json_array_append_new(
				out, json_pack("{s:s?, s:s?, s:b, s:s?, s:s?, s:o}", "id",
					       (const char *)sqlite3_column_text(stmt, 0),
					       "fingerprint",
					       (const char *)sqlite3_column_text(stmt, 1), "signing",
					       sqlite3_column_int(stmt, 2) != 0, "source",
					       (const char *)sqlite3_column_text(stmt, 3), "created_by",
					       (const char *)sqlite3_column_text(stmt, 4), "created_at",
					       ob_store_time_or_null(sqlite3_column_int64(stmt, 5))));
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}

int ob_store_access_policy_get(struct ob_store *store, json_t **out)
{
	sqlite3_stmt *stmt;
	int ret;

	*out = NULL;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, "SELECT document FROM access_policy WHERE id = 1", &stmt);
	if (ret == 0) {
		int rc = sqlite3_step(stmt);

		if (rc == SQLITE_ROW) {
			json_error_t jerr;

			*out = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, &jerr);
			if (!*out || !json_is_object(*out)) {
				ob_error(MODULE, "%s: the access policy document does not parse: %s",
					 store->path, jerr.text);
				json_decref(*out);
				*out = NULL;
				ret = OB_ECORRUPT;
			}
		} else if (rc != SQLITE_DONE) {
			ret = OB_EIO;
		}
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_access_policy_put(struct ob_store *store, const json_t *doc,
			       const struct ob_audit *audit)
{
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
	sqlite3_stmt *stmt;
	int ret;

	if (!text)
		return OB_ENOMEM;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "INSERT INTO access_policy(id, document, updated_ms) VALUES (1, ?, ?) "
			       "ON CONFLICT(id) DO UPDATE SET document = excluded.document, "
			       "updated_ms = excluded.updated_ms",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 2, ob_time_wall_ms());
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	free(text);
	return ret;
}

int ob_store_access_revocation_add(struct ob_store *store, const char *kind, const char *value,
				   const char *reason, int64_t expires_ms,
				   const struct ob_audit *audit, int64_t *id)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	/* An expired revocation of the same value would otherwise stand in the way. */
	ret = ob_store_prepare(store,
			       "DELETE FROM access_revocations WHERE expires_ms IS NOT NULL AND "
			       "expires_ms <= ?",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_int64(stmt, 1, ob_time_wall_ms());
		sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		ret = ob_store_prepare(store,
				       "INSERT INTO access_revocations(kind, value, reason, "
				       "created_by, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?, ?)",
				       &stmt);
	}
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, value, -1, SQLITE_TRANSIENT);
	if (reason && *reason)
		sqlite3_bind_text(stmt, 3, reason, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, 3);
	sqlite3_bind_text(stmt, 4, audit->actor, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 5, ob_time_wall_ms());
	if (expires_ms > 0)
		sqlite3_bind_int64(stmt, 6, expires_ms);
	else
		sqlite3_bind_null(stmt, 6);
	ret = ob_store_run_change(store, stmt, audit);
	sqlite3_finalize(stmt);
	/* Not last_insert_rowid: the audit record was inserted after the revocation. */
	if (ret == 0 && id &&
	    (ret = ob_store_prepare(store,
				    "SELECT id FROM access_revocations WHERE kind = ? AND value = ?",
				    &stmt)) == 0) {
		sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 2, value, -1, SQLITE_TRANSIENT);
		*id = sqlite3_step(stmt) == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
		sqlite3_finalize(stmt);
	}
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_access_revocation_delete(struct ob_store *store, int64_t id,
				      const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, "DELETE FROM access_revocations WHERE id = ?", &stmt);
	if (ret == 0) {
		sqlite3_bind_int64(stmt, 1, id);
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

json_t *ob_store_access_revocation_list(struct ob_store *store, int64_t now_ms)
{
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	pthread_mutex_lock(&store->lock);
	if (ob_store_prepare(store,
			     "DELETE FROM access_revocations WHERE expires_ms IS NOT NULL AND "
			     "expires_ms <= ?",
			     &stmt) == 0) {
		sqlite3_bind_int64(stmt, 1, now_ms);
		sqlite3_step(stmt);
		sqlite3_finalize(stmt);
	}
	if (out && ob_store_prepare(store,
				    "SELECT id, kind, value, reason, created_by, created_ms, "
				    "expires_ms FROM access_revocations ORDER BY id",
				    &stmt) == 0) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			const char *kind = (const char *)sqlite3_column_text(stmt, 1);

			json_array_append_new(
				out,
				json_pack("{s:I, s:s?, s:s?, s:s?, s:o, s:o}", "id",
					  (json_int_t)sqlite3_column_int64(stmt, 0),
					  kind && strcmp(kind, "viewer") == 0 ? "viewer_id" : "token_id",
					  (const char *)sqlite3_column_text(stmt, 2), "reason",
					  (const char *)sqlite3_column_text(stmt, 3), "created_by",
					  (const char *)sqlite3_column_text(stmt, 4), "created_at",
					  ob_store_time_or_null(sqlite3_column_int64(stmt, 5)), "expires_at",
					  ob_store_time_or_null(sqlite3_column_int64(stmt, 6))));
		}
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}
