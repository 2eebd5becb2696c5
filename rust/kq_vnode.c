// SPDX-License-Identifier: GPL-2.0
/*
 * kqueue: EVFILT_VNODE on fsnotify, the C part.
 *
 * The module owns one fsnotify group. A watched inode carries one mark of
 * the group (struct kq_vmark of kind KQ_VMARK_INODE), shared by every knote
 * watching that inode: each knote has a struct kq_vnode_watch on the mark's
 * list. The superblock of each watched inode carries one mark of the group
 * too (KQ_VMARK_SB), shared by the inode marks on it, for two things the
 * inode marks do not see:
 *
 * - rmdir of a watched directory. Linux reports it only to the parent
 *   (FS_DELETE with the victim as data); FS_DELETE_SELF comes when the last
 *   reference to the directory goes, and the watcher's descriptor is one.
 *   The sb mark listens to FS_DELETE only while a directory on that
 *   filesystem is watched (ndirs): then every unlink and rmdir on the
 *   filesystem calls into the module, which costs one mark lookup of the
 *   victim (fsnotify_find_mark()), whatever the number of watches.
 * - The filesystem shut down (FS_ERROR with ESHUTDOWN: FS_IOC_SHUTDOWN, or
 *   its block device went away): NOTE_REVOKE for every watched inode on it.
 *   FS_ERROR is rare; a mark listening only to it costs other events on
 *   the filesystem nothing (fsnotify() skips marks whose mask does not
 *   match).
 *
 * Lifetime. A mark is created with one reference, ours, dropped when its
 * last user goes (users: the watches of an inode mark, the inode marks of an
 * sb mark). kq_vnode_mutex serialises creating, finding and destroying
 * marks, so a mark fsnotify_find_mark() returns while we hold the mutex has
 * users. fsnotify may detach a mark on its own (unmount, after FS_UNMOUNT;
 * inode eviction, after FS_DELETE_SELF): it then gets no more events, but
 * the memory stays ours until our reference goes. The memory is freed in
 * ->free_mark(), which fsnotify's reaper calls after an SRCU grace period,
 * when no handler can still be looking at the mark.
 *
 * Locking, in this order: the kqueue mutex (Rust, held around attach and
 * detach); kq_vnode_mutex; group->mark_mutex and fsnotify's mark and
 * connector locks (inside fsnotify_*_mark()); an sb mark's ->lock; an inode
 * mark's ->lock; the kqueue's ready lock (taken by kq_vnode_event() in
 * Rust). The handler runs in the context of the process doing the file
 * operation, under fsnotify's SRCU read lock and sometimes under a
 * directory's i_rwsem: it takes only the mark spinlocks and, through Rust,
 * the ready lock, and it neither sleeps nor allocates.
 */

#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/err.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "../include/uapi/linux/kqueue.h"
#include "kq_vnode.h"

enum kq_vmark_kind {
	KQ_VMARK_INODE,
	KQ_VMARK_SB,
};

/* What an inode mark always listens to. */
#define KQ_VMARK_INODE_BASE \
	(FS_MODIFY | FS_ATTRIB | FS_CREATE | FS_DELETE | FS_MOVED_FROM | \
	 FS_MOVED_TO | FS_DELETE_SELF | FS_MOVE_SELF | FS_UNMOUNT)
/* What it listens to only when a watch asks (frequent events). */
#define KQ_VMARK_INODE_OPT \
	(FS_ACCESS | FS_OPEN | FS_CLOSE_WRITE | FS_CLOSE_NOWRITE)
#define KQ_VMARK_SB_MASK	FS_ERROR
/* Added to an sb mark while a directory on it is watched. */
#define KQ_VMARK_SB_DIRS	FS_DELETE

