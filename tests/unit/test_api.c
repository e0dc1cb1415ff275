/* The API's pure parts: error-code to HTTP mapping, the error document, route matching. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "api/internal.h"
#include "core/err.h"

static void test_error_status_mapping(void **state)
{
	static const struct {
		int err;
		int status;
		const char *name;
	} rows[] = {
		{ OB_EINVAL, 400, "invalid" },       { OB_EAUTH, 401, "unauthenticated" },
		{ OB_EPERM, 403, "forbidden" },      { OB_ENOTFOUND, 404, "not_found" },
		{ OB_EEXIST, 409, "exists" },        { OB_ECONFLICT, 409, "conflict" },
		{ OB_ETOOBIG, 413, "too_large" },    { OB_EBUSY, 429, "busy" },
		{ OB_EUNSUPPORTED, 501, "unsupported" }, { OB_EIO, 503, "io_error" },
		{ OB_ECORRUPT, 503, "corrupt" },     { OB_ENOMEM, 500, "no_memory" },
		{ OB_EINTERNAL, 500, "internal" },   { -999, 500, "internal" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		assert_int_equal(ob_api_status_for(rows[i].err), rows[i].status);
		assert_string_equal(ob_errname(rows[i].err), rows[i].name);
		assert_non_null(ob_strerror(rows[i].err));
	}
}

static void test_error_body_shape(void **state)
{
	json_t *body = ob_api_error_body("invalid", "box_name: must be a string");
	json_t *error = json_object_get(body, "error");

	(void)state;
	assert_int_equal(json_object_size(body), 1);
	assert_int_equal(json_object_size(error), 3);
	assert_string_equal(json_string_value(json_object_get(error, "code")), "invalid");
	assert_string_equal(json_string_value(json_object_get(error, "message")),
			    "box_name: must be a string");
	assert_string_equal(json_string_value(json_object_get(error, "field")), "box_name");
	json_decref(body);
	/* The field is the path the message starts with; a message about no field has none. */
	static const struct {
		const char *message;
		const char *field;
	} rows[] = {
		{ "rungs[2].video_bitrate_kbps: must be 30 to 45 % below", "rungs[2].video_bitrate_kbps" },
		{ "input.url: needs a port", "input.url" },
		{ "risk_classes.geo-block.ttl_seconds: too long", "risk_classes.geo-block.ttl_seconds" },
		{ "no_colon_at_all", NULL },
		{ "no channel \"x\"", NULL },
		{ "the session has expired or ended; log in again", NULL },
		{ "Last-Event-ID: must be a number", NULL },
		{ "name:missing space", NULL },
		{ ": nothing before", NULL },
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		body = ob_api_error_body("invalid", rows[i].message);
		error = json_object_get(body, "error");
		if (rows[i].field)
			assert_string_equal(json_string_value(json_object_get(error, "field")),
					    rows[i].field);
		else
			assert_null(json_object_get(error, "field"));
		json_decref(body);
	}
}

static void test_route_match_with_params(void **state)
{
	char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN];
	char allow[64];
	int status = 0;
	const struct ob_route *r;

	(void)state;
	r = ob_api_route_match("GET", "/api/v1/users/jane", params, &status, allow, sizeof(allow));
	assert_non_null(r);
	assert_string_equal(r->pattern, "/api/v1/users/{name}");
	assert_string_equal(params[0], "jane");
	r = ob_api_route_match("DELETE", "/api/v1/users/jane/", params, &status, allow,
			       sizeof(allow));
	assert_non_null(r);
	assert_string_equal(params[0], "jane");
	r = ob_api_route_match("GET", "/api/v1/users", params, &status, allow, sizeof(allow));
	assert_non_null(r);
	assert_string_equal(r->pattern, "/api/v1/users");
}

static void test_route_404_and_405(void **state)
{
	char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN];
	char allow[64];
	int status = 0;

	(void)state;
	assert_null(ob_api_route_match("GET", "/api/v1/nope", params, &status, allow, sizeof(allow)));
	assert_int_equal(status, 404);
	assert_null(ob_api_route_match("GET", "/api/v1/users/a/b", params, &status, allow,
				       sizeof(allow)));
	assert_int_equal(status, 404);
	assert_null(ob_api_route_match("GET", "/api/v1/users//", params, &status, allow,
				       sizeof(allow)));
	assert_int_equal(status, 404);
	assert_null(ob_api_route_match("PUT", "/api/v1/settings", params, &status, allow,
				       sizeof(allow)));
	assert_int_equal(status, 405);
	assert_string_equal(allow, "GET, PATCH");
	assert_null(ob_api_route_match("POST", "/api/v1/health", params, &status, allow,
				       sizeof(allow)));
	assert_int_equal(status, 405);
	assert_string_equal(allow, "GET");
}

static void test_route_param_too_long_is_404(void **state)
{
	char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN];
	char path[600];
	char allow[64];
	int status = 0;

	(void)state;
	strcpy(path, "/api/v1/users/");
	memset(path + strlen(path), 'x', OB_ROUTE_PARAM_LEN);
	path[14 + OB_ROUTE_PARAM_LEN] = '\0';
	assert_null(ob_api_route_match("GET", path, params, &status, allow, sizeof(allow)));
	assert_int_equal(status, 404);
	memset(path, 'y', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_null(ob_api_route_match("GET", path, params, &status, allow, sizeof(allow)));
	assert_int_equal(status, 404);
}

static void test_every_route_is_reachable(void **state)
{
	size_t count;
	const struct ob_route *routes = ob_api_routes(&count);

	(void)state;
	for (size_t i = 0; i < count; i++) {
		char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN];
		char path[256];
		char allow[64];
		int status = 0;
		size_t o = 0;

		/* fill each {param} with "x" */
		for (const char *p = routes[i].pattern; *p; p++) {
			if (*p == '{') {
				path[o++] = 'x';
				p = strchr(p, '}');
				continue;
			}
			path[o++] = *p;
		}
		path[o] = '\0';
		assert_ptr_equal(ob_api_route_match(routes[i].method, path, params, &status, allow,
						    sizeof(allow)),
				 &routes[i]);
		/* a public route is exactly one that names no permission */
		assert_int_equal(!!(routes[i].flags & OB_ROUTE_PUBLIC), routes[i].perms == 0 &&
				 !(routes[i].flags & OB_ROUTE_DURING_PW_CHANGE));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_error_status_mapping),
		cmocka_unit_test(test_error_body_shape),
		cmocka_unit_test(test_route_match_with_params),
		cmocka_unit_test(test_route_404_and_405),
		cmocka_unit_test(test_route_param_too_long_is_404),
		cmocka_unit_test(test_every_route_is_reachable),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
