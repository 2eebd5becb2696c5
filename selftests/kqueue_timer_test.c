// SPDX-License-Identifier: GPL-2.0
/*
 * EVFILT_TIMER: units, validation, periodic counting with overruns,
 * EV_ONESHOT, NOTE_ABSTIME, re-adding, EV_DISABLE/EV_DISPATCH, ordering and
 * the per-user limit (module parameter max_user_timers).
 *
 * Timing checks are written for a slow, loaded TCG guest: a timer never
 * fires early, so lower bounds are exact; upper bounds are generous, and
 * expiration counts are checked against the time actually measured.
 * doc/semantics.md is the contract.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sys/prctl.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

#define HOUR_S	3600

static int timer_add(int kq, uintptr_t ident, unsigned short flags,
		     unsigned int fflags, int64_t data)
{
	return kq_change(kq, ident, EVFILT_TIMER, EV_ADD | flags, fflags, data,
			 UDATA(ident));
}

/*
 * Bounds on the expirations of a timer with period @period_ms counted
 * between its start and a collection: the timer was started between
 * @add0 and @add1 and collected between @col0 and @col1 (CLOCK_MONOTONIC
 * nanoseconds). A timer never expires early, so the upper bound is exact;
 * the lower bound allows for two expirations whose timer callback has not
 * run yet when the guest is slow.
 */
static int64_t min_expirations(int64_t add1, int64_t col0, int64_t period_ms)
{
	int64_t n = (col0 - add1) / (period_ms * 1000000) - 2;

	return n < 0 ? 0 : n;
}

static int64_t max_expirations(int64_t add0, int64_t col1, int64_t period_ms)
{
	return (col1 - add0) / (period_ms * 1000000);
}

/* max_user_timers of the loaded module, as KQUEUE_IOC_FEATURES reports it. */
static long timer_limit(void)
{
	struct kqueue_features f;

	if (kqueue_features(&f) || !f.max_user_timers)
		return -1;
	return f.max_user_timers;
}

FIXTURE(timer) {
	int kq;
};

FIXTURE_SETUP(timer)
{
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(timer)
{
	if (self->kq >= 0)
		close(self->kq);
}

/* Units: each variant is a 1 s or 300 ms one-shot timer. */

FIXTURE(timer_unit) {
	int kq;
};

FIXTURE_VARIANT(timer_unit) {
	unsigned int fflags;
	int64_t data;
	int64_t period_ms;
};

FIXTURE_VARIANT_ADD(timer_unit, seconds) {
	.fflags = NOTE_SECONDS, .data = 1, .period_ms = 1000,
};

FIXTURE_VARIANT_ADD(timer_unit, mseconds) {
	.fflags = NOTE_MSECONDS, .data = 300, .period_ms = 300,
};

FIXTURE_VARIANT_ADD(timer_unit, default_mseconds) {
	.fflags = 0, .data = 300, .period_ms = 300,
};

FIXTURE_VARIANT_ADD(timer_unit, useconds) {
	.fflags = NOTE_USECONDS, .data = 300000, .period_ms = 300,
};

FIXTURE_VARIANT_ADD(timer_unit, nseconds) {
	.fflags = NOTE_NSECONDS, .data = 300000000, .period_ms = 300,
};

FIXTURE_SETUP(timer_unit)
{
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(timer_unit)
{
	close(self->kq);
}

TEST_F(timer_unit, fires_after_period)
{
	int64_t period_ns = variant->period_ms * 1000000;
	struct kevent ev;
	int64_t t0, t;
	int ret;

	t0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 1, EV_ONESHOT, variant->fflags, variant->data));

	/* An early look finds nothing, unless the guest stalled past the period. */
	ret = kev_wait(self->kq, NULL, 0, &ev, 1, variant->period_ms / 5);
	t = now_ns() - t0;
	if (ret == 1) {
		EXPECT_GE(t, period_ns)
			TH_LOG("fired after %lld ms", (long long)t / 1000000);
	} else {
		EXPECT_EQ(0, ret);
	}

	if (ret == 0)
		ret = kev_wait(self->kq, NULL, 0, &ev, 1, 3 * variant->period_ms + 3000);
	t = now_ns() - t0;
	ASSERT_EQ(1, ret) TH_LOG("no expiration after %lld ms", (long long)t / 1000000);
	EXPECT_GE(t, period_ns) TH_LOG("fired after %lld ms", (long long)t / 1000000);
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	EXPECT_EQ(EV_ONESHOT | EV_CLEAR, ev.flags);
	EXPECT_EQ(1, ev.data);
	EXPECT_EQ(UDATA(1), ev.udata);
}

