// SPDX-License-Identifier: Apache-2.0
/* The outbox: a read-write view of BACKING that signs files on close. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "outbox.h"
#include "signetfs/log.h"

/* The stash entry for (dev, ino), or NULL; under failed_lock. */
static struct ob_failed *failed_find_locked(struct outbox *ob, dev_t dev,
					    ino_t ino)
{
	for (size_t k = 0; k < ob->n_failed; k++)
		if (ob->failed[k].dev == dev && ob->failed[k].ino == ino)
			return &ob->failed[k];
	return NULL;
}

static void failed_remove_locked(struct outbox *ob, struct ob_failed *e)
{
	*e = ob->failed[--ob->n_failed];
}

/* A forgotten inode's write_failed flag, if it had one (and forget it). */
static void failed_restore(struct outbox *ob, struct ob_inode *s)
{
	struct ob_failed *e;

	pthread_mutex_lock(&ob->failed_lock);
	e = failed_find_locked(ob, s->dev, s->ino);
	if (e) {
		s->write_failed = true;
		memcpy(s->write_failed_why, e->why, sizeof(e->why));
		failed_remove_locked(ob, e);
	}
	pthread_mutex_unlock(&ob->failed_lock);
}

/* The kernel forgets an inode whose content is untrustworthy: keep that. */
static void failed_stash_id(struct outbox *ob, dev_t dev, ino_t ino,
			    const char *why)
{
	struct ob_failed *e;

	pthread_mutex_lock(&ob->failed_lock);
	if (ob->n_failed == ob->cap_failed) {
		size_t cap = ob->cap_failed ? ob->cap_failed * 2 : 16;

		e = realloc(ob->failed, cap * sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&ob->failed_lock);
			sfs_err("out of memory: inode %ju forgets that a write "
				"to it failed", (uintmax_t)ino);
			return;
		}
		ob->failed = e;
		ob->cap_failed = cap;
	}
	e = &ob->failed[ob->n_failed++];
	e->dev = dev;
	e->ino = ino;
	snprintf(e->why, sizeof(e->why), "%s", why);
	pthread_mutex_unlock(&ob->failed_lock);
}

static void failed_stash(struct outbox *ob, const struct ob_inode *s)
{
	failed_stash_id(ob, s->dev, s->ino, s->write_failed_why);
}

bool ob_write_failed_stashed(struct outbox *ob, dev_t dev, ino_t ino)
{
	bool found;

	pthread_mutex_lock(&ob->failed_lock);
	found = failed_find_locked(ob, dev, ino) != NULL;
	pthread_mutex_unlock(&ob->failed_lock);
	return found;
}

void ob_write_failed_forget(struct outbox *ob, dev_t dev, ino_t ino)
{
	struct ob_failed *e;

	pthread_mutex_lock(&ob->failed_lock);
	e = failed_find_locked(ob, dev, ino);
	if (e)
		failed_remove_locked(ob, e);
	pthread_mutex_unlock(&ob->failed_lock);
}

struct ob_inode *ob_inode_state(struct outbox *ob, struct bk_inode *i)
{
	struct ob_inode *s = i->priv;

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s) {
			ob_run_init(&s->run);
			s->ob = ob;
			s->dev = i->dev;
			s->ino = i->ino;
			failed_restore(ob, s);
		}
		i->priv = s;
	}
	return s;
}

/* Forgotten but pinned: a new state for the same file must see the flag. */
void ob_inode_detach(void *p)
{
	struct ob_inode *s = p;

	if (s && s->write_failed && !s->failed_stashed) {
		failed_stash(s->ob, s);
		s->failed_stashed = true;
	}
}

void ob_inode_free(void *p)
{
	struct ob_inode *s = p;

	if (!s)
		return;
	if (s->write_failed && !s->failed_stashed)
		failed_stash(s->ob, s);
	ob_forget_writers_locked(s);
	free(s->past);
	ob_run_free(&s->run);
	free(s);
}

void ob_write_failed_locked(struct ob_inode *s, const char *fmt, ...)
{
	va_list ap;

	if (s->write_failed)
		return; /* the first failure says why */
	s->write_failed = true;
	va_start(ap, fmt);
	vsnprintf(s->write_failed_why, sizeof(s->write_failed_why), fmt, ap);
	va_end(ap);
}

void ob_write_reset_locked(struct ob_inode *s)
{
	s->write_failed = false;
	s->write_failed_why[0] = '\0';
}

/* Names the outbox keeps for itself: signatures and their temp files. */
bool ob_reserved_name(const char *name)
{
	return sfs_is_sig_name(name, strlen(name)) || sfs_is_atomic_temp(name);
}

bool ob_hidden(const char *name)
{
	return sfs_is_atomic_temp(name);
}

