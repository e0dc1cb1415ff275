/* Shared between the store's own files; not part of its public interface. */
#ifndef OB_STORE_INTERNAL_H
#define OB_STORE_INTERNAL_H

#include <pthread.h>
#include <sqlite3.h>

#include "store/store.h"

struct ob_store {
	sqlite3 *db;
	pthread_mutex_t lock;     /* serializes every use of db and settings */
	json_t *settings;         /* every setting's current value */
	int64_t last_prune_ms;    /* last audit retention pass (monotonic) */
	char path[4096];
};

/* Runs SQL with no result rows; the lock must be held. 0 or OB_EIO (logged). */
int ob_store_exec(struct ob_store *store, const char *sql);

/* Prepares a statement; the lock must be held. 0 or OB_EIO (logged). */
int ob_store_prepare(struct ob_store *store, const char *sql, sqlite3_stmt **stmt);

/* Runs a prepared statement that must change one row, with its audit record, in one
 * transaction (a savepoint); lock held. OB_EEXIST on a uniqueness conflict, OB_ENOTFOUND
 * when no row changed, OB_EIO otherwise. */
int ob_store_run_change(struct ob_store *store, sqlite3_stmt *stmt,
			const struct ob_audit *audit);

/* Takes the lock and runs sql (one '?' bound to key) as a change that must touch one row,
 * with its audit record: deleting a row by its key, say. Returns as ob_store_run_change. */
int ob_store_change_by_key(struct ob_store *store, const char *sql, const char *key,
			   const struct ob_audit *audit);

/* A time in milliseconds since the epoch as the API shows it (ISO 8601 UTC), or null for
 * none (0 or less). New reference. */
json_t *ob_store_time_or_null(int64_t ms);

/* Writes an audit record inside the caller's transaction; the lock must be held. */
int ob_store_audit_insert(struct ob_store *store, const struct ob_audit *audit,
			  const char *result);

/* Loads stored settings over the defaults and puts them into effect; lock held. */
int ob_store_settings_load(struct ob_store *store);

/* Deletes audit records older than the retention setting, at most once an hour. */
void ob_store_audit_prune(struct ob_store *store);

#endif
