// SPDX-License-Identifier: GPL-2.0

//! fsnotify groups and marks (`include/linux/fsnotify_backend.h`), for an in-kernel listener.
//!
//! A [`GroupOwner`] owns an fsnotify group whose events go to [`MarkData::handle_event`]. Marks of
//! the group are [`Mark<T>`]: a `struct fsnotify_mark` followed by the listener's data `T`. A
//! mark is reference counted by fsnotify; a [`MarkRef`] owns one reference. Once the last
//! reference is gone, fsnotify frees the mark from its reaper, after an SRCU grace period (when
//! no handler can still be looking at it), by calling the group's `->free_mark()`, which drops
//! the `T` and the memory.
//!
//! fsnotify may also detach a mark on its own (unmount, after `FS_UNMOUNT`; inode eviction,
//! after `FS_DELETE_SELF`): the mark then gets no more events, but it stays allocated for as
//! long as references to it exist.

use core::marker::PhantomData;
use core::ops::Deref;
use core::ptr::{self, NonNull};

use kernel::{bindings, prelude::*, types::Opaque};

use crate::sys;

/// The kind of object a mark is attached to (`enum fsnotify_obj_type`).
#[derive(Clone, Copy)]
pub(crate) enum Object {
    /// A `struct inode`.
    Inode,
    /// A `struct super_block`: the mark sees the events of every inode of the filesystem.
    Sb,
}

impl Object {
    fn raw(self) -> u32 {
        let t = match self {
            Object::Inode => sys::fsnotify_obj_type_FSNOTIFY_OBJ_TYPE_INODE,
            Object::Sb => sys::fsnotify_obj_type_FSNOTIFY_OBJ_TYPE_SB,
        };
        // Small non-negative constants.
        t as u32
    }
}

/// The data of each mark of a group, and the group's event handler.
pub(crate) trait MarkData: Sized + Send + Sync + 'static {
    /// Called for an event on an object with a mark of the group. `inode_mark` is the group's
    /// mark on the inode the event is about (or on the directory, for an event on an entry of
    /// it), `sb_mark` the group's mark on its filesystem; at least one is set, and the mask of
    /// each says whether it wanted the event. Runs in the context of the task that caused the
    /// event, under fsnotify's SRCU read lock and sometimes under a directory's `i_rwsem`.
    fn handle_event(
        group: &Group<Self>,
        event: &Event<'_>,
        inode_mark: Option<&Mark<Self>>,
        sb_mark: Option<&Mark<Self>>,
    );
}

/// One event, as passed to [`MarkData::handle_event`]; valid during the call.
pub(crate) struct Event<'a> {
    mask: u32,
    data: *const c_void,
    data_type: i32,
    cookie: u32,
    _borrow: PhantomData<&'a ()>,
}

impl Event<'_> {
    /// The `FS_*` bits of the event.
    pub(crate) fn mask(&self) -> u32 {
        self.mask
    }

    /// The cookie pairing `FS_MOVED_FROM` with `FS_MOVED_TO`.
    pub(crate) fn cookie(&self) -> u32 {
        self.cookie
    }

    /// Whether the data is a file, as for reads and writes (`FSNOTIFY_EVENT_PATH` or
    /// `FSNOTIFY_EVENT_FILE_RANGE`).
    pub(crate) fn is_io(&self) -> bool {
        let t = self.data_type as u32;
        t == sys::fsnotify_data_type_FSNOTIFY_EVENT_PATH
            || t == sys::fsnotify_data_type_FSNOTIFY_EVENT_FILE_RANGE
    }

    /// The inode the event is about (for an entry event, the entry's), or null. It stays valid
    /// until the handler returns.
    pub(crate) fn inode(&self) -> *mut bindings::inode {
        // SAFETY: `data` and `data_type` are what fsnotify passed to the handler.
        unsafe { sys::fsnotify_data_inode(self.data, self.data_type) }
    }

    /// For `FS_ERROR`, the error the filesystem reported (a positive errno).
    pub(crate) fn error(&self) -> Option<i32> {
        // SAFETY: `data` and `data_type` are what fsnotify passed to the handler.
        let report = unsafe { sys::fsnotify_data_error_report(self.data, self.data_type) };
        // SAFETY: A non-null report is valid until the handler returns.
        (!report.is_null()).then(|| unsafe { (*report).error })
    }
}

