// SPDX-License-Identifier: GPL-2.0
/*
 * EVFILT_SIGNAL: data counts the generations of a signal for the kqueue's
 * process since the last report, whether the signal is caught, blocked or
 * ignored (not an ignored SIGCHLD), sent to the process or to one of its
 * threads, with kill, tgkill, sigqueue, by another process, by the kernel or
 * by a POSIX timer; real-time signals; several kqueues; delivery is not
 * affected; errors. doc/semantics.md is the contract.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

#define EVENT_MS	5000

/* Deliveries per signal, counted by count_handler(). */
static int handled_count[65];

static void count_handler(int sig)
{
	__atomic_add_fetch(&handled_count[sig], 1, __ATOMIC_SEQ_CST);
}

static int handled(int sig)
{
	return __atomic_load_n(&handled_count[sig], __ATOMIC_SEQ_CST);
}

static int set_handler(int sig, void (*fn)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fn;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

static int sig_add(int kq, int sig, unsigned short flags)
{
	return kq_change(kq, (uintptr_t)sig, EVFILT_SIGNAL, EV_ADD | flags, 0, 0,
			 UDATA(sig));
}

static int block(int sig, int how)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, sig);
	return pthread_sigmask(how, &set, NULL);
}

/*
 * Collect without waiting; returns the data of the EVFILT_SIGNAL event for
 * @sig, 0 if there is none, -1 on error. Checks the event's shape in @bad.
 */
static int64_t sig_count(int kq, int sig, int *bad)
{
	struct kevent evs[8];
	int i, n;

	n = kev_poll(kq, evs, 8);
	if (n < 0)
		return -1;
	i = find_event(evs, n, (uintptr_t)sig, EVFILT_SIGNAL);
	if (i < 0)
		return 0;
	if (evs[i].fflags != 0 || !(evs[i].flags & EV_CLEAR) ||
	    (evs[i].flags & (EV_EOF | EV_ERROR)) || evs[i].udata != UDATA(sig))
		(*bad)++;
	return evs[i].data;
}

FIXTURE(ksig) {
	int kq;
	int bad;
};

FIXTURE_SETUP(ksig)
{
	self->bad = 0;
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(ksig)
{
	EXPECT_EQ(0, self->bad) TH_LOG("malformed EVFILT_SIGNAL event");
	if (self->kq >= 0)
		close(self->kq);
}

TEST_F(ksig, caught)
{
	ASSERT_EQ(0, set_handler(SIGUSR1, count_handler));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	EXPECT_EQ(0, sig_count(self->kq, SIGUSR1, &self->bad));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_EQ(0, raise(SIGUSR1));
	/* Delivered as usual: the handler ran each time. */
	EXPECT_EQ(3, handled(SIGUSR1));
	EXPECT_EQ(3, sig_count(self->kq, SIGUSR1, &self->bad));
	/* EV_CLEAR: the count restarts. */
	EXPECT_EQ(0, sig_count(self->kq, SIGUSR1, &self->bad));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	EXPECT_EQ(1, sig_count(self->kq, SIGUSR1, &self->bad));
	EXPECT_EQ(4, handled(SIGUSR1));
}

TEST_F(ksig, blocked_not_consumed)
{
	struct timespec zero = { 0, 0 };
	sigset_t set, pend;

	ASSERT_EQ(0, set_handler(SIGUSR2, count_handler));
	ASSERT_EQ(0, block(SIGUSR2, SIG_BLOCK));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR2, 0));
	ASSERT_EQ(0, kill(getpid(), SIGUSR2));
	/* Already pending: still a generation. */
	ASSERT_EQ(0, kill(getpid(), SIGUSR2));
	EXPECT_EQ(2, sig_count(self->kq, SIGUSR2, &self->bad));
	/* The signal is still pending: the filter did not take it. */
	ASSERT_EQ(0, sigpending(&pend));
	EXPECT_TRUE(sigismember(&pend, SIGUSR2));
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	EXPECT_EQ(SIGUSR2, sigtimedwait(&set, NULL, &zero));
	EXPECT_EQ(0, handled(SIGUSR2));
	/* Consuming it is not a generation. */
	EXPECT_EQ(0, sig_count(self->kq, SIGUSR2, &self->bad));
	ASSERT_EQ(0, kill(getpid(), SIGUSR2));
	ASSERT_EQ(0, block(SIGUSR2, SIG_UNBLOCK));
	EXPECT_EQ(1, handled(SIGUSR2));
	EXPECT_EQ(1, sig_count(self->kq, SIGUSR2, &self->bad));
}

