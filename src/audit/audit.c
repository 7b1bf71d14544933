// SPDX-License-Identifier: Apache-2.0
/* Hash-chained JSON Lines audit log: each record carries SHA-256(prev line). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "audit_int.h"
#include "signetfs/config.h"
#include "signetfs/json.h"
#include "signetfs/log.h"
#include "signetfs/signer.h"
#include "signetfs/util.h"

/*
 * Lock order: lock, then sync_lock. flock(fd) is taken inside lock and
 * serialises writers in other processes sharing the log.
 */
struct audit_log {
	pthread_mutex_t lock;
	int fd;
	struct audit_options opt;
	off_t known_size; /* size after our last write, -1: unknown */
	char prev[65];	  /* hex SHA-256 of the last line */
	uint64_t seq;	  /* seq of the last line */
	/*
	 * This open of the log: its id is on every line it writes, and its
	 * checkpoints seal the running hash of exactly those lines, kept
	 * here and never read back from the file, so that a checkpoint
	 * vouches for nothing another process (or an editor) put in between.
	 */
	char session[AUDIT_SESSION_HEX + 1];
	uint8_t sess_hash[32];	/* audit_sess_fold() over our lines */
	uint64_t sess_lines;	/* lines we wrote, checkpoints included */
	unsigned int pending;	/* our records since our last checkpoint */
	struct sfs_writer self; /* identity in the open record */
	/*
	 * Records this process could not write (a full disk), not yet said
	 * in a records-lost line, and the first error; under lock.
	 */
	uint64_t lost;
	int lost_err;

	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cv;
	off_t written_end; /* file offset after the newest record */
	off_t synced_end;  /* everything before this is on disk */
	bool syncing;	   /* a leader is in fdatasync */
	/*
	 * A failed fdatasync, for good: the next one on the same fd returns
	 * 0 although the pages it could not write may be gone, so nothing
	 * after a failure may count as durable.
	 */
	int sync_err;

	pthread_t sealer; /* checkpoints every checkpoint_secs */
	bool sealer_running, stop;
	pthread_cond_t stop_cv;
	/*
	 * The syncer leads an fdatasync up to sync_want on its own, so that
	 * a signer's wait for its record overlaps the signing
	 * (audit_sync_start). Started at the first request; sync_want_cv wakes
	 * it.
	 */
	pthread_t syncer;
	bool syncer_running, syncer_failed;
	off_t sync_want;
	pthread_cond_t sync_want_cv;
};

static uint64_t line_seq(const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o, *s;
	uint64_t seq = 0;

	if (!tok)
		return 0;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (o && json_object_object_get_ex(o, "seq", &s))
		seq = (uint64_t)json_object_get_int64(s);
	json_object_put(o);
	json_tokener_free(tok);
	return seq;
}

/*
 * Recompute prev and seq from the file's last line: another process sharing
 * the log may have appended since our last write (we hold its flock).
 */
static int load_tail_locked(struct audit_log *log)
{
	struct stat st;
	char *buf = NULL;
	size_t want, got = 0;
	off_t start;
	int ret;

	SFS_ASSERT_HELD(&log->lock);
	if (fstat(log->fd, &st) < 0)
		return -errno;
	if (st.st_size == log->known_size)
		return 0;
	memset(log->prev, '0', 64);
	log->prev[64] = '\0';
	log->seq = 0;
	log->known_size = st.st_size;
	if (st.st_size == 0)
		return 0;
	want =
	    st.st_size < AUDIT_LINE_MAX ? (size_t)st.st_size : AUDIT_LINE_MAX;
	start = st.st_size - (off_t)want;
	buf = malloc(want);
	if (!buf)
		return -ENOMEM;
	ret = sfs_full_pread(log->fd, buf, want, start, &got);
	if (ret == 0 && (got != want || buf[want - 1] != '\n'))
		ret = -EBADMSG; /* a torn last line: refuse to chain on it */
	if (ret == 0) {
		size_t end = want - 1, b = end;
		uint8_t h[32];

		while (b > 0 && buf[b - 1] != '\n')
			b--;
		if (b == 0 && start != 0) {
			ret = -E2BIG;
		} else {
			sfs_sha256(buf + b, end - b, h);
			sfs_hex(h, 32, log->prev);
			log->seq = line_seq(buf + b, end - b);
		}
	}
	free(buf);
	if (ret)
		log->known_size = -1;
	return ret;
}

