// SPDX-License-Identifier: Apache-2.0
/* Outbox signing: digest, signature, .sig files, killed writers, status. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ob_digest.h"
#include "ob_dirtime.h"
#include "ob_file.h"
#include "ob_inode.h"
#include "ob_sign.h"
#include "ob_stamp.h"
#include "outbox.h"
#include "signetfs/log.h"
#include "signetfs/state.h"
#include "signetfs/verdict.h"

void ob_names_reset(struct outbox *ob)
{
	pthread_mutex_lock(&ob->names.lock);
	for (size_t k = 0; k < OB_NAME_SLOTS; k++)
		ob->names.slot[k].valid = false;
	if (gethostname(ob->host, sizeof(ob->host) - 1) < 0)
		ob->host[0] = '\0';
	pthread_mutex_unlock(&ob->names.lock);
}

static void user_name(struct outbox *ob, uid_t uid, char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	size_t k = uid % OB_NAME_SLOTS;
	char buf[1024];

	pthread_mutex_lock(&ob->names.lock);
	if (ob->names.slot[k].valid && ob->names.slot[k].uid == uid) {
		snprintf(out, len, "%s", ob->names.slot[k].name);
		pthread_mutex_unlock(&ob->names.lock);
		return;
	}
	pthread_mutex_unlock(&ob->names.lock);
	/* As sfs_writer_from_pid does: the number when there is no name. */
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, len, "%s", res->pw_name);
	else
		snprintf(out, len, "%u", (unsigned)uid);
	pthread_mutex_lock(&ob->names.lock);
	ob->names.slot[k].uid = uid;
	ob->names.slot[k].valid = true;
	snprintf(ob->names.slot[k].name, sizeof(ob->names.slot[k].name), "%s",
		 out);
	pthread_mutex_unlock(&ob->names.lock);
}

/* sfs_writer_from_pid() with the user and host names cached. */
void ob_writer_ids(struct outbox *ob, pid_t pid, uid_t uid, gid_t gid,
		   struct sfs_writer *w)
{
	sfs_writer_ids(w, pid, uid, gid);
	/*
	 * A process killed by a signal closes its files after its memory
	 * map is gone, when /proc/PID/exe no longer resolves: its name
	 * (comm) is still there, as ps shows it, in brackets.
	 */
	if (!w->exe[0] && pid > 0) {
		char path[64], comm[64];
		int fd;
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : read(fd, comm, sizeof(comm) - 1);
		if (fd >= 0)
			close(fd);
		if (n > 0) {
			comm[n] = '\0';
			comm[strcspn(comm, "\n")] = '\0';
			snprintf(w->exe, sizeof(w->exe), "[%s]", comm);
		}
	}
	user_name(ob, uid, w->user, sizeof(w->user));
	pthread_mutex_lock(&ob->names.lock);
	snprintf(w->host, sizeof(w->host), "%s", ob->host);
	pthread_mutex_unlock(&ob->names.lock);
	snprintf(w->mount_id, sizeof(w->mount_id), "%s", ob->mount_id);
}

void ob_writer_of(struct outbox *ob, fuse_req_t req, struct sfs_writer *w)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);

	ob_writer_ids(ob, c->pid, c->uid, c->gid, w);
}

void ob_writer_of_file(struct outbox *ob, fuse_req_t req,
		       const struct ob_file *f, struct sfs_writer *w)
{
	ob_writer_of(ob, req, w);
	if (!w->exe[0] && f->exe && w->pid == f->pid)
		snprintf(w->exe, sizeof(w->exe), "%s", f->exe);
}

void ob_writer_id_of(struct outbox *ob, fuse_req_t req, struct ob_writer_id *id)
{
	const struct fuse_ctx *c = fuse_req_ctx(req);
	gid_t g[256];
	int n;
	char link[64], exe[512];
	ssize_t len;

	*id = (struct ob_writer_id){
	    .uid = c->uid, .gid = c->gid, .pid = c->pid, .ngroups = -1};
	if (policy_uses_groups(ob_conf(ob)->cfg)) {
		n = fuse_req_getgroups(req, (int)ARRAY_SIZE(g), g);
		if (n > (int)ARRAY_SIZE(g))
			n = (int)ARRAY_SIZE(g);
		if (n >= 0) {
			id->groups = malloc((size_t)(n ? n : 1) * sizeof(*g));
			if (id->groups) {
				memcpy(id->groups, g, (size_t)n * sizeof(*g));
				id->ngroups = n;
			}
		}
	}
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)c->pid);
	len = c->pid > 0 ? readlink(link, exe, sizeof(exe) - 1) : -1;
	if (len > 0) {
		exe[len] = '\0';
		id->exe = strdup(exe);
	}
}

