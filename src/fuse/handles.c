// SPDX-License-Identifier: Apache-2.0
/* The handles each mount keeps for teardown (sfuse.h). */
#include <pthread.h>

#include "sfuse.h"

void sfuse_handle_add(struct sfuse_handles *hs, struct sfuse_handle *h)
{
	pthread_mutex_lock(&hs->lock);
	h->prev = NULL;
	h->next = hs->head;
	if (h->next)
		h->next->prev = h;
	hs->head = h;
	pthread_mutex_unlock(&hs->lock);
}

static void unlink_locked(struct sfuse_handles *hs, struct sfuse_handle *h)
{
	SFS_ASSERT_HELD(&hs->lock);

	if (h->prev)
		h->prev->next = h->next;
	else
		hs->head = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
}

void sfuse_handle_del(struct sfuse_handles *hs, struct sfuse_handle *h)
{
	pthread_mutex_lock(&hs->lock);
	unlink_locked(hs, h);
	pthread_mutex_unlock(&hs->lock);
}

struct sfuse_handle *sfuse_handle_pop(struct sfuse_handles *hs)
{
	struct sfuse_handle *h;

	pthread_mutex_lock(&hs->lock);
	h = hs->head;
	if (h)
		unlink_locked(hs, h);
	pthread_mutex_unlock(&hs->lock);
	return h;
}
