// SPDX-License-Identifier: Apache-2.0
/* Outbox configuration in force, and its reload on SIGHUP. */
#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ob_sign.h"
#include "outbox.h"
#include "signetfs/log.h"

/*
 * The configuration the operation on this thread started with. A FUSE
 * operation runs on one worker thread from its start to its reply, so a
 * thread-local pin keeps its config, keys and verifier alive and
 * unchanged for all of it, however a reload swaps them meanwhile.
 */
static __thread struct ob_conf *tl_conf;
static atomic_uint_fast64_t conf_gens;
static __thread unsigned tl_depth;

struct ob_conf *ob_conf(struct outbox *ob)
{
	/*
	 * Only inside an operation that pinned it (outbox.c): a fallback to
	 * the one in force would let one operation see two configurations.
	 */
	assert(tl_conf && "the outbox config is used outside a pinned op");
	(void)ob;
	return tl_conf;
}

static void conf_free(struct sfuse_ref *r)
{
	struct ob_conf *c = OB_CONF_OF(r);

	verifier_free(c->verifier);
	keyring_close(c->ring);
	policy_tsas_close(c->tsas);
	if (c->owned)
		config_free(c->cfg);
	free(c);
}

void ob_op_enter(struct outbox *ob)
{
	if (tl_depth++ == 0)
		tl_conf = OB_CONF_OF(sfuse_current_get(&ob->confs));
}

void ob_op_leave(struct outbox *ob)
{
	if (--tl_depth == 0) {
		sfuse_ref_put(&tl_conf->ref);
		tl_conf = NULL;
	}
	(void)ob;
}

/*
 * Keys, verifier (and the config, unless borrowed) for cfg: a key that
 * does not open, or (signing) a trust store that is missing or does not
 * load, fails.
 */
int ob_conf_new(struct outbox *ob, struct sfs_config *cfg, bool owned,
		struct ob_conf **out, struct sfs_error *err)
{
	struct ob_conf *c = calloc(1, sizeof(*c));
	struct sfs_error verr = {0};
	int ret;

	if (!c) {
		sfs_error_set(err, -ENOMEM, SFS_EXIT_USAGE, "out of memory");
		return -ENOMEM;
	}
	c->cfg = cfg;
	c->gen = atomic_fetch_add(&conf_gens, 1) + 1;
	atomic_init(&c->ref.refs, 1);
	c->ref.release = conf_free;
	c->md = cfg->key.md;
	if (!ob->no_sign) {
		ret = keyring_open(cfg, &c->ring, err);
		if (ret) {
			free(c);
			return ret;
		}
	}
	/*
	 * Rename carries a signature over only after verifying it: a trust
	 * store or CRL that does not load fails the mount or the reload,
	 * as in the inbox, never leaves a mount that trusts any .sig.
	 */
	if (!ob->no_sign && !cfg->trust.cafile && !cfg->trust.capath) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "%s: a signing outbox needs a trust store "
			      "(trust = CA.pem): rename verifies the "
			      "signatures it carries over",
			      cfg->path);
		keyring_close(c->ring);
		free(c);
		return -EINVAL;
	}
	if ((cfg->trust.cafile || cfg->trust.capath) &&
	    policy_verifier_new(cfg, &cfg->trust, &c->verifier, &verr) != 0) {
		sfs_error_set(err, verr.code ? verr.code : -EINVAL,
			      SFS_EXIT_USAGE, "%s", verr.msg);
		keyring_close(c->ring);
		free(c);
		return verr.code ? verr.code : -EINVAL;
	}
	/* RFC 3161: a tsa-url that does not open fails like a key. */
	if (!ob->no_sign && policy_tsas_open(cfg, &c->tsas, err) != 0) {
		verifier_free(c->verifier);
		keyring_close(c->ring);
		free(c);
		return -EINVAL;
	}
	if (!policy_tsas_any(c->tsas)) {
		policy_tsas_close(c->tsas);
		c->tsas = NULL;
	}
	/* Running digests are kept in the default key's algorithm. */
	if (c->ring && keyring_default(c->ring))
		c->md = signer_md(keyring_default(c->ring));
	c->owned = owned;
	*out = c;
	return 0;
}

void ob_conf_release(struct ob_conf *c)
{
	if (c)
		sfuse_ref_put(&c->ref);
}

/*
 * SIGHUP: read the config file again and open its keys; swap both in for
 * operations that start from now on (running ones finish with the old,
 * freed by the last of them). A config that does not parse or a key that
 * does not open is rejected: the old stays in force. Either way one
 * config-reloaded audit record says what happened. Not reloaded: the
 * audit log's own settings and its checkpoint key (the key at mount).
 */
int ob_reload(void *userdata, struct sfs_error *err)
{
	struct outbox *ob = userdata;
	struct sfs_config *cfg = NULL;
	struct ob_conf *c = NULL;
	int ret;

	ret = config_load(ob->cfg_path, &cfg, err);
	if (ret == 0) {
		ret = ob_conf_new(ob, cfg, true, &c, err);
		if (ret)
			config_free(cfg);
	}
	if (ret) {
		ret = ret < 0 ? ret : -EINVAL;
		if (!err->msg[0])
			sfs_error_set(err, ret, SFS_EXIT_USAGE, "%s: %s",
				      ob->cfg_path, strerror(-ret));
		/* The daemon logs err, once (src/fuse/daemon.c). */
		if (ob->audit)
			audit_config_reloaded(ob->audit, ob->cfg_path,
					      err->msg);
		return ret;
	}
	sfuse_current_swap(&ob->confs, &c->ref);
	ob_names_reset(ob);
	sfs_info("reload: loaded %s", ob->cfg_path);
	if (ob->audit)
		audit_config_reloaded(ob->audit, ob->cfg_path, NULL);
	return 0;
}
