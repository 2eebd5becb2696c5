// SPDX-License-Identifier: GPL-2.0

//! The knote table of a kqueue: its registered knotes by (ident, filter).
//!
//! An intrusive red-black tree, as the kernel's own users of `lib/rbtree.c` build them: each
//! knote carries its node (`Knote::table_node`), so registering a knote allocates nothing
//! beyond the knote, and removing one needs no lookup. The table owns one reference to each
//! knote in it, taken with `Arc::into_raw` by the insertion and given back by the removal.
//!
//! The table lives in the kqueue's `KqState`, so the kqueue mutex protects it, and with it the
//! `table_node` of every knote of that kqueue. A knote belongs to one kqueue, so a linked
//! `table_node` means the knote is in its own kqueue's table.

use core::cmp::Ordering;
use core::ptr;

use kernel::{
    bindings,
    sync::{Arc, ArcBorrow},
    types::Opaque,
};

use crate::knote::{Knote, KnoteKey};

/// Sets up `node` as linked into no tree (C's `RB_CLEAR_NODE`).
///
/// # Safety
///
/// `node` is valid for writes and in no tree.
pub(crate) unsafe fn clear_node(node: *mut bindings::rb_node) {
    // SAFETY: Per the contract.
    unsafe {
        (*node).__rb_parent_color = node as usize;
        (*node).rb_left = ptr::null_mut();
        (*node).rb_right = ptr::null_mut();
    }
}

/// Whether `node`, set up by [`clear_node`], is linked into a tree (C's `!RB_EMPTY_NODE`). The
/// caller holds the lock of the tree it could be in.
pub(crate) fn is_linked(node: &Opaque<bindings::rb_node>) -> bool {
    let node = node.get();
    // SAFETY: `node` points to the caller's live node.
    unsafe { (*node).__rb_parent_color != node as usize }
}

/// Links `node` into a tree as the child `link` of `parent` (C's `rb_link_node`); the caller
/// rebalances with `rb_insert_color`.
///
/// # Safety
///
/// `node` is in no tree; `link` is the empty child pointer of `parent` (or the root pointer,
/// with `parent` NULL) of a tree the caller may change.
pub(crate) unsafe fn link_node(
    node: *mut bindings::rb_node,
    parent: *mut bindings::rb_node,
    link: *mut *mut bindings::rb_node,
) {
    // SAFETY: Per the contract.
    unsafe {
        (*node).__rb_parent_color = parent as usize;
        (*node).rb_left = ptr::null_mut();
        (*node).rb_right = ptr::null_mut();
        *link = node;
    }
}

/// The leftmost node of the tree `root` whose key, as `key_of` gives it, is `key` or after it
/// (NULL if there is none).
///
/// # Safety
///
/// `root` is the root of a valid tree whose lock the caller holds, and `key_of` may be called
/// on each of its nodes.
pub(crate) unsafe fn lower_bound_by<K: Ord>(
    root: *const bindings::rb_root,
    key: &K,
    key_of: impl Fn(*mut bindings::rb_node) -> K,
) -> *mut bindings::rb_node {
    let mut best = ptr::null_mut();
    // SAFETY: Per the contract.
    let mut node = unsafe { (*root).rb_node };
    while !node.is_null() {
        if key_of(node) < *key {
            // SAFETY: `node` is a node of the tree.
            node = unsafe { (*node).rb_right };
        } else {
            best = node;
            // SAFETY: As above.
            node = unsafe { (*node).rb_left };
        }
    }
    best
}

/// The knote whose `table_node` is `node`.
///
/// # Safety
///
/// `node` is the `table_node` of a live knote.
unsafe fn knote_of(node: *mut bindings::rb_node) -> *const Knote {
    // SAFETY: Per the contract.
    unsafe { kernel::container_of!(node.cast::<Opaque<bindings::rb_node>>(), Knote, table_node) }
}

/// A kqueue's registered knotes, by key.
///
/// # Invariants
///
/// Every node of the tree is the `table_node` of a knote with a reference owned by the table
/// (`Arc::into_raw`); no two of them have the same key; `len` is their number.
pub(crate) struct KnoteTable {
    root: bindings::rb_root,
    len: usize,
}

