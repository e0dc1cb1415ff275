#include <string.h>

#include "access/access.h"
#include "core/err.h"
#include "core/util.h"

static const struct {
	const char *name;
	unsigned perms;
} roles[] = {
	{ "viewer", OB_PERM_READ },
	{ "issuer", OB_PERM_ISSUE },
	{ "operator", OB_PERM_READ | OB_PERM_OPERATE | OB_PERM_ISSUE },
	/* A fleet manager's key: runs channels and the box's cloud side, not its users. */
	{ "fleet", OB_PERM_READ | OB_PERM_OPERATE | OB_PERM_ISSUE | OB_PERM_FLEET },
	{ "admin",
	  OB_PERM_READ | OB_PERM_OPERATE | OB_PERM_ISSUE | OB_PERM_FLEET | OB_PERM_ADMIN },
};

int ob_access_role_perms(const char *role, unsigned *perms)
{
	for (size_t i = 0; i < OB_ARRAY_SIZE(roles); i++) {
		if (strcmp(roles[i].name, role) == 0) {
			*perms = roles[i].perms;
			return 0;
		}
	}
	return OB_EINVAL;
}

const char *ob_access_role_names(void)
{
	return "viewer, issuer, operator, fleet, admin";
}
