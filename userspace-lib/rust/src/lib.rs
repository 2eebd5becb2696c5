//! kqueue(2) and kevent(2) for Linux, through the `/dev/kqueue` kernel
//! module of the kqueue-linux project.
//!
//! Each open file of `/dev/kqueue` is one kqueue, and kevent() is one ioctl
//! on it. This crate talks to the device directly (it does not need the C
//! library) and offers three layers:
//!
//! - [`Kqueue`]: an owned kqueue ([`AsFd`], [`AsRawFd`](std::os::fd::AsRawFd),
//!   `From<OwnedFd>`, closed on drop) with [`Kqueue::kevent`],
//!   [`Kqueue::register`], [`Kqueue::wait`] and a non-blocking
//!   [`Kqueue::drain`] for event loops such as tokio's `AsyncFd`;
//! - free functions in the style of `rustix::event::kqueue`: [`kqueue`],
//!   [`kqueuex`] and [`kevent`], on any [`AsFd`];
//! - [`raw`]: the ABI of `<linux/kqueue.h>` ([`raw::Kevent`], the `EVFILT_*`,
//!   `EV_*` and `NOTE_*` constants, and an `unsafe` [`raw::kevent`]).
//!
//! [`features`] and [`Kqueue::features`] (Linux-specific) report what the
//! loaded module implements, as a [`Features`].
//!
//! Changes and events are [`Event`]s with a typed [`EventFilter`] and
//! [`EventFlags`].
//!
//! ```no_run
//! use kqueue_linux::{Event, EventFilter, EventFlags, Kqueue};
//! use std::os::fd::AsRawFd;
//! use std::time::Duration;
//!
//! let kq = Kqueue::new()?;
//! let (reader, _writer) = std::io::pipe()?;
//! let timer = EventFilter::Timer { ident: 1, timer: Some(Duration::from_millis(10)), absolute: false };
//! kq.register(&[
//!     Event::new(timer, EventFlags::ADD, 0),
//!     Event::new(EventFilter::Read(reader.as_raw_fd()), EventFlags::ADD, 1),
//! ])?;
//! let mut events = Vec::with_capacity(4);
//! kq.wait(&mut events, None)?;
//! for ev in &events {
//!     println!("{:?}, data {}", ev.filter(), ev.data());
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What is Linux-specific
//!
//! The API and the values are FreeBSD's (12 and later), and every filter
//! but FreeBSD's AIO, FS, LIO and SENDFILE is implemented. The project's
//! `kevent(2)` man page (`userspace-lib/man/kevent.2`) and
//! `doc/semantics.md` give every rule; these are the points where Linux
//! shows:
//!
//! - The kqueue module must be loaded: without it, opening a kqueue fails
//!   with ENOENT (ENODEV or ENXIO for a stale device node). kevent() is an
//!   ioctl, not a system call; the ENOTTY of a descriptor that is not a
//!   kqueue is reported as EBADF, as FreeBSD does.
//! - A kqueue belongs to the process that opened it. Its descriptor is a
//!   Linux descriptor and is copied by `fork()` or `SCM_RIGHTS`, but every
//!   call through such a copy fails with EBADF. Closing the owner's last
//!   descriptor wakes threads blocked in kevent() with EBADF.
//! - The descriptor is pollable (poll, select, epoll): readable while events
//!   are pending, which is what lets tokio, mio or any epoll loop drive it.
//! - Descriptor filters hook the file's `poll` and measure it per kind of
//!   file (pipes, sockets, regular files, kqueues); `EVFILT_EMPTY` takes
//!   sockets only.
//! - `EVFILT_VNODE` maps Linux's fsnotify events to the `NOTE_*` bits, and
//!   needs read permission on the file (EACCES); `EVFILT_PROC` needs the
//!   permission of kill(2) over the process (EACCES); `EVFILT_PROCDESC`
//!   takes pidfds; `EVFILT_SIGNAL` counts every generation of the signal,
//!   also ignored and blocked ones, and never consumes it.
//! - Periodic timers fire at most every 100 us; timers and process or signal
//!   watches are limited per user by module parameters (ENOMEM beyond).
//! - The module reports what it implements ([`features`]: its ABI version,
//!   the filters, flags and notes it accepts, whether `close()` removes
//!   knotes at once on this kernel), and `/proc/PID/fdinfo/FD` of a kqueue
//!   lists its knotes with their state (see `kqueue(2)` in the project).
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod features;
mod queue;
pub mod raw;

