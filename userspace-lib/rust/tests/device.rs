//! Integration tests against the real `/dev/kqueue`.
//!
//! Without the device (module not loaded) every test prints a note and
//! passes, unless `KQ_REQUIRE_DEVICE=1`, which turns a missing device into a
//! failure (the VM runs them that way). The tokio tests are in
//! `device/async_fd.rs`, a module of this binary, so that the VM runs them
//! with the others.

#[path = "device/async_fd.rs"]
mod async_fd;

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use kqueue_linux::{
    kevent, kqueue, kqueuex, raw, Event, EventFilter, EventFlags, Kqueue, ProcessEvents,
    UserDefinedFlags, UserFlags, VnodeEvents,
};

const ENOENT: i32 = 2;
const EBADF: i32 = 9;
const EINVAL: i32 = 22;

/// Opens a kqueue, or returns `None` (the caller skips) when the device is
/// missing and `KQ_REQUIRE_DEVICE` is not 1.
fn device(test: &str) -> Option<OwnedFd> {
    match kqueue() {
        Ok(fd) => Some(fd),
        Err(e) if matches!(e.raw_os_error(), Some(2 | 6 | 19)) => {
            // ENOENT: no node; ENXIO/ENODEV: a node without its driver.
            if std::env::var("KQ_REQUIRE_DEVICE").as_deref() == Ok("1") {
                panic!(
                    "KQ_REQUIRE_DEVICE=1 but {} cannot be opened: {e}",
                    raw::KQUEUE_DEVICE
                );
            }
            eprintln!("SKIP {test}: {} not available ({e})", raw::KQUEUE_DEVICE);
            None
        }
        Err(e) => panic!("cannot open {}: {e}", raw::KQUEUE_DEVICE),
    }
}

macro_rules! kq_or_skip {
    ($name:expr) => {
        match device($name) {
            Some(kq) => kq,
            None => return,
        }
    };
}

fn user(ident: u64, flags: UserFlags, bits: u32) -> EventFilter {
    EventFilter::User {
        ident,
        flags,
        user_flags: UserDefinedFlags::new(bits),
    }
}

fn timer(ident: u64, period: Duration) -> EventFilter {
    EventFilter::Timer {
        ident,
        timer: Some(period),
        absolute: false,
    }
}

/// Applies changes without room for events: a failing change fails the call.
fn apply(kq: impl AsFd, changes: &[Event]) -> io::Result<()> {
    let mut none = Vec::new();
    assert_eq!(kevent(kq, changes, &mut none, None)?, 0);
    Ok(())
}

/// Collects up to 8 events, waiting at most `timeout`.
fn collect(kq: impl AsFd, timeout: Duration) -> Vec<Event> {
    let mut events = Vec::with_capacity(8);
    kevent(kq, &[], &mut events, Some(timeout)).expect("kevent");
    events
}

fn errno(r: io::Result<impl std::fmt::Debug>) -> i32 {
    r.expect_err("expected an error").raw_os_error().unwrap()
}

#[test]
fn user_add_and_trigger() {
    let kq = kq_or_skip!("user_add_and_trigger");
    apply(
        &kq,
        &[Event::new(
            user(1, UserFlags::FFNOP, 0),
            EventFlags::ADD,
            11,
        )],
    )
    .unwrap();
    assert!(collect(&kq, Duration::ZERO).is_empty(), "not triggered yet");

    apply(
        &kq,
        &[Event::new(
            user(1, UserFlags::TRIGGER, 0),
            EventFlags::empty(),
            12,
        )],
    )
    .unwrap();
    for _ in 0..2 {
        // Without EV_CLEAR the event stays triggered (level).
        let evs = collect(&kq, Duration::ZERO);
        assert_eq!(evs.len(), 1, "{evs:?}");
        assert_eq!(evs[0].filter(), user(1, UserFlags::empty(), 0));
        assert_eq!(evs[0].ident(), 1);
        assert_eq!(evs[0].udata(), 12, "a change replaces udata");
        assert!(evs[0].error().is_none());
    }

    apply(
        &kq,
        &[Event::new(
            user(1, UserFlags::FFNOP, 0),
            EventFlags::DELETE,
            0,
        )],
    )
    .unwrap();
    assert!(collect(&kq, Duration::ZERO).is_empty());
}

