/* SPDX-License-Identifier: Apache-2.0 */
/* Incremental SHA-2 for callers that must not include OpenSSL (src/fs). */
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

#endif
