// SPDX-License-Identifier: Apache-2.0
/* signetfs init: a SoftHSM token and key, a development CA, a config. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "cli.h"
#include "init.h"
#include "signetfs/hsm.h"
#include "signetfs/util.h"

/* Everything init creates, and so everything --force may remove. */
static const char *const init_files[] = {
    "softhsm2.conf", "pin",	      "ca.key",	 "ca.pem",  "signer.pem",
    "crl.pem",	     "signetfs.conf", "tsa.key", "tsa.pem",
};

/* The state of one init, from the options to the cleanup. */
struct init_run {
	struct init_opts o;
	struct init_join j;
	struct hsm *h;
	X509 *signer;
	char *abs; /* realpath(DIR), set once DIR may be cleaned */
	char *pin;
	char *pin_path;
	char *conf_path; /* the SOFTHSM2_CONF signetfs.conf names */
	char uri[256];
	int dfd;
	bool created; /* this init made DIR */
	bool made;    /* C_InitToken succeeded */
};

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: signetfs init DIR [--key-type ec-p256|rsa-3072] "
	    "[--label LABEL]\n"
	    "                     [--module PATH] [--force]\n"
	    "       signetfs init DIR --join EXISTING --label LABEL "
	    "[--key-type TYPE]\n"
	    "                     [--module PATH] [--force]\n\n"
	    "Create DIR (mode 0700) with a SoftHSM token holding a new "
	    "signing key,\na development CA (ca.pem, ca.key), a signer "
	    "certificate for the key\n(signer.pem), an empty CRL "
	    "(crl.pem) and signetfs.conf.\n\n"
	    "With --join, the new token LABEL goes into the token store "
	    "of EXISTING (an\nearlier init), whose CA issues its "
	    "certificate: one process can then use\nboth keys, which "
	    "share one SOFTHSM2_CONF. DIR gets pin, signer.pem,\n"
	    "ca.pem (a copy) and signetfs.conf. A process that has "
	    "EXISTING's module\nloaded sees the new token after a "
	    "restart.\n\n"
	    "  --key-type TYPE  ec-p256 (default) or rsa-3072\n"
	    "  --label LABEL    token label (default: signetfs); with "
	    "--join, required\n"
	    "                   and not yet in EXISTING's store\n"
	    "  --join EXISTING  add a token to EXISTING's store and CA\n"
	    "  --module PATH    PKCS#11 module (default: %s,\n"
	    "                   with --join EXISTING's)\n"
	    "  --force          replace what an earlier init created in "
	    "DIR\n"
	    "  --tsa URL        also a development TSA key and certificate "
	    "(tsa.key,\n"
	    "                   tsa.pem) for scripts/dev-tsa, and tsa-url "
	    "= URL in the config\n"
	    "  --signer-validity SECONDS\n"
	    "                   the signer certificate expires SECONDS from "
	    "now (default:\n"
	    "                   730 days); for trying out timestamps\n",
	    SFS_DEFAULT_MODULE);
}

/* ---- files ----------------------------------------------------------- */

