// SPDX-License-Identifier: GPL-2.0
/*
 * EVFILT_PROC and EVFILT_PROCDESC: exit status in wait(2) format (normal
 * exit, exit code from another thread, death by signal), processes that are
 * not children (a grandchild, a sibling), zombies at registration, the
 * thread-group rule, NOTE_FORK, NOTE_EXEC, NOTE_TRACK chains three levels
 * deep with NOTE_CHILD and NOTE_TRACKERR, permission denial for an
 * unprivileged user, error paths, and pidfd targets. doc/semantics.md is the
 * contract.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD	O_EXCL
#endif
#ifndef CLONE_PIDFD
#define CLONE_PIDFD	0x00001000
#endif

/* Generous: everything runs under TCG. */
#define EVENT_MS	5000

/*
 * Helper mode: after an execve() of this program with KQ_PROC_HELPER set,
 * "exit:N" exits with N at once and "wait:N" first waits for a byte (or EOF)
 * on descriptor 3.
 */
__attribute__((constructor)) static void helper_mode(void)
{
	const char *h = getenv("KQ_PROC_HELPER");
	char c;

	if (!h)
		return;
	if (!strncmp(h, "wait:", 5)) {
		if (read(3, &c, 1) < 0)
			_exit(100);
		_exit(atoi(h + 5));
	}
	if (!strncmp(h, "exit:", 5))
		_exit(atoi(h + 5));
	_exit(101);
}

/* Replace the calling process by a helper; returns only on failure. */
static void exec_helper(const char *mode)
{
	char env[64];
	char *const argv[] = { "kqueue_proc_test", NULL };
	char *const envp[] = { env, NULL };

	snprintf(env, sizeof(env), "KQ_PROC_HELPER=%s", mode);
	execve("/proc/self/exe", argv, envp);
}

/* A pipe used as a gate: the child blocks in gate_wait() until gate_open(). */
struct gate {
	int fd[2];
};

static int gate_init(struct gate *g)
{
	return pipe(g->fd);
}

static void gate_wait(struct gate *g)
{
	char c;

	close(g->fd[1]);
	if (read(g->fd[0], &c, 1) < 0)
		_exit(120);
}

static void gate_open(struct gate *g)
{
	if (write(g->fd[1], "x", 1) != 1)
		perror("gate write");
}

/* Block until @pid is a zombie, without reaping it. */
static int wait_zombie(pid_t pid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	return waitid(P_PID, pid, &si, WEXITED | WNOWAIT);
}

/* A child that waits at @g, then exits with @code. */
static pid_t fork_gated_exit(struct gate *g, int code)
{
	pid_t pid = fork();

	if (pid == 0) {
		gate_wait(g);
		_exit(code);
	}
	close(g->fd[0]);
	return pid;
}

static int proc_add(int kq, pid_t pid, unsigned int fflags, void *udata)
{
	return kq_change(kq, (uintptr_t)pid, EVFILT_PROC, EV_ADD, fflags, 0,
			 udata);
}

static int pidfd_open(pid_t pid, unsigned int flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

/* The state letter of /proc/@pid/stat, or 0. */
static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

FIXTURE(kproc) {
	int kq;
};

FIXTURE_SETUP(kproc)
{
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(kproc)
{
	if (self->kq >= 0)
		close(self->kq);
	/* Reap whatever a failed test left behind. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

TEST_F(kproc, exit_status_and_no_reap)
{
	struct kevent ev;
	struct gate g;
	int status;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork_gated_exit(&g, 42);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT, UDATA(1)));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));

	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_TRUE(WIFEXITED((int)ev.data)) TH_LOG("data %#llx", (long long)ev.data);
	EXPECT_EQ(42, WEXITSTATUS((int)ev.data));
	EXPECT_EQ(EV_EOF | EV_ONESHOT | EV_CLEAR,
		  ev.flags & (EV_EOF | EV_ONESHOT | EV_CLEAR | EV_ERROR));
	EXPECT_EQ(UDATA(1), ev.udata);

	/* Reported once it is waitable, and not reaped: wait() gets it now. */
	EXPECT_EQ(pid, waitpid(pid, &status, WNOHANG));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(42, WEXITSTATUS(status));
	/* Oneshot: the knote is gone. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_change(self->kq, pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL));
}

TEST_F(kproc, exit_status_signal)
{
	static const int sigs[] = { SIGTERM, SIGKILL, SIGUSR1 };
	struct kevent ev;
	unsigned int i;
	int status;

	for (i = 0; i < ARRAY_SIZE(sigs); i++) {
		pid_t pid = fork();

		ASSERT_GE(pid, 0);
		if (pid == 0) {
			for (;;)
				pause();
		}
		ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT, NULL));
		ASSERT_EQ(0, kill(pid, sigs[i]));
		ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
		EXPECT_EQ(NOTE_EXIT, ev.fflags);
		EXPECT_TRUE(WIFSIGNALED((int)ev.data))
			TH_LOG("signal %d: data %#llx", sigs[i], (long long)ev.data);
		EXPECT_EQ(sigs[i], WTERMSIG((int)ev.data));
		EXPECT_TRUE(ev.flags & EV_EOF);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		/* The same status wait() reports. */
		EXPECT_EQ(status, (int)ev.data);
	}
}

static void *exit_group_thread(void *arg)
{
	sleep_ms(50);
	exit((int)(intptr_t)arg);
}

/* The process exit code set by exit() in a thread other than the leader. */
TEST_F(kproc, exit_code_from_thread)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pthread_t t;

		gate_wait(&g);
		pthread_create(&t, NULL, exit_group_thread, (void *)(intptr_t)77);
		for (;;)
			pause();
	}
	close(g.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT, NULL));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_TRUE(WIFEXITED((int)ev.data));
	EXPECT_EQ(77, WEXITSTATUS((int)ev.data));
	EXPECT_EQ(77, WEXITSTATUS(wait_child(pid, EVENT_MS)));
}

