/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Copyright (c) 2026 The kqueue-linux authors
 *
 * A crude userspace stand-in for the kernel module, just enough of
 * EVFILT_TIMER, EVFILT_USER, EVFILT_READ and EV_RECEIPT to run
 * examples/kqdemo.c end to end on a host without the module (`make
 * check-demo`). One kqueue per process, a coarse polling wait. It is a
 * test fixture, not an implementation: the library is src/kqueue.c.
 *
 * KQ_FAKE_NO_READ=1 makes EVFILT_READ fail with EINVAL, as the module does
 * until that filter is implemented.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <sys/event.h>

#define MAX_KNOTES	16

struct fake_knote {
	int used;
	struct kevent kev;	/* as registered; fflags/data are the state */
	int64_t period_ns;	/* EVFILT_TIMER */
	int64_t next_ns;
	int triggered;		/* EVFILT_USER */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct fake_knote knotes[MAX_KNOTES];
static int fake_fd = -1;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int kqueue(void)
{
	if (fake_fd < 0)
		fake_fd = open("/dev/null", O_RDWR);
	return fake_fd;
}

int kqueuex(unsigned int flags)
{
	(void)flags;
	return kqueue();
}

int kqueue1(int flags)
{
	(void)flags;
	return kqueue();
}

static struct fake_knote *find(const struct kevent *kev)
{
	int i;

	for (i = 0; i < MAX_KNOTES; i++)
		if (knotes[i].used && knotes[i].kev.ident == kev->ident &&
		    knotes[i].kev.filter == kev->filter)
			return &knotes[i];
	return NULL;
}

static int apply(const struct kevent *kev)
{
	struct fake_knote *kn = find(kev);
	int i;

	switch (kev->filter) {
	case EVFILT_TIMER:
	case EVFILT_USER:
		break;
	case EVFILT_READ: {
		const char *no_read = getenv("KQ_FAKE_NO_READ");

		if (no_read && *no_read == '1')
			return EINVAL;
		break;
	}
	default:
		return EINVAL;
	}
	if (kev->flags & EV_DELETE) {
		if (!kn)
			return ENOENT;
		kn->used = 0;
		return 0;
	}
	if (!kn) {
		if (!(kev->flags & EV_ADD))
			return ENOENT;
		for (i = 0; i < MAX_KNOTES && knotes[i].used; i++)
			;
		if (i == MAX_KNOTES)
			return ENOMEM;
		kn = &knotes[i];
		memset(kn, 0, sizeof(*kn));
		kn->used = 1;
		kn->kev = *kev;
		kn->kev.flags &= (unsigned short)~EV_RECEIPT;
		kn->kev.fflags = 0;
		kn->kev.data = 0;
	}
	kn->kev.udata = kev->udata;
	if (kev->filter == EVFILT_TIMER) {
		kn->kev.flags |= EV_CLEAR;
		kn->period_ns = kev->data * 1000000;
		kn->next_ns = now_ns() + kn->period_ns;
	} else if (kev->filter == EVFILT_USER) {
		unsigned int bits = kev->fflags & NOTE_FFLAGSMASK;

		switch (kev->fflags & NOTE_FFCTRLMASK) {
		case NOTE_FFAND:
			kn->kev.fflags &= bits;
			break;
		case NOTE_FFOR:
			kn->kev.fflags |= bits;
			break;
		case NOTE_FFCOPY:
			kn->kev.fflags = bits;
			break;
		}
		kn->kev.data = kev->data;
		if (kev->fflags & NOTE_TRIGGER)
			kn->triggered = 1;
	}
	return 0;
}

static int collect(struct kevent *out, int nevents)
{
	int64_t now = now_ns();
	int i, n = 0;

	for (i = 0; i < MAX_KNOTES && n < nevents; i++) {
		struct fake_knote *kn = &knotes[i];
		struct pollfd pfd;

		if (!kn->used)
			continue;
		switch (kn->kev.filter) {
		case EVFILT_TIMER:
			if (now < kn->next_ns)
				break;
			out[n] = kn->kev;
			out[n].data = 1 + (now - kn->next_ns) / kn->period_ns;
			kn->next_ns += out[n].data * kn->period_ns;
			n++;
			break;
		case EVFILT_USER:
			if (!kn->triggered)
				break;
			out[n++] = kn->kev;
			if (kn->kev.flags & EV_CLEAR) {
				kn->triggered = 0;
				kn->kev.fflags = 0;
				kn->kev.data = 0;
			}
			break;
		case EVFILT_READ:
			pfd.fd = (int)kn->kev.ident;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 0) == 1) {
				int avail = 0;

				ioctl(pfd.fd, FIONREAD, &avail);
				out[n] = kn->kev;
				out[n++].data = avail;
			}
			break;
		}
	}
	return n;
}

int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout)
{
	int64_t deadline = 0;
	int i, n = 0, err;

	if (kq != fake_fd || kq < 0) {
		errno = EBADF;
		return -1;
	}
	if (timeout)
		deadline = now_ns() + timeout->tv_sec * 1000000000 +
			   timeout->tv_nsec;
	pthread_mutex_lock(&lock);
	for (i = 0; i < nchanges; i++) {
		err = apply(&changelist[i]);
		if (!err && !(changelist[i].flags & EV_RECEIPT))
			continue;
		if (n >= nevents) {
			if (err) {
				pthread_mutex_unlock(&lock);
				errno = err;
				return -1;
			}
			continue;
		}
		eventlist[n] = changelist[i];
		eventlist[n].flags = EV_ERROR;
		eventlist[n].data = err;
		n++;
	}
	if (n || !nevents) {
		pthread_mutex_unlock(&lock);
		return n;
	}
	for (;;) {
		struct timespec nap = { 0, 2000000 };

		n = collect(eventlist, nevents);
		if (n || (timeout && now_ns() >= deadline))
			break;
		pthread_mutex_unlock(&lock);
		nanosleep(&nap, NULL);
		pthread_mutex_lock(&lock);
	}
	pthread_mutex_unlock(&lock);
	return n;
}
