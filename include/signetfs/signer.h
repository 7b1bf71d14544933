/* SPDX-License-Identifier: Apache-2.0 */
/* Makes v1 signatures with a PKCS#11 key; no OpenSSL types leak out. */
#ifndef SIGNETFS_SIGNER_H
#define SIGNETFS_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "sigfmt.h"
#include "util.h"

struct sfs_key_config {
	char *module;	    /* PKCS#11 module path */
	char *key_uri;	    /* RFC 7512 URI of the private key */
	char *pin_file;	    /* or pin-source=file: in the URI */
	char *cert;	    /* PEM signer certificate */
	char *chain;	    /* PEM intermediates to include (optional) */
	char *softhsm_conf; /* exported as SOFTHSM2_CONF when set */
	enum sfs_md md;
};

struct sfs_signer;

/*
 * Load the module, log in once, find the key, check the certificate matches
 * it. On failure err says which (module, token, PIN, key, cert), exit 3
 * for token errors and 2 for configuration errors.
 */
int signer_open(const struct sfs_key_config *cfg, struct sfs_signer **out,
		struct sfs_error *err);
void signer_close(struct sfs_signer *s);

/*
 * Sign: digest is the content digest (its alg must be cfg->md), path the
 * mount-relative path as raw bytes. Thread-safe. On token failure the next
 * call logs in again. *der is malloc'd.
 */
int signer_sign(struct sfs_signer *s, const struct sfs_digest *digest,
		const char *path, size_t path_len,
		const struct sfs_writer *writer, uint8_t **der, size_t *der_len,
		struct sfs_error *err);
/*
 * signer_sign() with a signetfs-version attribute of file_version (1 to
 * SIG_FILE_VERSION_MAX; 0: none, as signer_sign). The caller has made the
 * version durable before the signature can be installed (state.h).
 */
int signer_sign_versioned(struct sfs_signer *s, const struct sfs_digest *digest,
			  const char *path, size_t path_len,
			  const struct sfs_writer *writer,
			  uint64_t file_version, uint8_t **der, size_t *der_len,
			  struct sfs_error *err);

/*
 * Sign an audit-log checkpoint: a CMS SignedData of the checkpoint content
 * type (never a file signature), detached, over content (the checkpoint
 * line's signed bytes, docs/audit-log.md). *der is malloc'd.
 */
int signer_sign_checkpoint(struct sfs_signer *s, const void *content,
			   size_t len, uint8_t **der, size_t *der_len,
			   struct sfs_error *err);

/* SHA-256 of the first certificate of a PEM file (the signer's), for pins. */
int signer_cert_file_sha256(const char *file, uint8_t fp[32],
			    struct sfs_error *err);

enum sfs_md signer_md(const struct sfs_signer *s);
/* Key URI without any PIN attribute, for logs and audit. */
const char *signer_key_uri(const struct sfs_signer *s);
/* Lower-case hex SHA-256 of the signer certificate. */
const char *signer_cert_sha256(const struct sfs_signer *s);
/* Token serial number (for audit). */
const char *signer_token_serial(const struct sfs_signer *s);

#endif
