// SPDX-License-Identifier: Apache-2.0
/*
 * RFC 3161 tokens (rules T1-T9): a stamped signature whose certificate
 * has expired verifies, its unstamped twin does not, and every forged
 * token is refused with its own reason. Tokens are made here, in memory,
 * so that each field can be wrong on purpose; the scripts in
 * tests/integration/tsa/ use real ones from `openssl ts -reply`.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/ess.h>
#include <openssl/ts.h>

#include "pki.h"
#include "signetfs/sigbuild.h"
#include "signetfs/tsa.h"
#include "signetfs/verify.h"

#define POLICY "1.3.6.1.4.1.99999.1"
#define TSA_CA "tsa-ca.pem"

static const char content[] = "release 1.0\n";
static const char *path = "pkg/app.bin";

struct fx {
	char dir[64], ca_pem[96], tsa_pem[96], crl_pem[96];
	EVP_PKEY *ca_key, *key, *tsa_ca_key, *tsa_key;
	X509 *ca, *good, *expired, *tsa_ca, *tsa, *tsa_no_eku, *tsa_soft_eku;
	X509 *tsa_rogue, *tsa_old, *tsa_two_eku, *tsa_ku_ok, *tsa_ku_bad;
	X509 *revoked;
	struct sfs_verifier *v, *v_crl;
	struct sfs_writer writer;
	time_t now;
};

static struct fx F;

static int setup(void **state)
{
	struct pki_cert_opts ca = {.cn = "code CA",
				   .ca = true,
				   .not_before = -86400,
				   .not_after = 86400 * 365,
				   .serial = 1};
	struct pki_cert_opts o = {.cn = "signer",
				  .codesign = true,
				  .not_before = -3600,
				  .not_after = 86400,
				  .serial = 10};
	struct pki_cert_opts t = {.cn = "TSA",
				  .eku = "critical,timeStamping",
				  .not_before = -86400,
				  .not_after = 86400 * 30,
				  .serial = 20};
	struct sfs_trust_config tc = {0};
	struct sfs_error err = {0};
	EVP_PKEY *rogue_key = pki_key();
	X509 *rogue;
	X509_CRL *crl;
	long rev = 12;

	(void)state;
	F.now = time(NULL);
	snprintf(F.dir, sizeof(F.dir), "/tmp/sfs-tsa-XXXXXX");
	if (!mkdtemp(F.dir))
		return -1;
	F.ca_key = pki_key(), F.key = pki_key();
	F.tsa_ca_key = pki_key(), F.tsa_key = pki_key();
	F.ca = pki_cert(&ca, F.ca_key, NULL, NULL);
	F.good = pki_cert(&o, F.key, F.ca, F.ca_key);
	/* Valid from two hours ago until one hour ago: expired now. */
	o.serial = 11, o.not_before = -7200, o.not_after = -3600;
	F.expired = pki_cert(&o, F.key, F.ca, F.ca_key);
	o.serial = 12;
	F.revoked = pki_cert(&o, F.key, F.ca, F.ca_key);
	ca.cn = "TSA CA", ca.serial = 2;
	F.tsa_ca = pki_cert(&ca, F.tsa_ca_key, NULL, NULL);
	F.tsa = pki_cert(&t, F.tsa_key, F.tsa_ca, F.tsa_ca_key);
	t.serial = 21, t.eku = "critical,codeSigning";
	F.tsa_no_eku = pki_cert(&t, F.tsa_key, F.tsa_ca, F.tsa_ca_key);
	t.serial = 22, t.eku = "timeStamping"; /* not critical */
	F.tsa_soft_eku = pki_cert(&t, F.tsa_key, F.tsa_ca, F.tsa_ca_key);
	t.serial = 24, t.eku = "critical,timeStamping,codeSigning";
	F.tsa_two_eku = pki_cert(&t, F.tsa_key, F.tsa_ca, F.tsa_ca_key);
	/* RFC 3161 2.3: digitalSignature and nonRepudiation, nothing more. */
	t.serial = 25, t.eku = "critical,timeStamping";
	t.ku = "critical,digitalSignature,nonRepudiation";
	F.tsa_ku_ok = pki_cert(&t, F.tsa_key, F.tsa_ca, F.tsa_ca_key);
	t.serial = 26, t.ku = "critical,digitalSignature,keyEncipherment";
	F.tsa_ku_bad = pki_cert(&t, F.tsa_key, F.tsa_ca, F.tsa_ca_key);
	t.ku = NULL;
	/* Expired before the tokens it would sign. */
	t.serial = 23, t.eku = "critical,timeStamping";
	t.not_before = -86400 * 2, t.not_after = -86400;
	F.tsa_old = pki_cert(&t, F.tsa_key, F.tsa_ca, F.tsa_ca_key);
	ca.cn = "rogue TSA CA";
	rogue = pki_cert(&ca, rogue_key, NULL, NULL);
	t.serial = 20, t.not_before = -86400, t.not_after = 86400 * 30;
	F.tsa_rogue = pki_cert(&t, F.tsa_key, rogue, rogue_key);
	X509_free(rogue);
	EVP_PKEY_free(rogue_key);

	snprintf(F.ca_pem, sizeof(F.ca_pem), "%s/ca.pem", F.dir);
	snprintf(F.tsa_pem, sizeof(F.tsa_pem), "%s/" TSA_CA, F.dir);
	snprintf(F.crl_pem, sizeof(F.crl_pem), "%s/crl.pem", F.dir);
	pki_write_cert(F.ca_pem, F.ca);
	pki_write_cert(F.tsa_pem, F.tsa_ca);
	crl = pki_crl(F.ca, F.ca_key, &rev, 1, 30);
	pki_write_crl(F.crl_pem, crl);
	X509_CRL_free(crl);
	tc.cafile = F.ca_pem;
	/* ca.pem too: a code-signing CA named as a TSA's must not do. */
	if (verifier_new(&tc, &F.v, &err) ||
	    verifier_add_tsa(F.v, F.tsa_pem, &err) ||
	    verifier_add_tsa(F.v, F.ca_pem, &err))
		return -1;
	tc.crlfile = F.crl_pem;
	if (verifier_new(&tc, &F.v_crl, &err) ||
	    verifier_add_tsa(F.v_crl, F.tsa_pem, &err))
		return -1;
	sfs_writer_self(&F.writer);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	verifier_free(F.v);
	verifier_free(F.v_crl);
	X509_free(F.ca), X509_free(F.good), X509_free(F.expired);
	X509_free(F.revoked), X509_free(F.tsa_ca), X509_free(F.tsa);
	X509_free(F.tsa_no_eku), X509_free(F.tsa_soft_eku);
	X509_free(F.tsa_rogue), X509_free(F.tsa_old);
	X509_free(F.tsa_two_eku), X509_free(F.tsa_ku_ok);
	X509_free(F.tsa_ku_bad);
	EVP_PKEY_free(F.ca_key), EVP_PKEY_free(F.key);
	EVP_PKEY_free(F.tsa_ca_key), EVP_PKEY_free(F.tsa_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	return system(cmd);
}

