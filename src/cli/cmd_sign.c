// SPDX-License-Identifier: Apache-2.0
/* signetfs sign: its options, then sign_files() (sign_files.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "signetfs/util.h"

enum {
	OPT_MODULE = 256,
	OPT_KEY,
	OPT_CERT,
	OPT_CHAIN,
	OPT_PIN_FILE,
	OPT_SYNC,
	OPT_STATE
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: signetfs sign --config CONF [--root R] [--sync] [-r] "
		"FILE|DIR...\n"
		"       signetfs sign --module SO --key URI --cert PEM "
		"[--pin-file F] [--chain PEM] FILE...\n\n"
		"Writes FILE.sig (detached CMS, format v1) next to each FILE, "
		"bound to FILE's\npath relative to R (default: the current "
		"directory).\n\n"
		"  -r, --recursive     sign every regular file below each DIR "
		"(not *.sig,\n"
		"                      symlinks not followed)\n"
		"  -c, --config CONF   signetfs.conf (module, key, cert, "
		"pin-file, audit-log)\n"
		"  -R, --root R        paths are signed relative to R\n"
		"      --module SO     PKCS#11 module (instead of a config)\n"
		"      --key URI       RFC 7512 URI of the key; the PIN comes "
		"from pin-source=file:\n"
		"      --pin-file F    or from this file (never from the "
		"command line)\n"
		"      --cert PEM      signer certificate (+ chain after it)\n"
		"      --chain PEM     intermediate certificates to include\n"
		"      --sync          fsync each .sig and its directory\n"
		"      --state DIR     stamp each signature with the path's "
		"next version,\n"
		"                      counted in DIR (default: the config's "
		"state-dir)\n"
		"  -j, --jobs N        signing threads (default: CPUs; 16 for "
		"a slow token)\n"
		"  -v, --verbose       print each signed file\n"
		"                      (a progress line is shown when stderr "
		"is a terminal)\n"
		"  -h, --help          this text\n\n"
		"Exit: 0 all signed, 1 some file refused, 2 usage/config, "
		"3 token/HSM error.\n");
}

int cmd_sign(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"root", required_argument, NULL, 'R'},
	    {"module", required_argument, NULL, OPT_MODULE},
	    {"key", required_argument, NULL, OPT_KEY},
	    {"cert", required_argument, NULL, OPT_CERT},
	    {"chain", required_argument, NULL, OPT_CHAIN},
	    {"pin-file", required_argument, NULL, OPT_PIN_FILE},
	    {"sync", no_argument, NULL, OPT_SYNC},
	    {"state", required_argument, NULL, OPT_STATE},
	    {"jobs", required_argument, NULL, 'j'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"recursive", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct sign_options o = {.root = "."};
	int c;

	while ((c = getopt_long(argc, argv, "c:R:j:rvh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			o.config = optarg;
			break;
		case 'R':
			o.root = optarg;
			break;
		case OPT_MODULE:
			o.key.module = optarg;
			break;
		case OPT_KEY:
			o.key.key_uri = optarg;
			break;
		case OPT_CERT:
			o.key.cert = optarg;
			break;
		case OPT_CHAIN:
			o.key.chain = optarg;
			break;
		case OPT_PIN_FILE:
			o.key.pin_file = optarg;
			break;
		case OPT_SYNC:
			o.sync = true;
			break;
		case OPT_STATE:
			o.state = optarg;
			break;
		case 'j':
			if (cli_jobs(optarg, &o.jobs))
				goto bad;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'r':
			o.recursive = true;
			break;
		case 'h':
			usage(stdout);
			return SFS_EXIT_OK;
		default:
			goto bad;
		}
	}
	if (optind >= argc ||
	    (!o.config && (!o.key.module || !o.key.key_uri || !o.key.cert)))
		goto bad;
	o.args = argv + optind;
	o.nargs = argc - optind;
	return sign_files(&o);
bad:
	usage(stderr);
	return SFS_EXIT_USAGE;
}
