// SPDX-License-Identifier: Apache-2.0
/* Verify v1 signatures: strict format, attributes, signature, chain, policy. */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "signetfs/log.h"
#include "signetfs/sigbuild.h"
#include "signetfs/verify.h"
#include "chain_int.h"
#include "tsa_int.h"

struct sfs_verifier {
	X509_STORE *store; /* read-only after verifier_new(): shared */
	bool crl_check;
	bool at_signing_time;
	time_t crl_until; /* earliest nextUpdate of the CRLs, 0: none */
	/* Chain verdicts of this trust epoch (NULL: none kept). */
	struct verify_chain_cache *cc;
	atomic_uint_fast64_t chain_builds; /* X509_verify_cert() calls */
	time_t now;			   /* tests: "now" of chain checks */
	/* TSA trust stores by file name (verifier_add_tsa, before sharing). */
	struct {
		char *file;
		X509_STORE *store;
	} * tsa;
	size_t n_tsa;
};

/*
 * A signer's chain to verify: the signer, the certificates the CMS
 * carries, and (keyed) their identity for the chain-verdict cache.
 */
struct chain_req {
	X509 *signer;
	STACK_OF(X509) * untrusted;
	struct verify_chain_key key;
	bool keyed;
};

/* RFC 3161 (T1-T9), at the end of this file. */
static enum verify_reason check_stamp(struct sfs_verifier *v,
				      CMS_SignerInfo *si,
				      const struct verify_tsa *tsa,
				      struct sig_info *info);
static enum verify_reason check_chain_stamped(struct sfs_verifier *v,
					      const struct chain_req *q,
					      time_t gen, time_t *until);
static enum verify_reason chain_pass(struct sfs_verifier *v,
				     const struct chain_req *q,
				     const time_t *at, bool crl,
				     bool cert_validity, time_t *until);

static const struct {
	const char *name;
	const char *text;
} reasons[VR_COUNT_] = {
    [VR_OK] = {"ok", "ok"},
    [VR_NO_SIG] = {"no-signature", "no signature file"},
    [VR_SIG_EMPTY] = {"sig-empty", "signature file is empty"},
    [VR_SIG_TOO_LARGE] = {"sig-too-large",
			  "signature file is larger than the limit"},
    [VR_SIG_MALFORMED] = {"sig-malformed",
			  "signature is not a DER CMS ContentInfo"},
    [VR_SIG_TRAILING] = {"sig-trailing-data",
			 "trailing bytes after the signature"},
    [VR_NOT_SIGNED_DATA] = {"not-signed-data", "CMS content is not SignedData"},
    [VR_NOT_DETACHED] = {"not-detached",
			 "signature carries content (not detached)"},
    [VR_CONTENT_TYPE] = {"econtent-type", "eContentType is not id-data"},
    [VR_SIGNER_COUNT] = {"signer-count", "not exactly one signer"},
    [VR_DIGEST_ALG] = {"digest-algorithm",
		       "digest algorithm not allowed (SHA-256/384/512)"},
    [VR_NO_SIGNED_ATTRS] = {"no-signed-attributes", "no signed attributes"},
    [VR_ATTR_MISSING] = {"attribute-missing",
			 "a required signed attribute is missing or repeated"},
    [VR_ATTR_MALFORMED] = {"attribute-malformed",
			   "a signed attribute is malformed"},
    [VR_ATTR_VERSION] = {"attribute-version",
			 "unknown signetfs attribute version"},
    [VR_ATTR_CONTENT_TYPE] = {"content-type-attribute",
			      "contentType attribute is not id-data"},
    [VR_SIGNER_CERT] = {"signer-cert-missing",
			"signer certificate not found in the signature"},
    [VR_BAD_SIGNATURE] = {"bad-signature",
			  "signature over the signed attributes is invalid"},
    [VR_UNTRUSTED] = {"untrusted", "signer does not chain to the trust store"},
    [VR_EXPIRED] = {"cert-expired", "certificate has expired"},
    [VR_NOT_YET_VALID] = {"cert-not-yet-valid", "certificate is not yet valid"},
    [VR_NO_CODESIGN_EKU] = {"no-codesigning-eku",
			    "signer certificate lacks the codeSigning EKU"},
    [VR_REVOKED] = {"revoked", "certificate is revoked"},
    [VR_CRL_ERROR] = {"crl-error", "CRL missing, expired or not verifiable"},
    [VR_PIN_MISMATCH] = {"signer-not-pinned",
			 "signer is not one of the pinned signers"},
    [VR_PATH_MISMATCH] = {"path-mismatch",
			  "signed path differs from the file's path"},
    [VR_CONTENT_DIGEST] = {"content-digest",
			   "content does not match the signed digest"},
    [VR_POLICY] = {"policy-error",
		   "policy cannot evaluate this path (deeper than 256 "
		   "components)"},
    [VR_IO] = {"io-error", "cannot read the file or its signature"},
    [VR_INTERNAL] = {"internal-error", "internal error"},
    [VR_SIGNER_IS_CA] = {"signer-is-ca",
			 "signer certificate is a CA certificate"},
    [VR_NOT_REGULAR] = {"not-regular-file", "not a regular file (not opened)"},
    [VR_ROLLBACK] = {"rollback", "older than a version of this path already "
				 "seen (rollback)"},
    [VR_STATE] = {"state-error", "the version map's entry for this path "
				 "cannot be read or fails its MAC"},
    [VR_UNSIGNED_ATTR] = {"unsigned-attribute",
			  "an unsigned attribute other than a timestamp "
			  "token"},
    [VR_TSA_COUNT] = {"tsa-token-count", "more than one timestamp token"},
    [VR_TSA_MALFORMED] = {"tsa-token-malformed",
			  "timestamp token is not a DER RFC 3161 token"},
    [VR_TSA_IMPRINT] = {"tsa-imprint-mismatch",
			"timestamp token is not over this signature"},
    [VR_TSA_BAD_SIGNATURE] = {"tsa-bad-signature",
			      "timestamp token's signature is invalid"},
    [VR_TSA_ESS] = {"tsa-ess-mismatch",
		    "timestamp token's ESS certificate id does not name "
		    "its TSA certificate"},
    [VR_TSA_UNTRUSTED] = {"tsa-untrusted",
			  "timestamp authority does not chain to tsa-trust "
			  "at genTime"},
    [VR_TSA_NO_EKU] = {"tsa-no-timestamping-eku",
		       "TSA certificate lacks a critical timeStamping EKU"},
    [VR_TSA_POLICY] = {"tsa-policy-mismatch",
		       "timestamp token's policy is not tsa-policy"},
    [VR_TSA_TIME] = {"tsa-time-outside-validity",
		     "timestamp's genTime is outside the signer "
		     "certificate's validity (or in the future)"},
};

