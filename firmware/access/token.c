#include <arpa/inet.h>
#include <inttypes.h>
#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/token.h"
#include "core/err.h"
#include "core/util.h"

#define FIELD_DELIMITER '~'
#define ACL_DELIMITER '!'
#define SECONDS_DIGITS_MAX 12          /* year 33658: beyond any token, within int64 */
#define ADDRESS_CHARS_MAX 64           /* an IPv6 literal, percent-encoded at worst */
#define HMAC_BLOCK 64                  /* SHA-256's block size */
#define URL_ESCAPED_MAX (3 * OB_TOKEN_PATH_MAX)
#define QUERY_VALUE_MAX (3 * OB_TOKEN_MAX_CHARS)

/* The fields in the one order the generators write them; a token lists them in this order. */
enum field { FIELD_IP, FIELD_ST, FIELD_EXP, FIELD_ACL, FIELD_ID, FIELD_DATA, FIELD_HMAC };

static const char *const field_names[] = {
	[FIELD_IP] = "ip",     [FIELD_ST] = "st", [FIELD_EXP] = "exp",   [FIELD_ACL] = "acl",
	[FIELD_ID] = "id",     [FIELD_DATA] = "data", [FIELD_HMAC] = "hmac",
};

static const char *const reasons[] = {
	[OB_TOKEN_OK] = "ok",
	[OB_TOKEN_MISSING] = "missing",
	[OB_TOKEN_MALFORMED] = "malformed",
	[OB_TOKEN_EXPIRED] = "expired",
	[OB_TOKEN_NOT_YET_VALID] = "not_yet_valid",
	[OB_TOKEN_BAD_SIGNATURE] = "bad_signature",
	[OB_TOKEN_OUTSIDE_ACL] = "outside_acl",
	[OB_TOKEN_ADDRESS] = "address",
};

/* One key of a ring: the SHA-256 states after the key's inner and outer HMAC pads, so a MAC
 * starts from them instead of hashing the pads again (RFC 2104's precomputation). */
struct ring_key {
	char id[OB_TOKEN_KEY_ID_MAX + 1];
	mbedtls_sha256_context inner;
	mbedtls_sha256_context outer;
};

struct ob_token_ring {
	size_t count;
	struct ring_key keys[OB_TOKEN_RING_MAX];
};

const char *ob_access_token_reason(enum ob_token_result result)
{
	if ((unsigned)result < OB_ARRAY_SIZE(reasons) && reasons[result])
		return reasons[result];
	return "unknown";
}

/* The byte of the escape at text[0..2] ("%XX"), or -1 when it is not one; len bytes follow
 * text[0] inclusive. */
static int escaped_byte(const char *text, size_t len)
{
	int hi, lo;

	if (len < 3 || text[0] != '%')
		return -1;
	hi = ob_hex_digit(text[1]);
	lo = ob_hex_digit(text[2]);
	return hi < 0 || lo < 0 ? -1 : hi << 4 | lo;
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/* Decodes each %XX of len bytes once into out (out_len bytes with the NUL). 0, OB_EINVAL
 * for a bad escape or a decoded NUL, OB_ETOOBIG. */
static int percent_decode(const char *in, size_t len, char *out, size_t out_len, size_t *out_n)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)in[i];

		if (c == '%') {
			c = escaped_byte(in + i, len - i);
			if (c <= 0)
				return OB_EINVAL;
			i += 2;
		}
		if (n + 1 >= out_len)
			return OB_ETOOBIG;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	*out_n = n;
	return 0;
}

/* An IPv4 or IPv6 literal (percent-encoded or not) as 16 bytes, IPv4 as ::ffff:a.b.c.d so a
 * v4-mapped peer address compares equal to the plain IPv4 form. */
static int parse_address(const char *text, size_t len, unsigned char out[16])
{
	char plain[ADDRESS_CHARS_MAX + 1];
	struct in_addr v4;
	size_t n;

	if (len == 0 || len > ADDRESS_CHARS_MAX ||
	    percent_decode(text, len, plain, sizeof(plain), &n) != 0)
		return OB_EINVAL;
	if (inet_pton(AF_INET, plain, &v4) == 1) {
		memset(out, 0, 10);
		out[10] = 0xff;
		out[11] = 0xff;
		memcpy(out + 12, &v4, 4);
		return 0;
	}
	return inet_pton(AF_INET6, plain, out) == 1 ? 0 : OB_EINVAL;
}

