// SPDX-License-Identifier: Apache-2.0
/* Outbox rename: signatures follow their files to the new paths. */
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
#include "ob_stamp.h"
#include "outbox.h"
#include "signetfs/layout.h"
#include "signetfs/log.h"

/*
 * A directory rename re-signs every validly signed file below it; beyond
 * this many the rename is refused with EXDEV and mv(1) copies instead.
 */
#define OB_RENAME_MAX_FILES 100000
#define OB_RENAME_MAX_DEPTH 256

/*
 * After the rename, NEW.sig becomes der (NULL: is removed). der is
 * written to the temp file tmp before the rename, in the directory that
 * holds NEW after it: next to new_rel's name then (tmp_at_new, the
 * renamed file itself) or old_rel's (a file in a renamed directory).
 */
struct rs_job {
	char *old_rel;
	char *new_rel;
	uint8_t *der;
	size_t der_len;
	char *tmp;
	bool tmp_at_new;
	bool recorded;	  /* its sign record was written, or tried */
	uint64_t rec_seq; /* that record's seq (0: none was written) */
	uint64_t gen;	  /* its content_gen when planned */
	struct stat st;
	struct sfs_digest digest;
	struct sfs_writer writer;
	bool busy; /* open for writing: its writer's close signs */
};

/*
 * The two names of a rename as the writer gave them (policy, signed
 * paths) and as BACKING stores them (the syscalls; signetfs/layout.h).
 */
struct rs_names {
	struct bk_inode *p, *np;
	const char *name, *newname;
	char bname[NAME_MAX + 1], bnew[NAME_MAX + 1];
	unsigned int flags;
};

struct rs_plan {
	struct rs_job *jobs;
	size_t n, cap;
	fuse_req_t req;
	struct ob_writer_id caller;	 /* must be allowed at every new path */
	char why[160];			 /* first failure */
	char denied[PATH_MAX];		 /* -EACCES: the new path refused */
	struct sfs_writer denied_writer; /* and whose bytes */
	off_t rec_end;			 /* the log's end after our records */
};

/*
 * J's sign record, written and its fdatasync started (record_signs waits
 * for it): before the rename, so that no signature exists without one,
 * and a log that cannot be written fails the rename while nothing has
 * changed yet.
 */
static int record_sign(struct outbox *ob, struct rs_plan *p, struct rs_job *j)
{
	off_t end;

	j->recorded = true;
	if (ob_audit_sign_begin(ob, j->new_rel, strlen(j->new_rel),
				j->st.st_size, &j->digest, &j->writer, "rename",
				&end, &j->rec_seq)) {
		snprintf(p->why, sizeof(p->why),
			 "cannot write the audit record");
		return -EIO;
	}
	if (end > p->rec_end)
		p->rec_end = end;
	return 0;
}

static void plan_free(struct rs_plan *p)
{
	for (size_t k = 0; k < p->n; k++) {
		free(p->jobs[k].old_rel);
		free(p->jobs[k].new_rel);
		free(p->jobs[k].der);
		free(p->jobs[k].tmp);
	}
	free(p->jobs);
}

static struct rs_job *plan_add(struct rs_plan *p, const char *old_rel,
			       const char *new_rel)
{
	struct rs_job *j;

	if (p->n >= OB_RENAME_MAX_FILES)
		return NULL;
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct rs_job *g = realloc(p->jobs, cap * sizeof(*g));

		if (!g)
			return NULL;
		p->jobs = g;
		p->cap = cap;
	}
	j = &p->jobs[p->n];
	memset(j, 0, sizeof(*j));
	j->old_rel = strdup(old_rel);
	j->new_rel = strdup(new_rel);
	if (!j->old_rel || !j->new_rel) {
		free(j->old_rel);
		free(j->new_rel);
		return NULL;
	}
	p->n++;
	return j;
}

/*
 * What the rename finds of one file at rel: busy, someone still writes it
 * (their close signs it under the new path); failed, a write to it failed
 * (nothing signs it: ob_inode.write_failed); recalled, it carries this
 * mount's signature for rel as c says, unchanged since (content gen).
 */
struct rs_state {
	const char *rel;
	enum sfs_md md; /* of the new path's key */
	bool busy, failed, recalled;
	uint64_t gen;
	struct ob_sigcheck c;
};

static void writer_state(struct outbox *ob, const struct stat *st,
			 struct rs_state *w)
{
	struct bk_inode *i = bk_find(&ob->bk, st->st_dev, st->st_ino);
	struct ob_inode *s = NULL;

