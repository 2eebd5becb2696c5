// SPDX-License-Identifier: GPL-2.0

//! `EVFILT_VNODE`: changes to the file a descriptor refers to, through fsnotify.
//!
//! The watch is on the inode, not on a path: renaming or unlinking the file does not lose it.
//!
//! # Marks
//!
//! The module owns one fsnotify group (`fsnotify.rs`). A watched inode carries one mark of the
//! group, shared by every knote watching that inode: each knote has a [`Watch`] on the mark's
//! list. The superblock of each watched inode carries one mark of the group too, shared by the
//! inode marks on it, for two things the inode marks do not see:
//!
//! - rmdir of a watched directory. Linux reports it only to the parent (`FS_DELETE` with the
//!   victim as data); `FS_DELETE_SELF` comes when the last reference to the directory goes,
//!   and the watcher's descriptor is one. The sb mark listens to `FS_DELETE` only while a
//!   directory on that filesystem is watched (`ndirs`): then every unlink and rmdir on the
//!   filesystem calls into the module, which costs one mark lookup of the victim
//!   (`fsnotify_find_mark()`), whatever the number of watches.
//! - The filesystem shut down (`FS_ERROR` with `ESHUTDOWN`: `FS_IOC_SHUTDOWN`, or its block
//!   device went away): `NOTE_REVOKE` for every watch on it. The sb mark keeps a second list
//!   of the watches of every inode on it for that. `FS_ERROR` is rare; a mark listening only to
//!   it costs other events on the filesystem nothing (`fsnotify()` skips marks whose mask does
//!   not match).
//!
//! The handler ([`VMark::handle_event`]) runs in the context of the process that touched the
//! file. It turns each fsnotify event into `NOTE_*` bits once per inode and gives them to every
//! watch that wants any of them ([`Watch::event`]), which only accumulates them in the knote
//! and queues it (`Kqueue::activate`).
//!
//! # Lifetime
//!
//! A mark is created with one reference, which goes to its first user; each further user finds
//! the mark with `fsnotify_find_mark()`, which gives it a reference of its own. The users of an
//! inode mark are its watches, those of an sb mark the inode marks on it (the [`MarkRef`] in
//! their `Users::sb`). `users` counts them, under [`MARKS`]: the last one to go detaches the
//! mark (`fsnotify_destroy_mark()`). [`MARKS`] serialises creating, finding and destroying
//! marks, so a mark that `fsnotify_find_mark()` returns while it is held has users. fsnotify
//! may detach a mark on its own (unmount, after `FS_UNMOUNT`; inode eviction, after
//! `FS_DELETE_SELF`): it then gets no more events, but it stays allocated until our references
//! go. fsnotify frees it after an SRCU grace period, when no handler can still be looking at it.
//!
//! # Locking
//!
//! In this order: the kqueue mutex (held around attach, modify and detach); [`MARKS`];
//! `group->mark_mutex` and fsnotify's mark and connector locks (inside the `fsnotify_*_mark()`
//! calls); a mark's `state` spinlock (an sb mark's and an inode mark's are never held
//! together); the kqueue's ready lock (taken by `Kqueue::activate`). The handler runs under
//! fsnotify's SRCU read lock and sometimes under a directory's `i_rwsem`: it takes only the
//! mark spinlocks and, through `activate`, the ready lock, and it neither sleeps nor allocates.
//!
//! # Reporting
//!
//! `fflags` = the notes that fired since the last report, among those asked for. With
//! `EV_CLEAR` they reset after each report; without it the knote stays active and reports the
//! accumulated notes at every collection (FreeBSD). `NOTE_REVOKE` also sets `EV_EOF`, which
//! stays.
//!
//! Like the descriptor filters, the knote is keyed by descriptor: it is stale (never reported,
//! freed when next looked at) once the descriptor no longer refers to the file it was
//! registered on. It holds no reference to that file (the fsnotify mark holds the inode), so
//! closing the descriptor does not keep the filesystem busy.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};

use kernel::{
    bindings,
    fs::File,
    list::{impl_list_arc_safe, impl_list_item, List, ListArc, ListLinks},
    new_spinlock_irq,
    prelude::*,
    sync::{aref::ARef, Arc, GlobalGuard, GlobalLockedBy, SpinLockIrq, UniqueArc},
};

use crate::accounting::{Charge, Resource};
use crate::filter::{Filter, FilterState};
use crate::filter_fd::fd_of;
use crate::fsnotify::{Event, Group, GroupOwner, Mark, MarkData, MarkRef, Object};
use crate::knote::{Knote, KnoteState};
use crate::sys;
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

/// What an inode mark always listens to.
const INODE_BASE: u32 = sys::FS_MODIFY
    | sys::FS_ATTRIB
    | sys::FS_CREATE
    | sys::FS_DELETE
    | sys::FS_MOVED_FROM
    | sys::FS_MOVED_TO
    | sys::FS_DELETE_SELF
    | sys::FS_MOVE_SELF
    | sys::FS_UNMOUNT;
