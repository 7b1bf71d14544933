// SPDX-License-Identifier: Apache-2.0
/* The hsm layer: opening a key, and every way that fails. */
#include "fixture.h"

static void test_open(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	struct hsm *h = open_ok(&c);
	EVP_PKEY *pub = hsm_public_key(h);

	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(pub), 256);
	assert_string_equal(hsm_key_uri(h), KEY_URI);
	assert_int_equal(strlen(hsm_token_serial(h)), 16);
	sign_verify(h, "hello, token");
	done(h);
}

static void test_missing_module(void **state)
{
	struct hsm_config c = cfg_of(*state, NULL);

	c.module = "/nonexistent/libnope.so";
	expect_fail(&c, SFS_EXIT_TOKEN,
		    "PKCS#11 module /nonexistent/libnope.so not found");
	/* A shared library that is no PKCS#11 module. */
	c.module = "/usr/lib/x86_64-linux-gnu/libcrypto.so.3";
	if (access(c.module, R_OK) == 0)
		expect_fail(&c, SFS_EXIT_TOKEN, "is not a PKCS#11 module");
	/* Not even a shared library. */
	c.module = "/etc/hostname";
	expect_fail(&c, SFS_EXIT_TOKEN, "cannot load PKCS#11 module");
}

static void test_wrong_pin(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char bad[200];

	snprintf(bad, sizeof(bad), "%s/bad-pin", f->root);
	write_text(bad, "0000000000000000\n", 0600);
	c.pin_file = bad;
	expect_fail(&c, SFS_EXIT_TOKEN, "wrong PIN for token 'signetfs'");
	/* A failed login must leave nothing behind: the right PIN works. */
	c.pin_file = f->pin;
	done(open_ok(&c));
}

static void test_missing_key(void **state)
{
	struct hsm_config c =
	    cfg_of(*state, "pkcs11:token=signetfs;object=nope");

	expect_fail(&c, SFS_EXIT_TOKEN,
		    "private key 'nope' not found on token 'signetfs'");
	c.key_uri = "pkcs11:token=signetfs;object=signing-key;id=%01%02";
	expect_fail(&c, SFS_EXIT_TOKEN, "with the given id");
}

static void test_wrong_token(void **state)
{
	struct hsm_config c = cfg_of(*state, "pkcs11:token=nosuch;object=k");

	expect_fail(&c, SFS_EXIT_TOKEN, "token 'nosuch' not found");
	c.key_uri = "pkcs11:token=signetfs;serial=0000;object=signing-key";
	expect_fail(&c, SFS_EXIT_TOKEN, "not found");
}

static void test_malformed_uri(void **state)
{
	static const char *const bad[] = {
	    "pkcs12:token=signetfs",
	    "token=signetfs;object=signing-key",
	    "pkcs11:token=%zzsignetfs",
	    "pkcs11:token=signetfs%4",
	    "pkcs11:token=a;token=b",
	    "pkcs11:objet=signing-key",
	    "pkcs11:token=signetfs;type=cert",
	    "pkcs11:token",
	    "pkcs11:token=signetfs;;object=signing-key",
	    "pkcs11:token=sig%00netfs",
	    "pkcs11:token=signetfs?pin-source=env:PIN",
	    "pkcs11:token=signetfs;slot-id=x1",
	    "pkcs11:token=signetfs?pin-value=a&pin-value=b",
	};
	struct hsm_config c = cfg_of(*state, NULL);
	struct sfs_error err = {0};
	struct hsm *h = NULL;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c.key_uri = bad[i];
		expect_fail(&c, SFS_EXIT_USAGE, "PKCS#11 key URI");
	}
	/* The message names the attribute, never a value: it may be a PIN. */
	c.key_uri = "pkcs11:token=signetfs;bogus=1?pin-value=SECRET1234";
	assert_true(hsm_open(&c, &h, &err) < 0);
	assert_null(h);
	assert_non_null(strstr(err.msg, "'bogus'"));
	assert_null(strstr(err.msg, "SECRET"));
}