/* Validation. */

TEST_F(timer, invalid_fflags_einval)
{
	static const unsigned int bad[] = {
		NOTE_SECONDS | NOTE_MSECONDS, NOTE_SECONDS | NOTE_USECONDS,
		NOTE_SECONDS | NOTE_NSECONDS, NOTE_MSECONDS | NOTE_USECONDS,
		NOTE_MSECONDS | NOTE_NSECONDS, NOTE_USECONDS | NOTE_NSECONDS,
		NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS,
		NOTE_ABSTIME | NOTE_SECONDS | NOTE_NSECONDS,
		0x20, 0x40, 0x100, 0x8000, NOTE_TRIGGER, 0x80000000u,
		NOTE_MSECONDS | 0x20,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(EINVAL, timer_add(self->kq, 1, 0, bad[i], 1000))
			TH_LOG("fflags %#x", bad[i]);
		EXPECT_EQ(EINVAL, kq_receipt(self->kq, 1, EVFILT_TIMER, EV_ADD, bad[i],
					     1000, NULL))
			TH_LOG("fflags %#x", bad[i]);
		EXPECT_EQ(ENOENT, kq_timer_del(self->kq, 1));
	}
}

TEST_F(timer, negative_data_einval)
{
	static const int64_t bad[] = { -1, -1000, INT64_MIN };
	static const unsigned int units[] = {
		0, NOTE_SECONDS, NOTE_USECONDS, NOTE_NSECONDS, NOTE_ABSTIME,
	};
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		for (j = 0; j < ARRAY_SIZE(units); j++) {
			EXPECT_EQ(EINVAL, timer_add(self->kq, 1, 0, units[j], bad[i]))
				TH_LOG("data %lld fflags %#x", (long long)bad[i], units[j]);
			EXPECT_EQ(EINVAL, timer_add(self->kq, 1, EV_ONESHOT, units[j],
						    bad[i]));
		}
	}
	EXPECT_EQ(ENOENT, kq_timer_del(self->kq, 1));
}

TEST_F(timer, zero_period)
{
	struct kevent ev;
	int64_t t0, add1, col0;

	/* EV_ONESHOT with 0 fires at once. */
	t0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 1, EV_ONESHOT, 0, 0));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	EXPECT_LT(elapsed_ms(t0), 1000);
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(1, ev.data);
	EXPECT_EQ(ENOENT, kq_timer_del(self->kq, 1));

	/* Periodic 0 ms is 1 ms: many expirations in 100 ms. */
	ASSERT_EQ(0, timer_add(self->kq, 2, 0, NOTE_MSECONDS, 0));
	add1 = now_ns();
	sleep_ms(100);
	col0 = now_ns();
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(2u, ev.ident);
	EXPECT_GE(ev.data, 20) TH_LOG("%lld expirations in %lld ms", (long long)ev.data,
				      (long long)(col0 - add1) / 1000000);
	EXPECT_EQ(0, kq_timer_del(self->kq, 2));
}

TEST_F(timer, huge_period_clamped)
{
	static const unsigned int units[] = {
		NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS, NOTE_NSECONDS,
	};
	struct kevent ev[4];
	unsigned int i;
	int ret;

	for (i = 0; i < 4; i++) {
		EXPECT_EQ(0, timer_add(self->kq, i, 0, units[i], INT64_MAX))
			TH_LOG("fflags %#x", units[i]);
	}
	/* None overflowed into a short period. */
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, ev, 4, 200));
	for (i = 0; i < 4; i++) {
		ret = kq_timer_del(self->kq, i);
		EXPECT_EQ(0, ret);
	}
}