// SAFETY: The table owns references to knotes, which are `Send + Sync`; the tree's pointers
// are to those knotes only (the root node's parent is NULL, not the root: the table may move).
unsafe impl Send for KnoteTable {}
// SAFETY: Shared references only read the tree.
unsafe impl Sync for KnoteTable {}

/// Where a lookup by key ended.
pub(crate) enum Entry<'a> {
    /// A knote with the key is in the table.
    Occupied(ArcBorrow<'a, Knote>),
    /// None is: the place where one would go.
    Vacant(VacantEntry<'a>),
}

/// The empty place of a key in a table, from [`KnoteTable::entry`].
pub(crate) struct VacantEntry<'a> {
    table: &'a mut KnoteTable,
    parent: *mut bindings::rb_node,
    link: *mut *mut bindings::rb_node,
    key: KnoteKey,
}

impl VacantEntry<'_> {
    /// Puts `kn`, which has the entry's key and is in no table, in its place.
    pub(crate) fn insert(self, kn: Arc<Knote>) {
        if kn.key() != self.key {
            // Not ours to place here: find its own place. Not reached: the callers make the
            // knote from the key, so its place is free.
            let _ = self.table.insert(kn);
            return;
        }
        let node = kn.table_node.get();
        let root: *mut bindings::rb_root = &raw mut self.table.root;
        let _ = Arc::into_raw(kn);
        // SAFETY: `link` and `parent` are where the lookup of `key` ended in this table, which
        // has not changed since (the entry borrows it mutably); the knote is in no tree.
        // INVARIANT: The table owns the reference leaked above; the key was not in it.
        unsafe {
            link_node(node, self.parent, self.link);
            bindings::rb_insert_color(node, root);
        }
        self.table.len += 1;
    }
}

impl KnoteTable {
    /// An empty table.
    pub(crate) const fn new() -> Self {
        Self {
            root: bindings::rb_root {
                rb_node: ptr::null_mut(),
            },
            len: 0,
        }
    }

