// SPDX-License-Identifier: Apache-2.0
/*
 * The state directory (src/state): what it keeps across restarts, and the
 * forgery twins: an edited entry, an entry moved to another path or
 * another store, a copied directory, another root, a directory or key
 * others can write, a directory inside the root. Each proves nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "signetfs/state.h"
#include "signetfs/verdict.h"

static char tmp[64], root[96], other_root[96], dir[96];

static int setup(void **state)
{
	(void)state;
	snprintf(tmp, sizeof(tmp), "/tmp/sfs-state-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(root, sizeof(root), "%s/root", tmp);
	snprintf(other_root, sizeof(other_root), "%s/other", tmp);
	snprintf(dir, sizeof(dir), "%s/state", tmp);
	return mkdir(root, 0755) || mkdir(other_root, 0755);
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	return system(cmd);
}

static void sh(const char *fmt, const char *a, const char *b)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), fmt, a, b);
	assert_int_equal(system(cmd), 0);
}

static struct state_store *open_ok(const char *d, const char *r,
				   enum state_role role, unsigned flags)
{
	struct state_store *st = NULL;
	struct sfs_error err = {0};

	if (state_open(d, r, role, flags, &st, &err))
		fail_msg("state_open %s: %s", d, err.msg);
	return st;
}

/* state_open refuses, and says something containing want. */
static void open_refused(const char *d, const char *r, const char *want)
{
	struct state_store *st = NULL;
	struct sfs_error err = {0};

	assert_int_not_equal(state_open(d, r, STATE_INBOX, 0, &st, &err), 0);
	assert_null(st);
	if (!strstr(err.msg, want))
		fail_msg("%s: message '%s' lacks '%s'", d, err.msg, want);
}

static void sample_verdict(struct state_verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->content = (struct state_stamp){1, 2, 3, 4, 5, 6};
	v->sig = (struct state_stamp){1, 7, 8, 900, 10, 11};
	memset(v->sig_sha256, 0xaa, 32);
	memset(v->epoch, 0xee, 32);
	v->digest.alg = SFS_MD_SHA256;
	v->digest.len = 32;
	memset(v->digest.bytes, 0x5a, 32);
	snprintf(v->signer_subject, sizeof(v->signer_subject), "/CN=signer");
	v->signing_time = 1700000000;
	v->sig_len = 900;
	v->file_version = 7;
}

static void test_keeps(void **state)
{
	struct state_store *st = open_ok(dir, root, STATE_INBOX, 0);
	struct state_verdict v, got;
	struct stat kst;
	char key[128];
	uint64_t n = 0;

	(void)state;
	snprintf(key, sizeof(key), "%s/key", dir);
	assert_int_equal(stat(key, &kst), 0);
	assert_int_equal(kst.st_mode & 0777, 0600);
	assert_int_equal(state_version_get(st, "a/b", 3, &n), -ENOENT);
	assert_int_equal(state_version_raise(st, "a/b", 3, 2), 0);
	assert_int_equal(state_version_raise(st, "a/b", 3, 2), 0);
	assert_int_equal(state_version_raise(st, "a/b", 3, 1), -ESTALE);
	assert_int_equal(state_version_raise(st, "a/b", 3, 0), -ESTALE);
	assert_int_equal(state_version_raise(st, "new", 3, 0), 0);
	assert_int_equal(state_version_get(st, "new", 3, &n), -ENOENT);
	sample_verdict(&v);
	assert_int_equal(state_verdict_put(st, "a/b", 3, &v), 0);
	state_close(st);

	st = open_ok(dir, root, STATE_INBOX, 0);
	assert_int_equal(state_version_get(st, "a/b", 3, &n), 0);
	assert_int_equal(n, 2); /* never lowered */
	assert_int_equal(state_verdict_get(st, "a/b", 3, &got), 0);
	assert_true(state_verdict_matches(&got, &v.content, &v.sig,
					  v.sig_sha256, v.epoch));
	assert_string_equal(got.signer_subject, "/CN=signer");
	assert_int_equal(got.file_version, 7);
	/* Any field another: no match (a changed file, another epoch). */
	v.content.ctime_ns++;
	assert_false(state_verdict_matches(&got, &v.content, &v.sig,
					   v.sig_sha256, v.epoch));
	v.content.ctime_ns--;
	v.sig.gen++;
	assert_false(state_verdict_matches(&got, &v.content, &v.sig,
					   v.sig_sha256, v.epoch));
	v.sig.gen--;
	v.epoch[31] ^= 1;
	assert_false(state_verdict_matches(&got, &v.content, &v.sig,
					   v.sig_sha256, v.epoch));
	v.epoch[31] ^= 1;
	/* Another .sig's bytes under the same stamp (same size, say). */
	v.sig_sha256[0] ^= 1;
	assert_false(state_verdict_matches(&got, &v.content, &v.sig,
					   v.sig_sha256, v.epoch));
	v.sig_sha256[0] ^= 1;
	/* Twin: all put back, it matches again. */
	assert_true(state_verdict_matches(&got, &v.content, &v.sig,
					  v.sig_sha256, v.epoch));
	assert_int_equal(state_verdict_forget(st, "a/b", 3), 0);
	assert_int_equal(state_verdict_get(st, "a/b", 3, &got), -ENOENT);
	state_close(st);
}

