// SPDX-License-Identifier: Apache-2.0
/* One pass over a file: its signed digest and a keyed tag per served block. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ib_fill.h"
#include "ib_hash.h"
#include "inbox.h"
#include "signetfs/util.h"

void inbox_stamp_of(const struct stat *st, struct inbox_stamp *s)
{
	memset(s, 0, sizeof(*s));
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = st->st_size;
	s->mtime = st->st_mtim;
	s->ctime = st->st_ctim;
	s->present = true;
	s->mode = st->st_mode;
	s->uid = st->st_uid;
	s->gid = st->st_gid;
	s->nlink = st->st_nlink;
}

bool inbox_stamp_eq(const struct inbox_stamp *a, const struct inbox_stamp *b)
{
	return a->present == b->present && a->dev == b->dev &&
	       a->ino == b->ino && a->size == b->size &&
	       a->mtime.tv_sec == b->mtime.tv_sec &&
	       a->mtime.tv_nsec == b->mtime.tv_nsec &&
	       a->ctime.tv_sec == b->ctime.tv_sec &&
	       a->ctime.tv_nsec == b->ctime.tv_nsec;
}

/* Below this a second thread costs more than it saves. */
#define PIPE_MIN (4u << 20)
#define CHUNK (8 * INBOX_BLOCK)
#define NBUF 8
/* O_DIRECT's buffer, offset and length alignment (logical block size). */
#define DIRECT_ALIGN 4096u

/*
 * Where the bytes come from. A file whose pages are in the page cache
 * (uploaded a moment ago) is read from there. One that is not is read
 * with O_DIRECT: a buffered cold read spends about a second of CPU per
 * GiB filling BACKING's page cache (here: `dd` of a cold 1 GiB file,
 * 0.9-2.2 s of system time buffered, 0.02-0.06 s with iflag=direct), CPU
 * the digest needs, for a copy of the file nobody reads once the inbox's
 * own page cache holds it (inbox_fill.c). The direct descriptor is the
 * verified one reopened through /proc, checked to be the same inode.
 */
struct src {
	int fd;	 /* the descriptor being verified */
	int dfd; /* the same file opened O_DIRECT, or -1 */
	uint64_t size;
	enum ib_probe probe; /* how to ask the page cache */
};

static size_t chunk_len(uint64_t off, uint64_t size)
{
	return size - off < CHUNK ? (size_t)(size - off) : CHUNK;
}

static int read_chunk(int fd, uint8_t *buf, uint64_t off, uint64_t size,
		      size_t *len)
{
	size_t want = chunk_len(off, size);
	size_t got = 0;
	int ret = sfs_full_pread(fd, buf, want, (off_t)off, &got);

	if (ret)
		return ret;
	/* Shrunk under us: what we were asked to verify is gone. */
	if (got != want)
		return -EIO;
	*len = want;
	return 0;
}

/*
 * Is the page at off cached? A one-byte RWF_NOWAIT read says so without
 * waiting: EAGAIN when it is not (anything else: take it as cached, and
 * read buffered). While probing, the fd is in POSIX_FADV_RANDOM mode, so a
 * miss starts the read of that one page, not of a readahead window.
 */
static bool page_cached(int fd, uint64_t off)
{
	char c;
	struct iovec v = {.iov_base = &c, .iov_len = 1};

	return !(preadv2(fd, &v, 1, (off_t)off, RWF_NOWAIT) < 0 &&
		 errno == EAGAIN);
}

/*
 * Every page of the range resident (mincore), or -errno: mincore is not
 * in the systemd unit's syscall filter (EPERM there). It starts no I/O.
 */
static int range_resident(int fd, uint64_t off, size_t len, bool *all)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg;
	unsigned char vec[CHUNK / 4096];
	void *map;
	int ret = 0;

	if (n > sizeof(vec))
		return -EINVAL;
	map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)off);
	if (map == MAP_FAILED)
		return -errno;
	if (mincore(map, len, vec) < 0)
		ret = -errno;
	munmap(map, len);
	*all = true;
	for (size_t i = 0; !ret && i < n; i++)
		*all = *all && (vec[i] & 1);
	return ret;
}

static atomic_bool mincore_refused;

static bool cap_fowner(void)
{
	struct __user_cap_header_struct h = {.version =
						 _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct d[2] = {0};

	if (syscall(SYS_capget, &h, d) < 0)
		return false;
	return d[CAP_FOWNER >> 5].effective & (1u << (CAP_FOWNER & 31));
}

/*
 * mincore answers truly only the file's owner or CAP_FOWNER (kernel 5.0,
 * can_do_mincore(); write permission counts too, but a read-only open
 * cannot tell it cheaply): to anybody else every page is "cached".
 */
enum ib_probe inbox_probe_for(uid_t owner)
{
	if (atomic_load_explicit(&mincore_refused, memory_order_relaxed))
		return IB_PROBE_NOWAIT;
	return owner == geteuid() || cap_fowner() ? IB_PROBE_MINCORE
						  : IB_PROBE_NOWAIT;
}

bool inbox_range_cached(int fd, uint64_t off, size_t len, enum ib_probe how)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	bool all;
	int ret;

	if (how == IB_PROBE_MINCORE) {
		ret = range_resident(fd, off, len, &all);
		if (!ret)
			return all;
		if (ret == -EPERM || ret == -ENOSYS || ret == -EACCES)
			atomic_store(&mincore_refused, true);
	}
	/* The last page only when the first is there: one read at most. */
	return page_cached(fd, off) &&
	       (len <= pg || page_cached(fd, off + ((len - 1) & ~(pg - 1))));
}

