// SPDX-License-Identifier: Apache-2.0
/* signetfs migrate: a BACKING of layout 1 (signetfs 0.1) into layout 2. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "signetfs/config.h"
#include "signetfs/layout.h"
#include "signetfs/util.h"
#include "signetfs/verdict.h"

/* One step: rename DIR/FROM to DIR/TO, or remove DIR/FROM (to NULL). */
struct move {
	char *dir, *from, *to;
};

struct migration {
	int rootfd;
	struct sfs_config *cfg;
	struct sfs_verifier *v;
	bool verbose;
	struct move *moves;
	size_t n, cap;
	size_t escaped, verified, temps, orphans, refused;
};

/* The names of one directory, sorted, with their types. */
struct dir_names {
	char **v;
	mode_t *type;
	size_t n;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: signetfs migrate --config CONF [--dry-run] [-v] "
		   "BACKING\n\n"
		   "Renames a BACKING written by signetfs 0.1 (layout 1) into "
		   "layout 2\n(docs/signature-format.md, \"Where signatures "
		   "live\"): writers' names matching\n\\.sig~*$ get one '~' "
		   "more, with their signatures; temp files 0.1 left behind\n"
		   "are removed; then BACKING is marked as layout 2. Every "
		   "signed file whose name\nchanges is verified first (the "
		   "config's trust, as the inbox applies it); if\none fails, "
		   "nothing is changed. Unmount BACKING first.\n\n"
		   "  -c, --config CONF  trust store, CRL and rules\n"
		   "  -n, --dry-run      print the plan, change nothing\n"
		   "  -v, --verbose      print every step\n"
		   "  -h, --help         this text\n\n"
		   "Exit: 0 migrated (or already layout 2), 1 refused, 2 "
		   "usage/config/I/O.\n");
}

static char *join(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static int add_move(struct migration *m, const char *dir, const char *from,
		    const char *to)
{
	struct move *mv;

	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 64;
		struct move *g = realloc(m->moves, nc * sizeof(*g));

		if (!g)
			return -ENOMEM;
		m->moves = g;
		m->cap = nc;
	}
	mv = &m->moves[m->n];
	mv->dir = strdup(dir);
	mv->from = strdup(from);
	mv->to = to ? strdup(to) : NULL;
	m->n++;
	return mv->dir && mv->from && (!to || mv->to) ? 0 : -ENOMEM;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(struct dir_names *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i]);
	free(d->v);
	free(d->type);
}