	w->busy = w->failed = w->recalled = false;
	if (i) {
		pthread_mutex_lock(&i->lock);
		s = i->priv;
		if (s) {
			/* Still being written: its writer's close signs. */
			w->busy = s->n_active;
			w->failed = s->write_failed;
			w->gen = s->content_gen;
			/* Signed by us since it last changed: no need to read
			 */
			w->recalled = ob_recall_sig_locked(ob, s, w->rel, st,
							   w->md, &w->c);
		}
		pthread_mutex_unlock(&i->lock);
		bk_unpin(&ob->bk, i);
	}
	/* No state: the kernel forgot it, maybe with a failed write. */
	if (!s)
		w->failed = ob_write_failed_stashed(ob, st->st_dev, st->st_ino);
}

/*
 * The new signature into a temp file in sig_dfd, the directory that holds
 * the file after the rename: a full BACKING fails the rename before it
 * happens. Owned like its file, as ob_install_sig does.
 */
static int prepare_sig(struct outbox *ob, struct rs_plan *p, struct rs_job *j,
		       int sig_dfd, bool tmp_at_new)
{
	const char *b = strrchr(j->new_rel, '/');
	char name[NAME_MAX + 1], base[NAME_MAX + 1], tmp[PATH_MAX];
	size_t len;
	int ret;

	b = b ? b + 1 : j->new_rel;
	ret = sfs_name_to_backing(b, strlen(b), base, &len);
	if (ret == 0)
		ret = ob_sig_name(base, name);
	if (ret == 0) {
		struct ob_dirtime *t = ob_dir_own_begin(ob, sig_dfd);

		ret = sfs_atomic_prepare_at(sig_dfd, name, j->der, j->der_len,
					    ob_sig_mode(j->st.st_mode),
					    ob_conf(ob)->cfg->sync_sig, tmp);
		ob_dir_own_end(ob, sig_dfd, t);
	}
	if (ret == 0) {
		j->tmp = strdup(tmp);
		if (!j->tmp) {
			sfs_atomic_abort_at(sig_dfd, tmp);
			ret = -ENOMEM;
		}
	}
	if (ret) {
		snprintf(p->why, sizeof(p->why),
			 "rename: cannot write .sig: %s", strerror(-ret));
		return -EIO;
	}
	j->tmp_at_new = tmp_at_new;
	ob_own_like(ob, sig_dfd, j->tmp, &j->st);
	return 0;
}

/*
 * May NEW_REL receive this file? The caller, who puts it there, must be
 * allowed at the new path by its rule, as for a create; so must the
 * writer its signature names (a rename moves bytes, it writes none: the
 * new signature still names who wrote them). -EACCES says who is not.
 */
static int may_move_to(struct outbox *ob, struct rs_plan *p,
		       const char *new_rel, const struct sfs_writer *sig_writer)
{
	const struct sfs_config *cfg = ob_conf(ob)->cfg;
	const struct sfs_rule *r;

	/* The record names the caller; the reason names whose bytes. */
	ob_writer_of(ob, p->req, &p->denied_writer);
	if (policy_match(cfg, new_rel, &r) != 0 ||
	    !policy_may_write(cfg, r, p->caller.uid, p->caller.gid,
			      p->caller.ngroups > 0 ? p->caller.groups : NULL,
			      p->caller.ngroups > 0 ? p->caller.ngroups : 0,
			      ob->mounter))
		snprintf(p->why, sizeof(p->why),
			 "rename: uid %u may not write here",
			 (unsigned)p->caller.uid);
	else if (sig_writer && !ob_sig_writer_allowed(ob, new_rel, sig_writer))
		snprintf(p->why, sizeof(p->why),
			 "rename: uid %u, who wrote these bytes, may not "
			 "write here",
			 (unsigned)sig_writer->uid);
	else
		return 0;
	snprintf(p->denied, sizeof(p->denied), "%s", new_rel);
	return -EACCES;
}

/*
 * A recalled signature stands for the slot this mount installed: if the
 * slot is gone (removed in BACKING behind the daemon), the file is not
 * signed again from memory but judged by what BACKING holds.
 */
static bool slot_present(int dfd, const char *base)
{
	char name[NAME_MAX + 1];
	struct stat st;

	return ob_sig_name(base, name) == 0 &&
	       fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(st.st_mode);
}