struct kq_vmark {
	struct fsnotify_mark mark;
	enum kq_vmark_kind kind;
	unsigned int users;		/* [kq_vnode_mutex] */
	/* SB: inode marks of directories on it. INODE: 1 for a directory. */
	unsigned int ndirs;		/* [kq_vnode_mutex] */
	spinlock_t lock;
	/* INODE: kq_vnode_watch.link; SB: kq_vmark.sb_link. [lock] */
	struct list_head list;
	/* The rest: inode marks only. */
	struct list_head sb_link;	/* in sb->list [sb->lock] */
	struct kq_vmark *sb;		/* our sb mark; we are one of its users */
	/* Valid while an event on it is being handled. */
	struct inode *inode;
	loff_t size;			/* size at the last event [lock] */
	unsigned int nlink;		/* link count at the last event [lock] */
	u32 from_cookie;		/* cookie of the last FS_MOVED_FROM [lock] */
};

/* One knote's watch on an inode mark. */
struct kq_vnode_watch {
	struct list_head link;		/* in vm->list [vm->lock] */
	struct kq_vmark *vm;
	void *ctx;			/* the knote, for kq_vnode_event() */
	u32 interest;			/* KQ_NOTE_* wanted [vm->lock] */
	/* What the descriptor referred to; compared, never dereferenced. */
	const struct file *file;
	const struct inode *inode;
};

static struct fsnotify_group *kq_vnode_group;
/* Serialises creating, finding and destroying marks, and users counts. */
static DEFINE_MUTEX(kq_vnode_mutex);
/* Marks allocated and not yet freed by ->free_mark(). */
static atomic_t kq_vnode_nmarks = ATOMIC_INIT(0);

static struct kq_vmark *kq_vmark_of(struct fsnotify_mark *mark)
{
	return container_of(mark, struct kq_vmark, mark);
}

/* Tells every interested watch of @vm. vm->lock held. */
static void kq_vmark_deliver(struct kq_vmark *vm, u32 notes, int eof)
{
	struct kq_vnode_watch *w;

	list_for_each_entry(w, &vm->list, link)
		if (eof || (notes & w->interest))
			kq_vnode_event(w->ctx, notes, eof);
}

/*
 * The notes an event on the inode of @vm means. vm->lock held. Writes and
 * reads come with the file as data; a change of attributes (notify_change:
 * truncate, utimes, ...) with the dentry, a link count change with the
 * inode.
 */
static u32 kq_vmark_notes(struct kq_vmark *vm, u32 mask, int data_type,
			  u32 cookie)
{
	bool io = data_type == FSNOTIFY_EVENT_PATH ||
		  data_type == FSNOTIFY_EVENT_FILE_RANGE;
	struct inode *inode = vm->inode;
	unsigned int nlink;
	u32 notes = 0;

	if ((mask & (FS_MODIFY | FS_ATTRIB)) && !S_ISDIR(inode->i_mode)) {
		loff_t size = i_size_read(inode);

		if (size > vm->size)
			notes |= KQ_NOTE_EXTEND;
		/* A truncation changes the contents. */
		if (size != vm->size && !io)
			notes |= KQ_NOTE_WRITE;
		if (size < vm->size && !io)
			notes |= KQ_NOTE_TRUNCATE;
		vm->size = size;
	}
	if (mask & FS_MODIFY)
		notes |= io ? KQ_NOTE_WRITE : KQ_NOTE_ATTRIB;
	if (mask & FS_ACCESS)
		notes |= io ? KQ_NOTE_READ : KQ_NOTE_ATTRIB;
	if (mask & FS_ATTRIB) {
		nlink = READ_ONCE(inode->i_nlink);
		if (nlink == vm->nlink)
			notes |= KQ_NOTE_ATTRIB;
		else if (nlink == 0)
			notes |= KQ_NOTE_DELETE;
		else
			notes |= KQ_NOTE_LINK;
		vm->nlink = nlink;
	}
	if (mask & (FS_CREATE | FS_DELETE | FS_MOVED_FROM | FS_MOVED_TO)) {
		/* A directory's link count counts its subdirectories. */
		nlink = READ_ONCE(inode->i_nlink);
		notes |= KQ_NOTE_WRITE;
		if (nlink != vm->nlink)
			notes |= KQ_NOTE_LINK;
		vm->nlink = nlink;
		if (mask & FS_MOVED_FROM)
			vm->from_cookie = cookie;
		/* Within one directory, MOVED_FROM comes first, same cookie. */
		if ((mask & FS_MOVED_TO) && cookie != vm->from_cookie)
			notes |= KQ_NOTE_EXTEND;
	}
	if (mask & FS_MOVE_SELF)
		notes |= KQ_NOTE_RENAME;
	if (mask & FS_DELETE_SELF)
		notes |= KQ_NOTE_DELETE;
	if (mask & FS_OPEN)
		notes |= KQ_NOTE_OPEN;
	if (mask & FS_CLOSE_NOWRITE)
		notes |= KQ_NOTE_CLOSE;
	if (mask & FS_CLOSE_WRITE)
		notes |= KQ_NOTE_CLOSE_WRITE;
	if (mask & FS_UNMOUNT)
		notes |= KQ_NOTE_REVOKE;
	return notes;
}

