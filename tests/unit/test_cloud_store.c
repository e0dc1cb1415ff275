/* Control-plane sync in the store: a bundle applied and rolled back leaves the store exactly
 * as it stood, for every part and whether or not the part existed before; a confirmed one
 * keeps its change and drops its undo; a change with too many token keys, a failing step
 * (every table a step writes, made to fail in turn) or a locked store changes nothing and
 * records nothing; a failed rollback leaves the bundle applied and pending; the highest
 * generation, a bundle left pending across a restart, the bounded history, commands that
 * run once, the enrollment and the sync's state. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access/entitle.h"
#include "cloud/internal.h"
#include "core/err.h"
#include "core/util.h"
#include "engine/engine.h"
#include "store/store.h"

#define SECRET1 "00112233445566778899aabbccddeeff"
#define SECRET2 "ffeeddccbbaa99887766554433221100"
#define FAR_FUTURE_MS INT64_C(4102444800000) /* 2100-01-01 */
#define LADDER(id, kbps) "{\"id\":\"" id "\",\"name\":\"Site\",\"rungs\":[{\"width\":1280," \
			 "\"height\":720,\"video_bitrate_kbps\":" #kbps "}]}"
#define CHANNEL(name, more) "{\"name\":\"" name "\",\"input\":{\"url\":\"test://pattern\"}" more "}"
#define KEY(id) "{\"id\":\"" id "\",\"secret_hex\":\"" SECRET1 "\"}"

struct fixture {
	char dir[64];
	char db[128];
	struct ob_store *store;
};

static const struct ob_audit test_audit = { .actor = "user:admin", .action = "test.change" };
static const struct ob_audit cloud_audit = { .actor = "cloud", .action = "cloud.apply",
					     .target = "a bundle" };

static void open_store(struct fixture *f)
{
	char err[1024] = "";

	if (ob_store_open(f->dir, &f->store, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
}

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	snprintf(f.dir, sizeof(f.dir), "/tmp/ob-cloud-store-XXXXXX");
	if (!mkdtemp(f.dir))
		return -1;
	snprintf(f.db, sizeof(f.db), "%s/%s", f.dir, OB_STORE_FILE);
	open_store(&f);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	ob_store_close(&f->store);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	return system(cmd) == 0 ? 0 : -1;
}

static json_t *parse(const char *text)
{
	json_error_t jerr;
	json_t *value = json_loads(text, JSON_DECODE_ANY, &jerr);

	if (!value)
		fail_msg("test JSON does not parse: %s: %s", jerr.text, text);
	return value;
}

/* Runs SQL through a second connection, as another process would. */
static void side_exec(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* One JSON text that a query through a second connection returns, parsed. */
static json_t *side_json(struct fixture *f, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	json_t *out;

	assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, sql, -1, &stmt, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	out = sqlite3_column_text(stmt, 0) ? parse((const char *)sqlite3_column_text(stmt, 0))
					   : json_null();
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return out;
}

/* Starts the data directory afresh: an empty store. */
static void reset(struct fixture *f)
{
	char path[192];

	ob_store_close(&f->store);
	unlink(f->db);
	snprintf(path, sizeof(path), "%s-wal", f->db);
	unlink(path);
	snprintf(path, sizeof(path), "%s-shm", f->db);
	unlink(path);
	open_store(f);
}

/* Everything a bundle can change, as the box reads it through the store's functions, and the
 * rows beneath (which settings are stored rather than at their default, revocation ids,
 * the documents' exact text): a store restored exactly gives the same document. */
static json_t *state_of(struct fixture *f)
{
	struct ob_access_key_row keys[16];
	json_t *key_rows = json_array();
	json_t *policy = NULL;
	size_t count = 0;

	assert_int_equal(ob_store_access_policy_get(f->store, &policy), 0);
	assert_int_equal(ob_store_access_keys_load(f->store, keys, 16, &count), 0);
	for (size_t i = 0; i < count; i++) {
		char hex[2 * OB_ACCESS_KEY_SECRET_MAX + 1];

		ob_hex_encode(keys[i].secret, keys[i].secret_len, hex);
		json_array_append_new(key_rows,
				      json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:I}", "id",
						keys[i].id, "secret", hex, "fingerprint",
						keys[i].fingerprint, "signing", keys[i].signing,
						"source", keys[i].source, "created_by",
						keys[i].created_by, "created_ms",
						(json_int_t)keys[i].created_ms));
	}
	ob_secure_zero(keys, sizeof(keys));
	return json_pack(
		"{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "policy",
		policy ? policy : json_null(), "keys", key_rows, "key_list",
		ob_store_access_key_list(f->store), "revocations",
		/* at 1 ms after the epoch: nothing has expired, so nothing is deleted */
		ob_store_access_revocation_list(f->store, 1), "ladders",
		ob_store_doc_list(f->store, OB_STORE_LADDERS), "channels",
		ob_store_doc_list(f->store, OB_STORE_CHANNELS), "settings",
		ob_store_settings_get(f->store), "settings_rows",
		side_json(f, "SELECT json_group_object(name, value) FROM (SELECT name, value FROM "
			     "settings ORDER BY name)"),
		"revocation_rows",
		side_json(f, "SELECT json_group_array(json_array(id, kind, value, reason, "
			     "created_by, created_ms, expires_ms)) FROM (SELECT * FROM "
			     "access_revocations ORDER BY id)"),
		"key_rows",
		side_json(f, "SELECT json_group_array(json_array(id, hex(secret), fingerprint, "
			     "signing, source, created_by, created_ms)) FROM (SELECT * FROM "
			     "access_keys ORDER BY id)"),
		"document_rows",
		side_json(f, "SELECT json_array((SELECT json_group_array(json_array(id, document)) "
			     "FROM (SELECT * FROM ladders ORDER BY id)), (SELECT "
			     "json_group_array(json_array(id, document)) FROM (SELECT * FROM channels "
			     "ORDER BY id)))"),
		"policy_rows", side_json(f, "SELECT json_group_array(document) FROM access_policy"));
}

/* Fails naming the first part of the state that differs, with both values. */
static void assert_same_state(const json_t *want, const json_t *got, const char *what)
{
	const char *part;
	json_t *value;

	json_object_foreach((json_t *)want, part, value) {
		if (!json_equal(value, json_object_get(got, part))) {
			char *a = json_dumps(value, JSON_SORT_KEYS | JSON_ENCODE_ANY);
			char *b = json_dumps(json_object_get(got, part), JSON_SORT_KEYS |
					     JSON_ENCODE_ANY);

			fail_msg("%s: the store's %s differ\n  before: %s\n  after:  %s", what, part,
				 a, b ? b : "(none)");
		}
	}
	assert_int_equal(json_object_size(want), json_object_size(got));
}

