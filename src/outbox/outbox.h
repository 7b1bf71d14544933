/* SPDX-License-Identifier: Apache-2.0 */
/* Outbox internals shared by outbox.c, outbox_sign.c and outbox_rename.c. */
#ifndef SIGNETFS_FS_OUTBOX_H
#define SIGNETFS_FS_OUTBOX_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "backing.h"
#include "signetfs/audit.h"
#include "signetfs/config.h"
#include "signetfs/digest.h"
#include "signetfs/policy.h"
#include "signetfs/signer.h"
#include "signetfs/stats.h"
#include "signetfs/verify.h"

/*
 * User names by uid: getpwuid_r reopens /etc/passwd (or asks NSS) on
 * every call, ~18% of the daemon's time per closed file (perf, malloc of
 * its stdio buffer). Direct-mapped, cleared by a reload.
 */
#define OB_NAME_SLOTS 256
struct ob_names {
	pthread_mutex_t lock;
	struct {
		uid_t uid;
		bool valid;
		char name[64];
	} slot[OB_NAME_SLOTS];
};

/*
 * A configuration in force: policy, keys and verifier, swapped as one by
 * a reload. An operation pins the one it started with (ob_op_enter), so
 * it never mixes two; the last to unpin an old one frees it.
 */
struct ob_conf {
	struct sfs_config *cfg;
	struct sfs_keyring *ring;	/* one signer per key; NULL: --no-sign */
	struct sfs_verifier *verifier;	/* NULL when no trust store is set */
	unsigned refs;			/* outbox.conf_lock */
	bool owned;			/* cfg is ours (from a reload) */
};

struct outbox {
	struct backing bk;
	const struct sfs_config *cfg;	/* at mount: setup and audit only */
	char *cfg_path;			/* absolute, for reloads */
	const struct sfs_mount_args *args;
	bool no_sign;
	pthread_mutex_t conf_lock;	/* conf and refs; a leaf lock */
	struct ob_conf *conf;		/* in force for new operations */
	/* The one at mount: its default key signs the audit checkpoints. */
	struct ob_conf *conf0;
	struct audit_log *audit;	/* NULL when no audit-log is set */
	enum sfs_md md;			/* of the running digests */
	struct sfs_stats stats;		/* user.signetfs.stats of the root */
	uid_t mounter;			/* default writer besides root */
	bool writeback;			/* kernel writeback cache negotiated */
	char mount_id[64];
	char host[256];			/* gethostname at mount and reload */
	struct ob_names names;
	struct timespec started;	/* temp files older than this are stale */
	atomic_uint_fast64_t seq;	/* orders opens and signatures */
	/*
	 * Signing takes it shared, renames exclusive, so that no signature
	 * is computed for a path that a rename is changing. Lock order:
	 * ns_lock -> bk_inode.lock -> backing.table_lock.
	 */
	pthread_rwlock_t ns_lock;
	/*
	 * Inodes whose content is untrustworthy (ob_inode.write_failed)
	 * that the kernel forgot: the flag comes back with their next
	 * ob_inode_state(). A leaf lock.
	 */
	pthread_mutex_t failed_lock;
	struct ob_failed *failed;
	size_t n_failed, cap_failed;
	/* Open handles, for teardown (mount.h): ob_file, bk_dir. */
	struct sfuse_handles files, dirs;
	char *mnt_abs;			/* realpath of the mount point */
	dev_t fuse_dev;			/* this mount's st_dev; 0: unknown */
	bool strict_modes;		/* BACKING checked at mount */
};

#define OB_WHY_MAX 160

struct ob_failed {
	dev_t dev;
	ino_t ino;
	char why[OB_WHY_MAX];
};

enum ob_status {
	OB_ST_UNKNOWN = 0,	/* compute from NAME.sig */
	OB_ST_SIGNED,
	OB_ST_UNSIGNED,
	OB_ST_FAILED,
};

struct ob_chunk;

/*
 * Running digest of a file written from offset 0 on: valid (ok) while it
 * covers bytes [0, off) of the file and the parked chunks the bytes after
 * them. Its own lock, taken after bk_inode.lock or alone, so that hashing
 * runs in parallel with other writes' pwrite. epoch changes with every
 * truncation: a write fed with an older epoch was truncated away.
 */
struct ob_run {
	pthread_mutex_t lock;
	struct sfs_hash *h;
	bool ok;
	uint64_t off;
	uint64_t epoch;
	struct ob_chunk *pending;	/* sorted by offset */
	size_t pending_bytes;
};

void ob_run_init(struct ob_run *r);
void ob_run_free(struct ob_run *r);
/* The file is empty now (caller holds bk_inode.lock). */
void ob_run_restart(struct ob_run *r, enum sfs_md md);
/* The file was cut or extended to size (caller holds bk_inode.lock). */
void ob_run_truncated(struct ob_run *r, uint64_t size);
void ob_run_invalidate(struct ob_run *r);
/* Bytes that landed at off by a pwrite made at epoch. */
void ob_run_feed(struct ob_run *r, uint64_t epoch, const void *buf,
		 size_t len, uint64_t off);