static void kq_vmark_inode_event(struct kq_vmark *vm, u32 mask,
				 int data_type, u32 cookie)
{
	unsigned long flags;
	u32 notes;

	spin_lock_irqsave(&vm->lock, flags);
	notes = kq_vmark_notes(vm, mask, data_type, cookie);
	if (notes)
		kq_vmark_deliver(vm, notes, !!(mask & FS_UNMOUNT));
	spin_unlock_irqrestore(&vm->lock, flags);
}

static void kq_vmark_sb_event(struct kq_vmark *sb, u32 mask, const void *data,
			      int data_type)
{
	const struct fs_error_report *report;
	struct fsnotify_mark *mark;
	struct kq_vmark *vm;
	struct inode *victim;
	unsigned long flags;

	if ((mask & FS_DELETE) && (mask & FS_ISDIR)) {
		/* rmdir: is the removed directory watched? */
		victim = fsnotify_data_inode(data, data_type);
		mark = victim ? fsnotify_find_mark(victim,
						   FSNOTIFY_OBJ_TYPE_INODE,
						   kq_vnode_group) : NULL;
		if (mark) {
			vm = kq_vmark_of(mark);
			spin_lock_irqsave(&vm->lock, flags);
			vm->nlink = 0;
			kq_vmark_deliver(vm, KQ_NOTE_DELETE, 0);
			spin_unlock_irqrestore(&vm->lock, flags);
			/* Not the last inode reference: the caller holds one. */
			fsnotify_put_mark(mark);
		}
	}
	if (mask & FS_ERROR) {
		report = fsnotify_data_error_report(data, data_type);
		if (!report || report->error != ESHUTDOWN)
			return;
		spin_lock_irqsave(&sb->lock, flags);
		list_for_each_entry(vm, &sb->list, sb_link) {
			spin_lock(&vm->lock);
			kq_vmark_deliver(vm, KQ_NOTE_REVOKE, 1);
			spin_unlock(&vm->lock);
		}
		spin_unlock_irqrestore(&sb->lock, flags);
	}
}

static int kq_vnode_handle_event(struct fsnotify_group *group, u32 mask,
				 const void *data, int data_type,
				 struct inode *dir, const struct qstr *name,
				 u32 cookie, struct fsnotify_iter_info *iter_info)
{
	struct fsnotify_mark *mark;

	/* Only our own marks are in @iter_info; parents are never selected. */
	mark = fsnotify_iter_inode_mark(iter_info);
	if (mark)
		kq_vmark_inode_event(kq_vmark_of(mark),
				     mask & READ_ONCE(mark->mask), data_type,
				     cookie);
	mark = fsnotify_iter_sb_mark(iter_info);
	if (mark)
		kq_vmark_sb_event(kq_vmark_of(mark),
				  mask & (READ_ONCE(mark->mask) | FS_ISDIR),
				  data, data_type);
	return 0;
}

static void kq_vnode_free_mark(struct fsnotify_mark *mark)
{
	kfree(kq_vmark_of(mark));
	atomic_dec(&kq_vnode_nmarks);
}

