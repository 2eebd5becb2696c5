/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Copyright (c) 2026 The kqueue-linux authors
 *
 * Compile-only check that <sys/event.h> is self-contained and clean in
 * every dialect `make check-header` tries (C89 to C11, C++98 to C++20, all
 * with -pedantic -Wall -Wextra -Werror).
 */
#include <sys/event.h>

/* Each entry point has FreeBSD's prototype. */
struct entry_points {
	int (*kqueue)(void);
	int (*kqueuex)(unsigned int);
	int (*kqueue1)(int);
	int (*kevent)(int, const struct kevent *, int, struct kevent *, int,
		      const struct timespec *);
	int (*kqueue_features)(struct kqueue_features *);	/* Linux */
};
extern const struct entry_points header_check_entry_points;
const struct entry_points header_check_entry_points = {
	kqueue, kqueuex, kqueue1, kevent, kqueue_features,
};

/* The values a BSD program may use in constant expressions. */
extern const int header_check_values[];
const int header_check_values[] = {
	EVFILT_READ, EVFILT_WRITE, EVFILT_AIO, EVFILT_VNODE, EVFILT_PROC,
	EVFILT_SIGNAL, EVFILT_TIMER, EVFILT_PROCDESC, EVFILT_FS, EVFILT_LIO,
	EVFILT_USER, EVFILT_SENDFILE, EVFILT_EMPTY, EVFILT_SYSCOUNT,
	EV_ADD, EV_DELETE, EV_ENABLE, EV_DISABLE, EV_FORCEONESHOT,
	EV_KEEPUDATA, EV_ONESHOT, EV_CLEAR, EV_RECEIPT, EV_DISPATCH,
	EV_SYSFLAGS, EV_FLAG1, EV_ERROR, EV_EOF,
	NOTE_LOWAT, NOTE_FILE_POLL,
	NOTE_DELETE, NOTE_WRITE, NOTE_EXTEND, NOTE_ATTRIB, NOTE_LINK,
	NOTE_RENAME, NOTE_REVOKE, NOTE_OPEN, NOTE_CLOSE, NOTE_CLOSE_WRITE,
	NOTE_READ, NOTE_TRUNCATE, NOTE_ABSOLUTE, NOTE_TRACK, NOTE_TRACKERR, NOTE_CHILD, NOTE_PDATAMASK,
	NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS, NOTE_NSECONDS,
	NOTE_ABSTIME, NOTE_FFNOP, NOTE_FFLAGSMASK, NOTE_TRIGGER,
	KQUEUE_CLOEXEC,
};
extern const unsigned int header_check_high_values[];
const unsigned int header_check_high_values[] = {
	NOTE_FFAND, NOTE_FFOR, NOTE_FFCOPY, NOTE_FFCTRLMASK,
	NOTE_EXIT, NOTE_FORK, NOTE_EXEC, NOTE_PCTRLMASK,
};

int header_check(struct kevent *kev, int n);

int header_check(struct kevent *kev, int n)
{
	int i = 0;

	/* The macro as BSD code writes it, as a statement in if/else. */
	if (n > 0)
		EV_SET(&kev[i++], 3, EVFILT_READ, EV_ADD | EV_CLEAR, 0, 0, NULL);
	else
		EV_SET(kev, 0, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFOR, 5, 0);
	return i;
}

/* The feature helpers, as a program calls them. */
unsigned int header_check_features(const struct kqueue_features *f);

unsigned int header_check_features(const struct kqueue_features *f)
{
	if (!kqueue_features_has_filter(f, EVFILT_USER))
		return 0;
	return kqueue_features_fflags(f, EVFILT_TIMER) & NOTE_ABSTIME;
}
