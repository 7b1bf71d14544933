// SPDX-License-Identifier: Apache-2.0
/* Per-subtree rules: glob matching, most-specific-wins, writers, pins, keys. */
#include <errno.h>
#include <fnmatch.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signetfs/config.h"
#include "signetfs/policy.h"

/* Split s in place at '/'; -ENAMETOOLONG beyond max components. */
static int split(char *s, char **parts, size_t max)
{
	size_t n = 0;
	char *save = NULL;

	for (char *t = strtok_r(s, "/", &save); t;
	     t = strtok_r(NULL, "/", &save)) {
		if (n == max)
			return -ENAMETOOLONG;
		parts[n++] = t;
	}
	return (int)n;
}

/*
 * Components of pat against components of name, as a table filled from
 * the ends (row i: pat[i..] against name[j..]), so "**" costs O(np * nn)
 * however many there are, never a backtracking search.
 */
static bool glob_parts(char **pat, size_t np, char **name, size_t nn)
{
	bool below[SFS_POLICY_MAX_DEPTH + 1], row[SFS_POLICY_MAX_DEPTH + 1];

	for (size_t j = 0; j <= nn; j++)
		below[j] = j == nn;
	for (size_t i = np; i-- > 0;) {
		bool star2 = strcmp(pat[i], "**") == 0;

		for (size_t j = nn + 1; j-- > 0;) {
			if (star2 && i == np - 1)
				row[j] = j < nn; /* a trailing ** needs one */
			else if (star2)
				row[j] = below[j] || (j < nn && row[j + 1]);
			else
				row[j] = j < nn && below[j + 1] &&
					 fnmatch(pat[i], name[j], 0) == 0;
		}
		memcpy(below, row, (nn + 1) * sizeof(*row));
	}
	return below[0];
}

size_t policy_depth(const char *path)
{
	size_t n = 0;

	for (const char *p = path; *p; p++)
		if (*p != '/' && (p == path || p[-1] == '/'))
			n++;
	return n;
}

int policy_glob(const char *pattern, const char *path)
{
	char *p = strdup(pattern), *n = strdup(path);
	char *pp[SFS_POLICY_MAX_DEPTH], *np[SFS_POLICY_MAX_DEPTH];
	int a, b, ret = -ENOMEM;

	if (p && n) {
		b = split(n, np, SFS_POLICY_MAX_DEPTH);
		a = split(p, pp, SFS_POLICY_MAX_DEPTH);
		if (b < 0)
			ret = b; /* the path: policy cannot evaluate it */
		else if (a < 0)
			ret = 0; /* too deep a pattern matches nothing */
		else
			ret = glob_parts(pp, (size_t)a, np, (size_t)b);
	}
	free(p);
	free(n);
	return ret;
}

int policy_match(const struct sfs_config *cfg, const char *path,
		 const struct sfs_rule **rule)
{
	const struct sfs_rule *best = NULL;
	int m;

	*rule = NULL;
	/* Even without rules: a path too deep for them is refused alike. */
	if (policy_depth(path) > SFS_POLICY_MAX_DEPTH)
		return -ENAMETOOLONG;
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct sfs_rule *r = &cfg->rules[i];

		m = policy_glob(r->pattern, path);
		if (m < 0)
			return m;
		if (!m)
			continue;
		/* Later rules win ties: >=, rules are in file order. */
		if (!best || r->literal >= best->literal)
			best = r;
	}
	*rule = best;
	return 0;
}

static bool in_ids(const struct sfs_ids *l, uint32_t id)
{
	if (l->any)
		return true;
	for (size_t i = 0; i < l->n; i++)
		if (l->ids[i] == id)
			return true;
	return false;
}

static bool groups_match(const struct sfs_ids *l, gid_t gid,
			 const gid_t *groups, int ngroups)
{
	if (in_ids(l, gid))
		return true;
	for (int i = 0; i < ngroups; i++)
		if (in_ids(l, groups[i]))
			return true;
	return false;
}

bool policy_may_write(const struct sfs_config *cfg, const struct sfs_rule *r,
		      uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		      uid_t owner_uid)
{
	struct sfs_ids u, g;

	if (r && (r->uids.set || r->gids.set))
		return in_ids(&r->uids, uid) ||
		       groups_match(&r->gids, gid, groups, ngroups);
	if (!cfg->writers_set)
		return uid == owner_uid || uid == 0;
	u = (struct sfs_ids){cfg->writer_uids, cfg->n_writer_uids, true,
			     cfg->writers_any};
	g = (struct sfs_ids){cfg->writer_gids, cfg->n_writer_gids, true, false};
	return in_ids(&u, uid) || groups_match(&g, gid, groups, ngroups);
}