/* Writers allowed by policy (per subtree); the groups only when needed. */
static bool policy_allows(struct outbox *ob, fuse_req_t req, const char *rel)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	const struct sfs_config *cfg = ob_conf(ob)->cfg;
	const struct sfs_rule *r;
	gid_t groups[256];
	int n;

	if (policy_match(cfg, rel, &r))
		return false; /* too deep to evaluate: refused */
	if (policy_may_write(cfg, r, c->uid, c->gid, NULL, 0, ob->mounter))
		return true;
	n = fuse_req_getgroups(req, (int)ARRAY_SIZE(groups), groups);
	if (n <= 0)
		return false;
	if (n > (int)ARRAY_SIZE(groups))
		n = (int)ARRAY_SIZE(groups);
	return policy_may_write(cfg, r, c->uid, c->gid, groups, n,
				ob->mounter);
}

bool ob_writer_allowed(struct outbox *ob, fuse_req_t req, const char *op,
		       struct bk_inode *i, const char *name)
{
	struct sfs_writer w;
	char rel[PATH_MAX], why[64];
	size_t len = 0;

	if ((name ? bk_child_relpath(&ob->bk, i, name, rel, &len)
		  : bk_relpath(&ob->bk, i, rel, &len)) != 0) {
		rel[0] = '\0';
		len = 0;
	}
	if (policy_allows(ob, req, rel))
		return true;
	ob_writer_of(ob, req, &w);
	snprintf(why, sizeof(why), "%s: uid %u may not write here", op,
		 (unsigned)w.uid);
	sfs_stats_add(&ob->stats, SFS_C_SIGN_REFUSED, 1);
	ob_audit(ob, "policy-denied", rel, len, -1, NULL, &w, why);
	return false;
}

int ob_pin_parent_for_write(struct outbox *ob, fuse_req_t req,
			    const char *op, struct bk_inode *p,
			    const char *name)
{
	if (!ob_writer_allowed(ob, req, op, p, name))
		return -EACCES;
	return bk_pin(&ob->bk, p);
}

static void ob_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct outbox *ob = userdata;

	/*
	 * Defaults chosen by measurement (docs/outbox.md); -o overrides.
	 * Writeback cache: 3x on warm reads, never slower on writes. Splice:
	 * writes must pass through memory to be hashed, and splice_read
	 * showed no gain on reads here.
	 */
	if (conn->capable & FUSE_CAP_WRITEBACK_CACHE)
		conn->want |= FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
				  FUSE_CAP_SPLICE_READ);
	conn->max_write = 1U << 20;
	sfuse_apply_conn_opts(conn);
	ob->writeback = conn->want & FUSE_CAP_WRITEBACK_CACHE;
	/* Mounted by now: the device its shared mappings show. */
	ob_find_fuse_dev(ob);
}

static void ob_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct outbox *ob = ob_of(req);
	struct fuse_entry_param e;
	int ret;

	if (ob_hidden(name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	ret = bk_lookup(&ob->bk, bk_inode(&ob->bk, parent), name, &e, NULL);
	sfuse_reply_entry(req, ret, &e);
}

static void ob_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t n)
{
	struct outbox *ob = ob_of(req);

	bk_forget(&ob->bk, bk_inode(&ob->bk, ino), n);
	fuse_reply_none(req);
}

static void ob_op_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	bk_op_forget_multi(&ob_of(req)->bk, count, forgets);
	fuse_reply_none(req);
}

static void ob_op_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);

	bk_op_getattr(&ob->bk, req, bk_inode(&ob->bk, ino));
}

/* A content change: generation and status (the digest is fed apart). */
static void note_change_locked(struct ob_inode *s)
{
	s->content_gen++;
	s->status = OB_ST_UNKNOWN;
}

/*
 * A failed ftruncate or fallocate with one of these was refused before it
 * changed anything (and its caller sees the error). Any other failure may
 * have changed part of the file: its content is untrustworthy.
 */
static bool changed_nothing(int err)
{
	return err == EOPNOTSUPP || err == ENOSYS || err == EINVAL ||
	       err == EBADF || err == EPERM || err == EACCES ||
	       err == EROFS || err == EFBIG || err == ETXTBSY;
}

/* The file was emptied: what anybody wrote before is gone. */
static void content_reset_locked(struct outbox *ob, struct ob_inode *s)
{
	ob_write_reset_locked(s);
	ob_forget_writers_locked(s);
	note_change_locked(s);
	ob_run_restart(&s->run, ob->md);
}

/*
 * Truncation to size. One to the size the file has changes no byte: it is
 * passed on (times as natively) but is no change to sign.
 */
static int truncate_locked(struct outbox *ob, struct bk_inode *i,
			   struct ob_file *f, off_t size, bool *changed)
{
	struct ob_inode *s = ob_inode_state(ob, i);
	int fd = f ? f->fd : -1, ret = 0;
	struct stat st;
	bool same;

