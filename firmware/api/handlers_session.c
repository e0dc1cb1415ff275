#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/internal.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

#define MODULE "access"

static const struct ob_json_field login_fields[] = {
	{ "name", OB_JSON_STRING, true },
	{ "password", OB_JSON_STRING, true },
};

static const struct ob_json_field password_fields[] = {
	{ "current_password", OB_JSON_STRING, true },
	{ "new_password", OB_JSON_STRING, true },
};

/* An address gets this many times the per-user allowance: many people may share one (a NAT,
 * an office), and a successful login does not clear its count. */
#define ADDRESS_ALLOWANCE_FACTOR 4

/* Checks the rate-limit keys given (either may be NULL); sends 429 and returns nonzero when
 * one must wait. */
static int login_allowed(struct ob_req *req, const char *addr_key, const char *user_key)
{
	int64_t wait_addr = 0;
	int64_t wait_user = 0;
	int64_t now = ob_time_mono_ms();
	int64_t wait;
	char header[64];
	char message[256];

	if (addr_key)
		ob_access_ratelimit_check(req->api->login_limits, addr_key, now, &wait_addr);
	if (user_key)
		ob_access_ratelimit_check(req->api->login_limits, user_key, now, &wait_user);
	wait = wait_addr > wait_user ? wait_addr : wait_user;
	if (wait <= 0)
		return 0;
	snprintf(header, sizeof(header), "Retry-After: %lld\r\n", (long long)(wait + 999) / 1000);
	snprintf(message, sizeof(message),
		 "too many failed logins %s; try again in %lld s",
		 wait_addr >= wait_user ? "from this address" : "for this user",
		 (long long)(wait + 999) / 1000);
	ob_api_reply_error_headers(req, 429, "rate_limited", header, message);
	return -1;
}

static void count_failure(struct ob_req *req, const char *key, int factor)
{
	struct ob_store *store = req->api->store;

	ob_access_ratelimit_failure(req->api->login_limits, key, ob_time_mono_ms(),
				    (int)ob_store_setting_int(store, "login_free_attempts") * factor,
				    ob_store_setting_int(store, "login_backoff_max_s") * 1000);
}

static const struct {
	unsigned perm;
	const char *name;
} perm_names[] = {
	{ OB_PERM_READ, "read" },
	{ OB_PERM_OPERATE, "operate" },
	{ OB_PERM_ISSUE, "issue" },
	{ OB_PERM_FLEET, "fleet" },
	{ OB_PERM_ADMIN, "admin" },
};

/* What a role may do, as names a client checks before it shows a control (new array). */
static json_t *permission_names(unsigned perms)
{
	json_t *names = json_array();

	for (size_t i = 0; i < OB_ARRAY_SIZE(perm_names); i++)
		if (perms & perm_names[i].perm)
			json_array_append_new(names, json_string(perm_names[i].name));
	return names;
}

