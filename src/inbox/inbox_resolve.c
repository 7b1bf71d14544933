// SPDX-License-Identifier: Apache-2.0
/* The inbox's only way into BACKING: openat2 confined beneath the root. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "ib_resolve.h"
#include "inbox.h"
#include "signetfs/util.h"

/*
 * sfs_open_beneath(): RESOLVE_BENEATH refuses ".." escapes and absolute
 * symlinks; RESOLVE_NO_SYMLINKS refuses every symlink in any component
 * (BACKING is written by people we do not trust, so even a symlink that
 * stays inside could swap a path for another), RESOLVE_NO_MAGICLINKS the
 * /proc kind.
 */
int inbox_open_beneath(int rootfd, const char *path, int flags)
{
	int fd = sfs_open_beneath(rootfd, path, flags);

	/* A symlink anywhere in the path reads as "not there". */
	if (fd == -ELOOP || fd == -EXDEV || fd == -ENOTDIR)
		return -ENOENT;
	return fd;
}

int inbox_stat_beneath(int rootfd, const char *path, struct stat *st)
{
	int fd = inbox_open_beneath(rootfd, path, O_PATH);
	int ret = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

int inbox_open_regular(int rootfd, const char *path, struct stat *st)
{
	int fd, ret;

	/*
	 * O_PATH first: opening a device or FIFO for reading has effects, so
	 * only a name that is a regular file right now is opened for real.
	 */
	ret = inbox_stat_beneath(rootfd, path, st);
	if (ret)
		return ret;
	if (!S_ISREG(st->st_mode))
		return -ENOENT;
	/* It may have been swapped since: O_NONBLOCK, O_NOCTTY, check again. */
	fd = inbox_open_beneath(rootfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}
