// SPDX-License-Identifier: Apache-2.0
/* PKCS#11 keys through libp11: RFC 7512 URIs, PIN files, login, recovery. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libp11.h>
#include <p11-kit/pkcs11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "signetfs/hsm.h"
#include "signetfs/log.h"

#include "uri.h"

/*
 * The few CK_RV values we tell apart (PKCS#11 v2.40 section 5.1). libp11
 * reports the module's CK_RV as the reason code of its "CKR" error
 * library. (p11-kit's pkcs11.h is only used by session_probe().)
 */
#define SFS_CKR_DEVICE_ERROR 0x30UL
#define SFS_CKR_DEVICE_REMOVED 0x32UL
#define SFS_CKR_PIN_INCORRECT 0xa0UL
#define SFS_CKR_PIN_INVALID 0xa1UL
#define SFS_CKR_PIN_LEN_RANGE 0xa2UL
#define SFS_CKR_PIN_EXPIRED 0xa3UL
#define SFS_CKR_PIN_LOCKED 0xa4UL
#define SFS_CKR_TOKEN_NOT_PRESENT 0xe0UL
#define SFS_CKR_TOKEN_NOT_RECOGNIZED 0xe1UL
#define SFS_CKR_USER_PIN_NOT_INITIALIZED 0x102UL

#define PIN_MAX 256
/* After a failed recovery, fail fast for this long instead of retrying. */
#define RECOVER_BACKOFF_NS (250L * 1000 * 1000)

/*
 * One loaded module, shared by every handle that names the same file:
 * C_Finalize ends the module for the whole process, so the module is
 * loaded and finalised once for all handles. Paths are compared after
 * realpath(): dlopen() hands out the library already loaded under
 * another name (a symlink, "a/../b"), and a second libp11 context on
 * it would finalise the first one's sessions when it is closed.
 */
struct hsm_module {
	struct hsm_module *next; /* under modules_lock */
	unsigned int refs;	 /* under modules_lock */
	char *path;		 /* as the first handle named it */
	char *real;		 /* realpath() of path: the list key */
	char *conf;		 /* SOFTHSM2_CONF (realpath) */
	/*
	 * Readers: each signature of each handle, from hsm_sign_begin to
	 * hsm_sign_end. libp11 0.4.12 takes a session from the slot's pool
	 * per signature, so readers sign in parallel. The writer reloads
	 * the module or rebuilds a handle's token state, both of which
	 * free EVP_PKEYs readers use. modules_lock is never held while
	 * waiting for this lock.
	 */
	pthread_rwlock_t lock;
	atomic_bool broken; /* a signature failed: reload */
	PKCS11_CTX *ctx;    /* under the write lock */
	/*
	 * One slot list for all handles, under the write lock, listed once
	 * per load. libp11 closes every session of a slot ID
	 * (C_CloseAllSessions) when it frees a slot: a list per handle
	 * meant that closing one handle ended the sessions of every other
	 * handle on the module, whichever token it used. Listing again
	 * would do the same once the old list's keys are freed, and
	 * libp11 0.4.12's PKCS11_update_slots() crashes on a non-empty
	 * list. SoftHSM fixes its slots in C_Initialize anyway; a token
	 * that comes or goes is seen after a reload (hsm_recover).
	 */
	PKCS11_SLOT *slots;
	unsigned int nslots;
	unsigned int gen;	   /* reloads so far (write lock) */
	struct timespec last_fail; /* failed recovery (write lock) */
	struct hsm *handles;	   /* under the write lock */
};

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module *modules; /* under modules_lock */

struct hsm {
	struct hsm_module *mod;
	/* Token state, under mod->lock; changed with it held for writing. */
	struct hsm *next; /* in mod->handles */
	unsigned int gen; /* mod->gen the state belongs to */
	EVP_PKEY *priv;
	PKCS11_SLOT *slot;	   /* logged in here (in mod->slots) */
	struct sfs_error last_err; /* why the last recovery failed */

	/* Fixed from open to close. */
	struct p11_uri uri;
	char *pin; /* secure heap, for logging in again */
	EVP_PKEY *pub;
	char *serial;
	char *label;
};

/* ---- errors ---------------------------------------------------------- */

/*
 * The one place where a libp11 / PKCS#11 failure becomes an errno and a
 * message: the module's CK_RV is the reason code of the newest error of
 * libp11's CKR library. The whole queue goes to the debug log. LABEL is
 * the token's, or NULL before there is a token.
 */
