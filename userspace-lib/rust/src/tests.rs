//! Host unit tests: encoding and decoding, and the ABI against the UAPI
//! header. None of them needs the module.

use super::*;
use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};

/// The UAPI header, relative to this crate.
fn header_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../include/uapi/linux/kqueue.h")
}

/// Evaluates the value of a `#define`: integers (decimal or hex, `U`
/// suffix, parentheses, unary minus), `a << b`, and earlier names.
fn eval(expr: &str, known: &BTreeMap<String, i128>) -> Option<i128> {
    let e = expr.trim();
    if let Some(inner) = e.strip_prefix('(').and_then(|r| r.strip_suffix(')')) {
        return eval(inner, known);
    }
    if let Some((a, b)) = e.split_once("<<") {
        return Some(eval(a, known)? << eval(b, known)?);
    }
    if let Some(rest) = e.strip_prefix('-') {
        return eval(rest, known).map(|v| -v);
    }
    if let Some(v) = known.get(e) {
        return Some(*v);
    }
    let digits = e.trim_end_matches(['U', 'u', 'L', 'l']);
    match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) => i128::from_str_radix(hex, 16).ok(),
        None => digits.parse().ok(),
    }
}

/// The `KQ_*` and `KQUEUE_*` integer constants of the header, by name.
/// Function-like macros such as `_IOWR(...)` are left out.
///
/// `None` in a crate unpacked from its package (`cargo package` keeps the
/// original manifest as `Cargo.toml.orig`), which has no header beside it;
/// in the repository a missing header is a failure.
fn header_constants() -> Option<BTreeMap<String, i128>> {
    let packaged = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("Cargo.toml.orig")
        .exists();
    if packaged && !header_path().exists() {
        eprintln!("SKIP: no UAPI header outside the kqueue-linux repository");
        return None;
    }
    let text = std::fs::read_to_string(header_path()).expect("read the UAPI header");
    let mut known = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("#define") else {
            continue;
        };
        let rest = rest.split("/*").next().unwrap().trim();
        let Some((name, value)) = rest.split_once(char::is_whitespace) else {
            continue;
        };
        if !(name.starts_with("KQ_") || name.starts_with("KQUEUE_")) || value.contains("_IO") {
            continue;
        }
        let v = eval(value, &known).unwrap_or_else(|| panic!("cannot parse {name} = {value}"));
        known.insert(name.to_string(), v);
    }
    Some(known)
}

#[test]
fn header_parser_works() {
    let Some(h) = header_constants() else {
        return;
    };
    assert_eq!(h["KQ_EVFILT_READ"], -1);
    assert_eq!(h["KQ_NOTE_FFCOPY"], 0xc000_0000);
    assert_eq!(h["KQUEUE_MAX_EVENTS"], 1 << 20);
    assert_eq!(h["KQUEUE_KEVENT_FLAGS"], 1);
    assert!(h.len() > 60, "only {} constants found", h.len());
}

#[test]
fn constants_match_header() {
    let Some(header) = header_constants() else {
        return;
    };
    let ours: BTreeMap<String, i128> = raw::UAPI_CONSTANTS
        .iter()
        .map(|&(name, v)| {
            let hname = if name.starts_with("KQUEUE_") {
                name.to_string()
            } else {
                format!("KQ_{name}")
            };
            (hname, v)
        })
        .collect();
    for (name, v) in &header {
        assert_eq!(ours.get(name), Some(v), "{name}: crate vs header");
    }
    for name in ours.keys() {
        assert!(header.contains_key(name), "{name} is not in the header");
    }
}

#[test]
fn ioctl_number() {
    // _IOWR(0xB9, 0x01, 64 bytes) = dir 3 << 30 | size << 16 | type << 8 | nr.
    let expected: u32 = (3 << 30) | (64 << 16) | (0xB9 << 8) | 0x01;
    assert_eq!(u64::from(raw::KQUEUE_IOC_KEVENT), u64::from(expected));
    assert_eq!(expected, 0xC040_B901);
}

