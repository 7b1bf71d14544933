// SPDX-License-Identifier: Apache-2.0
/* Outbox namespace operations: directories, unlink, refused node types. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ob_inode.h"
#include "ob_ops.h"
#include "outbox.h"
#include "signetfs/log.h"

void ob_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *p = bk_inode(&ob->bk, parent);
	struct fuse_entry_param e;
	int pfd, ret;

	if (ob_reserved_name(name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	pfd = ob_pin_parent_for_write(ob, req, "mkdir", p, name);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	ret = AS_CALLER(ob, req, mkdirat(pfd, name, mode)) < 0 ? -errno : 0;
	if (ret == 0) {
		ret = bk_lookup(&ob->bk, p, name, &e, NULL);
		/* An error leaves nothing behind (the parent is locked). */
		if (ret && unlinkat(pfd, name, AT_REMOVEDIR) < 0)
			sfs_err("%s: cannot remove it after a failed mkdir: %s",
				name, strerror(errno));
	}
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

/* NAME.sig of a name that has no file any more is an orphan: removable. */
static bool sig_has_file(int pfd, const char *name)
{
	char base[NAME_MAX + 1];
	size_t n = strlen(name) - 4;
	struct stat st;

	if (n == 0 || n > NAME_MAX)
		return false;
	memcpy(base, name, n);
	base[n] = '\0';
	return fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int unlink_at(struct outbox *ob, fuse_req_t req, int pfd,
		     const char *name)
{
	char sig[NAME_MAX + 8];
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
	    !sfs_is_sig_name(name, strlen(name)) &&
	    (size_t)snprintf(sig, sizeof(sig), "%s.sig", name) <= NAME_MAX &&
	    unlinkat(pfd, sig, 0) < 0 && errno != ENOENT)
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
	int pfd, ret;

	if (ob_hidden(name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	pfd = bk_pin(&ob->bk, p);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	if (sfs_is_sig_name(name, strlen(name)) && sig_has_file(pfd, name))
		ret = -EPERM;
	else if (!ob_writer_allowed(ob, req, "unlink", p, name))
		ret = -EACCES;
	else
		ret = unlink_at(ob, req, pfd, name);
	bk_unpin(&ob->bk, p);
	fuse_reply_err(req, -ret);
}

/* Temp .sig files a killed daemon left; ours are younger than the mount. */
static void remove_stale_temps(struct outbox *ob, struct bk_inode *dir)
{
	int fd = bk_reopen(&ob->bk, dir, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *dp;

	if (fd < 0)
		return;
	dp = fdopendir(fd);
	if (!dp) {
		close(fd);
		return;
	}
	while ((de = readdir(dp))) {
		struct stat st;

		if (!sfs_is_atomic_temp(de->d_name) ||
		    fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (st.st_mtim.tv_sec < ob->started.tv_sec ||
		    (st.st_mtim.tv_sec == ob->started.tv_sec &&
		     st.st_mtim.tv_nsec < ob->started.tv_nsec))
			unlinkat(fd, de->d_name, 0);
	}
	closedir(dp);
}

void ob_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *p = bk_inode(&ob->bk, parent);
	struct fuse_entry_param e;
	struct bk_inode *d;
	int r, pfd;

	pfd = ob_pin_parent_for_write(ob, req, "rmdir", p, name);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	r = AS_CALLER(ob, req, unlinkat(pfd, name, AT_REMOVEDIR));
	if (r < 0 && errno == ENOTEMPTY &&
	    bk_lookup(&ob->bk, p, name, &e, &d) == 0) {
		remove_stale_temps(ob, d);
		bk_forget(&ob->bk, d, 1);
		r = AS_CALLER(ob, req, unlinkat(pfd, name, AT_REMOVEDIR));
	}
	r = r < 0 ? errno : 0;
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
		   ob_hidden);
}

void ob_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	bk_readdir(&ob->bk, req, bk_inode(&ob->bk, ino),
		   (struct bk_dir *)(uintptr_t)fi->fh, size, off, true,
		   ob_hidden);
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
