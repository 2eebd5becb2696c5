// SPDX-License-Identifier: GPL-2.0

//! `EVFILT_TIMER` on hrtimers.
//!
//! `data` is the period (or, with `NOTE_ABSTIME`, a `CLOCK_REALTIME` deadline) in the unit named
//! by `fflags` (milliseconds by default). Relative timers run on `CLOCK_MONOTONIC` and are
//! periodic unless the knote is `EV_ONESHOT`. The callback runs in hard interrupt context: it
//! forwards the timer, adds the expirations (overruns included) to the knote's count and queues
//! the knote; nothing else. Reporting subtracts what was reported.
//!
//! Live timers are limited per user (`max_user_timers`), as FreeBSD limits callouts: creating a
//! timer beyond the limit is `ENOMEM`.
//!
//! The hrtimer lives in a small allocation of its own ([`KnoteTimer`]), owned by the knote's
//! timer state, so that knotes of other filters do not carry one.

use kernel::{bindings, prelude::*, sync::Arc, sync::ArcBorrow, types::Opaque};

use crate::accounting::{Charge, Resource};

use crate::filter::{Filter, FilterState};
use crate::knote::{Knote, KnoteState};
use crate::uapi::*;

/// Periodic timers fire at most this often (100 µs), which bounds the interrupt load one
/// unprivileged timer can cause.
pub(crate) const MIN_PERIOD_NS: i64 = 100_000;

const UNITS: u32 = NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS;
/// Every `fflags` bit a timer registration may carry.
const FFLAGS: u32 = UNITS | NOTE_ABSTIME;

/// The `EVFILT_TIMER` filter.
pub(crate) struct TimerFilter;

/// Timer part of a knote's state.
pub(crate) struct TimerState {
    /// Period in nanoseconds; 0 for a one-shot timer.
    period_ns: i64,
    /// The user's charge for this timer.
    _charge: Charge,
    /// The hrtimer. Dropped (which cancels it) outside the ready lock, by `detach`.
    timer: Pin<KBox<KnoteTimer>>,
}

/// A knote's hrtimer.
///
/// # Invariants
///
/// `knote` points to the knote whose timer state owns this timer; the knote outlives it (its
/// `detach` drops the timer before the knote can go away). `timer` is set up
/// (`hrtimer_setup`), and its callback is `timer_fn`.
#[pin_data(PinnedDrop)]
pub(crate) struct KnoteTimer {
    #[pin]
    timer: Opaque<bindings::hrtimer>,
    knote: *const Knote,
}

// SAFETY: The hrtimer may be started and cancelled from any thread; `knote` points to a `Sync`
// knote.
unsafe impl Send for KnoteTimer {}
// SAFETY: As above; shared references only hand out the hrtimer's address.
unsafe impl Sync for KnoteTimer {}

impl KnoteTimer {
    /// A timer for `kn` on `clock`, set up and not started.
    fn new(kn: &Knote, clock: u32, mode: bindings::hrtimer_mode) -> Result<Pin<KBox<Self>>> {
        KBox::pin_init(
            pin_init!(Self {
                // SAFETY: `p` is the uninitialised hrtimer; `timer_fn` matches its callback
                // type and is only called while the timer is alive.
                timer <- Opaque::ffi_init(|p| unsafe {
                    bindings::hrtimer_setup(p, Some(timer_fn), clock as i32, mode)
                }),
                // INVARIANT: The caller stores the timer in `kn`'s state.
                knote: kn,
            }),
            GFP_KERNEL_ACCOUNT,
        )
    }

    fn raw(&self) -> *mut bindings::hrtimer {
        self.timer.get()
    }
}

#[pinned_drop]
impl PinnedDrop for KnoteTimer {
    fn drop(self: Pin<&mut Self>) {
        // After this no callback runs, so the memory may go.
        // SAFETY: The timer is set up (type invariant).
        unsafe { bindings::hrtimer_cancel(self.timer.get()) };
    }
}

/// A validated timer registration.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TimerSpec {
    /// First expiry: relative nanoseconds, or absolute `CLOCK_REALTIME` nanoseconds.
    pub(crate) first_ns: i64,
    /// Period in nanoseconds, 0 for a one-shot timer.
    pub(crate) period_ns: i64,
    /// `NOTE_ABSTIME`.
    pub(crate) absolute: bool,
}