/* The store's own state before a bundle: something in every part a bundle sets. */
static void populate(struct fixture *f)
{
	static const struct {
		const char *id;
		const char *hex;
		const char *source;
		const char *created_by;
		int64_t created_ms;
	} keys[] = {
		{ "local-1", SECRET1, "imported", "user:admin", 1000 },
		{ "local-2", SECRET2, "generated", "user:admin", 2000 },
		{ "cloud-old", SECRET2 SECRET1, "cloud", "cloud", 3000 },
	};
	json_t *doc = parse("{\"risk_classes\":{\"standard\":{\"ttl_seconds\":3600,"
			    "\"max_ttl_seconds\":14400},\"high\":{\"ttl_seconds\":300,"
			    "\"max_ttl_seconds\":900}},\"default_risk_class\":\"standard\"}");
	json_t *patch = parse("{\"box_name\":\"before\",\"session_idle_timeout_s\":900}");
	struct ob_audit by_cloud = test_audit;
	char err[512];

	assert_int_equal(ob_store_access_policy_put(f->store, doc, &test_audit), 0);
	json_decref(doc);
	for (size_t i = 0; i < OB_ARRAY_SIZE(keys); i++) {
		struct ob_access_key_row row = { .created_ms = keys[i].created_ms };
		struct ob_token_key parsed;

		assert_int_equal(ob_access_token_key_from_hex(keys[i].id, keys[i].hex, &parsed), 0);
		ob_strlcpy(row.id, keys[i].id, sizeof(row.id));
		memcpy(row.secret, parsed.secret, parsed.secret_len);
		row.secret_len = parsed.secret_len;
		ob_strlcpy(row.fingerprint, "0123456789abcdef", sizeof(row.fingerprint));
		ob_strlcpy(row.source, keys[i].source, sizeof(row.source));
		ob_strlcpy(row.created_by, keys[i].created_by, sizeof(row.created_by));
		assert_int_equal(ob_store_access_key_add(f->store, &row, &test_audit), 0);
	}
	assert_int_equal(ob_store_access_revocation_add(f->store, "token", "t-old", "lost", 0,
							&test_audit, NULL), 0);
	assert_int_equal(ob_store_access_revocation_add(f->store, "viewer", "v-old", NULL,
							FAR_FUTURE_MS, &test_audit, NULL), 0);
	by_cloud.actor = "cloud";
	assert_int_equal(ob_store_access_revocation_add(f->store, "token", "t-cloud", NULL, 0,
							&by_cloud, NULL), 0);
	doc = parse(LADDER("site-a", 3000));
	assert_int_equal(ob_store_doc_put(f->store, OB_STORE_LADDERS, doc, true, &test_audit), 0);
	json_decref(doc);
	doc = parse(LADDER("site-b", 2000));
	assert_int_equal(ob_store_doc_put(f->store, OB_STORE_LADDERS, doc, true, &test_audit), 0);
	json_decref(doc);
	doc = parse(CHANNEL("News", ",\"ladder\":\"site-a\",\"risk_class\":\"high\""));
	ob_engine_channel_fill_defaults(doc);
	assert_int_equal(ob_store_doc_put(f->store, OB_STORE_CHANNELS, doc, true, &test_audit), 0);
	json_decref(doc);
	doc = parse(CHANNEL("Sport", ""));
	ob_engine_channel_fill_defaults(doc);
	assert_int_equal(ob_store_doc_put(f->store, OB_STORE_CHANNELS, doc, true, &test_audit), 0);
	json_decref(doc);
	assert_int_equal(ob_store_settings_patch(f->store, patch, &test_audit, err, sizeof(err)), 0);
	json_decref(patch);
}

/* The change a payload makes, checked by the plan against the store (new reference). */
static json_t *change_of(struct fixture *f, const char *payload_text)
{
	struct ob_access_policy policy;
	struct ob_cloud_plan plan;
	json_t *payload = parse(payload_text);
	json_t *stored = NULL;
	json_t *change;
	char err[768];

	ob_access_policy_defaults(&policy);
	assert_int_equal(ob_store_access_policy_get(f->store, &stored), 0);
	if (stored)
		assert_int_equal(ob_access_policy_from_json(stored, &policy, err, sizeof(err)), 0);
	json_decref(stored);
	if (ob_cloud_plan_build(f->store, &policy, payload, ob_time_wall_ms(), &plan, err,
				sizeof(err)) != 0)
		fail_msg("plan: %s", err);
	change = json_incref(plan.change);
	ob_cloud_plan_clear(&plan);
	json_decref(payload);
	return change;
}

static int apply(struct fixture *f, int64_t generation, const json_t *change, char *err,
		 size_t err_len)
{
	char jws[64];
	const struct ob_store_cloud_bundle bundle = {
		.generation = generation,
		.source = "poll",
		.etag = "\"etag-1\"",
		.jws = jws,
	};

	snprintf(jws, sizeof(jws), "header.payload-%lld.signature", (long long)generation);
	return ob_store_cloud_apply(f->store, &bundle, change, &cloud_audit, err, err_len);
}

static void apply_ok(struct fixture *f, int64_t generation, const json_t *change)
{
	char err[512] = "";

	if (apply(f, generation, change, err, sizeof(err)) != 0)
		fail_msg("apply %lld: %s", (long long)generation, err);
}

static json_t *rollback_ok(struct fixture *f, int64_t generation)
{
	const struct ob_audit audit = { .actor = "cloud", .action = "cloud.rollback" };
	json_t *restored = NULL;

	assert_int_equal(ob_store_cloud_rollback(f->store, generation, "health check failed",
						 &audit, &restored), 0);
	assert_true(json_is_object(restored));
	return restored;
}

/* A bundle's row, as the store lists it; NULL when there is none. */
static json_t *bundle_row(struct fixture *f, int64_t generation)
{
	json_t *list = ob_store_cloud_bundles_list(f->store, true);
	json_t *found = NULL;
	json_t *item;
	size_t i;

	json_array_foreach(list, i, item)
		if (json_integer_value(json_object_get(item, "generation")) == generation)
			found = json_incref(item);
	json_decref(list);
	return found;
}

/* ---- apply and roll back: exactly what stood before ---- */

static const char everything[] =
	"{\"access\":{\"policy\":{\"risk_classes\":{\"standard\":{\"ttl_seconds\":600},"
	"\"high\":{\"ttl_seconds\":60}},\"default_risk_class\":\"high\"},"
	"\"keys\":[{\"id\":\"cloud-1\",\"secret_hex\":\"" SECRET1 "\",\"signing\":true},"
	"{\"id\":\"local-2\",\"secret_hex\":\"" SECRET1 SECRET1 "\"}],"
	"\"revocations\":[{\"token_id\":\"t-new\",\"reason\":\"leak\"},{\"viewer_id\":\"v-old\"},"
	"{\"viewer_id\":\"v-later\",\"expires_at\":\"2099-01-01T00:00:00Z\"}]},"
	"\"ladders\":[" LADDER("site-a", 2500) "," LADDER("site-new", 1800) "],"
	"\"channels\":[" CHANNEL("News", ",\"ladder\":\"site-new\",\"access\":\"premium\"") ","
	CHANNEL("Fresh", ",\"ladder\":\"1080p-5\"") "],"
	"\"settings\":{\"box_name\":\"after\",\"login_free_attempts\":9}}";

