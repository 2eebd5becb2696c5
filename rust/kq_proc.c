// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue: process and signal events, the C part (EVFILT_PROC,
 * EVFILT_PROCDESC, EVFILT_SIGNAL). filter_proc.rs is the Rust part: it owns
 * the knotes and decides what to report.
 *
 * A watch (struct kq_procwatch) connects one knote to one process, named by
 * the struct pid of its thread group. Its event sources:
 *
 * - Exit: a wait_queue_entry on pid->wait_pidfd, the wait queue pidfd
 *   poll() uses. The kernel wakes it when the thread group is dead and its
 *   leader a zombie (do_notify_pidfd() from do_notify_parent(), under
 *   tasklist_lock), and when the task is reaped (__unhash_process()). The
 *   wake function looks at the leader: once it is a zombie with no thread
 *   left, the exit status is read as wait(2) with WNOWAIT reads it
 *   (group_exit_code after a group exit, else the leader's exit_code), and
 *   handed to kq_proc_exited(). This is the moment the process becomes
 *   waitable, so a NOTE_EXIT reader can reap it at once; sched_process_exit
 *   would be too early (it fires per thread, before the zombie state and the
 *   final status exist).
 * - Fork and exec: probes on the sched_process_fork and sched_process_exec
 *   tracepoints. Fork fires in the parent before the child first runs, so
 *   NOTE_TRACK can watch the child before it can fork, exec or exit.
 * - Signals: a probe on signal_generate, which fires under the target's
 *   siglock for every generation attempt, ignored and already pending ones
 *   included, with the outcome as its last argument.
 *
 * The tracepoints are not exported symbols: for_each_kernel_tracepoint()
 * finds them by name at module init and tracepoint_probe_register() (which
 * is exported) connects a probe. Probes are registered only while some
 * watch needs them (kq_probe_get/put), and for KQ_PROBE_LINGER after the
 * last one goes: registering patches kernel text, so a program that adds and
 * deletes a knote in a loop must not pay for that each time. Probes still
 * running after the unregistration only look at the registry, which
 * outlives them, and module exit waits for them with
 * tracepoint_synchronize_unregister().
 *
 * Registry: watches that a probe must find are grouped by watched thread
 * group (struct kq_ptarget, one per struct pid that has watches) in
 * kq_proc_hash, whose buckets are keyed by the struct pid pointer and each
 * have their own lock. The locks are irq-safe, because signal_generate fires
 * in hard interrupt context too (POSIX timers). A probe for a process locks
 * one bucket and walks only that process's own watches: the fork, exec or
 * signal of a process nobody watches costs a short bucket walk, and no
 * number of watches on other processes makes it longer. The fork probe also
 * locks the child's bucket (both in address order) for NOTE_TRACK, which
 * watches the child there before it first runs.
 *
 * Lock order: siglock (signal_generate) or tasklist_lock (exit) -> a
 * bucket's lock (a fork: the lower-addressed of the parent's and the child's
 * bucket first) -> kq_user_lock; bucket lock -> pid->wait_pidfd.lock -> the
 * kqueue's ready lock -> the kqueue's wait-queue lock. Callbacks into Rust only update a knote and
 * queue it; a watch is destroyed in process context, after which no
 * callback refers to its knote any more.
 *
 * Permission (EVFILT_PROC): the rule of kill(2). The caller's real or
 * effective uid must equal the target's real or saved uid, or the caller
 * must have CAP_KILL in the target's user namespace; otherwise EACCES (the
 * errno kevent(2) documents for a filter the caller may not register).
 * ptrace_may_access() is not exported. EVFILT_PROCDESC needs no check: the
 * pidfd is the capability, as for PIDFD_GET_INFO.
 */

#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/hash.h>
#include <linux/hashtable.h>
#include <linux/magic.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/pidfd.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/threads.h>
#include <linux/tracepoint.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <trace/events/signal.h>

#include "kq_proc.h"

