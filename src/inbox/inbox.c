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
#include <sys/sysmacros.h>
#include <unistd.h>

#include <xxhash.h>

#include "ib_audit.h"
#include "ib_cache.h"
#include "ib_conf.h"
#include "ib_dir.h"
#include "ib_file.h"
#include "ib_fill.h"
#include "ib_hash.h"
#include "ib_node.h"
#include "ib_resolve.h"
#include "inbox.h"
#include "signetfs/audit.h"
#include "signetfs/signer.h"
#include "signetfs/verify.h"
#include "signetfs/stats.h"
#include "signetfs/config.h"
#include "signetfs/layout.h"
#include "signetfs/state.h"
#include "fuse/sfuse.h"
#include "signetfs/log.h"

/*
 * Entries and attributes are cached by the kernel for a second; ENOENT is
 * never cached, so a new file shows up as soon as it verifies. A file that
 * stops verifying can still be stat'ed until its entry expires, but every
 * open checks again and reads serve verified blocks only. With a TTL of 0
 * `ls -l` of 10,000 files costs 20,000 more round trips (~100 us each on
 * these VMs).
 */
#define INBOX_TTL 1.0

/* A directory handle; on ib->dirs while open (fuse/sfuse.h). */
struct ib_dh {
	struct sfuse_handle link;
	pthread_mutex_t lock;
	struct inbox_listing l;
	bool loaded;
};

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

/* With fill: verifying fills the page cache; *gen is the version's. */
static int file_attr(struct inbox *ib, const char *path, size_t len,
		     struct stat *st, struct inbox_fill *fill, uint64_t *gen)
{
	struct inbox_vfile *vf;
	int ret = inbox_check_fill(ib, path, len, NULL, &vf, fill);

	if (ret)
		return ret;
	if (inbox_served(ib, vf))
		stamp_to_stat(&vf->content, vf->content.size, st);
	else
		ret = -ENOENT;
	if (gen)
		*gen = vf->gen;
	inbox_vfile_put(vf);
	return ret;
}

size_t inbox_sig_of(const struct inbox *ib, const char *path, size_t len)
{
	return sfs_path_sig_of(path, len, ib->cfg->sig_suffix);
}

/* NAME.sig is there when NAME verifies; in audit mode when it exists. */
static int sig_attr(struct inbox *ib, const char *path, size_t len,
		    struct stat *st)
{
	size_t blen = inbox_sig_of(ib, path, len);
	struct inbox_vfile *vf;
	struct inbox_stamp s;
	char base[PATH_MAX];
	int ret;

	if (!blen)
		return -ENOENT;
	memcpy(base, path, blen);
	base[blen] = '\0';
	if (ib->audit_mode) {
		ret = inbox_stat_sig(ib->rootfd, base, st);
		if (!ret && !S_ISREG(st->st_mode))
			ret = -ENOENT;
		if (!ret) {
			inbox_stamp_of(st, &s);
			stamp_to_stat(&s, s.size, st);
		}
		return ret;
	}
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
		return file_attr(ib, path, len, st, NULL, NULL);
	}
	return -ENOENT;
}

/*
 * What PATH is in BACKING now, as far as the mount is concerned. A name
 * BACKING has (for a writer's file, directory, or anything else) is the
 * writer's: only a name it does not have can be a signature, FILE +
 * sig-suffix, and then only FILE's (docs/inbox.md, "Signatures").
 */
static int path_kind(struct inbox *ib, const char *path, size_t len,
		     enum inbox_dtype *kind, struct stat *stp)
{
	char base[PATH_MAX];
	struct stat st;
	size_t blen;
	int ret = inbox_stat_beneath(ib->rootfd, path, &st);

	if (ret == -ENOENT && (blen = inbox_sig_of(ib, path, len))) {
		memcpy(base, path, blen);
		base[blen] = '\0';
		ret = inbox_stat_sig(ib->rootfd, base, &st);
		if (ret == 0 && !S_ISREG(st.st_mode))
			return -ENOENT;
		if (ret == 0)
			*kind = INBOX_DT_SIG;
	} else if (ret == 0) {
		if (S_ISDIR(st.st_mode))
			*kind = INBOX_DT_DIR;
		else if (S_ISREG(st.st_mode))
			*kind = INBOX_DT_REG;
		else
			return -ENOENT;
	}
	if (ret == 0)
		*stp = st;
	return ret;
}

/* fill: from a LOOKUP (not a listing, which has verified already). */
static int do_lookup(struct inbox *ib, struct ib_node *parent, const char *name,
		     struct fuse_entry_param *e, struct inbox_fill *fill)
{
	char path[PATH_MAX];
	enum inbox_dtype kind;
	struct ib_node *n;
	uint64_t gen = 0;
	struct stat st;
	size_t len;
	int ret;

