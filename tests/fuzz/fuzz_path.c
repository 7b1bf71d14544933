// SPDX-License-Identifier: Apache-2.0
/* libFuzzer: sfs_path_check and sfs_path_relative against their invariants. */
#define _GNU_SOURCE
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signetfs/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64]; /* realpath'd temp tree, see below */

static int rm_entry(const char *p, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void cleanup(void)
{
	nftw(root, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/*
 * A signable path, decided independently of util.c: non-empty, no NUL,
 * no leading '/', and every '/'-separated component non-empty and
 * neither "." nor "..".
 */
static bool path_ok(const char *p, size_t n)
{
	size_t start = 0;

	if (n == 0 || memchr(p, '\0', n) || p[0] == '/')
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && p[i] != '/')
			continue;
		if (i == start || (i - start == 1 && p[start] == '.') ||
		    (i - start == 2 && !memcmp(p + start, "..", 2)))
			return false;
		start = i + 1;
	}
	return true;
}

/*
 * ROOT/a/b, ROOT/c, a symlink ROOT/a/up -> ../.. (out of ROOT), and
 * ROOT/a/self -> . ; the process works in ROOT/a so relative inputs
 * like "../x" and "up/x" test the containment check.
 */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/fuzz-path-XXXXXX", p[128], *r;

	(void)argc;
	(void)argv;
	if (!mkdtemp(tmpl) || !(r = realpath(tmpl, NULL)))
		abort();
	snprintf(root, sizeof(root), "%s", r);
	free(r);
	snprintf(p, sizeof(p), "%s/a", root);
	if (mkdir(p, 0700) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/a/b", root);
	if (mkdir(p, 0700) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/c", root);
	if (mkdir(p, 0700) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/a/up", root);
	if (symlink("../..", p) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/a/self", root);
	if (symlink(".", p) < 0)
		abort();
	snprintf(p, sizeof(p), "%s/a", root);
	if (chdir(p) < 0)
		abort();
	atexit(cleanup);
	return 0;
}

/* The parent of FILE resolved, as sfs_path_relative documents it. */
static char *parent_of(const char *file)
{
	char *copy = strdup(file), *slash, *res;

	if (!copy)
		abort();
	while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
		copy[strlen(copy) - 1] = '\0';
	slash = strrchr(copy, '/');
	if (!slash)
		res = realpath(".", NULL);
	else if (slash == copy)
		res = realpath("/", NULL);
	else
		res = (*slash = '\0', realpath(copy, NULL));
	free(copy);
	return res;
}

static void relative(const char *file)
{
	char *rel = NULL, *parent, *joined = NULL;
	int ret = sfs_path_relative(root, file, &rel);
	size_t rl = strlen(root);

	if (ret) {
		if (rel || ret > 0)
			abort();
		return;
	}
	if (!rel || !path_ok(rel, strlen(rel)))
		abort();
	/* Accepted: FILE's directory really is ROOT or below it. */
	parent = parent_of(file);
	if (!parent || strncmp(parent, root, rl) ||
	    (parent[rl] != '\0' && parent[rl] != '/'))
		abort();
	/* And ROOT/REL names the same directory entry. */
	if (asprintf(&joined, "%s/%s", root, rel) < 0)
		abort();
	{
		char *jp = parent_of(joined);

		if (!jp || strcmp(jp, parent))
			abort();
		free(jp);
	}
	free(joined);
	free(parent);
	free(rel);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	char buf[PATH_MAX];

	if ((sfs_path_check(p, size) == 0) != path_ok(p, size))
		abort();
	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = '\0';
	if (buf[0])
		relative(buf);
	return 0;
}
