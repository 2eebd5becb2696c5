//! The raw ABI of `/dev/kqueue`: a mirror of `<linux/kqueue.h>`.
//!
//! Everything here has the layout and the values of the UAPI header
//! `include/uapi/linux/kqueue.h`, which is the single source of truth; the
//! crate's tests parse the header and compare every constant and offset.
//! Constants drop the header's `KQ_` prefix (`KQ_EVFILT_USER` is
//! [`EVFILT_USER`]); the `KQUEUE_*` names are kept as they are.
//!
//! [`Features`], [`KQUEUE_IOC_FEATURES`] and [`features`] are Linux-specific:
//! the module's report of what it implements.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::ioctl::{self, Ioctl, IoctlOutput, Opcode};

/// The device node; each open file of it is one kqueue.
pub const KQUEUE_DEVICE: &str = "/dev/kqueue";

/// [`kqueuex`] flag: set close-on-exec on the new kqueue (FreeBSD's value;
/// a library flag, not a kernel one).
pub const KQUEUE_CLOEXEC: u32 = 0x0000_0001;

/// Defines the constants of the header and, for the tests, a table of them.
macro_rules! uapi_constants {
    ($( $(#[$meta:meta])* $name:ident : $ty:ty = $value:expr; )*) => {
        $( $(#[$meta])* pub const $name: $ty = $value; )*

        /// Every constant mirrored from the header, by its name in this
        /// module, with its value.
        #[cfg(test)]
        pub(crate) const UAPI_CONSTANTS: &[(&str, i128)] =
            &[ $( (stringify!($name), $name as i128), )* ];
    };
}

uapi_constants! {
    /// Readable data on a descriptor.
    EVFILT_READ: i16 = -1;
    /// Room to write on a descriptor.
    EVFILT_WRITE: i16 = -2;
    /// Asynchronous I/O (not supported: EINVAL).
    EVFILT_AIO: i16 = -3;
    /// Changes to a file (vnode).
    EVFILT_VNODE: i16 = -4;
    /// Process events, by pid.
    EVFILT_PROC: i16 = -5;
    /// Signal deliveries.
    EVFILT_SIGNAL: i16 = -6;
    /// Timers.
    EVFILT_TIMER: i16 = -7;
    /// Process events, by process descriptor.
    EVFILT_PROCDESC: i16 = -8;
    /// File system events (not supported: EINVAL).
    EVFILT_FS: i16 = -9;
    /// List I/O (not supported: EINVAL).
    EVFILT_LIO: i16 = -10;
    /// User-triggered events.
    EVFILT_USER: i16 = -11;
    /// Reserved (EINVAL).
    EVFILT_SENDFILE: i16 = -12;
    /// Empty send buffer on a descriptor.
    EVFILT_EMPTY: i16 = -13;
    /// Number of filters.
    EVFILT_SYSCOUNT: i16 = 13;

    /// Add or modify; implies enable.
    EV_ADD: u16 = 0x0001;
    /// Remove.
    EV_DELETE: u16 = 0x0002;
    /// Report when triggered.
    EV_ENABLE: u16 = 0x0004;
    /// Keep the filter, do not report.
    EV_DISABLE: u16 = 0x0008;
    /// Report once, then delete.
    EV_ONESHOT: u16 = 0x0010;
    /// Reset the state after reporting.
    EV_CLEAR: u16 = 0x0020;
    /// Always return an `EV_ERROR` entry.
    EV_RECEIPT: u16 = 0x0040;
    /// Disable after reporting.
    EV_DISPATCH: u16 = 0x0080;
    /// Make oneshot and trigger now.
    EV_FORCEONESHOT: u16 = 0x0100;
    /// Modify without touching udata.
    EV_KEEPUDATA: u16 = 0x0200;
    /// Reserved; masked off on input.
    EV_SYSFLAGS: u16 = 0xf000;
    /// Filter-specific.
    EV_FLAG1: u16 = 0x2000;
    /// Output: data holds an errno.
    EV_ERROR: u16 = 0x4000;
    /// Output: filter-specific end of file.
    EV_EOF: u16 = 0x8000;

    /// READ/WRITE: data is a low-water mark.
    NOTE_LOWAT: u32 = 0x0001;
    /// READ/WRITE: regular files behave like poll(2).
    NOTE_FILE_POLL: u32 = 0x0002;

    /// USER: leave the stored flags alone.
    NOTE_FFNOP: u32 = 0x0000_0000;
    /// USER: AND the stored flags with the given ones.
    NOTE_FFAND: u32 = 0x4000_0000;
    /// USER: OR the given flags into the stored ones.
    NOTE_FFOR: u32 = 0x8000_0000;
    /// USER: replace the stored flags with the given ones.
    NOTE_FFCOPY: u32 = 0xc000_0000;
    /// USER: mask of the operation bits.
    NOTE_FFCTRLMASK: u32 = 0xc000_0000;
    /// USER: mask of the 24 user-defined flag bits.
    NOTE_FFLAGSMASK: u32 = 0x00ff_ffff;
    /// USER: trigger the event.
    NOTE_TRIGGER: u32 = 0x0100_0000;

    /// VNODE: the file was deleted.
    NOTE_DELETE: u32 = 0x0001;
    /// VNODE: the file was written.
    NOTE_WRITE: u32 = 0x0002;
    /// VNODE: the file was extended.
    NOTE_EXTEND: u32 = 0x0004;
    /// VNODE: attributes changed.
    NOTE_ATTRIB: u32 = 0x0008;
    /// VNODE: the link count changed.
    NOTE_LINK: u32 = 0x0010;
    /// VNODE: the file was renamed.
    NOTE_RENAME: u32 = 0x0020;
    /// VNODE: access was revoked.
    NOTE_REVOKE: u32 = 0x0040;
    /// VNODE: the file was opened.
    NOTE_OPEN: u32 = 0x0080;
    /// VNODE: a read-only descriptor was closed.
    NOTE_CLOSE: u32 = 0x0100;
    /// VNODE: a writable descriptor was closed.
    NOTE_CLOSE_WRITE: u32 = 0x0200;
    /// VNODE: the file was read.
    NOTE_READ: u32 = 0x0400;
    /// VNODE: the file shrank (not FreeBSD's: OpenBSD's and macOS's name, with a
    /// value of its own).
    NOTE_TRUNCATE: u32 = 0x0800;

    /// PROC/PROCDESC: the process exited.
    NOTE_EXIT: u32 = 0x8000_0000;
    /// PROC: the process forked.
    NOTE_FORK: u32 = 0x4000_0000;
    /// PROC: the process called exec.
    NOTE_EXEC: u32 = 0x2000_0000;
    /// PROC: mask of the control bits.
    NOTE_PCTRLMASK: u32 = 0xf000_0000;
    /// PROC: mask of the data bits.
    NOTE_PDATAMASK: u32 = 0x000f_ffff;
    /// PROC: follow across forks.
    NOTE_TRACK: u32 = 0x0000_0001;
    /// PROC: could not track a child.
    NOTE_TRACKERR: u32 = 0x0000_0002;
    /// PROC: this is a tracked child.
    NOTE_CHILD: u32 = 0x0000_0004;

    /// TIMER: data is in seconds.
    NOTE_SECONDS: u32 = 0x0001;
    /// TIMER: data is in milliseconds (the default unit).
    NOTE_MSECONDS: u32 = 0x0002;
    /// TIMER: data is in microseconds.
    NOTE_USECONDS: u32 = 0x0004;
    /// TIMER: data is in nanoseconds.
    NOTE_NSECONDS: u32 = 0x0008;
    /// TIMER: data is a `CLOCK_REALTIME` deadline.
    NOTE_ABSTIME: u32 = 0x0010;

    /// [`KeventArgs::flags`]: the timeout is valid; else wait forever.
    KQUEUE_KEVENT_TIMEOUT: u32 = 0x1;
    /// Every valid bit of [`KeventArgs::flags`].
    KQUEUE_KEVENT_FLAGS: u32 = KQUEUE_KEVENT_TIMEOUT;
    /// Most changes in one call (more is EINVAL).
    KQUEUE_MAX_CHANGES: u32 = 1 << 20;
    /// Most events in one call (more is EINVAL).
    KQUEUE_MAX_EVENTS: u32 = 1 << 20;
    /// The ioctl group of `/dev/kqueue`.
    KQUEUE_IOC_MAGIC: u8 = 0xB9;

    /// [`Features::abi_version`] of this ABI.
    KQUEUE_ABI_VERSION: u32 = 1;
    /// [`Features::features`]: close() removes a descriptor's knotes at once
    /// (the module's close() hook is active on this kernel).
    KQUEUE_FEAT_CLOSE_HOOK: u32 = 0x1;
    /// [`Features::features`]: `/proc/PID/fdinfo/FD` of a kqueue lists its
    /// knotes.
    KQUEUE_FEAT_FDINFO: u32 = 0x2;
}

/// The ioctl that implements kevent():
/// `_IOWR(KQUEUE_IOC_MAGIC, 0x01, struct kqueue_kevent_args)`.
pub const KQUEUE_IOC_KEVENT: Opcode =
    ioctl::opcode::read_write::<KeventArgs>(KQUEUE_IOC_MAGIC, 0x01);

/// One change or one event: `struct kqueue_event`, the layout of FreeBSD's
/// LP64 `struct kevent`, on every target.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Kevent {
    /// Identifier of the event source (fd, pid, signal, timer id, ...).
    pub ident: u64,
    /// `EVFILT_*`.
    pub filter: i16,
    /// `EV_*`.
    pub flags: u16,
    /// Filter-specific `NOTE_*` flags.
    pub fflags: u32,
    /// Filter-specific data.
    pub data: i64,
    /// Opaque user value, returned untouched.
    pub udata: u64,
    /// `ext[0]` and `ext[1]` are filter-defined, `ext[2]` and `ext[3]` are
    /// passed through.
    pub ext: [u64; 4],
}

/// A relative timeout: `struct kqueue_timespec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timespec {
    /// Seconds, >= 0.
    pub tv_sec: i64,
    /// Nanoseconds, 0 to 999999999.
    pub tv_nsec: i64,
}

/// The argument of [`KQUEUE_IOC_KEVENT`]: `struct kqueue_kevent_args`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KeventArgs {
    /// User address of `nchanges` [`Kevent`]s, or 0.
    pub changelist: u64,
    /// User address of room for `nevents` [`Kevent`]s, or 0.
    pub eventlist: u64,
    /// Number of changes to apply, at most [`KQUEUE_MAX_CHANGES`].
    pub nchanges: u32,
    /// Room in `eventlist`, at most [`KQUEUE_MAX_EVENTS`].
    pub nevents: u32,
    /// `KQUEUE_KEVENT_*`; any other bit is EINVAL.
    pub flags: u32,
    /// Must be 0.
    pub reserved0: u32,
    /// How long to wait with [`KQUEUE_KEVENT_TIMEOUT`]; `{0, 0}` polls.
    pub timeout: Timespec,
    /// Must be 0.
    pub reserved: [u64; 2],
}

/// What the module implements: `struct kqueue_features`, the result of
/// [`KQUEUE_IOC_FEATURES`] (Linux-specific; see [`crate::Features`] for the
/// typed view).
///
/// The layout never changes: later modules take new fields out of
/// `reserved`, which older ones leave 0, so a field or bit that is 0 means
/// "not supported" or "not reported". `abi_version` changes only with an
/// incompatible change of meaning; a bit that is set stays set in later
/// modules, except [`KQUEUE_FEAT_CLOSE_HOOK`], which depends on the kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Features {
    /// [`KQUEUE_ABI_VERSION`] of the module.
    pub abi_version: u32,
    /// `KQUEUE_FEAT_*` that hold on this kernel.
    pub features: u32,
    /// Bit `-filter - 1` is set for each supported `EVFILT_*`.
    pub filters: u32,
    /// The `EV_*` flags a change may carry.
    pub ev_flags: u32,
    /// The `KQUEUE_KEVENT_*` flags that [`KeventArgs::flags`] accepts.
    pub kevent_flags: u32,
    /// [`KQUEUE_MAX_CHANGES`].
    pub max_changes: u32,
    /// [`KQUEUE_MAX_EVENTS`].
    pub max_events: u32,
    /// 0.
    pub reserved0: u32,
    /// `fflags[-filter - 1]`: the `NOTE_*` bits a registration of that filter
    /// may carry (0 for an unsupported filter).
    pub fflags: [u32; 16],
    /// Per-user limit on knotes of every filter (0: not reported).
    pub max_user_knotes: u32,
    /// Per-user limit on live `EVFILT_TIMER` timers (0: not reported).
    pub max_user_timers: u32,
    /// Per-user limit on `EVFILT_PROC`, `EVFILT_PROCDESC` and `EVFILT_SIGNAL`
    /// knotes (0: not reported).
    pub max_user_proc_watches: u32,
    /// Per-user limit on `EVFILT_VNODE` knotes and `EVFILT_READ` knotes on
    /// regular files (0: not reported).
    pub max_user_vnode_watches: u32,
    /// 0.
    pub reserved: [u32; 4],
}

