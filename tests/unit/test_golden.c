// SPDX-License-Identifier: Apache-2.0
/*
 * Golden signatures of every released format version must verify forever
 * (validity checked at signing time, since their certificates expire), and
 * their forgery twins must not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "signetfs/verify.h"

/* Directory, and the signetfs-version its signature carries (0: none). */
static const struct {
	const char *dir;
	uint64_t file_version;
} versions[] = {{"v1", 0}, {"v1-version", 2}};

/*
 * The twins of a golden (twins/twins.txt: NAME REASON per line), each
 * refused for its own reason: one a lax parser let through would come
 * out as bad-signature or ok instead.
 */
static void check_twins(struct sfs_verifier *ver, const char *dir, int fd)
{
	char list[700], name[64], reason[64], sig[800];
	const struct verify_policy pol = {"dir/hello.txt", 13, NULL, 0};
	struct sig_info info;
	uint8_t *der = NULL;
	size_t len;
	int n = 0;
	FILE *f;

	snprintf(list, sizeof(list), "%s/twins/twins.txt", dir);
	f = fopen(list, "r");
	if (!f)
		return; /* this golden has none */
	while (fscanf(f, "%63s %63s", name, reason) == 2) {
		snprintf(sig, sizeof(sig), "%s/twins/%s.sig", dir, name);
		assert_int_equal(
		    sfs_read_file_at(AT_FDCWD, sig, SFS_SIG_MAX, &der, &len),
		    0);
		const char *got = verify_reason_name(
		    verifier_check_fd(ver, der, len, &pol, fd, &info));
		if (strcmp(got, reason))
			fail_msg("twin %s: %s, want %s", name, got, reason);
		sig_info_clear(&info);
		free(der);
		n++;
	}
	fclose(f);
	assert_true(n >= 10);
}

static void check_version(const char *v, uint64_t file_version)
{
	char dir[512], ca[600];
	struct sfs_trust_config tc = {.cafile = ca, .at_signing_time = true};
	struct sfs_verifier *ver = NULL;
	struct sfs_error err = {0};
	struct verify_policy pol = {"dir/hello.txt", 13, NULL, 0};
	struct sig_info info;
	uint8_t *der = NULL, *content = NULL;
	size_t len, clen;
	int dfd, fd;

	snprintf(dir, sizeof(dir), "%s/tests/data/golden/%s", SFS_SRC, v);
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	assert_int_equal(verifier_new(&tc, &ver, &err), 0);
	strcat(dir, "/tree");
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(
	    sfs_read_file_at(dfd, "dir/hello.txt.sig", SFS_SIG_MAX, &der, &len),
	    0);
	fd = openat(dfd, "dir/hello.txt", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(verifier_check_fd(ver, der, len, &pol, fd, &info),
			 VR_OK);
	assert_string_equal(info.path, "dir/hello.txt");
	assert_true(info.file_version == file_version);
	sig_info_clear(&info);
	dir[strlen(dir) - strlen("/tree")] = '\0';
	check_twins(ver, dir, fd);

	/* Twins: another path, altered content. */
	pol.expected_path = "dir/hello.txu";
	assert_int_equal(verifier_check_fd(ver, der, len, &pol, fd, &info),
			 VR_PATH_MISMATCH);
	sig_info_clear(&info);
	pol.expected_path = "dir/hello.txt";
	assert_int_equal(
	    sfs_read_file_at(dfd, "dir/hello.txt", 4096, &content, &clen), 0);
	content[0] ^= 1;
	close(fd);
	fd = memfd_create("altered", 0);
	assert_int_equal(write(fd, content, clen), (ssize_t)clen);
	assert_int_equal(verifier_check_fd(ver, der, len, &pol, fd, &info),
			 VR_CONTENT_DIGEST);
	sig_info_clear(&info);
	close(fd);
	close(dfd);
	free(der);
	free(content);
	verifier_free(ver);
}

static void test_golden(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++)
		check_version(versions[i].dir, versions[i].file_version);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_golden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