static const char *const part_payloads[] = {
	"{\"access\":{\"policy\":{\"risk_classes\":{\"standard\":{\"ttl_seconds\":600},"
	"\"high\":{\"ttl_seconds\":60}},\"default_risk_class\":\"high\"}}}",
	"{\"access\":{\"keys\":[{\"id\":\"cloud-1\",\"secret_hex\":\"" SECRET1 "\",\"signing\":true},"
	"{\"id\":\"local-2\",\"secret_hex\":\"" SECRET1 SECRET1 "\"}]}}",
	"{\"access\":{\"keys\":[" KEY("cloud-2") "]}}",
	"{\"access\":{\"revocations\":[{\"token_id\":\"t-new\",\"reason\":\"leak\"},"
	"{\"viewer_id\":\"v-old\"}]}}",
	"{\"ladders\":[" LADDER("site-a", 2500) "," LADDER("site-new", 1800) "]}",
	"{\"channels\":[" CHANNEL("News", ",\"ladder\":\"1080p-5\"") "," CHANNEL("Fresh", "") "]}",
	"{\"settings\":{\"box_name\":\"after\",\"login_free_attempts\":9}}",
	everything,
};

static void test_rollback_restores_every_part(void **state)
{
	struct fixture *f = *state;
	int64_t generation = 0;

	for (int populated = 0; populated <= 1; populated++) {
		for (size_t i = 0; i < OB_ARRAY_SIZE(part_payloads); i++) {
			json_t *change;
			json_t *before;
			json_t *during;
			json_t *after;
			json_t *restored;
			json_t *row;
			const char *name;
			json_t *value;

			reset(f);
			if (populated)
				populate(f);
			change = change_of(f, part_payloads[i]);
			before = state_of(f);
			apply_ok(f, ++generation, change);
			during = state_of(f);
			if (json_equal(before, during))
				fail_msg("payload %zu (%s store) changed nothing", i,
					 populated ? "populated" : "empty");
			assert_int_equal(ob_store_cloud_pending(f->store), generation);
			restored = rollback_ok(f, generation);
			after = state_of(f);
			assert_same_state(before, after, part_payloads[i]);
			/* The undo has the parts of the change, no others. */
			assert_int_equal(json_object_size(restored), json_object_size(change));
			json_object_foreach(change, name, value)
				assert_non_null(json_object_get(restored, name));
			assert_int_equal(ob_store_cloud_pending(f->store), 0);
			row = bundle_row(f, generation);
			assert_non_null(row);
			assert_string_equal(json_string_value(json_object_get(row, "status")),
					    "rolled_back");
			assert_string_equal(json_string_value(json_object_get(row, "error")),
					    "health check failed");
			json_decref(row);
			/* Rolled back once is rolled back for good. */
			{
				const struct ob_audit audit = { .actor = "cloud",
								.action = "cloud.rollback" };
				json_t *again = NULL;

				assert_int_equal(ob_store_cloud_rollback(f->store, generation, "x",
									 &audit, &again),
						 OB_ENOTFOUND);
				assert_null(again);
			}
			json_decref(restored);
			json_decref(after);
			json_decref(during);
			json_decref(before);
			json_decref(change);
		}
	}
}

/* What an apply of everything does to a store that had something in every part, and what
 * the undo says stood before. */
static void test_apply_replaces_the_parts(void **state)
{
	struct fixture *f = *state;
	struct ob_access_key_row keys[16];
	json_t *change;
	json_t *restored;
	json_t *doc = NULL;
	json_t *list;
	json_t *settings;
	size_t count;

	populate(f);
	change = change_of(f, everything);
	apply_ok(f, 1, change);

	/* Keys: the control plane's earlier key went, local-2 was replaced, the bundle's
	 * signing key signs and nothing else does. */
	assert_int_equal(ob_store_access_keys_load(f->store, keys, 16, &count), 0);
	assert_int_equal(count, 3);
	for (size_t i = 0; i < count; i++) {
		assert_string_not_equal(keys[i].id, "cloud-old");
		assert_int_equal(keys[i].signing, strcmp(keys[i].id, "cloud-1") == 0);
		if (strcmp(keys[i].id, "local-1") == 0) {
			assert_string_equal(keys[i].source, "imported");
			assert_int_equal(keys[i].created_ms, 1000);
		} else {
			assert_string_equal(keys[i].source, "cloud");
			assert_int_equal(keys[i].secret_len, strcmp(keys[i].id, "local-2") ? 16 : 32);
		}
	}
	/* Revocations: the control plane's earlier one went, the box's own stay (one the bundle
	 * revokes too among them, for the longer of the two times), the bundle's came. */
	list = ob_store_access_revocation_list(f->store, 1);
	assert_int_equal(json_array_size(list), 4);
	{
		json_t *item;
		size_t i;
		int found = 0;

		json_array_foreach(list, i, item) {
			const char *token = json_string_value(json_object_get(item, "token_id"));
			const char *viewer = json_string_value(json_object_get(item, "viewer_id"));
			const char *by = json_string_value(json_object_get(item, "created_by"));

			assert_false(token && strcmp(token, "t-cloud") == 0);
			if (token && strcmp(token, "t-old") == 0)
				found += strcmp(by, "user:admin") == 0;
			if (token && strcmp(token, "t-new") == 0)
				found += strcmp(by, "cloud") == 0;
			if (viewer && strcmp(viewer, "v-old") == 0)
				found += strcmp(by, "user:admin") == 0 &&
					 json_is_null(json_object_get(item, "expires_at"));
			if (viewer && strcmp(viewer, "v-later") == 0)
				found += !json_is_null(json_object_get(item, "expires_at"));
		}
		assert_int_equal(found, 4);
	}
	json_decref(list);
	/* Documents by id, replaced or added; the others stay. */
	assert_int_equal(ob_store_doc_get(f->store, OB_STORE_LADDERS, "site-a", &doc), 0);
	assert_int_equal(json_integer_value(json_object_get(
				 json_array_get(json_object_get(doc, "rungs"), 0), "video_bitrate_kbps")),
			 2500);
	json_decref(doc);
	assert_int_equal(ob_store_doc_get(f->store, OB_STORE_LADDERS, "site-b", &doc), 0);
	json_decref(doc);
	assert_int_equal(ob_store_doc_get(f->store, OB_STORE_CHANNELS, "fresh", &doc), 0);
	json_decref(doc);
	assert_int_equal(ob_store_doc_get(f->store, OB_STORE_CHANNELS, "news", &doc), 0);
	assert_string_equal(json_string_value(json_object_get(doc, "access")), "premium");
	json_decref(doc);
	/* Settings go into effect at once. */
	settings = ob_store_settings_get(f->store);
	assert_string_equal(json_string_value(json_object_get(settings, "box_name")), "after");
	assert_int_equal(ob_store_setting_int(f->store, "login_free_attempts"), 9);
	assert_int_equal(ob_store_setting_int(f->store, "session_idle_timeout_s"), 900);
	json_decref(settings);

	/* The undo: what stood, and null for what the bundle created. */
	restored = rollback_ok(f, 1);
	assert_true(json_is_object(json_object_get(restored, "policy")));
	assert_true(json_is_null(json_object_get(json_object_get(restored, "ladders"), "site-new")));
	assert_true(json_is_object(json_object_get(json_object_get(restored, "ladders"), "site-a")));
	assert_true(json_is_null(json_object_get(json_object_get(restored, "channels"), "fresh")));
	assert_true(json_is_null(json_object_get(json_object_get(restored, "settings"),
						 "login_free_attempts")));
	assert_string_equal(json_string_value(json_object_get(json_object_get(restored, "settings"),
							      "box_name")),
			    "\"before\"");
	assert_int_equal(json_array_size(json_object_get(restored, "keys")), 3);
	assert_int_equal(ob_store_setting_int(f->store, "login_free_attempts"), 5);
	json_decref(restored);
	json_decref(change);
}