static void rfc3339_now(char *out, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

static void opt_str(struct json_buf *b, const char *key, const char *v)
{
	if (!v)
		return;
	sfs_json_printf(b, ",\"%s\":", key);
	sfs_json_str(b, v, strlen(v));
}

static void format_head(struct json_buf *b, const struct audit_log *log,
			const char *event)
{
	char now[64];

	rfc3339_now(now, sizeof(now));
	sfs_json_printf(b,
			"{\"v\":%d,\"seq\":%llu,\"session\":\"%s\","
			"\"time\":\"%s\",\"event\":",
			AUDIT_FORMAT, (unsigned long long)log->seq + 1,
			log->session, now);
	sfs_json_str(b, event, strlen(event));
}

static void format_path(struct json_buf *b, const char *path, size_t len)
{
	char *hex;

	sfs_json_raw(b, ",\"path\":", 8);
	if (sfs_json_str(b, path, len))
		return;
	/* Not UTF-8: the exact bytes too, so nothing is lost. */
	hex = malloc(2 * len + 1);
	if (!hex) {
		b->oom = true;
		return;
	}
	sfs_hex((const uint8_t *)path, len, hex);
	sfs_json_printf(b, ",\"path_hex\":\"%s\"", hex);
	free(hex);
}

static void format_key(struct json_buf *b, const char *uri, const char *fp,
		       const char *serial)
{
	if (!uri && !fp)
		return;
	sfs_json_raw(b, ",\"key\":{\"v\":1", 13);
	opt_str(b, "uri", uri);
	opt_str(b, "cert_sha256", fp);
	opt_str(b, "token_serial", serial);
	sfs_json_raw(b, "}", 1);
}

static void format_writer(struct json_buf *b, const struct sfs_writer *w)
{
	sfs_json_printf(b, ",\"writer\":{\"uid\":%u,\"gid\":%u,\"pid\":%d",
			w->uid, w->gid, w->pid);
	opt_str(b, "user", w->user);
	opt_str(b, "exe", w->exe);
	sfs_json_raw(b, "}", 1);
}

static void format_record(struct json_buf *b, const struct audit_log *log,
			  const struct audit_record *r)
{
	format_head(b, log, r->event);
	if (r->path)
		format_path(b, r->path, r->path_len);
	if (r->size >= 0)
		sfs_json_printf(b, ",\"size\":%lld", (long long)r->size);
	if (r->digest) {
		char hex[2 * SFS_MD_MAX + 1];

		sfs_hex(r->digest->bytes, r->digest->len, hex);
		sfs_json_printf(b, ",\"%s\":\"%s\"",
				sfs_md_name(r->digest->alg), hex);
	}
	format_key(b, r->key_uri, r->cert_sha256, r->token_serial);
	if (r->writer)
		format_writer(b, r->writer);
	opt_str(b, "reason", r->reason);
	if (r->answers)
		sfs_json_printf(b, ",\"answers\":%llu",
				(unsigned long long)r->answers);
	sfs_json_printf(b, ",\"prev\":\"%s\"}\n", log->prev);
}

/* Wait until our record (ending at `end`) is on disk, leading or following. */
static int group_sync(struct audit_log *log, off_t end)
{
	int ret = 0;

	pthread_mutex_lock(&log->sync_lock);
	while (log->synced_end < end) {
		off_t target;

		if (log->sync_err) {
			ret = log->sync_err;
			break;
		}
		if (log->syncing) {
			pthread_cond_wait(&log->sync_cv, &log->sync_lock);
			continue;
		}
		log->syncing = true;
		pthread_mutex_unlock(&log->sync_lock);
		if (log->opt.group_ms)
			usleep(log->opt.group_ms * 1000u);
		pthread_mutex_lock(&log->sync_lock);
		target = log->written_end;
		pthread_mutex_unlock(&log->sync_lock);
		/* Covers every write that completed before this point. */
		if (fdatasync(log->fd) < 0)
			ret = -errno;
		pthread_mutex_lock(&log->sync_lock);
		if (ret)
			log->sync_err = ret;
		else if (target > log->synced_end)
			log->synced_end = target;
		log->syncing = false;
		pthread_cond_broadcast(&log->sync_cv);
		if (ret)
			break;
	}
	pthread_mutex_unlock(&log->sync_lock);
	return ret;
}

/* Append the line in b (newline included); the chain is then at it. */
static int append_locked(struct audit_log *log, struct json_buf *b, off_t *end)
{
	uint8_t h[32];
	int ret;

	SFS_ASSERT_HELD(&log->lock);
	if (b->oom)
		return -ENOMEM;
	pthread_mutex_lock(&log->sync_lock);
	ret = log->sync_err; /* nothing is durable after a failed sync */
	pthread_mutex_unlock(&log->sync_lock);
	if (ret) {
		/* Latched (audit.h): say so, not only the old errno. */
		sfs_err("audit log: refused, an earlier write or sync of the "
			"log failed (%s): this process writes no more records "
			"(restart it)",
			strerror(-ret));
		return ret;
	}
	ret = sfs_full_write(log->fd, b->data, b->len);
	if (ret == 0 && log->opt.sync == AUDIT_SYNC_ALWAYS &&
	    fdatasync(log->fd) < 0) {
		ret = -errno;
		pthread_mutex_lock(&log->sync_lock);
		log->sync_err = ret;
		pthread_mutex_unlock(&log->sync_lock);
	}
	if (ret) {
		/* A partial line would break the chain for everyone after. */
		if (ftruncate(log->fd, log->known_size) < 0)
			sfs_err("audit log: cannot remove a partial record");
		log->known_size = -1;
		return ret;
	}
	if (log->opt.syslog)
		syslog(LOG_AUTHPRIV | LOG_NOTICE, "%.*s", (int)b->len - 1,
		       b->data);
	sfs_sha256(b->data, b->len - 1, h);
	sfs_hex(h, 32, log->prev);
	audit_sess_fold(log->sess_hash, h);
	log->sess_lines++;
	log->seq++;
	log->known_size += (off_t)b->len;
	*end = log->known_size;
	pthread_mutex_lock(&log->sync_lock);
	if (*end > log->written_end)
		log->written_end = *end;
	pthread_mutex_unlock(&log->sync_lock);
	return 0;
}

/*
 * Everything a verifier reads from a checkpoint is in the bytes it signs:
 * the line up to its last member, "sig" (format 2, docs/audit-log.md).
 */
static void format_checkpoint(struct json_buf *b, struct audit_log *log,
			      bool final)
{
	char sh[65];

	sfs_hex(log->sess_hash, 32, sh);
	format_head(b, log, "checkpoint");
	sfs_json_printf(b,
			",\"final\":%s,\"records\":%u,\"session_lines\":%llu"
			",\"session_hash\":\"%s\"",
			final ? "true" : "false", log->pending,
			(unsigned long long)log->sess_lines, sh);
	format_key(b, signer_key_uri(log->opt.signer),
		   signer_cert_sha256(log->opt.signer),
		   signer_token_serial(log->opt.signer));
	sfs_json_printf(b, ",\"prev\":\"%s\"", log->prev);
}

/* The content a checkpoint signs: the domain, then the line before "sig". */
static int checkpoint_sign(struct audit_log *log, const struct json_buf *b,
			   uint8_t **der, size_t *len)
{
	const size_t dlen = sizeof(AUDIT_CP_DOMAIN) - 1;
	struct sfs_error err = {0};
	char *content = malloc(dlen + b->len);
	int ret;

	if (!content)
		return -ENOMEM;
	memcpy(content, AUDIT_CP_DOMAIN, dlen);
	memcpy(content + dlen, b->data, b->len);
	ret = signer_sign_checkpoint(log->opt.signer, content, dlen + b->len,
				     der, len, &err);
	if (ret)
		sfs_err("audit checkpoint: %s", err.msg);
	free(content);
	return ret;
}

static int checkpoint_locked(struct audit_log *log, bool final, off_t *end)
{
	struct json_buf b = {0};
	uint8_t *der = NULL;
	size_t len = 0;
	char *b64 = NULL;
	int ret = -ENOMEM;

	SFS_ASSERT_HELD(&log->lock);
	format_checkpoint(&b, log, final);
	if (b.oom)
		goto out;
	ret = checkpoint_sign(log, &b, &der, &len);
	if (ret)
		goto out;
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (!b64) {
		ret = -ENOMEM;
		goto out;
	}
	EVP_EncodeBlock((unsigned char *)b64, der, (int)len);
	sfs_json_printf(&b, AUDIT_CP_SIG_MEMBER "%s\"}\n", b64);
	ret = append_locked(log, &b, end);
	if (ret == 0)
		log->pending = 0;
out:
	free(der);
	free(b64);
	sfs_json_buf_free(&b);
	return ret;
}

/*
 * Before the next line this process writes: a records-lost line saying how
 * many records it could not write since the last one it did, so that the
 * chain shows the gap (docs/audit-log.md). If that line cannot be written
 * either, the count stays for the next try.
 */
static int say_lost_locked(struct audit_log *log, off_t *end)
{
	char why[128];
	struct audit_record r = {
	    .event = "records-lost", .size = -1, .reason = why};
	struct json_buf b = {0};
	int ret;

	SFS_ASSERT_HELD(&log->lock);
	if (!log->lost)
		return 0;
	pthread_mutex_lock(&log->sync_lock);
	ret = log->sync_err;
	pthread_mutex_unlock(&log->sync_lock);
	if (ret)
		return 0; /* latched: the record's own write says so, once */
	snprintf(why, sizeof(why), "%llu records could not be written: %s",
		 (unsigned long long)log->lost, strerror(-log->lost_err));
	format_record(&b, log, &r);
	ret = append_locked(log, &b, end);
	sfs_json_buf_free(&b);
	if (ret == 0) {
		log->lost = 0;
		log->lost_err = 0;
		log->pending++;
	}
	return ret;
}

static void count_lost_locked(struct audit_log *log, int err)
{
	SFS_ASSERT_HELD(&log->lock);
	if (!log->lost)
		log->lost_err = err;
	log->lost++;
}

int audit_write(struct audit_log *log, const struct audit_record *rec)
{
	off_t end = 0;
	int ret = audit_write_nowait(log, rec, &end);

	if (ret == 0)
		ret = audit_sync_to(log, end);
	return ret;
}

int audit_sync_to(struct audit_log *log, off_t end)
{
	int ret;

	if (!log || log->opt.sync != AUDIT_SYNC_GROUP)
		return 0;
	ret = group_sync(log, end);
	if (ret)
		sfs_err("audit log: %s", strerror(-ret));
	return ret;
}

int audit_write_nowait(struct audit_log *log, const struct audit_record *rec,
		       off_t *endp)
{
	uint64_t seq;

	return audit_write_seq(log, rec, endp, &seq);
}

int audit_write_seq(struct audit_log *log, const struct audit_record *rec,
		    off_t *endp, uint64_t *seqp)
{
	struct json_buf b = {0};
	off_t end = 0;
	int ret;

	*endp = 0;
	*seqp = 0;
	if (!log)
		return 0;
	pthread_mutex_lock(&log->lock);
	flock(log->fd, LOCK_EX);
	ret = load_tail_locked(log);
	if (ret == 0)
		ret = say_lost_locked(log, &end);
	if (ret == 0) {
		format_record(&b, log, rec);
		ret = append_locked(log, &b, &end);
	}
	if (ret) {
		count_lost_locked(log, ret);
		goto out;
	}
	*seqp = log->seq;
	log->pending++;
	if (log->opt.signer && log->opt.checkpoint_every &&
	    log->pending >= log->opt.checkpoint_every &&
	    checkpoint_locked(log, false, &end) != 0)
		sfs_warn("audit log: checkpoint failed; will retry");
out:
	flock(log->fd, LOCK_UN);
	pthread_mutex_unlock(&log->lock);
	if (ret && rec->answers) {
		/* Its sign record must not stand unanswered (audit.h). */
		pthread_mutex_lock(&log->sync_lock);
		if (!log->sync_err)
			log->sync_err = ret;
		pthread_mutex_unlock(&log->sync_lock);
		sfs_err("audit log: cannot answer record %llu; this process "
			"writes no more records (restart it)",
			(unsigned long long)rec->answers);
	}
	if (ret)
		sfs_err("audit log: %s", strerror(-ret));
	else
		*endp = end;
	sfs_json_buf_free(&b);
	return ret;
}

int audit_checkpoint(struct audit_log *log, bool final)
{
	off_t end = 0;
	int ret;

	if (!log)
		return 0;
	pthread_mutex_lock(&log->lock);
	flock(log->fd, LOCK_EX);
	ret = load_tail_locked(log);
	/* A seal never hides a gap: the count goes first. */
	if (ret == 0)
		ret = say_lost_locked(log, &end);
	if (ret == 0 && log->opt.signer && (final || log->pending))
		ret = checkpoint_locked(log, final, &end);
	flock(log->fd, LOCK_UN);
	pthread_mutex_unlock(&log->lock);
	if (ret == 0 && end && log->opt.sync != AUDIT_SYNC_NONE)
		ret = group_sync(log, end);
	return ret;
}

static void *syncer_main(void *arg)
{
	struct audit_log *log = arg;
	off_t want;

	pthread_mutex_lock(&log->sync_lock);
	while (!log->stop) {
		want = log->sync_want;
		if (want <= log->synced_end || log->sync_err) {
			pthread_cond_wait(&log->sync_want_cv, &log->sync_lock);
			continue;
		}
		pthread_mutex_unlock(&log->sync_lock);
		group_sync(log, want); /* an error stays in sync_err */
		pthread_mutex_lock(&log->sync_lock);
	}
	pthread_mutex_unlock(&log->sync_lock);
	return NULL;
}

void audit_sync_start(struct audit_log *log, off_t end)
{
	if (!log || log->opt.sync != AUDIT_SYNC_GROUP || end <= 0)
		return;
	pthread_mutex_lock(&log->sync_lock);
	if (!log->syncer_running && !log->syncer_failed && !log->stop) {
		if (pthread_create(&log->syncer, NULL, syncer_main, log) == 0)
			log->syncer_running = true;
		else
			log->syncer_failed = true; /* audit_sync_to leads */
	}
	if (end > log->sync_want) {
		log->sync_want = end;
		pthread_cond_signal(&log->sync_want_cv);
	}
	pthread_mutex_unlock(&log->sync_lock);
}

static void *sealer_main(void *arg)
{
	struct audit_log *log = arg;
	struct timespec ts;

	pthread_mutex_lock(&log->sync_lock);
	while (!log->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += log->opt.checkpoint_secs;
		pthread_cond_timedwait(&log->stop_cv, &log->sync_lock, &ts);
		if (log->stop)
			break;
		pthread_mutex_unlock(&log->sync_lock);
		if (audit_checkpoint(log, false) != 0)
			sfs_warn("audit log: timed checkpoint failed");
		pthread_mutex_lock(&log->sync_lock);
	}
	pthread_mutex_unlock(&log->sync_lock);
	return NULL;
}

static const char *const tail_state_name[] = {
    [AUDIT_TAIL_NEW] = "new",
    [AUDIT_TAIL_SEALED] = "sealed",
    [AUDIT_TAIL_UNSEALED] = "unsealed",
};

static const char *const tail_key_name[] = {
    [AUDIT_TAIL_KEY_NONE] = "none",
    [AUDIT_TAIL_KEY_OURS] = "ours",
    [AUDIT_TAIL_KEY_FOREIGN] = "foreign",
    [AUDIT_TAIL_KEY_UNVERIFIED] = "unverified",
};

/* A session's first line: who opened the log, what its end looked like. */
static void format_open(struct json_buf *b, struct audit_log *log,
			const struct audit_tail *t)
{
	format_head(b, log, "open");
	format_writer(b, &log->self);
	sfs_json_printf(b, ",\"tail\":\"%s\",\"unsealed\":%llu",
			tail_state_name[t->state],
			(unsigned long long)t->unsealed);
	if (t->cp_seq)
		sfs_json_printf(b,
				",\"checkpoint\":{\"seq\":%llu,\"final\":%s,"
				"\"key\":\"%s\"}",
				(unsigned long long)t->cp_seq,
				t->cp_final ? "true" : "false",
				tail_key_name[t->key]);
	if (t->partial)
		opt_str(b, "reason",
			"no checkpoint in the part of the log "
			"that was read");
	else if (t->why[0])
		opt_str(b, "reason", t->why);
	sfs_json_printf(b, ",\"prev\":\"%s\"}\n", log->prev);
}

/*
 * Lines after the last checkpoint are not by themselves a forgery: in a
 * shared log they may be a live writer's, or a crashed one's. They are
 * recorded and `audit verify` tells them apart (docs/audit-log.md); a
 * changed line or a format-1 log is not extended at all.
 */
static int open_session_locked(struct audit_log *log, const char *path)
{
	struct json_buf b = {0};
	struct audit_tail t;
	struct stat st;
	off_t end = 0;
	int ret;

	if (fstat(log->fd, &st) < 0)
		return -errno;
	ret = audit_tail_check(log->fd, st.st_size, &log->opt.keys, &t);
	if (ret) {
		sfs_err("audit log %s: %s: refusing to extend it (move it "
			"aside; a new log starts)",
			path, t.why[0] ? t.why : strerror(-ret));
		return ret;
	}
	if (t.state == AUDIT_TAIL_UNSEALED)
		sfs_log(SFS_LOG_NOTICE,
			"audit log %s: %llu line(s) after "
			"its last checkpoint: other writers', or a crashed or "
			"forged tail (audit verify tells)",
			path, (unsigned long long)t.unsealed);
	ret = load_tail_locked(log);
	if (ret)
		return ret;
	format_open(&b, log, &t);
	ret = append_locked(log, &b, &end);
	if (ret == 0)
		log->pending++;
	sfs_json_buf_free(&b);
	return ret;
}

int audit_open_opts(const char *path, const struct audit_options *opt,
		    struct audit_log **out)
{
	struct audit_log *log = calloc(1, sizeof(*log));
	uint8_t id[AUDIT_SESSION_HEX / 2];
	int ret;

	if (!log)
		return -ENOMEM;
	pthread_mutex_init(&log->lock, NULL);
	pthread_mutex_init(&log->sync_lock, NULL);
	pthread_cond_init(&log->sync_cv, NULL);
	pthread_cond_init(&log->stop_cv, NULL);
	pthread_cond_init(&log->sync_want_cv, NULL);
	log->opt = *opt; /* keys: borrowed until the open check is done */
	log->known_size = -1;
	log->fd = -1;
	sfs_writer_self(&log->self);
	snprintf(log->self.mount_id, sizeof(log->self.mount_id), "audit");
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id)) {
		ret = -EIO;
		goto fail;
	}
	sfs_hex(id, sizeof(id), log->session);
	/* O_RDWR: the tail is read back to continue the chain. */
	log->fd = open(
	    path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (log->fd < 0) {
		ret = -errno;
		goto fail;
	}
	pthread_mutex_lock(&log->lock);
	flock(log->fd, LOCK_EX);
	ret = open_session_locked(log, path);
	flock(log->fd, LOCK_UN);
	pthread_mutex_unlock(&log->lock);
	memset(&log->opt.keys, 0, sizeof(log->opt.keys));
	if (ret)
		goto fail;
	log->written_end = log->synced_end = log->known_size;
	if (opt->signer && opt->checkpoint_secs) {
		if (pthread_create(&log->sealer, NULL, sealer_main, log) == 0)
			log->sealer_running = true;
	}
	*out = log;
	return 0;
fail:
	if (log->fd >= 0)
		close(log->fd);
	free(log);
	return ret;
}

