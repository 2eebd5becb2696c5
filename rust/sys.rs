// SPDX-License-Identifier: GPL-2.0

//! The module-local bindings: C functions and types the kernel crate does not bind.
//!
//! Generated at build time by bindgen (see `Kbuild`) from `kq_helpers.c`, limited to what
//! `bindgen_parameters` names and to the `kq_helper_*` one-line wrappers, which appear here
//! under the name of what they wrap. Types the generated items refer to resolve to the kernel
//! crate's bindings through the glob import below, so they mix freely with the kernel crate.

// Generated code: names follow C, and which of these lints fire depends on the kernel's config.
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    improper_ctypes,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    clippy::all,
    clippy::as_underscore,
    clippy::cast_lossless,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::undocumented_unsafe_blocks
)]

#[allow(unused_imports)]
pub(crate) use kernel::bindings::*;

include!(env!("KQ_SYS_GENERATED"));
