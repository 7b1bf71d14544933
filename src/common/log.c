// SPDX-License-Identifier: Apache-2.0
/* The one logging function, with a replaceable sink (libfuse fuse_log.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "signetfs/log.h"

/*
 * journald reads a "<N>" prefix on a stream line as the priority
 * (SyslogLevelPrefix=, on by default): then an error in the journal is
 * an error, not an info line.
 */
static bool stderr_journal;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;

static void journal_check(void)
{
	stderr_journal = sfs_log_stderr_is_journal();
}

static void default_sink(enum sfs_log_level level, const char *fmt, va_list ap)
{
	pthread_once(&journal_once, journal_check);
	if (stderr_journal)
		fprintf(stderr, "<%d>", (int)level);
	fputs("signetfs: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

static sfs_log_sink sink = default_sink;
static enum sfs_log_level max_level = SFS_LOG_NOTICE;

/* The chosen output; lock is a leaf lock, taken only around a write. */
static struct {
	pthread_mutex_t lock;
	int fd;	      /* -1: none, the sink decides */
	bool journal; /* "<N>" prefixes */
	char *path;   /* a log file, reopened when replaced */
	dev_t dev;
	ino_t ino;
} out = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1};

void sfs_log_set_sink(sfs_log_sink s)
{
	sink = s ? s : default_sink;
}

void sfs_log_set_level(enum sfs_log_level max)
{
	max_level = max;
}

/* SIGNETFS_LOG_LEVEL=debug|info: more than notices, e.g. in tests. */
static enum sfs_log_level env_level(void)
{
	static int level = -1;
	const char *e;

	if (level < 0) {
		e = getenv("SIGNETFS_LOG_LEVEL");
		level = !e		      ? 0
			: !strcmp(e, "debug") ? SFS_LOG_DEBUG
			: !strcmp(e, "info")  ? SFS_LOG_INFO
					      : 0;
	}
	return (enum sfs_log_level)level;
}

bool sfs_log_stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	/* "DEV:INO" of the stream; a child whose stderr was redirected
	 * inherits the variable, so the fd itself must match. */
	if (!v || sscanf(v, "%llu:%llu", &dev, &ino) != 2 ||
	    fstat(STDERR_FILENO, &st) < 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

bool sfs_log_syslog_available(void)
{
	static const int types[] = {SOCK_DGRAM, SOCK_STREAM};
	struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "/dev/log"};
	bool ok = false;

	/* What glibc's openlog(3) tries, in its order. */
	for (size_t i = 0; !ok && i < sizeof(types) / sizeof(types[0]); i++) {
		int fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0);

		if (fd < 0)
			continue;
		ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
	}
	return ok;
}

static int open_log(const char *path, struct stat *st)
{
	int fd = open(path,
		      O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY |
			  O_NOFOLLOW | O_NONBLOCK,
		      0640);

	int ret;

	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0)
		ret = -errno;
	else if (!S_ISREG(st->st_mode))
		ret = -EINVAL; /* a FIFO would block the daemon */
	else
		return fd;
	close(fd);
	return ret;
}

static void set_output(int fd, bool journal, char *path, const struct stat *st)
{
	pthread_mutex_lock(&out.lock);
	if (out.fd >= 0)
		close(out.fd);
	free(out.path);
	out.fd = fd;
	out.journal = journal;
	out.path = path;
	out.dev = st ? st->st_dev : 0;
	out.ino = st ? st->st_ino : 0;
	pthread_mutex_unlock(&out.lock);
}

int sfs_log_to_file(const char *path)
{
	struct stat st;
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return -ENOMEM;
	fd = open_log(path, &st);
	if (fd < 0) {
		free(copy);
		return fd;
	}
	set_output(fd, false, copy, &st);
	return 0;
}

int sfs_log_to_fd(int fd, bool journal)
{
	/* Above 2: a detaching daemon points 0-2 at /dev/null. */
	int dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);

	if (dup < 0)
		return -errno;
	set_output(dup, journal, NULL, NULL);
	return 0;
}

/* Rotated away (renamed or removed): write to a new file at the path. */
static void reopen_locked(void)
{
	struct stat st;
	int fd;

	if (!out.path || (stat(out.path, &st) == 0 && st.st_dev == out.dev &&
			  st.st_ino == out.ino))
		return;
	fd = open_log(out.path, &st);
	if (fd < 0)
		return; /* keep writing to the old one */
	close(out.fd);
	out.fd = fd;
	out.dev = st.st_dev;
	out.ino = st.st_ino;
}

static const char *level_name(enum sfs_log_level level)
{
	switch (level) {
	case SFS_LOG_ERR:
		return "error";
	case SFS_LOG_WARNING:
		return "warning";
	case SFS_LOG_NOTICE:
		return "notice";
	case SFS_LOG_INFO:
		return "info";
	default:
		return "debug";
	}
}

/* One write(2) per line: lines of concurrent threads never interleave. */
static void output_locked(enum sfs_log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	int n, m;

	if (out.journal) {
		n = snprintf(line, sizeof(line), "<%d>", (int)level);
	} else {
		reopen_locked();
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n +=
		    snprintf(line + n, sizeof(line) - (size_t)n,
			     ".%03ldZ signetfs[%d]: %s: ", ts.tv_nsec / 1000000,
			     (int)getpid(), level_name(level));
	}
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	n += m > 0 ? m : 0;
	if (n > (int)sizeof(line) - 2)
		n = (int)sizeof(line) - 2; /* cut, but a whole line */
	line[n++] = '\n';
	if (write(out.fd, line, (size_t)n) < 0) {
		/* Nowhere left to say so. */
	}
}

void sfs_vlog(enum sfs_log_level level, const char *fmt, va_list ap)
{
	if (level > max_level && level > env_level())
		return;
	pthread_mutex_lock(&out.lock);
	if (out.fd >= 0) {
		output_locked(level, fmt, ap);
		pthread_mutex_unlock(&out.lock);
	} else {
		pthread_mutex_unlock(&out.lock);
		sink(level, fmt, ap);
	}
}

void sfs_log(enum sfs_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sfs_vlog(level, fmt, ap);
	va_end(ap);
}
