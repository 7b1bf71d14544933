// SPDX-License-Identifier: Apache-2.0
/* signetfs inbox: a read-only FUSE view of BACKING showing verified files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <xxhash.h>

#include "inbox.h"
#include "mount.h"
#include "signetfs/log.h"

/*
 * The kernel caches no entry, attribute or ENOENT: every path walk asks
 * us, so a file that stops verifying is gone at once and a new one shows
 * up as soon as it verifies. A cached verdict makes that ask cheap (two
 * O_PATH opens). Data stays cached: see cache_policy().
 */
#define INBOX_TTL 1.0

/* What a node is: the mount shows directories, files and their .sig. */
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
};

struct node_table {
	pthread_mutex_t lock;	/* leaf lock: nothing is taken under it */
	struct node **slots;
	size_t nslots;
	size_t n;
	struct node root;
};

enum fh_kind { FH_VERIFIED, FH_RAW, FH_SIGBUF };

struct fh {
	enum fh_kind kind;
	int fd;
	struct inbox_vfile *vf;		/* counted by inbox_check */
	uint64_t size;			/* what is served */
	uint8_t *buf;			/* FH_SIGBUF: the verified .sig */
	struct node *node;
	bool cached;
};

struct dh {
	pthread_mutex_t lock;
	struct inbox_listing l;
	bool loaded;
};

static pthread_key_t tbuf_key;

/* ------------------------------------------------------------------ */
/* Nodes */

static struct node_table *nodes_of(struct inbox *ib)
{
	return ib->nodes;
}

static struct node *node_of(struct inbox *ib, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &nodes_of(ib)->root;
	return (struct node *)(uintptr_t)ino;
}

static fuse_ino_t ino_of(struct inbox *ib, struct node *n)
{
	return n == &nodes_of(ib)->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)n;
}

static int nodes_init(struct inbox *ib)
{
	struct node_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->nslots = 1024;
	t->slots = calloc(t->nslots, sizeof(*t->slots));
	t->root.path = strdup("");
	if (!t->slots || !t->root.path) {
		free(t->slots);
		free(t->root.path);
		free(t);
		return -ENOMEM;
	}
	t->root.kind = INBOX_DT_DIR;
	t->root.nlookup = 1;
	pthread_mutex_init(&t->lock, NULL);
	ib->nodes = t;
	return 0;
}

static void node_free(struct node *n)
{
	free(n->path);
	free(n);
}

static void nodes_destroy(struct inbox *ib)
{
	struct node_table *t = ib->nodes;

	if (!t)
		return;
	for (size_t i = 0; i < t->nslots; i++) {
		struct node *n = t->slots[i], *next;

		for (; n; n = next) {
			next = n->next;
			node_free(n);
		}
	}
	free(t->slots);
	free(t->root.path);
	pthread_mutex_destroy(&t->lock);
	free(t);
	ib->nodes = NULL;
}

static void unhash_locked(struct node_table *t, struct node *n)
{
	struct node **pp = &t->slots[n->hash & (t->nslots - 1)];

	for (; *pp; pp = &(*pp)->next) {
		if (*pp == n) {
			*pp = n->next;
			n->hashed = false;
			t->n--;
			return;
		}
	}
}

static void grow_locked(struct node_table *t)
{
	size_t ns = t->nslots * 2;
	struct node **s = calloc(ns, sizeof(*s));

	if (!s)
		return;
	for (size_t i = 0; i < t->nslots; i++) {
		struct node *n = t->slots[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = s[n->hash & (ns - 1)];
			s[n->hash & (ns - 1)] = n;
		}
	}
	free(t->slots);
	t->slots = s;
	t->nslots = ns;
}

/*
 * The node for (path, kind), one more lookup counted. The same path keeps
 * its node (and so its page cache) across lookups; a path whose kind
 * changed gets a new one, the old lives on until the kernel forgets it.
 */
static struct node *node_get(struct inbox *ib, const char *path, size_t len,
			     enum inbox_dtype kind)
{
	struct node_table *t = nodes_of(ib);
	uint64_t h = XXH3_64bits(path, len);
	struct node *n;

