#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Issue 13, smaller deviations: O_TMPFILE is refused with EOPNOTSUPP, a
# documented refusal (docs/outbox.md, "POSIX behaviour"): libfuse
# 3.14 has no tmpfile operation (it came in 3.17.1), and publishing such
# a file is linkat(2), a hard link, which the outbox refuses by design.
# Tools that try O_TMPFILE fall back to a named temp file and rename(2)
# on EOPNOTSUPP, which the outbox signs like any other file: shown here
# with the fallback glibc's and coreutils' users make. Nothing is left.
. "$(dirname "$0")/posix.sh"

# steps DIR: O_TMPFILE, then the named-temp fallback; what it printed.
steps() {
	python3 - "$1" <<'PY'
import ctypes, errno, os, sys
d = sys.argv[1]
libc = ctypes.CDLL(None, use_errno=True)
try:
    fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o644)
    os.write(fd, b"published\n")
    # linkat(fd, "", AT_FDCWD, d/pub, AT_EMPTY_PATH)
    if libc.linkat(fd, b"", -100, f"{d}/pub".encode(), 0x1000):
        raise OSError(ctypes.get_errno(), "linkat")
    os.close(fd)
    print("O_TMPFILE: ok")
except OSError as e:
    print("O_TMPFILE:", "EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP
          else errno.errorcode[e.errno])
    fd = os.open(f"{d}/.pub.tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.write(fd, b"published\n")
    os.close(fd)
    os.rename(f"{d}/.pub.tmp", f"{d}/pub")
print(sorted(os.listdir(d)), open(f"{d}/pub", "rb").read())
PY
}

for kind in sign nosign; do
	px_start "$kind"
	native=$(steps "$N")
	[ "${native%%$'\n'*}" = "O_TMPFILE: ok" ] ||
		skip "no O_TMPFILE in $N's filesystem"
	got=$(steps "$M")
	note "$got"
	[ "${got%%$'\n'*}" = "O_TMPFILE: EOPNOTSUPP" ] ||
		fail "O_TMPFILE ($kind): ${got%%$'\n'*}"
	echo "$got" | grep -q "b'published\\\\n'" || fail "fallback ($kind)"
	[ "$kind" = nosign ] || ob_ok pub
	[ -z "$(find "$B" -name '.pub.tmp*')" ] || fail "temp file left"
	ob_stop
done