static int __attribute__((format(printf, 3, 4)))
p11_fail(struct sfs_error *err, const char *label, const char *fmt, ...)
{
	unsigned long e, rv = 0;
	int lib = ERR_get_CKR_code(), ret = -EIO;
	const char *reason = NULL;
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	/* Oldest first: the newest CK_RV, the most specific, wins. */
	while ((e = ERR_get_error()) != 0) {
		char buf[256];

		ERR_error_string_n(e, buf, sizeof(buf));
		sfs_debug("openssl: %s", buf);
		if (ERR_GET_LIB(e) == lib) {
			rv = (unsigned long)ERR_GET_REASON(e);
			reason = ERR_reason_error_string(e);
		}
	}
	if (!label)
		label = "?";
	switch (rv) {
	case SFS_CKR_PIN_INCORRECT:
	case SFS_CKR_PIN_INVALID:
	case SFS_CKR_PIN_LEN_RANGE:
		ret = -EACCES;
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "wrong PIN for token '%s'", label);
		break;
	case SFS_CKR_PIN_LOCKED:
		ret = -EACCES;
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "PIN of token '%s' is locked", label);
		break;
	case SFS_CKR_PIN_EXPIRED:
	case SFS_CKR_USER_PIN_NOT_INITIALIZED:
		ret = -EACCES;
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "user PIN of token '%s' is expired or not set",
			      label);
		break;
	case SFS_CKR_TOKEN_NOT_PRESENT:
	case SFS_CKR_TOKEN_NOT_RECOGNIZED:
	case SFS_CKR_DEVICE_REMOVED:
		ret = -ENODEV;
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "%s: token '%s' is not present", what, label);
		break;
	case 0:
		sfs_error_set(err, ret, SFS_EXIT_TOKEN, "%s failed", what);
		break;
	default:
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "%s failed: %s (CKR 0x%lx)", what,
			      reason ? reason : "PKCS#11 error", rv);
		break;
	}
	return ret;
}

/* ---- PIN ------------------------------------------------------------- */

/* Read a PIN file into the secure heap; one trailing newline is dropped. */
static int pin_read(const char *path, char **out, struct sfs_error *err)
{
	struct stat st;
	char *pin = OPENSSL_secure_zalloc(PIN_MAX + 2);
	size_t got = 0;
	int fd = -1, ret;

	if (!pin)
		return -ENOMEM;
	/*
	 * O_NONBLOCK: a FIFO at the PIN path opens at once (and is refused
	 * below) instead of blocking until a writer comes. Symlinks are
	 * followed: secret stores (Kubernetes volumes, systemd credentials)
	 * hand the PIN file out as one.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		ret = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		ret = -EINVAL;
		goto fail;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		sfs_warn("PIN file %s is accessible by group or others "
			 "(mode %03o); chmod 600 it",
			 path, (unsigned)(st.st_mode & 0777));
	ret = sfs_full_pread(fd, pin, PIN_MAX + 1, 0, &got);
	if (ret)
		goto fail;
	if (got && pin[got - 1] == '\n')
		pin[--got] = '\0';
	ret = -EINVAL;
	if (got > PIN_MAX || got == 0 || strlen(pin) != got)
		goto fail;
	close(fd);
	*out = pin;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	OPENSSL_secure_clear_free(pin, PIN_MAX + 2);
	sfs_error_set(
	    err, ret, SFS_EXIT_USAGE, "cannot read PIN file %s: %s", path,
	    ret != -EINVAL ? strerror(-ret)
			   : "empty, too long, binary or not a regular file");
	return ret;
}

static void pin_free(char *pin)
{
	if (pin)
		OPENSSL_secure_clear_free(pin, strlen(pin) + 1);
}

/* ---- module ---------------------------------------------------------- */

static int module_check(const char *path, struct sfs_error *err, void **dl)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		sfs_error_set(err, -errno, SFS_EXIT_TOKEN,
			      "PKCS#11 module %s not found: %s", path,
			      strerror(errno));
		return -ENOENT;
	}
	/* Our own dlopen() names the reason that libp11 would swallow. */
	*dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!*dl) {
		sfs_error_set(err, -ENOEXEC, SFS_EXIT_TOKEN,
			      "cannot load PKCS#11 module %s: %s", path,
			      dlerror());
		return -ENOEXEC;
	}
	if (!dlsym(*dl, "C_GetFunctionList")) {
		sfs_error_set(err, -ENOEXEC, SFS_EXIT_TOKEN,
			      "%s is not a PKCS#11 module "
			      "(no C_GetFunctionList)",
			      path);
		return -ENOEXEC;
	}
	return 0;
}