static const struct fsnotify_ops kq_vnode_ops = {
	.handle_event = kq_vnode_handle_event,
	.free_mark = kq_vnode_free_mark,
};

static struct kq_vmark *kq_vmark_alloc(enum kq_vmark_kind kind, u32 mask)
{
	struct kq_vmark *vm;

	vm = kzalloc_obj(*vm, GFP_KERNEL_ACCOUNT);
	if (!vm)
		return NULL;
	fsnotify_init_mark(&vm->mark, kq_vnode_group);
	vm->mark.mask = mask;
	vm->kind = kind;
	INIT_LIST_HEAD(&vm->list);
	INIT_LIST_HEAD(&vm->sb_link);
	atomic_inc(&kq_vnode_nmarks);
	return vm;
}

/* Distinct lock classes: an inode mark's lock nests in its sb mark's. */
static void kq_vmark_init_inode_lock(struct kq_vmark *vm)
{
	spin_lock_init(&vm->lock);
}

static void kq_vmark_init_sb_lock(struct kq_vmark *vm)
{
	spin_lock_init(&vm->lock);
}

/* Finds our mark on @obj and adds a user to it. kq_vnode_mutex held. */
static struct kq_vmark *kq_vmark_find(void *obj, unsigned int type)
{
	struct fsnotify_mark *mark;
	struct kq_vmark *vm;

	mark = fsnotify_find_mark(obj, type, kq_vnode_group);
	if (!mark)
		return NULL;
	vm = kq_vmark_of(mark);
	vm->users++;
	/* Our own reference keeps it: it has users. */
	fsnotify_put_mark(mark);
	return vm;
}

static void kq_vmark_put(struct kq_vmark *vm);

static struct kq_vmark *kq_vmark_get_sb(struct super_block *s)
{
	struct kq_vmark *sb;
	int err;

	sb = kq_vmark_find(s, FSNOTIFY_OBJ_TYPE_SB);
	if (sb)
		return sb;
	sb = kq_vmark_alloc(KQ_VMARK_SB, KQ_VMARK_SB_MASK);
	if (!sb)
		return ERR_PTR(-ENOMEM);
	kq_vmark_init_sb_lock(sb);
	err = fsnotify_add_mark(&sb->mark, s, FSNOTIFY_OBJ_TYPE_SB, 0);
	if (err) {
		/* Never attached: this frees it at once. */
		fsnotify_put_mark(&sb->mark);
		return ERR_PTR(err);
	}
	sb->users = 1;
	return sb;
}

/* An inode mark of a directory goes: its sb mark may stop listening to FS_DELETE. */
static void kq_vmark_put_dir(struct kq_vmark *vm)
{
	if (vm->ndirs && !--vm->sb->ndirs)
		fsnotify_modify_mark_mask(&vm->sb->mark, 0, KQ_VMARK_SB_DIRS);
	vm->ndirs = 0;
}

static struct kq_vmark *kq_vmark_get_inode(struct inode *inode)
{
	struct kq_vmark *vm, *sb;
	unsigned long flags;
	int err;

	vm = kq_vmark_find(inode, FSNOTIFY_OBJ_TYPE_INODE);
	if (vm)
		return vm;
	sb = kq_vmark_get_sb(inode->i_sb);
	if (IS_ERR(sb))
		return sb;
	vm = kq_vmark_alloc(KQ_VMARK_INODE, KQ_VMARK_INODE_BASE);
	if (!vm) {
		kq_vmark_put(sb);
		return ERR_PTR(-ENOMEM);
	}
	kq_vmark_init_inode_lock(vm);
	/* Before the inode mark, so that no rmdir is missed. */
	if (S_ISDIR(inode->i_mode)) {
		vm->ndirs = 1;
		if (!sb->ndirs++)
			fsnotify_modify_mark_mask(&sb->mark, KQ_VMARK_SB_DIRS, 0);
	}
	vm->sb = sb;
	vm->inode = inode;
	vm->size = i_size_read(inode);
	vm->nlink = READ_ONCE(inode->i_nlink);
	/* On the sb's list first, so that no shutdown is missed. */
	spin_lock_irqsave(&sb->lock, flags);
	list_add_tail(&vm->sb_link, &sb->list);
	spin_unlock_irqrestore(&sb->lock, flags);
	err = fsnotify_add_mark(&vm->mark, inode, FSNOTIFY_OBJ_TYPE_INODE, 0);
	if (err) {
		spin_lock_irqsave(&sb->lock, flags);
		list_del(&vm->sb_link);
		spin_unlock_irqrestore(&sb->lock, flags);
		kq_vmark_put_dir(vm);
		fsnotify_put_mark(&vm->mark);
		kq_vmark_put(sb);
		return ERR_PTR(err);
	}
	vm->users = 1;
	return vm;
}

