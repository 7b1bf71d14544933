/* SPDX-License-Identifier: Apache-2.0 */
/* Listings (verified in parallel) and the --prewarm pass. */
#ifndef SIGNETFS_INBOX_IB_DIR_H
#define SIGNETFS_INBOX_IB_DIR_H

#include <stddef.h>
#include <sys/types.h>

struct inbox;

enum inbox_dtype { INBOX_DT_DIR, INBOX_DT_REG, INBOX_DT_SIG };

struct inbox_dirent {
	char *name;
	enum inbox_dtype type;
	ino_t ino;
};

struct inbox_listing {
	struct inbox_dirent *ents;
	size_t n;
	ino_t self_ino, parent_ino; /* "." and ".." in BACKING */
};

/*
 * Read the backing directory PATH and keep what the mount shows: dirs,
 * files that verify (in parallel) and their .sig; in audit mode every
 * regular file. 0 or -errno.
 */
int inbox_list(struct inbox *ib, const char *path, struct inbox_listing *l);
void inbox_listing_free(struct inbox_listing *l);

/* Verify the whole tree in the background (--prewarm). */
int inbox_prewarm_start(struct inbox *ib);
void inbox_prewarm_stop(struct inbox *ib);

#endif
