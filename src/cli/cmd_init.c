// SPDX-License-Identifier: Apache-2.0
/* signetfs init: a SoftHSM token and key, a development CA, a config. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/p11-kit.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "signetfs/config.h"
#include "signetfs/hsm.h"
#include "signetfs/util.h"

#define KEY_LABEL "signing-key"
#define PIN_BYTES 8		/* 16 hex digits */

struct init_opts {
	const char *dir;
	const char *module;	/* NULL: the default, or EXISTING's */
	const char *label;	/* NULL: "signetfs" */
	const char *join;	/* EXISTING, or NULL */
	bool rsa;
	bool force;
};

/*
 * What --join takes from EXISTING: its token store and its development
 * CA. The token directory is locked (flock) from the label check to the
 * end, so two joins cannot both take a label, and a failed join can tell
 * the token directory it made from the ones that were there.
 */
struct join {
	char *abs;		/* realpath(EXISTING) */
	char *conf;		/* abs/softhsm2.conf */
	char *module;		/* from abs/signetfs.conf */
	char *tokendir;		/* directories.tokendir of conf */
	int store_fd;		/* tokendir, flock()ed */
	char **before;		/* its entries before C_InitToken */
	size_t nbefore;
	EVP_PKEY *ca_key;
	X509 *ca;
};

/* Everything init creates, and so everything --force may remove. */
static const char *const init_files[] = {
	"softhsm2.conf", "pin", "ca.key", "ca.pem", "signer.pem", "crl.pem",
	"signetfs.conf",
};

struct p11 {
	void *dl;
	CK_FUNCTION_LIST_PTR f;
	CK_SESSION_HANDLE s;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: signetfs init DIR [--key-type ec-p256|rsa-3072] "
		"[--label LABEL]\n"
		"                     [--module PATH] [--force]\n"
		"       signetfs init DIR --join EXISTING --label LABEL "
		"[--key-type TYPE]\n"
		"                     [--module PATH] [--force]\n\n"
		"Create DIR (mode 0700) with a SoftHSM token holding a new "
		"signing key,\na development CA (ca.pem, ca.key), a signer "
		"certificate for the key\n(signer.pem), an empty CRL "
		"(crl.pem) and signetfs.conf.\n\n"
		"With --join, the new token LABEL goes into the token store "
		"of EXISTING (an\nearlier init), whose CA issues its "
		"certificate: one process can then use\nboth keys, which "
		"share one SOFTHSM2_CONF. DIR gets pin, signer.pem,\n"
		"ca.pem (a copy) and signetfs.conf. A process that has "
		"EXISTING's module\nloaded sees the new token after a "
		"restart.\n\n"
		"  --key-type TYPE  ec-p256 (default) or rsa-3072\n"
		"  --label LABEL    token label (default: signetfs); with "
		"--join, required\n"
		"                   and not yet in EXISTING's store\n"
		"  --join EXISTING  add a token to EXISTING's store and CA\n"
		"  --module PATH    PKCS#11 module (default: %s,\n"
		"                   with --join EXISTING's)\n"
		"  --force          replace what an earlier init created in "
		"DIR\n",
		SFS_DEFAULT_MODULE);
}

/* ---- files ----------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag,
		    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Remove what init creates in DIR, and nothing else. */
