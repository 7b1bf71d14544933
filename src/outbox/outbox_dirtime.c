// SPDX-License-Identifier: Apache-2.0
/* Directory mtimes kept as writers left them around the outbox's .sig files. */
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "ob_dirtime.h"
#include "outbox.h"
#include "signetfs/log.h"

/*
 * A directory with changes in flight, on ob->dirtimes (a short list: one
 * entry per directory being changed right now, at most a few per worker
 * thread), under ob->dirtime_lock, a leaf lock.
 */
struct ob_dirtime {
	struct ob_dirtime *next;
	dev_t dev;
	ino_t ino;
	unsigned writers; /* writers' changes in flight */
	unsigned owns;	  /* the outbox's own changes in flight */
	bool changed;	  /* a writer's change since the mtime was saved */
	struct timespec mtime;
};

void ob_dirtimes_init(struct outbox *ob)
{
	pthread_mutex_init(&ob->dirtime_lock, NULL);
	ob->dirtimes = NULL;
}

void ob_dirtimes_destroy(struct outbox *ob)
{
	while (ob->dirtimes) {
		struct ob_dirtime *t = ob->dirtimes;

		ob->dirtimes = t->next;
		free(t);
	}
	pthread_mutex_destroy(&ob->dirtime_lock);
}

static struct ob_dirtime *get_locked(struct outbox *ob, dev_t dev, ino_t ino)
{
	struct ob_dirtime *t;

	SFS_ASSERT_HELD(&ob->dirtime_lock);
	for (t = ob->dirtimes; t; t = t->next)
		if (t->dev == dev && t->ino == ino)
			return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->dev = dev;
	t->ino = ino;
	t->next = ob->dirtimes;
	ob->dirtimes = t;
	return t;
}

static void put_locked(struct outbox *ob, struct ob_dirtime *t)
{
	struct ob_dirtime **pp;

	SFS_ASSERT_HELD(&ob->dirtime_lock);
	if (t->writers || t->owns)
		return;
	for (pp = &ob->dirtimes; *pp != t; pp = &(*pp)->next)
		;
	*pp = t->next;
	free(t);
}

void ob_dir_change_begin(struct outbox *ob, dev_t dev, ino_t ino)
{
	struct ob_dirtime *t;

	if (ob->no_sign)
		return;
	pthread_mutex_lock(&ob->dirtime_lock);
	t = get_locked(ob, dev, ino);
	if (t) {
		t->writers++;
		t->changed = true;
	}
	pthread_mutex_unlock(&ob->dirtime_lock);
	/* ENOMEM: an own change of the directory meanwhile saves nothing. */
}

void ob_dir_change_end(struct outbox *ob, dev_t dev, ino_t ino)
{
	struct ob_dirtime *t;

	if (ob->no_sign)
		return;
	pthread_mutex_lock(&ob->dirtime_lock);
	for (t = ob->dirtimes; t; t = t->next)
		if (t->dev == dev && t->ino == ino)
			break;
	if (t && t->writers) {
		t->writers--;
		t->changed = true;
		put_locked(ob, t);
	}
	pthread_mutex_unlock(&ob->dirtime_lock);
}

/*
 * The fstat is under the lock: a writer's change that began before it is
 * counted (changed), one that ended before it is in the saved mtime, one
 * that begins after it marks the entry.
 */
struct ob_dirtime *ob_dir_own_begin(struct outbox *ob, int dfd)
{
	struct ob_dirtime *t = NULL;
	struct stat st;

	if (ob->no_sign || dfd < 0)
		return NULL;
	pthread_mutex_lock(&ob->dirtime_lock);
	if (fstat(dfd, &st) == 0)
		t = get_locked(ob, st.st_dev, st.st_ino);
	if (t && t->owns++ == 0) {
		t->changed = t->writers > 0;
		t->mtime = st.st_mtim;
	}
	pthread_mutex_unlock(&ob->dirtime_lock);
	return t;
}

/*
 * Under the lock with the check: a writer's change cannot land between
 * the check and the restore (it registers first, and waits for the lock).
 */
void ob_dir_own_end(struct outbox *ob, int dfd, struct ob_dirtime *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&ob->dirtime_lock);
	if (--t->owns == 0 && !t->changed) {
		struct timespec tv[2] = {{.tv_nsec = UTIME_OMIT}, t->mtime};

		if (futimens(dfd, tv) < 0)
			sfs_debug("cannot put a directory's mtime back: %m");
	}
	put_locked(ob, t);
	pthread_mutex_unlock(&ob->dirtime_lock);
}
