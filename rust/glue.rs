// SPDX-License-Identifier: GPL-2.0

//! Declarations of the functions in `kq_glue.c` (mirroring `kq_glue.h`).
//!
//! Every call into C goes through the safe wrappers at the end of this file or through
//! `filter_fd.rs`, which documents the invariants they rely on.

use kernel::bindings;

/// Opaque: a knote's hook on a file (`struct kq_pollwatch`).
#[repr(C)]
pub(crate) struct PollWatch {
    _private: [u8; 0],
}

/// Opaque: a kqueue's wait queue and deferred wake-up (`struct kq_waker`).
#[repr(C)]
pub(crate) struct KqWaker {
    _private: [u8; 0],
}

pub(crate) const KQ_FD_OTHER: u32 = 0;
pub(crate) const KQ_FD_PIPE: u32 = 1;
pub(crate) const KQ_FD_SOCKET: u32 = 2;
pub(crate) const KQ_FD_LISTEN: u32 = 3;
pub(crate) const KQ_FD_REGULAR: u32 = 4;

/// `struct kq_fd_state`.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub(crate) struct FdState {
    pub(crate) rdata: i64,
    pub(crate) wdata: i64,
    pub(crate) outq: i64,
    pub(crate) rd_eof: u32,
    pub(crate) wr_eof: u32,
    pub(crate) err: u32,
    pub(crate) kind: u32,
}

// `struct file` holds a zero-sized array, which the lint flags; only pointers cross here.
#[expect(improper_ctypes)]
extern "C" {
    pub(crate) fn kq_pollwatch_create(
        file: *mut bindings::file,
        ctx: *mut core::ffi::c_void,
        defer: i32,
        mask: *mut u32,
    ) -> *mut PollWatch;
    pub(crate) fn kq_pollwatch_poll(w: *mut PollWatch) -> u32;
    pub(crate) fn kq_pollwatch_file(w: *mut PollWatch) -> *mut bindings::file;
    pub(crate) fn kq_pollwatch_destroy(w: *mut PollWatch, defer_put: bool);
    pub(crate) fn kq_glue_exit();
    pub(crate) fn kq_fd_state(file: *mut bindings::file, st: *mut FdState);
    pub(crate) fn kq_fd_kind(file: *mut bindings::file) -> u32;
    pub(crate) fn kq_fget(fd: u32) -> *mut bindings::file;
    pub(crate) fn kq_fput(file: *mut bindings::file);
    fn kq_fd_peek(fd: u32) -> *const bindings::file;
    fn kq_current_tgid() -> *const bindings::pid;
    pub(crate) fn kq_wake_one(wq: *mut bindings::wait_queue_head, key: u32);
    pub(crate) fn kq_waker_create() -> *mut KqWaker;
    pub(crate) fn kq_waker_wq(wk: *mut KqWaker) -> *mut bindings::wait_queue_head;
    pub(crate) fn kq_waker_defer(wk: *mut KqWaker);
    pub(crate) fn kq_waker_destroy(wk: *mut KqWaker);
    pub(crate) fn kq_close_hook_register() -> i32;
    pub(crate) fn kq_close_hook_unregister();
    pub(crate) fn kq_files_is_current(files: *const core::ffi::c_void) -> bool;
    pub(crate) fn kq_files_gone() -> bool;
    pub(crate) fn kq_current_is_kthread() -> bool;
    pub(crate) fn kq_raw_spin_lock_init(
        lock: *mut bindings::raw_spinlock,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    );
    pub(crate) fn kq_raw_spin_lock(lock: *mut bindings::raw_spinlock);
    pub(crate) fn kq_raw_spin_trylock(lock: *mut bindings::raw_spinlock) -> i32;
    pub(crate) fn kq_raw_spin_unlock(lock: *mut bindings::raw_spinlock);
    pub(crate) fn kq_raw_spin_assert_held(lock: *mut bindings::raw_spinlock);
}

/// The file descriptor `fd` of the current task refers to now (`O_PATH` files included), or
/// NULL. The pointer is only good for comparisons: no reference is kept.
fn file_at(fd: u32) -> *const bindings::file {
    // SAFETY: Looks the descriptor up under RCU and takes no reference; any `fd` is valid.
    unsafe { kq_fd_peek(fd) }
}

/// Whether descriptor `fd` of the current task refers to `file` now.
pub(crate) fn fd_is(fd: u32, file: *const bindings::file) -> bool {
    core::ptr::eq(file_at(fd), file)
}

/// Whether descriptor `fd` of the current task is open.
pub(crate) fn fd_is_open(fd: u32) -> bool {
    !file_at(fd).is_null()
}

/// The thread-group `struct pid` of the current task, for comparisons only.
pub(crate) fn current_tgid() -> *const bindings::pid {
    // SAFETY: No preconditions: reads `current`'s own pid link.
    unsafe { kq_current_tgid() }
}