/* The digest if it covers exactly size bytes; -ENODATA if not. */
int ob_run_final(struct ob_run *r, enum sfs_md md, uint64_t size,
		 struct sfs_digest *d);
bool ob_run_ok(struct ob_run *r);
uint64_t ob_run_epoch(struct ob_run *r);

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
	char *exe;		/* for the audit record; may be NULL */
};

struct ob_file;

/* Per-inode outbox state (bk_inode.priv), under bk_inode.lock. */
struct ob_inode {
	struct ob_run run;
	uint64_t content_gen;	/* bumped by every write/truncate */
	uint64_t close_gen;	/* content_gen at the last close not refused */
	/*
	 * content_gen at the last attempt to sign, failed or not: a close
	 * that failed (its writer got EIO) is not tried again at release.
	 */
	uint64_t tried_gen;
	uint64_t decided_gen;	/* content_gen at the last sign or refusal */
	uint64_t sign_seq;	/* ob->seq when it was last signed */
	bool sig_cleared;	/* NAME.sig removed since the last signature */
	bool sync_next;		/* a handle fsynced: make the next .sig durable */
	unsigned n_writers;	/* open writable handles */
	/*
	 * Writable handles whose writing has not ended (ob_file.active):
	 * while one is, no other close signs (docs/outbox.md).
	 */
	unsigned n_active;
	struct ob_file *handles;	/* the open writable handles */
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
	bool failed_stashed;	/* handed to outbox.failed already */
	char write_failed_why[OB_WHY_MAX];
	/* For ob_inode_free: the stash of forgotten write_failed inodes. */
	struct outbox *ob;
	dev_t dev;
	ino_t ino;
	/* What the status xattrs report, valid for the stat snapshot. */
	enum ob_status status;
	char reason[160];
	struct sfs_digest digest;
	char signer[65];
	off_t snap_size;
	struct timespec snap_mtime, snap_ctime;
};

/* How the task that sent a request is doing (from /proc/PID/stat). */
struct ob_exit {
	bool known;		/* /proc/PID/stat was read in full */
	bool gone;		/* no such task: exited and reaped */
	bool exiting;		/* PF_EXITING, or a zombie */
	int signal;		/* killed by this signal, else 0 */
	int status;		/* exit status of a normal exit */
	pid_t ppid;
	unsigned long long start;	/* start time, clock ticks after boot */
};

/* One open file (fuse_file_info.fh). */
struct ob_file {
	struct sfuse_handle link;	/* on ob->files while open */
	int fd;
	bool writable;
	bool must_sign;		/* created or truncated by this open */
	bool refused;		/* its writer was killed: never sign for it */
	/*
	 * Writable and its writing not over: the opener's process has not
	 * made the close that ends it, nor has the kernel released it.
	 */
	bool active;
	bool opener_closed;	/* the opener's process closed a descriptor */
	bool exit_seen;		/* exit: the opener seen exiting after close */
	struct ob_exit exit;
	uint64_t open_seq;
	uint64_t open_gen;	/* content_gen after the open */
	uint64_t flush_gen;	/* content_gen at its last flush */
	struct ob_file *inode_next, *inode_prev;	/* ob_inode.handles */
	/* Who opened it: release carries no credentials. */
	struct ob_writer_id who;
	pid_t tgid;		/* the opener's process */
	unsigned long long start;	/* its start time: pid reuse */
	pid_t pid_mark;		/* the last pid handed out at the open */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	/*
	 * Its executable then (writable handles): a writer killed by a
	 * signal closes its files after the kernel released its memory map,
	 * when /proc/PID/exe no longer resolves.
	 */
	char *exe;
};

static inline struct outbox *ob_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct ob_file *ob_file_of(struct fuse_file_info *fi)
{
	return (struct ob_file *)(uintptr_t)fi->fh;
}

/*
 * The inode's outbox state, allocated on first use (with write_failed
 * restored if the inode was forgotten with it); NULL on ENOMEM.
 */