/*
 * One regular file: when its .sig is valid for OLD and ours, sign NEW now
 * and write that signature to a temp file (before the rename, so a token
 * failure or a full BACKING leaves everything as it was). The original
 * writer stays the writer: a rename moves bytes, it writes none. sig_dfd
 * is the directory the file is in after the rename.
 */
static int plan_file(struct outbox *ob, struct rs_plan *p, int dfd,
		     const char *base, const char *old_rel, const char *new_rel,
		     bool always_job, int sig_dfd, bool tmp_at_new)
{
	struct sfs_signer *sg = ob_signer_for(ob, new_rel);
	struct rs_state w = {.rel = old_rel,
			     .md = sg ? signer_md(sg) : ob_conf(ob)->md};
	struct ob_sigcheck *cp = &w.c, c;
	struct rs_job *j;
	struct stat st;
	int fd, ret;

	fd = sfs_open_regular_at(dfd, base, O_RDONLY, &st);
	if (fd < 0)
		return fd == -ENOENT || fd == -EINVAL || fd == -ELOOP ? 0 : fd;
	writer_state(ob, &st, &w);
	/* No signature for it, whatever .sig a writer to BACKING left. */
	if (w.busy || w.failed)
		ret = -ENOENT;
	else if (w.recalled && slot_present(dfd, base))
		ret = 0; /* rsync's temp file, signed at its close */
	else
		ret = ob_valid_sig(ob, dfd, base, old_rel, strlen(old_rel), fd,
				   w.md, cp);
	close(fd);
	c = *cp;
	if (ret && ret != -ENOENT && ret != -EBADMSG)
		return ret;
	if (ret == 0 && !ob_sig_is_ours(ob, old_rel, &c))
		ret = -EBADMSG; /* not ours to carry: it moves unsigned */
	/* The caller always; the signature's writer when it is carried. */
	if (may_move_to(ob, p, new_rel, ret == 0 ? &c.writer : NULL))
		return -EACCES;
	if (ret && !always_job && !w.busy)
		return 0;
	j = plan_add(p, old_rel, new_rel);
	if (!j)
		return p->n >= OB_RENAME_MAX_FILES ? -EXDEV : -ENOMEM;
	j->st = st;
	j->busy = w.busy;
	j->gen = w.gen;
	if (ret)
		return 0; /* not validly signed: its stale .sig goes */
	j->digest = c.digest;
	j->writer = c.writer;
	/*
	 * A file renamed by itself (rsync's temp file): its record before
	 * the token signs, the record's fdatasync overlapping the signature,
	 * as at a close. A tree's records follow its whole plan, so that a
	 * plan that fails (EXDEV, a refused path) leaves no pairs behind.
	 */
	if (always_job) {
		ret = record_sign(ob, p, j);
		if (ret)
			return ret;
	}
	ret =
	    ob_sign_digest(ob, new_rel, strlen(new_rel), &c.digest, &j->writer,
			   &j->der, &j->der_len, p->why, sizeof(p->why));
	return ret ? ret : prepare_sig(ob, p, j, sig_dfd, tmp_at_new);
}

static int plan_tree(struct outbox *ob, struct rs_plan *p, int dfd,
		     const char *old_rel, const char *new_rel, int depth)
{
	char *o = malloc(PATH_MAX), *n = malloc(PATH_MAX);
	struct dirent *de;
	DIR *dp = NULL;
	int fd, ret = 0;

	if (depth > OB_RENAME_MAX_DEPTH) {
		ret = -EXDEV;
		goto out;
	}
	fd = dup(dfd);
	dp = fd < 0 ? NULL : fdopendir(fd);
	if (!o || !n || !dp) {
		ret = o && n ? -errno : -ENOMEM;
		if (fd >= 0 && !dp)
			close(fd);
		goto out;
	}
	while (ret == 0 && (de = readdir(dp))) {
		const char *e = de->d_name;
		char w[NAME_MAX + 1];

		/* Signatures (slots) are not files; w: the writer's name. */
		if (!strcmp(e, ".") || !strcmp(e, "..") || ob_view_name(e, w))
			continue;
		ret = sfs_path_join(o, PATH_MAX, old_rel, strlen(old_rel), w, 0,
				    NULL)
			  ?: sfs_path_join(n, PATH_MAX, new_rel,
					   strlen(new_rel), w, 0, NULL);
		if (ret)
			break;
		if (de->d_type == DT_DIR) {
			int sub = openat(dfd, e,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					     O_CLOEXEC);

			if (sub < 0)
				continue;
			ret = plan_tree(ob, p, sub, o, n, depth + 1);
			close(sub);
		} else if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN) {
			ret = plan_file(ob, p, dfd, e, o, n, false, dfd, false);
		}
	}
