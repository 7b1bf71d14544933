#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A detached daemon's messages are never lost. Where no syslog listens on
# /dev/log they go to the starting command's stderr, and it says so;
# --log-file (and log-file= in the mount(8) form) gets them with a
# timestamp, and a new file after logrotate moved the old one away; where
# stderr is the journal's stream (JOURNAL_STREAM) they go there with "<N>"
# priorities, in daemon and in foreground mode. The message used is a
# reload (SIGHUP) rejected because the config no longer parses.
. "$(dirname "$0")/lib_ops.sh"
ops_fstab_ns "$0"
. "$(dirname "$0")/../lib.sh"
sfs_need_fuse
t=$SFS_TMP
sfs_init "$t/key"
ops_need_mount inbox "$t/key/signetfs.conf"
# This namespace has no syslog: hide /dev/log if the host has one.
if [ -e /dev/log ]; then
	: >"$t/nolog"
	mount --bind "$t/nolog" /dev/log || fail "cannot hide /dev/log"
fi
mkdir -p "$t/back"
echo hi >"$t/back/f"

# start NAME CMD...: a daemon-mode mount on $t/NAME with its own copy of
# the config ($t/key/NAME.conf); sets PID to the serving process.
start() {
	local name=$1 mnt=$t/$1
	shift
	cp "$t/key/signetfs.conf" "$t/key/$name.conf"
	mkdir -p "$mnt"
	SFS_MNTS+=("$mnt")
	"$@" 2>"$t/$name.stderr" || { cat "$t/$name.stderr" >&2; fail "$name: mount"; }
	is_fuse_mounted "$mnt" || fail "$name: not mounted"
	PID=$(pgrep -f -x -- ".*signetfs.* $mnt( .*)?" | head -n1)
	[ -n "$PID" ] || fail "$name: no daemon"
}
# reject_reload NAME: break NAME's config and send SIGHUP.
reject_reload() {
	echo "bogus-key = 1" >>"$t/key/$1.conf"
	kill -HUP "$PID"
}
stop() {
	fusermount3 -u "$t/$1" || fail "$1: unmount"
	wait_for 10 ops_gone "$PID" || fail "$1: daemon still running"
}
msg='reload failed, keeping the old settings: .*bogus-key: unknown key'
stamp='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]{12}Z signetfs\[[0-9]+\]: error: '

# No syslog, no --log-file: this command's stderr, and it says so.
start c "$SIGNETFS" inbox --config "$t/key/c.conf" "$t/back" "$t/c"
reject_reload c
wait_for 10 grep -Eq "$stamp$msg" "$t/c.stderr" ||
	{ cat "$t/c.stderr" >&2; fail "no syslog: the daemon's message was lost"; }
grep -q 'no syslog here (/dev/log): the daemon logs to this standard error' \
	"$t/c.stderr" || { cat "$t/c.stderr" >&2; fail "no syslog: not said"; }
stop c

# --log-file, daemon mode: timestamped lines in the file, none on stderr.
start a "$SIGNETFS" inbox --config "$t/key/a.conf" --log-file "$t/a.log" \
	"$t/back" "$t/a"
reject_reload a
wait_for 10 grep -Eq "$stamp$msg" "$t/a.log" ||
	{ cat "$t/a.log" >&2; fail "--log-file: no reload error in the file"; }
[ ! -s "$t/a.stderr" ] || { cat "$t/a.stderr" >&2; fail "--log-file: stderr used"; }
# logrotate without copytruncate: the file is renamed, a new one appears.
mv "$t/a.log" "$t/a.log.1"
kill -HUP "$PID"
wait_for 10 grep -Eq "$msg" "$t/a.log" 2>/dev/null ||
	fail "--log-file: no new file after the old one was moved away"
[ "$(grep -Ec "$msg" "$t/a.log.1")" -eq 1 ] || fail "--log-file: kept writing to the old file"
stop a

# The mount(8) form: log-file= among the -o options.
start b "$SIGNETFS" "inbox:$t/back" "$t/b" -o "rw,config=$t/key/b.conf,log-file=$t/b.log"
reject_reload b
wait_for 10 grep -Eq "$stamp$msg" "$t/b.log" || fail "log-file=: no reload error"
stop b

# stderr is the journal's stream: "<3>" (LOG_ERR) lines, no notice.
: >"$t/d.j"
JOURNAL_STREAM=$(stat -c %d:%i "$t/d.j") \
	start d bash -c 'exec "$@" 2>>"$0"' "$t/d.j" \
	"$SIGNETFS" inbox --config "$t/key/d.conf" "$t/back" "$t/d"
reject_reload d
wait_for 10 grep -Eq "^<3>$msg" "$t/d.j" ||
	{ cat "$t/d.j" >&2; fail "journal: no <3> line"; }
grep -q 'no syslog' "$t/d.j" && fail "journal: taken for no syslog"
stop d

# Foreground under systemd: the default sink adds the priority too.
cp "$t/key/signetfs.conf" "$t/key/e.conf"
: >"$t/e.j"
mkdir -p "$t/e"
SFS_MNTS+=("$t/e")
JOURNAL_STREAM=$(stat -c %d:%i "$t/e.j") bash -c 'exec "$@" 2>>"$0"' "$t/e.j" \
	"$SIGNETFS" inbox -f --config "$t/key/e.conf" "$t/back" "$t/e" &
PID=$!
SFS_PIDS+=("$PID")
wait_for 15 is_fuse_mounted "$t/e" || fail "foreground mount"
echo "bogus-key = 1" >>"$t/key/e.conf"
kill -HUP "$PID"
wait_for 10 grep -Eq "^<3>signetfs: $msg" "$t/e.j" ||
	{ cat "$t/e.j" >&2; fail "foreground journal: no <3> line"; }
stop e
echo "daemon_log: ok"
