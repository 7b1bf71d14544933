// SPDX-License-Identifier: Apache-2.0
/*
 * The refusing native baseline of scripts/pjdfstest (LD_PRELOAD): symlink,
 * link, mknod, mkfifo and bind of a unix socket fail with EPERM, as the
 * outbox refuses them by design (docs/outbox.md, "Names and node types").
 * Preloaded into the whole test run (prove, the shell, the pjdfstest
 * binary, `ln -s` in a test script), so every process sees the refusals.
 *
 * The outbox refuses in its FUSE handler, which the kernel calls only
 * after its own checks (lookup of the parent: ENOENT, ENOTDIR,
 * ENAMETOOLONG, ELOOP; EEXIST; EACCES of the directory; EXDEV...). To
 * refuse at the same point, the call is made for real: an error is passed
 * on unchanged, a success is undone (the new name is removed) and reported
 * as EPERM. Two differences remain (scripts/pjdfstest lists the tests they
 * touch by hand): the real call and its undo change the parent
 * directory's mtime and ctime (and link the source's ctime), which a
 * refused call on the outbox does not; and an error that a native
 * filesystem raises in its own handler (ext4: a symlink target longer
 * than a block) is EPERM on the outbox.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define REAL(name, ...)                                                        \
	({                                                                     \
		static __typeof__(name) *real;                                 \
		if (!real)                                                     \
			real = (__typeof__(name) *)dlsym(RTLD_NEXT, #name);    \
		real ? real(__VA_ARGS__) : (errno = ENOSYS, -1);               \
	})

/* rc is the real call's result: an error stays, a success becomes EPERM. */
static int refused(int rc, int dfd, const char *path)
{
	if (rc != 0)
		return rc;
	if (unlinkat(dfd, path, 0) != 0)
		return -1; /* cannot undo: errno says why, the test fails */
	errno = EPERM;
	return -1;
}

int symlink(const char *target, const char *path)
{
	return refused(REAL(symlink, target, path), AT_FDCWD, path);
}

int symlinkat(const char *target, int dfd, const char *path)
{
	return refused(REAL(symlinkat, target, dfd, path), dfd, path);
}

int link(const char *old, const char *new)
{
	return refused(REAL(link, old, new), AT_FDCWD, new);
}

int linkat(int ofd, const char *old, int nfd, const char *new, int fl)
{
	return refused(REAL(linkat, ofd, old, nfd, new, fl), nfd, new);
}

int mkfifo(const char *path, mode_t mode)
{
	return refused(REAL(mkfifo, path, mode), AT_FDCWD, path);
}

int mkfifoat(int dfd, const char *path, mode_t mode)
{
	return refused(REAL(mkfifoat, dfd, path, mode), dfd, path);
}

/* The outbox refuses every mknod, regular files included (pjdfstest makes
 * none that way). */
int mknod(const char *path, mode_t mode, dev_t dev)
{
	return refused(REAL(mknod, path, mode, dev), AT_FDCWD, path);
}

int mknodat(int dfd, const char *path, mode_t mode, dev_t dev)
{
	return refused(REAL(mknodat, dfd, path, mode, dev), dfd, path);
}

/* bind(2) of a unix socket makes its node through the filesystem's mknod
 * (S_IFSOCK), which the outbox refuses too. */
int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	int rc = REAL(bind, fd, sa, len);

	if (rc != 0 || sa->sa_family != AF_UNIX || len <= sizeof(sa_family_t) ||
	    sun->sun_path[0] == '\0')
		return rc;
	return refused(rc, AT_FDCWD, sun->sun_path);
}