pub use features::{features, Features, UserLimits};
pub use queue::Kqueue;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::time::Duration;

use bitflags::bitflags;

/// Opens a new kqueue (inheritable, like kqueue(2)) as a bare descriptor;
/// see [`Kqueue::new`] for the owned type.
///
/// Fails with ENOENT when the module is not loaded.
pub fn kqueue() -> io::Result<OwnedFd> {
    raw::kqueue()
}

/// Opens a new kqueue, with close-on-exec when `cloexec` is true (FreeBSD's
/// `kqueuex(KQUEUE_CLOEXEC)`).
pub fn kqueuex(cloexec: bool) -> io::Result<OwnedFd> {
    raw::kqueuex(if cloexec { raw::KQUEUE_CLOEXEC } else { 0 })
}

bitflags! {
    /// The `EV_*` flags of an [`Event`]: actions on input, status on output.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct EventFlags: u16 {
        /// Add or modify the event; implies [`EventFlags::ENABLE`].
        const ADD = raw::EV_ADD;
        /// Remove the event.
        const DELETE = raw::EV_DELETE;
        /// Report the event when it triggers.
        const ENABLE = raw::EV_ENABLE;
        /// Keep the event but do not report it.
        const DISABLE = raw::EV_DISABLE;
        /// Report once, then delete.
        const ONESHOT = raw::EV_ONESHOT;
        /// Reset the state after reporting.
        const CLEAR = raw::EV_CLEAR;
        /// Always return an entry with [`EventFlags::ERROR`] for the change
        /// (data 0 on success).
        const RECEIPT = raw::EV_RECEIPT;
        /// Disable after reporting.
        const DISPATCH = raw::EV_DISPATCH;
        /// Make the event oneshot and report it at the next collection.
        const FORCEONESHOT = raw::EV_FORCEONESHOT;
        /// Modify the event without replacing its udata.
        const KEEPUDATA = raw::EV_KEEPUDATA;
        /// Filter-specific.
        const FLAG1 = raw::EV_FLAG1;
        /// Output: the entry reports the result of a change; the errno is in
        /// the data (see [`Event::error`]).
        const ERROR = raw::EV_ERROR;
        /// Output: filter-specific end of file.
        const EOF = raw::EV_EOF;
        /// Reserved bits (masked off by the kernel on input).
        const SYSFLAGS = raw::EV_SYSFLAGS;
    }
}

bitflags! {
    /// The `NOTE_*` control flags of an `EVFILT_USER` change.
    ///
    /// [`UserFlags::FFNOP`], [`UserFlags::FFAND`], [`UserFlags::FFOR`] and
    /// [`UserFlags::FFCOPY`] say how the change's [`UserDefinedFlags`]
    /// combine with the stored ones; [`UserFlags::TRIGGER`] triggers the
    /// event.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct UserFlags: u32 {
        /// Ignore the given flags.
        const FFNOP = raw::NOTE_FFNOP;
        /// AND the given flags with the stored ones.
        const FFAND = raw::NOTE_FFAND;
        /// OR the given flags into the stored ones.
        const FFOR = raw::NOTE_FFOR;
        /// Replace the stored flags with the given ones.
        const FFCOPY = raw::NOTE_FFCOPY;
        /// Mask of the operation bits.
        const FFCTRLMASK = raw::NOTE_FFCTRLMASK;
        /// Mask of the user-defined bits.
        const FFLAGSMASK = raw::NOTE_FFLAGSMASK;
        /// Trigger the event.
        const TRIGGER = raw::NOTE_TRIGGER;
    }
}

