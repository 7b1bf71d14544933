// SPDX-License-Identifier: Apache-2.0
/* The outbox's background stamper: RFC 3161 tokens added after the close. */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ob_sign.h"
#include "ob_stamp.h"
#include "outbox.h"
#include "signetfs/log.h"
#include "signetfs/tsa.h"

struct ob_stamp_entry {
	struct ob_stamp_entry *next;
	char *rel;
	uint8_t sha[32];     /* of the .sig as queued */
	bool failed_audited; /* one timestamp-failed record per signature */
};

/*
 * The queue and the thread. Lock order: ob_stamper.lock is a leaf (held
 * only to queue and take entries, never across I/O).
 */
struct ob_stamper {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* CLOCK_MONOTONIC */
	struct ob_stamp_entry *head, **tail;
	size_t n;
	atomic_bool stop;
	unsigned backoff_ms;	  /* 0: the TSA answered last time */
	struct timespec retry_at; /* no batch before it (monotonic) */
	char last_error[200];	  /* for the status xattr */
};

static void sha256(const uint8_t *p, size_t len, uint8_t out[32])
{
	struct sfs_hash *h = sfs_hash_new(SFS_MD_SHA256);
	struct sfs_digest d = {0};

	if (h && sfs_hash_update(h, p, len) == 0)
		sfs_hash_final(h, &d);
	sfs_hash_free(h);
	memcpy(out, d.bytes, 32);
}

static void entry_free(struct ob_stamp_entry *e)
{
	free(e->rel);
	free(e);
}

/* The TSA client where REL's rule applies; NULL: nothing to stamp there. */
static struct sfs_tsa *tsa_for(struct outbox *ob, const char *rel)
{
	struct ob_conf *c = ob_conf(ob);
	const struct sfs_rule *r;

	if (!c->tsas || policy_match(c->cfg, rel, &r))
		return NULL;
	return policy_tsas_for(c->tsas, r);
}

static void audit_stamp(struct outbox *ob, const char *rel,
			const struct tsa_job *j, struct sfs_tsa *tsa)
{
	struct audit_record r = {.path = rel,
				 .path_len = strlen(rel),
				 .size = -1,
				 .key_uri = tsa ? tsa_url(tsa) : NULL};
	char why[320], t[32];

	if (!ob->audit)
		return;
	if (j->err == 0) {
		tsa_time_str(j->stamp.gen_time, t, sizeof(t));
		snprintf(why, sizeof(why), "genTime %s serial %s by %s", t,
			 j->stamp.serial, j->stamp.tsa_subject);
		r.event = "timestamp";
		r.cert_sha256 = j->stamp.tsa_sha256;
	} else {
		snprintf(why, sizeof(why), "%s", j->why);
		r.event = "timestamp-failed";
	}
	r.reason = why;
	if (audit_write(ob->audit, &r))
		sfs_err("audit log: cannot record %s of %s", r.event, rel);
}

void ob_stamp_enqueue(struct outbox *ob, const char *rel, const uint8_t *der,
		      size_t len)
{
	struct ob_stamper *st = ob->stamper;
	struct ob_stamp_entry *e;
	struct tsa_job full = {.err = -ENOSPC};

	if (!st || !tsa_for(ob, rel))
		return;
	e = calloc(1, sizeof(*e));
	if (e)
		e->rel = strdup(rel);
	if (!e || !e->rel) {
		free(e);
		snprintf(full.why, sizeof(full.why), "out of memory");
		audit_stamp(ob, rel, &full, tsa_for(ob, rel));
		return;
	}
	sha256(der, len, e->sha);
	pthread_mutex_lock(&st->lock);
	if (st->n >= OB_STAMP_QUEUE_MAX) {
		pthread_mutex_unlock(&st->lock);
		snprintf(full.why, sizeof(full.why),
			 "%d signatures already wait for the TSA; run "
			 "signetfs timestamp later",
			 OB_STAMP_QUEUE_MAX);
		audit_stamp(ob, rel, &full, tsa_for(ob, rel));
		entry_free(e);
		return;
	}
	*st->tail = e;
	st->tail = &e->next;
	st->n++;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
}