/// What an inode mark listens to only while a watch asks (frequent events).
const INODE_OPT: u32 = sys::FS_ACCESS | sys::FS_OPEN | sys::FS_CLOSE_WRITE | sys::FS_CLOSE_NOWRITE;
/// Each event of `INODE_OPT` and the notes that need it.
const OPTIONAL: [(u32, u32); 4] = [
    (sys::FS_ACCESS, NOTE_READ | NOTE_ATTRIB),
    (sys::FS_OPEN, NOTE_OPEN),
    (sys::FS_CLOSE_NOWRITE, NOTE_CLOSE),
    (sys::FS_CLOSE_WRITE, NOTE_CLOSE_WRITE),
];
/// What an sb mark always listens to.
const SB_BASE: u32 = sys::FS_ERROR;
/// Added to an sb mark while a directory on it is watched.
const SB_DIRS: u32 = sys::FS_DELETE;

/// `SB_NOUSER` of `include/linux/fs/super_types.h` (`BIT(31)`, which bindgen cannot evaluate):
/// the internal pseudo filesystems.
const SB_NOUSER: c_ulong = 1 << 31;

kernel::sync::global_lock! {
    /// The module's fsnotify group (`None` before `init` and after `fini`), and the mutex that
    /// serialises creating, finding and destroying marks and protects every mark's `users`
    /// (see "Lifetime" above). It nests inside the kqueue mutex and outside fsnotify's locks
    /// and the marks' spinlocks. The group is in an `Arc` so that an attach can hold it while it
    /// changes `users` through the guard.
    // SAFETY: `init` initialises it in module init, before any kqueue exists.
    unsafe(uninit) static MARKS: Mutex<Option<Arc<GroupOwner<VMark>>>> = None;
}

/// Creates the module's fsnotify group. Called once, from module init.
pub(crate) fn init() -> Result {
    // SAFETY: Called once, before the device is registered.
    unsafe { MARKS.init() };
    let group = Arc::new(GroupOwner::new()?, GFP_KERNEL)?;
    *MARKS.lock() = Some(group);
    Ok(())
}

/// Waits for every mark to be freed and drops the group (`GroupOwner`'s `drop`). Called from
/// module exit (or a failed init), when no kqueue, hence no watch, is left.
pub(crate) fn fini() {
    let group = MARKS.lock().take();
    drop(group);
}

/// Whether `mode` is a directory's (`S_ISDIR`).
fn is_dir(mode: bindings::umode_t) -> bool {
    u32::from(mode) & bindings::S_IFMT == bindings::S_IFDIR
}

/// `READ_ONCE(inode->i_nlink)`.
///
/// # Safety
///
/// `inode` is a live inode.
unsafe fn nlink(inode: *const bindings::inode) -> u32 {
    // SAFETY: The caller guarantees `inode`; the count changes under the inode's lock, which we
    // do not hold, so it is read once.
    unsafe { ptr::read_volatile(ptr::addr_of!((*inode).__bindgen_anon_1.i_nlink)) }
}

/// What the [`MARKS`] lock protects in a mark.
#[derive(Default)]
struct Users {
    /// Inode mark: its watches. Sb mark: the inode marks on it.
    users: u32,
    /// Sb mark: inode marks of directories on it. Inode mark: 1 for a directory.
    ndirs: u32,
    /// Inode mark: the sb mark of its filesystem, of which it is one user.
    sb: Option<MarkRef<VMark>>,
}

/// What a mark's spinlock protects.
struct MarkState {
    /// Inode mark: the watches of the inode.
    watches: List<Watch, WATCHES>,
    /// Sb mark: the watches of every inode on the filesystem.
    sb_watches: List<Watch, SB_WATCHES>,
    /// Inode mark: the size at the last event.
    size: i64,
    /// Inode mark: the link count at the last event.
    nlink: u32,
    /// Inode mark: the cookie of the last `FS_MOVED_FROM`.
    from_cookie: u32,
    /// Inode mark: how many of `watches` need each event of `OPTIONAL`, kept as watches come,
    /// go and change, so that the mark's mask is known without walking them.
    wanting: [u32; OPTIONAL.len()],
}

impl MarkState {
    fn new(size: i64, nlink: u32) -> Self {
        Self {
            watches: List::new(),
            sb_watches: List::new(),
            size,
            nlink,
            from_cookie: 0,
            wanting: [0; OPTIONAL.len()],
        }
    }

    /// Counts a watch with `interest` in (`add`) or out of `wanting`.
    fn count(&mut self, interest: u32, add: bool) {
        for (n, &(_, notes)) in self.wanting.iter_mut().zip(OPTIONAL.iter()) {
            if interest & notes != 0 {
                *n = if add {
                    n.saturating_add(1)
                } else {
                    n.saturating_sub(1)
                };
            }
        }
    }

