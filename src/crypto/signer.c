// SPDX-License-Identifier: Apache-2.0
/* The signer: an HSM key, its certificate chain, and the v1 format. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "signetfs/hsm.h"
#include "signetfs/log.h"
#include "signetfs/sigbuild.h"
#include "signetfs/signer.h"

struct sfs_signer {
	struct hsm *hsm;
	X509 *cert;
	STACK_OF(X509) * chain; /* intermediates from cert/chain files */
	enum sfs_md md;
	char cert_sha256[65];
};

/* The first certificate of FILE is the signer; any others are chain. */
static int load_certs(const char *file, X509 **first, STACK_OF(X509) * rest,
		      struct sfs_error *err)
{
	BIO *bio = BIO_new_file(file, "r");
	int ret = bio ? 0 : errno ? -errno : -ENOENT; /* fopen's errno */
	X509 *x;
	int n = 0;

	if (!bio) {
		ERR_clear_error();
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "cannot read certificate file %s: %s", file,
			      strerror(-ret));
		return ret;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (first && !*first)
			*first = x;
		else if (!sk_X509_push(rest, x))
			X509_free(x);
		n++;
	}
	BIO_free(bio);
	ERR_clear_error();
	if (n == 0) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "no PEM certificate in %s", file);
		return -EINVAL;
	}
	return 0;
}

int signer_open(const struct sfs_key_config *cfg, struct sfs_signer **out,
		struct sfs_error *err)
{
	struct hsm_config hc = {
	    .module = cfg->module,
	    .key_uri = cfg->key_uri,
	    .pin_file = cfg->pin_file,
	    .softhsm_conf = cfg->softhsm_conf,
	};
	struct sfs_signer *s = calloc(1, sizeof(*s));
	uint8_t fp[32];
	unsigned int fplen = sizeof(fp);
	int ret = -ENOMEM;

	if (!s)
		goto fail;
	s->md = cfg->md;
	s->chain = sk_X509_new_null();
	if (!s->chain)
		goto fail;
	if (!cfg->cert || !cfg->key_uri || !cfg->module) {
		ret = -EINVAL;
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "signing needs module, key and cert");
		goto fail;
	}
	ret = load_certs(cfg->cert, &s->cert, s->chain, err);
	if (!ret && cfg->chain)
		ret = load_certs(cfg->chain, NULL, s->chain, err);
	if (ret)
		goto fail;
	ret = hsm_open(&hc, &s->hsm, err);
	if (ret)
		goto fail;
	if (EVP_PKEY_eq(X509_get0_pubkey(s->cert), hsm_public_key(s->hsm)) !=
	    1) {
		ret = -EINVAL;
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "certificate %s does not match the key %s",
			      cfg->cert, hsm_key_uri(s->hsm));
		goto fail;
	}
	X509_digest(s->cert, EVP_sha256(), fp, &fplen);
	sfs_hex(fp, 32, s->cert_sha256);
	ERR_clear_error();
	*out = s;
	return 0;
fail:
	ERR_clear_error();
	signer_close(s);
	return ret;
}

void signer_close(struct sfs_signer *s)
{
	if (!s)
		return;
	hsm_close(s->hsm);
	X509_free(s->cert);
	sk_X509_pop_free(s->chain, X509_free);
	free(s);
}

/*
 * Sign b with the token key (b->cert and b->chain are filled in here): over
 * content when it is set, else over b->digest.
 */
static int sign_on_token(struct sfs_signer *s, struct sig_build *b,
			 const void *content, size_t len, uint8_t **der,
			 size_t *der_len, struct sfs_error *err)
{
	int ret;

	b->cert = s->cert;
	b->chain = s->chain;
	ret = hsm_sign_begin(s->hsm, &b->key, err);
	if (ret)
		return ret;
	ret = content ? sig_build_content_der(b, content, len, der, der_len)
		      : sig_build_der(b, der, der_len);
	if (ret) {
		/* The message names what the module said; the errno stays EIO.
		 */
		hsm_sign_error(s->hsm, err);
		err->code = -EIO;
	}
	hsm_sign_end(s->hsm, ret != 0);
	return ret ? -EIO : 0;
}

int signer_sign(struct sfs_signer *s, const struct sfs_digest *digest,
		const char *path, size_t path_len,
		const struct sfs_writer *writer, uint8_t **der, size_t *der_len,
		struct sfs_error *err)
{
	return signer_sign_versioned(s, digest, path, path_len, writer, 0, der,
				     der_len, err);
}

int signer_sign_versioned(struct sfs_signer *s, const struct sfs_digest *digest,
			  const char *path, size_t path_len,
			  const struct sfs_writer *writer,
			  uint64_t file_version, uint8_t **der, size_t *der_len,
			  struct sfs_error *err)
{
	struct sig_build b = {
	    .digest = digest,
	    .path = path,
	    .path_len = path_len,
	    .writer = writer,
	    .file_version = file_version,
	};

	/* The digest's own algorithm is signed (content uses signer_md()). */
	if (digest->len != sfs_md_len(digest->alg) ||
	    file_version > SIG_FILE_VERSION_MAX ||
	    sfs_path_check(path, path_len)) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "invalid digest or path to sign");
		return -EINVAL;
	}
	return sign_on_token(s, &b, NULL, 0, der, der_len, err);
}

int signer_sign_checkpoint(struct sfs_signer *s, const void *content,
			   size_t len, uint8_t **der, size_t *der_len,
			   struct sfs_error *err)
{
	/*
	 * Its own eContentType and no signetfs-path: no file verifier takes
	 * it for a file signature, and the checkpoint verifier takes nothing
	 * else (docs/signature-format.md, "Audit-log checkpoints").
	 */
	struct sig_build b = {.content_type = sig_oid_checkpoint()};

	if (!b.content_type || !content || len == 0) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "nothing to sign for a checkpoint");
		return -EINVAL;
	}
	return sign_on_token(s, &b, content, len, der, der_len, err);
}

int signer_cert_file_sha256(const char *file, uint8_t fp[32],
			    struct sfs_error *err)
{
	STACK_OF(X509) *rest = sk_X509_new_null();
	X509 *first = NULL;
	unsigned int len = 32;
	int ret = -ENOMEM;

	if (!rest)
		goto out;
	ret = load_certs(file, &first, rest, err);
	if (ret)
		goto out;
	if (!X509_digest(first, EVP_sha256(), fp, &len) || len != 32) {
		ret = -EIO;
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "cannot hash the certificate in %s", file);
	}
out:
	X509_free(first);
	sk_X509_pop_free(rest, X509_free);
	ERR_clear_error();
	return ret;
}

enum sfs_md signer_md(const struct sfs_signer *s)
{
	return s->md;
}

const char *signer_key_uri(const struct sfs_signer *s)
{
	return hsm_key_uri(s->hsm);
}

const char *signer_cert_sha256(const struct sfs_signer *s)
{
	return s->cert_sha256;
}

const char *signer_token_serial(const struct sfs_signer *s)
{
	return hsm_token_serial(s->hsm);
}