TEST_F(ksig, ignored)
{
	ASSERT_EQ(0, set_handler(SIGUSR1, SIG_IGN));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	EXPECT_EQ(2, sig_count(self->kq, SIGUSR1, &self->bad));
	/* Default action "ignore" (SIGWINCH, SIGURG) counts too. */
	ASSERT_EQ(0, set_handler(SIGWINCH, SIG_DFL));
	ASSERT_EQ(0, sig_add(self->kq, SIGWINCH, 0));
	ASSERT_EQ(0, kill(getpid(), SIGWINCH));
	EXPECT_EQ(1, sig_count(self->kq, SIGWINCH, &self->bad));
}

/* SIGCHLD at SIG_DFL is counted; at SIG_IGN it is not (FreeBSD). */
TEST_F(ksig, sigchld)
{
	struct kevent ev;
	int status;
	pid_t pid;

	ASSERT_EQ(0, set_handler(SIGCHLD, SIG_DFL));
	ASSERT_EQ(0, sig_add(self->kq, SIGCHLD, 0));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(0);
	ASSERT_EQ(1, kev_wait_for(self->kq, SIGCHLD, EVFILT_SIGNAL, &ev, EVENT_MS));
	EXPECT_EQ(1, ev.data);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));

	ASSERT_EQ(0, set_handler(SIGCHLD, SIG_IGN));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(0);
	/* Auto-reaped: wait() finds no child once it is gone. */
	while (waitpid(pid, &status, 0) == pid)
		;
	ASSERT_EQ(0, kill(getpid(), SIGCHLD));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 100));
	ASSERT_EQ(0, set_handler(SIGCHLD, SIG_DFL));
	ASSERT_EQ(0, kill(getpid(), SIGCHLD));
	EXPECT_EQ(1, sig_count(self->kq, SIGCHLD, &self->bad));
}

TEST_F(ksig, realtime_sigqueue)
{
	struct timespec zero = { 0, 0 };
	int sig = SIGRTMIN + 2, i;
	union sigval v;
	siginfo_t si;
	sigset_t set;

	ASSERT_EQ(0, block(sig, SIG_BLOCK));
	ASSERT_EQ(0, sig_add(self->kq, sig, 0));
	for (i = 0; i < 3; i++) {
		v.sival_int = 100 + i;
		ASSERT_EQ(0, sigqueue(getpid(), sig, v));
	}
	EXPECT_EQ(3, sig_count(self->kq, sig, &self->bad));
	/* All three are still queued, in order, with their values. */
	sigemptyset(&set);
	sigaddset(&set, sig);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(sig, sigtimedwait(&set, &si, &zero));
		EXPECT_EQ(100 + i, si.si_value.sival_int);
	}
	EXPECT_EQ(-1, sigtimedwait(&set, &si, &zero));
}

TEST_F(ksig, sigrtmax_and_kill)
{
	ASSERT_EQ(64, SIGRTMAX);
	ASSERT_EQ(0, set_handler(SIGRTMAX, count_handler));
	ASSERT_EQ(0, sig_add(self->kq, SIGRTMAX, 0));
	ASSERT_EQ(0, kill(getpid(), SIGRTMAX));
	ASSERT_EQ(0, kill(getpid(), SIGRTMAX));
	EXPECT_EQ(2, handled(SIGRTMAX));
	EXPECT_EQ(2, sig_count(self->kq, SIGRTMAX, &self->bad));
}

struct target_thread {
	pthread_t thread;
	pid_t tid;
	int stop;
};

