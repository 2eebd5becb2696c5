// SPDX-License-Identifier: GPL-2.0

//! Knotes: one registered (ident, filter) pair of a kqueue.
//!
//! A knote is reference counted. The kqueue's knote table holds one reference for as long as
//! the knote is registered; the ready list (and a scan in progress) holds another while the
//! knote is queued. Filter callbacks (timer expiry, wake functions) run in atomic context and
//! reach the knote through a raw pointer that stays valid because every filter's `detach`
//! guarantees that no callback runs any more before the table drops its reference.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicPtr};

use kernel::{
    bindings,
    list::{impl_list_arc_safe, impl_list_item, AtomicTracker, ListLinks, TryNewListArc},
    prelude::*,
    sync::{Arc, LockedBy},
    types::Opaque,
};

use crate::accounting::{Charge, Resource};
use crate::filter::Ops;
use crate::knote_table;
use crate::kqueue::{Kqueue, ReadyState};
use crate::uapi::{KEvent, EV_ACTIONS, EV_DISABLE};

/// Key of a knote in its kqueue: FreeBSD's (ident, filter) identity.
pub(crate) type KnoteKey = (u64, i16);

/// Mutable state of a knote.
///
/// Protected by the owning kqueue's ready lock (`Kqueue::ready`), because filter callbacks in
/// atomic context update it. Configuration fields change only while the kqueue mutex is held
/// as well, so code holding the mutex sees them stable between two ready-lock sections.
#[derive(Default)]
pub(crate) struct KnoteState {
    /// Stored `EV_*` flags (`EV_ONESHOT`, `EV_CLEAR`, `EV_DISPATCH`, `EV_RECEIPT`, ...).
    pub(crate) flags: u16,
    /// Opaque user value.
    pub(crate) udata: u64,
    /// Extension words, returned as given.
    pub(crate) ext: [u64; 4],
    /// `EV_DISABLE`d (explicitly or by `EV_DISPATCH`): not reported, not queued.
    pub(crate) disabled: bool,
    /// `EV_FORCEONESHOT`: report at the next collection even if the filter is not active.
    pub(crate) forced: bool,
    /// Filter input flags as last given (FreeBSD's `kn_sfflags`).
    pub(crate) sfflags: u32,
    /// Filter input data as last given (FreeBSD's `kn_sdata`).
    pub(crate) sdata: i64,
    /// Filter output data, e.g. the timer's expiration count (FreeBSD's `kn_data`).
    pub(crate) data: i64,
    /// `EVFILT_USER`: triggered and not yet cleared. Descriptor filters: woken since the last
    /// look at the file.
    pub(crate) triggered: bool,
    /// The filter's own state (`filter.rs`).
    pub(crate) fstate: crate::filter::FilterState,
}

impl KnoteState {
    /// Adds what every reported event carries from its knote: the stored flags, `udata` and
    /// `ext`.
    pub(crate) fn stamp(&self, ev: &mut KEvent) {
        ev.flags |= self.flags;
        ev.udata = self.udata;
        ev.ext = self.ext;
    }
}

/// One registered event source.
///
/// # Invariants
///
/// `kq` points to the kqueue that owns this knote. It is valid for as long as the knote is in
/// that kqueue's table (or on its pending list, `kqueue::PendingKnote`), and callbacks reach the
/// knote only while it is.
#[pin_data]
pub(crate) struct Knote {
    /// User-given identifier.
    pub(crate) ident: u64,
    /// `EVFILT_*`.
    pub(crate) filter: i16,
    /// The filter implementation.
    pub(crate) ops: Ops,
    /// The owning kqueue.
    kq: NonNull<Kqueue>,
    /// Links of the kqueue's ready list.
    #[pin]
    links: ListLinks<0>,
    /// Whether a `ListArc` exists, i.e. whether the knote is queued or being reported.
    #[pin]
    tracker: AtomicTracker,
    /// Mutable state, protected by the kqueue's ready lock.
    pub(crate) state: LockedBy<KnoteState, ReadyState>,
    /// Descriptor filters: the file the knote watches, while attached (NULL otherwise). Only
    /// compared with what the descriptor refers to, never dereferenced through this field.
    /// Written by `attach` and `detach`, read by `is_stale`: all with the kqueue mutex held.
    pub(crate) file: AtomicPtr<bindings::file>,
    /// Descriptor knotes: a close of the descriptor queued the knote's removal
    /// (`close_hook.rs`). Set once, by the probe.
    pub(crate) closing: AtomicBool,
    /// While `closing`: the task work that removes the knote.
    #[pin]
    pub(crate) close_work: Opaque<bindings::callback_head>,
    /// Descriptor knotes holding a file: the node of the close hook's index, protected by the
    /// index lock (`close_hook.rs`).
    #[pin]
    pub(crate) index_node: Opaque<bindings::rb_node>,
    /// The node of the kqueue's knote table (`knote_table.rs`), protected by the kqueue mutex.
    #[pin]
    pub(crate) table_node: Opaque<bindings::rb_node>,
    /// The registering user's charge for this knote (`max_user_knotes`).
    charge: Charge,
}

