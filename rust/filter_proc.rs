// SPDX-License-Identifier: GPL-2.0

//! `EVFILT_PROC`, `EVFILT_PROCDESC` and `EVFILT_SIGNAL`: processes and signals.
//!
//! Each knote owns a watch (`proc_watch::Watch`; `proc_watch.rs` explains the event sources:
//! the pid's `wait_pidfd` wait queue for exits, tracepoint probes for forks, execs and
//! signals). The watch calls back into this file in atomic context; the callbacks only record
//! the event in the knote's `ProcState` (or count in `data`) and queue the knote.
//!
//! `EVFILT_PROC` with `NOTE_TRACK`: when the process forks, the fork probe runs in the parent
//! before the child first runs. It creates the child's knote and watch right there (atomic
//! context, so with `GFP_ATOMIC`), which guarantees that every fork, exec and exit of the
//! child is seen, however quickly it happens. The knote cannot enter the kqueue's table from
//! there (that needs the kqueue mutex): it waits on the kqueue's pending list, inactive,
//! until the next `kevent()` call on the kqueue registers it and queues it (`Kqueue::
//! register_pending`, then `pending_registered`), with `NOTE_CHILD` and `data` = the parent's
//! pid. A blocked `kevent()` is woken for that. If
//! the child cannot be tracked (no memory, or the kqueue already has a knote with that
//! ident), the parent's next event carries `NOTE_TRACKERR`.

use kernel::{
    prelude::*,
    sync::{Arc, ArcBorrow},
};

use crate::accounting::Resource;
use crate::filter::{Check, Filter, FilterState, Snapshot};
use crate::filter_fd;
use crate::knote::{Knote, KnoteState};
use crate::kqueue::PendingKnote;
use crate::pid::Pid;
use crate::proc_watch::{self, ChildBucket, Watch, WatchBox};
use crate::uapi::*;

/// Sets up the registry and finds the tracepoints. Called once, from module init.
pub(crate) fn init() -> Result {
    proc_watch::init()
}

/// Unregisters the probes and waits for running ones. Called from module exit, when no kqueue
/// is left.
pub(crate) fn fini() {
    proc_watch::fini();
}

/// Per-knote state of the three filters (in `KnoteState::proc`). `EVFILT_SIGNAL` counts in
/// `KnoteState::data` instead.
#[derive(Default)]
pub(crate) struct ProcState {
    /// The watch, while attached. Only `detach` (or `track_child`'s undo) drops it, after
    /// taking it out of the state.
    watch: Option<WatchBox>,
    /// `NOTE_*` that happened and are not reported yet.
    fflags: u32,
    /// Exit status in wait(2) format, once `exited`.
    status: i64,
    /// The process exited: the next report is the last (`EV_EOF | EV_ONESHOT`).
    exited: bool,
    /// `NOTE_CHILD`: the parent's pid.
    ppid: i64,
    /// Created by `NOTE_TRACK`, not in its kqueue's table yet: never queued.
    unadopted: bool,
}

/// `EVFILT_PROC` (ident = pid) or `EVFILT_PROCDESC` (ident = pidfd).
pub(crate) struct ProcFilter {
    /// `EVFILT_PROCDESC`.
    desc: bool,
}

pub(crate) static PROC: ProcFilter = ProcFilter { desc: false };
pub(crate) static PROCDESC: ProcFilter = ProcFilter { desc: true };

/// `EVFILT_SIGNAL`.
pub(crate) struct SignalFilter;

pub(crate) static SIGNAL: SignalFilter = SignalFilter;

/// The knote as its watch refers to it.
fn ctx_of(kn: &Arc<Knote>) -> *const Knote {
    Arc::as_ptr(kn)
}

/// Stores the new watch `w` (or the error it is) in `kn`'s state.
fn attached(kn: &Arc<Knote>, w: Result<WatchBox>) -> Result {
    let w = w?;
    kn.kq().activate(kn.as_arc_borrow(), |st| {
        // The knote has its state from the start (`new_state`), so `w` is never dropped
        // here, under the ready lock.
        if let Some(p) = st.fstate.proc_mut() {
            p.watch = Some(w);
        }
    });
    Ok(())
}

