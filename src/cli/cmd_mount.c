// SPDX-License-Identifier: Apache-2.0
/* signetfs outbox|inbox: parse arguments, load the config, mount. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cli.h"
#include "signetfs/log.h"
#include "signetfs/config.h"
#include "signetfs/fs.h"
#include "signetfs/layout.h"
#include "signetfs/log.h"

enum { OPT_NO_SIGN = 256, OPT_MODE, OPT_PREWARM, OPT_DEBUG, OPT_LOG_FILE };

static void usage(FILE *f, const char *cmd)
{
	bool out = strcmp(cmd, "outbox") == 0;

	fprintf(
	    f,
	    "usage: signetfs %s --config CONF BACKING MOUNTPOINT [-f] "
	    "[-o FUSE_OPTIONS]\n"
	    "                       [--log-file FILE]%s\n\n"
	    "  -c, --config CONF   signetfs.conf (from 'signetfs init')\n"
	    "  -f, --foreground    stay in the foreground, log to stderr\n"
	    "  -o OPTIONS          FUSE mount options (allow_other, "
	    "max_write=N, writeback_cache, splice_read, ...)\n"
	    "      --log-file FILE append the daemon's messages to FILE\n"
	    "%s"
	    "      --debug         FUSE debug output (foreground)\n"
	    "  -h, --help          this text\n\n"
	    "%s"
	    "Messages go to stderr with -f; without it to syslog, or to "
	    "this command's\nstderr where that is the journal or no "
	    "syslog listens on /dev/log.\n"
	    "Unmount with 'fusermount3 -u MOUNTPOINT' or SIGTERM.\n",
	    cmd, out ? " [--no-sign]" : " [--mode strict|audit] [--prewarm]",
	    out ? "      --no-sign       plain pass-through (benchmark "
		  "baseline only)\n"
		: "      --mode MODE     strict (default) hides unverified "
		  "files; audit serves all, logs\n"
		  "      --prewarm       verify the whole tree in the "
		  "background at mount\n",
	    out ? "Without -f the command returns once the HSM login and "
		  "the mount have succeeded.\n"
		: "Without -f the command returns once the trust store is "
		  "loaded and the mount\nhas succeeded. (With a key and an "
		  "audit-log in CONF the inbox also opens the\nkey, to seal "
		  "the log's checkpoints; if it cannot, the log stays "
		  "unsealed\nand the daemon warns.)\n");
}

/* ---- where the daemon logs -------------------------------------------- */

/*
 * A detached daemon logs to syslog(3). Where nobody reads /dev/log (a
 * container, a minimal host) that loses every message, and under systemd
 * the journal stream on stderr is the better place: in both cases the
 * daemon keeps this command's stderr instead. --log-file beats all.
 */
static int setup_log(const char *cmd, bool foreground, const char *file)
{
	bool journal;
	int ret;

	if (file) {
		ret = sfs_log_to_file(file);
		if (ret) {
			cli_error(cmd, "cannot open log file %s: %s", file,
				  strerror(-ret));
			return -1;
		}
		return 0;
	}
	if (foreground)
		return 0;
	journal = sfs_log_stderr_is_journal();
	if (!journal && sfs_log_syslog_available())
		return 0;
	ret = sfs_log_to_fd(STDERR_FILENO, journal);
	if (ret) {
		cli_error(cmd, "cannot keep stderr for the daemon's log: %s",
			  strerror(-ret));
		return -1;
	}
	if (!journal)
		fprintf(stderr,
			"signetfs: %s: no syslog here (/dev/log): the "
			"daemon logs to this standard error (--log-file FILE "
			"for a file)\n",
			cmd);
	return 0;
}

/* ---- a mount point that is already one ---------------------------------- */

/* MNT as /proc/self/mountinfo spells it; resolves a dead FUSE mount too. */
static char *mount_path(const char *mnt, int *err)
{
	char *abs = realpath(mnt, NULL), *a = NULL, *b = NULL, *dir, *p = NULL;
	struct statfs st;

	/*
	 * ENOTCONN: a FUSE mount whose daemon is gone (realpath may still
	 * resolve it, and stat answer from cached attributes: statfs always
	 * asks the daemon); EACCES: another user's FUSE mount. If MNT
	 * cannot be resolved, its parent can.
	 */
	*err = abs ? 0 : errno;
	if (abs) {
		if (statfs(mnt, &st) < 0)
			*err = errno;
		return abs;
	}
	if (*err != ENOTCONN && *err != EACCES)
		return NULL;
	a = strdup(mnt);
	b = strdup(mnt);
	dir = a ? realpath(dirname(a), NULL) : NULL;
	if (dir && b &&
	    asprintf(&p, "%s/%s", strcmp(dir, "/") ? dir : "", basename(b)) < 0)
		p = NULL;
	free(dir);
	free(a);
	free(b);
	return p;
}

struct top {
	const char *path;
	char *type, *src;
	size_t size;
	bool found;
};

static int top_one(const struct cli_mount *m, void *ctx)
{
	struct top *t = ctx;

	if (!strcmp(m->point, t->path)) {
		snprintf(t->type, t->size, "%s", m->type);
		snprintf(t->src, t->size, "%s", m->source);
		t->found = true;
	}
	return 0;
}

/*
 * The file system type and source of the topmost mount on PATH (later
 * lines of mountinfo are mounted over earlier ones), or false if PATH
 * is not a mount point.
 */
static bool top_mount(const char *path, char *type, char *src, size_t size)
{
	struct top t = {path, type, src, size, false};

	return cli_mounts_each(top_one, &t) == 0 && t.found;
}

/*
 * Two signetfs mounts stacked on one mount point: the lower one goes on
 * serving nobody, and an unmount takes only the top one. Refuse, and
 * name the mount that is there. (Not a lock: two mounts started at the
 * same instant can both pass; the kernel stacks them.)
 */
