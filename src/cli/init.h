/* SPDX-License-Identifier: Apache-2.0 */
/* What the parts of signetfs init share: options, --join state, helpers. */
#ifndef SIGNETFS_CLI_INIT_H
#define SIGNETFS_CLI_INIT_H

#include <ftw.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

struct hsm;
struct sfs_error;

#define INIT_KEY_LABEL "signing-key"

struct init_opts {
	const char *dir;
	const char *module; /* NULL: the default, or EXISTING's */
	const char *label;  /* NULL: "signetfs" */
	const char *join;   /* EXISTING, or NULL */
	bool rsa;
	bool force;
	long signer_secs;    /* --signer-validity; 0: 730 days */
	const char *tsa_url; /* --tsa URL: a development TSA key and cert */
};

/*
 * What --join takes from EXISTING: its token store and its development
 * CA. The token directory is locked (flock) from the label check to the
 * end, so two joins cannot both take a label, and a failed join can tell
 * the token directory it made from the ones that were there.
 */
struct init_join {
	char *abs;	/* realpath(EXISTING) */
	char *conf;	/* abs/softhsm2.conf */
	char *module;	/* from abs/signetfs.conf */
	char *tokendir; /* directories.tokendir of conf */
	int store_fd;	/* tokendir, flock()ed */
	char **before;	/* its entries before C_InitToken */
	size_t nbefore;
	EVP_PKEY *ca_key;
	X509 *ca;
};

/* cmd_init.c: files in DIR. */
int init_rm_entry(const char *path, const struct stat *st, int flag,
		  struct FTW *ftw);
int init_write_file(int dfd, const char *name, const void *buf, size_t len,
		    mode_t mode);
int init_write_bio(int dfd, const char *name, BIO *b, mode_t mode);

/* init_token.c: the PKCS#11 token and its key. */
int init_make_token(const char *module, const char *label, bool rsa, bool *made,
		    char **user_pin);
int init_self_test(struct hsm *h, struct sfs_error *err);
void init_pin_free(char *pin);

/* init_join.c: EXISTING's token store, CA and module. */
int init_join_open(const struct init_opts *o, struct init_join *j);
void init_join_close(struct init_join *j);
void init_store_undo(const struct init_join *j);

/* init_pki.c: the development CA, the signer certificate, the CRL. */
int init_make_pki(int dfd, struct hsm *h, long secs, X509 **signer_out);
int init_join_pki(int dfd, const struct init_join *j, struct hsm *h,
		  const char *label, long secs, X509 **signer_out);
/*
 * --tsa: a development TSA key (a file, as the CA's) and its certificate
 * (EKU timeStamping, critical) from the CA in ca_dir, into DIR as
 * tsa.key and tsa.pem, for scripts/dev-tsa.
 */
int init_make_tsa(int dfd, const char *ca_dir);

#endif
