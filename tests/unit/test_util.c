// SPDX-License-Identifier: Apache-2.0
/* Path rules, hex, atomic writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signetfs/layout.h"
#include "signetfs/util.h"

static void test_path_check(void **state)
{
	static const char *good[] = {"a",   "a/b",  "a b/c\nd", "\xff\xfe/x",
				     "...", "a/.b", "..a"};
	static const char *bad[] = {"",	  "/a",	   "a/",     "a//b", ".",
				    "..", "a/./b", "a/../b", "../a", "a/.."};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(good); i++)
		assert_int_equal(sfs_path_check(good[i], strlen(good[i])), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_int_equal(sfs_path_check(bad[i], strlen(bad[i])),
				 -EINVAL);
	/* An embedded NUL is never part of a Linux name. */
	assert_int_equal(sfs_path_check("a\0b", 3), -EINVAL);
}

static void test_hex(void **state)
{
	uint8_t b[4] = {0x00, 0xab, 0x7f, 0xff}, back[4];
	char hex[9];

	(void)state;
	sfs_hex(b, 4, hex);
	assert_string_equal(hex, "00ab7fff");
	assert_int_equal(sfs_unhex("00:AB:7f:ff", back, 4), 4);
	assert_memory_equal(b, back, 4);
	assert_int_equal(sfs_unhex("0g", back, 4), -EINVAL);
	assert_int_equal(sfs_unhex("abc", back, 4), -EINVAL);
	assert_int_equal(sfs_unhex("0011223344", back, 4), -EINVAL);
}

static void test_sig_name(void **state)
{
	(void)state;
	assert_true(sfs_is_sig_name("a.sig", 5));
	assert_true(sfs_is_sig_name(".sig", 4));
	assert_false(sfs_is_sig_name("a.sig2", 6));
	assert_false(sfs_is_sig_name("sig", 3));
}

/* Writer names <-> BACKING names: escaped around the signature slots. */
static void test_layout_names(void **state)
{
	static const char *const map[][2] = {
	    {"a", "a"},
	    {"x.sig", "x.sig~"},
	    {"x.sig~", "x.sig~~"},
	    {"x.sig~~", "x.sig~~~"},
	    {".sig", ".sig~"},
	    {"x.sig.sig", "x.sig.sig~"},
	    {"x.sig~x", "x.sig~x"},
	    {"x.sig2", "x.sig2"},
	    {"x~", "x~"},
	    {"sig~", "sig~"},
	    {"x.SIG", "x.SIG"},
	};
	char out[NAME_MAX + 1], back[NAME_MAX + 1], big[NAME_MAX + 2];
	size_t n, m;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(map); i++) {
		const char *w = map[i][0], *b = map[i][1];

		assert_int_equal(sfs_name_to_backing(w, strlen(w), out, &n), 0);
		assert_string_equal(out, b);
		assert_int_equal(n, strlen(b));
		assert_false(sfs_name_is_slot(out, n));
		assert_int_equal(sfs_name_from_backing(out, n, back, &m), 0);
		assert_string_equal(back, w);
	}
	/* Slots have no writer name; nothing maps onto one. */
	assert_int_equal(sfs_name_from_backing("x.sig", 5, out, &n), -EINVAL);
	assert_int_equal(sfs_name_from_backing(".sig", 4, out, &n), -EINVAL);
	assert_int_equal(sfs_name_to_backing("", 0, out, &n), -EINVAL);
	assert_int_equal(sfs_name_to_backing("a/b", 3, out, &n), -EINVAL);
	/* NAME_MAX: an escaped name needs one byte more. */
	memset(big, 'a', sizeof(big));
	assert_int_equal(sfs_name_to_backing(big, NAME_MAX, out, &n), 0);
	assert_int_equal(sfs_name_to_backing(big, NAME_MAX + 1, out, &n),
			 -ENAMETOOLONG);
	memcpy(big + NAME_MAX - 4, ".sig", 4);
	assert_int_equal(sfs_name_to_backing(big, NAME_MAX, out, &n),
			 -ENAMETOOLONG);
	assert_int_equal(sfs_name_to_backing(big + 1, NAME_MAX - 1, out, &n),
			 0);
	assert_int_equal(n, NAME_MAX);
	assert_int_equal(SFS_NAME_MAX_SIGNED + 1 + 4, NAME_MAX);
}

/* Every pair of short names over {x, ., s, i, g, ~}: a bijection. */
static void test_layout_bijection(void **state)
{
	static const char alpha[] = "x.sig~";
	char w[8], b[NAME_MAX + 1], back[NAME_MAX + 1];
	size_t n, m, count = 0;

	(void)state;
	for (unsigned len = 1; len <= 6; len++) {
		unsigned total = 1;

		for (unsigned k = 0; k < len; k++)
			total *= 6;
		for (unsigned v = 0; v < total; v++) {
			unsigned x = v;

			for (unsigned k = 0; k < len; k++, x /= 6)
				w[k] = alpha[x % 6];
			w[len] = '\0';
			assert_int_equal(sfs_name_to_backing(w, len, b, &n), 0);
			/* Never a slot, and escaped exactly when it must be. */
			assert_false(sfs_name_is_slot(b, n));
			assert_int_equal(n, len + sfs_name_escaped(w, len));
			assert_int_equal(sfs_name_from_backing(b, n, back, &m),
					 0);
			assert_int_equal(m, len);
			assert_memory_equal(back, w, len);
			/* A stored name is a slot, or some writer's name. */
			if (sfs_name_is_slot(w, len))
				continue;
			assert_int_equal(
			    sfs_name_from_backing(w, len, back, &m), 0);
			assert_int_equal(sfs_name_to_backing(back, m, b, &n),
					 0);
			assert_int_equal(n, len);
			assert_memory_equal(b, w, len);
			count++;
		}
	}
	assert_true(count > 40000);
}

