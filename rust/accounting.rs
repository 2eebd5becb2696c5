// SPDX-License-Identifier: GPL-2.0

//! Per-user accounting of the module's resources.
//!
//! Every knote, live timer, process or signal watch and vnode watch is charged to the user who
//! registered it: the kernel's own uid (`kuid_t`) of the registering task's real credentials,
//! so a user namespace neither gives a fresh quota nor maps anybody onto root's. Each resource
//! has a per-user limit, a module parameter; beyond it a registration fails with `ENOMEM`, as
//! FreeBSD does for its callout limit. A charge is a [`Charge`] value, held by what it pays for;
//! dropping it gives the unit back.
//!
//! The users are kept in a short list under [`USERS`], looked up only when a charge is made in
//! process context. A charge made from atomic context (a `NOTE_TRACK` child knote, created in
//! the fork probe) copies an existing charge's user with [`Charge::another`] and needs neither
//! the list nor an allocation.

use core::sync::atomic::{AtomicU32, Ordering};

use core::ptr::NonNull;

use kernel::prelude::*;

/// A kind of resource with a per-user limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    /// Knotes of every filter (`max_user_knotes`).
    Knote = 0,
    /// Live `EVFILT_TIMER` timers (`max_user_timers`).
    Timer = 1,
    /// `EVFILT_PROC`, `EVFILT_PROCDESC` and `EVFILT_SIGNAL` watches (`max_user_proc_watches`).
    ProcWatch = 2,
    /// `EVFILT_VNODE` watches and `EVFILT_READ` watches of regular files' growth
    /// (`max_user_vnode_watches`).
    VnodeWatch = 3,
}

const RESOURCES: usize = 4;

impl Resource {
    /// The current limit (module parameters may be read at any time).
    pub(crate) fn limit(self) -> u32 {
        use crate::module_parameters as p;
        match self {
            Resource::Knote => p::max_user_knotes.value(),
            Resource::Timer => p::max_user_timers.value(),
            Resource::ProcWatch => p::max_user_proc_watches.value(),
            Resource::VnodeWatch => p::max_user_vnode_watches.value(),
        }
    }
}

/// The counts of one user.
struct User {
    /// The kernel's uid (`kuid_t.val`).
    kuid: u32,
    /// Units held, per [`Resource`]; each is at most the resource's limit when it was charged.
    used: [AtomicU32; RESOURCES],
    /// Live charges of every resource: counted before a unit is taken and given back after,
    /// so it is not zero while any charge exists (one location: `idle` cannot see a state
    /// where one resource's count fell and another's had not risen yet).
    charges: AtomicU32,
}

impl User {
    fn new(kuid: u32) -> Self {
        Self {
            kuid,
            used: [const { AtomicU32::new(0) }; RESOURCES],
            charges: AtomicU32::new(0),
        }
    }

    /// Whether nothing is charged to this user, so nothing refers to it but the list.
    fn idle(&self) -> bool {
        self.charges.load(Ordering::Acquire) == 0
    }
}

kernel::sync::global_lock! {
    // SAFETY: `init` is called in the module initializer, before any kqueue exists.
    unsafe(uninit) static USERS: Mutex<KVec<KBox<User>>> = KVec::new();
}

/// Sets up the accounting. Called once, from module init.
pub(crate) fn init() {
    // SAFETY: Called once, before the device is registered.
    unsafe { USERS.init() };
}

/// Frees the list. Called from module exit, when nothing is charged any more.
pub(crate) fn fini() {
    *USERS.lock() = KVec::new();
}

/// A user's entry, kept alive for charges to come: the current task's user, looked up once.
///
/// # Invariants
///
/// `user` points to an entry of [`USERS`] whose `charges` counts this `Charger`. An entry is
/// freed only under the `USERS` lock when its `charges` is zero (or at module exit, when no
/// charge or charger exists), so it outlives every charge and charger of it.
pub(crate) struct Charger {
    user: NonNull<User>,
}

// SAFETY: The entry is only used through atomics, from any thread (see the invariant).
unsafe impl Send for Charger {}
// SAFETY: As above.
unsafe impl Sync for Charger {}

impl Charger {
    /// The current task's user (the kernel's uid of its real credentials): finds or creates
    /// its entry. Process context.
    pub(crate) fn current() -> Result<Self> {
        let kuid = kernel::current!().uid().into_raw().val;
        let mut users = USERS.lock();
        let user = match users.iter().find(|u| u.kuid == kuid) {
            Some(u) => NonNull::from(&**u),
            None => {
                // Entries with nothing charged are freed here rather than on every uncharge,
                // which may run in atomic context. The lock is held until the new charger is
                // counted, so an entry found above cannot be freed before it is counted.
                users.retain(|u| !u.idle());
                let u = KBox::new(User::new(kuid), GFP_KERNEL)?;
                let ptr = NonNull::from(&*u);
                users.push(u, GFP_KERNEL)?;
                ptr
            }
        };
        // SAFETY: `user` is in the list, which we lock: not freed.
        unsafe { user.as_ref() }
            .charges
            .fetch_add(1, Ordering::Relaxed);
        drop(users);
        // INVARIANT: Counted just above, under the lock.
        Ok(Self { user })
    }

    /// One unit of `res` for this user, or `ENOMEM` beyond the limit. Any context.
    pub(crate) fn charge(&self, res: Resource) -> Result<Charge> {
        // SAFETY: The charger keeps the entry alive (type invariant).
        unsafe { Charge::take(self.user, res, res.limit()) }
    }
}

