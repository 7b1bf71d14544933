/* SPDX-License-Identifier: Apache-2.0 */
/* Hash-chained JSON Lines audit log; docs/audit-log.md. */
#ifndef SIGNETFS_AUDIT_H
#define SIGNETFS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "sigfmt.h"

struct audit_record {
	const char *event;		/* sign, sign-failed, verify-denied... */
	const char *path;		/* raw bytes, escaped in JSON */
	size_t path_len;
	int64_t size;			/* -1: unknown */
	const struct sfs_digest *digest;/* NULL: none */
	const char *key_uri;		/* without PIN */
	const char *cert_sha256;
	const char *token_serial;
	const struct sfs_writer *writer;/* NULL: none */
	const char *reason;		/* NULL: none */
};

struct audit_log;

/* Open (append) or create the log; the chain continues from its last line. */
int audit_open(const char *path, bool sync, struct audit_log **out);
/* Append one record; returns after write(2) (and fsync when sync). */
int audit_write(struct audit_log *log, const struct audit_record *rec);
void audit_close(struct audit_log *log);

#endif
