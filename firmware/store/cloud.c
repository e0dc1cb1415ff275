/* Control-plane sync in the store: the enrollment, the sync's bookkeeping, desired-state
 * bundles applied in one transaction with what they replaced (their undo), and the
 * commands bundles carried. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"

#define MODULE "store"
#define BUNDLES_KEPT 20 /* bundle rows kept besides the last applied one */
#define CLOUD_ACTOR "cloud"
/* SQL for a time in ms since the epoch as the API shows times ("2026-12-07T15:35:06.086Z"). */
#define ISO(column) "strftime('%Y-%m-%dT%H:%M:%fZ', " column " / 1000.0, 'unixepoch')"

/* ---- small statement helpers (lock held) ---- */

/* Binds ?1 to text (or NULL) and ?2 to now_ms, runs a statement that returns no rows. */
static int run_text(struct ob_store *store, const char *sql, const char *text, int64_t now_ms)
{
	sqlite3_stmt *stmt;
	int ret = ob_store_prepare(store, sql, &stmt);

	if (ret != 0)
		return ret;
	if (text)
		sqlite3_bind_text(stmt, 1, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, 1);
	if (sqlite3_bind_parameter_count(stmt) >= 2)
		sqlite3_bind_int64(stmt, 2, now_ms);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		ob_error(MODULE, "%s: %s", store->path, sqlite3_errmsg(store->db));
		ret = sqlite3_errcode(store->db) == SQLITE_CONSTRAINT ? OB_ECONFLICT : OB_EIO;
	}
	sqlite3_finalize(stmt);
	return ret;
}

/* Runs a query with ?1 bound to text that returns one JSON text (or NULL: json null) into a
 * new reference. */
static int query_json(struct ob_store *store, const char *sql, const char *text, json_t **out)
{
	sqlite3_stmt *stmt;
	int ret = ob_store_prepare(store, sql, &stmt);

	*out = NULL;
	if (ret != 0)
		return ret;
	if (text)
		sqlite3_bind_text(stmt, 1, text, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		const char *value = (const char *)sqlite3_column_text(stmt, 0);

		*out = value ? json_loads(value, JSON_DECODE_ANY, NULL) : json_null();
		if (!*out)
			ret = OB_ECORRUPT;
	} else {
		ret = OB_EIO;
	}
	sqlite3_finalize(stmt);
	return ret;
}

/* ---- the parts of the configuration a bundle replaces ---- */

/* One part of the change and undo documents. The change's part is what the bundle sets;
 * the undo's part is what stood before, and restoring it puts that back exactly. */
struct part {
	const char *name;
	json_type type;       /* what the change's part must be: an object or an array */
	json_type member;     /* what each of its members or rows must be; JSON_NULL: anything */
	/* ?1 = the change's part: one JSON text, the undo's part. */
	const char *snapshot;
	/* ?1 = the part (change or undo), ?2 = now. Run in order; NULL ends the list. */
	const char *apply[3];
	const char *restore[3];
	int (*apply_c)(struct ob_store *store, const json_t *part, int64_t now_ms);
	int (*restore_c)(struct ob_store *store, const json_t *part, int64_t now_ms);
	int (*snapshot_c)(struct ob_store *store, json_t **out);
};

/* Token keys hold blobs, which SQLite 3.40's JSON cannot: they are read and written here.
 * A row: {"id", "secret_hex", "fingerprint", "signing", "source", "created_by",
 * "created_ms"}. */
