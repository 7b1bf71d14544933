// SPDX-License-Identifier: Apache-2.0
/* Inbox files: open, and reads served only from blocks that verified. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ib_audit.h"
#include "ib_cache.h"
#include "ib_conf.h"
#include "ib_dir.h"
#include "ib_file.h"
#include "ib_hash.h"
#include "ib_node.h"
#include "ib_resolve.h"
#include "inbox.h"
#include "signetfs/verify.h"
#include "signetfs/htab.h"
#include "signetfs/stats.h"
#include "signetfs/util.h"

enum fh_kind { FH_VERIFIED, FH_RAW, FH_SIGBUF };

struct ib_fh {
	struct sfs_hnode hnode; /* in reg.tab; hash: the id */
	uint64_t id;		/* what the kernel holds in fi->fh */
	unsigned refs;		/* under reg.lock: release + reads */
	enum fh_kind kind;
	int fd;
	struct inbox_vfile *vf; /* counted by inbox_check */
	uint64_t size;		/* what is served */
	uint8_t *buf;		/* FH_SIGBUF: the verified .sig */
	struct ib_node *node;
	bool cached;
	atomic_uint_fast64_t epoch; /* settings it was last checked under */
};

static pthread_key_t tbuf_key;

/*
 * Handles are found by id, counted, and freed by the last user: a READ can
 * still be in a worker thread when the RELEASE for its file arrives (seen
 * under ASan: a .sig buffer freed under a reply). Without this a read could
 * serve freed memory, or pread an fd number reused by another file.
 */
static struct {
	pthread_mutex_t lock; /* leaf lock */
	struct sfs_htab tab;  /* ib_fh.hnode, by id */
	uint64_t next_id;
} reg = {.lock = PTHREAD_MUTEX_INITIALIZER};

#define FH(n) SFS_HTAB_ENTRY(n, struct ib_fh, hnode)

static bool same_id(const struct sfs_hnode *n, const void *key)
{
	return FH(n)->id == *(const uint64_t *)key;
}

static void reg_add(struct ib_fh *h)
{
	pthread_mutex_lock(&reg.lock);
	h->id = ++reg.next_id;
	h->hnode.hash = h->id;
	h->refs = 1;
	sfs_htab_add(&reg.tab, &h->hnode);
	pthread_mutex_unlock(&reg.lock);
}

/* Find id: one more reference, or (remove) out of the registry. */
static struct ib_fh *reg_get(uint64_t id, bool remove)
{
	struct sfs_hnode **link;
	struct ib_fh *h = NULL;

	pthread_mutex_lock(&reg.lock);
	link = sfs_htab_find(&reg.tab, id, same_id, &id);
	if (*link) {
		h = FH(*link);
		if (remove)
			sfs_htab_del(&reg.tab, link);
		else
			h->refs++;
	}
	pthread_mutex_unlock(&reg.lock);
	return h;
}

/* Drop one reference; true when it was the last. */
static bool reg_put(struct ib_fh *h)
{
	bool last;

	pthread_mutex_lock(&reg.lock);
	last = --h->refs == 0;
	pthread_mutex_unlock(&reg.lock);
	return last;
}

static void cache_policy(struct inbox *ib, struct ib_fh *h,
			 struct fuse_file_info *fi)
{
	enum inbox_cache_use use;

	if (h->kind != FH_VERIFIED) {
		fi->direct_io = 1;
		return;
	}
	use = inbox_node_cache_get(ib, h->node, h->vf->gen);
	fi->keep_cache = use == INBOX_CACHE_KEEP;
	fi->direct_io = use == INBOX_CACHE_DIRECT;
	h->cached = use != INBOX_CACHE_DIRECT;
}

static void fh_free(struct inbox *ib, struct ib_fh *h)
{
	if (!h)
		return;
	if (h->cached)
		inbox_node_cache_put(ib, h->node);
	if (h->node)
		inbox_node_unpin(ib, h->node);
	if (h->vf && h->kind != FH_SIGBUF)
		inbox_vfile_closed(ib, h->vf);
	inbox_vfile_put(h->vf);
	if (h->fd >= 0)
		close(h->fd);
	free(h->buf);
	free(h);
}

static int open_content(struct inbox *ib, struct ib_node *n, struct ib_fh *h)
{
	int ret = inbox_check(ib, n->path, n->len, &h->fd, &h->vf);

	if (ret)
		return ret;
	if (!inbox_served(ib, h->vf))
		return -ENOENT;
	if (h->vf->verdict == VR_OK) {
		h->kind = FH_VERIFIED;
		h->size = (uint64_t)h->vf->content.size;
		atomic_init(&h->epoch, h->vf->epoch);
	} else {
		h->kind = FH_RAW;
		h->size = (uint64_t)h->vf->content.size;
	}
	return 0;
}