    /// The inode mark's mask: the base events and the optional ones some watch needs.
    fn mask(&self) -> u32 {
        self.wanting
            .iter()
            .zip(OPTIONAL.iter())
            .filter(|(n, _)| **n > 0)
            .fold(INODE_BASE, |mask, (_, &(event, _))| mask | event)
    }
}

/// The data of one of the module's fsnotify marks: on an inode, or on a superblock.
///
/// # Invariants
///
/// `inode`, if set, is the inode the mark was created for and added to (a mark never moves to
/// another object). It is dereferenced only by the handler, for an event on that inode.
#[pin_data]
struct VMark {
    inode: Option<NonNull<bindings::inode>>,
    users: GlobalLockedBy<Users, MARKS>,
    #[pin]
    state: SpinLockIrq<MarkState>,
}

/// fsnotify events that each report one note, whatever the inode's state.
const ONE_NOTE_EVENTS: [(u32, u32); 6] = [
    (sys::FS_MOVE_SELF, NOTE_RENAME),
    (sys::FS_DELETE_SELF, NOTE_DELETE),
    (sys::FS_OPEN, NOTE_OPEN),
    (sys::FS_CLOSE_NOWRITE, NOTE_CLOSE),
    (sys::FS_CLOSE_WRITE, NOTE_CLOSE_WRITE),
    (sys::FS_UNMOUNT, NOTE_REVOKE),
];

// SAFETY: `inode` is only compared and dereferenced as the invariant says; the rest is
// `Send + Sync`.
unsafe impl Send for VMark {}
// SAFETY: As above.
unsafe impl Sync for VMark {}

impl VMark {
    /// The data of a new mark on `inode`.
    ///
    /// # Safety
    ///
    /// `inode` is a live inode.
    unsafe fn new_inode(inode: NonNull<bindings::inode>) -> impl PinInit<Self, Error> {
        let i = inode.as_ptr();
        // SAFETY: The caller guarantees that the inode is live.
        let (size, nlink, dir) = unsafe { (sys::i_size_read(i), nlink(i), is_dir((*i).i_mode)) };
        // Distinct lock classes for the two kinds of marks.
        try_pin_init!(Self {
            inode: Some(inode),
            users: GlobalLockedBy::new(Users {
                ndirs: u32::from(dir),
                ..Default::default()
            }),
            state <- new_spinlock_irq!(MarkState::new(size, nlink), "kq_vnode_inode_mark"),
        })
    }

    /// The data of a new mark on a superblock.
    fn new_sb() -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inode: None,
            users: GlobalLockedBy::new(Users::default()),
            state <- new_spinlock_irq!(MarkState::new(0, 0), "kq_vnode_sb_mark"),
        })
    }

    /// The notes an event on `inode`, the inode of an inode mark whose state is `st`, means.
    /// Writes and reads come with the file as data; a change of attributes (`notify_change`:
    /// truncate, utimes, ...) with the dentry, a link count change with the inode.
    ///
    /// # Safety
    ///
    /// `inode` is a live inode.
    unsafe fn notes(
        inode: *const bindings::inode,
        st: &mut MarkState,
        mask: u32,
        io: bool,
        cookie: u32,
    ) -> u32 {
        let mut notes = 0;
        // SAFETY: The caller guarantees that the inode is live.
        let dir = is_dir(unsafe { (*inode).i_mode });
        if mask & (sys::FS_MODIFY | sys::FS_ATTRIB) != 0 && !dir {
            // SAFETY: As above.
            let size = unsafe { sys::i_size_read(inode) };
            if size > st.size {
                notes |= NOTE_EXTEND;
            }
            // A truncation changes the contents.
            if size != st.size && !io {
                notes |= NOTE_WRITE;
            }
            if size < st.size && !io {
                notes |= NOTE_TRUNCATE;
            }
            st.size = size;
        }
        if mask & sys::FS_MODIFY != 0 {
            notes |= if io { NOTE_WRITE } else { NOTE_ATTRIB };
        }
        if mask & sys::FS_ACCESS != 0 {
            notes |= if io { NOTE_READ } else { NOTE_ATTRIB };
        }
        if mask & sys::FS_ATTRIB != 0 {
            // SAFETY: As above.
            let nlink = unsafe { nlink(inode) };
            notes |= if nlink == st.nlink {
                NOTE_ATTRIB
            } else if nlink == 0 {
                NOTE_DELETE
            } else {
                NOTE_LINK
            };
            st.nlink = nlink;
        }
        if mask & (sys::FS_CREATE | sys::FS_DELETE | sys::FS_MOVED_FROM | sys::FS_MOVED_TO) != 0 {
            // A directory's link count counts its subdirectories.
            // SAFETY: As above.
            let nlink = unsafe { nlink(inode) };
            notes |= NOTE_WRITE;
            if nlink != st.nlink {
                notes |= NOTE_LINK;
            }
            st.nlink = nlink;
            if mask & sys::FS_MOVED_FROM != 0 {
                st.from_cookie = cookie;
            }
            // Within one directory, MOVED_FROM comes first, same cookie.
            if mask & sys::FS_MOVED_TO != 0 && cookie != st.from_cookie {
                notes |= NOTE_EXTEND;
            }
        }
        for (event, note) in ONE_NOTE_EVENTS {
            if mask & event != 0 {
                notes |= note;
            }
        }
        notes
    }

    /// An event on `inode`, the inode of this inode mark; `mask` only has the events the mark
    /// wants.
    ///
    /// # Safety
    ///
    /// `inode` is a live inode.
    unsafe fn inode_event(&self, inode: NonNull<bindings::inode>, mask: u32, event: &Event<'_>) {
        let mut st = self.state.lock();
        // SAFETY: The caller guarantees that the inode is live.
        let notes =
            unsafe { Self::notes(inode.as_ptr(), &mut st, mask, event.is_io(), event.cookie()) };
        if notes != 0 {
            deliver(&st.watches, notes, mask & sys::FS_UNMOUNT != 0);
        }
    }

    /// An event on the filesystem of this sb mark; `mask` only has the events the mark wants
    /// (and `FS_ISDIR`).
    fn sb_event(&self, group: &Group<VMark>, mask: u32, event: &Event<'_>) {
        if mask & sys::FS_DELETE != 0 && mask & sys::FS_ISDIR != 0 {
            // rmdir: is the removed directory watched?
            let victim = event.inode();
            let mark = if victim.is_null() {
                None
            } else {
                // SAFETY: The event's inode is alive during the handler.
                unsafe { group.find_mark(victim.cast(), Object::Inode) }
            };
            if let Some(vm) = mark {
                {
                    let mut st = vm.state.lock();
                    st.nlink = 0;
                    deliver(&st.watches, NOTE_DELETE, false);
                }
                // Dropping `vm` drops the reference `find_mark` gave; not the last (the mark
                // has users), so nothing sleeps.
            }
        }
        if mask & sys::FS_ERROR != 0 && event.error() == Some(bindings::ESHUTDOWN as i32) {
            let st = self.state.lock();
            for w in st.sb_watches.iter() {
                w.event(NOTE_REVOKE, true);
            }
        }
    }
}

