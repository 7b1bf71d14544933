// SPDX-License-Identifier: Apache-2.0
/* Verified-state cache: one entry per path, valid while both stamps hold. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "ib_audit.h"
#include "ib_cache.h"
#include "ib_conf.h"
#include "ib_fill.h"
#include "ib_hash.h"
#include "ib_keep.h"
#include "ib_resolve.h"
#include "ib_vtab.h"
#include "inbox.h"
#include "signetfs/signer.h"
#include "signetfs/verify.h"
#include "signetfs/stats.h"
#include "signetfs/log.h"
#include "signetfs/util.h"
#include "signetfs/verdict.h"

struct inflight {
	const char *path;
	size_t len;
	struct inflight *next;
};

struct inbox_cache {
	/*
	 * Lock order: vt.lock, then nothing. Verification (hashing, the
	 * verifier) runs without it; inflight makes other threads wait for a
	 * path that is being verified instead of hashing it twice.
	 */
	struct ib_vtab vt;
	pthread_cond_t done; /* with vt.lock */
	struct inflight *inflight;
	atomic_uint_fast64_t gen;
};

int inbox_cache_init(struct inbox *ib)
{
	struct inbox_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	if (ib_vtab_init(&c->vt, IB_BLOCK_BUDGET, IB_ENTRY_MAX)) {
		free(c);
		return -ENOMEM;
	}
	pthread_cond_init(&c->done, NULL);
	ib->cache = c;
	return 0;
}

void inbox_cache_destroy(struct inbox *ib)
{
	struct inbox_cache *c = ib->cache;

	if (!c)
		return;
	ib_vtab_destroy(&c->vt);
	pthread_cond_destroy(&c->done);
	free(c);
	ib->cache = NULL;
}

void inbox_cache_trim_stale(struct inbox *ib)
{
	ib_vtab_trim_stale(&ib->cache->vt, inbox_epoch(ib));
}

void inbox_vfile_closed(struct inbox *ib, struct inbox_vfile *vf)
{
	pthread_mutex_lock(&ib->cache->vt.lock);
	vf->opens--;
	pthread_mutex_unlock(&ib->cache->vt.lock);
}

/* Read an open .sig (already known to be a regular file), bounded. */
static enum verify_reason read_sig(int fd, const struct stat *st, uint8_t **der,
				   size_t *len)
{
	size_t got = 0;
	uint8_t *p;

	if ((uint64_t)st->st_size > SFS_SIG_MAX)
		return VR_SIG_TOO_LARGE;
	p = malloc((size_t)st->st_size + 1);
	if (!p)
		return VR_INTERNAL;
	if (sfs_full_pread(fd, p, (size_t)st->st_size + 1, 0, &got)) {
		free(p);
		return VR_IO;
	}
	if (got > SFS_SIG_MAX) {
		free(p);
		return VR_SIG_TOO_LARGE;
	}
	*der = p;
	*len = got;
	return VR_OK;
}

enum verify_reason inbox_sig_load(struct inbox *ib, const char *path,
				  size_t len, struct inbox_stamp *stamp,
				  uint8_t **der, size_t *der_len,
				  struct state_stamp *kept)
{
	enum verify_reason r;
	struct stat st;
	int fd;

	memset(stamp, 0, sizeof(*stamp));
	if (!der) {
		if (inbox_stat_sig(ib->rootfd, path, &st) ||
		    !S_ISREG(st.st_mode))
			return VR_NO_SIG;
		inbox_stamp_of(&st, stamp);
		return VR_OK;
	}
	fd = inbox_open_sig(ib->rootfd, path, &st);
	if (fd < 0)
		return fd == -ENOENT ? VR_NO_SIG : VR_IO;
	inbox_stamp_of(&st, stamp);
	r = kept && state_stamp_fd(fd, kept) ? VR_IO : VR_OK;
	if (r == VR_OK)
		r = read_sig(fd, &st, der, der_len);
	close(fd);
	return r;
}

static enum verify_reason check_content(struct inbox *ib,
					struct inbox_vfile *vf, int fd,
					const struct sig_info *info,
					struct inbox_fill *fill)
{
	struct sfs_digest d;
	size_t nb = inbox_nblocks((uint64_t)vf->content.size);
	int ret;

