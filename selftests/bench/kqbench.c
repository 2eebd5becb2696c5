// SPDX-License-Identifier: GPL-2.0
/*
 * kqbench: kqueue (/dev/kqueue) against its native Linux equivalent.
 *
 *   kqbench [--smoke] [--reps N]
 *           [--only null,reg,wait,scale,wake,timer,echo,close,proc,mem]
 *           [--null-iters N] [--reg-sizes N,N,..] [--idle-sizes N,N,..]
 *           [--scale-sizes N,N,..]
 *           [--active K,K,..] [--wake-rounds N] [--timers N]
 *           [--timer-ms MS] [--echo-conns M] [--echo-rounds R]
 *           [--close-pipes N] [--close-idle N] [--proc-watches N] [--proc-iters N]
 *           [--mem-fds N]
 *
 * Each benchmark runs the kqueue variant and the native one interleaved,
 * --reps times (5), and reports the medians: one JSON object per line
 * prefixed with "KQBENCH ", then a table. A slow number is never a failure;
 * the exit status is nonzero only if something could not be run at all.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/event.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPS	101
#define MAX_SIZES	8
#define MAX_RESULTS	128

struct sizes {
	int n;
	long v[MAX_SIZES];
};

struct result {
	char name[40];
	char params[160];
	double kq, nat;
	char unit[24];
	char better[8];
};

static struct result results[MAX_RESULTS];
static int nresults;
static int reps = 5;

static void fail(const char *what)
{
	fprintf(stderr, "kqbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
	double s[MAX_REPS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/*
 * params is the inside of a JSON object, e.g. "\"n\":1000"; better is
 * "lower" or "higher" (which way is good for this unit).
 */
static void report(const char *name, const char *params, const double *kq,
		   const double *nat, const char *unit, const char *better)
{
	struct result *r = &results[nresults];
	double k = median(kq, reps), n = median(nat, reps);

	printf("KQBENCH {\"name\":\"%s\",\"params\":{%s},\"kqueue_median\":%.6g,\"native_median\":%.6g,\"unit\":\"%s\",\"ratio\":%.4f,\"better\":\"%s\",\"reps\":%d}\n",
	       name, params, k, n, unit, n > 0 ? k / n : 0.0, better, reps);
	fflush(stdout);
	if (nresults == MAX_RESULTS)
		return;
	nresults++;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->params, sizeof(r->params), "%s", params);
	snprintf(r->unit, sizeof(r->unit), "%s", unit);
	snprintf(r->better, sizeof(r->better), "%s", better);
	r->kq = k;
	r->nat = n;
}

static void print_table(void)
{
	char p[160];
	int i, j, o;

	printf("\n%-20s %-44s %12s %12s %-12s %7s %s\n", "benchmark", "params",
	       "kqueue", "native", "unit", "ratio", "better");
	for (i = 0; i < nresults; i++) {
		struct result *r = &results[i];

		for (j = 0, o = 0; r->params[j] && o < (int)sizeof(p) - 1; j++)
			if (r->params[j] != '"')
				p[o++] = r->params[j];
		p[o] = 0;
		printf("%-20s %-44s %12.4g %12.4g %-12s %7.3f %s\n", r->name, p,
		       r->kq, r->nat, r->unit,
		       r->nat > 0 ? r->kq / r->nat : 0.0, r->better);
	}
	fflush(stdout);
}

static void raise_nofile(long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		fail("getrlimit");
	if ((long)rl.rlim_cur >= need)
		return;
	rl.rlim_cur = need;
	if ((long)rl.rlim_max < need)
		rl.rlim_max = need;
	setrlimit(RLIMIT_NOFILE, &rl);
}

static long nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		fail("getrlimit");
	return rl.rlim_cur;
}

static void set_kevent(struct kevent *ev, uintptr_t ident, short filter,
		       unsigned short flags, unsigned int fflags, int64_t data)
{
	EV_SET(ev, ident, filter, flags, fflags, data, NULL);
}

/* A pool of pipes, grown on demand, shared by the benchmarks. */
static int *pipe_rd, *pipe_wr;
static long npipes;

static int pipes_need(long n)
{
	long i;
	int p[2];

	if (n <= npipes)
		return 0;
	raise_nofile(2 * n + 64);
	if (nofile() < 2 * n + 64) {
		fprintf(stderr, "kqbench: RLIMIT_NOFILE %ld too small for %ld pipes\n",
			nofile(), n);
		return -1;
	}
	pipe_rd = realloc(pipe_rd, n * sizeof(int));
	pipe_wr = realloc(pipe_wr, n * sizeof(int));
	if (!pipe_rd || !pipe_wr)
		fail("realloc");
	for (i = npipes; i < n; i++) {
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC)) {
			fprintf(stderr, "kqbench: pipe2 #%ld: %s\n", i, strerror(errno));
			npipes = i;
			return -1;
		}
		pipe_rd[i] = p[0];
		pipe_wr[i] = p[1];
	}
	npipes = n;
	return 0;
}

/* A changelist: EVFILT_READ with @flags on the read ends of the first @n pipes. */
static struct kevent *pipe_changes(long n, unsigned short flags)
{
	struct kevent *ev = calloc(n, sizeof(*ev));
	long i;

	if (!ev)
		fail("calloc");
	for (i = 0; i < n; i++)
		set_kevent(&ev[i], pipe_rd[i], EVFILT_READ, flags, 0, 0);
	return ev;
}

/* 1. The null call. */

static double null_kq(long iters)
{
	struct timespec zero = { 0, 0 };
	struct kevent ev;
	double t0, t1;
	int kq = kqueue();
	long i;

	if (kq < 0)
		fail("kqueue");
	t0 = now_ns();
	for (i = 0; i < iters; i++)
		if (kevent(kq, NULL, 0, &ev, 1, &zero) != 0)
			fail("kevent null");
	t1 = now_ns();
	close(kq);
	return (t1 - t0) / iters;
}

static double null_epoll(long iters)
{
	struct epoll_event ev;
	double t0, t1;
	int ep = epoll_create1(0);
	long i;

	if (ep < 0)
		fail("epoll_create1");
	t0 = now_ns();
	for (i = 0; i < iters; i++)
		if (epoll_wait(ep, &ev, 1, 0) != 0)
			fail("epoll_wait null");
	t1 = now_ns();
	close(ep);
	return (t1 - t0) / iters;
}

/* The ioctl path alone: an unknown command on the kqueue fails with ENOTTY. */
static double null_ioctl(long iters)
{
	double t0, t1;
	int kq = kqueue();
	long i;

	if (kq < 0)
		fail("kqueue");
	t0 = now_ns();
	for (i = 0; i < iters; i++)
		if (ioctl(kq, 0, NULL) != -1)
			fail("ioctl 0");
	t1 = now_ns();
	close(kq);
	return (t1 - t0) / iters;
}

