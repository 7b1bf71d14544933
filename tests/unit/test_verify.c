// SPDX-License-Identifier: Apache-2.0
/*
 * The forgery suite: one good signature and every way to get it wrong,
 * each rejected with its own reason. Keys are in memory (no token): the
 * format and the verifier are under test here; tests/hsm covers the token.
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
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/rand.h>

#include "crypto/chain_int.h"
#include "pki.h"
#include "signetfs/sigbuild.h"
#include "signetfs/verify.h"

static const char content[] = "firmware image v1\n";
static const char *path = "pkg/app.bin";

struct fx {
	char dir[64];
	char ca_pem[96], crl_pem[96];
	EVP_PKEY *ca_key, *key, *other_key;
	X509 *ca, *good, *expired, *future, *no_eku, *revoked, *rogue;
	struct sfs_verifier *v, *v_crl;
	struct sfs_writer writer;
};

static struct fx F;

static void digest_of(const void *data, size_t len, struct sfs_digest *d)
{
	struct sfs_hash *h = sfs_hash_new(SFS_MD_SHA256);

	assert_non_null(h);
	assert_int_equal(sfs_hash_update(h, data, len), 0);
	assert_int_equal(sfs_hash_final(h, d), 0);
	sfs_hash_free(h);
}

/* F.ca's and F.good's: valid long before (a signature may claim a
 * time weeks ago); each test that makes a twin starts from a copy. */
static const struct pki_cert_opts ca_opts = {.cn = "test CA",
					     .ca = true,
					     .not_before = -86400 * 60,
					     .not_after = 86400 * 365,
					     .serial = 1};
static const struct pki_cert_opts signer_opts = {.cn = "signer",
						 .codesign = true,
						 .not_before = -3600,
						 .not_after = 86400,
						 .serial = 10};

