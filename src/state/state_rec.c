// SPDX-License-Identifier: Apache-2.0
/* The state's entries: verdicts and versions, each with its MAC. */
#include <errno.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "signetfs/log.h"
#include "state_int.h"

/*
 * Each MAC covers a domain (so an entry of one kind is never taken for
 * another), the path with its length, and the value.
 */
#define DOM_IDENTITY "signetfs-state-identity-v1"
#define DOM_CLOSED "signetfs-state-closed-v1"
#define DOM_VERSION "signetfs-state-version-v1"
#define DOM_VERDICT "signetfs-state-verdict-v1"
#define REC_FORMAT 1
#define VERSION_MAX ((uint64_t)INT64_MAX)

static const char *const sql[SQ_COUNT_] = {
    [SQ_VERSION_GET] = "SELECT version, mac FROM versions WHERE path = ?1",
    [SQ_VERSION_PUT] =
	"INSERT OR REPLACE INTO versions(path, version, mac) VALUES(?1,?2,?3)",
    [SQ_VERDICT_GET] = "SELECT rec, mac FROM verdicts WHERE path = ?1",
    [SQ_VERDICT_PUT] =
	"INSERT OR REPLACE INTO verdicts(path, rec, mac) VALUES(?1,?2,?3)",
    [SQ_VERDICT_DEL] = "DELETE FROM verdicts WHERE path = ?1",
    [SQ_VERSION_COUNT] = "SELECT count(*) FROM versions",
};

int state_prepare(struct state_store *st)
{
	for (int i = 0; i < SQ_COUNT_; i++) {
		/* Read-only: the write statements are never used. */
		if (sqlite3_prepare_v3(st->db, sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &st->stmt[i],
				       NULL) != SQLITE_OK)
			return state_sqlite_err(st, sql[i]);
	}
	return 0;
}

void state_finalize(struct state_store *st)
{
	for (int i = 0; i < SQ_COUNT_; i++) {
		sqlite3_finalize(st->stmt[i]);
		st->stmt[i] = NULL;
	}
}

