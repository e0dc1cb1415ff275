#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"

#define MODULE "store"

int ob_store_ladder_put(struct ob_store *store, const json_t *ladder, bool create,
			const struct ob_audit *audit)
{
	const char *id = json_string_value(json_object_get(ladder, "id"));
	char *text = json_dumps(ladder, JSON_COMPACT);
	sqlite3_stmt *stmt;
	int64_t now = ob_time_wall_ms();
	int ret;

	if (!id || !text) {
		free(text);
		return id ? OB_ENOMEM : OB_EINVAL;
	}
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store,
			       create ? "INSERT INTO ladders(id, document, created_ms, updated_ms) "
					"VALUES (?1, ?2, ?3, ?3)"
				      : "UPDATE ladders SET document = ?2, updated_ms = ?3 "
					"WHERE id = ?1",
			       &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 2, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 3, now);
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	free(text);
	return ret;
}

int ob_store_ladder_get(struct ob_store *store, const char *id, json_t **out)
{
	sqlite3_stmt *stmt;
	int ret;

	*out = NULL;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, "SELECT document FROM ladders WHERE id = ?", &stmt);
	if (ret != 0)
		goto out_unlock;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_TRANSIENT);
	switch (sqlite3_step(stmt)) {
	case SQLITE_ROW:
		*out = json_loads((const char *)sqlite3_column_text(stmt, 0), 0, NULL);
		if (!*out) {
			ob_error(MODULE, "%s: ladder \"%s\" is stored damaged", store->path, id);
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

int ob_store_ladder_delete(struct ob_store *store, const char *id, const struct ob_audit *audit)
{
	return ob_store_change_by_key(store, "DELETE FROM ladders WHERE id = ?", id, audit);
}

json_t *ob_store_ladder_list(struct ob_store *store)
{
	sqlite3_stmt *stmt;
	json_t *out = json_array();

	pthread_mutex_lock(&store->lock);
	if (out && ob_store_prepare(store, "SELECT id, document FROM ladders ORDER BY id", &stmt) ==
			   0) {
		while (sqlite3_step(stmt) == SQLITE_ROW) {
			json_t *doc = json_loads((const char *)sqlite3_column_text(stmt, 1), 0, NULL);

			if (doc)
				json_array_append_new(out, doc);
			else
				ob_error(MODULE, "%s: ladder \"%s\" is stored damaged; left out",
					 store->path, (const char *)sqlite3_column_text(stmt, 0));
		}
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return out;
}
