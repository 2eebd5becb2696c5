// SPDX-License-Identifier: GPL-2.0
/*
 * EVFILT_READ and EVFILT_WRITE on files other than pipes and sockets (regular
 * files, eventfd, timerfd, signalfd, ptys, /dev/null, kqueues), and what
 * keying knotes by descriptor means: close() removes them, a reused
 * descriptor number inherits nothing, dup() gives an independent ident, the
 * file is released by the next kevent() call, many threads, and registering
 * 10,000 descriptors in one call. doc/semantics.md and the EVFILT_READ/WRITE
 * section of the reference are the contract.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <termios.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

static char buf[4096];

static ssize_t put(int fd, size_t n)
{
	memset(buf, 'x', n);
	return write(fd, buf, n);
}

/* A new file in /tmp (tmpfs) with @n bytes, open O_RDWR, offset at the end. */
static int tmp_file(size_t n)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/tmp/kqueue-fd-test-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	unlink(path);
	if (n && put(fd, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

FIXTURE(fd) {
	int kq;
};

FIXTURE_SETUP(fd)
{
	signal(SIGPIPE, SIG_IGN);
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(fd)
{
	if (self->kq >= 0)
		close(self->kq);
}

/* Regular files. */

TEST_F(fd, regular_read_data)
{
	struct kevent ev;
	int fd;

	fd = tmp_file(100);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(30, lseek(fd, 30, SEEK_SET));
	ASSERT_EQ(0, kq_change(self->kq, fd, EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));

	/* data = bytes from the offset to the end of the file. */
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ((uintptr_t)fd, ev.ident);
	EXPECT_EQ(EVFILT_READ, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(70, ev.data);
	EXPECT_EQ(UDATA(1), ev.udata);
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(70, ev.data);

	/* Reading moves the offset. */
	ASSERT_EQ(20, read(fd, buf, 20));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(50, ev.data);

	/* At the end: not reported. */
	ASSERT_EQ(50, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	close(fd);
}

TEST_F(fd, regular_at_eof_not_reported)
{
	struct kevent ev;
	int fd, empty;

	fd = tmp_file(100);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, fd, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	empty = tmp_file(0);
	ASSERT_GE(empty, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, empty, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	close(empty);
	close(fd);
}

/* A reader at the end of a file is woken when the file grows. */
TEST_F(fd, regular_growth_wakes_waiter)
{
	struct waiter w;
	struct kevent ev;
	int fd;

	fd = tmp_file(100);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, fd, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(0, waiter_start(&w, self->kq, 5000, 50));
	EXPECT_FALSE(waiter_done(&w));
	/* pwrite() leaves our offset at 100: 10 bytes lie beyond it now. */
	ASSERT_EQ(10, pwrite(fd, buf, 10, 100));
	ASSERT_TRUE(waiter_wait(&w, 5000));
	ASSERT_EQ(1, w.ret);
	EXPECT_EQ((uintptr_t)fd, w.ev.ident);
	EXPECT_EQ(EVFILT_READ, w.ev.filter);
	EXPECT_EQ(10, w.ev.data);
	EXPECT_LT(waiter_blocked_ms(&w), 4000);

	/* Level-triggered: reported until the reader catches up. */
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(10, ev.data);
	ASSERT_EQ(10, read(fd, buf, sizeof(buf)));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	close(fd);
}

/* EV_CLEAR on a regular file: one report per growth. */
TEST_F(fd, regular_growth_clear)
{
	struct kevent ev;
	int fd;

	fd = tmp_file(0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, fd, EVFILT_READ, EV_CLEAR, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(5, pwrite(fd, buf, 5, 0));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(5, ev.data);
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(5, pwrite(fd, buf, 5, 5));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(10, ev.data);

	/* Shrinking below the offset is no growth. */
	ASSERT_EQ(0, ftruncate(fd, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	close(fd);
}

TEST_F(fd, regular_note_file_poll)
{
	struct kevent ev;
	int fd;

	fd = tmp_file(100);
	ASSERT_GE(fd, 0);
	/* Always ready, like poll(): also at the end of the file, data 0. */
	ASSERT_EQ(0, kq_fd_add(self->kq, fd, EVFILT_READ, 0, NOTE_FILE_POLL, 0));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(0, ev.data);
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.data);

	/* data still counts the bytes to the end. */
	ASSERT_EQ(40, lseek(fd, 40, SEEK_SET));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(60, ev.data);
	close(fd);
}

TEST_F(fd, regular_write_always)
{
	struct kevent ev;
	int fd;

	fd = tmp_file(100);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, fd, EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ((uintptr_t)fd, ev.ident);
	EXPECT_EQ(EVFILT_WRITE, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.data);
	close(fd);
}

/* Other files: whatever ->poll() says, data 0. */

TEST_F(fd, eventfd)
{
	struct kevent evs[4];
	uint64_t v = 3;
	int efd, i;

	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_GE(efd, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, efd, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll(self->kq, evs, 4));

	ASSERT_EQ(8, write(efd, &v, 8));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	EXPECT_EQ((uintptr_t)efd, evs[0].ident);
	EXPECT_EQ(EVFILT_READ, evs[0].filter);
	EXPECT_EQ(0, evs[0].flags);
	EXPECT_EQ(0, evs[0].data);
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));

	ASSERT_EQ(8, read(efd, &v, 8));
	EXPECT_EQ(3u, v);
	EXPECT_EQ(0, kev_poll(self->kq, evs, 4));

	/* Writable while the counter can take more. */
	ASSERT_EQ(0, kq_fd_add(self->kq, efd, EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	i = find_event(evs, 1, efd, EVFILT_WRITE);
	ASSERT_EQ(0, i);
	EXPECT_EQ(0, evs[i].flags);
	EXPECT_EQ(0, evs[i].data);
	close(efd);
}

TEST_F(fd, timerfd)
{
	struct itimerspec its = { .it_value = { 0, 100 * 1000000 } };
	struct kevent ev;
	uint64_t exp;
	int64_t t0;
	int tfd;

	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ASSERT_GE(tfd, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, tfd, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	t0 = now_ns();
	ASSERT_EQ(0, timerfd_settime(tfd, 0, &its, NULL));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 3000));
	EXPECT_GE(elapsed_ms(t0), 90);
	EXPECT_EQ((uintptr_t)tfd, ev.ident);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);

	ASSERT_EQ(8, read(tfd, &exp, 8));
	EXPECT_EQ(1u, exp);
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	close(tfd);
}

TEST_F(fd, signalfd)
{
	struct signalfd_siginfo si;
	struct kevent ev;
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	ASSERT_EQ(0, sigprocmask(SIG_BLOCK, &mask, NULL));
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	ASSERT_GE(sfd, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, sfd, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_EQ(1, kev_wait_for(self->kq, sfd, EVFILT_READ, &ev, 3000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);

	ASSERT_EQ((ssize_t)sizeof(si), read(sfd, &si, sizeof(si)));
	EXPECT_EQ((uint32_t)SIGUSR1, si.ssi_signo);
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	close(sfd);
}

TEST_F(fd, pty)
{
	struct termios tio;
	struct kevent ev;
	char *name;
	int m, s;

	m = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
	ASSERT_GE(m, 0) TH_LOG("posix_openpt: %s", strerror(errno));
	ASSERT_EQ(0, grantpt(m));
	ASSERT_EQ(0, unlockpt(m));
	name = ptsname(m);
	ASSERT_NE(NULL, name);
	s = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK);
	ASSERT_GE(s, 0) TH_LOG("%s: %s", name, strerror(errno));
	ASSERT_EQ(0, tcgetattr(s, &tio));
	cfmakeraw(&tio);
	ASSERT_EQ(0, tcsetattr(s, TCSANOW, &tio));

	/* Master: readable once the slave wrote. */
	ASSERT_EQ(0, kq_fd_add(self->kq, m, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(3, write(s, "abc", 3));
	ASSERT_EQ(1, kev_wait_for(self->kq, m, EVFILT_READ, &ev, 3000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);
	ASSERT_EQ(3, read(m, buf, sizeof(buf)));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(0, kq_change(self->kq, m, EVFILT_READ, EV_DELETE, 0, 0, NULL));

	/* Slave: readable once the master wrote. */
	ASSERT_EQ(0, kq_fd_add(self->kq, s, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(3, write(m, "xyz", 3));
	ASSERT_EQ(1, kev_wait_for(self->kq, s, EVFILT_READ, &ev, 3000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);
	ASSERT_EQ(0, kq_change(self->kq, s, EVFILT_READ, EV_DELETE, 0, 0, NULL));

	/* Writable. */
	ASSERT_EQ(0, kq_fd_add(self->kq, m, EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(1, kev_wait_for(self->kq, m, EVFILT_WRITE, &ev, 3000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);

	close(s);
	close(m);
}

TEST_F(fd, dev_null)
{
	struct kevent evs[4];
	int fd, i;

	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, kq_change(self->kq, fd, EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(0, kq_change(self->kq, fd, EVFILT_WRITE, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(2, kev_poll(self->kq, evs, 4));
	i = find_event(evs, 2, fd, EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(0, evs[i].flags);
	EXPECT_EQ(0, evs[i].data);
	EXPECT_EQ(UDATA(1), evs[i].udata);
	i = find_event(evs, 2, fd, EVFILT_WRITE);
	ASSERT_GE(i, 0);
	EXPECT_EQ(0, evs[i].flags);
	EXPECT_EQ(0, evs[i].data);
	EXPECT_EQ(UDATA(2), evs[i].udata);
	/* Level-triggered. */
	EXPECT_EQ(2, kev_poll(self->kq, evs, 4));
	close(fd);
}

/* kqueues in kqueues. */

TEST_F(fd, kqueue_pending_count)
{
	struct kevent evs[4];
	int inner;

	inner = kqueue();
	ASSERT_GE(inner, 0);
	ASSERT_EQ(0, kq_user_add(inner, 1, EV_CLEAR));
	ASSERT_EQ(0, kq_user_add(inner, 2, EV_CLEAR));
	ASSERT_EQ(0, kq_change(self->kq, inner, EVFILT_READ, EV_ADD, 0, 0, UDATA(7)));
	EXPECT_EQ(0, kev_poll(self->kq, evs, 4));

	ASSERT_EQ(0, kq_user_trigger(inner, 1));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	EXPECT_EQ((uintptr_t)inner, evs[0].ident);
	EXPECT_EQ(EVFILT_READ, evs[0].filter);
	EXPECT_EQ(0, evs[0].flags);
	EXPECT_EQ(1, evs[0].data);
	EXPECT_EQ(UDATA(7), evs[0].udata);

	/* data = number of pending events. */
	ASSERT_EQ(0, kq_user_trigger(inner, 2));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	EXPECT_EQ(2, evs[0].data);

	/* Collected from the inner kqueue: nothing pending, not reported. */
	ASSERT_EQ(2, kev_poll(inner, evs, 4));
	EXPECT_EQ(0, kev_poll(self->kq, evs, 4));
	close(inner);
}

TEST_F(fd, kqueue_wakes_thread)
{
	struct waiter w;
	int inner;

	inner = kqueue();
	ASSERT_GE(inner, 0);
	ASSERT_EQ(0, kq_user_add(inner, 1, 0));
	ASSERT_EQ(0, kq_fd_add(self->kq, inner, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, waiter_start(&w, self->kq, 5000, 100));
	EXPECT_FALSE(waiter_done(&w));

	ASSERT_EQ(0, kq_user_trigger(inner, 1));
	ASSERT_TRUE(waiter_wait(&w, 4000));
	ASSERT_EQ(1, w.ret);
	EXPECT_EQ((uintptr_t)inner, w.ev.ident);
	EXPECT_EQ(EVFILT_READ, w.ev.filter);
	EXPECT_EQ(1, w.ev.data);
	EXPECT_LT(waiter_blocked_ms(&w), 4000);
	close(inner);
}

TEST_F(fd, kqueue_self_einval)
{
	EXPECT_EQ(EINVAL, kq_fd_add(self->kq, self->kq, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(self->kq, self->kq, EVFILT_WRITE, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, self->kq, EVFILT_READ, EV_ADD, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, self->kq, EVFILT_READ, EV_DELETE, 0, 0, NULL));
}

/* One level of nesting: a watcher cannot be watched, a watched kqueue cannot watch. */
TEST_F(fd, kqueue_nesting_one_level)
{
	int a = self->kq, b, c;

	b = kqueue();
	ASSERT_GE(b, 0);
	c = kqueue();
	ASSERT_GE(c, 0);

	ASSERT_EQ(0, kq_fd_add(a, b, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(b, c, EVFILT_READ, 0, 0, 0));	/* B is watched */
	EXPECT_EQ(EINVAL, kq_fd_add(c, a, EVFILT_READ, 0, 0, 0));	/* A watches */
	EXPECT_EQ(EINVAL, kq_fd_add(b, a, EVFILT_READ, 0, 0, 0));	/* a loop */
	EXPECT_EQ(EINVAL, kq_fd_add(b, a, EVFILT_WRITE, 0, 0, 0));
	/* A may watch several. */
	EXPECT_EQ(0, kq_fd_add(a, c, EVFILT_READ, 0, 0, 0));

	/* Deleting the knotes ends the nesting. */
	ASSERT_EQ(0, kq_change(a, b, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	ASSERT_EQ(0, kq_change(a, c, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(0, kq_fd_add(b, c, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(a, b, EVFILT_READ, 0, 0, 0));	/* B watches now */

	/* So does closing the watcher. */
	ASSERT_EQ(0, close(b));
	EXPECT_EQ(0, kq_fd_add(c, a, EVFILT_READ, 0, 0, 0));
	close(c);
}

/* Closing a watched kqueue: its knote goes, and so does the nesting. */
/*
 * A loop through epoll, which the nesting check cannot see: the kqueue is in
 * an epoll set and watches that epoll. A wake-up of the kqueue runs the
 * epoll's callback, which wakes the kqueue's knote on the epoll, which wakes
 * the kqueue again: the module must cut that (a second take of the same
 * wait-queue lock would hang the CPU), and events still flow both ways.
 */
TEST_F(fd, kqueue_epoll_loop)
{
	struct epoll_event eev = { .events = EPOLLIN };
	struct kevent evs[8];
	struct waiter w;
	int ep, n, i, user = 0;

	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(ep, 0);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->kq, &eev));
	ASSERT_EQ(0, kq_fd_add(self->kq, ep, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_user_add(self->kq, 1, EV_CLEAR));
	/* The epoll knote is looked at once and dropped: nothing is ready. */
	EXPECT_EQ(0, kev_poll(self->kq, evs, 8));

	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, kq_user_trigger(self->kq, 1));
		/* The epoll sees the kqueue readable. */
		EXPECT_EQ(1, epoll_wait(ep, &eev, 1, 0));
		n = kev_poll(self->kq, evs, 8);
		ASSERT_GE(n, 1);
		EXPECT_GE(find_event(evs, n, 1, EVFILT_USER), 0);
	}

	/* A thread blocked in kevent() is woken through the loop too. */
	ASSERT_EQ(0, waiter_start(&w, self->kq, 5000, 50));
	ASSERT_EQ(0, kq_user_trigger(self->kq, 1));
	ASSERT_TRUE(waiter_wait(&w, 5000));
	EXPECT_GE(w.ret, 1);
	if (w.ret >= 1 && w.ev.filter == EVFILT_USER)
		user = 1;
	if (!user)
		EXPECT_GE(find_event(evs, kev_poll(self->kq, evs, 8), 1, EVFILT_USER), 0);
	close(ep);
}

TEST_F(fd, kqueue_close_watched)
{
	struct kevent ev;
	int b, d;

	b = kqueue();
	ASSERT_GE(b, 0);
	ASSERT_EQ(0, kq_user_add(b, 1, 0));
	ASSERT_EQ(0, kq_user_trigger(b, 1));
	ASSERT_EQ(0, kq_fd_add(self->kq, b, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(0, close(b));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	/* A no longer watches anything: it may be watched. */
	d = kqueue();
	ASSERT_GE(d, 0);
	EXPECT_EQ(0, kq_fd_add(d, self->kq, EVFILT_READ, 0, 0, 0));
	close(d);
}

/* Keyed by descriptor. */

TEST_F(fd, close_removes_knote)
{
	struct kevent ev, evs[4];
	int p[2];

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(5, put(p[1], 5));
	ASSERT_EQ(0, kq_fd_add(self->kq, p[0], EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(self->kq, p[1], EVFILT_WRITE, 0, 0, 0));
	EXPECT_EQ(2, kev_poll(self->kq, evs, 4));

	ASSERT_EQ(0, close(p[0]));
	ASSERT_EQ(0, close(p[1]));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 100));
	EXPECT_EQ(EBADF, kq_change(self->kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(EBADF, kq_change(self->kq, p[1], EVFILT_WRITE, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(EBADF, kq_change(self->kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL));
}

/*
 * A new file on the number of a watched descriptor inherits nothing: nothing
 * is reported for it, EV_DELETE finds no knote, EV_ADD makes a fresh one.
 */
TEST_F(fd, reuse_after_kevent)
{
	struct kevent ev;
	int p[2], q[2], n;

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(3, put(p[1], 3));
	n = p[0];
	ASSERT_EQ(0, kq_change(self->kq, n, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, UDATA(1)));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(0, close(n));

	ASSERT_EQ(0, pipe2(q, O_NONBLOCK));
	if (q[0] != n) {
		ASSERT_EQ(n, dup2(q[0], n));
		close(q[0]);
	}
	ASSERT_EQ(9, put(q[1], 9));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 100));
	EXPECT_EQ(ENOENT, kq_change(self->kq, n, EVFILT_READ, EV_DELETE, 0, 0, NULL));

	/* Registered anew: its own flags and udata, level-triggered. */
	ASSERT_EQ(0, kq_change(self->kq, n, EVFILT_READ, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ((uintptr_t)n, ev.ident);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(9, ev.data);
	EXPECT_EQ(UDATA(2), ev.udata);
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));

	close(n);
	close(p[1]);
	close(q[1]);
}

/* The same, with dup2() replacing the watched descriptor in place. */
TEST_F(fd, reuse_dup2_over)
{
	struct kevent ev;
	int p[2], q[2];

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, pipe2(q, O_NONBLOCK));
	ASSERT_EQ(0, kq_change(self->kq, p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0,
			       UDATA(1)));
	ASSERT_EQ(4, put(q[1], 4));
	ASSERT_EQ(p[0], dup2(q[0], p[0]));

	/* No kevent() in between: EV_DELETE first. */
	EXPECT_EQ(ENOENT, kq_change(self->kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	/* The old read end is gone with the knote: the old pipe has no reader. */
	errno = 0;
	EXPECT_EQ(-1, put(p[1], 1));
	EXPECT_EQ(EPIPE, errno);

	/* EV_ADD is a new knote (not EV_ONESHOT). */
	ASSERT_EQ(0, kq_change(self->kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(4, ev.data);
	EXPECT_EQ(UDATA(2), ev.udata);
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));

	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

TEST_F(fd, dup_independent)
{
	struct kevent evs[4];
	int p[2], d, i;

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	d = dup(p[0]);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, kq_change(self->kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(0, kq_change(self->kq, d, EVFILT_READ, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(5, put(p[1], 5));

	ASSERT_EQ(2, kev_poll(self->kq, evs, 4));
	i = find_event(evs, 2, p[0], EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(UDATA(1), evs[i].udata);
	EXPECT_EQ(5, evs[i].data);
	i = find_event(evs, 2, d, EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(UDATA(2), evs[i].udata);
	EXPECT_EQ(5, evs[i].data);

	/* Closing one descriptor of the file leaves the other's knote. */
	ASSERT_EQ(0, close(p[0]));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	EXPECT_EQ((uintptr_t)d, evs[0].ident);
	EXPECT_EQ(UDATA(2), evs[0].udata);
	EXPECT_EQ(5, evs[0].data);
	EXPECT_EQ(EBADF, kq_change(self->kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL));

	/* Also for a wake-up after the close. */
	ASSERT_EQ(5, read(d, buf, sizeof(buf)));
	EXPECT_EQ(0, kev_poll(self->kq, evs, 4));
	ASSERT_EQ(2, put(p[1], 2));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	EXPECT_EQ((uintptr_t)d, evs[0].ident);
	EXPECT_EQ(2, evs[0].data);

	close(d);
	close(p[1]);
}

/*
 * The knote's reference to the file is dropped by the next kevent() call at
 * the latest: then the pipe has no reader and write() fails with EPIPE.
 */
TEST_F(fd, close_releases_file)
{
	struct kevent ev;
	int p[2];

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, kq_fd_add(self->kq, p[0], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(0, close(p[0]));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	errno = 0;
	EXPECT_EQ(-1, put(p[1], 1));
	EXPECT_EQ(EPIPE, errno);
	close(p[1]);
}

/*
 * The same with 100 other descriptor knotes in the kqueue; the closed one has
 * the highest descriptor number. The documented bound (doc/semantics.md):
 * each kevent() call sweeps 16 knotes, so with 101 knotes the file is
 * released within ceil(101 / 16) = 7 calls.
 */
TEST_F(fd, close_releases_file_many_knotes)
{
	struct kevent ev;
	int p[101][2], i;

	for (i = 0; i < 101; i++) {
		ASSERT_EQ(0, pipe2(p[i], O_NONBLOCK));
		ASSERT_EQ(0, kq_fd_add(self->kq, p[i][0], EVFILT_READ, 0, 0, 0));
	}
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(0, close(p[100][0]));
	for (i = 0; i < 7; i++)
		EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	errno = 0;
	EXPECT_EQ(-1, put(p[100][1], 1))
		TH_LOG("the closed read end is still held after seven kevent() calls");
	EXPECT_EQ(EPIPE, errno);
	for (i = 0; i < 101; i++) {
		if (i < 100)
			close(p[i][0]);
		close(p[i][1]);
	}
}

/* Threads. */

#define MT_PIPES	50
#define MT_WAITERS	4
#define MT_WRITERS	2

struct mt {
	int kq;
	int rd[MT_PIPES];
	int wr[MT_PIPES];
	int seen[MT_PIPES];
	int bytes[MT_PIPES];
	int total;
	int bad_data;
	int errors;
	int64_t deadline_ms;
};

struct mt_writer {
	struct mt *m;
	int first, count;
};

static void *mt_waiter_fn(void *arg)
{
	struct mt *m = arg;
	struct kevent evs[4];
	char rbuf[64];
	int i, j, n, r;

	while (__atomic_load_n(&m->total, __ATOMIC_SEQ_CST) < MT_PIPES &&
	       now_ms() < m->deadline_ms) {
		n = kev_wait(m->kq, NULL, 0, evs, 4, 100);
		if (n < 0) {
			__atomic_add_fetch(&m->errors, 1, __ATOMIC_SEQ_CST);
			break;
		}
		for (i = 0; i < n; i++) {
			for (j = 0; j < MT_PIPES; j++)
				if (evs[i].ident == (uintptr_t)m->rd[j])
					break;
			if (j == MT_PIPES || evs[i].filter != EVFILT_READ) {
				__atomic_add_fetch(&m->errors, 1, __ATOMIC_SEQ_CST);
				continue;
			}
			if (evs[i].data != 8)
				__atomic_add_fetch(&m->bad_data, 1, __ATOMIC_SEQ_CST);
			r = read(m->rd[j], rbuf, sizeof(rbuf));
			if (r > 0)
				__atomic_add_fetch(&m->bytes[j], r, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&m->seen[j], 1, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&m->total, 1, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

static void *mt_writer_fn(void *arg)
{
	struct mt_writer *w = arg;
	uint64_t v;
	int i;

	for (i = w->first; i < w->first + w->count; i++) {
		v = i;
		if (write(w->m->wr[i], &v, 8) != 8)
			__atomic_add_fetch(&w->m->errors, 1, __ATOMIC_SEQ_CST);
		close(w->m->wr[i]);
		if (i % 5 == 0)
			sleep_ms(1);
	}
	return NULL;
}

/* 4 threads wait on one kqueue while 2 threads write to and close 50 pipes. */
TEST_F(fd, threads_many_pipes)
{
	struct kevent chg[MT_PIPES];
	pthread_t waiters[MT_WAITERS], writers[MT_WRITERS];
	struct mt_writer wa[MT_WRITERS];
	struct kevent ev;
	struct mt m;
	int i, p[2];

	memset(&m, 0, sizeof(m));
	m.kq = self->kq;
	for (i = 0; i < MT_PIPES; i++) {
		ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
		m.rd[i] = p[0];
		m.wr[i] = p[1];
		EV_SET(&chg[i], p[0], EVFILT_READ, EV_ADD | EV_ONESHOT, 0, 0, NULL);
	}
	ASSERT_EQ(0, kevent(self->kq, chg, MT_PIPES, NULL, 0, NULL));
	m.deadline_ms = now_ms() + 15000;

	for (i = 0; i < MT_WAITERS; i++)
		ASSERT_EQ(0, pthread_create(&waiters[i], NULL, mt_waiter_fn, &m));
	sleep_ms(50);
	for (i = 0; i < MT_WRITERS; i++) {
		wa[i].m = &m;
		wa[i].first = i * (MT_PIPES / MT_WRITERS);
		wa[i].count = MT_PIPES / MT_WRITERS;
		ASSERT_EQ(0, pthread_create(&writers[i], NULL, mt_writer_fn, &wa[i]));
	}
	for (i = 0; i < MT_WRITERS; i++)
		pthread_join(writers[i], NULL);
	for (i = 0; i < MT_WAITERS; i++)
		pthread_join(waiters[i], NULL);

	EXPECT_EQ(0, m.errors);
	EXPECT_EQ(0, m.bad_data);
	EXPECT_EQ(MT_PIPES, m.total);
	for (i = 0; i < MT_PIPES; i++) {
		EXPECT_EQ(1, m.seen[i]) TH_LOG("pipe %d", i);
		EXPECT_EQ(8, m.bytes[i]) TH_LOG("pipe %d", i);
	}
	/* EV_ONESHOT: all gone. */
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	for (i = 0; i < MT_PIPES; i++) {
		EXPECT_EQ(ENOENT, kq_change(self->kq, m.rd[i], EVFILT_READ, EV_DELETE, 0, 0,
					    NULL));
		close(m.rd[i]);
	}
}

/*
 * Close a watched descriptor while another thread is blocked in kevent():
 * the knote goes with the descriptor, so the kqueue keeps no reader alive (a
 * write fails with EPIPE) and the blocked thread is told nothing.
 */
TEST_F(fd, close_while_blocked)
{
	struct waiter w;
	int p[2];

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, kq_fd_add(self->kq, p[0], EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, waiter_start(&w, self->kq, 1000, 100));
	EXPECT_FALSE(waiter_done(&w));
	ASSERT_EQ(0, close(p[0]));
	ASSERT_EQ(-1, put(p[1], 1));
	EXPECT_EQ(EPIPE, errno);
	ASSERT_EQ(0, close(p[1]));

	ASSERT_TRUE(waiter_wait(&w, 5000));
	EXPECT_EQ(0, w.ret) TH_LOG("reported ident %lu flags %#x", (unsigned long)w.ev.ident,
				   w.ev.flags);
	EXPECT_GE(waiter_blocked_ms(&w), 900);

	/* The kqueue still works. */
	ASSERT_EQ(0, kq_user_add(self->kq, 1, 0));
	ASSERT_EQ(0, kq_user_trigger(self->kq, 1));
	EXPECT_EQ(1, kev_poll(self->kq, &w.ev, 1));
}

struct spinner {
	int kq;
	int stop;
	int errors;
	int events;
};

static void *spinner_fn(void *arg)
{
	struct spinner *s = arg;
	struct kevent evs[8];
	int n;

	while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
		n = kev_wait(s->kq, NULL, 0, evs, 8, 5);
		if (n < 0)
			s->errors++;
		else
			s->events += n;
	}
	return NULL;
}

/* The same race, many times, with the waiter in any part of kevent(). */
TEST_F(fd, close_while_blocked_stress)
{
	struct spinner s = { .kq = self->kq };
	pthread_t t;
	int i, p[2];

	ASSERT_EQ(0, pthread_create(&t, NULL, spinner_fn, &s));
	for (i = 0; i < 300; i++) {
		ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
		ASSERT_EQ(0, kq_fd_add(self->kq, p[0], EVFILT_READ, i % 3 ? 0 : EV_CLEAR,
				       0, 0));
		ASSERT_EQ(0, kq_fd_add(self->kq, p[1], EVFILT_WRITE, 0, 0, 0));
		if (i % 2)
			ASSERT_EQ(1, put(p[1], 1));
		if (i % 4 == 0)
			sched_yield();
		close(p[0]);
		/* Wakes the stale knote; EPIPE once the read end is released. */
		if (i % 2 == 0)
			put(p[1], 1);
		close(p[1]);
	}
	__atomic_store_n(&s.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(t, NULL);
	EXPECT_EQ(0, s.errors);
}

/* Batch registration. */

#define BATCH	10000

struct batch {
	int rd[BATCH];
	int wr[BATCH];
	struct kevent chg[BATCH];
	struct kevent out[BATCH];
};

/* Raise RLIMIT_NOFILE and make the pipes; returns 0 or errno. */
static int batch_setup(struct batch *b)
{
	struct rlimit rl = { .rlim_cur = 2 * BATCH + 256, .rlim_max = 2 * BATCH + 256 };
	int i, p[2];

	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		return errno;
	for (i = 0; i < BATCH; i++) {
		if (pipe2(p, O_NONBLOCK | O_CLOEXEC) == -1)
			return errno;
		b->rd[i] = p[0];
		b->wr[i] = p[1];
		EV_SET(&b->chg[i], p[0], EVFILT_READ, EV_ADD, 0, 0, (void *)(uintptr_t)i);
	}
	return 0;
}

/* Write one byte to 10 pipes spread over the batch; returns how many worked. */
static int batch_write10(struct batch *b)
{
	int i, ok = 0;

	for (i = 0; i < 10; i++)
		ok += put(b->wr[(i * 997 + 3) % BATCH], 1) == 1;
	return ok;
}

/*
 * Check that @n events are exactly the 10 pipes of batch_write10(), each with
 * data 1 and the knote's @flags.
 */
static bool batch_check10(struct batch *b, const struct kevent *evs, int n,
			  unsigned short flags)
{
	int i, j;

	if (n != 10)
		return false;
	for (i = 0; i < 10; i++) {
		j = (i * 997 + 3) % BATCH;
		if (find_event(evs, n, b->rd[j], EVFILT_READ) < 0)
			return false;
	}
	for (i = 0; i < n; i++) {
		j = (int)(uintptr_t)evs[i].udata;
		if (j < 0 || j >= BATCH || evs[i].ident != (uintptr_t)b->rd[j] ||
		    evs[i].data != 1 || evs[i].flags != flags)
			return false;
	}
	return true;
}

/*
 * One kevent() call registers 10,000 pipe read ends (20,000 descriptors), in
 * one kqueue with EV_RECEIPT and in another without. The debug kernel under
 * TCG needs about a minute for this test (mostly making and closing the
 * pipes), hence the longer timeout.
 */
TEST_F_TIMEOUT(fd, batch_10000, 300)
{
	struct batch *b;
	int i, n, bad = 0, kq2;

	b = calloc(1, sizeof(*b));
	ASSERT_NE(NULL, b);
	ASSERT_EQ(0, batch_setup(b));
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);

	/* EV_RECEIPT: one entry per change, data 0. */
	for (i = 0; i < BATCH; i++)
		b->chg[i].flags = EV_ADD | EV_RECEIPT;
	n = kevent(self->kq, b->chg, BATCH, b->out, BATCH, NULL);
	ASSERT_EQ(BATCH, n) TH_LOG("kevent: %s", n < 0 ? strerror(errno) : "short");
	for (i = 0; i < BATCH; i++) {
		if (b->out[i].flags != EV_ERROR || b->out[i].data != 0 ||
		    b->out[i].ident != (uintptr_t)b->rd[i] ||
		    b->out[i].filter != EVFILT_READ)
			bad++;
	}
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, kev_poll(self->kq, b->out, BATCH));

	/* Without: no room for events, applied, returns 0. */
	for (i = 0; i < BATCH; i++)
		b->chg[i].flags = EV_ADD;
	ASSERT_EQ(0, kevent(kq2, b->chg, BATCH, NULL, 0, NULL));
	EXPECT_EQ(0, kev_poll(kq2, b->out, BATCH));

	ASSERT_EQ(10, batch_write10(b));
	/* EV_RECEIPT stays in the knote's flags, as on FreeBSD. */
	n = kev_wait(self->kq, NULL, 0, b->out, BATCH, 3000);
	EXPECT_TRUE(batch_check10(b, b->out, n, EV_RECEIPT))
		TH_LOG("%d events, first: flags %#x data %lld", n, b->out[0].flags,
		       (long long)b->out[0].data);
	/* Level-triggered: the same 10 again. */
	n = kev_poll(self->kq, b->out, BATCH);
	EXPECT_TRUE(batch_check10(b, b->out, n, EV_RECEIPT)) TH_LOG("%d events", n);
	n = kev_wait(kq2, NULL, 0, b->out, BATCH, 3000);
	EXPECT_TRUE(batch_check10(b, b->out, n, 0))
		TH_LOG("%d events, first: flags %#x data %lld", n, b->out[0].flags,
		       (long long)b->out[0].data);

	/* All registered: EV_DELETE of every one succeeds, in one call too. */
	for (i = 0; i < BATCH; i++)
		b->chg[i].flags = EV_DELETE;
	EXPECT_EQ(0, kevent(kq2, b->chg, BATCH, NULL, 0, NULL));
	EXPECT_EQ(0, kev_poll(kq2, b->out, BATCH));

	close(kq2);
	for (i = 0; i < BATCH; i++) {
		close(b->rd[i]);
		close(b->wr[i]);
	}
	free(b);
}

TEST_HARNESS_MAIN
