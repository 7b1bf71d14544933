// SPDX-License-Identifier: Apache-2.0
/*
 * A sign-failed record names the sign record it answers ("answers": its
 * seq), and a log that cannot take that answer takes nothing more: the
 * sign record would otherwise vouch for a signature that was never made
 * (docs/audit-log.md). The log's file is made too small for the answer
 * with RLIMIT_FSIZE (write(2) then fails with EFBIG; SIGXFSZ ignored).
 * The twin: a failure record that answers no sign record and cannot be
 * written leaves the log writable.
 * Records that could not be written are counted, and the process's next
 * line is a records-lost line with the count, before the record or the
 * checkpoint that follows (a seal never hides the gap); its twin: no
 * loss, no such line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signetfs/audit.h"
#include "signetfs/digest.h"

struct fx {
	char dir[64];
	char path[96];
	struct audit_log *log;
	struct sfs_digest d;
	struct rlimit saved;
};

static int setup(void **state)
{
	static struct fx F;
	struct audit_options opt = {.sync = AUDIT_SYNC_GROUP};

	memset(&F, 0, sizeof(F));
	strcpy(F.dir, "/tmp/sfs-answer.XXXXXX");
	assert_non_null(mkdtemp(F.dir));
	snprintf(F.path, sizeof(F.path), "%s/audit.jsonl", F.dir);
	assert_int_equal(audit_open_opts(F.path, &opt, &F.log), 0);
	F.d.alg = SFS_MD_SHA256;
	F.d.len = 32;
	memset(F.d.bytes, 0xab, 32);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &F.saved), 0);
	*state = &F;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	setrlimit(RLIMIT_FSIZE, &f->saved);
	audit_close(f->log); /* NULL when the test closed it */
	unlink(f->path);
	rmdir(f->dir);
	return 0;
}

/* No write past the log's present size (soft limit only). */
static void limit_to_now(struct fx *f)
{
	struct rlimit rl = f->saved;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	rl.rlim_cur = (rlim_t)st.st_size;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
}

static void unlimit(struct fx *f)
{
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &f->saved), 0);
}

/* ... and the reason of the last records-lost line, into why. */
static int lines_why(struct fx *f, char events[][16], int max, int64_t *answers,
		     char *why, size_t why_len)
{
	FILE *fp = fopen(f->path, "r");
	char buf[8192];
	int n = 0;

	assert_non_null(fp);
	*answers = 0;
	while (fgets(buf, sizeof(buf), fp) && n < max) {
		json_object *o = json_tokener_parse(buf), *v;

		assert_non_null(o);
		assert_true(json_object_object_get_ex(o, "event", &v));
		snprintf(events[n], 16, "%s", json_object_get_string(v));
		*answers = json_object_object_get_ex(o, "answers", &v)
			       ? json_object_get_int64(v)
			       : 0;
		if (why && !strcmp(events[n], "records-lost") &&
		    json_object_object_get_ex(o, "reason", &v))
			snprintf(why, why_len, "%s", json_object_get_string(v));
		json_object_put(o);
		n++;
	}
	fclose(fp);
	return n;
}

/* The events of the log's lines, and the "answers" of the last one. */
static int lines(struct fx *f, char events[][16], int max, int64_t *answers)
{
	return lines_why(f, events, max, answers, NULL, 0);
}

static struct audit_record rec(struct fx *f, const char *path)
{
	struct audit_record r = {
	    .path = path, .path_len = strlen(path), .size = 5, .digest = &f->d};

	return r;
}

/* A record that answers no sign record: losing it does not latch. */
static struct audit_record refused(struct fx *f, const char *path)
{
	struct audit_record r = rec(f, path);

	r.event = "sign-refused";
	r.reason = "test";
	return r;
}

static void test_answer_names_the_sign_record(void **state)
{
	struct fx *f = *state;
	struct audit_record r = rec(f, "a");
	char ev[8][16];
	uint64_t seq = 0;
	int64_t answers;
	off_t end;
	int n;

	assert_int_equal(audit_sign_begin(f->log, &r, &end, &seq), 0);
	assert_true(seq > 0);
	assert_int_equal(audit_sync_to(f->log, end), 0);
	audit_sign_abort(f->log, &r, "token failed", seq);
	n = lines(f, ev, 8, &answers);
	assert_string_equal(ev[n - 2], "sign");
	assert_string_equal(ev[n - 1], "sign-failed");
	assert_int_equal(answers, (int64_t)seq);
	/* The log goes on. */
	r = rec(f, "b");
	assert_int_equal(audit_sign_begin(f->log, &r, &end, &seq), 0);
}