/// The ops table of a group whose marks carry a `T`.
struct Vtable<T>(PhantomData<T>);

impl<T: MarkData> Vtable<T> {
    const OPS: sys::fsnotify_ops = sys::fsnotify_ops {
        handle_event: Some(handle_event::<T>),
        handle_inode_event: None,
        free_group_priv: None,
        freeing_mark: None,
        free_event: None,
        free_mark: Some(free_mark::<T>),
    };
}

/// `->handle_event()` of a group of `T` marks.
///
/// # Safety
///
/// Called by fsnotify only, for a group created by [`GroupOwner::new`] for `T`, with the
/// arguments of an event.
unsafe extern "C" fn handle_event<T: MarkData>(
    group: *mut sys::fsnotify_group,
    mask: u32,
    data: *const c_void,
    data_type: c_int,
    _dir: *mut bindings::inode,
    _name: *const bindings::qstr,
    cookie: u32,
    iter_info: *mut sys::fsnotify_iter_info,
) -> c_int {
    // SAFETY: fsnotify passes the group, which lives while it has marks (they hold references).
    let group = unsafe { Group::<T>::from_raw(group) };
    // SAFETY: `iter_info` is valid during the call; the marks in it belong to `group`, so by the
    // `GroupOwner` invariant they are `Mark<T>`s, and the SRCU read lock that fsnotify holds
    // keeps them allocated until we return.
    let (inode_mark, sb_mark) = unsafe {
        (
            Mark::<T>::from_raw(sys::fsnotify_iter_inode_mark(iter_info)),
            Mark::<T>::from_raw(sys::fsnotify_iter_sb_mark(iter_info)),
        )
    };
    let event = Event {
        mask,
        data,
        data_type,
        cookie,
        _borrow: PhantomData,
    };
    T::handle_event(group, &event, inode_mark, sb_mark);
    0
}

/// `->free_mark()` of a group of `T` marks: the last reference to `mark` went and an SRCU grace
/// period passed.
///
/// # Safety
///
/// Called by fsnotify only, once per mark of a group created by [`GroupOwner::new`] for `T`.
unsafe extern "C" fn free_mark<T: MarkData>(mark: *mut sys::fsnotify_mark) {
    // SAFETY: By the `Mark` invariant the mark is the first field of a `Mark<T>` allocated by
    // `KBox` in `Group::new_mark`, and fsnotify frees it once, here.
    drop(unsafe { KBox::from_raw(mark.cast::<Mark<T>>()) });
}

/// An fsnotify group whose marks carry a `T`, borrowed (the handler's).
///
/// # Invariants
///
/// The group was created by [`GroupOwner::new`] for `T`: its ops are `Vtable::<T>::OPS`, so
/// every mark of it is a [`Mark<T>`].
#[repr(transparent)]
pub(crate) struct Group<T: MarkData> {
    group: Opaque<sys::fsnotify_group>,
    _data: PhantomData<T>,
}

impl<T: MarkData> Group<T> {
    /// # Safety
    ///
    /// `ptr` is a group created by [`GroupOwner::new`] for `T`, alive for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut sys::fsnotify_group) -> &'a Self {
        // SAFETY: `Group` is a transparent wrapper; the caller guarantees the rest.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn as_ptr(&self) -> *mut sys::fsnotify_group {
        self.group.get()
    }

    /// A new mark of the group with the event mask `mask`, not yet attached to anything.
    pub(crate) fn new_mark(
        &self,
        mask: u32,
        data: impl PinInit<T, Error>,
        flags: kernel::alloc::Flags,
    ) -> Result<NewMark<T>> {
        let mark = KBox::pin_init(
            try_pin_init!(Mark {
                mark: Opaque::uninit(),
                data <- data,
            }),
            flags,
        )?;
        // SAFETY: The mark is not moved out: from here on only `free_mark` frees it.
        let mark = KBox::into_raw(unsafe { Pin::into_inner_unchecked(mark) });
        // SAFETY: `mark` is valid and the mark not yet initialised; the group is alive.
        unsafe {
            let raw = (*mark).mark.get();
            sys::fsnotify_init_mark(raw, self.as_ptr());
            (*raw).mask = mask;
        }
        // INVARIANT: `fsnotify_init_mark` initialised the mark with one reference, ours, for a
        // group of `T` marks, and only `free_mark` frees the box.
        // SAFETY: `KBox::into_raw` never returns null.
        Ok(NewMark(MarkRef(unsafe { NonNull::new_unchecked(mark) })))
    }

    /// The group's mark on `obj`, if it has one.
    ///
    /// # Safety
    ///
    /// `obj` is an object of kind `kind` that stays alive during the call.
    pub(crate) unsafe fn find_mark(&self, obj: *mut c_void, kind: Object) -> Option<MarkRef<T>> {
        // SAFETY: The caller guarantees `obj`; the group is alive.
        let mark = unsafe { sys::fsnotify_find_mark(obj, kind.raw(), self.as_ptr()) };
        // INVARIANT: `fsnotify_find_mark` returns a new reference to a mark of the group, which
        // by the `Group` invariant is a `Mark<T>`.
        NonNull::new(mark.cast::<Mark<T>>()).map(MarkRef)
    }
}

