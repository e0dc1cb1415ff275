#include "api/internal.h"
#include "core/err.h"

int ob_api_status_for(int err)
{
	switch (err) {
	case OB_OK:
		return 200;
	case OB_EINVAL:
		return 400;
	case OB_EAUTH:
		return 401;
	case OB_EPERM:
		return 403;
	case OB_ENOTFOUND:
		return 404;
	case OB_EEXIST:
	case OB_ECONFLICT:
		return 409;
	case OB_ETOOBIG:
		return 413;
	case OB_EBUSY:
		return 429;
	case OB_EUNSUPPORTED:
		return 501;
	case OB_EIO:
	case OB_ECORRUPT:
		return 503;
	default:
		return 500;
	}
}

json_t *ob_api_error_body(const char *code, const char *message)
{
	return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}
