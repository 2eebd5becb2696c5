// SPDX-License-Identifier: GPL-2.0

//! Tracepoint probes: finding a tracepoint by name and a registered probe whose `Drop`
//! unregisters it.
//!
//! The kernel's tracepoints are not exported symbols: `for_each_kernel_tracepoint()` finds
//! them by name, and `tracepoint_probe_register()` (which is exported) connects a probe. A
//! probe may still run after it was unregistered; `synchronize()` waits for every such run,
//! and must be called before the module's text goes away.

use core::{ffi::c_void, mem::ManuallyDrop, ptr::NonNull};

use kernel::{bindings, prelude::*};

use crate::sys;

/// A kernel tracepoint.
///
/// # Invariants
///
/// Points to a built-in tracepoint (kernel data, never freed).
#[derive(Clone, Copy)]
pub(crate) struct Tracepoint(NonNull<bindings::tracepoint>);

// SAFETY: A built-in tracepoint is a static kernel object, usable from any thread.
unsafe impl Send for Tracepoint {}
// SAFETY: As above.
unsafe impl Sync for Tracepoint {}

impl Tracepoint {
    /// The tracepoint at `tp`.
    ///
    /// # Safety
    ///
    /// `tp` is a built-in tracepoint (as `find` returns them).
    pub(crate) unsafe fn from_raw(tp: NonNull<bindings::tracepoint>) -> Self {
        // INVARIANT: Per the function's contract.
        Self(tp)
    }

    /// The `struct tracepoint`.
    pub(crate) fn as_ptr(self) -> *mut bindings::tracepoint {
        self.0.as_ptr()
    }
}

/// What `find` looks for and what it found.
struct Search<'a, const N: usize> {
    names: &'a [&'a CStr; N],
    found: [Option<Tracepoint>; N],
}

/// Called by `for_each_kernel_tracepoint()` for each built-in tracepoint.
///
/// # Safety
///
/// `tp` is a tracepoint and `data` the `Search` that `find` passed.
unsafe extern "C" fn visit<const N: usize>(tp: *mut bindings::tracepoint, data: *mut c_void) {
    // SAFETY: Per the function's contract.
    let search = unsafe { &mut *data.cast::<Search<'_, N>>() };
    // SAFETY: A tracepoint's name is a static C string.
    let name = unsafe { CStr::from_char_ptr((*tp).name) };
    for (i, want) in search.names.iter().enumerate() {
        if name == *want {
            // INVARIANT: `for_each_kernel_tracepoint()` visits built-in tracepoints.
            search.found[i] = NonNull::new(tp).map(Tracepoint);
        }
    }
}

/// Finds the built-in tracepoints named `names` (`None` for a name the kernel lacks).
pub(crate) fn find<const N: usize>(names: &[&CStr; N]) -> [Option<Tracepoint>; N] {
    let mut search = Search {
        names,
        found: [None; N],
    };
    // SAFETY: `visit::<N>` gets `search`, which outlives the call.
    unsafe {
        bindings::for_each_kernel_tracepoint(Some(visit::<N>), (&raw mut search).cast::<c_void>())
    };
    search.found
}

/// A probe connected to a tracepoint; dropping it disconnects it.
///
/// # Invariants
///
/// `func` is registered on `tp` with NULL data.
pub(crate) struct Registration {
    tp: Tracepoint,
    func: *mut c_void,
}

// SAFETY: Registration and unregistration may happen on any thread.
unsafe impl Send for Registration {}

impl Registration {
    /// Connects `func` to `tp`, with NULL data.
    ///
    /// # Safety
    ///
    /// `func` is a function with the prototype of `tp`'s probes (its arguments after a
    /// leading `void *data`), which may run from the moment this is called until
    /// `synchronize()` returns after the unregistration.
    pub(crate) unsafe fn new(tp: Tracepoint, func: *mut c_void) -> Result<Self> {
        // SAFETY: Per the function's contract.
        kernel::error::to_result(unsafe {
            bindings::tracepoint_probe_register(tp.0.as_ptr(), func, core::ptr::null_mut())
        })?;
        // INVARIANT: Registered just above.
        Ok(Self { tp, func })
    }

    /// Disconnects the probe; gives it back if the kernel could not (no memory). Probes
    /// already running go on: `synchronize()` waits for them.
    pub(crate) fn unregister(self) -> Result<(), Self> {
        let this = ManuallyDrop::new(self);
        // SAFETY: Registered (type invariant); `this` is not dropped, so this is the only
        // unregistration.
        let ret = unsafe {
            bindings::tracepoint_probe_unregister(
                this.tp.0.as_ptr(),
                this.func,
                core::ptr::null_mut(),
            )
        };
        if ret == 0 {
            Ok(())
        } else {
            Err(ManuallyDrop::into_inner(this))
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: Registered (type invariant), and dropped once.
        let ret = unsafe {
            bindings::tracepoint_probe_unregister(
                self.tp.0.as_ptr(),
                self.func,
                core::ptr::null_mut(),
            )
        };
        if ret != 0 {
            pr_warn!(
                "kqueue: could not unregister a tracepoint probe ({})\n",
                ret
            );
        }
    }
}

/// Waits until no unregistered probe runs any more.
pub(crate) fn synchronize() {
    // SAFETY: No preconditions; process context (it sleeps).
    unsafe { sys::tracepoint_synchronize_unregister() }
}