/* A value the box revoked itself stays revoked when a bundle revokes it too and the next
 * bundle no longer does. */
static void test_own_revocations_outlast_bundles(void **state)
{
	struct fixture *f = *state;
	json_t *change;
	json_t *list;
	json_t *item;
	size_t i;
	int found = 0;

	populate(f);
	change = change_of(f, "{\"access\":{\"revocations\":[{\"viewer_id\":\"v-old\"},"
			      "{\"token_id\":\"t-old\",\"expires_at\":\"2099-01-01T00:00:00Z\"}]}}");
	apply_ok(f, 1, change);
	assert_int_equal(ob_store_cloud_confirm(f->store, 1), 0);
	json_decref(change);
	change = change_of(f, "{\"access\":{\"revocations\":[]}}");
	apply_ok(f, 2, change);
	assert_int_equal(ob_store_cloud_confirm(f->store, 2), 0);
	json_decref(change);
	list = ob_store_access_revocation_list(f->store, 1);
	json_array_foreach(list, i, item) {
		const char *token = json_string_value(json_object_get(item, "token_id"));
		const char *viewer = json_string_value(json_object_get(item, "viewer_id"));

		assert_string_equal(json_string_value(json_object_get(item, "created_by")),
				    "user:admin");
		/* the box's own never-expiring t-old was not cut short by the bundle's time */
		if (token && strcmp(token, "t-old") == 0)
			found += json_is_null(json_object_get(item, "expires_at"));
		/* v-old took the longer of the two: the bundle's, which never expires */
		if (viewer && strcmp(viewer, "v-old") == 0)
			found += json_is_null(json_object_get(item, "expires_at"));
	}
	assert_int_equal(found, 2);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
}

/* Without a signing key in the bundle, the key that signed before goes on signing; when the
 * bundle removed it, the oldest key signs. */
static void test_signing_key_after_apply(void **state)
{
	struct fixture *f = *state;
	struct ob_access_key_row keys[16];
	json_t *change;
	size_t count;

	populate(f);
	change = change_of(f, "{\"access\":{\"keys\":[" KEY("cloud-2") "]}}");
	apply_ok(f, 1, change);
	json_decref(change);
	assert_int_equal(ob_store_access_keys_load(f->store, keys, 16, &count), 0);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(keys[i].signing, strcmp(keys[i].id, "local-1") == 0);
	assert_int_equal(ob_store_cloud_confirm(f->store, 1), 0);

	/* Now the control plane's key signs; a bundle that drops it leaves the oldest. */
	change = change_of(f, "{\"access\":{\"keys\":[{\"id\":\"cloud-3\",\"secret_hex\":\""
			      SECRET1 "\",\"signing\":true}]}}");
	apply_ok(f, 2, change);
	json_decref(change);
	assert_int_equal(ob_store_cloud_confirm(f->store, 2), 0);
	change = change_of(f, "{\"access\":{\"keys\":[]}}");
	apply_ok(f, 3, change);
	json_decref(change);
	assert_int_equal(ob_store_access_keys_load(f->store, keys, 16, &count), 0);
	assert_int_equal(count, 2);
	assert_string_equal(keys[0].id, "local-1");
	assert_true(keys[0].signing);
	assert_false(keys[1].signing);
}

/* ---- confirm ---- */

static void test_confirm_keeps_the_change(void **state)
{
	struct fixture *f = *state;
	const struct ob_audit audit = { .actor = "cloud", .action = "cloud.rollback" };
	json_t *change;
	json_t *during;
	json_t *after;
	json_t *row;
	json_t *undo;
	json_t *restored = NULL;

	populate(f);
	change = change_of(f, everything);
	apply_ok(f, 4, change);
	undo = side_json(f, "SELECT json_array(status, undo IS NOT NULL, applied_ms IS NULL) FROM "
			    "cloud_bundles WHERE generation = 4");
	assert_string_equal(json_string_value(json_array_get(undo, 0)), "pending");
	assert_int_equal(json_integer_value(json_array_get(undo, 1)), 1);
	assert_int_equal(json_integer_value(json_array_get(undo, 2)), 1);
	json_decref(undo);
	during = state_of(f);
	row = bundle_row(f, 4);
	assert_string_equal(json_string_value(json_object_get(row, "status")), "pending");
	assert_string_equal(json_string_value(json_object_get(row, "source")), "poll");
	assert_string_equal(json_string_value(json_object_get(row, "etag")), "\"etag-1\"");
	assert_string_equal(json_string_value(json_object_get(row, "jws")), "header.payload-4.signature");
	assert_true(json_is_null(json_object_get(row, "applied_at")));
	json_decref(row);

	assert_int_equal(ob_store_cloud_confirm(f->store, 4), 0);
	after = state_of(f);
	assert_same_state(during, after, "confirm");
	assert_int_equal(ob_store_cloud_pending(f->store), 0);
	undo = side_json(f, "SELECT json_array(status, undo IS NULL, applied_ms IS NOT NULL) FROM "
			    "cloud_bundles WHERE generation = 4");
	assert_string_equal(json_string_value(json_array_get(undo, 0)), "applied");
	assert_int_equal(json_integer_value(json_array_get(undo, 1)), 1);
	assert_int_equal(json_integer_value(json_array_get(undo, 2)), 1);
	json_decref(undo);
	/* Without the jws the list leaves it out. */
	{
		json_t *list = ob_store_cloud_bundles_list(f->store, false);

		assert_int_equal(json_array_size(list), 1);
		assert_null(json_object_get(json_array_get(list, 0), "jws"));
		assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0),
								      "status")),
				    "applied");
		assert_true(json_is_string(json_object_get(json_array_get(list, 0), "applied_at")));
		json_decref(list);
	}
	/* An applied bundle cannot be confirmed again nor rolled back. */
	assert_int_equal(ob_store_cloud_confirm(f->store, 4), OB_ENOTFOUND);
	assert_int_equal(ob_store_cloud_confirm(f->store, 5), OB_ENOTFOUND);
	assert_int_equal(ob_store_cloud_rollback(f->store, 4, "x", &audit, &restored), OB_ENOTFOUND);
	assert_null(restored);
	json_decref(after);
	after = state_of(f);
	assert_same_state(during, after, "refused rollback");
	json_decref(after);
	json_decref(during);
	json_decref(change);
}

