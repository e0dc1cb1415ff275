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

/* ---- control-plane sync (cloud/; docs/control-plane.md) ---- */

#define OB_STORE_CLOUD_ETAG_MAX 255
#define OB_STORE_CLOUD_ERROR_MAX 511

/* A bundle as the store records it (all borrowed). */
struct ob_store_cloud_bundle {
	int64_t generation;
	const char *source;  /* "poll" or "upload" */
	const char *etag;    /* the answer's ETag, or NULL */
	const char *jws;     /* the bundle as it came */
};

/* Applies a change in one transaction, with the bundle recorded as pending together with
 * its undo (what the change replaced) and the audit record. change (borrowed) has any of:
 * "policy" (the policy document), "keys" (token key rows {"id", "secret_hex",
 * "fingerprint", "signing", "source": "cloud", "created_by"}: they replace the keys the
 * control plane gave before), "revocations" ([{"kind", "value", "reason", "expires_ms"}]:
 * they replace the control plane's earlier ones; the box's own stay), "ladders" and
 * "channels" ({id: document}, replaced or added), "settings" ({name: the value as JSON
 * text}). Settings go into effect at once. 0; OB_ETOOBIG (more than 8 keys), OB_EINVAL (a part not in this
 * form), OB_EIO or OB_ENOMEM with a message in err, and nothing changed. */
int ob_store_cloud_apply(struct ob_store *store, const struct ob_store_cloud_bundle *bundle,
			 const json_t *change, const struct ob_audit *audit, char *err,
			 size_t err_len);

/* Marks a pending bundle applied (it becomes the last-known-good one; its undo goes) and
 * trims the history to the newest 20 bundles and the last applied one. OB_ENOTFOUND when
 * it is not pending. */
int ob_store_cloud_confirm(struct ob_store *store, int64_t generation);

/* Puts back, in one transaction, what a pending bundle replaced, marks it rolled back with
 * error, and trims the history as a confirm does. *restored gets the undo document (new
 * reference; same parts as a change, the values that stand again, null for what was
 * removed) so the caller can put it into effect. OB_ENOTFOUND when it is not pending,
 * OB_ECORRUPT, OB_EIO. */
int ob_store_cloud_rollback(struct ob_store *store, int64_t generation, const char *error,
			    const struct ob_audit *audit, json_t **restored);

/* The highest generation ever recorded (applied, pending or rolled back), 0 for none: a
 * bundle must be above it to be applied. */
int64_t ob_store_cloud_highest_generation(struct ob_store *store);

/* The generation of a bundle left pending (its health check never ended: the box
 * stopped), or 0. */
int64_t ob_store_cloud_pending(struct ob_store *store);

/* A new array of recorded bundles, newest first: {"generation", "status", "source", "etag",
 * "error", "received_at", "applied_at" (ISO 8601 UTC, or null)} and, with with_jws, "jws". */
json_t *ob_store_cloud_bundles_list(struct ob_store *store, bool with_jws);

/* The enrollment: {"url" (null when air-gapped), "ca_pem", "bundle_keys" (array of PEM),
 * "enrollment_token", "state" ("enrolling", "enrolled", "airgapped"), "enrolled_ms",
 * "updated_ms"}, a new reference, or NULL when the box is not enrolled. */
json_t *ob_store_cloud_config_get(struct ob_store *store);

/* Replaces the enrollment (the same fields; borrowed) with its audit record, and starts
 * the sync's state afresh (no ETag; events from the newest on). */
int ob_store_cloud_config_put(struct ob_store *store, const json_t *config,
			      const struct ob_audit *audit);

/* Marks an enrollment in progress as done and forgets its one-time token. */
int ob_store_cloud_config_enrolled(struct ob_store *store);

/* Forgets the enrollment and the sync's state (the bundles applied stay, and so does the
 * highest generation). OB_ENOTFOUND when not enrolled. */
int ob_store_cloud_config_delete(struct ob_store *store, const struct ob_audit *audit);

/* The sync's bookkeeping. */
struct ob_store_cloud_state {
	char etag[OB_STORE_CLOUD_ETAG_MAX + 1];  /* of the last bundle applied, or "" */
	int poll_interval_s;
	int64_t last_contact_ms;                   /* 0: never */
	char last_error[OB_STORE_CLOUD_ERROR_MAX + 1]; /* "" when the last contact went well */
	int64_t last_error_ms;
	int64_t events_acked_seq;                  /* the control plane has every event to here */
	int64_t events_dropped;                    /* events that never left: the outbox bound */
};

/* Reads the sync's state (defaults when there is none). */
int ob_store_cloud_state_get(struct ob_store *store, struct ob_store_cloud_state *out);

/* Writes the sync's state. */
int ob_store_cloud_state_put(struct ob_store *store, const struct ob_store_cloud_state *state);

