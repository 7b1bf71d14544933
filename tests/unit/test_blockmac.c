// SPDX-License-Identifier: Apache-2.0
/* Keyed block tags (digest.h): what checks, and every forgery that must not. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "signetfs/digest.h"

static uint8_t data[131072];

static void fill(void)
{
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 131 + 7);
}

static void test_roundtrip(void **state)
{
	struct sfs_blockmac *m = sfs_blockmac_new();
	uint8_t tag[SFS_BLOCKMAC_LEN];

	assert_non_null(m);
	fill();
	assert_int_equal(sfs_blockmac_tag(m, 7, 3, data, sizeof(data), tag), 0);
	assert_int_equal(sfs_blockmac_check(m, 7, 3, data, sizeof(data), tag),
			 0);
	/* A short last block and an empty file have tags too. */
	assert_int_equal(sfs_blockmac_tag(m, 7, 4, data, 5, tag), 0);
	assert_int_equal(sfs_blockmac_check(m, 7, 4, data, 5, tag), 0);
	assert_int_equal(sfs_blockmac_tag(m, 8, 0, data, 0, tag), 0);
	assert_int_equal(sfs_blockmac_check(m, 8, 0, data, 0, tag), 0);
	sfs_blockmac_free(m);
}

static void test_forgeries(void **state)
{
	struct sfs_blockmac *m = sfs_blockmac_new(),
			    *other = sfs_blockmac_new();
	uint8_t tag[SFS_BLOCKMAC_LEN], bad[SFS_BLOCKMAC_LEN];

	assert_non_null(m);
	assert_non_null(other);
	fill();
	assert_int_equal(sfs_blockmac_tag(m, 7, 3, data, sizeof(data), tag), 0);
	/* Another block index or pass: the block moved or is stale. */
	assert_int_equal(sfs_blockmac_check(m, 7, 2, data, sizeof(data), tag),
			 -EBADMSG);
	assert_int_equal(sfs_blockmac_check(m, 6, 3, data, sizeof(data), tag),
			 -EBADMSG);
	/* Another key (another mount, a restart). */
	assert_int_equal(
	    sfs_blockmac_check(other, 7, 3, data, sizeof(data), tag), -EBADMSG);
	/* A flipped bit anywhere, a byte cut or added. */
	data[sizeof(data) - 1] ^= 1;
	assert_int_equal(sfs_blockmac_check(m, 7, 3, data, sizeof(data), tag),
			 -EBADMSG);
	data[sizeof(data) - 1] ^= 1;
	assert_int_equal(
	    sfs_blockmac_check(m, 7, 3, data, sizeof(data) - 1, tag), -EBADMSG);
	memcpy(bad, tag, sizeof(bad));
	bad[0] ^= 0x80;
	assert_int_equal(sfs_blockmac_check(m, 7, 3, data, sizeof(data), bad),
			 -EBADMSG);
	assert_int_equal(sfs_blockmac_check(m, 7, 3, data, sizeof(data), tag),
			 0);
	sfs_blockmac_free(m);
	sfs_blockmac_free(other);
}

static void test_nonce_range(void **state)
{
	struct sfs_blockmac *m = sfs_blockmac_new();
	uint8_t tag[SFS_BLOCKMAC_LEN], t2[SFS_BLOCKMAC_LEN];

	assert_non_null(m);
	assert_int_equal(
	    sfs_blockmac_tag(m, SFS_BLOCKMAC_NONCE_MAX, 0, data, 1, tag),
	    -EOVERFLOW);
	assert_int_equal(
	    sfs_blockmac_tag(m, 0, SFS_BLOCKMAC_NONCE_MAX, data, 1, tag),
	    -EOVERFLOW);
	/* gen and index are separate fields: (1, 0) is not (0, 1 << 40)... */
	assert_int_equal(sfs_blockmac_tag(m, 1, 0, data, 64, tag), 0);
	assert_int_equal(
	    sfs_blockmac_tag(m, 0, (uint64_t)1 << 40, data, 64, t2), 0);
	assert_memory_not_equal(tag, t2, sizeof(tag));
	/* ...and the largest allowed values still work. */
	assert_int_equal(sfs_blockmac_tag(m, SFS_BLOCKMAC_NONCE_MAX - 1,
					  SFS_BLOCKMAC_NONCE_MAX - 1, data, 64,
					  tag),
			 0);
	sfs_blockmac_free(m);
	sfs_blockmac_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_forgeries),
	    cmocka_unit_test(test_nonce_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
