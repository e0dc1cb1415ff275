/* The store: one SQLite database (WAL, foreign keys, synchronous=FULL) that is the only
 * source of truth for configuration and state. Every function is thread-safe: calls are
 * serialized on the store's mutex. Functions that change configuration take an audit
 * record and write it in the same transaction as the change. */
#ifndef OB_STORE_STORE_H
#define OB_STORE_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ob_store;

/* File name of the database inside the data directory. */
#define OB_STORE_FILE "ottbox.db"

/* Who did what, from where: written to the audit log with every change. All borrowed. */
struct ob_audit {
	const char *actor;       /* "user:admin", "apikey:1f2e…", "cli", "system" */
	const char *remote_addr; /* client address, or NULL for local actions */
	const char *action;      /* dotted verb: "settings.update", "user.create" */
	const char *target;      /* what it acted on, or NULL */
	const json_t *detail;    /* extra facts (never a secret), or NULL */
};

/* Opens (creating when missing) DATA_DIR/ottbox.db, checks it with PRAGMA quick_check and
 * applies pending migrations. On failure returns OB_ECORRUPT (damaged store), OB_ECONFLICT
 * (schema newer than this firmware) or OB_EIO, with a message for the operator in err. */
int ob_store_open(const char *data_dir, struct ob_store **out, char *err, size_t err_len);

/* Closes the database (checkpointing the WAL) and frees the store; sets *store to NULL. */
void ob_store_close(struct ob_store **store);

/* The schema version the store is at, and the newest this firmware knows. */
int ob_store_schema_version(struct ob_store *store);
int ob_store_schema_latest(void);

/* Runs PRAGMA quick_check. Returns 0 when it says "ok", else OB_ECORRUPT with its first
 * findings in msg. */
int ob_store_quick_check(struct ob_store *store, char *msg, size_t msg_len);

/* Writes a consistent copy of the live database to dest_path (SQLite online backup). */
int ob_store_backup(struct ob_store *store, const char *dest_path, char *err, size_t err_len);

/* ---- settings: declared once in settings.c ---- */

enum ob_setting_type {
	OB_SETTING_INT,
	OB_SETTING_BOOL,
	OB_SETTING_STRING,
	OB_SETTING_ENUM,
};

/* The declaration of one setting. One table of these drives storage, validation, the API
 * schema and its error messages. */
struct ob_setting {
	const char *name;
	enum ob_setting_type type;
	const char *description;
	const char *unit;           /* "s", "days" or NULL */
	long long int_default;      /* OB_SETTING_INT and OB_SETTING_BOOL (0/1) */
	long long int_min;
	long long int_max;
	const char *str_default;    /* OB_SETTING_STRING and OB_SETTING_ENUM */
	size_t str_max;             /* longest string, in characters (int_min is the shortest) */
	const char *const *choices; /* OB_SETTING_ENUM: NULL-terminated list */
	/* Extra rule after type and bounds; 0 or OB_EINVAL with a message (optional). */
	int (*validate)(const json_t *value, char *err, size_t err_len);
	/* Puts a value into effect, at start and after every change (optional). */
	void (*apply)(const json_t *value);
};

/* The declared settings table and its length. */
const struct ob_setting *ob_store_settings_table(size_t *count);

/* Checks a partial settings object against the declarations: known names, types, bounds,
 * validators. `current` (may be NULL) is the full settings object the patch applies to, for
 * rules across settings. Returns 0 or OB_EINVAL with a message naming the setting. */
int ob_store_settings_validate(const json_t *patch, const json_t *current, char *err,
			       size_t err_len);

/* The schema of all settings as a JSON array (for the API and the console's forms). */
json_t *ob_store_settings_schema(void);

/* A new object holding every setting's current value. */
json_t *ob_store_settings_get(struct ob_store *store);

/* Validates and applies a partial update in one transaction with its audit record; on
 * success puts the new values into effect. Returns 0, OB_EINVAL (message in err) or OB_EIO. */
int ob_store_settings_patch(struct ob_store *store, const json_t *patch,
			    const struct ob_audit *audit, char *err, size_t err_len);

/* The current value of an integer or boolean setting (its default when unknown). */
long long ob_store_setting_int(struct ob_store *store, const char *name);

/* ---- admin users ---- */

#define OB_USER_NAME_MAX 32
#define OB_ROLE_NAME_MAX 16
#define OB_PASSWORD_HASH_MAX 160

