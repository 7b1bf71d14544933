// SPDX-License-Identifier: Apache-2.0
/* Daemon start-up, FUSE session and unmount, shared by outbox and inbox. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mount.h"
#include "signetfs/log.h"

/* What the serving process tells the command that started it. */
struct start_status {
	int exit;
	char msg[512];
};

static struct fuse_conn_info_opts *conn_opts;

void fsmount_apply_conn_opts(struct fuse_conn_info *conn)
{
	if (conn_opts)
		fuse_apply_conn_info_opts(conn_opts, conn);
}

static void syslog_sink(enum sfs_log_level level, const char *fmt,
			va_list ap)
{
	vsyslog((int)level, fmt, ap);
}

static void report(int fd, int code, const struct sfs_error *err)
{
	struct start_status st = {.exit = code};

	if (fd < 0) {
		if (code && err && err->msg[0])
			fprintf(stderr, "signetfs: %s\n", err->msg);
		return;
	}
	if (err)
		snprintf(st.msg, sizeof(st.msg), "%s", err->msg);
	if (sfs_full_write(fd, &st, sizeof(st)) < 0)
		sfs_err("cannot report start-up status");
	close(fd);
}

/* The starting command: wait for the daemon's verdict and pass it on. */
static int wait_for_daemon(int fd, pid_t pid)
{
	struct start_status st;
	size_t got = 0;

	while (got < sizeof(st)) {
		ssize_t n = read(fd, (char *)&st + got, sizeof(st) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != sizeof(st)) {
		int status = 0;

		waitpid(pid, &status, 0);
		fprintf(stderr, "signetfs: the daemon died during start-up\n");
		return SFS_EXIT_TOKEN;
	}
	if (st.exit != 0) {
		if (st.msg[0])
			fprintf(stderr, "signetfs: %s\n", st.msg);
		waitpid(pid, NULL, 0);
	}
	return st.exit;
}

static void detach_stdio(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return;
	dup2(fd, 0);
	dup2(fd, 1);
	dup2(fd, 2);
	if (fd > 2)
		close(fd);
}

static int build_args(const struct fsmount_spec *spec,
		      const struct sfs_mount_args *a, struct fuse_args *args,
		      struct sfs_error *err)
{
	char opts[512];

	snprintf(opts, sizeof(opts), "subtype=%s,fsname=%s%s", spec->subtype,
		 a->backing, spec->read_only ? ",ro" : "");
	if (fuse_opt_add_arg(args, "signetfs") || fuse_opt_add_arg(args, "-o") ||
	    fuse_opt_add_arg(args, opts))
		goto oom;
	if (a->fuse_opts && *a->fuse_opts &&
	    (fuse_opt_add_arg(args, "-o") ||
	     fuse_opt_add_arg(args, a->fuse_opts)))
		goto oom;
	if (a->debug && fuse_opt_add_arg(args, "-d"))
		goto oom;
	/* fuse_session_new() rejects these; they are applied in init. */
	conn_opts = fuse_parse_conn_info_opts(args);
	if (!conn_opts) {
		sfs_error_set(err, -EINVAL, SFS_EXIT_USAGE,
			      "invalid FUSE options '%s'", a->fuse_opts);
		return -EINVAL;
	}
	return 0;
oom:
	sfs_error_set(err, -ENOMEM, SFS_EXIT_USAGE, "out of memory");
	return -ENOMEM;
}

static int serve(const struct fsmount_spec *spec,
		 const struct sfs_mount_args *a, int status_fd)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_loop_config *lc = NULL;
	struct fuse_session *se = NULL;
	struct sfs_error err = {0};
	bool set_up = false;
	int ret;

	ret = build_args(spec, a, &args, &err);
	if (ret)
		goto fail;
	if (spec->setup) {
		ret = spec->setup(spec->userdata, &err);
		if (ret)
			goto fail;
		set_up = true;
	}
	se = fuse_session_new(&args, spec->ops, spec->ops_size,
			      spec->userdata);
	if (!se) {
		sfs_error_set(&err, -EINVAL, SFS_EXIT_USAGE,
			      "cannot create the FUSE session (bad -o option?)");
		goto fail;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		sfs_error_set(&err, -EIO, SFS_EXIT_USAGE,
			      "cannot set signal handlers");
		goto fail;
	}
	if (fuse_session_mount(se, a->mountpoint) != 0) {
		sfs_error_set(&err, -EIO, SFS_EXIT_USAGE,
			      "cannot mount on %s", a->mountpoint);
		goto fail_handlers;
	}
	if (status_fd >= 0) {
		if (setsid() < 0)
			sfs_warn("setsid: %s", strerror(errno));
		if (chdir("/") < 0)
			sfs_warn("chdir /: %s", strerror(errno));
		openlog("signetfs", LOG_PID, LOG_DAEMON);
		sfs_log_set_sink(syslog_sink);
		detach_stdio();
	}
	report(status_fd, 0, NULL);
	status_fd = -1;

	lc = fuse_loop_cfg_create();
	if (!lc) {
		ret = -ENOMEM;
	} else {
		fuse_loop_cfg_set_clone_fd(lc, 0);
		fuse_loop_cfg_set_max_threads(lc, 16);
		fuse_loop_cfg_set_idle_threads(lc, 4);
		ret = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	if (spec->teardown)
		spec->teardown(spec->userdata);
	fuse_opt_free_args(&args);
	free(conn_opts);
	conn_opts = NULL;
	/* A signal (SIGTERM, SIGINT) ends the loop cleanly: exit 0. */
	return ret < 0 && ret != -EINTR ? SFS_EXIT_TOKEN : SFS_EXIT_OK;

fail_handlers:
	fuse_remove_signal_handlers(se);
fail:
	if (se)
		fuse_session_destroy(se);
	if (set_up && spec->teardown)
		spec->teardown(spec->userdata);
	fuse_opt_free_args(&args);
	free(conn_opts);
	conn_opts = NULL;
	if (!err.exit)
		err.exit = SFS_EXIT_USAGE;
	report(status_fd, err.exit, &err);
	return err.exit;
}

int fsmount_run(const struct fsmount_spec *spec,
		const struct sfs_mount_args *a)
{
	int pfd[2];
	pid_t pid;

	if (a->foreground)
		return serve(spec, a, -1);
	/*
	 * Fork before anything touches PKCS#11: a module must be initialised
	 * again in a child, so the HSM login happens in the serving process,
	 * which reports success or the error through the pipe.
	 */
	if (pipe2(pfd, O_CLOEXEC) < 0) {
		perror("signetfs: pipe");
		return SFS_EXIT_USAGE;
	}
	pid = fork();
	if (pid < 0) {
		perror("signetfs: fork");
		return SFS_EXIT_USAGE;
	}
	if (pid > 0) {
		close(pfd[1]);
		return wait_for_daemon(pfd[0], pid);
	}
	close(pfd[0]);
	_exit(serve(spec, a, pfd[1]));
}