	vf->blocks = calloc(nb ? nb : 1, INBOX_TAG);
	if (!vf->blocks)
		return VR_INTERNAL;
	/* vf->gen is unique per verification: one tag per (gen, block). */
	ret =
	    inbox_hash_blocks(fd, (uint64_t)vf->content.size, info->digest.alg,
			      ib->mac, vf->gen, &d, vf->blocks, fill);
	if (ret)
		return VR_IO;
	sfs_stats_add(&ib->stats, SFS_C_BYTES_HASHED,
		      (uint64_t)vf->content.size);
	if (d.len != info->digest.len ||
	    memcmp(d.bytes, info->digest.bytes, d.len))
		return VR_CONTENT_DIGEST;
	return VR_OK;
}

static void keep_info(struct inbox_vfile *vf, const struct sig_info *info,
		      const uint8_t *der, size_t len)
{
	vf->digest = info->digest;
	sfs_sha256(der, len, vf->sig_sha256);
	vf->sig_len = len;
	memcpy(vf->signer_sha256, info->signer_sha256, 32);
	snprintf(vf->signer_subject, sizeof(vf->signer_subject), "%s",
		 info->signer_subject);
	vf->signing_time = info->signing_time;
	vf->valid_until = info->valid_until;
	vf->file_version = info->file_version;
}

/*
 * The signature part of the one verdict (verdict.h): policy, the .sig, the
 * verifier; the content is hashed here, block tags recorded, so every
 * byte served later is a byte that was verified. Then, with a state
 * directory, the version against the map (rule 25), and the verdict kept.
 */
static enum verify_reason verify_fd(struct inbox *ib, struct inbox_vfile *vf,
				    int fd, struct inbox_fill *fill)
{
	/* Held to the end: a reload meanwhile frees nothing we use. */
	struct inbox_conf *conf = inbox_conf_get(ib);
	struct state_stamp cks = {0}, sks = {0};
	struct verdict_sig sig = {0};
	struct sig_info info;
	enum verify_reason r;
	uint8_t *der = NULL;

	vf->epoch = conf->epoch;
	/* Stamped before a byte is read: a later change is another file. */
	if (ib->state && state_stamp_fd(fd, &cks))
		sig.read = VR_IO;
	else
		sig.read =
		    inbox_sig_load(ib, vf->path, vf->path_len, &vf->sig, &der,
				   &sig.len, ib->state ? &sks : NULL);
	sig.der = der;
	r = verdict_check_sig(conf->cfg, conf->verifier, vf->path, &sig, &info);
	if (r == VR_OK)
		r = check_content(ib, vf, fd, &info, fill);
	if (r == VR_OK)
		r = verdict_check_version(ib->state, vf->path, vf->path_len,
					  info.file_version, true);
	if (r == VR_OK)
		keep_info(vf, &info, der, sig.len);
	vf->verdict = r;
	inbox_keep_save(ib, vf, &cks, &sks, conf->trust);
	if (r != VR_OK) {
		free(vf->blocks);
		vf->blocks = NULL;
	}
	sig_info_clear(&info);
	free(der);
	inbox_conf_put(conf);
	return r;
}

static struct inbox_vfile *vfile_new(struct inbox *ib, const char *path,
				     size_t len, uint64_t h)
{
	struct inbox_vfile *vf = calloc(1, sizeof(*vf));

	if (!vf)
		return NULL;
	vf->path = strndup(path, len);
	if (!vf->path) {
		free(vf);
		return NULL;
	}
	vf->path_len = len;
	vf->hnode.hash = h;
	atomic_init(&vf->refs, 1);
	vf->gen = atomic_fetch_add(&ib->cache->gen, 1) + 1;
	return vf;
}

/*
 * One verify-denied record per occurrence: a denial is recorded unless the
 * previous decision for this path was the same denial of the same version
 * (both stamps). Re-verifying an unchanged file after a reload, or after
 * its entry was evicted and found again, adds nothing; a new version, or
 * a new reason, is a new record.
 */
