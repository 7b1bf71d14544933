/* SPDX-License-Identifier: Apache-2.0 */
/* Internal to the inbox mount: resolver, verified-state cache, listing. */
#ifndef SIGNETFS_FS_INBOX_H
#define SIGNETFS_FS_INBOX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "signetfs/audit.h"
#include "signetfs/config.h"
#include "signetfs/digest.h"
#include "signetfs/stats.h"
#include "signetfs/verify.h"
#include "fuse/sfuse.h"

/*
 * Served bytes are checked per block against keyed tags (AES-GMAC under a
 * per-mount secret key, digest.h) made in the same pass that computed the
 * signed digest. 128 KiB is the size of FUSE read requests here, so a
 * sequential read checks each block exactly once.
 */
#define INBOX_BLOCK_SHIFT 17
#define INBOX_BLOCK ((size_t)1 << INBOX_BLOCK_SHIFT)
#define INBOX_TAG SFS_BLOCKMAC_LEN

typedef uint8_t inbox_tag[INBOX_TAG];

/* ------------------------------------------------------------------ */
/* inbox_resolve.c: every name in BACKING goes through openat2 here. */

/*
 * Open PATH (mount-relative, "" is the root) beneath rootfd without
 * following any symlink or magic link. flags as for openat(2); O_NOFOLLOW
 * and O_CLOEXEC are added. Returns an fd or -errno.
 */
int inbox_open_beneath(int rootfd, const char *path, int flags);

/* lstat-like: an O_PATH open beneath rootfd and fstat. 0 or -errno. */
int inbox_stat_beneath(int rootfd, const char *path, struct stat *st);

/*
 * Open a regular file for reading: O_NONBLOCK so a FIFO or device swapped
 * in never blocks us, then fstat; anything but a regular file is -ENOENT.
 */
int inbox_open_regular(int rootfd, const char *path, struct stat *st);

/* ------------------------------------------------------------------ */
/* inbox_hash.c */

/* The identity of one version of a backing file. */
struct inbox_stamp {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	struct timespec ctime;
	bool present;
	/* Shown in attributes, not part of the identity (a chmod moves ctime). */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	nlink_t nlink;
};

void inbox_stamp_of(const struct stat *st, struct inbox_stamp *s);
bool inbox_stamp_eq(const struct inbox_stamp *a, const struct inbox_stamp *b);

static inline size_t inbox_nblocks(uint64_t size)
{
	return (size_t)((size + INBOX_BLOCK - 1) >> INBOX_BLOCK_SHIFT);
}

/*
 * Hash fd from 0 to size with alg, and tag each INBOX_BLOCK i under the
 * nonce (gen, i) into tags[inbox_nblocks(size)]. -EIO when the file is
 * shorter than size; the content is read exactly once.
 */
struct inbox_fill;
int inbox_hash_blocks(int fd, uint64_t size, enum sfs_md alg,
		      const struct sfs_blockmac *mac, uint64_t gen,
		      struct sfs_digest *digest, inbox_tag *tags,
		      struct inbox_fill *fill);

/* ------------------------------------------------------------------ */
/* inbox_state.c: verified-state cache */

struct inbox;

/*
 * What verifying one path found, for one (content, .sig) version pair.
 * Immutable once published, except blocks (dropped under the table lock
 * when the memory budget is exceeded and no handle holds the entry).
 */
struct inbox_vfile {
	char *path;
	size_t path_len;
	uint64_t hash;			/* XXH3 of path: table slot only */
	struct inbox_vfile *next;	/* table chain */
	atomic_uint refs;
	unsigned opens;			/* handles; under the table lock */
	uint64_t gen;			/* unique per verification */
	uint64_t epoch;			/* inbox_conf it was verified with */
	struct inbox_stamp content;
	struct inbox_stamp sig;
	enum verify_reason verdict;
	/* Valid when verdict == VR_OK: */
	struct sfs_digest digest;
	uint8_t sig_sha256[32];		/* of the .sig bytes verified */
	size_t sig_len;
	uint8_t signer_sha256[32];
	char signer_subject[256];
	time_t signing_time;
	time_t valid_until;	/* an OK verdict expires then (sig_info) */
	inbox_tag *blocks;		/* NULL: not kept, re-hash on open */
	atomic_bool audited_mismatch;	/* one record per version */
};

void inbox_vfile_put(struct inbox_vfile *vf);

/*
 * Verified state of PATH as BACKING holds it now: reuses the cache while
 * both stamps are unchanged, verifies again otherwise. With want_fd, also
 * opens the content (*fd, caller closes) and makes sure blocks exist for
 * that very file, and counts a handle (inbox_vfile_closed() undoes it).
 * Returns 0 with *out referenced (check (*out)->verdict), -ENOENT when
 * PATH is no regular file, or -errno.
 */
int inbox_check(struct inbox *ib, const char *path, size_t len, int *fd,
		struct inbox_vfile **out);
/*
 * Would a check of path (st: its content now) hash it, that is, is there
 * a .sig beside it and no verdict cached for the two as they are? Only a
 * hint: either may change meanwhile.
 */
