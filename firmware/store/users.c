#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"

#define MODULE "store"

static const char user_columns[] =
	"id, name, role, password_hash, must_change_password, disabled, created_ms, "
	"password_changed_ms, last_login_ms";

int ob_store_user_name_check(const char *name, char *err, size_t err_len)
{
	size_t len = strlen(name);

	if (len < 1 || len > OB_USER_NAME_MAX)
		goto fail;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			goto fail;
	}
	return 0;
fail:
	snprintf(err, err_len,
		 "name: must be 1 to %d characters of a-z, 0-9, '.', '_' or '-', starting with a "
		 "letter or digit",
		 OB_USER_NAME_MAX);
	return OB_EINVAL;
}

static void copy_text(char *dst, size_t dst_len, sqlite3_stmt *stmt, int col)
{
	const char *text = (const char *)sqlite3_column_text(stmt, col);

	ob_strlcpy(dst, text ? text : "", dst_len);
}

static void read_user_row(sqlite3_stmt *stmt, struct ob_user *u)
{
	memset(u, 0, sizeof(*u));
	u->id = sqlite3_column_int64(stmt, 0);
	copy_text(u->name, sizeof(u->name), stmt, 1);
	copy_text(u->role, sizeof(u->role), stmt, 2);
	copy_text(u->password_hash, sizeof(u->password_hash), stmt, 3);
	u->must_change_password = sqlite3_column_int(stmt, 4) != 0;
	u->disabled = sqlite3_column_int(stmt, 5) != 0;
	u->created_ms = sqlite3_column_int64(stmt, 6);
	u->password_changed_ms = sqlite3_column_int64(stmt, 7);
	u->last_login_ms = sqlite3_column_int64(stmt, 8);
}

static void bind_nullable(sqlite3_stmt *stmt, int col, const char *text)
{
	if (text)
		sqlite3_bind_text(stmt, col, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, col);
}

int ob_store_audit_insert(struct ob_store *store, const struct ob_audit *audit,
			  const char *result)
{
	sqlite3_stmt *stmt;
	char *detail = NULL;
	int ret = OB_EIO;

	if (ob_store_prepare(store,
			     "INSERT INTO audit(at_ms, actor, remote_addr, action, target, result, "
			     "detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
			     &stmt) != 0)
		return OB_EIO;
	if (audit->detail)
		detail = json_dumps(audit->detail, JSON_COMPACT | JSON_SORT_KEYS);
	sqlite3_bind_int64(stmt, 1, ob_time_wall_ms());
	sqlite3_bind_text(stmt, 2, audit->actor ? audit->actor : "system", -1, SQLITE_TRANSIENT);
	bind_nullable(stmt, 3, audit->remote_addr);
	sqlite3_bind_text(stmt, 4, audit->action, -1, SQLITE_TRANSIENT);
	bind_nullable(stmt, 5, audit->target);
	sqlite3_bind_text(stmt, 6, result, -1, SQLITE_TRANSIENT);
	bind_nullable(stmt, 7, detail);
	if (sqlite3_step(stmt) == SQLITE_DONE)
		ret = 0;
	else
		ob_error(MODULE, "%s: audit record for %s not written: %s", store->path,
			 audit->action, sqlite3_errmsg(store->db));
	sqlite3_finalize(stmt);
	free(detail);
	return ret;
}

int ob_store_audit_add(struct ob_store *store, const struct ob_audit *audit, const char *result)
{
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_audit_insert(store, audit, result);
	pthread_mutex_unlock(&store->lock);
	ob_store_audit_prune(store);
	return ret;
}

void ob_store_audit_prune(struct ob_store *store)
{
	sqlite3_stmt *stmt;
	int64_t now = ob_time_mono_ms();
	long long days = ob_store_setting_int(store, "audit_retention_days");

	pthread_mutex_lock(&store->lock);
	if (store->last_prune_ms && now - store->last_prune_ms < 3600 * 1000)
		goto out_unlock;
	store->last_prune_ms = now;
	if (ob_store_prepare(store, "DELETE FROM audit WHERE at_ms < ?", &stmt) != 0)
		goto out_unlock;
	sqlite3_bind_int64(stmt, 1, ob_time_wall_ms() - (int64_t)days * 86400 * 1000);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		ob_warn(MODULE, "%s: old audit records not pruned: %s", store->path,
			sqlite3_errmsg(store->db));
	else if (sqlite3_changes(store->db) > 0)
		ob_info(MODULE, "pruned %d audit records older than %lld days",
			sqlite3_changes(store->db), days);
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
}