static void *thread_exit_only(void *arg)
{
	(void)arg;
	syscall(SYS_exit, 0);	/* this thread only */
	return NULL;
}

static void *wait_then_exit_group(void *arg)
{
	gate_wait(arg);
	exit(6);
}

/* Threads: a non-leader thread's exit is not the process's. */
TEST_F(kproc, thread_exit_is_not_process_exit)
{
	struct gate g, done;
	struct kevent ev;
	pid_t pid;
	char c;

	ASSERT_EQ(0, gate_init(&g));
	ASSERT_EQ(0, gate_init(&done));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pthread_t t;

		close(done.fd[0]);
		gate_wait(&g);
		pthread_create(&t, NULL, thread_exit_only, NULL);
		pthread_join(t, NULL);
		/* Tell the test the thread is gone, then wait for the end. */
		if (write(done.fd[1], "t", 1) != 1)
			_exit(121);
		sleep_ms(10000);
		_exit(3);
	}
	close(g.fd[0]);
	close(done.fd[1]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT, NULL));
	gate_open(&g);
	ASSERT_EQ(1, read(done.fd[0], &c, 1));
	sleep_ms(100);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	ASSERT_EQ(0, kill(pid, SIGTERM));
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(SIGTERM, WTERMSIG((int)ev.data));
	wait_child(pid, EVENT_MS);
}

/* The leader exits first: the process ends with its last thread. */
TEST_F(kproc, leader_exits_first)
{
	struct kevent ev;
	struct gate g;
	int i, status;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pthread_t t;

		pthread_create(&t, NULL, wait_then_exit_group, &g);
		syscall(SYS_exit, 0);	/* the leader only */
		_exit(122);
	}
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT, NULL));
	/* The leader becomes a zombie while its thread lives on. */
	for (i = 0; i < 200 && proc_state(pid) != 'Z'; i++)
		sleep_ms(10);
	ASSERT_EQ('Z', proc_state(pid));
	sleep_ms(50);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_TRUE(WIFEXITED((int)ev.data));
	EXPECT_EQ(6, WEXITSTATUS((int)ev.data));
	status = wait_child(pid, EVENT_MS);
	EXPECT_EQ(status, (int)ev.data);
}

TEST_F(kproc, zombie_at_registration)
{
	struct kevent ev;
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(17);
	ASSERT_EQ(0, wait_zombie(pid));
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT | NOTE_FORK, UDATA(2)));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ((uintptr_t)pid, ev.ident);
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_EQ(17, WEXITSTATUS((int)ev.data));
	EXPECT_TRUE(ev.flags & EV_EOF);
	ASSERT_EQ(pid, waitpid(pid, &status, WNOHANG));
	EXPECT_EQ(17, WEXITSTATUS(status));
}

/* A knote that did not ask for NOTE_EXIT goes away silently at exit. */
TEST_F(kproc, exit_without_note_exit_drops_knote)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork_gated_exit(&g, 0);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_FORK | NOTE_EXEC, NULL));
	gate_open(&g);
	ASSERT_EQ(0, wait_zombie(pid));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 100));
	EXPECT_EQ(ENOENT, kq_change(self->kq, pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL));
	wait_child(pid, EVENT_MS);
}

TEST_F(kproc, esrch)
{
	pid_t pid;
	int status;

	/* A reaped process. */
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(0);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(ESRCH, proc_add(self->kq, pid, NOTE_EXIT, NULL));
	/* Never valid pids. */
	EXPECT_EQ(ESRCH, proc_add(self->kq, 0, NOTE_EXIT, NULL));
	EXPECT_EQ(ESRCH, kq_change(self->kq, (uintptr_t)-1, EVFILT_PROC, EV_ADD,
				   NOTE_EXIT, 0, NULL));
	EXPECT_EQ(ESRCH, kq_change(self->kq, (uintptr_t)1 << 40, EVFILT_PROC,
				   EV_ADD, NOTE_EXIT, 0, NULL));
	EXPECT_EQ(ESRCH, proc_add(self->kq, INT_MAX, NOTE_EXIT, NULL));
	/* Changes other than EV_ADD on an absent knote. */
	EXPECT_EQ(ENOENT, kq_change(self->kq, getpid(), EVFILT_PROC, EV_DELETE, 0, 0, NULL));
}

static void *sleeper(void *arg)
{
	pid_t *tid = arg;

	__atomic_store_n(tid, (pid_t)syscall(SYS_gettid), __ATOMIC_SEQ_CST);
	sleep_ms(2000);
	return NULL;
}

TEST_F(kproc, thread_id_is_esrch)
{
	pid_t tid = 0;
	pthread_t t;

	ASSERT_EQ(0, pthread_create(&t, NULL, sleeper, &tid));
	while (!__atomic_load_n(&tid, __ATOMIC_SEQ_CST))
		sched_yield();
	EXPECT_NE(getpid(), tid);
	EXPECT_EQ(ESRCH, proc_add(self->kq, tid, NOTE_EXIT, NULL));
	/* The process itself is fine. */
	EXPECT_EQ(0, proc_add(self->kq, getpid(), NOTE_EXIT, NULL));
	pthread_join(t, NULL);
}