/* Drops a user of @vm; the last one destroys it. kq_vnode_mutex held. */
static void kq_vmark_put(struct kq_vmark *vm)
{
	struct kq_vmark *sb = NULL;
	unsigned long flags;

	if (--vm->users)
		return;
	/* No-op if fsnotify detached it already. */
	fsnotify_destroy_mark(&vm->mark, kq_vnode_group);
	if (vm->kind == KQ_VMARK_INODE) {
		sb = vm->sb;
		spin_lock_irqsave(&sb->lock, flags);
		list_del(&vm->sb_link);
		spin_unlock_irqrestore(&sb->lock, flags);
		kq_vmark_put_dir(vm);
	}
	/* Our reference: freed after a grace period by ->free_mark(). */
	fsnotify_put_mark(&vm->mark);
	if (sb)
		kq_vmark_put(sb);
}

/* Listens to the frequent events only while a watch wants them. */
static void kq_vmark_update_mask(struct kq_vmark *vm)
{
	struct kq_vnode_watch *w;
	unsigned long flags;
	u32 interest = 0, mask = KQ_VMARK_INODE_BASE;

	spin_lock_irqsave(&vm->lock, flags);
	list_for_each_entry(w, &vm->list, link)
		interest |= w->interest;
	spin_unlock_irqrestore(&vm->lock, flags);
	if (interest & (KQ_NOTE_READ | KQ_NOTE_ATTRIB))
		mask |= FS_ACCESS;
	if (interest & KQ_NOTE_OPEN)
		mask |= FS_OPEN;
	if (interest & KQ_NOTE_CLOSE)
		mask |= FS_CLOSE_NOWRITE;
	if (interest & KQ_NOTE_CLOSE_WRITE)
		mask |= FS_CLOSE_WRITE;
	fsnotify_modify_mark_mask(&vm->mark, mask, KQ_VMARK_INODE_OPT & ~mask);
}

/*
 * Whether @file is of a kind EVFILT_VNODE watches: anything on a mountable
 * filesystem (regular files, directories, FIFOs, device nodes, symlinks and
 * sockets opened with O_PATH). Not: pipes, sockets, anonymous inodes (the
 * internal pseudo filesystems, SB_NOUSER).
 */
static bool kq_vnode_watchable(struct file *file)
{
	return !(file_inode(file)->i_sb->s_flags & SB_NOUSER);
}

struct kq_vnode_watch *kq_vnode_attach(unsigned int fd, void *ctx,
				       __u32 interest)
{
	struct kq_vnode_watch *w;
	struct file *file;
	int err;

	file = fget_raw(fd);
	if (!file)
		return ERR_PTR(-EBADF);
	if (!kq_vnode_watchable(file)) {
		fput(file);
		return ERR_PTR(-EINVAL);
	}
	/*
	 * As inotify: only a reader of the object may watch it. A descriptor
	 * does not prove that (O_PATH needs no access to the object itself),
	 * and watching reveals when others use it (a terminal's keystrokes).
	 * security_path_notify() is not exported: LSMs are not asked.
	 */
	err = inode_permission(file_mnt_idmap(file), file_inode(file), MAY_READ);
	if (err) {
		fput(file);
		return ERR_PTR(err);
	}
	w = kq_vnode_attach_file(file, ctx, interest);
	fput(file);
	return w;
}

