/* SPDX-License-Identifier: Apache-2.0 */
/* Per-subtree rules: which key signs where, who may write, whom to trust. */
#ifndef SIGNETFS_POLICY_H
#define SIGNETFS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "signer.h"
#include "tsa.h"

struct sfs_config;
struct sfs_verifier;
struct sfs_trust_config;

/* An id list; any = true matches everyone ("*"). */
struct sfs_ids {
	uint32_t *ids;
	size_t n;
	bool set;
	bool any;
};

/* [rule PATTERN]: unset fields inherit from [signetfs]/[outbox]/[inbox]. */
struct sfs_rule {
	char *pattern;
	unsigned int order;	   /* position in the file */
	unsigned int literal;	   /* non-wildcard characters */
	struct sfs_key_config key; /* key_uri set: this key signs here */
	struct sfs_ids uids, gids; /* who may write here */
	uint8_t (*pins)[32];	   /* accepted signers here */
	size_t n_pins;
	bool pins_set;
	int path_binding;	   /* -1: inherit */
	struct sfs_tsa_config tsa; /* unset fields inherit [signetfs]'s */
};

/*
 * The deepest path policy evaluates, in components. A deeper path cannot be
 * judged by the rules, so every caller refuses it (outbox: EACCES, inbox:
 * hidden, CLI: FAIL), never falls back to the global settings.
 */
#define SFS_POLICY_MAX_DEPTH 256

/*
 * Glob on a mount-relative path, gitignore-style: '*', '?' and [...] match
 * within one component; a component "**" matches any number of components
 * (also none) when it leads or sits between others, and at least one when
 * it ends the pattern ("firmware/ **" is everything inside firmware, not
 * firmware itself). Returns 1 on a match, 0 on none, -ENAMETOOLONG when
 * PATH is deeper than SFS_POLICY_MAX_DEPTH, -ENOMEM.
 */
int policy_glob(const char *pattern, const char *path);
/* Components in PATH (empty ones not counted). */
size_t policy_depth(const char *path);

/*
 * The rule for PATH into *rule: of the rules whose pattern matches, the one
 * with the most literal (non-wildcard) characters; on a tie the later one
 * in the file; NULL when none matches (the global settings apply). Returns
 * 0, or -ENAMETOOLONG / -ENOMEM when PATH cannot be evaluated: the caller
 * must refuse, not take the globals.
 */
int policy_match(const struct sfs_config *cfg, const char *path,
		 const struct sfs_rule **rule);

/*
 * The questions below take the rule policy_match() found for the path
 * (NULL: none), so a path is matched once and an error is handled there.
 */

/*
 * May (uid, gid, groups) write where RULE applies? A rule that sets
 * writers-uid or writers-gid defines the writers of its subtree (the
 * globals' lists do not apply there); otherwise [outbox] writers-uid /
 * writers-gid, or without those the mounting user (owner_uid) and root.
 */
bool policy_may_write(const struct sfs_config *cfg, const struct sfs_rule *r,
		      uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		      uid_t owner_uid);
/* Does any list in cfg name a group (so a caller's groups are needed)? */
bool policy_uses_groups(const struct sfs_config *cfg);

/* The pins that apply (n = 0: any trusted signer). */
void policy_pins(const struct sfs_config *cfg, const struct sfs_rule *r,
		 const uint8_t (**pins)[32], size_t *n);
bool policy_path_binding(const struct sfs_config *cfg,
			 const struct sfs_rule *r);

/*
 * A set of signers: the global key and one per rule with its own key,
 * opened once (one login each). keyring_for() picks the one for a path.
 */
struct sfs_keyring;
int keyring_open(const struct sfs_config *cfg, struct sfs_keyring **out,
		 struct sfs_error *err);
/* The signer where RULE (from policy_match) applies. */
struct sfs_signer *keyring_for(struct sfs_keyring *ring,
			       const struct sfs_rule *r);
/* The global signer (checkpoints); NULL if the config names no key. */
struct sfs_signer *keyring_default(struct sfs_keyring *ring);
void keyring_close(struct sfs_keyring *ring);

/*
 * "0 1000 alice" or "*"; user or group names resolved now. On -EINVAL,
 * bad (when not NULL, 64 bytes) names the token that is not a number or
 * a known name.
 */
int policy_parse_ids(const char *v, bool group, struct sfs_ids *l, char *bad);
/* "HEX HEX ...": SHA-256 fingerprints appended to *pins. */
int policy_parse_pins(const char *v, uint8_t (**pins)[32], size_t *n);
/* Parse a rule key; used by the config parser. 0, -ENOENT, -EINVAL. */
int policy_rule_key(struct sfs_rule *r, const char *dir, const char *k,
		    const char *v, char *bad);
void policy_rule_free(struct sfs_rule *r);

/*
 * ---- RFC 3161 timestamps (src/policy/tsaset.c) ----
 * The tsa-* settings where RULE applies: the rule's, else [signetfs]'s,
 * field by field (strings borrowed from cfg).
 */
void policy_tsa(const struct sfs_config *cfg, const struct sfs_rule *r,
		struct sfs_tsa_config *out);
/*
 * The verifier every verdict of cfg uses: the trust store, directory and
 * CRL of trust (cfg's own, or the CLI's overrides), and every TSA trust
 * store cfg names ([signetfs] and each [rule]), so tokens are checked
 * wherever they apply. One place, so that no caller (inbox, outbox,
 * verify, why, migrate) judges with less. 0 or -errno, *out NULL then.
 */
int policy_verifier_new(const struct sfs_config *cfg,
			const struct sfs_trust_config *trust,
			struct sfs_verifier **out, struct sfs_error *err);
/*
 * The TSA clients of cfg: one per distinct (url, trust, policy), opened
 * once. policy_tsas_for() picks the one where RULE applies (NULL: no
 * tsa-url there, nothing is stamped).
 */
struct sfs_tsaset;
int policy_tsas_open(const struct sfs_config *cfg, struct sfs_tsaset **out,
		     struct sfs_error *err);
struct sfs_tsa *policy_tsas_for(struct sfs_tsaset *set,
				const struct sfs_rule *r);
/* Any client at all (false: cfg stamps nothing). */
bool policy_tsas_any(const struct sfs_tsaset *set);
void policy_tsas_close(struct sfs_tsaset *set);

#endif