enum kq_watch_kind {
	KQ_WATCH_PROC,		/* EVFILT_PROC: exit, fork, exec */
	KQ_WATCH_PROCDESC,	/* EVFILT_PROCDESC: exit only */
	KQ_WATCH_SIGNAL,	/* EVFILT_SIGNAL */
};

struct kq_procwatch {
	struct hlist_node node;		/* in target->watches, if a probe needs it */
	struct kq_ptarget *target;	/* while hashed [its bucket's lock] */
	struct pid *pid;		/* counted: the watched thread group */
	/*
	 * The watcher's pid namespace, for NOTE_TRACK child idents. Not
	 * counted: it is an ancestor of (or equal to) the namespace of @pid,
	 * which @pid's reference keeps alive, since the watcher can see @pid.
	 */
	struct pid_namespace *ns;
	void *ctx;			/* the knote */
	/*
	 * EVFILT_PROCDESC: the pidfd the knote was registered on, compared,
	 * never dereferenced. No reference: closing the last descriptor must
	 * release the pidfd (a PIDFD_AUTOKILL pidfd kills its process then).
	 */
	const struct file *file;
	wait_queue_entry_t wait;	/* on pid->wait_pidfd while @hooked */
	bool hooked;
	enum kq_watch_kind kind;
	int sig;			/* EVFILT_SIGNAL: the signal */
	struct kq_puser *user;		/* charged for this watch */
};

static void kq_probe_fork(void *data, struct task_struct *parent,
			  struct task_struct *child);
static void kq_probe_exec(void *data, struct task_struct *p, pid_t old_pid,
			  struct linux_binprm *bprm);
static void kq_probe_signal(void *data, int sig, struct kernel_siginfo *info,
			    struct task_struct *task, int group, int result);

/* A tracepoint probe, registered while @users > 0 (and a little longer). */
struct kq_probe {
	const char *name;
	void *func;
	struct tracepoint *tp;	/* found at init; NULL if the kernel has none */
	/*
	 * Watches that need the probe. Changed under kq_probe_mutex, except
	 * by NOTE_TRACK in probe context, which only counts up from a value
	 * its parent watch keeps above zero, and back.
	 */
	atomic_t users;
	bool registered;	/* under kq_probe_mutex */
	bool ever;		/* registered at least once: sync at exit */
};

enum { KQ_PROBE_FORK, KQ_PROBE_EXEC, KQ_PROBE_SIGNAL, KQ_NPROBES };

static struct kq_probe kq_probes[KQ_NPROBES] = {
	[KQ_PROBE_FORK] = { .name = "sched_process_fork", .func = kq_probe_fork },
	[KQ_PROBE_EXEC] = { .name = "sched_process_exec", .func = kq_probe_exec },
	[KQ_PROBE_SIGNAL] = { .name = "signal_generate", .func = kq_probe_signal },
};

static DEFINE_MUTEX(kq_probe_mutex);

/* How long an unused probe stays registered. */
#define KQ_PROBE_LINGER (HZ)

static void kq_probe_idle_fn(struct work_struct *work);
static DECLARE_DELAYED_WORK(kq_probe_idle, kq_probe_idle_fn);

#define KQ_PROC_HASH_BITS 10

struct kq_pbucket {
	spinlock_t lock;
	struct hlist_head targets;	/* kq_ptarget.node [lock] */
};

static struct kq_pbucket kq_proc_hash[1 << KQ_PROC_HASH_BITS];

/* The hashed watches of one thread group. */
struct kq_ptarget {
	struct hlist_node node;		/* in its bucket's targets */
	struct pid *pid;		/* compared only: its watches hold references */
	struct hlist_head watches;	/* kq_procwatch.node */
};

/* Protects kq_pusers and the counts in it. Nests inside a bucket's lock. */
static DEFINE_SPINLOCK(kq_user_lock);

