// SPDX-License-Identifier: Apache-2.0
/*
 * Who is writing a file: the task behind a request, its thread group, how
 * it is exiting, and whether anybody besides a closing task still holds
 * the open file for writing (docs/outbox.md, "When a file is signed").
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ob_file.h"
#include "outbox.h"
#include "signetfs/log.h"

#define PF_EXITING 0x00000004 /* include/linux/sched.h */

/*
 * New processes checked for a descriptor of the file before a close may
 * sign; with more than this many started since the open, the close does
 * not sign and the last release does (it cannot report errors).
 */
#define OB_NEW_PROC_MAX 1024

/* Read a small /proc file into buf (NUL-terminated); bytes or -errno. */
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t len)
{
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n >= 0)
		buf[n] = '\0';
	return n;
}

/*
 * /proc/PID/stat of a task. Field 4 is the parent, 9 the task's flags, 22
 * its start time, and the last (52) its exit_code, which do_exit() sets
 * before exit_mm() and exit_files() drop its mappings and descriptors: a
 * close or a write-back that comes from process exit shows PF_EXITING and
 * the wait status (signal number, or status << 8). A zombie keeps both.
 */
void ob_parse_stat(char *buf, struct ob_exit *ex)
{
	char *p, *save = NULL, *tok, *last = NULL;
	unsigned long flags = 0;
	char state = 0;
	int field = 2;
	long code;

	memset(ex, 0, sizeof(*ex));
	/* comm (field 2) may hold spaces and ')': skip to its last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return;
	for (tok = strtok_r(p + 1, " \n", &save); tok;
	     tok = strtok_r(NULL, " \n", &save)) {
		field++;
		if (field == 3)
			state = tok[0];
		else if (field == 4)
			ex->ppid = (pid_t)strtol(tok, NULL, 10);
		else if (field == 9)
			flags = strtoul(tok, NULL, 10);
		else if (field == 22)
			ex->start = strtoull(tok, NULL, 10);
		last = tok;
	}
	ex->known = field >= 52;
	if (!ex->known || !(flags & PF_EXITING || state == 'Z' || state == 'X'))
		return;
	ex->exiting = true;
	code = strtol(last, NULL, 10);
	ex->signal = (int)(code & 0x7f);
	ex->status = (int)((code >> 8) & 0xff);
}

void ob_exit_state(pid_t pid, struct ob_exit *ex)
{
	char path[64], buf[1024];
	ssize_t n;

	memset(ex, 0, sizeof(*ex));
	if (pid <= 0)
		return; /* another pid namespace: the kernel did not say */
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	n = read_small(AT_FDCWD, path, buf, sizeof(buf));
	if (n == -ENOENT || n == -ESRCH)
		ex->gone = true;
	else if (n > 0)
		ob_parse_stat(buf, ex);
}

int ob_task_ids(pid_t pid, pid_t *tgid, gid_t *groups, int *ngroups)
{
	char path[64], buf[4096], *line, *save = NULL;
	int max = *ngroups;
	ssize_t n;

	*tgid = 0;
	*ngroups = 0;
	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	n = read_small(AT_FDCWD, path, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "Tgid:", 5)) {
			*tgid = (pid_t)strtol(line + 5, NULL, 10);
		} else if (!strncmp(line, "Groups:", 7) && groups) {
			char *q = line + 7, *end;

			for (;;) {
				unsigned long g = strtoul(q, &end, 10);

				if (end == q || *ngroups == max)
					break;
				groups[(*ngroups)++] = (gid_t)g;
				q = end;
			}
		}
	}
	return *tgid > 0 ? 0 : -ESRCH;
}

pid_t ob_last_pid(void)
{
	char buf[32];

	if (read_small(AT_FDCWD, "/proc/sys/kernel/ns_last_pid", buf,
		       sizeof(buf)) <= 0)
		return 0;
	return (pid_t)strtol(buf, NULL, 10);
}

