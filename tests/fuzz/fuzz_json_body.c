/* Fuzzes what every API request body goes through: parsing as a JSON object, the field
 * checks of the user and API-key endpoints, the settings, ladder and channel validation. */
#include <stdint.h>
#include <stdlib.h>

#include "core/json.h"
#include "engine/engine.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct ob_json_field user_fields[] = {
	{ "name", OB_JSON_STRING, true },
	{ "role", OB_JSON_STRING, true },
	{ "password", OB_JSON_STRING, true },
	{ "must_change_password", OB_JSON_BOOLEAN, false },
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	json_t *body = ob_json_parse_object((const char *)data, size, err, sizeof(err));
	json_t *current;

	if (!body)
		return 0;
	ob_json_check_fields(body, user_fields, 4, "", err, sizeof(err));
	ob_store_settings_validate(body, NULL, err, sizeof(err));
	current = json_pack("{s:i, s:i}", "session_idle_timeout_s", 1800,
			    "session_absolute_timeout_s", 43200);
	ob_store_settings_validate(body, current, err, sizeof(err));
	if (ob_engine_ladder_validate(body, err, sizeof(err)) == 0)
		ob_engine_ladder_fill_defaults(body);
	else if (ob_engine_channel_validate(body, err, sizeof(err)) == 0)
		ob_engine_channel_fill_defaults(body);
	json_decref(current);
	json_decref(body);
	return 0;
}
