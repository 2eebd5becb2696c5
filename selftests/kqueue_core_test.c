// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue core: creation, kevent() change processing, flags, error
 * reporting, timeouts, the raw ioctl ABI of /dev/kqueue, and polling a
 * kqueue descriptor. EVFILT_USER is the event source throughout; its own
 * details are in kqueue_user_test.c. doc/semantics.md is the contract.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/time.h>

#include <linux/kqueue.h>
#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

/* Is the knote (@ident, EVFILT_USER) registered? Deletes it to find out. */
static bool user_exists(int kq, uintptr_t ident)
{
	return kq_user_delete(kq, ident) == 0;
}

static int raw_kevent(int fd, struct kqueue_kevent_args *args)
{
	return ioctl(fd, KQUEUE_IOC_KEVENT, args);
}

FIXTURE(core) {
	int kq;
};

FIXTURE_SETUP(core)
{
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(core)
{
	if (self->kq >= 0)
		close(self->kq);
}

/* Creation. */

TEST(device_node)
{
	struct stat st;
	int fd;

	ASSERT_EQ(0, stat("/dev/kqueue", &st))
		TH_LOG("/dev/kqueue: %s (is kqueue.ko loaded?)", strerror(errno));
	EXPECT_TRUE(S_ISCHR(st.st_mode));

	/* Every open file is a separate, empty kqueue. */
	fd = open("/dev/kqueue", O_RDWR);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(0, kq_user_add(fd, 1, 0));
	EXPECT_EQ(0, kq_user_trigger(fd, 1));
	EXPECT_EQ(0, close(fd));
}

TEST(kqueue_plain)
{
	struct kevent ev;
	int kq, kq2;

	kq = kqueue();
	ASSERT_GE(kq, 0) TH_LOG("kqueue(): %s", strerror(errno));
	EXPECT_EQ(0, fcntl(kq, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, kev_poll(kq, &ev, 1));

	/* Two kqueues do not share knotes. */
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	EXPECT_NE(kq, kq2);
	EXPECT_EQ(0, kq_user_add(kq, 1, 0));
	EXPECT_EQ(0, kq_user_trigger(kq, 1));
	EXPECT_EQ(ENOENT, kq_user_trigger(kq2, 1));
	EXPECT_EQ(0, kev_poll(kq2, &ev, 1));
	EXPECT_EQ(1, kev_poll(kq, &ev, 1));
	EXPECT_EQ(0, close(kq2));
	EXPECT_EQ(0, close(kq));
}

TEST(kqueuex_cloexec)
{
	struct kevent ev;
	int kq;

	kq = kqueuex(KQUEUE_CLOEXEC);
	ASSERT_GE(kq, 0) TH_LOG("kqueuex(): %s", strerror(errno));
	EXPECT_EQ(FD_CLOEXEC, fcntl(kq, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, kev_poll(kq, &ev, 1));
	EXPECT_EQ(0, close(kq));

	kq = kqueuex(0);
	ASSERT_GE(kq, 0);
	EXPECT_EQ(0, fcntl(kq, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, kev_poll(kq, &ev, 1));
	EXPECT_EQ(0, close(kq));
}

TEST(kqueue1_cloexec)
{
	struct kevent ev;
	int kq;

	kq = kqueue1(O_CLOEXEC);
	ASSERT_GE(kq, 0) TH_LOG("kqueue1(): %s", strerror(errno));
	EXPECT_EQ(FD_CLOEXEC, fcntl(kq, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, kev_poll(kq, &ev, 1));
	EXPECT_EQ(0, close(kq));

	kq = kqueue1(0);
	ASSERT_GE(kq, 0);
	EXPECT_EQ(0, fcntl(kq, F_GETFD) & FD_CLOEXEC);
	EXPECT_EQ(0, close(kq));
}

TEST(kqueue_invalid_flags)
{
	static const unsigned int xflags[] = {
		0x4, 0x100, 0x80000000u, KQUEUE_CLOEXEC | 0x8, ~0u,
	};
	static const int oflags[] = {
		O_NONBLOCK, O_APPEND, O_CLOEXEC | O_NONBLOCK, O_RDWR, -1,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(xflags); i++) {
		errno = 0;
		EXPECT_EQ(-1, kqueuex(xflags[i])) TH_LOG("kqueuex(%#x)", xflags[i]);
		EXPECT_EQ(EINVAL, errno);
	}
	for (i = 0; i < ARRAY_SIZE(oflags); i++) {
		errno = 0;
		EXPECT_EQ(-1, kqueue1(oflags[i])) TH_LOG("kqueue1(%#x)", oflags[i]);
		EXPECT_EQ(EINVAL, errno);
	}
}

/* EV_ADD, EV_DELETE. */

TEST_F(core, add_delete)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 2));
	EXPECT_EQ(ENOENT, kq_receipt(self->kq, 2, EVFILT_USER, EV_DELETE, 0, 0, NULL));

	/* Deleting a triggered knote drops its pending event. */
	EXPECT_EQ(0, kq_user_add(self->kq, 3, 0));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 3));
	EXPECT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kq_user_delete(self->kq, 3));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));

	/* The identity is (ident, filter): a timer 3 is another knote. */
	EXPECT_EQ(0, kq_user_add(self->kq, 3, 0));
	EXPECT_EQ(ENOENT, kq_timer_del(self->kq, 3));
	EXPECT_EQ(0, kq_user_delete(self->kq, 3));
}

TEST_F(core, add_modifies_existing)
{
	struct kevent ev[4];

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, 0, 0, UDATA(1)));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0,
			       UDATA(2)));
	/* One knote, not two. */
	ASSERT_EQ(1, kev_poll(self->kq, ev, 4));
	EXPECT_EQ(1u, ev[0].ident);
	EXPECT_EQ(EVFILT_USER, ev[0].filter);
	EXPECT_EQ(UDATA(2), ev[0].udata);
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 1));
}

TEST_F(core, modify_absent_enoent)
{
	EXPECT_EQ(ENOENT, kq_change(self->kq, 5, EVFILT_USER, EV_ENABLE, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, 5, EVFILT_USER, EV_DISABLE, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, 5, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, 5, EVFILT_USER, 0, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_receipt(self->kq, 5, EVFILT_USER, EV_ENABLE, 0, 0, NULL));
	/* None of them created the knote. */
	EXPECT_FALSE(user_exists(self->kq, 5));
}

/* EV_ENABLE, EV_DISABLE. */

TEST_F(core, enable_disable_together_einval)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	EXPECT_EQ(EINVAL, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE | EV_DISABLE,
				    0, 0, NULL));
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, 1, EVFILT_USER,
				     EV_ENABLE | EV_DISABLE, 0, 0, NULL));
	/* The failed change left the knote enabled. */
	EXPECT_EQ(1, kev_poll(self->kq, &ev, 1));

	/* With EV_ADD on a new ident: refused and nothing created. */
	EXPECT_EQ(EINVAL, kq_change(self->kq, 2, EVFILT_USER,
				    EV_ADD | EV_ENABLE | EV_DISABLE, 0, 0, NULL));
	EXPECT_FALSE(user_exists(self->kq, 2));
}

