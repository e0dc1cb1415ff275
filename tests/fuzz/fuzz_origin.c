/* Fuzzes the playback origin's request parsing: "PATH\nRANGE" from the network, checking
 * that an accepted path names a file inside its channel's directory and that a range lies
 * inside the file. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"
#include "core/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_file(const struct ob_origin_file *file)
{
	const char *slash = strchr(file->name, '/');

	if (!ob_is_slug(file->channel, OB_ORIGIN_CHANNEL_MAX) || file->name[0] == '.' ||
	    strstr(file->name, "..") || (slash && (slash[1] == '.' || strchr(slash + 1, '/'))) ||
	    !file->mime || !file->cache_control)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[1024];
	char err[512];
	struct ob_origin_file file;
	char *newline;
	uint64_t first = 0;
	uint64_t last = 0;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	newline = strchr(text, '\n');
	if (newline)
		*newline = '\0';
	if (ob_api_origin_parse_path(text, &file, err, sizeof(err)) == 0)
		check_file(&file);
	if (newline) {
		uint64_t file_size = size * 7919u % 5000u;

		if (ob_api_origin_range(newline + 1, file_size, &first, &last) ==
			    OB_ORIGIN_RANGE_PARTIAL &&
		    (first > last || last >= file_size))
			abort();
	}
	return 0;
}
