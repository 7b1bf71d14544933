// SPDX-License-Identifier: Apache-2.0
/*
 * What `signetfs verify` does once its options are parsed: the inbox's
 * verdict (verdict.h) for each file, on parallel threads, printed in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "signetfs/config.h"
#include "signetfs/json.h"
#include "signetfs/state.h"
#include "signetfs/policy.h"
#include "signetfs/verdict.h"

/*
 * What the reason alone does not say, for the message: which of FILE and
 * FILE.sig could not be read, and the errno.
 */
struct verify_why {
	int file_err; /* -errno opening FILE or resolving its path */
	int sig_err;  /* -errno reading FILE.sig (not ENOENT) */
	bool sig_odd; /* FILE.sig is not a regular file */
};

struct verify_job {
	struct sfs_verifier *v;
	const struct sfs_config *cfg; /* rules, pins, path binding */
	const char *root;
	char **files;
	const uint64_t *sizes;
	struct cli_progress *progress;
	enum verify_reason *reason;
	struct verify_why *why;
	struct sig_info *info;
	struct state_store *state; /* --state: rule 25 against its map */
};

void cli_read_sig(int dirfd, const char *file, uint8_t **der,
		  struct verdict_sig *sig, int *err, bool *odd)
{
	char *p;
	int ret;

	if (asprintf(&p, "%s" SFS_SIG_SUFFIX, file) < 0) {
		sig->read = VR_INTERNAL;
		return;
	}
	ret = sfs_read_file_at(dirfd, p, SFS_SIG_MAX, der, &sig->len);
	free(p);
	*odd = ret == -EINVAL;
	sig->read = verdict_read_reason(ret);
	if (sig->read == VR_IO)
		*err = ret;
	sig->der = *der;
}

/* FILE itself: only a regular file is opened (a FIFO blocks, a device acts). */
static enum verify_reason open_file(const char *file, int *fd, int *err)
{
	struct stat st;

	*fd = sfs_open_regular_at(AT_FDCWD, file, O_RDONLY, &st);
	if (*fd >= 0)
		return VR_OK;
	if (*fd == -EINVAL)
		return VR_NOT_REGULAR;
	*err = *fd;
	return VR_IO;
}