#[test]
fn layout() {
    assert_eq!(size_of::<raw::Kevent>(), 64);
    assert_eq!(offset_of!(raw::Kevent, ident), 0);
    assert_eq!(offset_of!(raw::Kevent, filter), 8);
    assert_eq!(offset_of!(raw::Kevent, flags), 10);
    assert_eq!(offset_of!(raw::Kevent, fflags), 12);
    assert_eq!(offset_of!(raw::Kevent, data), 16);
    assert_eq!(offset_of!(raw::Kevent, udata), 24);
    assert_eq!(offset_of!(raw::Kevent, ext), 32);
    assert_eq!(std::mem::align_of::<raw::Kevent>(), 8);

    assert_eq!(size_of::<raw::Timespec>(), 16);
    assert_eq!(offset_of!(raw::Timespec, tv_nsec), 8);

    assert_eq!(size_of::<raw::KeventArgs>(), 64);
    assert_eq!(offset_of!(raw::KeventArgs, changelist), 0);
    assert_eq!(offset_of!(raw::KeventArgs, eventlist), 8);
    assert_eq!(offset_of!(raw::KeventArgs, nchanges), 16);
    assert_eq!(offset_of!(raw::KeventArgs, nevents), 20);
    assert_eq!(offset_of!(raw::KeventArgs, flags), 24);
    assert_eq!(offset_of!(raw::KeventArgs, reserved0), 28);
    assert_eq!(offset_of!(raw::KeventArgs, timeout), 32);
    assert_eq!(offset_of!(raw::KeventArgs, reserved), 48);

    assert_eq!(size_of::<Event>(), 64);
}

#[test]
fn event_flags_values() {
    assert_eq!(EventFlags::ADD.bits(), raw::EV_ADD);
    assert_eq!(EventFlags::ERROR.bits(), 0x4000);
    assert_eq!(EventFlags::EOF.bits(), 0x8000);
    // Unknown bits survive decoding.
    let ev = Event::from_raw(raw::Kevent {
        flags: 0xffff,
        ..Default::default()
    });
    assert_eq!(ev.flags().bits(), 0xffff);
}

#[test]
fn filter_round_trips() {
    let filters = [
        EventFilter::Read(3),
        EventFilter::Write(4),
        EventFilter::Empty(5),
        EventFilter::Vnode {
            vnode: 6,
            flags: VnodeEvents::WRITE | VnodeEvents::DELETE | VnodeEvents::CLOSE_WRITE,
        },
        EventFilter::Proc {
            pid: 1234,
            flags: ProcessEvents::EXIT | ProcessEvents::FORK | ProcessEvents::TRACK,
        },
        EventFilter::Procdesc {
            fd: 7,
            flags: ProcessEvents::EXIT,
        },
        EventFilter::Signal {
            signal: 10,
            times: 3,
        },
        EventFilter::Timer {
            ident: 99,
            timer: Some(Duration::from_millis(250)),
            absolute: false,
        },
        EventFilter::Timer {
            ident: u64::MAX,
            timer: Some(Duration::from_secs(1_700_000_000)),
            absolute: true,
        },
        EventFilter::Timer {
            ident: 1,
            timer: None,
            absolute: false,
        },
        EventFilter::User {
            ident: 42,
            flags: UserFlags::FFOR | UserFlags::TRIGGER,
            user_flags: UserDefinedFlags::new(0x00ab_cdef),
        },
    ];
    let flags = EventFlags::ADD | EventFlags::CLEAR | EventFlags::RECEIPT;
    for (i, f) in filters.into_iter().enumerate() {
        let ev = Event::new(f, flags, i as u64 + 1000);
        assert_eq!(ev.filter(), f, "filter {i}");
        assert_eq!(ev.flags(), flags);
        assert_eq!(ev.udata(), i as u64 + 1000);
        assert_eq!(ev.ext(), [0; 4]);
        assert_eq!(Event::from_raw(ev.into_raw()), ev);
    }
}

#[test]
fn raw_encoding() {
    let ev = Event::new(EventFilter::Read(9), EventFlags::ADD, 7);
    let k = ev.as_raw();
    assert_eq!(
        (k.ident, k.filter, k.flags, k.fflags, k.data, k.udata),
        (9, raw::EVFILT_READ, raw::EV_ADD, 0, 0, 7)
    );
    let ev = Event::new(
        EventFilter::Signal {
            signal: 28,
            times: 0,
        },
        EventFlags::ADD | EventFlags::DISPATCH,
        0,
    );
    assert_eq!(ev.as_raw().filter, raw::EVFILT_SIGNAL);
    assert_eq!(ev.as_raw().flags, raw::EV_ADD | raw::EV_DISPATCH);
    assert_eq!(ev.ident(), 28);
    assert_eq!(ev.with_data(5).data(), 5);
    assert_eq!(ev.with_ext([1, 2, 3, 4]).as_raw().ext, [1, 2, 3, 4]);
}

