// SPDX-License-Identifier: Apache-2.0
/*
 * RFC 3161 client: a request over SHA-256 of a SignerInfo's signature
 * value, sent with libcurl (many in flight on reused connections), the
 * reply checked as the verifier checks it, the token embedded as the
 * unsigned attribute id-aa-timeStampToken. The signature is not touched.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ts.h>

#include "signetfs/log.h"
#include "tsa_int.h"

struct sfs_tsa {
	char *url;
	char *policy;
	unsigned timeout_ms, connect_ms, parallel;
	X509_STORE *store;
	/* One request batch at a time; the multi handle keeps connections. */
	pthread_mutex_t lock;
	CURLM *multi;
};

/* One request in flight. */
struct xfer {
	struct tsa_job *job;
	CURL *easy;
	struct curl_slist *hdr;
	uint8_t *req;
	int req_len;
	uint64_t nonce;
	uint8_t *body;
	size_t len;
	bool too_big;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int tsa_open(const struct sfs_tsa_config *cfg, struct sfs_tsa **out,
	     struct sfs_error *err)
{
	struct sfs_tsa *t;

	if (!cfg->url || !cfg->trust) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "tsa-url needs tsa-trust: every token is "
			      "checked before it is embedded");
		return -EINVAL;
	}
	if (strncmp(cfg->url, "http://", 7) &&
	    strncmp(cfg->url, "https://", 8)) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "tsa-url %s: http:// or https:// only", cfg->url);
		return -EINVAL;
	}
	pthread_once(&curl_once, curl_init);
	t = calloc(1, sizeof(*t));
	if (!t || curl_init_rc != CURLE_OK)
		goto nomem;
	t->url = strdup(cfg->url);
	t->policy = cfg->policy ? strdup(cfg->policy) : NULL;
	t->timeout_ms =
	    cfg->timeout_ms ? cfg->timeout_ms : TSA_TIMEOUT_MS_DEFAULT;
	t->connect_ms = t->timeout_ms < TSA_CONNECT_MS_MAX ? t->timeout_ms
							   : TSA_CONNECT_MS_MAX;
	t->parallel = cfg->parallel ? cfg->parallel : TSA_PARALLEL_DEFAULT;
	pthread_mutex_init(&t->lock, NULL);
	t->multi = curl_multi_init();
	if (!t->url || (cfg->policy && !t->policy) || !t->multi)
		goto nomem;
	if (t->policy && !OBJ_txt2obj(t->policy, 1)) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "tsa-policy %s is not an OID", t->policy);
		tsa_close(t);
		return -EINVAL;
	}
	t->store = tsa_store_load(cfg->trust, err);
	if (!t->store) {
		tsa_close(t);
		return -ENOENT;
	}
	curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
			  (long)t->parallel);
	*out = t;
	return 0;
nomem:
	tsa_close(t);
	sfs_error_set(err, -ENOMEM, SFS_EXIT_USAGE, "out of memory");
	return -ENOMEM;
}

void tsa_close(struct sfs_tsa *t)
{
	if (!t)
		return;
	if (t->multi)
		curl_multi_cleanup(t->multi);
	X509_STORE_free(t->store);
	pthread_mutex_destroy(&t->lock);
	free(t->url);
	free(t->policy);
	free(t);
}

const char *tsa_url(const struct sfs_tsa *t)
{
	return t->url;
}

unsigned tsa_timeout_ms(const struct sfs_tsa *t)
{
	return t->timeout_ms;
}

void tsa_job_clear(struct tsa_job *j)
{
	free(j->out);
	j->out = NULL;
	j->out_len = 0;
}

void tsa_time_str(time_t t, char *out, size_t len)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int job_fail(struct tsa_job *j, int err, const char *fmt, const char *a)
{
	j->err = err;
	snprintf(j->why, sizeof(j->why), fmt, a);
	return err;
}

