// SPDX-License-Identifier: GPL-2.0
/*
 * close() of a registered descriptor (FreeBSD's knote_fdclose): closing a
 * descriptor removes the knotes keyed by it in every kqueue of the process,
 * and a kqueue keeps no reference to the file, so the file is released as if
 * the kqueue did not exist: a pipe writer gets EPIPE, a socket peer sees EOF,
 * a flock is released, an unlinked file's blocks are freed, RLIMIT_NOFILE
 * bounds the open files, without any further kevent() call and whether or
 * not a thread is blocked in kevent(). The same for close_range(), dup2() and
 * dup3() over a registered descriptor, exec with O_CLOEXEC and process exit.
 * A kevent() call never sleeps through the end of file its own release
 * causes. Also: EV_DELETE after a close (EBADF) or after a reuse of the
 * number (ENOENT), dup'ed descriptors, and closes racing registrations.
 *
 * Waits are bounded only as "eventually" (EVENTUALLY_MS), so that a missing
 * release fails instead of hanging; nothing asserts how fast anything is.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

/* How long "eventually" may take before a test gives up. */
#define EVENTUALLY_MS	10000
/* A kevent() timeout standing for NULL in the tests that must not hang. */
#define LONG_WAIT_MS	20000
/* The EVFILT_USER event that releases a blocked thread. */
#define RELEASE_ID	0xfee1
/* Idle descriptor knotes (EVFILT_READ on eventfds) next to the one closed. */
#define OTHERS		1000
/* Slack of /proc/sys/fs/file-nr: a per-CPU counter read without summing. */
#define FILE_NR_SLACK	80

/* The environment variable that makes this program the exec helper. */
#define HELPER_ENV	"KQUEUE_CLOSE_TEST_GATE"

/*
 * After an exec (exec_cloexec_releases): block until the descriptor named by
 * HELPER_ENV reaches end of file, then exit, never running the tests.
 */
static void __attribute__((constructor)) exec_helper(void)
{
	const char *gate = getenv(HELPER_ENV);
	char c;

	if (!gate)
		return;
	while (read(atoi(gate), &c, 1) < 0 && errno == EINTR)
		;
	_exit(0);
}

/* poll() @fd for @events up to @ms; returns revents, 0 on timeout. */
static int wait_fd(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	int n;

	do {
		n = poll(&p, 1, ms);
	} while (n < 0 && errno == EINTR);
	return n == 1 ? p.revents : 0;
}

/* The reader @fd eventually sees end of file: readable, read() returns 0. */
static bool sees_eof(int fd)
{
	char c;

	if (!(wait_fd(fd, POLLIN, EVENTUALLY_MS) & (POLLIN | POLLHUP)))
		return false;
	return read(fd, &c, 1) == 0;
}

/* The pipe or FIFO writer @fd eventually has no reader: EPIPE. */
static bool sees_epipe(int fd)
{
	if (!(wait_fd(fd, 0, EVENTUALLY_MS) & POLLERR))
		return false;
	errno = 0;
	return write(fd, "x", 1) == -1 && errno == EPIPE;
}

/* The first field of /proc/sys/fs/file-nr: open files in the system. */
static long files_in_use(void)
{
	long n = -1;
	FILE *f;

	f = fopen("/proc/sys/fs/file-nr", "re");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &n) != 1)
		n = -1;
	fclose(f);
	return n;
}

/* Eventually at most @limit files in use; returns the last count. */
static long files_drop_to(long limit)
{
	int64_t deadline = now_ms() + EVENTUALLY_MS;
	long n;

	while ((n = files_in_use()) > limit && now_ms() < deadline)
		sleep_ms(10);
	return n;
}

static int raise_nofile(rlim_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return errno;
	if (rl.rlim_cur >= n)
		return 0;
	rl.rlim_cur = n;
	if (rl.rlim_max < n)
		rl.rlim_max = n;
	return setrlimit(RLIMIT_NOFILE, &rl) ? errno : 0;
}

/* A connected TCP pair over 127.0.0.1; returns 0 or errno. */
static int tcp_pair(int *client, int *server)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int ls, err = 0;

	*client = *server = -1;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		return errno;
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 4) ||
	    getsockname(ls, (struct sockaddr *)&sa, &len)) {
		err = errno;
		goto out;
	}
	*client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*client < 0 || connect(*client, (struct sockaddr *)&sa, sizeof(sa))) {
		err = errno;
		goto out;
	}
	*server = accept4(ls, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (*server < 0)
		err = errno;
out:
	close(ls);
	return err;
}

static void tmp_path(char *path, size_t len, const char *what, int i)
{
	snprintf(path, len, "/tmp/kqueue-close-%d-%s-%d", (int)getpid(), what, i);
}

/*
 * A thread blocked in kevent() with a NULL timeout, collecting up to 8
 * events: what kevent() returned tells whether it saw more than the event
 * that released it.
 */
struct blocker {
	pthread_t thread;
	int kq;
	int started;
	int done;
	int ret;
	int err;
	struct kevent evs[8];
};