static int setup(void **state)
{
	struct pki_cert_opts ca = ca_opts;
	struct pki_cert_opts o = signer_opts;
	struct sfs_trust_config tc = {0};
	struct sfs_error err = {0};
	long rev = 14;
	EVP_PKEY *rogue_ca_key = pki_key();
	X509 *rogue_ca;

	(void)state;
	snprintf(F.dir, sizeof(F.dir), "/tmp/sfs-verify-XXXXXX");
	if (!mkdtemp(F.dir))
		return -1;
	F.ca_key = pki_key();
	F.key = pki_key();
	F.other_key = pki_key();
	F.ca = pki_cert(&ca, F.ca_key, NULL, NULL);
	F.good = pki_cert(&o, F.key, F.ca, F.ca_key);
	o.serial = 11, o.not_before = -7200, o.not_after = -3600;
	F.expired = pki_cert(&o, F.key, F.ca, F.ca_key);
	o.serial = 12, o.not_before = 3600, o.not_after = 7200;
	F.future = pki_cert(&o, F.key, F.ca, F.ca_key);
	o.serial = 13, o.not_before = -3600, o.not_after = 86400;
	o.codesign = false;
	F.no_eku = pki_cert(&o, F.key, F.ca, F.ca_key);
	o.serial = 14, o.codesign = true;
	F.revoked = pki_cert(&o, F.key, F.ca, F.ca_key);
	ca.cn = "rogue CA";
	rogue_ca = pki_cert(&ca, rogue_ca_key, NULL, NULL);
	o.serial = 10;
	F.rogue = pki_cert(&o, F.key, rogue_ca, rogue_ca_key);
	X509_free(rogue_ca);
	EVP_PKEY_free(rogue_ca_key);

	snprintf(F.ca_pem, sizeof(F.ca_pem), "%s/ca.pem", F.dir);
	snprintf(F.crl_pem, sizeof(F.crl_pem), "%s/crl.pem", F.dir);
	pki_write_cert(F.ca_pem, F.ca);
	X509_CRL *crl = pki_crl(F.ca, F.ca_key, &rev, 1, 30);
	pki_write_crl(F.crl_pem, crl);
	X509_CRL_free(crl);
	tc.cafile = F.ca_pem;
	if (verifier_new(&tc, &F.v, &err))
		return -1;
	tc.crlfile = F.crl_pem;
	if (verifier_new(&tc, &F.v_crl, &err))
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
	X509_free(F.future), X509_free(F.no_eku), X509_free(F.revoked);
	X509_free(F.rogue);
	EVP_PKEY_free(F.ca_key), EVP_PKEY_free(F.key);
	EVP_PKEY_free(F.other_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	return system(cmd);
}

/* A signature of `data` for path `p` by (key, cert). */
static void sign(const void *data, size_t len, const char *p, EVP_PKEY *key,
		 X509 *cert, unsigned int flags, uint8_t **der, size_t *dlen)
{
	struct sfs_digest d;
	struct sig_build b = {
	    .key = key,
	    .cert = cert,
	    .digest = &d,
	    .path = p,
	    .path_len = strlen(p),
	    .writer = &F.writer,
	    .flags = flags,
	};

	digest_of(data, len, &d);
	assert_int_equal(sig_build_der(&b, der, dlen), 0);
}

static int content_fd(const void *data, size_t len)
{
	char p[96];
	int fd;

	snprintf(p, sizeof(p), "%s/content-XXXXXX", F.dir);
	fd = mkstemp(p);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	unlink(p);
	return fd;
}

static enum verify_reason check_with(struct sfs_verifier *v, const uint8_t *der,
				     size_t len, const void *data, size_t dlen,
				     const char *p,
				     const struct verify_policy *base)
{
	struct verify_policy pol = {p, strlen(p), NULL, 0};
	struct sig_info info;
	enum verify_reason r;
	int fd = content_fd(data, dlen);

	if (base) {
		pol.pins = base->pins;
		pol.n_pins = base->n_pins;
	}
	r = verifier_check_fd(v, der, len, &pol, fd, &info);
	if (r == VR_OK) {
		assert_int_equal(info.path_len, strlen(p));
		assert_memory_equal(info.path, p, info.path_len);
		assert_int_equal(info.writer.uid, F.writer.uid);
	}
	sig_info_clear(&info);
	close(fd);
	return r;
}

static enum verify_reason check(const uint8_t *der, size_t len,
				const void *data, size_t dlen, const char *p)
{
	return check_with(F.v, der, len, data, dlen, p, NULL);
}

#define C content, sizeof(content) - 1

/* Sign the content with cert, expect reason on verification. */
static void expect_cert(X509 *cert, struct sfs_verifier *v,
			enum verify_reason want)
{
	uint8_t *der;
	size_t len;

	sign(C, path, F.key, cert, 0, &der, &len);
	assert_string_equal(
	    verify_reason_name(check_with(v, der, len, C, path, NULL)),
	    verify_reason_name(want));
	free(der);
}

static void test_good(void **state)
{
	(void)state;
	expect_cert(F.good, F.v, VR_OK);
	expect_cert(F.good, F.v_crl, VR_OK);
}

static void test_content_flip_and_append(void **state)
{
	char flipped[sizeof(content)], longer[sizeof(content) + 1];
	uint8_t *der;
	size_t len;

	(void)state;
	sign(C, path, F.key, F.good, 0, &der, &len);
	memcpy(flipped, content, sizeof(content));
	flipped[3] ^= 0x01;
	assert_int_equal(check(der, len, flipped, sizeof(content) - 1, path),
			 VR_CONTENT_DIGEST);
	memcpy(longer, content, sizeof(content));
	longer[sizeof(content) - 1] = 'x';
	assert_int_equal(check(der, len, longer, sizeof(content), path),
			 VR_CONTENT_DIGEST);
	assert_int_equal(check(der, len, content, sizeof(content) - 2, path),
			 VR_CONTENT_DIGEST);
	free(der);
}

static void test_sig_bytes(void **state)
{
	uint8_t *der, *big, rnd[512];
	size_t len;

	(void)state;
	sign(C, path, F.key, F.good, 0, &der, &len);
	assert_int_equal(check(der, len - 1, C, path), VR_SIG_MALFORMED);
	assert_int_equal(check(der, len / 2, C, path), VR_SIG_MALFORMED);
	big = malloc(SFS_SIG_MAX + 1);
	memcpy(big, der, len);
	memcpy(big + len, "garbage", 7);
	assert_int_equal(check(big, len + 7, C, path), VR_SIG_TRAILING);
	assert_int_equal(check(big, 0, C, path), VR_SIG_EMPTY);
	assert_int_equal(check(big, SFS_SIG_MAX + 1, C, path),
			 VR_SIG_TOO_LARGE);
	RAND_bytes(rnd, sizeof(rnd));
	rnd[0] = 0x04; /* not even a SEQUENCE */
	assert_int_equal(check(rnd, sizeof(rnd), C, path), VR_SIG_MALFORMED);
	free(big);
	free(der);
}

static void test_other_file_and_rename(void **state)
{
	static const char other[] = "another file\n";
	uint8_t *der;
	size_t len;

	(void)state;
	/* b's signature next to a: bound to b's path. */
	sign(other, sizeof(other) - 1, "pkg/other.bin", F.key, F.good, 0, &der,
	     &len);
	assert_int_equal(check(der, len, C, path), VR_PATH_MISMATCH);
	free(der);
	/* Another content signed for the same path. */
	sign(other, sizeof(other) - 1, path, F.key, F.good, 0, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_CONTENT_DIGEST);
	free(der);
	/* The right file and its .sig, renamed or moved together. */
	sign(C, path, F.key, F.good, 0, &der, &len);
	assert_int_equal(check(der, len, C, "pkg/app2.bin"), VR_PATH_MISMATCH);
	assert_int_equal(check(der, len, C, "other/pkg/app.bin"),
			 VR_PATH_MISMATCH);
	assert_int_equal(check(der, len, C, "app.bin"), VR_PATH_MISMATCH);
	free(der);
}

static void test_certs(void **state)
{
	(void)state;
	expect_cert(F.rogue, F.v, VR_UNTRUSTED);
	expect_cert(F.expired, F.v, VR_EXPIRED);
	expect_cert(F.future, F.v, VR_NOT_YET_VALID);
	expect_cert(F.no_eku, F.v, VR_NO_CODESIGN_EKU);
	expect_cert(F.revoked, F.v_crl, VR_REVOKED);
	/* Without the CRL configured the same signature passes. */
	expect_cert(F.revoked, F.v, VR_OK);
}

/* Sign with a certificate for F.key by F.ca with these extensions. */
static enum verify_reason with_exts(bool ca, const char *bc, const char *ku,
				    const char *eku)
{
	struct pki_cert_opts o = {.cn = "ext signer",
				  .ca = ca,
				  .codesign = true,
				  .not_before = -3600,
				  .not_after = 86400,
				  .serial = 40,
				  .bc = bc,
				  .ku = ku,
				  .eku = eku};
	X509 *x;
	uint8_t *der;
	size_t len;
	enum verify_reason r;

	x = pki_cert(&o, F.key, F.ca, F.ca_key);
	sign(C, path, F.key, x, 0, &der, &len);
	r = check(der, len, C, path);
	/* The CRL run must not change the verdict. */
	assert_int_equal(check_with(F.v_crl, der, len, C, path, NULL), r);
	free(der);
	X509_free(x);
	return r;
}

static void test_signer_is_ca(void **state)
{
	(void)state;
	/* The twin: codeSigning and digitalSignature on an end entity. */
	assert_int_equal(with_exts(false, "critical,CA:FALSE",
				   "critical,digitalSignature", "codeSigning"),
			 VR_OK);
	assert_int_equal(
	    with_exts(false, NULL, "critical,digitalSignature", "codeSigning"),
	    VR_OK);
	/* A CA certificate with the same EKU and keyUsage is no signer. */
	assert_string_equal(verify_reason_name(with_exts(
				true, "critical,CA:TRUE",
				"critical,digitalSignature", "codeSigning")),
			    "signer-is-ca");
	assert_int_equal(with_exts(true, "critical,CA:TRUE",
				   "critical,digitalSignature,keyCertSign,"
				   "cRLSign",
				   "codeSigning"),
			 VR_SIGNER_IS_CA);
	assert_int_equal(with_exts(true, "critical,CA:TRUE,pathlen:0",
				   "critical,digitalSignature,keyCertSign",
				   "codeSigning"),
			 VR_SIGNER_IS_CA);
	/* keyCertSign without cA: X509_STRICT already refuses the chain. */
	assert_int_not_equal(with_exts(false, "critical,CA:FALSE",
				       "critical,digitalSignature,keyCertSign",
				       "codeSigning"),
			     VR_OK);
}

static void test_crl_expired(void **state)
{
	struct sfs_trust_config tc = {.cafile = F.ca_pem};
	struct sfs_verifier *v = NULL;
	struct sfs_error err = {0};
	char p[96];
	X509_CRL *crl = pki_crl(F.ca, F.ca_key, NULL, 0, -1);

	(void)state;
	snprintf(p, sizeof(p), "%s/old-crl.pem", F.dir);
	pki_write_crl(p, crl);
	X509_CRL_free(crl);
	tc.crlfile = p;
	assert_int_equal(verifier_new(&tc, &v, &err), 0);
	expect_cert(F.good, v, VR_CRL_ERROR);
	verifier_free(v);
}

#define DAY 86400L

/* A v1 signature of the content whose signingTime is `at` s from now. */
static void sign_at(X509 *cert, long at, uint8_t **der, size_t *dlen)
{
	const unsigned int aflags =
	    CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP | CMS_CADES;
	ASN1_TIME *t = X509_gmtime_adj(NULL, at);
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	struct sfs_digest d;
	uint8_t *attr = NULL;
	unsigned char *out = NULL;
	int alen = 0, n;

	digest_of(C, &d);
	cms = CMS_sign(NULL, NULL, NULL, NULL,
		       CMS_DETACHED | CMS_BINARY | CMS_PARTIAL);
	assert_non_null(cms);
	si = CMS_add1_signer(cms, cert, F.key, EVP_sha256(), aflags);
	assert_non_null(si);
	assert_true(CMS_signed_add1_attr_by_NID(
	    si, NID_pkcs9_contentType, V_ASN1_OBJECT,
	    OBJ_nid2obj(NID_pkcs7_data), -1));
	assert_true(CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest,
						V_ASN1_OCTET_STRING, d.bytes,
						(int)d.len));
	/* Present before signing: CMS_SignerInfo_sign() keeps it. */
	assert_true(CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime,
						t->type, t, -1));
	assert_int_equal(sig_path_encode(1, path, strlen(path), &attr, &alen),
			 0);
	assert_true(CMS_signed_add1_attr_by_OBJ(si, sig_oid_path(),
						V_ASN1_SEQUENCE, attr, alen));
	OPENSSL_free(attr);
	assert_int_equal(sig_writer_encode(&F.writer, &attr, &alen), 0);
	assert_true(CMS_signed_add1_attr_by_OBJ(si, sig_oid_writer(),
						V_ASN1_SEQUENCE, attr, alen));
	OPENSSL_free(attr);
	assert_int_equal(CMS_SignerInfo_sign(si), 1);
	n = i2d_CMS_ContentInfo(cms, &out);
	assert_true(n > 0);
	*der = malloc((size_t)n);
	memcpy(*der, out, (size_t)n);
	*dlen = (size_t)n;
	OPENSSL_free(out);
	CMS_ContentInfo_free(cms);
	ASN1_TIME_free(t);
}

