// SPDX-License-Identifier: Apache-2.0
/* signetfs verify: the inbox's checks, without a mount. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "signetfs/config.h"
#include "signetfs/json.h"
#include "signetfs/verdict.h"

enum { OPT_TRUST = 256, OPT_CRL, OPT_PIN, OPT_JSON, OPT_SIGNING_TIME };

struct verify_job {
	struct sfs_verifier *v;
	const struct sfs_config *cfg;	/* rules, pins, path binding */
	const char *root;
	char **files;
	const uint64_t *sizes;
	struct cli_progress *progress;
	enum verify_reason *reason;
	bool *sig_odd;			/* FILE.sig is not a regular file */
	struct sig_info *info;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: signetfs verify --config CONF [--root R] [--json] [-r] "
		"FILE|DIR...\n"
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
		"      --json              one JSON object per line\n"
		"  -j, --jobs N            threads (default: CPUs)\n"
		"  -h, --help              this text\n\n"
		"Exit: 0 all verified, 1 some file failed, 2 usage/config.\n");
}

/*
 * FILE.sig as the verdict takes it; its bytes in *der for the caller.
 * Never blocks: a FIFO (or device) named FILE.sig is not opened and is
 * no signature, as in the inbox; *odd says so for the message.
 */
static void read_sig(const char *file, uint8_t **der, struct verdict_sig *sig,
		     bool *odd)
{
	char *p;
	int ret;

	if (asprintf(&p, "%s" SFS_SIG_SUFFIX, file) < 0) {
		sig->read = VR_INTERNAL;
		return;
	}
	ret = sfs_read_file_at(AT_FDCWD, p, SFS_SIG_MAX, der, &sig->len);
	free(p);
	*odd = ret == -EINVAL;
	sig->read = verdict_read_reason(ret);
	sig->der = *der;
}

/* FILE itself: only a regular file is opened (a FIFO blocks, a device acts). */
static enum verify_reason open_file(const char *file, int *fd)
{
	struct stat st;

	*fd = sfs_open_regular_at(AT_FDCWD, file, O_RDONLY, &st);
	if (*fd >= 0)
		return VR_OK;
	return *fd == -EINVAL ? VR_NOT_REGULAR : VR_IO;
}

static void verify_file(size_t i, void *ctx)
{
	struct verify_job *j = ctx;
	const char *file = j->files[i];
	struct verdict_sig sig = {0};
	uint8_t *der = NULL;
	char *rel = NULL;
	enum verify_reason r;
	int fd = -1, ret;

	r = open_file(file, &fd);
	if (r)
		goto out;
	/* Where the inbox would serve it: the rule and the bound path. */
	ret = sfs_path_relative(j->root, file, &rel);
	if (ret) {
		/* Outside the root: no rule can be matched, no path matches. */
		r = ret == -EXDEV ? VR_PATH_MISMATCH : VR_IO;
		goto out;
	}
	read_sig(file, &der, &sig, &j->sig_odd[i]);
	r = verdict_check_fd(j->cfg, j->v, rel, &sig, fd, &j->info[i]);
out:
	j->reason[i] = r;
	if (fd >= 0)
		close(fd);
	free(der);
	free(rel);
}

static void verify_one(size_t i, void *ctx)
{
	struct verify_job *j = ctx;

	verify_file(i, ctx);
	cli_progress_add(j->progress, j->sizes[i]);
}

/* The reason's text, and what it was when FILE.sig is not a file. */
static const char *message(enum verify_reason r, bool sig_odd)
{
	if (r == VR_NO_SIG && sig_odd)
		return "no signature file (FILE.sig is not a regular file; "
		       "not opened)";
	return verify_reason_str(r);
}

static void print_json(const char *file, enum verify_reason r, bool sig_odd,
		       const struct sig_info *info)
{
	struct json_buf b = {0};
	char hex[2 * SFS_MD_MAX + 1];

	json_raw(&b, "{\"file\":", 8);
	json_str(&b, file, strlen(file));
	json_printf(&b, ",\"ok\":%s,\"reason\":\"%s\"",
		    r == VR_OK ? "true" : "false", verify_reason_name(r));
	if (r != VR_OK)
		json_printf(&b, ",\"message\":\"%s\"", message(r, sig_odd));
	if (info->path) {
		json_raw(&b, ",\"signed_path\":", 15);
		json_str(&b, info->path, info->path_len);
		sfs_hex(info->signer_sha256, 32, hex);
		json_printf(&b, ",\"signer_sha256\":\"%s\"", hex);
		json_raw(&b, ",\"signer\":", 10);
		json_str(&b, info->signer_subject,
			 strlen(info->signer_subject));
		sfs_hex(info->digest.bytes, info->digest.len, hex);
		json_printf(&b, ",\"%s\":\"%s\",\"signing_time\":%lld",
			    sfs_md_name(info->digest.alg), hex,
			    (long long)info->signing_time);
		json_printf(&b, ",\"writer\":{\"uid\":%u,\"gid\":%u",
			    info->writer.uid, info->writer.gid);
		json_raw(&b, ",\"user\":", 8);
		json_str(&b, info->writer.user, strlen(info->writer.user));
		json_raw(&b, "}", 1);
	}
	json_raw(&b, "}\n", 2);
	if (!b.oom)
		fputs(b.data, stdout);
	json_buf_free(&b);
}

