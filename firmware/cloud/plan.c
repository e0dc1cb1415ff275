/* A bundle's payload, checked part by part with the rules the REST API uses, and turned
 * into the store's change document (store/store.h, ob_store_cloud_apply). */
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "access/token.h"
#include "cloud/internal.h"
#include "core/err.h"
#include "core/json.h"
#include "core/util.h"
#include "engine/engine.h"
#include "store/store.h"

#define CLOUD_ACTOR "cloud"

static const struct ob_cloud_command_type command_types[] = {
	{ .name = "restart_channel", .fields = { "channel" } },
	{ .name = "reboot" },
	{ .name = "rotate_token_keys" },
	{ .name = "collect_diagnostics" },
	{ .name = "install_update", .fields = { "url", "sha256" } },
};

const struct ob_cloud_command_type *ob_cloud_command_type(const char *name)
{
	for (size_t i = 0; name && i < OB_ARRAY_SIZE(command_types); i++)
		if (strcmp(command_types[i].name, name) == 0)
			return &command_types[i];
	return NULL;
}

/* Everything a part's check needs. */
struct plan_ctx {
	struct ob_store *store;
	struct ob_access_policy policy;   /* the bundle's policy, else the one in force */
	const json_t *ladders;            /* the bundle's ladders by id, or NULL */
	int64_t now_ms;
	struct ob_cloud_plan *plan;
	char *err;
	size_t err_len;
};

static int fail(struct plan_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct plan_ctx *ctx, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->err, ctx->err_len, fmt, ap);
	va_end(ap);
	return OB_EINVAL;
}

static void say(struct plan_ctx *ctx, const char *part, json_t *what)
{
	json_object_set_new(ctx->plan->summary, part, what);
}

/* ---- access ---- */

static const struct ob_json_field access_fields[] = {
	{ "policy", OB_JSON_OBJECT, false },
	{ "keys", OB_JSON_ARRAY, false },
	{ "revocations", OB_JSON_ARRAY, false },
};

static const struct ob_json_field key_fields[] = {
	{ "id", OB_JSON_STRING, true },
	{ "secret_hex", OB_JSON_STRING, true },
	{ "signing", OB_JSON_BOOLEAN, false },
};

static int check_policy(struct plan_ctx *ctx, const json_t *doc)
{
	char why[512];

	if (ob_access_policy_from_json(doc, &ctx->policy, why, sizeof(why)) != 0)
		return fail(ctx, "access.policy.%s", why);
	json_object_set_new(ctx->plan->change, "policy", ob_access_policy_to_json(&ctx->policy));
	say(ctx, "policy", json_true());
	return 0;
}

static int check_keys(struct plan_ctx *ctx, const json_t *keys)
{
	json_t *rows = json_array();
	const json_t *key;
	size_t i;
	int signing = 0;

	json_object_set_new(ctx->plan->change, "keys", rows);
	if (json_array_size(keys) > OB_ACCESS_KEYS_MAX)
		return fail(ctx, "access.keys: at most %d keys (as many as a token is tried with)",
			    OB_ACCESS_KEYS_MAX);
	json_array_foreach(keys, i, key) {
		struct ob_token_key parsed;
		unsigned char digest[32];
		char where[48];
		char fingerprint[17];
		const char *id = json_string_value(json_object_get(key, "id"));

		snprintf(where, sizeof(where), "access.keys[%zu]", i);
		if (!json_is_object(key))
			return fail(ctx, "%s: an object {\"id\", \"secret_hex\", \"signing\"}", where);
		if (ob_json_check_fields(key, key_fields, OB_ARRAY_SIZE(key_fields), where, ctx->err,
					 ctx->err_len) != 0)
			return OB_EINVAL;
		if (!ob_is_slug(id, OB_TOKEN_KEY_ID_MAX))
			return fail(ctx, "%s.id: 1 to %d characters of a-z, 0-9, - and _, starting "
				    "with a letter or digit", where, OB_TOKEN_KEY_ID_MAX);
		for (size_t j = 0; j < i; j++)
			if (strcmp(id, json_string_value(json_object_get(json_array_get(keys, j),
									 "id"))) == 0)
				return fail(ctx, "%s.id: \"%s\" is listed twice", where, id);
		if (ob_access_token_key_from_hex(
			    id, json_string_value(json_object_get(key, "secret_hex")), &parsed) != 0)
			return fail(ctx, "%s.secret_hex: must be %d to %d hex digits (an even "
				    "number)", where, 2 * OB_TOKEN_KEY_MIN_BYTES,
				    2 * OB_TOKEN_KEY_MAX_BYTES);
		mbedtls_sha256_ret(parsed.secret, parsed.secret_len, digest, 0);
		ob_secure_zero(&parsed, sizeof(parsed));
		ob_hex_encode(digest, 8, fingerprint);
		signing += json_is_true(json_object_get(key, "signing"));
		json_array_append_new(
			rows, json_pack("{s:s, s:O, s:s, s:b, s:s, s:s}", "id", id, "secret_hex",
					json_object_get(key, "secret_hex"), "fingerprint", fingerprint,
					"signing", json_is_true(json_object_get(key, "signing")),
					"source", CLOUD_ACTOR, "created_by", CLOUD_ACTOR));
	}
	if (signing > 1)
		return fail(ctx, "access.keys: %d keys are marked signing; mark one", signing);
	say(ctx, "keys", json_integer((json_int_t)json_array_size(keys)));
	return 0;
}

