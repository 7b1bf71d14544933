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
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "signetfs/hsm.h"
#include "signetfs/log.h"

/*
 * The few CK_RV values we tell apart (PKCS#11 v2.40 section 5.1). libp11
 * reports the module's CK_RV as the reason code of its "CKR" error
 * library; the core library does not see p11-kit's pkcs11.h.
 */
#define SFS_CKR_DEVICE_ERROR		0x30UL
#define SFS_CKR_DEVICE_REMOVED		0x32UL
#define SFS_CKR_PIN_INCORRECT		0xa0UL
#define SFS_CKR_PIN_INVALID		0xa1UL
#define SFS_CKR_PIN_LEN_RANGE		0xa2UL
#define SFS_CKR_PIN_EXPIRED		0xa3UL
#define SFS_CKR_PIN_LOCKED		0xa4UL
#define SFS_CKR_TOKEN_NOT_PRESENT	0xe0UL
#define SFS_CKR_TOKEN_NOT_RECOGNIZED	0xe1UL
#define SFS_CKR_USER_PIN_NOT_INITIALIZED 0x102UL

#define PIN_MAX 256
/* After a failed recovery, fail fast for this long instead of retrying. */
#define RECOVER_BACKOFF_NS (250L * 1000 * 1000)

/* An RFC 7512 URI, decoded. NULL / false: attribute absent. */
struct p11_uri {
	char *token, *manufacturer, *serial, *model;
	char *lib_manufacturer, *lib_description;
	char *object;
	uint8_t *id;
	size_t id_len;
	bool has_id;
	unsigned long slot_id;
	bool has_slot_id;
	char *pin_source;	/* a path ("file:" removed) */
	char *pin_value;	/* secure heap */
	char *module_path;
	char *clean;		/* the URI without pin-source / pin-value */
};

/*
 * One loaded module, shared by every handle that names the same path:
 * C_Finalize ends the module for the whole process, so the module is
 * loaded and finalised once for all handles.
 */
struct hsm_module {
	struct hsm_module *next;	/* under modules_lock */
	unsigned int refs;		/* under modules_lock */
	char *path;
	char *conf;			/* SOFTHSM2_CONF it was loaded with */
	/*
	 * Readers: each signature of each handle, from hsm_sign_begin to
	 * hsm_sign_end. libp11 0.4.12 takes a session from the slot's pool
	 * per signature, so readers sign in parallel. The writer reloads
	 * the module or rebuilds a handle's token state, both of which
	 * free EVP_PKEYs readers use. modules_lock is never held while
	 * waiting for this lock.
	 */
	pthread_rwlock_t lock;
	atomic_bool broken;		/* a signature failed: reload */
	PKCS11_CTX *ctx;		/* under the write lock */
	unsigned int gen;		/* reloads so far (write lock) */
	struct timespec last_fail;	/* failed recovery (write lock) */
	struct hsm *handles;		/* under the write lock */
};

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module *modules;	/* under modules_lock */

struct hsm {
	struct hsm_module *mod;
	/* Token state, under mod->lock; changed with it held for writing. */
	struct hsm *next;		/* in mod->handles */
	unsigned int gen;		/* mod->gen the state belongs to */
	PKCS11_SLOT *slots;
	unsigned int nslots;
	EVP_PKEY *priv;
	struct sfs_error last_err;	/* why the last recovery failed */

