// SPDX-License-Identifier: GPL-2.0

//! Process and signal watches: the event sources of `EVFILT_PROC`, `EVFILT_PROCDESC` and
//! `EVFILT_SIGNAL`. `filter_proc.rs` owns the knotes and decides what to report.
//!
//! A watch (`Watch`) connects one knote to one process, named by the `struct pid` of its
//! thread group. Its event sources:
//!
//! - Exit: a wait-queue entry on `pid->wait_pidfd`, the wait queue pidfd poll() uses. The
//!   kernel wakes it when the thread group is dead and its leader a zombie
//!   (`do_notify_pidfd()` from `do_notify_parent()`, under `tasklist_lock`), and when the
//!   task is reaped (`__unhash_process()`). The wake function looks at the leader: once it is
//!   a zombie with no thread left, the exit status is read as wait(2) with `WNOWAIT` reads it
//!   (`group_exit_code` after a group exit, else the leader's `exit_code`) and handed to
//!   `filter_proc::exited`. This is the moment the process becomes waitable, so a `NOTE_EXIT`
//!   reader can reap it at once; `sched_process_exit` would be too early (it fires per
//!   thread, before the zombie state and the final status exist).
//! - Fork and exec: probes on the `sched_process_fork` and `sched_process_exec` tracepoints.
//!   Fork fires in the parent before the child first runs, so `NOTE_TRACK` can watch the
//!   child before it can fork, exec or exit.
//! - Signals: a probe on `signal_generate`, which fires under the target's siglock for every
//!   generation attempt, ignored and already pending ones included, with the outcome as its
//!   last argument.
//!
//! The tracepoints are found by name at module init (`probe.rs`). Probes are registered only
//! while some watch needs them (`probe_get`/`probe_put`), and for `LINGER` after the last one
//! goes: registering patches kernel text, so a program that adds and deletes a knote in a
//! loop must not pay for that each time. Probes still running after the unregistration only
//! look at the registry, which outlives them, and module exit waits for them.
//!
//! Registry: watches that a probe must find are kept in `Registry::buckets`, each a tree
//! keyed by (watched `struct pid`, watch) under its own lock, the bucket chosen by the
//! `struct pid` pointer. The locks are irq-safe (`SpinLockIrq`, `spin_lock_irqsave()`'s
//! equivalent), because `signal_generate` fires in hard interrupt context too (POSIX timers).
//! A probe for a process locks one bucket and visits only that process's own watches: the
//! fork, exec or signal of a process nobody watches costs a short tree search, and no number
//! of watches on other processes makes the walk longer. The fork probe also locks the child's
//! bucket (both in address order) for `NOTE_TRACK`, which watches the child there before it
//! first runs.
//!
//! Lock order: siglock (`signal_generate`) or `tasklist_lock` (exit) -> a bucket's lock (a
//! fork: the lower-addressed of the parent's and the child's bucket first) ->
//! `pid->wait_pidfd.lock` (`NOTE_TRACK` hooks the child's exit) -> the kqueue's ready lock ->
//! the kqueue's wait-queue lock. The per-user counts (`accounting.rs`) are atomics, taken
//! under any of these. Callbacks into `filter_proc` only update a knote and queue it; a watch
//! is destroyed (dropped) in process context, after which no callback refers to its knote any
//! more.
//!
//! On PREEMPT_RT the siglock and the bucket locks are sleeping `spinlock_t`s alike and the
//! POSIX timers signal from a thread, so the order above holds there too.
//!
//! Permission (`EVFILT_PROC`): the rule of kill(2). The caller's real or effective uid must
//! equal the target's real or saved uid, or the caller must have `CAP_KILL` in the target's
//! user namespace; otherwise `EACCES` (the errno kevent(2) documents for a filter the caller
//! may not register). `ptrace_may_access()` is not exported. `EVFILT_PROCDESC` needs no
//! check: the pidfd is the capability, as for `PIDFD_GET_INFO`.

use core::{
    ffi::c_void,
    pin::Pin,
    ptr::{self, NonNull},
    sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, Ordering},
};

use kernel::{
    bindings,
    ffi::{c_int, c_uint, c_ulong},
    new_spinlock_irq,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        aref::ARef,
        lock::{spinlock::SpinLockBackend, Guard},
        rcu, SpinLock, SpinLockIrq,
    },
    task::Task,
    types::Opaque,
};

use crate::accounting::{Charge, Resource};
use crate::filter_proc;
use crate::knote::Knote;
use crate::pid::{Pid, PIDTYPE_TGID};
use crate::probe::{self, Registration, Tracepoint};
use crate::sys;