#[test]
fn user_fflags_ops_and_data() {
    let kq = kq_or_skip!("user_fflags_ops_and_data");
    let change = |flags, bits| Event::new(user(2, flags, bits), EventFlags::empty(), 0);
    apply(
        &kq,
        &[
            Event::new(user(2, UserFlags::FFCOPY, 0x0f), EventFlags::ADD, 0),
            change(UserFlags::FFAND, 0x05),
            change(UserFlags::FFOR, 0x30),
            change(UserFlags::TRIGGER, 0).with_data(77),
        ],
    )
    .unwrap();
    let evs = collect(&kq, Duration::ZERO);
    assert_eq!(evs.len(), 1, "{evs:?}");
    match evs[0].filter() {
        EventFilter::User { user_flags, .. } => assert_eq!(user_flags.get(), 0x35),
        other => panic!("{other:?}"),
    }
    assert_eq!(evs[0].fflags(), 0x35);
    assert_eq!(evs[0].data(), 77);
}

#[test]
fn user_clear_resets() {
    let kq = kq_or_skip!("user_clear_resets");
    let ext = [1, 2, 3, 4];
    apply(
        &kq,
        &[Event::new(
            user(3, UserFlags::FFNOP, 0),
            EventFlags::ADD | EventFlags::CLEAR,
            5,
        )
        .with_ext(ext)],
    )
    .unwrap();
    apply(
        &kq,
        &[Event::new(
            user(3, UserFlags::FFOR | UserFlags::TRIGGER, 0x1),
            EventFlags::KEEPUDATA,
            0,
        )
        .with_data(9)
        .with_ext(ext)],
    )
    .unwrap();
    let evs = collect(&kq, Duration::ZERO);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(evs[0].flags().contains(EventFlags::CLEAR));
    assert_eq!((evs[0].fflags(), evs[0].data(), evs[0].udata()), (1, 9, 5));
    assert_eq!(evs[0].ext(), ext);
    assert!(collect(&kq, Duration::ZERO).is_empty(), "EV_CLEAR resets");

    // Triggered again: the stored flags and data were reset.
    apply(
        &kq,
        &[Event::new(
            user(3, UserFlags::TRIGGER, 0),
            EventFlags::KEEPUDATA,
            0,
        )],
    )
    .unwrap();
    let evs = collect(&kq, Duration::ZERO);
    assert_eq!(evs.len(), 1);
    assert_eq!((evs[0].fflags(), evs[0].data()), (0, 0));
}

#[test]
fn receipt_and_error_entries() {
    let kq = kq_or_skip!("receipt_and_error_entries");
    let mut evs = Vec::with_capacity(4);
    let changes = [
        Event::new(
            user(4, UserFlags::FFNOP, 0),
            EventFlags::ADD | EventFlags::RECEIPT,
            40,
        ),
        Event::new(user(5, UserFlags::FFNOP, 0), EventFlags::DELETE, 50),
        Event::new(user(4, UserFlags::TRIGGER, 0), EventFlags::empty(), 41),
    ];
    let n = kevent(&kq, &changes, &mut evs, Some(Duration::ZERO)).unwrap();
    // Only the receipt and the error come back, not the triggered event.
    assert_eq!(n, 2, "{evs:?}");
    assert_eq!(evs.len(), 2);

    assert_eq!(evs[0].flags(), EventFlags::ERROR);
    assert_eq!(evs[0].ident(), 4);
    assert_eq!(evs[0].udata(), 40);
    assert_eq!(evs[0].data(), 0);
    assert!(evs[0].error().is_none(), "a successful receipt");

    assert_eq!(evs[1].flags(), EventFlags::ERROR);
    assert_eq!(evs[1].ident(), 5);
    let e = evs[1].error().expect("ENOENT entry");
    assert_eq!(e.raw_os_error(), Some(ENOENT));
    assert_eq!(e.kind(), io::ErrorKind::NotFound);

    // The trigger after them was applied.
    let evs = collect(&kq, Duration::ZERO);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].udata(), 41);
}

#[test]
fn delete_absent_is_enoent() {
    let kq = kq_or_skip!("delete_absent_is_enoent");
    let del = Event::new(user(6, UserFlags::FFNOP, 0), EventFlags::DELETE, 0);
    assert_eq!(errno(apply(&kq, &[del])), ENOENT);
    let dis = Event::new(timer(6, Duration::from_millis(1)), EventFlags::DISABLE, 0);
    assert_eq!(errno(apply(&kq, &[dis])), ENOENT);
}