static int parse_seconds(const char *text, size_t len, int64_t *out)
{
	int64_t value = 0;

	if (len == 0 || len > SECONDS_DIGITS_MAX)
		return OB_EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return OB_EINVAL;
		value = value * 10 + (text[i] - '0');
	}
	*out = value;
	return 0;
}

/* An ACL: entries separated by '!', none empty, every '%' a whole escape. */
static bool acl_well_formed(const char *acl, size_t len)
{
	if (len == 0 || acl[0] == ACL_DELIMITER || acl[len - 1] == ACL_DELIMITER)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (acl[i] == ACL_DELIMITER && acl[i + 1] == ACL_DELIMITER)
			return false;
		if (acl[i] == '%' && escaped_byte(acl + i, len - i) < 0)
			return false;
	}
	return true;
}

/* hmac: exactly 64 lowercase hex digits, as every generator writes them. */
static int parse_mac(const char *text, size_t len, unsigned char mac[OB_TOKEN_MAC_BYTES])
{
	if (len != 2 * OB_TOKEN_MAC_BYTES)
		return OB_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f')))
			return OB_EINVAL;
	for (size_t i = 0; i < OB_TOKEN_MAC_BYTES; i++)
		mac[i] = (unsigned char)(ob_hex_digit(text[2 * i]) << 4 | ob_hex_digit(text[2 * i + 1]));
	return 0;
}

static int field_lookup(const char *name, size_t len)
{
	for (size_t f = 0; f < OB_ARRAY_SIZE(field_names); f++)
		if (strlen(field_names[f]) == len && memcmp(field_names[f], name, len) == 0)
			return (int)f;
	return -1;
}

static int parse_field(struct ob_token *out, enum field field, const char *value, size_t len)
{
	unsigned char address[16];
	struct ob_token_span span = { value, len };

	switch (field) {
	case FIELD_IP:
		out->ip = span;
		return parse_address(value, len, address);
	case FIELD_ST:
		out->has_start = true;
		return parse_seconds(value, len, &out->start);
	case FIELD_EXP:
		return parse_seconds(value, len, &out->expiry);
	case FIELD_ACL:
		out->acl = span;
		return acl_well_formed(value, len) ? 0 : OB_EINVAL;
	case FIELD_ID:
		out->id = span;
		return 0;
	case FIELD_DATA:
		out->data = span;
		return 0;
	case FIELD_HMAC:
		return parse_mac(value, len, out->mac);
	}
	return OB_EINVAL;
}

int ob_access_token_parse(const char *text, size_t len, struct ob_token *out)
{
	unsigned seen = 0;
	int last = -1;
	size_t pos = 0;

	memset(out, 0, sizeof(*out));
	if (len > OB_TOKEN_MAX_CHARS)
		return OB_ETOOBIG;
	if (!text || len == 0)
		return OB_EINVAL;
	for (size_t i = 0; i < len; i++)
		if (is_control((unsigned char)text[i]))
			return OB_EINVAL;
	for (;;) {
		const char *field = text + pos;
		const char *end = memchr(field, FIELD_DELIMITER, len - pos);
		size_t field_len = end ? (size_t)(end - field) : len - pos;
		const char *eq = memchr(field, '=', field_len);
		const char *value;
		int f;

		if (!eq)
			return OB_EINVAL;
		f = field_lookup(field, (size_t)(eq - field));
		/* Unknown, repeated or out of order: the generators never write such a token. */
		if (f <= last)
			return OB_EINVAL;
		last = f;
		seen |= 1u << f;
		value = eq + 1;
		if (parse_field(out, (enum field)f, value, field_len - (size_t)(value - field)) != 0)
			return OB_EINVAL;
		if (f == FIELD_HMAC) {
			/* hmac comes last and covers everything before its delimiter. */
			if (end || pos == 0)
				return OB_EINVAL;
			out->signed_len = pos - 1;
			break;
		}
		if (!end)
			return OB_EINVAL;
		pos += field_len + 1;
	}
	return (seen & (1u << FIELD_EXP)) ? 0 : OB_EINVAL;
}

/* ---- keys ---- */