/* The .sig bytes, served only if they are the ones that verified. */
static int load_sigbuf(struct inbox *ib, struct ib_node *n, struct ib_fh *h)
{
	size_t blen = inbox_sig_of(ib, n->path, n->len);
	char base[PATH_MAX];
	uint8_t sha[32];
	struct stat st;
	size_t got = 0;
	int fd, ret;

	if (!blen)
		return -ENOENT;
	memcpy(base, n->path, blen);
	base[blen] = '\0';
	ret = inbox_check(ib, base, blen, NULL, &h->vf);
	if (ret)
		return ret;
	if (h->vf->verdict != VR_OK)
		return -ENOENT;
	fd = inbox_open_sig(ib->rootfd, base, &st);
	if (fd < 0)
		return fd;
	h->buf = malloc(h->vf->sig_len + 1);
	ret = h->buf ? sfs_full_pread(fd, h->buf, h->vf->sig_len + 1, 0, &got)
		     : -ENOMEM;
	close(fd);
	if (ret)
		return ret;
	sfs_sha256(h->buf, got, sha);
	if (got != h->vf->sig_len || memcmp(sha, h->vf->sig_sha256, 32))
		return -EAGAIN; /* replaced since it verified: look again */
	h->kind = FH_SIGBUF;
	h->size = got;
	return 0;
}

static int open_sig(struct inbox *ib, struct ib_node *n, struct ib_fh *h)
{
	struct stat st;
	int ret;

	if (ib->audit_mode) {
		size_t blen = inbox_sig_of(ib, n->path, n->len);
		char base[PATH_MAX];

		if (!blen)
			return -ENOENT;
		memcpy(base, n->path, blen);
		base[blen] = '\0';
		h->fd = inbox_open_sig(ib->rootfd, base, &st);
		if (h->fd < 0)
			return h->fd;
		h->kind = FH_RAW;
		h->size = (uint64_t)st.st_size;
		return 0;
	}
	for (int tries = 0; tries < 3; tries++) {
		ret = load_sigbuf(ib, n, h);
		if (ret != -EAGAIN)
			return ret;
		inbox_vfile_put(h->vf);
		h->vf = NULL;
		free(h->buf);
		h->buf = NULL;
	}
	return -ENOENT;
}

void inbox_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inbox *ib = fuse_req_userdata(req);
	struct ib_node *n = inbox_node_of(ib, ino);
	struct ib_fh *h;
	int ret;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (n->kind == INBOX_DT_DIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	h = calloc(1, sizeof(*h));
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->fd = -1;
	/*
	 * Pinned while the handle lives, not only until RELEASE: a READ
	 * still holds the handle after its reply, the kernel can take the
	 * RELEASE and then forget the inode meanwhile, and the READ's
	 * fh_free is the last (seen under ASan: the node freed by FORGET
	 * under that fh_free's cache_put).
	 */
	h->node = n;
	inbox_node_pin(ib, n);
	ret = n->kind == INBOX_DT_SIG ? open_sig(ib, n, h)
				      : open_content(ib, n, h);
	if (ret) {
		fh_free(ib, h);
		fuse_reply_err(req, -ret);
		return;
	}
	cache_policy(ib, h, fi);
	reg_add(h);
	fi->fh = h->id;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* Interrupted: no release will come. */
		reg_get(h->id, true);
		fh_free(ib, h);
	}
}

void inbox_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ib_fh *h = reg_get(fi->fh, true);

	if (h && reg_put(h))
		fh_free(fuse_req_userdata(req), h);
	fuse_reply_err(req, 0);
}

void inbox_files_shutdown(struct inbox *ib)
{
	struct ib_fh *h;

	for (size_t i = 0; i < reg.tab.nslots; i++) {
		for (;;) {
			pthread_mutex_lock(&reg.lock);
			h = reg.tab.slots[i]
				? FH(sfs_htab_del(&reg.tab, &reg.tab.slots[i]))
				: NULL;
			pthread_mutex_unlock(&reg.lock);
			if (!h)
				break;
			fh_free(ib, h);
		}
	}
}

/* A per-thread buffer for block-aligned reads, freed when the thread ends. */
static uint8_t *tbuf(size_t len)
{
	size_t *b = pthread_getspecific(tbuf_key);

	if (!b || *b < len) {
		free(b);
		b = malloc(sizeof(size_t) + len);
		if (b)
			*b = len;
		pthread_setspecific(tbuf_key, b);
		if (!b)
			return NULL;
	}
	return (uint8_t *)(b + 1);
}

static void audit_mismatch(struct inbox *ib, struct ib_fh *h, const char *why)
{
	bool was = atomic_exchange(&h->vf->audited_mismatch, true);

	if (!was)
		inbox_audit_denied(
		    ib, h->vf->path, h->vf->path_len, (int64_t)h->size, why,
		    "BACKING's bytes changed after they were verified");
}

static int read_raw(struct ib_fh *h, size_t size, off_t off,
		    const uint8_t **out, size_t *outlen)
{
	uint8_t *buf = tbuf(size);
	int ret;

	if (!buf)
		return -ENOMEM;
	ret = sfs_full_pread(h->fd, buf, size, off, outlen);
	*out = buf;
	return ret;
}

