// SPDX-License-Identifier: GPL-2.0

//! `EVFILT_READ`, `EVFILT_WRITE` and `EVFILT_EMPTY`: file descriptors.
//!
//! Attaching takes a reference to the file the descriptor refers to and hooks the knote onto
//! the file's wait queues through its `->poll` (a [`PollWatch`], as epoll does). The wake function
//! only sets the knote's `triggered` hint and queues it. Whether the knote is reported, and with
//! which `data`, is decided at collection time in process context (`check`): the file is polled
//! again and measured (bytes readable, free space, pending connections, ...), so reporting is
//! level-triggered unless the knote has `EV_CLEAR`, in which case it is reported again only
//! after a new wake-up.
//!
//! kqueue is keyed by descriptor, Linux by open file. A knote whose descriptor no longer refers
//! to its file (closed, or reused for another file) is stale: it is never reported. The close
//! hook (`close_hook.rs`) unregisters it, and drops its file reference, before the `close()`
//! that made it stale returns; without the hook it is freed when it is next looked at: at
//! collection, at a change on the same descriptor, or by the bounded sweep of `kevent()`
//! (`Kqueue::sweep`).
//!
//! `EVFILT_EMPTY` applies to sockets only (send queue empty).
//!
//! Regular files have no wait queue that tells when they grow: an `EVFILT_READ` knote on one
//! also holds an fsnotify watch on the file (`filter_vnode::watch_growth`), whose events only
//! set `triggered`, so the knote is measured again after every write.
//!
//! A kqueue may watch another kqueue (one level: a kqueue that watches a kqueue cannot be
//! watched, and a watched kqueue cannot watch one), so nesting is bounded and loops are
//! impossible.

use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use kernel::{
    bindings,
    fs::{File, LocalFile},
    prelude::*,
    sync::{Arc, ArcBorrow},
};

use crate::fd_state::{self, FdKind, FdState};
use crate::fdtable;
use crate::filter::{Check, Filter, FilterState, Snapshot};
use crate::filter_vnode::VnodeWatch;
use crate::knote::{Knote, KnoteState};
use crate::kqueue::{Kqueue, WakeHow};
use crate::poll_watch::{PollCallback, PollWatch, POLLFREE};
use crate::uapi::*;

const POLL_READ: u32 = bindings::POLLIN
    | bindings::POLLRDNORM
    | bindings::POLLRDHUP
    | bindings::POLLHUP
    | bindings::POLLERR;
const POLL_WRITE: u32 =
    bindings::POLLOUT | bindings::POLLWRNORM | bindings::POLLHUP | bindings::POLLERR;

/// Which of the three descriptor filters.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Read,
    Write,
    Empty,
}

/// A descriptor filter.
pub(crate) struct FdFilter(pub(crate) Which);

pub(crate) static READ: FdFilter = FdFilter(Which::Read);
pub(crate) static WRITE: FdFilter = FdFilter(Which::Write);
pub(crate) static EMPTY: FdFilter = FdFilter(Which::Empty);

/// The hook of a descriptor knote. Lives in the knote's state while the knote is attached.
///
/// # Invariants
///
/// `target`, if set, is the kqueue behind the watched file, kept alive by the watch's file
/// reference. The watch holds a reference to the knote whose state holds this `FdWatch`:
/// `FdFilter::detach` (which every path that unregisters a knote calls) breaks that cycle.
pub(crate) struct FdWatch {
    watch: Pin<KBox<PollWatch<Knote>>>,
    target: Option<NonNull<Kqueue>>,
    /// The kind of the file when it was attached (a socket may become a listener later; the
    /// other kinds never change).
    kind: FdKind,
    /// `EVFILT_READ` on a regular file: the fsnotify watch that wakes the knote when the file
    /// is written (it may have grown).
    growth: Option<VnodeWatch>,
}

// SAFETY: The watch is only used under the owning kqueue's mutex, from any thread; `target` is
// a kqueue, which is `Sync`.
unsafe impl Send for FdWatch {}

/// A descriptor knote's watch as `check` needs it, taken by `snapshot`. Valid while the kqueue
/// mutex stays held after the snapshot: detaching (which frees the watch) needs that mutex.
#[derive(Clone, Copy)]
pub(crate) struct FdSnapshot {
    watch: *const PollWatch<Knote>,
    target: Option<NonNull<Kqueue>>,
    kind: FdKind,
}