static bool key_id_ok(const char *id, size_t max_len)
{
	size_t len = id ? strnlen(id, max_len + 1) : 0;

	if (len == 0 || len > max_len)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)id[i] <= ' ' || (unsigned char)id[i] >= 0x7f)
			return false;
	return true;
}

static bool key_ok(const struct ob_token_key *key)
{
	return key && key_id_ok(key->id, OB_TOKEN_KEY_ID_MAX) &&
	       key->secret_len >= OB_TOKEN_KEY_MIN_BYTES && key->secret_len <= OB_TOKEN_KEY_MAX_BYTES;
}

int ob_access_token_key_from_hex(const char *id, const char *hex, struct ob_token_key *out)
{
	size_t len = hex ? strnlen(hex, 2 * OB_TOKEN_KEY_MAX_BYTES + 1) : 0;

	memset(out, 0, sizeof(*out));
	if (!key_id_ok(id, OB_TOKEN_KEY_ID_MAX) || len % 2 != 0 ||
	    len < 2 * OB_TOKEN_KEY_MIN_BYTES || len > 2 * OB_TOKEN_KEY_MAX_BYTES)
		return OB_EINVAL;
	if (ob_hex_decode(hex, out->secret, len / 2) != 0) {
		ob_secure_zero(out, sizeof(*out));
		return OB_EINVAL;
	}
	out->secret_len = len / 2;
	memcpy(out->id, id, strlen(id) + 1);
	return 0;
}

struct ob_token_ring *ob_access_token_ring_new(void)
{
	return calloc(1, sizeof(struct ob_token_ring));
}

/* The SHA-256 state after one HMAC pad of the key (keys are at most one block long, so
 * they are used as they are, zero-padded). */
static int absorb_pad(mbedtls_sha256_context *state, const struct ob_token_key *key,
		      unsigned char pad_byte)
{
	unsigned char pad[HMAC_BLOCK];
	int ret;

	memset(pad, pad_byte, sizeof(pad));
	for (size_t i = 0; i < key->secret_len; i++)
		pad[i] ^= key->secret[i];
	ret = mbedtls_sha256_starts_ret(state, 0);
	if (ret == 0)
		ret = mbedtls_sha256_update_ret(state, pad, sizeof(pad));
	ob_secure_zero(pad, sizeof(pad));
	return ret == 0 ? 0 : OB_EINTERNAL;
}

int ob_access_token_ring_add(struct ob_token_ring *ring, const struct ob_token_key *key)
{
	struct ring_key *slot;
	int ret;

	if (!key_ok(key))
		return OB_EINVAL;
	for (size_t i = 0; i < ring->count; i++)
		if (strcmp(ring->keys[i].id, key->id) == 0)
			return OB_EEXIST;
	if (ring->count == OB_TOKEN_RING_MAX)
		return OB_ETOOBIG;
	slot = &ring->keys[ring->count];
	mbedtls_sha256_init(&slot->inner);
	mbedtls_sha256_init(&slot->outer);
	ret = absorb_pad(&slot->inner, key, 0x36);
	if (ret == 0)
		ret = absorb_pad(&slot->outer, key, 0x5c);
	if (ret != 0) {
		mbedtls_sha256_free(&slot->inner);
		mbedtls_sha256_free(&slot->outer);
		return ret;
	}
	memcpy(slot->id, key->id, strlen(key->id) + 1);
	ring->count++;
	return 0;
}

size_t ob_access_token_ring_count(const struct ob_token_ring *ring)
{
	return ring ? ring->count : 0;
}

const char *ob_access_token_ring_key_id(const struct ob_token_ring *ring, size_t index)
{
	return ring && index < ring->count ? ring->keys[index].id : NULL;
}

void ob_access_token_ring_free(struct ob_token_ring **ring)
{
	if (!*ring)
		return;
	for (size_t i = 0; i < (*ring)->count; i++) {
		mbedtls_sha256_free(&(*ring)->keys[i].inner);
		mbedtls_sha256_free(&(*ring)->keys[i].outer);
	}
	ob_secure_zero(*ring, sizeof(**ring));
	free(*ring);
	*ring = NULL;
}

/* HMAC-SHA256 of the signed text, followed by "~url=" and url when url is not NULL, from
 * the key's prepared pad states. */