	pthread_mutex_lock(&t->lock);
	for (n = t->slots[h & (t->nslots - 1)]; n; n = n->next)
		if (n->hash == h && n->len == len && !memcmp(n->path, path, len))
			break;
	if (n && n->kind != kind) {
		unhash_locked(t, n);
		n = NULL;
	}
	if (!n) {
		n = calloc(1, sizeof(*n));
		if (n && !(n->path = strndup(path, len))) {
			free(n);
			n = NULL;
		}
		if (n) {
			n->hash = h;
			n->len = len;
			n->kind = kind;
			n->hashed = true;
			n->next = t->slots[h & (t->nslots - 1)];
			t->slots[h & (t->nslots - 1)] = n;
			if (++t->n > t->nslots)
				grow_locked(t);
		}
	}
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

static void node_forget(struct inbox *ib, fuse_ino_t ino, uint64_t nlookup)
{
	struct node_table *t = nodes_of(ib);
	struct node *n = node_of(ib, ino);

	if (n == &t->root)
		return;
	pthread_mutex_lock(&t->lock);
	n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
	if (n->nlookup == 0) {
		if (n->hashed)
			unhash_locked(t, n);
		node_free(n);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ------------------------------------------------------------------ */
/* Attributes */

static void stamp_to_stat(const struct inbox_stamp *s, off_t size,
			  struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = s->ino;
	/* A read-only view: no write bits, whatever BACKING says. */
	st->st_mode = s->mode & ~(mode_t)0222;
	st->st_nlink = s->nlink;
	st->st_uid = s->uid;
	st->st_gid = s->gid;
	st->st_size = size;
	st->st_blksize = INBOX_BLOCK;
	st->st_blocks = (size + 511) / 512;
	st->st_mtim = s->mtime;
	st->st_ctim = s->ctime;
	st->st_atim = s->mtime;
}

static int join(char *out, const char *dir, size_t dlen, const char *name,
		size_t *len)
{
	size_t nl = strlen(name);

	if (dlen + 1 + nl + sizeof(SFS_SIG_SUFFIX) > PATH_MAX)
		return -ENAMETOOLONG;
	if (dlen) {
		memcpy(out, dir, dlen);
		out[dlen++] = '/';
	}
	memcpy(out + dlen, name, nl + 1);
	*len = dlen + nl;
	return 0;
}

static bool served(struct inbox *ib, const struct inbox_vfile *vf)
{
	return vf->verdict == VR_OK || ib->audit_mode;
}

static int file_attr(struct inbox *ib, const char *path, size_t len,
		     struct stat *st)
{
	struct inbox_vfile *vf;
	int ret = inbox_check(ib, path, len, NULL, &vf);

	if (ret)
		return ret;
	if (served(ib, vf))
		stamp_to_stat(&vf->content, vf->content.size, st);
	else
		ret = -ENOENT;
	inbox_vfile_put(vf);
	return ret;
}

/* NAME.sig is there when NAME verifies; in audit mode when it exists. */
static int sig_attr(struct inbox *ib, const char *path, size_t len,
		    struct stat *st)
{
	size_t blen = len - (sizeof(SFS_SIG_SUFFIX) - 1);
	struct inbox_vfile *vf;
	struct inbox_stamp s;
	char base[PATH_MAX];
	int ret;

	if (ib->audit_mode) {
		ret = inbox_stat_beneath(ib->rootfd, path, st);
		if (!ret && !S_ISREG(st->st_mode))
			ret = -ENOENT;
		if (!ret) {
			inbox_stamp_of(st, &s);
			stamp_to_stat(&s, s.size, st);
		}
		return ret;
	}
	memcpy(base, path, blen);
	base[blen] = '\0';
	ret = inbox_check(ib, base, blen, NULL, &vf);
	if (ret)
		return ret;
	if (vf->verdict == VR_OK)
		stamp_to_stat(&vf->sig, (off_t)vf->sig_len, st);
	else
		ret = -ENOENT;
	inbox_vfile_put(vf);
	return ret;
}

static int dir_attr(struct inbox *ib, const char *path, struct stat *st)
{
	struct inbox_stamp s;
	int ret = inbox_stat_beneath(ib->rootfd, path, st);

	if (ret)
		return ret;
	if (!S_ISDIR(st->st_mode))
		return -ENOENT;
	inbox_stamp_of(st, &s);
	stamp_to_stat(&s, st->st_size, st);
	return 0;
}

static int path_attr(struct inbox *ib, const char *path, size_t len,
		     enum inbox_dtype kind, struct stat *st)
{
	switch (kind) {
	case INBOX_DT_DIR:
		return dir_attr(ib, path, st);
	case INBOX_DT_SIG:
		return sig_attr(ib, path, len, st);
	case INBOX_DT_REG:
		return file_attr(ib, path, len, st);
	}
	return -ENOENT;
}

/* What PATH is in BACKING now, as far as the mount is concerned. */
static int path_kind(struct inbox *ib, const char *path, size_t len,
		     enum inbox_dtype *kind)
{
	struct stat st;
	int ret = inbox_stat_beneath(ib->rootfd, path, &st);

	if (ret)
		return ret;
	if (S_ISDIR(st.st_mode))
		*kind = INBOX_DT_DIR;
	else if (!S_ISREG(st.st_mode))
		return -ENOENT;
	else if (sfs_is_sig_name(path, len))
		*kind = INBOX_DT_SIG;
	else
		*kind = INBOX_DT_REG;
	return 0;
}

static int do_lookup(struct inbox *ib, struct node *parent, const char *name,
		     struct fuse_entry_param *e)
{
	char path[PATH_MAX];
	enum inbox_dtype kind;
	struct node *n;
	size_t len;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = join(path, parent->path, parent->len, name, &len);
	if (!ret)
		ret = path_kind(ib, path, len, &kind);
	if (!ret)
		ret = path_attr(ib, path, len, kind, &e->attr);
	if (ret)
		return ret;
	n = node_get(ib, path, len, kind);
	if (!n)
		return -ENOMEM;
	e->ino = ino_of(ib, n);
	e->attr_timeout = INBOX_TTL;
	e->entry_timeout = INBOX_TTL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lookup, attributes, xattrs */

static void widen_readahead(const char *mnt);

/* The first request after INIT (lookup, getattr, open...) sets readahead. */
static struct inbox *ib_of(fuse_req_t req)
{
	struct inbox *ib = fuse_req_userdata(req);

	if (!atomic_load_explicit(&ib->readahead_set, memory_order_relaxed) &&
	    !atomic_exchange(&ib->readahead_set, true))
		widen_readahead(ib->mnt_real);
	return ib;
}

/*
 * The kernel reads ahead 128 KiB on a FUSE mount: a sequential reader has
 * about two requests in flight, each waiting for its block to be hashed,
 * and one core idles. A wider window keeps both busy (measured: cold
 * serve of 1 GiB 1.1-1.4 s at 128 KiB, ~0.7 s at 4 MiB). Best effort:
 * needs root and sysfs; found through mountinfo (a stat of the mountpoint
 * could wait for us). Done at the first lookup, not in init: the kernel
 * clamps the window to the INIT reply's max_readahead after init returns.
 */
#define INBOX_READ_AHEAD_KB "4096"

static void unescape_mountinfo(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] && s[3]) {
			*w++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) |
				      (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static void widen_readahead(const char *mnt)
{
	unsigned maj, min, fmaj = 0, fmin = 0;
	char *line = NULL, path[PATH_MAX + 1], sys[96];
	size_t cap = 0;
	bool found = false;
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int fd;

	if (!f || !mnt)
		goto out;
	while (getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*d %*d %u:%u %*s %4096s", &maj, &min,
			   path) != 3)
			continue;
		unescape_mountinfo(path);
		if (!strcmp(path, mnt)) {
			fmaj = maj;
			fmin = min;
			found = true; /* the last one is on top */
		}
	}
	if (!found)
		goto out;
	snprintf(sys, sizeof(sys), "/sys/class/bdi/%u:%u/read_ahead_kb", fmaj,
		 fmin);
	fd = open(sys, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, INBOX_READ_AHEAD_KB, strlen(INBOX_READ_AHEAD_KB)) < 0)
			sfs_info("%s: %s", sys, strerror(errno));
		close(fd);
	}
out:
	free(line);
	if (f)
		fclose(f);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct inbox *ib = userdata;