/* Records that a bundle's command begins; OB_EEXIST when its id ran before (each id runs
 * once, even when a bundle comes again). */
int ob_store_cloud_command_begin(struct ob_store *store, const char *id, int64_t generation,
				 const char *type);

/* Records a command's result. */
int ob_store_cloud_command_finish(struct ob_store *store, const char *id, bool done,
				  const char *detail);

/* A new array of the newest commands (at most limit): {"id", "generation", "type",
 * "status", "detail", "at" (ISO 8601 UTC)}. */
json_t *ob_store_cloud_commands_list(struct ob_store *store, int limit);

/* ---- webhooks ---- */

#define OB_WEBHOOK_ID_LEN 16             /* hex characters, generated */
#define OB_WEBHOOK_URL_MAX 2300          /* as cloud/http.h's OB_HTTP_URL_MAX */
#define OB_WEBHOOK_SECRET_MIN 16         /* bytes: the HMAC key */
#define OB_WEBHOOK_SECRET_MAX 128
#define OB_WEBHOOK_EVENTS_MAX 1023       /* the subscribed types as a compact JSON array */
#define OB_WEBHOOK_DESCRIPTION_CHARS 200 /* characters; the buffer holds them as UTF-8 */
#define OB_WEBHOOK_TYPE_MAX 31
#define OB_WEBHOOK_SUBJECT_MAX 63
#define OB_WEBHOOK_KEY_MAX 127           /* an idempotency key */
#define OB_WEBHOOK_PAYLOAD_MAX 4095      /* a delivery's JSON body */
#define OB_WEBHOOK_ERROR_MAX 255         /* an attempt's error text */
#define OB_WEBHOOKS_MAX 16               /* webhooks per box */
#define OB_WEBHOOK_PENDING_MAX 10000     /* pending deliveries per webhook; more are dropped */
#define OB_WEBHOOK_KEEP_FINISHED 1000    /* delivered and failed ones kept per webhook... */
#define OB_WEBHOOK_KEEP_FINISHED_MS (7LL * 24 * 3600 * 1000) /* ...for at most 7 days */
#define OB_WEBHOOK_ATTEMPTS_KEEP 20      /* the newest attempts kept per delivery */

/* A registered receiver of lifecycle events. */
struct ob_webhook {
	char id[OB_WEBHOOK_ID_LEN + 1];
	char url[OB_WEBHOOK_URL_MAX + 1];
	unsigned char secret[OB_WEBHOOK_SECRET_MAX]; /* the HMAC key; never shown after creation */
	size_t secret_len;
	char events[OB_WEBHOOK_EVENTS_MAX + 1];      /* JSON array of types, or ["*"] */
	bool enabled;
	char description[OB_WEBHOOK_DESCRIPTION_CHARS * 4 + 1];
	int64_t cursor_seq;   /* the events up to this seq were turned into deliveries */
	int64_t dropped;      /* deliveries not queued because too many were pending */
	char created_by[64];
	int64_t created_ms;
	int64_t updated_ms;
};

/* Adds a webhook (cursor_seq and dropped as given; created_ms 0: now). OB_EEXIST when the
 * id is taken, OB_ETOOBIG when OB_WEBHOOKS_MAX exist. */
int ob_store_webhook_create(struct ob_store *store, const struct ob_webhook *hook,
			    const struct ob_audit *audit);

/* Reads a webhook by id, secret included. OB_ENOTFOUND when there is none. */
int ob_store_webhook_get(struct ob_store *store, const char *id, struct ob_webhook *out);

/* Writes url, secret, events, enabled and description of an existing webhook (the cursor
 * and the counts stay). OB_ENOTFOUND when there is none. */
int ob_store_webhook_update(struct ob_store *store, const struct ob_webhook *hook,
			    const struct ob_audit *audit);

/* Deletes a webhook with its deliveries. OB_ENOTFOUND when there is none. */
int ob_store_webhook_delete(struct ob_store *store, const char *id,
			    const struct ob_audit *audit);

/* Reads every webhook (secrets included), oldest first, into hooks (room for max). */
int ob_store_webhooks_load(struct ob_store *store, struct ob_webhook *hooks, size_t max,
			   size_t *count);

/* Lowers every webhook's cursor that is past seq to seq (at start: after a crash the event
 * log hands out the sequence numbers it lost again). */
int ob_store_webhook_cursors_clamp(struct ob_store *store, int64_t seq);

/* A webhook as the API shows it (never the secret), with its delivery counts
 * {"pending", "delivered", "failed", "dropped"} and its last attempt (or null), into a new
 * reference. OB_ENOTFOUND when there is none. */
int ob_store_webhook_show(struct ob_store *store, const char *id, json_t **out);

