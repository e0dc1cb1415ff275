/* Fuzzes the credential parsers: presented API keys, new passwords (UTF-8 counting and the
 * policy) and user names. */
#include <stdint.h>
#include <string.h>

#include "access/access.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[512];
	char id[17];
	unsigned char sha[32];
	char err[256];

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ob_access_apikey_parse(text, id, sha);
	ob_access_password_policy(text, "admin", err, sizeof(err));
	ob_store_user_name_check(text, err, sizeof(err));
	return 0;
}
