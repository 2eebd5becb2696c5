// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue and processes: ownership across fork() and descriptor passing,
 * closing (with pending events, with threads blocked in kevent(), with a
 * dup()ed descriptor), concurrent use from several threads, process exit,
 * and module unloading while a kqueue is open. doc/semantics.md is the
 * contract.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

FIXTURE(proc) {
	int kq;
};

FIXTURE_SETUP(proc)
{
	/* The runner always loads the module: a missing device is a failure. */
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(proc)
{
	if (self->kq >= 0)
		close(self->kq);
}

/* Child exit codes: 0 is success, each check that fails has its own. */
#define CHILD_OK	0

TEST_F(proc, fork_child_ebadf)
{
	struct kevent ev;
	pid_t pid;
	int status;

	ASSERT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kevent cev, chg;

		/* Collecting fails... */
		if (kev_poll(self->kq, &cev, 1) != -1 || errno != EBADF)
			_exit(10);
		/* ...and so does changing, which must not be applied. */
		EV_SET(&chg, 5, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL);
		if (kevent(self->kq, &chg, 1, NULL, 0, NULL) != -1 || errno != EBADF)
			_exit(11);
		if (kev_wait(self->kq, NULL, 0, &cev, 1, -1) != -1 || errno != EBADF)
			_exit(12);
		_exit(CHILD_OK);
	}
	status = wait_child(pid, 10000);
	ASSERT_TRUE(WIFEXITED(status)) TH_LOG("child status %#x", status);
	EXPECT_EQ(CHILD_OK, WEXITSTATUS(status));

	/* The parent is unaffected, and the child's change was not applied. */
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 5));
	EXPECT_EQ(0, kq_user_add(self->kq, 2, 0));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 2));
}

TEST_F(proc, fork_child_close)
{
	struct waiter w;
	pid_t pid;
	int status;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, EV_CLEAR));
	/* A thread of the parent waits while the child closes its copy. */
	ASSERT_EQ(0, waiter_start(&w, self->kq, -1, 100));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(close(self->kq) == 0 ? CHILD_OK : 10);
	status = wait_child(pid, 10000);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(CHILD_OK, WEXITSTATUS(status));

	/* Not the owner's last descriptor: the waiter stays asleep. */
	sleep_ms(200);
	EXPECT_FALSE(waiter_done(&w));
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	ASSERT_TRUE(waiter_wait(&w, 5000));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(1u, w.ev.ident);

	/* And the kqueue still works normally. */
	EXPECT_EQ(0, kq_user_trigger(self->kq, 1));
	ASSERT_EQ(1, kev_poll(self->kq, &w.ev, 1));
	EXPECT_EQ(1u, w.ev.ident);
}

TEST_F(proc, child_own_kqueue)
{
	struct kevent ev;
	pid_t pid;
	int status;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kevent cev;
		int kq = kqueue();

		if (kq < 0)
			_exit(10);
		/* A new kqueue: the parent's knotes are not in it. */
		if (kev_poll(kq, &cev, 1) != 0)
			_exit(11);
		if (kq_user_trigger(kq, 1) != ENOENT)
			_exit(12);
		if (kq_change(kq, 2, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL))
			_exit(13);
		if (kev_poll(kq, &cev, 1) != 1 || cev.ident != 2)
			_exit(14);
		if (kq_change(kq, 3, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 10, NULL))
			_exit(15);
		if (kev_wait(kq, NULL, 0, &cev, 1, 5000) != 1)
			_exit(16);
		if (close(kq))
			_exit(17);
		_exit(CHILD_OK);
	}
	status = wait_child(pid, 10000);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(CHILD_OK, WEXITSTATUS(status));

	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	EXPECT_EQ(ENOENT, kq_user_delete(self->kq, 2));
}

/* Receive one descriptor over a unix socket, or -1. */
static int recv_fd(int sock)
{
	char buf[CMSG_SPACE(sizeof(int))], byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = sizeof(buf),
	};
	struct cmsghdr *cmsg;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cmsg = CMSG_FIRSTHDR(&msg);
	if (!cmsg || cmsg->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cmsg), sizeof(fd));
	return fd;
}

static int send_fd(int sock, int fd)
{
	char buf[CMSG_SPACE(sizeof(int))], byte = 'k';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = sizeof(buf),
	};
	struct cmsghdr *cmsg;

	memset(buf, 0, sizeof(buf));
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(fd));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

