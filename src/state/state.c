// SPDX-License-Identifier: Apache-2.0
/* The state directory: its checks, its key, the database, group commit. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "signetfs/log.h"
#include "signetfs/mac.h"
#include "state_int.h"

#define KEY_NAME "key"
#define KEY_LEN 32
#define SALT "signetfs-state-v1"

static const char *db_name(enum state_role r)
{
	return r == STATE_INBOX ? "inbox.db" : "outbox.db";
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Nobody but us (or root, for a directory above) may change it. */
static bool others_can_change(const struct stat *st, bool ancestor)
{
	uid_t me = geteuid();

	if (st->st_uid != me && !(ancestor && st->st_uid == 0))
		return true;
	/* A root-owned sticky directory (/tmp): nobody renames our entry. */
	if (ancestor && st->st_uid == 0 && (st->st_mode & S_ISVTX))
		return false;
	return (st->st_mode & 022) != 0;
}

/*
 * DIR and every directory above it: not ROOT (so DIR is not inside it),
 * and nobody else can replace what they hold.
 */
static int check_dirs(int dfd, const char *dir, const struct stat *root,
		      bool parent, struct sfs_error *err)
{
	struct stat st, up;
	int fd = dup(dfd), next, ret = 0;

	for (bool first = !parent; fd >= 0; first = false) {
		if (fstat(fd, &st) < 0) {
			ret = -errno;
			break;
		}
		if (same_file(&st, root)) {
			sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
				      "state directory %s is inside %s: "
				      "anyone who writes it could write the "
				      "state",
				      dir, "the root (BACKING)");
			ret = -EINVAL;
			break;
		}
		if (others_can_change(&st, !first)) {
			sfs_error_set(
			    err, -EPERM, SFS_EXIT_USAGE,
			    "state directory %s: %s is owned by uid %u with "
			    "mode %04o; it must belong to uid %u (root above "
			    "it) and not be writable by group or others",
			    dir, first ? "it" : "a directory above it",
			    (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777),
			    (unsigned)geteuid());
			ret = -EPERM;
			break;
		}
		next = openat(fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (next < 0 || fstat(next, &up) < 0 || same_file(&up, &st)) {
			if (next >= 0)
				close(next);
			break; /* "/" is its own parent */
		}
		close(fd);
		fd = next;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

static int make_key(int dfd)
{
	uint8_t key[KEY_LEN];
	char tmp[64];
	int fd, ret = 0;

	snprintf(tmp, sizeof(tmp), ".key.%d.tmp", (int)getpid());
	unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	ret = sfs_random_secret(key, sizeof(key));
	if (ret == 0)
		ret = sfs_full_write(fd, key, sizeof(key));
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	sfs_wipe(key, sizeof(key));
	close(fd);
	/* link, not rename: a key another process made first stays. */
	if (ret == 0 && linkat(dfd, tmp, dfd, KEY_NAME, 0) < 0 &&
	    errno != EEXIST)
		ret = -errno;
	unlinkat(dfd, tmp, 0);
	if (ret == 0 && fsync(dfd) < 0)
		ret = -errno;
	return ret;
}

/* DIR/key: 32 secret bytes, ours alone (made at the first use). */
static int read_key(int dfd, const char *dir, bool readonly,
		    uint8_t key[KEY_LEN], struct sfs_error *err)
{
	struct stat st;
	size_t got = 0;
	int fd, ret;

	fd = openat(dfd, KEY_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !readonly) {
		ret = make_key(dfd);
		if (ret) {
			sfs_error_set(err, ret, SFS_EXIT_USAGE,
				      "state directory %s: cannot make its "
				      "key: %s",
				      dir, strerror(-ret));
			return ret;
		}
		fd = openat(dfd, KEY_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	}
	if (fd < 0) {
		ret = -errno;
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "state directory %s: cannot open %s: %s", dir,
			      KEY_NAME, strerror(-ret));
		return ret;
	}
	ret = fstat(fd, &st) < 0 ? -errno : 0;
	if (ret == 0 && (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
			 (st.st_mode & 077) || st.st_size != KEY_LEN))
		ret = -EPERM;
	if (ret == 0)
		ret = sfs_full_pread(fd, key, KEY_LEN, 0, &got);
	close(fd);
	if (ret == 0 && got != KEY_LEN)
		ret = -EPERM;
	if (ret)
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "state directory %s: %s must be a %d-byte file "
			      "of uid %u with mode 0600",
			      dir, KEY_NAME, KEY_LEN, (unsigned)geteuid());
	return ret;
}

/* Where a directory is: its filesystem's id and its inode. */
static void put_place(uint8_t *out, int fd, const struct stat *st)
{
	struct statfs sf;
	uint64_t v[3] = {0, 0, (uint64_t)st->st_ino};

	/*
	 * Not st_dev: a device number may change at the next boot (device
	 * mapper, NVMe), the filesystem's id (from its UUID on ext4, XFS,
	 * btrfs) does not. A copy of the directory is another inode.
	 */
	if (fstatfs(fd, &sf) == 0) {
		v[0] = (uint32_t)sf.f_fsid.__val[0];
		v[1] = (uint32_t)sf.f_fsid.__val[1];
	}
	memcpy(out, v, sizeof(v));
}

/* The MAC key: HKDF of the key file, bound to DIR, ROOT and the role. */
static int derive(struct state_store *st, const uint8_t key[KEY_LEN], int dfd,
		  const struct stat *dst, int rfd, const struct stat *rst)
{
	uint8_t info[1 + 2 * 24];

	info[0] = (uint8_t)st->role;
	put_place(info + 1, dfd, dst);
	put_place(info + 25, rfd, rst);
	st->mac = sfs_mac_derive(key, KEY_LEN, SALT, info, sizeof(info));
	return st->mac ? 0 : -ENOMEM;
}

int state_sqlite_err(struct state_store *st, const char *what)
{
	sfs_err("state: %s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

int state_exec_locked(struct state_store *st, const char *sql)
{
	SFS_ASSERT_HELD(&st->db_lock);
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return state_sqlite_err(st, sql);
	return 0;
}

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v BLOB NOT NULL) "
    "WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS versions(path BLOB PRIMARY KEY, "
    "version INTEGER NOT NULL, mac BLOB NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS verdicts(path BLOB PRIMARY KEY, "
    "rec BLOB NOT NULL, mac BLOB NOT NULL) WITHOUT ROWID;";

/* The database file: ours, private, not a link; created empty if new. */
static int check_db_file(int dfd, const char *dir, const char *name,
			 bool readonly, struct sfs_error *err)
{
	struct stat st;
	int fd;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT || readonly) {
			sfs_error_set(err, -errno, SFS_EXIT_USAGE,
				      "state directory %s: %s: %s", dir, name,
				      strerror(errno));
			return -ENOENT;
		}
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			    0600);
		if (fd < 0 && errno != EEXIST) {
			sfs_error_set(err, -errno, SFS_EXIT_USAGE,
				      "state directory %s: cannot create %s: "
				      "%s",
				      dir, name, strerror(errno));
			return -EIO;
		}
		if (fd >= 0)
			close(fd);
		return check_db_file(dfd, dir, name, readonly, err);
	}
	if (!S_ISREG(st.st_mode) || others_can_change(&st, false)) {
		sfs_error_set(err, -EPERM, SFS_EXIT_USAGE,
			      "state directory %s: %s must be a regular file "
			      "of uid %u not writable by group or others",
			      dir, name, (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

static int open_db(struct state_store *st, int dfd, const char *dir,
		   struct sfs_error *err)
{
	const char *name = db_name(st->role);
	int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
	char *path = NULL, *wal = NULL;
	int ret = check_db_file(dfd, dir, name, st->readonly, err);

	if (ret)
		return ret;
	flags |= st->readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return -ENOMEM;
	if (sqlite3_open_v2(path, &st->db, flags, NULL) != SQLITE_OK) {
		sfs_error_set(err, -EIO, SFS_EXIT_USAGE, "%s: %s", path,
			      st->db ? sqlite3_errmsg(st->db) : "no memory");
		free(path);
		return -EIO;
	}
	free(path);
	sqlite3_busy_timeout(st->db, 10000);
	pthread_mutex_lock(&st->db_lock);
	/*
	 * WAL: readers (`signetfs verify --state`) never block the daemon;
	 * NORMAL: a commit is a write(2), durability is state_sync_to()'s.
	 * No mmap and a 2 MiB cache: the map may hold millions of entries,
	 * the daemon's memory must not grow with it.
	 */
	ret = state_exec_locked(st, "PRAGMA mmap_size=0;"
				    "PRAGMA cache_size=-2048;");
	if (!ret && !st->readonly)
		ret = state_exec_locked(st, "PRAGMA journal_mode=WAL;"
					    "PRAGMA synchronous=NORMAL;");
	if (!ret && !st->readonly)
		ret = state_exec_locked(st, schema);
	pthread_mutex_unlock(&st->db_lock);
	if (!ret && !st->readonly && asprintf(&wal, "%s-wal", name) > 0) {
		st->walfd = openat(dfd, wal, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (st->walfd < 0)
			ret = -errno;
		free(wal);
	}
	if (ret)
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "state directory %s: cannot set up %s", dir,
			      name);
	return ret;
}

/* A missing DIR is made (0700), once its parent passed the checks. */
static int make_dir(const char *dir, int rfd, struct sfs_error *err)
{
	char *copy = strdup(dir);
	struct stat rst;
	int pfd, ret;

	if (!copy || fstat(rfd, &rst) < 0) {
		free(copy);
		return -ENOMEM;
	}
	pfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ret = pfd < 0 ? -errno : check_dirs(pfd, dir, &rst, true, err);
	if (pfd >= 0)
		close(pfd);
	free(copy);
	if (ret == 0 && mkdir(dir, 0700) < 0 && errno != EEXIST)
		ret = -errno;
	if (ret && !err->msg[0])
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "cannot create state directory %s: %s", dir,
			      strerror(-ret));
	return ret;
}

static int open_dirs(const char *dir, const char *root, bool readonly, int *dfd,
		     int *rfd, struct sfs_error *err)
{
	const int fl = O_RDONLY | O_DIRECTORY | O_CLOEXEC;
	int ret;

	*rfd = open(root, fl);
	if (*rfd < 0) {
		sfs_error_set(err, -errno, SFS_EXIT_USAGE, "%s: %s", root,
			      strerror(errno));
		return -errno;
	}
	*dfd = open(dir, fl | O_NOFOLLOW);
	if (*dfd < 0 && errno == ENOENT && !readonly) {
		ret = make_dir(dir, *rfd, err);
		if (ret)
			return ret;
		*dfd = open(dir, fl | O_NOFOLLOW);
	}
	if (*dfd < 0) {
		sfs_error_set(err, -errno, SFS_EXIT_USAGE,
			      "state directory %s: %s", dir, strerror(errno));
		return -errno;
	}
	return 0;
}

/*
 * inbox.db without its seal is a crash's leftover, unless it carries the
 * mark of a clean close: then the seal was removed, to pass an earlier
 * copy off as a crash's (state_closed_read).
 */
static int closed_check(struct state_store *st, const char *dir,
			struct sfs_error *err)
{
	bool closed = false;
	int ret = state_closed_read(st, &closed);

	if (ret == -EBADMSG)
		return ret; /* another store's mark: a copy (set_up says so) */
	if (!ret && closed && st->unsealed) {
		ret = -ESTALE;
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "state directory %s: inbox.db was closed "
			      "cleanly but its seal is gone (removed, or an "
			      "earlier copy put back?): its versions may be "
			      "older than what was served; remove it to start "
			      "over (what it knew is lost: docs/inbox.md, "
			      "\"State\")",
			      dir);
	}
	if (!ret && closed && !st->unsealed && !st->readonly)
		ret = state_closed_clear(st);
	return ret;
}
static int set_up(struct state_store *st, const char *dir, const char *root,
		  struct sfs_error *err)
{
	uint8_t key[KEY_LEN];
	struct stat dst, rst;
	int dfd = -1, rfd = -1, ret;
	bool fresh = false;

	ret = open_dirs(dir, root, st->readonly, &dfd, &rfd, err);
	if (!ret && (fstat(dfd, &dst) < 0 || fstat(rfd, &rst) < 0))
		ret = -errno;
	if (!ret)
		ret = check_dirs(dfd, dir, &rst, false, err);
	if (!ret)
		ret = read_key(dfd, dir, st->readonly, key, err);
	if (!ret) {
		ret = derive(st, key, dfd, &dst, rfd, &rst);
		sfs_wipe(key, sizeof(key));
	}
	if (!ret)
		ret = state_seal_check(st, dfd, dir, err);
	if (!ret)
		ret = open_db(st, dfd, dir, err);
	if (!ret)
		ret = state_prepare(st);
	if (!ret)
		ret = state_identity_check(st, &fresh);
	if (!ret && st->role == STATE_INBOX)
		ret = closed_check(st, dir, err);
	if (ret == -EBADMSG)
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "state directory %s: %s was made for another "
			      "directory, root or key (a copy?): it proves "
			      "nothing here; remove it to start over (what it "
			      "knew is lost: docs/inbox.md, \"State\")",
			      dir, db_name(st->role));
	else if (ret && !err->msg[0])
		sfs_error_set(err, ret, SFS_EXIT_USAGE,
			      "state directory %s: %s", dir, strerror(-ret));
	st->dirfd = dfd; /* the seal is written there at close */
	st->sealable = ret == 0;
	if (rfd >= 0)
		close(rfd);
	return ret;
}