	/* Fixed from open to close. */
	struct p11_uri uri;
	char *pin;			/* secure heap, for logging in again */
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

/* ---- RFC 7512 URI ---------------------------------------------------- */

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decode into a NUL-terminated buffer (secure heap if asked). */
static int pct_decode(const char *s, size_t len, bool secure, char **out,
		      size_t *outlen)
{
	char *p = secure ? OPENSSL_secure_malloc(len + 1) : malloc(len + 1);
	size_t n = 0;

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			goto bad;
		if (s[i] != '%') {
			p[n++] = s[i];
			continue;
		}
		if (i + 2 >= len)
			goto bad;
		hi = hexval(s[i + 1]);
		lo = hexval(s[i + 2]);
		if (hi < 0 || lo < 0)
			goto bad;
		p[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	p[n] = '\0';
	*out = p;
	*outlen = n;
	return 0;
bad:
	if (secure)
		OPENSSL_secure_clear_free(p, len + 1);
	else
		free(p);
	return -EINVAL;
}

static void uri_free(struct p11_uri *u)
{
	free(u->token);
	free(u->manufacturer);
	free(u->serial);
	free(u->model);
	free(u->lib_manufacturer);
	free(u->lib_description);
	free(u->object);
	free(u->id);
	free(u->pin_source);
	if (u->pin_value)
		OPENSSL_secure_clear_free(u->pin_value,
					  strlen(u->pin_value) + 1);
	free(u->module_path);
	free(u->clean);
	memset(u, 0, sizeof(*u));
}

/* Where a decoded text attribute goes; NULL if NAME is no such attribute. */
static char **uri_text_slot(struct p11_uri *u, const char *name, bool query)
{
	static const struct {
		const char *name;
		size_t off;
		bool query;
	} t[] = {
		{"token", offsetof(struct p11_uri, token), false},
		{"manufacturer", offsetof(struct p11_uri, manufacturer), false},
		{"serial", offsetof(struct p11_uri, serial), false},
		{"model", offsetof(struct p11_uri, model), false},
		{"library-manufacturer",
		 offsetof(struct p11_uri, lib_manufacturer), false},
		{"library-description",
		 offsetof(struct p11_uri, lib_description), false},
		{"object", offsetof(struct p11_uri, object), false},
		{"module-path", offsetof(struct p11_uri, module_path), true},
	};

	for (size_t i = 0; i < ARRAY_SIZE(t); i++)
		if (t[i].query == query && !strcmp(t[i].name, name))
			return (char **)((char *)u + t[i].off);
	return NULL;
}

static int uri_pin_source(struct p11_uri *u, const char *v)
{
	/* RFC 7512 pin-source is a URI; we take file: URIs and plain paths. */
	if (!strncmp(v, "file://localhost/", 17))
		v += 16;
	else if (!strncmp(v, "file:///", 8))
		v += 7;
	else if (!strncmp(v, "file:", 5))
		v += 5;
	else if (strchr(v, ':') || strchr(v, '|'))
		return -EINVAL;
	if (!*v || u->pin_source)
		return -EINVAL;
	u->pin_source = strdup(v);
	return u->pin_source ? 0 : -ENOMEM;
}

/* Attributes RFC 7512 lets a consumer ignore; the module is a path. */
static bool uri_ignorable(const char *name, bool query)
{
	static const char *const path_names[] = {
		"library-version", "slot-description", "slot-manufacturer",
	};

	if (!strncmp(name, "x-", 2))
		return true;
	if (query)
		return !strcmp(name, "module-name");
	for (size_t i = 0; i < ARRAY_SIZE(path_names); i++)
		if (!strcmp(name, path_names[i]))
			return true;
	return false;
}

/* Store one decoded value V (ownership taken). Returns 0 or -EINVAL. */
static int uri_store(struct p11_uri *u, const char *name, bool query,
		     char *v, size_t vlen, const char **why)
{
	char **slot = uri_text_slot(u, name, query);
	char *end;
	int ret = -EINVAL;

	*why = "duplicate attribute";
	if (!strcmp(name, "id") && !query) {
		if (u->has_id)
			goto out;
		u->id = (uint8_t *)v;
		u->id_len = vlen;
		u->has_id = true;
		return 0;
	}
	*why = "NUL byte in attribute";
	if (strlen(v) != vlen)
		goto out;
	*why = "duplicate attribute";
	if (slot) {
		if (*slot)
			goto out;
		*slot = v;
		return 0;
	}
	if (!strcmp(name, "pin-source")) {
		/* p11-kit and older libp11 also accept it in the path. */
		*why = "unsupported or duplicate pin-source (use file:)";
		ret = uri_pin_source(u, v);
	} else if (!strcmp(name, "type") && !query) {
		*why = "a signing key needs type=private, not";
		ret = strcmp(v, "private") ? -EINVAL : 0;
	} else if (!strcmp(name, "slot-id") && !query) {
		*why = "bad or duplicate";
		errno = 0;
		u->slot_id = strtoul(v, &end, 10);
		ret = errno || end == v || *end || u->has_slot_id ? -EINVAL : 0;
		u->has_slot_id = true;
	} else if (uri_ignorable(name, query)) {
		ret = 0;
	} else {
		/* A typo such as "objet=" must not match the first key. */
		*why = "unknown attribute";
	}
out:
	free(v);
	return ret;
}

/* RFC 7512 puts pin-value in the query; the path is accepted too. */
static int uri_store_pin(struct p11_uri *u, char *v, size_t vlen,
			 struct sfs_error *err)
{
	if (!u->pin_value && vlen && strlen(v) == vlen) {
		u->pin_value = v;
		return 0;
	}
	OPENSSL_secure_clear_free(v, vlen + 1);
	sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
		      "malformed PKCS#11 key URI: duplicate, empty or binary "
		      "'pin-value'");
	return -EINVAL;
}

/* One "name=value" attribute; *pin is set for the ones to sanitise away. */
static int uri_attr(struct p11_uri *u, const char *a, size_t len, bool query,
		    bool *pin, struct sfs_error *err)
{
	const char *eq = memchr(a, '=', len), *why;
	char name[32], *v = NULL;
	size_t nlen, vlen;
	int ret;

	if (!eq || eq == a || (size_t)(eq - a) >= sizeof(name)) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "malformed PKCS#11 key URI: expected "
			      "name=value attributes");
		return -EINVAL;
	}
	nlen = (size_t)(eq - a);
	memcpy(name, a, nlen);
	name[nlen] = '\0';
	*pin = !strcmp(name, "pin-value") || !strcmp(name, "pin-source");
	why = "bad percent-encoding in";
	ret = pct_decode(eq + 1, len - nlen - 1, !strcmp(name, "pin-value"),
			 &v, &vlen);
	if (!ret && !strcmp(name, "pin-value"))
		/* The secure heap frees with its own function. */
		return uri_store_pin(u, v, vlen, err);
	if (!ret)
		ret = uri_store(u, name, query, v, vlen, &why);
	if (ret == -ENOMEM)
		sfs_error_set(err, ret, SFS_EXIT_USAGE, "out of memory");
	else if (ret)
		/* Name the attribute, never its value: it may be a PIN. */
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "malformed PKCS#11 key URI: %s '%s'", why, name);
	return ret;
}