int init_rm_entry(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

/* Remove what init creates in DIR, and nothing else. */
static int remove_ours(int dfd, const char *dir)
{
	char tokens[PATH_MAX];

	for (size_t i = 0; i < ARRAY_SIZE(init_files); i++)
		if (unlinkat(dfd, init_files[i], 0) < 0 && errno != ENOENT)
			return -errno;
	snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	if (nftw(tokens, init_rm_entry, 16, FTW_DEPTH | FTW_PHYS) < 0 &&
	    errno != ENOENT)
		return -errno;
	return 0;
}

static bool dir_is_empty(int dfd)
{
	int fd = dup(dfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	bool empty = true;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return false;
	}
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			empty = false;
	closedir(d);
	return empty;
}

/*
 * The missing parents of DIR, mode 0755 as mkdir -p makes them: on a
 * fresh host not even /var/lib/signetfs exists.
 */
static int make_parents(const char *dir)
{
	char *p = strdup(dir);
	int ret = 0;

	if (!p)
		return -ENOMEM;
	for (char *s = p + 1; *s && !ret; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			ret = -errno;
		*s = '/';
	}
	free(p);
	return ret;
}

/*
 * Create or take over DIR; *abs gets its absolute path. JOINED is
 * EXISTING's absolute path with --join: DIR must not be it, for a
 * failure cleans up in DIR. *abs stays NULL until DIR may be cleaned.
 */
static int prepare_dir(const struct init_opts *o, const char *joined, int *dfd,
		       char **abs, bool *created)
{
	char *real;
	int ret;

	*created = mkdir(o->dir, 0700) == 0;
	if (!*created && errno == ENOENT) {
		ret = make_parents(o->dir);
		if (ret) {
			cli_error("init", "cannot create the parents of %s: %s",
				  o->dir, strerror(-ret));
			return ret;
		}
		*created = mkdir(o->dir, 0700) == 0;
	}
	if (!*created && errno != EEXIST) {
		ret = -errno;
		cli_error("init", "cannot create %s: %s", o->dir,
			  strerror(-ret));
		return ret;
	}
	*dfd = open(o->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*dfd < 0) {
		ret = -errno;
		cli_error("init", "%s: %s", o->dir, strerror(-ret));
		return ret;
	}
	if (!*created && !dir_is_empty(*dfd) && !o->force) {
		cli_error("init",
			  "%s exists and is not empty; use --force to "
			  "replace what an earlier init created there",
			  o->dir);
		return -ENOTEMPTY;
	}
	real = realpath(o->dir, NULL);
	if (real && joined && !strcmp(real, joined)) {
		free(real);
		cli_error(
		    "init",
		    "DIR and --join EXISTING are the same "
		    "directory; a new token needs a directory of its own");
		return -EINVAL;
	}
	*abs = real;
	if (!*abs || fchmod(*dfd, 0700) < 0) {
		ret = -errno;
		cli_error("init", "%s: %s", o->dir, strerror(-ret));
		return ret;
	}
	if (!*created && o->force) {
		ret = remove_ours(*dfd, *abs);
		if (ret) {
			cli_error("init", "cannot clear %s: %s", o->dir,
				  strerror(-ret));
			return ret;
		}
	}
	/* With --join the token lives in EXISTING's store. */
	if (!joined && mkdirat(*dfd, "tokens", 0700) < 0) {
		ret = -errno;
		cli_error("init", "%s/tokens: %s", o->dir, strerror(-ret));
		return ret;
	}
	return 0;
}

int init_write_file(int dfd, const char *name, const void *buf, size_t len,
		    mode_t mode)
{
	int ret = sfs_write_atomic_at(dfd, name, buf, len, mode, true);

	if (ret)
		cli_error("init", "cannot write %s: %s", name, strerror(-ret));
	return ret;
}

/* Write what a PEM_write_bio_* call produced. */
int init_write_bio(int dfd, const char *name, BIO *b, mode_t mode)
{
	char *data;
	long len = BIO_get_mem_data(b, &data);

	return init_write_file(dfd, name, data, (size_t)len, mode);
}

/* ---- config and summary ----------------------------------------------- */

/* RFC 7512 percent-encoding of a token label for token=. */
static void uri_escape(const char *in, char *out)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~", c)) {
			*out++ = (char)c;
		} else {
			*out++ = '%';
			*out++ = hex[c >> 4];
			*out++ = hex[c & 15];
		}
	}
	*out = '\0';
}

/*
 * Every path absolute, so the file works wherever it is copied to (an
 * operator's /etc/signetfs/NAME.conf). SOFTHSM: DIR's softhsm2.conf or,
 * with --join, EXISTING's; CRL: the CRL of the CA that issued the
 * signer (NULL: none, no crl line).
 */