const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<Features>() == 128);
    assert!(align_of::<Features>() == 4);
    assert!(offset_of!(Features, abi_version) == 0);
    assert!(offset_of!(Features, features) == 4);
    assert!(offset_of!(Features, filters) == 8);
    assert!(offset_of!(Features, ev_flags) == 12);
    assert!(offset_of!(Features, kevent_flags) == 16);
    assert!(offset_of!(Features, max_changes) == 20);
    assert!(offset_of!(Features, max_events) == 24);
    assert!(offset_of!(Features, reserved0) == 28);
    assert!(offset_of!(Features, fflags) == 32);
    assert!(offset_of!(Features, max_user_knotes) == 96);
    assert!(offset_of!(Features, max_user_timers) == 100);
    assert!(offset_of!(Features, max_user_proc_watches) == 104);
    assert!(offset_of!(Features, max_user_vnode_watches) == 108);
    assert!(offset_of!(Features, reserved) == 112);
};

/// The ioctl that reports what the module implements:
/// `_IOR(KQUEUE_IOC_MAGIC, 0x02, struct kqueue_features)`.
pub const KQUEUE_IOC_FEATURES: Opcode = ioctl::opcode::read::<Features>(KQUEUE_IOC_MAGIC, 0x02);

/// [`KQUEUE_IOC_FEATURES`] for `rustix::ioctl`: the kernel fills in a
/// [`Features`] that starts out zeroed, so a file that answers the opcode
/// without writing leaves zeros, not uninitialized memory.
struct FeaturesIoctl<'a> {
    out: &'a mut Features,
}