/*
 * The file's inode, pinned: the table's, or looked up along REL as the
 * kernel would (a reference each, dropped by unref_path) when the kernel
 * has forgotten it. Caller holds ns_lock shared, so REL stays REL.
 */
static struct bk_inode *ref_path(struct outbox *ob, const char *rel,
				 struct bk_inode **refs, size_t *n)
{
	struct bk_inode *p = &ob->bk.root, *c = NULL;
	struct fuse_entry_param e;
	char *copy = strdup(rel), *save = NULL;

	*n = 0;
	for (char *t = copy ? strtok_r(copy, "/", &save) : NULL; t;
	     t = strtok_r(NULL, "/", &save)) {
		if (*n == SFS_POLICY_MAX_DEPTH ||
		    bk_lookup(&ob->bk, p, t, &e, &c)) {
			c = NULL;
			break;
		}
		refs[(*n)++] = c;
		p = c;
	}
	free(copy);
	if (c && bk_pin(&ob->bk, c) < 0)
		c = NULL;
	return c;
}

static void unref_path(struct outbox *ob, struct bk_inode *i,
		       struct bk_inode **refs, size_t n)
{
	if (i)
		bk_unpin(&ob->bk, i);
	while (n-- > 0)
		bk_forget(&ob->bk, refs[n], 1);
}

/*
 * Under the file's lock (every change of a .sig happens under it, or
 * under ns_lock held exclusively): replace REL.sig by the stamped one only
 * if it still is, byte for byte, the one that was sent. A write that
 * removed it, a new signature, a rename: the token is dropped. Installed
 * as a close installs it: moded and owned like the file, the directory's
 * mtime kept.
 */
static int install_locked(struct outbox *ob, struct bk_inode *i,
			  const char *rel, const struct tsa_job *j)
{
	uint8_t *now = NULL;
	size_t len = 0;
	struct stat st;
	int ret;

	ret = ob_read_sig(ob, rel, &now, &len);
	if (ret == 0 && (len != j->sig_len || memcmp(now, j->sig, len)))
		ret = -ESTALE;
	free(now);
	if (ret == 0)
		ret = bk_stat(&ob->bk, i, &st);
	if (ret == 0)
		ret = ob_install_sig(ob, rel, j->out, j->out_len, &st,
				     ob_conf(ob)->cfg->sync_sig);
	return ret;
}

static int install(struct outbox *ob, const char *rel, const struct tsa_job *j)
{
	struct bk_inode *refs[SFS_POLICY_MAX_DEPTH], *i;
	size_t n = 0;
	int ret = -ENOENT;

	pthread_rwlock_rdlock(&ob->ns_lock);
	i = ref_path(ob, rel, refs, &n);
	if (i) {
		pthread_mutex_lock(&i->lock);
		ret = install_locked(ob, i, rel, j);
		pthread_mutex_unlock(&i->lock);
	}
	unref_path(ob, i, refs, n);
	pthread_rwlock_unlock(&ob->ns_lock);
	return ret;
}

/* A failure that says the TSA (not this signature) is the problem. */
static bool tsa_down(int err)
{
	return err == -ETIMEDOUT || err == -ECONNREFUSED || err == -EPROTO ||
	       err == -EIO || err == -EBADMSG || err == -ECANCELED;
}

struct batch {
	struct ob_stamp_entry *e[OB_STAMP_BATCH];
	uint8_t *der[OB_STAMP_BATCH];
	struct sfs_tsa *tsa[OB_STAMP_BATCH];
	struct tsa_job job[OB_STAMP_BATCH];
	size_t n;
};

/* Read each queued .sig; drop those changed, gone or stamped already. */
static void prepare(struct outbox *ob, struct batch *b)
{
	uint8_t sha[32];
	size_t len;

	for (size_t k = 0; k < b->n; k++) {
		b->der[k] = NULL;
		b->tsa[k] = tsa_for(ob, b->e[k]->rel);
		if (!b->tsa[k] ||
		    ob_read_sig(ob, b->e[k]->rel, &b->der[k], &len))
			continue;
		sha256(b->der[k], len, sha);
		if (memcmp(sha, b->e[k]->sha, 32)) {
			free(b->der[k]); /* signed again since: queued again */
			b->der[k] = NULL;
			continue;
		}
		b->job[k] = (struct tsa_job){.sig = b->der[k], .sig_len = len};
	}
}

