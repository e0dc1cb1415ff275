/* The entitlement policy: its defaults, its JSON form with validation that names the field
 * to fix, and address ranges. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "access/entitle.h"
#include "core/err.h"
#include "core/json.h"
#include "core/util.h"

#define TTL_MIN_S 30
#define TTL_MAX_S (7 * 24 * 3600)
#define SESSIONS_PER_VIEWER_MAX 16
#define SESSION_IDLE_MIN_S 10
#define SESSION_IDLE_MAX_S 3600

static const char *const transports[] = {
	[OB_TRANSPORT_QUERY] = "query",
	[OB_TRANSPORT_COOKIE] = "cookie",
};

static const struct ob_risk_class default_risk[] = {
	{ .name = "low", .ttl_s = 4 * 3600, .max_ttl_s = 12 * 3600 },
	{ .name = "standard", .ttl_s = 3600, .max_ttl_s = 4 * 3600 },
	{ .name = "high", .ttl_s = 300, .max_ttl_s = 900 },
};

void ob_access_policy_defaults(struct ob_access_policy *out)
{
	memset(out, 0, sizeof(*out));
	memcpy(out->risk, default_risk, sizeof(default_risk));
	out->risk_count = OB_ARRAY_SIZE(default_risk);
	ob_strlcpy(out->default_risk, "standard", sizeof(out->default_risk));
	out->session_idle_s = 60;
	out->skew_s = OB_TOKEN_SKEW_DEFAULT_S;
	out->check_address = true;
	out->transport = OB_TRANSPORT_QUERY;
}

const struct ob_risk_class *ob_access_policy_risk(const struct ob_access_policy *policy,
						  const char *name)
{
	for (size_t i = 0; name && i < policy->risk_count; i++)
		if (strcmp(policy->risk[i].name, name) == 0)
			return &policy->risk[i];
	return NULL;
}

int ob_access_network_parse(const char *text, struct ob_network *out)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t addr_len = slash ? (size_t)(slash - text) : strlen(text);
	unsigned max_prefix;
	unsigned long prefix;

	memset(out, 0, sizeof(*out));
	if (addr_len == 0 || addr_len >= sizeof(addr))
		return OB_EINVAL;
	memcpy(addr, text, addr_len);
	addr[addr_len] = '\0';
	if (inet_pton(AF_INET, addr, out->addr) == 1) {
		out->family = AF_INET;
		max_prefix = 32;
	} else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
		out->family = AF_INET6;
		max_prefix = 128;
	} else {
		return OB_EINVAL;
	}
	prefix = max_prefix;
	if (slash) {
		char *end;

		if (slash[1] < '0' || slash[1] > '9' || strlen(slash + 1) > 3)
			return OB_EINVAL;
		prefix = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || prefix > max_prefix)
			return OB_EINVAL;
	}
	out->prefix = (unsigned)prefix;
	/* The host bits are cleared, so "10.1.2.3/8" is the range 10.0.0.0/8. */
	for (unsigned bit = out->prefix; bit < max_prefix; bit++)
		out->addr[bit / 8] &= (unsigned char)~(0x80u >> (bit % 8));
	return 0;
}

static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static bool in_network(const struct ob_network *net, int family, const unsigned char *addr)
{
	unsigned full = net->prefix / 8;
	unsigned rest = net->prefix % 8;

	if (net->family != family)
		return false;
	if (memcmp(net->addr, addr, full) != 0)
		return false;
	return rest == 0 ||
	       ((net->addr[full] ^ addr[full]) & (unsigned char)(0xff00u >> rest)) == 0;
}