/* A signature (CMS, not yet encoded) of content for p by cert. */
static CMS_ContentInfo *sign_cms(X509 *cert, const char *p)
{
	struct sfs_digest d;
	struct sfs_hash *h = sfs_hash_new(SFS_MD_SHA256);
	struct sig_build b = {.key = F.key,
			      .cert = cert,
			      .digest = &d,
			      .path = p,
			      .path_len = strlen(p),
			      .writer = &F.writer};
	CMS_ContentInfo *cms;

	sfs_hash_update(h, content, sizeof(content) - 1);
	sfs_hash_final(h, &d);
	sfs_hash_free(h);
	cms = sig_build_cms(&b);
	assert_non_null(cms);
	return cms;
}

static CMS_SignerInfo *signer_info(CMS_ContentInfo *cms)
{
	return sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
}

/* What a token is made of; every field can be wrong. */
struct tok {
	const ASN1_OCTET_STRING *over; /* imprint: SHA-256 of these bytes */
	time_t gen;
	const char *policy;
	X509 *cert; /* the TSA */
	enum { ESS_V2, ESS_V1, ESS_NONE, ESS_OTHER } ess;
	int content_nid; /* 0: TSTInfo */
	int md_nid;	 /* the imprint's hash, 0: SHA-256 */
	long version;	 /* the TSTInfo's, 0: 1 */
	bool ber;	 /* the TSTInfo's length in a non-minimal form */
	bool detached, no_certs, two_signers;
};