/// Wake-up tag of a watch whose file may have watchers of its own (see `kq_fd_wake`).
const WAKE_DEFERRED: u32 = 1;

pub(crate) use crate::fdtable::fd_of;

/// A watched wait queue of a descriptor knote's file was woken. Atomic context, under the wait
/// queue's lock. With [`WAKE_DEFERRED`], the watched file may have watchers of its own (an
/// epoll set, a kqueue, ...): the kqueue is woken from an irq_work (see the locking comment of
/// `kqueue.rs`).
impl PollCallback for Knote {
    fn woken(kn: ArcBorrow<'_, Knote>, tag: u32, mask: u32, sync: bool) {
        let how = if tag == WAKE_DEFERRED {
            WakeHow::Deferred
        } else if sync {
            WakeHow::Sync
        } else {
            WakeHow::Now
        };
        kq_fd_wake(kn, mask, how);
    }
}

fn kq_fd_wake(kn: ArcBorrow<'_, Knote>, mask: u32, how: WakeHow) {
    let interest = match kn.filter {
        EVFILT_READ => POLL_READ,
        EVFILT_WRITE => POLL_WRITE,
        _ => !0,
    };
    // A wake-up without a key may be for anything; POLLFREE means the queue is going away.
    if mask != 0 && mask & (interest | POLLFREE) == 0 {
        return;
    }
    kn.kq().activate_with(kn, |st| st.triggered = true, how);
}

impl FdFilter {
    /// `detach`; with `defer_put` the file reference is dropped by a work item.
    fn unhook(&self, kn: &Knote, defer_put: bool) {
        let fd = {
            let mut rd = kn.kq().ready_lock().lock();
            match core::mem::take(&mut kn.state.access_mut(&mut rd).fstate) {
                FilterState::Fd(fd) => Some(fd),
                _ => None,
            }
        };
        kn.file.store(core::ptr::null_mut(), Ordering::Relaxed);
        if let Some(fd) = fd {
            if let Some(growth) = fd.growth {
                crate::filter_vnode::unwatch_growth(growth);
            }
            if let Some(target) = fd.target {
                Kqueue::unnest(kn.kq(), target);
            }
            if defer_put {
                PollWatch::drop_deferred(fd.watch);
            }
        }
    }

    /// Whether the poll `mask` of a file of `kind` alone shows that this filter's condition
    /// does not hold. Pipes and sockets report readable data, end of file and errors in the
    /// mask; regular files, and a socket's write side and send queue, must be measured.
    fn quiet(&self, kind: FdKind, mask: u32) -> bool {
        match (self.0, kind) {
            (Which::Read, FdKind::Regular) => false,
            (Which::Read, _) => mask & POLL_READ == 0,
            (Which::Write, FdKind::Pipe) => mask & POLL_WRITE == 0,
            _ => false,
        }
    }

