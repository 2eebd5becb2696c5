// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue: the C part of the module.
 *
 * Rust-for-Linux 7.3 does not wrap these, so they live here, in one place:
 *
 * - kq_pollwatch_*: hook a knote onto the wait queues of a file the way epoll
 *   does (fs/eventpoll.c): vfs_poll() with a poll_table whose queue callback
 *   adds a wait_queue_entry with our own wake function. The wake function
 *   runs in atomic context under the wait-queue lock and only calls
 *   kq_fd_wake() (Rust), which marks the knote and wakes the kqueue.
 *   POLLFREE (a wait queue that dies before the knote) is handled as epoll
 *   does: the wake function unhooks the entry and clears ->whead with release
 *   semantics; teardown reads ->whead with acquire semantics under RCU (the
 *   owners of POLLFREE queues free them only after an RCU grace period).
 * - kq_fd_state: the numbers EVFILT_READ/WRITE/EMPTY report ("data"),
 *   per kind of file: pipes and FIFOs, sockets, regular files.
 * - kq_waker_*: a kqueue's wait queue and its deferred wake-up (irq_work),
 *   used when a knote is activated from inside another wait queue's
 *   callback (see the comment above kq_waker_create()).
 * - kq_close_hook_*: the fprobe on locks_remove_posix() through which the
 *   module learns of close() (rust/close_hook.rs does the work).
 */

#include <asm/ioctls.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fprobe.h>
#include <linux/fs.h>
#include <linux/irq_work.h>
#include <linux/llist.h>
#include <linux/net.h>
#include <linux/pipe_fs_i.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sockios.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/af_unix.h>
#include <net/sock.h>
#include <net/tcp_states.h>

#include "kq_glue.h"

/* One wait queue a watched file registered through poll_wait(). */
struct kq_pollentry {
	struct list_head link;		/* in kq_pollwatch.entries */
	wait_queue_entry_t wait;
	wait_queue_head_t *whead;	/* NULL once POLLFREE unhooked us */
	struct kq_pollwatch *w;
};

/*
 * A knote's hook on a file. @entries is only changed while the watch is
 * created (process context, in vfs_poll()) and torn down; the owning kqueue's
 * mutex serialises both.
 */
struct kq_pollwatch {
	poll_table pt;
	struct llist_node put_node;	/* on kq_put_list, see kq_pollwatch_destroy() */
	struct file *file;		/* counted reference */
	void *ctx;			/* the knote, passed to kq_fd_wake() */
	int defer;			/* wake the kqueue from an irq_work */
	int error;
	struct list_head entries;
	/* Most files have one wait queue: the first entry needs no allocation. */
	struct kq_pollentry first;
};

static int kq_poll_wake(wait_queue_entry_t *wait, unsigned int mode, int sync,
			void *key)
{
	struct kq_pollentry *pe = container_of(wait, struct kq_pollentry, wait);
	__poll_t mask = key_to_poll(key);

	kq_fd_wake(pe->w->ctx, (__u32)mask, pe->w->defer);

	if (mask & POLLFREE) {
		list_del_init(&wait->entry);
		/* Must be the last access to @pe: teardown may free it next. */
		smp_store_release(&pe->whead, NULL);
	}
	return 0;
}

static void kq_queue_proc(struct file *file, wait_queue_head_t *whead,
			  poll_table *pt)
{
	struct kq_pollwatch *w = container_of(pt, struct kq_pollwatch, pt);
	struct kq_pollentry *pe;

	/* Process context, as in epoll's ep_ptable_queue_proc(). */
	if (list_empty(&w->entries)) {
		pe = &w->first;
	} else {
		pe = kmalloc_obj(*pe, GFP_KERNEL_ACCOUNT);
		if (!pe) {
			w->error = -ENOMEM;
			return;
		}
	}
	init_waitqueue_func_entry(&pe->wait, kq_poll_wake);
	pe->whead = whead;
	pe->w = w;
	list_add_tail(&pe->link, &w->entries);
	add_wait_queue(whead, &pe->wait);
}

