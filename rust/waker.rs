// SPDX-License-Identifier: GPL-2.0

//! A kqueue's wait queue and its deferred wake-up.
//!
//! Waking a kqueue runs, under its wait-queue lock, the callbacks of whatever watches it (epoll
//! sets, other kqueues, `poll()`), which wake their own watchers in turn. When the kqueue itself
//! watches one of those files (a kqueue in an epoll set that it also watches), taking its
//! wait-queue lock from inside such a callback would nest that lock in itself (a lockup on one
//! CPU) or in the other file's lock in the opposite order (an ABBA deadlock between two CPUs).
//! epoll's loop check cannot see through a kqueue, nor the module through an epoll set, so such
//! configurations cannot be refused. Instead, a knote activated from the wait-queue callback of
//! a file that may have watchers of its own is queued at once (under the kqueue's ready lock
//! only, which nests inside any wait-queue lock and never outside one), and the wake-up runs
//! from an irq_work ([`Waker::defer`]), outside every foreign lock. The kqueue's wait-queue lock
//! is therefore only taken at the outermost level and needs no lockdep subclasses. On
//! PREEMPT_RT the irq_work runs in a per-CPU thread, where the (sleeping) wait-queue lock may
//! be taken.

use kernel::{bindings, prelude::*, types::Opaque};

use crate::sys;

/// The poll mask a kqueue's wake-ups carry.
const WAKE_KEY: u32 = bindings::POLLIN | bindings::POLLRDNORM;

/// A wait queue (threads blocked in `kevent()`, exclusive, and pollers of the kqueue's file)
/// and an irq_work that wakes it.
///
/// # Invariants
///
/// `wq` and `work` are initialised; `work`'s function is [`waker_fn`], which only runs while
/// the `Waker` is alive (its drop waits for it).
#[pin_data(PinnedDrop)]
pub(crate) struct Waker {
    #[pin]
    wq: Opaque<bindings::wait_queue_head>,
    #[pin]
    work: Opaque<bindings::irq_work>,
}

// SAFETY: A wait queue and an irq_work are usable from any thread; every operation on them is
// internally synchronised.
unsafe impl Send for Waker {}
// SAFETY: As above.
unsafe impl Sync for Waker {}

impl Waker {
    /// A new waker.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `p` points to the uninitialised queue; the name and key are static.
            wq <- Opaque::ffi_init(|p| unsafe {
                bindings::__init_waitqueue_head(
                    p,
                    c"kqueue::wq".as_char_ptr(),
                    kernel::static_lock_class!().as_ptr(),
                )
            }),
            // SAFETY: `p` points to the uninitialised irq_work; `waker_fn` matches its type.
            work <- Opaque::ffi_init(|p| unsafe { sys::init_irq_work(p, Some(waker_fn)) }),
        })
    }

    /// The wait queue.
    pub(crate) fn wq(&self) -> *mut bindings::wait_queue_head {
        self.wq.get()
    }

    /// Wakes one exclusive waiter, and every poller, if anybody waits. With `sync`, as a
    /// synchronous wake-up (`WF_SYNC`): the caller is about to sleep, so the woken task may run
    /// on this CPU.
    pub(crate) fn wake_one(&self, sync: bool) {
        // Most activations happen while nobody waits. The full barrier in wq_has_sleeper()
        // orders the caller's update of the ready list before the look at the queue; it pairs
        // with the barrier in prepare_to_wait_exclusive() (and poll_wait()'s queue lock) on the
        // waiter's side, which looks at the ready list after queueing itself.
        // SAFETY: The queue is initialised (type invariant).
        if !unsafe { sys::wq_has_sleeper(self.wq.get()) } {
            return;
        }
        if sync {
            // SAFETY: The queue is initialised (type invariant); the key is a poll mask.
            unsafe {
                bindings::__wake_up_sync_key(
                    self.wq.get(),
                    bindings::TASK_NORMAL,
                    WAKE_KEY as usize as *mut c_void,
                )
            };
        } else {
            self.wake_up(1);
        }
    }

    /// Wakes every waiter (the kqueue was closed).
    pub(crate) fn wake_all(&self) {
        self.wake_up(0);
    }

    /// Wakes `nr_exclusive` exclusive waiters (0: all) and every poller.
    fn wake_up(&self, nr_exclusive: i32) {
        // SAFETY: The queue is initialised (type invariant); the key is a poll mask, as
        // wake_up_poll() passes it.
        unsafe {
            bindings::__wake_up(
                self.wq.get(),
                bindings::TASK_NORMAL,
                nr_exclusive,
                WAKE_KEY as usize as *mut c_void,
            )
        };
    }

    /// Wakes the queue soon, from an irq_work: callable under any lock, in any context.
    pub(crate) fn defer(&self) {
        // SAFETY: The irq_work is initialised (type invariant); queueing a pending one is a
        // no-op.
        unsafe { bindings::irq_work_queue(self.work.get()) };
    }
}

#[pinned_drop]
impl PinnedDrop for Waker {
    fn drop(self: Pin<&mut Self>) {
        // The owner can no longer queue the work (its knotes are detached); wait for a run in
        // progress, so that `waker_fn` never sees a freed waker.
        // SAFETY: The irq_work is initialised (type invariant).
        unsafe { bindings::irq_work_sync(self.work.get()) };
    }
}

/// The irq_work function of a [`Waker`].
///
/// # Safety
///
/// `work` is the `work` field of a live `Waker` (its drop waits for this function).
unsafe extern "C" fn waker_fn(work: *mut bindings::irq_work) {
    // SAFETY: Per the contract, `work` is inside a live `Waker`.
    let waker =
        unsafe { &*kernel::container_of!(work.cast::<Opaque<bindings::irq_work>>(), Waker, work) };
    waker.wake_one(false);
}
