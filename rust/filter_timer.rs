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
#[derive(Default)]
pub(crate) struct TimerState {
    /// Period in nanoseconds; 0 for a one-shot timer.
    period_ns: i64,
    /// The user's charge for this timer, once `attach` succeeded.
    charge: Option<Charge>,
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
/// `timer` must be the `timer` field of a registered timer knote (set up by `start`).
unsafe extern "C" fn timer_fn(timer: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
    // SAFETY: Timers of this filter are embedded in a `Knote` (field `timer`).
    let kn = unsafe { kernel::container_of!(Opaque::cast_from(timer).cast_mut(), Knote, timer) };
    // SAFETY: The knote is registered while its timer can run: `detach` cancels the timer
    // before the kqueue drops its reference, and the knote was allocated by `Arc`.
    let kn = unsafe { ArcBorrow::from_raw(kn) };
    let mut restart = bindings::hrtimer_restart::HRTIMER_NORESTART;
    kn.kq().activate(kn, |st| {
        let period = match &st.fstate {
            FilterState::Timer(t) => t.period_ns,
            _ => 0,
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

/// Sets up and starts `kn`'s hrtimer for `spec`. The timer is not running.
fn start(kn: &Knote, spec: &TimerSpec) {
    let (clock, mode) = if spec.absolute {
        (
            bindings::CLOCK_REALTIME,
            bindings::hrtimer_mode_HRTIMER_MODE_ABS,
        )
    } else {
        (
            bindings::CLOCK_MONOTONIC,
            bindings::hrtimer_mode_HRTIMER_MODE_REL,
        )
    };
    // SAFETY: The timer is embedded in the pinned knote and not queued (never started, or
    // cancelled), so it may be (re)initialised and started.
    unsafe {
        bindings::hrtimer_setup(kn.timer.get(), Some(timer_fn), clock as i32, mode);
        bindings::hrtimer_start_range_ns(kn.timer.get(), spec.first_ns, 0, mode);
    }
}

/// Stops `kn`'s timer and waits for a running callback.
fn cancel(kn: &Knote) {
    // SAFETY: Only called for knotes whose timer was set up by `start`.
    unsafe { bindings::hrtimer_cancel(kn.timer.get()) };
}

impl Filter for TimerFilter {
    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        let spec = parse(kev.fflags, kev.data, kev.flags & EV_ONESHOT != 0)?;
        let charge = kn.charge_another(Resource::Timer)?;
        {
            let mut rd = kn.kq().ready_lock().lock();
            let st = kn.state.access_mut(&mut rd);
            st.fstate = FilterState::Timer(TimerState {
                period_ns: spec.period_ns,
                charge: Some(charge),
            });
        }
        start(kn, &spec);
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
        cancel(kn);
        {
            let mut rd = kn.kq().ready_lock().lock();
            let st = kn.state.access_mut(&mut rd);
            // Restart: the count of the old timer is forgotten.
            st.data = 0;
            st.sfflags = kev.fflags;
            st.sdata = kev.data;
            if let FilterState::Timer(timer) = &mut st.fstate {
                timer.period_ns = spec.period_ns;
            }
        }
        start(kn, &spec);
        Ok(())
    }

    fn detach(&self, kn: &Knote) {
        cancel(kn);
        // The charge is given back outside the ready lock.
        let charge = {
            let mut rd = kn.kq().ready_lock().lock();
            match &mut kn.state.access_mut(&mut rd).fstate {
                FilterState::Timer(timer) => timer.charge.take(),
                _ => None,
            }
        };
        drop(charge);
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
