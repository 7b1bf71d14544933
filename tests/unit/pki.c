// SPDX-License-Identifier: Apache-2.0
/* Test PKI built with OpenSSL: keys in memory, never on a token. */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki.h"

EVP_PKEY *pki_key(void)
{
	return EVP_EC_gen("P-256");
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		abort();
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
}

X509 *pki_cert(const struct pki_cert_opts *o, EVP_PKEY *key, X509 *issuer,
	       EVP_PKEY *ikey)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), o->serial ? o->serial : 1);
	X509_gmtime_adj(X509_getm_notBefore(x), o->not_before);
	X509_gmtime_adj(X509_getm_notAfter(x), o->not_after);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)o->cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	X509_set_pubkey(x, key);
	add_ext(x, issuer, NID_subject_key_identifier, "hash");
	if (issuer)
		add_ext(x, issuer, NID_authority_key_identifier,
			"keyid:always");
	if (o->ca) {
		add_ext(x, issuer, NID_basic_constraints,
			o->bc ? o->bc : "critical,CA:TRUE");
		add_ext(x, issuer, NID_key_usage,
			o->ku ? o->ku : "critical,keyCertSign,cRLSign");
		if (o->eku)
			add_ext(x, issuer, NID_ext_key_usage, o->eku);
	} else {
		add_ext(x, issuer, NID_basic_constraints,
			o->bc ? o->bc : "critical,CA:FALSE");
		add_ext(x, issuer, NID_key_usage,
			o->ku ? o->ku : "critical,digitalSignature");
		add_ext(x, issuer, NID_ext_key_usage,
			o->eku	      ? o->eku
			: o->codesign ? "codeSigning"
				      : "serverAuth");
	}
	if (!X509_sign(x, ikey ? ikey : key, EVP_sha256()))
		abort();
	return x;
}

X509_CRL *pki_crl(X509 *ca, EVP_PKEY *key, const long *serials, int n,
		  long next_update_days)
{
	return pki_crl_at(ca, key, serials, n, -3600, next_update_days * 86400);
}

X509_CRL *pki_crl_at(X509 *ca, EVP_PKEY *key, const long *serials, int n,
		     long this_update, long next_update)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *t = ASN1_TIME_new();

	X509_CRL_set_version(crl, 1);
	X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca));
	X509_gmtime_adj(t, this_update);
	X509_CRL_set1_lastUpdate(crl, t);
	X509_gmtime_adj(t, next_update);
	X509_CRL_set1_nextUpdate(crl, t);
	for (int i = 0; i < n; i++) {
		X509_REVOKED *r = X509_REVOKED_new();
		ASN1_INTEGER *s = ASN1_INTEGER_new();

		ASN1_INTEGER_set(s, serials[i]);
		X509_REVOKED_set_serialNumber(r, s);
		X509_gmtime_adj(t, -60);
		X509_REVOKED_set_revocationDate(r, t);
		X509_CRL_add0_revoked(crl, r);
		ASN1_INTEGER_free(s);
	}
	X509_CRL_sort(crl);
	ASN1_TIME_free(t);
	if (!X509_CRL_sign(crl, key, EVP_sha256()))
		abort();
	return crl;
}

void pki_write_cert(const char *path, X509 *x)
{
	FILE *f = fopen(path, "w");

	if (!f || !PEM_write_X509(f, x))
		abort();
	fclose(f);
}

void pki_write_crl(const char *path, X509_CRL *crl)
{
	FILE *f = fopen(path, "w");

	if (!f || !PEM_write_X509_CRL(f, crl))
		abort();
	fclose(f);
}
