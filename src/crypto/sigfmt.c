// SPDX-License-Identifier: Apache-2.0
/* Signature format v1: the signetfs attributes and the CMS SignedData. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "signetfs/sigbuild.h"

/* signetfs-path ::= SEQUENCE { version INTEGER, path OCTET STRING } */
typedef struct {
	ASN1_INTEGER *version;
	ASN1_OCTET_STRING *path;
} SFS_PATH;

ASN1_SEQUENCE(SFS_PATH) =
    {
	ASN1_SIMPLE(SFS_PATH, version, ASN1_INTEGER),
	ASN1_SIMPLE(SFS_PATH, path, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(SFS_PATH)

	IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(SFS_PATH)
	    IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(SFS_PATH)

    /*
     * signetfs-writer ::= SEQUENCE { version INTEGER, uid INTEGER, gid INTEGER,
     *   user OCTET STRING, exe OCTET STRING, host OCTET STRING,
     *   mountId OCTET STRING }
     * OCTET STRINGs: user names and paths are bytes, not necessarily UTF-8.
     */
    typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *uid;
	ASN1_INTEGER *gid;
	ASN1_OCTET_STRING *user;
	ASN1_OCTET_STRING *exe;
	ASN1_OCTET_STRING *host;
	ASN1_OCTET_STRING *mount_id;
} SFS_WRITER;

ASN1_SEQUENCE(SFS_WRITER) =
    {
	ASN1_SIMPLE(SFS_WRITER, version, ASN1_INTEGER),
	ASN1_SIMPLE(SFS_WRITER, uid, ASN1_INTEGER),
	ASN1_SIMPLE(SFS_WRITER, gid, ASN1_INTEGER),
	ASN1_SIMPLE(SFS_WRITER, user, ASN1_OCTET_STRING),
	ASN1_SIMPLE(SFS_WRITER, exe, ASN1_OCTET_STRING),
	ASN1_SIMPLE(SFS_WRITER, host, ASN1_OCTET_STRING),
	ASN1_SIMPLE(SFS_WRITER, mount_id, ASN1_OCTET_STRING),
} static_ASN1_SEQUENCE_END(SFS_WRITER)

	IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(SFS_WRITER)
	    IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(SFS_WRITER)

		static ASN1_OBJECT
    * oid_path,
    *oid_writer, *oid_checkpoint;
static ASN1_OBJECT *oid_version;
static pthread_once_t oid_once = PTHREAD_ONCE_INIT;

static void oids_init(void)
{
	oid_path = OBJ_txt2obj(SIG_OID_PATH, 1);
	oid_writer = OBJ_txt2obj(SIG_OID_WRITER, 1);
	oid_checkpoint = OBJ_txt2obj(SIG_OID_CHECKPOINT, 1);
	oid_version = OBJ_txt2obj(SIG_OID_VERSION, 1);
}

const ASN1_OBJECT *sig_oid_path(void)
{
	pthread_once(&oid_once, oids_init);
	return oid_path;
}

const ASN1_OBJECT *sig_oid_writer(void)
{
	pthread_once(&oid_once, oids_init);
	return oid_writer;
}

const ASN1_OBJECT *sig_oid_checkpoint(void)
{
	pthread_once(&oid_once, oids_init);
	return oid_checkpoint;
}

const ASN1_OBJECT *sig_oid_version(void)
{
	pthread_once(&oid_once, oids_init);
	return oid_version;
}

int sig_path_encode(long version, const char *path, size_t len, uint8_t **der,
		    int *der_len)
{
	SFS_PATH *p = SFS_PATH_new();
	int ret = -ENOMEM;

	*der = NULL;
	if (p && ASN1_INTEGER_set(p->version, version) &&
	    ASN1_OCTET_STRING_set(p->path, (const unsigned char *)path,
				  (int)len)) {
		*der_len = i2d_SFS_PATH(p, der);
		ret = *der_len > 0 ? 0 : -ENOMEM;
	}
	SFS_PATH_free(p);
	return ret;
}

/* Decode and insist on DER (re-encodes identically), nothing after it. */
#define DECODE_STRICT(type, der, len, out)                                     \
	do {                                                                   \
		const unsigned char *p_ = (der);                               \
		unsigned char *re_ = NULL;                                     \
		out = d2i_##type(NULL, &p_, (len));                            \
		if (out &&                                                     \
		    (p_ != (der) + (len) || i2d_##type(out, &re_) != (len) ||  \
		     memcmp(re_, (der), (size_t)(len)) != 0)) {                \
			type##_free(out);                                      \
			out = NULL;                                            \
		}                                                              \
		OPENSSL_free(re_);                                             \
	} while (0)

int sig_path_decode(const uint8_t *der, long len, char **path, size_t *path_len)
{
	SFS_PATH *p;
	int ret = -EBADMSG;
	int64_t v;

	DECODE_STRICT(SFS_PATH, der, len, p);
	if (!p)
		return -EBADMSG;
	if (!ASN1_INTEGER_get_int64(&v, p->version))
		goto out;
	if (v != SIG_PATH_VERSION) {
		ret = -EPROTO;
		goto out;
	}
	*path_len = (size_t)ASN1_STRING_length(p->path);
	*path = malloc(*path_len + 1);
	if (!*path) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(*path, ASN1_STRING_get0_data(p->path), *path_len);
	(*path)[*path_len] = '\0';
	ret = 0;
out:
	SFS_PATH_free(p);
	return ret;
}

static int set_str(ASN1_OCTET_STRING *s, const char *v)
{
	return ASN1_OCTET_STRING_set(s, (const unsigned char *)v,
				     (int)strlen(v));
}

int sig_writer_encode(const struct sfs_writer *w, uint8_t **der, int *der_len)
{
	SFS_WRITER *x = SFS_WRITER_new();
	int ret = -ENOMEM;

	*der = NULL;
	if (x && ASN1_INTEGER_set(x->version, SIG_WRITER_VERSION) &&
	    ASN1_INTEGER_set_uint64(x->uid, w->uid) &&
	    ASN1_INTEGER_set_uint64(x->gid, w->gid) &&
	    set_str(x->user, w->user) && set_str(x->exe, w->exe) &&
	    set_str(x->host, w->host) && set_str(x->mount_id, w->mount_id)) {
		*der_len = i2d_SFS_WRITER(x, der);
		ret = *der_len > 0 ? 0 : -ENOMEM;
	}
	SFS_WRITER_free(x);
	return ret;
}

static void get_str(const ASN1_OCTET_STRING *s, char *out, size_t len)
{
	size_t n = (size_t)ASN1_STRING_length(s);

	if (n >= len)
		n = len - 1;
	memcpy(out, ASN1_STRING_get0_data(s), n);
	out[n] = '\0';
}

int sig_writer_decode(const uint8_t *der, long len, struct sfs_writer *w)
{
	SFS_WRITER *x;
	uint64_t uid, gid;
	int64_t v;
	int ret = -EBADMSG;

	DECODE_STRICT(SFS_WRITER, der, len, x);
	if (!x)
		return -EBADMSG;
	if (!ASN1_INTEGER_get_int64(&v, x->version))
		goto out;
	if (v != SIG_WRITER_VERSION) {
		ret = -EPROTO;
		goto out;
	}
	if (!ASN1_INTEGER_get_uint64(&uid, x->uid) ||
	    !ASN1_INTEGER_get_uint64(&gid, x->gid) || uid > UINT32_MAX ||
	    gid > UINT32_MAX)
		goto out;
	memset(w, 0, sizeof(*w));
	w->uid = (uint32_t)uid;
	w->gid = (uint32_t)gid;
	w->pid = -1;
	get_str(x->user, w->user, sizeof(w->user));
	get_str(x->exe, w->exe, sizeof(w->exe));
	get_str(x->host, w->host, sizeof(w->host));
	get_str(x->mount_id, w->mount_id, sizeof(w->mount_id));
	ret = 0;
out:
	SFS_WRITER_free(x);
	return ret;
}

static int add_seq_attr(CMS_SignerInfo *si, const ASN1_OBJECT *oid,
			const uint8_t *der, int len)
{
	/* V_ASN1_SEQUENCE: the bytes are the complete DER of the value. */
	return CMS_signed_add1_attr_by_OBJ(si, oid, V_ASN1_SEQUENCE, der, len);
}

/* signetfs-version, and its test twins (sigbuild.h). */
static int add_version_attr(CMS_SignerInfo *si, const struct sig_build *b)
{
	X509_ATTRIBUTE *a;
	uint8_t *der = NULL;
	int len = 0, ok;

	if (b->flags & SIG_BUILD_VERSION_RAW)
		return add_seq_attr(si, sig_oid_version(), b->version_der,
				    b->version_der_len);
	if (sig_version_encode(SIG_VERSION_VERSION, b->file_version, &der,
			       &len))
		return 0;
	ok = add_seq_attr(si, sig_oid_version(), der, len);
	if (ok && (b->flags & SIG_BUILD_VERSION_TWICE))
		ok = add_seq_attr(si, sig_oid_version(), der, len);
	if (ok && (b->flags & SIG_BUILD_VERSION_VALUES)) {
		a = CMS_signed_get_attr(
		    si, CMS_signed_get_attr_by_OBJ(si, sig_oid_version(), -1));
		ok =
		    a && X509_ATTRIBUTE_set1_data(a, V_ASN1_SEQUENCE, der, len);
	}
	OPENSSL_free(der);
	return ok;
}

static int add_attrs(CMS_SignerInfo *si, const struct sig_build *b)
{
	uint8_t *der = NULL;
	int len = 0, ok;

	if (!CMS_signed_add1_attr_by_NID(si, NID_pkcs9_contentType,
					 V_ASN1_OBJECT,
					 OBJ_nid2obj(NID_pkcs7_data), -1) ||
	    !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_messageDigest,
					 V_ASN1_OCTET_STRING, b->digest->bytes,
					 (int)b->digest->len))
		return 0;
	if (!(b->flags & SIG_BUILD_NO_PATH)) {
		long v = b->flags & SIG_BUILD_PATH_V2 ? 2 : SIG_PATH_VERSION;

		if (sig_path_encode(v, b->path, b->path_len, &der, &len))
			return 0;
		ok = add_seq_attr(si, sig_oid_path(), der, len);
		OPENSSL_free(der);
		if (!ok)
			return 0;
	}
	if (b->writer) {
		if (sig_writer_encode(b->writer, &der, &len))
			return 0;
		ok = add_seq_attr(si, sig_oid_writer(), der, len);
		OPENSSL_free(der);
		if (!ok)
			return 0;
	}
	return b->file_version || (b->flags & SIG_BUILD_VERSION_RAW)
		   ? add_version_attr(si, b)
		   : 1;
}

