/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Building and parsing v1 signatures with OpenSSL types. Crypto-level:
 * src/crypto, src/hsm and tests use it; the mounts (src/outbox, src/inbox)
 * never include it.
 */
#ifndef SIGNETFS_SIGBUILD_H
#define SIGNETFS_SIGBUILD_H

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "digest.h"
#include "sigfmt.h"

/* Test hooks: ways to build a deliberately wrong signature. */
enum sig_build_flags {
	SIG_BUILD_NO_PATH = 1 << 0,  /* omit signetfs-path */
	SIG_BUILD_PATH_V2 = 1 << 1,  /* signetfs-path version 2 */
	SIG_BUILD_NO_ESS = 1 << 2,   /* omit signingCertificateV2 */
	SIG_BUILD_NO_CERTS = 1 << 3, /* no certificates at all */
	/* signetfs-version twins (with file_version set): */
	SIG_BUILD_VERSION_TWICE = 1 << 4,  /* the attribute twice */
	SIG_BUILD_VERSION_VALUES = 1 << 5, /* one attribute, two values */
	SIG_BUILD_VERSION_RAW = 1 << 6,	   /* version_der as its value */
};

struct sig_build {
	EVP_PKEY *key; /* may live on a token */
	X509 *cert;
	STACK_OF(X509) * chain; /* intermediates, may be NULL */
	const struct sfs_digest *digest;
	const char *path;
	size_t path_len;
	const struct sfs_writer *writer;
	unsigned int flags;
	/* sig_build_content_*() only: eContentType, NULL: id-data. */
	const ASN1_OBJECT *content_type;
	/* signetfs-version (.1.3) when not 0; SIG_BUILD_VERSION_RAW: raw. */
	uint64_t file_version;
	const uint8_t *version_der;
	int version_der_len;
};

/*
 * Build the CMS SignedData (detached, id-data) with the v1 attributes and
 * sign it with b->key. Returns NULL on error (OpenSSL error queue set).
 */
CMS_ContentInfo *sig_build_cms(const struct sig_build *b);
/* The same, DER-encoded into a malloc'd buffer; 0 or -errno. */
int sig_build_der(const struct sig_build *b, uint8_t **der, size_t *len);

/*
 * A SignedData over content itself (detached, SHA-256), of eContentType
 * b->content_type, with the signed attributes contentType, messageDigest,
 * signingTime and signingCertificateV2 only: an audit-log checkpoint when
 * the type is sig_oid_checkpoint(). b->digest and b->writer are not used;
 * b->path, when set, adds a signetfs-path (a test hook: a wrong one).
 */
CMS_ContentInfo *sig_build_content_cms(const struct sig_build *b,
				       const void *content, size_t len);
int sig_build_content_der(const struct sig_build *b, const void *content,
			  size_t len, uint8_t **der, size_t *der_len);

/* The OpenSSL digest for an algorithm (static, never freed). */
const EVP_MD *sfs_md_evp(enum sfs_md alg);

/* OIDs of the signetfs attributes (static, never freed). */
const ASN1_OBJECT *sig_oid_path(void);
const ASN1_OBJECT *sig_oid_writer(void);

/*
 * The eContentType of an audit-log checkpoint signature: a content type of
 * its own, so that no file signature (id-data) is ever a checkpoint and no
 * checkpoint is ever a file signature (docs/signature-format.md).
 */
#define SIG_OID_CHECKPOINT SIG_OID_ARC ".2.1"
const ASN1_OBJECT *sig_oid_checkpoint(void);

/* Encode / decode the attribute values (DER SEQUENCE). */
int sig_path_encode(long version, const char *path, size_t len, uint8_t **der,
		    int *der_len);
/* -EPROTO for an unknown version, -EBADMSG for malformed. */
int sig_path_decode(const uint8_t *der, long len, char **path,
		    size_t *path_len);
int sig_writer_encode(const struct sfs_writer *w, uint8_t **der, int *der_len);
int sig_writer_decode(const uint8_t *der, long len, struct sfs_writer *w);
/*
 * signetfs-version ::= SEQUENCE { version INTEGER (1), fileVersion INTEGER
 * (1..2^63-1) }. Decode: -EPROTO for an unknown version, -EBADMSG for
 * anything but DER of that (zero, negative, too large, trailing bytes).
 */
const ASN1_OBJECT *sig_oid_version(void);
int sig_version_encode(long version, uint64_t file_version, uint8_t **der,
		       int *der_len);
int sig_version_decode(const uint8_t *der, long len, uint64_t *file_version);

#endif