TEST(passed_descriptor_ebadf)
{
	struct kevent ev;
	int sv[2], fd, status;
	char ack = 0;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kevent cev;
		int kq = kqueue();

		close(sv[0]);
		if (kq < 0)
			_exit(10);
		if (kq_change(kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL))
			_exit(11);
		if (send_fd(sv[1], kq))
			_exit(12);
		if (read(sv[1], &ack, 1) != 1)
			_exit(13);
		/* The owner is unaffected by the other process's attempt. */
		if (kev_poll(kq, &cev, 1) != 1 || cev.ident != 1)
			_exit(14);
		_exit(CHILD_OK);
	}
	close(sv[1]);
	fd = recv_fd(sv[0]);
	ASSERT_GE(fd, 0);
	/* A kqueue works only in the process that opened it. */
	errno = 0;
	EXPECT_EQ(-1, kev_poll(fd, &ev, 1));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(EBADF, kq_change(fd, 2, EVFILT_USER, EV_ADD, 0, 0, NULL));
	EXPECT_EQ(0, close(fd));
	ASSERT_EQ(1, write(sv[0], "x", 1));
	status = wait_child(pid, 10000);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(CHILD_OK, WEXITSTATUS(status));
	close(sv[0]);
}

TEST(close_with_pending_events)
{
	struct kevent chg[64], ev;
	int round, kq, i;

	for (round = 0; round < 20; round++) {
		kq = kqueue();
		ASSERT_GE(kq, 0);
		for (i = 0; i < 48; i++)
			EV_SET(&chg[i], i, EVFILT_USER, EV_ADD | (i % 3 ? 0 : EV_CLEAR) |
			       (i % 5 ? 0 : EV_DISABLE), NOTE_TRIGGER, i, NULL);
		for (; i < 64; i++)
			EV_SET(&chg[i], i, EVFILT_TIMER,
			       EV_ADD | (i % 2 ? EV_DISPATCH : 0) | (i % 7 ? 0 : EV_DISABLE),
			       NOTE_MSECONDS, i % 4 ? 1 : 1000, NULL);
		ASSERT_EQ(0, kevent(kq, chg, 64, NULL, 0, NULL));
		if (round % 2)
			sleep_ms(10);
		if (round % 4 == 1)
			EXPECT_EQ(1, kev_poll(kq, &ev, 1));
		EXPECT_EQ(0, close(kq));
	}
	/* Nothing leaked into a new kqueue. */
	kq = kqueue();
	ASSERT_GE(kq, 0);
	EXPECT_EQ(0, kev_poll(kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_user_delete(kq, 1));
	EXPECT_EQ(0, close(kq));
}

TEST_F(proc, close_wakes_blocked_thread)
{
	struct waiter w;

	EXPECT_EQ(0, kq_user_add(self->kq, 1, 0));
	ASSERT_EQ(0, waiter_start(&w, self->kq, -1, 200));
	EXPECT_FALSE(waiter_done(&w));
	EXPECT_EQ(0, close(self->kq));
	self->kq = -1;
	ASSERT_TRUE(waiter_wait(&w, 5000))
		TH_LOG("closing the only descriptor did not wake kevent()");
	EXPECT_EQ(-1, w.ret);
	EXPECT_EQ(EBADF, w.err);
	EXPECT_GE(waiter_blocked_ms(&w), 150);
}

TEST_F(proc, close_wakes_all_threads)
{
	struct waiter w[3];
	int i;

	ASSERT_EQ(0, waiter_start(&w[0], self->kq, -1, 0));
	ASSERT_EQ(0, waiter_start(&w[1], self->kq, -1, 0));
	ASSERT_EQ(0, waiter_start(&w[2], self->kq, 20000, 200));
	EXPECT_EQ(0, close(self->kq));
	self->kq = -1;
	for (i = 0; i < 3; i++) {
		ASSERT_TRUE(waiter_wait(&w[i], 5000)) TH_LOG("waiter %d still blocked", i);
		EXPECT_EQ(-1, w[i].ret);
		EXPECT_EQ(EBADF, w[i].err);
	}
}

TEST_F(proc, close_with_dup_does_not_wake)
{
	struct waiter w;
	int dupfd;

	EXPECT_EQ(0, kq_change(self->kq, 7, EVFILT_USER, EV_ADD, 0, 0, NULL));
	dupfd = dup(self->kq);
	ASSERT_GE(dupfd, 0);
	ASSERT_EQ(0, waiter_start(&w, self->kq, -1, 200));
	EXPECT_EQ(0, close(self->kq));
	self->kq = dupfd;
	/* Another descriptor still refers to the kqueue: it stays blocked. */
	sleep_ms(300);
	EXPECT_FALSE(waiter_done(&w));
	EXPECT_EQ(0, kq_change(dupfd, 7, EVFILT_USER, 0, NOTE_TRIGGER, 3, UDATA(7)));
	ASSERT_TRUE(waiter_wait(&w, 5000));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(7u, w.ev.ident);
	EXPECT_EQ(3, w.ev.data);
	EXPECT_EQ(UDATA(7), w.ev.udata);
}

TEST_F(proc, kqueue_shared_by_threads)
{
	struct delayed_trigger d;
	struct kevent ev;
	int i;

	/* Any thread of the owner may change, trigger and collect. */
	EXPECT_EQ(0, kq_user_add(self->kq, 1, EV_CLEAR));
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, delayed_trigger_start(&d, self->kq, 1, 10));
		EXPECT_EQ(0, delayed_trigger_join(&d));
		ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 5000));
		EXPECT_EQ(1u, ev.ident);
	}
}

