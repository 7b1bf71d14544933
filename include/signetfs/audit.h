/* SPDX-License-Identifier: Apache-2.0 */
/* Hash-chained JSON Lines audit log with signed checkpoints; docs/audit-log.md */
#ifndef SIGNETFS_AUDIT_H
#define SIGNETFS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "sigfmt.h"

struct sfs_signer;
struct sfs_verifier;

struct audit_record {
	const char *event;		/* sign, sign-failed, verify-denied... */
	const char *path;		/* raw bytes, escaped in JSON */
	size_t path_len;
	int64_t size;			/* -1: unknown */
	const struct sfs_digest *digest;/* NULL: none */
	const char *key_uri;		/* without PIN */
	const char *cert_sha256;
	const char *token_serial;
	const struct sfs_writer *writer;/* NULL: none */
	const char *reason;		/* NULL: none */
};

enum audit_sync {
	AUDIT_SYNC_NONE = 0,	/* write(2) only; the page cache holds it */
	AUDIT_SYNC_ALWAYS,	/* fdatasync after every record */
	AUDIT_SYNC_GROUP,	/* one fdatasync covers concurrent writers */
};

struct audit_options {
	enum audit_sync sync;
	unsigned int group_ms;		/* GROUP: wait this long to batch */
	unsigned int checkpoint_every;	/* records; 0: only at close */
	unsigned int checkpoint_secs;	/* 0: no timer */
	bool syslog;			/* mirror each record to syslog(3) */
	struct sfs_signer *signer;	/* NULL: no checkpoints */
};

struct audit_log;

/* The checkpoint signature's signed path (format v1, docs/audit-log.md). */
#define AUDIT_CHECKPOINT_PATH "signetfs-audit-checkpoint"

/* Open (append) or create the log; the chain continues from its last line. */
int audit_open(const char *path, bool sync, struct audit_log **out);
int audit_open_opts(const char *path, const struct audit_options *opt,
		    struct audit_log **out);
/*
 * Append one record; returns after write(2) (and the fsync the options ask
 * for). A caller must not report the operation done if this fails.
 */
int audit_write(struct audit_log *log, const struct audit_record *rec);
/*
 * audit_write() without waiting for a group commit: *end is where the
 * record ends in the file, and audit_sync_to(log, end) returns once
 * everything up to it is durable (at once unless the sync mode is group).
 * For a caller that writes many records and acts on them all: one wait.
 */
int audit_write_nowait(struct audit_log *log, const struct audit_record *rec,
		       off_t *end);
int audit_sync_to(struct audit_log *log, off_t end);
struct sfs_config;
/* audit_open_opts() with the [signetfs] audit-* keys of cfg. */
int audit_open_config(const struct sfs_config *cfg, struct sfs_signer *signer,
		      struct audit_log **out);
/* Seal the chain head with a signed checkpoint now (final: at close). */
int audit_checkpoint(struct audit_log *log, bool final);
/* Writes a final checkpoint when a signer is set, then frees. */
void audit_close(struct audit_log *log);

/* Verification of a whole log (signetfs audit verify). */
struct audit_verify_result {
	size_t lines;		/* lines read */
	size_t checkpoints;
	size_t bad_line;	/* 1-based first bad line, 0 if intact */
	char reason[256];
	bool sealed;		/* ends with a final checkpoint */
};

/*
 * Check the chain (prev, seq), every checkpoint signature (trusted signer,
 * digest = chain head) and, unless live, that the log ends with a final
 * checkpoint (anything cut off after a checkpoint is detected).
 * Returns 0 when intact, 1 when not (res says where and why), -errno.
 */
int audit_verify_file(const char *path, struct sfs_verifier *v, bool live,
		      struct audit_verify_result *res);

#endif