bool policy_uses_groups(const struct sfs_config *cfg)
{
	if (cfg->n_writer_gids)
		return true;
	for (size_t i = 0; i < cfg->n_rules; i++)
		if (cfg->rules[i].gids.set && !cfg->rules[i].gids.any)
			return true;
	return false;
}

void policy_pins(const struct sfs_config *cfg, const struct sfs_rule *r,
		 const uint8_t (**pins)[32], size_t *n)
{
	if (r && r->pins_set) {
		*pins = (const uint8_t(*)[32])r->pins;
		*n = r->n_pins;
	} else {
		*pins = (const uint8_t(*)[32])cfg->pins;
		*n = cfg->n_pins;
	}
}

bool policy_path_binding(const struct sfs_config *cfg, const struct sfs_rule *r)
{
	if (r && r->path_binding >= 0)
		return r->path_binding;
	return cfg->path_binding;
}

/* "0 1000 alice", "*" for anyone; names resolved now, not at each check. */
int policy_parse_ids(const char *v, bool group, struct sfs_ids *l, char *bad)
{
	char *copy = strdup(v), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	l->set = true;
	for (tok = strtok_r(copy, " \t,", &save); tok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		uint32_t id, *grown;
		char *end;
		unsigned long n;

		if (strcmp(tok, "*") == 0) {
			l->any = true;
			continue;
		}
		errno = 0;
		n = strtoul(tok, &end, 10);
		if (!errno && !*end && end != tok && n < UINT32_MAX) {
			id = (uint32_t)n;
		} else if (group) {
			struct group *gr = getgrnam(tok);

			if (!gr) {
				if (bad)
					snprintf(bad, 64, "unknown group %.40s",
						 tok);
				ret = -EINVAL;
				break;
			}
			id = gr->gr_gid;
		} else {
			struct passwd *pw = getpwnam(tok);

			if (!pw) {
				if (bad)
					snprintf(bad, 64, "unknown user %.40s",
						 tok);
				ret = -EINVAL;
				break;
			}
			id = pw->pw_uid;
		}
		grown = realloc(l->ids, (l->n + 1) * sizeof(*grown));
		if (!grown) {
			ret = -ENOMEM;
			break;
		}
		l->ids = grown;
		l->ids[l->n++] = id;
	}
	free(copy);
	return ret;
}

int policy_parse_pins(const char *v, uint8_t (**pins)[32], size_t *n)
{
	char *copy = strdup(v), *save = NULL, *tok;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, " \t,", &save); tok;
	     tok = strtok_r(NULL, " \t,", &save)) {
		uint8_t(*grown)[32] = realloc(*pins, (*n + 1) * 32);

		if (!grown) {
			ret = -ENOMEM;
			break;
		}
		*pins = grown;
		if (sfs_unhex(tok, (*pins)[*n], 32) != 32) {
			ret = -EINVAL;
			break;
		}
		(*n)++;
	}
	free(copy);
	return ret;
}

int policy_rule_key(struct sfs_rule *r, const char *dir, const char *k,
		    const char *v, char *bad)
{
	if (!strcmp(k, "key")) {
		char *p = strdup(v);

		if (!p)
			return -ENOMEM;
		free(r->key.key_uri);
		r->key.key_uri = p;
		return 0;
	}
	if (!strcmp(k, "cert"))
		return config_set_path(dir, &r->key.cert, v);
	if (!strcmp(k, "chain"))
		return config_set_path(dir, &r->key.chain, v);
	if (!strcmp(k, "pin-file"))
		return config_set_path(dir, &r->key.pin_file, v);
	if (!strcmp(k, "module"))
		return config_set_path(dir, &r->key.module, v);
	if (!strcmp(k, "writers-uid"))
		return policy_parse_ids(v, false, &r->uids, bad);
	if (!strcmp(k, "writers-gid"))
		return policy_parse_ids(v, true, &r->gids, bad);
	if (!strcmp(k, "signer-sha256")) {
		r->pins_set = true;
		return policy_parse_pins(v, &r->pins, &r->n_pins);
	}
	if (!strncmp(k, "tsa-", 4))
		return config_tsa_key(dir, &r->tsa, k, v);
	if (!strcmp(k, "path-binding")) {
		if (!strcmp(v, "true") || !strcmp(v, "yes"))
			r->path_binding = 1;
		else if (!strcmp(v, "false") || !strcmp(v, "no"))
			r->path_binding = 0;
		else
			return -EINVAL;
		return 0;
	}
	return -ENOENT;
}