/// The owner of an fsnotify group whose marks carry a `T`.
///
/// # Invariants
///
/// `self.0` was created by `fsnotify_alloc_group` with `Vtable::<T>::OPS`, and we own one
/// reference to it. Marks of the group are created only by [`Group::new_mark`].
pub(crate) struct GroupOwner<T: MarkData>(NonNull<Group<T>>);

// SAFETY: fsnotify groups may be used and released from any thread; `T` is `Send + Sync`.
unsafe impl<T: MarkData> Send for GroupOwner<T> {}
// SAFETY: As above: `Group` methods take `&self` and are safe to call concurrently.
unsafe impl<T: MarkData> Sync for GroupOwner<T> {}

impl<T: MarkData> GroupOwner<T> {
    /// Creates a group. Process context.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: The ops table is static.
        let group = unsafe { sys::fsnotify_alloc_group(&Vtable::<T>::OPS, 0) };
        let group = kernel::error::from_err_ptr(group)?;
        // INVARIANT: The group was created with `T`'s ops; we hold the reference it came with.
        NonNull::new(group.cast::<Group<T>>())
            .map(Self)
            .ok_or(ENOMEM)
    }
}

impl<T: MarkData> Deref for GroupOwner<T> {
    type Target = Group<T>;

    fn deref(&self) -> &Group<T> {
        // SAFETY: By the type invariant the group is alive while we hold our reference.
        unsafe { self.0.as_ref() }
    }
}

impl<T: MarkData> Drop for GroupOwner<T> {
    /// Waits until every mark of the group has been freed, then drops our reference to the
    /// group. `->free_mark()` is code of this module called from fsnotify's reaper: the module
    /// may go only once it has run for every mark. A mark holds a reference to its group from
    /// `fsnotify_init_mark()` until after `->free_mark()` returned, so the group's reference
    /// count tells when. A mark may still be pinned for a moment by fsnotify itself (an unmount
    /// in progress), hence the polling. The caller must have dropped all its `MarkRef`s.
    fn drop(&mut self) {
        let group = self.as_ptr();
        let mut waited: u32 = 0;
        loop {
            // SAFETY: Process context, no lock held.
            unsafe { sys::fsnotify_wait_marks_destroyed() };
            // SAFETY: The group is alive: we hold a reference.
            // (`refcount_read()`: an atomic read of the counter.)
            let refs = unsafe { ptr::read_volatile(ptr::addr_of!((*group).refcnt.refs.counter)) };
            if refs <= 1 {
                break;
            }
            waited = waited.saturating_add(1);
            if waited == 500 {
                pr_warn!("kqueue: waiting for {} fsnotify marks\n", refs - 1);
            }
            // SAFETY: Process context.
            unsafe { bindings::msleep(20) };
        }
        // The reaper run that freed the last mark finishes.
        // SAFETY: Process context, no lock held.
        unsafe { sys::fsnotify_wait_marks_destroyed() };
        // SAFETY: By the type invariant we own a reference; no mark is left.
        unsafe { sys::fsnotify_put_group(group) };
    }
}

/// A mark of a group whose marks carry a `T`.
///
/// # Invariants
///
/// `mark` was initialised by `fsnotify_init_mark` for a group created by [`GroupOwner::new`]
/// for `T`, and this `Mark<T>` is in a `KBox` that only `free_mark` frees.
#[repr(C)]
#[pin_data]
pub(crate) struct Mark<T: MarkData> {
    mark: Opaque<sys::fsnotify_mark>,
    #[pin]
    data: T,
}

