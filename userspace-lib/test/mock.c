/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Copyright (c) 2026 The kqueue-linux authors
 *
 * Unit test of src/kqueue.c against a fake kernel. The Makefile compiles
 * src/kqueue.c into this program with -Dopen=kq_mock_open,
 * -Dioctl=kq_mock_ioctl and -Dclose=kq_mock_close, so every open(2),
 * ioctl(2) and close(2) the library makes lands here. Built twice: as is (LP64: arrays passed through) and with
 * -DKQ_TEST_CONVERT (the converting path used on ILP32).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/kqueue.h>
#include <sys/event.h>

#ifdef KQ_TEST_CONVERT
#define MODE "converting"
#else
#define MODE "direct"
#endif

static int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: FAIL (%s): %s\n", __FILE__, __LINE__, \
			MODE, #cond);					\
		failures++;						\
	}								\
} while (0)

#define MOCK_FD		123
#define MAX_RECORD	8

/* What the fake kernel saw, and what it answers. */
static struct {
	int opens;
	char path[64];
	int oflags;
	int open_errno;		/* 0: succeed with MOCK_FD */

	int ioctls;
	int fd;
	unsigned long req;
	struct kqueue_kevent_args args;
	struct kqueue_event changes[MAX_RECORD];
	int ret;		/* >= 0: return it; < 0: fail with ioctl_errno */
	int ioctl_errno;
	struct kqueue_event events[MAX_RECORD];	/* written for ret > 0 */
	void *arg;		/* the ioctl's argument, as passed */
	struct kqueue_features features;	/* written by KQUEUE_IOC_FEATURES */

	int closes;
	int closed_fd;
} mock;

int kq_mock_close(int fd)
{
	mock.closes++;
	mock.closed_fd = fd;
	return 0;
}

int kq_mock_open(const char *path, int oflags, ...)
{
	mock.opens++;
	snprintf(mock.path, sizeof(mock.path), "%s", path);
	mock.oflags = oflags;
	if (mock.open_errno) {
		errno = mock.open_errno;
		return -1;
	}
	return MOCK_FD;
}

int kq_mock_ioctl(int fd, unsigned long req, ...)
{
	struct kqueue_kevent_args *args;
	const struct kqueue_event *changes;
	struct kqueue_event *events;
	va_list ap;
	__u32 i;

	va_start(ap, req);
	mock.arg = va_arg(ap, void *);
	va_end(ap);

	mock.ioctls++;
	mock.fd = fd;
	mock.req = req;
	if (req == KQUEUE_IOC_FEATURES) {
		if (mock.ret < 0) {
			errno = mock.ioctl_errno;
			return -1;
		}
		memcpy(mock.arg, &mock.features, sizeof(mock.features));
		return mock.ret;
	}
	args = mock.arg;
	mock.args = *args;
	changes = (const struct kqueue_event *)(uintptr_t)args->changelist;
	for (i = 0; changes && i < args->nchanges && i < MAX_RECORD; i++)
		mock.changes[i] = changes[i];
	if (mock.ret < 0) {
		errno = mock.ioctl_errno;
		return -1;
	}
	/* Like the kernel: every change is read before an event is written. */
	events = (struct kqueue_event *)(uintptr_t)args->eventlist;
	for (i = 0; i < (__u32)mock.ret; i++)
		events[i] = mock.events[i];
	return mock.ret;
}

static void reset(void)
{
	memset(&mock, 0, sizeof(mock));
}

