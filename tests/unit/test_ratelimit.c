/* The login rate limiter: free attempts, doubling backoff with a cap, reset, eviction. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "access/access.h"
#include "core/err.h"

#define FREE 3
#define MAX_MS 8000

static void test_free_attempts_then_backoff(void **state)
{
	struct ob_ratelimit *rl = ob_access_ratelimit_new(16);
	int64_t wait = 0;

	(void)state;
	for (int i = 0; i < FREE - 1; i++) {
		ob_access_ratelimit_failure(rl, "addr:10.0.0.1", 0, FREE, MAX_MS);
		assert_int_equal(ob_access_ratelimit_check(rl, "addr:10.0.0.1", 0, &wait), 0);
	}
	ob_access_ratelimit_failure(rl, "addr:10.0.0.1", 0, FREE, MAX_MS);
	assert_int_equal(ob_access_ratelimit_check(rl, "addr:10.0.0.1", 0, &wait), OB_EBUSY);
	assert_int_equal(wait, 1000);
	assert_int_equal(ob_access_ratelimit_check(rl, "addr:10.0.0.1", 999, &wait), OB_EBUSY);
	assert_int_equal(wait, 1);
	assert_int_equal(ob_access_ratelimit_check(rl, "addr:10.0.0.1", 1000, &wait), 0);
	ob_access_ratelimit_free(&rl);
	assert_null(rl);
}

static void test_wait_doubles_up_to_the_cap(void **state)
{
	static const int64_t expected[] = { 1000, 2000, 4000, 8000, 8000, 8000 };
	struct ob_ratelimit *rl = ob_access_ratelimit_new(16);
	int64_t now = 0;
	int64_t wait = 0;

	(void)state;
	for (int i = 0; i < FREE - 1; i++)
		ob_access_ratelimit_failure(rl, "user:admin", now, FREE, MAX_MS);
	for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
		ob_access_ratelimit_failure(rl, "user:admin", now, FREE, MAX_MS);
		assert_int_equal(ob_access_ratelimit_check(rl, "user:admin", now, &wait), OB_EBUSY);
		assert_int_equal(wait, expected[i]);
		now += wait;
	}
	ob_access_ratelimit_free(&rl);
}

static void test_success_resets(void **state)
{
	struct ob_ratelimit *rl = ob_access_ratelimit_new(16);
	int64_t wait = 0;

	(void)state;
	for (int i = 0; i < FREE; i++)
		ob_access_ratelimit_failure(rl, "user:jane", 0, FREE, MAX_MS);
	assert_int_equal(ob_access_ratelimit_check(rl, "user:jane", 0, &wait), OB_EBUSY);
	ob_access_ratelimit_success(rl, "user:jane");
	assert_int_equal(ob_access_ratelimit_check(rl, "user:jane", 0, &wait), 0);
	/* and the count starts again from zero */
	ob_access_ratelimit_failure(rl, "user:jane", 0, FREE, MAX_MS);
	assert_int_equal(ob_access_ratelimit_check(rl, "user:jane", 0, &wait), 0);
	ob_access_ratelimit_free(&rl);
}

static void test_keys_are_independent(void **state)
{
	struct ob_ratelimit *rl = ob_access_ratelimit_new(16);
	int64_t wait = 0;

	(void)state;
	for (int i = 0; i < FREE; i++)
		ob_access_ratelimit_failure(rl, "addr:10.0.0.1", 0, FREE, MAX_MS);
	assert_int_equal(ob_access_ratelimit_check(rl, "addr:10.0.0.1", 0, &wait), OB_EBUSY);
	assert_int_equal(ob_access_ratelimit_check(rl, "addr:10.0.0.2", 0, &wait), 0);
	assert_int_equal(ob_access_ratelimit_check(rl, "user:10.0.0.1", 0, &wait), 0);
	ob_access_ratelimit_free(&rl);
}

static void test_old_failures_are_forgotten(void **state)
{
	struct ob_ratelimit *rl = ob_access_ratelimit_new(16);
	int64_t day = 24LL * 3600 * 1000;
	int64_t wait = 0;

	(void)state;
	for (int i = 0; i < FREE - 1; i++)
		ob_access_ratelimit_failure(rl, "user:x", 0, FREE, MAX_MS);
	/* a day later, one more failure is the first of a new count, not the last free one */
	ob_access_ratelimit_failure(rl, "user:x", day + 1, FREE, MAX_MS);
	assert_int_equal(ob_access_ratelimit_check(rl, "user:x", day + 1, &wait), 0);
	ob_access_ratelimit_free(&rl);
}

static void test_full_table_reuses_the_oldest_entry(void **state)
{
	struct ob_ratelimit *rl = ob_access_ratelimit_new(2);
	int64_t wait = 0;

	(void)state;
	for (int i = 0; i < FREE; i++)
		ob_access_ratelimit_failure(rl, "a", 0, FREE, MAX_MS);
	for (int i = 0; i < FREE; i++)
		ob_access_ratelimit_failure(rl, "b", 10, FREE, MAX_MS);
	ob_access_ratelimit_failure(rl, "c", 20, FREE, MAX_MS);
	assert_int_equal(ob_access_ratelimit_check(rl, "a", 20, &wait), 0);
	assert_int_equal(ob_access_ratelimit_check(rl, "b", 20, &wait), OB_EBUSY);
	ob_access_ratelimit_free(&rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_attempts_then_backoff),
		cmocka_unit_test(test_wait_doubles_up_to_the_cap),
		cmocka_unit_test(test_success_resets),
		cmocka_unit_test(test_keys_are_independent),
		cmocka_unit_test(test_old_failures_are_forgotten),
		cmocka_unit_test(test_full_table_reuses_the_oldest_entry),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