/* A code-signing certificate for F.key by F.ca, valid from..to (s). */
static X509 *signer_valid(long from, long to, long serial)
{
	struct pki_cert_opts o = {.cn = "timed signer",
				  .codesign = true,
				  .not_before = from,
				  .not_after = to,
				  .serial = serial};

	return pki_cert(&o, F.key, F.ca, F.ca_key);
}

/*
 * A verifier trusting F.ca with one CRL for F.ca's name (thisUpdate and
 * nextUpdate in seconds from now, revoking `rev`, signed by key), in
 * either validity mode.
 */
static struct sfs_verifier *crl_verifier(long this_upd, long next_upd,
					 const long *rev, int n, EVP_PKEY *key,
					 bool at_signing)
{
	static int seq;
	struct sfs_trust_config tc = {.cafile = F.ca_pem,
				      .at_signing_time = at_signing};
	struct sfs_verifier *v = NULL;
	struct sfs_error err = {0};
	X509_CRL *crl = pki_crl_at(F.ca, key, rev, n, this_upd, next_upd);
	char p[96];

	snprintf(p, sizeof(p), "%s/crl-%d.pem", F.dir, seq++);
	pki_write_crl(p, crl);
	X509_CRL_free(crl);
	tc.crlfile = p;
	assert_int_equal(verifier_new(&tc, &v, &err), 0);
	return v;
}

static void expect_at(struct sfs_verifier *v, X509 *cert, long at,
		      enum verify_reason want)
{
	uint8_t *der;
	size_t len;