void ob_api_post_session(struct ob_req *req)
{
	struct ob_store *store = req->api->store;
	struct ob_session_info info = { 0 };
	struct ob_user user;
	char err[256];
	char addr_key[96];
	char user_key[64] = "";
	char actor[64] = "user:?";
	char session_id[OB_SESSION_ID_CHARS + 1];
	char cookie[256];
	const char *name;
	const char *password;
	unsigned perms = 0;
	bool known;
	int ret;

	if (ob_json_check_fields(req->body, login_fields, OB_ARRAY_SIZE(login_fields), "", err,
				 sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	name = json_string_value(json_object_get(req->body, "name"));
	password = json_string_value(json_object_get(req->body, "password"));
	known = ob_store_user_name_check(name, err, sizeof(err)) == 0;
	snprintf(addr_key, sizeof(addr_key), "addr:%s", req->remote_addr);
	if (known) {
		snprintf(user_key, sizeof(user_key), "user:%s", name);
		snprintf(actor, sizeof(actor), "user:%s", name);
	}
	if (login_allowed(req, addr_key, known ? user_key : NULL) != 0)
		return;
	known = known && ob_store_user_get(store, name, &user) == 0;
	if (!known) {
		ob_access_password_burn(password);
		ret = OB_EAUTH;
	} else {
		ret = ob_access_password_verify(user.password_hash, password);
	}
	if (ret != 0) {
		struct ob_audit audit = { .actor = actor, .remote_addr = req->remote_addr,
					  .action = "session.login" };

		count_failure(req, addr_key, ADDRESS_ALLOWANCE_FACTOR);
		if (known)
			count_failure(req, user_key, 1);
		ob_store_audit_add(store, &audit, "denied");
		ob_info(MODULE, "failed login for \"%s\" from %s", known ? name : "(unknown user)",
			req->remote_addr);
		ob_api_reply_error(req, 401, "unauthenticated", "name or password is wrong");
		goto out;
	}
	if (user.disabled) {
		ob_api_reply_error(req, 403, "account_disabled",
				   "this account is disabled; ask an admin to enable it");
		goto out;
	}
	/* Only the user's count: clearing the address's would let someone holding one account
	 * reset the backoff between guesses at others. */
	ob_access_ratelimit_success(req->api->login_limits, user_key);
	/* A new id at every login; a session the client still carried ends here. */
	{
		const char *cookies = mg_get_header(req->conn, "Cookie");
		char old[OB_SESSION_ID_CHARS + 1];

		if (cookies && mg_get_cookie(cookies, "ob_session", old, sizeof(old)) > 0)
			ob_access_session_destroy(req->api->sessions, old);
		ob_secure_zero(old, sizeof(old));
	}
	info.user_id = user.id;
	ob_strlcpy(info.user, user.name, sizeof(info.user));
	ob_strlcpy(info.role, user.role, sizeof(info.role));
	info.must_change_password = user.must_change_password;
	ret = ob_access_session_create(req->api->sessions, &info, ob_time_mono_ms(), session_id);
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the session could not be created");
		goto out;
	}
	ob_store_user_touch_login(store, user.id, ob_time_wall_ms());
	if (ob_access_role_perms(user.role, &perms) != 0)
		perms = 0;
	{
		struct ob_audit audit = { .actor = actor, .remote_addr = req->remote_addr,
					  .action = "session.login" };

		ob_store_audit_add(store, &audit, "ok");
	}
	snprintf(cookie, sizeof(cookie),
		 "Set-Cookie: ob_session=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%lld%s\r\n",
		 session_id, ob_store_setting_int(store, "session_absolute_timeout_s"),
		 req->is_tls ? "; Secure" : "");
	ob_api_reply_json_headers(
		req, 200, cookie,
		json_pack("{s:s, s:s, s:o, s:b, s:s, s:I, s:I}", "user", user.name, "role",
			  user.role, "permissions", permission_names(perms),
			  "must_change_password", user.must_change_password, "csrf_token", info.csrf,
			  "idle_timeout_s",
			  (json_int_t)ob_store_setting_int(store, "session_idle_timeout_s"),
			  "absolute_timeout_s",
			  (json_int_t)ob_store_setting_int(store, "session_absolute_timeout_s")));
	ob_info(MODULE, "user \"%s\" logged in from %s", user.name, req->remote_addr);
	ob_secure_zero(cookie, sizeof(cookie));
	ob_secure_zero(session_id, sizeof(session_id));
out:
	ob_secure_zero(&user, sizeof(user));
	ob_secure_zero(&info, sizeof(info));
}

void ob_api_get_session(struct ob_req *req)
{
	json_t *body = json_pack("{s:s, s:s, s:s}", "via", req->via_session ? "session" : "apikey",
				 "role", req->role, "actor", req->actor);

	/* What the caller may do, so a client shows only the controls it can use. */
	json_object_set_new(body, "permissions", permission_names(req->perms));
	if (req->via_session) {
		json_object_set_new(body, "user", json_string(req->user));
		json_object_set_new(body, "must_change_password",
				    json_boolean(req->session.must_change_password));
		json_object_set_new(body, "csrf_token", json_string(req->session.csrf));
	}
	ob_api_reply_json(req, 200, body);
}

void ob_api_delete_session(struct ob_req *req)
{
	struct ob_audit audit = ob_api_audit(req, "session.logout", NULL, NULL);

	ob_access_session_destroy(req->api->sessions, req->session_id);
	ob_store_audit_add(req->api->store, &audit, "ok");
	ob_api_reply_empty(req, req->is_tls ? "Set-Cookie: ob_session=; Path=/; HttpOnly; "
					      "SameSite=Strict; Max-Age=0; Secure\r\n"
					    : "Set-Cookie: ob_session=; Path=/; HttpOnly; "
					      "SameSite=Strict; Max-Age=0\r\n");
}

void ob_api_post_session_password(struct ob_req *req)
{
	struct ob_store *store = req->api->store;
	struct ob_user user;
	char err[256];
	char user_key[64];
	char path[4200];
	const char *current;
	const char *next;
	int ret;

	if (ob_json_check_fields(req->body, password_fields, OB_ARRAY_SIZE(password_fields), "",
				 err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	current = json_string_value(json_object_get(req->body, "current_password"));
	next = json_string_value(json_object_get(req->body, "new_password"));
	snprintf(user_key, sizeof(user_key), "user:%s", req->user);
	if (login_allowed(req, NULL, user_key) != 0)
		return;
	if (ob_store_user_get(store, req->user, &user) != 0) {
		ob_api_reply_error(req, 401, "unauthenticated", "this user no longer exists");
		return;
	}
	if (ob_access_password_verify(user.password_hash, current) != 0) {
		struct ob_audit audit = ob_api_audit(req, "user.password_change", req->user, NULL);

		count_failure(req, user_key, 1);
		ob_store_audit_add(store, &audit, "denied");
		ob_api_reply_error(req, 403, "wrong_password", "current_password: is wrong");
		goto out;
	}
	if (ob_access_password_policy(next, user.name, err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "new_%s", err);
		goto out;
	}
	if (strcmp(current, next) == 0) {
		ob_api_reply_error(req, 400, "invalid",
				   "new_password: must differ from the current password");
		goto out;
	}
	ret = ob_access_password_hash(next, user.password_hash, sizeof(user.password_hash));
	if (ret != 0)
		ret = OB_EINTERNAL;
	if (ret == 0) {
		struct ob_audit audit = ob_api_audit(req, "user.password_change", req->user, NULL);

		user.must_change_password = false;
		ret = ob_store_user_update(store, &user, &audit);
	}
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the new password could not be saved");
		goto out;
	}
	ob_access_ratelimit_success(req->api->login_limits, user_key);
	ob_access_sessions_drop_user(req->api->sessions, user.id, req->session_id);
	ob_access_session_password_changed(req->api->sessions, req->session_id);
	snprintf(path, sizeof(path), "%s/%s", req->api->data_dir, OB_INITIAL_PASSWORD_FILE);
	if (strcmp(user.name, OB_BOOTSTRAP_ADMIN) == 0 && unlink(path) == 0)
		ob_info(MODULE, "one-time admin password changed; %s removed", path);
	ob_api_reply_empty(req, NULL);
out:
	ob_secure_zero(&user, sizeof(user));
}
