// SPDX-License-Identifier: Apache-2.0
/* The one logging function, with a replaceable sink (libfuse fuse_log.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signetfs/log.h"

static void default_sink(enum sfs_log_level level, const char *fmt,
			 va_list ap)
{
	fputs("signetfs: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static sfs_log_sink sink = default_sink;
static enum sfs_log_level max_level = SFS_LOG_NOTICE;

void sfs_log_set_sink(sfs_log_sink s)
{
	sink = s ? s : default_sink;
}

void sfs_log_set_level(enum sfs_log_level max)
{
	max_level = max;
}

/* SIGNETFS_LOG_LEVEL=debug|info: more than notices, e.g. in tests. */
static enum sfs_log_level env_level(void)
{
	static int level = -1;
	const char *e;

	if (level < 0) {
		e = getenv("SIGNETFS_LOG_LEVEL");
		level = !e			 ? 0
			: !strcmp(e, "debug") ? SFS_LOG_DEBUG
			: !strcmp(e, "info")  ? SFS_LOG_INFO
					      : 0;
	}
	return (enum sfs_log_level)level;
}

void sfs_log(enum sfs_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level && level > env_level())
		return;
	va_start(ap, fmt);
	sink(level, fmt, ap);
	va_end(ap);
}
