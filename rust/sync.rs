// SPDX-License-Identifier: GPL-2.0

//! A raw spinlock (`raw_spinlock_t`) for the `kernel::sync::Lock` API.
//!
//! The kernel crate's `SpinLock` is a `spinlock_t`, which PREEMPT_RT turns into a sleeping
//! lock. A lock taken where preemption is disabled even on PREEMPT_RT (an fprobe handler, see
//! `close_hook.rs`) must be a raw spinlock. It does not disable interrupts: such a lock must
//! not be taken in interrupt context. Nothing may allocate, free or sleep under it.

use kernel::{bindings, sync::lock::Backend};

use crate::sys;

/// The `Backend` of a raw spinlock.
pub(crate) struct RawSpinLockBackend;

// SAFETY: `lock` and `unlock` are the raw spinlock's, so the lock is held between them and by
// one owner at a time; `init` initialises the state before any other call (caller's duty).
unsafe impl Backend for RawSpinLockBackend {
    type State = bindings::raw_spinlock;
    type GuardState = ();

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: Per the trait's contract `ptr` is valid for writes, and `name` and `key`
        // stay valid.
        unsafe { sys::raw_spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: Per the trait's contract the lock was initialised.
        unsafe { sys::raw_spin_lock(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: Per the trait's contract the lock was initialised.
        (unsafe { sys::raw_spin_trylock(ptr) } != 0).then_some(())
    }

    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: Per the trait's contract the caller owns the lock.
        unsafe { sys::raw_spin_unlock(ptr) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: Per the trait's contract the lock was initialised.
        unsafe { sys::lockdep_assert_held(ptr) }
    }
}

/// Declares a global raw spinlock, like `kernel::sync::global_lock!` does for the kernel's
/// lock types: `raw_global_lock!(NAME: T = init)` makes `static NAME: GlobalLock<...>`.
/// `NAME.init()` must run before the first `lock()`.
macro_rules! raw_global_lock {
    ($(#[$meta:meta])* $vis:vis static $name:ident: $ty:ty = $value:expr;) => {
        #[doc = concat!("Backend type of [`", stringify!($name), "`](static@", stringify!($name),
            ").")]
        #[expect(clippy::upper_case_acronyms)]
        $vis enum $name {}

        impl kernel::sync::lock::GlobalLockBackend for $name {
            const NAME: &'static kernel::str::CStr = kernel::c_str!(stringify!($name));
            type Item = $ty;
            type Backend = $crate::sync::RawSpinLockBackend;

            fn get_lock_class() -> core::pin::Pin<&'static kernel::sync::LockClassKey> {
                kernel::static_lock_class!()
            }
        }

        $(#[$meta])*
        $vis static $name: kernel::sync::lock::GlobalLock<$name> = {
            let init: $ty = $value;
            // SAFETY: The user of the macro calls `init` before any other method, and this is
            // the only static with this backend type.
            unsafe { kernel::sync::lock::GlobalLock::new(init) }
        };
    };
}
pub(crate) use raw_global_lock;
