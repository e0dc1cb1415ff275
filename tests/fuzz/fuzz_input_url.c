/* Fuzzes the input URL checks every channel's source goes through. */
#include <stdint.h>
#include <string.h>

#include "engine/engine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char url[2048];
	char err[512];

	if (size >= sizeof(url))
		return 0;
	memcpy(url, data, size);
	url[size] = '\0';
	ob_engine_input_url_check(url, "input.url", err, sizeof(err));
	return 0;
}
