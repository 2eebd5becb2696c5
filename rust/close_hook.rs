// SPDX-License-Identifier: GPL-2.0

//! The close() hook: descriptor knotes go away when their descriptor is closed.
//!
//! kqueue is keyed by descriptor, and FreeBSD removes a descriptor's knotes inside `close()`.
//! A module has no close hook of its own, so the module probes the one exported function that
//! every close of a descriptor passes through with the file and the closing descriptor table:
//! `locks_remove_posix(file, files)`, which `filp_flush()` calls for every file that is not an
//! `O_PATH` one (`close()`, `close_range()`, `dup2()` over a descriptor, close-on-exec, the exit
//! of the last user of a descriptor table). The probe (`kq_close_probe`, the entry handler of
//! the fprobe [`CLOSE_FPROBE`]) runs in atomic context in the closing task:
//!
//! 1. It looks the file up in the index of hooked knotes (`INDEX`: every knote that holds a
//!    reference to a file, in a red-black tree by file, linked through the knotes' own
//!    `index_node`, so indexing allocates nothing). Nothing is done, and no lock taken, while
//!    no knote is indexed.
//! 2. A knote is stale when the closing task belongs to the process that owns its kqueue and
//!    its descriptor no longer refers to the file (another descriptor of the same file keeps it
//!    alive), or when that process's descriptor table is being torn down (exit).
//! 3. A stale knote is queued, once, as a task work of the closing task
//!    (`task_work_add(TWA_RESUME)`): it runs in process context before `close()` returns to
//!    user space (or during exit), takes the kqueue mutex and unregisters the knote. Its
//!    `fput()` is then the file's last one, and the file is released before `close()`
//!    returns: a peer sees EOF, a pipe writer `EPIPE`, a `flock` lock is released.
//!
//! A knote whose close the hook cannot see (the probe could not be registered, an `O_PATH`
//! descriptor of `EVFILT_VNODE`, a pidfd of `EVFILT_PROCDESC`, a task work that could not be
//! queued) is found by the bounded sweep of `kevent()` instead (`Kqueue::sweep`), as before.
//!
//! # Locking
//!
//! `INDEX` (a raw spinlock, `sync.rs`) nests inside the kqueue mutex (attach and detach hold it)
//! and is taken by the probe with no other lock of the module held. It is never held across an
//! allocation, a free or a sleep. An indexed knote is alive and owned by an `Arc`: its
//! kqueue's table holds a reference to it (or, from `Kqueue::hook` until the knote is put in
//! the table, the registering call does, under the kqueue mutex, and unindexes it if the
//! registration fails). Its kqueue is alive (it detaches, and so unindexes, every knote before
//! it goes away): under `INDEX` the probe may take references to both. An indexed
//! knote's `file` does not change: `attach` sets it before the knote is indexed, and `detach`
//! clears it after the knote was taken out (`Kqueue::hook`, `Kqueue::unhook`).

use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use kernel::{
    bindings,
    prelude::*,
    sync::{Arc, ArcBorrow},
    task::Task,
    types::Opaque,
};

use crate::fdtable;
use crate::filter_fd::fd_of;
use crate::knote::Knote;
use crate::knote_table::{clear_node, is_linked, link_node, lower_bound_by};
use crate::kqueue::Kqueue;
use crate::sys;

/// The root of the index: a red-black tree of knotes ordered by the address of their file
/// (knotes of the same file in the order they were indexed), linked through
/// `Knote::index_node`.
///
/// # Invariants
///
/// Every node in the tree is the `index_node` of a knote that is indexed (module comment:
/// alive, registered, with a constant `file`).
pub(crate) struct Index(bindings::rb_root);

// SAFETY: The tree's nodes are knotes, which are `Send + Sync`; the tree itself is only used
// under `INDEX`.
unsafe impl Send for Index {}

crate::sync::raw_global_lock! {
    // `init` is called in the module initializer, before any knote exists. A raw spinlock:
    // the probe runs with preemption disabled, also on PREEMPT_RT. Nothing allocates or frees
    // under it.
    static INDEX: Index = Index(bindings::rb_root { rb_node: ptr::null_mut() });
}

