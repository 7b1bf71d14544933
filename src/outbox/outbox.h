/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The outbox mount: its state and configuration in force, and what every
 * component uses (policy at create/open, credentials). The components have
 * headers of their own: ob_inode.h, ob_file.h, ob_digest.h, ob_sign.h,
 * ob_ops.h (docs/architecture.md).
 */
#ifndef SIGNETFS_OUTBOX_OUTBOX_H
#define SIGNETFS_OUTBOX_OUTBOX_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "backing.h"
#include "fuse/sfuse.h"
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
	struct sfs_keyring *ring;      /* one signer per key; NULL: --no-sign */
	struct sfs_verifier *verifier; /* NULL when no trust store is set */
	enum sfs_md md;		       /* of the running digests */
	struct sfuse_ref ref;	       /* in outbox.confs (sfuse.h) */
	bool owned;		       /* cfg is ours (from a reload) */
	struct sfs_tsaset *tsas;       /* RFC 3161 clients; NULL: none */
	uint64_t gen;		       /* numbers the configurations */
};

struct ob_failed;
struct ob_stamper;
struct ob_dirtime;

struct state_store;

struct outbox {
	struct backing bk;
	const struct sfs_config *cfg; /* at mount: setup and audit only */
	char *cfg_path;		      /* absolute, for reloads */
	const struct sfs_mount_args *args;
	bool no_sign;
	struct sfuse_current confs; /* struct ob_conf in force */
	/* The one at mount: its default key signs the audit checkpoints. */
	struct ob_conf *conf0;
	struct audit_log *audit; /* NULL when no audit-log is set */
	/* state-dir: per-path versions handed out (ob_sign_digest). */
	struct state_store *state;
	struct sfs_stats stats; /* user.signetfs.stats of the root */
	uid_t mounter;		/* default writer besides root */
	bool writeback;		/* kernel writeback cache negotiated */
	char mount_id[64];
	char host[256]; /* gethostname at mount and reload */
	struct ob_names names;
	struct timespec started;  /* temp files older than this are stale */
	atomic_uint_fast64_t seq; /* orders opens and signatures */
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
	/* Directories being changed now (ob_dirtime.h); a leaf lock. */
	pthread_mutex_t dirtime_lock;
	struct ob_dirtime *dirtimes;
	/* Open handles, for teardown (fuse/sfuse.h): ob_file, bk_dir. */
	struct sfuse_handles files, dirs;
	char *mnt_abs;		    /* realpath of the mount point */
	dev_t fuse_dev;		    /* this mount's st_dev; 0: unknown */
	bool strict_modes;	    /* BACKING checked at mount */
	struct ob_stamper *stamper; /* RFC 3161 tokens (ob_stamp.h) */
};

static inline struct outbox *ob_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

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
void ob_conf_release(struct ob_conf *c);
#define OB_CONF_OF(r)                                                          \
	((struct ob_conf *)(void *)((char *)(r)-offsetof(struct ob_conf, ref)))
int ob_reload(void *userdata, struct sfs_error *err);

/* outbox.c */
/*
 * The longest name this mount takes (f_namemax): one it can sign, or with
 * --no-sign store (signetfs/layout.h).
 */
size_t ob_name_max(const struct outbox *ob);
/*
 * A writer's NAME as BACKING stores it (bname: NAME_MAX + 1 bytes); for a
 * name to create, -ENAMETOOLONG past ob_name_max(). 0 or -errno.
 */
int ob_bk_name(struct outbox *ob, const char *name, char *bname, bool create);
/* readdir: the name shown for a BACKING name, not 0 for a hidden slot. */
int ob_view_name(const char *bname, char *name);
/* Writers allowed by policy; others get EACCES and an audit record. */
bool ob_writer_allowed(struct outbox *ob, fuse_req_t req, const char *op,
		       struct bk_inode *i, const char *name);
/*
 * Before creating or removing NAME in P: the policy check, then P's fd
 * pinned. Returns the fd (bk_unpin P after use) or a negative errno.
 */
int ob_pin_parent_for_write(struct outbox *ob, fuse_req_t req, const char *op,
			    struct bk_inode *p, const char *name);

/*
 * Evaluate expr as the caller (fsuid, fsgid, no groups); when it fails with
 * EACCES or EPERM, once more with the caller's supplementary groups. expr
 * is evaluated twice then: it must be a call that changed nothing when it
 * failed.
 */
#define AS_CALLER(ob, req, expr)                                               \
	({                                                                     \
		int __r;                                                       \
		bk_creds_enter(&(ob)->bk, req, false);                         \
		__r = (expr);                                                  \
		if (__r < 0 && (errno == EACCES || errno == EPERM) &&          \
		    (ob)->bk.switch_creds) {                                   \
			bk_creds_enter(&(ob)->bk, req, true);                  \
			__r = (expr);                                          \
		}                                                              \
		int __e = errno;                                               \
		bk_creds_leave(&(ob)->bk);                                     \
		errno = __e;                                                   \
		__r;                                                           \
	})

#endif