TEST_F(core, disable_enable)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, NULL));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 50));

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);

	/* Disabling a reported, still triggered knote hides it again. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, NULL));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, NULL));
	EXPECT_EQ(1, kev_poll(self->kq, &ev, 1));
}

TEST_F(core, add_disable_creates_disabled)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD | EV_DISABLE,
			       NOTE_TRIGGER, 0, NULL));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
}

TEST_F(core, add_reenables_disabled)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, NULL));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	/* A plain EV_ADD on the disabled knote enables it. */
	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	/* EV_ADD | EV_DISABLE on an existing knote disables it. */
	EXPECT_EQ(0, kq_user_add(self->kq, 1, EV_DISABLE));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
}

/* EV_ONESHOT, EV_CLEAR, EV_DISPATCH and level triggering. */

TEST_F(core, oneshot)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD | EV_ONESHOT, 0, 0,
			       UDATA(1)));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, UDATA(1)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EVFILT_USER, ev.filter);
	EXPECT_EQ(EV_ONESHOT, ev.flags);
	EXPECT_EQ(UDATA(1), ev.udata);
	/* Reported once, then gone. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_user_trigger(self->kq, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 1));
}

TEST_F(core, clear)
{
	struct kevent ev;
	int i;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, EV_CLEAR));
	for (i = 0; i < 3; i++) {
		EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
		ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
		EXPECT_EQ(1u, ev.ident);
		EXPECT_EQ(EV_CLEAR, ev.flags);
		/* Reset after reporting: not reported again until triggered. */
		EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	}
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));
}

TEST_F(core, level_triggered)
{
	struct kevent ev;
	int i;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0,
			       UDATA(1)));
	for (i = 0; i < 5; i++) {
		memset(&ev, 0, sizeof(ev));
		ASSERT_EQ(1, kev_poll(self->kq, &ev, 1)) TH_LOG("call %d", i);
		EXPECT_EQ(1u, ev.ident);
		EXPECT_EQ(EVFILT_USER, ev.filter);
		EXPECT_EQ(0, ev.flags);
		EXPECT_EQ(UDATA(1), ev.udata);
	}
}

TEST_F(core, dispatch)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, EV_DISPATCH));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EV_DISPATCH, ev.flags);
	/* Disabled after the report: triggering again is not reported. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	/* EV_ENABLE: still triggered (no EV_CLEAR), reported once more. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(EV_DISPATCH, ev.flags);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	/* It still exists. */
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));
}

TEST_F(core, flags_fixed_at_creation)
{
	struct kevent ev;

	/* A level knote stays level when EV_ADD asks for more later. */
	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER,
			       EV_ADD | EV_CLEAR | EV_ONESHOT | EV_DISPATCH, 0, 0,
			       NULL));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, ev.flags);
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));

	/* A oneshot knote stays oneshot after a plain EV_ADD. */
	EXPECT_EQ(0, kq_user_add(self->kq, 2, EV_ONESHOT));
	EXPECT_EQ(0, kq_change(self->kq, 2, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(2u, ev.ident);
	EXPECT_EQ(EV_ONESHOT, ev.flags);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 2));

	/* A clear knote stays clear. */
	EXPECT_EQ(0, kq_user_add(self->kq, 3, EV_CLEAR));
	EXPECT_EQ(0, kq_change(self->kq, 3, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
}

/* EV_RECEIPT. */

TEST_F(core, receipt)
{
	struct kevent chg, out[4];

	EV_SET(&chg, 7, EVFILT_USER, EV_ADD | EV_RECEIPT, NOTE_FFCOPY | 0x123u, 99,
	       UDATA(7));
	chg.ext[0] = 0x1111111111111111ull;
	chg.ext[1] = 0x2222222222222222ull;
	chg.ext[2] = 0x3333333333333333ull;
	chg.ext[3] = 0xffffffffffffffffull;
	memset(out, 0xa5, sizeof(out));
	ASSERT_EQ(1, kevent(self->kq, &chg, 1, out, 4, NULL));
	EXPECT_EQ(7u, out[0].ident);
	EXPECT_EQ(EVFILT_USER, out[0].filter);
	EXPECT_EQ(EV_ERROR, out[0].flags);
	EXPECT_EQ(NOTE_FFCOPY | 0x123u, out[0].fflags);
	EXPECT_EQ(0, out[0].data);
	EXPECT_EQ(UDATA(7), out[0].udata);
	EXPECT_EQ(0x1111111111111111ull, out[0].ext[0]);
	EXPECT_EQ(0x2222222222222222ull, out[0].ext[1]);
	EXPECT_EQ(0x3333333333333333ull, out[0].ext[2]);
	EXPECT_EQ(0xffffffffffffffffull, out[0].ext[3]);

	/* A receipt for a successful EV_DELETE; the knote is gone. */
	EXPECT_EQ(0, kq_receipt(self->kq, 7, EVFILT_USER, EV_DELETE, 0, 0, NULL));
	EXPECT_FALSE(user_exists(self->kq, 7));
	/* A receipt for a failing change carries its errno. */
	EXPECT_EQ(ENOENT, kq_receipt(self->kq, 7, EVFILT_USER, EV_DELETE, 0, 0, NULL));
}

TEST_F(core, receipt_stops_collection)
{
	struct kevent chg, out[4];
	int64_t t0;

	/* A pending event that a plain call would collect. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));

	EV_SET(&chg, 2, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	t0 = now_ns();
	ASSERT_EQ(1, kev_wait(self->kq, &chg, 1, out, 4, 5000));
	EXPECT_LT(elapsed_ms(t0), 2000);
	EXPECT_EQ(2u, out[0].ident);
	EXPECT_EQ(EV_ERROR, out[0].flags);
	EXPECT_EQ(0, out[0].data);

	/* The pending event is still there for the next call. */
	ASSERT_EQ(1, kev_poll(self->kq, out, 4));
	EXPECT_EQ(1u, out[0].ident);
	EXPECT_EQ(0, out[0].flags);
}

TEST_F(core, receipt_without_room)
{
	struct kevent chg[3], out[4];

	/* No room at all: the receipts are dropped, the changes applied. */
	EV_SET(&chg[0], 1, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&chg[1], 2, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EXPECT_EQ(0, kevent(self->kq, chg, 2, NULL, 0, NULL));
	EXPECT_TRUE(user_exists(self->kq, 1));
	EXPECT_TRUE(user_exists(self->kq, 2));

	/* Room for one: the first receipt, and processing goes on. */
	EV_SET(&chg[0], 3, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&chg[1], 4, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&chg[2], 5, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
	memset(out, 0, sizeof(out));
	ASSERT_EQ(1, kevent(self->kq, chg, 3, out, 1, NULL));
	EXPECT_EQ(3u, out[0].ident);
	EXPECT_EQ(EV_ERROR, out[0].flags);
	EXPECT_EQ(0, out[0].data);
	/* Knote 5 was created and triggered after the last receipt. */
	ASSERT_EQ(1, kev_poll(self->kq, out, 4));
	EXPECT_EQ(5u, out[0].ident);
	EXPECT_TRUE(user_exists(self->kq, 3));
	EXPECT_TRUE(user_exists(self->kq, 4));
}

/* EV_FORCEONESHOT. */

TEST_F(core, forceoneshot_existing)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, 0, 0, UDATA(1)));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	/* Not triggered, yet reported at the next collection, once. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_FORCEONESHOT, 0, 0,
			       UDATA(1)));
	memset(&ev, 0, sizeof(ev));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(EVFILT_USER, ev.filter);
	EXPECT_EQ(EV_ONESHOT, ev.flags & EV_ONESHOT);
	EXPECT_EQ(0, ev.flags & (EV_FORCEONESHOT | EV_ADD | EV_ERROR));
	EXPECT_EQ(UDATA(1), ev.udata);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 1));

	/* Same for an EV_CLEAR knote that was never triggered. */
	EXPECT_EQ(0, kq_user_add(self->kq, 2, EV_CLEAR));
	EXPECT_EQ(0, kq_change(self->kq, 2, EVFILT_USER, EV_FORCEONESHOT, 0, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(2u, ev.ident);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 2));
}

