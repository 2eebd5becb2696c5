// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue: one-line wrappers of static inline functions and macros that the
 * kernel crate does not wrap, for the module's Rust code. Each is named
 * kq_helper_<what it wraps>; bindgen (Kbuild) gives it to Rust under the
 * wrapped name, as the kernel does with rust/helpers/ (rust/sys.rs).
 */

#include <linux/cred.h>
#include <linux/fdtable.h>
#include <linux/fprobe.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/irq_work.h>
#include <linux/pid.h>
#include <linux/pipe_fs_i.h>
#include <linux/poll.h>
#include <linux/refcount.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/tracepoint.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <net/af_unix.h>
#include <net/sock.h>

/*
 * Exported by net/unix/af_unix.c (EXPORT_SYMBOL_GPL) but declared only in its
 * private header, which a kernel's headers package does not have.
 */
long unix_inq_len(struct sock *sk);
long unix_outq_len(struct sock *sk);

__poll_t kq_helper_vfs_poll(struct file *file, struct poll_table_struct *pt)
{
	return vfs_poll(file, pt);
}

void kq_helper_list_del_init(struct list_head *entry)
{
	list_del_init(entry);
}

int kq_helper_sk_wmem_alloc_get(const struct sock *sk)
{
	return sk_wmem_alloc_get(sk);
}

loff_t kq_helper_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

/*
 * Not an inline: bindgen cannot lay out the anonymous member `union
 * pipe_index;` of struct pipe_inode_info (a -fms-extensions construct), so
 * Rust reads the ring's head and tail through this, in one word.
 */
unsigned long kq_helper_pipe_head_tail(const struct pipe_inode_info *pipe)
{
	return READ_ONCE(pipe->head_tail);
}

void kq_helper_init_irq_work(struct irq_work *work,
			     void (*func)(struct irq_work *))
{
	init_irq_work(work, func);
}

bool kq_helper_wq_has_sleeper(struct wait_queue_head *wq_head)
{
	return wq_has_sleeper(wq_head);
}

struct file *kq_helper_files_lookup_fd_raw(struct files_struct *files,
					   unsigned int fd)
{
	return files_lookup_fd_raw(files, fd);
}

#ifdef CONFIG_FPROBE
unsigned long kq_helper_ftrace_regs_get_argument(struct ftrace_regs *fregs,
						 unsigned int n)
{
	return ftrace_regs_get_argument(fregs, n);
}
#endif

/* The raw spinlock API is macros and config-dependent inlines (sync.rs). */
void kq_helper_raw_spin_lock_init(raw_spinlock_t *lock, const char *name,
				  struct lock_class_key *key)
{
#ifdef CONFIG_DEBUG_SPINLOCK
	__raw_spin_lock_init(lock, name, key, LD_WAIT_SPIN);
#else
	raw_spin_lock_init(lock);
#endif
}

void kq_helper_raw_spin_lock(raw_spinlock_t *lock)
{
	raw_spin_lock(lock);
}

int kq_helper_raw_spin_trylock(raw_spinlock_t *lock)
{
	return raw_spin_trylock(lock);
}

void kq_helper_raw_spin_unlock(raw_spinlock_t *lock)
{
	raw_spin_unlock(lock);
}

void kq_helper_lockdep_assert_held(raw_spinlock_t *lock)
{
	lockdep_assert_held(lock);
}

/* proc_watch.rs, pid.rs, probe.rs */

bool kq_helper_pid_has_task(struct pid *pid, enum pid_type type)
{
	return pid_has_task(pid, type);
}

bool kq_helper_delay_group_leader(struct task_struct *p)
{
	return delay_group_leader(p);
}

const struct cred *kq_helper_current_cred(void)
{
	return current_cred();
}

void kq_helper_spin_lock_nested(spinlock_t *lock, int subclass)
{
	spin_lock_nested(lock, subclass);
}

void kq_helper_tracepoint_synchronize_unregister(void)
{
	tracepoint_synchronize_unregister();
}

void kq_helper_INIT_DELAYED_WORK(struct delayed_work *work, work_func_t func)
{
	INIT_DELAYED_WORK(work, func);
}

bool kq_helper_mod_delayed_work(struct workqueue_struct *wq,
				struct delayed_work *dwork, unsigned long delay)
{
	return mod_delayed_work(wq, dwork, delay);
}

struct fsnotify_mark *
kq_helper_fsnotify_iter_inode_mark(struct fsnotify_iter_info *iter)
{
	return fsnotify_iter_inode_mark(iter);
}

struct fsnotify_mark *
kq_helper_fsnotify_iter_sb_mark(struct fsnotify_iter_info *iter)
{
	return fsnotify_iter_sb_mark(iter);
}

struct inode *kq_helper_fsnotify_data_inode(const void *data,
					    int data_type)
{
	return fsnotify_data_inode(data, data_type);
}

struct fs_error_report *kq_helper_fsnotify_data_error_report(const void *data,
							    int data_type)
{
	return fsnotify_data_error_report(data, data_type);
}

struct mnt_idmap *kq_helper_file_mnt_idmap(const struct file *f)
{
	return file_mnt_idmap(f);
}
