#include "core/err.h"

#include <stddef.h>

static const struct {
	int code;
	const char *name;
	const char *text;
} err_table[] = {
	{ OB_OK, "ok", "success" },
	{ OB_EINVAL, "invalid", "invalid value" },
	{ OB_ENOMEM, "no_memory", "out of memory" },
	{ OB_EIO, "io_error", "input/output error" },
	{ OB_ENOTFOUND, "not_found", "not found" },
	{ OB_EEXIST, "exists", "already exists" },
	{ OB_EAUTH, "unauthenticated", "authentication required or failed" },
	{ OB_EPERM, "forbidden", "not allowed" },
	{ OB_ECORRUPT, "corrupt", "stored data is corrupt" },
	{ OB_EBUSY, "busy", "busy, try again later" },
	{ OB_ETOOBIG, "too_large", "too large" },
	{ OB_ECONFLICT, "conflict", "conflicts with the current state" },
	{ OB_EUNSUPPORTED, "unsupported", "not supported on this box" },
	{ OB_EINTERNAL, "internal", "internal error" },
};

static size_t err_index(int err)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return i;
	return sizeof(err_table) / sizeof(err_table[0]) - 1; /* internal */
}

const char *ob_strerror(int err)
{
	return err_table[err_index(err)].text;
}

const char *ob_errname(int err)
{
	return err_table[err_index(err)].name;
}