/*
 * The keys the open check accepts the last checkpoint from: the config's,
 * and the one that will sign this session's checkpoints.
 */
static void open_keys(const struct sfs_config *cfg, struct sfs_signer *signer,
		      struct audit_keys *k, uint8_t (**pins)[32])
{
	struct sfs_error err = {0};
	uint8_t fp[32], (*grown)[32];

	if ((cfg->trust.cafile || cfg->trust.capath) &&
	    verifier_new(&cfg->trust, &k->verifier, &err))
		k->verifier = NULL; /* checked where the config is loaded */
	if (audit_config_pins(cfg, pins, &k->n_pins, &err))
		sfs_warn("audit log: %s", err.msg);
	k->pins = (const uint8_t(*)[32]) * pins;
	if (!signer || sfs_unhex(signer_cert_sha256(signer), fp, 32) != 32)
		return;
	for (size_t i = 0; i < k->n_pins; i++)
		if (memcmp(k->pins[i], fp, 32) == 0)
			return;
	sfs_warn("audit log %s: checkpoints are signed by certificate %s, "
		 "which the configuration does not name: `audit verify "
		 "--config` refuses them without --signer-sha256",
		 cfg->audit_log, signer_cert_sha256(signer));
	grown = realloc(*pins, (k->n_pins + 1) * sizeof(*grown));
	if (!grown)
		return;
	memcpy(grown[k->n_pins++], fp, 32);
	*pins = grown;
	k->pins = (const uint8_t(*)[32])grown;
}