struct kq_pollwatch *kq_pollwatch_create(struct file *file, void *ctx,
					 int defer, __u32 *mask)
{
	struct kq_pollwatch *w;

	w = kzalloc_obj(*w, GFP_KERNEL_ACCOUNT);
	if (!w) {
		fput(file);
		return ERR_PTR(-ENOMEM);
	}
	w->file = file;
	w->ctx = ctx;
	w->defer = defer;
	INIT_LIST_HEAD(&w->entries);
	init_poll_funcptr(&w->pt, kq_queue_proc);
	w->pt._key = ~(__poll_t)0;
	*mask = (__u32)vfs_poll(file, &w->pt);
	if (w->error) {
		int err = w->error;

		kq_pollwatch_destroy(w, false);
		return ERR_PTR(err);
	}
	return w;
}

__u32 kq_pollwatch_poll(struct kq_pollwatch *w)
{
	return (__u32)vfs_poll(w->file, NULL);
}

struct file *kq_pollwatch_file(struct kq_pollwatch *w)
{
	return w->file;
}

/*
 * Watches whose file reference kq_pollwatch_destroy() was asked to drop
 * later, and the work item that drops them. A kevent() call must not do the
 * last fput() of a file itself: the kernel defers that to the caller's
 * return to user space, so an event the release causes (a peer's EOF) could
 * not wake the same call if it then went to sleep.
 */
static LLIST_HEAD(kq_put_list);

static void kq_put_workfn(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&kq_put_list);
	struct kq_pollwatch *w, *tmp;

	llist_for_each_entry_safe(w, tmp, list, put_node) {
		fput(w->file);
		kfree(w);
	}
}

static DECLARE_WORK(kq_put_work, kq_put_workfn);

void kq_pollwatch_destroy(struct kq_pollwatch *w, bool defer_put)
{
	struct kq_pollentry *pe, *tmp;

	list_for_each_entry_safe(pe, tmp, &w->entries, link) {
		wait_queue_head_t *whead;

		rcu_read_lock();
		/* Pairs with the release in kq_poll_wake() on POLLFREE. */
		whead = smp_load_acquire(&pe->whead);
		if (whead)
			remove_wait_queue(whead, &pe->wait);
		rcu_read_unlock();
		if (pe != &w->first)
			kfree(pe);
	}
	if (defer_put) {
		if (llist_add(&w->put_node, &kq_put_list))
			schedule_work(&kq_put_work);
		return;
	}
	fput(w->file);
	kfree(w);
}

/* Module exit: every deferred fput() has run. */
void kq_glue_exit(void)
{
	flush_work(&kq_put_work);
}

/* The pipe behind @file, if it is a pipe or an opened FIFO. */
static struct pipe_inode_info *kq_pipe_of(struct file *file)
{
	struct inode *inode = file_inode(file);

	if (!S_ISFIFO(inode->i_mode) || !inode->i_pipe ||
	    file->private_data != inode->i_pipe)
		return NULL;
	return inode->i_pipe;
}

static void kq_pipe_state(struct pipe_inode_info *pipe, struct kq_fd_state *st)
{
	unsigned int head, tail, i;
	s64 bytes = 0;

	pipe_lock(pipe);
	head = pipe->head;
	tail = pipe->tail;
	for (i = tail; i != head; i++)
		bytes += pipe_buf(pipe, i)->len;
	st->rdata = bytes;
	st->wdata = (s64)pipe->max_usage * PAGE_SIZE - bytes;
	if (st->wdata < 0)
		st->wdata = 0;
	st->outq = bytes;
	st->rd_eof = !pipe->writers;
	st->wr_eof = !pipe->readers;
	pipe_unlock(pipe);
	st->kind = KQ_FD_PIPE;
}

