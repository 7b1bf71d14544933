/* SPDX-License-Identifier: Apache-2.0 */
/* Signing: digest, signature, .sig files, refusals, status (outbox_sign.c). */
#ifndef SIGNETFS_OUTBOX_OB_SIGN_H
#define SIGNETFS_OUTBOX_OB_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ob_inode.h"
#include "signetfs/digest.h"
#include "signetfs/sigfmt.h"

struct outbox;
struct sfs_signer;

/* outbox_sign.c */

/* Remove NAME.sig of the inode (ENOENT is fine); 0 or -errno. */
int ob_clear_sig_locked(struct outbox *ob, struct bk_inode *i,
			struct ob_inode *s);
/* Remove REL.sig; 0 or -errno (never -ENOENT). */
int ob_unlink_sig(struct outbox *ob, const char *rel);

/*
 * Hash the current content (running digest when it covers the file) and
 * sign it under its current path, install NAME.sig, audit. Every writer
 * since the last signature (s->handles, s->past, and extra when not NULL)
 * must be allowed at that path by its rule. Caller holds ns_lock shared
 * and i->lock. 0; -EACCES when a writer is not allowed there (audited
 * policy-denied); -EIO with the reason audited.
 */
int ob_sign_locked(struct outbox *ob, struct bk_inode *i, struct ob_inode *s,
		   const struct sfs_writer *w,
		   const struct ob_writer_id *extra);
/*
 * Would ob_sign_locked refuse the content (a path it cannot sign, a writer
 * its rule refuses, bytes nobody vouches for unless emptied, hard links)?
 * Asked before a change that is signed at once (truncate(2)), so that a
 * refusal leaves the file unchanged. 0, or its error, the refusal audited.
 */
int ob_may_sign_locked(struct outbox *ob, struct bk_inode *i,
		       struct ob_inode *s, const struct sfs_writer *w,
		       const struct ob_writer_id *extra, bool emptied);
/*
 * No signature for the content as it is, for a reason that sticks until
 * the file is emptied (a killed writer: its bytes may be partial): any
 * .sig goes, a sign-refused record says why.
 */
void ob_refuse_locked(struct outbox *ob, struct bk_inode *i, struct ob_inode *s,
		      const struct sfs_writer *w, const char *reason);
/* Who to check at the path where the next signature is made. */
void ob_writer_id_of(struct outbox *ob, fuse_req_t req,
		     struct ob_writer_id *id);
void ob_writer_id_free(struct ob_writer_id *id);
/* id may have written since the last signature (a copy is kept). */
void ob_note_writer_locked(struct ob_inode *s, const struct ob_writer_id *id);
/* A signature was made, or the file emptied: past writers are forgotten. */
void ob_forget_writers_locked(struct ob_inode *s);
/*
 * May the writer W (as a signature names it: uid, gid, user) write at REL?
 * For carrying a signature over to a new path.
 */
bool ob_sig_writer_allowed(struct outbox *ob, const char *rel,
			   const struct sfs_writer *w);
/* Mode of the .sig of a file with mode m: exactly as readable as it. */
static inline mode_t ob_sig_mode(mode_t m)
{
	return (m & 0444) | 0200;
}

/* The signer for REL (per-subtree keys), NULL if none. */
struct sfs_signer *ob_signer_for(struct outbox *ob, const char *rel);
/*
 * Sign DIGEST for REL with WRITER; *der is malloc'd; -EIO and why. DIGEST
 * must be in signer_md() of ob_signer_for(REL).
 */
int ob_sign_digest(struct outbox *ob, const char *rel, size_t rel_len,
		   const struct sfs_digest *digest,
		   const struct sfs_writer *writer, uint8_t **der,
		   size_t *der_len, char *why, size_t why_len);
/* BASE.sig into out (NAME_MAX + 1 bytes); -ENAMETOOLONG if too long. */
int ob_sig_name(const char *base, char *out);
/* REL.sig's bytes (*der malloc'd), no symlink followed out of BACKING. */
int ob_read_sig(struct outbox *ob, const char *rel, uint8_t **der, size_t *len);
/*
 * NAME in dfd (a .sig or its temp file) owned like its file, as if the
 * writer had written it, when the daemon acts as the caller.
 */
void ob_own_like(struct outbox *ob, int dfd, const char *name,
		 const struct stat *file_st);
/* Write REL.sig atomically, owned and readable like the file; 0 or -errno. */
int ob_install_sig(struct outbox *ob, const char *rel, const uint8_t *der,
		   size_t len, const struct stat *file_st, bool sync);
