// SPDX-License-Identifier: GPL-2.0
/*
 * EVFILT_READ and EVFILT_WRITE on pipes and FIFOs (EVFILT_EMPTY: EINVAL):
 * registration errors, data (bytes available, free space), EV_EOF,
 * level-triggered and EV_CLEAR reporting, EV_ONESHOT/EV_DISPATCH/EV_DISABLE,
 * NOTE_LOWAT, and the wake-up of a thread blocked in kevent().
 * doc/semantics.md and the EVFILT_READ/WRITE section of the reference are
 * the contract.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

static char buf[1 << 16];

/* write() @n bytes (at most sizeof(buf)) to @fd. */
static ssize_t put(int fd, size_t n)
{
	memset(buf, 'x', n);
	return write(fd, buf, n);
}

/* read() at most @n bytes (at most sizeof(buf)) from @fd. */
static ssize_t take(int fd, size_t n)
{
	return read(fd, buf, n);
}

FIXTURE(pipe) {
	int kq;
	int rd, wr;
	int size;	/* capacity: F_GETPIPE_SZ */
};

FIXTURE_SETUP(pipe)
{
	int p[2];

	signal(SIGPIPE, SIG_IGN);
	self->rd = -1;
	self->wr = -1;
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
	ASSERT_EQ(0, pipe2(p, O_NONBLOCK));
	self->rd = p[0];
	self->wr = p[1];
	self->size = fcntl(self->wr, F_GETPIPE_SZ);
	ASSERT_GT(self->size, 0);
	ASSERT_LE(self->size, (int)sizeof(buf));
}

FIXTURE_TEARDOWN(pipe)
{
	if (self->kq >= 0)
		close(self->kq);
	if (self->rd >= 0)
		close(self->rd);
	if (self->wr >= 0)
		close(self->wr);
}

/* Registration errors. */

TEST_F(pipe, bad_fd_ebadf)
{
	static const short filters[] = { EVFILT_READ, EVFILT_WRITE, EVFILT_EMPTY };
	unsigned int i;
	int fd;

	/* A descriptor number that is certainly not open. */
	fd = dup(self->rd);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, close(fd));

	for (i = 0; i < ARRAY_SIZE(filters); i++) {
		EXPECT_EQ(EBADF, kq_fd_add(self->kq, fd, filters[i], 0, 0, 0))
			TH_LOG("filter %d", filters[i]);
		EXPECT_EQ(EBADF, kq_receipt(self->kq, fd, filters[i], EV_ADD, 0, 0, NULL));
		/* Any change on a descriptor that is not open, EV_DELETE too. */
		EXPECT_EQ(EBADF, kq_change(self->kq, fd, filters[i], EV_DELETE, 0, 0, NULL));
		/* Idents that cannot be descriptors. */
		EXPECT_EQ(EBADF, kq_change(self->kq, (uintptr_t)1 << 40, filters[i], EV_ADD,
					   0, 0, NULL));
		EXPECT_EQ(EBADF, kq_change(self->kq, (uintptr_t)INT_MAX + 1, filters[i],
					   EV_ADD, 0, 0, NULL));
		EXPECT_EQ(EBADF, kq_change(self->kq, ~(uintptr_t)0, filters[i], EV_ADD,
					   0, 0, NULL));
	}
	/* An open descriptor without a knote: ENOENT. */
	EXPECT_EQ(ENOENT, kq_change(self->kq, self->rd, EVFILT_READ, EV_DELETE, 0, 0, NULL));
}

TEST_F(pipe, bad_fflags_einval)
{
	static const unsigned int bad[] = {
		0x4, 0x8, 0x100, 0x80000000u, NOTE_LOWAT | 0x4, ~0u,
	};
	struct kevent ev;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		EXPECT_EQ(EINVAL, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, bad[i], 0))
			TH_LOG("fflags %#x", bad[i]);
		EXPECT_EQ(EINVAL, kq_fd_add(self->kq, self->wr, EVFILT_WRITE, 0, bad[i], 0))
			TH_LOG("fflags %#x", bad[i]);
	}
	/* Nothing was registered. */
	EXPECT_EQ(ENOENT, kq_change(self->kq, self->rd, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, self->wr, EVFILT_WRITE, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* The valid ones. */
	EXPECT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, NOTE_LOWAT, 1));
	EXPECT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, NOTE_FILE_POLL, 0));
	EXPECT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0,
			       NOTE_LOWAT | NOTE_FILE_POLL, 1));
	EXPECT_EQ(0, kq_fd_add(self->kq, self->wr, EVFILT_WRITE, 0, NOTE_LOWAT, 1));

	/* Modifying an existing knote with bad fflags fails too. */
	EXPECT_EQ(EINVAL, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, 0x4, 0));
	EXPECT_EQ(EINVAL, kq_change(self->kq, self->wr, EVFILT_WRITE, EV_ENABLE, 0x10, 0,
				    NULL));
}

