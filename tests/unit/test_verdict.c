// SPDX-License-Identifier: Apache-2.0
/*
 * The one verdict (verdict.h): the rule for the path is matched once and
 * its pins and path binding decide; a path too deep for policy is refused
 * before anything else. Each accepted case has a refused twin.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pki.h"
#include "signetfs/config.h"
#include "signetfs/sigbuild.h"
#include "signetfs/verdict.h"

static const char content[] = "release 1.0\n";

struct fx {
	char dir[64];
	EVP_PKEY *ca_key, *key;
	X509 *ca, *good;
	struct sfs_config *cfg;
	struct sfs_verifier *v;
	struct sfs_writer writer;
	char deep[2048]; /* SFS_POLICY_MAX_DEPTH + 1 components */
};

static struct fx F;

static int setup(void **state)
{
	struct pki_cert_opts ca = {.cn = "verdict CA",
				   .ca = true,
				   .not_before = -3600,
				   .not_after = 86400,
				   .serial = 1};
	struct pki_cert_opts o = {.cn = "verdict signer",
				  .codesign = true,
				  .not_before = -3600,
				  .not_after = 86400,
				  .serial = 2};
	struct sfs_error err = {0};
	uint8_t fp[32];
	unsigned int n = 32;
	char p[128], hex[65];
	FILE *f;

	(void)state;
	snprintf(F.dir, sizeof(F.dir), "/tmp/sfs-verdict-XXXXXX");
	if (!mkdtemp(F.dir))
		return -1;
	F.ca_key = pki_key();
	F.key = pki_key();
	F.ca = pki_cert(&ca, F.ca_key, NULL, NULL);
	F.good = pki_cert(&o, F.key, F.ca, F.ca_key);
	snprintf(p, sizeof(p), "%s/ca.pem", F.dir);
	pki_write_cert(p, F.ca);
	X509_digest(F.good, EVP_sha256(), fp, &n);
	sfs_hex(fp, 32, hex);
	snprintf(p, sizeof(p), "%s/test.conf", F.dir);
	f = fopen(p, "w");
	if (!f)
		return -1;
	/* pinned/ pins another signer; pinned/ok/ pins ours. */
	fprintf(f,
		"[signetfs]\ntrust = ca.pem\n\n"
		"[rule pinned/**]\nsigner-sha256 = %064d\n\n"
		"[rule pinned/ok/**]\nsigner-sha256 = %s\n\n"
		"[rule loose/**]\npath-binding = no\n",
		0, hex);
	fclose(f);
	if (config_load(p, &F.cfg, &err) ||
	    verifier_new(&F.cfg->trust, &F.v, &err))
		return -1;
	sfs_writer_self(&F.writer);
	F.deep[0] = '\0';
	for (int i = 0; i < SFS_POLICY_MAX_DEPTH; i++)
		strcat(F.deep, "d/");
	strcat(F.deep, "f");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	verifier_free(F.v);
	config_free(F.cfg);
	X509_free(F.ca), X509_free(F.good);
	EVP_PKEY_free(F.ca_key), EVP_PKEY_free(F.key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	return system(cmd);
}

/* A signature of the content for path p by the good signer. */
static void sign(const char *p, uint8_t **der, size_t *len)
{
	struct sfs_hash *h = sfs_hash_new(SFS_MD_SHA256);
	struct sfs_digest d;
	struct sig_build b = {
	    .key = F.key,
	    .cert = F.good,
	    .digest = &d,
	    .path = p,
	    .path_len = strlen(p),
	    .writer = &F.writer,
	};

	assert_non_null(h);
	assert_int_equal(sfs_hash_update(h, content, sizeof(content) - 1), 0);
	assert_int_equal(sfs_hash_final(h, &d), 0);
	sfs_hash_free(h);
	assert_int_equal(sig_build_der(&b, der, len), 0);
}

static int content_fd(const char *data, size_t len)
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

/* Signed for signed_at, judged as the file at served_at (both parts). */
static const char *judge(const char *signed_at, const char *served_at)
{
	struct verdict_sig sig = {.read = VR_OK};
	struct sig_info info;
	enum verify_reason r, whole;
	uint8_t *der;
	int fd = content_fd(content, sizeof(content) - 1);

	sign(signed_at, &der, &sig.len);
	sig.der = der;
	r = verdict_check_sig(F.cfg, F.v, served_at, &sig, &info);
	sig_info_clear(&info);
	whole = verdict_check_fd(F.cfg, F.v, served_at, &sig, fd, &info);
	sig_info_clear(&info);
	/* The content is the one signed: both parts agree. */
	assert_int_equal(r, whole);
	close(fd);
	free(der);
	return verify_reason_name(r);
}

static void test_global(void **state)
{
	(void)state;
	assert_string_equal(judge("top", "top"), "ok");
	assert_string_equal(judge("top", "other"), "path-mismatch");
	assert_string_equal(judge("a/b/c", "a/b/c"), "ok");
}

static void test_rule_pins(void **state)
{
	(void)state;
	/* The most specific rule decides: pinned/ok/ accepts our signer. */
	assert_string_equal(judge("pinned/ok/x", "pinned/ok/x"), "ok");
	assert_string_equal(judge("pinned/x", "pinned/x"), "signer-not-pinned");
	assert_string_equal(judge("pinned/deeper/x", "pinned/deeper/x"),
			    "signer-not-pinned");
}

static void test_rule_path_binding(void **state)
{
	(void)state;
	/* path-binding = no in loose/: a renamed file still verifies there. */
	assert_string_equal(judge("loose/a", "loose/b"), "ok");
	assert_string_equal(judge("elsewhere/a", "loose/b"), "ok");
	/* Twins: the same rename outside loose/ is refused. */
	assert_string_equal(judge("strict/a", "strict/b"), "path-mismatch");
	assert_string_equal(judge("loose/a", "strict/a"), "path-mismatch");
	/* The binding of pinned/ is the global one. */
	assert_string_equal(judge("pinned/ok/a", "pinned/ok/b"),
			    "path-mismatch");
}

static void test_too_deep(void **state)
{
	struct verdict_sig none = {.read = VR_NO_SIG};
	struct sig_info info;

	(void)state;
	assert_int_equal(policy_depth(F.deep), SFS_POLICY_MAX_DEPTH + 1);
	/* Signed for that very path, and still refused: no rule can judge. */
	assert_string_equal(judge(F.deep, F.deep), "policy-error");
	/* Refused as such before the .sig is looked at. */
	assert_int_equal(verdict_check_sig(F.cfg, F.v, F.deep, &none, &info),
			 VR_POLICY);
	sig_info_clear(&info);
	/* The twin: one component less is judged by the rules. */
	assert_string_equal(judge(F.deep + 2, F.deep + 2), "ok");
}

static void test_sig_read(void **state)
{
	struct verdict_sig sig = {.read = VR_NO_SIG};
	struct sig_info info;

	(void)state;
	assert_int_equal(verdict_check_sig(F.cfg, F.v, "top", &sig, &info),
			 VR_NO_SIG);
	sig.read = VR_SIG_TOO_LARGE;
	assert_int_equal(verdict_check_sig(F.cfg, F.v, "top", &sig, &info),
			 VR_SIG_TOO_LARGE);
	assert_int_equal(verdict_read_reason(0), VR_OK);
	assert_int_equal(verdict_read_reason(-ENOENT), VR_NO_SIG);
	/* A FIFO or device named NAME.sig is no signature. */
	assert_int_equal(verdict_read_reason(-EINVAL), VR_NO_SIG);
	assert_int_equal(verdict_read_reason(-EFBIG), VR_SIG_TOO_LARGE);
	/* No slot can exist for a name of 252-255 bytes: as the inbox. */
	assert_int_equal(verdict_read_reason(-ENAMETOOLONG), VR_NO_SIG);
	assert_int_equal(verdict_read_reason(-EACCES), VR_IO);
}

static void test_content(void **state)
{
	struct verdict_sig sig = {.read = VR_OK};
	struct sig_info info;
	uint8_t *der;
	int fd = content_fd("release 1.1\n", sizeof(content) - 1);

	(void)state;
	sign("top", &der, &sig.len);
	sig.der = der;
	/* The signature part passes; the whole file is refused. */
	assert_int_equal(verdict_check_sig(F.cfg, F.v, "top", &sig, &info),
			 VR_OK);
	sig_info_clear(&info);
	assert_int_equal(verdict_check_fd(F.cfg, F.v, "top", &sig, fd, &info),
			 VR_CONTENT_DIGEST);
	sig_info_clear(&info);
	close(fd);
	free(der);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_global),
	    cmocka_unit_test(test_rule_pins),
	    cmocka_unit_test(test_rule_path_binding),
	    cmocka_unit_test(test_too_deep),
	    cmocka_unit_test(test_sig_read),
	    cmocka_unit_test(test_content),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
