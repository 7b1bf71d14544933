/* SPDX-License-Identifier: Apache-2.0 */
/*
 * RFC 3161 tokens with OpenSSL types, for the verifier and the client in
 * src/crypto only (tsa_verify.c): the rules T1-T8 of
 * docs/signature-format.md; T9 (the signer's chain at genTime) is the
 * verifier's.
 */
#ifndef SIGNETFS_CRYPTO_TSA_INT_H
#define SIGNETFS_CRYPTO_TSA_INT_H

#include <stdint.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/x509.h>

#include "signetfs/tsa.h"
#include "signetfs/verify.h"

/* A genTime this far ahead of our clock is refused (T9). */
#define TSA_CLOCK_SKEW 300

/*
 * T1: the SignerInfo's unsigned attributes are none, or one
 * id-aa-timeStampToken attribute with one value (a SEQUENCE). *tok points
 * at that value's DER inside si (NULL: no token).
 */
enum verify_reason tsa_unsigned_attrs(CMS_SignerInfo *si, const uint8_t **tok,
				      long *tok_len);

/*
 * T2-T8 for the token tok (DER ContentInfo) over sigval, the SignerInfo's
 * signature value: parsed strictly, imprint, TSA signature, ESS
 * certificate identifier, TSA chain to store at genTime, the TSA's EKU,
 * policy (when not NULL); then a genTime later than now + TSA_CLOCK_SKEW
 * is VR_TSA_TIME. Fills st (genTime first, as soon as it parsed).
 */
enum verify_reason tsa_check_token(X509_STORE *store, const char *policy,
				   const uint8_t *tok, long tok_len,
				   const ASN1_OCTET_STRING *sigval,
				   struct tsa_stamp *st);

/* The trust anchors of a TSA (tsa-trust), or NULL with err set. */
X509_STORE *tsa_store_load(const char *file, struct sfs_error *err);

/* id-aa-timeStampToken (1.2.840.113549.1.9.16.2.14). */
const ASN1_OBJECT *tsa_oid_token(void);

#endif
