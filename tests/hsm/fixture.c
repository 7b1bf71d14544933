// SPDX-License-Identifier: Apache-2.0
/* The hsm suites' fixture: each test on its own SoftHSM token. */
#include "fixture.h"

const char *signetfs_exe;
struct hsm *live[4];
struct sfs_signer *live_signers[4];

double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Run signetfs with ARGV; stdout and stderr end up in out. */
int run(const char *const argv[], char *out, size_t outlen)
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

int init_dir(const char *dir, const char *opt1, const char *opt2,
	     const char *opt3, char *out, size_t outlen)
{
	const char *argv[] = {"signetfs", "init", dir, opt1, opt2, opt3, NULL};

	return run(argv, out, outlen);
}

int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int setup(void **state)
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

int teardown(void **state)
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

struct hsm_config cfg_of(const struct fx *f, const char *uri)
{
	return (struct hsm_config){
	    .module = MODULE,
	    .key_uri = uri ? uri : KEY_URI,
	    .pin_file = f->pin,
	    .softhsm_conf = f->softhsm,
	};
}

void track(struct hsm *h)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++) {
		if (!live[i]) {
			live[i] = h;
			return;
		}
	}
	fail_msg("too many open handles");
}

struct hsm *open_ok(const struct hsm_config *c)
{
	struct sfs_error err = {0};
	struct hsm *h = NULL;

	if (hsm_open(c, &h, &err) != 0)
		fail_msg("hsm_open: %s", err.msg);
	assert_non_null(h);
	track(h);
	return h;
}

void done(struct hsm *h)
{
	for (size_t i = 0; i < sizeof(live) / sizeof(live[0]); i++)
		if (live[i] == h)
			live[i] = NULL;
	hsm_close(h);
}

void expect_fail(const struct hsm_config *c, enum sfs_exit ex, const char *want)
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

void write_text(const char *path, const char *text, mode_t mode)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
	assert_int_equal(chmod(path, mode), 0);
}

void read_pin(const struct fx *f, char *pin, size_t len)
{
	FILE *fp = fopen(f->pin, "r");

	assert_non_null(fp);
	assert_non_null(fgets(pin, (int)len, fp));
	fclose(fp);
	pin[strcspn(pin, "\n")] = '\0';
}

bool verify(EVP_PKEY *pub, const unsigned char *msg, size_t len,
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
int sign_once(struct hsm *h, const unsigned char *msg, size_t len,
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
void sign_verify(struct hsm *h, const char *msg)
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

int fx_main(const char *name, const struct CMUnitTest *tests, size_t n)
{
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
	return _cmocka_run_group_tests(name, tests, n, NULL, NULL);
}