/// The 24 user-defined flag bits of an `EVFILT_USER` event.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserDefinedFlags(u32);

impl UserDefinedFlags {
    /// Makes user-defined flags of the low 24 bits of `flags` (the other bits
    /// are dropped).
    pub const fn new(flags: u32) -> Self {
        Self(flags & raw::NOTE_FFLAGSMASK)
    }

    /// Returns the flags.
    pub const fn get(self) -> u32 {
        self.0
    }
}

bitflags! {
    /// The `NOTE_*` flags of an `EVFILT_VNODE` event.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct VnodeEvents: u32 {
        /// The file was deleted.
        const DELETE = raw::NOTE_DELETE;
        /// The file was written.
        const WRITE = raw::NOTE_WRITE;
        /// The file was extended.
        const EXTEND = raw::NOTE_EXTEND;
        /// Its attributes changed.
        const ATTRIBUTES = raw::NOTE_ATTRIB;
        /// Its link count changed.
        const LINK = raw::NOTE_LINK;
        /// It was renamed.
        const RENAME = raw::NOTE_RENAME;
        /// Access to it was revoked.
        const REVOKE = raw::NOTE_REVOKE;
        /// It was opened.
        const OPEN = raw::NOTE_OPEN;
        /// A descriptor without write access was closed.
        const CLOSE = raw::NOTE_CLOSE;
        /// A descriptor with write access was closed.
        const CLOSE_WRITE = raw::NOTE_CLOSE_WRITE;
        /// It was read.
        const READ = raw::NOTE_READ;
        /// It shrank (`NOTE_TRUNCATE`, a Linux addition under OpenBSD's and macOS's name).
        const TRUNCATE = raw::NOTE_TRUNCATE;
    }
}

bitflags! {
    /// The `NOTE_*` flags of an `EVFILT_PROC` or `EVFILT_PROCDESC` event.
    #[repr(transparent)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct ProcessEvents: u32 {
        /// The process exited.
        const EXIT = raw::NOTE_EXIT;
        /// The process forked.
        const FORK = raw::NOTE_FORK;
        /// The process called exec.
        const EXEC = raw::NOTE_EXEC;
        /// Follow the process across forks.
        const TRACK = raw::NOTE_TRACK;
        /// A child could not be tracked.
        const TRACKERR = raw::NOTE_TRACKERR;
        /// Output: this is a tracked child.
        const CHILD = raw::NOTE_CHILD;
    }
}

