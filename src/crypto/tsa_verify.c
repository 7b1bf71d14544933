// SPDX-License-Identifier: Apache-2.0
/* RFC 3161 tokens over a signature value: rules T1-T8, future genTime. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/ts.h>
#include <openssl/x509v3.h>

#include "signetfs/log.h"
#include "chain_int.h"
#include "tsa_int.h"

const ASN1_OBJECT *tsa_oid_token(void)
{
	return OBJ_nid2obj(NID_id_smime_aa_timeStampToken);
}

enum verify_reason tsa_unsigned_attrs(CMS_SignerInfo *si, const uint8_t **tok,
				      long *tok_len)
{
	int n = CMS_unsigned_get_attr_count(si);
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;

	*tok = NULL;
	*tok_len = 0;
	if (n <= 0)
		return VR_OK;
	/* Anything unsigned but one token could be added by anybody. */
	for (int i = 0; i < n; i++) {
		a = CMS_unsigned_get_attr(si, i);
		if (OBJ_cmp(X509_ATTRIBUTE_get0_object(a), tsa_oid_token()))
			return VR_UNSIGNED_ATTR;
	}
	a = CMS_unsigned_get_attr(si, 0);
	if (n != 1 || X509_ATTRIBUTE_count(a) != 1)
		return VR_TSA_COUNT;
	t = X509_ATTRIBUTE_get0_type(a, 0);
	if (!t || ASN1_TYPE_get(t) != V_ASN1_SEQUENCE)
		return VR_TSA_MALFORMED;
	*tok = ASN1_STRING_get0_data(t->value.sequence);
	*tok_len = ASN1_STRING_length(t->value.sequence);
	return VR_OK;
}

/* T2: a DER ContentInfo, SignedData of one signer over an attached TSTInfo. */
static enum verify_reason parse_token(const uint8_t *tok, long len,
				      CMS_ContentInfo **cms, TS_TST_INFO **tst)
{
	const unsigned char *p = tok;
	unsigned char *re = NULL;
	ASN1_OCTET_STRING **content;
	STACK_OF(CMS_SignerInfo) * sis;
	int n;

	/*
	 * The wrapper is taken as the TSA wrote it: TSAs (openssl ts among
	 * them) put their certificates in an unsorted SET. What is signed
	 * (the signed attributes, the TSTInfo) must be DER.
	 */
	*cms = d2i_CMS_ContentInfo(NULL, &p, len);
	if (!*cms || p != tok + len)
		return VR_TSA_MALFORMED;
	if (OBJ_obj2nid(CMS_get0_type(*cms)) != NID_pkcs7_signed ||
	    OBJ_obj2nid(CMS_get0_eContentType(*cms)) != NID_id_smime_ct_TSTInfo)
		return VR_TSA_MALFORMED;
	content = CMS_get0_content(*cms);
	sis = CMS_get0_SignerInfos(*cms);
	if (!content || !*content || !sis || sk_CMS_SignerInfo_num(sis) != 1)
		return VR_TSA_MALFORMED;
	p = ASN1_STRING_get0_data(*content);
	n = ASN1_STRING_length(*content);
	*tst = d2i_TS_TST_INFO(NULL, &p, n);
	if (!*tst || p != ASN1_STRING_get0_data(*content) + n ||
	    TS_TST_INFO_get_version(*tst) != 1)
		return VR_TSA_MALFORMED;
	if (i2d_TS_TST_INFO(*tst, &re) != n ||
	    memcmp(re, ASN1_STRING_get0_data(*content), (size_t)n) != 0) {
		OPENSSL_free(re);
		return VR_TSA_MALFORMED; /* BER is not DER */
	}
	OPENSSL_free(re);
	return VR_OK;
}

