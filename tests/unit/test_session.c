/* Console sessions: lifecycle, idle and absolute expiry, eviction, per-user invalidation. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "access/access.h"
#include "core/err.h"

#define IDLE 1000
#define ABSOLUTE 5000

static struct ob_session_info user_info(int64_t id, const char *name)
{
	struct ob_session_info info = { .user_id = id };

	strcpy(info.user, name);
	strcpy(info.role, "operator");
	return info;
}

static void test_create_then_lookup(void **state)
{
	struct ob_sessions *s = ob_access_sessions_new(8);
	struct ob_session_info info = user_info(7, "jane");
	struct ob_session_info found;
	char id[OB_SESSION_ID_CHARS + 1];

	(void)state;
	assert_int_equal(ob_access_session_create(s, &info, 100, id), 0);
	assert_int_equal(strlen(id), OB_SESSION_ID_CHARS);
	assert_int_equal(strlen(info.csrf), OB_CSRF_CHARS);
	assert_int_equal(ob_access_session_lookup(s, id, 200, IDLE, ABSOLUTE, &found), 0);
	assert_string_equal(found.user, "jane");
	assert_int_equal(found.user_id, 7);
	assert_string_equal(found.csrf, info.csrf);
	assert_int_equal(found.last_seen_ms, 200);
	ob_access_sessions_free(&s);
	assert_null(s);
}

static void test_ids_are_unique_and_unguessable(void **state)
{
	struct ob_sessions *s = ob_access_sessions_new(8);
	struct ob_session_info a = user_info(1, "a");
	struct ob_session_info b = user_info(1, "a");
	struct ob_session_info found;
	char id_a[OB_SESSION_ID_CHARS + 1];
	char id_b[OB_SESSION_ID_CHARS + 1];
	char forged[OB_SESSION_ID_CHARS + 1];

	(void)state;
	assert_int_equal(ob_access_session_create(s, &a, 0, id_a), 0);
	assert_int_equal(ob_access_session_create(s, &b, 0, id_b), 0);
	assert_string_not_equal(id_a, id_b);
	assert_string_not_equal(a.csrf, b.csrf);
	strcpy(forged, id_a);
	forged[0] = forged[0] == 'A' ? 'B' : 'A';
	assert_int_equal(ob_access_session_lookup(s, forged, 1, IDLE, ABSOLUTE, &found), OB_EAUTH);
	assert_int_equal(ob_access_session_lookup(s, "short", 1, IDLE, ABSOLUTE, &found), OB_EAUTH);
	assert_int_equal(ob_access_session_lookup(s, "", 1, IDLE, ABSOLUTE, &found), OB_EAUTH);
	ob_access_sessions_free(&s);
}

static void test_idle_expiry(void **state)
{
	struct ob_sessions *s = ob_access_sessions_new(8);
	struct ob_session_info info = user_info(1, "a");
	struct ob_session_info found;
	char id[OB_SESSION_ID_CHARS + 1];

	(void)state;
	ob_access_session_create(s, &info, 0, id);
	/* each request within the idle window keeps it alive */
	assert_int_equal(ob_access_session_lookup(s, id, 900, IDLE, ABSOLUTE, &found), 0);
	assert_int_equal(ob_access_session_lookup(s, id, 1800, IDLE, ABSOLUTE, &found), 0);
	/* then a gap longer than the idle timeout ends it for good */
	assert_int_equal(ob_access_session_lookup(s, id, 2801, IDLE, ABSOLUTE, &found), OB_EAUTH);
	assert_int_equal(ob_access_session_lookup(s, id, 2802, IDLE, ABSOLUTE, &found), OB_EAUTH);
	assert_int_equal(ob_access_sessions_count(s), 0);
	ob_access_sessions_free(&s);
}

static void test_absolute_expiry_despite_activity(void **state)
{
	struct ob_sessions *s = ob_access_sessions_new(8);
	struct ob_session_info info = user_info(1, "a");
	struct ob_session_info found;
	char id[OB_SESSION_ID_CHARS + 1];
	int64_t t;

	(void)state;
	ob_access_session_create(s, &info, 0, id);
	for (t = 500; t <= ABSOLUTE; t += 500)
		assert_int_equal(ob_access_session_lookup(s, id, t, IDLE, ABSOLUTE, &found), 0);
	assert_int_equal(ob_access_session_lookup(s, id, ABSOLUTE + 1, IDLE, ABSOLUTE, &found),
			 OB_EAUTH);
	ob_access_sessions_free(&s);
}