TEST_F(kproc, einval)
{
	pid_t me = getpid();

	EXPECT_EQ(EINVAL, proc_add(self->kq, me, NOTE_CHILD, NULL));
	EXPECT_EQ(EINVAL, proc_add(self->kq, me, NOTE_TRACKERR, NULL));
	EXPECT_EQ(EINVAL, proc_add(self->kq, me, NOTE_EXIT | 0x100, NULL));
	EXPECT_EQ(EINVAL, proc_add(self->kq, me, NOTE_EXIT | 0x10000000, NULL));
	/* A valid knote, then an invalid modification of it. */
	EXPECT_EQ(0, proc_add(self->kq, me, NOTE_EXIT, NULL));
	EXPECT_EQ(EINVAL, proc_add(self->kq, me, NOTE_CHILD, NULL));
	EXPECT_EQ(0, proc_add(self->kq, me, 0, NULL));
	EXPECT_EQ(0, kq_change(self->kq, me, EVFILT_PROC, EV_DELETE, 0, 0, NULL));
}

/* A grandchild: not our child; its parent's wait() is not disturbed. */
TEST_F(kproc, grandchild)
{
	int pidpipe[2], status;
	struct kevent ev;
	struct gate g;
	pid_t child, gc;

	ASSERT_EQ(0, pipe(pidpipe));
	ASSERT_EQ(0, gate_init(&g));
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		pid_t p = fork();
		int st;

		if (p == 0) {
			gate_wait(&g);
			_exit(9);
		}
		if (write(pidpipe[1], &p, sizeof(p)) != sizeof(p))
			_exit(10);
		if (waitpid(p, &st, 0) != p)
			_exit(11);
		_exit(WIFEXITED(st) && WEXITSTATUS(st) == 9 ? 0 : 12);
	}
	close(g.fd[0]);
	ASSERT_EQ((ssize_t)sizeof(gc), read(pidpipe[0], &gc, sizeof(gc)));
	ASSERT_EQ(0, proc_add(self->kq, gc, NOTE_EXIT, NULL));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, gc, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_EQ(9, WEXITSTATUS((int)ev.data));
	status = wait_child(child, EVENT_MS);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* A sibling watches a sibling with its own kqueue. */
TEST_F(kproc, sibling)
{
	int ready[2], status;
	struct gate g;
	pid_t a, b;
	char c;

	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, gate_init(&g));
	a = fork();
	ASSERT_GE(a, 0);
	if (a == 0) {
		gate_wait(&g);
		_exit(11);
	}
	b = fork();
	ASSERT_GE(b, 0);
	if (b == 0) {
		struct kevent kev;
		int kq = kqueue();

		if (kq < 0)
			_exit(10);
		if (proc_add(kq, a, NOTE_EXIT, NULL))
			_exit(11);
		if (write(ready[1], "r", 1) != 1)
			_exit(12);
		if (kev_wait_for(kq, a, EVFILT_PROC, &kev, EVENT_MS) != 1)
			_exit(13);
		if (kev.fflags != NOTE_EXIT || !WIFEXITED((int)kev.data) ||
		    WEXITSTATUS((int)kev.data) != 11)
			_exit(14);
		_exit(0);
	}
	close(g.fd[0]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	gate_open(&g);
	status = wait_child(b, EVENT_MS * 2);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	status = wait_child(a, EVENT_MS);
	EXPECT_EQ(11, WEXITSTATUS(status));
}

/* Permission: the rule of kill(2); EACCES otherwise. */
TEST_F(kproc, permission_denied_unprivileged)
{
	int status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kevent kev;
		pid_t own;
		int kq;

		if (setgid(65534) || setuid(65534))
			_exit(10);
		kq = kqueue();
		if (kq < 0)
			_exit(11);
		/* init and our root parent: another uid. */
		if (proc_add(kq, 1, NOTE_EXIT, NULL) != EACCES)
			_exit(12);
		if (proc_add(kq, getppid(), NOTE_EXIT | NOTE_FORK, NULL) != EACCES)
			_exit(13);
		/* Nothing was registered. */
		if (kev_poll(kq, &kev, 1) != 0)
			_exit(14);
		/* Ourselves and our own child: fine. */
		if (proc_add(kq, getpid(), NOTE_FORK, NULL))
			_exit(15);
		own = fork();
		if (own == 0)
			_exit(5);
		if (proc_add(kq, own, NOTE_EXIT, NULL))
			_exit(16);
		if (kev_wait_for(kq, own, EVFILT_PROC, &kev, EVENT_MS) != 1 ||
		    WEXITSTATUS((int)kev.data) != 5)
			_exit(17);
		_exit(0);
	}
	status = wait_child(pid, EVENT_MS * 2);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* Root may watch any process: CAP_KILL. */
TEST_F(kproc, privileged_watches_other_uid)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		gate_wait(&g);
		_exit(4);
	}
	close(g.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT, NULL));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(4, WEXITSTATUS((int)ev.data));
	wait_child(pid, EVENT_MS);
}

TEST_F(kproc, note_fork_not_threads)
{
	struct gate g1, g2, g3;
	struct kevent ev;
	int status;
	pid_t pid;
	char c;

	ASSERT_EQ(0, gate_init(&g1));
	ASSERT_EQ(0, gate_init(&g2));
	ASSERT_EQ(0, gate_init(&g3));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pthread_t t;
		pid_t p;

		close(g3.fd[0]);
		gate_wait(&g1);
		/* A thread first: not a fork. */
		pthread_create(&t, NULL, thread_exit_only, NULL);
		pthread_join(t, NULL);
		if (write(g3.fd[1], "t", 1) != 1)
			_exit(10);
		gate_wait(&g2);
		p = fork();
		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
		sleep_ms(10000);
		_exit(0);
	}
	close(g1.fd[0]);
	close(g2.fd[0]);
	close(g3.fd[1]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_FORK, UDATA(3)));
	gate_open(&g1);
	ASSERT_EQ(1, read(g3.fd[0], &c, 1));
	sleep_ms(50);
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));

	gate_open(&g2);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ((unsigned int)NOTE_FORK, ev.fflags);
	EXPECT_EQ(0, ev.data);
	EXPECT_EQ(EV_CLEAR, ev.flags & (EV_CLEAR | EV_EOF | EV_ONESHOT));
	EXPECT_EQ(UDATA(3), ev.udata);
	/* EV_CLEAR: reported once. */
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));

	kill(pid, SIGKILL);
	status = wait_child(pid, EVENT_MS);
	EXPECT_EQ(SIGKILL, WTERMSIG(status));
	/* No NOTE_EXIT asked for: no more events. */
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 50));
}