/* EVFILT_READ: data, level-triggered reporting and the flags. */

TEST_F(pipe, read_empty_not_reported)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 100));
}

TEST_F(pipe, read_level_data)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(5, put(self->wr, 5));

	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ((uintptr_t)self->rd, ev.ident);
	EXPECT_EQ(EVFILT_READ, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(5, ev.data);
	EXPECT_EQ(UDATA(1), ev.udata);

	/* Reported again while the data is there. */
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(5, ev.data);

	/* data follows what is left. */
	ASSERT_EQ(2, take(self->rd, 2));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(3, ev.data);
	EXPECT_EQ(0, ev.flags);

	/* Gone once everything was read. */
	ASSERT_EQ(3, take(self->rd, 100));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* And back with new data. */
	ASSERT_EQ(7, put(self->wr, 7));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(7, ev.data);
}

TEST_F(pipe, read_clear)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, EV_CLEAR, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(5, put(self->wr, 5));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(5, ev.data);
	/* Once per wake-up, although the data is still there. */
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* New data into a pipe that is not empty: a new report with all of it. */
	ASSERT_EQ(3, put(self->wr, 3));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(8, ev.data);
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* Reading is no new data. */
	ASSERT_EQ(8, take(self->rd, 100));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
}

TEST_F(pipe, read_clear_eof)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, EV_CLEAR, 0, 0));
	ASSERT_EQ(0, close(self->wr));
	self->wr = -1;
	ASSERT_EQ(1, kev_wait_for(self->kq, self->rd, EVFILT_READ, &ev, 2000));
	EXPECT_EQ(EV_CLEAR | EV_EOF, ev.flags);
	EXPECT_EQ(0, ev.data);
	/* The end of file was one wake-up: reported once. */
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
}

TEST_F(pipe, read_oneshot)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, EV_ONESHOT, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(4, put(self->wr, 4));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_ONESHOT, ev.flags);
	EXPECT_EQ(4, ev.data);
	/* Deleted after the report. */
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(ENOENT, kq_change(self->kq, self->rd, EVFILT_READ, EV_DELETE, 0, 0, NULL));
}

TEST_F(pipe, read_dispatch)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, EV_DISPATCH, 0, 0));
	ASSERT_EQ(4, put(self->wr, 4));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_DISPATCH, ev.flags);
	EXPECT_EQ(4, ev.data);

	/* Disabled after the report, also when more data arrives. */
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(6, put(self->wr, 6));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* EV_ENABLE reports the condition that holds now, once more. */
	ASSERT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_DISPATCH, ev.flags);
	EXPECT_EQ(10, ev.data);
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* Still registered. */
	EXPECT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_DELETE, 0, 0, NULL));
}

TEST_F(pipe, read_disable_enable)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, EV_DISABLE, 0, 0));
	ASSERT_EQ(3, put(self->wr, 3));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(3, ev.data);

	ASSERT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_DISABLE, 0, 0, NULL));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(2, put(self->wr, 2));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_ENABLE, 0, 0, NULL));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(5, ev.data);

	/* Deleting drops it. */
	ASSERT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(ENOENT, kq_change(self->kq, self->rd, EVFILT_READ, EV_DELETE, 0, 0, NULL));
}

/* End of file. */

TEST_F(pipe, read_eof_with_data)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(3, put(self->wr, 3));
	ASSERT_EQ(0, close(self->wr));
	self->wr = -1;

	/* EV_EOF, data = the bytes still to read. */
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(3, ev.data);

	/* Level-triggered: still reported once everything was read, data 0. */
	ASSERT_EQ(3, take(self->rd, 100));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(0, ev.data);
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_EOF, ev.flags & EV_EOF);
}

TEST_F(pipe, read_eof_wakes_waiter)
{
	struct waiter w;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, waiter_start(&w, self->kq, 5000, 50));
	EXPECT_FALSE(waiter_done(&w));
	ASSERT_EQ(0, close(self->wr));
	self->wr = -1;
	ASSERT_TRUE(waiter_wait(&w, 4000));
	ASSERT_EQ(1, w.ret);
	EXPECT_EQ((uintptr_t)self->rd, w.ev.ident);
	EXPECT_EQ(EVFILT_READ, w.ev.filter);
	EXPECT_EQ(EV_EOF, w.ev.flags);
	EXPECT_EQ(0, w.ev.data);
	EXPECT_LT(waiter_blocked_ms(&w), 4000);
}

