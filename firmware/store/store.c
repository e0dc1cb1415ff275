#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"
#include "store/migrations.h"

#define MODULE "store"

static const char recover_hint[] =
	"ottboxd will not run on a damaged store. Stop it, move the file aside and restore "
	"a backup, or salvage what is readable with "
	"`sqlite3 ottbox.db .recover | sqlite3 ottbox.recovered.db` "
	"(see docs/operations.md, \"A damaged store\")";

int ob_store_exec(struct ob_store *store, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(store->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		ob_error(MODULE, "%s: %s", store->path, msg ? msg : sqlite3_errmsg(store->db));
		sqlite3_free(msg);
		return OB_EIO;
	}
	return 0;
}

int ob_store_prepare(struct ob_store *store, const char *sql, sqlite3_stmt **stmt)
{
	if (sqlite3_prepare_v2(store->db, sql, -1, stmt, NULL) != SQLITE_OK) {
		ob_error(MODULE, "%s: cannot prepare statement: %s", store->path,
			 sqlite3_errmsg(store->db));
		return OB_EIO;
	}
	return 0;
}

int ob_store_run_change(struct ob_store *store, sqlite3_stmt *stmt,
			const struct ob_audit *audit)
{
	int rc;
	int ret = OB_EIO;

	if (ob_store_exec(store, "SAVEPOINT change") != 0)
		return OB_EIO;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_CONSTRAINT) {
		ret = OB_EEXIST;
		goto fail_rollback;
	}
	if (rc != SQLITE_DONE) {
		ob_error(MODULE, "%s: %s failed: %s", store->path, audit->action,
			 sqlite3_errmsg(store->db));
		goto fail_rollback;
	}
	if (sqlite3_changes(store->db) == 0) {
		ret = OB_ENOTFOUND;
		goto fail_rollback;
	}
	if (ob_store_audit_insert(store, audit, "ok") != 0)
		goto fail_rollback;
	if (ob_store_exec(store, "RELEASE change") != 0)
		goto fail_rollback;
	return 0;

fail_rollback:
	ob_store_exec(store, "ROLLBACK TO change; RELEASE change");
	return ret;
}

int ob_store_change_by_key(struct ob_store *store, const char *sql, const char *key,
			   const struct ob_audit *audit)
{
	sqlite3_stmt *stmt;
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_prepare(store, sql, &stmt);
	if (ret == 0) {
		sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
		ret = ob_store_run_change(store, stmt, audit);
		sqlite3_finalize(stmt);
	}
	pthread_mutex_unlock(&store->lock);
	return ret;
}

int ob_store_schema_latest(void)
{
	return ob_store_migration_count();
}

static int read_user_version(struct ob_store *store, int *version)
{
	sqlite3_stmt *stmt;
	int ret = OB_EIO;

	if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
		return OB_EIO;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		*version = sqlite3_column_int(stmt, 0);
		ret = 0;
	}
	sqlite3_finalize(stmt);
	return ret;
}

int ob_store_schema_version(struct ob_store *store)
{
	int version = -1;

	pthread_mutex_lock(&store->lock);
	read_user_version(store, &version);
	pthread_mutex_unlock(&store->lock);
	return version;
}

static int quick_check_locked(struct ob_store *store, char *msg, size_t msg_len)
{
	sqlite3_stmt *stmt;
	size_t used = 0;
	int rc;
	int ret = 0;

	msg[0] = '\0';
	rc = sqlite3_prepare_v2(store->db, "PRAGMA quick_check(5)", -1, &stmt, NULL);
	if (rc != SQLITE_OK) {
		snprintf(msg, msg_len, "%s", sqlite3_errmsg(store->db));
		return OB_ECORRUPT;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *line = (const char *)sqlite3_column_text(stmt, 0);

		if (line && strcmp(line, "ok") == 0)
			continue;
		ret = OB_ECORRUPT;
		if (used < msg_len)
			used += (size_t)snprintf(msg + used, msg_len - used, "%s%s", used ? "; " : "",
						 line ? line : "?");
	}
	if (rc != SQLITE_DONE) {
		ret = OB_ECORRUPT;
		if (used < msg_len)
			snprintf(msg + used, msg_len - used, "%s%s", used ? "; " : "",
				 sqlite3_errmsg(store->db));
	}
	sqlite3_finalize(stmt);
	return ret;
}