/*
 * Watches per user, limited to kq_max_user_watches (the module parameter
 * max_user_proc_watches), as inotify and epoll limit theirs: each watch
 * costs memory and lengthens a hash chain that probes walk with interrupts
 * off. A watch is charged to the user who registered it; a NOTE_TRACK
 * child's watch to the user of its parent's watch. The table and the counts
 * are protected by kq_user_lock.
 */
struct kq_puser {
	struct hlist_node node;		/* in kq_pusers */
	kuid_t uid;
	unsigned int watches;
};

static DEFINE_HASHTABLE(kq_pusers, 6);
static unsigned int kq_max_user_watches;

/* One more watch for @u, if the limit allows. kq_user_lock held. */
static bool kq_user_charge_locked(struct kq_puser *u)
{
	if (u->watches >= kq_max_user_watches)
		return false;
	u->watches++;
	return true;
}

/* One watch less for @u; frees it with its last one. kq_user_lock held. */
static void kq_user_uncharge_locked(struct kq_puser *u)
{
	if (--u->watches == 0) {
		hash_del(&u->node);
		kfree(u);
	}
}

/* Charges one watch to the current user (process context). */
static struct kq_puser *kq_user_charge(void)
{
	kuid_t uid = current_uid();
	struct kq_puser *u, *fresh = NULL;
	unsigned long flags;
	bool ok;

	for (;;) {
		spin_lock_irqsave(&kq_user_lock, flags);
		hash_for_each_possible(kq_pusers, u, node, __kuid_val(uid))
			if (uid_eq(u->uid, uid))
				goto found;
		if (fresh)
			break;
		spin_unlock_irqrestore(&kq_user_lock, flags);
		fresh = kzalloc_obj(*fresh, GFP_KERNEL_ACCOUNT);
		if (!fresh)
			return ERR_PTR(-ENOMEM);
	}
	/* First watch of this user: @fresh becomes its entry. */
	if (!kq_max_user_watches) {
		spin_unlock_irqrestore(&kq_user_lock, flags);
		kfree(fresh);
		return ERR_PTR(-ENOMEM);
	}
	u = fresh;
	fresh = NULL;
	u->uid = uid;
	hash_add(kq_pusers, &u->node, __kuid_val(uid));
found:
	ok = kq_user_charge_locked(u);
	spin_unlock_irqrestore(&kq_user_lock, flags);
	kfree(fresh);
	return ok ? u : ERR_PTR(-ENOMEM);
}

static void kq_user_uncharge(struct kq_puser *u)
{
	unsigned long flags;

	spin_lock_irqsave(&kq_user_lock, flags);
	kq_user_uncharge_locked(u);
	spin_unlock_irqrestore(&kq_user_lock, flags);
}

static struct kq_pbucket *kq_proc_bucket(struct pid *pid)
{
	return &kq_proc_hash[hash_ptr(pid, KQ_PROC_HASH_BITS)];
}

/* The target of @pid in @b, or NULL. @b's lock held. */
static struct kq_ptarget *kq_target_find(struct kq_pbucket *b, struct pid *pid)
{
	struct kq_ptarget *t;

	lockdep_assert_held(&b->lock);
	hlist_for_each_entry(t, &b->targets, node)
		if (t->pid == pid)
			return t;
	return NULL;
}

/*
 * Adds @w to the watches of its pid in @b, whose lock is held. Uses
 * *@spare (and clears it) if the pid has no target yet; returns false if it
 * needed one and there was none.
 */
static bool kq_target_add(struct kq_pbucket *b, struct kq_procwatch *w,
			  struct kq_ptarget **spare)
{
	struct kq_ptarget *t = kq_target_find(b, w->pid);

	if (!t) {
		t = *spare;
		if (!t)
			return false;
		*spare = NULL;
		t->pid = w->pid;
		INIT_HLIST_HEAD(&t->watches);
		hlist_add_head(&t->node, &b->targets);
	}
	hlist_add_head(&w->node, &t->watches);
	w->target = t;
	return true;
}

