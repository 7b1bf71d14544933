// SPDX-License-Identifier: Apache-2.0
/* Run n independent jobs on a few threads, each taking the next index. */
#include <pthread.h>
#include <stdlib.h>
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