/* Periodic counting. */

TEST_F(timer, periodic_count)
{
	int64_t add0, add1, col0, col1;
	struct kevent ev;

	add0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 5, 0, 0, 100));
	add1 = now_ns();
	sleep_ms(550);
	col0 = now_ns();
	memset(&ev, 0, sizeof(ev));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	col1 = now_ns();

	EXPECT_EQ(5u, ev.ident);
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	/* EV_CLEAR is set automatically and shows in the output. */
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(UDATA(5), ev.udata);
	EXPECT_GE(ev.data, 3);
	EXPECT_GE(ev.data, min_expirations(add1, col0, 100));
	EXPECT_LE(ev.data, max_expirations(add0, col1, 100))
		TH_LOG("%lld expirations in %lld ms", (long long)ev.data,
		       (long long)(col1 - add0) / 1000000);
}

TEST_F(timer, overruns_not_lost)
{
	static const int sleeps[] = { 0, 130, 20, 260, 70, 0, 160 };
	int64_t add0, add1, col0 = 0, col1 = 0, prev1, sum = 0;
	struct kevent ev;
	unsigned int i;

	add0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 1, 0, NOTE_MSECONDS, 50));
	add1 = now_ns();
	prev1 = add1;
	for (i = 0; i < ARRAY_SIZE(sleeps); i++) {
		sleep_ms(sleeps[i]);
		col0 = now_ns();
		ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 2000));
		col1 = now_ns();
		EXPECT_GE(ev.data, 1);
		/* Each report counts what expired since the previous one. */
		EXPECT_GE(ev.data, min_expirations(prev1, col0, 50))
			TH_LOG("step %u: %lld after %lld ms", i, (long long)ev.data,
			       (long long)(col0 - prev1) / 1000000);
		sum += ev.data;
		prev1 = col1;
	}
	EXPECT_GE(sum, min_expirations(add1, col0, 50));
	EXPECT_LE(sum, max_expirations(add0, col1, 50))
		TH_LOG("%lld expirations in %lld ms", (long long)sum,
		       (long long)(col1 - add0) / 1000000);
}

TEST_F(timer, oneshot)
{
	struct kevent ev;
	int64_t t0;

	t0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 9, EV_ONESHOT, 0, 50));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	EXPECT_GE(now_ns() - t0, 50000000);
	EXPECT_EQ(9u, ev.ident);
	EXPECT_EQ(EV_ONESHOT | EV_CLEAR, ev.flags);
	EXPECT_EQ(1, ev.data);
	/* Fired once, then gone. */
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 250));
	EXPECT_EQ(ENOENT, kq_timer_del(self->kq, 9));
}

TEST_F(timer, delete_stops)
{
	struct kevent ev;

	ASSERT_EQ(0, timer_add(self->kq, 1, 0, 0, 50));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	EXPECT_EQ(0, kq_timer_del(self->kq, 1));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 250));
	EXPECT_EQ(ENOENT, kq_timer_del(self->kq, 1));
}

TEST_F(timer, forceoneshot)
{
	struct kevent ev;

	ASSERT_EQ(0, timer_add(self->kq, 1, 0, NOTE_SECONDS, HOUR_S));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_TIMER, EV_FORCEONESHOT, 0, 0,
			       UDATA(1)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	EXPECT_EQ(EV_ONESHOT, ev.flags & EV_ONESHOT);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_timer_del(self->kq, 1));
}

/* NOTE_ABSTIME. */

TEST_F(timer, abstime_future)
{
	struct kevent ev;
	int64_t t0;

	t0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 1, 0, NOTE_ABSTIME,
			       ts_ns(CLOCK_REALTIME) / 1000000 + 200));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	EXPECT_GE(elapsed_ms(t0), 150);
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	EXPECT_EQ(EV_CLEAR, ev.flags & (EV_CLEAR | EV_ERROR));
	EXPECT_EQ(1, ev.data);
	/* Once only. */
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 300));

	/* Another unit: microseconds since the epoch. */
	t0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 2, 0, NOTE_ABSTIME | NOTE_USECONDS,
			       ts_ns(CLOCK_REALTIME) / 1000 + 200000));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	EXPECT_GE(elapsed_ms(t0), 150);
	EXPECT_EQ(2u, ev.ident);
	EXPECT_EQ(1, ev.data);
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 300));
}

