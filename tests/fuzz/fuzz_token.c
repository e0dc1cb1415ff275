/* Fuzzes the playback token core with what a request brings: "TOKEN\nPATH\nREST", the
 * token verified against a fixed ring for the path (REST as the client address), the path
 * normalised and matched against TOKEN as an ACL, REST searched as a query string, a Cookie
 * header and a header for the token. Checks that a normalised path holds no traversal and is
 * a fixed point, and that a token issued for it (REST as its data) opens the raw path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access/token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW INT64_C(1700000000)

static struct ob_token_ring *ring;
static struct ob_token_key key;

static void setup(void)
{
	struct ob_token_key other;

	if (ring)
		return;
	ring = ob_access_token_ring_new();
	if (!ring || ob_access_token_key_from_hex("k2", "fedcba9876543210fedcba9876543210", &other) ||
	    ob_access_token_key_from_hex("k1", "0123456789abcdef0123456789abcdef", &key) ||
	    ob_access_token_ring_add(ring, &other) || ob_access_token_ring_add(ring, &key))
		abort();
}

static void check_normalised(const char *path)
{
	char again[OB_TOKEN_PATH_MAX + 1];

	if (path[0] != '/' || strstr(path, "//") || strstr(path, "/../") || strstr(path, "/./") ||
	    strchr(path, '%') || strchr(path, '\\'))
		abort();
	/* A decoded '?' or '#' cannot be sent as it is; anything else is a fixed point. */
	if (!strpbrk(path, "?#") && (ob_access_token_path_normalize(path, again, sizeof(again)) != 0 ||
				     strcmp(path, again) != 0))
		abort();
}

/* A token issued for the normalised path (url mode, REST as data) must open the raw path. */
static void check_roundtrip(const char *raw, const char *path, const char *rest, bool escape)
{
	struct ob_token_params params = { .has_start = true, .start = NOW - 10, .window_s = 60,
					  .url = path, .data = rest, .escape_early = escape };
	struct ob_token_policy policy = { .ring = ring, .escape_url = escape };
	struct ob_token_request request = { .path = raw, .now_s = NOW };
	char token[OB_TOKEN_MAX_CHARS + 1];
	char err[256];

	if (ob_access_token_issue(&key, &params, NOW, token, sizeof(token), err, sizeof(err)) != 0)
		return;
	if (ob_access_token_verify(&policy, token, strlen(token), &request, NULL) != OB_TOKEN_OK)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[3 * OB_TOKEN_MAX_CHARS];
	char normalised[OB_TOKEN_PATH_MAX + 1];
	char found[OB_TOKEN_MAX_CHARS + 1];
	struct ob_token_policy policy = { .ring = NULL, .skew_s = 30 };
	struct ob_token_request request = { .now_s = NOW };
	struct ob_token parsed;
	const char *token = text;
	const char *path = "/";
	const char *rest = "";
	char *newline;

	if (size >= sizeof(text))
		return 0;
	setup();
	policy.ring = ring;
	ob_access_token_parse((const char *)data, size, &parsed);
	memcpy(text, data, size);
	text[size] = '\0';
	newline = strchr(text, '\n');
	if (newline) {
		*newline = '\0';
		path = newline + 1;
		newline = strchr(newline + 1, '\n');
		if (newline) {
			*newline = '\0';
			rest = newline + 1;
		}
	}
	request.path = path;
	request.client_addr = rest;
	ob_access_token_verify(&policy, token, strlen(token), &request, NULL);
	policy.escape_url = true;
	policy.skip_address_check = true;
	ob_access_token_verify(&policy, token, strlen(token), &request, NULL);
	if (ob_access_token_path_normalize(path, normalised, sizeof(normalised)) == 0) {
		check_normalised(normalised);
		ob_access_token_acl_match(token, strlen(token), normalised);
		check_roundtrip(path, normalised, rest, false);
		check_roundtrip(path, normalised, rest, true);
	}
	ob_access_token_extract(NULL, rest, rest, rest, found, sizeof(found), NULL);
	ob_access_token_extract(token, path, rest, NULL, found, sizeof(found), NULL);
	return 0;
}