void policy_rule_free(struct sfs_rule *r)
{
	free(r->pattern);
	config_key_free(&r->key);
	free(r->uids.ids);
	free(r->gids.ids);
	free(r->pins);
	config_tsa_free(&r->tsa);
}

struct ring_entry {
	const struct sfs_rule *rule; /* NULL: the global key */
	struct sfs_signer *signer;
	bool shared; /* signer owned by an earlier entry */
};

struct sfs_keyring {
	const struct sfs_config *cfg;
	struct ring_entry *e;
	size_t n;
	struct sfs_signer *global;
};

/* A rule's key config, with what it leaves unset taken from [signetfs]. */
static struct sfs_key_config merged(const struct sfs_config *cfg,
				    const struct sfs_rule *r)
{
	struct sfs_key_config k = cfg->key;

#define TAKE(f)                                                                \
	if (r->key.f)                                                          \
	k.f = r->key.f
	TAKE(key_uri);
	TAKE(cert);
	TAKE(chain);
	TAKE(pin_file);
	TAKE(module);
#undef TAKE
	return k;
}

static bool same_key(const struct sfs_key_config *a,
		     const struct sfs_key_config *b)
{
	return a->key_uri && b->key_uri && !strcmp(a->key_uri, b->key_uri) &&
	       a->cert && b->cert && !strcmp(a->cert, b->cert) && a->module &&
	       b->module && !strcmp(a->module, b->module);
}

int keyring_open(const struct sfs_config *cfg, struct sfs_keyring **out,
		 struct sfs_error *err)
{
	struct sfs_keyring *ring = calloc(1, sizeof(*ring));
	int ret = 0;

	if (!ring)
		return -ENOMEM;
	ring->cfg = cfg;
	ring->e = calloc(cfg->n_rules + 1, sizeof(*ring->e));
	if (!ring->e) {
		free(ring);
		return -ENOMEM;
	}
	if (cfg->key.key_uri) {
		ret = signer_open(&cfg->key, &ring->global, err);
		if (ret)
			goto fail;
	}
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct sfs_rule *r = &cfg->rules[i];
		struct sfs_key_config k;
		struct ring_entry *e = &ring->e[ring->n];

		if (!r->key.key_uri)
			continue;
		k = merged(cfg, r);
		e->rule = r;
		/* One login per distinct key, however many rules use it. */
		if (cfg->key.key_uri && same_key(&k, &cfg->key)) {
			e->signer = ring->global;
			e->shared = true;
		}
		for (size_t j = 0; !e->signer && j < ring->n; j++) {
			struct sfs_key_config kj = merged(cfg, ring->e[j].rule);

			if (same_key(&k, &kj)) {
				e->signer = ring->e[j].signer;
				e->shared = true;
			}
		}
		if (!e->signer) {
			ret = signer_open(&k, &e->signer, err);
			if (ret) {
				char msg[sizeof(err->msg)];

				memcpy(msg, err->msg, sizeof(msg));
				snprintf(err->msg, sizeof(err->msg),
					 "[rule %.64s]: %.400s", r->pattern,
					 msg);
				goto fail;
			}
		}
		ring->n++;
	}
	*out = ring;
	return 0;
fail:
	keyring_close(ring);
	return ret;
}

struct sfs_signer *keyring_for(struct sfs_keyring *ring,
			       const struct sfs_rule *r)
{
	if (r && r->key.key_uri)
		for (size_t i = 0; i < ring->n; i++)
			if (ring->e[i].rule == r)
				return ring->e[i].signer;
	return ring->global;
}

struct sfs_signer *keyring_default(struct sfs_keyring *ring)
{
	return ring->global;
}

void keyring_close(struct sfs_keyring *ring)
{
	if (!ring)
		return;
	for (size_t i = 0; i < ring->n; i++)
		if (!ring->e[i].shared)
			signer_close(ring->e[i].signer);
	signer_close(ring->global);
	free(ring->e);
	free(ring);
}
