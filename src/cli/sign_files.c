// SPDX-License-Identifier: Apache-2.0
/*
 * What `signetfs sign` does once its options are parsed: one HSM login,
 * many files signed on parallel threads, each through the signing
 * transaction (audit record durable, then the .sig installed).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "signetfs/audit.h"
#include "signetfs/config.h"
#include "signetfs/policy.h"
#include "signetfs/signer.h"
#include "signetfs/state.h"
#include "signetfs/util.h"

/* A signature whose record is written, not yet known to be durable. */
struct pending {
	size_t i;
	char *sig; /* FILE.sig */
	uint8_t *der;
	size_t len;
	/* For the sign-failed record if it cannot be installed after all. */
	char *rel;
	int64_t size;
	struct sfs_digest digest;
	struct sfs_signer *signer; /* its key, for the records */
	struct stat st;		   /* the file's mode and owner */
	off_t end;		   /* where its sign record ends in the log */
	uint64_t seq;		   /* and its seq, for a sign-failed */
};

#define BATCH 64
/* Signed files waiting for the committer; a worker past it waits. */
#define QUEUE_MAX (4 * BATCH)
/*
 * Replaced .sig files waiting to be let go, and the threads that do it:
 * a discard is a wait, not work, so a few run at once.
 */
#define CLOSER_MAX 256
#define CLOSER_THREADS 2
/*
 * Without -j: a thread per CPU, unless the token takes SLOW_TOKEN_US or
 * more a signature (a network HSM: its time is a wait, not our CPU), and
 * then INFLIGHT signatures at once, each on its own session. Judged by
 * the fastest of the first PROBE signatures, made one at a time.
 */
#define SLOW_TOKEN_US 2000
#define INFLIGHT 16
#define PROBE 3

struct sign_job {
	struct sfs_signer *signer; /* the default, or the one asked for */
	uint64_t probe_us[PROBE];  /* the first files' signing, timed */
	/*
	 * With --config and no key of its own: the config's keys, so a file
	 * under a [rule] with a key is signed with that key, as the outbox
	 * does. NULL: every file is signed with signer.
	 */
	struct sfs_keyring *ring;
	const struct sfs_config *cfg;
	struct audit_log *audit;
	const char *root;
	char **files;
	const uint64_t *sizes;
	struct cli_progress *progress;
	int *result; /* enum sfs_exit per file */
	char **msg;  /* error per file, or NULL */
	struct sfs_writer writer;
	bool sync;
	/* --state: each file's version, on disk before any is signed. */
	struct state_store *state;
	uint64_t *versions;
	/*
	 * Signed, recorded, waiting for the records to be durable before
	 * their .sig files are written: one audit sync per batch, not per
	 * file (a serial fdatasync per file cost a third of the run). The
	 * committer thread takes them BATCH at a time, makes their records
	 * durable and installs them, so that no worker sleeps in fdatasync
	 * (0.5 ms each here, 21 ms under other jobs' writes) instead of
	 * signing. A ring of QUEUE_MAX, under batch_lock.
	 */
	pthread_mutex_t batch_lock;
	pthread_cond_t ready_cv; /* a batch is ready, or done: committer */
	pthread_cond_t room_cv;	 /* the queue has room: workers */
	struct pending *queue;
	size_t qhead, qlen;
	bool done;	 /* no more will come */
	bool committing; /* the committer runs */
	pthread_t committer;
	/* RFC 3161: the config's TSAs (NULL: none), asked once all signed. */
	struct sfs_tsaset *tsas;
	/*
	 * The .sig files each install replaces, closed here: the rename then
	 * does not free the old inode on the signing thread (ext4 with
	 * discard waits for the device there, ~0.1 ms a file). NULL: inline.
	 */
	struct sfs_closer *closer;
};