static void test_open(void)
{
	static const int errs[] = { ENOENT, ENODEV, ENXIO, EACCES, EMFILE };
	size_t i;

	reset();
	CHECK(kqueue() == MOCK_FD);
	CHECK(mock.opens == 1 && strcmp(mock.path, "/dev/kqueue") == 0);
	CHECK(mock.oflags == O_RDWR);

	reset();
	CHECK(kqueuex(0) == MOCK_FD && mock.oflags == O_RDWR);
	reset();
	CHECK(kqueuex(KQUEUE_CLOEXEC) == MOCK_FD &&
	      mock.oflags == (O_RDWR | O_CLOEXEC));
	reset();
	CHECK(kqueue1(0) == MOCK_FD && mock.oflags == O_RDWR);
	reset();
	CHECK(kqueue1(O_CLOEXEC) == MOCK_FD &&
	      mock.oflags == (O_RDWR | O_CLOEXEC));

	/* Bad flags: EINVAL without opening anything. */
	reset();
	errno = 0;
	CHECK(kqueuex(0x2) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(kqueuex(KQUEUE_CLOEXEC | 0x80000000u) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(kqueue1(O_NONBLOCK) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(kqueue1(O_CLOEXEC | O_RDONLY | O_WRONLY) == -1 && errno == EINVAL);
	CHECK(mock.opens == 0);

	/* open(2)'s errno is passed on unchanged. */
	for (i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		reset();
		mock.open_errno = errs[i];
		errno = 0;
		CHECK(kqueue() == -1 && errno == errs[i]);
		errno = 0;
		CHECK(kqueuex(KQUEUE_CLOEXEC) == -1 && errno == errs[i]);
	}
}

static void check_args_clean(void)
{
	CHECK(mock.args.reserved0 == 0);
	CHECK(mock.args.reserved[0] == 0 && mock.args.reserved[1] == 0);
	CHECK((mock.args.flags & ~(__u32)KQUEUE_KEVENT_FLAGS) == 0);
}

static int same_change(const struct kqueue_event *k, const struct kevent *u)
{
	return k->ident == u->ident && k->filter == u->filter &&
	       k->flags == u->flags && k->fflags == u->fflags &&
	       k->data == u->data && k->udata == (uintptr_t)u->udata &&
	       memcmp(k->ext, u->ext, sizeof(k->ext)) == 0;
}

static void test_kevent_args(void)
{
	struct kevent changes[3], events[4];
	struct timespec ts = { 5, 7 }, bad = { -1, 2000000000L };
	char tag[] = "x";
	int i;

	EV_SET(&changes[0], 1, EVFILT_TIMER, EV_ADD, NOTE_MSECONDS, 100, tag);
	EV_SET(&changes[1], 2, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	EV_SET(&changes[2], (uintptr_t)-1, EVFILT_USER, EV_DELETE,
	       NOTE_FFLAGSMASK, -1, &changes[2]);
	changes[2].ext[0] = 1;
	changes[2].ext[3] = ~0ULL;

	/* NULL timeout: no KQUEUE_KEVENT_TIMEOUT, zero timespec. */
	reset();
	CHECK(kevent(7, changes, 3, events, 4, NULL) == 0);
	CHECK(mock.ioctls == 1 && mock.fd == 7);
	CHECK(mock.req == KQUEUE_IOC_KEVENT);
	CHECK(mock.args.nchanges == 3 && mock.args.nevents == 4);
	CHECK(mock.args.flags == 0);
	CHECK(mock.args.timeout.tv_sec == 0 && mock.args.timeout.tv_nsec == 0);
	check_args_clean();
	for (i = 0; i < 3; i++)
		CHECK(same_change(&mock.changes[i], &changes[i]));
#ifndef KQ_TEST_CONVERT
	CHECK(mock.args.changelist == (uintptr_t)changes);
	CHECK(mock.args.eventlist == (uintptr_t)events);
#else
	CHECK(mock.args.changelist != 0 && mock.args.eventlist != 0);
#endif

	/* A timeout is copied as given, valid or not: the kernel checks it. */
	reset();
	CHECK(kevent(7, NULL, 0, events, 4, &ts) == 0);
	CHECK(mock.args.flags == KQUEUE_KEVENT_TIMEOUT);
	CHECK(mock.args.timeout.tv_sec == 5 && mock.args.timeout.tv_nsec == 7);
	CHECK(mock.args.changelist == 0 && mock.args.nchanges == 0);
	check_args_clean();
	reset();
	CHECK(kevent(7, NULL, 0, events, 4, &bad) == 0);
	CHECK(mock.args.flags == KQUEUE_KEVENT_TIMEOUT);
	CHECK(mock.args.timeout.tv_sec == -1 &&
	      mock.args.timeout.tv_nsec == 2000000000L);

	/* NULL lists with nonzero counts go to the kernel (EFAULT there). */
	reset();
	mock.ret = -1;
	mock.ioctl_errno = EFAULT;
	errno = 0;
	CHECK(kevent(7, NULL, 2, NULL, 3, NULL) == -1 && errno == EFAULT);
	CHECK(mock.ioctls == 1 && mock.args.changelist == 0 &&
	      mock.args.nchanges == 2 && mock.args.eventlist == 0 &&
	      mock.args.nevents == 3);

	/* Negative counts: EINVAL without a call. */
	reset();
	errno = 0;
	CHECK(kevent(7, changes, -1, events, 4, NULL) == -1 && errno == EINVAL);
	errno = 0;
	CHECK(kevent(7, changes, 1, events, -1, NULL) == -1 && errno == EINVAL);
	CHECK(mock.ioctls == 0);

	/* Counts over the kernel's bounds fail EINVAL either way. */
	reset();
	mock.ret = -1;
	mock.ioctl_errno = EINVAL;
	errno = 0;
	CHECK(kevent(7, NULL, 0, NULL, (int)KQUEUE_MAX_EVENTS + 1, NULL) == -1 &&
	      errno == EINVAL);
}

static void test_kevent_results(void)
{
	static const int passed[] = { EBADF, EFAULT, EINTR, EINVAL, ENOENT,
				      ENOMEM, ESRCH, EACCES };
	struct kevent list[4];
	char tag[] = "y";
	size_t i;
	int n;

	/* Events come back in the eventlist, ident, udata and ext intact. */
	reset();
	mock.ret = 2;
	mock.events[0].ident = 9;
	mock.events[0].filter = EVFILT_TIMER;
	mock.events[0].flags = EV_ADD | EV_CLEAR;
	mock.events[0].data = 3;
	mock.events[0].udata = (uintptr_t)tag;
	mock.events[0].ext[2] = 0x1122334455667788ULL;
	mock.events[1].ident = 10;
	mock.events[1].filter = EVFILT_USER;
	mock.events[1].flags = EV_ERROR;
	mock.events[1].fflags = NOTE_FFLAGSMASK;
	mock.events[1].data = ENOENT;
	memset(list, 0xee, sizeof(list));
	n = kevent(7, NULL, 0, list, 4, NULL);
	CHECK(n == 2);
	CHECK(list[0].ident == 9 && list[0].filter == EVFILT_TIMER &&
	      list[0].flags == (EV_ADD | EV_CLEAR) && list[0].fflags == 0 &&
	      list[0].data == 3 && list[0].udata == tag &&
	      list[0].ext[2] == 0x1122334455667788ULL);
	CHECK(list[1].ident == 10 && list[1].filter == EVFILT_USER &&
	      list[1].flags == EV_ERROR && list[1].fflags == NOTE_FFLAGSMASK &&
	      list[1].data == ENOENT && list[1].udata == NULL);
	/* Entries past the count are not touched. */
	CHECK(list[2].data == (int64_t)0xeeeeeeeeeeeeeeeeULL);

	/* The same array as changelist and eventlist. */
	reset();
	EV_SET(&list[0], 1, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, tag);
	EV_SET(&list[1], 2, EVFILT_USER, EV_ADD | EV_RECEIPT, 0, 0, NULL);
	mock.ret = 2;
	mock.events[0].ident = 1;
	mock.events[0].filter = EVFILT_USER;
	mock.events[0].flags = EV_ERROR;
	mock.events[0].udata = (uintptr_t)tag;
	mock.events[1].ident = 2;
	mock.events[1].filter = EVFILT_USER;
	mock.events[1].flags = EV_ERROR;
	CHECK(kevent(7, list, 2, list, 2, NULL) == 2);
	CHECK(mock.changes[0].flags == (EV_ADD | EV_RECEIPT) &&
	      mock.changes[0].udata == (uintptr_t)tag &&
	      mock.changes[1].ident == 2);
	CHECK(list[0].flags == EV_ERROR && list[0].udata == tag &&
	      list[1].flags == EV_ERROR && list[1].ident == 2);

	/* ENOTTY (not a kqueue) becomes EBADF; everything else is as is. */
	reset();
	mock.ret = -1;
	mock.ioctl_errno = ENOTTY;
	errno = 0;
	CHECK(kevent(7, NULL, 0, list, 4, NULL) == -1 && errno == EBADF);
	for (i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
		reset();
		mock.ret = -1;
		mock.ioctl_errno = passed[i];
		errno = 0;
		CHECK(kevent(7, list, 1, list, 4, NULL) == -1 &&
		      errno == passed[i]);
	}
}

static void test_features(void)
{
	static const int passed[] = { EFAULT, EINVAL, ENOMEM, EPERM };
	struct kqueue_features f;
	size_t i;

	/* A kqueue of its own, close-on-exec, closed again; 0 on success. */
	reset();
	mock.features.abi_version = KQUEUE_ABI_VERSION;
	mock.features.filters = 1u << (-EVFILT_USER - 1);
	mock.features.fflags[-EVFILT_TIMER - 1] = NOTE_ABSTIME;
	mock.features.max_user_vnode_watches = 4096;
	mock.features.reserved[3] = 0x77;
	memset(&f, 0xa5, sizeof(f));
	CHECK(kqueue_features(&f) == 0);
	CHECK(mock.opens == 1 && strcmp(mock.path, "/dev/kqueue") == 0);
	CHECK(mock.oflags == (O_RDWR | O_CLOEXEC));
	CHECK(mock.ioctls == 1 && mock.fd == MOCK_FD);
	CHECK(mock.req == KQUEUE_IOC_FEATURES);
	CHECK(mock.arg == (void *)&f);
	CHECK(mock.closes == 1 && mock.closed_fd == MOCK_FD);
	CHECK(memcmp(&f, &mock.features, sizeof(f)) == 0);

	/* The helpers read what was filled in. */
	CHECK(kqueue_features_has_filter(&f, EVFILT_USER) == 1);
	CHECK(kqueue_features_has_filter(&f, EVFILT_READ) == 0);
	CHECK(kqueue_features_has_filter(&f, 0) == 0);
	CHECK(kqueue_features_has_filter(&f, 5) == 0);
	CHECK(kqueue_features_has_filter(&f, -33) == 0);
	CHECK(kqueue_features_fflags(&f, EVFILT_TIMER) == NOTE_ABSTIME);
	CHECK(kqueue_features_fflags(&f, EVFILT_USER) == 0);
	CHECK(kqueue_features_fflags(&f, -17) == 0);
	CHECK(kqueue_features_fflags(&f, 0) == 0);
	f.filters = 0x80000000u;
	CHECK(kqueue_features_has_filter(&f, -32) == 1);
	f.fflags[15] = 0x42;
	CHECK(kqueue_features_fflags(&f, -16) == 0x42);

	/* No module: open's ENOENT, no ioctl, nothing to close. */
	reset();
	mock.open_errno = ENOENT;
	errno = 0;
	CHECK(kqueue_features(&f) == -1 && errno == ENOENT);
	CHECK(mock.ioctls == 0 && mock.closes == 0);

	/* An old module does not know the ioctl: ENOTTY becomes ENOSYS. */
	reset();
	mock.ret = -1;
	mock.ioctl_errno = ENOTTY;
	errno = 0;
	CHECK(kqueue_features(&f) == -1 && errno == ENOSYS);
	CHECK(mock.closes == 1 && mock.closed_fd == MOCK_FD);

	/* Other errors pass through, with the kqueue closed; NULL goes on. */
	for (i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
		reset();
		mock.ret = -1;
		mock.ioctl_errno = passed[i];
		errno = 0;
		CHECK(kqueue_features(NULL) == -1 && errno == passed[i]);
		CHECK(mock.arg == NULL && mock.closes == 1);
	}
}

int main(void)
{
	test_open();
	test_kevent_args();
	test_kevent_results();
	test_features();
	if (failures) {
		fprintf(stderr, "mock test (%s): %d failure(s)\n", MODE, failures);
		return 1;
	}
	printf("mock test (%s): all passed\n", MODE);
	return 0;
}
