// SPDX-License-Identifier: GPL-2.0

//! `EVFILT_USER`: events triggered by the kqueue's own user.
//!
//! The knote stores 24 user flag bits (`sfflags`) and a data value (`sdata`). Every change on
//! the knote applies its `NOTE_FF*` operation to the stored bits and stores its data;
//! `NOTE_TRIGGER` triggers the event. With `EV_CLEAR`, reporting resets the triggered state, the
//! bits and the data.

use kernel::prelude::*;
use kernel::sync::Arc;

use crate::filter::Filter;
use crate::knote::{Knote, KnoteState};
use crate::uapi::*;

/// The `EVFILT_USER` filter.
pub(crate) struct UserFilter;

/// Applies the `NOTE_FF*` operation of `fflags` to the stored bits `stored`.
pub(crate) fn apply_ffctrl(stored: u32, fflags: u32) -> u32 {
    let bits = fflags & NOTE_FFLAGSMASK;
    match fflags & NOTE_FFCTRLMASK {
        NOTE_FFAND => stored & bits,
        NOTE_FFOR => stored | bits,
        NOTE_FFCOPY => bits,
        _ => stored,
    }
}

/// Applies a change to the knote's state.
fn touch(st: &mut KnoteState, kev: &KEvent) {
    st.sfflags = apply_ffctrl(st.sfflags, kev.fflags);
    st.sdata = kev.data;
    if kev.fflags & NOTE_TRIGGER != 0 {
        st.triggered = true;
    }
}

impl Filter for UserFilter {
    fn attach(&self, kn: &Arc<Knote>, kev: &KEvent) -> Result {
        kn.kq().activate(kn.as_arc_borrow(), |st| {
            // The operation applies to an empty set of stored bits.
            st.sfflags = 0;
            touch(st, kev);
        });
        Ok(())
    }

    fn modify(&self, kn: &Arc<Knote>, kev: &KEvent, _add: bool) -> Result {
        kn.kq().activate(kn.as_arc_borrow(), |st| touch(st, kev));
        Ok(())
    }

    fn detach(&self, _kn: &Knote) {}

    fn fflags(&self) -> u32 {
        // Other bits are accepted and ignored, as on FreeBSD.
        NOTE_FFCTRLMASK | NOTE_FFLAGSMASK | NOTE_TRIGGER
    }

    fn check_under_ready_lock(&self) -> bool {
        true
    }

    fn active(&self, st: &KnoteState) -> bool {
        st.triggered
    }

    fn report(&self, st: &KnoteState, ev: &mut KEvent) {
        ev.fflags = st.sfflags & NOTE_FFLAGSMASK;
        ev.data = st.sdata;
    }

    fn consume(&self, st: &mut KnoteState, _ev: &KEvent) {
        if st.flags & EV_CLEAR != 0 {
            st.triggered = false;
            st.sfflags = 0;
            st.sdata = 0;
        }
    }
}

#[kernel::macros::kunit_tests(kqueue_user)]
mod tests {
    use super::*;

    #[test]
    fn ffctrl_operations() {
        assert_eq!(apply_ffctrl(0b1010, NOTE_FFNOP | 0b0110), 0b1010);
        assert_eq!(apply_ffctrl(0b1010, NOTE_FFAND | 0b0110), 0b0010);
        assert_eq!(apply_ffctrl(0b1010, NOTE_FFOR | 0b0110), 0b1110);
        assert_eq!(apply_ffctrl(0b1010, NOTE_FFCOPY | 0b0110), 0b0110);
        // Only the low 24 bits are user bits; NOTE_TRIGGER is not stored.
        assert_eq!(
            apply_ffctrl(0, NOTE_FFCOPY | NOTE_TRIGGER | 0x00ff_ffff),
            0x00ff_ffff
        );
        assert_eq!(apply_ffctrl(0, NOTE_FFOR | 0x0f00_0001), 0x0000_0001);
    }

    #[test]
    fn trigger_and_clear() {
        let mut st = KnoteState {
            flags: EV_CLEAR,
            ..Default::default()
        };
        let kev = KEvent {
            fflags: NOTE_TRIGGER | NOTE_FFOR | 0x5,
            data: 42,
            ..Default::default()
        };
        touch(&mut st, &kev);
        assert!(UserFilter.active(&st));
        let mut ev = KEvent::default();
        UserFilter.report(&st, &mut ev);
        assert_eq!((ev.fflags, ev.data), (0x5, 42));
        UserFilter.consume(&mut st, &ev);
        assert!(!UserFilter.active(&st));
        assert_eq!((st.sfflags, st.sdata), (0, 0));
    }
}
