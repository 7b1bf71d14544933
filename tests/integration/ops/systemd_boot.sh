#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The inbox unit under a real systemd: start returns once the mount serves
# (Type=notify), reload (SIGHUP) keeps the same process and mount, stop
# unmounts; a cold 8 MiB upload the daemon does not own is verified with
# the page cache fill and O_DIRECT under the unit's syscall filter and
# capabilities, its tampered twin refused; with ProtectSystem=strict the mount exists only inside the
# unit's namespace, which is why the unit does without it.
#
# systemd is booted as PID 1 of a private PID and mount namespace with only
# this test's units (no generators, no init scripts, /run and
# /etc/systemd/system on tmpfs), and killed afterwards.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib_ops.sh"
sfs_need_fuse
[ "$(id -u)" -eq 0 ] || skip "booting systemd needs root"
sd=/lib/systemd/systemd
[ -x $sd ] && command -v unshare >/dev/null || skip "no systemd"
[ -d /usr/lib/systemd/system-generators ] || skip "unexpected systemd layout"
: "${SFS_BUILD:?SFS_BUILD must name the build directory}"
t=$SFS_TMP
sfs_init "$t/key"
ops_need_mount inbox "$t/key/signetfs.conf"

# A config and env file for instance "it"; the unit's /etc/signetfs paths
# point into $t.
mkdir -p "$t/etc" "$t/back" "$t/mnt" "$t/units/signetfs-inbox@.service.d"
sed "s|^audit-log = .*|audit-log = $t/audit.log|; s|= \([a-z0-9.]*\)$|= $t/key/\1|" \
	"$t/key/signetfs.conf" >"$t/etc/it.conf"
printf 'BACKING=%s\nMOUNTPOINT=%s\n' "$t/back" "$t/mnt" >"$t/etc/it.env"
echo hello >"$t/back/good"
echo nobody >"$t/back/bad"
# Uploads the daemon does not own, 8 MiB: one signed, one tampered after.
head -c $((8 << 20)) /dev/urandom >"$t/back/big"
head -c $((8 << 20)) /dev/urandom >"$t/back/bigbad"
cp "$t/back/big" "$t/big.orig"
(cd "$t/back" && "$SIGNETFS" sign --config "$t/key/signetfs.conf" good big bigbad) ||
	fail "sign"
printf 'X' | dd of="$t/back/bigbad" bs=1 seek=$((4 << 20)) conv=notrunc status=none
chown 65534:65534 "$t/back/big" "$t/back/bigbad"
sed "s|^ExecStart=[^ ]*/signetfs |ExecStart=$SIGNETFS |; s|/etc/signetfs/|$t/etc/|g; /^\(State\|Logs\)Directory/d" \
	"$SFS_BUILD/systemd/signetfs-inbox@.service" >"$t/units/signetfs-inbox@.service"
printf '[Service]\nStandardOutput=append:%s\nStandardError=inherit\n' \
	"$t/svc.log" >"$t/units/signetfs-inbox@.service.d/log.conf"
for u in sysinit basic shutdown network network-online local-fs multi-user; do
	printf '[Unit]\nDescription=%s\n' $u >"$t/units/$u.target"
done
printf '[Unit]\nDescription=default\n' >"$t/units/default.target"
cp /usr/lib/systemd/system/system.slice "$t/units/" 2>/dev/null || true

cat >"$t/boot.sh" <<BOOT
set -e
mount --make-rprivate /
mount -t proc proc /proc
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /etc/systemd/system
mount -t tmpfs tmpfs /usr/lib/systemd/system-generators
[ -d /etc/init.d ] && mount -t tmpfs tmpfs /etc/init.d
mount --bind $t/units /usr/lib/systemd/system
export container=signetfs-test
exec $sd --system --log-target=console --log-level=notice \
	--unit=default.target </dev/null >$t/pid1.log 2>&1
BOOT
unshare --pid --fork --mount bash "$t/boot.sh" 2>>"$t/unshare.log" &
us=$!
SFS_PIDS+=("$us")
# Our PID 1 is unshare's child once boot.sh has exec'd systemd. Not a
# pgrep of its command line: another run of this test (another build
# tree on the same machine) boots one with the same, and taking theirs
# failed both and left one running.
own_pid1() {
	local c
	c=$(pgrep -P "$us") && [ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] &&
		echo "$c"
}
pid1=
wait_for 10 own_pid1 >/dev/null ||
	{ cat "$t/pid1.log"; skip "systemd does not boot in a namespace here"; }