// SAFETY: the opcode is `_IOR` of `Features`, which has the layout of
// `struct kqueue_features` (checked above); the pointer is to a live,
// initialized `Features` that the kernel may overwrite with any bytes (every
// bit pattern is valid for its integers).
unsafe impl Ioctl for FeaturesIoctl<'_> {
    type Output = ();
    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        KQUEUE_IOC_FEATURES
    }

    fn as_ptr(&mut self) -> *mut core::ffi::c_void {
        (self.out as *mut Features).cast()
    }

    unsafe fn output_from_ptr(_: IoctlOutput, _: *mut core::ffi::c_void) -> rustix::io::Result<()> {
        Ok(())
    }
}

/// Calls `ioctl(kq, KQUEUE_IOC_FEATURES, &features)` (Linux-specific).
///
/// Works on any kqueue descriptor, also one that another process owns. The
/// errors are the kernel's: ENOTTY for a descriptor that is not a kqueue, or
/// for a module older than the ioctl (which is the first version: every
/// filter except AIO, FS, LIO and SENDFILE).
pub fn features(kq: impl AsFd) -> io::Result<Features> {
    let mut out = Features::default();
    // SAFETY: see `FeaturesIoctl`.
    unsafe { ioctl::ioctl(kq.as_fd(), FeaturesIoctl { out: &mut out }) }?;
    Ok(out)
}

