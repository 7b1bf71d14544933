/* SPDX-License-Identifier: Apache-2.0 */
/* Verification of v1 signatures against a trust store and policy. */
#ifndef SIGNETFS_VERIFY_H
#define SIGNETFS_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sigfmt.h"
#include "util.h"

/* Why a signature was refused; each has its own text (verify_reason_str). */
enum verify_reason {
	VR_OK = 0,
	VR_NO_SIG, /* NAME.sig does not exist */
	VR_SIG_EMPTY,
	VR_SIG_TOO_LARGE,
	VR_SIG_MALFORMED, /* not DER ContentInfo */
	VR_SIG_TRAILING,  /* bytes after the DER */
	VR_NOT_SIGNED_DATA,
	VR_NOT_DETACHED,
	VR_CONTENT_TYPE, /* eContentType is not id-data */
	VR_SIGNER_COUNT, /* not exactly one SignerInfo */
	VR_DIGEST_ALG,	 /* not SHA-256/384/512 */
	VR_NO_SIGNED_ATTRS,
	VR_ATTR_MISSING, /* a required signed attribute is absent */
	VR_ATTR_MALFORMED,
	VR_ATTR_VERSION,      /* unknown signetfs attribute version */
	VR_ATTR_CONTENT_TYPE, /* contentType attribute is not id-data */
	VR_SIGNER_CERT,	      /* signer certificate not in the SignedData */
	VR_BAD_SIGNATURE,     /* signature over the attributes is wrong */
	VR_UNTRUSTED,	      /* chain does not reach the trust store */
	VR_EXPIRED,
	VR_NOT_YET_VALID,
	VR_NO_CODESIGN_EKU,
	VR_REVOKED,
	VR_CRL_ERROR,	   /* CRL missing, expired or unverifiable */
	VR_PIN_MISMATCH,   /* signer not among the pinned signers */
	VR_PATH_MISMATCH,  /* signed path is not the served path */
	VR_CONTENT_DIGEST, /* content does not match messageDigest */
	VR_POLICY,	   /* policy cannot evaluate the path (too deep) */
	VR_IO,		   /* could not read the file or its .sig */
	VR_INTERNAL,
	/*
	 * Added later, at the end: the names are stable (audit logs carry
	 * them), the numbers are kept too.
	 */
	VR_SIGNER_IS_CA, /* the signer certificate is a CA */
	VR_NOT_REGULAR,	 /* the file is not a regular file (CLI) */
	/* Against a state directory's version map (signetfs/state.h): */
	VR_ROLLBACK, /* older than (or unversioned after) a version seen */
	VR_STATE,    /* the path's entry in the version map is unusable */
	/* RFC 3161 timestamps (rules T1-T9, docs/signature-format.md). */
	VR_UNSIGNED_ATTR,     /* an unsigned attribute other than a token */
	VR_TSA_COUNT,	      /* more than one timestamp token */
	VR_TSA_MALFORMED,     /* token is not a DER TimeStampToken */
	VR_TSA_IMPRINT,	      /* token is not over this signature value */
	VR_TSA_BAD_SIGNATURE, /* the TSA's signature does not verify */
	VR_TSA_ESS,	      /* ESS certificate id does not name the TSA */
	VR_TSA_UNTRUSTED,     /* TSA does not chain to tsa-trust */
	VR_TSA_NO_EKU,	      /* TSA certificate lacks critical timeStamping */
	VR_TSA_POLICY,	      /* token's policy is not tsa-policy */
	VR_TSA_TIME,	      /* genTime outside the signer's validity */
	VR_COUNT_
};

const char *verify_reason_str(enum verify_reason r);
/* Short machine name ("content-digest") for JSON and audit. */
const char *verify_reason_name(enum verify_reason r);

struct sfs_trust_config {
	char *cafile;  /* PEM bundle of trust anchors */
	char *capath;  /* OpenSSL hashed directory */
	char *crlfile; /* PEM CRL(s); when set, checked for the chain */
	/*
	 * The chain's validity periods at signingTime (never later than
	 * now) instead of now; the CRL is judged now either way.
	 */
	bool at_signing_time;
};

/* Per-call policy: which signers and whether the path is bound. */
struct verify_policy {
	const char *expected_path; /* NULL: do not check path binding */
	size_t expected_path_len;
	const uint8_t (*pins)[32]; /* signer cert SHA-256 allowed, or */
	size_t n_pins;		   /* 0: any signer the store trusts */
};

struct sfs_verifier;

int verifier_new(const struct sfs_trust_config *cfg, struct sfs_verifier **out,
		 struct sfs_error *err);
void verifier_free(struct sfs_verifier *v);

/*
 * Every check but the content digest: format, attributes, signature, chain,
 * EKU, validity, CRL, pin, path. Fills info (caller clears it). Thread-safe.
 */
enum verify_reason verifier_check_sig(struct sfs_verifier *v,
				      const uint8_t *der, size_t len,
				      const struct verify_policy *pol,
				      struct sig_info *info);

/* verifier_check_sig() and then the content of fd against messageDigest. */
enum verify_reason verifier_check_fd(struct sfs_verifier *v, const uint8_t *der,
				     size_t len,
				     const struct verify_policy *pol, int fd,
				     struct sig_info *info);

/*
 * An audit-log checkpoint signature (its own content type, never id-data)
 * over content, the SHA-256 of the checkpoint's signed bytes. Accepted only
 * from a signer whose certificate SHA-256 is in pins; n_pins = 0 accepts
 * no one. Chain, validity, CRL and EKU as for files. Fills info.
 */
enum verify_reason verifier_check_checkpoint(struct sfs_verifier *v,
					     const uint8_t *der, size_t len,
					     const struct sfs_digest *content,
					     const uint8_t (*pins)[32],
					     size_t n_pins,
					     struct sig_info *info);
/* verify_reason_str() in the words of a checkpoint. */
const char *verify_checkpoint_reason_str(enum verify_reason r);

/*
 * Load a TSA trust store (tsa-trust) into v, once per file name: a
 * verify_policy naming it then has its tokens checked. 0 or -errno.
 */
int verifier_add_tsa(struct sfs_verifier *v, const char *tsa_trust,
		     struct sfs_error *err);

/*
 * RFC 3161 where a file is verified: a token is evaluated (rules T2-T9)
 * only when trust names a store loaded with verifier_add_tsa(); policy,
 * when set, is the policy OID the token must carry.
 */
struct verify_tsa {
	const char *trust;
	const char *policy;
};

/* verifier_check_sig() and _fd() with tokens evaluated as tsa says. */
enum verify_reason verifier_check_sig_tsa(struct sfs_verifier *v,
					  const uint8_t *der, size_t len,
					  const struct verify_policy *pol,
					  const struct verify_tsa *tsa,
					  struct sig_info *info);
enum verify_reason verifier_check_fd_tsa(struct sfs_verifier *v,
					 const uint8_t *der, size_t len,
					 const struct verify_policy *pol,
					 const struct verify_tsa *tsa, int fd,
					 struct sig_info *info);

#endif