TEST_F(core, forceoneshot_absent)
{
	EXPECT_EQ(ENOENT, kq_change(self->kq, 1, EVFILT_USER, EV_FORCEONESHOT, 0, 0,
				    NULL));
	EXPECT_EQ(ENOENT, kq_receipt(self->kq, 1, EVFILT_USER, EV_FORCEONESHOT, 0, 0,
				     NULL));
	EXPECT_FALSE(user_exists(self->kq, 1));
	/* With EV_ADD it creates the knote. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD | EV_FORCEONESHOT, 0,
			       0, NULL));
	EXPECT_TRUE(user_exists(self->kq, 1));
}

/* udata: replaced on modification unless EV_KEEPUDATA. */

TEST_F(core, udata_replaced_on_modification)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, 0, 0, UDATA(1)));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_DISABLE, 0, 0, UDATA(2)));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE, 0, 0, UDATA(3)));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, UDATA(4)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(UDATA(4), ev.udata);
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, 0, 0, UDATA(5)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(UDATA(5), ev.udata);
}

TEST_F(core, keepudata)
{
	struct kevent ev;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, 0, 0, UDATA(1)));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_DISABLE | EV_KEEPUDATA, 0,
			       0, UDATA(2)));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ENABLE | EV_KEEPUDATA, 0,
			       0, UDATA(3)));
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_KEEPUDATA, NOTE_TRIGGER, 0,
			       UDATA(4)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(UDATA(1), ev.udata);
	EXPECT_EQ(0, ev.flags & EV_KEEPUDATA);

	/* Without EV_KEEPUDATA the next modification replaces it. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, UDATA(5)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(UDATA(5), ev.udata);
}

TEST_F(core, keepudata_with_add_einval)
{
	struct kevent ev;

	/* On an existing knote: refused, udata untouched. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0,
			       UDATA(1)));
	EXPECT_EQ(EINVAL, kq_change(self->kq, 1, EVFILT_USER, EV_ADD | EV_KEEPUDATA,
				    0, 0, UDATA(2)));
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, 1, EVFILT_USER, EV_ADD | EV_KEEPUDATA,
				     0, 0, UDATA(2)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(UDATA(1), ev.udata);
	/* On a new ident: refused, nothing created. */
	EXPECT_EQ(EINVAL, kq_change(self->kq, 2, EVFILT_USER, EV_ADD | EV_KEEPUDATA,
				    0, 0, NULL));
	EXPECT_FALSE(user_exists(self->kq, 2));
}

/* EV_SYSFLAGS are masked off the input. */

