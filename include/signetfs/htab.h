/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A chained hash table of intrusive nodes: the caller embeds a struct
 * sfs_hnode in its entries, sets its hash, and owns locking and memory.
 * The inode table, the verdict cache, the inbox's nodes and its open
 * handles are all one of these.
 */
#ifndef SIGNETFS_HTAB_H
#define SIGNETFS_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sfs_hnode {
	struct sfs_hnode *next;
	uint64_t hash;
};

struct sfs_htab {
	struct sfs_hnode **slots;
	size_t nslots; /* a power of two */
	size_t n;
};

#define SFS_HTAB_ENTRY(node, type, member)                                     \
	((type *)(void *)((char *)(node)-offsetof(type, member)))

/* nslots: a power of two. 0 or -ENOMEM. */
int sfs_htab_init(struct sfs_htab *t, size_t nslots);
/* Frees the slots, not the entries. */
void sfs_htab_free(struct sfs_htab *t);
/*
 * The link to the first node with hash h that eq(node, key) accepts, or to
 * the NULL that ends its chain (where sfs_htab_add() would not put it).
 */
struct sfs_hnode **sfs_htab_find(struct sfs_htab *t, uint64_t h,
				 bool (*eq)(const struct sfs_hnode *n,
					    const void *key),
				 const void *key);
/*
 * Add n (n->hash set). The slots double when there are more nodes than
 * slots; when that allocation fails the chains get longer, still correct.
 */
void sfs_htab_add(struct sfs_htab *t, struct sfs_hnode *n);
/* Take out the node *link points at (from sfs_htab_find or a walk). */
struct sfs_hnode *sfs_htab_del(struct sfs_htab *t, struct sfs_hnode **link);
/* The link to node n itself, or NULL when n is not in t. */
struct sfs_hnode **sfs_htab_link(struct sfs_htab *t, struct sfs_hnode *n);

#endif
