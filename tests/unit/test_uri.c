// SPDX-License-Identifier: Apache-2.0
/* The RFC 7512 URI parser of the hsm layer, without a token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "signetfs/util.h"
#include "../../src/hsm/uri.h"

static void parse_ok(const char *text, struct p11_uri *u)
{
	struct sfs_error err = {0};

	if (hsm_uri_parse(text, u, &err) != 0)
		fail_msg("'%s' refused: %s", text, err.msg);
}

/* TEXT is refused with a message containing WANT; *u stays empty. */
static void parse_bad(const char *text, const char *want)
{
	static const struct p11_uri empty;
	struct sfs_error err = {0};
	struct p11_uri u;

	memset(&u, 0xa5, sizeof(u));
	if (hsm_uri_parse(text, &u, &err) != -EINVAL)
		fail_msg("'%s' was accepted", text);
	assert_memory_equal(&u, &empty, sizeof(u));
	assert_int_equal(err.exit, SFS_EXIT_USAGE);
	if (!strstr(err.msg, want))
		fail_msg("'%s': message '%s' lacks '%s'", text, err.msg, want);
}

static void test_percent_decoding(void **state)
{
	static const uint8_t id[] = {0x01, 0x00, 0xff, 0xab};
	struct p11_uri u;

	(void)state;
	parse_ok("PKCS11:token=sig%6eetfs;object=my%20key;id=%01%00%fF%Ab;"
		 "serial=%30%31",
		 &u);
	assert_string_equal(u.token, "signetfs");
	assert_string_equal(u.object, "my key");
	assert_string_equal(u.serial, "01");
	/* id is binary: a NUL byte is part of it. */
	assert_true(u.has_id);
	assert_int_equal(u.id_len, sizeof(id));
	assert_memory_equal(u.id, id, sizeof(id));
	/* The clean URI keeps the attributes as given, the scheme lowered. */
	assert_string_equal(u.clean, "pkcs11:token=sig%6eetfs;object=my%20key;"
				     "id=%01%00%fF%Ab;serial=%30%31");
	hsm_uri_free(&u);
	hsm_uri_free(&u); /* safe on an emptied URI */
	parse_ok("pkcs11:", &u);
	assert_null(u.token);
	assert_false(u.has_id);
	assert_string_equal(u.clean, "pkcs11:");
	hsm_uri_free(&u);

	parse_bad("pkcs11:token=sig%zznetfs",
		  "bad percent-encoding in 'token'");
	parse_bad("pkcs11:token=signetfs%4", "bad percent-encoding");
	parse_bad("pkcs11:token=signetfs%", "bad percent-encoding");
	parse_bad("pkcs11:token=sig\tnetfs", "bad percent-encoding");
	/* Only id may hold a NUL: a label with one could never match. */
	parse_bad("pkcs11:token=sig%00netfs", "NUL byte in attribute 'token'");
}

static void test_unknown_refused(void **state)
{
	struct p11_uri u;

	(void)state;
	/* A typo must not widen the match to the first key on the token. */
	parse_bad("pkcs11:token=t;objet=signing-key",
		  "unknown attribute 'objet'");
	parse_bad("pkcs11:token=t;object=k?bogus=1",
		  "unknown attribute 'bogus'");
	parse_bad("pkcs11:token=t;type=cert", "type=private");
	parse_bad("pkcs11:token=a;token=b", "duplicate attribute 'token'");
	parse_bad("pkcs11:id=%01;id=%02", "duplicate attribute 'id'");
	parse_bad("pkcs11:token", "name=value");
	parse_bad("pkcs11:=x", "name=value");
	parse_bad("pkcs11:token=t;;object=k", "name=value");
	parse_bad("pkcs12:token=t", "must start with pkcs11:");
	parse_bad("", "must start with pkcs11:");
	/* Vendor and ignorable attributes are accepted and kept. */
	parse_ok("pkcs11:token=t;x-vendor=1;library-version=2;"
		 "slot-description=s;type=private?x-q=%41&module-name=softhsm2",
		 &u);
	assert_string_equal(u.token, "t");
	assert_string_equal(u.clean,
			    "pkcs11:token=t;x-vendor=1;"
			    "library-version=2;slot-description=s;"
			    "type=private?x-q=%41&module-name=softhsm2");
	hsm_uri_free(&u);
}

