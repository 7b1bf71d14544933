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

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outbox/ob_file.h"

#define PF_EXITING 0x4

/*
 * A stat line: pid, comm, state, ppid 42, flags, 3 threads in field 20,
 * start time 12345 in field 22, exit_signal in field 38 (SIGCHLD unless
 * exit_signal is set), and nfields fields in all, the last (52) the exit
 * code.
 */
static int exit_signal = SIGCHLD;

static void line(char *buf, size_t size, const char *comm, char state,
		 unsigned long flags, int exit_code, int nfields)
{
	int n = snprintf(buf, size, "1234 (%s) %c 42", comm, state);

	for (int f = 5; f <= nfields; f++) {
		long v = 0;

		if (f == 9)
			v = (long)flags;
		else if (f == 20)
			v = 3;
		else if (f == 22)
			v = 12345;
		else if (f == 38)
			v = exit_signal;
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
	assert_int_equal(ex.nthreads, 3);
	assert_false(ex.thread);
}

/*
 * A thread that is not its group's leader has exit_signal -1: no process
 * names it as its parent. A leader has a signal, or 0 (clone without one).
 */
static void test_thread(void **state)
{
	struct ob_exit ex;

	(void)state;
	exit_signal = -1;
	parse("worker", 'S', 0, 0, 52, &ex);
	assert_true(ex.thread);
	assert_int_equal(ex.nthreads, 3);
	exit_signal = 0;
	parse("worker", 'S', 0, 0, 52, &ex);
	assert_false(ex.thread);
	exit_signal = SIGCHLD;
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
	assert_int_equal(ex.nthreads, 1);
	assert_false(ex.thread);
	ob_exit_state(0, &ex); /* another pid namespace: nothing known */
	assert_false(ex.known);
	assert_false(ex.gone);
}

static pthread_mutex_t stop_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t worker_tid;

static void *worker(void *arg)
{
	(void)arg;
	__atomic_store_n(&worker_tid, gettid(), __ATOMIC_RELEASE);
	pthread_mutex_lock(&stop_lock); /* until the test has looked */
	pthread_mutex_unlock(&stop_lock);
	return NULL;
}

/* The kernel's lines for a second thread and for its leader. */
static void test_kernel_thread(void **state)
{
	struct ob_exit ex;
	pthread_t t;
	pid_t tid;

	(void)state;
	pthread_mutex_lock(&stop_lock);
	assert_int_equal(pthread_create(&t, NULL, worker, NULL), 0);
	while (!(tid = __atomic_load_n(&worker_tid, __ATOMIC_ACQUIRE)))
		usleep(1000);
	ob_exit_state(tid, &ex);
	assert_true(ex.known);
	assert_true(ex.thread);
	assert_int_equal(ex.nthreads, 2);
	assert_int_equal(ex.ppid, getppid()); /* the group's parent */
	ob_exit_state(getpid(), &ex);
	assert_false(ex.thread);
	assert_int_equal(ex.nthreads, 2);
	pthread_mutex_unlock(&stop_lock);
	assert_int_equal(pthread_join(t, NULL), 0);
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
	    cmocka_unit_test(test_running),
	    cmocka_unit_test(test_hostile_comm),
	    cmocka_unit_test(test_exiting),
	    cmocka_unit_test(test_short),
	    cmocka_unit_test(test_self),
	    cmocka_unit_test(test_kernel_exit),
	    cmocka_unit_test(test_thread),
	    cmocka_unit_test(test_kernel_thread),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
