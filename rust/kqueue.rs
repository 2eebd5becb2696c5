// SPDX-License-Identifier: GPL-2.0

//! The kqueue object and the `kevent()` engine.
//!
//! # Locking
//!
//! Each kqueue has two main locks. When both are held, they are taken in this order:
//!
//! 1. `state` (mutex): the knote table and every change of a knote's configuration. `kevent()`
//!    holds it while it applies changes and while it collects and copies out events, so changes
//!    and scans of one kqueue are serialised. Waiting for events happens without it. User
//!    memory is read and written under it (as `ep->mtx` in epoll).
//! 2. `ready` (spinlock, interrupts disabled): the ready list and the `KnoteState` of every
//!    knote. Filter callbacks take it in any context, hard interrupts included (hrtimer
//!    expiry). It is held only for short sections that neither sleep nor allocate, and never
//!    across `hrtimer_cancel()`, which waits for a callback that may need it.
//!
//! A third lock, `pending` (spinlock, interrupts disabled), protects the list of knotes a
//! filter's event source created outside the kqueue mutex ([`PendingKnote`]). It is a leaf:
//! nothing is taken under it, and it is held only to push or take the whole list (the push may
//! grow the list with `GFP_ATOMIC`).
//!
//! The wait queue (`waker`) has its own lock; wake-ups happen after `ready` has been released,
//! so the kqueue's locks never nest inside a wait-queue lock of its own. A knote activated from
//! the wait-queue callback of a file that may itself have watchers (an epoll set, a kqueue,
//! anything but a pipe, socket or regular file) wakes the kqueue from an irq_work, so the
//! kqueue's wait-queue lock is only ever taken outside every other wait-queue lock: loops
//! through epoll sets cannot deadlock (see `waker.rs`).
//!
//! The close hook's index lock (`close_hook.rs`) nests inside `state`.
//!
//! Filters' event sources take `ready` inside their own locks, never the other way round: a
//! watched file's wait-queue lock (`filter_fd.rs`), an fsnotify mark's spinlock
//! (`filter_vnode.rs`, whose global mutex `MARKS` nests inside `state`, taken by attach, modify
//! and detach).
//! The process and signal filters' foreign locks are listed in `proc_watch.rs` (bucket locks,
//! a pid's wait-queue lock, siglock).
//!
//! # Ready list
//!
//! A knote whose condition became true is appended to the ready list once (its `ListArc` is the
//! proof that it is queued). A scan pops knotes, asks the filter again (level-triggered: a knote
//! that is no longer active is dropped silently), reports, and appends the knotes that are
//! still active to the tail after the scan: that gives round-robin order among ready knotes.

use core::mem::{size_of, MaybeUninit};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kernel::{
    bindings,
    list::{List, ListArc},
    new_mutex, new_spinlock_irq,
    prelude::*,
    seq_file::{seq_print, SeqFile},
    sync::{barrier, Arc, ArcBorrow, Mutex, MutexGuard, SpinLockIrq},
    task::Task,
    transmute::AsBytes,
    types::Opaque,
    uaccess::{UserPtr, UserSlice, UserSliceWriter},
};

use crate::accounting::{Charger, Resource};
use crate::close_hook;
use crate::fdtable;
use crate::filter::{self, Check, Snapshot};
use crate::knote::{Knote, KnoteKey, KnoteState};
use crate::knote_table::{Entry, KnoteTable, VacantEntry};
use crate::uapi::*;
use crate::waker::Waker;

/// Events copied out per batch during a scan.
const SCAN_BATCH: usize = 16;

/// Knotes a scan takes off the ready list in one section at most (those it drops there
/// included; it keeps at most `SCAN_BATCH`).
const POP_MAX: usize = 4 * SCAN_BATCH;

/// Changes copied in per user copy (FreeBSD's `KQ_NEVENTS`).
const CHANGE_CHUNK: usize = 8;

/// Up to `SCAN_BATCH` items of one scan batch (its events, its candidates with their snapshots,
/// its reported knotes), in order, owned by the batch (dropped with it unless taken out). Only
/// the written entries are ever read, so a scan does not clear the whole array first, and a
/// knote moves through a scan by index instead of through linked lists.
///
/// # Invariants
///
/// `head <= len <= SCAN_BATCH`, and the entries `head..len` of `items` are initialised and
/// owned by the batch.
struct Batch<T> {
    items: [MaybeUninit<T>; SCAN_BATCH],
    head: usize,
    len: usize,
}

impl<T> Batch<T> {
    fn new() -> Self {
        // INVARIANT: Empty.
        Self {
            items: [const { MaybeUninit::uninit() }; SCAN_BATCH],
            head: 0,
            len: 0,
        }
    }

    /// Appends `item`, or gives it back if the batch is full (a scan takes at most
    /// `SCAN_BATCH` knotes, so it never is).
    fn push(&mut self, item: T) -> Result<(), T> {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                slot.write(item);
                // INVARIANT: The entry is written now.
                self.len += 1;
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Takes the first item out.
    fn pop_front(&mut self) -> Option<T> {
        if self.head == self.len {
            return None;
        }
        // SAFETY: `head < len`: the entry is initialised and owned; advancing `head` hands
        // the ownership over (INVARIANT).
        let item = unsafe { self.items.get_unchecked(self.head).assume_init_read() };
        self.head += 1;
        Some(item)
    }

    /// Takes the last item out.
    fn pop_back(&mut self) -> Option<T> {
        if self.head == self.len {
            return None;
        }
        // INVARIANT: The entry at the new `len` is handed over below.
        self.len -= 1;
        // SAFETY: The entry was in `head..len` before the decrement: initialised and owned.
        Some(unsafe { self.items.get_unchecked(self.len).assume_init_read() })
    }

    fn as_slice(&self) -> &[T] {
        // SAFETY: The entries `head..len` are initialised (type invariant), and
        // `MaybeUninit<T>` has the layout of `T`.
        unsafe {
            core::slice::from_raw_parts(
                self.items.as_ptr().add(self.head).cast::<T>(),
                self.len - self.head,
            )
        }
    }
}

impl<T> Drop for Batch<T> {
    fn drop(&mut self) {
        while self.pop_front().is_some() {}
    }
}

/// Knotes listed in `/proc/PID/fdinfo` at most (about 100 bytes each).
const FDINFO_MAX: usize = 4096;

/// Knotes that may wait for registration on a kqueue's pending list (`Kqueue::queue_pending`);
/// beyond that the filter is told the knote was refused.
const MAX_PENDING: usize = 1024;

/// Knotes a `kevent()` call examines for closed descriptors the close hook does not see
/// (`Kqueue::sweep`).
const SWEEP_BATCH: usize = 16;

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before any kqueue exists.
    unsafe(uninit) static NESTING: Mutex<KVec<(usize, usize)>> = KVec::new();
}

