// SPDX-License-Identifier: Apache-2.0
/* Inbox nodes: one per mount path the kernel knows, and its page cache use. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "ib_cache.h"
#include "ib_dir.h"
#include "ib_node.h"
#include "inbox.h"

#define NODE(h) SFS_HTAB_ENTRY(h, struct ib_node, hnode)

struct node_table {
	pthread_mutex_t lock; /* leaf lock: nothing is taken under it */
	struct sfs_htab tab;  /* ib_node.hnode, by path */
	struct ib_node root;
};

static struct node_table *nodes_of(struct inbox *ib)
{
	return ib->nodes;
}

struct ib_node *inbox_node_of(struct inbox *ib, fuse_ino_t ino)
{
	if (ino == FUSE_ROOT_ID)
		return &nodes_of(ib)->root;
	return (struct ib_node *)(uintptr_t)ino;
}

fuse_ino_t inbox_ino_of(struct inbox *ib, struct ib_node *n)
{
	return n == &nodes_of(ib)->root ? FUSE_ROOT_ID
					: (fuse_ino_t)(uintptr_t)n;
}

int inbox_nodes_init(struct inbox *ib)
{
	struct node_table *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->root.path = strdup("");
	if (sfs_htab_init(&t->tab, 1024) || !t->root.path) {
		sfs_htab_free(&t->tab);
		free(t->root.path);
		free(t);
		return -ENOMEM;
	}
	t->root.kind = INBOX_DT_DIR;
	t->root.nlookup = 1;
	pthread_mutex_init(&t->lock, NULL);
	ib->nodes = t;
	return 0;
}

static void node_free(struct ib_node *n)
{
	free(n->path);
	free(n);
}

void inbox_nodes_destroy(struct inbox *ib)
{
	struct node_table *t = ib->nodes;

	if (!t)
		return;
	for (size_t i = 0; i < t->tab.nslots; i++) {
		struct sfs_hnode *n = t->tab.slots[i], *next;

		for (; n; n = next) {
			next = n->next;
			node_free(NODE(n));
		}
	}
	sfs_htab_free(&t->tab);
	free(t->root.path);
	pthread_mutex_destroy(&t->lock);
	free(t);
	ib->nodes = NULL;
}

static void unhash_locked(struct node_table *t, struct ib_node *n)
{
	struct sfs_hnode **link = sfs_htab_link(&t->tab, &n->hnode);

	SFS_ASSERT_HELD(&t->lock);
	if (link) {
		sfs_htab_del(&t->tab, link);
		n->hashed = false;
	}
}

struct path_key {
	const char *path;
	size_t len;
};

static bool same_path(const struct sfs_hnode *h, const void *key)
{
	const struct path_key *k = key;

	return NODE(h)->len == k->len &&
	       !memcmp(NODE(h)->path, k->path, k->len);
}

/* The node hashed for path (hash h), if any. */
static struct ib_node *lookup_locked(struct node_table *t, uint64_t h,
				     const char *path, size_t len)
{
	struct path_key k = {path, len};
	struct sfs_hnode *n = *sfs_htab_find(&t->tab, h, same_path, &k);

	return n ? NODE(n) : NULL;
}

static void hash_locked(struct node_table *t, struct ib_node *n)
{
	n->hashed = true;
	sfs_htab_add(&t->tab, &n->hnode);
}

/* A node for path, in no table yet; NULL on ENOMEM. */
static struct ib_node *node_new(const char *path, size_t len, uint64_t h,
				enum inbox_dtype kind)
{
	struct ib_node *n = calloc(1, sizeof(*n));

	if (n && !(n->path = strndup(path, len))) {
		free(n);
		return NULL;
	}
	if (n) {
		n->hnode.hash = h;
		n->len = len;
		n->kind = kind;
	}
	return n;
}

/* Free n once neither the kernel nor the daemon refers to it. */
static void release_locked(struct node_table *t, struct ib_node *n)
{
	if (n->nlookup || n->pins)
		return;
	if (n->hashed)
		unhash_locked(t, n);
	node_free(n);
}

/*
 * The node for (path, kind), one more lookup counted. The same path keeps
 * its node (and so its page cache) across lookups; a path whose kind
 * changed gets a new one, the old lives on until the kernel forgets it.
 */
struct ib_node *inbox_node_get(struct inbox *ib, const char *path, size_t len,
			       enum inbox_dtype kind)
{
	struct node_table *t = nodes_of(ib);
	uint64_t h = XXH3_64bits(path, len);
	struct ib_node *n;

