/* SPDX-License-Identifier: Apache-2.0 */
/* Per-inode outbox state: content generations, writers, failed writes. */
#ifndef SIGNETFS_OUTBOX_OB_INODE_H
#define SIGNETFS_OUTBOX_OB_INODE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "backing.h"
#include "ob_digest.h"
#include "signetfs/digest.h"

struct outbox;

#define OB_WHY_MAX 160

struct ob_failed {
	dev_t dev;
	ino_t ino;
	char why[OB_WHY_MAX];
};

enum ob_status {
	OB_ST_UNKNOWN = 0, /* compute from NAME.sig */
	OB_ST_SIGNED,
	OB_ST_UNSIGNED,
	OB_ST_FAILED,
};

/*
 * Who wrote, for the policy check where a signature is made: uid, gid and
 * (when a rule lists groups) the supplementary groups. ngroups < 0: not
 * known (policy then decides on uid and gid alone, never more widely).
 */
struct ob_writer_id {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int ngroups;
	gid_t *groups;
	char *exe; /* for the audit record; may be NULL */
};

struct ob_file;
struct ob_sigwriter;

/* Per-inode outbox state (bk_inode.priv), under bk_inode.lock. */
struct ob_inode {
	struct ob_rdigest rd; /* the running digest */
	uint64_t content_gen; /* bumped by every write/truncate */
	uint64_t close_gen;   /* content_gen at the last close not refused */
	/*
	 * content_gen at the last attempt to sign, failed or not: a close
	 * that failed (its writer got EIO) is not tried again at release.
	 */
	uint64_t tried_gen;
	uint64_t decided_gen; /* content_gen at the last sign or refusal */
	uint64_t sign_seq;    /* ob->seq when it was last signed */
	bool sig_cleared;     /* NAME.sig removed since the last signature */
	bool sync_next;	      /* a handle fsynced: make the next .sig durable */
	unsigned n_writers;   /* open writable handles */
	/*
	 * Writable handles whose writing has not ended (ob_file.active):
	 * while one is, no other close signs (docs/outbox.md).
	 */
	unsigned n_active;
	struct ob_file *handles; /* the open writable handles */
	/*
	 * Everyone else who may have written since the last signature:
	 * released handles' openers, processes that closed an inherited
	 * descriptor. Cleared by a signature or an emptied file.
	 */
	struct ob_writer_id *past;
	size_t n_past, cap_past;
	/*
	 * A write to BACKING failed (an error or a short write), so BACKING
	 * may not hold what the writers wrote: nothing signs this inode
	 * until its content is reset (truncation to 0, O_TRUNC, creation).
	 * Kept across handles, and across the kernel forgetting the inode
	 * (outbox.failed); not across a remount.
	 */
	bool write_failed;
	/*
	 * The bytes in the file before this mount's first change are
	 * vouched for (ob_provenance_locked); UNKNOWN until that change.
	 */
	enum { OB_PROV_UNKNOWN = 0, OB_PROV_OK } prov;
	bool failed_stashed; /* handed to outbox.failed already */
	char write_failed_why[OB_WHY_MAX];
	/* For ob_inode_free: the stash of forgotten write_failed inodes. */
	struct outbox *ob;
	dev_t dev;
	ino_t ino;
	/*
	 * The content as it is carries the signature this mount made (at a
	 * close, or a rename carried it) for the path it has now, with the
	 * configuration sig_conf_gen: status, digest and signer say what it
	 * vouches for, sig_writer whom it names. A rename signs that again
	 * for the new path without reading the file (ob_recall_sig_locked).
	 */
	bool sig_ours;
	uint64_t sig_conf_gen;
	struct ob_sigwriter *sig_writer;
	/* What the status xattrs report, valid for the stat snapshot. */
	enum ob_status status;
	char reason[160];
	struct sfs_digest digest;
	char signer[65];
	off_t snap_size;
	struct timespec snap_mtime, snap_ctime;
};

/*
 * The inode's outbox state, allocated on first use (with write_failed
 * restored if the inode was forgotten with it); NULL on ENOMEM.
 */
struct ob_inode *ob_inode_state(struct outbox *ob, struct bk_inode *i);
void ob_inode_free(void *p);
void ob_inode_detach(void *p);
/* A content change: generation and status (the digest is fed apart). */
void ob_note_change_locked(struct ob_inode *s);
/* The file was emptied: what anybody wrote before is gone. */
void ob_content_reset_locked(struct outbox *ob, struct ob_inode *s);
/*
 * A failed ftruncate or fallocate with error err changed nothing (it was
 * refused before); any other failure may have changed part of the file.
 */
bool ob_changed_nothing(int err);
/* A write to BACKING failed: flag the inode (under bk_inode.lock). */
void ob_write_failed_locked(struct ob_inode *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Its content was reset (truncated to 0): it may be signed again. */
void ob_write_reset_locked(struct ob_inode *s);
/* Remember that a write to (dev, ino) failed, with no inode state for it. */
void ob_write_failed_stash(struct outbox *ob, dev_t dev, ino_t ino,
			   const char *why);
/* A write to (dev, ino) failed and the kernel has forgotten it since. */
bool ob_write_failed_stashed(struct outbox *ob, dev_t dev, ino_t ino);
/* Its last name was removed: drop (dev, ino) from the stash. */
void ob_write_failed_forget(struct outbox *ob, dev_t dev, ino_t ino);

#endif
