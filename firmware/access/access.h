/* Admin access: roles, password hashing and policy, console sessions, the login rate
 * limiter and API key tokens. Playback tokens are in access/token.h; entitlement joins this
 * module later. */
#ifndef OB_ACCESS_ACCESS_H
#define OB_ACCESS_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ob_store;

/* ---- roles ---- */

enum ob_perm {
	OB_PERM_READ = 1u << 0,    /* read configuration and status */
	OB_PERM_OPERATE = 1u << 1, /* run channels and content */
	OB_PERM_ADMIN = 1u << 2,   /* users, keys, settings */
	OB_PERM_ISSUE = 1u << 3,   /* issue playback tokens (a paywall's or CMS's key) */
	OB_PERM_FLEET = 1u << 4,   /* enrollment, bundles, webhooks: remote fleet management */
};

/* The permissions of a role ("viewer", "issuer", "operator", "fleet", "admin"); OB_EINVAL
 * when unknown. */
int ob_access_role_perms(const char *role, unsigned *perms);

/* The roles as a comma-separated list, for error messages. */
const char *ob_access_role_names(void);

/* ---- passwords ---- */

#define OB_PASSWORD_MIN_CHARS 8
#define OB_PASSWORD_MAX_CHARS 128

/* Checks a new password: 8 to 128 characters of valid UTF-8, not on the list of common
 * passwords, not the user's name. No composition rules. 0 or OB_EINVAL with a reason. */
int ob_access_password_policy(const char *password, const char *user_name, char *err,
			      size_t err_len);

/* True when the password is on the built-in list of common passwords (case-insensitive). */
bool ob_access_password_is_common(const char *password);

/* Hashes with Argon2id (OWASP parameters: 19 MiB, 2 passes, 1 lane) and a 16-byte random
 * salt into the PHC-encoded string in out. 0, OB_ETOOBIG or OB_EIO. */
int ob_access_password_hash(const char *password, char *out, size_t out_len);

/* 0 when password matches the encoded hash, OB_EAUTH when not, OB_EINVAL when the encoded
 * hash is malformed. Constant-time in the comparison. */
int ob_access_password_verify(const char *encoded, const char *password);

/* Spends the time of one verification without a stored hash, so an unknown user name
 * answers as slowly as a wrong password. */
void ob_access_password_burn(const char *password);

/* Makes a random one-time password of 20 characters (about 119 bits) without look-alike
 * characters into out (at least 21 bytes). */
int ob_access_password_generate(char *out, size_t out_len);

/* ---- console sessions (in memory; a restart logs everyone out) ---- */

#define OB_SESSION_ID_CHARS 22   /* 128 random bits as base64url */
#define OB_CSRF_CHARS 32         /* 128 random bits as hex */

struct ob_sessions;

struct ob_session_info {
	int64_t user_id;
	char user[33];
	char role[17];
	char csrf[OB_CSRF_CHARS + 1];    /* must come back in X-CSRF-Token */
	bool must_change_password;
	int64_t created_ms;              /* monotonic */
	int64_t last_seen_ms;            /* monotonic */
};

/* A table of at most capacity sessions; when full, the least recently used is dropped. */
struct ob_sessions *ob_access_sessions_new(size_t capacity);

/* Frees the table; sets *sessions to NULL. */
void ob_access_sessions_free(struct ob_sessions **sessions);

/* Starts a session for a user (info's user fields are taken, the rest filled in) and writes
 * its new random id to id_out (OB_SESSION_ID_CHARS+1 bytes). Only a hash of the id is kept. */
int ob_access_session_create(struct ob_sessions *sessions, struct ob_session_info *info,
			     int64_t now_ms, char *id_out);

/* Finds a live session by id and marks it seen at now_ms. A session idle longer than
 * idle_ms or older than absolute_ms is removed. 0 with *out filled, or OB_EAUTH. */
int ob_access_session_lookup(struct ob_sessions *sessions, const char *id, int64_t now_ms,
			     int64_t idle_ms, int64_t absolute_ms, struct ob_session_info *out);

/* Whether a session lives, as ob_access_session_lookup finds it, without marking it seen
 * (a long-lived event stream does not keep an idle console logged in). 0 or OB_EAUTH. */
int ob_access_session_alive(struct ob_sessions *sessions, const char *id, int64_t now_ms,
			    int64_t idle_ms, int64_t absolute_ms);

/* Ends a session. 0, or OB_ENOTFOUND when there was none. */
int ob_access_session_destroy(struct ob_sessions *sessions, const char *id);

/* Ends every session of a user except keep_id (may be NULL): on password change, role
 * change, disabling or deletion. Returns how many were ended. */
int ob_access_sessions_drop_user(struct ob_sessions *sessions, int64_t user_id,
				 const char *keep_id);

/* Clears the must-change-password mark of a session after the change. */
int ob_access_session_password_changed(struct ob_sessions *sessions, const char *id);

/* Number of live sessions (expired ones may still be counted until looked up). */
size_t ob_access_sessions_count(struct ob_sessions *sessions);

/* ---- login rate limiter ---- */

struct ob_ratelimit;

/* A table of at most capacity keys (an address or a user name each). */
struct ob_ratelimit *ob_access_ratelimit_new(size_t capacity);

/* Frees the table; sets *rl to NULL. */
void ob_access_ratelimit_free(struct ob_ratelimit **rl);

/* 0 when key may try now; OB_EBUSY with the wait in *retry_after_ms when it must wait. */
int ob_access_ratelimit_check(struct ob_ratelimit *rl, const char *key, int64_t now_ms,
			      int64_t *retry_after_ms);

/* Counts a failed attempt. After free_attempts failures each further one doubles the wait,
 * from 1 s up to max_backoff_ms. */
void ob_access_ratelimit_failure(struct ob_ratelimit *rl, const char *key, int64_t now_ms,
				 int free_attempts, int64_t max_backoff_ms);

/* Forgets a key's failures (after a successful login). */
void ob_access_ratelimit_success(struct ob_ratelimit *rl, const char *key);

/* ---- API keys: "obk_<16 hex id>_<43 base64url secret>" ---- */

#define OB_APIKEY_TOKEN_MAX 80

/* Makes a new key: its public id (17 bytes with NUL), the whole token to hand out once
 * (token_len >= OB_APIKEY_TOKEN_MAX), and the SHA-256 of its secret part, which is all the
 * store keeps. */
int ob_access_apikey_generate(char *id, char *token, size_t token_len,
			      unsigned char secret_sha256[32]);

/* Splits a presented token into its id and the SHA-256 of its secret. OB_EAUTH when the
 * text is not a well-formed key. */
int ob_access_apikey_parse(const char *token, char *id, unsigned char secret_sha256[32]);

/* ---- first start ---- */

#define OB_BOOTSTRAP_ADMIN "admin"
#define OB_INITIAL_PASSWORD_FILE "initial-admin-password"

/* When the store has no enabled admin, (re)creates the user "admin" with a random one-time
 * password that must be changed at first login, writes it to DATA_DIR/initial-admin-password
 * (mode 0600) and prints it once to console. Does nothing when an admin exists. */
int ob_access_bootstrap_admin(struct ob_store *store, const char *data_dir, FILE *console);

#endif
