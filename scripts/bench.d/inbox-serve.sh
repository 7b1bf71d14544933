# SPDX-License-Identifier: Apache-2.0
# inbox-serve (issue 17, target 5): the inbox as a distribution server.
# One nginx (sendfile on, no open_file_cache, access log off, a worker per
# CPU) serves BACKING on one port and the inbox over it on another:
#  - one hot 4 KiB file, `ab -k -c 8 -n HOT_N`, plain vs inbox;
#  - DIST_N distinct 4 KiB files (100 per directory), each fetched once by
#    8 curl processes in parallel (keep-alive), plain vs inbox: the first,
#    verifying pass on a fresh mount, then verified and warm;
#  - `ls -l` of NFILES signed files (2 x NFILES names with the .sig),
#    native vs the inbox's first listing (fresh mount, verifies all) and
#    second, and the first listing's rate against bare CMS signature
#    checks of the same files on all CPUs (tests/bench/cms_verify_loop:
#    OpenSSL CMS_verify, signature and content digest, signer chain
#    skipped = checked once per trust epoch; with the chain per file for
#    the record; and `signetfs verify -r`, the CLI's one verdict).
# BACKING's page cache is warm in every run (the CMS loop reads the files
# right before): the first listing and the first pass measure
# verification CPU, not the disk. The FUSE floor: libfuse's own
# passthrough_ll over BACKING (lib.sh build_floor) with the inbox's cache
# settings (page cache kept across opens, 1 s timeouts, xattrs passed
# through), on a third nginx port: the hot file and the second listing
# through any libfuse 3.14 filesystem on this kernel. Sourced by
# scripts/bench.

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_nginx() { # DIR PORT_PLAIN ROOT_PLAIN PORT_INBOX ROOT_INBOX [PORT ROOT]
	local third=
	[ -z "${6:-}" ] || third="server { listen 127.0.0.1:$6; root $7; }"
	mkdir -p "$1/logs" "$1/tmp"
	cat >"$1/nginx.conf" <<EOF
user root;
worker_processes $(nproc);
daemon off;
pid $1/nginx.pid;
error_log $1/logs/error.log;
events { worker_connections 1024; }
http {
	sendfile on;
	tcp_nopush on;
	access_log off;
	keepalive_requests 10000000;
	keepalive_timeout 120;
	client_body_temp_path $1/tmp/body;
	proxy_temp_path $1/tmp/proxy;
	fastcgi_temp_path $1/tmp/fastcgi;
	uwsgi_temp_path $1/tmp/uwsgi;
	scgi_temp_path $1/tmp/scgi;
	default_type application/octet-stream;
	server { listen 127.0.0.1:$2; root $3; }
	server { listen 127.0.0.1:$4; root $5; }
	$third
}
EOF
	nginx -p "$1" -c "$1/nginx.conf" &
	nginx_pid=$!
	local end=$((SECONDS + 10))
	until curl -s -o /dev/null "http://127.0.0.1:$2/"; do
		kill -0 "$nginx_pid" 2>/dev/null || die "nginx did not start ($1/logs/error.log)"
		[ $SECONDS -lt $end ] || die "nginx start timeout"
		sleep 0.05
	done
}

# ab_rps URL N: requests per second of ab -k -c 8, all 200
ab_rps() {
	local out
	out=$(ab -k -c 8 -n "$2" "$1" 2>&1) || { echo "$out" >&2; die "ab failed"; }
	grep -q '^Failed requests: *0$' <<<"$out" || { echo "$out" >&2; die "ab: failed requests"; }
	! grep -q '^Non-2xx' <<<"$out" || { echo "$out" >&2; die "ab: non-2xx responses"; }
	awk '/^Requests per second/ {print $4}' <<<"$out"
}

# fetch_all PORT LISTDIR: every URL of the 8 lists, 8 curls at once;
# fails unless every answer is 200.
fetch_all() {
	local i codes=$work/codes.$1 ps=()
	for i in 0 1 2 3 4 5 6 7; do
		sed "s|@PORT@|$1|" "$2/l$i" >"$2/k$i.$1"
		curl -s -K "$2/k$i.$1" -w '%{http_code}\n' >"$codes.$i" &
		ps+=($!)
	done
	# not a bare wait: the mount's daemon and nginx are children too
	for i in "${ps[@]}"; do wait "$i" || true; done
	[ "$(cat "$codes".? | grep -c '^200$')" = "$DIST_N" ] ||
		die "fetch via port $1: $(cat "$codes".? | sort | uniq -c | tr '\n' ' ')"
}

