// SPDX-License-Identifier: Apache-2.0
/*
 * Run n independent jobs on a few threads, each taking the next index;
 * and close fds on threads of their own (sfs_closer).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "signetfs/util.h"

struct pool {
	void (*fn)(size_t i, void *ctx);
	void *ctx;
	size_t n;
	size_t next; /* atomic: next job to take */
	const atomic_bool *stop;
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((!p->stop || !atomic_load(p->stop)) &&
	       (i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->n)
		p->fn(i, p->ctx);
	return NULL;
}

unsigned sfs_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned)n : 1;
}

uint64_t sfs_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void sfs_parallel(size_t n, unsigned threads, void (*fn)(size_t i, void *ctx),
		  void *ctx, const atomic_bool *stop)
{
	struct pool p = {fn, ctx, n, 0, stop};
	pthread_t *t;
	unsigned started = 0;

	if (threads < 1)
		threads = 1;
	if (threads > n)
		threads = n ? (unsigned)n : 1;
	t = calloc(threads, sizeof(*t));
	for (unsigned i = 1; t && i < threads; i++) {
		if (pthread_create(&t[i], NULL, worker, &p) != 0)
			break;
		started = i;
	}
	worker(&p); /* this thread works too; also the fallback */
	for (unsigned i = 1; t && i <= started; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/*
 * A bounded queue of fds and the threads that close them. Closing the
 * last reference to a file that was renamed over or unlinked frees it
 * then and there: on ext4 mounted with discard (and without a journal)
 * that close waits for the device to discard the file's blocks.
 */
struct sfs_closer {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int *fds; /* ring of max, under lock */
	size_t max, head, n;
	bool stop;
	unsigned nthreads;
	pthread_t *t;
};

static void *closer_main(void *arg)
{
	struct sfs_closer *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		int fd;

		while (!c->n && !c->stop)
			pthread_cond_wait(&c->cv, &c->lock);
		if (!c->n)
			break; /* stopped and drained */
		fd = c->fds[c->head];
		c->head = (c->head + 1) % c->max;
		c->n--;
		pthread_mutex_unlock(&c->lock);
		close(fd);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

struct sfs_closer *sfs_closer_new(unsigned threads, size_t max)
{
	struct sfs_closer *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->max = max ? max : 1;
	c->fds = calloc(c->max, sizeof(*c->fds));
	c->t = calloc(threads ? threads : 1, sizeof(*c->t));
	if (!c->fds || !c->t) {
		free(c->fds);
		free(c->t);
		free(c);
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cv, NULL);
	for (unsigned i = 0; i < (threads ? threads : 1); i++) {
		if (pthread_create(&c->t[i], NULL, closer_main, c) != 0)
			break;
		c->nthreads++;
	}
	return c;
}

void sfs_closer_put(struct sfs_closer *c, int fd)
{
	bool queued = false;

	if (fd < 0)
		return;
	if (c && c->nthreads) {
		pthread_mutex_lock(&c->lock);
		if (c->n < c->max && !c->stop) {
			c->fds[(c->head + c->n) % c->max] = fd;
			c->n++;
			queued = true;
			pthread_cond_signal(&c->cv);
		}
		pthread_mutex_unlock(&c->lock);
	}
	if (!queued)
		close(fd); /* no thread, or the queue is full: here and now */
}

void sfs_closer_free(struct sfs_closer *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stop = true;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
	for (unsigned i = 0; i < c->nthreads; i++)
		pthread_join(c->t[i], NULL);
	/* Without threads nothing was queued; with them all is closed. */
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->cv);
	free(c->fds);
	free(c->t);
	free(c);
}
