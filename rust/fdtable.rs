// SPDX-License-Identifier: GPL-2.0

//! The current task's descriptor table and thread group, looked at without taking references.
//!
//! kqueue is keyed by descriptor and Linux by open file, so the module often asks what a
//! descriptor of the calling process refers to *now*. These answers are pointers for
//! comparisons only: nothing here takes a reference, and the results are never dereferenced.

use kernel::{bindings, sync::rcu, task::Task};

use crate::sys;

/// The descriptor number of an ident, `EBADF` if it cannot be one.
pub(crate) fn fd_of(ident: u64) -> kernel::error::Result<u32> {
    match u32::try_from(ident) {
        Ok(fd) if fd <= i32::MAX as u32 => Ok(fd),
        _ => Err(kernel::error::code::EBADF),
    }
}

/// The file descriptor `fd` of the current task refers to now (`O_PATH` files included), or
/// NULL. The pointer is only good for comparisons: no reference is kept.
fn file_at(fd: u32) -> *const bindings::file {
    let _guard = rcu::read_lock();
    // SAFETY: `current` is valid; its descriptor table is only replaced or freed by the task
    // itself (which is running this), and the RCU read lock keeps the table's array alive
    // while we look. Any `fd` is accepted (out of range gives NULL).
    unsafe {
        let files = (*Task::current_raw()).files;
        if files.is_null() {
            return core::ptr::null();
        }
        sys::files_lookup_fd_raw(files, fd)
    }
}

/// Whether descriptor `fd` of the current task refers to `file` now.
pub(crate) fn fd_is(fd: u32, file: *const bindings::file) -> bool {
    core::ptr::eq(file_at(fd), file)
}

/// Whether descriptor `fd` of the current task is open.
pub(crate) fn fd_is_open(fd: u32) -> bool {
    !file_at(fd).is_null()
}

/// The thread-group `struct pid` of the current task, for comparisons only; stable while the
/// task runs.
pub(crate) fn current_tgid() -> *const bindings::pid {
    // SAFETY: `current` is valid, and so is its thread-group pid while it runs.
    unsafe { crate::pid::task_tgid(Task::current_raw()) }
}

/// Whether `files` is the current task's descriptor table (compared only).
pub(crate) fn is_current_table(files: *const core::ffi::c_void) -> bool {
    // SAFETY: Reads `current`'s own field.
    core::ptr::eq(unsafe { (*Task::current_raw()).files }.cast(), files)
}

/// Whether the current task has no descriptor table any more (it is exiting).
pub(crate) fn table_gone() -> bool {
    // SAFETY: Reads `current`'s own field.
    unsafe { (*Task::current_raw()).files }.is_null()
}

/// Whether the current task is a kernel thread, which never runs task works.
pub(crate) fn current_is_kthread() -> bool {
    // SAFETY: Reads `current`'s own flags.
    let flags = unsafe { (*Task::current_raw()).flags };
    flags & bindings::PF_KTHREAD != 0
}
