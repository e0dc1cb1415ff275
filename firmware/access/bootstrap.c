#include <stdio.h>
#include <string.h>

#include "access/access.h"
#include "core/err.h"
#include "core/log.h"
#include "core/util.h"
#include "store/store.h"

#define MODULE "access"

int ob_access_bootstrap_admin(struct ob_store *store, const char *data_dir, FILE *console)
{
	struct ob_audit audit = { .actor = "system", .action = "user.bootstrap",
				  .target = OB_BOOTSTRAP_ADMIN };
	struct ob_user user = { 0 };
	char password[32];
	char path[4200];
	bool exists;
	int admins = 0;
	int ret;

	ret = ob_store_user_count_admins(store, &admins);
	if (ret != 0 || admins > 0)
		return ret;
	ret = ob_access_password_generate(password, sizeof(password));
	if (ret != 0)
		return ret;
	exists = ob_store_user_get(store, OB_BOOTSTRAP_ADMIN, &user) == 0;
	ob_strlcpy(user.name, OB_BOOTSTRAP_ADMIN, sizeof(user.name));
	ob_strlcpy(user.role, "admin", sizeof(user.role));
	user.disabled = false;
	user.must_change_password = true;
	ret = ob_access_password_hash(password, user.password_hash, sizeof(user.password_hash));
	if (ret != 0)
		goto out;
	ret = exists ? ob_store_user_update(store, &user, &audit)
		     : ob_store_user_create(store, &user, &audit);
	if (ret != 0) {
		ob_error(MODULE, "the first admin user could not be created: %s", ob_strerror(ret));
		goto out;
	}
	snprintf(path, sizeof(path), "%s/%s", data_dir, OB_INITIAL_PASSWORD_FILE);
	{
		char line[64];
		int len = snprintf(line, sizeof(line), "%s\n", password);

		ret = ob_write_file_atomic(path, line, (size_t)len, 0600);
		ob_secure_zero(line, sizeof(line));
	}
	if (ret != 0)
		ob_warn(MODULE, "%s could not be written; the password is only on the console", path);
	ob_info(MODULE, "no admin user existed: created \"%s\" with a one-time password (in %s)",
		OB_BOOTSTRAP_ADMIN, path);
	/* The one place a secret is shown: once, on the console of the person who started the
	 * box, never through the log. */
	fprintf(console,
		"\n"
		"  ottbox first start: log in as \"%s\" with the one-time password\n"
		"\n"
		"      %s\n"
		"\n"
		"  (also in %s, readable by this user only; it must be changed at first login)\n"
		"\n",
		OB_BOOTSTRAP_ADMIN, password, path);
	fflush(console);
	ret = 0;
out:
	ob_secure_zero(password, sizeof(password));
	ob_secure_zero(&user, sizeof(user));
	return ret;
}