/* Append a raw (still encoded) attribute to a sanitised URI part. */
static void clean_append(char *buf, size_t *n, char sep, const char *a,
			 size_t len)
{
	if (*n && sep)
		buf[(*n)++] = sep;
	memcpy(buf + *n, a, len);
	*n += len;
	buf[*n] = '\0';
}

/* Parse the ';'-separated path or the '&'-separated query. */
static int uri_part(struct p11_uri *u, const char *p, const char *end,
		    bool query, char *clean, size_t *n, struct sfs_error *err)
{
	char sep = query ? '&' : ';';
	int ret;

	if (p == end)
		return 0;
	for (;;) {
		const char *s = memchr(p, sep, (size_t)(end - p));
		size_t len = s ? (size_t)(s - p) : (size_t)(end - p);
		bool pin;

		ret = uri_attr(u, p, len, query, &pin, err);
		if (ret)
			return ret;
		if (!pin)
			clean_append(clean, n, sep, p, len);
		if (!s)
			return 0;
		p = s + 1;
	}
}

static int uri_parse(const char *text, struct p11_uri *u,
		     struct sfs_error *err)
{
	size_t tlen = strlen(text), n = 0, nq = 0;
	const char *q;
	char *path = NULL, *query = NULL;
	int ret = -ENOMEM;

