#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "api/internal.h"
#include "core/util.h"
#include "generated/autoconf.h"

#define READ OB_PERM_READ
#define OPERATE OB_PERM_OPERATE
#define ADMIN OB_PERM_ADMIN
#define ISSUE OB_PERM_ISSUE
#define FLEET OB_PERM_FLEET

/* Every route the API serves. docs/openapi.yaml lists the same set (a test checks). */
static const struct ob_route routes[] = {
	{ "GET", "/api/v1/health", ob_api_get_health, 0, OB_ROUTE_PUBLIC },
	{ "GET", "/api/v1/system", ob_api_get_system, READ, 0 },
	{ "GET", "/api/v1/hardware", ob_api_get_hardware, READ, 0 },
	{ "GET", "/api/v1/settings", ob_api_get_settings, READ, 0 },
	{ "PATCH", "/api/v1/settings", ob_api_patch_settings, ADMIN, 0 },
	{ "GET", "/api/v1/settings/schema", ob_api_get_settings_schema, READ, 0 },
	{ "POST", "/api/v1/session", ob_api_post_session, 0, OB_ROUTE_PUBLIC },
	{ "GET", "/api/v1/session", ob_api_get_session, 0, OB_ROUTE_DURING_PW_CHANGE },
	{ "DELETE", "/api/v1/session", ob_api_delete_session, 0,
	  OB_ROUTE_DURING_PW_CHANGE | OB_ROUTE_SESSION_ONLY },
	{ "POST", "/api/v1/session/password", ob_api_post_session_password, 0,
	  OB_ROUTE_DURING_PW_CHANGE | OB_ROUTE_SESSION_ONLY },
	{ "GET", "/api/v1/users", ob_api_get_users, ADMIN, 0 },
	{ "POST", "/api/v1/users", ob_api_post_users, ADMIN, 0 },
	{ "GET", "/api/v1/users/{name}", ob_api_get_user, ADMIN, 0 },
	{ "PATCH", "/api/v1/users/{name}", ob_api_patch_user, ADMIN, 0 },
	{ "DELETE", "/api/v1/users/{name}", ob_api_delete_user, ADMIN, 0 },
	{ "GET", "/api/v1/apikeys", ob_api_get_apikeys, ADMIN, 0 },
	{ "POST", "/api/v1/apikeys", ob_api_post_apikeys, ADMIN, 0 },
	{ "DELETE", "/api/v1/apikeys/{id}", ob_api_delete_apikey, ADMIN, 0 },
	{ "GET", "/api/v1/audit", ob_api_get_audit, ADMIN, 0 },
	{ "GET", "/api/v1/ladders", ob_api_get_ladders, READ, 0 },
	{ "POST", "/api/v1/ladders", ob_api_post_ladders, OPERATE, 0 },
	{ "GET", "/api/v1/ladders/{id}", ob_api_get_ladder, READ, 0 },
	{ "PUT", "/api/v1/ladders/{id}", ob_api_put_ladder, OPERATE, 0 },
	{ "DELETE", "/api/v1/ladders/{id}", ob_api_delete_ladder, OPERATE, 0 },
	{ "GET", "/api/v1/channels", ob_api_get_channels, READ, 0 },
	{ "POST", "/api/v1/channels", ob_api_post_channels, OPERATE, 0 },
	{ "GET", "/api/v1/channels/{id}", ob_api_get_channel, READ, 0 },
	{ "PUT", "/api/v1/channels/{id}", ob_api_put_channel, OPERATE, 0 },
	{ "DELETE", "/api/v1/channels/{id}", ob_api_delete_channel, OPERATE, 0 },
	{ "POST", "/api/v1/channels/{id}/start", ob_api_post_channel_start, OPERATE, 0 },
	{ "POST", "/api/v1/channels/{id}/stop", ob_api_post_channel_stop, OPERATE, 0 },
	{ "GET", "/api/v1/access/policy", ob_api_get_access_policy, READ, 0 },
	{ "PUT", "/api/v1/access/policy", ob_api_put_access_policy, ADMIN, 0 },
	{ "GET", "/api/v1/access/keys", ob_api_get_access_keys, ADMIN, 0 },
	{ "POST", "/api/v1/access/keys", ob_api_post_access_keys, ADMIN, 0 },
	{ "PATCH", "/api/v1/access/keys/{id}", ob_api_patch_access_key, ADMIN, 0 },
	{ "DELETE", "/api/v1/access/keys/{id}", ob_api_delete_access_key, ADMIN, 0 },
	{ "GET", "/api/v1/access/revocations", ob_api_get_access_revocations, READ, 0 },
	{ "POST", "/api/v1/access/revocations", ob_api_post_access_revocations, OPERATE, 0 },
	{ "DELETE", "/api/v1/access/revocations/{id}", ob_api_delete_access_revocation, OPERATE,
	  0 },
	{ "GET", "/api/v1/access/stats", ob_api_get_access_stats, READ, 0 },
	{ "POST", "/api/v1/playback-tokens", ob_api_post_playback_tokens, ISSUE, 0 },
	{ "GET", "/api/v1/events", ob_api_get_events, READ, 0 },
	{ "GET", "/api/v1/events/stream", ob_api_get_events_stream, READ, 0 },
#ifdef CONFIG_CLOUD_SYNC
	{ "GET", "/api/v1/cloud", ob_api_get_cloud, READ, 0 },
	{ "POST", "/api/v1/cloud/enroll", ob_api_post_cloud_enroll, FLEET, 0 },
	{ "DELETE", "/api/v1/cloud/enrollment", ob_api_delete_cloud_enrollment, FLEET, 0 },
	{ "GET", "/api/v1/cloud/bundles", ob_api_get_cloud_bundles, READ, 0 },
	{ "POST", "/api/v1/cloud/bundles", ob_api_post_cloud_bundles, FLEET, OB_ROUTE_JOSE_BODY },
	{ "POST", "/api/v1/cloud/sync", ob_api_post_cloud_sync, FLEET, 0 },
	{ "GET", "/api/v1/webhooks", ob_api_get_webhooks, FLEET, 0 },
	{ "POST", "/api/v1/webhooks", ob_api_post_webhooks, FLEET, 0 },
	{ "GET", "/api/v1/webhooks/{id}", ob_api_get_webhook, FLEET, 0 },
	{ "PATCH", "/api/v1/webhooks/{id}", ob_api_patch_webhook, FLEET, 0 },
	{ "DELETE", "/api/v1/webhooks/{id}", ob_api_delete_webhook, FLEET, 0 },
	{ "GET", "/api/v1/webhooks/{id}/deliveries", ob_api_get_webhook_deliveries, FLEET, 0 },
	{ "POST", "/api/v1/webhooks/{id}/test", ob_api_post_webhook_test, FLEET, 0 },
	{ "POST", "/api/v1/webhooks/{id}/deliveries/{delivery}/retry",
	  ob_api_post_webhook_delivery_retry, FLEET, 0 },
#endif
};