const char *verify_reason_str(enum verify_reason r)
{
	return (unsigned)r < VR_COUNT_ ? reasons[r].text : "unknown";
}

const char *verify_reason_name(enum verify_reason r)
{
	return (unsigned)r < VR_COUNT_ ? reasons[r].name : "unknown";
}

/* ASN1_TIME as time_t; 0 when absent or unreadable. */
static time_t asn1_time_t(const ASN1_TIME *t)
{
	time_t v;

	return verify_asn1_time(t, &v) ? v : 0;
}

/* The earlier of two limits, 0 meaning none. */
static time_t earlier(time_t a, time_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/*
 * The errno of the last system error in OpenSSL's queue (fopen's, when a
 * file would not open), 0 if there is none; the queue is emptied. The one
 * place verification maps OpenSSL's errors to errno.
 */
static int queue_errno(void)
{
	unsigned long e;
	int found = 0;

	while ((e = ERR_get_error()) != 0)
		if (ERR_GET_LIB(e) == ERR_LIB_SYS && ERR_GET_REASON(e) > 0)
			found = ERR_GET_REASON(e);
	return found;
}

/* ": No such file or directory" when the queue holds why, else "". */
static const char *queue_why(char *buf, size_t cap)
{
	int e = queue_errno();

	if (!e)
		return "";
	snprintf(buf, cap, ": %s", strerror(e));
	return buf;
}

static int load_crls(X509_STORE *store, const char *file, time_t *until,
		     struct sfs_error *err)
{
	STACK_OF(X509_INFO) * infos;
	BIO *bio;
	int n = 0, ret;

	errno = 0;
	bio = BIO_new_file(file, "r");
	if (!bio) {
		/* fopen's errno, before anything else can change it. */
		ret = errno ? -errno : -ENOENT;
		ERR_clear_error();
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "cannot read CRL file %s: %s", file,
			      strerror(-ret));
		return ret;
	}
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->crl && X509_STORE_add_crl(store, xi->crl)) {
			*until = earlier(
			    *until,
			    asn1_time_t(X509_CRL_get0_nextUpdate(xi->crl)));
			n++;
		}
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (n == 0) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "no CRL found in %s", file);
		return -EINVAL;
	}
	return 0;
}

/* Certificates (not CRLs) the store holds. */
static int store_certs(X509_STORE *store)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	int n = 0;

	for (int i = 0; objs && i < sk_X509_OBJECT_num(objs); i++)
		if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objs, i)) ==
		    X509_LU_X509)
			n++;
	return n;
}

/*
 * A directory with at least one "HHHHHHHH.N" certificate link in it: 1,
 * 0 when it has none, -errno when it cannot be read.
 */
static int hashed_certs_in(const char *dir)
{
	struct dirent *de;
	int found = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while (!found && (de = readdir(d))) {
		const char *n = de->d_name;
		size_t h = strspn(n, "0123456789abcdef");

		found = h == 8 && n[8] == '.' && n[9] &&
			strspn(n + 9, "0123456789") == strlen(n + 9);
	}
	closedir(d);
	return found;
}

static int load_cafile(X509_STORE *store, const char *file,
		       struct sfs_error *err)
{
	char why[128];

	if (X509_STORE_load_file(store, file) && store_certs(store) > 0)
		return 0;
	sfs_error_set(
	    err, -ENOENT, SFS_EXIT_USAGE, "cannot load trust store %s%s", file,
	    queue_why(why, sizeof(why))[0] ? why : " (no certificate in it)");
	return -ENOENT;
}

X509_STORE *tsa_store_load(const char *file, struct sfs_error *err)
{
	X509_STORE *s = X509_STORE_new();
	int n = s && X509_STORE_load_file(s, file) ? store_certs(s) : 0;

	ERR_clear_error();
	if (n == 0) {
		sfs_error_set(err, -ENOENT, SFS_EXIT_USAGE,
			      "cannot load the TSA trust store %s (tsa-trust: "
			      "no certificate in it)",
			      file);
		X509_STORE_free(s);
		return NULL;
	}
	return s;
}