TEST_F(core, sysflags_masked)
{
	struct kevent chg, ev;

	EV_SET(&chg, 1, EVFILT_USER, EV_ADD | EV_SYSFLAGS, NOTE_TRIGGER, 0, NULL);
	EXPECT_EQ(0, kevent(self->kq, &chg, 1, NULL, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);

	/* EV_ERROR in a change is not an error; a receipt is exactly EV_ERROR. */
	EV_SET(&chg, 2, EVFILT_USER, EV_ADD | EV_RECEIPT | EV_ERROR | EV_EOF, 0, 0,
	       NULL);
	ASSERT_EQ(1, kevent(self->kq, &chg, 1, &ev, 1, NULL));
	EXPECT_EQ(2u, ev.ident);
	EXPECT_EQ(EV_ERROR, ev.flags);
	EXPECT_EQ(0, ev.data);

	EV_SET(&chg, 2, EVFILT_USER, EV_DELETE | EV_FLAG1 | 0x1000, 0, 0, NULL);
	EXPECT_EQ(0, kevent(self->kq, &chg, 1, NULL, 0, NULL));
	EXPECT_FALSE(user_exists(self->kq, 2));
}

/* Failing changes. */

TEST_F(core, error_entries_with_room)
{
	struct kevent chg[5], out[8];
	int64_t t0;

	/* A pending event that must not be collected by this call. */
	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));

	EV_SET(&chg[0], 10, EVFILT_USER, EV_ADD, 0, 0, NULL);
	EV_SET(&chg[1], 11, EVFILT_USER, EV_DELETE, 0x42u, 1234, UDATA(11));
	chg[1].ext[0] = 1;
	chg[1].ext[1] = 2;
	chg[1].ext[2] = 3;
	chg[1].ext[3] = 4;
	EV_SET(&chg[2], 12, -14, EV_ADD, 0, 0, UDATA(12));
	EV_SET(&chg[3], 10, EVFILT_USER, EV_ENABLE | EV_DISABLE, 0, 0, NULL);
	EV_SET(&chg[4], 13, EVFILT_USER, EV_ADD, 0, 0, NULL);
	memset(out, 0, sizeof(out));
	t0 = now_ns();
	ASSERT_EQ(3, kev_wait(self->kq, chg, 5, out, 8, 5000));
	EXPECT_LT(elapsed_ms(t0), 2000);

	EXPECT_EQ(11u, out[0].ident);
	EXPECT_EQ(EVFILT_USER, out[0].filter);
	EXPECT_EQ(EV_ERROR, out[0].flags);
	EXPECT_EQ(0x42u, out[0].fflags);
	EXPECT_EQ(ENOENT, out[0].data);
	EXPECT_EQ(UDATA(11), out[0].udata);
	EXPECT_EQ(1u, out[0].ext[0]);
	EXPECT_EQ(2u, out[0].ext[1]);
	EXPECT_EQ(3u, out[0].ext[2]);
	EXPECT_EQ(4u, out[0].ext[3]);

	EXPECT_EQ(12u, out[1].ident);
	EXPECT_EQ(-14, out[1].filter);
	EXPECT_EQ(EV_ERROR, out[1].flags);
	EXPECT_EQ(EINVAL, out[1].data);
	EXPECT_EQ(UDATA(12), out[1].udata);

	EXPECT_EQ(10u, out[2].ident);
	EXPECT_EQ(EV_ERROR, out[2].flags);
	EXPECT_EQ(EINVAL, out[2].data);

	/* The good changes around them were applied. */
	EXPECT_TRUE(user_exists(self->kq, 10));
	EXPECT_TRUE(user_exists(self->kq, 13));
	/* And the pending event was left for the next call. */
	ASSERT_EQ(1, kev_poll(self->kq, out, 8));
	EXPECT_EQ(1u, out[0].ident);
	EXPECT_EQ(0, out[0].flags);
}

TEST_F(core, error_without_room)
{
	struct kevent chg[3];

	EV_SET(&chg[0], 20, EVFILT_USER, EV_ADD, 0, 0, NULL);
	EV_SET(&chg[1], 21, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	EV_SET(&chg[2], 22, EVFILT_USER, EV_ADD, 0, 0, NULL);
	errno = 0;
	EXPECT_EQ(-1, kevent(self->kq, chg, 3, NULL, 0, NULL));
	EXPECT_EQ(ENOENT, errno);
	/* Earlier changes stay applied, later ones were not. */
	EXPECT_TRUE(user_exists(self->kq, 20));
	EXPECT_FALSE(user_exists(self->kq, 22));

	/* Same with an unsupported filter: the call fails with EINVAL. */
	EV_SET(&chg[1], 21, EVFILT_AIO, EV_ADD, 0, 0, NULL);
	errno = 0;
	EXPECT_EQ(-1, kev_wait(self->kq, chg, 3, NULL, 0, 0));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_TRUE(user_exists(self->kq, 20));
	EXPECT_FALSE(user_exists(self->kq, 22));
}

TEST_F(core, error_room_runs_out)
{
	struct kevent chg[3], out[1];

	EV_SET(&chg[0], 30, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	EV_SET(&chg[1], 31, -14, EV_ADD, 0, 0, NULL);
	EV_SET(&chg[2], 32, EVFILT_USER, EV_ADD, 0, 0, NULL);
	errno = 0;
	/* The first failure takes the only slot; the second fails the call. */
	EXPECT_EQ(-1, kevent(self->kq, chg, 3, out, 1, NULL));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_FALSE(user_exists(self->kq, 32));
}

TEST_F(core, filter_zero_skipped)
{
	struct kevent chg[3], out[4];

	EV_SET(&chg[0], 5, 0, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&chg[1], 6, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	EV_SET(&chg[2], 7, 0, EV_DELETE | EV_RECEIPT, 0xffffffffu, -1, NULL);
	memset(out, 0, sizeof(out));
	ASSERT_EQ(1, kevent(self->kq, chg, 3, out, 4, NULL));
	EXPECT_EQ(6u, out[0].ident);
	EXPECT_EQ(EVFILT_USER, out[0].filter);
	EXPECT_EQ(EV_ERROR, out[0].flags);
	EXPECT_EQ(0, out[0].data);

	/* Garbage with filter 0 is no error even without room. */
	EV_SET(&chg[0], 8, 0, 0xffff, 0xffffffffu, -1, NULL);
	EXPECT_EQ(0, kevent(self->kq, chg, 1, NULL, 0, NULL));
	EXPECT_EQ(0, kev_poll(self->kq, out, 4));
}

TEST_F(core, unknown_filters_einval)
{
	static const short filters[] = {
		1, 2, 100, SHRT_MAX, -14, -15, -100, SHRT_MIN,
		EVFILT_AIO, EVFILT_FS, EVFILT_LIO, EVFILT_SENDFILE,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(filters); i++) {
		EXPECT_EQ(EINVAL, kq_change(self->kq, 1, filters[i], EV_ADD, 0, 0, NULL))
			TH_LOG("filter %d", filters[i]);
		EXPECT_EQ(EINVAL, kq_receipt(self->kq, 1, filters[i], EV_ADD, 0, 0,
					     NULL))
			TH_LOG("filter %d", filters[i]);
		/* Unknown filter, not an absent knote. */
		EXPECT_EQ(EINVAL, kq_change(self->kq, 1, filters[i], EV_DELETE, 0, 0,
					    NULL))
			TH_LOG("filter %d", filters[i]);
	}
}

/* ext[] and udata pass-through. */

TEST_F(core, ext_udata_passthrough)
{
	struct kevent chg, ev;

	EV_SET(&chg, UINTPTR_MAX, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 77, UDATA(1));
	chg.ext[0] = 0x0123456789abcdefull;
	chg.ext[1] = 0xfedcba9876543210ull;
	chg.ext[2] = 0x8000000000000000ull;
	chg.ext[3] = 0xffffffffffffffffull;
	ASSERT_EQ(0, kevent(self->kq, &chg, 1, NULL, 0, NULL));
	memset(&ev, 0, sizeof(ev));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(UINTPTR_MAX, ev.ident);
	EXPECT_EQ(EVFILT_USER, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(77, ev.data);
	EXPECT_EQ(UDATA(1), ev.udata);
	EXPECT_EQ(0x0123456789abcdefull, ev.ext[0]);
	EXPECT_EQ(0xfedcba9876543210ull, ev.ext[1]);
	EXPECT_EQ(0x8000000000000000ull, ev.ext[2]);
	EXPECT_EQ(0xffffffffffffffffull, ev.ext[3]);

	/* An EV_ADD modification replaces ext[] and udata. */
	EV_SET(&chg, UINTPTR_MAX, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 78, UDATA(2));
	chg.ext[0] = 5;
	chg.ext[1] = 6;
	chg.ext[2] = 7;
	chg.ext[3] = 8;
	ASSERT_EQ(0, kevent(self->kq, &chg, 1, NULL, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(78, ev.data);
	EXPECT_EQ(UDATA(2), ev.udata);
	EXPECT_EQ(5u, ev.ext[0]);
	EXPECT_EQ(6u, ev.ext[1]);
	EXPECT_EQ(7u, ev.ext[2]);
	EXPECT_EQ(8u, ev.ext[3]);
}

/* Timeouts. */

TEST_F(core, nevents_zero_returns_at_once)
{
	struct kevent chg, ev;
	int64_t t0;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));
	EV_SET(&chg, 2, EVFILT_USER, EV_ADD, 0, 0, NULL);
	t0 = now_ns();
	EXPECT_EQ(0, kev_wait(self->kq, &chg, 1, &ev, 0, 5000));
	EXPECT_LT(elapsed_ms(t0), 1000);
	EXPECT_TRUE(user_exists(self->kq, 2));

	/* Nothing pending, no eventlist, long timeout: still at once. */
	EXPECT_EQ(0, kq_user_delete(self->kq, 1));
	t0 = now_ns();
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, NULL, 0, 5000));
	EXPECT_LT(elapsed_ms(t0), 1000);
	/* Even with a NULL timeout. */
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, NULL, 0, -1));
}