/* Every handle's key must be freed first: the keys hold slot references. */
static void module_unload(struct hsm_module *m)
{
	if (m->slots)
		PKCS11_release_all_slots(m->ctx, m->slots, m->nslots);
	m->slots = NULL;
	m->nslots = 0;
	if (m->ctx) {
		PKCS11_CTX_unload(m->ctx);
		PKCS11_CTX_free(m->ctx);
	}
	m->ctx = NULL;
}

static void module_free(struct hsm_module *m)
{
	module_unload(m);
	pthread_rwlock_destroy(&m->lock);
	free(m->path);
	free(m->real);
	free(m->conf);
	free(m);
}

/* (Re)load the module in a fresh libp11 context. */
static int module_load(struct hsm_module *m, struct sfs_error *err)
{
	const char *env = getenv("SOFTHSM2_CONF");

	/* SoftHSM reads it in C_Initialize; avoid setenv() once threads run. */
	if (m->conf && (!env || strcmp(env, m->conf)) &&
	    setenv("SOFTHSM2_CONF", m->conf, 1) < 0) {
		sfs_error_set(err, -errno, SFS_EXIT_TOKEN, "setenv: %s",
			      strerror(errno));
		return -ENOMEM;
	}
	m->ctx = PKCS11_CTX_new();
	if (!m->ctx) {
		sfs_error_set(err, -ENOMEM, SFS_EXIT_TOKEN, "out of memory");
		return -ENOMEM;
	}
	if (PKCS11_CTX_load(m->ctx, m->path) < 0) {
		PKCS11_CTX_free(m->ctx);
		m->ctx = NULL;
		return p11_fail(err, NULL, "initialising PKCS#11 module %s",
				m->path);
	}
	return 0;
}

static int module_new(const char *path, const char *real, const char *conf,
		      struct hsm_module **out, struct sfs_error *err)
{
	struct hsm_module *m = calloc(1, sizeof(*m));
	pthread_rwlockattr_t attr;
	void *dl = NULL;
	int ret;

	if (!m || !(m->path = strdup(path)) || !(m->real = strdup(real)) ||
	    (conf && !(m->conf = strdup(conf)))) {
		if (m) {
			free(m->path);
			free(m->real);
		}
		free(m);
		sfs_error_set(err, -ENOMEM, SFS_EXIT_TOKEN, "out of memory");
		return -ENOMEM;
	}
	/* Writers first: steady signing must not starve a recovery. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(
	    &attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&m->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	ret = module_check(path, err, &dl);
	if (!ret)
		ret = module_load(m, err);
	if (dl)
		dlclose(dl);
	if (ret) {
		module_free(m);
		return ret;
	}
	*out = m;
	return 0;
}

/* CONF is a realpath() already (hsm_open). */
static int module_get(const char *path, const char *conf,
		      struct hsm_module **out, struct sfs_error *err)
{
	/* A module that is not there fails in module_check(), by its name. */
	char *real = realpath(path, NULL);
	const char *key = real ? real : path;
	struct hsm_module *m;
	int ret = 0;

