#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# meson install --destdir (an executable, headers, data, a subdir, a
# configured file): the installed tree as natively, every file verifies.
# The build itself happens outside the outbox.
. "$(dirname "$0")/common.sh"
tl_need meson ninja cc
tl_start
p=$SRC/proj
mkdir -p "$p/include" "$p/assets/icons"
cat >"$p/meson.build" <<'MB'
project('hello', 'c', version : '1.2.3')
executable('hello', 'hello.c', install : true)
install_headers('include/hello.h', subdir : 'hello')
install_data('README', install_dir : get_option('datadir') / 'doc/hello',
	install_mode : 'rw-r-----')
install_subdir('assets', install_dir : get_option('datadir') / 'hello')
conf = configuration_data({'VERSION' : meson.project_version()})
configure_file(input : 'hello.pc.in', output : 'hello.pc',
	configuration : conf, install_dir : get_option('libdir') / 'pkgconfig')
MB
printf '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' >"$p/hello.c"
echo '#define HELLO 1' >"$p/include/hello.h"
echo 'hello readme' >"$p/README"
head -c 5000 /dev/urandom >"$p/assets/icons/hello.png"
echo 'theme' >"$p/assets/theme.css"
printf 'Name: hello\nVersion: @VERSION@\n' >"$p/hello.pc.in"
(meson setup --prefix=/usr "$SFS_TMP/proj-build" "$p" &&
	ninja -C "$SFS_TMP/proj-build") >"$SFS_TMP/proj-build.log" 2>&1 ||
	{ cat "$SFS_TMP/proj-build.log" >&2; tl_broken "meson build"; }
job() {
	tl_step install meson install -C "$SFS_TMP/proj-build" --no-rebuild \
		--destdir "$T/dest"
}
tl_both job
tl_finish