#[test]
fn unknown_filter() {
    let ev = Event::from_raw(raw::Kevent {
        filter: -100,
        ident: 5,
        ..Default::default()
    });
    assert_eq!(ev.filter(), EventFilter::Unknown);
    assert_eq!(ev.ident(), 5);
    let ev = Event::new(EventFilter::Unknown, EventFlags::ADD, 0);
    assert_eq!(ev.as_raw().filter, 0);
}

fn timer_raw(d: Duration, absolute: bool) -> (u32, i64) {
    let k = Event::new(
        EventFilter::Timer {
            ident: 1,
            timer: Some(d),
            absolute,
        },
        EventFlags::ADD,
        0,
    )
    .into_raw();
    (k.fflags, k.data)
}

#[test]
fn timer_unit_encoding() {
    use raw::{NOTE_ABSTIME, NOTE_MSECONDS, NOTE_NSECONDS, NOTE_SECONDS, NOTE_USECONDS};
    assert_eq!(timer_raw(Duration::from_secs(3), false), (NOTE_SECONDS, 3));
    assert_eq!(timer_raw(Duration::ZERO, false), (NOTE_SECONDS, 0));
    assert_eq!(
        timer_raw(Duration::from_millis(1500), false),
        (NOTE_MSECONDS, 1500)
    );
    assert_eq!(
        timer_raw(Duration::from_micros(2001), false),
        (NOTE_USECONDS, 2001)
    );
    assert_eq!(
        timer_raw(Duration::from_nanos(1_000_000_001), false),
        (NOTE_NSECONDS, 1_000_000_001)
    );
    assert_eq!(
        timer_raw(Duration::from_secs(10), true),
        (NOTE_SECONDS | NOTE_ABSTIME, 10)
    );
    // Clamped rather than wrapped.
    assert_eq!(timer_raw(Duration::MAX, false).1, i64::MAX);
    assert_eq!(
        timer_raw(Duration::from_secs(u64::MAX), false),
        (NOTE_SECONDS, i64::MAX)
    );
}

#[test]
fn timer_unit_decoding() {
    let decode = |fflags, data| {
        Event::from_raw(raw::Kevent {
            filter: raw::EVFILT_TIMER,
            fflags,
            data,
            ..Default::default()
        })
        .filter()
    };
    let t = |ms: Option<Duration>, absolute| EventFilter::Timer {
        ident: 0,
        timer: ms,
        absolute,
    };
    // No unit: milliseconds.
    assert_eq!(decode(0, 20), t(Some(Duration::from_millis(20)), false));
    assert_eq!(
        decode(raw::NOTE_SECONDS, 2),
        t(Some(Duration::from_secs(2)), false)
    );
    assert_eq!(
        decode(raw::NOTE_USECONDS | raw::NOTE_ABSTIME, 7),
        t(Some(Duration::from_micros(7)), true)
    );
    assert_eq!(
        decode(raw::NOTE_NSECONDS, 9),
        t(Some(Duration::from_nanos(9)), false)
    );
    assert_eq!(decode(0, 0), t(None, false));
    assert_eq!(decode(0, -5), t(Some(Duration::ZERO), false));
}