	pthread_mutex_lock(&modules_lock);
	for (m = modules; m; m = m->next)
		if (!strcmp(m->real, key))
			break;
	if (!m) {
		ret = module_new(path, key, conf, &m, err);
		if (!ret) {
			m->next = modules;
			modules = m;
		}
	} else if ((m->conf || conf) &&
		   (!m->conf || !conf || strcmp(m->conf, conf))) {
		/* SoftHSM reads its configuration once, in C_Initialize. */
		ret = -EBUSY;
		sfs_error_set(
		    err, ret, SFS_EXIT_USAGE,
		    "PKCS#11 module %s is already loaded with another "
		    "softhsm-conf",
		    path);
	}
	if (!ret) {
		m->refs++;
		*out = m;
	}
	pthread_mutex_unlock(&modules_lock);
	free(real);
	return ret;
}

static void module_put(struct hsm_module *m)
{
	struct hsm_module **pp;

	pthread_mutex_lock(&modules_lock);
	if (--m->refs == 0) {
		for (pp = &modules; *pp != m; pp = &(*pp)->next)
			;
		*pp = m->next;
		module_free(m);
	}
	pthread_mutex_unlock(&modules_lock);
}

/* ---- token and key --------------------------------------------------- */

static bool str_match(const char *want, const char *have)
{
	return !want || (have && !strcmp(want, have));
}

static const char *uri_label(const struct p11_uri *u)
{
	return u->token ? u->token : u->serial ? u->serial : "(any)";
}

/*
 * p11-kit-client.so is a proxy: when its server (`p11-kit server`) is
 * down, the module loads and the first call that needs the server fails
 * with nothing but CKR_DEVICE_ERROR or less. Say which server it is.
 */
static bool is_p11kit_client(const char *module)
{
	const char *base = strrchr(module, '/');

	base = base ? base + 1 : module;
	return !strncmp(base, "p11-kit-client", strlen("p11-kit-client"));
}

static int listing_failed(struct hsm_module *m, struct sfs_error *err)
{
	const char *addr = getenv("P11_KIT_SERVER_ADDRESS");
	int ret = p11_fail(err, NULL, "listing slots of %s", m->path);

	if (!is_p11kit_client(m->path))
		return ret;
	sfs_error_set(err, ret, SFS_EXIT_TOKEN,
		      "the p11-kit server at %s is not answering: the module "
		      "%s could not reach it (is `p11-kit server` running "
		      "there?)",
		      addr ? addr
			   : "$XDG_RUNTIME_DIR/p11-kit/pkcs11 "
			     "(P11_KIT_SERVER_ADDRESS is not set)",
		      m->path);
	return ret;
}

static int token_find(struct hsm *h, PKCS11_SLOT **out, struct sfs_error *err)
{
	const struct p11_uri *u = &h->uri;
	struct hsm_module *m = h->mod;
	PKCS11_CTX *ctx = m->ctx;
	PKCS11_SLOT *found = NULL;
	unsigned int matches = 0;

	if (!str_match(u->lib_manufacturer, ctx->manufacturer) ||
	    !str_match(u->lib_description, ctx->description))
		goto none;
	if (!m->slots && PKCS11_enumerate_slots(ctx, &m->slots, &m->nslots) < 0)
		return listing_failed(m, err);
	for (unsigned int i = 0; i < m->nslots; i++) {
		PKCS11_SLOT *s = &m->slots[i];
		PKCS11_TOKEN *t = s->token;

		if (!t || !t->initialized || !str_match(u->token, t->label) ||
		    !str_match(u->serial, t->serialnr) ||
		    !str_match(u->manufacturer, t->manufacturer) ||
		    !str_match(u->model, t->model) ||
		    (u->has_slot_id &&
		     PKCS11_get_slotid_from_slot(s) != u->slot_id))
			continue;
		if (!found)
			found = s;
		matches++;
	}
	if (matches > 1) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_TOKEN,
			      "key URI matches %u tokens in %s; add "
			      "serial= to pick one",
			      matches, h->mod->path);
		return -EINVAL;
	}
	if (found) {
		*out = found;
		return 0;
	}
none:
	sfs_error_set(err, -ENODEV, SFS_EXIT_TOKEN,
		      "token '%s' not found in PKCS#11 module %s", uri_label(u),
		      h->mod->path);
	return -ENODEV;
}

static bool key_match(const struct p11_uri *u, const PKCS11_KEY *k)
{
	if (!k->isPrivate || !str_match(u->object, k->label))
		return false;
	return !u->has_id ||
	       (k->id_len == u->id_len && !memcmp(k->id, u->id, u->id_len));
}

static int key_find(struct hsm *h, PKCS11_SLOT *slot, EVP_PKEY **out,
		    struct sfs_error *err)
{
	PKCS11_KEY *keys = NULL, *found = NULL;
	unsigned int n = 0, matches = 0;
	const char *label = slot->token->label;

	if (PKCS11_enumerate_keys(slot->token, &keys, &n) < 0)
		return p11_fail(err, label, "listing keys on token '%s'",
				label);
	for (unsigned int i = 0; i < n; i++) {
		if (!key_match(&h->uri, &keys[i]))
			continue;
		if (!found)
			found = &keys[i];
		matches++;
	}
	if (!found) {
		sfs_error_set(err, -ENOKEY, SFS_EXIT_TOKEN,
			      "private key '%s'%s not found on token '%s'",
			      h->uri.object ? h->uri.object : "(any)",
			      h->uri.has_id ? " with the given id" : "", label);
		return -ENOKEY;
	}
	if (matches > 1) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_TOKEN,
			      "key URI matches %u private keys on token '%s'; "
			      "add object= or id=",
			      matches, label);
		return -EINVAL;
	}
	*out = PKCS11_get_private_key(found);
	if (!*out)
		return p11_fail(err, label, "loading key '%s'",
				found->label ? found->label : "");
	return 0;
}

