// SPDX-License-Identifier: GPL-2.0

//! kqueue(2) for Linux.
//!
//! `/dev/kqueue` is a misc device; each open file is one kqueue and the `KQUEUE_IOC_KEVENT`
//! ioctl is `kevent()`. The ABI is `include/uapi/linux/kqueue.h`.
//!
//! This file holds the module, the device registration and the `file_operations` trampolines.
//! The `MiscDevice` abstraction has no `poll` (nor `flush`) hook, so the table is written out
//! here, as Rust Binder does.
//!
//! - `kqueue.rs`: the kqueue object, its locking and the `kevent()` engine;
//! - `knote.rs`: knotes and their state;
//! - `close_hook.rs`: the close() hook that removes a closed descriptor's knotes;
//! - `filter.rs`: the filter interface; `filter_user.rs`, `filter_timer.rs`, `filter_fd.rs`,
//!   `filter_vnode.rs`, `filter_proc.rs` (with `proc_watch.rs`): the filters;
//! - `fsnotify.rs`: fsnotify groups and marks, for `filter_vnode.rs`;
//! - `uapi.rs`: the ABI mirror.

#![crate_name = "kqueue"]

use kernel::{
    bindings,
    error::{from_result, to_result},
    prelude::*,
    sync::Arc,
    types::{ForeignOwnable, Opaque},
    uaccess::{UserPtr, UserSlice},
};

mod accounting;
mod close_hook;
mod fd_state;
mod fdtable;
mod filter;
mod filter_fd;
mod filter_proc;
mod filter_timer;
mod filter_user;
mod filter_vnode;
mod fsnotify;
mod knote;
mod knote_table;
mod kqueue;
mod pid;
mod poll_watch;
mod probe;
mod proc_watch;
mod sync;
mod sys;
mod uapi;
mod waker;

use crate::kqueue::Kqueue;

module! {
    type: KqueueModule,
    name: "kqueue",
    authors: ["The kqueue-linux authors"],
    description: "BSD kqueue(2) for Linux: the /dev/kqueue device",
    license: "GPL",
    params: {
        max_user_timers: u32 {
            default: 4096,
            description: "Maximum number of live EVFILT_TIMER timers per user",
        },
        max_user_knotes: u32 {
            default: 1048576,
            description: "Maximum number of knotes (of every filter) per user",
        },
        max_user_vnode_watches: u32 {
            default: 65536,
            description: "Maximum number of EVFILT_VNODE knotes and EVFILT_READ knotes on regular files per user",
        },
        max_user_proc_watches: u32 {
            default: 8192,
            description: "Maximum number of EVFILT_PROC, EVFILT_PROCDESC and EVFILT_SIGNAL knotes per user",
        },
    },
}

/// Makes a C `file_operations` table usable as a `static`.
#[repr(transparent)]
struct AssertSync<T>(T);
// SAFETY: The table is never written after initialisation; it is only read by the VFS.
unsafe impl<T> Sync for AssertSync<T> {}

static KQUEUE_FOPS: AssertSync<bindings::file_operations> = AssertSync(bindings::file_operations {
    owner: kernel::module::this_module::<LocalModule>().as_ptr(),
    open: Some(kq_open),
    release: Some(kq_release),
    flush: Some(kq_flush),
    poll: Some(kq_poll),
    unlocked_ioctl: Some(kq_ioctl),
    // A 32-bit caller's argument is a 32-bit pointer: `compat_ptr_ioctl` converts it and calls
    // `unlocked_ioctl`, as the misc-device default does (the binding is `None` without
    // CONFIG_COMPAT). The ABI has no layout differences.
    compat_ioctl: bindings::compat_ptr_ioctl,
    llseek: Some(bindings::noop_llseek),
    show_fdinfo: Some(kq_show_fdinfo),
    // SAFETY: All-zero is a valid `file_operations` (every hook absent).
    ..unsafe { core::mem::zeroed() }
});

/// Borrows the kqueue of an open file.
///
/// # Safety
///
/// `file` must be a file of `/dev/kqueue` between `kq_open` and the end of `kq_release`.
unsafe fn kq_of<'a>(file: *mut bindings::file) -> <Arc<Kqueue> as ForeignOwnable>::Borrowed<'a> {
    // SAFETY: `kq_open` stored an `Arc<Kqueue>` in `private_data`; per the caller it has not
    // been reclaimed yet.
    unsafe { Arc::<Kqueue>::borrow((*file).private_data) }
}

/// The kqueue behind `file`, if it is a file of `/dev/kqueue`.
///
/// The kqueue lives as long as the caller's reference to `file`.
pub(crate) fn kqueue_of_file(file: *mut bindings::file) -> Option<core::ptr::NonNull<Kqueue>> {
    // SAFETY: The caller holds a reference to `file`, so `f_op` is stable.
    if !core::ptr::eq(unsafe { (*file).f_op }, &KQUEUE_FOPS.0) {
        return None;
    }
    // SAFETY: A file of our device between open and release (a reference is held).
    let kq = unsafe { kq_of(file) };
    Some(core::ptr::NonNull::from(&*kq))
}

/// # Safety
///
/// Called by the VFS with a valid new file of the device.
unsafe extern "C" fn kq_open(_inode: *mut bindings::inode, file: *mut bindings::file) -> i32 {
    from_result(|| {
        let kq = Kqueue::new()?;
        // SAFETY: The file is new and ours; misc_open set `private_data` to the miscdevice,
        // which we do not need.
        unsafe { (*file).private_data = kq.into_foreign() };
        Ok(0)
    })
}