/// Converts `data` in the unit of `fflags` to nanoseconds, saturating.
pub(crate) fn to_ns(fflags: u32, data: i64) -> Result<i64> {
    if data < 0 {
        return Err(EINVAL);
    }
    let mult: i64 = match fflags & UNITS {
        0 | NOTE_MSECONDS => 1_000_000,
        NOTE_SECONDS => 1_000_000_000,
        NOTE_USECONDS => 1_000,
        NOTE_NSECONDS => 1,
        // More than one unit.
        _ => return Err(EINVAL),
    };
    Ok(data.saturating_mul(mult))
}

/// Validates a registration.
pub(crate) fn parse(fflags: u32, data: i64, oneshot: bool) -> Result<TimerSpec> {
    if fflags & !FFLAGS != 0 {
        return Err(EINVAL);
    }
    let ns = to_ns(fflags, data)?;
    if fflags & NOTE_ABSTIME != 0 {
        return Ok(TimerSpec {
            first_ns: ns,
            period_ns: 0,
            absolute: true,
        });
    }
    if oneshot {
        return Ok(TimerSpec {
            first_ns: ns,
            period_ns: 0,
            absolute: false,
        });
    }
    let period = ns.max(MIN_PERIOD_NS);
    Ok(TimerSpec {
        first_ns: period,
        period_ns: period,
        absolute: false,
    })
}

/// The hrtimer callback. Hard interrupt context.
///
/// # Safety
///
/// `timer` must be the `timer` field of a live `KnoteTimer`.
unsafe extern "C" fn timer_fn(timer: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
    // SAFETY: Per the contract, `timer` is inside a live `KnoteTimer`.
    let kt =
        unsafe { &*kernel::container_of!(Opaque::cast_from(timer).cast_mut(), KnoteTimer, timer) };
    // SAFETY: By the `KnoteTimer` invariant the knote outlives its timer, which is running, and
    // the knote was allocated by `Arc` (registered knotes are).
    let kn = unsafe { ArcBorrow::from_raw(kt.knote) };
    let mut restart = bindings::hrtimer_restart::HRTIMER_NORESTART;
    kn.kq().activate(kn, |st| {
        // Only the knote's current timer counts. A timer that `modify` replaced (or `detach`
        // took out) may still run once while its owner cancels it: it must neither add
        // expirations nor restart, whatever the new timer's period or clock.
        let period = match &st.fstate {
            FilterState::Timer(t) if core::ptr::eq(t.timer.raw(), timer) => t.period_ns,
            _ => return,
        };
        let expired = if period > 0 {
            restart = bindings::hrtimer_restart::HRTIMER_RESTART;
            // SAFETY: We are in this timer's callback; the timer is on CLOCK_MONOTONIC.
            unsafe { bindings::hrtimer_forward(timer, bindings::ktime_get(), period) }
        } else {
            1
        };
        st.data = st
            .data
            .saturating_add(i64::try_from(expired).unwrap_or(i64::MAX));
    });
    restart
}

/// The clock and mode of a timer for `spec`.
fn clock_mode(spec: &TimerSpec) -> (u32, bindings::hrtimer_mode) {
    if spec.absolute {
        (
            bindings::CLOCK_REALTIME,
            bindings::hrtimer_mode_HRTIMER_MODE_ABS,
        )
    } else {
        (
            bindings::CLOCK_MONOTONIC,
            bindings::hrtimer_mode_HRTIMER_MODE_REL,
        )
    }
}

/// Starts the hrtimer `t` (set up for `spec`'s clock, and not queued) for `spec`.
///
/// # Safety
///
/// `t` is the hrtimer of a live `KnoteTimer`, which stays alive while it runs (the
/// `KnoteTimer`'s drop cancels it).
unsafe fn start(t: *mut bindings::hrtimer, spec: &TimerSpec) {
    let (_, mode) = clock_mode(spec);
    // SAFETY: Per the contract.
    unsafe { bindings::hrtimer_start_range_ns(t, spec.first_ns, 0, mode) };
}

