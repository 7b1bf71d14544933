// SPDX-License-Identifier: Apache-2.0
/* Open files: open, create, read, write, fsync, fallocate, lseek. */
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
 * Flags for the backing fd: we do append and truncation ourselves. The
 * access mode is the caller's own, opened with the caller's credentials:
 * the owner of a write-only (0200) file may open it O_WRONLY, and nobody
 * gets more than they asked for. (passthrough_hp turns O_WRONLY into
 * O_RDWR for the writeback cache, which then refuses that owner: EACCES.)
 */
static int backing_flags(int flags)
{
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_APPEND | O_TRUNC);
	return flags | O_CLOEXEC | O_NOFOLLOW;
}

/* The handle's opener: identity for policy, process, a mark for forks. */
static void who_opened(struct outbox *ob, fuse_req_t req, struct ob_file *f)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	bool groups = policy_uses_groups(ob_conf(ob)->cfg);
	gid_t g[256];
	int n = (int)ARRAY_SIZE(g);
	struct ob_exit ex;

	f->who = (struct ob_writer_id){
	    .uid = c->uid, .gid = c->gid, .pid = c->pid, .ngroups = -1};
	/* Before the reply: nothing forked from the opener holds it yet. */
	f->pid_mark = ob_last_pid();
	/*
	 * A thread group's leader is its group (tgid = pid), and its stat has
	 * the group's start time: status is read for another thread's Tgid,
	 * or for the groups when policy wants them.
	 */
	ob_exit_state(c->pid, &ex);
	if (ex.known && !ex.thread && !groups)
		f->tgid = c->pid;
	else if (ob_task_ids(c->pid, &f->tgid, groups ? g : NULL, &n) == 0 &&
		 groups) {
		f->who.groups = malloc((size_t)(n ? n : 1) * sizeof(*g));
		if (f->who.groups) {
			memcpy(f->who.groups, g, (size_t)n * sizeof(*g));
			f->who.ngroups = n;
		}
	}
	if (f->tgid != c->pid)
		ob_exit_state(f->tgid, &ex);
	f->start = ex.start;
	if (f->exe)
		f->who.exe = strdup(f->exe);
}

static struct ob_file *new_file(struct outbox *ob, fuse_req_t req, int fd,
				int flags)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct ob_file *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->fd = fd;
	f->rfd = -1;
	f->writable = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	f->open_seq = atomic_fetch_add(&ob->seq, 1) + 1;
	f->uid = c->uid;
	f->gid = c->gid;
	f->pid = c->pid;
	if (f->writable && c->pid > 0) {
		char link[64], exe[512];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/%d/exe", (int)c->pid);
		n = readlink(link, exe, sizeof(exe) - 1);
		if (n > 0) {
			exe[n] = '\0';
			f->exe = strdup(exe); /* NULL: the record has no exe */
		}
	}
	if (f->writable && !ob->no_sign)
		who_opened(ob, req, f);
	return f;
}

void ob_file_free(struct ob_file *f)
{
	if (f) {
		if (f->rfd >= 0)
			close(f->rfd);
		free(f->exe);
		ob_writer_id_free(&f->who);
	}
	free(f);
}

void ob_add_handle_locked(struct ob_inode *s, struct ob_file *f)
{
	f->inode_prev = NULL;
	f->inode_next = s->handles;
	if (s->handles)
		s->handles->inode_prev = f;
	s->handles = f;
	s->n_writers++;
	f->active = true;
	s->n_active++;
}

/* f's writing is over (a final close, or the release). */
void ob_finish_locked(struct ob_inode *s, struct ob_file *f)
{
	if (f->active && s->n_active)
		s->n_active--;
	f->active = false;
}

void ob_del_handle_locked(struct ob_inode *s, struct ob_file *f)
{
	ob_finish_locked(s, f);
	if (f->inode_prev)
		f->inode_prev->inode_next = f->inode_next;
	else if (s->handles == f)
		s->handles = f->inode_next;
	if (f->inode_next)
		f->inode_next->inode_prev = f->inode_prev;
	f->inode_next = f->inode_prev = NULL;
	if (s->n_writers)
		s->n_writers--;
}

/*
 * A writable open: NAME.sig goes before a truncation lands; the running
 * digest starts when the file is empty.
 */
static int open_for_write_locked(struct outbox *ob, struct bk_inode *i,
				 struct ob_file *f, bool trunc, bool created)
{
	struct ob_inode *s = ob_inode_state(ob, i);
	struct stat st;
	int ret;

