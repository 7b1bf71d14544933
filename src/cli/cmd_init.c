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
#include "signetfs/hsm.h"
#include "signetfs/util.h"

#define KEY_LABEL "signing-key"
#define PIN_BYTES 8		/* 16 hex digits */

struct init_opts {
	const char *dir;
	const char *module;
	const char *label;
	bool rsa;
	bool force;
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
		"                     [--module PATH] [--force]\n\n"
		"Create DIR (mode 0700) with a SoftHSM token holding a new "
		"signing key,\na development CA (ca.pem, ca.key), a signer "
		"certificate for the key\n(signer.pem), an empty CRL "
		"(crl.pem) and signetfs.conf.\n\n"
		"  --key-type TYPE  ec-p256 (default) or rsa-3072\n"
		"  --label LABEL    token label (default: signetfs)\n"
		"  --module PATH    PKCS#11 module (default: %s)\n"
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

/* Create or take over DIR; *abs gets its absolute path. */
static int prepare_dir(const struct init_opts *o, int *dfd, char **abs,
		       bool *created)
{
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
	*abs = realpath(o->dir, NULL);
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
	if (mkdirat(*dfd, "tokens", 0700) < 0) {
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
 * labelled want. SoftHSM gives a token a new slot ID in C_InitToken,
 * so the initialised token is found again by its label.
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
	if (ret)
		cli_error("init", "no %s token slot in the PKCS#11 module",
			  want ? "initialised signetfs" : "free");
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

/* Initialise the token, set a random user PIN, make the key pair. */
static int make_token(const char *module, const char *label, bool rsa,
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
		ret = find_slot(&p, NULL, &slot);
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
	ret = find_slot(&p, padded, &slot);
	if (ret)
		goto out;
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
	if (ret == -ENOMEM)
		cli_error("init", "out of memory");
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

static X509 *make_signer(EVP_PKEY *pub, X509 *ca, EVP_PKEY *ca_key)
{
	static const struct ext_def ext[] = {
		{NID_basic_constraints, "critical,CA:FALSE"},
		{NID_key_usage, "critical,digitalSignature"},
		{NID_ext_key_usage, "codeSigning"},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
	};

	return make_cert("signetfs signer", pub, ca, ca_key, 730,
			 ext, ARRAY_SIZE(ext));
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

static int write_config(int dfd, const char *module, const char *uri)
{
	char buf[2048];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "# Written by signetfs init; paths are relative to this "
		     "file.\n[signetfs]\nmodule = %s\n"
		     "softhsm-conf = softhsm2.conf\nkey = %s\n"
		     "pin-file = pin\ncert = signer.pem\ntrust = ca.pem\n"
		     "audit-log = audit.log\n", module, uri);
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

static void summary(const char *abs, struct hsm *h, X509 *signer, bool rsa)
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
	       "  CA       %s/ca.pem (key %s/ca.key, keep it off servers)\n"
	       "  signer   %s/signer.pem\n"
	       "  sha256   %s\n",
	       abs, abs, hsm_token_serial(h), rsa ? "RSA-3072" : "EC P-256",
	       KEY_LABEL, hsm_key_uri(h), abs, abs, abs, hex);
}

/* ---- the command ------------------------------------------------------ */

static int parse_opts(int argc, char **argv, struct init_opts *o)
{
	static const struct option lo[] = {
		{"key-type", required_argument, NULL, 't'},
		{"label", required_argument, NULL, 'l'},
		{"module", required_argument, NULL, 'm'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	int c;

	o->module = SFS_DEFAULT_MODULE;
	o->label = "signetfs";
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
		signer = make_signer(hsm_public_key(h), ca, ca_key);
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

int cmd_init(int argc, char **argv)
{
	struct init_opts o = {0};
	struct sfs_error err = {0};
	struct hsm *h = NULL;
	X509 *signer = NULL;
	char *abs = NULL, *pin = NULL, *pin_path = NULL, *conf_path = NULL;
	char label_enc[3 * 32 + 1], uri[256];
	bool created = false;
	int dfd = -1, ret, code = SFS_EXIT_USAGE;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret > 0 ? SFS_EXIT_OK : SFS_EXIT_USAGE;
	ret = prepare_dir(&o, &dfd, &abs, &created);
	if (ret) {
		/* Never clean up a directory we were told not to touch. */
		if (ret == -ENOTEMPTY) {
			close(dfd);
			dfd = -1;
		}
		goto out;
	}
	ret = write_softhsm_conf(dfd, abs);
	if (ret)
		goto out;
	if (asprintf(&conf_path, "%s/softhsm2.conf", abs) < 0 ||
	    asprintf(&pin_path, "%s/pin", abs) < 0) {
		ret = -ENOMEM;
		goto out;
	}
	if (setenv("SOFTHSM2_CONF", conf_path, 1) < 0) {
		ret = -errno;
		goto out;
	}
	code = SFS_EXIT_TOKEN;
	ret = make_token(o.module, o.label, o.rsa, &pin);
	if (ret)
		goto out;
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
	ret = make_pki(dfd, h, &signer);
	if (!ret)
		ret = write_config(dfd, o.module, uri);
	if (!ret)
		summary(abs, h, signer, o.rsa);
out:
	hsm_close(h);
	if (ret && dfd >= 0 && abs) {
		remove_ours(dfd, abs);
		if (created)
			rmdir(abs);
	}
	if (dfd >= 0)
		close(dfd);
	pin_free(pin);
	X509_free(signer);
	free(abs);
	free(pin_path);
	free(conf_path);
	return ret ? code : SFS_EXIT_OK;
}
