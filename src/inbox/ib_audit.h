/* SPDX-License-Identifier: Apache-2.0 */
/* The inbox's audit log and the key that seals it. */
#ifndef SIGNETFS_INBOX_IB_AUDIT_H
#define SIGNETFS_INBOX_IB_AUDIT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "signetfs/util.h"

struct inbox;

/*
 * Each denial is also one line in the daemon's log (the audit log is not
 * what an operator reads first), at most IB_DENY_LINES a second: a scan
 * of a tree of unsigned files must not flood the journal. What is left
 * out is counted and said in one line when the next second starts (or
 * at unmount).
 */
#define IB_DENY_LINES 10

struct ib_denylog {
	pthread_mutex_t lock; /* a leaf lock but for the log's own */
	uint64_t second;      /* CLOCK_MONOTONIC second of the window */
	unsigned lines;	      /* logged in it */
	uint64_t suppressed;  /* left out, not said yet */
};

/*
 * Open the log (audit_open_config) sealed by the config's key when it can
 * be opened (a warning and no checkpoints when not), record key-loaded and
 * mount. An error only when the log itself cannot be opened.
 */
int inbox_audit_open(struct inbox *ib, struct sfs_error *err);
/*
 * Record unmount, write the final checkpoint, close log and key; -EIO
 * when the log did not close clean (audit_close).
 */
int inbox_audit_close(struct inbox *ib);
void inbox_audit_event(struct inbox *ib, const char *event);
/*
 * Append a verify-denied record for path (reason: a short name, the
 * record's; text: what it means, for the log line) and log it, rate
 * limited. In audit mode the line says the file is served unverified.
 */
void inbox_audit_denied(struct inbox *ib, const char *path, size_t len,
			int64_t size, const char *reason, const char *text);

#endif
