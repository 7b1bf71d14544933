// SPDX-License-Identifier: Apache-2.0
/*
 * The inbox's hash pass (inbox_hash_blocks): a file read cold (O_DIRECT),
 * warm (page cache) or half and half gives the digest of its bytes and a
 * tag per block that checks against them, and a cold read leaves nothing
 * of the file in the page cache. Twins: a flipped byte changes the digest
 * and fails its block's tag; a file shorter than asked is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "inbox/ib_hash.h"
#include "inbox/ib_fill.h"
#include "inbox/inbox.h"

/* 9 MiB and a bit: nine ring chunks and a short, unaligned last block. */
#define SIZE ((size_t)(9u << 20) + 4099)

struct fx {
	char path[64];
	int fd;
	uint8_t *data;
	struct sfs_blockmac *mac;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	/* Not /tmp: a tmpfs there would have no page cache to keep out. */
	snprintf(f->path, sizeof(f->path), "/var/tmp/sfs-ihash.XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	f->data = malloc(SIZE);
	assert_non_null(f->data);
	for (size_t i = 0; i < SIZE; i++)
		f->data[i] = (uint8_t)((i * 2654435761u) >> 13);
	assert_int_equal(pwrite(f->fd, f->data, SIZE, 0), (ssize_t)SIZE);
	f->mac = sfs_blockmac_new();
	assert_non_null(f->mac);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	close(f->fd);
	unlink(f->path);
	sfs_blockmac_free(f->mac);
	free(f->data);
	free(f);
	return 0;
}

/* Bytes of [off, off+len) of the file in the page cache. */
static size_t resident(int fd, off_t off, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE), n = (len + pg - 1) / pg,
	       r = 0;
	unsigned char *vec = malloc(n);
	void *map = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);

	assert_non_null(vec);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mincore((uint8_t *)map + off, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		r += (vec[i] & 1) ? pg : 0;
	munmap(map, SIZE);
	free(vec);
	return r;
}

/*
 * Evict the file's pages; false where the filesystem keeps them or has
 * no O_DIRECT (then the cold path is not there to test).
 */