/*
 * Takes @w off its target, in @b, whose lock is held. Returns the target if
 * it has no watch left (unlinked; the caller frees it), else NULL.
 */
static struct kq_ptarget *kq_target_del(struct kq_pbucket *b,
					struct kq_procwatch *w)
{
	struct kq_ptarget *t = w->target;

	lockdep_assert_held(&b->lock);
	if (!t)
		return NULL;
	hlist_del_init(&w->node);
	w->target = NULL;
	if (!hlist_empty(&t->watches))
		return NULL;
	hlist_del(&t->node);
	return t;
}

static void kq_find_tracepoint(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < KQ_NPROBES; i++)
		if (!strcmp(tp->name, kq_probes[i].name))
			kq_probes[i].tp = tp;
}

int kq_proc_init(unsigned int max_user_watches)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(kq_proc_hash); i++) {
		spin_lock_init(&kq_proc_hash[i].lock);
		INIT_HLIST_HEAD(&kq_proc_hash[i].targets);
	}

	kq_max_user_watches = max_user_watches;
	for_each_kernel_tracepoint(kq_find_tracepoint, NULL);
	for (i = 0; i < KQ_NPROBES; i++)
		if (!kq_probes[i].tp)
			pr_warn("kqueue: no tracepoint %s\n", kq_probes[i].name);
	return 0;
}

void kq_proc_fini(void)
{
	bool sync = false;
	int i;

	/* Every kqueue is closed: every watch is gone. */
	cancel_delayed_work_sync(&kq_probe_idle);
	mutex_lock(&kq_probe_mutex);
	for (i = 0; i < KQ_NPROBES; i++) {
		struct kq_probe *p = &kq_probes[i];

		WARN_ON_ONCE(atomic_read(&p->users));
		if (p->registered)
			tracepoint_probe_unregister(p->tp, p->func, NULL);
		p->registered = false;
		sync |= p->ever;
	}
	mutex_unlock(&kq_probe_mutex);
	/* No probe may still run when the module's text goes away. */
	if (sync)
		tracepoint_synchronize_unregister();
}

static int kq_probe_get(struct kq_probe *p)
{
	int ret = 0;

	mutex_lock(&kq_probe_mutex);
	if (!p->tp) {
		ret = -EOPNOTSUPP;
	} else if (!p->registered) {
		ret = tracepoint_probe_register(p->tp, p->func, NULL);
		if (!ret)
			p->registered = p->ever = true;
	}
	if (!ret)
		atomic_inc(&p->users);
	mutex_unlock(&kq_probe_mutex);
	return ret;
}

static void kq_probe_put(struct kq_probe *p)
{
	mutex_lock(&kq_probe_mutex);
	if (atomic_dec_and_test(&p->users))
		mod_delayed_work(system_dfl_wq, &kq_probe_idle, KQ_PROBE_LINGER);
	mutex_unlock(&kq_probe_mutex);
}

/* Unregisters the probes nobody needed for KQ_PROBE_LINGER. */
static void kq_probe_idle_fn(struct work_struct *work)
{
	int i;

	mutex_lock(&kq_probe_mutex);
	for (i = 0; i < KQ_NPROBES; i++) {
		struct kq_probe *p = &kq_probes[i];

		/*
		 * Unregistering does not wait for running probes: they find
		 * nothing of ours in the registry any more, and module exit
		 * waits for them. If it fails (no memory), the probe stays
		 * registered, unused, until the next try or module exit.
		 */
		if (p->registered && !atomic_read(&p->users) &&
		    !tracepoint_probe_unregister(p->tp, p->func, NULL))
			p->registered = false;
	}
	mutex_unlock(&kq_probe_mutex);
}

/* The probes a watch of @kind needs. */
static int kq_watch_probes(enum kq_watch_kind kind, int probes[2])
{
	switch (kind) {
	case KQ_WATCH_PROC:
		probes[0] = KQ_PROBE_FORK;
		probes[1] = KQ_PROBE_EXEC;
		return 2;
	case KQ_WATCH_SIGNAL:
		probes[0] = KQ_PROBE_SIGNAL;
		return 1;
	default:
		return 0;
	}
}