/// What an [`Event`] watches: the filter and its identifier, with the
/// filter-specific flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventFilter {
    /// `EVFILT_READ`: data to read on a descriptor.
    Read(RawFd),
    /// `EVFILT_WRITE`: room to write on a descriptor.
    Write(RawFd),
    /// `EVFILT_EMPTY`: the send buffer of a descriptor is empty.
    Empty(RawFd),
    /// `EVFILT_VNODE`: changes to the file open as `vnode`.
    Vnode {
        /// The file descriptor.
        vnode: RawFd,
        /// The changes to watch.
        flags: VnodeEvents,
    },
    /// `EVFILT_PROC`: events of process `pid`.
    Proc {
        /// The process id.
        pid: i32,
        /// The events to watch.
        flags: ProcessEvents,
    },
    /// `EVFILT_PROCDESC`: events of the process behind a process descriptor
    /// (pidfd).
    Procdesc {
        /// The process descriptor.
        fd: RawFd,
        /// The events to watch ([`ProcessEvents::EXIT`]).
        flags: ProcessEvents,
    },
    /// `EVFILT_SIGNAL`: deliveries of a signal.
    Signal {
        /// The signal number.
        signal: i32,
        /// On output, the number of deliveries since the last report (0 in
        /// a change).
        times: usize,
    },
    /// `EVFILT_TIMER`: a timer.
    ///
    /// In a change, `timer` is the period (or, with `absolute`, the
    /// `CLOCK_REALTIME` deadline as a time since the Unix epoch); it is
    /// encoded in the coarsest of seconds, milliseconds, microseconds and
    /// nanoseconds that represents it exactly. `None` is a period of 0 (and
    /// data 0 decodes as `None`).
    /// In a fired event the data is the number of expirations: read it with
    /// [`Event::data`].
    Timer {
        /// Any identifier.
        ident: u64,
        /// The period or deadline.
        timer: Option<Duration>,
        /// Whether `timer` is an absolute deadline (`NOTE_ABSTIME`).
        absolute: bool,
    },
    /// `EVFILT_USER`: an event triggered by a kevent() call.
    User {
        /// Any identifier.
        ident: u64,
        /// The operation on the stored flags, and [`UserFlags::TRIGGER`].
        flags: UserFlags,
        /// The operand of the operation; in an event, the stored flags.
        user_flags: UserDefinedFlags,
    },
    /// A filter this crate does not know (see [`Event::as_raw`]).
    Unknown,
}

impl EventFilter {
    /// The raw `EVFILT_*` value of the filter; 0 for [`EventFilter::Unknown`].
    pub const fn raw_filter(&self) -> i16 {
        match self {
            EventFilter::Read(_) => raw::EVFILT_READ,
            EventFilter::Write(_) => raw::EVFILT_WRITE,
            EventFilter::Empty(_) => raw::EVFILT_EMPTY,
            EventFilter::Vnode { .. } => raw::EVFILT_VNODE,
            EventFilter::Proc { .. } => raw::EVFILT_PROC,
            EventFilter::Procdesc { .. } => raw::EVFILT_PROCDESC,
            EventFilter::Signal { .. } => raw::EVFILT_SIGNAL,
            EventFilter::Timer { .. } => raw::EVFILT_TIMER,
            EventFilter::User { .. } => raw::EVFILT_USER,
            EventFilter::Unknown => 0,
        }
    }
}

/// One change or one returned event: a [`raw::Kevent`] with typed accessors.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Event {
    inner: raw::Kevent,
}

/// Encodes a duration as `(unit flag, value)`: the coarsest exact unit,
/// clamped to `i64::MAX` units.
fn encode_duration(d: Duration) -> (u32, i64) {
    let clamp = |v: u128| i64::try_from(v).unwrap_or(i64::MAX);
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        (raw::NOTE_SECONDS, clamp(u128::from(d.as_secs())))
    } else if nanos.is_multiple_of(1_000_000) {
        (raw::NOTE_MSECONDS, clamp(d.as_millis()))
    } else if nanos.is_multiple_of(1_000) {
        (raw::NOTE_USECONDS, clamp(d.as_micros()))
    } else {
        (raw::NOTE_NSECONDS, clamp(d.as_nanos()))
    }
}

/// Decodes a timer's data in the unit of `fflags` (milliseconds by default).
/// Negative data decodes as zero.
fn decode_duration(fflags: u32, data: i64) -> Duration {
    let v = u64::try_from(data).unwrap_or(0);
    if fflags & raw::NOTE_SECONDS != 0 {
        Duration::from_secs(v)
    } else if fflags & raw::NOTE_USECONDS != 0 {
        Duration::from_micros(v)
    } else if fflags & raw::NOTE_NSECONDS != 0 {
        Duration::from_nanos(v)
    } else {
        Duration::from_millis(v)
    }
}

