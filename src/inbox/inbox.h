/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The inbox mount: its state, and the rule of what it serves. The
 * components have headers of their own (ib_resolve.h, ib_hash.h,
 * ib_cache.h, ib_vtab.h, ib_dir.h, ib_node.h, ib_fill.h, ib_file.h, ib_audit.h,
 * ib_conf.h; docs/architecture.md).
 */
#ifndef SIGNETFS_INBOX_INBOX_H
#define SIGNETFS_INBOX_INBOX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "fuse/sfuse.h"
#include "ib_audit.h"
#include "ib_cache.h"
#include "signetfs/config.h"
#include "signetfs/digest.h"
#include "signetfs/stats.h"

struct inbox_conf;

struct inbox_cache;
struct state_store;

struct inbox {
	const struct sfs_config *cfg; /* the mount's: audit log, mode */
	const char *backing;
	char *mnt_real; /* realpath of the mountpoint */
	int rootfd;
	bool audit_mode;
	struct sfuse_current confs; /* struct inbox_conf in force */
	atomic_uint_fast64_t epoch;
	struct audit_log *audit;
	struct sfs_signer *signer; /* seals the log; NULL: unsealed */
	struct ib_denylog denylog; /* the denials' lines in the daemon log */
	struct sfs_blockmac *mac;  /* block tags; its key never leaves */
	struct inbox_cache *cache;
	struct state_store *state; /* state-dir: kept verdicts, versions */
	struct fuse_session *se;   /* set by sfuse_run while serving */
	struct sfs_stats stats;	   /* signetfs status (stats.h) */
	unsigned workers;	   /* verifiers per listing */
	pthread_t prewarm;
	bool prewarm_wanted;
	bool prewarm_running;
	atomic_bool stopping;
	atomic_bool readahead_set;
	atomic_bool fill;     /* file handles work: fill page caches */
	atomic_ulong mnt_dev; /* the mount's st_dev; 0 until known */
	/* The node table (inbox_node.c). */
	void *nodes;
	struct sfuse_handles dirs; /* open directory handles */
};

/*
 * The file whose signature PATH (len bytes, as served) names: PATH is
 * FILE + [inbox] sig-suffix. FILE's length, or 0 for no such name.
 */
size_t inbox_sig_of(const struct inbox *ib, const char *path, size_t len);

/* Strict mode serves verified files; audit mode everything regular. */
static inline bool inbox_served(const struct inbox *ib,
				const struct inbox_vfile *vf)
{
	return vf->verdict == VR_OK || ib->audit_mode;
}

#endif
