// SPDX-License-Identifier: Apache-2.0
/*
 * What `signetfs why` does once its options are parsed: for each path in
 * an inbox's BACKING, what the inbox does with it and why, from the one
 * verdict (verdict.h) the inbox and `signetfs verify` use, BACKING read
 * the inbox's way (confined beneath it, no symlink followed).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "signetfs/config.h"
#include "signetfs/layout.h"
#include "signetfs/policy.h"
#include "signetfs/state.h"
#include "signetfs/verdict.h"

struct why_ctx {
	const struct sfs_config *cfg;
	struct sfs_verifier *v;
	bool audit; /* the inbox's mode */
	int rootfd;
	const char *root;	   /* as given */
	struct state_store *state; /* CONF's state-dir, read only (rule 25) */
};

/* What BACKING holds at a path, as the inbox sees it. */
enum why_kind {
	WK_FILE,    /* a regular file: the verdict decides */
	WK_DIR,	    /* always shown */
	WK_MISSING, /* nothing there */
	WK_SYMLINK, /* a symlink at or on the way to it: never followed */
	WK_ODD,	    /* FIFO, socket, device: never opened */
};

struct why_result {
	enum why_kind kind;
	char at[PATH_MAX];	/* WK_SYMLINK: the component that is one */
	mode_t mode;		/* WK_ODD */
	enum verify_reason r;	/* WK_FILE: the verdict */
	struct sig_info info;	/* WK_FILE: what the .sig says */
	bool sig_odd;		/* NAME.sig is there, not a regular file */
	int err;		/* VR_IO: -errno */
	struct sfs_digest have; /* VR_CONTENT_DIGEST: the file's */
	uint64_t size;		/* the file's */
	bool have_ok;		/* have was computed */
};

/* PATH's bytes as a terminal may show them: the rest as \xHH. */
static void put_path(FILE *f, const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			fputc(c, f);
		else
			fprintf(f, "\\x%02x", c);
	}
}

/* Each prefix of rel, lstat'ed beneath the root: what is there, or not. */
static enum why_kind walk(const struct why_ctx *w, const char *rel,
			  struct why_result *res)
{
	char prefix[PATH_MAX];
	struct stat st;
	size_t n = strlen(rel), i = 0;

	if (n == 0)
		return WK_DIR;
	for (;;) {
		while (i < n && rel[i] != '/')
			i++;
		memcpy(prefix, rel, i);
		prefix[i] = '\0';
		if (fstatat(w->rootfd, prefix, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return WK_MISSING;
		if (S_ISLNK(st.st_mode)) {
			snprintf(res->at, sizeof(res->at), "%s", prefix);
			return WK_SYMLINK;
		}
		if (i == n)
			break;
		if (!S_ISDIR(st.st_mode))
			return WK_MISSING;
		i++;
	}
	res->mode = st.st_mode;
	return S_ISDIR(st.st_mode)   ? WK_DIR
	       : S_ISREG(st.st_mode) ? WK_FILE
				     : WK_ODD;
}

/*
 * The verdict on the regular file rel (the served path, which is signed)
 * stored at brel (layout 2: escaped names): its directory opened confined
 * beneath the root (openat2, no symlink), the file and its slot in it.
 */
static void judge_file(const struct why_ctx *w, const char *rel,
		       const char *brel, struct why_result *res)
{
	const char *slash = strrchr(brel, '/'),
		   *base = slash ? slash + 1 : brel;
	char dir[PATH_MAX];
	struct verdict_sig sig = {.read = VR_NO_SIG};
	char slot[PATH_MAX];
	uint8_t *der = NULL;
	struct stat st;
	size_t n;
	int dirfd, fd = -1;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - brel) : 0,
		 brel);
	dirfd = sfs_open_beneath(w->rootfd, dir, O_PATH | O_DIRECTORY);
	if (dirfd >= 0)
		fd = sfs_open_regular_at(dirfd, base, O_RDONLY, &st);
	if (dirfd < 0 || fd < 0) {
		/* Changed since walk(): say so, with the errno. */
		res->r = VR_IO;
		res->err = dirfd < 0 ? dirfd : fd;
		goto out;
	}
	res->size = (uint64_t)st.st_size;
	/* NAME.sig in its directory; none where it has no name (the inbox). */
	if (!sfs_path_to_slot(rel, strlen(rel), slot, sizeof(slot), &n))
		cli_read_sig(dirfd, base, &der, &sig, &res->err, &res->sig_odd);
	res->r = verdict_check_fd(w->cfg, w->v, rel, &sig, fd, &res->info);
	/* Rule 25 last, as the inbox: the map only read, never raised. */
	if (res->r == VR_OK)
		res->r = verdict_check_version(w->state, rel, strlen(rel),
					       res->info.file_version, false);
	if (res->r == VR_CONTENT_DIGEST)
		res->have_ok = sfs_hash_fd(fd, res->info.digest.alg, &res->have,
					   &res->size) == 0;
out:
	if (fd >= 0)
		close(fd);
	if (dirfd >= 0)
		close(dirfd);
	free(der);
}

