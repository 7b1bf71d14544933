/* SPDX-License-Identifier: Apache-2.0 */
/* Incremental SHA-2 for callers that must not include OpenSSL (the mounts). */
#ifndef SIGNETFS_DIGEST_H
#define SIGNETFS_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum sfs_md {
	SFS_MD_SHA256 = 0,
	SFS_MD_SHA384 = 1,
	SFS_MD_SHA512 = 2,
};

#define SFS_MD_MAX 64

struct sfs_digest {
	enum sfs_md alg;
	size_t len;
	uint8_t bytes[SFS_MD_MAX];
};

struct sfs_hash;

struct sfs_hash *sfs_hash_new(enum sfs_md alg);
int sfs_hash_update(struct sfs_hash *h, const void *data, size_t len);
/* Final digest; the context can be reset with sfs_hash_reset(). */
int sfs_hash_final(struct sfs_hash *h, struct sfs_digest *out);
int sfs_hash_reset(struct sfs_hash *h);
/* Copy state (for a digest of a prefix while hashing continues). */
struct sfs_hash *sfs_hash_dup(const struct sfs_hash *h);
void sfs_hash_free(struct sfs_hash *h);

size_t sfs_md_len(enum sfs_md alg);
const char *sfs_md_name(enum sfs_md alg);

/* Hash fd from offset 0 to EOF with pread; 0 or -errno. */
int sfs_hash_fd(int fd, enum sfs_md alg, struct sfs_digest *out,
		uint64_t *size);

/* One-shot SHA-256. */
void sfs_sha256(const void *data, size_t len, uint8_t out[32]);

/*
 * Keyed block tags: AES-256-GMAC under a random key made when the object
 * is made, held in OpenSSL's secure heap and never handed out. Only this
 * process can make a tag that checks, so a tag recorded while bytes were
 * hashed and checked when they are read again proves they are the same
 * bytes without hashing them again (docs/inbox.md). Tags are secrets too:
 * never show them.
 *
 * The nonce is (gen, index), 48 bits each: a caller makes at most one tag
 * per (gen, index) — gen unique per pass over a file, index the block —
 * and may check against it any number of times.
 */
#define SFS_BLOCKMAC_LEN 16
#define SFS_BLOCKMAC_NONCE_MAX ((uint64_t)1 << 48)

struct sfs_blockmac;

/* NULL when there is no memory or no randomness. */
struct sfs_blockmac *sfs_blockmac_new(void);
void sfs_blockmac_free(struct sfs_blockmac *m);
/* Tag data; thread-safe. 0, -EOVERFLOW (nonce out of range) or -EIO. */
int sfs_blockmac_tag(const struct sfs_blockmac *m, uint64_t gen, uint64_t index,
		     const void *data, size_t len,
		     uint8_t tag[SFS_BLOCKMAC_LEN]);
/* 0 when data has that tag (compared in constant time), else -EBADMSG. */
int sfs_blockmac_check(const struct sfs_blockmac *m, uint64_t gen,
		       uint64_t index, const void *data, size_t len,
		       const uint8_t tag[SFS_BLOCKMAC_LEN]);

#endif