impl Event {
    /// Makes a change for `filter` with `flags` and the user value `udata`.
    pub fn new(filter: EventFilter, flags: EventFlags, udata: u64) -> Self {
        let (ident, filt, fflags, data): (u64, i16, u32, i64) = match filter {
            EventFilter::Read(fd) => (fd as u64, raw::EVFILT_READ, 0, 0),
            EventFilter::Write(fd) => (fd as u64, raw::EVFILT_WRITE, 0, 0),
            EventFilter::Empty(fd) => (fd as u64, raw::EVFILT_EMPTY, 0, 0),
            EventFilter::Vnode { vnode, flags } => {
                (vnode as u64, raw::EVFILT_VNODE, flags.bits(), 0)
            }
            EventFilter::Proc { pid, flags } => (pid as u64, raw::EVFILT_PROC, flags.bits(), 0),
            EventFilter::Procdesc { fd, flags } => {
                (fd as u64, raw::EVFILT_PROCDESC, flags.bits(), 0)
            }
            EventFilter::Signal { signal, times } => (
                signal as u64,
                raw::EVFILT_SIGNAL,
                0,
                i64::try_from(times).unwrap_or(i64::MAX),
            ),
            EventFilter::Timer {
                ident,
                timer,
                absolute,
            } => {
                let (unit, data) = match timer {
                    Some(d) => encode_duration(d),
                    None => (0, 0),
                };
                let abs = if absolute { raw::NOTE_ABSTIME } else { 0 };
                (ident, raw::EVFILT_TIMER, unit | abs, data)
            }
            EventFilter::User {
                ident,
                flags,
                user_flags,
            } => (
                ident,
                raw::EVFILT_USER,
                (flags.bits() & !raw::NOTE_FFLAGSMASK) | user_flags.get(),
                0,
            ),
            EventFilter::Unknown => (0, 0, 0, 0),
        };
        Self {
            inner: raw::Kevent {
                ident,
                filter: filt,
                flags: flags.bits(),
                fflags,
                data,
                udata,
                ext: [0; 4],
            },
        }
    }

    /// Replaces the data of the change (for example the value an
    /// `EVFILT_USER` change stores, or a low-water mark). For a timer, the
    /// data is the period that [`Event::new`] encoded.
    pub fn with_data(mut self, data: i64) -> Self {
        self.inner.data = data;
        self
    }

    /// Replaces the `ext` values, which come back unchanged in events.
    pub fn with_ext(mut self, ext: [u64; 4]) -> Self {
        self.inner.ext = ext;
        self
    }

    /// Wraps a raw entry.
    pub const fn from_raw(raw: raw::Kevent) -> Self {
        Self { inner: raw }
    }

    /// The raw entry.
    pub const fn as_raw(&self) -> &raw::Kevent {
        &self.inner
    }

    /// Unwraps the raw entry.
    pub const fn into_raw(self) -> raw::Kevent {
        self.inner
    }

    /// The filter, its identifier and its flags.
    pub fn filter(&self) -> EventFilter {
        let k = &self.inner;
        match k.filter {
            raw::EVFILT_READ => EventFilter::Read(k.ident as RawFd),
            raw::EVFILT_WRITE => EventFilter::Write(k.ident as RawFd),
            raw::EVFILT_EMPTY => EventFilter::Empty(k.ident as RawFd),
            raw::EVFILT_VNODE => EventFilter::Vnode {
                vnode: k.ident as RawFd,
                flags: VnodeEvents::from_bits_retain(k.fflags),
            },
            raw::EVFILT_PROC => EventFilter::Proc {
                pid: k.ident as i32,
                flags: ProcessEvents::from_bits_retain(k.fflags),
            },
            raw::EVFILT_PROCDESC => EventFilter::Procdesc {
                fd: k.ident as RawFd,
                flags: ProcessEvents::from_bits_retain(k.fflags),
            },
            raw::EVFILT_SIGNAL => EventFilter::Signal {
                signal: k.ident as i32,
                times: usize::try_from(k.data).unwrap_or(0),
            },
            raw::EVFILT_TIMER => EventFilter::Timer {
                ident: k.ident,
                timer: (k.data != 0).then(|| decode_duration(k.fflags, k.data)),
                absolute: k.fflags & raw::NOTE_ABSTIME != 0,
            },
            raw::EVFILT_USER => EventFilter::User {
                ident: k.ident,
                flags: UserFlags::from_bits_retain(k.fflags & !raw::NOTE_FFLAGSMASK),
                user_flags: UserDefinedFlags::new(k.fflags),
            },
            _ => EventFilter::Unknown,
        }
    }