static int ring_mac(const struct ring_key *key, const char *text, size_t len, const char *url,
		    size_t url_len, unsigned char mac[OB_TOKEN_MAC_BYTES])
{
	mbedtls_sha256_context ctx;
	unsigned char inner[OB_TOKEN_MAC_BYTES];
	int ret;

	mbedtls_sha256_init(&ctx);
	mbedtls_sha256_clone(&ctx, &key->inner);
	ret = mbedtls_sha256_update_ret(&ctx, (const unsigned char *)text, len);
	if (ret == 0 && url)
		ret = mbedtls_sha256_update_ret(&ctx, (const unsigned char *)"~url=", 5);
	if (ret == 0 && url)
		ret = mbedtls_sha256_update_ret(&ctx, (const unsigned char *)url, url_len);
	if (ret == 0)
		ret = mbedtls_sha256_finish_ret(&ctx, inner);
	if (ret == 0) {
		mbedtls_sha256_clone(&ctx, &key->outer);
		ret = mbedtls_sha256_update_ret(&ctx, inner, sizeof(inner));
	}
	if (ret == 0)
		ret = mbedtls_sha256_finish_ret(&ctx, mac);
	mbedtls_sha256_free(&ctx);
	ob_secure_zero(inner, sizeof(inner));
	return ret == 0 ? 0 : OB_EINTERNAL;
}

/* ---- verification ---- */

static bool escape_keeps(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '.' || c == '-' || c == '~';
}

/* The generators' escape_early: form-encoding (a space becomes '+', every byte but letters,
 * digits and "_.-~" becomes %xx) with lowercase hex digits. */
static int escape_early(const char *in, size_t len, char *out, size_t out_len, size_t *out_n)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		bool plain = escape_keeps(c) || c == ' ';

		if (n + (plain ? 1 : 3) >= out_len)
			return OB_ETOOBIG;
		if (c == ' ') {
			out[n++] = '+';
		} else if (plain) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	*out_n = n;
	return 0;
}

/* The index of the first key of the ring whose MAC equals the token's, or -1. */
static int find_key(const struct ob_token_ring *ring, const char *text,
		    const struct ob_token *token, const char *url, size_t url_len)
{
	unsigned char mac[OB_TOKEN_MAC_BYTES];
	int found = -1;

	for (size_t i = 0; ring && i < ring->count && found < 0; i++)
		if (ring_mac(&ring->keys[i], text, token->signed_len, url, url_len, mac) == 0 &&
		    ob_ct_equal(mac, token->mac, sizeof(mac)))
			found = (int)i;
	ob_secure_zero(mac, sizeof(mac));
	return found;
}

static bool same_address(const struct ob_token_span *ip, const char *client)
{
	unsigned char bound[16];
	unsigned char peer[16];

	return client && parse_address(ip->ptr, ip->len, bound) == 0 &&
	       parse_address(client, strnlen(client, ADDRESS_CHARS_MAX + 1), peer) == 0 &&
	       memcmp(bound, peer, sizeof(bound)) == 0;
}

enum ob_token_result ob_access_token_check_claims(const struct ob_token_policy *policy,
						  const struct ob_token *token,
						  const char *normalized_path,
						  const struct ob_token_request *request)
{
	int64_t skew = policy->skew_s;

	if (skew < 0)
		skew = 0;
	else if (skew > OB_TOKEN_SKEW_MAX_S)
		skew = OB_TOKEN_SKEW_MAX_S;
	if (token->has_start && request->now_s < token->start - skew)
		return OB_TOKEN_NOT_YET_VALID;
	if (request->now_s > token->expiry + skew)
		return OB_TOKEN_EXPIRED;
	if (token->ip.ptr && !policy->skip_address_check &&
	    !same_address(&token->ip, request->client_addr))
		return OB_TOKEN_ADDRESS;
	if (token->acl.ptr &&
	    (!normalized_path ||
	     !ob_access_token_acl_match(token->acl.ptr, token->acl.len, normalized_path)))
		return OB_TOKEN_OUTSIDE_ACL;
	return OB_TOKEN_OK;
}

enum ob_token_result ob_access_token_verify(const struct ob_token_policy *policy,
					    const char *token, size_t len,
					    const struct ob_token_request *request,
					    struct ob_token_verdict *verdict)
{
	struct ob_token_verdict scratch = { .key_index = -1 };
	struct ob_token_verdict *v = verdict ? verdict : &scratch;
	char path[OB_TOKEN_PATH_MAX + 1];
	char escaped[URL_ESCAPED_MAX + 1];
	const char *url = NULL;
	size_t url_len = 0;
	bool path_ok;

