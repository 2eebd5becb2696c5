// SPDX-License-Identifier: GPL-2.0

//! The filter interface.
//!
//! A filter connects knotes to one kind of event source. The engine (`kqueue.rs`) calls it:
//!
//! - `attach`, `modify`, `detach` in process context with the kqueue mutex held and the ready
//!   lock not held: they may sleep, allocate and cancel timers;
//! - `active`, `report`, `consume` with the ready lock held (interrupts off): they only look at
//!   and update the knote's state.
//!
//! A filter's own event source (a timer, later a wait queue) calls `Kqueue::activate` in atomic
//! context when its condition may have become true.

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::knote::{Knote, KnoteState};
use crate::uapi::{self, KEvent};

/// A knote's filter-specific state: each filter keeps its own type here, so a knote carries
/// only the state of its filter. The engine never looks inside.
#[derive(Default)]
pub(crate) enum FilterState {
    /// Nothing (`EVFILT_USER`, or a filter not attached yet / detached).
    #[default]
    None,
    /// `EVFILT_TIMER`.
    Timer(crate::filter_timer::TimerState),
    /// `EVFILT_READ`, `EVFILT_WRITE`, `EVFILT_EMPTY`: the hook on the file, while attached.
    Fd(crate::filter_fd::FdWatch),
    /// `EVFILT_VNODE`.
    Vnode(crate::filter_vnode::VnodeState),
    /// `EVFILT_PROC`, `EVFILT_PROCDESC`, `EVFILT_SIGNAL`.
    Proc(crate::filter_proc::ProcState),
}

impl FilterState {
    /// The `EVFILT_VNODE` state, if this is one.
    pub(crate) fn vnode(&self) -> Option<&crate::filter_vnode::VnodeState> {
        match self {
            Self::Vnode(v) => Some(v),
            _ => None,
        }
    }

    /// See `vnode`.
    pub(crate) fn vnode_mut(&mut self) -> Option<&mut crate::filter_vnode::VnodeState> {
        match self {
            Self::Vnode(v) => Some(v),
            _ => None,
        }
    }

    /// The process or signal state, if this is one.
    pub(crate) fn proc(&self) -> Option<&crate::filter_proc::ProcState> {
        match self {
            Self::Proc(p) => Some(p),
            _ => None,
        }
    }

    /// See `proc`.
    pub(crate) fn proc_mut(&mut self) -> Option<&mut crate::filter_proc::ProcState> {
        match self {
            Self::Proc(p) => Some(p),
            _ => None,
        }
    }
}

/// What a filter's `check` reads of the knote's state: taken by `Filter::snapshot` under the
/// ready lock, when a scan takes the knote off the ready list, so that `check` need not take
/// the lock again.
#[derive(Clone, Copy, Default)]
pub(crate) struct Snapshot {
    pub(crate) sfflags: u32,
    pub(crate) sdata: i64,
    pub(crate) forced: bool,
    /// Descriptor filters: the knote's poll watch, as it was attached.
    pub(crate) fd: Option<crate::filter_fd::FdSnapshot>,
}

/// What `Filter::check` decided.
pub(crate) enum Check {
    /// Report the event.
    Report,
    /// The condition does not hold: drop the knote from the ready list.
    Skip,
    /// The knote's descriptor no longer refers to its file: unregister it.
    Stale,
}

/// One `EVFILT_*` implementation.
pub(crate) trait Filter: Sync {
    /// Validates the registration `kev` and connects the new knote `kn` to its event source.
    /// On error the knote is dropped unregistered; `detach` is not called.
    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result;

    /// The state a new knote of this filter starts with. A filter whose callbacks update their
    /// own state in place (vnode, proc) returns its variant, so that it is there from the
    /// start and for the knote's whole life.
    fn new_state(&self) -> FilterState {
        FilterState::None
    }

    /// A knote this filter created outside the kqueue mutex (`Kqueue::queue_pending`) is now
    /// registered. The kqueue mutex is held.
    fn pending_registered(&self, _kn: &Arc<Knote>) {}

    /// A knote this filter created outside the kqueue mutex could not be registered (its key
    /// is taken); `origin` is the knote whose event created it, and `origin_registered` tells
    /// whether it is still in the table. Detaches `kn`. The kqueue mutex is held.
    fn pending_refused(&self, kn: &Arc<Knote>, _origin: &Arc<Knote>, _origin_registered: bool) {
        self.detach(kn);
    }

    /// Applies the change `kev` to the registered knote `kn` (FreeBSD's `f_touch`). `add`
    /// tells whether the change has `EV_ADD`; other changes (`EV_ENABLE`, a bare
    /// `NOTE_TRIGGER`, ...) reach it too.
    fn modify(&self, kn: &Arc<Knote>, kev: &KEvent, add: bool) -> Result;

    /// Disconnects `kn` from its event source. When it returns, no callback of the filter
    /// touches `kn` any more.
    fn detach(&self, kn: &Knote);

    /// `detach`, from `kevent()`: a file reference the knote holds is dropped by a work item,
    /// not by the calling task. A last `fput()` by the caller would be deferred until it
    /// returns to user space, so an event the release causes (a peer's EOF) could not wake the
    /// same call if it then went to sleep.
    fn detach_deferred(&self, kn: &Knote) {
        self.detach(kn);
    }

    /// Whether the knote's condition holds now (level-triggered re-check at collection).
    fn active(&self, st: &KnoteState) -> bool;

    /// Fills in the filter's part (`fflags`, `data`, extra `flags`) of the event to report.
    fn report(&self, st: &KnoteState, ev: &mut KEvent);