static int check_revocations(struct plan_ctx *ctx, const json_t *list)
{
	json_t *rows = json_array();
	const json_t *item;
	size_t i;

	json_object_set_new(ctx->plan->change, "revocations", rows);
	json_array_foreach(list, i, item) {
		struct ob_revocation_input rev;
		char why[512];

		if (!json_is_object(item))
			return fail(ctx, "access.revocations[%zu]: an object with token_id or "
				    "viewer_id", i);
		if (ob_access_revocation_from_json(item, ctx->now_ms, &rev, why, sizeof(why)) != 0) {
			/* A message about one member names it first; one about the whole entry
			 * does not. */
			bool about_member = strcspn(why, " :") < strlen(why) &&
					    why[strcspn(why, " :")] == ':';

			return fail(ctx, "access.revocations[%zu]%s%s", i, about_member ? "." : ": ",
				    why);
		}
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s?, s:o}", "kind",
						      rev.viewer ? "viewer" : "token", "value",
						      rev.value, "reason",
						      rev.reason[0] ? rev.reason : NULL, "expires_ms",
						      rev.expires_ms ? json_integer(rev.expires_ms)
								     : json_null()));
	}
	say(ctx, "revocations", json_integer((json_int_t)json_array_size(list)));
	return 0;
}

static int check_access(struct plan_ctx *ctx, const json_t *access)
{
	int ret;

	if (!json_is_object(access))
		return fail(ctx, "access: an object {\"policy\", \"keys\", \"revocations\"}");
	if (ob_json_check_fields(access, access_fields, OB_ARRAY_SIZE(access_fields), "access",
				 ctx->err, ctx->err_len) != 0)
		return OB_EINVAL;
	ret = json_object_get(access, "policy") ? check_policy(ctx, json_object_get(access, "policy"))
						: 0;
	if (ret == 0 && json_object_get(access, "keys"))
		ret = check_keys(ctx, json_object_get(access, "keys"));
	if (ret == 0 && json_object_get(access, "revocations"))
		ret = check_revocations(ctx, json_object_get(access, "revocations"));
	ctx->plan->access = true;
	return ret;
}

/* ---- ladders and channels ---- */

/* An id from a document, for messages: "channels[2] (\"news\")". */
static void doc_where(char *out, size_t len, const char *part, size_t i, const json_t *doc)
{
	const char *id = json_string_value(json_object_get(doc, "id"));

	if (id)
		snprintf(out, len, "%s[%zu] (\"%.32s\")", part, i, id);
	else
		snprintf(out, len, "%s[%zu]", part, i);
}

static int check_ladders(struct plan_ctx *ctx, const json_t *ladders)
{
	json_t *by_id = json_object();
	const json_t *item;
	size_t i;

	json_object_set_new(ctx->plan->change, "ladders", by_id);
	if (!json_is_array(ladders))
		return fail(ctx, "ladders: a list of ladder documents, as POST /api/v1/ladders "
			    "takes them");
	json_array_foreach(ladders, i, item) {
		char where[64];
		char why[512];
		json_t *doc;
		json_t *builtin;
		const char *id;

		doc_where(where, sizeof(where), "ladders", i, item);
		if (!json_is_object(item))
			return fail(ctx, "%s: a ladder document (an object)", where);
		doc = json_deep_copy(item);
		json_object_del(doc, "builtin");
		if (ob_engine_ladder_validate(doc, why, sizeof(why)) != 0) {
			json_decref(doc);
			return fail(ctx, "%s: %s", where, why);
		}
		ob_engine_ladder_fill_defaults(doc);
		id = json_string_value(json_object_get(doc, "id"));
		builtin = ob_engine_ladder_preset(id);
		if (builtin || json_object_get(by_id, id)) {
			json_decref(builtin);
			json_decref(doc);
			return fail(ctx, "%s: %s", where,
				    builtin ? "a built-in ladder has this id and cannot be replaced"
					    : "this id is listed twice");
		}
		json_object_set_new(by_id, id, doc);
	}
	ctx->ladders = by_id;
	say(ctx, "ladders", json_integer((json_int_t)json_array_size(ladders)));
	return 0;
}

