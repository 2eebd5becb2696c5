// SPDX-License-Identifier: GPL-2.0
/*
 * Regression tests for the kernel crashes that fuzzing found (issue 15), and
 * kqueues watching kqueues:
 * - EVFILT_PROC EV_ADD on one's own child while another thread reaps it with
 *   waitpid(), as root and as nobody: every EV_ADD succeeds or fails with
 *   ESRCH, and a successful one reports the exit with its status (or is
 *   there to be deleted).
 * - A kqueue in an epoll set that the kqueue itself watches: events flow
 *   both ways, and closing the kqueue or the epoll set (also while threads
 *   are blocked in epoll_wait() and kevent()) returns.
 * - A kqueue in an epoll set inside another epoll set, watching a third
 *   epoll set that holds a pipe: wake-ups from two CPUs at once reach the
 *   waiters on both sides, in a lock order lockdep accepts.
 * - Kqueues nest one level (doc/semantics.md): a watched kqueue cannot
 *   watch, a watching one cannot be watched, EINVAL; the rule follows the
 *   knotes, so closing the watched kqueue ends it; closing a watched kqueue
 *   while a thread is blocked on the watcher.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

/* How long "eventually" may take before a test gives up. */
#define EVENTUALLY_MS	10000
/* A timeout standing for "forever" in threads that must not hang the run. */
#define LONG_WAIT_MS	20000

#define USER_ID		7
#define STICKY_ID	8
#define KQ_MARK		0x6b71ULL
#define EFD_MARK	0xefdULL
#define E1_MARK		0xe1ULL

/* EVFILT_PROC EV_ADD racing waitpid(). */

#define REAP_ITERS		1000
#define REAP_ITERS_NOBODY	500
/* Children for at most this long (a KASAN kernel under TCG is slow), at least REAP_MIN_ITERS. */
#define REAP_BUDGET_MS		30000
#define REAP_BUDGET_MS_NOBODY	20000
#define REAP_MIN_ITERS		20

struct reaper {
	pthread_t thread;
	int req[2];	/* pids to reap; 0 ends the thread */
	int rep[2];	/* their wait statuses */
};

static void *reaper_fn(void *arg)
{
	struct reaper *r = arg;
	int status;
	pid_t pid;

	while (read(r->req[0], &pid, sizeof(pid)) == sizeof(pid) && pid > 0) {
		if (waitpid(pid, &status, 0) != pid)
			status = -1;
		if (write(r->rep[1], &status, sizeof(status)) != sizeof(status))
			break;
	}
	return NULL;
}

struct reap_stats {
	int iters;
	int added;		/* EV_ADD succeeded */
	int esrch;		/* EV_ADD failed with ESRCH */
	int reported;		/* NOTE_EXIT with the right status */
	int deleted;		/* EV_DELETE right after a successful EV_ADD */
	int other_errno;	/* EV_ADD failed otherwise (last errno in errno_seen) */
	int errno_seen;
	int lost;		/* added, but no event came */
	int undeletable;	/* added, but EV_DELETE failed */
	int bad_event;		/* the event lacks NOTE_EXIT or EV_EOF */
	int bad_status;		/* its data is not the child's status */
	int bad_reap;		/* waitpid() did not get the child's status */
	int endless;		/* still registrable long after it was reaped */
	int setup;		/* nonzero: could not start */
};

/* EV_ADD NOTE_EXIT on @pid; returns 0 or the errno. */
static int proc_add(int kq, pid_t pid)
{
	return kq_change(kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0, NULL);
}

/* The registered knote on the child reports its exit with @code. */
static void expect_exit(int kq, pid_t pid, int code, struct reap_stats *st)
{
	struct kevent ev;

	if (kev_wait_for(kq, pid, EVFILT_PROC, &ev, EVENTUALLY_MS) != 1) {
		st->lost++;
		if (kq_change(kq, pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL))
			st->undeletable++;
	} else if (!(ev.fflags & NOTE_EXIT) || !(ev.flags & EV_EOF)) {
		st->bad_event++;
	} else if (!WIFEXITED((int)ev.data) || WEXITSTATUS((int)ev.data) != code) {
		st->bad_status++;
	} else {
		st->reported++;
	}
}

