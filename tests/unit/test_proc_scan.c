// SPDX-License-Identifier: Apache-2.0
/*
 * The scans a close of the outbox decides "does anybody else still hold the
 * file for writing?" with (src/outbox/outbox_writers.c): this process's
 * own descriptor table read through /proc (which descriptors count, and
 * which are passed over on the mode of their /proc/PID/fd link alone), and
 * whether a shared writable mapping can exist at all (only through a
 * handle open for reading and writing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "outbox/ob_file.h"

static char path[64], other[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/sfs-proc-scan.XXXXXX");
	snprintf(other, sizeof(other), "/tmp/sfs-proc-scan.XXXXXX");
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	close(fd);
	fd = mkstemp(other);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unlink(path);
	unlink(other);
	return 0;
}

static ino_t ino_of(const char *p)
{
	struct stat st;

	assert_int_equal(stat(p, &st), 0);
	return st.st_ino;
}

static enum ob_hold self_holds(ino_t ino)
{
	return ob_fds_hold(getpid(), gettid(), ino);
}

/* Read-only descriptors (many of them) never count; writable ones do. */
static void test_fds(void **state)
{
	ino_t ino = ino_of(path);
	int ro[40], wo, rw, w2;

	(void)state;
	assert_int_equal(self_holds(ino), OB_HOLD_NONE);
	for (size_t k = 0; k < sizeof(ro) / sizeof(ro[0]); k++) {
		ro[k] = open(path, O_RDONLY);
		assert_true(ro[k] >= 0);
	}
	assert_int_equal(self_holds(ino), OB_HOLD_NONE);
	wo = open(path, O_WRONLY);
	assert_true(wo >= 0);
	assert_int_equal(self_holds(ino), OB_HOLD_FD);
	/* Past a descriptor table's first getdents64 buffer too. */
	w2 = fcntl(wo, F_DUPFD, 900);
	assert_true(w2 >= 900);
	close(wo);
	assert_int_equal(self_holds(ino), OB_HOLD_FD);
	close(w2);
	assert_int_equal(self_holds(ino), OB_HOLD_NONE);
	rw = open(path, O_RDWR);
	assert_true(rw >= 0);
	assert_int_equal(self_holds(ino), OB_HOLD_FD);
	/* Another file, written: not this one. */
	assert_int_equal(self_holds(ino_of(other)), OB_HOLD_NONE);
	wo = open(other, O_WRONLY);
	assert_int_equal(self_holds(ino_of(other)), OB_HOLD_FD);
	close(wo);
	close(rw);
	for (size_t k = 0; k < sizeof(ro) / sizeof(ro[0]); k++)
		close(ro[k]);
	assert_int_equal(self_holds(ino), OB_HOLD_NONE);
	/* A task that is gone holds nothing. */
	assert_int_equal(ob_fds_hold(getpid(), 0, ino), OB_HOLD_NONE);
}

/* An io_uring instance may have any file registered: it holds silently. */
static void test_uring(void **state)
{
	char params[120] = {0};
	long fd;

	(void)state;
	fd = syscall(__NR_io_uring_setup, 4, params);
	if (fd < 0)
		skip(); /* no io_uring here (kernel, seccomp, sysctl) */
	assert_int_equal(self_holds(ino_of(path)), OB_HOLD_SILENT);
	close((int)fd);
	assert_int_equal(self_holds(ino_of(path)), OB_HOLD_NONE);
}

/* A shared writable mapping needs an O_RDWR open: only then look for it. */
static void test_may_map(void **state)
{
	struct ob_inode s;
	struct ob_file a, b, c;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	memset(&c, 0, sizeof(c));
	a.write_only = b.write_only = true;
	c.write_only = false; /* O_RDWR, or O_RDONLY | O_TRUNC */
	assert_false(ob_may_map_shared(&s));
	ob_add_handle_locked(&s, &a);
	ob_add_handle_locked(&s, &b);
	assert_false(ob_may_map_shared(&s));
	ob_add_handle_locked(&s, &c);
	assert_true(ob_may_map_shared(&s));
	ob_del_handle_locked(&s, &a);
	assert_true(ob_may_map_shared(&s));
	ob_del_handle_locked(&s, &c); /* released: its mappings are gone */
	assert_false(ob_may_map_shared(&s));
	ob_del_handle_locked(&s, &b);
	assert_false(ob_may_map_shared(&s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fds),
	    cmocka_unit_test(test_uring),
	    cmocka_unit_test(test_may_map),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