static bool ladder_exists(struct plan_ctx *ctx, const char *id)
{
	json_t *ladder = ob_engine_ladder_preset(id);

	if (!ladder && json_object_get(ctx->ladders, id))
		return true;
	if (!ladder)
		ob_store_doc_get(ctx->store, OB_STORE_LADDERS, id, &ladder);
	json_decref(ladder);
	return ladder != NULL;
}

static int check_channels(struct plan_ctx *ctx, const json_t *channels)
{
	json_t *by_id = json_object();
	const json_t *item;
	size_t i;

	json_object_set_new(ctx->plan->change, "channels", by_id);
	if (!json_is_array(channels))
		return fail(ctx, "channels: a list of channel documents, as POST /api/v1/channels "
			    "takes them");
	json_array_foreach(channels, i, item) {
		char where[64];
		char why[512];
		json_t *doc;
		const char *id;
		const char *risk;

		doc_where(where, sizeof(where), "channels", i, item);
		if (!json_is_object(item))
			return fail(ctx, "%s: a channel document (an object)", where);
		doc = json_deep_copy(item);
		json_object_del(doc, "status");
		json_object_del(doc, "playback");
		if (ob_engine_channel_validate(doc, why, sizeof(why)) != 0) {
			json_decref(doc);
			return fail(ctx, "%s: %s", where, why);
		}
		ob_engine_channel_fill_defaults(doc);
		id = json_string_value(json_object_get(doc, "id"));
		risk = json_string_value(json_object_get(doc, "risk_class"));
		if (json_object_get(by_id, id)) {
			json_decref(doc);
			return fail(ctx, "%s: this id is listed twice", where);
		}
		json_object_set_new(by_id, id, doc);
		if (!risk)
			json_object_set_new(doc, "risk_class", json_string(ctx->policy.default_risk));
		else if (!ob_access_policy_risk(&ctx->policy, risk))
			return fail(ctx, "%s: risk_class: the access policy has no risk class \"%s\"",
				    where, risk);
		if (!ladder_exists(ctx, json_string_value(json_object_get(doc, "ladder"))))
			return fail(ctx, "%s: ladder: there is no ladder \"%s\" on the box or in the "
				    "bundle", where, json_string_value(json_object_get(doc, "ladder")));
	}
	ctx->plan->access = true; /* a channel's class is the origin's to know */
	say(ctx, "channels", json_integer((json_int_t)json_array_size(channels)));
	return 0;
}

/* A new policy must keep every class the box's channels (and the bundle's) name. */
static int check_classes_in_use(struct plan_ctx *ctx)
{
	json_t *stored = ob_store_doc_list(ctx->store, OB_STORE_CHANNELS);
	const json_t *bundle = json_object_get(ctx->plan->change, "channels");
	const json_t *channel;
	size_t i;
	int ret = 0;

	json_array_foreach(stored, i, channel) {
		const char *id = json_string_value(json_object_get(channel, "id"));
		const char *risk = json_string_value(json_object_get(channel, "risk_class"));

		if (id && json_object_get(bundle, id))
			continue;
		if (risk && !ob_access_policy_risk(&ctx->policy, risk)) {
			ret = fail(ctx, "access.policy.risk_classes: channel \"%s\" uses the risk "
				   "class \"%s\"; keep the class, or move the channel in the same "
				   "bundle", id ? id : "?", risk);
			break;
		}
	}
	json_decref(stored);
	return ret;
}

/* ---- settings and commands ---- */

static int check_settings(struct plan_ctx *ctx, const json_t *settings)
{
	json_t *current = ob_store_settings_get(ctx->store);
	json_t *texts = json_object();
	const char *name;
	json_t *value;
	char why[512];
	int ret;

	json_object_set_new(ctx->plan->change, "settings", texts);
	if (!json_is_object(settings)) {
		json_decref(current);
		return fail(ctx, "settings: an object of settings, as PATCH /api/v1/settings "
			    "takes it");
	}
	ret = ob_store_settings_validate(settings, current, why, sizeof(why));
	json_decref(current);
	if (ret != 0)
		return fail(ctx, "settings.%s", why);
	json_object_foreach((json_t *)settings, name, value) {
		char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);

		if (!text)
			return OB_ENOMEM;
		json_object_set_new(texts, name, json_string(text));
		free(text);
	}
	say(ctx, "settings", json_deep_copy(settings));
	return 0;
}