	memset(v, 0, sizeof(*v));
	v->key_index = -1;
	if (!token || len == 0)
		return OB_TOKEN_MISSING;
	if (ob_access_token_parse(token, len, &v->token) != 0)
		return OB_TOKEN_MALFORMED;
	path_ok = request->path &&
		  ob_access_token_path_normalize(request->path, path, sizeof(path)) == 0;
	if (!v->token.acl.ptr) {
		/* url mode: the path is part of the MAC, so a refused path cannot be checked. */
		if (!path_ok)
			return OB_TOKEN_OUTSIDE_ACL;
		url = path;
		url_len = strlen(path);
		if (policy->escape_url) {
			if (escape_early(path, url_len, escaped, sizeof(escaped), &url_len) != 0)
				return OB_TOKEN_OUTSIDE_ACL;
			url = escaped;
		}
	}
	v->key_index = find_key(policy->ring, token, &v->token, url, url_len);
	if (v->key_index < 0)
		return OB_TOKEN_BAD_SIGNATURE;
	return ob_access_token_check_claims(policy, &v->token, path_ok ? path : NULL, request);
}

int ob_access_token_path_normalize(const char *raw, char *out, size_t out_len)
{
	char decoded[OB_TOKEN_PATH_MAX];
	size_t raw_len;
	size_t n = 0;
	size_t o = 0;
	bool trailing = false;

	if (!raw || raw[0] != '/')
		return OB_EINVAL;
	raw_len = strnlen(raw, OB_TOKEN_PATH_MAX + 1);
	if (raw_len > OB_TOKEN_PATH_MAX)
		return OB_ETOOBIG;
	for (size_t i = 0; i < raw_len; i++) {
		int c = (unsigned char)raw[i];

		if (c == '%') {
			/* One decoding only: an encoded separator or '%' could mean two paths. */
			c = escaped_byte(raw + i, raw_len - i);
			if (c < 0 || c == '/' || c == '\\' || c == '%')
				return OB_EINVAL;
			i += 2;
		} else if (c == '\\' || c == '?' || c == '#') {
			return OB_EINVAL;
		}
		if (is_control((unsigned char)c))
			return OB_EINVAL;
		decoded[n++] = (char)c;
	}
	for (size_t i = 1, next; i <= n; i = next + 1) {
		const char *segment = decoded + i;
		const char *slash = memchr(segment, '/', n - i);
		size_t len = slash ? (size_t)(slash - segment) : n - i;
		bool skip = len == 0 || (len == 1 && segment[0] == '.');

		next = i + len;
		trailing = !slash && skip;
		if (len == 2 && segment[0] == '.' && segment[1] == '.')
			return OB_EINVAL;
		if (skip)
			continue;
		if (o + 1 + len >= out_len)
			return OB_ETOOBIG;
		out[o++] = '/';
		memcpy(out + o, segment, len);
		o += len;
	}
	if (o == 0 || trailing) {
		if (o + 1 >= out_len)
			return OB_ETOOBIG;
		out[o++] = '/';
	}
	out[o] = '\0';
	return 0;
}

enum { PATTERN_BAD = -1, PATTERN_STAR = 256, PATTERN_ANY = 257 };

/* The ACL entry's element at *at (a byte, PATTERN_STAR or PATTERN_ANY) and moves past it. */
static int pattern_next(const char *pattern, size_t len, size_t *at)
{
	int c = (unsigned char)pattern[*at];

	if (c == '*' || c == '?') {
		(*at)++;
		return c == '*' ? PATTERN_STAR : PATTERN_ANY;
	}
	if (c == '%') {
		c = escaped_byte(pattern + *at, len - *at);
		*at += 3;
		return c < 0 ? PATTERN_BAD : c;
	}
	(*at)++;
	return c;
}

/* Glob matching with one backtrack point: the last '*' seen takes one more byte each time
 * the rest fails, so the cost stays within pattern length times path length. */