	fsmount_apply_conn_opts(conn);
	/*
	 * With auto_inval_data the kernel asks for attributes before each
	 * read once they expire, which with a TTL of 0 is every read; the
	 * page cache is managed at open instead (cache_policy()).
	 */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (ib->prewarm_wanted && inbox_prewarm_start(ib))
		sfs_warn("cannot start the prewarm thread");
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inbox *ib = ib_of(req);
	struct fuse_entry_param e;
	int ret;

	ret = do_lookup(ib, node_of(ib, parent), name, &e);

	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	node_forget(ib_of(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		node_forget(ib_of(req), forgets[i].ino, forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct inbox *ib = ib_of(req);
	struct node *n = node_of(ib, ino);
	struct stat st;
	int ret = path_attr(ib, n->path, n->len, n->kind, &st);

	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_attr(req, &st, INBOX_TTL);
}

static const char *const xattr_names[] = {
	"user.signetfs.signer",
	"user.signetfs.sha256",
	"user.signetfs.signed_at",
};

static int xattr_value(const struct inbox_vfile *vf, const char *name,
		       char *out, size_t cap)
{
	char hex[2 * SFS_MD_MAX + 1];
	struct tm tm;

	if (!strcmp(name, xattr_names[0])) {
		sfs_hex(vf->signer_sha256, 32, hex);
		return snprintf(out, cap, "%s %s", hex, vf->signer_subject);
	}
	if (!strcmp(name, xattr_names[1])) {
		/* The signed digest; only SHA-256 fits this name. */
		if (vf->digest.alg != SFS_MD_SHA256)
			return -ENODATA;
		sfs_hex(vf->digest.bytes, vf->digest.len, hex);
		return snprintf(out, cap, "%s", hex);
	}
	if (!strcmp(name, xattr_names[2])) {
		if (!gmtime_r(&vf->signing_time, &tm))
			return -ENODATA;
		return (int)strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	return -ENODATA;
}

/* Verified content files carry their signature's facts as xattrs. */
static int node_vfile(struct inbox *ib, struct node *n,
		      struct inbox_vfile **vf)
{
	int ret;

	if (n->kind != INBOX_DT_REG)
		return -ENODATA;
	ret = inbox_check(ib, n->path, n->len, NULL, vf);
	if (ret)
		return ret;
	if ((*vf)->verdict != VR_OK) {
		ret = served(ib, *vf) ? -ENODATA : -ENOENT;
		inbox_vfile_put(*vf);
	}
	return ret;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct inbox *ib = ib_of(req);
	struct inbox_vfile *vf;
	char val[512];
	int ret = node_vfile(ib, node_of(ib, ino), &vf);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	ret = xattr_value(vf, name, val, sizeof(val));
	inbox_vfile_put(vf);
	if (ret < 0)
		fuse_reply_err(req, -ret);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)ret);
	else if (size < (size_t)ret)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, (size_t)ret);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct inbox *ib = ib_of(req);
	struct inbox_vfile *vf;
	char list[128], val[512];
	size_t len = 0;
	int ret = node_vfile(ib, node_of(ib, ino), &vf);

	if (ret == -ENODATA) {
		fuse_reply_xattr(req, 0);
		return;
	}
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(xattr_names); i++) {
		if (xattr_value(vf, xattr_names[i], val, sizeof(val)) < 0)
			continue;
		memcpy(list + len, xattr_names[i], strlen(xattr_names[i]) + 1);
		len += strlen(xattr_names[i]) + 1;
	}
	inbox_vfile_put(vf);
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, list, len);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(ib_of(req)->rootfd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------------ */
/* Files */

/*
 * Page cache: a handle reads through it only if the cache holds (or is
 * about to hold) bytes of the same verified version. keep_cache keeps
 * them across opens; without it the kernel drops the inode's pages when
 * the open completes. While handles of an older version still read
 * through the cache, a newer version is served with direct_io, so no
 * reader ever sees a mix of two versions.
 */
static void cache_policy(struct inbox *ib, struct fh *h,
			 struct fuse_file_info *fi)
{
	struct node_table *t = nodes_of(ib);
	struct node *n = h->node;

	if (h->kind != FH_VERIFIED) {
		fi->direct_io = 1;
		return;
	}
	pthread_mutex_lock(&t->lock);
	if (n->cache_gen == h->vf->gen) {
		fi->keep_cache = 1;
		h->cached = true;
	} else if (n->cached_opens == 0) {
		n->cache_gen = h->vf->gen;
		h->cached = true;
	} else {
		fi->direct_io = 1;
	}
	if (h->cached)
		n->cached_opens++;
	pthread_mutex_unlock(&t->lock);
}

static void fh_free(struct inbox *ib, struct fh *h)
{
	struct node_table *t = nodes_of(ib);

	if (!h)
		return;
	if (h->cached) {
		pthread_mutex_lock(&t->lock);
		h->node->cached_opens--;
		pthread_mutex_unlock(&t->lock);
	}
	if (h->vf && h->kind != FH_SIGBUF)
		inbox_vfile_closed(ib, h->vf);
	inbox_vfile_put(h->vf);
	if (h->fd >= 0)
		close(h->fd);
	free(h->buf);
	free(h);
}

static int open_content(struct inbox *ib, struct node *n, struct fh *h)
{
	int ret = inbox_check(ib, n->path, n->len, &h->fd, &h->vf);

	if (ret)
		return ret;
	if (!served(ib, h->vf))
		return -ENOENT;
	if (h->vf->verdict == VR_OK) {
		h->kind = FH_VERIFIED;
		h->size = (uint64_t)h->vf->content.size;
	} else {
		h->kind = FH_RAW;
		h->size = (uint64_t)h->vf->content.size;
	}
	return 0;
}

/* The .sig bytes, served only if they are the ones that verified. */
static int load_sigbuf(struct inbox *ib, struct node *n, struct fh *h)
{
	size_t blen = n->len - (sizeof(SFS_SIG_SUFFIX) - 1);
	char base[PATH_MAX];
	uint8_t sha[32];
	struct stat st;
	size_t got = 0;
	int fd, ret;

	memcpy(base, n->path, blen);
	base[blen] = '\0';
	ret = inbox_check(ib, base, blen, NULL, &h->vf);
	if (ret)
		return ret;
	if (h->vf->verdict != VR_OK)
		return -ENOENT;
	fd = inbox_open_regular(ib->rootfd, n->path, &st);
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

static int open_sig(struct inbox *ib, struct node *n, struct fh *h)
{
	struct stat st;
	int ret;

	if (ib->audit_mode) {
		h->fd = inbox_open_regular(ib->rootfd, n->path, &st);
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

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inbox *ib = ib_of(req);
	struct node *n = node_of(ib, ino);
	struct fh *h;
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
	h->node = n;
	ret = n->kind == INBOX_DT_SIG ? open_sig(ib, n, h)
				      : open_content(ib, n, h);
	if (ret) {
		fh_free(ib, h);
		fuse_reply_err(req, -ret);
		return;
	}
	cache_policy(ib, h, fi);
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) == -ENOENT)
		fh_free(ib, h); /* interrupted: no release will come */
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	fh_free(ib_of(req), (struct fh *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
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

static void audit_mismatch(struct inbox *ib, struct fh *h, const char *why)
{
	bool was = atomic_exchange(&h->vf->audited_mismatch, true);

	if (!was)
		inbox_audit_denied(ib, h->vf->path, h->vf->path_len,
				   (int64_t)h->size, why);
}

static int read_raw(struct fh *h, size_t size, off_t off,
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
 * Serve [off, off+size) of a verified file: read the whole covering blocks
 * from the fd that was verified and hand out bytes only from blocks whose
 * SHA-256 is the one recorded while verifying. A block that changed or
 * came up short is EIO: the reader never sees a byte that did not verify.
 */
static int read_verified(struct inbox *ib, struct fh *h, size_t size,
			 off_t off, const uint8_t **out, size_t *outlen)
{
	uint64_t end = (uint64_t)off + size, b0, bend;
	uint8_t *buf, sha[32];
	size_t blen, got = 0;
	int ret;

	if (end > h->size)
		end = h->size;
	b0 = (uint64_t)off >> INBOX_BLOCK_SHIFT;
	bend = ((end - 1) >> INBOX_BLOCK_SHIFT) + 1;
	blen = (size_t)((bend << INBOX_BLOCK_SHIFT < h->size
				 ? bend << INBOX_BLOCK_SHIFT : h->size) -
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

		sfs_sha256(buf + o, bl, sha);
		if (memcmp(sha, h->vf->blocks[b], 32)) {
			audit_mismatch(ib, h, "content-changed");
			if (!ib->audit_mode)
				return -EIO;
		}
	}
	*out = buf + ((uint64_t)off - (b0 << INBOX_BLOCK_SHIFT));
	*outlen = (size_t)(end - (uint64_t)off);
	return 0;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct inbox *ib = ib_of(req);
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	const uint8_t *out = NULL;
	size_t len = 0;
	int ret = 0;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if ((uint64_t)off >= h->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	switch (h->kind) {
	case FH_VERIFIED:
		ret = read_verified(ib, h, size, off, &out, &len);
		break;
	case FH_RAW:
		ret = read_raw(h, size, off, &out, &len);
		break;
	case FH_SIGBUF:
		out = h->buf + off;
		len = h->size - (uint64_t)off < size ? h->size - (uint64_t)off
						      : size;
		break;
	}
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, (const char *)out, len);
}

/* ------------------------------------------------------------------ */
/* Directories */

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct inbox *ib = ib_of(req);
	struct node *n = node_of(ib, ino);
	struct dh *d;

	if (n->kind != INBOX_DT_DIR) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_init(&d->lock, NULL);
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		pthread_mutex_destroy(&d->lock);
		free(d);
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct dh *d = (struct dh *)(uintptr_t)fi->fh;

	inbox_listing_free(&d->l);
	pthread_mutex_destroy(&d->lock);
	free(d);
	fuse_reply_err(req, 0);
}

/* One entry into buf; 0 when it did not fit (nothing counted then). */
static size_t add_entry(fuse_req_t req, struct node *dir, char *buf,
			size_t rem, const struct inbox_dirent *de, off_t next,
			bool plus)
{
	struct inbox *ib = ib_of(req);
	struct fuse_entry_param e;
	size_t sz;

	if (!plus) {
		struct stat st = {.st_ino = de->ino};

		st.st_mode = de->type == INBOX_DT_DIR ? S_IFDIR : S_IFREG;
		return fuse_add_direntry(req, buf, rem, de->name, &st, next);
	}
	/* Gone or no longer verifying since the listing: leave it out. */
	if (do_lookup(ib, dir, de->name, &e))
		return (size_t)-1;
	sz = fuse_add_direntry_plus(req, buf, rem, de->name, &e, next);
	if (sz > rem)
		node_forget(ib, e.ino, 1);
	return sz;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct inbox *ib = ib_of(req);
	struct dh *d = (struct dh *)(uintptr_t)fi->fh;
	struct node *dir = node_of(ib, ino);
	char *buf = calloc(1, size);
	size_t used = 0;
	int ret = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	pthread_mutex_lock(&d->lock);
	/* Offset 0 (open, rewinddir) takes a fresh look at BACKING. */
	if (off == 0 || !d->loaded) {
		inbox_listing_free(&d->l);
		ret = inbox_list(ib, dir->path, &d->l);
		d->loaded = ret == 0;
	}
	for (size_t i = (size_t)off; !ret && i < d->l.n; i++) {
		size_t sz = add_entry(req, dir, buf + used, size - used,
				      &d->l.ents[i], (off_t)i + 1, plus);

		if (sz == (size_t)-1)
			continue;
		if (sz > size - used)
			break;
		used += sz;
	}
	pthread_mutex_unlock(&d->lock);
	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

/* ------------------------------------------------------------------ */
/* Everything that would modify: EROFS */

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	fuse_reply_err(req, EROFS);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			 off_t offset, off_t length, struct fuse_file_info *fi)
{
	fuse_reply_err(req, EROFS);
}

static const struct fuse_lowlevel_ops inbox_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
	.fallocate = op_fallocate,
};

/* ------------------------------------------------------------------ */
/* Start and stop */

static void audit_event(struct inbox *ib, const char *event)
{
	struct audit_record rec = {
		.event = event,
		.path = ib->backing,
		.path_len = strlen(ib->backing),
		.size = -1,
		.reason = ib->audit_mode ? "mode=audit" : "mode=strict",
	};

	if (ib->audit && audit_write(ib->audit, &rec))
		sfs_err("audit log: cannot record %s", event);
}

static int inbox_setup(void *userdata, struct sfs_error *err)
{
	struct inbox *ib = userdata;
	int ret;

	ib->rootfd = open(ib->backing, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (ib->rootfd < 0) {
		ret = -errno;
		sfs_error_set(err, ret, SFS_EXIT_USAGE, "%s: %s", ib->backing,
			      strerror(-ret));
		return ret;
	}
	ret = verifier_new(&ib->cfg->trust, &ib->verifier, err);
	if (ret)
		return ret;
	if (ib->cfg->audit_log) {
		ret = audit_open(ib->cfg->audit_log, ib->cfg->audit_sync,
				 &ib->audit);
		if (ret) {
			sfs_error_set(err, ret, SFS_EXIT_USAGE,
				      "audit log %s: %s", ib->cfg->audit_log,
				      strerror(-ret));
			return ret;
		}
	}
	audit_event(ib, "mount");
	return 0;
}

static void inbox_teardown(void *userdata)
{
	struct inbox *ib = userdata;

	inbox_prewarm_stop(ib);
	if (ib->verifier)
		audit_event(ib, "unmount");
	audit_close(ib->audit);
	ib->audit = NULL;
	verifier_free(ib->verifier);
	ib->verifier = NULL;
	if (ib->rootfd >= 0)
		close(ib->rootfd);
	ib->rootfd = -1;
}

static void tbuf_free(void *p)
{
	free(p);
}

int inbox_main(const struct sfs_config *cfg, const struct sfs_mount_args *a)
{
	struct inbox ib = {.cfg = cfg, .backing = a->backing, .rootfd = -1};
	struct sfs_mount_args args = *a;
	struct fsmount_spec spec = {
		.ops = &inbox_ops,
		.ops_size = sizeof(inbox_ops),
		.userdata = &ib,
		.subtype = "signetfs-inbox",
		.read_only = true,
		.setup = inbox_setup,
		.teardown = inbox_teardown,
	};
	char *opts = NULL;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int ret;

	ib.audit_mode = (a->mode >= 0 ? a->mode : (int)cfg->mode) ==
			SFS_MODE_AUDIT;
	ib.prewarm_wanted = a->prewarm;
	ib.mnt_real = realpath(a->mountpoint, NULL);
	ib.workers = ncpu > 1 ? (unsigned)ncpu * 2 : 2;
	/*
	 * Read buffers are 128 KiB-sized and short-lived: a fixed mmap
	 * threshold returns them to the system instead of growing the heap,
	 * so RSS stays flat however large the files served.
	 */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 4);
	/* The kernel checks the modes we report, as on any filesystem. */
	if (asprintf(&opts, "default_permissions%s%s",
		     a->fuse_opts && *a->fuse_opts ? "," : "",
		     a->fuse_opts ? a->fuse_opts : "") < 0)
		return SFS_EXIT_USAGE;
	args.fuse_opts = opts;
	if (pthread_key_create(&tbuf_key, tbuf_free) ||
	    nodes_init(&ib) || inbox_cache_init(&ib)) {
		ret = SFS_EXIT_USAGE;
		goto out;
	}
	ret = fsmount_run(&spec, &args);
out:
	inbox_cache_destroy(&ib);
	nodes_destroy(&ib);
	free(ib.mnt_real);
	free(opts);
	return ret;
}