CMS_ContentInfo *sig_build_cms(const struct sig_build *b)
{
	const unsigned int sflags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
	unsigned int aflags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	const EVP_MD *md = sfs_md_evp(b->digest->alg);

	if (!md || b->digest->len != (size_t)EVP_MD_get_size(md))
		return NULL;
	if (!(b->flags & SIG_BUILD_NO_ESS))
		aflags |= CMS_CADES; /* ESS signingCertificateV2 */
	if (b->flags & SIG_BUILD_NO_CERTS)
		aflags |= CMS_NOCERTS;
	cms = CMS_sign(NULL, NULL, NULL, NULL, sflags);
	if (!cms)
		return NULL;
	si = CMS_add1_signer(cms, b->cert, b->key, md, aflags);
	if (!si)
		goto err;
	for (int i = 0; b->chain && !(b->flags & SIG_BUILD_NO_CERTS) &&
			i < sk_X509_num(b->chain);
	     i++)
		if (!CMS_add1_cert(cms, sk_X509_value(b->chain, i)))
			goto err;
	/*
	 * The content was hashed by the caller (while it was written, in the
	 * outbox), so messageDigest is set here and only the attributes are
	 * signed: CMS_SignerInfo_sign() adds signingTime and signs.
	 */
	if (!add_attrs(si, b) || !CMS_SignerInfo_sign(si))
		goto err;
	return cms;
err:
	CMS_ContentInfo_free(cms);
	return NULL;
}