#[test]
fn user_flag_ops() {
    let user = |flags, bits| {
        Event::new(
            EventFilter::User {
                ident: 1,
                flags,
                user_flags: UserDefinedFlags::new(bits),
            },
            EventFlags::empty(),
            0,
        )
        .fflags()
    };
    assert_eq!(user(UserFlags::TRIGGER, 0), raw::NOTE_TRIGGER);
    assert_eq!(user(UserFlags::FFNOP, 0x12), 0x12);
    assert_eq!(user(UserFlags::FFAND, 0x0f), raw::NOTE_FFAND | 0x0f);
    assert_eq!(
        user(UserFlags::FFOR | UserFlags::TRIGGER, 0x30),
        raw::NOTE_FFOR | raw::NOTE_TRIGGER | 0x30
    );
    assert_eq!(user(UserFlags::FFCOPY, 0xffff_ffff), 0xc0ff_ffff);
    // User bits smuggled in through UserFlags do not leak into the fflags.
    assert_eq!(user(UserFlags::from_bits_retain(0x0000_00ff), 0x100), 0x100);
    assert_eq!(UserDefinedFlags::new(0xff12_3456).get(), 0x12_3456);

    // Decoding splits control and user bits.
    let ev = Event::from_raw(raw::Kevent {
        filter: raw::EVFILT_USER,
        fflags: raw::NOTE_FFCOPY | raw::NOTE_TRIGGER | 0xbeef,
        ..Default::default()
    });
    match ev.filter() {
        EventFilter::User {
            flags, user_flags, ..
        } => {
            assert_eq!(flags, UserFlags::FFCOPY | UserFlags::TRIGGER);
            assert_eq!(user_flags.get(), 0xbeef);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn error_entries() {
    let entry = |flags, data| {
        Event::from_raw(raw::Kevent {
            filter: raw::EVFILT_USER,
            flags,
            data,
            ..Default::default()
        })
    };
    let e = entry(raw::EV_ERROR, 2).error().expect("an error");
    assert_eq!(e.raw_os_error(), Some(2));
    assert_eq!(e.kind(), io::ErrorKind::NotFound);
    // A successful receipt.
    assert!(entry(raw::EV_ERROR, 0).error().is_none());
    // Not an error entry: data is something else.
    assert!(entry(raw::EV_CLEAR, 22).error().is_none());
}

#[test]
fn kqueuex_rejects_unknown_flags() {
    let e = raw::kqueuex(2).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(22));
}

#[test]
fn kevent_on_non_kqueue_is_ebadf() {
    // /dev/null is not a kqueue: its ENOTTY becomes EBADF.
    let f = std::fs::File::open("/dev/null").unwrap();
    let mut events = Vec::with_capacity(1);
    let e = kevent(&f, &[], &mut events, Some(Duration::ZERO)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(9), "{e}");
}

#[test]
fn debug_output() {
    let ev = Event::new(
        EventFilter::User {
            ident: 3,
            flags: UserFlags::TRIGGER,
            user_flags: UserDefinedFlags::new(0),
        },
        EventFlags::ADD,
        1,
    );
    let s = format!("{ev:?}");
    assert!(s.contains("User") && s.contains("ADD"), "{s}");
}

/// A `Kqueue` around a file that is not a kqueue.
fn not_a_kqueue() -> Kqueue {
    Kqueue::from(OwnedFd::from(std::fs::File::open("/dev/null").unwrap()))
}

#[test]
fn kqueue_type_on_non_kqueue_is_ebadf() {
    let kq = not_a_kqueue();
    let ebadf = |r: io::Result<usize>| r.unwrap_err().raw_os_error();
    let mut events = Vec::new();
    assert_eq!(ebadf(kq.kevent(&[], &mut events, None)), Some(9));
    assert_eq!(ebadf(kq.wait(&mut events, Some(Duration::ZERO))), Some(9));
    // drain reports the call's error, not WouldBlock, and reserved room.
    let e = kq.drain(&mut events).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(9), "{e}");
    assert!(events.capacity() >= 64);
    let timer = EventFilter::Timer {
        ident: 1,
        timer: Some(Duration::from_millis(1)),
        absolute: false,
    };
    let e = kq
        .register(&[Event::new(timer, EventFlags::ADD, 0)])
        .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(9), "{e}");
}

#[test]
fn register_without_changes_makes_no_call() {
    // Nothing to apply (filter 0 is skipped, as the kernel skips it): no
    // ioctl, so not even the EBADF of a file that is not a kqueue.
    let kq = not_a_kqueue();
    kq.register(&[]).unwrap();
    kq.register(&[Event::default(); 3]).unwrap();
}