struct ob_user {
	int64_t id;
	char name[OB_USER_NAME_MAX + 1];
	char role[OB_ROLE_NAME_MAX + 1];
	char password_hash[OB_PASSWORD_HASH_MAX + 1]; /* encoded Argon2id */
	bool must_change_password;  /* set for generated and admin-assigned passwords */
	bool disabled;
	int64_t created_ms;
	int64_t password_changed_ms;
	int64_t last_login_ms;      /* 0 when never */
};

/* Checks a user name: 1 to 32 of a-z, 0-9, '.', '_', '-', starting with a letter or digit. */
int ob_store_user_name_check(const char *name, char *err, size_t err_len);

/* Adds a user. OB_EEXIST when the name is taken. */
int ob_store_user_create(struct ob_store *store, const struct ob_user *user,
			 const struct ob_audit *audit);

/* Reads a user by name into out. OB_ENOTFOUND when there is none. */
int ob_store_user_get(struct ob_store *store, const char *name, struct ob_user *out);

/* Writes role, password hash and flags of an existing user (by id). Refuses, with
 * OB_ECONFLICT, a change that would leave the box without an enabled admin. */
int ob_store_user_update(struct ob_store *store, const struct ob_user *user,
			 const struct ob_audit *audit);

/* Records a successful login time without an audit row (the caller audits the login). */
int ob_store_user_touch_login(struct ob_store *store, int64_t user_id, int64_t wall_ms);

/* Deletes a user. OB_ENOTFOUND, or OB_ECONFLICT when it is the last enabled admin. */
int ob_store_user_delete(struct ob_store *store, const char *name, const struct ob_audit *audit);

/* Number of enabled users with the admin role. */
int ob_store_user_count_admins(struct ob_store *store, int *count);

/* A new array of users as the API shows them (never the password hash). */
json_t *ob_store_user_list(struct ob_store *store);

/* A user as the API shows it. */
json_t *ob_store_user_to_json(const struct ob_user *user);

/* ---- API keys ---- */

#define OB_APIKEY_ID_LEN 16    /* hex characters */
#define OB_APIKEY_NAME_CHARS 64 /* characters; the buffer holds them as UTF-8 */

struct ob_apikey {
	char id[OB_APIKEY_ID_LEN + 1];
	char name[OB_APIKEY_NAME_CHARS * 4 + 1];
	char role[OB_ROLE_NAME_MAX + 1];
	unsigned char secret_sha256[32]; /* the key's secret part is never stored */
	char created_by[OB_USER_NAME_MAX + 16];
	int64_t created_ms;
};

/* Adds an API key. OB_EEXIST when the id is taken. */
int ob_store_apikey_create(struct ob_store *store, const struct ob_apikey *key,
			   const struct ob_audit *audit);

/* Reads a key by id. OB_ENOTFOUND when there is none. */
int ob_store_apikey_get(struct ob_store *store, const char *id, struct ob_apikey *out);

/* Deletes a key by id. OB_ENOTFOUND when there is none. */
int ob_store_apikey_delete(struct ob_store *store, const char *id, const struct ob_audit *audit);

/* A new array of keys as the API shows them (never the secret or its hash). */
json_t *ob_store_apikey_list(struct ob_store *store);

/* ---- JSON documents: operator ladders and channels (validated by the engine) ---- */

enum ob_store_collection {
	OB_STORE_LADDERS,  /* the built-in ladders live in the firmware, not here */
	OB_STORE_CHANNELS,
};

/* Stores a validated document under its "id" (borrowed). With create, OB_EEXIST when the id
 * is taken; without, it replaces an existing one (OB_ENOTFOUND when there is none). */
int ob_store_doc_put(struct ob_store *store, enum ob_store_collection coll, const json_t *doc,
		     bool create, const struct ob_audit *audit);

/* Reads a document by id into a new reference. OB_ENOTFOUND when there is none. */
int ob_store_doc_get(struct ob_store *store, enum ob_store_collection coll, const char *id,
		     json_t **out);

/* Deletes a document by id. OB_ENOTFOUND when there is none; OB_ECONFLICT when something
 * still uses it (a ladder that a channel names). */
int ob_store_doc_delete(struct ob_store *store, enum ob_store_collection coll, const char *id,
			const struct ob_audit *audit);

/* A new array of every document of a collection, ordered by id. */
json_t *ob_store_doc_list(struct ob_store *store, enum ob_store_collection coll);

/* A new array of the ids of the channels that use a ladder. */
json_t *ob_store_channels_using_ladder(struct ob_store *store, const char *ladder_id);

/* ---- playback access: token keys, the policy, revocations ---- */

