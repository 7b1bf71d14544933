// SPDX-License-Identifier: Apache-2.0
/* The file list of sign/verify: arguments as given, or whole trees (-r). */
#include <errno.h>
#include <fts.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "signetfs/util.h"

static int add(struct cli_files *f, const char *path, uint64_t size)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 64;
		char **v = realloc(f->v, cap * sizeof(*v));
		uint64_t *sz;

		if (!v)
			return -ENOMEM;
		f->v = v;
		sz = realloc(f->size, cap * sizeof(*sz));
		if (!sz)
			return -ENOMEM;
		f->size = sz;
		f->cap = cap;
	}
	f->v[f->n] = strdup(path);
	if (!f->v[f->n])
		return -ENOMEM;
	f->size[f->n++] = size;
	f->bytes += size;
	return 0;
}

/* What -r leaves out: signatures and our own half-written temp files. */
static bool skipped(const FTSENT *e)
{
	return sfs_is_sig_name(e->fts_name, e->fts_namelen) ||
	       sfs_is_atomic_temp(e->fts_name);
}

static int by_name(const FTSENT **a, const FTSENT **b)
{
	return strcmp((*a)->fts_name, (*b)->fts_name);
}

/*
 * FTS_PHYSICAL: symlinks are reported as such (FTS_SL) and never followed,
 * so a link can't pull a file from outside the tree into the signed set.
 */
static int walk(struct cli_files *f, char *root, const char *cmd)
{
	char *roots[] = {root, NULL};
	FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, by_name);
	FTSENT *e;
	int errors = 0;

	if (!fts) {
		cli_error(cmd, "%s: %s", root, strerror(errno));
		return 1;
	}
	while ((e = fts_read(fts)) != NULL) {
		switch (e->fts_info) {
		case FTS_F:
			if (!skipped(e) && add(f, e->fts_path,
					       (uint64_t)e->fts_statp->st_size))
				goto oom;
			break;
		case FTS_DNR:
		case FTS_ERR:
		case FTS_NS:
			cli_error(cmd, "%s: %s", e->fts_path,
				  strerror(e->fts_errno));
			errors++;
			break;
		default:
			/* Directories, symlinks, devices, FIFOs, sockets. */
			break;
		}
	}
	fts_close(fts);
	return errors;
oom:
	fts_close(fts);
	cli_error(cmd, "out of memory");
	return -ENOMEM;
}

int cli_files_collect(struct cli_files *f, char **args, int n, bool recursive,
		      const char *cmd)
{
	int errors = 0;

	for (int i = 0; i < n; i++) {
		struct stat st;
		int ret;

		if (lstat(args[i], &st) != 0)
			st.st_size = 0;
		else if (recursive && S_ISDIR(st.st_mode)) {
			ret = walk(f, args[i], cmd);
			if (ret < 0)
				return ret;
			errors += ret;
			continue;
		}
		/* Named on the command line: each command judges it. */
		if (add(f, args[i],
			S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0)) {
			cli_error(cmd, "out of memory");
			return -ENOMEM;
		}
	}
	return errors;
}

void cli_files_free(struct cli_files *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i]);
	free(f->v);
	free(f->size);
	memset(f, 0, sizeof(*f));
}
