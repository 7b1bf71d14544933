/* SPDX-License-Identifier: Apache-2.0 */
/* The inbox's audit log and the key that seals it. */
#ifndef SIGNETFS_INBOX_IB_AUDIT_H
#define SIGNETFS_INBOX_IB_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "signetfs/util.h"

struct inbox;

/*
 * Open the log (audit_open_config) sealed by the config's key when it can
 * be opened (a warning and no checkpoints when not), record key-loaded and
 * mount. An error only when the log itself cannot be opened.
 */
int inbox_audit_open(struct inbox *ib, struct sfs_error *err);
/* Record unmount, write the final checkpoint, close log and key. */
void inbox_audit_close(struct inbox *ib);
void inbox_audit_event(struct inbox *ib, const char *event);
/* Append a verify-denied record for path (reason: a short name). */
void inbox_audit_denied(struct inbox *ib, const char *path, size_t len,
			int64_t size, const char *reason);

#endif