    /// The `EV_*` flags.
    pub fn flags(&self) -> EventFlags {
        EventFlags::from_bits_retain(self.inner.flags)
    }

    /// The user value given with the change.
    pub fn udata(&self) -> u64 {
        self.inner.udata
    }

    /// The filter-specific data: the expirations of a timer, the stored data
    /// of a user event, the errno of an [`EventFlags::ERROR`] entry, ...
    pub fn data(&self) -> i64 {
        self.inner.data
    }

    /// The filter-specific `NOTE_*` flags, raw.
    pub fn fflags(&self) -> u32 {
        self.inner.fflags
    }

    /// The identifier (descriptor, pid, signal, timer or user id), raw.
    pub fn ident(&self) -> u64 {
        self.inner.ident
    }

    /// The `ext` values.
    pub fn ext(&self) -> [u64; 4] {
        self.inner.ext
    }

    /// For an entry with [`EventFlags::ERROR`], the error of the change it
    /// reports; `None` for a successful receipt (data 0) and for every
    /// other entry.
    pub fn error(&self) -> Option<io::Error> {
        if self.flags().contains(EventFlags::ERROR) && self.inner.data != 0 {
            Some(io::Error::from_raw_os_error(
                i32::try_from(self.inner.data).unwrap_or(i32::MAX),
            ))
        } else {
            None
        }
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("filter", &self.filter())
            .field("flags", &self.flags())
            .field("fflags", &format_args!("{:#x}", self.inner.fflags))
            .field("data", &self.inner.data)
            .field("udata", &self.inner.udata)
            .finish()
    }
}

/// kevent(2): applies `changelist`, then collects events into the spare
/// capacity of `eventlist`, waiting at most `timeout` when none is pending
/// (`None` waits forever, a zero duration polls).
///
/// `eventlist` is cleared first; afterwards its length is the number of
/// entries written, which is returned. With a capacity of 0 the changes are
/// applied and nothing is collected; a change that fails then fails the
/// call with its errno. With room, a failed change (or any change with
/// [`EventFlags::RECEIPT`]) yields an [`EventFlags::ERROR`] entry instead
/// (see [`Event::error`]). At most [`raw::KQUEUE_MAX_EVENTS`] entries are
/// collected per call.
///
/// Errors: EBADF (not a kqueue), EINVAL, EINTR (never restarted), ...
pub fn kevent(
    kqueue: impl AsFd,
    changelist: &[Event],
    eventlist: &mut Vec<Event>,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let timeout = timeout.map(|t| raw::Timespec {
        tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
        tv_nsec: i64::from(t.subsec_nanos()),
    });
    eventlist.clear();
    let spare = eventlist.spare_capacity_mut();
    let nevents = spare.len().min(raw::KQUEUE_MAX_EVENTS as usize);
    // SAFETY: `Event` is a transparent `raw::Kevent`; the change list is
    // valid for its length and the spare capacity for `nevents` writes.
    let n = unsafe {
        raw::kevent(
            kqueue,
            changelist.as_ptr().cast::<raw::Kevent>(),
            changelist.len(),
            spare.as_mut_ptr().cast::<raw::Kevent>(),
            nevents,
            timeout.as_ref(),
        )?
    };
    let n = n.min(nevents);
    // SAFETY: the kernel initialized the first `n` entries.
    unsafe { eventlist.set_len(n) };
    Ok(n)
}

#[cfg(test)]
mod tests;
