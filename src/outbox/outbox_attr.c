// SPDX-License-Identifier: Apache-2.0
/* setattr: truncation (signed when no writer is active), modes and owners (the
 * .sig follows), times. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob_digest.h"
#include "ob_dirtime.h"
#include "ob_file.h"
#include "ob_inode.h"
#include "ob_ops.h"
#include "ob_sign.h"
#include "outbox.h"
#include "signetfs/log.h"

/*
 * Truncation to size. One to the size the file has changes no byte: it is
 * passed on (times as natively) but is no change to sign.
 */
static int truncate_locked(fuse_req_t req, struct outbox *ob,
			   struct bk_inode *i, struct ob_file *f, off_t size,
			   bool *changed)
{
	struct ob_inode *s = ob_inode_state(ob, i);
	int fd = f ? f->fd : -1, ret = 0;
	struct stat st;
	bool same;

	SFS_ASSERT_HELD(&i->lock);
	*changed = false;
	if (!s)
		return -ENOMEM;
	ret = bk_stat(&ob->bk, i, &st);
	if (ret)
		return ret;
	/* Emptying a file a failed write left untrustworthy resets it. */
	same = st.st_size == size && !(size == 0 && s->write_failed);
	if (!ob->no_sign && !same && size != 0 && s->prov != OB_PROV_OK)
		ob_provenance_locked(ob, i, s);
	if (!ob->no_sign && !same && !s->sig_cleared) {
		ret = ob_clear_sig_locked(ob, i, s);
		if (ret)
			return -EIO;
	}
	/* As the caller: BACKING checks the write permission too. */
	bk_creds_enter(&ob->bk, req, false);
	if (fd < 0)
		fd = bk_reopen(&ob->bk, i, O_WRONLY);
	if (fd >= 0 && ftruncate(fd, size) < 0)
		ret = -errno;
	bk_creds_leave(&ob->bk);
	if (fd < 0)
		return fd;
	if (!f)
		close(fd);
	if (ret && !ob->no_sign && !ob_changed_nothing(-ret))
		ob_write_failed_locked(s, "write-failed: truncate to %lld: %s",
				       (long long)size, strerror(-ret));
	if (ret || ob->no_sign || same)
		return ret;
	*changed = true;
	if (size == 0) {
		ob_content_reset_locked(ob, s);
	} else {
		ob_note_change_locked(s);
		ob_rdigest_truncated(&s->rd, (uint64_t)size);
	}
	return 0;
}

static int set_times(struct outbox *ob, int ifd, struct ob_file *f,
		     const struct stat *attr, int valid)
{
	struct timespec tv[2] = {{.tv_nsec = UTIME_OMIT},
				 {.tv_nsec = UTIME_OMIT}};
	char p[32];

	if (valid & FUSE_SET_ATTR_ATIME_NOW)
		tv[0].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_ATIME)
		tv[0] = attr->st_atim;
	if (valid & FUSE_SET_ATTR_MTIME_NOW)
		tv[1].tv_nsec = UTIME_NOW;
	else if (valid & FUSE_SET_ATTR_MTIME)
		tv[1] = attr->st_mtim;
	if (f)
		return futimens(f->fd, tv) < 0 ? -errno : 0;
	snprintf(p, sizeof(p), "%d", ifd);
	return utimensat(ob->bk.proc_fd, p, tv, 0) < 0 ? -errno : 0;
}

/*
 * NAME.sig is exactly as readable as NAME and owned alike: after a chmod
 * or chown of the file, its signature follows (caller holds i->lock).
 */
