/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kqueue: interface between the Rust crate and kq_vnode.c (EVFILT_VNODE on
 * fsnotify). The Rust side declares the same functions in filter_vnode.rs;
 * keep both in step.
 */
#ifndef KQ_VNODE_H
#define KQ_VNODE_H

#include <linux/types.h>

struct file;
struct kq_vnode_watch;

/* Implemented in Rust: @notes (KQ_NOTE_*) happened to the watched object. */
void kq_vnode_event(void *ctx, __u32 notes, int eof);

int kq_vnode_init(void);
void kq_vnode_exit(void);
struct kq_vnode_watch *kq_vnode_attach(unsigned int fd, void *ctx,
				       __u32 interest);
struct kq_vnode_watch *kq_vnode_attach_file(struct file *file, void *ctx,
					    __u32 interest);
void kq_vnode_set_interest(struct kq_vnode_watch *w, __u32 interest);
void kq_vnode_detach(struct kq_vnode_watch *w);
int kq_vnode_fd_is(struct kq_vnode_watch *w, unsigned int fd);

#endif /* KQ_VNODE_H */
