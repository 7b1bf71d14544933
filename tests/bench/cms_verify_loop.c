// SPDX-License-Identifier: Apache-2.0
/* Bare CMS signature checks of a directory's signed files, on N threads. */
/*
 * The yardstick for the inbox's first listing (issue 17, target 5): how
 * many detached signatures per second plain OpenSSL checks on this
 * machine, with nothing of signetfs in the way.
 *
 *   cms_verify_loop -a CA.pem [-j THREADS] [-m sig|chain] [-w] DIR
 *
 * Every regular file NAME in DIR (not below) with a NAME.sig next to it:
 * read NAME.sig, parse the DER, then CMS_verify() over the content read
 * from NAME (digest, signed attributes, signature).
 *   -m sig    the signature only (CMS_NO_SIGNER_CERT_VERIFY): the per-file
 *             work left when the signer's chain is checked once per trust
 *             epoch, not once per file. The default.
 *   -m chain  also builds and checks the signer's chain to CA.pem for
 *             every file (what `openssl cms -verify` does per file).
 *   -w        one untimed pass first (the VM's memory, the page cache).
 * Prints:  cms_verify_loop: N files, J threads, MODE, T s, R/s
 * Exit 0 when every file verified, 1 otherwise.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "loop.h"

#define MAX_THREADS 64

static char **names;
static size_t nnames;
static const char *dir;
static X509_STORE *store;
static unsigned int flags = CMS_BINARY;
static size_t next; /* atomic: next file to check */
static long bad;    /* atomic */

static int check_one(const char *name)
{
	char path[4096], sigp[4096];
	CMS_ContentInfo *cms = NULL;
	BIO *sb = NULL, *cb = NULL;
	int ok = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(sigp, sizeof(sigp), "%s/%s.sig", dir, name);
	sb = BIO_new_file(sigp, "rb");
	cb = BIO_new_file(path, "rb");
	if (sb && cb && (cms = d2i_CMS_bio(sb, NULL)))
		ok = CMS_verify(cms, NULL, store, cb, NULL, flags) == 1;
	if (!ok)
		ERR_clear_error();
	CMS_ContentInfo_free(cms);
	BIO_free(sb);
	BIO_free(cb);
	return ok;
}

static void *worker(void *arg)
{
	size_t i;

	(void)arg;
	while ((i = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED)) < nnames)
		if (!check_one(names[i]))
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
	return NULL;
}

static double pass(int j)
{
	pthread_t t[MAX_THREADS];
	double t0 = loop_now();

	next = 0;
	bad = 0;
	for (int i = 0; i < j; i++)
		if (pthread_create(&t[i], NULL, worker, NULL)) {
			fprintf(stderr, "cms_verify_loop: pthread_create\n");
			exit(1);
		}
	for (int i = 0; i < j; i++)
		pthread_join(t[i], NULL);
	return loop_now() - t0;
}

/* NAME with NAME.sig beside it, both regular files. */
static void list_dir(void)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (!d) {
		perror(dir);
		exit(1);
	}
	while ((de = readdir(d))) {
		char p[4096];
		struct stat st;
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' ||
		    (len > 4 && !strcmp(de->d_name + len - 4, ".sig")))
			continue;
		snprintf(p, sizeof(p), "%s/%s.sig", dir, de->d_name);
		if (stat(p, &st) || !S_ISREG(st.st_mode))
			continue;
		if (nnames == cap) {
			cap = cap ? cap * 2 : 1024;
			names = realloc(names, cap * sizeof(*names));
			if (!names)
				exit(1);
		}
		names[nnames++] = strdup(de->d_name);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	const char *ca = NULL, *mode = "sig";
	int j = (int)sysconf(_SC_NPROCESSORS_ONLN), warm = 0, c;
	double secs;

	while ((c = getopt(argc, argv, "a:j:m:w")) != -1) {
		switch (c) {
		case 'a':
			ca = optarg;
			break;
		case 'j':
			j = atoi(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		case 'w':
			warm = 1;
			break;
		default:
			goto usage;
		}
	}
	if (!ca || optind != argc - 1 || j < 1 || j > MAX_THREADS ||
	    (strcmp(mode, "sig") && strcmp(mode, "chain")))
		goto usage;
	dir = argv[optind];
	if (!strcmp(mode, "sig"))
		flags |= CMS_NO_SIGNER_CERT_VERIFY;
	store = X509_STORE_new();
	if (!store || X509_STORE_load_file(store, ca) != 1) {
		fprintf(stderr, "cms_verify_loop: cannot load %s\n", ca);
		return 1;
	}
	/* The signer has the codeSigning EKU, not emailProtection. */
	X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
	list_dir();
	if (!nnames) {
		fprintf(stderr, "cms_verify_loop: no signed files in %s\n",
			dir);
		return 1;
	}
	if (warm)
		pass(j);
	secs = pass(j);
	if (bad) {
		fprintf(stderr, "cms_verify_loop: %ld of %zu did not verify\n",
			bad, nnames);
		return 1;
	}
	printf("cms_verify_loop: %zu files, %d threads, %s, %.3f s, %.0f/s\n",
	       nnames, j, mode, secs, (double)nnames / secs);
	return 0;
usage:
	fprintf(stderr, "usage: cms_verify_loop -a CA.pem [-j THREADS] "
			"[-m sig|chain] [-w] DIR\n");
	return 2;
}