/*
 * The same TSTInfo with its length in the long form (30 81 LL): BER that
 * OpenSSL still decodes, so that only the re-encoding test refuses it.
 */
static uint8_t *long_form(uint8_t *der, int *len)
{
	uint8_t *ber = OPENSSL_malloc((size_t)*len + 1);
	const unsigned char *p;
	TS_TST_INFO *ti;

	assert_non_null(ber);
	assert_true(der[1] < 0x80);
	ber[0] = 0x30, ber[1] = 0x81;
	memcpy(ber + 2, der + 1, (size_t)*len - 1);
	OPENSSL_free(der);
	(*len)++;
	p = ber;
	ti = d2i_TS_TST_INFO(NULL, &p, *len);
	assert_non_null(ti);
	TS_TST_INFO_free(ti);
	return ber;
}

static uint8_t *tst_info(const struct tok *t, int *len)
{
	static long serial = 100;
	TS_TST_INFO *ti = TS_TST_INFO_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_OBJECT *pol = OBJ_txt2obj(t->policy ? t->policy : POLICY, 1);
	ASN1_INTEGER *sn = ASN1_INTEGER_new();
	ASN1_GENERALIZEDTIME *gt = ASN1_GENERALIZEDTIME_set(NULL, t->gen);
	int md_nid = t->md_nid ? t->md_nid : NID_sha256;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint8_t *der = NULL;

	EVP_Digest(ASN1_STRING_get0_data(t->over),
		   (size_t)ASN1_STRING_length(t->over), md, &mdlen,
		   EVP_get_digestbynid(md_nid), NULL);
	X509_ALGOR_set0(alg, OBJ_nid2obj(md_nid), V_ASN1_NULL, NULL);
	ASN1_INTEGER_set(sn, serial++);
	assert_true(TS_TST_INFO_set_version(ti, t->version ? t->version : 1) &&
		    TS_TST_INFO_set_policy_id(ti, pol) &&
		    TS_MSG_IMPRINT_set_algo(mi, alg) &&
		    TS_MSG_IMPRINT_set_msg(mi, md, (int)mdlen) &&
		    TS_TST_INFO_set_msg_imprint(ti, mi) &&
		    TS_TST_INFO_set_serial(ti, sn) &&
		    TS_TST_INFO_set_time(ti, gt));
	*len = i2d_TS_TST_INFO(ti, &der);
	if (t->ber)
		der = long_form(der, len);
	ASN1_GENERALIZEDTIME_free(gt);
	ASN1_INTEGER_free(sn);
	ASN1_OBJECT_free(pol);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_TST_INFO_free(ti);
	return der;
}

/* An ESS signingCertificateV2 naming x, as a signed attribute of si. */
static void add_ess(CMS_SignerInfo *si, X509 *x)
{
	ESS_SIGNING_CERT_V2 *ss =
	    OSSL_ESS_signing_cert_v2_new_init(EVP_sha256(), x, NULL, 0);
	unsigned char *der = NULL;
	int len = i2d_ESS_SIGNING_CERT_V2(ss, &der);

	assert_true(CMS_signed_add1_attr_by_NID(
	    si, NID_id_smime_aa_signingCertificateV2, V_ASN1_SEQUENCE, der,
	    len));
	OPENSSL_free(der);
	ESS_SIGNING_CERT_V2_free(ss);
}