int ob_store_quick_check(struct ob_store *store, char *msg, size_t msg_len)
{
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = quick_check_locked(store, msg, msg_len);
	pthread_mutex_unlock(&store->lock);
	return ret;
}

static int migrate(struct ob_store *store, char *err, size_t err_len)
{
	int version;
	int latest = ob_store_migration_count();

	if (read_user_version(store, &version) != 0) {
		snprintf(err, err_len, "store %s: cannot read its schema version: %s", store->path,
			 sqlite3_errmsg(store->db));
		return OB_ECORRUPT;
	}
	if (version > latest) {
		snprintf(err, err_len,
			 "store %s is at schema version %d, newer than this firmware knows (%d); "
			 "it was written by a newer ottbox. Boot the newer firmware, or restore a "
			 "backup made by this one",
			 store->path, version, latest);
		return OB_ECONFLICT;
	}
	for (int next = version + 1; next <= latest; next++) {
		char pragma[48];

		snprintf(pragma, sizeof(pragma), "PRAGMA user_version = %d", next);
		if (ob_store_exec(store, "BEGIN IMMEDIATE") != 0)
			goto fail;
		if (ob_store_exec(store, ob_store_migration_sql(next)) != 0 ||
		    ob_store_exec(store, pragma) != 0 || ob_store_exec(store, "COMMIT") != 0) {
			ob_store_exec(store, "ROLLBACK");
			goto fail;
		}
		ob_info(MODULE, "%s: schema migrated to version %d", store->path, next);
		continue;
fail:
		snprintf(err, err_len, "store %s: migration to schema version %d failed: %s",
			 store->path, next, sqlite3_errmsg(store->db));
		return OB_EIO;
	}
	return 0;
}

