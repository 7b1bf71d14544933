# SPDX-License-Identifier: Apache-2.0
# Inbox helpers, sourced by each case after ../lib.sh: a private token and
# config, a BACKING and a MOUNTPOINT, signing, and the visible/hidden checks
# every case is written in.

# ib_setup: token in $T/tok, config $CONF (audit log $AUDIT), dirs $B, $M.
ib_setup() {
	sfs_need_fuse
	T=$SFS_TMP
	sfs_init "$T/tok"
	# Same directory as init's config: its relative paths stay valid.
	CONF=$T/tok/inbox-test.conf
	AUDIT=$T/audit.jsonl
	cp "$T/tok/signetfs.conf" "$CONF"
	printf '\n[signetfs]\naudit-log = %s\n' "$AUDIT" >>"$CONF"
	B=$T/backing
	M=$T/mnt
	mkdir -p "$B" "$M"
}

# ib_sign REL...: sign files given relative to $B.
ib_sign() {
	local f args=()
	for f; do args+=("$B/$f"); done
	"$SIGNETFS" sign --config "$CONF" --root "$B" "${args[@]}" \
		>"$T/sign.log" 2>&1 || { cat "$T/sign.log" >&2; fail "sign $*"; }
}

# ib_mount [args]: mount $B on $M (inbox), IB_PID and IB_LOG set.
ib_mount() {
	sfs_mount inbox "$CONF" "$B" "$M" "$@"
	IB_PID=$SFS_PID
	IB_LOG=$SFS_LOG
}

# ib_umount: unmount, then the audit log must verify, sealed by the final
# checkpoint the daemon signed with the config's key.
ib_umount() {
	sfs_umount "$M" "$IB_PID" "$IB_LOG"
	[ -f "$AUDIT" ] || return 0
	# The key the daemon seals with: a trust store names no key.
	local fp
	fp=$(openssl x509 -in "$T/tok/signer.pem" -outform DER | sha256sum | cut -c1-64)
	"$SIGNETFS" audit verify --trust "$T/tok/ca.pem" --signer-sha256 "$fp" "$AUDIT" \
		>"$T/audit-verify.out" 2>&1 ||
		{ cat "$T/audit-verify.out" "$AUDIT" >&2; fail "audit verify"; }
	grep -q '^OK .*sealed' "$T/audit-verify.out" ||
		fail "audit verify: $(cat "$T/audit-verify.out")"
}

# Is REL in the listing of its directory in the mount?
listed() {
	local dir base
	dir=$(dirname "$1")
	base=$(basename "$1")
	ls -a "$M/$dir" | grep -qxF -- "$base"
}

# visible REL: listed, stat-able, and byte-identical to BACKING.
visible() {
	listed "$1" || fail "$1 is not listed"
	[ -f "$M/$1" ] || fail "$1 cannot be stat'ed"
	cmp -s "$M/$1" "$B/$1" || fail "$1 differs from BACKING"
}

# hidden REL: ENOENT on open at once, not listed, and gone for stat once
# the kernel's 1 s entry/attribute cache (INBOX_TTL) has expired.
hidden() {
	local err
	err=$(cat "$M/$1" 2>&1 >/dev/null) && fail "$1 could be read"
	case $err in
	*"No such file or directory"*) ;;
	*) fail "$1: expected ENOENT, got: $err" ;;
	esac
	! listed "$1" || fail "$1 is listed"
	wait_for 3 not_there "$M/$1" || fail "$1 exists in the mount"
}

not_there() {
	[ ! -e "$1" ] && [ ! -L "$1" ]
}

# audited REL REASON [N]: exactly N (default 1) verify-denied records for
# REL with that reason: a denial is recorded once, not once per lookup.
audited() {
	local n
	n=$(grep -F '"event":"verify-denied"' "$AUDIT" |
		grep -F "\"path\":\"$1\"," | grep -cF "\"reason\":\"$2\"") || true
	[ "$n" -eq "${3:-1}" ] ||
		{ cat "$AUDIT" >&2; fail "$n verify-denied $2 records for $1, want ${3:-1}"; }
}

# A file of N bytes that is not all zeros and spans several 128 KiB blocks.
mkdata() {
	head -c "$2" /dev/urandom >"$1"
}

# flip REL [OFFSET]: change one byte of REL in BACKING, size unchanged.
flip() {
	local off=${2:-0} b
	b=$(od -An -tu1 -j "$off" -N1 "$B/$1" | tr -d ' ')
	printf "$(printf '\\%03o' $(((b ^ 1) & 255)))" |
		dd of="$B/$1" bs=1 seek="$off" conv=notrunc status=none
}

# ib_ca_init: $T/ca, a throwaway `openssl ca` database over the development
# CA of $T/tok (ca.cnf: revoke with -revoke, CRLs with -gencrl, 30 days;
# certificates with -in CSR, any commonName, 30 days: a caller appends
# the extension sections it issues with).
ib_ca_init() {
	mkdir -p "$T/ca/new"
	: >"$T/ca/index.txt"
	echo 1000 >"$T/ca/serial"
	echo 1000 >"$T/ca/crlnumber"
	cat >"$T/ca/ca.cnf" <<CNF
[ca]
default_ca = dev
[dev]
database = $T/ca/index.txt
serial = $T/ca/serial
crlnumber = $T/ca/crlnumber
new_certs_dir = $T/ca/new
certificate = $T/tok/ca.pem
private_key = $T/tok/ca.key
default_md = sha256
default_days = 30
default_crl_days = 30
policy = any
unique_subject = no
[any]
commonName = supplied
CNF
}
