// SPDX-License-Identifier: Apache-2.0
/* What the bench's yardstick loops share: a clock, a PIN file, threads. */
#ifndef SFS_BENCH_LOOP_H
#define SFS_BENCH_LOOP_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOOP_MAX_THREADS 256

static inline double loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The first line of file, without its newline; exits 1 if unreadable. */
static inline void loop_read_pin(const char *file, char *pin, size_t len)
{
	FILE *f = fopen(file, "re");

	if (!f || !fgets(pin, (int)len, f)) {
		perror(file);
		exit(1);
	}
	fclose(f);
	pin[strcspn(pin, "\r\n")] = '\0';
}

/*
 * *todo = n, then j threads of worker, which take from it until it runs
 * out; seconds. Exits 1 (naming prog) if a thread cannot start.
 */
static inline double loop_run(const char *prog, long *todo, long n, int j,
			      void *(*worker)(void *))
{
	pthread_t t[LOOP_MAX_THREADS];
	double t0;

	__atomic_store_n(todo, n, __ATOMIC_RELAXED);
	t0 = loop_now();
	for (int i = 0; i < j; i++)
		if (pthread_create(&t[i], NULL, worker, NULL)) {
			fprintf(stderr, "%s: pthread_create\n", prog);
			exit(1);
		}
	for (int i = 0; i < j; i++)
		pthread_join(t[i], NULL);
	return loop_now() - t0;
}

#endif
