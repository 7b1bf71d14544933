// SPDX-License-Identifier: Apache-2.0
/* Running digests of files written in order, fed outside the inode lock. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ob_digest.h"
#include "outbox.h"

/*
 * Out-of-order chunks wait in memory until the gap before them fills
 * (the kernel's writeback sends up to max_background writes at once and
 * the worker threads race): at most this much per file, then the digest
 * is given up and the file re-read at close.
 */
#define OB_RUN_PENDING_MAX (32U << 20)

struct ob_chunk {
	struct ob_chunk *next;
	uint64_t off;
	size_t len;
	uint8_t data[]; /* OB_MAX_WRITE bytes when full_size(len) */
};

/*
 * Buffers of full-size chunks (the kernel's writeback sends max_write
 * at a time), kept for the next park instead of freed: glibc gives
 * memory this large back to the system at free, and touching it again
 * costs a page fault per page (a signed 1 GiB copy: ~95,000 faults,
 * 9.6% of the daemon's CPU). At most POOL_MAX are kept.
 */
#define POOL_MAX 16

/* A chunk kept for reuse: its buffer is OB_MAX_WRITE, at most twice len. */
static bool full_size(size_t len)
{
	return len > OB_MAX_WRITE / 2 && len <= OB_MAX_WRITE;
}

static struct {
	pthread_mutex_t lock; /* leaf lock */
	unsigned n;
	struct ob_chunk *v[POOL_MAX];
} pool = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct ob_chunk *chunk_new(size_t len)
{
	struct ob_chunk *c = NULL;
	bool big = full_size(len);

	if (big) {
		pthread_mutex_lock(&pool.lock);
		if (pool.n)
			c = pool.v[--pool.n];
		pthread_mutex_unlock(&pool.lock);
	}
	if (!c)
		c = malloc(sizeof(*c) + (big ? OB_MAX_WRITE : len));
	return c;
}

static void chunk_free(struct ob_chunk *c)
{
	if (c && full_size(c->len)) {
		pthread_mutex_lock(&pool.lock);
		if (pool.n < POOL_MAX) {
			pool.v[pool.n++] = c;
			c = NULL;
		}
		pthread_mutex_unlock(&pool.lock);
	}
	free(c);
}

void ob_rdigest_pool_drain(void)
{
	pthread_mutex_lock(&pool.lock);
	while (pool.n)
		free(pool.v[--pool.n]);
	pthread_mutex_unlock(&pool.lock);
}

static void drop_pending_locked(struct ob_rdigest *r)
{
	SFS_ASSERT_HELD(&r->lock);

	while (r->pending) {
		struct ob_chunk *c = r->pending;

		r->pending = c->next;
		chunk_free(c);
	}
	r->pending_bytes = 0;
}

void ob_rdigest_init(struct ob_rdigest *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->idle, NULL);
}

/* Until no feeder hashes outside the lock: h is ours again. */
static void wait_idle_locked(struct ob_rdigest *r)
{
	SFS_ASSERT_HELD(&r->lock);
	while (r->hashing)
		pthread_cond_wait(&r->idle, &r->lock);
}

void ob_rdigest_free(struct ob_rdigest *r)
{
	pthread_mutex_lock(&r->lock);
	wait_idle_locked(r);
	drop_pending_locked(r);
	pthread_mutex_unlock(&r->lock);
	sfs_hash_free(r->h);
	pthread_cond_destroy(&r->idle);
	pthread_mutex_destroy(&r->lock);
}

void ob_rdigest_restart(struct ob_rdigest *r, enum sfs_md md)
{
	pthread_mutex_lock(&r->lock);
	wait_idle_locked(r);
	drop_pending_locked(r);
	if (!r->h)
		r->h = sfs_hash_new(md);
	r->ok = r->h && sfs_hash_reset(r->h) == 0;
	r->off = 0;
	r->epoch++;
	pthread_mutex_unlock(&r->lock);
}

void ob_rdigest_truncated(struct ob_rdigest *r, uint64_t size)
{
	pthread_mutex_lock(&r->lock);
	wait_idle_locked(r);
	if (size != r->off || r->pending) {
		r->ok = false;
		drop_pending_locked(r);
	}
	r->epoch++;
	pthread_mutex_unlock(&r->lock);
}