	sign_at(cert, at, &der, &len);
	assert_string_equal(
	    verify_reason_name(check_with(v, der, len, C, path, NULL)),
	    verify_reason_name(want));
	free(der);
}

/*
 * The CRL is judged now in both validity modes: signingTime is the
 * signer's word, so it must not make a stale CRL current, and a signature
 * older than the CRL's thisUpdate is not refused for that.
 */
static void test_crl_judged_now(void **state)
{
	X509 *cert = signer_valid(-30 * DAY, 30 * DAY, 50);

	(void)state;
	for (int st = 0; st <= 1; st++) {
		struct sfs_verifier *stale, *fresh, *future, *forged;

		stale = crl_verifier(-10 * DAY, -DAY, NULL, 0, F.ca_key, st);
		fresh = crl_verifier(-3600, 30 * DAY, NULL, 0, F.ca_key, st);
		future = crl_verifier(DAY, 30 * DAY, NULL, 0, F.ca_key, st);
		forged =
		    crl_verifier(-3600, 30 * DAY, NULL, 0, F.other_key, st);
		/* Expired yesterday: no claimed time makes it current. */
		expect_at(stale, cert, -5 * DAY, VR_CRL_ERROR);
		expect_at(stale, cert, 0, VR_CRL_ERROR);
		/* Not current yet, whatever time the signature claims. */
		expect_at(future, cert, 2 * DAY, VR_CRL_ERROR);
		expect_at(future, cert, 0, VR_CRL_ERROR);
		/* Not signed by the CA. */
		expect_at(forged, cert, -5 * DAY, VR_CRL_ERROR);
		/* The twin: a current CRL, signatures older than it too. */
		expect_at(fresh, cert, -5 * DAY, VR_OK);
		expect_at(fresh, cert, -2 * 3600, VR_OK);
		expect_at(fresh, cert, 0, VR_OK);
		verifier_free(stale);
		verifier_free(fresh);
		verifier_free(future);
		verifier_free(forged);
	}
	X509_free(cert);
}

/* valid_until of a verification of cert signed now, by verifier v. */
static time_t until_of(struct sfs_verifier *v, X509 *cert)
{
	struct verify_policy pol = {path, strlen(path), NULL, 0};
	struct sig_info info;
	uint8_t *der;
	size_t len;
	time_t t;

	sign_at(cert, 0, &der, &len);
	assert_int_equal(verifier_check_sig(v, der, len, &pol, &info), VR_OK);
	t = info.valid_until;
	sig_info_clear(&info);
	free(der);
	return t;
}

/*
 * An OK holds only until the chain's first notAfter (validity judged now)
 * and the CRL's nextUpdate: the inbox's cached verdicts expire then, so a
 * file whose certificate or CRL runs out is not served from the cache.
 */
static void test_valid_until(void **state)
{
	X509 *cert = signer_valid(-DAY, 2 * DAY, 56);
	time_t now = time(NULL), t;
	struct sfs_verifier *crl, *crl_st;

	(void)state;
	t = until_of(F.v, cert);
	assert_true(t >= now + 2 * DAY - 60 && t <= now + 2 * DAY + 60);
	crl = crl_verifier(-3600, DAY, NULL, 0, F.ca_key, false);
	t = until_of(crl, cert);
	assert_true(t >= now + DAY - 60 && t <= now + DAY + 60);
	/* signing-time: the certificate's expiry does not end it, the CRL's
	 * does */
	crl_st = crl_verifier(-3600, DAY, NULL, 0, F.ca_key, true);
	t = until_of(crl_st, cert);
	assert_true(t >= now + DAY - 60 && t <= now + DAY + 60);
	verifier_free(crl);
	verifier_free(crl_st);
	X509_free(cert);
}

/* validity = signing-time moves the chain's validity periods, nothing else. */
static void test_signing_time_chain(void **state)
{
	X509 *expired = signer_valid(-30 * DAY, -DAY, 51);
	X509 *not_yet = signer_valid(DAY, 30 * DAY, 52);
	X509 *revoked = signer_valid(-30 * DAY, 30 * DAY, 53);
	X509 *both = signer_valid(-30 * DAY, -DAY, 54);
	const long rev[] = {53, 54};
	struct sfs_verifier *st =
	    crl_verifier(-3600, 30 * DAY, rev, 2, F.ca_key, true);
	struct sfs_verifier *now =
	    crl_verifier(-3600, 30 * DAY, rev, 2, F.ca_key, false);
	struct sfs_trust_config tc = {.cafile = F.ca_pem,
				      .at_signing_time = true};
	struct sfs_verifier *st_plain = NULL;
	struct sfs_error err = {0};

	(void)state;
	assert_int_equal(verifier_new(&tc, &st_plain, &err), 0);
	/* Signed while the certificate was valid; the CRL is current. */
	expect_at(st, expired, -5 * DAY, VR_OK);
	expect_at(st_plain, expired, -5 * DAY, VR_OK);
	expect_at(now, expired, -5 * DAY, VR_EXPIRED);
	/* Twins: a claimed time outside the certificate's validity. */
	expect_at(st, expired, 0, VR_EXPIRED);
	expect_at(st_plain, expired, 0, VR_EXPIRED);
	expect_at(st, not_yet, -5 * DAY, VR_NOT_YET_VALID);
	/* A time that has not come yet is judged as now. */
	expect_at(st, not_yet, 2 * DAY, VR_NOT_YET_VALID);
	expect_at(st_plain, not_yet, 2 * DAY, VR_NOT_YET_VALID);
	/* Revocation is today's: claiming an earlier time does not help. */
	expect_at(st, revoked, -5 * DAY, VR_REVOKED);
	expect_at(now, revoked, -5 * DAY, VR_REVOKED);
	expect_at(st, both, -5 * DAY, VR_REVOKED);
	verifier_free(st);
	verifier_free(now);
	verifier_free(st_plain);
	X509_free(expired);
	X509_free(not_yet);
	X509_free(revoked);
	X509_free(both);
}

