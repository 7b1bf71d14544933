// SPDX-License-Identifier: Apache-2.0
/* The inbox's audit trail: its log, the key that seals it, its records. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

/*
 * A path as a log line may show it: bytes outside printable ASCII (a
 * newline could forge a line) and the backslash as \xHH; cut at cap.
 */
static void log_path(const char *p, size_t len, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
	}
	if (o + 8 >= cap)
		o += (size_t)snprintf(out + o, cap - o, "...");
	out[o] = '\0';
}

/* What the last window left out, said once; under d->lock. */
static void say_suppressed_locked(struct ib_denylog *d)
{
	SFS_ASSERT_HELD(&d->lock);
	if (d->suppressed)
		sfs_log(SFS_LOG_NOTICE,
			"%llu more verify-denied not logged (at most %d "
			"lines a second)",
			(unsigned long long)d->suppressed, IB_DENY_LINES);
	d->suppressed = 0;
}

/* One line per denial, IB_DENY_LINES a second at most; never the bytes. */
static void log_denied(struct inbox *ib, const char *path, size_t len,
		       const char *reason, const char *text)
{
	struct ib_denylog *d = &ib->denylog;
	struct timespec now;
	char shown[512];

	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&d->lock);
	if ((uint64_t)now.tv_sec != d->second) {
		say_suppressed_locked(d);
		d->second = (uint64_t)now.tv_sec;
		d->lines = 0;
	}
	if (d->lines < IB_DENY_LINES) {
		d->lines++;
		log_path(path, len, shown, sizeof(shown));
		sfs_log(SFS_LOG_NOTICE, "%s: %s: %s%s%s%s",
			ib->audit_mode ? "served unverified (audit mode)"
				       : "not served",
			shown, reason, text ? " (" : "", text ? text : "",
			text ? ")" : "");
	} else {
		d->suppressed++;
	}
	pthread_mutex_unlock(&d->lock);
}

void inbox_audit_denied(struct inbox *ib, const char *path, size_t len,
			int64_t size, const char *reason, const char *text)
{
	struct audit_record rec = {
	    .event = "verify-denied",
	    .path = path,
	    .path_len = len,
	    .size = size,
	    .reason = reason,
	};

	append_record(ib, &rec);
	log_denied(ib, path, len, reason, text);
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

	pthread_mutex_init(&ib->denylog.lock, NULL);
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

/*
 * The final checkpoint is signed in audit_close: the key closes after.
 * -EIO when the log did not close clean (audit_close).
 */
int inbox_audit_close(struct inbox *ib)
{
	int ret;

	pthread_mutex_lock(&ib->denylog.lock);
	say_suppressed_locked(&ib->denylog);
	pthread_mutex_unlock(&ib->denylog.lock);
	if (ib->audit)
		inbox_audit_event(ib, "unmount");
	ret = audit_close(ib->audit);
	ib->audit = NULL;
	signer_close(ib->signer);
	ib->signer = NULL;
	return ret;
}