#[test]
fn kqueue_type_owns_its_descriptor() {
    let kq = not_a_kqueue();
    let fd = kq.as_raw_fd();
    assert_eq!(kq.as_fd().as_raw_fd(), fd);
    // Round trips keep the descriptor.
    let owned = OwnedFd::from(kq);
    assert_eq!(owned.as_raw_fd(), fd);
    let kq = Kqueue::from(owned);
    let raw_fd = kq.into_raw_fd();
    assert_eq!(raw_fd, fd);
    // SAFETY: `raw_fd` was just released by `into_raw_fd`; nothing else owns it.
    let kq = unsafe { Kqueue::from_raw_fd(raw_fd) };
    let clone = kq.try_clone().unwrap();
    assert_ne!(clone.as_raw_fd(), fd);
    let fl = rustix::io::fcntl_getfd(&clone).unwrap();
    assert!(fl.contains(rustix::io::FdFlags::CLOEXEC));
}

#[test]
fn dropping_a_kqueue_closes_it() {
    // The write end of a pipe as the owned descriptor: once it is closed the
    // reader sees end of file (race-free, unlike checking a descriptor
    // number that another test thread may reuse).
    let (mut reader, writer) = std::io::pipe().unwrap();
    let kq = Kqueue::from(OwnedFd::from(writer));
    drop(kq);
    let mut buf = [0u8; 1];
    assert_eq!(std::io::Read::read(&mut reader, &mut buf).unwrap(), 0);
}

#[test]
fn features_layout_and_ioctl_number() {
    assert_eq!(size_of::<raw::Features>(), 128);
    assert_eq!(std::mem::align_of::<raw::Features>(), 4);
    assert_eq!(offset_of!(raw::Features, abi_version), 0);
    assert_eq!(offset_of!(raw::Features, features), 4);
    assert_eq!(offset_of!(raw::Features, filters), 8);
    assert_eq!(offset_of!(raw::Features, ev_flags), 12);
    assert_eq!(offset_of!(raw::Features, kevent_flags), 16);
    assert_eq!(offset_of!(raw::Features, max_changes), 20);
    assert_eq!(offset_of!(raw::Features, max_events), 24);
    assert_eq!(offset_of!(raw::Features, reserved0), 28);
    assert_eq!(offset_of!(raw::Features, fflags), 32);
    assert_eq!(offset_of!(raw::Features, max_user_knotes), 96);
    assert_eq!(offset_of!(raw::Features, max_user_timers), 100);
    assert_eq!(offset_of!(raw::Features, max_user_proc_watches), 104);
    assert_eq!(offset_of!(raw::Features, max_user_vnode_watches), 108);
    assert_eq!(offset_of!(raw::Features, reserved), 112);
    // _IOR(0xB9, 0x02, 128 bytes) = dir 2 << 30 | size << 16 | type << 8 | nr.
    let expected: u32 = (2 << 30) | (128 << 16) | (0xB9 << 8) | 0x02;
    assert_eq!(expected, 0x8080_B902);
    assert_eq!(u64::from(raw::KQUEUE_IOC_FEATURES), u64::from(expected));
}

/// A report with every field distinct, as a module could give it.
fn sample_features() -> raw::Features {
    let mut f = raw::Features {
        abi_version: 1,
        features: raw::KQUEUE_FEAT_FDINFO,
        filters: (1 << 0) | (1 << 10) | (1 << 31),
        ev_flags: 0x3ff,
        kevent_flags: raw::KQUEUE_KEVENT_FLAGS,
        max_changes: 100,
        max_events: 200,
        max_user_knotes: 1000,
        max_user_timers: 10,
        max_user_proc_watches: 20,
        max_user_vnode_watches: 30,
        ..Default::default()
    };
    f.fflags[0] = raw::NOTE_LOWAT;
    f.fflags[6] = raw::NOTE_ABSTIME;
    f.fflags[15] = 0x42;
    f
}

