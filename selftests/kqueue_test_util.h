/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kqueue selftests: clocks, a kevent() wrapper with a
 * timeout in milliseconds, one-change helpers, and threads that trigger an
 * event later or wait in kevent().
 *
 * Helpers never assert: they return values for the test to check, so that a
 * failure is reported at the line of the test that observed it.
 */
#ifndef KQUEUE_TEST_UTIL_H
#define KQUEUE_TEST_UTIL_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/event.h>
#include <sys/wait.h>

/* Arbitrary distinct pointers for udata checks. */
/*
 * The harness's 30 s per test is too short for tests doing real work under
 * TCG on a KASAN kernel on a loaded host; a hang still fails, later. Tests
 * must not depend on wall-clock time beyond "eventually" either way.
 */
#ifdef TEST_TIMEOUT_DEFAULT
#undef TEST_TIMEOUT_DEFAULT
#define TEST_TIMEOUT_DEFAULT 300
#endif

#define UDATA(n)	((void *)(uintptr_t)(0x5eed0000u + (n)))

static inline int64_t ts_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in nanoseconds and milliseconds. */
static inline int64_t now_ns(void)
{
	return ts_ns(CLOCK_MONOTONIC);
}

static inline int64_t now_ms(void)
{
	return now_ns() / 1000000;
}

/* Milliseconds elapsed since @start_ns (CLOCK_MONOTONIC nanoseconds). */
static inline int64_t elapsed_ms(int64_t start_ns)
{
	return (now_ns() - start_ns) / 1000000;
}

