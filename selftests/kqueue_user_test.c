// SPDX-License-Identifier: GPL-2.0
/*
 * EVFILT_USER: NOTE_TRIGGER, the NOTE_FF* operations on the 24 user bits,
 * data, EV_CLEAR, disabled knotes, cross-thread wake-ups and many idents.
 * doc/semantics.md is the contract.
 */
#define _GNU_SOURCE
#include <stdlib.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

FIXTURE(user) {
	int kq;
};

FIXTURE_SETUP(user)
{
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(user)
{
	if (self->kq >= 0)
		close(self->kq);
}

/* Modify the user knote @ident with @fflags and @data (no flags). */
static int user_modify(int kq, uintptr_t ident, unsigned int fflags, int64_t data)
{
	return kq_change(kq, ident, EVFILT_USER, 0, fflags, data, NULL);
}

/*
 * Collect exactly one event for @ident and return its fflags, or ~0u if
 * there was not exactly one event for it.
 */
static unsigned int poll_fflags(int kq, uintptr_t ident, int64_t *data)
{
	struct kevent ev[2];

	memset(ev, 0, sizeof(ev));
	if (kev_poll(kq, ev, 2) != 1 || ev[0].ident != ident ||
	    ev[0].filter != EVFILT_USER)
		return ~0u;
	if (data)
		*data = ev[0].data;
	return ev[0].fflags;
}

TEST_F(user, trigger)
{
	struct kevent ev, evs[4];

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, 0, 0, UDATA(1)));
	/* Added, not triggered: nothing to report. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 50));

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, UDATA(1)));
	memset(&ev, 0xa5, sizeof(ev));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EVFILT_USER, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(0, ev.data);
	EXPECT_EQ(UDATA(1), ev.udata);

	/* Triggering twice before collection gives one event. */
	EXPECT_EQ(0, kq_user_add(self->kq, 2, EV_CLEAR));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 2));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 2));
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	EXPECT_EQ(2u, evs[0].ident);
	EXPECT_EQ(0, kev_poll(self->kq, evs, 4));
}

TEST_F(user, add_with_trigger)
{
	int64_t data = -1;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD,
			       NOTE_TRIGGER | NOTE_FFCOPY | 0x1234u, 55, NULL));
	EXPECT_EQ(0x1234u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(55, data);

	/* NOTE_FFOR at EV_ADD on a new knote ORs into zero. */
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));
	EXPECT_EQ(0, kq_change(self->kq, 2, EVFILT_USER, EV_ADD,
			       NOTE_TRIGGER | NOTE_FFOR | 0x5u, 0, NULL));
	EXPECT_EQ(0x5u, poll_fflags(self->kq, 2, NULL));
}

TEST_F(user, ffctrl_operations)
{
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD,
			       NOTE_TRIGGER | NOTE_FFCOPY | 0xf0f0f0u, 0, NULL));
	EXPECT_EQ(0xf0f0f0u, poll_fflags(self->kq, 1, NULL));

	/* Without EV_CLEAR it stays triggered: each poll shows the bits. */
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_FFOR | 0x00000fu, 0));
	EXPECT_EQ(0xf0f0ffu, poll_fflags(self->kq, 1, NULL));

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_FFAND | 0xff00ffu, 0));
	EXPECT_EQ(0xf000ffu, poll_fflags(self->kq, 1, NULL));

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_FFNOP | 0x123456u, 0));
	EXPECT_EQ(0xf000ffu, poll_fflags(self->kq, 1, NULL));

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_FFCOPY | 0x000001u, 0));
	EXPECT_EQ(0x000001u, poll_fflags(self->kq, 1, NULL));

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_FFCOPY | NOTE_FFLAGSMASK, 0));
	EXPECT_EQ((unsigned int)NOTE_FFLAGSMASK, poll_fflags(self->kq, 1, NULL));

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_FFAND, 0));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, NULL));

	/* The ops apply on an EV_ADD of an existing knote too. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_FFOR | 0x30u, 0,
			       NULL));
	EXPECT_EQ(0x30u, poll_fflags(self->kq, 1, NULL));
}

TEST_F(user, fflags_only_24_bits)
{
	struct kevent ev;

	/* Bits 25..29 of the change are neither control nor stored. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD,
			       NOTE_TRIGGER | NOTE_FFCOPY | 0x3e000055u, 0, NULL));
	memset(&ev, 0, sizeof(ev));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0x55u, ev.fflags);
	EXPECT_EQ(0u, ev.fflags & ~(unsigned int)NOTE_FFLAGSMASK);

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER | NOTE_FFOR | 0x3effff00u, 0));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0xffff55u, ev.fflags);

	/* NOTE_TRIGGER itself is never reported, nor is the control op. */
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER | NOTE_FFCOPY | 0xffffffu, 0));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0xffffffu, ev.fflags);
	EXPECT_EQ(0u, ev.fflags & (NOTE_TRIGGER | NOTE_FFCTRLMASK));
}

