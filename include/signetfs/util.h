/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers: whole reads and writes, atomic files, path checks. */
#ifndef SIGNETFS_UTIL_H
#define SIGNETFS_UTIL_H

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

/* Exit codes of the CLI (signetfs(1), EXIT STATUS; docs/cli.md); stable. */
enum sfs_exit {
	SFS_EXIT_OK = 0,
	SFS_EXIT_REFUSED = 1, /* verification failed / signing refused */
	SFS_EXIT_USAGE = 2,   /* usage or configuration error */
	SFS_EXIT_TOKEN = 3,   /* token / HSM error */
};

/* Largest .sig we parse; anything larger is refused unread. */
#define SFS_SIG_MAX (256 * 1024)
#define SFS_SIG_SUFFIX ".sig"

/* An error for the user: a one-line message and the exit class. */
struct sfs_error {
	int code;	    /* -errno */
	enum sfs_exit exit; /* what the CLI exits with */
	char msg[512];
};

void sfs_error_set(struct sfs_error *err, int code, enum sfs_exit ex,
		   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * The calling thread's id, asked of the kernel once per thread (and again
 * in a forked child): gettid(2) is a system call in glibc, and the
 * outbox checks a lock ~40 times per written file.
 */
pid_t sfs_gettid(void);

/*
 * A _locked function's contract, checked wherever assertions are on (all
 * builds but -Db_ndebug=true): the calling thread holds the mutex m
 * (glibc keeps its owner's thread id).
 */
#define SFS_ASSERT_HELD(m) assert((m)->__data.__owner == sfs_gettid())

/* Return 0 or -errno; short reads/writes are retried, EINTR too. */
int sfs_full_pread(int fd, void *buf, size_t len, off_t off, size_t *got);
int sfs_full_write(int fd, const void *buf, size_t len);

struct stat;
/*
 * Open PATH in dirfd (a symlink is not followed) only if it is a regular
 * file: never blocks on a FIFO, never opens a device. flags is the access
 * mode and the like (O_CREAT and O_TRUNC are ignored). The fd, -EINVAL
 * for anything that is not a regular file, or -errno; *st is its stat.
 */
int sfs_open_regular_at(int dirfd, const char *path, int flags,
			struct stat *st);

/*
 * Read a whole (small) regular file (sfs_open_regular_at: -EINVAL for
 * anything else); fails with -EFBIG above max bytes.
 */
int sfs_read_file_at(int dirfd, const char *path, size_t max, uint8_t **buf,
		     size_t *len);

/*
 * Write NAME in dirfd atomically: a temp file in the same directory
 * (".sfs-tmp-XXXXXXXXXXXX.sig.sig", the same length whatever NAME is;
 * signetfs/layout.h), written, optionally fsynced, then renamed over NAME;
 * the directory is fsynced too when sync is set.  Readers see the old or
 * the new file, never a part.
 */
int sfs_write_atomic_at(int dirfd, const char *name, const void *buf,
			size_t len, mode_t mode, bool sync);

/*
 * sfs_write_atomic_at() in two steps, for a caller that must know the
 * bytes are written before it changes something else (the outbox's
 * rename): the complete temp file, its name into tmp (PATH_MAX bytes, the
 * same directory part as NAME); then commit renames it over NAME (and
 * fsyncs the directory when sync is set), abort removes it. A failed
 * prepare or commit leaves no temp file.
 */
int sfs_atomic_prepare_at(int dirfd, const char *name, const void *buf,
			  size_t len, mode_t mode, bool sync, char *tmp);
int sfs_atomic_commit_at(int dirfd, const char *tmp, const char *name,
			 bool sync);
void sfs_atomic_abort_at(int dirfd, const char *tmp);

/* Is this a name of a temp file that sfs_write_atomic_at() made? */
bool sfs_is_atomic_temp(const char *name);

/*
 * A mount-relative path as signed: '/'-separated, no leading '/', no empty,
 * "." or ".." component, no NUL.  Returns 0 or -EINVAL.
 */
int sfs_path_check(const char *path, size_t len);

/*
 * The path FILE (as given on a command line) has below ROOT as a mount
 * would serve it: relative to ROOT, both resolved with realpath of their
 * directories (FILE's last component kept, so a symlink named FILE is not
 * resolved), and each component read as a BACKING name
 * (sfs_path_from_backing: "x.sig~" is the writer's "x.sig"). -EXDEV when
 * FILE is outside ROOT, -EINVAL when a component is a signature slot.
 */
int sfs_path_relative(const char *root, const char *file, char **rel);

/*
 * Open PATH ("" is the root itself) beneath rootfd, following no symlink
 * or magic link and never leaving it (openat2 RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS); O_NOFOLLOW and O_CLOEXEC
 * added. Retries EINTR and EAGAIN (a rename raced the walk). The fd, or
 * -errno as the kernel said it (ELOOP: a symlink on the way).
 */
int sfs_open_beneath(int rootfd, const char *path, int flags);

/*
 * DIR (dlen bytes; may be out itself) + "/" + NAME into out (size bytes),
 * no "/" when DIR is empty, with room left for extra more bytes (a
 * suffix). *len (when not NULL) is the result's length. -ENAMETOOLONG.
 */
int sfs_path_join(char *out, size_t size, const char *dir, size_t dlen,
		  const char *name, size_t extra, size_t *len);

/* Online CPUs (at least 1). */
unsigned sfs_cpus(void);
/* Microseconds on the monotonic clock: for durations. */
uint64_t sfs_now_us(void);
/*
 * fn(i, ctx) for every i < n, on up to threads threads (the caller's
 * among them), each taking the next index; returns when all are done.
 * stop, when not NULL and set, makes the threads take no more.
 */
void sfs_parallel(size_t n, unsigned threads, void (*fn)(size_t i, void *ctx),
		  void *ctx, const atomic_bool *stop);
/*
 * Closes fds on threads of its own: a caller that renames over a file,
 * holding an fd of the file it replaces, hands that fd here, and the
 * file is freed (on ext4 with discard: a wait for the device) off the
 * caller's thread. At most max fds wait; put() closes at once when the
 * queue is full or c is NULL. free() closes what waits, joins, frees.
 */
struct sfs_closer;
struct sfs_closer *sfs_closer_new(unsigned threads, size_t max);
void sfs_closer_put(struct sfs_closer *c, int fd);
void sfs_closer_free(struct sfs_closer *c);

/* Does NAME end in ".sig"? */
bool sfs_is_sig_name(const char *name, size_t len);

/* Lower-case hex of len bytes into out (2*len+1 bytes). */
void sfs_hex(const uint8_t *in, size_t len, char *out);
/* Parse hex into out; returns bytes written or -EINVAL. */
int sfs_unhex(const char *hex, uint8_t *out, size_t outlen);

/* Disable core dumps (the PIN lives in this process). */
void sfs_harden_process(void);

#endif