TEST_F(kproc, note_exec_then_exit)
{
	struct gate g, hold;
	struct kevent ev;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	ASSERT_EQ(0, gate_init(&hold));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		gate_wait(&g);
		close(hold.fd[1]);
		if (dup2(hold.fd[0], 3) != 3)
			_exit(10);
		exec_helper("wait:23");
		_exit(11);
	}
	close(g.fd[0]);
	close(hold.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXEC | NOTE_EXIT, NULL));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ((unsigned int)NOTE_EXEC, ev.fflags);
	EXPECT_EQ(0, ev.data);
	EXPECT_FALSE(ev.flags & EV_EOF);

	gate_open(&hold);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_EQ(23, WEXITSTATUS((int)ev.data));
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(23, WEXITSTATUS(wait_child(pid, EVENT_MS)));
}

static void *exec_from_thread(void *arg)
{
	exec_helper(arg);
	_exit(12);
}

/*
 * execve() from a thread other than the leader: the other threads and the
 * old leader go away and the thread takes over the process's pid. That is
 * NOTE_EXEC, not an exit.
 */
TEST_F(kproc, exec_from_non_leader_thread)
{
	struct gate g, hold;
	struct kevent ev;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	ASSERT_EQ(0, gate_init(&hold));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pthread_t t;

		gate_wait(&g);
		close(hold.fd[1]);
		if (dup2(hold.fd[0], 3) != 3)
			_exit(10);
		pthread_create(&t, NULL, exec_from_thread, "wait:44");
		for (;;)
			pause();
	}
	close(g.fd[0]);
	close(hold.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXEC | NOTE_EXIT, NULL));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ((unsigned int)NOTE_EXEC, ev.fflags);
	EXPECT_FALSE(ev.flags & EV_EOF);
	/* Still the same process: no exit until the helper ends. */
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 100));
	gate_open(&hold);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_EQ(44, WEXITSTATUS((int)ev.data));
	EXPECT_EQ(44, WEXITSTATUS(wait_child(pid, EVENT_MS)));
}

/* Only the notes asked for are reported; pending ones are merged. */
TEST_F(kproc, only_requested_notes)
{
	struct kevent ev;
	struct gate g;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pid_t p;

		gate_wait(&g);
		p = fork();
		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
		exec_helper("exit:2");
		_exit(10);
	}
	close(g.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT, NULL));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_EQ(2, WEXITSTATUS((int)ev.data));
	wait_child(pid, EVENT_MS);

	/* All three asked for and all happened before collection: one event. */
	ASSERT_EQ(0, gate_init(&g));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pid_t p;

		gate_wait(&g);
		p = fork();
		if (p == 0)
			_exit(0);
		waitpid(p, NULL, 0);
		exec_helper("exit:8");
		_exit(10);
	}
	close(g.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT | NOTE_FORK | NOTE_EXEC, NULL));
	gate_open(&g);
	ASSERT_EQ(0, wait_zombie(pid));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(NOTE_EXIT | NOTE_FORK | NOTE_EXEC, ev.fflags);
	EXPECT_EQ(8, WEXITSTATUS((int)ev.data));
	EXPECT_TRUE(ev.flags & EV_EOF);
	wait_child(pid, EVENT_MS);
}

TEST_F(kproc, several_kqueues_same_process)
{
	struct kevent ev;
	struct gate g;
	int kq2, kq3;
	pid_t pid;

	kq2 = kqueue();
	kq3 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_GE(kq3, 0);
	ASSERT_EQ(0, gate_init(&g));
	pid = fork_gated_exit(&g, 31);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_EXIT, NULL));
	ASSERT_EQ(0, proc_add(kq2, pid, NOTE_EXIT, NULL));
	ASSERT_EQ(0, proc_add(kq3, pid, NOTE_EXIT, NULL));
	/* One of them deleted: the others are unaffected. */
	ASSERT_EQ(0, kq_change(kq3, pid, EVFILT_PROC, EV_DELETE, 0, 0, NULL));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(31, WEXITSTATUS((int)ev.data));
	ASSERT_EQ(1, kev_wait_for(kq2, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(31, WEXITSTATUS((int)ev.data));
	EXPECT_EQ(0, kev_poll(kq3, &ev, 1));
	close(kq2);
	close(kq3);
	wait_child(pid, EVENT_MS);
}

/* Closing a kqueue with watches on live processes, then the processes exit. */
TEST_F(kproc, close_with_live_watches)
{
	struct gate g;
	pid_t pid;
	int kq2;

	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_EQ(0, gate_init(&g));
	pid = fork_gated_exit(&g, 1);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, proc_add(kq2, pid, NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK, NULL));
	ASSERT_EQ(0, kq_change(kq2, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL));
	ASSERT_EQ(0, close(kq2));
	gate_open(&g);
	EXPECT_EQ(1, WEXITSTATUS(wait_child(pid, EVENT_MS)));
}

