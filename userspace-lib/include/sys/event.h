/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Copyright (c) 2026 The kqueue-linux authors
 *
 * <sys/event.h>: the BSD kqueue(2) interface, backed by the /dev/kqueue
 * kernel module.
 *
 * Names, values and the layout of struct kevent are FreeBSD's (12 and
 * later). Every value is defined from <linux/kqueue.h>, the kernel ABI,
 * which is the single source of truth; this header only gives the BSD
 * spellings and checks at compile time that struct kevent is the kernel's
 * struct kqueue_event on LP64 targets (elsewhere the library converts).
 * One Linux extension is declared at the end: kqueue_features(), which asks
 * the module what it implements.
 *
 * Spellings of other systems whose meaning maps onto this implementation
 * are offered, with values that do not collide with FreeBSD's:
 *
 *   NOTE_ABSOLUTE (macOS: data is an absolute deadline) = NOTE_ABSTIME.
 *     macOS's own value, 0x8, is FreeBSD's NOTE_NSECONDS: only the name is
 *     taken over, so a program must be recompiled against this header.
 *   NOTE_TRUNCATE (OpenBSD, macOS: the file was truncated) reported by
 *     EVFILT_VNODE when a file shrinks. Their value, 0x80, is FreeBSD's
 *     NOTE_OPEN; here it is KQ_NOTE_TRUNCATE (0x800).
 *
 * Spellings that would mean something different here are deliberately
 * absent: macOS's NOTE_USECONDS/NOTE_NSECONDS (0x2/0x4), macOS's and
 * OpenBSD's EVFILT_USER (-10), EVFILT_MACHPORT, EVFILT_DEVICE,
 * EVFILT_EXCEPT, EV_POLL, EV_OOBAND, EV_UDATA_SPECIFIC, OpenBSD's NOTE_EOF,
 * and kevent64()/struct kevent64_s. Code using them should fail to compile
 * rather than silently get FreeBSD's meaning of the same bits.
 */
#ifndef _SYS_EVENT_H
#define _SYS_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/kqueue.h>

/* Filters. */
#define EVFILT_READ		KQ_EVFILT_READ
#define EVFILT_WRITE		KQ_EVFILT_WRITE
#define EVFILT_AIO		KQ_EVFILT_AIO
#define EVFILT_VNODE		KQ_EVFILT_VNODE
#define EVFILT_PROC		KQ_EVFILT_PROC
#define EVFILT_SIGNAL		KQ_EVFILT_SIGNAL
#define EVFILT_TIMER		KQ_EVFILT_TIMER
#define EVFILT_PROCDESC		KQ_EVFILT_PROCDESC
#define EVFILT_FS		KQ_EVFILT_FS
#define EVFILT_LIO		KQ_EVFILT_LIO
#define EVFILT_USER		KQ_EVFILT_USER
#define EVFILT_SENDFILE		KQ_EVFILT_SENDFILE
#define EVFILT_EMPTY		KQ_EVFILT_EMPTY
#define EVFILT_SYSCOUNT		KQ_EVFILT_SYSCOUNT

/* Actions. */
#define EV_ADD			KQ_EV_ADD
#define EV_DELETE		KQ_EV_DELETE
#define EV_ENABLE		KQ_EV_ENABLE
#define EV_DISABLE		KQ_EV_DISABLE
#define EV_FORCEONESHOT		KQ_EV_FORCEONESHOT
#define EV_KEEPUDATA		KQ_EV_KEEPUDATA

/* Flags. */
#define EV_ONESHOT		KQ_EV_ONESHOT
#define EV_CLEAR		KQ_EV_CLEAR
#define EV_RECEIPT		KQ_EV_RECEIPT
#define EV_DISPATCH		KQ_EV_DISPATCH
#define EV_SYSFLAGS		KQ_EV_SYSFLAGS
#define EV_FLAG1		KQ_EV_FLAG1

/* Returned values. */
#define EV_ERROR		KQ_EV_ERROR
#define EV_EOF			KQ_EV_EOF

/* EVFILT_READ and EVFILT_WRITE. */
#define NOTE_LOWAT		KQ_NOTE_LOWAT
#define NOTE_FILE_POLL		KQ_NOTE_FILE_POLL

