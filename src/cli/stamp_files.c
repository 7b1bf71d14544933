// SPDX-License-Identifier: Apache-2.0
/*
 * RFC 3161 tokens for signatures that exist: `signetfs timestamp`, and the
 * last step of `signetfs sign`. Each FILE.sig is read, all requests go out
 * together (tsa_stamp_jobs: several in flight, not one round trip per
 * file in series), and each stamped .sig replaces the one it was made
 * from, unless that changed meanwhile. Every result is audited.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "signetfs/audit.h"
#include "signetfs/config.h"
#include "signetfs/policy.h"
#include "signetfs/tsa.h"

struct stamp_item {
	char *sig; /* FILE.sig */
	char *rel;
	uint8_t *der;
	struct stat st;
	struct sfs_tsa *tsa;
	struct tsa_job job;
};

static void audit_stamp(struct stamp_run *r, const struct stamp_item *it)
{
	struct audit_record rec = {.path = it->rel,
				   .path_len = strlen(it->rel),
				   .size = -1,
				   .key_uri = tsa_url(it->tsa)};
	char why[320], t[32];

	if (!r->audit)
		return;
	if (it->job.err == 0) {
		tsa_time_str(it->job.stamp.gen_time, t, sizeof(t));
		snprintf(why, sizeof(why), "genTime %s serial %s by %s", t,
			 it->job.stamp.serial, it->job.stamp.tsa_subject);
		rec.event = "timestamp";
		rec.cert_sha256 = it->job.stamp.tsa_sha256;
	} else {
		snprintf(why, sizeof(why), "%s", it->job.why);
		rec.event = "timestamp-failed";
	}
	rec.reason = why;
	if (audit_write(r->audit, &rec))
		cli_error(r->cmd, "%s: cannot write the audit log", it->sig);
}

/* FILE.sig and the TSA for FILE's rule; a message when there is none. */
static const char *prepare(struct stamp_run *r, const char *file,
			   struct stamp_item *it)
{
	const struct sfs_rule *rule = NULL;
	size_t len;
	int ret;

	if (asprintf(&it->sig, "%s" SFS_SIG_SUFFIX, file) < 0) {
		it->sig = NULL;
		return "out of memory";
	}
	if (sfs_path_relative(r->root, file, &it->rel))
		return "outside the root (--root)";
	if (policy_match(r->cfg, it->rel, &rule))
		return "policy cannot evaluate this path";
	it->tsa = policy_tsas_for(r->tsas, rule);
	if (!it->tsa)
		return "no tsa-url applies to this path";
	ret = sfs_read_file_at(AT_FDCWD, it->sig, SFS_SIG_MAX, &it->der, &len);
	if (ret)
		return ret == -ENOENT ? "no signature (FILE.sig)"
				      : "cannot read FILE.sig";
	if (stat(it->sig, &it->st) < 0)
		return "cannot read FILE.sig";
	it->job.sig = it->der;
	it->job.sig_len = len;
	return NULL;
}

/* Replace FILE.sig, as readable and owned as it was, if it is unchanged. */
static const char *install(const struct stamp_run *r,
			   const struct stamp_item *it)
{
	uint8_t *now = NULL;
	size_t len = 0;
	int ret;

	ret = sfs_read_file_at(AT_FDCWD, it->sig, SFS_SIG_MAX, &now, &len);
	if (ret || len != it->job.sig_len || memcmp(now, it->der, len)) {
		free(now);
		return "FILE.sig changed meanwhile; not replaced";
	}
	free(now);
	ret = cli_install_sig(it->sig, it->job.out, it->job.out_len,
			      it->st.st_mode & 07777, &it->st, r->sync);
	return ret ? "cannot write FILE.sig" : NULL;
}

/* Every job of one TSA at once; then their results, in file order. */
static void stamp_group(struct stamp_run *r, struct stamp_item *items, size_t n,
			struct sfs_tsa *tsa)
{
	struct tsa_job *jobs = calloc(n ? n : 1, sizeof(*jobs));
	size_t m = 0;

	if (!jobs)
		return;
	for (size_t i = 0; i < n; i++)
		if (items[i].tsa == tsa && items[i].der)
			jobs[m++] = items[i].job;
	tsa_stamp_jobs(tsa, jobs, m, NULL);
	m = 0;
	for (size_t i = 0; i < n; i++)
		if (items[i].tsa == tsa && items[i].der)
			items[i].job = jobs[m++];
	free(jobs);
}

static void result(struct stamp_run *r, struct stamp_item *it, size_t i)
{
	const char *why = NULL;
	char t[32];

	if (it->job.err == -EEXIST) {
		if (r->verbose)
			printf("already timestamped %s\n", r->files[i]);
		return;
	}
	if (it->job.err == 0)
		why = install(r, it);
	if (it->job.err == 0 && why) {
		it->job.err = -EIO;
		snprintf(it->job.why, sizeof(it->job.why), "%s", why);
	}
	audit_stamp(r, it);
	if (it->job.err) {
		r->failed++;
		cli_error(r->cmd, "%s: %s%s", r->files[i],
			  r->after_sign ? "signed, but not timestamped: " : "",
			  it->job.why);
	} else if (r->verbose) {
		tsa_time_str(it->job.stamp.gen_time, t, sizeof(t));
		printf("timestamped %s %s\n", r->files[i], t);
	}
}

int stamp_files(struct stamp_run *r)
{
	struct stamp_item *items = calloc(r->n ? r->n : 1, sizeof(*items));
	const char *why;

	if (!items)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		why = prepare(r, r->files[i], &items[i]);
		if (why && !(r->after_sign && !items[i].tsa)) {
			cli_error(r->cmd, "%s: %s", r->files[i], why);
			r->failed++;
		}
		if (why) {
			free(items[i].der);
			items[i].der = NULL;
		}
	}
	/* One batch per TSA: the files of the first rule that uses it. */
	for (size_t i = 0; i < r->n; i++) {
		bool seen = false;

		for (size_t k = 0; k < i && !seen; k++)
			seen = items[k].der && items[k].tsa == items[i].tsa;
		if (items[i].der && !seen)
			stamp_group(r, items, r->n, items[i].tsa);
	}
	for (size_t i = 0; i < r->n; i++) {
		if (items[i].der)
			result(r, &items[i], i);
		tsa_job_clear(&items[i].job);
		free(items[i].sig);
		free(items[i].rel);
		free(items[i].der);
	}
	free(items);
	return 0;
}
