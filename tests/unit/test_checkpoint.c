// SPDX-License-Identifier: Apache-2.0
/*
 * Audit checkpoint signatures are a domain of their own: a good one
 * verifies only from a pinned key, and every way to pass something else
 * for one (a file signature, a checkpoint over other bytes, by another key
 * of the same CA, with a path) is refused; a checkpoint is never a file
 * signature either. Keys in memory: tests/integration/cli covers the log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/cms.h>

#include "pki.h"
#include "signetfs/sigbuild.h"
#include "signetfs/verify.h"

static const char content[] = "signetfs-audit-checkpoint-v2\n{\"v\":2}";

struct fx {
	char dir[64];
	char ca_pem[96];
	EVP_PKEY *ca_key, *key, *other_key, *rogue_key;
	X509 *ca, *good, *other, *rogue, *no_eku;
	uint8_t fp_good[32], fp_other[32], fp_rogue[32];
	struct sfs_verifier *v;
};

static struct fx F;

static void fingerprint(X509 *x, uint8_t fp[32])
{
	unsigned int n = 32;

	assert_true(X509_digest(x, EVP_sha256(), fp, &n));
}

static int setup(void **state)
{
	struct pki_cert_opts ca = {.cn = "test CA",
				   .ca = true,
				   .not_before = -3600,
				   .not_after = 86400,
				   .serial = 1};
	struct pki_cert_opts o = {.cn = "log key",
				  .codesign = true,
				  .not_before = -3600,
				  .not_after = 86400,
				  .serial = 10};
	struct sfs_trust_config tc = {0};
	struct sfs_error err = {0};
	EVP_PKEY *rogue_ca_key = pki_key();
	X509 *rogue_ca;

	(void)state;
	snprintf(F.dir, sizeof(F.dir), "/tmp/sfs-cp-XXXXXX");
	if (!mkdtemp(F.dir))
		return -1;
	F.ca_key = pki_key();
	F.key = pki_key();
	F.other_key = pki_key();
	F.rogue_key = pki_key();
	F.ca = pki_cert(&ca, F.ca_key, NULL, NULL);
	F.good = pki_cert(&o, F.key, F.ca, F.ca_key);
	o.cn = "another key of the same CA", o.serial = 11;
	F.other = pki_cert(&o, F.other_key, F.ca, F.ca_key);
	o.cn = "no EKU", o.serial = 12, o.codesign = false;
	F.no_eku = pki_cert(&o, F.key, F.ca, F.ca_key);
	ca.cn = "rogue CA";
	rogue_ca = pki_cert(&ca, rogue_ca_key, NULL, NULL);
	o.cn = "rogue", o.serial = 13, o.codesign = true;
	F.rogue = pki_cert(&o, F.rogue_key, rogue_ca, rogue_ca_key);
	X509_free(rogue_ca);
	EVP_PKEY_free(rogue_ca_key);
	fingerprint(F.good, F.fp_good);
	fingerprint(F.other, F.fp_other);
	fingerprint(F.rogue, F.fp_rogue);
	snprintf(F.ca_pem, sizeof(F.ca_pem), "%s/ca.pem", F.dir);
	pki_write_cert(F.ca_pem, F.ca);
	tc.cafile = F.ca_pem;
	return verifier_new(&tc, &F.v, &err) ? -1 : 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	verifier_free(F.v);
	X509_free(F.ca), X509_free(F.good), X509_free(F.other);
	X509_free(F.rogue), X509_free(F.no_eku);
	EVP_PKEY_free(F.ca_key), EVP_PKEY_free(F.key);
	EVP_PKEY_free(F.other_key), EVP_PKEY_free(F.rogue_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	return system(cmd);
}

static void digest_of(const void *data, size_t len, struct sfs_digest *d)
{
	d->alg = SFS_MD_SHA256;
	d->len = 32;
	sfs_sha256(data, len, d->bytes);
}

/* A checkpoint-type signature over data by (key, cert). */
static void cp_sign(const void *data, size_t len, EVP_PKEY *key, X509 *cert,
		    const ASN1_OBJECT *type, const char *path, uint8_t **der,
		    size_t *dlen)
{
	struct sig_build b = {
	    .key = key,
	    .cert = cert,
	    .content_type = type,
	    .path = path,
	    .path_len = path ? strlen(path) : 0,
	};

	assert_int_equal(sig_build_content_der(&b, data, len, der, dlen), 0);
}