// SAFETY: The fields that are not `Send` are the `kq` pointer, whose kqueue is `Sync` and
// outlives the knote's registration (type invariant), and the task-work head `close_work`,
// which only the close hook touches, once, guarded by `closing`, and the two tree nodes
// (`index_node`, `table_node`), which are only used under the lock of their tree (the index
// lock, the kqueue mutex). So the knote may be moved to and used from any thread.
unsafe impl Send for Knote {}
// SAFETY: All mutable state is behind the kqueue's locks or atomics; see `Send`.
unsafe impl Sync for Knote {}

impl_list_arc_safe! {
    impl ListArcSafe<0> for Knote { tracked_by tracker: AtomicTracker; }
}
impl_list_item! {
    impl ListItem<0> for Knote { using ListLinks { self.links }; }
}

impl Knote {
    /// Allocates a knote for `kev` in `kq`, paid for by `charge` (the registering user's, or
    /// for a knote created by an event source, the user of the knote that created it). `gfp`:
    /// `NOTE_TRACK` creates knotes in atomic context. The filter's `attach` has not run yet.
    pub(crate) fn new_with(
        kq: &Kqueue,
        ops: Ops,
        kev: &KEvent,
        charge: Charge,
        gfp: kernel::alloc::Flags,
    ) -> Result<Arc<Self>> {
        let state = KnoteState {
            flags: (kev.flags & !EV_ACTIONS) | ops.forced_flags(),
            udata: kev.udata,
            ext: kev.ext,
            sfflags: kev.fflags,
            sdata: kev.data,
            // `EV_ADD | EV_DISABLE` creates the knote disabled.
            disabled: kev.flags & EV_DISABLE != 0,
            fstate: ops.new_state(),
            ..Default::default()
        };
        let state = LockedBy::new(kq.ready_lock(), state);
        let owner = NonNull::from(kq);
        Arc::pin_init(
            try_pin_init!(Self {
                ident: kev.ident,
                filter: kev.filter,
                ops,
                // INVARIANT: The caller inserts the knote in `kq`'s table, or drops it.
                kq: owner,
                links <- ListLinks::new(),
                tracker <- AtomicTracker::new(),
                state,
                file: AtomicPtr::new(core::ptr::null_mut()),
                closing: AtomicBool::new(false),
                // SAFETY: `clear_node` only writes the node, which is in no tree yet.
                index_node <- Opaque::ffi_init(|node| unsafe { knote_table::clear_node(node) }),
                // SAFETY: As above.
                table_node <- Opaque::ffi_init(|node| unsafe { knote_table::clear_node(node) }),
                close_work: Opaque::uninit(),
                charge,
            }),
            gfp,
        )
    }

    /// The kqueue that owns this knote.
    pub(crate) fn kq(&self) -> &Kqueue {
        // SAFETY: By the type invariant the kqueue outlives the knote's registration, and the
        // knote is only used (by the kqueue itself or by its callbacks) while registered.
        unsafe { self.kq.as_ref() }
    }

    /// The kqueue that owns this knote, as a pointer (valid under the same conditions as
    /// `kq`).
    pub(crate) fn kq_ptr(&self) -> *const Kqueue {
        self.kq.as_ptr()
    }

    /// An event of this knote with only its identity filled in.
    pub(crate) fn blank_event(&self) -> KEvent {
        KEvent {
            ident: self.ident,
            filter: self.filter,
            ..Default::default()
        }
    }

    /// One more unit of `res` for the user this knote is charged to (any context).
    pub(crate) fn charge_another(&self, res: Resource) -> Result<Charge> {
        self.charge.another(res)
    }

    /// The key of this knote in its kqueue's table.
    pub(crate) fn key(&self) -> KnoteKey {
        (self.ident, self.filter)
    }
}

// A knote and its `Arc` count (8 bytes with padding) fit in kmalloc-256: with the poll watch,
// that is what a registered descriptor costs.
const _: () = assert!(core::mem::size_of::<Knote>() + 8 <= 256);
