// SPDX-License-Identifier: Apache-2.0
/* signetfs why: its options, then why_files() (why_files.c). */
#include <getopt.h>
#include <stdio.h>

#include "cli.h"
#include "signetfs/config.h"
#include "signetfs/util.h"

enum { OPT_MODE = 256 };

static void usage(FILE *f)
{
	fprintf(f,
		"usage: signetfs why --config CONF [--root BACKING] [--mode "
		"strict|audit] PATH...\n\n"
		"Why is PATH a 404? Says whether an inbox of BACKING with CONF "
		"serves PATH and,\nif not, why: the reason its verify-denied "
		"audit record gives, what it means\nand what to do about it. "
		"The answer comes from the verdict the inbox uses.\n"
		"Without --root, PATH is a path in a mounted inbox (as a web "
		"server opens it)\nand BACKING is that mount's source. With "
		"--root, PATH is relative to BACKING\n(the path in the mount "
		"without the mount point), or absolute inside BACKING.\n\n"
		"  -c, --config CONF   the inbox's configuration (trust, crl, "
		"pins, [rule]s, mode)\n"
		"  -R, --root BACKING  the inbox's BACKING directory (default: "
		"PATH's mount's)\n"
		"      --mode MODE     strict or audit, as the inbox's --mode "
		"(default: CONF's)\n"
		"  -h, --help          this text\n\n"
		"Exit: 0 every PATH would be served, 1 some would not, 2 "
		"usage/config.\n");
}

int cmd_why(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"root", required_argument, NULL, 'R'},
	    {"mode", required_argument, NULL, OPT_MODE},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct why_options o = {.mode = -1};
	enum sfs_mode mode;
	int c;

	while ((c = getopt_long(argc, argv, "c:R:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.config = optarg;
			break;
		case 'R':
			o.root = optarg;
			break;
		case OPT_MODE:
			if (config_parse_mode(optarg, &mode)) {
				cli_error("why", "--mode %s: strict or audit",
					  optarg);
				goto bad;
			}
			o.mode = (int)mode;
			break;
		case 'h':
			usage(stdout);
			return SFS_EXIT_OK;
		default:
			goto bad;
		}
	}
	if (!o.config) {
		cli_error("why", "give the inbox's --config CONF (a mount "
				 "does not say which configuration it uses)");
		goto bad;
	}
	if (optind >= argc) {
		cli_error("why", "no PATH to explain");
		goto bad;
	}
	o.args = argv + optind;
	o.nargs = argc - optind;
	return why_files(&o);
bad:
	usage(stderr);
	return SFS_EXIT_USAGE;
}
