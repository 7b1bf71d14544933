/* SPDX-License-Identifier: Apache-2.0 */
/* One logging function with a replaceable sink; the audit log is separate. */
#ifndef SIGNETFS_LOG_H
#define SIGNETFS_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum sfs_log_level {
	SFS_LOG_ERR = 3,
	SFS_LOG_WARNING = 4,
	SFS_LOG_NOTICE = 5,
	SFS_LOG_INFO = 6,
	SFS_LOG_DEBUG = 7,
};

typedef void (*sfs_log_sink)(enum sfs_log_level level, const char *fmt,
			     va_list ap);

/*
 * NULL restores the default sink: stderr, "signetfs: " prefix, and the
 * "<N>" priority prefix of sd-daemon(3) when stderr is the journal.
 */
void sfs_log_set_sink(sfs_log_sink sink);
void sfs_log_set_level(enum sfs_log_level max);
void sfs_log(enum sfs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sfs_vlog(enum sfs_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * An output the user chose (a log file, or the journal stream systemd
 * handed the process) outranks every sink: once set, each message goes
 * there and nowhere else, whatever sink is set later. A daemon that
 * detaches sets syslog as its sink, and without this its messages would
 * be lost on a host without /dev/log.
 *
 * sfs_log_to_file(): append to PATH (created 0640), one line per message
 * with a UTC timestamp, level and pid; reopened when PATH is renamed or
 * removed (logrotate without copytruncate). 0 or -errno.
 * sfs_log_to_fd(): a duplicate of FD (the caller's stays its own), with
 * "<N>" priority prefixes if journal is set. 0 or -errno.
 */
int sfs_log_to_file(const char *path);
int sfs_log_to_fd(int fd, bool journal);

/* Whether fd 2 is the journal stream systemd set up ($JOURNAL_STREAM). */
bool sfs_log_stderr_is_journal(void);
/* Whether a syslog daemon listens on /dev/log. */
bool sfs_log_syslog_available(void);

#define sfs_err(...) sfs_log(SFS_LOG_ERR, __VA_ARGS__)
#define sfs_warn(...) sfs_log(SFS_LOG_WARNING, __VA_ARGS__)
#define sfs_info(...) sfs_log(SFS_LOG_INFO, __VA_ARGS__)
#define sfs_debug(...) sfs_log(SFS_LOG_DEBUG, __VA_ARGS__)

#endif