	*changed = false;
	if (!s)
		return -ENOMEM;
	ret = bk_stat(&ob->bk, i, &st);
	if (ret)
		return ret;
	/* Emptying a file a failed write left untrustworthy resets it. */
	same = st.st_size == size && !(size == 0 && s->write_failed);
	if (!ob->no_sign && !same && !s->sig_cleared) {
		ret = ob_clear_sig_locked(ob, i, s);
		if (ret)
			return -EIO;
	}
	if (fd < 0) {
		fd = bk_reopen(&ob->bk, i, O_WRONLY);
		if (fd < 0)
			return fd;
	}
	if (ftruncate(fd, size) < 0)
		ret = -errno;
	if (!f)
		close(fd);
	if (ret && !ob->no_sign && !changed_nothing(-ret))
		ob_write_failed_locked(s, "write-failed: truncate to %lld: %s",
				       (long long)size, strerror(-ret));
	if (ret || ob->no_sign || same)
		return ret;
	*changed = true;
	if (size == 0) {
		content_reset_locked(ob, s);
	} else {
		note_change_locked(s);
		ob_run_truncated(&s->run, (uint64_t)size);
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
	char rel[PATH_MAX], name[NAME_MAX + 1];
	const char *base;
	struct stat st, sst;
	size_t len;
	int dfd;

	if (ob->no_sign || bk_stat(&ob->bk, i, &st) ||
	    bk_relpath(&ob->bk, i, rel, &len))
		return;
	dfd = bk_open_parent(&ob->bk, rel, &base);
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
		r = AS_CALLER(ob, req,
			      f ? fchmod(f->fd, attr->st_mode)
				: fchmodat(ob->bk.proc_fd, p, attr->st_mode, 0));
	if (r == 0 && (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID))) {
		uid_t u = valid & FUSE_SET_ATTR_UID ? attr->st_uid : (uid_t)-1;
		gid_t g = valid & FUSE_SET_ATTR_GID ? attr->st_gid : (gid_t)-1;

		r = AS_CALLER(ob, req,
			      fchownat(ifd, "", u, g,
				       AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW));
	}
	if (r < 0)
		r = -errno;
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
	if (r == 0 && (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)))
		r = set_times(ob, ifd, f, attr, valid);
	bk_unpin(&ob->bk, i);
	return r;
}

/*
 * truncate(2) with no open file is a whole modification: sign it now, once
 * no writer is in the middle of the file, with the caller among the
 * writers the path's rule must allow.
 */
static int setattr_size(fuse_req_t req, struct outbox *ob, struct bk_inode *i,
			struct ob_file *f, off_t size)
{
	struct ob_writer_id who = {.ngroups = -1};
	struct ob_inode *s;
	struct sfs_writer w;
	bool changed;
	int ret;

	if (!f && !ob->no_sign)
		ob_writer_id_of(ob, req, &who);
	pthread_rwlock_rdlock(&ob->ns_lock);
	pthread_mutex_lock(&i->lock);
	bk_creds_enter(&ob->bk, req, false);
	ret = truncate_locked(ob, i, f, size, &changed);
	bk_creds_leave(&ob->bk);
	s = i->priv;
	if (ret == 0 && changed && !f && s && s->n_active == 0) {
		ob_writer_of(ob, req, &w);
		ret = ob_sign_locked(ob, i, s, &w, &who);
	} else if (ret == 0 && changed && !f && s) {
		ob_note_writer_locked(s, &who);
	}
	pthread_mutex_unlock(&i->lock);
	pthread_rwlock_unlock(&ob->ns_lock);
	ob_writer_id_free(&who);
	return ret;
}

static void ob_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int valid, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	struct ob_file *f = fi ? ob_file_of(fi) : NULL;
	int ret;

	if (i->flags & BK_F_SIG_NAME) {
		fuse_reply_err(req, EPERM);
		return;
	}
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

/* Flags for the backing fd: we do append and truncation ourselves. */
static int backing_flags(struct outbox *ob, int flags)
{
	flags &= ~(O_CREAT | O_EXCL | O_NOCTTY | O_APPEND | O_TRUNC);
	/* The writeback cache reads partial pages through any handle. */
	if (ob->writeback && (flags & O_ACCMODE) == O_WRONLY)
		flags = (flags & ~O_ACCMODE) | O_RDWR;
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

	f->who = (struct ob_writer_id){.uid = c->uid, .gid = c->gid,
				       .pid = c->pid, .ngroups = -1};
	/* Before the reply: nothing forked from the opener holds it yet. */
	f->pid_mark = ob_last_pid();
	if (ob_task_ids(c->pid, &f->tgid, groups ? g : NULL, &n) == 0 &&
	    groups) {
		f->who.groups = malloc((size_t)(n ? n : 1) * sizeof(*g));
		if (f->who.groups) {
			memcpy(f->who.groups, g, (size_t)n * sizeof(*g));
			f->who.ngroups = n;
		}
	}
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

static void free_file(struct ob_file *f)
{
	if (f) {
		free(f->exe);
		ob_writer_id_free(&f->who);
	}
	free(f);
}

static void add_handle_locked(struct ob_inode *s, struct ob_file *f)
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
static void finish_locked(struct ob_inode *s, struct ob_file *f)
{
	if (f->active && s->n_active)
		s->n_active--;
	f->active = false;
}

static void del_handle_locked(struct ob_inode *s, struct ob_file *f)
{
	finish_locked(s, f);
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

	if (!s)
		return -ENOMEM;
	if (!ob->no_sign && (trunc || created) && !s->sig_cleared) {
		ret = ob_clear_sig_locked(ob, i, s);
		if (ret)
			return -EIO;
	}
	if (trunc && ftruncate(f->fd, 0) < 0) {
		ret = -errno;
		if (!ob->no_sign && !changed_nothing(-ret))
			ob_write_failed_locked(s, "write-failed: O_TRUNC: %s",
					       strerror(-ret));
		return ret;
	}
	if (!ob->no_sign && (trunc || created)) {
		/* Empty now: whatever failed or was written before is gone. */
		content_reset_locked(ob, s);
	} else if (!ob->no_sign && s->n_writers == 0 &&
		   !ob_run_ok(&s->run) && fstat(f->fd, &st) == 0 &&
		   st.st_size == 0) {
		ob_run_restart(&s->run, ob->md);
	}
	f->must_sign = trunc || created;
	f->open_gen = s->content_gen;
	add_handle_locked(s, f);
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
				del_handle_locked(s, f);
			pthread_mutex_unlock(&i->lock);
		}
		close(f->fd);
		free_file(f);
	}
}