/* The .sig's only SignerInfo (DER strict, as the verifier reads it). */
static CMS_ContentInfo *parse_sig(const uint8_t *der, size_t len,
				  CMS_SignerInfo **si)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	STACK_OF(CMS_SignerInfo) *sis = cms ? CMS_get0_SignerInfos(cms) : NULL;

	if (!cms || p != der + len || !sis || sk_CMS_SignerInfo_num(sis) != 1) {
		CMS_ContentInfo_free(cms);
		return NULL;
	}
	*si = sk_CMS_SignerInfo_value(sis, 0);
	return cms;
}

int tsa_sig_stamped(const uint8_t *sig, size_t len, time_t *gen_time)
{
	CMS_SignerInfo *si;
	CMS_ContentInfo *cms = parse_sig(sig, len, &si), *tc = NULL;
	TS_TST_INFO *tst = NULL;
	const unsigned char *p;
	const uint8_t *tok;
	long tok_len;
	struct tm tm;
	int ret = -EBADMSG;

	*gen_time = 0;
	if (!cms || tsa_unsigned_attrs(si, &tok, &tok_len) != VR_OK)
		goto out;
	ret = 0;
	if (!tok)
		goto out;
	ret = -EBADMSG;
	p = tok;
	tc = d2i_CMS_ContentInfo(NULL, &p, tok_len);
	if (tc && CMS_get0_content(tc) && *CMS_get0_content(tc)) {
		ASN1_OCTET_STRING *c = *CMS_get0_content(tc);

		p = ASN1_STRING_get0_data(c);
		tst = d2i_TS_TST_INFO(NULL, &p, ASN1_STRING_length(c));
	}
	if (tst && ASN1_TIME_to_tm(TS_TST_INFO_get_time(tst), &tm)) {
		*gen_time = timegm(&tm);
		ret = 1;
	}
out:
	TS_TST_INFO_free(tst);
	CMS_ContentInfo_free(tc);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ret;
}

/* TimeStampReq v1: SHA-256 of the signature value, a nonce, certReq. */
static int make_request(struct sfs_tsa *t, const ASN1_OCTET_STRING *sigval,
			struct xfer *x)
{
	TS_REQ *req = TS_REQ_new();
	TS_MSG_IMPRINT *mi = TS_MSG_IMPRINT_new();
	X509_ALGOR *alg = X509_ALGOR_new();
	ASN1_INTEGER *nonce = ASN1_INTEGER_new();
	ASN1_OBJECT *pol = t->policy ? OBJ_txt2obj(t->policy, 1) : NULL;
	unsigned char md[32];
	unsigned int mdlen = 0;
	int ok;

	x->req = NULL;
	ok = req && mi && alg && nonce && (!t->policy || pol) &&
	     RAND_bytes((unsigned char *)&x->nonce, sizeof(x->nonce)) == 1 &&
	     EVP_Digest(ASN1_STRING_get0_data(sigval),
			(size_t)ASN1_STRING_length(sigval), md, &mdlen,
			EVP_sha256(), NULL) &&
	     X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) &&
	     TS_MSG_IMPRINT_set_algo(mi, alg) &&
	     TS_MSG_IMPRINT_set_msg(mi, md, (int)mdlen) &&
	     TS_REQ_set_version(req, 1) && TS_REQ_set_msg_imprint(req, mi);
	x->nonce >>= 1; /* a positive INTEGER of at most 63 bits */
	ok = ok && ASN1_INTEGER_set_uint64(nonce, x->nonce) &&
	     TS_REQ_set_nonce(req, nonce) && TS_REQ_set_cert_req(req, 1) &&
	     (!pol || TS_REQ_set_policy_id(req, pol));
	if (ok)
		x->req_len = i2d_TS_REQ(req, &x->req);
	ASN1_OBJECT_free(pol);
	ASN1_INTEGER_free(nonce);
	X509_ALGOR_free(alg);
	TS_MSG_IMPRINT_free(mi);
	TS_REQ_free(req);
	return ok && x->req_len > 0 ? 0 : -ENOMEM;
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
	struct xfer *x = arg;
	size_t len = sz * n;
	uint8_t *grown;

	if (x->len + len > TSA_RESPONSE_MAX) {
		x->too_big = true;
		return 0; /* aborts the transfer */
	}
	grown = realloc(x->body, x->len + len);
	if (!grown)
		return 0;
	memcpy(grown + x->len, p, len);
	x->body = grown;
	x->len += len;
	return len;
}

