// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue: one-line wrappers of static inline functions and macros that the
 * kernel crate does not wrap, for the module's Rust code. Each is named
 * kq_helper_<what it wraps>; bindgen (Kbuild) gives it to Rust under the
 * wrapped name, as the kernel does with rust/helpers/ (rust/sys.rs).
 */

#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/poll.h>
#include <linux/refcount.h>

__poll_t kq_helper_vfs_poll(struct file *file, struct poll_table_struct *pt)
{
	return vfs_poll(file, pt);
}

struct fsnotify_mark *
kq_helper_fsnotify_iter_inode_mark(struct fsnotify_iter_info *iter)
{
	return fsnotify_iter_inode_mark(iter);
}

struct fsnotify_mark *
kq_helper_fsnotify_iter_sb_mark(struct fsnotify_iter_info *iter)
{
	return fsnotify_iter_sb_mark(iter);
}

struct inode *kq_helper_fsnotify_data_inode(const void *data,
					    int data_type)
{
	return fsnotify_data_inode(data, data_type);
}

struct fs_error_report *kq_helper_fsnotify_data_error_report(const void *data,
							    int data_type)
{
	return fsnotify_data_error_report(data, data_type);
}

unsigned int kq_helper_refcount_read(const refcount_t *r)
{
	return refcount_read(r);
}

struct inode *kq_helper_file_inode(const struct file *f)
{
	return file_inode(f);
}

struct mnt_idmap *kq_helper_file_mnt_idmap(const struct file *f)
{
	return file_mnt_idmap(f);
}

loff_t kq_helper_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}
