# SPDX-License-Identifier: Apache-2.0
# Shared by the outbox cases: a private token, BACKING, a mount, and the
# two independent verifiers (signetfs verify, stock openssl cms).
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

# ob_p11fault_token [RULES...]: the token's module is p11fault
# (tests/p11fault) in front of SoftHSM, ruled by $CTL (RULES its first
# lines); ob_start then mounts with it. Skips without the module.
ob_p11fault_token() {
	sfs_need_fuse
	[ -n "${P11FAULT:-}" ] && [ -e "$P11FAULT" ] || skip "no p11fault module"
	TOK=$SFS_TMP/tok
	sfs_init "$TOK"
	sed -i "s|^module = .*|module = $P11FAULT|" "$TOK/signetfs.conf"
	CTL=$SFS_TMP/p11fault.ctl
	: >"$CTL"
	[ $# -eq 0 ] || printf '%s\n' "$@" >"$CTL"
	export P11FAULT_MODULE=/usr/lib/softhsm/libsofthsm2.so
	export P11FAULT_CONTROL=$CTL P11FAULT_LOG=$SFS_TMP/p11fault.log
}

# ob_start [--no-sign] [-o OPTS] [CONF_EXTRA_LINES]: sets TOK B M CONF CA
ob_start() {
	local extra=() conf_extra=""
	while [ $# -gt 0 ]; do
		case "$1" in
		--no-sign) extra+=(--no-sign) ;;
		-o) extra+=(-o "$2"); shift ;;
		*) conf_extra=$1 ;;
		esac
		shift
	done
	sfs_need_fuse
	TOK=${TOK:-$SFS_TMP/tok}
	# Strict modes: only the daemon's user may reach BACKING. $SFS_TMP
	# is private (0700) unless a test opens it to other users for the
	# mount point; such a test sets OB_BACKING below a private directory.
	B=${OB_BACKING:-$SFS_TMP/backing}
	M=$SFS_TMP/mnt
	mkdir -p "$B" "$M"
	[ -e "$TOK/signetfs.conf" ] || sfs_init "$TOK"
	CA=$(ob_ca "$TOK")
	# Same directory: relative paths in the config stay valid.
	CONF=$TOK/outbox.conf
	AUDIT=$SFS_TMP/audit.jsonl
	{
		cat "$TOK/signetfs.conf"
		printf '\n[signetfs]\naudit-log = %s\n[outbox]\n%s\n' \
			"$AUDIT" "$conf_extra"
	} >"$CONF"
	sfs_mount outbox "$CONF" "$B" "$M" "${extra[@]}"
	OB_PID=$SFS_PID
	OB_LOG=$SFS_LOG
}

ob_stop() {
	sfs_umount "$M" "$OB_PID" "$OB_LOG"
}