static void test_unanswerable_latches(void **state)
{
	struct fx *f = *state;
	struct audit_record r = rec(f, "a"), other = rec(f, "b");
	char ev[8][16];
	uint64_t seq = 0, seq2;
	int64_t answers;
	off_t end;
	int n;

	assert_int_equal(audit_sign_begin(f->log, &r, &end, &seq), 0);
	assert_int_equal(audit_sync_to(f->log, end), 0);
	limit_to_now(f);
	audit_sign_abort(f->log, &r, "token failed", seq);
	unlimit(f);
	/* Room again, and still nothing is written: the sign record stays
	 * the last line. */
	assert_int_not_equal(audit_sign_begin(f->log, &other, &end, &seq2), 0);
	assert_int_not_equal(audit_write(f->log, &other), 0);
	n = lines(f, ev, 8, &answers);
	assert_string_equal(ev[n - 1], "sign");
	/* It does not close clean: the caller's exit status says so. */
	assert_int_equal(audit_close(f->log), -EIO);
	f->log = NULL;
}

/* The twin: a failure that answers nothing does not latch the log. */
static void test_unwritable_plain_failure_does_not_latch(void **state)
{
	struct fx *f = *state;
	struct audit_record r = rec(f, "a");
	uint64_t seq = 0;
	off_t end;

	limit_to_now(f);
	audit_sign_abort(f->log, &r, "token failed before any record", 0);
	unlimit(f);
	assert_int_equal(audit_sign_begin(f->log, &r, &end, &seq), 0);
	assert_int_equal(audit_sync_to(f->log, end), 0);
	assert_int_equal(audit_close(f->log), 0);
	f->log = NULL;
}

/* Two records lost to the limit; the next record is preceded by the count. */
static void test_lost_records_are_counted(void **state)
{
	struct fx *f = *state;
	struct audit_record r = refused(f, "a"), lost = refused(f, "b");
	char ev[16][16], why[160] = "";
	int64_t answers;
	int n;

	limit_to_now(f);
	assert_int_not_equal(audit_write(f->log, &lost), 0);
	assert_int_not_equal(audit_write(f->log, &lost), 0);
	unlimit(f);
	assert_int_equal(audit_write(f->log, &r), 0);
	n = lines_why(f, ev, 16, &answers, why, sizeof(why));
	assert_string_equal(ev[n - 2], "records-lost");
	assert_string_equal(ev[n - 1], "sign-refused");
	assert_string_equal(why,
			    "2 records could not be written: File too large");
	/* Said once: the next record has no such line before it. */
	assert_int_equal(audit_write(f->log, &r), 0);
	n = lines(f, ev, 16, &answers);
	assert_string_equal(ev[n - 2], "sign-refused");
	assert_int_equal(audit_close(f->log), 0);
	f->log = NULL;
}

/* The twin: nothing lost, no records-lost line. */
static void test_nothing_lost_no_line(void **state)
{
	struct fx *f = *state;
	struct audit_record r = refused(f, "a");
	char ev[16][16];
	int64_t answers;
	int n;

	assert_int_equal(audit_write(f->log, &r), 0);
	assert_int_equal(audit_write(f->log, &r), 0);
	n = lines(f, ev, 16, &answers);
	for (int i = 0; i < n; i++)
		assert_string_not_equal(ev[i], "records-lost");
}

/*
 * audit_checkpoint (timed, on SIGHUP, final) writes the count before it
 * seals, so a seal never hides the gap; without a signer, as here, it
 * writes only the count.
 */
static void test_lost_before_checkpoint(void **state)
{
	struct fx *f = *state;
	struct audit_record r = refused(f, "a");
	char ev[16][16];
	int64_t answers;
	int n;

	limit_to_now(f);
	assert_int_not_equal(audit_write(f->log, &r), 0);
	unlimit(f);
	assert_int_equal(audit_checkpoint(f->log, false), 0);
	n = lines(f, ev, 16, &answers);
	assert_string_equal(ev[n - 1], "records-lost");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_answer_names_the_sign_record,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unanswerable_latches, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_unwritable_plain_failure_does_not_latch, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lost_records_are_counted,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_lost_no_line, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_lost_before_checkpoint, setup,
					    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
