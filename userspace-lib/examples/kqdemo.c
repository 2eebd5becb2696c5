/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Copyright (c) 2026 The kqueue-linux authors
 *
 * kqdemo: one kqueue, three event sources.
 *
 *   - EVFILT_TIMER: a periodic 100 ms timer;
 *   - EVFILT_USER: triggered by a second thread after about 150 ms, with
 *     NOTE_FFOR, some of the 24 user fflags bits and a data value;
 *   - EVFILT_READ: a pipe that a third thread writes "hello" into after
 *     about 250 ms (skipped if the module does not support it yet).
 *
 * Every event is printed on one line. The program exits 0 once it has
 * seen 3 timer events, the user event and the pipe event, and 1 if that
 * takes more than 3 seconds or anything fails.
 *
 * Build: cc -pthread kqdemo.c $(pkg-config --cflags --libs libkqueue)
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/event.h>

#define TIMER_ID	1
#define USER_ID		42
#define TIMER_MS	100
#define USER_DELAY_MS	150
#define PIPE_DELAY_MS	250
#define DEADLINE_MS	3000
#define TIMERS_WANTED	3
#define USER_FFLAGS	0x000a5	/* some of the 24 user bits */
#define USER_DATA	1234

/* udata of each registration: what the event is, printed back. */
static char timer_tag[] = "timer";
static char user_tag[] = "user";
static char pipe_tag[] = "pipe";

static int kq;
static int pipefd[2];
static struct timespec start;

static long elapsed_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - start.tv_sec) * 1000 +
	       (now.tv_nsec - start.tv_nsec) / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *filter_name(short filter)
{
	static const char *const names[] = {
		"EVFILT_READ", "EVFILT_WRITE", "EVFILT_AIO", "EVFILT_VNODE",
		"EVFILT_PROC", "EVFILT_SIGNAL", "EVFILT_TIMER",
		"EVFILT_PROCDESC", "EVFILT_FS", "EVFILT_LIO", "EVFILT_USER",
		"EVFILT_SENDFILE", "EVFILT_EMPTY",
	};

	if (filter < 0 && -filter <= EVFILT_SYSCOUNT)
		return names[-filter - 1];
	return "EVFILT_?";
}

/* "EV_ADD|EV_CLEAR" into buf; unknown bits in hex. */
static const char *flags_str(unsigned short flags, char *buf, size_t len)
{
	static const struct {
		unsigned short bit;
		const char *name;
	} names[] = {
		{ EV_ADD, "EV_ADD" }, { EV_DELETE, "EV_DELETE" },
		{ EV_ENABLE, "EV_ENABLE" }, { EV_DISABLE, "EV_DISABLE" },
		{ EV_ONESHOT, "EV_ONESHOT" }, { EV_CLEAR, "EV_CLEAR" },
		{ EV_RECEIPT, "EV_RECEIPT" }, { EV_DISPATCH, "EV_DISPATCH" },
		{ EV_FORCEONESHOT, "EV_FORCEONESHOT" },
		{ EV_KEEPUDATA, "EV_KEEPUDATA" }, { EV_FLAG1, "EV_FLAG1" },
		{ EV_ERROR, "EV_ERROR" }, { EV_EOF, "EV_EOF" },
	};
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(flags & names[i].bit))
			continue;
		flags &= (unsigned short)~names[i].bit;
		off += (size_t)snprintf(buf + off, len - off, "%s%s",
					off ? "|" : "", names[i].name);
		if (off >= len)
			return buf;
	}
	if (flags)
		snprintf(buf + off, len - off, "%s0x%x", off ? "|" : "", flags);
	else if (!off)
		snprintf(buf, len, "0");
	return buf;
}

/* udata is one of our tags (only those are registered); else print it raw. */
static const char *udata_str(void *udata, char *buf, size_t len)
{
	if (udata == timer_tag || udata == user_tag || udata == pipe_tag)
		snprintf(buf, len, "\"%s\"", (const char *)udata);
	else
		snprintf(buf, len, "%p", udata);
	return buf;
}

static void print_event(const struct kevent *ev)
{
	char flags[160], udata[32];

	printf("%5ld ms  %-12s ident=%-3lu flags=%s fflags=0x%x data=%lld udata=%s\n",
	       elapsed_ms(), filter_name(ev->filter), (unsigned long)ev->ident,
	       flags_str(ev->flags, flags, sizeof(flags)), ev->fflags,
	       (long long)ev->data, udata_str(ev->udata, udata, sizeof(udata)));
}

static void *user_thread(void *arg)
{
	struct kevent kev;

	(void)arg;
	sleep_ms(USER_DELAY_MS);
	/*
	 * A change without EV_ADD modifies the knote: trigger it, OR bits into
	 * its stored fflags and store data. udata is replaced by a
	 * modification (unless EV_KEEPUDATA), so pass the same one.
	 */
	EV_SET(&kev, USER_ID, EVFILT_USER, 0,
	       NOTE_TRIGGER | NOTE_FFOR | USER_FFLAGS, USER_DATA, user_tag);
	if (kevent(kq, &kev, 1, NULL, 0, NULL) < 0)
		perror("kevent(NOTE_TRIGGER)");
	return NULL;
}

static void *pipe_thread(void *arg)
{
	(void)arg;
	sleep_ms(PIPE_DELAY_MS);
	if (write(pipefd[1], "hello", 5) != 5)
		perror("write(pipe)");
	return NULL;
}

