// SPDX-License-Identifier: Apache-2.0
/* Audit line format 2: parsing, the checkpoint's signed bytes, the keys. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit_int.h"
#include "signetfs/config.h"
#include "signetfs/signer.h"

const char *const audit_events[] = {
    "open",
    "mount",
    "unmount",
    "key-loaded",
    "sign",
    "sign-failed",
    "sign-refused",
    "verify-denied",
    "policy-denied",
    "config-reloaded",
    "records-lost",
    "checkpoint",
    "timestamp",
    "timestamp-failed",
    NULL,
};

bool audit_event_known(const char *event)
{
	for (size_t i = 0; audit_events[i]; i++)
		if (!strcmp(event, audit_events[i]))
			return true;
	return false;
}

struct json_object *audit_parse_line(const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o;

	if (!tok)
		return NULL;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (o && (json_tokener_get_parse_end(tok) != len ||
		  !json_object_is_type(o, json_type_object))) {
		json_object_put(o);
		o = NULL;
	}
	json_tokener_free(tok);
	return o;
}

const char *audit_get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

bool audit_get_u64(struct json_object *o, const char *key, uint64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) < 0)
		return false;
	*out = (uint64_t)json_object_get_int64(v);
	return true;
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0';
}

bool audit_session_valid(const char *s)
{
	return s && strlen(s) == AUDIT_SESSION_HEX &&
	       lower_hex(s, AUDIT_SESSION_HEX);
}

static bool b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
}

/*
 * No canonical JSON needed: the signature covers the exact bytes. A raw
 * '"' cannot occur inside a JSON string, so the last `,"sig":"` followed
 * only by base64 and `"}` is the top-level member that ends the line.
 */
int audit_cp_split(const char *line, size_t len, size_t *signed_len,
		   const char **b64, size_t *b64_len)
{
	static const char m[] = AUDIT_CP_SIG_MEMBER;
	const size_t mlen = sizeof(m) - 1;
	size_t i, start;

	if (len < mlen + 2 || line[len - 1] != '}' || line[len - 2] != '"')
		return -EBADMSG;
	for (i = len - 2; i > 0 && b64_char(line[i - 1]); i--)
		;
	start = i;
	if (start < mlen || memcmp(line + start - mlen, m, mlen) != 0)
		return -EBADMSG;
	*signed_len = start - mlen;
	*b64 = line + start;
	*b64_len = len - 2 - start;
	return 0;
}

void audit_cp_digest(const char *line, size_t signed_len, struct sfs_digest *d)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	memset(d, 0, sizeof(*d));
	d->alg = SFS_MD_SHA256;
	d->len = 32;
	/* On failure d stays zero: no signature is over that. */
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) &&
	    EVP_DigestUpdate(ctx, AUDIT_CP_DOMAIN,
			     sizeof(AUDIT_CP_DOMAIN) - 1) &&
	    EVP_DigestUpdate(ctx, line, signed_len))
		EVP_DigestFinal_ex(ctx, d->bytes, &n);
	EVP_MD_CTX_free(ctx);
}

/* Strict base64: whole quads, padding only at the end. */
static int b64_decode(const char *s, size_t len, uint8_t **out, size_t *n)
{
	uint8_t *der;
	int got;

	*out = NULL;
	if (len == 0 || len % 4 || len > 4 * ((size_t)SFS_SIG_MAX / 3 + 1))
		return -EBADMSG;
	der = malloc(len);
	if (!der)
		return -ENOMEM;
	got = EVP_DecodeBlock(der, (const unsigned char *)s, (int)len);
	if (got < 0) {
		free(der);
		return -EBADMSG;
	}
	/* EVP_DecodeBlock counts '=' padding as zero bytes. */
	for (size_t i = len; i > len - 2 && s[i - 1] == '=' && got > 0; i--)
		got--;
	*out = der;
	*n = (size_t)got;
	return 0;
}

int audit_cp_check(const char *line, size_t len, const struct audit_keys *k,
		   enum verify_reason *r, uint8_t fp[32])
{
	struct sfs_digest d;
	struct sig_info info;
	const char *b64;
	size_t signed_len, b64_len, n = 0;
	uint8_t *der = NULL;
	int ret;

	memset(fp, 0, 32);
	*r = VR_SIG_MALFORMED;
	if (!k->verifier) {
		*r = VR_UNTRUSTED; /* no trust store: nothing is verified */
		return 0;
	}
	ret = audit_cp_split(line, len, &signed_len, &b64, &b64_len);
	if (ret == 0)
		ret = b64_decode(b64, b64_len, &der, &n);
	if (ret)
		return ret == -ENOMEM ? ret : 0;
	audit_cp_digest(line, signed_len, &d);
	*r = verifier_check_checkpoint(k->verifier, der, n, &d, k->pins,
				       k->n_pins, &info);
	memcpy(fp, info.signer_sha256, 32);
	sig_info_clear(&info);
	free(der);
	return 0;
}

void audit_sess_fold(uint8_t h[32], const uint8_t line_hash[32])
{
	uint8_t buf[64];

	memcpy(buf, h, 32);
	memcpy(buf + 32, line_hash, 32);
	sfs_sha256(buf, sizeof(buf), h);
}

static int add_pin(const char *cert, uint8_t (**pins)[32], size_t *n,
		   struct sfs_error *err)
{
	uint8_t fp[32], (*grown)[32];
	int ret = signer_cert_file_sha256(cert, fp, err);

	if (ret)
		return ret;
	for (size_t i = 0; i < *n; i++)
		if (memcmp((*pins)[i], fp, 32) == 0)
			return 0;
	grown = realloc(*pins, (*n + 1) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	memcpy(grown[*n], fp, 32);
	*pins = grown;
	(*n)++;
	return 0;
}

int audit_config_pins(const struct sfs_config *cfg, uint8_t (**pins)[32],
		      size_t *n, struct sfs_error *err)
{
	int ret = 0;

	*pins = NULL;
	*n = 0;
	if (cfg->key.cert)
		ret = add_pin(cfg->key.cert, pins, n, err);
	for (size_t i = 0; ret == 0 && i < cfg->n_rules; i++) {
		const struct sfs_rule *r = &cfg->rules[i];
		/* A rule's key without its own cert uses [signetfs] cert. */
		const char *cert = r->key.cert ? r->key.cert : cfg->key.cert;

		if (r->key.key_uri && cert)
			ret = add_pin(cert, pins, n, err);
	}
	if (ret) {
		free(*pins);
		*pins = NULL;
		*n = 0;
	}
	return ret;
}
