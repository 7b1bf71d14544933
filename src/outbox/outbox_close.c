// SPDX-License-Identifier: Apache-2.0
/* Closes and releases: when a file is signed (docs/outbox.md, "When a file is
 * signed"). */
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
#include "ob_file.h"
#include "ob_inode.h"
#include "ob_ops.h"
#include "ob_sign.h"
#include "outbox.h"
#include "signetfs/log.h"

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

/*
 * The opener's process was killed (or exited non-zero, when that does not
 * sign), as far as /proc still shows it (same start time: not a reused
 * pid). A process that shares its descriptor table with the opener
 * (clone CLONE_FILES) closes nothing when the opener dies, so the next
 * close, or the release, is where that is seen.
 */
/* An exit that signs nothing: by a signal, or non-zero unless that signs. */
static bool exit_refuses(struct outbox *ob, const struct ob_exit *ex)
{
	return ex->exiting &&
	       (ex->signal ||
		(ex->status && !ob_conf(ob)->cfg->sign_nonzero_exit));
}

/* How such an exit went, for a refusal's reason. */
static void exit_words(const struct ob_exit *ex, char *out, size_t len)
{
	if (ex->signal)
		snprintf(out, len, "killed by signal %d", ex->signal);
	else
		snprintf(out, len, "exited with status %d", ex->status);
}

static bool opener_killed(struct outbox *ob, const struct ob_file *f,
			  struct ob_exit *ex)
{
	if (f->tgid <= 0)
		return false;
	ob_exit_state(f->tgid, ex);
	return ex->known && ex->start == f->start && exit_refuses(ob, ex);
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
		snprintf(why, sizeof(why),
			 "writer not visible to the daemon "
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
	struct ob_exit oex;
	int ret = 0;

	SFS_ASSERT_HELD(&i->lock);
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
	if (!opener && opener_killed(ob, f, &oex)) {
		refuse_killed_locked(ob, req, i, s, f, &oex);
		return -EIO;
	}
	if (!opener) {
		sfs_debug("inode %ju: close by pid %d, not the opener %d",
			  (uintmax_t)i->ino, (int)fuse_req_ctx(req)->pid,
			  (int)f->tgid);
		return close_result(s, f);
	}
	f->opener_closed = true;
	if (f->active) {
		enum ob_hold h =
		    ob_still_held(ob, f, fuse_req_ctx(req)->pid, ex, i->ino,
				  ob_may_map_shared(s), &f->holders);

		/* A descriptor's holder closes it later, even when killed. */
		if (h == OB_HOLD_SILENT)
			f->held_at_close = true;
		if (h != OB_HOLD_NONE)
			return close_result(s, f);
	}
	ob_finish_locked(s, f);
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

void ob_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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
 * How process pid (started at start) ended, or is now: what a write-back
 * watch saw it exiting with (seen), else its state read now. False when
 * it is gone, or its pid is another process's, and nobody saw how it
 * ended.
 */
static bool exit_known(pid_t pid, unsigned long long start, bool seen,
		       const struct ob_exit *saw, struct ob_exit *out)
{
	if (seen) {
		*out = *saw;
		return true;
	}
	ob_exit_state(pid, out);
	return out->known && out->start == start;
}

/*
 * The other processes the opener's close found holding the file silently
 * (a shared mapping they inherited, a ring): each must be known to have
 * finished normally, as the opener (release_ok_locked): still running (it
 * let go of the file), or seen exiting with a status that signs. Killed,
 * or gone before anybody saw how, or more of them than were kept: no.
 */
static bool holders_ok_locked(struct outbox *ob, struct ob_file *f, char *why,
			      size_t len)
{
	const struct ob_holders *hs = &f->holders;

	if (hs->overflow) {
		snprintf(why, len,
			 "held at close by more than %zu other processes "
			 "(shared mappings or io_uring rings)",
			 ARRAY_SIZE(hs->v));
		return false;
	}
	for (unsigned k = 0; k < hs->n; k++) {
		const struct ob_holder *h = &hs->v[k];
		struct ob_exit now;

		if (!exit_known(h->pid, h->start, h->seen, &h->exit, &now)) {
			snprintf(why, len,
				 "held at close by process %d (a shared "
				 "mapping or an io_uring ring), which ended "
				 "before its exit status was seen",
				 (int)h->pid);
			return false;
		}
		if (exit_refuses(ob, &now)) {
			char how[48];

			exit_words(&now, how, sizeof(how));
			snprintf(why, len,
				 "process %d, which held it after its "
				 "opener's close, %s",
				 (int)h->pid, how);
			return false;
		}
	}
	return true;
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
	struct ob_exit now;
	char how[48];

	if (opener_killed(ob, f, &now)) {
		exit_words(&now, how, sizeof(how));
		snprintf(why, len, "writer %s", how);
		return false;
	}
	if (!holders_ok_locked(ob, f, why, len))
		return false;
	/*
	 * Every change was followed by a close that ended the writing. A
	 * close that found the file still held did not: an io_uring ring
	 * that holds it is dropped by a kill without any close, so how its
	 * process ended must be known, as for a mapping written after close.
	 */
	if (s->content_gen == s->close_gen && !f->held_at_close)
		return true;
	if (!exit_known(f->tgid, f->start, f->exit_seen, &f->exit, &now)) {
		snprintf(why, len,
			 "%s by process %d, which ended before its exit "
			 "status was seen",
			 s->content_gen == s->close_gen
			     ? "still held at close (a shared mapping or an "
			       "io_uring ring)"
			     : "written after close (shared mapping)",
			 (int)f->tgid);
		return false;
	}
	if (!exit_refuses(ob, &now))
		return true;
	exit_words(&now, how, sizeof(how));
	snprintf(why, len,
		 "writer %s (after a close that did not end the writing: a "
		 "shared mapping or an io_uring ring)",
		 how);
	return false;
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
		ob_del_handle_locked(s, f);
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

void ob_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct outbox *ob = ob_of(req);
	struct ob_file *f = ob_file_of(fi);

	if (f->writable)
		release_writer(ob, bk_inode(&ob->bk, ino), f);
	sfuse_handle_del(&ob->files, &f->link);
	close(f->fd);
	ob_file_free(f);
	fuse_reply_err(req, 0);
}
