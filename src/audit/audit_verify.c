// SPDX-License-Identifier: Apache-2.0
/* Reads an audit log back: the hash chain, seq, sessions and checkpoints. */
#include <errno.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"

/*
 * One writer's session, recomputed from the lines that carry its id: a
 * checkpoint of that session must seal exactly these (audit.c).
 */
struct sess {
	char id[AUDIT_SESSION_HEX + 1];
	uint8_t hash[32];  /* audit_sess_fold() over its lines */
	uint64_t lines;	   /* its lines so far, checkpoints included */
	uint64_t records;  /* its other lines since its last checkpoint */
	size_t first_open; /* the first of those, 0: none */
	size_t last_cp;	   /* line of its last checkpoint, 0: none */
	bool closed;	   /* that checkpoint was final */
};

struct chain {
	char prev[65];
	uint64_t seq;
	void *tree;	   /* tsearch() of struct sess, by id */
	struct sess **all; /* in order of first appearance */
	size_t n, cap;
};

static int bad(struct audit_verify_result *res, size_t line, const char *fmt,
	       ...) __attribute__((format(printf, 3, 4)));

static int bad(struct audit_verify_result *res, size_t line, const char *fmt,
	       ...)
{
	va_list ap;

	res->bad_line = line;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	return 1;
}

static int sess_cmp(const void *a, const void *b)
{
	return strcmp(((const struct sess *)a)->id,
		      ((const struct sess *)b)->id);
}

/* The session with this id, made on its first line; NULL: no memory. */
static struct sess *sess_get(struct chain *c, const char *id)
{
	struct sess key, *s, **slot;

	snprintf(key.id, sizeof(key.id), "%s", id);
	slot = tfind(&key, &c->tree, sess_cmp);
	if (slot)
		return *slot;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 16;
		struct sess **all = realloc(c->all, cap * sizeof(*all));

		if (!all)
			return NULL;
		c->all = all;
		c->cap = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	memcpy(s->id, key.id, sizeof(s->id));
	if (!tsearch(s, &c->tree, sess_cmp)) {
		free(s);
		return NULL;
	}
	c->all[c->n++] = s;
	return s;
}

static void chain_free(struct chain *c)
{
	tdestroy(c->tree, free); /* frees each struct sess once */
	free(c->all);
}

/* What the checkpoint says about its session matches the log. */
static const char *cp_session(struct json_object *o, const struct sess *s)
{
	uint64_t lines = 0, records = 0;
	const char *h = audit_get_str(o, "session_hash");
	char want[65];

	sfs_hex(s->hash, 32, want);
	if (!audit_get_u64(o, "session_lines", &lines) ||
	    !audit_get_u64(o, "records", &records) || !h)
		return "checkpoint without session_lines, records or "
		       "session_hash";
	if (lines != s->lines || records != s->records || strcmp(h, want) != 0)
		return "checkpoint does not seal the lines its session has in "
		       "the log: a line forged in its name, or one of its "
		       "lines removed";
	return NULL;
}

/* The key member names the certificate that really signed. */
static const char *cp_key(struct json_object *o, const uint8_t fp[32])
{
	struct json_object *key;
	const char *cert;
	char want[65];

	sfs_hex(fp, 32, want);
	if (!json_object_object_get_ex(o, "key", &key) ||
	    !(cert = audit_get_str(key, "cert_sha256")) ||
	    strcmp(cert, want) != 0)
		return "checkpoint's key is not the certificate that signed it";
	return NULL;
}

static int check_checkpoint(const char *line, size_t len, size_t no,
			    struct json_object *o, const struct audit_keys *k,
			    struct sess *s, struct audit_verify_result *res)
{
	struct json_object *f;
	enum verify_reason r;
	const char *why;
	uint8_t fp[32];
	int ret;

	if (k->n_pins == 0) {
		res->need_pins = true;
		return bad(res, no,
			   "checkpoint: no key is named to accept "
			   "checkpoints from (--signer-sha256)");
	}
	ret = audit_cp_check(line, len, k, &r, fp);
	if (ret)
		return ret;
	if (r != VR_OK)
		return bad(res, no, "checkpoint: %s",
			   verify_checkpoint_reason_str(r));
	if (!json_object_object_get_ex(o, "final", &f) ||
	    !json_object_is_type(f, json_type_boolean))
		return bad(res, no, "checkpoint without a boolean final");
	why = cp_key(o, fp);
	if (!why)
		why = cp_session(o, s);
	if (why)
		return bad(res, no, "%s (session %.12s)", why, s->id);
	res->checkpoints++;
	s->records = 0;
	s->first_open = 0;
	s->last_cp = no;
	s->closed = json_object_get_boolean(f);
	return 0;
}

/* v, prev, seq, event and session: what every line has. */
static int check_head(struct json_object *o, size_t no, const struct chain *c,
		      struct audit_verify_result *res)
{
	uint64_t seq = 0, ver = 0;
	const char *prev;

