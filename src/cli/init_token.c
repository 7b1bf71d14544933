// SPDX-License-Identifier: Apache-2.0
/* signetfs init: a new PKCS#11 token, its PINs and its signing key pair. */
#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/p11-kit.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli.h"
#include "init.h"
#include "signetfs/hsm.h"
#include "signetfs/util.h"

#define PIN_BYTES 8 /* 16 hex digits */

struct p11 {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	CK_SESSION_HANDLE s;
};

/* The one place where init turns a CK_RV into a message. */
static int ckr_fail(const char *what, CK_RV rv)
{
	cli_error("init", "%s failed: %s (CKR 0x%lx)", what,
		  p11_kit_strerror(rv), (unsigned long)rv);
	return -EIO;
}

/* Random hex in the secure heap: user and SO PINs. */
static char *random_pin(void)
{
	unsigned char raw[PIN_BYTES];
	char *pin = OPENSSL_secure_malloc(2 * PIN_BYTES + 1);

	if (pin && RAND_bytes(raw, sizeof(raw)) == 1) {
		sfs_hex(raw, sizeof(raw), pin);
		OPENSSL_cleanse(raw, sizeof(raw));
		return pin;
	}
	OPENSSL_secure_free(pin);
	return NULL;
}

void init_pin_free(char *pin)
{
	if (pin)
		OPENSSL_secure_clear_free(pin, strlen(pin) + 1);
}

static int p11_load(struct p11 *p, const char *module)
{
	CK_C_GetFunctionList get;
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	CK_RV rv;

	p->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!p->dl) {
		cli_error("init", "cannot load PKCS#11 module %s: %s", module,
			  dlerror());
		return -ENOENT;
	}
	get = (CK_C_GetFunctionList)dlsym(p->dl, "C_GetFunctionList");
	if (!get) {
		cli_error("init", "%s is not a PKCS#11 module", module);
		return -ENOEXEC;
	}
	rv = get(&p->f);
	if (rv != CKR_OK)
		return ckr_fail("C_GetFunctionList", rv);
	rv = p->f->C_Initialize(&args);
	if (rv != CKR_OK) {
		p->f = NULL;
		return ckr_fail("C_Initialize", rv);
	}
	return 0;
}

static void p11_unload(struct p11 *p)
{
	if (p->f) {
		/* Closes the session and logs out, too. */
		p->f->C_Finalize(NULL);
	}
	if (p->dl)
		dlclose(p->dl);
	memset(p, 0, sizeof(*p));
}

/*
 * A slot with an uninitialised token (want == NULL) or the token
 * labelled want; -ENODEV if there is none. SoftHSM gives a token a new
 * slot ID in C_InitToken, so the initialised token is found again by
 * its label. SoftHSM always keeps one free slot after its tokens.
 */
static int find_slot(struct p11 *p, const unsigned char *want, CK_SLOT_ID *out)
{
	CK_SLOT_ID *slots = NULL;
	CK_ULONG n = 0;
	CK_TOKEN_INFO ti;
	CK_RV rv;
	int ret = -ENODEV;

	rv = p->f->C_GetSlotList(CK_TRUE, NULL, &n);
	if (rv == CKR_OK && n) {
		slots = calloc(n, sizeof(*slots));
		if (!slots)
			return -ENOMEM;
		rv = p->f->C_GetSlotList(CK_TRUE, slots, &n);
	}
	if (rv != CKR_OK) {
		free(slots);
		return ckr_fail("C_GetSlotList", rv);
	}
	for (CK_ULONG i = 0; i < n && ret; i++) {
		if (p->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		if (want ? (ti.flags & CKF_TOKEN_INITIALIZED) &&
			       !memcmp(ti.label, want, 32)
			 : !(ti.flags & CKF_TOKEN_INITIALIZED)) {
			*out = slots[i];
			ret = 0;
		}
	}
	free(slots);
	return ret;
}

static int gen_keypair(struct p11 *p, bool rsa)
{
	/* DER OID prime256v1 (1.2.840.10045.3.1.7). */
	static CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
				 0xce, 0x3d, 0x03, 0x01, 0x07};
	static CK_BYTE f4[] = {0x01, 0x00, 0x01};
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 3072;
	char label[] = INIT_KEY_LABEL;
	CK_BYTE id[16];
	CK_MECHANISM mech = {
	    rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
	CK_ATTRIBUTE pub[7] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &no, sizeof(no)},
	    {CKA_VERIFY, &yes, sizeof(yes)},
	    {CKA_LABEL, label, sizeof(label) - 1},
	    {CKA_ID, id, sizeof(id)},
	};
	CK_ATTRIBUTE priv[] = {
	    {CKA_TOKEN, &yes, sizeof(yes)},
	    {CKA_PRIVATE, &yes, sizeof(yes)},
	    {CKA_SENSITIVE, &yes, sizeof(yes)},
	    {CKA_EXTRACTABLE, &no, sizeof(no)},
	    {CKA_SIGN, &yes, sizeof(yes)},
	    {CKA_LABEL, label, sizeof(label) - 1},
	    {CKA_ID, id, sizeof(id)},
	};
	CK_OBJECT_HANDLE hpub, hpriv;
	CK_RV rv;

	if (RAND_bytes(id, sizeof(id)) != 1)
		return -EIO;
	if (rsa) {
		pub[5] = (CK_ATTRIBUTE){CKA_PUBLIC_EXPONENT, f4, sizeof(f4)};
		pub[6] = (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)};
	} else {
		pub[5] = (CK_ATTRIBUTE){CKA_EC_PARAMS, p256, sizeof(p256)};
	}
	rv = p->f->C_GenerateKeyPair(p->s, &mech, pub, rsa ? 7 : 6, priv,
				     ARRAY_SIZE(priv), &hpub, &hpriv);
	return rv == CKR_OK ? 0 : ckr_fail("C_GenerateKeyPair", rv);
}