static double null_getppid(long iters)
{
	double t0, t1;
	long i;

	t0 = now_ns();
	for (i = 0; i < iters; i++)
		if (getppid() < 0)
			fail("getppid");
	t1 = now_ns();
	return (t1 - t0) / iters;
}

static void bench_null(long iters)
{
	double kq[MAX_REPS], ep[MAX_REPS], pp[MAX_REPS], io[MAX_REPS];
	char params[160];
	int r;

	for (r = 0; r < reps; r++) {
		if (r % 2) {
			ep[r] = null_epoll(iters);
			pp[r] = null_getppid(iters);
			io[r] = null_ioctl(iters);
			kq[r] = null_kq(iters);
		} else {
			kq[r] = null_kq(iters);
			ep[r] = null_epoll(iters);
			pp[r] = null_getppid(iters);
			io[r] = null_ioctl(iters);
		}
	}
	snprintf(params, sizeof(params), "\"iters\":%ld,\"native\":\"epoll_wait\"", iters);
	report("null_call", params, kq, ep, "ns/call", "lower");
	snprintf(params, sizeof(params), "\"iters\":%ld,\"native\":\"getppid\"", iters);
	report("null_call_syscall", params, kq, pp, "ns/call", "lower");
	snprintf(params, sizeof(params),
		 "\"iters\":%ld,\"kqueue\":\"ioctl ENOTTY\",\"native\":\"epoll_wait\"", iters);
	report("ioctl_floor", params, io, ep, "ns/call", "lower");
}

/*
 * 2. Registration: add n pipe read ends, modify them (disable, then enable
 * again: EV_DISABLE and EV_ENABLE against epoll_ctl MOD to no events and back),
 * then delete them, each phase timed apart (ns per fd and operation; the
 * modify phase counts both changes of a descriptor as two operations).
 */

struct reg_time {
	double add, mod, del;
};

static void kq_apply(int kq, const struct kevent *ch, long n, long batch, const char *what)
{
	long i, c;

	for (i = 0; i < n; i += batch) {
		c = n - i < batch ? n - i : batch;
		if (kevent(kq, ch + i, c, NULL, 0, NULL) != 0)
			fail(what);
	}
}

static struct reg_time reg_kq(long n, long batch, struct kevent *const ch[4])
{
	struct reg_time t;
	double t0, t1, t2, t3;
	int kq = kqueue();

	if (kq < 0)
		fail("kqueue");
	t0 = now_ns();
	kq_apply(kq, ch[0], n, batch, "kevent EV_ADD");
	t1 = now_ns();
	kq_apply(kq, ch[1], n, batch, "kevent EV_DISABLE");
	kq_apply(kq, ch[2], n, batch, "kevent EV_ENABLE");
	t2 = now_ns();
	kq_apply(kq, ch[3], n, batch, "kevent EV_DELETE");
	t3 = now_ns();
	close(kq);
	t.add = (t1 - t0) / n;
	t.mod = (t2 - t1) / (2 * n);
	t.del = (t3 - t2) / n;
	return t;
}

static struct reg_time reg_epoll(long n)
{
	struct epoll_event ev = { .events = EPOLLIN };
	double t0, t1, t2, t3;
	struct reg_time t;
	long i;
	int ep = epoll_create1(0);

	if (ep < 0)
		fail("epoll_create1");
	t0 = now_ns();
	for (i = 0; i < n; i++) {
		ev.data.fd = pipe_rd[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, pipe_rd[i], &ev))
			fail("epoll_ctl ADD");
	}
	t1 = now_ns();
	for (i = 0; i < n; i++) {
		ev.events = 0;
		ev.data.fd = pipe_rd[i];
		if (epoll_ctl(ep, EPOLL_CTL_MOD, pipe_rd[i], &ev))
			fail("epoll_ctl MOD off");
	}
	for (i = 0; i < n; i++) {
		ev.events = EPOLLIN;
		ev.data.fd = pipe_rd[i];
		if (epoll_ctl(ep, EPOLL_CTL_MOD, pipe_rd[i], &ev))
			fail("epoll_ctl MOD on");
	}
	t2 = now_ns();
	for (i = 0; i < n; i++)
		if (epoll_ctl(ep, EPOLL_CTL_DEL, pipe_rd[i], NULL))
			fail("epoll_ctl DEL");
	t3 = now_ns();
	close(ep);
	t.add = (t1 - t0) / n;
	t.mod = (t2 - t1) / (2 * n);
	t.del = (t3 - t2) / n;
	return t;
}

static void bench_reg(long n)
{
	double one[MAX_REPS], b64[MAX_REPS], ep[MAX_REPS];
	double kadd[MAX_REPS], kmod[MAX_REPS], kdel[MAX_REPS];
	double eadd[MAX_REPS], emod[MAX_REPS], edel[MAX_REPS];
	struct reg_time to, tb, te;
	struct kevent *ch[4];
	char params[160];
	int r;

	if (pipes_need(n)) {
		printf("# reg n=%ld skipped: cannot create %ld pipes\n", n, n);
		return;
	}
	ch[0] = pipe_changes(n, EV_ADD);
	ch[1] = pipe_changes(n, EV_DISABLE);
	ch[2] = pipe_changes(n, EV_ENABLE);
	ch[3] = pipe_changes(n, EV_DELETE);
	for (r = 0; r < reps; r++) {
		if (r % 2) {
			te = reg_epoll(n);
			tb = reg_kq(n, 64, ch);
			to = reg_kq(n, n, ch);
		} else {
			to = reg_kq(n, n, ch);
			tb = reg_kq(n, 64, ch);
			te = reg_epoll(n);
		}
		/* register_*: add plus delete, as before the phases were timed apart. */
		one[r] = to.add + to.del;
		b64[r] = tb.add + tb.del;
		ep[r] = te.add + te.del;
		kadd[r] = to.add;
		kmod[r] = to.mod;
		kdel[r] = to.del;
		eadd[r] = te.add;
		emod[r] = te.mod;
		edel[r] = te.del;
	}
	snprintf(params, sizeof(params), "\"n\":%ld,\"batch\":\"all\"", n);
	report("register_one_call", params, one, ep, "ns/fd", "lower");
	snprintf(params, sizeof(params), "\"n\":%ld,\"batch\":64", n);
	report("register_batch64", params, b64, ep, "ns/fd", "lower");
	snprintf(params, sizeof(params),
		 "\"n\":%ld,\"batch\":\"all\",\"kqueue\":\"EV_ADD\",\"native\":\"epoll_ctl ADD\"", n);
	report("add_one_call", params, kadd, eadd, "ns/fd", "lower");
	snprintf(params, sizeof(params),
		 "\"n\":%ld,\"batch\":\"all\",\"kqueue\":\"EV_DISABLE, EV_ENABLE\","
		 "\"native\":\"epoll_ctl MOD\"", n);
	report("modify_one_call", params, kmod, emod, "ns/change", "lower");
	snprintf(params, sizeof(params),
		 "\"n\":%ld,\"batch\":\"all\",\"kqueue\":\"EV_DELETE\",\"native\":\"epoll_ctl DEL\"", n);
	report("delete_one_call", params, kdel, edel, "ns/fd", "lower");
	for (r = 0; r < 4; r++)
		free(ch[r]);
}

