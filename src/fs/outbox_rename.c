// SPDX-License-Identifier: Apache-2.0
/* Outbox rename: signatures follow their files to the new paths. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outbox.h"
#include "signetfs/log.h"

/*
 * A directory rename re-signs every validly signed file below it; beyond
 * this many the rename is refused with EXDEV and mv(1) copies instead.
 */
#define OB_RENAME_MAX_FILES 100000
#define OB_RENAME_MAX_DEPTH 256

/* After the rename, NEW.sig becomes der (NULL: is removed). */
struct rs_job {
	char *old_rel;
	char *new_rel;
	uint8_t *der;
	size_t der_len;
	struct stat st;
	struct sfs_digest digest;
	struct sfs_writer writer;
	bool busy;		/* open for writing: its writer's close signs */
};

struct rs_plan {
	struct rs_job *jobs;
	size_t n, cap;
	fuse_req_t req;
	char why[160];		/* first failure */
};

static void plan_free(struct rs_plan *p)
{
	for (size_t k = 0; k < p->n; k++) {
		free(p->jobs[k].old_rel);
		free(p->jobs[k].new_rel);
		free(p->jobs[k].der);
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
 * busy: someone still writes it, their close signs it under the new path.
 * failed: a write to it failed, nothing signs it (ob_inode.write_failed).
 */
static void writer_state(struct outbox *ob, const struct stat *st,
			 bool *busy, bool *failed)
{
	struct bk_inode *i = bk_find(&ob->bk, st->st_dev, st->st_ino);
	struct ob_inode *s = NULL;

	*busy = *failed = false;
	if (i) {
		pthread_mutex_lock(&i->lock);
		s = i->priv;
		if (s) {
			*busy = s->n_writers;
			*failed = s->write_failed;
		}
		pthread_mutex_unlock(&i->lock);
		bk_unpin(&ob->bk, i);
	}
	/* No state: the kernel forgot it, maybe with a failed write. */
	if (!s)
		*failed = ob_write_failed_stashed(ob, st->st_dev, st->st_ino);
}

/*
 * One regular file: when its .sig is valid for OLD, sign NEW now (before
 * the rename, so a token failure leaves everything as it was). The
 * original writer stays the writer: a rename moves bytes, it writes none.
 */
static int plan_file(struct outbox *ob, struct rs_plan *p, int dfd,
		     const char *base, const char *old_rel,
		     const char *new_rel, bool always_job)
{
	struct sfs_signer *sg;
	struct ob_sigcheck c;
	struct rs_job *j;
	struct stat st;
	bool busy, failed;
	int fd, ret;

	fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ELOOP || errno == ENOENT ? 0 : -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 0;
	}
	sg = ob_signer_for(ob, new_rel);
	writer_state(ob, &st, &busy, &failed);
	/* No signature for it, whatever .sig a writer to BACKING left. */
	if (busy || failed)
		ret = -ENOENT;
	else
		ret = ob_valid_sig(ob, dfd, base, old_rel, strlen(old_rel), fd,
				   sg ? signer_md(sg) : ob->md, &c);
	close(fd);
	if (ret && ret != -ENOENT && ret != -EBADMSG)
		return ret;
	if (ret && !always_job && !busy)
		return 0;
	j = plan_add(p, old_rel, new_rel);
	if (!j)
		return p->n >= OB_RENAME_MAX_FILES ? -EXDEV : -ENOMEM;
	j->st = st;
	j->busy = busy;
	if (ret)
		return 0; /* not validly signed: its stale .sig goes */
	j->digest = c.digest;
	if (c.verified)
		j->writer = c.writer;
	else
		ob_writer_of(ob, p->req, &j->writer);
	ret = ob_sign_digest(ob, new_rel, strlen(new_rel), &c.digest,
			     &j->writer, &j->der, &j->der_len, p->why,
			     sizeof(p->why));
	return ret;
}

static int join(char *out, const char *dir, const char *name)
{
	int n = snprintf(out, PATH_MAX, "%s%s%s", dir, *dir ? "/" : "", name);

	return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
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

		if (!strcmp(e, ".") || !strcmp(e, "..") ||
		    ob_reserved_name(e))
			continue;
		ret = join(o, old_rel, e) ?: join(n, new_rel, e);
		if (ret)
			break;
		if (de->d_type == DT_DIR) {
			int sub = openat(dfd, e, O_RDONLY | O_DIRECTORY |
							 O_NOFOLLOW | O_CLOEXEC);

			if (sub < 0)
				continue;
			ret = plan_tree(ob, p, sub, o, n, depth + 1);
			close(sub);
		} else if (de->d_type == DT_REG || de->d_type == DT_UNKNOWN) {
			ret = plan_file(ob, p, dfd, e, o, n, false);
		}
	}
out:
	if (dp)
		closedir(dp);
	free(o);
	free(n);
	return ret;
}