static void sig_follow_locked(struct outbox *ob, struct bk_inode *i)
{
	char rel[PATH_MAX], name[NAME_MAX + 1], base[NAME_MAX + 1];
	struct stat st, sst;
	size_t len;
	int dfd;

	SFS_ASSERT_HELD(&i->lock);
	if (ob->no_sign || bk_stat(&ob->bk, i, &st) ||
	    bk_relpath(&ob->bk, i, rel, &len))
		return;
	dfd = bk_open_parent(&ob->bk, rel, base);
	if (dfd < 0)
		return;
	if (ob_sig_name(base, name) == 0 &&
	    fstatat(dfd, name, &sst, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sst.st_mode)) {
		if (fchmodat(dfd, name, ob_sig_mode(st.st_mode), 0) < 0)
			sfs_err("%s: cannot chmod its .sig: %s", rel,
				strerror(errno));
		if (ob->bk.switch_creds &&
		    (sst.st_uid != st.st_uid || sst.st_gid != st.st_gid) &&
		    fchownat(dfd, name, st.st_uid, st.st_gid,
			     AT_SYMLINK_NOFOLLOW) < 0)
			sfs_err("%s: cannot chown its .sig: %s", rel,
				strerror(errno));
	}
	close(dfd);
}

/*
 * The kernel clears set-user-ID and set-group-ID when a file is written,
 * truncated or chowned (file_remove_privs). libfuse 3.14 never offers
 * FUSE_HANDLE_KILLPRIV to the kernel, so the kernel does it itself: a
 * SETATTR of the mode minus those bits, with the credentials of the task
 * that writes. A writer who does not own the file may not chmod it, so as
 * the caller that is EPERM, and the write(2) failed with the bits still
 * set. Natively the kernel makes this one change without an ownership
 * check (ATTR_FORCE): so does the daemon, for a change that only clears
 * those bits of a regular file. Any other chmod by a non-owner never gets
 * here: with default_permissions the kernel refuses it first.
 */
static bool only_clears_setid(const struct stat *st, mode_t mode)
{
	mode_t cur = st->st_mode & 07777, want = mode & 07777;

	return S_ISREG(st->st_mode) && cur != want && (want & ~cur) == 0 &&
	       ((cur ^ want) & ~(mode_t)(S_ISUID | S_ISGID)) == 0;
}

static int set_mode(fuse_req_t req, struct outbox *ob, struct bk_inode *i,
		    struct ob_file *f, const char *p, mode_t mode)
{
	struct stat st;
	int r;

	r = AS_CALLER(ob, req,
		      f ? fchmod(f->fd, mode)
			: fchmodat(ob->bk.proc_fd, p, mode, 0));
	if (r < 0 && errno == EPERM && bk_stat(&ob->bk, i, &st) == 0 &&
	    only_clears_setid(&st, mode))
		r = f ? fchmod(f->fd, mode)
		      : fchmodat(ob->bk.proc_fd, p, mode, 0);
	return r < 0 ? -errno : 0;
}

