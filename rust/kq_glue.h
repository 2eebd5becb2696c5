/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kqueue: interface between the Rust crate and kq_glue.c. The Rust side
 * declares the same functions in glue.rs; keep both in step.
 */
#ifndef KQ_GLUE_H
#define KQ_GLUE_H

#include <linux/spinlock_types.h>
#include <linux/types.h>

struct file;
struct pid;
struct sock;
struct wait_queue_head;
struct kq_pollwatch;
struct kq_waker;

enum kq_fd_kind {
	KQ_FD_OTHER = 0,
	KQ_FD_PIPE = 1,
	KQ_FD_SOCKET = 2,
	KQ_FD_LISTEN = 3,
	KQ_FD_REGULAR = 4,
};

/* What EVFILT_READ/WRITE/EMPTY report about a file. */
struct kq_fd_state {
	__s64 rdata;	/* bytes readable, or pending connections */
	__s64 wdata;	/* bytes writable without blocking */
	__s64 outq;	/* bytes written but not yet consumed; -1 unknown */
	__u32 rd_eof;	/* no more data will come */
	__u32 wr_eof;	/* writing is no longer possible */
	__u32 err;	/* pending socket error */
	__u32 kind;	/* enum kq_fd_kind */
};

/* Implemented in Rust: a watched file's wait queue was woken. */
void kq_fd_wake(void *ctx, __u32 mask, int defer);

struct kq_pollwatch *kq_pollwatch_create(struct file *file, void *ctx,
					 int defer, __u32 *mask);
__u32 kq_pollwatch_poll(struct kq_pollwatch *w);
struct file *kq_pollwatch_file(struct kq_pollwatch *w);
void kq_pollwatch_destroy(struct kq_pollwatch *w, bool defer_put);
void kq_glue_exit(void);
void kq_fd_state(struct file *file, struct kq_fd_state *st);
__u32 kq_fd_kind(struct file *file);
struct file *kq_fget(unsigned int fd);
const struct file *kq_fd_peek(unsigned int fd);
const struct pid *kq_current_tgid(void);
void kq_fput(struct file *file);
void kq_wake_one(struct wait_queue_head *wq, __u32 key);
struct kq_waker *kq_waker_create(void);
struct wait_queue_head *kq_waker_wq(struct kq_waker *wk);
void kq_waker_defer(struct kq_waker *wk);
void kq_waker_destroy(struct kq_waker *wk);

/* raw_spinlock_t for the Rust side (sync.rs); the C API is macros. */
void kq_raw_spin_lock_init(raw_spinlock_t *lock, const char *name,
			   struct lock_class_key *key);
void kq_raw_spin_lock(raw_spinlock_t *lock);
int kq_raw_spin_trylock(raw_spinlock_t *lock);
void kq_raw_spin_unlock(raw_spinlock_t *lock);
void kq_raw_spin_assert_held(raw_spinlock_t *lock);

/* Implemented in Rust (close_hook.rs): @file is being closed by @files. */
void kq_close_probe(struct file *file, void *files);
int kq_close_hook_register(void);
void kq_close_hook_unregister(void);
bool kq_files_is_current(const void *files);
bool kq_files_gone(void);
bool kq_current_is_kthread(void);

/*
 * Exported by net/unix/af_unix.c (EXPORT_SYMBOL_GPL) but declared only in its
 * private header.
 */
long unix_inq_len(struct sock *sk);
long unix_outq_len(struct sock *sk);

#endif /* KQ_GLUE_H */
