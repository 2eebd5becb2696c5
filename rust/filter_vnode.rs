// SPDX-License-Identifier: GPL-2.0

//! `EVFILT_VNODE`: changes to the file a descriptor refers to, through fsnotify.
//!
//! The watch is on the inode, not on a path: renaming or unlinking the file does not lose it.
//! `kq_vnode.c` owns the module's fsnotify group and its marks: one mark per watched inode,
//! shared by every knote on that inode, and one per superblock (for rmdir of a watched
//! directory and for a filesystem shutdown). Its event handler, running in the context of
//! the process that touched the file, turns each fsnotify event into `NOTE_*` bits once per
//! inode and calls `kq_vnode_event` for every knote that wants any of them; that only
//! accumulates the bits in the knote and queues it (`Kqueue::activate`).
//!
//! Reporting: `fflags` = the notes that fired since the last report, among those asked for.
//! With `EV_CLEAR` they reset after each report; without it the knote stays active and
//! reports the accumulated notes at every collection (FreeBSD). `NOTE_REVOKE` also sets
//! `EV_EOF`, which stays.
//!
//! Like the descriptor filters, the knote is keyed by descriptor: it is stale (never reported,
//! freed when next looked at) once the descriptor no longer refers to the file it was
//! registered on. It holds no reference to that file (the fsnotify mark holds the inode), so
//! closing the descriptor does not keep the filesystem busy.

use core::ptr::NonNull;

use kernel::{
    bindings,
    error::from_err_ptr,
    prelude::*,
    sync::{Arc, ArcBorrow},
};

use crate::filter::Filter;
use crate::filter_fd::fd_of;
use crate::knote::{Knote, KnoteState};
use crate::uapi::*;

/// Every `EVFILT_VNODE` note; any other fflags bit is `EINVAL`.
const NOTE_VNODE_ALL: u32 = NOTE_DELETE
    | NOTE_WRITE
    | NOTE_EXTEND
    | NOTE_ATTRIB
    | NOTE_LINK
    | NOTE_RENAME
    | NOTE_REVOKE
    | NOTE_OPEN
    | NOTE_CLOSE
    | NOTE_CLOSE_WRITE
    | NOTE_READ
    | NOTE_TRUNCATE;

/// Notes FreeBSD posts together as one hint: a write that grows a file (`NOTE_WRITE |
/// NOTE_EXTEND`), an entry that adds or removes a subdirectory (`NOTE_WRITE | NOTE_LINK`). A
/// knote that asked for any of them gets every one of them that came with the event, as
/// FreeBSD's filter ORs in its whole hint.
const COPOSTED: u32 = NOTE_WRITE | NOTE_EXTEND | NOTE_LINK;

/// Opaque: a knote's watch on an inode (`struct kq_vnode_watch`).
#[repr(C)]
pub(crate) struct VnodeWatchC {
    _private: [u8; 0],
}

// `struct file` holds a zero-sized array, which the lint flags; only pointers cross here.
#[expect(improper_ctypes)]
extern "C" {
    fn kq_vnode_init() -> i32;
    fn kq_vnode_exit();
    fn kq_vnode_attach(fd: u32, ctx: *mut c_void, interest: u32) -> *mut VnodeWatchC;
    fn kq_vnode_attach_file(
        file: *mut bindings::file,
        ctx: *mut c_void,
        interest: u32,
    ) -> *mut VnodeWatchC;
    fn kq_vnode_set_interest(w: *mut VnodeWatchC, interest: u32);
    fn kq_vnode_detach(w: *mut VnodeWatchC);
    fn kq_vnode_fd_is(w: *mut VnodeWatchC, fd: u32) -> i32;
}

/// Creates the module's fsnotify group. Called once, from module init.
pub(crate) fn init() -> Result {
    // SAFETY: Called once, before the device exists.
    kernel::error::to_result(unsafe { kq_vnode_init() })
}

/// Waits for every mark to be freed and drops the group. Called from module exit (or a failed
/// init), when no kqueue is left.
pub(crate) fn fini() {
    // SAFETY: `init` succeeded and no knote is left, so no watch is.
    unsafe { kq_vnode_exit() };
}

/// The watch of an attached knote.
///
/// # Invariants
///
/// The pointer was returned by `kq_vnode_attach` and is passed to `kq_vnode_detach` only by
/// `VnodeFilter::detach`, after it was taken out of the knote's state.
#[derive(Clone, Copy)]
pub(crate) struct VnodeWatch(NonNull<VnodeWatchC>);

