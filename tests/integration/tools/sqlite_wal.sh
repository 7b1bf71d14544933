#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# sqlite3 in WAL mode (db-wal appended, db-shm shared-mapped, both
# checkpointed and removed by the last connection's close): the same
# database bytes as natively, no -wal or -shm left, the database verifies.
. "$(dirname "$0")/common.sh"
tl_need sqlite3
tl_start
job() {
	mkdir -p "$T/db"
	tl_step create sqlite3 "$T/db/app.sqlite" \
		'PRAGMA journal_mode=WAL;' \
		'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);' \
		'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<5000) INSERT INTO t(v) SELECT printf("row %d %s", x, hex(zeroblob(40))) FROM c;'
	tl_step update sqlite3 "$T/db/app.sqlite" \
		'BEGIN; UPDATE t SET v = upper(v) WHERE id % 7 = 0; DELETE FROM t WHERE id % 11 = 0; COMMIT;'
	tl_step checkpoint sqlite3 "$T/db/app.sqlite" 'PRAGMA wal_checkpoint(TRUNCATE);'
	tl_step check sqlite3 "$T/db/app.sqlite" 'PRAGMA integrity_check;'
}
tl_both job
tl_finish