static int write_config(int dfd, const char *abs, const char *module,
			const char *softhsm, const char *crl, const char *uri,
			const char *tsa)
{
	char buf[5 * PATH_MAX + 2048];
	int n;

	n = snprintf(buf, sizeof(buf),
		     "# Written by signetfs init. The paths are absolute: copy "
		     "this file to\n# /etc/signetfs/NAME.conf for the units "
		     "signetfs-outbox@NAME, signetfs-inbox@NAME.\n"
		     "[signetfs]\nmodule = %s\nsofthsm-conf = %s\nkey = %s\n"
		     "pin-file = %s/pin\ncert = %s/signer.pem\n"
		     "trust = %s/ca.pem\n%s%s%s"
		     "audit-log = %s/audit.log\n",
		     module, softhsm, uri, abs, abs, abs, crl ? "crl = " : "",
		     crl ? crl : "", crl ? "\n" : "", abs);
	/* The development TSA's certificate comes from the same CA. */
	if (n > 0 && tsa && (size_t)n < sizeof(buf))
		n +=
		    snprintf(buf + n, sizeof(buf) - (size_t)n,
			     "tsa-url = %s\ntsa-trust = %s/ca.pem\n", tsa, abs);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return init_write_file(dfd, "signetfs.conf", buf, (size_t)n, 0644);
}

static int write_softhsm_conf(int dfd, const char *abs)
{
	char buf[PATH_MAX + 256];
	int n;

	/* SoftHSM resolves a relative tokendir against the cwd. */
	n = snprintf(buf, sizeof(buf),
		     "# Written by signetfs init.\n"
		     "directories.tokendir = %s/tokens\n"
		     "objectstore.backend = file\nlog.level = ERROR\n"
		     "slots.removable = false\n",
		     abs);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -ENAMETOOLONG;
	return init_write_file(dfd, "softhsm2.conf", buf, (size_t)n, 0644);
}

/* CRL's next update: after it, every verification with the CRL fails. */
static void crl_next_update(const char *crl, char *out, size_t len)
{
	BIO *b = BIO_new_file(crl, "r");
	X509_CRL *c = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
	const ASN1_TIME *t = c ? X509_CRL_get0_nextUpdate(c) : NULL;
	struct tm tm;

	snprintf(out, len, "?");
	if (t && ASN1_TIME_to_tm(t, &tm))
		strftime(out, len, "%Y-%m-%d", &tm);
	X509_CRL_free(c);
	BIO_free(b);
	ERR_clear_error();
}

/* CA_KEY: where the CA key is, DIR's own or EXISTING's; CRL or NULL. */
static void summary(const char *abs, const char *ca_key, const char *crl,
		    struct hsm *h, X509 *signer, bool rsa)
{
	unsigned char md[32];
	unsigned int len = sizeof(md);
	char hex[65], next[32];

	X509_digest(signer, EVP_sha256(), md, &len);
	sfs_hex(md, sizeof(md), hex);
	printf("signetfs: initialised %s\n"
	       "  config   %s/signetfs.conf\n"
	       "  token    serial %s, %s key '%s'\n"
	       "  key      %s\n"
	       "  CA       %s/ca.pem (key %s, keep it off servers)\n"
	       "  signer   %s/signer.pem\n"
	       "  sha256   %s\n",
	       abs, abs, hsm_token_serial(h), rsa ? "RSA-3072" : "EC P-256",
	       INIT_KEY_LABEL, hsm_key_uri(h), abs, ca_key, abs, hex);
	if (crl) {
		crl_next_update(crl, next, sizeof(next));
		printf("  CRL      %s (next update %s: renew it before then, "
		       "see docs/policy.md)\n",
		       crl, next);
	}
}

/* ---- the command ------------------------------------------------------ */

/* Defaults, and the checks that need all the options. */
static int check_opts(struct init_opts *o)
{
	if (o->join && !o->label) {
		/* The default label is most likely EXISTING's own. */
		cli_error("init",
			  "--join needs --label, a label that is new "
			  "in %s's token store",
			  o->join);
		return -EINVAL;
	}
	if (!o->label)
		o->label = "signetfs";
	if (!o->join && !o->module)
		o->module = SFS_DEFAULT_MODULE;
	if (!*o->label || strlen(o->label) > 32) {
		cli_error("init", "--label must be 1 to 32 bytes");
		return -EINVAL;
	}
	return 0;
}

