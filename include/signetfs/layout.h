/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where signatures live: how a writer's names are stored in BACKING next to
 * the signature slots (docs/signature-format.md, "Where signatures live").
 *
 * A BACKING name ending in ".sig" is a signature slot: NAME.sig holds the
 * signature of the file NAME beside it, and is never a file of its own. A
 * writer's name that matches \.sig~*$ is stored with one '~' appended
 * ("x.sig" -> "x.sig~", "x.sig~" -> "x.sig~~"); every other name is stored
 * as it is. That is a bijection between all writer names and the BACKING
 * names that are not slots, so no writer can name a slot, and the signed
 * path (signetfs-path) is always the writer's path, never the stored one.
 */
#ifndef SIGNETFS_LAYOUT_H
#define SIGNETFS_LAYOUT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

/* The layout above; 1 was the same without the escaping (0.1). */
#define SFS_LAYOUT_VERSION 2

/*
 * The longest writer name that can always be stored (an escaped name takes
 * one byte more) and signed (its slot four more), within NAME_MAX.
 */
#define SFS_NAME_MAX_STORED (NAME_MAX - 1)
#define SFS_NAME_MAX_SIGNED (NAME_MAX - 1 - 4)

/* Is NAME (len bytes) a signature slot: does it end in ".sig"? */
bool sfs_name_is_slot(const char *name, size_t len);

/* Must the writer's NAME be escaped: does it match \.sig~*$ ? */
bool sfs_name_escaped(const char *name, size_t len);

/*
 * The writer's NAME as BACKING stores it, into out (NAME_MAX + 1 bytes),
 * *olen its length. -EINVAL for an empty name or one with '/' or NUL,
 * -ENAMETOOLONG when the stored name would exceed NAME_MAX.
 */
int sfs_name_to_backing(const char *name, size_t len, char *out, size_t *olen);

/*
 * The writer's name of a BACKING name (out: NAME_MAX + 1 bytes), or
 * -EINVAL for a signature slot (or an empty name): slots have no writer
 * name.
 */
int sfs_name_from_backing(const char *bname, size_t len, char *out,
			  size_t *olen);

/*
 * The same for every component of a '/'-separated relative path ("" is
 * the root); out (size bytes) must not overlap path. -EINVAL (a slot
 * component, an empty one), -ENAMETOOLONG.
 */
int sfs_path_to_backing(const char *path, size_t len, char *out, size_t size,
			size_t *olen);
int sfs_path_from_backing(const char *bpath, size_t len, char *out, size_t size,
			  size_t *olen);

/*
 * The signature slot of the writer's PATH (len bytes, not "") as BACKING
 * stores it: PATH's stored path + ".sig", into out (size bytes). -EINVAL
 * for "" or what sfs_path_to_backing refuses, -ENAMETOOLONG when the
 * slot's name exceeds NAME_MAX (such a file has no signature) or out is
 * too small.
 */
int sfs_path_to_slot(const char *path, size_t len, char *out, size_t size,
		     size_t *olen);

/*
 * The file whose signature a mount serves under PATH (len bytes, as
 * served): PATH is FILE + suffix ([inbox] sig-suffix), FILE's last
 * component not empty. FILE's length, or 0 for no such name. Only where
 * the tree has no name PATH of its own (the writer's name wins).
 */
size_t sfs_path_sig_of(const char *path, size_t len, const char *suffix);

/*
 * A temp file of a signature that layout 1 (signetfs 0.1) left behind
 * after a crash: ".NAME.sig.XXXXXX.tmp". Layout 2 writes its temps as
 * slots (sfs_is_atomic_temp), so this name is an ordinary writer name
 * now; only `signetfs migrate` removes such files.
 */
bool sfs_is_legacy_temp(const char *name);

/*
 * The layout marker in BACKING's root: a slot of a slot (like the temp
 * files), so no writer name is ever stored so and neither mount shows it.
 * Its content is "signetfs-layout 2\n". `signetfs migrate` writes it; a
 * BACKING without one is read as layout 2 (docs/signature-format.md,
 * "Layout versions"), and a mount refuses a BACKING that says another.
 */
#define SFS_LAYOUT_MARKER ".signetfs-layout.sig.sig"

/*
 * The layout BACKING's root (dirfd) declares: its version, 0 when there is
 * no marker, -EPROTO for one that does not parse, or -errno.
 */
int sfs_layout_read(int dirfd);

/* Write the marker for SFS_LAYOUT_VERSION, atomically and durably. */
int sfs_layout_write(int dirfd);

#endif