int ob_audit(struct outbox *ob, const char *event, const char *rel,
	     size_t rel_len, int64_t size, const struct sfs_digest *d,
	     const struct sfs_writer *w, const char *reason);
/*
 * A sign record, step (1) of the signing transaction (audit.h), written
 * and its fdatasync started: the caller makes the signature meanwhile,
 * then waits with audit_sync_to(ob->audit, *end) before the .sig exists.
 * *seq is the record's seq, for the sign-failed that would answer it.
 */
int ob_audit_sign_begin(struct outbox *ob, const char *rel, size_t rel_len,
			int64_t size, const struct sfs_digest *d,
			const struct sfs_writer *w, const char *reason,
			off_t *end, uint64_t *seq);
/*
 * Step (4): the sign-failed record (audit_sign_abort) that answers the
 * sign record of seq answers (0: a failure before any sign record);
 * best effort, see audit_write_seq for a log that cannot take it.
 */
void ob_audit_answer(struct outbox *ob, const char *rel, size_t rel_len,
		     const struct sfs_writer *w, const char *reason,
		     uint64_t answers);
void ob_writer_of(struct outbox *ob, fuse_req_t req, struct sfs_writer *w);
/* The same for a request on handle f: its opener's exe if /proc has none. */
void ob_writer_of_file(struct outbox *ob, fuse_req_t req,
		       const struct ob_file *f, struct sfs_writer *w);
void ob_writer_ids(struct outbox *ob, pid_t pid, uid_t uid, gid_t gid,
		   struct sfs_writer *w);
/* Forget cached user names and read the host name again. */
void ob_names_reset(struct outbox *ob);
/* fsync REL.sig and its directory when it exists. */
int ob_sync_sig(struct outbox *ob, const char *rel);

/* Record what we now know about the inode's signature. */
void ob_set_status_locked(struct outbox *ob, struct bk_inode *i,
			  struct ob_inode *s, enum ob_status st,
			  const struct sfs_digest *d, const char *signer,
			  const char *reason);

struct ob_sigcheck {
	struct sfs_digest digest; /* of the content, in the md asked */
	struct sfs_writer writer; /* who wrote it, per the signature */
	char signer[65];	  /* hex SHA-256 of the signer cert */
	const char *reason;	  /* why it is invalid */
	bool verified;		  /* false: no verifier, existence only */
};

/*
 * Check BASE.sig in dirfd against the file open on fd for path REL: 0 when
 * valid (without a verifier: when it exists; the content is then hashed),
 * -ENOENT (no .sig), -EBADMSG (invalid, c->reason) or -errno.
 */
/*
 * c (ob_valid_sig's OK for REL) is a signature this mount may vouch for:
 * made by the key this mount signs REL with, not by another key of the
 * same CA or of an earlier configuration.
 */
bool ob_sig_is_ours(struct outbox *ob, const char *rel,
		    const struct ob_sigcheck *c);
/*
 * Before the first change this mount makes to a file's content (since the
 * kernel last looked it up): are the bytes there vouched for? Yes when
 * the file is empty or has a signature ob_sig_is_ours() for its path.
 * Otherwise they may come from a writer policy refused or that was
 * killed (before a restart of the daemon, or before the kernel forgot the
 * inode), or from BACKING written directly: nothing signs the file until
 * it is emptied. Caller holds i->lock; pins the config itself.
 */
void ob_provenance_locked(struct outbox *ob, struct bk_inode *i,
			  struct ob_inode *s);

int ob_valid_sig(struct outbox *ob, int dirfd, const char *base,
		 const char *rel, size_t rel_len, int fd, enum sfs_md md,
		 struct ob_sigcheck *c);

/*
 * What ob_valid_sig() would find for the file at REL (st: its stat now),
 * known without reading it: the content carries the signature this mount
 * made for REL (s->sig_ours), nothing changed it since (the content
 * generation, the size; with strict modes nobody writes BACKING but the
 * daemon), nobody is writing it, the configuration is the one it was made
 * with and REL's key made it, in md. Then c is filled as for a verified
 * signature of ours and true is returned; otherwise false (verify then).
 * Caller holds i->lock.
 */
bool ob_recall_sig_locked(struct outbox *ob, struct ob_inode *s,
			  const char *rel, const struct stat *st,
			  enum sfs_md md, struct ob_sigcheck *c);
/* The content now carries this mount's signature (rename): remember it. */
void ob_sig_made_locked(struct outbox *ob, struct bk_inode *i,
			struct ob_inode *s, const struct sfs_digest *d,
			const char *signer, const struct sfs_writer *w);

#endif
