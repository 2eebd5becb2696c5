// SPDX-License-Identifier: GPL-2.0

//! `EVFILT_PROC`, `EVFILT_PROCDESC` and `EVFILT_SIGNAL`: processes and signals.
//!
//! Each knote owns a watch (`struct kq_procwatch` in `kq_proc.c`, which explains the event
//! sources: the pid's `wait_pidfd` wait queue for exits, tracepoint probes for forks, execs
//! and signals). The C side calls back into this file in atomic context; the callbacks only
//! record the event in the knote's `ProcState` (or count in `data`) and queue the knote.
//!
//! `EVFILT_PROC` with `NOTE_TRACK`: when the process forks, the fork probe runs in the parent
//! before the child first runs. It creates the child's knote and watch right there (atomic
//! context, so with `GFP_ATOMIC`), which guarantees that every fork, exec and exit of the
//! child is seen, however quickly it happens. The knote cannot enter the kqueue's table from
//! there (that needs the kqueue mutex): it waits on the kqueue's adoption list, inactive,
//! until the next `kevent()` call on the kqueue registers it (`adopt`) and queues it, with
//! `NOTE_CHILD` and `data` = the parent's pid. A blocked `kevent()` is woken for that. If
//! the child cannot be tracked (no memory, or the kqueue already has a knote with that
//! ident), the parent's next event carries `NOTE_TRACKERR`.

use core::ptr::NonNull;

use kernel::{
    error::from_err_ptr,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, ArcBorrow},
};

use crate::accounting::Resource;
use crate::filter::{Check, Filter};
use crate::filter_fd;
use crate::knote::{Knote, KnoteKey, KnoteState};
use crate::kqueue::Kqueue;
use crate::uapi::*;

/// Opaque: a knote's watch on a process (`struct kq_procwatch`).
#[repr(C)]
pub(crate) struct ProcWatch {
    _private: [u8; 0],
}

extern "C" {
    fn kq_proc_init(max_user_watches: u32) -> i32;
    fn kq_proc_fini();
    fn kq_proc_watch_pid(nr: u64, ctx: *mut c_void) -> *mut ProcWatch;
    fn kq_proc_watch_pidfd(fd: u32, ctx: *mut c_void) -> *mut ProcWatch;
    fn kq_proc_watch_signal(sig: u64, ctx: *mut c_void) -> *mut ProcWatch;
    fn kq_procwatch_destroy(w: *mut ProcWatch);
    fn kq_procwatch_fd_is(w: *mut ProcWatch, fd: u32) -> i32;
    fn kq_procwatch_track(
        parent: *mut ProcWatch,
        child: *mut c_void,
        ctx: *mut c_void,
    ) -> *mut ProcWatch;
    fn kq_procwatch_untrack(w: *mut ProcWatch);
}

/// Finds the tracepoints. Called once, from module init.
pub(crate) fn init() -> Result {
    let max = crate::module_parameters::max_user_proc_watches.value();
    // SAFETY: No preconditions; called before any kqueue exists.
    kernel::error::to_result(unsafe { kq_proc_init(max) })
}

/// Unregisters the probes and waits for running ones. Called from module exit, when no kqueue
/// is left.
pub(crate) fn fini() {
    // SAFETY: No watch exists any more (every kqueue was released).
    unsafe { kq_proc_fini() };
}

/// The watch of an attached knote.
///
/// # Invariants
///
/// Points to a live watch created for the knote whose state holds it; only `detach` destroys
/// it, after taking it out of the state.
pub(crate) struct WatchPtr(NonNull<ProcWatch>);

// SAFETY: The watch is a plain kernel object, usable from any thread.
unsafe impl Send for WatchPtr {}

