// SPDX-License-Identifier: GPL-2.0

//! Poll watches: a hook on the wait queues of a file, with a wake function of our own.
//!
//! This is what epoll does for each descriptor of an epoll set (`fs/eventpoll.c`): the file's
//! `->poll` is called with a `poll_table` whose queueing callback adds a `wait_queue_entry` to
//! every wait queue the file registers through `poll_wait()`. When one of those queues is
//! woken, the entry's wake function calls the owner's [`PollCallback::woken`] with the poll
//! mask of the wake-up, in atomic context, under that wait queue's lock.
//!
//! `POLLFREE`: a wait queue may go away before the watch (the owner of such a queue wakes it
//! with `POLLFREE` first, and frees it only after an RCU grace period). The wake function then
//! unhooks the entry and clears its queue pointer with release semantics; the watch's teardown
//! reads the pointer with acquire semantics under RCU, so it either sees the queue gone or
//! removes the entry from a queue that is still there.
//!
//! Most files have one wait queue, so the first entry is part of the watch; further ones are
//! allocated while `->poll` registers them (process context).

use core::marker::PhantomPinned;
use core::ptr;
use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{
    bindings,
    fs::File,
    prelude::*,
    sync::aref::ARef,
    sync::{rcu, Arc, ArcBorrow},
    types::Opaque,
};

use crate::sys;

/// `POLLFREE` (`include/uapi/asm-generic/poll.h`: the wait queue is being freed).
pub(crate) const POLLFREE: u32 = 0x4000;