/// Destroys `kn`'s watch, if any. Afterwards no callback refers to `kn`.
fn detach_watch(kn: &Knote) {
    let w = {
        let mut rd = kn.kq().ready_lock().lock();
        kn.state
            .access_mut(&mut rd)
            .fstate
            .proc_mut()
            .and_then(|p| p.watch.take())
    };
    // Dropping it unhooks it, outside the ready lock (process context).
    drop(w);
}

/// What the next report of a process knote says: (fflags, data, end of the process).
fn proc_report(p: &ProcState) -> (u32, i64, bool) {
    if p.fflags & NOTE_CHILD != 0 {
        // The first report of a tracked child, alone, with its parent in `data`. What the
        // child did meanwhile waits for the next report (an exit has its status in `data`).
        (NOTE_CHILD, p.ppid, false)
    } else {
        let data = if p.fflags & NOTE_EXIT != 0 {
            p.status
        } else {
            0
        };
        (p.fflags, data, p.exited)
    }
}

impl Filter for ProcFilter {
    fn new_state(&self) -> FilterState {
        FilterState::Proc(ProcState::default())
    }

    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        if kev.fflags & !self.fflags() != 0 {
            return Err(EINVAL);
        }
        let w = if self.desc {
            let fd = filter_fd::fd_of(kev.ident)?;
            // `kn` outlives the watch: `detach` destroys it.
            proc_watch::watch_pidfd(fd, ctx_of(kn))
        } else {
            // As above.
            proc_watch::watch_pid(kev.ident, ctx_of(kn))
        };
        attached(kn, w)
    }

    fn pending_registered(&self, kn: &Arc<Knote>) {
        kn.kq().activate(kn.as_arc_borrow(), |st| {
            if let Some(p) = st.fstate.proc_mut() {
                p.unadopted = false;
            }
        });
    }

    fn pending_refused(&self, kn: &Arc<Knote>, origin: &Arc<Knote>, origin_registered: bool) {
        // An older knote has this ident (a process that exited without being reported, whose
        // pid was reused): the child cannot be tracked.
        self.detach(kn);
        if origin_registered {
            kn.kq().activate(origin.as_arc_borrow(), |st| {
                if let Some(p) = st.fstate.proc_mut() {
                    p.fflags |= NOTE_TRACKERR;
                }
            });
        }
    }

    fn modify(&self, kn: &Arc<Knote>, kev: &KEvent, add: bool) -> Result {
        if add {
            if kev.fflags & !self.fflags() != 0 {
                return Err(EINVAL);
            }
            kn.kq()
                .activate(kn.as_arc_borrow(), |st| st.sfflags = kev.fflags);
        }
        Ok(())
    }

    fn detach(&self, kn: &Knote) {
        detach_watch(kn);
    }

    fn active(&self, st: &KnoteState) -> bool {
        st.fstate
            .proc()
            .is_some_and(|p| !p.unadopted && (p.fflags != 0 || p.exited))
    }

    fn report(&self, st: &KnoteState, ev: &mut KEvent) {
        let Some(p) = st.fstate.proc() else {
            return;
        };
        let (fflags, data, eof) = proc_report(p);
        ev.fflags = fflags;
        ev.data = data;
        if eof {
            ev.flags |= EV_EOF | EV_ONESHOT;
        }
    }

    fn consume(&self, st: &mut KnoteState, ev: &KEvent) {
        if let Some(p) = st.fstate.proc_mut() {
            p.fflags &= !ev.fflags;
        }
    }

    fn check(&self, kn: &Knote, _snap: &Snapshot, ev: &mut KEvent) -> Check {
        if self.is_stale(kn) {
            return Check::Stale;
        }
        let mut rd = kn.kq().ready_lock().lock();
        let st = kn.state.access_mut(&mut rd);
        if st.forced {
            self.report(st, ev);
            return Check::Report;
        }
        if !self.active(st) {
            return Check::Skip;
        }
        if st.fstate.proc().map_or(0, |p| p.fflags) == 0 {
            // The process exited and nothing the knote asked for happened: it goes away
            // silently (FreeBSD's EV_DROP).
            return Check::Stale;
        }
        self.report(st, ev);
        Check::Report
    }

    fn is_stale(&self, kn: &Knote) -> bool {
        if !self.desc {
            return false;
        }
        let w = {
            let mut rd = kn.kq().ready_lock().lock();
            kn.state
                .access_mut(&mut rd)
                .fstate
                .proc()
                .and_then(|p| p.watch.as_deref())
                .map(core::ptr::from_ref::<Watch>)
        };
        let Some(w) = w else { return false };
        let Ok(fd) = filter_fd::fd_of(kn.ident) else {
            return true;
        };
        // SAFETY: The watch is live while the knote is attached, and detaching needs the
        // kqueue mutex, which the callers of `is_stale` and `check` hold.
        !unsafe { &*w }.fd_is(fd)
    }

    fn fflags(&self) -> u32 {
        if self.desc {
            NOTE_EXIT
        } else {
            NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK
        }
    }

    fn is_fd(&self) -> bool {
        self.desc
    }

    fn forced_flags(&self) -> u16 {
        EV_CLEAR
    }
}