static void test_layout_paths(void **state)
{
	char out[PATH_MAX], back[PATH_MAX];
	size_t n, m;

	(void)state;
	assert_int_equal(
	    sfs_path_to_backing("a.sig/b/c.sig~", 14, out, sizeof(out), &n), 0);
	assert_string_equal(out, "a.sig~/b/c.sig~~");
	assert_int_equal(n, 16);
	assert_int_equal(sfs_path_from_backing(out, n, back, sizeof(back), &m),
			 0);
	assert_string_equal(back, "a.sig/b/c.sig~");
	assert_int_equal(sfs_path_to_backing("", 0, out, sizeof(out), &n), 0);
	assert_int_equal(n, 0);
	/* A slot anywhere in a stored path: no writer path. */
	assert_int_equal(
	    sfs_path_from_backing("d.sig/f", 7, back, sizeof(back), &m),
	    -EINVAL);
	assert_int_equal(
	    sfs_path_from_backing("d/f.sig", 7, back, sizeof(back), &m),
	    -EINVAL);
	assert_int_equal(sfs_path_to_backing("a//b", 4, out, sizeof(out), &n),
			 -EINVAL);
	assert_int_equal(sfs_path_to_backing("a.sig", 5, out, 6, &n),
			 -ENAMETOOLONG);
}

/* A writer's path's signature slot: its stored path + ".sig". */
static void test_path_to_slot(void **state)
{
	char out[PATH_MAX], name[NAME_MAX + 1];
	size_t n;

	(void)state;
	assert_int_equal(
	    sfs_path_to_slot("d.sig/f.sig", 11, out, sizeof(out), &n), 0);
	assert_string_equal(out, "d.sig~/f.sig~.sig");
	assert_int_equal(n, 17);
	assert_int_equal(sfs_path_to_slot("", 0, out, sizeof(out), &n),
			 -EINVAL);
	assert_int_equal(sfs_path_to_slot("a//b", 4, out, sizeof(out), &n),
			 -EINVAL);
	/* Stored, but its slot's name would be too long: no signature. */
	memset(name, 'a', NAME_MAX - 3);
	assert_int_equal(
	    sfs_path_to_slot(name, NAME_MAX - 4, out, sizeof(out), &n), 0);
	assert_int_equal(
	    sfs_path_to_slot(name, NAME_MAX - 3, out, sizeof(out), &n),
	    -ENAMETOOLONG);
	assert_int_equal(sfs_path_to_slot("f", 1, out, 5, &n), -ENAMETOOLONG);
	assert_int_equal(sfs_path_to_slot("f", 1, out, 6, &n), 0);
}

/* FILE + sig-suffix names FILE's signature; FILE's last part not empty. */
static void test_path_sig_of(void **state)
{
	(void)state;
	assert_int_equal(sfs_path_sig_of("d/f.sig", 7, ".sig"), 3);
	assert_int_equal(sfs_path_sig_of("f.asc", 5, ".asc"), 1);
	assert_int_equal(sfs_path_sig_of("f.sig", 5, ".asc"), 0);
	assert_int_equal(sfs_path_sig_of(".sig", 4, ".sig"), 0);
	assert_int_equal(sfs_path_sig_of("d/.sig", 6, ".sig"), 0);
	assert_int_equal(sfs_path_sig_of("", 0, ".sig"), 0);
}

