/* SPDX-License-Identifier: Apache-2.0 */
/* The one *at() gate to BACKING: inode table, caller credentials, paths. */
#ifndef SIGNETFS_FS_BACKING_H
#define SIGNETFS_FS_BACKING_H

#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "fuse/sfuse.h"
#include "signetfs/htab.h"

struct file_handle;

/*
 * One backing inode, keyed by (dev, ino). Its address is the FUSE node id.
 * It is reachable whatever happens to its names (libfuse passthrough_hp)
 * through an O_PATH fd, but only a bounded number of those stay open: the
 * others are closed (least recently used first) and reopened on demand from
 * the file handle (name_to_handle_at), or for non-directories from the last
 * name the kernel looked them up by (open_by_handle_at gives a regular file
 * whose dentry left the cache a disconnected dentry with no path).
 */
struct bk_inode {
	int fd; /* O_PATH | O_NOFOLLOW, -1: closed */
	dev_t dev;
	ino_t ino;
	mode_t type;		/* S_IFMT bits */
	uint64_t nlookup;	/* bk->table_lock */
	struct sfs_hnode hnode; /* in bk->inodes, bk->table_lock */
	/* NULL: no handle, the fd stays open for the inode's lifetime. */
	struct file_handle *fh;
	/* Under bk->fd_lock: pins, the LRU list, fd open/close, dead. */
	unsigned pins; /* threads using fd; 0: evictable */
	bool dead;     /* forgotten while pinned */
	struct bk_inode *lru_prev, *lru_next;
	/* Last name it was looked up by, under bk->table_lock. */
	dev_t pdev;
	ino_t pino;
	char *name;
	/*
	 * Serialises content changes and signing of this inode. Lock order:
	 * outbox ns_lock -> bk_inode.lock -> backing.table_lock ->
	 * backing.fd_lock.
	 */
	pthread_mutex_t lock;
	void *priv; /* owner-defined, freed by bk->priv_free */
};

struct backing {
	struct bk_inode root; /* its fd is never closed */
	char *root_path;      /* realpath of BACKING */
	size_t root_len;
	int proc_fd;	   /* /proc/self/fd */
	bool switch_creds; /* we are root: act as the caller */
	/*
	 * Lookups do not cross into another mount below the root (-EACCES):
	 * another filesystem, or a bind mount of this one, whose files can be
	 * written without the outbox. By mount id, which a bind mount does
	 * not share with its source (its st_dev it does).
	 */
	bool one_dev;
	uint64_t root_mnt_id; /* STATX_MNT_ID of BACKING */
	double timeout;	      /* entry and attribute timeout */
	void (*priv_free)(void *priv);
	/*
	 * An inode the kernel forgot while a thread still pins it leaves the
	 * table now and is freed later; a lookup meanwhile makes a new one
	 * for the same (dev, ino). Called at the first point (under the
	 * table lock: keep it to leaf locks), so the owner can hand state
	 * the new one must see over at once. May be NULL.
	 */
	void (*priv_detach)(void *priv);

	pthread_mutex_t table_lock; /* the hash table, nlookup, names */
	struct sfs_htab inodes;	    /* by (dev, ino) */

	/*
	 * Bounded O_PATH fds: open_by_handle_at needs CAP_DAC_READ_SEARCH
	 * and a filesystem that exports handles; without them (handles
	 * false) every inode keeps its fd, as passthrough_hp does.
	 */
	bool handles;
	int mount_fd; /* O_RDONLY on BACKING, for handles */
	int mount_id; /* of BACKING's mount */
	pthread_mutex_t fd_lock;
	struct bk_inode lru; /* list head: unpinned inodes with fds */
	size_t n_cached;     /* fds of inodes that have a handle */
	size_t max_cached;   /* bound on n_cached (pins may exceed) */
	uint64_t n_reopened; /* fds opened again after eviction */
};

int bk_init(struct backing *bk, const char *path);
void bk_destroy(struct backing *bk);

static inline struct bk_inode *bk_inode(struct backing *bk, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &bk->root;
	return (struct bk_inode *)(uintptr_t)ino;
}

static inline fuse_ino_t bk_nodeid(struct backing *bk, struct bk_inode *i)
{
	return i == &bk->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)i;
}

/* Look NAME up in PARENT (no symlink followed) and take a reference. */
int bk_lookup(struct backing *bk, struct bk_inode *parent, const char *name,
	      struct fuse_entry_param *e, struct bk_inode **out);
