// SPDX-License-Identifier: Apache-2.0
/*
 * fsstress: N processes x M random namespace and data operations on one
 * directory tree (in the spirit of xfstests' fsstress). Expected races
 * (ENOENT, ENOTEMPTY...) are tolerated per operation; any other error, and
 * any refused operation that succeeds, is counted as a failure.
 *
 *   fsstress -d DIR [-p PROCS] [-n OPS] [-s SEED] [-v]
 *
 * The same seed gives each process the same sequence of operations; the
 * interleaving of processes is the scheduler's.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <setjmp.h>
#include <signal.h>

/* A small name space, so that processes collide on the same names. */
#define N_DIRS 4
#define N_FILES 12
#define MAX_OFF (192 * 1024)
#define MAX_LEN (16 * 1024)

enum op {
	OP_CREAT,
	OP_WRITE,
	OP_READ,
	OP_TRUNCATE,
	OP_FTRUNCATE,
	OP_RENAME,
	OP_RENAME_DIR,
	OP_UNLINK,
	OP_MKDIR,
	OP_RMDIR,
	OP_FSYNC,
	OP_MMAP,
	OP_MMAP_LATE,
	OP_APPEND,
	OP_TRUNC_REOPEN,
	OP_READDIR,
	OP_STAT,
	OP_XATTR,
	OP_LINK,
	OP_SYMLINK,
	OP_MKFIFO,
	OP_SIG_CREAT,
	OP_SIG_MKDIR,
	OP_SIG_RENAME,
	N_OPS
};

static const struct {
	const char *name;
	unsigned weight;
} ops[N_OPS] = {
    [OP_CREAT] = {"creat", 10},
    [OP_WRITE] = {"write", 14},
    [OP_READ] = {"read", 6},
    [OP_TRUNCATE] = {"truncate", 4},
    [OP_FTRUNCATE] = {"ftruncate", 3},
    [OP_RENAME] = {"rename", 6},
    [OP_RENAME_DIR] = {"rename_dir", 1},
    [OP_UNLINK] = {"unlink", 6},
    [OP_MKDIR] = {"mkdir", 4},
    [OP_RMDIR] = {"rmdir", 3},
    [OP_FSYNC] = {"fsync", 3},
    [OP_MMAP] = {"mmap_write", 3},
    [OP_MMAP_LATE] = {"mmap_late", 1},
    [OP_APPEND] = {"append", 4},
    [OP_TRUNC_REOPEN] = {"o_trunc", 4},
    [OP_READDIR] = {"readdir", 4},
    [OP_STAT] = {"stat", 4},
    [OP_XATTR] = {"getxattr", 2},
    [OP_LINK] = {"link", 1},
    [OP_SYMLINK] = {"symlink", 1},
    [OP_MKFIFO] = {"mkfifo", 1},
    [OP_SIG_CREAT] = {"sig_creat", 1},
    [OP_SIG_MKDIR] = {"sig_mkdir", 1},
    [OP_SIG_RENAME] = {"sig_rename", 1},
};

/* Per process, per operation: attempts, successes, tolerated, failures. */
enum { C_RUN, C_OK, C_TOLERATED, C_FAIL, C_N };

struct ctx {
	uint64_t rng;
	int id;
	bool verbose;
	uint64_t (*count)[C_N]; /* shared memory: this process's row */
	unsigned char buf[MAX_LEN];
};

/* O_NONBLOCK: a FIFO that should never have been created cannot block. */
#define OFLAGS (O_NONBLOCK | O_CLOEXEC)

#define ALLOW(...) ((const int[]){__VA_ARGS__, 0})
#define NONE ALLOW(0)