pid1=$(own_pid1)
SFS_PIDS+=("$pid1")
in_ns() { nsenter -t "$pid1" -m -p "$@"; }
wait_for 20 in_ns systemctl is-system-running -q --wait 2>/dev/null ||
	in_ns systemctl is-system-running >/dev/null 2>&1 ||
	[ "$(in_ns systemctl is-system-running 2>/dev/null)" = degraded ] ||
	{ cat "$t/pid1.log"; skip "systemd did not come up here"; }

stop_systemd() {
	in_ns systemctl stop 'signetfs-inbox@*.service' 2>/dev/null || true
	kill -9 "$pid1" 2>/dev/null || true
	wait_for 10 ops_gone "$pid1" || true
	# The cgroups this systemd made in the host's hierarchies.
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		for d in init.scope system.slice; do
			[ -d "$h$d" ] && find "$h$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done
	done
	return 0
}
trap 'rc=$?; stop_systemd; sfs_cleanup $rc' EXIT

unit=signetfs-inbox@it.service
in_ns systemctl start "$unit" || { cat "$t/svc.log"; fail "start $unit"; }
# Type=notify: when start returns, the mount is there and serving.
[ "$(in_ns cat "$t/mnt/good")" = hello ] || fail "not serving after start"
in_ns test -e "$t/mnt/bad" && fail "unsigned file served"
# Cold, under the unit's syscall filter and capabilities: the lookup
# fills the page cache while verifying (open_by_handle_at must pass the
# filter), the hash pass reads BACKING with O_DIRECT (it keeps at most the
# page per MiB the cache probe reads), the signed file is served as signed,
# its tampered twin not at all.
filled() { in_ns "$SIGNETFS" status "$t/mnt" | awk '$1 == "bytes_filled" { print $2 }'; }
# A probe of the hash pass that races its own page read makes a chunk (at
# offset 0: the file) read buffered on a busy machine (test_inbox_hash.c
# says how): then the unit is restarted, its verdicts and BACKING's cache
# dropped, and the check made again; a daemon that cannot use O_DIRECT
# under the unit fails all three.
cold_check() {
	local f res
	sync
	echo 1 >/proc/sys/vm/drop_caches
	in_ns stat "$t/mnt/big" >/dev/null || fail "big not found"
	[ "$(filled)" -eq $((8 << 20)) ] ||
		fail "bytes_filled $(filled): no page cache fill under the unit"
	in_ns cmp -s "$t/mnt/big" "$t/big.orig" || fail "big not served as signed"
	in_ns test -e "$t/mnt/bigbad" && fail "tampered bigbad served"
	for f in big bigbad; do
		res=$(fincore -nb -o RES "$t/back/$f")
		[ "$res" -le $((8 * $(getconf PAGESIZE))) ] || {
			note "$f: $res bytes cached after a cold verification"
			return 1
		}
	done
}
if command -v fincore >/dev/null; then
	tries=1
	until cold_check; do
		[ $tries -lt 3 ] ||
			fail "the unit's daemon did not read big and bigbad with O_DIRECT ($tries tries)"
		tries=$((tries + 1))
		in_ns systemctl restart "$unit" || fail "restart $unit"
	done
fi
main=$(in_ns systemctl show -p MainPID --value "$unit")
[ "$(in_ns systemctl show -p Type --value "$unit")" = notify ] || fail "type"
in_ns systemctl reload "$unit" || fail "reload"
[ "$(in_ns systemctl show -p MainPID --value "$unit")" = "$main" ] ||
	fail "reload restarted the daemon"
in_ns systemctl is-active -q "$unit" || fail "not active after reload"
[ "$(in_ns cat "$t/mnt/good")" = hello ] || fail "reload lost the mount"
in_ns systemctl stop "$unit" || fail "stop"
in_ns grep -q " $t/mnt " /proc/1/mountinfo && fail "stop left the mount"
[ "$(in_ns systemctl show -p Result --value "$unit")" = success ] ||
	fail "the daemon did not exit cleanly"

# What the unit leaves out and why: a mount namespace hides the mount.
printf '[Service]\nProtectSystem=strict\nReadWritePaths=%s\n' "$t" \
	>"$t/units/signetfs-inbox@.service.d/ns.conf"
in_ns systemctl daemon-reload
in_ns systemctl start "$unit" || fail "start with ProtectSystem=strict"
main=$(in_ns systemctl show -p MainPID --value "$unit")
in_ns nsenter -t "$main" -m test -e "$t/mnt/good" ||
	fail "not even the unit sees its mount"
in_ns test -e "$t/mnt/good" &&
	fail "ProtectSystem=strict no longer hides the mount: revisit the unit"
in_ns systemctl stop "$unit"
echo "systemd_boot: ok"
