// SPDX-License-Identifier: Apache-2.0
/* signetfs: git-style dispatch to one cmd_*.c per subcommand. */
#include <errno.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "signetfs/util.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *what;
} cmds[] = {
    {"init", cmd_init, "create the embedded default token, CA and config"},
    {"sign", cmd_sign, "sign files (writes FILE.sig)"},
    {"verify", cmd_verify, "verify files against their FILE.sig"},
    {"why", cmd_why, "say why an inbox does not serve a file (a 404)"},
    {"outbox", cmd_outbox, "mount a directory that signs what is written"},
    {"inbox", cmd_inbox, "mount a directory that serves verified files"},
    {"audit", cmd_audit, "verify or show an audit log"},
    {"status", cmd_status, "counters of a running mount"},
    {"timestamp", cmd_timestamp, "add RFC 3161 tokens to existing .sig files"},
    {"migrate", cmd_migrate, "rename a BACKING of signetfs 0.1 into layout 2"},
};

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "signetfs: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_jobs(const char *arg, unsigned *jobs)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno || end == arg || *end || n < 1 || n > 256) {
		fprintf(stderr,
			"signetfs: -j %s: a number of threads from 1 "
			"to 256\n",
			arg);
		return -1;
	}
	*jobs = (unsigned)n;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: signetfs COMMAND [OPTIONS] [ARGS]\n"
		   "       signetfs outbox:BACKING|inbox:BACKING MOUNTPOINT "
		   "-o config=CONF[,...]\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++)
		fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].what);
	fprintf(f, "\noptions:\n"
		   "  -V, --version  print the version\n"
		   "  -h, --help     this text\n"
		   "\n'signetfs COMMAND --help' describes each command. Exit "
		   "codes: 0 ok, 1 refused,\n2 usage/config, 3 token/HSM.\n");
}

static void harden(void)
{
	/* The PIN may live in this process: no core dumps. */
	sfs_harden_process();
	/* Secure heap for the PIN (libp11 copies it, we wipe). */
	CRYPTO_secure_malloc_init(64 * 1024, 32);
}

int main(int argc, char **argv)
{
	/*
	 * Over a file-size limit (ulimit -f, systemd's LimitFSIZE=) a write
	 * fails with EFBIG and is reported like a full disk, instead of
	 * SIGXFSZ killing a daemon in the middle of a record or a signature.
	 * Inherited by the mount's daemon (fork).
	 */
	signal(SIGXFSZ, SIG_IGN);
	if (argc < 2) {
		usage(stderr);
		return SFS_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return SFS_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("signetfs %s\n", SIGNETFS_VERSION);
		return SFS_EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			harden();
			return cmds[i].fn(argc - 1, argv + 1);
		}
	}
	/* mount.fuse3 runs "signetfs outbox:BACKING MNT -o OPTS". */
	if (cli_is_fstab_source(argv[1])) {
		harden();
		return cmd_mount_fstab(argc - 1, argv + 1);
	}
	fprintf(stderr, "signetfs: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return SFS_EXIT_USAGE;
}