json_t *ob_store_audit_list(struct ob_store *store, int64_t before_id, int limit)
{
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	pthread_mutex_lock(&store->lock);
	if (!out || ob_store_prepare(store,
				     "SELECT id, at_ms, actor, remote_addr, action, target, result, "
				     "detail FROM audit WHERE id < ? ORDER BY id DESC LIMIT ?",
				     &stmt) != 0)
		goto out_unlock;
	sqlite3_bind_int64(stmt, 1, before_id > 0 ? before_id : INT64_MAX);
	sqlite3_bind_int(stmt, 2, limit);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		char at[32];
		const char *detail = (const char *)sqlite3_column_text(stmt, 7);
		json_t *row;

		ob_time_iso8601(sqlite3_column_int64(stmt, 1), at, sizeof(at));
		row = json_pack("{s:I, s:s, s:s?, s:s?, s:s?, s:s?, s:s?}", "id",
				(json_int_t)sqlite3_column_int64(stmt, 0), "at", at, "actor",
				(const char *)sqlite3_column_text(stmt, 2), "remote_addr",
				(const char *)sqlite3_column_text(stmt, 3), "action",
				(const char *)sqlite3_column_text(stmt, 4), "target",
				(const char *)sqlite3_column_text(stmt, 5), "result",
				(const char *)sqlite3_column_text(stmt, 6));
		if (!row)
			continue;
		if (detail)
			json_object_set_new(row, "detail", json_loads(detail, 0, NULL));
		json_array_append_new(out, row);
	}
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return out;
}

static int count_admins_locked(struct ob_store *store, int *count)
{
	sqlite3_stmt *stmt;
	int ret = OB_EIO;

	if (ob_store_prepare(store,
			     "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0",
			     &stmt) != 0)
		return OB_EIO;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*count = sqlite3_column_int(stmt, 0);
		ret = 0;
	}
	sqlite3_finalize(stmt);
	return ret;
}