/// The knote whose `index_node` is `node`.
///
/// # Safety
///
/// `node` is the `index_node` of a live knote.
unsafe fn knote_of(node: *mut bindings::rb_node) -> *const Knote {
    // SAFETY: Per the contract.
    unsafe { kernel::container_of!(node.cast::<Opaque<bindings::rb_node>>(), Knote, index_node) }
}

/// The index key of the knote whose `index_node` is `node`: its file's address.
///
/// # Safety
///
/// `node` is in the index, and `INDEX` is held.
unsafe fn key_of(node: *mut bindings::rb_node) -> usize {
    // SAFETY: By the `Index` invariant the knote is alive.
    unsafe { (*knote_of(node)).file.load(Ordering::Relaxed) as usize }
}

/// Number of indexed knotes: the probe returns at once while it is zero.
static INDEXED: AtomicUsize = AtomicUsize::new(0);

/// Whether the probe is registered.
static HOOKED: AtomicBool = AtomicBool::new(false);

/// The fprobe on `locks_remove_posix()`. Written by `register_fprobe()` and
/// `unregister_fprobe()` only, between `init` and `fini`.
struct StaticFprobe(kernel::types::Opaque<sys::fprobe>);
// SAFETY: The fprobe is only handed to the fprobe core, which serialises its own accesses.
unsafe impl Sync for StaticFprobe {}

#[cfg(all(CONFIG_FPROBE, CONFIG_FILE_LOCKING))]
static CLOSE_FPROBE: StaticFprobe = StaticFprobe(kernel::types::Opaque::new(sys::fprobe {
    nmissed: 0,
    flags: 0,
    entry_data_size: 0,
    entry_handler: Some(close_entry),
    exit_handler: None,
    hlist_array: ptr::null_mut(),
}));

/// The fprobe entry handler: `locks_remove_posix(file, files)` is being called.
///
/// # Safety
///
/// Called by the fprobe core at the entry of `locks_remove_posix()`, with its arguments in
/// `fregs`.
#[cfg(all(CONFIG_FPROBE, CONFIG_FILE_LOCKING))]
unsafe extern "C" fn close_entry(
    _fp: *mut sys::fprobe,
    _entry_ip: usize,
    _ret_ip: usize,
    fregs: *mut bindings::ftrace_regs,
    _data: *mut c_void,
) -> i32 {
    // SAFETY: `fregs` holds the probed function's arguments (the contract).
    let (file, files) = unsafe {
        (
            sys::ftrace_regs_get_argument(fregs, 0),
            sys::ftrace_regs_get_argument(fregs, 1),
        )
    };
    // SAFETY: The arguments of `locks_remove_posix()`: a live file and a descriptor table.
    unsafe { kq_close_probe(file as *mut bindings::file, files as *mut c_void) };
    0
}

/// Registers [`CLOSE_FPROBE`]; an errno if the kernel cannot (no FPROBE, or no file locking,
/// where `locks_remove_posix()` is an empty inline).
fn register() -> i32 {
    #[cfg(all(CONFIG_FPROBE, CONFIG_FILE_LOCKING))]
    {
        // SAFETY: The fprobe is static and registered once (`init`); `fini` unregisters it.
        unsafe {
            sys::register_fprobe(
                CLOSE_FPROBE.0.get(),
                c"locks_remove_posix".as_char_ptr(),
                ptr::null(),
            )
        }
    }
    #[cfg(not(all(CONFIG_FPROBE, CONFIG_FILE_LOCKING)))]
    {
        -(bindings::EOPNOTSUPP as i32)
    }
}

/// Unregisters [`CLOSE_FPROBE`]; when it returns, no handler runs any more.
fn unregister() {
    #[cfg(all(CONFIG_FPROBE, CONFIG_FILE_LOCKING))]
    // SAFETY: Registered by `register` (the caller checked `HOOKED`).
    unsafe {
        sys::unregister_fprobe(CLOSE_FPROBE.0.get())
    };
}