/// # Safety
///
/// Called by the VFS once, when the last reference to the file goes away.
unsafe extern "C" fn kq_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> i32 {
    // SAFETY: `kq_open` stored the `Arc`; this is the last use of `private_data`.
    let kq = unsafe { Arc::<Kqueue>::from_foreign((*file).private_data) };
    kq.release();
    0
}

/// # Safety
///
/// Called by the VFS on `close()` of a descriptor of a live file.
unsafe extern "C" fn kq_flush(file: *mut bindings::file, id: bindings::fl_owner_t) -> i32 {
    // SAFETY: The file is live (a descriptor was just closed, the caller holds a reference).
    unsafe { kq_of(file) }.flush(file, id);
    0
}

/// # Safety
///
/// Called by the VFS with a live file and a valid (possibly NULL) poll table.
unsafe extern "C" fn kq_poll(
    file: *mut bindings::file,
    pt: *mut bindings::poll_table_struct,
) -> bindings::__poll_t {
    // SAFETY: The file is live for the duration of the call.
    unsafe { kq_of(file) }.poll(file, pt)
}

/// # Safety
///
/// Called by procfs with a valid seq_file and a live file.
unsafe extern "C" fn kq_show_fdinfo(m: *mut bindings::seq_file, file: *mut bindings::file) {
    // SAFETY: The file is live for the duration of the call.
    unsafe { kq_of(file) }.show_fdinfo(m);
}

/// # Safety
///
/// Called by the VFS with a live file.
unsafe extern "C" fn kq_ioctl(file: *mut bindings::file, cmd: u32, arg: usize) -> isize {
    // SAFETY: The file is live for the duration of the call.
    let kq = unsafe { kq_of(file) };
    let res = match cmd {
        uapi::KQUEUE_IOC_KEVENT => kq.kevent(arg),
        uapi::KQUEUE_IOC_FEATURES => features(arg),
        _ => Err(ENOTTY),
    };
    match res {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    }
}

/// `KQUEUE_IOC_FEATURES`: writes what this module supports to the user address `arg`.
fn features(arg: usize) -> Result<isize> {
    use crate::accounting::Resource;
    use uapi::*;
    let mut f = Features {
        abi_version: KQUEUE_ABI_VERSION,
        features: KQUEUE_FEAT_FDINFO,
        ev_flags: EV_CHANGE_FLAGS.into(),
        kevent_flags: KQUEUE_KEVENT_FLAGS,
        max_changes: KQUEUE_MAX_CHANGES,
        max_events: KQUEUE_MAX_EVENTS,
        max_user_knotes: Resource::Knote.limit(),
        max_user_timers: Resource::Timer.limit(),
        max_user_proc_watches: Resource::ProcWatch.limit(),
        max_user_vnode_watches: Resource::VnodeWatch.limit(),
        ..Default::default()
    };
    if close_hook::active() {
        f.features |= KQUEUE_FEAT_CLOSE_HOOK;
    }
    for (i, fflags) in (0i16..).zip(f.fflags.iter_mut()) {
        // Slot `i` is filter `-i - 1`.
        if let Ok(ops) = filter::lookup(-i - 1) {
            f.filters |= 1 << i;
            *fflags = ops.fflags();
        }
    }
    UserSlice::new(UserPtr::from_addr(arg), size_of::<Features>())
        .writer()
        .write(&f)?;
    Ok(0)
}

/// The module: owns the misc device registration.
struct KqueueModule {
    /// The registered device. Boxed so that its address is stable, as `misc_register` needs.
    misc: KBox<Opaque<bindings::miscdevice>>,
}

// SAFETY: The miscdevice is only touched by the misc core and by `drop`.
unsafe impl Sync for KqueueModule {}
// SAFETY: As above.
unsafe impl Send for KqueueModule {}

impl kernel::Module for KqueueModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        accounting::init();
        poll_watch::init();
        kqueue::init();
        close_hook::init();
        filter_proc::init().inspect_err(|_| close_hook::fini())?;
        filter_vnode::init().inspect_err(|_| {
            filter_proc::fini();
            close_hook::fini();
        })?;
        let register = || -> Result<KBox<Opaque<bindings::miscdevice>>> {
            let misc = KBox::new(Opaque::<bindings::miscdevice>::zeroed(), GFP_KERNEL)?;
            let raw = misc.get();
            // SAFETY: `raw` points to a zeroed miscdevice that lives (boxed) until `drop`,
            // which deregisters it before it is freed.
            to_result(unsafe {
                (*raw).minor = bindings::MISC_DYNAMIC_MINOR as i32;
                (*raw).name = c"kqueue".as_char_ptr();
                (*raw).fops = &KQUEUE_FOPS.0;
                (*raw).mode = 0o666;
                bindings::misc_register(raw)
            })?;
            Ok(misc)
        };
        let misc = register().inspect_err(|_| {
            filter_vnode::fini();
            filter_proc::fini();
            close_hook::fini();
        })?;
        Ok(Self { misc })
    }
}

impl Drop for KqueueModule {
    fn drop(&mut self) {
        // SAFETY: Registered in `init`. No file is open: each holds a module reference.
        unsafe { bindings::misc_deregister(self.misc.get()) };
        // Statics are never dropped: give back the buffers of the global registries.
        kqueue::fini();
        filter_vnode::fini();
        filter_proc::fini();
        close_hook::fini();
        accounting::fini();
        // No kqueue is left: no poll watch is handed to the deferred-put work any more.
        poll_watch::fini();
    }
}