#define OB_ACCESS_KEY_ID_MAX 32
#define OB_ACCESS_KEY_SECRET_MAX 64
#define OB_ACCESS_KEYS_MAX 8    /* as many as a verification tries */

struct ob_access_key_row {
	char id[OB_ACCESS_KEY_ID_MAX + 1];
	unsigned char secret[OB_ACCESS_KEY_SECRET_MAX];
	size_t secret_len;
	char fingerprint[17];      /* the first 8 bytes of SHA-256(secret) in hex: not secret */
	bool signing;              /* new tokens are signed with it */
	char source[12];           /* "imported" or "generated" */
	char created_by[OB_USER_NAME_MAX + 16];
	int64_t created_ms;
};

/* Adds a key. The first key, or one with signing set, becomes the signing key (the others
 * lose the mark) in the same transaction. OB_EEXIST when the id is taken, OB_ETOOBIG when
 * OB_ACCESS_KEYS_MAX keys exist. */
int ob_store_access_key_add(struct ob_store *store, const struct ob_access_key_row *key,
			    const struct ob_audit *audit);

/* Makes a key the signing key. OB_ENOTFOUND when there is none. */
int ob_store_access_key_set_signing(struct ob_store *store, const char *id,
				    const struct ob_audit *audit);

/* Deletes a key. OB_ENOTFOUND; OB_ECONFLICT when it is the signing key and others remain. */
int ob_store_access_key_delete(struct ob_store *store, const char *id,
			       const struct ob_audit *audit);

/* Reads every key, secrets included (for the key ring), into keys (room for max), oldest
 * first. 0 or OB_EIO. The caller wipes them after use. */
int ob_store_access_keys_load(struct ob_store *store, struct ob_access_key_row *keys,
			      size_t max, size_t *count);

/* A new array of the keys as the API shows them: never a secret. */
json_t *ob_store_access_key_list(struct ob_store *store);

/* The stored policy document (new reference), or NULL in *out when none was ever saved. */
int ob_store_access_policy_get(struct ob_store *store, json_t **out);

/* Replaces the policy document (borrowed, validated by the caller). */
int ob_store_access_policy_put(struct ob_store *store, const json_t *doc,
			       const struct ob_audit *audit);

/* Adds a revocation of a token id (kind "token") or a viewer id ("viewer"); expires_ms 0:
 * never. Writes its id to *id. OB_EEXIST when that value is revoked already. */
int ob_store_access_revocation_add(struct ob_store *store, const char *kind, const char *value,
				   const char *reason, int64_t expires_ms,
				   const struct ob_audit *audit, int64_t *id);

/* Deletes a revocation by id. OB_ENOTFOUND when there is none. */
int ob_store_access_revocation_delete(struct ob_store *store, int64_t id,
				      const struct ob_audit *audit);

/* A new array of the revocations in force at now_ms (expired ones are deleted first):
 * {"id", "token_id" or "viewer_id", "reason", "created_by", "created_at", "expires_at"}. */
json_t *ob_store_access_revocation_list(struct ob_store *store, int64_t now_ms);

/* ---- audit log ---- */

/* Appends one audit record on its own (for events that change nothing, such as logins);
 * result is "ok" or "denied". */
int ob_store_audit_add(struct ob_store *store, const struct ob_audit *audit, const char *result);

/* A new array of audit records, newest first, with ids below before_id (0: from the newest),
 * at most limit of them. */
json_t *ob_store_audit_list(struct ob_store *store, int64_t before_id, int limit);

/* ---- the event log (see core/events.h) ---- */

struct ob_event;
struct ob_event_filter;

#define OB_STORE_EVENTS_KEEP 20000 /* the newest events kept; older ones are deleted */

/* Stores events (oldest first) in one transaction and deletes those beyond the newest
 * OB_STORE_EVENTS_KEEP. An event already stored is left as it is. 0 or OB_EIO. */
int ob_store_events_append(struct ob_store *store, const struct ob_event *events, size_t count);

/* The highest stored sequence number, 0 for none. */
int64_t ob_store_events_last_seq(struct ob_store *store);

/* A new array of events (as ob_event_json shows them) that match filter (NULL: all): with
 * after > 0, those after it, oldest first; otherwise those before `before` (0: from the
 * newest), newest first. At most limit. */
json_t *ob_store_events_list(struct ob_store *store, const struct ob_event_filter *filter,
			     int64_t before, int64_t after, int limit);

/* An ob_events_sink over a store (ctx is the struct ob_store). */
int ob_store_events_sink(void *ctx, const struct ob_event *events, size_t count);

#endif
