/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Directory times the outbox's own files must not change (outbox_dirtime.c).
 * Installing, replacing or removing a NAME.sig changes its directory's
 * mtime in BACKING; the view must show the mtime writers left (rsync -a
 * sets a directory's mtime after writing into it). So each of the
 * outbox's own changes to a directory puts the mtime back afterwards,
 * unless a writer changed the directory meanwhile: writers' changes are
 * bracketed too. ctime cannot be put back.
 */
#ifndef SIGNETFS_OUTBOX_OB_DIRTIME_H
#define SIGNETFS_OUTBOX_OB_DIRTIME_H

#include <sys/types.h>

struct outbox;
struct ob_dirtime;

/*
 * A writer's change to directory (dev, ino) through the mount: create,
 * mkdir, unlink, rmdir, rename (both directories), explicit times. Around
 * the syscall; no mtime saved before it is put back.
 */
void ob_dir_change_begin(struct outbox *ob, dev_t dev, ino_t ino);
void ob_dir_change_end(struct outbox *ob, dev_t dev, ino_t ino);

/*
 * The outbox's own change to the directory open on dfd (a .sig, its temp
 * file): begin saves the mtime (the first of overlapping ones), end puts
 * it back (the last), unless a writer's change overlapped. A no-op with
 * --no-sign. The token from begin goes to end.
 */
struct ob_dirtime *ob_dir_own_begin(struct outbox *ob, int dfd);
void ob_dir_own_end(struct outbox *ob, int dfd, struct ob_dirtime *t);

void ob_dirtimes_init(struct outbox *ob);
void ob_dirtimes_destroy(struct outbox *ob);

#endif
