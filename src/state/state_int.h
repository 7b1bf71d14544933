/* SPDX-License-Identifier: Apache-2.0 */
/* Inside the state store: the open database, its key, its statements. */
#ifndef SIGNETFS_STATE_STATE_INT_H
#define SIGNETFS_STATE_STATE_INT_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "signetfs/mac.h"
#include "signetfs/state.h"

/* The prepared statements, one connection (st->db_lock). */
enum state_stmt {
	SQ_VERSION_GET,
	SQ_VERSION_PUT,
	SQ_VERDICT_GET,
	SQ_VERDICT_PUT,
	SQ_VERDICT_DEL,
	SQ_VERSION_COUNT,
	SQ_COUNT_
};

struct state_store {
	/*
	 * Lock order: db_lock, then sync_lock. One SQLite connection
	 * (opened without SQLite's own mutex), used under db_lock.
	 */
	pthread_mutex_t db_lock;
	sqlite3 *db;
	sqlite3_stmt *stmt[SQ_COUNT_];
	struct sfs_mac *mac; /* bound to DIR, ROOT, role (state.c) */
	enum state_role role;
	bool readonly;
	bool in_batch;
	bool sealable; /* opened and checked: seal it at close */
	bool unsealed; /* inbox.db found without its seal at open */
	int dirfd;     /* the state directory */
	/*
	 * Group commit: commits are written to the WAL without fsync
	 * (synchronous = NORMAL); a caller that needs its write on disk
	 * waits until one fdatasync of the WAL covers its sequence number.
	 */
	pthread_mutex_t sync_lock;
	pthread_cond_t sync_cv;
	uint64_t written;     /* commits so far, under db_lock */
	uint64_t version_seq; /* the last that changed a version */
	uint64_t synced;      /* under sync_lock */
	bool syncing;
	int sync_err;
	int walfd;
};

/* state.c: wait until commit number seq is on disk. 0 or -errno. */
int state_sync_to(struct state_store *st, uint64_t seq);
/* Run one statement of SQL without results; 0 or -EIO (logged). */
int state_exec_locked(struct state_store *st, const char *sql);
/* The SQLite error of the last call, logged with what was tried. */
int state_sqlite_err(struct state_store *st, const char *what);

/* state_rec.c: the statements, prepared once after the schema exists. */
int state_prepare(struct state_store *st);
void state_finalize(struct state_store *st);
/* The identity entry: MAC of the role under the key (a copy fails it). */
int state_identity_check(struct state_store *st, bool *fresh);
/*
 * The clean-close mark (inbox): written into inbox.db by a clean close
 * just before the seal; read and removed at open. Found without its seal,
 * it tells the seal was removed from a cleanly closed store (an earlier
 * copy put back, made to look like a crash), which a crash never leaves.
 * state_closed_read: is the mark there (and its MAC good)? _clear: remove
 * it, once the open is accepted (a refused open changes nothing).
 */
int state_closed_mark(struct state_store *st);
int state_closed_read(struct state_store *st, bool *closed);
int state_closed_clear(struct state_store *st);

/*
 * state_seal.c (inbox only): at open, inbox.db must be as the last clean
 * close left it (-ESTALE, err set, if not), and the seal is removed; at
 * close, after the database is closed, it is written again.
 */
int state_seal_check(struct state_store *st, int dfd, const char *dir,
		     struct sfs_error *err);
int state_seal_write(const struct state_store *st, int dfd);
int state_seal_remove(int dfd);

#endif