static int check_commands(struct plan_ctx *ctx, const json_t *commands)
{
	const json_t *command;
	size_t i;

	if (!json_is_array(commands) || json_array_size(commands) > 32)
		return fail(ctx, "commands: a list of at most 32 commands {\"id\", \"type\", ...}");
	json_array_foreach(commands, i, command) {
		const char *id = json_string_value(json_object_get(command, "id"));
		const char *type = json_string_value(json_object_get(command, "type"));
		const struct ob_cloud_command_type *kind = ob_cloud_command_type(type);
		const char *key;
		const json_t *value;

		if (!json_is_object(command))
			return fail(ctx, "commands[%zu]: an object {\"id\", \"type\", ...}", i);
		if (!id || !*id || strlen(id) > OB_CLOUD_COMMAND_ID_MAX || ob_utf8_chars(id) < 0 ||
		    strpbrk(id, " \t"))
			return fail(ctx, "commands[%zu].id: 1 to %d characters without spaces, unique "
				    "for the fleet (\"c-17\")", i, OB_CLOUD_COMMAND_ID_MAX);
		if (!kind)
			return fail(ctx, "commands[%zu].type: one of restart_channel, reboot, "
				    "rotate_token_keys, collect_diagnostics, install_update", i);
		json_object_foreach((json_t *)command, key, value) {
			bool known = strcmp(key, "id") == 0 || strcmp(key, "type") == 0;

			for (size_t f = 0; !known && kind->fields[f]; f++)
				known = strcmp(key, kind->fields[f]) == 0;
			if (!known)
				return fail(ctx, "commands[%zu].%s: %s takes no such field", i, key,
					    kind->name);
		}
		for (size_t f = 0; kind->fields[f]; f++)
			if (!json_string_value(json_object_get(command, kind->fields[f])))
				return fail(ctx, "commands[%zu].%s: required for %s (a string)", i,
					    kind->fields[f], kind->name);
		if (strcmp(kind->name, "install_update") == 0) {
			const char *sha = json_string_value(json_object_get(command, "sha256"));
			unsigned char digest[32];

			if (strlen(sha) != 64 || ob_hex_decode(sha, digest, sizeof(digest)) != 0)
				return fail(ctx, "commands[%zu].sha256: 64 hex digits, the SHA-256 of "
					    "the update bundle", i);
		}
	}
	json_decref(ctx->plan->commands);
	ctx->plan->commands = json_deep_copy(commands);
	say(ctx, "commands", json_integer((json_int_t)json_array_size(commands)));
	return 0;
}

/* ---- the payload ---- */

void ob_cloud_plan_clear(struct ob_cloud_plan *plan)
{
	json_decref(plan->change);
	json_decref(plan->commands);
	json_decref(plan->summary);
	memset(plan, 0, sizeof(*plan));
}

int ob_cloud_plan_build(struct ob_store *store, const struct ob_access_policy *policy,
			const json_t *payload, int64_t now_ms, struct ob_cloud_plan *out, char *err,
			size_t err_len)
{
	static const char *const parts[] = { "access", "ladders", "channels", "settings",
					     "commands", NULL };
	struct plan_ctx ctx = {
		.store = store,
		.policy = *policy,
		.now_ms = now_ms,
		.plan = out,
		.err = err,
		.err_len = err_len,
	};
	const char *key;
	json_t *value;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	out->change = json_object();
	out->commands = json_array();
	out->summary = json_object();
	if (!out->change || !out->commands || !out->summary) {
		ret = OB_ENOMEM;
		goto fail_clear;
	}
	json_object_foreach((json_t *)payload, key, value) {
		if (!ob_str_in_list(parts, key)) {
			ret = fail(&ctx, "payload.%s: not a part this box takes (it takes access, "
				   "ladders, channels, settings, commands)", key);
			goto fail_clear;
		}
	}
	/* In this order: channels are checked against the bundle's policy and ladders. */
	if (json_object_get(payload, "access"))
		ret = check_access(&ctx, json_object_get(payload, "access"));
	if (ret == 0 && json_object_get(payload, "ladders"))
		ret = check_ladders(&ctx, json_object_get(payload, "ladders"));
	if (ret == 0 && json_object_get(payload, "channels"))
		ret = check_channels(&ctx, json_object_get(payload, "channels"));
	if (ret == 0 && json_object_get(json_object_get(payload, "access"), "policy"))
		ret = check_classes_in_use(&ctx);
	if (ret == 0 && json_object_get(payload, "settings"))
		ret = check_settings(&ctx, json_object_get(payload, "settings"));
	if (ret == 0 && json_object_get(payload, "commands"))
		ret = check_commands(&ctx, json_object_get(payload, "commands"));
	if (ret == 0)
		return 0;
fail_clear:
	ob_cloud_plan_clear(out);
	return ret;
}
