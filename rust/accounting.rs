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

use kernel::{prelude::*, sync::Arc};

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
    fn limit(self) -> u32 {
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
    unsafe(uninit) static USERS: Mutex<KVec<Arc<User>>> = KVec::new();
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

/// One unit of a [`Resource`] charged to a user; dropping it gives the unit back.
///
/// # Invariants
///
/// `user.used[res]` counts this charge.
pub(crate) struct Charge {
    user: Arc<User>,
    res: Resource,
}

impl Charge {
    /// Charges one unit of `res` to the current task's user, or fails with `ENOMEM` beyond the
    /// limit (or when the user's entry cannot be allocated). Process context.
    pub(crate) fn current(res: Resource) -> Result<Self> {
        let kuid = kernel::current!().uid().into_raw().val;
        let mut users = USERS.lock();
        let user = match users.iter().find(|u| u.kuid == kuid) {
            Some(u) => u.clone(),
            None => {
                // Users with nothing charged are dropped here rather than on every uncharge,
                // which may run in atomic context. The lock is held until the new charge is
                // counted, so an entry found above cannot be dropped before it is used.
                users.retain(|u| !u.idle());
                let u = Arc::new(User::new(kuid), GFP_KERNEL)?;
                users.push(u.clone(), GFP_KERNEL)?;
                u
            }
        };
        let charge = Self::take(user, res);
        drop(users);
        charge
    }

    /// One more unit of `res` for the user of `self`, or `ENOMEM` beyond the limit. Never
    /// allocates nor sleeps: any context.
    pub(crate) fn another(&self, res: Resource) -> Result<Self> {
        Self::take(self.user.clone(), res)
    }

    fn take(user: Arc<User>, res: Resource) -> Result<Self> {
        Self::take_within(user, res, res.limit())
    }

    fn take_within(user: Arc<User>, res: Resource, limit: u32) -> Result<Self> {
        user.charges.fetch_add(1, Ordering::Relaxed);
        let taken =
            user.used[res as usize].fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                if n < limit {
                    Some(n + 1)
                } else {
                    None
                }
            });
        if taken.is_err() {
            user.charges.fetch_sub(1, Ordering::Release);
            return Err(ENOMEM);
        }
        // INVARIANT: Counted just above.
        Ok(Self { user, res })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        // By the type invariant the counts include this charge, so they do not wrap.
        self.user.used[self.res as usize].fetch_sub(1, Ordering::Relaxed);
        self.user.charges.fetch_sub(1, Ordering::Release);
    }
}

#[kernel::macros::kunit_tests(kqueue_accounting)]
mod tests {
    use super::*;

    fn user(kuid: u32) -> Result<Arc<User>> {
        Ok(Arc::new(User::new(kuid), GFP_KERNEL)?)
    }

    fn used(u: &User, res: Resource) -> u32 {
        u.used[res as usize].load(Ordering::Relaxed)
    }

    #[test]
    fn limit_and_release() -> Result {
        let u = user(4242)?;
        let mut held = KVec::new();
        for _ in 0..3 {
            held.push(
                Charge::take_within(u.clone(), Resource::Timer, 3)?,
                GFP_KERNEL,
            )?;
        }
        assert_eq!(used(&u, Resource::Timer), 3);
        assert!(Charge::take_within(u.clone(), Resource::Timer, 3).is_err());
        // Other resources of the same user are counted apart.
        let k = Charge::take_within(u.clone(), Resource::Knote, 1)?;
        assert!(Charge::take_within(u.clone(), Resource::Knote, 1).is_err());
        assert!(!u.idle());
        held.pop();
        assert_eq!(used(&u, Resource::Timer), 2);
        held.push(
            Charge::take_within(u.clone(), Resource::Timer, 3)?,
            GFP_KERNEL,
        )?;
        drop(held);
        drop(k);
        assert!(u.idle());
        Ok(())
    }

    #[test]
    fn limit_zero_refuses() -> Result {
        let u = user(4243)?;
        assert!(Charge::take_within(u.clone(), Resource::VnodeWatch, 0).is_err());
        assert!(u.idle());
        Ok(())
    }

    #[test]
    fn another_is_the_same_user() -> Result {
        let a = Charge::current(Resource::Timer)?;
        let b = Charge::current(Resource::Knote)?;
        assert!(Arc::ptr_eq(&a.user, &b.user));
        let c = a.another(Resource::ProcWatch)?;
        assert!(Arc::ptr_eq(&a.user, &c.user));
        assert!(used(&c.user, Resource::ProcWatch) >= 1);
        Ok(())
    }
}
