/* The store: migrations, integrity refusal, settings persistence and atomicity, users,
 * API keys, the audit log and backups. Each test gets a fresh data directory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "store/store.h"

struct fixture {
	char dir[64];
	char db[128];
};

static const struct ob_audit test_audit = { .actor = "test", .action = "test.change" };

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	strcpy(f->dir, "/tmp/ob-store-XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/%s", f->dir, OB_STORE_FILE);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static struct ob_store *open_ok(struct fixture *f)
{
	struct ob_store *store = NULL;
	char err[1024] = "";

	if (ob_store_open(f->dir, &store, err, sizeof(err)) != 0)
		fail_msg("open failed: %s", err);
	return store;
}

/* Runs SQL on the database file through a second connection, as another process would. */
static void side_exec(struct fixture *f, const char *sql)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void test_fresh_store_is_migrated_to_latest(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	struct stat st;
	char msg[256];

	assert_true(ob_store_schema_latest() >= 1);
	assert_int_equal(ob_store_schema_version(store), ob_store_schema_latest());
	assert_int_equal(ob_store_quick_check(store, msg, sizeof(msg)), 0);
	assert_int_equal(stat(f->db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	ob_store_close(&store);
	assert_null(store);
	/* opening again applies nothing and keeps the version */
	store = open_ok(f);
	assert_int_equal(ob_store_schema_version(store), ob_store_schema_latest());
	ob_store_close(&store);
}

static void test_corrupt_store_is_refused_with_a_way_out(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = NULL;
	char err[1024] = "";
	FILE *fp;

	fp = fopen(f->db, "w");
	assert_non_null(fp);
	for (int i = 0; i < 512; i++)
		fputs("this is not an SQLite database ", fp);
	fclose(fp);
	assert_int_equal(ob_store_open(f->dir, &store, err, sizeof(err)), OB_ECORRUPT);
	assert_null(store);
	assert_non_null(strstr(err, f->db));
	assert_non_null(strstr(err, "docs/operations.md"));
	assert_non_null(strstr(err, ".recover"));
}

static void test_damaged_pages_fail_quick_check(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	struct ob_audit audit = test_audit;
	char err[1024] = "";
	FILE *fp;
	long size;

	/* enough rows to span several pages, then scribble over the header of page 2 (the
	 * settings table's root) */
	for (int i = 0; i < 300; i++)
		ob_store_audit_add(store, &audit, "ok");
	ob_store_close(&store);
	side_exec(f, "PRAGMA wal_checkpoint(TRUNCATE)");
	fp = fopen(f->db, "r+");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	size = ftell(fp);
	assert_true(size > 8192);
	fseek(fp, 4096, SEEK_SET);
	for (int i = 0; i < 2000; i++)
		fputc(0x5a, fp);
	fclose(fp);
	assert_int_equal(ob_store_open(f->dir, &store, err, sizeof(err)), OB_ECORRUPT);
	assert_non_null(strstr(err, "integrity check"));
}

static void test_newer_schema_is_refused(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	char err[1024] = "";

	ob_store_close(&store);
	side_exec(f, "PRAGMA user_version = 999");
	assert_int_equal(ob_store_open(f->dir, &store, err, sizeof(err)), OB_ECONFLICT);
	assert_non_null(strstr(err, "newer than this firmware"));
}

static void test_settings_persist_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	json_t *patch = json_pack("{s:s, s:i}", "box_name", "studio-1", "session_idle_timeout_s",
				  600);
	json_t *settings;
	char err[256];

	assert_int_equal(ob_store_settings_patch(store, patch, &test_audit, err, sizeof(err)), 0);
	assert_int_equal(ob_store_setting_int(store, "session_idle_timeout_s"), 600);
	ob_store_close(&store);
	store = open_ok(f);
	settings = ob_store_settings_get(store);
	assert_string_equal(json_string_value(json_object_get(settings, "box_name")), "studio-1");
	assert_int_equal(ob_store_setting_int(store, "session_idle_timeout_s"), 600);
	/* untouched settings keep their defaults */
	assert_int_equal(ob_store_setting_int(store, "login_free_attempts"), 5);
	json_decref(settings);
	json_decref(patch);
	ob_store_close(&store);
}

static void test_invalid_patch_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	json_t *patch = json_pack("{s:s, s:i}", "box_name", "half", "session_idle_timeout_s", 1);
	json_t *settings;
	char err[256];

	assert_int_equal(ob_store_settings_patch(store, patch, &test_audit, err, sizeof(err)),
			 OB_EINVAL);
	assert_non_null(strstr(err, "session_idle_timeout_s"));
	settings = ob_store_settings_get(store);
	assert_string_equal(json_string_value(json_object_get(settings, "box_name")), "ottbox");
	json_decref(settings);
	json_decref(patch);
	ob_store_close(&store);
}

