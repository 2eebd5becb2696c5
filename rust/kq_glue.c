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
 * - kq_wake_one: wake a kqueue's wait queue with a lockdep subclass, for a
 *   kqueue woken from the wait-queue callback of a kqueue it watches.
 */

#include <asm/ioctls.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/net.h>
#include <linux/pipe_fs_i.h>
#include <linux/percpu.h>
#include <linux/poll.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/sockios.h>
#include <linux/wait.h>
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
	struct file *file;		/* counted reference */
	void *ctx;			/* the knote, passed to kq_fd_wake() */
	int nested;			/* lockdep subclass for the wake-up */
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

	kq_fd_wake(pe->w->ctx, (__u32)mask, pe->w->nested);

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
					 int nested, __u32 *mask)
{
	struct kq_pollwatch *w;

	w = kzalloc_obj(*w, GFP_KERNEL_ACCOUNT);
	if (!w) {
		fput(file);
		return ERR_PTR(-ENOMEM);
	}
	w->file = file;
	w->ctx = ctx;
	w->nested = nested;
	INIT_LIST_HEAD(&w->entries);
	init_poll_funcptr(&w->pt, kq_queue_proc);
	w->pt._key = ~(__poll_t)0;
	*mask = (__u32)vfs_poll(file, &w->pt);
	if (w->error) {
		int err = w->error;

		kq_pollwatch_destroy(w);
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

void kq_pollwatch_destroy(struct kq_pollwatch *w)
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
	fput(w->file);
	kfree(w);
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

/*
 * The wait queues this CPU is waking in kq_wake_one(), innermost last. A
 * kqueue's wake-up runs the callbacks of whatever watches it; when that is an
 * epoll (or another file) that this kqueue watches in turn, the chain comes
 * back to kq_wake_one() for the same queue, whose lock is held further up.
 * epoll cannot see such a loop through a kqueue, and the module cannot
 * recognise epoll files (is_file_epoll() is not exported), so the loop is
 * allowed and its re-entry is cut here: the outer wake-up of the same queue,
 * still in progress, reaches every waiter anyway.
 *
 * The depth also gives the lockdep subclass of each queue's lock: a chain
 * (kqueue -> epoll -> kqueue, or kqueue -> kqueue) takes locks of the class
 * "kqueue::wq" inside each other, always of different queues.
 */
#define KQ_WAKE_DEPTH 8
struct kq_wake_stack {
	int depth;
	struct wait_queue_head *wq[KQ_WAKE_DEPTH];
};
static DEFINE_PER_CPU(struct kq_wake_stack, kq_waking);

void kq_wake_one(struct wait_queue_head *wq, __u32 key, int subclass)
{
	struct kq_wake_stack *ws;
	unsigned long flags;
	int i;

	/*
	 * Most activations happen while nobody waits. The full barrier in
	 * wq_has_sleeper() orders the caller's update of the ready list before
	 * the look at the queue; it pairs with the barrier in
	 * prepare_to_wait_exclusive() (and poll_wait()'s queue lock) on the
	 * waiter's side, which looks at the ready list after queueing itself.
	 */
	if (!wq_has_sleeper(wq))
		return;

	/* Interrupts off: nothing else runs on this CPU while we use @ws. */
	local_irq_save(flags);
	ws = this_cpu_ptr(&kq_waking);
	for (i = 0; i < ws->depth; i++)
		if (ws->wq[i] == wq)
			goto out;
	/*
	 * Deeper chains than any real program builds: refusing to go on is
	 * better than overflowing the stack (or lockdep's subclasses); the
	 * outer wake-ups still run.
	 */
	subclass += ws->depth;
	if (ws->depth == KQ_WAKE_DEPTH ||
	    (unsigned long)subclass >= MAX_LOCKDEP_SUBCLASSES)
		goto out;
	ws->wq[ws->depth++] = wq;
	spin_lock_nested(&wq->lock, subclass);
	__wake_up_locked_key(wq, TASK_NORMAL, poll_to_key((__poll_t)key));
	spin_unlock(&wq->lock);
	ws->depth--;
out:
	local_irq_restore(flags);
}