TEST_F(user, data_last_given)
{
	int64_t data = 0;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 5, NULL));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(5, data);

	/* A change without NOTE_TRIGGER still stores its data. */
	EXPECT_EQ(0, user_modify(self->kq, 1, 0, 9));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(9, data);

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER, -3));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(-3, data);

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER, INT64_MAX));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(INT64_MAX, data);

	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER, INT64_MIN));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(INT64_MIN, data);

	/* So do EV_DISABLE and EV_ENABLE. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_DISABLE, 0, 11, NULL));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE, 0, 12, NULL));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(12, data);
}

TEST_F(user, clear_resets_state)
{
	struct kevent ev;
	int64_t data = -1;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, EV_CLEAR));
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER | NOTE_FFCOPY | 0xabcu, 7));
	memset(&ev, 0, sizeof(ev));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(0xabcu, ev.fflags);
	EXPECT_EQ(7, ev.data);
	/* Not triggered any more. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));

	/* The stored bits were reset to 0. */
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER, 0));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(0, data);
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER | NOTE_FFOR | 0x1u, 0));
	EXPECT_EQ(0x1u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
}

TEST_F(user, no_clear_stays_triggered)
{
	struct kevent ev;
	int i;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER | NOTE_FFCOPY | 0x5u, 8));
	for (i = 0; i < 4; i++) {
		memset(&ev, 0, sizeof(ev));
		ASSERT_EQ(1, kev_poll(self->kq, &ev, 1)) TH_LOG("poll %d", i);
		EXPECT_EQ(1u, ev.ident);
		EXPECT_EQ(0, ev.flags);
		EXPECT_EQ(0x5u, ev.fflags);
		EXPECT_EQ(8, ev.data);
	}
}

TEST_F(user, modify_without_trigger)
{
	struct kevent ev;
	int64_t data = -1;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_FFOR | 0x1u, 3));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_FFOR | 0x2u, 4));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	/* The trigger's own data is the last one given. */
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER, 0));
	EXPECT_EQ(0x3u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(0, data);
}

TEST_F(user, trigger_while_disabled)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, NULL));
	EXPECT_EQ(0, user_modify(self->kq, 1, NOTE_TRIGGER | NOTE_FFCOPY | 0x7u, 4));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 50));

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE, 0, 4, NULL));
	memset(&ev, 0, sizeof(ev));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(0x7u, ev.fflags);
	EXPECT_EQ(4, ev.data);
}

TEST_F(user, oneshot_values)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0,
			       UDATA(1)));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, 0,
			       NOTE_TRIGGER | NOTE_FFCOPY | 0x99u, 5, UDATA(2)));
	memset(&ev, 0, sizeof(ev));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(EV_ONESHOT, ev.flags);
	EXPECT_EQ(0x99u, ev.fflags);
	EXPECT_EQ(5, ev.data);
	EXPECT_EQ(UDATA(2), ev.udata);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 1));
}

TEST_F(user, readd_after_delete_is_fresh)
{
	struct kevent ev;
	int64_t data = -1;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD,
			       NOTE_TRIGGER | NOTE_FFCOPY | 0x3u, 9, NULL));
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));
	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	EXPECT_EQ(0u, poll_fflags(self->kq, 1, &data));
	EXPECT_EQ(0, data);
}

