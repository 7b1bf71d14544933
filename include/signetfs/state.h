/* SPDX-License-Identifier: Apache-2.0 */
/*
 * State kept across restarts in a daemon-private directory (`state-dir`):
 * the inbox's verdicts and the highest version it verified per path, the
 * outbox's per-path version counters. SQLite underneath; every entry is
 * MACed under a key bound to this directory and this BACKING, so a copied
 * directory or an edited entry proves nothing (docs/inbox.md, "State").
 */
#ifndef SIGNETFS_STATE_H
#define SIGNETFS_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "util.h"

/* Which database in the directory: each mount kind has its own. */
enum state_role {
	STATE_INBOX,  /* inbox.db: verdicts, highest versions seen */
	STATE_OUTBOX, /* outbox.db: versions handed out (also `sign`) */
};

enum state_flags {
	STATE_READONLY = 1 << 0, /* create nothing, write nothing (`verify`) */
};

struct state_store;

/*
 * Open (and at the first use create) the state of ROOT (BACKING, or the
 * CLI's --root) in DIR. Refused, with err saying why: DIR inside ROOT;
 * DIR, its key or its database not owned by this user or writable by
 * others (or a directory above DIR writable by others, unless root-owned
 * and sticky); a database made for another directory, root or role (a
 * copy: remove it to start over, losing what it knew). Exit class
 * SFS_EXIT_USAGE.
 */
int state_open(const char *dir, const char *root, enum state_role role,
	       unsigned flags, struct state_store **out, struct sfs_error *err);
void state_close(struct state_store *st);

/* One version of a file as a kept verdict is keyed. */
struct state_stamp {
	uint64_t dev, ino;
	uint64_t gen; /* inode generation (FS_IOC_GETVERSION), 0: none */
	int64_t size;
	int64_t mtime_ns, ctime_ns;
};

/* Fill s from fd (open, not O_PATH: the generation needs an ioctl). */
int state_stamp_fd(int fd, struct state_stamp *s);

/*
 * A verdict kept for a path: an OK, for that content and that .sig (both
 * stamps and the .sig's SHA-256) under that trust epoch (the digest of
 * the trust store, CRL and policy in force: policy_trust_digest()).
 */
struct state_verdict {
	struct state_stamp content, sig;
	uint8_t sig_sha256[32];
	uint8_t epoch[32];
	/* What the verification found, to answer without verifying. */
	struct sfs_digest digest;
	uint8_t signer_sha256[32];
	char signer_subject[256];
	int64_t signing_time;
	int64_t valid_until; /* 0: no limit */
	uint64_t sig_len;
	uint64_t file_version;
};

/*
 * The verdict kept for PATH: 0, -ENOENT (none), -EBADMSG (its MAC fails:
 * edited, or made under another key), -EIO.
 */
int state_verdict_get(struct state_store *st, const char *path, size_t len,
		      struct state_verdict *out);
/* Does v hold for these stamps, .sig bytes and epoch, every field? */
bool state_verdict_matches(const struct state_verdict *v,
			   const struct state_stamp *content,
			   const struct state_stamp *sig,
			   const uint8_t sig_sha256[32],
			   const uint8_t epoch[32]);
/* Keep v for PATH (replacing any); not synced: it is a cache. */
int state_verdict_put(struct state_store *st, const char *path, size_t len,
		      const struct state_verdict *v);
int state_verdict_forget(struct state_store *st, const char *path, size_t len);

/*
 * The version kept for PATH: 0, -ENOENT, -EBADMSG (MAC fails), -EIO.
 */
int state_version_get(struct state_store *st, const char *path, size_t len,
		      uint64_t *v);
/*
 * Inbox: PATH's highest version becomes v when it was lower or unknown
 * (v = 0, an unversioned signature, keeps nothing). A raise is on disk
 * (fdatasync, shared by concurrent callers) when it returns 0; a path's
 * first entry is written without waiting (lost in a power cut, the path
 * is new again: first contact, which it was), and reaches the disk with
 * the next sync, checkpoint or close. -ESTALE when PATH has a higher
 * version already (v = 0: any version); -EBADMSG when the kept entry
 * fails its MAC. Checked and raised in one transaction.
 */
int state_version_raise(struct state_store *st, const char *path, size_t len,
			uint64_t v);
/*
 * Outbox: the next version for PATH, above both the last one handed out
 * and floor, kept on disk before it returns (a crash never hands it out
 * twice). -EBADMSG when the kept entry fails its MAC; -EOVERFLOW.
 */
int state_version_next(struct state_store *st, const char *path, size_t len,
		       uint64_t floor, uint64_t *v);

/*
 * Many writes as one transaction, synced once at the end (filling a map
 * for a benchmark; `sign` of many files). Not nested.
 */
int state_batch_begin(struct state_store *st);
int state_batch_end(struct state_store *st);

/* Entries in the version map (for status and tests). */
int state_version_count(struct state_store *st, uint64_t *n);

#endif
