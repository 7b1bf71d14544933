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
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ob_file.h"
#include "outbox.h"
#include "signetfs/log.h"

#define PF_EXITING 0x00000004 /* include/linux/sched.h */

/*
 * Pids handed out since the open that are looked at one by one; above
 * this many, the live processes are listed from /proc instead (a busy
 * machine starts hundreds a second, most gone by the close).
 */
#define OB_NEW_PID_SCAN 1024

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
 * /proc, opened once: every /proc path below is looked up from it (the
 * scans of a close open hundreds). -errno: none (every lookup fails).
 * The mount opens it at INIT (ob_op_init), so that it is one of the
 * daemon's descriptors from the start, not one that appears later.
 */
int ob_proc_dir(void)
{
	static int dir = -1;
	int fd = __atomic_load_n(&dir, __ATOMIC_ACQUIRE), expected = -1;

	if (fd >= 0)
		return fd;
	fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (!__atomic_compare_exchange_n(&dir, &expected, fd, false,
					 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		close(fd); /* another thread opened it first */
		fd = expected;
	}
	return fd;
}

/*
 * The entries of a /proc directory that are numbers (pids, tids, fds),
 * read with getdents64 into buf: opendir's fstat and 32 KiB allocation
 * came with every listing of a close.
 */
struct ob_numbers {
	int fd;
	size_t pos, len;
	_Alignas(struct dirent64) char buf[4096];
};

/* Open the listing of /proc/PATH; false: no such directory (gone). */
static bool numbers_open(struct ob_numbers *d, const char *path)
{
	d->pos = d->len = 0;
	d->fd = openat(ob_proc_dir(), path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return d->fd >= 0;
}

/* The next number's name, or NULL at the end (also on a read error). */
static const char *numbers_next(struct ob_numbers *d)
{
	for (;;) {
		ssize_t n;

		while (d->pos < d->len) {
			struct dirent64 *de =
			    (struct dirent64 *)(d->buf + d->pos);

			d->pos += de->d_reclen;
			if (isdigit((unsigned char)de->d_name[0]))
				return de->d_name;
		}
		n = getdents64(d->fd, d->buf, sizeof(d->buf));
		if (n <= 0)
			return NULL;
		d->pos = 0;
		d->len = (size_t)n;
	}
}

/*
 * /proc/PID/stat of a task. Field 4 is the parent, 9 the task's flags, 20
 * the number of tasks in its group, 22 its start time, 38 its exit_signal
 * (-1 for a thread that is not the leader), and the last (52) its exit_code,
 * which do_exit() sets before exit_mm() and exit_files() drop its mappings and
 * descriptors: a close or a write-back that comes from process exit shows
 * PF_EXITING and the wait status (signal number, or status << 8). A zombie
 * keeps both.
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
		else if (field == 20)
			ex->nthreads = strtol(tok, NULL, 10);
		else if (field == 22)
			ex->start = strtoull(tok, NULL, 10);
		else if (field == 38)
			ex->thread = strtol(tok, NULL, 10) == -1;
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
	snprintf(path, sizeof(path), "%d/stat", (int)pid);
	n = read_small(ob_proc_dir(), path, buf, sizeof(buf));
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
	snprintf(path, sizeof(path), "%d/status", (int)pid);
	n = read_small(ob_proc_dir(), path, buf, sizeof(buf));
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

	if (read_small(ob_proc_dir(), "sys/kernel/ns_last_pid", buf,
		       sizeof(buf)) <= 0)
		return 0;
	return (pid_t)strtol(buf, NULL, 10);
}

/* Read only when pids wrapped since the open: a sysctl may change it. */
static pid_t pid_max(void)
{
	char buf[32];

	if (read_small(ob_proc_dir(), "sys/kernel/pid_max", buf, sizeof(buf)) <=
	    0)
		return 4194304; /* PID_MAX_LIMIT on 64-bit */
	return (pid_t)strtol(buf, NULL, 10);
}

/* One fdinfo: open for writing, on inode ino? */
static enum ob_hold fdinfo_writes(int dirfd, const char *fd, ino_t ino)
{
	char buf[512], *p;
	unsigned long flags;
	uintmax_t n;

	if (read_small(dirfd, fd, buf, sizeof(buf)) <= 0)
		return OB_HOLD_NONE;
	/*
	 * An io_uring instance may hold the file as a registered (fixed)
	 * file, written without any descriptor: while one exists the close
	 * does not sign, its release does, and a kill drops it silently.
	 */
	if (strstr(buf, "SqMask:"))
		return OB_HOLD_SILENT;
	p = strstr(buf, "flags:");
	if (!p)
		return OB_HOLD_NONE;
	flags = strtoul(p + 6, NULL, 8);
	if ((flags & O_ACCMODE) == O_RDONLY)
		return OB_HOLD_NONE;
	p = strstr(buf, "\nino:");
	/* Without an inode line (old kernels) any writable fd may be it. */
	if (!p)
		return OB_HOLD_FD;
	n = strtoumax(p + 5, NULL, 10);
	return n == (uintmax_t)ino ? OB_HOLD_FD : OB_HOLD_NONE;
}

/*
 * A descriptor open for writing on inode ino in PID's table. The one being
 * closed is gone from it already: close(2) takes the fd out of the table
 * before it calls ->flush. The match is by inode number only, so another
 * filesystem's file with the same number makes the close defer to the
 * release: late, never wrong.
 *
 * Only descriptors that can write have their fdinfo read: the mode of a
 * /proc/PID/fd link is its open file's (fs/proc/fd.c: S_IWUSR for
 * FMODE_WRITE), one lstat. A read-only descriptor cannot write, cannot be
 * mapped shared and writable, and is no io_uring ring (opened O_RDWR).
 */
enum ob_hold ob_fds_hold(pid_t pid, pid_t tid, ino_t ino)
{
	enum ob_hold held = OB_HOLD_NONE;
	struct ob_numbers d;
	const char *fd;
	char path[80];
	int info = -1;

	snprintf(path, sizeof(path), "%d/task/%d/fd", (int)pid, (int)tid);
	if (!numbers_open(&d, path))
		return OB_HOLD_NONE; /* gone, or exiting: no table left */
	/* A ring outranks a descriptor: read on after a descriptor. */
	while (held != OB_HOLD_SILENT && (fd = numbers_next(&d))) {
		struct stat st;
		enum ob_hold h;

		/* Not lstat-able (closed since, or else): fdinfo decides. */
		if (fstatat(d.fd, fd, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !(st.st_mode & S_IWUSR))
			continue;
		if (info < 0) {
			snprintf(path, sizeof(path), "%d/task/%d/fdinfo",
				 (int)pid, (int)tid);
			info = openat(ob_proc_dir(), path,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (info < 0)
				break; /* gone */
		}
		h = fdinfo_writes(info, fd, ino);
		if (h > held)
			held = h;
	}
	if (info >= 0)
		close(info);
	close(d.fd);
	return held;
}

/*
 * A shared writable mapping of (dev, ino) in PID: it writes the file after
 * every descriptor is closed (the mapping holds the open file).
 */
static bool maps_hold(pid_t pid, pid_t tid, dev_t dev, ino_t ino)
{
	char path[80], line[1024], buf[16384];
	bool held = false;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "%d/task/%d/maps", (int)pid, (int)tid);
	fd = openat(ob_proc_dir(), path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return true; /* cannot tell: the release signs */
	}
	/* stdio reads st_blksize at a time: 1 KiB for /proc, 7 reads for cp */
	setvbuf(f, buf, _IOFBF, sizeof(buf));
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

/*
 * The descriptor tables and address spaces one close has read (a task of
 * each): a table shared by several tasks is read once per close, whether
 * they are threads of one process, a thread's own tid among the new pids
 * (every number in a short span is looked at), or a CLONE_FILES or vfork
 * child: its answer is in what the close found already. Past the arrays'
 * end tables are read again: slower, same answer. maps: look at address
 * spaces at all (ob_may_map_shared).
 */
struct ob_scanned {
	pid_t files[32], vms[32];
	size_t nf, nv;
	bool maps;
};

/* Did an earlier task of set[0..n) have tid's table (KCMP_FILES, _VM)? */
static bool seen(const pid_t *set, size_t n, pid_t tid, int type)
{
	for (size_t k = 0; k < n; k++)
		if (syscall(SYS_kcmp, set[k], tid, type, 0, 0) == 0)
			return true;
	return false;
}

/* Task tid of process pid: its table and address space, unless seen. */
static enum ob_hold task_holds(struct outbox *ob, pid_t pid, pid_t tid,
			       ino_t ino, struct ob_scanned *sc)
{
	enum ob_hold held = OB_HOLD_NONE;

	if (!seen(sc->files, sc->nf, tid, KCMP_FILES)) {
		if (sc->nf < ARRAY_SIZE(sc->files))
			sc->files[sc->nf++] = tid;
		held = ob_fds_hold(pid, tid, ino);
		if (held)
			sfs_debug("inode %ju: task %d of %d has %s",
				  (uintmax_t)ino, (int)tid, (int)pid,
				  held == OB_HOLD_FD
				      ? "another descriptor"
				      : "it in an io_uring ring");
	}
	if (held != OB_HOLD_SILENT && sc->maps &&
	    !seen(sc->vms, sc->nv, tid, KCMP_VM)) {
		if (sc->nv < ARRAY_SIZE(sc->vms))
			sc->vms[sc->nv++] = tid;
		if (maps_hold(pid, tid, ob->fuse_dev, ino)) {
			sfs_debug("inode %ju: task %d of %d maps it shared",
				  (uintmax_t)ino, (int)tid, (int)pid);
			held = OB_HOLD_SILENT;
		}
	}
	return held;
}

/*
 * Every task of process pid, not only its leader: a leader that exited
 * leaves an empty /proc/PID/fdinfo and maps while its threads live on,
 * and a thread that called unshare(CLONE_FILES) has a table of its own.
 * Tables and address spaces in sc are not read again.
 */
static enum ob_hold proc_holds(struct outbox *ob, pid_t pid, ino_t ino,
			       struct ob_scanned *sc)
{
	enum ob_hold held = OB_HOLD_NONE;
	struct ob_numbers d;
	const char *name;
	char path[64];

	snprintf(path, sizeof(path), "%d/task", (int)pid);
	if (!numbers_open(&d, path))
		return OB_HOLD_NONE; /* gone */
	while (held != OB_HOLD_SILENT && (name = numbers_next(&d))) {
		enum ob_hold h =
		    task_holds(ob, pid, (pid_t)strtol(name, NULL, 10), ino, sc);

		if (h > held)
			held = h;
	}
	close(d.fd);
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

	snprintf(path, sizeof(path), "self/task/%d", (int)pid);
	return pid == getpid() || faccessat(ob_proc_dir(), path, F_OK, 0) == 0;
}

/* pid in the set of processes known to descend from the opener? */
static bool in_set(const pid_t *set, size_t n, pid_t pid)
{
	for (size_t k = 0; k < n; k++)
		if (set[k] == pid)
			return true;
	return false;
}

/* How far after mark the kernel handed out pid p (pids wrap at max). */
static pid_t pid_dist(pid_t mark, pid_t p, pid_t max)
{
	return p > mark ? p - mark : p + (max - 1 - mark);
}

struct pid_order {
	pid_t mark, max;
};

static int cmp_dist(const void *a, const void *b, void *arg)
{
	const struct pid_order *o = arg;
	pid_t da = pid_dist(o->mark, *(const pid_t *)a, o->max);
	pid_t db = pid_dist(o->mark, *(const pid_t *)b, o->max);

	return (da > db) - (da < db);
}

/*
 * The pids handed out after mark up to last, in the order the kernel
 * handed them out: every number in between when there are few (counted
 * off, nothing allocated), else the live ones that /proc lists, sorted (a
 * process started after the listing began has a pid after last, and is
 * not one of ours).
 */
struct ob_new_pids {
	pid_t next, max;
	size_t left; /* numbers still to count off, or listed ones */
	pid_t *v;    /* the listed ones, or NULL */
};

/* false: no memory, no /proc: the caller assumes a holder. */
static bool new_pids_start(struct ob_new_pids *it, pid_t mark, pid_t last)
{
	/*
	 * Without a wrap any max above last orders them the same (by p -
	 * mark): pid_max is read only when pids wrapped since the open.
	 */
	pid_t max = last > mark ? last + 1 : pid_max();
	pid_t span = pid_dist(mark, last, max);
	struct pid_order o = {mark, max};
	struct ob_numbers d;
	const char *name;
	size_t cap = 0;

	*it = (struct ob_new_pids){.next = mark, .max = max};
	if (span <= OB_NEW_PID_SCAN) {
		it->left = (size_t)span;
		return true;
	}
	if (!numbers_open(&d, "."))
		return false;
	while ((name = numbers_next(&d))) {
		pid_t p = (pid_t)strtol(name, NULL, 10);

		if (p <= 0 || p >= max || pid_dist(mark, p, max) > span ||
		    p == mark)
			continue;
		if (it->left == cap) {
			pid_t *nv;

			cap = cap ? cap * 2 : 256;
			nv = realloc(it->v, cap * sizeof(*nv));
			if (!nv) {
				free(it->v);
				close(d.fd);
				return false;
			}
			it->v = nv;
		}
		it->v[it->left++] = p;
	}
	close(d.fd);
	qsort_r(it->v, it->left, sizeof(*it->v), cmp_dist, &o);
	it->next = 0; /* index into v */
	return true;
}

/* The next pid, or 0 at the end. */
static pid_t new_pids_next(struct ob_new_pids *it)
{
	if (!it->left)
		return 0;
	it->left--;
	if (it->v)
		return it->v[it->next++];
	if (++it->next >= it->max)
		it->next = 1; /* wrapped: pids restart low */
	return it->next;
}

/* p (started at start) into hold; false when it is full. */
static bool holders_add(struct ob_holders *hold, pid_t p,
			unsigned long long start)
{
	if (hold->n == ARRAY_SIZE(hold->v)) {
		hold->overflow = true;
		return false;
	}
	hold->v[hold->n++] = (struct ob_holder){.pid = p, .start = start};
	return true;
}

/*
 * Processes started since the open (pids after mark, in the order the
 * kernel hands them out, so a parent comes before its children) that
 * descend from the opener or from its parent (clone(CLONE_PARENT) gives
 * a child the opener's parent), or were re-parented to init, and hold
 * the file: they inherited the descriptor or a shared mapping and may
 * still write through it. A descriptor ends the scan (its own close
 * comes); the silent holders (mapping, ring) all go into hold, for the
 * release to judge how each ended.
 */
static enum ob_hold new_procs_hold(struct outbox *ob, pid_t opener, pid_t oppid,
				   pid_t mark, ino_t ino, struct ob_scanned *sc,
				   struct ob_holders *hold)
{
	pid_t last = ob_last_pid(), set[64], p;
	enum ob_hold held = OB_HOLD_NONE, c;
	struct ob_new_pids it;
	size_t n_set = 1;
	struct ob_exit t;

	if (!mark || !last || last == mark)
		return OB_HOLD_NONE;
	if (!new_pids_start(&it, mark, last))
		return OB_HOLD_SILENT; /* cannot tell: the release signs */
	set[0] = opener;
	while (held != OB_HOLD_FD && (p = new_pids_next(&it))) {
		bool sibling;

		ob_exit_state(p, &t);
		if (t.gone || !t.known || t.exiting)
			continue;
		sibling = oppid > 1 && t.ppid == oppid;
		if (t.ppid != 1 && !sibling && !in_set(set, n_set, t.ppid))
			continue;
		if (is_self(p))
			continue;
		c = proc_holds(ob, p, ino, sc);
		if (c == OB_HOLD_SILENT && !holders_add(hold, p, t.start)) {
			held = OB_HOLD_SILENT;
			break;
		}
		if (c > held)
			held = c;
		/*
		 * A thread is nobody's parent (/proc names a parent by its
		 * thread group): it goes through the scan (its leader may
		 * have exited), not into the set. The opener's siblings
		 * (its parent's other children: the CLONE_PARENT case) are
		 * scanned, their own children not.
		 */
		if (t.thread || sibling)
			continue;
		if (n_set < ARRAY_SIZE(set)) {
			set[n_set++] = p;
		} else {
			sfs_debug("inode %ju: over %zu processes descend from "
				  "its opener",
				  (uintmax_t)ino, ARRAY_SIZE(set));
			held = OB_HOLD_SILENT; /* a large tree: the release
						  signs */
			break;
		}
	}
	free(it.v);
	return held;
}

enum ob_hold ob_still_held(struct outbox *ob, const struct ob_file *f,
			   pid_t closer_pid, const struct ob_exit *closer,
			   ino_t ino, bool maps, struct ob_holders *hold)
{
	enum ob_hold h = OB_HOLD_NONE, c;
	struct ob_scanned sc = {.maps = maps};

	/*
	 * An exiting task has no descriptors or mappings left to scan. A
	 * closer that is its process's leader and only task is blocked in
	 * this close: nobody can start a thread in it meanwhile, so its
	 * tasks need no listing.
	 */
	if (!closer->exiting && closer_pid == f->tgid && closer->nthreads == 1)
		h = task_holds(ob, f->tgid, f->tgid, ino, &sc);
	else if (!closer->exiting)
		h = proc_holds(ob, f->tgid, ino, &sc);
	if (h == OB_HOLD_SILENT)
		return h;
	/* The closer is a task of the opener's: its parent is the opener's. */
	c = new_procs_hold(ob, f->tgid, closer->known ? closer->ppid : 0,
			   f->pid_mark, ino, &sc, hold);
	return c > h ? c : h;
}

bool ob_may_map_shared(const struct ob_inode *s)
{
	for (const struct ob_file *h = s->handles; h; h = h->inode_next)
		if (!h->write_only)
			return true;
	return false;
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
