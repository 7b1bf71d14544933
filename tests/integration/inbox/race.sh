#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Issue item 2: 4 readers read a signed file through the mount, 10,000
# reads in all, while a writer rewrites it in BACKING in place (bytes
# flipped, truncated, appended) and replaces it by rename-over. A read may
# fail (EIO, ENOENT); it must never return bytes other than the signed
# content. Half the readers bypass the page cache with O_DIRECT, half drop
# it before each read, so the daemon serves (and checks) every read.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/common.sh"
ib_setup
command -v python3 >/dev/null || skip "no python3"

mkdata "$B/target" $((5 * 131072 + 4321))
ib_sign target
cp "$B/target" "$T/signed"
ib_mount
visible target

SFS_LOG_ALLOW='^$' python3 - "$M/target" "$B/target" "$T/signed" "$T" <<'PY' ||
import errno, os, random, sys, time, multiprocessing as mp

mnt, backing, signed_path, tmpdir = sys.argv[1:5]
signed = open(signed_path, "rb").read()
READERS, READS = 4, 2500

def read_all(fd, direct):
    if not direct:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    chunks, off = [], 0
    while True:
        b = os.pread(fd, 1 << 20, off)
        if not b:
            return b"".join(chunks)
        chunks.append(b)
        off += len(b)

def reader(i, q):
    # Some reads on a fresh open (the file may have been replaced), some
    # again on an fd held open while BACKING changes under it.
    ok = failed = wrong = eio = done = 0
    direct = i % 2 == 0
    while done < READS:
        try:
            fd = os.open(mnt, os.O_RDONLY | (os.O_DIRECT if direct else 0))
        except OSError:
            failed += 1
            done += 1
            continue
        for _ in range(min(4, READS - done)):
            done += 1
            try:
                if read_all(fd, direct) == signed:
                    ok += 1
                else:
                    wrong += 1
            except OSError as e:
                failed += 1
                eio += e.errno == errno.EIO
        os.close(fd)
    q.put((ok, failed, wrong, eio))

def writer(stop):
    rnd = random.Random(7)
    n = len(signed)
    tmp = os.path.join(os.path.dirname(backing), ".race.tmp")
    def replace(data):
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, backing)
    def pause():
        time.sleep(rnd.random() * 0.003)
    while not stop.is_set():
        k = rnd.randrange(5)
        try:
            if k == 0:    # flip bytes in place, then put them back
                off = rnd.randrange(n - 64)
                with open(backing, "r+b") as f:
                    f.seek(off); f.write(os.urandom(64)); f.flush()
                    pause()
                    f.seek(off); f.write(signed[off:off + 64])
            elif k == 1:  # truncate, then rewrite in place
                with open(backing, "r+b") as f:
                    f.truncate(n // 2); f.flush()
                    pause()
                    f.seek(0); f.write(signed)
            elif k == 2:  # append, then cut back
                with open(backing, "r+b") as f:
                    f.seek(n); f.write(b"appended"); f.flush()
                    pause()
                    f.truncate(n)
            elif k == 3:  # rename-over with other bytes, then the signed ones
                replace(os.urandom(n))
                pause()
                replace(signed)
            else:         # rewrite the whole file in place, then restore
                with open(backing, "r+b") as f:
                    f.write(os.urandom(n)); f.flush()
                    pause()
                    f.seek(0); f.write(signed)
        except OSError as e:
            print("writer:", e, file=sys.stderr)
        # Leave the signed bytes in place a while, so reads also succeed.
        time.sleep(rnd.random() * 0.006)

q = mp.Queue()
stop = mp.Event()
w = mp.Process(target=writer, args=(stop,))
w.start()
rs = [mp.Process(target=reader, args=(i, q)) for i in range(READERS)]
for r in rs:
    r.start()
res = [q.get() for _ in rs]
for r in rs:
    r.join()
stop.set()
w.join()
ok, failed, wrong, eio = (sum(x[i] for x in res) for i in range(4))
print(f"# reads: {ok + failed + wrong}, signed bytes: {ok}, failed: {failed} "
      f"(EIO mid-read: {eio}), WRONG: {wrong}")
if wrong:
    sys.exit("FAIL: reads returned bytes that differ from the signed content")
if ok == 0 or failed == 0:
    sys.exit("FAIL: the race did not happen (every read passed or failed)")
PY
	fail "race"

# After the writer: the signed bytes are in place again and served.
cmp -s "$B/target" "$T/signed" || fail "writer left BACKING modified"
visible target
grep -q '"path":"target"' "$AUDIT" || fail "no audit record of the race"
ib_umount