static int xfer_start(struct sfs_tsa *t, struct xfer *x)
{
	x->easy = curl_easy_init();
	x->hdr = curl_slist_append(NULL,
				   "Content-Type: application/timestamp-query");
	x->hdr = x->hdr ? curl_slist_append(
			      x->hdr, "Accept: application/timestamp-reply")
			: NULL;
	if (!x->easy || !x->hdr)
		return -ENOMEM;
	curl_easy_setopt(x->easy, CURLOPT_URL, t->url);
	curl_easy_setopt(x->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->req);
	curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)x->req_len);
	curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdr);
	curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)t->connect_ms);
	curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
	curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	return curl_multi_add_handle(t->multi, x->easy) == CURLM_OK ? 0 : -EIO;
}

static void xfer_end(struct sfs_tsa *t, struct xfer *x)
{
	if (x->easy) {
		curl_multi_remove_handle(t->multi, x->easy);
		curl_easy_cleanup(x->easy);
	}
	curl_slist_free_all(x->hdr);
	OPENSSL_free(x->req);
	free(x->body);
	memset(x, 0, sizeof(*x));
}

/* The token from a granted reply whose nonce is ours; DER in *tok. */
static int reply_token(struct xfer *x, uint8_t **tok, int *tok_len)
{
	const unsigned char *p = x->body;
	TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)x->len);
	TS_STATUS_INFO *si = resp ? TS_RESP_get_status_info(resp) : NULL;
	TS_TST_INFO *tst = resp ? TS_RESP_get_tst_info(resp) : NULL;
	const ASN1_INTEGER *n = tst ? TS_TST_INFO_get_nonce(tst) : NULL;
	long status =
	    si ? ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si)) : -1;
	uint64_t got = 0;
	int ret = -EBADMSG;
	char s[16];

	*tok = NULL;
	if (!resp || p != x->body + x->len) {
		job_fail(x->job, ret, "%s", "reply is not a TimeStampResp");
	} else if (status != 0 && status != 1) {
		snprintf(s, sizeof(s), "%ld", status);
		ret = job_fail(x->job, -EPROTO, "TSA refused: status %s", s);
	} else if (!tst || !TS_RESP_get_token(resp)) {
		job_fail(x->job, ret, "%s", "granted reply without a token");
	} else if (!n || !ASN1_INTEGER_get_uint64(&got, n) || got != x->nonce) {
		/* Not the answer to this request (a replayed reply). */
		job_fail(x->job, ret, "%s", "reply's nonce is not ours");
	} else {
		*tok_len = i2d_PKCS7(TS_RESP_get_token(resp), tok);
		ret = *tok_len > 0 ? 0 : -ENOMEM;
	}
	TS_RESP_free(resp);
	return ret;
}

/* Check the token as a verifier will, then add it to the SignerInfo. */
static void embed(struct sfs_tsa *t, struct xfer *x)
{
	struct tsa_job *j = x->job;
	CMS_SignerInfo *si;
	CMS_ContentInfo *cms = parse_sig(j->sig, j->sig_len, &si);
	unsigned char *out = NULL;
	uint8_t *tok = NULL;
	enum verify_reason r;
	int tok_len = 0, n;

	if (!cms || reply_token(x, &tok, &tok_len))
		goto out;
	r = tsa_check_token(t->store, t->policy, tok, tok_len,
			    CMS_SignerInfo_get0_signature(si), &j->stamp);
	if (r) {
		job_fail(j, -EBADMSG, "token refused: %s",
			 verify_reason_name(r));
		goto out;
	}
	if (!CMS_unsigned_add1_attr_by_OBJ(si, tsa_oid_token(), V_ASN1_SEQUENCE,
					   tok, tok_len) ||
	    (n = i2d_CMS_ContentInfo(cms, &out)) <= 0 ||
	    !(j->out = malloc((size_t)n))) {
		job_fail(j, -ENOMEM, "%s", "out of memory");
		goto out;
	}
	memcpy(j->out, out, (size_t)n);
	j->out_len = (size_t)n;
	j->err = 0;
	j->why[0] = '\0';
out:
	OPENSSL_free(out);
	OPENSSL_free(tok);
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
}

