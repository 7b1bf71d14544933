// SPDX-License-Identifier: Apache-2.0
/*
 * The inbox's seal: inbox.db (and its WAL) as the daemon left them at a
 * clean close. Each entry's MAC says an entry is ours, not that it is our
 * latest: a copy of inbox.db kept from an earlier day (a backup put back,
 * `cp -p` over it) holds entries that all verify, and lower versions. A
 * file's ctime cannot be set by its owner, so any write to inbox.db after
 * the seal moves its ctime: the seal (inode, size, ctime of inbox.db and of
 * its WAL, MACed) no longer matches, and the store is refused, whatever
 * seal is put back with it. The seal is removed at open: after a crash
 * there is none, and only the entries' MACs hold (docs/inbox.md, Limits).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signetfs/log.h"
#include "signetfs/util.h"
#include "state_int.h"

#define SEAL_NAME "inbox.seal"
#define DB_NAME "inbox.db"
#define WAL_NAME "inbox.db-wal"
#define DOM_SEAL "signetfs-state-seal-v1"
#define SEAL_VAL (2 * 4 * 8)

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* inode, size, ctime (ns) of one file; an absent or empty file is zeros. */
static int put_file(uint8_t *p, int dfd, const char *name)
{
	struct stat st;

	memset(p, 0, 4 * 8);
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISREG(st.st_mode) && st.st_size == 0 && strcmp(name, DB_NAME))
		return 0; /* an empty WAL says nothing */
	put64(p, 1);
	put64(p + 8, (uint64_t)st.st_ino);
	put64(p + 16, (uint64_t)st.st_size);
	put64(p + 24, (uint64_t)st.st_ctim.tv_sec * 1000000000ULL +
			  (uint64_t)st.st_ctim.tv_nsec);
	return 0;
}

static int seal_value(int dfd, uint8_t val[SEAL_VAL])
{
	int ret = put_file(val, dfd, DB_NAME);

	return ret ? ret : put_file(val + 4 * 8, dfd, WAL_NAME);
}

static int seal_mac(const struct state_store *st, const uint8_t *val,
		    uint8_t mac[SFS_MAC_LEN], bool verify)
{
	const struct sfs_mac_part parts[] = {{DOM_SEAL, sizeof(DOM_SEAL)},
					     {val, SEAL_VAL}};

	if (verify)
		return sfs_mac_verify(st->mac, parts, 2, mac);
	return sfs_mac_compute(st->mac, parts, 2, mac);
}

int state_seal_check(struct state_store *st, int dfd, const char *dir,
		     struct sfs_error *err)
{
	uint8_t now[SEAL_VAL], *buf = NULL;
	struct stat dst;
	size_t len = 0;
	int ret;

	if (st->role != STATE_INBOX)
		return 0;
	ret = sfs_read_file_at(dfd, SEAL_NAME, SEAL_VAL + SFS_MAC_LEN, &buf,
			       &len);
	if (ret == -ENOENT) {
		/*
		 * New, or not closed cleanly: nothing to compare with (the
		 * clean-close mark inside it must not be there either).
		 */
		st->unsealed =
		    fstatat(dfd, DB_NAME, &dst, AT_SYMLINK_NOFOLLOW) == 0;
		/*
		 * A reader (verify --state, why) says nothing: while an inbox
		 * has the store open its seal is gone too, so "a crash?" would
		 * mislead; the mount that takes it after a crash says it.
		 */
		if (st->unsealed && !st->readonly)
			sfs_warn("state directory %s: %s was not closed "
				 "cleanly (a crash?): its entries are checked "
				 "one by one, but an older copy of it could "
				 "not be told apart",
				 dir, DB_NAME);
		return 0;
	}
	if (ret == 0)
		ret = seal_value(dfd, now);
	if (ret == 0 && fstatat(dfd, DB_NAME, &dst, AT_SYMLINK_NOFOLLOW) < 0 &&
	    errno == ENOENT) {
		/* inbox.db removed to start over: the seal is of nothing. */
		free(buf);
		return st->readonly ? 0 : state_seal_remove(dfd);
	}
	/* Another key's seal: a copied directory (set_up says so). */
	if (ret == 0 && (len != SEAL_VAL + SFS_MAC_LEN ||
			 seal_mac(st, buf, buf + SEAL_VAL, true)))
		ret = -EBADMSG;
	if (ret == 0 && memcmp(buf, now, SEAL_VAL))
		ret = -ESTALE;
	free(buf);
	if (ret == -EBADMSG)
		return ret;
	if (ret == -ESTALE)
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "state directory %s: %s was changed since this "
			      "inbox closed it (a copy put back? edited?): "
			      "its versions may be older than what was "
			      "served; remove it to start over (what it knew "
			      "is lost: docs/inbox.md, \"State\")",
			      dir, DB_NAME);
	else if (ret)
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "state directory %s: %s: %s", dir, SEAL_NAME,
			      strerror(-ret));
	else if (!st->readonly)
		ret = state_seal_remove(dfd);
	return ret;
}

int state_seal_remove(int dfd)
{
	if (unlinkat(dfd, SEAL_NAME, 0) < 0 && errno != ENOENT)
		return -errno;
	return fsync(dfd) < 0 ? -errno : 0;
}

int state_seal_write(const struct state_store *st, int dfd)
{
	uint8_t buf[SEAL_VAL + SFS_MAC_LEN];
	int ret;

	if (st->role != STATE_INBOX || st->readonly)
		return 0;
	ret = seal_value(dfd, buf);
	if (ret == 0)
		ret = seal_mac(st, buf, buf + SEAL_VAL, false);
	if (ret == 0)
		ret = sfs_write_atomic_at(dfd, SEAL_NAME, buf, sizeof(buf),
					  0600, true);
	if (ret)
		sfs_warn("state: cannot seal %s: %s (the next mount takes it "
			 "as not closed cleanly)",
			 DB_NAME, strerror(-ret));
	return ret;
}
