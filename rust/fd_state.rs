// SPDX-License-Identifier: GPL-2.0

//! What `EVFILT_READ`, `EVFILT_WRITE` and `EVFILT_EMPTY` report about a file (`data`, EOF,
//! errors), measured per kind of file: pipes and FIFOs, sockets, regular files.

use core::ptr::{addr_of, read_volatile};

use kernel::{bindings, fs::File};

use crate::sys;

/// The kind of a watched file, as far as the descriptor filters care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum FdKind {
    /// Anything else: measured by its poll mask alone.
    #[default]
    Other,
    /// A pipe, or an opened FIFO.
    Pipe,
    /// A socket that is not listening.
    Socket,
    /// A listening socket.
    Listen,
    /// A regular file.
    Regular,
}

/// A file's numbers.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FdState {
    /// Bytes readable, or pending connections.
    pub(crate) rdata: i64,
    /// Bytes writable without blocking.
    pub(crate) wdata: i64,
    /// Bytes written but not yet consumed; -1 if unknown.
    pub(crate) outq: i64,
    /// No more data will come.
    pub(crate) rd_eof: bool,
    /// Writing is no longer possible.
    pub(crate) wr_eof: bool,
    /// Pending socket error.
    pub(crate) err: u32,
    pub(crate) kind: FdKind,
}

/// `TCP_LISTEN` (`include/net/tcp_states.h`, an enum the bindings do not carry).
const TCP_LISTEN: u8 = 10;
/// `SIOCINQ` and `SIOCOUTQ` (`FIONREAD`, `TIOCOUTQ`).
const SIOCINQ: i32 = bindings::FIONREAD as i32;
const SIOCOUTQ: i32 = bindings::TIOCOUTQ as i32;
/// `RCV_SHUTDOWN` and `SEND_SHUTDOWN` (`include/net/sock.h`).
const RCV_SHUTDOWN: u8 = 1;
const SEND_SHUTDOWN: u8 = 2;

fn inode_mode(file: &File) -> u32 {
    // SAFETY: A live file has a live inode, whose mode does not change while it is open.
    u32::from(unsafe { (*(*file.as_ptr()).f_inode).i_mode })
}

/// The pipe behind `file`, if it is a pipe or an opened FIFO.
fn pipe_of(file: &File) -> Option<*mut sys::pipe_inode_info> {
    if inode_mode(file) & bindings::S_IFMT != bindings::S_IFIFO {
        return None;
    }
    // SAFETY: The file is live, so are its inode and the inode's pipe, which lives as long as
    // a file of it is open; `private_data` of an opened FIFO or pipe is its pipe.
    unsafe {
        let f = file.as_ptr();
        let pipe = (*(*f).f_inode)
            .__bindgen_anon_5
            .i_pipe
            .cast::<sys::pipe_inode_info>();
        (!pipe.is_null() && (*f).private_data == pipe.cast()).then_some(pipe)
    }
}

/// The socket behind `file`, if it is one.
fn sock_of(file: &File) -> Option<*mut sys::sock> {
    // SAFETY: Any live file may be asked.
    let sock = unsafe { bindings::sock_from_file(file.as_ptr()) };
    if sock.is_null() {
        return None;
    }
    // SAFETY: A socket file's socket lives as long as the file.
    Some(unsafe { (*sock).sk }.cast::<sys::sock>())
}

/// Whether the socket `sk` (not NULL) is listening.
///
/// # Safety
///
/// `sk` is the live sock of a live socket file.
unsafe fn listening(sk: *mut sys::sock) -> bool {
    // SAFETY: Per the contract; a racy read, as READ_ONCE.
    unsafe { read_volatile(addr_of!((*sk).__sk_common.skc_state)) == TCP_LISTEN }
}

/// The kind of `file`.
pub(crate) fn kind(file: &File) -> FdKind {
    if pipe_of(file).is_some() {
        return FdKind::Pipe;
    }
    if let Some(sk) = sock_of(file) {
        // SAFETY: `sk` belongs to the live socket file.
        return if !sk.is_null() && unsafe { listening(sk) } {
            FdKind::Listen
        } else {
            FdKind::Socket
        };
    }
    if inode_mode(file) & bindings::S_IFMT == bindings::S_IFREG {
        return FdKind::Regular;
    }
    FdKind::Other
}

/// Measures `file`. May take the file's locks (a pipe's mutex): process context.
pub(crate) fn measure(file: &File) -> FdState {
    let mut st = FdState {
        outq: -1,
        ..Default::default()
    };
    if let Some(pipe) = pipe_of(file) {
        // SAFETY: `pipe` is the live pipe of the live file.
        unsafe { measure_pipe(pipe, &mut st) };
    } else if let Some(sk) = sock_of(file) {
        st.kind = FdKind::Socket;
        if !sk.is_null() {
            // SAFETY: `sk` is the live sock of the live socket file.
            unsafe { measure_sock(sk, &mut st) };
        }
    } else if inode_mode(file) & bindings::S_IFMT == bindings::S_IFREG {
        st.kind = FdKind::Regular;
        // SAFETY: The inode of a live file is live; the position is read racily, as the C
        // side would with READ_ONCE.
        st.rdata = unsafe {
            let f = file.as_ptr();
            sys::i_size_read((*f).f_inode) - read_volatile(addr_of!((*f).f_pos))
        };
    }
    st
}