/* Every job of one TSA at once. */
static void send(struct outbox *ob, struct batch *b, struct sfs_tsa *tsa)
{
	struct tsa_job jobs[OB_STAMP_BATCH];
	size_t m = 0;

	for (size_t k = 0; k < b->n; k++)
		if (b->der[k] && b->tsa[k] == tsa)
			jobs[m++] = b->job[k];
	tsa_stamp_jobs(tsa, jobs, m, &ob->stamper->stop);
	m = 0;
	for (size_t k = 0; k < b->n; k++)
		if (b->der[k] && b->tsa[k] == tsa)
			b->job[k] = jobs[m++];
}

/* Results: installed and audited, or back to the queue (true: retry). */
static bool settle(struct outbox *ob, struct batch *b, size_t k,
		   struct ob_stamp_entry ***retry)
{
	struct tsa_job *j = &b->job[k];
	struct ob_stamp_entry *e = b->e[k];
	bool again = false;
	int ret;

	if (b->der[k] && j->err == 0) {
		ret = install(ob, e->rel, j);
		if (ret == 0)
			audit_stamp(ob, e->rel, j, b->tsa[k]);
		else if (ret != -ESTALE && ret != -ENOENT)
			sfs_err("%s: cannot add the timestamp: %s", e->rel,
				strerror(-ret));
	} else if (b->der[k] && j->err != -EEXIST) {
		again = tsa_down(j->err) && !atomic_load(&ob->stamper->stop);
		if (!e->failed_audited || !again) {
			sfs_warn("%s: not timestamped yet: %s", e->rel, j->why);
			audit_stamp(ob, e->rel, j, b->tsa[k]);
			e->failed_audited = true;
		}
	}
	tsa_job_clear(j);
	free(b->der[k]);
	if (again) {
		**retry = e;
		*retry = &e->next;
	} else {
		entry_free(e);
	}
	return again;
}