/* Sleep at least @ms milliseconds, whatever signals arrive. */
static inline void sleep_ms(long ms)
{
	struct timespec ts = {
		.tv_sec = ms / 1000,
		.tv_nsec = (ms % 1000) * 1000000,
	};

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * kevent() with a timeout in milliseconds: 0 polls, a negative value waits
 * forever (NULL timeout).
 */
static inline int kev_wait(int kq, const struct kevent *changes, int nchanges,
			   struct kevent *events, int nevents, long timeout_ms)
{
	struct timespec ts = {
		.tv_sec = timeout_ms / 1000,
		.tv_nsec = (timeout_ms % 1000) * 1000000,
	};

	return kevent(kq, changes, nchanges, events, nevents,
		      timeout_ms < 0 ? NULL : &ts);
}

/* Collect pending events without waiting. */
static inline int kev_poll(int kq, struct kevent *events, int nevents)
{
	return kev_wait(kq, NULL, 0, events, nevents, 0);
}

/*
 * Apply one change without collecting anything. Returns 0, or the errno of
 * the failed call (the change's error: there is no room for an entry).
 */
static inline int kq_change(int kq, uintptr_t ident, short filter,
			    unsigned short flags, unsigned int fflags,
			    int64_t data, void *udata)
{
	struct kevent kev;

	EV_SET(&kev, ident, filter, flags, fflags, data, udata);
	if (kevent(kq, &kev, 1, NULL, 0, NULL) == -1)
		return errno;
	return 0;
}

/*
 * Apply one change with EV_RECEIPT and return the data of its EV_ERROR entry
 * (0 on success, else the errno of the change); -1000 - n if kevent()
 * returned n != 1 entries, -2000 if the entry is not a proper receipt.
 */
static inline int kq_receipt(int kq, uintptr_t ident, short filter,
			     unsigned short flags, unsigned int fflags,
			     int64_t data, void *udata)
{
	struct kevent kev, out;
	int n;

	EV_SET(&kev, ident, filter, flags | EV_RECEIPT, fflags, data, udata);
	memset(&out, 0, sizeof(out));
	n = kevent(kq, &kev, 1, &out, 1, NULL);
	if (n != 1)
		return -1000 - (n < 0 ? errno : n);
	if (out.flags != EV_ERROR || out.ident != ident || out.filter != filter)
		return -2000;
	return (int)out.data;
}

/* EVFILT_USER shorthands; each returns 0 or an errno like kq_change(). */
static inline int kq_user_add(int kq, uintptr_t ident, unsigned short flags)
{
	return kq_change(kq, ident, EVFILT_USER, EV_ADD | flags, 0, 0, NULL);
}

static inline int kq_user_trigger(int kq, uintptr_t ident)
{
	return kq_change(kq, ident, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
}

static inline int kq_user_delete(int kq, uintptr_t ident)
{
	return kq_change(kq, ident, EVFILT_USER, EV_DELETE, 0, 0, NULL);
}

static inline int kq_timer_del(int kq, uintptr_t ident)
{
	return kq_change(kq, ident, EVFILT_TIMER, EV_DELETE, 0, 0, NULL);
}

/* Index of the event (@ident, @filter) in @events[0..n), or -1. */
static inline int find_event(const struct kevent *events, int n,
			     uintptr_t ident, short filter)
{
	int i;

	for (i = 0; i < n; i++)
		if (events[i].ident == ident && events[i].filter == filter)
			return i;
	return -1;
}

/* A thread that triggers the user event @ident after @delay_ms. */
struct delayed_trigger {
	pthread_t thread;
	int kq;
	uintptr_t ident;
	long delay_ms;
	int err;		/* what kq_user_trigger() returned */
};

static inline void *delayed_trigger_fn(void *arg)
{
	struct delayed_trigger *d = arg;

	sleep_ms(d->delay_ms);
	d->err = kq_user_trigger(d->kq, d->ident);
	return NULL;
}

static inline int delayed_trigger_start(struct delayed_trigger *d, int kq,
					uintptr_t ident, long delay_ms)
{
	d->kq = kq;
	d->ident = ident;
	d->delay_ms = delay_ms;
	d->err = -1;
	return pthread_create(&d->thread, NULL, delayed_trigger_fn, d);
}

/* Join the thread; returns what its kq_user_trigger() returned. */
static inline int delayed_trigger_join(struct delayed_trigger *d)
{
	pthread_join(d->thread, NULL);
	return d->err;
}

/* A thread blocked in kevent() on @kq, collecting at most one event. */
struct waiter {
	pthread_t thread;
	int kq;
	long timeout_ms;	/* negative: NULL timeout */
	int started;		/* set just before kevent() */
	int done;		/* set when kevent() returned */
	int ret;
	int err;
	int64_t start_ns;
	int64_t end_ns;
	struct kevent ev;
};

static inline void *waiter_fn(void *arg)
{
	struct waiter *w = arg;
	int ret;

	w->start_ns = now_ns();
	__atomic_store_n(&w->started, 1, __ATOMIC_SEQ_CST);
	ret = kev_wait(w->kq, NULL, 0, &w->ev, 1, w->timeout_ms);
	w->err = ret < 0 ? errno : 0;
	w->ret = ret;
	w->end_ns = now_ns();
	__atomic_store_n(&w->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/*
 * Start a waiter and give it @settle_ms to block in kevent() before
 * returning.
 */
static inline int waiter_start(struct waiter *w, int kq, long timeout_ms,
			       long settle_ms)
{
	int ret;

	memset(w, 0, sizeof(*w));
	w->kq = kq;
	w->timeout_ms = timeout_ms;
	w->ret = -2;
	ret = pthread_create(&w->thread, NULL, waiter_fn, w);
	if (ret)
		return ret;
	while (!__atomic_load_n(&w->started, __ATOMIC_SEQ_CST))
		sched_yield();
	sleep_ms(settle_ms);
	return 0;
}

static inline bool waiter_done(struct waiter *w)
{
	return __atomic_load_n(&w->done, __ATOMIC_SEQ_CST);
}

/*
 * Wait up to @ms for the waiter to return from kevent(); returns whether it
 * did (and then joins it). A waiter that stays blocked is left running: the
 * test process exits soon anyway.
 */
static inline bool waiter_wait(struct waiter *w, long ms)
{
	int64_t deadline = now_ms() + ms;

	while (!waiter_done(w)) {
		if (now_ms() >= deadline)
			return false;
		sleep_ms(5);
	}
	pthread_join(w->thread, NULL);
	return true;
}

/* Milliseconds the waiter spent in kevent(). */
static inline int64_t waiter_blocked_ms(const struct waiter *w)
{
	return (w->end_ns - w->start_ns) / 1000000;
}

/*
 * Wait up to @ms for @pid; returns its wait status, or -1 after killing it
 * if it did not exit in time.
 */
static inline int wait_child(pid_t pid, long ms)
{
	int64_t deadline = now_ms() + ms;
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		if (now_ms() >= deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		sleep_ms(5);
	}
}

/* Descriptor filters (EVFILT_READ, EVFILT_WRITE, EVFILT_EMPTY). */

#include <fcntl.h>

/* EV_ADD a knote on descriptor @fd; returns 0 or an errno like kq_change(). */
static inline int kq_fd_add(int kq, int fd, short filter, unsigned short flags,
			    unsigned int fflags, int64_t data)
{
	return kq_change(kq, (uintptr_t)fd, filter, EV_ADD | flags, fflags, data,
			 NULL);
}

/*
 * Wait up to @timeout_ms for an event of the knote (@ident, @filter) and copy
 * it to @out. Events of other knotes collected meanwhile are discarded.
 * Returns 1 if it came, 0 if not, -1 if kevent() failed (errno is set).
 */
static inline int kev_wait_for(int kq, uintptr_t ident, short filter,
			       struct kevent *out, long timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	struct kevent evs[16];
	int i, n;

	for (;;) {
		long left = (long)(deadline - now_ms());

		if (left < 0)
			left = 0;
		n = kev_wait(kq, NULL, 0, evs, 16, left);
		if (n < 0)
			return -1;
		i = find_event(evs, n, ident, filter);
		if (i >= 0) {
			*out = evs[i];
			return 1;
		}
		if (left == 0)
			return 0;
		if (n > 0)
			sleep_ms(1);
	}
}

/*
 * Collect without waiting into room for 8 events; returns the count (or -1)
 * and copies the first event to @ev.
 */
static inline int kev_poll_one(int kq, struct kevent *ev)
{
	struct kevent evs[8];
	int n;

	n = kev_poll(kq, evs, 8);
	if (n > 0)
		*ev = evs[0];
	return n;
}

/* Set O_NONBLOCK on @fd; returns 0 or errno. */
static inline int fd_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl == -1 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return errno;
	return 0;
}

#endif /* KQUEUE_TEST_UTIL_H */
