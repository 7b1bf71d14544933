// SPDX-License-Identifier: Apache-2.0
/* The hsm layer and `signetfs init`, each test on its own SoftHSM token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "signetfs/config.h"
#include "signetfs/digest.h"
#include "signetfs/hsm.h"
#include "signetfs/log.h"
#include "signetfs/signer.h"
#include "signetfs/verify.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define KEY_URI "pkcs11:token=signetfs;object=signing-key;type=private"

struct fx {
	char root[64]; /* mkdtemp */
	char dir[128]; /* root/t, made by signetfs init */
	char pin[160];
	char softhsm[160];
};

static const char *signetfs_exe;
/*
 * Handles a test left open when an assert failed: teardown closes them,
 * or the module would stay loaded with that test's SoftHSM config.
 */
static struct hsm *live[4];
static struct sfs_signer *live_signers[4];

/* ---- helpers ----------------------------------------------------------- */

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Run signetfs with ARGV; stdout and stderr end up in out. */
static int run(const char *const argv[], char *out, size_t outlen)
{
	int pfd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		execv(signetfs_exe, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	while ((n = read(pfd[0], out + got, outlen - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int init_dir(const char *dir, const char *opt1, const char *opt2,
		    const char *opt3, char *out, size_t outlen)
{
	const char *argv[] = {"signetfs", "init", dir, opt1, opt2, opt3, NULL};

	return run(argv, out, outlen);
}

static int rm_entry(const char *p, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char out[4096];

	assert_non_null(f);
	strcpy(f->root, "/tmp/sfs-hsm-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	snprintf(f->dir, sizeof(f->dir), "%s/t", f->root);
	snprintf(f->pin, sizeof(f->pin), "%s/pin", f->dir);
	snprintf(f->softhsm, sizeof(f->softhsm), "%s/softhsm2.conf", f->dir);
	if (init_dir(f->dir, NULL, NULL, NULL, out, sizeof(out)) != 0)
		fail_msg("signetfs init failed: %s", out);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		hsm_close(live[i]);
		live[i] = NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(live_signers); i++) {
		signer_close(live_signers[i]);
		live_signers[i] = NULL;
	}

	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct hsm_config cfg_of(const struct fx *f, const char *uri)
{
	return (struct hsm_config){
	    .module = MODULE,
	    .key_uri = uri ? uri : KEY_URI,
	    .pin_file = f->pin,
	    .softhsm_conf = f->softhsm,
	};
}

static void track(struct hsm *h)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (!live[i]) {
			live[i] = h;
			return;
		}
	}
	fail_msg("too many open handles");
}

static struct hsm *open_ok(const struct hsm_config *c)
{
	struct sfs_error err = {0};
	struct hsm *h = NULL;

	if (hsm_open(c, &h, &err) != 0)
		fail_msg("hsm_open: %s", err.msg);
	assert_non_null(h);
	track(h);
	return h;
}

static void done(struct hsm *h)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == h)
			live[i] = NULL;
	hsm_close(h);
}

static void expect_fail(const struct hsm_config *c, enum sfs_exit ex,
			const char *want)
{
	struct sfs_error err = {0};
	struct hsm *h = NULL;
	int ret = hsm_open(c, &h, &err);

	if (h)
		track(h);
	assert_true(ret < 0);
	assert_null(h);
	if (err.exit != ex || !strstr(err.msg, want))
		fail_msg("exit %d message '%s'; wanted exit %d and '%s'",
			 err.exit, err.msg, ex, want);
}

static void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

static void read_pin(const struct fx *f, char *pin, size_t len)
{
	FILE *fp = fopen(f->pin, "r");

	assert_non_null(fp);
	assert_non_null(fgets(pin, (int)len, fp));
	fclose(fp);
	pin[strcspn(pin, "\n")] = '\0';
}

static bool verify(EVP_PKEY *pub, const unsigned char *msg, size_t len,
		   const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool ok =
	    md &&
	    EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, msg, len) == 1;

	EVP_MD_CTX_free(md);
	return ok;
}

/*
 * One signature the way the signer makes them: begin, sign, end with the
 * outcome. 0 and a signature that verifies, or -1 (err says why).
 */
static int sign_once(struct hsm *h, const unsigned char *msg, size_t len,
		     unsigned char *sig, size_t *siglen, struct sfs_error *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY *key;
	bool ok;

	assert_non_null(md);
	if (hsm_sign_begin(h, &key, err) != 0) {
		EVP_MD_CTX_free(md);
		return -1;
	}
	ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestSign(md, sig, siglen, msg, len) == 1;
	/* md holds a key reference: it must go before end (see hsm.h). */
	EVP_MD_CTX_free(md);
	hsm_sign_end(h, !ok);
	if (!ok)
		snprintf(err->msg, sizeof(err->msg), "EVP_DigestSign failed");
	return ok ? 0 : -1;
}

/* Sign MSG, check it verifies and that a flipped byte does not. */
static void sign_verify(struct hsm *h, const char *msg)
{
	unsigned char sig[512], copy[256];
	size_t siglen = sizeof(sig), len = strlen(msg);
	struct sfs_error err = {0};

	if (sign_once(h, (const unsigned char *)msg, len, sig, &siglen, &err))
		fail_msg("signing failed: %s", err.msg);
	assert_true(verify(hsm_public_key(h), (const unsigned char *)msg, len,
			   sig, siglen));
	memcpy(copy, msg, len);
	copy[0] ^= 1;
	assert_false(verify(hsm_public_key(h), copy, len, sig, siglen));
}

/* ---- opening ----------------------------------------------------------- */

static void test_open(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	struct hsm *h = open_ok(&c);
	EVP_PKEY *pub = hsm_public_key(h);

	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(pub), 256);
	assert_string_equal(hsm_key_uri(h), KEY_URI);
	assert_int_equal(strlen(hsm_token_serial(h)), 16);
	sign_verify(h, "hello, token");
	done(h);
}

