// SPDX-License-Identifier: Apache-2.0
/* Where timestamps come from: tsa-* per [rule], the TSA clients, trust. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signetfs/config.h"
#include "signetfs/policy.h"
#include "signetfs/tsa.h"
#include "signetfs/verify.h"

void policy_tsa(const struct sfs_config *cfg, const struct sfs_rule *r,
		struct sfs_tsa_config *out)
{
	*out = cfg->tsa;
	if (!r)
		return;
	if (r->tsa.url)
		out->url = r->tsa.url;
	if (r->tsa.trust)
		out->trust = r->tsa.trust;
	if (r->tsa.policy)
		out->policy = r->tsa.policy;
	if (r->tsa.timeout_ms)
		out->timeout_ms = r->tsa.timeout_ms;
	if (r->tsa.parallel)
		out->parallel = r->tsa.parallel;
}

static int verifier_tsa(const struct sfs_config *cfg, struct sfs_verifier *v,
			struct sfs_error *err)
{
	struct sfs_tsa_config t;
	int ret;

	for (size_t i = 0; i <= cfg->n_rules; i++) {
		policy_tsa(cfg, i < cfg->n_rules ? &cfg->rules[i] : NULL, &t);
		if (!t.trust)
			continue;
		ret = verifier_add_tsa(v, t.trust, err);
		if (ret)
			return ret;
	}
	return 0;
}

int policy_verifier_new(const struct sfs_config *cfg,
			const struct sfs_trust_config *trust,
			struct sfs_verifier **out, struct sfs_error *err)
{
	int ret = verifier_new(trust, out, err);

	if (!ret)
		ret = verifier_tsa(cfg, *out, err);
	if (ret) {
		verifier_free(*out);
		*out = NULL;
	}
	return ret;
}

struct tsaset_entry {
	const struct sfs_rule *rule; /* NULL: [signetfs]'s */
	struct sfs_tsa *tsa;	     /* NULL: no tsa-url there */
	bool shared;		     /* owned by an earlier entry */
};

struct sfs_tsaset {
	struct tsaset_entry *e;
	size_t n;
};

static bool same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_tsa(const struct sfs_tsa_config *a,
		     const struct sfs_tsa_config *b)
{
	return same(a->url, b->url) && same(a->trust, b->trust) &&
	       same(a->policy, b->policy) && a->timeout_ms == b->timeout_ms &&
	       a->parallel == b->parallel;
}

/* Entry k (rule k, or the global one at n_rules), sharing a client. */
static int open_entry(const struct sfs_config *cfg, struct sfs_tsaset *set,
		      size_t k, struct sfs_error *err)
{
	const struct sfs_rule *r = k < cfg->n_rules ? &cfg->rules[k] : NULL;
	struct tsaset_entry *e = &set->e[set->n];
	struct sfs_tsa_config t, o;
	int ret;

	policy_tsa(cfg, r, &t);
	e->rule = r;
	if (!t.url) {
		set->n++;
		return 0;
	}
	for (size_t j = 0; j < set->n; j++) {
		policy_tsa(cfg, set->e[j].rule, &o);
		if (set->e[j].tsa && same_tsa(&t, &o)) {
			e->tsa = set->e[j].tsa;
			e->shared = true;
			set->n++;
			return 0;
		}
	}
	ret = tsa_open(&t, &e->tsa, err);
	if (ret == 0)
		set->n++;
	else if (r) {
		char msg[sizeof(err->msg)];

		memcpy(msg, err->msg, sizeof(msg));
		snprintf(err->msg, sizeof(err->msg), "[rule %.64s]: %.400s",
			 r->pattern, msg);
	}
	return ret;
}

int policy_tsas_open(const struct sfs_config *cfg, struct sfs_tsaset **out,
		     struct sfs_error *err)
{
	struct sfs_tsaset *set = calloc(1, sizeof(*set));
	int ret = -ENOMEM;

	if (!set)
		return -ENOMEM;
	set->e = calloc(cfg->n_rules + 1, sizeof(*set->e));
	if (!set->e)
		goto fail;
	/* The global entry first: rules that change nothing share it. */
	ret = open_entry(cfg, set, cfg->n_rules, err);
	for (size_t k = 0; !ret && k < cfg->n_rules; k++)
		ret = open_entry(cfg, set, k, err);
	if (ret)
		goto fail;
	*out = set;
	return 0;
fail:
	policy_tsas_close(set);
	return ret;
}

struct sfs_tsa *policy_tsas_for(struct sfs_tsaset *set,
				const struct sfs_rule *r)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (set->e[i].rule == r)
			return set->e[i].tsa;
	return NULL;
}

bool policy_tsas_any(const struct sfs_tsaset *set)
{
	for (size_t i = 0; set && i < set->n; i++)
		if (set->e[i].tsa)
			return true;
	return false;
}

void policy_tsas_close(struct sfs_tsaset *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++)
		if (!set->e[i].shared)
			tsa_close(set->e[i].tsa);
	free(set->e);
	free(set);
}
