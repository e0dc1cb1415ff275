#include <ctype.h>
#include <string.h>

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

/* Length of the field path a validation message starts with ("rungs[2].width: ..."), or 0
 * when it starts with none. Checkers name the field first, then say what to change. */
static size_t field_prefix(const char *message)
{
	size_t n = 0;

	if (!islower((unsigned char)message[0]) && message[0] != '_')
		return 0;
	while (islower((unsigned char)message[n]) || isdigit((unsigned char)message[n]) ||
	       (message[n] && strchr("_.-[]", message[n])))
		n++;
	return n <= 64 && message[n] == ':' && message[n + 1] == ' ' ? n : 0;
}

json_t *ob_api_error_body(const char *code, const char *message)
{
	json_t *body = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
	size_t field = field_prefix(message);

	if (field)
		json_object_set_new(json_object_get(body, "error"), "field",
				    json_stringn(message, field));
	return body;
}
