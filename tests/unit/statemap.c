// SPDX-License-Identifier: Apache-2.0
/*
 * A large version map, for scripts/bench-restart --map and the unit
 * suite: fill a state directory's inbox map with N entries (and the paths
 * read from stdin), then time random lookups (each checks its MAC) and
 * report the process's peak RSS, which must not grow with N.
 *   statemap fill DIR ROOT N     paths on stdin get version 1 as well
 *   statemap lookup DIR ROOT N [RANGE]
 *                                N random lookups of the first RANGE
 *                                synthetic entries: us per lookup, VmHWM
 *   statemap selftest N          both, in a temporary directory, and
 *                                fail when VmHWM >= 64 MiB or a lookup
 *                                does not find its entry
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "signetfs/state.h"

#define RSS_LIMIT_KIB (64 * 1024)

/*
 * AddressSanitizer keeps freed memory in quarantine and shadow memory
 * besides (533 MiB for this run): the limit is the product's, judged in
 * the plain build, and the sanitized one checks only what it finds.
 */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_JUDGED 0
#else
#define RSS_JUDGED 1
#endif

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long vm_hwm_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return kib;
}

static struct state_store *open_map(const char *dir, const char *root)
{
	struct state_store *st = NULL;
	struct sfs_error err = {0};

	if (state_open(dir, root, STATE_INBOX, 0, &st, &err)) {
		fprintf(stderr, "statemap: %s\n", err.msg);
		exit(2);
	}
	return st;
}

/* The i-th synthetic path: spread over directories like a real tree. */
static size_t path_of(unsigned long i, char *p, size_t cap)
{
	return (size_t)snprintf(p, cap, "map/d%03lu/pkg-%07lu.bin", i % 997, i);
}

static int fill(const char *dir, const char *root, unsigned long n)
{
	struct state_store *st = open_map(dir, root);
	char p[4096];
	double t0 = now();
	size_t len;
	unsigned long real = 0;

	if (state_batch_begin(st))
		return 2;
	while (!isatty(0) && fgets(p, sizeof(p), stdin)) {
		len = strcspn(p, "\n");
		if (len && state_version_raise(st, p, len, 1) == 0)
			real++;
	}
	for (unsigned long i = 0; i < n; i++) {
		len = path_of(i, p, sizeof(p));
		if (state_version_raise(st, p, len, 1 + i % 5)) {
			fprintf(stderr, "statemap: entry %lu failed\n", i);
			return 2;
		}
	}
	if (state_batch_end(st))
		return 2;
	printf("filled %lu entries (+%lu paths from stdin) in %.2f s\n", n,
	       real, now() - t0);
	state_close(st);
	return 0;
}

/* strict (selftest): every lookup must find its entry, VmHWM be read. */
static int lookup(const char *dir, const char *root, unsigned long n,
		  unsigned long range, bool strict)
{
	struct state_store *st = open_map(dir, root);
	unsigned long found = 0, total = 0;
	char p[256];
	double t0;
	uint64_t v;
	long hwm;

	state_version_count(st, &total);
	if (!range || range > total)
		range = total;
	srandom(42);
	t0 = now();
	for (unsigned long i = 0; i < n; i++) {
		size_t len =
		    path_of((unsigned long)random() % range, p, sizeof(p));

		found += state_version_get(st, p, len, &v) == 0;
	}
	t0 = now() - t0;
	hwm = vm_hwm_kib();
	printf("map of %lu entries: %lu random lookups (%lu found), %.2f us "
	       "per lookup (MAC checked), peak RSS %.1f MiB\n",
	       total, n, found, t0 * 1e6 / (double)n, (double)hwm / 1024);
	state_close(st);
	/* A map that lookups miss (or fail the MAC of) costs no memory. */
	if (strict && (found != n || hwm < 0)) {
		fprintf(stderr,
			"statemap: %lu of %lu lookups found, VmHWM %ld\n",
			found, n, hwm);
		return 1;
	}
	if (!RSS_JUDGED) {
		printf("peak RSS not judged under AddressSanitizer\n");
		return 0;
	}
	return hwm >= RSS_LIMIT_KIB ? 1 : 0;
}

int main(int argc, char **argv)
{
	char tmp[] = "/tmp/sfs-statemap-XXXXXX", dir[64], root[64], cmd[96];
	unsigned long n;
	int ret;

	if (argc == 3 && !strcmp(argv[1], "selftest")) {
		n = strtoul(argv[2], NULL, 10);
		if (!mkdtemp(tmp))
			return 2;
		snprintf(dir, sizeof(dir), "%s/state", tmp);
		snprintf(root, sizeof(root), "%s/root", tmp);
		mkdir(root, 0755);
		ret = fill(dir, root, n);
		if (!ret)
			ret = lookup(dir, root, n, n, true);
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
		if (system(cmd))
			ret = ret ? ret : 2;
		return ret;
	}
	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: statemap fill DIR ROOT N\n"
				"       statemap lookup DIR ROOT N [RANGE]\n"
				"       statemap selftest N\n");
		return 2;
	}
	n = strtoul(argv[4], NULL, 10);
	if (!strcmp(argv[1], "fill"))
		return fill(argv[2], argv[3], n);
	if (!strcmp(argv[1], "lookup"))
		return lookup(argv[2], argv[3], n,
			      argc == 6 ? strtoul(argv[5], NULL, 10) : 0,
			      false);
	return 2;
}