	memset(e, 0, sizeof(*e));
	ret = sfs_path_join(path, PATH_MAX, parent->path, parent->len, name,
			    sizeof(SFS_SIG_SUFFIX), &len);
	if (!ret)
		ret = path_kind(ib, path, len, &kind, &st);
	if (ret)
		return ret;
	if (kind == INBOX_DT_REG && fill) {
		/* A file the kernel does not know yet: fill while verifying. */
		inbox_fill_begin(ib, fill, path, len, &st);
		ret = file_attr(ib, path, len, &e->attr, fill, &gen);
		inbox_fill_end(fill, ret == 0, gen);
	} else {
		ret = path_attr(ib, path, len, kind, &e->attr);
	}
	if (ret)
		return ret;
	n = inbox_node_get(ib, path, len, kind);
	if (!n)
		return -ENOMEM;
	e->ino = inbox_ino_of(ib, n);
	/* The kernel takes another generation for another inode. */
	e->generation = n->generation;
	e->attr_timeout = INBOX_TTL;
	e->entry_timeout = INBOX_TTL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Lookup, attributes, xattrs */

static void widen_readahead(struct inbox *ib, const char *mnt);

/*
 * The mount of req. Not only a lookup: the first request after INIT
 * (lookup, getattr, open...) also widens the kernel's readahead (sysfs).
 */
static struct inbox *ib_of_req(fuse_req_t req)
{
	struct inbox *ib = fuse_req_userdata(req);

	if (!atomic_load_explicit(&ib->readahead_set, memory_order_relaxed) &&
	    !atomic_exchange(&ib->readahead_set, true))
		widen_readahead(ib, ib->mnt_real);
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
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] &&
		    s[3]) {
			*w++ = (char)(((s[1] - '0') << 6) |
				      ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

static void widen_readahead(struct inbox *ib, const char *mnt)
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
	/* Also what the page cache fill checks its clone against. */
	atomic_store(&ib->mnt_dev, (unsigned long)makedev(fmaj, fmin));
	snprintf(sys, sizeof(sys), "/sys/class/bdi/%u:%u/read_ahead_kb", fmaj,
		 fmin);
	fd = open(sys, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, INBOX_READ_AHEAD_KB,
			  strlen(INBOX_READ_AHEAD_KB)) < 0)
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

	sfuse_apply_conn_opts(conn);
	/*
	 * With auto_inval_data the kernel asks for attributes before each
	 * read once they expire, which with a TTL of 0 is every read; the
	 * page cache is managed at open instead (cache_policy()).
	 */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* File handles: how the page cache gets filled (inbox_fill.c). */
	if (ib->cfg->page_cache_fill &&
	    (conn->capable & FUSE_CAP_EXPORT_SUPPORT)) {
		conn->want |= FUSE_CAP_EXPORT_SUPPORT;
		atomic_store(&ib->fill, true);
	}
	if (ib->prewarm_wanted && inbox_prewarm_start(ib))
		sfs_warn("cannot start the prewarm thread");
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inbox *ib = ib_of_req(req);
	struct inbox_fill fill = {.hfd = -1};
	struct fuse_entry_param e;
	int ret;

	if (!strcmp(name, ".") || !strcmp(name, ".."))
		/* Only from a file handle: ours (inbox_fill.c), or refused. */
		ret = strcmp(name, ".")
			  ? -ENOENT
			  : inbox_fill_lookup_self(ib, req, parent, &e);
	else
		ret = do_lookup(ib, inbox_node_of(ib, parent), name, &e, &fill);

	if (ret)
		fuse_reply_err(req, -ret);
	else
		fuse_reply_entry(req, &e);
	inbox_fill_release(&fill);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	inbox_node_forget(ib_of_req(req), ino, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	for (size_t i = 0; i < count; i++)
		inbox_node_forget(ib_of_req(req), forgets[i].ino,
				  forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct inbox *ib = ib_of_req(req);
	struct ib_node *n = inbox_node_of(ib, ino);
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
    "user.signetfs.reason",
};

static bool is_xattr_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(xattr_names); i++) {
		if (!strcmp(name, xattr_names[i]))
			return true;
	}
	return false;
}

/*
 * A file served in audit mode that does not verify carries only why not
 * (the reason the verify-denied record gives); a verified file the facts
 * of its signature.
 */
