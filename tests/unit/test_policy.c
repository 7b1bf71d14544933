// SPDX-License-Identifier: Apache-2.0
/* Per-subtree rules: globbing, most-specific-wins, writers, pins. */
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
#include "signetfs/policy.h"

static void test_glob(void **state)
{
	(void)state;
	assert_true(policy_glob("firmware/**", "firmware/a.bin"));
	assert_true(policy_glob("firmware/**", "firmware/x/y/z"));
	/* A trailing ** is what is inside, not the directory itself. */
	assert_false(policy_glob("firmware/**", "firmware"));
	assert_true(policy_glob("**", "a"));
	assert_false(policy_glob("**", ""));
	assert_false(policy_glob("firmware/**", "firmwarex/a"));
	assert_false(policy_glob("firmware/**", "docs/firmware/a"));
	assert_true(policy_glob("**/*.deb", "pool/main/a.deb"));
	assert_true(policy_glob("**/*.deb", "a.deb"));
	assert_false(policy_glob("**/*.deb", "pool/a.deb.sig"));
	assert_true(policy_glob("docs/*.md", "docs/readme.md"));
	assert_false(policy_glob("docs/*.md", "docs/sub/readme.md"));
	assert_true(policy_glob("a/?/c", "a/b/c"));
	assert_false(policy_glob("a/?/c", "a/bb/c"));
	assert_true(policy_glob("a/**/c", "a/c"));
	assert_true(policy_glob("a/**/c", "a/x/y/c"));
	assert_false(policy_glob("a/**/c", "a/x/y/d"));
	assert_true(policy_glob("[fF]irmware/**", "Firmware/x"));
	/* '*' never crosses a '/', so a single star is one level. */
	assert_false(policy_glob("*", "a/b"));
	assert_true(policy_glob("a/**/**/c", "a/c"));
	assert_true(policy_glob("**/x/**", "a/b/x/y"));
	assert_false(policy_glob("**/x/**", "a/b/x"));
}

static struct sfs_config *load(const char *text)
{
	char path[] = "/tmp/sfs-policy-XXXXXX";
	struct sfs_config *c = NULL;
	struct sfs_error err = {0};
	FILE *f;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	if (config_load(path, &c, &err) != 0)
		print_error("config: %s\n", err.msg);
	unlink(path);
	return c;
}

static const char conf[] =
    "[signetfs]\nkey = pkcs11:token=t;object=a\ncert = a.pem\n"
    "[outbox]\nwriters-uid = 1000\n"
    "[inbox]\nsigner-sha256 = "
    "aa"
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
    "[rule firmware/**]\nkey = pkcs11:token=t;object=fw\n"
    "writers-gid = 27 root\n"
    "signer-sha256 = "
    "bb"
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n"
    "[rule \"firmware/public/**\"]\nwriters-uid = *\npath-binding = no\n"
    "[rule docs/**]\nwriters-uid = *\n"
    "[rule **/*.md]\nwriters-uid = 4242\n";

/* A path of n components "d/d/.../f" (malloc'd). */
static char *deep_path(size_t n)
{
	char *p = malloc(2 * n + 1), *q = p;

	assert_non_null(p);
	for (size_t i = 0; i < n; i++) {
		*q++ = i + 1 == n ? 'f' : 'd';
		*q++ = '/';
	}
	q[-1] = '\0';
	return p;
}

/*
 * A path deeper than the matcher evaluates is an error, never "no rule":
 * before, policy_glob() said "no match" and the global settings (writers,
 * key, pins) applied to it.
 */
static void test_depth_limit(void **state)
{
	struct sfs_config *c = load(conf);
	const struct sfs_rule *r = (const void *)1;
	char *ok = deep_path(SFS_POLICY_MAX_DEPTH);
	char *deep = deep_path(SFS_POLICY_MAX_DEPTH + 1);

	(void)state;
	assert_int_equal(policy_depth(ok), SFS_POLICY_MAX_DEPTH);
	assert_int_equal(policy_glob("**", ok), 1);
	assert_int_equal(policy_glob("**", deep), -ENAMETOOLONG);
	assert_int_equal(policy_glob("d/**", deep), -ENAMETOOLONG);
	assert_int_equal(policy_match(c, ok, &r), 0);
	assert_null(r);
	assert_int_equal(policy_match(c, deep, &r), -ENAMETOOLONG);
	/* no rules at all: the depth still matters */
	config_free(c);
	c = load("[signetfs]\n");
	assert_int_equal(policy_match(c, deep, &r), -ENAMETOOLONG);
	assert_int_equal(policy_match(c, ok, &r), 0);
	config_free(c);
	free(ok);
	free(deep);
}

