/* SPDX-License-Identifier: Apache-2.0 */
/* Versions of a backing file, and the hash pass that tags its blocks. */
#ifndef SIGNETFS_INBOX_IB_HASH_H
#define SIGNETFS_INBOX_IB_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "signetfs/digest.h"

/*
 * Served bytes are checked per block against keyed tags (AES-GMAC under a
 * per-mount secret key, digest.h) made in the same pass that computed the
 * signed digest. 128 KiB is the size of FUSE read requests here, so a
 * sequential read checks each block exactly once.
 */
#define INBOX_BLOCK_SHIFT 17
#define INBOX_BLOCK ((size_t)1 << INBOX_BLOCK_SHIFT)
#define INBOX_TAG SFS_BLOCKMAC_LEN

typedef uint8_t inbox_tag[INBOX_TAG];

/* The identity of one version of a backing file. */
struct inbox_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	bool present;
	/* Shown in attributes, not part of the identity (a chmod moves ctime).
	 */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	nlink_t nlink;
};

void inbox_stamp_of(const struct stat *st, struct inbox_stamp *s);
bool inbox_stamp_eq(const struct inbox_stamp *a, const struct inbox_stamp *b);

static inline size_t inbox_nblocks(uint64_t size)
{
	return (size_t)((size + INBOX_BLOCK - 1) >> INBOX_BLOCK_SHIFT);
}

/*
 * Whether a range of a file is in the page cache, asked without starting
 * a read of it: mincore(2) of a mapping when its answer is true (the
 * kernel answers only the file's owner or a process with CAP_FOWNER, and
 * claims "all cached" to others), else RWF_NOWAIT reads of the range's
 * first and last page (a miss starts the read of that one page: were it
 * the only probe, its own read could finish first and make a cold range
 * look cached).
 */
enum ib_probe { IB_PROBE_NOWAIT, IB_PROBE_MINCORE };

/* The probe that tells the truth for a file of this owner. */
enum ib_probe inbox_probe_for(uid_t owner);
/* off is page-aligned; len > 0. mincore falls back to NOWAIT if refused. */
bool inbox_range_cached(int fd, uint64_t off, size_t len, enum ib_probe how);

struct inbox_fill;
/*
 * Hash fd from 0 to size with alg, and tag each INBOX_BLOCK i under the
 * nonce (gen, i) into tags[inbox_nblocks(size)]. -EIO when the file is
 * shorter than size; the content is read exactly once.
 */
int inbox_hash_blocks(int fd, uint64_t size, enum sfs_md alg,
		      const struct sfs_blockmac *mac, uint64_t gen,
		      struct sfs_digest *digest, inbox_tag *tags,
		      struct inbox_fill *fill);

#endif