static int snapshot_keys(struct ob_store *store, json_t **out)
{
	sqlite3_stmt *stmt;
	json_t *rows = json_array();
	int ret = rows ? ob_store_prepare(store,
					  "SELECT id, secret, fingerprint, signing, source, "
					  "created_by, created_ms FROM access_keys",
					  &stmt)
		       : OB_ENOMEM;

	*out = NULL;
	if (ret != 0) {
		json_decref(rows);
		return ret;
	}
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		char hex[2 * OB_ACCESS_KEY_SECRET_MAX + 1];
		int len = sqlite3_column_bytes(stmt, 1);

		if (len <= 0 || len > OB_ACCESS_KEY_SECRET_MAX)
			continue;
		ob_hex_encode(sqlite3_column_blob(stmt, 1), (size_t)len, hex);
		json_array_append_new(
			rows, json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:I}", "id",
					(const char *)sqlite3_column_text(stmt, 0), "secret_hex", hex,
					"fingerprint", (const char *)sqlite3_column_text(stmt, 2),
					"signing", sqlite3_column_int(stmt, 3), "source",
					(const char *)sqlite3_column_text(stmt, 4), "created_by",
					(const char *)sqlite3_column_text(stmt, 5), "created_ms",
					(json_int_t)sqlite3_column_int64(stmt, 6)));
		ob_secure_zero(hex, sizeof(hex));
	}
	sqlite3_finalize(stmt);
	*out = rows;
	return 0;
}