/* 3. Wait with n registered pipes, k of them made readable per round. */

static void poke(long n, long k, long round)
{
	long step = n / k, base = round % step, j;

	for (j = 0; j < k; j++)
		if (write(pipe_wr[base + j * step], "x", 1) != 1)
			fail("write pipe");
}

static void drain(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		fail("read pipe");
}

static double wait_kq(long n, long k, long rounds)
{
	struct kevent *ch, *evs;
	double t0, t1;
	long i, r, got;
	int kq = kqueue(), rc;

	if (kq < 0)
		fail("kqueue");
	ch = calloc(n, sizeof(*ch));
	evs = calloc(k, sizeof(*evs));
	if (!ch || !evs)
		fail("calloc");
	for (i = 0; i < n; i++)
		set_kevent(&ch[i], pipe_rd[i], EVFILT_READ, EV_ADD, 0, 0);
	if (kevent(kq, ch, n, NULL, 0, NULL))
		fail("kevent register");
	t0 = now_ns();
	for (r = 0; r < rounds; r++) {
		poke(n, k, r);
		for (got = 0; got < k; got += rc) {
			rc = kevent(kq, NULL, 0, evs, k, NULL);
			if (rc < 0)
				fail("kevent wait");
			for (i = 0; i < rc; i++)
				drain(evs[i].ident);
		}
	}
	t1 = now_ns();
	close(kq);
	free(ch);
	free(evs);
	return (t1 - t0) / rounds / 1e3;
}

static double wait_epoll(long n, long k, long rounds)
{
	struct epoll_event ev = { .events = EPOLLIN }, *evs;
	double t0, t1;
	long i, r, got;
	int ep = epoll_create1(0), rc;

	if (ep < 0)
		fail("epoll_create1");
	evs = calloc(k, sizeof(*evs));
	if (!evs)
		fail("calloc");
	for (i = 0; i < n; i++) {
		ev.data.fd = pipe_rd[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, pipe_rd[i], &ev))
			fail("epoll_ctl ADD");
	}
	t0 = now_ns();
	for (r = 0; r < rounds; r++) {
		poke(n, k, r);
		for (got = 0; got < k; got += rc) {
			rc = epoll_wait(ep, evs, k, -1);
			if (rc < 0)
				fail("epoll_wait");
			for (i = 0; i < rc; i++)
				drain(evs[i].data.fd);
		}
	}
	t1 = now_ns();
	close(ep);
	free(evs);
	return (t1 - t0) / rounds / 1e3;
}

static void bench_wait(long n, long k, long rounds)
{
	double kq[MAX_REPS], ep[MAX_REPS];
	char params[160];
	int r;

	if (k > n)
		return;
	if (pipes_need(n)) {
		printf("# wait n=%ld skipped: cannot create %ld pipes\n", n, n);
		return;
	}
	for (r = 0; r < reps; r++) {
		if (r % 2) {
			ep[r] = wait_epoll(n, k, rounds);
			kq[r] = wait_kq(n, k, rounds);
		} else {
			kq[r] = wait_kq(n, k, rounds);
			ep[r] = wait_epoll(n, k, rounds);
		}
	}
	snprintf(params, sizeof(params), "\"n\":%ld,\"active\":%ld,\"rounds\":%ld",
		 n, k, rounds);
	report("wait_idle", params, kq, ep, "us/round", "lower");
}

/*
 * 3b. Cost growth: the wait round with one active fd and the registration
 * of N fds in one call, over a range of N (scripts/bench-plot.sh draws them
 * against N on a log scale). Small N repeat the registration until about
 * 10,000 fds have been timed, so that one sample is not a handful of calls.
 */

static double scale_reg_kq(long n, long loops, struct kevent *const ch[4])
{
	struct reg_time t;
	double sum = 0;
	long l;

	for (l = 0; l < loops; l++) {
		t = reg_kq(n, n, ch);
		sum += t.add + t.del;
	}
	return sum / loops;
}

static double scale_reg_epoll(long n, long loops)
{
	double sum = 0;
	long l;

	struct reg_time t;

	for (l = 0; l < loops; l++) {
		t = reg_epoll(n);
		sum += t.add + t.del;
	}
	return sum / loops;
}

static void bench_scale(long n, long rounds)
{
	double kq[MAX_REPS], ep[MAX_REPS];
	struct kevent *ch[4];
	long loops = n < 10000 ? 10000 / n : 1;
	char params[160];
	int r;

	if (pipes_need(n)) {
		printf("# scale n=%ld skipped: cannot create %ld pipes\n", n, n);
		return;
	}
	for (r = 0; r < reps; r++) {
		if (r % 2) {
			ep[r] = wait_epoll(n, 1, rounds);
			kq[r] = wait_kq(n, 1, rounds);
		} else {
			kq[r] = wait_kq(n, 1, rounds);
			ep[r] = wait_epoll(n, 1, rounds);
		}
	}
	snprintf(params, sizeof(params), "\"n\":%ld,\"active\":1,\"rounds\":%ld",
		 n, rounds);
	report("scale_wait", params, kq, ep, "us/round", "lower");

	ch[0] = pipe_changes(n, EV_ADD);
	ch[1] = pipe_changes(n, EV_DISABLE);
	ch[2] = pipe_changes(n, EV_ENABLE);
	ch[3] = pipe_changes(n, EV_DELETE);
	for (r = 0; r < reps; r++) {
		if (r % 2) {
			ep[r] = scale_reg_epoll(n, loops);
			kq[r] = scale_reg_kq(n, loops, ch);
		} else {
			kq[r] = scale_reg_kq(n, loops, ch);
			ep[r] = scale_reg_epoll(n, loops);
		}
	}
	snprintf(params, sizeof(params), "\"n\":%ld,\"batch\":\"all\",\"loops\":%ld",
		 n, loops);
	report("scale_register", params, kq, ep, "ns/fd", "lower");
	for (r = 0; r < 4; r++)
		free(ch[r]);
}

/* 4. Wake-up latency: ping-pong between two threads. */

enum wake_kind { WAKE_KQ_USER, WAKE_KQ_PIPE, WAKE_EP_EVENTFD, WAKE_EP_PIPE };

struct wake {
	enum wake_kind kind;
	long rounds;
	int q[2];	/* the kqueue or epoll fd each side waits on */
	int rd[2];	/* eventfd or pipe read end each side waits for */
	int wr[2];	/* where the other side signals it */
};

