// SPDX-License-Identifier: Apache-2.0
/* signetfs status: a running mount's counters, for people or Prometheus. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>

#include <json-c/json.h>

#include "cli.h"
#include "signetfs/stats.h"
#include "signetfs/util.h"

/*
 * Prometheus names (prometheus.io/docs/practices/naming): the signetfs_
 * prefix, the unit in the name (bytes, seconds, files), _total on every
 * counter and on nothing else.
 */
static const struct {
	const char *key; /* in the daemon's JSON */
	const char *metric;
	const char *type;
	const char *help;
} metrics[] = {
    {"files_signed", "signetfs_files_signed_total", "counter",
     "Signatures written by the outbox."},
    {"sign_failed", "signetfs_sign_failures_total", "counter",
     "Outbox closes that failed with EIO because signing failed."},
    {"sign_refused", "signetfs_sign_refusals_total", "counter",
     "Outbox files left unsigned on purpose (killed writer, policy)."},
    {"files_verified", "signetfs_files_verified_total", "counter",
     "Inbox verifications that passed."},
    {"files_denied", "signetfs_files_denied_total", "counter",
     "Inbox files hidden because they failed verification."},
    {"verify_cache_hits", "signetfs_verify_cache_hits_total", "counter",
     "Inbox lookups answered from the verification cache."},
    {"verify_cache_misses", "signetfs_verify_cache_misses_total", "counter",
     "Inbox lookups that had to verify."},
    {"bytes_hashed", "signetfs_hashed_bytes_total", "counter",
     "File content hashed, to sign (outbox) or to verify (inbox)."},
    {"hsm_ops", "signetfs_hsm_operations_total", "counter",
     "Signing operations sent to the token."},
    {"prewarm_done", "signetfs_prewarm_checked_files", "gauge",
     "Files checked so far by --prewarm."},
    {"prewarm_total", "signetfs_prewarm_found_files", "gauge",
     "Files found so far by --prewarm."},
    {"bytes_filled", "signetfs_page_cache_filled_bytes_total", "counter",
     "Inbox file content put in the page cache while it was verified."},
    {"bytes_read", "signetfs_read_bytes_total", "counter",
     "Inbox file content served by read requests."},
    {"state_hits", "signetfs_state_verdict_hits_total", "counter",
     "Inbox verdicts taken from the state directory (not hashed again)."},
};

#define HIST "signetfs_hsm_sign_duration_seconds"

/* One mount's counters, parsed, and the labels of its samples. */
struct mount_stats {
	const char *arg; /* as typed */
	char *path;	 /* absolute: the mountpoint label */
	struct json_object *o;
	const char *mode;
};

static void usage(FILE *f)
{
	fprintf(f, "usage: signetfs status [--prometheus | --json] "
		   "MOUNTPOINT...\n\n"
		   "Counters of the signetfs daemon serving each MOUNTPOINT "
		   "(read from the xattr\n" SFS_STATS_XATTR " of its root).\n"
		   "  --prometheus  Prometheus text format, every mount in one "
		   "exposition\n"
		   "                (node_exporter's textfile collector)\n"
		   "  --json        the daemon's JSON as is, one line per "
		   "mount\n");
}

static uint64_t get_u64(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v)
		   ? (uint64_t)json_object_get_int64(v)
		   : 0;
}

/* Label values: backslash, double quote and newline are escaped. */
static void label(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			printf("\\%c", *s);
		else if (*s == '\n')
			printf("\\n");
		else
			putchar(*s);
	}
}

static void labels(const struct mount_stats *m, const char *extra)
{
	printf("{mountpoint=\"");
	label(m->path);
	printf("\",mode=\"");
	label(m->mode);
	printf("\"%s}", extra ? extra : "");
}

static void histogram(const struct mount_stats *m)
{
	struct json_object *lat, *buckets;
	uint64_t cum = 0;
	char le[64];

	if (!json_object_object_get_ex(m->o, "hsm_latency_us", &lat) ||
	    !json_object_object_get_ex(lat, "buckets", &buckets))
		return;
	for (size_t b = 0;
	     b <= SFS_LAT_BUCKETS && b < json_object_array_length(buckets);
	     b++) {
		cum += (uint64_t)json_object_get_int64(
		    json_object_array_get_idx(buckets, b));
		if (b < SFS_LAT_BUCKETS)
			snprintf(le, sizeof(le), ",le=\"%g\"",
				 (double)sfs_lat_bounds_us[b] / 1e6);
		else
			snprintf(le, sizeof(le), ",le=\"+Inf\"");
		printf(HIST "_bucket");
		labels(m, le);
		printf(" %llu\n", (unsigned long long)cum);
	}
	printf(HIST "_sum");
	labels(m, NULL);
	printf(" %.6f\n", (double)get_u64(lat, "sum") / 1e6);
	printf(HIST "_count");
	labels(m, NULL);
	printf(" %llu\n", (unsigned long long)cum);
}

