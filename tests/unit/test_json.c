// SPDX-License-Identifier: Apache-2.0
/* The JSON escaper: any byte string in, valid JSON out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "signetfs/json.h"

static void check(const char *in, size_t n, const char *want, bool valid)
{
	struct json_buf b = {0};

	assert_int_equal(sfs_json_str(&b, in, n), valid);
	assert_false(b.oom);
	assert_string_equal(b.data, want);
	sfs_json_buf_free(&b);
}

static void test_escape(void **state)
{
	(void)state;
	check("plain", 5, "\"plain\"", true);
	check("a\"b\\c", 5, "\"a\\\"b\\\\c\"", true);
	check("new\nline\ttab", 12, "\"new\\nline\\ttab\"", true);
	check("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"", true);
	check("caf\xc3\xa9", 5, "\"caf\xc3\xa9\"", true);
	check("\xff", 1, "\"\\ufffd\"", false);
	/* Overlong '/', a surrogate, a truncated sequence. */
	check("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"", false);
	check("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\"", false);
	check("a\xe2\x82", 3, "\"a\\ufffd\\ufffd\"", false);
	check("\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"", true);
}

static void test_valid(void **state)
{
	(void)state;
	assert_true(sfs_json_utf8_valid("", 0));
	assert_true(sfs_json_utf8_valid("\xe2\x82\xac", 3));
	assert_false(
	    sfs_json_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	assert_false(sfs_json_utf8_valid("\x80", 1));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape),
	    cmocka_unit_test(test_valid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
