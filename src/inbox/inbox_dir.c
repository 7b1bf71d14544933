// SPDX-License-Identifier: Apache-2.0
/* Directory listings that verify their files in parallel; --prewarm. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ib_cache.h"
#include "ib_dir.h"
#include "ib_resolve.h"
#include "inbox.h"
#include "signetfs/verify.h"
#include "signetfs/stats.h"
#include "signetfs/log.h"
#include "signetfs/layout.h"
#include "signetfs/util.h"

struct job {
	const char *name; /* into the listing */
	bool visible;
};

struct batch {
	struct inbox *ib;
	const char *dir; /* "" for the root */
	size_t dir_len;
	struct job *jobs;
	size_t n;
	bool prewarm; /* count progress for signetfs status */
	char **taken; /* every name BACKING has here, sorted (into l) */
	size_t n_taken;
};

static void run_job(struct batch *b, struct job *j)
{
	char path[PATH_MAX];
	struct inbox_vfile *vf = NULL;
	size_t len;

	if (sfs_path_join(path, PATH_MAX, b->dir, b->dir_len, j->name,
			  sizeof(SFS_SIG_SUFFIX), &len) ||
	    inbox_check(b->ib, path, len, NULL, &vf))
		return;
	j->visible = vf->verdict == VR_OK || b->ib->audit_mode;
	inbox_vfile_put(vf);
}

static void run_counted(struct batch *b, struct job *j)
{
	run_job(b, j);
	if (b->prewarm)
		sfs_stats_add(&b->ib->stats, SFS_C_PREWARM_DONE, 1);
}

static void run_one(size_t i, void *ctx)
{
	struct batch *b = ctx;

	run_counted(b, &b->jobs[i]);
}

/*
 * Verification is CPU (signature, chain, hash) and I/O: a few threads per
 * listing, each taking the next file, keep both busy. Threads are made per
 * listing; that costs microseconds against milliseconds of verifying.
 */
static void verify_all(struct batch *b)
{
	size_t nt = b->ib->workers;

	if (nt > 16)
		nt = 16;
	if (nt > b->n / 4 + 1)
		nt = b->n / 4 + 1;
	sfs_parallel(b->n, (unsigned)nt, run_one, b, &b->ib->stopping);
}

/* DT_DIR, DT_REG or DT_UNKNOWN (anything else, never opened). */
static unsigned char dtype_of(int dfd, const struct dirent *de)
{
	unsigned char dt = de->d_type;
	struct stat st;

	if (dt == DT_UNKNOWN) {
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return DT_UNKNOWN;
		dt = S_ISDIR(st.st_mode)   ? DT_DIR
		     : S_ISREG(st.st_mode) ? DT_REG
					   : DT_UNKNOWN;
	}
	return dt == DT_DIR || dt == DT_REG ? dt : DT_UNKNOWN;
}

static int add_ent(struct inbox_listing *l, size_t *cap, const char *name,
		   enum inbox_dtype t, ino_t ino)
{
	if (l->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct inbox_dirent *e = realloc(l->ents, nc * sizeof(*e));

		if (!e)
			return -ENOMEM;
		l->ents = e;
		*cap = nc;
	}
	l->ents[l->n].name = strdup(name);
	if (!l->ents[l->n].name)
		return -ENOMEM;
	l->ents[l->n].type = t;
	l->ents[l->n].ino = ino;
	l->n++;
	return 0;
}

/* Names BACKING has that the mount does not show (symlinks, FIFOs...). */
struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *t, const char *name)
{
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		char **g = realloc(t->v, nc * sizeof(*g));

		if (!g)
			return -ENOMEM;
		t->v = g;
		t->cap = nc;
	}
	t->v[t->n] = strdup(name);
	return t->v[t->n++] ? 0 : -ENOMEM;
}

static void names_free(struct names *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i]);
	free(t->v);
}

/*
 * One BACKING entry as the mount names it (signetfs/layout.h): a writer's
 * directory or file under its own name; a signature slot FILE.sig as
 * FILE + sig-suffix; anything else only as a name taken (other).
 */
