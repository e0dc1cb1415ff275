#include <argon2.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access/access.h"
#include "core/err.h"
#include "core/rand.h"
#include "core/util.h"

/* OWASP Password Storage Cheat Sheet, Argon2id minimum: m=19 MiB, t=2, p=1. */
#define ARGON2_MEMORY_KIB 19456
#define ARGON2_PASSES 2
#define ARGON2_LANES 1
#define ARGON2_SALT_BYTES 16
#define ARGON2_HASH_BYTES 32

/* Lowercase; compared case-insensitively. Only entries of 8+ characters matter,
 * since shorter ones fail the length rule first. */
static const char *const common_passwords[] = {
	"00000000", "11111111", "11223344", "12121212", "123123123", "12341234", "12344321",
	"12345678", "123456789", "1234567890", "123456789a", "1234qwer", "123qweasd",
	"147258369", "1q2w3e4r", "1q2w3e4r5t", "1qaz2wsx", "1qazxsw2", "22222222", "55555555",
	"66666666", "77777777", "87654321", "88888888", "987654321", "99999999", "aa123456",
	"aaaaaaaa", "abc12345", "abcd1234", "abcdefgh", "admin123", "admin1234", "administrator",
	"asdf1234", "asdfasdf", "asdfghjk", "asdfghjkl", "baseball", "basketball", "changeme",
	"charlie1", "computer", "corvette", "dragon12", "elephant", "football", "freedom1",
	"g_czechout", "iloveyou", "iloveyou1", "jennifer", "jordan23", "letmein1", "liverpool",
	"login123", "master12", "michelle", "mustang1", "nicole12", "ottbox123", "ottboxadmin",
	"passw0rd", "password", "password!", "password1", "password12", "password123",
	"princess", "q1w2e3r4", "q1w2e3r4t5", "qazwsxedc", "qwer1234", "qwerty12", "qwerty123",
	"qwertyui", "qwertyuiop", "root1234", "secret12", "shadow12", "starwars", "sunshine",
	"superman", "test1234", "trustno1", "welcome1", "welcome123", "whatever", "zaq12wsx",
	"zxcvbnm1", "zxcvbnmm",
};

bool ob_access_password_is_common(const char *password)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(common_passwords); i++)
		if (strcasecmp(password, common_passwords[i]) == 0)
			return true;
	return false;
}

int ob_access_password_policy(const char *password, const char *user_name, char *err,
			      size_t err_len)
{
	long chars = ob_utf8_chars(password);

	if (chars < 0) {
		snprintf(err, err_len, "password: must be valid UTF-8 text without control characters");
		return OB_EINVAL;
	}
	if (chars < OB_PASSWORD_MIN_CHARS || chars > OB_PASSWORD_MAX_CHARS) {
		snprintf(err, err_len, "password: must be %d to %d characters long, got %ld",
			 OB_PASSWORD_MIN_CHARS, OB_PASSWORD_MAX_CHARS, chars);
		return OB_EINVAL;
	}
	if (ob_access_password_is_common(password)) {
		snprintf(err, err_len,
			 "password: is one of the most common passwords; choose another (a few "
			 "unrelated words make a good one)");
		return OB_EINVAL;
	}
	if (user_name && strcasecmp(password, user_name) == 0) {
		snprintf(err, err_len, "password: must not be the user name");
		return OB_EINVAL;
	}
	return 0;
}

int ob_access_password_hash(const char *password, char *out, size_t out_len)
{
	unsigned char salt[ARGON2_SALT_BYTES];
	size_t need = argon2_encodedlen(ARGON2_PASSES, ARGON2_MEMORY_KIB, ARGON2_LANES,
					ARGON2_SALT_BYTES, ARGON2_HASH_BYTES, Argon2_id);
	int ret = OB_EIO;

	if (out_len < need)
		return OB_ETOOBIG;
	if (ob_random_bytes(salt, sizeof(salt)) != 0)
		return OB_EIO;
	if (argon2id_hash_encoded(ARGON2_PASSES, ARGON2_MEMORY_KIB, ARGON2_LANES, password,
				  strlen(password), salt, sizeof(salt), ARGON2_HASH_BYTES, out,
				  out_len) == ARGON2_OK)
		ret = 0;
	ob_secure_zero(salt, sizeof(salt));
	return ret;
}

int ob_access_password_verify(const char *encoded, const char *password)
{
	int rc;

	if (strncmp(encoded, "$argon2id$", 10) != 0)
		return OB_EINVAL;
	rc = argon2id_verify(encoded, password, strlen(password));
	if (rc == ARGON2_OK)
		return 0;
	if (rc == ARGON2_VERIFY_MISMATCH)
		return OB_EAUTH;
	return OB_EINVAL;
}

void ob_access_password_burn(const char *password)
{
	static const unsigned char salt[ARGON2_SALT_BYTES] = "ottbox-burn-salt";
	unsigned char hash[ARGON2_HASH_BYTES];

	argon2id_hash_raw(ARGON2_PASSES, ARGON2_MEMORY_KIB, ARGON2_LANES, password,
			  strlen(password), salt, sizeof(salt), hash, sizeof(hash));
	ob_secure_zero(hash, sizeof(hash));
}

int ob_access_password_generate(char *out, size_t out_len)
{
	/* 54 symbols without 0/O, 1/l/I: easy to read from a console and type. */
	static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	const size_t n = 20;
	const size_t symbols = sizeof(alphabet) - 1;
	size_t i = 0;

	if (out_len < n + 1)
		return OB_ETOOBIG;
	while (i < n) {
		unsigned char raw[32];

		if (ob_random_bytes(raw, sizeof(raw)) != 0)
			return OB_EIO;
		/* Rejection sampling keeps every symbol equally likely. */
		for (size_t k = 0; k < sizeof(raw) && i < n; k++)
			if (raw[k] < 256 / symbols * symbols)
				out[i++] = alphabet[raw[k] % symbols];
		ob_secure_zero(raw, sizeof(raw));
	}
	out[n] = '\0';
	return 0;
}
