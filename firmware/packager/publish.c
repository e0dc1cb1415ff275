#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "core/err.h"
#include "core/util.h"
#include "packager/packager.h"

int ob_pkg_publish(const char *dir, const char *name, const void *data, size_t len)
{
	char tmp[PATH_MAX];
	char path[PATH_MAX];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name) >= (int)sizeof(tmp) ||
	    snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return OB_EINVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return OB_EIO;
	if (ob_write_all(fd, data, len) != 0)
		goto fail_unlink;
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