static int insert_keys(struct ob_store *store, const json_t *rows, int64_t now_ms)
{
	sqlite3_stmt *stmt;
	const json_t *row;
	size_t i;
	int ret = ob_store_prepare(store,
				   "INSERT INTO access_keys(id, secret, fingerprint, signing, source, "
				   "created_by, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
				   &stmt);

	if (ret != 0)
		return ret;
	json_array_foreach(rows, i, row) {
		unsigned char secret[OB_ACCESS_KEY_SECRET_MAX];
		const char *hex = json_string_value(json_object_get(row, "secret_hex"));
		size_t len = hex ? strlen(hex) / 2 : 0;
		json_int_t created = json_integer_value(json_object_get(row, "created_ms"));

		if (!json_string_value(json_object_get(row, "id")) || len == 0 ||
		    len > sizeof(secret) || ob_hex_decode(hex, secret, len) != 0) {
			ret = OB_EINVAL;
			break;
		}
		sqlite3_bind_text(stmt, 1, json_string_value(json_object_get(row, "id")), -1,
				  SQLITE_TRANSIENT);
		sqlite3_bind_blob(stmt, 2, secret, (int)len, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 3, json_string_value(json_object_get(row, "fingerprint")),
				  -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(stmt, 4, json_is_true(json_object_get(row, "signing")));
		sqlite3_bind_text(stmt, 5, json_string_value(json_object_get(row, "source")), -1,
				  SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 6, json_string_value(json_object_get(row, "created_by")), -1,
				  SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 7, created > 0 ? created : now_ms);
		ob_secure_zero(secret, sizeof(secret));
		if (sqlite3_step(stmt) != SQLITE_DONE) {
			ob_error(MODULE, "%s: token key: %s", store->path, sqlite3_errmsg(store->db));
			ret = OB_EIO;
			break;
		}
		sqlite3_reset(stmt);
		sqlite3_clear_bindings(stmt);
	}
	sqlite3_finalize(stmt);
	return ret;
}

/* The bundle's keys replace the keys the control plane gave before (and any local key of
 * the same id); the box's own keys stay. One key signs: the bundle's signing key, else the
 * one that signed before, else the oldest. */
static int apply_keys(struct ob_store *store, const json_t *rows, int64_t now_ms)
{
	const json_t *row;
	size_t i;
	bool signing = false;
	int ret;

	ret = run_text(store, "DELETE FROM access_keys WHERE source = 'cloud'", NULL, now_ms);
	json_array_foreach(rows, i, row) {
		if (ret == 0)
			ret = run_text(store, "DELETE FROM access_keys WHERE id = ?1",
				       json_string_value(json_object_get(row, "id")), now_ms);
		signing |= json_is_true(json_object_get(row, "signing"));
	}
	if (ret == 0 && signing)
		ret = run_text(store, "UPDATE access_keys SET signing = 0", NULL, now_ms);
	if (ret == 0)
		ret = insert_keys(store, rows, now_ms);
	if (ret == 0)
		ret = run_text(store,
			       "UPDATE access_keys SET signing = 1 WHERE id = (SELECT id FROM "
			       "access_keys ORDER BY created_ms, id LIMIT 1) AND NOT EXISTS "
			       "(SELECT 1 FROM access_keys WHERE signing = 1)",
			       NULL, now_ms);
	if (ret == 0) {
		sqlite3_stmt *stmt;
		int count = 0;

		ret = ob_store_prepare(store, "SELECT count(*) FROM access_keys", &stmt);
		if (ret == 0) {
			if (sqlite3_step(stmt) == SQLITE_ROW)
				count = sqlite3_column_int(stmt, 0);
			sqlite3_finalize(stmt);
		}
		if (ret == 0 && count > OB_ACCESS_KEYS_MAX)
			ret = OB_ETOOBIG;
	}
	return ret;
}

static int restore_keys(struct ob_store *store, const json_t *rows, int64_t now_ms)
{
	int ret = run_text(store, "DELETE FROM access_keys", NULL, now_ms);

	return ret ? ret : insert_keys(store, rows, now_ms);
}

#define DOC_PART(table)                                                                     \
	.snapshot = "SELECT json_group_object(j.key, json(d.document)) FROM json_each(?1) j "  \
		    "LEFT JOIN " table " d ON d.id = j.key",                               \
	.apply = { "INSERT INTO " table "(id, document, created_ms, updated_ms) SELECT key, "  \
		   "value, ?2, ?2 FROM json_each(?1) WHERE true ON CONFLICT(id) DO UPDATE SET " \
		   "document = excluded.document, updated_ms = excluded.updated_ms" },           \
	.restore = { "DELETE FROM " table " WHERE id IN (SELECT key FROM json_each(?1))",     \
		     "INSERT INTO " table "(id, document, created_ms, updated_ms) SELECT key, " \
		     "value, ?2, ?2 FROM json_each(?1) WHERE type = 'object'" }

/* In apply order; a rollback restores in the reverse order (channels before the ladders
 * they name). */
static const struct part parts[] = {
	{
		/* the one policy document: a JSON object */
		.name = "policy",
		.type = JSON_OBJECT,
		.member = JSON_NULL,
		.snapshot = "SELECT json((SELECT document FROM access_policy WHERE id = 1))",
		.apply = { "INSERT INTO access_policy(id, document, updated_ms) VALUES (1, ?1, "
			   "?2) ON CONFLICT(id) DO UPDATE SET document = ?1, updated_ms = ?2" },
		.restore = { "DELETE FROM access_policy",
			     "INSERT INTO access_policy(id, document, updated_ms) SELECT 1, ?1, ?2 "
			     "WHERE json_type(?1) = 'object'" },
	},
	{
		/* the token keys: an array of rows */
		.name = "keys",
		.type = JSON_ARRAY,
		.member = JSON_OBJECT,
		.apply_c = apply_keys,
		.restore_c = restore_keys,
		.snapshot_c = snapshot_keys,
	},
	{
		/* revocations: the bundle's [{kind, value, reason, expires_ms}] replace those the
		 * control plane gave before; the box's own stay, even of a value the bundle revokes
		 * too (it lasts as long as the longer of the two), or the next bundle would drop it */
		.name = "revocations",
		.type = JSON_ARRAY,
		.member = JSON_OBJECT,
		.snapshot = "SELECT json_group_array(json_object('id', id, 'kind', kind, 'value', "
			    "value, 'reason', reason, 'created_by', created_by, 'created_ms', "
			    "created_ms, 'expires_ms', expires_ms)) FROM access_revocations",
		.apply = { "DELETE FROM access_revocations WHERE created_by = '" CLOUD_ACTOR "'",
			   "INSERT INTO access_revocations(kind, value, reason, created_by, "
			   "created_ms, expires_ms) SELECT json_extract(value, '$.kind'), "
			   "json_extract(value, '$.value'), json_extract(value, '$.reason'), '"
			   CLOUD_ACTOR "', ?2, json_extract(value, '$.expires_ms') FROM json_each(?1) "
			   "WHERE true ON CONFLICT(kind, value) DO UPDATE SET expires_ms = CASE WHEN "
			   "expires_ms IS NULL OR excluded.expires_ms IS NULL THEN NULL ELSE "
			   "max(expires_ms, excluded.expires_ms) END" },
		/* with their ids: the API names a revocation by its id */
		.restore = { "DELETE FROM access_revocations",
			     "INSERT INTO access_revocations(id, kind, value, reason, created_by, "
			     "created_ms, expires_ms) SELECT json_extract(value, '$.id'), "
			     "json_extract(value, '$.kind'), json_extract(value, '$.value'), "
			     "json_extract(value, '$.reason'), "
			     "json_extract(value, '$.created_by'), json_extract(value, "
			     "'$.created_ms'), json_extract(value, '$.expires_ms') FROM "
			     "json_each(?1)" },
	},
	{
		/* {id: ladder document} */
		.name = "ladders",
		.type = JSON_OBJECT,
		.member = JSON_OBJECT,
		DOC_PART("ladders"),
	},
	{
		/* {id: channel document} */
		.name = "channels",
		.type = JSON_OBJECT,
		.member = JSON_OBJECT,
		DOC_PART("channels"),
	},
	{
		/* {name: the value's JSON text}; the undo holds the stored text or null */
		.name = "settings",
		.type = JSON_OBJECT,
		.member = JSON_STRING,
		.snapshot = "SELECT json_group_object(j.key, s.value) FROM json_each(?1) j "
			    "LEFT JOIN settings s ON s.name = j.key",
		.apply = { "INSERT INTO settings(name, value, updated_ms) SELECT key, value, ?2 "
			   "FROM json_each(?1) WHERE true ON CONFLICT(name) DO UPDATE SET value = "
			   "excluded.value, updated_ms = excluded.updated_ms" },
		.restore = { "DELETE FROM settings WHERE name IN (SELECT key FROM json_each(?1))",
			     "INSERT INTO settings(name, value, updated_ms) SELECT key, value, ?2 "
			     "FROM json_each(?1) WHERE type = 'text'" },
	},
};

/* True when a change's part has the form its statements take: SQLite would store anything
 * else as it came (a ladder "5", a setting named "0") and the store would read it back as
 * damaged. */
static bool part_fits(const struct part *p, const json_t *value)
{
	const char *name;
	const json_t *member;
	size_t i;

	if (json_typeof(value) != p->type)
		return false;
	if (p->member == JSON_NULL)
		return true;
	json_array_foreach(value, i, member)
		if (json_typeof(member) != p->member)
			return false;
	json_object_foreach((json_t *)value, name, member)
		if (json_typeof(member) != p->member)
			return false;
	return true;
}

/* Runs a part's statements (apply or restore) over a part of a change or an undo. */
static int run_part(struct ob_store *store, const struct part *p, const json_t *value,
		    bool restore, int64_t now_ms)
{
	const char *const *sql = restore ? p->restore : p->apply;
	int (*fn)(struct ob_store *, const json_t *, int64_t) = restore ? p->restore_c : p->apply_c;
	char *text;
	int ret = 0;

	if (fn)
		return fn(store, value, now_ms);
	text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!text)
		return OB_ENOMEM;
	for (size_t i = 0; i < 3 && sql[i] && ret == 0; i++)
		ret = run_text(store, sql[i], text, now_ms);
	free(text);
	return ret;
}