    /// The number of knotes in the table.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the table is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A borrow of the knote of `node`, for as long as `self` is borrowed.
    ///
    /// # Safety
    ///
    /// `node` is a node of this table.
    unsafe fn borrow(&self, node: *mut bindings::rb_node) -> ArcBorrow<'_, Knote> {
        // SAFETY: By the type invariant the knote came from `Arc::into_raw` and the table owns
        // a reference to it, which it keeps while `self` is borrowed.
        unsafe { ArcBorrow::from_raw(knote_of(node)) }
    }

    /// The last node the lookup of `key` in the tree `root` visited and the child pointer
    /// where it stopped: the node with the key in it, or the empty place for the key. The
    /// child pointer may be written only if `root` was derived from a mutable borrow.
    ///
    /// # Safety
    ///
    /// `root` is the root of a table, borrowed for as long as the results are used.
    unsafe fn find(
        root: *mut bindings::rb_root,
        key: &KnoteKey,
    ) -> (*mut bindings::rb_node, *mut *mut bindings::rb_node) {
        let mut parent = ptr::null_mut();
        // SAFETY: Per the contract.
        let mut link = unsafe { &raw mut (*root).rb_node };
        // SAFETY: The nodes of the tree are those of knotes the table holds (type invariant).
        unsafe {
            while !(*link).is_null() {
                let node = *link;
                match key.cmp(&(*knote_of(node)).key()) {
                    Ordering::Less => link = &raw mut (*node).rb_left,
                    Ordering::Greater => link = &raw mut (*node).rb_right,
                    Ordering::Equal => return (parent, link),
                }
                parent = node;
            }
        }
        (parent, link)
    }

    /// The knote with `key`, if there is one.
    pub(crate) fn get(&self, key: &KnoteKey) -> Option<ArcBorrow<'_, Knote>> {
        // SAFETY: Our root, borrowed; `link` is only read.
        let (_, link) = unsafe { Self::find((&raw const self.root).cast_mut(), key) };
        // SAFETY: `link` points into the tree (or at its root).
        let node = unsafe { *link };
        // SAFETY: A node of this table.
        (!node.is_null()).then(|| unsafe { self.borrow(node) })
    }

    /// The knote with `key`, or its empty place, for a later insertion without a second walk.
    pub(crate) fn entry(&mut self, key: KnoteKey) -> Entry<'_> {
        // SAFETY: Our root, mutably borrowed by the entry made from the results.
        let (parent, link) = unsafe { Self::find(&raw mut self.root, &key) };
        // SAFETY: `link` points into the tree (or at its root).
        let node = unsafe { *link };
        if node.is_null() {
            Entry::Vacant(VacantEntry {
                table: self,
                parent,
                link,
                key,
            })
        } else {
            // SAFETY: A node of this table.
            Entry::Occupied(unsafe { self.borrow(node) })
        }
    }

    /// Puts `kn`, which is in no table, in this one; gives it back if its key is taken.
    pub(crate) fn insert(&mut self, kn: Arc<Knote>) -> Result<(), Arc<Knote>> {
        match self.entry(kn.key()) {
            Entry::Vacant(slot) => {
                slot.insert(kn);
                Ok(())
            }
            Entry::Occupied(_) => Err(kn),
        }
    }

    /// Takes `kn` out of the table and returns the table's reference to it, or `None` if it
    /// is not in the table. The caller holds the lock of `kn`'s kqueue, whose table this is.
    pub(crate) fn remove(&mut self, kn: &Knote) -> Option<Arc<Knote>> {
        if !is_linked(&kn.table_node) {
            return None;
        }
        let node = kn.table_node.get();
        // SAFETY: A linked knote is in its own kqueue's table (module comment), which is
        // `self`. INVARIANT: The reference the table owned is returned.
        unsafe {
            bindings::rb_erase(node, &raw mut self.root);
            clear_node(node);
            self.len -= 1;
            Some(Arc::from_raw(ptr::from_ref(kn)))
        }
    }

    /// The first knote in key order.
    pub(crate) fn first(&self) -> Option<ArcBorrow<'_, Knote>> {
        // SAFETY: The root is a valid tree.
        let node = unsafe { bindings::rb_first(&raw const self.root) };
        // SAFETY: A node of this table.
        (!node.is_null()).then(|| unsafe { self.borrow(node) })
    }

    /// The first knote whose key is `key` or after it.
    pub(crate) fn lower_bound(&self, key: &KnoteKey) -> Option<ArcBorrow<'_, Knote>> {
        // SAFETY: Our root, borrowed (the kqueue mutex is held); the nodes of the tree are
        // those of knotes the table holds (type invariant).
        let best =
            unsafe { lower_bound_by(&raw const self.root, key, |node| (*knote_of(node)).key()) };
        // SAFETY: A node of this table.
        (!best.is_null()).then(|| unsafe { self.borrow(best) })
    }

    /// The knote after `kn`, which is in this table, in key order.
    pub(crate) fn next(&self, kn: &Knote) -> Option<ArcBorrow<'_, Knote>> {
        if !is_linked(&kn.table_node) {
            return None;
        }
        let node = kn.table_node.get();
        // SAFETY: `node` is in this table (module comment), a valid tree.
        let next = unsafe { bindings::rb_next(node) };
        // SAFETY: A node of this table.
        (!next.is_null()).then(|| unsafe { self.borrow(next) })
    }

    /// The knotes in key order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = ArcBorrow<'_, Knote>> {
        core::iter::successors(self.first(), move |kn| self.next(kn))
    }

    /// Takes the first knote out of the table.
    pub(crate) fn pop_first(&mut self) -> Option<Arc<Knote>> {
        let first: *const Knote = ptr::from_ref(&*self.first()?);
        // SAFETY: The knote is in the table, which keeps it alive until `remove` returns the
        // reference.
        self.remove(unsafe { &*first })
    }
}

impl Drop for KnoteTable {
    fn drop(&mut self) {
        while self.pop_first().is_some() {}
    }
}