static pid_t pid_max(void)
{
	char buf[32];

	if (read_small(AT_FDCWD, "/proc/sys/kernel/pid_max", buf,
		       sizeof(buf)) <= 0)
		return 4194304; /* PID_MAX_LIMIT on 64-bit */
	return (pid_t)strtol(buf, NULL, 10);
}

/* One fdinfo: open for writing, on inode ino? */
static bool fdinfo_writes(int dirfd, const char *fd, ino_t ino)
{
	char buf[512], *p;
	unsigned long flags;
	uintmax_t n;

	if (read_small(dirfd, fd, buf, sizeof(buf)) <= 0)
		return false;
	/*
	 * An io_uring instance may hold the file as a registered (fixed)
	 * file, written without any descriptor: while one exists the close
	 * does not sign, its release does.
	 */
	if (strstr(buf, "SqMask:"))
		return true;
	p = strstr(buf, "flags:");
	if (!p)
		return false;
	flags = strtoul(p + 6, NULL, 8);
	if ((flags & O_ACCMODE) == O_RDONLY)
		return false;
	p = strstr(buf, "\nino:");
	/* Without an inode line (old kernels) any writable fd may be it. */
	if (!p)
		return true;
	n = strtoumax(p + 5, NULL, 10);
	return n == (uintmax_t)ino;
}

/*
 * A descriptor open for writing on inode ino in PID's table. The one being
 * closed is gone from it already: close(2) takes the fd out of the table
 * before it calls ->flush. The match is by inode number only, so another
 * filesystem's file with the same number makes the close defer to the
 * release: late, never wrong.
 */
static bool fds_hold(pid_t pid, pid_t tid, ino_t ino)
{
	char path[80];
	struct dirent *de;
	bool held = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/fdinfo", (int)pid,
		 (int)tid);
	d = opendir(path);
	if (!d)
		return false; /* gone, or exiting: no table left */
	while (!held && (de = readdir(d)))
		if (isdigit((unsigned char)de->d_name[0]))
			held = fdinfo_writes(dirfd(d), de->d_name, ino);
	closedir(d);
	return held;
}

/*
 * A shared writable mapping of (dev, ino) in PID: it writes the file after
 * every descriptor is closed (the mapping holds the open file).
 */
static bool maps_hold(pid_t pid, pid_t tid, dev_t dev, ino_t ino)
{
	char path[80], line[1024];
	bool held = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/maps", (int)pid,
		 (int)tid);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!held && fgets(line, sizeof(line), f)) {
		char perms[8];
		unsigned int ma, mi;
		uintmax_t n;

		if (sscanf(line, "%*x-%*x %7s %*x %x:%x %ju", perms, &ma, &mi,
			   &n) != 4)
			continue;
		held = perms[1] == 'w' && perms[3] == 's' &&
		       n == (uintmax_t)ino &&
		       (!dev || (ma == major(dev) && mi == minor(dev)));
	}
	fclose(f);
	return held;
}

/* Did an earlier task of set[0..n) have tid's table (KCMP_FILES, _VM)? */
static bool seen(const pid_t *set, size_t n, pid_t tid, int type)
{
	for (size_t k = 0; k < n; k++)
		if (syscall(SYS_kcmp, set[k], tid, type, 0, 0) == 0)
			return true;
	return false;
}

/*
 * Every task of process pid, not only its leader: a leader that exited
 * leaves an empty /proc/PID/fdinfo and maps while its threads live on,
 * and a thread that called unshare(CLONE_FILES) has a table of its own.
 * Tables and address spaces shared by several tasks are read once.
 */