static int remove_ours(int dfd, const char *dir)
{
	char tokens[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(init_files); i++)
		if (unlinkat(dfd, init_files[i], 0) < 0 && errno != ENOENT)
			return -errno;
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	if (nftw(tokens, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

static bool dir_is_empty(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	bool empty = true;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/*
 * Create or take over DIR; *abs gets its absolute path. JOINED is
 * EXISTING's absolute path with --join: DIR must not be it, for a
 * failure cleans up in DIR. *abs stays NULL until DIR may be cleaned.
 */
static int prepare_dir(const struct init_opts *o, const char *joined,
		       int *dfd, char **abs, bool *created)
{
	char *real;
	int ret;

	*created = mkdir(o->dir, 0700) == 0;
	if (!*created && errno != EEXIST) {
		ret = -errno;
		cli_error("init", "cannot create %s: %s", o->dir, strerror(-ret));
		return ret;
	}
	*dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd < 0) {
		ret = -errno;
		cli_error("init", "%s: %s", o->dir, strerror(-ret));
		return ret;
	}
	if (!*created && !dir_is_empty(*dfd) && !o->force) {
		cli_error("init", "%s exists and is not empty; use --force to "
			  "replace what an earlier init created there", o->dir);
		return -ENOTEMPTY;
	}
	real = realpath(o->dir, NULL);
	if (real && joined && !strcmp(real, joined)) {
		free(real);
		cli_error("init", "DIR and --join EXISTING are the same "
			  "directory; a new token needs a directory of its own");
		return -EINVAL;
	}
	*abs = real;
	if (!*abs || fchmod(*dfd, 0700) < 0) {
		ret = -errno;
		cli_error("init", "%s: %s", o->dir, strerror(-ret));
		return ret;
	}
	if (!*created && o->force) {
		ret = remove_ours(*dfd, *abs);
		if (ret) {
			cli_error("init", "cannot clear %s: %s", o->dir,
				  strerror(-ret));
			return ret;
		}
	}
	/* With --join the token lives in EXISTING's store. */
	if (!joined && mkdirat(*dfd, "tokens", 0700) < 0) {
		ret = -errno;
		cli_error("init", "%s/tokens: %s", o->dir, strerror(-ret));
		return ret;
	}
	return 0;
}

static int write_file(int dfd, const char *name, const void *buf, size_t len,
		      mode_t mode)
{
	int ret = sfs_write_atomic_at(dfd, name, buf, len, mode, true);

	if (ret)
		cli_error("init", "cannot write %s: %s", name, strerror(-ret));
	return ret;
}

/* Write what a PEM_write_bio_* call produced. */
static int write_bio(int dfd, const char *name, BIO *b, mode_t mode)
{
	char *data;
	long len = BIO_get_mem_data(b, &data);

	return write_file(dfd, name, data, (size_t)len, mode);
}

/* ---- token ----------------------------------------------------------- */

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

static void pin_free(char *pin)
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
static int find_slot(struct p11 *p, const unsigned char *want,
		     CK_SLOT_ID *out)
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
	char label[] = KEY_LABEL;
	CK_BYTE id[16];
	CK_MECHANISM mech = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN
				 : CKM_EC_KEY_PAIR_GEN, NULL, 0};
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
		cli_error("init", "a token labelled '%s' already exists in "
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

/* Initialise the token, set a random user PIN, make the key pair. */
static int make_token(const char *module, const char *label, bool rsa,
		      bool *made, char **user_pin)
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
	rv = p.f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION,
				NULL, NULL, &p.s);
	if (rv == CKR_OK)
		rv = p.f->C_Login(p.s, CKU_SO, (CK_UTF8CHAR_PTR)so, strlen(so));
	if (rv == CKR_OK)
		rv = p.f->C_InitPIN(p.s, (CK_UTF8CHAR_PTR)pin, strlen(pin));
	if (rv == CKR_OK)
		rv = p.f->C_Logout(p.s);
	if (rv == CKR_OK)
		rv = p.f->C_Login(p.s, CKU_USER, (CK_UTF8CHAR_PTR)pin,
				  strlen(pin));
	if (rv != CKR_OK) {
		ret = ckr_fail("setting the user PIN", rv);
		goto out;
	}
	ret = gen_keypair(&p, rsa);
	if (!ret) {
		*user_pin = pin;
		pin = NULL; /* transferred */
	}
out:
	p11_unload(&p);
	pin_free(so);
	pin_free(pin);
	return ret;
}

/* ---- CA, certificates, CRL -------------------------------------------- */

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

static int set_serial(X509 *x)
{
	BIGNUM *bn = BN_new();
	int ok = bn && BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
		 BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));

	BN_free(bn);
	return ok ? 0 : -EIO;
}

struct ext_def {
	int nid;
	const char *v;
};