/* A new array of every webhook as ob_store_webhook_show shows it, oldest first. */
json_t *ob_store_webhook_list(struct ob_store *store);

/* One delivery to queue. Borrowed. */
struct ob_webhook_new_delivery {
	int64_t event_seq;           /* the event it tells of */
	const char *type;
	const char *subject;         /* deliveries of one subject go in order */
	const char *idempotency_key;
	const char *payload;         /* the JSON body */
};

/* Queues deliveries for a webhook (due at now_ms, given up after now_ms + max_age_ms) and
 * moves its cursor to cursor_seq (never back; 0 leaves it), in one transaction. Beyond
 * OB_WEBHOOK_PENDING_MAX pending ones the rest are counted in the webhook's `dropped`
 * instead, and *dropped (may be NULL) says how many. OB_ENOTFOUND when the webhook is
 * gone. */
int ob_store_webhook_enqueue(struct ob_store *store, const char *webhook_id,
			     const struct ob_webhook_new_delivery *deliveries, size_t count,
			     int64_t cursor_seq, int64_t now_ms, int64_t max_age_ms,
			     size_t *dropped);

/* A delivery to send now. */
struct ob_webhook_due {
	int64_t id;
	char webhook_id[OB_WEBHOOK_ID_LEN + 1];
	char type[OB_WEBHOOK_TYPE_MAX + 1];
	char idempotency_key[OB_WEBHOOK_KEY_MAX + 1];
	int attempts;          /* made so far */
	int backoff_base;      /* attempts made before the last manual retry */
	int64_t expires_ms;    /* a failed attempt after this gives up */
	char payload[OB_WEBHOOK_PAYLOAD_MAX + 1];
};

/* The deliveries due at now_ms, most overdue first, at most max: of each enabled webhook's
 * subjects only the oldest pending delivery, so one subject's deliveries go in order.
 * *next_due_ms gets when the first of those not yet due is (INT64_MAX for none). */
int ob_store_webhook_due(struct ob_store *store, int64_t now_ms, struct ob_webhook_due *out,
			 size_t max, size_t *count, int64_t *next_due_ms);

/* What one attempt gave. Borrowed. */
struct ob_webhook_attempt {
	int64_t at_ms;
	int64_t duration_ms;
	int http_status;       /* 0 when no answer came */
	const char *error;     /* NULL or "" after a 2xx */
};

enum ob_webhook_status {
	OB_WEBHOOK_PENDING,
	OB_WEBHOOK_DELIVERED,
	OB_WEBHOOK_FAILED,
};

/* Records an attempt on a delivery (keeping its newest OB_WEBHOOK_ATTEMPTS_KEEP attempts)
 * and its outcome: delivered, failed (given up), or pending again at next_attempt_ms.
 * OB_ENOTFOUND when the delivery is gone (its webhook was deleted). */
int ob_store_webhook_attempt_record(struct ob_store *store, int64_t delivery_id,
				    const struct ob_webhook_attempt *attempt,
				    enum ob_webhook_status status, int64_t next_attempt_ms);

/* Makes a failed delivery pending again at now_ms, for max_age_ms more, with the backoff
 * starting over, with its audit record. OB_ENOTFOUND (no such delivery of that webhook),
 * OB_ECONFLICT (it is not failed). */
int ob_store_webhook_delivery_retry(struct ob_store *store, const char *webhook_id,
				    int64_t delivery_id, int64_t now_ms, int64_t max_age_ms,
				    const struct ob_audit *audit);

/* One delivery as the API shows it, with its attempts, into a new reference.
 * OB_ENOTFOUND when that webhook has no such delivery. */
int ob_store_webhook_delivery_show(struct ob_store *store, const char *webhook_id,
				   int64_t delivery_id, json_t **out);

/* A new array of a webhook's deliveries as ob_store_webhook_delivery_show shows them,
 * newest first, with ids below before_id (0: from the newest), of one status ("pending",
 * "delivered", "failed"; NULL: any), at most limit. */
json_t *ob_store_webhook_deliveries(struct ob_store *store, const char *webhook_id,
				    const char *status, int64_t before_id, int limit);

/* Deletes delivered and failed deliveries beyond the newest keep of each webhook, and those
 * that finished before now_ms - keep_ms. Writes how many went to *deleted (may be NULL). */
int ob_store_webhook_prune(struct ob_store *store, int64_t now_ms, int keep, int64_t keep_ms,
			   int *deleted);

/* Reads stored events with seq > after (and seq <= until; 0: no bound) whose kind starts
 * with kind_prefix ("" for all), oldest first, into out (room for max). */
int ob_store_webhook_events_after(struct ob_store *store, int64_t after, int64_t until,
				  const char *kind_prefix, struct ob_event *out, size_t max,
				  size_t *count);

#endif
