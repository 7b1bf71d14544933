/* SPDX-License-Identifier: Apache-2.0 */
/* Daemon counters, read by `signetfs status` through an xattr of the root. */
#ifndef SIGNETFS_STATS_H
#define SIGNETFS_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Name of the read-only xattr on the mount root that carries the JSON. */
#define SFS_STATS_XATTR "user.signetfs.stats"

enum sfs_counter {
	SFS_C_SIGNED,	    /* signatures written */
	SFS_C_SIGN_FAILED,  /* close() returned EIO */
	SFS_C_SIGN_REFUSED, /* killed writer, policy */
	SFS_C_DENIED,	    /* inbox: refused files (verify-denied) */
	SFS_C_VERIFIED,	    /* inbox: files that verified */
	SFS_C_CACHE_HIT,
	SFS_C_CACHE_MISS,
	SFS_C_BYTES_HASHED,
	SFS_C_HSM_OPS,
	SFS_C_PREWARM_DONE,  /* inbox --prewarm: files checked */
	SFS_C_PREWARM_TOTAL, /* inbox --prewarm: files found */
	SFS_C_BYTES_FILLED,  /* inbox: page cache filled while verifying */
	SFS_C_BYTES_READ,    /* inbox: content served by READ requests */
	SFS_C_STATE_HITS,    /* inbox: verdicts taken from the state dir */
	SFS_C_COUNT_
};

/* Latency histogram buckets, upper bounds in microseconds. */
#define SFS_LAT_BUCKETS 16

struct sfs_stats {
	uint64_t c[SFS_C_COUNT_];
	uint64_t lat[SFS_LAT_BUCKETS + 1]; /* last: +Inf */
	uint64_t lat_sum_us;
};

extern const uint64_t sfs_lat_bounds_us[SFS_LAT_BUCKETS];

/* Lock-free; safe from any FUSE worker thread. */
void sfs_stats_add(struct sfs_stats *s, enum sfs_counter c, uint64_t n);
void sfs_stats_latency(struct sfs_stats *s, uint64_t us);
/* Quantile q (0..1) from the histogram, as the bucket's upper bound. */
uint64_t sfs_stats_quantile(const struct sfs_stats *s, double q);

/* JSON for the xattr; returns bytes written (snprintf semantics). */
int sfs_stats_json(const struct sfs_stats *s, const char *mode, char *buf,
		   size_t len);

#endif