static int cms_der(CMS_ContentInfo *cms, uint8_t **der, size_t *len)
{
	unsigned char *out = NULL;
	int n;

	if (!cms)
		return -EIO;
	n = i2d_CMS_ContentInfo(cms, &out);
	CMS_ContentInfo_free(cms);
	if (n <= 0)
		return -EIO;
	*der = malloc((size_t)n);
	if (!*der) {
		OPENSSL_free(out);
		return -ENOMEM;
	}
	memcpy(*der, out, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(out);
	return 0;
}

int sig_build_der(const struct sig_build *b, uint8_t **der, size_t *len)
{
	return cms_der(sig_build_cms(b), der, len);
}

/*
 * Unlike a file, whose digest the outbox computes while it is written, a
 * checkpoint's content is a few hundred bytes in memory: CMS_final()
 * hashes it, adds contentType (= eContentType) and messageDigest, signs,
 * and sets SignedData version 3 as RFC 5652 5.1 wants for a content type
 * other than id-data.
 */
CMS_ContentInfo *sig_build_content_cms(const struct sig_build *b,
				       const void *content, size_t len)
{
	const unsigned int sflags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
	unsigned int aflags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	uint8_t *der = NULL;
	BIO *in = NULL;
	int n = 0;

	if (!(b->flags & SIG_BUILD_NO_ESS))
		aflags |= CMS_CADES;
	if (b->flags & SIG_BUILD_NO_CERTS)
		aflags |= CMS_NOCERTS;
	cms = CMS_sign(NULL, NULL, NULL, NULL, sflags);
	if (!cms ||
	    (b->content_type && !CMS_set1_eContentType(cms, b->content_type)))
		goto err;
	si = CMS_add1_signer(cms, b->cert, b->key, EVP_sha256(), aflags);
	if (!si)
		goto err;
	for (int i = 0; b->chain && !(b->flags & SIG_BUILD_NO_CERTS) &&
			i < sk_X509_num(b->chain);
	     i++)
		if (!CMS_add1_cert(cms, sk_X509_value(b->chain, i)))
			goto err;
	/* Test hook only: a path makes it look like a file signature. */
	if (b->path && (sig_path_encode(SIG_PATH_VERSION, b->path, b->path_len,
					&der, &n) ||
			!add_seq_attr(si, sig_oid_path(), der, n)))
		goto err;
	in = BIO_new_mem_buf(content, (int)len);
	if (!in || !CMS_final(cms, in, NULL, CMS_DETACHED | CMS_BINARY))
		goto err;
	BIO_free(in);
	OPENSSL_free(der);
	return cms;
err:
	BIO_free(in);
	OPENSSL_free(der);
	CMS_ContentInfo_free(cms);
	return NULL;
}

int sig_build_content_der(const struct sig_build *b, const void *content,
			  size_t len, uint8_t **der, size_t *der_len)
{
	return cms_der(sig_build_content_cms(b, content, len), der, der_len);
}

/*
 * signetfs-version ::= SEQUENCE { version INTEGER, fileVersion INTEGER }
 * (docs/signature-format.md). Declared here, at the end, so that the
 * format's older types above stay as they were. (clang-format cannot lay
 * out OpenSSL's ASN.1 template macros: it is off for them.)
 */
/* clang-format off */
typedef struct {
	ASN1_INTEGER *version;
	ASN1_INTEGER *file_version;
} SFS_VERSION;

ASN1_SEQUENCE(SFS_VERSION) = {
	ASN1_SIMPLE(SFS_VERSION, version, ASN1_INTEGER),
	ASN1_SIMPLE(SFS_VERSION, file_version, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(SFS_VERSION)
IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(SFS_VERSION)
IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(SFS_VERSION)

int sig_version_encode(long version, uint64_t file_version, uint8_t **der,
		       int *der_len)
/* clang-format on */
{
	SFS_VERSION *x = SFS_VERSION_new();
	int ret = -ENOMEM;

	*der = NULL;
	if (x && ASN1_INTEGER_set(x->version, version) &&
	    ASN1_INTEGER_set_uint64(x->file_version, file_version)) {
		*der_len = i2d_SFS_VERSION(x, der);
		ret = *der_len > 0 ? 0 : -ENOMEM;
	}
	SFS_VERSION_free(x);
	return ret;
}

int sig_version_decode(const uint8_t *der, long len, uint64_t *file_version)
{
	SFS_VERSION *x;
	int ret = -EBADMSG;
	int64_t v, fv;

	DECODE_STRICT(SFS_VERSION, der, len, x);
	if (!x)
		return -EBADMSG;
	if (!ASN1_INTEGER_get_int64(&v, x->version))
		goto out;
	if (v != SIG_VERSION_VERSION) {
		ret = -EPROTO;
		goto out;
	}
	/* Positive and within int64: a negative one has no meaning. */
	if (!ASN1_INTEGER_get_int64(&fv, x->file_version) || fv < 1)
		goto out;
	*file_version = (uint64_t)fv;
	ret = 0;
out:
	SFS_VERSION_free(x);
	return ret;
}

int sig_peek_version(const uint8_t *der, size_t len, uint64_t *file_version)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	STACK_OF(CMS_SignerInfo) *sis = cms ? CMS_get0_SignerInfos(cms) : NULL;
	CMS_SignerInfo *si;
	ASN1_TYPE *t = NULL;
	int pos, ret = cms ? -ENOENT : -EBADMSG;

	*file_version = 0;
	if (sis && sk_CMS_SignerInfo_num(sis) == 1) {
		si = sk_CMS_SignerInfo_value(sis, 0);
		pos = CMS_signed_get_attr_by_OBJ(si, sig_oid_version(), -1);
		if (pos >= 0)
			t = X509_ATTRIBUTE_get0_type(
			    CMS_signed_get_attr(si, pos), 0);
		if (pos >= 0 && (!t || ASN1_TYPE_get(t) != V_ASN1_SEQUENCE))
			ret = -EBADMSG;
		else if (t)
			ret = sig_version_decode(
			    ASN1_STRING_get0_data(t->value.sequence),
			    ASN1_STRING_length(t->value.sequence),
			    file_version);
	}
	CMS_ContentInfo_free(cms);
	ERR_clear_error();
	return ret;
}

void sig_info_clear(struct sig_info *info)
{
	free(info->path);
	memset(info, 0, sizeof(*info));
}
