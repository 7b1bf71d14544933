/* SPDX-License-Identifier: Apache-2.0 */
/* The two mounts: src/outbox and src/inbox run them, src/cli starts them. */
#ifndef SIGNETFS_FS_H
#define SIGNETFS_FS_H

#include <stdbool.h>

#include "config.h"

struct sfs_mount_args {
	const char *backing;
	const char *mountpoint;
	bool foreground;
	bool no_sign;	       /* outbox: plain pass-through baseline */
	bool prewarm;	       /* inbox */
	const char *fuse_opts; /* -o, comma-separated */
	int mode;	       /* inbox: enum sfs_mode, -1 = config */
	bool debug;
};

/* Return a process exit code (enum sfs_exit); never exit() themselves. */
int outbox_main(const struct sfs_config *cfg, const struct sfs_mount_args *a);
int inbox_main(const struct sfs_config *cfg, const struct sfs_mount_args *a);

#endif