/*
 * A reload (a new CRL, other pins) applies to handles opened before it:
 * the first read after it asks whether the version this handle serves
 * still verifies. If BACKING has another version by now, the one being
 * served cannot be asked about any more: refused too.
 */
static int still_valid(struct inbox *ib, struct ib_fh *h)
{
	uint64_t e = inbox_epoch(ib);
	struct inbox_vfile *now;
	bool ok;

	if (atomic_load_explicit(&h->epoch, memory_order_relaxed) == e ||
	    ib->audit_mode)
		return 0;
	if (inbox_check(ib, h->vf->path, h->vf->path_len, NULL, &now))
		return -EIO;
	ok = now->verdict == VR_OK &&
	     inbox_stamp_eq(&now->content, &h->vf->content) &&
	     inbox_stamp_eq(&now->sig, &h->vf->sig);
	inbox_vfile_put(now);
	if (!ok)
		return -EIO;
	atomic_store_explicit(&h->epoch, e, memory_order_relaxed);
	return 0;
}

/*
 * Serve [off, off+size) of a verified file: read the whole covering blocks
 * from the fd that was verified and hand out bytes only from blocks whose
 * tag is the one recorded while verifying. A block that changed or
 * came up short is EIO: the reader never sees a byte that did not verify.
 */
static int read_verified(struct inbox *ib, struct ib_fh *h, size_t size,
			 off_t off, const uint8_t **out, size_t *outlen)
{
	uint64_t end = (uint64_t)off + size, b0, bend;
	uint8_t *buf;
	size_t blen, got = 0;
	int ret;

	if (end > h->size)
		end = h->size;
	b0 = (uint64_t)off >> INBOX_BLOCK_SHIFT;
	bend = ((end - 1) >> INBOX_BLOCK_SHIFT) + 1;
	blen = (size_t)((bend << INBOX_BLOCK_SHIFT < h->size
			     ? bend << INBOX_BLOCK_SHIFT
			     : h->size) -
			(b0 << INBOX_BLOCK_SHIFT));
	buf = tbuf(blen);
	if (!buf)
		return -ENOMEM;
	ret = sfs_full_pread(h->fd, buf, blen, (off_t)(b0 << INBOX_BLOCK_SHIFT),
			     &got);
	if (ret)
		return ret;
	if (got != blen) {
		audit_mismatch(ib, h, "short-read");
		if (ib->audit_mode)
			return read_raw(h, size, off, out, outlen);
		return -EIO;
	}
	for (uint64_t b = b0; b < bend; b++) {
		size_t o = (size_t)((b - b0) << INBOX_BLOCK_SHIFT);
		size_t bl = blen - o < INBOX_BLOCK ? blen - o : INBOX_BLOCK;

		if (sfs_blockmac_check(ib->mac, h->vf->gen, b, buf + o, bl,
				       h->vf->blocks[b])) {
			audit_mismatch(ib, h, "content-changed");
			if (!ib->audit_mode)
				return -EIO;
		}
	}
	*out = buf + ((uint64_t)off - (b0 << INBOX_BLOCK_SHIFT));
	*outlen = (size_t)(end - (uint64_t)off);
	return 0;
}

static int serve_read(struct inbox *ib, struct ib_fh *h, size_t size, off_t off,
		      const uint8_t **out, size_t *len)
{
	int ret;

	switch (h->kind) {
	case FH_VERIFIED:
		ret = still_valid(ib, h);
		return ret ? ret : read_verified(ib, h, size, off, out, len);
	case FH_RAW:
		return read_raw(h, size, off, out, len);
	case FH_SIGBUF:
		*out = h->buf + off;
		*len = h->size - (uint64_t)off < size ? h->size - (uint64_t)off
						      : size;
		return 0;
	}
	return -EIO;
}

void inbox_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct inbox *ib = fuse_req_userdata(req);
	struct ib_fh *h = reg_get(fi->fh, false);
	const uint8_t *out = NULL;
	size_t len = 0;
	int ret = 0;

	if (!h) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (off < 0)
		ret = -EINVAL;
	else if ((uint64_t)off < h->size && size)
		ret = serve_read(ib, h, size, off, &out, &len);
	if (ret) {
		fuse_reply_err(req, -ret);
	} else {
		fuse_reply_buf(req, (const char *)out, len);
		if (h->kind != FH_SIGBUF)
			sfs_stats_add(&ib->stats, SFS_C_BYTES_READ, len);
	}
	if (reg_put(h))
		fh_free(ib, h);
}

static void tbuf_free(void *p)
{
	free(p);
}

int inbox_file_init(void)
{
	int ret = -pthread_key_create(&tbuf_key, tbuf_free);

	if (ret == 0 && !reg.tab.slots)
		ret = sfs_htab_init(&reg.tab, 1024);
	return ret;
}