/* ---- what fails changes nothing ---- */

static void assert_nothing_recorded(struct fixture *f)
{
	json_t *list = ob_store_cloud_bundles_list(f->store, true);

	assert_int_equal(json_array_size(list), 0);
	assert_int_equal(ob_store_cloud_highest_generation(f->store), 0);
	assert_int_equal(ob_store_cloud_pending(f->store), 0);
	json_decref(list);
}

static void test_too_many_keys_change_nothing(void **state)
{
	struct fixture *f = *state;
	json_t *before;
	json_t *after;
	json_t *change;
	char err[512] = "";

	populate(f);
	for (int i = 3; i <= 5; i++) {
		struct ob_access_key_row row = { .secret_len = 16, .created_ms = 4000 + i };

		snprintf(row.id, sizeof(row.id), "local-%d", i);
		memset(row.secret, i, row.secret_len);
		ob_strlcpy(row.fingerprint, "0123456789abcdef", sizeof(row.fingerprint));
		ob_strlcpy(row.source, "generated", sizeof(row.source));
		ob_strlcpy(row.created_by, "user:admin", sizeof(row.created_by));
		assert_int_equal(ob_store_access_key_add(f->store, &row, &test_audit), 0);
	}
	/* Five keys of the box's own and one of the control plane's: four from a bundle make
	 * nine, with the policy and settings before them in the same transaction. */
	change = change_of(f, "{\"access\":{\"policy\":{},\"keys\":[" KEY("c1") "," KEY("c2") ","
			      KEY("c3") "," KEY("c4") "]},\"settings\":{\"box_name\":\"nine\"}}");
	before = state_of(f);
	assert_int_equal(apply(f, 1, change, err, sizeof(err)), OB_ETOOBIG);
	assert_non_null(strstr(err, "keys: more token keys than the box holds (8)"));
	after = state_of(f);
	assert_same_state(before, after, "too many keys");
	assert_nothing_recorded(f);
	json_decref(after);
	json_decref(change);

	/* Three make eight: the control plane's earlier key is replaced, not added to. */
	change = change_of(f, "{\"access\":{\"keys\":[" KEY("c1") "," KEY("c2") "," KEY("c3") "]}}");
	apply_ok(f, 1, change);
	{
		struct ob_access_key_row keys[16];
		size_t count;

		assert_int_equal(ob_store_access_keys_load(f->store, keys, 16, &count), 0);
		assert_int_equal(count, 8);
	}
	json_decref(change);
	json_decref(before);
}

/* Changes the store cannot take, each failing at a step after the policy, keys and
 * settings were written in the same transaction. */
static const char *const bad_changes[] = {
	"{\"ladders\":5}",
	"{\"ladders\":[" LADDER("site-x", 1000) "]}",
	"{\"ladders\":{\"site-x\":null}}",
	"{\"ladders\":{\"site-x\":5}}",
	"{\"ladders\":{\"site-x\":\"text\"}}",
	"{\"channels\":{\"news\":[]}}",
	"{\"channels\":\"news\"}",
	"{\"settings\":{\"box_name\":null}}",
	"{\"settings\":{\"box_name\":7}}",
	"{\"settings\":[\"box_name\"]}",
	"{\"revocations\":[{\"kind\":\"session\",\"value\":\"x\"}]}",
	"{\"revocations\":[{\"kind\":\"token\"}]}",
	"{\"revocations\":{\"kind\":\"token\",\"value\":\"x\"}}",
	"{\"revocations\":[5]}",
	"{\"keys\":[{\"id\":\"k\",\"secret_hex\":\"zz\",\"fingerprint\":\"f\",\"source\":\"cloud\","
	"\"created_by\":\"cloud\"}]}",
	"{\"keys\":[{\"id\":\"k\",\"secret_hex\":\"0011\",\"fingerprint\":\"f\",\"source\":"
	"\"cloud\",\"created_by\":\"cloud\"}]}",
	"{\"keys\":[{\"secret_hex\":\"" SECRET1 "\",\"fingerprint\":\"f\",\"source\":\"cloud\","
	"\"created_by\":\"cloud\"}]}",
	"{\"keys\":{\"id\":\"k\"}}",
	"{\"keys\":[7]}",
	"{\"policy\":5}",
	"{\"policy\":[]}",
};

static void test_failing_step_changes_nothing(void **state)
{
	struct fixture *f = *state;

	populate(f);
	for (size_t i = 0; i < OB_ARRAY_SIZE(bad_changes); i++) {
		json_t *good = change_of(f, "{\"access\":{\"policy\":{\"risk_classes\":{\"high\":"
					    "{\"ttl_seconds\":60}},\"default_risk_class\":\"high\"}},"
					    "\"settings\":{\"login_free_attempts\":3}}");
		json_t *bad = parse(bad_changes[i]);
		json_t *before = state_of(f);
		json_t *after;
		char err[512] = "";
		int ret;

		json_object_update(good, bad);
		ret = apply(f, 1, good, err, sizeof(err));
		if (ret == 0)
			fail_msg("%s: applied", bad_changes[i]);
		if (!err[0])
			fail_msg("%s: failed (%d) without a message", bad_changes[i], ret);
		after = state_of(f);
		assert_same_state(before, after, bad_changes[i]);
		assert_nothing_recorded(f);
		assert_int_equal(ob_store_setting_int(f->store, "login_free_attempts"), 5);
		json_decref(after);
		json_decref(before);
		json_decref(bad);
		json_decref(good);
	}
}

/* Every statement an apply runs, made to fail in turn by a trigger: each failure leaves the
 * store as it was and records nothing. */
static const struct {
	const char *table;
	const char *op;
} apply_steps[] = {
	{ "access_policy", "UPDATE" },   { "access_keys", "DELETE" },
	{ "access_keys", "UPDATE" },     { "access_keys", "INSERT" },
	{ "access_revocations", "DELETE" }, { "access_revocations", "INSERT" },
	{ "access_revocations", "UPDATE" },
	{ "ladders", "INSERT" },         { "ladders", "UPDATE" },
	{ "channels", "INSERT" },        { "channels", "UPDATE" },
	{ "settings", "INSERT" },        { "settings", "UPDATE" },
	{ "cloud_bundles", "INSERT" },   { "audit", "INSERT" },
};