out:
	if (dp)
		closedir(dp);
	free(o);
	free(n);
	return ret;
}

/* Plan for what sits at NAME in PARENT, moving from OLD to NEW in NP. */
static int plan_entry(struct outbox *ob, struct rs_plan *p,
		      struct bk_inode *parent, struct bk_inode *np,
		      const char *name, const char *old_rel,
		      const char *new_rel)
{
	int dfd, ret;
	struct stat st;

	dfd = bk_reopen(&ob->bk, parent, O_RDONLY | O_DIRECTORY);
	if (dfd < 0)
		return dfd;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		ret = errno == ENOENT ? 0 : -errno;
		close(dfd);
		return ret;
	}
	if (S_ISREG(st.st_mode)) {
		int nfd = bk_reopen(&ob->bk, np, O_RDONLY | O_DIRECTORY);

		ret = nfd < 0 ? nfd
			      : plan_file(ob, p, dfd, name, old_rel, new_rel,
					  true, nfd, true);
		if (nfd >= 0)
			close(nfd);
	} else if (S_ISDIR(st.st_mode)) {
		int sub = openat(
		    dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

		ret = sub < 0 ? -errno
			      : plan_tree(ob, p, sub, old_rel, new_rel, 0);
		if (sub >= 0)
			close(sub);
	} else {
		ret = 0;
	}
	close(dfd);
	return ret;
}

/* The rename did not happen: remove the temp files of the new .sigs. */
static void drop_temps(struct outbox *ob, struct rs_plan *p)
{
	for (size_t k = 0; k < p->n; k++) {
		struct rs_job *j = &p->jobs[k];
		char base[NAME_MAX + 1];
		int dfd;

		if (!j->tmp)
			continue;
		dfd = bk_open_parent(
		    &ob->bk, j->tmp_at_new ? j->new_rel : j->old_rel, base);
		if (dfd >= 0) {
			struct ob_dirtime *t = ob_dir_own_begin(ob, dfd);

			sfs_atomic_abort_at(dfd, j->tmp);
			ob_dir_own_end(ob, dfd, t);
			close(dfd);
		}
		free(j->tmp);
		j->tmp = NULL;
	}
}

/* The sign records of the new signatures, durable, before the rename. */
static int record_signs(struct outbox *ob, struct rs_plan *p)
{
	for (size_t k = 0; k < p->n; k++) {
		struct rs_job *j = &p->jobs[k];

		if (j->der && !j->recorded && record_sign(ob, p, j))
			return -EIO;
	}
	return audit_sync_to(ob->audit, p->rec_end) ? -EIO : 0;
}

/*
 * The rename failed after its sign records: each is followed by a
 * sign-failed record for the same path, the signature was never installed
 * (docs/outbox.md). Best effort: the log may be what failed.
 */
static bool unrecord(struct outbox *ob, struct rs_plan *p, const char *why)
{
	bool any = false;

	for (size_t k = 0; k < p->n; k++) {
		struct rs_job *j = &p->jobs[k];

		if (!j->recorded)
			continue;
		sfs_stats_add(&ob->stats, SFS_C_SIGN_FAILED, 1);
		ob_audit_answer(ob, j->new_rel, strlen(j->new_rel), &j->writer,
				why, j->rec_seq);
		any = true;
	}
	return any;
}

/* NEW.sig from its temp file, in the directory NEW is in now. */
static int commit_sig(struct outbox *ob, struct rs_job *j)
{
	char name[NAME_MAX + 1], base[NAME_MAX + 1];
	int dfd, ret;

	dfd = bk_open_parent(&ob->bk, j->new_rel, base);
	if (dfd < 0)
		return dfd;
	ret = ob_sig_name(base, name);
	if (ret == 0) {
		struct ob_dirtime *t = ob_dir_own_begin(ob, dfd);

		ret = sfs_atomic_commit_at(dfd, j->tmp, name,
					   ob_conf(ob)->cfg->sync_sig);
		ob_dir_own_end(ob, dfd, t);
	}
	close(dfd);
	free(j->tmp);
	j->tmp = NULL;
	return ret;
}

/*
 * After the rename: the signatures the plan made (and recorded) land next
 * to their files' new names, stale ones go. Only a failing rename(2) of a
 * temp file in its own directory, or unlink(2), can fail here.
 */
