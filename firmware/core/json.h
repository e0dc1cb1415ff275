/* JSON helpers over jansson: parsing request bodies and checking their shape. */
#ifndef OB_CORE_JSON_H
#define OB_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum ob_json_type {
	OB_JSON_STRING,
	OB_JSON_INTEGER,
	OB_JSON_BOOLEAN,
	OB_JSON_OBJECT,
	OB_JSON_ARRAY,
	OB_JSON_STRING_OR_NULL, /* a string, or null for "none" */
};

/* One member an object may carry. */
struct ob_json_field {
	const char *name;
	enum ob_json_type type;
	bool required;
};

/* Parses a request body that must be one JSON object (duplicate keys refused).
 * Returns a new reference, or NULL with a message saying where the text is wrong. */
json_t *ob_json_parse_object(const char *text, size_t len, char *err, size_t err_len);

/* Checks that obj carries only the listed fields, each of its type, and every required
 * one. Returns 0, or OB_EINVAL with a message naming the field (prefixed by `where`). */
int ob_json_check_fields(const json_t *obj, const struct ob_json_field *fields,
			 size_t n_fields, const char *where, char *err, size_t err_len);

/* The name of a JSON value's type as a person would say it ("a string", "an integer"). */
const char *ob_json_type_phrase(const json_t *value);

/* Same phrase for an expected type. */
const char *ob_json_expected_phrase(enum ob_json_type type);

#endif