static int xattr_value(const struct inbox_vfile *vf, const char *name,
		       char *out, size_t cap)
{
	char hex[2 * SFS_MD_MAX + 1];
	struct tm tm;

	if (vf->verdict != VR_OK)
		return strcmp(name, xattr_names[3])
			   ? -ENODATA
			   : snprintf(out, cap, "%s",
				      verify_reason_name(vf->verdict));
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

/* Content files the mount serves carry xattrs (xattr_value()). */
static int node_vfile(struct inbox *ib, struct ib_node *n,
		      struct inbox_vfile **vf)
{
	int ret;

	if (n->kind != INBOX_DT_REG)
		return -ENODATA;
	ret = inbox_check(ib, n->path, n->len, NULL, vf);
	if (ret)
		return ret;
	if (!inbox_served(ib, *vf)) {
		inbox_vfile_put(*vf);
		return -ENOENT;
	}
	return 0;
}

/* The root carries the daemon's counters for `signetfs status`. */
static void root_getxattr(fuse_req_t req, struct inbox *ib, const char *name,
			  size_t size)
{
	char val[4096];
	int ret = -ENODATA;

	if (!strcmp(name, SFS_STATS_XATTR)) {
		ret = sfs_stats_json(&ib->stats, "inbox", val, sizeof(val));
		if (ret < 0 || (size_t)ret >= sizeof(val))
			ret = -EIO;
	}
	sfuse_reply_xattr(req, val, ret, size);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct inbox *ib = ib_of_req(req);
	struct inbox_vfile *vf;
	char val[512];
	int ret;

	if (ino == FUSE_ROOT_ID) {
		root_getxattr(req, ib, name, size);
		return;
	}
	/*
	 * No other name ever has a value here, so none needs the file's
	 * verdict: `ls -l` asks two of them (security.selinux,
	 * system.posix_acl_access) of every name it lists.
	 */
	if (!is_xattr_name(name)) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	ret = node_vfile(ib, inbox_node_of(ib, ino), &vf);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	ret = xattr_value(vf, name, val, sizeof(val));
	inbox_vfile_put(vf);
	sfuse_reply_xattr(req, val, ret, size);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct inbox *ib = ib_of_req(req);
	struct inbox_vfile *vf;
	char list[128], val[512];
	size_t len = 0;
	int ret;

	if (ino == FUSE_ROOT_ID) {
		sfuse_reply_xattr(req, SFS_STATS_XATTR, sizeof(SFS_STATS_XATTR),
				  size);
		return;
	}
	ret = node_vfile(ib, inbox_node_of(ib, ino), &vf);
	if (ret == -ENODATA) { /* a directory or .sig: no names */
		sfuse_reply_xattr(req, "", 0, size);
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
	sfuse_reply_xattr(req, list, (ssize_t)len, size);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	if (fstatvfs(ib_of_req(req)->rootfd, &sv) < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &sv);
}

/* ------------------------------------------------------------------ */
/* Directories */

static void dh_free(struct ib_dh *d)
{
	inbox_listing_free(&d->l);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct inbox *ib = ib_of_req(req);
	struct ib_node *n = inbox_node_of(ib, ino);
	struct ib_dh *d;

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
	sfuse_handle_add(&ib->dirs, &d->link);
	fi->fh = (uint64_t)(uintptr_t)d;
	fi->keep_cache = 0;
	if (fuse_reply_open(req, fi) == -ENOENT) {
		/* Interrupted: no release will come. */
		sfuse_handle_del(&ib->dirs, &d->link);
		dh_free(d);
	}
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct inbox *ib = fuse_req_userdata(req);
	struct ib_dh *d = (struct ib_dh *)(uintptr_t)fi->fh;

	sfuse_handle_del(&ib->dirs, &d->link);
	dh_free(d);
	fuse_reply_err(req, 0);
}

/* One entry into buf; 0 when it did not fit (nothing counted then). */
static size_t add_entry(fuse_req_t req, struct ib_node *dir, char *buf,
			size_t rem, const struct inbox_dirent *de, off_t next,
			bool plus)
{
	struct inbox *ib = ib_of_req(req);
	struct fuse_entry_param e;
	size_t sz;

	if (!plus) {
		struct stat st = {.st_ino = de->ino};

		st.st_mode = de->type == INBOX_DT_DIR ? S_IFDIR : S_IFREG;
		return fuse_add_direntry(req, buf, rem, de->name, &st, next);
	}
	/* Gone or no longer verifying since the listing: leave it out. */
	if (do_lookup(ib, dir, de->name, &e, NULL))
		return (size_t)-1;
	sz = fuse_add_direntry_plus(req, buf, rem, de->name, &e, next);
	if (sz > rem)
		inbox_node_forget(ib, e.ino, 1);
	return sz;
}

/*
 * "." and "..", as every directory lists them (ls -a, find, tools that
 * count entries). The kernel takes no lookup from them in READDIRPLUS
 * (fuse_direntplus_link skips both), so no node is referenced: only the
 * attributes' inode number and type, BACKING's.
 */
static size_t add_dot(fuse_req_t req, char *buf, size_t rem, const char *name,
		      ino_t backing_ino, off_t next, bool plus)
{
	struct fuse_entry_param e = {0};

	e.attr.st_ino = backing_ino;
	e.attr.st_mode = S_IFDIR;
	if (!plus)
		return fuse_add_direntry(req, buf, rem, name, &e.attr, next);
	return fuse_add_direntry_plus(req, buf, rem, name, &e, next);
}

/* Entry k of the listing as READDIR numbers them: ".", "..", then l. */
static size_t add_nth(fuse_req_t req, struct ib_node *dir, struct ib_dh *d,
		      char *buf, size_t rem, size_t k, bool plus)
{
	off_t next = (off_t)k + 1;

	if (k == 0)
		return add_dot(req, buf, rem, ".", d->l.self_ino, next, plus);
	if (k == 1)
		return add_dot(req, buf, rem, "..", d->l.parent_ino, next,
			       plus);
	return add_entry(req, dir, buf, rem, &d->l.ents[k - 2], next, plus);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi, bool plus)
{
	struct inbox *ib = ib_of_req(req);
	struct ib_dh *d = (struct ib_dh *)(uintptr_t)fi->fh;
	struct ib_node *dir = inbox_node_of(ib, ino);
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
	for (size_t i = (size_t)off; !ret && i < d->l.n + 2; i++) {
		size_t sz =
		    add_nth(req, dir, d, buf + used, size - used, i, plus);

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

static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t offset,
			 off_t length, struct fuse_file_info *fi)
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
    .open = inbox_op_open,
    .read = inbox_op_read,
    .write = op_write,
    .release = inbox_op_release,
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
	/* Made in the serving process: the key exists nowhere else. */
	ib->mac = sfs_blockmac_new();
	if (!ib->mac) {
		sfs_error_set(err, -ENOMEM, SFS_EXIT_USAGE,
			      "cannot make the block tag key");
		return -ENOMEM;
	}
	ret = inbox_conf_init(ib, err);
	if (ret)
		return ret;
	/* In the serving process too: the key is read by it alone. */
	if (ib->cfg->state_dir) {
		ret = state_open(ib->cfg->state_dir, ib->backing, STATE_INBOX,
				 0, &ib->state, err);
		if (ret)
			return ret;
	}
	return inbox_audit_open(ib, err);
}

static int inbox_teardown(void *userdata)
{
	struct inbox *ib = userdata;
	struct sfuse_handle *h;
	int ret;

	inbox_prewarm_stop(ib);
	inbox_fill_shutdown();
	/* Their RELEASE(DIR) was dropped by the unmount (fuse/sfuse.h). */
	inbox_files_shutdown(ib);
	while ((h = sfuse_handle_pop(&ib->dirs)))
		dh_free(SFUSE_HANDLE_OF(h, struct ib_dh, link));
	ret = inbox_audit_close(ib);
	state_close(ib->state);
	ib->state = NULL;
	inbox_conf_destroy(ib);
	sfs_blockmac_free(ib->mac);
	ib->mac = NULL;
	if (ib->rootfd >= 0)
		close(ib->rootfd);
	ib->rootfd = -1;
	return ret;
}

int inbox_main(const struct sfs_config *cfg, const struct sfs_mount_args *a)
{
	struct inbox ib = {.cfg = cfg,
			   .backing = a->backing,
			   .rootfd = -1,
			   .dirs = SFUSE_HANDLES_INIT};
	struct sfs_mount_args args = *a;
	struct sfuse_spec spec = {
	    .ops = &inbox_ops,
	    .ops_size = sizeof(inbox_ops),
	    .userdata = &ib,
	    .subtype = "signetfs-inbox",
	    .read_only = true,
	    .setup = inbox_setup,
	    .teardown = inbox_teardown,
	    .reload = inbox_reload,
	    .session = &ib.se,
	};
	char *opts = NULL;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int ret;

	ib.audit_mode =
	    (a->mode >= 0 ? a->mode : (int)cfg->mode) == SFS_MODE_AUDIT;
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
	if (inbox_file_init() || inbox_nodes_init(&ib) ||
	    inbox_cache_init(&ib)) {
		ret = SFS_EXIT_USAGE;
		goto out;
	}
	ret = sfuse_run(&spec, &args);
out:
	sfs_blockmac_free(ib.mac);
	inbox_conf_destroy(&ib);
	inbox_cache_destroy(&ib);
	inbox_nodes_destroy(&ib);
	free(ib.mnt_real);
	free(opts);
	return ret;
}