static int kq_watch_get_probes(enum kq_watch_kind kind)
{
	int probes[2], n, i, ret;

	n = kq_watch_probes(kind, probes);
	for (i = 0; i < n; i++) {
		ret = kq_probe_get(&kq_probes[probes[i]]);
		if (ret) {
			while (i--)
				kq_probe_put(&kq_probes[probes[i]]);
			return ret;
		}
	}
	return 0;
}

static void kq_watch_put_probes(enum kq_watch_kind kind)
{
	int probes[2], n, i;

	n = kq_watch_probes(kind, probes);
	for (i = 0; i < n; i++)
		kq_probe_put(&kq_probes[probes[i]]);
}

/*
 * Whether the thread group of @pid has exited: its leader is a zombie (or
 * dead) and no other thread is left. Sets *@status in wait(2) format.
 */
static bool kq_proc_exit_status(struct pid *pid, int *status)
{
	struct task_struct *task;
	bool dead = false;

	rcu_read_lock();
	task = pid_task(pid, PIDTYPE_TGID);
	if (task && task->exit_state && !delay_group_leader(task)) {
		/* As wait_task_zombie() with WNOWAIT. */
		*status = (READ_ONCE(task->signal->flags) & SIGNAL_GROUP_EXIT) ?
			  READ_ONCE(task->signal->group_exit_code) :
			  READ_ONCE(task->exit_code);
		dead = true;
	}
	rcu_read_unlock();
	return dead;
}

/* Wake function on pid->wait_pidfd: atomic context, under its lock. */
static int kq_proc_wake(wait_queue_entry_t *wait, unsigned int mode, int sync,
			void *key)
{
	struct kq_procwatch *w = container_of(wait, struct kq_procwatch, wait);
	int status;

	if (kq_proc_exit_status(w->pid, &status))
		kq_proc_exited(w->ctx, status);
	else if (!pid_has_task(w->pid, PIDTYPE_TGID))
		/*
		 * Reaped without a zombie wake-up first: not expected, the
		 * kernel wakes at the zombie transition before the reap. The
		 * status is gone; report the exit rather than nothing.
		 */
		kq_proc_exited(w->ctx, 0);
	return 0;
}

static void kq_watch_hook(struct kq_procwatch *w)
{
	init_waitqueue_func_entry(&w->wait, kq_proc_wake);
	add_wait_queue(&w->pid->wait_pidfd, &w->wait);
	w->hooked = true;
}

/* Makes @w visible to the probes. Process context. */
static int kq_watch_hash(struct kq_procwatch *w)
{
	struct kq_pbucket *b = kq_proc_bucket(w->pid);
	struct kq_ptarget *spare;
	unsigned long flags;

	spare = kzalloc_obj(*spare, GFP_KERNEL_ACCOUNT);
	spin_lock_irqsave(&b->lock, flags);
	if (!kq_target_add(b, w, &spare)) {
		spin_unlock_irqrestore(&b->lock, flags);
		return -ENOMEM;
	}
	spin_unlock_irqrestore(&b->lock, flags);
	kfree(spare);
	return 0;
}

/*
 * Allocates a watch of @kind on @pid (whose reference it takes over) for
 * knote @ctx and gets the probes it needs. Process context.
 */
static struct kq_procwatch *kq_watch_new(struct pid *pid, void *ctx,
					 enum kq_watch_kind kind)
{
	struct kq_procwatch *w;
	struct kq_puser *user;
	int ret;

