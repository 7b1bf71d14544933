// SPDX-License-Identifier: Apache-2.0
/* What SIGHUP reloads (config, trust store, CRL), swapped in whole. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ib_cache.h"
#include "ib_conf.h"
#include "ib_node.h"
#include "inbox.h"
#include "signetfs/audit.h"
#include "signetfs/verify.h"
#include "signetfs/config.h"
#include "signetfs/log.h"
#include "signetfs/mac.h"
#include "signetfs/policy.h"

#define CONF_OF(r)                                                             \
	((struct inbox_conf *)(void *)((char *)(r)-offsetof(struct inbox_conf, \
							    ref)))

static void conf_release(struct sfuse_ref *r)
{
	struct inbox_conf *c = CONF_OF(r);

	verifier_free(c->verifier);
	config_free(c->owned);
	free(c);
}

/*
 * The verifier, and the digest of the files it was built from, read
 * before and after it: a file that changed in between leaves a random
 * digest, under which no kept verdict holds and none kept now ever will.
 */
static int trusted_verifier(const struct sfs_config *cfg, struct inbox_conf *c,
			    struct sfs_error *err)
{
	uint8_t after[32];
	int ret = config_trust_digest(cfg, c->trust);

	if (ret) {
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "cannot read the config, trust store or CRL "
			      "to digest them: %s",
			      strerror(-ret));
		return ret;
	}
	/* Built between two digests: a file changed meanwhile is noticed. */
	ret = policy_verifier_new(cfg, &cfg->trust, &c->verifier, err);
	if (ret)
		return ret;
	if (config_trust_digest(cfg, after) || memcmp(after, c->trust, 32))
		sfs_random_secret(c->trust, sizeof(c->trust));
	return 0;
}

static int conf_new(const struct sfs_config *cfg, struct sfs_config *owned,
		    struct inbox_conf **out, struct sfs_error *err)
{
	struct inbox_conf *c = calloc(1, sizeof(*c));
	int ret;

	if (!c) {
		sfs_error_set(err, -ENOMEM, SFS_EXIT_USAGE, "out of memory");
		return -ENOMEM;
	}
	ret = trusted_verifier(cfg, c, err);
	if (ret) {
		verifier_free(c->verifier);
		free(c);
		return ret;
	}
	atomic_init(&c->ref.refs, 1);
	c->ref.release = conf_release;
	c->cfg = cfg;
	c->owned = owned;
	*out = c;
	return 0;
}

struct inbox_conf *inbox_conf_get(struct inbox *ib)
{
	return CONF_OF(sfuse_current_get(&ib->confs));
}

void inbox_conf_put(struct inbox_conf *c)
{
	if (c)
		sfuse_ref_put(&c->ref);
}

uint64_t inbox_epoch(struct inbox *ib)
{
	return atomic_load_explicit(&ib->epoch, memory_order_acquire);
}

int inbox_conf_init(struct inbox *ib, struct sfs_error *err)
{
	struct inbox_conf *c;
	int ret = conf_new(ib->cfg, NULL, &c, err);

	if (ret)
		return ret;
	c->epoch = 1;
	sfuse_current_init(&ib->confs, &c->ref);
	atomic_store(&ib->epoch, 1);
	return 0;
}

void inbox_conf_destroy(struct inbox *ib)
{
	if (!ib->confs.cur)
		return;
	sfuse_current_destroy(&ib->confs);
}

static void audit_reloaded(struct inbox *ib, const char *why)
{
	if (ib->audit && audit_config_reloaded(ib->audit, ib->cfg->path, why))
		sfs_err("audit log: cannot record config-reloaded");
}

static bool str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b));
}

/* What the mount opened once: a reload cannot change it. */
static void note_fixed(struct inbox *ib, const struct sfs_config *cfg)
{
	if (cfg->mode != ib->cfg->mode)
		sfs_info("reload: mode takes effect at the next mount");
	if (str_differs(cfg->audit_log, ib->cfg->audit_log) ||
	    str_differs(cfg->key.key_uri, ib->cfg->key.key_uri))
		sfs_info("reload: audit-log and key take effect at the next "
			 "mount");
	if (str_differs(cfg->state_dir, ib->cfg->state_dir))
		sfs_info("reload: state-dir takes effect at the next mount");
}

/*
 * Make the kernel look every file up again: a file that no longer
 * verifies is ENOENT at once instead of when its 1 s entry expires, and
 * its pages leave the page cache, so a handle opened before the reload
 * reads through us (and is refused, inbox_file.c) instead of from cache.
 * Directories are left alone: they do not depend on signatures, and
 * invalidating one would detach the working directory of its users.
 * Called from the reload thread, never from a request handler: the page
 * invalidation waits for reads in progress, which other threads serve.
 */
static void forget_kernel_entries(struct inbox *ib)
{
	struct inbox_known *k;
	size_t n;

	if (!ib->se || inbox_nodes_known_files(ib, &k, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		/* -ENOENT: the kernel forgot it already. */
		fuse_lowlevel_notify_inval_entry(ib->se, k[i].parent, k[i].name,
						 k[i].len);
		fuse_lowlevel_notify_inval_inode(ib->se, k[i].ino, 0, 0);
	}
	inbox_known_free(k, n);
}

int inbox_reload(void *userdata, struct sfs_error *err)
{
	struct inbox *ib = userdata;
	struct sfs_config *cfg = NULL;
	struct inbox_conf *c = NULL;
	int ret;

	ret = config_load(ib->cfg->path, &cfg, err);
	if (!ret) {
		ret = conf_new(cfg, cfg, &c, err);
		if (ret)
			config_free(cfg);
	}
	if (ret) {
		audit_reloaded(ib, err->msg[0] ? err->msg : strerror(-ret));
		return ret;
	}
	note_fixed(ib, cfg);
	/* Reloads run on one thread: nothing else moves the epoch. */
	c->epoch = inbox_epoch(ib) + 1;
	sfuse_current_swap(&ib->confs, &c->ref);
	/*
	 * From here no cached verdict is used: they carry the old epoch. A
	 * verification that took the old config meanwhile stamps the old
	 * epoch too, so its verdict is not used either.
	 */
	atomic_store_explicit(&ib->epoch, c->epoch, memory_order_release);
	inbox_cache_trim_stale(ib);
	forget_kernel_entries(ib);
	audit_reloaded(ib, NULL);
	sfs_info("reloaded %s", ib->cfg->path);
	return 0;
}
