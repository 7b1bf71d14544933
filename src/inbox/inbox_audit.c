// SPDX-License-Identifier: Apache-2.0
/* The inbox's audit trail: its log, the key that seals it, its records. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ib_audit.h"
#include "inbox.h"
#include "signetfs/audit.h"
#include "signetfs/log.h"
#include "signetfs/signer.h"

static void append_record(struct inbox *ib, const struct audit_record *rec)
{
	int ret;

	if (!ib->audit)
		return;
	ret = audit_write(ib->audit, rec);
	if (ret)
		sfs_err("audit log: cannot record %s: %s", rec->event,
			strerror(-ret));
}

void inbox_audit_event(struct inbox *ib, const char *event)
{
	struct audit_record rec = {
	    .event = event,
	    .path = ib->backing,
	    .path_len = strlen(ib->backing),
	    .size = -1,
	    .reason = ib->audit_mode ? "mode=audit" : "mode=strict",
	};

	append_record(ib, &rec);
}

void inbox_audit_denied(struct inbox *ib, const char *path, size_t len,
			int64_t size, const char *reason)
{
	struct audit_record rec = {
	    .event = "verify-denied",
	    .path = path,
	    .path_len = len,
	    .size = size,
	    .reason = reason,
	};

	append_record(ib, &rec);
}

/*
 * The inbox signs nothing but checkpoints, so a key that cannot be opened
 * (token away, PIN file unreadable) is no reason to refuse to serve: the
 * log is still hash-chained, only unsealed, and the daemon says so.
 */
static void open_sealing_key(struct inbox *ib)
{
	struct sfs_error err = {0};

	if (!ib->cfg->key.key_uri || !ib->cfg->audit_log)
		return;
	if (signer_open(&ib->cfg->key, &ib->signer, &err)) {
		sfs_warn("audit log without checkpoints: cannot open the key: "
			 "%s",
			 err.msg);
		ib->signer = NULL;
	}
}

static void record_key(struct inbox *ib)
{
	struct audit_record rec = {
	    .event = "key-loaded",
	    .size = -1,
	    .reason = "audit checkpoints",
	};

	/* No path: paths in records are mount-relative (docs/audit-log.md). */
	audit_record_key(&rec, ib->signer);
	append_record(ib, &rec);
}

int inbox_audit_open(struct inbox *ib, struct sfs_error *err)
{
	int ret;

	open_sealing_key(ib);
	ret = audit_open_config(ib->cfg, ib->signer, &ib->audit);
	if (ret) {
		sfs_error_set(err, ret, SFS_EXIT_USAGE, "audit log %s: %s",
			      ib->cfg->audit_log, strerror(-ret));
		signer_close(ib->signer);
		ib->signer = NULL;
		return ret;
	}
	if (ib->signer)
		record_key(ib);
	inbox_audit_event(ib, "mount");
	return 0;
}

/* The final checkpoint is signed in audit_close: the key closes after. */
void inbox_audit_close(struct inbox *ib)
{
	if (ib->audit)
		inbox_audit_event(ib, "unmount");
	audit_close(ib->audit);
	ib->audit = NULL;
	signer_close(ib->signer);
	ib->signer = NULL;
}