/* Twelve "**" over 256 components answer at once (no backtracking). */
static void test_glob_no_backtracking(void **state)
{
	char *deep = deep_path(SFS_POLICY_MAX_DEPTH);

	(void)state;
	assert_int_equal(
	    policy_glob("**/**/**/**/**/**/**/**/**/**/**/**/x", deep), 0);
	assert_int_equal(
	    policy_glob("**/**/**/**/**/**/**/**/**/**/**/**/f", deep), 1);
	free(deep);
}

static void test_match(void **state)
{
	struct sfs_config *c = load(conf);
	const struct sfs_rule *r;

	(void)state;
	assert_non_null(c);
	assert_int_equal(c->n_rules, 4);
#define MATCH(path) (assert_int_equal(policy_match(c, path, &r), 0), r)
	r = MATCH("firmware/a.bin");
	assert_string_equal(r->pattern, "firmware/**");
	assert_string_equal(r->key.key_uri, "pkcs11:token=t;object=fw");
	r = MATCH("firmware/public/x");
	assert_string_equal(r->pattern, "firmware/public/**");
	/* The docs rule has 5 literal characters, the .md rule 4: docs wins. */
	r = MATCH("docs/readme.md");
	assert_string_equal(r->pattern, "docs/**");
	r = MATCH("other/readme.md");
	assert_string_equal(r->pattern, "**/*.md");
	assert_null(MATCH("other/file"));
	/* "firmware/ **" is not the directory firmware itself */
	assert_null(MATCH("firmware"));
	config_free(c);
}

static void test_tie_later_wins(void **state)
{
	struct sfs_config *c = load("[rule a/*]\nwriters-uid = 1\n"
				    "[rule */b]\nwriters-uid = 2\n");

	(void)state;
	const struct sfs_rule *r;

	assert_int_equal(policy_match(c, "a/b", &r), 0);
	assert_string_equal(r->pattern, "*/b");
	config_free(c);
}

static bool may_write(const struct sfs_config *c, const char *path, uid_t u,
		      gid_t g, const gid_t *groups, int n, uid_t owner)
{
	const struct sfs_rule *r;

	assert_int_equal(policy_match(c, path, &r), 0);
	return policy_may_write(c, r, u, g, groups, n, owner);
}

static void test_writers(void **state)
{
	struct sfs_config *c = load(conf);
	gid_t g27 = 27;

	(void)state;
	/* firmware/: gid 27 or root's group 0, nobody else. */
	assert_true(may_write(c, "firmware/a", 5000, 27, NULL, 0, 1));
	assert_true(may_write(c, "firmware/a", 5000, 100, &g27, 1, 1));
	assert_true(may_write(c, "firmware/a", 0, 0, NULL, 0, 1));
	assert_false(may_write(c, "firmware/a", 1000, 100, NULL, 0, 1));
	/* firmware/public/: anyone. */
	assert_true(may_write(c, "firmware/public/a", 5, 5, NULL, 0, 1));
	/* Elsewhere: [outbox] writers-uid = 1000 only (not even root). */
	assert_true(may_write(c, "x", 1000, 100, NULL, 0, 1));
	assert_false(may_write(c, "x", 0, 0, NULL, 0, 1));
	config_free(c);

	/*
	 * A rule that sets writers-gid only defines its writers alone: the
	 * global writers-uid does not apply there (docs/policy.md).
	 */
	c = load(
	    "[outbox]\nwriters-uid = 1000\n[rule fw/**]\nwriters-gid = 27\n");
	assert_false(may_write(c, "fw/a", 1000, 100, NULL, 0, 1));
	assert_true(may_write(c, "fw/a", 5, 27, NULL, 0, 1));
	assert_true(may_write(c, "x", 1000, 100, NULL, 0, 1));
	assert_true(policy_uses_groups(c));
	config_free(c);
	c = load("[rule fw/**]\nwriters-uid = 5\n");
	assert_false(policy_uses_groups(c));
	config_free(c);

	/* No writers configured: the mounting user and root. */
	c = load("[signetfs]\n");
	assert_true(may_write(c, "x", 1234, 1, NULL, 0, 1234));
	assert_true(may_write(c, "x", 0, 0, NULL, 0, 1234));
	assert_false(may_write(c, "x", 1235, 1, NULL, 0, 1234));
	config_free(c);
}

