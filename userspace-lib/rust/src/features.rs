//! [`Features`]: what the loaded kqueue module implements (Linux-specific).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use crate::{raw, EventFilter, EventFlags};

/// Entries of [`raw::Features::fflags`]: filters -1 to -16.
const FFLAGS_SLOTS: i16 = 16;

/// What the loaded kqueue module implements: its answer to the
/// `KQUEUE_IOC_FEATURES` ioctl, from [`features`] or [`Kqueue::features`].
///
/// This is Linux-specific (no BSD has it). It lets a program check for a
/// filter, a flag or a note before relying on it, instead of guessing from
/// an EINVAL.
///
/// The raw structure never changes its layout: later modules add fields
/// where older ones report 0, so anything reported as 0 or `false` means
/// "not supported" or "not reported by this module". The ABI version only
/// changes with an incompatible change of meaning, which the ABI promises
/// not to make; a capability that one module version reports stays reported
/// by later ones, except [`Features::close_hook`], which depends on the
/// running kernel.
///
/// [`Kqueue::features`]: crate::Kqueue::features
///
/// ```no_run
/// use kqueue_linux::{raw, EventFilter};
///
/// let f = kqueue_linux::features()?;
/// if !f.supports_filter(raw::EVFILT_EMPTY) {
///     eprintln!("no EVFILT_EMPTY in this module");
/// }
/// assert!(f.supports(&EventFilter::Read(0)));
/// println!("ABI {}, timer notes {:#x}", f.abi_version(), f.accepted_fflags(raw::EVFILT_TIMER));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    raw: raw::Features,
}

impl Features {
    /// Wraps a raw report.
    pub const fn from_raw(raw: raw::Features) -> Self {
        Self { raw }
    }

    /// The raw report.
    pub const fn as_raw(&self) -> &raw::Features {
        &self.raw
    }

    /// The module's ABI version ([`raw::KQUEUE_ABI_VERSION`], 1 so far).
    /// Additions (filters, flags, fields) do not change it: check the
    /// capabilities below instead.
    pub const fn abi_version(&self) -> u32 {
        self.raw.abi_version
    }

    /// Whether `close()` of a descriptor removes its knotes at once on this
    /// kernel (the module's close() hook, which needs `CONFIG_FPROBE`).
    /// Without it, a closed descriptor's knotes are found later and may keep
    /// the file open meanwhile.
    pub const fn close_hook(&self) -> bool {
        self.raw.features & raw::KQUEUE_FEAT_CLOSE_HOOK != 0
    }

    /// Whether `/proc/PID/fdinfo/FD` of a kqueue lists its knotes.
    pub const fn fdinfo(&self) -> bool {
        self.raw.features & raw::KQUEUE_FEAT_FDINFO != 0
    }

    /// Whether the filter `filter` (a raw `EVFILT_*` value) is supported.
    /// Values that are not negative, or beyond the report, are not.
    pub const fn supports_filter(&self, filter: i16) -> bool {
        if filter >= 0 || filter < -32 {
            return false;
        }
        self.raw.filters & (1 << (-filter - 1)) != 0
    }

    /// Whether the filter of `filter` is supported (its identifier and flags
    /// do not matter); [`EventFilter::Unknown`] is not.
    pub fn supports(&self, filter: &EventFilter) -> bool {
        self.supports_filter(filter.raw_filter())
    }