TEST_F(pipe, read_wakes_waiter)
{
	struct waiter w;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, waiter_start(&w, self->kq, 5000, 50));
	EXPECT_FALSE(waiter_done(&w));
	ASSERT_EQ(10, put(self->wr, 10));
	ASSERT_TRUE(waiter_wait(&w, 4000));
	ASSERT_EQ(1, w.ret);
	EXPECT_EQ((uintptr_t)self->rd, w.ev.ident);
	EXPECT_EQ(EVFILT_READ, w.ev.filter);
	EXPECT_EQ(0, w.ev.flags);
	EXPECT_EQ(10, w.ev.data);
	EXPECT_LT(waiter_blocked_ms(&w), 4000);
}

/* EVFILT_WRITE. */

TEST_F(pipe, write_free_space)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_change(self->kq, self->wr, EVFILT_WRITE, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ((uintptr_t)self->wr, ev.ident);
	EXPECT_EQ(EVFILT_WRITE, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(self->size, ev.data);
	EXPECT_EQ(UDATA(2), ev.udata);

	ASSERT_EQ(100, put(self->wr, 100));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(self->size - 100, ev.data);

	ASSERT_EQ(40, take(self->rd, 40));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(self->size - 60, ev.data);
}

TEST_F(pipe, write_full)
{
	long page = sysconf(_SC_PAGESIZE);
	struct kevent ev;
	ssize_t total = 0, n;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->wr, EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(self->size, ev.data);

	/* Fill it, one page per write. */
	while ((n = put(self->wr, page)) > 0)
		total += n;
	EXPECT_EQ(EAGAIN, errno);
	ASSERT_EQ(self->size, total);

	/* Full: not writable, not reported. */
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* One page read: writable again, with one page of room. */
	ASSERT_EQ(page, take(self->rd, page));
	ASSERT_EQ(1, kev_wait_for(self->kq, self->wr, EVFILT_WRITE, &ev, 2000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(page, ev.data);
}

TEST_F(pipe, write_eof_reader_closed)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->wr, EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(10, put(self->wr, 10));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.flags);

	ASSERT_EQ(0, close(self->rd));
	self->rd = -1;
	ASSERT_EQ(1, kev_wait_for(self->kq, self->wr, EVFILT_WRITE, &ev, 2000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(self->size - 10, ev.data);
	/* Level-triggered: again. */
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_EOF, ev.flags);

	errno = 0;
	EXPECT_EQ(-1, put(self->wr, 1));
	EXPECT_EQ(EPIPE, errno);
}

/* NOTE_LOWAT. */

TEST_F(pipe, read_lowat)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, NOTE_LOWAT, 10));
	ASSERT_EQ(5, put(self->wr, 5));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(4, put(self->wr, 4));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(1, put(self->wr, 1));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(10, ev.data);

	/* Below the mark again. */
	ASSERT_EQ(2, take(self->rd, 2));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* End of file is reported below the mark. */
	ASSERT_EQ(0, close(self->wr));
	self->wr = -1;
	ASSERT_EQ(1, kev_wait_for(self->kq, self->rd, EVFILT_READ, &ev, 2000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(8, ev.data);
}

TEST_F(pipe, read_lowat_modify)
{
	struct kevent ev;

	ASSERT_EQ(5, put(self->wr, 5));
	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, NOTE_LOWAT, 10));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* A lower mark on the existing knote applies at once. */
	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, NOTE_LOWAT, 4));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(5, ev.data);

	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, NOTE_LOWAT, 6));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* Exactly at the mark. */
	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, NOTE_LOWAT, 5));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(5, ev.data);

	/* Without NOTE_LOWAT, data is no mark. */
	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, 0, 1000));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(5, ev.data);

	/* A mark of 0 means 1. */
	ASSERT_EQ(0, kq_fd_add(self->kq, self->rd, EVFILT_READ, 0, NOTE_LOWAT, 0));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(5, ev.data);
	ASSERT_EQ(5, take(self->rd, 5));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
}

TEST_F(pipe, write_lowat)
{
	struct kevent ev;

	/* More than the pipe can ever hold: never writable enough. */
	ASSERT_EQ(0, kq_fd_add(self->kq, self->wr, EVFILT_WRITE, 0, NOTE_LOWAT,
			       self->size + 1));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(0, kq_fd_add(self->kq, self->wr, EVFILT_WRITE, 0, NOTE_LOWAT, self->size));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(self->size, ev.data);

	ASSERT_EQ(1, put(self->wr, 1));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
}