/// Whether the pipe of `file` (a read end) has nothing to report now: an empty ring and a
/// writer left (so no end of file). Reads what `pipe_poll()` reads, the same way, without the
/// pipe mutex: callable in any context. `false` if `file` is not a pipe.
pub(crate) fn pipe_read_quiet(file: &File) -> bool {
    let Some(pipe) = pipe_of(file) else {
        return false;
    };
    // SAFETY: The pipe of a live file is live. Racy reads, as `pipe_poll()`'s `READ_ONCE`s: the
    // ring's indices in one word, then the writer count.
    unsafe {
        let (head, tail) = ring_indices(pipe);
        head == tail && read_volatile(addr_of!((*pipe).writers)) > 0
    }
}

/// The ring's `(head, tail)`, read in one word (`READ_ONCE`, as `pipe_poll()` does).
///
/// # Safety
///
/// `pipe` is the live pipe of a live file.
unsafe fn ring_indices(pipe: *mut sys::pipe_inode_info) -> (u32, u32) {
    // SAFETY: Per the contract.
    let head_tail = unsafe { sys::pipe_head_tail(pipe) };
    // `union pipe_index`: `head_tail` overlays `{ head, tail }` (32-bit indices on 64-bit
    // kernels), head first in memory.
    if cfg!(target_endian = "little") {
        (head_tail as u32, (head_tail >> 32) as u32)
    } else {
        ((head_tail >> 32) as u32, head_tail as u32)
    }
}

/// # Safety
///
/// `pipe` is the live pipe of a live file.
unsafe fn measure_pipe(pipe: *mut sys::pipe_inode_info, st: &mut FdState) {
    let mut bytes: i64 = 0;
    // SAFETY: Per the contract; the pipe's fields are read under its mutex.
    unsafe {
        sys::pipe_lock(pipe);
        let (head, tail) = ring_indices(pipe);
        // `pipe_buf()`: the ring has `ring_size` (a power of two) slots.
        let mask = (*pipe).ring_size.wrapping_sub(1);
        let bufs = (*pipe).bufs;
        let mut i = tail;
        while i != head {
            bytes += i64::from((*bufs.add((i & mask) as usize)).len);
            i = i.wrapping_add(1);
        }
        st.wdata = (i64::from((*pipe).max_usage) * bindings::PAGE_SIZE as i64 - bytes).max(0);
        st.rd_eof = (*pipe).writers == 0;
        st.wr_eof = (*pipe).readers == 0;
        sys::pipe_unlock(pipe);
    }
    st.rdata = bytes;
    st.outq = bytes;
    st.kind = FdKind::Pipe;
}

/// # Safety
///
/// `sk` is the live sock of a live socket file.
unsafe fn measure_sock(sk: *mut sys::sock, st: &mut FdState) {
    // SAFETY: Per the contract. Fields that change under the socket's lock are read racily, as
    // the poll functions do (READ_ONCE).
    unsafe {
        let family = u32::from((*sk).__sk_common.skc_family);
        if listening(sk) {
            // AF_UNIX queues embryos on the receive queue, not the backlog.
            st.rdata = if family == bindings::AF_UNIX {
                i64::from(read_volatile(addr_of!((*sk).sk_receive_queue.qlen)))
            } else {
                i64::from(read_volatile(addr_of!((*sk).sk_ack_backlog)))
            };
            st.kind = FdKind::Listen;
        } else if family == bindings::AF_UNIX {
            st.rdata = sys::unix_inq_len(sk) as i64;
            st.outq = sys::unix_outq_len(sk) as i64;
        } else {
            let prot = (*sk).__sk_common.skc_prot;
            if let Some(ioctl) = (!prot.is_null()).then(|| (*prot).ioctl).flatten() {
                let mut karg: i32 = 0;
                if ioctl(sk, SIOCINQ, &mut karg) == 0 {
                    st.rdata = i64::from(karg);
                }
                if ioctl(sk, SIOCOUTQ, &mut karg) == 0 {
                    st.outq = i64::from(karg);
                }
            }
        }
        let sndbuf = i64::from(read_volatile(addr_of!((*sk).sk_sndbuf)));
        st.wdata = (sndbuf - i64::from(sys::sk_wmem_alloc_get(sk))).max(0);
        let shutdown = read_volatile(addr_of!((*sk).sk_shutdown));
        st.rd_eof = shutdown & RCV_SHUTDOWN != 0;
        st.wr_eof = shutdown & SEND_SHUTDOWN != 0;
        st.err = read_volatile(addr_of!((*sk).sk_err)) as u32;
    }
}