static int parse_opts(int argc, char **argv, struct init_opts *o)
{
	static const struct option lo[] = {
	    {"key-type", required_argument, NULL, 't'},
	    {"label", required_argument, NULL, 'l'},
	    {"module", required_argument, NULL, 'm'},
	    {"join", required_argument, NULL, 'j'},
	    {"force", no_argument, NULL, 'f'},
	    {"help", no_argument, NULL, 'h'},
	    {"tsa", required_argument, NULL, 'T'},
	    {"signer-validity", required_argument, NULL, 'S'},
	    {0},
	};
	char *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "fh", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			if (!strcmp(optarg, "rsa-3072")) {
				o->rsa = true;
			} else if (strcmp(optarg, "ec-p256")) {
				cli_error("init",
					  "--key-type %s: not a key type "
					  "init makes (ec-p256 or rsa-3072)",
					  optarg);
				goto bad;
			}
			break;
		case 'l':
			o->label = optarg;
			break;
		case 'm':
			o->module = optarg;
			break;
		case 'j':
			o->join = optarg;
			break;
		case 'f':
			o->force = true;
			break;
		case 'T':
			if (strncmp(optarg, "http://", 7) &&
			    strncmp(optarg, "https://", 8))
				goto bad;
			o->tsa_url = optarg;
			break;
		case 'S':
			o->signer_secs = strtol(optarg, &end, 10);
			if (*end || end == optarg || o->signer_secs < 1 ||
			    o->signer_secs > 86400L * 3650)
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			goto bad;
		}
	}
	if (optind != argc - 1) {
		cli_error("init", optind == argc
				      ? "no DIR to initialise"
				      : "one DIR to initialise, not several");
		goto bad;
	}
	o->dir = argv[optind];
	return check_opts(o);
bad:
	usage(stderr);
	return -EINVAL;
}

/*
 * Without --join: DIR/softhsm2.conf for DIR's own store. With it,
 * EXISTING's, which the new signetfs.conf names by absolute path.
 */
static int store_conf(int dfd, const char *abs, const struct init_join *j,
		      char **conf_path)
{
	int ret = 0;

	if (j->abs) {
		*conf_path = strdup(j->conf);
	} else {
		ret = write_softhsm_conf(dfd, abs);
		if (!ret && asprintf(conf_path, "%s/softhsm2.conf", abs) < 0)
			*conf_path = NULL;
	}
	if (!ret && !*conf_path)
		ret = -ENOMEM;
	if (!ret && setenv("SOFTHSM2_CONF", *conf_path, 1) < 0)
		ret = -errno;
	return ret;
}

/* EXISTING, DIR and the SoftHSM config. */
static int setup(struct init_run *r)
{
	int ret;

	if (r->o.join) {
		ret = init_join_open(&r->o, &r->j);
		if (ret)
			return ret;
		if (!r->o.module)
			r->o.module = r->j.module;
	}
	ret = prepare_dir(&r->o, r->j.abs, &r->dfd, &r->abs, &r->created);
	if (ret) {
		/* Never clean up a directory we were told not to touch. */
		if (ret == -ENOTEMPTY) {
			close(r->dfd);
			r->dfd = -1;
		}
		return ret;
	}
	ret = store_conf(r->dfd, r->abs, &r->j, &r->conf_path);
	if (!ret && asprintf(&r->pin_path, "%s/pin", r->abs) < 0) {
		r->pin_path = NULL;
		ret = -ENOMEM;
	}
	return ret;
}

/*
 * The token, its PIN file and a signature that proves the key works.
 * *CODE: the exit code if this fails.
 */