impl Filter for SignalFilter {
    fn new_state(&self) -> FilterState {
        FilterState::Proc(ProcState::default())
    }

    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        if kev.fflags != 0 {
            return Err(EINVAL);
        }
        // `kn` outlives the watch: `detach` destroys it. The signal number is checked there
        // (EINVAL).
        attached(kn, proc_watch::watch_signal(kev.ident, ctx_of(kn)))
    }

    fn modify(&self, _kn: &Arc<Knote>, kev: &KEvent, add: bool) -> Result {
        if add && kev.fflags != 0 {
            return Err(EINVAL);
        }
        Ok(())
    }

    fn detach(&self, kn: &Knote) {
        detach_watch(kn);
    }

    fn active(&self, st: &KnoteState) -> bool {
        st.data > 0
    }

    fn report(&self, st: &KnoteState, ev: &mut KEvent) {
        ev.data = st.data;
    }

    fn consume(&self, st: &mut KnoteState, _ev: &KEvent) {
        st.data = 0;
    }

    fn fflags(&self) -> u32 {
        0
    }

    fn forced_flags(&self) -> u16 {
        EV_CLEAR
    }
}

/// Borrows the knote of a watch.
///
/// # Safety
///
/// `ctx` is the knote of a live watch: a knote allocated by `Arc`, alive while the watch is.
unsafe fn knote_of<'a>(ctx: *const Knote) -> ArcBorrow<'a, Knote> {
    // SAFETY: Per the function's contract.
    unsafe { ArcBorrow::from_raw(ctx) }
}

/// Called by the watch: the watched process called execve(). Atomic context.
///
/// # Safety
///
/// `ctx` is the knote of a live watch.
pub(crate) unsafe fn exec(ctx: *const Knote) {
    // SAFETY: Per the function's contract.
    let kn = unsafe { knote_of(ctx) };
    kn.kq().activate(kn, |st| {
        let want = st.sfflags & NOTE_EXEC;
        if let Some(p) = st.fstate.proc_mut() {
            p.fflags |= want;
        }
    });
}

/// Called by the watch: the watched process exited with wait(2) status `status`. Atomic
/// context, under the pid's wait-queue lock (or at attach).
///
/// # Safety
///
/// `ctx` is the knote of a live watch.
pub(crate) unsafe fn exited(ctx: *const Knote, status: i32) {
    // SAFETY: Per the function's contract.
    let kn = unsafe { knote_of(ctx) };
    kn.kq().activate(kn, |st| {
        let want = st.sfflags & NOTE_EXIT;
        let Some(p) = st.fstate.proc_mut() else {
            return;
        };
        if p.exited {
            return;
        }
        p.exited = true;
        p.status = status.into();
        p.fflags |= want;
    });
}

/// Called by the watch: the signal of a `EVFILT_SIGNAL` watch was generated for the
/// kqueue's process. Atomic context, under the process's siglock and its bucket lock
/// (`proc_watch.rs`).
///
/// # Safety
///
/// `ctx` is the knote of a live watch.
pub(crate) unsafe fn signal_generated(ctx: *const Knote) {
    // SAFETY: Per the function's contract.
    let kn = unsafe { knote_of(ctx) };
    kn.kq()
        .activate(kn, |st| st.data = st.data.saturating_add(1));
}

