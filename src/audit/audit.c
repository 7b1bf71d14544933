// SPDX-License-Identifier: Apache-2.0
/* Hash-chained JSON Lines audit log: each record carries SHA-256(prev line). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "signetfs/audit.h"
#include "signetfs/json.h"
#include "signetfs/log.h"
#include "signetfs/util.h"

struct audit_log {
	pthread_mutex_t lock;	/* serialises writers in this process */
	int fd;
	bool sync;
	off_t known_size;	/* size after our last write */
	char prev[65];		/* hex SHA-256 of the last line */
};

/* Longest line we chain over; longer lines are refused when read back. */
#define AUDIT_LINE_MAX (64 * 1024)

/*
 * Recompute prev from the file's last line: another process sharing the
 * log may have appended since our last write (we hold its flock).
 */
static int load_tail_locked(struct audit_log *log)
{
	struct stat st;
	char *buf = NULL;
	size_t want, got = 0;
	off_t start;
	int ret;

	if (fstat(log->fd, &st) < 0)
		return -errno;
	if (st.st_size == log->known_size)
		return 0;
	memset(log->prev, '0', 64);
	log->prev[64] = '\0';
	log->known_size = st.st_size;
	if (st.st_size == 0)
		return 0;
	want = st.st_size < AUDIT_LINE_MAX ? (size_t)st.st_size
					   : AUDIT_LINE_MAX;
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
		if (b == 0 && start != 0)
			ret = -E2BIG;
		else {
			sfs_sha256(buf + b, end - b, h);
			sfs_hex(h, 32, log->prev);
		}
	}
	free(buf);
	return ret;
}

int audit_open(const char *path, bool sync, struct audit_log **out)
{
	struct audit_log *log = calloc(1, sizeof(*log));
	int ret;

	if (!log)
		return -ENOMEM;
	pthread_mutex_init(&log->lock, NULL);
	log->sync = sync;
	log->known_size = -1;
	log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
				     O_NOFOLLOW, 0640);
	if (log->fd < 0) {
		ret = -errno;
		goto fail;
	}
	/* Reading the tail needs a readable fd too. */
	close(log->fd);
	log->fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
	if (log->fd < 0) {
		ret = -errno;
		goto fail;
	}
	flock(log->fd, LOCK_EX);
	ret = load_tail_locked(log);
	flock(log->fd, LOCK_UN);
	if (ret)
		goto fail;
	*out = log;
	return 0;
fail:
	if (log->fd >= 0)
		close(log->fd);
	pthread_mutex_destroy(&log->lock);
	free(log);
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
	json_printf(b, ",\"%s\":", key);
	json_str(b, v, strlen(v));
}

static void format_record(struct json_buf *b, const struct audit_record *r,
			  const char *prev)
{
	char now[64];

	rfc3339_now(now, sizeof(now));
	json_printf(b, "{\"time\":\"%s\",\"event\":", now);
	json_str(b, r->event, strlen(r->event));
	if (r->path) {
		json_raw(b, ",\"path\":", 8);
		if (!json_str(b, r->path, r->path_len)) {
			char *hex = malloc(2 * r->path_len + 1);

			if (hex) {
				sfs_hex((const uint8_t *)r->path, r->path_len,
					hex);
				json_printf(b, ",\"path_hex\":\"%s\"", hex);
			} else {
				b->oom = true;
			}
			free(hex);
		}
	}
	if (r->size >= 0)
		json_printf(b, ",\"size\":%lld", (long long)r->size);
	if (r->digest) {
		char hex[2 * SFS_MD_MAX + 1];

		sfs_hex(r->digest->bytes, r->digest->len, hex);
		json_printf(b, ",\"%s\":\"%s\"", sfs_md_name(r->digest->alg),
			    hex);
	}
	if (r->key_uri || r->cert_sha256) {
		json_raw(b, ",\"key\":{", 8);
		json_raw(b, "\"v\":1", 5);
		opt_str(b, "uri", r->key_uri);
		opt_str(b, "cert_sha256", r->cert_sha256);
		opt_str(b, "token_serial", r->token_serial);
		json_raw(b, "}", 1);
	}
	if (r->writer) {
		const struct sfs_writer *w = r->writer;

		json_printf(b, ",\"writer\":{\"uid\":%u,\"gid\":%u,\"pid\":%d",
			    w->uid, w->gid, w->pid);
		opt_str(b, "user", w->user);
		opt_str(b, "exe", w->exe);
		json_raw(b, "}", 1);
	}
	opt_str(b, "reason", r->reason);
	json_printf(b, ",\"prev\":\"%s\"}", prev);
}

int audit_write(struct audit_log *log, const struct audit_record *rec)
{
	struct json_buf b = {0};
	uint8_t h[32];
	int ret;

	if (!log)
		return 0;
	pthread_mutex_lock(&log->lock);
	/* flock: the log may be shared with other mounts (same chain). */
	flock(log->fd, LOCK_EX);
	ret = load_tail_locked(log);
	if (ret)
		goto out;
	format_record(&b, rec, log->prev);
	json_raw(&b, "\n", 1);
	if (b.oom) {
		ret = -ENOMEM;
		goto out;
	}
	ret = sfs_full_write(log->fd, b.data, b.len);
	if (ret == 0 && log->sync && fdatasync(log->fd) < 0)
		ret = -errno;
	if (ret) {
		/* A partial line would break the chain for everyone after. */
		if (ftruncate(log->fd, log->known_size) < 0)
			sfs_err("audit log: cannot remove a partial record");
		log->known_size = -1;
		goto out;
	}
	sfs_sha256(b.data, b.len - 1, h);
	sfs_hex(h, 32, log->prev);
	log->known_size += (off_t)b.len;
out:
	flock(log->fd, LOCK_UN);
	pthread_mutex_unlock(&log->lock);
	if (ret)
		sfs_err("audit log: %s", strerror(-ret));
	json_buf_free(&b);
	return ret;
}

void audit_close(struct audit_log *log)
{
	if (!log)
		return;
	close(log->fd);
	pthread_mutex_destroy(&log->lock);
	free(log);
}