/* Accumulated view of the events of one process in a NOTE_TRACK test. */
struct tracked {
	pid_t pid;
	unsigned int fflags;	/* every note seen */
	int64_t ppid;		/* data of NOTE_CHILD */
	int64_t status;		/* data of NOTE_EXIT */
	unsigned short flags;	/* flags of every event */
	int nchild;		/* events with NOTE_CHILD */
	int nevents;
	int bad;		/* NOTE_CHILD not alone, or not first */
};

static struct tracked *tracked_get(struct tracked *t, int *n, pid_t pid)
{
	int i;

	for (i = 0; i < *n; i++)
		if (t[i].pid == pid)
			return &t[i];
	if (*n == 16)
		return NULL;
	memset(&t[*n], 0, sizeof(t[*n]));
	t[*n].pid = pid;
	return &t[(*n)++];
}

/*
 * Collect EVFILT_PROC events into @t until the exits of @nexit processes
 * were seen or @ms passed. Returns the number of exits seen.
 */
static int track_collect(int kq, struct tracked *t, int *n, int nexit, long ms,
			 void *udata, int *wrong_udata)
{
	int64_t deadline = now_ms() + ms;
	struct kevent evs[16];
	int exits = 0, i, k;

	while (exits < nexit && now_ms() < deadline) {
		k = kev_wait(kq, NULL, 0, evs, 16, 100);
		for (i = 0; i < k; i++) {
			struct tracked *p;

			if (evs[i].filter != EVFILT_PROC)
				continue;
			p = tracked_get(t, n, (pid_t)evs[i].ident);
			if (!p)
				continue;
			if (evs[i].udata != udata)
				(*wrong_udata)++;
			p->fflags |= evs[i].fflags;
			p->flags |= evs[i].flags;
			if (evs[i].fflags & NOTE_CHILD) {
				p->ppid = evs[i].data;
				p->nchild++;
				if (evs[i].fflags != NOTE_CHILD || p->nevents)
					p->bad++;
			}
			p->nevents++;
			if (evs[i].fflags & NOTE_EXIT) {
				p->status = evs[i].data;
				exits++;
			}
		}
	}
	return exits;
}

/* NOTE_TRACK three levels deep: c1 -> c2 -> c3, c3 execs. */
TEST_F(kproc, track_chain_three_levels)
{
	struct tracked t[16], *t1, *t2, *t3;
	int n = 0, wrong = 0, pids[2];
	pid_t c1, c2, c3, pair[2];
	struct gate g;
	int status;

	ASSERT_EQ(0, pipe(pids));
	ASSERT_EQ(0, gate_init(&g));
	c1 = fork();
	ASSERT_GE(c1, 0);
	if (c1 == 0) {
		pid_t p;
		int st;

		gate_wait(&g);
		p = fork();
		if (p == 0) {
			pid_t q = fork();

			if (q == 0) {
				exec_helper("exit:33");
				_exit(50);
			}
			pair[0] = q;
			pair[1] = getpid();
			if (write(pids[1], pair, sizeof(pair)) != sizeof(pair))
				_exit(51);
			waitpid(q, &st, 0);
			_exit(WEXITSTATUS(st) == 33 ? 22 : 52);
		}
		pair[0] = p;
		pair[1] = getpid();
		if (write(pids[1], pair, sizeof(pair)) != sizeof(pair))
			_exit(53);
		waitpid(p, &st, 0);
		_exit(WEXITSTATUS(st) == 22 ? 11 : 54);
	}
	close(g.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, c1,
			      NOTE_TRACK | NOTE_FORK | NOTE_EXEC | NOTE_EXIT,
			      UDATA(7)));
	gate_open(&g);
	EXPECT_EQ(3, track_collect(self->kq, t, &n, 3, EVENT_MS * 2, UDATA(7),
				   &wrong));
	EXPECT_EQ(0, wrong);
	status = wait_child(c1, EVENT_MS);
	EXPECT_EQ(11, WEXITSTATUS(status));

	/* The pids as the processes themselves reported them. */
	ASSERT_EQ((ssize_t)sizeof(pair), read(pids[0], pair, sizeof(pair)));
	if (pair[1] == c1) {
		c2 = pair[0];
		ASSERT_EQ((ssize_t)sizeof(pair), read(pids[0], pair, sizeof(pair)));
		c3 = pair[0];
		EXPECT_EQ(c2, pair[1]);
	} else {
		c3 = pair[0];
		c2 = pair[1];
		ASSERT_EQ((ssize_t)sizeof(pair), read(pids[0], pair, sizeof(pair)));
		EXPECT_EQ(c2, pair[0]);
		EXPECT_EQ(c1, pair[1]);
	}

	t1 = tracked_get(t, &n, c1);
	t2 = tracked_get(t, &n, c2);
	t3 = tracked_get(t, &n, c3);
	ASSERT_NE(NULL, t1);
	ASSERT_NE(NULL, t2);
	ASSERT_NE(NULL, t3);
	EXPECT_EQ(3, n) TH_LOG("events for %d processes", n);

	EXPECT_EQ((unsigned int)NOTE_FORK | NOTE_EXIT, t1->fflags);
	EXPECT_EQ(0, t1->nchild);
	EXPECT_EQ(11, WEXITSTATUS((int)t1->status));

	EXPECT_EQ((unsigned int)NOTE_CHILD | NOTE_FORK | NOTE_EXIT, t2->fflags);
	EXPECT_EQ(1, t2->nchild);
	EXPECT_EQ(c1, t2->ppid);
	EXPECT_EQ(22, WEXITSTATUS((int)t2->status));

	EXPECT_EQ((unsigned int)NOTE_CHILD | NOTE_EXEC | NOTE_EXIT, t3->fflags);
	EXPECT_EQ(1, t3->nchild);
	EXPECT_EQ(c2, t3->ppid);
	EXPECT_EQ(33, WEXITSTATUS((int)t3->status));

	EXPECT_EQ(0, t1->bad + t2->bad + t3->bad);
	EXPECT_TRUE(t2->flags & EV_EOF);
	EXPECT_TRUE(t3->flags & EV_EOF);
	EXPECT_TRUE(t3->flags & EV_CLEAR);
	/* Every knote ended with its process. */
	EXPECT_EQ(ENOENT, kq_change(self->kq, c2, EVFILT_PROC, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, c3, EVFILT_PROC, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, c1, EVFILT_PROC, EV_DELETE, 0, 0, NULL));
}

