# SPDX-License-Identifier: Apache-2.0
# Shared by the RFC 3161 cases: a token whose config names a development
# TSA (scripts/dev-tsa: `openssl ts -reply` behind an HTTP responder on
# 127.0.0.1), started and stopped by the case, never on the network.
# shellcheck source=../lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

DEV_TSA=$SFS_SRC/scripts/dev-tsa
TSA_MODE=$SFS_TMP/tsa.mode
TSA_PORT=0

# tsa_init DIR [init options]: a token, CA and TSA cert; DIR/signetfs.conf
tsa_init() {
	local dir=$1; shift
	command -v python3 >/dev/null || skip "no python3"
	"$SIGNETFS" init "$dir" --tsa http://127.0.0.1:9/ "$@" \
		>"$dir.init.log" 2>&1 ||
		{ cat "$dir.init.log" >&2; fail "signetfs init --tsa $dir"; }
}

tsa_listening() { grep -q 'listening on' "$SFS_TMP/tsa.out" 2>/dev/null; }

# tsa_start DIR: serve DIR's TSA key; the first start picks a free port,
# a restart takes the same one. Points DIR/signetfs.conf at it. Ready
# when it has printed its URL (its readiness line), not after a sleep.
tsa_start() {
	local dir=$1
	: >"$SFS_TMP/tsa.out"
	"$DEV_TSA" --dir "$dir" --port "$TSA_PORT" --mode-file "$TSA_MODE" \
		--state "$SFS_TMP/tsa-state" >"$SFS_TMP/tsa.out" \
		2>>"$SFS_TMP/tsa.err" &
	TSA_PID=$!
	SFS_PIDS+=("$TSA_PID")
	wait_for 20 tsa_listening ||
		{ cat "$SFS_TMP/tsa.err" >&2; fail "dev-tsa did not start"; }
	TSA_URL=$(sed -n 's/^dev-tsa: listening on //p' "$SFS_TMP/tsa.out")
	TSA_PORT=${TSA_URL##*:}
	TSA_PORT=${TSA_PORT%/}
	sed -i "s|^tsa-url = .*|tsa-url = $TSA_URL|" "$dir/signetfs.conf"
}

tsa_stop() {
	kill "$TSA_PID" 2>/dev/null || true
	wait "$TSA_PID" 2>/dev/null || true
}

# tsa_mode ok|slow N|garbage|http500|drop
tsa_mode() { echo "$*" >"$TSA_MODE"; }

# stamped FILE: FILE.sig carries a token (verify --json says when).
stamped() {
	"$SIGNETFS" verify --config "$CONF" --root "$ROOT" --json "$1" 2>/dev/null |
		grep -q '"timestamp":'
}

# reason FILE: the verifier's reason name for FILE.
reason() {
	"$SIGNETFS" verify --config "$CONF" --root "$ROOT" --json "$1" 2>/dev/null |
		sed -E 's/.*"reason":"([^"]*)".*/\1/'
}

# An audit record of EVENT for PATH in LOG.
audited_event() {
	grep -F "\"event\":\"$2\"" "$1" | grep -qF "\"path\":\"$3\""
}
