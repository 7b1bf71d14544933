// SPDX-License-Identifier: Apache-2.0
/* Reads an audit log back: the hash chain, seq, and signed checkpoints. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "signetfs/audit.h"
#include "signetfs/verify.h"

#define LINE_MAX_BYTES (256 * 1024)

struct chain {
	char prev[65];
	uint64_t seq;
	bool last_final;	/* the last line is a final checkpoint */
	size_t since_seal;	/* records after the last checkpoint */
};

static int bad(struct audit_verify_result *res, size_t line,
	       const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(struct audit_verify_result *res, size_t line,
	       const char *fmt, ...)
{
	va_list ap;

	res->bad_line = line;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	return 1;
}

static const char *get_str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool get_u64(struct json_object *o, const char *key, uint64_t *out)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return false;
	*out = (uint64_t)json_object_get_int64(v);
	return true;
}

/* The checkpoint's signature must be trusted and cover the chain head. */
static int check_checkpoint(struct json_object *o, struct sfs_verifier *v,
			    const struct chain *c, const char **why)
{
	static const char path[] = AUDIT_CHECKPOINT_PATH;
	struct verify_policy pol = {path, sizeof(path) - 1, NULL, 0};
	const char *head = get_str(o, "head"), *sig = get_str(o, "sig");
	struct sig_info info;
	enum verify_reason r;
	uint8_t want[32], *der;
	size_t slen;
	int n, ret = 1;

	if (!head || strcmp(head, c->prev) != 0) {
		*why = "checkpoint head is not the chain head";
		return 1;
	}
	if (!sig) {
		*why = "checkpoint without a signature";
		return 1;
	}
	slen = strlen(sig);
	der = malloc(slen);
	if (!der)
		return -ENOMEM;
	n = EVP_DecodeBlock(der, (const unsigned char *)sig, (int)slen);
	if (n < 0 || slen % 4) {
		*why = "checkpoint signature is not base64";
		goto out;
	}
	/* EVP_DecodeBlock counts '=' padding as zero bytes. */
	while (slen && sig[slen - 1] == '=' && n > 0)
		slen--, n--;
	r = verifier_check_sig(v, der, (size_t)n, &pol, &info);
	if (r != VR_OK) {
		*why = verify_reason_str(r);
		goto out_info;
	}
	sfs_unhex(c->prev, want, 32);
	if (info.digest.alg != SFS_MD_SHA256 ||
	    CRYPTO_memcmp(info.digest.bytes, want, 32) != 0) {
		*why = "checkpoint signature is over another chain head";
		goto out_info;
	}
	ret = 0;
out_info:
	sig_info_clear(&info);
out:
	free(der);
	return ret;
}

static int check_line(const char *line, size_t len, size_t no,
		      struct sfs_verifier *v, struct chain *c,
		      struct audit_verify_result *res)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o = NULL;
	const char *prev, *event, *why = NULL;
	uint64_t seq = 0, ver = 0;
	uint8_t h[32];
	int ret = 0;

	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, line, (int)len);
	if (!o || json_tokener_get_parse_end(tok) != len ||
	    !json_object_is_type(o, json_type_object)) {
		ret = bad(res, no, "not a JSON object");
		goto out;
	}
	if (!get_u64(o, "v", &ver) || ver != 1) {
		ret = bad(res, no, "unknown record version");
		goto out;
	}
	prev = get_str(o, "prev");
	if (!prev || strcmp(prev, c->prev) != 0) {
		ret = bad(res, no, "chain broken: prev is not the hash of the "
			  "line before (a line edited, deleted, inserted or "
			  "reordered)");
		goto out;
	}
	if (!get_u64(o, "seq", &seq) || seq != c->seq + 1) {
		ret = bad(res, no, "sequence number %llu, expected %llu",
			  (unsigned long long)seq,
			  (unsigned long long)c->seq + 1);
		goto out;
	}
	event = get_str(o, "event");
	if (!event) {
		ret = bad(res, no, "record without an event");
		goto out;
	}
	c->last_final = false;
	if (strcmp(event, "checkpoint") == 0) {
		struct json_object *f;

		ret = check_checkpoint(o, v, c, &why);
		if (ret < 0)
			goto out;
		if (ret) {
			ret = bad(res, no, "checkpoint: %s", why);
			goto out;
		}
		res->checkpoints++;
		c->since_seal = 0;
		c->last_final = json_object_object_get_ex(o, "final", &f) &&
				json_object_get_boolean(f);
	} else {
		c->since_seal++;
	}
	c->seq = seq;
	sfs_sha256(line, len, h);
	sfs_hex(h, 32, c->prev);
out:
	json_object_put(o);
	json_tokener_free(tok);
	return ret;
}

int audit_verify_file(const char *path, struct sfs_verifier *v, bool live,
		      struct audit_verify_result *res)
{
	struct chain c = {.seq = 0};
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int ret = 0;

	memset(res, 0, sizeof(*res));
	if (!f)
		return -errno;
	memset(c.prev, '0', 64);
	while ((n = getline(&line, &cap, f)) > 0) {
		res->lines++;
		if (line[n - 1] != '\n') {
			ret = bad(res, res->lines, "last line is cut off (no "
				  "newline): the log was truncated");
			goto out;
		}
		if (n > LINE_MAX_BYTES) {
			ret = bad(res, res->lines, "line too long");
			goto out;
		}
		ret = check_line(line, (size_t)n - 1, res->lines, v, &c, res);
		if (ret)
			goto out;
	}
	if (ferror(f)) {
		ret = -EIO;
		goto out;
	}
	res->sealed = c.last_final;
	if (!live && !c.last_final)
		ret = bad(res, res->lines + 1,
			  res->lines == 0 ? "empty log"
			  : c.since_seal
				  ? "the log does not end with a final "
				    "checkpoint: records after the last "
				    "checkpoint are unsealed (truncated, or "
				    "the writer is still running: use --live)"
				  : "the log ends at a checkpoint that is not "
				    "final: records after it were cut off, or "
				    "the writer is still running (--live)");
out:
	free(line);
	fclose(f);
	return ret;
}
