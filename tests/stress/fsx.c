// SPDX-License-Identifier: Apache-2.0
/*
 * fsx: a data-integrity exerciser in the spirit of xfstests' fsx. One file,
 * random reads, writes, truncations, extensions, hole punches and mapped
 * reads/writes against a mirror kept in memory; every byte read is
 * compared with the mirror. The file is closed and reopened now and then
 * (on signetfs's outbox: signed), and then compared with its backing copy.
 *
 *   fsx [-N OPS] [-S SEED] [-l MAXLEN] [-b BACKING_FILE] [-m MIRROR_OUT]
 *       [-c CLOSE_EVERY] [-v] FILE
 *   fsx -R EXPECTED [-N OPS] [-S SEED] FILE    (read-only: reads only)
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
#include <time.h>
#include <unistd.h>
#include <linux/falloc.h>

enum op {
	OP_READ,
	OP_WRITE,
	OP_MAPREAD,
	OP_MAPWRITE,
	OP_TRUNC_DOWN,
	OP_TRUNC_UP,
	OP_FALLOC,
	OP_PUNCH,
	OP_ZERO,
	OP_FSYNC,
	OP_STAT,
	OP_REOPEN,
	N_OPS
};

static const struct {
	const char *name;
	unsigned weight;
} ops[N_OPS] = {
    [OP_READ] = {"read", 24},
    [OP_WRITE] = {"write", 24},
    [OP_MAPREAD] = {"mapread", 10},
    [OP_MAPWRITE] = {"mapwrite", 10},
    [OP_TRUNC_DOWN] = {"truncate_down", 6},
    [OP_TRUNC_UP] = {"truncate_up", 4},
    [OP_FALLOC] = {"fallocate", 3},
    [OP_PUNCH] = {"punch_hole", 3},
    [OP_ZERO] = {"zero_range", 3},
    [OP_FSYNC] = {"fsync", 1},
    [OP_STAT] = {"stat", 2},
    [OP_REOPEN] = {"close_reopen", 0},
};

struct fsx {
	const char *path;
	const char *backing; /* compared with the mirror after each close */
	int fd;
	uint64_t rng;
	unsigned char *mirror, *buf;
	size_t size, maxlen;
	unsigned long opno;
	unsigned long count[N_OPS];
	bool no_falloc[N_OPS]; /* the filesystem said EOPNOTSUPP */
	bool verbose;
};