static void test_destroy_is_server_side(void **state)
{
	struct ob_sessions *s = ob_access_sessions_new(8);
	struct ob_session_info info = user_info(1, "a");
	struct ob_session_info found;
	char id[OB_SESSION_ID_CHARS + 1];

	(void)state;
	ob_access_session_create(s, &info, 0, id);
	assert_int_equal(ob_access_session_destroy(s, id), 0);
	assert_int_equal(ob_access_session_lookup(s, id, 1, IDLE, ABSOLUTE, &found), OB_EAUTH);
	assert_int_equal(ob_access_session_destroy(s, id), OB_ENOTFOUND);
	ob_access_sessions_free(&s);
}

static void test_drop_user_keeps_the_current_session(void **state)
{
	struct ob_sessions *s = ob_access_sessions_new(8);
	struct ob_session_info jane1 = user_info(1, "jane");
	struct ob_session_info jane2 = user_info(1, "jane");
	struct ob_session_info bob = user_info(2, "bob");
	struct ob_session_info found;
	char id1[OB_SESSION_ID_CHARS + 1];
	char id2[OB_SESSION_ID_CHARS + 1];
	char id3[OB_SESSION_ID_CHARS + 1];

	(void)state;
	ob_access_session_create(s, &jane1, 0, id1);
	ob_access_session_create(s, &jane2, 0, id2);
	ob_access_session_create(s, &bob, 0, id3);
	assert_int_equal(ob_access_sessions_drop_user(s, 1, id2), 1);
	assert_int_equal(ob_access_session_lookup(s, id1, 1, IDLE, ABSOLUTE, &found), OB_EAUTH);
	assert_int_equal(ob_access_session_lookup(s, id2, 1, IDLE, ABSOLUTE, &found), 0);
	assert_int_equal(ob_access_session_lookup(s, id3, 1, IDLE, ABSOLUTE, &found), 0);
	assert_int_equal(ob_access_sessions_drop_user(s, 1, NULL), 1);
	assert_int_equal(ob_access_session_lookup(s, id2, 2, IDLE, ABSOLUTE, &found), OB_EAUTH);
	ob_access_sessions_free(&s);
}

static void test_full_table_drops_least_recently_used(void **state)
{
	struct ob_sessions *s = ob_access_sessions_new(2);
	struct ob_session_info info = user_info(1, "a");
	struct ob_session_info found;
	char old[OB_SESSION_ID_CHARS + 1];
	char busy[OB_SESSION_ID_CHARS + 1];
	char fresh[OB_SESSION_ID_CHARS + 1];

	(void)state;
	ob_access_session_create(s, &info, 0, old);
	ob_access_session_create(s, &info, 10, busy);
	assert_int_equal(ob_access_session_lookup(s, busy, 20, IDLE, ABSOLUTE, &found), 0);
	ob_access_session_create(s, &info, 30, fresh);
	assert_int_equal(ob_access_sessions_count(s), 2);
	assert_int_equal(ob_access_session_lookup(s, old, 40, IDLE, ABSOLUTE, &found), OB_EAUTH);
	assert_int_equal(ob_access_session_lookup(s, busy, 40, IDLE, ABSOLUTE, &found), 0);
	assert_int_equal(ob_access_session_lookup(s, fresh, 40, IDLE, ABSOLUTE, &found), 0);
	ob_access_sessions_free(&s);
}

static void test_password_change_clears_the_mark(void **state)
{
	struct ob_sessions *s = ob_access_sessions_new(4);
	struct ob_session_info info = user_info(1, "admin");
	struct ob_session_info found;
	char id[OB_SESSION_ID_CHARS + 1];

	(void)state;
	info.must_change_password = true;
	ob_access_session_create(s, &info, 0, id);
	assert_int_equal(ob_access_session_lookup(s, id, 1, IDLE, ABSOLUTE, &found), 0);
	assert_true(found.must_change_password);
	assert_int_equal(ob_access_session_password_changed(s, id), 0);
	assert_int_equal(ob_access_session_lookup(s, id, 2, IDLE, ABSOLUTE, &found), 0);
	assert_false(found.must_change_password);
	ob_access_sessions_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_then_lookup),
		cmocka_unit_test(test_ids_are_unique_and_unguessable),
		cmocka_unit_test(test_idle_expiry),
		cmocka_unit_test(test_absolute_expiry_despite_activity),
		cmocka_unit_test(test_destroy_is_server_side),
		cmocka_unit_test(test_drop_user_keeps_the_current_session),
		cmocka_unit_test(test_full_table_drops_least_recently_used),
		cmocka_unit_test(test_password_change_clears_the_mark),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
