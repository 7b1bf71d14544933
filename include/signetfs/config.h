/* SPDX-License-Identifier: Apache-2.0 */
/* signetfs.conf (INI, parsed with inih) into one structure. */
#ifndef SIGNETFS_CONFIG_H
#define SIGNETFS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "signer.h"
#include "util.h"
#include "policy.h"
#include "verify.h"
#include "audit.h"
#include "tsa.h"

enum sfs_mode {
	SFS_MODE_STRICT = 0,
	SFS_MODE_AUDIT = 1,
};

struct sfs_config {
	char *path;		       /* the file it came from */
	struct sfs_key_config key;     /* [signetfs] module, key, ... */
	struct sfs_trust_config trust; /* [signetfs] trust, capath, crl */
	char *audit_log;
	enum audit_sync audit_sync_mode;
	unsigned int audit_group_ms;
	unsigned int checkpoint_every; /* records between checkpoints */
	unsigned int checkpoint_secs;  /* seconds between checkpoints */
	bool audit_syslog;
	bool sync_sig;	    /* fsync every .sig */
	enum sfs_mode mode; /* inbox: strict or audit */
	char *state_dir;
	/* [outbox] */
	uint32_t *writer_uids;
	size_t n_writer_uids;
	uint32_t *writer_gids;
	size_t n_writer_gids;
	bool writers_set;	/* false: mounting user and root */
	bool writers_any;	/* "*": anyone may write */
	bool sign_nonzero_exit; /* sign when a writer exits != 0 */
	bool strict_modes;	/* BACKING must be the daemon's alone */
	/* [inbox] */
	uint8_t (*pins)[32]; /* signer-sha256 = HEX ... */
	size_t n_pins;
	bool path_binding;    /* default true */
	bool page_cache_fill; /* inbox; default true */
	/*
	 * The inbox serves the signature of NAME as NAME + this ('.' and 1
	 * to 7 of [A-Za-z0-9_-]); default ".sig". Fixed for a mount.
	 */
	char sig_suffix[9];
	/* [rule PATTERN] sections, in file order (policy.h) */
	struct sfs_rule *rules;
	size_t n_rules;
	/* [signetfs] tsa-*: RFC 3161 timestamps (a [rule] may override). */
	struct sfs_tsa_config tsa;
};

/*
 * Parse CONF. Relative paths in it are taken relative to CONF's directory.
 * On error err names the file, the line and the key.
 */
int config_load(const char *path, struct sfs_config **out,
		struct sfs_error *err);
void config_free(struct sfs_config *cfg);
/* An inbox mode as written ([inbox] mode, --mode): 0, or -EINVAL. */
int config_parse_mode(const char *v, enum sfs_mode *mode);
/*
 * *dst = v, a path relative to dir (the config file's directory) unless
 * absolute; an empty v clears it. 0 or -ENOMEM.
 */
int config_set_path(const char *dir, char **dst, const char *v);
/* Free the strings of a key configuration (a config's or a rule's). */
void config_key_free(struct sfs_key_config *k);
/*
 * The trust epoch: SHA-256 of the config file's bytes (its policy) and of
 * the trust store, trust directory, CRL and TSA trust anchors it names. A kept
 * verdict holds only under the same digest (state.h). 0 or -errno (a file
 * unreadable).
 */
int config_trust_digest(const struct sfs_config *cfg, uint8_t out[32]);
/*
 * A tsa-* key ([signetfs] or [rule]) into t; -ENOENT when k is none of
 * them, -EINVAL for a bad value.
 */
int config_tsa_key(const char *dir, struct sfs_tsa_config *t, const char *k,
		   const char *v);
void config_tsa_free(struct sfs_tsa_config *t);

#endif