struct ob_inode *ob_inode_state(struct outbox *ob, struct bk_inode *i);
void ob_inode_free(void *p);
void ob_inode_detach(void *p);
/* A write to BACKING failed: flag the inode (under bk_inode.lock). */
void ob_write_failed_locked(struct ob_inode *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Its content was reset (truncated to 0): it may be signed again. */
void ob_write_reset_locked(struct ob_inode *s);
/* A write to (dev, ino) failed and the kernel has forgotten it since. */
bool ob_write_failed_stashed(struct outbox *ob, dev_t dev, ino_t ino);
/* Its last name was removed: drop (dev, ino) from the stash. */
void ob_write_failed_forget(struct outbox *ob, dev_t dev, ino_t ino);

/* outbox_writers.c */

void ob_exit_state(pid_t pid, struct ob_exit *ex);
/*
 * The thread group of task PID and, when groups is not NULL, its
 * supplementary groups (at most *ngroups; *ngroups is set to how many).
 */
int ob_task_ids(pid_t pid, pid_t *tgid, gid_t *groups, int *ngroups);
/* The last pid the kernel handed out in our pid namespace; 0: unknown. */
pid_t ob_last_pid(void);
/*
 * After a close by f's opener (closer: its state), does anybody still hold
 * the open file for writing: another writable descriptor or a shared
 * writable mapping of inode ino in the opener's process, or in a process
 * started since the open that descends from it (an inherited descriptor)?
 */
bool ob_still_held(struct outbox *ob, const struct ob_file *f,
		   const struct ob_exit *closer, ino_t ino);
/* ob->fuse_dev from mountinfo, once mounted (ops->init). */
void ob_find_fuse_dev(struct outbox *ob);

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
		   const struct sfs_writer *w, const struct ob_writer_id *extra);
/*
 * No signature for the content as it is, for a reason that sticks until
 * the file is emptied (a killed writer: its bytes may be partial): any
 * .sig goes, a sign-refused record says why.
 */
void ob_refuse_locked(struct outbox *ob, struct bk_inode *i,
		      struct ob_inode *s, const struct sfs_writer *w,
		      const char *reason);
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
			  struct ob_inode *s,
			  enum ob_status st, const struct sfs_digest *d,
			  const char *signer, const char *reason);

struct ob_sigcheck {
	struct sfs_digest digest;	/* of the content, in the md asked */
	struct sfs_writer writer;	/* who wrote it, per the signature */
	char signer[65];		/* hex SHA-256 of the signer cert */
	const char *reason;		/* why it is invalid */
	bool verified;			/* false: no verifier, existence only */
};

/*
 * Check BASE.sig in dirfd against the file open on fd for path REL: 0 when
 * valid (without a verifier: when it exists; the content is then hashed),
 * -ENOENT (no .sig), -EBADMSG (invalid, c->reason) or -errno.
 */
int ob_valid_sig(struct outbox *ob, int dirfd, const char *base,
		 const char *rel, size_t rel_len, int fd, enum sfs_md md,
		 struct ob_sigcheck *c);

/* Is BACKING the daemon's alone (no other user can reach or write it)? */
int ob_check_backing_modes(const char *backing, struct sfs_error *err);

/* outbox_conf.c */
/* The config the current operation runs with (see ob_op_enter). */
struct ob_conf *ob_conf(struct outbox *ob);
/* Pin the config in force for this thread's operation, and let go. */
void ob_op_enter(struct outbox *ob);
void ob_op_leave(struct outbox *ob);
int ob_conf_new(struct outbox *ob, struct sfs_config *cfg, bool owned,
		struct ob_conf **out, struct sfs_error *err);
void ob_conf_release(struct outbox *ob, struct ob_conf *c);
int ob_reload(void *userdata, struct sfs_error *err);

/* outbox_ns.c */
void ob_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode);
void ob_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev);
void ob_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name);
void ob_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname);
void ob_op_readlink(fuse_req_t req, fuse_ino_t ino);
void ob_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ob_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ob_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ob_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void ob_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi);
void ob_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void ob_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi);

/* outbox_xattr.c */
void ob_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void ob_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void ob_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void ob_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* outbox_rename.c */
void ob_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags);

/* outbox.c */
/* Temp files of atomic .sig writes: invisible through the mount. */
bool ob_hidden(const char *name);
/* Writers allowed by policy; others get EACCES and an audit record. */
bool ob_writer_allowed(struct outbox *ob, fuse_req_t req, const char *op,
		       struct bk_inode *i, const char *name);
bool ob_reserved_name(const char *name);
/*
 * Before creating or removing NAME in P: the policy check, then P's fd
 * pinned. Returns the fd (bk_unpin P after use) or a negative errno.
 */
int ob_pin_parent_for_write(struct outbox *ob, fuse_req_t req,
			    const char *op, struct bk_inode *p,
			    const char *name);

/* Run fn as the caller; again with its supplementary groups on EACCES. */
#define AS_CALLER(ob, req, expr)                                          \
	({                                                                \
		int __r;                                                  \
		bk_creds_enter(&(ob)->bk, req, false);                    \
		__r = (expr);                                             \
		if (__r < 0 && (errno == EACCES || errno == EPERM) &&     \
		    (ob)->bk.switch_creds) {                              \
			bk_creds_enter(&(ob)->bk, req, true);             \
			__r = (expr);                                     \
		}                                                         \
		int __e = errno;                                          \
		bk_creds_leave(&(ob)->bk);                                \
		errno = __e;                                              \
		__r;                                                      \
	})


#endif
