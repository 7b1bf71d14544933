// SPDX-License-Identifier: Apache-2.0
/* The chain-verdict cache of a verifier (chain_int.h says why it holds). */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "chain_int.h"

_Static_assert(sizeof(time_t) == 8, "time_t is 64 bits");
#define T_MIN ((time_t)INT64_MIN)
#define T_MAX ((time_t)INT64_MAX)

/* 1,024 entries: signers of one trust epoch are few. */
#define CC_SETS 256
#define CC_WAYS 4

struct cc_entry {
	struct verify_chain_key k;
	bool used;
	time_t lo, hi, chain_until;
	uint64_t last; /* use tick, for eviction */
};

struct verify_chain_cache {
	pthread_mutex_t lock;
	time_t *b; /* the store's boundaries, sorted, unique */
	size_t nb, cap;
	uint64_t tick;
	struct cc_entry e[CC_SETS][CC_WAYS];
};

bool verify_asn1_time(const ASN1_TIME *t, time_t *out)
{
	struct tm tm;

	if (!t || !ASN1_TIME_to_tm(t, &tm))
		return false;
	*out = timegm(&tm);
	return true;
}

static int add(struct verify_chain_cache *c, const ASN1_TIME *t)
{
	time_t v;

	if (!verify_asn1_time(t, &v))
		return 0;
	if (c->nb == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		time_t *grown = realloc(c->b, cap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		c->b = grown;
		c->cap = cap;
	}
	c->b[c->nb++] = v;
	return 0;
}

static int add_cert(struct verify_chain_cache *c, const X509 *x)
{
	int ret = add(c, X509_get0_notBefore(x));

	return ret ? ret : add(c, X509_get0_notAfter(x));
}

static int add_crl(struct verify_chain_cache *c, const X509_CRL *crl)
{
	int ret = add(c, X509_CRL_get0_lastUpdate(crl));

	return ret ? ret : add(c, X509_CRL_get0_nextUpdate(crl));
}

static int add_store(struct verify_chain_cache *c, X509_STORE *store)
{
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	int ret = 0;

	for (int i = 0; !ret && objs && i < sk_X509_OBJECT_num(objs); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);

		if (X509_OBJECT_get_type(o) == X509_LU_X509)
			ret = add_cert(c, X509_OBJECT_get0_X509(o));
		else if (X509_OBJECT_get_type(o) == X509_LU_CRL)
			ret = add_crl(c, X509_OBJECT_get0_X509_CRL(o));
	}
	return ret;
}

/* "HHHHHHHH.N" or "HHHHHHHH.rN": what OpenSSL's hashed lookup opens. */
static bool hashed_name(const char *n)
{
	size_t h = strspn(n, "0123456789abcdef");

	if (h != 8 || n[8] != '.')
		return false;
	n += 9 + (n[9] == 'r');
	return *n && strspn(n, "0123456789") == strlen(n);
}

static int add_file(struct verify_chain_cache *c, const char *dir,
		    const char *name)
{
	STACK_OF(X509_INFO) * infos;
	char path[PATH_MAX];
	BIO *bio;
	int ret = 0;

	/* The path OpenSSL's lookup opens too (by_dir.c). */
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= PATH_MAX)
		return -ENAMETOOLONG;
	bio = BIO_new_file(path, "r");
	if (!bio)
		return -EIO;
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (!infos)
		return -EIO;
	for (int i = 0; !ret && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *xi = sk_X509_INFO_value(infos, i);

		if (xi->x509)
			ret = add_cert(c, xi->x509);
		if (!ret && xi->crl)
			ret = add_crl(c, xi->crl);
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return ret;
}

/* Every certificate and CRL a hashed lookup in dir could load later. */
static int add_capath(struct verify_chain_cache *c, const char *dir)
{
	struct dirent *de;
	int ret = 0;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while (!ret && (de = readdir(d)))
		if (hashed_name(de->d_name))
			ret = add_file(c, dir, de->d_name);
	closedir(d);
	return ret;
}

static int cmp_time(const void *a, const void *b)
{
	time_t x = *(const time_t *)a, y = *(const time_t *)b;

	return (x > y) - (x < y);
}

