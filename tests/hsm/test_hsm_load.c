// SPDX-License-Identifier: Apache-2.0
/* The hsm layer: recovery from a vanished token, and threads. */
#include "fixture.h"

static void move_tokens(const struct fx *f, bool away)
{
	char a[200], b[200];

	snprintf(a, sizeof(a), "%s/tokens", f->dir);
	snprintf(b, sizeof(b), "%s/tokens.away", f->dir);
	assert_int_equal(away ? rename(a, b) : rename(b, a), 0);
}

/* Keep signing until it works again; the layer backs off for a while. */
static bool sign_within(struct hsm *h, double seconds, const char *msg)
{
	unsigned char sig[512];
	struct sfs_error err = {0};
	double end = now_s() + seconds;
	size_t siglen;

	do {
		siglen = sizeof(sig);
		if (!sign_once(h, (const unsigned char *)msg, strlen(msg), sig,
			       &siglen, &err))
			return verify(hsm_public_key(h),
				      (const unsigned char *)msg, strlen(msg),
				      sig, siglen);
		usleep(20 * 1000);
	} while (now_s() < end);
	return false;
}

static void test_recovery(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	struct hsm *h = open_ok(&c);
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	struct sfs_error err = {0};

	sign_verify(h, "before");
	move_tokens(f, true);
	assert_int_equal(
	    sign_once(h, (const unsigned char *)"x", 1, sig, &siglen, &err),
	    -1);
	/* Still away: the next begin tries to recover and says why not. */
	memset(&err, 0, sizeof(err));
	siglen = sizeof(sig);
	assert_int_equal(
	    sign_once(h, (const unsigned char *)"x", 1, sig, &siglen, &err),
	    -1);
	assert_int_equal(err.exit, SFS_EXIT_TOKEN);
	assert_true(err.msg[0] != '\0');
	move_tokens(f, false);
	assert_true(sign_within(h, 3.0, "after"));
	sign_verify(h, "and again");
	done(h);
}

enum { THREADS = 8, PER_THREAD = 250 };

struct worker {
	struct hsm *h;
	int id, n;
	atomic_bool *stop; /* NULL: sign n times */
	int ok, failed, bad, ok_after;
	atomic_bool *restored;
	pthread_t t;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	unsigned char msg[64], sig[512];
	struct sfs_error err;
	size_t siglen, len;

	for (int i = 0; w->stop ? !atomic_load(w->stop) : i < w->n; i++) {
		len = (size_t)snprintf((char *)msg, sizeof(msg),
				       "thread %d signature %d", w->id, i);
		siglen = sizeof(sig);
		if (sign_once(w->h, msg, len, sig, &siglen, &err)) {
			w->failed++;
			usleep(1000);
			continue;
		}
		if (!verify(hsm_public_key(w->h), msg, len, sig, siglen))
			w->bad++;
		w->ok++;
		if (w->restored && atomic_load(w->restored))
			w->ok_after++;
	}
	return NULL;
}

/* Sign from n threads; returns signatures per second. */
static double sign_threads(struct hsm *h, int n, int per, int *ok)
{
	struct worker w[THREADS] = {0};
	double t0 = now_s();

	*ok = 0;
	for (int i = 0; i < n; i++) {
		w[i] = (struct worker){.h = h, .id = i, .n = per};
		assert_int_equal(
		    pthread_create(&w[i].t, NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < n; i++) {
		pthread_join(w[i].t, NULL);
		assert_int_equal(w[i].failed, 0);
		assert_int_equal(w[i].bad, 0);
		*ok += w[i].ok;
	}
	return (double)*ok / (now_s() - t0);
}

static void test_threads(void **state)
{
	struct hsm_config c = cfg_of(*state, NULL);
	struct hsm *h = open_ok(&c);
	int ok;
	double r1, r2, r8;

	sign_threads(h, 1, 100, &ok); /* warm-up */
	r1 = sign_threads(h, 1, 2000, &ok);
	assert_int_equal(ok, 2000);
	r2 = sign_threads(h, 2, 1000, &ok);
	assert_int_equal(ok, 2000);
	r8 = sign_threads(h, THREADS, PER_THREAD, &ok);
	assert_int_equal(ok, THREADS * PER_THREAD);
	print_message("EC P-256 signatures/s through hsm_sign_begin/end: "
		      "1 thread %.0f, 2 threads %.0f, 8 threads %.0f\n",
		      r1, r2, r8);
	done(h);
}

/* The token goes away and comes back while four threads keep signing. */
static void test_recovery_under_load(void **state)
{
	struct fx *f = *state;
	struct hsm_config c = cfg_of(f, NULL);
	struct hsm *h = open_ok(&c);
	atomic_bool stop = false, restored = false;
	struct worker w[4] = {0};
	double end;
	bool all;

	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){
		    .h = h, .id = i, .stop = &stop, .restored = &restored};
		assert_int_equal(
		    pthread_create(&w[i].t, NULL, worker_run, &w[i]), 0);
	}
	usleep(50 * 1000);
	move_tokens(f, true);
	usleep(200 * 1000);
	move_tokens(f, false);
	atomic_store(&restored, true);
	end = now_s() + 5.0;
	do {
		usleep(20 * 1000);
		all = true;
		for (int i = 0; i < 4; i++)
			all = all && w[i].ok_after >= 20;
	} while (!all && now_s() < end);
	atomic_store(&stop, true);
	for (int i = 0; i < 4; i++) {
		pthread_join(w[i].t, NULL);
		assert_int_equal(w[i].bad, 0);
		assert_true(w[i].ok_after >= 20);
	}
	/* The outage was seen: some signatures did fail meanwhile. */
	assert_true(w[0].failed + w[1].failed + w[2].failed + w[3].failed > 0);
	done(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	    T(test_recovery),
	    T(test_threads),
	    T(test_recovery_under_load),
#undef T
	};

	return fx_main("hsm-load", tests, ARRAY_SIZE(tests));
}
