// SPDX-License-Identifier: Apache-2.0
/* signetfs.conf: INI parsed with inih into struct sfs_config. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "signetfs/config.h"
#include "signetfs/policy.h"

struct parse_state {
	struct sfs_config *cfg;
	char *dir; /* directory of the config file */
	struct sfs_error *err;
	int line_err; /* set when a handler rejected a value */
	char bad[64]; /* what in the value was wrong, if known */
};

/* Relative paths in the config are relative to the config's directory. */
int config_set_path(const char *dir, char **dst, const char *v)
{
	char *p;

	if (!*v) {
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (v[0] == '/' || !dir)
		p = strdup(v);
	else if (asprintf(&p, "%s/%s", dir, v) < 0)
		p = NULL;
	if (!p)
		return -ENOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

static int set_path(struct parse_state *st, char **dst, const char *v)
{
	return config_set_path(st->dir, dst, v);
}

static int set_str(char **dst, const char *v)
{
	char *p = strdup(v);

	if (!p)
		return -ENOMEM;
	free(*dst);
	*dst = p;
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1") ||
	    !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0") ||
		 !strcmp(v, "off"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_uint(const char *v, unsigned long max, unsigned int *out)
{
	char *end;
	unsigned long n;

	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || end == v || n > max)
		return -EINVAL;
	*out = (unsigned int)n;
	return 0;
}

/* none | always | group (true/false kept for always/none). */
static int parse_sync(struct sfs_config *c, const char *v)
{
	bool b;

	if (!strcmp(v, "none"))
		c->audit_sync_mode = AUDIT_SYNC_NONE;
	else if (!strcmp(v, "always"))
		c->audit_sync_mode = AUDIT_SYNC_ALWAYS;
	else if (!strcmp(v, "group"))
		c->audit_sync_mode = AUDIT_SYNC_GROUP;
	else if (parse_bool(v, &b) == 0)
		c->audit_sync_mode = b ? AUDIT_SYNC_ALWAYS : AUDIT_SYNC_NONE;
	else
		return -EINVAL;
	return 0;
}

static int parse_md(const char *v, enum sfs_md *md)
{
	if (!strcmp(v, "sha256"))
		*md = SFS_MD_SHA256;
	else if (!strcmp(v, "sha384"))
		*md = SFS_MD_SHA384;
	else if (!strcmp(v, "sha512"))
		*md = SFS_MD_SHA512;
	else
		return -EINVAL;
	return 0;
}

static int main_key(struct parse_state *st, const char *k, const char *v)
{
	struct sfs_config *c = st->cfg;

	if (!strcmp(k, "module"))
		return set_path(st, &c->key.module, v);
	if (!strcmp(k, "key"))
		return set_str(&c->key.key_uri, v);
	if (!strcmp(k, "pin-file"))
		return set_path(st, &c->key.pin_file, v);
	if (!strcmp(k, "cert"))
		return set_path(st, &c->key.cert, v);
	if (!strcmp(k, "chain"))
		return set_path(st, &c->key.chain, v);
	if (!strcmp(k, "softhsm-conf"))
		return set_path(st, &c->key.softhsm_conf, v);
	if (!strcmp(k, "digest"))
		return parse_md(v, &c->key.md);
	if (!strcmp(k, "trust"))
		return set_path(st, &c->trust.cafile, v);
	if (!strcmp(k, "trust-dir"))
		return set_path(st, &c->trust.capath, v);
	if (!strcmp(k, "crl"))
		return set_path(st, &c->trust.crlfile, v);
	if (!strcmp(k, "validity")) {
		if (!strcmp(v, "now"))
			c->trust.at_signing_time = false;
		else if (!strcmp(v, "signing-time"))
			c->trust.at_signing_time = true;
		else
			return -EINVAL;
		return 0;
	}
	if (!strcmp(k, "audit-log"))
		return set_path(st, &c->audit_log, v);
	if (!strcmp(k, "audit-sync"))
		return parse_sync(c, v);
	if (!strcmp(k, "audit-group-ms"))
		return parse_uint(v, 1000, &c->audit_group_ms);
	if (!strcmp(k, "checkpoint-every"))
		return parse_uint(v, 1000000, &c->checkpoint_every);
	if (!strcmp(k, "checkpoint-secs"))
		return parse_uint(v, 86400, &c->checkpoint_secs);
	if (!strcmp(k, "audit-syslog"))
		return parse_bool(v, &c->audit_syslog);
	if (!strcmp(k, "sync-sig"))
		return parse_bool(v, &c->sync_sig);
	if (!strcmp(k, "state-dir"))
		return set_path(st, &c->state_dir, v);
	return -ENOENT;
}

static int outbox_key(struct parse_state *st, const char *k, const char *v)
{
	struct sfs_config *c = st->cfg;

	if (!strcmp(k, "writers-uid") || !strcmp(k, "writers-gid")) {
		bool group = k[8] == 'g';
		struct sfs_ids l = {0};
		int ret = policy_parse_ids(v, group, &l, st->bad);

		c->writers_set = true;
		if (ret == 0 && l.any) {
			/* "*": everyone; root's uid 0 marks it (see policy.c)
			 */
			c->writers_any = true;
		}
		if (group) {
			free(c->writer_gids);
			c->writer_gids = l.ids;
			c->n_writer_gids = l.n;
		} else {
			free(c->writer_uids);
			c->writer_uids = l.ids;
			c->n_writer_uids = l.n;
		}
		return ret;
	}
	if (!strcmp(k, "sign-nonzero-exit"))
		return parse_bool(v, &c->sign_nonzero_exit);
	if (!strcmp(k, "strict-modes"))
		return parse_bool(v, &c->strict_modes);
	return -ENOENT;
}

/* ".sig", ".p7s": a '.' and 1 to 7 letters, digits, '_' or '-'. */
static int parse_sig_suffix(struct parse_state *st, const char *v, char *out)
{
	size_t n = strlen(v);

	if (n < 2 || n > 8 || v[0] != '.' ||
	    strspn(v + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			  "0123456789_-") != n - 1) {
		snprintf(st->bad, sizeof(st->bad),
			 "a '.' and 1 to 7 of [A-Za-z0-9_-]");
		return -EINVAL;
	}
	memcpy(out, v, n + 1);
	return 0;
}

int config_parse_mode(const char *v, enum sfs_mode *mode)
{
	if (!strcmp(v, "strict"))
		*mode = SFS_MODE_STRICT;
	else if (!strcmp(v, "audit"))
		*mode = SFS_MODE_AUDIT;
	else
		return -EINVAL;
	return 0;
}

static int inbox_key(struct parse_state *st, const char *k, const char *v)
{
	struct sfs_config *c = st->cfg;

	if (!strcmp(k, "mode"))
		return config_parse_mode(v, &c->mode);
	if (!strcmp(k, "signer-sha256"))
		return policy_parse_pins(v, &c->pins, &c->n_pins);
	if (!strcmp(k, "path-binding"))
		return parse_bool(v, &c->path_binding);
	if (!strcmp(k, "page-cache-fill"))
		return parse_bool(v, &c->page_cache_fill);
	if (!strcmp(k, "sig-suffix"))
		return parse_sig_suffix(st, v, c->sig_suffix);
	return -ENOENT;
}

/* The rule for section "rule PATTERN" (quotes optional), made on first use. */
static int rule_for(struct parse_state *st, const char *section,
		    struct sfs_rule **out)
{
	struct sfs_config *c = st->cfg;
	const char *p = section + 5;
	size_t len;
	struct sfs_rule *grown, *r;

	while (*p == ' ')
		p++;
	len = strlen(p);
	if (len >= 2 && p[0] == '"' && p[len - 1] == '"')
		p++, len -= 2;
	if (len == 0 || p[0] == '/')
		return -EINVAL;

	for (size_t i = 0; i < c->n_rules; i++) {
		if (strlen(c->rules[i].pattern) == len &&
		    !strncmp(c->rules[i].pattern, p, len)) {
			*out = &c->rules[i];
			return 0;
		}
	}
	grown = realloc(c->rules, (c->n_rules + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	c->rules = grown;
	r = &c->rules[c->n_rules];
	memset(r, 0, sizeof(*r));
	r->pattern = strndup(p, len);
	if (!r->pattern)
		return -ENOMEM;
	/* Deeper than policy evaluates: it could never match anything. */
	if (policy_depth(r->pattern) > SFS_POLICY_MAX_DEPTH) {
		free(r->pattern);
		snprintf(st->bad, sizeof(st->bad),
			 "pattern deeper than %d components",
			 SFS_POLICY_MAX_DEPTH);
		return -EINVAL;
	}
	r->order = (unsigned int)c->n_rules;
	r->path_binding = -1;
	for (size_t i = 0; i < len; i++)
		if (!strchr("*?[]", p[i]))
			r->literal++;
	c->n_rules++;
	*out = r;
	return 0;
}

static int handler(void *user, const char *section, const char *name,
		   const char *value)
{
	struct parse_state *st = user;
	struct sfs_rule *rule;
	int ret;

	if (!strncmp(section, "rule ", 5)) {
		ret = rule_for(st, section, &rule);
		if (ret == 0)
			ret = policy_rule_key(rule, st->dir, name, value,
					      st->bad);
	} else if (!strcmp(section, "signetfs")) {
		ret = main_key(st, name, value);
		if (ret == -ENOENT)
			ret =
			    config_tsa_key(st->dir, &st->cfg->tsa, name, value);
	} else if (!strcmp(section, "outbox"))
		ret = outbox_key(st, name, value);
	else if (!strcmp(section, "inbox"))
		ret = inbox_key(st, name, value);
	else
		ret = -ENOENT;
	if (ret == 0)
		return 1;
	if (!st->line_err)
		sfs_error_set(st->err, ret, SFS_EXIT_USAGE, "%s: [%s] %s: %s",
			      st->cfg->path, section, name,
			      ret == -ENOENT ? "unknown key"
			      : st->bad[0]   ? st->bad
					     : "invalid value");
	st->line_err = 1;
	return 0;
}

static void config_defaults(struct sfs_config *c)
{
	c->key.md = SFS_MD_SHA256;
	c->sign_nonzero_exit = true;
	c->strict_modes = true;
	c->path_binding = true;
	c->page_cache_fill = true;
	snprintf(c->sig_suffix, sizeof(c->sig_suffix), "%s", SFS_SIG_SUFFIX);
	c->mode = SFS_MODE_STRICT;
	/* Group commit: durable records at a fraction of per-record fsync. */
	c->audit_sync_mode = AUDIT_SYNC_GROUP;
	c->checkpoint_every = 1000;
	c->checkpoint_secs = 60;
}

int config_load(const char *path, struct sfs_config **out,
		struct sfs_error *err)
{
	struct parse_state st = {.err = err};
	char *copy = NULL, *abs = NULL;
	struct stat sb;
	FILE *f = NULL;
	int fd, line, ret = -ENOMEM;

	st.cfg = calloc(1, sizeof(*st.cfg));
	if (!st.cfg)
		goto fail;
	config_defaults(st.cfg);
	abs = realpath(path, NULL);
	if (!abs) {
		ret = -errno;
		sfs_error_set(err, ret, SFS_EXIT_USAGE, "%s: %s", path,
			      strerror(errno));
		goto fail;
	}
	st.cfg->path = abs;
	copy = strdup(abs);
	if (!copy)
		goto fail;
	st.dir = dirname(copy);
	/* Never blocks on a FIFO named like a config: regular files only. */
	fd = sfs_open_regular_at(AT_FDCWD, abs, O_RDONLY, &sb);
	f = fd < 0 ? NULL : fdopen(fd, "re");
	if (!f) {
		ret = fd < 0 ? fd : -errno;
		if (fd >= 0)
			close(fd);
		sfs_error_set(err, ret, SFS_EXIT_USAGE, "%s: %s", path,
			      ret == -EINVAL ? "not a regular file"
					     : strerror(-ret));
		goto fail;
	}
	line = ini_parse_file(f, handler, &st);
	if (line != 0) {
		ret = -EINVAL;
		if (!st.line_err)
			sfs_error_set(err, ret, SFS_EXIT_USAGE,
				      "%s:%d: syntax error", path, line);
		else
			snprintf(err->msg + strlen(err->msg),
				 sizeof(err->msg) - strlen(err->msg),
				 " (line %d)", line);
		goto fail;
	}
	fclose(f);
	free(copy);
	*out = st.cfg;
	return 0;
fail:
	if (f)
		fclose(f);
	free(copy);
	config_free(st.cfg);
	return ret;
}

void config_key_free(struct sfs_key_config *k)
{
	free(k->module);
	free(k->key_uri);
	free(k->pin_file);
	free(k->cert);
	free(k->chain);
	free(k->softhsm_conf);
}

/* RFC 3161 (docs/signature-format.md): where and how to ask a TSA. */
int config_tsa_key(const char *dir, struct sfs_tsa_config *t, const char *k,
		   const char *v)
{
	unsigned int n;

	if (!strcmp(k, "tsa-url")) {
		if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8))
			return -EINVAL;
		return set_str(&t->url, v);
	}
	if (!strcmp(k, "tsa-trust"))
		return config_set_path(dir, &t->trust, v);
	if (!strcmp(k, "tsa-policy")) {
		/* A dotted OID: 1.2.3... */
		if (strspn(v, "0123456789.") != strlen(v) || !strchr(v, '.'))
			return -EINVAL;
		return set_str(&t->policy, v);
	}
	if (!strcmp(k, "tsa-timeout")) {
		/* Seconds, 1 to 120: a request never waits longer. */
		if (parse_uint(v, 120, &n) || n == 0)
			return -EINVAL;
		t->timeout_ms = n * 1000;
		return 0;
	}
	if (!strcmp(k, "tsa-parallel")) {
		if (parse_uint(v, 64, &n) || n == 0)
			return -EINVAL;
		t->parallel = n;
		return 0;
	}
	return -ENOENT;
}

void config_tsa_free(struct sfs_tsa_config *t)
{
	free(t->url);
	free(t->trust);
	free(t->policy);
}

void config_free(struct sfs_config *c)
{
	if (!c)
		return;
	free(c->path);
	config_key_free(&c->key);
	free(c->trust.cafile);
	free(c->trust.capath);
	free(c->trust.crlfile);
	free(c->audit_log);
	free(c->state_dir);
	free(c->writer_uids);
	free(c->writer_gids);
	free(c->pins);
	for (size_t i = 0; i < c->n_rules; i++)
		policy_rule_free(&c->rules[i]);
	free(c->rules);
	config_tsa_free(&c->tsa);
	free(c);
}