/*
 * A directory is only searched at verification time: one that does not
 * exist or holds no hashed certificate would trust nothing and say
 * nothing. Fail closed here instead.
 */
static int load_capath(X509_STORE *store, const char *dir,
		       struct sfs_error *err)
{
	int ret = hashed_certs_in(dir);

	if (ret > 0 && X509_STORE_load_path(store, dir))
		return 0;
	ERR_clear_error();
	sfs_error_set(
	    err, -ENOENT, SFS_EXIT_USAGE, "cannot load trust directory %s%s%s",
	    dir, ret < 0 ? ": " : " (no hashed certificate in it: c_rehash)",
	    ret < 0 ? strerror(-ret) : "");
	return -ENOENT;
}

int verifier_new(const struct sfs_trust_config *cfg, struct sfs_verifier **out,
		 struct sfs_error *err)
{
	struct sfs_verifier *v = calloc(1, sizeof(*v));
	int ret = -EINVAL;

	if (!v)
		return -ENOMEM;
	atomic_init(&v->chain_builds, 0);
	v->store = X509_STORE_new();
	if (!v->store)
		goto fail;
	if (!cfg->cafile && !cfg->capath) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "no trust store configured (trust = CA.pem)");
		goto fail;
	}
	if (cfg->cafile && load_cafile(v->store, cfg->cafile, err))
		goto fail;
	if (cfg->capath && load_capath(v->store, cfg->capath, err))
		goto fail;
	if (cfg->crlfile) {
		ret = load_crls(v->store, cfg->crlfile, &v->crl_until, err);
		if (ret)
			goto fail;
		v->crl_check = true;
	}
	v->at_signing_time = cfg->at_signing_time;
	/* Without a cache every file's chain is verified: slower, not less. */
	if (verify_chain_cache_new(v->store, cfg->capath, &v->cc))
		sfs_debug("verifier: no chain-verdict cache (%s unreadable)",
			  cfg->capath ? cfg->capath : "trust store");
	ERR_clear_error();
	*out = v;
	return 0;
fail:
	ERR_clear_error();
	verifier_free(v);
	return ret;
}

void verifier_free(struct sfs_verifier *v)
{
	if (!v)
		return;
	X509_STORE_free(v->store);
	verify_chain_cache_free(v->cc);
	for (size_t i = 0; i < v->n_tsa; i++) {
		free(v->tsa[i].file);
		X509_STORE_free(v->tsa[i].store);
	}
	free(v->tsa);
	free(v);
}

/* Exactly one attribute with exactly one value of the given type. */
static ASN1_TYPE *single_attr(CMS_SignerInfo *si, const ASN1_OBJECT *oid)
{
	int pos = CMS_signed_get_attr_by_OBJ(si, oid, -1);
	X509_ATTRIBUTE *a;

	if (pos < 0 || CMS_signed_get_attr_by_OBJ(si, oid, pos) >= 0)
		return NULL;
	a = CMS_signed_get_attr(si, pos);
	if (X509_ATTRIBUTE_count(a) != 1)
		return NULL;
	return X509_ATTRIBUTE_get0_type(a, 0);
}

static enum sfs_md md_from_nid(int nid, bool *ok)
{
	*ok = true;
	switch (nid) {
	case NID_sha256:
		return SFS_MD_SHA256;
	case NID_sha384:
		return SFS_MD_SHA384;
	case NID_sha512:
		return SFS_MD_SHA512;
	}
	*ok = false;
	return SFS_MD_SHA256;
}

static enum verify_reason seq_attr(CMS_SignerInfo *si, const ASN1_OBJECT *oid,
				   const uint8_t **der, long *len)
{
	ASN1_TYPE *t = single_attr(si, oid);

	if (!t)
		return VR_ATTR_MISSING;
	if (ASN1_TYPE_get(t) != V_ASN1_SEQUENCE)
		return VR_ATTR_MALFORMED;
	*der = ASN1_STRING_get0_data(t->value.sequence);
	*len = ASN1_STRING_length(t->value.sequence);
	return VR_OK;
}

static enum verify_reason errno_reason(int e)
{
	return e == 0	      ? VR_OK
	       : e == -EPROTO ? VR_ATTR_VERSION
	       : e == -ENOMEM ? VR_INTERNAL
			      : VR_ATTR_MALFORMED;
}

/* The signed attributes: contentType, messageDigest, time, signetfs. */
static enum verify_reason check_attrs(CMS_SignerInfo *si, enum sfs_md md,
				      struct sig_info *info)
{
	const uint8_t *der;
	ASN1_TYPE *t;
	long len;
	enum verify_reason r;

