/* The declared settings table: validation, schema, and that every default obeys its own rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/err.h"
#include "store/store.h"

struct case_row {
	const char *patch;      /* JSON */
	int expect;             /* 0 or OB_EINVAL */
	const char *message_has; /* substring the error must carry */
};

static const struct case_row cases[] = {
	{ "{\"box_name\": \"studio-1\"}", 0, NULL },
	{ "{\"box_name\": \"\"}", OB_EINVAL, "box_name: must be 1 to 63 characters" },
	{ "{\"box_name\": \"0123456789012345678901234567890123456789012345678901234567890123\"}",
	  OB_EINVAL, "box_name" },
	{ "{\"box_name\": \"bad\\nname\"}", OB_EINVAL, "control characters" },
	{ "{\"box_name\": 5}", OB_EINVAL, "box_name: must be a string, got an integer" },
	{ "{\"log_level\": \"debug\"}", 0, NULL },
	{ "{\"log_level\": \"loud\"}", OB_EINVAL, "log_level: must be one of \"error\"" },
	{ "{\"session_idle_timeout_s\": 600}", 0, NULL },
	{ "{\"session_idle_timeout_s\": 59}", OB_EINVAL,
	  "session_idle_timeout_s: must be between 60 and 86400 s, got 59" },
	{ "{\"session_idle_timeout_s\": 86401}", OB_EINVAL, "got 86401" },
	{ "{\"session_idle_timeout_s\": \"600\"}", OB_EINVAL, "got a string" },
	{ "{\"session_idle_timeout_s\": 600.5}", OB_EINVAL, "got a number with a fraction" },
	{ "{\"session_idle_timeout_s\": true}", OB_EINVAL, "got a boolean" },
	{ "{\"session_idle_timeout_s\": null}", OB_EINVAL, "got null" },
	{ "{\"login_free_attempts\": 0}", OB_EINVAL, "login_free_attempts" },
	{ "{\"audit_retention_days\": 3650}", 0, NULL },
	{ "{\"no_such_setting\": 1}", OB_EINVAL, "no_such_setting: unknown setting" },
	{ "{\"session_idle_timeout_s\": 7200, \"session_absolute_timeout_s\": 3600}", OB_EINVAL,
	  "session_absolute_timeout_s: must not be shorter than session_idle_timeout_s" },
	{ "{\"session_idle_timeout_s\": 3600, \"session_absolute_timeout_s\": 3600}", 0, NULL },
};

static void test_validation_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512] = "";
		json_t *patch = json_loads(cases[i].patch, 0, NULL);
		int ret;

		assert_non_null(patch);
		ret = ob_store_settings_validate(patch, NULL, err, sizeof(err));
		if (ret != cases[i].expect)
			fail_msg("case %zu (%s): got %d (%s), expected %d", i, cases[i].patch, ret, err,
				 cases[i].expect);
		if (cases[i].message_has && !strstr(err, cases[i].message_has))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err, cases[i].message_has);
		json_decref(patch);
	}
}

static void test_cross_rule_uses_current_values(void **state)
{
	json_t *current = json_pack("{s:i, s:i}", "session_idle_timeout_s", 7200,
				    "session_absolute_timeout_s", 43200);
	json_t *patch = json_pack("{s:i}", "session_absolute_timeout_s", 3600);
	char err[256];

	(void)state;
	assert_int_equal(ob_store_settings_validate(patch, current, err, sizeof(err)), OB_EINVAL);
	assert_non_null(strstr(err, "7200"));
	json_decref(patch);
	json_decref(current);
}

static void test_non_object_refused(void **state)
{
	json_t *array = json_array();
	char err[256];

	(void)state;
	assert_int_equal(ob_store_settings_validate(array, NULL, err, sizeof(err)), OB_EINVAL);
	json_decref(array);
}

/* Every declared default must pass the declaration's own validation, and the schema must
 * describe every declared setting. */
static void test_defaults_obey_declarations(void **state)
{
	size_t count;
	const struct ob_setting *table = ob_store_settings_table(&count);
	json_t *schema = ob_store_settings_schema();

	(void)state;
	assert_true(count > 0);
	assert_int_equal(json_array_size(schema), count);
	for (size_t i = 0; i < count; i++) {
		json_t *item = json_array_get(schema, i);
		json_t *patch = json_object();
		char err[256] = "";

		assert_string_equal(json_string_value(json_object_get(item, "name")), table[i].name);
		assert_non_null(json_object_get(item, "description"));
		json_object_set(patch, table[i].name, json_object_get(item, "default"));
		if (ob_store_settings_validate(patch, NULL, err, sizeof(err)) != 0)
			fail_msg("default of %s is invalid: %s", table[i].name, err);
		json_decref(patch);
	}
	json_decref(schema);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validation_table),
		cmocka_unit_test(test_cross_rule_uses_current_values),
		cmocka_unit_test(test_non_object_refused),
		cmocka_unit_test(test_defaults_obey_declarations),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