static int add_backing(struct inbox *ib, struct inbox_listing *l, size_t *cap,
		       struct names *other, const char *bname, unsigned char dt,
		       ino_t ino)
{
	size_t n = strlen(bname), len, sl = strlen(ib->cfg->sig_suffix);
	char name[NAME_MAX + 1];

	if (sfs_name_is_slot(bname, n)) {
		/* A slot of a slot (a temp file) or odd: no file's signature */
		if (dt != DT_REG || sfs_name_is_slot(bname, n - 4) ||
		    sfs_name_from_backing(bname, n - 4, name, &len) ||
		    len + sl > NAME_MAX)
			return 0;
		memcpy(name + len, ib->cfg->sig_suffix, sl + 1);
		return add_ent(l, cap, name, INBOX_DT_SIG, ino);
	}
	if (sfs_name_from_backing(bname, n, name, &len))
		return 0;
	if (dt == DT_DIR)
		return add_ent(l, cap, name, INBOX_DT_DIR, ino);
	if (dt == DT_REG)
		return add_ent(l, cap, name, INBOX_DT_REG, ino);
	return names_add(other, name);
}

static int read_backing_dir(struct inbox *ib, const char *path,
			    struct inbox_listing *l, struct names *other)
{
	int dfd = inbox_open_beneath(ib->rootfd, path, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	size_t cap = 0;
	DIR *d;
	int ret = 0;

	if (dfd < 0)
		return dfd;
	d = fdopendir(dfd);
	if (!d) {
		ret = -errno;
		close(dfd);
		return ret;
	}
	while (!ret && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".")) {
			l->self_ino = de->d_ino;
			continue;
		}
		if (!strcmp(de->d_name, "..")) {
			l->parent_ino = de->d_ino;
			continue;
		}
		ret = add_backing(ib, l, &cap, other, de->d_name,
				  dtype_of(dirfd(d), de), de->d_ino);
	}
	closedir(d);
	return ret;
}