	if (CMS_signed_get_attr_count(si) <= 0)
		return VR_NO_SIGNED_ATTRS;
	t = single_attr(si, OBJ_nid2obj(NID_pkcs9_contentType));
	if (!t)
		return VR_ATTR_MISSING;
	if (ASN1_TYPE_get(t) != V_ASN1_OBJECT ||
	    OBJ_obj2nid(t->value.object) != NID_pkcs7_data)
		return VR_ATTR_CONTENT_TYPE;
	t = single_attr(si, OBJ_nid2obj(NID_pkcs9_messageDigest));
	if (!t)
		return VR_ATTR_MISSING;
	if (ASN1_TYPE_get(t) != V_ASN1_OCTET_STRING ||
	    (size_t)ASN1_STRING_length(t->value.octet_string) != sfs_md_len(md))
		return VR_ATTR_MALFORMED;
	info->digest.alg = md;
	info->digest.len = sfs_md_len(md);
	memcpy(info->digest.bytes, ASN1_STRING_get0_data(t->value.octet_string),
	       info->digest.len);
	t = single_attr(si, OBJ_nid2obj(NID_pkcs9_signingTime));
	if (!t)
		return VR_ATTR_MISSING;
	if ((ASN1_TYPE_get(t) != V_ASN1_UTCTIME &&
	     ASN1_TYPE_get(t) != V_ASN1_GENERALIZEDTIME) ||
	    !verify_asn1_time((const ASN1_TIME *)t->value.asn1_string,
			      &info->signing_time))
		return VR_ATTR_MALFORMED;
	/* ESS signingCertificateV2 binds the signer cert (RFC 5035). */
	if (!single_attr(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2)))
		return VR_ATTR_MISSING;
	r = seq_attr(si, sig_oid_path(), &der, &len);
	if (r)
		return r;
	r = errno_reason(
	    sig_path_decode(der, len, &info->path, &info->path_len));
	if (r)
		return r;
	if (sfs_path_check(info->path, info->path_len))
		return VR_ATTR_MALFORMED;
	r = seq_attr(si, sig_oid_writer(), &der, &len);
	if (r)
		return r;
	r = errno_reason(sig_writer_decode(der, len, &info->writer));
	if (r)
		return r;
	/* signetfs-version is optional, but once, with one value, strict. */
	if (CMS_signed_get_attr_by_OBJ(si, sig_oid_version(), -1) < 0)
		return VR_OK;
	r = seq_attr(si, sig_oid_version(), &der, &len);
	if (r)
		return r;
	return errno_reason(sig_version_decode(der, len, &info->file_version));
}

static enum verify_reason check_ess(CMS_SignerInfo *si, X509 *signer)
{
	ASN1_TYPE *t =
	    single_attr(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2));
	const unsigned char *p;
	ESS_SIGNING_CERT_V2 *ss;
	STACK_OF(X509) * chain;
	int ok;

	if (ASN1_TYPE_get(t) != V_ASN1_SEQUENCE)
		return VR_ATTR_MALFORMED;
	p = ASN1_STRING_get0_data(t->value.sequence);
	ss = d2i_ESS_SIGNING_CERT_V2(NULL, &p,
				     ASN1_STRING_length(t->value.sequence));
	if (!ss)
		return VR_ATTR_MALFORMED;
	chain = sk_X509_new_null();
	ok = chain && sk_X509_push(chain, signer) &&
	     OSSL_ESS_check_signing_certs(NULL, ss, chain, 1) > 0;
	sk_X509_free(chain);
	ESS_SIGNING_CERT_V2_free(ss);
	return ok ? VR_OK : VR_BAD_SIGNATURE;
}

static enum verify_reason chain_reason(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return VR_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return VR_NOT_YET_VALID;
	case X509_V_ERR_CERT_REVOKED:
		return VR_REVOKED;
	case X509_V_ERR_UNABLE_TO_GET_CRL:
	case X509_V_ERR_CRL_HAS_EXPIRED:
	case X509_V_ERR_CRL_NOT_YET_VALID:
	case X509_V_ERR_CRL_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
		return VR_CRL_ERROR;
	}
	return VR_UNTRUSTED;
}

/*
 * The CRL pass of validity = signing-time: the certificates' own validity
 * was judged at signingTime by the first pass, so only those two errors
 * are let through here; everything about the CRL is judged now.
 */
static int ignore_cert_validity(int ok, X509_STORE_CTX *ctx)
{
	int e = X509_STORE_CTX_get_error(ctx);

	if (!ok && (e == X509_V_ERR_CERT_HAS_EXPIRED ||
		    e == X509_V_ERR_CERT_NOT_YET_VALID))
		return 1;
	return ok;
}

/* The first notAfter in the chain a verification built. */
static time_t chain_until(X509_STORE_CTX *ctx)
{
	STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx);
	time_t until = 0;

	for (int i = 0; chain && i < sk_X509_num(chain); i++)
		until = earlier(until, asn1_time_t(X509_get0_notAfter(
					   sk_X509_value(chain, i))));
	return until;
}

/* "Now" for chain checks: the clock, or a test's. */
static time_t chain_now(const struct sfs_verifier *v)
{
	return v->now ? v->now : time(NULL);
}

/*
 * One X509_verify_cert() at t, with the CRL checks or without, with or
 * without the certificate validity periods. An OK's chain's first
 * notAfter in *cu.
 */
static enum verify_reason chain_build(struct sfs_verifier *v,
				      const struct chain_req *q, time_t t,
				      bool crl, bool cert_validity, time_t *cu)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	enum verify_reason r = VR_INTERNAL;

	if (!ctx ||
	    !X509_STORE_CTX_init(ctx, v->store, q->signer, q->untrusted))
		goto out;
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
	if (crl)
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_CRL_CHECK |
						  X509_V_FLAG_CRL_CHECK_ALL);
	/* Always t, "now" too: the time the cache's cell is drawn around. */
	X509_STORE_CTX_set_time(ctx, 0, t);
	if (!cert_validity)
		X509_STORE_CTX_set_verify_cb(ctx, ignore_cert_validity);
	atomic_fetch_add_explicit(&v->chain_builds, 1, memory_order_relaxed);
	if (X509_verify_cert(ctx) == 1) {
		r = VR_OK;
		*cu = chain_until(ctx);
	} else {
		r = chain_reason(X509_STORE_CTX_get_error(ctx));
	}