static void fail_file(struct sign_job *j, size_t i, enum sfs_exit ex,
		      const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void fail_file(struct sign_job *j, size_t i, enum sfs_exit ex,
		      const char *fmt, ...)
{
	char *m = NULL;
	va_list ap;

	j->result[i] = ex;
	va_start(ap, fmt);
	if (vasprintf(&m, fmt, ap) < 0)
		m = NULL;
	va_end(ap);
	j->msg[i] = m;
}

/*
 * The record of rel's signature, with its key: audit_sign_begin and
 * audit_sign_abort make it the signing transaction's steps (1) and (4).
 */
static struct audit_record sign_record(const struct sign_job *j,
				       const struct sfs_signer *sg,
				       const char *rel, int64_t size,
				       const struct sfs_digest *d)
{
	struct audit_record r = {
	    .path = rel,
	    .path_len = strlen(rel),
	    .size = size,
	    .digest = d,
	    .writer = &j->writer,
	};

	audit_record_key(&r, sg);
	return r;
}

int cli_install_sig(const char *sig, const void *der, size_t len, mode_t mode,
		    const struct stat *owner, bool sync)
{
	int ret = sfs_write_atomic_at(AT_FDCWD, sig, der, len, mode, sync);

	if (ret == 0 && geteuid() == 0 &&
	    fchownat(AT_FDCWD, sig, owner->st_uid, owner->st_gid,
		     AT_SYMLINK_NOFOLLOW) < 0)
		ret = -errno;
	return ret;
}

/*
 * FILE.sig exactly as readable as FILE (st) and, when we are root, owned
 * like it: a signature tells the file's digest, size and writer, so it
 * must not be readable by more users than the file. The .sig it replaces
 * is held open across the rename and let go on the closer's thread.
 */
static int install_sig(struct sign_job *j, const char *sig, const uint8_t *der,
		       size_t len, const struct stat *st)
{
	int old = j->closer
		      ? openat(AT_FDCWD, sig, O_PATH | O_NOFOLLOW | O_CLOEXEC)
		      : -1;
	int ret = cli_install_sig(sig, der, len, (st->st_mode & 0444) | 0200,
				  st, j->sync);

	sfs_closer_put(j->closer, old);
	return ret;
}

/* Make the batch's records durable, then write its .sig files. */
static void batch_install(struct sign_job *j, const struct pending *p, size_t n,
			  off_t end)
{
	int sync_err = audit_sync_to(j->audit, end);

	for (size_t k = 0; k < n; k++) {
		const char *why = NULL;
		int ret = 0;

		if (sync_err) {
			fail_file(j, p[k].i, SFS_EXIT_REFUSED,
				  "%s: cannot write the audit log: %s",
				  p[k].sig, strerror(-sync_err));
			why = "audit log not durable; signature not written";
		} else if ((ret = install_sig(j, p[k].sig, p[k].der, p[k].len,
					      &p[k].st))) {
			fail_file(j, p[k].i, SFS_EXIT_REFUSED,
				  "%s: cannot write: %s", p[k].sig,
				  strerror(-ret));
			why = "cannot write the .sig";
		}
		/* Its sign record is followed by what became of it. */
		if (why) {
			struct audit_record r = sign_record(
			    j, p[k].signer, p[k].rel, p[k].size, &p[k].digest);

			audit_sign_abort(j->audit, &r, why, p[k].seq);
		}
		free(p[k].sig);
		free(p[k].der);
		free(p[k].rel);
	}
}

/* Up to BATCH from the queue into p (the lock held); how many. */
static size_t batch_take_locked(struct sign_job *j, struct pending *p,
				off_t *end)
{
	size_t n = j->qlen < BATCH ? j->qlen : BATCH;

	*end = 0;
	for (size_t k = 0; k < n; k++) {
		p[k] = j->queue[(j->qhead + k) % QUEUE_MAX];
		if (p[k].end > *end)
			*end = p[k].end;
	}
	j->qhead = (j->qhead + n) % QUEUE_MAX;
	j->qlen -= n;
	return n;
}

/*
 * How many replaced .sig files may wait for the closer: CLOSER_MAX, but
 * never more than a quarter of the fd limit, which the files being
 * signed need (past it, sfs_closer_put() closes at once).
 */
static size_t closer_max(void)
{
	struct rlimit rl;
	size_t max = CLOSER_MAX;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 < max)
		max = (size_t)(rl.rlim_cur / 4);
	return max;
}

/* Installs full batches until the workers are done, then the rest. */
static void *committer_main(void *arg)
{
	struct sign_job *j = arg;
	struct pending p[BATCH];
	off_t end;
	size_t n;

	pthread_mutex_lock(&j->batch_lock);
	for (;;) {
		while (j->qlen < BATCH && !j->done)
			pthread_cond_wait(&j->ready_cv, &j->batch_lock);
		n = batch_take_locked(j, p, &end);
		if (!n)
			break; /* done, and nothing left */
		pthread_cond_broadcast(&j->room_cv);
		pthread_mutex_unlock(&j->batch_lock);
		batch_install(j, p, n, end);
		pthread_mutex_lock(&j->batch_lock);
	}
	pthread_mutex_unlock(&j->batch_lock);
	return NULL;
}