/*
 * A certificate for PUB named CN, signed by ISSUER_KEY (ISSUER NULL:
 * self-signed). EXT is {nid, value} pairs; SKI comes before AKI so a
 * self-signed AKI can refer to it. Valid from an hour ago, for DAYS.
 */
static X509 *make_cert(const char *cn, EVP_PKEY *pub, X509 *issuer,
		       EVP_PKEY *issuer_key, long days,
		       const struct ext_def *ext, size_t next)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	int ok;

	ok = x && name && X509_set_version(x, X509_VERSION_3) &&
	     !set_serial(x) &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) &&
	     X509_set_subject_name(x, name) &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer)
					    : name) &&
	     X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	     X509_time_adj_ex(X509_getm_notAfter(x), (int)days, -3600, NULL) &&
	     X509_set_pubkey(x, pub);
	for (size_t i = 0; ok && i < next; i++)
		ok = !add_ext(x, issuer ? issuer : x, ext[i].nid, ext[i].v);
	ok = ok && X509_sign(x, issuer_key, EVP_sha256()) > 0;
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static X509 *make_ca(EVP_PKEY *ca_key)
{
	static const struct ext_def ext[] = {
		{NID_basic_constraints, "critical,CA:TRUE"},
		{NID_key_usage, "critical,keyCertSign,cRLSign"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
	};

	return make_cert("signetfs development CA", ca_key, NULL, ca_key,
			 3650, ext, ARRAY_SIZE(ext));
}

static X509 *make_signer(const char *cn, EVP_PKEY *pub, X509 *ca,
			 EVP_PKEY *ca_key)
{
	static const struct ext_def ext[] = {
		{NID_basic_constraints, "critical,CA:FALSE"},
		{NID_key_usage, "critical,digitalSignature"},
		{NID_ext_key_usage, "codeSigning"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
	};

	return make_cert(cn, pub, ca, ca_key, 730, ext, ARRAY_SIZE(ext));
}

/* An empty CRL, so revocation checks can be switched on from day one. */
static X509_CRL *make_crl(X509 *ca, EVP_PKEY *ca_key)
{
	X509_CRL *crl = X509_CRL_new();
	ASN1_TIME *now = ASN1_TIME_adj(NULL, time(NULL), 0, 0);
	ASN1_TIME *next = ASN1_TIME_adj(NULL, time(NULL), 30, 0);
	ASN1_INTEGER *num = ASN1_INTEGER_new();
	X509_EXTENSION *aki = NULL;
	X509V3_CTX ctx;
	int ok;

	X509V3_set_ctx(&ctx, ca, NULL, NULL, crl, 0);
	ok = crl && now && next && num && ASN1_INTEGER_set(num, 1) &&
	     X509_CRL_set_version(crl, X509_CRL_VERSION_2) &&
	     X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca)) &&
	     X509_CRL_set1_lastUpdate(crl, now) &&
	     X509_CRL_set1_nextUpdate(crl, next) &&
	     (aki = X509V3_EXT_nconf_nid(NULL, &ctx,
					 NID_authority_key_identifier,
					 "keyid:always")) &&
	     X509_CRL_add_ext(crl, aki, -1) &&
	     X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) &&
	     X509_CRL_sign(crl, ca_key, EVP_sha256()) > 0;
	X509_EXTENSION_free(aki);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(now);
	ASN1_TIME_free(next);
	if (!ok) {
		X509_CRL_free(crl);
		return NULL;
	}
	return crl;
}

/* Sign and verify once: the config init writes is proven to work. */
static int self_test(struct hsm *h, struct sfs_error *err)
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
	EVP_MD_CTX_reset(md);	/* drops its key reference before end */
	hsm_sign_end(h, !ok);
	ok = ok && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
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

/* ---- config and summary ----------------------------------------------- */

/* RFC 7512 percent-encoding of a token label for token=. */
static void uri_escape(const char *in, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			*out++ = (char)c;
		} else {
			*out++ = '%';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		}
	}
	*out = '\0';
}

