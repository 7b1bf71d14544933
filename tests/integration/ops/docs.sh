#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The docs cannot drift: the shell blocks of README.md (the quick start),
# docs/operations.md (install from source, the systemd units, status and
# metrics, the p11-kit remote token with its user and socket directory)
# and docs/policy.md (renewing the development CRL) run exactly as
# written, in document order, as root in a copy of this source tree:
# README on one system, the operator's pages on another, a build agent of
# the p11-kit section on a third, each a systemd booted in a private
# namespace on a scratch copy of /usr, /etc, /var, /srv (lib_sdns.sh).
# Every sh block must carry a doctest marker (doc_blocks.py), so a new
# step cannot be left out by accident. Then what the steps must have
# done: signetfs and its units in /usr (not /usr/local, where build/ was
# first set up), the units active, the metrics file, the user and socket
# directory, a signature made through the forwarded p11-kit socket.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/lib_ops.sh"
. "$(dirname "$0")/lib_sdns.sh"
sfs_need_fuse
sdns_need
: "${SFS_SRC:?SFS_SRC must name the source tree}"
for c in git meson ninja rsync openssl p11-kit useradd; do
	command -v $c >/dev/null || skip "no $c"
done
t=$SFS_TMP
trap 'rc=$?; sdns_stop; sfs_cleanup $rc' EXIT

# The tracked files as they are now (uncommitted changes too), no build.
mkdir -p "$t/src"
git -C "$SFS_SRC" ls-files -z --cached --others --exclude-standard |
	(cd "$SFS_SRC" && tar --null -T - -cf - 2>/dev/null) | tar -C "$t/src" -xf - ||
	fail "copy of the source tree"
[ -x "$t/src/scripts/build" ] || fail "no scripts/build in the copy"
# The operator's pages run one after the other on one system.
python3 "$(dirname "$0")/doc_blocks.py" run "$SFS_SRC/README.md" >"$t/README.sh" ||
	fail "README.md: unmarked sh blocks"
python3 "$(dirname "$0")/doc_blocks.py" run "$SFS_SRC/docs/operations.md" \
	"$SFS_SRC/docs/policy.md" >"$t/operations.sh" || fail "docs: unmarked sh blocks"
for f in README operations; do [ -s "$t/$f.sh" ] || fail "$f: no block to run"; done
# CI's debian stage runs these: they must at least be there.
python3 "$(dirname "$0")/doc_blocks.py" debian "$SFS_SRC/docs/operations.md" \
	>"$t/debian.sh" || fail "docs/operations.md: unmarked sh blocks"
grep -q 'systemctl enable --now signetfs-inbox@' "$t/debian.sh" ||
	fail "docs/operations.md: no first run of the Debian package"

# run_doc NAME: boot a scratch system, run NAME.sh in the source copy.
run_doc() {
	local name=$1 rc=0
	sdns_boot "$t/ns-$name"
	sdns_run bash -c "cd '$t/src' && exec bash -xe -o pipefail '$t/$name.sh'" \
		>"$t/$name.log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$t/$name.log" >&2
		fail "$name: a documented step failed (exit $rc); the whole log: $t/$name.log"
	fi
	note "$name: $(grep -c '^+' "$t/$name.log") commands ran"
}

run_doc README
grep -q 'app-1.0.tar.gz.sig' "$t/README.log" || fail "README: the inbox listing"
# ls prints one name a line; the daemon's 'not served: notes.txt' line
# may come in between.
grep -qx 'notes.txt' <(grep -A4 '^+ ls /srv/www' "$t/README.log") &&
	fail "README: the inbox listed the unsigned notes.txt"
sdns_stop

run_doc operations
up=$t/ns-operations/upper
# The install step: prefix /usr, though build/ was set up for /usr/local.
[ -x "$up/usr/bin/signetfs" ] || fail "install: no /usr/bin/signetfs"
[ ! -e "$up/usr/local/bin/signetfs" ] || fail "install: still /usr/local"
[ -f "$up/usr/share/man/man1/signetfs.1" ] || fail "install: no man page"
grep -q '^ExecStart=/usr/bin/signetfs outbox ' \
	"$t/ns-operations/units/signetfs-outbox@.service" ||
	fail "install: the unit does not run /usr/bin/signetfs"