	w = kzalloc_obj(*w, GFP_KERNEL_ACCOUNT);
	if (!w) {
		put_pid(pid);
		return ERR_PTR(-ENOMEM);
	}
	user = kq_user_charge();
	if (IS_ERR(user)) {
		put_pid(pid);
		kfree(w);
		return ERR_CAST(user);
	}
	w->user = user;
	INIT_HLIST_NODE(&w->node);
	w->pid = pid;
	w->ctx = ctx;
	w->kind = kind;
	w->ns = task_active_pid_ns(current);
	ret = kq_watch_get_probes(kind);
	if (ret) {
		kq_user_uncharge(user);
		put_pid(pid);
		kfree(w);
		return ERR_PTR(ret);
	}
	return w;
}

/*
 * Hooks the exit of @w's process. Returns -ESRCH (and leaves @w unhooked)
 * if the process was reaped already; reports the exit at once if it is a
 * zombie. The check follows the hook, so an exit is never missed.
 */
static int kq_watch_hook_exit(struct kq_procwatch *w)
{
	int status;

	kq_watch_hook(w);
	/*
	 * Status first, then whether it was reaped: __unhash_process() wakes
	 * wait_pidfd before it detaches the thread group's pid, so a reap
	 * whose wake-up came before our hook is either still visible to the
	 * status check (reported here) or complete (ESRCH), never neither.
	 */
	if (kq_proc_exit_status(w->pid, &status)) {
		kq_proc_exited(w->ctx, status);
		return 0;
	}
	if (!pid_has_task(w->pid, PIDTYPE_TGID)) {
		remove_wait_queue(&w->pid->wait_pidfd, &w->wait);
		w->hooked = false;
		return -ESRCH;
	}
	return 0;
}

/* The kill(2) rule (see the top of the file). RCU read lock held. */
static bool kq_may_watch(struct task_struct *task)
{
	const struct cred *cred = current_cred();
	const struct cred *tcred = __task_cred(task);

	if (uid_eq(cred->euid, tcred->suid) || uid_eq(cred->euid, tcred->uid) ||
	    uid_eq(cred->uid, tcred->suid) || uid_eq(cred->uid, tcred->uid))
		return true;
	return ns_capable_noaudit(tcred->user_ns, CAP_KILL);
}

struct kq_procwatch *kq_proc_watch_pid(__u64 nr, void *ctx)
{
	struct kq_procwatch *w;
	struct task_struct *task;
	struct pid *pid = NULL, *found;
	int ret = -ESRCH;

	if (nr == 0 || nr > PID_MAX_LIMIT)
		return ERR_PTR(-ESRCH);
	rcu_read_lock();
	/*
	 * A process: a thread id that is not a thread group's is ESRCH. The
	 * struct pid found is the thread group's own (pid_task() found a task
	 * through its PIDTYPE_TGID link); it is referenced directly, not read
	 * back through task_tgid(task), which a concurrent release_task() (the
	 * parent's wait() reaping the process) may already have cleared.
	 */
	found = find_vpid((int)nr);
	task = pid_task(found, PIDTYPE_TGID);
	if (task) {
		ret = kq_may_watch(task) ? 0 : -EACCES;
		if (!ret)
			pid = get_pid(found);
	}
	rcu_read_unlock();
	if (ret)
		return ERR_PTR(ret);

	w = kq_watch_new(pid, ctx, KQ_WATCH_PROC);
	if (IS_ERR(w))
		return w;
	ret = kq_watch_hash(w);
	if (!ret)
		ret = kq_watch_hook_exit(w);
	if (ret) {
		kq_procwatch_destroy(w);
		return ERR_PTR(ret);
	}
	return w;
}

struct kq_procwatch *kq_proc_watch_pidfd(unsigned int fd, void *ctx)
{
	struct kq_procwatch *w;
	struct file *file;
	int ret;