# The CA certificate `signetfs init` made (trust = in its config).
ob_ca() {
	local t
	t=$(sed -n 's/^[[:space:]]*trust[[:space:]]*=[[:space:]]*//p' \
		"$1/signetfs.conf" | head -1)
	case "$t" in /*) echo "$t" ;; *) echo "$1/$t" ;; esac
}

# ob_ok REL: BACKING/REL has a signature both verifiers accept.
ob_ok() {
	sfs_verify_both "$CONF" "$B" "$B/$1" "$CA"
}

# ob_bad REL: no verifier accepts BACKING/REL (missing or invalid .sig).
ob_bad() {
	if "$SIGNETFS" verify --config "$CONF" --root "$B" "$B/$1" \
		>/dev/null 2>&1; then
		fail "signetfs verify accepted $1"
	fi
}

# ob_forge_flip REL: a flipped byte in BACKING must not verify (restored).
ob_forge_flip() {
	local f=$B/$1 save=$SFS_TMP/flip.save
	cp -p "$f" "$save"
	printf '\x5a' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") / 2)) \
		conv=notrunc status=none
	cmp -s "$f" "$save" && printf '\xa5' | dd of="$f" bs=1 \
		seek=$(($(stat -c %s "$f") / 2)) conv=notrunc status=none
	ob_bad "$1"
	if openssl cms -verify -binary -inform DER -in "$f.sig" -content "$f" \
		-CAfile "$CA" -purpose any -out /dev/null 2>/dev/null; then
		fail "openssl accepted a flipped byte in $1"
	fi
	cp -p "$save" "$f"
}

# ob_forge_move REL OTHER: the signature of REL does not vouch for OTHER.
ob_forge_move() {
	cp "$B/$1" "$B/$2"
	cp "$B/$1.sig" "$B/$2.sig"
	ob_bad "$2"
	rm -f "$B/$2" "$B/$2.sig"
}

# ob_fails CMD...: the command must fail (with EPERM/EACCES/EIO...).
ob_fails() {
	if "$@" 2>/dev/null; then fail "should have failed: $*"; fi
}

# ob_errno ERRNO PYTHON_EXPR: the expression raises OSError with ERRNO.
ob_errno() {
	python3 - "$1" "$2" <<'PY' || fail "expected $1 from: $2"
import errno, os, sys
want = getattr(errno, sys.argv[1])
try:
    exec(sys.argv[2])
except OSError as e:
    sys.exit(0 if e.errno == want else f"got {errno.errorcode.get(e.errno)}")
sys.exit("no error")
PY
}

ob_xattr() {
	getfattr --only-values -n "user.signetfs.$2" "$1" 2>/dev/null
}

# No atomic-write temp file visible through the mount or left in BACKING
# (".sfs-tmp-XXXXXXXXXXXX.sig.sig"; layout 1 named them ".NAME.XXXXXX.tmp").
ob_no_temps() {
	! find "$1" -name '.sfs-tmp-*' | grep -q . || {
		find "$1" -name '.sfs-tmp-*' >&2
		fail "temp files under $1"
	}
}

# ob_bk PATH: where BACKING stores the writer's PATH (signetfs/layout.h).
ob_bk() {
	sed -E 's#(\.sig~*)(/|$)#\1~\2#g' <<<"$1"
}

# The audit log records EVENT (optionally for PATH).
ob_audited() {
	grep -q "\"event\":\"$1\"${2:+.*\"path\":\"$2\"}" "$AUDIT" ||
		fail "no $1 audit record${2:+ for $2}"
}

# ob_kill_trials SIGNAL N SIZE_MIB WRITER...: N writers of a SIZE_MIB file
# into the mount, each killed with SIGNAL when BACKING holds a random
# amount of it. A killed writer must never leave a valid signature; one
# that finished first must leave a valid one of the whole file. Each
# killed writer's last close makes exactly one sign-refused record for k
# with its uid, pid and exe (counted over all calls in OB_K_REFUSED).
OB_K_REFUSED=0
ob_kill_trials() {
	local sig=$1 n=$2 mib=$3; shift 3
	local writers=("$@") src=$SFS_TMP/kill.src killed=0 t w pid rc thr
	head -c $((mib << 20)) /dev/urandom >"$src"
	for t in $(seq 1 "$n"); do
		w=${writers[$((t % ${#writers[@]}))]}
		rm -f "$M/k"
		# Background jobs of a script ignore SIGINT: restore it.
		case "$w" in
		cp) env --default-signal=INT cp "$src" "$M/k" & ;;
		dd) env --default-signal=INT dd if="$src" of="$M/k" bs=1M \
			status=none & ;;
		cat) env --default-signal=INT sh -c 'exec cat "$1" >"$2"' _ \
			"$src" "$M/k" & ;;
		head) env --default-signal=INT sh -c \
			'exec head -c '$((mib << 20))' "$1" >"$2"' _ "$src" "$M/k" & ;;
		esac
		pid=$!
		# In the first half: the wait below polls every 20 ms, and a
		# fast writer (600+ MiB/s here) otherwise often closes first.
		thr=$(( (RANDOM % (mib / 2 - 1) + 1) << 20 ))
		# the mount's size: with the writeback cache BACKING lags
		wait_for 60 ob_size_at_least "$M/k" "$thr" "$pid" ||
			fail "trial $t: $w made no progress"
		kill -"$sig" "$pid" 2>/dev/null || true
		rc=0
		wait "$pid" || rc=$?
		if [ "$rc" -eq 0 ]; then
			cmp -s "$src" "$B/k" || fail "trial $t: $w exit 0, short"
			ob_ok k
			note "trial $t: $w finished before SIG$sig"
			continue
		fi
		if cmp -s "$src" "$B/k" && [ -e "$B/k.sig" ]; then
			# closed (and signed) in full before the signal came
			ob_ok k
			note "trial $t: $w wrote all before SIG$sig (rc $rc)"
			continue
		fi
		# Killed before its close: refused, even when all its data had
		# reached the page cache (the close came from the exit).
		killed=$((killed + 1))
		ob_bad k
		[ ! -e "$B/k.sig" ] || ! openssl cms -verify -binary -inform DER \
			-in "$B/k.sig" -content "$B/k" -CAfile "$CA" -purpose any \
			-out /dev/null 2>/dev/null || fail "trial $t: openssl accepted"
		case "$(ob_xattr "$M/k" status)" in
		"failed: writer killed"*|unsigned) ;;
		*) fail "trial $t: status $(ob_xattr "$M/k" status)" ;;
		esac
		note "trial $t: $w killed by SIG$sig at $(stat -c %s "$B/k") bytes (rc $rc)"
	done
	# Most trials must really kill mid-copy (a fast writer may finish first).
	[ $((killed * 2)) -ge "$n" ] || fail "only $killed of $n killed mid-copy"
	OB_K_REFUSED=$((OB_K_REFUSED + killed))
	ob_expect_records sign-refused k "$OB_K_REFUSED"
	# the file can be written again normally afterwards
	cp "$src" "$M/k"
	ob_ok k
	ob_records_match_stats
	ob_forge_flip k
}

# True when FILE has SIZE bytes, or the writer PID is gone.
ob_size_at_least() {
	[ "$(stat -c %s "$1" 2>/dev/null || echo 0)" -ge "$2" ] ||
		! kill -0 "$3" 2>/dev/null
}

# The SoftHSM configuration the token from `signetfs init` uses.
ob_softhsm_conf() {
	local c
	c=$(sed -n 's/^[[:space:]]*softhsm-conf[[:space:]]*=[[:space:]]*//p' \
		"$TOK/signetfs.conf" | head -1)
	case "$c" in "") c=${SOFTHSM2_CONF:-/etc/softhsm/softhsm2.conf} ;;
	/*) ;; *) c=$TOK/$c ;; esac
	echo "$c"
}

# How many files under DIR the daemon reports as signed (xattr).
ob_count_signed() {
	{ getfattr -R -n user.signetfs.status "$1" 2>/dev/null || true; } |
		grep -c '="signed"' || true
}

# ob_fresh_ext4 DIR MIB: a new ext4 (loop, sparse image) mounted on DIR,
# unmounted at exit. ext4 allocates inodes slowly right after mass
# deletions (recently_deleted), so tests that create tens of thousands of
# files get a filesystem nobody deleted anything on.
OB_LOOPS=()
ob_fresh_ext4() {
	command -v mkfs.ext4 >/dev/null || skip "no mkfs.ext4"
	mkdir -p "$1"
	truncate -s "$2M" "$SFS_TMP/ext4.$(basename "$1").img"
	mkfs.ext4 -q -F -N $(($2 * 128)) "$SFS_TMP/ext4.$(basename "$1").img" ||
		fail "mkfs.ext4"
	mount -o loop "$SFS_TMP/ext4.$(basename "$1").img" "$1" ||
		skip "cannot mount a loop device"
	OB_LOOPS+=("$1")
}
ob_cleanup() {
	local rc=$? m
	for m in "${SFS_MNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && { fusermount3 -uz "$m" ||
			umount -l "$m"; } 2>/dev/null
	done
	for m in "${OB_LOOPS[@]}"; do umount -l "$m" 2>/dev/null; done
	sfs_cleanup "$rc"
}
trap ob_cleanup EXIT

# ob_records EVENT [PATH_GLOB]: how many EVENT records the audit log has
# (for paths matching PATH_GLOB, fnmatch: '*' crosses '/').
ob_records() {
	python3 - "$AUDIT" "$1" "${2:-*}" <<'PY'
import fnmatch, json, sys
log, ev, glob = sys.argv[1:4]
n = 0
for line in open(log, "rb"):
    r = json.loads(line)
    if r.get("event") == ev and fnmatch.fnmatchcase(r.get("path", ""), glob):
        n += 1
print(n)
PY
}

# ob_records_is EVENT PATH_GLOB N: exactly N such records (for wait_for).
ob_records_is() {
	[ "$(ob_records "$1" "$2")" = "$3" ]
}

# ob_expect_records EVENT PATH_GLOB N: exactly N such records, each with
# the writer the kernel reported (uid, pid > 0, exe).
ob_expect_records() {
	python3 - "$AUDIT" "$@" <<'PY' || fail "audit records: $1 $2"
import fnmatch, json, sys
log, ev, glob, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
recs = [r for r in map(json.loads, open(log, "rb"))
        if r.get("event") == ev and fnmatch.fnmatchcase(r.get("path", ""), glob)]
if len(recs) != n:
    sys.exit(f"{len(recs)} {ev} records for {glob}, expected {n}")
for r in recs:
    w = r.get("writer") or {}
    if "uid" not in w or not w.get("pid", 0) > 0 or not w.get("exe"):
        sys.exit(f"{ev} {r.get('path')}: incomplete writer {w}")
PY
}

# ob_record_writer EVENT PATH UID EXE [N]: the last EVENT record for PATH
# names uid UID running EXE (pid > 0); with N, there are exactly N of them.
# (A close signs: shells and dd open, dup2 and close the original fd, so
# one writer may sign an empty file first, then its content.)
ob_record_writer() {
	python3 - "$AUDIT" "$@" <<'PY' || fail "audit record: $*"
import json, sys
log, ev, path, uid, exe = sys.argv[1:6]
recs = [r for r in map(json.loads, open(log, "rb"))
        if r.get("event") == ev and r.get("path") == path]
if not recs or (len(sys.argv) > 6 and len(recs) != int(sys.argv[6])):
    sys.exit(f"{len(recs)} {ev} records for {path}")
w = recs[-1].get("writer") or {}
if w.get("uid") != int(uid) or not w.get("pid", 0) > 0 or w.get("exe") != exe:
    sys.exit(f"{ev} {path}: writer {w}, expected uid {uid} exe {exe}")
PY
}

# ob_records_match_stats: the daemon's own counters (user.signetfs.stats)
# equal the audit records: one sign record per signature, one sign-failed
# per failed close, one sign-refused or policy-denied per refusal, each
# with a writer (uid, pid, exe). A sign record that a sign-failed record
# answers (its "answers" is the sign record's seq) made no signature (the
# token or the .sig failed after it: docs/audit-log.md), and is not
# counted as one; an answer must name a sign record of its own path and
# session, and no sign record is answered twice.
ob_records_match_stats() {
	getfattr --only-values -n user.signetfs.stats "$M" >"$SFS_TMP/stats" ||
		fail "no stats xattr"
	python3 - "$AUDIT" "$SFS_TMP/stats" <<'PY' || fail "audit records vs stats"
import collections, json, sys
recs = [json.loads(l) for l in open(sys.argv[1], "rb")]
st = json.load(open(sys.argv[2]))
n = collections.Counter(r.get("event") for r in recs)
signs = {r["seq"]: r for r in recs if r.get("event") == "sign"}
answered = set()
for r in recs:
    a = r.get("answers")
    if a is None:
        continue
    s = signs.get(a)
    if r.get("event") != "sign-failed" or s is None or a >= r["seq"] or \
            s.get("path") != r.get("path") or \
            s.get("session") != r.get("session") or a in answered:
        sys.exit(f"record {r['seq']} ({r.get('event')} {r.get('path')}) "
                 f"answers {a}, which is not an unanswered earlier sign "
                 f"record of its path and session")
    answered.add(a)
answered = len(answered)
want = {"sign": st["files_signed"], "sign-failed": st["sign_failed"],
        "sign-refused+policy-denied": st["sign_refused"]}
got = {"sign": n["sign"] - answered, "sign-failed": n["sign-failed"],
       "sign-refused+policy-denied": n["sign-refused"] + n["policy-denied"]}
if want != got:
    sys.exit(f"daemon counted {want}, audit log has {got}")
for r in recs:
    if r.get("event") in ("sign", "sign-failed", "sign-refused", "policy-denied"):
        w = r.get("writer") or {}
        # a rename's signature (and its sign-failed) names the signed
        # bytes' writer, whose pid no signature carries
        pid_ok = w.get("pid", 0) > 0 or \
            (r.get("reason") or "").startswith("rename")
        if "uid" not in w or not pid_ok or not w.get("exe"):
            sys.exit(f"{r['event']} {r.get('path')}: incomplete writer {w}")
print(f"# audit records match the daemon's counters: {got}, "
      f"{answered} sign records answered by sign-failed")
PY
}

# ob_audit_verify: after unmount, the log's chain and checkpoints verify.
ob_audit_verify() {
	"$SIGNETFS" audit verify --config "$CONF" "$AUDIT" >"$SFS_TMP/av" 2>&1 ||
		{ cat "$SFS_TMP/av" >&2; fail "audit verify rejected $AUDIT"; }
}