#[test]
fn timer_fires() {
    let kq = kq_or_skip!("timer_fires");
    apply(
        &kq,
        &[Event::new(
            timer(7, Duration::from_millis(20)),
            EventFlags::ADD,
            70,
        )],
    )
    .unwrap();
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    let ev = evs[0];
    assert!(
        matches!(ev.filter(), EventFilter::Timer { ident: 7, .. }),
        "{ev:?}"
    );
    assert_eq!(ev.udata(), 70);
    assert!(ev.data() >= 1, "{ev:?}");
    assert!(
        ev.flags().contains(EventFlags::CLEAR),
        "timers are EV_CLEAR"
    );
    assert!(ev.error().is_none());
}

#[test]
fn timer_counts_expirations() {
    let kq = kq_or_skip!("timer_counts_expirations");
    let start = std::time::Instant::now();
    apply(
        &kq,
        &[Event::new(
            timer(8, Duration::from_millis(5)),
            EventFlags::ADD,
            0,
        )],
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let evs = collect(&kq, Duration::ZERO);
    // The count cannot exceed the periods that really passed (a loaded, emulated machine may
    // oversleep), and overruns are not lost: at least a few must be counted.
    let periods = start.elapsed().as_millis() / 5;
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(evs[0].data() >= 2, "{:?}", evs[0]);
    assert!(
        u128::try_from(evs[0].data()).unwrap() <= periods + 1,
        "{:?} after {periods} periods",
        evs[0]
    );
    // EV_CLEAR: the count starts again.
    let evs = collect(&kq, Duration::ZERO);
    assert!(evs.is_empty() || evs[0].data() < 10, "{evs:?}");
}

#[test]
fn timer_oneshot() {
    let kq = kq_or_skip!("timer_oneshot");
    let t = timer(9, Duration::from_micros(10_500));
    apply(
        &kq,
        &[Event::new(t, EventFlags::ADD | EventFlags::ONESHOT, 0)],
    )
    .unwrap();
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].data(), 1);
    assert!(collect(&kq, Duration::from_millis(50)).is_empty());
    // Deleted after it was reported.
    assert_eq!(
        errno(apply(&kq, &[Event::new(t, EventFlags::DELETE, 0)])),
        ENOENT
    );
}

#[test]
fn timer_units_and_abstime() {
    let kq = kq_or_skip!("timer_units_and_abstime");
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        + Duration::from_millis(20);
    // Nanosecond precision: encoded with NOTE_NSECONDS.
    let abs = EventFilter::Timer {
        ident: 10,
        timer: Some(deadline),
        absolute: true,
    };
    let period = timer(11, Duration::from_nanos(3_000_000_001));
    apply(
        &kq,
        &[
            Event::new(abs, EventFlags::ADD, 0),
            Event::new(period, EventFlags::ADD, 0),
        ],
    )
    .unwrap();
    let start = Instant::now();
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].ident(), 10);
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn zero_timeout_and_no_room() {
    let kq = kq_or_skip!("zero_timeout_and_no_room");
    let start = Instant::now();
    assert!(collect(&kq, Duration::ZERO).is_empty());
    assert!(start.elapsed() < Duration::from_secs(1));

    // A pending event, but nevents 0: returns 0 at once even with no timeout.
    apply(
        &kq,
        &[Event::new(
            user(12, UserFlags::TRIGGER, 0),
            EventFlags::ADD,
            0,
        )],
    )
    .unwrap();
    let mut none: Vec<Event> = Vec::new();
    assert_eq!(kevent(&kq, &[], &mut none, None).unwrap(), 0);
    assert_eq!(
        kevent(&kq, &[], &mut none, Some(Duration::from_secs(1))).unwrap(),
        0
    );

    // The raw layer with null lists.
    let n = unsafe {
        raw::kevent(
            &kq,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            0,
            Some(&raw::Timespec::default()),
        )
    };
    assert_eq!(n.unwrap(), 0);

    // Still pending.
    assert_eq!(collect(&kq, Duration::ZERO).len(), 1);
}

