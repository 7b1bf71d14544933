// SPDX-License-Identifier: Apache-2.0
/* BACKING names: writers' names escaped around the signature slots. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signetfs/layout.h"
#include "signetfs/util.h"

bool sfs_name_is_slot(const char *name, size_t len)
{
	return sfs_is_sig_name(name, len);
}

/* Bytes before the trailing '~'s of NAME. */
static size_t untilded(const char *name, size_t len)
{
	while (len && name[len - 1] == '~')
		len--;
	return len;
}

bool sfs_name_escaped(const char *name, size_t len)
{
	return sfs_is_sig_name(name, untilded(name, len));
}

static bool bad_name(const char *name, size_t len)
{
	return len == 0 || memchr(name, '/', len) || memchr(name, '\0', len);
}

int sfs_name_to_backing(const char *name, size_t len, char *out, size_t *olen)
{
	bool esc;

	if (bad_name(name, len))
		return -EINVAL;
	esc = sfs_name_escaped(name, len);
	if (len + esc > NAME_MAX)
		return -ENAMETOOLONG;
	memmove(out, name, len);
	if (esc)
		out[len++] = '~';
	out[len] = '\0';
	*olen = len;
	return 0;
}

int sfs_name_from_backing(const char *bname, size_t len, char *out,
			  size_t *olen)
{
	if (bad_name(bname, len) || len > NAME_MAX ||
	    sfs_is_sig_name(bname, len))
		return -EINVAL;
	/* Not a slot, so a name matching \.sig~*$ has one '~' at least. */
	if (sfs_name_escaped(bname, len))
		len--;
	memmove(out, bname, len);
	out[len] = '\0';
	*olen = len;
	return 0;
}

int sfs_path_to_slot(const char *path, size_t len, char *out, size_t size,
		     size_t *olen)
{
	const size_t n = sizeof(SFS_SIG_SUFFIX) - 1;
	const char *base;
	size_t blen;
	int ret;

	if (len == 0)
		return -EINVAL;
	if (size < n)
		return -ENAMETOOLONG;
	ret = sfs_path_to_backing(path, len, out, size - n, &blen);
	if (ret)
		return ret;
	base = memrchr(out, '/', blen);
	base = base ? base + 1 : out;
	if ((size_t)(out + blen - base) + n > NAME_MAX)
		return -ENAMETOOLONG;
	memcpy(out + blen, SFS_SIG_SUFFIX, n + 1);
	*olen = blen + n;
	return 0;
}

size_t sfs_path_sig_of(const char *path, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);

	if (len <= n || memcmp(path + len - n, suffix, n) ||
	    path[len - n - 1] == '/')
		return 0;
	return len - n;
}

typedef int (*name_map)(const char *, size_t, char *, size_t *);

/* Each component of path through map, joined by '/' again. */
static int map_path(const char *path, size_t len, char *out, size_t size,
		    size_t *olen, name_map map)
{
	char name[NAME_MAX + 1];
	size_t done = 0, start = 0, n;
	int ret;

	if (len == 0) {
		if (size == 0)
			return -ENAMETOOLONG;
		out[0] = '\0';
		*olen = 0;
		return 0;
	}
	for (size_t i = 0; i <= len; i++) {
		if (i < len && path[i] != '/')
			continue;
		if (i - start > NAME_MAX)
			return -ENAMETOOLONG;
		ret = map(path + start, i - start, name, &n);
		if (ret)
			return ret;
		if (done + !!start + n + 1 > size)
			return -ENAMETOOLONG;
		if (start)
			out[done++] = '/';
		memcpy(out + done, name, n);
		done += n;
		start = i + 1;
	}
	out[done] = '\0';
	*olen = done;
	return 0;
}

int sfs_path_to_backing(const char *path, size_t len, char *out, size_t size,
			size_t *olen)
{
	return map_path(path, len, out, size, olen, sfs_name_to_backing);
}

int sfs_path_from_backing(const char *bpath, size_t len, char *out, size_t size,
			  size_t *olen)
{
	return map_path(bpath, len, out, size, olen, sfs_name_from_backing);
}

bool sfs_is_legacy_temp(const char *name)
{
	size_t n = strlen(name);

	/* ".NAME.sig.XXXXXX.tmp": what layout 1 named a .sig being written */
	return n >= 17 && name[0] == '.' && !strcmp(name + n - 4, ".tmp") &&
	       name[n - 11] == '.' && !memcmp(name + n - 15, ".sig", 4);
}

#define MARKER_TAG "signetfs-layout "

int sfs_layout_read(int dirfd)
{
	uint8_t *buf = NULL;
	size_t len, tag = sizeof(MARKER_TAG) - 1;
	int ret, version = 0;

	ret = sfs_read_file_at(dirfd, SFS_LAYOUT_MARKER, 64, &buf, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret == -EFBIG || ret == -EINVAL)
		return -EPROTO;
	if (ret)
		return ret;
	/* "signetfs-layout N\n": N from 1 to 999, nothing else */
	ret = -EPROTO;
	if (len < tag + 2 || len > tag + 4 || memcmp(buf, MARKER_TAG, tag) ||
	    buf[len - 1] != '\n')
		goto out;
	for (size_t i = tag; i < len - 1; i++) {
		if (buf[i] < '0' || buf[i] > '9' || (i == tag && buf[i] == '0'))
			goto out;
		version = version * 10 + (buf[i] - '0');
	}
	ret = version;
out:
	free(buf);
	return ret;
}

int sfs_layout_write(int dirfd)
{
	char buf[32];
	int n =
	    snprintf(buf, sizeof(buf), MARKER_TAG "%d\n", SFS_LAYOUT_VERSION);

	return sfs_write_atomic_at(dirfd, SFS_LAYOUT_MARKER, buf, (size_t)n,
				   0644, true);
}
