/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kqueue(2) for Linux: the ioctl ABI of /dev/kqueue.
 *
 * Each open file of /dev/kqueue is one kqueue. The single ioctl
 * KQUEUE_IOC_KEVENT implements kevent(2): it applies a changelist and
 * collects pending events into an eventlist, optionally waiting for them.
 * The file is pollable: POLLIN while events are pending.
 *
 * Event and flag values are FreeBSD's (sys/sys/event.h, FreeBSD 12 and
 * later); struct kqueue_event has the layout of FreeBSD's LP64
 * struct kevent, so BSD code can use it directly.
 *
 * This header is the single source of truth for the ABI: the module (Rust)
 * and both userspace libraries check their mirrors of it at compile time.
 */
#ifndef _UAPI_LINUX_KQUEUE_H
#define _UAPI_LINUX_KQUEUE_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Filters (struct kqueue_event.filter). */
#define KQ_EVFILT_READ		(-1)
#define KQ_EVFILT_WRITE		(-2)
#define KQ_EVFILT_AIO		(-3)	/* not supported: EINVAL */
#define KQ_EVFILT_VNODE		(-4)
#define KQ_EVFILT_PROC		(-5)
#define KQ_EVFILT_SIGNAL	(-6)
#define KQ_EVFILT_TIMER		(-7)
#define KQ_EVFILT_PROCDESC	(-8)
#define KQ_EVFILT_FS		(-9)	/* not supported: EINVAL */
#define KQ_EVFILT_LIO		(-10)	/* not supported: EINVAL */
#define KQ_EVFILT_USER		(-11)
#define KQ_EVFILT_SENDFILE	(-12)	/* reserved: EINVAL */
#define KQ_EVFILT_EMPTY		(-13)
#define KQ_EVFILT_SYSCOUNT	13

/* Actions and flags (struct kqueue_event.flags). */
#define KQ_EV_ADD		0x0001	/* add or modify; implies enable */
#define KQ_EV_DELETE		0x0002	/* remove */
#define KQ_EV_ENABLE		0x0004	/* report when triggered */
#define KQ_EV_DISABLE		0x0008	/* keep the filter, do not report */
#define KQ_EV_ONESHOT		0x0010	/* report once, then delete */
#define KQ_EV_CLEAR		0x0020	/* reset state after reporting */
#define KQ_EV_RECEIPT		0x0040	/* always return an EV_ERROR entry */
#define KQ_EV_DISPATCH		0x0080	/* disable after reporting */
#define KQ_EV_FORCEONESHOT	0x0100	/* make oneshot and trigger now */
#define KQ_EV_KEEPUDATA		0x0200	/* modify without touching udata */
#define KQ_EV_SYSFLAGS		0xf000	/* reserved; masked off on input */
#define KQ_EV_FLAG1		0x2000	/* filter-specific */
#define KQ_EV_ERROR		0x4000	/* output: data holds an errno */
#define KQ_EV_EOF		0x8000	/* output: filter-specific end of file */

/* EVFILT_READ / EVFILT_WRITE. */
#define KQ_NOTE_LOWAT		0x0001	/* data is a low-water mark */
#define KQ_NOTE_FILE_POLL	0x0002	/* regular files behave like poll(2) */

/* EVFILT_USER. */
#define KQ_NOTE_FFNOP		0x00000000
#define KQ_NOTE_FFAND		0x40000000
#define KQ_NOTE_FFOR		0x80000000
#define KQ_NOTE_FFCOPY		0xc0000000
#define KQ_NOTE_FFCTRLMASK	0xc0000000
#define KQ_NOTE_FFLAGSMASK	0x00ffffff
#define KQ_NOTE_TRIGGER		0x01000000