bool ob_access_network_match(const struct ob_network *networks, size_t count, const char *addr)
{
	unsigned char bytes[16];
	int family;

	if (!addr)
		return false;
	if (inet_pton(AF_INET, addr, bytes) == 1) {
		family = AF_INET;
	} else if (inet_pton(AF_INET6, addr, bytes) == 1) {
		family = AF_INET6;
		/* An IPv4 peer on a dual-stack socket (::ffff:a.b.c.d) is that IPv4 address. */
		if (memcmp(bytes, v4_mapped, sizeof(v4_mapped)) == 0) {
			memmove(bytes, bytes + 12, 4);
			family = AF_INET;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < count; i++)
		if (in_network(&networks[i], family, bytes))
			return true;
	return false;
}

/* An integer field within [min, max]; absent leaves *out. */
static int get_int(const json_t *doc, const char *name, long long min, long long max,
		   int64_t *out, char *err, size_t err_len)
{
	const json_t *v = json_object_get(doc, name);

	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, err_len, "%s: must be a whole number from %lld to %lld", name, min,
			 max);
		return OB_EINVAL;
	}
	*out = json_integer_value(v);
	return 0;
}

static int read_risk_classes(const json_t *classes, struct ob_access_policy *out, char *err,
			     size_t err_len)
{
	const char *name;
	json_t *value;

	if (!json_is_object(classes) || json_object_size(classes) == 0 ||
	    json_object_size(classes) > OB_RISK_CLASSES_MAX) {
		snprintf(err, err_len,
			 "risk_classes: must be an object of 1 to %d classes, such as "
			 "{\"standard\": {\"ttl_seconds\": 3600, \"max_ttl_seconds\": 14400}}",
			 OB_RISK_CLASSES_MAX);
		return OB_EINVAL;
	}
	out->risk_count = 0;
	json_object_foreach((json_t *)classes, name, value) {
		struct ob_risk_class *rc = &out->risk[out->risk_count];
		const char *field;
		json_t *ignored;
		char where[64];

		if (!ob_is_slug(name, OB_RISK_NAME_MAX)) {
			snprintf(err, err_len,
				 "risk_classes: \"%.32s\" is not a class name (1 to %d characters of "
				 "a-z, 0-9, - and _)", name, OB_RISK_NAME_MAX);
			return OB_EINVAL;
		}
		if (!json_is_object(value)) {
			snprintf(err, err_len,
				 "risk_classes.%s: must be {\"ttl_seconds\": N, \"max_ttl_seconds\": M}",
				 name);
			return OB_EINVAL;
		}
		json_object_foreach(value, field, ignored) {
			if (strcmp(field, "ttl_seconds") != 0 && strcmp(field, "max_ttl_seconds") != 0) {
				snprintf(err, err_len,
					 "risk_classes.%s: unknown field \"%.32s\" (a class has "
					 "ttl_seconds and max_ttl_seconds)", name, field);
				return OB_EINVAL;
			}
		}
		ob_strlcpy(rc->name, name, sizeof(rc->name));
		rc->ttl_s = -1;
		rc->max_ttl_s = -1;
		snprintf(where, sizeof(where), "risk_classes.%s", name);
		if (get_int(value, "ttl_seconds", TTL_MIN_S, TTL_MAX_S, &rc->ttl_s, err, err_len) ||
		    get_int(value, "max_ttl_seconds", TTL_MIN_S, TTL_MAX_S, &rc->max_ttl_s, err,
			    err_len)) {
			char inner[160];

			ob_strlcpy(inner, err, sizeof(inner));
			snprintf(err, err_len, "%s.%s", where, inner);
			return OB_EINVAL;
		}
		if (rc->ttl_s < 0) {
			snprintf(err, err_len, "%s.ttl_seconds: missing (the lifetime of a token issued "
				 "without one, %d to %d)", where, TTL_MIN_S, TTL_MAX_S);
			return OB_EINVAL;
		}
		if (rc->max_ttl_s < 0)
			rc->max_ttl_s = rc->ttl_s;
		if (rc->max_ttl_s < rc->ttl_s) {
			snprintf(err, err_len,
				 "%s: ttl_seconds (%lld) is above max_ttl_seconds (%lld); raise the "
				 "maximum or lower the default", where, (long long)rc->ttl_s,
				 (long long)rc->max_ttl_s);
			return OB_EINVAL;
		}
		out->risk_count++;
	}
	return 0;
}