bool inbox_cache_needs_hash(struct inbox *ib, const char *path, size_t len,
			    const struct stat *st);
/* The same, with the bytes it hashes also pushed into fill (inbox_fill.c). */
int inbox_check_fill(struct inbox *ib, const char *path, size_t len,
		     int *fd, struct inbox_vfile **out, struct inbox_fill *fill);

/* Handle accounting: blocks of an entry with opens > 0 are never dropped. */
void inbox_vfile_closed(struct inbox *ib, struct inbox_vfile *vf);

/* After a reload: free the block tables of entries nobody has open. */
void inbox_cache_trim_stale(struct inbox *ib);

int inbox_cache_init(struct inbox *ib);
void inbox_cache_destroy(struct inbox *ib);


/* ------------------------------------------------------------------ */
/* inbox_dir.c: listings and prewarm */

enum inbox_dtype { INBOX_DT_DIR, INBOX_DT_REG, INBOX_DT_SIG };

struct inbox_dirent {
	char *name;
	enum inbox_dtype type;
	ino_t ino;
};

struct inbox_listing {
	struct inbox_dirent *ents;
	size_t n;
};

/*
 * Read the backing directory PATH and keep what the mount shows: dirs,
 * files that verify (in parallel) and their .sig; in audit mode every
 * regular file. 0 or -errno.
 */
int inbox_list(struct inbox *ib, const char *path, struct inbox_listing *l);
void inbox_listing_free(struct inbox_listing *l);

/* Verify the whole tree in the background (--prewarm). */
int inbox_prewarm_start(struct inbox *ib);
void inbox_prewarm_stop(struct inbox *ib);

/* ------------------------------------------------------------------ */
/* inbox_node.c: the nodes the kernel knows, by mount path */

/* A node: the mount shows directories, files and their .sig. */
struct node {
	struct node *next;		/* table chain */
	uint64_t hash;
	char *path;			/* mount-relative, "" for the root */
	size_t len;
	enum inbox_dtype kind;
	uint64_t nlookup;
	bool hashed;
	/*
	 * The kernel page cache of this inode holds bytes of the verified
	 * version cache_gen at most; cached_opens handles read through it.
	 */
	uint64_t cache_gen;
	unsigned cached_opens;
	unsigned pins;			/* the daemon's own references */
	/* The inode's generation in every reply (a fill's random one). */
	uint32_t generation;
};


int inbox_nodes_init(struct inbox *ib);
void inbox_nodes_destroy(struct inbox *ib);
struct node *inbox_node_of(struct inbox *ib, fuse_ino_t ino);
fuse_ino_t inbox_ino_of(struct inbox *ib, struct node *n);
/* The node for (path, kind) with one more lookup counted; NULL: ENOMEM. */
struct node *inbox_node_get(struct inbox *ib, const char *path, size_t len,
			    enum inbox_dtype kind);
void inbox_node_forget(struct inbox *ib, fuse_ino_t ino, uint64_t nlookup);
/*
 * A new node for a file path that has none (so the kernel has no inode
 * for it and nobody can have it open), pinned so no FORGET frees it, and
 * kept out of the table: no lookup or listing can name it until
 * inbox_node_publish() puts it there, which fails if the path has a node
 * by then. NULL when the path has a node (or ENOMEM).
 */
struct node *inbox_node_fresh(struct inbox *ib, const char *path, size_t len,
			      uint32_t generation);
bool inbox_node_publish(struct inbox *ib, struct node *n);
void inbox_node_pin(struct inbox *ib, struct node *n);
void inbox_node_unpin(struct inbox *ib, struct node *n);
/* One more lookup of n counted (a reply naming it is about to be sent). */
void inbox_node_ref(struct inbox *ib, struct node *n);
/* The inode's page cache holds version gen, whole: opens may keep it. */
void inbox_node_cache_filled(struct inbox *ib, struct node *n, uint64_t gen);

/* A file or .sig entry the kernel knows: (parent, name) and its inode. */
struct inbox_known {
	fuse_ino_t parent;
	fuse_ino_t ino;
	char *name;
	size_t len;
};

/* Every file and .sig node with its parent; inbox_known_free() after. */
int inbox_nodes_known_files(struct inbox *ib, struct inbox_known **out,
			    size_t *n);
void inbox_known_free(struct inbox_known *k, size_t n);

enum inbox_cache_use {
	INBOX_CACHE_KEEP,	/* the page cache holds this version: keep it */
	INBOX_CACHE_FRESH,	/* drop what is cached, then cache this one */
	INBOX_CACHE_DIRECT,	/* another version is being read: bypass */
};

/* Count a handle of version gen; _put undoes a KEEP or FRESH. */
enum inbox_cache_use inbox_node_cache_get(struct inbox *ib, struct node *n,
					  uint64_t gen);
void inbox_node_cache_put(struct inbox *ib, struct node *n);

/* ------------------------------------------------------------------ */
/* inbox_fill.c: the page cache filled while a file is verified */