/* EVFILT_VNODE. */
#define KQ_NOTE_DELETE		0x0001
#define KQ_NOTE_WRITE		0x0002
#define KQ_NOTE_EXTEND		0x0004
#define KQ_NOTE_ATTRIB		0x0008
#define KQ_NOTE_LINK		0x0010
#define KQ_NOTE_RENAME		0x0020
#define KQ_NOTE_REVOKE		0x0040
#define KQ_NOTE_OPEN		0x0080
#define KQ_NOTE_CLOSE		0x0100
#define KQ_NOTE_CLOSE_WRITE	0x0200
#define KQ_NOTE_READ		0x0400
/*
 * Not FreeBSD's: the file shrank (truncate(2), ftruncate(2), O_TRUNC).
 * OpenBSD and macOS spell it NOTE_TRUNCATE with the value 0x0080, which is
 * FreeBSD's NOTE_OPEN; here it has a bit of its own.
 */
#define KQ_NOTE_TRUNCATE	0x0800

/* EVFILT_PROC / EVFILT_PROCDESC. */
#define KQ_NOTE_EXIT		0x80000000
#define KQ_NOTE_FORK		0x40000000
#define KQ_NOTE_EXEC		0x20000000
#define KQ_NOTE_PCTRLMASK	0xf0000000
#define KQ_NOTE_PDATAMASK	0x000fffff
#define KQ_NOTE_TRACK		0x00000001
#define KQ_NOTE_TRACKERR	0x00000002
#define KQ_NOTE_CHILD		0x00000004

/* EVFILT_TIMER. */
#define KQ_NOTE_SECONDS		0x0001
#define KQ_NOTE_MSECONDS	0x0002	/* the default unit */
#define KQ_NOTE_USECONDS	0x0004
#define KQ_NOTE_NSECONDS	0x0008
#define KQ_NOTE_ABSTIME		0x0010	/* data is a CLOCK_REALTIME deadline */

/**
 * struct kqueue_event - one change or one event (FreeBSD's struct kevent)
 * @ident:  identifier of the event source (fd, pid, signal, timer id, ...)
 * @filter: KQ_EVFILT_*
 * @flags:  KQ_EV_*
 * @fflags: filter-specific KQ_NOTE_* flags
 * @data:   filter-specific data
 * @udata:  opaque user value, returned untouched
 * @ext:    ext[0] and ext[1] are filter-defined (unused by every filter
 *          today: returned as given), ext[2] and ext[3] are passed through
 */
struct kqueue_event {
	__u64	ident;
	__s16	filter;
	__u16	flags;
	__u32	fflags;
	__s64	data;
	__u64	udata;
	__u64	ext[4];
};

/**
 * struct kqueue_timespec - a relative timeout
 * @tv_sec:  seconds, >= 0
 * @tv_nsec: nanoseconds, 0 to 999999999
 */
struct kqueue_timespec {
	__s64	tv_sec;
	__s64	tv_nsec;
};

/* struct kqueue_kevent_args.flags */
#define KQUEUE_KEVENT_TIMEOUT	0x1	/* @timeout is valid; else wait forever */
#define KQUEUE_KEVENT_FLAGS	KQUEUE_KEVENT_TIMEOUT

/**
 * struct kqueue_kevent_args - argument of KQUEUE_IOC_KEVENT
 * @changelist: user address of @nchanges struct kqueue_event, or 0
 * @eventlist:  user address of room for @nevents struct kqueue_event, or 0
 * @nchanges:   number of changes to apply, at most KQUEUE_MAX_CHANGES
 * @nevents:    room in @eventlist, at most KQUEUE_MAX_EVENTS
 * @flags:      KQUEUE_KEVENT_*; any other bit is EINVAL
 * @reserved0:  must be 0
 * @timeout:    how long to wait when no event is pending (with
 *              KQUEUE_KEVENT_TIMEOUT); {0, 0} polls
 * @reserved:   must be 0
 *
 * The ioctl returns the number of entries written to @eventlist, like
 * kevent(2), or a negative errno. The kernel does not write to this
 * structure. @changelist and @eventlist may be the same array: every change
 * is read before the entry at its position can be written (an error entry
 * is never written past the change that produced it).
 */
struct kqueue_kevent_args {
	__u64	changelist;
	__u64	eventlist;
	__u32	nchanges;
	__u32	nevents;
	__u32	flags;
	__u32	reserved0;
	struct kqueue_timespec timeout;
	__u64	reserved[2];
};