/* ---- The chain-verdict cache (crypto/chain_int.h) ---- */

static time_t time_of(const ASN1_TIME *a)
{
	struct tm tm;

	assert_true(ASN1_TIME_to_tm(a, &tm));
	return timegm(&tm);
}

/* Sign data for p by (key, cert), verify it by v with pol: the reason. */
static enum verify_reason file_by(struct sfs_verifier *v, EVP_PKEY *key,
				  X509 *cert, const char *data, const char *p,
				  const struct verify_policy *pol)
{
	enum verify_reason r;
	uint8_t *der;
	size_t len;

	sign(data, strlen(data), p, key, cert, 0, &der, &len);
	r = check_with(v, der, len, data, strlen(data), p, pol);
	free(der);
	return r;
}

/*
 * A signer's chain is verified once per trust epoch, not once per file:
 * other files by the same signer, and the same file again, are judged
 * from the verifier's cache. What is not the chain is still per file.
 */
static void test_chain_once_per_signer(void **state)
{
	X509 *cert = signer_valid(-30 * DAY, 30 * DAY, 60);
	struct sfs_verifier *v =
	    crl_verifier(-3600, 30 * DAY, NULL, 0, F.ca_key, false);
	struct sfs_verifier *st =
	    crl_verifier(-3600, 30 * DAY, NULL, 0, F.ca_key, true);
	uint8_t pin[32];
	struct verify_policy pol = {.pins = (const uint8_t(*)[32])pin,
				    .n_pins = 1};

	(void)state;
	assert_int_equal(verifier_chain_builds(v), 0);
	assert_int_equal(file_by(v, F.key, cert, "one\n", "a/one", NULL),
			 VR_OK);
	assert_int_equal(verifier_chain_builds(v), 1);
	assert_int_equal(file_by(v, F.key, cert, "two\n", "a/two", NULL),
			 VR_OK);
	assert_int_equal(file_by(v, F.key, cert, "one\n", "a/one", NULL),
			 VR_OK);
	assert_int_equal(verifier_chain_builds(v), 1);
	/* Pins and the content are judged per file, cached chain or not. */
	memset(pin, 0xab, sizeof(pin));
	assert_int_equal(file_by(v, F.key, cert, "two\n", "a/two", &pol),
			 VR_PIN_MISMATCH);
	assert_int_equal(check_with(v, NULL, 0, "x", 1, "a/x", NULL),
			 VR_SIG_EMPTY);
	assert_int_equal(verifier_chain_builds(v), 1);
	/*
	 * validity = signing-time: two passes (the validity periods at
	 * signingTime, the CRL now); another signingTime between the same
	 * boundaries (here the signer's notBefore and the CRL's thisUpdate)
	 * is judged from the cache, one past a boundary is not.
	 */
	expect_at(st, cert, -5 * DAY, VR_OK);
	assert_int_equal(verifier_chain_builds(st), 2);
	expect_at(st, cert, -4 * DAY, VR_OK);
	assert_int_equal(verifier_chain_builds(st), 2);
	expect_at(st, cert, -60, VR_OK);
	assert_int_equal(verifier_chain_builds(st), 3);
	verifier_free(v);
	verifier_free(st);
	X509_free(cert);
}

/*
 * Forgery twins: a certificate with F.good's subject, issuer name and
 * serial but another key, by a CA of F.ca's name, is refused although
 * F.good's chain is cached; one by F.ca itself passes on its own check.
 */
static void test_chain_cache_twins(void **state)
{
	EVP_PKEY *fake_key = pki_key();
	X509 *fake_ca = pki_cert(&ca_opts, fake_key, NULL, NULL);
	X509 *twin = pki_cert(&signer_opts, F.other_key, fake_ca, fake_key);
	X509 *twin_ca = pki_cert(&signer_opts, F.other_key, F.ca, F.ca_key);
	struct sfs_trust_config tc = {.cafile = F.ca_pem};
	struct sfs_verifier *v = NULL;
	struct sfs_error err = {0};

	(void)state;
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(twin),
				       X509_get_subject_name(F.good)),
			 0);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(twin),
				       X509_get_issuer_name(F.good)),
			 0);
	assert_int_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(twin),
					  X509_get0_serialNumber(F.good)),
			 0);
	assert_int_equal(verifier_new(&tc, &v, &err), 0);
	assert_int_equal(file_by(v, F.key, F.good, "a\n", "t/a", NULL), VR_OK);
	assert_int_equal(verifier_chain_builds(v), 1);
	assert_int_equal(file_by(v, F.other_key, twin, "b\n", "t/b", NULL),
			 VR_UNTRUSTED);
	assert_int_equal(verifier_chain_builds(v), 2);
	/* Refusals are not kept: verified again, refused again. */
	assert_int_equal(file_by(v, F.other_key, twin, "b\n", "t/b", NULL),
			 VR_UNTRUSTED);
	assert_int_equal(verifier_chain_builds(v), 3);
	assert_int_equal(file_by(v, F.other_key, twin_ca, "c\n", "t/c", NULL),
			 VR_OK);
	assert_int_equal(verifier_chain_builds(v), 4);
	assert_int_equal(file_by(v, F.key, F.good, "d\n", "t/d", NULL), VR_OK);
	assert_int_equal(verifier_chain_builds(v), 4);
	verifier_free(v);
	X509_free(twin);
	X509_free(twin_ca);
	X509_free(fake_ca);
	EVP_PKEY_free(fake_key);
}