// SAFETY: The watch is used under the owning kqueue's mutex, from any thread.
unsafe impl Send for VnodeWatch {}

/// `EVFILT_VNODE` state of a knote (protected by the kqueue's ready lock).
#[derive(Default)]
pub(crate) struct VnodeState {
    /// The watch, while attached.
    watch: Option<VnodeWatch>,
    /// Notes fired (and asked for) since the last report.
    fired: u32,
    /// `NOTE_REVOKE` happened: `EV_EOF` from now on.
    eof: bool,
}

/// The vnode filter.
pub(crate) struct VnodeFilter;

pub(crate) static VNODE: VnodeFilter = VnodeFilter;

/// Called by `kq_vnode.c` when `notes` happened to the watched inode (`eof`: it was revoked).
/// Runs in the context of the process doing the file operation, under the inode mark's
/// spinlock (interrupts off).
///
/// The knote is an `EVFILT_VNODE` knote, or an `EVFILT_READ` knote on a regular file, which
/// watches the file's growth this way (`watch_growth`): for it the event is only a wake-up.
///
/// # Safety
///
/// `ctx` is the knote the watch was created for; the knote is alive (its `detach` removes the
/// watch from the mark, under that spinlock, before the knote can go away).
#[no_mangle]
unsafe extern "C" fn kq_vnode_event(ctx: *mut c_void, notes: u32, eof: i32) {
    // SAFETY: Per the function's contract, `ctx` is a live knote allocated by `Arc`.
    let kn = unsafe { ArcBorrow::<Knote>::from_raw(ctx.cast()) };
    if kn.filter != EVFILT_VNODE {
        kn.kq().activate(kn, |st| st.triggered = true);
        return;
    }
    kn.kq().activate(kn, |st| {
        let mut got = notes & st.sfflags;
        if got & COPOSTED != 0 {
            got |= notes & COPOSTED;
        }
        st.vnode.fired |= got;
        if eof != 0 {
            st.vnode.eof = true;
        }
    });
}

/// Watches the regular file `file` for writes on behalf of the `EVFILT_READ` knote `kn`, so
/// that the knote is woken when the file grows (regular files have no wait queue to hook).
/// `None` if the file's filesystem cannot be watched (it then has no growth wake-up).
///
/// # Safety
///
/// The caller holds a reference to `file`, and `kn` outlives the watch: the caller passes it
/// to `unwatch_growth` before the knote can go away.
pub(crate) unsafe fn watch_growth(
    file: *mut bindings::file,
    kn: &Arc<Knote>,
) -> Option<VnodeWatch> {
    // SAFETY: Per the function's contract.
    let w = unsafe {
        kq_vnode_attach_file(
            file,
            Arc::as_ptr(kn).cast_mut().cast(),
            NOTE_WRITE | NOTE_EXTEND,
        )
    };
    from_err_ptr(w).ok().and_then(NonNull::new).map(VnodeWatch)
}

/// Ends a `watch_growth` watch. When it returns, no event reaches the knote through it.
pub(crate) fn unwatch_growth(w: VnodeWatch) {
    // SAFETY: `w` came from `watch_growth` and is given back once (it is `Copy` only so that
    // it can sit in the knote's state; the caller took it out of there).
    unsafe { kq_vnode_detach(w.0.as_ptr()) };
}

impl VnodeFilter {
    /// The knote's watch, if attached.
    fn watch(kn: &Knote) -> Option<VnodeWatch> {
        let mut rd = kn.kq().ready_lock().lock();
        kn.state.access_mut(&mut rd).vnode.watch
    }
}