/* Each family once, with the samples of every mount in it. */
static void prometheus(const struct mount_stats *ms, int n)
{
	for (size_t i = 0; i < ARRAY_SIZE(metrics); i++) {
		printf("# HELP %s %s\n# TYPE %s %s\n", metrics[i].metric,
		       metrics[i].help, metrics[i].metric, metrics[i].type);
		for (int k = 0; k < n; k++) {
			printf("%s", metrics[i].metric);
			labels(&ms[k], NULL);
			printf(" %llu\n", (unsigned long long)get_u64(
					      ms[k].o, metrics[i].key));
		}
	}
	printf("# HELP " HIST " Time the token took per signature.\n"
	       "# TYPE " HIST " histogram\n");
	for (int k = 0; k < n; k++)
		histogram(&ms[k]);
}

static void human(const struct mount_stats *m)
{
	struct sfs_stats s = {0};
	struct json_object *lat, *buckets;

	printf("%s (%s)\n", m->path, m->mode);
	for (size_t i = 0; i < ARRAY_SIZE(metrics); i++)
		printf("  %-22s %llu\n", metrics[i].key,
		       (unsigned long long)get_u64(m->o, metrics[i].key));
	if (json_object_object_get_ex(m->o, "hsm_latency_us", &lat) &&
	    json_object_object_get_ex(lat, "buckets", &buckets)) {
		for (size_t b = 0; b <= SFS_LAT_BUCKETS &&
				   b < json_object_array_length(buckets);
		     b++)
			s.lat[b] = (uint64_t)json_object_get_int64(
			    json_object_array_get_idx(buckets, b));
		printf("  %-22s p50 <= %llu us, p99 <= %llu us\n",
		       "hsm_latency",
		       (unsigned long long)sfs_stats_quantile(&s, 0.5),
		       (unsigned long long)sfs_stats_quantile(&s, 0.99));
	}
}

/* Read MNT's counters; with JSON, print them as they are. */
static int load(struct mount_stats *m, bool json)
{
	char buf[8192];
	struct json_object *v;
	ssize_t n;

	n = getxattr(m->arg, SFS_STATS_XATTR, buf, sizeof(buf) - 1);
	if (n < 0) {
		cli_error("status", "%s: %s", m->arg,
			  errno == ENODATA || errno == ENOTSUP
			      ? "not a signetfs mount"
			      : strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	if (json) {
		printf("%s\n", buf);
		return 0;
	}
	m->o = json_tokener_parse(buf);
	if (!m->o) {
		cli_error("status", "%s: unreadable counters from the daemon",
			  m->arg);
		return -1;
	}
	/* A label a scraper can tell apart from every other mount's. */
	m->path = realpath(m->arg, NULL);
	m->mode = json_object_object_get_ex(m->o, "mode", &v)
		      ? json_object_get_string(v)
		      : "?";
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"prometheus", no_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct mount_stats *ms;
	bool prom = false, json = false;
	int c, n, ret = SFS_EXIT_OK;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			prom = true;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return SFS_EXIT_OK;
		default:
			usage(stderr);
			return SFS_EXIT_USAGE;
		}
	}
	n = argc - optind;
	if (n < 1 || (prom && json)) {
		usage(stderr);
		return SFS_EXIT_USAGE;
	}
	ms = calloc((size_t)n, sizeof(*ms));
	if (!ms) {
		cli_error("status", "out of memory");
		return SFS_EXIT_USAGE;
	}
	/* All or nothing: a partial exposition would hide a mount. */
	for (int k = 0; k < n && ret == SFS_EXIT_OK; k++) {
		ms[k].arg = argv[optind + k];
		if (load(&ms[k], json) ||
		    (!json && !ms[k].path && !(ms[k].path = strdup(ms[k].arg))))
			ret = SFS_EXIT_USAGE;
	}
	if (ret == SFS_EXIT_OK && prom)
		prometheus(ms, n);
	for (int k = 0; ret == SFS_EXIT_OK && !prom && !json && k < n; k++)
		human(&ms[k]);
	for (int k = 0; k < n; k++) {
		json_object_put(ms[k].o);
		free(ms[k].path);
	}
	free(ms);
	return ret;
}