/* Queue pd for the committer (without one: install it here and now). */
static void batch_add(struct sign_job *j, const struct pending *pd)
{
	pthread_mutex_lock(&j->batch_lock);
	while (j->committing && j->qlen == QUEUE_MAX)
		pthread_cond_wait(&j->room_cv, &j->batch_lock);
	if (!j->committing) {
		pthread_mutex_unlock(&j->batch_lock);
		batch_install(j, pd, 1, pd->end);
		return;
	}
	j->queue[(j->qhead + j->qlen++) % QUEUE_MAX] = *pd;
	if (j->qlen >= BATCH)
		pthread_cond_signal(&j->ready_cv);
	pthread_mutex_unlock(&j->batch_lock);
}

static void committer_start(struct sign_job *j)
{
	j->queue = calloc(QUEUE_MAX, sizeof(*j->queue));
	j->committing = j->queue && pthread_create(&j->committer, NULL,
						   committer_main, j) == 0;
}

/* After the workers: the committer installs what is left, and ends. */
static void committer_finish(struct sign_job *j)
{
	pthread_mutex_lock(&j->batch_lock);
	j->done = true;
	pthread_cond_signal(&j->ready_cv);
	pthread_mutex_unlock(&j->batch_lock);
	if (j->committing)
		pthread_join(j->committer, NULL);
	j->committing = false;
	free(j->queue);
	j->queue = NULL;
}

/*
 * FILE.sig is renamed over, never opened; but a FIFO, device or directory
 * of that name is not a signature of ours to replace: the user is told.
 */
