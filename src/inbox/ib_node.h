/* SPDX-License-Identifier: Apache-2.0 */
/* The nodes the kernel knows, by mount path, and their page caches. */
#ifndef SIGNETFS_INBOX_IB_NODE_H
#define SIGNETFS_INBOX_IB_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fuse/sfuse.h"
#include "ib_dir.h"
#include "signetfs/htab.h"

struct inbox;

/* A node: the mount shows directories, files and their .sig. */
struct ib_node {
	struct sfs_hnode hnode; /* hash: XXH3 of path */
	char *path;		/* mount-relative, "" for the root */
	size_t len;
	enum inbox_dtype kind;
	uint64_t nlookup;
	bool hashed;
	/*
	 * The kernel page cache of this inode holds bytes of the verified
	 * version cache_gen at most; cached_opens handles read through it.
	 */
	uint64_t cache_gen;
	unsigned cached_opens;
	unsigned pins; /* the daemon's own references */
	/* The inode's generation in every reply (a fill's random one). */
	uint32_t generation;
};

int inbox_nodes_init(struct inbox *ib);
void inbox_nodes_destroy(struct inbox *ib);
struct ib_node *inbox_node_of(struct inbox *ib, fuse_ino_t ino);
fuse_ino_t inbox_ino_of(struct inbox *ib, struct ib_node *n);
/* The node for (path, kind) with one more lookup counted; NULL: ENOMEM. */
struct ib_node *inbox_node_get(struct inbox *ib, const char *path, size_t len,
			       enum inbox_dtype kind);
void inbox_node_forget(struct inbox *ib, fuse_ino_t ino, uint64_t nlookup);
/*
 * A new node for a file path that has none (so the kernel has no inode
 * for it and nobody can have it open), pinned so no FORGET frees it, and
 * kept out of the table: no lookup or listing can name it until
 * inbox_node_publish() puts it there, which fails if the path has a node
 * by then. NULL when the path has a node (or ENOMEM).
 */
struct ib_node *inbox_node_fresh(struct inbox *ib, const char *path, size_t len,
				 uint32_t generation);
bool inbox_node_publish(struct inbox *ib, struct ib_node *n);
void inbox_node_pin(struct inbox *ib, struct ib_node *n);
void inbox_node_unpin(struct inbox *ib, struct ib_node *n);
/* One more lookup of n counted (a reply naming it is about to be sent). */
void inbox_node_ref(struct inbox *ib, struct ib_node *n);
/* The inode's page cache holds version gen, whole: opens may keep it. */
void inbox_node_cache_filled(struct inbox *ib, struct ib_node *n, uint64_t gen);

/* A file or .sig entry the kernel knows: (parent, name) and its inode. */
struct inbox_known {
	fuse_ino_t parent;
	fuse_ino_t ino;
	char *name;
	size_t len;
};

/* Every file and .sig node with its parent; inbox_known_free() after. */
int inbox_nodes_known_files(struct inbox *ib, struct inbox_known **out,
			    size_t *n);
void inbox_known_free(struct inbox_known *k, size_t n);

enum inbox_cache_use {
	INBOX_CACHE_KEEP,   /* the page cache holds this version: keep it */
	INBOX_CACHE_FRESH,  /* drop what is cached, then cache this one */
	INBOX_CACHE_DIRECT, /* another version is being read: bypass */
};

/* Count a handle of version gen; _put undoes a KEEP or FRESH. */
enum inbox_cache_use inbox_node_cache_get(struct inbox *ib, struct ib_node *n,
					  uint64_t gen);
void inbox_node_cache_put(struct inbox *ib, struct ib_node *n);

#endif
