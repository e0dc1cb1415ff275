#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

static const struct ob_json_field user_create_fields[] = {
	{ "name", OB_JSON_STRING, true },
	{ "role", OB_JSON_STRING, true },
	{ "password", OB_JSON_STRING, true },
	{ "must_change_password", OB_JSON_BOOLEAN, false },
};

static const struct ob_json_field user_patch_fields[] = {
	{ "role", OB_JSON_STRING, false },
	{ "password", OB_JSON_STRING, false },
	{ "disabled", OB_JSON_BOOLEAN, false },
	{ "must_change_password", OB_JSON_BOOLEAN, false },
};

static const struct ob_json_field apikey_create_fields[] = {
	{ "name", OB_JSON_STRING, true },
	{ "role", OB_JSON_STRING, true },
};

static int check_role(struct ob_req *req, const char *role)
{
	unsigned perms;

	if (ob_access_role_perms(role, &perms) != 0) {
		ob_api_reply_error(req, 400, "invalid", "role: must be one of %s, got \"%s\"",
				   ob_access_role_names(), role);
		return -1;
	}
	return 0;
}

static bool bool_field(const json_t *obj, const char *name, bool fallback)
{
	const json_t *v = json_object_get(obj, name);

	return v ? json_is_true(v) : fallback;
}

void ob_api_get_users(struct ob_req *req)
{
	ob_api_reply_json(req, 200, json_pack("{s:o}", "users", ob_store_user_list(req->api->store)));
}