    /// Whether the condition holds for the knote of `snap`; fills in the event's `flags` (adds
    /// to them), `fflags` and `data`.
    fn evaluate(
        &self,
        snap: &Snapshot,
        mask: u32,
        fs: &FdState,
        pending: Option<i64>,
        ev: &mut KEvent,
    ) -> bool {
        let lowat = if snap.sfflags & NOTE_LOWAT != 0 {
            snap.sdata.max(1)
        } else {
            1
        };
        ev.fflags = 0;
        ev.data = 0;
        let eof_flags = |eof: bool| if eof { EV_EOF } else { 0 };
        let active = match (self.0, fs.kind) {
            (Which::Read, FdKind::Pipe) => {
                // End of file as Linux's pipe_poll() sees it: no writer left, and a writer
                // came and went since this reader opened (a FIFO nobody opened for writing
                // yet is not at EOF).
                let eof = fs.rd_eof && mask & bindings::POLLHUP != 0;
                ev.data = fs.rdata;
                ev.flags |= eof_flags(eof);
                eof || fs.rdata >= lowat
            }
            (Which::Read, FdKind::Socket | FdKind::Listen) => {
                ev.data = fs.rdata;
                ev.flags |= eof_flags(fs.rd_eof);
                if fs.rd_eof {
                    ev.fflags = fs.err;
                }
                fs.rd_eof || fs.err != 0 || (mask & POLL_READ != 0 && fs.rdata >= lowat)
            }
            (Which::Read, FdKind::Regular) => {
                ev.data = fs.rdata.max(0);
                snap.sfflags & NOTE_FILE_POLL != 0 || ev.data > 0
            }
            (Which::Read, _) => {
                ev.data = pending.unwrap_or(0);
                mask & POLL_READ != 0
            }
            (Which::Write, FdKind::Pipe) => {
                ev.data = fs.wdata;
                ev.flags |= eof_flags(fs.wr_eof);
                fs.wr_eof || (mask & POLL_WRITE != 0 && fs.wdata >= lowat)
            }
            (Which::Write, FdKind::Socket | FdKind::Listen) => {
                ev.data = fs.wdata;
                ev.flags |= eof_flags(fs.wr_eof);
                if fs.wr_eof {
                    ev.fflags = fs.err;
                }
                fs.wr_eof || fs.err != 0 || (mask & POLL_WRITE != 0 && fs.wdata >= lowat)
            }
            // Regular files are always writable (FreeBSD's vnode filter).
            (Which::Write, FdKind::Regular) => true,
            (Which::Write, _) => mask & POLL_WRITE != 0,
            (Which::Empty, _) => fs.outq == 0,
        };
        active || snap.forced
    }
}