impl MarkData for VMark {
    fn handle_event(
        group: &Group<Self>,
        event: &Event<'_>,
        inode_mark: Option<&Mark<Self>>,
        sb_mark: Option<&Mark<Self>>,
    ) {
        // Only our own marks are passed; parents are never selected.
        if let Some(vm) = inode_mark {
            if let Some(inode) = vm.inode {
                // SAFETY: By the `VMark` invariant `inode` is the inode the mark was added to: a
                // mark in `inode_mark` is there for an event on that inode (or an entry of it),
                // which the caller of fsnotify holds until the handler returns.
                unsafe { vm.inode_event(inode, event.mask() & vm.mask(), event) };
            }
        }
        if let Some(sb) = sb_mark {
            sb.sb_event(group, event.mask() & (sb.mask() | sys::FS_ISDIR), event);
        }
    }
}

/// Tells every interested watch on `watches` (a mark's list, its lock held).
fn deliver(watches: &List<Watch, WATCHES>, notes: u32, eof: bool) {
    for w in watches.iter() {
        if eof || notes & w.interest.load(Ordering::Relaxed) != 0 {
            w.event(notes, eof);
        }
    }
}

/// List id of [`Watch::links`].
const WATCHES: u64 = 0;
/// List id of [`Watch::sb_links`].
const SB_WATCHES: u64 = 1;

/// One knote's watch on an inode mark.
#[pin_data]
pub(crate) struct Watch {
    /// In the inode mark's `watches` (under its lock).
    #[pin]
    links: ListLinks<WATCHES>,
    /// In the sb mark's `sb_watches` (under its lock).
    #[pin]
    sb_links: ListLinks<SB_WATCHES>,
    /// The inode mark; we are one of its users.
    mark: MarkRef<VMark>,
    /// The knote to activate. It outlives the watch's place on the lists: its filter's detach
    /// drops the [`VnodeWatch`] before the knote leaves its kqueue.
    knote: Arc<Knote>,
    /// `NOTE_*` wanted; written under the inode mark's lock (and [`MARKS`]).
    interest: AtomicU32,
    /// What the descriptor referred to; compared, never dereferenced.
    file: usize,
    inode: usize,
    /// The knote's user's charge for this watch (`max_user_vnode_watches`).
    _charge: Charge,
}

impl_list_arc_safe! {
    impl ListArcSafe<WATCHES> for Watch { untracked; }
    impl ListArcSafe<SB_WATCHES> for Watch { untracked; }
}
impl_list_item! {
    impl ListItem<WATCHES> for Watch { using ListLinks { self.links }; }
    impl ListItem<SB_WATCHES> for Watch { using ListLinks { self.sb_links }; }
}

