// SPDX-License-Identifier: Apache-2.0
/* A one-line progress display for sign/verify on a terminal. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* Redraws at most this often: a terminal can't show more, and each costs. */
#define REDRAW_NS 100000000LL

struct cli_progress {
	pthread_mutex_t lock;
	const char *verb;
	size_t files_total, files_done;
	uint64_t bytes_total, bytes_done;
	long long start_ns, drawn_ns;
	int width; /* of the last line drawn, to blank it */
};

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void human(char *buf, size_t size, double bytes)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (bytes >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

static void duration(char *buf, size_t size, double secs)
{
	long s = (long)(secs + 0.5);

	if (s >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60,
			 s % 60);
	else
		snprintf(buf, size, "%ld:%02ld", s / 60, s % 60);
}

/* Caller holds p->lock. */
static void draw_locked(struct cli_progress *p, long long now)
{
	double secs = (double)(now - p->start_ns) / 1e9;
	double rate = secs > 0 ? (double)p->bytes_done / secs : 0;
	char done[32], total[32], speed[32], eta[32] = "--:--";
	int w;

	human(done, sizeof(done), (double)p->bytes_done);
	human(total, sizeof(total), (double)p->bytes_total);
	human(speed, sizeof(speed), rate);
	/*
	 * Per-file cost (HSM, .sig write) dominates small files, bytes big
	 * ones: the slower of the two estimates is the honest one.
	 */
	if (rate > 0 && p->files_done > 0) {
		double by_bytes =
		    (double)(p->bytes_total - p->bytes_done) / rate;
		double by_files = (double)(p->files_total - p->files_done) *
				  secs / (double)p->files_done;

		duration(eta, sizeof(eta),
			 by_bytes > by_files ? by_bytes : by_files);
	}
	w = fprintf(stderr, "\r%s: %zu/%zu files, %s/%s, %s/s, ETA %s", p->verb,
		    p->files_done, p->files_total, done, total, speed, eta);
	/* Blank what a longer previous line left behind. */
	if (w > 0 && w < p->width)
		fprintf(stderr, "%*s", p->width - w, "");
	if (w > p->width)
		p->width = w;
	fflush(stderr);
	p->drawn_ns = now;
}

struct cli_progress *cli_progress_new(const char *verb, size_t files,
				      uint64_t bytes)
{
	struct cli_progress *p;

	/* Plain output when stderr is a file or a pipe (CI logs). */
	if (!isatty(STDERR_FILENO))
		return NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	pthread_mutex_init(&p->lock, NULL);
	p->verb = verb;
	p->files_total = files;
	p->bytes_total = bytes;
	p->start_ns = now_ns();
	pthread_mutex_lock(&p->lock);
	draw_locked(p, p->start_ns);
	pthread_mutex_unlock(&p->lock);
	return p;
}

void cli_progress_add(struct cli_progress *p, uint64_t bytes)
{
	long long now;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->files_done++;
	p->bytes_done += bytes;
	if (p->bytes_done > p->bytes_total)
		p->bytes_total = p->bytes_done; /* a file grew meanwhile */
	if (p->files_done > p->files_total)
		p->files_total = p->files_done;
	now = now_ns();
	if (now - p->drawn_ns >= REDRAW_NS)
		draw_locked(p, now);
	pthread_mutex_unlock(&p->lock);
}

void cli_progress_end(struct cli_progress *p)
{
	long long now;
	double secs;
	char bytes[32], speed[32];

	if (!p)
		return;
	now = now_ns();
	secs = (double)(now - p->start_ns) / 1e9;
	human(bytes, sizeof(bytes), (double)p->bytes_done);
	human(speed, sizeof(speed), secs > 0 ? p->bytes_done / secs : 0);
	fprintf(stderr, "\r%-*s\r%s: %zu files, %s in %.1f s (%s/s)\n",
		p->width, "", p->verb, p->files_done, bytes, secs, speed);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