static bool same_denial(const struct inbox_vfile *prev,
			const struct inbox_vfile *vf)
{
	return prev && prev->verdict == vf->verdict &&
	       inbox_stamp_eq(&prev->content, &vf->content) &&
	       inbox_stamp_eq(&prev->sig, &vf->sig);
}

/* Hash and verify path through fd (its stamp in st); publish the result. */
static int verify_publish(struct inbox *ib, const char *path, size_t len,
			  uint64_t h, int fd, const struct stat *st,
			  bool opened, const struct inbox_vfile *prev,
			  struct inbox_fill *fill, struct inbox_vfile **out)
{
	struct inbox_cache *c = ib->cache;
	struct inbox_vfile *vf = vfile_new(ib, path, len, h);

	if (!vf)
		return -ENOMEM;
	/* Stamp before hashing: a change while we hash shows up next time. */
	inbox_stamp_of(st, &vf->content);
	vf->verdict = verify_fd(ib, vf, fd, fill);
	/*
	 * Temp files of signatures are slots (layout.h): never checked as
	 * files, so every refusal here is of a writer's file, recorded.
	 */
	if (vf->verdict == VR_OK) {
		sfs_stats_add(&ib->stats, SFS_C_VERIFIED, 1);
	} else if (!same_denial(prev, vf)) {
		/* Counted like the records: once per occurrence. */
		sfs_stats_add(&ib->stats, SFS_C_DENIED, 1);
		inbox_audit_denied(ib, path, len, (int64_t)st->st_size,
				   verify_reason_name(vf->verdict),
				   verify_reason_str(vf->verdict));
	}
	pthread_mutex_lock(&c->vt.lock);
	/* Counted before it is visible, so no trim drops its blocks. */
	vf->opens = opened;
	ib_vtab_insert_locked(&c->vt, vf);
	pthread_mutex_unlock(&c->vt.lock);
	*out = vf;
	return 0;
}

/*
 * A verdict kept in the state directory, if it still holds, published as
 * if verified (without block tags: ib_keep.h). 0, or -ENOENT: verify.
 */
static int restore_publish(struct inbox *ib, const char *path, size_t len,
			   uint64_t h, int fd, struct inbox_vfile **out)
{
	struct inbox_cache *c = ib->cache;
	struct inbox_vfile *vf;

	if (!ib->state)
		return -ENOENT;
	vf = vfile_new(ib, path, len, h);
	if (!vf)
		return -ENOMEM;
	if (inbox_keep_restore(ib, vf, fd)) {
		inbox_vfile_put(vf);
		return -ENOENT;
	}
	pthread_mutex_lock(&c->vt.lock);
	ib_vtab_insert_locked(&c->vt, vf);
	pthread_mutex_unlock(&c->vt.lock);
	*out = vf;
	return 0;
}

/* Wait until nobody verifies path; returns with the lock held. */
static void enter_locked(struct inbox_cache *c, struct inflight *me)
{
	struct inflight *f;

	SFS_ASSERT_HELD(&c->vt.lock);
again:
	for (f = c->inflight; f; f = f->next) {
		if (f->len == me->len && !memcmp(f->path, me->path, me->len)) {
			pthread_cond_wait(&c->done, &c->vt.lock);
			goto again;
		}
	}
}

static void leave(struct inbox_cache *c, struct inflight *me)
{
	struct inflight **pp;

	pthread_mutex_lock(&c->vt.lock);
	for (pp = &c->inflight; *pp != me; pp = &(*pp)->next)
		;
	*pp = me->next;
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->vt.lock);
}

static int current_stamps(struct inbox *ib, const char *path, size_t len,
			  int *fd, struct stat *st, struct inbox_stamp *cs,
			  struct inbox_stamp *ss)
{
	int ret;

	if (fd) {
		*fd = -1;
		ret = inbox_open_regular(ib->rootfd, path, st);
		if (ret < 0)
			return ret;
		*fd = ret;
	} else {
		ret = inbox_stat_beneath(ib->rootfd, path, st);
		if (ret)
			return ret;
		if (!S_ISREG(st->st_mode))
			return -ENOENT;
	}
	inbox_stamp_of(st, cs);
	inbox_sig_load(ib, path, len, ss, NULL, NULL, NULL);
	return 0;
}