/// [`KQUEUE_IOC_KEVENT`] for `rustix::ioctl`: an `_IOWR` ioctl whose
/// return value (the number of events) is the output.
struct KeventIoctl<'a> {
    args: &'a mut KeventArgs,
}

// SAFETY: the opcode is `_IOWR` of `KeventArgs`, which has the layout of
// `struct kqueue_kevent_args`; the pointer is to a live `KeventArgs`; the
// output is the ioctl's return value, which reads nothing through the
// pointer. The lists the arguments point to are the caller's business (see
// `kevent`). IS_MUTATING is true (the kernel does not write the arguments,
// but it does write the event list).
unsafe impl Ioctl for KeventIoctl<'_> {
    type Output = usize;
    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        KQUEUE_IOC_KEVENT
    }

    fn as_ptr(&mut self) -> *mut core::ffi::c_void {
        (self.args as *mut KeventArgs).cast()
    }

    unsafe fn output_from_ptr(
        out: IoctlOutput,
        _: *mut core::ffi::c_void,
    ) -> rustix::io::Result<usize> {
        // A successful ioctl returns a count >= 0.
        Ok(usize::try_from(out).unwrap_or(0))
    }
}

fn open_device(cloexec: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlags::RDWR;
    if cloexec {
        flags |= OFlags::CLOEXEC;
    }
    // rustix passes the flags as given: a plain kqueue() is inheritable, as
    // with the C library.
    Ok(rustix::fs::open(KQUEUE_DEVICE, flags, Mode::empty())?)
}