impl Watch {
    /// `notes` happened to the watched inode (`eof`: it was revoked). Under a mark's spinlock.
    ///
    /// The knote is an `EVFILT_VNODE` knote, or an `EVFILT_READ` knote on a regular file, which
    /// watches the file's growth this way (`watch_growth`): for it the event is only a wake-up.
    fn event(&self, notes: u32, eof: bool) {
        let kn = self.knote.as_arc_borrow();
        if kn.filter != EVFILT_VNODE {
            kn.kq().activate(kn, |st| st.triggered = true);
            return;
        }
        kn.kq().activate(kn, |st| {
            let mut got = notes & st.sfflags;
            if got & COPOSTED != 0 {
                got |= notes & COPOSTED;
            }
            if let Some(v) = st.fstate.vnode_mut() {
                v.fired |= got;
                if eof {
                    v.eof = true;
                }
            }
        });
    }
}

/// Listens to the frequent events only while a watch wants them. [`MARKS`] held.
fn update_mask(vm: &Mark<VMark>) {
    let mask = vm.state.lock().mask();
    vm.modify_mask(mask, INODE_OPT & !mask);
}

/// Adds a user to `mark`, found by `fsnotify_find_mark()`.
fn add_user(g: &mut GlobalGuard<MARKS>, mark: &MarkRef<VMark>) {
    let u = mark.users.as_mut(g);
    u.users = u.users.saturating_add(1);
}

/// Drops a user of `vm`; the last one destroys it (the users' references free it).
fn put_user(g: &mut GlobalGuard<MARKS>, vm: &Mark<VMark>) {
    let u = vm.users.as_mut(g);
    u.users = u.users.saturating_sub(1);
    if u.users != 0 {
        return;
    }
    let dir = core::mem::take(&mut u.ndirs) != 0;
    let sb = u.sb.take();
    // Nothing if fsnotify detached it already.
    vm.destroy();
    if let Some(sb) = sb {
        if dir {
            put_dir(g, &sb);
        }
        put_user(g, &sb);
    }
}

/// A directory on the filesystem of `sb` is watched from now on.
fn get_dir(g: &mut GlobalGuard<MARKS>, sb: &Mark<VMark>) {
    let u = sb.users.as_mut(g);
    if u.ndirs == 0 {
        sb.modify_mask(SB_DIRS, 0);
    }
    u.ndirs = u.ndirs.saturating_add(1);
}

/// An inode mark of a directory goes: `sb` may stop listening to `FS_DELETE`.
fn put_dir(g: &mut GlobalGuard<MARKS>, sb: &Mark<VMark>) {
    let u = sb.users.as_mut(g);
    u.ndirs = u.ndirs.saturating_sub(1);
    if u.ndirs == 0 {
        sb.modify_mask(0, SB_DIRS);
    }
}

/// Our mark on the superblock `s`, with one more user.
///
/// # Safety
///
/// `s` is a live superblock.
unsafe fn get_sb(
    g: &mut GlobalGuard<MARKS>,
    group: &Group<VMark>,
    s: *mut bindings::super_block,
) -> Result<MarkRef<VMark>> {
    // SAFETY: The caller guarantees `s`.
    if let Some(sb) = unsafe { group.find_mark(s.cast(), Object::Sb) } {
        add_user(g, &sb);
        return Ok(sb);
    }
    let sb = group.new_mark(SB_BASE, VMark::new_sb(), GFP_KERNEL_ACCOUNT)?;
    // SAFETY: The caller guarantees `s`.
    let sb = unsafe { sb.add(s.cast(), Object::Sb) }?;
    sb.users.as_mut(g).users = 1;
    Ok(sb)
}

/// Our mark on `inode`, with one more user.
///
/// # Safety
///
/// `inode` is a live inode.
unsafe fn get_inode(
    g: &mut GlobalGuard<MARKS>,
    group: &Group<VMark>,
    inode: NonNull<bindings::inode>,
) -> Result<MarkRef<VMark>> {
    let raw = inode.as_ptr();
    // SAFETY: The caller guarantees `inode`.
    if let Some(vm) = unsafe { group.find_mark(raw.cast(), Object::Inode) } {
        add_user(g, &vm);
        return Ok(vm);
    }
    // SAFETY: The caller guarantees `inode`, hence its superblock.
    let sb = unsafe { get_sb(g, group, (*raw).i_sb) }?;
    // SAFETY: The caller guarantees `inode`.
    let vm = match group.new_mark(
        INODE_BASE,
        unsafe { VMark::new_inode(inode) },
        GFP_KERNEL_ACCOUNT,
    ) {
        Ok(vm) => vm,
        Err(e) => {
            put_user(g, &sb);
            return Err(e);
        }
    };
    // Before the inode mark, so that no rmdir is missed.
    let dir = vm.users.as_ref(g).ndirs != 0;
    if dir {
        get_dir(g, &sb);
    }
    // SAFETY: The caller guarantees `inode`.
    match unsafe { vm.add(raw.cast(), Object::Inode) } {
        Ok(vm) => {
            let u = vm.users.as_mut(g);
            u.users = 1;
            u.sb = Some(sb);
            Ok(vm)
        }
        Err(e) => {
            if dir {
                put_dir(g, &sb);
            }
            put_user(g, &sb);
            Err(e)
        }
    }
}

