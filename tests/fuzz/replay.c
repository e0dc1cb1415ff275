/* Replay driver for the libFuzzer harnesses when they are built without libFuzzer (gcc, in
 * `make test`): runs every file of the corpus directories given, then a fixed set of
 * pseudo-random mutations of each, so the harness sees more than its seeds. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REPLAY_MAX_INPUT (1 << 20)
#define MUTATIONS 200

static uint32_t next_random(uint32_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

static void run_with_mutations(uint8_t *buf, size_t size, uint32_t *seed)
{
	uint8_t *copy = malloc(size + 16);

	LLVMFuzzerTestOneInput(buf, size);
	if (!copy)
		return;
	for (int m = 0; m < MUTATIONS; m++) {
		size_t len = size;

		memcpy(copy, buf, size);
		switch (next_random(seed) % 4) {
		case 0: /* flip a byte */
			if (len)
				copy[next_random(seed) % len] ^= (uint8_t)(1u << (next_random(seed) % 8));
			break;
		case 1: /* truncate */
			len = len ? next_random(seed) % len : 0;
			break;
		case 2: /* insert an interesting byte */
			if (len < size + 16) {
				static const uint8_t bytes[] = { 0, '"', '\\', '{', '}', '/', 0xff, 0xc3 };
				size_t at = len ? next_random(seed) % len : 0;

				memmove(copy + at + 1, copy + at, len - at);
				copy[at] = bytes[next_random(seed) % sizeof(bytes)];
				len++;
			}
			break;
		default: /* overwrite with a random byte */
			if (len)
				copy[next_random(seed) % len] = (uint8_t)next_random(seed);
		}
		LLVMFuzzerTestOneInput(copy, len);
	}
	free(copy);
}

int main(int argc, char **argv)
{
	uint8_t *buf = malloc(REPLAY_MAX_INPUT);
	uint32_t seed = 0x6f74746fu;
	int files = 0;

	if (!buf)
		return 1;
	for (int i = 1; i < argc; i++) {
		DIR *dir = opendir(argv[i]);
		struct dirent *entry;

		if (!dir) {
			fprintf(stderr, "replay: cannot open %s\n", argv[i]);
			free(buf);
			return 1;
		}
		while ((entry = readdir(dir))) {
			char path[4096];
			FILE *f;
			size_t size;

			if (entry->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], entry->d_name);
			f = fopen(path, "rb");
			if (!f)
				continue;
			size = fread(buf, 1, REPLAY_MAX_INPUT, f);
			fclose(f);
			run_with_mutations(buf, size, &seed);
			files++;
		}
		closedir(dir);
	}
	free(buf);
	printf("replay: %d inputs, %d mutations each, no crash\n", files, MUTATIONS);
	return files > 0 ? 0 : 1;
}