/* EVFILT_USER. */
#define NOTE_FFNOP		KQ_NOTE_FFNOP
#define NOTE_FFAND		KQ_NOTE_FFAND
#define NOTE_FFOR		KQ_NOTE_FFOR
#define NOTE_FFCOPY		KQ_NOTE_FFCOPY
#define NOTE_FFCTRLMASK		KQ_NOTE_FFCTRLMASK
#define NOTE_FFLAGSMASK		KQ_NOTE_FFLAGSMASK
#define NOTE_TRIGGER		KQ_NOTE_TRIGGER

/* EVFILT_VNODE. */
#define NOTE_DELETE		KQ_NOTE_DELETE
#define NOTE_WRITE		KQ_NOTE_WRITE
#define NOTE_EXTEND		KQ_NOTE_EXTEND
#define NOTE_ATTRIB		KQ_NOTE_ATTRIB
#define NOTE_LINK		KQ_NOTE_LINK
#define NOTE_RENAME		KQ_NOTE_RENAME
#define NOTE_REVOKE		KQ_NOTE_REVOKE
#define NOTE_OPEN		KQ_NOTE_OPEN
#define NOTE_CLOSE		KQ_NOTE_CLOSE
#define NOTE_CLOSE_WRITE	KQ_NOTE_CLOSE_WRITE
#define NOTE_READ		KQ_NOTE_READ
#define NOTE_TRUNCATE		KQ_NOTE_TRUNCATE	/* OpenBSD/macOS name */

/* EVFILT_PROC and EVFILT_PROCDESC. */
#define NOTE_EXIT		KQ_NOTE_EXIT
#define NOTE_FORK		KQ_NOTE_FORK
#define NOTE_EXEC		KQ_NOTE_EXEC
#define NOTE_PCTRLMASK		KQ_NOTE_PCTRLMASK
#define NOTE_PDATAMASK		KQ_NOTE_PDATAMASK
#define NOTE_TRACK		KQ_NOTE_TRACK
#define NOTE_TRACKERR		KQ_NOTE_TRACKERR
#define NOTE_CHILD		KQ_NOTE_CHILD

/* EVFILT_TIMER. */
#define NOTE_SECONDS		KQ_NOTE_SECONDS
#define NOTE_MSECONDS		KQ_NOTE_MSECONDS
#define NOTE_USECONDS		KQ_NOTE_USECONDS
#define NOTE_NSECONDS		KQ_NOTE_NSECONDS
#define NOTE_ABSTIME		KQ_NOTE_ABSTIME
#define NOTE_ABSOLUTE		NOTE_ABSTIME		/* macOS name */

/* kqueuex() flags (FreeBSD's value; a library flag, not a kernel one). */
#define KQUEUE_CLOEXEC		0x00000001

struct kevent {
	uintptr_t	ident;		/* identifier of the event source */
	short		filter;		/* EVFILT_* */
	unsigned short	flags;		/* EV_* */
	unsigned int	fflags;		/* filter-specific NOTE_* */
	int64_t		data;		/* filter-specific data */
	void		*udata;		/* opaque, returned untouched */
	uint64_t	ext[4];		/* ext[2] and ext[3] passed through */
};

/*
 * EV_SET(kevp, ident, filter, flags, fflags, data, udata): fill *kevp and
 * zero its ext[]. kevp and each argument are evaluated exactly once, all of
 * them before *kevp is written (as FreeBSD's compound-literal version), so
 * EV_SET(kev, kev->ident, ...) works. Written without a compound literal
 * so that it is valid C89/C99 and C++.
 */
#define EV_SET(kevp, a, b, c, d, e, f) do {				\
	struct kevent *__kq_kevp = (kevp);				\
	uintptr_t __kq_ident = (a);					\
	short __kq_filter = (b);					\
	unsigned short __kq_flags = (c);				\
	unsigned int __kq_fflags = (d);					\
	int64_t __kq_data = (e);					\
	void *__kq_udata = (f);						\
	__kq_kevp->ident = __kq_ident;					\
	__kq_kevp->filter = __kq_filter;				\
	__kq_kevp->flags = __kq_flags;					\
	__kq_kevp->fflags = __kq_fflags;				\
	__kq_kevp->data = __kq_data;					\
	__kq_kevp->udata = __kq_udata;					\
	__kq_kevp->ext[0] = 0;						\
	__kq_kevp->ext[1] = 0;						\
	__kq_kevp->ext[2] = 0;						\
	__kq_kevp->ext[3] = 0;						\
} while (0)

/*
 * On LP64, struct kevent must be the kernel's struct kqueue_event, byte for
 * byte: the library passes the caller's arrays to the kernel unconverted.
 * C11 and C++11 use static assertions; older dialects a negative array size.
 */
