// SPDX-License-Identifier: Apache-2.0
/* HMAC-SHA256 under an HKDF-derived key: the state directory's records. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "signetfs/mac.h"

/* OSSL_PARAM wants a char *; OpenSSL only reads it. */
static char sha256_name[] = "SHA256";

struct sfs_mac {
	/*
	 * Keyed once; every MAC works on a duplicate, so one key serves all
	 * threads without a lock. The key bytes are in the secure heap.
	 */
	EVP_MAC_CTX *keyed;
	unsigned char *key;
};

static int hkdf(const uint8_t *ikm, size_t ikm_len, const char *salt,
		const void *info, size_t info_len, unsigned char *out)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *ctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM p[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, sha256_name,
					     0),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
					      ikm_len),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
					      strlen(salt)),
	    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
					      info_len),
	    OSSL_PARAM_construct_end(),
	};
	int ok = ctx && EVP_KDF_derive(ctx, out, SFS_MAC_LEN, p) == 1;

	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(kdf);
	return ok ? 0 : -EIO;
}

struct sfs_mac *sfs_mac_derive(const uint8_t *ikm, size_t ikm_len,
			       const char *salt, const void *info,
			       size_t info_len)
{
	struct sfs_mac *m = calloc(1, sizeof(*m));
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	OSSL_PARAM p[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, sha256_name,
					     0),
	    OSSL_PARAM_construct_end(),
	};

	if (!m || !mac)
		goto fail;
	m->key = OPENSSL_secure_malloc(SFS_MAC_LEN);
	if (!m->key || hkdf(ikm, ikm_len, salt, info, info_len, m->key))
		goto fail;
	m->keyed = EVP_MAC_CTX_new(mac);
	if (!m->keyed || !EVP_MAC_init(m->keyed, m->key, SFS_MAC_LEN, p))
		goto fail;
	EVP_MAC_free(mac);
	return m;
fail:
	EVP_MAC_free(mac);
	sfs_mac_free(m);
	return NULL;
}

void sfs_mac_free(struct sfs_mac *m)
{
	if (!m)
		return;
	EVP_MAC_CTX_free(m->keyed);
	OPENSSL_secure_clear_free(m->key, SFS_MAC_LEN);
	free(m);
}

int sfs_mac_compute(const struct sfs_mac *m, const struct sfs_mac_part *parts,
		    size_t n, uint8_t out[SFS_MAC_LEN])
{
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(m->keyed);
	size_t len = 0;
	int ok = ctx != NULL;

	for (size_t i = 0; ok && i < n; i++)
		ok = EVP_MAC_update(ctx, parts[i].p, parts[i].len);
	ok = ok && EVP_MAC_final(ctx, out, &len, SFS_MAC_LEN) &&
	     len == SFS_MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

int sfs_mac_verify(const struct sfs_mac *m, const struct sfs_mac_part *parts,
		   size_t n, const uint8_t tag[SFS_MAC_LEN])
{
	uint8_t want[SFS_MAC_LEN];
	int ret = sfs_mac_compute(m, parts, n, want);

	if (ret == 0 && CRYPTO_memcmp(want, tag, SFS_MAC_LEN) != 0)
		ret = -EBADMSG;
	OPENSSL_cleanse(want, sizeof(want));
	return ret ? -EBADMSG : 0;
}

int sfs_random_secret(void *buf, size_t len)
{
	return RAND_priv_bytes(buf, (int)len) == 1 ? 0 : -EIO;
}

void sfs_wipe(void *p, size_t len)
{
	OPENSSL_cleanse(p, len);
}
