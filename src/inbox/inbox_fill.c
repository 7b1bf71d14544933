// SPDX-License-Identifier: Apache-2.0
/*
 * The page cache filled while a file is verified (inbox.h, inbox_fill).
 *
 * FUSE_NOTIFY_STORE needs an inode the kernel already has, and the kernel
 * gets one only from a reply to a request. So the daemon asks itself:
 * before a fresh file is hashed, the hashing thread opens a file handle
 * naming the file's node (open_by_handle_at, O_PATH). The kernel does not
 * know that node, so it sends LOOKUP(node, "."), which another worker
 * answers with the node itself, and the kernel makes the inode. The
 * LOOKUP of the file's real name, answered only after verification, names
 * the same node: the kernel finds the inode with its pages in place.
 *
 * Who can read the inode before that reply: only the holder of a dentry
 * for it. The handle's dentry is anonymous (no name reaches it), the
 * LOOKUP of "." is answered to the registered thread only, and decoding
 * a handle needs CAP_DAC_READ_SEARCH and its random generation. No
 * directory lock is taken on the way (the user's LOOKUP may hold its
 * directory exclusively, for an O_CREAT open), and this runs before the
 * file's verification is registered as in flight, so no request the
 * answering worker might wait for is waiting for us.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "ib_cache.h"
#include "ib_fill.h"
#include "ib_node.h"
#include "inbox.h"
#include "signetfs/stats.h"
#include "signetfs/log.h"

/* Smaller files gain little: their first read is a few requests anyway. */
#define FILL_MIN ((uint64_t)1 << 20)
/* At most this share of RAM per file: a huge file would evict the rest. */
#define FILL_RAM_SHARE 4
/*
 * Fills being set up at once; a full table means no fill, not an error.
 * Each waits for another worker to answer its LOOKUP: a quarter of the
 * session's 16 workers at most, so the rest always can.
 */
#define SLOTS 4
/* The kernel's handle type for FUSE inodes: 64-bit node id, generation. */
#define FUSE_FILEID_INO64_GEN 0x81

static struct {
	pthread_mutex_t lock;
	struct {
		struct ib_node *node;
		pid_t tid;
		uint32_t gen;
		uint64_t size;
	} slot[SLOTS];
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

int inbox_fill_lookup_self(struct inbox *ib, fuse_req_t req, fuse_ino_t parent,
			   struct fuse_entry_param *e)
{
	pid_t pid = fuse_req_ctx(req)->pid;
	int ret = -ENOENT;

	memset(e, 0, sizeof(*e));
	pthread_mutex_lock(&reg.lock);
	for (int i = 0; i < SLOTS; i++) {
		if (!reg.slot[i].node || reg.slot[i].tid != pid ||
		    inbox_ino_of(ib, reg.slot[i].node) != parent)
			continue;
		/* Counted before the reply, as any lookup. */
		inbox_node_ref(ib, reg.slot[i].node);
		e->ino = parent;
		e->generation = reg.slot[i].gen;
		e->attr.st_size = (off_t)reg.slot[i].size;
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&reg.lock);
	/* No permission bits: nothing but the daemon reaches it meanwhile. */
	e->attr.st_mode = S_IFREG;
	e->attr.st_nlink = 1;
	return ret;
}

static bool worth_it(uint64_t size)
{
	long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);

	if (size < FILL_MIN || pages <= 0 || psize <= 0)
		return false;
	return size <= (uint64_t)pages * (uint64_t)psize / FILL_RAM_SHARE;
}

static int slot_add(struct ib_node *n, uint32_t gen, uint64_t size)
{
	int ret = -EBUSY;

	pthread_mutex_lock(&reg.lock);
	for (int i = 0; i < SLOTS; i++) {
		if (reg.slot[i].node)
			continue;
		reg.slot[i].node = n;
		reg.slot[i].tid = sfs_gettid();
		reg.slot[i].gen = gen;
		reg.slot[i].size = size;
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&reg.lock);
	return ret;
}

static void slot_del(struct ib_node *n)
{
	pthread_mutex_lock(&reg.lock);
	for (int i = 0; i < SLOTS; i++)
		if (reg.slot[i].node == n)
			memset(&reg.slot[i], 0, sizeof(reg.slot[i]));
	pthread_mutex_unlock(&reg.lock);
}