/// Task works queued and not finished yet (module exit waits for them: their function is in
/// the module's text).
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Registers the probe. Called once, from module init; failure is not fatal (the module falls
/// back to the sweep).
pub(crate) fn init() {
    // SAFETY: Called once, before any knote exists.
    unsafe { INDEX.init() };
    let ret = register();
    if ret == 0 {
        HOOKED.store(true, Ordering::Release);
    } else {
        pr_info!(
            "no close() hook (error {}): closed descriptors are found by kevent()\n",
            ret
        );
    }
}

/// Unregisters the probe and waits for every task work it queued. Module exit, when no kqueue
/// is left.
pub(crate) fn fini() {
    if HOOKED.swap(false, Ordering::AcqRel) {
        unregister();
    }
    while PENDING.load(Ordering::Acquire) != 0 {
        // SAFETY: Process context; sleeping is allowed.
        unsafe { bindings::msleep(1) };
    }
    // A task work that has just decremented `PENDING` may still be returning through the
    // module's text: wait until every task has passed a quiescent state.
    // SAFETY: Process context.
    unsafe { bindings::synchronize_rcu() };
    #[cfg(CONFIG_TASKS_RCU)]
    // SAFETY: Process context. Covers a preempted task work (preemptible kernels).
    unsafe {
        bindings::synchronize_rcu_tasks()
    };
    // No kqueue is left, so the tree is empty; its nodes were the knotes' own.
}

/// Whether closes are seen by the probe. If not, every descriptor knote is left to the sweep.
pub(crate) fn active() -> bool {
    HOOKED.load(Ordering::Acquire)
}

/// Adds `kn`, registered and holding a reference to the file in its `file`, to the index.
/// The kqueue mutex is held.
pub(crate) fn index(kn: &Knote) {
    let node = kn.index_node.get();
    let key = kn.file.load(Ordering::Relaxed) as usize;
    let mut guard = INDEX.lock();
    let root: *mut bindings::rb_root = &raw mut guard.0;
    // SAFETY: We hold `INDEX`, so the tree is ours to change; its nodes are indexed knotes
    // (`Index` invariant). `node` is `kn`'s own, and in no tree: only this function indexes a
    // knote, once, after `attach` (`Kqueue::hook`). INVARIANT: `kn` is alive and registered
    // while indexed (module comment), and its key is its `file`.
    unsafe {
        let mut link: *mut *mut bindings::rb_node = &raw mut (*root).rb_node;
        let mut parent = ptr::null_mut();
        while !(*link).is_null() {
            parent = *link;
            link = if key < key_of(parent) {
                &raw mut (*parent).rb_left
            } else {
                &raw mut (*parent).rb_right
            };
        }
        link_node(node, parent, link);
        bindings::rb_insert_color(node, root);
    }
    INDEXED.fetch_add(1, Ordering::Relaxed);
}

/// Removes `kn` from the index if it is there; after this the probe does not find it. The
/// kqueue mutex is held.
pub(crate) fn unindex(kn: &Knote) {
    let node = kn.index_node.get();
    let mut guard = INDEX.lock();
    if !is_linked(&kn.index_node) {
        return;
    }
    // SAFETY: We hold `INDEX`, and `node` is in the tree (checked above).
    unsafe {
        bindings::rb_erase(node, &raw mut guard.0);
        clear_node(node);
    }
    drop(guard);
    INDEXED.fetch_sub(1, Ordering::Relaxed);
}

/// The fprobe handler: `file` is being closed by the descriptor table `files`.
///
/// # Safety
///
/// Called from the entry of `locks_remove_posix(file, files)`: `file` is a live file; `files`
/// is only compared.
unsafe fn kq_close_probe(file: *mut bindings::file, files: *mut c_void) {
    // The descriptor is out of the table already; the full barrier pairs with the one in
    // `Kqueue::hook`, which counts a knote in `INDEXED` and then looks at the descriptor.
    kernel::sync::barrier::smp_mb(kernel::sync::barrier::Full);
    if INDEXED.load(Ordering::Relaxed) == 0 || files == file.cast() {
        // No knote anywhere, or the final release of a file (`locks_remove_file`).
        return;
    }
    let own_table = fdtable::is_current_table(files);
    // The last task of a process tears its table down after detaching it from the task: every
    // descriptor of that table is going away.
    let exiting = !own_table && fdtable::table_gone();
    if !own_table && !exiting {
        // Some other table (an unshared copy being dropped): not the one the kqueues use.
        return;
    }
    let owner = fdtable::current_tgid();
    let key = file as usize;
    let guard = INDEX.lock();
    // The leftmost node with this key, then its successors while they have it.
    // SAFETY: We hold `INDEX`; the nodes of the tree are the `index_node`s of indexed knotes,
    // alive while they are in it (`Index` invariant).
    let first = unsafe { lower_bound_by(&raw const guard.0, &key, |n| key_of(n)) };
    let mut n = first;
    while !n.is_null() {
        // SAFETY: See above.
        let kn = unsafe { &*knote_of(n) };
        if kn.file.load(Ordering::Relaxed) as usize != key {
            break;
        }
        let stale = kn.kq().owned_by(owner)
            && (exiting || fd_of(kn.ident).map_or(true, |fd| !fdtable::fd_is(fd, file)));
        if stale {
            queue_removal(kn);
        }
        // SAFETY: See above.
        n = unsafe { bindings::rb_next(n) };
    }
    drop(guard);
}

/// Queues the removal of `kn` as a task work of the current task. Atomic context, index lock
/// held.
fn queue_removal(kn: &Knote) {
    if kn.closing.swap(true, Ordering::AcqRel) {
        return;
    }
    // SAFETY: The knote is indexed, so its kqueue is alive and owned by an `Arc` whose count
    // cannot drop to zero while we hold the index lock (module comment).
    let kq: Arc<Kqueue> = unsafe { ArcBorrow::from_raw(kn.kq_ptr()) }.into();
    // SAFETY: The knote is indexed, so it is alive and owned by an `Arc` (module comment).
    let kn_ref: Arc<Knote> = unsafe { ArcBorrow::from_raw(ptr::from_ref(kn)) }.into();
    // The task work owns this reference to the kqueue; it finds it again through `kn.kq_ptr()`.
    let kq_raw = Arc::into_raw(kq);
    let head = kn.close_work.get();
    // SAFETY: `head` is the knote's own callback head, unused until now (`closing` was false),
    // and it stays valid while the task work holds the reference taken below.
    unsafe { (*head).func = Some(close_work) };
    let raw = Arc::into_raw(kn_ref);
    PENDING.fetch_add(1, Ordering::AcqRel);
    // SAFETY: Kernel threads never run task works; otherwise `head` is initialised above and
    // the current task is live.
    let queued = !fdtable::current_is_kthread()
        && unsafe {
            bindings::task_work_add(
                Task::current_raw(),
                head,
                bindings::task_work_notify_mode_TWA_RESUME,
            )
        } == 0;
    if queued {
        return;
    }
    // The task is past its last task work (it cannot be, at a close in the owning process, but
    // the sweep is there anyway): give the references back and leave the knote to the sweep.
    // SAFETY: Taken above and not handed over.
    let kn_ref = unsafe { Arc::from_raw(raw) };
    // SAFETY: Made above by `Arc::into_raw`.
    let kq = unsafe { Arc::from_raw(kq_raw) };
    kq.hint_stale();
    kn.closing.store(false, Ordering::Release);
    // Neither is the last reference (see the `SAFETY` comments above): no destructor runs here.
    drop(kn_ref);
    drop(kq);
    PENDING.fetch_sub(1, Ordering::AcqRel);
}

/// The task work: unregisters the knote whose descriptor was closed. Process context, in the
/// task that closed it, before it returns to user space.
///
/// # Safety
///
/// `head` is the `close_work` of a knote queued by `queue_removal`, which handed over one
/// reference to the knote and one to its kqueue (both `Arc::into_raw`).
unsafe extern "C" fn close_work(head: *mut bindings::callback_head) {
    {
        // SAFETY: `head` is the `close_work` field of a knote.
        let knp = unsafe {
            kernel::container_of!(
                head.cast::<Opaque<bindings::callback_head>>(),
                Knote,
                close_work
            )
        };
        // SAFETY: The reference handed over by `queue_removal`.
        let kn = unsafe { Arc::from_raw(knp) };
        // SAFETY: `queue_removal` leaked this reference with `Arc::into_raw` of the knote's
        // own kqueue.
        let kq = unsafe { Arc::from_raw(kn.kq_ptr()) };
        kq.drop_closed(&kn);
    }
    // Last: module exit waits for this count (see `fini`).
    PENDING.fetch_sub(1, Ordering::AcqRel);
}
