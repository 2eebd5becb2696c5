//! [`Kqueue`]: an owned kqueue descriptor with the kevent() calls as methods.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::{features, kevent, raw, Event, EventFlags, Features};

/// Changes per kevent() call in [`Kqueue::register`] (each needs room for its
/// receipt).
const REGISTER_BATCH: usize = 256;

/// Room [`Kqueue::drain`] reserves when the vector has none.
const DRAIN_DEFAULT_CAPACITY: usize = 64;

/// A kqueue: an open file of `/dev/kqueue`, owned.
///
/// Dropping it closes the descriptor (it holds an [`OwnedFd`]), which deletes
/// every knote and cancels every timer of the kqueue once no other
/// descriptor refers to it. It implements [`AsFd`] and [`AsRawFd`], so it can
/// be polled by an event loop: the descriptor is readable while events are
/// pending (for example with tokio's `AsyncFd`, see [`Kqueue::drain`]).
/// [`AsRawFd::as_raw_fd`] returns the same descriptor for the whole life of
/// the value, and no method replaces it, which is what `unsafe` registrations
/// such as tokio's `AsyncFd::register` ask of their caller.
///
/// The kqueue belongs to the process that opened it: the methods fail with
/// EBADF in a child process after `fork()`, or in any other process the
/// descriptor is passed to.
///
/// ```no_run
/// use kqueue_linux::{Event, EventFilter, EventFlags, Kqueue};
/// use std::time::Duration;
///
/// let kq = Kqueue::new()?;
/// let tick = EventFilter::Timer { ident: 1, timer: Some(Duration::from_millis(100)), absolute: false };
/// kq.register(&[Event::new(tick, EventFlags::ADD, 0)])?;
/// let mut events = Vec::with_capacity(16);
/// kq.wait(&mut events, Some(Duration::from_secs(1)))?;
/// for ev in &events {
///     println!("{:?}: {} expiration(s)", ev.filter(), ev.data());
/// }
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Kqueue {
    fd: OwnedFd,
}

impl Kqueue {
    /// Opens a new kqueue, with close-on-exec set, as the standard library
    /// opens every descriptor.
    ///
    /// Fails with ENOENT when the kqueue module is not loaded (no
    /// `/dev/kqueue`), ENODEV or ENXIO for a device node without its driver.
    pub fn new() -> io::Result<Self> {
        raw::kqueuex(raw::KQUEUE_CLOEXEC).map(Self::from)
    }

    /// Opens a new kqueue whose descriptor is inherited across `execve()`
    /// (like kqueue(2) in C). Only the process that opened it can use it.
    pub fn new_inheritable() -> io::Result<Self> {
        raw::kqueue().map(Self::from)
    }

    /// kevent(2): applies `changes`, then collects events into the spare
    /// capacity of `events`, waiting at most `timeout` when none is pending.
    ///
    /// The same as the free function [`kevent`], which documents the rules.
    pub fn kevent(
        &self,
        changes: &[Event],
        events: &mut Vec<Event>,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        kevent(self, changes, events, timeout)
    }