/// Whether `file` is of a kind `EVFILT_VNODE` watches: anything on a mountable filesystem
/// (regular files, directories, FIFOs, device nodes, symlinks and sockets opened with
/// `O_PATH`). Not: pipes, sockets, anonymous inodes (the internal pseudo filesystems,
/// `SB_NOUSER`).
///
/// # Safety
///
/// The caller holds a reference to `file`.
unsafe fn watchable(file: *mut bindings::file) -> bool {
    // SAFETY: The file holds its inode, and the inode its superblock.
    unsafe { (*(*file_inode(file)).i_sb).s_flags & SB_NOUSER == 0 }
}

/// A reference to the file descriptor `fd` of the current task refers to, `O_PATH` included.
fn fget_raw(fd: u32) -> Option<ARef<File>> {
    // SAFETY: Any descriptor number may be looked up.
    let file = NonNull::new(unsafe { bindings::fget_raw(fd) })?;
    // SAFETY: `fget_raw` gave us a reference; `File` is a transparent `struct file`.
    Some(unsafe { ARef::from_raw(file.cast::<File>()) })
}

/// A knote's watch on an inode: dropping it ends the watch (process context, without the
/// kqueue's ready lock). When the drop returns, no event reaches the knote through it.
///
/// # Invariants
///
/// The watch is on its inode mark's `watches` and its sb mark's `sb_watches` until `drop`.
pub(crate) struct VnodeWatch(Arc<Watch>);

impl VnodeWatch {
    /// Watches `file` for `interest` on behalf of `kn`.
    ///
    /// # Safety
    ///
    /// The caller holds a reference to `file` for the duration of the call.
    unsafe fn new(file: *mut bindings::file, kn: &Arc<Knote>, interest: u32) -> Result<Self> {
        // SAFETY: The caller holds a reference to `file`.
        if !unsafe { watchable(file) } {
            return Err(EINVAL);
        }
        // SAFETY: As above; the file holds its inode.
        let inode = NonNull::new(unsafe { file_inode(file) }).ok_or(EINVAL)?;
        // Charged to the knote's user: the task registering it.
        let charge = kn.charge_another(Resource::VnodeWatch)?;
        let slot = UniqueArc::<Watch>::new_uninit(GFP_KERNEL_ACCOUNT)?;
        let mut g = MARKS.lock();
        let group = g.as_ref().ok_or(ENODEV)?.clone();
        // SAFETY: The file holds the inode.
        let vm = unsafe { get_inode(&mut g, &group, inode) }?;
        let Ok(watch) = slot.write_pin_init(pin_init!(Watch {
            links <- ListLinks::new(),
            sb_links <- ListLinks::new(),
            mark: vm,
            knote: kn.clone(),
            interest: AtomicU32::new(interest),
            file: file as usize,
            inode: inode.as_ptr() as usize,
            _charge: charge,
        }));
        let (on_inode, on_sb) =
            ListArc::<Watch, WATCHES>::pair_from_pin_unique::<SB_WATCHES>(watch);
        let w = on_inode.clone_arc();
        if let Some(sb) = &w.mark.users.as_ref(&g).sb {
            sb.state.lock().sb_watches.push_back(on_sb);
        }
        {
            let mut st = w.mark.state.lock();
            st.count(interest, true);
            st.watches.push_back(on_inode);
        }
        update_mask(&w.mark);
        drop(g);
        // INVARIANT: The watch is on both lists.
        Ok(Self(w))
    }

    /// Attaches a watch to the file of descriptor `fd` of the current task.
    fn attach(fd: u32, kn: &Arc<Knote>, interest: u32) -> Result<Self> {
        let file = fget_raw(fd).ok_or(EBADF)?;
        let f = file.as_ptr();
        // SAFETY: We hold a reference to the file.
        if !unsafe { watchable(f) } {
            return Err(EINVAL);
        }
        // As inotify: only a reader of the object may watch it. A descriptor does not prove
        // that (O_PATH needs no access to the object itself), and watching reveals when others
        // use it (a terminal's keystrokes). security_path_notify() is not exported: LSMs are
        // not asked.
        // SAFETY: We hold a reference to the file, which holds its mount and inode.
        kernel::error::to_result(unsafe {
            bindings::inode_permission(
                sys::file_mnt_idmap(f),
                file_inode(f),
                bindings::MAY_READ as i32,
            )
        })?;
        // SAFETY: We hold a reference to the file until after the call.
        unsafe { Self::new(f, kn, interest) }
    }