static void test_missing_module(void **state)
{
	struct hsm_config c = cfg_of(*state, NULL);

	c.module = "/nonexistent/libnope.so";
	expect_fail(&c, SFS_EXIT_TOKEN,
		    "PKCS#11 module /nonexistent/libnope.so not found");
	/* A shared library that is no PKCS#11 module. */
	c.module = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";
	if (access(c.module, R_OK) == 0)
		expect_fail(&c, SFS_EXIT_TOKEN, "is not a PKCS#11 module");
	/* Not even a shared library. */
	c.module = "/etc/hostname";
	expect_fail(&c, SFS_EXIT_TOKEN, "cannot load PKCS#11 module");
}

static void test_wrong_pin(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char bad[200];

	snprintf(bad, sizeof(bad), "%s/bad-pin", f->root);
	write_text(bad, "0000000000000000\n", 0600);
	c.pin_file = bad;
	expect_fail(&c, SFS_EXIT_TOKEN, "wrong PIN for token 'signetfs'");
	/* A failed login must leave nothing behind: the right PIN works. */
	c.pin_file = f->pin;
	done(open_ok(&c));
}

static void test_missing_key(void **state)
{
	struct hsm_config c =
	    cfg_of(*state, "pkcs11:token=signetfs;object=nope");

	expect_fail(&c, SFS_EXIT_TOKEN,
		    "private key 'nope' not found on token 'signetfs'");
	c.key_uri = "pkcs11:token=signetfs;object=signing-key;id=%01%02";
	expect_fail(&c, SFS_EXIT_TOKEN, "with the given id");
}

static void test_wrong_token(void **state)
{
	struct hsm_config c = cfg_of(*state, "pkcs11:token=nosuch;object=k");

	expect_fail(&c, SFS_EXIT_TOKEN, "token 'nosuch' not found");
	c.key_uri = "pkcs11:token=signetfs;serial=0000;object=signing-key";
	expect_fail(&c, SFS_EXIT_TOKEN, "not found");
}

static void test_malformed_uri(void **state)
{
	static const char *const bad[] = {
	    "pkcs12:token=signetfs",
	    "token=signetfs;object=signing-key",
	    "pkcs11:token=%zzsignetfs",
	    "pkcs11:token=signetfs%4",
	    "pkcs11:token=a;token=b",
	    "pkcs11:objet=signing-key",
	    "pkcs11:token=signetfs;type=cert",
	    "pkcs11:token",
	    "pkcs11:token=signetfs;;object=signing-key",
	    "pkcs11:token=sig%00netfs",
	    "pkcs11:token=signetfs?pin-source=env:PIN",
	    "pkcs11:token=signetfs;slot-id=x1",
	    "pkcs11:token=signetfs?pin-value=a&pin-value=b",
	};
	struct hsm_config c = cfg_of(*state, NULL);
	struct sfs_error err = {0};
	struct hsm *h = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.key_uri = bad[i];
		expect_fail(&c, SFS_EXIT_USAGE, "PKCS#11 key URI");
	}
	/* The message names the attribute, never a value: it may be a PIN. */
	c.key_uri = "pkcs11:token=signetfs;bogus=1?pin-value=SECRET1234";
	assert_true(hsm_open(&c, &h, &err) < 0);
	assert_null(h);
	assert_non_null(strstr(err.msg, "'bogus'"));
	assert_null(strstr(err.msg, "SECRET"));
}