out:
	X509_STORE_CTX_free(ctx);
	return r;
}

/*
 * A chain verification at *at (NULL: now), from the verifier's cache
 * when an OK for the same certificates, asked the same way, holds at
 * that time (chain_int.h); refusals are always verified again.
 */
static enum verify_reason chain_pass(struct sfs_verifier *v,
				     const struct chain_req *q,
				     const time_t *at, bool crl,
				     bool cert_validity, time_t *until)
{
	time_t t = at ? *at : chain_now(v), cu = 0, lo, hi;
	struct verify_chain_key k;
	enum verify_reason r;
	bool cached = v->cc && q->keyed;

	if (cached) {
		k = q->key;
		k.how = (crl ? VERIFY_CHAIN_CRL : 0) |
			(cert_validity ? VERIFY_CHAIN_VALIDITY : 0);
	}
	if (cached && verify_chain_cache_get(v->cc, &k, t, &cu)) {
		r = VR_OK;
	} else {
		r = chain_build(v, q, t, crl, cert_validity, &cu);
		if (r == VR_OK && cached) {
			verify_chain_cell(v->cc, q->signer, q->untrusted, t,
					  &lo, &hi);
			verify_chain_cache_put(v->cc, &k, lo, hi, cu);
		}
	}
	/* Judged now: it holds until a certificate expires. */
	if (r == VR_OK && !at && cert_validity)
		*until = earlier(*until, cu);
	return r;
}

/* The validity periods at a time, then (crl_check) the CRL now. */
static enum verify_reason chain_at(struct sfs_verifier *v,
				   const struct chain_req *q, time_t at,
				   time_t *until)
{
	enum verify_reason r;

	r = chain_pass(v, q, &at, false, true, until);
	if (r || !v->crl_check)
		return r;
	return chain_pass(v, q, NULL, true, false, until);
}

/*
 * The signer chooses signingTime, so only the chain's validity periods may
 * be judged then. The CRL (thisUpdate, nextUpdate, its signature, the
 * revocations) is judged now in both modes: an expired CRL never passes
 * for a signature that claims an older time, and a signature older than
 * the CRL's thisUpdate is not refused for it.
 */
static enum verify_reason check_chain(struct sfs_verifier *v,
				      const struct chain_req *q,
				      time_t signing_time, time_t *until)
{
	time_t now = chain_now(v);

	*until = v->crl_check ? v->crl_until : 0;
	if (!v->at_signing_time)
		return chain_pass(v, q, NULL, v->crl_check, true, until);
	/*
	 * A signingTime that has not come yet is false, and would let a
	 * certificate that is not valid yet sign today: never later than now.
	 */
	if (signing_time > now)
		signing_time = now;
	return chain_at(v, q, signing_time, until);
}

static bool codesign_eku(X509 *x)
{
	uint32_t flags = X509_get_extension_flags(x);

	if (!(flags & EXFLAG_XKUSAGE) ||
	    !(X509_get_extended_key_usage(x) & XKU_CODE_SIGN))
		return false;
	/* keyUsage, when present, must allow digitalSignature. */
	return !(flags & EXFLAG_KUSAGE) ||
	       (X509_get_key_usage(x) & KU_DIGITAL_SIGNATURE);
}

/*
 * An end entity signs files; a CA signs certificates. A CA key that also
 * signs files would let whoever runs the CA (or steals its key) sign any
 * file without a code-signing certificate of its own, so basicConstraints
 * cA TRUE, or a keyUsage that allows keyCertSign, refuses the signer even
 * when it also carries codeSigning and digitalSignature.
 */
static bool is_ca(X509 *x)
{
	uint32_t flags = X509_get_extension_flags(x);

	return (flags & EXFLAG_CA) ||
	       ((flags & EXFLAG_KUSAGE) &&
		(X509_get_key_usage(x) & KU_KEY_CERT_SIGN));
}

static bool pinned(const struct verify_policy *pol, const uint8_t fp[32])
{
	if (!pol || pol->n_pins == 0)
		return true;
	for (size_t i = 0; i < pol->n_pins; i++)
		if (memcmp(pol->pins[i], fp, 32) == 0)
			return true;
	return false;
}

/* Structure of the SignedData, before any attribute is looked at. */
static enum verify_reason
check_structure(CMS_ContentInfo *cms, CMS_SignerInfo **si_out, enum sfs_md *md)
{
	STACK_OF(CMS_SignerInfo) * sis;
	ASN1_OCTET_STRING **content;
	X509_ALGOR *dig = NULL;
	bool ok;

	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
		return VR_NOT_SIGNED_DATA;
	content = CMS_get0_content(cms);
	if (!content || *content)
		return VR_NOT_DETACHED;
	if (OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data)
		return VR_CONTENT_TYPE;
	sis = CMS_get0_SignerInfos(cms);
	if (!sis || sk_CMS_SignerInfo_num(sis) != 1)
		return VR_SIGNER_COUNT;
	*si_out = sk_CMS_SignerInfo_value(sis, 0);
	CMS_SignerInfo_get0_algs(*si_out, NULL, NULL, &dig, NULL);
	*md = md_from_nid(OBJ_obj2nid(dig->algorithm), &ok);
	return ok ? VR_OK : VR_DIGEST_ALG;
}