/* A change whose audit record cannot be written must not be applied, in the database or in
 * memory: the two are one transaction. */
static void test_change_without_audit_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	json_t *patch = json_pack("{s:s}", "box_name", "never-saved");
	json_t *settings;
	char err[256];

	side_exec(f, "CREATE TRIGGER no_audit BEFORE INSERT ON audit "
		     "BEGIN SELECT RAISE(ABORT, 'audit refused'); END");
	assert_int_equal(ob_store_settings_patch(store, patch, &test_audit, err, sizeof(err)),
			 OB_EIO);
	settings = ob_store_settings_get(store);
	assert_string_equal(json_string_value(json_object_get(settings, "box_name")), "ottbox");
	json_decref(settings);
	ob_store_close(&store);
	side_exec(f, "DROP TRIGGER no_audit");
	store = open_ok(f);
	settings = ob_store_settings_get(store);
	assert_string_equal(json_string_value(json_object_get(settings, "box_name")), "ottbox");
	json_decref(settings);
	json_decref(patch);
	ob_store_close(&store);
}

static void test_unknown_stored_setting_is_ignored(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);

	ob_store_close(&store);
	side_exec(f, "INSERT INTO settings VALUES ('from_the_future', '1', 0);"
		     "INSERT INTO settings VALUES ('session_idle_timeout_s', '\"junk\"', 0);");
	store = open_ok(f);
	assert_int_equal(ob_store_setting_int(store, "session_idle_timeout_s"), 1800);
	ob_store_close(&store);
}

static struct ob_user make_user(const char *name, const char *role)
{
	struct ob_user user = { 0 };

	strcpy(user.name, name);
	strcpy(user.role, role);
	strcpy(user.password_hash, "$argon2id$placeholder");
	return user;
}

static void test_users_and_the_last_admin(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	struct ob_user admin = make_user("admin", "admin");
	struct ob_user jane = make_user("jane", "operator");
	struct ob_user got;
	json_t *list;
	int admins = -1;

	assert_int_equal(ob_store_user_create(store, &admin, &test_audit), 0);
	assert_int_equal(ob_store_user_create(store, &jane, &test_audit), 0);
	assert_int_equal(ob_store_user_create(store, &jane, &test_audit), OB_EEXIST);
	assert_int_equal(ob_store_user_count_admins(store, &admins), 0);
	assert_int_equal(admins, 1);
	assert_int_equal(ob_store_user_get(store, "jane", &got), 0);
	assert_string_equal(got.role, "operator");
	assert_int_equal(ob_store_user_get(store, "nobody", &got), OB_ENOTFOUND);

	/* the only admin can be neither deleted, demoted nor disabled */
	assert_int_equal(ob_store_user_delete(store, "admin", &test_audit), OB_ECONFLICT);
	assert_int_equal(ob_store_user_get(store, "admin", &got), 0);
	strcpy(got.role, "viewer");
	assert_int_equal(ob_store_user_update(store, &got, &test_audit), OB_ECONFLICT);
	assert_int_equal(ob_store_user_get(store, "admin", &got), 0);
	got.disabled = true;
	assert_int_equal(ob_store_user_update(store, &got, &test_audit), OB_ECONFLICT);
	assert_int_equal(ob_store_user_get(store, "admin", &got), 0);
	assert_string_equal(got.role, "admin");
	assert_false(got.disabled);

	/* with a second admin, the first may go */
	assert_int_equal(ob_store_user_get(store, "jane", &got), 0);
	strcpy(got.role, "admin");
	assert_int_equal(ob_store_user_update(store, &got, &test_audit), 0);
	assert_int_equal(ob_store_user_delete(store, "admin", &test_audit), 0);
	assert_int_equal(ob_store_user_delete(store, "admin", &test_audit), OB_ENOTFOUND);

	list = ob_store_user_list(store);
	assert_int_equal(json_array_size(list), 1);
	assert_null(json_object_get(json_array_get(list, 0), "password_hash"));
	json_decref(list);
	ob_store_close(&store);
}