static void test_pins_and_binding(void **state)
{
	struct sfs_config *c = load(conf);
	const uint8_t(*pins)[32];
	size_t n;

	(void)state;
	const struct sfs_rule *fw, *pub, *docs;

	assert_int_equal(policy_match(c, "firmware/x", &fw), 0);
	assert_int_equal(policy_match(c, "firmware/public/x", &pub), 0);
	assert_int_equal(policy_match(c, "docs/x", &docs), 0);
	policy_pins(c, fw, &pins, &n);
	assert_int_equal(n, 1);
	assert_int_equal(pins[0][0], 0xbb);
	policy_pins(c, pub, &pins, &n);
	assert_int_equal(pins[0][0], 0xaa);
	policy_pins(c, docs, &pins, &n);
	assert_int_equal(pins[0][0], 0xaa);
	assert_true(policy_path_binding(c, fw));
	assert_false(policy_path_binding(c, pub));
	config_free(c);
}

/* tsa-* in [signetfs] and per [rule]: a rule overrides what it sets. */
static void test_tsa_keys(void **state)
{
	struct sfs_config *c = load(
	    "[signetfs]\ntsa-url = http://tsa.example/\ntsa-trust = /g.pem\n"
	    "tsa-timeout = 5\n"
	    "[rule firmware/**]\ntsa-trust = /fw.pem\ntsa-policy = 1.2.3.4\n"
	    "[rule vendor/**]\ntsa-url = https://other.example/ts\n"
	    "tsa-parallel = 2\n");
	const struct sfs_rule *fw, *ven, *none;
	struct sfs_tsa_config t;

	(void)state;
	assert_non_null(c);
	assert_int_equal(policy_match(c, "firmware/x", &fw), 0);
	assert_int_equal(policy_match(c, "vendor/x", &ven), 0);
	assert_int_equal(policy_match(c, "docs/x", &none), 0);
	assert_null(none);
	policy_tsa(c, none, &t);
	assert_string_equal(t.url, "http://tsa.example/");
	assert_string_equal(t.trust, "/g.pem");
	assert_null(t.policy);
	assert_int_equal(t.timeout_ms, 5000);
	policy_tsa(c, fw, &t);
	assert_string_equal(t.url, "http://tsa.example/");
	assert_string_equal(t.trust, "/fw.pem");
	assert_string_equal(t.policy, "1.2.3.4");
	assert_int_equal(t.timeout_ms, 5000);
	policy_tsa(c, ven, &t);
	assert_string_equal(t.url, "https://other.example/ts");
	assert_string_equal(t.trust, "/g.pem");
	assert_null(t.policy);
	assert_int_equal(t.parallel, 2);
	config_free(c);
	/* Refused where they are read, globally and in a rule alike. */
	static const char *const bad[] = {
	    "tsa-url = ftp://tsa.example/",
	    "tsa-url = tsa.example",
	    "tsa-policy = abc",
	    "tsa-policy = 12",
	    "tsa-timeout = 0",
	    "tsa-timeout = 121",
	    "tsa-parallel = 0",
	    "tsa-parallel = 65",
	};
	char text[128];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[signetfs]\n%s\n", bad[i]);
		assert_null(load(text));
		snprintf(text, sizeof(text), "[rule a/**]\n%s\n", bad[i]);
		assert_null(load(text));
	}
}

static void test_bad_rules(void **state)
{
	(void)state;
	assert_null(load("[rule a/**]\nwriters-gid = no-such-group-xyz\n"));
	assert_null(load("[rule a/**]\nbogus = 1\n"));
	assert_null(load("[rule /abs/**]\nwriters-uid = 1\n"));
	assert_null(load("[rule a/**]\nsigner-sha256 = 12\n"));
	assert_null(load("[outbox]\nwriters-uid = no-such-user-xyz\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_glob),
	    cmocka_unit_test(test_depth_limit),
	    cmocka_unit_test(test_glob_no_backtracking),
	    cmocka_unit_test(test_match),
	    cmocka_unit_test(test_tie_later_wins),
	    cmocka_unit_test(test_writers),
	    cmocka_unit_test(test_pins_and_binding),
	    cmocka_unit_test(test_tsa_keys),
	    cmocka_unit_test(test_bad_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
