/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kqueue: interface between filter_proc.rs and kq_proc.c (EVFILT_PROC,
 * EVFILT_PROCDESC, EVFILT_SIGNAL). filter_proc.rs declares the same
 * functions; keep both in step.
 */
#ifndef KQ_PROC_H
#define KQ_PROC_H

#include <linux/types.h>

struct kq_procwatch;
struct file;

int kq_proc_init(unsigned int max_user_watches);
void kq_proc_fini(void);

struct kq_procwatch *kq_proc_watch_pid(__u64 nr, void *ctx);
struct kq_procwatch *kq_proc_watch_pidfd(unsigned int fd, void *ctx);
struct kq_procwatch *kq_proc_watch_signal(__u64 sig, void *ctx);
void kq_procwatch_destroy(struct kq_procwatch *w);
int kq_procwatch_fd_is(struct kq_procwatch *w, unsigned int fd);

/* Only from kq_proc_forked(), i.e. with the fork probe's bucket locks held. */
struct kq_procwatch *kq_procwatch_track(struct kq_procwatch *parent,
					void *child, void *ctx);
void kq_procwatch_untrack(struct kq_procwatch *w);

/*
 * Implemented in Rust (filter_proc.rs). Called in atomic context: the
 * first two and the last with the watched pid's bucket lock held,
 * kq_proc_exited() under the pid's wait-queue lock.
 */
void kq_proc_exec(void *ctx);
void kq_proc_forked(void *ctx, struct kq_procwatch *w, void *child,
		    __s32 child_nr);
void kq_proc_exited(void *ctx, __s32 status);
void kq_signal_generated(void *ctx);

#endif /* KQ_PROC_H */