/*
 * Before a fresh file is hashed, its node is made known to the kernel
 * through a file handle only this daemon's thread can resolve, and each
 * chunk the verification reads is stored into that inode's page cache
 * (FUSE_NOTIFY_STORE). Nobody can read the inode before the lookup that
 * names it is answered, which happens only when the file verified; when
 * it did not, the pages are dropped. The first read then runs at page
 * cache speed instead of waiting for the verification, and then for
 * every block to be read, checked and copied again.
 */
struct inbox_fill {
	struct inbox *ib;
	struct node *node;
	fuse_ino_t ino;
	uint64_t size;
	bool active;		/* the kernel knows the inode: store into it */
	int hfd;		/* holds the inode until after the reply */
	atomic_int err;		/* a store failed: the cache is incomplete */
	atomic_uint_fast64_t stored;
};

/*
 * Set fill up for path (st: what BACKING holds) if it is worth it and
 * possible: a fresh node, a file that will be hashed (a .sig beside it,
 * no cached verdict), not audit mode, file handles allowed. fill->active
 * tells; inbox_fill_end() in every case.
 */
void inbox_fill_begin(struct inbox *ib, struct inbox_fill *fill,
		      const char *path, size_t len, const struct stat *st);
/*
 * LOOKUP of "." in node parent: the kernel resolving the handle made by
 * inbox_fill_begin(). Answered to that thread only; -ENOENT otherwise.
 */
int inbox_fill_lookup_self(struct inbox *ib, fuse_req_t req,
			   fuse_ino_t parent, struct fuse_entry_param *e);
/* From the hashing threads: bytes [off, off+len) as read. */
void inbox_fill_store(struct inbox_fill *fill, uint64_t off,
		      const uint8_t *buf, size_t len);
/* Verified (gen): keep the pages if all were stored, else drop them. */
void inbox_fill_end(struct inbox_fill *fill, bool verified, uint64_t gen);
/* After the LOOKUP reply: let the inode go (a moment later). */
void inbox_fill_release(struct inbox_fill *fill);
/* At unmount: close everything held. */
void inbox_fill_shutdown(void);

/* ------------------------------------------------------------------ */
/* inbox_file.c: open, read, release of files and .sig */

int inbox_file_init(void);
/* Teardown: free the handles whose RELEASE the unmount dropped (mount.h). */
void inbox_files_shutdown(struct inbox *ib);
void inbox_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void inbox_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void inbox_op_release(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);

/* ------------------------------------------------------------------ */
/* inbox_audit.c: the audit log and the key that seals it */

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

/* ------------------------------------------------------------------ */
/* inbox_conf.c: what SIGHUP reloads, swapped whole */

/*
 * One generation of the reloadable settings: the config (pins, path
 * binding, trust store, CRL) and the verifier built from it. A
 * verification holds a reference for its whole run, so a reload never
 * frees what a verification in progress uses; the last put frees it.
 */
struct inbox_conf {
	atomic_uint refs;
	uint64_t epoch;			/* 1 at mount, +1 per reload */
	const struct sfs_config *cfg;
	struct sfs_config *owned;	/* loaded by a reload: freed here */
	struct sfs_verifier *verifier;
};

/* The current generation, referenced; inbox_conf_put() when done. */
struct inbox_conf *inbox_conf_get(struct inbox *ib);
void inbox_conf_put(struct inbox_conf *c);
/* The current epoch: a verdict of another epoch is no longer valid. */
uint64_t inbox_epoch(struct inbox *ib);
/* At mount: the first generation from the mount's config. */
int inbox_conf_init(struct inbox *ib, struct sfs_error *err);
void inbox_conf_destroy(struct inbox *ib);
/* sfuse_spec.reload: SIGHUP. */
int inbox_reload(void *userdata, struct sfs_error *err);

/* ------------------------------------------------------------------ */

struct inbox_cache;

struct inbox {
	const struct sfs_config *cfg;	/* the mount's: audit log, mode */
	const char *backing;
	char *mnt_real;			/* realpath of the mountpoint */
	int rootfd;
	bool audit_mode;
	/* Lock order: conf_lock is a leaf; only conf and epoch under it. */
	pthread_mutex_t conf_lock;
	struct inbox_conf *conf;
	atomic_uint_fast64_t epoch;
	struct audit_log *audit;
	struct sfs_signer *signer;	/* seals the log; NULL: unsealed */
	struct sfs_blockmac *mac;	/* block tags; its key never leaves */
	struct inbox_cache *cache;
	struct fuse_session *se;	/* set by sfuse_run while serving */
	struct sfs_stats stats;		/* signetfs status (stats.h) */
	unsigned workers;		/* verifiers per listing */
	pthread_t prewarm;
	bool prewarm_wanted;
	bool prewarm_running;
	atomic_bool stopping;
	atomic_bool readahead_set;
	atomic_bool fill;		/* file handles work: fill page caches */
	atomic_ulong mnt_dev;		/* the mount's st_dev; 0 until known */
	/* The node table lives in inbox.c. */
	void *nodes;
	struct sfuse_handles dirs;	/* open directory handles */
};

/* Strict mode serves verified files; audit mode everything regular. */
static inline bool inbox_served(const struct inbox *ib,
				const struct inbox_vfile *vf)
{
	return vf->verdict == VR_OK || ib->audit_mode;
}

#endif
