/* SPDX-License-Identifier: Apache-2.0 */
/* The audit line format shared by the writer, the open check and verify. */
#ifndef SIGNETFS_AUDIT_INT_H
#define SIGNETFS_AUDIT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <json-c/json.h>

#include "signetfs/audit.h"
#include "signetfs/verify.h"

/*
 * Format 2: every line names its session; a checkpoint signs its own line
 * (format 1 signed only the chain head, with a file signature).
 */
#define AUDIT_FORMAT 2
/* Longest line we chain over; longer lines are refused when read back. */
#define AUDIT_LINE_MAX (256 * 1024)
/* A session id: 16 random bytes in lower-case hex. */
#define AUDIT_SESSION_HEX 32
/*
 * Prefixed to a checkpoint's signed bytes, so the digest a checkpoint
 * signs is never the digest of anything else signetfs signs.
 */
#define AUDIT_CP_DOMAIN "signetfs-audit-checkpoint-v2\n"
/* A checkpoint line ends with this member and "}". */
#define AUDIT_CP_SIG_MEMBER ",\"sig\":\""

/* One line (no newline) as a JSON object, all of it; NULL if not. */
struct json_object *audit_parse_line(const char *line, size_t len);
const char *audit_get_str(struct json_object *o, const char *key);
bool audit_get_u64(struct json_object *o, const char *key, uint64_t *out);
/* 32 lower-case hex digits. */
bool audit_session_valid(const char *s);

/*
 * A checkpoint line's signed bytes are everything before its last member,
 * "sig", which must end the line: *signed_len is where that member starts,
 * b64/b64_len its value. -EBADMSG when the line does not end that way.
 */
int audit_cp_split(const char *line, size_t len, size_t *signed_len,
		   const char **b64, size_t *b64_len);
/* SHA-256(AUDIT_CP_DOMAIN || line[0, signed_len)): what a checkpoint signs. */
void audit_cp_digest(const char *line, size_t signed_len, struct sfs_digest *d);
/*
 * Verify a checkpoint line's signature against keys: *r is VR_OK or why
 * not; fp the signer's certificate SHA-256 when it got that far. 0 or
 * -ENOMEM.
 */
int audit_cp_check(const char *line, size_t len, const struct audit_keys *k,
		   enum verify_reason *r, uint8_t fp[32]);

/*
 * A session's running hash over the lines it wrote, in order:
 * h = SHA-256(h || SHA-256(line)), from 32 zero bytes.
 */
void audit_sess_fold(uint8_t h[32], const uint8_t line_hash[32]);

/* What the open check found at the end of the log (audit_tail.c). */
enum audit_tail_state {
	AUDIT_TAIL_NEW,	     /* empty file */
	AUDIT_TAIL_SEALED,   /* the last line is a checkpoint */
	AUDIT_TAIL_UNSEALED, /* lines after the last checkpoint */
};

enum audit_tail_key {
	AUDIT_TAIL_KEY_NONE,	   /* no checkpoint found */
	AUDIT_TAIL_KEY_OURS,	   /* verified, by one of our keys */
	AUDIT_TAIL_KEY_FOREIGN,	   /* signed, not by a key we accept */
	AUDIT_TAIL_KEY_UNVERIFIED, /* no trust store or no pins here */
};

struct audit_tail {
	enum audit_tail_state state;
	enum audit_tail_key key;
	uint64_t unsealed; /* lines after the last checkpoint */
	uint64_t cp_seq;   /* the last checkpoint, 0: none found */
	bool cp_final;
	bool partial;  /* stopped before a checkpoint or the start */
	char why[200]; /* a foreign key's reason, or the refusal */
};

/*
 * Check the log's end back to its last checkpoint: the hash chain and
 * sequence numbers of those lines, the format, and the checkpoint's
 * signature. 0: it may be extended (t says what was found); -EBADMSG
 * (chain broken, a checkpoint line changed) or -EPROTO (format 1): it
 * must not be, t->why says why; other -errno.
 */
int audit_tail_check(int fd, off_t size, const struct audit_keys *k,
		     struct audit_tail *t);

#endif