/// What a watch reports.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `EVFILT_PROC`: exit, fork, exec.
    Proc,
    /// `EVFILT_PROCDESC`: exit only.
    ProcDesc,
    /// `EVFILT_SIGNAL`: one signal of the watcher's own process.
    Signal,
}

/// How long an unused probe stays registered.
const LINGER: c_ulong = bindings::HZ as c_ulong;

/// log2 of the number of registry buckets.
const HASH_BITS: u32 = 10;

/// `TRACE_SIGNAL_OVERFLOW_FAIL` (`include/trace/events/signal.h`): an rt signal the queue had
/// no room for.
const TRACE_SIGNAL_OVERFLOW_FAIL: c_int = 3;

/// `SIG_IGN`.
const SIG_IGN: usize = 1;

/// `PIDFD_THREAD`: a pidfd that names a thread (`O_EXCL`).
const PIDFD_THREAD: c_uint = bindings::O_EXCL;

// ---------------------------------------------------------------------------------------------
// Probes

const FORK: usize = 0;
const EXEC: usize = 1;
const SIGNAL: usize = 2;
const NPROBES: usize = 3;

const PROBE_NAMES: [&CStr; NPROBES] = [
    c"sched_process_fork",
    c"sched_process_exec",
    c"signal_generate",
];

/// A tracepoint probe, registered while `users > 0` (and a little longer).
struct ProbeSlot {
    /// Found at init; NULL if the kernel has none.
    tp: AtomicPtr<bindings::tracepoint>,
    /// Watches that need the probe. Changed under `PROBES`, except by `NOTE_TRACK` in probe
    /// context, which only counts up from a value its parent watch keeps above zero, and back.
    users: AtomicI32,
}

static SLOTS: [ProbeSlot; NPROBES] = [const {
    ProbeSlot {
        tp: AtomicPtr::new(ptr::null_mut()),
        users: AtomicI32::new(0),
    }
}; NPROBES];

/// The registrations, under `PROBES`.
struct Probes {
    reg: [Option<Registration>; NPROBES],
    /// Some probe was registered at least once: wait for running probes at exit.
    ever: bool,
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before any kqueue exists.
    unsafe(uninit) static PROBES: Mutex<Probes> = Probes {
        reg: [None, None, None],
        ever: false,
    };
}

/// The delayed work that unregisters unused probes (`idle_fn`).
struct IdleWork(Opaque<bindings::delayed_work>);

// SAFETY: The work item is only handed to the workqueue API, which serialises its use.
unsafe impl Sync for IdleWork {}

static IDLE: IdleWork = IdleWork(Opaque::uninit());

/// The probe function of `i`, for `tracepoint_probe_register()`.
fn probe_func(i: usize) -> *mut c_void {
    match i {
        FORK => probe_fork as *mut c_void,
        EXEC => probe_exec as *mut c_void,
        _ => probe_signal as *mut c_void,
    }
}

fn probe_get(i: usize) -> Result {
    let mut p = PROBES.lock();
    if p.reg[i].is_none() {
        let tp = NonNull::new(SLOTS[i].tp.load(Ordering::Relaxed)).ok_or(EOPNOTSUPP)?;
        // SAFETY: `probe_func(i)` has the prototype of tracepoint `i`'s probes, and it only
        // uses the registry, which lives until module exit waits for running probes (`fini`).
        p.reg[i] = Some(unsafe { Registration::new(Tracepoint::from_raw(tp), probe_func(i)) }?);
        p.ever = true;
    }
    SLOTS[i].users.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

fn probe_put(i: usize) {
    let _p = PROBES.lock();
    if SLOTS[i].users.fetch_sub(1, Ordering::Relaxed) == 1 {
        // SAFETY: `IDLE` was initialised by `init`; `system_dfl_wq` is a system workqueue.
        unsafe { sys::mod_delayed_work(bindings::system_dfl_wq, IDLE.0.get(), LINGER) };
    }
}

/// Unregisters the probes nobody needed for `LINGER`.
///
/// # Safety
///
/// Called by the workqueue for `IDLE`.
unsafe extern "C" fn idle_fn(_work: *mut bindings::work_struct) {
    let mut p = PROBES.lock();
    for (i, reg) in p.reg.iter_mut().enumerate() {
        // Unregistering does not wait for running probes: they find nothing of ours in the
        // registry any more, and module exit waits for them. If it fails (no memory), the
        // probe stays registered, unused, until the next try or module exit.
        if SLOTS[i].users.load(Ordering::Relaxed) == 0 {
            if let Some(r) = reg.take() {
                *reg = r.unregister().err();
            }
        }
    }
}

/// The probes a watch of `kind` needs.
fn kind_probes(kind: Kind) -> &'static [usize] {
    match kind {
        Kind::Proc => &[FORK, EXEC],
        Kind::Signal => &[SIGNAL],
        Kind::ProcDesc => &[],
    }
}