#if defined(__LP64__) || defined(_LP64)
#if defined(__cplusplus) && __cplusplus >= 201103L
#define __KQ_ASSERT(expr, tag)	static_assert(expr, "struct kevent: " #tag)
#elif !defined(__cplusplus) && defined(__STDC_VERSION__) && \
	__STDC_VERSION__ >= 201112L
#define __KQ_ASSERT(expr, tag)	_Static_assert(expr, "struct kevent: " #tag)
#else
#define __KQ_ASSERT(expr, tag)	\
	typedef char __kq_assert_##tag[(expr) ? 1 : -1]
#endif

#define __KQ_SAME_FIELD(f)						\
	(offsetof(struct kevent, f) == offsetof(struct kqueue_event, f) && \
	 sizeof(((struct kevent *)0)->f) ==				\
	 sizeof(((struct kqueue_event *)0)->f))

__KQ_ASSERT(sizeof(struct kevent) == 64, size);
__KQ_ASSERT(sizeof(struct kqueue_event) == 64, kernel_size);
__KQ_ASSERT(__KQ_SAME_FIELD(ident), ident);
__KQ_ASSERT(__KQ_SAME_FIELD(filter), filter);
__KQ_ASSERT(__KQ_SAME_FIELD(flags), flags);
__KQ_ASSERT(__KQ_SAME_FIELD(fflags), fflags);
__KQ_ASSERT(__KQ_SAME_FIELD(data), data);
__KQ_ASSERT(__KQ_SAME_FIELD(udata), udata);
__KQ_ASSERT(__KQ_SAME_FIELD(ext), ext);

#undef __KQ_SAME_FIELD
#undef __KQ_ASSERT
#endif /* LP64 */

#ifdef __cplusplus
extern "C" {
#endif

struct timespec;

/* A new kqueue; -1 with errno ENOENT if the kqueue module is not loaded. */
int kqueue(void);
/* kqueue() with flags: 0 or KQUEUE_CLOEXEC; anything else is EINVAL. */
int kqueuex(unsigned int flags);
/* kqueue() with open(2) flags: 0 or O_CLOEXEC; anything else is EINVAL. */
int kqueue1(int flags);
/* Apply changelist, then collect at most nevents events into eventlist. */
int kevent(int kq, const struct kevent *changelist, int nchanges,
	   struct kevent *eventlist, int nevents,
	   const struct timespec *timeout);

/*
 * Linux extension: what the loaded kqueue module implements, from its
 * KQUEUE_IOC_FEATURES ioctl on a kqueue opened and closed for the purpose.
 * Fills *features (struct kqueue_features of <linux/kqueue.h>: the ABI
 * version, KQUEUE_FEAT_* bits, the supported filters, EV_* flags and NOTE_*
 * bits, the per-call limits) and returns 0, or returns -1 with errno
 * ENOENT (the module is not loaded), ENOSYS (the module predates the query:
 * it is the first version, with every filter except EVFILT_AIO, EVFILT_FS,
 * EVFILT_LIO and EVFILT_SENDFILE), EFAULT (features is not writable), or
 * another error of open(2). See kqueue_features(3).
 */
int kqueue_features(struct kqueue_features *features);

#ifdef __cplusplus
}
#endif

/*
 * Helpers for a struct kqueue_features that kqueue_features() filled in:
 * whether it reports the filter (EVFILT_*) as supported, and the NOTE_* bits
 * a registration of that filter may carry. Any other filter value (>= 0, or
 * beyond the fields) is unsupported, with no bits.
 */
#if defined(__cplusplus) || \
	(defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L)
#define __KQ_INLINE	inline
#else
#define __KQ_INLINE	__inline__	/* C89: the GNU spelling */
#endif

static __KQ_INLINE int
kqueue_features_has_filter(const struct kqueue_features *f, short filter)
{
	if (filter >= 0 || filter < -32)
		return 0;
	return (int)((f->filters >> (-filter - 1)) & 1u);
}

static __KQ_INLINE unsigned int
kqueue_features_fflags(const struct kqueue_features *f, short filter)
{
	/* fflags[] has 16 entries, for filters -1 to -16. */
	if (filter >= 0 || filter < -16)
		return 0;
	return f->fflags[-filter - 1];
}

#undef __KQ_INLINE

#endif /* _SYS_EVENT_H */