/* A tracked child that exits at once is still seen, exit status included. */
TEST_F(kproc, track_child_exits_at_once)
{
	struct tracked t[16], *tc;
	int n = 0, wrong = 0, status;
	struct gate g;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pid_t p;
		int i;

		gate_wait(&g);
		for (i = 0; i < 5; i++) {
			p = fork();
			if (p == 0)
				_exit(5 + i);
			waitpid(p, NULL, 0);
		}
		_exit(0);
	}
	close(g.fd[0]);
	/* NOTE_TRACK alone: the parent reports only its exit. */
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_TRACK | NOTE_EXIT, NULL));
	gate_open(&g);
	EXPECT_EQ(6, track_collect(self->kq, t, &n, 6, EVENT_MS * 2, NULL, &wrong));
	EXPECT_EQ(6, n);
	for (int i = 0; i < n; i++) {
		tc = &t[i];
		if (tc->pid == pid) {
			EXPECT_EQ(NOTE_EXIT, tc->fflags);
			continue;
		}
		EXPECT_EQ((unsigned int)NOTE_CHILD | NOTE_EXIT, tc->fflags);
		EXPECT_EQ(pid, tc->ppid);
		EXPECT_EQ(1, tc->nchild);
		EXPECT_EQ(0, tc->bad);
		EXPECT_GE(WEXITSTATUS((int)tc->status), 5);
		EXPECT_LE(WEXITSTATUS((int)tc->status), 9);
	}
	status = wait_child(pid, EVENT_MS);
	EXPECT_EQ(0, WEXITSTATUS(status));
}

/* A kevent() blocked with no timeout wakes for a new tracked child. */
TEST_F(kproc, track_wakes_waiter)
{
	struct waiter w;
	struct gate g;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pid_t p;

		gate_wait(&g);
		p = fork();
		if (p == 0) {
			sleep_ms(2000);
			_exit(0);
		}
		waitpid(p, NULL, 0);
		_exit(0);
	}
	close(g.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_TRACK, NULL));
	ASSERT_EQ(0, waiter_start(&w, self->kq, 5000, 50));
	gate_open(&g);
	ASSERT_TRUE(waiter_wait(&w, EVENT_MS + 1000));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(EVFILT_PROC, w.ev.filter);
	EXPECT_EQ((unsigned int)NOTE_CHILD, w.ev.fflags);
	EXPECT_EQ(pid, w.ev.data);
	EXPECT_NE((uintptr_t)pid, w.ev.ident);
	wait_child(pid, EVENT_MS);
}

static pid_t clone3_set_tid(pid_t tid)
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
		uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
	} args;

	memset(&args, 0, sizeof(args));
	args.exit_signal = SIGCHLD;
	args.set_tid = (uintptr_t)&tid;
	args.set_tid_size = 1;
	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

/*
 * An EVFILT_PROCDESC knote does not keep its pidfd open: closing the last
 * descriptor releases it. With CLONE_PIDFD_AUTOKILL that release kills the
 * child, which closes the pipe it holds (the child is auto-reaped).
 */
TEST_F(kproc, procdesc_does_not_hold_the_pidfd)
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal;
		uint64_t stack, stack_size, tls, set_tid, set_tid_size, cgroup;
	} args;
	struct pollfd pfd;
	int pidfd = -1, p[2];
	pid_t pid;

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	memset(&args, 0, sizeof(args));
	/* CLONE_PIDFD | CLONE_AUTOREAP | CLONE_NNP | CLONE_PIDFD_AUTOKILL */
	args.flags = CLONE_PIDFD | (1ULL << 34) | (1ULL << 35) | (1ULL << 36);
	args.pidfd = (uintptr_t)&pidfd;
	pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	ASSERT_GE(pid, 0) TH_LOG("clone3 with CLONE_PIDFD_AUTOKILL: %s",
				 strerror(errno));
	if (pid == 0) {
		close(p[0]);
		for (;;)
			pause();
	}
	close(p[1]);
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(0, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD,
			       NOTE_EXIT, 0, NULL));
	ASSERT_EQ(0, close(pidfd));
	pfd.fd = p[0];
	pfd.events = POLLIN;
	EXPECT_EQ(1, poll(&pfd, 1, EVENT_MS))
		TH_LOG("the child survived its pidfd: the knote holds it");
	EXPECT_TRUE(pfd.revents & POLLHUP);
	if (!(pfd.revents & POLLHUP))
		kill(pid, SIGKILL);
	close(p[0]);
}

/*
 * NOTE_TRACKERR: the child cannot be tracked because the kqueue already has
 * a knote with its pid (one of a process that exited unreported, kept by
 * EV_DISABLE, whose pid the child reuses, through clone3's set_tid).
 */