/* Buffered reads from here on: the fd reads ahead again. */
static void src_buffered(struct src *s)
{
	if (s->dfd >= 0)
		close(s->dfd);
	s->dfd = -1;
	posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

static void src_open(struct src *s, int fd, uint64_t size)
{
	struct stat a, b;
	char proc[32];

	*s = (struct src){.fd = fd, .dfd = -1, .size = size};
	if (size < PIPE_MIN || fstat(fd, &a))
		return;
	s->probe = inbox_probe_for(a.st_uid);
	posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
	if (!inbox_range_cached(fd, 0, chunk_len(0, size), s->probe)) {
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		s->dfd = open(proc, O_RDONLY | O_DIRECT | O_CLOEXEC);
	}
	if (s->dfd < 0 || fstat(fd, &a) || fstat(s->dfd, &b) ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino)
		src_buffered(s);
}

static void src_close(struct src *s)
{
	if (s->dfd >= 0)
		src_buffered(s);
}

/*
 * The chunk at off, direct when it is not cached (chunk 0 was probed by
 * src_open). A direct read that fails or comes up short is
 * done again buffered, which tells a file that shrank from a device that
 * refuses O_DIRECT (then never tried again).
 */
static int read_src(struct src *s, uint8_t *buf, uint64_t off, size_t *len)
{
	size_t want = chunk_len(off, s->size);
	size_t alen = (want + DIRECT_ALIGN - 1) & ~(size_t)(DIRECT_ALIGN - 1);
	ssize_t r;

	static_assert(CHUNK % DIRECT_ALIGN == 0, "chunks stay aligned");
	if (s->dfd >= 0 &&
	    (off == 0 || !inbox_range_cached(s->fd, off, want, s->probe))) {
		do
			r = pread(s->dfd, buf, alen, (off_t)off);
		while (r < 0 && errno == EINTR);
		if (r >= 0 && (size_t)r >= want) {
			*len = want;
			return 0;
		}
		if (r < 0 && errno == EINVAL)
			src_buffered(s);
	}
	return read_chunk(s->fd, buf, off, s->size, len);
}

/* What tags the blocks: the key, and this pass's nonce half. */
struct tagger {
	const struct sfs_blockmac *mac;
	uint64_t gen;
	inbox_tag *tags;
	struct inbox_fill *fill; /* NULL, or where the bytes go too */
};

/* Tag the blocks of the chunk at file offset off. */
static int tag_chunk(const struct tagger *t, uint64_t off, const uint8_t *buf,
		     size_t len)
{
	uint64_t b = off >> INBOX_BLOCK_SHIFT;
	int ret = 0;

	for (size_t o = 0; !ret && o < len; o += INBOX_BLOCK, b++)
		ret = sfs_blockmac_tag(
		    t->mac, t->gen, b, buf + o,
		    len - o < INBOX_BLOCK ? len - o : INBOX_BLOCK, t->tags[b]);
	if (!ret && t->fill)
		inbox_fill_store(t->fill, off, buf, len);
	return ret;
}

static int hash_serial(int fd, uint64_t size, struct sfs_hash *h,
		       const struct tagger *t)
{
	uint8_t *buf = malloc(CHUNK);
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < size; off += CHUNK) {
		size_t len;

		ret = read_chunk(fd, buf, off, size, &len);
		if (ret)
			break;
		ret = sfs_hash_update(h, buf, len);
		if (!ret)
			ret = tag_chunk(t, off, buf, len);
		if (ret)
			break;
	}
	free(buf);
	return ret;
}

/*
 * Large files: a ring of NBUF chunk buffers, each read once, fed to the
 * whole-file digest by this thread and tagged by a helper (which also
 * fills the page cache with them, inbox_fill.c), so tagging costs no time
 * on the digest's path. Both see the very bytes of one read, so what is
 * tagged (and filled) is what was hashed. A cached file is read by this
 * thread: SHA-256 then runs on bytes it just copied, still in its core's
 * cache (~0.6 s/GiB here, ~0.9 s when another thread copied them). A
 * file read directly gets a reader thread, which mostly waits for the
 * disk while the other two compute.
 */
struct pipe {
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t cond;
	uint8_t *buf[NBUF];
	size_t len[NBUF];
	bool tagging[NBUF]; /* the helper has not finished buf[i] */
	uint64_t nchunks;
	uint64_t posted; /* chunks read into their buffers */
	uint64_t hashed; /* chunks the digest has taken */
	bool eof;	 /* no chunk will be posted any more */
	bool stop;	 /* the digest gave up: stop reading */
	int err;	 /* the first error of reader or helper */
	struct src *src;
	const struct tagger *t;
};