/*
 * Fork up to @iters children that exit at once, for up to @budget_ms
 * (REAP_MIN_ITERS at least). Each is registered once and its
 * exit collected; then a thread reaps it with waitpid() while this thread
 * registers it again and again until that fails, so that registrations
 * land in every part of the reaping: each must succeed (and the knote
 * then reports the exit, or is there to delete) or fail with ESRCH.
 */
#define MAX_TRIES	1000000

static void reap_race(int iters, long budget_ms, struct reap_stats *st)
{
	int64_t deadline = now_ms() + budget_ms;
	struct reaper r;
	int kq, i, rc, status, code, tries;
	pid_t pid, stop = 0;

	memset(st, 0, sizeof(*st));
	kq = kqueue();
	if (kq < 0 || pipe2(r.req, O_CLOEXEC) || pipe2(r.rep, O_CLOEXEC) ||
	    pthread_create(&r.thread, NULL, reaper_fn, &r)) {
		st->setup = errno ? errno : -1;
		return;
	}
	for (i = 0; i < iters && st->lost < 3; i++) {
		if (i >= REAP_MIN_ITERS && now_ms() >= deadline)
			break;
		code = i & 0x7f;
		pid = fork();
		if (pid < 0) {
			st->setup = errno;
			break;
		}
		if (pid == 0)
			_exit(code);
		/* Nobody reaps it yet. */
		rc = proc_add(kq, pid);
		if (rc) {
			st->other_errno++;
			st->errno_seen = rc;
		} else {
			st->added++;
			expect_exit(kq, pid, code, st);
		}
		if (write(r.req[1], &pid, sizeof(pid)) != sizeof(pid)) {
			st->setup = errno;
			break;
		}
		for (tries = 0; tries < MAX_TRIES; tries++) {
			rc = proc_add(kq, pid);
			if (rc == ESRCH) {
				st->esrch++;
				break;
			}
			if (rc) {
				st->other_errno++;
				st->errno_seen = rc;
				break;
			}
			st->added++;
			if (tries % 8 == 7)
				expect_exit(kq, pid, code, st);
			else if (kq_change(kq, pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL))
				st->undeletable++;
			else
				st->deleted++;
		}
		if (tries == MAX_TRIES)
			st->endless++;
		if (read(r.rep[0], &status, sizeof(status)) != sizeof(status)) {
			st->setup = errno;
			break;
		}
		st->iters++;
		if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != code)
			st->bad_reap++;
	}
	if (write(r.req[1], &stop, sizeof(stop)) == sizeof(stop))
		pthread_join(r.thread, NULL);
	close(r.req[0]);
	close(r.req[1]);
	close(r.rep[0]);
	close(r.rep[1]);
	close(kq);
}

static void check_reap_stats(struct __test_metadata *_metadata, const struct reap_stats *st,
			     int iters)
{
	TH_LOG("%d children: %d registrations (%d exits reported, %d deleted), %d ESRCH",
	       st->iters, st->added, st->reported, st->deleted, st->esrch);
	ASSERT_EQ(0, st->setup);
	EXPECT_GE(st->iters, REAP_MIN_ITERS);
	EXPECT_LE(st->iters, iters);
	EXPECT_EQ(0, st->other_errno) TH_LOG("EV_ADD failed with errno %d", st->errno_seen);
	EXPECT_EQ(0, st->lost);
	EXPECT_EQ(0, st->undeletable);
	EXPECT_EQ(0, st->bad_event);
	EXPECT_EQ(0, st->bad_status);
	EXPECT_EQ(0, st->bad_reap);
	EXPECT_EQ(0, st->endless);
	EXPECT_EQ(st->added, st->reported + st->deleted);
	/* Every child was registered before the reaping, and refused after it. */
	EXPECT_EQ(st->iters, st->esrch);
	EXPECT_GE(st->reported, st->iters);
}