impl<T: MarkData> Mark<T> {
    /// # Safety
    ///
    /// `ptr` is null or a mark of a group of `T` marks, allocated for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut sys::fsnotify_mark) -> Option<&'a Self> {
        // SAFETY: By the `Mark` invariant a mark of such a group is the first field of a
        // `Mark<T>` (`repr(C)`); the caller guarantees the lifetime.
        unsafe { ptr.cast::<Self>().as_ref() }
    }

    fn as_ptr(&self) -> *mut sys::fsnotify_mark {
        self.mark.get()
    }

    /// The events the mark listens to (`FS_*`), as they are now.
    pub(crate) fn mask(&self) -> u32 {
        // SAFETY: The mark is initialised (type invariant); fsnotify changes the mask under its
        // own locks, so it is read once, as `READ_ONCE()` would.
        unsafe { ptr::read_volatile(ptr::addr_of!((*self.as_ptr()).mask)) }
    }

    /// Adds the events `set` to the mask and removes `clear`. Process context.
    pub(crate) fn modify_mask(&self, set: u32, clear: u32) {
        // SAFETY: The mark is initialised (type invariant).
        unsafe { sys::fsnotify_modify_mark_mask(self.as_ptr(), set, clear) };
    }

    /// Detaches the mark from its object: no more events. Nothing if fsnotify did already.
    /// Process context; may sleep.
    pub(crate) fn destroy(&self) {
        let mark = self.as_ptr();
        // SAFETY: The mark is initialised (type invariant), so its group is set and alive (the
        // mark holds a reference to it).
        unsafe { sys::fsnotify_destroy_mark(mark, (*mark).group) };
    }
}

impl<T: MarkData> Deref for Mark<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

/// One reference to a [`Mark<T>`]. Dropping it drops the reference; the last one frees the
/// mark (after an SRCU grace period, if it was ever attached).
///
/// # Invariants
///
/// `self.0` is a `Mark<T>` (see its invariants) and we own one reference to it.
pub(crate) struct MarkRef<T: MarkData>(NonNull<Mark<T>>);

// SAFETY: Mark references may be dropped from any thread; `T` is `Send + Sync`.
unsafe impl<T: MarkData> Send for MarkRef<T> {}
// SAFETY: `Mark<T>` methods take `&self` and are safe to call concurrently.
unsafe impl<T: MarkData> Sync for MarkRef<T> {}

impl<T: MarkData> Deref for MarkRef<T> {
    type Target = Mark<T>;

    fn deref(&self) -> &Mark<T> {
        // SAFETY: Our reference keeps the mark allocated (type invariant).
        unsafe { self.0.as_ref() }
    }
}

impl<T: MarkData> Drop for MarkRef<T> {
    /// Drops the reference. Does not sleep unless it is the last reference to the last mark on
    /// an object (fsnotify then lets go of the object: `iput()` for an inode).
    fn drop(&mut self) {
        // SAFETY: We own a reference (type invariant).
        unsafe { sys::fsnotify_put_mark(self.as_ptr()) };
    }
}

/// A new mark, not attached to any object yet (the only reference to it).
pub(crate) struct NewMark<T: MarkData>(MarkRef<T>);

impl<T: MarkData> NewMark<T> {
    /// Attaches the mark to `obj`: from now on it gets the events of `obj` that its mask
    /// selects. On failure the mark is freed at once (it was never seen by a handler). Process
    /// context; may sleep.
    ///
    /// # Safety
    ///
    /// `obj` is an object of kind `kind` that stays alive during the call.
    pub(crate) unsafe fn add(self, obj: *mut c_void, kind: Object) -> Result<MarkRef<T>> {
        // SAFETY: The mark is initialised and attached to nothing (it is new); the caller
        // guarantees `obj`.
        let err = unsafe { sys::fsnotify_add_mark(self.0.as_ptr(), obj, kind.raw(), 0) };
        kernel::error::to_result(err).map(|()| self.0)
    }
}

impl<T: MarkData> Deref for NewMark<T> {
    type Target = Mark<T>;

    fn deref(&self) -> &Mark<T> {
        &self.0
    }
}