static void test_atomic_write(void **state)
{
	char dir[] = "/tmp/sfs-unit-XXXXXX";
	uint8_t *buf = NULL;
	size_t len = 0;
	int dfd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	assert_int_equal(
	    sfs_write_atomic_at(dfd, "f.sig", "one", 3, 0444, true), 0);
	assert_int_equal(
	    sfs_write_atomic_at(dfd, "f.sig", "second", 6, 0444, false), 0);
	assert_int_equal(sfs_read_file_at(dfd, "f.sig", 100, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "second", 6);
	free(buf);
	/* Over the size limit: refused, not truncated. */
	assert_int_equal(sfs_read_file_at(dfd, "f.sig", 5, &buf, &len), -EFBIG);
	/* In two steps: nothing at NAME changes before the commit. */
	{
		char tmp[PATH_MAX];

		assert_int_equal(sfs_atomic_prepare_at(dfd, "f.sig", "third", 5,
						       0444, true, tmp),
				 0);
		assert_true(sfs_is_atomic_temp(tmp));
		assert_int_equal(
		    sfs_read_file_at(dfd, "f.sig", 100, &buf, &len), 0);
		assert_memory_equal(buf, "second", 6);
		free(buf);
		assert_int_equal(sfs_atomic_commit_at(dfd, tmp, "f.sig", true),
				 0);
		assert_int_equal(
		    sfs_read_file_at(dfd, "f.sig", 100, &buf, &len), 0);
		assert_int_equal(len, 5);
		assert_memory_equal(buf, "third", 5);
		free(buf);
		assert_int_equal(sfs_atomic_prepare_at(dfd, "f.sig", "fourth",
						       6, 0444, false, tmp),
				 0);
		sfs_atomic_abort_at(dfd, tmp);
		assert_int_equal(faccessat(dfd, tmp, F_OK, 0), -1);
	}
	/* Layout 1's temp names are writers' names now (layout.h). */
	assert_false(sfs_is_atomic_temp(".f.sig.abc123.tmp"));
	assert_true(sfs_is_legacy_temp(".f.sig.abc123.tmp"));
	assert_false(sfs_is_legacy_temp(".f.abc123.tmp"));
	assert_false(sfs_is_atomic_temp("f.sig"));
	assert_true(sfs_is_atomic_temp(".sfs-tmp-0123456789az.sig.sig"));
	assert_false(sfs_is_atomic_temp(".sfs-tmp-0123456789aZ.sig.sig"));
	assert_false(sfs_is_atomic_temp(".sfs-tmp-0123456789a.sig.sig"));
	assert_int_equal(unlinkat(dfd, "f.sig", 0), 0);
	/* Nothing else left behind: no temp files. */
	assert_int_equal(unlinkat(dfd, ".", AT_REMOVEDIR), -1);
	close(dfd);
	assert_int_equal(rmdir(dir), 0);
}

static void test_relative(void **state)
{
	char dir[] = "/tmp/sfs-unit-XXXXXX", sub[64], file[96];
	char *rel = NULL;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	snprintf(file, sizeof(file), "%s/sub/../sub/f", dir);
	assert_int_equal(sfs_path_relative(dir, file, &rel), 0);
	assert_string_equal(rel, "sub/f");
	free(rel);
	/* As served: a stored "x.sig~" is the writer's "x.sig". */
	snprintf(file, sizeof(file), "%s/sub/x.sig~", dir);
	assert_int_equal(sfs_path_relative(dir, file, &rel), 0);
	assert_string_equal(rel, "sub/x.sig");
	free(rel);
	snprintf(file, sizeof(file), "%s/sub/x.sig", dir);
	assert_int_equal(sfs_path_relative(dir, file, &rel), -EINVAL);
	assert_int_equal(sfs_path_relative(sub, "/etc/passwd", &rel), -EXDEV);
	snprintf(file, sizeof(file), "%s/subx", dir);
	assert_int_equal(sfs_path_relative(sub, file, &rel), -EXDEV);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* Is fd open? (No other thread of this test opens files meanwhile.) */
static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0 || errno != EBADF;
}

static void test_closer(void **state)
{
	char dir[] = "/tmp/sfs-unit-XXXXXX";
	struct sfs_closer *c;
	struct stat st;
	int dfd, old, fds[64];

	(void)state;
	assert_non_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	assert_true(dfd >= 0);
	/* Held across the rename, the replaced file is still there... */
	assert_int_equal(sfs_write_atomic_at(dfd, "f.sig", "one", 3, 0644, 0),
			 0);
	old = openat(dfd, "f.sig", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	assert_true(old >= 0);
	assert_int_equal(sfs_write_atomic_at(dfd, "f.sig", "two", 3, 0644, 0),
			 0);
	assert_int_equal(fstat(old, &st), 0);
	assert_int_equal(st.st_nlink, 0);
	/* ...until the closer lets it go, on its thread, by free() at last. */
	c = sfs_closer_new(2, 4);
	assert_non_null(c);
	sfs_closer_put(c, old);
	/* More than the queue holds: the rest is closed by the caller. */
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
		fds[i] = dup(dfd);
		assert_true(fds[i] >= 0);
		sfs_closer_put(c, fds[i]);
	}
	sfs_closer_put(c, -1); /* nothing */
	sfs_closer_free(c);
	assert_false(fd_open(old));
	for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
		assert_false(fd_open(fds[i]));
	/* Without a closer: at once. */
	old = dup(dfd);
	assert_true(old >= 0);
	sfs_closer_put(NULL, old);
	assert_false(fd_open(old));
	assert_int_equal(unlinkat(dfd, "f.sig", 0), 0);
	close(dfd);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_path_check),
	    cmocka_unit_test(test_hex),
	    cmocka_unit_test(test_layout_names),
	    cmocka_unit_test(test_layout_bijection),
	    cmocka_unit_test(test_layout_paths),
	    cmocka_unit_test(test_path_to_slot),
	    cmocka_unit_test(test_path_sig_of),
	    cmocka_unit_test(test_sig_name),
	    cmocka_unit_test(test_atomic_write),
	    cmocka_unit_test(test_relative),
	    cmocka_unit_test(test_closer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