static void batch_run(struct outbox *ob, struct batch *b)
{
	struct ob_stamper *st = ob->stamper;
	struct ob_stamp_entry *retry = NULL, **rt = &retry;
	size_t failed = 0, ok = 0;

	ob_op_enter(ob);
	prepare(ob, b);
	for (size_t k = 0; k < b->n; k++) {
		bool first = b->der[k] != NULL;

		for (size_t q = 0; first && q < k; q++)
			first = !(b->der[q] && b->tsa[q] == b->tsa[k]);
		if (first)
			send(ob, b, b->tsa[k]);
	}
	for (size_t k = 0; k < b->n; k++) {
		if (b->der[k] && b->job[k].err == 0)
			ok++;
		else if (b->der[k] && b->job[k].err != -EEXIST)
			snprintf(st->last_error, sizeof(st->last_error), "%s",
				 b->job[k].why);
		failed += settle(ob, b, k, &rt);
	}
	ob_op_leave(ob);
	pthread_mutex_lock(&st->lock);
	if (retry) {
		/* Back at the front, in their order: the oldest first. */
		*rt = st->head;
		if (!st->head)
			st->tail = rt;
		st->head = retry;
		st->n += failed;
	}
	if (failed) {
		st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2
						: OB_STAMP_BACKOFF_MIN_MS;
		if (st->backoff_ms > OB_STAMP_BACKOFF_MAX_MS)
			st->backoff_ms = OB_STAMP_BACKOFF_MAX_MS;
		clock_gettime(CLOCK_MONOTONIC, &st->retry_at);
		st->retry_at.tv_sec += st->backoff_ms / 1000;
		st->retry_at.tv_nsec += (long)(st->backoff_ms % 1000) * 1000000;
		if (st->retry_at.tv_nsec >= 1000000000) {
			st->retry_at.tv_sec++;
			st->retry_at.tv_nsec -= 1000000000;
		}
	} else if (ok) {
		st->backoff_ms = 0;
		st->last_error[0] = '\0';
	}
	pthread_mutex_unlock(&st->lock);
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Up to a batch from the queue, once there is one and no backoff holds. */
static bool take(struct ob_stamper *st, struct batch *b)
{
	struct timespec now;

	pthread_mutex_lock(&st->lock);
	for (;;) {
		if (atomic_load(&st->stop))
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (st->n && !(st->backoff_ms && before(&now, &st->retry_at)))
			break;
		if (st->n)
			pthread_cond_timedwait(&st->cond, &st->lock,
					       &st->retry_at);
		else
			pthread_cond_wait(&st->cond, &st->lock);
	}
	b->n = 0;
	while (!atomic_load(&st->stop) && st->head && b->n < OB_STAMP_BATCH) {
		b->e[b->n++] = st->head;
		st->head = st->head->next;
		st->n--;
	}
	if (!st->head)
		st->tail = &st->head;
	pthread_mutex_unlock(&st->lock);
	for (size_t k = 0; k < b->n; k++)
		b->e[k]->next = NULL;
	return b->n > 0;
}

static void *stamper_main(void *arg)
{
	struct outbox *ob = arg;
	struct batch *b = malloc(sizeof(*b));

	if (!b) {
		sfs_err("stamper: out of memory; nothing is timestamped");
		return NULL;
	}
	while (take(ob->stamper, b))
		batch_run(ob, b);
	free(b);
	return NULL;
}

int ob_stamper_start(struct outbox *ob)
{
	struct ob_stamper *st = calloc(1, sizeof(*st));
	pthread_condattr_t ca;
	int ret;

	if (!st)
		return -ENOMEM;
	pthread_mutex_init(&st->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&st->cond, &ca);
	pthread_condattr_destroy(&ca);
	st->tail = &st->head;
	ob->stamper = st;
	ret = pthread_create(&st->thread, NULL, stamper_main, ob);
	if (ret) {
		ob->stamper = NULL;
		pthread_cond_destroy(&st->cond);
		pthread_mutex_destroy(&st->lock);
		free(st);
		return -ret;
	}
	return 0;
}

void ob_stamper_stop(struct outbox *ob)
{
	struct ob_stamper *st = ob->stamper;
	struct ob_stamp_entry *e;
	struct tsa_job left = {.err = -ECANCELED};

	if (!st)
		return;
	pthread_mutex_lock(&st->lock);
	atomic_store(&st->stop, true);
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	pthread_join(st->thread, NULL);
	snprintf(left.why, sizeof(left.why),
		 "unmounted before the TSA answered: run signetfs "
		 "timestamp");
	ob_op_enter(ob);
	while ((e = st->head)) {
		st->head = e->next;
		audit_stamp(ob, e->rel, &left, tsa_for(ob, e->rel));
		entry_free(e);
	}
	ob_op_leave(ob);
	ob->stamper = NULL;
	pthread_cond_destroy(&st->cond);
	pthread_mutex_destroy(&st->lock);
	free(st);
}

void ob_stamp_status(struct outbox *ob, struct bk_inode *i, char *out,
		     size_t len)
{
	char rel[PATH_MAX], t[32], err[200] = "";
	uint8_t *der = NULL;
	size_t n = 0, dlen;
	time_t gen = 0;
	int stamped = -1;

	if (bk_relpath(&ob->bk, i, rel, &n) == 0 &&
	    ob_read_sig(ob, rel, &der, &dlen) == 0)
		stamped = tsa_sig_stamped(der, dlen, &gen);
	free(der);
	n = strlen(out);
	if (stamped == 1) {
		tsa_time_str(gen, t, sizeof(t));
		snprintf(out + n, len - n, ", timestamped %s", t);
		return;
	}
	if (stamped != 0 || !tsa_for(ob, rel))
		return;
	if (ob->stamper) {
		pthread_mutex_lock(&ob->stamper->lock);
		snprintf(err, sizeof(err), "%s", ob->stamper->last_error);
		pthread_mutex_unlock(&ob->stamper->lock);
	}
	snprintf(out + n, len - n, ", not timestamped yet%s%.120s%s",
		 err[0] ? " (last try: " : "", err, err[0] ? ")" : "");
}
