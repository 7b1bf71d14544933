// SPDX-License-Identifier: Apache-2.0
/* `signetfs init` and `init --join`: files, refusals, two keys. */
#include "fixture.h"

static X509 *load_cert(const char *dir, const char *name)
{
	char p[256];
	FILE *fp;
	X509 *x;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fp = fopen(p, "r");
	assert_non_null(fp);
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static mode_t mode_of(const char *dir, const char *name)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s%s%s", dir, *name ? "/" : "", name);
	assert_int_equal(lstat(p, &st), 0);
	return st.st_mode & 07777;
}

/* Does the chain signer <- ca verify (any purpose; EKU checked apart)? */
static bool chains_to(X509 *signer, X509 *ca)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	bool ok = st && ctx && X509_STORE_add_cert(st, ca) == 1 &&
		  X509_STORE_CTX_init(ctx, st, signer, NULL) == 1 &&
		  X509_verify_cert(ctx) == 1;

	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return ok;
}

static void test_init_files(void **state)
{
	struct fx *f = *state;
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	char p[256], out[4096], other[128];
	X509 *ca = load_cert(f->dir, "ca.pem");
	X509 *signer = load_cert(f->dir, "signer.pem"), *other_ca;
	X509_CRL *crl;
	struct hsm *h;
	time_t t;
	FILE *fp;

	assert_int_equal(mode_of(f->dir, ""), 0700);
	assert_int_equal(mode_of(f->dir, "pin"), 0600);
	assert_int_equal(mode_of(f->dir, "ca.key"), 0600);
	assert_int_equal(mode_of(f->dir, "tokens"), 0700);
	/* Signer: code signing only, not a CA, chains to ca.pem. */
	assert_true(X509_get_extension_flags(signer) & EXFLAG_XKUSAGE);
	assert_int_equal(X509_get_extended_key_usage(signer), XKU_CODE_SIGN);
	assert_int_equal(X509_get_key_usage(signer), KU_DIGITAL_SIGNATURE);
	assert_int_equal(X509_check_ca(signer), 0);
	assert_int_not_equal(X509_check_ca(ca), 0);
	assert_true(chains_to(signer, ca));
	/* Its twin: another init's CA does not vouch for this signer. */
	snprintf(other, sizeof(other), "%s/other", f->root);
	assert_int_equal(init_dir(other, NULL, NULL, NULL, out, sizeof(out)),
			 0);
	other_ca = load_cert(other, "ca.pem");
	assert_false(chains_to(signer, other_ca));
	X509_free(other_ca);
	/* The empty CRL is the CA's. */
	snprintf(p, sizeof(p), "%s/crl.pem", f->dir);
	fp = fopen(p, "r");
	assert_non_null(fp);
	crl = PEM_read_X509_CRL(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(crl);
	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ca)), 1);
	/* An empty CRL has no revokedCertificates at all. */
	assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0);
	t = time(NULL) + 29 * 86400;
	assert_true(X509_cmp_time(X509_CRL_get0_nextUpdate(crl), &t) > 0);
	t += 2 * 86400;
	assert_true(X509_cmp_time(X509_CRL_get0_nextUpdate(crl), &t) < 0);
	X509_CRL_free(crl);
	/* The config parses, and opening its key gives the cert's key. */
	snprintf(p, sizeof(p), "%s/signetfs.conf", f->dir);
	if (config_load(p, &cfg, &err))
		fail_msg("config_load: %s", err.msg);
	assert_string_equal(cfg->key.key_uri, KEY_URI);
	assert_string_equal(cfg->key.pin_file, f->pin);
	h = open_ok(
	    &(struct hsm_config){.module = cfg->key.module,
				 .key_uri = cfg->key.key_uri,
				 .pin_file = cfg->key.pin_file,
				 .softhsm_conf = cfg->key.softhsm_conf});
	assert_int_equal(
	    EVP_PKEY_eq(hsm_public_key(h), X509_get0_pubkey(signer)), 1);
	done(h);
	config_free(cfg);
	X509_free(ca);
	X509_free(signer);
}

