/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 3161 timestamps over a signature's value: the client that asks a TSA
 * (libcurl) and embeds the token as the unsigned attribute
 * id-aa-timeStampToken, without OpenSSL or curl types; the verifier's
 * rules (T1-T9) are in docs/signature-format.md.
 */
#ifndef SIGNETFS_TSA_H
#define SIGNETFS_TSA_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util.h"

/* Defaults of tsa-timeout (whole request) and the connect part of it. */
#define TSA_TIMEOUT_MS_DEFAULT 10000
#define TSA_CONNECT_MS_MAX 3000
/* Requests in flight at once (tsa-parallel). */
#define TSA_PARALLEL_DEFAULT 8
/* A TimeStampResp larger than this is not read (garbage, not a token). */
#define TSA_RESPONSE_MAX (64 * 1024)

/* tsa-url, tsa-trust, tsa-policy, tsa-timeout, tsa-parallel. */
struct sfs_tsa_config {
	char *url;	     /* http:// or https:// (RFC 3161 over HTTP) */
	char *trust;	     /* PEM trust anchors of the TSA */
	char *policy;	     /* policy OID asked for and required; NULL: any */
	unsigned timeout_ms; /* 0: unset (TSA_TIMEOUT_MS_DEFAULT) */
	unsigned parallel;   /* 0: unset (TSA_PARALLEL_DEFAULT) */
};

/* What a token says, once it verified. */
struct tsa_stamp {
	time_t gen_time;
	char serial[80];     /* TSTInfo serialNumber, hex */
	char tsa_sha256[65]; /* SHA-256 of the TSA certificate */
	char tsa_subject[128];
};

struct sfs_tsa;

/*
 * A client for cfg (url and trust required; the trust store is loaded
 * now, so every token is checked before it is embedded). 0 or -errno
 * with err set (exit 2).
 */
int tsa_open(const struct sfs_tsa_config *cfg, struct sfs_tsa **out,
	     struct sfs_error *err);
void tsa_close(struct sfs_tsa *t);
const char *tsa_url(const struct sfs_tsa *t);
unsigned tsa_timeout_ms(const struct sfs_tsa *t);

struct tsa_job {
	const uint8_t *sig; /* in: a .sig (DER), not stamped yet */
	size_t sig_len;
	uint8_t *out; /* out: the .sig with the token, malloc'd */
	size_t out_len;
	/*
	 * 0, or: -EEXIST already stamped, -EBADMSG not a signature or a
	 * token that does not verify, -ETIMEDOUT, -ECONNREFUSED, -EPROTO
	 * (HTTP error, TSA rejected the request), -ECANCELED (stopped),
	 * -EIO; why says it in words.
	 */
	int err;
	char why[200];
	struct tsa_stamp stamp; /* on success */
};

/*
 * Stamp every job: one request each, at most cfg->parallel in flight over
 * reused connections, each bounded by the timeout. Returns when all are
 * done, or soon (within 100 ms) after *stop becomes true (the rest then
 * fail with -ECANCELED). Thread-safe (callers are serialised).
 */
void tsa_stamp_jobs(struct sfs_tsa *t, struct tsa_job *jobs, size_t n,
		    const atomic_bool *stop);
void tsa_job_clear(struct tsa_job *j);

/*
 * Parse only (no trust decision): 1 when the .sig carries a token (its
 * genTime in *gen_time), 0 when it carries none, -EBADMSG when it is no
 * signature or the token does not parse.
 */
int tsa_sig_stamped(const uint8_t *sig, size_t len, time_t *gen_time);

/* "2026-01-31T12:00:00Z" */
void tsa_time_str(time_t t, char *out, size_t len);

#endif
