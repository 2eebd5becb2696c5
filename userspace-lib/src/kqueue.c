/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Copyright (c) 2026 The kqueue-linux authors
 *
 * kqueue(2) and kevent(2) for Linux, on top of the /dev/kqueue module.
 *
 * Each open file of /dev/kqueue is one kqueue; kevent() is one ioctl. The
 * kernel implements FreeBSD's semantics and returns FreeBSD's errnos, so
 * this file only checks what the kernel cannot see (negative counts, the
 * library's own flags), fills in struct kqueue_kevent_args, and maps the
 * ENOTTY of an ioctl on a descriptor that is not a kqueue to EBADF.
 * kqueue_features(), a Linux extension, asks the module what it implements
 * (KQUEUE_IOC_FEATURES) through a kqueue of its own.
 *
 * On LP64 targets struct kevent is struct kqueue_event (<sys/event.h>
 * checks this at compile time) and the caller's arrays go to the kernel as
 * they are. Elsewhere (ILP32, x32) ident and udata are narrower than the
 * kernel's fields, and the arrays are converted through a bounce buffer.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/kqueue.h>
#include <sys/event.h>

#define KQUEUE_DEVICE	"/dev/kqueue"

/*
 * KQ_TEST_CONVERT forces the converting path on LP64 so that the host tests
 * exercise it; it is never set in a normal build.
 */
#if (defined(__LP64__) || defined(_LP64)) && !defined(KQ_TEST_CONVERT)
#define KQ_DIRECT	1
#else
#define KQ_DIRECT	0
#endif

static int kq_open(int oflags)
{
	/*
	 * ENOENT: the module is not loaded (no device node). ENODEV/ENXIO:
	 * a stale node without a driver. Both are passed on as they are.
	 */
	return open(KQUEUE_DEVICE, O_RDWR | oflags);
}

int kqueue(void)
{
	return kq_open(0);
}

int kqueuex(unsigned int flags)
{
	if (flags & ~(unsigned int)KQUEUE_CLOEXEC) {
		errno = EINVAL;
		return -1;
	}
	return kq_open((flags & KQUEUE_CLOEXEC) ? O_CLOEXEC : 0);
}

int kqueue1(int flags)
{
	if (flags & ~O_CLOEXEC) {
		errno = EINVAL;
		return -1;
	}
	return kq_open(flags & O_CLOEXEC);
}

static int kq_ioctl(int kq, struct kqueue_kevent_args *args)
{
	int ret = ioctl(kq, KQUEUE_IOC_KEVENT, args);

	/* Not a kqueue: FreeBSD says EBADF, the kernel ENOTTY. */
	if (ret < 0 && errno == ENOTTY)
		errno = EBADF;
	return ret;
}

#if !KQ_DIRECT
static void kev_to_kernel(struct kqueue_event *dst, const struct kevent *src,
			  size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		dst[i].ident = src[i].ident;
		dst[i].filter = src[i].filter;
		dst[i].flags = src[i].flags;
		dst[i].fflags = src[i].fflags;
		dst[i].data = src[i].data;
		dst[i].udata = (uintptr_t)src[i].udata;
		memcpy(dst[i].ext, src[i].ext, sizeof(dst[i].ext));
	}
}

static void kev_from_kernel(struct kevent *dst, const struct kqueue_event *src,
			    size_t n)
{
	size_t i;

	/* ident and udata are values the caller gave: they fit. */
	for (i = 0; i < n; i++) {
		dst[i].ident = (uintptr_t)src[i].ident;
		dst[i].filter = src[i].filter;
		dst[i].flags = src[i].flags;
		dst[i].fflags = src[i].fflags;
		dst[i].data = src[i].data;
		dst[i].udata = (void *)(uintptr_t)src[i].udata;
		memcpy(dst[i].ext, src[i].ext, sizeof(dst[i].ext));
	}
}

/*
 * kevent() through a bounce buffer of struct kqueue_event. All changes are
 * converted before the call, so changelist and eventlist may still be the
 * same array. A NULL list (or a list with a count of 0) is passed on as
 * given, so that the kernel reports EFAULT as it does on LP64.
 */
static int kevent_convert(int kq, struct kqueue_kevent_args *args,
			  const struct kevent *changelist, int nchanges,
			  struct kevent *eventlist, int nevents)
{
	struct kqueue_event *buf, *kchanges = NULL, *kevents = NULL;
	size_t nch, nev;
	int ret, saved;

	/*
	 * Counts over the kernel's bounds are EINVAL there too; checking them
	 * here keeps the buffer bounded.
	 */
	if ((unsigned int)nchanges > KQUEUE_MAX_CHANGES ||
	    (unsigned int)nevents > KQUEUE_MAX_EVENTS) {
		errno = EINVAL;
		return -1;
	}
	nch = changelist ? (size_t)nchanges : 0;
	nev = eventlist ? (size_t)nevents : 0;
	args->changelist = (__u64)(uintptr_t)changelist;
	args->eventlist = (__u64)(uintptr_t)eventlist;
	if (nch + nev == 0)
		return kq_ioctl(kq, args);

	buf = malloc((nch + nev) * sizeof(*buf));
	if (!buf) {
		errno = ENOMEM;
		return -1;
	}
	if (nch) {
		kchanges = buf;
		kev_to_kernel(kchanges, changelist, nch);
		args->changelist = (__u64)(uintptr_t)kchanges;
	}
	if (nev) {
		kevents = buf + nch;
		args->eventlist = (__u64)(uintptr_t)kevents;
	}

	ret = kq_ioctl(kq, args);
	saved = errno;
	if (ret > 0 && kevents)
		kev_from_kernel(eventlist, kevents,
				(size_t)ret < nev ? (size_t)ret : nev);
	free(buf);
	errno = saved;
	return ret;
}
#endif

int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout)
{
	struct kqueue_kevent_args args;

	if (nchanges < 0 || nevents < 0) {
		errno = EINVAL;
		return -1;
	}

	memset(&args, 0, sizeof(args));
	args.nchanges = (__u32)nchanges;
	args.nevents = (__u32)nevents;
	if (timeout) {
		/* Copied as given: the kernel rejects a bad timespec. */
		args.flags = KQUEUE_KEVENT_TIMEOUT;
		args.timeout.tv_sec = (__s64)timeout->tv_sec;
		args.timeout.tv_nsec = (__s64)timeout->tv_nsec;
	}

#if KQ_DIRECT
	args.changelist = (__u64)(uintptr_t)changelist;
	args.eventlist = (__u64)(uintptr_t)eventlist;
	return kq_ioctl(kq, &args);
#else
	return kevent_convert(kq, &args, changelist, nchanges, eventlist,
			      nevents);
#endif
}

int kqueue_features(struct kqueue_features *features)
{
	int fd, ret, saved;

	/* ENOENT: the module is not loaded, as for kqueue(). */
	fd = kq_open(O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* The kernel writes the whole structure; a bad pointer is EFAULT. */
	ret = ioctl(fd, KQUEUE_IOC_FEATURES, features);
	saved = errno;
	close(fd);
	if (ret < 0) {
		/*
		 * ENOTTY on a kqueue: the module predates the query, which
		 * <linux/kqueue.h> defines as its first version.
		 */
		errno = saved == ENOTTY ? ENOSYS : saved;
		return -1;
	}
	return 0;
}