static void test_init_refuses(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char out[4096], keep[200];
	X509 *before = load_cert(f->dir, "signer.pem"), *after;

	assert_int_equal(init_dir(f->dir, NULL, NULL, NULL, out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "--force"));
	after = load_cert(f->dir, "signer.pem");
	assert_int_equal(X509_cmp(before, after), 0);
	X509_free(after);
	/* --force replaces what init made and leaves the rest alone. */
	snprintf(keep, sizeof(keep), "%s/audit.log", f->dir);
	write_text(keep, "keep me\n", 0600);
	assert_int_equal(
	    init_dir(f->dir, "--force", NULL, NULL, out, sizeof(out)), 0);
	assert_int_equal(access(keep, F_OK), 0);
	after = load_cert(f->dir, "signer.pem");
	assert_int_not_equal(X509_cmp(before, after), 0);
	assert_non_null(strstr(out, "sha256"));
	X509_free(after);
	X509_free(before);
	/* The new token works with the new PIN. */
	done(open_ok(&c));
}

static void test_init_usage(void **state)
{
	struct fx *f = *state;
	char out[4096], d[200];

	snprintf(d, sizeof(d), "%s/u", f->root);
	assert_int_equal(init_dir("--help", NULL, NULL, NULL, out, sizeof(out)),
			 0);
	assert_non_null(strstr(out, "usage: signetfs init"));
	assert_int_equal(
	    init_dir(d, "--key-type", "ed448", NULL, out, sizeof(out)),
	    SFS_EXIT_USAGE);
	assert_int_equal(
	    init_dir(d, "--label",
		     "a-label-much-longer-than-32-bytes-is-refused", NULL, out,
		     sizeof(out)),
	    SFS_EXIT_USAGE);
	assert_int_equal(
	    init_dir(d, "--module", "/nonexistent.so", NULL, out, sizeof(out)),
	    SFS_EXIT_TOKEN);
	assert_non_null(strstr(out, "/nonexistent.so"));
	/* A failed init leaves no half-made directory behind. */
	assert_int_equal(access(d, F_OK), -1);
}

static void test_init_rsa(void **state)
{
	struct fx *f = *state;
	char out[4096], d[200], pin[220], conf[220];
	struct hsm *h;

	snprintf(d, sizeof(d), "%s/rsa", f->root);
	assert_int_equal(init_dir(d, "--key-type", "rsa-3072", "--label=r s",
				  out, sizeof(out)),
			 0);
	snprintf(pin, sizeof(pin), "%s/pin", d);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", d);
	h = open_ok(&(struct hsm_config){
	    .module = MODULE,
	    .key_uri = "pkcs11:token=r%20s;object=signing-key",
	    .pin_file = pin,
	    .softhsm_conf = conf});
	assert_int_equal(EVP_PKEY_get_base_id(hsm_public_key(h)), EVP_PKEY_RSA);
	assert_int_equal(EVP_PKEY_get_bits(hsm_public_key(h)), 3072);
	sign_verify(h, "rsa");
	done(h);
}

/* ---- init --join: two tokens in one store, two keys in one process ---- */

/* signetfs init DIR --join EXISTING --label LABEL */
static int init_join(const char *dir, const char *existing, const char *label,
		     char *out, size_t outlen)
{
	const char *argv[] = {"signetfs", "init",    dir,   "--join",
			      existing,	  "--label", label, NULL};

	return run(argv, out, outlen);
}

static struct sfs_config *load_conf(const char *dir)
{
	struct sfs_config *cfg = NULL;
	struct sfs_error err = {0};
	char p[256];

	snprintf(p, sizeof(p), "%s/signetfs.conf", dir);
	if (config_load(p, &cfg, &err))
		fail_msg("config_load %s: %s", p, err.msg);
	return cfg;
}

static struct sfs_signer *signer_ok(const struct sfs_config *cfg)
{
	struct sfs_error err = {0};
	struct sfs_signer *s = NULL;

