/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommand entry points; each returns an exit code (enum sfs_exit). */
#ifndef SIGNETFS_CLI_H
#define SIGNETFS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

int cmd_init(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_status(int argc, char **argv);

/* mount(8) form: argv[0] is "outbox:BACKING" or "inbox:BACKING". */
bool cli_is_fstab_source(const char *arg);
int cmd_mount_fstab(int argc, char **argv);


/* Run fn(0..n-1) on `threads` threads; returns when all are done. */

/* The files a sign/verify run works on, with their sizes (for progress). */
struct cli_files {
	char **v;
	uint64_t *size;
	size_t n, cap;
	uint64_t bytes;
};

/*
 * Append args to f; with recursive, a directory argument adds every regular
 * file below it (sorted, symlinks not followed, *.sig and signetfs temp
 * files left out). Returns the number of unreadable entries (reported with
 * cli_error), or -ENOMEM.
 */
int cli_files_collect(struct cli_files *f, char **args, int n,
		      bool recursive, const char *cmd);
void cli_files_free(struct cli_files *f);

/*
 * Progress on stderr when it is a terminal (else all calls do nothing):
 * files done/total, bytes, rate, ETA, redrawn at most 10 times a second.
 * cli_progress_add() is called once per finished file, from any thread.
 */
struct cli_progress;
struct cli_progress *cli_progress_new(const char *verb, size_t files,
				      uint64_t bytes);
void cli_progress_add(struct cli_progress *p, uint64_t bytes);
void cli_progress_end(struct cli_progress *p);

/* Print "signetfs: CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