int ob_store_user_count_admins(struct ob_store *store, int *count)
{
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = count_admins_locked(store, count);
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_user_create(struct ob_store *store, const struct ob_user *user,
			 const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int64_t now = ob_time_wall_ms();
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "INSERT INTO users(name, role, password_hash, must_change_password, "
			       "disabled, created_ms, password_changed_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_text(stmt, 1, user->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, user->role, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 3, user->password_hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(stmt, 4, user->must_change_password);
	sqlite3_bind_int(stmt, 5, user->disabled);
	sqlite3_bind_int64(stmt, 6, now);
	sqlite3_bind_int64(stmt, 7, now);
	ret = ob_store_run_change(store, stmt, audit);
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_user_get(struct ob_store *store, const char *name, struct ob_user *out)
{
	sqlite3_stmt *stmt;
	char sql[256];
	int ret;

	snprintf(sql, sizeof(sql), "SELECT %s FROM users WHERE name = ?", user_columns);
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, sql, &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		read_user_row(stmt, out);
		break;
	case SQLITE_DONE:
		ret = OB_ENOTFOUND;
		break;
	default:
		ret = OB_EIO;
	}
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

/* Runs a change to users and its audit record in one transaction, undone with OB_ECONFLICT
 * when no enabled admin would remain; lock held. */
static int run_user_change(struct ob_store *store, sqlite3_stmt *stmt,
			   const struct ob_audit *audit)
{
	int admins = 0;
	int ret;

	if (ob_store_exec(store, "BEGIN IMMEDIATE") != 0)
		return OB_EIO;
	ret = ob_store_run_change(store, stmt, audit);
	if (ret == 0)
		ret = count_admins_locked(store, &admins);
	if (ret == 0 && admins == 0)
		ret = OB_ECONFLICT;
	if (ret == 0)
		ret = ob_store_exec(store, "COMMIT");
	if (ret != 0)
		ob_store_exec(store, "ROLLBACK");
	return ret;
}

int ob_store_user_update(struct ob_store *store, const struct ob_user *user,
			 const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "UPDATE users SET role = ?1, password_hash = ?2, "
			       "must_change_password = ?3, disabled = ?4, password_changed_ms = "
			       "CASE WHEN password_hash = ?2 THEN password_changed_ms ELSE ?5 END "
			       "WHERE id = ?6",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, user->role, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 2, user->password_hash, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(stmt, 3, user->must_change_password);
		sqlite3_bind_int(stmt, 4, user->disabled);
		sqlite3_bind_int64(stmt, 5, ob_time_wall_ms());
		sqlite3_bind_int64(stmt, 6, user->id);
		ret = run_user_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_user_touch_login(struct ob_store *store, int64_t user_id, int64_t wall_ms)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, "UPDATE users SET last_login_ms = ? WHERE id = ?", &stmt);
	if (ret == 0) {
		sqlite3_bind_int64(stmt, 1, wall_ms);
		sqlite3_bind_int64(stmt, 2, user_id);
		ret = sqlite3_step(stmt) == SQLITE_DONE ? 0 : OB_EIO;
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_user_delete(struct ob_store *store, const char *name, const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, "DELETE FROM users WHERE name = ?", &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
		ret = run_user_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

json_t *ob_store_time_or_null(int64_t ms)
{
	char text[32];

	if (ms <= 0)
		return json_null();
	ob_time_iso8601(ms, text, sizeof(text));
	return json_string(text);
}

json_t *ob_store_user_to_json(const struct ob_user *user)
{
	return json_pack("{s:s, s:s, s:b, s:b, s:o, s:o, s:o}", "name", user->name, "role",
			 user->role, "must_change_password", user->must_change_password, "disabled",
			 user->disabled, "created_at", ob_store_time_or_null(user->created_ms),
			 "password_changed_at", ob_store_time_or_null(user->password_changed_ms),
			 "last_login_at", ob_store_time_or_null(user->last_login_ms));
}

json_t *ob_store_user_list(struct ob_store *store)
{
	sqlite3_stmt *stmt;
	char sql[256];
	json_t *out = json_array();

	snprintf(sql, sizeof(sql), "SELECT %s FROM users ORDER BY name", user_columns);
	pthread_mutex_lock(&store->lock);
	if (out && ob_store_prepare(store, sql, &stmt) == 0) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			struct ob_user user;

			read_user_row(stmt, &user);
			json_array_append_new(out, ob_store_user_to_json(&user));
			ob_secure_zero(user.password_hash, sizeof(user.password_hash));
		}
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}

int ob_store_apikey_create(struct ob_store *store, const struct ob_apikey *key,
			   const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "INSERT INTO apikeys(id, name, role, secret_sha256, created_by, "
			       "created_ms) VALUES (?, ?, ?, ?, ?, ?)",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_text(stmt, 1, key->id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 2, key->name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 3, key->role, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(stmt, 4, key->secret_sha256, sizeof(key->secret_sha256),
			  SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 5, key->created_by, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 6, key->created_ms ? key->created_ms : ob_time_wall_ms());
	ret = ob_store_run_change(store, stmt, audit);
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_apikey_get(struct ob_store *store, const char *id, struct ob_apikey *out)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "SELECT id, name, role, secret_sha256, created_by, created_ms "
			       "FROM apikeys WHERE id = ?",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		memset(out, 0, sizeof(*out));
		copy_text(out->id, sizeof(out->id), stmt, 0);
		copy_text(out->name, sizeof(out->name), stmt, 1);
		copy_text(out->role, sizeof(out->role), stmt, 2);
		if (sqlite3_column_bytes(stmt, 3) == (int)sizeof(out->secret_sha256))
			memcpy(out->secret_sha256, sqlite3_column_blob(stmt, 3),
			       sizeof(out->secret_sha256));
		else
			ret = OB_ECORRUPT;
		copy_text(out->created_by, sizeof(out->created_by), stmt, 4);
		out->created_ms = sqlite3_column_int64(stmt, 5);
		break;
	case SQLITE_DONE:
		ret = OB_ENOTFOUND;
		break;
	default:
		ret = OB_EIO;
	}
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_apikey_delete(struct ob_store *store, const char *id, const struct ob_audit *audit)
{
	return ob_store_change_by_key(store, "DELETE FROM apikeys WHERE id = ?", id, audit);
}

json_t *ob_store_apikey_list(struct ob_store *store)
{
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	pthread_mutex_lock(&store->lock);
	if (out && ob_store_prepare(store,
				    "SELECT id, name, role, created_by, created_ms FROM apikeys "
				    "ORDER BY created_ms, id",
				    &stmt) == 0) {
		while (sqlite3_step(stmt) == SQLITE_ROW)
			json_array_append_new(
				out, json_pack("{s:s?, s:s?, s:s?, s:s?, s:o}", "id",
					       (const char *)sqlite3_column_text(stmt, 0), "name",
					       (const char *)sqlite3_column_text(stmt, 1), "role",
					       (const char *)sqlite3_column_text(stmt, 2), "created_by",
					       (const char *)sqlite3_column_text(stmt, 3), "created_at",
					       ob_store_time_or_null(sqlite3_column_int64(stmt, 4))));
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}
