/* SPDX-License-Identifier: Apache-2.0 */
/* The running digest: a file hashed as it is written, in order. */
#ifndef SIGNETFS_OUTBOX_OB_DIGEST_H
#define SIGNETFS_OUTBOX_OB_DIGEST_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signetfs/digest.h"

struct ob_chunk;

/* The largest WRITE the kernel sends (outbox.c sets max_write at INIT). */
#define OB_MAX_WRITE (1U << 20)

/*
 * Running digest of a file written from offset 0 on: valid (ok) while it
 * covers bytes [0, off) of the file and the parked chunks the bytes after
 * them. Its own lock, taken after bk_inode.lock or alone, so that hashing
 * runs in parallel with other writes' pwrite. epoch changes with every
 * truncation: a write fed with an older epoch was truncated away.
 */
struct ob_rdigest {
	pthread_mutex_t lock;
	struct sfs_hash *h;
	bool ok;
	uint64_t off;
	uint64_t epoch;
	struct ob_chunk *pending; /* sorted by offset */
	size_t pending_bytes;
	/*
	 * A feeder is hashing outside the lock, up to off, which it claimed
	 * (h is its own meanwhile): the others park, and whatever reads or
	 * resets h waits for it (idle).
	 */
	bool hashing;
	pthread_cond_t idle;
};

void ob_rdigest_init(struct ob_rdigest *r);
void ob_rdigest_free(struct ob_rdigest *r);
/* The file is empty now (caller holds bk_inode.lock). */
void ob_rdigest_restart(struct ob_rdigest *r, enum sfs_md md);
/* The file was cut or extended to size (caller holds bk_inode.lock). */
void ob_rdigest_truncated(struct ob_rdigest *r, uint64_t size);
void ob_rdigest_invalidate(struct ob_rdigest *r);
/* Bytes that landed at off by a pwrite made at epoch. */
void ob_rdigest_feed(struct ob_rdigest *r, uint64_t epoch, const void *buf,
		     size_t len, uint64_t off);
/* The digest if it covers exactly size bytes; -ENODATA if not. */
int ob_rdigest_final(struct ob_rdigest *r, enum sfs_md md, uint64_t size,
		     struct sfs_digest *d);
bool ob_rdigest_ok(struct ob_rdigest *r);
/* Free the kept chunk buffers (at shutdown, no digest in use). */
void ob_rdigest_pool_drain(void);
uint64_t ob_rdigest_epoch(struct ob_rdigest *r);

#endif