static enum verify_reason cp_check(const uint8_t *der, size_t len,
				   const void *data, size_t dlen,
				   const uint8_t (*pins)[32], size_t n)
{
	struct sfs_digest d;
	struct sig_info info;
	enum verify_reason r;

	digest_of(data, dlen, &d);
	r = verifier_check_checkpoint(F.v, der, len, &d, pins, n, &info);
	sig_info_clear(&info);
	return r;
}

#define C content, sizeof(content) - 1
#define expect(r, want)                                                        \
	assert_string_equal(verify_reason_name(r), verify_reason_name(want))

static void test_good_pinned(void **state)
{
	uint8_t pins[2][32];
	struct sfs_digest d;
	struct sig_info info;
	uint8_t *der;
	size_t len;

	(void)state;
	memcpy(pins[0], F.fp_other, 32);
	memcpy(pins[1], F.fp_good, 32);
	cp_sign(C, F.key, F.good, sig_oid_checkpoint(), NULL, &der, &len);
	digest_of(C, &d);
	expect(verifier_check_checkpoint(F.v, der, len, &d,
					 (const uint8_t(*)[32])pins, 2, &info),
	       VR_OK);
	assert_memory_equal(info.signer_sha256, F.fp_good, 32);
	assert_memory_equal(info.digest.bytes, d.bytes, 32);
	sig_info_clear(&info);
	free(der);
}

/* No pins is no key: the trust store alone never makes a log key. */
static void test_no_pins_refused(void **state)
{
	uint8_t *der;
	size_t len;

	(void)state;
	cp_sign(C, F.key, F.good, sig_oid_checkpoint(), NULL, &der, &len);
	expect(cp_check(der, len, C, NULL, 0), VR_PIN_MISMATCH);
	free(der);
}

/* Another key of the same CA makes a perfect checkpoint: not pinned. */
static void test_other_key_refused(void **state)
{
	const uint8_t(*pins)[32] = (const uint8_t(*)[32])F.fp_good;
	uint8_t *der;
	size_t len;

	(void)state;
	cp_sign(C, F.other_key, F.other, sig_oid_checkpoint(), NULL, &der,
		&len);
	expect(cp_check(der, len, C, pins, 1), VR_PIN_MISMATCH);
	free(der);
}

/* A pin does not lift the chain: a pinned cert must still be trusted. */
static void test_pinned_untrusted_refused(void **state)
{
	const uint8_t(*pins)[32] = (const uint8_t(*)[32])F.fp_rogue;
	uint8_t *der;
	size_t len;

	(void)state;
	cp_sign(C, F.rogue_key, F.rogue, sig_oid_checkpoint(), NULL, &der,
		&len);
	expect(cp_check(der, len, C, pins, 1), VR_UNTRUSTED);
	free(der);
}

/* The seal of 13: one byte of the line changed is another digest. */
static void test_other_bytes_refused(void **state)
{
	const uint8_t(*pins)[32] = (const uint8_t(*)[32])F.fp_good;
	char changed[sizeof(content)];
	uint8_t *der;
	size_t len;

	(void)state;
	memcpy(changed, content, sizeof(content));
	changed[sizeof(content) - 3] ^= 1;
	cp_sign(C, F.key, F.good, sig_oid_checkpoint(), NULL, &der, &len);
	expect(cp_check(der, len, changed, sizeof(changed) - 1, pins, 1),
	       VR_CONTENT_DIGEST);
	der[len - 10] ^= 1; /* the signature value itself */
	expect(cp_check(der, len, C, pins, 1), VR_BAD_SIGNATURE);
	free(der);
}

