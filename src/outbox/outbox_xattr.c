// SPDX-License-Identifier: Apache-2.0
/* Outbox extended attributes: signature status, daemon counters, the rest
 * passed through. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "ob_inode.h"
#include "ob_ops.h"
#include "ob_sign.h"
#include "ob_stamp.h"
#include "outbox.h"

#define OB_XATTR_PREFIX "user.signetfs."

static const char *const ob_xattrs[] = {
    OB_XATTR_PREFIX "status",
    OB_XATTR_PREFIX "sha256",
    OB_XATTR_PREFIX "signer",
};

static bool snapshot_matches(const struct ob_inode *s, const struct stat *st)
{
	return s->snap_size == st->st_size &&
	       s->snap_mtime.tv_sec == st->st_mtim.tv_sec &&
	       s->snap_mtime.tv_nsec == st->st_mtim.tv_nsec &&
	       s->snap_ctime.tv_sec == st->st_ctim.tv_sec &&
	       s->snap_ctime.tv_nsec == st->st_ctim.tv_nsec;
}

/* Status from NAME.sig on disk (after a remount, a rename, a change). */
static void status_from_disk_locked(struct outbox *ob, struct bk_inode *i,
				    struct ob_inode *s)
{
	char rel[PATH_MAX], reason[96], base[NAME_MAX + 1];
	struct ob_sigcheck c = {0}; /* c.reason: NULL if no check ran */
	int dfd, fd = -1, ret;
	size_t len;

	SFS_ASSERT_HELD(&i->lock);
	ret = bk_relpath(&ob->bk, i, rel, &len);
	dfd = ret ? ret : bk_open_parent(&ob->bk, rel, base);
	if (dfd >= 0) {
		fd = bk_reopen(&ob->bk, i, O_RDONLY);
		ret = fd < 0 ? fd
			     : ob_valid_sig(ob, dfd, base, rel, len, fd,
					    ob_conf(ob)->md, &c);
	} else {
		ret = dfd;
	}
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (ret == -ENOENT) {
		ob_set_status_locked(ob, i, s, OB_ST_UNSIGNED, NULL, NULL,
				     NULL);
	} else if (ret == 0 && c.verified) {
		ob_set_status_locked(ob, i, s, OB_ST_SIGNED, &c.digest,
				     c.signer, NULL);
	} else if (ret == 0) {
		ob_set_status_locked(ob, i, s, OB_ST_FAILED, &c.digest, NULL,
				     "no trust store to check the .sig");
	} else {
		snprintf(reason, sizeof(reason), "invalid .sig: %s",
			 c.reason ? c.reason : strerror(-ret));
		ob_set_status_locked(ob, i, s, OB_ST_FAILED, NULL, NULL,
				     reason);
	}
}

static int format_status(const struct ob_inode *s, const char *which, char *out,
			 size_t outlen)
{
	if (!strcmp(which, "status")) {
		if (s->status == OB_ST_SIGNED)
			snprintf(out, outlen, "signed");
		else if (s->status == OB_ST_FAILED)
			snprintf(out, outlen, "failed: %s", s->reason);
		else
			snprintf(out, outlen, "unsigned");
		return 0;
	}
	if (s->status != OB_ST_SIGNED)
		return -ENODATA;
	if (!strcmp(which, "sha256")) {
		if (s->digest.len * 2 + 1 > outlen)
			return -ERANGE;
		sfs_hex(s->digest.bytes, s->digest.len, out);
		return 0;
	}
	if (!strcmp(which, "signer") && s->signer[0]) {
		snprintf(out, outlen, "%s", s->signer);
		return 0;
	}
	return -ENODATA;
}

/* Value of user.signetfs.{status,sha256,signer}. */
static int ob_status_xattr(struct outbox *ob, struct bk_inode *i,
			   const char *name, char *out, size_t outlen)
{
	const char *which = strrchr(name, '.') + 1;
	struct ob_inode *s;
	struct stat st;
	int ret;

	if (i->type != S_IFREG || ob->no_sign)
		return -ENODATA;
	if (strcmp(which, "status") && strcmp(which, "sha256") &&
	    strcmp(which, "signer"))
		return -ENODATA;
	pthread_mutex_lock(&i->lock);
	s = ob_inode_state(ob, i);
	if (!s) {
		ret = -ENOMEM;
	} else if (s->n_active && s->content_gen != s->decided_gen) {
		/* Being written: what is there now is not signed yet. */
		snprintf(out, outlen, "unsigned");
		ret = strcmp(which, "status") ? -ENODATA : 0;
	} else {
		ret = bk_stat(&ob->bk, i, &st);
		if (ret == 0 &&
		    (s->status == OB_ST_UNKNOWN || !snapshot_matches(s, &st)))
			status_from_disk_locked(ob, i, s);
		if (ret == 0)
			ret = format_status(s, which, out, outlen);
		if (ret == 0 && s->status == OB_ST_SIGNED &&
		    !strcmp(which, "status"))
			ob_stamp_status(ob, i, out, outlen);
	}
	pthread_mutex_unlock(&i->lock);
	return ret;
}