static bool sig_replaceable(const char *sig)
{
	struct stat st;

	return fstatat(AT_FDCWD, sig, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	       S_ISREG(st.st_mode);
}

/*
 * The key for REL: the [rule]'s with --config (the outbox's choice), the
 * one asked for otherwise. NULL when policy cannot evaluate REL: it is
 * refused, as the outbox and the inbox refuse it.
 */
static struct sfs_signer *signer_for(struct sign_job *j, const char *rel)
{
	const struct sfs_rule *r;

	if (j->cfg && policy_match(j->cfg, rel, &r))
		return NULL;
	return j->ring ? keyring_for(j->ring, r) : j->signer;
}

/*
 * FILE checked and opened: not a .sig, inside the root, a regular file
 * (a FIFO would block, a device act), and FILE.sig replaceable. The fd,
 * with *rel and *sig set; or -1, the failure recorded.
 */
static int open_to_sign(struct sign_job *j, size_t i, char **rel, char **sig,
			struct stat *st)
{
	const char *file = j->files[i];
	int fd, ret;

	*rel = *sig = NULL;
	if (sfs_is_sig_name(file, strlen(file))) {
		fail_file(j, i, SFS_EXIT_REFUSED,
			  "%s: refusing to sign a .sig "
			  "file",
			  file);
		return -1;
	}
	ret = sfs_path_relative(j->root, file, rel);
	if (ret) {
		if (ret == -EXDEV)
			fail_file(j, i, SFS_EXIT_REFUSED,
				  "%s: outside the root (--root)", file);
		else
			fail_file(j, i, SFS_EXIT_REFUSED,
				  "%s: cannot resolve the path: %s", file,
				  strerror(-ret));
		return -1;
	}
	fd = sfs_open_regular_at(AT_FDCWD, file, O_RDONLY, st);
	if (fd < 0) {
		if (fd == -EINVAL)
			fail_file(j, i, SFS_EXIT_REFUSED,
				  "%s: not a regular file (not opened)", file);
		else
			fail_file(j, i, SFS_EXIT_REFUSED, "%s: cannot open: %s",
				  file, strerror(-fd));
		return -1;
	}
	if (asprintf(sig, "%s" SFS_SIG_SUFFIX, file) < 0) {
		*sig = NULL;
		fail_file(j, i, SFS_EXIT_REFUSED, "%s: out of memory", file);
	} else if (!sig_replaceable(*sig)) {
		/* Before anything is signed or recorded. */
		fail_file(j, i, SFS_EXIT_REFUSED,
			  "%s: exists and is not a "
			  "regular file; not replaced",
			  *sig);
	} else {
		return fd;
	}
	close(fd);
	return -1;
}

/*
 * One file, the steps in the order that keeps the audit promise: open it,
 * pick its rule's signer, its version (--state), hash, sign, write the
 * record (durable), then the .sig; each step's failure names the file
 * and its errno. One sequence, kept in one place, hence its length.
 */
static void sign_file(size_t i, void *ctx)
{
	struct sign_job *j = ctx;
	const char *file = j->files[i];
	struct sfs_error err = {0};
	struct sfs_signer *sg;
	struct sfs_digest d;
	uint8_t *der = NULL;
	size_t len = 0;
	uint64_t size = 0;
	char *rel, *sig;
	struct stat st;
	struct audit_record r;
	off_t end = 0;
	uint64_t seq = 0;
	uint64_t t0;
	int fd, ret;

	j->result[i] = SFS_EXIT_OK;
	fd = open_to_sign(j, i, &rel, &sig, &st);
	if (fd < 0)
		goto out;
	sg = signer_for(j, rel);
	if (!sg) {
		fail_file(j, i, SFS_EXIT_REFUSED,
			  "%s: policy cannot evaluate "
			  "this path (deeper than 256 components)",
			  file);
		goto out;
	}
	if (j->versions && !j->versions[i]) {
		fail_file(j, i, SFS_EXIT_REFUSED,
			  "%s: no version for this path (state directory: its "
			  "entry fails its MAC, or is at the maximum)",
			  file);
		goto out;
	}
	ret = sfs_hash_fd(fd, signer_md(sg), &d, &size);
	if (ret) {
		fail_file(j, i, SFS_EXIT_REFUSED, "%s: cannot read: %s", file,
			  strerror(-ret));
		goto out;
	}
	t0 = sfs_now_us();
	ret = signer_sign_versioned(sg, &d, rel, strlen(rel), &j->writer,
				    j->versions ? j->versions[i] : 0, &der,
				    &len, &err);
	if (i < PROBE)
		j->probe_us[i] = sfs_now_us() - t0;
	if (ret) {
		r = sign_record(j, sg, rel, (int64_t)size, &d);
		audit_sign_abort(j->audit, &r, err.msg, 0); /* no sign record */
		fail_file(j, i, err.exit ? err.exit : SFS_EXIT_TOKEN, "%s",
			  err.msg);
		goto out;
	}
	/* The record is written (and durable) before the signature exists. */
	r = sign_record(j, sg, rel, (int64_t)size, &d);
	ret = audit_sign_begin(j->audit, &r, &end, &seq);
	if (ret) {
		fail_file(j, i, SFS_EXIT_REFUSED,
			  "%s: cannot write the audit log: %s", file,
			  strerror(-ret));
		goto out;
	}
	/*
	 * Installed by the committer once the batch's records are durable
	 * (at once without an audit log). Also without an audit log: two
	 * threads creating and renaming in one directory at once spin on
	 * its lock (rwsem_spin_on_owner: a third of the extra CPU of -j 2
	 * with no audit log against the batched path).
	 */
	{
		struct pending pd = {.i = i,
				     .sig = sig,
				     .der = der,
				     .len = len,
				     .rel = rel,
				     .size = (int64_t)size,
				     .digest = d,
				     .signer = sg,
				     .st = st,
				     .end = end,
				     .seq = seq};

		batch_add(j, &pd);
		sig = NULL;
		der = NULL;
		rel = NULL;
	}
out:
	if (fd >= 0)
		close(fd);
	free(der);
	free(rel);
	free(sig);
}

static void sign_one(size_t i, void *ctx)
{
	struct sign_job *j = ctx;

	sign_file(i, ctx);
	cli_progress_add(j->progress, j->sizes[i]);
}

struct sign_rest {
	struct sign_job *j;
	size_t first;
};

static void sign_rest(size_t i, void *ctx)
{
	const struct sign_rest *r = ctx;

	sign_one(r->first + i, r->j);
}

/*
 * Every file, on jobs threads, or (jobs 0) as the token asks: the first
 * PROBE files one at a time, timed, then the rest on a thread per CPU,
 * or on INFLIGHT threads when even the fastest of those signatures took
 * SLOW_TOKEN_US (docs/cli.md, -j).
 */
static void sign_all(struct sign_job *j, size_t n, unsigned jobs)
{
	struct sign_rest r = {.j = j};
	uint64_t fastest = UINT64_MAX;

	if (!jobs) {
		jobs = sfs_cpus();
		while (r.first < PROBE && r.first < n && n > jobs)
			sign_one(r.first++, j);
		for (size_t k = 0; k < r.first; k++) {
			/* a file that failed before its signature: no time */
			if (j->probe_us[k] && j->probe_us[k] < fastest)
				fastest = j->probe_us[k];
		}
		if (r.first && fastest != UINT64_MAX &&
		    fastest >= SLOW_TOKEN_US && jobs < INFLIGHT)
			jobs = INFLIGHT;
	}
	sfs_parallel(n - r.first, jobs, sign_rest, &r, NULL);
}

/*
 * Each file's next version, in one transaction synced once, before any
 * file is signed: a crash then skips numbers, never repeats one. Above
 * the version FILE.sig carries now, if any (an unverified floor: a
 * counter lost or kept elsewhere is not handed out again). A file that
 * cannot have one keeps 0 and fails when signed.
 */
static int alloc_versions(struct sign_job *j, const char *dir, size_t n)
{
	struct sfs_error err = {0};
	int ret;

	if (state_open(dir, j->root, STATE_OUTBOX, 0, &j->state, &err)) {
		cli_error("sign", "%s", err.msg);
		return SFS_EXIT_USAGE;
	}
	j->versions = calloc(n ? n : 1, sizeof(*j->versions));
	if (!j->versions || state_batch_begin(j->state))
		return SFS_EXIT_USAGE;
	for (size_t i = 0; i < n; i++) {
		char *rel = NULL, *sig = NULL;
		uint8_t *der = NULL;
		uint64_t floor = 0;
		size_t len;

		if (sfs_path_relative(j->root, j->files[i], &rel) ||
		    asprintf(&sig, "%s" SFS_SIG_SUFFIX, j->files[i]) < 0) {
			free(rel);
			continue; /* refused when it is signed */
		}
		if (!sfs_read_file_at(AT_FDCWD, sig, SFS_SIG_MAX, &der, &len))
			sig_peek_version(der, len, &floor);
		state_version_next(j->state, rel, strlen(rel), floor,
				   &j->versions[i]);
		free(der);
		free(sig);
		free(rel);
	}
	ret = state_batch_end(j->state);
	if (ret)
		cli_error("sign", "%s: cannot keep the versions: %s", dir,
			  strerror(-ret));
	return ret ? SFS_EXIT_USAGE : 0;
}

/* The config (if any) with the command line's key settings over it. */
static int key_config(const struct sign_options *o, struct sfs_config **cfg,
		      struct sfs_key_config *kc)
{
	const struct sfs_key_config *over = &o->key;
	struct sfs_error err = {0};

	*kc = (struct sfs_key_config){.md = SFS_MD_SHA256};
	if (o->config) {
		if (config_load(o->config, cfg, &err)) {
			cli_error("sign", "%s", err.msg);
			return -1;
		}
		*kc = (*cfg)->key;
	}
	if (over->module)
		kc->module = over->module;
	if (over->key_uri)
		kc->key_uri = over->key_uri;
	if (over->cert)
		kc->cert = over->cert;
	if (over->chain)
		kc->chain = over->chain;
	if (over->pin_file)
		kc->pin_file = over->pin_file;
	return 0;
}

/*
 * The keys: with a config and no key option, the config's own (each path
 * with its rule's key, as the outbox signs); otherwise the one key given.
 * Then the audit log, whose checkpoints the default key signs.
 */
static int open_keys(struct sign_job *j, const struct sign_options *o,
		     const struct sfs_key_config *kc)
{
	const struct sfs_key_config *over = &o->key;
	struct sfs_error err = {0};
	int e;

	if (j->cfg && !over->module && !over->key_uri && !over->cert &&
	    !over->chain && !over->pin_file && j->cfg->key.key_uri) {
		if (keyring_open(j->cfg, &j->ring, &err) == 0)
			j->signer = keyring_default(j->ring);
	} else if (signer_open(kc, &j->signer, &err) != 0) {
		j->signer = NULL;
	}
	if (!j->signer) {
		cli_error("sign", "%s", err.msg);
		return err.exit ? err.exit : SFS_EXIT_TOKEN;
	}
	if (j->cfg && j->cfg->audit_log) {
		e = audit_open_config(j->cfg, j->signer, &j->audit);
		if (e) {
			cli_error("sign", "cannot open the audit log %s: %s",
				  j->cfg->audit_log, strerror(-e));
			return SFS_EXIT_USAGE;
		}
	}
	return 0;
}

/* Each failure on stderr; the exit code: a token error outranks a refusal. */
static int report(struct sign_job *j, size_t n, bool verbose, int ret)
{
	for (size_t i = 0; i < n; i++) {
		if (j->result[i] == SFS_EXIT_OK) {
			if (verbose)
				printf("signed %s\n", j->files[i]);
			continue;
		}
		cli_error("sign", "%s", j->msg[i] ? j->msg[i] : j->files[i]);
		if (ret != SFS_EXIT_TOKEN)
			ret = j->result[i];
		free(j->msg[i]);
	}
	return ret;
}

/* With a config that sets tsa-url: its TSAs, opened before any signing. */
static int open_tsas(struct sign_job *j)
{
	struct sfs_error err = {0};

	if (!j->cfg)
		return 0;
	if (policy_tsas_open(j->cfg, &j->tsas, &err)) {
		cli_error("sign", "%s", err.msg);
		return -1;
	}
	if (!policy_tsas_any(j->tsas)) {
		policy_tsas_close(j->tsas);
		j->tsas = NULL;
	}
	return 0;
}

/*
 * The signatures are made and installed; now their tokens, all files at
 * once (several requests in flight). A TSA that does not answer leaves
 * valid signatures without a token: exit 1, and `signetfs timestamp`
 * adds the tokens later (docs/operations.md).
 */
static int stamp_signed(struct sign_job *j, size_t n,
			const struct sign_options *o, int ret)
{
	struct stamp_run r = {.cmd = "sign",
			      .cfg = j->cfg,
			      .tsas = j->tsas,
			      .audit = j->audit,
			      .root = j->root,
			      .verbose = o->verbose,
			      .after_sign = true,
			      .sync = j->sync};
	char **ok = calloc(n ? n : 1, sizeof(*ok));

	if (!j->tsas || !ok) {
		free(ok);
		return ret;
	}
	for (size_t i = 0; i < n; i++)
		if (j->result[i] == SFS_EXIT_OK)
			ok[r.n++] = j->files[i];
	r.files = ok;
	if (stamp_files(&r) || r.failed)
		ret = ret == SFS_EXIT_OK ? SFS_EXIT_REFUSED : ret;
	free(ok);
	return ret;
}

int sign_files(const struct sign_options *o)
{
	struct sign_job j = {.root = o->root ? o->root : ".",
			     .batch_lock = PTHREAD_MUTEX_INITIALIZER,
			     .ready_cv = PTHREAD_COND_INITIALIZER,
			     .room_cv = PTHREAD_COND_INITIALIZER};
	struct sfs_config *cfg = NULL;
	struct sfs_key_config kc;
	struct cli_files files = {0};
	int ret = SFS_EXIT_USAGE, walk_errors;
	const char *state;
	size_t n;

	if (key_config(o, &cfg, &kc))
		return SFS_EXIT_USAGE;
	j.cfg = cfg;
	if (open_tsas(&j))
		goto out;
	j.sync = o->sync || (cfg && cfg->sync_sig);
	ret = open_keys(&j, o, &kc);
	if (ret)
		goto out;
	ret = SFS_EXIT_USAGE;
	sfs_writer_self(&j.writer);
	walk_errors =
	    cli_files_collect(&files, o->args, o->nargs, o->recursive, "sign");
	if (walk_errors < 0)
		goto out;
	n = files.n;
	j.files = files.v;
	j.sizes = files.size;
	j.result = calloc(n ? n : 1, sizeof(*j.result));
	j.msg = calloc(n ? n : 1, sizeof(*j.msg));
	if (!j.result || !j.msg) {
		cli_error("sign", "out of memory");
		goto out;
	}
	state = o->state ? o->state : cfg ? cfg->state_dir : NULL;
	if (state && (ret = alloc_versions(&j, state, n)) != 0)
		goto out;
	j.progress = cli_progress_new("sign", n, files.bytes);
	j.closer = sfs_closer_new(CLOSER_THREADS, closer_max());
	committer_start(&j);
	sign_all(&j, n, o->jobs);
	committer_finish(&j);
	sfs_closer_free(j.closer);
	j.closer = NULL;
	cli_progress_end(j.progress);
	ret = report(&j, n, o->verbose,
		     walk_errors ? SFS_EXIT_REFUSED : SFS_EXIT_OK);
	ret = stamp_signed(&j, n, o, ret);
out:
	cli_files_free(&files);
	free(j.result);
	free(j.msg);
	/* A log that did not close clean fails the command (audit.h). */
	if (audit_close(j.audit) && ret == SFS_EXIT_OK)
		ret = SFS_EXIT_REFUSED;
	state_close(j.state);
	free(j.versions);
	policy_tsas_close(j.tsas);
	if (j.ring)
		keyring_close(j.ring);
	else
		signer_close(j.signer);
	config_free(cfg);
	return ret;
}