/* macOS's spelling: an alias of NOTE_ABSTIME, never its own bit. */
TEST_F(timer, absolute_is_abstime)
{
	struct kevent ev;

	EXPECT_EQ(NOTE_ABSTIME, NOTE_ABSOLUTE);
	ASSERT_EQ(0, timer_add(self->kq, 1, 0, NOTE_ABSOLUTE | NOTE_SECONDS,
			       ts_ns(CLOCK_REALTIME) / 1000000000 - 1));
	/* Blocked with a long timeout: the past deadline fires at once. */
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 10000));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EVFILT_TIMER, ev.filter);
	EXPECT_EQ(1, ev.data);
}

TEST_F(timer, abstime_past)
{
	struct kevent ev;
	int64_t t0;

	t0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 1, 0, NOTE_ABSTIME, 1000));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	EXPECT_LT(elapsed_ms(t0), 1000);
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(1, ev.data);

	t0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 2, 0, NOTE_ABSTIME | NOTE_SECONDS,
			       ts_ns(CLOCK_REALTIME) / 1000000000 - 5));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	EXPECT_LT(elapsed_ms(t0), 1000);
	EXPECT_EQ(2u, ev.ident);
	EXPECT_EQ(1, ev.data);
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 200));
}

/* Re-adding, disabling, dispatching. */

TEST_F(timer, readd_restarts)
{
	struct kevent ev;
	int64_t re0, t;
	int ret;

	ASSERT_EQ(0, timer_add(self->kq, 1, 0, 0, 100));
	sleep_ms(350);
	/* Expirations are pending; re-adding with 1 s drops them. */
	re0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 1, 0, 0, 1000));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));

	ret = kev_wait(self->kq, NULL, 0, &ev, 1, 400);
	t = now_ns() - re0;
	if (ret == 1) {
		EXPECT_GE(t, 1000000000LL)
			TH_LOG("fired %lld ms after re-add", (long long)t / 1000000);
	} else {
		EXPECT_EQ(0, ret);
	}
	if (ret == 0)
		ret = kev_wait(self->kq, NULL, 0, &ev, 1, 4000);
	t = now_ns();
	ASSERT_EQ(1, ret);
	EXPECT_GE(t - re0, 1000000000LL);
	EXPECT_EQ(1u, ev.ident);
	EXPECT_GE(ev.data, 1);
	EXPECT_LE(ev.data, max_expirations(re0, t, 1000));
}

/*
 * Re-adding a timer replaces it while its old hrtimer may be expiring on
 * another CPU. The old one must neither count nor restart with the new
 * timer's period: an absolute (CLOCK_REALTIME) timer forwarded by a
 * monotonic period would expire again at once, forever, with its owner
 * spinning in the cancel (a hard lockup). One thread arms absolute timers
 * due in a few microseconds on one CPU while another re-adds them as
 * periodic on the other CPU; afterwards the replaced timers must have left
 * nothing behind.
 */
struct rearm_ctx {
	int kq;
	int rounds;
	int errors;
};

static void *rearm_fn(void *arg)
{
	struct rearm_ctx *c = arg;
	cpu_set_t set;
	int i;

	CPU_ZERO(&set);
	CPU_SET(1, &set);
	sched_setaffinity(0, sizeof(set), &set);
	for (i = 0; i < c->rounds; i++)
		if (timer_add(c->kq, 1 + i % 4, 0, 0, HOUR_S * 1000))
			c->errors++;
	return NULL;
}