int audit_open_config(const struct sfs_config *cfg, struct sfs_signer *signer,
		      struct audit_log **out)
{
	struct audit_options opt = {
	    .sync = cfg->audit_sync_mode,
	    .group_ms = cfg->audit_group_ms,
	    .checkpoint_every = cfg->checkpoint_every,
	    .checkpoint_secs = cfg->checkpoint_secs,
	    .syslog = cfg->audit_syslog,
	    .signer = signer,
	};
	uint8_t(*pins)[32] = NULL;
	int ret;

	*out = NULL;
	if (!cfg->audit_log)
		return 0;
	open_keys(cfg, signer, &opt.keys, &pins);
	ret = audit_open_opts(cfg->audit_log, &opt, out);
	verifier_free(opt.keys.verifier);
	free(pins);
	return ret;
}

int audit_close(struct audit_log *log)
{
	int ret = 0, err;

	if (!log)
		return 0;
	pthread_mutex_lock(&log->sync_lock);
	log->stop = true;
	pthread_cond_broadcast(&log->stop_cv);
	pthread_cond_broadcast(&log->sync_want_cv);
	pthread_mutex_unlock(&log->sync_lock);
	if (log->sealer_running)
		pthread_join(log->sealer, NULL);
	if (log->syncer_running)
		pthread_join(log->syncer, NULL);
	if (audit_checkpoint(log, true) != 0) {
		sfs_err(
		    log->opt.signer
			? "audit log: the final checkpoint failed"
			: "audit log: cannot say how many records were lost");
		ret = -EIO;
	}
	pthread_mutex_lock(&log->sync_lock);
	err = log->sync_err;
	pthread_mutex_unlock(&log->sync_lock);
	if (err) {
		sfs_err("audit log: closed after a failed write or sync (%s): "
			"records may be missing",
			strerror(-err));
		ret = -EIO;
	}
	if (close(log->fd) < 0 && ret == 0) {
		sfs_err("audit log: close: %s", strerror(errno));
		ret = -EIO;
	}
	pthread_cond_destroy(&log->stop_cv);
	pthread_cond_destroy(&log->sync_want_cv);
	pthread_cond_destroy(&log->sync_cv);
	pthread_mutex_destroy(&log->sync_lock);
	pthread_mutex_destroy(&log->lock);
	free(log);
	return ret;
}

