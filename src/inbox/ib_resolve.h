/* SPDX-License-Identifier: Apache-2.0 */
/* The inbox's only way into BACKING: openat2 confined beneath its root. */
#ifndef SIGNETFS_INBOX_IB_RESOLVE_H
#define SIGNETFS_INBOX_IB_RESOLVE_H

#include <sys/stat.h>

/*
 * Paths are mount-relative as served, the writers' (signetfs/layout.h):
 * each component is turned into the name BACKING stores here, so no path
 * the inbox is asked for reaches a signature slot except through
 * inbox_open_sig(). A path that cannot be stored is -ENOENT.
 *
 * Open PATH ("" is the root) beneath rootfd without following any symlink
 * or magic link. flags as for openat(2); O_NOFOLLOW and O_CLOEXEC are
 * added. Returns an fd or -errno.
 */
int inbox_open_beneath(int rootfd, const char *path, int flags);

/* lstat-like: an O_PATH open beneath rootfd and fstat. 0 or -errno. */
int inbox_stat_beneath(int rootfd, const char *path, struct stat *st);

/*
 * Open a regular file for reading: O_NONBLOCK so a FIFO or device swapped
 * in never blocks us, then fstat; anything but a regular file is -ENOENT.
 */
int inbox_open_regular(int rootfd, const char *path, struct stat *st);

/* The same two for the signature of the file at PATH: its slot NAME.sig. */
int inbox_stat_sig(int rootfd, const char *path, struct stat *st);
int inbox_open_sig(int rootfd, const char *path, struct stat *st);

#endif