static int read_networks(const json_t *list, struct ob_access_policy *out, char *err,
			 size_t err_len)
{
	size_t i;
	json_t *item;

	if (!json_is_array(list) || json_array_size(list) > OB_NETWORKS_MAX) {
		snprintf(err, err_len,
			 "allowed_networks: must be a list of at most %d address ranges such as "
			 "\"10.0.0.0/8\" or \"2001:db8::/32\" (empty: every address)",
			 OB_NETWORKS_MAX);
		return OB_EINVAL;
	}
	out->network_count = 0;
	json_array_foreach(list, i, item) {
		if (!json_is_string(item) ||
		    ob_access_network_parse(json_string_value(item), &out->networks[i]) != 0) {
			snprintf(err, err_len,
				 "allowed_networks[%zu]: \"%.48s\" is not an address range; write "
				 "ADDRESS/PREFIX such as \"192.168.1.0/24\" or \"2001:db8::/32\"", i,
				 json_is_string(item) ? json_string_value(item) : "(not a string)");
			return OB_EINVAL;
		}
		out->network_count++;
	}
	return 0;
}

static const char *const known_fields[] = {
	"risk_classes", "default_risk_class", "allowed_networks", "max_sessions_per_viewer",
	"session_idle_seconds", "clock_skew_seconds", "check_address", "token_transport", NULL,
};

int ob_access_policy_from_json(const json_t *doc, struct ob_access_policy *out, char *err,
			       size_t err_len)
{
	const char *field;
	json_t *value;
	int64_t number;
	int ret = OB_EINVAL;

	ob_access_policy_defaults(out);
	if (!json_is_object(doc)) {
		snprintf(err, err_len, "the policy must be a JSON object");
		goto fail;
	}
	json_object_foreach((json_t *)doc, field, value) {
		if (!ob_str_in_list(known_fields, field)) {
			snprintf(err, err_len,
				 "unknown field \"%.32s\" (a policy has risk_classes, "
				 "default_risk_class, allowed_networks, max_sessions_per_viewer, "
				 "session_idle_seconds, clock_skew_seconds, check_address and "
				 "token_transport)", field);
			goto fail;
		}
	}
	if ((value = json_object_get(doc, "risk_classes")) &&
	    read_risk_classes(value, out, err, err_len) != 0)
		goto fail;
	if ((value = json_object_get(doc, "default_risk_class"))) {
		if (!json_is_string(value) ||
		    !ob_access_policy_risk(out, json_string_value(value))) {
			snprintf(err, err_len,
				 "default_risk_class: must name one of the risk_classes");
			goto fail;
		}
		ob_strlcpy(out->default_risk, json_string_value(value), sizeof(out->default_risk));
	} else if (!ob_access_policy_risk(out, out->default_risk)) {
		snprintf(err, err_len,
			 "default_risk_class: missing, and the risk_classes have no \"%s\"; name "
			 "the class for content that names none", out->default_risk);
		goto fail;
	}
	if ((value = json_object_get(doc, "allowed_networks")) &&
	    read_networks(value, out, err, err_len) != 0)
		goto fail;
	number = out->max_sessions_per_viewer;
	if (get_int(doc, "max_sessions_per_viewer", 0, SESSIONS_PER_VIEWER_MAX, &number, err,
		    err_len) != 0)
		goto fail;
	out->max_sessions_per_viewer = (int)number;
	if (get_int(doc, "session_idle_seconds", SESSION_IDLE_MIN_S, SESSION_IDLE_MAX_S,
		    &out->session_idle_s, err, err_len) != 0 ||
	    get_int(doc, "clock_skew_seconds", 0, OB_TOKEN_SKEW_MAX_S, &out->skew_s, err,
		    err_len) != 0)
		goto fail;
	if ((value = json_object_get(doc, "check_address"))) {
		if (!json_is_boolean(value)) {
			snprintf(err, err_len, "check_address: must be true or false");
			goto fail;
		}
		out->check_address = json_is_true(value);
	}
	if ((value = json_object_get(doc, "token_transport"))) {
		const char *name = json_string_value(value);

		if (name && strcmp(name, "query") == 0) {
			out->transport = OB_TRANSPORT_QUERY;
		} else if (name && strcmp(name, "cookie") == 0) {
			out->transport = OB_TRANSPORT_COOKIE;
		} else {
			snprintf(err, err_len, "token_transport: must be \"query\" or \"cookie\"");
			goto fail;
		}
	}
	return 0;

fail:
	ob_access_policy_defaults(out);
	return ret;
}

