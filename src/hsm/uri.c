// SPDX-License-Identifier: Apache-2.0
/* RFC 7512 PKCS#11 URI parsing: percent-decoding, attributes, PIN removal. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "uri.h"

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

void hsm_uri_free(struct p11_uri *u)
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
	    {"library-manufacturer", offsetof(struct p11_uri, lib_manufacturer),
	     false},
	    {"library-description", offsetof(struct p11_uri, lib_description),
	     false},
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
	    "library-version",
	    "slot-description",
	    "slot-manufacturer",
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
static int uri_store(struct p11_uri *u, const char *name, bool query, char *v,
		     size_t vlen, const char **why)
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
	ret = pct_decode(eq + 1, len - nlen - 1, !strcmp(name, "pin-value"), &v,
			 &vlen);
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

int hsm_uri_parse(const char *text, struct p11_uri *u, struct sfs_error *err)
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
		hsm_uri_free(u);
	return ret;
}
