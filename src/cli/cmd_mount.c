// SPDX-License-Identifier: Apache-2.0
/* signetfs outbox|inbox: parse arguments, load the config, mount. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "signetfs/config.h"
#include "signetfs/fs.h"

enum { OPT_NO_SIGN = 256, OPT_MODE, OPT_PREWARM, OPT_DEBUG };

static void usage(FILE *f, const char *cmd)
{
	bool out = strcmp(cmd, "outbox") == 0;

	fprintf(f,
		"usage: signetfs %s --config CONF BACKING MOUNTPOINT [-f] "
		"[-o FUSE_OPTIONS]%s\n\n"
		"  -c, --config CONF   signetfs.conf (from 'signetfs init')\n"
		"  -f, --foreground    stay in the foreground\n"
		"  -o OPTIONS          FUSE mount options (allow_other, "
		"max_write=N, writeback_cache, splice_read, ...)\n"
		"%s"
		"      --debug         FUSE debug output (foreground)\n"
		"  -h, --help          this text\n\n"
		"Without -f the command returns once the HSM login and the mount "
		"have succeeded;\nunmount with 'fusermount3 -u MOUNTPOINT' or "
		"SIGTERM.\n",
		cmd, out ? " [--no-sign]" : " [--mode strict|audit] [--prewarm]",
		out ? "      --no-sign       plain pass-through (benchmark "
		      "baseline only)\n"
		    : "      --mode MODE     strict (default) hides unverified "
		      "files; audit serves all, logs\n"
		      "      --prewarm       verify the whole tree in the "
		      "background at mount\n");
}

static int mount_cmd(int argc, char **argv, bool outbox)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"foreground", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{"no-sign", no_argument, NULL, OPT_NO_SIGN},
		{"mode", required_argument, NULL, OPT_MODE},
		{"prewarm", no_argument, NULL, OPT_PREWARM},
		{"debug", no_argument, NULL, OPT_DEBUG},
		{NULL, 0, NULL, 0},
	};
	const char *cmd = outbox ? "outbox" : "inbox";
	struct sfs_mount_args a = {.mode = -1};
	const char *conf = NULL;
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:fho:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'f':
			a.foreground = true;
			break;
		case 'o':
			a.fuse_opts = optarg;
			break;
		case OPT_NO_SIGN:
			if (!outbox)
				goto bad;
			a.no_sign = true;
			break;
		case OPT_MODE:
			if (outbox)
				goto bad;
			if (!strcmp(optarg, "strict"))
				a.mode = SFS_MODE_STRICT;
			else if (!strcmp(optarg, "audit"))
				a.mode = SFS_MODE_AUDIT;
			else
				goto bad;
			break;
		case OPT_PREWARM:
			if (outbox)
				goto bad;
			a.prewarm = true;
			break;
		case OPT_DEBUG:
			a.debug = true;
			break;
		case 'h':
			usage(stdout, cmd);
			return SFS_EXIT_OK;
		default:
			goto bad;
		}
	}
	if (argc - optind != 2 || !conf)
		goto bad;
	a.backing = argv[optind];
	a.mountpoint = argv[optind + 1];
	ret = config_load(conf, &cfg, &err);
	if (ret) {
		cli_error(cmd, "%s", err.msg);
		return SFS_EXIT_USAGE;
	}
	ret = outbox ? outbox_main(cfg, &a) : inbox_main(cfg, &a);
	config_free(cfg);
	return ret;
bad:
	usage(stderr, cmd);
	return SFS_EXIT_USAGE;
}

int cmd_outbox(int argc, char **argv)
{
	return mount_cmd(argc, argv, true);
}

int cmd_inbox(int argc, char **argv)
{
	return mount_cmd(argc, argv, false);
}
