// SPDX-License-Identifier: Apache-2.0
/* signetfs.conf parsing: values, relative paths, and rejected input. */
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

#include "signetfs/config.h"
#include "signetfs/util.h"

static char *write_conf(const char *text)
{
	static char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/sfs-conf-XXXXXX");
	close(mkstemp(path));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_good(void **state)
{
	struct sfs_config *c = NULL;
	struct sfs_error err = {0};
	char *p = write_conf(
	    "[signetfs]\nmodule = /usr/lib/softhsm/libsofthsm2.so\n"
	    "key = pkcs11:token=t;object=k\npin-file = pin\n"
	    "cert = signer.pem\ntrust = /etc/ca.pem\ndigest = sha384\n"
	    "[outbox]\nwriters-uid = 0, 1000\nwriters-gid = 27\n"
	    "sign-nonzero-exit = no\n"
	    "[inbox]\nmode = audit\npage-cache-fill = no\nsigner-sha256 = "
	    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	    "\n");

	(void)state;
	assert_int_equal(config_load(p, &c, &err), 0);
	assert_string_equal(c->key.module, "/usr/lib/softhsm/libsofthsm2.so");
	assert_string_equal(c->key.pin_file, "/tmp/pin");
	assert_string_equal(c->key.cert, "/tmp/signer.pem");
	assert_string_equal(c->trust.cafile, "/etc/ca.pem");
	assert_int_equal(c->key.md, SFS_MD_SHA384);
	assert_int_equal(c->n_writer_uids, 2);
	assert_int_equal(c->writer_uids[1], 1000);
	assert_int_equal(c->writer_gids[0], 27);
	assert_false(c->sign_nonzero_exit);
	assert_int_equal(c->mode, SFS_MODE_AUDIT);
	assert_int_equal(c->n_pins, 1);
	assert_int_equal(c->pins[0][31], 0xff);
	assert_true(c->path_binding);
	assert_false(c->page_cache_fill);
	config_free(c);
	unlink(p);
}

static void expect_bad(const char *text, const char *msg_part)
{
	struct sfs_config *c = NULL;
	struct sfs_error err = {0};
	char *p = write_conf(text);

	assert_int_not_equal(config_load(p, &c, &err), 0);
	assert_null(c);
	assert_int_equal(err.exit, SFS_EXIT_USAGE);
	assert_non_null(strstr(err.msg, msg_part));
	unlink(p);
}

static void test_bad(void **state)
{
	(void)state;
	expect_bad("[signetfs]\nbogus = 1\n", "unknown key");
	expect_bad("[signetfs]\ndigest = md5\n", "invalid value");
	expect_bad("[outbox]\nwriters-uid = 12x\n", "unknown user 12x");
	expect_bad("[outbox]\nwriters-gid = builders-xyz\n",
		   "unknown group builders-xyz");
	expect_bad("[inbox]\nsigner-sha256 = abcd\n", "invalid value");
	expect_bad("[inbox]\nmode = lax\n", "invalid value");
	expect_bad("[inbox]\npage-cache-fill = maybe\n", "invalid value");
	/* sig-suffix: a '.' and 1 to 7 of [A-Za-z0-9_-], nothing else. */
	expect_bad("[inbox]\nsig-suffix = .\n", "1 to 7");
	expect_bad("[inbox]\nsig-suffix = sig\n", "1 to 7");
	expect_bad("[inbox]\nsig-suffix = .abcdefgh\n", "1 to 7");
	expect_bad("[inbox]\nsig-suffix = .a/b\n", "1 to 7");
	expect_bad("[inbox]\nsig-suffix = .a.b\n", "1 to 7");
	expect_bad("[nosuch]\na = b\n", "unknown key");
	expect_bad("[signetfs\nmodule = x\n", "line");
}

static void test_defaults(void **state)
{
	struct sfs_config *c = NULL;
	struct sfs_error err = {0};
	char *p = write_conf("[inbox]\nmode = strict\n");

	(void)state;
	assert_int_equal(config_load(p, &c, &err), 0);
	assert_true(c->path_binding);
	assert_true(c->page_cache_fill);
	assert_int_equal(c->mode, SFS_MODE_STRICT);
	assert_string_equal(c->sig_suffix, ".sig");
	config_free(c);
	unlink(p);
	/* The twins of test_bad's sig-suffix: the longest, every class. */
	p = write_conf("[inbox]\nsig-suffix = .P7s_-09\n");
	assert_int_equal(config_load(p, &c, &err), 0);
	assert_string_equal(c->sig_suffix, ".P7s_-09");
	config_free(c);
	unlink(p);
}

static void test_missing(void **state)
{
	struct sfs_config *c = NULL;
	struct sfs_error err = {0};

	(void)state;
	assert_int_equal(config_load("/nonexistent/x.conf", &c, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "/nonexistent/x.conf"));
}

static void put(const char *dir, const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void epoch(const char *dir, uint8_t out[32])
{
	struct sfs_config *c = NULL;
	struct sfs_error err = {0};
	char path[128];

	snprintf(path, sizeof(path), "%s/signetfs.conf", dir);
	assert_int_equal(config_load(path, &c, &err), 0);
	assert_int_equal(config_trust_digest(c, out), 0);
	config_free(c);
}

/*
 * The trust epoch (a kept verdict holds only under the same one) moves
 * with every file a verdict rests on: the trust store, the CRL and the
 * TSA's anchors, global or a rule's. Twin: nothing changed, same epoch.
 */
static void test_trust_epoch(void **state)
{
	static const char *files[] = {"ca.pem", "crl.pem", "tsa.pem",
				      "fw-tsa.pem"};
	char dir[] = "/tmp/sfs-epoch-XXXXXX";
	uint8_t a[32], b[32];

	(void)state;
	assert_non_null(mkdtemp(dir));
	put(dir, "signetfs.conf",
	    "[signetfs]\ntrust = ca.pem\ncrl = crl.pem\n"
	    "tsa-url = http://127.0.0.1:9/\ntsa-trust = tsa.pem\n"
	    "[rule fw/**]\ntsa-trust = fw-tsa.pem\n");
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		put(dir, files[i], "one\n");
	epoch(dir, a);
	epoch(dir, b);
	assert_memory_equal(a, b, 32);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		put(dir, files[i], "two\n");
		epoch(dir, b);
		assert_memory_not_equal(a, b, 32);
		put(dir, files[i], "one\n");
		epoch(dir, b);
		assert_memory_equal(a, b, 32);
	}
	for (size_t i = 0; i <= ARRAY_SIZE(files); i++) {
		char path[128];

		snprintf(path, sizeof(path), "%s/%s", dir,
			 i < ARRAY_SIZE(files) ? files[i] : "signetfs.conf");
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good),	cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_defaults),	cmocka_unit_test(test_missing),
	    cmocka_unit_test(test_trust_epoch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
