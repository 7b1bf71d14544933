// SPDX-License-Identifier: Apache-2.0
/* Outbox namespace operations: directories, unlink, refused node types. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ob_dirtime.h"
#include "ob_inode.h"
#include "ob_ops.h"
#include "ob_sign.h"
#include "outbox.h"
#include "signetfs/layout.h"
#include "signetfs/log.h"

void ob_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *p = bk_inode(&ob->bk, parent);
	char bname[NAME_MAX + 1];
	struct fuse_entry_param e;
	int pfd, ret;

	ret = ob_bk_name(ob, name, bname, true);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	pfd = ob_pin_parent_for_write(ob, req, "mkdir", p, name);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	ob_dir_change_begin(ob, p->dev, p->ino);
	ret = AS_CALLER(ob, req, mkdirat(pfd, bname, mode)) < 0 ? -errno : 0;
	if (ret == 0) {
		ret = bk_lookup(&ob->bk, p, bname, &e, NULL);
		/* An error leaves nothing behind (the parent is locked). */
		if (ret && unlinkat(pfd, bname, AT_REMOVEDIR) < 0)
			sfs_err("%s: cannot remove it after a failed mkdir: %s",
				name, strerror(errno));
	}
	ob_dir_change_end(ob, p->dev, p->ino);
	bk_unpin(&ob->bk, p);
	sfuse_reply_entry(req, ret, &e);
}

static void ob_op_refuse(fuse_req_t req)
{
	fuse_reply_err(req, EPERM);
}

void ob_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev)
{
	ob_op_refuse(req);
}

void ob_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name)
{
	ob_op_refuse(req);
}

void ob_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname)
{
	ob_op_refuse(req);
}

void ob_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	char buf[PATH_MAX];
	int fd = bk_pin(&ob->bk, i);
	ssize_t n;

	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	n = readlinkat(fd, "", buf, sizeof(buf) - 1);
	if (n < 0)
		n = -errno;
	bk_unpin(&ob->bk, i);
	if (n < 0) {
		fuse_reply_err(req, (int)-n);
		return;
	}
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

static int unlink_at(struct outbox *ob, fuse_req_t req, int pfd,
		     const char *name)
{
	char sig[NAME_MAX + 1];
	struct bk_inode *i = NULL;
	struct stat st;
	int ret = 0;

	if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	if (S_ISREG(st.st_mode))
		i = bk_find(&ob->bk, st.st_dev, st.st_ino);
	if (i)
		pthread_mutex_lock(&i->lock);
	if (AS_CALLER(ob, req, unlinkat(pfd, name, 0)) < 0)
		ret = -errno;
	if (ret == 0 && S_ISREG(st.st_mode) && !ob->no_sign &&
	    ob_sig_name(name, sig) == 0 && unlinkat(pfd, sig, 0) < 0 &&
	    errno != ENOENT)
		sfs_err("unlink %s: cannot remove its .sig: %s", name,
			strerror(errno));
	if (i) {
		struct ob_inode *s = ob_inode_state(ob, i);

		if (s && ret == 0) {
			s->sig_cleared = true;
			s->status = OB_ST_UNKNOWN;
			/* Its last name: nothing can sign it any more. */
			if (st.st_nlink <= 1)
				ob_write_reset_locked(s);
		}
		pthread_mutex_unlock(&i->lock);
		bk_unpin(&ob->bk, i);
	}
	/* Its inode number may come back: not as a failed write. */
	if (ret == 0 && S_ISREG(st.st_mode) && st.st_nlink <= 1 && !ob->no_sign)
		ob_write_failed_forget(ob, st.st_dev, st.st_ino);
	return ret;
}

void ob_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *p = bk_inode(&ob->bk, parent);
	char bname[NAME_MAX + 1];
	int pfd, ret;

	ret = ob_bk_name(ob, name, bname, false);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	pfd = bk_pin(&ob->bk, p);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	if (!ob_writer_allowed(ob, req, "unlink", p, name)) {
		ret = -EACCES;
	} else {
		ob_dir_change_begin(ob, p->dev, p->ino);
		ret = unlink_at(ob, req, pfd, bname);
		ob_dir_change_end(ob, p->dev, p->ino);
	}
	bk_unpin(&ob->bk, p);
	fuse_reply_err(req, -ret);
}