TEST_F(timer, readd_races_expiry)
{
	struct rearm_ctx c = { .kq = self->kq, .rounds = 3000 };
	struct kevent ev;
	struct timespec ts;
	cpu_set_t set;
	pthread_t th;
	int i, errors = 0;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		SKIP(return, "needs two CPUs");
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(set), &set));
	ASSERT_EQ(0, pthread_create(&th, NULL, rearm_fn, &c));
	for (i = 0; i < c.rounds; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		/* Due in 0 to 30 us: expiring while the other thread re-adds. */
		if (timer_add(self->kq, 1 + i % 4, 0, NOTE_ABSTIME | NOTE_NSECONDS,
			      ts.tv_sec * 1000000000LL + ts.tv_nsec + (i % 4) * 10000))
			errors++;
	}
	pthread_join(th, NULL);
	EXPECT_EQ(0, errors);
	EXPECT_EQ(0, c.errors);
	/* Re-added last as hour-long periodic timers: nothing is due. */
	for (i = 1; i <= 4; i++)
		ASSERT_EQ(0, timer_add(self->kq, i, 0, 0, HOUR_S * 1000));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	/* And the kqueue still works. */
	ASSERT_EQ(0, timer_add(self->kq, 9, EV_ONESHOT, 0, 10));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 5000));
	EXPECT_EQ(9u, ev.ident);
}

TEST_F(timer, disabled_keeps_counting)
{
	int64_t add0, add1, col0, col1;
	struct kevent ev;

	add0 = now_ns();
	ASSERT_EQ(0, timer_add(self->kq, 1, 0, 0, 100));
	ASSERT_EQ(0, kq_change(self->kq, 1, EVFILT_TIMER, EV_DISABLE, 0, 0, UDATA(1)));
	add1 = now_ns();
	sleep_ms(550);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));

	col0 = now_ns();
	ASSERT_EQ(0, kq_change(self->kq, 1, EVFILT_TIMER, EV_ENABLE, 0, 0, UDATA(1)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	col1 = now_ns();
	EXPECT_EQ(1u, ev.ident);
	EXPECT_GE(ev.data, 3);
	EXPECT_GE(ev.data, min_expirations(add1, col0, 100));
	EXPECT_LE(ev.data, max_expirations(add0, col1, 100))
		TH_LOG("%lld expirations in %lld ms", (long long)ev.data,
		       (long long)(col1 - add0) / 1000000);
}

TEST_F(timer, add_disabled)
{
	struct kevent ev;

	ASSERT_EQ(0, timer_add(self->kq, 1, EV_DISABLE, 0, 20));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 200));
	ASSERT_EQ(0, kq_change(self->kq, 1, EVFILT_TIMER, EV_ENABLE, 0, 0, UDATA(1)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_GE(ev.data, 2);
}

TEST_F(timer, dispatch)
{
	int64_t rep1, en0;
	struct kevent ev;

	ASSERT_EQ(0, timer_add(self->kq, 1, EV_DISPATCH, 0, 100));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	rep1 = now_ns();
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EV_CLEAR | EV_DISPATCH, ev.flags);
	EXPECT_GE(ev.data, 1);

	/* Disabled after the report. */
	sleep_ms(350);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	/* It kept counting: EV_ENABLE reports what accumulated. */
	en0 = now_ns();
	ASSERT_EQ(0, kq_change(self->kq, 1, EVFILT_TIMER, EV_ENABLE, 0, 0, UDATA(1)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_GE(ev.data, 2);
	EXPECT_GE(ev.data, min_expirations(rep1, en0, 100));
	/* And disabled again. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
}

TEST_F(timer, ordering)
{
	struct kevent ev[2];
	int n;

	/* The later timer is added first. */
	ASSERT_EQ(0, timer_add(self->kq, 300, EV_ONESHOT, 0, 300));
	ASSERT_EQ(0, timer_add(self->kq, 50, EV_ONESHOT, 0, 50));
	n = kev_wait(self->kq, NULL, 0, ev, 2, 3000);
	ASSERT_GE(n, 1);
	EXPECT_EQ(50u, ev[0].ident);
	if (n == 1) {
		ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, ev, 2, 3000));
		EXPECT_EQ(300u, ev[0].ident);
	} else {
		EXPECT_EQ(300u, ev[1].ident);
	}
}

/* The per-user limit. */