/* Read chunk k into its buffer once its last user is done; post it. */
static int pipe_put(struct pipe *p, uint64_t k)
{
	unsigned b = k % NBUF;
	int ret;

	pthread_mutex_lock(&p->lock);
	while ((p->tagging[b] || p->hashed + NBUF <= k) && !p->stop && !p->err)
		pthread_cond_wait(&p->cond, &p->lock);
	ret = p->stop ? -ECANCELED : p->err;
	pthread_mutex_unlock(&p->lock);
	if (!ret)
		ret = read_src(p->src, p->buf[b], k * CHUNK, &p->len[b]);
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	p->tagging[b] = true;
	p->posted = k + 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Producer side done (all posted, or an error): wake whoever waits. */
static void pipe_end(struct pipe *p, int ret)
{
	pthread_mutex_lock(&p->lock);
	if (ret && !p->err)
		p->err = ret;
	p->eof = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void *pipe_reader(void *arg)
{
	struct pipe *p = arg;
	int ret = 0;

	for (uint64_t k = 0; !ret && k < p->nchunks; k++)
		ret = pipe_put(p, k);
	pipe_end(p, ret);
	return NULL;
}

static void *pipe_helper(void *arg)
{
	struct pipe *p = arg;
	int ret;

	for (uint64_t k = 0;; k++) {
		unsigned b = k % NBUF;

		pthread_mutex_lock(&p->lock);
		while (p->posted <= k && !p->eof)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->posted <= k) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		pthread_mutex_unlock(&p->lock);
		ret = tag_chunk(p->t, k * CHUNK, p->buf[b], p->len[b]);
		pthread_mutex_lock(&p->lock);
		if (ret && !p->err)
			p->err = ret;
		p->tagging[b] = false;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
}

/* Chunk k is posted (by this thread, or by the reader): 0, or why not. */
static int pipe_take(struct pipe *p, uint64_t k, bool reader)
{
	int ret;

	if (!reader)
		return pipe_put(p, k);
	pthread_mutex_lock(&p->lock);
	while (p->posted <= k && !p->eof && !p->err)
		pthread_cond_wait(&p->cond, &p->lock);
	ret = p->err ? p->err : p->posted > k ? 0 : -EIO;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static int pipe_hash(struct pipe *p, struct sfs_hash *h, bool reader)
{
	int ret = 0;

	for (uint64_t k = 0; !ret && k < p->nchunks; k++) {
		unsigned b = k % NBUF;

		ret = pipe_take(p, k, reader);
		if (!ret)
			ret = sfs_hash_update(h, p->buf[b], p->len[b]);
		if (ret)
			break;
		pthread_mutex_lock(&p->lock);
		p->hashed = k + 1;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_lock(&p->lock);
	p->stop = ret != 0;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (!reader)
		pipe_end(p, 0);
	return ret;
}

static int hash_piped(int fd, uint64_t size, struct sfs_hash *h,
		      const struct tagger *t)
{
	struct src src;
	struct pipe p = {
	    .t = t, .src = &src, .nchunks = (size + CHUNK - 1) / CHUNK};
	pthread_t helper, reader;
	bool direct;
	int ret = -ENOMEM;

	src_open(&src, fd, size);
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	for (unsigned i = 0; i < NBUF; i++)
		if (!(p.buf[i] = aligned_alloc(DIRECT_ALIGN, CHUNK)))
			goto out;
	if (pthread_create(&helper, NULL, pipe_helper, &p)) {
		ret = hash_serial(fd, size, h, t);
		goto out;
	}
	direct =
	    src.dfd >= 0 && !pthread_create(&reader, NULL, pipe_reader, &p);
	ret = pipe_hash(&p, h, direct);
	if (direct)
		pthread_join(reader, NULL);
	pthread_join(helper, NULL);
	if (!ret)
		ret = p.err;
out:
	for (unsigned i = 0; i < NBUF; i++)
		free(p.buf[i]);
	pthread_cond_destroy(&p.cond);
	pthread_mutex_destroy(&p.lock);
	src_close(&src);
	return ret;
}

int inbox_hash_blocks(int fd, uint64_t size, enum sfs_md alg,
		      const struct sfs_blockmac *mac, uint64_t gen,
		      struct sfs_digest *digest, inbox_tag *tags,
		      struct inbox_fill *fill)
{
	struct tagger t = {.mac = mac, .gen = gen, .tags = tags, .fill = fill};
	struct sfs_hash *h = sfs_hash_new(alg);
	int ret;

	if (!h)
		return -ENOMEM;
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (size >= PIPE_MIN)
		ret = hash_piped(fd, size, h, &t);
	else
		ret = hash_serial(fd, size, h, &t);
	if (!ret)
		ret = sfs_hash_final(h, digest);
	sfs_hash_free(h);
	return ret;
}