static void *target_fn(void *arg)
{
	struct target_thread *t = arg;

	__atomic_store_n(&t->tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	while (!__atomic_load_n(&t->stop, __ATOMIC_SEQ_CST))
		sleep_ms(5);
	return NULL;
}

/* A signal sent to one thread counts for the process. */
TEST_F(ksig, tgkill_other_thread)
{
	struct target_thread t = { 0 };
	int i;

	ASSERT_EQ(0, set_handler(SIGUSR1, count_handler));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	ASSERT_EQ(0, pthread_create(&t.thread, NULL, target_fn, &t));
	while (!__atomic_load_n(&t.tid, __ATOMIC_SEQ_CST))
		sched_yield();
	/* One at a time, so that none is merged into a pending one. */
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), t.tid, SIGUSR1));
	for (i = 0; i < 400 && handled(SIGUSR1) < 1; i++)
		sleep_ms(5);
	ASSERT_EQ(0, pthread_kill(t.thread, SIGUSR1));
	for (i = 0; i < 400 && handled(SIGUSR1) < 2; i++)
		sleep_ms(5);
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGUSR1));
	EXPECT_EQ(3, handled(SIGUSR1));
	EXPECT_EQ(3, sig_count(self->kq, SIGUSR1, &self->bad));
	/* Merged into a pending one, a signal is still a generation. */
	ASSERT_EQ(0, block(SIGUSR1, SIG_BLOCK));
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGUSR1));
	ASSERT_EQ(0, syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGUSR1));
	EXPECT_EQ(2, sig_count(self->kq, SIGUSR1, &self->bad));
	__atomic_store_n(&t.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(t.thread, NULL);
}

TEST_F(ksig, from_other_process)
{
	struct kevent ev;
	int status;
	pid_t pid;

	ASSERT_EQ(0, set_handler(SIGUSR2, SIG_IGN));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR2, 0));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		union sigval v = { .sival_int = 1 };

		if (kill(getppid(), SIGUSR2) || sigqueue(getppid(), SIGUSR2, v))
			_exit(10);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, WEXITSTATUS(status));
	ASSERT_EQ(1, kev_wait_for(self->kq, SIGUSR2, EVFILT_SIGNAL, &ev, EVENT_MS));
	EXPECT_EQ(2, ev.data);
}

/* Signals of another process (here: our child's) are not ours. */
TEST_F(ksig, other_process_not_counted)
{
	struct kevent ev;
	int status;
	pid_t pid;

	ASSERT_EQ(0, set_handler(SIGUSR1, SIG_IGN));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		sleep_ms(300);
		_exit(0);
	}
	ASSERT_EQ(0, kill(pid, SIGUSR1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 50));
}

TEST_F(ksig, several_kqueues)
{
	struct kevent evs[8];
	int kq2, n, i;

	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_EQ(0, set_handler(SIGUSR1, SIG_IGN));
	ASSERT_EQ(0, set_handler(SIGUSR2, SIG_IGN));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	ASSERT_EQ(0, sig_add(kq2, SIGUSR1, 0));
	ASSERT_EQ(0, sig_add(kq2, SIGUSR2, 0));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_EQ(0, kill(getpid(), SIGUSR2));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	EXPECT_EQ(2, sig_count(self->kq, SIGUSR1, &self->bad));
	EXPECT_EQ(0, sig_count(self->kq, SIGUSR2, &self->bad));
	n = kev_poll(kq2, evs, 8);
	EXPECT_EQ(2, n);
	i = find_event(evs, n, SIGUSR1, EVFILT_SIGNAL);
	ASSERT_GE(i, 0);
	EXPECT_EQ(2, evs[i].data);
	i = find_event(evs, n, SIGUSR2, EVFILT_SIGNAL);
	ASSERT_GE(i, 0);
	EXPECT_EQ(1, evs[i].data);
	close(kq2);
	/* The first kqueue is unaffected by the second's close. */
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	EXPECT_EQ(1, sig_count(self->kq, SIGUSR1, &self->bad));
}

TEST_F(ksig, only_while_registered)
{
	ASSERT_EQ(0, set_handler(SIGUSR1, SIG_IGN));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	EXPECT_EQ(0, sig_count(self->kq, SIGUSR1, &self->bad));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	/* Re-adding keeps the count. */
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	EXPECT_EQ(2, sig_count(self->kq, SIGUSR1, &self->bad));
	ASSERT_EQ(0, kq_change(self->kq, SIGUSR1, EVFILT_SIGNAL, EV_DELETE, 0, 0, NULL));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	EXPECT_EQ(0, sig_count(self->kq, SIGUSR1, &self->bad));
}