/* Add @n hour-long timers with idents @first.. in one call; 0 or errno. */
static int add_many_timers(int kq, uintptr_t first, long n)
{
	struct kevent *chg = calloc(n, sizeof(*chg));
	long i;
	int ret;

	if (!chg)
		return ENOMEM + 1000;
	for (i = 0; i < n; i++)
		EV_SET(&chg[i], first + i, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, HOUR_S,
		       NULL);
	ret = kevent(kq, chg, n, NULL, 0, NULL) == -1 ? errno : 0;
	free(chg);
	return ret;
}

TEST_F(timer, user_limit)
{
	long max = timer_limit(), i;
	struct kevent *chg, *out;
	int n, bad = 0;

	ASSERT_GT(max, 0) TH_LOG("no max_user_timers in KQUEUE_IOC_FEATURES");
	if (max > 100000)
		SKIP(return, "max_user_timers is %ld", max);
	chg = calloc(max + 1, sizeof(*chg));
	out = calloc(max + 1, sizeof(*out));
	ASSERT_NE(NULL, chg);
	ASSERT_NE(NULL, out);

	for (i = 0; i <= max; i++)
		EV_SET(&chg[i], i, EVFILT_TIMER, EV_ADD | EV_RECEIPT, NOTE_SECONDS,
		       HOUR_S, NULL);
	n = kevent(self->kq, chg, max + 1, out, max + 1, NULL);
	ASSERT_EQ(max + 1, n) TH_LOG("kevent: %s", n < 0 ? strerror(errno) : "");
	for (i = 0; i < max; i++)
		if (out[i].flags != EV_ERROR || out[i].data != 0 ||
		    out[i].ident != (uintptr_t)i)
			bad++;
	EXPECT_EQ(0, bad) TH_LOG("%d of the first %ld timers failed", bad, max);
	EXPECT_EQ((uintptr_t)max, out[max].ident);
	EXPECT_EQ(EV_ERROR, out[max].flags);
	EXPECT_EQ(ENOMEM, out[max].data);
	EXPECT_EQ(ENOENT, kq_timer_del(self->kq, max));

	/* Without room the call fails. */
	EXPECT_EQ(ENOMEM, timer_add(self->kq, max + 1, 0, NOTE_SECONDS, HOUR_S));
	/* Modifying an existing timer is no new timer. */
	EXPECT_EQ(0, timer_add(self->kq, 0, 0, NOTE_SECONDS, HOUR_S));
	/* User events do not count. */
	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));

	/* Deleting one makes room for one. */
	EXPECT_EQ(0, kq_timer_del(self->kq, 0));
	EXPECT_EQ(0, timer_add(self->kq, max + 1, 0, NOTE_SECONDS, HOUR_S));
	EXPECT_EQ(ENOMEM, timer_add(self->kq, max + 2, 0, NOTE_SECONDS, HOUR_S));

	free(out);
	free(chg);
}

TEST_F(timer, user_limit_shared_and_released)
{
	long max = timer_limit();
	int kq2;

	ASSERT_GT(max, 0) TH_LOG("no max_user_timers in KQUEUE_IOC_FEATURES");
	if (max > 100000)
		SKIP(return, "max_user_timers is %ld", max);

	/* The limit is per user, across kqueues. */
	ASSERT_EQ(0, add_many_timers(self->kq, 0, max - 1));
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	EXPECT_EQ(0, timer_add(kq2, 0, 0, NOTE_SECONDS, HOUR_S));
	EXPECT_EQ(ENOMEM, timer_add(kq2, 1, 0, NOTE_SECONDS, HOUR_S));
	EXPECT_EQ(ENOMEM, timer_add(self->kq, max, 0, NOTE_SECONDS, HOUR_S));

	/* Closing a kqueue cancels its timers and gives their slots back. */
	EXPECT_EQ(0, close(self->kq));
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0);
	EXPECT_EQ(0, timer_add(self->kq, 0, 0, NOTE_SECONDS, HOUR_S))
		TH_LOG("closing the kqueue did not release its timers");
	EXPECT_EQ(0, close(kq2));
	EXPECT_EQ(0, add_many_timers(self->kq, 1, max - 1));
	EXPECT_EQ(ENOMEM, timer_add(self->kq, max, 0, NOTE_SECONDS, HOUR_S));

	/* And once more with a full kqueue. */
	EXPECT_EQ(0, close(self->kq));
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0);
	EXPECT_EQ(0, add_many_timers(self->kq, 0, max));
	EXPECT_EQ(ENOMEM, timer_add(self->kq, max, 0, NOTE_SECONDS, HOUR_S));
}