TEST(proc_add_races_waitpid)
{
	struct reap_stats st;

	reap_race(REAP_ITERS, REAP_BUDGET_MS, &st);
	check_reap_stats(_metadata, &st, REAP_ITERS);
}

TEST(proc_add_races_waitpid_nobody)
{
	struct reap_stats st;
	int p[2], status;
	pid_t pid;

	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[0]);
		memset(&st, 0, sizeof(st));
		if (setgid(65534) || setuid(65534))
			st.setup = errno;
		else
			reap_race(REAP_ITERS_NOBODY, REAP_BUDGET_MS_NOBODY, &st);
		_exit(write(p[1], &st, sizeof(st)) == sizeof(st) ? 0 : 1);
	}
	close(p[1]);
	ASSERT_EQ((ssize_t)sizeof(st), read(p[0], &st, sizeof(st)));
	status = wait_child(pid, EVENTUALLY_MS);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	check_reap_stats(_metadata, &st, REAP_ITERS_NOBODY);
	close(p[0]);
}

/*
 * A thread blocked in epoll_wait() or kevent(), up to LONG_WAIT_MS, or in
 * kevent() with a NULL timeout if @forever.
 */
struct sleeper {
	pthread_t thread;
	int fd;
	bool is_kq;
	bool forever;
	int started;
	int done;
	int ret;
	int err;
	struct epoll_event ee[8];
	struct kevent evs[8];
};

static void *sleeper_fn(void *arg)
{
	struct sleeper *s = arg;
	int ret;

	__atomic_store_n(&s->started, 1, __ATOMIC_SEQ_CST);
	if (s->is_kq && s->forever)
		ret = kevent(s->fd, NULL, 0, s->evs, 8, NULL);
	else if (s->is_kq)
		ret = kev_wait(s->fd, NULL, 0, s->evs, 8, LONG_WAIT_MS);
	else
		ret = epoll_wait(s->fd, s->ee, 8, LONG_WAIT_MS);
	s->err = ret < 0 ? errno : 0;
	s->ret = ret;
	__atomic_store_n(&s->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static int sleeper_start(struct sleeper *s, int fd, bool is_kq, bool forever)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->is_kq = is_kq;
	s->forever = forever;
	s->ret = -2;
	ret = pthread_create(&s->thread, NULL, sleeper_fn, s);
	if (ret)
		return ret;
	while (!__atomic_load_n(&s->started, __ATOMIC_SEQ_CST))
		sched_yield();
	sleep_ms(50);
	return 0;
}

static bool sleeper_done(struct sleeper *s)
{
	return __atomic_load_n(&s->done, __ATOMIC_SEQ_CST);
}

/* Eventually returned: joined. */
static bool sleeper_join(struct sleeper *s)
{
	int64_t deadline = now_ms() + LONG_WAIT_MS + EVENTUALLY_MS;

	while (!sleeper_done(s)) {
		if (now_ms() >= deadline)
			return false;
		sleep_ms(5);
	}
	pthread_join(s->thread, NULL);
	return true;
}

static int ep_add(int ep, int fd, uint64_t mark)
{
	struct epoll_event ee = { .events = EPOLLIN, .data.u64 = mark };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ee) ? errno : 0;
}

/* Index of the epoll event carrying @mark, or -1. */
static int find_mark(const struct epoll_event *ee, int n, uint64_t mark)
{
	int i;

	for (i = 0; i < n; i++)
		if (ee[i].data.u64 == mark)
			return i;
	return -1;
}

/*
 * Eventually epoll_wait(@ep, 0) no longer reports @mark: the file is gone
 * from the set (released).
 */
static bool mark_gone(int ep, uint64_t mark)
{
	int64_t deadline = now_ms() + EVENTUALLY_MS;
	struct epoll_event ee[8];
	int n;

	for (;;) {
		n = epoll_wait(ep, ee, 8, 0);
		if (n >= 0 && find_mark(ee, n, mark) < 0)
			return true;
		if (now_ms() >= deadline)
			return false;
		sleep_ms(10);
	}
}