/* Every name of the directory dfd (no "." or ".."), sorted, with types. */
static int read_names(int dfd, struct dir_names *d)
{
	int fd = dup(dfd);
	DIR *dir = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	size_t cap = 0;
	struct stat st;
	int ret = 0;

	if (!dir) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while (!ret && (errno = 0, de = readdir(dir))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (d->n == cap) {
			cap = cap ? cap * 2 : 64;
			char **g = realloc(d->v, cap * sizeof(*g));

			if (!g) {
				ret = -ENOMEM;
				break;
			}
			d->v = g;
		}
		d->v[d->n] = strdup(de->d_name);
		ret = d->v[d->n] ? 0 : -ENOMEM;
		d->n += !ret;
	}
	if (!ret && errno)
		ret = -errno;
	closedir(dir);
	if (ret)
		return ret;
	qsort(d->v, d->n, sizeof(char *), cmp_name);
	d->type = calloc(d->n + 1, sizeof(*d->type));
	if (!d->type)
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		if (fstatat(dfd, d->v[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		d->type[i] = st.st_mode & S_IFMT;
	}
	return 0;
}

/* Index of name in d, or -1. */
static long find(const struct dir_names *d, const char *name)
{
	char **p = bsearch(&name, d->v, d->n, sizeof(char *), cmp_name);

	return p ? p - d->v : -1;
}

static bool has_reg(const struct dir_names *d, const char *name)
{
	long i = find(d, name);

	return i >= 0 && d->type[i] == S_IFREG;
}

/*
 * How layout 1 reads the regular file NAME: its slot NAME.sig, or
 * (for a NAME ending in .sig) a signature itself. Returns true when
 * NAME is a writer's file whose name layout 2 escapes.
 */
static bool old_writer_escaped(struct migration *m, const char *dirpath,
			       const struct dir_names *d, const char *name)
{
	size_t n = strlen(name);
	char base[NAME_MAX + 1], sig[NAME_MAX + 5];

	if (!sfs_name_is_slot(name, n))
		return sfs_name_escaped(name, n);
	/* NAME.sig beside NAME: a signature, never a file */
	memcpy(base, name, n - 4);
	base[n - 4] = '\0';
	if (find(d, base) >= 0)
		return false;
	/* Signed itself (signetfs sign): a writer's file named x.sig */
	snprintf(sig, sizeof(sig), "%s.sig", name);
	if (has_reg(d, sig))
		return true;
	/* A signature whose file is gone: a hidden slot in layout 2 too */
	if (m->verbose)
		printf("orphan signature kept: %s%s%s\n", dirpath,
		       *dirpath ? "/" : "", name);
	m->orphans++;
	return false;
}

/* Verify DIR/NAME as layout 1 serves it: at that path, with NAME.sig. */
static enum verify_reason verify_old(struct migration *m, const char *path)
{
	struct verdict_sig sig = {0};
	struct sig_info info = {0};
	enum verify_reason r;
	uint8_t *der = NULL;
	struct stat st;
	char *sp = NULL;
	int fd, ret;

	fd = sfs_open_regular_at(m->rootfd, path, O_RDONLY, &st);
	if (fd < 0)
		return fd == -EINVAL ? VR_NOT_REGULAR : VR_IO;
	if (asprintf(&sp, "%s" SFS_SIG_SUFFIX, path) < 0) {
		close(fd);
		return VR_INTERNAL;
	}
	ret = sfs_read_file_at(m->rootfd, sp, SFS_SIG_MAX, &der, &sig.len);
	sig.read = verdict_read_reason(ret);
	sig.der = der;
	r = verdict_check_fd(m->cfg, m->v, path, &sig, fd, &info);
	sig_info_clear(&info);
	free(der);
	free(sp);
	close(fd);
	return r;
}

/* Longer names first: x.sig~ moves to x.sig~~ before x.sig moves to x.sig~ */
static int cmp_len_desc(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);

	return lx != ly ? (lx < ly ? 1 : -1) : strcmp(x, y);
}

/* Plan the escape of DIR/NAME (and its slot); refusals are counted. */
static int plan_escape(struct migration *m, const char *dirpath,
		       struct dir_names *d, const char *name)
{
	size_t n = strlen(name), tlen;
	char to[NAME_MAX + 1], sig[NAME_MAX + 5], tosig[NAME_MAX + 5];
	bool is_reg = has_reg(d, name), signed_ = false;
	char *path = join(dirpath, name);
	enum verify_reason r;
	int ret;

	if (!path)
		return -ENOMEM;
	snprintf(sig, sizeof(sig), "%s" SFS_SIG_SUFFIX, name);
	if (is_reg)
		signed_ = has_reg(d, sig);
	/* Layout 1 stored the writer's name as it is; layout.h maps it now. */
	if (sfs_name_to_backing(name, n, to, &tlen) ||
	    (signed_ && n > SFS_NAME_MAX_SIGNED)) {
		fprintf(stderr, "REFUSED %s: its layout 2 name is too long\n",
			path);
		m->refused++;
		goto out;
	}
	snprintf(tosig, sizeof(tosig), "%s" SFS_SIG_SUFFIX, to);
	/* An orphan signature where the slot of NAME~ would go */
	if (signed_ && find(d, tosig) >= 0 && find(d, to) < 0) {
		fprintf(stderr, "REFUSED %s: %s is in the way\n", path, tosig);
		m->refused++;
		goto out;
	}
	if (signed_) {
		r = verify_old(m, path);
		if (r != VR_OK) {
			fprintf(stderr, "REFUSED %s: %s\n", path,
				verify_reason_str(r));
			m->refused++;
			goto out;
		}
		m->verified++;
	}
	ret = add_move(m, dirpath, name, to);
	if (!ret && signed_)
		ret = add_move(m, dirpath, sig, tosig);
	m->escaped++;
	free(path);
	return ret;
out:
	free(path);
	return 0;
}

/* The names of one directory that layout 2 escapes, longest first. */
static int plan_dir_names(struct migration *m, const char *dirpath,
			  struct dir_names *d)
{
	char **esc = calloc(d->n + 1, sizeof(char *));
	size_t k = 0;
	int ret = 0;

	if (!esc)
		return -ENOMEM;
	for (size_t i = 0; i < d->n; i++) {
		const char *name = d->v[i];

		if (d->type[i] == S_IFREG && sfs_is_legacy_temp(name)) {
			m->temps++;
			ret = add_move(m, dirpath, name, NULL);
		} else if (d->type[i] == S_IFREG
			       ? old_writer_escaped(m, dirpath, d, name)
			       : sfs_name_escaped(name, strlen(name))) {
			esc[k++] = d->v[i];
		}
		if (ret)
			break;
	}
	qsort(esc, k, sizeof(char *), cmp_len_desc);
	for (size_t i = 0; !ret && i < k; i++)
		ret = plan_escape(m, dirpath, d, esc[i]);
	free(esc);
	return ret;
}

/*
 * DIR ("" the root) beneath BACKING, as util.h opens it: no symlink on the
 * way, never outside. The fd, or -errno (errno set too).
 */
static int open_dir(const struct migration *m, const char *dir)
{
	return sfs_open_beneath(m->rootfd, dir, O_RDONLY | O_DIRECTORY);
}

/*
 * Plan DIRPATH's subdirectories first, then its own names: the moves run
 * in that order, so every move's directory still has its old name.
 */
static int plan_dir(struct migration *m, const char *dirpath)
{
	struct dir_names d = {0};
	int dfd, ret;

	dfd = open_dir(m, dirpath);
	if (dfd < 0) {
		fprintf(stderr, "signetfs: migrate: %s: %s\n",
			*dirpath ? dirpath : ".", strerror(-dfd));
		return dfd;
	}
	ret = read_names(dfd, &d);
	for (size_t i = 0; !ret && i < d.n; i++) {
		char *sub;

		if (d.type[i] != S_IFDIR)
			continue;
		sub = join(dirpath, d.v[i]);
		ret = sub ? plan_dir(m, sub) : -ENOMEM;
		free(sub);
	}
	if (!ret)
		ret = plan_dir_names(m, dirpath, &d);
	names_free(&d);
	close(dfd);
	return ret;
}

/*
 * The plan, kept in BACKING while it runs (a slot of a slot, as the
 * marker): a migration that stops midway (a crash, an I/O error) is
 * resumed from it, never planned again over a half-renamed tree, where
 * y.sig~~ (once y.sig~) would look like a name to escape. Each move is
 * four NUL-terminated strings: "R" or "U", DIR, FROM, TO ("" for U).
 */
#define JOURNAL ".signetfs-migrate.sig.sig"
#define JOURNAL_MAX (256u << 20)

static int journal_write(struct migration *m)
{
	size_t len = 0, off = 0;
	char *buf;
	int ret;

	for (size_t i = 0; i < m->n; i++)
		len += 2 + strlen(m->moves[i].dir) + 1 +
		       strlen(m->moves[i].from) + 1 +
		       (m->moves[i].to ? strlen(m->moves[i].to) : 0) + 1;
	if (len > JOURNAL_MAX)
		return -EFBIG;
	buf = malloc(len + 1);
	if (!buf)
		return -ENOMEM;
	for (size_t i = 0; i < m->n; i++) {
		const struct move *mv = &m->moves[i];

		off += (size_t)sprintf(buf + off, "%s", mv->to ? "R" : "U") + 1;
		off += (size_t)sprintf(buf + off, "%s", mv->dir) + 1;
		off += (size_t)sprintf(buf + off, "%s", mv->from) + 1;
		off +=
		    (size_t)sprintf(buf + off, "%s", mv->to ? mv->to : "") + 1;
	}
	ret = sfs_write_atomic_at(m->rootfd, JOURNAL, buf, len, 0600, true);
	free(buf);
	return ret;
}

/* The moves of an interrupted run: 1 when there is one, 0 if not. */
/* A single name: not empty, no '/', not "." or "..". */
static bool one_name(const char *n)
{
	return *n && !strchr(n, '/') && strcmp(n, ".") && strcmp(n, "..");
}

static int journal_read(struct migration *m)
{
	const char *f[4];
	uint8_t *buf = NULL;
	size_t len, off = 0;
	int ret;

	ret = sfs_read_file_at(m->rootfd, JOURNAL, JOURNAL_MAX, &buf, &len);
	if (ret)
		return ret == -ENOENT ? 0 : ret;
	while (!ret && off < len) {
		for (int k = 0; k < 4; k++) {
			const char *p = (const char *)buf + off;
			const char *z =
			    off < len ? memchr(p, '\0', len - off) : NULL;

			if (!z) {
				ret = -EPROTO;
				break;
			}
			f[k] = p;
			off += (size_t)(z - p) + 1;
		}
		if (!ret && (strcmp(f[0], "R") && strcmp(f[0], "U")))
			ret = -EPROTO;
		/* Names within their directory: renameat does not confine. */
		if (!ret &&
		    (!one_name(f[2]) || (*f[0] == 'R' && !one_name(f[3]))))
			ret = -EPROTO;
		if (!ret)
			ret =
			    add_move(m, f[1], f[2], *f[0] == 'R' ? f[3] : NULL);
	}
	free(buf);
	return ret ? ret : 1;
}

/*
 * Has move i run? Its source is gone (and its target there). Moves run
 * in order and no move's source is an earlier move's target (longer
 * names first), so the last move that has run is the last one that
 * looks so; moves in a directory renamed later all come before it.
 */
static bool move_done(struct migration *m, const struct move *mv)
{
	int dfd = open_dir(m, mv->dir);
	struct stat st;
	bool done;

	if (dfd < 0)
		return false;
	done = fstatat(dfd, mv->from, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
	       errno == ENOENT &&
	       (!mv->to || fstatat(dfd, mv->to, &st, AT_SYMLINK_NOFOLLOW) == 0);
	close(dfd);
	return done;
}

static int run_moves(struct migration *m, size_t first)
{
	for (size_t i = first; i < m->n; i++) {
		struct move *mv = &m->moves[i];
		int dfd = open_dir(m, mv->dir);
		int ret = dfd < 0  ? -1
			  : mv->to ? renameat2(dfd, mv->from, dfd, mv->to,
					       RENAME_NOREPLACE)
				   : unlinkat(dfd, mv->from, 0);

		if (ret < 0) {
			ret = -errno;
			fprintf(stderr, "signetfs: migrate: %s/%s: %s\n",
				mv->dir, mv->from, strerror(errno));
		} else if (fsync(dfd) < 0) {
			ret = -errno;
		}
		if (dfd >= 0)
			close(dfd);
		if (ret)
			return ret;
	}
	return 0;
}

static void print_plan(const struct migration *m)
{
	for (size_t i = 0; i < m->n; i++) {
		const struct move *mv = &m->moves[i];
		const char *sep = *mv->dir ? "/" : "";

		if (mv->to)
			printf("rename %s%s%s -> %s%s%s\n", mv->dir, sep,
			       mv->from, mv->dir, sep, mv->to);
		else
			printf("remove %s%s%s\n", mv->dir, sep, mv->from);
	}
}

/* The trust to verify with, from CONF; SFS_EXIT_USAGE when it fails. */
static int load(struct migration *m, const char *conf)
{
	struct sfs_error err = {0};

	if (config_load(conf, &m->cfg, &err) ||
	    policy_verifier_new(m->cfg, &m->cfg->trust, &m->v, &err)) {
		cli_error("migrate", "%s", err.msg);
		return SFS_EXIT_USAGE;
	}
	return 0;
}

/* Plan, then (unless dry) move and mark; an exit code. */
static int migrate(struct migration *m, const char *backing, bool dry)
{
	int ret = sfs_layout_read(m->rootfd);
	size_t first = 0;
	bool resumed = false;

	if (ret == SFS_LAYOUT_VERSION) {
		/* marked, then stopped before the plan was removed */
		if (!dry)
			unlinkat(m->rootfd, JOURNAL, 0);
		printf("%s: already layout %d\n", backing, ret);
		return SFS_EXIT_OK;
	}
	if (ret != 0) {
		cli_error("migrate", "%s: layout marker %s: %s", backing,
			  SFS_LAYOUT_MARKER,
			  ret < 0 ? strerror(-ret)
				  : "a layout this signetfs "
				    "does not know");
		return SFS_EXIT_USAGE;
	}
	ret = journal_read(m);
	if (ret == 1) {
		resumed = true;
		for (first = m->n; first > 0; first--)
			if (move_done(m, &m->moves[first - 1]))
				break;
		printf("%s: an interrupted migration: %zu of %zu step(s) "
		       "left\n",
		       backing, m->n - first, m->n);
		if (dry)
			return SFS_EXIT_OK;
		goto run;
	}
	if (ret == 0)
		ret = plan_dir(m, "");
	if (ret) {
		cli_error("migrate", "%s: %s", backing, strerror(-ret));
		return SFS_EXIT_USAGE;
	}
	if (m->refused) {
		fprintf(stderr,
			"signetfs: migrate: %s: %zu file(s) refused; nothing "
			"changed\n",
			backing, m->refused);
		return SFS_EXIT_REFUSED;
	}
	if (dry || m->verbose)
		print_plan(m);
	if (dry)
		return SFS_EXIT_OK;
	if (journal_write(m)) {
		cli_error("migrate", "%s: cannot write %s", backing, JOURNAL);
		return SFS_EXIT_USAGE;
	}
run:
	if (run_moves(m, first) || sfs_layout_write(m->rootfd) ||
	    unlinkat(m->rootfd, JOURNAL, 0) || syncfs(m->rootfd)) {
		cli_error("migrate", "%s: interrupted; run it again to resume",
			  backing);
		return SFS_EXIT_USAGE;
	}
	if (resumed)
		printf("%s: layout %d\n", backing, SFS_LAYOUT_VERSION);
	else
		printf("%s: layout 1 -> %d: %zu name(s) escaped (%zu signed, "
		       "verified), %zu temp file(s) removed, %zu orphan "
		       "signature(s) kept\n",
		       backing, SFS_LAYOUT_VERSION, m->escaped, m->verified,
		       m->temps, m->orphans);
	return SFS_EXIT_OK;
}

int cmd_migrate(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct migration m = {.rootfd = -1};
	const char *conf = NULL;
	bool dry = false;
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:nvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'n':
			dry = true;
			break;
		case 'v':
			m.verbose = true;
			break;
		case 'h':
			usage(stdout);
			return SFS_EXIT_OK;
		default:
			usage(stderr);
			return SFS_EXIT_USAGE;
		}
	}
	if (!conf || optind != argc - 1) {
		usage(stderr);
		return SFS_EXIT_USAGE;
	}
	ret = load(&m, conf);
	if (ret)
		goto out;
	m.rootfd = open(argv[optind], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m.rootfd < 0) {
		cli_error("migrate", "%s: %s", argv[optind], strerror(errno));
		ret = SFS_EXIT_USAGE;
		goto out;
	}
	ret = migrate(&m, argv[optind], dry);
out:
	for (size_t i = 0; i < m.n; i++) {
		free(m.moves[i].dir);
		free(m.moves[i].from);
		free(m.moves[i].to);
	}
	free(m.moves);
	if (m.rootfd >= 0)
		close(m.rootfd);
	verifier_free(m.v);
	config_free(m.cfg);
	return ret;
}