/* The token for t, DER (what a TSA's TimeStampResp carries). */
static uint8_t *make_token(const struct tok *t, int *len)
{
	unsigned int fl = CMS_BINARY | CMS_NOSMIMECAP | CMS_PARTIAL;
	CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, fl);
	int tlen;
	uint8_t *tst = tst_info(t, &tlen), *der = NULL;
	BIO *in = BIO_new_mem_buf(tst, tlen);
	CMS_SignerInfo *si;
	ESS_SIGNING_CERT *s1;

	assert_true(CMS_set1_eContentType(
	    cms, OBJ_nid2obj(t->content_nid ? t->content_nid
					    : NID_id_smime_ct_TSTInfo)));
	fl |= t->no_certs ? CMS_NOCERTS : 0;
	si = CMS_add1_signer(cms, t->cert, F.tsa_key, EVP_sha256(),
			     fl | (t->ess == ESS_V2 ? CMS_CADES : 0));
	assert_non_null(si);
	/* The same TSA again (its certificate is in the token already). */
	if (t->two_signers)
		assert_non_null(CMS_add1_signer(cms, t->cert, F.tsa_key,
						EVP_sha256(),
						fl | CMS_CADES | CMS_NOCERTS));
	if (t->detached)
		assert_true(CMS_set_detached(cms, 1));
	if (t->ess == ESS_OTHER)
		add_ess(si, F.good);
	if (t->ess == ESS_V1) {
		unsigned char *d = NULL;
		int n;

		s1 = OSSL_ESS_signing_cert_new_init(t->cert, NULL, 0);
		n = i2d_ESS_SIGNING_CERT(s1, &d);
		assert_true(CMS_signed_add1_attr_by_NID(
		    si, NID_id_smime_aa_signingCertificate, V_ASN1_SEQUENCE, d,
		    n));
		OPENSSL_free(d);
		ESS_SIGNING_CERT_free(s1);
	}
	assert_true(CMS_final(cms, in, NULL, CMS_BINARY));
	*len = i2d_CMS_ContentInfo(cms, &der);
	BIO_free(in);
	OPENSSL_free(tst);
	CMS_ContentInfo_free(cms);
	return der;
}

static struct tok tok_for(CMS_ContentInfo *sig, time_t gen)
{
	return (struct tok){.over =
				CMS_SignerInfo_get0_signature(signer_info(sig)),
			    .gen = gen,
			    .cert = F.tsa,
			    .ess = ESS_V2};
}

/* Add a token (flip: XOR one byte at that offset from its end). */
static void attach(CMS_ContentInfo *sig, const struct tok *t, int flip)
{
	int len;
	uint8_t *tok = make_token(t, &len);

	if (flip)
		tok[len - flip] ^= 0x01;
	assert_true(CMS_unsigned_add1_attr_by_OBJ(
	    signer_info(sig), OBJ_nid2obj(NID_id_smime_aa_timeStampToken),
	    V_ASN1_SEQUENCE, tok, len));
	OPENSSL_free(tok);
}

/* Verify sig at p (then free it), with the TSA trust store unless none. */
static enum verify_reason check_at(struct sfs_verifier *v, CMS_ContentInfo *sig,
				   const char *p, const char *tsa_trust,
				   const char *policy, time_t *stamp)
{
	struct verify_policy pol = {.expected_path = p,
				    .expected_path_len = strlen(p)};
	struct verify_tsa tsa = {tsa_trust, policy};
	unsigned char *der = NULL;
	int len = i2d_CMS_ContentInfo(sig, &der);
	struct sig_info info;
	enum verify_reason r;

	r = verifier_check_sig_tsa(v, der, (size_t)len, &pol, &tsa, &info);
	if (stamp)
		*stamp = info.stamp_time;
	sig_info_clear(&info);
	OPENSSL_free(der);
	CMS_ContentInfo_free(sig);
	return r;
}

static enum verify_reason check_v(struct sfs_verifier *v, CMS_ContentInfo *sig,
				  const char *tsa_trust, const char *policy,
				  time_t *stamp)
{
	return check_at(v, sig, path, tsa_trust, policy, stamp);
}

static enum verify_reason check(CMS_ContentInfo *sig)
{
	return check_v(F.v, sig, F.tsa_pem, NULL, NULL);
}

#define EXPECT(want, got)                                                      \
	assert_string_equal(verify_reason_name(got), verify_reason_name(want))