void ob_writer_id_free(struct ob_writer_id *id)
{
	free(id->groups);
	free(id->exe);
	id->groups = NULL;
	id->exe = NULL;
	id->ngroups = -1;
}

static bool same_writer(const struct ob_writer_id *a,
			const struct ob_writer_id *b)
{
	return a->uid == b->uid && a->gid == b->gid &&
	       a->ngroups == b->ngroups &&
	       (a->ngroups <= 0 ||
		!memcmp(a->groups, b->groups,
			(size_t)a->ngroups * sizeof(*a->groups)));
}

void ob_note_writer_locked(struct ob_inode *s, const struct ob_writer_id *id)
{
	struct ob_writer_id *e;

	for (size_t k = 0; k < s->n_past; k++)
		if (same_writer(&s->past[k], id))
			return;
	if (s->n_past == s->cap_past) {
		size_t cap = s->cap_past ? s->cap_past * 2 : 4;

		e = realloc(s->past, cap * sizeof(*e));
		if (!e) {
			/* Cannot remember it: nothing signs until emptied. */
			ob_write_failed_locked(s, "out of memory recording "
						  "a writer");
			return;
		}
		s->past = e;
		s->cap_past = cap;
	}
	e = &s->past[s->n_past];
	*e = *id;
	e->groups = NULL;
	e->exe = id->exe ? strdup(id->exe) : NULL;
	if (id->ngroups > 0) {
		e->groups = malloc((size_t)id->ngroups * sizeof(*e->groups));
		if (!e->groups)
			e->ngroups = -1; /* decided on uid and gid alone */
		else
			memcpy(e->groups, id->groups,
			       (size_t)id->ngroups * sizeof(*e->groups));
	}
	s->n_past++;
}

void ob_forget_writers_locked(struct ob_inode *s)
{
	for (size_t k = 0; k < s->n_past; k++)
		ob_writer_id_free(&s->past[k]);
	s->n_past = 0;
}

static bool id_allowed(struct outbox *ob, const struct sfs_config *cfg,
		       const struct sfs_rule *r, const struct ob_writer_id *id)
{
	return policy_may_write(cfg, r, id->uid, id->gid,
				id->ngroups > 0 ? id->groups : NULL,
				id->ngroups > 0 ? id->ngroups : 0, ob->mounter);
}

/* The first writer since the last signature whom r does not allow. */
static const struct ob_writer_id *
denied_writer(struct outbox *ob, const struct sfs_rule *r,
	      const struct ob_inode *s, const struct ob_writer_id *extra,
	      bool emptied)
{
	const struct sfs_config *cfg = ob_conf(ob)->cfg;

	for (const struct ob_file *f = s->handles; f; f = f->inode_next)
		if (!id_allowed(ob, cfg, r, &f->who))
			return &f->who;
	/* Emptying the file forgets past writers' bytes. */
	for (size_t k = 0; !emptied && k < s->n_past; k++)
		if (!id_allowed(ob, cfg, r, &s->past[k]))
			return &s->past[k];
	if (extra && !id_allowed(ob, cfg, r, extra))
		return extra;
	return NULL;
}

bool ob_sig_writer_allowed(struct outbox *ob, const char *rel,
			   const struct sfs_writer *w)
{
	const struct sfs_config *cfg = ob_conf(ob)->cfg;
	struct ob_writer_id id = {.uid = w->uid, .gid = w->gid, .ngroups = -1};
	const struct sfs_rule *r;
	gid_t g[256];
	int n = (int)ARRAY_SIZE(g);
	bool ok;

	if (policy_match(cfg, rel, &r))
		return false;
	/* The groups the named user is in now (the signature has none). */
	if (policy_uses_groups(cfg) && w->user[0] &&
	    getgrouplist(w->user, w->gid, g, &n) >= 0) {
		id.groups = g;
		id.ngroups = n;
	}
	ok = id_allowed(ob, cfg, r, &id);
	return ok;
}

/* A record of ob's log for rel, with the key of rel's signer. */
static struct audit_record ob_record(struct outbox *ob, const char *event,
				     const char *rel, size_t rel_len,
				     int64_t size, const struct sfs_digest *d,
				     const struct sfs_writer *w,
				     const char *reason)
{
	struct audit_record r = {
	    .event = event,
	    .path = rel,
	    .path_len = rel_len,
	    .size = size,
	    .digest = d,
	    .writer = w,
	    .reason = reason,
	};

	audit_record_key(&r, rel ? ob_signer_for(ob, rel) : NULL);
	return r;
}