TEST_F(core, null_timeout_waits)
{
	struct delayed_trigger d;
	struct kevent ev;
	int64_t t0;

	EXPECT_EQ(0, kq_change(self->kq, 9, EVFILT_USER, EV_ADD, 0, 0, NULL));
	t0 = now_ns();
	ASSERT_EQ(0, delayed_trigger_start(&d, self->kq, 9, 100));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, -1));
	EXPECT_GE(elapsed_ms(t0), 90);
	EXPECT_EQ(9u, ev.ident);
	EXPECT_EQ(0, delayed_trigger_join(&d));
}

TEST_F(core, zero_timeout_polls)
{
	struct timespec zero = { 0, 0 };
	struct kevent ev;
	int64_t t0;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	t0 = now_ns();
	EXPECT_EQ(0, kevent(self->kq, NULL, 0, &ev, 1, &zero));
	EXPECT_LT(elapsed_ms(t0), 500);

	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	ASSERT_EQ(1, kevent(self->kq, NULL, 0, &ev, 1, &zero));
	EXPECT_EQ(1u, ev.ident);
}

TEST_F(core, timeout_expires)
{
	struct timespec ts = { 0, 250000000 };
	struct kevent ev;
	int64_t t0, ns;

	t0 = now_ns();
	EXPECT_EQ(0, kevent(self->kq, NULL, 0, &ev, 1, &ts));
	ns = now_ns() - t0;
	/* A high-resolution timer never fires early. */
	EXPECT_GE(ns, 249000000);
	EXPECT_LT(ns, 5000000000LL);

	ts.tv_sec = 1;
	ts.tv_nsec = 0;
	t0 = now_ns();
	EXPECT_EQ(0, kevent(self->kq, NULL, 0, &ev, 1, &ts));
	ns = now_ns() - t0;
	EXPECT_GE(ns, 999000000);
	EXPECT_LT(ns, 6000000000LL);
}

TEST_F(core, invalid_timeout_einval)
{
	static const struct timespec bad[] = {
		{ 0, 1000000000 }, { 0, -1 }, { -1, 0 }, { -1, 500 }, { 0, LONG_MAX },
		{ LONG_MIN, 0 },
	};
	struct kevent chg, ev;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EV_SET(&chg, 100 + i, EVFILT_USER, EV_ADD, 0, 0, NULL);
		errno = 0;
		EXPECT_EQ(-1, kevent(self->kq, &chg, 1, &ev, 1, &bad[i]))
			TH_LOG("timespec {%ld, %ld}", (long)bad[i].tv_sec, bad[i].tv_nsec);
		EXPECT_EQ(EINVAL, errno);
		/* Checked before any change is applied. */
		EXPECT_FALSE(user_exists(self->kq, 100 + i));
	}
}

/* Arrays and descriptors. */

TEST_F(core, same_array)
{
	struct kevent arr[4];
	int n, i, seen = 0;

	for (i = 0; i < 3; i++)
		EV_SET(&arr[i], 1 + i, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 10 + i,
		       UDATA(1 + i));
	n = kevent(self->kq, arr, 3, arr, 4, NULL);
	ASSERT_EQ(3, n);
	for (i = 0; i < n; i++) {
		ASSERT_GE(arr[i].ident, 1u);
		ASSERT_LE(arr[i].ident, 3u);
		seen |= 1 << arr[i].ident;
		EXPECT_EQ(EVFILT_USER, arr[i].filter);
		EXPECT_EQ(0, arr[i].flags);
		EXPECT_EQ((int64_t)(9 + arr[i].ident), arr[i].data);
		EXPECT_EQ(UDATA(arr[i].ident), arr[i].udata);
	}
	EXPECT_EQ(0xe, seen);

	/* Receipts and errors written over their own changes, in order. */
	EV_SET(&arr[0], 4, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, UDATA(4));
	EV_SET(&arr[1], 99, EVFILT_USER, EV_DELETE, 0, 0, UDATA(99));
	EV_SET(&arr[2], 5, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, UDATA(5));
	ASSERT_EQ(3, kevent(self->kq, arr, 3, arr, 3, NULL));
	EXPECT_EQ(4u, arr[0].ident);
	EXPECT_EQ(EV_ERROR, arr[0].flags);
	EXPECT_EQ(0, arr[0].data);
	EXPECT_EQ(UDATA(4), arr[0].udata);
	EXPECT_EQ(99u, arr[1].ident);
	EXPECT_EQ(EV_ERROR, arr[1].flags);
	EXPECT_EQ(ENOENT, arr[1].data);
	EXPECT_EQ(UDATA(99), arr[1].udata);
	EXPECT_EQ(5u, arr[2].ident);
	EXPECT_EQ(EV_ERROR, arr[2].flags);
	EXPECT_EQ(0, arr[2].data);
	EXPECT_TRUE(user_exists(self->kq, 4));
	EXPECT_TRUE(user_exists(self->kq, 5));
}

