/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommand entry points; each returns an exit code (enum sfs_exit). */
#ifndef SIGNETFS_CLI_H
#define SIGNETFS_CLI_H

#include <stdbool.h>
#include <stddef.h>

int cmd_init(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_audit(int argc, char **argv);

/* mount(8) form: argv[0] is "outbox:BACKING" or "inbox:BACKING". */
bool cli_is_fstab_source(const char *arg);
int cmd_mount_fstab(int argc, char **argv);


/* Run fn(0..n-1) on `threads` threads; returns when all are done. */
void cli_parallel(size_t n, int threads, void (*fn)(size_t i, void *ctx),
		  void *ctx);
int cli_default_jobs(void);

/* Print "signetfs: CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