static void test_unreadable_pin(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char p[200];

	snprintf(p, sizeof(p), "%s/no-such-pin", f->root);
	c.pin_file = p;
	expect_fail(&c, SFS_EXIT_USAGE, "cannot read PIN file");
	expect_fail(&c, SFS_EXIT_USAGE, p);
	c.pin_file = f->root; /* a directory */
	expect_fail(&c, SFS_EXIT_USAGE, "cannot read PIN file");
	snprintf(p, sizeof(p), "%s/empty-pin", f->root);
	write_text(p, "\n", 0600);
	c.pin_file = p;
	expect_fail(&c, SFS_EXIT_USAGE, "cannot read PIN file");
	c.pin_file = NULL;
	expect_fail(&c, SFS_EXIT_USAGE, "no PIN");
}

static void test_pin_source(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char uri[512];
	struct hsm *h;

	c.pin_file = NULL;
	snprintf(uri, sizeof(uri), "%s?pin-source=file:%s", KEY_URI, f->pin);
	c.key_uri = uri;
	h = open_ok(&c);
	assert_string_equal(hsm_key_uri(h), KEY_URI);
	sign_verify(h, "pin from the query");
	done(h);
	/* The older form with pin-source as a path attribute. */
	snprintf(
	    uri, sizeof(uri),
	    "pkcs11:token=signetfs;pin-source=file://%s;object=signing-key",
	    f->pin);
	h = open_ok(&c);
	assert_string_equal(hsm_key_uri(h),
			    "pkcs11:token=signetfs;object=signing-key");
	done(h);
	/* The URI wins over the pin file. */
	c.pin_file = "/nonexistent";
	h = open_ok(&c);
	done(h);
}

static void test_uri_sanitised(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char pin[64], uri[512];
	struct hsm *h;

	read_pin(f, pin, sizeof(pin));
	c.pin_file = NULL;
	snprintf(uri, sizeof(uri),
		 "pkcs11:token=sig%%6eetfs;object=signing-key?pin-value=%s"
		 "&x-vendor=1",
		 pin);
	c.key_uri = uri;
	h = open_ok(&c);
	assert_string_equal(hsm_key_uri(h),
			    "pkcs11:token=sig%6eetfs;object=signing-key"
			    "?x-vendor=1");
	assert_null(strstr(hsm_key_uri(h), pin));
	sign_verify(h, "pin from pin-value");
	done(h);
	snprintf(uri, sizeof(uri), "%s?pin-value=%s", KEY_URI, pin);
	h = open_ok(&c);
	assert_string_equal(hsm_key_uri(h), KEY_URI);
	done(h);
}

static char logged[1024];

static void capture(enum sfs_log_level level, const char *fmt, va_list ap)
{
	if (level <= SFS_LOG_WARNING)
		vsnprintf(logged, sizeof(logged), fmt, ap);
}

static void test_pin_mode_warning(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);

	sfs_log_set_sink(capture);
	logged[0] = '\0';
	done(open_ok(&c));
	assert_string_equal(logged, "");
	assert_int_equal(chmod(f->pin, 0640), 0);
	done(open_ok(&c));
	sfs_log_set_sink(NULL);
	assert_non_null(strstr(logged, "PIN file"));
	assert_non_null(strstr(logged, "640"));
}

/*
 * Two handles on one module, reached by two names (MODULE is a symlink):
 * the module is loaded once, and closing one handle, which may finalise
 * the module, leaves the other signing.
 */
static void test_shared_module(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	char real_mod[PATH_MAX], conf[256];
	struct hsm *a, *b;

	assert_non_null(realpath(MODULE, real_mod));
	a = open_ok(&c);
	c.module = real_mod;
	snprintf(conf, sizeof(conf), "%s/../t/./softhsm2.conf", f->dir);
	c.softhsm_conf = conf;
	b = open_ok(&c);
	sign_verify(a, "a");
	sign_verify(b, "b");
	done(a);
	sign_verify(b, "b after a closed");
	a = open_ok(&c);
	sign_verify(a, "a again");
	done(b);
	sign_verify(a, "a after b closed");
	done(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_open),	    T(test_missing_module),
	    T(test_wrong_pin),	    T(test_missing_key),
	    T(test_wrong_token),    T(test_malformed_uri),
	    T(test_unreadable_pin), T(test_pin_source),
	    T(test_uri_sanitised),  T(test_pin_mode_warning),
	    T(test_shared_module),
#undef T
	};

	return fx_main("hsm-open", tests, ARRAY_SIZE(tests));
}
