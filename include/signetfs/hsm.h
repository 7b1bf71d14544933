/* SPDX-License-Identifier: Apache-2.0 */
/* PKCS#11 through libp11: module by path, key by RFC 7512 URI, one login. */
#ifndef SIGNETFS_HSM_H
#define SIGNETFS_HSM_H

#include <stdbool.h>

#include <openssl/evp.h>

#include "util.h"

struct hsm_config {
	const char *module; /* PKCS#11 module path */
	const char
	    *key_uri; /* pkcs11:token=...;object=...[;pin-source=file:...] */
	const char *pin_file;	  /* used when the URI has no pin-source */
	const char *softhsm_conf; /* exported as SOFTHSM2_CONF if set */
};

struct hsm;

/*
 * Load the module, find the token and the private key, log in once.
 * Errors are one line naming the cause: module not found, token not found,
 * wrong PIN, key not found (err->exit = SFS_EXIT_TOKEN, or SFS_EXIT_USAGE
 * for a malformed URI / unreadable PIN file).
 */
int hsm_open(const struct hsm_config *cfg, struct hsm **out,
	     struct sfs_error *err);
void hsm_close(struct hsm *h);

/*
 * Borrow the private key for one signing operation. The EVP_PKEY's
 * operations run on the token. Between begin and end the caller may sign
 * with it; begin may serialise callers if the module or libp11 needs it,
 * and re-opens the session and logs in again when a previous operation
 * failed (token removed and back). end(failed=true) marks the session
 * for recovery.
 *
 * The key is valid only until hsm_sign_end, and so is every object that
 * holds a reference to it (EVP_MD_CTX, EVP_PKEY_CTX, CMS_ContentInfo,
 * CMS_SignerInfo): free them all before calling hsm_sign_end. After end
 * a recovery may unload the module, and the last free of a token key
 * calls into the module. Begin and end run on the same thread, not
 * nested.
 */
int hsm_sign_begin(struct hsm *h, EVP_PKEY **key, struct sfs_error *err);
void hsm_sign_end(struct hsm *h, bool failed);
/*
 * After a failed signature, on the failing thread: err names the cause
 * the module reported (token removed, session invalid, CK_RV), taken from
 * (and clearing) the OpenSSL error queue. Returns err->code.
 */
int hsm_sign_error(struct hsm *h, struct sfs_error *err);

/* The public key of the token key (reference owned by h). */
EVP_PKEY *hsm_public_key(struct hsm *h);
/* Key URI with any pin-value/pin-source removed. */
const char *hsm_key_uri(const struct hsm *h);
const char *hsm_token_serial(const struct hsm *h);

#endif