json_t *ob_access_policy_to_json(const struct ob_access_policy *policy)
{
	json_t *classes = json_object();
	json_t *networks = json_array();

	for (size_t i = 0; i < policy->risk_count; i++)
		json_object_set_new(classes, policy->risk[i].name,
				    json_pack("{s:I, s:I}", "ttl_seconds",
					      (json_int_t)policy->risk[i].ttl_s, "max_ttl_seconds",
					      (json_int_t)policy->risk[i].max_ttl_s));
	for (size_t i = 0; i < policy->network_count; i++) {
		const struct ob_network *net = &policy->networks[i];
		char addr[INET6_ADDRSTRLEN];
		char text[INET6_ADDRSTRLEN + 8];

		if (!inet_ntop(net->family, net->addr, addr, sizeof(addr)))
			continue;
		snprintf(text, sizeof(text), "%s/%u", addr, net->prefix);
		json_array_append_new(networks, json_string(text));
	}
	return json_pack("{s:o, s:s, s:o, s:i, s:I, s:I, s:b, s:s}", "risk_classes", classes,
			 "default_risk_class", policy->default_risk, "allowed_networks", networks,
			 "max_sessions_per_viewer", policy->max_sessions_per_viewer,
			 "session_idle_seconds", (json_int_t)policy->session_idle_s,
			 "clock_skew_seconds", (json_int_t)policy->skew_s, "check_address",
			 policy->check_address, "token_transport", transports[policy->transport]);
}

static const struct ob_json_field revocation_fields[] = {
	{ "token_id", OB_JSON_STRING, false },
	{ "viewer_id", OB_JSON_STRING, false },
	{ "reason", OB_JSON_STRING, false },
	{ "expires_at", OB_JSON_STRING_OR_NULL, false },
};

int ob_access_revocation_from_json(const json_t *body, int64_t now_ms,
				   struct ob_revocation_input *out, char *err, size_t err_len)
{
	const char *token_id = json_string_value(json_object_get(body, "token_id"));
	const char *viewer_id = json_string_value(json_object_get(body, "viewer_id"));
	const char *reason = json_string_value(json_object_get(body, "reason"));
	const char *expires = json_string_value(json_object_get(body, "expires_at"));
	const char *value = token_id ? token_id : viewer_id;

	memset(out, 0, sizeof(*out));
	if (ob_json_check_fields(body, revocation_fields, OB_ARRAY_SIZE(revocation_fields), "",
				 err, err_len) != 0)
		return OB_EINVAL;
	if (!token_id == !viewer_id) {
		snprintf(err, err_len,
			 "give exactly one of token_id (one token: its id field) and viewer_id "
			 "(every token of a viewer)");
		return OB_EINVAL;
	}
	if (!*value || strlen(value) > OB_VIEWER_ID_MAX || strpbrk(value, "~\r\n\t ")) {
		snprintf(err, err_len,
			 "%s: 1 to %d characters without spaces or '~', as the token carries it",
			 token_id ? "token_id" : "viewer_id", OB_VIEWER_ID_MAX);
		return OB_EINVAL;
	}
	if (reason && (ob_utf8_chars(reason) < 0 ||
		       ob_utf8_chars(reason) > OB_REVOCATION_REASON_MAX)) {
		snprintf(err, err_len, "reason: at most %d characters of text",
			 OB_REVOCATION_REASON_MAX);
		return OB_EINVAL;
	}
	if (expires && (ob_time_parse_iso8601(expires, &out->expires_ms) != 0 ||
			out->expires_ms <= now_ms)) {
		snprintf(err, err_len,
			 "expires_at: a time in the future in UTC, such as \"2026-12-31T23:59:59Z\" "
			 "(or leave it out: the revocation stays)");
		return OB_EINVAL;
	}
	out->viewer = viewer_id != NULL;
	ob_strlcpy(out->value, value, sizeof(out->value));
	if (reason)
		ob_strlcpy(out->reason, reason, sizeof(out->reason));
	return 0;
}
