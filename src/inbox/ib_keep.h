/* SPDX-License-Identifier: Apache-2.0 */
/* Verdicts kept in the state directory across restarts (inbox_keep.c). */
#ifndef SIGNETFS_INBOX_IB_KEEP_H
#define SIGNETFS_INBOX_IB_KEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "signetfs/state.h"

struct inbox;
struct inbox_vfile;

/*
 * A kept verdict stands in for verifying PATH only for what it can vouch
 * for: that the file and its .sig are, field for field, the ones that
 * verified under today's trust epoch. It makes the file visible (lookup,
 * getattr, listing, its .sig readable: the bytes whose SHA-256 verified)
 * and never serves a byte of content: vf->blocks stays NULL, so the first
 * open hashes the file and records block tags under this mount's key
 * (inbox_state.c), exactly as after a memory-budget trim.
 */

/*
 * Fill vf (fresh, its path set) from the kept verdict for vf->path if it
 * still holds for the file open on fd: 0, or -ENOENT (none, or it does
 * not hold: verify, through the same fd).
 */
int inbox_keep_restore(struct inbox *ib, struct inbox_vfile *vf, int fd);
/* Is there a kept verdict for PATH at all? (A hint: no hashing ahead.) */
bool inbox_keep_has(struct inbox *ib, const char *path, size_t len);
/*
 * After a verification: keep vf's OK (content and .sig as stamped before
 * they were read, under trust), or forget what was kept for the path.
 */
void inbox_keep_save(struct inbox *ib, const struct inbox_vfile *vf,
		     const struct state_stamp *content,
		     const struct state_stamp *sig, const uint8_t trust[32]);

#endif