static int cmp_job(const void *a, const void *b)
{
	return strcmp(((const struct job *)a)->name,
		      ((const struct job *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file whose served signature is signame (FILE + sig-suffix). */
static struct job *sig_file(const struct batch *b, const char *signame)
{
	size_t n = strlen(signame) - strlen(b->ib->cfg->sig_suffix);
	char base[NAME_MAX + 1];
	struct job key = {.name = base};

	memcpy(base, signame, n);
	base[n] = '\0';
	return bsearch(&key, b->jobs, b->n, sizeof(struct job), cmp_job);
}

/* Is NAME a name BACKING has (a writer's, of any type)? */
static bool name_taken(const struct batch *b, const char *name)
{
	const char *key = name;

	return bsearch(&key, b->taken, b->n_taken, sizeof(char *), cmp_str);
}

/*
 * A signature whose name a writer's own file (or directory...) takes is
 * not served under it: the writer's name wins. Said once per version of
 * the signed file, in the daemon log (docs/inbox.md, "Signatures").
 */
static void note_shadowed(const struct batch *b, const char *signame)
{
	size_t n = strlen(signame) - strlen(b->ib->cfg->sig_suffix);
	struct inbox_vfile *vf;
	char path[PATH_MAX];
	size_t len;

	if (sfs_path_join(path, PATH_MAX, b->dir, b->dir_len, signame, 0, &len))
		return;
	len -= strlen(signame) - n; /* the signed file's path */
	path[len] = '\0';
	if (inbox_check(b->ib, path, len, NULL, &vf))
		return;
	if (vf->verdict == VR_OK &&
	    !atomic_exchange(&vf->sig_shadowed_logged, true))
		sfs_log(SFS_LOG_NOTICE,
			"%s: its signature is not served as %s%s: that is "
			"the name of a file of the tree ([inbox] sig-suffix "
			"serves it under another name)",
			path, path, b->ib->cfg->sig_suffix);
	inbox_vfile_put(vf);
}

static bool ent_visible(const struct batch *b, const struct inbox_dirent *e)
{
	struct job key = {.name = e->name}, *j;

	switch (e->type) {
	case INBOX_DT_DIR:
		return true;
	case INBOX_DT_SIG:
		j = sig_file(b, e->name);
		if (!b->ib->audit_mode && !(j && j->visible))
			return false;
		if (!name_taken(b, e->name))
			return true;
		if (j && j->visible)
			note_shadowed(b, e->name);
		return false;
	case INBOX_DT_REG:
		j = bsearch(&key, b->jobs, b->n, sizeof(*j), cmp_job);
		return j && j->visible;
	}
	return false;
}

/* Decide every entry first: sig_file() reads names filter() frees. */
static int filter(const struct batch *b, struct inbox_listing *l)
{
	bool *keep = calloc(l->n ? l->n : 1, sizeof(*keep));
	size_t kept = 0;

	if (!keep)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		keep[i] = ent_visible(b, &l->ents[i]);
	for (size_t i = 0; i < l->n; i++) {
		if (keep[i])
			l->ents[kept++] = l->ents[i];
		else
			free(l->ents[i].name);
	}
	l->n = kept;
	free(keep);
	return 0;
}

/* Every name BACKING has here, sorted: files, directories, others. */
static int collect_taken(struct batch *b, const struct inbox_listing *l,
			 const struct names *other)
{
	b->taken = calloc(l->n + other->n + 1, sizeof(char *));
	if (!b->taken)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++)
		if (l->ents[i].type != INBOX_DT_SIG)
			b->taken[b->n_taken++] = l->ents[i].name;
	for (size_t i = 0; i < other->n; i++)
		b->taken[b->n_taken++] = other->v[i];
	qsort(b->taken, b->n_taken, sizeof(char *), cmp_str);
	return 0;
}

static int list_dir(struct inbox *ib, const char *path, struct inbox_listing *l,
		    bool prewarm)
{
	struct batch b = {
	    .ib = ib, .dir = path, .dir_len = strlen(path), .prewarm = prewarm};
	struct names other = {0};
	int ret;

	memset(l, 0, sizeof(*l));
	ret = read_backing_dir(ib, path, l, &other);
	if (ret)
		goto out;
	b.jobs = calloc(l->n ? l->n : 1, sizeof(*b.jobs));
	ret = b.jobs ? collect_taken(&b, l, &other) : -ENOMEM;
	if (ret)
		goto out;
	for (size_t i = 0; i < l->n; i++)
		if (l->ents[i].type == INBOX_DT_REG)
			b.jobs[b.n++].name = l->ents[i].name;
	/* The total grows as the walk finds directories. */
	if (prewarm)
		sfs_stats_add(&ib->stats, SFS_C_PREWARM_TOTAL, b.n);
	verify_all(&b);
	qsort(b.jobs, b.n, sizeof(*b.jobs), cmp_job);
	ret = filter(&b, l);
out:
	free(b.jobs);
	free(b.taken);
	names_free(&other);
	if (ret)
		inbox_listing_free(l);
	return ret;
}

int inbox_list(struct inbox *ib, const char *path, struct inbox_listing *l)
{
	return list_dir(ib, path, l, false);
}

void inbox_listing_free(struct inbox_listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->ents[i].name);
	free(l->ents);
	memset(l, 0, sizeof(*l));
}

static void prewarm_dir(struct inbox *ib, const char *path)
{
	struct inbox_listing l;
	char *sub;

	if (atomic_load(&ib->stopping) || list_dir(ib, path, &l, true))
		return;
	/* On the heap: the depth is up to PATH_MAX / 2. */
	sub = malloc(PATH_MAX);
	for (size_t i = 0; sub && i < l.n; i++) {
		if (l.ents[i].type != INBOX_DT_DIR)
			continue;
		if (sfs_path_join(sub, PATH_MAX, path, strlen(path),
				  l.ents[i].name, sizeof(SFS_SIG_SUFFIX),
				  NULL) == 0)
			prewarm_dir(ib, sub);
	}
	free(sub);
	inbox_listing_free(&l);
}

static void *prewarm_main(void *arg)
{
	struct inbox *ib = arg;

	prewarm_dir(ib, "");
	sfs_info("prewarm finished");
	return NULL;
}

int inbox_prewarm_start(struct inbox *ib)
{
	int ret = pthread_create(&ib->prewarm, NULL, prewarm_main, ib);

	if (ret)
		return -ret;
	ib->prewarm_running = true;
	return 0;
}

void inbox_prewarm_stop(struct inbox *ib)
{
	if (!ib->prewarm_running)
		return;
	atomic_store(&ib->stopping, true);
	pthread_join(ib->prewarm, NULL);
	ib->prewarm_running = false;
}
