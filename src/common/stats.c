// SPDX-License-Identifier: Apache-2.0
/* Daemon counters and an HSM latency histogram, lock-free. */
#include <stdio.h>
#include <string.h>

#include "signetfs/stats.h"

const uint64_t sfs_lat_bounds_us[SFS_LAT_BUCKETS] = {
    50,	   100,	  200,	  500,	  1000,	  2000,	   5000,    10000,
    20000, 50000, 100000, 200000, 500000, 1000000, 2000000, 5000000,
};

static const char *const names[SFS_C_COUNT_] = {
    [SFS_C_SIGNED] = "files_signed",
    [SFS_C_SIGN_FAILED] = "sign_failed",
    [SFS_C_SIGN_REFUSED] = "sign_refused",
    [SFS_C_DENIED] = "files_denied",
    [SFS_C_VERIFIED] = "files_verified",
    [SFS_C_CACHE_HIT] = "verify_cache_hits",
    [SFS_C_CACHE_MISS] = "verify_cache_misses",
    [SFS_C_BYTES_HASHED] = "bytes_hashed",
    [SFS_C_HSM_OPS] = "hsm_ops",
    [SFS_C_PREWARM_DONE] = "prewarm_done",
    [SFS_C_PREWARM_TOTAL] = "prewarm_total",
    [SFS_C_BYTES_FILLED] = "bytes_filled",
    [SFS_C_BYTES_READ] = "bytes_read",
    [SFS_C_STATE_HITS] = "state_hits",
};

void sfs_stats_add(struct sfs_stats *s, enum sfs_counter c, uint64_t n)
{
	__atomic_add_fetch(&s->c[c], n, __ATOMIC_RELAXED);
}

void sfs_stats_latency(struct sfs_stats *s, uint64_t us)
{
	size_t b = 0;

	while (b < SFS_LAT_BUCKETS && us > sfs_lat_bounds_us[b])
		b++;
	__atomic_add_fetch(&s->lat[b], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->lat_sum_us, us, __ATOMIC_RELAXED);
	__atomic_add_fetch(&s->c[SFS_C_HSM_OPS], 1, __ATOMIC_RELAXED);
}

uint64_t sfs_stats_quantile(const struct sfs_stats *s, double q)
{
	uint64_t total = 0, seen = 0;

	for (size_t b = 0; b <= SFS_LAT_BUCKETS; b++)
		total += __atomic_load_n(&s->lat[b], __ATOMIC_RELAXED);
	if (total == 0)
		return 0;
	for (size_t b = 0; b <= SFS_LAT_BUCKETS; b++) {
		seen += __atomic_load_n(&s->lat[b], __ATOMIC_RELAXED);
		if ((double)seen >= q * (double)total)
			return b < SFS_LAT_BUCKETS ? sfs_lat_bounds_us[b]
						   : UINT64_MAX;
	}
	return UINT64_MAX;
}

int sfs_stats_json(const struct sfs_stats *s, const char *mode, char *buf,
		   size_t len)
{
	size_t off = 0;
	int n;

#define PUT(...)                                                               \
	do {                                                                   \
		n = snprintf(buf + (off < len ? off : len),                    \
			     off < len ? len - off : 0, __VA_ARGS__);          \
		if (n < 0)                                                     \
			return -1;                                             \
		off += (size_t)n;                                              \
	} while (0)

	PUT("{\"v\":1,\"mode\":\"%s\"", mode);
	for (int i = 0; i < SFS_C_COUNT_; i++)
		PUT(",\"%s\":%llu", names[i],
		    (unsigned long long)__atomic_load_n(&s->c[i],
							__ATOMIC_RELAXED));
	PUT(",\"hsm_latency_us\":{\"sum\":%llu,\"buckets\":[",
	    (unsigned long long)s->lat_sum_us);
	for (size_t b = 0; b <= SFS_LAT_BUCKETS; b++)
		PUT("%s%llu", b ? "," : "",
		    (unsigned long long)__atomic_load_n(&s->lat[b],
							__ATOMIC_RELAXED));
	PUT("]}}");
#undef PUT
	return (int)off;
}