    /// Changes the notes the watch wants.
    fn set_interest(w: &Watch, interest: u32) {
        let _g = MARKS.lock();
        {
            let mut st = w.mark.state.lock();
            st.count(w.interest.load(Ordering::Relaxed), false);
            st.count(interest, true);
            w.interest.store(interest, Ordering::Relaxed);
        }
        update_mask(&w.mark);
    }

    /// What the watch's descriptor referred to, to compare with what it refers to now.
    fn target(&self) -> (usize, usize) {
        (self.0.file, self.0.inode)
    }
}

impl Drop for VnodeWatch {
    fn drop(&mut self) {
        let w = &*self.0;
        let mut g = MARKS.lock();
        // After this no handler passes the knote to `activate`.
        let on_inode = {
            let mut st = w.mark.state.lock();
            st.count(w.interest.load(Ordering::Relaxed), false);
            // SAFETY: A watch is only ever on its own inode mark's list (type invariant).
            unsafe { st.watches.remove(w) }
        };
        let on_sb = w.mark.users.as_ref(&g).sb.as_ref().and_then(|sb| {
            // SAFETY: A watch is only ever on the list of its inode mark's sb mark.
            unsafe { sb.state.lock().sb_watches.remove(w) }
        });
        if w.mark.users.as_ref(&g).users > 1 {
            update_mask(&w.mark);
        }
        put_user(&mut g, &w.mark);
        drop(g);
        // The list references and then ours (`self.0`) go here: the last one drops the
        // watch's reference to the mark and to the knote.
        drop((on_inode, on_sb));
    }
}

/// Whether descriptor `fd` of the current task still refers to the file `target` describes.
fn fd_is(target: (usize, usize), fd: u32) -> bool {
    let Some(file) = fget_raw(fd) else {
        return false;
    };
    let f = file.as_ptr();
    // SAFETY: We hold a reference to the file.
    f as usize == target.0 && unsafe { file_inode(f) } as usize == target.1
}

/// `EVFILT_VNODE` state of a knote (protected by the kqueue's ready lock).
#[derive(Default)]
pub(crate) struct VnodeState {
    /// The watch, while attached. Taken out under the ready lock and dropped after it.
    watch: Option<VnodeWatch>,
    /// Notes fired (and asked for) since the last report.
    fired: u32,
    /// `NOTE_REVOKE` happened: `EV_EOF` from now on.
    eof: bool,
}

/// The vnode filter.
pub(crate) struct VnodeFilter;

pub(crate) static VNODE: VnodeFilter = VnodeFilter;

/// Watches the regular file `file` for writes on behalf of the `EVFILT_READ` knote `kn`, so
/// that the knote is woken when the file grows (regular files have no wait queue to hook).
/// `None` if the file's filesystem cannot be watched (it then has no growth wake-up); `ENOMEM`
/// if the user is at `max_user_vnode_watches` (or out of memory), which fails the
/// registration.
///
/// # Safety
///
/// The caller holds a reference to `file` for the duration of the call, and drops the watch
/// (`unwatch_growth`) before the knote leaves its kqueue.
pub(crate) unsafe fn watch_growth(
    file: *mut bindings::file,
    kn: &Arc<Knote>,
) -> Result<Option<VnodeWatch>> {
    // SAFETY: Per the function's contract.
    match unsafe { VnodeWatch::new(file, kn, NOTE_WRITE | NOTE_EXTEND) } {
        Ok(w) => Ok(Some(w)),
        Err(e) if e == ENOMEM => Err(e),
        Err(_) => Ok(None),
    }
}

/// Ends a `watch_growth` watch (drops it: outside the ready lock). When it returns, no event
/// reaches the knote through it.
pub(crate) fn unwatch_growth(w: VnodeWatch) {
    drop(w);
}

