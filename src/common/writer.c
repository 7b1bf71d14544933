// SPDX-License-Identifier: Apache-2.0
/* Writer identity for signetfs-writer and audit records. */
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "signetfs/sigfmt.h"

static void user_name(uid_t uid, char *out, size_t len)
{
	struct passwd pw, *res = NULL;
	char buf[1024];

	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		snprintf(out, len, "%s", res->pw_name);
	else
		snprintf(out, len, "%u", (unsigned)uid);
}

void sfs_writer_ids(struct sfs_writer *w, pid_t pid, uid_t uid, gid_t gid)
{
	char link[64];
	ssize_t n;

	memset(w, 0, sizeof(*w));
	w->uid = uid;
	w->gid = gid;
	w->pid = pid;
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	n = pid > 0 ? readlink(link, w->exe, sizeof(w->exe) - 1) : -1;
	w->exe[n > 0 ? n : 0] = '\0';
}

void sfs_writer_from_pid(struct sfs_writer *w, pid_t pid, uid_t uid, gid_t gid)
{
	sfs_writer_ids(w, pid, uid, gid);
	user_name(uid, w->user, sizeof(w->user));
	if (gethostname(w->host, sizeof(w->host) - 1) < 0)
		w->host[0] = '\0';
}

void sfs_writer_self(struct sfs_writer *w)
{
	sfs_writer_from_pid(w, getpid(), getuid(), getgid());
	snprintf(w->mount_id, sizeof(w->mount_id), "cli");
}