static int snapshot_part(struct ob_store *store, const struct part *p, const json_t *value,
			 json_t **out)
{
	char *text;
	int ret;

	if (p->snapshot_c)
		return p->snapshot_c(store, out);
	text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!text)
		return OB_ENOMEM;
	ret = query_json(store, p->snapshot, text, out);
	free(text);
	return ret;
}

/* Restores every part an undo holds, in reverse order; lock held, inside a transaction. */
static int restore_undo(struct ob_store *store, const json_t *undo, int64_t now_ms)
{
	int ret = 0;

	for (size_t i = OB_ARRAY_SIZE(parts); i-- > 0 && ret == 0;) {
		const json_t *value = json_object_get(undo, parts[i].name);

		if (value)
			ret = run_part(store, &parts[i], value, true, now_ms);
	}
	return ret;
}

/* Puts stored settings into effect after a transaction that changed them; lock held. */
static void reload_settings(struct ob_store *store, const json_t *change)
{
	if (json_object_get(change, "settings") && ob_store_settings_load(store) != 0)
		ob_error(MODULE, "%s: settings could not be reloaded after a bundle", store->path);
}

int ob_store_cloud_apply(struct ob_store *store, const struct ob_store_cloud_bundle *bundle,
			 const json_t *change, const struct ob_audit *audit, char *err,
			 size_t err_len)
{
	json_t *undo = json_object();
	char *undo_text = NULL;
	sqlite3_stmt *stmt = NULL;
	int64_t now = ob_time_wall_ms();
	int ret = undo ? 0 : OB_ENOMEM;

	pthread_mutex_lock(&store->lock);
	if (ret == 0 && ob_store_exec(store, "BEGIN IMMEDIATE") != 0)
		ret = OB_EIO;
	if (ret != 0) {
		snprintf(err, err_len, "the bundle could not be applied: %s",
			 ret == OB_EIO ? sqlite3_errmsg(store->db) : ob_strerror(ret));
		goto out_unlock;
	}
	for (size_t i = 0; i < OB_ARRAY_SIZE(parts) && ret == 0; i++) {
		const json_t *value = json_object_get(change, parts[i].name);
		json_t *before = NULL;

		if (!value)
			continue;
		ret = part_fits(&parts[i], value) ? 0 : OB_EINVAL;
		if (ret == 0)
			ret = snapshot_part(store, &parts[i], value, &before);
		if (ret == 0)
			ret = json_object_set_new(undo, parts[i].name, before) ? OB_ENOMEM : 0;
		if (ret == 0)
			ret = run_part(store, &parts[i], value, false, now);
		if (ret == OB_ETOOBIG)
			snprintf(err, err_len, "%s: more token keys than the box holds (8)",
				 parts[i].name);
		else if (ret == OB_EINVAL)
			snprintf(err, err_len, "%s: not in the form a change takes (store/store.h)",
				 parts[i].name);
		else if (ret != 0)
			snprintf(err, err_len, "%s: %s", parts[i].name, sqlite3_errmsg(store->db));
	}
	if (ret != 0)
		goto fail_rollback;
	ret = OB_ENOMEM;
	undo_text = json_dumps(undo, JSON_COMPACT);
	if (!undo_text)
		goto fail_rollback;
	ret = ob_store_prepare(store,
			       "INSERT OR REPLACE INTO cloud_bundles(generation, status, source, "
			       "etag, jws, undo, received_ms) VALUES (?, 'pending', ?, ?, ?, ?, ?)",
			       &stmt);
	if (ret != 0)
		goto fail_rollback;
	sqlite3_bind_int64(stmt, 1, bundle->generation);
	sqlite3_bind_text(stmt, 2, bundle->source, -1, SQLITE_TRANSIENT);
	if (bundle->etag && *bundle->etag)
		sqlite3_bind_text(stmt, 3, bundle->etag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 4, bundle->jws, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 5, undo_text, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 6, now);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		snprintf(err, err_len, "the bundle could not be recorded: %s",
			 sqlite3_errmsg(store->db));
		ret = OB_EIO;
		goto fail_rollback;
	}
	ret = ob_store_audit_insert(store, audit, "ok");
	if (ret == 0)
		ret = ob_store_exec(store, "COMMIT");
	if (ret != 0) {
		snprintf(err, err_len, "the bundle could not be committed: %s",
			 sqlite3_errmsg(store->db));
		goto fail_rollback;
	}
	reload_settings(store, change);
	goto out_unlock;

