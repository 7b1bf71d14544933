// SPDX-License-Identifier: Apache-2.0
/*
 * The outbox's running digest (src/outbox/outbox_digest.c): chunks fed out
 * of order are parked and hashed when the gap fills; an overlap, a gap
 * left at close, or a write from before a truncation never yields a
 * digest of bytes the file does not hold.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outbox/ob_digest.h"

#define LEN 4096

static uint8_t data[LEN];

static void fill_data(void)
{
	for (size_t i = 0; i < LEN; i++)
		data[i] = (uint8_t)(i * 131 + 7);
}

static void sha256_of(const void *buf, size_t len, struct sfs_digest *d)
{
	struct sfs_hash *h = sfs_hash_new(SFS_MD_SHA256);

	assert_non_null(h);
	assert_int_equal(sfs_hash_update(h, buf, len), 0);
	assert_int_equal(sfs_hash_final(h, d), 0);
	sfs_hash_free(h);
}

static void assert_digest_of(struct ob_rdigest *r, const void *buf, size_t len)
{
	struct sfs_digest got, want;

	sha256_of(buf, len, &want);
	assert_int_equal(ob_rdigest_final(r, SFS_MD_SHA256, len, &got), 0);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.bytes, want.bytes, want.len);
}

static void assert_no_digest(struct ob_rdigest *r, uint64_t size)
{
	struct sfs_digest got;

	assert_int_equal(ob_rdigest_final(r, SFS_MD_SHA256, size, &got),
			 -ENODATA);
}

static struct ob_rdigest *fresh(void)
{
	struct ob_rdigest *r = malloc(sizeof(*r));

	assert_non_null(r);
	ob_rdigest_init(r);
	ob_rdigest_restart(r, SFS_MD_SHA256);
	return r;
}

static void done(struct ob_rdigest *r)
{
	ob_rdigest_free(r);
	free(r);
}

static void feed(struct ob_rdigest *r, size_t off, size_t len)
{
	ob_rdigest_feed(r, ob_rdigest_epoch(r), data + off, len, off);
}

static void test_in_order(void **state)
{
	struct ob_rdigest *r = fresh();

	(void)state;
	assert_digest_of(r, data, 0); /* an empty file */
	feed(r, 0, 1000);
	feed(r, 1000, LEN - 1000);
	assert_digest_of(r, data, LEN);
	/* Not a digest of any other size: the file has more or fewer bytes. */
	assert_no_digest(r, LEN - 1);
	assert_no_digest(r, LEN + 1);
	done(r);
}

/* Every order of four chunks gives the digest of the whole. */
static void test_reordered(void **state)
{
	static const size_t cut[] = {0, 700, 1500, 3000, LEN};
	int orders = 0;

	(void)state;
	for (unsigned n = 0; n < 256; n++) {
		unsigned p[4] = {n & 3, (n >> 2) & 3, (n >> 4) & 3, n >> 6};
		struct ob_rdigest *r;

		if ((1u << p[0] | 1u << p[1] | 1u << p[2] | 1u << p[3]) != 0xf)
			continue; /* not a permutation */
		orders++;
		r = fresh();
		for (int i = 0; i < 4; i++)
			feed(r, cut[p[i]], cut[p[i] + 1] - cut[p[i]]);
		assert_true(ob_rdigest_ok(r));
		assert_digest_of(r, data, LEN);
		done(r);
	}
	assert_int_equal(orders, 24);
}

/* A gap never filled: no digest, whatever size is asked for. */
static void test_gap(void **state)
{
	struct ob_rdigest *r = fresh();

	(void)state;
	feed(r, 0, 100);
	feed(r, 200, 100);
	assert_no_digest(r, 300);
	assert_no_digest(r, 100);
	done(r);
}

/* Overlapping writes may carry different bytes: the digest gives up. */
static void test_overlap(void **state)
{
	struct ob_rdigest *r = fresh();

	(void)state;
	feed(r, 0, 100);
	feed(r, 50, 100); /* behind what is hashed */
	assert_false(ob_rdigest_ok(r));
	assert_no_digest(r, 150);
	done(r);

	r = fresh();
	feed(r, 200, 100);
	feed(r, 250, 100); /* overlaps the end of a parked chunk */
	assert_false(ob_rdigest_ok(r));
	feed(r, 0, 200);
	assert_no_digest(r, 350);
	done(r);

	r = fresh();
	feed(r, 250, 100);
	feed(r, 200, 100); /* overlaps the start of a parked chunk */
	assert_false(ob_rdigest_ok(r));
	done(r);

	r = fresh();
	feed(r, 100, 100);
	feed(r, 0, 150); /* fills the gap and runs into the parked chunk */
	assert_false(ob_rdigest_ok(r));
	done(r);
}

