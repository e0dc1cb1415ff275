/* Core helpers: JSON body parsing and shape checks, encodings, atomic files, logging names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/access.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"

static void test_parse_object_errors(void **state)
{
	char err[256];
	json_t *v;

	(void)state;
	assert_null(ob_json_parse_object("", 0, err, sizeof(err)));
	assert_non_null(strstr(err, "empty"));
	assert_null(ob_json_parse_object("{\"a\":", 5, err, sizeof(err)));
	assert_non_null(strstr(err, "not valid JSON"));
	assert_non_null(strstr(err, "line 1"));
	assert_null(ob_json_parse_object("[1,2]", 5, err, sizeof(err)));
	assert_non_null(strstr(err, "must be a JSON object, got an array"));
	assert_null(ob_json_parse_object("{\"a\":1,\"a\":2}", 13, err, sizeof(err)));
	v = ob_json_parse_object("{\"a\":1}", 7, err, sizeof(err));
	assert_non_null(v);
	json_decref(v);
}

static const struct ob_json_field fields[] = {
	{ "name", OB_JSON_STRING, true },
	{ "role", OB_JSON_STRING, true },
	{ "disabled", OB_JSON_BOOLEAN, false },
};

static void test_check_fields(void **state)
{
	static const struct {
		const char *json;
		int expect;
		const char *message_has;
	} rows[] = {
		{ "{\"name\":\"a\",\"role\":\"b\"}", 0, NULL },
		{ "{\"name\":\"a\",\"role\":\"b\",\"disabled\":false}", 0, NULL },
		{ "{\"name\":\"a\"}", OB_EINVAL, "role: required field is missing" },
		{ "{\"name\":1,\"role\":\"b\"}", OB_EINVAL, "name: must be a string, got an integer" },
		{ "{\"name\":\"a\",\"role\":\"b\",\"disabled\":\"no\"}", OB_EINVAL,
		  "disabled: must be a boolean (true or false), got a string" },
		{ "{\"name\":\"a\",\"role\":\"b\",\"colour\":1}", OB_EINVAL,
		  "colour: unknown field; the known fields are: name, role, disabled" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		json_t *obj = json_loads(rows[i].json, 0, NULL);
		char err[256] = "";
		int ret = ob_json_check_fields(obj, fields, 3, "", err, sizeof(err));

		if (ret != rows[i].expect)
			fail_msg("row %zu: got %d (%s)", i, ret, err);
		if (rows[i].message_has && !strstr(err, rows[i].message_has))
			fail_msg("row %zu: \"%s\" lacks \"%s\"", i, err, rows[i].message_has);
		json_decref(obj);
	}
}

static void test_hex_and_base64url(void **state)
{
	const unsigned char bytes[] = { 0x00, 0xff, 0x10, 0xab };
	unsigned char back[4];
	char text[16];

	(void)state;
	ob_hex_encode(bytes, sizeof(bytes), text);
	assert_string_equal(text, "00ff10ab");
	assert_int_equal(ob_hex_decode("00FF10ab", back, 4), 0);
	assert_memory_equal(back, bytes, 4);
	assert_int_equal(ob_hex_decode("00ff10a", back, 4), OB_EINVAL);
	assert_int_equal(ob_hex_decode("00ff10abcd", back, 4), OB_EINVAL);
	assert_int_equal(ob_hex_decode("00ff10xz", back, 4), OB_EINVAL);
	/* RFC 4648 vectors, base64url without padding */
	ob_base64url_encode((const unsigned char *)"f", 1, text);
	assert_string_equal(text, "Zg");
	ob_base64url_encode((const unsigned char *)"fo", 2, text);
	assert_string_equal(text, "Zm8");
	ob_base64url_encode((const unsigned char *)"foo", 3, text);
	assert_string_equal(text, "Zm9v");
	ob_base64url_encode((const unsigned char *)"foob", 4, text);
	assert_string_equal(text, "Zm9vYg");
	ob_base64url_encode(bytes + 1, 3, text);
	assert_string_equal(text, "_xCr");
	assert_int_equal(ob_base64url_len(16), 22);
	assert_int_equal(ob_base64url_len(32), 43);
}

static void test_constant_time_equal(void **state)
{
	(void)state;
	assert_true(ob_ct_equal("abcd", "abcd", 4));
	assert_false(ob_ct_equal("abcd", "abce", 4));
	assert_false(ob_ct_equal("xbcd", "abcd", 4));
	assert_true(ob_ct_equal("", "", 0));
}

static void test_atomic_write_replaces_whole_file(void **state)
{
	char dir[] = "/tmp/ob-core-XXXXXX";
	char path[64];
	char *data = NULL;
	size_t len = 0;
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	assert_int_equal(ob_write_file_atomic(path, "first", 5, 0600), 0);
	assert_int_equal(ob_write_file_atomic(path, "second", 6, 0640), 0);
	assert_int_equal(ob_read_file(path, 100, &data, &len), 0);
	assert_string_equal(data, "second");
	assert_int_equal(len, 6);
	free(data);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(ob_read_file(path, 5, &data, &len), OB_ETOOBIG);
	unlink(path);
	assert_int_equal(ob_read_file(path, 5, &data, &len), OB_ENOTFOUND);
	rmdir(dir);
}

