/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one verdict on a file and its signature, with policy applied: the
 * inbox, the outbox's rename and `signetfs verify` all ask here, so they
 * cannot disagree (docs/signature-format.md, "Verification rules").
 */
#ifndef SIGNETFS_VERDICT_H
#define SIGNETFS_VERDICT_H

#include <stddef.h>
#include <stdint.h>

#include "verify.h"

struct sfs_config;

/*
 * NAME.sig as its caller read it: each reads it its own way (the inbox
 * confined beneath BACKING, the CLI by name), then hands over the bytes
 * or why there are none.
 */
struct verdict_sig {
	const uint8_t *der;
	size_t len;
	enum verify_reason read; /* VR_OK, or why there are no bytes */
};

/*
 * sfs_read_file_at()'s result as verdict_sig.read. A NAME.sig that is not
 * a regular file (-EINVAL: a FIFO, device, directory or symlink) is no
 * signature, as the inbox, which never opens one, sees it; nor is one
 * whose name would be over NAME_MAX (-ENAMETOOLONG: a file of 252-255
 * bytes has no slot, sfs_path_to_slot).
 */
enum verify_reason verdict_read_reason(int err);

/*
 * Every rule but the content digest for the file at PATH (mount-relative:
 * where the inbox serves it, or relative to verify's --root). The most
 * specific [rule] is matched once; a path that policy cannot evaluate
 * (deeper than SFS_POLICY_MAX_DEPTH) is VR_POLICY whatever else is wrong;
 * then sig->read; then the verifier with that rule's pins and path
 * binding. Fills info (cleared first; the caller frees it with
 * sig_info_clear). Thread-safe.
 */
enum verify_reason verdict_check_sig(const struct sfs_config *cfg,
				     struct sfs_verifier *v, const char *path,
				     const struct verdict_sig *sig,
				     struct sig_info *info);

/* verdict_check_sig(), then the content of fd against messageDigest. */
enum verify_reason verdict_check_fd(const struct sfs_config *cfg,
				    struct sfs_verifier *v, const char *path,
				    const struct verdict_sig *sig, int fd,
				    struct sig_info *info);

struct state_store;

/*
 * Rule 25, after every other: the signature's signetfs-version against the
 * highest version of PATH in a state's version map (state.h; NULL: no map,
 * VR_OK). Older than it, or unversioned once a version was seen:
 * VR_ROLLBACK. An entry that fails its MAC or cannot be read: VR_STATE.
 * With raise (the inbox, once the file verified), the map keeps version
 * as PATH's highest, on disk before this returns; `signetfs verify
 * --state` only reads.
 */
enum verify_reason verdict_check_version(struct state_store *st,
					 const char *path, size_t len,
					 uint64_t version, bool raise);

#endif