static int apply_pragmas(struct ob_store *store, char *err, size_t err_len)
{
	sqlite3_stmt *stmt;
	const char *mode = NULL;
	int ret = 0;

	sqlite3_busy_timeout(store->db, 5000);
	if (sqlite3_prepare_v2(store->db, "PRAGMA journal_mode=WAL", -1, &stmt, NULL) != SQLITE_OK)
		goto fail_corrupt;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		mode = (const char *)sqlite3_column_text(stmt, 0);
	if (!mode || strcmp(mode, "wal") != 0) {
		ret = sqlite3_errcode(store->db) == SQLITE_NOTADB ||
				      sqlite3_errcode(store->db) == SQLITE_CORRUPT
			      ? OB_ECORRUPT
			      : OB_EIO;
		if (ret == OB_ECORRUPT)
			snprintf(err, err_len, "store %s failed its integrity check (%s)", store->path,
				 sqlite3_errmsg(store->db));
		else
			snprintf(err, err_len, "store %s: cannot switch to WAL mode: %s", store->path,
				 mode ? mode : sqlite3_errmsg(store->db));
	}
	sqlite3_finalize(stmt);
	if (ret != 0)
		return ret;
	if (ob_store_exec(store, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL;") != 0)
		goto fail_corrupt;
	return 0;

fail_corrupt:
	snprintf(err, err_len, "store %s failed its integrity check (%s)", store->path,
		 sqlite3_errmsg(store->db));
	return OB_ECORRUPT;
}

int ob_store_open(const char *data_dir, struct ob_store **out, char *err, size_t err_len)
{
	struct ob_store *store;
	char check[512];
	int ret;

	*out = NULL;
	if (ob_mkdir_p(data_dir, 0750) != 0) {
		snprintf(err, err_len, "data directory %s cannot be created: %s", data_dir,
			 strerror(errno));
		return OB_EIO;
	}
	store = calloc(1, sizeof(*store));
	if (!store) {
		snprintf(err, err_len, "out of memory opening the store");
		return OB_ENOMEM;
	}
	pthread_mutex_init(&store->lock, NULL);
	if (snprintf(store->path, sizeof(store->path), "%s/%s", data_dir, OB_STORE_FILE) >=
	    (int)sizeof(store->path)) {
		snprintf(err, err_len, "data directory path is too long: %s", data_dir);
		ret = OB_EINVAL;
		goto fail_free;
	}
	if (sqlite3_open_v2(store->path, &store->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, err_len, "store %s cannot be opened: %s", store->path,
			 store->db ? sqlite3_errmsg(store->db) : "out of memory");
		ret = OB_EIO;
		goto fail_close_db;
	}
	chmod(store->path, 0600);
	ret = apply_pragmas(store, err, err_len);
	if (ret == OB_ECORRUPT) {
		size_t used = strlen(err);

		snprintf(err + used, err_len - used, ". %s", recover_hint);
		goto fail_close_db;
	} else if (ret != 0) {
		goto fail_close_db;
	}
	if (quick_check_locked(store, check, sizeof(check)) != 0) {
		snprintf(err, err_len, "store %s failed its integrity check (%s). %s", store->path,
			 check, recover_hint);
		ret = OB_ECORRUPT;
		goto fail_close_db;
	}
	ret = migrate(store, err, err_len);
	if (ret != 0)
		goto fail_close_db;
	pthread_mutex_lock(&store->lock);
	ret = ob_store_settings_load(store);
	pthread_mutex_unlock(&store->lock);
	if (ret != 0) {
		snprintf(err, err_len, "store %s: settings cannot be loaded: %s", store->path,
			 sqlite3_errmsg(store->db));
		goto fail_close_db;
	}
	ob_store_audit_prune(store);
	*out = store;
	return 0;

fail_close_db:
	sqlite3_close(store->db);
fail_free:
	json_decref(store->settings);
	pthread_mutex_destroy(&store->lock);
	free(store);
	return ret;
}

void ob_store_close(struct ob_store **storep)
{
	struct ob_store *store = *storep;

	if (!store)
		return;
	if (sqlite3_close(store->db) != SQLITE_OK)
		ob_error(MODULE, "%s: close failed: %s", store->path, sqlite3_errmsg(store->db));
	json_decref(store->settings);
	pthread_mutex_destroy(&store->lock);
	free(store);
	*storep = NULL;
}

int ob_store_backup(struct ob_store *store, const char *dest_path, char *err, size_t err_len)
{
	sqlite3 *dest = NULL;
	sqlite3_backup *backup;
	char tmp[4096];
	int rc;
	int ret = OB_EIO;

	if (snprintf(tmp, sizeof(tmp), "%s.partial", dest_path) >= (int)sizeof(tmp)) {
		snprintf(err, err_len, "backup path is too long");
		return OB_EINVAL;
	}
	unlink(tmp);
	if (sqlite3_open(tmp, &dest) != SQLITE_OK) {
		snprintf(err, err_len, "cannot create %s: %s", tmp,
			 dest ? sqlite3_errmsg(dest) : "out of memory");
		goto out_close;
	}
	pthread_mutex_lock(&store->lock);
	backup = sqlite3_backup_init(dest, "main", store->db, "main");
	if (!backup) {
		pthread_mutex_unlock(&store->lock);
		snprintf(err, err_len, "cannot start the backup: %s", sqlite3_errmsg(dest));
		goto out_close;
	}
	rc = sqlite3_backup_step(backup, -1);
	sqlite3_backup_finish(backup);
	pthread_mutex_unlock(&store->lock);
	if (rc != SQLITE_DONE) {
		snprintf(err, err_len, "backup to %s failed: %s", dest_path, sqlite3_errstr(rc));
		goto out_close;
	}
	if (sqlite3_exec(dest, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, err_len, "backup to %s failed: %s", dest_path, sqlite3_errmsg(dest));
		goto out_close;
	}
	ret = 0;
out_close:
	sqlite3_close(dest);
	if (ret == 0 && rename(tmp, dest_path) != 0) {
		snprintf(err, err_len, "cannot rename %s to %s: %s", tmp, dest_path, strerror(errno));
		ret = OB_EIO;
	}
	if (ret != 0)
		unlink(tmp);
	return ret;
}