static void test_unreadable_pin(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char p[200];

	snprintf(p, sizeof(p), "%s/no-such-pin", f->root);
	c.pin_file = p;
	expect_fail(&c, SFS_EXIT_USAGE, "cannot read PIN file");
	expect_fail(&c, SFS_EXIT_USAGE, p);
	c.pin_file = f->root; /* a directory */
	expect_fail(&c, SFS_EXIT_USAGE, "cannot read PIN file");
	snprintf(p, sizeof(p), "%s/empty-pin", f->root);
	write_text(p, "\n", 0600);
	c.pin_file = p;
	expect_fail(&c, SFS_EXIT_USAGE, "cannot read PIN file");
	c.pin_file = NULL;
	expect_fail(&c, SFS_EXIT_USAGE, "no PIN");
}

static void test_pin_source(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char uri[512];
	struct hsm *h;

	c.pin_file = NULL;
	snprintf(uri, sizeof(uri), "%s?pin-source=file:%s", KEY_URI, f->pin);
	c.key_uri = uri;
	h = open_ok(&c);
	assert_string_equal(hsm_key_uri(h), KEY_URI);
	sign_verify(h, "pin from the query");
	done(h);
	/* The older form with pin-source as a path attribute. */
	snprintf(
	    uri, sizeof(uri),
	    "pkcs11:token=signetfs;pin-source=file://%s;object=signing-key",
	    f->pin);
	h = open_ok(&c);
	assert_string_equal(hsm_key_uri(h),
			    "pkcs11:token=signetfs;object=signing-key");
	done(h);
	/* The URI wins over the pin file. */
	c.pin_file = "/nonexistent";
	h = open_ok(&c);
	done(h);
}

static void test_uri_sanitised(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char pin[64], uri[512];
	struct hsm *h;

	read_pin(f, pin, sizeof(pin));
	c.pin_file = NULL;
	snprintf(uri, sizeof(uri),
		 "pkcs11:token=sig%%6eetfs;object=signing-key?pin-value=%s"
		 "&x-vendor=1",
		 pin);
	c.key_uri = uri;
	h = open_ok(&c);
	assert_string_equal(hsm_key_uri(h),
			    "pkcs11:token=sig%6eetfs;object=signing-key"
			    "?x-vendor=1");
	assert_null(strstr(hsm_key_uri(h), pin));
	sign_verify(h, "pin from pin-value");
	done(h);
	snprintf(uri, sizeof(uri), "%s?pin-value=%s", KEY_URI, pin);
	h = open_ok(&c);
	assert_string_equal(hsm_key_uri(h), KEY_URI);
	done(h);
}

static char logged[1024];

static void capture(enum sfs_log_level level, const char *fmt, va_list ap)
{
	if (level <= SFS_LOG_WARNING)
		vsnprintf(logged, sizeof(logged), fmt, ap);
}

static void test_pin_mode_warning(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);

	sfs_log_set_sink(capture);
	logged[0] = '\0';
	done(open_ok(&c));
	assert_string_equal(logged, "");
	assert_int_equal(chmod(f->pin, 0640), 0);
	done(open_ok(&c));
	sfs_log_set_sink(NULL);
	assert_non_null(strstr(logged, "PIN file"));
	assert_non_null(strstr(logged, "640"));
}

/*
 * Two handles on one module, reached by two names (MODULE is a symlink):
 * the module is loaded once, and closing one handle, which may finalise
 * the module, leaves the other signing.
 */
static void test_shared_module(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char real_mod[PATH_MAX], conf[256];
	struct hsm *a, *b;

	assert_non_null(realpath(MODULE, real_mod));
	a = open_ok(&c);
	c.module = real_mod;
	snprintf(conf, sizeof(conf), "%s/../t/./softhsm2.conf", f->dir);
	c.softhsm_conf = conf;
	b = open_ok(&c);
	sign_verify(a, "a");
	sign_verify(b, "b");
	done(a);
	sign_verify(b, "b after a closed");
	a = open_ok(&c);
	sign_verify(a, "a again");
	done(b);
	sign_verify(a, "a after b closed");
	done(a);
}

/* ---- recovery and threads ---------------------------------------------- */

static void move_tokens(const struct fx *f, bool away)
{
	char a[200], b[200];

	snprintf(a, sizeof(a), "%s/tokens", f->dir);
	snprintf(b, sizeof(b), "%s/tokens.away", f->dir);
	assert_int_equal(away ? rename(a, b) : rename(b, a), 0);
}

/* Keep signing until it works again; the layer backs off for a while. */
static bool sign_within(struct hsm *h, double seconds, const char *msg)
{
	unsigned char sig[512];
	struct sfs_error err = {0};
	double end = now_s() + seconds;
	size_t siglen;

	do {
		siglen = sizeof(sig);
		if (!sign_once(h, (const unsigned char *)msg, strlen(msg), sig,
			       &siglen, &err))
			return verify(hsm_public_key(h),
				      (const unsigned char *)msg, strlen(msg),
				      sig, siglen);
		usleep(20 * 1000);
	} while (now_s() < end);
	return false;
}