/* The statement, reset, with the path bound as ?1 (when given). */
static sqlite3_stmt *stmt_locked(struct state_store *st, enum state_stmt i,
				 const char *path, size_t len)
{
	sqlite3_stmt *s = st->stmt[i];

	SFS_ASSERT_HELD(&st->db_lock);
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	if (path)
		sqlite3_bind_blob64(s, 1, path, len, SQLITE_STATIC);
	return s;
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* MAC of (domain, path length, path, value) under the store's key. */
static int entry_mac(struct state_store *st, const char *dom, const char *path,
		     size_t len, const void *val, size_t vlen,
		     uint8_t mac[SFS_MAC_LEN], bool verify)
{
	uint8_t n[8];
	const struct sfs_mac_part parts[] = {
	    {dom, strlen(dom) + 1}, {n, 8}, {path, len}, {val, vlen}};

	le64(n, len);
	if (verify)
		return sfs_mac_verify(st->mac, parts, 4, mac);
	return sfs_mac_compute(st->mac, parts, 4, mac);
}

int state_identity_check(struct state_store *st, bool *fresh)
{
	const uint8_t role = (uint8_t)st->role;
	uint8_t mac[SFS_MAC_LEN];
	sqlite3_stmt *s = NULL;
	int ret = 0, rc;

	*fresh = false;
	pthread_mutex_lock(&st->db_lock);
	if (!st->readonly)
		ret = state_exec_locked(st, "BEGIN IMMEDIATE");
	if (!ret &&
	    sqlite3_prepare_v2(st->db, "SELECT v FROM meta WHERE k='identity'",
			       -1, &s, NULL) != SQLITE_OK)
		ret = state_sqlite_err(st, "meta");
	rc = ret ? SQLITE_ERROR : sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		ret =
		    sqlite3_column_bytes(s, 0) == SFS_MAC_LEN
			? entry_mac(st, DOM_IDENTITY, "", 0, &role, 1,
				    (uint8_t *)sqlite3_column_blob(s, 0), true)
			: -EBADMSG;
	} else if (rc == SQLITE_DONE && !st->readonly) {
		/* New. (Entries without it: its identity was removed.) */
		sqlite3_finalize(s);
		s = NULL;
		ret = entry_mac(st, DOM_IDENTITY, "", 0, &role, 1, mac, false);
		if (!ret &&
		    sqlite3_prepare_v2(st->db,
				       "INSERT INTO meta(k, v) SELECT "
				       "'identity', ?1 WHERE NOT EXISTS "
				       "(SELECT 1 FROM versions) AND NOT "
				       "EXISTS (SELECT 1 FROM verdicts)",
				       -1, &s, NULL) == SQLITE_OK) {
			sqlite3_bind_blob(s, 1, mac, SFS_MAC_LEN,
					  SQLITE_STATIC);
			ret = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
			if (!ret && sqlite3_changes(st->db) != 1)
				ret = -EBADMSG;
		} else if (!ret) {
			ret = state_sqlite_err(st, "meta");
		}
		*fresh = ret == 0;
	} else if (!ret) {
		ret = rc == SQLITE_DONE ? -EBADMSG : -EIO;
	}
	sqlite3_finalize(s);
	if (!st->readonly)
		state_exec_locked(st, ret ? "ROLLBACK" : "COMMIT");
	st->written++;
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

int state_closed_mark(struct state_store *st)
{
	const uint8_t role = (uint8_t)st->role;
	uint8_t mac[SFS_MAC_LEN];
	sqlite3_stmt *s = NULL;
	int ret;

	pthread_mutex_lock(&st->db_lock);
	ret = entry_mac(st, DOM_CLOSED, "", 0, &role, 1, mac, false);
	if (!ret && sqlite3_prepare_v2(st->db,
				       "INSERT OR REPLACE INTO meta(k, v) "
				       "VALUES('closed', ?1)",
				       -1, &s, NULL) != SQLITE_OK)
		ret = state_sqlite_err(st, "meta");
	if (!ret) {
		sqlite3_bind_blob(s, 1, mac, SFS_MAC_LEN, SQLITE_STATIC);
		ret = sqlite3_step(s) == SQLITE_DONE ? 0 : -EIO;
	}
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

int state_closed_read(struct state_store *st, bool *closed)
{
	const uint8_t role = (uint8_t)st->role;
	sqlite3_stmt *s = NULL;
	int ret = 0, rc;

	*closed = false;
	pthread_mutex_lock(&st->db_lock);
	if (sqlite3_prepare_v2(st->db, "SELECT v FROM meta WHERE k='closed'",
			       -1, &s, NULL) != SQLITE_OK)
		ret = state_sqlite_err(st, "meta");
	rc = ret ? SQLITE_ERROR : sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret =
		    sqlite3_column_bytes(s, 0) == SFS_MAC_LEN
			? entry_mac(st, DOM_CLOSED, "", 0, &role, 1,
				    (uint8_t *)sqlite3_column_blob(s, 0), true)
			: -EBADMSG;
	else if (!ret && rc != SQLITE_DONE)
		ret = -EIO;
	*closed = rc == SQLITE_ROW && ret == 0;
	sqlite3_finalize(s);
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

int state_closed_clear(struct state_store *st)
{
	int ret;

	pthread_mutex_lock(&st->db_lock);
	ret = state_exec_locked(st, "DELETE FROM meta WHERE k='closed'");
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

/* ---- versions ------------------------------------------------------- */

static int version_get_locked(struct state_store *st, const char *path,
			      size_t len, uint64_t *v)
{
	sqlite3_stmt *s = stmt_locked(st, SQ_VERSION_GET, path, len);
	int rc = sqlite3_step(s), ret;
	uint8_t val[8];

	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return state_sqlite_err(st, "versions");
	*v = (uint64_t)sqlite3_column_int64(s, 0);
	le64(val, *v);
	ret = sqlite3_column_bytes(s, 1) == SFS_MAC_LEN
		  ? entry_mac(st, DOM_VERSION, path, len, val, 8,
			      (uint8_t *)sqlite3_column_blob(s, 1), true)
		  : -EBADMSG;
	sqlite3_reset(s);
	return ret;
}

static int version_put_locked(struct state_store *st, const char *path,
			      size_t len, uint64_t v)
{
	sqlite3_stmt *s = stmt_locked(st, SQ_VERSION_PUT, path, len);
	uint8_t val[8], mac[SFS_MAC_LEN];
	int ret;

	le64(val, v);
	ret = entry_mac(st, DOM_VERSION, path, len, val, 8, mac, false);
	if (ret)
		return ret;
	sqlite3_bind_int64(s, 2, (sqlite3_int64)v);
	sqlite3_bind_blob(s, 3, mac, SFS_MAC_LEN, SQLITE_STATIC);
	ret = sqlite3_step(s) == SQLITE_DONE ? 0
					     : state_sqlite_err(st, "versions");
	sqlite3_reset(s);
	return ret;
}

int state_version_get(struct state_store *st, const char *path, size_t len,
		      uint64_t *v)
{
	int ret;

	pthread_mutex_lock(&st->db_lock);
	ret = version_get_locked(st, path, len, v);
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

/*
 * Read, decide, write, in one transaction (another process, `signetfs
 * sign --state`, may share outbox.db); then wait for the disk unless in
 * a batch. decide() returns the value to write, 0 for none, or -errno.
 * With lazy_first, a path's first entry is not waited for: losing it
 * (power cut) only makes the path new again, which it was before.
 */
static int version_update(struct state_store *st, const char *path, size_t len,
			  uint64_t arg,
			  int64_t (*decide)(int cur_ret, uint64_t cur,
					    uint64_t arg),
			  bool lazy_first, uint64_t *out)
{
	uint64_t cur = 0, seq;
	int64_t v = 0;
	bool first = false, batch;
	int ret;

	if (st->readonly)
		return -EROFS;
	pthread_mutex_lock(&st->db_lock);
	batch = st->in_batch;
	ret = batch ? 0 : state_exec_locked(st, "BEGIN IMMEDIATE");
	if (ret)
		goto out;
	ret = version_get_locked(st, path, len, &cur);
	first = ret == -ENOENT;
	v = ret == 0 || ret == -ENOENT ? decide(ret, cur, arg) : ret;
	ret = v < 0 ? (int)v : 0;
	if (v > 0)
		ret = version_put_locked(st, path, len, (uint64_t)v);
	if (!batch)
		ret = state_exec_locked(st, ret ? "ROLLBACK" : "COMMIT") ?: ret;
	if (out && ret == 0)
		*out = (uint64_t)v;
out:
	/*
	 * Nothing written: only what was read must be on disk (written by
	 * another caller, maybe not synced yet), so wait for that commit.
	 */
	seq = ++st->written;
	if (ret == 0 && v > 0 && !(first && lazy_first))
		st->version_seq = seq;
	else if (!(first && lazy_first))
		seq = st->version_seq;
	pthread_mutex_unlock(&st->db_lock);
	if (ret == 0 && !batch && !(first && lazy_first))
		ret = state_sync_to(st, seq);
	return ret;
}

/* Checked and raised in one transaction: nobody raises in between. */
static int64_t decide_raise(int cur_ret, uint64_t cur, uint64_t v)
{
	if (v > VERSION_MAX)
		return -EINVAL;
	if (cur_ret == -ENOENT)
		return (int64_t)v; /* 0: nothing to keep */
	return cur > v ? -ESTALE : cur == v ? 0 : (int64_t)v;
}

static int64_t decide_next(int cur_ret, uint64_t cur, uint64_t floor)
{
	uint64_t base = cur_ret == 0 && cur > floor ? cur : floor;

	return base >= VERSION_MAX ? -EOVERFLOW : (int64_t)(base + 1);
}

int state_version_raise(struct state_store *st, const char *path, size_t len,
			uint64_t v)
{
	return version_update(st, path, len, v, decide_raise, true, NULL);
}

int state_version_next(struct state_store *st, const char *path, size_t len,
		       uint64_t floor, uint64_t *v)
{
	return version_update(st, path, len, floor, decide_next, false, v);
}

int state_batch_begin(struct state_store *st)
{
	int ret;

	if (st->readonly)
		return -EROFS;
	pthread_mutex_lock(&st->db_lock);
	ret = state_exec_locked(st, "BEGIN IMMEDIATE");
	st->in_batch = ret == 0;
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

int state_batch_end(struct state_store *st)
{
	uint64_t seq;
	int ret;

	pthread_mutex_lock(&st->db_lock);
	ret = state_exec_locked(st, "COMMIT");
	st->in_batch = false;
	seq = ++st->written;
	st->version_seq = seq;
	pthread_mutex_unlock(&st->db_lock);
	return ret ? ret : state_sync_to(st, seq);
}

int state_version_count(struct state_store *st, uint64_t *n)
{
	sqlite3_stmt *s;
	int ret = 0;

	pthread_mutex_lock(&st->db_lock);
	s = stmt_locked(st, SQ_VERSION_COUNT, NULL, 0);
	if (sqlite3_step(s) == SQLITE_ROW)
		*n = (uint64_t)sqlite3_column_int64(s, 0);
	else
		ret = state_sqlite_err(st, "versions");
	sqlite3_reset(s);
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

/* ---- verdicts ------------------------------------------------------- */

int state_stamp_fd(int fd, struct state_stamp *s)
{
	struct stat st;
	int gen = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* Told apart from a file that had the same inode number before. */
	if (ioctl(fd, FS_IOC_GETVERSION, &gen) < 0)
		gen = 0;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->gen = (uint32_t)gen;
	s->size = st.st_size;
	s->mtime_ns = st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
	s->ctime_ns = st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
	return 0;
}

bool state_verdict_matches(const struct state_verdict *v,
			   const struct state_stamp *content,
			   const struct state_stamp *sig,
			   const uint8_t sig_sha256[32],
			   const uint8_t epoch[32])
{
	return !memcmp(&v->content, content, sizeof(*content)) &&
	       !memcmp(&v->sig, sig, sizeof(*sig)) &&
	       !memcmp(v->sig_sha256, sig_sha256, 32) &&
	       !memcmp(v->epoch, epoch, 32);
}

/* The record of a verdict: fixed fields, then the subject's bytes. */
#define REC_FIXED (1 + 96 + 32 + 32 + 66 + 32 + 32 + 2)
#define REC_MAX (REC_FIXED + 255)

static uint8_t *put_stamp(uint8_t *p, const struct state_stamp *s)
{
	const uint64_t f[6] = {s->dev,
			       s->ino,
			       s->gen,
			       (uint64_t)s->size,
			       (uint64_t)s->mtime_ns,
			       (uint64_t)s->ctime_ns};

	for (int i = 0; i < 6; i++, p += 8)
		le64(p, f[i]);
	return p;
}

static const uint8_t *get_stamp(const uint8_t *p, struct state_stamp *s)
{
	s->dev = get_le64(p);
	s->ino = get_le64(p + 8);
	s->gen = get_le64(p + 16);
	s->size = (int64_t)get_le64(p + 24);
	s->mtime_ns = (int64_t)get_le64(p + 32);
	s->ctime_ns = (int64_t)get_le64(p + 40);
	return p + 48;
}

static size_t rec_encode(const struct state_verdict *v, uint8_t *out)
{
	size_t sub = strnlen(v->signer_subject, 255);
	uint8_t *p = out;

	*p++ = REC_FORMAT;
	p = put_stamp(p, &v->content);
	p = put_stamp(p, &v->sig);
	memcpy(p, v->sig_sha256, 32), p += 32;
	memcpy(p, v->epoch, 32), p += 32;
	*p++ = (uint8_t)v->digest.alg;
	*p++ = (uint8_t)v->digest.len;
	memset(p, 0, SFS_MD_MAX);
	memcpy(p, v->digest.bytes, v->digest.len), p += SFS_MD_MAX;
	memcpy(p, v->signer_sha256, 32), p += 32;
	le64(p, (uint64_t)v->signing_time), p += 8;
	le64(p, (uint64_t)v->valid_until), p += 8;
	le64(p, v->sig_len), p += 8;
	le64(p, v->file_version), p += 8;
	*p++ = (uint8_t)(sub & 0xff);
	*p++ = (uint8_t)(sub >> 8);
	memcpy(p, v->signer_subject, sub);
	return (size_t)(p - out) + sub;
}

static int rec_decode(const uint8_t *p, size_t n, struct state_verdict *v)
{
	size_t sub;

	if (n < REC_FIXED || n > REC_MAX || p[0] != REC_FORMAT)
		return -EBADMSG;
	memset(v, 0, sizeof(*v));
	p = get_stamp(p + 1, &v->content);
	p = get_stamp(p, &v->sig);
	memcpy(v->sig_sha256, p, 32), p += 32;
	memcpy(v->epoch, p, 32), p += 32;
	v->digest.alg = (enum sfs_md)p[0];
	v->digest.len = p[1];
	if (p[0] > SFS_MD_SHA512 || v->digest.len != sfs_md_len(p[0]))
		return -EBADMSG;
	memcpy(v->digest.bytes, p + 2, v->digest.len), p += 2 + SFS_MD_MAX;
	memcpy(v->signer_sha256, p, 32), p += 32;
	v->signing_time = (int64_t)get_le64(p);
	v->valid_until = (int64_t)get_le64(p + 8);
	v->sig_len = get_le64(p + 16);
	v->file_version = get_le64(p + 24);
	p += 32;
	sub = (size_t)p[0] | (size_t)p[1] << 8;
	if (n != REC_FIXED + sub || sub > 255)
		return -EBADMSG;
	memcpy(v->signer_subject, p + 2, sub);
	v->signer_subject[sub] = '\0';
	return 0;
}

int state_verdict_get(struct state_store *st, const char *path, size_t len,
		      struct state_verdict *out)
{
	sqlite3_stmt *s;
	const uint8_t *rec;
	size_t n;
	int rc, ret;

	pthread_mutex_lock(&st->db_lock);
	s = stmt_locked(st, SQ_VERDICT_GET, path, len);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		rec = sqlite3_column_blob(s, 0);
		n = (size_t)sqlite3_column_bytes(s, 0);
		/* The MAC first: nothing unauthenticated is even parsed. */
		ret =
		    rec && sqlite3_column_bytes(s, 1) == SFS_MAC_LEN
			? entry_mac(st, DOM_VERDICT, path, len, rec, n,
				    (uint8_t *)sqlite3_column_blob(s, 1), true)
			: -EBADMSG;
		if (ret == 0)
			ret = rec_decode(rec, n, out);
	} else {
		ret = rc == SQLITE_DONE ? -ENOENT
					: state_sqlite_err(st, "verdicts");
	}
	sqlite3_reset(s);
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

int state_verdict_put(struct state_store *st, const char *path, size_t len,
		      const struct state_verdict *v)
{
	uint8_t rec[REC_MAX], mac[SFS_MAC_LEN];
	size_t n = rec_encode(v, rec);
	sqlite3_stmt *s;
	int ret;

	if (st->readonly)
		return -EROFS;
	ret = entry_mac(st, DOM_VERDICT, path, len, rec, n, mac, false);
	if (ret)
		return ret;
	pthread_mutex_lock(&st->db_lock);
	s = stmt_locked(st, SQ_VERDICT_PUT, path, len);
	sqlite3_bind_blob(s, 2, rec, (int)n, SQLITE_STATIC);
	sqlite3_bind_blob(s, 3, mac, SFS_MAC_LEN, SQLITE_STATIC);
	ret = sqlite3_step(s) == SQLITE_DONE ? 0
					     : state_sqlite_err(st, "verdicts");
	sqlite3_reset(s);
	st->written++;
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}

int state_verdict_forget(struct state_store *st, const char *path, size_t len)
{
	sqlite3_stmt *s;
	int ret;

	if (st->readonly)
		return -EROFS;
	pthread_mutex_lock(&st->db_lock);
	s = stmt_locked(st, SQ_VERDICT_DEL, path, len);
	ret = sqlite3_step(s) == SQLITE_DONE ? 0
					     : state_sqlite_err(st, "verdicts");
	sqlite3_reset(s);
	st->written++;
	pthread_mutex_unlock(&st->db_lock);
	return ret;
}