static void test_strlcpy_one_byte_short(void **state)
{
	char buf[6];

	(void)state;
	assert_int_equal(ob_strlcpy(buf, "hello", sizeof(buf)), 0);
	assert_string_equal(buf, "hello");
	assert_int_equal(ob_strlcpy(buf, "hello!", sizeof(buf)), OB_ETOOBIG);
	assert_string_equal(buf, "hello");
}

static void test_slugs_and_lists(void **state)
{
	static const char *const colours[] = { "red", "green", NULL };

	(void)state;
	assert_true(ob_is_slug("news-1_hd", 32));
	assert_true(ob_is_slug("0a", 2));
	assert_false(ob_is_slug("0ab", 2));
	assert_false(ob_is_slug("", 32));
	assert_false(ob_is_slug("-news", 32));
	assert_false(ob_is_slug("News", 32));
	assert_false(ob_is_slug("a/b", 32));
	assert_false(ob_is_slug("a.b", 32));
	assert_true(ob_str_in_list(colours, "green"));
	assert_false(ob_str_in_list(colours, "Green"));
	assert_false(ob_str_in_list(colours, ""));
}

static void test_log_levels_parse(void **state)
{
	enum ob_log_level level;

	(void)state;
	assert_int_equal(ob_log_level_parse("debug", &level), 0);
	assert_int_equal(level, OB_LOG_DEBUG);
	assert_int_equal(ob_log_level_parse("verbose", &level), OB_EINVAL);
}

static void test_apikey_roundtrip_and_malformed(void **state)
{
	char id[17];
	char parsed_id[17];
	char token[OB_APIKEY_TOKEN_MAX];
	unsigned char sha[32];
	unsigned char parsed_sha[32];

	(void)state;
	assert_int_equal(ob_access_apikey_generate(id, token, sizeof(token), sha), 0);
	assert_int_equal(strncmp(token, "obk_", 4), 0);
	assert_int_equal(ob_access_apikey_parse(token, parsed_id, parsed_sha), 0);
	assert_string_equal(parsed_id, id);
	assert_memory_equal(parsed_sha, sha, 32);
	/* one changed secret character gives another hash */
	token[strlen(token) - 1] = token[strlen(token) - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(ob_access_apikey_parse(token, parsed_id, parsed_sha), 0);
	assert_memory_not_equal(parsed_sha, sha, 32);
	assert_int_equal(ob_access_apikey_parse("", parsed_id, parsed_sha), OB_EAUTH);
	assert_int_equal(ob_access_apikey_parse("obk_short", parsed_id, parsed_sha), OB_EAUTH);
	token[4] = 'G'; /* id must be lowercase hex */
	assert_int_equal(ob_access_apikey_parse(token, parsed_id, parsed_sha), OB_EAUTH);
	assert_int_equal(ob_access_apikey_generate(id, token, 63, sha), OB_ETOOBIG);
}

static void test_roles(void **state)
{
	unsigned perms = 0;

	(void)state;
	assert_int_equal(ob_access_role_perms("viewer", &perms), 0);
	assert_int_equal(perms, OB_PERM_READ);
	assert_int_equal(ob_access_role_perms("operator", &perms), 0);
	assert_int_equal(perms, OB_PERM_READ | OB_PERM_OPERATE | OB_PERM_ISSUE);
	/* A paywall's key issues playback tokens and reads nothing. */
	assert_int_equal(ob_access_role_perms("issuer", &perms), 0);
	assert_int_equal(perms, OB_PERM_ISSUE);
	/* A fleet manager drives channels and the cloud side, never users or settings. */
	assert_int_equal(ob_access_role_perms("fleet", &perms), 0);
	assert_int_equal(perms, OB_PERM_READ | OB_PERM_OPERATE | OB_PERM_ISSUE | OB_PERM_FLEET);
	assert_int_equal(ob_access_role_perms("admin", &perms), 0);
	assert_true(perms & OB_PERM_ISSUE);
	assert_true(perms & OB_PERM_FLEET);
	assert_true(perms & OB_PERM_ADMIN);
	assert_int_equal(ob_access_role_perms("root", &perms), OB_EINVAL);
	assert_int_equal(ob_access_role_perms("Admin", &perms), OB_EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_object_errors),
		cmocka_unit_test(test_check_fields),
		cmocka_unit_test(test_hex_and_base64url),
		cmocka_unit_test(test_constant_time_equal),
		cmocka_unit_test(test_atomic_write_replaces_whole_file),
		cmocka_unit_test(test_strlcpy_one_byte_short),
		cmocka_unit_test(test_slugs_and_lists),
		cmocka_unit_test(test_log_levels_parse),
		cmocka_unit_test(test_apikey_roundtrip_and_malformed),
		cmocka_unit_test(test_roles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
