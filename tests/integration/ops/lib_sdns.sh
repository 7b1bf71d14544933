# SPDX-License-Identifier: Apache-2.0
# A systemd booted as PID 1 of a private PID and mount namespace, on a
# scratch copy of the system: /usr, /etc, /var, /srv and /root are
# overlays whose writes land in DIR/upper, /run is a tmpfs, and the unit
# directory /usr/lib/systemd/system is DIR/units, holding only empty
# targets and the signetfs units installed on the host (an install inside
# the namespace writes there too). Nothing the namespace does reaches the
# host; killing its PID 1 ends it all. Needs ../lib.sh and lib_ops.sh.
#   sdns_boot DIR     boot; sets SDNS_PID1 (skips where systemd cannot boot)
#   sdns_run CMD...   run CMD inside, as a root login shell would
#   sdns_stop         kill it and remove the cgroups it made
SDNS_SD=/lib/systemd/systemd

sdns_need() {
	[ "$(id -u)" -eq 0 ] || skip "booting systemd needs root"
	[ -x $SDNS_SD ] && command -v unshare >/dev/null && command -v nsenter >/dev/null ||
		skip "no systemd, unshare or nsenter"
	grep -qw overlay /proc/filesystems || skip "no overlayfs"
}

sdns_boot() {
	local d=$1 u
	SDNS_DIR=$d
	mkdir -p "$d/units" "$d/upper" "$d/work"
	for u in sysinit basic shutdown network network-online local-fs multi-user \
		 default; do
		printf '[Unit]\nDescription=%s\n' $u >"$d/units/$u.target"
	done
	cp /usr/lib/systemd/system/system.slice "$d/units/" 2>/dev/null || true
	cp /usr/lib/systemd/system/signetfs-*.service "$d/units/" 2>/dev/null || true
	cat >"$d/boot.sh" <<BOOT
set -e
mount --make-rprivate /
for x in usr etc var srv root; do
	mkdir -p $d/upper/\$x $d/work/\$x
	mount -t overlay sfs-\$x -o lowerdir=/\$x,upperdir=$d/upper/\$x,workdir=$d/work/\$x /\$x
done
mount -t proc proc /proc
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /etc/systemd/system
mount -t tmpfs tmpfs /usr/lib/systemd/system-generators
[ -d /etc/init.d ] && mount -t tmpfs tmpfs /etc/init.d
mount --bind $d/units /usr/lib/systemd/system
export container=signetfs-test
exec $SDNS_SD --system --log-target=console --log-level=notice \
	--unit=default.target </dev/null >$d/pid1.log 2>&1
BOOT
	unshare --pid --fork --mount bash "$d/boot.sh" 2>>"$d/unshare.log" &
	SDNS_UNSHARE=$!
	SFS_PIDS+=("$SDNS_UNSHARE")
	SDNS_PID1=
	# unshare's child, once boot.sh has exec'd systemd.
	sdns_pid1() {
		local c
		c=$(pgrep -P "$SDNS_UNSHARE") &&
			[ "$(cat "/proc/$c/comm" 2>/dev/null)" = systemd ] && echo "$c"
	}
	wait_for 10 sdns_pid1 >/dev/null ||
		{ cat "$d/pid1.log" "$d/unshare.log"; skip "systemd does not boot in a namespace here"; }
	SDNS_PID1=$(sdns_pid1)
	SFS_PIDS+=("$SDNS_PID1")
	wait_for 20 sdns_run systemctl is-system-running -q --wait 2>/dev/null ||
		[ "$(sdns_run systemctl is-system-running 2>/dev/null)" = degraded ] ||
		{ cat "$d/pid1.log"; skip "systemd did not come up here"; }
}

sdns_run() {
	nsenter -t "$SDNS_PID1" -m -p -- env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

sdns_stop() {
	[ -n "${SDNS_PID1:-}" ] || return 0
	sdns_run systemctl stop 'signetfs-*.service' 2>/dev/null || true
	kill -9 "$SDNS_PID1" 2>/dev/null || true
	wait_for 10 ops_gone "$SDNS_PID1" || true
	# The cgroups this systemd made in the host's hierarchies.
	local h d
	for h in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
		for d in init.scope system.slice; do
			[ -d "$h$d" ] && find "$h$d" -depth -type d -exec rmdir {} + 2>/dev/null || true
		done
	done
	SDNS_PID1=
	return 0
}