fail_rollback:
	ob_store_exec(store, "ROLLBACK");
out_unlock:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&store->lock);
	free(undo_text);
	json_decref(undo);
	return ret;
}

/* Keeps the history short, after a confirm and after a rollback (a control plane that
 * sends bundle after failing bundle must not fill the disk): the newest BUNDLES_KEPT, and
 * the last applied bundle always (IS NOT: there may be none); lock held. */
static void trim_history(struct ob_store *store)
{
	char sql[320];

	snprintf(sql, sizeof(sql),
		 "DELETE FROM cloud_bundles WHERE generation NOT IN (SELECT generation FROM "
		 "cloud_bundles ORDER BY generation DESC LIMIT %d) AND generation IS NOT (SELECT "
		 "max(generation) FROM cloud_bundles WHERE status = 'applied')",
		 BUNDLES_KEPT);
	ob_store_exec(store, sql);
}

int ob_store_cloud_confirm(struct ob_store *store, int64_t generation)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "UPDATE cloud_bundles SET status = 'applied', undo = NULL, "
			       "applied_ms = ?2 WHERE generation = ?1 AND status = 'pending'",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_int64(stmt, 1, generation);
	sqlite3_bind_int64(stmt, 2, ob_time_wall_ms());
	if (sqlite3_step(stmt) != SQLITE_DONE)
		ret = OB_EIO;
	else if (sqlite3_changes(store->db) == 0)
		ret = OB_ENOTFOUND;
	sqlite3_finalize(stmt);
	if (ret == 0)
		trim_history(store);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_cloud_rollback(struct ob_store *store, int64_t generation, const char *error,
			    const struct ob_audit *audit, json_t **restored)
{
	sqlite3_stmt *stmt = NULL;
	json_t *undo = NULL;
	int64_t now = ob_time_wall_ms();
	int ret;

	*restored = NULL;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_exec(store, "BEGIN IMMEDIATE");
	if (ret != 0)
		goto out_unlock;
	ret = ob_store_prepare(store,
			       "SELECT undo FROM cloud_bundles WHERE generation = ? AND status = "
			       "'pending'",
			       &stmt);
	if (ret != 0)
		goto fail_rollback;
	sqlite3_bind_int64(stmt, 1, generation);
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		ret = OB_ENOTFOUND;
		goto fail_rollback;
	}
	undo = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, NULL);
	sqlite3_finalize(stmt);
	stmt = NULL;
	if (!json_is_object(undo)) {
		ret = OB_ECORRUPT;
		goto fail_rollback;
	}
	ret = restore_undo(store, undo, now);
	if (ret != 0)
		goto fail_rollback;
	ret = ob_store_prepare(store,
			       "UPDATE cloud_bundles SET status = 'rolled_back', undo = NULL, "
			       "error = ?2 WHERE generation = ?1",
			       &stmt);
	if (ret != 0)
		goto fail_rollback;
	sqlite3_bind_int64(stmt, 1, generation);
	sqlite3_bind_text(stmt, 2, error ? error : "", -1, SQLITE_TRANSIENT);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		ret = OB_EIO;
		goto fail_rollback;
	}
	ret = ob_store_audit_insert(store, audit, "ok");
	if (ret == 0)
		ret = ob_store_exec(store, "COMMIT");
	if (ret != 0)
		goto fail_rollback;
	trim_history(store);
	reload_settings(store, undo);
	*restored = undo;
	undo = NULL;
	goto out_unlock;