int verify_chain_cache_new(X509_STORE *store, const char *capath,
			   struct verify_chain_cache **out)
{
	struct verify_chain_cache *c = calloc(1, sizeof(*c));
	size_t n = 0;
	int ret;

	if (!c)
		return -ENOMEM;
	ret = add_store(c, store);
	if (!ret && capath)
		ret = add_capath(c, capath);
	ERR_clear_error();
	if (!ret && pthread_mutex_init(&c->lock, NULL))
		ret = -ENOMEM;
	if (ret) {
		free(c->b);
		free(c);
		return ret;
	}
	if (c->nb)
		qsort(c->b, c->nb, sizeof(*c->b), cmp_time);
	for (size_t i = 0; i < c->nb; i++)
		if (!n || c->b[i] != c->b[n - 1])
			c->b[n++] = c->b[i];
	c->nb = n;
	*out = c;
	return 0;
}

void verify_chain_cache_free(struct verify_chain_cache *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c->b);
	free(c);
}

/* Narrow [*lo, *hi) around t by boundary b. */
static void narrow(time_t b, time_t t, time_t *lo, time_t *hi)
{
	if (b <= t && b > *lo)
		*lo = b;
	else if (b > t && b < *hi)
		*hi = b;
}

static void narrow_cert(X509 *x, time_t t, time_t *lo, time_t *hi)
{
	time_t b;

	if (verify_asn1_time(X509_get0_notBefore(x), &b))
		narrow(b, t, lo, hi);
	if (verify_asn1_time(X509_get0_notAfter(x), &b))
		narrow(b, t, lo, hi);
}

void verify_chain_cell(const struct verify_chain_cache *c, X509 *signer,
		       STACK_OF(X509) * untrusted, time_t t, time_t *lo,
		       time_t *hi)
{
	size_t l = 0, h = c->nb;

	/* The first store boundary after t: b[l - 1] <= t < b[l]. */
	while (l < h) {
		size_t m = l + (h - l) / 2;

		if (c->b[m] <= t)
			l = m + 1;
		else
			h = m;
	}
	*lo = l ? c->b[l - 1] : T_MIN;
	*hi = l < c->nb ? c->b[l] : T_MAX;
	narrow_cert(signer, t, lo, hi);
	for (int i = 0; i < sk_X509_num(untrusted); i++)
		narrow_cert(sk_X509_value(untrusted, i), t, lo, hi);
}

static struct cc_entry *set_of(struct verify_chain_cache *c,
			       const struct verify_chain_key *k)
{
	/* k->certs is a SHA-256: any two of its bytes spread evenly. */
	return c->e[(k->certs[0] ^ k->how) % CC_SETS];
}

static bool same(const struct cc_entry *e, const struct verify_chain_key *k)
{
	return e->used && e->k.how == k->how &&
	       !memcmp(e->k.certs, k->certs, sizeof(k->certs));
}

bool verify_chain_cache_get(struct verify_chain_cache *c,
			    const struct verify_chain_key *k, time_t t,
			    time_t *chain_until)
{
	struct cc_entry *set = set_of(c, k);
	bool hit = false;

	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < CC_WAYS && !hit; i++) {
		struct cc_entry *e = &set[i];

		if (same(e, k) && e->lo <= t && t < e->hi) {
			*chain_until = e->chain_until;
			e->last = ++c->tick;
			hit = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

void verify_chain_cache_put(struct verify_chain_cache *c,
			    const struct verify_chain_key *k, time_t lo,
			    time_t hi, time_t chain_until)
{
	struct cc_entry *set = set_of(c, k), *victim = &set[0];

	pthread_mutex_lock(&c->lock);
	/* The same key's older cell, else a free way, else the oldest. */
	for (int i = 0; i < CC_WAYS; i++) {
		struct cc_entry *e = &set[i];

		if (same(e, k)) {
			victim = e;
			break;
		}
		if (victim->used && (!e->used || e->last < victim->last))
			victim = e;
	}
	victim->k = *k;
	victim->used = true;
	victim->lo = lo;
	victim->hi = hi;
	victim->chain_until = chain_until;
	victim->last = ++c->tick;
	pthread_mutex_unlock(&c->lock);
}
