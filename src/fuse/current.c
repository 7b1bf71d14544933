// SPDX-License-Identifier: Apache-2.0
/* The reloadable configuration in force, pinned by operations (sfuse.h). */
#include "sfuse.h"

void sfuse_current_init(struct sfuse_current *c, struct sfuse_ref *first)
{
	pthread_mutex_init(&c->lock, NULL);
	c->cur = first;
}

struct sfuse_ref *sfuse_current_get(struct sfuse_current *c)
{
	struct sfuse_ref *r;

	/* Under the lock: a swap cannot put it to zero between load and +1. */
	pthread_mutex_lock(&c->lock);
	r = c->cur;
	atomic_fetch_add(&r->refs, 1);
	pthread_mutex_unlock(&c->lock);
	return r;
}

void sfuse_ref_put(struct sfuse_ref *r)
{
	if (r && atomic_fetch_sub(&r->refs, 1) == 1)
		r->release(r);
}

void sfuse_current_swap(struct sfuse_current *c, struct sfuse_ref *n)
{
	struct sfuse_ref *old;

	pthread_mutex_lock(&c->lock);
	old = c->cur;
	c->cur = n;
	pthread_mutex_unlock(&c->lock);
	sfuse_ref_put(old);
}

void sfuse_current_destroy(struct sfuse_current *c)
{
	sfuse_ref_put(c->cur);
	c->cur = NULL;
	pthread_mutex_destroy(&c->lock);
}