fail_rollback:
	ob_error(MODULE, "%s: generation %lld could not be rolled back: %s", store->path,
		 (long long)generation, ob_strerror(ret));
	ob_store_exec(store, "ROLLBACK");
out_unlock:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&store->lock);
	json_decref(undo);
	return ret;
}

/* Reads one integer from a query without parameters; 0 when it gives NULL. */
static int64_t query_int(struct ob_store *store, const char *sql)
{
	sqlite3_stmt *stmt;
	int64_t value = 0;

	pthread_mutex_lock(&store->lock);
	if (ob_store_prepare(store, sql, &stmt) == 0) {
		if (sqlite3_step(stmt) == SQLITE_ROW)
			value = sqlite3_column_int64(stmt, 0);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return value;
}

int64_t ob_store_cloud_highest_generation(struct ob_store *store)
{
	return query_int(store, "SELECT max(generation) FROM cloud_bundles");
}

int64_t ob_store_cloud_pending(struct ob_store *store)
{
	return query_int(store, "SELECT max(generation) FROM cloud_bundles WHERE status = "
				"'pending'");
}

json_t *ob_store_cloud_bundles_list(struct ob_store *store, bool with_jws)
{
	json_t *out = NULL;

	pthread_mutex_lock(&store->lock);
	if (query_json(store,
		       with_jws
			       ? "SELECT json_group_array(json_object('generation', generation, "
				 "'status', status, 'source', source, 'etag', etag, 'jws', jws, "
				 "'error', error, 'received_at', " ISO("received_ms") ", 'applied_at', "
				 ISO("applied_ms") ")) FROM (SELECT * FROM cloud_bundles ORDER BY "
				 "generation DESC)"
			       : "SELECT json_group_array(json_object('generation', generation, "
				 "'status', status, 'source', source, 'etag', etag, 'error', error, "
				 "'received_at', " ISO("received_ms") ", 'applied_at', " ISO("applied_ms")
				 ")) FROM "
				 "(SELECT * FROM cloud_bundles ORDER BY generation DESC)",
		       NULL, &out) != 0) {
		json_decref(out);
		out = NULL;
	}
	pthread_mutex_unlock(&store->lock);
	return out ? out : json_array();
}

/* ---- enrollment and the sync's state ---- */

json_t *ob_store_cloud_config_get(struct ob_store *store)
{
	json_t *out = NULL;

	pthread_mutex_lock(&store->lock);
	if (query_json(store,
		       "SELECT json_object('url', url, 'ca_pem', ca_pem, 'bundle_keys', "
		       "json(bundle_keys), 'enrollment_token', enrollment_token, 'state', state, "
		       "'enrolled_ms', enrolled_ms, 'updated_ms', updated_ms) FROM cloud_config "
		       "WHERE id = 1 UNION ALL SELECT NULL LIMIT 1",
		       NULL, &out) != 0 ||
	    !json_is_object(out)) {
		json_decref(out);
		out = NULL;
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}

int ob_store_cloud_config_put(struct ob_store *store, const json_t *config,
			      const struct ob_audit *audit)
{
	const json_t *bundle_keys = json_object_get(config, "bundle_keys");
	char *keys = bundle_keys ? json_dumps(bundle_keys, JSON_COMPACT) : NULL;
	const char *url = json_string_value(json_object_get(config, "url"));
	const char *ca = json_string_value(json_object_get(config, "ca_pem"));
	const char *token = json_string_value(json_object_get(config, "enrollment_token"));
	const char *state = json_string_value(json_object_get(config, "state"));
	sqlite3_stmt *stmt;
	int ret;

	if (!keys || !state) {
		free(keys);
		return bundle_keys && state ? OB_ENOMEM : OB_EINVAL;
	}
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "INSERT OR REPLACE INTO cloud_config(id, url, ca_pem, bundle_keys, "
			       "enrollment_token, state, enrolled_ms, updated_ms) VALUES (1, ?, ?, ?, "
			       "?, ?, CASE WHEN ?5 = 'enrolling' THEN NULL ELSE ?6 END, ?6)",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, url, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 2, ca, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 3, keys, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 4, token, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 5, state, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 6, ob_time_wall_ms());
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	/* A new enrollment starts the sync afresh: no ETag, the events from now on. */
	if (ret == 0)
		ret = run_text(store,
			       "INSERT OR REPLACE INTO cloud_state(id, events_acked_seq) VALUES (1, "
			       "(SELECT coalesce(max(seq), 0) FROM events))",
			       NULL, 0);
	pthread_mutex_unlock(&store->lock);
	free(keys);
	return ret;
}

int ob_store_cloud_config_enrolled(struct ob_store *store)
{
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = run_text(store,
		       "UPDATE cloud_config SET state = 'enrolled', enrollment_token = NULL, "
		       "enrolled_ms = ?2, updated_ms = ?2 WHERE id = 1 AND state = 'enrolling'",
		       NULL, ob_time_wall_ms());
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_cloud_config_delete(struct ob_store *store, const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, "DELETE FROM cloud_config WHERE id = 1", &stmt);
	if (ret == 0) {
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	if (ret == 0)
		ret = run_text(store, "DELETE FROM cloud_state", NULL, 0);
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_cloud_state_get(struct ob_store *store, struct ob_store_cloud_state *out)
{
	sqlite3_stmt *stmt;
	int ret;

	memset(out, 0, sizeof(*out));
	out->poll_interval_s = 60;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "SELECT etag, poll_interval_s, last_contact_ms, last_error, "
			       "last_error_ms, events_acked_seq, events_dropped FROM cloud_state "
			       "WHERE id = 1",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		if (sqlite3_column_text(stmt, 0))
			ob_strlcpy(out->etag, (const char *)sqlite3_column_text(stmt, 0),
				   sizeof(out->etag));
		out->poll_interval_s = sqlite3_column_int(stmt, 1);
		out->last_contact_ms = sqlite3_column_int64(stmt, 2);
		if (sqlite3_column_text(stmt, 3))
			ob_strlcpy(out->last_error, (const char *)sqlite3_column_text(stmt, 3),
				   sizeof(out->last_error));
		out->last_error_ms = sqlite3_column_int64(stmt, 4);
		out->events_acked_seq = sqlite3_column_int64(stmt, 5);
		out->events_dropped = sqlite3_column_int64(stmt, 6);
	}
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_cloud_state_put(struct ob_store *store, const struct ob_store_cloud_state *state)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "INSERT OR REPLACE INTO cloud_state(id, etag, poll_interval_s, "
			       "last_contact_ms, last_error, last_error_ms, events_acked_seq, "
			       "events_dropped) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
			       &stmt);
	if (ret != 0)
		goto out_unlock;
	if (state->etag[0])
		sqlite3_bind_text(stmt, 1, state->etag, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(stmt, 2, state->poll_interval_s);
	if (state->last_contact_ms)
		sqlite3_bind_int64(stmt, 3, state->last_contact_ms);
	if (state->last_error[0])
		sqlite3_bind_text(stmt, 4, state->last_error, -1, SQLITE_TRANSIENT);
	if (state->last_error_ms)
		sqlite3_bind_int64(stmt, 5, state->last_error_ms);
	sqlite3_bind_int64(stmt, 6, state->events_acked_seq);
	sqlite3_bind_int64(stmt, 7, state->events_dropped);
	if (sqlite3_step(stmt) != SQLITE_DONE)
		ret = OB_EIO;
	sqlite3_finalize(stmt);
out_unlock:
	pthread_mutex_unlock(&store->lock);
	return ret;
}

/* ---- commands ---- */

int ob_store_cloud_command_begin(struct ob_store *store, const char *id, int64_t generation,
				 const char *type)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "INSERT INTO cloud_commands(id, generation, type, status, at_ms) "
			       "VALUES (?, ?, ?, 'running', ?)",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 2, generation);
		sqlite3_bind_text(stmt, 3, type, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 4, ob_time_wall_ms());
		if (sqlite3_step(stmt) != SQLITE_DONE)
			ret = sqlite3_errcode(store->db) == SQLITE_CONSTRAINT ? OB_EEXIST : OB_EIO;
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_cloud_command_finish(struct ob_store *store, const char *id, bool done,
				  const char *detail)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       "UPDATE cloud_commands SET status = ?2, detail = ?3, at_ms = ?4 "
			       "WHERE id = ?1",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 2, done ? "done" : "failed", -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 3, detail ? detail : "", -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 4, ob_time_wall_ms());
		if (sqlite3_step(stmt) != SQLITE_DONE)
			ret = OB_EIO;
		sqlite3_finalize(stmt);
	}
	/* Ids are remembered long after their bundle; the newest 1000 are plenty. */
	if (ret == 0)
		ob_store_exec(store, "DELETE FROM cloud_commands WHERE id NOT IN (SELECT id FROM "
				     "cloud_commands ORDER BY at_ms DESC LIMIT 1000)");
	pthread_mutex_unlock(&store->lock);
	return ret;
}

json_t *ob_store_cloud_commands_list(struct ob_store *store, int limit)
{
	static const char head[] =
		"SELECT json_group_array(json_object('id', id, 'generation', generation, 'type', "
		"type, 'status', status, 'detail', detail, 'at', " ISO("at_ms") ")) FROM (SELECT * "
		"FROM cloud_commands ORDER BY at_ms DESC, id LIMIT ";
	json_t *out = NULL;
	char sql[sizeof(head) + 16];

	snprintf(sql, sizeof(sql), "%s%d)", head, limit > 0 ? limit : 50);
	pthread_mutex_lock(&store->lock);
	if (query_json(store, sql, NULL, &out) != 0) {
		json_decref(out);
		out = NULL;
	}
	pthread_mutex_unlock(&store->lock);
	return out ? out : json_array();
}