TEST_F(ksig, disabled_keeps_counting)
{
	ASSERT_EQ(0, set_handler(SIGUSR1, SIG_IGN));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, EV_DISABLE));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	EXPECT_EQ(0, sig_count(self->kq, SIGUSR1, &self->bad));
	ASSERT_EQ(0, kq_change(self->kq, SIGUSR1, EVFILT_SIGNAL, EV_ENABLE, 0, 0,
			       UDATA(SIGUSR1)));
	EXPECT_EQ(2, sig_count(self->kq, SIGUSR1, &self->bad));
}

/* A thread blocked in kevent() is woken by the signal. */
TEST_F(ksig, wakes_waiter)
{
	struct waiter w;

	ASSERT_EQ(0, set_handler(SIGUSR1, SIG_IGN));
	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	ASSERT_EQ(0, waiter_start(&w, self->kq, -1, 50));
	EXPECT_FALSE(waiter_done(&w));
	ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	ASSERT_TRUE(waiter_wait(&w, EVENT_MS));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ((uintptr_t)SIGUSR1, w.ev.ident);
	EXPECT_EQ(EVFILT_SIGNAL, w.ev.filter);
	EXPECT_EQ(1, w.ev.data);
}

/* Generated by the kernel: SIGPIPE on a write to a pipe with no reader. */
TEST_F(ksig, kernel_generated)
{
	int p[2];

	ASSERT_EQ(0, set_handler(SIGPIPE, SIG_IGN));
	ASSERT_EQ(0, sig_add(self->kq, SIGPIPE, 0));
	ASSERT_EQ(0, pipe(p));
	close(p[0]);
	EXPECT_EQ(-1, write(p[1], "x", 1));
	EXPECT_EQ(EPIPE, errno);
	EXPECT_EQ(1, sig_count(self->kq, SIGPIPE, &self->bad));
	close(p[1]);
}

/* A POSIX timer's signal, generated from timer interrupt context. */
TEST_F(ksig, posix_timer)
{
	struct itimerspec its = {
		.it_value = { 0, 2000000 },
		.it_interval = { 0, 2000000 },
	};
	struct sigevent sev;
	struct kevent ev;
	int64_t total = 0, deadline;
	timer_t timer;

	ASSERT_EQ(0, set_handler(SIGALRM, count_handler));
	ASSERT_EQ(0, sig_add(self->kq, SIGALRM, 0));
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SIGALRM;
	ASSERT_EQ(0, timer_create(CLOCK_MONOTONIC, &sev, &timer));
	ASSERT_EQ(0, timer_settime(timer, 0, &its, NULL));
	deadline = now_ms() + EVENT_MS;
	while (total < 5 && now_ms() < deadline) {
		int n = kev_wait(self->kq, NULL, 0, &ev, 1, 100);

		/* The handler may interrupt the wait. */
		if (n < 0 && errno == EINTR)
			continue;
		ASSERT_GE(n, 0);
		if (n == 0)
			continue;
		EXPECT_EQ((uintptr_t)SIGALRM, ev.ident);
		EXPECT_GE(ev.data, 1);
		total += ev.data;
	}
	ASSERT_EQ(0, timer_delete(timer));
	EXPECT_GE(total, 5);
	/* Each generation was also delivered (the timer rearms on delivery). */
	EXPECT_GE(handled(SIGALRM), 5);
}

TEST_F(ksig, einval)
{
	static const uint64_t bad[] = { 0, 65, 128, 1000, (uint64_t)-1,
					(uint64_t)1 << 32 | SIGUSR1 };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(EINVAL, kq_change(self->kq, (uintptr_t)bad[i],
					    EVFILT_SIGNAL, EV_ADD, 0, 0, NULL))
			TH_LOG("signal %llu", (unsigned long long)bad[i]);
	}
	EXPECT_EQ(EINVAL, kq_change(self->kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD,
				    NOTE_EXIT, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, SIGUSR1, EVFILT_SIGNAL, EV_DELETE,
				    0, 0, NULL));
	/* SIGKILL and SIGSTOP can be watched (for what it is worth). */
	EXPECT_EQ(0, sig_add(self->kq, SIGKILL, 0));
	EXPECT_EQ(0, sig_add(self->kq, SIGSTOP, 0));
	EXPECT_EQ(0, sig_add(self->kq, 1, 0));
}