static void test_recovery(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	struct hsm *h = open_ok(&c);
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	struct sfs_error err = {0};

	sign_verify(h, "before");
	move_tokens(f, true);
	assert_int_equal(
	    sign_once(h, (const unsigned char *)"x", 1, sig, &siglen, &err),
	    -1);
	/* Still away: the next begin tries to recover and says why not. */
	memset(&err, 0, sizeof(err));
	siglen = sizeof(sig);
	assert_int_equal(
	    sign_once(h, (const unsigned char *)"x", 1, sig, &siglen, &err),
	    -1);
	assert_int_equal(err.exit, SFS_EXIT_TOKEN);
	assert_true(err.msg[0] != '\0');
	move_tokens(f, false);
	assert_true(sign_within(h, 3.0, "after"));
	sign_verify(h, "and again");
	done(h);
}

enum { THREADS = 8, PER_THREAD = 250 };

struct worker {
	struct hsm *h;
	int id, n;
	atomic_bool *stop; /* NULL: sign n times */
	int ok, failed, bad, ok_after;
	atomic_bool *restored;
	pthread_t t;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned char msg[64], sig[512];
	struct sfs_error err;
	size_t siglen, len;

	for (int i = 0; w->stop ? !atomic_load(w->stop) : i < w->n; i++) {
		len = (size_t)snprintf((char *)msg, sizeof(msg),
				       "thread %d signature %d", w->id, i);
		siglen = sizeof(sig);
		if (sign_once(w->h, msg, len, sig, &siglen, &err)) {
			w->failed++;
			usleep(1000);
			continue;
		}
		if (!verify(hsm_public_key(w->h), msg, len, sig, siglen))
			w->bad++;
		w->ok++;
		if (w->restored && atomic_load(w->restored))
			w->ok_after++;
	}
	return NULL;
}

/* Sign from n threads; returns signatures per second. */
static double sign_threads(struct hsm *h, int n, int per, int *ok)
{
	struct worker w[THREADS] = {0};
	double t0 = now_s();

	*ok = 0;
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){.h = h, .id = i, .n = per};
		assert_int_equal(
		    pthread_create(&w[i].t, NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		assert_int_equal(w[i].failed, 0);
		assert_int_equal(w[i].bad, 0);
		*ok += w[i].ok;
	}
	return (double)*ok / (now_s() - t0);
}

static void test_threads(void **state)
{
	struct hsm_config c = cfg_of(*state, NULL);
	struct hsm *h = open_ok(&c);
	int ok;
	double r1, r2, r8;

	sign_threads(h, 1, 100, &ok); /* warm-up */
	r1 = sign_threads(h, 1, 2000, &ok);
	assert_int_equal(ok, 2000);
	r2 = sign_threads(h, 2, 1000, &ok);
	assert_int_equal(ok, 2000);
	r8 = sign_threads(h, THREADS, PER_THREAD, &ok);
	assert_int_equal(ok, THREADS * PER_THREAD);
	print_message("EC P-256 signatures/s through hsm_sign_begin/end: "
		      "1 thread %.0f, 2 threads %.0f, 8 threads %.0f\n",
		      r1, r2, r8);
	done(h);
}

/* The token goes away and comes back while four threads keep signing. */
static void test_recovery_under_load(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	struct hsm *h = open_ok(&c);
	atomic_bool stop = false, restored = false;
	struct worker w[4] = {0};
	double end;
	bool all;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){
		    .h = h, .id = i, .stop = &stop, .restored = &restored};
		assert_int_equal(
		    pthread_create(&w[i].t, NULL, worker_run, &w[i]), 0);
	}
	usleep(50 * 1000);
	move_tokens(f, true);
	usleep(200 * 1000);
	move_tokens(f, false);
	atomic_store(&restored, true);
	end = now_s() + 5.0;
	do {
		usleep(20 * 1000);
		all = true;
		for (int i = 0; i < 4; i++)
			all = all && w[i].ok_after >= 20;
	} while (!all && now_s() < end);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++) {
		pthread_join(w[i].t, NULL);
		assert_int_equal(w[i].bad, 0);
		assert_true(w[i].ok_after >= 20);
	}
	/* The outage was seen: some signatures did fail meanwhile. */
	assert_true(w[0].failed + w[1].failed + w[2].failed + w[3].failed > 0);
	done(h);
}

/* ---- init ------------------------------------------------------------- */

