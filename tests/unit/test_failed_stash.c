// SPDX-License-Identifier: Apache-2.0
/*
 * The outbox's write-failed stash (src/outbox/outbox_inode.c): a file
 * whose write to BACKING failed must stay unsignable even after the kernel
 * forgets its inode and the outbox frees the state that held the flag.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outbox/ob_inode.h"
#include "outbox/outbox.h"

static struct outbox *new_outbox(void)
{
	struct outbox *ob = calloc(1, sizeof(*ob));

	assert_non_null(ob);
	pthread_mutex_init(&ob->failed_lock, NULL);
	return ob;
}

static void free_outbox(struct outbox *ob)
{
	free(ob->failed);
	pthread_mutex_destroy(&ob->failed_lock);
	free(ob);
}

/* A backing inode as the table would hand it over: no state yet. */
static struct ob_inode *state_of(struct outbox *ob, struct bk_inode *i,
				 dev_t dev, ino_t ino)
{
	memset(i, 0, sizeof(*i));
	i->dev = dev;
	i->ino = ino;
	return ob_inode_state(ob, i);
}

static struct ob_inode *failed_inode(struct outbox *ob, struct bk_inode *i,
				     dev_t dev, ino_t ino, const char *why)
{
	struct ob_inode *s = state_of(ob, i, dev, ino);

	assert_non_null(s);
	assert_false(s->write_failed);
	ob_write_failed_locked(s, "%s", why);
	ob_write_failed_locked(s, "a later failure"); /* the first says why */
	assert_true(s->write_failed);
	assert_string_equal(s->write_failed_why, why);
	return s;
}

/* Freed with the flag: the next state for the same file has it again. */
static void test_free_restores(void **state)
{
	struct outbox *ob = new_outbox();
	struct bk_inode i;
	struct ob_inode *s;

	(void)state;
	s = failed_inode(ob, &i, 3, 100, "short write");
	ob_inode_free(s);
	assert_true(ob_write_failed_stashed(ob, 3, 100));
	assert_false(ob_write_failed_stashed(ob, 3, 101));
	assert_false(ob_write_failed_stashed(ob, 4, 100));

	s = state_of(ob, &i, 3, 100);
	assert_true(s->write_failed);
	assert_string_equal(s->write_failed_why, "short write");
	/* Restored once: the stash no longer holds it. */
	assert_false(ob_write_failed_stashed(ob, 3, 100));
	ob_inode_free(s);

	/* Another file with the same inode number elsewhere is clean. */
	s = state_of(ob, &i, 4, 100);
	assert_false(s->write_failed);
	ob_inode_free(s);
	free_outbox(ob);
}

/*
 * Detached (forgotten while pinned): stashed at once, and not twice when
 * the old state is freed later.
 */
static void test_detach_once(void **state)
{
	struct outbox *ob = new_outbox();
	struct bk_inode i, j;
	struct ob_inode *s, *t;

	(void)state;
	s = failed_inode(ob, &i, 3, 7, "EIO");
	ob_inode_detach(s);
	assert_true(ob_write_failed_stashed(ob, 3, 7));
	t = state_of(ob, &j, 3, 7); /* a lookup meanwhile */
	assert_true(t->write_failed);
	ob_inode_free(s);
	assert_false(ob_write_failed_stashed(ob, 3, 7));
	ob_inode_free(t);
	assert_true(ob_write_failed_stashed(ob, 3, 7));
	free_outbox(ob);
}

/* Reset (emptied) before it is forgotten: nothing to remember. */
static void test_reset(void **state)
{
	struct outbox *ob = new_outbox();
	struct bk_inode i;
	struct ob_inode *s;

	(void)state;
	s = failed_inode(ob, &i, 1, 1, "ENOSPC");
	ob_write_reset_locked(s);
	assert_false(s->write_failed);
	ob_inode_free(s);
	assert_false(ob_write_failed_stashed(ob, 1, 1));
	free_outbox(ob);
}

/* Its last name was removed: the stash forgets it. */
static void test_forget(void **state)
{
	struct outbox *ob = new_outbox();
	struct bk_inode i;

	(void)state;
	ob_write_failed_stash(ob, 9, 9, "EIO");
	ob_write_failed_stash(ob, 9, 10, "EIO");
	ob_write_failed_forget(ob, 9, 9);
	assert_false(ob_write_failed_stashed(ob, 9, 9));
	assert_true(ob_write_failed_stashed(ob, 9, 10));
	ob_inode_free(state_of(ob, &i, 9, 9));
	assert_false(ob_write_failed_stashed(ob, 9, 9));
	free_outbox(ob);
}

/* Many at once: it grows, and each comes back to its own file. */
static void test_many(void **state)
{
	struct outbox *ob = new_outbox();
	struct bk_inode i;
	char why[32];

	(void)state;
	for (ino_t n = 1; n <= 1000; n++) {
		snprintf(why, sizeof(why), "failure %ju", (uintmax_t)n);
		ob_inode_free(failed_inode(ob, &i, 5, n, why));
	}
	for (long n = 1000; n >= 1; n -= 3) {
		struct ob_inode *s = state_of(ob, &i, 5, (ino_t)n);

		snprintf(why, sizeof(why), "failure %ld", n);
		assert_true(s->write_failed);
		assert_string_equal(s->write_failed_why, why);
		ob_write_reset_locked(s);
		ob_inode_free(s);
	}
	for (ino_t n = 1; n <= 1000; n++)
		assert_int_equal(ob_write_failed_stashed(ob, 5, n),
				 (1000 - n) % 3 != 0);
	free_outbox(ob);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_free_restores),
	    cmocka_unit_test(test_detach_once),
	    cmocka_unit_test(test_reset),
	    cmocka_unit_test(test_forget),
	    cmocka_unit_test(test_many),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
