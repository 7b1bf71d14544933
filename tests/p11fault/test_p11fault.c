// SPDX-License-Identifier: Apache-2.0
/* Each injected PKCS#11 fault fails signer_sign clearly; clearing it recovers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "signetfs/config.h"
#include "signetfs/digest.h"
#include "signetfs/sigfmt.h"
#include "signetfs/signer.h"
#include "signetfs/verify.h"

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"
/* Longer than hsm.c's back-off after a failed recovery (250 ms). */
#define RECOVER_DEADLINE_MS 3000

struct fx {
	char dir[64];
	char control[128];
	char log[128];
	struct sfs_config *cfg;
	struct sfs_signer *signer;
	struct sfs_verifier *verifier;
	struct sfs_writer writer;
};

static struct fx fx;

static long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/* Write the control file by rename: a new inode re-arms count= too. */
static void faults(const char *text)
{
	char tmp[160];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", fx.control);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(tmp, fx.control), 0);
}

static void faults_clear(void)
{
	assert_true(unlink(fx.control) == 0 || errno == ENOENT);
}

static int injected(void)
{
	char line[256];
	int n = 0;
	FILE *f = fopen(fx.log, "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n++;
	fclose(f);
	return n;
}

/* Sign a fixed content under PATH; verify the result when it succeeds. */
static int sign_one(const char *path, struct sfs_error *err)
{
	struct sfs_digest d = {.alg = SFS_MD_SHA256, .len = 32};
	struct verify_policy pol = {
	    .expected_path = path,
	    .expected_path_len = strlen(path),
	};
	struct sig_info info = {0};
	uint8_t *der = NULL;
	size_t len = 0;
	int ret;

	sfs_sha256(path, strlen(path), d.bytes);
	memset(err, 0, sizeof(*err));
	ret = signer_sign(fx.signer, &d, path, strlen(path), &fx.writer, &der,
			  &len, err);
	if (ret) {
		assert_null(der);
		return ret;
	}
	assert_int_equal(verifier_check_sig(fx.verifier, der, len, &pol, &info),
			 VR_OK);
	assert_memory_equal(info.digest.bytes, d.bytes, 32);
	sig_info_clear(&info);
	free(der);
	return 0;
}

/*
 * After the fault is cleared the same signer must sign again, without a
 * restart. A failed recovery backs off for a while, so allow a deadline.
 */
static void expect_recovery(const char *path)
{
	long deadline = now_ms() + RECOVER_DEADLINE_MS;
	struct sfs_error err;
	int ret;

	faults_clear();
	while ((ret = sign_one(path, &err)) != 0 && now_ms() < deadline)
		usleep(20 * 1000);
	if (ret)
		fail_msg("no recovery after the fault cleared: %s", err.msg);
}

/* CONTROL makes the next signature fail with a message containing WANT. */
static void expect_fault(const char *control, const char *want)
{
	struct sfs_error err;
	int before = injected(), ret;

	faults(control);
	ret = sign_one("dir/faulted", &err);
	if (ret == 0)
		fail_msg("signed despite '%s'", control);
	assert_true(ret < 0);
	assert_true(err.msg[0] != '\0');
	if (!strcasestr(err.msg, want))
		fail_msg("for '%s' the message '%s' lacks '%s'", control,
			 err.msg, want);
	assert_true(injected() > before);
	expect_recovery("dir/recovered");
}

static int setup(void **state)
{
	const char *exe = getenv("SIGNETFS"), *mod = getenv("P11FAULT");
	struct sfs_error err = {0};
	char cmd[512], conf[128];

	(void)state;
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/sfs-p11fault-XXXXXX");
	assert_non_null(mkdtemp(fx.dir));
	snprintf(cmd, sizeof(cmd), "'%s' init '%s/k' >'%s/init.log' 2>&1", exe,
		 fx.dir, fx.dir);
	assert_int_equal(system(cmd), 0);
	snprintf(fx.control, sizeof(fx.control), "%s/faults", fx.dir);
	snprintf(fx.log, sizeof(fx.log), "%s/faults.log", fx.dir);
	setenv("P11FAULT_MODULE", SOFTHSM, 1);
	setenv("P11FAULT_CONTROL", fx.control, 1);
	setenv("P11FAULT_LOG", fx.log, 1);
	snprintf(conf, sizeof(conf), "%s/k/signetfs.conf", fx.dir);
	if (config_load(conf, &fx.cfg, &err))
		fail_msg("config: %s", err.msg);
	free(fx.cfg->key.module);
	fx.cfg->key.module = strdup(mod);
	if (signer_open(&fx.cfg->key, &fx.signer, &err))
		fail_msg("signer_open through p11fault: %s", err.msg);
	if (verifier_new(&fx.cfg->trust, &fx.verifier, &err))
		fail_msg("verifier: %s", err.msg);
	sfs_writer_self(&fx.writer);
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	signer_close(fx.signer);
	verifier_free(fx.verifier);
	config_free(fx.cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx.dir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

static void test_passthrough(void **state)
{
	struct sfs_error err;

	(void)state;
	faults_clear();
	assert_int_equal(sign_one("a/b/c", &err), 0);
	faults("");
	assert_int_equal(sign_one("a/b/c", &err), 0);
	faults("# only a comment\n\n");
	assert_int_equal(sign_one("a/b/c", &err), 0);
	assert_int_equal(injected(), 0);
}

static void test_sign_device_removed(void **state)
{
	(void)state;
	expect_fault("C_Sign=CKR_DEVICE_REMOVED\n", "not present");
}

static void test_signinit_session_invalid(void **state)
{
	(void)state;
	expect_fault("C_SignInit=CKR_SESSION_HANDLE_INVALID\n",
		     "session handle invalid");
}

static void test_sign_general_error(void **state)
{
	(void)state;
	expect_fault("C_Sign=CKR_GENERAL_ERROR\n", "general error");
}

static void test_all_general_error(void **state)
{
	(void)state;
	expect_fault("*=CKR_GENERAL_ERROR\n", "general error");
}

static void test_sign_numeric_rv(void **state)
{
	(void)state;
	/* CKR_DEVICE_ERROR, given as a number. */
	expect_fault("C_Sign=0x30\n", "device error");
}

/*
 * Sessions and login are only touched when the token state is rebuilt,
 * so break the signature first: the recovery then meets the fault.
 */
static void test_opensession_token_not_present(void **state)
{
	struct sfs_error err;

	(void)state;
	/* libp11 0.4.12 hangs when C_OpenSession fails; hsm.c must not. */
	alarm(60);
	faults("C_Sign=CKR_DEVICE_REMOVED\n"
	       "C_OpenSession=CKR_TOKEN_NOT_PRESENT\n"
	       "C_GetSlotList=CKR_TOKEN_NOT_PRESENT\n");
	assert_int_not_equal(sign_one("x", &err), 0);
	faults("C_OpenSession=CKR_TOKEN_NOT_PRESENT\n");
	assert_int_not_equal(sign_one("x", &err), 0);
	if (!strcasestr(err.msg, "not present"))
		fail_msg("message '%s' lacks 'not present'", err.msg);
	expect_recovery("dir/after-open-session");
	alarm(0);
}

static void test_login_pin_incorrect(void **state)
{
	struct sfs_error err;

	(void)state;
	faults("C_Sign=CKR_DEVICE_REMOVED\n");
	assert_int_not_equal(sign_one("x", &err), 0);
	faults("C_Login=CKR_PIN_INCORRECT\n");
	assert_int_not_equal(sign_one("x", &err), 0);
	if (!strcasestr(err.msg, "wrong PIN"))
		fail_msg("message '%s' lacks 'wrong PIN'", err.msg);
	expect_recovery("dir/after-login");
}

static void test_count(void **state)
{
	struct sfs_error err;

	(void)state;
	faults("count=1\nC_Sign=CKR_DEVICE_REMOVED\n");
	assert_int_not_equal(sign_one("once", &err), 0);
	/* The fault is spent: recovery and the next signature work. */
	assert_int_equal(sign_one("once", &err), 0);
	assert_int_equal(sign_one("once", &err), 0);
	faults_clear();
}

static void test_delay(void **state)
{
	struct sfs_error err;
	long t0;

	(void)state;
	faults("C_Sign.delay_ms=200\n");
	t0 = now_ms();
	assert_int_equal(sign_one("slow", &err), 0);
	assert_true(now_ms() - t0 >= 200);
	faults("delay_ms=150\nC_Sign=CKR_DEVICE_REMOVED\n");
	t0 = now_ms();
	assert_int_not_equal(sign_one("slow", &err), 0);
	assert_true(now_ms() - t0 >= 150);
	expect_recovery("slow");
}

struct worker {
	int ok, failed;
};

static void *sign_loop(void *arg)
{
	struct worker *w = arg;
	struct sfs_error err;

	for (int i = 0; i < 40; i++) {
		if (sign_one("threads/f", &err) == 0)
			w->ok++;
		else
			w->failed++;
	}
	return NULL;
}

/*
 * Four threads sign while count=5 C_Sign faults fire: no more failures
 * than faults (each fault fails one signature; signatures in flight on
 * other sessions and the recovery itself are unaffected), and everything
 * that signed verified.
 */
static void test_threads(void **state)
{
	struct worker w[4] = {{0}};
	pthread_t t[4];
	int ok = 0, failed = 0, before;

	(void)state;
	before = injected();
	faults("count=5\nC_Sign=CKR_DEVICE_REMOVED\n");
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, sign_loop, &w[i]),
				 0);
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		ok += w[i].ok;
		failed += w[i].failed;
	}
	print_message("threads: %d signed, %d failed, %d faults injected\n", ok,
		      failed, injected() - before);
	assert_int_equal(injected() - before, 5);
	assert_true(failed >= 1);
	assert_true(ok + failed == 160);
	expect_recovery("threads/after");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_passthrough),
	    cmocka_unit_test(test_sign_device_removed),
	    cmocka_unit_test(test_signinit_session_invalid),
	    cmocka_unit_test(test_sign_general_error),
	    cmocka_unit_test(test_all_general_error),
	    cmocka_unit_test(test_sign_numeric_rv),
	    cmocka_unit_test(test_opensession_token_not_present),
	    cmocka_unit_test(test_login_pin_incorrect),
	    cmocka_unit_test(test_count),
	    cmocka_unit_test(test_delay),
	    cmocka_unit_test(test_threads),
	};

	if (access(SOFTHSM, R_OK) != 0 || !getenv("SIGNETFS") ||
	    !getenv("P11FAULT")) {
		fprintf(stderr, "SKIP: SoftHSM or the test environment is "
				"absent\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