#[test]
fn timeout_waits() {
    let kq = kq_or_skip!("timeout_waits");
    let start = Instant::now();
    assert!(collect(&kq, Duration::from_millis(50)).is_empty());
    assert!(
        start.elapsed() >= Duration::from_millis(45),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn vec_capacity_bounds_events() {
    let kq = kq_or_skip!("vec_capacity_bounds_events");
    let changes: Vec<Event> = (100..105)
        .map(|i| Event::new(user(i, UserFlags::TRIGGER, 0), EventFlags::ADD, i))
        .collect();
    apply(&kq, &changes).unwrap();
    let mut evs = Vec::with_capacity(3);
    assert_eq!(kevent(&kq, &[], &mut evs, Some(Duration::ZERO)).unwrap(), 3);
    assert_eq!(evs.len(), 3);
    let mut evs = Vec::with_capacity(16);
    evs.push(Event::default());
    assert_eq!(kevent(&kq, &[], &mut evs, Some(Duration::ZERO)).unwrap(), 5);
    let mut idents: Vec<u64> = evs.iter().map(|e| e.udata()).collect();
    idents.sort();
    assert_eq!(idents, [100, 101, 102, 103, 104]);
}

#[test]
fn non_kqueue_is_ebadf() {
    // Works without the device: the ENOTTY of any other file is EBADF.
    let (r, _w) = std::io::pipe().unwrap();
    let mut evs = Vec::with_capacity(1);
    assert_eq!(
        errno(kevent(&r, &[], &mut evs, Some(Duration::ZERO))),
        EBADF
    );
    let null = std::fs::File::open("/dev/null").unwrap();
    assert_eq!(
        errno(kevent(&null, &[], &mut evs, Some(Duration::ZERO))),
        EBADF
    );
}

#[test]
fn bad_arguments_are_einval() {
    let kq = kq_or_skip!("bad_arguments_are_einval");
    // EV_ENABLE with EV_DISABLE.
    let both = Event::new(
        user(13, UserFlags::FFNOP, 0),
        EventFlags::ADD | EventFlags::ENABLE | EventFlags::DISABLE,
        0,
    );
    assert_eq!(errno(apply(&kq, &[both])), EINVAL);
    // Two timer units.
    let mut k = Event::new(timer(14, Duration::from_millis(5)), EventFlags::ADD, 0).into_raw();
    k.fflags = raw::NOTE_SECONDS | raw::NOTE_MSECONDS;
    assert_eq!(errno(apply(&kq, &[Event::from_raw(k)])), EINVAL);
    // A bad timeout in the raw layer.
    let bad = raw::Timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    let r = unsafe {
        raw::kevent(
            &kq,
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
            0,
            Some(&bad),
        )
    };
    assert_eq!(errno(r), EINVAL);
}

#[test]
fn read_filter() {
    let kq = kq_or_skip!("read_filter");
    let (r, mut w) = std::io::pipe().unwrap();
    std::io::Write::write_all(&mut w, b"hello").unwrap();
    let add = Event::new(EventFilter::Read(r.as_raw_fd()), EventFlags::ADD, 0);
    apply(&kq, &[add]).unwrap();
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].filter(), EventFilter::Read(r.as_raw_fd()));
    assert_eq!(evs[0].data(), 5);
}

#[test]
fn kqueuex_cloexec() {
    let kq = kq_or_skip!("kqueuex_cloexec");
    let fl = rustix::io::fcntl_getfd(&kq).unwrap();
    assert!(
        !fl.contains(rustix::io::FdFlags::CLOEXEC),
        "kqueue() is inheritable"
    );
    let kq2 = kqueuex(true).unwrap();
    let fl = rustix::io::fcntl_getfd(&kq2).unwrap();
    assert!(fl.contains(rustix::io::FdFlags::CLOEXEC));
    let kq3 = kqueuex(false).unwrap();
    assert!(!rustix::io::fcntl_getfd(&kq3)
        .unwrap()
        .contains(rustix::io::FdFlags::CLOEXEC));
}

