/* SPDX-License-Identifier: Apache-2.0 */
/* Daemon plumbing shared by both mounts: start-up contract, loop, unmount. */
#ifndef SIGNETFS_FS_MOUNT_H
#define SIGNETFS_FS_MOUNT_H

#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 314
#endif
#include <fuse_lowlevel.h>
#include <pthread.h>
#include <stddef.h>

#include "signetfs/fs.h"
#include "signetfs/util.h"

struct fsmount_spec {
	const struct fuse_lowlevel_ops *ops;
	size_t ops_size;
	void *userdata;
	const char *subtype;		/* "signetfs-outbox" */
	bool read_only;			/* adds -o ro */
	/*
	 * Runs in the process that will serve, before mounting: log in to the
	 * HSM, open the audit log. An error is printed by the command that
	 * started the daemon, which exits with err->exit.
	 */
	int (*setup)(void *userdata, struct sfs_error *err);
	/* After unmount, in the serving process. */
	void (*teardown)(void *userdata);
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
int fsmount_run(const struct fsmount_spec *spec,
		const struct sfs_mount_args *args);

/* For ops->init: apply -o max_write=, writeback_cache, splice_* options. */
void fsmount_apply_conn_opts(struct fuse_conn_info *conn);

/*
 * Handles the kernel holds in fi->fh. RELEASE and RELEASEDIR reach the
 * daemon asynchronously, and an unmount right after the last close can
 * drop them unread (seen under valgrind: the handle was lost). So each
 * mount keeps its open handles on a list, and teardown frees what is left.
 * A handle embeds a struct fsmount_handle; FSMOUNT_HANDLE_OF gets it back.
 */
struct fsmount_handle {
	struct fsmount_handle *prev, *next;
};

struct fsmount_handles {
	pthread_mutex_t lock;	/* a leaf lock */
	struct fsmount_handle *head;
};

#define FSMOUNT_HANDLES_INIT {.lock = PTHREAD_MUTEX_INITIALIZER}
#define FSMOUNT_HANDLE_OF(h, type, member) \
	((type *)(void *)((char *)(h) - offsetof(type, member)))

void fsmount_handle_add(struct fsmount_handles *hs, struct fsmount_handle *h);
void fsmount_handle_del(struct fsmount_handles *hs, struct fsmount_handle *h);
/* One handle still open (taken off the list), or NULL: for teardown. */
struct fsmount_handle *fsmount_handle_pop(struct fsmount_handles *hs);

#endif
