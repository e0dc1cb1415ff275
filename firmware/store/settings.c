#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "store/internal.h"

#define MODULE "store"

static void apply_log_level(const json_t *value)
{
	enum ob_log_level level;

	if (ob_log_level_parse(json_string_value(value), &level) == 0)
		ob_log_set_level(level);
}

static const char *const log_levels[] = { "error", "warn", "info", "debug", NULL };

static const struct ob_setting settings_table[] = {
	{
		.name = "box_name",
		.type = OB_SETTING_STRING,
		.description = "Name of this box, shown in the console and reported to the fleet",
		.str_default = "ottbox",
		.int_min = 1,
		.str_max = 63,
	},
	{
		.name = "log_level",
		.type = OB_SETTING_ENUM,
		.description = "Most verbose level written to the log",
		.str_default = "info",
		.choices = log_levels,
		.apply = apply_log_level,
	},
	{
		.name = "session_idle_timeout_s",
		.type = OB_SETTING_INT,
		.description = "A console session ends after this long without a request",
		.unit = "s",
		.int_default = 1800,
		.int_min = 60,
		.int_max = 86400,
	},
	{
		.name = "session_absolute_timeout_s",
		.type = OB_SETTING_INT,
		.description = "A console session ends this long after login, active or not",
		.unit = "s",
		.int_default = 43200,
		.int_min = 600,
		.int_max = 604800,
	},
	{
		.name = "login_free_attempts",
		.type = OB_SETTING_INT,
		.description = "Failed logins allowed per user before backoff (an address gets four "
			       "times as many)",
		.int_default = 5,
		.int_min = 1,
		.int_max = 20,
	},
	{
		.name = "login_backoff_max_s",
		.type = OB_SETTING_INT,
		.description = "Longest wait imposed after repeated failed logins",
		.unit = "s",
		.int_default = 900,
		.int_min = 1,
		.int_max = 86400,
	},
	{
		.name = "audit_retention_days",
		.type = OB_SETTING_INT,
		.description = "Audit log records older than this are deleted",
		.unit = "days",
		.int_default = 365,
		.int_min = 1,
		.int_max = 3650,
	},
	{
		.name = "cloud_health_check_s",
		.type = OB_SETTING_INT,
		.description = "After a control-plane bundle is applied, how long its channels have "
			       "to be live again before the box rolls the bundle back",
		.unit = "s",
		.int_default = 30,
		.int_min = 5,
		.int_max = 600,
	},
};

const struct ob_setting *ob_store_settings_table(size_t *count)
{
	*count = OB_ARRAY_SIZE(settings_table);
	return settings_table;
}

static const struct ob_setting *find_setting(const char *name)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(settings_table); i++)
		if (strcmp(settings_table[i].name, name) == 0)
			return &settings_table[i];
	return NULL;
}

static json_t *default_value(const struct ob_setting *s)
{
	switch (s->type) {
	case OB_SETTING_INT:
		return json_integer(s->int_default);
	case OB_SETTING_BOOL:
		return json_boolean(s->int_default);
	case OB_SETTING_STRING:
	case OB_SETTING_ENUM:
		return json_string(s->str_default);
	}
	return json_null();
}

static int validate_one(const struct ob_setting *s, const json_t *value, char *err,
			size_t err_len)
{
	switch (s->type) {
	case OB_SETTING_INT: {
		json_int_t v;

		if (!json_is_integer(value)) {
			snprintf(err, err_len, "%s: must be an integer between %lld and %lld%s%s, got %s",
				 s->name, s->int_min, s->int_max, s->unit ? " " : "",
				 s->unit ? s->unit : "", ob_json_type_phrase(value));
			return OB_EINVAL;
		}
		v = json_integer_value(value);
		if (v < s->int_min || v > s->int_max) {
			snprintf(err, err_len, "%s: must be between %lld and %lld%s%s, got %lld",
				 s->name, s->int_min, s->int_max, s->unit ? " " : "",
				 s->unit ? s->unit : "", (long long)v);
			return OB_EINVAL;
		}
		break;
	}
	case OB_SETTING_BOOL:
		if (!json_is_boolean(value)) {
			snprintf(err, err_len, "%s: must be true or false, got %s", s->name,
				 ob_json_type_phrase(value));
			return OB_EINVAL;
		}
		break;
	case OB_SETTING_STRING: {
		long chars;

		if (!json_is_string(value)) {
			snprintf(err, err_len, "%s: must be a string, got %s", s->name,
				 ob_json_type_phrase(value));
			return OB_EINVAL;
		}
		chars = ob_utf8_chars(json_string_value(value));
		if (chars < 0 || strlen(json_string_value(value)) != json_string_length(value)) {
			snprintf(err, err_len, "%s: must be UTF-8 text without control characters",
				 s->name);
			return OB_EINVAL;
		}
		if (chars > (long)s->str_max || chars < s->int_min) {
			snprintf(err, err_len, "%s: must be %lld to %zu characters long, got %ld",
				 s->name, s->int_min, s->str_max, chars);
			return OB_EINVAL;
		}
		break;
	}
	case OB_SETTING_ENUM: {
		char choices[256] = "";
		size_t used = 0;

		if (json_is_string(value)) {
			for (const char *const *c = s->choices; *c; c++)
				if (strcmp(*c, json_string_value(value)) == 0)
					goto extra;
		}
		for (const char *const *c = s->choices; *c && used < sizeof(choices); c++)
			used += (size_t)snprintf(choices + used, sizeof(choices) - used, "%s\"%s\"",
						 c == s->choices ? "" : ", ", *c);
		snprintf(err, err_len, "%s: must be one of %s", s->name, choices);
		return OB_EINVAL;
	}
	}
extra:
	if (s->validate)
		return s->validate(value, err, err_len);
	return 0;
}

