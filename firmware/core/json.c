#include "core/json.h"

#include <stdio.h>
#include <string.h>

#include "core/err.h"

json_t *ob_json_parse_object(const char *text, size_t len, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root;

	if (len == 0) {
		snprintf(err, err_len, "request body is empty; send a JSON object");
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		snprintf(err, err_len, "request body is not valid JSON: %s at line %d, column %d",
			 jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		snprintf(err, err_len, "request body must be a JSON object, got %s",
			 ob_json_type_phrase(root));
		json_decref(root);
		return NULL;
	}
	return root;
}

static bool type_matches(const json_t *value, enum ob_json_type type)
{
	switch (type) {
	case OB_JSON_STRING:
		return json_is_string(value);
	case OB_JSON_INTEGER:
		return json_is_integer(value);
	case OB_JSON_BOOLEAN:
		return json_is_boolean(value);
	case OB_JSON_OBJECT:
		return json_is_object(value);
	case OB_JSON_ARRAY:
		return json_is_array(value);
	case OB_JSON_STRING_OR_NULL:
		return json_is_string(value) || json_is_null(value);
	}
	return false;
}

const char *ob_json_type_phrase(const json_t *value)
{
	switch (json_typeof(value)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown value";
}

const char *ob_json_expected_phrase(enum ob_json_type type)
{
	static const char *const phrases[] = {
		[OB_JSON_STRING] = "a string",
		[OB_JSON_INTEGER] = "an integer",
		[OB_JSON_BOOLEAN] = "a boolean (true or false)",
		[OB_JSON_OBJECT] = "an object",
		[OB_JSON_ARRAY] = "an array",
		[OB_JSON_STRING_OR_NULL] = "a string or null",
	};
	return phrases[type];
}

int ob_json_check_fields(const json_t *obj, const struct ob_json_field *fields,
			 size_t n_fields, const char *where, char *err, size_t err_len)
{
	const char *key;
	json_t *value;
	const char *sep = (where && *where) ? "." : "";

	if (!where)
		where = "";
	json_object_foreach((json_t *)obj, key, value) {
		size_t i;

		for (i = 0; i < n_fields; i++)
			if (strcmp(fields[i].name, key) == 0)
				break;
		if (i == n_fields) {
			char known[256] = "";
			size_t used = 0;

			for (size_t k = 0; k < n_fields && used < sizeof(known); k++)
				used += (size_t)snprintf(known + used, sizeof(known) - used, "%s%s",
							 k ? ", " : "", fields[k].name);
			snprintf(err, err_len, "%s%s%.64s: unknown field; the known fields are: %s",
				 where, sep, key, known);
			return OB_EINVAL;
		}
		if (!type_matches(value, fields[i].type)) {
			snprintf(err, err_len, "%s%s%s: must be %s, got %s", where, sep, key,
				 ob_json_expected_phrase(fields[i].type), ob_json_type_phrase(value));
			return OB_EINVAL;
		}
	}
	for (size_t i = 0; i < n_fields; i++) {
		if (fields[i].required && !json_object_get(obj, fields[i].name)) {
			snprintf(err, err_len, "%s%s%s: required field is missing (%s)", where, sep,
				 fields[i].name, ob_json_expected_phrase(fields[i].type));
			return OB_EINVAL;
		}
	}
	return 0;
}