/* The point of it all: an expired signer, a token from its lifetime. */
static void test_expired_signer(void **state)
{
	CMS_ContentInfo *s = sign_cms(F.expired, path);
	struct tok t = tok_for(s, F.now - 5400);
	time_t stamp = 0;

	(void)state;
	EXPECT(VR_EXPIRED, check(sign_cms(F.expired, path)));
	attach(s, &t, 0);
	EXPECT(VR_OK, check_v(F.v, s, F.tsa_pem, NULL, &stamp));
	assert_int_equal(stamp, F.now - 5400);
	/* Without a TSA trust store the token is carried, never trusted. */
	s = sign_cms(F.expired, path);
	t = tok_for(s, F.now - 5400); /* check() freed the first signature */
	attach(s, &t, 0);
	EXPECT(VR_EXPIRED, check_v(F.v, s, NULL, NULL, NULL));
	/* The same with the ESS identifier of RFC 3161 itself (SHA-1). */
	s = sign_cms(F.expired, path);
	t = tok_for(s, F.now - 5400);
	t.ess = ESS_V1;
	attach(s, &t, 0);
	EXPECT(VR_OK, check(s));
}

static void test_valid_signer_stamped(void **state)
{
	CMS_ContentInfo *s = sign_cms(F.good, path);
	struct tok t = tok_for(s, F.now - 60);

	(void)state;
	attach(s, &t, 0);
	EXPECT(VR_OK, check(s));
	/* A named store that was never loaded: fail closed. */
	s = sign_cms(F.good, path);
	t = tok_for(s, F.now - 60); /* check() freed the first signature */
	attach(s, &t, 0);
	EXPECT(VR_INTERNAL, check_v(F.v, s, "/nonexistent.pem", NULL, NULL));
}

static void test_token_over_other_signature(void **state)
{
	CMS_ContentInfo *s = sign_cms(F.expired, path);
	CMS_ContentInfo *again = sign_cms(F.expired, path); /* new ECDSA k */
	struct tok t = tok_for(again, F.now - 5400);

	(void)state;
	attach(s, &t, 0);
	EXPECT(VR_TSA_IMPRINT, check(s));
	CMS_ContentInfo_free(again);
}

static void test_token_moved_from_other_file(void **state)
{
	CMS_ContentInfo *other = sign_cms(F.expired, "pkg/other.bin");
	CMS_ContentInfo *s = sign_cms(F.expired, path);
	struct tok t = tok_for(other, F.now - 5400);

	(void)state;
	attach(other, &t, 0);
	attach(s, &t, 0);
	EXPECT(VR_OK,
	       check_at(F.v, other, "pkg/other.bin", F.tsa_pem, NULL, NULL));
	EXPECT(VR_TSA_IMPRINT, check(s));
}

/*
 * One token field wrong at a time, over an expired signer's signature
 * (valid from now-7200 to now-3600): each forgery is refused with the
 * reason of its own rule; the few OK rows are the twins that show the
 * field alone is not what refuses.
 */