#[test]
fn vnode_filter() {
    let kq = kq_or_skip!("vnode_filter");
    let path = std::env::temp_dir().join(format!("kq-vnode-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let fd = f.as_raw_fd();
    let watched = VnodeEvents::WRITE | VnodeEvents::EXTEND | VnodeEvents::DELETE;
    let add = Event::new(
        EventFilter::Vnode {
            vnode: fd,
            flags: watched,
        },
        EventFlags::ADD | EventFlags::CLEAR,
        7,
    );
    apply(&kq, &[add]).unwrap();
    assert!(collect(&kq, Duration::ZERO).is_empty());

    std::io::Write::write_all(&mut f, b"hello").unwrap();
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(
        evs[0].filter(),
        EventFilter::Vnode {
            vnode: fd,
            flags: VnodeEvents::WRITE | VnodeEvents::EXTEND
        }
    );
    assert_eq!(evs[0].udata(), 7);
    assert!(evs[0].flags().contains(EventFlags::CLEAR));

    // The watch follows the file: removing its last name deletes it.
    std::fs::remove_file(&path).unwrap();
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].fflags(), raw::NOTE_DELETE);

    // A pipe is not a file.
    let (r, _w) = std::io::pipe().unwrap();
    let bad = Event::new(
        EventFilter::Vnode {
            vnode: r.as_raw_fd(),
            flags: watched,
        },
        EventFlags::ADD,
        0,
    );
    assert_eq!(errno(apply(&kq, &[bad])), EINVAL);
}

#[test]
fn proc_exit_status() {
    let kq = kq_or_skip!("proc_exit_status");
    // The child exits with 3 once its stdin is closed.
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "read x; exit 3"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn /bin/sh");
    let pid = child.id() as i32;
    let watch = EventFilter::Proc {
        pid,
        flags: ProcessEvents::EXIT,
    };
    apply(&kq, &[Event::new(watch, EventFlags::ADD, 5)]).unwrap();
    assert!(collect(&kq, Duration::ZERO).is_empty(), "still running");

    drop(child.stdin.take());
    let evs = collect(&kq, Duration::from_secs(10));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].filter(), watch);
    assert_eq!(evs[0].udata(), 5);
    // wait(2) format: exited with 3.
    assert_eq!(evs[0].data(), 3 << 8);
    assert!(evs[0]
        .flags()
        .contains(EventFlags::EOF | EventFlags::ONESHOT | EventFlags::CLEAR));
    // Not reaped by the kqueue: the parent still gets the status.
    let status = child.try_wait().expect("try_wait").expect("exited");
    assert_eq!(status.code(), Some(3));
}

#[test]
fn signal_counts_generations() {
    let kq = kq_or_skip!("signal_counts_generations");
    // SIGWINCH is ignored by default: ignored signals are counted too.
    const SIGWINCH: i32 = 28;
    let watch = EventFilter::Signal {
        signal: SIGWINCH,
        times: 0,
    };
    apply(&kq, &[Event::new(watch, EventFlags::ADD, 6)]).unwrap();
    let me = rustix::process::getpid();
    for _ in 0..2 {
        rustix::process::kill_process(me, rustix::process::Signal::WINCH).unwrap();
    }
    let evs = collect(&kq, Duration::ZERO);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(
        evs[0].filter(),
        EventFilter::Signal {
            signal: SIGWINCH,
            times: 2
        }
    );
    assert!(evs[0].flags().contains(EventFlags::CLEAR));
    // EV_CLEAR: the count restarts.
    assert!(collect(&kq, Duration::ZERO).is_empty());
    // Not a signal number: EINVAL.
    let bad = EventFilter::Signal {
        signal: 65,
        times: 0,
    };
    assert_eq!(
        errno(apply(&kq, &[Event::new(bad, EventFlags::ADD, 0)])),
        EINVAL
    );
}

#[test]
fn write_filter_space_and_eof() {
    let kq = kq_or_skip!("write_filter_space_and_eof");
    let (r, w) = std::io::pipe().unwrap();
    let add = Event::new(EventFilter::Write(w.as_raw_fd()), EventFlags::ADD, 1);
    apply(&kq, &[add]).unwrap();
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].filter(), EventFilter::Write(w.as_raw_fd()));
    // data = free space in the pipe (a page at least).
    assert!(evs[0].data() >= 4096, "{:?}", evs[0]);
    assert!(!evs[0].flags().contains(EventFlags::EOF));
    // The reader goes away: EV_EOF.
    drop(r);
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(evs[0].flags().contains(EventFlags::EOF), "{:?}", evs[0]);
}