/* The slots stay with the module: other handles' sessions live there. */
static void token_release(struct hsm *h)
{
	EVP_PKEY_free(h->priv);
	h->priv = NULL;
}

static bool pub_same(EVP_PKEY *a, EVP_PKEY *b)
{
	unsigned char *da = NULL, *db = NULL;
	int la = i2d_PUBKEY(a, &da), lb = i2d_PUBKEY(b, &db);
	bool same = la > 0 && la == lb && !memcmp(da, db, (size_t)la);

	OPENSSL_free(da);
	OPENSSL_free(db);
	return same;
}

/*
 * libp11 0.4.12 waits forever on its session pool's condition variable
 * when C_OpenSession fails (fixed upstream by OpenSC/libp11 PR #579): a
 * token that is listed but will not open a session (removed just then,
 * session limit reached, remote HSM gone) would hang login or key lookup
 * under the write lock, and with it every signer. Open one session first,
 * on the instance libp11 loaded (RTLD_NOLOAD), and report the module's
 * answer instead. Only a failure in the moment between this probe and
 * libp11's own open can still hang.
 */
static int session_probe(struct hsm *h, PKCS11_SLOT *slot,
			 struct sfs_error *err)
{
	void *dl = dlopen(h->mod->path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
	CK_C_GetFunctionList get;
	CK_FUNCTION_LIST_PTR f = NULL;
	CK_SESSION_HANDLE s;
	CK_RV rv = CKR_OK;

	if (!dl)
		return 0;
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (get && get(&f) == CKR_OK && f) {
		rv = f->C_OpenSession(PKCS11_get_slotid_from_slot(slot),
				      CKF_SERIAL_SESSION, NULL, NULL, &s);
		if (rv == CKR_OK)
			f->C_CloseSession(s);
	}
	dlclose(dl);
	/* Not the instance libp11 initialised (p11-kit-client makes one per
	 * C_GetFunctionList): nothing to learn here. */
	if (rv == CKR_OK || rv == CKR_CRYPTOKI_NOT_INITIALIZED)
		return 0;
	/* As libp11 would report it, so that p11_fail() maps it. */
	ERR_raise(ERR_get_CKR_code(), (int)rv);
	return p11_fail(err, slot->token->label,
			"opening a session on token '%s'", slot->token->label);
}

/* Find the token, log in once, find the key. Caller holds the write lock. */
static int token_setup_locked(struct hsm *h, struct sfs_error *err)
{
	PKCS11_SLOT *slot = NULL;
	PKCS11_TOKEN *t;
	int ret;

	ERR_clear_error();
	ret = token_find(h, &slot, err);
	if (ret)
		goto out;
	t = slot->token;
	ret = session_probe(h, slot, err);
	if (ret)
		goto out;
	if (t->userPinLocked) {
		sfs_error_set(err, -EACCES, SFS_EXIT_TOKEN,
			      "PIN of token '%s' is locked", t->label);
		ret = -EACCES;
		goto out;
	}
	/*
	 * PKCS#11 login is per process and token: when another handle on
	 * this token is logged in already, neither libp11 nor the module
	 * checks this handle's PIN again.
	 */
	if (t->loginRequired && PKCS11_login(slot, 0, h->pin) < 0) {
		ret = p11_fail(err, t->label, "login to token '%s'", t->label);
		goto out;
	}
	if (t->loginRequired)
		h->slot = slot;
	ret = key_find(h, slot, &h->priv, err);
	if (ret)
		goto out;
	if (!h->serial && !(h->serial = strdup(t->serialnr ? t->serialnr : "")))
		ret = -ENOMEM;
	if (!h->label && !(h->label = strdup(t->label ? t->label : "")))
		ret = -ENOMEM;
	if (ret == -ENOMEM)
		sfs_error_set(err, ret, SFS_EXIT_TOKEN, "out of memory");
	/* Recovery must not quietly switch to another key. */
	if (!ret && h->pub && !pub_same(h->pub, h->priv)) {
		sfs_error_set(err, -EKEYREJECTED, SFS_EXIT_TOKEN,
			      "key '%s' on token '%s' is not the key it was "
			      "at start",
			      h->uri.object ? h->uri.object : "", t->label);
		ret = -EKEYREJECTED;
	}
out:
	if (ret)
		token_release(h);
	ERR_clear_error();
	return ret;
}

/* A software copy of the public key: valid across recovery, no token. */
static EVP_PKEY *pub_copy(EVP_PKEY *priv)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	EVP_PKEY *pub = NULL;
	int len = i2d_PUBKEY(priv, &der);