impl Drop for Charger {
    fn drop(&mut self) {
        // SAFETY: Alive until this decrement (type invariant); not used after it.
        unsafe { self.user.as_ref() }
            .charges
            .fetch_sub(1, Ordering::Release);
    }
}

/// One unit of a [`Resource`] charged to a user; dropping it gives the unit back.
///
/// # Invariants
///
/// `user` points to an entry of [`USERS`] whose `used[res]` and `charges` count this charge,
/// which keeps the entry alive (see [`Charger`]).
// Packed to 4 bytes: the resource then fills the rest of a knote's word of small fields, which
// keeps a knote in kmalloc-256. The fields are only ever copied out, never borrowed.
#[repr(C, packed(4))]
pub(crate) struct Charge {
    user: NonNull<User>,
    res: Resource,
}

// SAFETY: The entry is only used through atomics, from any thread (see the invariant).
unsafe impl Send for Charge {}
// SAFETY: As above.
unsafe impl Sync for Charge {}

impl Charge {
    /// Charges one unit of `res` to the current task's user, or fails with `ENOMEM` beyond the
    /// limit (or when the user's entry cannot be allocated). Process context.
    #[cfg_attr(not(CONFIG_KUNIT), expect(dead_code, reason = "callers use a Charger"))]
    pub(crate) fn current(res: Resource) -> Result<Self> {
        Charger::current()?.charge(res)
    }

    /// One more unit of `res` for the user of `self`, or `ENOMEM` beyond the limit. Never
    /// allocates nor sleeps: any context.
    pub(crate) fn another(&self, res: Resource) -> Result<Self> {
        // SAFETY: `self` keeps the entry alive (type invariant).
        unsafe { Self::take(self.user, res, res.limit()) }
    }

    /// # Safety
    ///
    /// `user` is an entry that something (a charge or a charger) keeps alive for the call.
    unsafe fn take(user: NonNull<User>, res: Resource, limit: u32) -> Result<Self> {
        // SAFETY: Per the contract.
        let u = unsafe { user.as_ref() };
        u.charges.fetch_add(1, Ordering::Relaxed);
        let taken = u.used[res as usize].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            if n < limit {
                Some(n + 1)
            } else {
                None
            }
        });
        if taken.is_err() {
            u.charges.fetch_sub(1, Ordering::Release);
            return Err(ENOMEM);
        }
        // INVARIANT: Counted just above; the new count keeps the entry alive from now on.
        Ok(Self { user, res })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        let (user, res) = (self.user, self.res);
        // SAFETY: Alive until the last decrement below (type invariant); not used after it.
        let u = unsafe { user.as_ref() };
        // By the type invariant the counts include this charge, so they do not wrap.
        u.used[res as usize].fetch_sub(1, Ordering::Relaxed);
        u.charges.fetch_sub(1, Ordering::Release);
    }
}

#[kernel::macros::kunit_tests(kqueue_accounting)]
mod tests {
    use super::*;

    fn used(c: &Charger, res: Resource) -> u32 {
        // SAFETY: The charger keeps the entry alive.
        unsafe { c.user.as_ref() }.used[res as usize].load(Ordering::Relaxed)
    }

    fn take(c: &Charger, res: Resource, limit: u32) -> Result<Charge> {
        // SAFETY: The charger keeps the entry alive.
        unsafe { Charge::take(c.user, res, limit) }
    }

    #[test]
    fn limit_and_release() -> Result {
        let c = Charger::current()?;
        let base = used(&c, Resource::Timer);
        let mut held = KVec::new();
        for _ in 0..3 {
            held.push(take(&c, Resource::Timer, base + 3)?, GFP_KERNEL)?;
        }
        assert_eq!(used(&c, Resource::Timer), base + 3);
        assert!(take(&c, Resource::Timer, base + 3).is_err());
        // Other resources of the same user are counted apart.
        let kbase = used(&c, Resource::Knote);
        let k = take(&c, Resource::Knote, kbase + 1)?;
        assert!(take(&c, Resource::Knote, kbase + 1).is_err());
        held.pop();
        assert_eq!(used(&c, Resource::Timer), base + 2);
        held.push(take(&c, Resource::Timer, base + 3)?, GFP_KERNEL)?;
        drop(held);
        drop(k);
        assert_eq!(used(&c, Resource::Timer), base);
        assert_eq!(used(&c, Resource::Knote), kbase);
        Ok(())
    }

    #[test]
    fn limit_zero_refuses() -> Result {
        let c = Charger::current()?;
        let before = used(&c, Resource::VnodeWatch);
        assert!(take(&c, Resource::VnodeWatch, 0).is_err());
        assert_eq!(used(&c, Resource::VnodeWatch), before);
        Ok(())
    }

    #[test]
    fn another_is_the_same_user() -> Result {
        let a = Charge::current(Resource::Timer)?;
        let b = Charge::current(Resource::Knote)?;
        let (au, bu) = (a.user, b.user);
        assert_eq!(au, bu);
        let c = a.another(Resource::ProcWatch)?;
        let cu = c.user;
        assert_eq!(au, cu);
        // SAFETY: `c` keeps the entry alive.
        let entry = unsafe { cu.as_ref() };
        assert!(entry.used[Resource::ProcWatch as usize].load(Ordering::Relaxed) >= 1);
        Ok(())
    }

    #[test]
    fn charger_keeps_its_entry() -> Result {
        let c = Charger::current()?;
        // SAFETY: The charger keeps the entry alive.
        assert!(!unsafe { c.user.as_ref() }.idle());
        Ok(())
    }
}