static void wake_signal(struct wake *w, int to)
{
	uint64_t one = 1;
	struct kevent ev;

	switch (w->kind) {
	case WAKE_KQ_USER:
		set_kevent(&ev, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0);
		if (kevent(w->q[to], &ev, 1, NULL, 0, NULL))
			fail("kevent NOTE_TRIGGER");
		break;
	case WAKE_EP_EVENTFD:
		if (write(w->wr[to], &one, 8) != 8)
			fail("write eventfd");
		break;
	default:
		if (write(w->wr[to], "x", 1) != 1)
			fail("write pipe");
		break;
	}
}

static void wake_wait(struct wake *w, int me)
{
	struct epoll_event eev;
	struct kevent ev;
	uint64_t v;
	char c;

	switch (w->kind) {
	case WAKE_KQ_USER:
		if (kevent(w->q[me], NULL, 0, &ev, 1, NULL) != 1)
			fail("kevent wait user");
		break;
	case WAKE_KQ_PIPE:
		if (kevent(w->q[me], NULL, 0, &ev, 1, NULL) != 1)
			fail("kevent wait pipe");
		if (read(w->rd[me], &c, 1) != 1)
			fail("read pipe");
		break;
	case WAKE_EP_EVENTFD:
		if (epoll_wait(w->q[me], &eev, 1, -1) != 1)
			fail("epoll_wait eventfd");
		if (read(w->rd[me], &v, 8) != 8)
			fail("read eventfd");
		break;
	case WAKE_EP_PIPE:
		if (epoll_wait(w->q[me], &eev, 1, -1) != 1)
			fail("epoll_wait pipe");
		if (read(w->rd[me], &c, 1) != 1)
			fail("read pipe");
		break;
	}
}

static void *wake_peer(void *arg)
{
	struct wake *w = arg;
	long i;

	for (i = 0; i < w->rounds; i++) {
		wake_wait(w, 1);
		wake_signal(w, 0);
	}
	return NULL;
}

static double wake_run(enum wake_kind kind, long rounds)
{
	struct wake w = { .kind = kind, .rounds = rounds };
	struct epoll_event eev = { .events = EPOLLIN };
	struct kevent ev;
	pthread_t th;
	double t0, t1;
	int s, p[2];
	long i;

	for (s = 0; s < 2; s++) {
		switch (kind) {
		case WAKE_KQ_USER:
			w.q[s] = kqueue();
			w.rd[s] = w.wr[s] = -1;
			set_kevent(&ev, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0);
			break;
		case WAKE_KQ_PIPE:
		case WAKE_EP_PIPE:
			if (pipe2(p, O_CLOEXEC))
				fail("pipe2");
			w.rd[s] = p[0];
			w.wr[s] = p[1];
			w.q[s] = kind == WAKE_KQ_PIPE ? kqueue() : epoll_create1(0);
			set_kevent(&ev, p[0], EVFILT_READ, EV_ADD, 0, 0);
			break;
		case WAKE_EP_EVENTFD:
			w.rd[s] = w.wr[s] = eventfd(0, EFD_CLOEXEC);
			if (w.rd[s] < 0)
				fail("eventfd");
			w.q[s] = epoll_create1(0);
			break;
		}
		if (w.q[s] < 0)
			fail("kqueue/epoll_create1");
		if (kind == WAKE_KQ_USER || kind == WAKE_KQ_PIPE) {
			if (kevent(w.q[s], &ev, 1, NULL, 0, NULL))
				fail("kevent EV_ADD");
		} else if (epoll_ctl(w.q[s], EPOLL_CTL_ADD, w.rd[s], &eev)) {
			fail("epoll_ctl");
		}
	}
	if (pthread_create(&th, NULL, wake_peer, &w))
		fail("pthread_create");
	t0 = now_ns();
	for (i = 0; i < rounds; i++) {
		wake_signal(&w, 1);
		wake_wait(&w, 0);
	}
	t1 = now_ns();
	pthread_join(th, NULL);
	for (s = 0; s < 2; s++) {
		close(w.q[s]);
		if (w.rd[s] >= 0)
			close(w.rd[s]);
		if (w.wr[s] >= 0 && w.wr[s] != w.rd[s])
			close(w.wr[s]);
	}
	return rounds / ((t1 - t0) / 1e9);
}

static void bench_wake(long rounds)
{
	double ku[MAX_REPS], ee[MAX_REPS], kp[MAX_REPS], ep[MAX_REPS];
	char params[160];
	int r;

	for (r = 0; r < reps; r++) {
		if (r % 2) {
			ee[r] = wake_run(WAKE_EP_EVENTFD, rounds);
			ku[r] = wake_run(WAKE_KQ_USER, rounds);
			ep[r] = wake_run(WAKE_EP_PIPE, rounds);
			kp[r] = wake_run(WAKE_KQ_PIPE, rounds);
		} else {
			ku[r] = wake_run(WAKE_KQ_USER, rounds);
			ee[r] = wake_run(WAKE_EP_EVENTFD, rounds);
			kp[r] = wake_run(WAKE_KQ_PIPE, rounds);
			ep[r] = wake_run(WAKE_EP_PIPE, rounds);
		}
	}
	snprintf(params, sizeof(params),
		 "\"rounds\":%ld,\"kqueue\":\"EVFILT_USER\",\"native\":\"eventfd+epoll\"", rounds);
	report("wakeup_user", params, ku, ee, "roundtrips/s", "higher");
	snprintf(params, sizeof(params),
		 "\"rounds\":%ld,\"kqueue\":\"EVFILT_READ\",\"native\":\"epoll\"", rounds);
	report("wakeup_pipe", params, kp, ep, "roundtrips/s", "higher");
}

/* 5. Periodic 1 ms timers for a fixed wall time. */

struct timer_res {
	double events_per_s, cpu_pct, cpu_ns_per_event;
};

#define TIMER_EVS	1024

static struct timer_res timer_kq(long n, long ms)
{
	struct timer_res res;
	struct kevent *ch, evs[TIMER_EVS];
	struct timespec tmo = { 0, 100000000 };
	double t0, c0, t1, c1, end, warm, events = 0;
	int kq = kqueue(), rc, i;
	long j;

	if (kq < 0)
		fail("kqueue");
	ch = calloc(n, sizeof(*ch));
	if (!ch)
		fail("calloc");
	for (j = 0; j < n; j++)
		set_kevent(&ch[j], j + 1, EVFILT_TIMER, EV_ADD, 0, 1);
	if (kevent(kq, ch, n, NULL, 0, NULL))
		fail("kevent EVFILT_TIMER EV_ADD");
	warm = now_ns() + ms * 1e5;
	while (now_ns() < warm)
		if (kevent(kq, NULL, 0, evs, TIMER_EVS, &tmo) < 0)
			fail("kevent timer wait");
	t0 = now_ns();
	c0 = cpu_ns();
	end = t0 + ms * 1e6;
	do {
		rc = kevent(kq, NULL, 0, evs, TIMER_EVS, &tmo);
		if (rc < 0)
			fail("kevent timer wait");
		for (i = 0; i < rc; i++)
			events += evs[i].data;
		t1 = now_ns();
	} while (t1 < end);
	c1 = cpu_ns();
	close(kq);
	free(ch);
	res.events_per_s = events / ((t1 - t0) / 1e9);
	res.cpu_pct = 100 * (c1 - c0) / (t1 - t0);
	res.cpu_ns_per_event = events ? (c1 - c0) / events : 0;
	return res;
}