	if (len > 0) {
		p = der;
		pub = d2i_PUBKEY(NULL, &p, len);
	}
	OPENSSL_free(der);
	return pub;
}

/* ---- contract -------------------------------------------------------- */

static int pin_get(const struct hsm_config *cfg, struct p11_uri *u, char **pin,
		   struct sfs_error *err)
{
	if (u->pin_value) {
		*pin = u->pin_value;
		u->pin_value = NULL; /* transferred */
		return 0;
	}
	if (u->pin_source)
		return pin_read(u->pin_source, pin, err);
	if (cfg->pin_file)
		return pin_read(cfg->pin_file, pin, err);
	sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
		      "no PIN: set pin-file or pin-source in the key URI");
	return -EINVAL;
}

static void handle_unlink_locked(struct hsm *h)
{
	struct hsm **pp;

	for (pp = &h->mod->handles; *pp && *pp != h; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = h->next;
}

int hsm_open(const struct hsm_config *cfg, struct hsm **out,
	     struct sfs_error *err)
{
	struct hsm *h = calloc(1, sizeof(*h));
	struct hsm_module *m;
	const char *module;
	char *conf = NULL;
	int ret;

	if (!h) {
		sfs_error_set(err, -ENOMEM, SFS_EXIT_TOKEN, "out of memory");
		return -ENOMEM;
	}
	ret = hsm_uri_parse(cfg->key_uri ? cfg->key_uri : "", &h->uri, err);
	if (ret)
		goto out;
	module = cfg->module ? cfg->module : h->uri.module_path;
	ret = -EINVAL;
	if (!module) {
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "no PKCS#11 module configured");
		goto out;
	}
	/* Handles share a module only if they name one configuration. */
	if (cfg->softhsm_conf && (!(conf = realpath(cfg->softhsm_conf, NULL)) ||
				  access(conf, R_OK) < 0)) {
		ret = -errno;
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "cannot read SoftHSM configuration %s: %s",
			      cfg->softhsm_conf, strerror(-ret));
		goto out;
	}
	ret = pin_get(cfg, &h->uri, &h->pin, err);
	if (ret)
		goto out;
	ret = module_get(module, conf, &m, err);
	if (ret)
		goto out;
	pthread_rwlock_wrlock(&m->lock);
	h->mod = m;
	h->next = m->handles;
	m->handles = h;
	h->gen = m->gen;
	ret = m->ctx ? token_setup_locked(h, err) : -ENODEV;
	if (ret == -ENODEV && !m->ctx)
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "PKCS#11 module %s is recovering", m->path);
	if (!ret) {
		h->pub = pub_copy(h->priv);
		if (!h->pub) {
			ret = -EIO;
			sfs_error_set(err, ret, SFS_EXIT_TOKEN,
				      "cannot read the public key of '%s' on "
				      "token '%s'",
				      h->uri.object ? h->uri.object : "",
				      h->label);
		}
	}
	pthread_rwlock_unlock(&m->lock);
	if (ret)
		goto out;
	sfs_info("key %s on token '%s' (serial %s) ready", h->uri.clean,
		 h->label, h->serial);
	*out = h;
	h = NULL; /* transferred */
out:
	hsm_close(h);
	free(conf);
	return ret;
}

/*
 * Log out of h's token unless another handle uses it. The module's
 * slots, and so the login, outlive the handle: without this a later
 * hsm_open of the token in this process would not have its PIN checked.
 */
static void token_logout_locked(struct hsm *h)
{
	for (struct hsm *o = h->mod->handles; o && h->slot; o = o->next)
		if (o != h && o->slot == h->slot)
			h->slot = NULL;
	if (h->slot && PKCS11_logout(h->slot) < 0)
		sfs_debug("logout of token '%s' failed",
			  h->label ? h->label : uri_label(&h->uri));
	ERR_clear_error();
	h->slot = NULL;
}

