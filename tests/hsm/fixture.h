/* SPDX-License-Identifier: Apache-2.0 */
/* What the hsm suites share: a fresh SoftHSM token per test, helpers. */
#ifndef SIGNETFS_TESTS_HSM_FIXTURE_H
#define SIGNETFS_TESTS_HSM_FIXTURE_H

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

/* One test's token: setup() runs `signetfs init` in root/t. */
struct fx {
	char root[64]; /* mkdtemp */
	char dir[128]; /* root/t, made by signetfs init */
	char pin[160];
	char softhsm[160];
};

extern const char *signetfs_exe;
/*
 * Handles a test left open when an assert failed: teardown closes them,
 * or the module would stay loaded with that test's SoftHSM config.
 */
extern struct hsm *live[4];
extern struct sfs_signer *live_signers[4];

double now_s(void);
int run(const char *const argv[], char *out, size_t outlen);
int init_dir(const char *dir, const char *opt1, const char *opt2,
	     const char *opt3, char *out, size_t outlen);
int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw);
int setup(void **state);
int teardown(void **state);
struct hsm_config cfg_of(const struct fx *f, const char *uri);
void track(struct hsm *h);
struct hsm *open_ok(const struct hsm_config *c);
void done(struct hsm *h);
void expect_fail(const struct hsm_config *c, enum sfs_exit ex,
		 const char *want);
void write_text(const char *path, const char *text, mode_t mode);
void read_pin(const struct fx *f, char *pin, size_t len);
bool verify(EVP_PKEY *pub, const unsigned char *msg, size_t len,
	    const unsigned char *sig, size_t siglen);
int sign_once(struct hsm *h, const unsigned char *msg, size_t len,
	      unsigned char *sig, size_t *siglen, struct sfs_error *err);
void sign_verify(struct hsm *h, const char *msg);
/* main() of each hsm suite: skips without SoftHSM, needs $SIGNETFS. */
int fx_main(const char *name, const struct CMUnitTest *tests, size_t n);

#endif
