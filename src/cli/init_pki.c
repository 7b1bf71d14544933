// SPDX-License-Identifier: Apache-2.0
/* signetfs init: the development CA, the signer certificate and the CRL. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "init.h"
#include "signetfs/hsm.h"
#include "signetfs/util.h"

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

static int set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));

	BN_free(bn);
	return ok ? 0 : -EIO;
}

struct ext_def {
	int nid;
	const char *v;
};

/*
 * A certificate for PUB named CN, signed by ISSUER_KEY (ISSUER NULL:
 * self-signed). EXT is {nid, value} pairs; SKI comes before AKI so a
 * self-signed AKI can refer to it. Valid from an hour ago, for DAYS
 * (SECS from now instead when not 0: --signer-validity).
 */
static X509 *make_cert(const char *cn, EVP_PKEY *pub, X509 *issuer,
		       EVP_PKEY *issuer_key, long days, long secs,
		       const struct ext_def *ext, size_t next)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	int ok;

	ok = x && name && X509_set_version(x, X509_VERSION_3) &&
	     !set_serial(x) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_subject_name(x, name) &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
					    : name) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	     (secs ? X509_gmtime_adj(X509_getm_notAfter(x), secs) != NULL
		   : X509_time_adj_ex(X509_getm_notAfter(x), (int)days, -3600,
				      NULL) != NULL) &&
	     X509_set_pubkey(x, pub);
	for (size_t i = 0; ok && i < next; i++)
		ok = !add_ext(x, issuer ? issuer : x, ext[i].nid, ext[i].v);
	ok = ok && X509_sign(x, issuer_key, EVP_sha256()) > 0;
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *make_ca(EVP_PKEY *ca_key)
{
	static const struct ext_def ext[] = {
	    {NID_basic_constraints, "critical,CA:TRUE"},
	    {NID_key_usage, "critical,keyCertSign,cRLSign"},
	    {NID_subject_key_identifier, "hash"},
	    {NID_authority_key_identifier, "keyid:always"},
	};

	return make_cert("signetfs development CA", ca_key, NULL, ca_key, 3650,
			 0, ext, ARRAY_SIZE(ext));
}

static X509 *make_signer(const char *cn, EVP_PKEY *pub, X509 *ca,
			 EVP_PKEY *ca_key, long secs)
{
	static const struct ext_def ext[] = {
	    {NID_basic_constraints, "critical,CA:FALSE"},
	    {NID_key_usage, "critical,digitalSignature"},
	    {NID_ext_key_usage, "codeSigning"},
	    {NID_subject_key_identifier, "hash"},
	    {NID_authority_key_identifier, "keyid:always"},
	};

	return make_cert(cn, pub, ca, ca_key, 730, secs, ext, ARRAY_SIZE(ext));
}

/* An empty CRL, so revocation checks can be switched on from day one. */
static X509_CRL *make_crl(X509 *ca, EVP_PKEY *ca_key)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_adj(NULL, time(NULL), 0, 0);
	ASN1_TIME *next = ASN1_TIME_adj(NULL, time(NULL), 30, 0);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	int ok;

	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	ok = crl && now && next && num && ASN1_INTEGER_set(num, 1) &&
	     X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
	     X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
	     X509_CRL_set1_lastUpdate(crl, now) &&
	     X509_CRL_set1_nextUpdate(crl, next) &&
	     (aki = X509V3_EXT_nconf_nid(
		  NULL, &ctx, NID_authority_key_identifier, "keyid:always")) &&
	     X509_CRL_add_ext(crl, aki, -1) &&
	     X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) &&
	     X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0;
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	if (!ok) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/* With --join: a signer certificate from EXISTING's CA, and its ca.pem. */
int init_join_pki(int dfd, const struct init_join *j, struct hsm *h,
		  const char *label, long secs, X509 **signer_out)
{
	char cn[64], p[PATH_MAX];
	BIO *b = BIO_new(BIO_s_mem());
	X509 *signer = NULL;
	uint8_t *ca = NULL;
	size_t len = 0;
	int ret = -EIO;

	snprintf(cn, sizeof(cn), "signetfs signer %s", label);
	if (b)
		signer =
		    make_signer(cn, hsm_public_key(h), j->ca, j->ca_key, secs);
	if (!signer || !PEM_write_bio_X509(b, signer)) {
		cli_error("init", "cannot issue the signer certificate");
		ERR_print_errors_fp(stderr);
		goto out;
	}
	/* A byte copy: ca.pem may be a bundle that verifiers trust whole. */
	snprintf(p, sizeof(p), "%s/ca.pem", j->abs);
	ret = sfs_read_file_at(AT_FDCWD, p, 1 << 20, &ca, &len);
	if (ret) {
		cli_error("init", "cannot read %s: %s", p, strerror(-ret));
		goto out;
	}
	ret = init_write_file(dfd, "ca.pem", ca, len, 0644);
	if (!ret)
		ret = init_write_bio(dfd, "signer.pem", b, 0644);
	if (!ret) {
		*signer_out = signer;
		signer = NULL; /* transferred */
	}
out:
	free(ca);
	BIO_free(b);
	X509_free(signer);
	return ret;
}