static enum verify_reason parse_der(const uint8_t *der, size_t len,
				    CMS_ContentInfo **out)
{
	const unsigned char *p = der;
	unsigned char *re = NULL;
	CMS_ContentInfo *cms;
	int n;

	if (len == 0)
		return VR_SIG_EMPTY;
	if (len > SFS_SIG_MAX)
		return VR_SIG_TOO_LARGE;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (!cms)
		return VR_SIG_MALFORMED;
	if (p != der + len) {
		CMS_ContentInfo_free(cms);
		return VR_SIG_TRAILING;
	}
	/* BER (indefinite lengths, non-minimal encodings) is not DER. */
	n = i2d_CMS_ContentInfo(cms, &re);
	if (n != (int)len || memcmp(re, der, len) != 0) {
		OPENSSL_free(re);
		CMS_ContentInfo_free(cms);
		return VR_SIG_MALFORMED;
	}
	OPENSSL_free(re);
	*out = cms;
	return VR_OK;
}

/*
 * The chain-verdict cache's key for a signer (its SHA-256) and the
 * certificates the CMS carries, in their order: all a path can be built
 * from besides the trust store. false when it cannot be computed.
 */
static bool chain_key(const uint8_t signer_sha256[32], STACK_OF(X509) * certs,
		      struct verify_chain_key *k)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) &&
		  EVP_DigestUpdate(md, signer_sha256, 32);

	for (int i = 0; ok && i < sk_X509_num(certs); i++) {
		uint8_t h[32];
		unsigned int n = sizeof(h);

		ok =
		    X509_digest(sk_X509_value(certs, i), EVP_sha256(), h, &n) &&
		    n == sizeof(h) && EVP_DigestUpdate(md, h, n);
	}
	ok = ok && EVP_DigestFinal_ex(md, k->certs, NULL);
	EVP_MD_CTX_free(md);
	k->how = 0;
	return ok;
}

static enum verify_reason check_signer(struct sfs_verifier *v,
				       CMS_ContentInfo *cms, CMS_SignerInfo *si,
				       const struct verify_policy *pol,
				       const struct verify_tsa *tsa,
				       struct sig_info *info)
{
	STACK_OF(X509) *certs = NULL;
	struct chain_req q;
	enum verify_reason r;
	X509 *signer = NULL;
	unsigned int fplen = 32;

	if (CMS_set1_signers_certs(cms, NULL, 0) < 1)
		return VR_SIGNER_CERT;
	CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
	if (!signer)
		return VR_SIGNER_CERT;
	if (CMS_SignerInfo_verify(si) != 1)
		return VR_BAD_SIGNATURE;
	/*
	 * Who signed, as soon as the signature is known to be theirs: a
	 * refusal for the chain, a validity period or a pin can say whom
	 * it refused (signetfs why, verify --json).
	 */
	if (!X509_digest(signer, EVP_sha256(), info->signer_sha256, &fplen))
		return VR_INTERNAL;
	X509_NAME_oneline(X509_get_subject_name(signer), info->signer_subject,
			  sizeof(info->signer_subject));
	info->signer_not_before = asn1_time_t(X509_get0_notBefore(signer));
	info->signer_not_after = asn1_time_t(X509_get0_notAfter(signer));
	r = check_ess(si, signer);
	if (!r)
		r = check_stamp(v, si, tsa, info);
	if (r)
		return r;
	certs = CMS_get1_certs(cms);
	q.signer = signer;
	q.untrusted = certs;
	q.keyed = chain_key(info->signer_sha256, certs, &q.key);
	if (info->stamp_time)
		r = check_chain_stamped(v, &q, info->stamp_time,
					&info->valid_until);
	else
		r = check_chain(v, &q, info->signing_time, &info->valid_until);
	sk_X509_pop_free(certs, X509_free);
	if (r)
		return r;
	if (!codesign_eku(signer))
		return VR_NO_CODESIGN_EKU;
	if (is_ca(signer))
		return VR_SIGNER_IS_CA;
	if (!pinned(pol, info->signer_sha256))
		return VR_PIN_MISMATCH;
	return VR_OK;
}

enum verify_reason verifier_check_sig(struct sfs_verifier *v,
				      const uint8_t *der, size_t len,
				      const struct verify_policy *pol,
				      struct sig_info *info)
{
	return verifier_check_sig_tsa(v, der, len, pol, NULL, info);
}

enum verify_reason verifier_check_sig_tsa(struct sfs_verifier *v,
					  const uint8_t *der, size_t len,
					  const struct verify_policy *pol,
					  const struct verify_tsa *tsa,
					  struct sig_info *info)
{
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si = NULL;
	enum verify_reason r;
	enum sfs_md md;