static int setattr_meta(fuse_req_t req, struct outbox *ob, struct bk_inode *i,
			struct ob_file *f, const struct stat *attr, int valid)
{
	bool owner = valid & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			      FUSE_SET_ATTR_GID);
	char p[32];
	int r = 0, ifd = bk_pin(&ob->bk, i);

	if (ifd < 0)
		return ifd;
	snprintf(p, sizeof(p), "%d", ifd);
	/* A signature made meanwhile gets the new mode: one lock for both. */
	if (owner && i->type == S_IFREG) {
		pthread_rwlock_rdlock(&ob->ns_lock);
		pthread_mutex_lock(&i->lock);
	}
	if (valid & FUSE_SET_ATTR_MODE)
		r = set_mode(req, ob, i, f, p, attr->st_mode);
	if (r == 0 && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t u = valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t g = valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

		r = AS_CALLER(ob, req,
			      fchownat(ifd, "", u, g,
				       AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
		if (r < 0)
			r = -errno;
	}
	if (owner && i->type == S_IFREG) {
		if (r == 0)
			sig_follow_locked(ob, i);
		pthread_mutex_unlock(&i->lock);
		pthread_rwlock_unlock(&ob->ns_lock);
	}
	/*
	 * Times as the daemon: the kernel checked the caller already
	 * (default_permissions: explicit times need ownership, "now" write
	 * access), and it sends the times of writeback-cached writes with
	 * the credentials of whichever task made it write them back.
	 */
	if (r == 0 && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		/* A directory's times as set, not as a .sig left them. */
		if (i->type == S_IFDIR)
			ob_dir_change_begin(ob, i->dev, i->ino);
		r = set_times(ob, ifd, f, attr, valid);
		if (i->type == S_IFDIR)
			ob_dir_change_end(ob, i->dev, i->ino);
	}
	bk_unpin(&ob->bk, i);
	return r;
}

/*
 * Before truncate(2) changes a file that it will sign: is there anything
 * known now that would refuse the signature (a path that cannot be
 * signed, a writer the rule refuses, bytes nobody vouches for, hard
 * links)? Then it fails with nothing changed, the refusal audited.
 */
static int may_sign_truncated_locked(struct outbox *ob, struct bk_inode *i,
				     struct ob_inode *s, off_t size,
				     const struct sfs_writer *w,
				     const struct ob_writer_id *who)
{
	struct stat st;
	int ret = bk_stat(&ob->bk, i, &st);

	if (ret)
		return ret;
	if (st.st_size == size && !(size == 0 && s->write_failed))
		return 0; /* no change: nothing to sign */
	if (size != 0 && s->prov != OB_PROV_OK)
		ob_provenance_locked(ob, i, s);
	/* Emptied, the file holds nothing a failed write left. */
	return ob_may_sign_locked(ob, i, s, w, who, size == 0);
}

/*
 * truncate(2) with no open file is a whole modification: sign it now, once
 * no writer is in the middle of the file, with the caller among the
 * writers the path's rule must allow. What would refuse the signature is
 * checked before the file changes. A signature that fails after the
 * truncation (the token, the audit log, a full disk) does not fail the
 * truncate: the kernel keeps the size it was last told for a file it
 * caches (writeback cache: it never takes a size from getattr), so an
 * error after BACKING changed would leave the mount showing the old size
 * and stale pages past the new end. The failure is audited (sign-failed),
 * the file has no .sig and its status is failed, as after a release.
 */
static int setattr_size(fuse_req_t req, struct outbox *ob, struct bk_inode *i,
			struct ob_file *f, off_t size)
{
	struct ob_writer_id who = {.ngroups = -1};
	struct sfs_writer w = {0};
	struct ob_inode *s;
	bool changed = false, signs;
	int ret = 0;

	if (!f && !ob->no_sign) {
		ob_writer_id_of(ob, req, &who);
		ob_writer_of(ob, req, &w);
	}
	pthread_rwlock_rdlock(&ob->ns_lock);
	pthread_mutex_lock(&i->lock);
	s = ob_inode_state(ob, i);
	signs = !f && !ob->no_sign && s && s->n_active == 0;
	if (signs)
		ret = may_sign_truncated_locked(ob, i, s, size, &w, &who);
	if (ret == 0)
		ret = truncate_locked(req, ob, i, f, size, &changed);
	if (ret == 0 && changed && signs)
		(void)ob_sign_locked(ob, i, s, &w, &who); /* audited */
	else if (ret == 0 && changed && !f && s)
		ob_note_writer_locked(s, &who);
	pthread_mutex_unlock(&i->lock);
	pthread_rwlock_unlock(&ob->ns_lock);
	ob_writer_id_free(&who);
	return ret;
}

void ob_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		   struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	struct ob_file *f = fi ? ob_file_of(fi) : NULL;
	int ret;

	/*
	 * Times alone change no byte and no signature: the kernel sends them
	 * at close with the writeback cache, whoever the writer was (its
	 * close is then judged where the signature is made).
	 */
	if ((valid & ~(FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME |
		       FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW |
		       FUSE_SET_ATTR_CTIME)) &&
	    !ob_writer_allowed(ob, req, "setattr", i, NULL)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ret = setattr_meta(req, ob, i, f, attr, valid);
	if (ret == 0 && (valid & FUSE_SET_ATTR_SIZE)) {
		if (i->type != S_IFREG)
			ret = -EISDIR;
		else
			ret = setattr_size(req, ob, i, f, attr->st_size);
	}
	if (ret) {
		sfs_debug("inode %ju: setattr %#x by pid %d: %s",
			  (uintmax_t)i->ino, (unsigned)valid,
			  (int)fuse_req_ctx(req)->pid, strerror(-ret));
		fuse_reply_err(req, -ret);
	} else {
		bk_op_getattr(&ob->bk, req, i);
	}
}
