/* Password hashing (Argon2id), verification, the policy and one-time passwords. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "access/access.h"
#include "core/err.h"
#include "store/store.h"

static void test_hash_then_verify(void **state)
{
	char hash[OB_PASSWORD_HASH_MAX + 1];

	(void)state;
	assert_int_equal(ob_access_password_hash("correct horse battery", hash, sizeof(hash)), 0);
	assert_non_null(strstr(hash, "$argon2id$v=19$m=19456,t=2,p=1$"));
	assert_int_equal(ob_access_password_verify(hash, "correct horse battery"), 0);
	assert_int_equal(ob_access_password_verify(hash, "correct horse batterY"), OB_EAUTH);
	assert_int_equal(ob_access_password_verify(hash, ""), OB_EAUTH);
}

static void test_same_password_different_salt(void **state)
{
	char a[OB_PASSWORD_HASH_MAX + 1];
	char b[OB_PASSWORD_HASH_MAX + 1];

	(void)state;
	assert_int_equal(ob_access_password_hash("same password here", a, sizeof(a)), 0);
	assert_int_equal(ob_access_password_hash("same password here", b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
}

static void test_hash_buffer_one_byte_short(void **state)
{
	char hash[OB_PASSWORD_HASH_MAX + 1];
	size_t need;

	(void)state;
	assert_int_equal(ob_access_password_hash("correct horse battery", hash, sizeof(hash)), 0);
	need = strlen(hash) + 1;
	assert_int_equal(ob_access_password_hash("correct horse battery", hash, need - 1),
			 OB_ETOOBIG);
	assert_int_equal(ob_access_password_hash("correct horse battery", hash, need), 0);
}

static void test_malformed_hash_is_not_a_match(void **state)
{
	(void)state;
	assert_int_equal(ob_access_password_verify("", "x"), OB_EINVAL);
	assert_int_equal(ob_access_password_verify("plaintext", "plaintext"), OB_EINVAL);
	assert_int_equal(ob_access_password_verify("$argon2id$v=19$m=19456,t=2,p=1$garbage", "x"),
			 OB_EINVAL);
}

struct policy_case {
	const char *password;
	const char *user;
	int expect;
	const char *message_has;
};

static const struct policy_case policy_cases[] = {
	{ "seven77", NULL, OB_EINVAL, "must be 8 to 128 characters long, got 7" },
	{ "eight888", NULL, 0, NULL },
	/* 7 characters in 14 bytes: length counts characters, not bytes */
	{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL, OB_EINVAL, "got 7" },
	{ "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", NULL, 0, NULL },
	{ "with spaces ok", NULL, 0, NULL },
	{ "password123", NULL, OB_EINVAL, "most common passwords" },
	{ "PassWord123", NULL, OB_EINVAL, "most common passwords" },
	{ "qwertyuiop", NULL, OB_EINVAL, "most common" },
	{ "operator-jane", "operator-jane", OB_EINVAL, "must not be the user name" },
	{ "bad\xff utf8 text", NULL, OB_EINVAL, "valid UTF-8" },
	{ "overlong \xc0\xaf slash", NULL, OB_EINVAL, "valid UTF-8" },
	{ "tab\there inside", NULL, OB_EINVAL, "control characters" },
};

static void test_policy_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(policy_cases) / sizeof(policy_cases[0]); i++) {
		char err[256] = "";
		int ret = ob_access_password_policy(policy_cases[i].password, policy_cases[i].user,
						    err, sizeof(err));

		if (ret != policy_cases[i].expect)
			fail_msg("case %zu: got %d (%s), expected %d", i, ret, err,
				 policy_cases[i].expect);
		if (policy_cases[i].message_has && !strstr(err, policy_cases[i].message_has))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, policy_cases[i].message_has);
	}
}

static void test_policy_length_bounds(void **state)
{
	char text[200];
	char err[256];

	(void)state;
	memset(text, 'k', sizeof(text));
	text[128] = '\0';
	assert_int_equal(ob_access_password_policy(text, NULL, err, sizeof(err)), 0);
	text[128] = 'k';
	text[129] = '\0';
	assert_int_equal(ob_access_password_policy(text, NULL, err, sizeof(err)), OB_EINVAL);
}

static void test_generated_password(void **state)
{
	char a[32];
	char b[32];
	char err[256];

	(void)state;
	assert_int_equal(ob_access_password_generate(a, 20), OB_ETOOBIG);
	assert_int_equal(ob_access_password_generate(a, 21), 0);
	assert_int_equal(strlen(a), 20);
	assert_int_equal(ob_access_password_generate(b, sizeof(b)), 0);
	assert_string_not_equal(a, b);
	assert_int_equal(strcspn(a, "0O1lI"), 20);
	assert_int_equal(ob_access_password_policy(a, "admin", err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash_then_verify),
		cmocka_unit_test(test_same_password_different_salt),
		cmocka_unit_test(test_hash_buffer_one_byte_short),
		cmocka_unit_test(test_malformed_hash_is_not_a_match),
		cmocka_unit_test(test_policy_table),
		cmocka_unit_test(test_policy_length_bounds),
		cmocka_unit_test(test_generated_password),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
