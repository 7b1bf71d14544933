// SPDX-License-Identifier: Apache-2.0
/*
 * The outbox's bounded O_PATH fds (src/outbox/backing.c): at most
 * max_cached unpinned inodes keep an fd, the least recently used is closed
 * first, a pinned one is never closed, and an evicted one opens again to
 * the same inode, or not at all, never to another file now at its name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outbox/backing.h"

#define NFILES 64
#define BOUND 8

struct fixture {
	char dir[64];
	struct backing bk;
	struct bk_inode *in[NFILES];
};

static void name_of(char *buf, size_t size, int k)
{
	snprintf(buf, size, "f%02d", k);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char path[128];

	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_backing_lru.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	for (int k = 0; k < NFILES; k++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%02d", f->dir, k);
		fd = open(path, O_CREAT | O_WRONLY | O_EXCL, 0644);
		if (fd < 0)
			return -1;
		close(fd);
	}
	if (bk_init(&f->bk, f->dir))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[128];

	bk_destroy(&f->bk);
	for (int k = 0; k < NFILES; k++) {
		snprintf(path, sizeof(path), "%s/f%02d", f->dir, k);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/moved", f->dir);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void lookup_all(struct fixture *f)
{
	struct fuse_entry_param e;
	char name[16];

	for (int k = 0; k < NFILES; k++) {
		name_of(name, sizeof(name), k);
		assert_int_equal(
		    bk_lookup(&f->bk, &f->bk.root, name, &e, &f->in[k]), 0);
		assert_int_equal(e.ino, bk_nodeid(&f->bk, f->in[k]));
	}
}

static size_t open_fds(struct fixture *f)
{
	size_t n = 0;

	for (int k = 0; k < NFILES; k++)
		n += f->in[k]->fd >= 0;
	return n;
}

/* Use inode k (pin, check it is inode k, unpin): it becomes the newest. */
static void use(struct fixture *f, int k)
{
	struct stat st;
	int fd = bk_pin(&f->bk, f->in[k]);

	assert_true(fd >= 0);
	assert_int_equal(fstatat(fd, "", &st, AT_EMPTY_PATH), 0);
	assert_int_equal(st.st_ino, f->in[k]->ino);
	bk_unpin(&f->bk, f->in[k]);
}

static bool handles_or_skip(struct fixture *f)
{
	if (!f->bk.handles) {
		print_message("no file handles here (not root?): skipped\n");
		skip();
		return false;
	}
	f->bk.max_cached = BOUND;
	return true;
}

/* The bound holds, and the fds kept are the most recently used ones. */
static void test_bound_and_order(void **state)
{
	struct fixture *f = *state;

	if (!handles_or_skip(f))
		return;
	lookup_all(f);
	assert_int_equal(f->bk.n_cached, BOUND);
	assert_int_equal(open_fds(f), BOUND);
	for (int k = 0; k < NFILES; k++)
		assert_int_equal(f->in[k]->fd >= 0, k >= NFILES - BOUND);

	/* Using an evicted one opens it again and makes it the newest. */
	use(f, 0);
	assert_int_equal(f->bk.n_reopened, 1);
	assert_true(f->in[0]->fd >= 0);
	assert_int_equal(f->in[NFILES - BOUND]->fd, -1); /* the oldest went */
	assert_int_equal(open_fds(f), BOUND);

	/* Using an open one reorders without reopening anything. */
	use(f, NFILES - BOUND + 1);
	assert_int_equal(f->bk.n_reopened, 1);
	for (int k = 1; k < BOUND - 1; k++)
		use(f, k);
	/* Newest first: k = 1..6, then NFILES-BOUND+1, then 0. */
	assert_true(f->in[NFILES - BOUND + 1]->fd >= 0);
	assert_true(f->in[0]->fd >= 0);
	use(f, BOUND - 1);
	assert_int_equal(f->in[0]->fd, -1);
	assert_true(f->in[NFILES - BOUND + 1]->fd >= 0);
	assert_int_equal(open_fds(f), BOUND);
}

/* A pinned fd is never closed, however many others are used meanwhile. */
static void test_pinned(void **state)
{
	struct fixture *f = *state;
	int fd, again;

	if (!handles_or_skip(f))
		return;
	lookup_all(f);
	fd = bk_pin(&f->bk, f->in[0]);
	assert_true(fd >= 0);
	for (int k = 1; k < NFILES; k++)
		use(f, k);
	assert_int_equal(f->in[0]->fd, fd);
	assert_int_not_equal(fcntl(fd, F_GETFD), -1);
	again = bk_pin(&f->bk, f->in[0]); /* pinned twice: the same fd */
	assert_int_equal(again, fd);
	bk_unpin(&f->bk, f->in[0]);
	bk_unpin(&f->bk, f->in[0]);
	/* Unpinned now: the bound counts it again. */
	assert_true(f->bk.n_cached <= BOUND);
}

/*
 * Evicted, then renamed: opens again by its handle. Evicted, then
 * replaced by another file under its name: never opens that file.
 */
static void test_reopen_identity(void **state)
{
	struct fixture *f = *state;
	char from[128], to[128];
	int fd;

	if (!handles_or_skip(f))
		return;
	lookup_all(f);
	assert_int_equal(f->in[1]->fd, -1);
	snprintf(from, sizeof(from), "%s/f01", f->dir);
	snprintf(to, sizeof(to), "%s/moved", f->dir);
	assert_int_equal(rename(from, to), 0);
	use(f, 1);
	assert_int_equal(rename(to, from), 0);

	/*
	 * The new file exists before the old one goes, so it cannot reuse
	 * the old inode number: an fd on it would show.
	 */
	assert_int_equal(f->in[2]->fd, -1);
	fd = open(to, O_CREAT | O_WRONLY | O_EXCL, 0644);
	assert_true(fd >= 0);
	close(fd);
	snprintf(from, sizeof(from), "%s/f02", f->dir);
	assert_int_equal(rename(to, from), 0);
	fd = bk_pin(&f->bk, f->in[2]);
	if (fd >= 0) {
		struct stat st;

		assert_int_equal(fstatat(fd, "", &st, AT_EMPTY_PATH), 0);
		assert_int_equal(st.st_ino, f->in[2]->ino);
		bk_unpin(&f->bk, f->in[2]);
	} else {
		assert_int_equal(fd, -ESTALE);
	}
}

/* Forgotten inodes leave the cache and its count. */
static void test_forget(void **state)
{
	struct fixture *f = *state;

	if (!handles_or_skip(f))
		return;
	lookup_all(f);
	for (int k = NFILES - 1; k >= 0; k--) {
		bk_forget(&f->bk, f->in[k], 1);
		f->in[k] = NULL;
	}
	assert_int_equal(f->bk.n_cached, 0);
	assert_int_equal(f->bk.inodes.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_bound_and_order, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_pinned, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_identity, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_forget, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