	SFS_ASSERT_HELD(&i->lock);
	if (!s)
		return -ENOMEM;
	if (!ob->no_sign && (trunc || created) && !s->sig_cleared) {
		ret = ob_clear_sig_locked(ob, i, s);
		if (ret)
			return -EIO;
	}
	if (trunc && ftruncate(f->fd, 0) < 0) {
		ret = -errno;
		if (!ob->no_sign && !ob_changed_nothing(-ret))
			ob_write_failed_locked(s, "write-failed: O_TRUNC: %s",
					       strerror(-ret));
		return ret;
	}
	if (!ob->no_sign && (trunc || created)) {
		/* Empty now: whatever failed or was written before is gone. */
		ob_content_reset_locked(ob, s);
	} else if (!ob->no_sign && s->n_writers == 0 &&
		   !ob_rdigest_ok(&s->rd) && fstat(f->fd, &st) == 0 &&
		   st.st_size == 0) {
		ob_rdigest_restart(&s->rd, ob_conf(ob)->md);
	}
	f->must_sign = trunc || created;
	f->open_gen = s->content_gen;
	ob_add_handle_locked(s, f);
	return 0;
}

static void reply_open(fuse_req_t req, struct outbox *ob, struct bk_inode *i,
		       struct fuse_file_info *fi, struct ob_file *f,
		       const struct fuse_entry_param *e)
{
	struct ob_inode *s;

	fi->fh = (uint64_t)(uintptr_t)f;
	fi->keep_cache = ob->writeback;
	/* close(2) of a read-only file needs no round trip (kernel >= 5.16). */
	fi->noflush = !f->writable;
	sfuse_handle_add(&ob->files, &f->link);
	if (e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi)) {
		/*
		 * The opener was interrupted: the kernel never saw the file,
		 * no FLUSH or RELEASE will come. Its writer count goes
		 * (else release-time signing, truncate signing and renames
		 * would wait for it for the rest of the mount); nothing is
		 * signed for an open that did not happen.
		 */
		sfuse_handle_del(&ob->files, &f->link);
		if (f->writable) {
			pthread_mutex_lock(&i->lock);
			s = i->priv;
			if (s)
				ob_del_handle_locked(s, f);
			pthread_mutex_unlock(&i->lock);
		}
		close(f->fd);
		ob_file_free(f);
	}
}

void ob_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	struct ob_file *f;
	int fd, ret = 0;

	if (wr && !ob_writer_allowed(ob, req, "open for write", i, NULL)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fd =
	    AS_CALLER(ob, req, bk_reopen(&ob->bk, i, backing_flags(fi->flags)));
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	f = new_file(ob, req, fd, fi->flags);
	if (f)
		f->write_only = (fi->flags & O_ACCMODE) == O_WRONLY;
	if (!f) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (f->writable) {
		pthread_mutex_lock(&i->lock);
		ret =
		    open_for_write_locked(ob, i, f, fi->flags & O_TRUNC, false);
		pthread_mutex_unlock(&i->lock);
	}
	if (ret) {
		close(fd);
		ob_file_free(f);
		fuse_reply_err(req, -ret);
		return;
	}
	reply_open(req, ob, i, fi, f, NULL);
}

/*
 * A create that fails after it made the file leaves nothing behind: the
 * name goes again (if it is still the file fd is open on) and so does the
 * lookup the kernel will never hear of. The kernel holds the parent
 * locked for the create, so nobody looked the new name up meanwhile.
 */
static void undo_create(struct outbox *ob, struct bk_inode *p, const char *name,
			int fd, struct bk_inode *i)
{
	struct stat st, nst;
	int pfd = bk_pin(&ob->bk, p);

	if (pfd >= 0) {
		if (fstat(fd, &st) == 0 &&
		    fstatat(pfd, name, &nst, AT_SYMLINK_NOFOLLOW) == 0 &&
		    st.st_dev == nst.st_dev && st.st_ino == nst.st_ino &&
		    unlinkat(pfd, name, 0) < 0)
			sfs_err(
			    "%s: cannot remove it after a failed create: %s",
			    name, strerror(errno));
		bk_unpin(&ob->bk, p);
	}
	if (i)
		bk_forget(&ob->bk, i, 1);
}