/// Opens a new kqueue (`open("/dev/kqueue", O_RDWR)`), without
/// close-on-exec, like kqueue(2).
///
/// ENOENT means the module is not loaded; ENODEV or ENXIO a stale device
/// node.
pub fn kqueue() -> io::Result<OwnedFd> {
    open_device(false)
}

/// Opens a new kqueue with `flags`: 0 or [`KQUEUE_CLOEXEC`]; any other bit is
/// EINVAL.
pub fn kqueuex(flags: u32) -> io::Result<OwnedFd> {
    if flags & !KQUEUE_CLOEXEC != 0 {
        return Err(rustix::io::Errno::INVAL.into());
    }
    open_device(flags & KQUEUE_CLOEXEC != 0)
}

/// Calls `ioctl(kq, KQUEUE_IOC_KEVENT, args)` and maps the ENOTTY of a
/// descriptor that is not a kqueue to EBADF, as FreeBSD's kevent(2) does.
///
/// # Safety
///
/// The change list and event list that `args` points to must be valid for
/// `nchanges` reads and `nevents` writes of [`Kevent`] (or the kernel will
/// fail with EFAULT, or overwrite memory that the caller still uses).
pub unsafe fn kevent_ioctl(kq: BorrowedFd<'_>, args: &mut KeventArgs) -> io::Result<usize> {
    // SAFETY: see `KeventIoctl`; the lists are the caller's promise.
    match unsafe { ioctl::ioctl(kq, KeventIoctl { args }) } {
        Ok(n) => Ok(n),
        Err(e) if e == rustix::io::Errno::NOTTY => Err(rustix::io::Errno::BADF.into()),
        Err(e) => Err(e.into()),
    }
}

/// kevent(2): applies `nchanges` changes, then collects at most `nevents`
/// events, waiting as long as `timeout` (forever with `None`; a zero
/// timeout polls). Returns the number of entries written to `events`.
///
/// Counts above [`KQUEUE_MAX_CHANGES`] or [`KQUEUE_MAX_EVENTS`] are EINVAL;
/// a descriptor that is not a kqueue is EBADF.
///
/// # Safety
///
/// `changes` must be valid for reading `nchanges` [`Kevent`]s and `events`
/// valid for writing `nevents` of them (the two may be the same array); a
/// null pointer with a count of 0 is fine.
pub unsafe fn kevent(
    kq: impl AsFd,
    changes: *const Kevent,
    nchanges: usize,
    events: *mut Kevent,
    nevents: usize,
    timeout: Option<&Timespec>,
) -> io::Result<usize> {
    let einval = || io::Error::from(rustix::io::Errno::INVAL);
    let mut args = KeventArgs {
        changelist: changes as usize as u64,
        eventlist: events as usize as u64,
        nchanges: u32::try_from(nchanges).map_err(|_| einval())?,
        nevents: u32::try_from(nevents).map_err(|_| einval())?,
        ..KeventArgs::default()
    };
    if let Some(t) = timeout {
        args.flags = KQUEUE_KEVENT_TIMEOUT;
        args.timeout = *t;
    }
    // SAFETY: the lists are the caller's promise.
    unsafe { kevent_ioctl(kq.as_fd(), &mut args) }
}
