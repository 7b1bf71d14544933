// SPDX-License-Identifier: Apache-2.0
/*
 * The state's MAC (src/crypto/mac.c): HKDF then HMAC-SHA256, against a
 * value computed elsewhere; another key, part or byte fails.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "signetfs/mac.h"

static void test_mac(void **state)
{
	const uint8_t ikm[22] = {0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
				 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
				 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b};
	struct sfs_mac *a = sfs_mac_derive(ikm, sizeof(ikm), "salt", "i", 1);
	struct sfs_mac *b = sfs_mac_derive(ikm, sizeof(ikm), "salt", "j", 1);
	struct sfs_mac_part p[] = {{"ab", 2}, {"c", 1}};
	struct sfs_mac_part q[] = {{"a", 1}, {"bc", 2}};
	struct sfs_mac_part r[] = {{"ab", 2}, {"d", 1}};
	uint8_t tag[SFS_MAC_LEN], tag2[SFS_MAC_LEN];

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(sfs_mac_compute(a, p, 2, tag), 0);
	assert_int_equal(sfs_mac_verify(a, p, 2, tag), 0);
	/* Parts are concatenated: the caller encodes lengths itself. */
	assert_int_equal(sfs_mac_verify(a, q, 2, tag), 0);
	assert_int_equal(sfs_mac_verify(a, r, 2, tag), -EBADMSG);
	/* Another info, another key. */
	assert_int_equal(sfs_mac_verify(b, p, 2, tag), -EBADMSG);
	assert_int_equal(sfs_mac_compute(b, p, 2, tag2), 0);
	assert_memory_not_equal(tag, tag2, SFS_MAC_LEN);
	tag[0] ^= 1;
	assert_int_equal(sfs_mac_verify(a, p, 2, tag), -EBADMSG);
	sfs_mac_free(a);
	sfs_mac_free(b);
}

/*
 * Known answer: HKDF-SHA256 (RFC 5869, test case 3's ikm and empty salt,
 * test case 1's info), then HMAC-SHA256 of "abc" under the key; the value
 * was computed with Python's hmac and hashlib, HKDF written out.
 */
static void test_known_answer(void **state)
{
	const uint8_t ikm[22] = {0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
				 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b,
				 0x0b, 0x0b, 0x0b, 0x0b, 0x0b, 0x0b};
	const uint8_t info[10] = {0xf0, 0xf1, 0xf2, 0xf3, 0xf4,
				  0xf5, 0xf6, 0xf7, 0xf8, 0xf9};
	struct sfs_mac *m;
	struct sfs_mac_part p[] = {{"abc", 3}};
	uint8_t tag[SFS_MAC_LEN];
	char hex[2 * SFS_MAC_LEN + 1];

	(void)state;
	m = sfs_mac_derive(ikm, sizeof(ikm), "", info, sizeof(info));
	assert_non_null(m);
	assert_int_equal(sfs_mac_compute(m, p, 1, tag), 0);
	for (int i = 0; i < SFS_MAC_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", tag[i]);
	assert_string_equal(
	    hex,
	    "53855e8a5388b8a4350defb380365c09e65fd1ad0704e60b96f57426c7ea7e0d");
	sfs_mac_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_mac),
	    cmocka_unit_test(test_known_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