    /// Called after `ev` was delivered to userspace: forgets what was reported.
    fn consume(&self, st: &mut KnoteState, ev: &KEvent);

    /// What `check` will need of `st`, taken with the ready lock held when a scan takes the
    /// knote off the ready list (the kqueue mutex is held from then until `check`). Nothing by
    /// default.
    fn snapshot(&self, _st: &mut KnoteState) -> Snapshot {
        Snapshot::default()
    }

    /// Decides at collection time, in process context with the kqueue mutex held (the ready
    /// lock is not held), whether to report `kn`, and fills in the filter's part of `ev`;
    /// `snap` is what `snapshot` took. The default drops a stale knote (`is_stale`), then asks
    /// `active` and `report` under the ready lock.
    fn check(&self, kn: &Knote, _snap: &Snapshot, ev: &mut KEvent) -> Check {
        if self.is_stale(kn) {
            return Check::Stale;
        }
        let mut rd = kn.kq().ready_lock().lock();
        let st = kn.state.access_mut(&mut rd);
        if !(st.forced || self.active(st)) {
            return Check::Skip;
        }
        self.report(st, ev);
        Check::Report
    }

    /// Whether the engine may decide at collection with `active` and `report` under the ready
    /// lock, together with taking the knote off the ready list, instead of calling `check`.
    /// Filters that override `check` return `false` (the default).
    fn check_under_ready_lock(&self) -> bool {
        false
    }

    /// Whether `KnoteState::triggered` tells if an event came since the knote was last looked
    /// at (`snapshot` clears it, the event source sets it). A collection then does not count a
    /// queued knote without it against the room it has: such a knote is back for another look
    /// (level-triggered), which usually finds its condition gone.
    fn tracks_wakeups(&self) -> bool {
        false
    }

    /// For a knote back for another look without a new event (`tracks_wakeups`, `triggered`
    /// clear, not forced): whether its condition certainly does not hold now, so that the
    /// collection drops it at once, under the ready lock, instead of asking `check` (what
    /// `check` and the end of the scan would decide). Runs under the ready lock: no sleeping,
    /// no lock of the watched object; `false` when in doubt (the default).
    fn quiet_now(&self, _st: &KnoteState) -> bool {
        false
    }

    /// After a report (and `consume`): whether the knote goes back on the ready list.
    fn requeue_after_report(&self, st: &KnoteState) -> bool {
        self.active(st)
    }

    /// Whether the knote's identity went away (a descriptor filter's descriptor was closed).
    /// Kqueue mutex held.
    fn is_stale(&self, _kn: &Knote) -> bool {
        false
    }

    /// Whether the ident is a file descriptor.
    fn is_fd(&self) -> bool {
        false
    }

    /// The `NOTE_*` bits a registration may carry (`KQUEUE_IOC_FEATURES`).
    fn fflags(&self) -> u32;

    /// Flags a knote of this filter always has.
    fn forced_flags(&self) -> u16 {
        0
    }
}

/// The name of a filter in `/proc/PID/fdinfo`, as `EVFILT_*` spells it.
pub(crate) fn name(filter: i16) -> &'static str {
    match filter {
        uapi::EVFILT_READ => "READ",
        uapi::EVFILT_WRITE => "WRITE",
        uapi::EVFILT_VNODE => "VNODE",
        uapi::EVFILT_PROC => "PROC",
        uapi::EVFILT_SIGNAL => "SIGNAL",
        uapi::EVFILT_TIMER => "TIMER",
        uapi::EVFILT_PROCDESC => "PROCDESC",
        uapi::EVFILT_USER => "USER",
        uapi::EVFILT_EMPTY => "EMPTY",
        _ => "?",
    }
}

/// Looks up the filter for `filter`, or `EINVAL` for an unknown or unsupported one.
pub(crate) fn lookup(filter: i16) -> Result<Ops> {
    match filter {
        uapi::EVFILT_USER => Ok(&USER),
        uapi::EVFILT_TIMER => Ok(&TIMER),
        uapi::EVFILT_READ => Ok(&READ),
        uapi::EVFILT_WRITE => Ok(&WRITE),
        uapi::EVFILT_EMPTY => Ok(&EMPTY),
        uapi::EVFILT_VNODE => Ok(&VNODE),
        uapi::EVFILT_PROC => Ok(&PROC),
        uapi::EVFILT_PROCDESC => Ok(&PROCDESC),
        uapi::EVFILT_SIGNAL => Ok(&SIGNAL),
        // FreeBSD's filters not implemented yet, and the FreeBSD-only ones (AIO, FS, LIO,
        // SENDFILE), are invalid here, like unknown ones.
        _ => Err(EINVAL),
    }
}

/// A filter implementation as a knote keeps it: a thin reference (8 bytes, where a reference
/// to the trait object would take 16) to one of the statics below.
pub(crate) type Ops = &'static &'static dyn Filter;

static USER: &dyn Filter = &crate::filter_user::UserFilter;
static TIMER: &dyn Filter = &crate::filter_timer::TimerFilter;
static READ: &dyn Filter = &crate::filter_fd::READ;
static WRITE: &dyn Filter = &crate::filter_fd::WRITE;
static EMPTY: &dyn Filter = &crate::filter_fd::EMPTY;
static VNODE: &dyn Filter = &crate::filter_vnode::VNODE;
/// `EVFILT_PROC`, for the knotes `NOTE_TRACK` creates.
pub(crate) static PROC: &dyn Filter = &crate::filter_proc::PROC;
static PROCDESC: &dyn Filter = &crate::filter_proc::PROCDESC;
static SIGNAL: &dyn Filter = &crate::filter_proc::SIGNAL;