	memset(info, 0, sizeof(*info));
	r = parse_der(der, len, &cms);
	if (r)
		goto out;
	r = check_structure(cms, &si, &md);
	if (r)
		goto out;
	r = check_attrs(si, md, info);
	if (r)
		goto out;
	r = check_signer(v, cms, si, pol, tsa, info);
	if (r)
		goto out;
	if (pol && pol->expected_path &&
	    (pol->expected_path_len != info->path_len ||
	     memcmp(pol->expected_path, info->path, info->path_len) != 0))
		r = VR_PATH_MISMATCH;
out:
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return r;
}

enum verify_reason verifier_check_fd(struct sfs_verifier *v, const uint8_t *der,
				     size_t len,
				     const struct verify_policy *pol, int fd,
				     struct sig_info *info)
{
	return verifier_check_fd_tsa(v, der, len, pol, NULL, fd, info);
}

enum verify_reason verifier_check_fd_tsa(struct sfs_verifier *v,
					 const uint8_t *der, size_t len,
					 const struct verify_policy *pol,
					 const struct verify_tsa *tsa, int fd,
					 struct sig_info *info)
{
	struct sfs_digest d;
	enum verify_reason r;

	r = verifier_check_sig_tsa(v, der, len, pol, tsa, info);
	if (r)
		return r;
	if (sfs_hash_fd(fd, info->digest.alg, &d, NULL) != 0)
		return VR_IO;
	if (d.len != info->digest.len ||
	    CRYPTO_memcmp(d.bytes, info->digest.bytes, d.len) != 0)
		return VR_CONTENT_DIGEST;
	return VR_OK;
}

/*
 * ---- Audit-log checkpoints -----------------------------------------------
 * A checkpoint signature is a SignedData of its own content type
 * (SIG_OID_CHECKPOINT), so a file signature can never seal a log and a
 * checkpoint can never pass for a file (check_structure() above requires
 * id-data). It is accepted only from a pinned key: with no pins, nothing.
 * docs/signature-format.md, "Audit-log checkpoints".
 */

/* contentType, messageDigest, signingTime, signingCertificateV2: no more. */
#define CP_ATTRS 4

static enum verify_reason cp_structure(CMS_ContentInfo *cms,
				       CMS_SignerInfo **si)
{
	STACK_OF(CMS_SignerInfo) * sis;
	ASN1_OCTET_STRING **content;
	X509_ALGOR *dig = NULL;

	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
		return VR_NOT_SIGNED_DATA;
	content = CMS_get0_content(cms);
	if (!content || *content)
		return VR_NOT_DETACHED;
	if (OBJ_cmp(CMS_get0_eContentType(cms), sig_oid_checkpoint()) != 0)
		return VR_CONTENT_TYPE;
	sis = CMS_get0_SignerInfos(cms);
	if (!sis || sk_CMS_SignerInfo_num(sis) != 1)
		return VR_SIGNER_COUNT;
	*si = sk_CMS_SignerInfo_value(sis, 0);
	CMS_SignerInfo_get0_algs(*si, NULL, NULL, &dig, NULL);
	/* The signed bytes are hashed with SHA-256, nothing else. */
	if (OBJ_obj2nid(dig->algorithm) != NID_sha256)
		return VR_DIGEST_ALG;
	return VR_OK;
}

static enum verify_reason cp_time(ASN1_TYPE *t, time_t *out)
{
	if (!t || (ASN1_TYPE_get(t) != V_ASN1_UTCTIME &&
		   ASN1_TYPE_get(t) != V_ASN1_GENERALIZEDTIME))
		return VR_ATTR_MISSING;
	if (!verify_asn1_time((const ASN1_TIME *)t->value.asn1_string, out))
		return VR_ATTR_MALFORMED;
	return VR_OK;
}

static enum verify_reason cp_attrs(CMS_SignerInfo *si,
				   const struct sfs_digest *content,
				   struct sig_info *info)
{
	ASN1_TYPE *t;

	if (CMS_signed_get_attr_count(si) <= 0)
		return VR_NO_SIGNED_ATTRS;
	/* A signetfs-path or -writer would make it look like a file. */
	if (CMS_signed_get_attr_count(si) != CP_ATTRS ||
	    !single_attr(si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2)))
		return VR_ATTR_MISSING;
	t = single_attr(si, OBJ_nid2obj(NID_pkcs9_contentType));
	if (!t)
		return VR_ATTR_MISSING;
	if (ASN1_TYPE_get(t) != V_ASN1_OBJECT ||
	    OBJ_cmp(t->value.object, sig_oid_checkpoint()) != 0)
		return VR_ATTR_CONTENT_TYPE;
	if (cp_time(single_attr(si, OBJ_nid2obj(NID_pkcs9_signingTime)),
		    &info->signing_time))
		return VR_ATTR_MALFORMED;
	t = single_attr(si, OBJ_nid2obj(NID_pkcs9_messageDigest));
	if (!t)
		return VR_ATTR_MISSING;
	if (ASN1_TYPE_get(t) != V_ASN1_OCTET_STRING ||
	    ASN1_STRING_length(t->value.octet_string) != 32)
		return VR_ATTR_MALFORMED;
	info->digest.alg = SFS_MD_SHA256;
	info->digest.len = 32;
	memcpy(info->digest.bytes, ASN1_STRING_get0_data(t->value.octet_string),
	       32);
	/* Any byte of the checkpoint line changed: another digest. */
	if (content->alg != SFS_MD_SHA256 || content->len != 32 ||
	    CRYPTO_memcmp(info->digest.bytes, content->bytes, 32) != 0)
		return VR_CONTENT_DIGEST;
	return VR_OK;
}