static struct timer_res timer_epoll(long n, long ms)
{
	struct itimerspec its = { { 0, 1000000 }, { 0, 1000000 } };
	struct epoll_event ev = { .events = EPOLLIN }, evs[TIMER_EVS];
	struct timer_res res;
	double t0, c0, t1, c1, end, warm, events = 0;
	int ep = epoll_create1(0), rc, i, *fds;
	uint64_t v;
	long j;

	if (ep < 0)
		fail("epoll_create1");
	fds = calloc(n, sizeof(*fds));
	if (!fds)
		fail("calloc");
	raise_nofile(2 * npipes + n + 128);
	for (j = 0; j < n; j++) {
		fds[j] = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (fds[j] < 0)
			fail("timerfd_create");
		ev.data.fd = fds[j];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[j], &ev))
			fail("epoll_ctl timerfd");
		if (timerfd_settime(fds[j], 0, &its, NULL))
			fail("timerfd_settime");
	}
	warm = now_ns() + ms * 1e5;
	while (now_ns() < warm) {
		rc = epoll_wait(ep, evs, TIMER_EVS, 100);
		for (i = 0; i < rc; i++)
			if (read(evs[i].data.fd, &v, 8) != 8)
				fail("read timerfd");
	}
	t0 = now_ns();
	c0 = cpu_ns();
	end = t0 + ms * 1e6;
	do {
		rc = epoll_wait(ep, evs, TIMER_EVS, 100);
		if (rc < 0)
			fail("epoll_wait timerfd");
		for (i = 0; i < rc; i++) {
			if (read(evs[i].data.fd, &v, 8) != 8)
				fail("read timerfd");
			events += v;
		}
		t1 = now_ns();
	} while (t1 < end);
	c1 = cpu_ns();
	for (j = 0; j < n; j++)
		close(fds[j]);
	close(ep);
	free(fds);
	res.events_per_s = events / ((t1 - t0) / 1e9);
	res.cpu_pct = 100 * (c1 - c0) / (t1 - t0);
	res.cpu_ns_per_event = events ? (c1 - c0) / events : 0;
	return res;
}

static void bench_timer(long n, long ms)
{
	double ke[MAX_REPS], ee[MAX_REPS], kc[MAX_REPS], ec[MAX_REPS];
	double kn[MAX_REPS], en[MAX_REPS];
	struct timer_res a, b;
	char params[160];
	int r;

	for (r = 0; r < reps; r++) {
		if (r % 2) {
			b = timer_epoll(n, ms);
			a = timer_kq(n, ms);
		} else {
			a = timer_kq(n, ms);
			b = timer_epoll(n, ms);
		}
		ke[r] = a.events_per_s;
		kc[r] = a.cpu_pct;
		kn[r] = a.cpu_ns_per_event;
		ee[r] = b.events_per_s;
		ec[r] = b.cpu_pct;
		en[r] = b.cpu_ns_per_event;
	}
	snprintf(params, sizeof(params),
		 "\"timers\":%ld,\"period_ms\":1,\"wall_ms\":%ld,\"native\":\"timerfd+epoll\"",
		 n, ms);
	report("timer_events", params, ke, ee, "events/s", "higher");
	report("timer_cpu", params, kc, ec, "cpu%", "lower");
	report("timer_cpu_per_event", params, kn, en, "cpu-ns/event", "lower");
}

/* 6. Echo server over loopback TCP: m connections, r rounds of requests. */

#define ECHO_SIZE	64

struct echo {
	int use_kq, m, q;
	int *fds;
};

static void *echo_server(void *arg)
{
	struct echo *e = arg;
	struct epoll_event eevs[256];
	struct kevent kevs[256], ch;
	char buf[4096];
	int live = e->m, rc, i, fd;
	ssize_t len;

	while (live > 0) {
		if (e->use_kq)
			rc = kevent(e->q, NULL, 0, kevs, 256, NULL);
		else
			rc = epoll_wait(e->q, eevs, 256, -1);
		if (rc < 0)
			fail("echo wait");
		for (i = 0; i < rc; i++) {
			fd = e->use_kq ? (int)kevs[i].ident : eevs[i].data.fd;
			len = read(fd, buf, sizeof(buf));
			if (len < 0 && errno == EAGAIN)
				continue;
			if (len > 0) {
				if (write(fd, buf, len) != len)
					fail("echo write");
				continue;
			}
			if (e->use_kq) {
				set_kevent(&ch, fd, EVFILT_READ, EV_DELETE, 0, 0);
				kevent(e->q, &ch, 1, NULL, 0, NULL);
			} else {
				epoll_ctl(e->q, EPOLL_CTL_DEL, fd, NULL);
			}
			close(fd);
			live--;
		}
	}
	return NULL;
}

static void lo_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (s < 0)
		return;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (!ioctl(s, SIOCGIFFLAGS, &ifr) && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr))
			perror("kqbench: SIOCSIFFLAGS lo");
	}
	close(s);
}