void hsm_close(struct hsm *h)
{
	if (!h)
		return;
	if (h->mod) {
		pthread_rwlock_wrlock(&h->mod->lock);
		token_release(h);
		handle_unlink_locked(h);
		token_logout_locked(h);
		pthread_rwlock_unlock(&h->mod->lock);
		module_put(h->mod);
	}
	EVP_PKEY_free(h->pub);
	pin_free(h->pin);
	hsm_uri_free(&h->uri);
	free(h->serial);
	free(h->label);
	free(h);
}

static long ns_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000000000L +
	       (now.tv_nsec - t->tv_nsec);
}

/*
 * Finalise and initialise the module again. SoftHSM, for one, does not
 * see its token again after the token directory went away until it is
 * re-initialised. Every handle's EVP_PKEY refers to the old module, so
 * all are freed first; the other handles rebuild theirs on next use.
 */
static int module_reload_locked(struct hsm_module *m, struct sfs_error *err)
{
	for (struct hsm *o = m->handles; o; o = o->next) {
		token_release(o);
		o->slot = NULL;
	}
	module_unload(m);
	m->gen++;
	return module_load(m, err);
}

/*
 * Bring h back after a failure: reload the module if a signature failed,
 * then log in again and find the key (closing all sessions logged the
 * user out, and libp11 0.4.12 only logs in again after fork()). While
 * the token stays away, fail fast instead of reloading on every call.
 */
static int hsm_recover(struct hsm *h, struct sfs_error *err)
{
	struct hsm_module *m = h->mod;
	int ret = 0;

	pthread_rwlock_wrlock(&m->lock);
	if (m->last_fail.tv_sec &&
	    ns_since(&m->last_fail) < RECOVER_BACKOFF_NS) {
		*err = h->last_err;
		if (!err->code)
			sfs_error_set(err, -ENODEV, SFS_EXIT_TOKEN,
				      "token '%s' is not available", h->label);
		ret = err->code;
		goto out;
	}
	if (atomic_load(&m->broken) || !m->ctx) {
		ret = module_reload_locked(m, err);
		if (ret)
			goto failed;
		atomic_store(&m->broken, false);
	}
	if (!h->priv || h->gen != m->gen) {
		token_release(h);
		ret = token_setup_locked(h, err);
		if (ret)
			goto failed;
		h->gen = m->gen;
		sfs_log(SFS_LOG_NOTICE, "token '%s' is back", h->label);
	}
	m->last_fail.tv_sec = 0;
	goto out;
failed:
	/* A token that went away needs the module reloaded once it is back. */
	if (ret == -ENODEV || ret == -EIO)
		atomic_store(&m->broken, true);
	clock_gettime(CLOCK_MONOTONIC, &m->last_fail);
	h->last_err = *err;
out:
	pthread_rwlock_unlock(&m->lock);
	return ret;
}

int hsm_sign_begin(struct hsm *h, EVP_PKEY **key, struct sfs_error *err)
{
	struct hsm_module *m = h->mod;
	int ret;

	/* Another thread may break the state again right after recovery. */
	for (int tries = 0; tries < 3; tries++) {
		pthread_rwlock_rdlock(&m->lock);
		if (!atomic_load(&m->broken) && h->priv && h->gen == m->gen) {
			*key = h->priv;
			return 0; /* read lock held until hsm_sign_end */
		}
		pthread_rwlock_unlock(&m->lock);
		ret = hsm_recover(h, err);
		if (ret)
			return ret;
	}
	sfs_error_set(err, -EIO, SFS_EXIT_TOKEN, "token '%s' keeps failing",
		      h->label);
	return -EIO;
}

void hsm_sign_end(struct hsm *h, bool failed)
{
	/*
	 * Still under the read lock: nothing was reloaded since our begin,
	 * so the failure belongs to the current module state.
	 */
	if (failed)
		atomic_store(&h->mod->broken, true);
	pthread_rwlock_unlock(&h->mod->lock);
}

int hsm_sign_error(struct hsm *h, struct sfs_error *err)
{
	return p11_fail(err, h->label, "signing with %s", h->uri.clean);
}

EVP_PKEY *hsm_public_key(struct hsm *h)
{
	return h->pub;
}

const char *hsm_key_uri(const struct hsm *h)
{
	return h->uri.clean;
}

const char *hsm_token_serial(const struct hsm *h)
{
	return h->serial;
}