static long long int_of(const json_t *patch, const json_t *current, const char *name)
{
	const json_t *v = patch ? json_object_get(patch, name) : NULL;

	if (!v && current)
		v = json_object_get(current, name);
	return v ? (long long)json_integer_value(v) : find_setting(name)->int_default;
}

int ob_store_settings_validate(const json_t *patch, const json_t *current, char *err,
			       size_t err_len)
{
	const char *name;
	json_t *value;

	if (!json_is_object(patch)) {
		snprintf(err, err_len, "settings must be a JSON object of name: value pairs");
		return OB_EINVAL;
	}
	json_object_foreach((json_t *)patch, name, value) {
		const struct ob_setting *s = find_setting(name);
		int ret;

		if (!s) {
			char known[512] = "";
			size_t used = 0;

			for (size_t i = 0; i < OB_ARRAY_SIZE(settings_table) && used < sizeof(known); i++)
				used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
							 i ? ", " : "", settings_table[i].name);
			snprintf(err, err_len, "%.64s: unknown setting; the settings are: %s", name,
				 known);
			return OB_EINVAL;
		}
		ret = validate_one(s, value, err, err_len);
		if (ret != 0)
			return ret;
	}
	if (int_of(patch, current, "session_absolute_timeout_s") <
	    int_of(patch, current, "session_idle_timeout_s")) {
		snprintf(err, err_len,
			 "session_absolute_timeout_s: must not be shorter than "
			 "session_idle_timeout_s (%lld s)",
			 int_of(patch, current, "session_idle_timeout_s"));
		return OB_EINVAL;
	}
	return 0;
}

json_t *ob_store_settings_schema(void)
{
	static const char *const type_names[] = {
		[OB_SETTING_INT] = "integer",
		[OB_SETTING_BOOL] = "boolean",
		[OB_SETTING_STRING] = "string",
		[OB_SETTING_ENUM] = "enum",
	};
	json_t *out = json_array();

	for (size_t i = 0; out && i < OB_ARRAY_SIZE(settings_table); i++) {
		const struct ob_setting *s = &settings_table[i];
		json_t *item = json_pack("{s:s, s:s, s:s, s:o}", "name", s->name, "type",
					 type_names[s->type], "description", s->description,
					 "default", default_value(s));

		if (!item)
			continue;
		if (s->unit)
			json_object_set_new(item, "unit", json_string(s->unit));
		if (s->type == OB_SETTING_INT) {
			json_object_set_new(item, "min", json_integer(s->int_min));
			json_object_set_new(item, "max", json_integer(s->int_max));
		} else if (s->type == OB_SETTING_STRING) {
			json_object_set_new(item, "min_length", json_integer(s->int_min));
			json_object_set_new(item, "max_length", json_integer((json_int_t)s->str_max));
		} else if (s->type == OB_SETTING_ENUM) {
			json_t *choices = json_array();

			for (const char *const *c = s->choices; *c; c++)
				json_array_append_new(choices, json_string(*c));
			json_object_set_new(item, "choices", choices);
		}
		json_array_append_new(out, item);
	}
	return out;
}

static void apply_all(const json_t *settings)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(settings_table); i++)
		if (settings_table[i].apply)
			settings_table[i].apply(json_object_get(settings, settings_table[i].name));
}

