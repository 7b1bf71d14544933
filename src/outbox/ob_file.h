/* SPDX-License-Identifier: Apache-2.0 */
/* One open file, and who is writing it (outbox_writers.c). */
#ifndef SIGNETFS_OUTBOX_OB_FILE_H
#define SIGNETFS_OUTBOX_OB_FILE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fuse/sfuse.h"
#include "ob_inode.h"

struct outbox;

/* How the task that sent a request is doing (from /proc/PID/stat). */
struct ob_exit {
	bool known;   /* /proc/PID/stat was read in full */
	bool gone;    /* no such task: exited and reaped */
	bool exiting; /* PF_EXITING, or a zombie */
	int signal;   /* killed by this signal, else 0 */
	int status;   /* exit status of a normal exit */
	/*
	 * A thread that is not its group's leader (exit_signal -1): its
	 * /proc entry shows the group's tables, and no process has it as its
	 * parent (a parent is always named by its thread group).
	 */
	bool thread;
	pid_t ppid;
	long nthreads;		  /* tasks in its thread group */
	unsigned long long start; /* start time, clock ticks after boot */
};

/* One open file (fuse_file_info.fh). */
struct ob_file {
	struct sfuse_handle link; /* on ob->files while open */
	int fd;	 /* the caller's open: its access mode, its credentials */
	int rfd; /* write-only handles: reads of the writeback cache; -1 */
	bool writable;
	bool write_only; /* fd is O_WRONLY: reads go through rfd */
	bool must_sign;	 /* created or truncated by this open */
	bool refused;	 /* its writer was killed: never sign for it */
	/*
	 * Writable and its writing not over: the opener's process has not
	 * made the close that ends it, nor has the kernel released it.
	 */
	bool active;
	bool opener_closed; /* the opener's process closed a descriptor */
	bool exit_seen;	    /* exit: the opener seen exiting after close */
	/*
	 * The opener's close found the file still held by a shared mapping
	 * or an io_uring ring (OB_HOLD_SILENT): the writing went on, and may
	 * end without any further close, by a kill.
	 */
	bool held_at_close;
	struct ob_exit exit;
	/*
	 * Processes other than the opener's that the opener's close found
	 * holding the file silently (a shared mapping inherited by fork, a
	 * ring): the release judges how each of them ended, as the opener's.
	 */
	struct ob_holders {
		struct ob_holder {
			pid_t pid;
			unsigned long long start;
			bool seen; /* exit: seen exiting (as exit_seen) */
			struct ob_exit exit;
		} v[4];
		unsigned n;
		bool overflow; /* more than v holds: none is judged */
	} holders;
	uint64_t open_seq;
	uint64_t open_gen;  /* content_gen after the open */
	uint64_t flush_gen; /* content_gen at its last flush */
	struct ob_file *inode_next, *inode_prev; /* ob_inode.handles */
	/* Who opened it: release carries no credentials. */
	struct ob_writer_id who;
	pid_t tgid;		  /* the opener's process */
	unsigned long long start; /* its start time: pid reuse */
	pid_t pid_mark;		  /* the last pid handed out at the open */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	/*
	 * Its executable then (writable handles): a writer killed by a
	 * signal closes its files after the kernel released its memory map,
	 * when /proc/PID/exe no longer resolves.
	 */
	char *exe;
};

static inline struct ob_file *ob_file_of(struct fuse_file_info *fi)
{
	return (struct ob_file *)(uintptr_t)fi->fh;
}

/* outbox_file.c: the handles of an inode (ob_inode.handles), its lock held */
void ob_add_handle_locked(struct ob_inode *s, struct ob_file *f);
/* f's writing is over: a close that ended it, or the release. */
void ob_finish_locked(struct ob_inode *s, struct ob_file *f);
void ob_del_handle_locked(struct ob_inode *s, struct ob_file *f);
void ob_file_free(struct ob_file *f);

/* outbox_writers.c */

void ob_exit_state(pid_t pid, struct ob_exit *ex);
/* The same from the text of a /proc/PID/stat (buf is changed). */
void ob_parse_stat(char *buf, struct ob_exit *ex);
/*
 * The thread group of task PID and, when groups is not NULL, its
 * supplementary groups (at most *ngroups; *ngroups is set to how many).
 */
int ob_task_ids(pid_t pid, pid_t *tgid, gid_t *groups, int *ngroups);
/* The last pid the kernel handed out in our pid namespace; 0: unknown. */
pid_t ob_last_pid(void);
/* /proc, opened on the first call and kept; -errno if it cannot be. */
int ob_proc_dir(void);
/* Who still holds an open file after its opener's close. */
enum ob_hold {
	OB_HOLD_NONE,
	/*
	 * A writable descriptor: its own close (a FLUSH, also at its
	 * process's exit, with how that process ended) comes later.
	 */
	OB_HOLD_FD,
	/*
	 * A shared writable mapping or an io_uring ring, which a kill drops
	 * without any close; or a holder that could not be ruled out.
	 */
	OB_HOLD_SILENT,
};

/*
 * After a close by f's opener (task closer_pid, in state closer), does
 * anybody still hold the open file for writing: another writable
 * descriptor, an io_uring ring or a shared writable mapping of inode ino
 * in the opener's process, or in a process started since the open that
 * descends from it or from its parent (an inherited descriptor or
 * mapping; clone(CLONE_PARENT) makes a sibling)? Mappings are looked for
 * only when maps is true (ob_may_map_shared). Those other processes that
 * hold it silently go into hold.
 */
enum ob_hold ob_still_held(struct outbox *ob, const struct ob_file *f,
			   pid_t closer_pid, const struct ob_exit *closer,
			   ino_t ino, bool maps, struct ob_holders *hold);
/*
 * Can a shared writable mapping of s's file exist? Only through an open
 * file that is readable and writable (mmap wants FMODE_READ, a shared
 * writable one FMODE_WRITE as well), which the kernel keeps, so the
 * daemon keeps its handle, as long as the mapping exists: none of s's
 * handles is O_RDWR, no mapping of it exists anywhere. Its lock held.
 */
bool ob_may_map_shared(const struct ob_inode *s);
/*
 * A descriptor open for writing on inode ino in the table of task tid of
 * process pid (OB_HOLD_FD), or an io_uring instance (OB_HOLD_SILENT).
 */
enum ob_hold ob_fds_hold(pid_t pid, pid_t tid, ino_t ino);
/* ob->fuse_dev from mountinfo, once mounted (ops->init). */
void ob_find_fuse_dev(struct outbox *ob);

#endif