/*
 * A cached OK ends where the chain or the CRL does, to the second: at
 * the signer's notAfter, at the CRL's nextUpdate (the clock moved with
 * verifier_set_now), and for a signingTime past the notAfter.
 */
static void test_chain_cache_expiry(void **state)
{
	X509 *brief = signer_valid(-DAY, 600, 63);
	X509 *cert = signer_valid(-30 * DAY, 30 * DAY, 64);
	X509 *old = signer_valid(-30 * DAY, -DAY, 65);
	time_t na = time_of(X509_get0_notAfter(brief)), nb, nu;
	struct sfs_verifier *v =
	    crl_verifier(-3600, 3600, NULL, 0, F.ca_key, false);
	struct sfs_verifier *w =
	    crl_verifier(-3600, 3600, NULL, 0, F.ca_key, false);
	struct sfs_verifier *st =
	    crl_verifier(-3600, 30 * DAY, NULL, 0, F.ca_key, true);
	struct sfs_trust_config tc = {.cafile = F.ca_pem};
	struct sfs_verifier *u = NULL;
	struct sfs_error err = {0};

	(void)state;
	verifier_set_now(v, na - 300);
	expect_at(v, brief, 0, VR_OK);
	verifier_set_now(v, na - 1);
	expect_at(v, brief, 0, VR_OK);
	assert_int_equal(verifier_chain_builds(v), 1);
	verifier_set_now(v, na);
	expect_at(v, brief, 0, VR_EXPIRED);
	assert_int_equal(verifier_chain_builds(v), 2);
	verifier_set_now(v, na - 1);
	expect_at(v, brief, 0, VR_OK);
	/* A clock set back before the signer's notBefore: refused. */
	nb = time_of(X509_get0_notBefore(brief));
	assert_int_equal(verifier_new(&tc, &u, &err), 0);
	verifier_set_now(u, nb);
	expect_at(u, brief, 0, VR_OK);
	verifier_set_now(u, nb - 1);
	expect_at(u, brief, 0, VR_NOT_YET_VALID);
	assert_int_equal(verifier_chain_builds(u), 2);
	/* The CRL's nextUpdate, the verdict's valid_until here. */
	nu = until_of(w, cert);
	assert_int_equal(verifier_chain_builds(w), 1);
	verifier_set_now(w, nu - 1);
	expect_at(w, cert, 0, VR_OK);
	assert_int_equal(verifier_chain_builds(w), 1);
	verifier_set_now(w, nu);
	expect_at(w, cert, 0, VR_CRL_ERROR);
	assert_int_equal(verifier_chain_builds(w), 2);
	/* Signed while valid, cached; signed after its notAfter: refused. */
	expect_at(st, old, -5 * DAY, VR_OK);
	expect_at(st, old, -3 * DAY, VR_OK);
	assert_int_equal(verifier_chain_builds(st), 2);
	expect_at(st, old, -DAY / 2, VR_EXPIRED);
	assert_int_equal(verifier_chain_builds(st), 3);
	verifier_free(u);
	verifier_free(v);
	verifier_free(w);
	verifier_free(st);
	X509_free(brief);
	X509_free(cert);
	X509_free(old);
}

/*
 * A CRL that revokes a cached signer comes with a new verifier (a reload
 * is a new trust epoch): it refuses at once, the old one's cache is its
 * own.
 */
static void test_chain_cache_revoked_on_reload(void **state)
{
	X509 *cert = signer_valid(-DAY, 30 * DAY, 66);
	const long rev = 66;
	struct sfs_verifier *old =
	    crl_verifier(-3600, 30 * DAY, NULL, 0, F.ca_key, false);
	struct sfs_verifier *now;

	(void)state;
	expect_at(old, cert, 0, VR_OK);
	expect_at(old, cert, 0, VR_OK);
	assert_int_equal(verifier_chain_builds(old), 1);
	now = crl_verifier(-3600, 30 * DAY, &rev, 1, F.ca_key, false);
	expect_at(now, cert, 0, VR_REVOKED);
	expect_at(now, cert, 0, VR_REVOKED);
	assert_int_equal(verifier_chain_builds(now), 2);
	verifier_free(old);
	verifier_free(now);
	X509_free(cert);
}

/*
 * A CA found only in the trust directory (loaded by OpenSSL when a chain
 * asks for it) still ends a cached OK at its notAfter: the directory's
 * files are read for their boundaries when the verifier is built.
 */
static void test_chain_cache_trust_dir(void **state)
{
	X509 *cert = signer_valid(-DAY, 400 * DAY, 67);
	time_t ca_na = time_of(X509_get0_notAfter(F.ca));
	struct sfs_trust_config tc = {0};
	struct sfs_verifier *v = NULL;
	struct sfs_error err = {0};
	char dir[96], p[128];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/capath", F.dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/%08lx.0", dir, X509_subject_name_hash(F.ca));
	pki_write_cert(p, F.ca);
	tc.capath = dir;
	assert_int_equal(verifier_new(&tc, &v, &err), 0);
	verifier_set_now(v, ca_na - 60);
	expect_at(v, cert, 0, VR_OK);
	verifier_set_now(v, ca_na - 1);
	expect_at(v, cert, 0, VR_OK);
	assert_int_equal(verifier_chain_builds(v), 1);
	verifier_set_now(v, ca_na);
	expect_at(v, cert, 0, VR_EXPIRED);
	assert_int_equal(verifier_chain_builds(v), 2);
	verifier_free(v);
	X509_free(cert);
}