/* T3: messageImprint = H(signature value), H one of SHA-256/384/512. */
static enum verify_reason check_imprint(TS_TST_INFO *tst,
					const ASN1_OCTET_STRING *sigval)
{
	TS_MSG_IMPRINT *mi = TS_TST_INFO_get_msg_imprint(tst);
	X509_ALGOR *alg = TS_MSG_IMPRINT_get_algo(mi);
	ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg(mi);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const EVP_MD *h;

	switch (OBJ_obj2nid(alg->algorithm)) {
	case NID_sha256:
		h = EVP_sha256();
		break;
	case NID_sha384:
		h = EVP_sha384();
		break;
	case NID_sha512:
		h = EVP_sha512();
		break;
	default:
		return VR_TSA_IMPRINT;
	}
	if (!EVP_Digest(ASN1_STRING_get0_data(sigval),
			(size_t)ASN1_STRING_length(sigval), md, &mdlen, h,
			NULL))
		return VR_INTERNAL;
	if ((unsigned)ASN1_STRING_length(msg) != mdlen ||
	    CRYPTO_memcmp(ASN1_STRING_get0_data(msg), md, mdlen) != 0)
		return VR_TSA_IMPRINT;
	return VR_OK;
}

/*
 * T5: signingCertificate (ESSCertID, SHA-1) or signingCertificateV2
 * (ESSCertIDv2) among the token's signed attributes names the TSA
 * certificate. RFC 3161 requires one; RFC 5816 allows the second.
 */
static enum verify_reason check_token_ess(CMS_SignerInfo *si, X509 *tsa)
{
	ASN1_STRING *s1 = CMS_signed_get0_data_by_OBJ(
	    si, OBJ_nid2obj(NID_id_smime_aa_signingCertificate), -3,
	    V_ASN1_SEQUENCE);
	ASN1_STRING *s2 = CMS_signed_get0_data_by_OBJ(
	    si, OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3,
	    V_ASN1_SEQUENCE);
	ESS_SIGNING_CERT *ss = NULL;
	ESS_SIGNING_CERT_V2 *ss2 = NULL;
	STACK_OF(X509) *chain = sk_X509_new_null();
	const unsigned char *p;
	int ok = 0;

	if (s1) {
		p = ASN1_STRING_get0_data(s1);
		ss = d2i_ESS_SIGNING_CERT(NULL, &p, ASN1_STRING_length(s1));
	}
	if (s2) {
		p = ASN1_STRING_get0_data(s2);
		ss2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, ASN1_STRING_length(s2));
	}
	if ((ss || ss2) && (!s1 || ss) && (!s2 || ss2) && chain &&
	    sk_X509_push(chain, tsa))
		ok = OSSL_ESS_check_signing_certs(ss, ss2, chain, 1) > 0;
	sk_X509_free(chain);
	ESS_SIGNING_CERT_free(ss);
	ESS_SIGNING_CERT_V2_free(ss2);
	return ok ? VR_OK : VR_TSA_ESS;
}

/*
 * T7: RFC 3161 2.3: the TSA certificate has exactly one extended key
 * usage, id-kp-timeStamping, in an extension marked critical; a keyUsage,
 * when present, allows no more than digitalSignature and nonRepudiation.
 */
static bool timestamping_eku(X509 *x)
{
	int crit = -1;
	EXTENDED_KEY_USAGE *eku =
	    X509_get_ext_d2i(x, NID_ext_key_usage, &crit, NULL);
	uint32_t flags = X509_get_extension_flags(x);
	bool ok = eku && crit == 1 && sk_ASN1_OBJECT_num(eku) == 1 &&
		  OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_time_stamp;

	EXTENDED_KEY_USAGE_free(eku);
	if (ok && (flags & EXFLAG_KUSAGE))
		ok = !(X509_get_key_usage(x) &
		       ~(KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION));
	return ok;
}

/* T6: the TSA's chain to tsa-trust, at genTime (its validity then). */
static enum verify_reason check_tsa_chain(X509_STORE *store, X509 *tsa,
					  STACK_OF(X509) * untrusted,
					  time_t gen)
{
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	enum verify_reason r = VR_INTERNAL;

	if (ctx && X509_STORE_CTX_init(ctx, store, tsa, untrusted)) {
		X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
		X509_STORE_CTX_set_time(ctx, 0, gen);
		r = X509_verify_cert(ctx) == 1 ? VR_OK : VR_TSA_UNTRUSTED;
	}
	X509_STORE_CTX_free(ctx);
	return r;
}