int cmd_verify(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"root", required_argument, NULL, 'R'},
		{"trust", required_argument, NULL, OPT_TRUST},
		{"crl", required_argument, NULL, OPT_CRL},
		{"signer-sha256", required_argument, NULL, OPT_PIN},
		{"at-signing-time", no_argument, NULL, OPT_SIGNING_TIME},
		{"json", no_argument, NULL, OPT_JSON},
		{"jobs", required_argument, NULL, 'j'},
		{"recursive", no_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct verify_job j = {.root = "."};
	/* --trust alone: no rules, every path bound, the pins given. */
	struct sfs_config trust_only = {.path_binding = true};
	struct sfs_trust_config tc = {0};
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	struct cli_files files = {0};
	uint8_t(*pins)[32] = NULL;
	const char *conf = NULL, *trust = NULL, *crl = NULL;
	int c, jobs = (int)sfs_cpus(), ret = SFS_EXIT_USAGE, walk_errors;
	bool json = false, at_signing = false, recursive = false;
	size_t n, n_pins = 0;

	while ((c = getopt_long(argc, argv, "c:R:j:rh", longopts, NULL)) !=
	       -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'R':
			j.root = optarg;
			break;
		case OPT_TRUST:
			trust = optarg;
			break;
		case OPT_CRL:
			crl = optarg;
			break;
		case OPT_PIN: {
			uint8_t(*grown)[32] = realloc(pins, (n_pins + 1) * 32);

			if (!grown)
				goto bad;
			pins = grown;
			if (sfs_unhex(optarg, pins[n_pins], 32) != 32) {
				cli_error("verify", "--signer-sha256 needs 64 "
					  "hex digits");
				goto bad;
			}
			n_pins++;
			break;
		}
		case OPT_SIGNING_TIME:
			at_signing = true;
			break;
		case OPT_JSON:
			json = true;
			break;
		case 'r':
			recursive = true;
			break;
		case 'j':
			jobs = atoi(optarg);
			if (jobs < 1 || jobs > 256)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			free(pins);
			return SFS_EXIT_OK;
		default:
			goto bad;
		}
	}
	if (optind >= argc || (!conf && !trust))
		goto bad;
	if (conf) {
		if (config_load(conf, &cfg, &err)) {
			cli_error("verify", "%s", err.msg);
			goto out;
		}
		tc = cfg->trust;
	}
	if (trust)
		tc.cafile = (char *)trust;
	if (crl)
		tc.crlfile = (char *)crl;
	if (at_signing)
		tc.at_signing_time = true;
	j.cfg = cfg ? cfg : &trust_only;
	/*
	 * Like every option here, --signer-sha256 stands in for the global
	 * setting ([inbox] signer-sha256); a [rule] that pins its own
	 * signers still decides its subtree, as in the inbox.
	 */
	if (n_pins && cfg) {
		free(cfg->pins);
		cfg->pins = pins;
		cfg->n_pins = n_pins;
		pins = NULL; /* transferred */
	} else if (n_pins) {
		trust_only.pins = pins;
		trust_only.n_pins = n_pins;
	}
	if (verifier_new(&tc, &j.v, &err)) {
		cli_error("verify", "%s", err.msg);
		goto out;
	}
	walk_errors = cli_files_collect(&files, argv + optind, argc - optind,
					recursive, "verify");
	if (walk_errors < 0)
		goto out;
	n = files.n;
	j.files = files.v;
	j.sizes = files.size;
	j.reason = calloc(n ? n : 1, sizeof(*j.reason));
	j.sig_odd = calloc(n ? n : 1, sizeof(*j.sig_odd));
	j.info = calloc(n ? n : 1, sizeof(*j.info));
	if (!j.reason || !j.sig_odd || !j.info) {
		cli_error("verify", "out of memory");
		goto out;
	}
	j.progress = cli_progress_new("verify", n, files.bytes);
	sfs_parallel(n, (unsigned)jobs, verify_one, &j, NULL);
	cli_progress_end(j.progress);
	/* An unreadable directory is a part of the tree left unverified. */
	ret = walk_errors ? SFS_EXIT_REFUSED : SFS_EXIT_OK;
	for (size_t i = 0; i < n; i++) {
		if (json)
			print_json(j.files[i], j.reason[i], j.sig_odd[i],
				   &j.info[i]);
		else if (j.reason[i] == VR_OK)
			printf("OK %s\n", j.files[i]);
		else
			printf("FAIL %s: %s\n", j.files[i],
			       message(j.reason[i], j.sig_odd[i]));
		if (j.reason[i] != VR_OK)
			ret = SFS_EXIT_REFUSED;
		sig_info_clear(&j.info[i]);
	}
out:
	cli_files_free(&files);
	free(j.reason);
	free(j.sig_odd);
	free(j.info);
	free(pins);
	verifier_free(j.v);
	config_free(cfg);
	return ret;
bad:
	free(pins);
	usage(stderr);
	return SFS_EXIT_USAGE;
}