static void test_pins(void **state)
{
	uint8_t pins[2][32], *der;
	unsigned int n = 32;
	struct verify_policy pol = {.pins = (const uint8_t(*)[32])pins};
	size_t len;

	(void)state;
	sign(C, path, F.key, F.good, 0, &der, &len);
	memset(pins, 0xab, sizeof(pins));
	pol.n_pins = 1;
	assert_int_equal(check_with(F.v, der, len, C, path, &pol),
			 VR_PIN_MISMATCH);
	X509_digest(F.good, EVP_sha256(), pins[1], &n);
	pol.n_pins = 2;
	assert_int_equal(check_with(F.v, der, len, C, path, &pol), VR_OK);
	free(der);
}

/* Replace the first occurrence of `from` in der by `to` (same length). */
static void patch(uint8_t *der, size_t len, const char *from, const char *to)
{
	size_t n = strlen(from);

	for (size_t i = 0; i + n <= len; i++) {
		if (memcmp(der + i, from, n) == 0) {
			memcpy(der + i, to, n);
			return;
		}
	}
	fail_msg("pattern %s not found", from);
}

static void test_tampered_attribute(void **state)
{
	uint8_t *der;
	size_t len;

	(void)state;
	sign(C, path, F.key, F.good, 0, &der, &len);
	patch(der, len, "pkg/app.bin", "pkg/app.bim");
	assert_int_equal(check(der, len, C, "pkg/app.bim"), VR_BAD_SIGNATURE);
	free(der);
}

static void test_signature_value_flipped(void **state)
{
	uint8_t *der;
	size_t len;

	(void)state;
	/*
	 * The signature value is the last field of the only SignerInfo (no
	 * unsigned attributes): flip its last byte, as a forger without the
	 * key would have to guess it.
	 */
	sign(C, path, F.key, F.good, 0, &der, &len);
	der[len - 1] ^= 0x01;
	assert_int_equal(check(der, len, C, path), VR_BAD_SIGNATURE);
	free(der);
}

static void test_attributes(void **state)
{
	uint8_t *der;
	size_t len;

	(void)state;
	sign(C, path, F.key, F.good, SIG_BUILD_NO_PATH, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_ATTR_MISSING);
	free(der);
	sign(C, path, F.key, F.good, SIG_BUILD_PATH_V2, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_ATTR_VERSION);
	free(der);
	sign(C, path, F.key, F.good, SIG_BUILD_NO_ESS, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_ATTR_MISSING);
	free(der);
	sign(C, path, F.key, F.good, SIG_BUILD_NO_CERTS, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_SIGNER_CERT);
	free(der);
}

/* A signature with a signetfs-version of v (and flags, raw: a twin). */
static void sign_version(uint64_t v, unsigned int flags, const uint8_t *raw,
			 int raw_len, uint8_t **der, size_t *dlen)
{
	struct sfs_digest d;
	struct sig_build b = {
	    .key = F.key,
	    .cert = F.good,
	    .digest = &d,
	    .path = path,
	    .path_len = strlen(path),
	    .writer = &F.writer,
	    .flags = flags,
	    .file_version = v,
	    .version_der = raw,
	    .version_der_len = raw_len,
	};

	digest_of(C, &d);
	assert_int_equal(sig_build_der(&b, der, dlen), 0);
}

static uint64_t version_of(const uint8_t *der, size_t len)
{
	struct verify_policy pol = {path, strlen(path), NULL, 0};
	struct sig_info info;
	uint64_t v;

	assert_int_equal(verifier_check_sig(F.v, der, len, &pol, &info), VR_OK);
	v = info.file_version;
	sig_info_clear(&info);
	return v;
}

static void test_version(void **state)
{
	uint8_t *der;
	size_t len;
	const uint64_t good[] = {1, 2, 300, SIG_FILE_VERSION_MAX};
	uint64_t peek;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		sign_version(good[i], 0, NULL, 0, &der, &len);
		assert_int_equal(check(der, len, C, path), VR_OK);
		assert_true(version_of(der, len) == good[i]);
		assert_int_equal(sig_peek_version(der, len, &peek), 0);
		assert_true(peek == good[i]);
		free(der);
	}
	/* No attribute: a v1 signature as before, version 0. */
	sign(C, path, F.key, F.good, 0, &der, &len);
	assert_true(version_of(der, len) == 0);
	assert_int_equal(sig_peek_version(der, len, &peek), -ENOENT);
	assert_true(peek == 0);
	/* Not a signature at all. */
	assert_int_equal(sig_peek_version(der, len / 2, &peek), -EBADMSG);
	free(der);
	/* It is signed: another number is another signature. */
	sign_version(2, 0, NULL, 0, &der, &len);
	patch(der, len, "\x02\x01\x01\x02\x01\x02", "\x02\x01\x01\x02\x01\x03");
	assert_int_equal(check(der, len, C, path), VR_BAD_SIGNATURE);
	free(der);
}