	if (signer_open(&cfg->key, &s, &err))
		fail_msg("signer_open %s: %s", cfg->key.key_uri, err.msg);
	for (size_t i = 0; i < ARRAY_SIZE(live_signers); i++) {
		if (!live_signers[i]) {
			live_signers[i] = s;
			return s;
		}
	}
	fail_msg("too many open signers");
	return NULL;
}

static void signer_done(struct sfs_signer *s)
{
	for (size_t i = 0; i < ARRAY_SIZE(live_signers); i++)
		if (live_signers[i] == s)
			live_signers[i] = NULL;
	signer_close(s);
}

/*
 * A v1 signature of CONTENT at PATH by S, checked against the trust
 * anchors in CAFILE with PINS (n_pins 0: any trusted signer). On VR_OK
 * the signer's fingerprint in the signature must be S's.
 */
static enum verify_reason sign_check(struct sfs_signer *s, const char *cafile,
				     const char *path, const char *content,
				     const uint8_t (*pins)[32], size_t n_pins,
				     bool flip)
{
	struct sfs_trust_config tc = {.cafile = (char *)cafile};
	struct verify_policy pol = {path, strlen(path), pins, n_pins};
	struct sfs_digest d = {.alg = SFS_MD_SHA256, .len = 32};
	struct sfs_verifier *v = NULL;
	struct sfs_error err = {0};
	struct sfs_writer w;
	struct sig_info info;
	enum verify_reason r;
	uint8_t *der = NULL;
	size_t len = 0;
	char hex[65];

	memset(&info, 0, sizeof(info));
	sfs_writer_self(&w);
	sfs_sha256(content, strlen(content), d.bytes);
	if (signer_sign(s, &d, path, strlen(path), &w, &der, &len, &err))
		fail_msg("signer_sign: %s", err.msg);
	if (flip)
		der[len - 8] ^= 1;
	if (verifier_new(&tc, &v, &err))
		fail_msg("verifier_new: %s", err.msg);
	r = verifier_check_sig(v, der, len, &pol, &info);
	if (r == VR_OK) {
		sfs_hex(info.signer_sha256, 32, hex);
		assert_string_equal(hex, signer_cert_sha256(s));
		assert_memory_equal(info.digest.bytes, d.bytes, 32);
	}
	sig_info_clear(&info);
	verifier_free(v);
	free(der);
	return r;
}

static void fp_of(struct sfs_signer *s, uint8_t out[32])
{
	const char *hex = signer_cert_sha256(s);

	for (size_t i = 0; i < 32; i++)
		assert_int_equal(sscanf(hex + 2 * i, "%2hhx", &out[i]), 1);
}

static size_t store_tokens(const struct fx *f)
{
	char p[200];
	size_t n = 0;
	DIR *d;

	snprintf(p, sizeof(p), "%s/tokens", f->dir);
	d = opendir(p);
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

static void test_join_files(void **state)
{
	struct fx *f = *state;
	char b[128], out[4096], cn[64], p[256], conf[PATH_MAX];
	X509 *ca = load_cert(f->dir, "ca.pem"), *ca_b, *signer;
	struct sfs_config *cfg;
	char pin_a[64], pin_b[64];
	struct fx fb = {0};

	snprintf(b, sizeof(b), "%s/b", f->root);
	if (init_join(b, f->dir, "release", out, sizeof(out)) != 0)
		fail_msg("init --join: %s", out);
	assert_int_equal(store_tokens(f), 2);
	/* DIR: its own PIN and certificate; no token store, no CA key. */
	assert_int_equal(mode_of(b, ""), 0700);
	assert_int_equal(mode_of(b, "pin"), 0600);
	snprintf(fb.pin, sizeof(fb.pin), "%s/pin", b);
	read_pin(f, pin_a, sizeof(pin_a));
	read_pin(&fb, pin_b, sizeof(pin_b));
	assert_string_not_equal(pin_a, pin_b);
	for (const char *const *n =
		 (const char *const[]){"tokens", "ca.key", "softhsm2.conf",
				       NULL};
	     *n; n++) {
		snprintf(p, sizeof(p), "%s/%s", b, *n);
		assert_int_equal(access(p, F_OK), -1);
	}
	ca_b = load_cert(b, "ca.pem");
	assert_int_equal(X509_cmp(ca, ca_b), 0);
	signer = load_cert(b, "signer.pem");
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(signer),
					      NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "signetfs signer release");
	assert_int_equal(X509_get_extended_key_usage(signer), XKU_CODE_SIGN);
	assert_int_equal(X509_check_ca(signer), 0);
	assert_true(chains_to(signer, ca));
	/* The config names A's store, B's token, B's own files. */
	cfg = load_conf(b);
	assert_non_null(realpath(f->softhsm, conf));
	assert_string_equal(cfg->key.softhsm_conf, conf);
	assert_string_equal(cfg->key.key_uri,
			    "pkcs11:token=release;object=signing-key;"
			    "type=private");
	assert_string_equal(cfg->key.pin_file, fb.pin);
	snprintf(p, sizeof(p), "%s/ca.pem", b);
	assert_string_equal(cfg->trust.cafile, p);
	snprintf(p, sizeof(p), "%s/audit.log", b);
	assert_string_equal(cfg->audit_log, p);
	snprintf(p, sizeof(p), "%s/signer.pem", b);
	assert_string_equal(cfg->key.cert, p);
	config_free(cfg);
	X509_free(signer);
	X509_free(ca_b);
	X509_free(ca);
}

