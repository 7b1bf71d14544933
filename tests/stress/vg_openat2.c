// SPDX-License-Identifier: Apache-2.0
/*
 * LD_PRELOAD shim for scripts/valgrind only: valgrind 3.19 (Debian 12)
 * does not know openat2(2) and fails it with ENOSYS, which the daemons
 * (rightly) treat as an error. This wraps glibc's syscall() and emulates
 * SYS_openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS as a walk of
 * openat(O_NOFOLLOW) calls; every other call goes to the real syscall().
 * It is not a secure replacement (the walk is not atomic): the memcheck
 * run checks memory, the normal suite checks confinement.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef long (*syscall_fn)(long, ...);

/* Open one component below DFD; a symlink is ELOOP, as openat2 says. */
static int step(int dfd, const char *name, int flags, mode_t mode,
		unsigned long long resolve)
{
	struct stat st;

	if (!strcmp(name, ".."))
		return errno = EXDEV, -1;
	if ((resolve & RESOLVE_NO_SYMLINKS) &&
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return errno = ELOOP, -1;
	return openat(dfd, name, flags | O_NOFOLLOW, mode);
}

static long emulate_openat2(int dirfd, const char *path,
			    const struct open_how *how)
{
	char buf[4096], *p, *slash;
	int cur = dirfd, next, e;

	if (!path || path[0] == '/')
		return errno = EXDEV, -1;
	if (strlen(path) >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	strcpy(buf, path);
	for (p = buf; (slash = strchr(p, '/')); p = slash + 1) {
		*slash = '\0';
		if (!*p || !strcmp(p, "."))
			continue;
		next = step(cur, p, O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
			    how->resolve);
		e = errno;
		if (cur != dirfd)
			close(cur);
		if (next < 0)
			return errno = e, -1;
		cur = next;
	}
	next =
	    *p ? step(cur, p, (int)how->flags, (mode_t)how->mode, how->resolve)
	       : openat(cur, ".", (int)how->flags, (mode_t)how->mode);
	e = errno;
	if (cur != dirfd)
		close(cur);
	errno = e;
	return next;
}

long syscall(long nr, ...)
{
	static syscall_fn real;
	long a[6];
	va_list ap;

	va_start(ap, nr);
	for (int k = 0; k < 6; k++)
		a[k] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_openat2)
		return emulate_openat2((int)a[0], (const char *)a[1],
				       (const struct open_how *)a[2]);
	if (!real)
		real = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
