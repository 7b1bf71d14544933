// SPDX-License-Identifier: Apache-2.0
/* The inbox's only way into BACKING: openat2 confined beneath the root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "ib_resolve.h"
#include "inbox.h"
#include "signetfs/layout.h"
#include "signetfs/util.h"

/* PATH as BACKING stores it, or its signature slot (sig); -ENOENT. */
static int backing_path(const char *path, bool sig, char *out)
{
	size_t len, n = sizeof(SFS_SIG_SUFFIX) - 1;
	int ret;

	if (sig)
		ret = sfs_path_to_slot(path, strlen(path), out, PATH_MAX, &len);
	else
		ret = sfs_path_to_backing(path, strlen(path), out, PATH_MAX - n,
					  &len);
	return ret ? -ENOENT : 0;
}

/*
 * sfs_open_beneath(): RESOLVE_BENEATH refuses ".." escapes and absolute
 * symlinks; RESOLVE_NO_SYMLINKS refuses every symlink in any component
 * (BACKING is written by people we do not trust, so even a symlink that
 * stays inside could swap a path for another), RESOLVE_NO_MAGICLINKS the
 * /proc kind.
 */
static int open_raw(int rootfd, const char *bpath, int flags)
{
	int fd = sfs_open_beneath(rootfd, bpath, flags);

	/* A symlink anywhere in the path reads as "not there". */
	if (fd == -ELOOP || fd == -EXDEV || fd == -ENOTDIR)
		return -ENOENT;
	return fd;
}

static int stat_raw(int rootfd, const char *bpath, struct stat *st)
{
	int fd = open_raw(rootfd, bpath, O_PATH);
	int ret = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, st) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

static int open_regular_raw(int rootfd, const char *bpath, struct stat *st)
{
	int fd, ret;

	/*
	 * O_PATH first: opening a device or FIFO for reading has effects, so
	 * only a name that is a regular file right now is opened for real.
	 */
	ret = stat_raw(rootfd, bpath, st);
	if (ret)
		return ret;
	if (!S_ISREG(st->st_mode))
		return -ENOENT;
	/* It may have been swapped since: O_NONBLOCK, O_NOCTTY, check again. */
	fd = open_raw(rootfd, bpath, O_RDONLY | O_NONBLOCK | O_NOCTTY);
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

int inbox_open_beneath(int rootfd, const char *path, int flags)
{
	char b[PATH_MAX];
	int ret = backing_path(path, false, b);

	return ret ? ret : open_raw(rootfd, b, flags);
}

int inbox_stat_beneath(int rootfd, const char *path, struct stat *st)
{
	char b[PATH_MAX];
	int ret = backing_path(path, false, b);

	return ret ? ret : stat_raw(rootfd, b, st);
}

int inbox_open_regular(int rootfd, const char *path, struct stat *st)
{
	char b[PATH_MAX];
	int ret = backing_path(path, false, b);

	return ret ? ret : open_regular_raw(rootfd, b, st);
}

int inbox_stat_sig(int rootfd, const char *path, struct stat *st)
{
	char b[PATH_MAX];
	int ret = backing_path(path, true, b);

	return ret ? ret : stat_raw(rootfd, b, st);
}

int inbox_open_sig(int rootfd, const char *path, struct stat *st)
{
	char b[PATH_MAX];
	int ret = backing_path(path, true, b);

	return ret ? ret : open_regular_raw(rootfd, b, st);
}