static void *blocker_fn(void *arg)
{
	struct blocker *b = arg;
	int ret;

	__atomic_store_n(&b->started, 1, __ATOMIC_SEQ_CST);
	ret = kevent(b->kq, NULL, 0, b->evs, 8, NULL);
	b->err = ret < 0 ? errno : 0;
	b->ret = ret;
	__atomic_store_n(&b->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* Start it and give it a moment to block. */
static int blocker_start(struct blocker *b, int kq)
{
	int ret;

	memset(b, 0, sizeof(*b));
	b->kq = kq;
	b->ret = -2;
	ret = pthread_create(&b->thread, NULL, blocker_fn, b);
	if (ret)
		return ret;
	while (!__atomic_load_n(&b->started, __ATOMIC_SEQ_CST))
		sched_yield();
	sleep_ms(50);
	return 0;
}

static bool blocker_done(struct blocker *b)
{
	return __atomic_load_n(&b->done, __ATOMIC_SEQ_CST);
}

/* Eventually returned from kevent(): joined. */
static bool blocker_join(struct blocker *b)
{
	int64_t deadline = now_ms() + EVENTUALLY_MS;

	while (!blocker_done(b)) {
		if (now_ms() >= deadline)
			return false;
		sleep_ms(5);
	}
	pthread_join(b->thread, NULL);
	return true;
}

/*
 * The blocked thread has not returned (nothing was reported for the closed
 * descriptor); trigger RELEASE_ID in @kq and check that it returns with that
 * event and nothing else.
 */
static void blocker_release(struct __test_metadata *_metadata, struct blocker *b, int kq)
{
	EXPECT_FALSE(blocker_done(b))
		TH_LOG("kevent() returned %d (ident %lu filter %d flags %#x) before the release",
		       b->ret, (unsigned long)b->evs[0].ident, b->evs[0].filter,
		       b->evs[0].flags);
	ASSERT_EQ(0, kq_user_trigger(kq, RELEASE_ID));
	ASSERT_TRUE(blocker_join(b));
	ASSERT_EQ(1, b->ret) TH_LOG("errno %d", b->err);
	EXPECT_EQ((uintptr_t)RELEASE_ID, b->evs[0].ident);
	EXPECT_EQ(EVFILT_USER, b->evs[0].filter);
}

/*
 * After @fd was closed: the kqueue has no knote left for it (a change is
 * EBADF, not a silent success) and reports nothing for it.
 */
static void no_trace_of(struct __test_metadata *_metadata, int kq, int fd,
			const short *filters, int nfilters)
{
	struct kevent evs[16];
	int i, n;

	n = kev_poll(kq, evs, 16);
	ASSERT_GE(n, 0);
	for (i = 0; i < nfilters; i++) {
		EXPECT_EQ(-1, find_event(evs, n, fd, filters[i]));
		EXPECT_EQ(EBADF, kq_change(kq, fd, filters[i], EV_DELETE, 0, 0, NULL));
	}
}

/*
 * A kqueue, and maybe a thread blocked in it while a registered descriptor
 * is closed.
 */
struct watch {
	int kq;
	struct blocker b;
	bool blocking;
};

static void watch_init(struct __test_metadata *_metadata, struct watch *w)
{
	w->blocking = false;
	w->kq = kqueue();
	ASSERT_GE(w->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
	ASSERT_EQ(0, kq_user_add(w->kq, RELEASE_ID, EV_CLEAR));
}

/* Registration done: block a thread in kevent() if @waiter. */
static void watch_registered(struct __test_metadata *_metadata, struct watch *w, bool waiter)
{
	struct kevent ev;

	/* The knotes under test are idle: nothing to report yet. */
	ASSERT_EQ(0, kev_poll(w->kq, &ev, 1));
	if (!waiter)
		return;
	ASSERT_EQ(0, blocker_start(&w->b, w->kq));
	w->blocking = true;
}

/* The release of @fd's file was seen; now the kqueue's side. */
static void watch_closed(struct __test_metadata *_metadata, struct watch *w, int fd,
			 const short *filters, int nfilters)
{
	if (w->blocking) {
		blocker_release(_metadata, &w->b, w->kq);
		w->blocking = false;
	}
	no_trace_of(_metadata, w->kq, fd, filters, nfilters);
}

/*
 * 1. A kevent() call must not sleep through the end of file that the release
 * of a closed descriptor's file causes (the final fput() must not be left to
 * the return of the very call that then waits for its effect).
 */

TEST(wait_sees_eof_of_closed_write_end)
{
	struct kevent evs[8];
	int kq, p[2], n, i;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, kq_change(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(0, kq_change(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(0, close(p[1]));

	/* One call, a timeout that stands for NULL. */
	n = kev_wait(kq, NULL, 0, evs, 8, LONG_WAIT_MS);
	ASSERT_GE(n, 1) TH_LOG("kevent() slept through the end of file");
	i = find_event(evs, n, p[0], EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(EV_EOF, evs[i].flags);
	EXPECT_EQ(0, evs[i].data);
	EXPECT_EQ(UDATA(1), evs[i].udata);
	EXPECT_EQ(-1, find_event(evs, n, p[1], EVFILT_WRITE));
	close(p[0]);
	close(kq);
}

/*
 * The usual pattern: a parent reads a child's output through a pipe but
 * forgot to close its own copy of the write end until after registering it;
 * the child exits while the parent waits, or before.
 */
static void child_output_eof(struct __test_metadata *_metadata, bool exit_first)
{
	int kq, p[2], idle[2], gate[2], status;
	struct kevent evs[8];
	char out[8];
	pid_t pid;
	int n, i;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(idle, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(gate, O_CLOEXEC));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[0]);
		close(gate[1]);
		if (write(p[1], "hello", 5) != 5)
			_exit(1);
		/* Exit (closing our write end) when the parent says so. */
		while (read(gate[0], out, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(gate[0]);
	ASSERT_EQ(5, read(p[0], out, 5));

	ASSERT_EQ(0, kq_change(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(0, kq_change(kq, idle[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(0, kq_change(kq, p[1], EVFILT_WRITE, EV_ADD, 0, 0, UDATA(3)));
	ASSERT_EQ(0, close(p[1]));
	ASSERT_EQ(0, close(gate[1]));
	if (exit_first) {
		status = wait_child(pid, EVENTUALLY_MS);
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}

	/* One call, a timeout that stands for NULL. */
	n = kev_wait(kq, NULL, 0, evs, 8, LONG_WAIT_MS);
	ASSERT_GE(n, 1) TH_LOG("kevent() slept through the end of file");
	i = find_event(evs, n, p[0], EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(EV_EOF, evs[i].flags);
	EXPECT_EQ(0, evs[i].data);
	EXPECT_EQ(-1, find_event(evs, n, idle[0], EVFILT_READ));
	EXPECT_EQ(-1, find_event(evs, n, p[1], EVFILT_WRITE));
	if (!exit_first) {
		status = wait_child(pid, EVENTUALLY_MS);
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	close(p[0]);
	close(idle[0]);
	close(idle[1]);
	close(kq);
}

TEST(wait_sees_eof_when_child_exits)
{
	child_output_eof(_metadata, false);
}

/* The close of the parent's copy is the last: nobody else can wake the wait. */
TEST(wait_sees_eof_child_exited_before)
{
	child_output_eof(_metadata, true);
}

/*
 * The child wrote and exited before the parent closed its write end: the
 * first report after the close already has EV_EOF, with the data.
 */
TEST(first_report_after_close_has_eof)
{
	struct kevent evs[8];
	int kq, p[2], status, n, i;
	pid_t pid;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC | O_NONBLOCK));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[0]);
		_exit(write(p[1], "hello", 5) == 5 ? 0 : 1);
	}
	status = wait_child(pid, EVENTUALLY_MS);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	ASSERT_EQ(0, kq_fd_add(kq, p[0], EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(kq, p[1], EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(0, close(p[1]));
	n = kev_wait(kq, NULL, 0, evs, 8, LONG_WAIT_MS);
	ASSERT_GE(n, 1);
	i = find_event(evs, n, p[0], EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(EV_EOF, evs[i].flags);
	EXPECT_EQ(5, evs[i].data);
	EXPECT_EQ(-1, find_event(evs, n, p[1], EVFILT_WRITE));
	close(p[0]);
	close(kq);
}

/*
 * 2. The peer sees the close: with 0 or OTHERS idle descriptor knotes in the
 * kqueue, with or without a thread blocked in kevent(NULL) at the moment of
 * the close. The closed end is never EV_DELETEd.
 */

FIXTURE(peer) {
	struct watch w;
	int nidle;
	int idle[OTHERS];
};

FIXTURE_VARIANT(peer) {
	int others;
	bool waiter;
};

FIXTURE_VARIANT_ADD(peer, alone) {
	.others = 0,
	.waiter = false,
};

FIXTURE_VARIANT_ADD(peer, others) {
	.others = OTHERS,
	.waiter = false,
};

FIXTURE_VARIANT_ADD(peer, alone_waiter) {
	.others = 0,
	.waiter = true,
};

FIXTURE_VARIANT_ADD(peer, others_waiter) {
	.others = OTHERS,
	.waiter = true,
};

FIXTURE_SETUP(peer)
{
	struct kevent *chg;
	int i, fd;

	signal(SIGPIPE, SIG_IGN);
	self->nidle = 0;
	watch_init(_metadata, &self->w);
	if (!variant->others)
		return;
	ASSERT_EQ(0, raise_nofile(OTHERS + 256));
	chg = calloc(variant->others, sizeof(*chg));
	ASSERT_NE(NULL, chg);
	for (i = 0; i < variant->others; i++) {
		fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		ASSERT_GE(fd, 0);
		self->idle[self->nidle++] = fd;
		EV_SET(&chg[i], fd, EVFILT_READ, EV_ADD, 0, 0, NULL);
	}
	ASSERT_EQ(0, kevent(self->w.kq, chg, variant->others, NULL, 0, NULL));
	free(chg);
}

FIXTURE_TEARDOWN(peer)
{
	int i;

	if (self->w.kq >= 0)
		close(self->w.kq);
	for (i = 0; i < self->nidle; i++)
		close(self->idle[i]);
}

TEST_F(peer, pipe_read_end)
{
	static const short filters[] = { EVFILT_READ };
	int p[2];

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, kq_fd_add(self->w.kq, p[0], EVFILT_READ, 0, 0, 0));
	watch_registered(_metadata, &self->w, variant->waiter);
	ASSERT_EQ(0, close(p[0]));
	EXPECT_TRUE(sees_epipe(p[1])) TH_LOG("the closed read end is still open");
	watch_closed(_metadata, &self->w, p[0], filters, 1);
	close(p[1]);
}

TEST_F(peer, pipe_write_end)
{
	static const short filters[] = { EVFILT_WRITE };
	int p[2], size;

	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	size = fcntl(p[1], F_GETPIPE_SZ);
	ASSERT_GT(size, 0);
	/* A mark above the capacity: the knote stays idle. */
	ASSERT_EQ(0, kq_fd_add(self->w.kq, p[1], EVFILT_WRITE, 0, NOTE_LOWAT, size + 1));
	watch_registered(_metadata, &self->w, variant->waiter);
	ASSERT_EQ(0, close(p[1]));
	EXPECT_TRUE(sees_eof(p[0])) TH_LOG("the closed write end is still open");
	watch_closed(_metadata, &self->w, p[1], filters, 1);
	close(p[0]);
}

TEST_F(peer, fifo_read_end)
{
	static const short filters[] = { EVFILT_READ };
	char path[80];
	int rd, wr;

	tmp_path(path, sizeof(path), "fifo", 0);
	unlink(path);
	ASSERT_EQ(0, mkfifo(path, 0600));
	rd = open(path, O_RDONLY | O_NONBLOCK);
	ASSERT_GE(rd, 0);
	wr = open(path, O_WRONLY | O_NONBLOCK);
	ASSERT_GE(wr, 0);
	unlink(path);
	ASSERT_EQ(0, kq_fd_add(self->w.kq, rd, EVFILT_READ, 0, 0, 0));
	watch_registered(_metadata, &self->w, variant->waiter);
	ASSERT_EQ(0, close(rd));
	EXPECT_TRUE(sees_epipe(wr)) TH_LOG("the closed FIFO reader is still open");
	watch_closed(_metadata, &self->w, rd, filters, 1);
	close(wr);
}

TEST_F(peer, unix_stream)
{
	static const short filters[] = { EVFILT_READ, EVFILT_WRITE };
	int s[2];

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, s));
	ASSERT_EQ(0, kq_fd_add(self->w.kq, s[0], EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(self->w.kq, s[0], EVFILT_WRITE, 0, NOTE_LOWAT, INT_MAX));
	watch_registered(_metadata, &self->w, variant->waiter);
	ASSERT_EQ(0, close(s[0]));
	EXPECT_TRUE(sees_eof(s[1])) TH_LOG("the closed socket is still open");
	errno = 0;
	EXPECT_EQ(-1, send(s[1], "x", 1, MSG_NOSIGNAL));
	EXPECT_EQ(EPIPE, errno);
	watch_closed(_metadata, &self->w, s[0], filters, 2);
	close(s[1]);
}

TEST_F(peer, tcp)
{
	static const short filters[] = { EVFILT_READ, EVFILT_WRITE };
	int c, s;

	ASSERT_EQ(0, tcp_pair(&c, &s));
	ASSERT_EQ(0, kq_fd_add(self->w.kq, s, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(self->w.kq, s, EVFILT_WRITE, 0, NOTE_LOWAT, INT_MAX));
	watch_registered(_metadata, &self->w, variant->waiter);
	ASSERT_EQ(0, close(s));
	EXPECT_TRUE(sees_eof(c)) TH_LOG("the client got no FIN");
	watch_closed(_metadata, &self->w, s, filters, 2);
	close(c);
}

/* Several kqueues watch the descriptor: close() removes the knote in each. */
TEST(every_kqueue_of_the_process)
{
	static const short filters[] = { EVFILT_READ };
	int kq[3], p[2], i;

	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	for (i = 0; i < 3; i++) {
		kq[i] = kqueue();
		ASSERT_GE(kq[i], 0);
		ASSERT_EQ(0, kq_fd_add(kq[i], p[0], EVFILT_READ, 0, 0, 0));
	}
	ASSERT_EQ(0, close(p[0]));
	EXPECT_TRUE(sees_epipe(p[1]));
	for (i = 0; i < 3; i++) {
		no_trace_of(_metadata, kq[i], p[0], filters, 1);
		close(kq[i]);
	}
	close(p[1]);
}

/* 3. Locks and storage held by the file. */

TEST(flock_released_at_close)
{
	char path[80];
	int kq, fd, fd2;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	tmp_path(path, sizeof(path), "flock", 0);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_GE(fd, 0);
	fd2 = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd2, 0);
	ASSERT_EQ(0, flock(fd, LOCK_EX));
	/* Another open file description: locked out. */
	EXPECT_EQ(-1, flock(fd2, LOCK_EX | LOCK_NB));
	EXPECT_EQ(EWOULDBLOCK, errno);

	ASSERT_EQ(0, kq_fd_add(kq, fd, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(kq, fd, EVFILT_WRITE, EV_DISABLE, 0, 0));
	ASSERT_EQ(0, close(fd));
	/* The lock went with the file, at the close. */
	EXPECT_EQ(0, flock(fd2, LOCK_EX | LOCK_NB)) TH_LOG("still locked: %s", strerror(errno));
	close(fd2);
	unlink(path);
	close(kq);
}

/* f_bfree of /tmp, in bytes. */
static int64_t tmp_free_bytes(void)
{
	struct statvfs sv;

	if (statvfs("/tmp", &sv))
		return -1;
	return (int64_t)sv.f_bfree * sv.f_frsize;
}

#define UNLINKED_MB	8

TEST(unlinked_file_blocks_freed)
{
	int64_t before, full, now, deadline;
	static char chunk[1 << 20];
	char path[80];
	int kq, fd, i;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	tmp_path(path, sizeof(path), "unlinked", 0);
	before = tmp_free_bytes();
	ASSERT_GT(before, (int64_t)4 * UNLINKED_MB << 20);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_GE(fd, 0);
	memset(chunk, 'k', sizeof(chunk));
	for (i = 0; i < UNLINKED_MB; i++)
		ASSERT_EQ((ssize_t)sizeof(chunk), write(fd, chunk, sizeof(chunk)));
	ASSERT_EQ(0, fsync(fd));
	full = tmp_free_bytes();
	/* The measure sees the file. */
	ASSERT_LT(full, before - ((int64_t)UNLINKED_MB << 20) / 2);
	ASSERT_EQ(0, unlink(path));
	ASSERT_EQ(0, lseek(fd, 0, SEEK_SET));
	ASSERT_EQ(0, kq_fd_add(kq, fd, EVFILT_READ, EV_DISABLE, 0, 0));
	ASSERT_EQ(0, close(fd));

	deadline = now_ms() + EVENTUALLY_MS;
	while ((now = tmp_free_bytes()) < before - (1 << 20) && now_ms() < deadline)
		sleep_ms(10);
	EXPECT_GE(now, before - (1 << 20))
		TH_LOG("free %lld bytes, before %lld, with the file %lld", (long long)now,
		       (long long)before, (long long)full);
	close(kq);
}

/*
 * 4. RLIMIT_NOFILE holds: 64 descriptors, 320 files opened, locked,
 * registered and closed; none of them stays open.
 */
#define RL_FILES	320

TEST(rlimit_nofile_holds)
{
	struct rlimit rl, low;
	char path[80];
	long before, after;
	int kq, fd, i, locked = 0;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	before = files_in_use();
	ASSERT_GT(before, 0);
	ASSERT_EQ(0, getrlimit(RLIMIT_NOFILE, &rl));
	low = rl;
	low.rlim_cur = 64;
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));

	for (i = 0; i < RL_FILES; i++) {
		tmp_path(path, sizeof(path), "rlimit", i);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		ASSERT_GE(fd, 0) TH_LOG("file %d: %s", i, strerror(errno));
		ASSERT_LT(fd, 64);
		ASSERT_EQ(0, flock(fd, LOCK_EX));
		ASSERT_EQ(0, kq_fd_add(kq, fd, EVFILT_READ, 0, 0, 0));
		ASSERT_EQ(0, close(fd));
	}
	after = files_drop_to(before + FILE_NR_SLACK);
	EXPECT_LE(after, before + FILE_NR_SLACK)
		TH_LOG("%ld files in use before, %ld after", before, after);

	for (i = 0; i < RL_FILES; i++) {
		tmp_path(path, sizeof(path), "rlimit", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		ASSERT_GE(fd, 0);
		if (flock(fd, LOCK_EX | LOCK_NB))
			locked++;
		close(fd);
		unlink(path);
	}
	EXPECT_EQ(0, locked) TH_LOG("%d of %d closed files still locked", locked, RL_FILES);
	ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &rl));
	close(kq);
}

/*
 * 5. A fork child inherits the kqueue descriptor (unusable there); it keeps
 * nothing of the parent's alive, also once the parent closed its own
 * kqueue descriptor.
 */
static void fork_holder(struct __test_metadata *_metadata, bool close_kq_first)
{
	int kq, p[2], gate[2], ready[2], status;
	struct kevent ev;
	pid_t pid;
	char c;

	signal(SIGPIPE, SIG_IGN);
	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, pipe(gate));
	ASSERT_EQ(0, pipe(ready));
	ASSERT_EQ(0, kq_fd_add(kq, p[0], EVFILT_READ, 0, 0, 0));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[0]);
		close(p[1]);
		close(gate[1]);
		close(ready[0]);
		/* The kqueue belongs to the parent. */
		if (kev_wait(kq, NULL, 0, &ev, 1, 0) != -1 || errno != EBADF)
			_exit(2);
		if (write(ready[1], "r", 1) != 1)
			_exit(3);
		while (read(gate[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(gate[0]);
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	if (close_kq_first)
		EXPECT_EQ(0, close(kq));
	ASSERT_EQ(0, close(p[0]));
	EXPECT_TRUE(sees_epipe(p[1])) TH_LOG("the read end lives on in the child");
	/* And the child is still there, holding its copy of the kqueue. */
	EXPECT_EQ(0, waitpid(pid, &status, WNOHANG));
	close(gate[1]);
	status = wait_child(pid, EVENTUALLY_MS);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	if (!close_kq_first)
		close(kq);
	close(p[1]);
	close(ready[0]);
}

TEST(fork_child_keeps_nothing_alive)
{
	fork_holder(_metadata, false);
}

TEST(fork_child_keeps_nothing_alive_kqueue_closed_first)
{
	fork_holder(_metadata, true);
}

/* 6. The other ways a descriptor is closed. */

TEST(close_range_releases)
{
	static const short filters[] = { EVFILT_READ };
	int kq, p[4][2], i;

	signal(SIGPIPE, SIG_IGN);
	kq = kqueue();
	ASSERT_GE(kq, 0);
	/* Read ends at 500..503, registered. */
	for (i = 0; i < 4; i++) {
		ASSERT_EQ(0, pipe2(p[i], O_NONBLOCK));
		ASSERT_EQ(500 + i, dup2(p[i][0], 500 + i));
		ASSERT_EQ(0, close(p[i][0]));
		p[i][0] = 500 + i;
		ASSERT_EQ(0, kq_fd_add(kq, p[i][0], EVFILT_READ, 0, 0, 0));
	}
	ASSERT_EQ(0, close_range(500, 503, 0));
	for (i = 0; i < 4; i++) {
		EXPECT_TRUE(sees_epipe(p[i][1])) TH_LOG("read end %d", 500 + i);
		no_trace_of(_metadata, kq, p[i][0], filters, 1);
		close(p[i][1]);
	}
	close(kq);
}

/*
 * dup2()/dup3() onto a registered descriptor closes its file: released, the
 * knote gone (ENOENT: the number is open again), nothing reported for the
 * new file.
 */
static void dup_over(struct __test_metadata *_metadata, bool three)
{
	struct kevent ev;
	int kq, p[2], q[2];

	signal(SIGPIPE, SIG_IGN);
	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, pipe2(q, O_NONBLOCK));
	ASSERT_EQ(0, kq_change(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(4, write(q[1], "abcd", 4));
	ASSERT_EQ(p[0], three ? dup3(q[0], p[0], O_CLOEXEC) : dup2(q[0], p[0]));
	EXPECT_TRUE(sees_epipe(p[1]));
	EXPECT_EQ(0, kev_poll(kq, &ev, 1));
	EXPECT_EQ(ENOENT, kq_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	/* The new file is untouched and can be registered afresh. */
	ASSERT_EQ(0, kq_change(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(1, kev_poll(kq, &ev, 1));
	EXPECT_EQ(4, ev.data);
	EXPECT_EQ(UDATA(2), ev.udata);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
	close(kq);
}

TEST(dup2_over_registered)
{
	dup_over(_metadata, false);
}

TEST(dup3_over_registered)
{
	dup_over(_metadata, true);
}

/*
 * exec closes the O_CLOEXEC descriptors: the process's kqueue (not
 * close-on-exec, so it lives on in the new image) keeps nothing of them.
 */
TEST(exec_cloexec_releases)
{
	int s[2], gate[2], status;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, s));
	ASSERT_EQ(0, pipe(gate));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		static const char name[] = "kqueue_close_test";
		char *const argv[] = { (char *)name, NULL };
		char env[64], *const envp[] = { env, NULL };
		int kq, fd;

		close(s[1]);
		close(gate[1]);
		kq = kqueue();
		if (kq < 0)
			_exit(2);
		fd = fcntl(s[0], F_DUPFD_CLOEXEC, 0);
		if (fd < 0 || close(s[0]))
			_exit(3);
		if (kq_fd_add(kq, fd, EVFILT_READ, 0, 0, 0))
			_exit(4);
		snprintf(env, sizeof(env), "%s=%d", HELPER_ENV, gate[0]);
		execve("/proc/self/exe", argv, envp);
		_exit(5);
	}
	close(s[0]);
	close(gate[0]);
	EXPECT_TRUE(sees_eof(s[1])) TH_LOG("the socket outlived the exec");
	EXPECT_EQ(0, waitpid(pid, &status, WNOHANG)) TH_LOG("the helper is gone");
	close(gate[1]);
	status = wait_child(pid, EVENTUALLY_MS);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(s[1]);
}

/* A process exits with a registered socket. */
TEST(exit_releases)
{
	int s[2], status;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, s));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int kq = kqueue();

		close(s[1]);
		if (kq < 0 || kq_fd_add(kq, s[0], EVFILT_READ, 0, 0, 0))
			_exit(2);
		_exit(0);
	}
	close(s[0]);
	EXPECT_TRUE(sees_eof(s[1]));
	status = wait_child(pid, EVENTUALLY_MS);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(s[1]);
}

/*
 * The same, while a grandchild that inherited the exited process's kqueue
 * lives on: the exit closed the socket, the kqueue keeps nothing of it.
 */
TEST(exit_releases_kqueue_inherited)
{
	int s[2], info[2], gate[2], status;
	pid_t pid, gpid = 0;
	char c;

	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, s));
	ASSERT_EQ(0, pipe(info));
	ASSERT_EQ(0, pipe(gate));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int kq = kqueue();
		pid_t g;

		close(s[1]);
		close(info[0]);
		close(gate[1]);
		if (kq < 0 || kq_fd_add(kq, s[0], EVFILT_READ, 0, 0, 0))
			_exit(2);
		g = fork();
		if (g < 0)
			_exit(3);
		if (g == 0) {
			/* Holds the kqueue, not the socket. */
			close(s[0]);
			close(info[1]);
			while (read(gate[0], &c, 1) < 0 && errno == EINTR)
				;
			_exit(0);
		}
		if (write(info[1], &g, sizeof(g)) != sizeof(g))
			_exit(4);
		_exit(0);
	}
	close(s[0]);
	close(info[1]);
	close(gate[0]);
	ASSERT_EQ((ssize_t)sizeof(gpid), read(info[0], &gpid, sizeof(gpid)));
	status = wait_child(pid, EVENTUALLY_MS);
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	EXPECT_TRUE(sees_eof(s[1])) TH_LOG("the exited process's socket lives on");
	/* The grandchild (ours now: subreaper) still holds the kqueue. */
	EXPECT_EQ(0, waitpid(gpid, &status, WNOHANG));
	close(gate[1]);
	status = wait_child(gpid, EVENTUALLY_MS);
	EXPECT_TRUE(WIFEXITED(status));
	close(s[1]);
	close(info[0]);
}

/* 7. The registration after the close. */

TEST(ev_delete_after_close_ebadf)
{
	int kq, p[2];

	signal(SIGPIPE, SIG_IGN);
	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, kq_fd_add(kq, p[0], EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, close(p[0]));
	EXPECT_TRUE(sees_epipe(p[1]));
	EXPECT_EQ(EBADF, kq_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(EBADF, kq_receipt(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(EBADF, kq_change(kq, p[0], EVFILT_READ, EV_ENABLE, 0, 0, NULL));
	close(p[1]);
	close(kq);
}

TEST(ev_delete_after_reuse_enoent)
{
	struct kevent ev;
	int kq, p[2], q[2], n;
	char got[8];

	signal(SIGPIPE, SIG_IGN);
	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	n = p[0];
	ASSERT_EQ(0, kq_change(kq, n, EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(0, close(n));
	/* Another file on the same number. */
	ASSERT_EQ(0, pipe2(q, O_NONBLOCK));
	if (q[0] != n) {
		ASSERT_EQ(n, dup2(q[0], n));
		close(q[0]);
	}
	EXPECT_TRUE(sees_epipe(p[1]));
	ASSERT_EQ(3, write(q[1], "new", 3));
	EXPECT_EQ(ENOENT, kq_change(kq, n, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(0, kev_poll(kq, &ev, 1));
	/* The new file was not touched. */
	ASSERT_EQ(3, read(n, got, sizeof(got)));
	ASSERT_EQ(3, write(q[1], "new", 3));
	ASSERT_EQ(0, kq_change(kq, n, EVFILT_READ, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(1, kev_poll(kq, &ev, 1));
	EXPECT_EQ((uintptr_t)n, ev.ident);
	EXPECT_EQ(3, ev.data);
	EXPECT_EQ(UDATA(2), ev.udata);
	close(n);
	close(p[1]);
	close(q[1]);
	close(kq);
}

/*
 * A knote belongs to its descriptor number: closing another descriptor of
 * the same file (a dup) neither removes it nor releases the file.
 */
TEST(dup_knote_survives_close_of_other)
{
	struct blocker b;
	int kq, p[2], d;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	ASSERT_EQ(0, kq_change(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	d = dup(p[0]);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, blocker_start(&b, kq));
	ASSERT_EQ(0, close(d));
	ASSERT_EQ(3, write(p[1], "abc", 3));
	ASSERT_TRUE(blocker_join(&b));
	ASSERT_EQ(1, b.ret);
	EXPECT_EQ((uintptr_t)p[0], b.evs[0].ident);
	EXPECT_EQ(EVFILT_READ, b.evs[0].filter);
	EXPECT_EQ(3, b.evs[0].data);
	EXPECT_EQ(UDATA(1), b.evs[0].udata);
	close(p[0]);
	close(p[1]);
	close(kq);
}

/* The other way round: the closed number's knote goes, the dup's stays. */
TEST(close_removes_only_that_number)
{
	struct kevent evs[4];
	int kq, p[2], d, n;

	signal(SIGPIPE, SIG_IGN);
	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	d = dup(p[0]);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, kq_change(kq, p[0], EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(0, kq_change(kq, d, EVFILT_READ, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(0, close(p[0]));
	/* The file is open through d. */
	ASSERT_EQ(2, write(p[1], "ab", 2));
	n = kev_poll(kq, evs, 4);
	ASSERT_EQ(1, n);
	EXPECT_EQ((uintptr_t)d, evs[0].ident);
	EXPECT_EQ(UDATA(2), evs[0].udata);
	EXPECT_EQ(2, evs[0].data);
	EXPECT_EQ(EBADF, kq_change(kq, p[0], EVFILT_READ, EV_DELETE, 0, 0, NULL));
	ASSERT_EQ(0, close(d));
	EXPECT_TRUE(sees_epipe(p[1]));
	close(p[1]);
	close(kq);
}

/*
 * 8. Blocking variants for kinds of files without a peer to ask: a thread
 * is blocked in kevent(NULL) while the registered descriptor is closed. The
 * release is observed through what the file holds; the thread stays blocked
 * and then gets exactly the event that releases it.
 */

FIXTURE(blocked) {
	struct watch w;
};

FIXTURE_SETUP(blocked)
{
	watch_init(_metadata, &self->w);
}

FIXTURE_TEARDOWN(blocked)
{
	if (self->w.kq >= 0)
		close(self->w.kq);
}

static const short read_filter[] = { EVFILT_READ };

/*
 * eventfd: an epoll set holding it reports it (level-triggered, counter 1)
 * for as long as the file exists, closed descriptor or not.
 */
TEST_F(blocked, eventfd)
{
	struct epoll_event eev = { .events = EPOLLIN };
	int64_t deadline;
	int efd, ep, n;

	efd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_GE(efd, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	ASSERT_GE(ep, 0);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, efd, &eev));
	ASSERT_EQ(1, epoll_wait(ep, &eev, 1, 0));
	/* Readable, so disabled to keep the waiter asleep; it still holds the file. */
	ASSERT_EQ(0, kq_fd_add(self->w.kq, efd, EVFILT_READ, EV_DISABLE, 0, 0));
	watch_registered(_metadata, &self->w, true);
	ASSERT_EQ(0, close(efd));
	deadline = now_ms() + EVENTUALLY_MS;
	while ((n = epoll_wait(ep, &eev, 1, 0)) > 0 && now_ms() < deadline)
		sleep_ms(10);
	EXPECT_EQ(0, n) TH_LOG("the closed eventfd still exists");
	watch_closed(_metadata, &self->w, efd, read_filter, 1);
	close(ep);
}

TEST_F(blocked, regular_file)
{
	char path[80];
	int fd, fd2;

	tmp_path(path, sizeof(path), "blocked", 0);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_GE(fd, 0);
	fd2 = open(path, O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd2, 0);
	unlink(path);
	ASSERT_EQ(0, flock(fd, LOCK_EX));
	/* An empty file at offset 0: nothing to read, idle. */
	ASSERT_EQ(0, kq_fd_add(self->w.kq, fd, EVFILT_READ, 0, 0, 0));
	watch_registered(_metadata, &self->w, true);
	ASSERT_EQ(0, close(fd));
	EXPECT_EQ(0, flock(fd2, LOCK_EX | LOCK_NB)) TH_LOG("still locked");
	/* Growth of the file is nothing to the closed descriptor's knote. */
	ASSERT_EQ(3, write(fd2, "abc", 3));
	watch_closed(_metadata, &self->w, fd, read_filter, 1);
	close(fd2);
}

/* Close events on /dev/kqueue: inotify's IN_CLOSE_WRITE at the release. */
static bool kqueue_file_released(int in)
{
	union {
		struct inotify_event ie;
		char bytes[4096];
	} u;
	int64_t deadline = now_ms() + EVENTUALLY_MS;
	const struct inotify_event *ie;
	ssize_t len, off;

	while (now_ms() < deadline) {
		if (!(wait_fd(in, POLLIN, 100) & POLLIN))
			continue;
		len = read(in, u.bytes, sizeof(u.bytes));
		for (off = 0; off < len; off += sizeof(*ie) + ie->len) {
			ie = (const struct inotify_event *)(u.bytes + off);
			if (ie->mask & IN_CLOSE_WRITE)
				return true;
		}
	}
	return false;
}

/* A kqueue watched by the blocked one (one level of nesting). */
TEST_F(blocked, kqueue)
{
	int inner, in;

	inner = kqueue();
	ASSERT_GE(inner, 0);
	ASSERT_EQ(0, kq_user_add(inner, 1, 0));
	ASSERT_EQ(0, kq_fd_add(self->w.kq, inner, EVFILT_READ, 0, 0, 0));
	in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	ASSERT_GE(in, 0);
	ASSERT_GE(inotify_add_watch(in, "/dev/kqueue", IN_CLOSE_WRITE), 0);
	watch_registered(_metadata, &self->w, true);
	ASSERT_EQ(0, close(inner));
	EXPECT_TRUE(kqueue_file_released(in)) TH_LOG("the watched kqueue was not released");
	watch_closed(_metadata, &self->w, inner, read_filter, 1);
	close(in);
}

/* A bound UDP socket: its port is free again once the file is released. */
TEST_F(blocked, udp)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof(sa);
	int64_t deadline;
	int u, u2, rc;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(u, 0);
	ASSERT_EQ(0, bind(u, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(0, getsockname(u, (struct sockaddr *)&sa, &len));
	u2 = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(u2, 0);
	ASSERT_EQ(-1, bind(u2, (struct sockaddr *)&sa, sizeof(sa)));
	ASSERT_EQ(EADDRINUSE, errno);
	ASSERT_EQ(0, kq_fd_add(self->w.kq, u, EVFILT_READ, 0, 0, 0));
	watch_registered(_metadata, &self->w, true);
	ASSERT_EQ(0, close(u));
	deadline = now_ms() + EVENTUALLY_MS;
	while ((rc = bind(u2, (struct sockaddr *)&sa, sizeof(sa))) && errno == EADDRINUSE &&
	       now_ms() < deadline)
		sleep_ms(10);
	EXPECT_EQ(0, rc) TH_LOG("the port is still bound: %s", strerror(errno));
	watch_closed(_metadata, &self->w, u, read_filter, 1);
	close(u2);
}

/* Sockets and FIFOs from another thread's point of view: see FIXTURE(peer). */

/*
 * 9. Closes racing registrations: threads register random descriptors of a
 * pool while others close them and make new files (which may take the same
 * numbers), and one thread collects. Every result must be one the contract
 * allows; at the end every file is gone.
 */
#define RACE_SLOTS	32
#define RACE_OPS	20000
/* At most this long (a KASAN kernel under TCG is slow), but at least RACE_MIN_OPS. */
#define RACE_BUDGET_MS	30000
#define RACE_MIN_OPS	1000
#define RACE_ADDERS	2
#define RACE_CLOSERS	2

struct race {
	int kq;
	/* Each slot: a read end (low 32 bits) and its write end, or -1/-1. */
	uint64_t slot[RACE_SLOTS];
	int ops;
	int64_t deadline_ms;
	int stop;
	int bad;		/* first unexpected result, as a code */
	int64_t bad_value;
	int adds_ok, ebadf, deletes, events;
};

static uint64_t race_pack(int rd, int wr)
{
	return (uint64_t)(uint32_t)rd | (uint64_t)(uint32_t)wr << 32;
}

static void race_bad(struct race *r, int code, int64_t value)
{
	int zero = 0;

	if (__atomic_compare_exchange_n(&r->bad, &zero, code, false, __ATOMIC_SEQ_CST,
					__ATOMIC_SEQ_CST))
		r->bad_value = value;
	__atomic_store_n(&r->stop, 1, __ATOMIC_SEQ_CST);
}

static bool race_more(struct race *r)
{
	int ops;

	if (__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST))
		return false;
	ops = __atomic_add_fetch(&r->ops, 1, __ATOMIC_SEQ_CST);
	return ops <= RACE_OPS && (ops <= RACE_MIN_OPS || now_ms() < r->deadline_ms);
}

static int race_new_pair(uint64_t *out, unsigned int kind)
{
	int fds[2];

	if (kind % 2 ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds)
		     : pipe2(fds, O_NONBLOCK | O_CLOEXEC))
		return -1;
	*out = race_pack(fds[0], fds[1]);
	return 0;
}

static void *race_adder(void *arg)
{
	struct race *r = arg;
	unsigned int seed = (unsigned int)(uintptr_t)&seed;
	struct kevent chg[3], out[3];
	int i, n, nchg;

	while (race_more(r)) {
		uint64_t v = __atomic_load_n(&r->slot[rand_r(&seed) % RACE_SLOTS],
					     __ATOMIC_SEQ_CST);
		int rd = (int)(uint32_t)v, wr = (int)(uint32_t)(v >> 32);

		nchg = 0;
		EV_SET(&chg[nchg++], rd, EVFILT_READ, EV_ADD | EV_RECEIPT, 0, 0, NULL);
		if (rand_r(&seed) % 2)
			EV_SET(&chg[nchg++], wr, EVFILT_WRITE, EV_ADD | EV_RECEIPT, 0, 0, NULL);
		if (rand_r(&seed) % 3 == 0)
			EV_SET(&chg[nchg++], rd, EVFILT_READ, EV_DELETE | EV_RECEIPT, 0, 0,
			       NULL);
		n = kevent(r->kq, chg, nchg, out, nchg, NULL);
		if (n != nchg) {
			race_bad(r, 1, n < 0 ? -errno : n);
			break;
		}
		for (i = 0; i < n; i++) {
			bool del = chg[i].flags & EV_DELETE;

			if (out[i].flags != EV_ERROR) {
				race_bad(r, 2, out[i].flags);
				break;
			}
			if (out[i].data == 0 && !del) {
				__atomic_add_fetch(&r->adds_ok, 1, __ATOMIC_RELAXED);
			} else if (out[i].data == EBADF) {
				__atomic_add_fetch(&r->ebadf, 1, __ATOMIC_RELAXED);
			} else if (del && (out[i].data == 0 || out[i].data == ENOENT)) {
				__atomic_add_fetch(&r->deletes, 1, __ATOMIC_RELAXED);
			} else {
				race_bad(r, 3, out[i].data);
				break;
			}
		}
		/* Something for the collector, maybe on a closed or reused number. */
		if (rand_r(&seed) % 4 == 0 && write(wr, "x", 1) < 0 && errno != EBADF &&
		    errno != EAGAIN && errno != EPIPE && errno != EINVAL && errno != ENOTCONN)
			race_bad(r, 4, errno);
	}
	return NULL;
}

static void *race_closer(void *arg)
{
	struct race *r = arg;
	unsigned int seed = (unsigned int)(uintptr_t)&seed;
	uint64_t fresh, old;

	while (race_more(r)) {
		if (race_new_pair(&fresh, rand_r(&seed))) {
			race_bad(r, 5, errno);
			break;
		}
		old = __atomic_exchange_n(&r->slot[rand_r(&seed) % RACE_SLOTS], fresh,
					  __ATOMIC_SEQ_CST);
		close((int)(uint32_t)old);
		close((int)(uint32_t)(old >> 32));
	}
	return NULL;
}

static void *race_collector(void *arg)
{
	struct timespec zero = { 0, 0 };
	struct race *r = arg;
	struct kevent evs[64];
	int i, n;

	while (!__atomic_load_n(&r->stop, __ATOMIC_SEQ_CST)) {
		n = kevent(r->kq, NULL, 0, evs, 64, &zero);
		if (n < 0) {
			race_bad(r, 6, errno);
			break;
		}
		for (i = 0; i < n; i++) {
			if ((evs[i].filter != EVFILT_READ && evs[i].filter != EVFILT_WRITE) ||
			    (evs[i].flags & EV_ERROR) || evs[i].ident > INT_MAX) {
				race_bad(r, 7, evs[i].filter);
				break;
			}
			/* Drain what was written, whatever file the number is now. */
			if (evs[i].filter == EVFILT_READ && evs[i].data > 0) {
				char sink[64];

				if (read((int)evs[i].ident, sink, sizeof(sink)) < 0 &&
				    errno != EBADF && errno != EAGAIN && errno != EINVAL)
					race_bad(r, 8, errno);
			}
		}
		__atomic_add_fetch(&r->events, n, __ATOMIC_RELAXED);
		if (!n)
			sched_yield();
	}
	return NULL;
}

TEST(close_register_race)
{
	pthread_t adders[RACE_ADDERS], closers[RACE_CLOSERS], collector;
	static struct race r;
	long before, after;
	int i;

	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, raise_nofile(4096));
	before = files_in_use();
	ASSERT_GT(before, 0);
	memset(&r, 0, sizeof(r));
	r.kq = kqueue();
	ASSERT_GE(r.kq, 0);
	for (i = 0; i < RACE_SLOTS; i++)
		ASSERT_EQ(0, race_new_pair(&r.slot[i], i));
	r.deadline_ms = now_ms() + RACE_BUDGET_MS;

	ASSERT_EQ(0, pthread_create(&collector, NULL, race_collector, &r));
	for (i = 0; i < RACE_ADDERS; i++)
		ASSERT_EQ(0, pthread_create(&adders[i], NULL, race_adder, &r));
	for (i = 0; i < RACE_CLOSERS; i++)
		ASSERT_EQ(0, pthread_create(&closers[i], NULL, race_closer, &r));
	for (i = 0; i < RACE_ADDERS; i++)
		pthread_join(adders[i], NULL);
	for (i = 0; i < RACE_CLOSERS; i++)
		pthread_join(closers[i], NULL);
	__atomic_store_n(&r.stop, 1, __ATOMIC_SEQ_CST);
	pthread_join(collector, NULL);

	EXPECT_EQ(0, r.bad) TH_LOG("unexpected result, code %d value %lld", r.bad,
				   (long long)r.bad_value);
	TH_LOG("about %d operations: %d adds, %d EBADF, %d deletes, %d events", r.ops,
	       r.adds_ok, r.ebadf, r.deletes, r.events);
	EXPECT_GT(r.adds_ok, 0);

	/* Everything closed: the kqueue last. */
	for (i = 0; i < RACE_SLOTS; i++) {
		close((int)(uint32_t)r.slot[i]);
		close((int)(uint32_t)(r.slot[i] >> 32));
	}
	ASSERT_EQ(0, close(r.kq));
	after = files_drop_to(before + FILE_NR_SLACK);
	EXPECT_LE(after, before + FILE_NR_SLACK)
		TH_LOG("%ld files in use before, %ld after", before, after);
}

/*
 * 10. The kqueue closed while another thread closes its registered
 * descriptors: each close's removal (a task work of the closing thread) may
 * wait for the kqueue mutex that the kqueue's release holds, and must then
 * find its knote gone with the kqueue. Nothing may crash or leak: every file
 * is freed at the end.
 */
#define KQREL_PIPES	64
#define KQREL_ROUNDS	300
#define KQREL_MIN_ROUNDS 20
#define KQREL_BUDGET_MS	20000

struct kqrel {
	int rd[KQREL_PIPES];
	pthread_barrier_t go;
};

static void *kqrel_closer(void *arg)
{
	struct kqrel *k = arg;
	int i;

	pthread_barrier_wait(&k->go);
	for (i = 0; i < KQREL_PIPES; i++)
		close(k->rd[i]);
	return NULL;
}

TEST(kqueue_close_races_descriptor_closes)
{
	int64_t deadline = now_ms() + KQREL_BUDGET_MS;
	struct kevent ch[KQREL_PIPES];
	int i, kq, round, p[2], wr[KQREL_PIPES];
	static struct kqrel k;
	long before, after;
	pthread_t th;

	ASSERT_EQ(0, raise_nofile(4096));
	before = files_in_use();
	ASSERT_GT(before, 0);
	for (round = 0; round < KQREL_ROUNDS &&
	     (round < KQREL_MIN_ROUNDS || now_ms() < deadline); round++) {
		kq = kqueue();
		ASSERT_GE(kq, 0);
		for (i = 0; i < KQREL_PIPES; i++) {
			ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
			k.rd[i] = p[0];
			wr[i] = p[1];
			EV_SET(&ch[i], p[0], EVFILT_READ, EV_ADD, 0, 0, NULL);
		}
		ASSERT_EQ(0, kevent(kq, ch, KQREL_PIPES, NULL, 0, NULL));
		ASSERT_EQ(0, pthread_barrier_init(&k.go, NULL, 2));
		ASSERT_EQ(0, pthread_create(&th, NULL, kqrel_closer, &k));
		pthread_barrier_wait(&k.go);
		EXPECT_EQ(0, close(kq));
		ASSERT_EQ(0, pthread_join(th, NULL));
		pthread_barrier_destroy(&k.go);
		for (i = 0; i < KQREL_PIPES; i++)
			EXPECT_EQ(0, close(wr[i]));
	}
	TH_LOG("%d rounds", round);
	after = files_drop_to(before + FILE_NR_SLACK);
	EXPECT_LE(after, before + FILE_NR_SLACK)
		TH_LOG("%ld files in use before, %ld after", before, after);
}

TEST_HARNESS_MAIN
