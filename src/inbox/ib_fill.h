/* SPDX-License-Identifier: Apache-2.0 */
/* The page cache filled while a file is verified. */
#ifndef SIGNETFS_INBOX_IB_FILL_H
#define SIGNETFS_INBOX_IB_FILL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fuse/sfuse.h"

struct inbox;
struct ib_node;

/*
 * Before a fresh file is hashed, its node is made known to the kernel
 * through a file handle only this daemon's thread can resolve, and each
 * chunk the verification reads is stored into that inode's page cache
 * (FUSE_NOTIFY_STORE). Nobody can read the inode before the lookup that
 * names it is answered, which happens only when the file verified; when
 * it did not, the pages are dropped. The first read then runs at page
 * cache speed instead of waiting for the verification, and then for
 * every block to be read, checked and copied again.
 */
struct inbox_fill {
	struct inbox *ib;
	struct ib_node *node;
	fuse_ino_t ino;
	uint64_t size;
	bool active;	/* the kernel knows the inode: store into it */
	int hfd;	/* holds the inode until after the reply */
	atomic_int err; /* a store failed: the cache is incomplete */
	atomic_uint_fast64_t stored;
};

/*
 * Set fill up for path (st: what BACKING holds) if it is worth it and
 * possible: a fresh node, a file that will be hashed (a .sig beside it,
 * no cached verdict), not audit mode, file handles allowed. fill->active
 * tells; inbox_fill_end() in every case.
 */
void inbox_fill_begin(struct inbox *ib, struct inbox_fill *fill,
		      const char *path, size_t len, const struct stat *st);
/*
 * LOOKUP of "." in node parent: the kernel resolving the handle made by
 * inbox_fill_begin(). Answered to that thread only; -ENOENT otherwise.
 */
int inbox_fill_lookup_self(struct inbox *ib, fuse_req_t req, fuse_ino_t parent,
			   struct fuse_entry_param *e);
/* From the hashing threads: bytes [off, off+len) as read. */
void inbox_fill_store(struct inbox_fill *fill, uint64_t off, const uint8_t *buf,
		      size_t len);
/* Verified (gen): keep the pages if all were stored, else drop them. */
void inbox_fill_end(struct inbox_fill *fill, bool verified, uint64_t gen);
/* After the LOOKUP reply: let the inode go (a moment later). */
void inbox_fill_release(struct inbox_fill *fill);
/* At unmount: close everything held. */
void inbox_fill_shutdown(void);

#endif