static void ob_op_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	bool wr = (fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC);
	struct ob_file *f;
	int fd, ret = 0;

	if (wr && (i->flags & BK_F_SIG_NAME)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (wr && !ob_writer_allowed(ob, req, "open for write", i, NULL)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	fd = AS_CALLER(ob, req, bk_reopen(&ob->bk, i,
					  backing_flags(ob, fi->flags)));
	if (fd < 0) {
		fuse_reply_err(req, -fd);
		return;
	}
	f = new_file(ob, req, fd, fi->flags);
	if (!f) {
		close(fd);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (f->writable) {
		pthread_mutex_lock(&i->lock);
		ret = open_for_write_locked(ob, i, f, fi->flags & O_TRUNC,
					    false);
		pthread_mutex_unlock(&i->lock);
	}
	if (ret) {
		close(fd);
		free_file(f);
		fuse_reply_err(req, -ret);
		return;
	}
	reply_open(req, ob, i, fi, f, NULL);
}

static void ob_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *p = bk_inode(&ob->bk, parent), *i;
	int flags = backing_flags(ob, fi->flags);
	struct fuse_entry_param e;
	bool created = true;
	struct ob_file *f;
	int fd, pfd, ret;

	if (ob_reserved_name(name) || !S_ISREG(mode)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	pfd = ob_pin_parent_for_write(ob, req, "create", p, name);
	if (pfd < 0) {
		fuse_reply_err(req, -pfd);
		return;
	}
	fd = AS_CALLER(ob, req,
		       openat(pfd, name, flags | O_CREAT | O_EXCL, mode));
	if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		created = false;
		fd = AS_CALLER(ob, req, openat(pfd, name, flags));
	}
	if (fd < 0) {
		fuse_reply_err(req, errno);
		bk_unpin(&ob->bk, p);
		return;
	}
	ret = bk_lookup_fd(&ob->bk, p, name, fd, &e, &i);
	bk_unpin(&ob->bk, p);
	f = ret ? NULL : new_file(ob, req, fd, fi->flags | O_WRONLY);
	if (f) {
		pthread_mutex_lock(&i->lock);
		ret = open_for_write_locked(ob, i, f, fi->flags & O_TRUNC,
					    created);
		pthread_mutex_unlock(&i->lock);
	} else if (!ret) {
		ret = -ENOMEM;
	}
	if (ret) {
		close(fd);
		free_file(f);
		fuse_reply_err(req, -ret);
		return;
	}
	reply_open(req, ob, i, fi, f, &e);
}

static void ob_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = ob_file_of(fi)->fd;
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
		ssize_t n = pwrite(fd, buf + done, size - done,
				   off + (off_t)done);

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

/*
 * A write without credentials is the kernel writing dirty pages back:
 * through a shared mapping after close too, and then from the exit of the
 * process that mapped the file, which is blocked in it meanwhile. For each
 * handle whose opener closed it while still mapping it, note how that
 * opener is exiting, if it is: the release decides with it.
 */
static void watch_mappers_locked(struct outbox *ob, struct ob_inode *s)
{
	struct ob_exit ex;

	for (struct ob_file *h = s->handles; h; h = h->inode_next) {
		if (!h->active || !h->opener_closed || h->exit_seen)
			continue;
		ob_exit_state(h->tgid, &ex);
		if (ex.known && ex.exiting && ex.start == h->start) {
			h->exit = ex;
			h->exit_seen = true;
		}
	}
}

static void ob_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
			size_t size, off_t off, struct fuse_file_info *fi)
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
	if (!s || (!s->sig_cleared && ob_clear_sig_locked(ob, i, s))) {
		/*
		 * These bytes will not reach BACKING: with the writeback
		 * cache nobody may hear of it, so the inode must not be
		 * signed as it is (no state: the table does it).
		 */
		if (s)
			ob_write_failed_locked(s, "write-failed: write of %zu "
					       "bytes at %lld refused: cannot "
					       "remove the old .sig", size,
					       (long long)off);
		else
			failed_stash_id(ob, i->dev, i->ino,
					"write-failed: out of memory");
		pthread_mutex_unlock(&i->lock);
		fuse_reply_err(req, s ? EIO : ENOMEM);
		return;
	}
	if (fuse_req_ctx(req)->pid <= 0)
		watch_mappers_locked(ob, s);
	epoch = ob_run_epoch(&s->run);
	n = write_all(f->fd, buf, size, off, &err);
	if (n > 0 || err)
		note_change_locked(s);
	/*
	 * Bytes a writer sent did not reach BACKING. With the writeback
	 * cache this is the kernel writing dirty pages back: the error goes
	 * to close(2) or fsync(2) or nowhere, and no FLUSH may follow, so
	 * only the inode can remember that its content is not what was
	 * written.
	 */
	if (err)
		ob_write_failed_locked(s, "write-failed: write of %zu bytes at "
				       "%lld: %s (%zd written)", size,
				       (long long)off, strerror(err),
				       n > 0 ? n : 0);
	pthread_mutex_unlock(&i->lock);
	if (n > 0)
		ob_run_feed(&s->run, epoch, buf, (size_t)n, (uint64_t)off);
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