void ob_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *p = bk_inode(&ob->bk, parent), *i = NULL;
	int flags = backing_flags(fi->flags);
	char bname[NAME_MAX + 1];
	struct fuse_entry_param e;
	bool created = true;
	struct ob_file *f;
	int fd, pfd, ret;

	if (!S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	ret = ob_bk_name(ob, name, bname, true);
	if (ret) {
		fuse_reply_err(req, -ret);
		return;
	}
	pfd = ob_pin_parent_for_write(ob, req, "create", p, name);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	ob_dir_change_begin(ob, p->dev, p->ino);
	fd = AS_CALLER(ob, req,
		       openat(pfd, bname, flags | O_CREAT | O_EXCL, mode));
	if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		created = false;
		fd = AS_CALLER(ob, req, openat(pfd, bname, flags));
	}
	ret = errno;
	ob_dir_change_end(ob, p->dev, p->ino);
	errno = ret;
	if (fd < 0) {
		fuse_reply_err(req, errno);
		bk_unpin(&ob->bk, p);
		return;
	}
	ret = bk_lookup_fd(&ob->bk, p, bname, fd, &e, &i);
	bk_unpin(&ob->bk, p);
	f = ret ? NULL : new_file(ob, req, fd, fi->flags | O_WRONLY);
	if (f) {
		f->write_only = (fi->flags & O_ACCMODE) == O_WRONLY;
		pthread_mutex_lock(&i->lock);
		ret = open_for_write_locked(ob, i, f, fi->flags & O_TRUNC,
					    created);
		pthread_mutex_unlock(&i->lock);
	} else if (!ret) {
		ret = -ENOMEM;
	}
	if (ret) {
		if (created)
			undo_create(ob, p, bname, fd, i);
		else if (i)
			bk_forget(&ob->bk, i, 1);
		close(fd);
		ob_file_free(f);
		fuse_reply_err(req, -ret);
		return;
	}
	reply_open(req, ob, i, fi, f, &e);
}

/*
 * A READ on a handle opened write-only. read(2) on such a descriptor never
 * reaches a filesystem (the VFS wants FMODE_READ first), and mmap needs a
 * readable one: this is the kernel filling a page of the writeback cache
 * before a write to part of it. Those bytes go into the page cache only,
 * which serves nobody but openers who may read the file anyway. So they
 * are read through a second fd opened with the daemon's credentials, on
 * the first such read (most written files never need one: a write past
 * the end of the file reads nothing).
 */
static int read_fd(struct outbox *ob, struct bk_inode *i, struct ob_file *f)
{
	int fd, expected = -1;

	if (!f->write_only)
		return f->fd;
	fd = __atomic_load_n(&f->rfd, __ATOMIC_ACQUIRE);
	if (fd >= 0)
		return fd;
	fd = bk_reopen(&ob->bk, i, O_RDONLY);
	if (fd < 0)
		return fd;
	if (!__atomic_compare_exchange_n(&f->rfd, &expected, fd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd); /* another read opened one first */
		fd = expected;
	}
	return fd;
}

void ob_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	int fd = read_fd(ob, bk_inode(&ob->bk, ino), ob_file_of(fi));

	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/*
 * pwrite until all of buf is written or an error: a short pwrite is
 * retried, so *err says why bytes are missing. Returns the bytes written
 * (those before the error); *err is 0 when all of them were.
 */