void ob_api_post_users(struct ob_req *req)
{
	struct ob_user user = { 0 };
	char err[512];
	const char *password;
	int ret;

	if (ob_json_check_fields(req->body, user_create_fields, OB_ARRAY_SIZE(user_create_fields),
				 "", err, sizeof(err)) != 0 ||
	    ob_store_user_name_check(json_string_value(json_object_get(req->body, "name")), err,
				     sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	if (check_role(req, json_string_value(json_object_get(req->body, "role"))) != 0)
		return;
	ob_strlcpy(user.name, json_string_value(json_object_get(req->body, "name")),
		   sizeof(user.name));
	ob_strlcpy(user.role, json_string_value(json_object_get(req->body, "role")),
		   sizeof(user.role));
	password = json_string_value(json_object_get(req->body, "password"));
	if (ob_access_password_policy(password, user.name, err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	/* A password someone else chose is known to two people: by default the user must
	 * replace it at first login. */
	user.must_change_password = bool_field(req->body, "must_change_password", true);
	ret = ob_access_password_hash(password, user.password_hash, sizeof(user.password_hash));
	if (ret != 0)
		ret = OB_EINTERNAL;
	if (ret == 0) {
		json_t *detail = json_pack("{s:s, s:b}", "role", user.role, "must_change_password",
					   user.must_change_password);
		struct ob_audit audit = ob_api_audit(req, "user.create", user.name, detail);

		ret = ob_store_user_create(req->api->store, &user, &audit);
		json_decref(detail);
	}
	if (ret == OB_EEXIST) {
		ob_api_reply_error(req, 409, "exists", "name: a user \"%s\" already exists", user.name);
	} else if (ret != 0) {
		ob_api_reply_err(req, ret, "the user could not be created");
	} else if (ob_store_user_get(req->api->store, user.name, &user) == 0) {
		ob_api_reply_json(req, 201, ob_store_user_to_json(&user));
	} else {
		ob_api_reply_err(req, OB_EIO, "the user was created but cannot be read back");
	}
	ob_secure_zero(&user, sizeof(user));
}

static int load_user(struct ob_req *req, struct ob_user *user)
{
	if (ob_store_user_get(req->api->store, req->params[0], user) != 0) {
		ob_api_reply_error(req, 404, "not_found", "no user named \"%s\"", req->params[0]);
		return -1;
	}
	return 0;
}

void ob_api_get_user(struct ob_req *req)
{
	struct ob_user user;

	if (load_user(req, &user) != 0)
		return;
	ob_api_reply_json(req, 200, ob_store_user_to_json(&user));
	ob_secure_zero(&user, sizeof(user));
}

void ob_api_patch_user(struct ob_req *req)
{
	struct ob_user user;
	json_t *detail = NULL;
	const json_t *value;
	char err[512];
	bool ends_sessions = false;
	int ret;

	if (ob_json_check_fields(req->body, user_patch_fields, OB_ARRAY_SIZE(user_patch_fields), "",
				 err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	if (json_object_size(req->body) == 0) {
		ob_api_reply_error(req, 400, "invalid",
				   "send at least one of role, password, disabled, "
				   "must_change_password");
		return;
	}
	if (load_user(req, &user) != 0)
		return;
	detail = json_object();
	value = json_object_get(req->body, "role");
	if (value) {
		if (check_role(req, json_string_value(value)) != 0)
			goto out;
		ends_sessions |= strcmp(user.role, json_string_value(value)) != 0;
		ob_strlcpy(user.role, json_string_value(value), sizeof(user.role));
		json_object_set_new(detail, "role", json_string(user.role));
	}
	value = json_object_get(req->body, "password");
	if (value) {
		if (ob_access_password_policy(json_string_value(value), user.name, err, sizeof(err)) !=
		    0) {
			ob_api_reply_error(req, 400, "invalid", "%s", err);
			goto out;
		}
		ret = ob_access_password_hash(json_string_value(value), user.password_hash,
					      sizeof(user.password_hash));
		if (ret != 0) {
			ob_api_reply_err(req, OB_EINTERNAL, "the password could not be hashed");
			goto out;
		}
		ends_sessions = true;
		user.must_change_password = true;
		json_object_set_new(detail, "password", json_string("changed"));
	}
	value = json_object_get(req->body, "disabled");
	if (value) {
		user.disabled = json_is_true(value);
		ends_sessions |= user.disabled;
		json_object_set_new(detail, "disabled", json_boolean(user.disabled));
	}
	user.must_change_password =
		bool_field(req->body, "must_change_password", user.must_change_password);
	json_object_set_new(detail, "must_change_password", json_boolean(user.must_change_password));
	{
		struct ob_audit audit = ob_api_audit(req, "user.update", user.name, detail);

		ret = ob_store_user_update(req->api->store, &user, &audit);
	}
	if (ret == OB_ECONFLICT) {
		ob_api_reply_error(req, 409, "conflict",
				   "this change would leave the box without an enabled admin; make "
				   "another user admin first");
		goto out;
	}
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the user could not be updated");
		goto out;
	}
	if (ends_sessions)
		ob_access_sessions_drop_user(req->api->sessions, user.id, NULL);
	ob_api_reply_json(req, 200, ob_store_user_to_json(&user));
out:
	json_decref(detail);
	ob_secure_zero(&user, sizeof(user));
}

void ob_api_delete_user(struct ob_req *req)
{
	struct ob_user user;
	struct ob_audit audit = ob_api_audit(req, "user.delete", req->params[0], NULL);
	int ret;

	if (load_user(req, &user) != 0)
		return;
	ret = ob_store_user_delete(req->api->store, user.name, &audit);
	if (ret == OB_ECONFLICT)
		ob_api_reply_error(req, 409, "conflict",
				   "\"%s\" is the last enabled admin; make another user admin first",
				   user.name);
	else if (ret == OB_ENOTFOUND)
		ob_api_reply_error(req, 404, "not_found", "no user named \"%s\"", req->params[0]);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the user could not be deleted");
	else {
		ob_access_sessions_drop_user(req->api->sessions, user.id, NULL);
		ob_api_reply_empty(req, NULL);
	}
	ob_secure_zero(&user, sizeof(user));
}

void ob_api_get_apikeys(struct ob_req *req)
{
	ob_api_reply_json(req, 200,
			  json_pack("{s:o}", "apikeys", ob_store_apikey_list(req->api->store)));
}

static int check_key_name(struct ob_req *req, const char *name)
{
	long chars = ob_utf8_chars(name);

	if (chars < 1 || chars > OB_APIKEY_NAME_CHARS) {
		ob_api_reply_error(req, 400, "invalid",
				   "name: must be 1 to %d printable characters, saying what the key "
				   "is for (\"paywall\", \"fleet\")",
				   OB_APIKEY_NAME_CHARS);
		return -1;
	}
	return 0;
}

void ob_api_post_apikeys(struct ob_req *req)
{
	struct ob_apikey key = { 0 };
	char token[OB_APIKEY_TOKEN_MAX];
	char err[512];
	const char *name;
	const char *role;
	json_t *detail;
	int ret;

	if (ob_json_check_fields(req->body, apikey_create_fields,
				 OB_ARRAY_SIZE(apikey_create_fields), "", err, sizeof(err)) != 0) {
		ob_api_reply_error(req, 400, "invalid", "%s", err);
		return;
	}
	name = json_string_value(json_object_get(req->body, "name"));
	role = json_string_value(json_object_get(req->body, "role"));
	if (check_key_name(req, name) != 0 || check_role(req, role) != 0)
		return;
	ret = ob_access_apikey_generate(key.id, token, sizeof(token), key.secret_sha256);
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the key could not be generated");
		return;
	}
	ob_strlcpy(key.name, name, sizeof(key.name));
	ob_strlcpy(key.role, role, sizeof(key.role));
	ob_strlcpy(key.created_by, req->actor, sizeof(key.created_by));
	key.created_ms = ob_time_wall_ms();
	detail = json_pack("{s:s, s:s}", "name", key.name, "role", key.role);
	{
		struct ob_audit audit = ob_api_audit(req, "apikey.create", key.id, detail);

		ret = ob_store_apikey_create(req->api->store, &key, &audit);
	}
	json_decref(detail);
	if (ret != 0) {
		ob_api_reply_err(req, ret, "the key could not be stored");
	} else {
		char created[32];

		ob_time_iso8601(key.created_ms, created, sizeof(created));
		ob_api_reply_json(req, 201,
				  json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", key.id, "name",
					    key.name, "role", key.role, "created_by", key.created_by,
					    "created_at", created, "key", token));
	}
	ob_secure_zero(token, sizeof(token));
	ob_secure_zero(&key, sizeof(key));
}

void ob_api_delete_apikey(struct ob_req *req)
{
	struct ob_audit audit = ob_api_audit(req, "apikey.delete", req->params[0], NULL);
	int ret = ob_store_apikey_delete(req->api->store, req->params[0], &audit);

	if (ret == OB_ENOTFOUND)
		ob_api_reply_error(req, 404, "not_found", "no API key with id \"%s\"", req->params[0]);
	else if (ret != 0)
		ob_api_reply_err(req, ret, "the key could not be deleted");
	else
		ob_api_reply_empty(req, NULL);
}

void ob_api_get_audit(struct ob_req *req)
{
	long long limit = 100;
	long long before = 0;

	if (ob_api_query_int(req, "limit", 1, 1000, &limit) != 0 ||
	    ob_api_query_int(req, "before", 1, INT64_MAX, &before) != 0)
		return;
	ob_api_reply_json(req, 200,
			  json_pack("{s:o}", "records",
				    ob_store_audit_list(req->api->store, before, (int)limit)));
}