/* Register the changes with EV_RECEIPT: one EV_ERROR entry comes back each. */
static int register_events(int *have_pipe)
{
	struct kevent changes[3], receipts[3];
	struct timespec zero = { 0, 0 };
	int i, n, nok = 0;

	EV_SET(&changes[0], TIMER_ID, EVFILT_TIMER, EV_ADD | EV_RECEIPT,
	       NOTE_MSECONDS, TIMER_MS, timer_tag);
	EV_SET(&changes[1], USER_ID, EVFILT_USER,
	       EV_ADD | EV_CLEAR | EV_RECEIPT, NOTE_FFNOP, 0, user_tag);
	EV_SET(&changes[2], (uintptr_t)pipefd[0], EVFILT_READ,
	       EV_ADD | EV_RECEIPT, 0, 0, pipe_tag);

	/* Receipts make kevent() return at once; the zero timeout is a guard. */
	n = kevent(kq, changes, 3, receipts, 3, &zero);
	if (n < 0) {
		perror("kevent(register)");
		return -1;
	}
	*have_pipe = 0;
	for (i = 0; i < n; i++) {
		const struct kevent *r = &receipts[i];

		if (!(r->flags & EV_ERROR)) {
			/* Not a receipt: an event already (should not happen). */
			print_event(r);
			continue;
		}
		if (r->data == 0) {
			printf("registered %s ident=%lu\n", filter_name(r->filter),
			       (unsigned long)r->ident);
			nok++;
			if (r->filter == EVFILT_READ)
				*have_pipe = 1;
			continue;
		}
		if (r->filter == EVFILT_READ && r->data == EINVAL) {
			printf("EVFILT_READ not supported by this module version yet\n");
			nok++;
			continue;
		}
		fprintf(stderr, "registering %s ident=%lu: %s\n",
			filter_name(r->filter), (unsigned long)r->ident,
			strerror((int)r->data));
		return -1;
	}
	if (nok != 3) {
		fprintf(stderr, "expected 3 receipts, got %d\n", nok);
		return -1;
	}
	return 0;
}

int main(void)
{
	int timers = 0, user_seen = 0, pipe_seen = 0, have_pipe = 0;
	pthread_t user_tid, pipe_tid;
	struct kevent events[8];
	int ret = 1, i, n, err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_MONOTONIC, &start);

	kq = kqueue();
	if (kq < 0) {
		err = errno;
		fprintf(stderr, "kqueue: %s\n", strerror(err));
		if (err == ENOENT)
			fprintf(stderr, "/dev/kqueue is missing: load the module (sudo insmod kqueue.ko)\n");
		return 1;
	}
	if (pipe(pipefd) < 0) {
		perror("pipe");
		return 1;
	}
	if (register_events(&have_pipe) < 0)
		return 1;

	err = pthread_create(&user_tid, NULL, user_thread, NULL);
	if (err) {
		fprintf(stderr, "pthread_create: %s\n", strerror(err));
		return 1;
	}
	err = pthread_create(&pipe_tid, NULL, pipe_thread, NULL);
	if (err) {
		fprintf(stderr, "pthread_create: %s\n", strerror(err));
		return 1;
	}

	while (timers < TIMERS_WANTED || !user_seen || (have_pipe && !pipe_seen)) {
		long left = DEADLINE_MS - elapsed_ms();
		struct timespec ts;

		if (left <= 0) {
			fprintf(stderr, "timed out after %d ms: timer events %d/%d, user %s, pipe %s\n",
				DEADLINE_MS, timers, TIMERS_WANTED,
				user_seen ? "seen" : "missing",
				!have_pipe ? "skipped" : pipe_seen ? "seen" : "missing");
			goto out;
		}
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (left % 1000) * 1000000;
		n = kevent(kq, NULL, 0, events, 8, &ts);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("kevent(wait)");
			goto out;
		}
		for (i = 0; i < n; i++) {
			const struct kevent *ev = &events[i];

			print_event(ev);
			if (ev->flags & EV_ERROR) {
				fprintf(stderr, "unexpected error entry: %s\n",
					strerror((int)ev->data));
				goto out;
			}
			switch (ev->filter) {
			case EVFILT_TIMER:
				timers++;
				break;
			case EVFILT_USER:
				user_seen = 1;
				if ((ev->fflags & NOTE_FFLAGSMASK) != USER_FFLAGS ||
				    ev->data != USER_DATA)
					fprintf(stderr, "warning: user event fflags 0x%x data %lld, expected 0x%x and %d\n",
						ev->fflags, (long long)ev->data,
						USER_FFLAGS, USER_DATA);
				break;
			case EVFILT_READ: {
				char buf[64];
				ssize_t len;

				len = read(pipefd[0], buf, sizeof(buf) - 1);
				if (len > 0) {
					buf[len] = '\0';
					printf("        read \"%s\" from the pipe\n", buf);
				}
				pipe_seen = 1;
				break;
			}
			default:
				break;
			}
		}
	}
	printf("done: %d timer events, user event, %s\n", timers,
	       have_pipe ? "pipe event" : "no pipe (EVFILT_READ unsupported)");
	ret = 0;
out:
	pthread_join(user_tid, NULL);
	pthread_join(pipe_tid, NULL);
	close(pipefd[0]);
	close(pipefd[1]);
	close(kq);
	return ret;
}