/* Both keys in one process: one module, one SOFTHSM2_CONF, two logins. */
static void test_join_two_keys(void **state)
{
	struct fx *f = *state;
	struct sfs_config *ca_cfg = load_conf(f->dir), *cb_cfg;
	struct sfs_signer *sa, *sb;
	char b[160], out[4096], cafile[200];
	uint8_t fp_a[32], fp_b[32];

	snprintf(b, sizeof(b), "%s/b", f->root);
	if (init_join(b, f->dir, "release", out, sizeof(out)) != 0)
		fail_msg("init --join: %s", out);
	cb_cfg = load_conf(b);
	snprintf(cafile, sizeof(cafile), "%s/ca.pem", f->dir);
	sa = signer_ok(ca_cfg);
	sb = signer_ok(cb_cfg);
	assert_string_not_equal(signer_cert_sha256(sa), signer_cert_sha256(sb));
	assert_string_not_equal(signer_token_serial(sa),
				signer_token_serial(sb));
	fp_of(sa, fp_a);
	fp_of(sb, fp_b);
	assert_int_equal(sign_check(sa, cafile, "src/a.c", "a", NULL, 0, false),
			 VR_OK);
	assert_int_equal(sign_check(sb, cafile, "rel/b.c", "b", NULL, 0, false),
			 VR_OK);
	/* Pinned to its own signer each passes; to the other's it fails. */
	assert_int_equal(sign_check(sa, cafile, "a", "a", &fp_a, 1, false),
			 VR_OK);
	assert_int_equal(sign_check(sb, cafile, "b", "b", &fp_b, 1, false),
			 VR_OK);
	assert_int_equal(sign_check(sb, cafile, "b", "b", &fp_a, 1, false),
			 VR_PIN_MISMATCH);
	assert_int_equal(sign_check(sa, cafile, "a", "a", &fp_b, 1, false),
			 VR_PIN_MISMATCH);
	assert_int_not_equal(sign_check(sb, cafile, "b", "b", NULL, 0, true),
			     VR_OK);
	/* Closing one handle leaves the other signing, either way round. */
	signer_done(sa);
	assert_int_equal(sign_check(sb, cafile, "b", "b", NULL, 0, false),
			 VR_OK);
	sa = signer_ok(ca_cfg);
	assert_int_equal(sign_check(sa, cafile, "a", "a", NULL, 0, false),
			 VR_OK);
	signer_done(sb);
	assert_int_equal(sign_check(sa, cafile, "a", "a", NULL, 0, false),
			 VR_OK);
	signer_done(sa);
	config_free(cb_cfg);
	config_free(ca_cfg);
}