static void kq_sock_state(struct socket *sock, struct kq_fd_state *st)
{
	struct sock *sk = sock->sk;
	int karg;

	st->kind = KQ_FD_SOCKET;
	if (!sk)
		return;
	if (READ_ONCE(sk->sk_state) == TCP_LISTEN) {
		/* AF_UNIX queues embryos on the receive queue, not the backlog. */
		if (sk->sk_family == AF_UNIX)
			st->rdata = skb_queue_len_lockless(&sk->sk_receive_queue);
		else
			st->rdata = READ_ONCE(sk->sk_ack_backlog);
		st->kind = KQ_FD_LISTEN;
	} else if (sk->sk_family == AF_UNIX) {
		st->rdata = unix_inq_len(sk);
		st->outq = unix_outq_len(sk);
	} else if (sk->sk_prot && sk->sk_prot->ioctl) {
		if (!sk->sk_prot->ioctl(sk, SIOCINQ, &karg))
			st->rdata = karg;
		if (!sk->sk_prot->ioctl(sk, SIOCOUTQ, &karg))
			st->outq = karg;
	}
	st->wdata = READ_ONCE(sk->sk_sndbuf) - (s64)sk_wmem_alloc_get(sk);
	if (st->wdata < 0)
		st->wdata = 0;
	st->rd_eof = !!(READ_ONCE(sk->sk_shutdown) & RCV_SHUTDOWN);
	st->wr_eof = !!(READ_ONCE(sk->sk_shutdown) & SEND_SHUTDOWN);
	st->err = READ_ONCE(sk->sk_err);
}

void kq_fd_state(struct file *file, struct kq_fd_state *st)
{
	struct pipe_inode_info *pipe;
	struct socket *sock;

	memset(st, 0, sizeof(*st));
	st->outq = -1;
	pipe = kq_pipe_of(file);
	if (pipe) {
		kq_pipe_state(pipe, st);
		return;
	}
	sock = sock_from_file(file);
	if (sock) {
		kq_sock_state(sock, st);
		return;
	}
	if (S_ISREG(file_inode(file)->i_mode)) {
		st->kind = KQ_FD_REGULAR;
		st->rdata = i_size_read(file_inode(file)) - READ_ONCE(file->f_pos);
		return;
	}
	st->kind = KQ_FD_OTHER;
}

__u32 kq_fd_kind(struct file *file)
{
	struct socket *sock;

	if (kq_pipe_of(file))
		return KQ_FD_PIPE;
	sock = sock_from_file(file);
	if (sock)
		return sock->sk && READ_ONCE(sock->sk->sk_state) == TCP_LISTEN ?
			KQ_FD_LISTEN : KQ_FD_SOCKET;
	if (S_ISREG(file_inode(file)->i_mode))
		return KQ_FD_REGULAR;
	return KQ_FD_OTHER;
}

struct file *kq_fget(unsigned int fd)
{
	return fget(fd);
}

/*
 * What descriptor @fd of the current task refers to, for comparisons only:
 * no reference is taken, so the result must not be dereferenced. The RCU
 * read lock keeps the descriptor table alive while we look.
 */
const struct file *kq_fd_peek(unsigned int fd)
{
	const struct file *file;

	rcu_read_lock();
	file = files_lookup_fd_raw(current->files, fd);
	rcu_read_unlock();
	return file;
}

/* The thread-group pid of the current task; stable while it runs. */
const struct pid *kq_current_tgid(void)
{
	return task_tgid(current);
}

void kq_fput(struct file *file)
{
	fput(file);
}

/* Wakes one exclusive waiter of @wq, and every poller, if anybody waits. */
void kq_wake_one(struct wait_queue_head *wq, __u32 key)
{
	/*
	 * Most activations happen while nobody waits. The full barrier in
	 * wq_has_sleeper() orders the caller's update of the ready list before
	 * the look at the queue; it pairs with the barrier in
	 * prepare_to_wait_exclusive() (and poll_wait()'s queue lock) on the
	 * waiter's side, which looks at the ready list after queueing itself.
	 */
	if (wq_has_sleeper(wq))
		__wake_up(wq, TASK_NORMAL, 1, poll_to_key((__poll_t)key));
}

/*
 * A kqueue's wait queue and its deferred wake-up.
 *
 * Waking a kqueue runs, under its wait-queue lock, the callbacks of whatever
 * watches it (epoll sets, other kqueues, poll()), which wake their own
 * watchers in turn. When the kqueue itself watches one of those files (a
 * kqueue in an epoll set that it also watches), taking its wait-queue lock
 * from inside such a callback nests that lock in itself (a lockup on one
 * CPU) or in the other file's lock in the opposite order (an ABBA deadlock
 * between two CPUs). epoll's loop check cannot see through a kqueue, nor the
 * module through an epoll set, so such configurations cannot be refused.
 * Instead, a knote activated from the wait-queue callback of a file that
 * may have watchers of its own is queued at once (under the kqueue's ready
 * lock only, which nests inside any wait-queue lock and never outside one)
 * and the wake-up runs from an irq_work, outside every foreign lock. The
 * kqueue's wait-queue lock is therefore only ever taken at the outermost
 * level, and needs no lockdep subclasses. On PREEMPT_RT the irq_work runs in
 * a per-CPU thread, where the (sleeping) wait-queue lock may be taken.
 */