static double echo_run(int use_kq, int m, long rounds)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	struct echo e = { .use_kq = use_kq, .m = m };
	struct epoll_event eev = { .events = EPOLLIN };
	struct kevent ch;
	char msg[ECHO_SIZE], buf[ECHO_SIZE];
	int ls, *cl, i, one = 1;
	double t0, t1;
	pthread_t th;
	ssize_t got, rc;
	long r;

	memset(msg, 'q', sizeof(msg));
	cl = calloc(m, sizeof(*cl));
	e.fds = calloc(m, sizeof(*e.fds));
	if (!cl || !e.fds)
		fail("calloc");
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(ls, 4096) || getsockname(ls, (struct sockaddr *)&sa, &sl))
		fail("listen socket");
	e.q = use_kq ? kqueue() : epoll_create1(0);
	if (e.q < 0)
		fail("kqueue/epoll_create1");
	for (i = 0; i < m; i++) {
		cl[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (cl[i] < 0 || connect(cl[i], (struct sockaddr *)&sa, sizeof(sa)))
			fail("connect");
		setsockopt(cl[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		e.fds[i] = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (e.fds[i] < 0)
			fail("accept4");
		setsockopt(e.fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (use_kq) {
			set_kevent(&ch, e.fds[i], EVFILT_READ, EV_ADD, 0, 0);
			if (kevent(e.q, &ch, 1, NULL, 0, NULL))
				fail("kevent EV_ADD socket");
		} else {
			eev.data.fd = e.fds[i];
			if (epoll_ctl(e.q, EPOLL_CTL_ADD, e.fds[i], &eev))
				fail("epoll_ctl socket");
		}
	}
	close(ls);
	if (pthread_create(&th, NULL, echo_server, &e))
		fail("pthread_create");
	t0 = now_ns();
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < m; i++)
			if (write(cl[i], msg, sizeof(msg)) != sizeof(msg))
				fail("client write");
		for (i = 0; i < m; i++)
			for (got = 0; got < ECHO_SIZE; got += rc) {
				rc = read(cl[i], buf, ECHO_SIZE - got);
				if (rc <= 0)
					fail("client read");
			}
	}
	t1 = now_ns();
	for (i = 0; i < m; i++)
		close(cl[i]);
	pthread_join(th, NULL);
	close(e.q);
	free(cl);
	free(e.fds);
	return m * rounds / ((t1 - t0) / 1e9);
}

static void bench_echo(int m, long rounds)
{
	double kq[MAX_REPS], ep[MAX_REPS];
	char params[160];
	int r;

	lo_up();
	raise_nofile(npipes * 2 + 2 * m + 64);
	for (r = 0; r < reps; r++) {
		if (r % 2) {
			ep[r] = echo_run(0, m, rounds);
			kq[r] = echo_run(1, m, rounds);
		} else {
			kq[r] = echo_run(1, m, rounds);
			ep[r] = echo_run(0, m, rounds);
		}
	}
	snprintf(params, sizeof(params), "\"conns\":%d,\"rounds\":%ld,\"size\":%d",
		 m, rounds, ECHO_SIZE);
	report("echo_tcp", params, kq, ep, "requests/s", "higher");
}

/*
 * 7. close() of pipes: n fresh pipes, both ends closed, timed per pipe (their
 * creation and registration are not timed). CLOSE_PLAIN: no kqueue or epoll
 * involved; CLOSE_KQ_IDLE: a kqueue holds @idle idle knotes on the pool's
 * pipes, the closed pipes are not registered; CLOSE_KQ_REG: their read ends
 * are registered (EVFILT_READ) in a kqueue and closed without EV_DELETE;
 * CLOSE_EP_REG: the same with epoll_ctl(EPOLL_CTL_ADD).
 */
enum close_kind { CLOSE_PLAIN, CLOSE_KQ_IDLE, CLOSE_KQ_REG, CLOSE_EP_REG };

static double close_run(enum close_kind kind, long n, long idle)
{
	struct epoll_event eev = { .events = EPOLLIN };
	struct kevent *ch = NULL;
	double t0, t1;
	int *fds, q = -1, p[2];
	long i;

	fds = calloc(2 * n, sizeof(*fds));
	if (!fds)
		fail("calloc");
	for (i = 0; i < n; i++) {
		if (pipe2(p, O_CLOEXEC))
			fail("pipe2");
		fds[2 * i] = p[0];
		fds[2 * i + 1] = p[1];
	}
	if (kind == CLOSE_KQ_IDLE || kind == CLOSE_KQ_REG) {
		long m = kind == CLOSE_KQ_IDLE ? idle : n;

		q = kqueue();
		ch = calloc(m, sizeof(*ch));
		if (q < 0 || !ch)
			fail("kqueue/calloc");
		for (i = 0; i < m; i++)
			set_kevent(&ch[i], kind == CLOSE_KQ_IDLE ? pipe_rd[i] : fds[2 * i],
				   EVFILT_READ, EV_ADD, 0, 0);
		if (kevent(q, ch, m, NULL, 0, NULL))
			fail("kevent EV_ADD");
	} else if (kind == CLOSE_EP_REG) {
		q = epoll_create1(EPOLL_CLOEXEC);
		if (q < 0)
			fail("epoll_create1");
		for (i = 0; i < n; i++) {
			eev.data.fd = fds[2 * i];
			if (epoll_ctl(q, EPOLL_CTL_ADD, fds[2 * i], &eev))
				fail("epoll_ctl ADD");
		}
	}
	t0 = now_ns();
	for (i = 0; i < 2 * n; i++)
		if (close(fds[i]))
			fail("close");
	t1 = now_ns();
	if (q >= 0)
		close(q);
	free(ch);
	free(fds);
	return (t1 - t0) / n;
}

static void bench_close(long n, long idle)
{
	double plain[MAX_REPS], kidle[MAX_REPS], kreg[MAX_REPS], ereg[MAX_REPS];
	char params[160];
	int r;

	if (pipes_need(idle)) {
		printf("# close idle=%ld skipped: cannot create %ld pipes\n", idle, idle);
		return;
	}
	raise_nofile(2 * npipes + 2 * n + 64);
	for (r = 0; r < reps; r++) {
		if (r % 2) {
			ereg[r] = close_run(CLOSE_EP_REG, n, idle);
			kreg[r] = close_run(CLOSE_KQ_REG, n, idle);
			kidle[r] = close_run(CLOSE_KQ_IDLE, n, idle);
			plain[r] = close_run(CLOSE_PLAIN, n, idle);
		} else {
			plain[r] = close_run(CLOSE_PLAIN, n, idle);
			kidle[r] = close_run(CLOSE_KQ_IDLE, n, idle);
			kreg[r] = close_run(CLOSE_KQ_REG, n, idle);
			ereg[r] = close_run(CLOSE_EP_REG, n, idle);
		}
	}
	snprintf(params, sizeof(params),
		 "\"pipes\":%ld,\"kqueue\":\"%ld idle knotes elsewhere\",\"native\":\"no kqueue\"",
		 n, idle);
	report("close_idle_knotes", params, kidle, plain, "ns/pipe", "lower");
	snprintf(params, sizeof(params),
		 "\"pipes\":%ld,\"kqueue\":\"EVFILT_READ, no EV_DELETE\",\"native\":\"epoll_ctl ADD\"",
		 n);
	report("close_registered", params, kreg, ereg, "ns/pipe", "lower");
	snprintf(params, sizeof(params),
		 "\"pipes\":%ld,\"kqueue\":\"EVFILT_READ, no EV_DELETE\",\"native\":\"no kqueue\"",
		 n);
	report("close_registered_vs_plain", params, kreg, plain, "ns/pipe", "lower");
}

/*
 * What EVFILT_PROC and EVFILT_SIGNAL watches cost everybody else: fork+exit+
 * wait, fork+exec+wait and kill() of a process nobody watches, while another
 * process holds @watches watches of its own (signal watches, and proc watches
 * on its own pid), against the same with no watch anywhere (the module's
 * probes are then unregistered). The native column is the module loaded and
 * idle. A probe looks at the bucket of the acting process only, so the two
 * should match whatever @watches is.
 */
enum { PC_FORK, PC_EXEC, PC_KILL };

static double proccost_run(int what, long iters)
{
	double t0 = now_ns();
	long i;

	for (i = 0; i < iters; i++) {
		pid_t pid;

		switch (what) {
		case PC_KILL:
			if (kill(getpid(), SIGUSR2))
				fail("kill");
			continue;
		case PC_FORK:
			pid = fork();
			if (pid == 0)
				_exit(0);
			break;
		default:
			pid = fork();
			if (pid == 0) {
				execl("/bin/true", "true", (char *)NULL);
				_exit(127);
			}
			break;
		}
		if (pid < 0)
			fail("fork");
		if (waitpid(pid, NULL, 0) != pid)
			fail("waitpid");
	}
	return (now_ns() - t0) / iters;
}

/* Child: @watches watches on itself, then waits for the parent to go on. */
static pid_t watcher_start(long watches, int *done_fd)
{
	int ready[2], done[2];
	pid_t pid;
	char c = 0;

	if (pipe(ready) || pipe(done))
		fail("pipe");
	pid = fork();
	if (pid < 0)
		fail("fork");
	if (pid == 0) {
		long n = 0;
		int kq = -1, sig = 0;

		close(ready[0]);
		close(done[1]);
		while (n < watches) {
			struct kevent kev;

			if (sig == 0 || sig > 64) {
				kq = kqueue();
				if (kq < 0)
					break;
				/* One proc watch on itself per kqueue, then signals. */
				EV_SET(&kev, getpid(), EVFILT_PROC, EV_ADD,
				       NOTE_FORK | NOTE_EXEC | NOTE_EXIT, 0, NULL);
				if (kevent(kq, &kev, 1, NULL, 0, NULL) == 0)
					n++;
				sig = 1;
				continue;
			}
			EV_SET(&kev, sig++, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
			if (kevent(kq, &kev, 1, NULL, 0, NULL) == 0)
				n++;
		}
		c = n == watches;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		if (read(done[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(done[0]);
	if (read(ready[0], &c, 1) != 1 || !c) {
		errno = ENOMEM;
		fail("watcher: could not register its watches");
	}
	close(ready[0]);
	*done_fd = done[1];
	return pid;
}

static void bench_proccost(long watches, long iters)
{
	static const char * const names[] = { "fork_exit_wait", "fork_exec_wait", "kill" };
	static const long scale[] = { 1, 4, 100 };
	double idle[3][MAX_REPS], busy[3][MAX_REPS];
	char params[160];
	void (*old)(int sig);
	int r, w, done;
	pid_t pid;

	/* Ignored: generated (and seen by the signal probe), never delivered. */
	old = signal(SIGUSR2, SIG_IGN);
	raise_nofile(watches / 64 + 256);
	for (r = 0; r < reps; r++) {
		/* No watch anywhere: the probes are unregistered after 1 s idle. */
		usleep(1200000);
		for (w = 0; w < 3; w++)
			idle[w][r] = proccost_run(w, w == PC_EXEC ? iters / scale[1] :
						  iters * (w == PC_KILL ? scale[2] : 1));
		pid = watcher_start(watches, &done);
		for (w = 0; w < 3; w++)
			busy[w][r] = proccost_run(w, w == PC_EXEC ? iters / scale[1] :
						  iters * (w == PC_KILL ? scale[2] : 1));
		close(done);
		waitpid(pid, NULL, 0);
	}
	signal(SIGUSR2, old);
	for (w = 0; w < 3; w++) {
		snprintf(params, sizeof(params),
			 "\"kqueue\":\"%ld watches in another process\",\"native\":\"module idle\"",
			 watches);
		report(names[w], params, busy[w], idle[w], "ns/op", "lower");
	}
}

/*
 * Kernel memory per registered descriptor: SUnreclaim from /proc/meminfo
 * before and after registering @n pipe read ends, EVFILT_READ in one
 * kevent() call against @n epoll_ctl ADD (EPOLLIN). The module's knotes are
 * kmalloc()ed (GFP_KERNEL_ACCOUNT) and epoll's epitems and eppoll_entries
 * come from their own caches: all unreclaimable slab (a large kmalloc too),
 * which no page cache, dentry or inode moves. The pipes, the queue and the
 * change list exist before the first reading, so only the registration is
 * counted. Each reading first folds the per-CPU counters (writing to
 * /proc/sys/vm/stat_refresh, as root); the one before is taken once two in a
 * row agree, so that the previous round's objects still waiting for RCU are
 * not freed inside the measurement. Nothing is printed in between: a tty
 * buffer is slab too.
 */
static long sunreclaim_kb(void)
{
	char line[128];
	long kb = -1;
	FILE *f;
	int fd;

	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		/* EINVAL if a counter is negative: it was folded all the same. */
		if (write(fd, "1\n", 2) < 0 && errno != EINVAL)
			fail("stat_refresh");
		close(fd);
	}
	f = fopen("/proc/meminfo", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "SUnreclaim: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static long sunreclaim_settled_kb(void)
{
	long prev = sunreclaim_kb(), kb = prev;
	int i;

	for (i = 0; i < 20; i++) {
		usleep(50000);
		kb = sunreclaim_kb();
		if (kb == prev)
			break;
		prev = kb;
	}
	return kb;
}

static double mem_kq(long n, struct kevent *add)
{
	long before, after;
	int kq = kqueue();

	if (kq < 0)
		fail("kqueue");
	before = sunreclaim_settled_kb();
	if (kevent(kq, add, n, NULL, 0, NULL) != 0)
		fail("kevent EV_ADD");
	after = sunreclaim_kb();
	close(kq);
	return (after - before) * 1024.0 / n;
}

static double mem_epoll(long n)
{
	struct epoll_event ev = { .events = EPOLLIN };
	long before, after, i;
	int ep = epoll_create1(0);

	if (ep < 0)
		fail("epoll_create1");
	before = sunreclaim_settled_kb();
	for (i = 0; i < n; i++) {
		ev.data.fd = pipe_rd[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, pipe_rd[i], &ev))
			fail("epoll_ctl ADD");
	}
	after = sunreclaim_kb();
	close(ep);
	return (after - before) * 1024.0 / n;
}

static void bench_mem(long n)
{
	double kq[MAX_REPS], ep[MAX_REPS], s[MAX_REPS];
	struct kevent *add;
	char params[160];
	int r;

	if (sunreclaim_kb() < 0) {
		printf("# mem skipped: no SUnreclaim in /proc/meminfo\n");
		return;
	}
	if (pipes_need(n)) {
		printf("# mem n=%ld skipped: cannot create %ld pipes\n", n, n);
		return;
	}
	add = pipe_changes(n, EV_ADD);
	for (r = 0; r < reps; r++) {
		if (r % 2) {
			ep[r] = mem_epoll(n);
			kq[r] = mem_kq(n, add);
		} else {
			kq[r] = mem_kq(n, add);
			ep[r] = mem_epoll(n);
		}
	}
	free(add);
	/* The spread, to judge the readings by: min..max over the repetitions. */
	memcpy(s, kq, reps * sizeof(*s));
	qsort(s, reps, sizeof(*s), cmp_double);
	printf("# mem n=%ld: kqueue %.1f..%.1f bytes/fd", n, s[0], s[reps - 1]);
	memcpy(s, ep, reps * sizeof(*s));
	qsort(s, reps, sizeof(*s), cmp_double);
	printf(", epoll %.1f..%.1f bytes/fd\n", s[0], s[reps - 1]);
	snprintf(params, sizeof(params),
		 "\"n\":%ld,\"meminfo\":\"SUnreclaim\",\"kqueue\":\"one kevent()\",\"native\":\"epoll_ctl ADD\"",
		 n);
	report("mem_per_fd", params, kq, ep, "bytes/fd", "lower");
}

/* Command line. */

static void parse_sizes(struct sizes *s, const char *arg)
{
	char *end;

	s->n = 0;
	while (*arg && s->n < MAX_SIZES) {
		s->v[s->n] = strtol(arg, &end, 10);
		if (end == arg || s->v[s->n] <= 0) {
			fprintf(stderr, "kqbench: bad size list\n");
			exit(2);
		}
		s->n++;
		arg = *end == ',' ? end + 1 : end;
	}
}

static int selected(const char *only, const char *name)
{
	const char *p = only;
	size_t l = strlen(name);

	if (!only)
		return 1;
	while ((p = strstr(p, name))) {
		if ((p == only || p[-1] == ',') && (p[l] == 0 || p[l] == ','))
			return 1;
		p += l;
	}
	return 0;
}

static long rounds_for(long k, long budget)
{
	long r = budget / k;

	return r < 20 ? 20 : r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "smoke", no_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ "null-iters", required_argument, NULL, 'n' },
		{ "reg-sizes", required_argument, NULL, 'g' },
		{ "idle-sizes", required_argument, NULL, 'i' },
		{ "scale-sizes", required_argument, NULL, 'S' },
		{ "active", required_argument, NULL, 'a' },
		{ "wait-budget", required_argument, NULL, 'b' },
		{ "wake-rounds", required_argument, NULL, 'w' },
		{ "timers", required_argument, NULL, 't' },
		{ "timer-ms", required_argument, NULL, 'm' },
		{ "echo-conns", required_argument, NULL, 'c' },
		{ "echo-rounds", required_argument, NULL, 'e' },
		{ "close-pipes", required_argument, NULL, 'p' },
		{ "close-idle", required_argument, NULL, 'l' },
		{ "proc-watches", required_argument, NULL, 'W' },
		{ "proc-iters", required_argument, NULL, 'I' },
		{ "mem-fds", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct sizes reg = { 3, { 1000, 10000, 100000 } };
	struct sizes idle = { 3, { 100, 10000, 100000 } };
	struct sizes act = { 2, { 1, 100 } };
	struct sizes scale = { 5, { 10, 100, 1000, 10000, 100000 } };
	long null_iters = 100000, wait_budget = 10000, wake_rounds = 5000;
	long timers = 1000, timer_ms = 1000, echo_rounds = 100;
	long close_pipes = 1000, close_idle = 10000;
	long proc_watches = 8192, proc_iters = 200, mem_fds = 10000;
	int echo_conns = 100, c, i, j, smoke = 0;
	const char *only = NULL;
	double t0 = now_ns();
	struct utsname un;

	/* --smoke first, so that explicit sizes override it. */
	for (i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--smoke"))
			smoke = 1;
	if (smoke) {
		reps = 3;
		null_iters = 2000;
		reg = (struct sizes){ 1, { 500 } };
		idle = (struct sizes){ 2, { 100, 1000 } };
		act = (struct sizes){ 2, { 1, 10 } };
		scale = (struct sizes){ 2, { 10, 100 } };
		wait_budget = 50;
		wake_rounds = 200;
		timers = 100;
		timer_ms = 100;
		echo_conns = 10;
		echo_rounds = 10;
		close_pipes = 100;
		close_idle = 100;
		proc_watches = 256;
		proc_iters = 8;
		mem_fds = 200;
	}
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			break;
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > MAX_REPS)
				reps = 5;
			break;
		case 'o':
			only = optarg;
			break;
		case 'n':
			null_iters = atol(optarg);
			break;
		case 'g':
			parse_sizes(&reg, optarg);
			break;
		case 'i':
			parse_sizes(&idle, optarg);
			break;
		case 'a':
			parse_sizes(&act, optarg);
			break;
		case 'S':
			parse_sizes(&scale, optarg);
			break;
		case 'b':
			wait_budget = atol(optarg);
			break;
		case 'w':
			wake_rounds = atol(optarg);
			break;
		case 't':
			timers = atol(optarg);
			break;
		case 'm':
			timer_ms = atol(optarg);
			break;
		case 'c':
			echo_conns = atoi(optarg);
			break;
		case 'e':
			echo_rounds = atol(optarg);
			break;
		case 'p':
			close_pipes = atol(optarg);
			break;
		case 'l':
			close_idle = atol(optarg);
			break;
		case 'W':
			proc_watches = atol(optarg);
			break;
		case 'I':
			proc_iters = atol(optarg);
			if (proc_iters < 4)
				proc_iters = 4;
			break;
		case 'M':
			mem_fds = atol(optarg);
			break;
		default:
			fprintf(stderr, "usage: kqbench [--smoke] [--reps N] [--only LIST] [SIZE OPTIONS]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (null_iters < 1 || wait_budget < 1 || wake_rounds < 1 || timers < 1 ||
	    timer_ms < 1 || echo_conns < 1 || echo_rounds < 1 || close_pipes < 1 ||
	    close_idle < 1 || mem_fds < 1) {
		fprintf(stderr, "kqbench: sizes must be positive\n");
		return 2;
	}
	c = kqueue();
	if (c < 0)
		fail("kqueue (is kqueue.ko loaded?)");
	close(c);
	if (uname(&un))
		fail("uname");
	printf("# kqbench%s: %d reps, medians, kernel %s\n", smoke ? " --smoke" : "", reps,
	       un.release);
	fflush(stdout);
	if (selected(only, "null"))
		bench_null(null_iters);
	if (selected(only, "reg"))
		for (i = 0; i < reg.n; i++)
			bench_reg(reg.v[i]);
	if (selected(only, "wait"))
		for (j = 0; j < act.n; j++)
			for (i = 0; i < idle.n; i++)
				bench_wait(idle.v[i], act.v[j],
					   rounds_for(act.v[j], wait_budget));
	if (selected(only, "scale"))
		for (i = 0; i < scale.n; i++)
			bench_scale(scale.v[i], rounds_for(1, wait_budget));
	if (selected(only, "wake"))
		bench_wake(wake_rounds);
	if (selected(only, "timer"))
		bench_timer(timers, timer_ms);
	if (selected(only, "echo"))
		bench_echo(echo_conns, echo_rounds);
	if (selected(only, "close"))
		bench_close(close_pipes, close_idle);
	if (selected(only, "proc"))
		bench_proccost(proc_watches, proc_iters);
	if (selected(only, "mem"))
		bench_mem(mem_fds);
	print_table();
	printf("# kqbench: %d results in %.1f s\n", nresults, (now_ns() - t0) / 1e9);
	return nresults ? 0 : 1;
}