TEST_F(core, efault_changelist)
{
	struct kevent ev;
	void *page;

	errno = 0;
	EXPECT_EQ(-1, kevent(self->kq, (void *)1, 1, &ev, 1, NULL));
	EXPECT_EQ(EFAULT, errno);

	page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	errno = 0;
	EXPECT_EQ(-1, kevent(self->kq, page, 1, NULL, 0, NULL));
	EXPECT_EQ(EFAULT, errno);
	munmap(page, 4096);

	/* The kqueue still works. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
}

TEST_F(core, efault_eventlist)
{
	struct kevent ev;
	void *page;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));
	errno = 0;
	EXPECT_EQ(-1, kev_poll(self->kq, (void *)1, 1));
	EXPECT_EQ(EFAULT, errno);

	page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, page);
	errno = 0;
	EXPECT_EQ(-1, kev_poll(self->kq, page, 1));
	EXPECT_EQ(EFAULT, errno);
	munmap(page, 4096);

	/* The level-triggered event is still pending. */
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
}

TEST(ebadf_not_a_kqueue)
{
	struct kevent chg, ev;
	int p[2], fd;

	EV_SET(&chg, 1, EVFILT_USER, EV_ADD, 0, 0, NULL);
	ASSERT_EQ(0, pipe(p));
	errno = 0;
	EXPECT_EQ(-1, kevent(p[0], &chg, 1, &ev, 1, NULL));
	EXPECT_EQ(EBADF, errno);
	errno = 0;
	EXPECT_EQ(-1, kev_poll(p[1], &ev, 1));
	EXPECT_EQ(EBADF, errno);
	close(p[0]);
	close(p[1]);

	fd = open("/dev/null", O_RDWR);
	ASSERT_GE(fd, 0);
	errno = 0;
	EXPECT_EQ(-1, kev_poll(fd, &ev, 1));
	EXPECT_EQ(EBADF, errno);
	close(fd);

	errno = 0;
	EXPECT_EQ(-1, kev_poll(-1, &ev, 1));
	EXPECT_EQ(EBADF, errno);
}

TEST(ebadf_closed)
{
	struct kevent chg, ev;
	int kq;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	EXPECT_EQ(0, kq_user_add(kq, 1, 0));
	ASSERT_EQ(0, close(kq));
	EV_SET(&chg, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	errno = 0;
	EXPECT_EQ(-1, kevent(kq, &chg, 1, &ev, 1, NULL));
	EXPECT_EQ(EBADF, errno);
}

/* Reporting order. */

TEST_F(core, round_robin)
{
	struct kevent ev;
	int round, i, seen;

	for (i = 1; i <= 3; i++) {
		ASSERT_EQ(0, kq_change(self->kq, i, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0,
				       NULL));
	}
	for (round = 0; round < 3; round++) {
		seen = 0;
		for (i = 0; i < 3; i++) {
			ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
			ASSERT_GE(ev.ident, 1u);
			ASSERT_LE(ev.ident, 3u);
			EXPECT_EQ(0, seen & (1 << ev.ident))
				TH_LOG("round %d: ident %lu reported twice", round,
				       (unsigned long)ev.ident);
			seen |= 1 << ev.ident;
		}
		EXPECT_EQ(0xe, seen) TH_LOG("round %d", round);
	}
}

/*
 * Level-triggered descriptors that stay ready are reported in turn, one
 * event per call as well as several: each round reports every one once, in
 * the order of the first round.
 */
TEST_F(core, round_robin_level_triggered)
{
	int p[4][2], first[4], i, j, round;
	struct kevent ev[2];

	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, pipe(p[i]));
		ASSERT_EQ(1, write(p[i][1], "x", 1));
		ASSERT_EQ(0, kq_change(self->kq, p[i][0], EVFILT_READ, EV_ADD, 0, 0, NULL));
	}
	for (round = 0; round < 4; round++) {
		for (i = 0; i < 4; i++) {
			ASSERT_EQ(1, kev_poll(self->kq, ev, 1));
			EXPECT_EQ(1, ev[0].data);
			if (round > 0) {
				EXPECT_EQ(first[i], (int)ev[0].ident)
					TH_LOG("round %d, place %d", round, i);
				continue;
			}
			first[i] = (int)ev[0].ident;
			for (j = 0; j < i; j++)
				EXPECT_NE(first[j], first[i]) TH_LOG("reported twice in a round");
		}
	}
	for (i = 0; i < 4; i += 2) {
		ASSERT_EQ(2, kev_poll(self->kq, ev, 2));
		EXPECT_EQ(first[i], (int)ev[0].ident);
		EXPECT_EQ(first[i + 1], (int)ev[1].ident);
	}
	for (i = 0; i < 4; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
}

/* EINTR: a signal ends the wait, with or without SA_RESTART. */

static int alarms;

static void on_alarm(int sig)
{
	(void)sig;
	__atomic_add_fetch(&alarms, 1, __ATOMIC_SEQ_CST);
}

static void check_eintr(struct __test_metadata *_metadata, int kq, int sa_flags)
{
	struct itimerval it = { .it_value = { 0, 150000 } };
	struct sigaction sa;
	struct kevent chg, ev;
	int64_t t0;
	int ret;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sa.sa_flags = sa_flags;
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	__atomic_store_n(&alarms, 0, __ATOMIC_SEQ_CST);

	EV_SET(&chg, 50, EVFILT_USER, EV_ADD, 0, 0, NULL);
	t0 = now_ns();
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	errno = 0;
	ret = kev_wait(kq, &chg, 1, &ev, 1, 3000);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINTR, errno);
	EXPECT_GE(elapsed_ms(t0), 140);
	EXPECT_LT(elapsed_ms(t0), 2500);
	EXPECT_EQ(1, __atomic_load_n(&alarms, __ATOMIC_SEQ_CST));
	/* The change was applied before the wait. */
	EXPECT_TRUE(user_exists(kq, 50));
}

TEST_F(core, eintr)
{
	check_eintr(_metadata, self->kq, 0);
}

TEST_F(core, eintr_sa_restart)
{
	check_eintr(_metadata, self->kq, SA_RESTART);
}

/* The raw ioctl ABI, through <linux/kqueue.h> alone. */