/* Write the CA, the signer certificate and the CRL. */
int init_make_pki(int dfd, struct hsm *h, long secs, X509 **signer_out)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256");
	X509 *ca = NULL, *signer = NULL;
	X509_CRL *crl = NULL;
	BIO *bk = BIO_new(BIO_s_mem()), *bc = BIO_new(BIO_s_mem());
	BIO *bs = BIO_new(BIO_s_mem()), *bl = BIO_new(BIO_s_mem());
	int ret = -EIO;

	if (ca_key)
		ca = make_ca(ca_key);
	if (ca)
		signer = make_signer("signetfs signer", hsm_public_key(h), ca,
				     ca_key, secs);
	if (signer)
		crl = make_crl(ca, ca_key);
	if (!crl || !bk || !bc || !bs || !bl ||
	    !PEM_write_bio_PrivateKey(bk, ca_key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(bc, ca) || !PEM_write_bio_X509(bs, signer) ||
	    !PEM_write_bio_X509_CRL(bl, crl)) {
		cli_error("init", "cannot make the development CA");
		ERR_print_errors_fp(stderr);
		goto out;
	}
	ret = init_write_bio(dfd, "ca.key", bk, 0600);
	if (!ret)
		ret = init_write_bio(dfd, "ca.pem", bc, 0644);
	if (!ret)
		ret = init_write_bio(dfd, "signer.pem", bs, 0644);
	if (!ret)
		ret = init_write_bio(dfd, "crl.pem", bl, 0644);
	if (!ret) {
		*signer_out = signer;
		signer = NULL; /* transferred */
	}
out:
	BIO_free(bk); /* BIO_free does not wipe: */
	BIO_free(bc); /* the CA key is a development key, stored in DIR. */
	BIO_free(bs);
	BIO_free(bl);
	X509_CRL_free(crl);
	X509_free(signer);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return ret;
}

/* RFC 3161 2.3: one extended key usage, timeStamping, critical. */
static X509 *make_tsa_cert(EVP_PKEY *key, X509 *ca, EVP_PKEY *ca_key)
{
	static const struct ext_def ext[] = {
	    {NID_basic_constraints, "critical,CA:FALSE"},
	    {NID_key_usage, "critical,digitalSignature"},
	    {NID_ext_key_usage, "critical,timeStamping"},
	    {NID_subject_key_identifier, "hash"},
	    {NID_authority_key_identifier, "keyid:always"},
	};

	return make_cert("signetfs development TSA", key, ca, ca_key, 1825, 0,
			 ext, ARRAY_SIZE(ext));
}

static void *read_pem(const char *dir, const char *name, bool key)
{
	char p[PATH_MAX];
	BIO *b;
	void *x;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	b = BIO_new_file(p, "r");
	if (!b)
		return NULL;
	x = key ? (void *)PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)
		: (void *)PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	return x;
}

int init_make_tsa(int dfd, const char *ca_dir)
{
	EVP_PKEY *ca_key = read_pem(ca_dir, "ca.key", true);
	X509 *ca = read_pem(ca_dir, "ca.pem", false), *cert = NULL;
	EVP_PKEY *key = EVP_EC_gen("P-256");
	BIO *bk = BIO_new(BIO_s_mem()), *bc = BIO_new(BIO_s_mem());
	int ret = -EIO;

	if (ca && ca_key && key)
		cert = make_tsa_cert(key, ca, ca_key);
	if (!cert || !bk || !bc ||
	    !PEM_write_bio_PrivateKey(bk, key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(bc, cert)) {
		cli_error("init",
			  "cannot make the development TSA (needs "
			  "%s/ca.key)",
			  ca_dir);
		ERR_print_errors_fp(stderr);
		goto out;
	}
	ret = init_write_bio(dfd, "tsa.key", bk, 0600);
	if (!ret)
		ret = init_write_bio(dfd, "tsa.pem", bc, 0644);
out:
	BIO_free(bk);
	BIO_free(bc);
	X509_free(cert);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(key);
	return ret;
}
