/* SPDX-License-Identifier: Apache-2.0 */
/* One logging function with a replaceable sink; the audit log is separate. */
#ifndef SIGNETFS_LOG_H
#define SIGNETFS_LOG_H

#include <stdarg.h>

enum sfs_log_level {
	SFS_LOG_ERR = 3,
	SFS_LOG_WARNING = 4,
	SFS_LOG_NOTICE = 5,
	SFS_LOG_INFO = 6,
	SFS_LOG_DEBUG = 7,
};

typedef void (*sfs_log_sink)(enum sfs_log_level level, const char *fmt,
			     va_list ap);

/* NULL restores the default sink (stderr, "signetfs: " prefix). */
void sfs_log_set_sink(sfs_log_sink sink);
void sfs_log_set_level(enum sfs_log_level max);
void sfs_log(enum sfs_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define sfs_err(...) sfs_log(SFS_LOG_ERR, __VA_ARGS__)
#define sfs_warn(...) sfs_log(SFS_LOG_WARNING, __VA_ARGS__)
#define sfs_info(...) sfs_log(SFS_LOG_INFO, __VA_ARGS__)
#define sfs_debug(...) sfs_log(SFS_LOG_DEBUG, __VA_ARGS__)

#endif