TEST_F(kproc, trackerr_on_ident_collision)
{
	struct kevent ev;
	struct gate g;
	pid_t old, pid;
	int status;

	old = fork();
	ASSERT_GE(old, 0);
	if (old == 0) {
		sleep_ms(100);
		_exit(0);
	}
	ASSERT_EQ(0, kq_change(self->kq, old, EVFILT_PROC, EV_ADD | EV_DISABLE,
			       NOTE_EXIT, 0, UDATA(9)));
	ASSERT_EQ(old, waitpid(old, &status, 0));

	ASSERT_EQ(0, gate_init(&g));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pid_t p;

		gate_wait(&g);
		p = clone3_set_tid(old);
		if (p == 0)
			_exit(0);
		if (p != old)
			_exit(10);
		waitpid(p, NULL, 0);
		_exit(0);
	}
	close(g.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_TRACK | NOTE_FORK, UDATA(8)));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	status = wait_child(pid, EVENT_MS);
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("clone3 with set_tid failed");
	EXPECT_EQ(UDATA(8), ev.udata);
	EXPECT_TRUE((ev.fflags & NOTE_FORK) != 0);
	/* The collision is found when the child is registered: maybe later. */
	if (!(ev.fflags & NOTE_TRACKERR))
		ASSERT_EQ(1, kev_wait_for(self->kq, pid, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_TRUE((ev.fflags & NOTE_TRACKERR) != 0);
	/* The old knote is untouched: its exit is reported when enabled. */
	ASSERT_EQ(0, kq_change(self->kq, old, EVFILT_PROC, EV_ENABLE, 0, 0, UDATA(9)));
	ASSERT_EQ(1, kev_wait_for(self->kq, old, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_EQ(UDATA(9), ev.udata);
	EXPECT_TRUE(WIFEXITED((int)ev.data));
}

/*
 * Pids are those of the caller's pid namespace: a tracked child in a new pid
 * namespace (pid 1 there) is reported with its pid in ours, and a process
 * in the new namespace cannot name one outside it.
 */
TEST_F(kproc, pid_namespace)
{
	int pids[2], status;
	struct kevent ev;
	struct gate g;
	pid_t c1, inner;

	ASSERT_EQ(0, pipe(pids));
	ASSERT_EQ(0, gate_init(&g));
	c1 = fork();
	ASSERT_GE(c1, 0);
	if (c1 == 0) {
		pid_t outer = getppid();
		pid_t p;
		int st;

		gate_wait(&g);
		if (unshare(CLONE_NEWPID))
			_exit(10);
		p = fork();
		if (p == 0) {
			int kq = kqueue();

			if (getpid() != 1 || kq < 0)
				_exit(20);
			/* Outside our namespace: no such process here. */
			if (proc_add(kq, outer, NOTE_EXIT, NULL) != ESRCH)
				_exit(21);
			if (proc_add(kq, 1, NOTE_EXIT, NULL))
				_exit(22);
			_exit(7);
		}
		if (write(pids[1], &p, sizeof(p)) != sizeof(p))
			_exit(11);
		if (waitpid(p, &st, 0) != p)
			_exit(12);
		_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 13);
	}
	close(g.fd[0]);
	ASSERT_EQ(0, proc_add(self->kq, c1, NOTE_TRACK | NOTE_EXIT, NULL));
	gate_open(&g);
	ASSERT_EQ((ssize_t)sizeof(inner), read(pids[0], &inner, sizeof(inner)));
	EXPECT_NE(1, inner);
	ASSERT_EQ(1, kev_wait_for(self->kq, inner, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ((unsigned int)NOTE_CHILD, ev.fflags);
	EXPECT_EQ(c1, ev.data);
	ASSERT_EQ(1, kev_wait_for(self->kq, inner, EVFILT_PROC, &ev, EVENT_MS));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_EQ(7, WEXITSTATUS((int)ev.data));
	status = wait_child(c1, EVENT_MS);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(7, WEXITSTATUS(status));
}

/* A child that forks @n children (exiting with 1..n) and reaps them. */
static pid_t fork_forker(struct gate *g, int n)
{
	pid_t pid = fork();
	int i;

	if (pid == 0) {
		if (g)
			gate_wait(g);
		for (i = 1; i <= n; i++) {
			pid_t p = fork();

			if (p == 0)
				_exit(i);
		}
		while (wait(NULL) > 0)
			;
		_exit(0);
	}
	if (g)
		close(g->fd[0]);
	return pid;
}

/* Many tracked children: each gets its knote, each exit its status. */
TEST_F_TIMEOUT(kproc, track_many_children, 90)
{
	const int n = 40;
	int64_t deadline = now_ms() + EVENT_MS * 4;
	int nchild = 0, nexit = 0, bad = 0, seen[41] = { 0 };
	struct kevent evs[16];
	struct gate g;
	pid_t pid;
	int i, k;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork_forker(&g, n);
	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, proc_add(self->kq, pid, NOTE_TRACK | NOTE_EXIT, NULL));
	gate_open(&g);
	while (nexit < n + 1 && now_ms() < deadline) {
		k = kev_wait(self->kq, NULL, 0, evs, 16, 100);
		ASSERT_GE(k, 0);
		for (i = 0; i < k; i++) {
			if (evs[i].fflags & NOTE_CHILD) {
				nchild++;
				if (evs[i].data != pid || evs[i].fflags != NOTE_CHILD)
					bad++;
			}
			if (evs[i].fflags & NOTE_EXIT) {
				int code = WEXITSTATUS((int)evs[i].data);

				nexit++;
				if ((pid_t)evs[i].ident == pid)
					continue;
				if (code < 1 || code > n || seen[code]++)
					bad++;
			}
		}
	}
	EXPECT_EQ(n, nchild);
	EXPECT_EQ(n + 1, nexit);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, WEXITSTATUS(wait_child(pid, EVENT_MS)));
}

/* Closing a kqueue while tracked processes fork (pending child knotes). */
TEST_F_TIMEOUT(kproc, track_close_while_forking, 90)
{
	int round, kq;
	pid_t pid;

	for (round = 0; round < 5; round++) {
		kq = kqueue();
		ASSERT_GE(kq, 0);
		pid = fork_forker(NULL, 6);
		ASSERT_GT(pid, 0);
		/* Registration races with the first forks: fine either way. */
		proc_add(kq, pid, NOTE_TRACK | NOTE_FORK | NOTE_EXEC | NOTE_EXIT, NULL);
		if (round & 1)
			kev_wait(kq, NULL, 0, NULL, 0, 0);
		sleep_ms(round * 2);
		ASSERT_EQ(0, close(kq));
		EXPECT_EQ(0, WEXITSTATUS(wait_child(pid, EVENT_MS * 3)));
	}
}

/* EVFILT_PROCDESC */

TEST_F(kproc, pidfd_exit)
{
	struct kevent ev;
	struct gate g;
	int pidfd;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork_gated_exit(&g, 12);
	ASSERT_GT(pid, 0);
	pidfd = pidfd_open(pid, 0);
	ASSERT_GE(pidfd, 0) TH_LOG("pidfd_open: %s", strerror(errno));
	ASSERT_EQ(0, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT,
			       0, UDATA(4)));
	EXPECT_EQ(0, kev_poll(self->kq, &ev, 1));
	gate_open(&g);
	ASSERT_EQ(1, kev_wait_for(self->kq, pidfd, EVFILT_PROCDESC, &ev, EVENT_MS));
	EXPECT_EQ(NOTE_EXIT, ev.fflags);
	EXPECT_EQ(12, WEXITSTATUS((int)ev.data));
	EXPECT_TRUE(ev.flags & EV_EOF);
	EXPECT_EQ(UDATA(4), ev.udata);
	EXPECT_EQ(12, WEXITSTATUS(wait_child(pid, EVENT_MS)));
	close(pidfd);
}

TEST_F(kproc, pidfd_from_clone)
{
	struct kevent ev;
	int pidfd = -1;
	pid_t pid;

	pid = (pid_t)syscall(SYS_clone, CLONE_PIDFD | SIGCHLD, 0, &pidfd, 0, 0);
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		for (;;)
			pause();
	}
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(0, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT,
			       0, NULL));
	ASSERT_EQ(0, kill(pid, SIGINT));
	ASSERT_EQ(1, kev_wait_for(self->kq, pidfd, EVFILT_PROCDESC, &ev, EVENT_MS));
	EXPECT_TRUE(WIFSIGNALED((int)ev.data));
	EXPECT_EQ(SIGINT, WTERMSIG((int)ev.data));
	wait_child(pid, EVENT_MS);
	close(pidfd);
}