fn get_probes(kind: Kind) -> Result {
    let probes = kind_probes(kind);
    for (n, &i) in probes.iter().enumerate() {
        if let Err(e) = probe_get(i) {
            for &j in &probes[..n] {
                probe_put(j);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn put_probes(kind: Kind) {
    for &i in kind_probes(kind) {
        probe_put(i);
    }
}

// ---------------------------------------------------------------------------------------------
// Registry

/// A watch in a bucket's tree.
///
/// # Invariants
///
/// Points to a live, pinned `Watch` keyed in the tree under its own `key()`: a watch takes
/// itself out of the tree (under the bucket's lock) before it is freed (`Drop`, `untrack`).
struct WatchRef(*const Watch);

// SAFETY: Only dereferenced under the bucket lock, while the watch is hashed and so alive (type
// invariant).
unsafe impl Send for WatchRef {}

/// A bucket's watches, by (watched `struct pid` address, watch address).
type Tree = RBTree<(usize, usize), WatchRef>;

/// The global state, from `init` to `fini`.
struct Registry {
    buckets: KVec<Pin<KBox<SpinLockIrq<Tree>>>>,
}

static REGISTRY: AtomicPtr<Registry> = AtomicPtr::new(ptr::null_mut());

/// The registry. Only called between `init` and `fini` (by watches and by probes, which `fini`
/// waits for before it frees the registry).
fn registry() -> &'static Registry {
    // SAFETY: Set by `init` before any watch or probe exists, freed by `fini` after the last.
    unsafe { &*REGISTRY.load(Ordering::Acquire) }
}

impl Registry {
    /// The bucket index of the pid at `addr` (`hash_ptr()`).
    fn index(addr: usize) -> usize {
        const GOLDEN_RATIO_64: u64 = 0x61c8_8646_80b5_83eb;
        ((addr as u64).wrapping_mul(GOLDEN_RATIO_64) >> (64 - HASH_BITS)) as usize
    }

    fn bucket(&self, pid: &Pid) -> &SpinLockIrq<Tree> {
        &self.buckets[Self::index(pid.addr())]
    }
}

/// The watches of the pid at `pid` in `tree`, from the watch at address `from` on: the first
/// one's address and pointer.
fn next_watch(tree: &Tree, pid: usize, from: usize) -> Option<(usize, *const Watch)> {
    let c = tree.cursor_lower_bound(&(pid, from))?;
    let (k, v) = c.current();
    (k.0 == pid).then_some((k.1, v.0))
}

/// Finds the tracepoints and sets up the registry. Called once, from module init.
pub(crate) fn init() -> Result {
    // SAFETY: Called once, before any kqueue exists.
    unsafe { PROBES.init() };
    // SAFETY: `IDLE` is initialised once, here, before any use.
    unsafe { sys::INIT_DELAYED_WORK(IDLE.0.get(), Some(idle_fn)) };

    let mut buckets = KVec::with_capacity(1 << HASH_BITS, GFP_KERNEL)?;
    for _ in 0..(1 << HASH_BITS) {
        buckets.push(
            KBox::pin_init(
                new_spinlock_irq!(RBTree::new(), "kq_proc_bucket"),
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
    }
    let reg = KBox::new(Registry { buckets }, GFP_KERNEL)?;
    REGISTRY.store(KBox::into_raw(reg), Ordering::Release);

    for (slot, tp) in SLOTS.iter().zip(probe::find(&PROBE_NAMES)) {
        let tp = tp.map_or(ptr::null_mut(), |t| t.as_ptr());
        slot.tp.store(tp, Ordering::Relaxed);
    }
    for (slot, name) in SLOTS.iter().zip(PROBE_NAMES) {
        if slot.tp.load(Ordering::Relaxed).is_null() {
            pr_warn!("kqueue: no tracepoint {}\n", name.to_str().unwrap_or("?"));
        }
    }
    Ok(())
}

/// Unregisters the probes, waits for running ones and frees the registry. Called from module
/// exit (or a failed init), when every watch is gone.
pub(crate) fn fini() {
    // SAFETY: Initialised by `init`.
    unsafe { bindings::cancel_delayed_work_sync(IDLE.0.get()) };
    let sync = {
        let mut p = PROBES.lock();
        for (i, reg) in p.reg.iter_mut().enumerate() {
            if SLOTS[i].users.load(Ordering::Relaxed) != 0 {
                pr_warn!("kqueue: probe {} still in use at exit\n", i);
            }
            // Dropping unregisters.
            drop(reg.take());
        }
        p.ever
    };
    // No probe may still run when the registry and the module's text go away.
    if sync {
        probe::synchronize();
    }
    let reg = REGISTRY.swap(ptr::null_mut(), Ordering::AcqRel);
    if !reg.is_null() {
        // SAFETY: From `KBox::into_raw` in `init`; no watch and no probe uses it any more.
        drop(unsafe { KBox::from_raw(reg) });
    }
}

// ---------------------------------------------------------------------------------------------
// Watches

/// A knote's watch on a process, owned by the knote's state (`filter_proc::ProcState`).
/// Dropping it (process context) unhooks it: afterwards no callback refers to its knote.
///
/// # Invariants
///
/// - `knote` points to the `Arc`-allocated knote whose state owns this watch (or, between
///   `Watch::new`/`track` and the store into that state, the knote it is created for). Only
///   that knote drops the watch (`filter_proc::detach_watch`, `Watch::untrack`), before the
///   knote itself goes, so `knote` is valid while the watch lives.
/// - `wait` is on `pid`'s `wait_pidfd` queue exactly while `hooked`, and `hashed` tells
///   whether a `WatchRef` to it is in its bucket. Both are undone before the memory is freed.
/// - While `probes`, the watch holds one count on each probe of `kind_probes(kind)`.
pub(crate) struct Watch {
    /// On `pid->wait_pidfd` while `hooked`.
    wait: Opaque<bindings::wait_queue_entry>,
    hooked: AtomicBool,
    /// In its bucket's tree (changed by the owner only, under the bucket's lock).
    hashed: AtomicBool,
    /// Holds counts on the probes of `kind` (only `untrack` gives them back early).
    probes: AtomicBool,
    /// The watched thread group.
    pid: ARef<Pid>,
    /// The watcher's pid namespace, for `NOTE_TRACK` child idents. Not counted: it is an
    /// ancestor of (or equal to) the namespace of `pid`, which `pid`'s reference keeps alive,
    /// since the watcher can see `pid`.
    ns: *mut bindings::pid_namespace,
    /// The knote (`filter_proc`'s callbacks get it).
    knote: *const Knote,
    /// `EVFILT_PROCDESC`: the pidfd the knote was registered on, compared, never dereferenced.
    /// No reference: closing the last descriptor must release the pidfd (a `PIDFD_AUTOKILL`
    /// pidfd kills its process then).
    file: *const bindings::file,
    kind: Kind,
    /// `EVFILT_SIGNAL`: the signal.
    sig: c_int,
    /// The watch's unit of the per-user limit (`max_user_proc_watches`), charged to the user
    /// who registered it; a `NOTE_TRACK` child's watch to the user of its parent's watch.
    /// Each watch costs memory and lengthens a tree that probes search with interrupts off.
    charge: Charge,
}

// SAFETY: The raw pointers are a namespace and a knote kept alive as documented on the fields,
// and a file pointer only compared; the mutable fields are atomics or owned by the kernel's
// wait-queue lock.
unsafe impl Send for Watch {}
// SAFETY: As above.
unsafe impl Sync for Watch {}

/// A watch, pinned: its wait-queue entry and its registry entry refer to it.
pub(crate) type WatchBox = Pin<KBox<Watch>>;

impl Watch {
    /// A watch of `kind` on `pid` for `knote` (live: it is being attached), charged to the
    /// knote's user, with the probes it needs. Not hashed, not hooked. Process context.
    fn new(
        pid: ARef<Pid>,
        knote: *const Knote,
        kind: Kind,
        file: *const bindings::file,
        sig: c_int,
    ) -> Result<WatchBox> {
        // SAFETY: The knote is being attached by the caller, which holds a reference to it.
        let charge = unsafe { (*knote).charge_another(Resource::ProcWatch)? };
        get_probes(kind)?;
        let w = Watch {
            wait: Opaque::uninit(),
            hooked: AtomicBool::new(false),
            hashed: AtomicBool::new(false),
            probes: AtomicBool::new(true),
            pid,
            // SAFETY: `current` is live; its active namespace outlives it.
            ns: unsafe { bindings::task_active_pid_ns(Task::current_raw()) },
            knote,
            file,
            kind,
            sig,
            charge,
        };
        // On failure `w` is dropped: it gives back the charge and the probes.
        Ok(KBox::pin(w, GFP_KERNEL_ACCOUNT)?)
    }

    fn key(&self) -> (usize, usize) {
        (self.pid.addr(), ptr::from_ref(self) as usize)
    }

    /// Makes the watch visible to the probes. Process context.
    fn hash(&self) -> Result {
        let node = RBTreeNodeReservation::new(GFP_KERNEL_ACCOUNT)?;
        let mut tree = registry().bucket(&self.pid).lock();
        tree.insert(node.into_node(self.key(), WatchRef(self)));
        self.hashed.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Hooks the exit wake-up on `pid->wait_pidfd`.
    fn hook(&self) {
        let wait = self.wait.get();
        // SAFETY: `wait` is ours and pinned; it stays on the queue until `drop` (or `untrack`)
        // removes it, and `wake` only uses the watch, which lives as long.
        unsafe {
            crate::poll_watch::init_wait_entry(wait, wake);
            bindings::add_wait_queue(self.pid.wait_pidfd(), wait);
        }
        self.hooked.store(true, Ordering::Relaxed);
    }

    fn unhook(&self) {
        if self.hooked.swap(false, Ordering::Relaxed) {
            // SAFETY: Added by `hook` to this queue.
            unsafe { bindings::remove_wait_queue(self.pid.wait_pidfd(), self.wait.get()) };
        }
    }

    /// Hooks the exit of the process. `ESRCH` (and unhooked) if the process was reaped
    /// already; reports the exit at once if it is a zombie. The check follows the hook, so an
    /// exit is never missed.
    fn hook_exit(&self) -> Result {
        self.hook();
        // Status first, then whether it was reaped: `__unhash_process()` wakes `wait_pidfd`
        // before it detaches the thread group's pid, so a reap whose wake-up came before our
        // hook is either still visible to the status check (reported here) or complete
        // (ESRCH), never neither.
        if let Some(status) = exit_status(&self.pid) {
            // SAFETY: The knote outlives its watch.
            unsafe { filter_proc::exited(self.knote, status) };
            return Ok(());
        }
        if !self.pid.has_task(PIDTYPE_TGID) {
            self.unhook();
            return Err(ESRCH);
        }
        Ok(())
    }

    /// Whether descriptor `fd` of the current task is the pidfd this watch was registered on.
    pub(crate) fn fd_is(&self, fd: u32) -> bool {
        // SAFETY: Any descriptor number may be looked up.
        let file = unsafe { bindings::fget(fd) };
        if file.is_null() {
            return false;
        }
        // The same open pidfd; a new one at the same address names our pid too.
        // SAFETY: `file` is a live file (we hold a reference) with an inode.
        let same = ptr::eq(file, self.file)
            && unsafe { (*(*file).f_inode).i_private } == self.pid.as_ptr().cast();
        // SAFETY: The reference `fget` took.
        unsafe { bindings::fput(file) };
        same
    }

    /// `NOTE_TRACK`: a watch of the new child `child` of `parent`'s process, for `knote`,
    /// hashed in `ctree` (the child's bucket, whose lock the fork probe holds, as it holds the
    /// parent's), before the child first runs. `None` if the user's limit or memory is
    /// exhausted.
    pub(crate) fn track(
        parent: &Watch,
        child: &Pid,
        knote: *const Knote,
        ctree: &mut ChildBucket<'_>,
    ) -> Option<WatchBox> {
        let charge = parent.charge.another(Resource::ProcWatch).ok()?;
        let node = RBTreeNodeReservation::new(GFP_ATOMIC).ok();
        let w = node.and_then(|node| {
            let w = Watch {
                wait: Opaque::uninit(),
                hooked: AtomicBool::new(false),
                hashed: AtomicBool::new(false),
                probes: AtomicBool::new(false),
                pid: child.into(),
                ns: parent.ns,
                knote,
                file: ptr::null(),
                kind: Kind::Proc,
                sig: 0,
                charge,
            };
            // On failure `w` is dropped: it gives back the charge (nothing else yet).
            KBox::pin(w, GFP_ATOMIC).ok().map(|w| (w, node))
        });
        let (w, node) = w?;
        // `parent` holds the probes: the counts are above zero.
        SLOTS[FORK].users.fetch_add(1, Ordering::Relaxed);
        SLOTS[EXEC].users.fetch_add(1, Ordering::Relaxed);
        w.probes.store(true, Ordering::Relaxed);
        w.hook();
        ctree.0.insert(node.into_node(w.key(), WatchRef(&*w)));
        w.hashed.store(true, Ordering::Relaxed);
        Some(w)
    }

    /// Undoes `track` in the same probe call (the bucket locks still held).
    pub(crate) fn untrack(w: WatchBox, ctree: &mut ChildBucket<'_>) {
        let node = ctree.0.remove_node(&w.key());
        w.hashed.store(false, Ordering::Relaxed);
        // Neither reaches zero: the parent watch and the child task hold on.
        if w.probes.swap(false, Ordering::Relaxed) {
            SLOTS[FORK].users.fetch_sub(1, Ordering::Relaxed);
            SLOTS[EXEC].users.fetch_sub(1, Ordering::Relaxed);
        }
        drop(node);
        // Gives back the charge and unhooks.
        drop(w);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let reg = registry();
        // After these two, no probe and no wake-up refers to the knote.
        if self.hashed.load(Ordering::Relaxed) {
            let node = {
                let mut tree = reg.bucket(&self.pid).lock();
                tree.remove_node(&self.key())
            };
            drop(node);
        }
        self.unhook();
        if self.probes.load(Ordering::Relaxed) {
            put_probes(self.kind);
        }
    }
}

/// The bucket of a forked child, locked by the fork probe, for `Watch::track`.
pub(crate) struct ChildBucket<'a>(&'a mut Tree);

/// Whether the thread group of `pid` has exited: its leader is a zombie (or dead) and no other
/// thread is left. Then its status in wait(2) format.
fn exit_status(pid: &Pid) -> Option<i32> {
    let rcu = rcu::read_lock();
    let task = pid.tgid_task(&rcu);
    if task.is_null() {
        return None;
    }
    // SAFETY: `task` is live under the RCU read lock.
    let dead = unsafe { ptr::read_volatile(&raw const (*task).exit_state) } != 0;
    // SAFETY: As above.
    if !dead || unsafe { sys::delay_group_leader(task) } {
        return None;
    }
    // As `wait_task_zombie()` with `WNOWAIT`.
    // SAFETY: A zombie's `signal` lives as long as the task.
    unsafe {
        let sig = (*task).signal;
        let flags = ptr::read_volatile(&raw const (*sig).flags);
        Some(if flags & bindings::SIGNAL_GROUP_EXIT != 0 {
            ptr::read_volatile(&raw const (*sig).group_exit_code)
        } else {
            ptr::read_volatile(&raw const (*task).exit_code)
        })
    }
}

/// Wake function on `pid->wait_pidfd`: atomic context, under its lock.
///
/// # Safety
///
/// `wait` is the `wait` entry of a live, hooked watch.
unsafe extern "C" fn wake(
    wait: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _sync: c_int,
    _key: *mut c_void,
) -> c_int {
    // SAFETY: `wait` is the `wait` field of a live watch (see `hook`).
    let w = unsafe {
        &*kernel::container_of!(
            wait.cast::<Opaque<bindings::wait_queue_entry>>(),
            Watch,
            wait
        )
    };
    if let Some(status) = exit_status(&w.pid) {
        // SAFETY: The knote outlives its watch.
        unsafe { filter_proc::exited(w.knote, status) };
    } else if !w.pid.has_task(PIDTYPE_TGID) {
        // Reaped without a zombie wake-up first: not expected, the kernel wakes at the zombie
        // transition before the reap. The status is gone; report the exit rather than nothing.
        // SAFETY: As above.
        unsafe { filter_proc::exited(w.knote, 0) };
    }
    0
}

/// The kill(2) rule (see the module comment).
///
/// # Safety
///
/// `task` is live under the RCU read lock the caller holds.
unsafe fn may_watch(task: *mut bindings::task_struct) -> bool {
    // SAFETY: The caller's own credentials, and the task's under RCU (the contract).
    // `__task_cred()` is an RCU dereference of `real_cred`.
    let (cred, tcred) = unsafe {
        (
            &*sys::current_cred(),
            &*core::ptr::read_volatile(&raw const (*task).real_cred),
        )
    };
    if [cred.euid.val, cred.uid.val]
        .iter()
        .any(|u| *u == tcred.suid.val || *u == tcred.uid.val)
    {
        return true;
    }
    // SAFETY: The task's user namespace lives as long as its credentials.
    unsafe { bindings::ns_capable_noaudit(tcred.user_ns, bindings::CAP_KILL as c_int) }
}

/// `EVFILT_PROC`: a watch on process `nr` (as the caller sees it), for `knote`.
pub(crate) fn watch_pid(nr: u64, knote: *const Knote) -> Result<WatchBox> {
    let nr = i32::try_from(nr).ok().filter(|&n| n > 0).ok_or(ESRCH)?;
    let pid: ARef<Pid> = {
        let rcu = rcu::read_lock();
        // A process: a thread id that is not a thread group's is ESRCH. The struct pid found
        // is the thread group's own (`pid_task()` found a task through its `PIDTYPE_TGID`
        // link); it is referenced directly, not read back through `task_tgid(task)`, which a
        // concurrent `release_task()` (the parent's wait() reaping the process) may already
        // have cleared.
        // SAFETY: RCU read lock held.
        let found = unsafe { bindings::find_vpid(nr) };
        if found.is_null() {
            return Err(ESRCH);
        }
        // SAFETY: `found` is live under the RCU read lock.
        let found = unsafe { Pid::from_raw(found) };
        let task = found.tgid_task(&rcu);
        if task.is_null() {
            return Err(ESRCH);
        }
        // SAFETY: `task` is live under the RCU read lock.
        if !unsafe { may_watch(task) } {
            return Err(EACCES);
        }
        found.into()
    };
    let w = Watch::new(pid, knote, Kind::Proc, ptr::null(), 0)?;
    w.hash()?;
    w.hook_exit()?;
    Ok(w)
}

/// `EVFILT_PROCDESC`: a watch on the process of pidfd `fd`, for `knote`.
pub(crate) fn watch_pidfd(fd: u32, knote: *const Knote) -> Result<WatchBox> {
    // SAFETY: Any descriptor number may be looked up.
    let file = unsafe { bindings::fget(fd) };
    if file.is_null() {
        return Err(EBADF);
    }
    // `pidfd_pid()` is not exported: a pidfd is a file of pidfs, whose inodes carry their
    // struct pid in `i_private`. Thread pidfds (`PIDFD_THREAD`) name a thread, not a process:
    // not supported.
    // SAFETY: `file` is live (we hold a reference); a pidfs inode's `i_private` is its live
    // struct pid, which the file keeps alive.
    let pid = unsafe {
        let inode = (*file).f_inode;
        if (*(*inode).i_sb).s_magic != bindings::PID_FS_MAGIC as c_ulong
            || (*file).f_flags & PIDFD_THREAD != 0
        {
            None
        } else {
            Some(ARef::from(Pid::from_raw((*inode).i_private.cast())))
        }
    };
    let w = pid
        .ok_or(EINVAL)
        .and_then(|pid| Watch::new(pid, knote, Kind::ProcDesc, file, 0));
    // SAFETY: The reference `fget` took.
    unsafe { bindings::fput(file) };
    let w = w?;
    w.hook_exit()?;
    Ok(w)
}

/// `EVFILT_SIGNAL`: a watch on signal `sig` of the caller's process, for `knote`.
pub(crate) fn watch_signal(sig: u64, knote: *const Knote) -> Result<WatchBox> {
    let sig = c_int::try_from(sig)
        .ok()
        .filter(|&s| s > 0 && s <= bindings::_NSIG as c_int)
        .ok_or(EINVAL)?;
    // The caller is the kqueue's owner: count for its thread group.
    // SAFETY: `current` is live.
    let pid = unsafe { Pid::of_task_tgid(Task::current_raw()) }.ok_or(ESRCH)?;
    let w = Watch::new(pid, knote, Kind::Signal, ptr::null(), sig)?;
    w.hash().map_err(|_| ENOMEM)?;
    Ok(w)
}

// ---------------------------------------------------------------------------------------------
// Probe functions

/// Locks `lock`, a bucket of the same lock class as one the caller holds, with interrupts
/// already off (the lockdep subclass of `spin_lock_nested()`).
fn lock_nested(lock: &SpinLockIrq<Tree>) -> Guard<'_, Tree, SpinLockBackend> {
    // SAFETY: `SpinLockIrq<T>` and `SpinLock<T>` have the same layout (the kernel crate's
    // `lock_with` relies on it too), and interrupts are off while the caller holds its
    // `SpinLockIrq` guard.
    let spin: &SpinLock<Tree> = unsafe { &*ptr::from_ref(lock).cast() };
    // `Lock` is `repr(C)` with the C lock first (`Lock::from_raw` relies on it).
    let raw = ptr::from_ref(spin)
        .cast_mut()
        .cast::<bindings::spinlock_t>();
    // SAFETY: An initialised lock; the guard below releases it.
    unsafe { sys::spin_lock_nested(raw, bindings::SINGLE_DEPTH_NESTING as c_int) };
    // SAFETY: Locked just above.
    unsafe { Guard::new(spin, ()) }
}

/// `sched_process_fork`, in the parent, before the child first runs.
///
/// # Safety
///
/// Called by the tracepoint, with its arguments, while the registry exists.
unsafe extern "C" fn probe_fork(
    _data: *mut c_void,
    parent: *mut bindings::task_struct,
    child: *mut bindings::task_struct,
) {
    // SAFETY: The tracepoint passes live tasks.
    let (ppid, cpid) = unsafe {
        // A new thread is not a new process.
        if !crate::pid::thread_group_leader(child) {
            return;
        }
        (crate::pid::task_tgid(parent), crate::pid::task_tgid(child))
    };
    if ppid.is_null() || cpid.is_null() {
        return;
    }
    // SAFETY: The tasks hold their pids during the probe.
    let (ppid, cpid) = unsafe { (Pid::from_raw(ppid), Pid::from_raw(cpid)) };
    let reg = registry();
    let (pb, cb) = (Registry::index(ppid.addr()), Registry::index(cpid.addr()));
    // Both buckets, in address order: `NOTE_TRACK` adds to the child's.
    let mut first = reg.buckets[pb.min(cb)].lock();
    if pb == cb {
        fork_walk(ppid, cpid, &mut first, None);
    } else {
        let mut second = lock_nested(&reg.buckets[pb.max(cb)]);
        if pb < cb {
            fork_walk(ppid, cpid, &mut first, Some(&mut second));
        } else {
            fork_walk(ppid, cpid, &mut second, Some(&mut first));
        }
        drop(second);
    }
    drop(first);
}

/// The fork of `ppid`'s process into `cpid`'s: tells each `EVFILT_PROC` watch of the parent.
/// `ptree` is the parent's bucket, `ctree` the child's if it is another; both locked.
fn fork_walk(ppid: &Pid, cpid: &Pid, ptree: &mut Tree, mut ctree: Option<&mut Tree>) {
    let mut from = 0;
    while let Some((addr, w)) = next_watch(ptree, ppid.addr(), from) {
        from = addr + 1;
        // SAFETY: Hashed watches are alive while their bucket is locked.
        let w = unsafe { &*w };
        if w.kind != Kind::Proc {
            continue;
        }
        // SAFETY: The watcher's namespace is live (see `Watch::ns`).
        let nr = unsafe { cpid.nr_ns(w.ns) };
        let mut cb = ChildBucket(match ctree.as_deref_mut() {
            Some(t) => t,
            None => &mut *ptree,
        });
        // SAFETY: The knote outlives its hashed watch; `cpid` is live.
        unsafe { filter_proc::forked(w.knote, w, cpid, nr, &mut cb) };
    }
}

/// `sched_process_exec`.
///
/// # Safety
///
/// Called by the tracepoint, with its arguments, while the registry exists.
unsafe extern "C" fn probe_exec(
    _data: *mut c_void,
    p: *mut bindings::task_struct,
    _old_pid: bindings::pid_t,
    _bprm: *mut c_void,
) {
    let notify = |w: &Watch| {
        if w.kind == Kind::Proc {
            // SAFETY: The knote outlives its hashed watch.
            unsafe { filter_proc::exec(w.knote) };
        }
    };
    // SAFETY: The tracepoint passes a live task, while the registry exists.
    unsafe { for_each_watch(p, notify) };
}

/// Calls `f` on every hashed watch of `task`'s thread group, with their bucket locked.
///
/// # Safety
///
/// `task` is live (a probe's argument) and the registry exists.
unsafe fn for_each_watch(task: *mut bindings::task_struct, mut f: impl FnMut(&Watch)) {
    // SAFETY: Per the function's contract.
    let pid = unsafe { crate::pid::task_tgid(task) };
    if pid.is_null() {
        return;
    }
    // SAFETY: The task holds its pid while it is live.
    let pid = unsafe { Pid::from_raw(pid) };
    let tree = registry().bucket(pid).lock();
    let mut from = 0;
    while let Some((addr, w)) = next_watch(&tree, pid.addr(), from) {
        from = addr + 1;
        // SAFETY: Hashed watches are alive while their bucket is locked.
        f(unsafe { &*w });
    }
}

/// `signal_generate`: under `task`'s siglock, interrupts off (any context, hard irq too).
///
/// # Safety
///
/// Called by the tracepoint, with its arguments, while the registry exists.
unsafe extern "C" fn probe_signal(
    _data: *mut c_void,
    sig: c_int,
    _info: *mut c_void,
    task: *mut bindings::task_struct,
    _group: c_int,
    result: c_int,
) {
    // An rt signal the queue had no room for was not generated.
    if result == TRACE_SIGNAL_OVERFLOW_FAIL {
        return;
    }
    // Like FreeBSD, an ignored SIGCHLD is not counted (SIG_DFL is).
    if sig == bindings::SIGCHLD as c_int {
        // SAFETY: `task` is live and its siglock held, which protects its actions.
        let handler = unsafe {
            (*(*task).sighand).action[bindings::SIGCHLD as usize - 1]
                .sa
                .sa_handler
        };
        if handler.map_or(0, |f| f as usize) == SIG_IGN {
            return;
        }
    }
    let notify = |w: &Watch| {
        if w.kind == Kind::Signal && w.sig == sig {
            // SAFETY: The knote outlives its hashed watch.
            unsafe { filter_proc::signal_generated(w.knote) };
        }
    };
    // SAFETY: The tracepoint passes a live task, while the registry exists.
    unsafe { for_each_watch(task, notify) };
}