    /// The supported filters, as raw `EVFILT_*` values, from -1 downwards.
    pub fn filters(&self) -> impl Iterator<Item = i16> + '_ {
        (1..=32)
            .map(|n: i16| -n)
            .filter(|&f| self.supports_filter(f))
    }

    /// The `NOTE_*` bits that a registration of `filter` (a raw `EVFILT_*`
    /// value) may carry; 0 for a filter that takes none or is not supported.
    ///
    /// Some combinations of these bits are still invalid (two timer units,
    /// for example). `EVFILT_USER` accepts, and ignores, bits beyond the ones
    /// it lists.
    pub const fn accepted_fflags(&self, filter: i16) -> u32 {
        if filter >= 0 || filter < -FFLAGS_SLOTS {
            return 0;
        }
        self.raw.fflags[(-filter - 1) as usize]
    }

    /// The `EV_*` flags a change may carry.
    pub const fn event_flags(&self) -> EventFlags {
        // The upper half of the field is not part of `EV_*` (a `u16`).
        EventFlags::from_bits_retain(self.raw.ev_flags as u16)
    }

    /// The `KQUEUE_KEVENT_*` flags that the kevent ioctl accepts.
    pub const fn kevent_flags(&self) -> u32 {
        self.raw.kevent_flags
    }

    /// The most changes one kevent() call takes ([`raw::KQUEUE_MAX_CHANGES`]).
    pub const fn max_changes(&self) -> u32 {
        self.raw.max_changes
    }

    /// The most events one kevent() call returns ([`raw::KQUEUE_MAX_EVENTS`]).
    pub const fn max_events(&self) -> u32 {
        self.raw.max_events
    }

    /// The per-user limits in force (the module's parameters); a change past
    /// one fails with ENOMEM.
    pub const fn user_limits(&self) -> UserLimits {
        const fn reported(v: u32) -> Option<u32> {
            if v == 0 {
                None
            } else {
                Some(v)
            }
        }
        UserLimits {
            knotes: reported(self.raw.max_user_knotes),
            timers: reported(self.raw.max_user_timers),
            proc_watches: reported(self.raw.max_user_proc_watches),
            vnode_watches: reported(self.raw.max_user_vnode_watches),
        }
    }
}

/// Per-user limits of the module, from [`Features::user_limits`]; `None` for
/// a limit the module does not report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UserLimits {
    /// Knotes of every filter.
    pub knotes: Option<u32>,
    /// Live `EVFILT_TIMER` timers.
    pub timers: Option<u32>,
    /// `EVFILT_PROC`, `EVFILT_PROCDESC` and `EVFILT_SIGNAL` knotes.
    pub proc_watches: Option<u32>,
    /// `EVFILT_VNODE` knotes and `EVFILT_READ` knotes on regular files.
    pub vnode_watches: Option<u32>,
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Fflags<'a>(&'a Features);
        impl fmt::Debug for Fflags<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map()
                    .entries(
                        self.0.filters().map(|filter| {
                            (filter, format!("{:#x}", self.0.accepted_fflags(filter)))
                        }),
                    )
                    .finish()
            }
        }
        f.debug_struct("Features")
            .field("abi_version", &self.abi_version())
            .field("close_hook", &self.close_hook())
            .field("fdinfo", &self.fdinfo())
            .field("filters", &self.filters().collect::<Vec<_>>())
            .field("event_flags", &self.event_flags())
            .field("kevent_flags", &format_args!("{:#x}", self.kevent_flags()))
            .field("max_changes", &self.max_changes())
            .field("max_events", &self.max_events())
            .field("user_limits", &self.user_limits())
            .field("fflags", &Fflags(self))
            .finish()
    }
}

/// The features reported through the kqueue `kq`; a module that predates the
/// ioctl (ENOTTY) is reported as ENOSYS ([`io::ErrorKind::Unsupported`]).
pub(crate) fn features_of(kq: BorrowedFd<'_>) -> io::Result<Features> {
    match raw::features(kq) {
        Ok(f) => Ok(Features::from_raw(f)),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTTY.raw_os_error()) => {
            Err(rustix::io::Errno::NOSYS.into())
        }
        Err(e) => Err(e),
    }
}

/// Asks the loaded kqueue module what it implements (Linux-specific), through
/// a kqueue opened and closed for the purpose; [`Kqueue::features`] asks
/// through an open one.
///
/// Errors: ENOENT when the module is not loaded (as [`Kqueue::new`]); ENOSYS
/// ([`io::ErrorKind::Unsupported`]) when the module predates the query,
/// which makes it the first version: every filter except AIO, FS, LIO and
/// SENDFILE.
///
/// [`Kqueue::features`]: crate::Kqueue::features
/// [`Kqueue::new`]: crate::Kqueue::new
pub fn features() -> io::Result<Features> {
    let kq = raw::kqueuex(raw::KQUEUE_CLOEXEC)?;
    features_of(kq.as_fd())
}
