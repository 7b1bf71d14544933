// SPDX-License-Identifier: Apache-2.0
/*
 * The inbox verdict cache's table and memory budget
 * (src/inbox/inbox_vtab.c): over the budget it frees block tables, over
 * the entry bound whole entries, each down to half, and never the entry
 * just inserted, one with open handles, or one a caller still references.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "inbox/ib_cache.h"
#include "inbox/ib_vtab.h"

/* 8 blocks of 128 KiB: a 128-byte block table. */
#define SIZE (8 * INBOX_BLOCK)
#define TABLE (8 * INBOX_TAG)

static struct inbox_vfile *vf_new(const char *path, uint64_t epoch)
{
	struct inbox_vfile *vf = calloc(1, sizeof(*vf));

	assert_non_null(vf);
	vf->path = strdup(path);
	assert_non_null(vf->path);
	vf->path_len = strlen(path);
	vf->hnode.hash = XXH3_64bits(path, vf->path_len);
	atomic_init(&vf->refs, 1);
	vf->epoch = epoch;
	vf->content.size = SIZE;
	vf->blocks = calloc(8, INBOX_TAG);
	assert_non_null(vf->blocks);
	return vf;
}

static struct inbox_vfile *find(struct ib_vtab *t, const char *path)
{
	struct inbox_vfile *vf;

	pthread_mutex_lock(&t->lock);
	vf = ib_vtab_find_locked(t, XXH3_64bits(path, strlen(path)), path,
				 strlen(path));
	pthread_mutex_unlock(&t->lock);
	return vf;
}

/* Insert an entry for path; returned still referenced by the caller. */
static struct inbox_vfile *insert(struct ib_vtab *t, const char *path,
				  unsigned opens)
{
	struct inbox_vfile *vf = vf_new(path, 1);

	pthread_mutex_lock(&t->lock);
	vf->opens = opens;
	ib_vtab_insert_locked(t, vf);
	pthread_mutex_unlock(&t->lock);
	return vf;
}

static size_t tables_held(struct ib_vtab *t, size_t n)
{
	char path[32];
	size_t held = 0;

	for (size_t k = 0; k < n; k++) {
		struct inbox_vfile *vf;

		snprintf(path, sizeof(path), "f%zu", k);
		vf = find(t, path);
		held += vf && vf->blocks;
	}
	return held;
}

/* Over the block budget: tables go down to half of it; verdicts stay. */
static void test_block_budget(void **state)
{
	struct inbox_vfile *vf[10];
	struct ib_vtab t;
	char path[32];

	(void)state;
	assert_int_equal(ib_vtab_init(&t, 4 * TABLE, 1000), 0);
	for (size_t k = 0; k < 4; k++) {
		snprintf(path, sizeof(path), "f%zu", k);
		vf[k] = insert(&t, path, k == 1); /* f1 is open */
	}
	assert_int_equal(t.block_bytes, 4 * TABLE);
	assert_int_equal(tables_held(&t, 4), 4); /* at the budget: kept */

	vf[4] = insert(&t, "f4", 0);
	assert_true(t.block_bytes <= 2 * TABLE);
	assert_non_null(vf[4]->blocks); /* just inserted */
	assert_non_null(vf[1]->blocks); /* open */
	assert_int_equal(tables_held(&t, 5), 2);
	for (size_t k = 0; k < 5; k++) { /* the verdicts stay */
		snprintf(path, sizeof(path), "f%zu", k);
		assert_ptr_equal(find(&t, path), vf[k]);
	}
	/* The count matches what is held. */
	assert_int_equal(t.block_bytes, tables_held(&t, 5) * TABLE);
	for (size_t k = 0; k < 5; k++)
		inbox_vfile_put(vf[k]);
	ib_vtab_destroy(&t);
}

/* Over the entry bound: unused entries go, down to half the bound. */
static void test_entry_bound(void **state)
{
	struct inbox_vfile *held, *open, *last;
	struct ib_vtab t;
	char path[32];

	(void)state;
	assert_int_equal(ib_vtab_init(&t, 1u << 30, 8), 0);
	held = insert(&t, "f0", 0); /* a caller keeps its reference */
	open = insert(&t, "f1", 1);
	for (size_t k = 2; k < 8; k++) {
		snprintf(path, sizeof(path), "f%zu", k);
		inbox_vfile_put(insert(&t, path, 0));
	}
	assert_int_equal(t.tab.n, 8);
	last = insert(&t, "f8", 0);
	assert_true(t.tab.n <= 4);
	assert_ptr_equal(find(&t, "f1"), open);
	assert_ptr_equal(find(&t, "f8"), last);
	/* Gone from the table, still valid for the caller that holds it. */
	if (!find(&t, "f0"))
		assert_string_equal(held->path, "f0");
	inbox_vfile_put(held);
	inbox_vfile_put(open);
	inbox_vfile_put(last);
	ib_vtab_destroy(&t);
}

/* A new verdict for a path replaces the old, and its bytes with it. */
static void test_replace(void **state)
{
	struct inbox_vfile *a, *b;
	struct ib_vtab t;

	(void)state;
	assert_int_equal(ib_vtab_init(&t, 1u << 30, 1000), 0);
	a = insert(&t, "same", 0);
	b = insert(&t, "same", 0);
	assert_int_equal(t.tab.n, 1);
	assert_ptr_equal(find(&t, "same"), b);
	assert_int_equal(t.block_bytes, TABLE);
	assert_string_equal(a->path, "same"); /* still ours */
	inbox_vfile_put(a);
	inbox_vfile_put(b);
	ib_vtab_destroy(&t);
}

/* After a reload: old-epoch tables go unless open; entries stay. */
static void test_trim_stale(void **state)
{
	struct inbox_vfile *old, *open, *cur;
	struct ib_vtab t;

	(void)state;
	assert_int_equal(ib_vtab_init(&t, 1u << 30, 1000), 0);
	old = insert(&t, "old", 0);
	open = insert(&t, "open", 1);
	cur = insert(&t, "cur", 0);
	cur->epoch = 2;
	ib_vtab_trim_stale(&t, 2);
	assert_null(old->blocks);
	assert_non_null(open->blocks);
	assert_non_null(cur->blocks);
	assert_int_equal(t.block_bytes, 2 * TABLE);
	assert_ptr_equal(find(&t, "old"), old);
	inbox_vfile_put(old);
	inbox_vfile_put(open);
	inbox_vfile_put(cur);
	ib_vtab_destroy(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_block_budget),
	    cmocka_unit_test(test_entry_bound),
	    cmocka_unit_test(test_replace),
	    cmocka_unit_test(test_trim_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