int state_open(const char *dir, const char *root, enum state_role role,
	       unsigned flags, struct state_store **out, struct sfs_error *err)
{
	struct state_store *st = calloc(1, sizeof(*st));
	int ret;

	if (!st) {
		sfs_error_set(err, -ENOMEM, SFS_EXIT_USAGE, "out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&st->db_lock, NULL);
	pthread_mutex_init(&st->sync_lock, NULL);
	pthread_cond_init(&st->sync_cv, NULL);
	st->walfd = -1;
	st->dirfd = -1;
	st->role = role;
	st->readonly = flags & STATE_READONLY;
	ret = set_up(st, dir, root, err);
	if (ret) {
		state_close(st);
		return ret;
	}
	*out = st;
	return 0;
}

void state_close(struct state_store *st)
{
	if (!st)
		return;
	state_finalize(st);
	/* Marked inside before the seal outside: see state_closed_read. */
	if (st->sealable && !st->sync_err && st->role == STATE_INBOX &&
	    !st->readonly && state_closed_mark(st)) {
		sfs_warn("state: cannot mark %s closed (the next mount takes "
			 "it as not closed cleanly)",
			 db_name(st->role));
		st->sealable = false;
	}
	/* The last connection's close checkpoints and removes the WAL. */
	if (st->db && sqlite3_close(st->db) != SQLITE_OK)
		st->sealable = false;
	if (st->walfd >= 0)
		close(st->walfd);
	if (st->sealable && !st->sync_err)
		state_seal_write(st, st->dirfd);
	if (st->dirfd >= 0)
		close(st->dirfd);
	sfs_mac_free(st->mac);
	pthread_mutex_destroy(&st->db_lock);
	pthread_mutex_destroy(&st->sync_lock);
	pthread_cond_destroy(&st->sync_cv);
	free(st);
}

/*
 * Wait until commit seq is on disk, leading or following: one fdatasync
 * of the WAL covers every commit written before it began. (A checkpoint
 * that moved frames into the database file synced both first.)
 */
int state_sync_to(struct state_store *st, uint64_t seq)
{
	int ret = 0;

	pthread_mutex_lock(&st->sync_lock);
	while (st->synced < seq && !st->sync_err) {
		uint64_t target;

		if (st->syncing) {
			pthread_cond_wait(&st->sync_cv, &st->sync_lock);
			continue;
		}
		st->syncing = true;
		pthread_mutex_unlock(&st->sync_lock);
		pthread_mutex_lock(&st->db_lock);
		target = st->written;
		pthread_mutex_unlock(&st->db_lock);
		if (fdatasync(st->walfd) < 0)
			ret = -errno;
		pthread_mutex_lock(&st->sync_lock);
		if (ret)
			st->sync_err = ret; /* for good, as the audit log's */
		else if (target > st->synced)
			st->synced = target;
		st->syncing = false;
		pthread_cond_broadcast(&st->sync_cv);
	}
	ret = st->sync_err;
	pthread_mutex_unlock(&st->sync_lock);
	return ret;
}
