// SPDX-License-Identifier: Apache-2.0
/* Outbox signing: digest, signature, .sig files, killed writers, status. */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outbox.h"
#include "signetfs/log.h"
#include "signetfs/verdict.h"

#define PF_EXITING 0x00000004	/* include/linux/sched.h */

/*
 * /proc/PID/stat of the task that sent a flush. Field 9 is the task's
 * flags, the last field (52) its exit_code, which do_exit() sets before
 * exit_files() closes the files: a close that comes from process exit shows
 * PF_EXITING and the wait status (signal number, or status << 8).
 */
void ob_exit_state(pid_t pid, struct ob_exit *ex)
{
	char path[64], buf[1024], *p, *save = NULL, *tok, *last = NULL;
	unsigned long flags = 0;
	int fd, field = 2;
	ssize_t n;

	memset(ex, 0, sizeof(*ex));
	if (pid <= 0)
		return; /* another pid namespace: the kernel did not say */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* comm (field 2) may hold spaces and ')': skip to its last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return;
	for (tok = strtok_r(p + 1, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		field++;
		if (field == 9)
			flags = strtoul(tok, NULL, 10);
		last = tok;
	}
	if (field < 52 || !last || !(flags & PF_EXITING))
		return;
	ex->exiting = true;
	n = strtol(last, NULL, 10);
	ex->signal = (int)(n & 0x7f);
	ex->status = (int)((n >> 8) & 0xff);
}

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

int ob_audit(struct outbox *ob, const char *event, const char *rel,
	     size_t rel_len, int64_t size, const struct sfs_digest *d,
	     const struct sfs_writer *w, const char *reason)
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
	struct sfs_signer *sg = rel ? ob_signer_for(ob, rel) : NULL;
	int ret;

	if (!ob->audit)
		return 0;
	if (sg) {
		r.key_uri = signer_key_uri(sg);
		r.cert_sha256 = signer_cert_sha256(sg);
		r.token_serial = signer_token_serial(sg);
	}
	ret = audit_write(ob->audit, &r);
	if (ret)
		sfs_err("audit log: %s", strerror(-ret));
	return ret;
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

int ob_unlink_sig(struct outbox *ob, const char *rel)
{
	char name[NAME_MAX + 1];
	const char *base;
	int dfd, ret;

	dfd = bk_open_parent(&ob->bk, rel, &base);
	if (dfd < 0)
		return dfd == -ENOENT ? 0 : dfd;
	ret = ob_sig_name(base, name);
	if (ret == 0 && unlinkat(dfd, name, 0) < 0 && errno != ENOENT)
		ret = -errno;
	close(dfd);
	return ret == -ENAMETOOLONG ? 0 : ret;
}

int ob_clear_sig_locked(struct outbox *ob, struct bk_inode *i,
			struct ob_inode *s)
{
	char rel[PATH_MAX];
	size_t len;
	int ret;

	ret = bk_relpath(&ob->bk, i, rel, &len);
	if (ret == 0)
		ret = ob_unlink_sig(ob, rel);
	else if (ret == -ENOENT)
		ret = 0; /* no name, no .sig */
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
	char name[NAME_MAX + 1];
	const char *base;
	int dfd, fd, ret = 0;

	dfd = bk_open_parent(&ob->bk, rel, &base);
	if (dfd < 0)
		return dfd;
	if (ob_sig_name(base, name) == 0) {
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
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
	char name[NAME_MAX + 1];
	const char *base;
	int dfd, ret;

	dfd = bk_open_parent(&ob->bk, rel, &base);
	if (dfd < 0)
		return dfd;
	ret = ob_sig_name(base, name);
	if (ret == 0)
		ret = sfs_write_atomic_at(dfd, name, der, len, 0644, sync);
	if (ret == 0)
		ob_own_like(ob, dfd, name, st);
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

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

int ob_sign_digest(struct outbox *ob, const char *rel, size_t rel_len,
		   const struct sfs_digest *digest,
		   const struct sfs_writer *writer, uint8_t **der,
		   size_t *der_len, char *why, size_t why_len)
{
	struct sfs_signer *sg = ob_signer_for(ob, rel);
	struct sfs_error err = {0};
	uint64_t t0 = now_us();
	int ret;

	if (!sg) {
		snprintf(why, why_len, "no signing key for this path");
		return -EIO;
	}
	ret = signer_sign(sg, digest, rel, rel_len, writer, der, der_len,
			  &err);
	sfs_stats_add(&ob->stats, SFS_C_HSM_OPS, 1);
	sfs_stats_latency(&ob->stats, now_us() - t0);
	if (ret)
		snprintf(why, why_len, "signer: %s",
			 err.msg[0] ? err.msg : strerror(ret < 0 ? -ret : EIO));
	return ret ? -EIO : 0;
}

void ob_set_status_locked(struct outbox *ob, struct bk_inode *i,
			  struct ob_inode *s,
			  enum ob_status st, const struct sfs_digest *d,
			  const char *signer, const char *reason)
{
	struct stat sb;

	s->status = st;
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

	ret = bk_stat(&ob->bk, i, st);
	if (ret)
		return ret;
	if (ob_run_final(&s->run, md, (uint64_t)st->st_size, d) == 0)
		return 0;
	fd = bk_reopen(&ob->bk, i, O_RDONLY);
	if (fd < 0)
		return fd;
	ret = sfs_hash_fd(fd, md, d, &size);
	close(fd);
	sfs_stats_add(&ob->stats, SFS_C_BYTES_HASHED, size);
	if (ret == 0 && size != (uint64_t)st->st_size)
		ret = bk_stat(&ob->bk, i, st); /* it grew under us: size for audit */
	return ret;
}

/* Signing failed: audited, and no valid signature stays behind. */
static int sign_failed(struct outbox *ob, struct bk_inode *i,
		       struct ob_inode *s, const char *rel, size_t len,
		       const struct sfs_writer *w, const char *reason)
{
	sfs_err("signing %s failed: %s", rel, reason);
	sfs_stats_add(&ob->stats, SFS_C_SIGN_FAILED, 1);
	ob_audit(ob, "sign-failed", rel, len, -1, NULL, w, reason);
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
	sfs_stats_add(&ob->stats, SFS_C_SIGN_REFUSED, 1);
	if (rel) {
		ob_unlink_sig(ob, rel);
		ob_audit(ob, "sign-refused", rel, len, -1, NULL, w, reason);
	}
	s->sig_cleared = true;
	s->decided_gen = s->content_gen;
	ob_set_status_locked(ob, i, s, OB_ST_FAILED, NULL, NULL, reason);
}

int ob_sign_locked(struct outbox *ob, struct bk_inode *i, struct ob_inode *s,
		   const struct sfs_writer *w)
{
	bool sync = ob_conf(ob)->cfg->sync_sig || s->sync_next;
	char rel[PATH_MAX], why[160];
	struct sfs_signer *sg;
	struct sfs_digest d;
	uint8_t *der = NULL;
	size_t len, der_len;
	struct stat st;
	int ret;

	ret = bk_relpath(&ob->bk, i, rel, &len);
	if (ret == -ENOENT) {
		s->decided_gen = s->content_gen; /* unlinked: nothing to sign */
		return 0;
	}
	if (ret) {
		sfs_err("signing: no path below BACKING: %s", strerror(-ret));
		return -EIO;
	}
	if (s->write_failed) {
		refuse_locked(ob, i, s, rel, len, w, s->write_failed_why);
		sfs_err("not signing %s: %s", rel, s->write_failed_why);
		return -EIO;
	}
	sg = ob_signer_for(ob, rel);
	ret = content_digest_locked(ob, i, s, sg ? signer_md(sg) : ob->md, &d,
				    &st);
	if (ret) {
		snprintf(why, sizeof(why), "cannot hash: %s", strerror(-ret));
		return sign_failed(ob, i, s, rel, len, w, why);
	}
	if (ob_sign_digest(ob, rel, len, &d, w, &der, &der_len, why,
			   sizeof(why)))
		return sign_failed(ob, i, s, rel, len, w, why);
	/* The record comes first: no signature exists without one. */
	if (ob_audit(ob, "sign", rel, len, st.st_size, &d, w, NULL)) {
		free(der);
		return sign_failed(ob, i, s, rel, len, w,
				   "cannot write the audit record");
	}
	ret = ob_install_sig(ob, rel, der, der_len, &st, sync);
	free(der);
	if (ret) {
		snprintf(why, sizeof(why), "cannot write .sig: %s",
			 strerror(-ret));
		return sign_failed(ob, i, s, rel, len, w, why);
	}
	sfs_stats_add(&ob->stats, SFS_C_SIGNED, 1);
	s->sig_cleared = false;
	s->sync_next = false;
	s->decided_gen = s->content_gen;
	s->sign_seq = atomic_fetch_add(&ob->seq, 1) + 1;
	ob_set_status_locked(ob, i, s, OB_ST_SIGNED, &d, signer_cert_sha256(sg),
			     NULL);
	return 0;
}

void ob_refuse_locked(struct outbox *ob, struct bk_inode *i,
		      struct ob_inode *s, uint64_t open_seq, bool must_sign,
		      const struct sfs_writer *w, const struct ob_exit *ex)
{
	char rel[PATH_MAX], reason[96];
	size_t len;

	/*
	 * Whatever this handle may have written is unsigned: the content
	 * changed since the last decision, or a signature was made while
	 * the handle was open (another close signed bytes it wrote).
	 */
	if (!must_sign && s->content_gen == s->decided_gen &&
	    s->sign_seq < open_seq)
		return;
	if (ex->signal)
		snprintf(reason, sizeof(reason),
			 "writer killed by signal %d", ex->signal);
	else
		snprintf(reason, sizeof(reason), "writer exited with status %d",
			 ex->status);
	if (bk_relpath(&ob->bk, i, rel, &len))
		refuse_locked(ob, i, s, NULL, 0, w, reason);
	else
		refuse_locked(ob, i, s, rel, len, w, reason);
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
	if (ret)
		return ret;
	struct sfs_verifier *verifier = ob_conf(ob)->verifier;

	if (!verifier) {
		free(der);
		return sfs_hash_fd(fd, md, &c->digest, NULL);
	}
	memset(&info, 0, sizeof(info));
	/* The inbox's verdict at the old path, its [rule] applied. */
	vr = verdict_check_fd(ob_conf(ob)->cfg, verifier, rel,
			      &(struct verdict_sig){der, len, VR_OK}, fd, &info);
	free(der);
	if (vr != VR_OK) {
		sig_info_clear(&info);
		c->reason = verify_reason_name(vr);
		return vr == VR_IO ? -EIO : -EBADMSG;
	}
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
