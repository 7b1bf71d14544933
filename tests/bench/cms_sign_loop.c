// SPDX-License-Identifier: Apache-2.0
/* A detached CMS signature per file with bare libp11 + OpenSSL: no signetfs. */
/*
 * scripts/bench compares signetfs with this loop on the same key of the
 * same token in the same run (issue 17, targets 1 and 3). It does what
 * any in-process signer built on these libraries must do for one small
 * file, and nothing more: the key is found and logged in once (libp11,
 * as signetfs does), then per file
 *   CMS_sign(cert, key, NULL, 4 KiB in memory,
 *            CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES)
 *   i2d_CMS_ContentInfo
 * and, with -d DIR, the DER put in DIR as a new NAME.sig the way a
 * careful signer does (a temporary file, then rename(2); no fsync).
 * CMS_CADES adds the ESS signingCertificateV2 that signetfs's signatures
 * carry too; signetfs adds a few more signed attributes (path, writer,
 * version), so this is a floor, not a copy.
 *
 *   cms_sign_loop -m MODULE -t TOKEN_LABEL -k KEY_LABEL -p PIN_FILE
 *                 -c CERT_PEM [-d DIR] [-j THREADS] [-n FILES] [-w WARMUP]
 *
 * SOFTHSM2_CONF comes from the environment. Prints one line:
 *   cms_sign_loop: N signatures, J threads, T s, R/s
 * Exit 0, or 1 with a message naming what failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libp11.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "loop.h"

#define CONTENT 4096

static EVP_PKEY *key;
static X509 *cert;
static const char *dir;
static long todo;   /* atomic: signatures left to make */
static long failed; /* atomic */
static long serial; /* atomic: names in DIR */

