//! A kqueue driven by tokio: the kqueue's descriptor is registered in
//! tokio's `AsyncFd`, and an async task serves its events while other tasks
//! go on.
//!
//! The kqueue watches a 100 ms timer, a user event and a pipe. One task
//! serves the events; another triggers the user event and writes into the
//! pipe, using tokio's timers. The program prints what the server receives
//! and exits 0 once every event arrived (the timer three times), 1 on an
//! error or after 10 seconds.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use kqueue_linux::{Event, EventFilter, EventFlags, Kqueue, UserDefinedFlags, UserFlags};
use tokio::io::{unix::AsyncFd, Interest};

const TIMER: u64 = 1;
const USER: u64 = 2;

fn user(flags: UserFlags, bits: u32) -> EventFilter {
    EventFilter::User {
        ident: USER,
        flags,
        user_flags: UserDefinedFlags::new(bits),
    }
}

/// Serves the kqueue's events until the timer fired three times and the
/// user and pipe events came; reads the pipe when it is readable.
async fn serve(kq: Arc<AsyncFd<Kqueue>>, reader: io::PipeReader) -> io::Result<()> {
    let mut events = Vec::with_capacity(16);
    let (mut ticks, mut user_seen, mut pipe_seen) = (0, false, false);
    while ticks < 3 || !user_seen || !pipe_seen {
        // Wait until the kqueue's descriptor is readable, then take what is
        // pending; WouldBlock (nothing left) clears the readiness.
        let mut ready = kq.readable().await?;
        let Ok(n) = ready.try_io(|kq| kq.get_ref().drain(&mut events)) else {
            continue;
        };
        n?;
        for ev in &events {
            match ev.filter() {
                EventFilter::Timer { .. } => {
                    ticks += 1;
                    println!("timer: {} expiration(s)", ev.data());
                }
                EventFilter::User { user_flags, .. } => {
                    user_seen = true;
                    println!(
                        "user event: flags {:#x}, data {}",
                        user_flags.get(),
                        ev.data()
                    );
                }
                EventFilter::Read(fd) => {
                    let mut buf = [0u8; 64];
                    let len = io::Read::read(&mut &reader, &mut buf)?;
                    pipe_seen = true;
                    println!("pipe {fd}: read {:?}", String::from_utf8_lossy(&buf[..len]));
                }
                _ => println!("other event: {ev:?}"),
            }
        }
    }
    Ok(())
}

async fn run() -> io::Result<()> {
    let kq = Kqueue::new().map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open {}: {e}", kqueue_linux::raw::KQUEUE_DEVICE),
        )
    })?;
    let (reader, mut writer) = io::pipe()?;
    let tick = EventFilter::Timer {
        ident: TIMER,
        timer: Some(Duration::from_millis(100)),
        absolute: false,
    };
    kq.register(&[
        Event::new(tick, EventFlags::ADD, 0),
        Event::new(
            user(UserFlags::FFNOP, 0),
            EventFlags::ADD | EventFlags::CLEAR,
            0,
        ),
        Event::new(EventFilter::Read(reader.as_raw_fd()), EventFlags::ADD, 0),
    ])?;
    // SAFETY: a Kqueue owns its descriptor and never changes it, as
    // `register_with_interest` requires.
    let kq = Arc::new(unsafe { AsyncFd::register_with_interest(kq, Interest::READABLE) }?);
    let server = tokio::spawn(serve(Arc::clone(&kq), reader));

    // Meanwhile, another task makes things happen.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let trigger = Event::new(
        user(UserFlags::FFCOPY | UserFlags::TRIGGER, 0x2a),
        EventFlags::empty(),
        0,
    )
    .with_data(7);
    kq.get_ref().register(&[trigger])?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    writer.write_all(b"hello")?;

    match tokio::time::timeout(Duration::from_secs(10), server).await {
        Ok(joined) => joined.map_err(io::Error::other)?,
        Err(_) => Err(io::Error::other("timed out waiting for the events")),
    }
}

fn main() -> ExitCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(run()) {
        Ok(()) => {
            println!("done: every event arrived through tokio");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tokio_events: {e}");
            ExitCode::FAILURE
        }
    }
}
