/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Copyright (c) 2026 The kqueue-linux authors
 *
 * Host test of the built library, without the kernel module: errnos that
 * do not need a kqueue, EV_SET, and kqueue_features(). Where /dev/kqueue
 * exists it checks the close-on-exec flag and the module's answer to
 * kqueue_features() instead of ENOENT. Exit 0 on success, 1 on failure.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sys/event.h>

static int failures;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: FAIL: %s\n", __FILE__, __LINE__, #cond); \
		failures++;						\
	}								\
} while (0)

/* call must fail with -1 and errno err. */
#define CHECK_ERR(call, err) do {					\
	int __r;							\
	errno = 0;							\
	__r = (call);							\
	if (__r != -1 || errno != (err)) {				\
		fprintf(stderr, "%s:%d: FAIL: %s = %d, errno %d (%s), expected -1, errno %d (%s)\n", \
			__FILE__, __LINE__, #call, __r, errno, strerror(errno), \
			(err), strerror(err));				\
		failures++;						\
	}								\
} while (0)

static void test_open(void)
{
	int fd;

	if (access("/dev/kqueue", F_OK) < 0 && errno == ENOENT) {
		printf("/dev/kqueue absent: checking ENOENT\n");
		CHECK_ERR(kqueue(), ENOENT);
		CHECK_ERR(kqueuex(0), ENOENT);
		CHECK_ERR(kqueuex(KQUEUE_CLOEXEC), ENOENT);
		CHECK_ERR(kqueue1(0), ENOENT);
		CHECK_ERR(kqueue1(O_CLOEXEC), ENOENT);
	} else {
		printf("/dev/kqueue present: checking close-on-exec\n");
		fd = kqueue();
		CHECK(fd >= 0 && fcntl(fd, F_GETFD) == 0);
		close(fd);
		fd = kqueuex(KQUEUE_CLOEXEC);
		CHECK(fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
		close(fd);
		fd = kqueue1(O_CLOEXEC);
		CHECK(fd >= 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC);
		close(fd);
	}
	/* Bad flags are refused before the device is looked at. */
	CHECK_ERR(kqueuex(0x2), EINVAL);
	CHECK_ERR(kqueuex(~0u), EINVAL);
	CHECK_ERR(kqueue1(O_NONBLOCK), EINVAL);
	CHECK_ERR(kqueue1(O_CLOEXEC | O_RDWR), EINVAL);
	CHECK_ERR(kqueue1(-1), EINVAL);
}

/* kevent() on a descriptor that is not a kqueue is EBADF. */
static void check_not_kqueue(int fd, const char *what)
{
	struct kevent kev[2];
	struct timespec zero = { 0, 0 };

	printf("kevent() on %s\n", what);
	EV_SET(&kev[0], 1, EVFILT_TIMER, EV_ADD, 0, 100, NULL);
	CHECK_ERR(kevent(fd, NULL, 0, NULL, 0, NULL), EBADF);
	CHECK_ERR(kevent(fd, kev, 1, NULL, 0, NULL), EBADF);
	CHECK_ERR(kevent(fd, NULL, 0, kev, 2, &zero), EBADF);
	CHECK_ERR(kevent(fd, kev, 1, kev, 2, &zero), EBADF);
}

static void test_not_kqueue(void)
{
	int p[2], sv[2], fd;
	char path[] = "/tmp/kqueue-host-test.XXXXXX";

	CHECK(pipe(p) == 0);
	check_not_kqueue(p[0], "a pipe (read end)");
	check_not_kqueue(p[1], "a pipe (write end)");
	close(p[0]);
	close(p[1]);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	check_not_kqueue(sv[0], "a unix socket");
	close(sv[0]);
	close(sv[1]);

	fd = open("/dev/null", O_RDWR);
	CHECK(fd >= 0);
	check_not_kqueue(fd, "/dev/null");
	close(fd);

	fd = mkstemp(path);
	CHECK(fd >= 0);
	unlink(path);
	check_not_kqueue(fd, "a regular file");

	/* A closed descriptor and -1 are EBADF on their own. */
	close(fd);
	check_not_kqueue(fd, "a closed descriptor");
	check_not_kqueue(-1, "-1");
}

static void test_counts(void)
{
	struct kevent kev;
	int p[2];

	/* Negative counts are refused before the descriptor is used. */
	CHECK(pipe(p) == 0);
	CHECK_ERR(kevent(p[0], NULL, -1, NULL, 0, NULL), EINVAL);
	CHECK_ERR(kevent(p[0], NULL, 0, &kev, -1, NULL), EINVAL);
	CHECK_ERR(kevent(-1, &kev, -5, &kev, -5, NULL), EINVAL);
	close(p[0]);
	close(p[1]);
}

static int evaluations;

static struct kevent *count(struct kevent *kev)
{
	evaluations++;
	return kev;
}

static void test_ev_set(void)
{
	struct kevent kev[2];
	char tag[] = "tag";

	memset(kev, 0xa5, sizeof(kev));
	EV_SET(count(&kev[0]), 7, EVFILT_USER, EV_ADD | EV_CLEAR,
	       NOTE_FFCOPY | 0x123, -42, tag);
	CHECK(evaluations == 1);
	CHECK(kev[0].ident == 7);
	CHECK(kev[0].filter == EVFILT_USER);
	CHECK(kev[0].flags == (EV_ADD | EV_CLEAR));
	CHECK(kev[0].fflags == (NOTE_FFCOPY | 0x123));
	CHECK(kev[0].data == -42);
	CHECK(kev[0].udata == tag);
	CHECK(kev[0].ext[0] == 0 && kev[0].ext[1] == 0 &&
	      kev[0].ext[2] == 0 && kev[0].ext[3] == 0);
	/* The neighbour is untouched. */
	CHECK(kev[1].ident == (uintptr_t)0xa5a5a5a5a5a5a5a5ULL);

	/* Every argument is read before *kevp is written. */
	EV_SET(&kev[0], (uintptr_t)kev[0].data, (short)kev[0].fflags,
	       kev[0].filter == EVFILT_USER ? EV_DELETE : EV_ADD,
	       (unsigned int)kev[0].ident, kev[0].flags, kev[0].udata);
	CHECK(kev[0].ident == (uintptr_t)-42);
	CHECK(kev[0].filter == (short)(NOTE_FFCOPY | 0x123));
	CHECK(kev[0].flags == EV_DELETE);
	CHECK(kev[0].fflags == 7);
	CHECK(kev[0].data == (EV_ADD | EV_CLEAR));
	CHECK(kev[0].udata == tag);

	CHECK(sizeof(struct kevent) == 64);
}

static void test_features(void)
{
	struct kqueue_features f;
	size_t i;

	memset(&f, 0xa5, sizeof(f));
	if (access("/dev/kqueue", F_OK) < 0 && errno == ENOENT) {
		printf("/dev/kqueue absent: kqueue_features() is ENOENT\n");
		CHECK_ERR(kqueue_features(&f), ENOENT);
		return;
	}
	errno = 0;
	if (kqueue_features(&f) == -1) {
		printf("kqueue_features(): %s\n", strerror(errno));
		/* ENOSYS: a module older than the query. */
		CHECK(errno == ENOSYS);
		return;
	}
	printf("kqueue_features(): ABI version %u, features %#x, filters %#x\n",
	       f.abi_version, f.features, f.filters);
	CHECK(f.abi_version >= 1);
	CHECK(kqueue_features_has_filter(&f, EVFILT_USER));
	CHECK(!kqueue_features_has_filter(&f, EVFILT_AIO));
	CHECK(f.max_events == KQUEUE_MAX_EVENTS);
	CHECK(f.reserved0 == 0);
	for (i = 0; i < sizeof(f.reserved) / sizeof(f.reserved[0]); i++)
		CHECK(f.reserved[i] == 0);
}

int main(void)
{
	test_open();
	test_not_kqueue();
	test_counts();
	test_ev_set();
	test_features();
	if (failures) {
		fprintf(stderr, "host test: %d failure(s)\n", failures);
		return 1;
	}
	printf("host test: all passed\n");
	return 0;
}