/// The owner of a poll watch: what its wake-ups are delivered to.
pub(crate) trait PollCallback: Send + Sync + Sized {
    /// A watched wait queue was woken with the poll `mask` (0: a wake-up without a key), for a
    /// watch created with `tag`; `sync`: the waker passed `WF_SYNC` (it is about to sleep).
    /// Atomic context, under the woken queue's lock: no sleeping, no allocation.
    fn woken(this: ArcBorrow<'_, Self>, tag: u32, mask: u32, sync: bool);
}

/// One wait queue a watched file registered through `poll_wait()`.
///
/// # Invariants
///
/// While `whead` is not NULL, `wait` is on the wait queue `whead` points to, and that queue is
/// alive: only the `POLLFREE` wake-up, which precedes its freeing by an RCU grace period, and
/// the owning watch's teardown take the entry off and clear `whead`. Once hooked, the
/// `private` field of `wait` (which the wait-queue code leaves to the wake function) points to
/// the watch this entry belongs to, which outlives the entry.
#[repr(C)]
struct PollEntry<T: PollCallback> {
    wait: Opaque<bindings::wait_queue_entry>,
    whead: AtomicPtr<bindings::wait_queue_head>,
    /// Further entries of the same watch (allocated ones, owned through `KBox::into_raw`).
    next: *mut PollEntry<T>,
    _pin: PhantomPinned,
    _owner: core::marker::PhantomData<PollWatch<T>>,
}

/// The `poll_table` a watch registers with, on the stack of [`PollWatch::new`] while `->poll`
/// runs: `queue_proc` finds the watch from it.
#[repr(C)]
struct Registration<T: PollCallback> {
    pt: Opaque<bindings::poll_table_struct>,
    watch: *mut PollWatch<T>,
}

/// A hook on the wait queues of a file on behalf of an `Arc<T>`.
///
/// Created with [`PollWatch::new`]; dropping it takes every entry off its wait queue, after
/// which no wake-up reaches the owner any more, then drops the file reference and the owner.
///
/// The watch holds a counted reference to its owner. An owner that keeps its watch (a knote
/// keeps it in its state) makes a reference cycle, which the owner must break by dropping the
/// watch when it is done with it (a knote's `detach`), or both leak.
///
/// # Invariants
///
/// `first` is the first entry if `hooked` is set; `first.next` chains the allocated ones.
///
/// With a knote as owner, a watch takes 96 bytes (kmalloc-96): keep it that small (the poll
/// table lives on the stack of [`PollWatch::new`], an entry finds its watch through its wait
/// entry's `private`).
#[pin_data(PinnedDrop)]
pub(crate) struct PollWatch<T: PollCallback> {
    #[pin]
    first: PollEntry<T>,
    hooked: bool,
    /// Set if `->poll` registered a queue that no entry could be allocated for.
    error: bool,
    tag: u32,
    owner: Arc<T>,
    file: ARef<File>,
    /// Links the watch into the deferred-put list (see [`PollWatch::drop_deferred`]).
    put: DeferredDrop,
}

// SAFETY: The raw pointers are to the watch's own entries (owned by it) and, on the deferred
// list, to other watches handed over with it; the owner and the file are `Send + Sync`.
unsafe impl<T: PollCallback> Send for PollWatch<T> {}
// SAFETY: Shared references read `file`, `owner` and `tag`, which do not change after
// creation, and `unhook` changes the entries: `whead` is atomic, and the wait-queue links are
// changed only under the queue's lock (by `remove_wait_queue` or the wake function).
unsafe impl<T: PollCallback> Sync for PollWatch<T> {}

impl<T: PollCallback> PollWatch<T> {
    /// Hooks `owner` onto the wait queues of `file` and returns the watch and the file's
    /// current poll mask. `tag` is given back to every [`PollCallback::woken`] call. Process
    /// context.
    pub(crate) fn new(file: ARef<File>, owner: Arc<T>, tag: u32) -> Result<(Pin<KBox<Self>>, u32)> {
        let mut watch = KBox::pin_init(
            pin_init!(Self {
                first: PollEntry::new(),
                hooked: false,
                error: false,
                tag,
                owner,
                file,
                put: DeferredDrop::new(drop_boxed::<T>),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        // `queue_proc` writes the watch through the pointer in the registration: derive it
        // from one mutable pointer to the whole watch, which is not moved.
        // SAFETY: The watch stays pinned: only raw pointers are made from it here.
        let this: *mut Self = unsafe { Pin::get_unchecked_mut(watch.as_mut()) };
        let reg = Registration {
            pt: Opaque::new(bindings::poll_table_struct {
                _qproc: Some(queue_proc::<T>),
                _key: !0,
            }),
            watch: this,
        };
        // SAFETY: `this` is valid.
        let file = unsafe { (*this).file.as_ptr() };
        // SAFETY: The file is held by the watch; `reg` outlives the call, and `queue_proc`
        // (matching `poll_queue_proc`) only runs during it, on this thread.
        let mask = unsafe { sys::vfs_poll(file, reg.pt.get()) };
        // SAFETY: `vfs_poll` has returned; `error` is only written by `queue_proc`.
        if unsafe { (*this).error } {
            // Dropping unhooks what was hooked.
            return Err(ENOMEM);
        }
        Ok((watch, mask))
    }

    /// The watched file.
    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    /// Polls the file again, without queueing anything.
    pub(crate) fn poll(&self) -> u32 {
        // SAFETY: The file is held by the watch; a NULL table only asks for the mask.
        unsafe { sys::vfs_poll(self.file.as_ptr(), ptr::null_mut()) }
    }

    /// Takes every entry off its wait queue. Idempotent.
    fn unhook(&self) {
        if !self.hooked {
            return;
        }
        let mut pe: *const PollEntry<T> = &self.first;
        while !pe.is_null() {
            // SAFETY: `pe` is `first` or an allocated entry of the chain (type invariant),
            // alive until the watch frees it.
            let entry = unsafe { &*pe };
            let guard = rcu::read_lock();
            // Pairs with the release store in `wake_fn` on POLLFREE.
            let whead = entry.whead.load(Ordering::Acquire);
            if !whead.is_null() {
                // SAFETY: By the `PollEntry` invariant the entry is on the live queue `whead`;
                // the RCU read lock keeps a queue that is being freed (POLLFREE) alive.
                unsafe { bindings::remove_wait_queue(whead, entry.wait.get()) };
                entry.whead.store(ptr::null_mut(), Ordering::Relaxed);
            }
            drop(guard);
            pe = entry.next;
        }
    }

    /// Drops the watch, but leaves the last reference to the file to a work item.
    ///
    /// A `kevent()` call must not do the last `fput()` of a file itself: the kernel defers that
    /// to the caller's return to user space, so an event the release causes (a peer's EOF)
    /// could not wake the same call if it went to sleep first.
    pub(crate) fn drop_deferred(this: Pin<KBox<Self>>) {
        this.unhook();
        // SAFETY: The watch is not moved out of its box: it is leaked as a pointer, and boxed
        // again (pinned) by `drop_boxed::<T>`, which drops it in place.
        let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(this) });
        // SAFETY: `raw` is a live watch that nothing else refers to any more; its `put` node
        // was made for `drop_boxed::<T>`, which matches its type.
        unsafe { deferred_push(&raw mut (*raw).put) };
    }
}

impl<T: PollCallback> PollEntry<T> {
    fn new() -> Self {
        Self {
            wait: Opaque::uninit(),
            whead: AtomicPtr::new(ptr::null_mut()),
            next: ptr::null_mut(),
            _pin: PhantomPinned,
            _owner: core::marker::PhantomData,
        }
    }
}

/// Drops the boxed `PollWatch<T>` whose `put` node is `node`.
///
/// # Safety
///
/// `node` is the `put` field of a `PollWatch<T>` leaked by [`PollWatch::drop_deferred`].
unsafe fn drop_boxed<T: PollCallback>(node: *mut DeferredDrop) {
    // SAFETY: Per the contract `node` is inside a leaked, still pinned `PollWatch<T>`.
    let watch = unsafe { kernel::container_of!(node, PollWatch<T>, put) };
    // SAFETY: The watch came from `KBox::into_raw` and is owned by the list, which hands it
    // over here once.
    drop(unsafe { Pin::new_unchecked(KBox::from_raw(watch)) });
}

/// A node of the deferred-drop list: what a work item drops later, and how.
///
/// # Invariants
///
/// While on the list, `next` is the next node (or NULL) and `drop_fn` is safe to call once on
/// the node.
pub(crate) struct DeferredDrop {
    next: *mut DeferredDrop,
    drop_fn: unsafe fn(*mut DeferredDrop),
}

impl DeferredDrop {
    const fn new(drop_fn: unsafe fn(*mut DeferredDrop)) -> Self {
        Self {
            next: ptr::null_mut(),
            drop_fn,
        }
    }
}

/// The deferred-drop list (a lock-free stack, as `llist`: pushed from any context, taken
/// whole by the work item).
static DEFERRED: AtomicPtr<DeferredDrop> = AtomicPtr::new(ptr::null_mut());

/// The work item that empties [`DEFERRED`], set up by [`init`].
struct StaticWork(Opaque<bindings::work_struct>);
// SAFETY: The work item is set up once, in module init, before any use, and then only handed
// to the workqueue functions, which synchronise internally.
unsafe impl Sync for StaticWork {}
static DEFERRED_WORK: StaticWork = StaticWork(Opaque::uninit());

/// Sets up the deferred-drop work item. Called once, from module init.
pub(crate) fn init() {
    // SAFETY: Called once, before any watch exists; the key is static.
    unsafe {
        bindings::init_work_with_key(
            DEFERRED_WORK.0.get(),
            Some(deferred_workfn),
            false,
            c"kqueue_deferred_put".as_char_ptr(),
            kernel::static_lock_class!().as_ptr(),
        )
    };
}

/// Waits until every deferred drop has run. Called from module exit, when no watch is left.
pub(crate) fn fini() {
    // SAFETY: `init` set the work item up.
    unsafe { bindings::flush_work(DEFERRED_WORK.0.get()) };
}

/// Puts `node` on the deferred list and makes sure the work item runs.
///
/// # Safety
///
/// `node` satisfies the `DeferredDrop` invariant once linked, and is not on the list yet.
unsafe fn deferred_push(node: *mut DeferredDrop) {
    let mut head = DEFERRED.load(Ordering::Relaxed);
    loop {
        // SAFETY: The node is ours until the exchange below publishes it.
        unsafe { (*node).next = head };
        match DEFERRED.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(h) => head = h,
        }
    }
    if head.is_null() {
        // SAFETY: `init` set the work item up; queueing an already queued item is a no-op.
        unsafe {
            bindings::queue_work_on(
                bindings::wq_misc_consts_WORK_CPU_UNBOUND as i32,
                bindings::system_wq,
                DEFERRED_WORK.0.get(),
            )
        };
    }
}

/// Runs the deferred drops. Process context (a kworker).
///
/// # Safety
///
/// Called by the workqueue for [`DEFERRED_WORK`] only.
unsafe extern "C" fn deferred_workfn(_work: *mut bindings::work_struct) {
    // Pairs with the release in `deferred_push`.
    let mut node = DEFERRED.swap(ptr::null_mut(), Ordering::Acquire);
    while !node.is_null() {
        // SAFETY: Nodes on the list satisfy the `DeferredDrop` invariant; the list gave this
        // one to us alone. `next` is read before the drop frees the node.
        unsafe {
            let next = (*node).next;
            ((*node).drop_fn)(node);
            node = next;
        }
    }
}

#[pinned_drop]
impl<T: PollCallback> PinnedDrop for PollWatch<T> {
    fn drop(self: Pin<&mut Self>) {
        self.unhook();
        let mut next = self.first.next;
        while !next.is_null() {
            // SAFETY: Allocated entries were leaked by `queue_proc` with `KBox::into_raw` and
            // are unhooked now: nothing else refers to them.
            let entry = unsafe { KBox::from_raw(next) };
            next = entry.next;
        }
    }
}

/// Sets up `wait` as a wait-queue entry with the wake function `func` and no task (C's
/// `init_waitqueue_func_entry()`).
///
/// # Safety
///
/// `wait` is valid for writes and not on any wait queue.
pub(crate) unsafe fn init_wait_entry(
    wait: *mut bindings::wait_queue_entry,
    func: unsafe extern "C" fn(*mut bindings::wait_queue_entry, u32, i32, *mut c_void) -> i32,
) {
    // SAFETY: Per the contract.
    unsafe {
        (*wait).flags = 0;
        (*wait).private = ptr::null_mut();
        (*wait).func = Some(func);
    }
}

/// The `poll_table` callback: `file` registers `whead`. Process context, inside `vfs_poll()`.
///
/// # Safety
///
/// `pt` is the table of the `Registration<T>` of a `PollWatch<T>` being created by
/// [`PollWatch::new`].
unsafe extern "C" fn queue_proc<T: PollCallback>(
    _file: *mut bindings::file,
    whead: *mut bindings::wait_queue_head,
    pt: *mut bindings::poll_table_struct,
) {
    // SAFETY: Per the contract `pt` is the `pt` field of a live `Registration<T>`, whose
    // `watch` is a live, pinned `PollWatch<T>`, which `PollWatch::new` does not touch while
    // `vfs_poll` runs. Only the fields this function owns during `vfs_poll` (`hooked`,
    // `error`, the chain) are written, through the raw pointer: wake functions of already
    // hooked entries may read `owner` and `tag` meanwhile.
    let watch = unsafe {
        let reg = kernel::container_of!(
            pt.cast::<Opaque<bindings::poll_table_struct>>(),
            Registration<T>,
            pt
        );
        (*reg).watch
    };
    // SAFETY: See above.
    let pe: *mut PollEntry<T> = if !unsafe { (*watch).hooked } {
        // SAFETY: See above.
        unsafe {
            (*watch).hooked = true;
            &raw mut (*watch).first
        }
    } else {
        let entry = KBox::new(PollEntry::new(), GFP_KERNEL_ACCOUNT);
        let Ok(entry) = entry else {
            // SAFETY: See above.
            unsafe { (*watch).error = true };
            return;
        };
        let raw = KBox::into_raw(entry);
        // SAFETY: `raw` is a fresh allocation; it joins the chain the watch frees.
        unsafe {
            (*raw).next = (*watch).first.next;
            (*watch).first.next = raw;
        }
        raw
    };
    // SAFETY: `pe` is an entry of the watch, not on any queue yet. `whead` is a live queue
    // (the file's, held by the watch). INVARIANT: `whead` is set to the queue the entry joins.
    // INVARIANT: `private` is set to the watch before the entry is hooked.
    unsafe {
        (*pe).whead.store(whead, Ordering::Relaxed);
        let wait = (*pe).wait.get();
        init_wait_entry(wait, wake_fn::<T>);
        (*wait).private = watch.cast();
        bindings::add_wait_queue(whead, wait);
    }
}

/// The wake function of a watch's entries. Atomic context, under the woken queue's lock.
///
/// # Safety
///
/// `wait` is the `wait` field of a hooked `PollEntry<T>`.
unsafe extern "C" fn wake_fn<T: PollCallback>(
    wait: *mut bindings::wait_queue_entry,
    _mode: u32,
    wake_flags: i32,
    key: *mut c_void,
) -> i32 {
    // Only raw-pointer projections: `queue_proc` may be writing other fields of the entry and
    // of the watch meanwhile (it is still registering queues), so no reference to either is
    // made, only to the fields read here, which do not change after creation.
    let pe = wait.cast::<PollEntry<T>>();
    // SAFETY: Per the contract, `wait` is inside a `PollEntry<T>` (`wait` is its first field);
    // by the `PollEntry` invariant its `private` is its watch, which outlives it and holds the
    // owner.
    let (whead, owner, tag) = unsafe {
        let watch = (*wait).private.cast::<PollWatch<T>>().cast_const();
        (&(*pe).whead, &(*watch).owner, (*watch).tag)
    };
    let mask = key as usize as u32;
    // The third argument of a wake function is the waker's `WF_*` flags; `__wake_up_sync_key`
    // and its kin pass `WF_SYNC`. Any flag counts as the hint, as in epoll's callback.
    T::woken(owner.as_arc_borrow(), tag, mask, wake_flags != 0);
    if mask & POLLFREE != 0 {
        // SAFETY: We hold the queue's lock (we are its wake function) and the entry is on it.
        unsafe { sys::list_del_init(&raw mut (*wait).entry) };
        // Must be the last access to the entry: the teardown may free it next.
        whead.store(ptr::null_mut(), Ordering::Release);
    }
    0
}

// A registered descriptor's watch fits in kmalloc-96 (see `PollWatch`).
const _: () = assert!(core::mem::size_of::<PollWatch<crate::knote::Knote>>() <= 96);