/* Is the task pid in f's opener's process (thread group)? */
static bool is_opener(const struct ob_file *f, pid_t pid)
{
	pid_t tgid;
	int n = 0;

	if (pid <= 0 || f->tgid <= 0)
		return false;
	if (pid == f->pid || pid == f->tgid)
		return true;
	return ob_task_ids(pid, &tgid, NULL, &n) == 0 && tgid == f->tgid;
}

/* A close that ends no writing: the handle may still be written. */
static int close_result(const struct ob_inode *s, const struct ob_file *f)
{
	return s->write_failed || f->refused ? -EIO : 0;
}

/*
 * A close by a task whose process was killed (or exited non-zero, when
 * that does not sign): what this handle may have written is partial, so
 * nothing signs the file until it is emptied. A handle that changed
 * nothing since its open, while no signature was made, leaves it be.
 */
static void refuse_killed_locked(struct outbox *ob, fuse_req_t req,
				 struct bk_inode *i, struct ob_inode *s,
				 struct ob_file *f, const struct ob_exit *ex)
{
	struct sfs_writer w;
	char why[96];

	f->refused = true;
	if (!f->must_sign && s->content_gen == f->open_gen &&
	    s->content_gen == s->decided_gen && s->sign_seq < f->open_seq)
		return;
	if (!ex->known)
		snprintf(why, sizeof(why), "writer not visible to the daemon "
			 "(another pid namespace)");
	else if (ex->signal)
		snprintf(why, sizeof(why), "writer killed by signal %d",
			 ex->signal);
	else
		snprintf(why, sizeof(why), "writer exited with status %d",
			 ex->status);
	ob_writer_of_file(ob, req, f, &w);
	ob_refuse_locked(ob, i, s, &w, why);
}

/*
 * A close(2) of a descriptor of f (docs/outbox.md, "When a file is
 * signed"). It signs only when it ends the writing of its open file: it
 * comes from the process that opened it, which keeps no other descriptor
 * or shared mapping of the file, no process started since holds one, and
 * no other open of the file is still being written. Otherwise the close
 * that does end it, or the release, signs.
 */
static int flush_locked(struct outbox *ob, fuse_req_t req, struct bk_inode *i,
			struct ob_inode *s, struct ob_file *f,
			const struct ob_exit *ex, bool opener,
			const struct ob_writer_id *closer)
{
	struct sfs_writer w;
	int ret = 0;

	if (!ex->known || ex->signal ||
	    (ex->exiting && ex->status &&
	     !ob_conf(ob)->cfg->sign_nonzero_exit)) {
		refuse_killed_locked(ob, req, i, s, f, ex);
		return -EIO;
	}
	if (closer)
		ob_note_writer_locked(s, closer);
	f->flush_gen = s->content_gen;
	if (!f->refused)
		s->close_gen = s->content_gen;
	if (!opener) {
		sfs_debug("inode %ju: close by pid %d, not the opener %d",
			  (uintmax_t)i->ino, (int)fuse_req_ctx(req)->pid,
			  (int)f->tgid);
		return close_result(s, f);
	}
	f->opener_closed = true;
	if (f->active && ob_still_held(ob, f, ex, i->ino))
		return close_result(s, f);
	finish_locked(s, f);
	if (s->n_active || f->refused)
		return close_result(s, f);
	if (f->must_sign || s->content_gen != s->decided_gen) {
		ob_writer_of_file(ob, req, f, &w);
		ret = ob_sign_locked(ob, i, s, &w, NULL);
		/* Refused for a failed write: decided, until a reset. */
		if (ret == 0 || s->write_failed)
			f->must_sign = false;
	}
	/* Every writer's close learns that the content is not signed. */
	if (s->write_failed && ret == 0)
		ret = -EIO;
	return ret;
}