/// Per-knote state of the three filters (in `KnoteState::proc`). `EVFILT_SIGNAL` counts in
/// `KnoteState::data` instead.
#[derive(Default)]
pub(crate) struct ProcState {
    /// The watch, while attached.
    watch: Option<WatchPtr>,
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

/// A child knote waiting to be registered in its kqueue (see the module comment).
pub(crate) struct Adoption {
    /// The child's knote, attached and inactive.
    child: Arc<Knote>,
    /// Its node in the knote table, allocated in advance.
    node: RBTreeNodeReservation<KnoteKey, Arc<Knote>>,
    /// The knote that tracked the parent, to flag `NOTE_TRACKERR` on.
    parent: Arc<Knote>,
}

impl Adoption {
    /// Detaches the child's knote: the kqueue is being released.
    pub(crate) fn abandon(self) {
        self.child.ops.detach(&self.child);
    }
}

/// Registers the child knote of `a` in `knotes`, the table of `kq`, and queues it. The kqueue
/// mutex is held.
pub(crate) fn adopt(kq: &Kqueue, knotes: &mut RBTree<KnoteKey, Arc<Knote>>, a: Adoption) {
    let key = a.child.key();
    if knotes.get(&key).is_some() {
        // An older knote has this ident (a process that exited without being reported, whose
        // pid was reused): the child cannot be tracked.
        a.child.ops.detach(&a.child);
        let parent = a.parent.key();
        if knotes
            .get(&parent)
            .is_some_and(|p| Arc::ptr_eq(p, &a.parent))
        {
            kq.activate(a.parent.as_arc_borrow(), |st| {
                st.proc.fflags |= NOTE_TRACKERR
            });
        }
        return;
    }
    knotes.insert(a.node.into_node(key, a.child.clone()));
    kq.activate(a.child.as_arc_borrow(), |st| st.proc.unadopted = false);
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

/// The knote as the `ctx` of its watch.
fn ctx_of(kn: &Arc<Knote>) -> *mut c_void {
    Arc::as_ptr(kn).cast_mut().cast()
}

/// Stores the new watch `w` (or the error it is) in `kn`'s state.
fn attached(kn: &Arc<Knote>, w: *mut ProcWatch) -> Result {
    let w = from_err_ptr(w)?;
    kn.kq().activate(kn.as_arc_borrow(), |st| {
        // INVARIANT: `w` was just created for `kn`.
        st.proc.watch = NonNull::new(w).map(WatchPtr);
    });
    Ok(())
}

/// Destroys `kn`'s watch, if any. Afterwards no callback refers to `kn`.
fn detach_watch(kn: &Knote) {
    let w = {
        let mut rd = kn.kq().ready_lock().lock();
        kn.state.access_mut(&mut rd).proc.watch.take()
    };
    if let Some(w) = w {
        // SAFETY: By the `WatchPtr` invariant the watch is live; it was taken out of the
        // state above, so it is destroyed once.
        unsafe { kq_procwatch_destroy(w.0.as_ptr()) };
    }
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
    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        if kev.fflags & !self.fflags() != 0 {
            return Err(EINVAL);
        }
        let w = if self.desc {
            let fd = filter_fd::fd_of(kev.ident)?;
            // SAFETY: `kn` outlives the watch: `detach` destroys it.
            unsafe { kq_proc_watch_pidfd(fd, ctx_of(kn)) }
        } else {
            // SAFETY: As above.
            unsafe { kq_proc_watch_pid(kev.ident, ctx_of(kn)) }
        };
        attached(kn, w)
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
        !st.proc.unadopted && (st.proc.fflags != 0 || st.proc.exited)
    }

    fn report(&self, st: &KnoteState, ev: &mut KEvent) {
        let (fflags, data, eof) = proc_report(&st.proc);
        ev.fflags = fflags;
        ev.data = data;
        if eof {
            ev.flags |= EV_EOF | EV_ONESHOT;
        }
    }

    fn consume(&self, st: &mut KnoteState, ev: &KEvent) {
        st.proc.fflags &= !ev.fflags;
    }

    fn check(&self, kn: &Knote, ev: &mut KEvent) -> Check {
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
        if st.proc.fflags == 0 {
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
                .proc
                .watch
                .as_ref()
                .map(|w| w.0)
        };
        let Some(w) = w else { return false };
        let Ok(fd) = filter_fd::fd_of(kn.ident) else {
            return true;
        };
        // SAFETY: The watch is live while the knote is attached, and detaching needs the
        // kqueue mutex, which the callers of `is_stale` and `check` hold.
        unsafe { kq_procwatch_fd_is(w.as_ptr(), fd) == 0 }
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
    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        if kev.fflags != 0 {
            return Err(EINVAL);
        }
        // SAFETY: `kn` outlives the watch: `detach` destroys it. The signal number is
        // checked there (EINVAL).
        attached(kn, unsafe { kq_proc_watch_signal(kev.ident, ctx_of(kn)) })
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

/// Borrows the knote of a watch's `ctx`.
///
/// # Safety
///
/// `ctx` is the `ctx` of a live watch: a knote allocated by `Arc`, alive while the watch is.
unsafe fn knote_of<'a>(ctx: *mut c_void) -> ArcBorrow<'a, Knote> {
    // SAFETY: Per the function's contract.
    unsafe { ArcBorrow::from_raw(ctx.cast()) }
}

/// Called by `kq_proc.c`: the watched process called execve(). Atomic context.
///
/// # Safety
///
/// `ctx` is the `ctx` of a live watch.
#[no_mangle]
unsafe extern "C" fn kq_proc_exec(ctx: *mut c_void) {
    // SAFETY: Per the function's contract.
    let kn = unsafe { knote_of(ctx) };
    kn.kq().activate(kn, |st| {
        if st.sfflags & NOTE_EXEC != 0 {
            st.proc.fflags |= NOTE_EXEC;
        }
    });
}

/// Called by `kq_proc.c`: the watched process exited with wait(2) status `status`. Atomic
/// context, under the pid's wait-queue lock (or at attach).
///
/// # Safety
///
/// `ctx` is the `ctx` of a live watch.
#[no_mangle]
unsafe extern "C" fn kq_proc_exited(ctx: *mut c_void, status: i32) {
    // SAFETY: Per the function's contract.
    let kn = unsafe { knote_of(ctx) };
    kn.kq().activate(kn, |st| {
        if st.proc.exited {
            return;
        }
        st.proc.exited = true;
        st.proc.status = status.into();
        if st.sfflags & NOTE_EXIT != 0 {
            st.proc.fflags |= NOTE_EXIT;
        }
    });
}

/// Called by `kq_proc.c`: the signal of a `EVFILT_SIGNAL` watch was generated for the
/// kqueue's process. Atomic context, under the process's siglock and its bucket lock (`kq_proc.c`).
///
/// # Safety
///
/// `ctx` is the `ctx` of a live watch.
#[no_mangle]
unsafe extern "C" fn kq_signal_generated(ctx: *mut c_void) {
    // SAFETY: Per the function's contract.
    let kn = unsafe { knote_of(ctx) };
    kn.kq()
        .activate(kn, |st| st.data = st.data.saturating_add(1));
}

/// Called by `kq_proc.c`: the watched process (watch `w`) forked; `child` is the child's
/// `struct pid`, `child_nr` its pid as the kqueue's owner sees it. Atomic context, under
/// the parent's and the child's bucket locks (`kq_proc.c`), before the child first runs.
///
/// # Safety
///
/// `ctx` is the `ctx` of the live watch `w`; `child` is a live `struct pid`.
#[no_mangle]
unsafe extern "C" fn kq_proc_forked(
    ctx: *mut c_void,
    w: *mut ProcWatch,
    child: *mut c_void,
    child_nr: i32,
) {
    // SAFETY: Per the function's contract.
    let kn = unsafe { knote_of(ctx) };
    let track = {
        let mut rd = kn.kq().ready_lock().lock();
        kn.state.access_mut(&mut rd).sfflags & NOTE_TRACK != 0
    };
    // SAFETY: Per the function's contract.
    let failed = track && unsafe { track_child(kn, w, child, child_nr) }.is_err();
    kn.kq().activate(kn, |st| {
        if st.sfflags & NOTE_FORK != 0 {
            st.proc.fflags |= NOTE_FORK;
        }
        if failed {
            st.proc.fflags |= NOTE_TRACKERR;
        }
    });
}

/// `NOTE_TRACK`: creates the knote and the watch of a new child and puts the knote on its
/// kqueue's adoption list.
///
/// # Safety
///
/// As `kq_proc_forked`, whose arguments these are.
unsafe fn track_child(
    parent: ArcBorrow<'_, Knote>,
    w: *mut ProcWatch,
    child: *mut c_void,
    child_nr: i32,
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
    let kn = Knote::new_with(kq, &PROC, &kev, charge, GFP_ATOMIC)?;
    let node = RBTreeNodeReservation::new(GFP_ATOMIC)?;
    // SAFETY: We run inside the fork probe with the bucket locks held, `w` is the parent's
    // live watch and `child` a live pid (the function's contract). `kn` outlives the new
    // watch: it is destroyed by `untrack` below or by `detach`.
    let cw = unsafe { kq_procwatch_track(w, child, ctx_of(&kn)) };
    let cw = NonNull::new(cw).ok_or(ENOMEM)?;
    kq.activate(kn.as_arc_borrow(), |st| {
        // INVARIANT: `cw` was just created for `kn`.
        st.proc = ProcState {
            watch: Some(WatchPtr(cw)),
            fflags: NOTE_CHILD,
            ppid: parent.ident as i64,
            unadopted: true,
            ..Default::default()
        };
    });
    let a = Adoption {
        child: kn,
        node,
        parent: parent.into(),
    };
    if let Err(a) = kq.queue_adoption(a) {
        // Undo the watch, still in the same probe call (the bucket locks are held).
        let cw = {
            let mut rd = kq.ready_lock().lock();
            a.child.state.access_mut(&mut rd).proc.watch.take()
        };
        if let Some(cw) = cw {
            // SAFETY: Called in the same probe call as `kq_procwatch_track`, with its lock
            // still held; the watch was taken out of the knote's state, so it is destroyed
            // once.
            unsafe { kq_procwatch_untrack(cw.0.as_ptr()) };
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