#[test]
fn empty_filter_on_a_socket() {
    let kq = kq_or_skip!("empty_filter_on_a_socket");
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let empty = EventFilter::Empty(a.as_raw_fd());
    apply(&kq, &[Event::new(empty, EventFlags::ADD, 2)]).unwrap();
    // Nothing sent: empty.
    let evs = collect(&kq, Duration::ZERO);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].filter(), empty);
    // Three bytes the peer has not read: not empty.
    std::io::Write::write_all(&mut &a, b"abc").unwrap();
    assert!(collect(&kq, Duration::ZERO).is_empty());
    // The peer reads them: empty again.
    let mut buf = [0u8; 8];
    assert_eq!(std::io::Read::read(&mut &b, &mut buf).unwrap(), 3);
    let evs = collect(&kq, Duration::from_secs(5));
    assert_eq!(evs.len(), 1, "{evs:?}");
    // Only sockets have a send queue to watch.
    let (r, _w) = std::io::pipe().unwrap();
    let bad = Event::new(EventFilter::Empty(r.as_raw_fd()), EventFlags::ADD, 0);
    assert_eq!(errno(apply(&kq, &[bad])), EINVAL);
}

#[test]
fn procdesc_exit_status() {
    let kq = kq_or_skip!("procdesc_exit_status");
    let mut child = std::process::Command::new("/bin/sh")
        .args(["-c", "read x; exit 4"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("spawn /bin/sh");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).expect("a pid");
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).unwrap();
    let watch = EventFilter::Procdesc {
        fd: pidfd.as_raw_fd(),
        flags: ProcessEvents::EXIT,
    };
    apply(&kq, &[Event::new(watch, EventFlags::ADD, 9)]).unwrap();
    assert!(collect(&kq, Duration::ZERO).is_empty(), "still running");
    drop(child.stdin.take());
    let evs = collect(&kq, Duration::from_secs(10));
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].filter(), watch);
    assert_eq!(evs[0].udata(), 9);
    // wait(2) format: exited with 4.
    assert_eq!(evs[0].data(), 4 << 8);
    assert!(evs[0]
        .flags()
        .contains(EventFlags::EOF | EventFlags::ONESHOT));
    assert_eq!(child.wait().unwrap().code(), Some(4));
    // Not a pidfd: EINVAL.
    let (r, _w) = std::io::pipe().unwrap();
    let bad = EventFilter::Procdesc {
        fd: r.as_raw_fd(),
        flags: ProcessEvents::EXIT,
    };
    assert_eq!(
        errno(apply(&kq, &[Event::new(bad, EventFlags::ADD, 0)])),
        EINVAL
    );
}

#[test]
fn kqueue_type_register_wait_drain() {
    let Some(fd) = device("kqueue_type_register_wait_drain") else {
        return;
    };
    let kq = Kqueue::from(fd);
    let mut evs = Vec::with_capacity(8);
    // Nothing pending: drain is WouldBlock, wait times out with 0.
    let e = kq.drain(&mut evs).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
    assert_eq!(
        kq.wait(&mut evs, Some(Duration::from_millis(10))).unwrap(),
        0
    );

    // A trigger pending before register: register must not consume it.
    let add = |i| Event::new(user(i, UserFlags::FFNOP, 0), EventFlags::ADD, i);
    let trigger = |i| Event::new(user(i, UserFlags::TRIGGER, 0), EventFlags::KEEPUDATA, 0);
    kq.register(&[add(20), trigger(20)]).unwrap();
    // The failing change in the middle does not stop the one after it, and
    // its error is returned.
    let missing = Event::new(user(99, UserFlags::FFNOP, 0), EventFlags::DELETE, 0);
    let e = kq.register(&[add(21), missing, add(22)]).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(ENOENT));
    kq.register(&[trigger(21), trigger(22)]).unwrap();

    let n = kq.drain(&mut evs).unwrap();
    assert_eq!(n, evs.len());
    let mut idents: Vec<u64> = evs.iter().map(|e| e.ident()).collect();
    idents.sort();
    assert_eq!(idents, [20, 21, 22], "{evs:?}");
    // Level-triggered user events stay pending: wait returns them too.
    assert_eq!(kq.wait(&mut evs, None).unwrap(), 3);
    // Through kevent(), with a receipt.
    let del = Event::new(
        user(20, UserFlags::FFNOP, 0),
        EventFlags::DELETE | EventFlags::RECEIPT,
        0,
    );
    assert_eq!(kq.kevent(&[del], &mut evs, None).unwrap(), 1);
    assert!(evs[0].flags().contains(EventFlags::ERROR) && evs[0].error().is_none());
}