static void ob_op_flush(fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	struct ob_file *f = ob_file_of(fi);
	const struct fuse_ctx *c = fuse_req_ctx(req);
	struct ob_writer_id closer = {.ngroups = -1};
	struct ob_inode *s;
	struct ob_exit ex;
	bool opener;
	int ret;

	if (!f->writable || ob->no_sign) {
		fuse_reply_err(req, 0);
		return;
	}
	/* The closing task is blocked in this flush: its pid is stable. */
	ob_exit_state(c->pid, &ex);
	opener = is_opener(f, c->pid);
	if (!opener)
		ob_writer_id_of(ob, req, &closer);
	pthread_rwlock_rdlock(&ob->ns_lock);
	pthread_mutex_lock(&i->lock);
	s = ob_inode_state(ob, i);
	ret = s ? flush_locked(ob, req, i, s, f, &ex, opener,
			       opener ? NULL : &closer)
		: -ENOMEM;
	pthread_mutex_unlock(&i->lock);
	pthread_rwlock_unlock(&ob->ns_lock);
	ob_writer_id_free(&closer);
	if (ret)
		sfs_debug("inode %ju: close by pid %d: %s", (uintmax_t)i->ino,
			  (int)c->pid, strerror(-ret));
	fuse_reply_err(req, -ret);
}

/*
 * Bytes that came after every close (a shared mapping written after the
 * descriptor was closed) are signed at the release only when the process
 * that holds the mapping is known to have finished normally: it is still
 * running (it unmapped the file), or it was seen exiting with a status
 * that signs. Killed, or gone before anybody saw how: not signed.
 */
static bool release_ok_locked(struct outbox *ob, struct ob_inode *s,
			      struct ob_file *f, char *why, size_t len)
{
	const struct ob_exit *ex = &f->exit;
	struct ob_exit now;

	if (s->content_gen == s->close_gen)
		return true; /* every change was followed by a close */
	if (!f->exit_seen) {
		ob_exit_state(f->tgid, &now);
		if (!now.known || now.start != f->start) {
			snprintf(why, len, "written after close (shared "
				 "mapping) by process %d, which ended before "
				 "its exit status was seen", (int)f->tgid);
			return false;
		}
		ex = &now;
	}
	if (!ex->exiting)
		return true;
	if (ex->signal) {
		snprintf(why, len, "writer killed by signal %d (written after "
			 "close through a shared mapping)", ex->signal);
		return false;
	}
	if (ex->status && !ob_conf(ob)->cfg->sign_nonzero_exit) {
		snprintf(why, len, "writer exited with status %d (written "
			 "after close through a shared mapping)", ex->status);
		return false;
	}
	return true;
}

/*
 * The kernel dropped the last reference to the open file: nobody can
 * write through it any more. When it was the last writing open of a file
 * whose content is not decided yet, sign it now (an error here can reach
 * only the audit log).
 */
static void release_writer(struct outbox *ob, struct bk_inode *i,
			   struct ob_file *f)
{
	char why[OB_WHY_MAX];
	struct ob_inode *s;
	struct sfs_writer w;

	pthread_rwlock_rdlock(&ob->ns_lock);
	pthread_mutex_lock(&i->lock);
	s = ob_inode_state(ob, i);
	if (s) {
		del_handle_locked(s, f);
		if (!ob->no_sign)
			ob_note_writer_locked(s, &f->who);
	}
	if (s && !ob->no_sign && !f->refused && s->n_active == 0 &&
	    s->content_gen != s->decided_gen &&
	    s->content_gen != s->tried_gen) {
		ob_writer_ids(ob, f->pid, f->uid, f->gid, &w);
		if (!w.exe[0] && f->exe)
			snprintf(w.exe, sizeof(w.exe), "%s", f->exe);
		if (release_ok_locked(ob, s, f, why, sizeof(why)))
			ob_sign_locked(ob, i, s, &w, NULL);
		else
			ob_refuse_locked(ob, i, s, &w, why);
	}
	pthread_mutex_unlock(&i->lock);
	pthread_rwlock_unlock(&ob->ns_lock);
}

static void ob_op_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct ob_file *f = ob_file_of(fi);

	if (f->writable)
		release_writer(ob, bk_inode(&ob->bk, ino), f);
	sfuse_handle_del(&ob->files, &f->link);
	close(f->fd);
	free_file(f);
	fuse_reply_err(req, 0);
}

/* fsync of a file also makes its .sig durable, now and at the next sign. */
static void ob_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
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

static void ob_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode,
			    off_t off, off_t len, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *i = bk_inode(&ob->bk, ino);
	struct ob_inode *s;
	int ret = 0, err = 0;

	pthread_mutex_lock(&i->lock);
	s = ob_inode_state(ob, i);
	if (!s)
		ret = -ENOMEM;
	else if (!ob->no_sign && !s->sig_cleared &&
		 ob_clear_sig_locked(ob, i, s))
		ret = -EIO;
	if (ret == 0 && fallocate(ob_file_of(fi)->fd, mode, off, len) < 0)
		err = errno;
	/* Done, or failed after allocating or zeroing part of the range. */
	if (ret == 0 && !ob->no_sign && (!err || !changed_nothing(err))) {
		note_change_locked(s);
		ob_run_invalidate(&s->run);
		if (err)
			ob_write_failed_locked(s, "write-failed: fallocate "
					       "(mode %#x) of %lld bytes at "
					       "%lld: %s", (unsigned)mode,
					       (long long)len, (long long)off,
					       strerror(err));
	}
	if (err)
		ret = -err;
	pthread_mutex_unlock(&i->lock);
	fuse_reply_err(req, -ret);
}