/* rel as the inbox serves it: what BACKING stores there, and its verdict. */
static void judge(const struct why_ctx *w, const char *rel,
		  struct why_result *res)
{
	char brel[PATH_MAX];
	size_t n;

	memset(res, 0, sizeof(*res));
	/* A name that cannot be stored is not there. */
	if (sfs_path_to_backing(rel, strlen(rel), brel, sizeof(brel), &n)) {
		res->kind = WK_MISSING;
		return;
	}
	res->kind = walk(w, brel, res);
	if (res->kind == WK_FILE)
		judge_file(w, rel, brel, res);
}

/* ---- saying it -------------------------------------------------------- */

static void signer(const struct why_result *res)
{
	char hex[65];

	sfs_hex(res->info.signer_sha256, 32, hex);
	printf("signed by %s (certificate sha256 %s)", res->info.signer_subject,
	       hex);
}

static void utc(time_t t)
{
	char buf[32];
	struct tm tm;

	if (t && gmtime_r(&t, &tm) &&
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
		fputs(buf, stdout);
	else
		fputs("?", stdout);
}

/* Where the pins for rel come from, and which they are. */
static void pins(const struct why_ctx *w, const char *rel)
{
	const struct sfs_rule *rule = NULL;
	const uint8_t(*p)[32];
	char hex[65];
	size_t n;

	if (policy_match(w->cfg, rel, &rule))
		return;
	policy_pins(w->cfg, rule, &p, &n);
	if (rule && rule->pins_set)
		printf("; [rule %s] accepts only:", rule->pattern);
	else
		printf("; [inbox] signer-sha256 accepts only:");
	for (size_t i = 0; i < n; i++) {
		sfs_hex(p[i], 32, hex);
		printf(" %s", hex);
	}
}

static void fix(const char *fmt, const char *rel, const struct why_ctx *w)
{
	fputs("\n  fix: ", stdout);
	/* fmt names rel (%1$s) and the root (%2$s) where it needs them. */
	printf(fmt, rel, w->root);
	fputc('\n', stdout);
}

static bool is_format(enum verify_reason r)
{
	switch (r) {
	case VR_SIG_EMPTY:
	case VR_SIG_TOO_LARGE:
	case VR_SIG_MALFORMED:
	case VR_SIG_TRAILING:
	case VR_NOT_SIGNED_DATA:
	case VR_NOT_DETACHED:
	case VR_CONTENT_TYPE:
	case VR_SIGNER_COUNT:
	case VR_DIGEST_ALG:
	case VR_NO_SIGNED_ATTRS:
	case VR_ATTR_MISSING:
	case VR_ATTR_MALFORMED:
	case VR_ATTR_CONTENT_TYPE:
	case VR_SIGNER_CERT:
		return true;
	default:
		return false;
	}
}

/* The RFC 3161 timestamp token in the .sig (rules T1-T9). */
static bool explain_token(const struct why_ctx *w, const char *rel,
			  const struct why_result *res)
{
	const struct sfs_rule *rule = NULL;
	struct sfs_tsa_config t = {0};

	if (policy_match(w->cfg, rel, &rule) == 0)
		policy_tsa(w->cfg, rule, &t); /* the rule's, else global */
	switch (res->r) {
	case VR_TSA_COUNT:
	case VR_TSA_MALFORMED:
	case VR_TSA_IMPRINT:
	case VR_TSA_BAD_SIGNATURE:
	case VR_TSA_ESS:
		printf("the timestamp token in %s.sig: %s", rel,
		       verify_reason_str(res->r));
		fix(res->r == VR_TSA_IMPRINT
			? "the token was moved from another .sig: stamp %1$s "
			  "again (signetfs timestamp --config CONF --root %2$s "
			  "%2$s/%1$s), or sign it again"
			: "a damaged or forged token: stamp %1$s again "
			  "(signetfs timestamp --config CONF --root %2$s "
			  "%2$s/%1$s), or sign it again",
		    rel, w);
		return true;
	case VR_TSA_UNTRUSTED:
	case VR_TSA_NO_EKU:
	case VR_TSA_POLICY:
		printf("the timestamp token in %s.sig: %s (tsa-trust = %s, "
		       "tsa-policy = %s)",
		       rel, verify_reason_str(res->r),
		       t.trust ? t.trust : "none", t.policy ? t.policy : "any");
		fix(res->r == VR_TSA_POLICY
			? "stamp %1$s again at a TSA with the tsa-policy the "
			  "config names, or change tsa-policy"
			: "stamp %1$s again at a TSA that tsa-trust names, or "
			  "add its CA to tsa-trust (then reload the inbox: "
			  "SIGHUP)",
		    rel, w);
		return true;
	case VR_TSA_TIME:
		signer(res);
		printf(", valid from ");
		utc(res->info.signer_not_before);
		printf(" to ");
		utc(res->info.signer_not_after);
		printf(": the timestamp token says it was signed outside that "
		       "(or in the future)");
		fix("sign %1$s again with a current certificate, and stamp it",
		    rel, w);
		return true;
	default:
		return false;
	}
}

/* Rule 25: the version the .sig carries against the inbox's map. */
static bool explain_version(const struct why_ctx *w, const char *rel,
			    const struct why_result *res)
{
	if (res->r == VR_ROLLBACK) {
		if (res->info.file_version)
			printf("%s.sig is version %llu of %s, older than one "
			       "the inbox has served at this path",
			       rel, (unsigned long long)res->info.file_version,
			       rel);
		else
			printf("%s.sig carries no version, and the inbox has "
			       "served a versioned one at this path",
			       rel);
		printf(" (its state-dir %s keeps the highest): an older copy "
		       "was put back",
		       w->cfg->state_dir);
		fix("put the newest signed version of %1$s back, or sign it "
		    "again through the outbox or with signetfs sign --state",
		    rel, w);
		return true;
	}
	if (res->r == VR_STATE) {
		printf("the entry for %s in the inbox's version map (state-dir "
		       "%s) cannot be read or fails its MAC: edited, or copied "
		       "from another path or database",
		       rel, w->cfg->state_dir);
		fix("docs/inbox.md, Limits: remove that entry of inbox.db and "
		    "inbox.seal; %1$s is then first contact",
		    rel, w);
		return true;
	}
	return false;
}

/* What is wrong with the signature itself: its .sig. */
static bool explain_sig(const struct why_ctx *w, const char *rel,
			const struct why_result *res)
{
	if (res->r == VR_NO_SIG) {
		if (res->sig_odd)
			printf("%s.sig is there but is no regular file (a "
			       "FIFO, device, directory or symlink): the "
			       "inbox never opens it",
			       rel);
		else
			printf("there is no %s.sig beside it in %s", rel,
			       w->root);
		fix("sign it (signetfs sign --config CONF --root %2$s "
		    "%2$s/%1$s, or write it through an outbox), or copy "
		    "%1$s.sig along with it",
		    rel, w);
		return true;
	}
	if (is_format(res->r)) {
		printf("%s.sig is not a signetfs v1 signature: %s", rel,
		       verify_reason_str(res->r));
		fix("a damaged or truncated copy, or a signature another tool "
		    "made: sign %1$s again with signetfs, or copy its .sig "
		    "again",
		    rel, w);
		return true;
	}
	if (res->r == VR_ATTR_VERSION) {
		printf("%s.sig has a signetfs attribute of a version this "
		       "signetfs does not know",
		       rel);
		fix("verify with the signetfs that signed it, or sign %1$s "
		    "again with this one",
		    rel, w);
		return true;
	}
	if (res->r == VR_UNSIGNED_ATTR) {
		printf("%s.sig carries an unsigned attribute other than an "
		       "RFC 3161 timestamp token: bytes anybody could have "
		       "added after signing",
		       rel);
		fix("sign %1$s again, or copy its .sig again", rel, w);
		return true;
	}
	if (explain_token(w, rel, res))
		return true;
	if (res->r == VR_BAD_SIGNATURE) {
		printf("the signature in %s.sig does not match its signed "
		       "attributes: the .sig was changed after signing",
		       rel);
		fix("sign %1$s again, and find out who changed its .sig", rel,
		    w);
		return true;
	}
	return false;
}

/* What is wrong with the signer: chain, validity, usage, pins. */
static bool explain_signer(const struct why_ctx *w, const char *rel,
			   const struct why_result *res)
{
	const char *trust =
	    w->cfg->trust.cafile ? w->cfg->trust.cafile : w->cfg->trust.capath;

	switch (res->r) {
	case VR_UNTRUSTED:
		signer(res);
		printf(", which does not chain to the trust store (trust = "
		       "%s)",
		       trust ? trust : "?");
		fix("sign with a key the trust store knows, or add its CA to "
		    "the trust store (then reload the inbox: SIGHUP)",
		    rel, w);
		return true;
	case VR_EXPIRED:
	case VR_NOT_YET_VALID:
		signer(res);
		printf(", valid from ");
		utc(res->info.signer_not_before);
		printf(" to ");
		utc(res->info.signer_not_after);
		printf(": %s (judged %s)", verify_reason_str(res->r),
		       w->cfg->trust.at_signing_time ? "at signingTime"
						     : "now");
		fix(res->r == VR_EXPIRED
			? "sign %1$s again with a current certificate (or "
			  "judge "
			  "validity at signing time: validity = signing-time)"
			: "check the clocks of this host and of the signer",
		    rel, w);
		return true;
	case VR_NO_CODESIGN_EKU:
	case VR_SIGNER_IS_CA:
		signer(res);
		printf(": %s", verify_reason_str(res->r));
		fix("sign with an end-entity certificate with extendedKeyUsage "
		    "codeSigning",
		    rel, w);
		return true;
	case VR_REVOKED:
	case VR_CRL_ERROR:
		signer(res);
		printf(": %s (crl = %s)", verify_reason_str(res->r),
		       w->cfg->trust.crlfile ? w->cfg->trust.crlfile : "?");
		fix(res->r == VR_REVOKED
			? "sign %1$s again with a key that is not revoked"
			: "renew the CRL of the signer's CA (docs/policy.md, "
			  "Revocation), then reload the inbox (SIGHUP)",
		    rel, w);
		return true;
	case VR_PIN_MISMATCH:
		signer(res);
		pins(w, rel);
		fix("sign %1$s with one of those keys, or add this signer's "
		    "sha256 to that signer-sha256",
		    rel, w);
		return true;
	default:
		return false;
	}
}

/* What is wrong with the file: its path, its bytes. */
static void explain_file(const struct why_ctx *w, const char *rel,
			 const struct why_result *res)
{
	char hex[2 * SFS_MD_MAX + 1];

	switch (res->r) {
	case VR_PATH_MISMATCH:
		printf("signed as ");
		put_path(stdout, res->info.path, res->info.path_len);
		printf(", served as %s: a signature holds for the path it was "
		       "signed at",
		       rel);
		fix("move it back (with its .sig), or sign it again at %1$s",
		    rel, w);
		break;
	case VR_CONTENT_DIGEST:
		sfs_hex(res->info.digest.bytes, res->info.digest.len, hex);
		printf("the content is not what was signed: %s.sig says %s %s",
		       rel, sfs_md_name(res->info.digest.alg), hex);
		if (res->have_ok) {
			sfs_hex(res->have.bytes, res->have.len, hex);
			printf(", the file (%llu bytes) has %s",
			       (unsigned long long)res->size, hex);
		}
		fix("put the signed bytes back, or sign the new ones", rel, w);
		break;
	case VR_POLICY:
		printf("%s", verify_reason_str(res->r));
		fix("serve it at a shallower path", rel, w);
		break;
	case VR_IO:
		printf("cannot read %s or its .sig: %s", rel,
		       res->err ? strerror(-res->err) : "read error");
		fix("check its permissions and the disk", rel, w);
		break;
	default:
		printf("%s", verify_reason_str(res->r));
		fix("see the messages above", rel, w);
		break;
	}
}

static void explain_verdict(const struct why_ctx *w, const char *rel,
			    const struct why_result *res)
{
	printf("  why: ");
	if (!explain_sig(w, rel, res) && !explain_signer(w, rel, res) &&
	    !explain_version(w, rel, res))
		explain_file(w, rel, res);
}

/* One path that is no file the verdict judges: never served, no record. */
static int say_other(const char *arg, const char *rel,
		     const struct why_result *res)
{
	const char *what = S_ISFIFO(res->mode)	 ? "a FIFO"
			   : S_ISSOCK(res->mode) ? "a socket"
						 : "a device node";

	switch (res->kind) {
	case WK_DIR:
		printf("%s: served: a directory (the inbox shows every "
		       "directory)\n",
		       arg);
		return SFS_EXIT_OK;
	case WK_MISSING:
		printf("%s: not served: not-found\n  why: BACKING has no %s\n"
		       "  fix: copy it (and its .sig) there\n",
		       arg, rel);
		break;
	case WK_SYMLINK:
		printf("%s: not served: not-regular-file\n  why: %s is a "
		       "symlink: the inbox follows none, in any part of a "
		       "path\n  fix: put the file itself there\n",
		       arg, res->at);
		break;
	default:
		printf("%s: not served: not-regular-file\n  why: it is %s: "
		       "the inbox serves regular files only and never opens "
		       "it\n  fix: put a regular file there\n",
		       arg, what);
		break;
	}
	printf("  (the inbox hides it without a verify-denied record)\n");
	return SFS_EXIT_REFUSED;
}

static int say(const struct why_ctx *w, const char *arg, const char *rel,
	       const struct why_result *res)
{
	if (res->kind != WK_FILE)
		return say_other(arg, rel, res);
	if (res->r == VR_OK) {
		printf("%s: served: verified, ", arg);
		signer(res);
		printf(" at ");
		utc(res->info.signing_time);
		if (res->info.stamp_time) {
			/* Its validity was judged at the token's genTime. */
			printf(", timestamped at ");
			utc(res->info.stamp_time);
		}
		printf("\n");
		return SFS_EXIT_OK;
	}
	printf("%s: %s: %s\n", arg,
	       w->audit ? "served unverified (audit mode; user.signetfs."
			  "reason says why)"
			: "not served",
	       verify_reason_name(res->r));
	explain_verdict(w, rel, res);
	return w->audit ? SFS_EXIT_OK : SFS_EXIT_REFUSED;
}

/*
 * Is FILE's slot a regular file, found as the inbox finds it (confined,
 * no symlink)? Audit mode shows it then, whatever FILE is.
 */
static bool slot_there(const struct why_ctx *w, const char *file)
{
	char b[PATH_MAX];
	struct stat st;
	size_t n;
	bool reg;
	int fd;

	if (sfs_path_to_slot(file, strlen(file), b, sizeof(b), &n))
		return false;
	fd = sfs_open_beneath(w->rootfd, b, O_PATH);
	if (fd < 0)
		return false;
	reg = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
	close(fd);
	return reg;
}

/*
 * FILE + sig-suffix where the tree has no name of its own there: FILE's
 * signature (its slot in BACKING), shown beside FILE when FILE is served
 * (audit mode: whenever the slot is there).
 */
static int say_sig(const struct why_ctx *w, const char *arg, const char *file)
{
	struct why_result of;
	int ret;

	judge(w, file, &of);
	if (w->audit && slot_there(w, file)) {
		printf("%s: served: the signature of %s (audit mode shows "
		       "every one)\n",
		       arg, file);
		ret = SFS_EXIT_OK;
	} else if (of.kind == WK_FILE && of.r == VR_OK) {
		printf("%s: served: the signature of %s, which is served\n",
		       arg, file);
		ret = SFS_EXIT_OK;
	} else {
		printf("%s: not served: it is the signature of %s, shown only "
		       "beside it, and %s is not served:\n",
		       arg, file, file);
		say(w, file, file, &of);
		ret = SFS_EXIT_REFUSED;
	}
	sig_info_clear(&of.info);
	return ret;
}

/* ---- the paths ---------------------------------------------------------- */

/*
 * A path under BACKING as BACKING stores it (layout 2) as the inbox serves
 * it: each writer's name unescaped, a signature slot NAME.sig as NAME +
 * sig-suffix. NULL for a slot of a slot (a temp file: never served).
 */
static char *served_of(const struct why_ctx *w, const char *brel)
{
	const char *slash = strrchr(brel, '/'),
		   *base = slash ? slash + 1 : brel;
	size_t n = strlen(brel), bl = strlen(base), len;
	char out[PATH_MAX];

	if (sfs_path_from_backing(brel, n, out, sizeof(out), &len) == 0)
		return strdup(out);
	if (bl <= 4 || !sfs_name_is_slot(base, bl) ||
	    sfs_name_is_slot(base, bl - 4) ||
	    sfs_path_from_backing(brel, n - 4, out, sizeof(out), &len) ||
	    len + strlen(w->cfg->sig_suffix) >= sizeof(out))
		return NULL;
	strcat(out, w->cfg->sig_suffix);
	return strdup(out);
}

/*
 * ARG as the inbox's path: relative to the root, or absolute under it
 * (taken as written: a symlink in BACKING is not resolved away). NULL
 * and a message when it is neither.
 */
static char *to_rel(const struct why_ctx *w, const char *arg)
{
	const char *root = w->root;
	char *real = realpath(root, NULL), *rel = NULL;
	const char *bases[] = {root, real}, *r = arg;
	size_t n;

	for (size_t i = 0; *arg == '/' && i < 2 && r == arg; i++) {
		n = bases[i] ? strlen(bases[i]) : 0;
		while (n > 1 && bases[i][n - 1] == '/')
			n--;
		if (n && !strncmp(arg, bases[i], n) &&
		    (arg[n] == '/' || !arg[n]))
			r = arg + n + (arg[n] == '/');
	}
	free(real);
	/* Absolute under BACKING: its stored names; else the served path. */
	if (*r != '/')
		rel = r != arg ? served_of(w, r) : strdup(r);
	n = rel ? strlen(rel) : 0;
	while (n && rel[n - 1] == '/')
		rel[--n] = '\0';
	if (!rel || (n && sfs_path_check(rel, n))) {
		cli_error("why",
			  "%s: not a path inside %s (relative to it, or "
			  "absolute under it; no '.', '..' or empty part)",
			  arg, root);
		free(rel);
		return NULL;
	}
	return rel;
}

/* The mount that covers dir: the inbox's, or another on top of it. */
struct cover {
	const char *dir; /* realpath */
	size_t best;	 /* strlen of the best mount point so far */
	bool inbox;	 /* the best is a signetfs inbox */
	char root[PATH_MAX], point[PATH_MAX], source[PATH_MAX];
};

static int cover_one(const struct cli_mount *m, void *ctx)
{
	struct cover *c = ctx;
	size_t n = strcmp(m->point, "/") ? strlen(m->point) : 0;

	/* Under it, and no shorter than the best: a later one is on top. */
	if ((n && (strncmp(c->dir, m->point, n) ||
		   (c->dir[n] != '/' && c->dir[n] != '\0'))) ||
	    n < c->best)
		return 0;
	c->best = n;
	c->inbox = !strcmp(m->type, "fuse.signetfs-inbox");
	snprintf(c->root, sizeof(c->root), "%s", m->root);
	snprintf(c->point, sizeof(c->point), "%s", m->point);
	snprintf(c->source, sizeof(c->source), "%s", m->source);
	return 0;
}

/*
 * The mount's source is BACKING as it was when it was mounted (realpath);
 * the mount's root shows BACKING's inode number. Where they differ
 * (BACKING moved or replaced since), the source is not what the mount
 * serves. 0, 1 when they differ, or -errno.
 */
static int same_dir(const struct cover *c)
{
	char backing[2 * PATH_MAX];
	struct stat a, b;

	snprintf(backing, sizeof(backing), "%s%s", c->source,
		 strcmp(c->root, "/") ? c->root : "");
	if (stat(c->point, &a) < 0)
		return -errno;
	return stat(backing, &b) < 0 || !S_ISDIR(b.st_mode) ||
	       a.st_ino != b.st_ino;
}

/* a, b and c joined by '/', the empty ones left out. */
static char *join3(const char *a, const char *b, const char *c)
{
	const char *part[] = {a, b, c};
	size_t len = strlen(a) + strlen(b) + strlen(c) + 3;
	char *r = malloc(len);

	if (!r)
		return NULL;
	*r = '\0';
	for (int i = 0; i < 3; i++) {
		if (!*part[i])
			continue;
		if (*r)
			strcat(r, "/");
		strcat(r, part[i]);
	}
	return r;
}

/*
 * ARG as a path in a mounted inbox, the way a web server opens it: its
 * BACKING (*root, the mount's source) and ARG's path in it (*rel). ARG is
 * resolved (realpath: the inbox shows no symlink); where the inbox hides
 * it, or a directory on the way, the deepest directory it shows is, the
 * rest kept as written.
 */
static int from_mount(const char *arg, char **root, char **rel)
{
	char *dir = realpath(arg, NULL), *copy = NULL, *slash;
	const char *base = "", *why = NULL;
	struct cover c = {0};
	int ret = -EINVAL, err;

	if (!dir && (errno == ENOENT || errno == ENOTDIR)) {
		char *rest = NULL;
		size_t cut;

		copy = strdup(arg);
		if (!copy)
			return -ENOMEM;
		cut = strlen(copy);
		while (cut > 1 && copy[cut - 1] == '/')
			copy[--cut] = '\0';
		/* Up to the deepest part that resolves; the rest as written. */
		do {
			slash = memrchr(copy, '/', cut);
			if (rest)
				rest[-1] = '/';
			if (!slash) {
				rest = copy;
				dir = realpath(".", NULL);
				break;
			}
			*slash = '\0';
			rest = slash + 1;
			cut = (size_t)(slash - copy);
			dir = realpath(cut ? copy : "/", NULL);
		} while (!dir && (errno == ENOENT || errno == ENOTDIR));
		base = rest;
	}
	c.dir = dir;
	if (!dir)
		why = strerror(errno);
	else if ((err = cli_mounts_each(cover_one, &c)) < 0)
		why = strerror(-err);
	else if (!c.inbox || c.source[0] != '/')
		why = "not inside a mounted signetfs inbox";
	else if ((err = same_dir(&c)) < 0)
		why = strerror(-err);
	else if (err)
		why = "the inbox's source is no longer the directory it serves";
	if (!why) {
		const char *in = dir + c.best + (dir[c.best] == '/');

		*rel = join3(c.root + 1, in, base);
		*root = *rel ? strdup(c.source) : NULL;
		ret = *root ? 0 : -ENOMEM;
		if (ret)
			why = strerror(ENOMEM);
	}
	if (ret)
		cli_error("why", "%s: %s; give --root BACKING", arg, why);
	free(dir);
	free(copy);
	return ret;
}

/*
 * The inbox's version map for BACKING root, read only, when CONF has a
 * state-dir; NULL, said once, when it cannot be opened (e.g. owned by the
 * inbox's user): rule 25 is then left out.
 */
static struct state_store *open_state(const struct why_ctx *w)
{
	static bool said;
	struct state_store *st = NULL;
	struct sfs_error err = {0};
	char *root;

	if (!w->cfg->state_dir)
		return NULL;
	root = realpath(w->root, NULL);
	if (!root || state_open(w->cfg->state_dir, root, STATE_INBOX,
				STATE_READONLY, &st, &err)) {
		if (!said)
			cli_error("why",
				  "state-dir %s: %s; the version check "
				  "(rollback) is left out",
				  w->cfg->state_dir,
				  root ? err.msg : strerror(errno));
		said = true;
		st = NULL;
	}
	free(root);
	return st;
}

static int explain_in(const struct why_ctx *w, const char *arg,
		      const char *rel);

/* ARG in a mounted inbox: the same, for its BACKING. */
static int explain_mounted(const struct why_ctx *w, const char *arg)
{
	struct why_ctx m = *w;
	char *root = NULL, *rel = NULL;
	int ret = SFS_EXIT_USAGE;

	if (from_mount(arg, &root, &rel))
		goto out;
	m.root = root;
	m.rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (m.rootfd < 0) {
		cli_error("why", "%s: %s", root, strerror(errno));
		goto out;
	}
	m.state = open_state(&m);
	ret = explain_in(&m, arg, rel);
	state_close(m.state);
	close(m.rootfd);
out:
	free(root);
	free(rel);
	return ret;
}

static int explain(const struct why_ctx *w, const char *arg)
{
	char *rel;
	int ret;

	if (!w->root)
		return explain_mounted(w, arg);
	rel = to_rel(w, arg);
	if (!rel)
		return SFS_EXIT_USAGE;
	ret = explain_in(w, arg, rel);
	free(rel);
	return ret;
}

static int explain_in(const struct why_ctx *w, const char *arg, const char *rel)
{
	struct why_result res;
	size_t flen;
	int ret;

	if (*rel && sfs_path_check(rel, strlen(rel))) {
		cli_error("why", "%s: %s is not a path the inbox serves", arg,
			  rel);
		return SFS_EXIT_USAGE;
	}
	judge(w, rel, &res);
	/* No name of the tree there: FILE + sig-suffix is FILE's. */
	flen = sfs_path_sig_of(rel, strlen(rel), w->cfg->sig_suffix);
	if (res.kind == WK_MISSING && flen) {
		char file[PATH_MAX];

		snprintf(file, sizeof(file), "%.*s", (int)flen, rel);
		ret = say_sig(w, arg, file);
	} else {
		ret = say(w, arg, rel, &res);
	}
	sig_info_clear(&res.info);
	return ret;
}

/* Worst first: usage, then refused, then served. */
static int worse(int a, int b)
{
	if (a == SFS_EXIT_USAGE || b == SFS_EXIT_USAGE)
		return SFS_EXIT_USAGE;
	return a > b ? a : b;
}

int why_files(const struct why_options *o)
{
	struct why_ctx w = {.root = o->root, .rootfd = -1};
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	int ret = SFS_EXIT_USAGE;

	if (config_load(o->config, &cfg, &err) ||
	    policy_verifier_new(cfg, &cfg->trust, &w.v, &err)) {
		cli_error("why", "%s", err.msg);
		goto out;
	}
	w.cfg = cfg;
	w.audit = (o->mode >= 0 ? o->mode : (int)cfg->mode) == SFS_MODE_AUDIT;
	w.rootfd =
	    o->root ? open(o->root, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
	if (o->root && w.rootfd < 0) {
		cli_error("why", "--root %s: %s", o->root, strerror(errno));
		goto out;
	}
	/* Every PATH under --root shares one (a mounted PATH opens its own). */
	w.state = o->root ? open_state(&w) : NULL;
	ret = SFS_EXIT_OK;
	for (int i = 0; i < o->nargs; i++)
		ret = worse(ret, explain(&w, o->args[i]));
out:
	state_close(w.state);
	if (w.rootfd >= 0)
		close(w.rootfd);
	verifier_free(w.v);
	config_free(cfg);
	return ret;
}
