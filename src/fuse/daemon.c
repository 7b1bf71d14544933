// SPDX-License-Identifier: Apache-2.0
/* Daemon start-up, FUSE session and unmount, shared by outbox and inbox. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sfuse.h"
#include "signetfs/log.h"
#include "signetfs/util.h"

/* What the serving process tells the command that started it. */
struct start_status {
	int exit;
	char msg[512];
};

static struct fuse_conn_info_opts *conn_opts;

void sfuse_apply_conn_opts(struct fuse_conn_info *conn)
{
	if (conn_opts)
		fuse_apply_conn_info_opts(conn_opts, conn);
}

/*
 * libfuse's own messages (a failed mount, a read error on /dev/fuse) go
 * where signetfs's go; its debug output (--debug) stays on stderr. While
 * mounting, its errors are kept instead: the one message that says the
 * mount failed carries them (libfuse reports why only this way).
 */
static struct {
	bool on; /* fuse_session_mount() runs: start-up, one thread */
	char last[256];
} mount_log;

static void fuse_log_to_sfs(enum fuse_log_level level, const char *fmt,
			    va_list ap)
{
	size_t n;

	if (mount_log.on && level <= FUSE_LOG_ERR) {
		vsnprintf(mount_log.last, sizeof(mount_log.last), fmt, ap);
		n = strlen(mount_log.last);
		while (n && mount_log.last[n - 1] == '\n')
			mount_log.last[--n] = '\0';
		return;
	}
	if ((int)level > SFS_LOG_NOTICE)
		vfprintf(stderr, fmt, ap);
	else
		sfs_vlog((enum sfs_log_level)level, fmt, ap);
}

/* Mount, or say why not in err: libfuse's last error, or errno's. */
static int mount_session(struct fuse_session *se, const char *mnt,
			 const char *as_given, struct sfs_error *err)
{
	int ret;

	mount_log.on = true;
	mount_log.last[0] = '\0';
	errno = 0;
	ret = fuse_session_mount(se, mnt);
	mount_log.on = false;
	if (ret == 0)
		return 0;
	if (mount_log.last[0])
		sfs_error_set(err, -EIO, SFS_EXIT_USAGE,
			      "cannot mount on %s: %s", as_given,
			      mount_log.last);
	else
		sfs_error_set(err, -EIO, SFS_EXIT_USAGE,
			      "cannot mount on %s: %s", as_given,
			      errno ? strerror(errno)
				    : "libfuse gave no reason");
	return -EIO;
}

static void syslog_sink(enum sfs_log_level level, const char *fmt, va_list ap)
{
	vsyslog((int)level, fmt, ap);
}

/*
 * systemd readiness (sd_notify(3)) without libsystemd: one datagram to
 * $NOTIFY_SOCKET, a path or, with a leading '@', an abstract socket name.
 * Without the variable (not under systemd) this does nothing.
 */
static void notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(
		fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		(socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0)
		sfs_warn("sd_notify %s: %s", state, strerror(errno));
	close(fd);
}

/*
 * SIGHUP is systemd's ExecReload. libfuse's fuse_set_signal_handlers()
 * makes SIGHUP end the session loop, i.e. unmount: a reload must not do
 * that, so the handler only wakes a thread that runs spec->reload.
 */
static int hup_pipe[2] = {-1, -1};
static struct sigaction hup_old;
static pthread_t hup_thread;

static void hup_handler(int sig)
{
	int saved = errno;
	char c = (char)sig;

	if (write(hup_pipe[1], &c, 1) < 0) {
		/* Pipe full: a reload is already pending. */
	}
	errno = saved;
}

static void *hup_main(void *arg)
{
	const struct sfuse_spec *spec = arg;
	char c, msg[64];

	while (read(hup_pipe[0], &c, 1) == 1) {
		struct sfs_error err = {0};

		snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
			 (unsigned long long)sfs_now_us());
		notify(msg);
		if (!spec->reload)
			sfs_info("SIGHUP: nothing to reload");
		else if (spec->reload(spec->userdata, &err) != 0)
			sfs_err("reload failed, keeping the old settings: %s",
				err.msg);
		notify("READY=1");
	}
	return NULL;
}