	memset(u, 0, sizeof(*u));
	if (tlen < 7 || strncasecmp(text, "pkcs11:", 7)) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "malformed PKCS#11 key URI: it must start with "
			      "pkcs11:");
		return -EINVAL;
	}
	u->clean = malloc(tlen + 1);
	path = malloc(tlen + 1);
	query = malloc(tlen + 1);
	if (!u->clean || !path || !query) {
		sfs_error_set(err, ret, SFS_EXIT_USAGE, "out of memory");
		goto out;
	}
	path[0] = query[0] = '\0';
	q = strchr(text + 7, '?');
	ret = uri_part(u, text + 7, q ? q : text + tlen, false, path, &n, err);
	if (!ret && q)
		ret = uri_part(u, q + 1, text + tlen, true, query, &nq, err);
	if (!ret)
		snprintf(u->clean, tlen + 1, "pkcs11:%s%s%s", path,
			 nq ? "?" : "", query);
out:
	free(path);
	free(query);
	if (ret)
		uri_free(u);
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
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
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
	sfs_error_set(err, ret, SFS_EXIT_USAGE, "cannot read PIN file %s: %s",
		      path, ret != -EINVAL ? strerror(-ret) :
		      "empty, too long, binary or not a regular file");
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
			      "(no C_GetFunctionList)", path);
		return -ENOEXEC;
	}
	return 0;
}

static void module_free(struct hsm_module *m)
{
	if (m->ctx) {
		PKCS11_CTX_unload(m->ctx);
		PKCS11_CTX_free(m->ctx);
	}
	pthread_rwlock_destroy(&m->lock);
	free(m->path);
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

static int module_new(const char *path, const char *conf,
		      struct hsm_module **out, struct sfs_error *err)
{
	struct hsm_module *m = calloc(1, sizeof(*m));
	pthread_rwlockattr_t attr;
	void *dl = NULL;
	int ret;

	if (!m || !(m->path = strdup(path)) ||
	    (conf && !(m->conf = strdup(conf)))) {
		if (m)
			free(m->path);
		free(m);
		sfs_error_set(err, -ENOMEM, SFS_EXIT_TOKEN, "out of memory");
		return -ENOMEM;
	}
	/* Writers first: steady signing must not starve a recovery. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
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

static int module_get(const char *path, const char *conf,
		      struct hsm_module **out, struct sfs_error *err)
{
	struct hsm_module *m;
	int ret = 0;

	pthread_mutex_lock(&modules_lock);
	for (m = modules; m; m = m->next)
		if (!strcmp(m->path, path))
			break;
	if (!m) {
		ret = module_new(path, conf, &m, err);
		if (!ret) {
			m->next = modules;
			modules = m;
		}
	} else if ((m->conf || conf) &&
		   (!m->conf || !conf || strcmp(m->conf, conf))) {
		/* SoftHSM reads its configuration once, in C_Initialize. */
		ret = -EBUSY;
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "PKCS#11 module %s is already loaded with another "
			      "softhsm-conf", path);
	}
	if (!ret) {
		m->refs++;
		*out = m;
	}
	pthread_mutex_unlock(&modules_lock);
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

static int token_find(struct hsm *h, PKCS11_SLOT **out, struct sfs_error *err)
{
	const struct p11_uri *u = &h->uri;
	PKCS11_CTX *ctx = h->mod->ctx;
	PKCS11_SLOT *found = NULL;
	unsigned int matches = 0;

	if (!str_match(u->lib_manufacturer, ctx->manufacturer) ||
	    !str_match(u->lib_description, ctx->description))
		goto none;
	if (PKCS11_enumerate_slots(ctx, &h->slots, &h->nslots) < 0)
		return p11_fail(err, NULL, "listing slots of %s",
				h->mod->path);
	for (unsigned int i = 0; i < h->nslots; i++) {
		PKCS11_SLOT *s = &h->slots[i];
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
			      "serial= to pick one", matches, h->mod->path);
		return -EINVAL;
	}
	if (found) {
		*out = found;
		return 0;
	}