#[test]
fn kqueue_type_cloexec_and_clone() {
    let Some(_probe) = device("kqueue_type_cloexec_and_clone") else {
        return;
    };
    let cloexec = |kq: &Kqueue| {
        rustix::io::fcntl_getfd(kq)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC)
    };
    let kq = Kqueue::new().unwrap();
    assert!(cloexec(&kq), "Kqueue::new is close-on-exec");
    assert!(!cloexec(&Kqueue::new_inheritable().unwrap()));
    // A clone is the same kqueue.
    let clone = kq.try_clone().unwrap();
    let t = Event::new(user(30, UserFlags::TRIGGER, 0), EventFlags::ADD, 0);
    clone.register(&[t]).unwrap();
    let mut evs = Vec::new();
    assert_eq!(kq.drain(&mut evs).unwrap(), 1);
    assert_eq!(evs[0].ident(), 30);
}

#[test]
fn features_report_the_module() {
    let Some(fd) = device("features_report_the_module") else {
        // Without the device the query fails as opening a kqueue does.
        let e = kqueue_linux::features().unwrap_err();
        assert!(matches!(e.raw_os_error(), Some(2 | 6 | 19)), "{e}");
        return;
    };
    let kq = Kqueue::from(fd);
    let f = kqueue_linux::features().expect("features()");
    eprintln!("{f:?}");
    // The same answer through this kqueue, and through the raw ioctl.
    assert_eq!(kq.features().expect("Kqueue::features"), f);
    assert_eq!(
        kqueue_linux::Features::from_raw(raw::features(&kq).unwrap()),
        f
    );

    let r = f.as_raw();
    assert_eq!(f.abi_version(), raw::KQUEUE_ABI_VERSION);
    assert!(f.fdinfo());
    // The close() hook depends on the kernel (CONFIG_FPROBE); no other bit.
    assert_eq!(
        r.features & !(raw::KQUEUE_FEAT_CLOSE_HOOK | raw::KQUEUE_FEAT_FDINFO),
        0
    );
    // The constants; the glob also brings raw::Features, hence the full path
    // of the typed one above.
    use raw::*;
    assert_eq!(
        f.filters().collect::<Vec<_>>(),
        [
            EVFILT_READ,
            EVFILT_WRITE,
            EVFILT_VNODE,
            EVFILT_PROC,
            EVFILT_SIGNAL,
            EVFILT_TIMER,
            EVFILT_PROCDESC,
            EVFILT_USER,
            EVFILT_EMPTY
        ]
    );
    assert!(f.supports(&EventFilter::Read(0)));
    assert!(!f.supports(&EventFilter::Unknown));
    assert_eq!(r.ev_flags, 0x3ff);
    assert_eq!(
        f.event_flags(),
        EventFlags::ADD
            | EventFlags::DELETE
            | EventFlags::ENABLE
            | EventFlags::DISABLE
            | EventFlags::ONESHOT
            | EventFlags::CLEAR
            | EventFlags::RECEIPT
            | EventFlags::DISPATCH
            | EventFlags::FORCEONESHOT
            | EventFlags::KEEPUDATA
    );
    assert_eq!(f.kevent_flags(), KQUEUE_KEVENT_FLAGS);
    assert_eq!(f.max_changes(), KQUEUE_MAX_CHANGES);
    assert_eq!(f.max_events(), KQUEUE_MAX_EVENTS);
    let fd_notes = NOTE_LOWAT | NOTE_FILE_POLL;
    let vnode_notes = NOTE_DELETE
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
    let expected = [
        (EVFILT_READ, fd_notes),
        (EVFILT_WRITE, fd_notes),
        (EVFILT_VNODE, vnode_notes),
        (EVFILT_PROC, NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK),
        (EVFILT_SIGNAL, 0),
        (
            EVFILT_TIMER,
            NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS | NOTE_ABSTIME,
        ),
        (EVFILT_PROCDESC, NOTE_EXIT),
        (
            EVFILT_USER,
            NOTE_FFCTRLMASK | NOTE_FFLAGSMASK | NOTE_TRIGGER,
        ),
        (EVFILT_EMPTY, fd_notes),
    ];
    for filter in -16..=-1 {
        let want = expected
            .iter()
            .find(|&&(f, _)| f == filter)
            .map_or(0, |&(_, n)| n);
        assert_eq!(f.accepted_fflags(filter), want, "filter {filter}");
    }
    assert_eq!(vnode_notes, 0xfff);
    assert_eq!(r.reserved0, 0);
    assert_eq!(r.reserved, [0; 4]);
    // The limits in force: the module's parameters (the test VMs' values are
    // in the environment as KQ_<PARAMETER>) or their defaults.
    let expect = |name: &str, default: u32| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let limits = f.user_limits();
    assert_eq!(limits.knotes, Some(expect("KQ_MAX_USER_KNOTES", 1 << 20)));
    assert_eq!(limits.timers, Some(expect("KQ_MAX_USER_TIMERS", 4096)));
    assert_eq!(
        limits.proc_watches,
        Some(expect("KQ_MAX_USER_PROC_WATCHES", 8192))
    );
    assert_eq!(
        limits.vnode_watches,
        Some(expect("KQ_MAX_USER_VNODE_WATCHES", 65536))
    );

    // What the report calls unsupported is refused.
    for filter in -16..=-1 {
        if f.supports_filter(filter) {
            continue;
        }
        let k = raw::Kevent {
            ident: 1,
            filter,
            flags: EV_ADD,
            ..Default::default()
        };
        assert_eq!(
            errno(apply(&kq, &[Event::from_raw(k)])),
            EINVAL,
            "filter {filter}"
        );
    }
}

