// SPDX-License-Identifier: Apache-2.0
/* The verdict cache's table of entries and its memory budget. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ib_cache.h"
#include "ib_hash.h"
#include "ib_vtab.h"
#include "signetfs/util.h"

#define VF(n) SFS_HTAB_ENTRY(n, struct inbox_vfile, hnode)

int ib_vtab_init(struct ib_vtab *t, size_t block_budget, size_t entry_max)
{
	memset(t, 0, sizeof(*t));
	if (sfs_htab_init(&t->tab, 1024))
		return -1;
	pthread_mutex_init(&t->lock, NULL);
	t->block_budget = block_budget;
	t->entry_max = entry_max;
	return 0;
}

static void vfile_free(struct inbox_vfile *vf)
{
	free(vf->blocks);
	free(vf->path);
	free(vf);
}

void inbox_vfile_put(struct inbox_vfile *vf)
{
	if (vf && atomic_fetch_sub(&vf->refs, 1) == 1)
		vfile_free(vf);
}

void ib_vtab_destroy(struct ib_vtab *t)
{
	for (size_t i = 0; i < t->tab.nslots; i++) {
		struct sfs_hnode *n = t->tab.slots[i], *next;

		for (; n; n = next) {
			next = n->next;
			inbox_vfile_put(VF(n));
		}
	}
	sfs_htab_free(&t->tab);
	pthread_mutex_destroy(&t->lock);
}

static size_t blocks_bytes(const struct inbox_vfile *vf)
{
	return vf->blocks
		   ? inbox_nblocks((uint64_t)vf->content.size) * INBOX_TAG
		   : 0;
}

struct path_key {
	const char *path;
	size_t len;
};

static bool same_path(const struct sfs_hnode *n, const void *key)
{
	const struct path_key *k = key;

	return VF(n)->path_len == k->len &&
	       !memcmp(VF(n)->path, k->path, k->len);
}

static struct sfs_hnode **link_locked(struct ib_vtab *t, uint64_t h,
				      const char *path, size_t len)
{
	struct path_key k = {path, len};

	SFS_ASSERT_HELD(&t->lock);
	return sfs_htab_find(&t->tab, h, same_path, &k);
}

struct inbox_vfile *ib_vtab_find_locked(struct ib_vtab *t, uint64_t h,
					const char *path, size_t len)
{
	struct sfs_hnode *n = *link_locked(t, h, path, len);

	return n ? VF(n) : NULL;
}

static void unlink_locked(struct ib_vtab *t, struct sfs_hnode **link)
{
	struct inbox_vfile *vf;

	SFS_ASSERT_HELD(&t->lock);
	vf = VF(sfs_htab_del(&t->tab, link));
	t->block_bytes -= blocks_bytes(vf);
	inbox_vfile_put(vf);
}

static void drop_blocks_locked(struct ib_vtab *t, struct inbox_vfile *vf)
{
	SFS_ASSERT_HELD(&t->lock);
	t->block_bytes -= blocks_bytes(vf);
	free(vf->blocks);
	vf->blocks = NULL;
}

/* Free what nobody holds open: block tables first, then whole entries. */
static void trim_locked(struct ib_vtab *t, const struct inbox_vfile *keep)
{
	bool too_many = t->tab.n > t->entry_max;

	SFS_ASSERT_HELD(&t->lock);
	for (size_t i = 0; i < t->tab.nslots; i++) {
		struct sfs_hnode **pp = &t->tab.slots[i];

		while (*pp) {
			struct inbox_vfile *vf = VF(*pp);

			if (vf == keep || vf->opens) {
				pp = &(*pp)->next;
			} else if (too_many && t->tab.n > t->entry_max / 2) {
				unlink_locked(t, pp);
			} else {
				if (vf->blocks &&
				    t->block_bytes > t->block_budget / 2)
					drop_blocks_locked(t, vf);
				pp = &(*pp)->next;
			}
		}
	}
}

void ib_vtab_insert_locked(struct ib_vtab *t, struct inbox_vfile *vf)
{
	struct sfs_hnode **link =
	    link_locked(t, vf->hnode.hash, vf->path, vf->path_len);

	if (*link)
		unlink_locked(t, link);
	sfs_htab_add(&t->tab, &vf->hnode);
	atomic_fetch_add(&vf->refs, 1);
	t->block_bytes += blocks_bytes(vf);
	if (t->tab.n > t->entry_max || t->block_bytes > t->block_budget)
		trim_locked(t, vf);
}

void ib_vtab_trim_stale(struct ib_vtab *t, uint64_t epoch)
{
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->tab.nslots; i++) {
		for (struct sfs_hnode *n = t->tab.slots[i]; n; n = n->next) {
			struct inbox_vfile *vf = VF(n);

			if (vf->epoch != epoch && !vf->opens && vf->blocks)
				drop_blocks_locked(t, vf);
		}
	}
	pthread_mutex_unlock(&t->lock);
}
