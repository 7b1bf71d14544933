// SPDX-License-Identifier: Apache-2.0
/* signetfs verify: its options, then verify_files() (verify_files.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "signetfs/util.h"

enum {
	OPT_TRUST = 256,
	OPT_CRL,
	OPT_PIN,
	OPT_JSON,
	OPT_SIGNING_TIME,
	OPT_FAILURES,
	OPT_STATE,
	OPT_TSA_TRUST
};

static void usage(FILE *f)
{
	fprintf(
	    f, "usage: signetfs verify --config CONF [--root R] [--json] [-r] "
	       "[--failures] FILE|DIR...\n"
	       "       signetfs verify --trust CA.pem [--crl CRL.pem] "
	       "[--signer-sha256 HEX]... FILE...\n\n"
	       "Checks FILE.sig for each FILE: format v1, one signer, chain to "
	       "the trust store,\ncodeSigning EKU, validity, CRL, pinned "
	       "signer, the signed path (FILE relative\nto R, default the "
	       "current directory) and the content digest.\n"
	       "Prints 'OK FILE' or 'FAIL FILE: reason' per file.\n\n"
	       "  -c, --config CONF       trust, crl, validity, signer-sha256, "
	       "path-binding and\n"
	       "                          the [rule] sections, as the inbox "
	       "applies them\n"
	       "  -R, --root R            paths are checked relative to R\n"
	       "  -r, --recursive         verify every regular file below "
	       "each DIR (not *.sig,\n"
	       "                          symlinks not followed)\n"
	       "      --trust CA.pem      trust anchors (PEM bundle)\n"
	       "      --crl CRL.pem       check revocation against this CRL\n"
	       "      --signer-sha256 HEX accept only this signer certificate "
	       "(repeatable)\n"
	       "      --at-signing-time   check validity at signingTime, not "
	       "now\n"
	       "      --state DIR         refuse a version older than the "
	       "inbox's in DIR\n"
	       "                          (its version map, for the root R; "
	       "read only)\n"
	       "      --tsa-trust CA.pem  trust anchors of the timestamp "
	       "authority: a valid\n"
	       "                          token makes validity judged at its "
	       "genTime\n"
	       "      --json              one JSON object per line\n"
	       "      --failures          print only the files that fail, "
	       "with their reasons\n"
	       "  -j, --jobs N            threads (default: CPUs)\n"
	       "  -h, --help              this text\n\n"
	       "Exit: 0 all verified, 1 some file failed, 2 usage/config.\n");
}

/* Append one --signer-sha256 to o's pins. */
static int add_pin(struct verify_options *o, const char *hex)
{
	uint8_t(*grown)[32] = realloc(o->pins, (o->n_pins + 1) * 32);

	if (!grown)
		return -1;
	o->pins = grown;
	if (sfs_unhex(hex, o->pins[o->n_pins], 32) != 32) {
		cli_error("verify", "--signer-sha256 needs 64 hex digits");
		return -1;
	}
	o->n_pins++;
	return 0;
}

/*
 * The options into struct verify_options, then verify_files(): one case
 * per option of the getopt switch, so it is as long as the options are.
 */
int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"root", required_argument, NULL, 'R'},
	    {"trust", required_argument, NULL, OPT_TRUST},
	    {"crl", required_argument, NULL, OPT_CRL},
	    {"signer-sha256", required_argument, NULL, OPT_PIN},
	    {"at-signing-time", no_argument, NULL, OPT_SIGNING_TIME},
	    {"state", required_argument, NULL, OPT_STATE},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"failures", no_argument, NULL, OPT_FAILURES},
	    {"tsa-trust", required_argument, NULL, OPT_TSA_TRUST},
	    {"jobs", required_argument, NULL, 'j'},
	    {"recursive", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct verify_options o = {.root = "."};
	int c, ret;

	while ((c = getopt_long(argc, argv, "c:R:j:rh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			o.config = optarg;
			break;
		case 'R':
			o.root = optarg;
			break;
		case OPT_TRUST:
			o.trust = optarg;
			break;
		case OPT_CRL:
			o.crl = optarg;
			break;
		case OPT_PIN:
			if (add_pin(&o, optarg))
				goto bad;
			break;
		case OPT_SIGNING_TIME:
			o.at_signing_time = true;
			break;
		case OPT_STATE:
			o.state = optarg;
			break;
		case OPT_JSON:
			o.json = true;
			break;
		case OPT_FAILURES:
			o.failures_only = true;
			break;
		case OPT_TSA_TRUST:
			o.tsa_trust = optarg;
			break;
		case 'r':
			o.recursive = true;
			break;
		case 'j':
			if (cli_jobs(optarg, &o.jobs))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			free(o.pins);
			return SFS_EXIT_OK;
		default:
			goto bad;
		}
	}
	if (!o.config && !o.trust) {
		cli_error("verify", "nothing to verify against: give --config "
				    "CONF or --trust CA.pem");
		goto bad;
	}
	if (optind >= argc) {
		cli_error("verify", "no FILE or DIR to verify");
		goto bad;
	}
	o.args = argv + optind;
	o.nargs = argc - optind;
	ret = verify_files(&o);
	free(o.pins);
	return ret;
bad:
	free(o.pins);
	usage(stderr);
	return SFS_EXIT_USAGE;
}
