// SPDX-License-Identifier: GPL-2.0
/*
 * EVFILT_READ, EVFILT_WRITE and EVFILT_EMPTY on sockets: unix stream and
 * datagram socket pairs, unix listeners, and TCP and UDP over the loopback
 * (127.0.0.1 and ::1). data (bytes readable, first datagram, pending
 * connections, free send space), EV_EOF with the socket error in fflags,
 * per-knote NOTE_LOWAT, and EVFILT_EMPTY. doc/semantics.md and the
 * EVFILT_READ/WRITE section of the reference are the contract.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

static char buf[1 << 16];

/* send() @n bytes (at most sizeof(buf)) without blocking. */
static ssize_t put(int fd, size_t n)
{
	memset(buf, 'x', n);
	return send(fd, buf, n, MSG_DONTWAIT);
}

/* recv() at most @n bytes (at most sizeof(buf)) without blocking. */
static ssize_t take(int fd, size_t n)
{
	return recv(fd, buf, n, MSG_DONTWAIT);
}

static int sockopt_int(int fd, int level, int name)
{
	socklen_t len = sizeof(int);
	int val = -1;

	if (getsockopt(fd, level, name, &val, &len) == -1)
		return -1;
	return val;
}

/*
 * Wait up to @ms for an event of (@fd, @filter) that has every bit of @flags
 * and data >= @data, looking again while the knote reports something else.
 * Returns 1 with that event in @ev, else 0 (@ev holds the last one seen).
 */
static int wait_until(int kq, int fd, short filter, unsigned short flags,
		      int64_t data, struct kevent *ev, long ms)
{
	int64_t deadline = now_ms() + ms;

	memset(ev, 0, sizeof(*ev));
	do {
		if (kev_wait_for(kq, fd, filter, ev, 100) == 1) {
			if ((ev->flags & flags) == flags && ev->data >= data)
				return 1;
			sleep_ms(5);
		}
	} while (now_ms() < deadline);
	return 0;
}

/* Bring the loopback interface up if it is not. Returns 0 or errno. */
static int lo_up(void)
{
	struct ifreq ifr;
	int s, ret = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1) {
		ret = errno;
	} else if (!(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
			ret = errno;
	}
	close(s);
	return ret;
}

/* The loopback address of @family, port @port (network order). */
static socklen_t loopback(int family, in_port_t port, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = port;
		return sizeof(*sin6);
	}
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = port;
	return sizeof(*sin);
}

/*
 * A socket of @type bound to the loopback of @family on a free port; its
 * address in @ss. ::1 may take a moment to appear after lo comes up: retried
 * for up to 2 s. Returns the socket or -1.
 */
static int bound_socket(int family, int type, struct sockaddr_storage *ss, socklen_t *len)
{
	int64_t deadline = now_ms() + 2000;
	int s;

	s = socket(family, type | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	*len = loopback(family, 0, ss);
	while (bind(s, (struct sockaddr *)ss, *len) == -1) {
		if (errno != EADDRNOTAVAIL || now_ms() >= deadline) {
			close(s);
			return -1;
		}
		sleep_ms(20);
	}
	if (getsockname(s, (struct sockaddr *)ss, len) == -1) {
		close(s);
		return -1;
	}
	return s;
}

static int tcp_listener(int family, struct sockaddr_storage *ss, socklen_t *len)
{
	int s = bound_socket(family, SOCK_STREAM, ss, len);

	if (s >= 0 && listen(s, 16) == -1) {
		close(s);
		return -1;
	}
	return s;
}

static int tcp_connect(int family, const struct sockaddr_storage *ss, socklen_t len)
{
	int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s >= 0 && connect(s, (const struct sockaddr *)ss, len) == -1) {
		close(s);
		return -1;
	}
	return s;
}

/* A connected TCP pair over the loopback. Returns 0 or -1. */
static int tcp_pair(int family, int *client, int *server)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int l;

	l = tcp_listener(family, &ss, &len);
	if (l < 0)
		return -1;
	*client = tcp_connect(family, &ss, len);
	*server = *client >= 0 ? accept4(l, NULL, NULL, SOCK_CLOEXEC) : -1;
	close(l);
	if (*server < 0) {
		if (*client >= 0)
			close(*client);
		return -1;
	}
	return 0;
}

