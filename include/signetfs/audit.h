/* SPDX-License-Identifier: Apache-2.0 */
/* Hash-chained JSON Lines audit log with signed checkpoints; docs/audit-log.md
 */
#ifndef SIGNETFS_AUDIT_H
#define SIGNETFS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "sigfmt.h"

struct sfs_signer;
struct sfs_verifier;
struct sfs_config;
struct sfs_error;

/*
 * Who may seal a log: checkpoints verify against the trust store and must
 * be signed by one of the pinned certificates (SHA-256 of the DER); no pins
 * accepts no checkpoint.
 */
struct audit_keys {
	struct sfs_verifier *verifier; /* NULL: signatures not checked */
	const uint8_t (*pins)[32];
	size_t n_pins;
};

/*
 * The events a record can carry (docs/audit-log.md), NULL-terminated;
 * a writer uses no other.
 */
extern const char *const audit_events[];
bool audit_event_known(const char *event);

struct audit_record {
	const char *event; /* sign, sign-failed, verify-denied... */
	const char *path;  /* raw bytes, escaped in JSON */
	size_t path_len;
	int64_t size;			 /* -1: unknown */
	const struct sfs_digest *digest; /* NULL: none */
	const char *key_uri;		 /* without PIN */
	const char *cert_sha256;
	const char *token_serial;
	const struct sfs_writer *writer; /* NULL: none */
	const char *reason;		 /* NULL: none */
	/*
	 * sign-failed: the seq of the sign record it answers (0: it answers
	 * none, a failure before any sign record). A sign record vouches
	 * for a signature unless a sign-failed names it here.
	 */
	uint64_t answers;
};

enum audit_sync {
	AUDIT_SYNC_NONE = 0, /* write(2) only; the page cache holds it */
	AUDIT_SYNC_ALWAYS,   /* fdatasync after every record */
	AUDIT_SYNC_GROUP,    /* one fdatasync covers concurrent writers */
};

struct audit_options {
	enum audit_sync sync;
	unsigned int group_ms;	       /* GROUP: wait this long to batch */
	unsigned int checkpoint_every; /* records; 0: only at close */
	unsigned int checkpoint_secs;  /* 0: no timer */
	bool syslog;		       /* mirror each record to syslog(3) */
	struct sfs_signer *signer;     /* NULL: no checkpoints */
	/*
	 * At open, the log's last checkpoint is checked against these (its
	 * chain back to it always is); borrowed for audit_open_opts() only.
	 */
	struct audit_keys keys;
};

struct audit_log;

/*
 * Open (append) or create the log; the chain continues from its last line.
 * Each open is a session with a random id that its lines carry; it first
 * checks the log's tail back to the last checkpoint and records what it
 * found in an "open" record, or refuses (-EBADMSG, -EPROTO) a log whose
 * tail was changed or that is in format 1 (docs/audit-log.md).
 */
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
/*
 * The same, and *seq the record's seq. A sign-failed that answers a sign
 * record (rec->answers) and cannot be written latches the log failed: the
 * sign record would otherwise vouch for a signature that was never made,
 * so nothing more is written, no checkpoint seals the session, and it
 * ends unsealed, as after a crash (docs/audit-log.md).
 */
int audit_write_seq(struct audit_log *log, const struct audit_record *rec,
		    off_t *end, uint64_t *seq);
int audit_sync_to(struct audit_log *log, off_t end);
/*
 * Start making everything up to end durable without waiting (group sync
 * only; elsewhere a no-op): a thread of the log leads the fdatasync, so
 * that the caller's work until its audit_sync_to(end) overlaps it. The
 * wait and its error stay with audit_sync_to.
 */
void audit_sync_start(struct audit_log *log, off_t end);

/* The key fields of r (URI, certificate SHA-256, token serial) from s. */
void audit_record_key(struct audit_record *r, const struct sfs_signer *s);

/*
 * The signing transaction, the same at an outbox close, an outbox rename
 * and `signetfs sign`: (1) audit_sign_begin() writes the `sign` record
 * (r with the path, size, digest, writer and key), before the signature
 * exists (an outbox close writes it before asking the token, and its
 * fdatasync runs while the token signs: audit_sync_start); (2)
 * audit_sync_to(end) makes it durable (one wait may cover several); (3)
 * the caller installs NAME.sig; (4) if the signature cannot be made or
 * installed, audit_sign_abort() writes the `sign-failed` record for the
 * same path, which names the sign record's seq (*seq from step 1) in
 * "answers": that sign record's signature was not installed. A log of
 * NULL does nothing (*seq 0).
 */
int audit_sign_begin(struct audit_log *log, struct audit_record *r, off_t *end,
		     uint64_t *seq);
void audit_sign_abort(struct audit_log *log, struct audit_record *r,
		      const char *why, uint64_t answers);

/*
 * The one shape of a reload's record: config-reloaded, no path (paths
 * are mount-relative), reason "loaded CONF" or "rejected, the old config
 * stays: WHY" (why NULL: loaded).
 */
int audit_config_reloaded(struct audit_log *log, const char *conf,
			  const char *why);
/*
 * audit_open_opts() with the [signetfs] audit-* keys of cfg; the open check
 * uses cfg's trust store and keys (audit_config_pins) and signer's.
 */
int audit_open_config(const struct sfs_config *cfg, struct sfs_signer *signer,
		      struct audit_log **out);
/*
 * Seal the lines this session wrote (and, through prev, the chain before
 * them) with a signed checkpoint now; final: at close, the last line.
 * First, with or without a signer, a records-lost line if records could
 * not be written since the last line (docs/audit-log.md).
 */
int audit_checkpoint(struct audit_log *log, bool final);
/*
 * Writes the records-lost line owed and, when a signer is set, a final
 * checkpoint (audit_checkpoint), then frees. -EIO when the log did not
 * close clean: it latched (records may be missing, the session is not
 * sealed), or that line or checkpoint could not be written; the caller's
 * exit status must say so. 0 otherwise.
 */
int audit_close(struct audit_log *log);

/*
 * The keys whose checkpoints a log written with cfg may carry: the SHA-256
 * of the certificate of the [signetfs] key and of every [rule] key.
 * *pins is malloc'd (NULL when there are none). 0 or -errno (err says).
 */
int audit_config_pins(const struct sfs_config *cfg, uint8_t (**pins)[32],
		      size_t *n, struct sfs_error *err);

/* Verification of a whole log (signetfs audit verify). */
struct audit_verify_result {
	size_t lines; /* lines read */
	size_t checkpoints;
	size_t sessions;
	size_t unsealed; /* lines no checkpoint of their session seals */
	size_t bad_line; /* 1-based first bad line, 0 if intact */
	uint64_t lost;	 /* the counts of its records-lost lines, summed */
	char reason[256];
	bool sealed;	/* every session closed by a final checkpoint */
	bool need_pins; /* a checkpoint, and no key to accept it from */
};

struct audit_verify_opts {
	struct audit_keys keys;
	bool live; /* writers may still be running */
};

/*
 * Check the chain (prev, seq), every checkpoint (its signature over its own
 * line, by a pinned key; the running hash of its session's lines) and,
 * unless live, that every line is sealed by a checkpoint of the session
 * that wrote it and every session ends with a final one. Returns 0 when
 * intact, 1 when not (res says where and why), -errno.
 */
int audit_verify_log(const char *path, const struct audit_verify_opts *o,
		     struct audit_verify_result *res);
/* audit_verify_log() with no pins: a log with checkpoints fails. */
int audit_verify_file(const char *path, struct sfs_verifier *v, bool live,
		      struct audit_verify_result *res);

#endif
