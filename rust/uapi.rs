// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `include/uapi/linux/kqueue.h`.
//!
//! The header is the single source of truth. Every layout here is checked at compile time
//! against the sizes and offsets the header defines.

use core::mem::{offset_of, size_of};
use kernel::transmute::{AsBytes, FromBytes};

/// `struct kqueue_event`: FreeBSD's LP64 `struct kevent`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct KEvent {
    pub(crate) ident: u64,
    pub(crate) filter: i16,
    pub(crate) flags: u16,
    pub(crate) fflags: u32,
    pub(crate) data: i64,
    pub(crate) udata: u64,
    pub(crate) ext: [u64; 4],
}

// SAFETY: `KEvent` is `repr(C)`, made only of integers, and has no padding (checked below), so
// every bit pattern is valid and every byte is initialised.
unsafe impl FromBytes for KEvent {}
// SAFETY: As above: no padding, no pointers.
unsafe impl AsBytes for KEvent {}

/// `struct kqueue_timespec`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct KTimespec {
    pub(crate) tv_sec: i64,
    pub(crate) tv_nsec: i64,
}

/// `struct kqueue_kevent_args`: the argument of `KQUEUE_IOC_KEVENT`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct KeventArgs {
    pub(crate) changelist: u64,
    pub(crate) eventlist: u64,
    pub(crate) nchanges: u32,
    pub(crate) nevents: u32,
    pub(crate) flags: u32,
    pub(crate) reserved0: u32,
    pub(crate) timeout: KTimespec,
    pub(crate) reserved: [u64; 2],
}

// SAFETY: `repr(C)`, integers only, no padding (checked below).
unsafe impl FromBytes for KeventArgs {}
// SAFETY: As above.
unsafe impl AsBytes for KeventArgs {}

/// `struct kqueue_features`: the result of `KQUEUE_IOC_FEATURES`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Features {
    pub(crate) abi_version: u32,
    pub(crate) features: u32,
    pub(crate) filters: u32,
    pub(crate) ev_flags: u32,
    pub(crate) kevent_flags: u32,
    pub(crate) max_changes: u32,
    pub(crate) max_events: u32,
    pub(crate) reserved0: u32,
    pub(crate) fflags: [u32; 16],
    pub(crate) max_user_knotes: u32,
    pub(crate) max_user_timers: u32,
    pub(crate) max_user_proc_watches: u32,
    pub(crate) max_user_vnode_watches: u32,
    pub(crate) reserved: [u32; 4],
}

// SAFETY: `repr(C)`, integers only, no padding (checked below).
unsafe impl FromBytes for Features {}
// SAFETY: As above.
unsafe impl AsBytes for Features {}

const _: () = {
    assert!(size_of::<Features>() == 128);
    assert!(offset_of!(Features, reserved0) == 28);
    assert!(offset_of!(Features, fflags) == 32);
    assert!(offset_of!(Features, max_user_knotes) == 96);
    assert!(offset_of!(Features, max_user_vnode_watches) == 108);
    assert!(offset_of!(Features, reserved) == 112);
    assert!(size_of::<KEvent>() == 64);
    assert!(offset_of!(KEvent, ident) == 0);
    assert!(offset_of!(KEvent, filter) == 8);
    assert!(offset_of!(KEvent, flags) == 10);
    assert!(offset_of!(KEvent, fflags) == 12);
    assert!(offset_of!(KEvent, data) == 16);
    assert!(offset_of!(KEvent, udata) == 24);
    assert!(offset_of!(KEvent, ext) == 32);
    assert!(size_of::<KTimespec>() == 16);
    assert!(size_of::<KeventArgs>() == 64);
    assert!(offset_of!(KeventArgs, changelist) == 0);
    assert!(offset_of!(KeventArgs, eventlist) == 8);
    assert!(offset_of!(KeventArgs, nchanges) == 16);
    assert!(offset_of!(KeventArgs, nevents) == 20);
    assert!(offset_of!(KeventArgs, flags) == 24);
    assert!(offset_of!(KeventArgs, reserved0) == 28);
    assert!(offset_of!(KeventArgs, timeout) == 32);
    assert!(offset_of!(KeventArgs, reserved) == 48);
};

// Filters.
pub(crate) const EVFILT_READ: i16 = -1;
pub(crate) const EVFILT_WRITE: i16 = -2;
pub(crate) const EVFILT_VNODE: i16 = -4;
pub(crate) const EVFILT_PROC: i16 = -5;
pub(crate) const EVFILT_SIGNAL: i16 = -6;
pub(crate) const EVFILT_TIMER: i16 = -7;
pub(crate) const EVFILT_PROCDESC: i16 = -8;
pub(crate) const EVFILT_USER: i16 = -11;
pub(crate) const EVFILT_EMPTY: i16 = -13;

