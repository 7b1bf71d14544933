#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# make install DESTDIR= (install -d/-m/-s, cp -p, a generated file): the
# installed tree as natively (modes; mtimes where cp -p keeps them), every
# file verifies. The build itself happens outside the outbox.
. "$(dirname "$0")/common.sh"
tl_need make cc install strip
tl_start
p=$SRC/hello
mkdir -p "$p/data"
cat >"$p/hello.c" <<'C'
#include <stdio.h>
int main(void) { puts("hello"); return 0; }
C
echo "hello data" >"$p/data/hello.dat"
touch -m -d '2020-02-02 02:02:02' "$p/data/hello.dat"
cat >"$p/Makefile" <<'MK'
PREFIX = /usr/local
all: hello
hello: hello.c
	$(CC) -O2 -o $@ hello.c
install: hello
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/hello
	install -d -m 0750 $(DESTDIR)$(PREFIX)/etc/hello
	install -m 0755 -s hello $(DESTDIR)$(PREFIX)/bin/hello
	install -m 0644 hello.c $(DESTDIR)$(PREFIX)/share/hello/hello.c
	cp -p data/hello.dat $(DESTDIR)$(PREFIX)/share/hello/
	echo "prefix=$(PREFIX)" > $(DESTDIR)$(PREFIX)/etc/hello/hello.conf
	chmod 0640 $(DESTDIR)$(PREFIX)/etc/hello/hello.conf
MK
make -s -C "$p" >/dev/null || tl_broken "make"
job() {
	tl_step install make -s -C "$p" install DESTDIR="$T/dest"
	# a second install over the first: replaces every file
	tl_step reinstall make -s -C "$p" install DESTDIR="$T/dest"
}
tl_both job
tl_finish
