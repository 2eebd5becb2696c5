// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue: one-line wrappers of static inline functions and macros that the
 * kernel crate does not wrap, for the module's Rust code. Each is named
 * kq_helper_<what it wraps>; bindgen (Kbuild) gives it to Rust under the
 * wrapped name, as the kernel does with rust/helpers/ (rust/sys.rs).
 */

#include <linux/poll.h>

__poll_t kq_helper_vfs_poll(struct file *file, struct poll_table_struct *pt)
{
	return vfs_poll(file, pt);
}
