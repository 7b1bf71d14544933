// SPDX-License-Identifier: Apache-2.0
/*
 * The /proc/PID/stat parser the outbox decides "was the writer killed?"
 * with (src/outbox/outbox_writers.c): synthetic lines for every shape it
 * must tell apart, then the kernel's own lines for a live process, a zombie
 * that exited, one that was killed, and one that was reaped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outbox/ob_file.h"

#define PF_EXITING 0x4

/*
 * A stat line: pid, comm, state, ppid 42, flags, start time 12345 in
 * field 22, and nfields fields in all, the last (52) the exit code.
 */
static void line(char *buf, size_t size, const char *comm, char state,
		 unsigned long flags, int exit_code, int nfields)
{
	int n = snprintf(buf, size, "1234 (%s) %c 42", comm, state);

	for (int f = 5; f <= nfields; f++) {
		long v = 0;

		if (f == 9)
			v = (long)flags;
		else if (f == 22)
			v = 12345;
		else if (f == 52)
			v = exit_code;
		else
			v = f * 10; /* not 0: a misplaced field shows */
		n += snprintf(buf + n, size - (size_t)n, " %ld", v);
	}
	snprintf(buf + n, size - (size_t)n, "\n");
}

static void parse(const char *comm, char state, unsigned long flags,
		  int exit_code, int nfields, struct ob_exit *ex)
{
	char buf[1024];

	line(buf, sizeof(buf), comm, state, flags, exit_code, nfields);
	ob_parse_stat(buf, ex);
}

static void test_running(void **state)
{
	struct ob_exit ex;

	(void)state;
	parse("cp", 'R', 0x400000, 0, 52, &ex);
	assert_true(ex.known);
	assert_false(ex.exiting);
	assert_false(ex.gone);
	assert_int_equal(ex.ppid, 42);
	assert_int_equal(ex.start, 12345);
	assert_int_equal(ex.signal, 0);
}

/* comm is the writer's to choose: spaces, parentheses, digits. */
static void test_hostile_comm(void **state)
{
	static const char *comms[] = {"a b", "x) Z 1 2", ") (", "9 9 9 9", ""};
	struct ob_exit ex;

	(void)state;
	for (size_t i = 0; i < sizeof(comms) / sizeof(comms[0]); i++) {
		parse(comms[i], 'S', 0, 0, 52, &ex);
		assert_true(ex.known);
		assert_false(ex.exiting);
		assert_int_equal(ex.ppid, 42);
		assert_int_equal(ex.start, 12345);
		parse(comms[i], 'S', PF_EXITING, SIGKILL, 52, &ex);
		assert_true(ex.exiting);
		assert_int_equal(ex.signal, SIGKILL);
	}
}

static void test_exiting(void **state)
{
	struct ob_exit ex;

	(void)state;
	/* Killed: PF_EXITING while its files are closed. */
	parse("w", 'R', PF_EXITING | 0x40, SIGKILL, 52, &ex);
	assert_true(ex.exiting);
	assert_int_equal(ex.signal, SIGKILL);
	assert_int_equal(ex.status, 0);
	/* A normal exit(3). */
	parse("w", 'R', PF_EXITING, 3 << 8, 52, &ex);
	assert_true(ex.exiting);
	assert_int_equal(ex.signal, 0);
	assert_int_equal(ex.status, 3);
	/* Zombies and dead tasks exit whatever their flags say. */
	parse("w", 'Z', 0, SIGTERM, 52, &ex);
	assert_true(ex.exiting);
	assert_int_equal(ex.signal, SIGTERM);
	parse("w", 'X', 0, 0, 52, &ex);
	assert_true(ex.exiting);
	/* An exit code on a live task is not read as one. */
	parse("w", 'S', 0, SIGKILL, 52, &ex);
	assert_false(ex.exiting);
	assert_int_equal(ex.signal, 0);
}

/* A line cut short (an old kernel, a short read) is not known. */
static void test_short(void **state)
{
	struct ob_exit ex;

	(void)state;
	parse("w", 'Z', PF_EXITING, SIGKILL, 51, &ex);
	assert_false(ex.known);
	assert_false(ex.exiting);
	{
		char bad[] = "1234 (no close paren R 1 2 3";

		ob_parse_stat(bad, &ex);
		assert_false(ex.known);
	}
}

/* The kernel's own lines. */
static void test_self(void **state)
{
	struct ob_exit ex;

	(void)state;
	ob_exit_state(getpid(), &ex);
	assert_true(ex.known);
	assert_false(ex.exiting);
	assert_false(ex.gone);
	assert_int_equal(ex.ppid, getppid());
	assert_true(ex.start > 0);
	ob_exit_state(0, &ex); /* another pid namespace: nothing known */
	assert_false(ex.known);
	assert_false(ex.gone);
}

/* A child that ended, as a zombie (waited for without reaping). */
static pid_t zombie(int how)
{
	siginfo_t si;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (how < 0)
			raise(-how);
		_exit(how);
	}
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	return pid;
}

static void test_kernel_exit(void **state)
{
	struct ob_exit ex;
	pid_t pid;

	(void)state;
	pid = zombie(7);
	ob_exit_state(pid, &ex);
	assert_true(ex.known);
	assert_true(ex.exiting);
	assert_int_equal(ex.signal, 0);
	assert_int_equal(ex.status, 7);
	assert_int_equal(ex.ppid, getpid());
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	ob_exit_state(pid, &ex);
	assert_true(ex.gone);
	assert_false(ex.known);

	pid = zombie(-SIGKILL);
	ob_exit_state(pid, &ex);
	assert_true(ex.exiting);
	assert_int_equal(ex.signal, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_running), cmocka_unit_test(test_hostile_comm),
	    cmocka_unit_test(test_exiting), cmocka_unit_test(test_short),
	    cmocka_unit_test(test_self),    cmocka_unit_test(test_kernel_exit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
