/* Playback tokens in Akamai EdgeAuth 2.0 form with HMAC-SHA256: parsing, verification
 * against a key ring, issuing, and finding the token in a request. A token made by
 * Akamai's published EdgeAuth generators with the same key verifies here, and a token
 * issued here verifies at an Akamai edge. docs/access.md describes the format as
 * implemented: the fields, the ACL and path rules, the clock-skew allowance. */
#ifndef OB_ACCESS_TOKEN_H
#define OB_ACCESS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OB_TOKEN_MAX_CHARS 2048       /* a longer token is refused without being parsed */
#define OB_TOKEN_PATH_MAX 1024        /* a request path, raw or normalised, in bytes */
#define OB_TOKEN_NAME_DEFAULT "__token__"
#define OB_TOKEN_KEY_ID_MAX 32        /* characters of a key's id */
#define OB_TOKEN_KEY_MIN_BYTES 8      /* a secret of 16 to 128 hex digits */
#define OB_TOKEN_KEY_MAX_BYTES 64
#define OB_TOKEN_RING_MAX 8           /* keys tried per token */
#define OB_TOKEN_SKEW_DEFAULT_S 30    /* clock-skew allowance on st and exp */
#define OB_TOKEN_SKEW_MAX_S 3600
#define OB_TOKEN_MAC_BYTES 32         /* HMAC-SHA256 */

/* What a verification decided. Every value but OB_TOKEN_OK is a denial. */
enum ob_token_result {
	OB_TOKEN_OK = 0,
	OB_TOKEN_MISSING,        /* no token, or an empty one */
	OB_TOKEN_MALFORMED,      /* not a well-formed EdgeAuth 2.0 token, or too long */
	OB_TOKEN_EXPIRED,        /* exp is further in the past than the skew allows */
	OB_TOKEN_NOT_YET_VALID,  /* st is further in the future than the skew allows */
	OB_TOKEN_BAD_SIGNATURE,  /* no key of the ring made this MAC (in url mode: or another url) */
	OB_TOKEN_OUTSIDE_ACL,    /* the path is in none of the ACL entries, or is refused */
	OB_TOKEN_ADDRESS,        /* the token is bound to another client address */
};

/* A short, stable reason for a result ("ok", "missing", "malformed", "expired",
 * "not_yet_valid", "bad_signature", "outside_acl", "address"), for a response header and
 * the logs. Never NULL. */
const char *ob_access_token_reason(enum ob_token_result result);

/* A field's value inside the token text: ptr is NULL when the field is absent. The value
 * is as it appears in the token (the generators may have percent-encoded it). */
struct ob_token_span {
	const char *ptr;
	size_t len;
};

/* A parsed token. It borrows the text it was parsed from: keep that text alive. */
struct ob_token {
	struct ob_token_span ip;    /* the client address it is bound to */
	struct ob_token_span acl;   /* "!"-separated entries; absent in url mode */
	struct ob_token_span id;    /* session or viewer id (may be empty) */
	struct ob_token_span data;  /* payload (may be empty) */
	bool has_start;
	int64_t start;              /* st: not valid before, seconds since the epoch */
	int64_t expiry;             /* exp: not valid after, seconds since the epoch */
	size_t signed_len;          /* bytes of the text before "~hmac=": what the MAC covers */
	unsigned char mac[OB_TOKEN_MAC_BYTES];
};

/* Parses len bytes of token text (no NUL needed) into *out: fields in the order ip, st, exp,
 * acl, id, data, hmac, separated by '~', exp and hmac required, each at most once, nothing
 * else. 0, OB_ETOOBIG beyond OB_TOKEN_MAX_CHARS, or OB_EINVAL when malformed. */
int ob_access_token_parse(const char *text, size_t len, struct ob_token *out);

/* ---- keys ---- */

/* A shared secret as a CDN's token configuration takes it: hex digits, decoded to bytes. */
struct ob_token_key {
	char id[OB_TOKEN_KEY_ID_MAX + 1];
	unsigned char secret[OB_TOKEN_KEY_MAX_BYTES];
	size_t secret_len;
};

/* Fills *out from an id (1 to OB_TOKEN_KEY_ID_MAX printable characters) and a secret of an
 * even number of hex digits (either case) decoding to OB_TOKEN_KEY_MIN_BYTES to
 * OB_TOKEN_KEY_MAX_BYTES. 0 or OB_EINVAL; *out is zeroed on failure. */
int ob_access_token_key_from_hex(const char *id, const char *hex, struct ob_token_key *out);

/* The keys a token may be signed with, each prepared once so a verification costs two
 * SHA-256 passes per key tried. Read-only once built: any number of threads may verify with
 * it at once. A key rotation builds a new ring. */
struct ob_token_ring;

/* An empty ring, or NULL when out of memory. */
struct ob_token_ring *ob_access_token_ring_new(void);

/* Adds a copy of key (the ring does not keep the caller's struct). 0, OB_EINVAL for a bad
 * key, OB_EEXIST when a key with that id is in the ring, OB_ETOOBIG past OB_TOKEN_RING_MAX. */
int ob_access_token_ring_add(struct ob_token_ring *ring, const struct ob_token_key *key);

/* Number of keys in the ring. */
size_t ob_access_token_ring_count(const struct ob_token_ring *ring);