static bool entry_match(const char *pattern, size_t len, const char *path, size_t path_len)
{
	size_t p = 0;
	size_t s = 0;
	size_t star_p = SIZE_MAX;
	size_t star_s = 0;

	while (s < path_len) {
		if (p < len) {
			size_t next = p;
			int element = pattern_next(pattern, len, &next);

			if (element == PATTERN_BAD)
				return false;
			if (element == PATTERN_STAR) {
				star_p = next;
				star_s = s;
				p = next;
				continue;
			}
			if (element == PATTERN_ANY || element == (unsigned char)path[s]) {
				p = next;
				s++;
				continue;
			}
		}
		if (star_p == SIZE_MAX)
			return false;
		p = star_p;
		s = ++star_s;
	}
	while (p < len)
		if (pattern_next(pattern, len, &p) != PATTERN_STAR)
			return false;
	return true;
}

bool ob_access_token_acl_match(const char *acl, size_t acl_len, const char *path)
{
	size_t path_len = strlen(path);
	size_t start = 0;

	for (;;) {
		const char *bang = memchr(acl + start, ACL_DELIMITER, acl_len - start);
		size_t end = bang ? (size_t)(bang - acl) : acl_len;

		if (end > start && entry_match(acl + start, end - start, path, path_len))
			return true;
		if (!bang)
			return false;
		start = end + 1;
	}
}

/* ---- issuing ---- */

#define SECONDS_MAX INT64_C(999999999999)

/* A bounded text being written; a write that does not fit marks it overflowed. */
struct writer {
	char *buf;
	size_t cap;
	size_t len;
	bool overflow;
};

static void put(struct writer *w, const char *text, size_t len)
{
	if (w->overflow || w->len + len >= w->cap) {
		w->overflow = true;
		return;
	}
	memcpy(w->buf + w->len, text, len);
	w->len += len;
	w->buf[w->len] = '\0';
}

static void put_str(struct writer *w, const char *text)
{
	put(w, text, strlen(text));
}

static void put_value(struct writer *w, const char *text, bool escape)
{
	size_t n;

	if (!escape) {
		put_str(w, text);
		return;
	}
	if (w->overflow ||
	    escape_early(text, strlen(text), w->buf + w->len, w->cap - w->len, &n) != 0) {
		w->overflow = true;
		return;
	}
	w->len += n;
}

/* A value the token can carry: no field delimiter, no control character. */
static bool value_ok(const char *text)
{
	for (const char *p = text; *p; p++)
		if (*p == FIELD_DELIMITER || is_control((unsigned char)*p))
			return false;
	return true;
}

static bool given(const char *text)
{
	return text && text[0];
}

static int issue_check(const struct ob_token_key *key, const struct ob_token_params *params,
		       int64_t now_s, int64_t *expiry, char *err, size_t err_len)
{
	unsigned char address[16];
	const char *problem = NULL;

	*expiry = 0;
	if (params->expiry > 0)
		*expiry = params->expiry;
	else if (params->window_s > 0 && params->window_s <= SECONDS_MAX)
		*expiry = (params->has_start ? params->start : now_s) + params->window_s;
	if (!key_ok(key))
		problem = "key: not a usable token key";
	else if (given(params->acl) == given(params->url))
		problem = "give exactly one of acl and url";
	else if (given(params->acl) &&
		 (!value_ok(params->acl) || !acl_well_formed(params->acl, strlen(params->acl))))
		problem = "acl: entries separated by '!', none empty, without '~' or control "
			  "characters, '%' only in %XX escapes";
	else if (given(params->url) &&
		 (!value_ok(params->url) || strlen(params->url) > OB_TOKEN_PATH_MAX))
		problem = "url: a path of at most 1024 bytes without '~' or control characters";
	else if (given(params->ip) && (!value_ok(params->ip) ||
				       parse_address(params->ip, strlen(params->ip), address) != 0))
		problem = "ip: must be an IPv4 or IPv6 address";
	else if ((given(params->id) && !value_ok(params->id)) ||
		 (given(params->data) && !value_ok(params->data)))
		problem = "id and data: must not hold '~' or control characters";
	else if (params->has_start && (params->start <= 0 || params->start > SECONDS_MAX))
		problem = "start: must be a time in seconds since the epoch";
	else if (params->expiry < 0 || params->window_s < 0)
		problem = "expiry and window: must not be negative";
	else if (*expiry <= 0)
		problem = "give an expiry time or a lifetime (window) in seconds";
	else if (*expiry > SECONDS_MAX)
		problem = "the expiry is too far in the future";
	else if (params->has_start && *expiry <= params->start)
		problem = "the expiry must come after the start";
	if (!problem)
		return 0;
	snprintf(err, err_len, "%s", problem);
	return OB_EINVAL;
}

