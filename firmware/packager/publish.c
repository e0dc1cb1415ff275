#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "core/err.h"
#include "packager/packager.h"

int ob_pkg_publish(const char *dir, const char *name, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	char path[PATH_MAX];
	const char *p = data;
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return OB_EINVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return OB_EIO;
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail_unlink;
		p += n;
		len -= (size_t)n;
	}
	if (close(fd) != 0) {
		fd = -1;
		goto fail_unlink;
	}
	if (rename(tmp, path) != 0) {
		fd = -1;
		goto fail_unlink;
	}
	return 0;

fail_unlink:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return OB_EIO;
}
