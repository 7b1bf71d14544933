// SPDX-License-Identifier: Apache-2.0
/* Run N independent jobs on a few threads (sign/verify many files). */
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

struct pool {
	void (*fn)(size_t i, void *ctx);
	void *ctx;
	size_t n;
	size_t next;		/* atomic: next job to take */
};

static void *worker(void *arg)
{
	struct pool *p = arg;
	size_t i;

	while ((i = __atomic_fetch_add(&p->next, 1, __ATOMIC_RELAXED)) < p->n)
		p->fn(i, p->ctx);
	return NULL;
}

int cli_default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (int)n : 1;
}

void cli_parallel(size_t n, int threads, void (*fn)(size_t i, void *ctx),
		  void *ctx)
{
	struct pool p = {fn, ctx, n, 0};
	pthread_t *t;
	int started = 0;

	if (threads < 1)
		threads = 1;
	if ((size_t)threads > n)
		threads = n ? (int)n : 1;
	t = calloc((size_t)threads, sizeof(*t));
	for (int i = 1; t && i < threads; i++) {
		if (pthread_create(&t[i], NULL, worker, &p) != 0)
			break;
		started = i;
	}
	worker(&p); /* this thread works too; also the fallback */
	for (int i = 1; t && i <= started; i++)
		pthread_join(t[i], NULL);
	free(t);
}