static uint64_t rnd(struct ctx *c)
{
	/* splitmix64: small, fast, good enough to pick operations. */
	uint64_t z = (c->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(struct ctx *c, unsigned n)
{
	return (unsigned)(rnd(c) % n);
}

static void fill(struct ctx *c, size_t len)
{
	for (size_t k = 0; k < len; k += 8) {
		uint64_t v = rnd(c);

		memcpy(c->buf + k, &v, len - k < 8 ? len - k : 8);
	}
}

/* d1/d3/f7 style: 0..MAX_DEPTH directories, then a file or dir name. */
static void rand_path(struct ctx *c, char *p, size_t sz, char kind,
		      const char *suffix)
{
	/* Mostly shallow: deep parents rarely exist. */
	unsigned r = below(c, 10), depth = r < 5 ? 0 : r < 8 ? 1 : 2;
	size_t n = 0;

	for (unsigned k = 0; k < depth; k++)
		n += snprintf(p + n, sz - n, "d%u/", below(c, N_DIRS));
	snprintf(p + n, sz - n, "%c%u%s", kind,
		 below(c, kind == 'd' ? N_DIRS : N_FILES), suffix);
}

static bool allowed(const int *list, int e)
{
	for (; *list; list++)
		if (*list == e)
			return true;
	return false;
}

/*
 * Account for one system call of operation OP: true when it succeeded.
 * A failure whose errno is in ALLOW is a tolerated race.
 */
static bool check(struct ctx *c, enum op op, long r, const char *call,
		  const char *path, const int *allow)
{
	int e = errno;

	if (r >= 0)
		return true;
	if (allowed(allow, e)) {
		c->count[op][C_TOLERATED]++;
		if (c->verbose)
			printf("%d: %s %s: %s (tolerated)\n", c->id, call, path,
			       strerror(e));
		return false;
	}
	c->count[op][C_FAIL]++;
	fprintf(stderr, "p%d: FAIL %s: %s %s: %s\n", c->id, ops[op].name, call,
		path, strerror(e));
	return false;
}

/*
 * An operation the filesystem must refuse with EPERM; the races in ALLOW
 * (the name exists, its parent is gone) are tolerated.
 */
static void must_fail(struct ctx *c, enum op op, long r, const char *call,
		      const char *path, const int *allow)
{
	if (r >= 0) {
		c->count[op][C_FAIL]++;
		fprintf(stderr, "p%d: FAIL %s: %s %s succeeded\n", c->id,
			ops[op].name, call, path);
		/* Do not leave a FIFO or a link for the others to trip on. */
		if (op == OP_LINK || op == OP_SYMLINK || op == OP_MKFIFO)
			unlink(path);
	} else if (errno == EPERM) {
		c->count[op][C_OK]++;
	} else {
		check(c, op, r, call, path, allow);
	}
}

static bool do_close(struct ctx *c, enum op op, int fd, const char *path)
{
	return check(c, op, close(fd), "close", path, NONE);
}

static bool write_at(struct ctx *c, enum op op, int fd, off_t off,
		     const char *path)
{
	size_t len = 1 + below(c, MAX_LEN);
	ssize_t n;

	fill(c, len);
	n = off < 0 ? write(fd, c->buf, len) : pwrite(fd, c->buf, len, off);
	if (n >= 0 && (size_t)n != len) {
		errno = EIO;
		fprintf(stderr, "p%d: short write %zd of %zu\n", c->id, n, len);
		n = -1;
	}
	return check(c, op, n, "write", path, NONE);
}

/* open FLAGS, write LEN random bytes at OFF (-1: current), close. */
static bool open_write_close(struct ctx *c, enum op op, const char *path,
			     int flags, off_t off, const int *allow_open)
{
	int fd = open(path, flags | OFLAGS, 0644);
	bool good;

	if (!check(c, op, fd, "open", path, allow_open))
		return false;
	good = write_at(c, op, fd, off, path);
	return do_close(c, op, fd, path) && good;
}

static bool op_creat(struct ctx *c, const char *p)
{
	return open_write_close(c, OP_CREAT, p, O_WRONLY | O_CREAT, 0,
				ALLOW(ENOENT));
}

static bool op_write(struct ctx *c, const char *p)
{
	return open_write_close(c, OP_WRITE, p, O_WRONLY, below(c, MAX_OFF),
				ALLOW(ENOENT));
}

static bool op_append(struct ctx *c, const char *p)
{
	return open_write_close(c, OP_APPEND, p, O_WRONLY | O_APPEND, -1,
				ALLOW(ENOENT));
}

static bool op_trunc_reopen(struct ctx *c, const char *p)
{
	return open_write_close(c, OP_TRUNC_REOPEN, p, O_WRONLY | O_TRUNC, -1,
				ALLOW(ENOENT));
}

static bool op_fsync(struct ctx *c, const char *p)
{
	int fd = open(p, O_WRONLY | OFLAGS);
	bool good;

	if (!check(c, OP_FSYNC, fd, "open", p, ALLOW(ENOENT)))
		return false;
	good = write_at(c, OP_FSYNC, fd, below(c, MAX_OFF), p) &&
	       check(c, OP_FSYNC, below(c, 2) ? fsync(fd) : fdatasync(fd),
		     "fsync", p, NONE);
	return do_close(c, OP_FSYNC, fd, p) && good;
}

static bool op_read(struct ctx *c, const char *p)
{
	int fd = open(p, O_RDONLY | OFLAGS);
	bool good;

	if (!check(c, OP_READ, fd, "open", p, ALLOW(ENOENT)))
		return false;
	good =
	    check(c, OP_READ,
		  pread(fd, c->buf, 1 + below(c, MAX_LEN), below(c, MAX_OFF)),
		  "pread", p, NONE);
	return do_close(c, OP_READ, fd, p) && good;
}

static bool op_truncate(struct ctx *c, const char *p)
{
	return check(c, OP_TRUNCATE, truncate(p, below(c, MAX_OFF)), "truncate",
		     p, ALLOW(ENOENT));
}

static bool op_ftruncate(struct ctx *c, const char *p)
{
	int fd = open(p, O_RDWR | OFLAGS);
	bool good;

	if (!check(c, OP_FTRUNCATE, fd, "open", p, ALLOW(ENOENT)))
		return false;
	good = check(c, OP_FTRUNCATE, ftruncate(fd, below(c, MAX_OFF)),
		     "ftruncate", p, NONE);
	return do_close(c, OP_FTRUNCATE, fd, p) && good;
}

/*
 * Another process may truncate the file under our mapping: the store then
 * gets SIGBUS, a race like ENOENT, tolerated.
 */
static sigjmp_buf bus_jmp;

static void on_sigbus(int sig)
{
	siglongjmp(bus_jmp, 1);
}

static bool store(struct ctx *c, enum op op, char *dst, size_t len,
		  const char *p)
{
	if (sigsetjmp(bus_jmp, 1)) {
		errno = EFAULT;
		return check(c, op, -1, "store (SIGBUS)", p, ALLOW(EFAULT));
	}
	memcpy(dst, c->buf, len);
	return true;
}

/*
 * Write through a shared mapping. LATE: close the descriptor first, so the
 * dirty pages reach the daemon at munmap/release, after the last flush.
 */
static bool mmap_write(struct ctx *c, enum op op, const char *p, bool late)
{
	size_t len = 1 + below(c, MAX_LEN), off, size;
	int fd = open(p, O_RDWR | OFLAGS);
	struct stat st;
	char *m;
	bool good;

	if (!check(c, op, fd, "open", p, ALLOW(ENOENT)))
		return false;
	good = check(c, op, fstat(fd, &st), "fstat", p, NONE);
	size = good ? (size_t)st.st_size : 0;
	if (good && size < len)
		good = check(c, op, ftruncate(fd, size = len), "ftruncate", p,
			     NONE);
	if (!good) {
		do_close(c, op, fd, p);
		return false;
	}
	off = below(c, size - len + 1);
	m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (!check(c, op, m == MAP_FAILED ? -1 : 0, "mmap", p, NONE)) {
		do_close(c, op, fd, p);
		return false;
	}
	fill(c, len);
	if (!store(c, op, m + off, len, p)) {
		munmap(m, size);
		do_close(c, op, fd, p);
		return false;
	}
	if (late) {
		good = do_close(c, op, fd, p);
		return check(c, op, munmap(m, size), "munmap", p, NONE) && good;
	}
	good = check(c, op, msync(m, size, MS_SYNC), "msync", p, NONE);
	good = check(c, op, munmap(m, size), "munmap", p, NONE) && good;
	return do_close(c, op, fd, p) && good;
}

static bool op_rename(struct ctx *c, enum op op, const char *p, char kind)
{
	char to[64];

	rand_path(c, to, sizeof(to), kind, "");
	/* EINVAL: a directory into its own subtree. */
	return check(c, op, rename(p, to), "rename", p,
		     ALLOW(ENOENT, ENOTEMPTY, EEXIST, EINVAL));
}

static bool op_readdir(struct ctx *c, const char *p)
{
	DIR *d = opendir(p);
	struct dirent *de;

	if (!check(c, OP_READDIR, d ? 0 : -1, "opendir", p, ALLOW(ENOENT)))
		return false;
	errno = 0;
	while ((de = readdir(d)))
		;
	/* An entry removed under readdir ends it; it is not an error. */
	check(c, OP_READDIR, errno ? -1 : 0, "readdir", p, ALLOW(ENOENT));
	closedir(d);
	return true;
}

static bool op_xattr(struct ctx *c, const char *p)
{
	char v[256];

	return check(c, OP_XATTR,
		     getxattr(p, "user.signetfs.status", v, sizeof(v)),
		     "getxattr", p, ALLOW(ENOENT));
}

static void op_refused(struct ctx *c, enum op op, const char *p)
{
	char other[64];

	switch (op) {
	case OP_LINK:
		rand_path(c, other, sizeof(other), 'f', "");
		must_fail(c, op, link(p, other), "link", other,
			  ALLOW(ENOENT, EEXIST));
		break;
	case OP_SYMLINK:
		must_fail(c, op, symlink("f0", p), "symlink", p,
			  ALLOW(ENOENT, EEXIST));
		break;
	case OP_MKFIFO:
		must_fail(c, op, mkfifo(p, 0644), "mkfifo", p,
			  ALLOW(ENOENT, EEXIST));
		break;
	default:
		break;
	}
}

/*
 * Names ending in .sig are a writer's like any other (BACKING layout 2:
 * stored with one '~' more, signed for the name given): creating,
 * making a directory of and renaming onto one succeed; only the races
 * of ordinary names (parent gone, a directory or file in the way) are
 * tolerated.
 */
static bool op_sig_name(struct ctx *c, enum op op, const char *p)
{
	char other[64], sig[72];
	struct stat st;
	int fd;

	snprintf(sig, sizeof(sig), "%s.sig", p);
	switch (op) {
	case OP_SIG_CREAT:
		fd = open(sig, O_WRONLY | O_CREAT | OFLAGS, 0644);
		if (!check(c, op, fd, "open", sig, ALLOW(ENOENT, EISDIR)))
			return false;
		return do_close(c, op, fd, sig);
	case OP_SIG_MKDIR:
		return check(c, op, mkdir(sig, 0755), "mkdir", sig,
			     ALLOW(ENOENT, EEXIST));
	default: /* OP_SIG_RENAME: a file renamed to a .sig name */
		rand_path(c, other, sizeof(other), 'f', ".sig");
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode)) {
			c->count[op][C_TOLERATED]++;
			return false;
		}
		return check(c, op, rename(p, other), "rename", p,
			     ALLOW(ENOENT, EISDIR, ENOTDIR, ENOTEMPTY));
	}
}

