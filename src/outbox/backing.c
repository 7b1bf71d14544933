// SPDX-License-Identifier: Apache-2.0
/* The one *at() gate to BACKING: inode table, caller credentials, paths. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <xxhash.h>

#include "backing.h"
#include "signetfs/layout.h"
#include "signetfs/log.h"
#include "signetfs/util.h"

#define BK_MIN_BUCKETS 1024
#define BK_MAX_GROUPS 256

static uint64_t hash_of(dev_t dev, ino_t ino)
{
	uint64_t key[2] = {(uint64_t)dev, (uint64_t)ino};

	return XXH3_64bits(key, sizeof(key));
}

struct ino_key {
	dev_t dev;
	ino_t ino;
};

static bool same_ino(const struct sfs_hnode *n, const void *key)
{
	const struct bk_inode *i = SFS_HTAB_ENTRY(n, struct bk_inode, hnode);
	const struct ino_key *k = key;

	return i->dev == k->dev && i->ino == k->ino;
}

static struct bk_inode *find_locked(struct backing *bk, dev_t dev, ino_t ino)
{
	struct ino_key k = {dev, ino};
	struct sfs_hnode *n;

	SFS_ASSERT_HELD(&bk->table_lock);
	if (bk->root.dev == dev && bk->root.ino == ino)
		return &bk->root;
	n = *sfs_htab_find(&bk->inodes, hash_of(dev, ino), same_ino, &k);
	return n ? SFS_HTAB_ENTRY(n, struct bk_inode, hnode) : NULL;
}

/* LRU of unpinned inodes with an open fd and a handle (bk->fd_lock). */
static void lru_del_locked(struct bk_inode *i)
{
	if (!i->lru_next)
		return;
	i->lru_prev->lru_next = i->lru_next;
	i->lru_next->lru_prev = i->lru_prev;
	i->lru_prev = i->lru_next = NULL;
}

static void lru_add_locked(struct backing *bk, struct bk_inode *i)
{
	SFS_ASSERT_HELD(&bk->fd_lock);

	i->lru_next = bk->lru.lru_next;
	i->lru_prev = &bk->lru;
	bk->lru.lru_next->lru_prev = i;
	bk->lru.lru_next = i;
}

/*
 * Close the least recently used fds beyond the bound; at most a few per
 * call, into fds[], closed by the caller after unlocking (the last close
 * of an unlinked file frees its blocks: not under a global lock).
 */
#define BK_EVICT_BATCH 8

static size_t evict_locked(struct backing *bk, int *fds)
{
	size_t n = 0;

	SFS_ASSERT_HELD(&bk->fd_lock);
	while (n < BK_EVICT_BATCH && bk->n_cached > bk->max_cached &&
	       bk->lru.lru_prev != &bk->lru) {
		struct bk_inode *v = bk->lru.lru_prev;

		lru_del_locked(v);
		fds[n++] = v->fd;
		v->fd = -1;
		bk->n_cached--;
	}
	return n;
}

static void close_all(int *fds, size_t n)
{
	while (n)
		close(fds[--n]);
}

static void pin_locked(struct bk_inode *i)
{
	if (i->pins++ == 0)
		lru_del_locked(i);
}

struct bk_inode *bk_find(struct backing *bk, dev_t dev, ino_t ino)
{
	struct bk_inode *i;

	pthread_mutex_lock(&bk->table_lock);
	i = find_locked(bk, dev, ino);
	if (i && i != &bk->root) {
		pthread_mutex_lock(&bk->fd_lock);
		pin_locked(i);
		pthread_mutex_unlock(&bk->fd_lock);
	}
	pthread_mutex_unlock(&bk->table_lock);
	return i;
}

/*
 * Without file handles every inode the kernel knows holds an O_PATH fd (as
 * in passthrough_hp), so a tree of 10,000 files and their signatures needs
 * 20,000+ fds: take what the system allows (root may raise the hard limit
 * up to nr_open). With handles the fds are bounded, but a higher limit
 * still means a larger cache.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	unsigned long nr_open = 0;
	FILE *f;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	f = fopen("/proc/sys/fs/nr_open", "re");
	if (f) {
		if (fscanf(f, "%lu", &nr_open) != 1)
			nr_open = 0;
		fclose(f);
	}
	if (nr_open > rl.rlim_max) {
		struct rlimit up = {nr_open, nr_open};

		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return;
	}
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* A file handle for the inode open on fd, or NULL (then it keeps fd). */
static struct file_handle *handle_of(struct backing *bk, int fd)
{
	struct file_handle *fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	int mount_id;