# The units served, and what the status step wrote parses as expected.
for u in signetfs-outbox@build signetfs-inbox@pub; do
	[ "$(sdns_run systemctl is-active $u)" = active ] || fail "$u not active"
done
# The 404 step: why names the reason the inbox refused with, for the path
# in the mount (BACKING from mountinfo) and for the one in --root BACKING.
grep -q '^/srv/pub/www/notes.txt: not served: no-signature$' "$t/operations.log" ||
	fail "operations: why did not explain /srv/pub/www/notes.txt"
grep -q '^notes.txt: not served: no-signature$' "$t/operations.log" ||
	fail "operations: why --root did not explain notes.txt"
prom=$up/var/lib/prometheus/node-exporter/signetfs.prom
grep -q '^signetfs_files_signed_total{mountpoint="/srv/build/outbox",mode="outbox"} 1$' "$prom" ||
	fail "metrics: $(grep files_signed "$prom")"
grep -q '^signetfs_files_verified_total{mountpoint="/srv/pub/www",mode="inbox"} [1-9]' "$prom" ||
	fail "metrics: $(grep files_verified "$prom")"
# The p11-kit steps made the user and the socket directory they use.
sdns_run getent passwd signetfs >/dev/null || fail "p11-kit: no user signetfs"
sdns_run stat -c '%U %a' /run/signetfs | grep -qx 'signetfs 750' ||
	fail "p11-kit: /run/signetfs"

# A build agent: a second system. The test stands in for the skipped
# block (scp of the PIN file and certificates, ssh -L as user signetfs)
# and for the agent's own install of signetfs.
ops_pid1=$SDNS_PID1
keys=/proc/$ops_pid1/root/var/lib/signetfs/keys
sdns_boot "$t/ns-agent"
agent_pid1=$SDNS_PID1
agent_root=/proc/$SDNS_PID1/root
sdns_run install -d -m 0755 /etc/signetfs /usr/local/bin
sdns_run install -d -m 0750 /run/signetfs
for f in pin signer.pem ca.pem; do
	cat "$keys/$f" | sdns_run sh -c "cat >/etc/signetfs/$f"
done
sdns_run chmod 0600 /etc/signetfs/pin
sdns_run install -m 0755 "$t/src/build/src/signetfs" /usr/local/bin/signetfs
SDNS_PID1=$ops_pid1
sig_uid=$(sdns_run getent passwd signetfs | awk -F: '{ print $3 ":" $4 }')
SDNS_PID1=$agent_pid1
python3 "$(dirname "$0")/forward.py" "$agent_root/run/signetfs/p11.sock" \
	"/proc/$ops_pid1/root/run/signetfs" "$sig_uid" >"$t/forward.log" 2>&1 &
SFS_PIDS+=("$!")
disown
wait_for 10 test -S "$agent_root/run/signetfs/p11.sock" ||
	{ cat "$t/forward.log" >&2; fail "the stand-in for ssh -L did not start"; }
python3 "$(dirname "$0")/doc_blocks.py" agent "$SFS_SRC/docs/operations.md" \
	>"$t/agent.sh" || fail "docs/operations.md: unmarked sh blocks"
rc=0
sdns_run bash -c "cd / && exec bash -xe -o pipefail '$t/agent.sh'" >"$t/agent.log" 2>&1 || rc=$?
[ "$rc" -eq 0 ] || { tail -n 30 "$t/agent.log" "$t/forward.log" >&2; fail "agent: a documented step failed"; }
grep -q '^OK tool.txt' "$t/agent.log" || fail "agent: no verified signature through p11-kit"
sdns_stop
SDNS_PID1=$ops_pid1
sdns_stop
echo "docs: ok"