static enum op pick(struct ctx *c)
{
	static unsigned total;
	unsigned r;

	if (!total)
		for (int k = 0; k < N_OPS; k++)
			total += ops[k].weight;
	r = below(c, total);
	for (int k = 0; k < N_OPS; k++) {
		if (r < ops[k].weight)
			return (enum op)k;
		r -= ops[k].weight;
	}
	return OP_STAT;
}

static bool run_op(struct ctx *c, enum op op)
{
	bool dir_op = op == OP_MKDIR || op == OP_RMDIR || op == OP_RENAME_DIR ||
		      op == OP_READDIR || op == OP_SIG_MKDIR;
	char p[64];
	struct stat st;

	rand_path(c, p, sizeof(p), dir_op ? 'd' : 'f', "");
	if (op == OP_READDIR && below(c, 4) == 0)
		strcpy(p, ".");
	if (c->verbose)
		printf("%d: %s %s\n", c->id, ops[op].name, p);
	switch (op) {
	case OP_CREAT:
		return op_creat(c, p);
	case OP_WRITE:
		return op_write(c, p);
	case OP_READ:
		return op_read(c, p);
	case OP_TRUNCATE:
		return op_truncate(c, p);
	case OP_FTRUNCATE:
		return op_ftruncate(c, p);
	case OP_RENAME:
		return op_rename(c, op, p, 'f');
	case OP_RENAME_DIR:
		return op_rename(c, op, p, 'd');
	case OP_UNLINK:
		return check(c, op, unlink(p), "unlink", p, ALLOW(ENOENT));
	case OP_MKDIR:
		return check(c, op, mkdir(p, 0755), "mkdir", p,
			     ALLOW(ENOENT, EEXIST));
	case OP_RMDIR:
		return check(c, op, rmdir(p), "rmdir", p,
			     ALLOW(ENOENT, ENOTEMPTY, EEXIST));
	case OP_FSYNC:
		return op_fsync(c, p);
	case OP_MMAP:
		return mmap_write(c, op, p, false);
	case OP_MMAP_LATE:
		return mmap_write(c, op, p, true);
	case OP_APPEND:
		return op_append(c, p);
	case OP_TRUNC_REOPEN:
		return op_trunc_reopen(c, p);
	case OP_READDIR:
		return op_readdir(c, p);
	case OP_STAT:
		return check(c, op, stat(p, &st), "stat", p, ALLOW(ENOENT));
	case OP_XATTR:
		return op_xattr(c, p);
	case OP_SIG_CREAT:
	case OP_SIG_MKDIR:
	case OP_SIG_RENAME:
		return op_sig_name(c, op, p);
	default:
		op_refused(c, op, p);
		return false; /* counted by must_fail */
	}
}

