/* Fuzzes request routing: "METHOD PATH" from the network against the route table. */
#include <stdint.h>
#include <string.h>

#include "api/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[1024];
	char params[OB_ROUTE_PARAMS_MAX][OB_ROUTE_PARAM_LEN];
	char allow[64];
	char *space;
	int status = 0;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	space = strchr(text, ' ');
	if (!space)
		return 0;
	*space = '\0';
	ob_api_route_match(text, space + 1, params, &status, allow, sizeof(allow));
	return 0;
}
