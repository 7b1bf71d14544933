/* SPDX-License-Identifier: Apache-2.0 */
/* Signature format v1: detached CMS SignedData with signetfs attributes. */
#ifndef SIGNETFS_SIGFMT_H
#define SIGNETFS_SIGFMT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "digest.h"

/* UUID arc (X.667) and the attributes under it; docs/signature-format.md */
#define SIG_OID_ARC "2.25.106367305641964467425266344124869205754"
#define SIG_OID_PATH SIG_OID_ARC ".1.1"
#define SIG_OID_WRITER SIG_OID_ARC ".1.2"
#define SIG_PATH_VERSION 1
#define SIG_WRITER_VERSION 1
/* signetfs-version: a per-path version that only increases (rollback). */
#define SIG_OID_VERSION SIG_OID_ARC ".1.3"
#define SIG_VERSION_VERSION 1
#define SIG_FILE_VERSION_MAX ((uint64_t)INT64_MAX)

/* Who wrote the bytes, as the kernel reported it. */
struct sfs_writer {
	uint32_t uid;
	uint32_t gid;
	int32_t pid; /* not signed; audit only */
	char user[64];
	char exe[512];
	char host[256];
	char mount_id[64];
};

/* Fill w with the calling process's identity (CLI `sign`). */
void sfs_writer_self(struct sfs_writer *w);
/* Only the ids and /proc/PID/exe (user, host, mount_id left empty). */
void sfs_writer_ids(struct sfs_writer *w, pid_t pid, uid_t uid, gid_t gid);
/* Fill w from /proc/PID (exe, user name looked up from uid). */
void sfs_writer_from_pid(struct sfs_writer *w, pid_t pid, uid_t uid, gid_t gid);

/* What a verified (or parsed) signature says. */
struct sig_info {
	struct sfs_digest digest; /* messageDigest, with its algorithm */
	char *path;		  /* signetfs-path, NUL-terminated */
	size_t path_len;
	struct sfs_writer writer;
	time_t signing_time;
	/*
	 * The signer, set once the signature over the attributes verified
	 * (also when the chain, validity, EKU or pins then refuse it):
	 */
	uint8_t signer_sha256[32]; /* SHA-256 of the signer cert DER */
	char signer_subject[256];  /* one-line RFC 2253 */
	time_t signer_not_before, signer_not_after; /* 0: unreadable */
	/*
	 * A verifier's OK holds until then and no longer (0: no limit): the
	 * first notAfter of the chain when validity is judged now, and the
	 * earliest nextUpdate of the CRLs. A cached verdict must be redone.
	 */
	time_t valid_until;
	/*
	 * signetfs-version (.1.3): the signer's per-path version of the
	 * file, 1 and up; 0 when the signature carries none (docs/
	 * signature-format.md, "signetfs-version").
	 */
	uint64_t file_version;
	/* genTime of a timestamp token that verified (0: none evaluated). */
	time_t stamp_time;
};

void sig_info_clear(struct sig_info *info);

/*
 * The signetfs-version a signature carries, NOT verified: only ever a
 * floor (a version the outbox must not hand out again), never a verdict.
 * 0 with *file_version set, -ENOENT (none), -EBADMSG.
 */
int sig_peek_version(const uint8_t *der, size_t len, uint64_t *file_version);

#endif