static int sign(const struct ob_token_key *key, const char *text, size_t len, const char *url,
		size_t url_len, unsigned char mac[OB_TOKEN_MAC_BYTES])
{
	mbedtls_md_context_t md;
	int ret;

	mbedtls_md_init(&md);
	ret = mbedtls_md_setup(&md, mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), 1);
	if (ret == 0)
		ret = mbedtls_md_hmac_starts(&md, key->secret, key->secret_len);
	if (ret == 0)
		ret = mbedtls_md_hmac_update(&md, (const unsigned char *)text, len);
	if (ret == 0 && url)
		ret = mbedtls_md_hmac_update(&md, (const unsigned char *)"~url=", 5);
	if (ret == 0 && url)
		ret = mbedtls_md_hmac_update(&md, (const unsigned char *)url, url_len);
	if (ret == 0)
		ret = mbedtls_md_hmac_finish(&md, mac);
	mbedtls_md_free(&md);
	if (ret == MBEDTLS_ERR_MD_ALLOC_FAILED)
		return OB_ENOMEM;
	return ret == 0 ? 0 : OB_EINTERNAL;
}

int ob_access_token_issue(const struct ob_token_key *key, const struct ob_token_params *params,
			  int64_t now_s, char *out, size_t out_len, char *err, size_t err_len)
{
	struct writer w = { out, out_len < OB_TOKEN_MAX_CHARS + 1 ? out_len : OB_TOKEN_MAX_CHARS + 1,
			    0, false };
	char escaped_url[URL_ESCAPED_MAX + 1];
	const char *url = params->url;
	size_t url_len = 0;
	unsigned char mac[OB_TOKEN_MAC_BYTES];
	char mac_hex[2 * OB_TOKEN_MAC_BYTES + 1];
	char number[32];
	struct ob_token check;
	int64_t expiry;
	int ret;

	if (out_len > 0)
		out[0] = '\0';
	ret = issue_check(key, params, now_s, &expiry, err, err_len);
	if (ret != 0)
		return ret;
	/* The generators' order: ip, st, exp, acl, id, data; then hmac. */
	if (given(params->ip)) {
		put_str(&w, "ip=");
		put_value(&w, params->ip, params->escape_early);
		put_str(&w, "~");
	}
	if (params->has_start) {
		snprintf(number, sizeof(number), "st=%" PRId64 "~", params->start);
		put_str(&w, number);
	}
	snprintf(number, sizeof(number), "exp=%" PRId64, expiry);
	put_str(&w, number);
	if (given(params->acl)) {
		/* Not escaped, even with escape_early: the Python and Node generators leave it. */
		put_str(&w, "~acl=");
		put_str(&w, params->acl);
	}
	if (given(params->id)) {
		put_str(&w, "~id=");
		put_value(&w, params->id, params->escape_early);
	}
	if (given(params->data)) {
		put_str(&w, "~data=");
		put_value(&w, params->data, params->escape_early);
	}
	if (w.overflow) {
		snprintf(err, err_len, "the token would be longer than %d characters",
			 OB_TOKEN_MAX_CHARS);
		ret = OB_ETOOBIG;
		goto out;
	}
	if (given(url)) {
		url_len = strlen(url);
		/* At most OB_TOKEN_PATH_MAX bytes (issue_check), so the escaped form fits. */
		if (params->escape_early &&
		    escape_early(params->url, url_len, escaped_url, sizeof(escaped_url), &url_len) == 0)
			url = escaped_url;
	} else {
		url = NULL;
	}
	ret = sign(key, out, w.len, url, url_len, mac);
	if (ret != 0) {
		snprintf(err, err_len, "the token could not be signed: %s", ob_strerror(ret));
		goto out;
	}
	ob_hex_encode(mac, sizeof(mac), mac_hex);
	put_str(&w, "~hmac=");
	put_str(&w, mac_hex);
	if (w.overflow) {
		snprintf(err, err_len, "the token would be longer than %d characters",
			 OB_TOKEN_MAX_CHARS);
		ret = OB_ETOOBIG;
	} else if (ob_access_token_parse(out, w.len, &check) != 0) {
		snprintf(err, err_len, "the issued token does not parse back");
		ret = OB_EINTERNAL;
	}
out:
	if (ret != 0 && out_len > 0)
		out[0] = '\0';
	ob_secure_zero(mac, sizeof(mac));
	return ret;
}