    /// Waits at most `timeout` (`None`: forever) for events and collects them
    /// into the spare capacity of `events` (cleared first); returns their
    /// number, 0 when the timeout expired.
    pub fn wait(&self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<usize> {
        kevent(self, &[], events, timeout)
    }

    /// Applies every change, without collecting events (none is consumed),
    /// and returns the error of the first change that failed, if any.
    ///
    /// Each change is sent with [`EventFlags::RECEIPT`], so a failing change
    /// does not stop the ones after it: they are all applied or attempted.
    /// To know which one failed, send them with `RECEIPT` through
    /// [`Kqueue::kevent`] and look at each entry's [`Event::error`]. Changes
    /// with filter 0 are skipped, as the kernel skips them.
    pub fn register(&self, changes: &[Event]) -> io::Result<()> {
        let mut first_error = None;
        let mut batch = Vec::with_capacity(changes.len().min(REGISTER_BATCH));
        let mut receipts = Vec::with_capacity(batch.capacity());
        for chunk in changes.chunks(REGISTER_BATCH) {
            batch.clear();
            batch.extend(chunk.iter().filter(|c| c.as_raw().filter != 0).map(|c| {
                let mut k = c.into_raw();
                k.flags |= EventFlags::RECEIPT.bits();
                Event::from_raw(k)
            }));
            if batch.is_empty() {
                continue;
            }
            // Every change has a receipt and room for it, so the call returns
            // the receipts and never collects (nor waits for) an event.
            receipts.reserve(batch.len());
            kevent(self, &batch, &mut receipts, Some(Duration::ZERO))?;
            if first_error.is_none() {
                first_error = receipts.iter().find_map(Event::error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Collects the pending events without waiting, like a read on a
    /// non-blocking descriptor: fills the spare capacity of `events`
    /// (cleared first; with no capacity, room for 64 is reserved) and returns
    /// the number of events, or an error of kind
    /// [`io::ErrorKind::WouldBlock`] when none is pending.
    ///
    /// That makes it the read operation of an event loop that polls the
    /// kqueue's descriptor, for example tokio's `AsyncFd`:
    ///
    /// ```no_run
    /// use kqueue_linux::Kqueue;
    /// use tokio::io::{unix::AsyncFd, Interest};
    ///
    /// async fn serve(kq: Kqueue) -> std::io::Result<()> {
    ///     // SAFETY: a Kqueue owns its descriptor and never changes it.
    ///     let kq = unsafe { AsyncFd::register_with_interest(kq, Interest::READABLE) }?;
    ///     let mut events = Vec::with_capacity(64);
    ///     loop {
    ///         let mut ready = kq.readable().await?;
    ///         // WouldBlock clears the readiness: the loop waits again.
    ///         let Ok(n) = ready.try_io(|kq| kq.get_ref().drain(&mut events)) else {
    ///             continue;
    ///         };
    ///         for ev in &events[..n?] {
    ///             println!("{ev:?}");
    ///         }
    ///     }
    /// }
    /// ```
    ///
    /// A knote that stays ready (level-triggered, without
    /// [`EventFlags::CLEAR`]) is reported by every call until its condition
    /// goes away, so a loop that calls `drain` until `WouldBlock` must act on
    /// such events (read the pipe, delete the knote, ...).
    pub fn drain(&self, events: &mut Vec<Event>) -> io::Result<usize> {
        if events.capacity() == 0 {
            events.reserve(DRAIN_DEFAULT_CAPACITY);
        }
        match kevent(self, &[], events, Some(Duration::ZERO))? {
            0 => Err(io::ErrorKind::WouldBlock.into()),
            n => Ok(n),
        }
    }

    /// What the module implements (Linux-specific), asked through this
    /// kqueue; the same as [`crate::features`], without opening another
    /// kqueue. Works also where kevent() is EBADF (a kqueue inherited from
    /// another process).
    ///
    /// ENOSYS ([`io::ErrorKind::Unsupported`]) means the module predates the
    /// query, or the descriptor is not a kqueue.
    pub fn features(&self) -> io::Result<Features> {
        features::features_of(self.fd.as_fd())
    }

    /// Duplicates the descriptor (with close-on-exec). Both refer to the
    /// same kqueue.
    pub fn try_clone(&self) -> io::Result<Self> {
        self.fd.try_clone().map(Self::from)
    }
}

/// Takes ownership of a descriptor, which should be a kqueue (anything else
/// makes every call fail with EBADF).
impl From<OwnedFd> for Kqueue {
    fn from(fd: OwnedFd) -> Self {
        Self { fd }
    }
}

impl From<Kqueue> for OwnedFd {
    fn from(kq: Kqueue) -> Self {
        kq.fd
    }
}

impl AsFd for Kqueue {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Kqueue {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl IntoRawFd for Kqueue {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl FromRawFd for Kqueue {
    /// # Safety
    ///
    /// `fd` must be an open descriptor that the caller owns (it is closed
    /// when the `Kqueue` is dropped), as for [`OwnedFd::from_raw_fd`].
    unsafe fn from_raw_fd(fd: RawFd) -> Self {
        // SAFETY: the caller's promise, passed on.
        Self::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}