/* The same two keys through the hsm layer, each with its own PIN file. */
static void test_join_hsm(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char b[160], out[4096], pin_b[200];
	struct hsm *ha, *hb;

	snprintf(b, sizeof(b), "%s/b", f->root);
	if (init_join(b, f->dir, "release", out, sizeof(out)) != 0)
		fail_msg("init --join: %s", out);
	snprintf(pin_b, sizeof(pin_b), "%s/pin", b);
	ha = open_ok(&c);
	c.key_uri = "pkcs11:token=release;object=signing-key;type=private";
	c.pin_file = pin_b;
	hb = open_ok(&c);
	assert_int_not_equal(
	    EVP_PKEY_eq(hsm_public_key(ha), hsm_public_key(hb)), 1);
	sign_verify(ha, "a");
	sign_verify(hb, "b");
	done(hb);
	sign_verify(ha, "a after b closed");
	/*
	 * B's token was logged out with its last handle, though A's handle
	 * keeps the module loaded: A's PIN does not open it.
	 */
	c.pin_file = f->pin;
	expect_fail(&c, SFS_EXIT_TOKEN, "wrong PIN for token 'release'");
	done(ha);
}

static void test_join_refuses(void **state)
{
	struct fx *f = *state;
	char b[160], c[160], out[4096];
	const char *no_label[] = {"signetfs", "init", c,
				  "--join",   f->dir, NULL};
	const char *same[] = {"signetfs", "init", f->dir,    "--join", f->dir,
			      "--label",  "x",	  "--force", NULL};
	struct hsm_config hc = cfg_of(f, NULL);

	snprintf(b, sizeof(b), "%s/b", f->root);
	snprintf(c, sizeof(c), "%s/c", f->root);
	assert_int_equal(init_join(b, f->dir, "release", out, sizeof(out)), 0);
	/* A label already in the store: B's, and A's own. */
	assert_int_equal(init_join(c, f->dir, "release", out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "'release' already exists"));
	assert_int_equal(init_join(c, f->dir, "signetfs", out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "'signetfs' already exists"));
	assert_int_equal(run(no_label, out, sizeof(out)), SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "--join needs --label"));
	assert_int_equal(access(c, F_OK), -1);
	assert_int_equal(store_tokens(f), 2);
	/* Not an init directory; EXISTING itself as DIR, even with --force. */
	assert_int_equal(init_join(c, f->root, "x", out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_int_equal(run(same, out, sizeof(out)), SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "same directory"));
	assert_int_equal(access(c, F_OK), -1);
	assert_int_equal(store_tokens(f), 2);
	/* A was left as it was. */
	sign_verify(open_ok(&hc), "A still works");
}

/*
 * A join that fails after C_InitToken (here: a ca.pem too large to copy)
 * takes its token out of the store again, so the label can be reused.
 */
static void test_join_undo(void **state)
{
	struct fx *f = *state;
	char b[160], out[4096], p[200];
	FILE *fp;

	snprintf(b, sizeof(b), "%s/b", f->root);
	snprintf(p, sizeof(p), "%s/ca.pem", f->dir);
	fp = fopen(p, "a");
	assert_non_null(fp);
	for (int i = 0; i < 30000; i++)
		fputs("padding after the certificate, which PEM ignores\n", fp);
	fclose(fp);
	assert_int_equal(init_join(b, f->dir, "release", out, sizeof(out)),
			 SFS_EXIT_USAGE);
	assert_non_null(strstr(out, "ca.pem"));
	assert_int_equal(access(b, F_OK), -1);
	assert_int_equal(store_tokens(f), 1);
	assert_int_equal(truncate(p, 0), 0);
	assert_int_equal(init_join(b, f->dir, "release", out, sizeof(out)),
			 SFS_EXIT_USAGE); /* no CA certificate left */
	assert_int_equal(store_tokens(f), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_init_files), T(test_init_refuses), T(test_init_usage),
	    T(test_init_rsa),	T(test_join_files),   T(test_join_two_keys),
	    T(test_join_hsm),	T(test_join_refuses), T(test_join_undo),
#undef T
	};

	return fx_main("hsm-init", tests, ARRAY_SIZE(tests));
}