/*
 * A pwrite made before a truncation (older epoch) landed in bytes the
 * truncation removed: feeding it must not count them.
 */
static void test_epochs(void **state)
{
	struct ob_rdigest *r = fresh();
	uint64_t before;

	(void)state;
	feed(r, 0, 100);
	before = ob_rdigest_epoch(r);
	ob_rdigest_truncated(r, 100); /* same size: still valid */
	assert_true(ob_rdigest_ok(r));
	assert_int_not_equal(ob_rdigest_epoch(r), before);
	ob_rdigest_feed(r, before, data + 100, 100, 100);
	assert_no_digest(r, 200);
	assert_digest_of(r, data, 100);
	feed(r, 100, 100);
	assert_digest_of(r, data, 200);

	/* Cut below what was hashed: only re-reading the file can tell. */
	ob_rdigest_truncated(r, 50);
	assert_false(ob_rdigest_ok(r));
	assert_no_digest(r, 50);

	/* Emptied: a new digest from the first byte. */
	before = ob_rdigest_epoch(r);
	ob_rdigest_restart(r, SFS_MD_SHA256);
	assert_true(ob_rdigest_epoch(r) > before);
	ob_rdigest_feed(r, before, data, 10, 0); /* from before the restart */
	assert_digest_of(r, data, 0);
	feed(r, 0, LEN);
	assert_digest_of(r, data, LEN);
	done(r);
}

/* A truncation while chunks are parked: they may be gone. */
static void test_truncate_parked(void **state)
{
	struct ob_rdigest *r = fresh();

	(void)state;
	feed(r, 0, 100);
	feed(r, 200, 100);
	ob_rdigest_truncated(r, 100);
	assert_false(ob_rdigest_ok(r));
	done(r);
}

/* The digest is of the algorithm asked for, or none. */
static void test_algorithm(void **state)
{
	struct ob_rdigest *r = fresh();
	struct sfs_digest d;

	(void)state;
	feed(r, 0, 100);
	assert_int_equal(ob_rdigest_final(r, SFS_MD_SHA384, 100, &d), -ENODATA);
	done(r);
}

/* Parked bytes are bounded: beyond the bound the digest gives up. */
static void test_parked_bound(void **state)
{
	struct ob_rdigest *r = fresh();
	size_t big = 1u << 20;
	uint8_t *buf = calloc(1, big);

	(void)state;
	assert_non_null(buf);
	for (uint64_t k = 1; k <= 40 && ob_rdigest_ok(r); k++)
		ob_rdigest_feed(r, ob_rdigest_epoch(r), buf, big, k * big);
	assert_false(ob_rdigest_ok(r));
	free(buf);
	done(r);
}

/*
 * Full-size chunks park in reused buffers: every file's digest is of its
 * own bytes, never of what a buffer held for an earlier file (shorter
 * chunks in buffers that held longer ones, and the other way round).
 */
static void test_pool_reuse(void **state)
{
	static const size_t sizes[] = {OB_MAX_WRITE, OB_MAX_WRITE * 3 / 4,
				       OB_MAX_WRITE};
	const size_t n = 6;

	(void)state;
	for (size_t f = 0; f < sizeof(sizes) / sizeof(sizes[0]); f++) {
		size_t sz = sizes[f];
		uint8_t *buf = malloc(n * sz);
		struct ob_rdigest *r = fresh();
		struct sfs_digest got, other;

		assert_non_null(buf);
		for (size_t i = 0; i < n * sz; i++)
			buf[i] = (uint8_t)(i * 7 + f * 101 + 1);
		/* Last chunk first: all but the first park. */
		for (size_t k = n; k-- > 0;)
			ob_rdigest_feed(r, ob_rdigest_epoch(r), buf + k * sz,
					sz, k * sz);
		assert_true(ob_rdigest_ok(r));
		assert_digest_of(r, buf, n * sz);
		/* Twin: the same size with one byte changed is another. */
		assert_int_equal(
		    ob_rdigest_final(r, SFS_MD_SHA256, n * sz, &got), 0);
		buf[n * sz - 1] ^= 1;
		sha256_of(buf, n * sz, &other);
		assert_memory_not_equal(got.bytes, other.bytes, got.len);
		done(r);
		free(buf);
	}
	ob_rdigest_pool_drain();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_order),
	    cmocka_unit_test(test_reordered),
	    cmocka_unit_test(test_gap),
	    cmocka_unit_test(test_overlap),
	    cmocka_unit_test(test_epochs),
	    cmocka_unit_test(test_truncate_parked),
	    cmocka_unit_test(test_algorithm),
	    cmocka_unit_test(test_parked_bound),
	    cmocka_unit_test(test_pool_reuse),
	};

	fill_data();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
