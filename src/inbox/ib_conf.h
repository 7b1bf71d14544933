/* SPDX-License-Identifier: Apache-2.0 */
/* What SIGHUP reloads (config, trust store, CRL), swapped whole. */
#ifndef SIGNETFS_INBOX_IB_CONF_H
#define SIGNETFS_INBOX_IB_CONF_H

#include <stdatomic.h>
#include <stdint.h>

#include "fuse/sfuse.h"
#include "signetfs/config.h"
#include "signetfs/util.h"
#include "signetfs/verify.h"

struct inbox;

/*
 * One generation of the reloadable settings: the config (pins, path
 * binding, trust store, CRL) and the verifier built from it. A
 * verification holds a reference for its whole run, so a reload never
 * frees what a verification in progress uses; the last put frees it.
 */
struct inbox_conf {
	struct sfuse_ref ref; /* in inbox.confs (sfuse.h) */
	uint64_t epoch;	      /* 1 at mount, +1 per reload */
	const struct sfs_config *cfg;
	struct sfs_config *owned; /* loaded by a reload: freed here */
	struct sfs_verifier *verifier;
	/*
	 * The trust epoch across restarts: config_trust_digest() of what the
	 * verifier was built from. A kept verdict holds only under it.
	 */
	uint8_t trust[32];
};

/* The current generation, referenced; inbox_conf_put() when done. */
struct inbox_conf *inbox_conf_get(struct inbox *ib);
void inbox_conf_put(struct inbox_conf *c);
/* The current epoch: a verdict of another epoch is no longer valid. */
uint64_t inbox_epoch(struct inbox *ib);
/* At mount: the first generation from the mount's config. */
int inbox_conf_init(struct inbox *ib, struct sfs_error *err);
void inbox_conf_destroy(struct inbox *ib);
/* sfuse_spec.reload: SIGHUP. */
int inbox_reload(void *userdata, struct sfs_error *err);

#endif