/* Several collectors on one kqueue, one producer. */

#define NEVENTS		1000
#define NCOLLECTORS	4
#define BASE_IDENT	5000

struct collect_ctx {
	int kq;
	int seen[NEVENTS];
	int collected;
	int bad;
	int errors;
	int64_t deadline_ms;
};

static void *collector_fn(void *arg)
{
	struct collect_ctx *c = arg;
	struct kevent ev[8];
	int n, i;

	while (__atomic_load_n(&c->collected, __ATOMIC_SEQ_CST) < NEVENTS &&
	       now_ms() < c->deadline_ms) {
		n = kev_wait(c->kq, NULL, 0, ev, 8, 50);
		if (n < 0) {
			__atomic_add_fetch(&c->errors, 1, __ATOMIC_SEQ_CST);
			continue;
		}
		for (i = 0; i < n; i++) {
			uintptr_t id = ev[i].ident - BASE_IDENT;

			if (ev[i].ident < BASE_IDENT || id >= NEVENTS ||
			    ev[i].filter != EVFILT_USER || ev[i].data != (int64_t)id) {
				__atomic_add_fetch(&c->bad, 1, __ATOMIC_SEQ_CST);
				continue;
			}
			__atomic_add_fetch(&c->seen[id], 1, __ATOMIC_SEQ_CST);
			__atomic_add_fetch(&c->collected, 1, __ATOMIC_SEQ_CST);
		}
	}
	return NULL;
}

