//! Watches a pipe, a signal, a timer and a user event on one kqueue and
//! prints what arrives.
//!
//! Every registered event must arrive (the timer three times); the program
//! exits 0 when they did and 1 on any failure.

use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use kqueue_linux::{kevent, kqueuex, Event, EventFilter, EventFlags, UserDefinedFlags, UserFlags};

const SIGWINCH: i32 = 28;

/// Registers one change.
fn register(kq: &impl std::os::fd::AsFd, what: &str, change: Event) -> io::Result<()> {
    kevent(kq, &[change], &mut Vec::new(), None)
        .map_err(|e| io::Error::new(e.kind(), format!("registering {what}: {e}")))?;
    println!("registered {what}");
    Ok(())
}

fn run() -> io::Result<()> {
    let kq = kqueuex(true).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot open {}: {e}", kqueue_linux::raw::KQUEUE_DEVICE),
        )
    })?;

    let (reader, mut writer) = io::pipe()?;
    let pipe = Event::new(EventFilter::Read(reader.as_raw_fd()), EventFlags::ADD, 1);
    register(&kq, "pipe (EVFILT_READ)", pipe)?;
    writer.write_all(b"hello")?;

    // SIGWINCH is ignored by default, so raising it is harmless.
    let signal = EventFilter::Signal {
        signal: SIGWINCH,
        times: 0,
    };
    register(
        &kq,
        "SIGWINCH (EVFILT_SIGNAL)",
        Event::new(signal, EventFlags::ADD, 2),
    )?;
    rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::WINCH)?;

    let timer = EventFilter::Timer {
        ident: 3,
        timer: Some(Duration::from_millis(50)),
        absolute: false,
    };
    register(
        &kq,
        "50 ms timer (EVFILT_TIMER)",
        Event::new(timer, EventFlags::ADD, 3),
    )?;

    let user = |flags, bits| EventFilter::User {
        ident: 4,
        flags,
        user_flags: UserDefinedFlags::new(bits),
    };
    register(
        &kq,
        "user event (EVFILT_USER)",
        Event::new(
            user(UserFlags::FFNOP, 0),
            EventFlags::ADD | EventFlags::CLEAR,
            4,
        ),
    )?;

    let mut events = Vec::with_capacity(8);
    let (mut timer_fired, mut user_fired) = (0, false);
    let (mut pipe_seen, mut signal_seen) = (false, false);
    for round in 0..50 {
        if round == 1 {
            // Trigger the user event, storing 0x2a in its flags and 7 in data.
            let trigger = Event::new(
                user(UserFlags::FFCOPY | UserFlags::TRIGGER, 0x2a),
                EventFlags::KEEPUDATA,
                0,
            )
            .with_data(7);
            kevent(&kq, &[trigger], &mut Vec::new(), None)?;
        }
        kevent(&kq, &[], &mut events, Some(Duration::from_secs(2)))?;
        for ev in &events {
            match ev.filter() {
                EventFilter::Timer { ident, .. } => {
                    timer_fired += 1;
                    println!("timer {ident}: {} expiration(s)", ev.data());
                }
                EventFilter::User {
                    ident, user_flags, ..
                } => {
                    user_fired = true;
                    println!(
                        "user {ident}: flags {:#x}, data {}",
                        user_flags.get(),
                        ev.data()
                    );
                }
                EventFilter::Read(fd) => {
                    pipe_seen = true;
                    println!("pipe {fd}: {} byte(s) to read", ev.data());
                    // Drain the pipe so that it does not stay readable.
                    let mut buf = [0u8; 64];
                    io::Read::read(&mut &reader, &mut buf)?;
                }
                EventFilter::Signal { signal, times } => {
                    signal_seen = true;
                    println!("signal {signal}: delivered {times} time(s)");
                }
                _ => println!("other event: {ev:?}"),
            }
        }
        if timer_fired >= 3 && user_fired && pipe_seen && signal_seen {
            println!("done: saw the timer {timer_fired} times and every other event");
            return Ok(());
        }
    }
    Err(io::Error::other(format!(
        "timed out: timer fired {timer_fired} times, user event seen: {user_fired}, \
         pipe seen: {pipe_seen}, signal seen: {signal_seen}"
    )))
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("watch: {e}");
            ExitCode::FAILURE
        }
    }
}