	file = fget(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	/*
	 * pidfd_pid() is not exported: a pidfd is a file of pidfs, whose
	 * inodes carry their struct pid in i_private. Thread pidfds
	 * (PIDFD_THREAD) name a thread, not a process: not supported.
	 */
	if (file_inode(file)->i_sb->s_magic != PID_FS_MAGIC ||
	    (file->f_flags & PIDFD_THREAD)) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	w = kq_watch_new(get_pid(file_inode(file)->i_private), ctx,
			 KQ_WATCH_PROCDESC);
	if (IS_ERR(w)) {
		fput(file);
		return w;
	}
	w->file = file;
	fput(file);
	ret = kq_watch_hook_exit(w);
	if (ret) {
		kq_procwatch_destroy(w);
		return ERR_PTR(ret);
	}
	return w;
}

struct kq_procwatch *kq_proc_watch_signal(__u64 sig, void *ctx)
{
	struct kq_procwatch *w;
	struct pid *pid;

	if (sig == 0 || sig > _NSIG)
		return ERR_PTR(-EINVAL);
	/* The caller is the kqueue's owner: count for its thread group. */
	pid = get_task_pid(current, PIDTYPE_TGID);
	if (!pid)
		return ERR_PTR(-ESRCH);
	w = kq_watch_new(pid, ctx, KQ_WATCH_SIGNAL);
	if (IS_ERR(w))
		return w;
	w->sig = (int)sig;
	if (kq_watch_hash(w)) {
		kq_procwatch_destroy(w);
		return ERR_PTR(-ENOMEM);
	}
	return w;
}

void kq_procwatch_destroy(struct kq_procwatch *w)
{
	struct kq_pbucket *b = kq_proc_bucket(w->pid);
	struct kq_ptarget *dead;
	unsigned long flags;

	/* After these two, no probe and no wake-up refers to w->ctx. */
	spin_lock_irqsave(&b->lock, flags);
	dead = kq_target_del(b, w);
	spin_unlock_irqrestore(&b->lock, flags);
	kfree(dead);
	kq_user_uncharge(w->user);
	if (w->hooked)
		remove_wait_queue(&w->pid->wait_pidfd, &w->wait);
	kq_watch_put_probes(w->kind);
	put_pid(w->pid);
	kfree(w);
}

int kq_procwatch_fd_is(struct kq_procwatch *w, unsigned int fd)
{
	struct file *file = fget(fd);
	int same;

	if (!file)
		return 0;
	/* The same open pidfd; a new one at the same address names our pid too. */
	same = file == w->file && file_inode(file)->i_private == w->pid;
	fput(file);
	return same;
}

/*
 * NOTE_TRACK: watches the new child @child (a struct pid) of @parent's
 * process for knote @ctx. Called from the fork probe through
 * kq_proc_forked(), with the parent's and the child's bucket locks held,
 * before the child first runs.
 */
struct kq_procwatch *kq_procwatch_track(struct kq_procwatch *parent,
					void *child, void *ctx)
{
	struct kq_pbucket *b = kq_proc_bucket(child);
	struct kq_ptarget *spare = NULL;
	struct kq_procwatch *w;
	bool charged;

	lockdep_assert_held(&b->lock);
	spin_lock(&kq_user_lock);
	charged = kq_user_charge_locked(parent->user);
	spin_unlock(&kq_user_lock);
	if (!charged)
		return NULL;
	w = kzalloc_obj(*w, GFP_ATOMIC);
	if (w && !kq_target_find(b, child)) {
		spare = kzalloc_obj(*spare, GFP_ATOMIC);
		if (!spare) {
			kfree(w);
			w = NULL;
		}
	}
	if (!w) {
		kq_user_uncharge(parent->user);
		return NULL;
	}
	w->user = parent->user;
	w->pid = get_pid(child);
	w->ns = parent->ns;
	w->ctx = ctx;
	w->kind = KQ_WATCH_PROC;
	/* @parent holds the probes: the counts are above zero. */
	atomic_inc(&kq_probes[KQ_PROBE_FORK].users);
	atomic_inc(&kq_probes[KQ_PROBE_EXEC].users);
	kq_watch_hook(w);
	kq_target_add(b, w, &spare);
	return w;
}

/* Undoes kq_procwatch_track() in the same probe call. */
void kq_procwatch_untrack(struct kq_procwatch *w)
{
	kfree(kq_target_del(kq_proc_bucket(w->pid), w));
	kq_user_uncharge(w->user);
	remove_wait_queue(&w->pid->wait_pidfd, &w->wait);
	/* Neither reaches zero: the parent watch and the child task hold on. */
	atomic_dec(&kq_probes[KQ_PROBE_FORK].users);
	atomic_dec(&kq_probes[KQ_PROBE_EXEC].users);
	put_pid(w->pid);
	kfree(w);
}

static void kq_probe_fork(void *data, struct task_struct *parent,
			  struct task_struct *child)
{
	struct kq_pbucket *pb, *cb;
	struct kq_procwatch *w;
	struct kq_ptarget *t;
	struct hlist_node *tmp;
	struct pid *ppid, *cpid;
	unsigned long flags;