TEST_F(proc, concurrent_collectors)
{
	static struct collect_ctx c;
	pthread_t th[NCOLLECTORS];
	struct kevent ev;
	int i, err, failed = 0, missing = 0, dups = 0;

	memset(&c, 0, sizeof(c));
	c.kq = self->kq;
	c.deadline_ms = now_ms() + 20000;
	for (i = 0; i < NCOLLECTORS; i++) {
		err = pthread_create(&th[i], NULL, collector_fn, &c);
		ASSERT_EQ(0, err);
	}

	for (i = 0; i < NEVENTS; i++) {
		if (kq_change(self->kq, BASE_IDENT + i, EVFILT_USER, EV_ADD | EV_ONESHOT,
			      NOTE_TRIGGER, i, NULL))
			failed++;
		if (i % 50 == 0)
			sched_yield();
	}
	for (i = 0; i < NCOLLECTORS; i++)
		pthread_join(th[i], NULL);

	EXPECT_EQ(0, failed);
	EXPECT_EQ(0, c.errors);
	EXPECT_EQ(0, c.bad);
	for (i = 0; i < NEVENTS; i++) {
		if (c.seen[i] == 0)
			missing++;
		else if (c.seen[i] > 1)
			dups++;
	}
	EXPECT_EQ(0, missing);
	EXPECT_EQ(0, dups);
	EXPECT_EQ(NEVENTS, c.collected);
	/* Everything was oneshot: nothing left. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
}

/* Threads adding, triggering and deleting their own knotes at once. */

struct churn_ctx {
	int kq;
	int index;
	int errors;
	int *stop;
};

static void *churn_fn(void *arg)
{
	struct churn_ctx *c = arg;
	uintptr_t ident;
	int i;

	for (i = 0; i < 300; i++) {
		ident = 100000 * (c->index + 1) + i;
		if (kq_change(c->kq, ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL))
			c->errors++;
		if (kq_user_trigger(c->kq, ident))
			c->errors++;
		if (kq_change(c->kq, ident + 50000, EVFILT_TIMER, EV_ADD, 0, 1, NULL))
			c->errors++;
		if (i % 2 && kq_user_delete(c->kq, ident))
			c->errors++;
		if (kq_timer_del(c->kq, ident + 50000))
			c->errors++;
	}
	return NULL;
}

static void *drain_fn(void *arg)
{
	struct churn_ctx *c = arg;
	struct kevent ev[16];
	int n, i;

	while (!__atomic_load_n(c->stop, __ATOMIC_SEQ_CST)) {
		n = kev_wait(c->kq, NULL, 0, ev, 16, 10);
		if (n < 0)
			c->errors++;
		for (i = 0; i < n; i++)
			if ((ev[i].filter != EVFILT_USER && ev[i].filter != EVFILT_TIMER) ||
			    ev[i].flags & EV_ERROR)
				c->errors++;
	}
	return NULL;
}

TEST_F(proc, concurrent_churn)
{
	struct churn_ctx c[4], drain;
	pthread_t th[4], dth;
	int i, j, stop = 0, wrong = 0;

	drain = (struct churn_ctx){ .kq = self->kq, .stop = &stop };
	ASSERT_EQ(0, pthread_create(&dth, NULL, drain_fn, &drain));
	for (i = 0; i < 4; i++) {
		c[i] = (struct churn_ctx){ .kq = self->kq, .index = i, .stop = &stop };
		ASSERT_EQ(0, pthread_create(&th[i], NULL, churn_fn, &c[i]));
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		EXPECT_EQ(0, c[i].errors) TH_LOG("thread %d", i);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(dth, NULL);
	EXPECT_EQ(0, drain.errors);

	/* The user knotes with even i are left; all timers are gone. */
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 300; j++) {
			uintptr_t ident = 100000 * (i + 1) + j;

			if (kq_user_delete(self->kq, ident) != (j % 2 ? ENOENT : 0))
				wrong++;
			if (kq_timer_del(self->kq, ident + 50000) != ENOENT)
				wrong++;
		}
	}
	EXPECT_EQ(0, wrong);
}

TEST(exit_with_blocked_thread)
{
	pid_t pid;
	int status;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct waiter w1, w2;
		int kq = kqueue();

		if (kq < 0)
			_exit(10);
		if (kq_user_add(kq, 1, 0))
			_exit(11);
		if (waiter_start(&w1, kq, -1, 0) || waiter_start(&w2, kq, 30000, 100))
			_exit(12);
		/* exit_group() with two threads asleep in kevent(). */
		_exit(CHILD_OK);
	}
	status = wait_child(pid, 10000);
	ASSERT_NE(-1, status) TH_LOG("the process did not exit");
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(CHILD_OK, WEXITSTATUS(status));
}

TEST_F(proc, unload_refused_while_open)
{
	struct kevent ev;
	int kq2;

	EXPECT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD, NOTE_TRIGGER, 0, NULL));
	errno = 0;
	if (syscall(__NR_delete_module, "kqueue", O_NONBLOCK) == 0) {
		/* The kqueue's file operations now point into freed memory. */
		ASSERT_TRUE(false) TH_LOG("kqueue.ko was unloaded with a kqueue open");
	}
	if (errno == EPERM)
		SKIP(return, "no CAP_SYS_MODULE");
	EXPECT_TRUE(errno == EWOULDBLOCK || errno == EBUSY)
		TH_LOG("delete_module: %s", strerror(errno));

	/* Everything still works. */
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(1u, ev.ident);
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	EXPECT_EQ(0, kq_user_add(kq2, 1, 0));
	EXPECT_EQ(0, close(kq2));
}

TEST_HARNESS_MAIN