static X509 *load_cert(const char *dir, const char *name)
{
	char p[256];
	FILE *fp;
	X509 *x;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fp = fopen(p, "r");
	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static mode_t mode_of(const char *dir, const char *name)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s%s", dir, *name ? "/" : "", name);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

/* Does the chain signer <- ca verify (any purpose; EKU checked apart)? */
static bool chains_to(X509 *signer, X509 *ca)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = st && ctx && X509_STORE_add_cert(st, ca) == 1 &&
		  X509_STORE_CTX_init(ctx, st, signer, NULL) == 1 &&
		  X509_verify_cert(ctx) == 1;

	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

static void test_init_files(void **state)
{
	struct fx *f = *state;
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	char p[256], out[4096], other[128];
	X509 *ca = load_cert(f->dir, "ca.pem");
	X509 *signer = load_cert(f->dir, "signer.pem"), *other_ca;
	X509_CRL *crl;
	struct hsm *h;
	time_t t;
	FILE *fp;

	assert_int_equal(mode_of(f->dir, ""), 0700);
	assert_int_equal(mode_of(f->dir, "pin"), 0600);
	assert_int_equal(mode_of(f->dir, "ca.key"), 0600);
	assert_int_equal(mode_of(f->dir, "tokens"), 0700);
	/* Signer: code signing only, not a CA, chains to ca.pem. */
	assert_true(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE);
	assert_int_equal(X509_get_extended_key_usage(signer), XKU_CODE_SIGN);
	assert_int_equal(X509_get_key_usage(signer), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_check_ca(signer), 0);
	assert_int_not_equal(X509_check_ca(ca), 0);
	assert_true(chains_to(signer, ca));
	/* Its twin: another init's CA does not vouch for this signer. */
	snprintf(other, sizeof(other), "%s/other", f->root);
	assert_int_equal(init_dir(other, NULL, NULL, NULL, out, sizeof(out)),
			 0);
	other_ca = load_cert(other, "ca.pem");
	assert_false(chains_to(signer, other_ca));
	X509_free(other_ca);
	/* The empty CRL is the CA's. */
	snprintf(p, sizeof(p), "%s/crl.pem", f->dir);
	fp = fopen(p, "r");
	assert_non_null(fp);
	crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	/* An empty CRL has no revokedCertificates at all. */
	assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0);
	t = time(NULL) + 29 * 86400;
	assert_true(X509_cmp_time(X509_CRL_get0_nextUpdate(crl), &t) > 0);
	t += 2 * 86400;
	assert_true(X509_cmp_time(X509_CRL_get0_nextUpdate(crl), &t) < 0);
	X509_CRL_free(crl);
	/* The config parses, and opening its key gives the cert's key. */
	snprintf(p, sizeof(p), "%s/signetfs.conf", f->dir);
	if (config_load(p, &cfg, &err))
		fail_msg("config_load: %s", err.msg);
	assert_string_equal(cfg->key.key_uri, KEY_URI);
	assert_string_equal(cfg->key.pin_file, f->pin);
	h = open_ok(
	    &(struct hsm_config){.module = cfg->key.module,
				 .key_uri = cfg->key.key_uri,
				 .pin_file = cfg->key.pin_file,
				 .softhsm_conf = cfg->key.softhsm_conf});
	assert_int_equal(
	    EVP_PKEY_eq(hsm_public_key(h), X509_get0_pubkey(signer)), 1);
	done(h);
	config_free(cfg);
	X509_free(ca);
	X509_free(signer);
}

static void test_init_refuses(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char out[4096], keep[200];
	X509 *before = load_cert(f->dir, "signer.pem"), *after;

	assert_int_equal(init_dir(f->dir, NULL, NULL, NULL, out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "--force"));
	after = load_cert(f->dir, "signer.pem");
	assert_int_equal(X509_cmp(before, after), 0);
	X509_free(after);
	/* --force replaces what init made and leaves the rest alone. */
	snprintf(keep, sizeof(keep), "%s/audit.log", f->dir);
	write_text(keep, "keep me\n", 0600);
	assert_int_equal(
	    init_dir(f->dir, "--force", NULL, NULL, out, sizeof(out)), 0);
	assert_int_equal(access(keep, F_OK), 0);
	after = load_cert(f->dir, "signer.pem");
	assert_int_not_equal(X509_cmp(before, after), 0);
	assert_non_null(strstr(out, "sha256"));
	X509_free(after);
	X509_free(before);
	/* The new token works with the new PIN. */
	done(open_ok(&c));
}

static void test_init_usage(void **state)
{
	struct fx *f = *state;
	char out[4096], d[200];

	snprintf(d, sizeof(d), "%s/u", f->root);
	assert_int_equal(init_dir("--help", NULL, NULL, NULL, out, sizeof(out)),
			 0);
	assert_non_null(strstr(out, "usage: signetfs init"));
	assert_int_equal(
	    init_dir(d, "--key-type", "ed448", NULL, out, sizeof(out)),
	    SFS_EXIT_USAGE);
	assert_int_equal(
	    init_dir(d, "--label",
		     "a-label-much-longer-than-32-bytes-is-refused", NULL, out,
		     sizeof(out)),
	    SFS_EXIT_USAGE);
	assert_int_equal(
	    init_dir(d, "--module", "/nonexistent.so", NULL, out, sizeof(out)),
	    SFS_EXIT_TOKEN);
	assert_non_null(strstr(out, "/nonexistent.so"));
	/* A failed init leaves no half-made directory behind. */
	assert_int_equal(access(d, F_OK), -1);
}