void audit_record_key(struct audit_record *r, const struct sfs_signer *s)
{
	if (!s)
		return;
	r->key_uri = signer_key_uri(s);
	r->cert_sha256 = signer_cert_sha256(s);
	r->token_serial = signer_token_serial(s);
}

int audit_sign_begin(struct audit_log *log, struct audit_record *r, off_t *end,
		     uint64_t *seq)
{
	r->event = "sign";
	r->answers = 0;
	return audit_write_seq(log, r, end, seq);
}

void audit_sign_abort(struct audit_log *log, struct audit_record *r,
		      const char *why, uint64_t answers)
{
	off_t end;

	r->event = "sign-failed";
	r->reason = why;
	r->answers = answers;
	/* Best effort: the log may be what failed (it latches, audit.h). */
	if (audit_write_nowait(log, r, &end) == 0)
		audit_sync_to(log, end);
}

int audit_config_reloaded(struct audit_log *log, const char *conf,
			  const char *why)
{
	struct audit_record r = {.event = "config-reloaded", .size = -1};
	char reason[768];

	if (why)
		snprintf(reason, sizeof(reason),
			 "rejected, the old config stays: %s", why);
	else
		snprintf(reason, sizeof(reason), "loaded %s", conf);
	r.reason = reason;
	return audit_write(log, &r);
}