struct kq_waker {
	struct irq_work work;
	struct wait_queue_head wq;
};

static void kq_waker_fn(struct irq_work *work)
{
	struct kq_waker *wk = container_of(work, struct kq_waker, work);

	kq_wake_one(&wk->wq, EPOLLIN | EPOLLRDNORM);
}

struct kq_waker *kq_waker_create(void)
{
	struct kq_waker *wk = kzalloc_obj(*wk, GFP_KERNEL_ACCOUNT);

	if (!wk)
		return NULL;
	init_irq_work(&wk->work, kq_waker_fn);
	init_waitqueue_head(&wk->wq);
	return wk;
}

struct wait_queue_head *kq_waker_wq(struct kq_waker *wk)
{
	return &wk->wq;
}

/* Any context: wakes @wk's queue soon, outside the caller's locks. */
void kq_waker_defer(struct kq_waker *wk)
{
	irq_work_queue(&wk->work);
}

/* No activation can queue the irq_work any more. */
void kq_waker_destroy(struct kq_waker *wk)
{
	irq_work_sync(&wk->work);
	kfree(wk);
}

/*
 * The close() hook: every close of a descriptor (close(), close_range(),
 * dup2() over it, exec's close-on-exec, the exit of the last user of a
 * descriptor table) passes through filp_flush(), which is static and
 * inlined; the exported function it calls for every file that is not an
 * O_PATH one, locks_remove_posix(file, files), is the probe point. The work
 * is in Rust (kq_close_probe(), close_hook.rs). Without FPROBE (or without
 * file locking, where locks_remove_posix() is an empty inline) registration
 * fails and the module falls back to finding closed descriptors lazily.
 */
#if IS_ENABLED(CONFIG_FPROBE) && IS_ENABLED(CONFIG_FILE_LOCKING)
static int kq_close_entry(struct fprobe *fp, unsigned long entry_ip,
			  unsigned long ret_ip, struct ftrace_regs *fregs,
			  void *data)
{
	kq_close_probe((struct file *)ftrace_regs_get_argument(fregs, 0),
		       (void *)ftrace_regs_get_argument(fregs, 1));
	return 0;
}

static struct fprobe kq_close_fprobe = {
	.entry_handler = kq_close_entry,
};

int kq_close_hook_register(void)
{
	return register_fprobe(&kq_close_fprobe, "locks_remove_posix", NULL);
}

void kq_close_hook_unregister(void)
{
	unregister_fprobe(&kq_close_fprobe);
}
#else
int kq_close_hook_register(void)
{
	return -EOPNOTSUPP;
}

void kq_close_hook_unregister(void)
{
}
#endif

/* Whether @files is the current task's descriptor table (compared only). */
bool kq_files_is_current(const void *files)
{
	return files == current->files;
}

/* Whether the current task has no descriptor table any more (exiting). */
bool kq_files_gone(void)
{
	return !current->files;
}

/* Whether the current task is a kernel thread, which never runs task works. */
bool kq_current_is_kthread(void)
{
	return current->flags & PF_KTHREAD;
}

/* One-line wrappers: the raw spinlock API is macros and config-dependent inlines. */
void kq_raw_spin_lock_init(raw_spinlock_t *lock, const char *name,
			   struct lock_class_key *key)
{
#ifdef CONFIG_DEBUG_SPINLOCK
	__raw_spin_lock_init(lock, name, key, LD_WAIT_SPIN);
#else
	raw_spin_lock_init(lock);
#endif
}

void kq_raw_spin_lock(raw_spinlock_t *lock)
{
	raw_spin_lock(lock);
}

int kq_raw_spin_trylock(raw_spinlock_t *lock)
{
	return raw_spin_trylock(lock);
}

void kq_raw_spin_unlock(raw_spinlock_t *lock)
{
	raw_spin_unlock(lock);
}

void kq_raw_spin_assert_held(raw_spinlock_t *lock)
{
	lockdep_assert_held(lock);
}