static void verify_file(size_t i, void *ctx)
{
	struct verify_job *j = ctx;
	const char *file = j->files[i];
	struct verify_why *why = &j->why[i];
	struct verdict_sig sig = {0};
	uint8_t *der = NULL;
	char *rel = NULL;
	enum verify_reason r;
	int fd = -1, ret;

	r = open_file(file, &fd, &why->file_err);
	if (r)
		goto out;
	/* Where the inbox would serve it: the rule and the bound path. */
	ret = sfs_path_relative(j->root, file, &rel);
	if (ret == -EINVAL && sfs_is_sig_name(file, strlen(file))) {
		/* A signature slot: no file of its own (message() says so). */
		r = VR_NO_SIG;
		goto out;
	}
	if (ret) {
		/* Outside the root: no rule can be matched, no path matches. */
		r = ret == -EXDEV ? VR_PATH_MISMATCH : VR_IO;
		why->file_err = ret == -EXDEV ? 0 : ret;
		goto out;
	}
	cli_read_sig(AT_FDCWD, file, &der, &sig, &why->sig_err, &why->sig_odd);
	r = verdict_check_fd(j->cfg, j->v, rel, &sig, fd, &j->info[i]);
	if (r == VR_OK)
		r = verdict_check_version(j->state, rel, strlen(rel),
					  j->info[i].file_version, false);
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

/*
 * The reason's text, said of what it was about: FILE missing or
 * unreadable (with the errno), FILE.sig unreadable or not a file, FILE
 * itself a signature. buf holds what needs formatting.
 */
static const char *message(const char *file, enum verify_reason r,
			   const struct verify_why *why, char *buf, size_t cap)
{
	if (r == VR_IO && why->file_err == -ENOENT)
		return "the file does not exist";
	if (r == VR_IO && why->file_err) {
		snprintf(buf, cap, "cannot open the file: %s",
			 strerror(-why->file_err));
		return buf;
	}
	if (r == VR_IO && why->sig_err) {
		snprintf(buf, cap, "cannot read its signature file: %s",
			 strerror(-why->sig_err));
		return buf;
	}
	if (r == VR_NO_SIG && why->sig_odd)
		return "no signature file (FILE.sig is not a regular file; "
		       "not opened)";
	/* A .sig named on the command line: its own .sig is looked for. */
	if (r == VR_NO_SIG && sfs_is_sig_name(file, strlen(file))) {
		snprintf(buf, cap,
			 "this is a signature file, not a signed file: "
			 "verify the file it belongs to, %.*s",
			 (int)(strlen(file) - strlen(SFS_SIG_SUFFIX)), file);
		return buf;
	}
	return verify_reason_str(r);
}

static void print_json(const char *file, enum verify_reason r,
		       const struct verify_why *why,
		       const struct sig_info *info)
{
	struct json_buf b = {0};
	char hex[2 * SFS_MD_MAX + 1], buf[PATH_MAX + 128];
	const char *m;

	sfs_json_raw(&b, "{\"file\":", 8);
	sfs_json_str(&b, file, strlen(file));
	sfs_json_printf(&b, ",\"ok\":%s,\"reason\":\"%s\"",
			r == VR_OK ? "true" : "false", verify_reason_name(r));
	if (r != VR_OK) {
		m = message(file, r, why, buf, sizeof(buf));
		sfs_json_raw(&b, ",\"message\":", 11);
		sfs_json_str(&b, m, strlen(m));
	}
	if (info->path) {
		sfs_json_raw(&b, ",\"signed_path\":", 15);
		sfs_json_str(&b, info->path, info->path_len);
		sfs_hex(info->signer_sha256, 32, hex);
		sfs_json_printf(&b, ",\"signer_sha256\":\"%s\"", hex);
		sfs_json_raw(&b, ",\"signer\":", 10);
		sfs_json_str(&b, info->signer_subject,
			     strlen(info->signer_subject));
		sfs_hex(info->digest.bytes, info->digest.len, hex);
		sfs_json_printf(&b, ",\"%s\":\"%s\",\"signing_time\":%lld",
				sfs_md_name(info->digest.alg), hex,
				(long long)info->signing_time);
		if (info->file_version)
			sfs_json_printf(&b, ",\"version\":%llu",
					(unsigned long long)info->file_version);
		if (info->stamp_time)
			sfs_json_printf(&b, ",\"timestamp\":%lld",
					(long long)info->stamp_time);
		sfs_json_printf(&b, ",\"writer\":{\"uid\":%u,\"gid\":%u",
				info->writer.uid, info->writer.gid);
		sfs_json_raw(&b, ",\"user\":", 8);
		sfs_json_str(&b, info->writer.user, strlen(info->writer.user));
		sfs_json_raw(&b, "}", 1);
	}
	sfs_json_raw(&b, "}\n", 2);
	if (!b.oom)
		fputs(b.data, stdout);
	sfs_json_buf_free(&b);
}

/* --tsa-trust: the TSA trust anchors, over the config's global one. */
static int tsa_trust_option(struct verify_job *j, const char *file)
{
	struct sfs_config *c = (struct sfs_config *)j->cfg;
	char *p = strdup(file);

	if (!p)
		return -ENOMEM;
	free(c->tsa.trust);
	c->tsa.trust = p;
	return 0;
}

/*
 * The config (if any) with the command line's trust settings over it. Like
 * every option here, --signer-sha256 stands in for the global setting
 * ([inbox] signer-sha256); a [rule] that pins its own signers still
 * decides its subtree, as in the inbox. Without a config: no rules, every
 * path bound, the pins given.
 */
static int load_trust(struct verify_job *j, struct verify_options *o,
		      struct sfs_config **cfg, struct sfs_config *trust_only)
{
	struct sfs_trust_config tc = {0};
	struct sfs_error err = {0};

	if (o->config) {
		if (config_load(o->config, cfg, &err)) {
			cli_error("verify", "%s", err.msg);
			return -1;
		}
		tc = (*cfg)->trust;
	}
	if (o->trust)
		tc.cafile = (char *)o->trust;
	if (o->crl)
		tc.crlfile = (char *)o->crl;
	if (o->at_signing_time)
		tc.at_signing_time = true;
	trust_only->path_binding = true;
	j->cfg = *cfg ? *cfg : trust_only;
	if (o->n_pins) {
		struct sfs_config *c = *cfg ? *cfg : trust_only;

		free(c->pins);
		c->pins = o->pins;
		c->n_pins = o->n_pins;
		o->pins = NULL; /* transferred */
		o->n_pins = 0;
	}
	if (o->tsa_trust && tsa_trust_option(j, o->tsa_trust) != 0) {
		cli_error("verify", "out of memory");
		return -1;
	}
	if (policy_verifier_new(j->cfg, &tc, &j->v, &err)) {
		cli_error("verify", "%s", err.msg);
		return -1;
	}
	return 0;
}

static void print_one(struct verify_job *j, size_t i, bool json)
{
	char buf[PATH_MAX + 128];

	if (json)
		print_json(j->files[i], j->reason[i], &j->why[i], &j->info[i]);
	else if (j->reason[i] == VR_OK)
		printf("OK %s\n", j->files[i]);
	else
		printf("FAIL %s: %s\n", j->files[i],
		       message(j->files[i], j->reason[i], &j->why[i], buf,
			       sizeof(buf)));
}

/*
 * One line (or JSON object) per file, in order, or with failures_only
 * per file that failed; 1 if any failed.
 */
static int report(struct verify_job *j, size_t n,
		  const struct verify_options *o, int ret)
{
	for (size_t i = 0; i < n; i++) {
		bool ok = j->reason[i] == VR_OK;

		if (!ok || !o->failures_only)
			print_one(j, i, o->json);
		if (!ok)
			ret = SFS_EXIT_REFUSED;
		sig_info_clear(&j->info[i]);
	}
	return ret;
}

int verify_files(struct verify_options *o)
{
	struct verify_job j = {.root = o->root ? o->root : "."};
	struct sfs_config trust_only = {0};
	struct sfs_config *cfg = NULL;
	struct cli_files files = {0};
	int ret = SFS_EXIT_USAGE, walk_errors;
	size_t n;

	if (load_trust(&j, o, &cfg, &trust_only))
		goto out;
	if (o->state) {
		struct sfs_error err = {0};

		/* Read only: the inbox's map, never changed from here. */
		if (state_open(o->state, j.root, STATE_INBOX, STATE_READONLY,
			       &j.state, &err)) {
			cli_error("verify", "%s", err.msg);
			goto out;
		}
	}
	walk_errors = cli_files_collect(&files, o->args, o->nargs, o->recursive,
					"verify");
	if (walk_errors < 0)
		goto out;
	n = files.n;
	j.files = files.v;
	j.sizes = files.size;
	j.reason = calloc(n ? n : 1, sizeof(*j.reason));
	j.why = calloc(n ? n : 1, sizeof(*j.why));
	j.info = calloc(n ? n : 1, sizeof(*j.info));
	if (!j.reason || !j.why || !j.info) {
		cli_error("verify", "out of memory");
		goto out;
	}
	j.progress = cli_progress_new("verify", n, files.bytes);
	sfs_parallel(n, o->jobs ? o->jobs : sfs_cpus(), verify_one, &j, NULL);
	cli_progress_end(j.progress);
	/* An unreadable directory is a part of the tree left unverified. */
	ret = report(&j, n, o, walk_errors ? SFS_EXIT_REFUSED : SFS_EXIT_OK);
out:
	cli_files_free(&files);
	free(j.reason);
	free(j.why);
	free(j.info);
	free(trust_only.pins);
	free(trust_only.tsa.trust);
	verifier_free(j.v);
	state_close(j.state);
	config_free(cfg);
	return ret;
}