static bool evict(const struct fx *f)
{
	int dfd = open(f->path, O_RDONLY | O_DIRECT);

	if (dfd < 0)
		return false;
	close(dfd);
	assert_int_equal(fdatasync(f->fd), 0);
	assert_int_equal(posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	return resident(f->fd, 0, SIZE) == 0;
}

/*
 * What a cold pass may leave cached: with mincore (this test owns the
 * file) nothing; with RWF_NOWAIT probes the one page each chunk's probe
 * reads.
 */
static size_t probe_pages(void)
{
	return ((SIZE + (1u << 20) - 1) >> 20) * (size_t)sysconf(_SC_PAGESIZE);
}

/* Hash the file; check its digest and every block tag against want. */
static void hash_and_check(struct fx *f, const uint8_t *want)
{
	size_t nb = inbox_nblocks(SIZE);
	inbox_tag *tags = calloc(nb, INBOX_TAG);
	struct sfs_digest d;
	uint8_t sha[32];

	assert_non_null(tags);
	assert_int_equal(inbox_hash_blocks(f->fd, SIZE, SFS_MD_SHA256, f->mac,
					   42, &d, tags, NULL),
			 0);
	sfs_sha256(want, SIZE, sha);
	assert_int_equal(d.len, 32);
	assert_memory_equal(d.bytes, sha, 32);
	for (size_t b = 0; b < nb; b++) {
		size_t off = b * INBOX_BLOCK;
		size_t len =
		    SIZE - off < INBOX_BLOCK ? SIZE - off : INBOX_BLOCK;

		assert_int_equal(
		    sfs_blockmac_check(f->mac, 42, b, want + off, len, tags[b]),
		    0);
	}
	free(tags);
}

/*
 * Read with O_DIRECT, the cache holds only what the probes read. The
 * pass asks mincore here (the file is ours), which starts no read; were
 * it to fall back to RWF_NOWAIT probes, a probe's own read could still
 * finish in time on a busy machine (one in 60 runs of the old one-page
 * probe, now it takes the chunk's first and last page both), so the page
 * cache is set up again and the pass retried; a broken direct path
 * caches the file every time, and only a pass that never stays under
 * the bound fails.
 */
#define COLD_TRIES 5

static void test_cold(void **state)
{
	struct fx *f = *state;
	size_t got = 0;

	for (int i = 0; i < COLD_TRIES; i++) {
		if (!evict(f))
			skip();
		hash_and_check(f, f->data);
		got = resident(f->fd, 0, SIZE);
		if (got <= probe_pages())
			return;
		print_message("cold pass %d: %zu bytes cached, more than "
			      "the probes' %zu (a probe raced its own read?); "
			      "again\n",
			      i + 1, got, probe_pages());
	}
	fail_msg("%d cold passes left %zu bytes cached (> %zu): not read "
		 "with O_DIRECT",
		 COLD_TRIES, got, probe_pages());
}

static void test_warm(void **state)
{
	struct fx *f = *state;
	uint8_t *copy = malloc(SIZE);

	assert_non_null(copy);
	assert_int_equal(pread(f->fd, copy, SIZE, 0), (ssize_t)SIZE);
	hash_and_check(f, f->data);
	free(copy);
}

#define CHUNK_BYTES ((size_t)1 << 20)

/* Wait (2 s at most) until the page at off is in the page cache. */
static bool wait_resident(int fd, off_t off)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	for (int i = 0; i < 2000; i++) {
		if (resident(fd, off, pg) == pg)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * A probe must not fool itself: a RWF_NOWAIT probe that misses starts the
 * read of its page, and once that read is done the page is cached, while
 * the rest of the chunk is not. The old probe (the chunk's first page
 * only) then took the chunk as cached every time: here that moment is
 * waited for instead of raced. The NOWAIT probe also asks the last page,
 * which the first probe did not read; its own read could finish in time
 * too (the race, rarely), so the setup is retried; mincore reads nothing.
 */
static void test_probe_self(void **state)
{
	struct fx *f = *state;
	bool fooled = true;

	for (int i = 0; i < COLD_TRIES && fooled; i++) {
		if (!evict(f))
			skip();
		posix_fadvise(f->fd, 0, 0, POSIX_FADV_RANDOM);
		inbox_range_cached(f->fd, 0, CHUNK_BYTES, IB_PROBE_NOWAIT);
		assert_true(wait_resident(f->fd, 0));
		fooled =
		    inbox_range_cached(f->fd, 0, CHUNK_BYTES, IB_PROBE_NOWAIT);
	}
	if (fooled)
		fail_msg("the NOWAIT probe took a chunk with only its first "
			 "page cached (by its own read) as cached, %d times",
			 COLD_TRIES);
	/* mincore: the same chunk, the same answer, nothing read. */
	assert_false(
	    inbox_range_cached(f->fd, 0, CHUNK_BYTES, IB_PROBE_MINCORE));
	assert_false(inbox_range_cached(f->fd, 2 * CHUNK_BYTES, CHUNK_BYTES,
					IB_PROBE_MINCORE));
	assert_int_equal(resident(f->fd, 2 * CHUNK_BYTES, CHUNK_BYTES), 0);
	/* Twins: a chunk read whole is cached, by either probe. */
	assert_int_equal(pread(f->fd, f->data, CHUNK_BYTES, 3 * CHUNK_BYTES),
			 (ssize_t)CHUNK_BYTES);
	assert_true(inbox_range_cached(f->fd, 3 * CHUNK_BYTES, CHUNK_BYTES,
				       IB_PROBE_MINCORE));
	assert_true(inbox_range_cached(f->fd, 3 * CHUNK_BYTES, CHUNK_BYTES,
				       IB_PROBE_NOWAIT));
	/* The file's owner (this test) gets the probe that reads nothing. */
	assert_int_equal(inbox_probe_for(geteuid()), IB_PROBE_MINCORE);
}

/* Cold at the start, some chunks cached in the middle and at the end. */
static void test_mixed(void **state)
{
	struct fx *f = *state;
	uint8_t *tmp = malloc(3u << 20);

	assert_non_null(tmp);
	if (!evict(f))
		skip();
	assert_int_equal(pread(f->fd, tmp, 2u << 20, 3u << 20), 2u << 20);
	assert_int_equal(pread(f->fd, tmp, 4099, 9u << 20), 4099);
	hash_and_check(f, f->data);
	free(tmp);
}

/*
 * Twin: one byte changed on disk, read cold: the digest is that of the
 * changed bytes, not the original's, and the block's tag is that of the
 * changed block: it fails against the original one.
 */
static void test_flipped_cold(void **state)
{
	struct fx *f = *state;
	size_t nb = inbox_nblocks(SIZE), at = (5u << 20) + 17;
	size_t blk = at / INBOX_BLOCK;
	inbox_tag *tags = calloc(nb, INBOX_TAG);
	uint8_t orig = f->data[at], sha[32], want[32];
	struct sfs_digest d;

	assert_non_null(tags);
	f->data[at] ^= 0x40;
	assert_int_equal(pwrite(f->fd, &f->data[at], 1, (off_t)at), 1);
	if (!evict(f))
		skip();
	assert_int_equal(inbox_hash_blocks(f->fd, SIZE, SFS_MD_SHA256, f->mac,
					   7, &d, tags, NULL),
			 0);
	sfs_sha256(f->data, SIZE, want);
	assert_memory_equal(d.bytes, want, 32);
	assert_int_equal(sfs_blockmac_check(f->mac, 7, blk,
					    f->data + blk * INBOX_BLOCK,
					    INBOX_BLOCK, tags[blk]),
			 0);
	f->data[at] = orig;
	sfs_sha256(f->data, SIZE, sha);
	assert_memory_not_equal(d.bytes, sha, 32);
	assert_int_equal(sfs_blockmac_check(f->mac, 7, blk,
					    f->data + blk * INBOX_BLOCK,
					    INBOX_BLOCK, tags[blk]),
			 -EBADMSG);
	free(tags);
}

/* Twin: shorter than the size that was stamped: -EIO, cold and warm. */
static void test_short(void **state)
{
	struct fx *f = *state;
	inbox_tag *tags = calloc(inbox_nblocks(SIZE), INBOX_TAG);
	struct sfs_digest d;

	assert_non_null(tags);
	assert_int_equal(ftruncate(f->fd, SIZE - 5000), 0);
	evict(f);
	assert_int_equal(inbox_hash_blocks(f->fd, SIZE, SFS_MD_SHA256, f->mac,
					   1, &d, tags, NULL),
			 -EIO);
	assert_int_equal(pread(f->fd, f->data, SIZE - 5000, 0),
			 (ssize_t)(SIZE - 5000));
	assert_true(resident(f->fd, 0, SIZE - 5000) >= SIZE - 5000);
	assert_int_equal(inbox_hash_blocks(f->fd, SIZE, SFS_MD_SHA256, f->mac,
					   1, &d, tags, NULL),
			 -EIO);
	assert_int_equal(
	    pwrite(f->fd, f->data + SIZE - 5000, 5000, SIZE - 5000), 5000);
	free(tags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_cold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_warm, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_mixed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_flipped_cold, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_probe_self, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