/* The process is killed by a watched signal: nothing breaks. */
TEST_F(ksig, killed_while_watching)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int kq = kqueue();

		if (kq < 0 || sig_add(kq, SIGTERM, 0) || sig_add(kq, SIGKILL, 0))
			_exit(10);
		for (;;)
			pause();
	}
	sleep_ms(100);
	ASSERT_EQ(0, kill(pid, SIGTERM));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFSIGNALED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(SIGTERM, WTERMSIG(status));
}

struct sender {
	pthread_t thread;
	int stop;
	long sent;
};

static void *sender_fn(void *arg)
{
	struct sender *s = arg;

	while (!__atomic_load_n(&s->stop, __ATOMIC_SEQ_CST)) {
		kill(getpid(), SIGUSR1);
		s->sent++;
	}
	return NULL;
}

/*
 * Knotes come and go (so do the probe registrations) while another thread
 * sends signals without pause; then the count is exact again.
 */
TEST_F_TIMEOUT(ksig, churn_while_signalled, 90)
{
	struct sender snd = { 0 };
	int i, kq2;

	ASSERT_EQ(0, set_handler(SIGUSR1, SIG_IGN));
	ASSERT_EQ(0, pthread_create(&snd.thread, NULL, sender_fn, &snd));
	for (i = 0; i < 200; i++) {
		kq2 = kqueue();
		ASSERT_GE(kq2, 0);
		ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
		ASSERT_EQ(0, sig_add(kq2, SIGUSR1, 0));
		if (i & 1)
			sig_count(kq2, SIGUSR1, &self->bad);
		ASSERT_EQ(0, kq_change(self->kq, SIGUSR1, EVFILT_SIGNAL, EV_DELETE,
				       0, 0, NULL));
		ASSERT_EQ(0, close(kq2));
	}
	__atomic_store_n(&snd.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(snd.thread, NULL);
	EXPECT_GT(snd.sent, 0);

	ASSERT_EQ(0, sig_add(self->kq, SIGUSR1, 0));
	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, kill(getpid(), SIGUSR1));
	EXPECT_EQ(5, sig_count(self->kq, SIGUSR1, &self->bad));
}


/*
 * max_user_proc_watches of the loaded module: the runner loads it with the
 * default (8192), which is what a kernel without the parameter in sysfs has.
 */
static long proc_watch_limit(void)
{
	FILE *f = fopen("/sys/module/kqueue/parameters/max_user_proc_watches", "r");
	long v = 8192;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = 8192;
		fclose(f);
	}
	return v;
}

/*
 * The per-user limit on process and signal watches (module parameter
 * max_user_proc_watches): one more is ENOMEM; closing a kqueue gives its
 * watches back. Run as nobody, whose count starts at zero.
 */
TEST(signal_watches_per_user_limit)
{
	long max = proc_watch_limit();
	int status;
	pid_t pid;

	ASSERT_GT(max, 0);
	ASSERT_LE(max, 64 * 900) TH_LOG("max_user_proc_watches %ld too big to test", max);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int kqs[1000], nkq = 0, sig, err = 0;
		long n = 0;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		while (!err && nkq < 1000) {
			kqs[nkq] = kqueue();
			if (kqs[nkq] < 0)
				_exit(11);
			for (sig = 1; sig <= 64 && !err; sig++) {
				err = sig_add(kqs[nkq], sig, 0);
				if (!err)
					n++;
			}
			nkq++;
		}
		if (err != ENOMEM)
			_exit(12);
		if (n != max)
			_exit(13);
		/* A kqueue's watches come back when it is closed. */
		close(kqs[0]);
		if (sig_add(kqs[nkq - 1], 64, 0))
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
