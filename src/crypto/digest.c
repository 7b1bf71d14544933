// SPDX-License-Identifier: Apache-2.0
/* Incremental SHA-2 over OpenSSL EVP, behind an opaque type for src/fs. */
#include <errno.h>
#include <stdlib.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "signetfs/digest.h"
#include "signetfs/sigbuild.h"
#include "signetfs/util.h"

struct sfs_hash {
	EVP_MD_CTX *ctx;
	enum sfs_md alg;
};

/* Fetched once: EVP_MD_fetch per hash would dominate small files. */
const EVP_MD *sfs_md_evp(enum sfs_md alg)
{
	switch (alg) {
	case SFS_MD_SHA256:
		return EVP_sha256();
	case SFS_MD_SHA384:
		return EVP_sha384();
	case SFS_MD_SHA512:
		return EVP_sha512();
	}
	return NULL;
}

size_t sfs_md_len(enum sfs_md alg)
{
	switch (alg) {
	case SFS_MD_SHA256:
		return 32;
	case SFS_MD_SHA384:
		return 48;
	case SFS_MD_SHA512:
		return 64;
	}
	return 0;
}

const char *sfs_md_name(enum sfs_md alg)
{
	switch (alg) {
	case SFS_MD_SHA256:
		return "sha256";
	case SFS_MD_SHA384:
		return "sha384";
	case SFS_MD_SHA512:
		return "sha512";
	}
	return "?";
}

struct sfs_hash *sfs_hash_new(enum sfs_md alg)
{
	struct sfs_hash *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->alg = alg;
	h->ctx = EVP_MD_CTX_new();
	if (!h->ctx || !sfs_md_evp(alg) ||
	    !EVP_DigestInit_ex(h->ctx, sfs_md_evp(alg), NULL)) {
		sfs_hash_free(h);
		return NULL;
	}
	return h;
}

int sfs_hash_update(struct sfs_hash *h, const void *data, size_t len)
{
	return EVP_DigestUpdate(h->ctx, data, len) ? 0 : -EIO;
}

int sfs_hash_final(struct sfs_hash *h, struct sfs_digest *out)
{
	unsigned int n = 0;

	if (!EVP_DigestFinal_ex(h->ctx, out->bytes, &n))
		return -EIO;
	out->alg = h->alg;
	out->len = n;
	return 0;
}

int sfs_hash_reset(struct sfs_hash *h)
{
	return EVP_DigestInit_ex(h->ctx, sfs_md_evp(h->alg), NULL) ? 0 : -EIO;
}

struct sfs_hash *sfs_hash_dup(const struct sfs_hash *h)
{
	struct sfs_hash *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->alg = h->alg;
	d->ctx = EVP_MD_CTX_new();
	if (!d->ctx || !EVP_MD_CTX_copy_ex(d->ctx, h->ctx)) {
		sfs_hash_free(d);
		return NULL;
	}
	return d;
}

void sfs_hash_free(struct sfs_hash *h)
{
	if (!h)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

int sfs_hash_fd(int fd, enum sfs_md alg, struct sfs_digest *out,
		uint64_t *size)
{
	const size_t bufsz = 256 * 1024;
	struct sfs_hash *h = sfs_hash_new(alg);
	uint8_t *buf = malloc(bufsz);
	uint64_t off = 0;
	int ret = -ENOMEM;

	if (!h || !buf)
		goto out;
	for (;;) {
		size_t got = 0;

		ret = sfs_full_pread(fd, buf, bufsz, (off_t)off, &got);
		if (ret)
			goto out;
		if (got == 0)
			break;
		ret = sfs_hash_update(h, buf, got);
		if (ret)
			goto out;
		off += got;
	}
	ret = sfs_hash_final(h, out);
	if (size)
		*size = off;
out:
	free(buf);
	sfs_hash_free(h);
	return ret;
}

void sfs_sha256(const void *data, size_t len, uint8_t out[32])
{
	SHA256(data, len, out);
}
