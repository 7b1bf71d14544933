// SPDX-License-Identifier: Apache-2.0
/* A chained hash table of intrusive nodes (htab.h). */
#include <errno.h>
#include <stdlib.h>

#include "signetfs/htab.h"

int sfs_htab_init(struct sfs_htab *t, size_t nslots)
{
	t->slots = calloc(nslots, sizeof(*t->slots));
	t->nslots = t->slots ? nslots : 0;
	t->n = 0;
	return t->slots ? 0 : -ENOMEM;
}

void sfs_htab_free(struct sfs_htab *t)
{
	free(t->slots);
	t->slots = NULL;
	t->nslots = t->n = 0;
}

static struct sfs_hnode **slot_of(struct sfs_htab *t, uint64_t h)
{
	return &t->slots[h & (t->nslots - 1)];
}

struct sfs_hnode **sfs_htab_find(struct sfs_htab *t, uint64_t h,
				 bool (*eq)(const struct sfs_hnode *n,
					    const void *key),
				 const void *key)
{
	struct sfs_hnode **pp = slot_of(t, h);

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->hash == h && eq(*pp, key))
			return pp;
	return pp;
}

static void grow(struct sfs_htab *t)
{
	size_t n = t->nslots * 2;
	struct sfs_hnode **s = calloc(n, sizeof(*s));

	if (!s)
		return; /* longer chains, still correct */
	for (size_t i = 0; i < t->nslots; i++) {
		struct sfs_hnode *e = t->slots[i], *next;

		for (; e; e = next) {
			next = e->next;
			e->next = s[e->hash & (n - 1)];
			s[e->hash & (n - 1)] = e;
		}
	}
	free(t->slots);
	t->slots = s;
	t->nslots = n;
}

void sfs_htab_add(struct sfs_htab *t, struct sfs_hnode *n)
{
	struct sfs_hnode **pp;

	if (t->n >= t->nslots)
		grow(t);
	pp = slot_of(t, n->hash);
	n->next = *pp;
	*pp = n;
	t->n++;
}

struct sfs_hnode *sfs_htab_del(struct sfs_htab *t, struct sfs_hnode **link)
{
	struct sfs_hnode *n = *link;

	*link = n->next;
	n->next = NULL;
	t->n--;
	return n;
}

struct sfs_hnode **sfs_htab_link(struct sfs_htab *t, struct sfs_hnode *n)
{
	struct sfs_hnode **pp = slot_of(t, n->hash);

	while (*pp && *pp != n)
		pp = &(*pp)->next;
	return *pp ? pp : NULL;
}
