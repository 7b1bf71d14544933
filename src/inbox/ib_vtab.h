/* SPDX-License-Identifier: Apache-2.0 */
/* The verdict cache's table: entries by path, within a memory budget. */
#ifndef SIGNETFS_INBOX_IB_VTAB_H
#define SIGNETFS_INBOX_IB_VTAB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "signetfs/htab.h"

struct inbox_vfile;

/*
 * Block tables are 16 bytes per 128 KiB: this budget covers 128 GiB of
 * verified content. Above it, tables of files nobody has open are dropped
 * and rebuilt (by hashing again) on their next open; verdicts stay.
 */
#define IB_BLOCK_BUDGET (16u << 20)
/* Entries are ~400 bytes; above this, unused ones are forgotten. */
#define IB_ENTRY_MAX 262144u

/*
 * One entry per path, each holding a reference of its inbox_vfile. An
 * insert that takes the table over a limit trims it to half that limit,
 * never touching the entry just inserted or one with open handles
 * (vf->opens): block tables first, whole entries only when there are too
 * many of them.
 */
struct ib_vtab {
	pthread_mutex_t lock; /* the table and every vf->opens */
	struct sfs_htab tab;  /* inbox_vfile.hnode, by path */
	size_t block_bytes;   /* of the block tables it holds */
	size_t block_budget;
	size_t entry_max;
};

int ib_vtab_init(struct ib_vtab *t, size_t block_budget, size_t entry_max);
void ib_vtab_destroy(struct ib_vtab *t);
/* The entry for path (h: XXH3 of it), not referenced; NULL if none. */
struct inbox_vfile *ib_vtab_find_locked(struct ib_vtab *t, uint64_t h,
					const char *path, size_t len);
/* Add vf (replacing the entry for its path), then keep to the budget. */
void ib_vtab_insert_locked(struct ib_vtab *t, struct inbox_vfile *vf);
/* Free the block tables of entries from another epoch nobody has open. */
void ib_vtab_trim_stale(struct ib_vtab *t, uint64_t epoch);

#endif
