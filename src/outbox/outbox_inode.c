// SPDX-License-Identifier: Apache-2.0
/* Per-inode outbox state, and the stash of failed writes the kernel forgot. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ob_digest.h"
#include "ob_file.h"
#include "ob_inode.h"
#include "ob_ops.h"
#include "ob_sign.h"
#include "outbox.h"
#include "signetfs/log.h"

/* The stash entry for (dev, ino), or NULL; under failed_lock. */
static struct ob_failed *failed_find_locked(struct outbox *ob, dev_t dev,
					    ino_t ino)
{
	SFS_ASSERT_HELD(&ob->failed_lock);

	for (size_t k = 0; k < ob->n_failed; k++)
		if (ob->failed[k].dev == dev && ob->failed[k].ino == ino)
			return &ob->failed[k];
	return NULL;
}

static void failed_remove_locked(struct outbox *ob, struct ob_failed *e)
{
	SFS_ASSERT_HELD(&ob->failed_lock);

	*e = ob->failed[--ob->n_failed];
}

/* A forgotten inode's write_failed flag, if it had one (and forget it). */
static void failed_restore(struct outbox *ob, struct ob_inode *s)
{
	struct ob_failed *e;

	pthread_mutex_lock(&ob->failed_lock);
	e = failed_find_locked(ob, s->dev, s->ino);
	if (e) {
		s->write_failed = true;
		memcpy(s->write_failed_why, e->why, sizeof(e->why));
		failed_remove_locked(ob, e);
	}
	pthread_mutex_unlock(&ob->failed_lock);
}

/* The kernel forgets an inode whose content is untrustworthy: keep that. */
void ob_write_failed_stash(struct outbox *ob, dev_t dev, ino_t ino,
			   const char *why)
{
	struct ob_failed *e;

	pthread_mutex_lock(&ob->failed_lock);
	if (ob->n_failed == ob->cap_failed) {
		size_t cap = ob->cap_failed ? ob->cap_failed * 2 : 16;

		e = realloc(ob->failed, cap * sizeof(*e));
		if (!e) {
			pthread_mutex_unlock(&ob->failed_lock);
			sfs_err("out of memory: inode %ju forgets that a write "
				"to it failed",
				(uintmax_t)ino);
			return;
		}
		ob->failed = e;
		ob->cap_failed = cap;
	}
	e = &ob->failed[ob->n_failed++];
	e->dev = dev;
	e->ino = ino;
	snprintf(e->why, sizeof(e->why), "%s", why);
	pthread_mutex_unlock(&ob->failed_lock);
}

static void failed_stash(struct outbox *ob, const struct ob_inode *s)
{
	ob_write_failed_stash(ob, s->dev, s->ino, s->write_failed_why);
}

bool ob_write_failed_stashed(struct outbox *ob, dev_t dev, ino_t ino)
{
	bool found;

	pthread_mutex_lock(&ob->failed_lock);
	found = failed_find_locked(ob, dev, ino) != NULL;
	pthread_mutex_unlock(&ob->failed_lock);
	return found;
}

void ob_write_failed_forget(struct outbox *ob, dev_t dev, ino_t ino)
{
	struct ob_failed *e;

	pthread_mutex_lock(&ob->failed_lock);
	e = failed_find_locked(ob, dev, ino);
	if (e)
		failed_remove_locked(ob, e);
	pthread_mutex_unlock(&ob->failed_lock);
}

struct ob_inode *ob_inode_state(struct outbox *ob, struct bk_inode *i)
{
	struct ob_inode *s = i->priv;

	if (!s) {
		s = calloc(1, sizeof(*s));
		if (s) {
			ob_rdigest_init(&s->rd);
			s->ob = ob;
			s->dev = i->dev;
			s->ino = i->ino;
			failed_restore(ob, s);
		}
		i->priv = s;
	}
	return s;
}

/* Forgotten but pinned: a new state for the same file must see the flag. */
void ob_inode_detach(void *p)
{
	struct ob_inode *s = p;

	if (s && s->write_failed && !s->failed_stashed) {
		failed_stash(s->ob, s);
		s->failed_stashed = true;
	}
}

void ob_inode_free(void *p)
{
	struct ob_inode *s = p;

	if (!s)
		return;
	if (s->write_failed && !s->failed_stashed)
		failed_stash(s->ob, s);
	ob_forget_writers_locked(s);
	free(s->past);
	free(s->sig_writer);
	ob_rdigest_free(&s->rd);
	free(s);
}

void ob_write_failed_locked(struct ob_inode *s, const char *fmt, ...)
{
	va_list ap;

	if (s->write_failed)
		return; /* the first failure says why */
	s->write_failed = true;
	va_start(ap, fmt);
	vsnprintf(s->write_failed_why, sizeof(s->write_failed_why), fmt, ap);
	va_end(ap);
}

void ob_write_reset_locked(struct ob_inode *s)
{
	s->write_failed = false;
	s->write_failed_why[0] = '\0';
}

/* A content change: generation and status (the digest is fed apart). */
void ob_note_change_locked(struct ob_inode *s)
{
	s->content_gen++;
	s->status = OB_ST_UNKNOWN;
}

/*
 * A failed ftruncate or fallocate with one of these was refused before it
 * changed anything (and its caller sees the error). Any other failure may
 * have changed part of the file: its content is untrustworthy.
 */
bool ob_changed_nothing(int err)
{
	return err == EOPNOTSUPP || err == ENOSYS || err == EINVAL ||
	       err == EBADF || err == EPERM || err == EACCES || err == EROFS ||
	       err == EFBIG || err == ETXTBSY;
}

/* The file was emptied: what anybody wrote before is gone. */
void ob_content_reset_locked(struct outbox *ob, struct ob_inode *s)
{
	s->prov = OB_PROV_OK; /* empty: nothing earlier to vouch for */
	ob_write_reset_locked(s);
	ob_forget_writers_locked(s);
	ob_note_change_locked(s);
	ob_rdigest_restart(&s->rd, ob_conf(ob)->md);
}
