// SPDX-License-Identifier: Apache-2.0
/* Verdicts kept across restarts: saved after a verification, restored. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "ib_cache.h"
#include "ib_conf.h"
#include "ib_keep.h"
#include "inbox.h"
#include "signetfs/log.h"
#include "signetfs/stats.h"
#include "signetfs/verdict.h"

void inbox_keep_save(struct inbox *ib, const struct inbox_vfile *vf,
		     const struct state_stamp *content,
		     const struct state_stamp *sig, const uint8_t trust[32])
{
	struct state_verdict v = {0};
	int ret;

	if (!ib->state)
		return;
	if (vf->verdict != VR_OK) {
		/* Nothing kept says otherwise now (a cache, not a record). */
		state_verdict_forget(ib->state, vf->path, vf->path_len);
		return;
	}
	v.content = *content;
	v.sig = *sig;
	memcpy(v.sig_sha256, vf->sig_sha256, 32);
	memcpy(v.epoch, trust, 32);
	v.digest = vf->digest;
	memcpy(v.signer_sha256, vf->signer_sha256, 32);
	snprintf(v.signer_subject, sizeof(v.signer_subject), "%s",
		 vf->signer_subject);
	v.signing_time = vf->signing_time;
	v.valid_until = vf->valid_until;
	v.sig_len = vf->sig_len;
	v.file_version = vf->file_version;
	ret = state_verdict_put(ib->state, vf->path, vf->path_len, &v);
	if (ret)
		sfs_info("state: verdict for %s not kept: %s", vf->path,
			 strerror(-ret));
}

bool inbox_keep_has(struct inbox *ib, const char *path, size_t len)
{
	struct state_verdict v;

	return ib->state && state_verdict_get(ib->state, path, len, &v) == 0;
}

/*
 * The .sig beside path: its stamp, its state stamp (before reading), its
 * SHA-256 and length; read as a verification reads it (inbox_state.c).
 */
static int sig_now(struct inbox *ib, const char *path, size_t len,
		   struct inbox_stamp *stamp, struct state_stamp *ss,
		   uint8_t sha[32], size_t *sig_len)
{
	uint8_t *der = NULL;
	size_t got = 0;
	int ret = 0;

	if (inbox_sig_load(ib, path, len, stamp, &der, &got, ss) != VR_OK)
		return -ENOENT;
	/* Exactly what was stamped: a .sig growing meanwhile is no match. */
	if (got != (size_t)stamp->size)
		ret = -EAGAIN;
	if (!ret) {
		sfs_sha256(der, got, sha);
		*sig_len = got;
	}
	free(der);
	return ret;
}

static void fill_vf(struct inbox_vfile *vf, const struct state_verdict *v,
		    const struct stat *cst, const struct inbox_stamp *sig)
{
	inbox_stamp_of(cst, &vf->content);
	vf->sig = *sig;
	vf->verdict = VR_OK;
	vf->digest = v->digest;
	memcpy(vf->sig_sha256, v->sig_sha256, 32);
	vf->sig_len = (size_t)v->sig_len;
	memcpy(vf->signer_sha256, v->signer_sha256, 32);
	snprintf(vf->signer_subject, sizeof(vf->signer_subject), "%s",
		 v->signer_subject);
	vf->signing_time = (time_t)v->signing_time;
	vf->valid_until = (time_t)v->valid_until;
	vf->file_version = v->file_version;
	vf->blocks = NULL; /* the first open hashes (ib_keep.h) */
}

/*
 * Every field must match: both stamps with the inode generation (a reused
 * inode number is another file), the .sig's bytes, the trust epoch; the
 * OK not past its certificate's or CRL's time; and the version not below
 * the map's (a rollback verifies, and is refused and recorded, there).
 */
static bool holds(struct inbox *ib, const struct inbox_vfile *vf,
		  const struct state_verdict *v, const struct state_stamp *cs,
		  const struct state_stamp *ss, const uint8_t sha[32],
		  const struct inbox_conf *conf)
{
	if (!state_verdict_matches(v, cs, ss, sha, conf->trust))
		return false;
	if (v->valid_until && time(NULL) >= v->valid_until)
		return false;
	return verdict_check_version(ib->state, vf->path, vf->path_len,
				     v->file_version, false) == VR_OK;
}

int inbox_keep_restore(struct inbox *ib, struct inbox_vfile *vf, int fd)
{
	struct inbox_conf *conf;
	struct state_verdict v;
	struct state_stamp cs, ss;
	struct inbox_stamp sig;
	struct stat cst;
	uint8_t sha[32];
	size_t sig_len = 0;
	int ret = -ENOENT;

	if (!ib->state ||
	    state_verdict_get(ib->state, vf->path, vf->path_len, &v))
		return -ENOENT;
	conf = inbox_conf_get(ib);
	/*
	 * The content and the trust epoch before the .sig: a file replaced,
	 * or trust changed, since is a miss without reading the .sig that
	 * the verification which follows reads (inbox_check_fill).
	 */
	if (state_stamp_fd(fd, &cs) == 0 && fstat(fd, &cst) == 0 &&
	    !memcmp(&v.content, &cs, sizeof(cs)) &&
	    !memcmp(v.epoch, conf->trust, sizeof(v.epoch)) &&
	    !sig_now(ib, vf->path, vf->path_len, &sig, &ss, sha, &sig_len) &&
	    holds(ib, vf, &v, &cs, &ss, sha, conf) && sig_len == v.sig_len) {
		fill_vf(vf, &v, &cst, &sig);
		vf->epoch = conf->epoch;
		ret = 0;
	}
	inbox_conf_put(conf);
	if (ret == 0)
		sfs_stats_add(&ib->stats, SFS_C_STATE_HITS, 1);
	return ret;
}
