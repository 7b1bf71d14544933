// SPDX-License-Identifier: Apache-2.0
/* The token's own signing rate: C_SignInit + C_Sign in a loop, no signetfs. */
/*
 * scripts/bench compares `signetfs sign` with this loop on the same key of
 * the same token in the same run (issue 17, target 3). It talks PKCS#11
 * directly (dlopen of the module, as a vendor's test tool would), so
 * nothing of libp11, OpenSSL or CMS is in the figure: one session per
 * thread, one login, the key found once, then C_SignInit(CKM_ECDSA or
 * CKM_RSA_PKCS) + C_Sign of a 32-byte (SHA-256 sized) digest.
 *
 *   p11_sign_loop -m MODULE -t TOKEN_LABEL -k KEY_LABEL -p PIN_FILE
 *                 [-j THREADS] [-n SIGNATURES] [-w WARMUP]
 *
 * SOFTHSM2_CONF (or the fault module's P11FAULT_*) come from the
 * environment. Prints one line:
 *   p11_sign_loop: N signatures, J threads, T s, R/s
 * Exit 0, or 1 with a message naming the call that failed.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#include "loop.h"

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID slot;
static CK_OBJECT_HANDLE key;
static CK_MECHANISM mech;
static long todo;   /* atomic: signatures left to make */
static long failed; /* atomic */

static void die(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11_sign_loop: %s: CK_RV 0x%lx\n", what,
		(unsigned long)rv);
	exit(1);
}

/* Token labels are blank-padded to 32 bytes, not NUL-terminated. */
static int label_eq(const CK_UTF8CHAR *padded, size_t len, const char *want)
{
	size_t n = strlen(want);

	if (n > len || memcmp(padded, want, n))
		return 0;
	for (size_t i = n; i < len; i++)
		if (padded[i] != ' ')
			return 0;
	return 1;
}

static void find_slot(const char *token)
{
	CK_SLOT_ID ids[64];
	CK_ULONG n = 64;
	CK_RV rv = p11->C_GetSlotList(CK_TRUE, ids, &n);

	if (rv != CKR_OK)
		die("C_GetSlotList", rv);
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO ti;

		if (p11->C_GetTokenInfo(ids[i], &ti) == CKR_OK &&
		    label_eq(ti.label, sizeof(ti.label), token)) {
			slot = ids[i];
			return;
		}
	}
	fprintf(stderr, "p11_sign_loop: no token '%s'\n", token);
	exit(1);
}

static void find_key(CK_SESSION_HANDLE s, const char *label)
{
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_ATTRIBUTE tmpl[] = {
	    {CKA_CLASS, &cls, sizeof(cls)},
	    {CKA_LABEL, (void *)label, strlen(label)},
	};
	CK_KEY_TYPE kt;
	CK_ATTRIBUTE ta = {CKA_KEY_TYPE, &kt, sizeof(kt)};
	CK_ULONG n = 0;
	CK_RV rv;

	rv = p11->C_FindObjectsInit(s, tmpl, 2);
	if (rv != CKR_OK)
		die("C_FindObjectsInit", rv);
	rv = p11->C_FindObjects(s, &key, 1, &n);
	p11->C_FindObjectsFinal(s);
	if (rv != CKR_OK || n != 1) {
		fprintf(stderr, "p11_sign_loop: no private key '%s'\n", label);
		exit(1);
	}
	rv = p11->C_GetAttributeValue(s, key, &ta, 1);
	if (rv != CKR_OK)
		die("C_GetAttributeValue(CKA_KEY_TYPE)", rv);
	mech.mechanism = kt == CKK_EC ? CKM_ECDSA : CKM_RSA_PKCS;
}

/* Sign until the shared budget runs out; one session per thread. */
static void *signer(void *arg)
{
	/* DER DigestInfo prefix for SHA-256, then the 32 digest bytes. */
	static const CK_BYTE rsa_prefix[19] = {
	    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
	    0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20};
	CK_BYTE data[51] = {0}, sig[1024];
	uint64_t k = (uint64_t)(uintptr_t)&k;
	CK_BYTE *dgst = data;
	CK_ULONG dlen = 32;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	(void)arg;
	if (mech.mechanism == CKM_RSA_PKCS) {
		memcpy(data, rsa_prefix, sizeof(rsa_prefix));
		dgst = data + sizeof(rsa_prefix);
		dlen = sizeof(data);
	}
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv != CKR_OK)
		die("C_OpenSession", rv);
	while (__atomic_sub_fetch(&todo, 1, __ATOMIC_RELAXED) >= 0) {
		CK_ULONG slen = sizeof(sig);

		/* A different digest each time, as files would give. */
		memcpy(dgst, &slen, sizeof(slen));
		memcpy(dgst + 8, &k, sizeof(k));
		k++;
		rv = p11->C_SignInit(s, &mech, key);
		if (rv == CKR_OK)
			rv = p11->C_Sign(s, data, dlen, sig, &slen);
		if (rv != CKR_OK)
			__atomic_add_fetch(&failed, 1, __ATOMIC_RELAXED);
	}
	p11->C_CloseSession(s);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: p11_sign_loop -m MODULE -t TOKEN -k KEY_LABEL "
		"-p PIN_FILE [-j THREADS] [-n SIGNATURES] [-w WARMUP]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *module = NULL, *token = NULL, *label = NULL, *pinf = NULL;
	CK_C_GetFunctionList get;
	CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK};
	CK_SESSION_HANDLE login;
	long n = 2000, warm = 200;
	int j = (int)sysconf(_SC_NPROCESSORS_ONLN), c;
	char pin[256];
	double secs;
	void *dl;
	CK_RV rv;

	while ((c = getopt(argc, argv, "m:t:k:p:j:n:w:")) != -1) {
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
	if (!module || !token || !label || !pinf || j < 1 ||
	    j > LOOP_MAX_THREADS || n < 1 || warm < 0)
		usage();
	dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		fprintf(stderr, "p11_sign_loop: %s\n", dlerror());
		return 1;
	}
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (!get || (rv = get(&p11)) != CKR_OK) {
		fprintf(stderr, "p11_sign_loop: no C_GetFunctionList\n");
		return 1;
	}
	rv = p11->C_Initialize(&ia);
	if (rv != CKR_OK)
		die("C_Initialize", rv);
	find_slot(token);
	loop_read_pin(pinf, pin, sizeof(pin));
	rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &login);
	if (rv != CKR_OK)
		die("C_OpenSession", rv);
	rv = p11->C_Login(login, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		die("C_Login", rv);
	find_key(login, label);
	if (warm)
		loop_run(
		    "p11_sign_loop", &todo, warm, j,
		    signer); /* untimed: wake the VM's memory, fill caches */
	secs = loop_run("p11_sign_loop", &todo, n, j, signer);
	if (failed) {
		fprintf(stderr, "p11_sign_loop: %ld signatures failed\n",
			failed);
		return 1;
	}
	printf("p11_sign_loop: %ld signatures, %d threads, %.3f s, %.0f/s\n", n,
	       j, secs, (double)n / secs);
	p11->C_Logout(login);
	p11->C_CloseSession(login);
	p11->C_Finalize(NULL);
	return 0;
}
