/* Entitlement: who may play what. The policy (risk classes and their token lifetimes,
 * allowed networks, sessions per viewer, clock skew, how the token travels), the key ring,
 * revocations and the access class of each channel, held in memory as one immutable state
 * that a reload replaces at once; decisions on playback requests with a bounded cache keyed
 * by token; issuing tokens; counters per reason and rate-limited logging of denials.
 * docs/access.md describes it for operators. */
#ifndef OB_ACCESS_ENTITLE_H
#define OB_ACCESS_ENTITLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access/token.h"

struct ob_store;

#define OB_RISK_CLASSES_MAX 8
#define OB_RISK_NAME_MAX 16
#define OB_NETWORKS_MAX 64
#define OB_VIEWER_ID_MAX 64          /* characters of a viewer or token id */
#define OB_ENTITLE_CACHE_DEFAULT 4096 /* tokens the decision cache holds */
#define OB_ENTITLE_SESSIONS_MAX 16384 /* viewer sessions tracked at once */
#define OB_PREMIUM_PREFIX "/premium"  /* premium content's paths start with this */

/* ---- the policy ---- */

struct ob_risk_class {
	char name[OB_RISK_NAME_MAX + 1];
	int64_t ttl_s;        /* lifetime of a token issued without one */
	int64_t max_ttl_s;    /* the longest lifetime an issuer may ask for */
};

/* An address range: family AF_INET or AF_INET6, the address and the prefix length. */
struct ob_network {
	int family;
	unsigned char addr[16];
	unsigned prefix;
};

enum ob_token_transport {
	OB_TRANSPORT_QUERY,   /* the origin writes the token into the URIs of the playlists */
	OB_TRANSPORT_COOKIE,  /* the origin sets a cookie scoped to the content's path */
};

struct ob_access_policy {
	struct ob_risk_class risk[OB_RISK_CLASSES_MAX];
	size_t risk_count;
	char default_risk[OB_RISK_NAME_MAX + 1];
	struct ob_network networks[OB_NETWORKS_MAX]; /* empty: every address may play */
	size_t network_count;
	int max_sessions_per_viewer;   /* 0: no limit */
	int64_t session_idle_s;        /* a session without a request this long has ended */
	int64_t skew_s;                /* clock-skew allowance on st and exp */
	bool check_address;            /* false behind a CDN that enforces the ip field itself */
	enum ob_token_transport transport;
};

/* The defaults: risk classes low (4 h, at most 12 h), standard (1 h, at most 4 h) and high
 * (5 min, at most 15 min), standard by default, any network, no session limit, 60 s idle,
 * 30 s skew, addresses checked, the token in the query. */
void ob_access_policy_defaults(struct ob_access_policy *out);

/* Reads a policy document (the API's JSON; fields left out take their defaults) into *out.
 * 0, or OB_EINVAL with a message naming the field and what to change in err. */
int ob_access_policy_from_json(const json_t *doc, struct ob_access_policy *out, char *err,
			       size_t err_len);

/* The policy as the API shows it (new reference). */
json_t *ob_access_policy_to_json(const struct ob_access_policy *policy);

/* The risk class named name, or NULL. */
const struct ob_risk_class *ob_access_policy_risk(const struct ob_access_policy *policy,
						  const char *name);

/* Parses "10.0.0.0/8", "2001:db8::/32" or a single address. 0 or OB_EINVAL. */
int ob_access_network_parse(const char *text, struct ob_network *out);

/* True when the address (text) is in one of the networks. */
bool ob_access_network_match(const struct ob_network *networks, size_t count, const char *addr);

/* ---- the state the decisions depend on ---- */

enum ob_access_class {
	OB_CLASS_UNKNOWN = 0,  /* no such channel */
	OB_CLASS_PUBLIC,
	OB_CLASS_PREMIUM,
};

enum ob_revoke_kind {
	OB_REVOKE_TOKEN,   /* a token id: the token's id field */
	OB_REVOKE_VIEWER,  /* a viewer id: "viewer=" in the token's data field */
};

/* A state being built; installed whole by ob_access_entitle_install. */
struct ob_entitle_state;

/* A new state with a copy of policy, no keys, no revocations, no content. NULL when out of
 * memory. */
struct ob_entitle_state *ob_access_entitle_state_new(const struct ob_access_policy *policy);

/* Adds a key (copied); the signing key is the one new tokens are signed with. 0, or
 * ob_access_token_ring_add's errors. */
int ob_access_entitle_state_add_key(struct ob_entitle_state *state,
				    const struct ob_token_key *key, bool signing);

/* Adds a revoked token id or viewer id. 0, OB_EINVAL (empty or too long) or OB_ENOMEM. */
int ob_access_entitle_state_revoke(struct ob_entitle_state *state, enum ob_revoke_kind kind,
				   const char *value);

/* Adds a channel with its class and risk class (NULL or "": the policy's default). 0,
 * OB_EINVAL or OB_ENOMEM. */
int ob_access_entitle_state_add_content(struct ob_entitle_state *state, const char *id,
					enum ob_access_class access, const char *risk_class);

/* Frees a state that was not installed; sets *state to NULL. */
void ob_access_entitle_state_free(struct ob_entitle_state **state);

/* ---- revocations, as the API and the control plane give them ---- */

#define OB_REVOCATION_REASON_MAX 200 /* characters */

/* A revocation request: one token id or every token of a viewer. */
struct ob_revocation_input {
	bool viewer;                        /* a viewer id, not a token id */
	char value[OB_VIEWER_ID_MAX + 1];
	char reason[OB_REVOCATION_REASON_MAX * 4 + 1]; /* UTF-8, "" when none */
	int64_t expires_ms;                 /* 0: stays */
};