static void test_next(void **state)
{
	struct state_store *st = open_ok(dir, root, STATE_OUTBOX, 0);
	uint64_t v = 0;

	(void)state;
	assert_int_equal(state_version_next(st, "x", 1, 0, &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(state_version_next(st, "x", 1, 0, &v), 0);
	assert_int_equal(v, 2);
	/* A floor above what was handed out (a .sig seen in BACKING). */
	assert_int_equal(state_version_next(st, "x", 1, 10, &v), 0);
	assert_int_equal(v, 11);
	assert_int_equal(state_version_next(st, "x", 1, 3, &v), 0);
	assert_int_equal(v, 12);
	state_close(st);
	/* Across a restart, never again a number handed out. */
	st = open_ok(dir, root, STATE_OUTBOX, 0);
	assert_int_equal(state_version_next(st, "x", 1, 0, &v), 0);
	assert_int_equal(v, 13);
	assert_int_equal(
	    state_version_next(st, "y", 1, (uint64_t)INT64_MAX - 1, &v), 0);
	assert_true(v == (uint64_t)INT64_MAX);
	assert_int_equal(state_version_next(st, "y", 1, 0, &v), -EOVERFLOW);
	state_close(st);
}

/* Run SQL on DB (the attacker's own edits, with the sqlite3 library). */
/*
 * Edit a store while closed. Its seal goes too, and the mark of its clean
 * close, as after a crash: an edit to a sealed store is refused whole
 * (test_rolled_back), so is one whose seal alone was removed, and what is
 * tested here is what the entries' MACs prove on their own.
 */
static void edit(const char *db, const char *sqltext)
{
	char seal[160], *slash;
	sqlite3 *h;

	snprintf(seal, sizeof(seal), "%s", db);
	slash = strrchr(seal, '/');
	snprintf(slash, sizeof(seal) - (size_t)(slash - seal), "/inbox.seal");
	/* Only an inbox.db has a seal (an outbox.db is never sealed). */
	if (strstr(db, "/inbox.db"))
		assert_true(unlink(seal) == 0 || errno == ENOENT);
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	if (sqlite3_exec(h, "DELETE FROM meta WHERE k='closed'", NULL, NULL,
			 NULL) != SQLITE_OK ||
	    sqlite3_exec(h, sqltext, NULL, NULL, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sqltext, sqlite3_errmsg(h));
	sqlite3_close(h);
}

static void test_edited_entries(void **state)
{
	struct state_store *st = open_ok(dir, root, STATE_INBOX, 0);
	struct state_verdict v, got;
	char db[128];
	uint64_t n;

	(void)state;
	snprintf(db, sizeof(db), "%s/inbox.db", dir);
	sample_verdict(&v);
	assert_int_equal(state_version_raise(st, "p/q", 3, 5), 0);
	assert_int_equal(state_version_raise(st, "p/r", 3, 5), 0);
	assert_int_equal(state_verdict_put(st, "p/q", 3, &v), 0);
	assert_int_equal(state_verdict_put(st, "p/r", 3, &v), 0);
	state_close(st);
	/* Twins: a version lowered, a record's byte changed, moved. */
	edit(db, "UPDATE versions SET version = 1 WHERE path = CAST('p/q' "
		 "AS BLOB);"
		 "UPDATE verdicts SET rec = CAST(rec AS BLOB) || x'00' WHERE "
		 "path = CAST('p/q' AS BLOB);"
		 "DELETE FROM versions WHERE path = CAST('p/s' AS BLOB);"
		 "INSERT INTO versions SELECT CAST('p/s' AS BLOB), version, "
		 "mac FROM versions WHERE path = CAST('p/r' AS BLOB);"
		 "INSERT INTO verdicts SELECT CAST('p/s' AS BLOB), rec, mac "
		 "FROM verdicts WHERE path = CAST('p/r' AS BLOB);");
	st = open_ok(dir, root, STATE_INBOX, 0);
	assert_int_equal(state_version_get(st, "p/q", 3, &n), -EBADMSG);
	assert_int_equal(state_version_raise(st, "p/q", 3, 9), -EBADMSG);
	assert_int_equal(state_verdict_get(st, "p/q", 3, &got), -EBADMSG);
	assert_int_equal(state_version_get(st, "p/s", 3, &n), -EBADMSG);
	assert_int_equal(state_verdict_get(st, "p/s", 3, &got), -EBADMSG);
	/* The untouched entries still prove what they say. */
	assert_int_equal(state_version_get(st, "p/r", 3, &n), 0);
	assert_int_equal(state_verdict_get(st, "p/r", 3, &got), 0);
	state_close(st);
}

static void test_copies(void **state)
{
	char copy[128], other[128], db[160], odb[160], sqltext[512];
	struct state_store *st;
	struct state_verdict v, got;
	uint64_t n;

	(void)state;
	snprintf(copy, sizeof(copy), "%s/copy", tmp);
	snprintf(other, sizeof(other), "%s/other-state", tmp);
	st = open_ok(dir, root, STATE_INBOX, 0);
	sample_verdict(&v);
	assert_int_equal(state_verdict_put(st, "c", 1, &v), 0);
	assert_int_equal(state_version_raise(st, "c", 1, 4), 0);
	state_close(st);
	/* The whole directory copied (another inode): refused at open. */
	sh("cp -a '%s' '%s'", dir, copy);
	open_refused(copy, root, "was made for another");
	/* The same directory for another root: refused too. */
	open_refused(dir, other_root, "was made for another");
	/* Another root's store gets this one's entries: they fail. */
	st = open_ok(other, other_root, STATE_INBOX, 0);
	state_close(st);
	snprintf(db, sizeof(db), "%s/inbox.db", dir);
	snprintf(odb, sizeof(odb), "%s/inbox.db", other);
	snprintf(sqltext, sizeof(sqltext),
		 "ATTACH '%s' AS a; INSERT INTO versions SELECT * FROM "
		 "a.versions; INSERT INTO verdicts SELECT * FROM a.verdicts;",
		 db);
	edit(odb, sqltext);
	st = open_ok(other, other_root, STATE_INBOX, 0);
	assert_int_equal(state_version_get(st, "c", 1, &n), -EBADMSG);
	assert_int_equal(state_verdict_get(st, "c", 1, &got), -EBADMSG);
	state_close(st);
	/* An outbox's entries are not an inbox's (the role is bound). */
	st = open_ok(dir, root, STATE_OUTBOX, 0);
	state_close(st);
	snprintf(odb, sizeof(odb), "%s/outbox.db", dir);
	snprintf(sqltext, sizeof(sqltext),
		 "ATTACH '%s' AS a; INSERT INTO versions SELECT * FROM "
		 "a.versions;",
		 db);
	edit(odb, sqltext);
	st = open_ok(dir, root, STATE_OUTBOX, 0);
	assert_int_equal(state_version_get(st, "c", 1, &n), -EBADMSG);
	state_close(st);
}

/*
 * A whole inbox.db put back from an earlier day: every entry verifies,
 * and holds lower versions. Its ctime cannot be put back, so the seal of
 * the last clean close refuses it, with or without the old seal beside.
 */
static void test_rolled_back(void **state)
{
	char d[128], seal[160], db[160];
	struct state_store *st;
	struct sfs_error err = {0};
	uint64_t n = 0;

	(void)state;
	snprintf(d, sizeof(d), "%s/rb", tmp);
	snprintf(db, sizeof(db), "%s/inbox.db", d);
	snprintf(seal, sizeof(seal), "%s/inbox.seal", d);
	st = open_ok(d, root, STATE_INBOX, 0);
	assert_int_equal(state_version_raise(st, "app", 3, 1), 0);
	state_close(st);
	assert_int_equal(access(seal, F_OK), 0);
	sh("cp -p '%s' '%s.day1'", db, db);
	sh("cp -p '%s' '%s.day1'", seal, seal);
	/* Twin: untouched, it opens (and the seal is gone while open). */
	st = open_ok(d, root, STATE_INBOX, 0);
	assert_int_equal(access(seal, F_OK), -1);
	assert_int_equal(state_version_raise(st, "app", 3, 2), 0);
	state_close(st);
	/* Read-only opens (signetfs verify --state) keep the seal valid. */
	st = open_ok(d, root, STATE_INBOX, STATE_READONLY);
	state_close(st);
	st = open_ok(d, root, STATE_INBOX, 0);
	assert_int_equal(state_version_get(st, "app", 3, &n), 0);
	assert_int_equal(n, 2);
	state_close(st);
	/* Day 1's copy put back over it (same inode), today's seal stays. */
	sh("cp -p '%s.day1' '%s'", db, db);
	open_refused(d, root, "was changed since");
	assert_int_not_equal(
	    state_open(d, root, STATE_INBOX, STATE_READONLY, &st, &err), 0);
	/* ... with day 1's seal too: refused (ctime moved), or as a new file.
	 */
	sh("cp -p '%s.day1' '%s'", seal, seal);
	open_refused(d, root, "was changed since");
	sh("cp -p '%s.day1' '%s.new'", db, db);
	sh("mv '%s.new' '%s'", db, db);
	open_refused(d, root, "was changed since");
	/* Starting over, as the message says: first contact again. */
	sh("rm '%s'%s", db, "");
	st = open_ok(d, root, STATE_INBOX, 0);
	assert_int_equal(state_version_get(st, "app", 3, &n), -ENOENT);
	state_close(st);
}

static void test_refused_places(void **state)
{
	char inside[128], d[128], key[160];

	(void)state;
	snprintf(inside, sizeof(inside), "%s/sub/state", root);
	sh("mkdir -p '%s'%s", inside, "");
	open_refused(inside, root, "is inside");
	open_refused(root, root, "is inside");
	snprintf(d, sizeof(d), "%s/loose", tmp);
	sh("mkdir -m 0777 '%s'%s", d, "");
	open_refused(d, root, "not be writable by group or others");
	sh("chmod 0700 '%s'%s", d, "");
	/* The unit suite also runs in a package build, not as root. */
	if (geteuid() == 0) {
		sh("chown 12345 '%s'%s", d, "");
		open_refused(d, root, "owned by uid 12345");
		sh("chown 0 '%s'%s", d, "");
	} else {
		print_message("not root: another owner not tried\n");
	}
	snprintf(key, sizeof(key), "%s/key", d);
	sh("head -c 32 /dev/urandom >'%s' && chmod 0644 '%s'", key, key);
	open_refused(d, root, "mode 0600");
	sh("chmod 0600 '%s' && head -c 31 /dev/urandom >'%s'", key, key);
	open_refused(d, root, "32-byte");
}

static void test_readonly(void **state)
{
	struct state_store *st = NULL;
	struct sfs_error err = {0};
	char d[128];
	uint64_t n = 0;

	(void)state;
	snprintf(d, sizeof(d), "%s/never", tmp);
	assert_int_not_equal(
	    state_open(d, root, STATE_INBOX, STATE_READONLY, &st, &err), 0);
	assert_int_equal(access(d, F_OK), -1); /* nothing created */
	st = open_ok(dir, root, STATE_INBOX, 0);
	assert_int_equal(state_version_raise(st, "ro", 2, 3), 0);
	state_close(st);
	st = open_ok(dir, root, STATE_INBOX, STATE_READONLY);
	assert_int_equal(state_version_get(st, "ro", 2, &n), 0);
	assert_int_equal(n, 3);
	assert_int_equal(state_version_raise(st, "ro", 2, 4), -EROFS);
	state_close(st);
}

/* Rule 25 (verdict.h): rollback against the map, as inbox and CLI ask. */
static void test_rule_version(void **state)
{
	struct state_store *st = open_ok(dir, root, STATE_INBOX, 0);
	char db[128];

	(void)state;
	/* First contact: anything; unversioned leaves nothing behind. */
	assert_int_equal(verdict_check_version(st, "f", 1, 0, true), VR_OK);
	assert_int_equal(verdict_check_version(st, "f", 1, 2, true), VR_OK);
	/* Then: the same or newer only; unversioned is older than any. */
	assert_int_equal(verdict_check_version(st, "f", 1, 2, true), VR_OK);
	assert_int_equal(verdict_check_version(st, "f", 1, 1, true),
			 VR_ROLLBACK);
	assert_int_equal(verdict_check_version(st, "f", 1, 0, true),
			 VR_ROLLBACK);
	assert_int_equal(verdict_check_version(st, "f", 1, 3, true), VR_OK);
	/* Reading only (verify --state): no raise. */
	assert_int_equal(verdict_check_version(st, "f", 1, 9, false), VR_OK);
	assert_int_equal(verdict_check_version(st, "f", 1, 3, false), VR_OK);
	assert_int_equal(verdict_check_version(st, "f", 1, 2, false),
			 VR_ROLLBACK);
	assert_int_equal(verdict_check_version(st, "g", 1, 0, false), VR_OK);
	assert_int_equal(verdict_check_version(NULL, "f", 1, 1, true), VR_OK);
	state_close(st);
	/* An entry that fails its MAC: neither old nor new is served. */
	snprintf(db, sizeof(db), "%s/inbox.db", dir);
	edit(db, "UPDATE versions SET version = 1 WHERE path = CAST('f' AS "
		 "BLOB)");
	st = open_ok(dir, root, STATE_INBOX, 0);
	assert_int_equal(verdict_check_version(st, "f", 1, 1, true), VR_STATE);
	assert_int_equal(verdict_check_version(st, "f", 1, 9, true), VR_STATE);
	assert_int_equal(verdict_check_version(st, "f", 1, 9, false), VR_STATE);
	state_close(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keeps),
	    cmocka_unit_test(test_next),
	    cmocka_unit_test(test_edited_entries),
	    cmocka_unit_test(test_copies),
	    cmocka_unit_test(test_rolled_back),
	    cmocka_unit_test(test_refused_places),
	    cmocka_unit_test(test_readonly),
	    cmocka_unit_test(test_rule_version),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
