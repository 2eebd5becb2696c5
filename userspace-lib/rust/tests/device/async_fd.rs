//! The kqueue's descriptor in tokio's `AsyncFd`: events served by an async
//! task. Part of the `device` test binary (`rust_integration` in the VM), so
//! it skips without the device unless `KQ_REQUIRE_DEVICE=1`.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use kqueue_linux::{Event, EventFilter, EventFlags, Kqueue, UserFlags};
use tokio::io::{unix::AsyncFd, Interest};

use super::{device, timer, user};

/// A bound on every test here: a lost wake-up fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(30);

/// The kqueue in an `AsyncFd` of `rt`, interested in readability.
fn async_kqueue(rt: &tokio::runtime::Runtime, kq: Kqueue) -> Arc<AsyncFd<Kqueue>> {
    let _enter = rt.enter();
    // SAFETY: a Kqueue owns its descriptor and never changes it, as
    // `register_with_interest` requires.
    let afd = unsafe { AsyncFd::register_with_interest(kq, Interest::READABLE) };
    Arc::new(afd.expect("AsyncFd accepts the kqueue"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

macro_rules! kqueue_or_skip {
    ($name:expr) => {
        match device($name) {
            Some(fd) => Kqueue::from(fd),
            None => return,
        }
    };
}

/// Serves events as an event loop does: waits for the descriptor to be
/// readable, drains, hands each event to `handle` until it returns true.
/// Returns the events seen and the number of times the task woke up.
async fn serve(
    kq: Arc<AsyncFd<Kqueue>>,
    mut handle: impl FnMut(&Event) -> bool,
) -> io::Result<(Vec<Event>, usize)> {
    let mut events = Vec::with_capacity(8);
    let mut seen = Vec::new();
    let mut wakeups = 0;
    loop {
        let mut ready = kq.readable().await?;
        wakeups += 1;
        let Ok(n) = ready.try_io(|kq| kq.get_ref().drain(&mut events)) else {
            continue;
        };
        n?;
        for ev in &events {
            seen.push(*ev);
            if handle(ev) {
                return Ok((seen, wakeups));
            }
        }
    }
}

/// Runs `server` on `rt`, failing the test after `LIMIT`.
fn finish<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    server: tokio::task::JoinHandle<io::Result<T>>,
) -> T {
    rt.block_on(async { tokio::time::timeout(LIMIT, server).await })
        .expect("the server finished in time")
        .expect("the server task")
        .expect("the server's I/O")
}

#[test]
fn tokio_async_fd_serves_events() {
    let kq = kqueue_or_skip!("tokio_async_fd_serves_events");
    let (reader, mut writer) = std::io::pipe().unwrap();
    let rfd = reader.as_raw_fd();
    kq.register(&[
        Event::new(
            user(1, UserFlags::FFNOP, 0),
            EventFlags::ADD | EventFlags::CLEAR,
            10,
        ),
        Event::new(EventFilter::Read(rfd), EventFlags::ADD, 20),
        Event::new(timer(3, Duration::from_millis(10)), EventFlags::ADD, 30),
    ])
    .unwrap();

    let rt = runtime();
    let kq = async_kqueue(&rt, kq);

    // Another thread makes things happen while the runtime's only thread is
    // parked in epoll_wait: only the kqueue's readiness can wake it.
    let remote = Arc::clone(&kq);
    let poker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let trigger =
            Event::new(user(1, UserFlags::TRIGGER, 0), EventFlags::KEEPUDATA, 0).with_data(7);
        remote.get_ref().register(&[trigger]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        std::io::Write::write_all(&mut writer, b"hello").unwrap();
        writer
    });

    let (mut user_seen, mut pipe_seen, mut ticks) = (false, false, 0);
    let server = rt.spawn(serve(Arc::clone(&kq), move |ev| {
        match ev.filter() {
            EventFilter::User { ident: 1, .. } => user_seen = true,
            EventFilter::Read(fd) if fd == rfd => {
                pipe_seen = true;
                // Level-triggered: read the pipe, or it is reported again.
                let mut buf = [0u8; 16];
                assert_eq!(std::io::Read::read(&mut &reader, &mut buf).unwrap(), 5);
            }
            EventFilter::Timer { ident: 3, .. } => ticks += 1,
            _ => panic!("unexpected event {ev:?}"),
        }
        user_seen && pipe_seen && ticks >= 3
    }));
    let (seen, wakeups) = finish(&rt, server);
    drop(poker.join().unwrap());
    assert!(wakeups >= 2, "{wakeups} wake-ups");
    let user_ev = seen.iter().find(|e| e.ident() == 1).unwrap();
    assert_eq!((user_ev.udata(), user_ev.data()), (10, 7), "{user_ev:?}");
    let pipe_ev = seen.iter().find(|e| e.ident() == rfd as u64).unwrap();
    assert_eq!((pipe_ev.udata(), pipe_ev.data()), (20, 5), "{pipe_ev:?}");
    assert!(seen
        .iter()
        .filter(|e| e.ident() == 3)
        .all(|e| e.udata() == 30));
}

#[test]
fn tokio_async_fd_wakes_again_after_would_block() {
    // A ping-pong: each user event is triggered from another thread only
    // after the server saw the previous one and drained the kqueue to
    // WouldBlock, so each needs a new wake-up through epoll.
    const ROUNDS: i64 = 20;
    let kq = kqueue_or_skip!("tokio_async_fd_wakes_again_after_would_block");
    let add = Event::new(
        user(5, UserFlags::FFNOP, 0),
        EventFlags::ADD | EventFlags::CLEAR,
        0,
    );
    kq.register(&[add]).unwrap();

    let rt = runtime();
    let kq = async_kqueue(&rt, kq);
    let (ack, acks) = mpsc::channel();
    let remote = Arc::clone(&kq);
    let poker = std::thread::spawn(move || {
        for round in 1..=ROUNDS {
            let trigger =
                Event::new(user(5, UserFlags::TRIGGER, 0), EventFlags::empty(), 0).with_data(round);
            remote.get_ref().register(&[trigger]).unwrap();
            // Wait for the server (bounded: the test's limit fails it anyway).
            if acks.recv_timeout(LIMIT) != Ok(round) {
                return false;
            }
        }
        true
    });
    let mut expected = 1;
    let server = rt.spawn(serve(Arc::clone(&kq), move |ev| {
        assert_eq!(ev.data(), expected, "{ev:?}");
        ack.send(expected).unwrap();
        expected += 1;
        expected > ROUNDS
    }));
    let (seen, wakeups) = finish(&rt, server);
    assert!(poker.join().unwrap(), "the poker thread saw every ack");
    assert_eq!(seen.len(), ROUNDS as usize);
    assert!(wakeups >= ROUNDS as usize, "{wakeups} wake-ups");
}