/* Bounds on one call (larger counts are EINVAL). */
#define KQUEUE_MAX_CHANGES	(1U << 20)
#define KQUEUE_MAX_EVENTS	(1U << 20)

/*
 * What the module implements, for programs that probe instead of guessing
 * from EINVAL (KQUEUE_IOC_FEATURES).
 *
 * Stability rules:
 * - The layout of struct kqueue_features never changes: fields are only
 *   ever carved out of @reserved, which reads as 0 from a module that does
 *   not know them. A field that is 0 therefore means "not supported" or
 *   "not reported by this module".
 * - @abi_version is KQUEUE_ABI_VERSION of the module. It changes only if
 *   the meaning of an existing ioctl, structure field or flag changes
 *   incompatibly, which this ABI promises not to do: additions (a filter, a
 *   flag, a field, an ioctl) are reported by the bits and fields below and
 *   leave the version alone. A program that wants version N accepts any
 *   version >= N only after checking the bits it needs.
 * - A bit that a module version sets stays set in later versions, except
 *   for KQUEUE_FEAT_CLOSE_HOOK, which depends on the running kernel.
 * - Without KQUEUE_IOC_FEATURES (ENOTTY), the module is the first version:
 *   every filter except AIO, FS, LIO and SENDFILE.
 */
#define KQUEUE_ABI_VERSION	1

/* struct kqueue_features.features */
#define KQUEUE_FEAT_CLOSE_HOOK	0x1	/* close() removes the fd's knotes at once */
#define KQUEUE_FEAT_FDINFO	0x2	/* /proc/PID/fdinfo lists the knotes */

/**
 * struct kqueue_features - result of KQUEUE_IOC_FEATURES
 * @abi_version:  KQUEUE_ABI_VERSION of the module
 * @features:     KQUEUE_FEAT_* that hold on this kernel
 * @filters:      bit (-KQ_EVFILT_x - 1) is set for each supported filter
 * @ev_flags:     the KQ_EV_* a change may carry
 * @kevent_flags: the KQUEUE_KEVENT_* that struct kqueue_kevent_args accepts
 * @max_changes:  KQUEUE_MAX_CHANGES
 * @max_events:   KQUEUE_MAX_EVENTS
 * @reserved0:    0
 * @fflags:       @fflags[-KQ_EVFILT_x - 1]: the KQ_NOTE_* a registration
 *                of that filter may carry (0 for an unsupported filter)
 * @max_user_knotes:        per-user limit on knotes of every filter
 * @max_user_timers:        per-user limit on live EVFILT_TIMER timers
 * @max_user_proc_watches:  per-user limit on EVFILT_PROC, EVFILT_PROCDESC and
 *                          EVFILT_SIGNAL knotes (NOTE_TRACK children included)
 * @max_user_vnode_watches: per-user limit on EVFILT_VNODE knotes and
 *                          EVFILT_READ knotes on regular files
 * @reserved:     0
 *
 * The four limits are the module parameters of the same names, as they are
 * when the ioctl runs (0 from a module that does not report them). A change
 * past a limit fails with ENOMEM.
 */
struct kqueue_features {
	__u32	abi_version;
	__u32	features;
	__u32	filters;
	__u32	ev_flags;
	__u32	kevent_flags;
	__u32	max_changes;
	__u32	max_events;
	__u32	reserved0;
	__u32	fflags[16];
	__u32	max_user_knotes;
	__u32	max_user_timers;
	__u32	max_user_proc_watches;
	__u32	max_user_vnode_watches;
	__u32	reserved[4];
};

#define KQUEUE_IOC_MAGIC	0xB9
#define KQUEUE_IOC_KEVENT	_IOWR(KQUEUE_IOC_MAGIC, 0x01, struct kqueue_kevent_args)
#define KQUEUE_IOC_FEATURES	_IOR(KQUEUE_IOC_MAGIC, 0x02, struct kqueue_features)

#endif /* _UAPI_LINUX_KQUEUE_H */