int ob_audit(struct outbox *ob, const char *event, const char *rel,
	     size_t rel_len, int64_t size, const struct sfs_digest *d,
	     const struct sfs_writer *w, const char *reason)
{
	struct audit_record r =
	    ob_record(ob, event, rel, rel_len, size, d, w, reason);

	/* The audit library logs a failure; a NULL log takes nothing. */
	return audit_write(ob->audit, &r);
}

int ob_audit_sign_begin(struct outbox *ob, const char *rel, size_t rel_len,
			int64_t size, const struct sfs_digest *d,
			const struct sfs_writer *w, const char *reason,
			off_t *end, uint64_t *seq)
{
	struct audit_record r =
	    ob_record(ob, "sign", rel, rel_len, size, d, w, reason);
	int ret = audit_sign_begin(ob->audit, &r, end, seq);

	if (ret == 0)
		audit_sync_start(ob->audit, *end);
	return ret;
}

void ob_audit_answer(struct outbox *ob, const char *rel, size_t rel_len,
		     const struct sfs_writer *w, const char *reason,
		     uint64_t answers)
{
	struct audit_record r =
	    ob_record(ob, NULL, rel, rel_len, -1, NULL, w, NULL);

	audit_sign_abort(ob->audit, &r, reason, answers);
}

int ob_sig_name(const char *base, char *out)
{
	size_t n = strlen(base);

	if (n + 4 > NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(out, base, n);
	memcpy(out + n, SFS_SIG_SUFFIX, 5);
	return 0;
}

/*
 * The signetfs-version of BASE.sig in dfd, if any (0 without a state
 * directory): a number this outbox must not hand out for the path again,
 * even if its counter was lost. Unverified: BACKING is the daemon's
 * (strict modes), and a floor can only make versions larger.
 */
static uint64_t sig_seen_version(struct outbox *ob, int dfd, const char *name)
{
	uint8_t *der = NULL;
	uint64_t v = 0;
	size_t len = 0;

	if (ob->state && !sfs_read_file_at(dfd, name, SFS_SIG_MAX, &der, &len))
		sig_peek_version(der, len, &v);
	free(der);
	return v;
}

int ob_read_sig(struct outbox *ob, const char *rel, uint8_t **der, size_t *len)
{
	char name[NAME_MAX + 1], base[NAME_MAX + 1];
	int dfd = bk_open_parent(&ob->bk, rel, base), ret;

	if (dfd < 0)
		return dfd;
	ret = ob_sig_name(base, name);
	if (ret == 0)
		ret = sfs_read_file_at(dfd, name, SFS_SIG_MAX, der, len);
	close(dfd);
	return ret;
}

/* The version REL.sig carries now (see sig_seen_version). */
static uint64_t rel_seen_version(struct outbox *ob, const char *rel)
{
	uint8_t *der = NULL;
	uint64_t v = 0;
	size_t len = 0;

	if (ob->state && ob_read_sig(ob, rel, &der, &len) == 0)
		sig_peek_version(der, len, &v);
	free(der);
	return v;
}

int ob_unlink_sig(struct outbox *ob, const char *rel)
{
	char name[NAME_MAX + 1], base[NAME_MAX + 1];
	uint64_t seen;
	int dfd, ret;

	struct ob_dirtime *t;

	dfd = bk_open_parent(&ob->bk, rel, base);
	if (dfd < 0)
		return dfd == -ENOENT || dfd == -ENAMETOOLONG ? 0 : dfd;
	ret = ob_sig_name(base, name);
	/* The version it carried is never handed out again for REL. */
	seen = ret == 0 ? sig_seen_version(ob, dfd, name) : 0;
	if (seen &&
	    state_version_raise(ob->state, rel, strlen(rel), seen) == -EBADMSG)
		sfs_warn("state: the version entry of %s fails its MAC", rel);
	t = ret ? NULL : ob_dir_own_begin(ob, dfd);
	if (ret == 0 && unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		ret = -errno;
	ob_dir_own_end(ob, dfd, t);
	close(dfd);
	return ret == -ENAMETOOLONG ? 0 : ret;
}

int ob_clear_sig_locked(struct outbox *ob, struct bk_inode *i,
			struct ob_inode *s)
{
	char rel[PATH_MAX];
	size_t len;
	int ret;

	SFS_ASSERT_HELD(&i->lock);
	ret = bk_relpath(&ob->bk, i, rel, &len);
	if (ret == 0)
		ret = ob_unlink_sig(ob, rel);
	else if (ret == -ENOENT)
		ret = 0; /* no name, no .sig */
	else
		snprintf(rel, sizeof(rel), "inode %ju", (uintmax_t)i->ino);
	if (ret) {
		sfs_err("cannot remove the .sig of %s: %s", rel,
			strerror(-ret));
		return ret;
	}
	s->sig_cleared = true;
	return 0;
}

int ob_sync_sig(struct outbox *ob, const char *rel)
{
	char name[NAME_MAX + 1], base[NAME_MAX + 1];
	int dfd, fd, ret = 0;

	dfd = bk_open_parent(&ob->bk, rel, base);
	if (dfd < 0)
		return dfd;
	if (ob_sig_name(base, name) == 0) {
		struct stat st;

		/* Never blocks: a FIFO or device named NAME.sig is skipped. */
		fd = sfs_open_regular_at(dfd, name, O_RDONLY, &st);
		if (fd >= 0) {
			if (fsync(fd) < 0)
				ret = -errno;
			close(fd);
		}
	}
	if (ret == 0 && fsync(dfd) < 0)
		ret = -errno;
	close(dfd);
	return ret;
}

int ob_install_sig(struct outbox *ob, const char *rel, const uint8_t *der,
		   size_t len, const struct stat *st, bool sync)
{
	char name[NAME_MAX + 1], base[NAME_MAX + 1];
	int dfd, ret;

	struct ob_dirtime *t;

	dfd = bk_open_parent(&ob->bk, rel, base);
	if (dfd < 0)
		return dfd;
	ret = ob_sig_name(base, name);
	t = ret ? NULL : ob_dir_own_begin(ob, dfd);
	if (ret == 0)
		ret = sfs_write_atomic_at(dfd, name, der, len,
					  ob_sig_mode(st->st_mode), sync);
	if (ret == 0)
		ob_own_like(ob, dfd, name, st);
	ob_dir_own_end(ob, dfd, t);
	close(dfd);
	return ret;
}

void ob_own_like(struct outbox *ob, int dfd, const char *name,
		 const struct stat *st)
{
	if (ob->bk.switch_creds && (st->st_uid || st->st_gid))
		fchownat(dfd, name, st->st_uid, st->st_gid,
			 AT_SYMLINK_NOFOLLOW);
}

struct sfs_signer *ob_signer_for(struct outbox *ob, const char *rel)
{
	struct ob_conf *c = ob_conf(ob);
	const struct sfs_rule *r;

	/* A path policy cannot evaluate has no key: nothing signs it. */
	if (!c->ring || policy_match(c->cfg, rel, &r))
		return NULL;
	return keyring_for(c->ring, r);
}

int ob_sign_digest(struct outbox *ob, const char *rel, size_t rel_len,
		   const struct sfs_digest *digest,
		   const struct sfs_writer *writer, uint8_t **der,
		   size_t *der_len, char *why, size_t why_len)
{
	struct sfs_signer *sg = ob_signer_for(ob, rel);
	struct sfs_error err = {0};
	uint64_t t0 = sfs_now_us(), version = 0;
	int ret;

	if (!sg) {
		snprintf(why, why_len, "no signing key for this path");
		return -EIO;
	}
	/*
	 * The version is on disk before the signature exists, so a crash
	 * never hands it out twice; above whatever REL.sig says now (a
	 * rename over a signed file, a counter lost).
	 */
	ret = ob->state
		  ? state_version_next(ob->state, rel, rel_len,
				       rel_seen_version(ob, rel), &version)
		  : 0;
	if (ret) {
		snprintf(why, why_len, "version counter: %s",
			 ret == -EBADMSG ? "its entry fails its MAC"
					 : strerror(-ret));
		return -EIO;
	}
	ret = signer_sign_versioned(sg, digest, rel, rel_len, writer, version,
				    der, der_len, &err);
	sfs_stats_latency(&ob->stats, sfs_now_us() - t0); /* counts the op */
	if (ret)
		snprintf(why, why_len, "signer: %s",
			 err.msg[0] ? err.msg : strerror(ret < 0 ? -ret : EIO));
	return ret ? -EIO : 0;
}

void ob_set_status_locked(struct outbox *ob, struct bk_inode *i,
			  struct ob_inode *s, enum ob_status st,
			  const struct sfs_digest *d, const char *signer,
			  const char *reason)
{
	struct stat sb;

	SFS_ASSERT_HELD(&i->lock);
	s->status = st;
	s->sig_ours = false; /* ob_sig_made_locked says when it is */
	if (d)
		s->digest = *d;
	else
		s->digest.len = 0;
	snprintf(s->signer, sizeof(s->signer), "%s", signer ? signer : "");
	snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "");
	if (bk_stat(&ob->bk, i, &sb) == 0) {
		s->snap_size = sb.st_size;
		s->snap_mtime = sb.st_mtim;
		s->snap_ctime = sb.st_ctim;
	}
}

/* Digest of the content now: the running one if it covers the file. */
static int content_digest_locked(struct outbox *ob, struct bk_inode *i,
				 struct ob_inode *s, enum sfs_md md,
				 struct sfs_digest *d, struct stat *st)
{
	uint64_t size = 0;
	int fd, ret;

	SFS_ASSERT_HELD(&i->lock);
	ret = bk_stat(&ob->bk, i, st);
	if (ret)
		return ret;
	if (ob_rdigest_final(&s->rd, md, (uint64_t)st->st_size, d) == 0) {
		/* Hashed as it was written: the bytes count all the same. */
		sfs_stats_add(&ob->stats, SFS_C_BYTES_HASHED,
			      (uint64_t)st->st_size);
		return 0;
	}
	fd = bk_reopen(&ob->bk, i, O_RDONLY);
	if (fd < 0)
		return fd;
	ret = sfs_hash_fd(fd, md, d, &size);
	close(fd);
	sfs_stats_add(&ob->stats, SFS_C_BYTES_HASHED, size);
	if (ret == 0 && size != (uint64_t)st->st_size)
		ret = bk_stat(&ob->bk, i,
			      st); /* it grew under us: size for audit */
	return ret;
}

/*
 * Signing failed: audited (answering the sign record of seq answers, 0:
 * none), and no valid signature stays behind.
 */
static int sign_failed(struct outbox *ob, struct bk_inode *i,
		       struct ob_inode *s, const char *rel, size_t len,
		       const struct sfs_writer *w, const char *reason,
		       uint64_t answers)
{
	sfs_err("signing %s failed: %s", rel, reason);
	sfs_stats_add(&ob->stats, SFS_C_SIGN_FAILED, 1);
	ob_audit_answer(ob, rel, len, w, reason, answers);
	ob_unlink_sig(ob, rel);
	s->sig_cleared = true;
	ob_set_status_locked(ob, i, s, OB_ST_FAILED, NULL, NULL, reason);
	return -EIO;
}

/*
 * No signature for the content as it is: any .sig goes, a sign-refused
 * record says why, and the decision holds until the content changes.
 */
static void refuse_locked(struct outbox *ob, struct bk_inode *i,
			  struct ob_inode *s, const char *rel, size_t len,
			  const struct sfs_writer *w, const char *reason)
{
	SFS_ASSERT_HELD(&i->lock);

	sfs_stats_add(&ob->stats, SFS_C_SIGN_REFUSED, 1);
	if (rel) {
		ob_unlink_sig(ob, rel);
		ob_audit(ob, "sign-refused", rel, len, -1, NULL, w, reason);
	}
	s->sig_cleared = true;
	s->decided_gen = s->content_gen;
	ob_set_status_locked(ob, i, s, OB_ST_FAILED, NULL, NULL, reason);
}

/*
 * A writer since the last signature may not write at this path (it was
 * moved into another rule's subtree, or a rule changed): the content is
 * refused there, with a policy-denied record naming that writer.
 */
static int deny_locked(struct outbox *ob, struct bk_inode *i,
		       struct ob_inode *s, const char *rel, size_t len,
		       const struct ob_writer_id *who)
{
	struct sfs_writer w;
	char why[96];

	SFS_ASSERT_HELD(&i->lock);
	ob_writer_ids(ob, who->pid, who->uid, who->gid, &w);
	if (!w.exe[0] && who->exe)
		snprintf(w.exe, sizeof(w.exe), "%s", who->exe);
	snprintf(why, sizeof(why), "sign: uid %u may not write here",
		 (unsigned)who->uid);
	sfs_err("not signing %s: %s", rel, why);
	sfs_stats_add(&ob->stats, SFS_C_SIGN_REFUSED, 1);
	ob_unlink_sig(ob, rel);
	ob_audit(ob, "policy-denied", rel, len, -1, NULL, &w, why);
	s->sig_cleared = true;
	s->decided_gen = s->content_gen;
	ob_set_status_locked(ob, i, s, OB_ST_FAILED, NULL, NULL, why);
	return -EACCES;
}

/*
 * Whether the content may be signed at REL at all: a path policy can
 * evaluate, every writer since the last signature allowed there, a key
 * for it, a single name (a hard link is a way to write the bytes outside
 * the mount). 0 with *sg set, or what ob_sign_locked returns.
 */
static int may_sign_locked(struct outbox *ob, struct bk_inode *i,
			   struct ob_inode *s, const char *rel, size_t len,
			   const struct sfs_writer *w,
			   const struct ob_writer_id *extra, bool emptied,
			   struct sfs_signer **sg)
{
	const struct ob_writer_id *who;
	const struct sfs_rule *r;
	char why[96];
	struct stat st;
	int ret;

	SFS_ASSERT_HELD(&i->lock);
	if (s->write_failed && !emptied) {
		refuse_locked(ob, i, s, rel, len, w, s->write_failed_why);
		sfs_err("not signing %s: %s", rel, s->write_failed_why);
		return -EIO;
	}
	ret = policy_match(ob_conf(ob)->cfg, rel, &r);
	if (ret) {
		snprintf(why, sizeof(why),
			 "policy cannot evaluate this path: "
			 "%s",
			 strerror(-ret));
		refuse_locked(ob, i, s, rel, len, w, why);
		return -EIO;
	}
	who = denied_writer(ob, r, s, extra, emptied);
	if (who)
		return deny_locked(ob, i, s, rel, len, who);
	if (bk_stat(&ob->bk, i, &st) == 0 && st.st_nlink > 1) {
		snprintf(why, sizeof(why),
			 "the file has %ju names (hard "
			 "links): its bytes can change outside the mount",
			 (uintmax_t)st.st_nlink);
		refuse_locked(ob, i, s, rel, len, w, why);
		return -EIO;
	}
	*sg = ob_conf(ob)->ring ? keyring_for(ob_conf(ob)->ring, r) : NULL;
	return 0;
}

int ob_may_sign_locked(struct outbox *ob, struct bk_inode *i,
		       struct ob_inode *s, const struct sfs_writer *w,
		       const struct ob_writer_id *extra, bool emptied)
{
	struct sfs_signer *sg;
	char rel[PATH_MAX];
	size_t len;
	int ret;

	SFS_ASSERT_HELD(&i->lock);
	ret = bk_relpath(&ob->bk, i, rel, &len);
	if (ret == -ENOENT)
		return 0; /* no name: nothing will be signed */
	if (ret) {
		sfs_err("cannot sign: no path below BACKING: %s",
			strerror(-ret));
		return ret == -ENAMETOOLONG ? ret : -EIO;
	}
	return may_sign_locked(ob, i, s, rel, len, w, extra, emptied, &sg);
}

int ob_sign_locked(struct outbox *ob, struct bk_inode *i, struct ob_inode *s,
		   const struct sfs_writer *w, const struct ob_writer_id *extra)
{
	bool sync = ob_conf(ob)->cfg->sync_sig || s->sync_next;
	char rel[PATH_MAX], why[160];
	struct sfs_signer *sg = NULL;
	struct sfs_digest d;
	uint8_t *der = NULL;
	size_t len, der_len;
	struct stat st;
	uint64_t seq;
	off_t end;
	int ret;

	SFS_ASSERT_HELD(&i->lock);
	ret = bk_relpath(&ob->bk, i, rel, &len);
	if (ret == -ENOENT) {
		s->decided_gen = s->content_gen; /* unlinked: nothing to sign */
		return 0;
	}
	if (ret) {
		sfs_err("signing: no path below BACKING: %s", strerror(-ret));
		return -EIO;
	}
	s->tried_gen = s->content_gen;
	ret = may_sign_locked(ob, i, s, rel, len, w, extra, false, &sg);
	if (ret)
		return ret;
	ret = content_digest_locked(
	    ob, i, s, sg ? signer_md(sg) : ob_conf(ob)->md, &d, &st);
	if (ret) {
		snprintf(why, sizeof(why), "cannot hash: %s", strerror(-ret));
		return sign_failed(ob, i, s, rel, len, w, why, 0);
	}
	/*
	 * The record comes first: no signature exists without one. It is
	 * written before the token is asked, and its fdatasync runs while
	 * the token signs; a signature that is then not made or not
	 * installed gets a sign-failed record after it (audit.h).
	 */
	if (!sg)
		return sign_failed(ob, i, s, rel, len, w,
				   "no signing key for this path", 0);
	if (ob_audit_sign_begin(ob, rel, len, st.st_size, &d, w, NULL, &end,
				&seq))
		return sign_failed(ob, i, s, rel, len, w,
				   "cannot write the audit record", 0);
	if (ob_sign_digest(ob, rel, len, &d, w, &der, &der_len, why,
			   sizeof(why)))
		return sign_failed(ob, i, s, rel, len, w, why, seq);
	if (audit_sync_to(ob->audit, end)) {
		free(der);
		return sign_failed(ob, i, s, rel, len, w,
				   "cannot write the audit record", seq);
	}
	ret = ob_install_sig(ob, rel, der, der_len, &st, sync);
	if (ret == 0)
		ob_stamp_enqueue(ob, rel, der, der_len);
	free(der);
	if (ret) {
		snprintf(why, sizeof(why), "cannot write .sig: %s",
			 strerror(-ret));
		return sign_failed(ob, i, s, rel, len, w, why, seq);
	}
	sfs_stats_add(&ob->stats, SFS_C_SIGNED, 1);
	s->sig_cleared = false;
	s->sync_next = false;
	s->decided_gen = s->content_gen;
	s->sign_seq = atomic_fetch_add(&ob->seq, 1) + 1;
	s->prov = OB_PROV_OK;
	ob_forget_writers_locked(s);
	ob_sig_made_locked(ob, i, s, &d, signer_cert_sha256(sg), w);
	return 0;
}

void ob_refuse_locked(struct outbox *ob, struct bk_inode *i, struct ob_inode *s,
		      const struct sfs_writer *w, const char *reason)
{
	char rel[PATH_MAX];
	size_t len;

	SFS_ASSERT_HELD(&i->lock);
	ob_write_failed_locked(s, "%s", reason);
	if (bk_relpath(&ob->bk, i, rel, &len))
		refuse_locked(ob, i, s, NULL, 0, w, s->write_failed_why);
	else
		refuse_locked(ob, i, s, rel, len, w, s->write_failed_why);
}

int ob_valid_sig(struct outbox *ob, int dirfd, const char *base,
		 const char *rel, size_t rel_len, int fd, enum sfs_md md,
		 struct ob_sigcheck *c)
{
	char name[NAME_MAX + 1];
	struct sig_info info;
	enum verify_reason vr;
	uint8_t *der = NULL;
	size_t len = 0;
	int ret;

	memset(c, 0, sizeof(*c));
	ret = ob_sig_name(base, name);
	if (ret)
		return ret == -ENAMETOOLONG ? -ENOENT : ret;
	ret = sfs_read_file_at(dirfd, name, SFS_SIG_MAX, &der, &len);
	if (ret == -EINVAL || ret == -EFBIG) {
		/* A FIFO, device or huge file named NAME.sig: no signature. */
		c->reason = ret == -EINVAL ? "not a regular file" : "too large";
		return -EBADMSG;
	}
	if (ret)
		return ret;
	struct sfs_verifier *verifier = ob_conf(ob)->verifier;

	if (!verifier) { /* --no-sign: nothing here is trusted */
		free(der);
		return -ENOENT;
	}
	memset(&info, 0, sizeof(info));
	/* The inbox's verdict at the old path, its [rule] applied. */
	vr =
	    verdict_check_fd(ob_conf(ob)->cfg, verifier, rel,
			     &(struct verdict_sig){der, len, VR_OK}, fd, &info);
	free(der);
	/* Counted as the inbox counts: the content was hashed to decide. */
	if (vr == VR_OK || vr == VR_CONTENT_DIGEST) {
		struct stat fst;

		if (fstat(fd, &fst) == 0)
			sfs_stats_add(&ob->stats, SFS_C_BYTES_HASHED,
				      (uint64_t)fst.st_size);
	}
	if (vr != VR_OK) {
		sig_info_clear(&info);
		c->reason = verify_reason_name(vr);
		return vr == VR_IO ? -EIO : -EBADMSG;
	}
	sfs_stats_add(&ob->stats, SFS_C_VERIFIED, 1);
	c->verified = true;
	c->digest = info.digest;
	c->writer = info.writer;
	sfs_hex(info.signer_sha256, 32, c->signer);
	sig_info_clear(&info);
	/* The signer takes digests in its own algorithm only. */
	if (c->digest.alg != md)
		return sfs_hash_fd(fd, md, &c->digest, NULL);
	return 0;
}

bool ob_sig_is_ours(struct outbox *ob, const char *rel,
		    const struct ob_sigcheck *c)
{
	struct sfs_signer *sg = ob_signer_for(ob, rel);

	return c->verified && sg && !strcmp(c->signer, signer_cert_sha256(sg));
}

/* The content as it is now has a valid signature of ours for its path. */
static const char *vouched_locked(struct outbox *ob, struct bk_inode *i)
{
	char rel[PATH_MAX], base[NAME_MAX + 1];
	struct ob_sigcheck c = {0}; /* c.reason: NULL if no check ran */
	const char *why = NULL;
	int dfd, fd = -1, ret;
	size_t len;

	SFS_ASSERT_HELD(&i->lock);
	ret = bk_relpath(&ob->bk, i, rel, &len);
	dfd = ret ? ret : bk_open_parent(&ob->bk, rel, base);
	if (dfd < 0)
		return "no path below BACKING";
	fd = bk_reopen(&ob->bk, i, O_RDONLY);
	ret = fd < 0 ? fd
		     : ob_valid_sig(ob, dfd, base, rel, len, fd,
				    ob_conf(ob)->md, &c);
	if (ret == -ENOENT)
		why = "it has no signature";
	else if (ret)
		why = c.reason ? c.reason : "its signature does not verify";
	else if (!ob_sig_is_ours(ob, rel, &c))
		why = "its signature is not this mount's";
	if (fd >= 0)
		close(fd);
	close(dfd);
	return why;
}

void ob_provenance_locked(struct outbox *ob, struct bk_inode *i,
			  struct ob_inode *s)
{
	const char *why;
	struct stat st;

	SFS_ASSERT_HELD(&i->lock);
	if (ob->no_sign || s->prov == OB_PROV_OK || s->write_failed)
		return;
	if (bk_stat(&ob->bk, i, &st) == 0 && st.st_size == 0) {
		s->prov = OB_PROV_OK;
		return;
	}
	ob_op_enter(ob);
	why = vouched_locked(ob, i);
	ob_op_leave(ob);
	if (!why)
		s->prov = OB_PROV_OK;
	else
		ob_write_failed_locked(s,
				       "earlier content not vouched for "
				       "(%s): empty the file to write it",
				       why);
}

/* The writer a signature of ours names, packed: kept per signed inode. */
struct ob_sigwriter {
	uint32_t uid, gid;
	size_t exe, host, mnt; /* offsets into s */
	char s[];	       /* user, exe, host, mount id: NUL-terminated */
};

void ob_sig_made_locked(struct outbox *ob, struct bk_inode *i,
			struct ob_inode *s, const struct sfs_digest *d,
			const char *signer, const struct sfs_writer *w)
{
	size_t u = strlen(w->user) + 1, e = strlen(w->exe) + 1;
	size_t h = strlen(w->host) + 1, m = strlen(w->mount_id) + 1;
	struct ob_sigwriter *k;

	SFS_ASSERT_HELD(&i->lock);
	ob_set_status_locked(ob, i, s, OB_ST_SIGNED, d, signer, NULL);
	k = realloc(s->sig_writer, sizeof(*k) + u + e + h + m);
	if (!k)
		return; /* not recalled: a rename verifies instead */
	k->uid = w->uid;
	k->gid = w->gid;
	k->exe = u;
	k->host = u + e;
	k->mnt = u + e + h;
	memcpy(k->s, w->user, u);
	memcpy(k->s + k->exe, w->exe, e);
	memcpy(k->s + k->host, w->host, h);
	memcpy(k->s + k->mnt, w->mount_id, m);
	s->sig_writer = k;
	s->sig_conf_gen = ob_conf(ob)->gen;
	s->sig_ours = true;
}

bool ob_recall_sig_locked(struct outbox *ob, struct ob_inode *s,
			  const char *rel, const struct stat *st,
			  enum sfs_md md, struct ob_sigcheck *c)
{
	struct sfs_signer *sg = ob_signer_for(ob, rel);
	const struct ob_sigwriter *k = s->sig_writer;

	/* bk.one_dev: strict modes were checked at mount (outbox.c). */
	if (!ob->bk.one_dev || !s->sig_ours || s->status != OB_ST_SIGNED ||
	    s->sig_cleared || s->write_failed || s->n_active ||
	    s->decided_gen != s->content_gen ||
	    s->sig_conf_gen != ob_conf(ob)->gen || !k || !sg ||
	    s->digest.alg != md || st->st_size != s->snap_size ||
	    st->st_nlink != 1 || strcmp(s->signer, signer_cert_sha256(sg)))
		return false;
	memset(c, 0, sizeof(*c));
	c->digest = s->digest;
	c->writer.uid = k->uid;
	c->writer.gid = k->gid;
	snprintf(c->writer.user, sizeof(c->writer.user), "%s", k->s);
	snprintf(c->writer.exe, sizeof(c->writer.exe), "%s", k->s + k->exe);
	snprintf(c->writer.host, sizeof(c->writer.host), "%s", k->s + k->host);
	snprintf(c->writer.mount_id, sizeof(c->writer.mount_id), "%s",
		 k->s + k->mnt);
	snprintf(c->signer, sizeof(c->signer), "%s", s->signer);
	c->verified = true;
	return true;
}