/* Plan for what sits at NAME in PARENT, moving from OLD to NEW. */
static int plan_entry(struct outbox *ob, struct rs_plan *p,
		      struct bk_inode *parent, const char *name,
		      const char *old_rel, const char *new_rel)
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
		ret = plan_file(ob, p, dfd, name, old_rel, new_rel, true);
	} else if (S_ISDIR(st.st_mode)) {
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY |
						    O_NOFOLLOW | O_CLOEXEC);

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

/* The signatures the plan made land next to their files' new names. */
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
			/* The record comes first: no signature without one. */
			r = ob_audit(ob, "sign", n, nl, j->st.st_size,
				     &j->digest, &j->writer, "rename");
			if (r == 0)
				r = ob_install_sig(ob, n, j->der, j->der_len,
						   &j->st, ob_conf(ob)->cfg->sync_sig);
			if (r == 0)
				sfs_stats_add(&ob->stats, SFS_C_SIGNED, 1);
		}
		if (r) {
			char why[160];

			snprintf(why, sizeof(why), "rename: cannot write .sig: %s",
				 strerror(-r));
			ob_unlink_sig(ob, n);
			ob_audit(ob, "sign-failed", n, nl, -1, NULL, &j->writer,
				 why);
			ret = -EIO;
		}
		struct bk_inode *i = bk_find(&ob->bk, j->st.st_dev,
					     j->st.st_ino);

		if (i) {
			pthread_mutex_lock(&i->lock);
			if (i->priv) {
				struct ob_inode *s = i->priv;

				s->status = OB_ST_UNKNOWN;
				s->sig_cleared = !j->der || r;
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

static int check_names(struct outbox *ob, fuse_req_t req, struct bk_inode *p,
		       const char *name, struct bk_inode *np,
		       const char *newname, unsigned int flags)
{
	if (ob_reserved_name(name) || ob_reserved_name(newname))
		return -EPERM;
	if (flags & RENAME_WHITEOUT)
		return -EINVAL;
	if (!ob_writer_allowed(ob, req, "rename", p, name))
		return -EACCES;
	return 0;
}

static int do_rename(struct outbox *ob, fuse_req_t req, struct bk_inode *p,
		     const char *name, struct bk_inode *np,
		     const char *newname, unsigned int flags)
{
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

static int rename_signed(struct outbox *ob, fuse_req_t req,
			 struct bk_inode *p, const char *name,
			 struct bk_inode *np, const char *newname,
			 unsigned int flags)
{
	struct rs_plan plan = {.req = req};
	char *o = malloc(PATH_MAX), *n = malloc(PATH_MAX);
	struct stat st;
	size_t ol, nl;
	bool src_reg;
	int ret;

	if (!o || !n) {
		ret = -ENOMEM;
		goto out;
	}
	ret = bk_child_relpath(&ob->bk, p, name, o, &ol);
	if (ret == 0)
		ret = bk_child_relpath(&ob->bk, np, newname, n, &nl);
	if (ret)
		goto out;
	ret = bk_stat_at(&ob->bk, p, name, &st);
	if (ret)
		goto out;
	src_reg = S_ISREG(st.st_mode);
	ret = plan_entry(ob, &plan, p, name, o, n);
	if (ret == 0 && (flags & RENAME_EXCHANGE))
		ret = plan_entry(ob, &plan, np, newname, n, o);
	if (ret) {
		if (ret == -EIO) {
			struct sfs_writer w;

			ob_writer_of(ob, req, &w);
			ob_audit(ob, "sign-failed", n, nl, -1, NULL, &w,
				 plan.why);
			sfs_err("rename %s: %s", o, plan.why);
		}
		goto out;
	}
	ret = do_rename(ob, req, p, name, np, newname, flags);
	if (ret)
		goto out;
	/* A file moved away leaves its old .sig behind: remove it. */
	if (src_reg && !(flags & RENAME_EXCHANGE))
		ob_unlink_sig(ob, o);
	ret = install(ob, &plan);
out:
	plan_free(&plan);
	free(o);
	free(n);
	return ret;
}

void ob_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	struct outbox *ob = ob_of(req);
	struct bk_inode *p = bk_inode(&ob->bk, parent);
	struct bk_inode *np = bk_inode(&ob->bk, newparent);
	int ret;

	ret = check_names(ob, req, p, name, np, newname, flags);
	if (ret == 0 && ob->no_sign) {
		ret = do_rename(ob, req, p, name, np, newname, flags);
	} else if (ret == 0) {
		/* No signature is computed for a path while it changes. */
		pthread_rwlock_wrlock(&ob->ns_lock);
		ret = rename_signed(ob, req, p, name, np, newname, flags);
		pthread_rwlock_unlock(&ob->ns_lock);
	}
	fuse_reply_err(req, -ret);
}