/// Called by the watch: the watched process (watch `w`) forked; `child` is the child's
/// `struct pid`, `child_nr` its pid as the kqueue's owner sees it. Atomic context, under
/// the parent's and the child's bucket locks (`cb` is the child's), before the child first
/// runs.
///
/// # Safety
///
/// `ctx` is the knote of the live watch `w`.
pub(crate) unsafe fn forked(
    ctx: *const Knote,
    w: &Watch,
    child: &Pid,
    child_nr: i32,
    cb: &mut ChildBucket<'_>,
) {
    // SAFETY: Per the function's contract.
    let kn = unsafe { knote_of(ctx) };
    let track = {
        let mut rd = kn.kq().ready_lock().lock();
        kn.state.access_mut(&mut rd).sfflags & NOTE_TRACK != 0
    };
    let failed = track && track_child(kn, w, child, child_nr, cb).is_err();
    kn.kq().activate(kn, |st| {
        let mut notes = st.sfflags & NOTE_FORK;
        if failed {
            notes |= NOTE_TRACKERR;
        }
        if let Some(p) = st.fstate.proc_mut() {
            p.fflags |= notes;
        }
    });
}

/// `NOTE_TRACK`: creates the knote and the watch of a new child and puts the knote on its
/// kqueue's adoption list. The arguments are `forked`'s.
fn track_child(
    parent: ArcBorrow<'_, Knote>,
    w: &Watch,
    child: &Pid,
    child_nr: i32,
    cb: &mut ChildBucket<'_>,
) -> Result {
    let ident = u64::try_from(child_nr)
        .ok()
        .filter(|&n| n > 0)
        .ok_or(ESRCH)?;
    let kq = parent.kq();
    // The child inherits the parent knote's registration.
    let kev = {
        let mut rd = kq.ready_lock().lock();
        let st = parent.state.access_mut(&mut rd);
        KEvent {
            ident,
            filter: EVFILT_PROC,
            flags: st.flags,
            fflags: st.sfflags,
            data: 0,
            udata: st.udata,
            ext: st.ext,
        }
    };
    // Atomic context (see the module comment): the child must be watched before it runs.
    let charge = parent.charge_another(Resource::Knote)?;
    let kn = Knote::new_with(kq, &crate::filter::PROC, &kev, charge, GFP_ATOMIC)?;
    // We run inside the fork probe with the bucket locks held. `kn` outlives the new watch:
    // it is destroyed by `untrack` below or by `detach`.
    let cw = Watch::track(w, child, ctx_of(&kn), cb).ok_or(ENOMEM)?;
    kq.activate(kn.as_arc_borrow(), |st| {
        st.fstate = FilterState::Proc(ProcState {
            watch: Some(cw),
            fflags: NOTE_CHILD,
            ppid: parent.ident as i64,
            unadopted: true,
            ..Default::default()
        });
    });
    if let Err(p) = kq.queue_pending(PendingKnote::new(kn, parent.into())) {
        let child = p.knote;
        // Undo the watch, still in the same probe call (the bucket locks are held).
        let cw = {
            let mut rd = kq.ready_lock().lock();
            child
                .state
                .access_mut(&mut rd)
                .fstate
                .proc_mut()
                .and_then(|p| p.watch.take())
        };
        if let Some(cw) = cw {
            // In the same probe call as `Watch::track`, with the locks still held.
            Watch::untrack(cw, cb);
        }
        return Err(ENOMEM);
    }
    Ok(())
}

#[kernel::macros::kunit_tests(kqueue_proc)]
mod tests {
    use super::*;

    #[test]
    fn report_order() {
        // A tracked child that already exited: NOTE_CHILD first, then the exit.
        let mut p = ProcState {
            fflags: NOTE_CHILD | NOTE_FORK | NOTE_EXIT,
            status: 0x0300,
            exited: true,
            ppid: 42,
            ..Default::default()
        };
        assert_eq!(proc_report(&p), (NOTE_CHILD, 42, false));
        p.fflags &= !NOTE_CHILD;
        assert_eq!(proc_report(&p), (NOTE_FORK | NOTE_EXIT, 0x0300, true));
        // An exit the knote did not ask for ends it without data.
        p.fflags = NOTE_EXEC;
        assert_eq!(proc_report(&p), (NOTE_EXEC, 0, true));
    }

    #[test]
    fn fflags_validation() {
        assert_eq!(PROC.fflags() & NOTE_CHILD, 0);
        assert_eq!(PROC.fflags() & NOTE_TRACKERR, 0);
        assert_eq!(PROCDESC.fflags(), NOTE_EXIT);
    }
}