int ob_store_settings_load(struct ob_store *store)
{
	sqlite3_stmt *stmt;
	json_t *settings = json_object();
	int rc;

	if (!settings)
		return OB_ENOMEM;
	for (size_t i = 0; i < OB_ARRAY_SIZE(settings_table); i++)
		json_object_set_new(settings, settings_table[i].name, default_value(&settings_table[i]));
	if (ob_store_prepare(store, "SELECT name, value FROM settings", &stmt) != 0) {
		json_decref(settings);
		return OB_EIO;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(stmt, 0);
		const char *text = (const char *)sqlite3_column_text(stmt, 1);
		const struct ob_setting *s = name ? find_setting(name) : NULL;
		json_t *value = text ? json_loads(text, JSON_DECODE_ANY, NULL) : NULL;
		char err[256];

		if (!s)
			ob_warn(MODULE, "stored setting \"%s\" is not known to this firmware; ignored",
				name ? name : "?");
		else if (!value || validate_one(s, value, err, sizeof(err)) != 0)
			ob_warn(MODULE, "stored setting \"%s\" is not valid; using its default", s->name);
		else
			json_object_set(settings, s->name, value);
		json_decref(value);
	}
	sqlite3_finalize(stmt);
	if (rc != SQLITE_DONE) {
		json_decref(settings);
		return OB_EIO;
	}
	json_decref(store->settings);
	store->settings = settings;
	apply_all(settings);
	return 0;
}

json_t *ob_store_settings_get(struct ob_store *store)
{
	json_t *copy;

	pthread_mutex_lock(&store->lock);
	copy = json_deep_copy(store->settings);
	pthread_mutex_unlock(&store->lock);
	return copy;
}

long long ob_store_setting_int(struct ob_store *store, const char *name)
{
	const struct ob_setting *s = find_setting(name);
	long long value = s ? s->int_default : 0;
	const json_t *v;

	pthread_mutex_lock(&store->lock);
	v = json_object_get(store->settings, name);
	if (json_is_integer(v))
		value = json_integer_value(v);
	else if (json_is_boolean(v))
		value = json_is_true(v);
	pthread_mutex_unlock(&store->lock);
	return value;
}

int ob_store_settings_patch(struct ob_store *store, const json_t *patch,
			    const struct ob_audit *audit, char *err, size_t err_len)
{
	sqlite3_stmt *stmt = NULL;
	json_t *detail = NULL;
	json_t *next = NULL;
	const char *name;
	json_t *value;
	int64_t now = ob_time_wall_ms();
	int ret;

	pthread_mutex_lock(&store->lock);
	ret = ob_store_settings_validate(patch, store->settings, err, err_len);
	if (ret != 0)
		goto out_unlock;
	ret = OB_ENOMEM;
	next = json_deep_copy(store->settings);
	detail = json_object();
	if (!next || !detail)
		goto out_unlock;
	ret = OB_EIO;
	if (ob_store_exec(store, "BEGIN IMMEDIATE") != 0)
		goto out_unlock;
	if (ob_store_prepare(store,
			     "INSERT INTO settings(name, value, updated_ms) VALUES (?1, ?2, ?3) "
			     "ON CONFLICT(name) DO UPDATE SET value = ?2, updated_ms = ?3",
			     &stmt) != 0)
		goto fail_rollback;
	json_object_foreach((json_t *)patch, name, value) {
		char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);

		if (!text)
			goto fail_rollback;
		sqlite3_bind_text(stmt, 1, name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(stmt, 2, text, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 3, now);
		free(text);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			goto fail_rollback;
		sqlite3_reset(stmt);
		json_object_set_new(detail, name,
				    json_pack("{s:O, s:O}", "from", json_object_get(next, name), "to",
					      value));
		json_object_set(next, name, value);
	}
	{
		struct ob_audit a = *audit;

		a.detail = detail;
		if (ob_store_audit_insert(store, &a, "ok") != 0)
			goto fail_rollback;
	}
	if (ob_store_exec(store, "COMMIT") != 0)
		goto fail_rollback;
	json_decref(store->settings);
	store->settings = next;
	next = NULL;
	/* Only what this change touched: a --log-level given at start stays in force until
	 * someone changes log_level itself. */
	json_object_foreach((json_t *)patch, name, value) {
		const struct ob_setting *s = find_setting(name);

		if (s->apply)
			s->apply(value);
	}
	ret = 0;
	goto out_unlock;

fail_rollback:
	snprintf(err, err_len, "settings could not be saved: %s", sqlite3_errmsg(store->db));
	ob_store_exec(store, "ROLLBACK");
out_unlock:
	sqlite3_finalize(stmt);
	pthread_mutex_unlock(&store->lock);
	json_decref(next);
	json_decref(detail);
	return ret;
}