static bool is_ob_xattr(const char *name)
{
	return strncmp(name, OB_XATTR_PREFIX, strlen(OB_XATTR_PREFIX)) == 0;
}

/* "/proc/self/fd/N" of the inode's pinned fd (bk_unpin after); -errno. */
static int pin_path(struct outbox *ob, struct bk_inode *i, char *path)
{
	int fd = bk_pin(&ob->bk, i);

	if (fd < 0)
		return fd;
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return 0;
}

static bool xattr_capable(struct bk_inode *i)
{
	return i->type == S_IFREG || i->type == S_IFDIR;
}

void ob_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	char path[64], *buf = NULL;
	ssize_t n;

	if (i == &ob->bk.root && !strcmp(name, SFS_STATS_XATTR)) {
		char val[4096];
		int len =
		    sfs_stats_json(&ob->stats, "outbox", val, sizeof(val));

		sfuse_reply_xattr(
		    req, val,
		    len < 0 || (size_t)len >= sizeof(val) ? -ERANGE : len,
		    size);
		return;
	}
	if (is_ob_xattr(name)) {
		char val[256];
		int ret = ob_status_xattr(ob, i, name, val, sizeof(val));

		sfuse_reply_xattr(req, val,
				  ret < 0 ? ret : (ssize_t)strlen(val), size);
		return;
	}
	if (!xattr_capable(i)) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	n = pin_path(ob, i, path);
	if (n == 0) {
		n = getxattr(path, name, buf, size);
		if (n < 0)
			n = -errno;
		bk_unpin(&ob->bk, i);
	}
	sfuse_reply_xattr(req, buf, n, size);
	free(buf);
}

void ob_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	size_t extra = 0, cap;
	char path[64], *buf;
	ssize_t n;

	if (!xattr_capable(i)) {
		sfuse_reply_xattr(req, "", 0, size);
		return;
	}
	if (i->type == S_IFREG && !ob->no_sign)
		for (size_t k = 0; k < ARRAY_SIZE(ob_xattrs); k++)
			extra += strlen(ob_xattrs[k]) + 1;
	n = pin_path(ob, i, path);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	n = listxattr(path, NULL, 0);
	if (n < 0) {
		fuse_reply_err(req, errno);
		bk_unpin(&ob->bk, i);
		return;
	}
	cap = (size_t)n + extra + 1;
	buf = malloc(cap);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		bk_unpin(&ob->bk, i);
		return;
	}
	n = n ? listxattr(path, buf, (size_t)n) : 0;
	if (n < 0)
		n = -errno;
	bk_unpin(&ob->bk, i);
	if (n >= 0 && extra) {
		for (size_t k = 0; k < ARRAY_SIZE(ob_xattrs); k++) {
			size_t l = strlen(ob_xattrs[k]) + 1;

			memcpy(buf + n, ob_xattrs[k], l);
			n += (ssize_t)l;
		}
	}
	sfuse_reply_xattr(req, buf, n, size);
	free(buf);
}

/*
 * Who may change an xattr: never ours (EPERM), only where the
 * backing file supports it (ENOTSUP), only writers policy allows (EACCES).
 */
static int xattr_change_allowed(struct outbox *ob, fuse_req_t req,
				struct bk_inode *i, const char *name,
				const char *op)
{
	if (is_ob_xattr(name))
		return EPERM;
	if (!xattr_capable(i))
		return ENOTSUP;
	if (!ob_writer_allowed(ob, req, op, i, NULL))
		return EACCES;
	return 0;
}

void ob_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	char path[64];
	int ret;

	ret = xattr_change_allowed(ob, req, i, name, "setxattr");
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	ret = pin_path(ob, i, path);
	if (ret == 0) {
		ret = AS_CALLER(ob, req,
				setxattr(path, name, value, size, flags)) < 0
			  ? -errno
			  : 0;
		bk_unpin(&ob->bk, i);
	}
	fuse_reply_err(req, -ret);
}

void ob_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	char path[64];
	int ret;

	ret = xattr_change_allowed(ob, req, i, name, "removexattr");
	if (ret) {
		fuse_reply_err(req, ret);
		return;
	}
	ret = pin_path(ob, i, path);
	if (ret == 0) {
		ret = AS_CALLER(ob, req, removexattr(path, name)) < 0 ? -errno
								      : 0;
		bk_unpin(&ob->bk, i);
	}
	fuse_reply_err(req, -ret);
}