impl Filter for FdFilter {
    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        if kev.fflags & !self.fflags() != 0 {
            return Err(EINVAL);
        }
        let fd = fd_of(kev.ident)?;
        let file = LocalFile::fget(fd).map_err(|_| EBADF)?;
        // SAFETY: `attach` runs in the `KQUEUE_IOC_KEVENT` ioctl, whose file was taken with
        // `fdget`, not `fdget_pos`, and nothing else on this thread holds an `fdget_pos`
        // reference: the file may be shared with other threads (the deferred-put work).
        let file = unsafe { LocalFile::assume_no_fdget_pos(file) };
        // Sockets only: a pipe's writer is not woken when a reader drains a pipe that was not
        // full, so an empty pipe could only be noticed by polling.
        if self.0 == Which::Empty && fd_state::measure(&file).kind != FdKind::Socket {
            return Err(EINVAL);
        }
        let raw = file.as_ptr();
        // A kqueue watching a kqueue: checked and counted (see the module comment).
        let target = match crate::kqueue_of_file(raw) {
            Some(target) => {
                Kqueue::nest(kn.kq(), target)?;
                Some(target)
            }
            None => None,
        };
        let kind = fd_state::kind(&file);
        // Pipes, sockets and regular files wake their wait queues only for themselves; any
        // other file (an epoll set, a kqueue, ...) may be watched in turn by this kqueue's own
        // watchers: its wake-ups reach the kqueue through an irq_work.
        let tag = if target.is_some() || kind == FdKind::Other {
            WAKE_DEFERRED
        } else {
            0
        };
        let (watch, mask) = match PollWatch::new(file, kn.clone(), tag) {
            Ok(w) => w,
            Err(e) => {
                if let Some(target) = target {
                    Kqueue::unnest(kn.kq(), target);
                }
                return Err(e);
            }
        };
        let growth = if self.0 == Which::Read && kind == FdKind::Regular {
            // SAFETY: The poll watch holds a reference to the file; `detach` ends the growth
            // watch before the knote goes away. On failure the poll watch is dropped here, in
            // process context, before the knote is registered.
            unsafe { crate::filter_vnode::watch_growth(raw, kn) }?
        } else {
            None
        };
        // The watch holds the reference now; the knote keeps the pointer for `is_stale`.
        kn.file.store(raw, Ordering::Relaxed);
        kn.kq().activate(kn.as_arc_borrow(), |st| {
            st.fstate = FilterState::Fd(FdWatch {
                watch,
                target,
                kind,
                growth,
            });
            // Look at the file at the next collection if the first poll says it may be ready
            // (without clearing a wake-up that came after the watch was hooked). An idle
            // descriptor costs the ready list nothing until it is woken.
            if !self.quiet(kind, mask) {
                st.triggered = true;
            }
        });
        Ok(())
    }

    fn modify(&self, kn: &Arc<Knote>, kev: &KEvent, _add: bool) -> Result {
        if kev.fflags & !self.fflags() != 0 {
            return Err(EINVAL);
        }
        kn.kq().activate(kn.as_arc_borrow(), |st| {
            st.sfflags = kev.fflags;
            st.sdata = kev.data;
            st.triggered = true;
        });
        Ok(())
    }

    fn detach(&self, kn: &Knote) {
        self.unhook(kn, false);
    }

    fn detach_deferred(&self, kn: &Knote) {
        self.unhook(kn, true);
    }

    fn active(&self, st: &KnoteState) -> bool {
        st.triggered
    }

    fn report(&self, _st: &KnoteState, _ev: &mut KEvent) {}

    fn consume(&self, _st: &mut KnoteState, _ev: &KEvent) {}

    fn tracks_wakeups(&self) -> bool {
        true
    }

    fn quiet_now(&self, st: &KnoteState) -> bool {
        // The read end of a pipe, as `pipe_poll()` sees it without the pipe mutex. Other files
        // are left to `check`.
        match &st.fstate {
            FilterState::Fd(fd) if self.0 == Which::Read && fd.kind == FdKind::Pipe => {
                fd_state::pipe_read_quiet(fd.watch.file())
            }
            _ => false,
        }
    }

    fn requeue_after_report(&self, st: &KnoteState) -> bool {
        // Level-triggered: look again at the next collection. EV_CLEAR: only after a wake-up.
        st.flags & EV_CLEAR == 0 || st.triggered
    }

    fn snapshot(&self, st: &mut KnoteState) -> Snapshot {
        // A wake-up from now on is a new one.
        st.triggered = false;
        Snapshot {
            sfflags: st.sfflags,
            sdata: st.sdata,
            forced: st.forced,
            fd: match &st.fstate {
                FilterState::Fd(fd) => Some(FdSnapshot {
                    watch: &*fd.watch,
                    target: fd.target,
                    kind: fd.kind,
                }),
                _ => None,
            },
        }
    }

    fn check(&self, kn: &Knote, snap: &Snapshot, ev: &mut KEvent) -> Check {
        let Some(FdSnapshot {
            watch,
            target,
            kind,
        }) = snap.fd
        else {
            return Check::Skip;
        };
        // SAFETY: The watch was attached when `snapshot` ran, and the kqueue mutex has been held
        // since (`FdSnapshot`), by the scan, which detaches no knote of its batch before that
        // knote's check (a stale knote is unregistered alone, after its own check; EV_ONESHOT
        // ones after the whole batch): it is live, and the box does not move.
        let watch = unsafe { &*watch };
        let file: &File = watch.file();
        let mask = watch.poll();
        // Measuring a file can take its locks (a pipe's mutex, a socket's lock): skip it when
        // the poll mask already says the condition does not hold. (A knote skipped here whose
        // descriptor was closed is not reported; it goes when the close is seen.)
        if self.quiet(kind, mask) && !snap.forced {
            return Check::Skip;
        }
        // The watch holds the file, so polling it was safe; what is reported must still be
        // about the file the descriptor refers to.
        let Ok(fd) = fd_of(kn.ident) else {
            return Check::Stale;
        };
        if !fdtable::fd_is(fd, file.as_ptr()) {
            return Check::Stale;
        }
        let fs = fd_state::measure(file);
        // SAFETY: `target` is kept alive by the watch's file reference (`FdWatch` invariant).
        let pending = target.map(|t| unsafe { t.as_ref() }.pending());
        if self.evaluate(snap, mask, &fs, pending, ev) {
            Check::Report
        } else {
            Check::Skip
        }
    }

    fn is_stale(&self, kn: &Knote) -> bool {
        let file = kn.file.load(Ordering::Relaxed);
        !file.is_null() && fd_of(kn.ident).map_or(true, |fd| !fdtable::fd_is(fd, file))
    }

    fn fflags(&self) -> u32 {
        NOTE_LOWAT | NOTE_FILE_POLL
    }

    fn is_fd(&self) -> bool {
        true
    }
}
