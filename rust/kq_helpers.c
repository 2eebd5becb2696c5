// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue: one-line wrappers of static inline functions and macros that the
 * kernel crate does not wrap, for the module's Rust code. Each is named
 * kq_helper_<what it wraps>; bindgen (Kbuild) gives it to Rust under the
 * wrapped name, as the kernel does with rust/helpers/ (rust/sys.rs).
 */

#include <linux/cred.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/sched/signal.h>
#include <linux/spinlock.h>
#include <linux/tracepoint.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

__poll_t kq_helper_vfs_poll(struct file *file, struct poll_table_struct *pt)
{
	return vfs_poll(file, pt);
}

/* proc_watch.rs, pid.rs, probe.rs */

struct pid *kq_helper_get_pid(struct pid *pid)
{
	return get_pid(pid);
}

bool kq_helper_pid_has_task(struct pid *pid, enum pid_type type)
{
	return pid_has_task(pid, type);
}

struct pid *kq_helper_task_tgid(struct task_struct *task)
{
	return task_tgid(task);
}

bool kq_helper_thread_group_leader(struct task_struct *p)
{
	return thread_group_leader(p);
}

bool kq_helper_delay_group_leader(struct task_struct *p)
{
	return delay_group_leader(p);
}

const struct cred *kq_helper_current_cred(void)
{
	return current_cred();
}

/* RCU read lock held. */
const struct cred *kq_helper___task_cred(struct task_struct *task)
{
	return __task_cred(task);
}

void kq_helper_init_waitqueue_func_entry(struct wait_queue_entry *wq_entry,
					 wait_queue_func_t func)
{
	init_waitqueue_func_entry(wq_entry, func);
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
