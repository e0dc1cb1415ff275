#include <mbedtls/sha256.h>
#include <stdio.h>
#include <string.h>

#include "access/access.h"
#include "core/err.h"
#include "core/rand.h"
#include "core/util.h"

#define PREFIX "obk_"
#define PREFIX_LEN 4
#define ID_HEX 16
#define SECRET_CHARS 43 /* 32 random bytes as base64url */

int ob_access_apikey_generate(char *id, char *token, size_t token_len,
			      unsigned char secret_sha256[32])
{
	char secret[SECRET_CHARS + 1];
	int ret;

	if (token_len < PREFIX_LEN + ID_HEX + 1 + SECRET_CHARS + 1)
		return OB_ETOOBIG;
	ret = ob_random_hex(id, ID_HEX / 2);
	if (ret == 0)
		ret = ob_random_base64url(secret, sizeof(secret), 32);
	if (ret != 0)
		return ret;
	snprintf(token, token_len, PREFIX "%s_%s", id, secret);
	mbedtls_sha256_ret((const unsigned char *)secret, SECRET_CHARS, secret_sha256, 0);
	ob_secure_zero(secret, sizeof(secret));
	return 0;
}

static bool is_hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_base64url(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

int ob_access_apikey_parse(const char *token, char *id, unsigned char secret_sha256[32])
{
	const char *secret;

	if (strlen(token) != PREFIX_LEN + ID_HEX + 1 + SECRET_CHARS ||
	    strncmp(token, PREFIX, PREFIX_LEN) != 0 || token[PREFIX_LEN + ID_HEX] != '_')
		return OB_EAUTH;
	for (size_t i = 0; i < ID_HEX; i++)
		if (!is_hex_lower(token[PREFIX_LEN + i]))
			return OB_EAUTH;
	secret = token + PREFIX_LEN + ID_HEX + 1;
	for (size_t i = 0; i < SECRET_CHARS; i++)
		if (!is_base64url(secret[i]))
			return OB_EAUTH;
	memcpy(id, token + PREFIX_LEN, ID_HEX);
	id[ID_HEX] = '\0';
	mbedtls_sha256_ret((const unsigned char *)secret, SECRET_CHARS, secret_sha256, 0);
	return 0;
}