/* TCP and UDP, over IPv4 and IPv6. */

FIXTURE(inet) {
	int kq;
};

FIXTURE_VARIANT(inet) {
	int family;
};

FIXTURE_VARIANT_ADD(inet, ipv4) {
	.family = AF_INET,
};

FIXTURE_VARIANT_ADD(inet, ipv6) {
	.family = AF_INET6,
};

FIXTURE_SETUP(inet)
{
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, lo_up());
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(inet)
{
	if (self->kq >= 0)
		close(self->kq);
}

TEST_F(inet, tcp_read_data)
{
	struct kevent ev;
	int c, s;

	ASSERT_EQ(0, tcp_pair(variant->family, &c, &s)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, kq_change(self->kq, s, EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(100, put(c, 100));
	ASSERT_EQ(1, wait_until(self->kq, s, EVFILT_READ, 0, 100, &ev, 3000))
		TH_LOG("data %lld", (long long)ev.data);
	EXPECT_EQ((uintptr_t)s, ev.ident);
	EXPECT_EQ(EVFILT_READ, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(100, ev.data);
	EXPECT_EQ(UDATA(1), ev.udata);

	ASSERT_EQ(40, take(s, 40));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(60, ev.data);
	ASSERT_EQ(60, take(s, 100));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	close(c);
	close(s);
}

TEST_F(inet, tcp_clear)
{
	struct kevent ev;
	int c, s;

	ASSERT_EQ(0, tcp_pair(variant->family, &c, &s));
	ASSERT_EQ(0, kq_fd_add(self->kq, s, EVFILT_READ, EV_CLEAR, 0, 0));
	ASSERT_EQ(10, put(c, 10));
	ASSERT_EQ(1, kev_wait_for(self->kq, s, EVFILT_READ, &ev, 3000));
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(10, ev.data);
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	ASSERT_EQ(20, put(c, 20));
	ASSERT_EQ(1, kev_wait_for(self->kq, s, EVFILT_READ, &ev, 3000));
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(30, ev.data);
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	close(c);
	close(s);
}

TEST_F(inet, tcp_peer_shutdown_eof)
{
	struct kevent ev;
	int c, s;

	ASSERT_EQ(0, tcp_pair(variant->family, &c, &s));
	ASSERT_EQ(0, kq_fd_add(self->kq, s, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(7, put(c, 7));
	ASSERT_EQ(0, shutdown(c, SHUT_WR));

	ASSERT_EQ(1, wait_until(self->kq, s, EVFILT_READ, EV_EOF, 0, &ev, 3000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(7, ev.data);
	ASSERT_EQ(7, take(s, 100));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(0, ev.data);

	/* Our side may still send: no EV_EOF on its WRITE. */
	ASSERT_EQ(0, kq_fd_add(self->kq, s, EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(1, kev_wait_for(self->kq, s, EVFILT_WRITE, &ev, 1000));
	EXPECT_EQ(0, ev.flags & EV_EOF);

	close(c);
	close(s);
}

/* The peer closes with data unread: RST, EV_EOF with fflags ECONNRESET. */
TEST_F(inet, tcp_reset_econnreset)
{
	struct kevent ev;
	int c, s;

	ASSERT_EQ(0, tcp_pair(variant->family, &c, &s));
	ASSERT_EQ(0, kq_fd_add(self->kq, s, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(self->kq, c, EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(100, put(c, 100));
	ASSERT_EQ(1, wait_until(self->kq, s, EVFILT_READ, 0, 100, &ev, 3000));
	ASSERT_EQ(0, kq_change(self->kq, s, EVFILT_READ, EV_DELETE, 0, 0, NULL));
	ASSERT_EQ(0, close(s));

	ASSERT_EQ(1, wait_until(self->kq, c, EVFILT_READ, EV_EOF, 0, &ev, 3000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ((unsigned int)ECONNRESET, ev.fflags);
	EXPECT_EQ(0, ev.data);
	/* fflags is the pending error at each report. */
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ((unsigned int)ECONNRESET, ev.fflags);
	EXPECT_EQ(ECONNRESET, sockopt_int(c, SOL_SOCKET, SO_ERROR));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(0u, ev.fflags);

	close(c);
}

TEST_F(inet, tcp_linger0_econnreset)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct kevent ev;
	int c, s;

	ASSERT_EQ(0, tcp_pair(variant->family, &c, &s));
	ASSERT_EQ(0, kq_fd_add(self->kq, c, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(0, setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
	ASSERT_EQ(0, close(s));

	ASSERT_EQ(1, wait_until(self->kq, c, EVFILT_READ, EV_EOF, 0, &ev, 3000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ((unsigned int)ECONNRESET, ev.fflags);
	EXPECT_EQ(0, ev.data);

	close(c);
}

TEST_F(inet, tcp_write_space)
{
	struct kevent ev;
	int c, s, sndbuf;

	ASSERT_EQ(0, tcp_pair(variant->family, &c, &s));
	sndbuf = sockopt_int(c, SOL_SOCKET, SO_SNDBUF);
	ASSERT_GT(sndbuf, 0);
	ASSERT_EQ(0, kq_change(self->kq, c, EVFILT_WRITE, EV_ADD, 0, 0, UDATA(2)));
	ASSERT_EQ(1, kev_wait_for(self->kq, c, EVFILT_WRITE, &ev, 1000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_GT(ev.data, 0);
	EXPECT_LE(ev.data, sndbuf);
	EXPECT_EQ(UDATA(2), ev.udata);

	/* Our own shutdown(SHUT_WR): EV_EOF on WRITE. */
	ASSERT_EQ(0, shutdown(c, SHUT_WR));
	ASSERT_EQ(1, wait_until(self->kq, c, EVFILT_WRITE, EV_EOF, 0, &ev, 3000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(0u, ev.fflags);

	close(c);
	close(s);
}

/* EVFILT_EMPTY: nothing unsent or unacknowledged. */
TEST_F(inet, tcp_empty)
{
	struct kevent ev;
	int c, s;

	ASSERT_EQ(0, tcp_pair(variant->family, &c, &s));
	ASSERT_EQ(0, kq_change(self->kq, c, EVFILT_EMPTY, EV_ADD, 0, 0, UDATA(3)));
	ASSERT_EQ(1, kev_wait_for(self->kq, c, EVFILT_EMPTY, &ev, 1000));
	EXPECT_EQ(EVFILT_EMPTY, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);
	EXPECT_EQ(UDATA(3), ev.udata);

	/* Sent: empty again once the peer acknowledged it. */
	ASSERT_EQ(1000, put(c, 1000));
	ASSERT_EQ(1, kev_wait_for(self->kq, c, EVFILT_EMPTY, &ev, 3000));
	EXPECT_EQ(0, ev.data);
	EXPECT_EQ(0, ev.flags);

	close(c);
	close(s);
}

TEST_F(inet, tcp_lowat_eof)
{
	struct kevent ev;
	int c, s;

	ASSERT_EQ(0, tcp_pair(variant->family, &c, &s));
	ASSERT_EQ(0, kq_fd_add(self->kq, s, EVFILT_READ, 0, NOTE_LOWAT, 100));
	ASSERT_EQ(10, put(c, 10));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 200));

	/* The end of file is reported below the mark. */
	ASSERT_EQ(0, shutdown(c, SHUT_WR));
	ASSERT_EQ(1, wait_until(self->kq, s, EVFILT_READ, EV_EOF, 0, &ev, 3000));
	EXPECT_EQ(EV_EOF, ev.flags);
	EXPECT_EQ(10, ev.data);

	close(c);
	close(s);
}

TEST_F(inet, udp_first_datagram)
{
	struct sockaddr_storage ss;
	struct kevent ev;
	socklen_t len;
	int a, b;

	b = bound_socket(variant->family, SOCK_DGRAM, &ss, &len);
	ASSERT_GE(b, 0) TH_LOG("bind: %s", strerror(errno));
	a = socket(variant->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(a, 0);
	ASSERT_EQ(0, connect(a, (struct sockaddr *)&ss, len));

	ASSERT_EQ(0, kq_fd_add(self->kq, b, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(10, put(a, 10));
	ASSERT_EQ(20, put(a, 20));

	/* data = the size of the first datagram, not of the queue. */
	ASSERT_EQ(1, kev_wait_for(self->kq, b, EVFILT_READ, &ev, 3000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(10, ev.data);
	ASSERT_EQ(10, take(b, sizeof(buf)));
	ASSERT_EQ(1, kev_wait_for(self->kq, b, EVFILT_READ, &ev, 3000));
	EXPECT_EQ(20, ev.data);
	ASSERT_EQ(20, take(b, sizeof(buf)));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* WRITE: free send space. */
	ASSERT_EQ(0, kq_fd_add(self->kq, a, EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(1, kev_wait_for(self->kq, a, EVFILT_WRITE, &ev, 1000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_GT(ev.data, 0);
	EXPECT_LE(ev.data, sockopt_int(a, SOL_SOCKET, SO_SNDBUF));

	close(a);
	close(b);
}

TEST_F(inet, listen_backlog)
{
	struct sockaddr_storage ss;
	struct kevent ev;
	int l, c[3], s, i, kq2;
	socklen_t len;

	l = tcp_listener(variant->family, &ss, &len);
	ASSERT_GE(l, 0) TH_LOG("listen: %s", strerror(errno));
	ASSERT_EQ(0, kq_fd_add(self->kq, l, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	for (i = 0; i < 3; i++) {
		c[i] = tcp_connect(variant->family, &ss, len);
		ASSERT_GE(c[i], 0);
	}
	/* data = pending connections. */
	ASSERT_EQ(1, wait_until(self->kq, l, EVFILT_READ, 0, 3, &ev, 3000))
		TH_LOG("data %lld", (long long)ev.data);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(3, ev.data);

	s = accept(l, NULL, NULL);
	ASSERT_GE(s, 0);
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(2, ev.data);

	/* A listening socket is never writable. */
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_EQ(0, kq_fd_add(kq2, l, EVFILT_WRITE, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(kq2, &ev));

	close(kq2);
	close(s);
	for (i = 0; i < 3; i++)
		close(c[i]);
	close(l);
}

/* Unix domain sockets. */

FIXTURE(unix_stream) {
	int kq;
	int sv[2];
};

FIXTURE_SETUP(unix_stream)
{
	signal(SIGPIPE, SIG_IGN);
	self->sv[0] = -1;
	self->sv[1] = -1;
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, self->sv));
}

FIXTURE_TEARDOWN(unix_stream)
{
	if (self->kq >= 0)
		close(self->kq);
	if (self->sv[0] >= 0)
		close(self->sv[0]);
	if (self->sv[1] >= 0)
		close(self->sv[1]);
}

TEST_F(unix_stream, read_data)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(10, put(self->sv[1], 10));
	ASSERT_EQ(20, put(self->sv[1], 20));

	/* A stream: all the bytes queued. */
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ((uintptr_t)self->sv[0], ev.ident);
	EXPECT_EQ(EVFILT_READ, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0u, ev.fflags);
	EXPECT_EQ(30, ev.data);

	ASSERT_EQ(5, take(self->sv[0], 5));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(25, ev.data);
	ASSERT_EQ(25, take(self->sv[0], 100));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
}

TEST_F(unix_stream, shutdown_eof)
{
	struct kevent evs[4];
	int i;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[1], EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 4));
	EXPECT_EQ(0, evs[0].flags);

	ASSERT_EQ(3, put(self->sv[1], 3));
	ASSERT_EQ(0, shutdown(self->sv[1], SHUT_WR));

	ASSERT_EQ(2, kev_poll(self->kq, evs, 4));
	/* The reader: EV_EOF with the bytes still to read, no error. */
	i = find_event(evs, 2, self->sv[0], EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(EV_EOF, evs[i].flags);
	EXPECT_EQ(0u, evs[i].fflags);
	EXPECT_EQ(3, evs[i].data);
	/* The writer that shut down: EV_EOF on its WRITE. */
	i = find_event(evs, 2, self->sv[1], EVFILT_WRITE);
	ASSERT_GE(i, 0);
	EXPECT_EQ(EV_EOF, evs[i].flags);
	EXPECT_EQ(0u, evs[i].fflags);
}

/* The peer closes with data unread: EV_EOF, fflags = the socket error. */
TEST_F(unix_stream, close_unread_econnreset)
{
	struct kevent evs[4];
	int i;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(10, put(self->sv[0], 10));
	EXPECT_EQ(0, kev_poll(self->kq, evs, 4));
	ASSERT_EQ(0, close(self->sv[1]));
	self->sv[1] = -1;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(2, kev_poll(self->kq, evs, 4));
	i = find_event(evs, 2, self->sv[0], EVFILT_READ);
	ASSERT_GE(i, 0);
	EXPECT_EQ(EV_EOF, evs[i].flags);
	EXPECT_EQ((unsigned int)ECONNRESET, evs[i].fflags);
	EXPECT_EQ(0, evs[i].data);
	i = find_event(evs, 2, self->sv[0], EVFILT_WRITE);
	ASSERT_GE(i, 0);
	EXPECT_EQ(EV_EOF, evs[i].flags);
	EXPECT_EQ((unsigned int)ECONNRESET, evs[i].fflags);
}

TEST_F(unix_stream, write_space)
{
	struct kevent ev;
	int sndbuf;
	ssize_t n;

	sndbuf = sockopt_int(self->sv[0], SOL_SOCKET, SO_SNDBUF);
	ASSERT_GT(sndbuf, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, 0, 0));
	/* Nothing in flight: the whole send buffer. */
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(sndbuf, ev.data);

	/* Unread data is charged to the sender. */
	ASSERT_EQ(1000, put(self->sv[0], 1000));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_LE(ev.data, sndbuf - 1000);
	EXPECT_GT(ev.data, 0);

	/* Full: not reported. */
	while ((n = put(self->sv[0], 4096)) > 0)
		;
	ASSERT_EQ(EAGAIN, errno);
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* The peer reads everything: the whole buffer again. */
	while ((n = take(self->sv[1], sizeof(buf))) > 0)
		;
	ASSERT_EQ(1, kev_wait_for(self->kq, self->sv[0], EVFILT_WRITE, &ev, 2000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(sndbuf, ev.data);
}

TEST_F(unix_stream, write_lowat)
{
	struct kevent ev;
	int sndbuf;

	sndbuf = sockopt_int(self->sv[0], SOL_SOCKET, SO_SNDBUF);
	ASSERT_GT(sndbuf, 0);
	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, NOTE_LOWAT,
			       sndbuf + 1));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_WRITE, 0, NOTE_LOWAT, sndbuf));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(sndbuf, ev.data);
}

TEST_F(unix_stream, empty)
{
	struct kevent ev;

	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_EMPTY, 0, 0, 0));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ((uintptr_t)self->sv[0], ev.ident);
	EXPECT_EQ(EVFILT_EMPTY, ev.filter);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);

	/* Sent but not yet taken by the peer: not empty. */
	ASSERT_EQ(10, put(self->sv[0], 10));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, kev_wait(self->kq, NULL, 0, &ev, 1, 100));

	ASSERT_EQ(10, take(self->sv[1], 100));
	ASSERT_EQ(1, kev_wait_for(self->kq, self->sv[0], EVFILT_EMPTY, &ev, 2000));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.data);
}

/* NOTE_LOWAT is per knote: two kqueues, two marks, SO_RCVLOWAT untouched. */
TEST_F(unix_stream, lowat_two_kqueues)
{
	struct kevent ev;
	int kq2;

	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_EQ(1, sockopt_int(self->sv[0], SOL_SOCKET, SO_RCVLOWAT));
	ASSERT_EQ(0, kq_fd_add(self->kq, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 10));
	ASSERT_EQ(0, kq_fd_add(kq2, self->sv[0], EVFILT_READ, 0, NOTE_LOWAT, 100));
	EXPECT_EQ(1, sockopt_int(self->sv[0], SOL_SOCKET, SO_RCVLOWAT));

	ASSERT_EQ(5, put(self->sv[1], 5));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, kev_poll_one(kq2, &ev));

	ASSERT_EQ(45, put(self->sv[1], 45));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(50, ev.data);
	EXPECT_EQ(0, kev_poll_one(kq2, &ev));

	ASSERT_EQ(60, put(self->sv[1], 60));
	ASSERT_EQ(1, kev_poll_one(kq2, &ev));
	EXPECT_EQ(110, ev.data);
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(110, ev.data);

	/* Reading below one mark only. */
	ASSERT_EQ(20, take(self->sv[0], 20));
	EXPECT_EQ(0, kev_poll_one(kq2, &ev));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(90, ev.data);

	/* The socket's own mark is unchanged, and recv() is not held back. */
	EXPECT_EQ(1, sockopt_int(self->sv[0], SOL_SOCKET, SO_RCVLOWAT));
	EXPECT_EQ(90, take(self->sv[0], sizeof(buf)));
	close(kq2);
}

TEST(unix_dgram_first_datagram)
{
	struct kevent ev;
	int kq, sv[2];

	kq = kqueue();
	ASSERT_GE(kq, 0);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv));
	ASSERT_EQ(0, kq_fd_add(kq, sv[0], EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(kq, &ev));

	ASSERT_EQ(10, put(sv[1], 10));
	ASSERT_EQ(20, put(sv[1], 20));
	ASSERT_EQ(1, kev_poll_one(kq, &ev));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(10, ev.data);
	ASSERT_EQ(10, take(sv[0], sizeof(buf)));
	ASSERT_EQ(1, kev_poll_one(kq, &ev));
	EXPECT_EQ(20, ev.data);
	ASSERT_EQ(20, take(sv[0], sizeof(buf)));
	EXPECT_EQ(0, kev_poll_one(kq, &ev));

	close(sv[0]);
	close(sv[1]);
	close(kq);
}

/* AF_UNIX keeps pending connections on the receive queue, not the backlog. */
TEST(unix_listen_backlog)
{
	struct sockaddr_un sun;
	struct kevent ev;
	int kq, l, c[3], s, i;
	socklen_t len;

	kq = kqueue();
	ASSERT_GE(kq, 0);
	/* An abstract address: nothing in the file system. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1, "kqueue-socket-test-%d",
		 (int)getpid());
	len = offsetof(struct sockaddr_un, sun_path) + 1 + strlen(sun.sun_path + 1);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	ASSERT_GE(l, 0);
	ASSERT_EQ(0, bind(l, (struct sockaddr *)&sun, len));
	ASSERT_EQ(0, listen(l, 16));
	ASSERT_EQ(0, kq_fd_add(kq, l, EVFILT_READ, 0, 0, 0));
	EXPECT_EQ(0, kev_poll_one(kq, &ev));

	for (i = 0; i < 3; i++) {
		c[i] = socket(AF_UNIX, SOCK_STREAM, 0);
		ASSERT_GE(c[i], 0);
		ASSERT_EQ(0, connect(c[i], (struct sockaddr *)&sun, len));
	}
	ASSERT_EQ(1, kev_wait(kq, NULL, 0, &ev, 1, 1000))
		TH_LOG("no READ event on a unix listener with 3 pending connections");
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(3, ev.data);

	s = accept(l, NULL, NULL);
	ASSERT_GE(s, 0);
	ASSERT_EQ(1, kev_poll_one(kq, &ev));
	EXPECT_EQ(2, ev.data);

	close(s);
	for (i = 0; i < 3; i++)
		close(c[i]);
	close(l);
	close(kq);
}

/* EVFILT_EMPTY only on sockets. */
TEST(empty_other_files_einval)
{
	char path[64];
	int kq, fd, efd, null, p[2];

	kq = kqueue();
	ASSERT_GE(kq, 0);
	snprintf(path, sizeof(path), "/tmp/kqueue-empty-%d", (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_GE(fd, 0);
	unlink(path);
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(efd, 0);
	null = open("/dev/null", O_RDWR);
	ASSERT_GE(null, 0);

	EXPECT_EQ(EINVAL, kq_fd_add(kq, fd, EVFILT_EMPTY, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(kq, efd, EVFILT_EMPTY, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(kq, null, EVFILT_EMPTY, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(kq, kq, EVFILT_EMPTY, 0, 0, 0));
	ASSERT_EQ(0, pipe(p));
	EXPECT_EQ(EINVAL, kq_fd_add(kq, p[0], EVFILT_EMPTY, 0, 0, 0));
	EXPECT_EQ(EINVAL, kq_fd_add(kq, p[1], EVFILT_EMPTY, 0, 0, 0));
	close(p[0]);
	close(p[1]);
	EXPECT_EQ(EINVAL, kq_receipt(kq, efd, EVFILT_EMPTY, EV_ADD, 0, 0, NULL));
	/* Nothing was registered. */
	EXPECT_EQ(ENOENT, kq_change(kq, efd, EVFILT_EMPTY, EV_DELETE, 0, 0, NULL));

	close(null);
	close(efd);
	close(fd);
	close(kq);
}

TEST_HARNESS_MAIN
