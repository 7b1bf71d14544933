/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommand entry points; each returns an exit code (enum sfs_exit). */
#ifndef SIGNETFS_CLI_H
#define SIGNETFS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "signetfs/signer.h"

int cmd_init(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_why(int argc, char **argv);
int cmd_outbox(int argc, char **argv);
int cmd_inbox(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_migrate(int argc, char **argv);

/* mount(8) form: argv[0] is "outbox:BACKING" or "inbox:BACKING". */
bool cli_is_fstab_source(const char *arg);
int cmd_mount_fstab(int argc, char **argv);

/* What `signetfs sign` was asked to do (cmd_sign.c parses it). */
struct sign_options {
	const char *config;	   /* CONF, or NULL: the key options below */
	const char *root;	   /* paths are signed relative to it */
	struct sfs_key_config key; /* set fields override CONF's */
	bool sync, verbose, recursive;
	unsigned jobs; /* 0: one per CPU */
	char **args;   /* FILE|DIR... */
	int nargs;
	const char *state; /* --state: versions from DIR's outbox.db */
};

/* Sign every file o names; an exit code (enum sfs_exit). */
int sign_files(const struct sign_options *o);

/*
 * Replace (or create) the signature file sig with der atomically (util.h),
 * with mode and, when we are root, owner's uid and gid: sign gives the
 * signed file's, timestamp the .sig's own. 0 or -errno.
 */
struct stat;
int cli_install_sig(const char *sig, const void *der, size_t len, mode_t mode,
		    const struct stat *owner, bool sync);

/* What `signetfs verify` was asked to do (cmd_verify.c parses it). */
struct verify_options {
	const char *config, *root, *trust, *crl;
	const char *tsa_trust; /* --tsa-trust */
	uint8_t (*pins)[32];   /* --signer-sha256; taken by verify_files */
	size_t n_pins;
	bool at_signing_time, json, recursive;
	bool failures_only; /* --failures: print only what failed */
	unsigned jobs;	    /* 0: one per CPU */
	char **args;
	int nargs;
	const char *state; /* --state: an inbox's version map (rollback) */
};

/* Verify every file o names and print the verdicts; an exit code. */
int verify_files(struct verify_options *o);

/*
 * FILE's signature (FILE + ".sig" in dirfd) as the verdict takes it, for
 * verify and why; its bytes in *der for the caller to free. Never blocks:
 * a FIFO (or device) named so is not opened and is no signature, as in the
 * inbox; *odd says so, *err is the -errno of a read that failed (VR_IO).
 */
struct verdict_sig;
void cli_read_sig(int dirfd, const char *file, uint8_t **der,
		  struct verdict_sig *sig, int *err, bool *odd);

/* What `signetfs why` was asked about (cmd_why.c parses it). */
struct why_options {
	const char *config;
	const char *root; /* NULL: each PATH's mounted inbox's source */
	int mode;	  /* enum sfs_mode, -1: the config's */
	char **args;
	int nargs;
};

/* Say for each path whether the inbox serves it, and why not; exit code. */
int why_files(const struct why_options *o);

/* -j N: 1 to 256 threads; -1 (and a message) otherwise. */
int cli_jobs(const char *arg, unsigned *jobs);

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
int cli_files_collect(struct cli_files *f, char **args, int n, bool recursive,
		      const char *cmd);
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

/* A line of /proc/self/mountinfo, unescaped. */
struct cli_mount {
	const char *root;  /* the mounted directory within its file system */
	const char *point; /* where it is mounted */
	const char *type;  /* "fuse.signetfs-inbox" */
	const char *source;
};

/*
 * fn for each mount, in mountinfo's order (a later one is mounted over an
 * earlier one on the same point); fn returns 0 to go on. 0 or -errno.
 */
int cli_mounts_each(int (*fn)(const struct cli_mount *m, void *ctx), void *ctx);

/*
 * ---- RFC 3161 timestamps (stamp_files.c) ----
 * Add a token to FILE.sig for each of files (paths relative to root pick
 * the [rule], and so the TSA); audited as timestamp / timestamp-failed.
 * failed counts the files that are not stamped now (already stamped ones
 * are fine). after_sign: part of `sign`, whose files without a TSA are
 * left alone. sync: the stamped .sig is written as durably as the signed
 * one was (`sign --sync`, the config's sync-sig).
 */
struct sfs_tsaset;
struct audit_log;
struct sfs_config;
struct stamp_run {
	const char *cmd;
	const struct sfs_config *cfg;
	struct sfs_tsaset *tsas;
	struct audit_log *audit;
	const char *root;
	char **files;
	size_t n;
	bool verbose, after_sign, sync;
	size_t failed;
};
int stamp_files(struct stamp_run *r);
int cmd_timestamp(int argc, char **argv);

/* Print "signetfs: CMD: message" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