/* The free slot, if LABEL is not taken yet: -EEXIST if it is. */
static int free_slot(struct p11 *p, const char *label,
		     const unsigned char *padded, CK_SLOT_ID *out)
{
	int ret = find_slot(p, padded, out);

	if (ret == 0) {
		cli_error("init",
			  "a token labelled '%s' already exists in "
			  "the token store of %s; choose another --label",
			  label, getenv("SOFTHSM2_CONF"));
		return -EEXIST;
	}
	if (ret != -ENODEV)
		return ret;
	ret = find_slot(p, NULL, out);
	if (ret == -ENODEV)
		cli_error("init", "no free token slot in the PKCS#11 module");
	return ret;
}

/*
 * Open a session on SLOT, set the user PIN as SO and log in as the user:
 * the key pair is generated in this session, which p11_unload() ends.
 */
static int set_user_pin(struct p11 *p, CK_SLOT_ID slot, const char *so,
			const char *pin)
{
	CK_RV rv;

	rv = p->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				 NULL, NULL, &p->s);
	if (rv == CKR_OK)
		rv = p->f->C_Login(p->s, CKU_SO, (CK_UTF8CHAR_PTR)so,
				   strlen(so));
	if (rv == CKR_OK)
		rv = p->f->C_InitPIN(p->s, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv == CKR_OK)
		rv = p->f->C_Logout(p->s);
	if (rv == CKR_OK)
		rv = p->f->C_Login(p->s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
				   strlen(pin));
	return rv == CKR_OK ? 0 : ckr_fail("setting the user PIN", rv);
}

/* Initialise the token, set a random user PIN, make the key pair. */
int init_make_token(const char *module, const char *label, bool rsa, bool *made,
		    char **user_pin)
{
	struct p11 p = {0};
	unsigned char padded[32];
	char *so = random_pin(), *pin = random_pin();
	CK_SLOT_ID slot;
	CK_RV rv;
	int ret = -ENOMEM;

	memset(padded, ' ', sizeof(padded));
	memcpy(padded, label, strlen(label));
	if (!so || !pin)
		goto out;
	ret = p11_load(&p, module);
	if (!ret)
		ret = free_slot(&p, label, padded, &slot);
	if (ret)
		goto out;
	/*
	 * The SO PIN is used once and never stored: it only re-initialises
	 * the token or resets the user PIN, and for this development token
	 * "init --force" does both. Storing it would put a second, stronger
	 * secret next to the first for no use.
	 */
	rv = p.f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so, strlen(so), padded);
	if (rv != CKR_OK) {
		ret = ckr_fail("C_InitToken", rv);
		goto out;
	}
	*made = true;
	ret = find_slot(&p, padded, &slot);
	if (ret) {
		cli_error("init", "token '%s' is not found after C_InitToken",
			  label);
		goto out;
	}
	ret = set_user_pin(&p, slot, so, pin);
	if (!ret)
		ret = gen_keypair(&p, rsa);
	if (!ret) {
		*user_pin = pin;
		pin = NULL; /* transferred */
	}
out:
	p11_unload(&p);
	init_pin_free(so);
	init_pin_free(pin);
	return ret;
}

/* Sign and verify once: the config init writes is proven to work. */
int init_self_test(struct hsm *h, struct sfs_error *err)
{
	static const unsigned char msg[] = "signetfs init self-test";
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY *key;
	int ret, ok;

	if (!md)
		return -ENOMEM;
	ret = hsm_sign_begin(h, &key, err);
	if (ret)
		goto out;
	ok = EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
	     EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)) == 1;
	EVP_MD_CTX_reset(md); /* drops its key reference before end */
	hsm_sign_end(h, !ok);
	ok = ok &&
	     EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
				  hsm_public_key(h)) == 1 &&
	     EVP_DigestVerify(md, sig, siglen, msg, sizeof(msg)) == 1;
	if (!ok) {
		ret = -EIO;
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "self-test: the new token key does not sign");
	}
out:
	EVP_MD_CTX_free(md);
	return ret;
}