/*
 * A kqueue K in an epoll set E while K watches E (EVFILT_READ). The epoll
 * set also holds an eventfd (idle) to release a thread from epoll_wait().
 */
FIXTURE(loop) {
	int kq;
	int ep;
	int efd;
};

FIXTURE_SETUP(loop)
{
	self->ep = -1;
	self->efd = -1;
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
	ASSERT_EQ(0, kq_user_add(self->kq, USER_ID, EV_CLEAR));
	self->ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(self->ep, 0);
	self->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_GE(self->efd, 0);
	ASSERT_EQ(0, ep_add(self->ep, self->efd, EFD_MARK));
}

FIXTURE_TEARDOWN(loop)
{
	if (self->kq >= 0)
		close(self->kq);
	if (self->ep >= 0)
		close(self->ep);
	if (self->efd >= 0)
		close(self->efd);
}

/*
 * Make the loop, K watching E first or K put in E first. In the second
 * order the module may refuse the knote that closes the loop with ELOOP
 * (what epoll does for its own loops; issue 15 allows it); then there is
 * no loop and the result is false.
 */
static bool make_loop(struct __test_metadata *_metadata, int kq, int ep, bool kq_first)
{
	int rc;

	if (kq_first) {
		EXPECT_EQ(0, kq_fd_add(kq, ep, EVFILT_READ, 0, 0, 0));
		EXPECT_EQ(0, ep_add(ep, kq, KQ_MARK));
		return true;
	}
	EXPECT_EQ(0, ep_add(ep, kq, KQ_MARK));
	rc = kq_fd_add(kq, ep, EVFILT_READ, 0, 0, 0);
	if (rc == ELOOP) {
		TH_LOG("a kqueue in an epoll set may not watch it: ELOOP");
		return false;
	}
	EXPECT_EQ(0, rc);
	return true;
}

/*
 * Events flow through the loop: a user event makes K readable in E, and
 * kevent() reports it. Whether K then also reports E readable is left open:
 * the wake-up that would queue that knote comes back around the loop, which
 * the module may cut; whatever K reports is one of its own knotes.
 */
static void use_loop(struct __test_metadata *_metadata, int kq, int ep, bool loop)
{
	struct epoll_event ee[8];
	struct kevent evs[8];
	int i, n, user = 0, epoll = 0, other = 0;

	EXPECT_EQ(0, epoll_wait(ep, ee, 8, 0));
	ASSERT_EQ(0, kq_user_trigger(kq, USER_ID));
	n = epoll_wait(ep, ee, 8, EVENTUALLY_MS);
	ASSERT_GE(n, 1);
	i = find_mark(ee, n, KQ_MARK);
	ASSERT_GE(i, 0);
	EXPECT_NE(0u, ee[i].events & EPOLLIN);

	n = kev_wait(kq, NULL, 0, evs, 8, EVENTUALLY_MS);
	ASSERT_GE(n, 1);
	for (i = 0; i < n; i++) {
		if (evs[i].filter == EVFILT_USER && evs[i].ident == USER_ID)
			user++;
		else if (loop && evs[i].filter == EVFILT_READ && evs[i].ident == (uintptr_t)ep)
			epoll++;
		else
			other++;
	}
	EXPECT_EQ(1, user);
	EXPECT_EQ(0, other);
	TH_LOG("the kqueue %s the epoll set readable", epoll ? "reported" : "did not report");
}

/* After K is closed: E forgets it and still works. */
static void epoll_after_kq(struct __test_metadata *_metadata, int ep, int efd)
{
	struct epoll_event ee[8];
	uint64_t one = 1;
	int n;

	EXPECT_TRUE(mark_gone(ep, KQ_MARK));
	ASSERT_EQ(8, write(efd, &one, 8));
	n = epoll_wait(ep, ee, 8, EVENTUALLY_MS);
	ASSERT_EQ(1, n);
	EXPECT_EQ(EFD_MARK, ee[0].data.u64);
}