// Flags.
pub(crate) const EV_ADD: u16 = 0x0001;
pub(crate) const EV_DELETE: u16 = 0x0002;
pub(crate) const EV_ENABLE: u16 = 0x0004;
pub(crate) const EV_DISABLE: u16 = 0x0008;
pub(crate) const EV_ONESHOT: u16 = 0x0010;
pub(crate) const EV_CLEAR: u16 = 0x0020;
pub(crate) const EV_RECEIPT: u16 = 0x0040;
pub(crate) const EV_DISPATCH: u16 = 0x0080;
pub(crate) const EV_FORCEONESHOT: u16 = 0x0100;
pub(crate) const EV_KEEPUDATA: u16 = 0x0200;
pub(crate) const EV_SYSFLAGS: u16 = 0xf000;
pub(crate) const EV_ERROR: u16 = 0x4000;
pub(crate) const EV_EOF: u16 = 0x8000;

/// Flags that act on a change and are not stored in the knote.
pub(crate) const EV_ACTIONS: u16 =
    EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_FORCEONESHOT | EV_KEEPUDATA;

// EVFILT_READ / EVFILT_WRITE.
pub(crate) const NOTE_LOWAT: u32 = 0x0001;
pub(crate) const NOTE_FILE_POLL: u32 = 0x0002;

// EVFILT_VNODE.
pub(crate) const NOTE_DELETE: u32 = 0x0001;
pub(crate) const NOTE_WRITE: u32 = 0x0002;
pub(crate) const NOTE_EXTEND: u32 = 0x0004;
pub(crate) const NOTE_ATTRIB: u32 = 0x0008;
pub(crate) const NOTE_LINK: u32 = 0x0010;
pub(crate) const NOTE_RENAME: u32 = 0x0020;
pub(crate) const NOTE_REVOKE: u32 = 0x0040;
pub(crate) const NOTE_OPEN: u32 = 0x0080;
pub(crate) const NOTE_CLOSE: u32 = 0x0100;
pub(crate) const NOTE_CLOSE_WRITE: u32 = 0x0200;
pub(crate) const NOTE_READ: u32 = 0x0400;
pub(crate) const NOTE_TRUNCATE: u32 = 0x0800;

// EVFILT_USER.
// Only the KUnit tests name it (`apply_ffctrl` treats it as "anything else").
#[cfg_attr(not(CONFIG_KUNIT), expect(dead_code))]
pub(crate) const NOTE_FFNOP: u32 = 0x0000_0000;
pub(crate) const NOTE_FFAND: u32 = 0x4000_0000;
pub(crate) const NOTE_FFOR: u32 = 0x8000_0000;
pub(crate) const NOTE_FFCOPY: u32 = 0xc000_0000;
pub(crate) const NOTE_FFCTRLMASK: u32 = 0xc000_0000;
pub(crate) const NOTE_FFLAGSMASK: u32 = 0x00ff_ffff;
pub(crate) const NOTE_TRIGGER: u32 = 0x0100_0000;

// EVFILT_PROC / EVFILT_PROCDESC.
pub(crate) const NOTE_EXIT: u32 = 0x8000_0000;
pub(crate) const NOTE_FORK: u32 = 0x4000_0000;
pub(crate) const NOTE_EXEC: u32 = 0x2000_0000;
pub(crate) const NOTE_TRACK: u32 = 0x0000_0001;
pub(crate) const NOTE_TRACKERR: u32 = 0x0000_0002;
pub(crate) const NOTE_CHILD: u32 = 0x0000_0004;

// EVFILT_TIMER.
pub(crate) const NOTE_SECONDS: u32 = 0x0001;
pub(crate) const NOTE_MSECONDS: u32 = 0x0002;
pub(crate) const NOTE_USECONDS: u32 = 0x0004;
pub(crate) const NOTE_NSECONDS: u32 = 0x0008;
pub(crate) const NOTE_ABSTIME: u32 = 0x0010;

// struct kqueue_kevent_args.
pub(crate) const KQUEUE_KEVENT_TIMEOUT: u32 = 0x1;
pub(crate) const KQUEUE_KEVENT_FLAGS: u32 = KQUEUE_KEVENT_TIMEOUT;
pub(crate) const KQUEUE_MAX_CHANGES: u32 = 1 << 20;
pub(crate) const KQUEUE_MAX_EVENTS: u32 = 1 << 20;

/// `KQUEUE_IOC_KEVENT`: `_IOWR(0xB9, 0x01, struct kqueue_kevent_args)`.
pub(crate) const KQUEUE_IOC_KEVENT: u32 = kernel::ioctl::_IOWR::<KeventArgs>(0xB9, 0x01);
pub(crate) const KQUEUE_IOC_FEATURES: u32 = kernel::ioctl::_IOR::<Features>(0xB9, 0x02);

pub(crate) const KQUEUE_ABI_VERSION: u32 = 1;
pub(crate) const KQUEUE_FEAT_CLOSE_HOOK: u32 = 0x1;
pub(crate) const KQUEUE_FEAT_FDINFO: u32 = 0x2;
/// Every flag a change may carry.
pub(crate) const EV_CHANGE_FLAGS: u16 =
    EV_ACTIONS | EV_ONESHOT | EV_CLEAR | EV_RECEIPT | EV_DISPATCH;