static void inject_fault(struct fixture *f, const char *table, const char *op)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "CREATE TRIGGER fault BEFORE %s ON %s BEGIN SELECT "
		 "RAISE(ABORT, 'injected fault'); END", op, table);
	side_exec(f, sql);
}

static void test_every_apply_step_can_fail(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < OB_ARRAY_SIZE(apply_steps); i++) {
		json_t *change;
		json_t *before;
		json_t *after;
		char err[512] = "";
		int ret;

		reset(f);
		populate(f);
		change = change_of(f, everything);
		before = state_of(f);
		inject_fault(f, apply_steps[i].table, apply_steps[i].op);
		ret = apply(f, 9, change, err, sizeof(err));
		if (ret == 0)
			fail_msg("%s %s did not fail", apply_steps[i].op, apply_steps[i].table);
		if (!strstr(err, "injected fault"))
			fail_msg("%s %s: message \"%s\"", apply_steps[i].op, apply_steps[i].table, err);
		side_exec(f, "DROP TRIGGER fault");
		after = state_of(f);
		assert_same_state(before, after, apply_steps[i].table);
		assert_nothing_recorded(f);
		/* The same change goes through once the fault is gone. */
		apply_ok(f, 9, change);
		json_decref(after);
		json_decref(before);
		json_decref(change);
	}
}

/* Every statement a rollback runs, made to fail in turn: the bundle stays applied and
 * pending, and the rollback goes through once the fault is gone. */
static const struct {
	const char *table;
	const char *op;
} rollback_steps[] = {
	{ "access_policy", "DELETE" },   { "access_policy", "INSERT" },
	{ "access_keys", "DELETE" },     { "access_keys", "INSERT" },
	{ "access_revocations", "DELETE" }, { "access_revocations", "INSERT" },
	{ "ladders", "DELETE" },         { "ladders", "INSERT" },
	{ "channels", "DELETE" },        { "channels", "INSERT" },
	{ "settings", "DELETE" },        { "settings", "INSERT" },
	{ "cloud_bundles", "UPDATE" },   { "audit", "INSERT" },
};

static void test_every_rollback_step_can_fail(void **state)
{
	struct fixture *f = *state;
	const struct ob_audit audit = { .actor = "cloud", .action = "cloud.rollback" };

	for (size_t i = 0; i < OB_ARRAY_SIZE(rollback_steps); i++) {
		json_t *change;
		json_t *before;
		json_t *during;
		json_t *after;
		json_t *restored = NULL;

		reset(f);
		populate(f);
		change = change_of(f, everything);
		before = state_of(f);
		apply_ok(f, 9, change);
		during = state_of(f);
		inject_fault(f, rollback_steps[i].table, rollback_steps[i].op);
		if (ob_store_cloud_rollback(f->store, 9, "bad", &audit, &restored) == 0)
			fail_msg("rollback: %s %s did not fail", rollback_steps[i].op,
				 rollback_steps[i].table);
		assert_null(restored);
		side_exec(f, "DROP TRIGGER fault");
		after = state_of(f);
		assert_same_state(during, after, rollback_steps[i].table);
		assert_int_equal(ob_store_cloud_pending(f->store), 9);
		json_decref(after);
		restored = rollback_ok(f, 9);
		after = state_of(f);
		assert_same_state(before, after, "rollback after the fault");
		json_decref(restored);
		json_decref(after);
		json_decref(during);
		json_decref(before);
		json_decref(change);
	}
}

/* A store another process holds the write lock of (as good as read-only for us): apply and
 * rollback fail after the busy timeout, say so, and change nothing. */