static void ob_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
			struct fuse_file_info *fi)
{
	off_t r = lseek(ob_file_of(fi)->fd, off, whence);

	if (r < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, r);
}

static void ob_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	bk_op_statfs(&ob_of(req)->bk, req);
}

/*
 * Operations that decide by policy or sign run with one configuration
 * from start to end, whatever a reload does meanwhile (outbox_conf.c).
 * ob is read before the reply, which frees req.
 */
#define OB_SCOPED(fn, params, args)                                       \
	static void scoped_##fn params                                    \
	{                                                                 \
		struct outbox *ob = ob_of(req);                           \
									  \
		ob_op_enter(ob);                                          \
		fn args;                                                  \
		ob_op_leave(ob);                                          \
	}

OB_SCOPED(ob_op_setattr, (fuse_req_t req, fuse_ino_t ino, struct stat *attr,
			  int valid, struct fuse_file_info *fi),
	  (req, ino, attr, valid, fi))
OB_SCOPED(ob_op_mkdir, (fuse_req_t req, fuse_ino_t parent, const char *name,
			mode_t mode), (req, parent, name, mode))
OB_SCOPED(ob_op_unlink, (fuse_req_t req, fuse_ino_t parent, const char *name),
	  (req, parent, name))
OB_SCOPED(ob_op_rmdir, (fuse_req_t req, fuse_ino_t parent, const char *name),
	  (req, parent, name))
OB_SCOPED(ob_op_rename, (fuse_req_t req, fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname,
			 unsigned int flags),
	  (req, parent, name, newparent, newname, flags))
OB_SCOPED(ob_op_open, (fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi), (req, ino, fi))
OB_SCOPED(ob_op_create, (fuse_req_t req, fuse_ino_t parent, const char *name,
			 mode_t mode, struct fuse_file_info *fi),
	  (req, parent, name, mode, fi))
OB_SCOPED(ob_op_flush, (fuse_req_t req, fuse_ino_t ino,
			struct fuse_file_info *fi), (req, ino, fi))
OB_SCOPED(ob_op_release, (fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi), (req, ino, fi))
OB_SCOPED(ob_op_setxattr, (fuse_req_t req, fuse_ino_t ino, const char *name,
			   const char *value, size_t size, int flags),
	  (req, ino, name, value, size, flags))
OB_SCOPED(ob_op_getxattr, (fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size), (req, ino, name, size))
OB_SCOPED(ob_op_removexattr, (fuse_req_t req, fuse_ino_t ino,
			      const char *name), (req, ino, name))

static const struct fuse_lowlevel_ops ob_ops = {
	.init = ob_op_init,
	.lookup = ob_op_lookup,
	.forget = ob_op_forget,
	.forget_multi = ob_op_forget_multi,
	.getattr = ob_op_getattr,
	.setattr = scoped_ob_op_setattr,
	.readlink = ob_op_readlink,
	.mknod = ob_op_mknod,
	.mkdir = scoped_ob_op_mkdir,
	.unlink = scoped_ob_op_unlink,
	.rmdir = scoped_ob_op_rmdir,
	.symlink = ob_op_symlink,
	.rename = scoped_ob_op_rename,
	.link = ob_op_link,
	.open = scoped_ob_op_open,
	.read = ob_op_read,
	.write = ob_op_write,
	.flush = scoped_ob_op_flush,
	.release = scoped_ob_op_release,
	.fsync = ob_op_fsync,
	.opendir = ob_op_opendir,
	.readdir = ob_op_readdir,
	.readdirplus = ob_op_readdirplus,
	.releasedir = ob_op_releasedir,
	.fsyncdir = ob_op_fsyncdir,
	.statfs = ob_op_statfs,
	.setxattr = scoped_ob_op_setxattr,
	.getxattr = scoped_ob_op_getxattr,
	.listxattr = ob_op_listxattr,
	.removexattr = scoped_ob_op_removexattr,
	.create = scoped_ob_op_create,
	.fallocate = ob_op_fallocate,
	.lseek = ob_op_lseek,
};

static void ob_teardown(void *userdata)
{
	struct outbox *ob = userdata;
	struct sfuse_handle *h;
	struct ob_file *f;

	/* Handles whose RELEASE the unmount dropped (mount.h). */
	while ((h = sfuse_handle_pop(&ob->files))) {
		f = SFUSE_HANDLE_OF(h, struct ob_file, link);
		close(f->fd);
		free_file(f);
	}
	while ((h = sfuse_handle_pop(&ob->dirs)))
		bk_closedir(SFUSE_HANDLE_OF(h, struct bk_dir, link));

	if (ob->audit) {
		ob_audit(ob, "unmount", NULL, 0, -1, NULL, NULL, ob->mount_id);
		audit_close(ob->audit);
		ob->audit = NULL;
	}
	ob_conf_release(ob, ob->conf);
	ob->conf = NULL;
	ob_conf_release(ob, ob->conf0); /* after the audit log's checkpoint */
	ob->conf0 = NULL;
	bk_destroy(&ob->bk);
	/* After bk_destroy: freeing the inodes stashes some. */
	free(ob->failed);
	ob->failed = NULL;
	ob->n_failed = ob->cap_failed = 0;
}