TEST_F(pipe, read_write_independent)
{
	struct kevent evs[4];
	int i;

	ASSERT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	ASSERT_EQ(0, kq_change(self->kq, self->wr, EVFILT_WRITE, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(10, put(self->wr, 10));

	ASSERT_EQ(2, kev_poll(self->kq, evs, 4));
	i = find_event(evs, 2, self->rd, EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(10, evs[i].data);
	EXPECT_EQ(UDATA(1), evs[i].udata);
	i = find_event(evs, 2, self->wr, EVFILT_WRITE);
	ASSERT_GE(i, 0);
	EXPECT_EQ(self->size - 10, evs[i].data);
	EXPECT_EQ(UDATA(2), evs[i].udata);

	/* (fd, filter) is the identity: no WRITE knote on the read end. */
	EXPECT_EQ(ENOENT, kq_change(self->kq, self->rd, EVFILT_WRITE, EV_DELETE, 0, 0, NULL));
	ASSERT_EQ(0, kq_change(self->kq, self->rd, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	EXPECT_EQ((uintptr_t)self->wr, evs[0].ident);
	EXPECT_EQ(EVFILT_WRITE, evs[0].filter);
}

/*
 * EVFILT_EMPTY is for sockets only (doc/semantics.md): Linux does not wake a
 * pipe's writer when a reader drains a pipe that was not full.
 */
TEST_F(pipe, empty_einval)
{
	EXPECT_EQ(EINVAL, kq_fd_add(self->kq, self->wr, EVFILT_EMPTY, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(self->kq, self->rd, EVFILT_EMPTY, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, self->wr, EVFILT_EMPTY, EV_ADD, 0, 0, NULL));
	EXPECT_EQ(ENOENT, kq_change(self->kq, self->wr, EVFILT_EMPTY, EV_DELETE, 0, 0, NULL));
}

/* FIFOs. */

static void fifo_path(char *path, size_t len)
{
	snprintf(path, len, "/tmp/kqueue-fifo-%d", (int)getpid());
	unlink(path);
}

TEST(fifo_eof_and_new_writer)
{
	struct kevent ev;
	char path[64];
	int kq, rd, wr;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	fifo_path(path, sizeof(path));
	ASSERT_EQ(0, mkfifo(path, 0600));
	rd = open(path, O_RDONLY | O_NONBLOCK);
	ASSERT_GE(rd, 0);
	wr = open(path, O_WRONLY | O_NONBLOCK);
	ASSERT_GE(wr, 0);

	ASSERT_EQ(0, kq_fd_add(kq, rd, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(kq, &ev));
	ASSERT_EQ(4, put(wr, 4));
	ASSERT_EQ(1, kev_poll_one(kq, &ev));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(4, ev.data);

	/* The last writer goes: EV_EOF with what is left. */
	ASSERT_EQ(0, close(wr));
	ASSERT_EQ(1, kev_wait_for(kq, rd, EVFILT_READ, &ev, 2000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(4, ev.data);
	ASSERT_EQ(4, take(rd, 100));
	ASSERT_EQ(1, kev_poll_one(kq, &ev));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(0, ev.data);

	/* A new writer clears EV_EOF. */
	wr = open(path, O_WRONLY | O_NONBLOCK);
	ASSERT_GE(wr, 0);
	EXPECT_EQ(0, kev_poll_one(kq, &ev));
	ASSERT_EQ(2, put(wr, 2));
	ASSERT_EQ(1, kev_wait_for(kq, rd, EVFILT_READ, &ev, 2000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(2, ev.data);

	/* And it going is another end of file. */
	ASSERT_EQ(0, close(wr));
	ASSERT_EQ(1, kev_wait_for(kq, rd, EVFILT_READ, &ev, 2000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(2, ev.data);

	close(rd);
	close(kq);
	unlink(path);
}

/*
 * A FIFO opened for reading before any writer ever connected is not at end
 * of file: no writer has closed yet (FreeBSD's filt_piperead checks the
 * writer generation; Linux's pipe_poll() gives no POLLHUP there either).
 */
TEST(fifo_no_writer_yet_no_eof)
{
	struct kevent ev;
	char path[64];
	int kq, rd, wr;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	fifo_path(path, sizeof(path));
	ASSERT_EQ(0, mkfifo(path, 0600));
	rd = open(path, O_RDONLY | O_NONBLOCK);
	ASSERT_GE(rd, 0);

	memset(&ev, 0, sizeof(ev));
	ASSERT_EQ(0, kq_fd_add(kq, rd, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(kq, &ev))
		TH_LOG("reported: flags %#x data %lld", ev.flags, (long long)ev.data);

	wr = open(path, O_WRONLY | O_NONBLOCK);
	ASSERT_GE(wr, 0);
	ASSERT_EQ(3, put(wr, 3));
	ASSERT_EQ(1, kev_wait_for(kq, rd, EVFILT_READ, &ev, 2000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(3, ev.data);

	close(wr);
	close(rd);
	close(kq);
	unlink(path);
}

TEST_HARNESS_MAIN