impl Filter for VnodeFilter {
    fn new_state(&self) -> FilterState {
        FilterState::Vnode(VnodeState::default())
    }

    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        if kev.fflags & !NOTE_VNODE_ALL != 0 {
            return Err(EINVAL);
        }
        let fd = fd_of(kev.ident)?;
        // The knote is about to be registered; `detach` drops the watch before it leaves the
        // kqueue.
        let w = VnodeWatch::attach(fd, kn, kev.fflags)?;
        let old = {
            let mut rd = kn.kq().ready_lock().lock();
            match kn.state.access_mut(&mut rd).fstate.vnode_mut() {
                Some(v) => v.watch.replace(w),
                None => Some(w),
            }
        };
        // None: a knote is attached once (and has its state from the start). Dropped outside
        // the ready lock all the same.
        drop(old);
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
            st.fstate
                .vnode()
                .and_then(|v| v.watch.as_ref())
                .map(|w| w.0.clone())
        };
        if let Some(w) = watch {
            // The watch stays attached: detaching needs the kqueue mutex, which our caller
            // holds.
            VnodeWatch::set_interest(&w, kev.fflags);
        }
        Ok(())
    }

    fn detach(&self, kn: &Knote) {
        let watch = {
            let mut rd = kn.kq().ready_lock().lock();
            kn.state
                .access_mut(&mut rd)
                .fstate
                .vnode_mut()
                .and_then(|v| v.watch.take())
        };
        // Ends the watch, outside the ready lock.
        drop(watch);
    }

    fn active(&self, st: &KnoteState) -> bool {
        st.fstate.vnode().is_some_and(|v| v.fired != 0 || v.eof)
    }

    fn report(&self, st: &KnoteState, ev: &mut KEvent) {
        let Some(v) = st.fstate.vnode() else {
            return;
        };
        ev.fflags = v.fired;
        if v.eof {
            ev.flags |= EV_EOF;
        }
    }

    fn consume(&self, st: &mut KnoteState, _ev: &KEvent) {
        if st.flags & EV_CLEAR != 0 {
            if let Some(v) = st.fstate.vnode_mut() {
                v.fired = 0;
            }
        }
    }

    fn requeue_after_report(&self, st: &KnoteState) -> bool {
        // Level-triggered: the fired notes stay until the knote goes. EV_CLEAR: only after a
        // new event.
        st.flags & EV_CLEAR == 0 && self.active(st)
    }

    fn is_stale(&self, kn: &Knote) -> bool {
        let target = {
            let mut rd = kn.kq().ready_lock().lock();
            kn.state
                .access_mut(&mut rd)
                .fstate
                .vnode()
                .and_then(|v| v.watch.as_ref())
                .map(VnodeWatch::target)
        };
        let Some(target) = target else {
            return false;
        };
        let Ok(fd) = fd_of(kn.ident) else {
            return true;
        };
        !fd_is(target, fd)
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

    fn fired(st: &mut KnoteState, notes: u32) {
        if let Some(v) = st.fstate.vnode_mut() {
            v.fired = notes;
        }
    }

    #[test]
    fn mark_mask_follows_watch_counts() {
        let mut st = MarkState::new(0, 1);
        assert_eq!(st.mask(), INODE_BASE);
        st.count(NOTE_WRITE | NOTE_DELETE, true);
        assert_eq!(st.mask(), INODE_BASE);
        st.count(NOTE_OPEN | NOTE_READ, true);
        st.count(NOTE_OPEN | NOTE_CLOSE_WRITE, true);
        assert_eq!(
            st.mask(),
            INODE_BASE | sys::FS_OPEN | sys::FS_ACCESS | sys::FS_CLOSE_WRITE
        );
        // Two watches want FS_OPEN: it stays until both are gone.
        st.count(NOTE_OPEN | NOTE_READ, false);
        assert_eq!(st.mask(), INODE_BASE | sys::FS_OPEN | sys::FS_CLOSE_WRITE);
        // A change of interest: out with the old, in with the new.
        st.count(NOTE_OPEN | NOTE_CLOSE_WRITE, false);
        st.count(NOTE_ATTRIB | NOTE_CLOSE, true);
        assert_eq!(
            st.mask(),
            INODE_BASE | sys::FS_ACCESS | sys::FS_CLOSE_NOWRITE
        );
        st.count(NOTE_ATTRIB | NOTE_CLOSE, false);
        st.count(NOTE_WRITE | NOTE_DELETE, false);
        assert_eq!(st.mask(), INODE_BASE);
        // Never below zero.
        st.count(NOTE_OPEN, false);
        assert_eq!(st.wanting, [0; OPTIONAL.len()]);
        assert_eq!(OPTIONAL.iter().fold(0, |m, &(e, _)| m | e), INODE_OPT);
    }

    #[test]
    fn clear_resets_fired_notes() {
        let mut st = KnoteState {
            flags: EV_CLEAR,
            fstate: VNODE.new_state(),
            ..Default::default()
        };
        assert!(!VNODE.active(&st));
        fired(&mut st, NOTE_WRITE | NOTE_EXTEND);
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
        let mut st = KnoteState {
            fstate: VNODE.new_state(),
            ..Default::default()
        };
        fired(&mut st, NOTE_ATTRIB);
        let mut ev = KEvent::default();
        VNODE.report(&st, &mut ev);
        VNODE.consume(&mut st, &ev);
        assert!(VNODE.requeue_after_report(&st));
        assert_eq!(st.fstate.vnode().map(|v| v.fired), Some(NOTE_ATTRIB));

        // Revoked, with EV_CLEAR: EV_EOF on every report, but no requeue by itself.
        st.flags = EV_CLEAR;
        if let Some(v) = st.fstate.vnode_mut() {
            v.eof = true;
        }
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

/// The inode of `file` (C's `file_inode()`).
///
/// # Safety
///
/// `file` is live.
unsafe fn file_inode(file: *const bindings::file) -> *mut bindings::inode {
    // SAFETY: Per the contract; `f_inode` is set at open and never changes.
    unsafe { (*file).f_inode }
}
