/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What both daemons share (src/fuse): start-up contract, readiness,
 * SIGHUP, the loop, unmount, the handle list, common replies.
 */
#ifndef SIGNETFS_FUSE_SFUSE_H
#define SIGNETFS_FUSE_SFUSE_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/types.h>

#include "signetfs/fs.h"
#include "signetfs/util.h"

struct sfuse_spec {
	const struct fuse_lowlevel_ops *ops;
	size_t ops_size;
	void *userdata;
	const char *subtype; /* "signetfs-outbox" */
	bool read_only;	     /* adds -o ro */
	/*
	 * Runs in the process that will serve, before mounting: log in to the
	 * HSM, open the audit log. An error is printed by the command that
	 * started the daemon, which exits with err->exit.
	 */
	int (*setup)(void *userdata, struct sfs_error *err);
	/*
	 * After unmount, in the serving process. Nonzero when something
	 * that must close clean did not (the audit log): the daemon then
	 * exits SFS_EXIT_REFUSED, not 0.
	 */
	int (*teardown)(void *userdata);
	/*
	 * Optional, on SIGHUP (systemd ExecReload) while serving, on its own
	 * thread: reread what can change without a remount. On error the
	 * old settings stay; NULL means nothing is reloadable.
	 */
	int (*reload)(void *userdata, struct sfs_error *err);
	/*
	 * Optional: set to the session while it serves (NULL before and
	 * after), for notifications (fuse_lowlevel_notify_*) from reload.
	 */
	struct fuse_session **session;
};

/* Mount, detach unless foreground, serve until unmounted; exit code. */
int sfuse_run(const struct sfuse_spec *spec, const struct sfs_mount_args *args);

/* For ops->init: apply -o max_write=, writeback_cache, splice_* options. */
void sfuse_apply_conn_opts(struct fuse_conn_info *conn);

/*
 * Handles the kernel holds in fi->fh. RELEASE and RELEASEDIR reach the
 * daemon asynchronously, and an unmount right after the last close can
 * drop them unread (seen under valgrind: the handle was lost). So each
 * mount keeps its open handles on a list, and teardown frees what is left.
 * A handle embeds a struct sfuse_handle; SFUSE_HANDLE_OF gets it back.
 */
struct sfuse_handle {
	struct sfuse_handle *prev, *next;
};

struct sfuse_handles {
	pthread_mutex_t lock; /* a leaf lock */
	struct sfuse_handle *head;
};

#define SFUSE_HANDLES_INIT                                                     \
	{                                                                      \
		.lock = PTHREAD_MUTEX_INITIALIZER                              \
	}
#define SFUSE_HANDLE_OF(h, type, member)                                       \
	((type *)(void *)((char *)(h)-offsetof(type, member)))

void sfuse_handle_add(struct sfuse_handles *hs, struct sfuse_handle *h);
void sfuse_handle_del(struct sfuse_handles *hs, struct sfuse_handle *h);
/* One handle still open (taken off the list), or NULL: for teardown. */
struct sfuse_handle *sfuse_handle_pop(struct sfuse_handles *hs);

/*
 * What a SIGHUP reloads, swapped in whole (both mounts): each operation
 * that needs it takes a reference to the one in force (get), keeps it to
 * its end whatever a reload does meanwhile, and lets go (put); the last
 * put of a swapped-out one frees it. The owner embeds a struct sfuse_ref
 * in its config and sets release.
 */
struct sfuse_ref {
	atomic_uint refs;
	void (*release)(struct sfuse_ref *r);
};

struct sfuse_current {
	pthread_mutex_t lock; /* a leaf lock: the swap and the get only */
	struct sfuse_ref *cur;
};

/* first: its one reference moves in. */
void sfuse_current_init(struct sfuse_current *c, struct sfuse_ref *first);
/* The one in force, referenced: sfuse_ref_put() when done. */
struct sfuse_ref *sfuse_current_get(struct sfuse_current *c);
void sfuse_ref_put(struct sfuse_ref *r);
/* n (its reference moves in) replaces the one in force, which is put. */
void sfuse_current_swap(struct sfuse_current *c, struct sfuse_ref *n);
/* At teardown: put the one in force. */
void sfuse_current_destroy(struct sfuse_current *c);

/*
 * A getxattr or listxattr reply: the size when the caller asked for it
 * (size 0), ERANGE when val does not fit, else the bytes (an empty list
 * is an empty buffer, not a size: the kernel asked for a buffer). len < 0
 * is -errno.
 */
void sfuse_reply_xattr(fuse_req_t req, const void *val, ssize_t len,
		       size_t size);
/* fuse_reply_entry(e), or the error when ret is -errno. */
void sfuse_reply_entry(fuse_req_t req, int ret,
		       const struct fuse_entry_param *e);

#endif