static void test_user_name_rules(void **state)
{
	static const char *const good[] = { "admin", "jane.doe", "ops_2", "a", "0perator" };
	static const char *const bad[] = { "", "Admin", "-dash", ".dot", "has space", "ünï",
					   "abcdefghijklmnopqrstuvwxyz0123456" };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(ob_store_user_name_check(good[i], err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (ob_store_user_name_check(bad[i], err, sizeof(err)) != OB_EINVAL)
			fail_msg("\"%s\" should be refused", bad[i]);
}

static void test_apikeys(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	struct ob_apikey key = { .id = "0123456789abcdef", .name = "paywall", .role = "viewer",
				 .created_by = "test" };
	struct ob_apikey got;
	json_t *list;

	memset(key.secret_sha256, 0xab, sizeof(key.secret_sha256));
	assert_int_equal(ob_store_apikey_create(store, &key, &test_audit), 0);
	assert_int_equal(ob_store_apikey_create(store, &key, &test_audit), OB_EEXIST);
	assert_int_equal(ob_store_apikey_get(store, key.id, &got), 0);
	assert_string_equal(got.name, "paywall");
	assert_memory_equal(got.secret_sha256, key.secret_sha256, 32);
	list = ob_store_apikey_list(store);
	assert_int_equal(json_array_size(list), 1);
	assert_null(json_object_get(json_array_get(list, 0), "secret_sha256"));
	json_decref(list);
	assert_int_equal(ob_store_apikey_delete(store, key.id, &test_audit), 0);
	assert_int_equal(ob_store_apikey_get(store, key.id, &got), OB_ENOTFOUND);
	assert_int_equal(ob_store_apikey_delete(store, key.id, &test_audit), OB_ENOTFOUND);
	ob_store_close(&store);
}

static void test_every_change_is_audited(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	struct ob_user jane = make_user("jane", "admin");
	json_t *patch = json_pack("{s:s}", "box_name", "studio-2");
	struct ob_audit audit = { .actor = "user:root", .remote_addr = "192.0.2.7",
				  .action = "settings.update" };
	json_t *records;
	json_t *newest;
	char err[256];

	assert_int_equal(ob_store_user_create(store, &jane, &test_audit), 0);
	assert_int_equal(ob_store_settings_patch(store, patch, &audit, err, sizeof(err)), 0);
	records = ob_store_audit_list(store, 0, 10);
	assert_int_equal(json_array_size(records), 2);
	newest = json_array_get(records, 0);
	assert_string_equal(json_string_value(json_object_get(newest, "action")), "settings.update");
	assert_string_equal(json_string_value(json_object_get(newest, "actor")), "user:root");
	assert_string_equal(json_string_value(json_object_get(newest, "remote_addr")), "192.0.2.7");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
				    json_object_get(newest, "detail"), "box_name"), "to")),
			    "studio-2");
	/* paging: records before the newest */
	{
		json_t *older = ob_store_audit_list(
			store, json_integer_value(json_object_get(newest, "id")), 10);

		assert_int_equal(json_array_size(older), 1);
		json_decref(older);
	}
	json_decref(records);
	json_decref(patch);
	ob_store_close(&store);
}

