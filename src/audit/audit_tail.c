// SPDX-License-Identifier: Apache-2.0
/* Before a session extends a log: its end, checked back to a checkpoint. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "signetfs/util.h"

/*
 * How much of the end is read. A log whose writers have keys has a
 * checkpoint every checkpoint-every records (default 1000, a few hundred
 * KiB); one without keys has none, and is not read whole at every open.
 */
#define TAIL_SCAN_MAX (4 * 1024 * 1024)

/* The line read before this one, which is the one after it in the file. */
struct later {
	bool set;
	char prev[65];
	uint64_t seq;
};

static int refuse(struct audit_tail *t, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct audit_tail *t, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(t->why, sizeof(t->why), fmt, ap);
	va_end(ap);
	return err;
}

/* Which key signed the last checkpoint; a changed line is refused. */
static int tail_checkpoint(const char *line, size_t len, uint64_t seq,
			   struct json_object *o, const struct audit_keys *k,
			   struct audit_tail *t)
{
	struct json_object *f;
	enum verify_reason r;
	uint8_t fp[32];
	int ret;

	t->cp_seq = seq;
	t->cp_final = json_object_object_get_ex(o, "final", &f) &&
		      json_object_is_type(f, json_type_boolean) &&
		      json_object_get_boolean(f);
	if (!k->verifier || k->n_pins == 0) {
		t->key = AUDIT_TAIL_KEY_UNVERIFIED;
		return 0;
	}
	ret = audit_cp_check(line, len, k, &r, fp);
	if (ret)
		return ret;
	switch (r) {
	case VR_OK:
		t->key = AUDIT_TAIL_KEY_OURS;
		return 0;
	case VR_PIN_MISMATCH:
	case VR_UNTRUSTED:
	case VR_EXPIRED:
	case VR_NOT_YET_VALID:
	case VR_REVOKED:
	case VR_CRL_ERROR:
	case VR_NO_CODESIGN_EKU:
		/* Another writer's key (a shared log): not ours to judge. */
		t->key = AUDIT_TAIL_KEY_FOREIGN;
		snprintf(t->why, sizeof(t->why), "checkpoint seq %llu: %s",
			 (unsigned long long)seq,
			 verify_checkpoint_reason_str(r));
		return 0;
	default:
		return refuse(t, -EBADMSG, "checkpoint seq %llu: %s",
			      (unsigned long long)seq,
			      verify_checkpoint_reason_str(r));
	}
}

static int tail_format(struct json_object *o, const struct later *w,
		       uint64_t *seq, struct audit_tail *t)
{
	uint64_t v = 0;
	const char *prev = audit_get_str(o, "prev");

	if (!audit_get_u64(o, "v", &v) || v != AUDIT_FORMAT)
		return refuse(
		    t, -EPROTO,
		    v == 1 ? "written in format 1 (checkpoints that sign only "
			     "the chain head): this signetfs does not extend "
			     "it; move it aside, a new log starts"
			   : "a line in an unknown format");
	if (!audit_get_u64(o, "seq", seq) || (w->set && *seq + 1 != w->seq))
		return refuse(t, -EBADMSG, "sequence numbers jump to %llu",
			      (unsigned long long)w->seq);
	if (!prev || strlen(prev) != 64 || !audit_get_str(o, "event") ||
	    !audit_session_valid(audit_get_str(o, "session")))
		return refuse(t, -EBADMSG, "seq %llu is not an audit record",
			      (unsigned long long)*seq);
	return 0;
}

/* One line, read backwards: its link to the line after it, its format. */
static int tail_line(const char *line, size_t len, struct later *w,
		     const struct audit_keys *k, struct audit_tail *t,
		     bool *stop)
{
	struct json_object *o = audit_parse_line(line, len);
	uint64_t seq = 0;
	uint8_t h[32];
	char hex[65];
	int ret;

	if (!o)
		return refuse(t, -EBADMSG,
			      "a line before seq %llu is not a "
			      "JSON object",
			      (unsigned long long)w->seq);
	sfs_sha256(line, len, h);
	sfs_hex(h, 32, hex);
	if (w->set && strcmp(hex, w->prev) != 0) {
		ret = refuse(t, -EBADMSG,
			     "seq %llu does not chain onto the "
			     "line before it (a line edited, deleted or "
			     "inserted)",
			     (unsigned long long)w->seq);
		goto out;
	}
	ret = tail_format(o, w, &seq, t);
	if (ret)
		goto out;
	if (strcmp(audit_get_str(o, "event"), "checkpoint") == 0) {
		*stop = true;
		ret = tail_checkpoint(line, len, seq, o, k, t);
		goto out;
	}
	t->unsealed++;
	snprintf(w->prev, sizeof(w->prev), "%s", audit_get_str(o, "prev"));
	w->seq = seq;
	w->set = true;
out:
	json_object_put(o);
	return ret;
}

/* Walk buf (the end of the file, from offset start) back line by line. */
static int tail_walk(const char *buf, size_t n, off_t start,
		     const struct audit_keys *k, struct audit_tail *t)
{
	struct later w = {0};
	size_t end = n - 1, b;
	bool stop = false;
	int ret = 0;

	for (;;) {
		b = end;
		while (b > 0 && buf[b - 1] != '\n')
			b--;
		if (b == 0 && start != 0) {
			t->partial = true; /* the window starts mid-line */
			return 0;
		}
		if (end - b > AUDIT_LINE_MAX)
			return refuse(t, -E2BIG,
				      "a line is longer than "
				      "%d bytes",
				      AUDIT_LINE_MAX);
		ret = tail_line(buf + b, end - b, &w, k, t, &stop);
		if (ret || stop)
			return ret;
		if (b == 0)
			break;
		end = b - 1;
	}
	/* The first line of the file: it chains onto nothing. */
	if (w.seq != 1 || strspn(w.prev, "0") != 64)
		return refuse(t, -EBADMSG,
			      "the first line is not seq 1 with "
			      "a zero prev: lines before it were removed");
	return 0;
}

int audit_tail_check(int fd, off_t size, const struct audit_keys *k,
		     struct audit_tail *t)
{
	size_t want, got = 0;
	off_t start;
	char *buf;
	int ret;

	memset(t, 0, sizeof(*t));
	if (size == 0) {
		t->state = AUDIT_TAIL_NEW;
		return 0;
	}
	want = size < TAIL_SCAN_MAX ? (size_t)size : TAIL_SCAN_MAX;
	start = size - (off_t)want;
	buf = malloc(want);
	if (!buf)
		return -ENOMEM;
	ret = sfs_full_pread(fd, buf, want, start, &got);
	if (ret == 0 && (got != want || buf[want - 1] != '\n'))
		ret = refuse(t, -EBADMSG,
			     "the last line is cut off (no "
			     "newline)");
	if (ret == 0)
		ret = tail_walk(buf, want, start, k, t);
	free(buf);
	t->state =
	    t->unsealed || !t->cp_seq ? AUDIT_TAIL_UNSEALED : AUDIT_TAIL_SEALED;
	return ret;
}