static int install(struct outbox *ob, struct rs_plan *p)
{
	int ret = 0;

	for (size_t k = 0; k < p->n; k++) {
		struct rs_job *j = &p->jobs[k];
		const char *n = j->new_rel;
		size_t nl = strlen(n);
		int r;

		if (!j->der) {
			r = ob_unlink_sig(ob, n);
		} else {
			r = commit_sig(ob, j);
			if (r == 0)
				sfs_stats_add(&ob->stats, SFS_C_SIGNED, 1);
			if (r == 0)
				ob_stamp_enqueue(ob, n, j->der, j->der_len);
		}
		if (r) {
			char why[160];

			snprintf(why, sizeof(why),
				 "rename: cannot write .sig: %s", strerror(-r));
			sfs_err("%s: %s", n, why);
			ob_unlink_sig(ob, n);
			sfs_stats_add(&ob->stats, SFS_C_SIGN_FAILED, 1);
			ob_audit_answer(ob, n, nl, &j->writer, why, j->rec_seq);
			ret = -EIO;
		}
		struct bk_inode *i =
		    bk_find(&ob->bk, j->st.st_dev, j->st.st_ino);

		if (i) {
			pthread_mutex_lock(&i->lock);
			if (i->priv) {
				struct ob_inode *s = i->priv;

				s->status = OB_ST_UNKNOWN;
				s->sig_cleared = !j->der || r;
				/* Ours now, for its new path, as at a close. */
				if (j->der && !r && !j->busy &&
				    s->content_gen == j->gen)
					ob_sig_made_locked(
					    ob, i, s, &j->digest,
					    signer_cert_sha256(
						ob_signer_for(ob, j->new_rel)),
					    &j->writer);
				/*
				 * Its .sig (moved along or removed) bound the
				 * old path: the writer's close must sign even
				 * if it writes nothing more.
				 */
				if (j->busy)
					s->content_gen++;
			}
			pthread_mutex_unlock(&i->lock);
			bk_unpin(&ob->bk, i);
		}
	}
	return ret;
}

/*
 * Names and policy before anything is planned: the caller takes a file
 * away from NAME and puts one at NEWNAME (both ways for RENAME_EXCHANGE),
 * so the rules of both paths must allow it, as for a create there.
 */
static int rename_allowed(struct outbox *ob, fuse_req_t req,
			  struct rs_names *nm)
{
	int ret;

	if (nm->flags & RENAME_WHITEOUT)
		return -EINVAL;
	/* The new name must fit what can be signed, unless it exists. */
	ret = ob_bk_name(ob, nm->name, nm->bname, false);
	if (ret == 0)
		ret = ob_bk_name(ob, nm->newname, nm->bnew,
				 !(nm->flags & RENAME_EXCHANGE));
	if (ret)
		return ret;
	if (!ob_writer_allowed(ob, req, "rename", nm->p, nm->name) ||
	    !ob_writer_allowed(ob, req, "rename", nm->np, nm->newname))
		return -EACCES;
	return 0;
}

static int do_rename(struct outbox *ob, fuse_req_t req,
		     const struct rs_names *nm)
{
	struct bk_inode *p = nm->p, *np = nm->np;
	const char *name = nm->bname, *newname = nm->bnew;
	unsigned int flags = nm->flags;
	int r, pfd, npfd;

	pfd = bk_pin(&ob->bk, p);
	if (pfd < 0)
		return pfd;
	npfd = bk_pin(&ob->bk, np);
	if (npfd < 0) {
		bk_unpin(&ob->bk, p);
		return npfd;
	}
	bk_creds_enter(&ob->bk, req, false);
	r = renameat2(pfd, name, npfd, newname, flags);
	if (r < 0 && (errno == EACCES || errno == EPERM) &&
	    ob->bk.switch_creds) {
		bk_creds_enter(&ob->bk, req, true);
		r = renameat2(pfd, name, npfd, newname, flags);
	}
	r = r < 0 ? -errno : 0;
	bk_creds_leave(&ob->bk);
	bk_unpin(&ob->bk, np);
	bk_unpin(&ob->bk, p);
	/* Evicted non-directories are found again by their last name. */
	if (r == 0)
		bk_renamed(&ob->bk, np, newname);
	if (r == 0 && (flags & RENAME_EXCHANGE))
		bk_renamed(&ob->bk, p, name);
	return r;
}