/* ---- finding the token in a request ---- */

/* Copies a found value into out: literally when it holds a '=' (a token as written always
 * has "exp=" and "hmac="), else decoded once: the whole token was percent-encoded on the
 * way, '=' included, as encodeURIComponent and the like do (they may leave '~' alone). */
static int take_value(const char *value, size_t len, char *out, size_t out_len)
{
	size_t cap = out_len < OB_TOKEN_MAX_CHARS + 1 ? out_len : OB_TOKEN_MAX_CHARS + 1;
	size_t n;

	if (len > QUERY_VALUE_MAX)
		return OB_ETOOBIG;
	if (!memchr(value, '=', len))
		return percent_decode(value, len, out, cap, &n);
	if (len + 1 > cap)
		return OB_ETOOBIG;
	memcpy(out, value, len);
	out[len] = '\0';
	return 0;
}

/* The value of name in a query string ("a=1&name=VALUE"); a second occurrence is refused. */
static int find_in_query(const char *query, const char *name, const char **value, size_t *len)
{
	size_t name_len = strlen(name);
	const char *p = query;
	bool found = false;

	for (;;) {
		const char *amp = strchr(p, '&');
		size_t part = amp ? (size_t)(amp - p) : strlen(p);

		if (part >= name_len && memcmp(p, name, name_len) == 0 &&
		    (part == name_len || p[name_len] == '=')) {
			if (found)
				return OB_EINVAL;
			found = true;
			*value = part == name_len ? p + part : p + name_len + 1;
			*len = part == name_len ? 0 : part - name_len - 1;
		}
		if (!amp)
			return 0;
		p = amp + 1;
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* The first non-empty value of name in a Cookie header ("a=1; name=VALUE"). Browsers send
 * the cookie of the most specific path first. */
static void find_in_cookie(const char *cookie, const char *name, const char **value,
			   size_t *len)
{
	size_t name_len = strlen(name);
	const char *p = cookie;

	for (;;) {
		const char *semi = strchr(p, ';');
		size_t part;

		while (is_blank(*p))
			p++;
		part = semi ? (size_t)(semi - p) : strlen(p);
		while (part > 0 && is_blank(p[part - 1]))
			part--;
		if (part > name_len && memcmp(p, name, name_len) == 0 && p[name_len] == '=') {
			const char *v = p + name_len + 1;
			size_t n = part - name_len - 1;

			if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
				v++;
				n -= 2;
			}
			if (n > 0) {
				*value = v;
				*len = n;
				return;
			}
		}
		if (!semi)
			return;
		p = semi + 1;
	}
}

int ob_access_token_extract(const char *name, const char *query, const char *cookie,
			    const char *header, char *out, size_t out_len,
			    enum ob_token_location *where)
{
	enum ob_token_location location = OB_TOKEN_FROM_NONE;
	const char *value = NULL;
	size_t len = 0;
	int ret;

	if (!name || !name[0])
		name = OB_TOKEN_NAME_DEFAULT;
	if (where)
		*where = OB_TOKEN_FROM_NONE;
	if (out_len > 0)
		out[0] = '\0';
	if (query) {
		ret = find_in_query(query, name, &value, &len);
		if (ret != 0)
			return ret;
		if (len > 0)
			location = OB_TOKEN_FROM_QUERY;
	}
	if (!location && cookie) {
		len = 0;
		find_in_cookie(cookie, name, &value, &len);
		if (len > 0)
			location = OB_TOKEN_FROM_COOKIE;
	}
	if (!location && header) {
		value = header;
		while (is_blank(*value))
			value++;
		len = strlen(value);
		while (len > 0 && is_blank(value[len - 1]))
			len--;
		if (len > 0)
			location = OB_TOKEN_FROM_HEADER;
	}
	if (!location)
		return OB_ENOTFOUND;
	if (out_len == 0)
		return OB_ETOOBIG;
	ret = take_value(value, len, out, out_len);
	if (ret != 0) {
		out[0] = '\0';
		return ret;
	}
	if (where)
		*where = location;
	return 0;
}