impl Filter for TimerFilter {
    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        let spec = parse(kev.fflags, kev.data, kev.flags & EV_ONESHOT != 0)?;
        let charge = kn.charge_another(Resource::Timer)?;
        let (clock, mode) = clock_mode(&spec);
        let timer = KnoteTimer::new(kn, clock, mode)?;
        let raw = timer.raw();
        {
            let mut rd = kn.kq().ready_lock().lock();
            let st = kn.state.access_mut(&mut rd);
            st.fstate = FilterState::Timer(TimerState {
                period_ns: spec.period_ns,
                _charge: charge,
                timer,
            });
        }
        // SAFETY: The timer was just set up for `spec` and is owned by the knote's state,
        // which `detach` drops (cancelling it) before the knote goes.
        unsafe { start(raw, &spec) };
        Ok(())
    }

    fn modify(&self, kn: &Arc<Knote>, kev: &KEvent, add: bool) -> Result {
        if !add {
            return Ok(());
        }
        let oneshot = {
            let mut rd = kn.kq().ready_lock().lock();
            kn.state.access_mut(&mut rd).flags & EV_ONESHOT != 0
        };
        let spec = parse(kev.fflags, kev.data, oneshot)?;
        // A new timer, possibly on another clock: set up before the old one is replaced.
        let (clock, mode) = clock_mode(&spec);
        let timer = KnoteTimer::new(kn, clock, mode)?;
        let raw = timer.raw();
        let old = {
            let mut rd = kn.kq().ready_lock().lock();
            let st = kn.state.access_mut(&mut rd);
            st.sfflags = kev.fflags;
            st.sdata = kev.data;
            match &mut st.fstate {
                FilterState::Timer(t) => {
                    t.period_ns = spec.period_ns;
                    Some(core::mem::replace(&mut t.timer, timer))
                }
                _ => None,
            }
        };
        let Some(old) = old else {
            return Err(EINVAL);
        };
        // Cancels the old timer (waiting for a running callback), outside the ready lock.
        drop(old);
        {
            let mut rd = kn.kq().ready_lock().lock();
            // Restart: the count of the old timer is forgotten.
            kn.state.access_mut(&mut rd).data = 0;
        }
        // SAFETY: As in `attach`: the new timer is set up for `spec` and owned by the state.
        unsafe { start(raw, &spec) };
        Ok(())
    }

    fn detach(&self, kn: &Knote) {
        // Taken out under the ready lock; dropped outside it: the drop cancels the timer,
        // waiting for a running callback, which takes the ready lock.
        let state = {
            let mut rd = kn.kq().ready_lock().lock();
            core::mem::take(&mut kn.state.access_mut(&mut rd).fstate)
        };
        drop(state);
    }

    fn check_under_ready_lock(&self) -> bool {
        true
    }

    fn active(&self, st: &KnoteState) -> bool {
        st.data > 0
    }

    fn report(&self, st: &KnoteState, ev: &mut KEvent) {
        ev.data = st.data;
    }

    fn consume(&self, st: &mut KnoteState, ev: &KEvent) {
        // Expirations that happened after the report stay counted.
        st.data = st.data.saturating_sub(ev.data).max(0);
    }

    fn fflags(&self) -> u32 {
        FFLAGS
    }

    fn forced_flags(&self) -> u16 {
        EV_CLEAR
    }
}

#[kernel::macros::kunit_tests(kqueue_timer)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(to_ns(0, 5), Ok(5_000_000));
        assert_eq!(to_ns(NOTE_MSECONDS, 5), Ok(5_000_000));
        assert_eq!(to_ns(NOTE_SECONDS, 2), Ok(2_000_000_000));
        assert_eq!(to_ns(NOTE_USECONDS, 7), Ok(7_000));
        assert_eq!(to_ns(NOTE_NSECONDS, 9), Ok(9));
        assert_eq!(to_ns(NOTE_SECONDS | NOTE_NSECONDS, 1), Err(EINVAL));
        assert_eq!(to_ns(0, -1), Err(EINVAL));
        assert_eq!(to_ns(NOTE_SECONDS, i64::MAX), Ok(i64::MAX));
    }

    #[test]
    fn specs() {
        assert_eq!(
            parse(0, 10, false),
            Ok(TimerSpec {
                first_ns: 10_000_000,
                period_ns: 10_000_000,
                absolute: false
            })
        );
        assert_eq!(
            parse(NOTE_NSECONDS, 1, false),
            Ok(TimerSpec {
                first_ns: MIN_PERIOD_NS,
                period_ns: MIN_PERIOD_NS,
                absolute: false
            })
        );
        assert_eq!(
            parse(0, 0, true),
            Ok(TimerSpec {
                first_ns: 0,
                period_ns: 0,
                absolute: false
            })
        );
        assert_eq!(
            parse(NOTE_ABSTIME | NOTE_SECONDS, 3, false),
            Ok(TimerSpec {
                first_ns: 3_000_000_000,
                period_ns: 0,
                absolute: true
            })
        );
        assert_eq!(parse(0x100, 1, false), Err(EINVAL));
        assert_eq!(parse(0, -5, false), Err(EINVAL));
    }
}