none:
	sfs_error_set(err, -ENODEV, SFS_EXIT_TOKEN,
		      "token '%s' not found in PKCS#11 module %s",
		      uri_label(u), h->mod->path);
	return -ENODEV;
}

static bool key_match(const struct p11_uri *u, const PKCS11_KEY *k)
{
	if (!k->isPrivate || !str_match(u->object, k->label))
		return false;
	return !u->has_id || (k->id_len == u->id_len &&
			      !memcmp(k->id, u->id, u->id_len));
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
			      "add object= or id=", matches, label);
		return -EINVAL;
	}
	*out = PKCS11_get_private_key(found);
	if (!*out)
		return p11_fail(err, label, "loading key '%s'",
				found->label ? found->label : "");
	return 0;
}

static void token_release(struct hsm *h)
{
	/* The key holds a reference on the slot: free it first. */
	EVP_PKEY_free(h->priv);
	h->priv = NULL;
	if (h->slots)
		PKCS11_release_all_slots(h->mod->ctx, h->slots, h->nslots);
	h->slots = NULL;
	h->nslots = 0;
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
	if (t->userPinLocked) {
		sfs_error_set(err, -EACCES, SFS_EXIT_TOKEN,
			      "PIN of token '%s' is locked", t->label);
		ret = -EACCES;
		goto out;
	}
	if (t->loginRequired && PKCS11_login(slot, 0, h->pin) < 0) {
		ret = p11_fail(err, t->label, "login to token '%s'",
			       t->label);
		goto out;
	}
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
			      "at start", h->uri.object ? h->uri.object : "",
			      t->label);
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
	int ret;

	if (!h) {
		sfs_error_set(err, -ENOMEM, SFS_EXIT_TOKEN, "out of memory");
		return -ENOMEM;
	}
	ret = uri_parse(cfg->key_uri ? cfg->key_uri : "", &h->uri, err);
	if (ret)
		goto fail;
	module = cfg->module ? cfg->module : h->uri.module_path;
	ret = -EINVAL;
	if (!module) {
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "no PKCS#11 module configured");
		goto fail;
	}
	if (cfg->softhsm_conf && access(cfg->softhsm_conf, R_OK) < 0) {
		ret = -errno;
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "cannot read SoftHSM configuration %s: %s",
			      cfg->softhsm_conf, strerror(-ret));
		goto fail;
	}
	ret = pin_get(cfg, &h->uri, &h->pin, err);
	if (ret)
		goto fail;
	ret = module_get(module, cfg->softhsm_conf, &m, err);
	if (ret)
		goto fail;
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
				      "token '%s'", h->uri.object ?
				      h->uri.object : "", h->label);
		}
	}
	pthread_rwlock_unlock(&m->lock);
	if (ret)
		goto fail;
	sfs_info("key %s on token '%s' (serial %s) ready", h->uri.clean,
		 h->label, h->serial);
	*out = h;
	return 0;
fail:
	hsm_close(h);
	return ret;
}

void hsm_close(struct hsm *h)
{
	if (!h)
		return;
	if (h->mod) {
		pthread_rwlock_wrlock(&h->mod->lock);
		token_release(h);
		handle_unlink_locked(h);
		pthread_rwlock_unlock(&h->mod->lock);
		module_put(h->mod);
	}
	EVP_PKEY_free(h->pub);
	pin_free(h->pin);
	uri_free(&h->uri);
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
	for (struct hsm *o = m->handles; o; o = o->next)
		token_release(o);
	if (m->ctx) {
		PKCS11_CTX_unload(m->ctx);
		PKCS11_CTX_free(m->ctx);
		m->ctx = NULL;
	}
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
	if (m->last_fail.tv_sec && ns_since(&m->last_fail) < RECOVER_BACKOFF_NS) {
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
			return 0;	/* read lock held until hsm_sign_end */
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
