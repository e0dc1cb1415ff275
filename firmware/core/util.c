#include "core/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

int64_t ob_time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ob_time_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ob_time_iso8601(int64_t wall_ms, char *out, size_t out_len)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	char base[24];

	gmtime_r(&secs, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, out_len, "%s.%03dZ", base, (int)(wall_ms % 1000));
}

int ob_time_parse_iso8601(const char *text, int64_t *wall_ms)
{
	struct tm tm = { 0 };
	const char *end;
	int offset_s = 0;

	if (!text || strlen(text) > 40)
		return OB_EINVAL;
	end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || !isdigit((unsigned char)text[0]))
		return OB_EINVAL;
	if (*end == '.') {
		size_t digits = strspn(end + 1, "0123456789");

		if (digits == 0)
			return OB_EINVAL;
		end += 1 + digits;
	}
	if (strcmp(end, "Z") == 0 || strcmp(end, "z") == 0) {
		offset_s = 0;
	} else if ((end[0] == '+' || end[0] == '-') && isdigit((unsigned char)end[1]) &&
		   isdigit((unsigned char)end[2]) && end[3] == ':' &&
		   isdigit((unsigned char)end[4]) && isdigit((unsigned char)end[5]) && !end[6]) {
		int hours = (end[1] - '0') * 10 + (end[2] - '0');
		int minutes = (end[4] - '0') * 10 + (end[5] - '0');

		if (hours > 23 || minutes > 59)
			return OB_EINVAL;
		offset_s = (hours * 60 + minutes) * 60 * (end[0] == '-' ? -1 : 1);
	} else {
		return OB_EINVAL;
	}
	*wall_ms = ((int64_t)timegm(&tm) - offset_s) * 1000;
	return 0;
}

void ob_hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int ob_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int ob_hex_decode(const char *in, unsigned char *out, size_t out_len)
{
	for (size_t i = 0; i < out_len; i++) {
		int hi, lo;

		if (!in[2 * i] || !in[2 * i + 1])
			return OB_EINVAL;
		hi = ob_hex_digit(in[2 * i]);
		lo = ob_hex_digit(in[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return OB_EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return in[2 * out_len] == '\0' ? 0 : OB_EINVAL;
}

size_t ob_base64url_len(size_t len)
{
	return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

void ob_base64url_encode(const unsigned char *in, size_t len, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0;
	size_t i = 0;

	for (; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
		out[o++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = alphabet[v >> 18 & 63];
		out[o++] = alphabet[v >> 12 & 63];
		out[o++] = alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
}

bool ob_ct_equal(const void *a, const void *b, size_t len)
{
	const volatile unsigned char *pa = a;
	const volatile unsigned char *pb = b;
	unsigned char diff = 0;

	for (size_t i = 0; i < len; i++)
		diff |= pa[i] ^ pb[i];
	return diff == 0;
}

void ob_secure_zero(void *buf, size_t len)
{
	volatile unsigned char *p = buf;

	while (len--)
		*p++ = 0;
}

int ob_mkdir_p(const char *dir, mode_t mode)
{
	char path[PATH_MAX];

	if (ob_strlcpy(path, dir, sizeof(path)) != 0)
		return OB_EINVAL;
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, mode) != 0 && errno != EEXIST)
			return OB_EIO;
		*p = '/';
	}
	if (mkdir(path, mode) != 0 && errno != EEXIST)
		return OB_EIO;
	return 0;
}

static int fsync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	char *slash;
	int fd;
	int ret = 0;

	if (ob_strlcpy(dir, path, sizeof(dir)) != 0)
		return OB_EINVAL;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return OB_EIO;
	if (fsync(fd) != 0)
		ret = OB_EIO;
	close(fd);
	return ret;
}

int ob_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int fd;
	int ret = OB_EIO;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return OB_EINVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return OB_EIO;
	if (fchmod(fd, mode) != 0 || ob_write_all(fd, data, len) != 0 || fsync(fd) != 0)
		goto fail_unlink;
	if (close(fd) != 0) {
		fd = -1;
		goto fail_unlink;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail_unlink;
	return fsync_parent_dir(path);

fail_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return ret;
}

int ob_read_file(const char *path, size_t max_len, char **out, size_t *out_len)
{
	FILE *f;
	char *buf = NULL;
	size_t used = 0;
	int ret = 0;

	f = fopen(path, "rbe");
	if (!f)
		return errno == ENOENT ? OB_ENOTFOUND : OB_EIO;
	buf = malloc(max_len + 1);
	if (!buf) {
		ret = OB_ENOMEM;
		goto out_close;
	}
	used = fread(buf, 1, max_len + 1, f);
	if (ferror(f)) {
		ret = OB_EIO;
	} else if (used > max_len) {
		ret = OB_ETOOBIG;
	} else {
		buf[used] = '\0';
		*out = buf;
		if (out_len)
			*out_len = used;
		buf = NULL;
	}
	free(buf);
out_close:
	fclose(f);
	return ret;
}

bool ob_is_slug(const char *text, size_t max_len)
{
	size_t len = strlen(text);

	if (len < 1 || len > max_len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = text[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '-' && c != '_')))
			return false;
	}
	return true;
}

bool ob_str_in_list(const char *const *list, const char *value)
{
	for (; *list; list++)
		if (strcmp(*list, value) == 0)
			return true;
	return false;
}

int ob_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return OB_EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

long ob_utf8_chars(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	long n = 0;

	while (*p) {
		size_t extra;
		unsigned cp;

		if (*p < 0x20 || *p == 0x7f)
			return -1;
		if (*p < 0x80) {
			p++;
			n++;
			continue;
		}
		if ((*p & 0xe0) == 0xc0) {
			extra = 1;
			cp = *p & 0x1f;
		} else if ((*p & 0xf0) == 0xe0) {
			extra = 2;
			cp = *p & 0x0f;
		} else if ((*p & 0xf8) == 0xf0) {
			extra = 3;
			cp = *p & 0x07;
		} else {
			return -1;
		}
		p++;
		for (size_t i = 0; i < extra; i++, p++) {
			if ((*p & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (*p & 0x3f);
		}
		if ((extra == 1 && cp < 0x80) || (extra == 2 && cp < 0x800) ||
		    (extra == 3 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return -1;
		n++;
	}
	return n;
}

int ob_strlcpy(char *dst, const char *src, size_t dst_len)
{
	size_t len = strlen(src);

	if (dst_len == 0)
		return OB_ETOOBIG;
	if (len >= dst_len) {
		memcpy(dst, src, dst_len - 1);
		dst[dst_len - 1] = '\0';
		return OB_ETOOBIG;
	}
	memcpy(dst, src, len + 1);
	return 0;
}