/* Reads {"token_id" | "viewer_id", "reason"?, "expires_at"? (RFC 3339, after now_ms, or
 * null)}: exactly one id, as a token carries it. 0, or OB_EINVAL with a message naming the
 * field. */
int ob_access_revocation_from_json(const json_t *body, int64_t now_ms,
				   struct ob_revocation_input *out, char *err, size_t err_len);

/* ---- the decision maker ---- */

struct ob_entitle;

/* A decision maker with an empty state (no keys: every token is refused) and a cache of
 * cache_capacity tokens (0: OB_ENTITLE_CACHE_DEFAULT). NULL when out of memory. */
struct ob_entitle *ob_access_entitle_new(size_t cache_capacity);

/* Frees it; sets *ent to NULL. No decision may be in progress. */
void ob_access_entitle_free(struct ob_entitle **ent);

/* Replaces the state (takes *state, sets it to NULL). Every decision after this returns
 * sees the new state: cached decisions of the old one are no longer used, sessions of
 * revoked viewers end. */
void ob_access_entitle_install(struct ob_entitle *ent, struct ob_entitle_state **state);

/* Builds the state from the store (policy, keys, revocations, channels) and installs it.
 * 0, or an OB_E* code with the reason in err (the state in force stays). */
int ob_access_entitle_reload(struct ob_entitle *ent, struct ob_store *store, char *err,
			     size_t err_len);

/* A copy of the policy in force. */
void ob_access_entitle_policy(struct ob_entitle *ent, struct ob_access_policy *out);

/* The class of a channel and, when out_risk is not NULL, its risk class
 * (OB_RISK_NAME_MAX + 1 bytes). OB_CLASS_UNKNOWN when the store has no such channel. */
enum ob_access_class ob_access_entitle_content(struct ob_entitle *ent, const char *id,
					       char *out_risk);

/* Why a request may not play. Every value but OB_ENTITLE_OK is a denial. */
enum ob_entitle_result {
	OB_ENTITLE_OK = 0,
	OB_ENTITLE_MISSING,
	OB_ENTITLE_MALFORMED,
	OB_ENTITLE_EXPIRED,
	OB_ENTITLE_NOT_YET_VALID,
	OB_ENTITLE_BAD_SIGNATURE,
	OB_ENTITLE_OUTSIDE_ACL,
	OB_ENTITLE_ADDRESS,           /* bound to another address, or outside the networks */
	OB_ENTITLE_REVOKED,
	OB_ENTITLE_TOO_MANY_SESSIONS,
	OB_ENTITLE_RESULT_COUNT,
};

/* "ok", "missing", "malformed", "expired", "not_yet_valid", "bad_signature",
 * "outside_acl", "address", "revoked", "too_many_sessions". Never NULL. */
const char *ob_access_entitle_reason(enum ob_entitle_result result);

struct ob_entitle_request {
	const char *path;          /* the raw request path (percent-encoded, no query) */
	const char *client_addr;   /* the peer's address as text */
	const char *token;         /* the token text, or NULL */
	size_t token_len;
	bool unreadable;           /* the request carried a token that could not be read out
				      (too long, a bad escape, given twice): malformed */
	int64_t now_s;             /* seconds since the epoch */
};

struct ob_entitle_decision {
	enum ob_entitle_result result;
	int64_t expiry;            /* the token's exp, when it parsed */
	bool cached;               /* answered from the decision cache */
	enum ob_token_transport transport; /* how the policy has the token travel on */
	char message[192];         /* for the person who asks: what is wrong and what to do */
};

/* Decides whether a request for premium content may play: the token (its MAC once, then
 * from the cache), the policy's networks, revocations and the viewer's sessions. Counts the
 * result and logs denials (at most one line per reason every 10 s). Thread-safe. */
enum ob_entitle_result ob_access_entitle_check(struct ob_entitle *ent,
					       const struct ob_entitle_request *request,
					       struct ob_entitle_decision *out);

/* What to issue: the content's path and the optional parts. */
struct ob_entitle_issue {
	const char *path;          /* "/premium/live/CHANNEL/master.m3u8" */
	const char *risk_class;    /* NULL: the content's own */
	int64_t ttl_s;             /* 0: the risk class's ttl */
	const char *viewer_id;     /* NULL or "": none */
	const char *session_id;    /* NULL or "": a random token id */
	const char *ip;            /* NULL or "": not bound */
	int64_t now_s;
};

struct ob_entitle_issued {
	char token[OB_TOKEN_MAX_CHARS + 1];
	char acl[OB_TOKEN_PATH_MAX + 1];
	char key_id[OB_TOKEN_KEY_ID_MAX + 1];
	char token_id[OB_VIEWER_ID_MAX + 1];
	char risk_class[OB_RISK_NAME_MAX + 1];
	int64_t expiry;
	int64_t ttl_s;
};

/* Issues a token for premium content with the signing key. 0; OB_EINVAL with a message in
 * err (not a premium channel's path, an unknown risk class, a lifetime above the class's
 * maximum, a bad viewer id or address); OB_ENOTFOUND when there is no signing key. */
int ob_access_entitle_issue(struct ob_entitle *ent, const struct ob_entitle_issue *request,
			    struct ob_entitle_issued *out, char *err, size_t err_len);

/* Counters and cache figures: {"allowed", "denied": {reason: n}, "cache": {"entries",
 * "capacity", "hits", "misses"}, "sessions", "keys", "generation"} (new reference). */
json_t *ob_access_entitle_stats(struct ob_entitle *ent);

/* Splits "/premium/live/CHANNEL/..." or "/live/CHANNEL/...": sets *premium and copies the
 * channel id (at most id_len - 1 bytes). 0 or OB_EINVAL. */
int ob_access_content_path(const char *path, bool *premium, char *id, size_t id_len);

#endif