bench_inbox_serve() {
	local w=$work/iserve k B M r cpus pp pi
	mkdir -p "$w"
	k=$w/key
	B=$w/backing
	M=$w/mnt
	mktoken "$k"
	cpus=$(nproc)
	note "inbox-serve: $DIST_N + $NFILES signed files"
	gen_flat "$B/hot" 1 4096
	gen_flat "$B/many" "$NFILES" 4096
	python3 - "$B/www" "$DIST_N" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    p = f"{d}/d{i // 100:03d}"
    os.makedirs(p, exist_ok=True)
    with open(f"{p}/f{i:05d}", "wb") as f:
        f.write(os.urandom(4096))
PY
	"$SIGNETFS" sign --config "$k/signetfs.conf" --root "$B" -r "$B/hot" "$B/www" "$B/many" >/dev/null
	# 8 curl config files over the distinct files, interleaved.
	mkdir -p "$w/lists"
	(cd "$B" && find www -type f ! -name '*.sig' | sort) |
		awk -v d="$w/lists" '{printf "url = \"http://127.0.0.1:@PORT@/%s\"\noutput = \"/dev/null\"\n", $0 > (d "/l" (NR % 8))}'
	pp=$(free_port)
	pi=$(free_port)
	while [ "$pi" = "$pp" ]; do pi=$(free_port); done
	local pf= F=$w/floor fl_n=$NFILES lim
	# passthrough_ll holds an fd per inode the kernel knows: where the fd
	# limit cannot hold 2 x NFILES names, it lists a directory of as many
	# of the same files as it can, against native on that directory
	lim=$(ulimit -n)
	[ "$lim" = unlimited ] || [ $((NFILES * 2 + 2000)) -le "$lim" ] ||
		fl_n=$(((lim - 2000) / 2))
	mkdir -p "$B/floorls"
	(cd "$B/many" && find . -maxdepth 1 -type f | sort | head -n $((fl_n * 2)) |
		xargs cp -t "$B/floorls")
	if [ -n "$(build_floor)" ]; then
		FLOOR_BIN=$work/passthrough_ll
		mount_floor "$B" "$F" -o cache=always -o timeout=1 -o xattr
		pf=$(free_port)
		while [ "$pf" = "$pp" ] || [ "$pf" = "$pi" ]; do pf=$(free_port); done
	fi
	start_nginx "$w/nginx" "$pp" "$B" "$pi" "$M" "$pf" "$F"
	local hot=hot/f00000
	declare -A t
	for r in $(seq 1 "$REPS"); do
		note "inbox-serve: round $r of $REPS"
		mount_fs inbox "$k/signetfs.conf" "$B" "$M"
		# one hot file
		ab_rps "http://127.0.0.1:$pp/$hot" $((HOT_N / 10)) >/dev/null
		t[hot_p]+="$(ab_rps "http://127.0.0.1:$pp/$hot" "$HOT_N") "
		ab_rps "http://127.0.0.1:$pi/$hot" $((HOT_N / 10)) >/dev/null
		t[hot_i]+="$(ab_rps "http://127.0.0.1:$pi/$hot" "$HOT_N") "
		if [ -n "$pf" ]; then
			ab_rps "http://127.0.0.1:$pf/$hot" $((HOT_N / 10)) >/dev/null
			t[hot_f]+="$(ab_rps "http://127.0.0.1:$pf/$hot" "$HOT_N") "
		fi
		# distinct files: plain warm, the inbox's first (verifying) pass
		# on this fresh mount, then the inbox warm
		fetch_all "$pp" "$w/lists"
		t[dist_p]+="$(timed fetch_all "$pp" "$w/lists") "
		t[dist_1]+="$(timed fetch_all "$pi" "$w/lists") "
		fetch_all "$pi" "$w/lists"
		t[dist_i]+="$(timed fetch_all "$pi" "$w/lists") "
		umount_fs "$M"
		# listing, and bare CMS checks of the same files
		"$CMS_LOOP" -a "$k/ca.pem" -j "$cpus" -m chain "$B/many" >/dev/null
		t[cms_sig]+="$("$CMS_LOOP" -a "$k/ca.pem" -j "$cpus" -m sig -w "$B/many" | awk '{print $NF}' | tr -d '/s') "
		t[cms_chain]+="$("$CMS_LOOP" -a "$k/ca.pem" -j "$cpus" -m chain "$B/many" | awk '{print $NF}' | tr -d '/s') "
		t[cli]+="$(timed "$SIGNETFS" verify --config "$k/signetfs.conf" --root "$B" -j "$cpus" -r "$B/many") "
		ls -l "$B/many" >/dev/null
		t[ls_n]+="$(timed ls -l "$B/many") "
		mount_fs inbox "$k/signetfs.conf" "$B" "$M"
		t[ls_1]+="$(timed ls -l "$M/many") "
		t[ls_2]+="$(timed ls -l "$M/many") "
		if [ -n "$pf" ]; then
			ls -l "$B/floorls" >/dev/null
			t[ls_fn]+="$(timed ls -l "$B/floorls") "
			ls -l "$F/floorls" >/dev/null
			t[ls_f]+="$(timed ls -l "$F/floorls") "
			echo 2 >/proc/sys/vm/drop_caches # its fds go with the inodes
		fi
		[ "$(ls "$M/many" | wc -l)" = $((NFILES * 2)) ] || die "inbox lists $(ls "$M/many" | wc -l) names"
		umount_fs "$M"
	done
	kill "$nginx_pid"
	wait "$nginx_pid" 2>/dev/null || true
	nginx_pid=
	[ -z "$pf" ] || umount_fs "$F"
	# shellcheck disable=SC2086
	local hp hi dp d1 di ln l1 l2 cs cc cl hf lf
	hp=$(med ${t[hot_p]}) hi=$(med ${t[hot_i]})
	dp=$(med ${t[dist_p]}) d1=$(med ${t[dist_1]}) di=$(med ${t[dist_i]})
	ln=$(med ${t[ls_n]}) l1=$(med ${t[ls_1]}) l2=$(med ${t[ls_2]})
	cs=$(med ${t[cms_sig]}) cc=$(med ${t[cms_chain]}) cl=$(med ${t[cli]})
	printf 'inbox-serve: nginx (sendfile on), %d CPUs, medians of %d\n' "$cpus" "$REPS"
	printf ' one hot 4 KiB file, ab -k -c 8 -n %d (req/s)\n' "$HOT_N"
	row "plain disk" "$hp" "req/s"
	row "inbox" "$hi" "req/s"
	ratio "inbox / plain" "$hi" "$hp" ">= 0.6x"
	if [ -n "$pf" ]; then
		hf=$(med ${t[hot_f]})
		row "libfuse passthrough_ll (FUSE floor)" "$hf" "req/s"
		ratio "passthrough_ll / plain (the floor)" "$hf" "$hp" ""
		ratio "inbox / passthrough_ll" "$hi" "$hf" ""
	fi
	printf ' %d distinct 4 KiB files, each fetched once, 8 curls in parallel (files/s)\n' "$DIST_N"
	row "plain disk" "$(calc "$DIST_N / $dp")" "files/s"
	row "inbox, first pass (verifies; fresh mount)" "$(calc "$DIST_N / $d1")" "files/s"
	printf '  %-44s %10.3f s\n' "inbox, first pass, seconds" "$d1"
	row "inbox, verified and warm" "$(calc "$DIST_N / $di")" "files/s"
	ratio "inbox warm / plain" "$dp" "$di" ">= 0.8x"
	ratio "inbox first pass / plain" "$dp" "$d1" ""
	printf ' ls -l of %d signed files (%d names) (seconds)\n' "$NFILES" $((NFILES * 2))
	printf '  %-44s %10.3f s\n' native "$ln" "inbox, first (verifies all)" "$l1" \
		"inbox, second (cached verdicts)" "$l2"
	ratio "second listing: inbox time / native time" "$l2" "$ln" "<= 5x"
	if [ -n "$pf" ]; then
		local lfn
		lf=$(med ${t[ls_f]}) lfn=$(med ${t[ls_fn]})
		printf '  %-44s %10.3f s\n' "FUSE floor: native, $fl_n of the files" "$lfn" \
			"FUSE floor: passthrough_ll, second listing" "$lf"
		ratio "second listing: passthrough_ll / native" "$lf" "$lfn" ""
		ratio "second listing: inbox / passthrough_ll, per name" "$(calc "$l2 / $NFILES")" "$(calc "$lf / $fl_n")" ""
	fi
	ratio "first listing: inbox time / native time" "$l1" "$ln" ""
	row "first listing, files verified/s" "$(calc "$NFILES / $l1")" "files/s"
	row "bare CMS checks, $cpus threads (sig + digest)" "$cs" "files/s"
	row "CMS checks with chain per file, $cpus threads" "$cc" "files/s"
	row "signetfs verify -r -j $cpus (CLI verdict)" "$(calc "$NFILES / $cl")" "files/s"
	ratio "first listing / bare CMS checks" "$(calc "$NFILES / $l1")" "$cs" ">= 0.8x"
	# The first listing is the verification (READDIRPLUS, all threads)
	# followed by what the second listing costs too (ls's own lstat and
	# two getxattr per name, serial round trips): the first alone.
	row "first listing minus second: files verified/s" "$(calc "$NFILES / ($l1 - $l2)")" "files/s"
	ratio "(first - second listing) / bare CMS checks" "$(calc "$NFILES / ($l1 - $l2)")" "$cs" ""
	ratio "first listing / CMS with chain per file" "$(calc "$NFILES / $l1")" "$cc" ""
	ratio "first listing / signetfs verify -r" "$(calc "$NFILES / $l1")" "$(calc "$NFILES / $cl")" ""
	for r in hot_p hot_i ${pf:+hot_f} ${pf:+ls_f} ${pf:+ls_fn} dist_p dist_1 dist_i ls_n ls_1 ls_2 cms_sig cms_chain cli; do
		raw "$r" "${t[$r]}"
	done
}
