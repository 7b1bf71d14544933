/* SPDX-License-Identifier: Apache-2.0 */
/*
 * HMAC-SHA256 under a key derived with HKDF, for state kept on disk
 * (state.h), behind an opaque type: the mounts never include OpenSSL.
 */
#ifndef SIGNETFS_MAC_H
#define SIGNETFS_MAC_H

#include <stddef.h>
#include <stdint.h>

#define SFS_MAC_LEN 32

struct sfs_mac;

/* One piece of the MACed message; the caller makes the encoding unique. */
struct sfs_mac_part {
	const void *p;
	size_t len;
};

/*
 * A key HKDF-SHA256(ikm, salt, info) (RFC 5869), held in OpenSSL's
 * secure heap and never handed out. NULL without memory.
 */
struct sfs_mac *sfs_mac_derive(const uint8_t *ikm, size_t ikm_len,
			       const char *salt, const void *info,
			       size_t info_len);
void sfs_mac_free(struct sfs_mac *m);
/* HMAC-SHA256 of the parts in order; thread-safe. 0 or -EIO. */
int sfs_mac_compute(const struct sfs_mac *m, const struct sfs_mac_part *parts,
		    size_t n, uint8_t out[SFS_MAC_LEN]);
/* 0 when tag is the MAC of the parts (constant time), else -EBADMSG. */
int sfs_mac_verify(const struct sfs_mac *m, const struct sfs_mac_part *parts,
		   size_t n, const uint8_t tag[SFS_MAC_LEN]);

/* Secret random bytes (a key); 0 or -EIO. */
int sfs_random_secret(void *buf, size_t len);
/* Wipe a secret, whatever the compiler thinks of dead stores. */
void sfs_wipe(void *p, size_t len);

#endif