/* Twins of signetfs-version, each validly signed: the parser refuses. */
static void test_version_twins(void **state)
{
	static const struct {
		const char *name;
		uint8_t der[16];
		int len;
		enum verify_reason want;
	} twins[] = {
	    {"zero", {0x30, 6, 2, 1, 1, 2, 1, 0}, 8, VR_ATTR_MALFORMED},
	    {"negative", {0x30, 6, 2, 1, 1, 2, 1, 0xff}, 8, VR_ATTR_MALFORMED},
	    {"2^63",
	     {0x30, 14, 2, 1, 1, 2, 9, 0, 0x80, 0, 0, 0, 0, 0, 0, 0},
	     16,
	     VR_ATTR_MALFORMED},
	    {"non-minimal",
	     {0x30, 7, 2, 1, 1, 2, 2, 0, 5},
	     9,
	     VR_ATTR_MALFORMED},
	    {"indefinite",
	     {0x30, 0x80, 2, 1, 1, 2, 1, 5, 0, 0},
	     10,
	     VR_ATTR_MALFORMED},
	    {"extra field",
	     {0x30, 8, 2, 1, 1, 2, 1, 5, 5, 0},
	     10,
	     VR_ATTR_MALFORMED},
	    {"no field", {0x30, 3, 2, 1, 1}, 5, VR_ATTR_MALFORMED},
	    {"bare INTEGER", {2, 1, 5}, 3, VR_ATTR_MALFORMED},
	    {"attribute version 2",
	     {0x30, 6, 2, 1, 2, 2, 1, 5},
	     8,
	     VR_ATTR_VERSION},
	};
	uint8_t *der;
	size_t len;
	uint64_t peek;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(twins); i++) {
		sign_version(0, SIG_BUILD_VERSION_RAW, twins[i].der,
			     twins[i].len, &der, &len);
		if (check(der, len, C, path) != twins[i].want)
			fail_msg("twin %s: %s", twins[i].name,
				 verify_reason_name(check(der, len, C, path)));
		/* The unverified floor reads it with the same parser. */
		if (sig_peek_version(der, len, &peek) == 0 || peek != 0)
			fail_msg("twin %s: peeked as %llu", twins[i].name,
				 (unsigned long long)peek);
		free(der);
	}
	sign_version(5, SIG_BUILD_VERSION_TWICE, NULL, 0, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_ATTR_MISSING);
	free(der);
	sign_version(5, SIG_BUILD_VERSION_VALUES, NULL, 0, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_ATTR_MISSING);
	free(der);
}

/* Signatures made with plain OpenSSL CMS, outside the v1 builder. */
static void raw_cms(unsigned int flags, const EVP_MD *md, int signers,
		    bool other_type, uint8_t **der, size_t *len)
{
	BIO *in = BIO_new_mem_buf(content, sizeof(content) - 1);
	CMS_ContentInfo *cms;
	unsigned char *out = NULL;
	int n;

	cms =
	    CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL | CMS_BINARY);
	assert_non_null(cms);
	if (other_type)
		assert_int_equal(CMS_set1_eContentType(
				     cms, OBJ_nid2obj(NID_pkcs7_enveloped)),
				 1);
	for (int i = 0; i < signers; i++) {
		/* The certificate is added once, with the first signer. */
		assert_non_null(
		    CMS_add1_signer(cms, F.good, F.key, md,
				    CMS_BINARY | (i ? CMS_NOCERTS : 0)));
	}
	assert_int_equal(CMS_final(cms, in, NULL, flags | CMS_BINARY), 1);
	n = i2d_CMS_ContentInfo(cms, &out);
	assert_true(n > 0);
	*der = malloc((size_t)n);
	memcpy(*der, out, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(out);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
}

static void test_raw_cms(void **state)
{
	uint8_t *der;
	size_t len;

	(void)state;
	raw_cms(CMS_DETACHED, EVP_sha1(), 1, false, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_DIGEST_ALG);
	free(der);
	raw_cms(CMS_DETACHED, EVP_sha256(), 2, false, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_SIGNER_COUNT);
	free(der);
	raw_cms(0, EVP_sha256(), 1, false, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_NOT_DETACHED);
	free(der);
	raw_cms(CMS_DETACHED, EVP_sha256(), 1, true, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_CONTENT_TYPE);
	free(der);
	/* Well-formed, trusted, but no signetfs attributes: not v1. */
	raw_cms(CMS_DETACHED, EVP_sha256(), 1, false, &der, &len);
	assert_int_equal(check(der, len, C, path), VR_ATTR_MISSING);
	free(der);
}

static void test_ber_rejected(void **state)
{
	uint8_t *der, *ber;
	size_t len;

	(void)state;
	sign(C, path, F.key, F.good, 0, &der, &len);
	/* Same content, outer SEQUENCE length in non-minimal long form. */
	assert_int_equal(der[0], 0x30);
	assert_int_equal(der[1], 0x82);
	ber = malloc(len + 1);
	ber[0] = 0x30;
	ber[1] = 0x83;
	ber[2] = 0x00;
	memcpy(ber + 3, der + 2, len - 2);
	assert_int_equal(check(ber, len + 1, C, path), VR_SIG_MALFORMED);
	free(ber);
	free(der);
}

static void test_reason_texts(void **state)
{
	(void)state;
	/* Every reason has its own name and text. */
	for (int i = 0; i < VR_COUNT_; i++) {
		assert_non_null(verify_reason_name(i));
		for (int j = 0; j < i; j++) {
			assert_string_not_equal(verify_reason_name(i),
						verify_reason_name(j));
			assert_string_not_equal(verify_reason_str(i),
						verify_reason_str(j));
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),
	    cmocka_unit_test(test_content_flip_and_append),
	    cmocka_unit_test(test_sig_bytes),
	    cmocka_unit_test(test_other_file_and_rename),
	    cmocka_unit_test(test_certs),
	    cmocka_unit_test(test_signer_is_ca),
	    cmocka_unit_test(test_crl_expired),
	    cmocka_unit_test(test_crl_judged_now),
	    cmocka_unit_test(test_signing_time_chain),
	    cmocka_unit_test(test_valid_until),
	    cmocka_unit_test(test_chain_once_per_signer),
	    cmocka_unit_test(test_chain_cache_twins),
	    cmocka_unit_test(test_chain_cache_expiry),
	    cmocka_unit_test(test_chain_cache_revoked_on_reload),
	    cmocka_unit_test(test_chain_cache_trust_dir),
	    cmocka_unit_test(test_pins),
	    cmocka_unit_test(test_tampered_attribute),
	    cmocka_unit_test(test_signature_value_flipped),
	    cmocka_unit_test(test_attributes),
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_version_twins),
	    cmocka_unit_test(test_raw_cms),
	    cmocka_unit_test(test_ber_rejected),
	    cmocka_unit_test(test_reason_texts),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