static void die(const char *what)
{
	fprintf(stderr, "cms_sign_loop: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

/* DIR/sN.sig through DIR/.sN.sig.tmp, as a new file. */
static int put(const unsigned char *der, int len)
{
	long n = __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED);
	char tmp[4096], name[4096];
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s/.s%ld.sig.tmp", dir, n);
	snprintf(name, sizeof(name), "%s/s%ld.sig", dir, n);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ok = write(fd, der, (size_t)len) == len;
	if (close(fd) < 0)
		ok = 0;
	if (!ok || rename(tmp, name) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

static int sign_one(const unsigned char *content)
{
	const unsigned int flags =
	    CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES;
	BIO *in = BIO_new_mem_buf(content, CONTENT);
	CMS_ContentInfo *cms = in ? CMS_sign(cert, key, NULL, in, flags) : NULL;
	unsigned char *der = NULL;
	int len = cms ? i2d_CMS_ContentInfo(cms, &der) : 0;
	int ret = len > 0 && (!dir || put(der, len) == 0) ? 0 : -1;

	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	return ret;
}

/*
 * The figure counts only if the signatures are real: one more, checked
 * with OpenSSL against its content, and refused for a byte changed.
 */
static void self_check(void)
{
	const unsigned int flags =
	    CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES;
	const unsigned int vflags = CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY;
	unsigned char content[CONTENT];
	CMS_ContentInfo *cms;
	BIO *in, *bad;
	int good, forged;

	memset(content, 'y', sizeof(content));
	in = BIO_new_mem_buf(content, CONTENT);
	cms = in ? CMS_sign(cert, key, NULL, in, flags) : NULL;
	BIO_free(in);
	if (!cms)
		die("CMS_sign failed");
	in = BIO_new_mem_buf(content, CONTENT);
	good = in && CMS_verify(cms, NULL, NULL, in, NULL, vflags) == 1;
	content[CONTENT / 2] ^= 1;
	bad = BIO_new_mem_buf(content, CONTENT);
	forged = bad && CMS_verify(cms, NULL, NULL, bad, NULL, vflags) == 1;
	ERR_clear_error();
	BIO_free(in);
	BIO_free(bad);
	CMS_ContentInfo_free(cms);
	if (!good || forged)
		die(good ? "a changed content verified" : "a signature fails");
}

static void *signer(void *arg)
{
	unsigned char content[CONTENT];
	uint64_t k = (uint64_t)(uintptr_t)&k;

	(void)arg;
	memset(content, 'x', sizeof(content));
	while (__atomic_sub_fetch(&todo, 1, __ATOMIC_RELAXED) >= 0) {
		/* Different bytes each time, as files would give. */
		memcpy(content, &k, sizeof(k));
		k++;
		if (sign_one(content))
			__atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: cms_sign_loop -m MODULE -t TOKEN -k KEY_LABEL "
			"-p PIN_FILE -c CERT_PEM [-d DIR] [-j THREADS] "
			"[-n FILES] [-w WARMUP]\n");
	exit(2);
}

static void load_cert(const char *file)
{
	FILE *f = fopen(file, "re");

	if (!f) {
		perror(file);
		exit(1);
	}
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert)
		die("no certificate in the -c file");
}

static void load_key(const char *module, const char *token, const char *label,
		     const char *pin)
{
	PKCS11_CTX *ctx = PKCS11_CTX_new();
	PKCS11_SLOT *slots = NULL, *slot = NULL;
	PKCS11_KEY *keys = NULL;
	unsigned int ns = 0, nk = 0;

	if (!ctx || PKCS11_CTX_load(ctx, module) < 0)
		die("cannot load the module");
	if (PKCS11_enumerate_slots(ctx, &slots, &ns) < 0)
		die("cannot list the slots");
	for (unsigned int i = 0; i < ns && !slot; i++)
		if (slots[i].token && slots[i].token->label &&
		    !strcmp(slots[i].token->label, token))
			slot = &slots[i];
	if (!slot)
		die("no such token");
	if (PKCS11_login(slot, 0, pin) < 0)
		die("login failed");
	if (PKCS11_enumerate_keys(slot->token, &keys, &nk) < 0)
		die("cannot list the keys");
	for (unsigned int i = 0; i < nk && !key; i++)
		if (keys[i].label && !strcmp(keys[i].label, label))
			key = PKCS11_get_private_key(&keys[i]);
	if (!key)
		die("no such private key");
	/* ctx and slots stay for the process's life: key refers to them. */
}

int main(int argc, char **argv)
{
	const char *module = NULL, *token = NULL, *label = NULL, *pinf = NULL,
		   *certf = NULL;
	long n = 2000, warm = 200;
	int j = 1, c;
	char pin[256];
	double secs;

	while ((c = getopt(argc, argv, "m:t:k:p:c:d:j:n:w:")) != -1) {
		switch (c) {
		case 'm':
			module = optarg;
			break;
		case 't':
			token = optarg;
			break;
		case 'k':
			label = optarg;
			break;
		case 'p':
			pinf = optarg;
			break;
		case 'c':
			certf = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'j':
			j = atoi(optarg);
			break;
		case 'n':
			n = atol(optarg);
			break;
		case 'w':
			warm = atol(optarg);
			break;
		default:
			usage();
		}
	}
	if (!module || !token || !label || !pinf || !certf || j < 1 ||
	    j > LOOP_MAX_THREADS || n < 1 || warm < 0)
		usage();
	loop_read_pin(pinf, pin, sizeof(pin));
	load_cert(certf);
	load_key(module, token, label, pin);
	OPENSSL_cleanse(pin, sizeof(pin));
	if (X509_check_private_key(cert, key) != 1)
		die("the certificate is not the key's");
	self_check();
	if (warm)
		loop_run("cms_sign_loop", &todo, warm, j, signer);
	secs = loop_run("cms_sign_loop", &todo, n, j, signer);
	if (failed)
		die("signatures failed");
	printf("cms_sign_loop: %ld signatures, %d threads, %.3f s, %.0f/s\n", n,
	       j, secs, (double)n / secs);
	return 0;
}