static ssize_t write_all(int fd, const char *buf, size_t size, off_t off,
			 int *err)
{
	size_t done = 0;

	*err = 0;
	while (done < size) {
		ssize_t n =
		    pwrite(fd, buf + done, size - done, off + (off_t)done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*err = n < 0 ? errno : EIO;
			break;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

/* Process pid (started at start) exiting now: keep how, once. */
static void note_exiting(pid_t pid, unsigned long long start, bool *seen,
			 struct ob_exit *out)
{
	struct ob_exit ex;

	if (*seen)
		return;
	ob_exit_state(pid, &ex);
	if (ex.known && ex.exiting && ex.start == start) {
		*out = ex;
		*seen = true;
	}
}

/*
 * A write without credentials is the kernel writing dirty pages back:
 * through a shared mapping after close too, and then from the exit of the
 * process that mapped the file, which is blocked in it meanwhile. For each
 * handle whose opener closed it while still mapping it, note how that
 * opener, and each other holder its close found, is exiting, if it is:
 * the release decides with it.
 */
static void watch_mappers_locked(struct ob_inode *s)
{
	for (struct ob_file *h = s->handles; h; h = h->inode_next) {
		if (!h->active || !h->opener_closed)
			continue;
		note_exiting(h->tgid, h->start, &h->exit_seen, &h->exit);
		/* and the other processes its opener's close found */
		for (unsigned k = 0; k < h->holders.n; k++) {
			struct ob_holder *o = &h->holders.v[k];

			note_exiting(o->pid, o->start, &o->seen, &o->exit);
		}
	}
}

void ob_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
		 off_t off, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	struct ob_file *f = ob_file_of(fi);
	struct ob_inode *s;
	uint64_t epoch;
	ssize_t n;
	int err;

	if (ob->no_sign) {
		n = write_all(f->fd, buf, size, off, &err);
		goto reply;
	}
	/*
	 * Under the inode lock: the .sig goes before the first byte, and a
	 * truncation cannot come between the pwrite and its epoch. The
	 * digest is fed outside it: hashing one write overlaps the next
	 * write's pwrite.
	 */
	pthread_mutex_lock(&i->lock);
	s = ob_inode_state(ob, i);
	/* Are the bytes already there vouched for? Before any changes. */
	if (s && s->prov != OB_PROV_OK)
		ob_provenance_locked(ob, i, s);
	if (!s || (!s->sig_cleared && ob_clear_sig_locked(ob, i, s))) {
		/*
		 * These bytes will not reach BACKING: with the writeback
		 * cache nobody may hear of it, so the inode must not be
		 * signed as it is (no state: the table does it).
		 */
		if (s)
			ob_write_failed_locked(s,
					       "write-failed: write of %zu "
					       "bytes at %lld refused: cannot "
					       "remove the old .sig",
					       size, (long long)off);
		else
			ob_write_failed_stash(ob, i->dev, i->ino,
					      "write-failed: out of memory");
		pthread_mutex_unlock(&i->lock);
		fuse_reply_err(req, s ? EIO : ENOMEM);
		return;
	}
	if (fuse_req_ctx(req)->pid <= 0)
		watch_mappers_locked(s);
	epoch = ob_rdigest_epoch(&s->rd);
	n = write_all(f->fd, buf, size, off, &err);
	if (n > 0 || err)
		ob_note_change_locked(s);
	/*
	 * Bytes a writer sent did not reach BACKING. With the writeback
	 * cache this is the kernel writing dirty pages back: the error goes
	 * to close(2) or fsync(2) or nowhere, and no FLUSH may follow, so
	 * only the inode can remember that its content is not what was
	 * written.
	 */
	if (err)
		ob_write_failed_locked(s,
				       "write-failed: write of %zu bytes at "
				       "%lld: %s (%zd written)",
				       size, (long long)off, strerror(err),
				       n > 0 ? n : 0);
	pthread_mutex_unlock(&i->lock);
	if (n > 0)
		ob_rdigest_feed(&s->rd, epoch, buf, (size_t)n, (uint64_t)off);
reply:
	/* Not a short count: the kernel may take that as written. */
	if (err)
		sfs_debug("inode %ju: write of %zu at %lld: %s",
			  (uintmax_t)i->ino, size, (long long)off,
			  strerror(err));
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_write(req, (size_t)n);
}

/* fsync of a file also makes its .sig durable, now and at the next sign. */
void ob_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	struct ob_file *f = ob_file_of(fi);
	char rel[PATH_MAX];
	size_t len;
	int ret;

	ret = (datasync ? fdatasync(f->fd) : fsync(f->fd)) < 0 ? -errno : 0;
	if (ret == 0 && !ob->no_sign) {
		pthread_mutex_lock(&i->lock);
		if (ob_inode_state(ob, i))
			((struct ob_inode *)i->priv)->sync_next = true;
		if (bk_relpath(&ob->bk, i, rel, &len) == 0)
			ret = ob_sync_sig(ob, rel);
		pthread_mutex_unlock(&i->lock);
	}
	fuse_reply_err(req, -ret);
}

void ob_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		     off_t len, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	struct ob_inode *s;
	int ret = 0, err = 0;

	pthread_mutex_lock(&i->lock);
	s = ob_inode_state(ob, i);
	if (!s) {
		ret = -ENOMEM;
	} else if (!ob->no_sign) {
		/* Are the bytes already there vouched for? Before changes. */
		if (s->prov != OB_PROV_OK)
			ob_provenance_locked(ob, i, s);
		if (!s->sig_cleared && ob_clear_sig_locked(ob, i, s))
			ret = -EIO;
	}
	if (ret == 0 && fallocate(ob_file_of(fi)->fd, mode, off, len) < 0)
		err = errno;
	/* Done, or failed after allocating or zeroing part of the range. */
	if (ret == 0 && !ob->no_sign && (!err || !ob_changed_nothing(err))) {
		ob_note_change_locked(s);
		ob_rdigest_invalidate(&s->rd);
		if (err)
			ob_write_failed_locked(s,
					       "write-failed: fallocate "
					       "(mode %#x) of %lld bytes at "
					       "%lld: %s",
					       (unsigned)mode, (long long)len,
					       (long long)off, strerror(err));
	}
	if (err)
		ret = -err;
	pthread_mutex_unlock(&i->lock);
	fuse_reply_err(req, -ret);
}

void ob_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		 struct fuse_file_info *fi)
{
	off_t r = lseek(ob_file_of(fi)->fd, off, whence);

	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}