TEST_F(user, idents_and_kqueues_independent)
{
	static const uintptr_t idents[] = { 0, 1, UINTPTR_MAX, (uintptr_t)1 << 63 };
	struct kevent ev[8];
	unsigned int i;
	int kq2, n, k;

	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(0, kq_change(self->kq, idents[i], EVFILT_USER, EV_ADD,
				       NOTE_FFCOPY | (i + 1), 0, NULL));
		EXPECT_EQ(0, kq_user_add(kq2, idents[i], 0));
	}
	/* Trigger two of them in the first kqueue only. */
	EXPECT_EQ(0, user_modify(self->kq, 0, NOTE_TRIGGER, 0));
	EXPECT_EQ(0, user_modify(self->kq, UINTPTR_MAX, NOTE_TRIGGER, 0));
	n = kev_poll(self->kq, ev, 8);
	ASSERT_EQ(2, n);
	k = find_event(ev, n, 0, EVFILT_USER);
	ASSERT_GE(k, 0);
	EXPECT_EQ(1u, ev[k].fflags);
	k = find_event(ev, n, UINTPTR_MAX, EVFILT_USER);
	ASSERT_GE(k, 0);
	EXPECT_EQ(3u, ev[k].fflags);
	EXPECT_EQ(0, kev_poll(kq2, ev, 8));
	close(kq2);
}

TEST_F(user, cross_thread_wakeup)
{
	struct waiter w;

	EXPECT_EQ(0, kq_change(self->kq, 77, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0,
			       UDATA(77)));
	ASSERT_EQ(0, waiter_start(&w, self->kq, -1, 100));
	EXPECT_FALSE(waiter_done(&w));
	EXPECT_EQ(0, kq_change(self->kq, 77, EVFILT_USER, 0,
			       NOTE_TRIGGER | NOTE_FFCOPY | 0x42u, 6, UDATA(77)));
	ASSERT_TRUE(waiter_wait(&w, 5000)) TH_LOG("kevent() was not woken");
	EXPECT_EQ(1, w.ret);
	EXPECT_GE(waiter_blocked_ms(&w), 90);
	EXPECT_EQ(77u, w.ev.ident);
	EXPECT_EQ(EVFILT_USER, w.ev.filter);
	EXPECT_EQ(EV_CLEAR, w.ev.flags);
	EXPECT_EQ(0x42u, w.ev.fflags);
	EXPECT_EQ(6, w.ev.data);
	EXPECT_EQ(UDATA(77), w.ev.udata);
}

#define MANY 10000

TEST_F(user, many_idents)
{
	struct kevent *chg, *ev;
	unsigned char *seen;
	int i, n, total = 0, dups = 0, bad = 0;

	chg = calloc(MANY, sizeof(*chg));
	ev = calloc(1024, sizeof(*ev));
	seen = calloc(MANY, 1);
	ASSERT_NE(NULL, chg);
	ASSERT_NE(NULL, ev);
	ASSERT_NE(NULL, seen);

	for (i = 0; i < MANY; i++)
		EV_SET(&chg[i], 1000 + i, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	ASSERT_EQ(0, kevent(self->kq, chg, MANY, NULL, 0, NULL))
		TH_LOG("adding %d knotes: %s", MANY, strerror(errno));
	EXPECT_EQ(0, kev_poll(self->kq, ev, 1024));

	for (i = 0; i < MANY; i++)
		EV_SET(&chg[i], 1000 + i, EVFILT_USER, 0, NOTE_TRIGGER, i, UDATA(i));
	ASSERT_EQ(0, kevent(self->kq, chg, MANY, NULL, 0, NULL));

	while ((n = kev_poll(self->kq, ev, 1024)) > 0) {
		for (i = 0; i < n; i++) {
			uintptr_t id = ev[i].ident - 1000;

			if (ev[i].ident < 1000 || id >= MANY ||
			    ev[i].filter != EVFILT_USER || ev[i].flags != EV_ONESHOT ||
			    ev[i].data != (int64_t)id || ev[i].udata != UDATA(id)) {
				bad++;
				continue;
			}
			if (seen[id]++)
				dups++;
			total++;
		}
		if (total > 2 * MANY)
			break;
	}
	EXPECT_EQ(0, n);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, dups);
	EXPECT_EQ(MANY, total);
	for (i = 0; i < MANY; i++)
		if (seen[i] != 1)
			break;
	EXPECT_EQ(MANY, i) TH_LOG("ident %d seen %d times", 1000 + i,
				  i < MANY ? seen[i] : 0);
	/* All gone (EV_ONESHOT). */
	EXPECT_EQ(0, kev_poll(self->kq, ev, 1024));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 1000));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 1000 + MANY - 1));

	free(seen);
	free(ev);
	free(chg);
}

TEST_HARNESS_MAIN