void ob_rdigest_invalidate(struct ob_rdigest *r)
{
	pthread_mutex_lock(&r->lock);
	r->ok = false;
	drop_pending_locked(r);
	pthread_mutex_unlock(&r->lock);
}

static void give_up_locked(struct ob_rdigest *r)
{
	SFS_ASSERT_HELD(&r->lock);

	r->ok = false;
	drop_pending_locked(r);
}

/*
 * buf continues the digest at r->off: claim it, hash it outside the lock
 * (the kernel's other writeback writes park meanwhile and are answered,
 * instead of queueing on the lock behind a hash), then the parked chunks
 * it made contiguous, one at a time. Returns with the lock held.
 */
static void hash_in_order_locked(struct ob_rdigest *r, const void *buf,
				 size_t len)
{
	int err;

	SFS_ASSERT_HELD(&r->lock);
	r->hashing = true;
	r->off += len;
	pthread_mutex_unlock(&r->lock);
	err = sfs_hash_update(r->h, buf, len);
	pthread_mutex_lock(&r->lock);
	while (!err && r->ok && r->pending && r->pending->off <= r->off) {
		struct ob_chunk *c = r->pending;

		r->pending = c->next;
		r->pending_bytes -= c->len;
		if (c->off != r->off) {
			chunk_free(c);
			err = -EINVAL; /* overlap: the bytes may differ */
			break;
		}
		r->off += c->len;
		pthread_mutex_unlock(&r->lock);
		err = sfs_hash_update(r->h, c->data, c->len);
		chunk_free(c);
		pthread_mutex_lock(&r->lock);
	}
	r->hashing = false;
	pthread_cond_broadcast(&r->idle);
	if (err)
		give_up_locked(r);
}

static void park_locked(struct ob_rdigest *r, const void *buf, size_t len,
			uint64_t off)
{
	struct ob_chunk *c, *before = NULL, **pp = &r->pending;

	SFS_ASSERT_HELD(&r->lock);
	if (r->pending_bytes + len > OB_RUN_PENDING_MAX) {
		give_up_locked(r);
		return;
	}
	c = chunk_new(len);
	if (!c) {
		give_up_locked(r);
		return;
	}
	c->off = off;
	c->len = len;
	memcpy(c->data, buf, len);
	while (*pp && (*pp)->off < off) {
		before = *pp;
		pp = &(*pp)->next;
	}
	if ((before && before->off + before->len > off) ||
	    (*pp && (*pp)->off < off + len)) {
		chunk_free(c); /* overlaps a parked chunk */
		give_up_locked(r);
		return;
	}
	c->next = *pp;
	*pp = c;
	r->pending_bytes += len;
}

void ob_rdigest_feed(struct ob_rdigest *r, uint64_t epoch, const void *buf,
		     size_t len, uint64_t off)
{
	pthread_mutex_lock(&r->lock);
	/* A truncation since the pwrite removed these bytes again. */
	if (r->ok && epoch == r->epoch) {
		if (off == r->off && !r->hashing)
			hash_in_order_locked(r, buf, len);
		else if (off >= r->off)
			park_locked(r, buf, len, off);
		else
			give_up_locked(r);
	}
	pthread_mutex_unlock(&r->lock);
}

int ob_rdigest_final(struct ob_rdigest *r, enum sfs_md md, uint64_t size,
		     struct sfs_digest *d)
{
	struct sfs_hash *h = NULL;
	int ret = -ENODATA;

	pthread_mutex_lock(&r->lock);
	wait_idle_locked(r);
	if (r->ok && r->h && !r->pending && r->off == size)
		h = sfs_hash_dup(r->h);
	pthread_mutex_unlock(&r->lock);
	if (h) {
		ret = sfs_hash_final(h, d);
		if (ret == 0 && d->alg != md)
			ret = -ENODATA;
		sfs_hash_free(h);
	}
	return ret;
}

bool ob_rdigest_ok(struct ob_rdigest *r)
{
	bool ok;

	pthread_mutex_lock(&r->lock);
	ok = r->ok;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

uint64_t ob_rdigest_epoch(struct ob_rdigest *r)
{
	uint64_t e;

	pthread_mutex_lock(&r->lock);
	e = r->epoch;
	pthread_mutex_unlock(&r->lock);
	return e;
}