	/* A new thread is not a new process. */
	if (!thread_group_leader(child))
		return;
	ppid = task_tgid(parent);
	cpid = task_tgid(child);
	if (!ppid || !cpid)
		return;
	pb = kq_proc_bucket(ppid);
	cb = kq_proc_bucket(cpid);
	/* Both buckets, in address order: NOTE_TRACK adds to the child's. */
	local_irq_save(flags);
	if (pb == cb) {
		spin_lock(&pb->lock);
	} else {
		spin_lock(pb < cb ? &pb->lock : &cb->lock);
		spin_lock_nested(pb < cb ? &cb->lock : &pb->lock,
				 SINGLE_DEPTH_NESTING);
	}
	t = kq_target_find(pb, ppid);
	if (t)
		hlist_for_each_entry_safe(w, tmp, &t->watches, node)
			if (w->kind == KQ_WATCH_PROC)
				kq_proc_forked(w->ctx, w, cpid,
					       pid_nr_ns(cpid, w->ns));
	if (pb != cb)
		spin_unlock(&cb->lock);
	spin_unlock(&pb->lock);
	local_irq_restore(flags);
}

static void kq_probe_exec(void *data, struct task_struct *p, pid_t old_pid,
			  struct linux_binprm *bprm)
{
	struct pid *pid = task_tgid(p);
	struct kq_pbucket *b;
	struct kq_procwatch *w;
	struct kq_ptarget *t;
	unsigned long flags;

	if (!pid)
		return;
	b = kq_proc_bucket(pid);
	spin_lock_irqsave(&b->lock, flags);
	t = kq_target_find(b, pid);
	if (t)
		hlist_for_each_entry(w, &t->watches, node)
			if (w->kind == KQ_WATCH_PROC)
				kq_proc_exec(w->ctx);
	spin_unlock_irqrestore(&b->lock, flags);
}

/* Under @task's siglock, interrupts off. */
static void kq_probe_signal(void *data, int sig, struct kernel_siginfo *info,
			    struct task_struct *task, int group, int result)
{
	struct kq_procwatch *w;
	struct kq_pbucket *b;
	struct kq_ptarget *t;
	unsigned long flags;
	struct pid *pid;

	/* An rt signal the queue had no room for was not generated. */
	if (result == TRACE_SIGNAL_OVERFLOW_FAIL)
		return;
	/* Like FreeBSD, an ignored SIGCHLD is not counted (SIG_DFL is). */
	if (sig == SIGCHLD &&
	    task->sighand->action[SIGCHLD - 1].sa.sa_handler == SIG_IGN)
		return;
	pid = task_tgid(task);
	if (!pid)
		return;
	b = kq_proc_bucket(pid);
	spin_lock_irqsave(&b->lock, flags);
	t = kq_target_find(b, pid);
	if (t)
		hlist_for_each_entry(w, &t->watches, node)
			if (w->kind == KQ_WATCH_SIGNAL && w->sig == sig)
				kq_signal_generated(w->ctx);
	spin_unlock_irqrestore(&b->lock, flags);
}