enum verify_reason verifier_check_checkpoint(struct sfs_verifier *v,
					     const uint8_t *der, size_t len,
					     const struct sfs_digest *content,
					     const uint8_t (*pins)[32],
					     size_t n_pins,
					     struct sig_info *info)
{
	struct verify_policy pol = {NULL, 0, pins, n_pins};
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si = NULL;
	enum verify_reason r;

	memset(info, 0, sizeof(*info));
	r = parse_der(der, len, &cms);
	if (r)
		goto out;
	r = cp_structure(cms, &si);
	if (r)
		goto out;
	r = cp_attrs(si, content, info);
	if (r)
		goto out;
	r = check_signer(v, cms, si, &pol, NULL, info);
	/* No pins is no key, never "any key the trust store knows". */
	if (r == VR_OK && n_pins == 0)
		r = VR_PIN_MISMATCH;
out:
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return r;
}

const char *verify_checkpoint_reason_str(enum verify_reason r)
{
	switch (r) {
	case VR_SIG_MALFORMED:
		return "the signature is not a DER CMS ContentInfo, or not the "
		       "line's last member";
	case VR_CONTENT_TYPE:
	case VR_ATTR_CONTENT_TYPE:
		return "not a checkpoint signature (content type is not "
		       "signetfs-audit-checkpoint): a file signature cannot "
		       "seal a log";
	case VR_ATTR_MISSING:
		return "checkpoint signature must have exactly contentType, "
		       "messageDigest, signingTime and signingCertificateV2";
	case VR_DIGEST_ALG:
		return "checkpoint signature digest is not SHA-256";
	case VR_CONTENT_DIGEST:
		return "the signature is over other bytes: the checkpoint "
		       "line was changed";
	case VR_PIN_MISMATCH:
		return "signed by a key that is not one of the log's keys";
	default:
		return verify_reason_str(r);
	}
}

/*
 * ---- RFC 3161 timestamps ------------------------------------------------
 * Rules T1-T9 of docs/signature-format.md, between the ESS binding (17)
 * and the chain (18). The token checks themselves are in tsa_verify.c.
 */

int verifier_add_tsa(struct sfs_verifier *v, const char *tsa_trust,
		     struct sfs_error *err)
{
	X509_STORE *s;
	void *grown;

	for (size_t i = 0; i < v->n_tsa; i++)
		if (!strcmp(v->tsa[i].file, tsa_trust))
			return 0;
	s = tsa_store_load(tsa_trust, err);
	if (!s)
		return -ENOENT;
	grown = realloc(v->tsa, (v->n_tsa + 1) * sizeof(*v->tsa));
	if (!grown) {
		X509_STORE_free(s);
		return -ENOMEM;
	}
	v->tsa = grown;
	v->tsa[v->n_tsa].file = strdup(tsa_trust);
	v->tsa[v->n_tsa].store = s;
	if (!v->tsa[v->n_tsa].file) {
		X509_STORE_free(s);
		return -ENOMEM;
	}
	v->n_tsa++;
	return 0;
}

static X509_STORE *tsa_store(struct sfs_verifier *v, const char *file)
{
	for (size_t i = 0; i < v->n_tsa; i++)
		if (!strcmp(v->tsa[i].file, file))
			return v->tsa[i].store;
	return NULL;
}

/*
 * T1 always; T2-T8 when the policy names a TSA trust store: without one,
 * a token is carried but never trusted, and the chain is judged as if
 * there were none. On success info->stamp_time is genTime (T9 follows).
 */
static enum verify_reason check_stamp(struct sfs_verifier *v,
				      CMS_SignerInfo *si,
				      const struct verify_tsa *tsa,
				      struct sig_info *info)
{
	struct tsa_stamp st;
	X509_STORE *store;
	const uint8_t *tok;
	long len;
	enum verify_reason r = tsa_unsigned_attrs(si, &tok, &len);

	if (r || !tok || !tsa || !tsa->trust)
		return r;
	/* Named but never loaded (a caller's bug): fail closed. */
	store = tsa_store(v, tsa->trust);
	if (!store)
		return VR_INTERNAL;
	r = tsa_check_token(store, tsa->policy, tok, len,
			    CMS_SignerInfo_get0_signature(si), &st);
	if (r)
		return r;
	info->stamp_time = st.gen_time;
	return VR_OK;
}

/*
 * T9: with a valid token the signer's chain must be valid at genTime,
 * which a TSA attests (signingTime only the signer does); the CRL is
 * judged now, as in validity = signing-time. The verdict then holds
 * until the CRL's nextUpdate, not until the certificate expires.
 */
static enum verify_reason check_chain_stamped(struct sfs_verifier *v,
					      const struct chain_req *q,
					      time_t gen, time_t *until)
{
	enum verify_reason r;

	*until = v->crl_check ? v->crl_until : 0;
	r = chain_at(v, q, gen, until);
	/* The CRL pass lets these two through: they are genTime's. */
	return r == VR_EXPIRED || r == VR_NOT_YET_VALID ? VR_TSA_TIME : r;
}

uint64_t verifier_chain_builds(struct sfs_verifier *v)
{
	return atomic_load_explicit(&v->chain_builds, memory_order_relaxed);
}

void verifier_set_now(struct sfs_verifier *v, time_t now)
{
	v->now = now;
}