static void test_init_rsa(void **state)
{
	struct fx *f = *state;
	char out[4096], d[200], pin[220], conf[220];
	struct hsm *h;

	snprintf(d, sizeof(d), "%s/rsa", f->root);
	assert_int_equal(init_dir(d, "--key-type", "rsa-3072", "--label=r s",
				  out, sizeof(out)),
			 0);
	snprintf(pin, sizeof(pin), "%s/pin", d);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", d);
	h = open_ok(&(struct hsm_config){
	    .module = MODULE,
	    .key_uri = "pkcs11:token=r%20s;object=signing-key",
	    .pin_file = pin,
	    .softhsm_conf = conf});
	assert_int_equal(EVP_PKEY_get_base_id(hsm_public_key(h)), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(hsm_public_key(h)), 3072);
	sign_verify(h, "rsa");
	done(h);
}

/* ---- init --join: two tokens in one store, two keys in one process ---- */

/* signetfs init DIR --join EXISTING --label LABEL */
static int init_join(const char *dir, const char *existing, const char *label,
		     char *out, size_t outlen)
{
	const char *argv[] = {"signetfs", "init",    dir,   "--join",
			      existing,	  "--label", label, NULL};

	return run(argv, out, outlen);
}

static struct sfs_config *load_conf(const char *dir)
{
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	char p[256];

	snprintf(p, sizeof(p), "%s/signetfs.conf", dir);
	if (config_load(p, &cfg, &err))
		fail_msg("config_load %s: %s", p, err.msg);
	return cfg;
}

static struct sfs_signer *signer_ok(const struct sfs_config *cfg)
{
	struct sfs_error err = {0};
	struct sfs_signer *s = NULL;

	if (signer_open(&cfg->key, &s, &err))
		fail_msg("signer_open %s: %s", cfg->key.key_uri, err.msg);
	for (size_t i = 0; i < ARRAY_SIZE(live_signers); i++) {
		if (!live_signers[i]) {
			live_signers[i] = s;
			return s;
		}
	}
	fail_msg("too many open signers");
	return NULL;
}

static void signer_done(struct sfs_signer *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(live_signers); i++)
		if (live_signers[i] == s)
			live_signers[i] = NULL;
	signer_close(s);
}

/*
 * A v1 signature of CONTENT at PATH by S, checked against the trust
 * anchors in CAFILE with PINS (n_pins 0: any trusted signer). On VR_OK
 * the signer's fingerprint in the signature must be S's.
 */
static enum verify_reason sign_check(struct sfs_signer *s, const char *cafile,
				     const char *path, const char *content,
				     const uint8_t (*pins)[32], size_t n_pins,
				     bool flip)
{
	struct sfs_trust_config tc = {.cafile = (char *)cafile};
	struct verify_policy pol = {path, strlen(path), pins, n_pins};
	struct sfs_digest d = {.alg = SFS_MD_SHA256, .len = 32};
	struct sfs_verifier *v = NULL;
	struct sfs_error err = {0};
	struct sfs_writer w;
	struct sig_info info;
	enum verify_reason r;
	uint8_t *der = NULL;
	size_t len = 0;
	char hex[65];

	memset(&info, 0, sizeof(info));
	sfs_writer_self(&w);
	sfs_sha256(content, strlen(content), d.bytes);
	if (signer_sign(s, &d, path, strlen(path), &w, &der, &len, &err))
		fail_msg("signer_sign: %s", err.msg);
	if (flip)
		der[len - 8] ^= 1;
	if (verifier_new(&tc, &v, &err))
		fail_msg("verifier_new: %s", err.msg);
	r = verifier_check_sig(v, der, len, &pol, &info);
	if (r == VR_OK) {
		sfs_hex(info.signer_sha256, 32, hex);
		assert_string_equal(hex, signer_cert_sha256(s));
		assert_memory_equal(info.digest.bytes, d.bytes, 32);
	}
	sig_info_clear(&info);
	verifier_free(v);
	free(der);
	return r;
}