/* SOFTHSM: softhsm2.conf, or with --join EXISTING's (absolute). */
static int write_config(int dfd, const char *module, const char *softhsm,
			const char *uri)
{
	char buf[PATH_MAX + 2048];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "# Written by signetfs init; paths are relative to this "
		     "file.\n[signetfs]\nmodule = %s\n"
		     "softhsm-conf = %s\nkey = %s\n"
		     "pin-file = pin\ncert = signer.pem\ntrust = ca.pem\n"
		     "audit-log = audit.log\n", module, softhsm, uri);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return write_file(dfd, "signetfs.conf", buf, (size_t)n, 0644);
}

static int write_softhsm_conf(int dfd, const char *abs)
{
	char buf[PATH_MAX + 256];
	int n;

	/* SoftHSM resolves a relative tokendir against the cwd. */
	n = snprintf(buf, sizeof(buf),
		     "# Written by signetfs init.\n"
		     "directories.tokendir = %s/tokens\n"
		     "objectstore.backend = file\nlog.level = ERROR\n"
		     "slots.removable = false\n", abs);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return write_file(dfd, "softhsm2.conf", buf, (size_t)n, 0644);
}

/* CA_KEY: where the CA key is, DIR's own or EXISTING's. */
static void summary(const char *abs, const char *ca_key, struct hsm *h,
		    X509 *signer, bool rsa)
{
	unsigned char md[32];
	unsigned int len = sizeof(md);
	char hex[65];

	X509_digest(signer, EVP_sha256(), md, &len);
	sfs_hex(md, sizeof(md), hex);
	printf("signetfs: initialised %s\n"
	       "  config   %s/signetfs.conf\n"
	       "  token    serial %s, %s key '%s'\n"
	       "  key      %s\n"
	       "  CA       %s/ca.pem (key %s, keep it off servers)\n"
	       "  signer   %s/signer.pem\n"
	       "  sha256   %s\n",
	       abs, abs, hsm_token_serial(h), rsa ? "RSA-3072" : "EC P-256",
	       KEY_LABEL, hsm_key_uri(h), abs, ca_key, abs, hex);
}

/* ---- --join ----------------------------------------------------------- */