	if (!fh)
		return NULL;
	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(fd, "", fh, &mount_id, AT_EMPTY_PATH) < 0 ||
	    mount_id != bk->mount_id) {
		/* e.g. another filesystem mounted below BACKING */
		free(fh);
		return NULL;
	}
	return realloc(fh, sizeof(*fh) + fh->handle_bytes) ?: fh;
}

/*
 * Bounded fds need name_to_handle_at (the filesystem must export handles)
 * and open_by_handle_at (CAP_DAC_READ_SEARCH): try both on BACKING.
 */
static void handles_init(struct backing *bk)
{
	const char *env = getenv("SIGNETFS_FD_CACHE");
	struct file_handle *fh;
	struct rlimit rl;
	int fd;

	bk->mount_fd = open(bk->root_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fh = malloc(sizeof(*fh) + MAX_HANDLE_SZ);
	if (bk->mount_fd < 0 || !fh)
		goto off;
	fh->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(bk->root.fd, "", fh, &bk->mount_id,
			      AT_EMPTY_PATH) < 0)
		goto off;
	fd = open_by_handle_at(bk->mount_fd, fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		goto off;
	close(fd);
	free(fh);
	bk->handles = true;
	/* A quarter of the fds; the rest for open files, dirs, sockets. */
	bk->max_cached = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		bk->max_cached = rl.rlim_cur / 4 > 64 ? rl.rlim_cur / 4 : 64;
	if (env && strtoul(env, NULL, 10) > 0) /* tests */
		bk->max_cached = strtoul(env, NULL, 10);
	return;
off:
	sfs_info("no file handles on %s (%s): one fd per inode, a mount holds "
		 "at most RLIMIT_NOFILE inodes",
		 bk->root_path, fh ? strerror(errno) : "ENOMEM");
	free(fh);
	if (bk->mount_fd >= 0)
		close(bk->mount_fd);
	bk->mount_fd = -1;
}

/* The mount id (mountinfo field 1) of an fd, 0 if the kernel says none. */
static uint64_t mount_id_of(int fd)
{
	struct statx stx;

	if (statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID,
		  &stx) < 0 ||
	    !(stx.stx_mask & STATX_MNT_ID))
		return 0;
	return stx.stx_mnt_id;
}

