/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The verifier's chain-verdict cache (docs/signature-format.md, "Chain
 * verdicts"), for verify.c only, and two hooks the unit tests use.
 *
 * X509_verify_cert() is a function of the trust store (fixed for a
 * verifier: one trust epoch), the signer and the certificates the CMS
 * carries, how it is asked (CRL checks, certificate validity periods),
 * and the time it judges at. Time enters only through the validity of
 * certificates and CRLs: each changes at a notBefore, notAfter,
 * thisUpdate or nextUpdate, to the second. Between two such boundaries
 * (a "cell") every answer is the same, so an OK found at t holds for any
 * t' in t's cell. The cache keeps OKs by (certificates, how) with their
 * cell; refusals are not kept.
 */
#ifndef SIGNETFS_CRYPTO_CHAIN_INT_H
#define SIGNETFS_CRYPTO_CHAIN_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "signetfs/verify.h"

/* How a chain was verified (verify_chain_key.how). */
#define VERIFY_CHAIN_CRL 1u	 /* with the CRL checks */
#define VERIFY_CHAIN_VALIDITY 2u /* with the validity periods */

struct verify_chain_key {
	/* SHA-256 of the signer's SHA-256, then each CMS certificate's. */
	uint8_t certs[32];
	uint8_t how;
};

struct verify_chain_cache;

/*
 * A cache for verifications against store, whose certificates and CRLs
 * (and those in the hashed directory capath, NULL: none, which OpenSSL
 * loads only when a verification asks) make its time boundaries. 0, or
 * -errno: a capath file that cannot be read leaves boundaries unknown,
 * and the verifier then goes without a cache.
 */
/* ASN1_TIME (UTCTime or GeneralizedTime) as time_t; false when absent
 * or unreadable. Every time the verifiers read goes through it. */
bool verify_asn1_time(const ASN1_TIME *t, time_t *out);

int verify_chain_cache_new(X509_STORE *store, const char *capath,
			   struct verify_chain_cache **out);
void verify_chain_cache_free(struct verify_chain_cache *c);

/* [*lo, *hi): t's cell, with signer's and untrusted's boundaries too. */
void verify_chain_cell(const struct verify_chain_cache *c, X509 *signer,
		       STACK_OF(X509) * untrusted, time_t t, time_t *lo,
		       time_t *hi);

/* An OK for k whose cell holds t: true, and its chain's first notAfter. */
bool verify_chain_cache_get(struct verify_chain_cache *c,
			    const struct verify_chain_key *k, time_t t,
			    time_t *chain_until);
/* Keep an OK for k over [lo, hi); a full set forgets its oldest. */
void verify_chain_cache_put(struct verify_chain_cache *c,
			    const struct verify_chain_key *k, time_t lo,
			    time_t hi, time_t chain_until);

/* ---- For the unit tests (tests/unit/test_verify.c) ---- */

/* X509_verify_cert() calls v made for signers' chains. */
uint64_t verifier_chain_builds(struct sfs_verifier *v);
/* Judge "now" at now (0: the clock) in chain checks; before sharing v. */
void verifier_set_now(struct sfs_verifier *v, time_t now);

#endif