static void child(struct ctx *c, unsigned long nops)
{
	for (unsigned long k = 0; k < nops; k++) {
		enum op op = pick(c);

		c->count[op][C_RUN]++;
		if (run_op(c, op))
			c->count[op][C_OK]++;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: fsstress -d DIR [-p PROCS] [-n OPS] "
			"[-s SEED] [-v]\n");
	exit(2);
}

static int report(uint64_t (*all)[N_OPS][C_N], int nproc)
{
	uint64_t tot[C_N] = {0};

	printf("%-12s %8s %8s %9s %6s\n", "op", "run", "ok", "tolerated",
	       "FAIL");
	for (int k = 0; k < N_OPS; k++) {
		uint64_t s[C_N] = {0};

		for (int p = 0; p < nproc; p++)
			for (int j = 0; j < C_N; j++)
				s[j] += all[p][k][j];
		for (int j = 0; j < C_N; j++)
			tot[j] += s[j];
		printf("%-12s %8" PRIu64 " %8" PRIu64 " %9" PRIu64 " %6" PRIu64
		       "\n",
		       ops[k].name, s[C_RUN], s[C_OK], s[C_TOLERATED],
		       s[C_FAIL]);
	}
	printf("%-12s %8" PRIu64 " %8" PRIu64 " %9" PRIu64 " %6" PRIu64 "\n",
	       "total", tot[C_RUN], tot[C_OK], tot[C_TOLERATED], tot[C_FAIL]);
	return tot[C_FAIL] ? 1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long nops = 1000, seed = (unsigned long)time(NULL) ^ getpid();
	int nproc = 4, opt, rc, bad = 0;
	const char *dir = NULL;
	bool verbose = false;
	uint64_t(*all)[N_OPS][C_N];

	while ((opt = getopt(argc, argv, "d:p:n:s:v")) != -1) {
		switch (opt) {
		case 'd':
			dir = optarg;
			break;
		case 'p':
			nproc = atoi(optarg);
			break;
		case 'n':
			nops = strtoul(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'v':
			verbose = true;
			break;
		default:
			usage();
		}
	}
	if (!dir || nproc < 1 || nproc > 64)
		usage();
	signal(SIGBUS, on_sigbus);
	if (chdir(dir) < 0) {
		perror(dir);
		return 2;
	}
	printf("fsstress: seed %lu, %d processes x %lu ops in %s\n", seed,
	       nproc, nops, dir);
	fflush(stdout);
	all = mmap(NULL, sizeof(*all) * nproc, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (all == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	for (int p = 0; p < nproc; p++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			static struct ctx c;

			c.rng = seed * 1000003ULL + (uint64_t)p;
			c.id = p;
			c.verbose = verbose;
			c.count = all[p];
			child(&c, nops);
			fflush(stdout);
			_exit(0);
		}
	}
	for (int p = 0; p < nproc; p++) {
		if (wait(&rc) < 0 || !WIFEXITED(rc) || WEXITSTATUS(rc)) {
			fprintf(stderr,
				"fsstress: a process died (status %#x)\n", rc);
			bad = 1;
		}
	}
	return report(all, nproc) | bad;
}
