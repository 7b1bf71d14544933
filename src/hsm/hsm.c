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
#include <p11-kit/pkcs11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "signetfs/hsm.h"
#include "signetfs/log.h"

/*
 * The few CK_RV values we tell apart (PKCS#11 v2.40 section 5.1). libp11
 * reports the module's CK_RV as the reason code of its "CKR" error
 * library. (p11-kit's pkcs11.h is only used for session_probe().)
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
 * C_Finalize ends the module for the whole process, so only the last
 * handle may unload it.
 */
struct hsm_module {
	struct hsm_module *next;
	char *path;
	char *conf;		/* SOFTHSM2_CONF it was loaded with */
	PKCS11_CTX *ctx;
	void *dl;		/* our own reference, for fl */
	CK_FUNCTION_LIST_PTR fl;	/* the module's list, as libp11 uses it */
	unsigned refs;
};

static pthread_mutex_t module_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module *modules;	/* under module_lock */

struct hsm {
	/*
	 * Readers hold lock from hsm_sign_begin to hsm_sign_end; libp11
	 * gives each signature its own session from the slot's pool, so
	 * readers run in parallel. The writer (recovery, close) replaces
	 * the token state below, which frees the EVP_PKEY readers use.
	 * Lock order: lock, then module_lock.
	 */
	pthread_rwlock_t lock;
	atomic_bool broken;		/* a reader reported a failure */
	struct timespec last_fail;	/* under the write lock */
	struct sfs_error last_err;	/* under the write lock */

	/* Token state, replaced under the write lock. */
	PKCS11_SLOT *slots;
	unsigned int nslots;
	EVP_PKEY *priv;

	/* Fixed from open to close. */
	struct hsm_module *mod;
	struct p11_uri uri;
	char *pin;			/* secure heap, for re-login */
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
		OPENSSL_secure_clear_free(u->pin_value, strlen(u->pin_value));
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

/* The same (initialised) module instance libp11 loaded: dlopen shares it. */
static void fl_get(struct hsm_module *m, void *dl)
{
	CK_C_GetFunctionList get;

	m->dl = dl;
	get = (CK_C_GetFunctionList)dlsym(dl, "C_GetFunctionList");
	if (!get || get(&m->fl) != CKR_OK)
		m->fl = NULL;
}

static int module_get(const char *path, const char *conf,
		      struct hsm_module **out, struct sfs_error *err)
{
	struct hsm_module *m;
	void *dl = NULL;
	int ret;