TEST_F(timer, user_limit_oneshot_released)
{
	long max = timer_limit(), i;
	struct kevent *chg, *out;
	long total = 0;
	int n;

	ASSERT_GT(max, 0) TH_LOG("no max_user_timers in KQUEUE_IOC_FEATURES");
	if (max > 100000)
		SKIP(return, "max_user_timers is %ld", max);
	chg = calloc(max, sizeof(*chg));
	out = calloc(1024, sizeof(*out));
	ASSERT_NE(NULL, chg);
	ASSERT_NE(NULL, out);

	/* max one-shot timers that fire at once; once reported they are gone. */
	for (i = 0; i < max; i++)
		EV_SET(&chg[i], i, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	ASSERT_EQ(0, kevent(self->kq, chg, max, NULL, 0, NULL));
	while (total < max) {
		n = kev_wait(self->kq, NULL, 0, out, 1024, 3000);
		ASSERT_GT(n, 0) TH_LOG("%ld of %ld collected", total, max);
		total += n;
	}
	EXPECT_EQ(max, total);
	EXPECT_EQ(0, add_many_timers(self->kq, 0, max));
	EXPECT_EQ(ENOMEM, timer_add(self->kq, max, 0, NOTE_SECONDS, HOUR_S));

	free(out);
	free(chg);
}

/* Write @text to the file @path; 0 or errno. */
static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err;

	if (fd < 0)
		return errno;
	n = write(fd, text, strlen(text));
	err = n == (ssize_t)strlen(text) ? 0 : (n < 0 ? errno : EIO);
	close(fd);
	return err;
}

/*
 * The limit is per user as the kernel knows it (kuid), not as a user
 * namespace shows it: an unprivileged user that maps itself to 0 in a new
 * user namespace gets neither a new quota nor root's.
 */
TEST_F(timer, user_limit_across_user_namespaces)
{
	long max = timer_limit();
	int status, kq2;
	pid_t pid;

	ASSERT_GT(max, 0) TH_LOG("no max_user_timers in KQUEUE_IOC_FEATURES");
	if (max > 100000)
		SKIP(return, "max_user_timers is %ld", max);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int kq;

		/* Dumpable again after setuid(), or /proc/self is root's. */
		if (setgid(65534) || setuid(65534) ||
		    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
			_exit(10);
		kq = kqueue();
		if (kq < 0)
			_exit(11);
		if (add_many_timers(kq, 0, max))
			_exit(12);
		if (timer_add(kq, max, 0, NOTE_SECONDS, HOUR_S) != ENOMEM)
			_exit(13);
		if (unshare(CLONE_NEWUSER))
			_exit(14);
		if (write_file("/proc/self/setgroups", "deny") ||
		    write_file("/proc/self/uid_map", "0 65534 1") ||
		    write_file("/proc/self/gid_map", "0 65534 1"))
			_exit(15);
		if (getuid() != 0)
			_exit(16);
		/* Still nobody's quota, in the old kqueue and in a new one. */
		if (timer_add(kq, max, 0, NOTE_SECONDS, HOUR_S) != ENOMEM)
			_exit(17);
		kq = kqueue();
		if (kq < 0)
			_exit(18);
		if (timer_add(kq, 0, 0, NOTE_SECONDS, HOUR_S) != ENOMEM)
			_exit(19);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("step %d failed (17, 19: a user namespace gave a new quota)",
		       WEXITSTATUS(status));

	/* Nobody's timers died with it; root's quota was never touched. */
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	EXPECT_EQ(0, add_many_timers(kq2, 0, max));
	EXPECT_EQ(ENOMEM, timer_add(kq2, max, 0, NOTE_SECONDS, HOUR_S));
	EXPECT_EQ(0, close(kq2));
}

TEST_HARNESS_MAIN