/// Initialises the kqueue-nesting registry. Called once, from module init.
pub(crate) fn init() {
    // SAFETY: Called once, before the device is registered.
    unsafe { NESTING.init() };
}

/// Frees the registry's buffer. Called from module exit, when no kqueue is left.
pub(crate) fn fini() {
    *NESTING.lock() = KVec::new();
}

/// State protected by `Kqueue::state`.
pub(crate) struct KqState {
    /// Every registered knote, by (ident, filter).
    knotes: KnoteTable,
    /// Where the next stale-descriptor sweep starts (`Kqueue::sweep`).
    sweep_from: Option<KnoteKey>,
}

/// State protected by `Kqueue::ready`.
pub(crate) struct ReadyState {
    /// Knotes whose condition became true, in the order they became so.
    list: List<Knote, 0>,
    /// Number of knotes in `list`, mirrored in `Kqueue::queued`.
    len: usize,
}

/// A knote a filter's event source created outside the kqueue mutex (`NOTE_TRACK` creates one
/// for each new child process, in the fork probe), waiting on its kqueue's pending list until
/// the next `kevent()` call, or a collection, registers it.
pub(crate) struct PendingKnote {
    /// The new knote, attached and inactive.
    pub(crate) knote: Arc<Knote>,
    /// The knote whose event created it.
    pub(crate) origin: Arc<Knote>,
}

impl PendingKnote {
    /// A knote to register later (its table node is part of it: registering it cannot fail
    /// for want of memory).
    pub(crate) fn new(knote: Arc<Knote>, origin: Arc<Knote>) -> Self {
        Self { knote, origin }
    }
}

impl ReadyState {
    /// Appends `kn` to the ready list.
    fn push(&mut self, queued: &AtomicUsize, kn: ListArc<Knote>) {
        self.list.push_back(kn);
        self.set_len(queued, self.len + 1);
    }

    /// Takes the first knote off the ready list.
    fn pop(&mut self, queued: &AtomicUsize) -> Option<ListArc<Knote>> {
        let kn = self.list.pop_front()?;
        self.set_len(queued, self.len - 1);
        Some(kn)
    }

    /// Appends the `n` knotes of `other` (at the tail, or at the head if `front`).
    fn append(&mut self, queued: &AtomicUsize, other: &mut List<Knote, 0>, n: usize, front: bool) {
        if front {
            other.push_all_back(&mut self.list);
            core::mem::swap(&mut self.list, other);
        } else {
            self.list.push_all_back(other);
        }
        self.set_len(queued, self.len + n);
    }

    /// Takes `kn` off the ready list if it is queued.
    ///
    /// # Safety
    ///
    /// `kn` is in this list or in no list with id 0 (see `List::remove`).
    unsafe fn remove(&mut self, queued: &AtomicUsize, kn: &Knote) -> Option<ListArc<Knote>> {
        // SAFETY: Per the caller's guarantee.
        let item = unsafe { self.list.remove(kn) }?;
        self.set_len(queued, self.len - 1);
        Some(item)
    }

    fn set_len(&mut self, queued: &AtomicUsize, len: usize) {
        self.len = len;
        queued.store(len, Ordering::Relaxed);
    }
}

/// How an activation wakes a thread blocked in `kevent()`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum WakeHow {
    /// At once.
    Now,
    /// At once, as a synchronous wake-up: the waking task is about to sleep (a wake-up of a
    /// watched file's queue with `WF_SYNC`, e.g. a pipe write), so the scheduler may run the
    /// woken task on the waker's CPU, as epoll passes the hint on.
    Sync,
    /// From an irq_work (activations from the wait-queue callback of a file that may have
    /// watchers of its own, see the locking comment at the top).
    Deferred,
}

/// A reference to the thread-group `struct pid` of the process that opened the kqueue.
struct OwnerPid(*mut bindings::pid);

impl OwnerPid {
    /// Takes a reference to the current thread group's pid.
    fn current() -> Self {
        // SAFETY: `current` is a valid task; `get_task_pid` returns a counted reference (or
        // NULL for an exiting task, which `put_pid` accepts).
        Self(unsafe {
            bindings::get_task_pid(Task::current_raw(), bindings::pid_type_PIDTYPE_TGID)
        })
    }

    /// Whether the current task belongs to the thread group this refers to.
    fn is_current(&self) -> bool {
        // Comparing `struct pid` pointers, not numbers: we hold a reference to ours, so it
        // cannot be freed and reused for the current task's while we compare, and the current
        // task's thread-group pid is stable while it runs.
        !self.0.is_null() && ptr::eq(fdtable::current_tgid(), self.0)
    }
}

impl Drop for OwnerPid {
    fn drop(&mut self) {
        // SAFETY: `self.0` is a reference taken by `get_task_pid` (or NULL).
        unsafe { bindings::put_pid(self.0) };
    }
}

// SAFETY: A `struct pid` reference may be dropped from any thread.
unsafe impl Send for OwnerPid {}
// SAFETY: The pointer is only compared, never dereferenced, through `&OwnerPid`.
unsafe impl Sync for OwnerPid {}

/// One kqueue: the private data of one open file of `/dev/kqueue`.
#[pin_data(PinnedDrop)]
pub(crate) struct Kqueue {
    /// Knote table; serialises changes and scans. See the locking comment above.
    #[pin]
    state: Mutex<KqState>,
    /// Ready list and knote states. See the locking comment above.
    #[pin]
    ready: SpinLockIrq<ReadyState>,
    /// Threads blocked in `kevent()` (exclusive waiters) and pollers of the kqueue's file.
    #[pin]
    waker: Waker,
    /// The process that opened the kqueue; only it may use it.
    owner: OwnerPid,
    /// The last descriptor of the kqueue was closed in the owning process. Set once, before
    /// the wake-up that tells blocked threads; read locklessly.
    closed: AtomicBool,
    /// Length of the ready list: written under the ready lock, read locklessly to skip the
    /// lock when nothing is queued. A knote is counted before the wake-up that announces it.
    queued: AtomicUsize,
    /// Knotes created outside the kqueue mutex, to register (`register_pending`).
    #[pin]
    pending: SpinLockIrq<KVec<PendingKnote>>,
    /// Length of `pending`, kept like `queued`.
    npending: AtomicUsize,
    /// Registered knotes whose ident is a descriptor and whose close the close hook does not
    /// see (the ones the sweep looks for). Written under the kqueue mutex, read locklessly by
    /// the idle fast path of `kevent()`.
    unhooked: AtomicUsize,
    /// The close hook found a stale knote it could not remove: the next calls sweep.
    stale_hint: AtomicBool,
}