	if (!audit_get_u64(o, "v", &ver) || ver != AUDIT_FORMAT)
		return bad(
		    res, no,
		    ver == 1 ? "format 1 (its checkpoints sign only the chain "
			       "head, as file signatures): no longer accepted; "
			       "keep it, start a new log"
			     : "unknown record version");
	prev = audit_get_str(o, "prev");
	if (!prev || strcmp(prev, c->prev) != 0)
		return bad(res, no,
			   "chain broken: prev is not the hash of the "
			   "line before (a line edited, deleted, inserted or "
			   "reordered)");
	if (!audit_get_u64(o, "seq", &seq) || seq != c->seq + 1)
		return bad(res, no, "sequence number %llu, expected %llu",
			   (unsigned long long)seq,
			   (unsigned long long)c->seq + 1);
	if (!audit_get_str(o, "event"))
		return bad(res, no, "record without an event");
	if (!audit_session_valid(audit_get_str(o, "session")))
		return bad(res, no, "record without a session id");
	return 0;
}

/* A records-lost line's reason: "N records could not be written: ...". */
static void count_lost(struct json_object *o, struct audit_verify_result *res)
{
	const char *why = audit_get_str(o, "reason");
	unsigned long long n;
	char *end;

	if (strcmp(audit_get_str(o, "event"), "records-lost") != 0 || !why)
		return;
	errno = 0;
	n = strtoull(why, &end, 10);
	if (end != why && errno == 0)
		res->lost += n;
}

static int check_line(const char *line, size_t len, size_t no,
		      const struct audit_keys *k, struct chain *c,
		      struct audit_verify_result *res)
{
	struct json_object *o = audit_parse_line(line, len);
	struct sess *s;
	uint8_t h[32];
	int ret;

	if (!o)
		return bad(res, no, "not a JSON object");
	ret = check_head(o, no, c, res);
	if (ret)
		goto out;
	s = sess_get(c, audit_get_str(o, "session"));
	if (!s) {
		ret = -ENOMEM;
		goto out;
	}
	if (s->closed) {
		ret = bad(res, no,
			  "session %.12s was closed by its final "
			  "checkpoint at line %zu: a line in its name after "
			  "that is forged",
			  s->id, s->last_cp);
		goto out;
	}
	if (strcmp(audit_get_str(o, "event"), "checkpoint") == 0) {
		ret = check_checkpoint(line, len, no, o, k, s, res);
		if (ret)
			goto out;
	} else {
		s->records++;
		if (!s->first_open)
			s->first_open = no;
		count_lost(o, res);
	}
	c->seq++;
	sfs_sha256(line, len, h);
	sfs_hex(h, 32, c->prev);
	audit_sess_fold(s->hash, h);
	s->lines++;
out:
	json_object_put(o);
	return ret;
}

/*
 * At the end: every line sealed by a checkpoint of its own session, and
 * every session closed by a final one. Anything else is a line forged
 * (under a session of its own or another's), a writer that crashed or is
 * still running, or a log cut off.
 */
static int check_end(const struct chain *c, bool live, size_t lines,
		     struct audit_verify_result *res)
{
	const struct sess *open = NULL, *unclosed = NULL;

	for (size_t i = 0; i < c->n; i++) {
		const struct sess *s = c->all[i];

		res->unsealed += s->records;
		if (s->first_open &&
		    (!open || s->first_open < open->first_open))
			open = s;
		if (!s->closed && !unclosed)
			unclosed = s;
	}
	res->sessions = c->n;
	res->sealed = lines && !open && !unclosed;
	if (live || res->sealed)
		return 0;
	if (!lines)
		return bad(res, 1, "empty log");
	if (open)
		return bad(res, open->first_open,
			   "not sealed: no checkpoint "
			   "of its session (%.12s) follows this line and %llu "
			   "more, and no final checkpoint: forged, or the "
			   "writer crashed or still runs (--live), or the log "
			   "was cut off",
			   open->id, (unsigned long long)open->records - 1);
	return bad(res, lines + 1,
		   "session %.12s ends at line %zu with a "
		   "checkpoint that is not final: lines after it were cut "
		   "off, or its writer crashed or still runs (--live)",
		   unclosed->id, unclosed->last_cp);
}

int audit_verify_log(const char *path, const struct audit_verify_opts *o,
		     struct audit_verify_result *res)
{
	struct chain c = {.seq = 0};
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	if (!f)
		return -errno;
	memset(c.prev, '0', 64);
	while ((n = getline(&line, &cap, f)) > 0) {
		res->lines++;
		if (line[n - 1] != '\n') {
			ret = bad(res, res->lines,
				  "last line is cut off (no "
				  "newline): the log was truncated");
			goto out;
		}
		if (n > AUDIT_LINE_MAX) {
			ret = bad(res, res->lines, "line too long");
			goto out;
		}
		ret = check_line(line, (size_t)n - 1, res->lines, &o->keys, &c,
				 res);
		if (ret)
			goto out;
	}
	if (ferror(f)) {
		ret = -EIO;
		goto out;
	}
	ret = check_end(&c, o->live, res->lines, res);
out:
	chain_free(&c);
	free(line);
	fclose(f);
	return ret;
}

int audit_verify_file(const char *path, struct sfs_verifier *v, bool live,
		      struct audit_verify_result *res)
{
	struct audit_verify_opts o = {.keys = {.verifier = v}, .live = live};

	return audit_verify_log(path, &o, res);
}
