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

static const struct {
	const char *key;	/* in the daemon's JSON */
	const char *metric;
	const char *type;
	const char *help;
} metrics[] = {
	{"files_signed", "signetfs_files_signed_total", "counter",
	 "Signatures written by the outbox."},
	{"sign_failed", "signetfs_sign_failed_total", "counter",
	 "Closes that failed with EIO because signing failed."},
	{"sign_refused", "signetfs_sign_refused_total", "counter",
	 "Files not signed on purpose (killed writer, policy)."},
	{"files_verified", "signetfs_files_verified_total", "counter",
	 "Inbox verifications that passed."},
	{"files_denied", "signetfs_files_denied_total", "counter",
	 "Inbox files hidden because they failed verification."},
	{"verify_cache_hits", "signetfs_verify_cache_hits_total", "counter",
	 "Inbox lookups answered from the verification cache."},
	{"verify_cache_misses", "signetfs_verify_cache_misses_total",
	 "counter", "Inbox lookups that had to verify."},
	{"bytes_hashed", "signetfs_bytes_hashed_total", "counter",
	 "Bytes hashed for signing or verification."},
	{"hsm_ops", "signetfs_hsm_operations_total", "counter",
	 "Signing operations sent to the token."},
	{"prewarm_done", "signetfs_prewarm_done_files", "gauge",
	 "Files checked so far by --prewarm."},
	{"prewarm_total", "signetfs_prewarm_total_files", "gauge",
	 "Files found by --prewarm."},
	{"bytes_filled", "signetfs_bytes_filled_total", "counter",
	 "Inbox bytes put in the page cache while verifying."},
	{"bytes_read", "signetfs_bytes_read_total", "counter",
	 "Inbox file bytes served by read requests."},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: signetfs status [--prometheus | --json] MOUNTPOINT\n\n"
		   "Counters of the signetfs daemon serving MOUNTPOINT (read "
		   "from the xattr\n" SFS_STATS_XATTR " of its root).\n"
		   "  --prometheus  Prometheus text format (node_exporter "
		   "textfile collector)\n"
		   "  --json        the daemon's JSON as is\n");
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

static void labels(const char *mnt, const char *mode, const char *extra)
{
	printf("{mountpoint=\"");
	label(mnt);
	printf("\",mode=\"");
	label(mode);
	printf("\"%s}", extra ? extra : "");
}

static void prometheus(struct json_object *o, const char *mnt)
{
	struct json_object *lat, *buckets;
	const char *mode = "";
	struct json_object *m;
	uint64_t cum = 0, sum;
	char le[64];

	if (json_object_object_get_ex(o, "mode", &m))
		mode = json_object_get_string(m);
	for (size_t i = 0; i < ARRAY_SIZE(metrics); i++) {
		printf("# HELP %s %s\n# TYPE %s %s\n%s", metrics[i].metric,
		       metrics[i].help, metrics[i].metric, metrics[i].type,
		       metrics[i].metric);
		labels(mnt, mode, NULL);
		printf(" %llu\n", (unsigned long long)get_u64(o, metrics[i].key));
	}
	if (!json_object_object_get_ex(o, "hsm_latency_us", &lat) ||
	    !json_object_object_get_ex(lat, "buckets", &buckets))
		return;
	sum = get_u64(lat, "sum");
	printf("# HELP signetfs_hsm_sign_duration_seconds Time the token "
	       "took per signature.\n"
	       "# TYPE signetfs_hsm_sign_duration_seconds histogram\n");
	for (size_t b = 0; b <= SFS_LAT_BUCKETS &&
			   b < json_object_array_length(buckets);
	     b++) {
		cum += (uint64_t)json_object_get_int64(
			json_object_array_get_idx(buckets, b));
		if (b < SFS_LAT_BUCKETS)
			snprintf(le, sizeof(le), ",le=\"%g\"",
				 (double)sfs_lat_bounds_us[b] / 1e6);
		else
			snprintf(le, sizeof(le), ",le=\"+Inf\"");
		printf("signetfs_hsm_sign_duration_seconds_bucket");
		labels(mnt, mode, le);
		printf(" %llu\n", (unsigned long long)cum);
	}
	printf("signetfs_hsm_sign_duration_seconds_sum");
	labels(mnt, mode, NULL);
	printf(" %.6f\n", (double)sum / 1e6);
	printf("signetfs_hsm_sign_duration_seconds_count");
	labels(mnt, mode, NULL);
	printf(" %llu\n", (unsigned long long)cum);
}

static void human(struct json_object *o, const char *mnt)
{
	struct sfs_stats s = {0};
	struct json_object *lat, *buckets, *m;

	printf("%s (%s)\n", mnt,
	       json_object_object_get_ex(o, "mode", &m)
		       ? json_object_get_string(m)
		       : "?");
	for (size_t i = 0; i < ARRAY_SIZE(metrics); i++)
		printf("  %-22s %llu\n", metrics[i].key,
		       (unsigned long long)get_u64(o, metrics[i].key));
	if (json_object_object_get_ex(o, "hsm_latency_us", &lat) &&
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

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"prometheus", no_argument, NULL, 'p'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char buf[8192];
	struct json_object *o;
	bool prom = false, json = false;
	ssize_t n;
	int c;

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
	if (argc - optind != 1) {
		usage(stderr);
		return SFS_EXIT_USAGE;
	}
	n = getxattr(argv[optind], SFS_STATS_XATTR, buf, sizeof(buf) - 1);
	if (n < 0) {
		cli_error("status", "%s: %s", argv[optind],
			  errno == ENODATA || errno == ENOTSUP
				  ? "not a signetfs mount"
				  : strerror(errno));
		return SFS_EXIT_USAGE;
	}
	buf[n] = '\0';
	if (json) {
		printf("%s\n", buf);
		return SFS_EXIT_OK;
	}
	o = json_tokener_parse(buf);
	if (!o) {
		cli_error("status", "unreadable counters from the daemon");
		return SFS_EXIT_USAGE;
	}
	if (prom)
		prometheus(o, argv[optind]);
	else
		human(o, argv[optind]);
	json_object_put(o);
	return SFS_EXIT_OK;
}