TEST(abi_layout)
{
	EXPECT_EQ(64u, sizeof(struct kqueue_event));
	EXPECT_EQ(sizeof(struct kevent), sizeof(struct kqueue_event));
	EXPECT_EQ(offsetof(struct kevent, ident), offsetof(struct kqueue_event, ident));
	EXPECT_EQ(offsetof(struct kevent, filter), offsetof(struct kqueue_event, filter));
	EXPECT_EQ(offsetof(struct kevent, flags), offsetof(struct kqueue_event, flags));
	EXPECT_EQ(offsetof(struct kevent, fflags), offsetof(struct kqueue_event, fflags));
	EXPECT_EQ(offsetof(struct kevent, data), offsetof(struct kqueue_event, data));
	EXPECT_EQ(offsetof(struct kevent, udata), offsetof(struct kqueue_event, udata));
	EXPECT_EQ(offsetof(struct kevent, ext), offsetof(struct kqueue_event, ext));
	EXPECT_EQ(0u, offsetof(struct kqueue_event, ident));
	EXPECT_EQ(8u, offsetof(struct kqueue_event, filter));
	EXPECT_EQ(10u, offsetof(struct kqueue_event, flags));
	EXPECT_EQ(12u, offsetof(struct kqueue_event, fflags));
	EXPECT_EQ(16u, offsetof(struct kqueue_event, data));
	EXPECT_EQ(24u, offsetof(struct kqueue_event, udata));
	EXPECT_EQ(32u, offsetof(struct kqueue_event, ext));

	EXPECT_EQ(16u, sizeof(struct kqueue_timespec));
	EXPECT_EQ(64u, sizeof(struct kqueue_kevent_args));
	EXPECT_EQ(0u, offsetof(struct kqueue_kevent_args, changelist));
	EXPECT_EQ(8u, offsetof(struct kqueue_kevent_args, eventlist));
	EXPECT_EQ(16u, offsetof(struct kqueue_kevent_args, nchanges));
	EXPECT_EQ(20u, offsetof(struct kqueue_kevent_args, nevents));
	EXPECT_EQ(24u, offsetof(struct kqueue_kevent_args, flags));
	EXPECT_EQ(28u, offsetof(struct kqueue_kevent_args, reserved0));
	EXPECT_EQ(32u, offsetof(struct kqueue_kevent_args, timeout));
	EXPECT_EQ(48u, offsetof(struct kqueue_kevent_args, reserved));
	EXPECT_EQ(0xc040b901u, (unsigned int)KQUEUE_IOC_KEVENT);
}

TEST_F(core, ioctl_basic)
{
	struct kqueue_event chg, ev;
	struct kqueue_kevent_args args, copy;

	/* All zero: no changes, no room, wait forever: returns 0 at once. */
	memset(&args, 0, sizeof(args));
	EXPECT_EQ(0, raw_kevent(self->kq, &args));

	memset(&chg, 0, sizeof(chg));
	chg.ident = 3;
	chg.filter = KQ_EVFILT_USER;
	chg.flags = KQ_EV_ADD;
	chg.fflags = KQ_NOTE_TRIGGER;
	chg.data = 42;
	chg.udata = 0xdeadbeefcafef00dull;
	chg.ext[3] = 9;
	memset(&ev, 0, sizeof(ev));
	args.changelist = (uintptr_t)&chg;
	args.nchanges = 1;
	args.eventlist = (uintptr_t)&ev;
	args.nevents = 1;
	args.flags = KQUEUE_KEVENT_TIMEOUT;
	args.timeout.tv_sec = 0;
	args.timeout.tv_nsec = 0;
	copy = args;
	ASSERT_EQ(1, raw_kevent(self->kq, &args));
	EXPECT_EQ(3u, ev.ident);
	EXPECT_EQ(KQ_EVFILT_USER, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(42, ev.data);
	EXPECT_EQ(0xdeadbeefcafef00dull, ev.udata);
	EXPECT_EQ(9u, ev.ext[3]);
	/* The kernel does not write to the argument structure. */
	EXPECT_EQ(0, memcmp(&copy, &args, sizeof(args)));
}

TEST_F(core, ioctl_unknown_flags_einval)
{
	static const __u32 bad[] = { 0x2, 0x4, 0x80000000u, ~0u };
	struct kqueue_kevent_args args;
	struct kqueue_event chg, ev;
	unsigned int i;

	memset(&chg, 0, sizeof(chg));
	chg.ident = 1;
	chg.filter = KQ_EVFILT_USER;
	chg.flags = KQ_EV_ADD;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&args, 0, sizeof(args));
		args.changelist = (uintptr_t)&chg;
		args.nchanges = 1;
		args.eventlist = (uintptr_t)&ev;
		args.nevents = 1;
		args.flags = bad[i];
		errno = 0;
		EXPECT_EQ(-1, raw_kevent(self->kq, &args)) TH_LOG("flags %#x", bad[i]);
		EXPECT_EQ(EINVAL, errno);
	}
	/* No change was applied. */
	EXPECT_FALSE(user_exists(self->kq, 1));
}

TEST_F(core, ioctl_reserved_einval)
{
	struct kqueue_kevent_args args;
	struct kqueue_event ev;
	int i;

	for (i = 0; i < 4; i++) {
		memset(&args, 0, sizeof(args));
		args.eventlist = (uintptr_t)&ev;
		args.nevents = 1;
		args.flags = KQUEUE_KEVENT_TIMEOUT;
		switch (i) {
		case 0:
			args.reserved0 = 1;
			break;
		case 1:
			args.reserved0 = 0x80000000u;
			break;
		case 2:
			args.reserved[0] = 1;
			break;
		case 3:
			args.reserved[1] = 1ull << 63;
			break;
		}
		errno = 0;
		EXPECT_EQ(-1, raw_kevent(self->kq, &args)) TH_LOG("case %d", i);
		EXPECT_EQ(EINVAL, errno);
	}
}