/*
 * vf is the verdict for this (content, .sig) pair under today's settings:
 * same stamps, same trust epoch, and for an OK not past the time the
 * verifier gave it (a certificate's notAfter, a CRL's nextUpdate), so a
 * cached file disappears when its certificate or CRL expires.
 */
static bool vf_current(struct inbox *ib, const struct inbox_vfile *vf,
		       const struct inbox_stamp *cs,
		       const struct inbox_stamp *ss)
{
	return vf && vf->epoch == inbox_epoch(ib) &&
	       inbox_stamp_eq(&vf->content, cs) &&
	       inbox_stamp_eq(&vf->sig, ss) &&
	       (vf->verdict != VR_OK || !vf->valid_until ||
		time(NULL) < vf->valid_until);
}

bool inbox_cache_needs_hash(struct inbox *ib, const char *path, size_t len,
			    const struct stat *st)
{
	struct inbox_cache *c = ib->cache;
	uint64_t h = XXH3_64bits(path, len);
	struct inbox_stamp cs, ss;
	bool hit;

	/* No .sig: refused before a byte is hashed. */
	if (inbox_sig_load(ib, path, len, &ss, NULL, NULL, NULL) != VR_OK)
		return false;
	inbox_stamp_of(st, &cs);
	pthread_mutex_lock(&c->vt.lock);
	hit =
	    vf_current(ib, ib_vtab_find_locked(&c->vt, h, path, len), &cs, &ss);
	pthread_mutex_unlock(&c->vt.lock);
	/* A kept verdict will answer without hashing, if it still holds. */
	return !hit && !inbox_keep_has(ib, path, len);
}

int inbox_check(struct inbox *ib, const char *path, size_t len, int *fd,
		struct inbox_vfile **out)
{
	return inbox_check_fill(ib, path, len, fd, out, NULL);
}

int inbox_check_fill(struct inbox *ib, const char *path, size_t len, int *fd,
		     struct inbox_vfile **out, struct inbox_fill *fill)
{
	struct inbox_cache *c = ib->cache;
	struct inflight me = {.path = path, .len = len};
	uint64_t h = XXH3_64bits(path, len);
	struct inbox_stamp cs, ss;
	struct inbox_vfile *vf, *prev = NULL;
	struct stat st;
	int ret, vfd = -1;

	*out = NULL;
	ret = current_stamps(ib, path, len, fd, &st, &cs, &ss);
	if (ret)
		return ret;
	pthread_mutex_lock(&c->vt.lock);
	enter_locked(c, &me);
	vf = ib_vtab_find_locked(&c->vt, h, path, len);
	if (vf_current(ib, vf, &cs, &ss) &&
	    (!fd || vf->verdict != VR_OK || vf->blocks)) {
		atomic_fetch_add(&vf->refs, 1);
		if (fd)
			vf->opens++;
		pthread_mutex_unlock(&c->vt.lock);
		sfs_stats_add(&ib->stats, SFS_C_CACHE_HIT, 1);
		*out = vf;
		return 0;
	}
	if (vf) {
		prev = vf;
		atomic_fetch_add(&prev->refs, 1);
	}
	me.next = c->inflight;
	c->inflight = &me;
	pthread_mutex_unlock(&c->vt.lock);

	if (!fd) {
		vfd = inbox_open_regular(ib->rootfd, path, &st);
		ret = vfd < 0 ? vfd : 0;
	}
	/* Not for an open: a kept verdict has no block tags to serve by. */
	if (!ret && !fd && restore_publish(ib, path, len, h, vfd, &vf) == 0) {
		sfs_stats_add(&ib->stats, SFS_C_CACHE_HIT, 1);
		ret = 1;
	} else {
		sfs_stats_add(&ib->stats, SFS_C_CACHE_MISS, 1);
	}
	if (!ret)
		ret = verify_publish(ib, path, len, h, fd ? *fd : vfd, &st,
				     fd != NULL, prev, fill, &vf);
	else if (ret == 1)
		ret = 0;
	inbox_vfile_put(prev);
	if (vfd >= 0)
		close(vfd);
	leave(c, &me);
	if (ret && fd && *fd >= 0) {
		close(*fd);
		*fd = -1;
	}
	if (!ret)
		*out = vf;
	return ret;
}