	pthread_mutex_lock(&module_lock);
	for (m = modules; m; m = m->next)
		if (!strcmp(m->path, path))
			break;
	if (m) {
		ret = 0;
		/* SoftHSM reads its configuration once, in C_Initialize. */
		if ((m->conf || conf) &&
		    (!m->conf || !conf || strcmp(m->conf, conf))) {
			ret = -EBUSY;
			sfs_error_set(err, ret, SFS_EXIT_USAGE,
				      "PKCS#11 module %s is already loaded "
				      "with another softhsm-conf", path);
		} else {
			m->refs++;
			*out = m;
		}
		goto out;
	}
	ret = module_check(path, err, &dl);
	if (ret)
		goto out;
	ret = -ENOMEM;
	m = calloc(1, sizeof(*m));
	if (!m || !(m->path = strdup(path)) ||
	    (conf && !(m->conf = strdup(conf))) ||
	    !(m->ctx = PKCS11_CTX_new())) {
		sfs_error_set(err, ret, SFS_EXIT_TOKEN, "out of memory");
		goto out;
	}
	if (conf && setenv("SOFTHSM2_CONF", conf, 1) < 0) {
		ret = -errno;
		sfs_error_set(err, ret, SFS_EXIT_TOKEN, "setenv: %s",
			      strerror(-ret));
		goto out;
	}
	if (PKCS11_CTX_load(m->ctx, path) < 0) {
		ret = p11_fail(err, NULL, "initialising PKCS#11 module %s",
			       path);
		goto out;
	}
	fl_get(m, dl);
	dl = NULL; /* transferred */
	m->refs = 1;
	m->next = modules;
	modules = m;
	*out = m;
	m = NULL; /* transferred */
	ret = 0;
out:
	if (m) {
		if (m->ctx)
			PKCS11_CTX_free(m->ctx);
		free(m->path);
		free(m->conf);
		free(m);
	}
	if (dl)
		dlclose(dl);
	pthread_mutex_unlock(&module_lock);
	return ret;
}

static void module_put(struct hsm_module *m)
{
	struct hsm_module **pp;

	if (!m)
		return;
	pthread_mutex_lock(&module_lock);
	if (--m->refs == 0) {
		for (pp = &modules; *pp != m; pp = &(*pp)->next)
			;
		*pp = m->next;
		PKCS11_CTX_unload(m->ctx);
		PKCS11_CTX_free(m->ctx);
		if (m->dl)
			dlclose(m->dl);
		free(m->path);
		free(m->conf);
		free(m);
	}
	pthread_mutex_unlock(&module_lock);
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

/*
 * libp11 0.4.12 waits forever on its session pool's condition variable
 * when C_OpenSession fails (fixed upstream by OpenSC/libp11 PR #579): a
 * token that is listed but will not open a session (removed just then,
 * session limit reached, remote HSM gone) would hang login or key lookup,
 * and with it every signer waiting on the lock. Open one session first
 * and report the module's answer instead. Only a failure in the moment
 * between this probe and libp11's own open can still hang.
 */
static int session_probe(struct hsm *h, PKCS11_SLOT *slot,
			 struct sfs_error *err)
{
	CK_FUNCTION_LIST_PTR f = h->mod->fl;
	CK_SESSION_HANDLE s;
	CK_RV rv;

	if (!f)
		return 0;
	rv = f->C_OpenSession(PKCS11_get_slotid_from_slot(slot),
			      CKF_SERIAL_SESSION, NULL, NULL, &s);
	if (rv == CKR_OK) {
		f->C_CloseSession(s);
		return 0;
	}
	/* As libp11 would report it, so p11_fail() maps it. */
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

int hsm_open(const struct hsm_config *cfg, struct hsm **out,
	     struct sfs_error *err)
{
	struct hsm *h = calloc(1, sizeof(*h));
	pthread_rwlockattr_t attr;
	const char *module;
	int ret;

	if (!h) {
		sfs_error_set(err, -ENOMEM, SFS_EXIT_TOKEN, "out of memory");
		return -ENOMEM;
	}
	/* Writers first: continuous signing must not starve recovery. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr,
			PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&h->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
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
	ret = module_get(module, cfg->softhsm_conf, &h->mod, err);
	if (ret)
		goto fail;
	ret = token_setup_locked(h, err);
	if (ret)
		goto fail;
	h->pub = pub_copy(h->priv);
	if (!h->pub) {
		ret = -EIO;
		sfs_error_set(err, ret, SFS_EXIT_TOKEN,
			      "cannot read the public key of '%s' on token "
			      "'%s'", h->uri.object ? h->uri.object : "",
			      h->label);
		goto fail;
	}
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
		token_release(h);
		module_put(h->mod);
	}
	EVP_PKEY_free(h->pub);
	pin_free(h->pin);
	uri_free(&h->uri);
	free(h->serial);
	free(h->label);
	pthread_rwlock_destroy(&h->lock);
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
 * Start over with fresh sessions: closing all sessions logs the user
 * out, and libp11 0.4.12 only logs in again after fork(), so after a
 * token failure we release the slots, enumerate again, log in and find
 * the key. The module stays loaded: other handles may share it.
 */
static int hsm_recover(struct hsm *h, struct sfs_error *err)
{
	int ret = 0;

	pthread_rwlock_wrlock(&h->lock);
	if (!atomic_load(&h->broken))
		goto out;
	if (h->last_fail.tv_sec && ns_since(&h->last_fail) < RECOVER_BACKOFF_NS) {
		*err = h->last_err;
		ret = err->code ? err->code : -EIO;
		goto out;
	}
	token_release(h);
	ret = token_setup_locked(h, err);
	if (ret) {
		clock_gettime(CLOCK_MONOTONIC, &h->last_fail);
		h->last_err = *err;
		goto out;
	}
	h->last_fail.tv_sec = 0;
	atomic_store(&h->broken, false);
	sfs_log(SFS_LOG_NOTICE, "token '%s' recovered", h->label);
out:
	pthread_rwlock_unlock(&h->lock);
	return ret;
}

int hsm_sign_begin(struct hsm *h, EVP_PKEY **key, struct sfs_error *err)
{
	int ret;

	if (atomic_load(&h->broken)) {
		ret = hsm_recover(h, err);
		if (ret)
			return ret;
	}
	pthread_rwlock_rdlock(&h->lock);
	if (!h->priv) {
		/* Another thread's recovery failed after ours succeeded. */
		pthread_rwlock_unlock(&h->lock);
		sfs_error_set(err, -ENODEV, SFS_EXIT_TOKEN,
			      "token '%s' is not available", h->label);
		return -ENODEV;
	}
	*key = h->priv;
	return 0;
}

void hsm_sign_end(struct hsm *h, bool failed)
{
	/*
	 * Still under the read lock: no recovery ran since our begin, so
	 * the failure belongs to the current token state.
	 */
	if (failed)
		atomic_store(&h->broken, true);
	pthread_rwlock_unlock(&h->lock);
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