static int hup_start(const struct sfuse_spec *spec)
{
	struct sigaction sa = {.sa_handler = hup_handler,
			       .sa_flags = SA_RESTART};

	if (pipe2(hup_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	/* The reader blocks; only the handler's end must never block. */
	fcntl(hup_pipe[0], F_SETFL, 0);
	if (pthread_create(&hup_thread, NULL, hup_main, (void *)spec) != 0) {
		close(hup_pipe[0]);
		close(hup_pipe[1]);
		hup_pipe[0] = hup_pipe[1] = -1;
		return -EAGAIN;
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGHUP, &sa, &hup_old);
	return 0;
}

static void hup_stop(void)
{
	if (hup_pipe[1] < 0)
		return;
	sigaction(SIGHUP, &hup_old, NULL);
	close(hup_pipe[1]);
	pthread_join(hup_thread, NULL);
	close(hup_pipe[0]);
	hup_pipe[0] = hup_pipe[1] = -1;
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

static int build_args(const struct sfuse_spec *spec,
		      const struct sfs_mount_args *a, struct fuse_args *args,
		      struct sfs_error *err)
{
	char opts[512];

	snprintf(opts, sizeof(opts), "subtype=%s,fsname=%s%s", spec->subtype,
		 a->backing, spec->read_only ? ",ro" : "");
	if (fuse_opt_add_arg(args, "signetfs") ||
	    fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, opts))
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

/* Mounted and reported ready: serve until unmounted or signalled. */
static int serve_loop(const struct sfuse_spec *spec, struct fuse_session *se)
{
	struct fuse_loop_config *lc;
	int ret;

	if (spec->session)
		*spec->session = se;
	if (hup_start(spec) != 0)
		sfs_warn("cannot handle SIGHUP; it will unmount");
	notify("READY=1");
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
	notify("STOPPING=1");
	hup_stop();
	if (spec->session)
		*spec->session = NULL;
	/* A signal (SIGTERM, SIGINT) ends the loop cleanly: exit 0. */
	return ret < 0 && ret != -EINTR ? SFS_EXIT_TOKEN : SFS_EXIT_OK;
}

/* In the daemon: set up, mount, serve, and one way out for every case. */
static int serve(const struct sfuse_spec *spec, const struct sfs_mount_args *a,
		 int status_fd)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	struct sfs_error err = {0};
	bool set_up = false, handlers = false, mounted = false, ready = false;
	char *mnt_abs = NULL;
	int ret = SFS_EXIT_USAGE;

	if (build_args(spec, a, &args, &err))
		goto out;
	if (spec->setup) {
		if (spec->setup(spec->userdata, &err))
			goto out;
		set_up = true;
	}
	se = fuse_session_new(&args, spec->ops, spec->ops_size, spec->userdata);
	if (!se) {
		sfs_error_set(
		    &err, -EINVAL, SFS_EXIT_USAGE,
		    "cannot create the FUSE session (bad -o option?)");
		goto out;
	}
	handlers = fuse_set_signal_handlers(se) == 0;
	if (!handlers) {
		sfs_error_set(&err, -EIO, SFS_EXIT_USAGE,
			      "cannot set signal handlers");
		goto out;
	}
	/*
	 * Absolute: libfuse unmounts by this path at exit (SIGTERM), after
	 * the daemon has changed to "/"; a relative one would leave the
	 * mount behind, disconnected.
	 */
	mnt_abs = realpath(a->mountpoint, NULL);
	if (!mnt_abs) {
		sfs_error_set(&err, -errno, SFS_EXIT_USAGE, "%s: %s",
			      a->mountpoint, strerror(errno));
		goto out;
	}
	mounted = mount_session(se, mnt_abs, a->mountpoint, &err) == 0;
	if (!mounted)
		goto out;
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
	ready = true;
	ret = serve_loop(spec, se);
out:
	if (mounted)
		fuse_session_unmount(se);
	if (handlers)
		fuse_remove_signal_handlers(se);
	if (se)
		fuse_session_destroy(se);
	if (set_up && spec->teardown && spec->teardown(spec->userdata) &&
	    ret == SFS_EXIT_OK)
		ret = SFS_EXIT_REFUSED;
	fuse_opt_free_args(&args);
	free(conn_opts);
	conn_opts = NULL;
	free(mnt_abs);
	if (!ready) { /* failed before it was: the starter says why */
		if (!err.exit)
			err.exit = SFS_EXIT_USAGE;
		report(status_fd, err.exit, &err);
		ret = err.exit;
	}
	return ret;
}

int sfuse_run(const struct sfuse_spec *spec, const struct sfs_mount_args *a)
{
	int pfd[2];
	pid_t pid;

	fuse_set_log_func(fuse_log_to_sfs);
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
