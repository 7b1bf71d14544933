// SPDX-License-Identifier: Apache-2.0
/* signetfs outbox|inbox: parse arguments, load the config, mount. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "signetfs/log.h"
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

/* Load the config and mount; shared by the getopt and the fstab forms. */
static int parse_mode(const char *v, int *mode)
{
	if (!strcmp(v, "strict"))
		*mode = SFS_MODE_STRICT;
	else if (!strcmp(v, "audit"))
		*mode = SFS_MODE_AUDIT;
	else
		return -1;
	return 0;
}

static int mount_run(const char *cmd, bool outbox, const char *conf,
		     const struct sfs_mount_args *a)
{
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	int ret;

	ret = config_load(conf, &cfg, &err);
	if (ret) {
		cli_error(cmd, "%s", err.msg);
		return SFS_EXIT_USAGE;
	}
	ret = outbox ? outbox_main(cfg, a) : inbox_main(cfg, a);
	config_free(cfg);
	return ret;
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
	int c;

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
			if (outbox || parse_mode(optarg, &a.mode))
				goto bad;
			break;
		case OPT_PREWARM:
			if (outbox)
				goto bad;
			a.prewarm = true;
			break;
		case OPT_DEBUG:
			a.debug = true;
			sfs_log_set_level(SFS_LOG_DEBUG);
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
	return mount_run(cmd, outbox, conf, &a);
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

bool cli_is_fstab_source(const char *arg)
{
	return !strncmp(arg, "outbox:", 7) || !strncmp(arg, "inbox:", 6);
}

/*
 * Take signetfs's own keys out of a mount(8) option list, keep the FUSE
 * ones in *fuse (comma-separated, appended). Returns 0 or -1 on a bad value.
 */
static int fstab_opts(char *list, bool outbox, char **conf,
		      struct sfs_mount_args *a, char *fuse, size_t size)
{
	char *save = NULL;

	for (char *o = strtok_r(list, ",", &save); o;
	     o = strtok_r(NULL, ",", &save)) {
		if (!strncmp(o, "config=", 7)) {
			free(*conf);
			*conf = strdup(o + 7);
			if (!*conf)
				return -1;
		} else if (!outbox && !strncmp(o, "mode=", 5)) {
			if (parse_mode(o + 5, &a->mode))
				return -1;
		} else if (!outbox && !strcmp(o, "prewarm")) {
			a->prewarm = true;
		} else if (!outbox && !strcmp(o, "rw")) {
			/* mount(8) adds rw; the inbox is mounted ro. */
		} else {
			size_t used = strlen(fuse);

			if (used + strlen(o) + 2 > size)
				return -1;
			snprintf(fuse + used, size - used, "%s%s",
				 used ? "," : "", o);
		}
	}
	return 0;
}

/*
 * The mount(8) form. An fstab line
 *   outbox:/srv/backing /mnt/outbox fuse.signetfs config=/etc/x.conf 0 0
 * makes mount(8) run mount.fuse3, which runs (through /bin/sh, signetfs
 * found in PATH)
 *   signetfs outbox:/srv/backing /mnt/outbox -o rw,config=/etc/x.conf,...
 * and waits for it: so this never runs in the foreground; it returns once
 * the daemon has mounted, like 'signetfs outbox' without -f.
 */
int cmd_mount_fstab(int argc, char **argv)
{
	const char *src = argv[0];
	bool outbox = !strncmp(src, "outbox:", 7);
	const char *cmd = outbox ? "outbox" : "inbox";
	struct sfs_mount_args a = {.mode = -1};
	char fuse[1024] = "", *conf = NULL;
	int ret;

	a.backing = src + (outbox ? 7 : 6);
	if (argc < 2 || !*a.backing)
		goto bad;
	a.mountpoint = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		char *list;

		if (!strcmp(arg, "-o") && i + 1 < argc)
			arg = argv[++i];
		else if (!strncmp(arg, "-o", 2) && arg[2])
			arg += 2;
		else
			goto bad;
		list = strdup(arg);
		ret = list ? fstab_opts(list, outbox, &conf, &a, fuse,
					sizeof(fuse))
			   : -1;
		free(list);
		if (ret) {
			cli_error(cmd, "invalid mount options '%s'", arg);
			free(conf);
			return SFS_EXIT_USAGE;
		}
	}
	if (!conf) {
		cli_error(cmd, "mount option config=FILE is required");
		return SFS_EXIT_USAGE;
	}
	a.fuse_opts = fuse;
	ret = mount_run(cmd, outbox, conf, &a);
	free(conf);
	return ret;
bad:
	free(conf);
	fprintf(stderr, "usage: signetfs outbox:BACKING|inbox:BACKING "
			"MOUNTPOINT -o config=CONF[,mode=M][,prewarm]"
			"[,FUSE_OPTIONS]\n"
			"(the form mount(8) runs for type fuse.signetfs)\n");
	return SFS_EXIT_USAGE;
}