/*
 * A real fd (not O_PATH: the kernel wants one to find the mount) on the
 * root of a private clone of the mount. What is opened through it holds
 * the clone, not the mount users see, so holding an inode for a moment
 * never makes their unmount fail as busy; the clone goes with its last fd.
 * The path is resolved again each time: whatever is mounted there must
 * be this daemon's filesystem (its st_dev, from mountinfo), or nothing.
 */
static int private_root(struct inbox *ib)
{
	unsigned long dev = atomic_load(&ib->mnt_dev);
	struct statx stx;
	int tfd, fd;

	if (!dev)
		return -EAGAIN;
	tfd = open_tree(AT_FDCWD, ib->mnt_real,
			OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	if (tfd < 0)
		return -errno;
	/* No GETATTR: the device comes from the superblock. */
	if (statx(tfd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, 0, &stx) ||
	    makedev(stx.stx_dev_major, stx.stx_dev_minor) != dev) {
		close(tfd);
		return -EXDEV;
	}
	fd = openat(tfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close(tfd);
	return fd;
}

/*
 * Make the kernel instantiate node ino (generation gen): an fd on it, or
 * -errno. The fd holds the inode: without it the kernel would drop the
 * inode, pages and all, as soon as the handle's dentry is released.
 */
static int introduce(struct inbox *ib, fuse_ino_t ino, uint32_t gen)
{
	struct {
		struct file_handle fh;
		uint32_t raw[3];
	} h;
	int mfd, fd;

	memset(&h, 0, sizeof(h));
	h.fh.handle_bytes = sizeof(h.raw);
	h.fh.handle_type = FUSE_FILEID_INO64_GEN;
	h.raw[0] = (uint32_t)((uint64_t)ino >> 32);
	h.raw[1] = (uint32_t)ino;
	h.raw[2] = gen;
	mfd = private_root(ib);
	if (mfd < 0)
		return mfd;
	fd = open_by_handle_at(mfd, &h.fh, O_PATH | O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close(mfd);
	return fd;
}

/*
 * The introduction runs in a thread of its own, not in the worker: its
 * LOOKUP must be read by another worker, and once the session is told to
 * exit no worker reads any more and the workers are joined. A worker
 * blocked in open_by_handle_at would then hang the unmount for good (only
 * a fatal signal ends that wait). The worker waits for the thread a
 * bounded time, and not at all once the session is exiting; a thread left
 * behind closes what it gets, and its own pin keeps the node alive.
 */
#define INTRO_WAIT_MS 2000
#define INTRO_SLICE_MS 50

struct intro {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned refs; /* the worker and the thread */
	bool done, abandoned;
	int result; /* fd or -errno */
	struct inbox *ib;
	struct ib_node *node;
	fuse_ino_t ino;
	uint32_t gen;
	uint64_t size;
};

static void intro_put(struct intro *in)
{
	bool last;

	pthread_mutex_lock(&in->lock);
	last = --in->refs == 0;
	pthread_mutex_unlock(&in->lock);
	if (last) {
		pthread_cond_destroy(&in->cond);
		pthread_mutex_destroy(&in->lock);
		free(in);
	}
}

static void *intro_main(void *arg)
{
	struct intro *in = arg;
	int ret = slot_add(in->node, in->gen, in->size);

	if (!ret)
		ret = introduce(in->ib, in->ino, in->gen);
	slot_del(in->node);
	pthread_mutex_lock(&in->lock);
	in->done = true;
	in->result = ret;
	if (in->abandoned && ret >= 0)
		close(ret);
	pthread_cond_signal(&in->cond);
	pthread_mutex_unlock(&in->lock);
	inbox_node_unpin(in->ib, in->node);
	intro_put(in);
	return NULL;
}

/* Deadlines here are CLOCK_MONOTONIC: so are the waits for them. */
static void cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

static void deadline_in(struct timespec *t, long ms)
{
	clock_gettime(CLOCK_MONOTONIC, t);
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

/* An fd on the introduced inode, or -errno. */
static int introduce_bounded(struct inbox *ib, struct ib_node *n, uint32_t gen,
			     uint64_t size)
{
	struct intro *in = calloc(1, sizeof(*in));
	pthread_attr_t pa;
	pthread_t t;
	int ret, waited = 0;

	if (!in)
		return -ENOMEM;
	pthread_mutex_init(&in->lock, NULL);
	cond_init_monotonic(&in->cond);
	in->refs = 2;
	in->ib = ib;
	in->node = n;
	in->ino = inbox_ino_of(ib, n);
	in->gen = gen;
	in->size = size;
	inbox_node_pin(ib, n); /* the thread's, for its slot */
	pthread_attr_init(&pa);
	pthread_attr_setdetachstate(&pa, PTHREAD_CREATE_DETACHED);
	ret = pthread_create(&t, &pa, intro_main, in);
	pthread_attr_destroy(&pa);
	if (ret) {
		inbox_node_unpin(ib, n);
		in->refs = 1;
		intro_put(in);
		return -EAGAIN;
	}
	pthread_mutex_lock(&in->lock);
	while (!in->done && waited < INTRO_WAIT_MS &&
	       !fuse_session_exited(ib->se)) {
		struct timespec until;

		deadline_in(&until, INTRO_SLICE_MS);
		pthread_cond_timedwait(&in->cond, &in->lock, &until);
		waited += INTRO_SLICE_MS;
	}
	if (in->done) {
		ret = in->result;
	} else {
		in->abandoned = true;
		ret = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&in->lock);
	intro_put(in);
	return ret;
}

void inbox_fill_begin(struct inbox *ib, struct inbox_fill *f, const char *path,
		      size_t len, const struct stat *st)
{
	uint32_t gen = 0;
	int ret;

	memset(f, 0, sizeof(*f));
	f->ib = ib;
	f->size = (uint64_t)st->st_size;
	f->hfd = -1;
	if (!atomic_load(&ib->fill) || ib->audit_mode || !ib->se ||
	    !ib->mnt_real || !worth_it(f->size))
		return;
	/*
	 * Only a file about to be hashed: no work (open_tree is not cheap
	 * for the system) for one without a .sig or with a cached verdict.
	 */
	if (!inbox_cache_needs_hash(ib, path, len, st))
		return;
	while (!gen)
		if (getrandom(&gen, sizeof(gen), 0) != sizeof(gen))
			return;
	f->node = inbox_node_fresh(ib, path, len, gen);
	if (!f->node)
		return;
	f->ino = inbox_ino_of(ib, f->node);
	ret = introduce_bounded(ib, f->node, gen, f->size);
	if (ret >= 0) {
		f->hfd = ret;
		ret = 0;
	}
	if (ret == -EPERM || ret == -EOPNOTSUPP || ret == -ENOSYS) {
		/*
		 * No CAP_SYS_ADMIN (open_tree) or CAP_DAC_READ_SEARCH, or
		 * no export support: stop trying.
		 */
		sfs_info("page cache fill off: %s", strerror(-ret));
		atomic_store(&ib->fill, false);
	}
	f->active = ret == 0;
}

void inbox_fill_store(struct inbox_fill *f, uint64_t off, const uint8_t *buf,
		      size_t len)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
	int ret;

	if (!f || !f->active || atomic_load(&f->err))
		return;
	bv.buf[0].mem = (void *)buf;
	ret = fuse_lowlevel_notify_store(f->ib->se, f->ino, (off_t)off, &bv, 0);
	if (ret) {
		atomic_store(&f->err, ret);
		return;
	}
	atomic_fetch_add(&f->stored, len);
	sfs_stats_add(&f->ib->stats, SFS_C_BYTES_FILLED, len);
}

void inbox_fill_end(struct inbox_fill *f, bool verified, uint64_t gen)
{
	struct inbox *ib = f->ib;
	bool keep = false;
	int ret;

	/*
	 * Keep the pages only for a complete copy of what verified, and only
	 * if the node can now be named: nothing else has taken the path.
	 */
	if (f->active && verified && !atomic_load(&f->err) &&
	    atomic_load(&f->stored) == f->size)
		keep = inbox_node_publish(ib, f->node);
	if (keep) {
		inbox_node_cache_filled(ib, f->node, gen);
	} else if (f->active) {
		/* Unpublished, the node is never named: this frees memory. */
		ret = fuse_lowlevel_notify_inval_inode(ib->se, f->ino, 0, 0);
		if (ret && ret != -ENOENT)
			sfs_warn("page cache fill: dropping pages: %s",
				 strerror(-ret));
	}
	if (!keep && f->hfd >= 0) {
		/* Nothing to keep: let the kernel drop the inode now. */
		close(f->hfd);
		f->hfd = -1;
	}
	if (f->node)
		inbox_node_unpin(ib, f->node);
	f->node = NULL;
	f->active = false;
}

/*
 * The fd that holds a filled inode is closed a moment after the LOOKUP
 * reply: the reply wakes the user's task, which then takes its own
 * reference to the inode (its dentry). Closing at once could let the
 * kernel drop the inode in between. It holds the private clone of the
 * mount, not the mount itself: an unmount meanwhile succeeds, and the
 * daemon sees the end of the connection when the fd is closed.
 */
#define HOLD_MS 100
#define HELD_MAX 64

/* Every fd is held as long, so the queue is in deadline order. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int fd[HELD_MAX];
	struct timespec until[HELD_MAX];
	unsigned n;
	bool running, stop;
	pthread_t thread;
} held = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/*
 * Take what is due (all when stopping) off the queue into out; the lock
 * is held. The caller closes them after unlocking: a close may make the
 * kernel evict the inode, which is not done under a lock others wait on.
 */
static unsigned take_due_locked(int *out)
{
	struct timespec now;
	unsigned k = 0;

	clock_gettime(CLOCK_MONOTONIC, &now);
	while (k < held.n && (held.stop || !ts_before(&now, &held.until[k])))
		k++;
	memcpy(out, held.fd, k * sizeof(*out));
	held.n -= k;
	memmove(held.fd, held.fd + k, held.n * sizeof(*held.fd));
	memmove(held.until, held.until + k, held.n * sizeof(*held.until));
	return k;
}

static void close_all(const int *fd, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fd[i]);
}

static void *held_main(void *arg)
{
	int due[HELD_MAX];
	unsigned n;

	(void)arg;
	pthread_mutex_lock(&held.lock);
	while (!held.stop) {
		n = take_due_locked(due);
		if (n) {
			pthread_mutex_unlock(&held.lock);
			close_all(due, n);
			pthread_mutex_lock(&held.lock);
		} else if (held.n == 0) {
			pthread_cond_wait(&held.cond, &held.lock);
		} else {
			pthread_cond_timedwait(&held.cond, &held.lock,
					       &held.until[0]);
		}
	}
	pthread_mutex_unlock(&held.lock);
	return NULL;
}

void inbox_fill_release(struct inbox_fill *f)
{
	int fd = f->hfd;

	f->hfd = -1;
	if (fd < 0)
		return;
	pthread_mutex_lock(&held.lock);
	if (!held.running && !held.stop) {
		cond_init_monotonic(&held.cond);
		held.running =
		    !pthread_create(&held.thread, NULL, held_main, NULL);
	}
	if (!held.running || held.n == HELD_MAX) {
		/* No time to give: the fill may be lost, nothing else. */
		pthread_mutex_unlock(&held.lock);
		close(fd);
		return;
	}
	deadline_in(&held.until[held.n], HOLD_MS);
	held.fd[held.n++] = fd;
	pthread_cond_signal(&held.cond);
	pthread_mutex_unlock(&held.lock);
}

void inbox_fill_shutdown(void)
{
	int due[HELD_MAX];
	unsigned n;

	pthread_mutex_lock(&held.lock);
	held.stop = true;
	if (held.running)
		pthread_cond_signal(&held.cond);
	pthread_mutex_unlock(&held.lock);
	if (held.running)
		pthread_join(held.thread, NULL);
	held.running = false;
	pthread_mutex_lock(&held.lock);
	n = take_due_locked(due);
	pthread_mutex_unlock(&held.lock);
	close_all(due, n);
}