static bool proc_holds(struct outbox *ob, pid_t pid, ino_t ino)
{
	pid_t files[16], vms[16];
	size_t nf = 0, nv = 0;
	struct dirent *de;
	char path[64];
	bool held = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return false; /* gone */
	while (!held && (de = readdir(d))) {
		pid_t tid;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		tid = (pid_t)strtol(de->d_name, NULL, 10);
		if (!seen(files, nf, tid, KCMP_FILES)) {
			if (nf < ARRAY_SIZE(files))
				files[nf++] = tid;
			held = fds_hold(pid, tid, ino);
			if (held)
				sfs_debug(
				    "inode %ju: task %d of %d has another "
				    "descriptor",
				    (uintmax_t)ino, (int)tid, (int)pid);
		}
		if (!held && !seen(vms, nv, tid, KCMP_VM)) {
			if (nv < ARRAY_SIZE(vms))
				vms[nv++] = tid;
			held = maps_hold(pid, tid, ob->fuse_dev, ino);
			if (held)
				sfs_debug("inode %ju: task %d of %d maps it "
					  "shared",
					  (uintmax_t)ino, (int)tid, (int)pid);
		}
	}
	closedir(d);
	return held;
}

/*
 * One of this daemon's own threads: libfuse starts workers on demand, so
 * they show up among the new pids, as children of whoever started the
 * daemon, and our table holds BACKING's files open for writing.
 */
static bool is_self(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d", (int)pid);
	return pid == getpid() || access(path, F_OK) == 0;
}

/* pid in the set of processes known to descend from the opener? */
static bool in_set(const pid_t *set, size_t n, pid_t pid)
{
	for (size_t k = 0; k < n; k++)
		if (set[k] == pid)
			return true;
	return false;
}

/*
 * Processes started since the open (pids after mark, in the order the
 * kernel hands them out, so a parent comes before its children) that
 * descend from the opener, or were re-parented to init, and hold the
 * file: they inherited the descriptor and may still write through it.
 */
static bool new_procs_hold(struct outbox *ob, pid_t opener, pid_t mark,
			   ino_t ino)
{
	pid_t last = ob_last_pid(), max, set[64];
	size_t n_set = 1, checked = 0;
	struct ob_exit t;

	if (!mark || !last || last == mark)
		return false;
	max = pid_max();
	set[0] = opener;
	for (pid_t p = mark + 1; p != last + 1; p++) {
		if (p >= max)
			p = 1; /* wrapped: pids restart low */
		if (++checked > OB_NEW_PROC_MAX) {
			sfs_debug("inode %ju: over %d processes since the open",
				  (uintmax_t)ino, OB_NEW_PROC_MAX);
			return true; /* too many to look at: the release signs
				      */
		}
		ob_exit_state(p, &t);
		if (t.gone || !t.known || t.exiting || is_self(p))
			continue;
		if (t.ppid != 1 && !in_set(set, n_set, t.ppid))
			continue;
		if (proc_holds(ob, p, ino))
			return true;
		if (n_set < ARRAY_SIZE(set))
			set[n_set++] = p;
		else
			return true; /* a large tree: the release signs */
	}
	return false;
}

bool ob_still_held(struct outbox *ob, const struct ob_file *f,
		   const struct ob_exit *closer, ino_t ino)
{
	/* An exiting task has no descriptors or mappings left to scan. */
	if (!closer->exiting && proc_holds(ob, f->tgid, ino))
		return true;
	return new_procs_hold(ob, f->tgid, f->pid_mark, ino);
}

/* This mount's device, as /proc/PID/maps shows it (mountinfo field 3). */
void ob_find_fuse_dev(struct outbox *ob)
{
	char line[4096], mnt[PATH_MAX];
	unsigned int ma, mi;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return;
	/* The last match: a mount on top of an older one is this one. */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &ma, &mi, mnt) ==
			3 &&
		    strstr(line, " - fuse.signetfs-outbox ") && ob->mnt_abs &&
		    !strcmp(mnt, ob->mnt_abs))
			ob->fuse_dev = makedev(ma, mi);
	fclose(f);
	if (!ob->fuse_dev)
		sfs_info("no device for %s in mountinfo: shared mappings are "
			 "matched by inode number only",
			 ob->mnt_abs);
}