/* The caller holds a reference to @file for the duration of the call. */
struct kq_vnode_watch *kq_vnode_attach_file(struct file *file, void *ctx,
					    __u32 interest)
{
	struct kq_vnode_watch *w;
	struct kq_vmark *vm;
	struct inode *inode;
	unsigned long flags;
	int err;

	inode = file_inode(file);
	err = -EINVAL;
	if (!kq_vnode_watchable(file))
		goto out;
	err = -ENOMEM;
	w = kzalloc_obj(*w, GFP_KERNEL_ACCOUNT);
	if (!w)
		goto out;
	w->ctx = ctx;
	w->interest = interest;
	w->file = file;
	w->inode = inode;

	mutex_lock(&kq_vnode_mutex);
	vm = kq_vmark_get_inode(inode);
	if (IS_ERR(vm)) {
		mutex_unlock(&kq_vnode_mutex);
		kfree(w);
		err = PTR_ERR(vm);
		goto out;
	}
	w->vm = vm;
	spin_lock_irqsave(&vm->lock, flags);
	list_add_tail(&w->link, &vm->list);
	spin_unlock_irqrestore(&vm->lock, flags);
	kq_vmark_update_mask(vm);
	mutex_unlock(&kq_vnode_mutex);
	return w;
out:
	return ERR_PTR(err);
}

void kq_vnode_set_interest(struct kq_vnode_watch *w, __u32 interest)
{
	unsigned long flags;

	mutex_lock(&kq_vnode_mutex);
	spin_lock_irqsave(&w->vm->lock, flags);
	w->interest = interest;
	spin_unlock_irqrestore(&w->vm->lock, flags);
	kq_vmark_update_mask(w->vm);
	mutex_unlock(&kq_vnode_mutex);
}

void kq_vnode_detach(struct kq_vnode_watch *w)
{
	struct kq_vmark *vm = w->vm;
	unsigned long flags;

	mutex_lock(&kq_vnode_mutex);
	/* After this no handler passes w->ctx to kq_vnode_event(). */
	spin_lock_irqsave(&vm->lock, flags);
	list_del(&w->link);
	spin_unlock_irqrestore(&vm->lock, flags);
	if (vm->users > 1)
		kq_vmark_update_mask(vm);
	kq_vmark_put(vm);
	mutex_unlock(&kq_vnode_mutex);
	kfree(w);
}

/* Whether descriptor @fd of the current task still refers to the watched file. */
int kq_vnode_fd_is(struct kq_vnode_watch *w, unsigned int fd)
{
	struct file *file = fget_raw(fd);
	int same;

	if (!file)
		return 0;
	same = file == w->file && file_inode(file) == w->inode;
	fput(file);
	return same;
}

int kq_vnode_init(void)
{
	struct fsnotify_group *group;

	group = fsnotify_alloc_group(&kq_vnode_ops, 0);
	if (IS_ERR(group))
		return PTR_ERR(group);
	kq_vnode_group = group;
	return 0;
}

/*
 * Module exit: no kqueue is left, so every mark has been destroyed and our
 * references dropped. ->free_mark() is module code called from fsnotify's
 * reaper: wait until it has run for every mark (a mark may still be pinned
 * for a moment by fsnotify itself, e.g. by an unmount in progress), then for
 * the reaper run that freed the last one to finish.
 */
void kq_vnode_exit(void)
{
	unsigned int waited = 0;

	for (;;) {
		fsnotify_wait_marks_destroyed();
		if (!atomic_read(&kq_vnode_nmarks))
			break;
		if (++waited == 500)
			pr_warn("kqueue: waiting for %d fsnotify marks\n",
				atomic_read(&kq_vnode_nmarks));
		msleep(20);
	}
	fsnotify_wait_marks_destroyed();
	fsnotify_put_group(kq_vnode_group);
	kq_vnode_group = NULL;
}