/* The hole of 14: a file signature (id-data, signetfs-path) is no seal. */
static void test_file_signature_refused(void **state)
{
	const uint8_t(*pins)[32] = (const uint8_t(*)[32])F.fp_good;
	struct sfs_writer w;
	struct sfs_digest d;
	struct sig_build b = {
	    .key = F.key,
	    .cert = F.good,
	    .digest = &d,
	    .path = "signetfs-audit-checkpoint",
	    .path_len = strlen("signetfs-audit-checkpoint"),
	    .writer = &w,
	};
	uint8_t *der;
	size_t len;

	(void)state;
	sfs_writer_self(&w);
	digest_of(C, &d);
	assert_int_equal(sig_build_der(&b, &der, &len), 0);
	expect(cp_check(der, len, C, pins, 1), VR_CONTENT_TYPE);
	free(der);
	/* Over the content, but of type id-data: still not a checkpoint. */
	cp_sign(C, F.key, F.good, NULL, NULL, &der, &len);
	expect(cp_check(der, len, C, pins, 1), VR_CONTENT_TYPE);
	free(der);
}

/* A checkpoint that carries a path (looks like a file) is refused. */
static void test_path_attribute_refused(void **state)
{
	const uint8_t(*pins)[32] = (const uint8_t(*)[32])F.fp_good;
	uint8_t *der;
	size_t len;

	(void)state;
	cp_sign(C, F.key, F.good, sig_oid_checkpoint(), "a", &der, &len);
	expect(cp_check(der, len, C, pins, 1), VR_ATTR_MISSING);
	free(der);
}

static void test_no_codesign_eku_refused(void **state)
{
	uint8_t fp[32];
	uint8_t *der;
	size_t len;

	(void)state;
	fingerprint(F.no_eku, fp);
	cp_sign(C, F.key, F.no_eku, sig_oid_checkpoint(), NULL, &der, &len);
	expect(cp_check(der, len, C, (const uint8_t(*)[32])fp, 1),
	       VR_NO_CODESIGN_EKU);
	free(der);
}

/* And the other way: a file verifier never takes a checkpoint. */
static void test_checkpoint_is_no_file_signature(void **state)
{
	struct verify_policy pol = {NULL, 0, NULL, 0};
	struct sig_info info;
	uint8_t *der;
	size_t len;

	(void)state;
	cp_sign(C, F.key, F.good, sig_oid_checkpoint(), NULL, &der, &len);
	expect(verifier_check_sig(F.v, der, len, &pol, &info), VR_CONTENT_TYPE);
	sig_info_clear(&info);
	free(der);
}

/* Stock parsers see a plain RFC 5652 SignedData: version 3, detached. */
static void test_structure(void **state)
{
	const unsigned char *p;
	CMS_ContentInfo *cms;
	uint8_t *der, *ver;
	size_t len;

	(void)state;
	cp_sign(C, F.key, F.good, sig_oid_checkpoint(), NULL, &der, &len);
	p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	assert_non_null(cms);
	assert_int_equal(
	    OBJ_cmp(CMS_get0_eContentType(cms), sig_oid_checkpoint()), 0);
	assert_null(*CMS_get0_content(cms));
	CMS_ContentInfo_free(cms);
	/* SEQUENCE { id-signedData, [0] { SEQUENCE { INTEGER 3 ... */
	assert_true(len > 32);
	ver = memmem(der, 32, "\x02\x01", 2);
	assert_non_null(ver);
	assert_int_equal(ver[2], 3);
	free(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_pinned),
	    cmocka_unit_test(test_no_pins_refused),
	    cmocka_unit_test(test_other_key_refused),
	    cmocka_unit_test(test_pinned_untrusted_refused),
	    cmocka_unit_test(test_other_bytes_refused),
	    cmocka_unit_test(test_file_signature_refused),
	    cmocka_unit_test(test_path_attribute_refused),
	    cmocka_unit_test(test_no_codesign_eku_refused),
	    cmocka_unit_test(test_checkpoint_is_no_file_signature),
	    cmocka_unit_test(test_structure),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
