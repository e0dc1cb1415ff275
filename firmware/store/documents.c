#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"

#define MODULE "store"

/* The statements of each collection of JSON documents keyed by their "id". */
static const struct {
	const char *what;   /* for messages */
	const char *insert;
	const char *update;
	const char *select;
	const char *remove;
	const char *list;
} collections[] = {
	[OB_STORE_LADDERS] = {
		.what = "ladder",
		.insert = "INSERT INTO ladders(id, document, created_ms, updated_ms) "
			  "VALUES (?1, ?2, ?3, ?3)",
		.update = "UPDATE ladders SET document = ?2, updated_ms = ?3 WHERE id = ?1",
		.select = "SELECT document FROM ladders WHERE id = ?",
		/* a ladder a channel uses stays: see ob_store_doc_delete */
		.remove = "DELETE FROM ladders WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM "
			  "channels WHERE json_extract(document, '$.ladder') = ?1)",
		.list = "SELECT id, document FROM ladders ORDER BY id",
	},
	[OB_STORE_CHANNELS] = {
		.what = "channel",
		.insert = "INSERT INTO channels(id, document, created_ms, updated_ms) "
			  "VALUES (?1, ?2, ?3, ?3)",
		.update = "UPDATE channels SET document = ?2, updated_ms = ?3 WHERE id = ?1",
		.select = "SELECT document FROM channels WHERE id = ?",
		.remove = "DELETE FROM channels WHERE id = ?",
		.list = "SELECT id, document FROM channels ORDER BY id",
	},
};

int ob_store_doc_put(struct ob_store *store, enum ob_store_collection coll, const json_t *doc,
		     bool create, const struct ob_audit *audit)
{
	const char *id = json_string_value(json_object_get(doc, "id"));
	char *text = json_dumps(doc, JSON_COMPACT);
	sqlite3_stmt *stmt;
	int ret;

	if (!id || !text) {
		free(text);
		return id ? OB_ENOMEM : OB_EINVAL;
	}
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, create ? collections[coll].insert : collections[coll].update,
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 2, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 3, ob_time_wall_ms());
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	free(text);
	return ret;
}

int ob_store_doc_get(struct ob_store *store, enum ob_store_collection coll, const char *id,
		     json_t **out)
{
	sqlite3_stmt *stmt;
	int ret;

	*out = NULL;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, collections[coll].select, &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		*out = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, NULL);
		if (!*out) {
			ob_error(MODULE, "%s: %s \"%s\" is stored damaged", store->path,
				 collections[coll].what, id);
			ret = OB_ECORRUPT;
		}
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

int ob_store_doc_delete(struct ob_store *store, enum ob_store_collection coll, const char *id,
			const struct ob_audit *audit)
{
	int ret = ob_store_change_by_key(store, collections[coll].remove, id, audit);
	json_t *still = NULL;

	/* Nothing deleted: either there is no such document, or something still uses it. */
	if (ret == OB_ENOTFOUND && ob_store_doc_get(store, coll, id, &still) == 0)
		ret = OB_ECONFLICT;
	json_decref(still);
	return ret;
}

json_t *ob_store_doc_list(struct ob_store *store, enum ob_store_collection coll)
{
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	pthread_mutex_lock(&store->lock);
	if (out && ob_store_prepare(store, collections[coll].list, &stmt) == 0) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			json_t *doc = json_loads((const char *)sqlite3_column_text(stmt, 1), 0, NULL);

			if (doc)
				json_array_append_new(out, doc);
			else
				ob_error(MODULE, "%s: %s \"%s\" is stored damaged; left out",
					 store->path, collections[coll].what,
					 (const char *)sqlite3_column_text(stmt, 0));
		}
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}

json_t *ob_store_channels_using_ladder(struct ob_store *store, const char *ladder_id)
{
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	pthread_mutex_lock(&store->lock);
	if (out && ob_store_prepare(store,
				    "SELECT id FROM channels WHERE json_extract(document, "
				    "'$.ladder') = ? ORDER BY id",
				    &stmt) == 0) {
		sqlite3_bind_text(stmt, 1, ladder_id, -1, SQLITE_TRANSIENT);
		while (sqlite3_step(stmt) == SQLITE_ROW)
			json_array_append_new(out,
					      json_string((const char *)sqlite3_column_text(stmt, 0)));
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}