static void test_pin_stripped(void **state)
{
	struct sfs_error err = {0};
	struct p11_uri u;

	(void)state;
	parse_ok("pkcs11:token=t;object=k?pin-value=12%334&x-a=1", &u);
	assert_string_equal(u.pin_value, "1234");
	assert_null(u.pin_source);
	assert_string_equal(u.clean, "pkcs11:token=t;object=k?x-a=1");
	hsm_uri_free(&u);
	assert_null(u.pin_value);
	/* Only PIN attributes in the query: no empty '?' is left. */
	parse_ok("pkcs11:token=t?pin-source=file:///etc/sfs/pin", &u);
	assert_string_equal(u.pin_source, "/etc/sfs/pin");
	assert_string_equal(u.clean, "pkcs11:token=t");
	hsm_uri_free(&u);
	/* The older path forms are stripped as well. */
	parse_ok("pkcs11:token=t;pin-source=file://localhost/p;object=k;"
		 "pin-value=9",
		 &u);
	assert_string_equal(u.pin_source, "/p");
	assert_string_equal(u.pin_value, "9");
	assert_string_equal(u.clean, "pkcs11:token=t;object=k");
	hsm_uri_free(&u);
	parse_ok("pkcs11:token=t?pin-source=relative/pin", &u);
	assert_string_equal(u.pin_source, "relative/pin");
	hsm_uri_free(&u);

	parse_bad("pkcs11:token=t?pin-source=env:PIN", "pin-source");
	parse_bad("pkcs11:token=t?pin-source=|cat%20pin", "pin-source");
	parse_bad("pkcs11:token=t?pin-source=file:", "pin-source");
	parse_bad("pkcs11:token=t?pin-value=a&pin-value=b", "'pin-value'");
	parse_bad("pkcs11:token=t?pin-value=", "'pin-value'");
	parse_bad("pkcs11:token=t?pin-value=a%00b", "'pin-value'");
	/* Messages name the attribute, never the value: it is a PIN. */
	assert_int_equal(
	    hsm_uri_parse("pkcs11:bogus=1?pin-value=SECRET77", &u, &err),
	    -EINVAL);
	assert_non_null(strstr(err.msg, "'bogus'"));
	assert_null(strstr(err.msg, "SECRET"));
	assert_int_equal(
	    hsm_uri_parse("pkcs11:token=t?pin-value=SECRET%zz", &u, &err),
	    -EINVAL);
	assert_null(strstr(err.msg, "SECRET"));
}

static void test_query_vs_path(void **state)
{
	struct p11_uri u;

	(void)state;
	/* module-path is a query attribute, the token ones path attributes. */
	parse_ok("pkcs11:token=t;slot-id=7?module-path=/usr/lib/m%2Eso", &u);
	assert_string_equal(u.module_path, "/usr/lib/m.so");
	assert_true(u.has_slot_id);
	assert_int_equal(u.slot_id, 7);
	hsm_uri_free(&u);
	parse_bad("pkcs11:module-path=/usr/lib/m.so", "unknown attribute "
						      "'module-path'");
	parse_bad("pkcs11:object=k?token=t", "unknown attribute 'token'");
	parse_bad("pkcs11:object=k?id=%01", "unknown attribute 'id'");
	parse_bad("pkcs11:object=k?type=private", "unknown attribute 'type'");
	parse_bad("pkcs11:object=k?slot-id=1", "unknown attribute 'slot-id'");
	parse_bad("pkcs11:module-name=softhsm2", "unknown attribute");
	parse_bad("pkcs11:slot-id=x1", "'slot-id'");
	parse_bad("pkcs11:slot-id=1;slot-id=2", "'slot-id'");
	parse_bad("pkcs11:?module-path=/a&module-path=/b",
		  "duplicate attribute 'module-path'");
	/* '?' ends the path: a ';' after it is part of a query value. */
	parse_ok("pkcs11:token=t?x-a=1;object=k", &u);
	assert_null(u.object);
	hsm_uri_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_percent_decoding),
	    cmocka_unit_test(test_unknown_refused),
	    cmocka_unit_test(test_pin_stripped),
	    cmocka_unit_test(test_query_vs_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