#[pinned_drop]
impl PinnedDrop for Kqueue {
    fn drop(self: Pin<&mut Self>) {
        // `release` detached every knote before the last reference went away.
    }
}

impl Kqueue {
    /// Creates the kqueue for a new open file, owned by the current process.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            try_pin_init!(Self {
                state <- new_mutex!(
                    KqState { knotes: KnoteTable::new(), sweep_from: None },
                    "kqueue::state"
                ),
                ready <- new_spinlock_irq!(
                    ReadyState {
                        list: List::new(),
                        len: 0,
                    },
                    "kqueue::ready"
                ),
                waker <- Waker::new(),
                owner: OwnerPid::current(),
                closed: AtomicBool::new(false),
                queued: AtomicUsize::new(0),
                pending <- new_spinlock_irq!(KVec::new(), "kqueue::pending"),
                npending: AtomicUsize::new(0),
                unhooked: AtomicUsize::new(0),
                stale_hint: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
    }

    /// The ready lock, for `LockedBy` fields of knotes.
    pub(crate) fn ready_lock(&self) -> &SpinLockIrq<ReadyState> {
        &self.ready
    }

    /// Wakes one exclusive waiter and every poller.
    fn wake(&self) {
        self.waker.wake_one(false);
    }

    /// Wakes every waiter (the kqueue was closed).
    fn wake_all(&self) {
        self.waker.wake_all();
    }

    /// Puts `p` on the pending list and wakes a waiter, which registers it. Any context; gives
    /// `p` back if there is no memory, or if `MAX_PENDING` knotes already wait (an owner that
    /// does not call `kevent()` while its processes fork must not pin unbounded memory).
    pub(crate) fn queue_pending(&self, p: PendingKnote) -> Result<(), PendingKnote> {
        {
            let mut list = self.pending.lock();
            if list.len() >= MAX_PENDING || list.reserve(1, GFP_ATOMIC).is_err() {
                return Err(p);
            }
            list.push_within_capacity(p).map_err(|e| e.0)?;
            self.npending.store(list.len(), Ordering::Relaxed);
        }
        self.wake();
        Ok(())
    }

    /// Takes the whole pending list.
    fn take_pending(&self) -> KVec<PendingKnote> {
        let mut list = self.pending.lock();
        self.npending.store(0, Ordering::Relaxed);
        core::mem::take(&mut *list)
    }

    /// Registers the knotes on the pending list, and queues them. A knote whose key is taken
    /// (an older knote has the same ident) is refused: its filter detaches it and may tell the
    /// knote that created it, if that one is still registered. The kqueue mutex is held.
    fn register_pending(&self, st: &mut KqState) {
        if self.npending.load(Ordering::Relaxed) == 0 {
            return;
        }
        for p in self.take_pending() {
            if st.knotes.insert(p.knote.clone()).is_err() {
                let origin_registered = st
                    .knotes
                    .get(&p.origin.key())
                    .is_some_and(|o| ptr::eq(&*o, &*p.origin));
                p.knote
                    .ops
                    .pending_refused(&p.knote, &p.origin, origin_registered);
                continue;
            }
            p.knote.ops.pending_registered(&p.knote);
        }
    }

    /// Number of queued knotes (`data` of `EVFILT_READ` on a kqueue).
    pub(crate) fn pending(&self) -> i64 {
        i64::try_from(self.queued.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
    }

    /// Records that `watcher` watches the kqueue `target`, or `EINVAL` if that would watch
    /// itself or nest kqueues more than one level (which also rules out loops).
    pub(crate) fn nest(watcher: &Kqueue, target: NonNull<Kqueue>) -> Result {
        let (w, t) = (
            core::ptr::from_ref(watcher) as usize,
            target.as_ptr() as usize,
        );
        let mut edges = NESTING.lock();
        if w == t || edges.iter().any(|&(a, b)| a == t || b == w) {
            return Err(EINVAL);
        }
        edges.push((w, t), GFP_KERNEL)?;
        Ok(())
    }

    /// Forgets one `nest(watcher, target)`.
    pub(crate) fn unnest(watcher: &Kqueue, target: NonNull<Kqueue>) {
        let edge = (
            core::ptr::from_ref(watcher) as usize,
            target.as_ptr() as usize,
        );
        let mut edges = NESTING.lock();
        if let Some(i) = edges.iter().position(|&e| e == edge) {
            let last = edges.len() - 1;
            edges.swap(i, last);
            edges.truncate(last);
        }
    }

    /// Updates `kn`'s state with `update` and queues the knote if it is now reportable.
    ///
    /// Callable from any context, hard interrupts included: it takes only the ready lock and
    /// neither sleeps nor allocates.
    pub(crate) fn activate(&self, kn: ArcBorrow<'_, Knote>, update: impl FnOnce(&mut KnoteState)) {
        self.activate_with(kn, update, WakeHow::Now);
    }

    /// `activate`, with the wake-up done as `how` says.
    pub(crate) fn activate_with(
        &self,
        kn: ArcBorrow<'_, Knote>,
        update: impl FnOnce(&mut KnoteState),
        how: WakeHow,
    ) {
        let queued = {
            let mut rd = self.ready.lock();
            let st = kn.state.access_mut(&mut rd);
            update(st);
            let reportable = !st.disabled && (st.forced || kn.ops.active(st));
            match reportable
                .then(|| ListArc::try_from_arc_borrow(kn))
                .flatten()
            {
                Some(item) => {
                    rd.push(&self.queued, item);
                    true
                }
                // Not reportable, or already queued (or being reported by a scan, which
                // re-checks it before it finishes).
                None => false,
            }
        };
        if queued {
            match how {
                WakeHow::Now => self.wake(),
                WakeHow::Sync => self.waker.wake_one(true),
                WakeHow::Deferred => self.waker.defer(),
            }
        }
    }

    /// `KQUEUE_IOC_KEVENT`: applies the changelist, then collects events.
    pub(crate) fn kevent(&self, arg: usize) -> Result<isize> {
        let args: KeventArgs = UserSlice::new(UserPtr::from_addr(arg), size_of::<KeventArgs>())
            .reader()
            .read()?;
        if args.flags & !KQUEUE_KEVENT_FLAGS != 0
            || args.reserved0 != 0
            || args.reserved != [0; 2]
            || args.nchanges > KQUEUE_MAX_CHANGES
            || args.nevents > KQUEUE_MAX_EVENTS
        {
            return Err(EINVAL);
        }
        let timeout = if args.flags & KQUEUE_KEVENT_TIMEOUT != 0 {
            Some(timespec_to_ns(&args.timeout)?)
        } else {
            None
        };
        if !self.owner.is_current() || self.closed.load(Ordering::Acquire) {
            return Err(EBADF);
        }
        // Both counts are at most 2^20 (checked above), so the byte lengths fit easily.
        let nchanges = args.nchanges as usize;
        let nevents = args.nevents as usize;
        let mut changes = UserSlice::new(
            UserPtr::from_addr(args.changelist as usize),
            nchanges * size_of::<KEvent>(),
        )
        .reader();
        let mut out = UserSlice::new(
            UserPtr::from_addr(args.eventlist as usize),
            nevents * size_of::<KEvent>(),
        )
        .writer();

        // Idle fast path: no changes, nothing queued or waiting for adoption, and no descriptor
        // knote for the sweep to look at. The mutex section below would find nothing to do;
        // skipping it is as if that section had run just before a concurrent activation.
        let idle = nchanges == 0
            && self.queued.load(Ordering::Relaxed) == 0
            && self.npending.load(Ordering::Relaxed) == 0
            && !self.needs_sweep();
        if idle && (nevents == 0 || timeout == Some(0)) {
            return Ok(0);
        }

        // One mutex section applies the changes, sweeps and takes the first look at the ready
        // list; the mutex is dropped only to sleep.
        let mut st = self.state.lock();
        // Children tracked since the last call are known before any change names them.
        self.register_pending(&mut st);
        let mut room = nevents;
        let mut nerrors = 0isize;
        // The caller's user, looked up for the first knote this call creates and reused for
        // the others.
        let mut charger: Option<Charger> = None;
        // The changes are copied in `CHANGE_CHUNK` at a time, as FreeBSD does: one user copy per
        // chunk instead of one per change. (A fault fails the call before the chunk's changes
        // are applied; those of earlier chunks stay applied.)
        let mut chunk = [const { MaybeUninit::<KEvent>::uninit() }; CHANGE_CHUNK];
        let mut left = nchanges;
        while left > 0 {
            let n = left.min(CHANGE_CHUNK);
            left -= n;
            // SAFETY: The first `n` entries of `chunk` as bytes: `n <= CHANGE_CHUNK`, and
            // `MaybeUninit<u8>` has no validity requirement.
            let bytes = unsafe {
                core::slice::from_raw_parts_mut(
                    chunk.as_mut_ptr().cast::<MaybeUninit<u8>>(),
                    n * size_of::<KEvent>(),
                )
            };
            changes.read_raw(bytes)?;
            for slot in chunk.iter().take(n) {
                // SAFETY: `read_raw` wrote the first `n` entries, and every bit pattern is a valid
                // `KEvent` (integers only, `FromBytes`).
                let mut kev: KEvent = unsafe { slot.assume_init_read() };
                if kev.filter == 0 {
                    continue;
                }
                kev.flags &= !EV_SYSFLAGS;
                let res = self.register(&mut st, &kev, &mut charger);
                if res.is_err() || kev.flags & EV_RECEIPT != 0 {
                    if room == 0 {
                        // No room to report it: the first failure fails the whole call.
                        res?;
                        continue;
                    }
                    kev.flags = EV_ERROR;
                    kev.data = match res {
                        Ok(()) => 0,
                        Err(e) => -i64::from(e.to_errno()),
                    };
                    out.write(&kev)?;
                    room -= 1;
                    nerrors += 1;
                }
            }
        }
        if nerrors > 0 {
            return Ok(nerrors);
        }
        self.sweep(&mut st);
        if nevents == 0 {
            return Ok(0);
        }
        let n = self.collect_unlock(st, &mut out, nevents)?;
        if n > 0 || timeout == Some(0) {
            return Ok(n as isize);
        }

        // Deadline on CLOCK_MONOTONIC, for `schedule_hrtimeout_range`.
        let deadline = match timeout {
            // SAFETY: `ktime_get` has no preconditions.
            Some(ns) if ns > 0 => Some(unsafe { bindings::ktime_get() }.saturating_add(ns)),
            _ => None,
        };
        loop {
            let woken = self.wait(deadline)?;
            // After a time-out: one last look, then report what there is (maybe nothing).
            let n = self.collect_unlock(self.state.lock(), &mut out, nevents)?;
            if n > 0 || !woken {
                return Ok(n as isize);
            }
        }
    }

    /// Applies one change. The kqueue mutex is held.
    fn register(&self, st: &mut KqState, kev: &KEvent, charger: &mut Option<Charger>) -> Result {
        let fl = kev.flags;
        if fl & (EV_ENABLE | EV_DISABLE) == EV_ENABLE | EV_DISABLE
            || fl & (EV_ADD | EV_KEEPUDATA) == EV_ADD | EV_KEEPUDATA
        {
            return Err(EINVAL);
        }
        let ops = filter::lookup(kev.filter)?;
        let key = (kev.ident, kev.filter);
        // Every change on a descriptor needs the descriptor open (FreeBSD: EBADF), and a knote
        // left from a file that descriptor referred to before is gone for good.
        let open = !ops.is_fd() || fdtable::fd_of(kev.ident).is_ok_and(fdtable::fd_is_open);
        // One walk of the table: a new knote goes into the slot this lookup found.
        let existing = match st.knotes.entry(key) {
            Entry::Vacant(slot) => {
                if !open {
                    return Err(EBADF);
                }
                return self.add(slot, ops, kev, charger);
            }
            Entry::Occupied(kn) => Arc::from(kn),
        };
        if ops.is_fd() {
            if !open {
                self.drop_stale(st, &existing);
                return Err(EBADF);
            }
            if ops.is_stale(&existing) {
                self.drop_stale(st, &existing);
                let Entry::Vacant(slot) = st.knotes.entry(key) else {
                    // `drop_stale` removed the table's knote with this key.
                    return Err(EBADF);
                };
                return self.add(slot, ops, kev, charger);
            }
        }
        let kn = existing;
        if fl & EV_DELETE != 0 {
            self.drop_knote(st, &kn);
            return Ok(());
        }
        kn.ops.modify(&kn, kev, fl & EV_ADD != 0)?;
        self.activate(kn.as_arc_borrow(), |s| {
            if fl & EV_KEEPUDATA == 0 {
                s.udata = kev.udata;
            }
            if fl & EV_ADD != 0 {
                s.ext = kev.ext;
            }
            if fl & EV_FORCEONESHOT != 0 {
                s.flags |= EV_ONESHOT;
                s.forced = true;
            }
            if fl & EV_DISABLE != 0 {
                s.disabled = true;
            } else if fl & (EV_ENABLE | EV_ADD) != 0 {
                s.disabled = false;
            }
        });
        Ok(())
    }

    /// Creates, attaches and registers the knote for `kev` in the empty table slot `slot`
    /// (`EV_ADD`; `ENOENT` otherwise). The kqueue mutex is held.
    fn add(
        &self,
        slot: VacantEntry<'_>,
        ops: filter::Ops,
        kev: &KEvent,
        charger: &mut Option<Charger>,
    ) -> Result {
        let fl = kev.flags;
        if fl & EV_ADD == 0 || fl & EV_DELETE != 0 {
            return Err(ENOENT);
        }
        // Allocate everything that can fail before the filter attaches.
        let charge = match charger {
            Some(c) => c.charge(Resource::Knote)?,
            None => charger
                .insert(Charger::current()?)
                .charge(Resource::Knote)?,
        };
        let kn = Knote::new_with(self, ops, kev, charge, GFP_KERNEL_ACCOUNT)?;
        let attached = ops.attach(&kn, kev).and_then(|()| self.hook(&kn));
        if let Err(e) = attached {
            // The event source may have queued the knote before the attach failed (a
            // process that exited meanwhile): it must not stay on the ready list, where a
            // scan would take it for the registered knote with the same key.
            // SAFETY: The knote was never registered, so no scan (they hold the kqueue
            // mutex, as we do) has it in a local list.
            drop(unsafe { self.ready.lock().remove(&self.queued, &kn) });
            return Err(e);
        }
        slot.insert(kn.clone());
        if fl & EV_FORCEONESHOT != 0 {
            self.activate(kn.as_arc_borrow(), |s| {
                s.flags |= EV_ONESHOT;
                s.forced = true;
            });
        }
        Ok(())
    }

    /// After a successful `attach` of a descriptor knote: puts the knote in the close hook's
    /// index if it holds a file the hook can see, otherwise
    /// counts it for the sweep. Fails with `EBADF`, detaching the knote, if the descriptor was
    /// closed meanwhile (by another thread, before the index could tell the hook about the
    /// knote). The kqueue mutex is held.
    fn hook(&self, kn: &Arc<Knote>) -> Result {
        if !kn.ops.is_fd() {
            return Ok(());
        }
        let file = kn.file.load(Ordering::Relaxed);
        if file.is_null() || !close_hook::active() {
            self.unhooked.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        close_hook::index(kn);
        // A close that removed the descriptor before the knote was indexed found nothing to
        // do; one that comes later finds the knote. The index lock orders the two, and the
        // full barrier pairs with the probe's (`close_hook::kq_close_probe`): either the probe
        // sees the knote counted, or we see the descriptor gone.
        barrier::smp_mb(barrier::Full);
        if fdtable::fd_of(kn.ident).is_ok_and(|fd| fdtable::fd_is(fd, file)) {
            return Ok(());
        }
        close_hook::unindex(kn);
        kn.ops.detach_deferred(kn);
        Err(EBADF)
    }

    /// Undoes `hook` for a registered knote that is going away, before its detach: takes it
    /// out of the close hook's index, or out of the count of knotes the sweep looks for.
    fn unhook(&self, kn: &Knote) {
        if !kn.ops.is_fd() {
            return;
        }
        let file = kn.file.load(Ordering::Relaxed);
        if close_hook::active() && !file.is_null() {
            close_hook::unindex(kn);
        } else {
            self.unhooked.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether `kevent()` must look for closed descriptors itself (`sweep`).
    fn needs_sweep(&self) -> bool {
        self.unhooked.load(Ordering::Relaxed) != 0 || self.stale_hint.load(Ordering::Relaxed)
    }

    /// The close hook found a stale knote it could not queue for removal.
    pub(crate) fn hint_stale(&self) {
        self.stale_hint.store(true, Ordering::Relaxed);
    }

    /// Whether the process that owns this kqueue is the thread group `tgid` (compared only).
    pub(crate) fn owned_by(&self, tgid: *const bindings::pid) -> bool {
        !self.owner.0.is_null() && ptr::eq(self.owner.0.cast_const(), tgid)
    }

    /// The close hook's task work: unregisters `kn`, whose descriptor was closed, if it is still
    /// registered, and drops its file reference at once (process context, in the closing task).
    pub(crate) fn drop_closed(&self, kn: &Arc<Knote>) {
        let mut st = self.state.lock();
        self.unregister(&mut st, kn, false);
    }

    /// Frees knotes whose descriptor was closed, looking at no more than `SWEEP_BATCH` knotes
    /// per call, from where the previous call stopped. Only needed for descriptor knotes whose
    /// close the close hook does not see (`needs_sweep`): such a closed descriptor's knote goes
    /// within `ceil(knotes / SWEEP_BATCH)` calls, or at once when the knote is woken or changed,
    /// while the cost of a call stays independent of the number of knotes.
    fn sweep(&self, st: &mut KqState) {
        if st.knotes.is_empty() || !self.needs_sweep() {
            return;
        }
        if st.sweep_from.is_none() {
            // A new pass looks at every knote: it covers the hints given so far.
            self.stale_hint.store(false, Ordering::Relaxed);
        }
        let mut stale = KVec::new();
        let mut cursor = match st.sweep_from {
            Some(key) => st.knotes.lower_bound(&key),
            None => st.knotes.first(),
        };
        for _ in 0..SWEEP_BATCH {
            let Some(kn) = cursor else { break };
            if kn.ops.is_stale(&kn) {
                // On allocation failure the knote is simply left for a later sweep.
                let _ = stale.push(Arc::from(kn), GFP_KERNEL);
            }
            cursor = st.knotes.next(&kn);
        }
        st.sweep_from = cursor.map(|kn| kn.key());
        for kn in &stale {
            self.drop_stale(st, kn);
        }
    }

    /// Unregisters `kn` from `kevent()`. If its descriptor no longer refers to its file, the
    /// knote's reference may be the file's last one: it is dropped from a work item, not by
    /// this task (see `kq_pollwatch_destroy`). Otherwise the descriptor keeps the file alive
    /// and the reference is dropped at once, so that a `close()` right after an `EV_DELETE` is
    /// the file's last release (its peer sees EOF at once). The kqueue mutex is held, and `kn`
    /// is in no scan's local list.
    fn drop_knote(&self, st: &mut KqState, kn: &Arc<Knote>) {
        let defer = kn.ops.is_stale(kn);
        self.unregister(st, kn, defer);
    }

    /// `drop_knote` for a knote the caller found stale: its reference goes through the work
    /// item without a second look at the descriptor.
    fn drop_stale(&self, st: &mut KqState, kn: &Arc<Knote>) {
        self.unregister(st, kn, true);
    }

    /// Unregisters `kn`; `defer_put` as in `Filter::detach_deferred`. The kqueue mutex is held,
    /// and `kn` is in no scan's local list.
    fn unregister(&self, st: &mut KqState, kn: &Arc<Knote>, defer_put: bool) {
        // Only the table's own knote is detached and unregistered: another knote with the
        // same key is not this one's business.
        let owned = st.knotes.remove(kn);
        if owned.is_some() {
            self.unhook(kn);
            // After this no callback queues the knote again.
            if defer_put {
                kn.ops.detach_deferred(kn);
            } else {
                kn.ops.detach(kn);
            }
        }
        let queued = {
            let mut rd = self.ready.lock();
            // SAFETY: List id 0 of a knote is only ever used for its kqueue's ready list and
            // for the local lists of a scan; the caller guarantees it is in no local list.
            unsafe { rd.remove(&self.queued, kn) }
        };
        drop(queued);
        drop(owned);
    }

    /// Collects up to `max` events into `out` and releases the kqueue mutex `st`. Returns how
    /// many events were written.
    fn collect_unlock(
        &self,
        mut st: MutexGuard<'_, KqState>,
        out: &mut UserSliceWriter,
        max: usize,
    ) -> Result<usize> {
        self.register_pending(&mut st);
        let mut total = 0usize;
        let mut again = List::<Knote, 0>::new();
        let mut nagain = 0usize;
        // Knotes whose `check` said the condition went away, to decide at the end (see there).
        let mut skipped = List::<Knote, 0>::new();
        // Whether this call took knotes off the ready list: it may then have swallowed the
        // wake-up meant for another waiter (an activation that found the knote taken).
        let mut popped = false;
        // Set when the last report section also did the final one (`finish_scan`): whether
        // knotes are left on the ready list.
        let mut finished = None;
        let mut result = Ok(());
        while total < max {
            if self.queued.load(Ordering::Relaxed) == 0 {
                // Nothing queued (a racing activation wakes its own waiter).
                break;
            }
            let room = max - total;
            let want = SCAN_BATCH.min(room);
            // The knotes to `check` outside the lock, with their events, stamped when they are
            // taken off the list (what `stamp` reads only changes under the kqueue mutex,
            // which we hold), and what their `check` will need of their state.
            let mut cands = Batch::<(ListArc<Knote>, KEvent, Snapshot)>::new();
            let mut empty = true;
            // The events to report and their knotes, in the same order.
            let mut evs = Batch::<KEvent>::new();
            let mut batch = Batch::<ListArc<Knote>>::new();
            {
                let mut rd = self.ready.lock();
                // Knotes kept for this batch, and those of them that count against `want`: a
                // knote back for another look without a new event (`Filter::tracks_wakeups`)
                // usually turns out quiet, so it does not take the place of one that has an
                // event. One such knote beyond `want` is kept at most (in the common case, the
                // one a level-triggered report put back before the new event came): when all
                // turn out reportable, the extra one goes back to the head of the list (below),
                // and a call for one event then polls two knotes, not a whole batch. Knotes
                // dropped under the lock are not kept, but at most `POP_MAX` are taken off per
                // section.
                let limit = (want + 1).min(SCAN_BATCH);
                let (mut kept, mut counted, mut taken) = (0usize, 0usize, 0usize);
                while counted < want && kept < limit && taken < POP_MAX {
                    let Some(kn) = rd.pop(&self.queued) else {
                        break;
                    };
                    taken += 1;
                    empty = false;
                    let s = kn.state.access_mut(&mut rd);
                    if s.disabled {
                        // Dropped under the lock: an activation either saw it queued (it is
                        // disabled, so nothing is lost) or queues it afresh after us.
                        drop(kn);
                        continue;
                    }
                    if !kn.ops.check_under_ready_lock() {
                        let fresh = s.triggered || s.forced || !kn.ops.tracks_wakeups();
                        if !fresh && kn.ops.quiet_now(s) {
                            // Back for another look, and quiet: dropped at once, as its check
                            // and the end of the scan would decide (under the lock, so an
                            // activation from now on queues it afresh).
                            drop(kn);
                            continue;
                        }
                        if fresh {
                            counted += 1;
                        }
                        kept += 1;
                        let mut ev = kn.blank_event();
                        s.stamp(&mut ev);
                        let snap = kn.ops.snapshot(s);
                        // At most `SCAN_BATCH` knotes are kept: there is room.
                        let _ = cands.push((kn, ev, snap));
                        continue;
                    }
                    // Decided here, under the lock, so no activation can race with it.
                    if !(s.forced || kn.ops.active(s)) {
                        drop(kn);
                        continue;
                    }
                    let mut ev = kn.blank_event();
                    kn.ops.report(s, &mut ev);
                    s.stamp(&mut ev);
                    // As above, and these come first, so they are within `room`.
                    let _ = evs.push(ev);
                    let _ = batch.push(kn);
                    counted += 1;
                    kept += 1;
                }
            }
            if empty {
                break;
            }
            popped = true;
            // Ask the other filters, in process context (descriptor filters poll the file).
            while let Some((kn, mut ev, snap)) = cands.pop_front() {
                match kn.ops.check(&kn, &snap, &mut ev) {
                    Check::Report => {
                        // At most `SCAN_BATCH` knotes were kept: there is room.
                        let _ = evs.push(ev);
                        let _ = batch.push(kn);
                    }
                    Check::Skip => skipped.push_back(kn),
                    Check::Stale => {
                        let kn = kn.into_arc();
                        self.drop_stale(&mut st, &kn);
                    }
                }
            }
            if evs.as_slice().len() > room {
                // More reportable knotes than room (the uncounted ones above): the last ones go
                // back to the head of the list, in order, for the next call. They are all
                // checked ones (the knotes decided under the lock come first and were counted),
                // so nothing of their state was consumed.
                while evs.as_slice().len() > room {
                    evs.pop_back();
                }
                self.put_back(&mut batch, room);
            }
            let evs = evs.as_slice();
            let n = evs.len();
            if n == 0 {
                continue;
            }
            if let Err(e) = out.write_slice(evs.as_bytes()) {
                // Nothing of this batch was consumed: put it back at the head, in order.
                self.put_back(&mut batch, 0);
                result = Err(e);
                break;
            }
            total += n;
            let mut dead = List::<Knote, 0>::new();
            {
                let mut rd = self.ready.lock();
                for ev in evs {
                    let Some(kn) = batch.pop_front() else { break };
                    if ev.flags & EV_ONESHOT != 0 {
                        dead.push_back(kn);
                        continue;
                    }
                    let s = kn.state.access_mut(&mut rd);
                    s.forced = false;
                    kn.ops.consume(s, ev);
                    if ev.flags & EV_DISPATCH != 0 {
                        s.disabled = true;
                    }
                    if !s.disabled && kn.ops.requeue_after_report(s) {
                        again.push_back(kn);
                        nagain += 1;
                    } else {
                        // Under the lock, for the same reason as above.
                        drop(kn);
                    }
                }
                // The scan ends here (no room left, or nothing queued): one section for both.
                if total >= max || rd.len == 0 {
                    finished = Some(self.finish_scan(&mut rd, &mut skipped, &mut again, nagain));
                }
            }
            while let Some(kn) = dead.pop_front() {
                let kn = kn.into_arc();
                self.drop_knote(&mut st, &kn);
            }
            if finished.is_some() {
                break;
            }
        }
        let more = match finished {
            Some(more) => more,
            // Nothing taken off the list (the common idle case): no baton to pass.
            None => {
                popped && self.finish_scan(&mut self.ready.lock(), &mut skipped, &mut again, nagain)
            }
        };
        drop(st);
        if more {
            // Pass the baton to another waiter (or to a poller).
            self.wake();
        }
        match result {
            Err(e) if total == 0 => Err(e),
            _ => Ok(total),
        }
    }

    /// Puts the knotes of a scan's `batch` after its first `keep` back at the head of the ready
    /// list, in order (they were taken off it by this scan and not reported).
    fn put_back(&self, batch: &mut Batch<ListArc<Knote>>, keep: usize) {
        let mut back = List::<Knote, 0>::new();
        let mut n = 0usize;
        while batch.as_slice().len() > keep {
            let Some(kn) = batch.pop_back() else { break };
            back.push_front(kn);
            n += 1;
        }
        self.ready.lock().append(&self.queued, &mut back, n, true);
    }

    /// The end of a scan, under the ready lock: decides the knotes whose check found the
    /// condition gone (level-triggered; under the lock, so an activation that raced with the
    /// check, and found the knote taken, is not lost), then puts the `nagain` knotes of `again`
    /// and those of them back on the ready list. Returns whether knotes are queued.
    fn finish_scan(
        &self,
        rd: &mut ReadyState,
        skipped: &mut List<Knote, 0>,
        again: &mut List<Knote, 0>,
        mut nagain: usize,
    ) -> bool {
        while let Some(kn) = skipped.pop_front() {
            let s = kn.state.access_mut(rd);
            if !s.disabled && kn.ops.active(s) {
                again.push_back(kn);
                nagain += 1;
            } else {
                drop(kn);
            }
        }
        rd.append(&self.queued, again, nagain, false);
        rd.len > 0
    }

    /// Sleeps until the ready list is non-empty, the deadline passes (returns `false`), a signal
    /// arrives (`EINTR`) or the kqueue is closed (`EBADF`).
    fn wait(&self, deadline: Option<i64>) -> Result<bool> {
        let entry = Opaque::<bindings::wait_queue_entry>::uninit();
        // SAFETY: `entry` is valid for writes and stays in place until `finish_wait` below.
        unsafe { bindings::init_wait_entry(entry.get(), 0) };
        let task = Task::current_raw();
        let res = loop {
            // SAFETY: `wq` is initialised; `entry` was initialised by `init_wait_entry`.
            unsafe {
                bindings::prepare_to_wait_exclusive(
                    self.waker.wq(),
                    entry.get(),
                    bindings::TASK_INTERRUPTIBLE as i32,
                )
            };
            // `prepare_to_wait_exclusive` set the task state with a full barrier, so a flag
            // set or a knote queued before the matching wake-up is seen here.
            if self.closed.load(Ordering::Acquire) {
                break Err(EBADF);
            }
            if self.queued.load(Ordering::Relaxed) > 0 || self.npending.load(Ordering::Relaxed) > 0
            {
                break Ok(true);
            }
            // SAFETY: `task` is the current task.
            if unsafe { bindings::signal_pending(task) } != 0 {
                break Err(EINTR);
            }
            match deadline {
                None => {
                    // SAFETY: Called in process context with the task state set above.
                    unsafe { bindings::schedule() };
                }
                Some(mut expires) => {
                    // SAFETY: As above; `expires` lives across the call.
                    let left = unsafe {
                        bindings::schedule_hrtimeout_range(
                            &mut expires,
                            0,
                            bindings::hrtimer_mode_HRTIMER_MODE_ABS,
                        )
                    };
                    if left == 0 {
                        break Ok(false);
                    }
                }
            }
        };
        // SAFETY: `entry` was prepared on `wq` above (or already removed by a wake-up).
        unsafe { bindings::finish_wait(self.waker.wq(), entry.get()) };
        res
    }

    /// `->poll` of the kqueue file: readable while knotes are queued.
    pub(crate) fn poll(&self, file: *mut bindings::file, pt: *mut bindings::poll_table) -> u32 {
        // SAFETY: `file` and `pt` come from the VFS; `wq` lives as long as the file.
        unsafe { bindings::poll_wait(file, self.waker.wq(), pt) };
        // Pairs with the barrier in `kq_wake_one` (`wq_has_sleeper`): our queue entry is
        // visible before we look at the ready list, so an activation either sees us or we
        // see its knote.
        barrier::smp_mb(barrier::Full);
        if self.queued.load(Ordering::Relaxed) == 0 && self.npending.load(Ordering::Relaxed) == 0 {
            0
        } else {
            bindings::POLLIN | bindings::POLLRDNORM
        }
    }

    /// `->show_fdinfo`: lists the knotes in `/proc/PID/fdinfo/FD`, at most `FDINFO_MAX`.
    ///
    /// One line per knote, in (ident, filter) order: the registration (`fflags` and `data` as
    /// last given, stored `flags`, `udata`) and its state: `active` (its event fired and was
    /// not reported yet), `queued` (on the ready list), `disabled`. A listing that does not
    /// fit the buffer stops; the seq_file core then calls again with a buffer twice as large.
    pub(crate) fn show_fdinfo(&self, m: *mut bindings::seq_file) {
        // SAFETY: The VFS passes a valid seq_file that only this thread uses during the call.
        let seq = unsafe { SeqFile::from_raw(m) };
        // SAFETY: `m` is valid (as above); `count` and `size` are plain fields.
        let overflowed = || unsafe { (*m).count == (*m).size };
        let st = self.state.lock();
        let total = st.knotes.len();
        seq_print!(seq, "knotes:\t{}\n", total);
        seq_print!(seq, "queued:\t{}\n", self.queued.load(Ordering::Relaxed));
        for (i, kn) in st.knotes.iter().enumerate() {
            if i == FDINFO_MAX {
                seq_print!(seq, "more:\t{}\n", total - i);
                break;
            }
            let (flags, sfflags, sdata, udata, active, queued, disabled) = {
                let mut rd = self.ready.lock();
                // No scan runs (it holds the kqueue mutex), so a knote with a `ListArc` is on
                // the ready list. Making one succeeds only if it is not; the new one is
                // dropped at once, under the ready lock, so no activation sees it.
                let queued = ListArc::try_from_arc_borrow(kn).is_none();
                let s = kn.state.access_mut(&mut rd);
                let active = s.forced || kn.ops.active(s);
                (
                    s.flags, s.sfflags, s.sdata, s.udata, active, queued, s.disabled,
                )
            };
            let state = [
                (active, "active"),
                (queued, "queued"),
                (disabled, "disabled"),
            ];
            seq_print!(
                seq,
                "knote:\tident {} filter {} flags {:#x} fflags {:#x} data {} udata {:#x} state ",
                kn.ident,
                filter::name(kn.filter),
                flags,
                sfflags,
                sdata,
                udata
            );
            let mut any = false;
            for (_, word) in state.iter().filter(|(on, _)| *on) {
                seq_print!(seq, "{}{}", if any { "," } else { "" }, word);
                any = true;
            }
            seq_print!(seq, "{}\n", if any { "" } else { "-" });
            if overflowed() {
                break;
            }
        }
    }

    /// `->flush`: called on every `close()` of a descriptor of the kqueue. When the owning
    /// process closed its last descriptor, threads blocked in `kevent()` are woken with `EBADF`.
    pub(crate) fn flush(&self, file: *mut bindings::file, files: bindings::fl_owner_t) {
        if files.is_null() || !self.owner.is_current() {
            return;
        }
        // SAFETY: `files` is the `files_struct` of the closing task (the VFS passes it as the
        // flush owner id), alive for the duration of the call. `match_file` only compares.
        let still_open = unsafe {
            bindings::iterate_fd(files.cast(), 0, Some(match_file), file as *const c_void)
        } != 0;
        if !still_open {
            self.closed.store(true, Ordering::Release);
            self.wake_all();
        }
    }

    /// `->release`: the file is gone. Detaches and frees every knote.
    pub(crate) fn release(&self) {
        let mut st = self.state.lock();
        for kn in st.knotes.iter() {
            self.unhook(&kn);
            kn.ops.detach(&kn);
        }
        {
            let mut rd = self.ready.lock();
            // Not the last references: the table still holds one of each.
            while rd.pop(&self.queued).is_some() {}
        }
        // Knotes created but not registered. Each came from an event source detached above or
        // in an earlier round, so the list runs dry.
        loop {
            let pending = self.take_pending();
            if pending.is_empty() {
                break;
            }
            for p in pending {
                p.knote.ops.detach(&p.knote);
            }
        }
        // The table's references go last, and under the mutex: a close's task work that waits
        // for it (`drop_closed`) must then find each knote out of the table, not in a tree
        // moved out of the mutex's protection.
        while st.knotes.pop_first().is_some() {}
        drop(st);
    }
}

/// `iterate_fd` callback: whether descriptor `_fd` refers to the file `p`.
///
/// # Safety
///
/// None: the pointers are only compared. (`unsafe` because of the C callback type.)
unsafe extern "C" fn match_file(p: *const c_void, file: *mut bindings::file, _fd: u32) -> i32 {
    i32::from(ptr::eq(file as *const c_void, p))
}

/// Converts a relative timeout to nanoseconds, `EINVAL` if it is not a valid timespec.
pub(crate) fn timespec_to_ns(ts: &KTimespec) -> Result<i64> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(EINVAL);
    }
    Ok(ts
        .tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec))
}

#[kernel::macros::kunit_tests(kqueue_engine)]
mod tests {
    use super::*;

    #[test]
    fn timespec_validation() {
        let ok = |s, ns| {
            timespec_to_ns(&KTimespec {
                tv_sec: s,
                tv_nsec: ns,
            })
        };
        assert_eq!(ok(0, 0), Ok(0));
        assert_eq!(ok(1, 5), Ok(1_000_000_005));
        assert_eq!(ok(0, 999_999_999), Ok(999_999_999));
        assert_eq!(ok(-1, 0), Err(EINVAL));
        assert_eq!(ok(0, -1), Err(EINVAL));
        assert_eq!(ok(0, 1_000_000_000), Err(EINVAL));
        assert_eq!(ok(i64::MAX, 999_999_999), Ok(i64::MAX));
    }

    #[test]
    fn abi_layout() {
        assert_eq!(size_of::<KEvent>(), 64);
        assert_eq!(size_of::<KeventArgs>(), 64);
        assert_eq!(KQUEUE_IOC_KEVENT, 0xc040_b901);
    }
}