/*
 * An entry the view hides and the outbox may remove: a signature slot (a
 * regular file) whose file is gone (removed in BACKING, or a crash between
 * the two unlinks), or a slot of a slot (temp files of signatures).
 */
static bool own_leftover(int dfd, const char *name)
{
	size_t n = strlen(name);
	char base[NAME_MAX + 1];
	struct stat st;

	if (!sfs_name_is_slot(name, n) ||
	    fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISREG(st.st_mode))
		return false;
	memcpy(base, name, n - 4);
	base[n - 4] = '\0';
	return sfs_name_is_slot(base, n - 4) ||
	       (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 &&
		errno == ENOENT);
}

/*
 * A directory empty in the view but not in BACKING: when every entry is
 * an own_leftover(), remove them (as the daemon: they are its own, the
 * caller sees none), so rm -r removes a tree in one pass. Anything else
 * keeps the directory (ENOTEMPTY). Caller holds ns_lock exclusively, so
 * no signature is installed (or its temp file written) meanwhile.
 */
static void drop_leftovers(int pfd, const char *bname)
{
	int fd =
	    openat(pfd, bname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct dirent *de;
	bool all = true;
	DIR *dp;

	dp = fd < 0 ? NULL : fdopendir(fd);
	if (!dp) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while (all && (de = readdir(dp)))
		all = !strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		      own_leftover(fd, de->d_name);
	rewinddir(dp);
	while (all && (de = readdir(dp)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    own_leftover(fd, de->d_name))
			unlinkat(fd, de->d_name, 0);
	closedir(dp);
}

void ob_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *p = bk_inode(&ob->bk, parent);
	char bname[NAME_MAX + 1];
	int r, pfd;

	r = ob_bk_name(ob, name, bname, false);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	pfd = ob_pin_parent_for_write(ob, req, "rmdir", p, name);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	ob_dir_change_begin(ob, p->dev, p->ino);
	r = AS_CALLER(ob, req, unlinkat(pfd, bname, AT_REMOVEDIR)) < 0 ? errno
								       : 0;
	if (r == ENOTEMPTY) {
		pthread_rwlock_wrlock(&ob->ns_lock);
		drop_leftovers(pfd, bname);
		r = AS_CALLER(ob, req, unlinkat(pfd, bname, AT_REMOVEDIR)) < 0
			? errno
			: 0;
		pthread_rwlock_unlock(&ob->ns_lock);
	}
	ob_dir_change_end(ob, p->dev, p->ino);
	bk_unpin(&ob->bk, p);
	fuse_reply_err(req, r);
}

void ob_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_dir *d;
	int ret = bk_opendir(&ob->bk, bk_inode(&ob->bk, ino), &d);

	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	sfuse_handle_add(&ob->dirs, &d->link);
	if (fuse_reply_open(req, fi)) {
		sfuse_handle_del(&ob->dirs, &d->link);
		bk_closedir(d);
	}
}

void ob_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	bk_readdir(&ob->bk, req, bk_inode(&ob->bk, ino),
		   (struct bk_dir *)(uintptr_t)fi->fh, size, off, false,
		   ob_view_name);
}

void ob_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	bk_readdir(&ob->bk, req, bk_inode(&ob->bk, ino),
		   (struct bk_dir *)(uintptr_t)fi->fh, size, off, true,
		   ob_view_name);
}

void ob_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_dir *d = (struct bk_dir *)(uintptr_t)fi->fh;

	sfuse_handle_del(&ob->dirs, &d->link);
	bk_closedir(d);
	fuse_reply_err(req, 0);
}

void ob_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi)
{
	struct bk_dir *d = (struct bk_dir *)(uintptr_t)fi->fh;
	int fd = dirfd(d->dp);

	fuse_reply_err(req,
		       (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? errno : 0);
}