static const struct forgery {
	const char *what;
	enum verify_reason want;
	X509 **tsa;	    /* NULL: F.tsa */
	long gen;	    /* from now, 0: -5400 */
	const char *trust;  /* NULL: F.tsa_pem */
	const char *policy; /* tsa-policy */
	struct tok t;	    /* over, gen and cert are filled in */
	int flip;	    /* attach()'s */
} forgeries[] = {
    /* T2 */
    {"signed data, not a TSTInfo", VR_TSA_MALFORMED,
     .t.content_nid = NID_pkcs7_data},
    {"TSTInfo version 2", VR_TSA_MALFORMED, .t.version = 2},
    {"TSTInfo in BER", VR_TSA_MALFORMED, .t.ber = true},
    {"TSTInfo detached", VR_TSA_MALFORMED, .t.detached = true},
    {"two SignerInfos", VR_TSA_MALFORMED, .t.two_signers = true},
    /* T3 */
    {"imprint SHA-384", VR_OK, .t.md_nid = NID_sha384},
    {"imprint SHA-512", VR_OK, .t.md_nid = NID_sha512},
    {"imprint SHA-1", VR_TSA_IMPRINT, .t.md_nid = NID_sha1},
    /* T4: the last byte is in the TSA's signature value. */
    {"one byte of the token", VR_TSA_BAD_SIGNATURE, .flip = 1},
    {"TSA certificate left out", VR_TSA_BAD_SIGNATURE, .t.no_certs = true},
    /* T5 */
    {"ESS names another certificate", VR_TSA_ESS, .t.ess = ESS_OTHER},
    {"no ESS identifier", VR_TSA_ESS, .t.ess = ESS_NONE},
    /* T6 */
    {"TSA under a rogue CA", VR_TSA_UNTRUSTED, .tsa = &F.tsa_rogue},
    {"TSA expired at genTime", VR_TSA_UNTRUSTED, .tsa = &F.tsa_old},
    {"code-signing CA as tsa-trust", VR_TSA_UNTRUSTED, .trust = F.ca_pem},
    /* T7 */
    {"TSA with codeSigning EKU", VR_TSA_NO_EKU, .tsa = &F.tsa_no_eku},
    {"TSA EKU not critical", VR_TSA_NO_EKU, .tsa = &F.tsa_soft_eku},
    {"TSA EKU and another", VR_TSA_NO_EKU, .tsa = &F.tsa_two_eku},
    {"TSA keyUsage nonRepudiation", VR_OK, .tsa = &F.tsa_ku_ok},
    {"TSA keyUsage keyEncipherment", VR_TSA_NO_EKU, .tsa = &F.tsa_ku_bad},
    /* T8 */
    {"tsa-policy", VR_OK, .policy = POLICY},
    {"another policy", VR_TSA_POLICY, .policy = POLICY,
     .t.policy = "1.3.6.1.4.1.99999.2"},
    /* T9 */
    {"genTime after notAfter", VR_TSA_TIME, .gen = -1800},
    {"genTime before notBefore", VR_TSA_TIME, .gen = -9000},
    {"genTime in the future", VR_TSA_TIME, .gen = 3600},
};

static void test_forged_tokens(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(forgeries) / sizeof(forgeries[0]); i++) {
		const struct forgery *f = &forgeries[i];
		CMS_ContentInfo *s = sign_cms(F.expired, path);
		struct tok t = f->t;
		enum verify_reason r;

		t.over = CMS_SignerInfo_get0_signature(signer_info(s));
		t.gen = F.now + (f->gen ? f->gen : -5400);
		t.cert = f->tsa ? *f->tsa : F.tsa;
		attach(s, &t, f->flip);
		r = check_v(F.v, s, f->trust ? f->trust : F.tsa_pem, f->policy,
			    NULL);
		if (r != f->want)
			fail_msg("%s: %s, not %s", f->what,
				 verify_reason_name(r),
				 verify_reason_name(f->want));
	}
}

static void test_two_tokens(void **state)
{
	CMS_ContentInfo *s = sign_cms(F.expired, path);
	struct tok t = tok_for(s, F.now - 5400);
	X509_ATTRIBUTE *a;
	uint8_t *tok;
	int len;

	(void)state;
	attach(s, &t, 0);
	attach(s, &t, 0);
	EXPECT(VR_TSA_COUNT, check(s));
	/* One attribute with two values. */
	s = sign_cms(F.expired, path);
	t = tok_for(s, F.now - 5400);
	attach(s, &t, 0);
	a = CMS_unsigned_get_attr(signer_info(s), 0);
	tok = make_token(&t, &len);
	assert_true(X509_ATTRIBUTE_set1_data(a, V_ASN1_SEQUENCE, tok, len));
	OPENSSL_free(tok);
	EXPECT(VR_TSA_COUNT, check(s));
}

static void test_other_unsigned_attribute(void **state)
{
	CMS_ContentInfo *s = sign_cms(F.good, path);
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.4.1.99999.7", 1);

	(void)state;
	/* Anybody can add one: it is not covered by the signature. */
	assert_true(CMS_unsigned_add1_attr_by_OBJ(signer_info(s), oid,
						  V_ASN1_OCTET_STRING, "x", 1));
	ASN1_OBJECT_free(oid);
	EXPECT(VR_UNSIGNED_ATTR, check(s));
}