/* directories.tokendir of a softhsm2.conf ("key = value" lines). */
static char *softhsm_tokendir(const char *conf)
{
	static const char key[] = "directories.tokendir";
	char line[PATH_MAX + 64], *dir = NULL;
	FILE *f = fopen(conf, "re");

	if (!f)
		return NULL;
	while (!dir && fgets(line, sizeof(line), f)) {
		char *v = line + strspn(line, " \t"), *end;

		if (strncmp(v, key, sizeof(key) - 1))
			continue;
		v += sizeof(key) - 1;
		v += strspn(v, " \t");
		if (*v++ != '=')
			continue;
		v += strspn(v, " \t");
		end = v + strcspn(v, "\r\n");
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = '\0';
		if (*v)
			dir = strdup(v);
	}
	fclose(f);
	return dir;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The entries of the token directory FD. */
static int store_list(int fd, char ***out, size_t *nout)
{
	int dfd = dup(fd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *e;
	char **v = NULL, **nv;
	size_t n = 0;
	int ret = 0;

	if (!d) {
		ret = -errno;
		if (dfd >= 0)
			close(dfd);
		return ret;
	}
	rewinddir(d);	/* the dup shares the offset of an earlier listing */
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv) {
			ret = -ENOMEM;
			break;
		}
		v = nv;
		if (!(v[n] = strdup(e->d_name))) {
			ret = -ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (ret) {
		names_free(v, n);
		return ret;
	}
	*out = v;
	*nout = n;
	return 0;
}

/*
 * After a failed join: remove what C_InitToken added to the store
 * (SoftHSM keeps each token in a directory of its own), so the label
 * can be used again. The lock kept other joins out meanwhile; tools
 * such as softhsm2-util do not take it.
 */
static void store_undo(const struct join *j)
{
	char **now = NULL, path[PATH_MAX];
	size_t n = 0;

	if (store_list(j->store_fd, &now, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		bool old = false;

		for (size_t k = 0; k < j->nbefore && !old; k++)
			old = !strcmp(now[i], j->before[k]);
		if (old)
			continue;
		snprintf(path, sizeof(path), "%s/%s", j->tokendir, now[i]);
		if (nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0)
			cli_error("init", "cannot remove the new token %s: %s",
				  path, strerror(errno));
	}
	names_free(now, n);
}

/* EXISTING's CA: the key must be the certificate's. */
static int join_ca(struct join *j)
{
	char p[PATH_MAX];
	FILE *f;

	snprintf(p, sizeof(p), "%s/ca.key", j->abs);
	f = fopen(p, "re");
	if (f) {
		j->ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (j->ca_key) {
		snprintf(p, sizeof(p), "%s/ca.pem", j->abs);
		f = fopen(p, "re");
		if (f) {
			j->ca = PEM_read_X509(f, NULL, NULL, NULL);
			fclose(f);
		}
	}
	if (!j->ca || X509_check_private_key(j->ca, j->ca_key) != 1) {
		cli_error("init", "cannot use the development CA of %s: %s is "
			  "missing, unreadable or not ca.pem's key", j->abs, p);
		ERR_clear_error();
		return -EINVAL;
	}
	return 0;
}

/* EXISTING's module: the store is in that module's format. */
static int join_module(struct join *j)
{
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/signetfs.conf", j->abs);
	if (config_load(p, &cfg, &err)) {
		cli_error("init", "%s (or name the module with --module)",
			  err.msg);
		return -EINVAL;
	}
	j->module = strdup(cfg->key.module ? cfg->key.module
					   : SFS_DEFAULT_MODULE);
	config_free(cfg);
	return j->module ? 0 : -ENOMEM;
}

/* Take what --join needs from EXISTING, and lock its token store. */
static int join_open(const struct init_opts *o, struct join *j)
{
	int ret;

	j->abs = realpath(o->join, NULL);
	if (!j->abs) {
		ret = -errno;
		cli_error("init", "--join %s: %s", o->join, strerror(-ret));
		return ret;
	}
	if (asprintf(&j->conf, "%s/softhsm2.conf", j->abs) < 0) {
		j->conf = NULL;
		return -ENOMEM;
	}
	j->tokendir = softhsm_tokendir(j->conf);
	if (!j->tokendir) {
		cli_error("init", "%s names no directories.tokendir: is %s "
			  "a directory that signetfs init made?", j->conf,
			  o->join);
		return -EINVAL;
	}
	ret = join_ca(j);
	if (!ret && !o->module)
		ret = join_module(j);
	if (ret)
		return ret;
	j->store_fd = open(j->tokendir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->store_fd < 0 || flock(j->store_fd, LOCK_EX) < 0) {
		ret = -errno;
		cli_error("init", "token store %s: %s", j->tokendir,
			  strerror(-ret));
		return ret;
	}
	return store_list(j->store_fd, &j->before, &j->nbefore);
}

static void join_close(struct join *j)
{
	if (j->store_fd >= 0)
		close(j->store_fd);	/* and so unlock */
	names_free(j->before, j->nbefore);
	EVP_PKEY_free(j->ca_key);
	X509_free(j->ca);
	free(j->abs);
	free(j->conf);
	free(j->module);
	free(j->tokendir);
}

/* With --join: a signer certificate from EXISTING's CA, and its ca.pem. */
static int join_pki(int dfd, const struct join *j, struct hsm *h,
		    const char *label, X509 **signer_out)
{
	char cn[64], p[PATH_MAX];
	BIO *b = BIO_new(BIO_s_mem());
	X509 *signer = NULL;
	uint8_t *ca = NULL;
	size_t len = 0;
	int ret = -EIO;

	snprintf(cn, sizeof(cn), "signetfs signer %s", label);
	if (b)
		signer = make_signer(cn, hsm_public_key(h), j->ca, j->ca_key);
	if (!signer || !PEM_write_bio_X509(b, signer)) {
		cli_error("init", "cannot issue the signer certificate");
		ERR_print_errors_fp(stderr);
		goto out;
	}
	/* A byte copy: ca.pem may be a bundle that verifiers trust whole. */
	snprintf(p, sizeof(p), "%s/ca.pem", j->abs);
	ret = sfs_read_file_at(AT_FDCWD, p, 1 << 20, &ca, &len);
	if (ret) {
		cli_error("init", "cannot read %s: %s", p, strerror(-ret));
		goto out;
	}
	ret = write_file(dfd, "ca.pem", ca, len, 0644);
	if (!ret)
		ret = write_bio(dfd, "signer.pem", b, 0644);
	if (!ret) {
		*signer_out = signer;
		signer = NULL; /* transferred */
	}
out:
	free(ca);
	BIO_free(b);
	X509_free(signer);
	return ret;
}

/* ---- the command ------------------------------------------------------ */

static int parse_opts(int argc, char **argv, struct init_opts *o)
{
	static const struct option lo[] = {
		{"key-type", required_argument, NULL, 't'},
		{"label", required_argument, NULL, 'l'},
		{"module", required_argument, NULL, 'm'},
		{"join", required_argument, NULL, 'j'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fh", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!strcmp(optarg, "rsa-3072"))
				o->rsa = true;
			else if (strcmp(optarg, "ec-p256"))
				goto bad;
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'm':
			o->module = optarg;
			break;
		case 'j':
			o->join = optarg;
			break;
		case 'f':
			o->force = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1)
		goto bad;
	o->dir = argv[optind];
	if (o->join && !o->label) {
		/* The default label is most likely EXISTING's own. */
		cli_error("init", "--join needs --label, a label that is new "
			  "in %s's token store", o->join);
		return -EINVAL;
	}
	if (!o->label)
		o->label = "signetfs";
	if (!o->join && !o->module)
		o->module = SFS_DEFAULT_MODULE;
	if (!*o->label || strlen(o->label) > 32) {
		cli_error("init", "--label must be 1 to 32 bytes");
		return -EINVAL;
	}
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

/* Write the CA, the signer certificate and the CRL. */
static int make_pki(int dfd, struct hsm *h, X509 **signer_out)
{
	EVP_PKEY *ca_key = EVP_EC_gen("P-256");
	X509 *ca = NULL, *signer = NULL;
	X509_CRL *crl = NULL;
	BIO *bk = BIO_new(BIO_s_mem()), *bc = BIO_new(BIO_s_mem());
	BIO *bs = BIO_new(BIO_s_mem()), *bl = BIO_new(BIO_s_mem());
	int ret = -EIO;

	if (ca_key)
		ca = make_ca(ca_key);
	if (ca)
		signer = make_signer("signetfs signer", hsm_public_key(h), ca,
				     ca_key);
	if (signer)
		crl = make_crl(ca, ca_key);
	if (!crl || !bk || !bc || !bs || !bl ||
	    !PEM_write_bio_PrivateKey(bk, ca_key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_bio_X509(bc, ca) || !PEM_write_bio_X509(bs, signer) ||
	    !PEM_write_bio_X509_CRL(bl, crl)) {
		cli_error("init", "cannot make the development CA");
		ERR_print_errors_fp(stderr);
		goto out;
	}
	ret = write_bio(dfd, "ca.key", bk, 0600);
	if (!ret)
		ret = write_bio(dfd, "ca.pem", bc, 0644);
	if (!ret)
		ret = write_bio(dfd, "signer.pem", bs, 0644);
	if (!ret)
		ret = write_bio(dfd, "crl.pem", bl, 0644);
	if (!ret) {
		*signer_out = signer;
		signer = NULL; /* transferred */
	}
out:
	BIO_free(bk);	/* BIO_free does not wipe: */
	BIO_free(bc);	/* the CA key is a development key, stored in DIR. */
	BIO_free(bs);
	BIO_free(bl);
	X509_CRL_free(crl);
	X509_free(signer);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
	return ret;
}

/*
 * Without --join: DIR/softhsm2.conf for DIR's own store. With it,
 * EXISTING's, which the new signetfs.conf names by absolute path.
 */
static int store_conf(int dfd, const char *abs, const struct join *j,
		      char **conf_path)
{
	int ret = 0;

	if (j->abs) {
		*conf_path = strdup(j->conf);
	} else {
		ret = write_softhsm_conf(dfd, abs);
		if (!ret && asprintf(conf_path, "%s/softhsm2.conf", abs) < 0)
			*conf_path = NULL;
	}
	if (!ret && !*conf_path)
		ret = -ENOMEM;
	if (!ret && setenv("SOFTHSM2_CONF", *conf_path, 1) < 0)
		ret = -errno;
	return ret;
}

int cmd_init(int argc, char **argv)
{
	struct init_opts o = {0};
	struct join j = {.store_fd = -1};
	struct sfs_error err = {0};
	struct hsm *h = NULL;
	X509 *signer = NULL;
	char *abs = NULL, *pin = NULL, *pin_path = NULL, *conf_path = NULL;
	char label_enc[3 * 32 + 1], uri[256], ca_key[PATH_MAX + 8];
	bool created = false, made = false;
	int dfd = -1, ret, code = SFS_EXIT_USAGE;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret > 0 ? SFS_EXIT_OK : SFS_EXIT_USAGE;
	if (o.join) {
		ret = join_open(&o, &j);
		if (ret)
			goto out;
		if (!o.module)
			o.module = j.module;
	}
	ret = prepare_dir(&o, j.abs, &dfd, &abs, &created);
	if (ret) {
		/* Never clean up a directory we were told not to touch. */
		if (ret == -ENOTEMPTY) {
			close(dfd);
			dfd = -1;
		}
		goto out;
	}
	ret = store_conf(dfd, abs, &j, &conf_path);
	if (!ret && asprintf(&pin_path, "%s/pin", abs) < 0) {
		pin_path = NULL;
		ret = -ENOMEM;
	}
	if (ret)
		goto out;
	code = SFS_EXIT_TOKEN;
	ret = make_token(o.module, o.label, o.rsa, &made, &pin);
	if (ret) {
		if (ret == -EEXIST)
			code = SFS_EXIT_USAGE;
		goto out;
	}
	code = SFS_EXIT_USAGE;
	ret = write_file(dfd, "pin", pin, strlen(pin), 0600);
	if (ret)
		goto out;
	uri_escape(o.label, label_enc);
	snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=" KEY_LABEL
		 ";type=private", label_enc);
	code = SFS_EXIT_TOKEN;
	ret = hsm_open(&(struct hsm_config){.module = o.module,
					    .key_uri = uri,
					    .pin_file = pin_path,
					    .softhsm_conf = conf_path},
		       &h, &err);
	if (!ret)
		ret = self_test(h, &err);
	if (ret) {
		cli_error("init", "%s", err.msg);
		goto out;
	}
	code = SFS_EXIT_USAGE;
	if (o.join)
		ret = join_pki(dfd, &j, h, o.label, &signer);
	else
		ret = make_pki(dfd, h, &signer);
	if (!ret)
		ret = write_config(dfd, o.module,
				   o.join ? j.conf : "softhsm2.conf", uri);
	if (!ret) {
		snprintf(ca_key, sizeof(ca_key), "%s/ca.key",
			 o.join ? j.abs : abs);
		summary(abs, ca_key, h, signer, o.rsa);
	}
out:
	/* The module is finalised with h: SoftHSM has let go of the store. */
	hsm_close(h);
	if (ret == -ENOMEM)
		cli_error("init", "out of memory");
	if (ret && made && o.join)
		store_undo(&j);
	if (ret && dfd >= 0 && abs) {
		remove_ours(dfd, abs);
		if (created)
			rmdir(abs);
	}
	if (dfd >= 0)
		close(dfd);
	join_close(&j);
	pin_free(pin);
	X509_free(signer);
	free(abs);
	free(pin_path);
	free(conf_path);
	return ret ? code : SFS_EXIT_OK;
}