	pthread_mutex_lock(&t->lock);
	n = lookup_locked(t, h, path, len);
	if (n && n->kind != kind) {
		unhash_locked(t, n);
		n = NULL;
	}
	if (!n && (n = node_new(path, len, h, kind)))
		hash_locked(t, n);
	if (n)
		n->nlookup++;
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct ib_node *inbox_node_fresh(struct inbox *ib, const char *path, size_t len,
				 uint32_t generation)
{
	struct node_table *t = nodes_of(ib);
	uint64_t h = XXH3_64bits(path, len);
	struct ib_node *n = NULL;

	pthread_mutex_lock(&t->lock);
	/* A node for the path: the kernel may know it, not fresh. */
	if (!lookup_locked(t, h, path, len))
		n = node_new(path, len, h, INBOX_DT_REG);
	if (n) {
		/* Not in the table: no lookup or listing can name it yet. */
		n->pins = 1;
		n->generation = generation;
	}
	pthread_mutex_unlock(&t->lock);
	return n;
}

bool inbox_node_publish(struct inbox *ib, struct ib_node *n)
{
	struct node_table *t = nodes_of(ib);
	bool ok;

	pthread_mutex_lock(&t->lock);
	ok = !n->hashed && n->cached_opens == 0 &&
	     !lookup_locked(t, n->hnode.hash, n->path, n->len);
	if (ok)
		hash_locked(t, n);
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void inbox_node_pin(struct inbox *ib, struct ib_node *n)
{
	struct node_table *t = nodes_of(ib);

	pthread_mutex_lock(&t->lock);
	n->pins++;
	pthread_mutex_unlock(&t->lock);
}

void inbox_node_unpin(struct inbox *ib, struct ib_node *n)
{
	struct node_table *t = nodes_of(ib);

	pthread_mutex_lock(&t->lock);
	n->pins--;
	release_locked(t, n);
	pthread_mutex_unlock(&t->lock);
}

void inbox_node_ref(struct inbox *ib, struct ib_node *n)
{
	struct node_table *t = nodes_of(ib);

	pthread_mutex_lock(&t->lock);
	n->nlookup++;
	pthread_mutex_unlock(&t->lock);
}

void inbox_node_cache_filled(struct inbox *ib, struct ib_node *n, uint64_t gen)
{
	struct node_table *t = nodes_of(ib);

	pthread_mutex_lock(&t->lock);
	if (n->cached_opens == 0)
		n->cache_gen = gen;
	pthread_mutex_unlock(&t->lock);
}

void inbox_node_forget(struct inbox *ib, fuse_ino_t ino, uint64_t nlookup)
{
	struct node_table *t = nodes_of(ib);
	struct ib_node *n = inbox_node_of(ib, ino);

	if (n == &t->root)
		return;
	pthread_mutex_lock(&t->lock);
	n->nlookup -= nlookup < n->nlookup ? nlookup : n->nlookup;
	release_locked(t, n);
	pthread_mutex_unlock(&t->lock);
}

static struct ib_node *find_locked(struct node_table *t, const char *path,
				   size_t len)
{
	if (len == 0)
		return &t->root;
	return lookup_locked(t, XXH3_64bits(path, len), path, len);
}

void inbox_known_free(struct inbox_known *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(k[i].name);
	free(k);
}

/*
 * Collected under the lock and notified after it is dropped: the kernel's
 * entry invalidation takes the parent directory's lock, which a LOOKUP in
 * progress holds while it waits for us (and our lookups take t->lock).
 */
int inbox_nodes_known_files(struct inbox *ib, struct inbox_known **out,
			    size_t *count)
{
	struct node_table *t = nodes_of(ib);
	struct inbox_known *k;
	size_t n = 0;

	pthread_mutex_lock(&t->lock);
	k = calloc(t->tab.n ? t->tab.n : 1, sizeof(*k));
	for (size_t i = 0; k && i < t->tab.nslots; i++) {
		for (struct sfs_hnode *h = t->tab.slots[i]; h; h = h->next) {
			struct ib_node *nd = NODE(h);

			const char *slash = memrchr(nd->path, '/', nd->len);
			size_t plen = slash ? (size_t)(slash - nd->path) : 0;
			const char *name = slash ? slash + 1 : nd->path;
			struct ib_node *p;

			if (nd->kind == INBOX_DT_DIR || !nd->nlookup)
				continue;
			p = find_locked(t, nd->path, plen);
			if (!p || p->kind != INBOX_DT_DIR)
				continue;
			k[n].name =
			    strndup(name, nd->len - (size_t)(name - nd->path));
			if (!k[n].name)
				continue;
			k[n].len = strlen(k[n].name);
			k[n].parent = inbox_ino_of(ib, p);
			k[n].ino = inbox_ino_of(ib, nd);
			n++;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (!k)
		return -ENOMEM;
	*out = k;
	*count = n;
	return 0;
}

/*
 * Page cache: a handle reads through it only if the cache holds (or is
 * about to hold) bytes of the same verified version. keep_cache keeps
 * them across opens; without it the kernel drops the inode's pages when
 * the open completes. While handles of an older version still read
 * through the cache, a newer version is served with direct_io, so no
 * reader ever sees a mix of two versions.
 */
enum inbox_cache_use inbox_node_cache_get(struct inbox *ib, struct ib_node *n,
					  uint64_t gen)
{
	struct node_table *t = nodes_of(ib);
	enum inbox_cache_use use = INBOX_CACHE_DIRECT;

	pthread_mutex_lock(&t->lock);
	if (n->cache_gen == gen) {
		use = INBOX_CACHE_KEEP;
	} else if (n->cached_opens == 0) {
		n->cache_gen = gen;
		use = INBOX_CACHE_FRESH;
	}
	if (use != INBOX_CACHE_DIRECT)
		n->cached_opens++;
	pthread_mutex_unlock(&t->lock);
	return use;
}

void inbox_node_cache_put(struct inbox *ib, struct ib_node *n)
{
	struct node_table *t = nodes_of(ib);

	pthread_mutex_lock(&t->lock);
	n->cached_opens--;
	pthread_mutex_unlock(&t->lock);
}
