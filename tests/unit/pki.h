/* SPDX-License-Identifier: Apache-2.0 */
/* Test PKI: file keys, CA, signer certificates of every kind, CRLs. */
#ifndef SIGNETFS_TEST_PKI_H
#define SIGNETFS_TEST_PKI_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

struct pki_cert_opts {
	const char *cn;
	bool ca;
	bool codesign;	 /* EKU codeSigning */
	long not_before; /* seconds from now */
	long not_after;
	long serial;
	/* Extension values instead of the defaults for ca/codesign. */
	const char *bc;	 /* basicConstraints */
	const char *ku;	 /* keyUsage */
	const char *eku; /* extendedKeyUsage */
};

EVP_PKEY *pki_key(void);
/* Issued by (issuer, ikey), or self-signed when issuer is NULL. */
X509 *pki_cert(const struct pki_cert_opts *o, EVP_PKEY *key, X509 *issuer,
	       EVP_PKEY *ikey);
/* A CRL by (ca, key) revoking the given serials; next update in days. */
X509_CRL *pki_crl(X509 *ca, EVP_PKEY *key, const long *serials, int n,
		  long next_update_days);
/* The same with thisUpdate and nextUpdate in seconds from now. */
X509_CRL *pki_crl_at(X509 *ca, EVP_PKEY *key, const long *serials, int n,
		     long this_update, long next_update);
/* Write PEM files; return the path (static buffer per call site). */
void pki_write_cert(const char *path, X509 *x);
void pki_write_crl(const char *path, X509_CRL *crl);

#endif