static void test_locked_store(void **state)
{
	struct fixture *f = *state;
	const struct ob_audit audit = { .actor = "cloud", .action = "cloud.rollback" };
	json_t *change;
	json_t *before;
	json_t *during;
	json_t *after;
	json_t *restored = NULL;
	sqlite3 *holder;
	char err[512] = "";

	populate(f);
	change = change_of(f, everything);
	before = state_of(f);
	apply_ok(f, 1, change);
	during = state_of(f);
	assert_int_equal(sqlite3_open(f->db, &holder), SQLITE_OK);
	assert_int_equal(sqlite3_exec(holder, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(apply(f, 2, change, err, sizeof(err)), OB_EIO);
	if (!err[0])
		fail_msg("a locked store failed the apply without a message");
	assert_int_not_equal(ob_store_cloud_rollback(f->store, 1, "bad", &audit, &restored), 0);
	assert_null(restored);
	sqlite3_exec(holder, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(holder);
	after = state_of(f);
	assert_same_state(during, after, "locked");
	json_decref(after);
	assert_null(bundle_row(f, 2));
	assert_int_equal(ob_store_cloud_pending(f->store), 1);
	restored = rollback_ok(f, 1);
	after = state_of(f);
	assert_same_state(before, after, "rollback after the lock");
	json_decref(restored);
	json_decref(after);
	json_decref(during);
	json_decref(before);
	json_decref(change);
}

/* ---- generations, a restart, the history ---- */

static void test_highest_generation_counts_rolled_back(void **state)
{
	struct fixture *f = *state;
	json_t *change = change_of(f, "{\"settings\":{\"box_name\":\"g\"}}");

	assert_int_equal(ob_store_cloud_highest_generation(f->store), 0);
	assert_int_equal(ob_store_cloud_pending(f->store), 0);
	apply_ok(f, 5, change);
	assert_int_equal(ob_store_cloud_highest_generation(f->store), 5);
	json_decref(rollback_ok(f, 5));
	assert_int_equal(ob_store_cloud_highest_generation(f->store), 5);
	apply_ok(f, 6, change);
	assert_int_equal(ob_store_cloud_confirm(f->store, 6), 0);
	assert_int_equal(ob_store_cloud_highest_generation(f->store), 6);
	/* A rollback of an unknown generation finds nothing. */
	{
		const struct ob_audit audit = { .actor = "cloud", .action = "cloud.rollback" };
		json_t *restored = NULL;

		assert_int_equal(ob_store_cloud_rollback(f->store, 7, "x", &audit, &restored),
				 OB_ENOTFOUND);
		assert_null(restored);
	}
	/* Forgetting the enrollment keeps the bundles and the highest generation. */
	{
		json_t *config = json_pack("{s:n, s:[s], s:s}", "url", "bundle_keys", "pem", "state",
					   "airgapped");

		assert_int_equal(ob_store_cloud_config_put(f->store, config, &test_audit), 0);
		assert_int_equal(ob_store_cloud_config_delete(f->store, &test_audit), 0);
		json_decref(config);
	}
	assert_int_equal(ob_store_cloud_highest_generation(f->store), 6);
	json_decref(change);
}

/* The box stopped between apply and confirm: the bundle is still pending when the store
 * opens again, and its rollback restores what stood before it. */
static void test_pending_survives_a_restart(void **state)
{
	struct fixture *f = *state;
	json_t *change;
	json_t *before;
	json_t *during;
	json_t *after;

	populate(f);
	change = change_of(f, everything);
	before = state_of(f);
	apply_ok(f, 7, change);
	during = state_of(f);
	ob_store_close(&f->store);
	open_store(f);
	assert_int_equal(ob_store_cloud_pending(f->store), 7);
	assert_int_equal(ob_store_cloud_highest_generation(f->store), 7);
	after = state_of(f);
	assert_same_state(during, after, "reopened");
	json_decref(after);
	json_decref(rollback_ok(f, 7));
	after = state_of(f);
	assert_same_state(before, after, "rolled back after a restart");
	assert_int_equal(ob_store_cloud_pending(f->store), 0);
	json_decref(after);
	/* And across another restart it stays rolled back. */
	ob_store_close(&f->store);
	open_store(f);
	after = state_of(f);
	assert_same_state(before, after, "reopened after the rollback");
	json_decref(after);
	json_decref(during);
	json_decref(before);
	json_decref(change);
}

static json_t *generations(struct fixture *f)
{
	json_t *list = ob_store_cloud_bundles_list(f->store, false);
	json_t *out = json_array();
	json_t *item;
	size_t i;

	json_array_foreach(list, i, item)
		json_array_append(out, json_object_get(item, "generation"));
	json_decref(list);
	return out;
}

static void test_history_is_bounded(void **state)
{
	struct fixture *f = *state;
	json_t *change = change_of(f, "{}");
	json_t *list;

	/* Confirmed ones: the newest 20. */
	for (int g = 1; g <= 25; g++) {
		apply_ok(f, g, change);
		assert_int_equal(ob_store_cloud_confirm(f->store, g), 0);
	}
	list = generations(f);
	assert_int_equal(json_array_size(list), 20);
	assert_int_equal(json_integer_value(json_array_get(list, 0)), 25);
	assert_int_equal(json_integer_value(json_array_get(list, 19)), 6);
	json_decref(list);

	/* Rolled-back ones are bounded too, and the last applied stays among them. */
	for (int g = 100; g < 130; g++) {
		apply_ok(f, g, change);
		json_decref(rollback_ok(f, g));
	}
	list = generations(f);
	assert_int_equal(json_array_size(list), 21);
	assert_int_equal(json_integer_value(json_array_get(list, 0)), 129);
	assert_int_equal(json_integer_value(json_array_get(list, 19)), 110);
	assert_int_equal(json_integer_value(json_array_get(list, 20)), 25);
	json_decref(list);

	/* A confirm of a generation below the newest 20 keeps it as the last applied. */
	apply_ok(f, 50, change);
	assert_int_equal(ob_store_cloud_confirm(f->store, 50), 0);
	list = generations(f);
	assert_int_equal(json_array_size(list), 21);
	assert_int_equal(json_integer_value(json_array_get(list, 20)), 50);
	json_decref(list);
	assert_int_equal(ob_store_cloud_highest_generation(f->store), 129);
	json_decref(change);
}

/* With no bundle ever applied, rolled-back ones are still bounded. */
static void test_history_bounded_without_an_applied_bundle(void **state)
{
	struct fixture *f = *state;
	json_t *change = change_of(f, "{}");
	json_t *list;

	for (int g = 1; g <= 25; g++) {
		apply_ok(f, g, change);
		json_decref(rollback_ok(f, g));
	}
	list = generations(f);
	assert_int_equal(json_array_size(list), 20);
	assert_int_equal(json_integer_value(json_array_get(list, 19)), 6);
	json_decref(list);
	assert_int_equal(ob_store_cloud_highest_generation(f->store), 25);
	json_decref(change);
}

/* ---- commands ---- */

static void test_commands_run_once(void **state)
{
	struct fixture *f = *state;
	json_t *list;

	assert_int_equal(ob_store_cloud_command_begin(f->store, "c-1", 5, "reboot"), 0);
	assert_int_equal(ob_store_cloud_command_begin(f->store, "c-1", 5, "reboot"), OB_EEXIST);
	assert_int_equal(ob_store_cloud_command_begin(f->store, "c-1", 6, "collect_diagnostics"),
			 OB_EEXIST);
	list = ob_store_cloud_commands_list(f->store, 10);
	assert_int_equal(json_array_size(list), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "status")),
			    "running");
	json_decref(list);
	assert_int_equal(ob_store_cloud_command_finish(f->store, "c-1", true, "rebooted"), 0);
	assert_int_equal(ob_store_cloud_command_begin(f->store, "c-1", 7, "reboot"), OB_EEXIST);
	assert_int_equal(ob_store_cloud_command_begin(f->store, "c-2", 7, "rotate_token_keys"), 0);
	assert_int_equal(ob_store_cloud_command_finish(f->store, "c-2", false, "no room"), 0);

	list = ob_store_cloud_commands_list(f->store, 10);
	assert_int_equal(json_array_size(list), 2);
	json_decref(list);
	list = ob_store_cloud_commands_list(f->store, 0); /* the default limit */
	assert_int_equal(json_array_size(list), 2);
	{
		json_t *item;
		size_t i;
		int seen = 0;

		json_array_foreach(list, i, item) {
			const char *id = json_string_value(json_object_get(item, "id"));

			if (strcmp(id, "c-1") == 0) {
				assert_int_equal(json_integer_value(json_object_get(item, "generation")),
						 5);
				assert_string_equal(json_string_value(json_object_get(item, "type")),
						    "reboot");
				assert_string_equal(json_string_value(json_object_get(item, "status")),
						    "done");
				assert_string_equal(json_string_value(json_object_get(item, "detail")),
						    "rebooted");
				seen++;
			} else {
				assert_string_equal(json_string_value(json_object_get(item, "status")),
						    "failed");
				assert_string_equal(json_string_value(json_object_get(item, "detail")),
						    "no room");
				seen++;
			}
			assert_true(json_is_string(json_object_get(item, "at")));
		}
		assert_int_equal(seen, 2);
	}
	json_decref(list);
	list = ob_store_cloud_commands_list(f->store, 1);
	assert_int_equal(json_array_size(list), 1);
	json_decref(list);
	/* Ids are remembered across a restart. */
	ob_store_close(&f->store);
	open_store(f);
	assert_int_equal(ob_store_cloud_command_begin(f->store, "c-2", 8, "rotate_token_keys"),
			 OB_EEXIST);
}

/* ---- the enrollment and the sync's state ---- */

static void test_config_round_trip(void **state)
{
	struct fixture *f = *state;
	json_t *config;
	json_t *got;
	struct ob_store_cloud_state st;

	assert_null(ob_store_cloud_config_get(f->store));
	assert_int_equal(ob_store_cloud_config_delete(f->store, &test_audit), OB_ENOTFOUND);
	/* A sync state from before is started afresh by a new enrollment. */
	memset(&st, 0, sizeof(st));
	ob_strlcpy(st.etag, "\"old\"", sizeof(st.etag));
	st.poll_interval_s = 300;
	assert_int_equal(ob_store_cloud_state_put(f->store, &st), 0);

	config = json_pack("{s:s, s:s, s:[s, s], s:s, s:s}", "url", "https://cp.example/",
			   "ca_pem", "-----BEGIN CERTIFICATE-----\n", "bundle_keys", "pem-1",
			   "pem-2", "enrollment_token", "one-time", "state", "enrolling");
	assert_int_equal(ob_store_cloud_config_put(f->store, config, &test_audit), 0);
	got = ob_store_cloud_config_get(f->store);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got, "url")), "https://cp.example/");
	assert_string_equal(json_string_value(json_object_get(got, "ca_pem")),
			    "-----BEGIN CERTIFICATE-----\n");
	assert_true(json_equal(json_object_get(got, "bundle_keys"),
			       json_object_get(config, "bundle_keys")));
	assert_string_equal(json_string_value(json_object_get(got, "enrollment_token")), "one-time");
	assert_string_equal(json_string_value(json_object_get(got, "state")), "enrolling");
	assert_true(json_is_null(json_object_get(got, "enrolled_ms")));
	assert_true(json_integer_value(json_object_get(got, "updated_ms")) > 0);
	json_decref(got);
	assert_int_equal(ob_store_cloud_state_get(f->store, &st), 0);
	assert_string_equal(st.etag, "");
	assert_int_equal(st.poll_interval_s, 60);

	/* Enrolled: the one-time token is forgotten. */
	assert_int_equal(ob_store_cloud_config_enrolled(f->store), 0);
	got = ob_store_cloud_config_get(f->store);
	assert_string_equal(json_string_value(json_object_get(got, "state")), "enrolled");
	assert_true(json_is_null(json_object_get(got, "enrollment_token")));
	assert_true(json_integer_value(json_object_get(got, "enrolled_ms")) > 0);
	assert_string_equal(json_string_value(json_object_get(got, "url")), "https://cp.example/");
	json_decref(got);
	{
		char *dump;

		ob_store_close(&f->store);
		open_store(f);
		got = ob_store_cloud_config_get(f->store);
		dump = json_dumps(got, 0);
		assert_null(strstr(dump, "one-time"));
		free(dump);
		json_decref(got);
	}

	/* Air-gapped: no URL, no token, enrolled at once. */
	json_decref(config);
	config = json_pack("{s:n, s:[s], s:s}", "url", "bundle_keys", "pem-3", "state", "airgapped");
	assert_int_equal(ob_store_cloud_config_put(f->store, config, &test_audit), 0);
	got = ob_store_cloud_config_get(f->store);
	assert_true(json_is_null(json_object_get(got, "url")));
	assert_true(json_is_null(json_object_get(got, "ca_pem")));
	assert_true(json_is_null(json_object_get(got, "enrollment_token")));
	assert_string_equal(json_string_value(json_object_get(got, "state")), "airgapped");
	assert_true(json_integer_value(json_object_get(got, "enrolled_ms")) > 0);
	json_decref(got);
	/* Marking it enrolled changes nothing: it was not enrolling. */
	assert_int_equal(ob_store_cloud_config_enrolled(f->store), 0);
	got = ob_store_cloud_config_get(f->store);
	assert_string_equal(json_string_value(json_object_get(got, "state")), "airgapped");
	json_decref(got);

	/* A config without its keys or state is refused and the old one stays. */
	json_decref(config);
	config = json_pack("{s:s}", "state", "enrolled");
	assert_int_equal(ob_store_cloud_config_put(f->store, config, &test_audit), OB_EINVAL);
	json_decref(config);
	config = json_pack("{s:[s]}", "bundle_keys", "pem");
	assert_int_equal(ob_store_cloud_config_put(f->store, config, &test_audit), OB_EINVAL);
	got = ob_store_cloud_config_get(f->store);
	assert_string_equal(json_string_value(json_object_get(got, "state")), "airgapped");
	json_decref(got);

	/* Forgotten: the config and the sync's state go. */
	st.poll_interval_s = 120;
	assert_int_equal(ob_store_cloud_state_put(f->store, &st), 0);
	assert_int_equal(ob_store_cloud_config_delete(f->store, &test_audit), 0);
	assert_null(ob_store_cloud_config_get(f->store));
	assert_int_equal(ob_store_cloud_state_get(f->store, &st), 0);
	assert_int_equal(st.poll_interval_s, 60);
	assert_int_equal(ob_store_cloud_config_delete(f->store, &test_audit), OB_ENOTFOUND);
	json_decref(config);
}

