#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The systemd unit templates pass 'systemd-analyze verify' without a word,
# and keep what the daemon relies on: Type=notify with -f, reload by SIGHUP,
# /dev/fuse allowed, no option that would hide the mount in a private mount
# namespace.
. "$(dirname "$0")/../lib.sh"
command -v systemd-analyze >/dev/null || skip "no systemd-analyze (package systemd)"
: "${SFS_BUILD:?SFS_BUILD must name the build directory}"
t=$SFS_TMP
mkdir -p "$t/man/man1" "$t/units"
cp "$SFS_BUILD/doc/signetfs.1" "$t/man/man1/"
for kind in outbox inbox; do
	u=$SFS_BUILD/systemd/signetfs-$kind@.service
	[ -f "$u" ] || fail "meson did not build $u"
	# verify checks that ExecStart's binary exists: point it at this build.
	sed "s|^ExecStart=[^ ]*/signetfs |ExecStart=$SIGNETFS |" "$u" \
		>"$t/units/signetfs-$kind@.service"
	grep -q "^ExecStart=$SIGNETFS $kind -f --config /etc/signetfs/%i.conf " \
		"$t/units/signetfs-$kind@.service" || fail "$kind: ExecStart"
	for line in Type=notify NotifyAccess=main 'ExecReload=/bin/kill -HUP $MAINPID' \
		    'DeviceAllow=/dev/fuse rw' NoNewPrivileges=yes \
		    'EnvironmentFile=/etc/signetfs/%i.env'; do
		grep -qxF "$line" "$u" || fail "$kind: no '$line'"
	done
	# Each of these puts the service in its own mount namespace, where
	# the FUSE mount would be invisible to everyone else.
	grep -E '^(ProtectSystem|ProtectHome|PrivateTmp|PrivateDevices|PrivateMounts|ReadWritePaths|ReadOnlyPaths|InaccessiblePaths|ProtectKernelTunables|ProtectKernelModules|ProtectKernelLogs|ProtectControlGroups|ProtectProc|MountFlags|TemporaryFileSystem|BindPaths|RestrictSUIDSGID)=' \
		"$u" && fail "$kind: an option that breaks the mount"
done
cd "$t/units"
MANPATH=$t/man systemd-analyze verify ./signetfs-outbox@.service \
	./signetfs-inbox@.service ./signetfs-outbox@build.service \
	./signetfs-inbox@pub.service >"$t/out" 2>&1 ||
	{ cat "$t/out"; fail "systemd-analyze verify failed"; }
[ ! -s "$t/out" ] || { cat "$t/out"; fail "systemd-analyze verify warned"; }
echo "units: ok"