int bk_init(struct backing *bk, const char *path)
{
	struct stat st;

	memset(bk, 0, sizeof(*bk));
	bk->root.fd = -1;
	bk->proc_fd = -1;
	bk->mount_fd = -1;
	bk->lru.lru_next = bk->lru.lru_prev = &bk->lru;
	pthread_mutex_init(&bk->table_lock, NULL);
	pthread_mutex_init(&bk->fd_lock, NULL);
	pthread_mutex_init(&bk->root.lock, NULL);
	bk->root_path = realpath(path, NULL);
	if (!bk->root_path)
		return -errno;
	bk->root_len = strlen(bk->root_path);
	if (bk->root_len == 1)
		bk->root_len = 0; /* "/" */
	bk->root.fd = open(bk->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (bk->root.fd < 0 || fstat(bk->root.fd, &st) < 0)
		return -errno;
	bk->root.dev = st.st_dev;
	bk->root.ino = st.st_ino;
	bk->root_mnt_id = mount_id_of(bk->root.fd);
	bk->root.type = S_IFDIR;
	bk->root.nlookup = 2;
	bk->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (bk->proc_fd < 0)
		return -errno;
	if (sfs_htab_init(&bk->inodes, BK_MIN_BUCKETS))
		return -ENOMEM;
	bk->switch_creds = geteuid() == 0;
	bk->timeout = 1.0;
	raise_fd_limit();
	handles_init(bk);
	return 0;
}

static void inode_free(struct backing *bk, struct bk_inode *i)
{
	if (i->priv && bk->priv_free)
		bk->priv_free(i->priv);
	if (i->fd >= 0)
		close(i->fd);
	free(i->fh);
	free(i->name);
	pthread_mutex_destroy(&i->lock);
	free(i);
}

void bk_destroy(struct backing *bk)
{
	if (bk->handles)
		sfs_info("fd cache: bound %zu, %zu open, %llu reopened",
			 bk->max_cached, bk->n_cached,
			 (unsigned long long)bk->n_reopened);
	for (size_t b = 0; b < bk->inodes.nslots; b++) {
		struct sfs_hnode *n = bk->inodes.slots[b], *next;

		for (; n; n = next) {
			next = n->next;
			inode_free(bk,
				   SFS_HTAB_ENTRY(n, struct bk_inode, hnode));
		}
	}
	sfs_htab_free(&bk->inodes);
	if (bk->root.priv && bk->priv_free)
		bk->priv_free(bk->root.priv);
	if (bk->root.fd >= 0)
		close(bk->root.fd);
	if (bk->proc_fd >= 0)
		close(bk->proc_fd);
	if (bk->mount_fd >= 0)
		close(bk->mount_fd);
	free(bk->root_path);
	pthread_mutex_destroy(&bk->table_lock);
	pthread_mutex_destroy(&bk->fd_lock);
	pthread_mutex_destroy(&bk->root.lock);
	memset(bk, 0, sizeof(*bk));
}

static void fill_entry(struct backing *bk, struct bk_inode *i,
		       const struct stat *st, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = bk_nodeid(bk, i);
	e->attr = *st;
	e->attr_timeout = bk->timeout;
	e->entry_timeout = bk->timeout;
}

/* Remember NAME in PARENT: how a non-directory is found again. */
static void set_name_locked(struct backing *bk, struct bk_inode *i,
			    struct bk_inode *parent, const char *name)
{
	char *n;

	SFS_ASSERT_HELD(&bk->table_lock);
	if (!parent || !name || i == &bk->root)
		return;
	if (!i->name || strcmp(i->name, name) != 0) {
		n = strdup(name);
		if (!n)
			return; /* the handle still finds it */
		free(i->name);
		i->name = n;
	}
	i->pdev = parent->dev;
	i->pino = parent->ino;
}

/* An fd we opened for i: cache it when i has none (bk->fd_lock). */
static int adopt_fd_locked(struct backing *bk, struct bk_inode *i, int fd,
			   int *evicted, size_t *n_evicted)
{
	SFS_ASSERT_HELD(&bk->fd_lock);

	if (i->fd >= 0)
		return fd; /* the caller closes it */
	i->fd = fd;
	if (i->fh) {
		bk->n_cached++;
		if (!i->pins)
			lru_add_locked(bk, i);
		*n_evicted = evict_locked(bk, evicted);
	}
	return -1;
}

static struct bk_inode *new_inode(struct backing *bk, int fd,
				  const struct stat *st)
{
	struct bk_inode *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->fd = -1;
	n->dev = st->st_dev;
	n->ino = st->st_ino;
	n->type = st->st_mode & S_IFMT;
	n->fh = bk->handles ? handle_of(bk, fd) : NULL;
	pthread_mutex_init(&n->lock, NULL);
	return n;
}

/*
 * Insert (or reference) the inode for an O_PATH fd we own, found as NAME in
 * PARENT; fd is consumed.
 */
static int insert(struct backing *bk, int fd, const struct stat *st,
		  struct bk_inode *parent, const char *name,
		  struct fuse_entry_param *e, struct bk_inode **out)
{
	struct bk_inode *i, *n = NULL;
	int evicted[BK_EVICT_BATCH];
	size_t n_evicted = 0;

	pthread_mutex_lock(&bk->table_lock);
	i = find_locked(bk, st->st_dev, st->st_ino);
	if (!i) {
		/* name_to_handle_at is a syscall: not under the lock. */
		pthread_mutex_unlock(&bk->table_lock);
		n = new_inode(bk, fd, st);
		if (!n) {
			close(fd);
			return -ENOMEM;
		}
		pthread_mutex_lock(&bk->table_lock);
		i = find_locked(bk, st->st_dev, st->st_ino);
	}
	if (!i) {
		n->hnode.hash = hash_of(n->dev, n->ino);
		sfs_htab_add(&bk->inodes, &n->hnode);
		i = n;
		n = NULL; /* transferred */
	}
	i->nlookup++;
	set_name_locked(bk, i, parent, name);
	pthread_mutex_lock(&bk->fd_lock);
	fd = adopt_fd_locked(bk, i, fd, evicted, &n_evicted);
	pthread_mutex_unlock(&bk->fd_lock);
	pthread_mutex_unlock(&bk->table_lock);
	if (fd >= 0)
		close(fd);
	close_all(evicted, n_evicted);
	if (n) { /* lost a race with another lookup of the same inode */
		free(n->fh);
		pthread_mutex_destroy(&n->lock);
		free(n);
	}
	fill_entry(bk, i, st, e);
	if (out)
		*out = i;
	return 0;
}

/*
 * Open an evicted inode again. A non-directory by the name it was last
 * looked up by, when that still leads to it: open_by_handle_at gives a
 * file whose dentry left the dcache a disconnected dentry, whose path
 * (bk_relpath) is unknown. Directories are always reconnected by the
 * kernel (exportfs_decode_fh), so for them the handle is exact.
 */
static int reopen_by_name(struct backing *bk, struct bk_inode *i)
{
	struct bk_inode *p = NULL;
	char *name = NULL;
	struct stat st;
	int pfd, fd = -1;

	pthread_mutex_lock(&bk->table_lock);
	if (i->name) {
		name = strdup(i->name);
		p = find_locked(bk, i->pdev, i->pino);
		if (p && p != &bk->root) {
			pthread_mutex_lock(&bk->fd_lock);
			pin_locked(p);
			pthread_mutex_unlock(&bk->fd_lock);
		}
	}
	pthread_mutex_unlock(&bk->table_lock);
	if (!name || !p)
		goto out;
	pfd = bk_pin(bk, p);
	if (pfd >= 0) {
		fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0 &&
		    (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) <
			 0 ||
		     st.st_dev != i->dev || st.st_ino != i->ino)) {
			close(fd);
			fd = -1;
		}
		bk_unpin(bk, p);
	}
	bk_unpin(bk, p);
