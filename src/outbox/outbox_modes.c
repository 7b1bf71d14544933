// SPDX-License-Identifier: Apache-2.0
/*
 * Strict modes (as OpenSSH's StrictModes): the outbox signs what reaches
 * BACKING, so nobody but the daemon's user may be able to write there
 * without passing through the mount.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outbox.h"

static int refuse(struct sfs_error *err, const char *what)
{
	sfs_error_set(err, -EPERM, SFS_EXIT_USAGE,
		      "%s; set [outbox] strict-modes = no to mount anyway "
		      "(docs/threat-model.md)",
		      what);
	return -EPERM;
}

/*
 * One directory from BACKING up to /: owned by root or the daemon's user,
 * and writable by nobody else. An ancestor may be world-writable when it
 * is root's and sticky (/tmp): nobody else can rename or remove what is
 * in it. Sets *private when group and others cannot even enter it.
 */
static int check_dir(const char *dir, bool is_backing, uid_t me, bool *private,
		     struct sfs_error *err)
{
	char what[PATH_MAX + 96];
	struct stat st;

	if (lstat(dir, &st) < 0) {
		sfs_error_set(err, -errno, SFS_EXIT_USAGE, "%s: %s", dir,
			      strerror(errno));
		return -errno;
	}
	if (st.st_uid != 0 && st.st_uid != me) {
		snprintf(what, sizeof(what),
			 "%s is owned by uid %u, neither "
			 "root nor the daemon's user",
			 dir, (unsigned)st.st_uid);
		return refuse(err, what);
	}
	if ((st.st_mode & 022) &&
	    (is_backing || !(st.st_mode & S_ISVTX) || st.st_uid != 0)) {
		snprintf(what, sizeof(what),
			 "%s is writable by group or "
			 "others (mode %04o)",
			 dir, (unsigned)(st.st_mode & 07777));
		return refuse(err, what);
	}
	if (!(st.st_mode & 011))
		*private = true;
	return 0;
}

int ob_check_backing_modes(const char *backing, struct sfs_error *err)
{
	char *path = realpath(backing, NULL), *slash, what[PATH_MAX + 160];
	bool private = false;
	uid_t me = geteuid();
	int ret = 0;

	if (!path) {
		sfs_error_set(err, -errno, SFS_EXIT_USAGE, "%s: %s", backing,
			      strerror(errno));
		return -errno;
	}
	snprintf(what, sizeof(what),
		 "other users can reach %s: put it below "
		 "a directory only the daemon's user can enter, or make it "
		 "one (e.g. chmod 0700 it or its parent)",
		 path);
	for (bool first = true;; first = false) {
		ret = check_dir(*path ? path : "/", first, me, &private, err);
		if (ret || !*path || !strcmp(path, "/"))
			break;
		slash = strrchr(path, '/');
		*slash = '\0';
	}
	/*
	 * Directories below BACKING belong to the writers who made them
	 * through the mount: only a directory on the way that group and
	 * others cannot enter keeps them from writing there directly.
	 */
	if (ret == 0 && !private)
		ret = refuse(err, what);
	free(path);
	return ret;
}