static void fill_stamp(TS_TST_INFO *tst, struct tsa_stamp *st)
{
	const ASN1_GENERALIZEDTIME *t = TS_TST_INFO_get_time(tst);
	const ASN1_INTEGER *serial = TS_TST_INFO_get_serial(tst);
	BIGNUM *bn = serial ? ASN1_INTEGER_to_BN(serial, NULL) : NULL;
	char *hex = bn ? BN_bn2hex(bn) : NULL;

	memset(st, 0, sizeof(*st));
	verify_asn1_time(t, &st->gen_time);
	snprintf(st->serial, sizeof(st->serial), "%s", hex ? hex : "");
	OPENSSL_free(hex);
	BN_free(bn);
}

/* T4: the TSA's signature over its signed attributes and the TSTInfo. */
static enum verify_reason check_token_sig(CMS_ContentInfo *cms, X509 **tsa)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, 0);

	*tsa = NULL;
	if (CMS_set1_signers_certs(cms, NULL, 0) < 1)
		return VR_TSA_BAD_SIGNATURE;
	CMS_SignerInfo_get0_algs(si, NULL, tsa, NULL, NULL);
	if (!*tsa)
		return VR_TSA_BAD_SIGNATURE;
	/* Signature and messageDigest over the eContent; no chain yet. */
	if (CMS_verify(cms, NULL, NULL, NULL, NULL,
		       CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1)
		return VR_TSA_BAD_SIGNATURE;
	return VR_OK;
}

enum verify_reason tsa_check_token(X509_STORE *store, const char *policy,
				   const uint8_t *tok, long tok_len,
				   const ASN1_OCTET_STRING *sigval,
				   struct tsa_stamp *st)
{
	CMS_ContentInfo *cms = NULL;
	TS_TST_INFO *tst = NULL;
	STACK_OF(X509) *certs = NULL;
	ASN1_OBJECT *want = NULL;
	unsigned char fp[32];
	unsigned int fplen = sizeof(fp);
	enum verify_reason r;
	X509 *tsa = NULL;

	memset(st, 0, sizeof(*st));
	r = parse_token(tok, tok_len, &cms, &tst);
	if (r)
		goto out;
	fill_stamp(tst, st);
	if (!st->gen_time) {
		r = VR_TSA_MALFORMED;
		goto out;
	}
	r = check_imprint(tst, sigval);
	if (!r)
		r = check_token_sig(cms, &tsa);
	if (!r)
		r = check_token_ess(
		    sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0), tsa);
	if (r)
		goto out;
	certs = CMS_get1_certs(cms);
	r = check_tsa_chain(store, tsa, certs, st->gen_time);
	if (!r && !timestamping_eku(tsa))
		r = VR_TSA_NO_EKU;
	if (!r && policy) {
		want = OBJ_txt2obj(policy, 1);
		if (!want || !TS_TST_INFO_get_policy_id(tst) ||
		    OBJ_cmp(want, TS_TST_INFO_get_policy_id(tst)) != 0)
			r = VR_TSA_POLICY;
	}
	if (!r && X509_digest(tsa, EVP_sha256(), fp, &fplen)) {
		sfs_hex(fp, 32, st->tsa_sha256);
		X509_NAME_oneline(X509_get_subject_name(tsa), st->tsa_subject,
				  sizeof(st->tsa_subject));
	}
	/* T9's first half; the signer's chain at genTime is the verifier's. */
	if (!r && st->gen_time > time(NULL) + TSA_CLOCK_SKEW)
		r = VR_TSA_TIME;
out:
	ASN1_OBJECT_free(want);
	sk_X509_pop_free(certs, X509_free);
	TS_TST_INFO_free(tst);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return r;
}