TEST_F(core, ioctl_counts_einval)
{
	struct kqueue_kevent_args args;
	struct kqueue_event buf[2];

	memset(buf, 0, sizeof(buf));
	memset(&args, 0, sizeof(args));
	args.changelist = (uintptr_t)buf;
	args.nchanges = KQUEUE_MAX_CHANGES + 1;
	args.flags = KQUEUE_KEVENT_TIMEOUT;
	errno = 0;
	EXPECT_EQ(-1, raw_kevent(self->kq, &args));
	EXPECT_EQ(EINVAL, errno);

	args.nchanges = 0xffffffffu;
	errno = 0;
	EXPECT_EQ(-1, raw_kevent(self->kq, &args));
	EXPECT_EQ(EINVAL, errno);

	memset(&args, 0, sizeof(args));
	args.eventlist = (uintptr_t)buf;
	args.nevents = KQUEUE_MAX_EVENTS + 1;
	args.flags = KQUEUE_KEVENT_TIMEOUT;
	errno = 0;
	EXPECT_EQ(-1, raw_kevent(self->kq, &args));
	EXPECT_EQ(EINVAL, errno);

	args.nevents = 0xffffffffu;
	errno = 0;
	EXPECT_EQ(-1, raw_kevent(self->kq, &args));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(core, ioctl_invalid_timeout_einval)
{
	static const struct kqueue_timespec bad[] = {
		{ 0, 1000000000 }, { 0, -1 }, { -1, 0 },
	};
	struct kqueue_kevent_args args;
	struct kqueue_event ev;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&args, 0, sizeof(args));
		args.eventlist = (uintptr_t)&ev;
		args.nevents = 1;
		args.flags = KQUEUE_KEVENT_TIMEOUT;
		args.timeout = bad[i];
		errno = 0;
		EXPECT_EQ(-1, raw_kevent(self->kq, &args)) TH_LOG("case %u", i);
		EXPECT_EQ(EINVAL, errno);
	}
}

TEST_F(core, ioctl_unknown_cmd_enotty)
{
	struct kqueue_kevent_args args;
	char big[128];

	memset(&args, 0, sizeof(args));
	memset(big, 0, sizeof(big));
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->kq, _IOWR(KQUEUE_IOC_MAGIC, 0x7f,
					    struct kqueue_kevent_args), &args));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->kq, _IO(KQUEUE_IOC_MAGIC, 1), 0));
	EXPECT_EQ(ENOTTY, errno);
	/* Same number, other direction or size. */
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->kq, _IOR(KQUEUE_IOC_MAGIC, 1,
					   struct kqueue_kevent_args), &args));
	EXPECT_EQ(ENOTTY, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->kq, _IOWR(KQUEUE_IOC_MAGIC, 1, char[128]), big));
	EXPECT_EQ(ENOTTY, errno);
	/* Another magic. */
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->kq, _IOWR('T', 1, struct kqueue_kevent_args),
			    &args));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(core, ioctl_bad_pointers)
{
	struct kqueue_kevent_args args;
	int p[2];

	errno = 0;
	EXPECT_EQ(-1, ioctl(self->kq, KQUEUE_IOC_KEVENT, NULL));
	EXPECT_EQ(EFAULT, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->kq, KQUEUE_IOC_KEVENT, (void *)1));
	EXPECT_EQ(EFAULT, errno);

	memset(&args, 0, sizeof(args));
	args.changelist = 8;
	args.nchanges = 1;
	errno = 0;
	EXPECT_EQ(-1, raw_kevent(self->kq, &args));
	EXPECT_EQ(EFAULT, errno);

	/* The kernel's own answer on a descriptor that is not a kqueue. */
	ASSERT_EQ(0, pipe(p));
	memset(&args, 0, sizeof(args));
	errno = 0;
	EXPECT_EQ(-1, raw_kevent(p[0], &args));
	EXPECT_EQ(ENOTTY, errno);
	close(p[0]);
	close(p[1]);
}

/* poll(), select() and epoll on a kqueue descriptor. */

TEST_F(core, poll_readiness)
{
	struct pollfd pfd = { .fd = self->kq, .events = POLLIN };
	struct timeval tv = { 0, 0 };
	struct kevent ev;
	fd_set rfds;

	EXPECT_EQ(0, poll(&pfd, 1, 0));
	EXPECT_EQ(0, kq_user_add(self->kq, 1, EV_CLEAR));
	EXPECT_EQ(0, poll(&pfd, 1, 0));

	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	pfd.revents = 0;
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN, pfd.revents);

	pfd.events = POLLIN | POLLRDNORM;
	pfd.revents = 0;
	ASSERT_EQ(1, poll(&pfd, 1, 0));
	EXPECT_EQ(POLLIN | POLLRDNORM, pfd.revents);

	FD_ZERO(&rfds);
	FD_SET(self->kq, &rfds);
	EXPECT_EQ(1, select(self->kq + 1, &rfds, NULL, NULL, &tv));
	EXPECT_TRUE(FD_ISSET(self->kq, &rfds));

	/* poll() does not consume the event. */
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	/* Collected (EV_CLEAR): nothing pending any more. */
	pfd.events = POLLIN;
	EXPECT_EQ(0, poll(&pfd, 1, 0));
	FD_ZERO(&rfds);
	FD_SET(self->kq, &rfds);
	tv.tv_sec = 0;
	tv.tv_usec = 0;
	EXPECT_EQ(0, select(self->kq + 1, &rfds, NULL, NULL, &tv));
}

TEST_F(core, poll_wakes)
{
	struct pollfd pfd = { .fd = self->kq, .events = POLLIN };
	struct delayed_trigger d;
	int64_t t0;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	t0 = now_ns();
	ASSERT_EQ(0, delayed_trigger_start(&d, self->kq, 1, 100));
	ASSERT_EQ(1, poll(&pfd, 1, 5000));
	EXPECT_GE(elapsed_ms(t0), 90);
	EXPECT_LT(elapsed_ms(t0), 4000);
	EXPECT_EQ(POLLIN, pfd.revents & POLLIN);
	EXPECT_EQ(0, delayed_trigger_join(&d));
}

TEST_F(core, epoll_wakes)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.u64 = 0x1234 };
	struct delayed_trigger d;
	struct kevent ev;
	int64_t t0;
	int ep;

	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(ep, 0);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->kq, &ee));
	EXPECT_EQ(0, kq_user_add(self->kq, 1, EV_CLEAR));
	EXPECT_EQ(0, epoll_wait(ep, &ee, 1, 0));

	t0 = now_ns();
	ASSERT_EQ(0, delayed_trigger_start(&d, self->kq, 1, 100));
	memset(&ee, 0, sizeof(ee));
	ASSERT_EQ(1, epoll_wait(ep, &ee, 1, 5000));
	EXPECT_GE(elapsed_ms(t0), 90);
	EXPECT_LT(elapsed_ms(t0), 4000);
	EXPECT_EQ((uint32_t)EPOLLIN, ee.events & EPOLLIN);
	EXPECT_EQ(0x1234u, ee.data.u64);
	EXPECT_EQ(0, delayed_trigger_join(&d));

	/* Collect it; epoll then reports nothing. */
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(0, epoll_wait(ep, &ee, 1, 0));
	close(ep);
}

TEST_HARNESS_MAIN