static uint64_t rnd(struct fsx *x)
{
	uint64_t z = (x->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t below(struct fsx *x, size_t n)
{
	return n ? (size_t)(rnd(x) % n) : 0;
}

static void die(struct fsx *x, const char *what)
{
	fprintf(stderr, "fsx: op %lu: %s: %s\n", x->opno, what,
		strerror(errno));
	exit(1);
}

/* Reports the first differing byte and exits: 1 mismatch, 1 exit. */
static void compare(struct fsx *x, const char *op, const unsigned char *got,
		    size_t off, size_t len)
{
	const unsigned char *want = x->mirror + off;

	if (!memcmp(got, want, len))
		return;
	for (size_t k = 0; k < len; k++) {
		if (got[k] == want[k])
			continue;
		fprintf(stderr,
			"fsx: MISMATCH op %lu (%s %zu+%zu, size %zu): "
			"offset %zu has %#04x, expected %#04x\n",
			x->opno, op, off, len, x->size, off + k, got[k],
			want[k]);
		break;
	}
	printf("mismatches: 1\n");
	exit(1);
}

static void random_range(struct fsx *x, size_t *off, size_t *len, size_t limit)
{
	*off = below(x, limit);
	*len = 1 + below(x, limit - *off < 65536 ? limit - *off : 65536);
}

static void do_read(struct fsx *x)
{
	size_t off, len, want;
	ssize_t n;

	random_range(x, &off, &len, x->maxlen);
	want = off >= x->size ? 0 : (off + len > x->size ? x->size - off : len);
	n = pread(x->fd, x->buf, len, off);
	if (n < 0)
		die(x, "pread");
	if ((size_t)n != want) {
		fprintf(stderr,
			"fsx: op %lu: pread %zu+%zu returned %zd, "
			"expected %zu (size %zu)\n",
			x->opno, off, len, n, want, x->size);
		printf("mismatches: 1\n");
		exit(1);
	}
	compare(x, "read", x->buf, off, want);
}

static void set_size(struct fsx *x, size_t size)
{
	if (size > x->size)
		memset(x->mirror + x->size, 0, size - x->size);
	x->size = size;
}

static void fill(struct fsx *x, unsigned char *p, size_t len)
{
	for (size_t k = 0; k < len; k += 8) {
		uint64_t v = rnd(x);

		memcpy(p + k, &v, len - k < 8 ? len - k : 8);
	}
}

static void do_write(struct fsx *x)
{
	size_t off, len;
	ssize_t n;

	random_range(x, &off, &len, x->maxlen);
	fill(x, x->buf, len);
	n = pwrite(x->fd, x->buf, len, off);
	if (n < 0)
		die(x, "pwrite");
	if ((size_t)n != len) {
		errno = EIO;
		die(x, "short pwrite");
	}
	if (off + len > x->size)
		set_size(x, off + len);
	memcpy(x->mirror + off, x->buf, len);
}

static void do_truncate(struct fsx *x, size_t size)
{
	if (ftruncate(x->fd, size) < 0)
		die(x, "ftruncate");
	set_size(x, size);
}

static void do_mapread(struct fsx *x)
{
	size_t off, len;
	unsigned char *m;

	if (!x->size)
		return;
	random_range(x, &off, &len, x->size);
	m = mmap(NULL, x->size, PROT_READ, MAP_SHARED, x->fd, 0);
	if (m == MAP_FAILED)
		die(x, "mmap read");
	compare(x, "mapread", m + off, off, len);
	if (munmap(m, x->size) < 0)
		die(x, "munmap");
}

static void do_mapwrite(struct fsx *x)
{
	size_t off, len, end;
	unsigned char *m;

	random_range(x, &off, &len, x->maxlen);
	end = off + len;
	if (end > x->size)
		do_truncate(x, end);
	m = mmap(NULL, x->size, PROT_READ | PROT_WRITE, MAP_SHARED, x->fd, 0);
	if (m == MAP_FAILED)
		die(x, "mmap write");
	fill(x, m + off, len);
	memcpy(x->mirror + off, m + off, len);
	/*
	 * One in four is synced at once (an fsync, a disk flush on the
	 * backing filesystem); the others reach the file system as the
	 * kernel writes dirty pages back, or at the next flush.
	 */
	if (below(x, 4) == 0 && msync(m, x->size, MS_SYNC) < 0)
		die(x, "msync");
	if (munmap(m, x->size) < 0)
		die(x, "munmap");
}

/* fallocate MODE over a random range; EOPNOTSUPP turns that op off. */
static void do_falloc(struct fsx *x, enum op op)
{
	int mode = op == OP_PUNCH  ? FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
		   : op == OP_ZERO ? FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE
				   : 0;
	size_t off, len;

	if (x->no_falloc[op])
		return;
	/* Holes and zeroes inside the file; plain fallocate may extend it. */
	if (op != OP_FALLOC && !x->size)
		return;
	random_range(x, &off, &len, op == OP_FALLOC ? x->maxlen : x->size);
	if (fallocate(x->fd, mode, off, len) < 0) {
		if (errno == EOPNOTSUPP) {
			x->no_falloc[op] = true;
			fprintf(stderr, "fsx: %s not supported: off\n",
				ops[op].name);
			return;
		}
		die(x, ops[op].name);
	}
	if (op == OP_FALLOC) {
		if (off + len > x->size)
			set_size(x, off + len);
		return;
	}
	memset(x->mirror + off, 0, len);
}

static void do_stat(struct fsx *x)
{
	struct stat st;

	if (fstat(x->fd, &st) < 0)
		die(x, "fstat");
	if ((size_t)st.st_size != x->size) {
		fprintf(stderr, "fsx: op %lu: size %jd, expected %zu\n",
			x->opno, (intmax_t)st.st_size, x->size);
		printf("mismatches: 1\n");
		exit(1);
	}
}

/* The whole file at PATH (opened anew) equals the mirror. */
static void compare_file(struct fsx *x, const char *path, const char *what)
{
	int fd = open(path, O_RDONLY);
	size_t off = 0;
	ssize_t n;

	if (fd < 0)
		die(x, path);
	while ((n = pread(fd, x->buf, 65536, off)) > 0) {
		if (off + n > x->size) {
			fprintf(stderr, "fsx: %s: longer than %zu\n", what,
				x->size);
			printf("mismatches: 1\n");
			exit(1);
		}
		compare(x, what, x->buf, off, n);
		off += n;
	}
	if (n < 0)
		die(x, what);
	close(fd);
	if (off != x->size) {
		fprintf(stderr, "fsx: %s: %zu bytes, expected %zu\n", what, off,
			x->size);
		printf("mismatches: 1\n");
		exit(1);
	}
}

static void do_reopen(struct fsx *x)
{
	char sig[4096];
	struct stat st;

	if (close(x->fd) < 0)
		die(x, "close");
	if (x->backing) {
		compare_file(x, x->backing, "backing after close");
		snprintf(sig, sizeof(sig), "%s.sig", x->backing);
		if (stat(sig, &st) < 0)
			die(x, "no .sig after close");
	}
	x->fd = open(x->path, O_RDWR);
	if (x->fd < 0)
		die(x, "reopen");
}

static enum op pick(struct fsx *x, unsigned long close_every)
{
	unsigned total = 0, r;

	if (close_every && below(x, close_every) == 0)
		return OP_REOPEN;
	for (int k = 0; k < N_OPS; k++)
		total += ops[k].weight;
	r = (unsigned)below(x, total);
	for (int k = 0; k < N_OPS; k++) {
		if (r < ops[k].weight)
			return (enum op)k;
		r -= ops[k].weight;
	}
	return OP_READ;
}

static void run(struct fsx *x, enum op op)
{
	switch (op) {
	case OP_READ:
		do_read(x);
		break;
	case OP_WRITE:
		do_write(x);
		break;
	case OP_MAPREAD:
		do_mapread(x);
		break;
	case OP_MAPWRITE:
		do_mapwrite(x);
		break;
	case OP_TRUNC_DOWN:
		do_truncate(x, below(x, x->size + 1));
		break;
	case OP_TRUNC_UP:
		do_truncate(x, x->size + below(x, x->maxlen - x->size + 1));
		break;
	case OP_FALLOC:
	case OP_PUNCH:
	case OP_ZERO:
		do_falloc(x, op);
		break;
	case OP_FSYNC:
		if (fsync(x->fd) < 0)
			die(x, "fsync");
		break;
	case OP_STAT:
		do_stat(x);
		break;
	default:
		do_reopen(x);
		break;
	}
}

/* -R: random reads and mapped reads of FILE against EXPECTED. */
static int read_only(struct fsx *x, const char *expected, unsigned long n)
{
	struct stat st;
	int fd = open(expected, O_RDONLY);

	if (fd < 0 || fstat(fd, &st) < 0)
		die(x, expected);
	x->size = st.st_size;
	x->maxlen = x->size + 1;
	x->mirror = malloc(x->size + 1);
	if (!x->mirror || (size_t)read(fd, x->mirror, x->size) != x->size)
		die(x, "read expected");
	close(fd);
	x->fd = open(x->path, O_RDONLY);
	if (x->fd < 0)
		die(x, x->path);
	compare_file(x, x->path, "whole file");
	for (x->opno = 1; x->opno <= n; x->opno++) {
		enum op op = below(x, 4) ? OP_READ : OP_MAPREAD;

		x->count[op]++;
		run(x, op);
	}
	do_stat(x);
	close(x->fd);
	return 0;
}

static void report(struct fsx *x, unsigned long n)
{
	printf("op mix:");
	for (int k = 0; k < N_OPS; k++)
		if (x->count[k])
			printf(" %s %lu", ops[k].name, x->count[k]);
	printf("\n%lu ops, final size %zu, mismatches: 0\n", n, x->size);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: fsx [-N OPS] [-S SEED] [-l MAXLEN] [-b BACKING] "
		"[-m MIRROR_OUT] [-c CLOSE_EVERY] [-v] FILE\n"
		"       fsx -R EXPECTED [-N OPS] [-S SEED] FILE\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static struct fsx x = {.maxlen = 1 << 20};
	unsigned long n = 10000, close_every = 1000;
	unsigned long seed = (unsigned long)time(NULL) ^ getpid();
	const char *mirror_out = NULL, *expected = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "N:S:l:b:m:c:R:v")) != -1) {
		switch (opt) {
		case 'N':
			n = strtoul(optarg, NULL, 0);
			break;
		case 'S':
			seed = strtoul(optarg, NULL, 0);
			break;
		case 'l':
			x.maxlen = strtoul(optarg, NULL, 0);
			break;
		case 'b':
			x.backing = optarg;
			break;
		case 'm':
			mirror_out = optarg;
			break;
		case 'c':
			close_every = strtoul(optarg, NULL, 0);
			break;
		case 'R':
			expected = optarg;
			break;
		case 'v':
			x.verbose = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || x.maxlen < 2)
		usage();
	x.path = argv[optind];
	x.rng = seed;
	x.buf = malloc(65536 > x.maxlen ? 65536 : x.maxlen);
	printf("fsx: seed %lu, %lu ops on %s%s\n", seed, n, x.path,
	       expected ? " (read-only)" : "");
	fflush(stdout);
	if (!x.buf)
		die(&x, "malloc");
	if (expected) {
		read_only(&x, expected, n);
		report(&x, n);
		return 0;
	}
	x.mirror = calloc(1, x.maxlen);
	x.fd = open(x.path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (!x.mirror || x.fd < 0)
		die(&x, x.path);
	for (x.opno = 1; x.opno <= n; x.opno++) {
		enum op op = pick(&x, close_every);

		x.count[op]++;
		if (x.verbose)
			printf("%lu %s size %zu\n", x.opno, ops[op].name,
			       x.size);
		run(&x, op);
	}
	compare_file(&x, x.path, "final read");
	do_reopen(&x);
	compare_file(&x, x.path, "read after reopen");
	close(x.fd);
	if (mirror_out) {
		FILE *f = fopen(mirror_out, "wb");

		if (!f || fwrite(x.mirror, 1, x.size, f) != x.size || fclose(f))
			die(&x, mirror_out);
	}
	report(&x, n);
	return 0;
}