static void test_state_round_trip(void **state)
{
	struct fixture *f = *state;
	struct ob_store_cloud_state st;
	struct ob_store_cloud_state got;

	/* None yet: the defaults. */
	assert_int_equal(ob_store_cloud_state_get(f->store, &got), 0);
	assert_string_equal(got.etag, "");
	assert_int_equal(got.poll_interval_s, 60);
	assert_int_equal(got.last_contact_ms, 0);
	assert_string_equal(got.last_error, "");
	assert_int_equal(got.events_acked_seq, 0);

	/* Every field, the strings at their longest. */
	memset(&st, 0, sizeof(st));
	memset(st.etag, 'e', OB_STORE_CLOUD_ETAG_MAX);
	st.poll_interval_s = 86400;
	st.last_contact_ms = INT64_C(1790000000123);
	memset(st.last_error, 'x', OB_STORE_CLOUD_ERROR_MAX);
	st.last_error_ms = INT64_C(1790000000456);
	st.events_acked_seq = INT64_C(9000000000);
	st.events_dropped = 17;
	assert_int_equal(ob_store_cloud_state_put(f->store, &st), 0);
	ob_store_close(&f->store);
	open_store(f);
	assert_int_equal(ob_store_cloud_state_get(f->store, &got), 0);
	assert_memory_equal(&got, &st, sizeof(st));

	/* And back to nothing: empty strings and zero times read back as they were. */
	memset(&st, 0, sizeof(st));
	st.poll_interval_s = 10;
	assert_int_equal(ob_store_cloud_state_put(f->store, &st), 0);
	assert_int_equal(ob_store_cloud_state_get(f->store, &got), 0);
	assert_memory_equal(&got, &st, sizeof(st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rollback_restores_every_part, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_replaces_the_parts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_own_revocations_outlast_bundles, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_signing_key_after_apply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirm_keeps_the_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_keys_change_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failing_step_changes_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_apply_step_can_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_rollback_step_can_fail, setup, teardown),
		cmocka_unit_test_setup_teardown(test_locked_store, setup, teardown),
		cmocka_unit_test_setup_teardown(test_highest_generation_counts_rolled_back, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pending_survives_a_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_is_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_bounded_without_an_applied_bundle, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_commands_run_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