static void test_ladders_put_get_delete(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	json_t *ladder = json_pack("{s:s, s:s, s:[{s:i, s:i, s:i}]}", "id", "studio", "name",
				   "Studio", "rungs", "width", 1280, "height", 720,
				   "video_bitrate_kbps", 3000);
	json_t *got = NULL;
	json_t *list;

	assert_int_equal(ob_store_doc_put(store, OB_STORE_LADDERS, ladder, false, &test_audit), OB_ENOTFOUND);
	assert_int_equal(ob_store_doc_put(store, OB_STORE_LADDERS, ladder, true, &test_audit), 0);
	assert_int_equal(ob_store_doc_put(store, OB_STORE_LADDERS, ladder, true, &test_audit), OB_EEXIST);
	json_object_set_new(ladder, "name", json_string("Studio 2"));
	assert_int_equal(ob_store_doc_put(store, OB_STORE_LADDERS, ladder, false, &test_audit), 0);
	assert_int_equal(ob_store_doc_get(store, OB_STORE_LADDERS, "studio", &got), 0);
	assert_true(json_equal(got, ladder));
	json_decref(got);
	list = ob_store_doc_list(store, OB_STORE_LADDERS);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	assert_int_equal(ob_store_doc_delete(store, OB_STORE_LADDERS, "studio", &test_audit), 0);
	assert_int_equal(ob_store_doc_get(store, OB_STORE_LADDERS, "studio", &got), OB_ENOTFOUND);
	assert_null(got);
	assert_int_equal(ob_store_doc_delete(store, OB_STORE_LADDERS, "studio", &test_audit), OB_ENOTFOUND);
	json_decref(ladder);
	ob_store_close(&store);
}

static void test_a_ladder_in_use_stays(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	json_t *ladder = json_pack("{s:s}", "id", "studio");
	json_t *channel = json_pack("{s:s, s:s}", "id", "news", "ladder", "studio");
	json_t *users;

	assert_int_equal(ob_store_doc_put(store, OB_STORE_LADDERS, ladder, true, &test_audit), 0);
	assert_int_equal(ob_store_doc_put(store, OB_STORE_CHANNELS, channel, true, &test_audit), 0);
	assert_int_equal(ob_store_doc_delete(store, OB_STORE_LADDERS, "studio", &test_audit),
			 OB_ECONFLICT);
	users = ob_store_channels_using_ladder(store, "studio");
	assert_int_equal(json_array_size(users), 1);
	assert_string_equal(json_string_value(json_array_get(users, 0)), "news");
	json_decref(users);
	assert_int_equal(ob_store_doc_delete(store, OB_STORE_CHANNELS, "news", &test_audit), 0);
	assert_int_equal(ob_store_doc_delete(store, OB_STORE_LADDERS, "studio", &test_audit), 0);
	json_decref(ladder);
	json_decref(channel);
	ob_store_close(&store);
}

static void test_backup_is_a_complete_store(void **state)
{
	struct fixture *f = *state;
	struct ob_store *store = open_ok(f);
	json_t *patch = json_pack("{s:s}", "box_name", "backed-up");
	char err[256];
	char dest[128];
	struct fixture copy;
	json_t *settings;

	assert_int_equal(ob_store_settings_patch(store, patch, &test_audit, err, sizeof(err)), 0);
	strcpy(copy.dir, "/tmp/ob-backup-XXXXXX");
	assert_non_null(mkdtemp(copy.dir));
	snprintf(dest, sizeof(dest), "%s/%s", copy.dir, OB_STORE_FILE);
	assert_int_equal(ob_store_backup(store, dest, err, sizeof(err)), 0);
	ob_store_close(&store);
	store = open_ok(&copy);
	settings = ob_store_settings_get(store);
	assert_string_equal(json_string_value(json_object_get(settings, "box_name")), "backed-up");
	json_decref(settings);
	ob_store_close(&store);
	snprintf(dest, sizeof(dest), "rm -rf %s", copy.dir);
	assert_int_equal(system(dest), 0);
	json_decref(patch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_store_is_migrated_to_latest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt_store_is_refused_with_a_way_out, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_damaged_pages_fail_quick_check, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_settings_persist_across_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_patch_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change_without_audit_rolls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_stored_setting_is_ignored, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_users_and_the_last_admin, setup, teardown),
		cmocka_unit_test(test_user_name_rules),
		cmocka_unit_test_setup_teardown(test_apikeys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_change_is_audited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ladders_put_get_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_a_ladder_in_use_stays, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backup_is_a_complete_store, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
