// SPDX-License-Identifier: GPL-2.0

//! A counted reference to a `struct pid`: `ARef<Pid>`, whose `Drop` is `put_pid()`.

use core::ptr::NonNull;

use kernel::{
    bindings,
    sync::aref::{ARef, AlwaysRefCounted},
    types::Opaque,
};

use crate::sys;

/// A `struct pid`: the kernel's name of a task, a thread group, a process group or a session.
///
/// # Invariants
///
/// Instances are only created through references to live `struct pid`s, whose reference count
/// `ARef<Pid>` holds.
#[repr(transparent)]
pub(crate) struct Pid(Opaque<bindings::pid>);

// SAFETY: A `struct pid` is reference-counted by the kernel and usable from any thread.
unsafe impl Send for Pid {}
// SAFETY: Its mutable parts are protected by the kernel's own locks.
unsafe impl Sync for Pid {}

// SAFETY: `get_pid` and `put_pid` are the reference count of a `struct pid`, which is freed
// (after an RCU grace period) when it drops to zero.
unsafe impl AlwaysRefCounted for Pid {
    fn inc_ref(&self) {
        // SAFETY: `self` is live (type invariant), so its count is above zero.
        unsafe { bindings::refcount_inc(&raw mut (*self.as_ptr()).count) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up one reference.
        unsafe { bindings::put_pid(obj.as_ptr().cast()) }
    }
}

/// `enum pid_type`: `PIDTYPE_TGID`.
pub(crate) const PIDTYPE_TGID: bindings::pid_type = bindings::pid_type_PIDTYPE_TGID;

impl Pid {
    /// Borrows the `struct pid` at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` points to a live `struct pid` that stays alive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *const bindings::pid) -> &'a Pid {
        // SAFETY: `Pid` is a transparent wrapper; the caller guarantees the lifetime.
        unsafe { &*ptr.cast() }
    }

    /// Takes over a counted reference.
    ///
    /// # Safety
    ///
    /// `ptr` is a live `struct pid` of which the caller owns one reference.
    pub(crate) unsafe fn from_counted(ptr: NonNull<bindings::pid>) -> ARef<Pid> {
        // SAFETY: Per the contract, the reference is handed over.
        unsafe { ARef::from_raw(ptr.cast()) }
    }

    /// The `struct pid` pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::pid {
        self.0.get()
    }

    /// The address, a key for hash tables and comparisons.
    pub(crate) fn addr(&self) -> usize {
        self.as_ptr() as usize
    }

    /// Whether a task is attached as `ty` (`pid_has_task()`).
    pub(crate) fn has_task(&self, ty: bindings::pid_type) -> bool {
        // SAFETY: The pid is live; the function only reads an RCU-protected list head.
        unsafe { sys::pid_has_task(self.as_ptr(), ty) }
    }

    /// The thread-group leader named by this pid, if any (`pid_task(pid, PIDTYPE_TGID)`).
    /// The task is only valid under the RCU read lock `_rcu`.
    pub(crate) fn tgid_task(&self, _rcu: &kernel::sync::rcu::Guard) -> *mut bindings::task_struct {
        // SAFETY: The pid is live and the RCU read lock held.
        unsafe { bindings::pid_task(self.as_ptr(), PIDTYPE_TGID) }
    }

    /// The pid number in `ns` (0 if the pid is not visible there).
    ///
    /// # Safety
    ///
    /// `ns` is a live pid namespace.
    pub(crate) unsafe fn nr_ns(&self, ns: *mut bindings::pid_namespace) -> i32 {
        // SAFETY: Both are live.
        unsafe { bindings::pid_nr_ns(self.as_ptr(), ns) }
    }

    /// The wait queue pidfd poll() uses, woken at the process's exit and reap.
    pub(crate) fn wait_pidfd(&self) -> *mut bindings::wait_queue_head {
        // SAFETY: The pid is live; only the field's address is computed.
        unsafe { &raw mut (*self.as_ptr()).wait_pidfd }
    }

    /// A counted reference to the thread-group pid of `task` (`get_task_pid(task, TGID)`).
    ///
    /// # Safety
    ///
    /// `task` is a live task.
    pub(crate) unsafe fn of_task_tgid(task: *mut bindings::task_struct) -> Option<ARef<Pid>> {
        // SAFETY: Per the contract.
        let p = unsafe { bindings::get_task_pid(task, PIDTYPE_TGID) };
        // SAFETY: `get_task_pid` returned a counted reference (or NULL).
        NonNull::new(p).map(|p| unsafe { Pid::from_counted(p) })
    }
}

/// The thread-group `struct pid` of `task` (C's `task_tgid()`), not counted.
///
/// # Safety
///
/// `task` is live, and so is its signal struct (the task has not been released).
pub(crate) unsafe fn task_tgid(task: *mut bindings::task_struct) -> *mut bindings::pid {
    // SAFETY: Per the contract.
    unsafe { (*(*task).signal).pids[bindings::pid_type_PIDTYPE_TGID as usize] }
}

/// Whether `task` leads its thread group (C's `thread_group_leader()`).
///
/// # Safety
///
/// `task` is live.
pub(crate) unsafe fn thread_group_leader(task: *mut bindings::task_struct) -> bool {
    // SAFETY: Per the contract; `exit_signal` is -1 for every thread but the leader.
    unsafe { (*task).exit_signal >= 0 }
}
