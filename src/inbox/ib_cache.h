/* SPDX-License-Identifier: Apache-2.0 */
/* The verdict cache: what verifying one path found, per version. */
#ifndef SIGNETFS_INBOX_IB_CACHE_H
#define SIGNETFS_INBOX_IB_CACHE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "ib_hash.h"
#include "signetfs/htab.h"
#include "signetfs/digest.h"
#include "signetfs/verify.h"

struct inbox;
struct inbox_fill;
struct state_stamp;

/*
 * What verifying one path found, for one (content, .sig) version pair.
 * Immutable once published, except blocks (dropped under the table lock
 * when the memory budget is exceeded and no handle holds the entry).
 */
struct inbox_vfile {
	char *path;
	size_t path_len;
	struct sfs_hnode hnode; /* hash: XXH3 of path (slot only) */
	atomic_uint refs;
	unsigned opens; /* handles; under the table lock */
	uint64_t gen;	/* unique per verification */
	uint64_t epoch; /* inbox_conf it was verified with */
	struct inbox_stamp content;
	struct inbox_stamp sig;
	enum verify_reason verdict;
	/* Valid when verdict == VR_OK: */
	struct sfs_digest digest;
	uint8_t sig_sha256[32]; /* of the .sig bytes verified */
	size_t sig_len;
	uint8_t signer_sha256[32];
	char signer_subject[256];
	time_t signing_time;
	time_t valid_until;    /* an OK verdict expires then (sig_info) */
	uint64_t file_version; /* signetfs-version, 0: none */
	inbox_tag *blocks;     /* NULL: not kept, re-hash on open */
	atomic_bool audited_mismatch; /* one record per version */
	/* Its signature's name is a file's: said once (inbox_dir.c). */
	atomic_bool sig_shadowed_logged;
};

void inbox_vfile_put(struct inbox_vfile *vf);

/*
 * Verified state of PATH as BACKING holds it now: reuses the cache while
 * both stamps are unchanged, verifies again otherwise. With want_fd, also
 * opens the content (*fd, caller closes) and makes sure blocks exist for
 * that very file, and counts a handle (inbox_vfile_closed() undoes it).
 * Returns 0 with *out referenced (check (*out)->verdict), -ENOENT when
 * PATH is no regular file, or -errno.
 */
int inbox_check(struct inbox *ib, const char *path, size_t len, int *fd,
		struct inbox_vfile **out);
/*
 * Would a check of path (st: its content now) hash it, that is, is there
 * a .sig beside it and no verdict cached for the two as they are? Only a
 * hint: either may change meanwhile.
 */
bool inbox_cache_needs_hash(struct inbox *ib, const char *path, size_t len,
			    const struct stat *st);
/* The same, with the bytes it hashes also pushed into fill (inbox_fill.c). */
int inbox_check_fill(struct inbox *ib, const char *path, size_t len, int *fd,
		     struct inbox_vfile **out, struct inbox_fill *fill);

/*
 * The .sig beside PATH (NUL-terminated; len its length): its stamp, and
 * with der != NULL its bytes (malloc'ed, *der_len of them; and with kept
 * != NULL its stamp for the state directory, taken before them). VR_OK,
 * VR_NO_SIG, VR_SIG_TOO_LARGE, VR_IO or VR_INTERNAL.
 */
enum verify_reason inbox_sig_load(struct inbox *ib, const char *path,
				  size_t len, struct inbox_stamp *stamp,
				  uint8_t **der, size_t *der_len,
				  struct state_stamp *kept);

/* Handle accounting: blocks of an entry with opens > 0 are never dropped. */
void inbox_vfile_closed(struct inbox *ib, struct inbox_vfile *vf);

/* After a reload: free the block tables of entries nobody has open. */
void inbox_cache_trim_stale(struct inbox *ib);

int inbox_cache_init(struct inbox *ib);
void inbox_cache_destroy(struct inbox *ib);

#endif