out:
	free(name);
	return fd;
}

static int reopen_inode(struct backing *bk, struct bk_inode *i)
{
	int fd = i->type == S_IFDIR ? -1 : reopen_by_name(bk, i);

	if (fd >= 0)
		return fd;
	fd = open_by_handle_at(bk->mount_fd, i->fh, O_PATH | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int bk_pin(struct backing *bk, struct bk_inode *i)
{
	int evicted[BK_EVICT_BATCH], fd, extra;
	size_t n_evicted = 0;

	if (i == &bk->root)
		return bk->root.fd;
	pthread_mutex_lock(&bk->fd_lock);
	pin_locked(i);
	fd = i->fd;
	pthread_mutex_unlock(&bk->fd_lock);
	if (fd >= 0)
		return fd; /* pinned: nobody closes it now */
	fd = reopen_inode(bk, i);
	if (fd < 0) {
		bk_unpin(bk, i);
		return fd;
	}
	pthread_mutex_lock(&bk->fd_lock);
	extra = adopt_fd_locked(bk, i, fd, evicted, &n_evicted);
	fd = i->fd;
	bk->n_reopened++;
	pthread_mutex_unlock(&bk->fd_lock);
	if (extra >= 0)
		close(extra); /* another thread reopened it first */
	close_all(evicted, n_evicted);
	return fd;
}

/* i leaves the fd cache for good (bk->fd_lock). */
static void drop_locked(struct backing *bk, struct bk_inode *i)
{
	SFS_ASSERT_HELD(&bk->fd_lock);

	lru_del_locked(i);
	if (i->fd >= 0 && i->fh)
		bk->n_cached--;
}

void bk_unpin(struct backing *bk, struct bk_inode *i)
{
	int evicted[BK_EVICT_BATCH];
	size_t n_evicted = 0;
	bool free_it = false;

	if (i == &bk->root)
		return;
	pthread_mutex_lock(&bk->fd_lock);
	if (--i->pins == 0) {
		if (i->dead) {
			drop_locked(bk, i);
			free_it = true;
		} else if (i->fd >= 0 && i->fh) {
			lru_add_locked(bk, i);
			n_evicted = evict_locked(bk, evicted);
		}
	}
	pthread_mutex_unlock(&bk->fd_lock);
	close_all(evicted, n_evicted);
	if (free_it)
		inode_free(bk, i);
}

/* fd (an O_PATH fd below BACKING) is on BACKING's own mount. */
static bool same_mount(struct backing *bk, int fd, const struct stat *st)
{
	uint64_t id;

	if (st->st_dev != bk->root.dev)
		return false;
	id = mount_id_of(fd);
	return id && id == bk->root_mnt_id; /* unknown: fail closed */
}

int bk_lookup(struct backing *bk, struct bk_inode *parent, const char *name,
	      struct fuse_entry_param *e, struct bk_inode **out)
{
	struct bk_inode *i;
	struct stat st;
	int pfd, fd, ret;

	pfd = bk_pin(bk, parent);
	if (pfd < 0)
		return pfd;
	fd = openat(pfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	if (fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
		close(fd);
		goto out;
	}
	if (bk->one_dev && !same_mount(bk, fd, &st)) {
		sfs_warn("%s: another mount below BACKING: refused "
			 "(strict-modes)",
			 name);
		close(fd);
		ret = -EACCES;
		goto out;
	}
	ret = insert(bk, fd, &st, parent, name, e, &i);
	if (ret == 0 && out)
		*out = i;
out:
	bk_unpin(bk, parent);
	return ret;
}

int bk_lookup_fd(struct backing *bk, struct bk_inode *parent, const char *name,
		 int fd, struct fuse_entry_param *e, struct bk_inode **out)
{
	struct stat st;
	char p[32];
	int pfd;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* An O_PATH fd on the very inode we opened, whatever NAME is now. */
	snprintf(p, sizeof(p), "%d", fd);
	pfd = openat(bk->proc_fd, p, O_PATH | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	return insert(bk, pfd, &st, parent, name, e, out);
}

void bk_renamed(struct backing *bk, struct bk_inode *newparent,
		const char *newname)
{
	struct bk_inode *i;
	struct stat st;
	int pfd = bk_pin(bk, newparent);

	if (pfd < 0)
		return;
	if (fstatat(pfd, newname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		pthread_mutex_lock(&bk->table_lock);
		i = find_locked(bk, st.st_dev, st.st_ino);
		if (i)
			set_name_locked(bk, i, newparent, newname);
		pthread_mutex_unlock(&bk->table_lock);
	}
	bk_unpin(bk, newparent);
}

void bk_forget(struct backing *bk, struct bk_inode *i, uint64_t n)
{
	bool free_it = false;

	if (i == &bk->root)
		return;
	pthread_mutex_lock(&bk->table_lock);
	if (i->nlookup > n) {
		i->nlookup -= n;
		pthread_mutex_unlock(&bk->table_lock);
		return;
	}
	struct sfs_hnode **link = sfs_htab_link(&bk->inodes, &i->hnode);

	if (link)
		sfs_htab_del(&bk->inodes, link);
	/* A thread that pinned it (bk_find) frees it at bk_unpin. */
	pthread_mutex_lock(&bk->fd_lock);
	if (i->pins) {
		i->dead = true;
		if (i->priv && bk->priv_detach)
			bk->priv_detach(i->priv);
	} else {
		drop_locked(bk, i);
		free_it = true;
	}
	pthread_mutex_unlock(&bk->fd_lock);
	pthread_mutex_unlock(&bk->table_lock);
	if (free_it)
		inode_free(bk, i);
}

void bk_op_forget_multi(struct backing *bk, size_t count,
			struct fuse_forget_data *forgets)
{
	for (size_t k = 0; k < count; k++)
		bk_forget(bk, bk_inode(bk, forgets[k].ino), forgets[k].nlookup);
}

int bk_reopen(struct backing *bk, struct bk_inode *i, int flags)
{
	char p[32];
	int fd = bk_pin(bk, i);

	if (fd < 0)
		return fd;
	snprintf(p, sizeof(p), "%d", fd);
	fd = openat(bk->proc_fd, p, (flags & ~O_NOFOLLOW) | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	bk_unpin(bk, i);
	return fd;
}

int bk_stat(struct backing *bk, struct bk_inode *i, struct stat *st)
{
	int ret = 0, fd = bk_pin(bk, i);

	if (fd < 0)
		return fd;
	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	bk_unpin(bk, i);
	return ret;
}

int bk_stat_at(struct backing *bk, struct bk_inode *parent, const char *name,
	       struct stat *st)
{
	int ret = 0, fd = bk_pin(bk, parent);

	if (fd < 0)
		return fd;
	if (fstatat(fd, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	bk_unpin(bk, parent);
	return ret;
}

/* The path of i as the kernel resolves its fd (d_path: at most a page). */
static int relpath_of_fd(struct backing *bk, struct bk_inode *i, char *buf,
			 size_t *len)
{
	char p[32], full[PATH_MAX];
	struct stat st = {0};
	int fd, ret;
	ssize_t n;

	fd = bk_pin(bk, i);
	if (fd < 0)
		return fd == -ESTALE ? -ENOENT : fd;
	snprintf(p, sizeof(p), "%d", fd);
	n = readlinkat(bk->proc_fd, p, full, sizeof(full) - 1);
	if (n >= 0 &&
	    fstatat(fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		st.st_nlink = 0;
	ret = n < 0 ? -errno : 0;
	bk_unpin(bk, i);
	if (ret)
		return ret;
	if ((size_t)n >= sizeof(full) - 1)
		return -ENAMETOOLONG;
	full[n] = '\0';
	/* d_path appends " (deleted)" to unlinked inodes: trust nlink. */
	if (st.st_nlink == 0 && !S_ISDIR(st.st_mode))
		return -ENOENT;
	if ((size_t)n <= bk->root_len + 1 ||
	    memcmp(full, bk->root_path, bk->root_len) != 0 ||
	    full[bk->root_len] != '/')
		return -EXDEV;
	/* The writer's path; a slot on the way is not in the view. */
	ret = sfs_path_from_backing(full + bk->root_len + 1,
				    (size_t)n - bk->root_len - 1, buf, PATH_MAX,
				    len);
	return ret == -EINVAL ? -EXDEV : ret;
}

/*
 * One step up from cur: the name it was last looked up or renamed to and
 * that parent, pinned, if NAME in the parent still leads to cur.
 */
static int name_step(struct backing *bk, struct bk_inode *cur,
		     char name[NAME_MAX + 1], struct bk_inode **parent)
{
	struct bk_inode *p = NULL;
	struct stat st;
	int pfd, ret = -ENAMETOOLONG;

	pthread_mutex_lock(&bk->table_lock);
	if (cur->name && strlen(cur->name) <= NAME_MAX) {
		strcpy(name, cur->name);
		p = find_locked(bk, cur->pdev, cur->pino);
		if (p && p != &bk->root) {
			pthread_mutex_lock(&bk->fd_lock);
			pin_locked(p);
			pthread_mutex_unlock(&bk->fd_lock);
		}
	}
	pthread_mutex_unlock(&bk->table_lock);
	if (!p)
		return -ENAMETOOLONG; /* no name known for it */
	pfd = bk_pin(bk, p);
	if (pfd >= 0) {
		if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_dev == cur->dev && st.st_ino == cur->ino)
			ret = 0;
		bk_unpin(bk, p);
	}
	if (ret) {
		bk_unpin(bk, p);
		return ret;
	}
	*parent = p; /* pinned */
	return 0;
}

/*
 * The path of i below BACKING when its absolute path (BACKING's plus its
 * own) is longer than the page the kernel's d_path fills (readlink
 * fails with ENAMETOOLONG), though the path below BACKING, which is what
 * a signature names, fits PATH_MAX. Built from the end: each inode's
 * name in its parent, as lookups and renames through the mount recorded
 * it and checked to lead to that inode now, up to the first ancestor
 * whose own path readlink gives. A name that no longer leads to its
 * inode (a rename in BACKING behind the daemon) fails closed.
 */
static int relpath_by_names(struct backing *bk, struct bk_inode *i, char *buf,
			    size_t *len)
{
	char tail[PATH_MAX], name[NAME_MAX + 1];
	size_t pos = sizeof(tail), n, plen = 0;
	struct bk_inode *cur = i, *p;
	int ret = 0;

	for (;;) {
		ret = name_step(bk, cur, name, &p);
		if (cur != i)
			bk_unpin(bk, cur);
		if (ret)
			return ret;
		/* The writer's name of that BACKING name, as relpath_of_fd */
		ret = sfs_name_from_backing(name, strlen(name), name, &n);
		if (ret) {
			if (p != &bk->root)
				bk_unpin(bk, p);
			return ret == -EINVAL ? -EXDEV : ret;
		}
		if (n + 1 >= pos) {
			ret = -ENAMETOOLONG;
		} else {
			pos -= n;
			memcpy(tail + pos, name, n);
			tail[--pos] = '/';
		}
		cur = p;
		if (ret || cur == &bk->root)
			break;
		ret = relpath_of_fd(bk, cur, buf, &plen);
		if (ret != -ENAMETOOLONG)
			break;
	}
	if (cur != &bk->root)
		bk_unpin(bk, cur);
	if (ret)
		return ret;
	/* buf holds the ancestor's path (plen bytes), tail "/NAME/..." */
	if (plen == 0)
		pos++; /* below the root: no leading slash */
	n = sizeof(tail) - pos;
	if (plen + n >= PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf + plen, tail + pos, n);
	buf[plen + n] = '\0';
	*len = plen + n;
	return 0;
}

int bk_relpath(struct backing *bk, struct bk_inode *i, char *buf, size_t *len)
{
	int ret;

	if (i == &bk->root) {
		buf[0] = '\0';
		*len = 0;
		return 0;
	}
	ret = relpath_of_fd(bk, i, buf, len);
	if (ret == -ENAMETOOLONG)
		ret = relpath_by_names(bk, i, buf, len);
	return ret;
}

int bk_child_relpath(struct backing *bk, struct bk_inode *parent,
		     const char *name, char *buf, size_t *len)
{
	size_t pl = 0;
	int ret;

	ret = bk_relpath(bk, parent, buf, &pl);
	if (ret)
		return ret;
	return sfs_path_join(buf, PATH_MAX, buf, pl, name, 0, len);
}

int bk_open_dir(struct backing *bk, const char *rel)
{
	char path[PATH_MAX];
	size_t len;
	int fd, ret;

	if (!*rel) {
		fd = openat(bk->root.fd, ".",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	ret = sfs_path_to_backing(rel, strlen(rel), path, sizeof(path), &len);
	if (ret)
		return ret;
	return sfs_open_beneath(bk->root.fd, path, O_RDONLY | O_DIRECTORY);
}

int bk_open_parent(struct backing *bk, const char *rel, char *base)
{
	const char *slash = strrchr(rel, '/');
	const char *name = slash ? slash + 1 : rel;
	char dir[PATH_MAX];
	size_t len;
	int ret;

	ret = sfs_name_to_backing(name, strlen(name), base, &len);
	if (ret)
		return ret;
	if (!slash)
		return bk_open_dir(bk, "");
	if ((size_t)(slash - rel) >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, rel, (size_t)(slash - rel));
	dir[slash - rel] = '\0';
	return bk_open_dir(bk, dir);
}

static __thread bool thread_groups_cleared;

void bk_creds_enter(struct backing *bk, fuse_req_t req, bool with_groups)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	if (!bk->switch_creds)
		return;
	if (with_groups) {
		gid_t groups[BK_MAX_GROUPS];
		int n = fuse_req_getgroups(req, BK_MAX_GROUPS, groups);

		if (n > BK_MAX_GROUPS)
			n = BK_MAX_GROUPS;
		if (n > 0 && syscall(SYS_setgroups, (size_t)n, groups) == 0)
			thread_groups_cleared = false;
	} else if (!thread_groups_cleared) {
		/* The daemon's own groups must not lend the caller access. */
		if (syscall(SYS_setgroups, 0, NULL) == 0)
			thread_groups_cleared = true;
	}
	syscall(SYS_setfsgid, c->gid);
	syscall(SYS_setfsuid, c->uid);
}

void bk_creds_leave(struct backing *bk)
{
	if (!bk->switch_creds)
		return;
	syscall(SYS_setfsuid, 0);
	syscall(SYS_setfsgid, 0);
	if (!thread_groups_cleared && syscall(SYS_setgroups, 0, NULL) == 0)
		thread_groups_cleared = true;
}

void bk_op_getattr(struct backing *bk, fuse_req_t req, struct bk_inode *i)
{
	struct stat st;
	int ret = bk_stat(bk, i, &st);

	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, bk->timeout);
}

void bk_op_statfs(struct backing *bk, fuse_req_t req, size_t name_max)
{
	struct statvfs sv;

	if (fstatvfs(bk->root.fd, &sv) < 0) {
		fuse_reply_err(req, errno);
		return;
	}
	if (sv.f_namemax > name_max)
		sv.f_namemax = name_max;
	fuse_reply_statfs(req, &sv);
}

int bk_opendir(struct backing *bk, struct bk_inode *i, struct bk_dir **out)
{
	struct bk_dir *d = calloc(1, sizeof(*d));
	int fd, ret;

	if (!d)
		return -ENOMEM;
	fd = bk_pin(bk, i);
	if (fd >= 0) {
		ret = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		fd = ret < 0 ? -errno : ret;
		bk_unpin(bk, i);
	}
	if (fd < 0) {
		free(d);
		return fd;
	}
	d->dp = fdopendir(fd);
	if (!d->dp) {
		ret = -errno;
		close(fd);
		free(d);
		return ret;
	}
	*out = d;
	return 0;
}

void bk_closedir(struct bk_dir *d)
{
	if (!d)
		return;
	closedir(d->dp);
	free(d);
}

static bool is_dot(const char *n)
{
	return n[0] == '.' && (n[1] == '\0' || (n[1] == '.' && n[2] == '\0'));
}

/*
 * Add one entry. 0 when it was added (*used: its bytes) or skipped (gone
 * since readdir; *used 0); 1 when the buffer is full and it was not added
 * (its lookup undone): the next readdir call starts with it.
 */
static int add_entry(struct backing *bk, fuse_req_t req, struct bk_inode *dir,
		     struct dirent *de, const char *name, off_t next, char *p,
		     size_t rem, bool plus, size_t *used)
{
	struct fuse_entry_param e = {
	    .attr = {.st_ino = de->d_ino,
		     .st_mode = (mode_t)DTTOIF(de->d_type)}};
	struct bk_inode *i = NULL;
	size_t n;

	if (plus && !is_dot(de->d_name)) {
		int ret = bk_lookup(bk, dir, de->d_name, &e, &i);

		if (ret == -ENOENT)
			return 0; /* gone since readdir */
		if (ret) {
			/* e.g. EMFILE: a plain entry, the kernel looks it up */
			memset(&e, 0, sizeof(e));
			e.attr.st_ino = de->d_ino;
			e.attr.st_mode = (mode_t)DTTOIF(de->d_type);
			i = NULL;
		}
	}
	n = plus ? fuse_add_direntry_plus(req, p, rem, name, &e, next)
		 : fuse_add_direntry(req, p, rem, name, &e.attr, next);
	if (n > rem) {
		if (i)
			bk_forget(bk, i, 1);
		return 1;
	}
	*used = n;
	return 0;
}

void bk_readdir(struct backing *bk, fuse_req_t req, struct bk_inode *dir,
		struct bk_dir *d, size_t size, off_t off, bool plus,
		int (*view)(const char *bname, char *name))
{
	char *buf = calloc(1, size), *p = buf, name[NAME_MAX + 1];
	size_t rem = size;
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off != d->offset) {
		seekdir(d->dp, off);
		d->entry = NULL;
		d->offset = off;
	}
	for (;;) {
		size_t used = 0;

		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		off_t next = d->entry->d_off;

		if (view(d->entry->d_name, name) == 0 &&
		    add_entry(bk, req, dir, d->entry, name, next, p, rem, plus,
			      &used) == 1)
			break;
		p += used;
		rem -= used;
		d->entry = NULL;
		d->offset = next;
	}
	/* An error after some entries: return those, the error comes next. */
	if (err && rem == size)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, size - rem);
	free(buf);
}