#[test]
fn features_accessors() {
    let f = Features::from_raw(sample_features());
    assert_eq!(f.as_raw(), &sample_features());
    assert_eq!(f.abi_version(), 1);
    assert!(f.fdinfo());
    assert!(!f.close_hook());
    assert!(Features::from_raw(raw::Features {
        features: raw::KQUEUE_FEAT_CLOSE_HOOK,
        ..Default::default()
    })
    .close_hook());
    assert!(f.supports_filter(raw::EVFILT_READ));
    assert!(f.supports_filter(raw::EVFILT_USER));
    assert!(f.supports_filter(-32));
    assert!(!f.supports_filter(raw::EVFILT_WRITE));
    for outside in [0, 1, i16::MAX, -33, i16::MIN] {
        assert!(!f.supports_filter(outside), "{outside}");
        assert_eq!(f.accepted_fflags(outside), 0, "{outside}");
    }
    assert_eq!(f.filters().collect::<Vec<_>>(), [-1, -11, -32]);
    assert!(f.supports(&EventFilter::Read(5)));
    assert!(!f.supports(&EventFilter::Write(5)));
    assert!(!f.supports(&EventFilter::Unknown));
    assert_eq!(f.accepted_fflags(raw::EVFILT_READ), raw::NOTE_LOWAT);
    assert_eq!(f.accepted_fflags(raw::EVFILT_TIMER), raw::NOTE_ABSTIME);
    assert_eq!(f.accepted_fflags(raw::EVFILT_USER), 0);
    assert_eq!(f.accepted_fflags(-16), 0x42);
    assert_eq!(f.accepted_fflags(-17), 0);
    assert_eq!(f.event_flags().bits(), 0x3ff);
    assert!(f
        .event_flags()
        .contains(EventFlags::ADD | EventFlags::KEEPUDATA));
    assert!(!f.event_flags().contains(EventFlags::ERROR));
    assert_eq!(f.kevent_flags(), raw::KQUEUE_KEVENT_FLAGS);
    assert_eq!((f.max_changes(), f.max_events()), (100, 200));
    let l = f.user_limits();
    assert_eq!(
        (l.knotes, l.timers, l.proc_watches, l.vnode_watches),
        (Some(1000), Some(10), Some(20), Some(30))
    );
    let none = Features::from_raw(raw::Features::default()).user_limits();
    assert_eq!(none, UserLimits::default());
    assert_eq!(none.vnode_watches, None);
    // A report of nothing supports nothing.
    let none = Features::from_raw(raw::Features::default());
    assert_eq!(none.filters().count(), 0);
    assert!(!none.fdinfo() && !none.close_hook());
    let s = format!("{f:?}");
    assert!(s.contains("fdinfo: true") && s.contains("-11"), "{s}");
}

#[test]
fn raw_filter_values() {
    let filters = [
        (EventFilter::Read(1), raw::EVFILT_READ),
        (EventFilter::Write(1), raw::EVFILT_WRITE),
        (EventFilter::Empty(1), raw::EVFILT_EMPTY),
        (
            EventFilter::Vnode {
                vnode: 1,
                flags: VnodeEvents::WRITE,
            },
            raw::EVFILT_VNODE,
        ),
        (
            EventFilter::Proc {
                pid: 1,
                flags: ProcessEvents::EXIT,
            },
            raw::EVFILT_PROC,
        ),
        (
            EventFilter::Procdesc {
                fd: 1,
                flags: ProcessEvents::EXIT,
            },
            raw::EVFILT_PROCDESC,
        ),
        (
            EventFilter::Signal {
                signal: 1,
                times: 0,
            },
            raw::EVFILT_SIGNAL,
        ),
        (
            EventFilter::Timer {
                ident: 1,
                timer: None,
                absolute: false,
            },
            raw::EVFILT_TIMER,
        ),
        (
            EventFilter::User {
                ident: 1,
                flags: UserFlags::empty(),
                user_flags: UserDefinedFlags::new(0),
            },
            raw::EVFILT_USER,
        ),
        (EventFilter::Unknown, 0),
    ];
    for (f, value) in filters {
        assert_eq!(f.raw_filter(), value, "{f:?}");
        // The same value as the change Event::new makes of it.
        assert_eq!(Event::new(f, EventFlags::ADD, 0).as_raw().filter, value);
    }
}

#[test]
fn features_on_non_kqueue() {
    // The raw call passes the kernel's ENOTTY on; the typed one says the
    // query is unsupported (ENOSYS), as for a module that predates it.
    let f = std::fs::File::open("/dev/null").unwrap();
    let e = raw::features(&f).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(25), "{e}");
    let e = not_a_kqueue().features().unwrap_err();
    assert_eq!(e.raw_os_error(), Some(38), "{e}");
    assert_eq!(e.kind(), io::ErrorKind::Unsupported);
}