const struct ob_route *ob_api_routes(size_t *count)
{
	*count = OB_ARRAY_SIZE(routes);
	return routes;
}

/* Matches path against pattern segment by segment; {…} takes one non-empty segment. */
static bool path_matches(const char *pattern, const char *path,
			 char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN])
{
	int n_params = 0;

	while (*pattern && *path) {
		if (*pattern == '{') {
			const char *end = strchr(pattern, '}');
			size_t len = strcspn(path, "/");

			if (!end || len == 0 || len >= OB_ROUTE_PARAM_LEN ||
			    n_params >= OB_ROUTE_PARAMS_MAX)
				return false;
			memcpy(params[n_params], path, len);
			params[n_params][len] = '\0';
			n_params++;
			pattern = end + 1;
			path += len;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *pattern == '\0' && *path == '\0';
}

const struct ob_route *ob_api_route_match(const char *method, const char *path,
					  char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN],
					  int *status, char *allow, size_t allow_len)
{
	size_t used = 0;
	bool path_known = false;
	size_t path_len = strlen(path);

	/* A trailing slash names the same resource: "/api/v1/users/" is "/api/v1/users". */
	char trimmed[512];

	if (path_len >= sizeof(trimmed)) {
		*status = 404;
		return NULL;
	}
	memcpy(trimmed, path, path_len + 1);
	if (path_len > 1 && trimmed[path_len - 1] == '/')
		trimmed[path_len - 1] = '\0';
	if (allow_len)
		allow[0] = '\0';
	for (size_t i = 0; i < OB_ARRAY_SIZE(routes); i++) {
		char scratch[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN];

		if (!path_matches(routes[i].pattern, trimmed, scratch))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			memcpy(params, scratch, sizeof(scratch));
			return &routes[i];
		}
		path_known = true;
		if (used < allow_len)
			used += (size_t)snprintf(allow + used, allow_len - used, "%s%s",
						 used ? ", " : "", routes[i].method);
	}
	*status = path_known ? 405 : 404;
	return NULL;
}

void ob_api_routes_print(FILE *out)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(routes); i++)
		fprintf(out, "%s %s\n", routes[i].method, routes[i].pattern);
}