TEST_F(loop, in_epoll_then_watches_close_kqueue)
{
	bool loop = make_loop(_metadata, self->kq, self->ep, false);

	use_loop(_metadata, self->kq, self->ep, loop);
	ASSERT_EQ(0, close(self->kq));
	self->kq = -1;
	epoll_after_kq(_metadata, self->ep, self->efd);
}

TEST_F(loop, watches_then_in_epoll_close_kqueue)
{
	ASSERT_TRUE(make_loop(_metadata, self->kq, self->ep, true));
	use_loop(_metadata, self->kq, self->ep, true);
	/* Closed with events pending on both sides. */
	ASSERT_EQ(0, kq_user_trigger(self->kq, USER_ID));
	ASSERT_EQ(0, close(self->kq));
	self->kq = -1;
	epoll_after_kq(_metadata, self->ep, self->efd);
}

TEST_F(loop, close_epoll_first)
{
	struct kevent ev;

	ASSERT_TRUE(make_loop(_metadata, self->kq, self->ep, true));
	use_loop(_metadata, self->kq, self->ep, true);
	ASSERT_EQ(0, kq_user_trigger(self->kq, USER_ID));
	ASSERT_EQ(0, close(self->ep));
	/* Its knote went with the descriptor; the kqueue works on. */
	EXPECT_EQ(EBADF, kq_change(self->kq, self->ep, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	self->ep = -1;
	ASSERT_EQ(1, kev_wait_for(self->kq, USER_ID, EVFILT_USER, &ev, EVENTUALLY_MS));
	ASSERT_EQ(0, kq_user_trigger(self->kq, USER_ID));
	ASSERT_EQ(1, kev_wait_for(self->kq, USER_ID, EVFILT_USER, &ev, EVENTUALLY_MS));
	ASSERT_EQ(0, close(self->kq));
	self->kq = -1;
}

/*
 * Threads blocked in epoll_wait(E) and kevent(K) when K is closed: the
 * kevent() returns EBADF (doc/semantics.md), the epoll_wait() whatever K and
 * the eventfd report, and E forgets K.
 */
TEST_F(loop, close_kqueue_while_blocked)
{
	struct sleeper se, sk;
	uint64_t one = 1;
	int i;

	ASSERT_TRUE(make_loop(_metadata, self->kq, self->ep, true));
	ASSERT_EQ(0, sleeper_start(&se, self->ep, false, false));
	ASSERT_EQ(0, sleeper_start(&sk, self->kq, true, false));
	EXPECT_FALSE(sleeper_done(&se));
	EXPECT_FALSE(sleeper_done(&sk));
	ASSERT_EQ(0, close(self->kq));
	self->kq = -1;
	ASSERT_TRUE(sleeper_join(&sk));
	EXPECT_EQ(-1, sk.ret);
	EXPECT_EQ(EBADF, sk.err);

	ASSERT_EQ(8, write(self->efd, &one, 8));
	ASSERT_TRUE(sleeper_join(&se));
	ASSERT_GE(se.ret, 1) TH_LOG("errno %d", se.err);
	for (i = 0; i < se.ret; i++)
		EXPECT_TRUE(se.ee[i].data.u64 == KQ_MARK || se.ee[i].data.u64 == EFD_MARK);
	EXPECT_TRUE(mark_gone(self->ep, KQ_MARK));
}

/*
 * The same threads when E is closed: both stay blocked; an event in K then
 * wakes both (E lives on in epoll_wait()'s reference), and K no longer
 * reports E.
 */
TEST_F(loop, close_epoll_while_blocked)
{
	struct sleeper se, sk;

	/* Not EV_CLEAR: K stays readable whoever collects first. */
	ASSERT_EQ(0, kq_user_add(self->kq, STICKY_ID, 0));
	ASSERT_TRUE(make_loop(_metadata, self->kq, self->ep, true));
	ASSERT_EQ(0, sleeper_start(&se, self->ep, false, false));
	ASSERT_EQ(0, sleeper_start(&sk, self->kq, true, false));
	ASSERT_EQ(0, close(self->ep));
	self->ep = -1;
	sleep_ms(50);
	EXPECT_FALSE(sleeper_done(&se));
	EXPECT_FALSE(sleeper_done(&sk));

	ASSERT_EQ(0, kq_user_trigger(self->kq, STICKY_ID));
	ASSERT_TRUE(sleeper_join(&sk));
	ASSERT_EQ(1, sk.ret) TH_LOG("errno %d", sk.err);
	EXPECT_EQ((uintptr_t)STICKY_ID, sk.evs[0].ident);
	EXPECT_EQ(EVFILT_USER, sk.evs[0].filter);
	ASSERT_TRUE(sleeper_join(&se));
	ASSERT_GE(se.ret, 1) TH_LOG("errno %d", se.err);
	EXPECT_GE(find_mark(se.ee, se.ret, KQ_MARK), 0);
}

/*
 * E0 holds E1, E1 holds K, K watches E2, E2 holds a pipe. Per round, one
 * thread writes to the pipe while another triggers a user event in K; a
 * thread blocked in kevent(K) must see both (E2 readable, the user event)
 * and a thread blocked in epoll_wait(E0) must see E1, and E1 then K.
 */
#define CHAIN_ROUNDS	300

struct chain {
	int kq, e0, e1, e2, p[2];
	pthread_barrier_t start, mid, end;
	int fail;		/* first failure: a code, and the round */
	int fail_round;
	long fail_value;
};

enum chain_role { ROLE_KQ, ROLE_EPOLL, ROLE_WRITER, ROLE_TRIGGER, ROLES };

struct chain_thread {
	struct chain *c;
	enum chain_role role;
};

static void chain_fail(struct chain *c, int code, int round, long value)
{
	int zero = 0;

	if (__atomic_compare_exchange_n(&c->fail, &zero, code, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST)) {
		c->fail_round = round;
		c->fail_value = value;
	}
}

/* kevent(K) until both the user event and E2's readability were seen. */
static void chain_kq_round(struct chain *c, int round)
{
	bool user = false, e2 = false;
	struct kevent evs[8];
	int i, n;

	while (!(user && e2)) {
		n = kev_wait(c->kq, NULL, 0, evs, 8, LONG_WAIT_MS);
		if (n <= 0) {
			chain_fail(c, 1, round, n < 0 ? -errno : n);
			return;
		}
		for (i = 0; i < n; i++) {
			if (evs[i].filter == EVFILT_USER && evs[i].ident == USER_ID)
				user = true;
			else if (evs[i].filter == EVFILT_READ && evs[i].ident == (uintptr_t)c->e2)
				e2 = true;
			else
				chain_fail(c, 2, round, evs[i].filter);
		}
	}
}

static void chain_epoll_round(struct chain *c, int round)
{
	struct epoll_event ee[4];
	int i, n;

	n = epoll_wait(c->e0, ee, 4, LONG_WAIT_MS);
	if (n <= 0) {
		chain_fail(c, 3, round, n < 0 ? -errno : n);
		return;
	}
	for (i = 0; i < n; i++)
		if (ee[i].data.u64 != E1_MARK)
			chain_fail(c, 4, round, (long)ee[i].data.u64);
	/* E1 is readable because K is (K stays so while the pipe has data). */
	n = epoll_wait(c->e1, ee, 4, LONG_WAIT_MS);
	if (n <= 0) {
		chain_fail(c, 5, round, n < 0 ? -errno : n);
		return;
	}
	for (i = 0; i < n; i++)
		if (ee[i].data.u64 != KQ_MARK)
			chain_fail(c, 6, round, (long)ee[i].data.u64);
}

/* Between rounds: empty the pipe and let K find E2 idle again. */
static void chain_reset(struct chain *c, int round)
{
	struct kevent ev;
	char sink[16];
	int tries;

	if (read(c->p[0], sink, sizeof(sink)) != 1)
		chain_fail(c, 7, round, errno);
	for (tries = 0; kev_poll(c->kq, &ev, 1) != 0; tries++) {
		if (tries == 100) {
			chain_fail(c, 8, round, ev.filter);
			break;
		}
		sleep_ms(1);
	}
}

static void *chain_fn(void *arg)
{
	struct chain_thread *t = arg;
	struct chain *c = t->c;
	int round;

	for (round = 0; round < CHAIN_ROUNDS; round++) {
		pthread_barrier_wait(&c->start);
		switch (t->role) {
		case ROLE_KQ:
			chain_kq_round(c, round);
			break;
		case ROLE_EPOLL:
			chain_epoll_round(c, round);
			break;
		case ROLE_WRITER:
			if (write(c->p[1], "x", 1) != 1)
				chain_fail(c, 9, round, errno);
			break;
		default:
			if (kq_user_trigger(c->kq, USER_ID))
				chain_fail(c, 10, round, errno);
			break;
		}
		pthread_barrier_wait(&c->mid);
		if (t->role == ROLE_KQ)
			chain_reset(c, round);
		pthread_barrier_wait(&c->end);
		if (__atomic_load_n(&c->fail, __ATOMIC_SEQ_CST))
			break;
	}
	return NULL;
}

TEST(epoll_kqueue_epoll_chain)
{
	struct chain_thread t[ROLES];
	pthread_t th[ROLES];
	struct chain c;
	int i;

	memset(&c, 0, sizeof(c));
	c.kq = kqueue();
	ASSERT_GE(c.kq, 0);
	c.e0 = epoll_create1(EPOLL_CLOEXEC);
	c.e1 = epoll_create1(EPOLL_CLOEXEC);
	c.e2 = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(c.e0, 0);
	ASSERT_GE(c.e1, 0);
	ASSERT_GE(c.e2, 0);
	ASSERT_EQ(0, pipe2(c.p, O_NONBLOCK | O_CLOEXEC));
	ASSERT_EQ(0, ep_add(c.e2, c.p[0], 0));
	ASSERT_EQ(0, kq_fd_add(c.kq, c.e2, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_user_add(c.kq, USER_ID, EV_CLEAR));
	ASSERT_EQ(0, ep_add(c.e1, c.kq, KQ_MARK));
	ASSERT_EQ(0, ep_add(c.e0, c.e1, E1_MARK));
	ASSERT_EQ(0, pthread_barrier_init(&c.start, NULL, ROLES));
	ASSERT_EQ(0, pthread_barrier_init(&c.mid, NULL, ROLES));
	ASSERT_EQ(0, pthread_barrier_init(&c.end, NULL, ROLES));

	for (i = 0; i < ROLES; i++) {
		t[i].c = &c;
		t[i].role = i;
		ASSERT_EQ(0, pthread_create(&th[i], NULL, chain_fn, &t[i]));
	}
	for (i = 0; i < ROLES; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(0, c.fail) TH_LOG("round %d: failure %d, value %ld", c.fail_round, c.fail,
				    c.fail_value);

	/* Taken apart from the middle. */
	EXPECT_EQ(0, close(c.kq));
	EXPECT_TRUE(mark_gone(c.e1, KQ_MARK));
	close(c.e0);
	close(c.e1);
	close(c.e2);
	close(c.p[0]);
	close(c.p[1]);
}

/* Kqueues watching kqueues. */

/*
 * K1 watches K2: K2's pending events make it readable in K1, also for a
 * thread blocked in K1. Closing K2 while a thread is blocked in K1 removes
 * the knote without waking that thread, which then gets exactly the event
 * that releases it.
 */
TEST(kqueue_watches_kqueue)
{
	struct sleeper s;
	struct kevent ev;
	int k1, k2;

	k1 = kqueue();
	ASSERT_GE(k1, 0);
	k2 = kqueue();
	ASSERT_GE(k2, 0);
	ASSERT_EQ(0, kq_user_add(k1, USER_ID, EV_CLEAR));
	ASSERT_EQ(0, kq_user_add(k2, USER_ID, EV_CLEAR));
	ASSERT_EQ(0, kq_change(k1, k2, EVFILT_READ, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(0, kev_poll(k1, &ev, 1));

	ASSERT_EQ(0, kq_user_trigger(k2, USER_ID));
	ASSERT_EQ(1, kev_wait_for(k1, k2, EVFILT_READ, &ev, EVENTUALLY_MS));
	EXPECT_EQ(1, ev.data);
	EXPECT_EQ(UDATA(2), ev.udata);
	ASSERT_EQ(1, kev_poll(k2, &ev, 1));
	EXPECT_EQ(0, kev_poll(k1, &ev, 1));

	/* A blocked thread is woken through the nesting. */
	ASSERT_EQ(0, sleeper_start(&s, k1, true, true));
	ASSERT_EQ(0, kq_user_trigger(k2, USER_ID));
	ASSERT_TRUE(sleeper_join(&s));
	ASSERT_EQ(1, s.ret);
	EXPECT_EQ((uintptr_t)k2, s.evs[0].ident);
	EXPECT_EQ(EVFILT_READ, s.evs[0].filter);
	ASSERT_EQ(1, kev_poll(k2, &ev, 1));

	/* Close K2 under a blocked thread. */
	ASSERT_EQ(0, sleeper_start(&s, k1, true, true));
	ASSERT_EQ(0, close(k2));
	sleep_ms(50);
	EXPECT_FALSE(sleeper_done(&s))
		TH_LOG("returned %d: ident %lu filter %d", s.ret, (unsigned long)s.evs[0].ident,
		       s.evs[0].filter);
	ASSERT_EQ(0, kq_user_trigger(k1, USER_ID));
	ASSERT_TRUE(sleeper_join(&s));
	ASSERT_EQ(1, s.ret);
	EXPECT_EQ((uintptr_t)USER_ID, s.evs[0].ident);
	EXPECT_EQ(EVFILT_USER, s.evs[0].filter);
	EXPECT_EQ(EBADF, kq_change(k1, k2, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	close(k1);
}

/*
 * One level (doc/semantics.md): a watched kqueue cannot watch one, a
 * watching kqueue cannot be watched, no kqueue watches itself: EINVAL, and
 * nothing is registered.
 */
TEST(nesting_one_level_einval)
{
	int k[6], i;

	for (i = 0; i < 6; i++) {
		k[i] = kqueue();
		ASSERT_GE(k[i], 0);
	}
	/* k1 watches k2; then k0 watching k1 would make k0 -> k1 -> k2. */
	ASSERT_EQ(0, kq_fd_add(k[1], k[2], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(k[0], k[1], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_receipt(k[0], k[1], EVFILT_READ, EV_ADD, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(k[0], k[1], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	/* k2 watching k3 would make k1 -> k2 -> k3. */
	EXPECT_EQ(EINVAL, kq_fd_add(k[2], k[3], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(ENOENT, kq_change(k[2], k[3], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	/* Loops and itself. */
	EXPECT_EQ(EINVAL, kq_fd_add(k[2], k[1], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(k[4], k[4], EVFILT_READ, 0, 0, 0));
	/* One watcher, many watched; one watched, many watchers. */
	EXPECT_EQ(0, kq_fd_add(k[1], k[3], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kq_fd_add(k[4], k[2], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kq_fd_add(k[4], k[5], EVFILT_WRITE, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(k[5], k[0], EVFILT_READ, 0, 0, 0));
	for (i = 0; i < 6; i++)
		close(k[i]);
}

/*
 * The rule follows the knotes: once the watched kqueue is closed the
 * watcher watches nothing, so it may be watched, with no kevent() call on it
 * in between.
 */
TEST(nesting_ends_with_close_of_watched)
{
	int k0, k1, k2;

	k0 = kqueue();
	k1 = kqueue();
	k2 = kqueue();
	ASSERT_GE(k0, 0);
	ASSERT_GE(k1, 0);
	ASSERT_GE(k2, 0);
	ASSERT_EQ(0, kq_fd_add(k1, k2, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(k0, k1, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, close(k2));
	EXPECT_EQ(0, kq_fd_add(k0, k1, EVFILT_READ, 0, 0, 0));
	close(k0);
	close(k1);
}

TEST_HARNESS_MAIN