static int ob_setup(void *userdata, struct sfs_error *err)
{
	struct outbox *ob = userdata;
	const struct sfs_config *cfg = ob->cfg;
	struct sfs_keyring *ring;
	int ret;

	if (!ob->no_sign && cfg->strict_modes) {
		ret = ob_check_backing_modes(ob->args->backing, err);
		if (ret)
			goto fail;
	}
	ret = bk_init(&ob->bk, ob->args->backing);
	if (ret) {
		sfs_error_set(err, ret, SFS_EXIT_USAGE, "%s: %s",
			      ob->args->backing, strerror(-ret));
		goto fail;
	}
	/* Strict: a directory of another filesystem below BACKING is not ours. */
	ob->bk.one_dev = !ob->no_sign && cfg->strict_modes;
	ob->bk.priv_free = ob_inode_free;
	ob->bk.priv_detach = ob_inode_detach;
	ob->md = cfg->key.md;
	/* Borrowed: the caller frees the mount-time config after us. */
	ret = ob_conf_new(ob, (struct sfs_config *)cfg, false, &ob->conf, err);
	if (ret)
		goto fail;
	ob->conf0 = ob->conf;
	ob->conf0->refs++;
	ring = ob->conf->ring;
	if (ring && keyring_default(ring))
		ob->md = signer_md(keyring_default(ring));
	if (cfg->audit_log) {
		ret = audit_open_config(cfg, ring ? keyring_default(ring) : NULL,
					&ob->audit);
		if (ret) {
			sfs_error_set(err, ret, SFS_EXIT_USAGE, "audit log %s: %s",
				      cfg->audit_log, strerror(-ret));
			goto fail;
		}
		ob_audit(ob, "mount", NULL, 0, -1, NULL, NULL, ob->mount_id);
	}
	return 0;
fail:
	ob_teardown(ob);
	return ret ? ret : -EIO;
}

static void make_mount_id(struct outbox *ob)
{
	uint64_t rnd = 0;

	if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		rnd = (uint64_t)ob->started.tv_nsec ^ (uint64_t)getpid() << 32;
	sfs_hex((const uint8_t *)&rnd, sizeof(rnd), ob->mount_id);
}

int outbox_main(const struct sfs_config *cfg, const struct sfs_mount_args *a)
{
	struct sfs_mount_args args = *a;
	struct outbox *ob = calloc(1, sizeof(*ob));
	struct sfuse_spec spec = {
		.ops = &ob_ops,
		.ops_size = sizeof(ob_ops),
		.userdata = ob,
		.subtype = "signetfs-outbox",
		.setup = ob_setup,
		.teardown = ob_teardown,
		.reload = ob_reload,
	};
	char *opts = NULL;
	int ret;

	if (!ob)
		return SFS_EXIT_USAGE;
	/* The kernel checks modes: needed with allow_other, cheap without. */
	if (asprintf(&opts, "default_permissions%s%s",
		     a->fuse_opts && *a->fuse_opts ? "," : "",
		     a->fuse_opts ? a->fuse_opts : "") < 0) {
		free(ob);
		return SFS_EXIT_USAGE;
	}
	args.fuse_opts = opts;
	ob->cfg = cfg;
	/* The daemon changes to / when it detaches. */
	ob->cfg_path = realpath(cfg->path, NULL);
	ob->mnt_abs = realpath(a->mountpoint, NULL);
	if (!ob->cfg_path || !ob->mnt_abs) {
		free(ob->cfg_path);
		free(ob->mnt_abs);
		free(opts);
		free(ob);
		return SFS_EXIT_USAGE;
	}
	ob->args = &args;
	ob->no_sign = a->no_sign;
	ob->mounter = getuid();
	clock_gettime(CLOCK_REALTIME, &ob->started);
	make_mount_id(ob);
	pthread_rwlock_init(&ob->ns_lock, NULL);
	pthread_mutex_init(&ob->names.lock, NULL);
	pthread_mutex_init(&ob->conf_lock, NULL);
	pthread_mutex_init(&ob->failed_lock, NULL);
	pthread_mutex_init(&ob->files.lock, NULL);
	pthread_mutex_init(&ob->dirs.lock, NULL);
	ob_names_reset(ob);
	ret = sfuse_run(&spec, &args);
	pthread_mutex_destroy(&ob->dirs.lock);
	pthread_mutex_destroy(&ob->files.lock);
	pthread_mutex_destroy(&ob->failed_lock);
	pthread_mutex_destroy(&ob->conf_lock);
	pthread_mutex_destroy(&ob->names.lock);
	free(ob->cfg_path);
	free(ob->mnt_abs);
	pthread_rwlock_destroy(&ob->ns_lock);
	free(opts);
	free(ob);
	return ret;
}