static void fp_of(struct sfs_signer *s, uint8_t out[32])
{
	const char *hex = signer_cert_sha256(s);

	for (size_t i = 0; i < 32; i++)
		assert_int_equal(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

static size_t store_tokens(const struct fx *f)
{
	char p[200];
	size_t n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/tokens", f->dir);
	d = opendir(p);
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

static void test_join_files(void **state)
{
	struct fx *f = *state;
	char b[128], out[4096], cn[64], p[256], conf[PATH_MAX];
	X509 *ca = load_cert(f->dir, "ca.pem"), *ca_b, *signer;
	struct sfs_config *cfg;
	char pin_a[64], pin_b[64];
	struct fx fb = {0};

	snprintf(b, sizeof(b), "%s/b", f->root);
	if (init_join(b, f->dir, "release", out, sizeof(out)) != 0)
		fail_msg("init --join: %s", out);
	assert_int_equal(store_tokens(f), 2);
	/* DIR: its own PIN and certificate; no token store, no CA key. */
	assert_int_equal(mode_of(b, ""), 0700);
	assert_int_equal(mode_of(b, "pin"), 0600);
	snprintf(fb.pin, sizeof(fb.pin), "%s/pin", b);
	read_pin(f, pin_a, sizeof(pin_a));
	read_pin(&fb, pin_b, sizeof(pin_b));
	assert_string_not_equal(pin_a, pin_b);
	for (const char *const *n =
		 (const char *const[]){"tokens", "ca.key", "softhsm2.conf",
				       NULL};
	     *n; n++) {
		snprintf(p, sizeof(p), "%s/%s", b, *n);
		assert_int_equal(access(p, F_OK), -1);
	}
	ca_b = load_cert(b, "ca.pem");
	assert_int_equal(X509_cmp(ca, ca_b), 0);
	signer = load_cert(b, "signer.pem");
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(signer),
					      NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "signetfs signer release");
	assert_int_equal(X509_get_extended_key_usage(signer), XKU_CODE_SIGN);
	assert_int_equal(X509_check_ca(signer), 0);
	assert_true(chains_to(signer, ca));
	/* The config names A's store, B's token, B's own files. */
	cfg = load_conf(b);
	assert_non_null(realpath(f->softhsm, conf));
	assert_string_equal(cfg->key.softhsm_conf, conf);
	assert_string_equal(cfg->key.key_uri,
			    "pkcs11:token=release;object=signing-key;"
			    "type=private");
	assert_string_equal(cfg->key.pin_file, fb.pin);
	snprintf(p, sizeof(p), "%s/ca.pem", b);
	assert_string_equal(cfg->trust.cafile, p);
	snprintf(p, sizeof(p), "%s/audit.log", b);
	assert_string_equal(cfg->audit_log, p);
	snprintf(p, sizeof(p), "%s/signer.pem", b);
	assert_string_equal(cfg->key.cert, p);
	config_free(cfg);
	X509_free(signer);
	X509_free(ca_b);
	X509_free(ca);
}

/* Both keys in one process: one module, one SOFTHSM2_CONF, two logins. */
static void test_join_two_keys(void **state)
{
	struct fx *f = *state;
	struct sfs_config *ca_cfg = load_conf(f->dir), *cb_cfg;
	struct sfs_signer *sa, *sb;
	char b[160], out[4096], cafile[200];
	uint8_t fp_a[32], fp_b[32];

	snprintf(b, sizeof(b), "%s/b", f->root);
	if (init_join(b, f->dir, "release", out, sizeof(out)) != 0)
		fail_msg("init --join: %s", out);
	cb_cfg = load_conf(b);
	snprintf(cafile, sizeof(cafile), "%s/ca.pem", f->dir);
	sa = signer_ok(ca_cfg);
	sb = signer_ok(cb_cfg);
	assert_string_not_equal(signer_cert_sha256(sa), signer_cert_sha256(sb));
	assert_string_not_equal(signer_token_serial(sa),
				signer_token_serial(sb));
	fp_of(sa, fp_a);
	fp_of(sb, fp_b);
	assert_int_equal(sign_check(sa, cafile, "src/a.c", "a", NULL, 0, false),
			 VR_OK);
	assert_int_equal(sign_check(sb, cafile, "rel/b.c", "b", NULL, 0, false),
			 VR_OK);
	/* Pinned to its own signer each passes; to the other's it fails. */
	assert_int_equal(sign_check(sa, cafile, "a", "a", &fp_a, 1, false),
			 VR_OK);
	assert_int_equal(sign_check(sb, cafile, "b", "b", &fp_b, 1, false),
			 VR_OK);
	assert_int_equal(sign_check(sb, cafile, "b", "b", &fp_a, 1, false),
			 VR_PIN_MISMATCH);
	assert_int_equal(sign_check(sa, cafile, "a", "a", &fp_b, 1, false),
			 VR_PIN_MISMATCH);
	assert_int_not_equal(sign_check(sb, cafile, "b", "b", NULL, 0, true),
			     VR_OK);
	/* Closing one handle leaves the other signing, either way round. */
	signer_done(sa);
	assert_int_equal(sign_check(sb, cafile, "b", "b", NULL, 0, false),
			 VR_OK);
	sa = signer_ok(ca_cfg);
	assert_int_equal(sign_check(sa, cafile, "a", "a", NULL, 0, false),
			 VR_OK);
	signer_done(sb);
	assert_int_equal(sign_check(sa, cafile, "a", "a", NULL, 0, false),
			 VR_OK);
	signer_done(sa);
	config_free(cb_cfg);
	config_free(ca_cfg);
}

/* The same two keys through the hsm layer, each with its own PIN file. */
static void test_join_hsm(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char b[160], out[4096], pin_b[200];
	struct hsm *ha, *hb;

	snprintf(b, sizeof(b), "%s/b", f->root);
	if (init_join(b, f->dir, "release", out, sizeof(out)) != 0)
		fail_msg("init --join: %s", out);
	snprintf(pin_b, sizeof(pin_b), "%s/pin", b);
	ha = open_ok(&c);
	c.key_uri = "pkcs11:token=release;object=signing-key;type=private";
	c.pin_file = pin_b;
	hb = open_ok(&c);
	assert_int_not_equal(
	    EVP_PKEY_eq(hsm_public_key(ha), hsm_public_key(hb)), 1);
	sign_verify(ha, "a");
	sign_verify(hb, "b");
	done(hb);
	sign_verify(ha, "a after b closed");
	/*
	 * B's token was logged out with its last handle, though A's handle
	 * keeps the module loaded: A's PIN does not open it.
	 */
	c.pin_file = f->pin;
	expect_fail(&c, SFS_EXIT_TOKEN, "wrong PIN for token 'release'");
	done(ha);
}

static void test_join_refuses(void **state)
{
	struct fx *f = *state;
	char b[160], c[160], out[4096];
	const char *no_label[] = {"signetfs", "init", c,
				  "--join",   f->dir, NULL};
	const char *same[] = {"signetfs", "init", f->dir,    "--join", f->dir,
			      "--label",  "x",	  "--force", NULL};
	struct hsm_config hc = cfg_of(f, NULL);

	snprintf(b, sizeof(b), "%s/b", f->root);
	snprintf(c, sizeof(c), "%s/c", f->root);
	assert_int_equal(init_join(b, f->dir, "release", out, sizeof(out)), 0);
	/* A label already in the store: B's, and A's own. */
	assert_int_equal(init_join(c, f->dir, "release", out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "'release' already exists"));
	assert_int_equal(init_join(c, f->dir, "signetfs", out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "'signetfs' already exists"));
	assert_int_equal(run(no_label, out, sizeof(out)), SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "--join needs --label"));
	assert_int_equal(access(c, F_OK), -1);
	assert_int_equal(store_tokens(f), 2);
	/* Not an init directory; EXISTING itself as DIR, even with --force. */
	assert_int_equal(init_join(c, f->root, "x", out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_int_equal(run(same, out, sizeof(out)), SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "same directory"));
	assert_int_equal(access(c, F_OK), -1);
	assert_int_equal(store_tokens(f), 2);
	/* A was left as it was. */
	sign_verify(open_ok(&hc), "A still works");
}

/*
 * A join that fails after C_InitToken (here: a ca.pem too large to copy)
 * takes its token out of the store again, so the label can be reused.
 */
static void test_join_undo(void **state)
{
	struct fx *f = *state;
	char b[160], out[4096], p[200];
	FILE *fp;

	snprintf(b, sizeof(b), "%s/b", f->root);
	snprintf(p, sizeof(p), "%s/ca.pem", f->dir);
	fp = fopen(p, "a");
	assert_non_null(fp);
	for (int i = 0; i < 30000; i++)
		fputs("padding after the certificate, which PEM ignores\n", fp);
	fclose(fp);
	assert_int_equal(init_join(b, f->dir, "release", out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "ca.pem"));
	assert_int_equal(access(b, F_OK), -1);
	assert_int_equal(store_tokens(f), 1);
	assert_int_equal(truncate(p, 0), 0);
	assert_int_equal(init_join(b, f->dir, "release", out, sizeof(out)),
			 SFS_EXIT_USAGE); /* no CA certificate left */
	assert_int_equal(store_tokens(f), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_open),	    T(test_missing_module),
	    T(test_wrong_pin),	    T(test_missing_key),
	    T(test_wrong_token),    T(test_malformed_uri),
	    T(test_unreadable_pin), T(test_pin_source),
	    T(test_uri_sanitised),  T(test_pin_mode_warning),
	    T(test_shared_module),  T(test_recovery),
	    T(test_threads),	    T(test_recovery_under_load),
	    T(test_init_files),	    T(test_init_refuses),
	    T(test_init_usage),	    T(test_init_rsa),
	    T(test_join_files),	    T(test_join_two_keys),
	    T(test_join_hsm),	    T(test_join_refuses),
	    T(test_join_undo),
#undef T
	};

	if (access(MODULE, R_OK) != 0) {
		fprintf(stderr, "SKIP: %s not installed\n", MODULE);
		return 77;
	}
	signetfs_exe = getenv("SIGNETFS");
	if (!signetfs_exe) {
		fprintf(stderr, "SIGNETFS must name the signetfs executable\n");
		return 1;
	}
	/* As main() does: the PIN lives in the secure heap. */
	CRYPTO_secure_malloc_init(64 * 1024, 32);
	return cmocka_run_group_tests_name("hsm", tests, NULL, NULL);
}