TEST_F(kproc, pidfd_zombie_and_reaped)
{
	struct kevent ev;
	int pidfd, status;
	pid_t pid;

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(21);
	pidfd = pidfd_open(pid, 0);
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(0, wait_zombie(pid));
	ASSERT_EQ(0, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT,
			       0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, &ev, 1));
	EXPECT_EQ(EVFILT_PROCDESC, ev.filter);
	EXPECT_EQ(21, WEXITSTATUS((int)ev.data));

	/* Reaped: the status is gone; the registration fails. */
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(ESRCH, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD,
				   NOTE_EXIT, 0, NULL));
	close(pidfd);
}

TEST_F(kproc, pidfd_errors)
{
	int p[2], pidfd, tpidfd;

	ASSERT_EQ(0, pipe(p));
	EXPECT_EQ(EINVAL, kq_change(self->kq, p[0], EVFILT_PROCDESC, EV_ADD,
				    NOTE_EXIT, 0, NULL));
	close(p[1]);
	EXPECT_EQ(EBADF, kq_change(self->kq, p[1], EVFILT_PROCDESC, EV_ADD,
				   NOTE_EXIT, 0, NULL));
	EXPECT_EQ(EBADF, kq_change(self->kq, (uintptr_t)1 << 40, EVFILT_PROCDESC,
				   EV_ADD, NOTE_EXIT, 0, NULL));
	pidfd = pidfd_open(getpid(), 0);
	ASSERT_GE(pidfd, 0);
	EXPECT_EQ(EINVAL, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD,
				    NOTE_FORK, 0, NULL));
	EXPECT_EQ(EINVAL, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD,
				    NOTE_EXIT | NOTE_TRACK, 0, NULL));
	EXPECT_EQ(0, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT,
			       0, NULL));
	tpidfd = pidfd_open(getpid(), PIDFD_THREAD);
	ASSERT_GE(tpidfd, 0);
	EXPECT_EQ(EINVAL, kq_change(self->kq, tpidfd, EVFILT_PROCDESC, EV_ADD,
				    NOTE_EXIT, 0, NULL));
	close(tpidfd);
	close(pidfd);
	close(p[0]);
}

/* Closing the pidfd ends the knote, as for any descriptor. */
TEST_F(kproc, pidfd_close_drops_knote)
{
	struct kevent ev;
	struct gate g;
	int pidfd;
	pid_t pid;

	ASSERT_EQ(0, gate_init(&g));
	pid = fork_gated_exit(&g, 1);
	ASSERT_GT(pid, 0);
	pidfd = pidfd_open(pid, 0);
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(0, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_ADD, NOTE_EXIT,
			       0, NULL));
	close(pidfd);
	gate_open(&g);
	ASSERT_EQ(0, wait_zombie(pid));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 100));
	EXPECT_EQ(EBADF, kq_change(self->kq, pidfd, EVFILT_PROCDESC, EV_DELETE, 0,
				   0, NULL));
	wait_child(pid, EVENT_MS);
}

TEST_HARNESS_MAIN
