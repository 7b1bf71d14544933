// SPDX-License-Identifier: Apache-2.0
/* Whole reads and writes, atomic replacement, path rules, hex. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "signetfs/layout.h"
#include "signetfs/util.h"

static __thread pid_t cached_tid;

/* A forked child's only thread has a new id; it inherits the cache. */
static void forget_tid(void)
{
	cached_tid = 0;
}

__attribute__((constructor)) static void tid_cache_init(void)
{
	pthread_atfork(NULL, NULL, forget_tid);
}

pid_t sfs_gettid(void)
{
	if (!cached_tid)
		cached_tid = gettid();
	return cached_tid;
}

void sfs_error_set(struct sfs_error *err, int code, enum sfs_exit ex,
		   const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	err->code = code;
	err->exit = ex;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

int sfs_full_pread(int fd, void *buf, size_t len, off_t off, size_t *got)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
				  off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	if (got)
		*got = done;
	return 0;
}

int sfs_full_write(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

int sfs_open_regular_at(int dirfd, const char *path, int flags, struct stat *st)
{
	char proc[32];
	int pfd, fd;

	/*
	 * O_PATH first: opening a FIFO blocks and opening a device has
	 * effects, so only what is a regular file now is opened for real,
	 * through that very inode (/proc/self/fd), never the name again.
	 */
	pfd = openat(dirfd, path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	fd = fstat(pfd, st) < 0 ? -errno : S_ISREG(st->st_mode) ? 0 : -EINVAL;
	if (fd < 0) {
		close(pfd);
		return fd;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", pfd);
	fd = open(proc, (flags & ~(O_CREAT | O_TRUNC | O_DIRECTORY)) |
			    O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close(pfd);
	return fd;
}

int sfs_read_file_at(int dirfd, const char *path, size_t max, uint8_t **buf,
		     size_t *len)
{
	struct stat st;
	uint8_t *p = NULL;
	size_t got = 0;
	int fd, ret;

	fd = sfs_open_regular_at(dirfd, path, O_RDONLY, &st);
	if (fd < 0)
		return fd;
	if ((uint64_t)st.st_size > max) {
		ret = -EFBIG;
		goto out;
	}
	/* One byte more than the size, to notice a file that grew. */
	p = malloc((size_t)st.st_size + 1);
	if (!p) {
		ret = -ENOMEM;
		goto out;
	}
	ret = sfs_full_pread(fd, p, (size_t)st.st_size + 1, 0, &got);
	if (ret == 0 && got > max)
		ret = -EFBIG;
	if (ret == 0) {
		*buf = p;
		*len = got;
		p = NULL; /* transferred */
	}
out:
	free(p);
	close(fd);
	return ret;
}

/*
 * Temp files are named ".sfs-tmp-XXXXXXXXXXXX.sig.sig" whatever NAME is:
 * a fixed length, so a NAME of NAME_MAX bytes has one too, and a slot of a
 * slot (docs/signature-format.md): no writer's name is ever stored so, and
 * every reader of BACKING hides it as a signature without a file.
 */
static const char tmp_prefix[] = ".sfs-tmp-", tmp_suffix[] = ".sig.sig";
#define TMP_RAND 12

bool sfs_is_atomic_temp(const char *name)
{
	size_t n = strlen(name), p = sizeof(tmp_prefix) - 1;

	if (n != p + TMP_RAND + sizeof(tmp_suffix) - 1 ||
	    memcmp(name, tmp_prefix, p) ||
	    strcmp(name + p + TMP_RAND, tmp_suffix))
		return false;
	for (size_t i = p; i < p + TMP_RAND; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789", name[i]))
			return false;
	return true;
}

int sfs_atomic_prepare_at(int dirfd, const char *name, const void *buf,
			  size_t len, mode_t mode, bool sync, char *tmp)
{
	const char *base = strrchr(name, '/');
	size_t dirlen = base ? (size_t)(base - name) + 1 : 0;
	int fd, ret, n;

	n = snprintf(tmp, PATH_MAX, "%.*s%s%.*s%s", (int)dirlen, name,
		     tmp_prefix, TMP_RAND, "XXXXXXXXXXXXXXXX", tmp_suffix);
	if (n < 0 || n >= PATH_MAX)
		return -ENAMETOOLONG;
	for (int tries = 0; tries < 100; tries++) {
		static const char a[] = "abcdefghijklmnopqrstuvwxyz0123456789";
		char *x = tmp + dirlen + sizeof(tmp_prefix) - 1;

		for (int i = 0; i < TMP_RAND; i++)
			x[i] = a[(unsigned)random() % (sizeof(a) - 1)];
		fd = openat(
		    dirfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return -errno;
	ret = sfs_full_write(fd, buf, len);
	if (ret == 0 && fchmod(fd, mode) < 0)
		ret = -errno;
	if (ret == 0 && sync && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	if (ret != 0)
		unlinkat(dirfd, tmp, 0);
	return ret;
}

void sfs_atomic_abort_at(int dirfd, const char *tmp)
{
	unlinkat(dirfd, tmp, 0);
}

int sfs_atomic_commit_at(int dirfd, const char *tmp, const char *name,
			 bool sync)
{
	const char *base = strrchr(name, '/');
	size_t dirlen = base ? (size_t)(base - name) + 1 : 0;
	char dir[PATH_MAX];
	int d, ret = 0;

	if (renameat(dirfd, tmp, dirfd, name) < 0) {
		ret = -errno;
		unlinkat(dirfd, tmp, 0);
		return ret;
	}
	if (!sync)
		return 0;
	if (dirlen) {
		memcpy(dir, name, dirlen);
		dir[dirlen] = '\0';
		d = openat(dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else if (dirfd == AT_FDCWD) {
		/* dup(AT_FDCWD) is EBADF: the directory is the current one. */
		d = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	} else {
		d = dup(dirfd);
	}
	if (d < 0)
		return -errno;
	if (fsync(d) < 0)
		ret = -errno;
	close(d);
	return ret;
}

int sfs_write_atomic_at(int dirfd, const char *name, const void *buf,
			size_t len, mode_t mode, bool sync)
{
	char tmp[PATH_MAX];
	int ret;

	ret = sfs_atomic_prepare_at(dirfd, name, buf, len, mode, sync, tmp);
	if (ret == 0)
		ret = sfs_atomic_commit_at(dirfd, tmp, name, sync);
	return ret;
}

int sfs_path_check(const char *path, size_t len)
{
	size_t start = 0;

	if (len == 0 || path[0] == '/' || memchr(path, '\0', len))
		return -EINVAL;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		size_t c = i - start;

		if (c == 0 || (c == 1 && path[start] == '.') ||
		    (c == 2 && path[start] == '.' && path[start + 1] == '.'))
			return -EINVAL;
		start = i + 1;
	}
	return 0;
}

/* realpath of the directory part, the last component kept as given. */
static int resolve_parent(const char *p, char **out)
{
	char *copy = strdup(p), *slash, *dir, *res = NULL;
	const char *last;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	slash = strrchr(copy, '/');
	if (slash) {
		*slash = '\0';
		dir = realpath(slash == copy ? "/" : copy, NULL);
		last = slash + 1;
	} else {
		dir = realpath(".", NULL);
		last = copy;
	}
	if (!dir) {
		ret = -errno;
		goto out;
	}
	if (strcmp(last, ".") == 0 || strcmp(last, "..") == 0 || !*last) {
		ret = -EINVAL;
		goto out;
	}
	if (asprintf(&res, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", last) <
	    0) {
		res = NULL;
		ret = -ENOMEM;
	}
	*out = res;
out:
	free(dir);
	free(copy);
	return ret;
}

int sfs_path_relative(const char *root, const char *file, char **rel)
{
	char *r = realpath(root, NULL), *f = NULL;
	size_t rl;
	int ret;

	if (!r)
		return -errno;
	ret = resolve_parent(file, &f);
	if (ret)
		goto out;
	rl = strlen(r);
	if (strcmp(r, "/") == 0)
		rl = 0;
	if (strncmp(f, r, rl) != 0 || f[rl] != '/') {
		ret = -EXDEV;
		goto out;
	}
	*rel = strdup(f + rl + 1);
	ret = *rel ? sfs_path_check(*rel, strlen(*rel)) : -ENOMEM;
	/* Shorter or as long: into a copy of itself. */
	if (ret == 0) {
		size_t n = strlen(*rel);

		memcpy(f, *rel, n + 1);
		ret = sfs_path_from_backing(f, n, *rel, n + 1, &n);
	}
	if (ret) {
		free(*rel);
		*rel = NULL;
	}
out:
	free(r);
	free(f);
	return ret;
}

bool sfs_is_sig_name(const char *name, size_t len)
{
	return len >= 4 && memcmp(name + len - 4, SFS_SIG_SUFFIX, 4) == 0;
}

void sfs_hex(const uint8_t *in, size_t len, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = d[in[i] >> 4];
		out[2 * i + 1] = d[in[i] & 15];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int sfs_unhex(const char *hex, uint8_t *out, size_t outlen)
{
	size_t n = 0;

	while (hex[0] && hex[1]) {
		int hi, lo;

		if (hex[0] == ':') {
			hex++;
			continue;
		}
		hi = hexval(hex[0]);
		lo = hexval(hex[1]);
		if (hi < 0 || lo < 0 || n >= outlen)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
		hex += 2;
	}
	if (*hex)
		return -EINVAL;
	return (int)n;
}

void sfs_harden_process(void)
{
	struct rlimit rl = {0, 0};

	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int sfs_open_beneath(int rootfd, const char *path, int flags)
{
	struct open_how how = {
	    .flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
	    .resolve =
		RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd;

	/* EAGAIN: a rename or mount raced the walk (RESOLVE_BENEATH). */
	do {
		fd = syscall(SYS_openat2, rootfd, *path ? path : ".", &how,
			     sizeof(how));
	} while (fd < 0 && (errno == EINTR || errno == EAGAIN));
	return fd < 0 ? -errno : (int)fd;
}

int sfs_path_join(char *out, size_t size, const char *dir, size_t dlen,
		  const char *name, size_t extra, size_t *len)
{
	size_t nl = strlen(name);

	if (dlen + 1 + nl + 1 + extra > size)
		return -ENAMETOOLONG;
	memmove(out, dir, dlen);
	if (dlen)
		out[dlen++] = '/';
	memcpy(out + dlen, name, nl + 1);
	if (len)
		*len = dlen + nl;
	return 0;
}