/*
 * Kept in one piece: plan (new signatures for the new paths), record them
 * in the audit log, rename, install; a failure at any step must undo the
 * earlier ones in reverse order, which is easiest to check in one place.
 */
static int rename_signed(struct outbox *ob, fuse_req_t req,
			 const struct rs_names *nm)
{
	struct rs_plan plan = {.req = req, .caller = {.ngroups = -1}};
	struct bk_inode *p = nm->p, *np = nm->np;
	unsigned int flags = nm->flags;
	char *o = malloc(PATH_MAX), *n = malloc(PATH_MAX);
	struct stat st;
	size_t ol, nl;
	bool src_reg;
	int ret;

	if (!o || !n) {
		ret = -ENOMEM;
		goto out;
	}
	ret = bk_child_relpath(&ob->bk, p, nm->name, o, &ol);
	if (ret == 0)
		ret = bk_child_relpath(&ob->bk, np, nm->newname, n, &nl);
	if (ret)
		goto out;
	ret = bk_stat_at(&ob->bk, p, nm->bname, &st);
	if (ret)
		goto out;
	src_reg = S_ISREG(st.st_mode);
	ob_writer_id_of(ob, req, &plan.caller);
	ret = plan_entry(ob, &plan, p, np, nm->bname, o, n);
	if (ret == 0 && (flags & RENAME_EXCHANGE))
		ret = plan_entry(ob, &plan, np, p, nm->bnew, n, o);
	if (ret) {
		char why[200];
		bool answered;

		/* A file's record written before its signature failed. */
		snprintf(why, sizeof(why), "rename: %s; not renamed",
			 plan.why[0] ? plan.why : strerror(-ret));
		answered = unrecord(ob, &plan, why);
		if (ret == -EIO)
			sfs_err("rename %s: %s", o, plan.why);
		if (ret == -EIO && !answered) {
			struct sfs_writer w;

			ob_writer_of(ob, req, &w);
			sfs_stats_add(&ob->stats, SFS_C_SIGN_FAILED, 1);
			ob_audit(ob, "sign-failed", n, nl, -1, NULL, &w,
				 plan.why);
		} else if (ret == -EACCES) {
			sfs_stats_add(&ob->stats, SFS_C_SIGN_REFUSED, 1);
			ob_audit(ob, "policy-denied", plan.denied,
				 strlen(plan.denied), -1, NULL,
				 &plan.denied_writer, plan.why);
		}
		drop_temps(ob, &plan);
		goto out;
	}
	/* Each new signature's record before the rename, as at close. */
	ret = record_signs(ob, &plan);
	if (ret) {
		sfs_err("rename %s: cannot write the audit record: not renamed",
			o);
		unrecord(ob, &plan,
			 "rename: cannot write the audit record; "
			 "not renamed");
		drop_temps(ob, &plan);
		goto out;
	}
	/* Both directories change as natively, .sig files included. */
	ob_dir_change_begin(ob, p->dev, p->ino);
	ob_dir_change_begin(ob, np->dev, np->ino);
	ret = do_rename(ob, req, nm);
	if (ret) {
		char why[160];

		snprintf(why, sizeof(why),
			 "rename failed: %s; signature not installed",
			 strerror(-ret));
		unrecord(ob, &plan, why);
		drop_temps(ob, &plan);
	} else {
		/* A file moved away leaves its old .sig behind: remove it. */
		if (src_reg && !(flags & RENAME_EXCHANGE))
			ob_unlink_sig(ob, o);
		ret = install(ob, &plan);
	}
	ob_dir_change_end(ob, np->dev, np->ino);
	ob_dir_change_end(ob, p->dev, p->ino);
out:
	ob_writer_id_free(&plan.caller);
	plan_free(&plan);
	free(o);
	free(n);
	return ret;
}

void ob_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct outbox *ob = ob_of(req);
	struct rs_names nm = {
	    .p = bk_inode(&ob->bk, parent),
	    .np = bk_inode(&ob->bk, newparent),
	    .name = name,
	    .newname = newname,
	    .flags = flags,
	};
	int ret;

	ret = rename_allowed(ob, req, &nm);
	if (ret == 0 && ob->no_sign) {
		ret = do_rename(ob, req, &nm);
	} else if (ret == 0) {
		/* No signature is computed for a path while it changes. */
		pthread_rwlock_wrlock(&ob->ns_lock);
		ret = rename_signed(ob, req, &nm);
		pthread_rwlock_unlock(&ob->ns_lock);
	}
	fuse_reply_err(req, -ret);
}