static int make_key(struct init_run *r, int *code)
{
	struct sfs_error err = {0};
	char label_enc[3 * 32 + 1];
	int ret;

	*code = SFS_EXIT_TOKEN;
	ret = init_make_token(r->o.module, r->o.label, r->o.rsa, &r->made,
			      &r->pin);
	if (ret) {
		if (ret == -EEXIST)
			*code = SFS_EXIT_USAGE;
		return ret;
	}
	*code = SFS_EXIT_USAGE;
	ret = init_write_file(r->dfd, "pin", r->pin, strlen(r->pin), 0600);
	if (ret)
		return ret;
	uri_escape(r->o.label, label_enc);
	snprintf(r->uri, sizeof(r->uri),
		 "pkcs11:token=%s;object=" INIT_KEY_LABEL ";type=private",
		 label_enc);
	*code = SFS_EXIT_TOKEN;
	ret = hsm_open(&(struct hsm_config){.module = r->o.module,
					    .key_uri = r->uri,
					    .pin_file = r->pin_path,
					    .softhsm_conf = r->conf_path},
		       &r->h, &err);
	if (!ret)
		ret = init_self_test(r->h, &err);
	if (ret)
		cli_error("init", "%s", err.msg);
	return ret;
}

/* The CRL of the CA that issued the signer, if there is one. */
static char *crl_path(const struct init_run *r)
{
	const char *dir = r->o.join ? r->j.abs : r->abs;
	char *p;

	if (asprintf(&p, "%s/crl.pem", dir) < 0)
		return NULL;
	if (access(p, R_OK) < 0) { /* an EXISTING from before init made one */
		free(p);
		return NULL;
	}
	return p;
}

/* The certificates, signetfs.conf and the summary. */
static int finish(struct init_run *r)
{
	char ca_key[PATH_MAX + 8];
	char *crl = NULL;
	int ret;

	if (r->o.join)
		ret = init_join_pki(r->dfd, &r->j, r->h, r->o.label,
				    r->o.signer_secs, &r->signer);
	else
		ret = init_make_pki(r->dfd, r->h, r->o.signer_secs, &r->signer);
	if (!ret && r->o.tsa_url)
		ret = init_make_tsa(r->dfd, r->o.join ? r->j.abs : r->abs);
	if (!ret) {
		crl = crl_path(r);
		ret = write_config(r->dfd, r->abs, r->o.module, r->conf_path,
				   crl, r->uri, r->o.tsa_url);
	}
	if (!ret) {
		snprintf(ca_key, sizeof(ca_key), "%s/ca.key",
			 r->o.join ? r->j.abs : r->abs);
		summary(r->abs, ca_key, crl, r->h, r->signer, r->o.rsa);
	}
	free(crl);
	return ret;
}

/* After a failure (RET), remove what this init made; free it all. */
static void cleanup(struct init_run *r, int ret)
{
	/* The module is finalised with h: SoftHSM has let go of the store. */
	hsm_close(r->h);
	if (ret == -ENOMEM)
		cli_error("init", "out of memory");
	if (ret && r->made && r->o.join)
		init_store_undo(&r->j);
	if (ret && r->dfd >= 0 && r->abs) {
		remove_ours(r->dfd, r->abs);
		if (r->created)
			rmdir(r->abs);
	}
	if (r->dfd >= 0)
		close(r->dfd);
	init_join_close(&r->j);
	init_pin_free(r->pin);
	X509_free(r->signer);
	free(r->abs);
	free(r->pin_path);
	free(r->conf_path);
}

int cmd_init(int argc, char **argv)
{
	struct init_run r = {.j = {.store_fd = -1}, .dfd = -1};
	int ret, code = SFS_EXIT_USAGE;

	ret = parse_opts(argc, argv, &r.o);
	if (ret)
		return ret > 0 ? SFS_EXIT_OK : SFS_EXIT_USAGE;
	ret = setup(&r);
	if (!ret)
		ret = make_key(&r, &code);
	if (!ret) {
		code = SFS_EXIT_USAGE;
		ret = finish(&r);
	}
	cleanup(&r, ret);
	return ret ? code : SFS_EXIT_OK;
}