/* Same for a file just created through fd (an O_RDWR/O_WRONLY fd). */
int bk_lookup_fd(struct backing *bk, struct bk_inode *parent, const char *name,
		 int fd, struct fuse_entry_param *e, struct bk_inode **out);
/*
 * The table's inode for (dev, ino), pinned (bk_unpin() when done: it is
 * not freed before), or NULL. Its fd is not opened.
 */
struct bk_inode *bk_find(struct backing *bk, dev_t dev, ino_t ino);
void bk_forget(struct backing *bk, struct bk_inode *i, uint64_t n);

/*
 * The inode's O_PATH fd, opened again if it was evicted, and pinned: it is
 * not closed (nor the inode freed) before the matching bk_unpin(). -errno
 * when it cannot be opened (e.g. the inode was deleted: -ESTALE).
 */
int bk_pin(struct backing *bk, struct bk_inode *i);
void bk_unpin(struct backing *bk, struct bk_inode *i);

/* A real fd on the inode: open("/proc/self/fd/N", flags). */
int bk_reopen(struct backing *bk, struct bk_inode *i, int flags);
int bk_stat(struct backing *bk, struct bk_inode *i, struct stat *st);
/* lstat of NAME in PARENT. */
int bk_stat_at(struct backing *bk, struct bk_inode *parent, const char *name,
	       struct stat *st);
/*
 * NAME in PARENT was renamed to NEWNAME in NEWPARENT through the mount:
 * the inode now there remembers its new name (for reopening).
 */
void bk_renamed(struct backing *bk, struct bk_inode *newparent,
		const char *newname);

/*
 * Paths here are the writers' (the view's): BACKING stores each name
 * escaped (signetfs/layout.h). Names given to bk_lookup, bk_stat_at and
 * bk_renamed, and kept for reopening, are BACKING names.
 *
 * The inode's path relative to the mount as the kernel resolves its O_PATH
 * fd now (follows renames). -ENOENT once the inode has no name left, -EXDEV
 * if it is not below BACKING or not in the view (a signature slot on the
 * way). buf must hold PATH_MAX bytes.
 */
int bk_relpath(struct backing *bk, struct bk_inode *i, char *buf, size_t *len);
/* PARENT's relative path + "/" + NAME ("" for the root) into buf. */
int bk_child_relpath(struct backing *bk, struct bk_inode *parent,
		     const char *name, char *buf, size_t *len);
/*
 * Open the directory part of REL below BACKING with no symlink, magic link
 * or ".." escape (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS); base
 * (NAME_MAX + 1 bytes) gets REL's last component as BACKING stores it.
 */
int bk_open_parent(struct backing *bk, const char *rel, char *base);
/* Open a directory below BACKING the same way. */
int bk_open_dir(struct backing *bk, const char *rel);

/*
 * Act as the caller for the syscalls that follow on this thread: fsuid,
 * fsgid and no supplementary groups (per thread, raw syscalls: glibc's
 * wrappers would change every thread). with_groups adds the caller's
 * supplementary groups from /proc (costs a read, so callers retry with
 * them only after EACCES/EPERM).
 */
void bk_creds_enter(struct backing *bk, fuse_req_t req, bool with_groups);
void bk_creds_leave(struct backing *bk);

/* Pass-through ops (they reply themselves). */
void bk_op_getattr(struct backing *bk, fuse_req_t req, struct bk_inode *i);
/* statvfs of BACKING, with names of at most name_max bytes. */
void bk_op_statfs(struct backing *bk, fuse_req_t req, size_t name_max);
void bk_op_forget_multi(struct backing *bk, size_t count,
			struct fuse_forget_data *forgets);

/* Directory streams for opendir/readdir/releasedir. */
struct bk_dir {
	struct sfuse_handle link; /* on outbox.dirs while open */
	DIR *dp;
	off_t offset;
	struct dirent *entry;
};

int bk_opendir(struct backing *bk, struct bk_inode *i, struct bk_dir **out);
void bk_closedir(struct bk_dir *d);
/* A readdir(plus) reply of what view() shows: 0 and the name to show */
/* (NAME_MAX + 1 bytes) for a BACKING name, or not 0 to leave it out. */
void bk_readdir(struct backing *bk, fuse_req_t req, struct bk_inode *dir,
		struct bk_dir *d, size_t size, off_t off, bool plus,
		int (*view)(const char *bname, char *name));

#endif