static void xfer_done(struct sfs_tsa *t, struct xfer *x, CURLcode rc)
{
	long code = 0;
	char s[32];

	curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(s, sizeof(s), "%u ms", t->timeout_ms);
		job_fail(x->job, -ETIMEDOUT, "TSA timed out after %s", s);
	} else if (rc == CURLE_COULDNT_CONNECT ||
		   rc == CURLE_COULDNT_RESOLVE_HOST) {
		job_fail(x->job, -ECONNREFUSED, "cannot reach the TSA: %s",
			 curl_easy_strerror(rc));
	} else if (x->too_big) {
		job_fail(x->job, -EBADMSG, "%s", "reply larger than 64 KiB");
	} else if (rc != CURLE_OK) {
		job_fail(x->job, -EIO, "TSA request failed: %s",
			 curl_easy_strerror(rc));
	} else if (code != 200) {
		snprintf(s, sizeof(s), "%ld", code);
		job_fail(x->job, -EPROTO, "TSA answered HTTP %s", s);
	} else {
		embed(t, x);
	}
}

/* The next job that needs a request, started; false when none is left. */
static bool start_next(struct sfs_tsa *t, struct tsa_job *jobs, size_t n,
		       size_t *next, struct xfer *x)
{
	while (*next < n) {
		struct tsa_job *j = &jobs[(*next)++];
		CMS_SignerInfo *si;
		CMS_ContentInfo *cms = parse_sig(j->sig, j->sig_len, &si);
		const uint8_t *tok = NULL;
		long tl;

		j->err = 0;
		if (!cms || tsa_unsigned_attrs(si, &tok, &tl) != VR_OK)
			job_fail(j, -EBADMSG, "%s", "not a signature");
		else if (tok)
			job_fail(j, -EEXIST, "%s", "already timestamped");
		else if (make_request(t, CMS_SignerInfo_get0_signature(si), x))
			job_fail(j, -ENOMEM, "%s", "out of memory");
		CMS_ContentInfo_free(cms);
		ERR_clear_error();
		if (j->err)
			continue;
		x->job = j;
		if (xfer_start(t, x) == 0)
			return true;
		job_fail(j, -EIO, "%s", "cannot start a request");
		xfer_end(t, x);
	}
	return false;
}

/* Finished transfers: their results, and new ones in their slots. */
static size_t reap(struct sfs_tsa *t, struct tsa_job *jobs, size_t n,
		   size_t *next)
{
	size_t done = 0;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(t->multi, &left))) {
		struct xfer *x = NULL;

		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &x);
		xfer_done(t, x, m->data.result);
		xfer_end(t, x);
		done++;
		if (start_next(t, jobs, n, next, x))
			done--;
	}
	return done;
}

void tsa_stamp_jobs(struct sfs_tsa *t, struct tsa_job *jobs, size_t n,
		    const atomic_bool *stop)
{
	struct xfer *slots = calloc(t->parallel, sizeof(*slots));
	size_t next = 0, active = 0;
	int running = 0;

	for (size_t i = 0; i < n; i++) {
		jobs[i].err = -ECANCELED;
		snprintf(jobs[i].why, sizeof(jobs[i].why), "not tried");
	}
	if (!slots)
		return;
	pthread_mutex_lock(&t->lock);
	for (size_t k = 0; k < t->parallel; k++) {
		if (!start_next(t, jobs, n, &next, &slots[k]))
			break;
		active++;
	}
	while (active > 0 && !(stop && atomic_load(stop))) {
		curl_multi_perform(t->multi, &running);
		active -= reap(t, jobs, n, &next);
		if (active > 0)
			curl_multi_poll(t->multi, NULL, 0, 100, NULL);
	}
	/* Stopped: what is still in flight is abandoned, not waited for. */
	for (size_t k = 0; k < t->parallel; k++) {
		if (slots[k].easy) {
			job_fail(slots[k].job, -ECANCELED, "%s", "stopped");
			xfer_end(t, &slots[k]);
		}
	}
	pthread_mutex_unlock(&t->lock);
	free(slots);
}