/* The id of the key at index (as added), or NULL past the end. */
const char *ob_access_token_ring_key_id(const struct ob_token_ring *ring, size_t index);

/* Wipes and frees the ring; sets *ring to NULL. */
void ob_access_token_ring_free(struct ob_token_ring **ring);

/* ---- verification ---- */

struct ob_token_policy {
	const struct ob_token_ring *ring;  /* borrowed */
	int64_t skew_s;            /* 0 to OB_TOKEN_SKEW_MAX_S, allowed on st and on exp */
	bool skip_address_check;   /* behind a CDN or proxy that enforces the ip field itself */
	bool escape_url;           /* url mode: the path enters the MAC percent-encoded, as the
				      generators' escape_early (Akamai's "Escape token input") */
};

struct ob_token_request {
	const char *path;          /* the request path as sent: percent-encoded, no query */
	const char *client_addr;   /* the peer's address as text; NULL when unknown */
	int64_t now_s;             /* seconds since the epoch */
};

/* The details of a decision, for logs and the decision cache. */
struct ob_token_verdict {
	struct ob_token token;     /* the fields, when the token parsed */
	int key_index;             /* the ring key whose MAC matched, -1 when none did */
};

/* Decides whether the token text (len bytes; NULL or empty: OB_TOKEN_MISSING) opens the
 * request: parse, then the MAC against each key of the ring (constant-time comparison),
 * then st and exp against now with the skew, then the client address when the token names
 * one, then the normalised path against the ACL (in url mode the path is part of the MAC).
 * verdict may be NULL. Thread-safe. */
enum ob_token_result ob_access_token_verify(const struct ob_token_policy *policy,
					    const char *token, size_t len,
					    const struct ob_token_request *request,
					    struct ob_token_verdict *verdict);

/* The checks of a verification after the MAC, for a token whose MAC is known good (the
 * decision cache's hit path): st and exp against now with the skew, the client address
 * when the token names one, the normalised path (NULL when the raw path was refused)
 * against the ACL. A url-mode token's path is part of its MAC: this does not check it. */
enum ob_token_result ob_access_token_check_claims(const struct ob_token_policy *policy,
						  const struct ob_token *token,
						  const char *normalized_path,
						  const struct ob_token_request *request);

/* Normalises a raw request path for ACL matching into out (out_len bytes): decodes each
 * %XX once, collapses "//" and drops "." segments. Refuses (OB_EINVAL) what could escape an
 * ACL or mean two things: no leading '/', a '..' segment (literal or encoded), an encoded
 * '/' or '\', a '\', a '%' left after decoding (double encoding), a bad escape, a '?' or
 * '#', a control byte. OB_ETOOBIG past OB_TOKEN_PATH_MAX or out_len. */
int ob_access_token_path_normalize(const char *raw, char *out, size_t out_len);

/* True when the normalised path matches one of the '!'-separated ACL entries (acl_len
 * bytes). In an entry, '*' matches any run of bytes, '/' included; '?' matches one byte;
 * %XX stands for that byte literally; everything else matches itself. */
bool ob_access_token_acl_match(const char *acl, size_t acl_len, const char *path);

/* ---- issuing ---- */

struct ob_token_params {
	bool has_start;            /* write st (EdgeAuth leaves it out unless asked) */
	int64_t start;             /* st, > 0 */
	int64_t expiry;            /* exp; 0: (start, or now without one) + window_s */
	int64_t window_s;          /* lifetime when expiry is 0 */
	const char *acl;           /* '!'-separated entries; exactly one of acl and url */
	const char *url;           /* one exact path, signed but not written into the token */
	const char *ip;            /* NULL or "": field left out, as the generators do */
	const char *id;
	const char *data;
	bool escape_early;         /* percent-encode ip, id, data and url before signing */
};

/* Issues a token signed with key, byte for byte as the EdgeAuth generators write it with
 * the same inputs, into out (out_len bytes, at most OB_TOKEN_MAX_CHARS are written).
 * 0, OB_EINVAL with a reason in err (a value with '~' or a control character, an empty ACL
 * entry, an address that is not one, exp not after st, no lifetime), or OB_ETOOBIG. */
int ob_access_token_issue(const struct ob_token_key *key, const struct ob_token_params *params,
			  int64_t now_s, char *out, size_t out_len, char *err, size_t err_len);

/* ---- finding the token in a request ---- */

enum ob_token_location {
	OB_TOKEN_FROM_NONE = 0,
	OB_TOKEN_FROM_QUERY,
	OB_TOKEN_FROM_COOKIE,
	OB_TOKEN_FROM_HEADER,
};

/* Finds the token named name (NULL: OB_TOKEN_NAME_DEFAULT) in the query string, else the
 * Cookie header's value, else the value of the header of that name; each may be NULL. The
 * first place that has a non-empty value wins. A value without a literal '=' is taken as
 * percent-encoded as a whole and decoded once. Copies it into out (out_len bytes) and says
 * where in *where (may be NULL). 0, OB_ENOTFOUND, OB_ETOOBIG past OB_TOKEN_MAX_CHARS or
 * out_len, OB_EINVAL for a bad escape or a name given twice in the query string. */
int ob_access_token_extract(const char *name, const char *query, const char *cookie,
			    const char *header, char *out, size_t out_len,
			    enum ob_token_location *where);

#endif