/// The `knotes:` count and the `knote:` lines of the kqueue's fdinfo.
fn fdinfo(kq: &impl AsRawFd) -> (usize, Vec<String>) {
    let path = format!("/proc/self/fdinfo/{}", kq.as_raw_fd());
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let count = text
        .lines()
        .find_map(|l| l.strip_prefix("knotes:\t"))
        .unwrap_or_else(|| panic!("no knotes line in {text:?}"))
        .parse()
        .unwrap();
    let lines = text
        .lines()
        .filter_map(|l| l.strip_prefix("knote:\t"))
        .map(str::to_string)
        .collect();
    (count, lines)
}

#[test]
fn fdinfo_lists_knotes_and_close_removes_them() {
    let Some(_probe) = device("fdinfo_lists_knotes_and_close_removes_them") else {
        return;
    };
    let kq = Kqueue::new().unwrap();
    let f = kq.features().unwrap();
    assert!(f.fdinfo(), "the module lists knotes in fdinfo");
    assert_eq!(fdinfo(&kq), (0, vec![]));

    let add = Event::new(
        user(77, UserFlags::FFNOP, 0),
        EventFlags::ADD | EventFlags::CLEAR,
        0x1234,
    );
    // Through kevent(): register() adds EV_RECEIPT, which the knote keeps.
    apply(&kq, &[add]).unwrap();
    let (r, _w) = std::io::pipe().unwrap();
    let rfd = r.as_raw_fd();
    apply(
        &kq,
        &[Event::new(EventFilter::Read(rfd), EventFlags::ADD, 0)],
    )
    .unwrap();
    let (n, lines) = fdinfo(&kq);
    assert_eq!(n, 2, "{lines:?}");
    assert!(
        lines.contains(&format!(
            "ident {rfd} filter READ flags 0x0 fflags 0x0 data 0 udata 0x0 state -"
        )),
        "{lines:?}"
    );
    assert!(
        lines.contains(
            &"ident 77 filter USER flags 0x20 fflags 0x0 data 0 udata 0x1234 state -".to_string()
        ),
        "{lines:?}"
    );
    kq.register(&[Event::new(
        user(77, UserFlags::TRIGGER, 0),
        EventFlags::KEEPUDATA,
        0,
    )])
    .unwrap();
    assert!(
        fdinfo(&kq)
            .1
            .iter()
            .any(|l| l.starts_with("ident 77 filter USER") && l.ends_with(" state active,queued")),
        "{:?}",
        fdinfo(&kq).1
    );

    // close() deletes the pipe's knote at once where the close() hook is
    // active; elsewhere it is found later (a kevent() call, not a read of
    // fdinfo).
    drop(r);
    let (n, lines) = fdinfo(&kq);
    assert_eq!(n, if f.close_hook() { 1 } else { 2 }, "{f:?}: {lines:?}");
}