impl Filter for VnodeFilter {
    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        if kev.fflags & !NOTE_VNODE_ALL != 0 {
            return Err(EINVAL);
        }
        let fd = fd_of(kev.ident)?;
        // SAFETY: `kn` is a knote about to be registered; it outlives the watch, which
        // `detach` destroys before the knote table drops its reference.
        let w = unsafe { kq_vnode_attach(fd, Arc::as_ptr(kn).cast_mut().cast(), kev.fflags) };
        let w = kernel::error::from_err_ptr(w)?;
        let mut rd = kn.kq().ready_lock().lock();
        // INVARIANT: `w` comes from `kq_vnode_attach`.
        kn.state.access_mut(&mut rd).vnode.watch = NonNull::new(w).map(VnodeWatch);
        Ok(())
    }

    fn modify(&self, kn: &Arc<Knote>, kev: &KEvent, _add: bool) -> Result {
        if kev.fflags & !NOTE_VNODE_ALL != 0 {
            return Err(EINVAL);
        }
        // As FreeBSD: a change replaces the notes asked for; notes already fired stay.
        let watch = {
            let mut rd = kn.kq().ready_lock().lock();
            let st = kn.state.access_mut(&mut rd);
            st.sfflags = kev.fflags;
            st.sdata = kev.data;
            st.vnode.watch
        };
        if let Some(w) = watch {
            // SAFETY: The watch is live (`VnodeWatch` invariant): detaching needs the kqueue
            // mutex, which our caller holds.
            unsafe { kq_vnode_set_interest(w.0.as_ptr(), kev.fflags) };
        }
        Ok(())
    }

    fn detach(&self, kn: &Knote) {
        let watch = {
            let mut rd = kn.kq().ready_lock().lock();
            kn.state.access_mut(&mut rd).vnode.watch.take()
        };
        if let Some(w) = watch {
            // SAFETY: By the `VnodeWatch` invariant the watch is live, and it is destroyed
            // once: it was taken out of the knote's state above. The ready lock is not held.
            unsafe { kq_vnode_detach(w.0.as_ptr()) };
        }
    }

    fn active(&self, st: &KnoteState) -> bool {
        st.vnode.fired != 0 || st.vnode.eof
    }

    fn report(&self, st: &KnoteState, ev: &mut KEvent) {
        ev.fflags = st.vnode.fired;
        if st.vnode.eof {
            ev.flags |= EV_EOF;
        }
    }

    fn consume(&self, st: &mut KnoteState, _ev: &KEvent) {
        if st.flags & EV_CLEAR != 0 {
            st.vnode.fired = 0;
        }
    }

    fn requeue_after_report(&self, st: &KnoteState) -> bool {
        // Level-triggered: the fired notes stay until the knote goes. EV_CLEAR: only after a
        // new event.
        st.flags & EV_CLEAR == 0 && self.active(st)
    }

    fn is_stale(&self, kn: &Knote) -> bool {
        let Some(w) = Self::watch(kn) else {
            return false;
        };
        let Ok(fd) = fd_of(kn.ident) else {
            return true;
        };
        // SAFETY: The watch is live: detaching needs the kqueue mutex, which our caller holds.
        unsafe { kq_vnode_fd_is(w.0.as_ptr(), fd) == 0 }
    }

    fn fflags(&self) -> u32 {
        NOTE_VNODE_ALL
    }

    fn is_fd(&self) -> bool {
        true
    }
}

#[kernel::macros::kunit_tests(kqueue_vnode)]
mod tests {
    use super::*;

    #[test]
    fn clear_resets_fired_notes() {
        let mut st = KnoteState {
            flags: EV_CLEAR,
            ..Default::default()
        };
        assert!(!VNODE.active(&st));
        st.vnode.fired = NOTE_WRITE | NOTE_EXTEND;
        assert!(VNODE.active(&st));
        let mut ev = KEvent::default();
        VNODE.report(&st, &mut ev);
        assert_eq!(ev.fflags, NOTE_WRITE | NOTE_EXTEND);
        assert_eq!(ev.flags, 0);
        VNODE.consume(&mut st, &ev);
        assert!(!VNODE.active(&st));
        assert!(!VNODE.requeue_after_report(&st));
    }

    #[test]
    fn level_keeps_notes_and_eof_stays() {
        let mut st = KnoteState::default();
        st.vnode.fired = NOTE_ATTRIB;
        let mut ev = KEvent::default();
        VNODE.report(&st, &mut ev);
        VNODE.consume(&mut st, &ev);
        assert!(VNODE.requeue_after_report(&st));
        assert_eq!(st.vnode.fired, NOTE_ATTRIB);

        // Revoked, with EV_CLEAR: EV_EOF on every report, but no requeue by itself.
        st.flags = EV_CLEAR;
        st.vnode.eof = true;
        VNODE.consume(&mut st, &ev);
        assert!(VNODE.active(&st));
        let mut ev = KEvent::default();
        VNODE.report(&st, &mut ev);
        assert_eq!(ev.flags, EV_EOF);
        assert_eq!(ev.fflags, 0);
        assert!(!VNODE.requeue_after_report(&st));
    }

    #[test]
    fn note_mask_is_the_twelve_notes() {
        assert_eq!(NOTE_VNODE_ALL, 0xfff);
    }
}