/* T1: the token attribute's one value must be a SEQUENCE. */
static void test_malformed(void **state)
{
	CMS_ContentInfo *s = sign_cms(F.expired, path);
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x05};

	(void)state;
	assert_true(CMS_unsigned_add1_attr_by_OBJ(
	    signer_info(s), OBJ_nid2obj(NID_id_smime_aa_timeStampToken),
	    V_ASN1_SEQUENCE, junk, sizeof(junk)));
	EXPECT(VR_TSA_MALFORMED, check(s));
	s = sign_cms(F.expired, path);
	assert_true(CMS_unsigned_add1_attr_by_OBJ(
	    signer_info(s), OBJ_nid2obj(NID_id_smime_aa_timeStampToken),
	    V_ASN1_OCTET_STRING, "x", 1));
	EXPECT(VR_TSA_MALFORMED, check(s));
}

/* Revocation is judged now, as for validity = signing-time. */
static void test_revoked_stamped(void **state)
{
	CMS_ContentInfo *s = sign_cms(F.revoked, path);
	struct tok t = tok_for(s, F.now - 5400);

	(void)state;
	attach(s, &t, 0);
	EXPECT(VR_REVOKED, check_v(F.v_crl, s, F.tsa_pem, NULL, NULL));
	s = sign_cms(F.expired, path);
	t = tok_for(s, F.now - 5400);
	attach(s, &t, 0);
	EXPECT(VR_OK, check_v(F.v_crl, s, F.tsa_pem, NULL, NULL));
}

static void test_sig_stamped(void **state)
{
	CMS_ContentInfo *s = sign_cms(F.good, path);
	struct tok t = tok_for(s, F.now - 60);
	unsigned char *der = NULL;
	time_t gen;
	int len;

	(void)state;
	len = i2d_CMS_ContentInfo(s, &der);
	assert_int_equal(tsa_sig_stamped(der, (size_t)len, &gen), 0);
	OPENSSL_free(der);
	der = NULL;
	attach(s, &t, 0);
	len = i2d_CMS_ContentInfo(s, &der);
	assert_int_equal(tsa_sig_stamped(der, (size_t)len, &gen), 1);
	assert_int_equal(gen, F.now - 60);
	assert_int_equal(tsa_sig_stamped(der, (size_t)len - 1, &gen), -EBADMSG);
	OPENSSL_free(der);
	CMS_ContentInfo_free(s);
}

/*
 * The golden signature with a token (tests/data/mkgolden-tsa.sh) verifies
 * with validity judged at genTime, forever; one byte of its token (the
 * last of the .sig, in the TSA's signature) changed does not.
 */
static void test_golden_tsa(void **state)
{
	char dir[512], ca[600], p[700];
	struct sfs_trust_config tc = {.cafile = ca};
	struct verify_policy pol = {.expected_path = "dir/hello.txt",
				    .expected_path_len = 13};
	struct verify_tsa tsa = {ca, NULL};
	struct sfs_verifier *v = NULL;
	struct sfs_error err = {0};
	struct sig_info info;
	uint8_t *der = NULL;
	size_t len;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/tests/data/golden/v1-tsa", SFS_SRC);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	snprintf(p, sizeof(p), "%s/tree/dir/hello.txt.sig", dir);
	assert_int_equal(verifier_new(&tc, &v, &err), 0);
	assert_int_equal(verifier_add_tsa(v, ca, &err), 0);
	assert_int_equal(sfs_read_file_at(AT_FDCWD, p, SFS_SIG_MAX, &der, &len),
			 0);
	EXPECT(VR_OK, verifier_check_sig_tsa(v, der, len, &pol, &tsa, &info));
	assert_true(info.stamp_time > 0);
	sig_info_clear(&info);
	der[len - 1] ^= 0x01;
	EXPECT(VR_TSA_BAD_SIGNATURE,
	       verifier_check_sig_tsa(v, der, len, &pol, &tsa, &info));
	sig_info_clear(&info);
	free(der);
	verifier_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expired_signer),
	    cmocka_unit_test(test_valid_signer_stamped),
	    cmocka_unit_test(test_token_over_other_signature),
	    cmocka_unit_test(test_token_moved_from_other_file),
	    cmocka_unit_test(test_forged_tokens),
	    cmocka_unit_test(test_two_tokens),
	    cmocka_unit_test(test_other_unsigned_attribute),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_revoked_stamped),
	    cmocka_unit_test(test_sig_stamped),
	    cmocka_unit_test(test_golden_tsa),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
