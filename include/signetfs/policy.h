/* SPDX-License-Identifier: Apache-2.0 */
/* Per-subtree rules: which key signs where, who may write, whom to trust. */
#ifndef SIGNETFS_POLICY_H
#define SIGNETFS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "signer.h"

struct sfs_config;

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
	unsigned int order;		/* position in the file */
	unsigned int literal;		/* non-wildcard characters */
	struct sfs_key_config key;	/* key_uri set: this key signs here */
	struct sfs_ids uids, gids;	/* who may write here */
	uint8_t (*pins)[32];		/* accepted signers here */
	size_t n_pins;
	bool pins_set;
	int path_binding;		/* -1: inherit */
};

/*
 * Glob on a mount-relative path: '*' and '?' and [...] match within one
 * component, a component "**" matches any number of components (also
 * none). Returns true on a match.
 */
bool policy_glob(const char *pattern, const char *path);

/*
 * The rule for PATH: of the rules whose pattern matches, the one with the
 * most literal (non-wildcard) characters; on a tie the later one in the
 * file. NULL when none matches (the global settings apply).
 */
const struct sfs_rule *policy_match(const struct sfs_config *cfg,
				    const char *path);

/* May (uid, gid, groups) write PATH? owner_uid is the mounting user. */
bool policy_may_write(const struct sfs_config *cfg, const char *path,
		      uid_t uid, gid_t gid, const gid_t *groups, int ngroups,
		      uid_t owner_uid);

/* The pins that apply to PATH (n = 0: any trusted signer). */
void policy_pins(const struct sfs_config *cfg, const char *path,
		 const uint8_t (**pins)[32], size_t *n);
bool policy_path_binding(const struct sfs_config *cfg, const char *path);

/*
 * A set of signers: the global key and one per rule with its own key,
 * opened once (one login each). keyring_for() picks the one for a path.
 */
struct sfs_keyring;
int keyring_open(const struct sfs_config *cfg, struct sfs_keyring **out,
		 struct sfs_error *err);
struct sfs_signer *keyring_for(struct sfs_keyring *ring, const char *path);
/* The global signer (checkpoints); NULL if the config names no key. */
struct sfs_signer *keyring_default(struct sfs_keyring *ring);
void keyring_close(struct sfs_keyring *ring);

/* "0 1000 alice" or "*"; user or group names resolved now. */
int policy_parse_ids(const char *v, bool group, struct sfs_ids *l);
/* "HEX HEX ...": SHA-256 fingerprints appended to *pins. */
int policy_parse_pins(const char *v, uint8_t (**pins)[32], size_t *n);
/* Parse a rule key; used by the config parser. 0, -ENOENT, -EINVAL. */
int policy_rule_key(struct sfs_rule *r, const char *dir, const char *k,
		    const char *v);
void policy_rule_free(struct sfs_rule *r);

#endif
