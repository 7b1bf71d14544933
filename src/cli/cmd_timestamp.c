// SPDX-License-Identifier: Apache-2.0
/* signetfs timestamp: RFC 3161 tokens for signatures made without one. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "signetfs/audit.h"
#include "signetfs/config.h"
#include "signetfs/policy.h"
#include "signetfs/signer.h"

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: signetfs timestamp --config CONF [--root R] [-r] [-v] "
	       "FILE|DIR...\n\n"
	       "Adds an RFC 3161 timestamp token from the config's tsa-url "
	       "(the [rule]'s for\nFILE's path relative to R) to each FILE.sig "
	       "that has none, for a signature\nmade while the TSA was "
	       "unreachable. The signature itself is not changed.\n\n"
	       "  -c, --config CONF   tsa-url, tsa-trust, tsa-policy, "
	       "tsa-timeout, audit-log\n"
	       "  -R, --root R        paths (for the rules) relative to R\n"
	       "  -r, --recursive     every signed file below each DIR\n"
	       "  -v, --verbose       print each file stamped\n"
	       "  -h, --help          this text\n\n"
	       "Exit: 0 all stamped (or already), 1 some not stamped, "
	       "2 usage/config,\n3 token/HSM error (the audit log's key).\n");
}

/* The audit log, sealed by the config's own key as `sign` does it. */
static int open_audit(const struct sfs_config *cfg, struct sfs_signer **sg,
		      struct audit_log **log)
{
	struct sfs_error err = {0};
	int e;

	if (!cfg->audit_log)
		return 0;
	if (cfg->key.key_uri && signer_open(&cfg->key, sg, &err)) {
		cli_error("timestamp", "%s", err.msg);
		return err.exit ? err.exit : SFS_EXIT_TOKEN;
	}
	e = audit_open_config(cfg, *sg, log);
	if (e) {
		cli_error("timestamp", "cannot open the audit log %s: %s",
			  cfg->audit_log, strerror(-e));
		return SFS_EXIT_USAGE;
	}
	return 0;
}

static int run(const char *conf, const char *root, bool recursive, bool verbose,
	       char **args, int nargs)
{
	struct stamp_run r = {
	    .cmd = "timestamp", .root = root, .verbose = verbose};
	struct sfs_config *cfg = NULL;
	struct sfs_signer *sg = NULL;
	struct cli_files files = {0};
	struct sfs_error err = {0};
	int ret = SFS_EXIT_USAGE, walk;

	if (config_load(conf, &cfg, &err) ||
	    policy_tsas_open(cfg, &r.tsas, &err)) {
		cli_error("timestamp", "%s", err.msg);
		goto out;
	}
	if (!policy_tsas_any(r.tsas)) {
		cli_error("timestamp", "%s sets no tsa-url", conf);
		goto out;
	}
	ret = open_audit(cfg, &sg, &r.audit);
	if (ret)
		goto out;
	ret = SFS_EXIT_USAGE;
	walk = cli_files_collect(&files, args, nargs, recursive, "timestamp");
	if (walk < 0)
		goto out;
	r.cfg = cfg;
	r.sync = cfg->sync_sig;
	r.files = files.v;
	r.n = files.n;
	if (stamp_files(&r)) {
		cli_error("timestamp", "out of memory");
		goto out;
	}
	ret = r.failed || walk ? SFS_EXIT_REFUSED : SFS_EXIT_OK;
out:
	cli_files_free(&files);
	/* A log that did not close clean fails the command (audit.h). */
	if (audit_close(r.audit) && ret == SFS_EXIT_OK)
		ret = SFS_EXIT_REFUSED;
	signer_close(sg);
	policy_tsas_close(r.tsas);
	config_free(cfg);
	return ret;
}

int cmd_timestamp(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"root", required_argument, NULL, 'R'},
	    {"recursive", no_argument, NULL, 'r'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *root = ".";
	bool recursive = false, verbose = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:R:rvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'R':
			root = optarg;
			break;
		case 'r':
			recursive = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			usage(stdout);
			return SFS_EXIT_OK;
		default:
			goto bad;
		}
	}
	if (!conf || optind >= argc)
		goto bad;
	return run(conf, root, recursive, verbose, argv + optind,
		   argc - optind);
bad:
	usage(stderr);
	return SFS_EXIT_USAGE;
}