static int check_mountpoint(const char *cmd, const char *mnt)
{
	char type[PATH_MAX], src[PATH_MAX];
	int err;
	char *path = mount_path(mnt, &err);
	int ret = 0;

	if (!path)
		return 0; /* the mount itself says what is wrong with MNT */
	if (top_mount(path, type, src, sizeof(type))) {
		if (!strncmp(type, "fuse.signetfs", 13)) {
			cli_error(cmd,
				  "%s is already a signetfs mount (%s of "
				  "%s)%s; unmount it first: fusermount3 -u %s",
				  mnt, type + 5, src,
				  err == ENOTCONN ? " whose daemon is gone"
						  : "",
				  mnt);
			ret = -EBUSY;
		} else if (err == ENOTCONN) {
			cli_error(cmd,
				  "%s: %s (a %s mount whose daemon is "
				  "gone); unmount it first: fusermount3 -u %s",
				  mnt, strerror(err), type, mnt);
			ret = -ENOTCONN;
		}
	}
	free(path);
	return ret;
}

/* --mode and mode=: into sfs_mount_args.mode (-1 stays the config's). */
static int parse_mode(const char *v, int *mode)
{
	enum sfs_mode m;

	if (config_parse_mode(v, &m))
		return -1;
	*mode = (int)m;
	return 0;
}

/*
 * A BACKING that declares a layout other than this one's is not mounted:
 * read as layout 2, its names would be misread (signetfs/layout.h). No
 * marker is layout 2 (or a layout 1 tree that needs `signetfs migrate`;
 * misread, its escaped files fail path binding, never pass).
 */
static int check_layout(const char *cmd, const char *backing)
{
	int fd = open(backing, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret;

	if (fd < 0)
		return 0; /* the mount says why */
	ret = sfs_layout_read(fd);
	close(fd);
	if (ret == 0 || ret == SFS_LAYOUT_VERSION)
		return 0;
	if (ret > 0)
		cli_error(cmd, "%s is layout %d; this signetfs reads layout %d",
			  backing, ret, SFS_LAYOUT_VERSION);
	else
		cli_error(cmd, "%s/%s: %s", backing, SFS_LAYOUT_MARKER,
			  ret == -EPROTO ? "not a layout marker"
					 : strerror(-ret));
	return -1;
}

/* Load the config and mount; shared by the getopt and the fstab forms. */
static int mount_run(const char *cmd, bool outbox, const char *conf,
		     const char *log_file, const struct sfs_mount_args *a)
{
	struct sfs_mount_args abs = *a;
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	char *backing;
	int ret;

	if (check_mountpoint(cmd, a->mountpoint) ||
	    check_layout(cmd, a->backing))
		return SFS_EXIT_USAGE;
	ret = config_load(conf, &cfg, &err);
	if (ret) {
		cli_error(cmd, "%s", err.msg);
		return SFS_EXIT_USAGE;
	}
	if (setup_log(cmd, a->foreground, log_file)) {
		config_free(cfg);
		return SFS_EXIT_USAGE;
	}
	/*
	 * The mount's source in mountinfo, df and the unmount messages: as
	 * typed it would be relative to a directory nobody knows later. If it
	 * does not resolve, the mount says why.
	 */
	backing = realpath(a->backing, NULL);
	if (backing)
		abs.backing = backing;
	ret = outbox ? outbox_main(cfg, &abs) : inbox_main(cfg, &abs);
	free(backing);
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
	    {"log-file", required_argument, NULL, OPT_LOG_FILE},
	    {NULL, 0, NULL, 0},
	};
	const char *cmd = outbox ? "outbox" : "inbox";
	struct sfs_mount_args a = {.mode = -1};
	const char *conf = NULL, *log_file = NULL;
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
		case OPT_LOG_FILE:
			log_file = optarg;
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
	return mount_run(cmd, outbox, conf, log_file, &a);
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
static int take_path(char **dst, const char *v)
{
	free(*dst);
	*dst = strdup(v);
	return *dst ? 0 : -1;
}

static int fstab_opts(char *list, bool outbox, char **conf, char **log_file,
		      struct sfs_mount_args *a, char *fuse, size_t size)
{
	char *save = NULL;

	for (char *o = strtok_r(list, ",", &save); o;
	     o = strtok_r(NULL, ",", &save)) {
		if (!strncmp(o, "config=", 7)) {
			if (take_path(conf, o + 7))
				return -1;
		} else if (!strncmp(o, "log-file=", 9)) {
			if (take_path(log_file, o + 9))
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
	char fuse[1024] = "", *conf = NULL, *log_file = NULL;
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
		ret = list ? fstab_opts(list, outbox, &conf, &log_file, &a,
					fuse, sizeof(fuse))
			   : -1;
		free(list);
		if (ret) {
			cli_error(cmd, "invalid mount options '%s'", arg);
			ret = SFS_EXIT_USAGE;
			goto out;
		}
	}
	ret = SFS_EXIT_USAGE;
	if (!conf) {
		cli_error(cmd, "mount option config=FILE is required");
		goto out;
	}
	a.fuse_opts = fuse;
	ret = mount_run(cmd, outbox, conf, log_file, &a);
	goto out;
bad:
	fprintf(stderr, "usage: signetfs outbox:BACKING|inbox:BACKING "
			"MOUNTPOINT -o config=CONF[,mode=M][,prewarm]"
			"[,log-file=FILE][,FUSE_OPTIONS]\n"
			"(the form mount(8) runs for type fuse.signetfs)\n");
	ret = SFS_EXIT_USAGE;
out:
	free(conf);
	free(log_file);
	return ret;
}
