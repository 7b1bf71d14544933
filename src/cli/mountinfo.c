// SPDX-License-Identifier: Apache-2.0
/* /proc/self/mountinfo, one mount at a time (proc(5)), for the CLI. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' &&
		    s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
				      (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/*
 * Fields 4 (root) and 5 (mount point), and after the " - " separator the
 * type and the source; the optional fields between are skipped.
 */
static bool parse(const char *line, struct cli_mount *m, char *root, char *mp,
		  char *type, char *src)
{
	const char *sep = strstr(line, " - ");

	if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mp) != 2 ||
	    sscanf(sep + 3, "%255s %4095s", type, src) != 2)
		return false;
	unescape(root);
	unescape(mp);
	unescape(src);
	*m = (struct cli_mount){root, mp, type, src};
	return true;
}

int cli_mounts_each(int (*fn)(const struct cli_mount *m, void *ctx), void *ctx)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, *root = malloc(PATH_MAX), *mp = malloc(PATH_MAX),
	     *src = malloc(PATH_MAX), type[256];
	size_t cap = 0;
	int ret = f ? 0 : -errno;
	struct cli_mount m;

	if (!ret && (!root || !mp || !src))
		ret = -ENOMEM;
	while (!ret && f && getline(&line, &cap, f) > 0)
		if (parse(line, &m, root, mp, type, src))
			ret = fn(&m, ctx);
	free(line);
	free(root);
	free(mp);
	free(src);
	if (f)
		fclose(f);
	return ret < 0 ? ret : 0;
}
