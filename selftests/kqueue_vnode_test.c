// SPDX-License-Identifier: GPL-2.0
/*
 * EVFILT_VNODE: every note on regular files, directories, FIFOs, symlinks
 * opened with O_PATH and device nodes, each on tmpfs and on a disk filesystem
 * (ext2 in an image file on a loop device, through the ext4 driver); the
 * watch follows the inode across renames and unlinks; rename-over, hard
 * links, truncation up and down; a filesystem shut down under a watch
 * (NOTE_REVOKE with EV_EOF) and unmounting after close; many knotes on one
 * inode; concurrent writers with knotes coming and going. doc/semantics.md
 * (EVFILT_VNODE) is the contract.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

#ifndef FS_IOC_SHUTDOWN
#define FS_IOC_SHUTDOWN		_IOR('X', 125, __u32)
#endif
#define SHUTDOWN_NOLOGFLUSH	2

#define NOTE_ALL (NOTE_DELETE | NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | \
		  NOTE_LINK | NOTE_RENAME | NOTE_REVOKE | NOTE_OPEN | \
		  NOTE_CLOSE | NOTE_CLOSE_WRITE | NOTE_READ)

/* The shared ext2 filesystem, mounted by the first test that needs it. */
#define EXT2_DIR	"/tmp/kqueue-vnode-ext2"
#define EXT2_IMG	"/tmp/kqueue-vnode-ext2.img"

static char buf[8192];

/* Runs "mke2fs -F @img" (busybox in the test VM); returns its exit status. */
static int mkfs_ext2(const char *img)
{
	int status, null;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		null = open("/dev/null", O_WRONLY);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("mke2fs", "mke2fs", "-F", img, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Makes an ext2 filesystem of @mb MiB in the image file @img and mounts it
 * (ext4 driver) on @dir through a loop device that goes away with the
 * mount. Returns 0 or a description of what failed.
 */
static const char *mount_ext2(const char *img, const char *dir, int mb)
{
	struct loop_config cfg = { .info.lo_flags = LO_FLAGS_AUTOCLEAR };
	char dev[32];
	int fd, ctl, n, loop;

	fd = open(img, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, (off_t)mb << 20))
		return "image file";
	close(fd);
	if (mkfs_ext2(img))
		return "mke2fs";
	fd = open(img, O_RDWR | O_CLOEXEC);
	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (fd < 0 || ctl < 0)
		return "open image or /dev/loop-control";
	n = ioctl(ctl, LOOP_CTL_GET_FREE);
	close(ctl);
	if (n < 0)
		return "LOOP_CTL_GET_FREE";
	snprintf(dev, sizeof(dev), "/dev/loop%d", n);
	loop = open(dev, O_RDWR | O_CLOEXEC);
	if (loop < 0)
		return "open loop device";
	cfg.fd = fd;
	if (ioctl(loop, LOOP_CONFIGURE, &cfg))
		return "LOOP_CONFIGURE";
	close(fd);
	if (mkdir(dir, 0755) && errno != EEXIST)
		return "mkdir mount point";
	if (mount(dev, dir, "ext4", 0, NULL))
		return "mount";
	/* The mount holds the device; with autoclear it goes at umount. */
	close(loop);
	unlink(img);
	return NULL;
}

/* The directory of the shared ext2 filesystem, mounting it if needed. */
static const char *ext2_base(void)
{
	static const char *err;
	struct stat st, parent;

	if (!stat(EXT2_DIR, &st) && !stat("/tmp", &parent) &&
	    st.st_dev != parent.st_dev)
		return EXT2_DIR;
	err = mount_ext2(EXT2_IMG, EXT2_DIR, 16);
	return err ? NULL : EXT2_DIR;
}

static int rm_rf(const char *path)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

/* Adds or modifies the vnode knote on @fd; returns 0 or an errno. */
static int vn_add(int kq, int fd, unsigned short flags, unsigned int fflags)
{
	return kq_change(kq, (uintptr_t)fd, EVFILT_VNODE, EV_ADD | flags,
			 fflags, 0, UDATA(fd));
}

/*
 * Collects pending events without waiting and returns the fflags of the
 * vnode event of @fd (0 if there is none); *n gets the number of events of
 * that knote (more than one is a bug), @flags its flags. Events of other
 * knotes are discarded.
 */
static unsigned int vn_fflags(int kq, int fd, int *n, unsigned short *flags)
{
	struct kevent evs[64];
	unsigned int ff = 0;
	int i, got;

	*n = 0;
	got = kev_poll(kq, evs, 64);
	for (i = 0; i < got; i++) {
		if (evs[i].ident != (uintptr_t)fd ||
		    evs[i].filter != EVFILT_VNODE)
			continue;
		(*n)++;
		ff = evs[i].fflags;
		if (flags)
			*flags = evs[i].flags;
		if (evs[i].udata != UDATA(fd))
			(*n) += 100;
	}
	return ff;
}

/* The notes reported for @fd now (0: nothing), checking it came once. */
#define VN(kq, fd) ({ \
	int __n; \
	int __ff = (int)vn_fflags(kq, fd, &__n, NULL); \
	EXPECT_GE(1, __n) TH_LOG("%d events (or bad udata) for fd %d", \
				 __n, fd); \
	__ff; })

FIXTURE(vnode) {
	int kq;
	char dir[256];
};

FIXTURE_VARIANT(vnode) {
	bool ext2;
};

FIXTURE_VARIANT_ADD(vnode, tmpfs) {
	.ext2 = false,
};

FIXTURE_VARIANT_ADD(vnode, ext2) {
	.ext2 = true,
};

FIXTURE_SETUP(vnode)
{
	const char *base = "/tmp";

	signal(SIGPIPE, SIG_IGN);
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
	if (variant->ext2) {
		base = ext2_base();
		ASSERT_NE(NULL, base) TH_LOG("cannot mount an ext2 image");
	}
	snprintf(self->dir, sizeof(self->dir), "%s/vnode-%d", base,
		 (int)getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	ASSERT_EQ(0, chdir(self->dir));
}

FIXTURE_TEARDOWN(vnode)
{
	if (self->kq >= 0)
		close(self->kq);
	if (chdir("/tmp") == 0)
		rm_rf(self->dir);
}

/* A new file in the test directory with @n bytes, open O_RDWR. */
static int new_file(const char *name, size_t n)
{
	int fd;

	fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	memset(buf, 'x', n);
	if (n && write(fd, buf, n) != (ssize_t)n) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Regular files. */

TEST_F(vnode, file_write_extend)
{
	struct kevent ev;
	int fd;

	fd = new_file("f", 100);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));
	EXPECT_EQ(0, VN(self->kq, fd));

	/* Appending: written and extended. */
	ASSERT_EQ(10, write(fd, buf, 10));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ((uintptr_t)fd, ev.ident);
	EXPECT_EQ(EVFILT_VNODE, ev.filter);
	EXPECT_EQ(EV_CLEAR, ev.flags);
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, (int)ev.fflags);
	EXPECT_EQ(0, ev.data);
	EXPECT_EQ(UDATA(fd), ev.udata);
	EXPECT_EQ(0, VN(self->kq, fd));

	/* Overwriting inside the file: written only. */
	ASSERT_EQ(10, pwrite(fd, buf, 10, 5));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, fd));

	/* Two writes before a collection: one event. */
	ASSERT_EQ(10, pwrite(fd, buf, 10, 0));
	ASSERT_EQ(10, pwrite(fd, buf, 10, 200));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));

	/* Only the notes asked for. */
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_EXTEND));
	ASSERT_EQ(10, pwrite(fd, buf, 10, 0));
	EXPECT_EQ(0, VN(self->kq, fd));
	ASSERT_EQ(10, pwrite(fd, buf, 10, 300));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	close(fd);
}

TEST_F(vnode, file_truncate_up_down)
{
	struct stat st;
	int fd, other;

	fd = new_file("f", 100);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));

	/* Up: the contents and the size change. */
	ASSERT_EQ(0, ftruncate(fd, 1000));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB, VN(self->kq, fd));
	/* Down: no NOTE_EXTEND. */
	ASSERT_EQ(0, ftruncate(fd, 10));
	EXPECT_EQ(NOTE_WRITE | NOTE_ATTRIB, VN(self->kq, fd));
	/* Same size: only the times change. */
	ASSERT_EQ(0, ftruncate(fd, 10));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	/* By path, and through O_TRUNC of another open. */
	ASSERT_EQ(0, truncate("f", 4096));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB, VN(self->kq, fd));
	other = open("f", O_WRONLY | O_TRUNC | O_CLOEXEC);
	ASSERT_GE(other, 0);
	EXPECT_EQ(NOTE_OPEN | NOTE_WRITE | NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(0, st.st_size);
	close(other);
	EXPECT_EQ(NOTE_CLOSE_WRITE, VN(self->kq, fd));
	/* Growing again after a shrink is an extension again. */
	ASSERT_EQ(5, write(fd, buf, 5));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	close(fd);
}

/*
 * FreeBSD posts a write that grows a file as one hint, NOTE_WRITE |
 * NOTE_EXTEND, and a knote that asked for either gets both; the same for an
 * entry that adds a subdirectory (NOTE_WRITE | NOTE_LINK). Notes that come
 * separately are not merged.
 */
TEST_F(vnode, coposted_notes)
{
	int fd, ext, d, kq2;

	fd = new_file("f", 10);
	ASSERT_GE(fd, 0);
	ext = open("f", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(ext, 0);
	ASSERT_EQ(0, mkdir("d", 0755));
	d = open("d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_WRITE));
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_EQ(0, vn_add(kq2, ext, EV_CLEAR, NOTE_EXTEND));
	ASSERT_EQ(0, vn_add(self->kq, d, EV_CLEAR, NOTE_WRITE));

	/* Growing: both knotes get both bits. */
	ASSERT_EQ(5, write(fd, buf, 5));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(kq2, ext));
	/* Overwriting: NOTE_WRITE alone; the NOTE_EXTEND knote hears nothing. */
	ASSERT_EQ(1, pwrite(fd, buf, 1, 0));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, fd));
	EXPECT_EQ(0, VN(kq2, ext));
	/* A change of attributes is not co-posted with anything. */
	ASSERT_EQ(0, fchmod(fd, 0600));
	EXPECT_EQ(0, VN(self->kq, fd));
	/* A subdirectory: NOTE_WRITE | NOTE_LINK; a file: NOTE_WRITE. */
	ASSERT_EQ(0, mkdir("d/sub", 0755));
	EXPECT_EQ(NOTE_WRITE | NOTE_LINK, VN(self->kq, d));
	close(open("d/file", O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, d));
	close(d);
	close(ext);
	close(fd);
	close(kq2);
}

/* NOTE_TRUNCATE (OpenBSD's and macOS's name): the file shrank. */
TEST_F(vnode, truncate_note)
{
	struct kevent ev;
	int fd, other;

	EXPECT_NE(NOTE_OPEN, NOTE_TRUNCATE);
	fd = new_file("f", 100);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_TRUNCATE));
	/* Growing is not a truncation, nor is writing. */
	ASSERT_EQ(0, ftruncate(fd, 1000));
	ASSERT_EQ(10, write(fd, buf, 10));
	EXPECT_EQ(0, VN(self->kq, fd));
	/* Shrinking is, reported to a thread blocked in kevent(). */
	other = open("f", O_WRONLY | O_TRUNC | O_CLOEXEC);
	ASSERT_GE(other, 0);
	ASSERT_EQ(1, kev_wait(self->kq, NULL, 0, &ev, 1, 10000));
	EXPECT_EQ((uintptr_t)fd, ev.ident);
	EXPECT_EQ(NOTE_TRUNCATE, (int)ev.fflags);
	close(other);
	ASSERT_EQ(0, ftruncate(fd, 10));
	ASSERT_EQ(0, ftruncate(fd, 0));
	EXPECT_EQ(0, ftruncate(fd, 0));
	EXPECT_EQ(NOTE_TRUNCATE, VN(self->kq, fd));
	close(fd);
}

TEST_F(vnode, file_attrib)
{
	struct timespec ts[2] = { { 1000, 0 }, { 2000, 0 } };
	int fd;

	fd = new_file("f", 10);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));
	ASSERT_EQ(0, fchmod(fd, 0600));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, fchown(fd, 65534, 65534));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, futimens(fd, ts));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	/* Only the modification time. */
	ts[0].tv_nsec = UTIME_OMIT;
	ASSERT_EQ(0, futimens(fd, ts));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	/* Only the access time: an attribute, not a read. */
	ts[0].tv_nsec = 0;
	ts[1].tv_nsec = UTIME_OMIT;
	ASSERT_EQ(0, futimens(fd, ts));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, chmod("f", 0644));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	/* Extended attributes. */
	ASSERT_EQ(0, fsetxattr(fd, "trusted.kqueue", "v", 1, 0));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, fremovexattr(fd, "trusted.kqueue"));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	/* Not asked for: nothing. */
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_WRITE));
	ASSERT_EQ(0, fchmod(fd, 0600));
	EXPECT_EQ(0, VN(self->kq, fd));
	close(fd);
}

TEST_F(vnode, file_hard_links_and_delete)
{
	int fd;

	fd = new_file("f", 10);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));
	ASSERT_EQ(0, mkdir("sub", 0755));

	ASSERT_EQ(0, link("f", "g"));
	EXPECT_EQ(NOTE_LINK, VN(self->kq, fd));
	ASSERT_EQ(0, link("f", "sub/h"));
	EXPECT_EQ(NOTE_LINK, VN(self->kq, fd));
	/* Removing a link that is not the last one. */
	ASSERT_EQ(0, unlink("f"));
	EXPECT_EQ(NOTE_LINK, VN(self->kq, fd));
	ASSERT_EQ(0, unlink("sub/h"));
	EXPECT_EQ(NOTE_LINK, VN(self->kq, fd));
	/* The last one. */
	ASSERT_EQ(0, unlink("g"));
	EXPECT_EQ(NOTE_DELETE, VN(self->kq, fd));

	/* The watch follows the inode, which lives on while open. */
	ASSERT_EQ(10, write(fd, buf, 10));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	/* A new file at the old name is not watched. */
	close(new_file("f", 10));
	ASSERT_EQ(0, unlink("f"));
	EXPECT_EQ(0, VN(self->kq, fd));
	close(fd);
}

TEST_F(vnode, file_rename_and_rename_over)
{
	int a, b, newf, kq2;

	a = new_file("a", 10);
	b = new_file("b", 10);
	ASSERT_GE(a, 0);
	ASSERT_GE(b, 0);
	ASSERT_EQ(0, vn_add(self->kq, a, EV_CLEAR, NOTE_ALL));
	/* b in a kqueue of its own: VN() discards other knotes' events. */
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_EQ(0, vn_add(kq2, b, EV_CLEAR, NOTE_ALL));
	ASSERT_EQ(0, mkdir("sub", 0755));

	ASSERT_EQ(0, rename("a", "sub/a2"));
	EXPECT_EQ(NOTE_RENAME, VN(self->kq, a));
	EXPECT_EQ(0, VN(kq2, b));

	/* Rename over b: a is renamed, b loses its last link. */
	ASSERT_EQ(0, rename("sub/a2", "b"));
	EXPECT_EQ(NOTE_RENAME, VN(self->kq, a));
	EXPECT_EQ(NOTE_DELETE, VN(kq2, b));

	/* Each watch still follows its own inode. */
	ASSERT_EQ(1, pwrite(a, buf, 1, 0));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, a));
	EXPECT_EQ(0, VN(kq2, b));
	ASSERT_EQ(1, write(b, buf, 1));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(kq2, b));

	/* A file created at a's old name is not a's. */
	newf = new_file("a", 1);
	ASSERT_GE(newf, 0);
	EXPECT_EQ(0, VN(self->kq, a));
	close(newf);
	close(a);
	close(b);
	close(kq2);
}

TEST_F(vnode, file_open_read_close)
{
	int fd, r, w, rw;

	fd = new_file("f", 100);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));

	r = open("f", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(r, 0);
	EXPECT_EQ(NOTE_OPEN, VN(self->kq, fd));
	ASSERT_EQ(100, read(r, buf, sizeof(buf)));
	EXPECT_EQ(NOTE_READ, VN(self->kq, fd));
	/* A read at the end reads nothing: no note. */
	ASSERT_EQ(0, read(r, buf, sizeof(buf)));
	EXPECT_EQ(0, VN(self->kq, fd));
	ASSERT_EQ(0, close(r));
	EXPECT_EQ(NOTE_CLOSE, VN(self->kq, fd));

	w = open("f", O_WRONLY | O_CLOEXEC);
	ASSERT_GE(w, 0);
	ASSERT_EQ(0, close(w));
	EXPECT_EQ(NOTE_OPEN | NOTE_CLOSE_WRITE, VN(self->kq, fd));

	/* Closing a duplicate does not close the file. */
	rw = open("f", O_RDWR | O_CLOEXEC);
	ASSERT_GE(rw, 0);
	r = dup(rw);
	ASSERT_GE(r, 0);
	EXPECT_EQ(NOTE_OPEN, VN(self->kq, fd));
	ASSERT_EQ(0, close(r));
	EXPECT_EQ(0, VN(self->kq, fd));
	ASSERT_EQ(10, pread(rw, buf, 10, 0));
	ASSERT_EQ(0, close(rw));
	EXPECT_EQ(NOTE_READ | NOTE_CLOSE_WRITE, VN(self->kq, fd));

	/* Only what is asked for. */
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_CLOSE));
	r = open("f", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(r, 0);
	ASSERT_EQ(100, read(r, buf, sizeof(buf)));
	EXPECT_EQ(0, VN(self->kq, fd));
	close(r);
	EXPECT_EQ(NOTE_CLOSE, VN(self->kq, fd));
	close(fd);
}

/*
 * Open and close events are listened to only while some knote on the inode
 * asks for them: the inode's watches share that, and each one's own notes
 * must keep arriving as the others come, change and go.
 */
TEST_F(vnode, optional_events_shared_by_watches)
{
	int fd, kq2, r;

	fd = new_file("f", 0);
	ASSERT_GE(fd, 0);
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_OPEN | NOTE_CLOSE));
	ASSERT_EQ(0, vn_add(kq2, fd, EV_CLEAR, NOTE_OPEN));

	/* The second watch goes: the first still hears opens. */
	ASSERT_EQ(0, kq_change(kq2, fd, EVFILT_VNODE, EV_DELETE, 0, 0, NULL));
	r = open("f", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(r, 0);
	ASSERT_EQ(0, close(r));
	EXPECT_EQ(NOTE_OPEN | NOTE_CLOSE, VN(self->kq, fd));

	/* The first changes to NOTE_WRITE: nobody asks for opens. */
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_WRITE));
	r = open("f", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(r, 0);
	ASSERT_EQ(0, close(r));
	EXPECT_EQ(0, VN(self->kq, fd));

	/* A new watch asks again; the other's notes are unchanged. */
	ASSERT_EQ(0, vn_add(kq2, fd, EV_CLEAR, NOTE_OPEN | NOTE_CLOSE));
	r = open("f", O_RDWR | O_CLOEXEC);
	ASSERT_GE(r, 0);
	ASSERT_EQ(1, write(r, buf, 1));
	ASSERT_EQ(0, close(r));
	EXPECT_EQ(NOTE_OPEN, VN(kq2, fd));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));

	/* Closing the other kqueue drops its watch; the first asks for opens itself. */
	ASSERT_EQ(0, close(kq2));
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_WRITE | NOTE_OPEN));
	r = open("f", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(r, 0);
	ASSERT_EQ(0, close(r));
	EXPECT_EQ(NOTE_OPEN, VN(self->kq, fd));
	close(fd);
}

/* Directories. */

TEST_F(vnode, dir_entries)
{
	int d, f;

	ASSERT_EQ(0, mkdir("d", 0755));
	ASSERT_EQ(0, mkdir("other", 0755));
	d = open("d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, vn_add(self->kq, d, EV_CLEAR, NOTE_ALL));

	/* An entry added, changed, removed. */
	f = new_file("d/f", 0);
	ASSERT_GE(f, 0);
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, d));
	ASSERT_EQ(5, write(f, buf, 5));
	close(f);
	EXPECT_EQ(0, VN(self->kq, d));
	ASSERT_EQ(0, link("d/f", "d/g"));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, d));
	ASSERT_EQ(0, unlink("d/g"));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, d));

	/* Renamed within the directory: no NOTE_EXTEND. */
	ASSERT_EQ(0, rename("d/f", "d/f2"));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, d));
	/* Renamed out of it, and into it from elsewhere: NOTE_EXTEND. */
	ASSERT_EQ(0, rename("d/f2", "other/f"));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, d));
	ASSERT_EQ(0, rename("other/f", "d/f"));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, d));

	/* Subdirectories change the link count. */
	ASSERT_EQ(0, mkdir("d/sub", 0755));
	EXPECT_EQ(NOTE_WRITE | NOTE_LINK, VN(self->kq, d));
	ASSERT_EQ(0, rename("d/sub", "d/sub2"));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, d));
	ASSERT_EQ(0, rename("d/sub2", "other/sub"));
	EXPECT_EQ(NOTE_WRITE | NOTE_LINK, VN(self->kq, d));
	ASSERT_EQ(0, rename("other/sub", "d/sub"));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND | NOTE_LINK, VN(self->kq, d));
	ASSERT_EQ(0, rmdir("d/sub"));
	EXPECT_EQ(NOTE_WRITE | NOTE_LINK, VN(self->kq, d));

	/* Changes inside a subdirectory are not the directory's. */
	ASSERT_EQ(0, mkdir("d/sub", 0755));
	EXPECT_EQ(NOTE_WRITE | NOTE_LINK, VN(self->kq, d));
	close(new_file("d/sub/x", 1));
	EXPECT_EQ(0, VN(self->kq, d));
	close(d);
}

TEST_F(vnode, dir_self)
{
	struct dirent *de;
	DIR *dirp;
	int d;

	ASSERT_EQ(0, mkdir("d", 0755));
	d = open("d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, vn_add(self->kq, d, EV_CLEAR, NOTE_ALL));

	ASSERT_EQ(0, chmod("d", 0700));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, d));

	/* Listing it: opened, read, closed. */
	dirp = opendir("d");
	ASSERT_NE(NULL, dirp);
	EXPECT_EQ(NOTE_OPEN, VN(self->kq, d));
	de = readdir(dirp);
	EXPECT_NE(NULL, de);
	EXPECT_EQ(NOTE_READ, VN(self->kq, d));
	closedir(dirp);
	EXPECT_EQ(NOTE_CLOSE, VN(self->kq, d));

	ASSERT_EQ(0, rename("d", "e"));
	EXPECT_EQ(NOTE_RENAME, VN(self->kq, d));
	ASSERT_EQ(0, rmdir("e"));
	EXPECT_EQ(NOTE_DELETE, VN(self->kq, d));
	close(d);
}

TEST_F(vnode, dir_rename_over)
{
	int d;

	int parent, kq2;

	ASSERT_EQ(0, mkdir("a", 0755));
	ASSERT_EQ(0, mkdir("b", 0755));
	d = open("b", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, vn_add(self->kq, d, EV_CLEAR, NOTE_ALL));
	parent = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(parent, 0);
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	ASSERT_EQ(0, vn_add(kq2, parent, EV_CLEAR, NOTE_ALL));
	/* Replacing an empty directory removes it. */
	ASSERT_EQ(0, rename("a", "b"));
	EXPECT_EQ(NOTE_DELETE, VN(self->kq, d));
	/* The parent lost a subdirectory: one link less. */
	EXPECT_EQ(NOTE_WRITE | NOTE_LINK, VN(kq2, parent));
	close(kq2);
	close(parent);
	close(d);
}

/* FIFOs. */

TEST_F(vnode, fifo)
{
	int fd, r, w;

	ASSERT_EQ(0, mkfifo("p", 0644));
	/* O_RDWR: a FIFO open does not wait for the other end then. */
	fd = open("p", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));

	r = open("p", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_GE(r, 0);
	EXPECT_EQ(NOTE_OPEN, VN(self->kq, fd));
	w = open("p", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	ASSERT_GE(w, 0);
	EXPECT_EQ(NOTE_OPEN, VN(self->kq, fd));

	/* Data through the FIFO: written, then read. No size, no extend. */
	ASSERT_EQ(10, write(w, buf, 10));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, fd));
	ASSERT_EQ(10, read(r, buf, sizeof(buf)));
	EXPECT_EQ(NOTE_READ, VN(self->kq, fd));

	ASSERT_EQ(0, close(w));
	EXPECT_EQ(NOTE_CLOSE_WRITE, VN(self->kq, fd));
	ASSERT_EQ(0, close(r));
	EXPECT_EQ(NOTE_CLOSE, VN(self->kq, fd));

	ASSERT_EQ(0, fchmod(fd, 0600));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, link("p", "q"));
	EXPECT_EQ(NOTE_LINK, VN(self->kq, fd));
	ASSERT_EQ(0, rename("q", "r"));
	EXPECT_EQ(NOTE_RENAME, VN(self->kq, fd));
	ASSERT_EQ(0, unlink("p"));
	EXPECT_EQ(NOTE_LINK, VN(self->kq, fd));
	ASSERT_EQ(0, unlink("r"));
	EXPECT_EQ(NOTE_DELETE, VN(self->kq, fd));
	close(fd);
}

/* Symlinks (O_PATH | O_NOFOLLOW) and device nodes. */

TEST_F(vnode, symlink_opath)
{
	int fd;

	close(new_file("target", 1));
	ASSERT_EQ(0, symlink("target", "l"));
	fd = open("l", O_PATH | O_NOFOLLOW | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));

	/* The link itself, not its target. */
	ASSERT_EQ(0, truncate("l", 100));
	EXPECT_EQ(0, VN(self->kq, fd));
	ASSERT_EQ(0, fchownat(AT_FDCWD, "l", 65534, 65534,
			      AT_SYMLINK_NOFOLLOW));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, rename("l", "m"));
	EXPECT_EQ(NOTE_RENAME, VN(self->kq, fd));
	ASSERT_EQ(0, link("m", "n"));
	EXPECT_EQ(NOTE_LINK, VN(self->kq, fd));
	ASSERT_EQ(0, unlink("m"));
	EXPECT_EQ(NOTE_LINK, VN(self->kq, fd));
	ASSERT_EQ(0, unlink("n"));
	EXPECT_EQ(NOTE_DELETE, VN(self->kq, fd));

	/* Further changes on the O_PATH descriptor: the knote stays. */
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));
	close(fd);
}

/* Any O_PATH descriptor watches its file, which it cannot read or write. */
TEST_F(vnode, opath_regular_file)
{
	int fd, rw;

	rw = new_file("f", 10);
	ASSERT_GE(rw, 0);
	fd = open("f", O_PATH | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));
	ASSERT_EQ(10, pwrite(rw, buf, 10, 10));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	ASSERT_EQ(10, pread(rw, buf, 10, 0));
	EXPECT_EQ(NOTE_READ, VN(self->kq, fd));
	/* Opening and closing with O_PATH is not an open of the file. */
	close(open("f", O_PATH | O_CLOEXEC));
	EXPECT_EQ(0, VN(self->kq, fd));
	close(rw);
	EXPECT_EQ(NOTE_CLOSE_WRITE, VN(self->kq, fd));
	/* EVFILT_READ is still EBADF on an O_PATH descriptor. */
	EXPECT_EQ(EBADF, kq_receipt(self->kq, fd, EVFILT_READ, EV_ADD, 0, 0,
				    NULL));
	close(fd);
	EXPECT_EQ(0, VN(self->kq, fd));
}

TEST_F(vnode, device_node)
{
	int fd, r;

	/* /dev/zero's numbers. */
	ASSERT_EQ(0, mknod("zero", S_IFCHR | 0666, makedev(1, 5)));
	fd = open("zero", O_RDWR | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));

	r = open("zero", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(r, 0);
	EXPECT_EQ(NOTE_OPEN, VN(self->kq, fd));
	ASSERT_EQ(10, read(r, buf, 10));
	EXPECT_EQ(NOTE_READ, VN(self->kq, fd));
	close(r);
	EXPECT_EQ(NOTE_CLOSE, VN(self->kq, fd));
	ASSERT_EQ(10, write(fd, buf, 10));
	EXPECT_EQ(NOTE_WRITE, VN(self->kq, fd));
	ASSERT_EQ(0, fchmod(fd, 0600));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, unlink("zero"));
	EXPECT_EQ(NOTE_DELETE, VN(self->kq, fd));
	close(fd);
}

/*
 * /dev/kqueue is a device node too: a kqueue can watch opens and closes of
 * kqueues, its own close included.
 */
TEST_F(vnode, kqueue_device_node)
{
	int kq2;

	ASSERT_EQ(0, vn_add(self->kq, self->kq, EV_CLEAR,
			    NOTE_OPEN | NOTE_CLOSE | NOTE_CLOSE_WRITE));
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	EXPECT_EQ(NOTE_OPEN, VN(self->kq, self->kq));
	close(kq2);
	EXPECT_EQ(NOTE_CLOSE_WRITE, VN(self->kq, self->kq));
	/* The teardown closes self->kq while it watches itself. */
}

/* What can and cannot be watched; registration errors. */

TEST_F(vnode, errors)
{
	int fd, p[2], s, efd;

	fd = new_file("f", 1);
	ASSERT_GE(fd, 0);
	/* Unknown fflags. */
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, fd, EVFILT_VNODE, EV_ADD,
				     NOTE_ALL | NOTE_TRUNCATE | 0x1000, 0, NULL));
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, fd, EVFILT_VNODE, EV_ADD,
				     0x80000000u, 0, NULL));
	/* Nothing was registered. */
	EXPECT_EQ(ENOENT, kq_receipt(self->kq, fd, EVFILT_VNODE, EV_DELETE, 0,
				     0, NULL));
	/* A bad fflags modification leaves the knote as it was. */
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_WRITE));
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, fd, EVFILT_VNODE, EV_ADD,
				     0x1000, 0, NULL));
	ASSERT_EQ(1, write(fd, buf, 1));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	EXPECT_EQ(0, kq_receipt(self->kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0,
				NULL));
	EXPECT_EQ(ENOENT, kq_receipt(self->kq, fd, EVFILT_VNODE, EV_DELETE, 0,
				     0, NULL));
	close(fd);

	/* Not open; not a descriptor number at all. */
	EXPECT_EQ(EBADF, kq_receipt(self->kq, fd, EVFILT_VNODE, EV_ADD,
				    NOTE_WRITE, 0, NULL));
	EXPECT_EQ(EBADF, kq_receipt(self->kq, (uintptr_t)1 << 40, EVFILT_VNODE,
				    EV_ADD, NOTE_WRITE, 0, NULL));

	/* Pipes, sockets and anonymous inodes are not files: EINVAL. */
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, p[0], EVFILT_VNODE, EV_ADD,
				     NOTE_WRITE, 0, NULL));
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_GE(s, 0);
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, s, EVFILT_VNODE, EV_ADD,
				     NOTE_WRITE, 0, NULL));
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(efd, 0);
	EXPECT_EQ(EINVAL, kq_receipt(self->kq, efd, EVFILT_VNODE, EV_ADD,
				     NOTE_WRITE, 0, NULL));
	/* A kqueue is a device node: it can be watched. */
	EXPECT_EQ(0, kq_receipt(self->kq, self->kq, EVFILT_VNODE, EV_ADD,
				NOTE_ATTRIB, 0, NULL));
	close(p[0]);
	close(p[1]);
	close(s);
	close(efd);
}

/*
 * Permission: only a reader of the object may watch it, as with inotify. An
 * O_PATH descriptor needs no access to the object, so it proves nothing: an
 * unprivileged user gets EACCES on a file only root may read, and may watch
 * one everybody may read. Not a fixture test: /tmp is searchable by all.
 */
TEST(vnode_permission)
{
	char secret[64], open_to_all[64];
	int kq, fd, status;
	pid_t pid;

	snprintf(secret, sizeof(secret), "/tmp/kq-vnode-secret-%d", getpid());
	snprintf(open_to_all, sizeof(open_to_all), "/tmp/kq-vnode-public-%d",
		 getpid());
	fd = open(secret, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ASSERT_GE(fd, 0);
	close(fd);
	fd = open(open_to_all, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	ASSERT_GE(fd, 0);
	close(fd);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(10);
		kq = kqueue();
		if (kq < 0)
			_exit(11);
		fd = open(secret, O_PATH | O_CLOEXEC);
		if (fd < 0)
			_exit(12);
		if (kq_receipt(kq, fd, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0,
			       NULL) != EACCES)
			_exit(13);
		close(fd);
		fd = open(open_to_all, O_PATH | O_CLOEXEC);
		if (fd < 0)
			_exit(14);
		if (kq_receipt(kq, fd, EVFILT_VNODE, EV_ADD, NOTE_WRITE, 0,
			       NULL) != 0)
			_exit(15);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));

	/* Root reads everything: it may watch the secret. */
	kq = kqueue();
	ASSERT_GE(kq, 0);
	fd = open(secret, O_PATH | O_CLOEXEC);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(0, kq_receipt(kq, fd, EVFILT_VNODE, EV_ADD, NOTE_ATTRIB, 0,
				NULL));
	close(fd);
	close(kq);
	unlink(secret);
	unlink(open_to_all);
}

/*
 * max_user_vnode_watches: EVFILT_VNODE knotes and EVFILT_READ knotes on
 * regular files (which watch the file's growth) of one user share a limit
 * across all of the user's kqueues: the module parameter, which
 * KQUEUE_IOC_FEATURES reports (the test VMs load a small one, the default is
 * 65536). One more is ENOMEM, knotes that need no watch are not affected, and
 * closing a kqueue gives its watches back. A child with a uid of its own runs
 * it, so that no other watch counts.
 */
#define LIMIT_FDS	512

/* Registers @filter on every descriptor in @fds; returns how many failed with ENOMEM, or -1. */
static int register_all(int kq, const int *fds, int n, short filter)
{
	static struct kevent ch[LIMIT_FDS], out[LIMIT_FDS];
	int i, got, enomem = 0;

	for (i = 0; i < n; i++)
		EV_SET(&ch[i], fds[i], filter, EV_ADD | EV_RECEIPT, NOTE_WRITE,
		       0, NULL);
	got = kevent(kq, ch, n, out, n, NULL);
	if (got != n)
		return -1;
	for (i = 0; i < n; i++) {
		if (out[i].flags != EV_ERROR)
			return -1;
		if (out[i].data == ENOMEM)
			enomem++;
		else if (out[i].data != 0)
			return -1;
	}
	return enomem;
}

TEST(vnode_user_limit)
{
	struct kqueue_features f;
	char dir[64], path[96];
	int status, i, nkqs;
	struct rlimit rl;
	pid_t pid;

	ASSERT_EQ(0, kqueue_features(&f)) TH_LOG("%s", strerror(errno));
	/* Whole kqueues of LIMIT_FDS watches each, at least two of them. */
	ASSERT_EQ(0u, f.max_user_vnode_watches % LIMIT_FDS)
		TH_LOG("max_user_vnode_watches=%u is not a multiple of %d",
		       f.max_user_vnode_watches, LIMIT_FDS);
	nkqs = f.max_user_vnode_watches / LIMIT_FDS;
	ASSERT_GE(nkqs, 2);
	ASSERT_LE(nkqs, 1024);
	TH_LOG("limit %u: %d kqueues of %d watches",
	       f.max_user_vnode_watches, nkqs, LIMIT_FDS);
	rl.rlim_cur = rl.rlim_max = LIMIT_FDS + nkqs + 64;

	snprintf(dir, sizeof(dir), "/tmp/kq-vnode-limit-%d", getpid());
	ASSERT_EQ(0, mkdir(dir, 0777));
	ASSERT_EQ(0, chmod(dir, 0777));

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		static int fds[LIMIT_FDS], kqs[1024];
		int extra, p[2];

		if (setrlimit(RLIMIT_NOFILE, &rl) || setgid(4243) ||
		    setuid(4243))
			_exit(10);
		/* A file each: a watch's cost must not depend on others. */
		for (i = 0; i < LIMIT_FDS; i++) {
			snprintf(path, sizeof(path), "%s/%d", dir, i);
			fds[i] = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
			if (fds[i] < 0)
				_exit(11);
		}
		/* Exactly the limit, half of it through EVFILT_READ. */
		for (i = 0; i < nkqs; i++) {
			kqs[i] = kqueue();
			if (kqs[i] < 0)
				_exit(13);
			if (register_all(kqs[i], fds, LIMIT_FDS,
					 i % 2 ? EVFILT_READ : EVFILT_VNODE))
				_exit(14);
		}
		extra = kqueue();
		if (extra < 0 || pipe(p))
			_exit(15);
		if (kq_receipt(extra, fds[0], EVFILT_VNODE, EV_ADD, NOTE_WRITE,
			       0, NULL) != ENOMEM)
			_exit(16);
		if (kq_receipt(extra, fds[0], EVFILT_READ, EV_ADD, 0, 0,
			       NULL) != ENOMEM)
			_exit(17);
		/* A pipe's EVFILT_READ and a user event need no watch. */
		if (kq_receipt(extra, p[0], EVFILT_READ, EV_ADD, 0, 0, NULL))
			_exit(18);
		if (kq_receipt(extra, 1, EVFILT_USER, EV_ADD, 0, 0, NULL))
			_exit(19);
		/* A full batch: every change fails alone, the call goes on. */
		if (register_all(extra, fds, 16, EVFILT_VNODE) != 16)
			_exit(20);
		/* Deleting one knote gives one watch back. */
		if (kq_change(kqs[0], fds[5], EVFILT_VNODE, EV_DELETE, 0, 0,
			      NULL))
			_exit(21);
		if (kq_receipt(extra, fds[0], EVFILT_VNODE, EV_ADD, NOTE_WRITE,
			       0, NULL))
			_exit(22);
		if (kq_receipt(extra, fds[1], EVFILT_VNODE, EV_ADD, NOTE_WRITE,
			       0, NULL) != ENOMEM)
			_exit(23);
		/* Closing a kqueue gives all of its watches back. */
		close(kqs[1]);
		if (register_all(extra, fds + 1, LIMIT_FDS - 1,
				 EVFILT_READ))
			_exit(24);
		if (kq_receipt(extra, fds[0], EVFILT_READ, EV_ADD, 0, 0,
			       NULL) != 0)
			_exit(25);
		if (kq_receipt(kqs[0], fds[5], EVFILT_VNODE, EV_ADD, NOTE_WRITE,
			       0, NULL) != ENOMEM)
			_exit(26);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	for (i = 0; i < LIMIT_FDS; i++) {
		snprintf(path, sizeof(path), "%s/%d", dir, i);
		unlink(path);
	}
	rmdir(dir);
}

/* Reporting modes. */

TEST_F(vnode, level_triggered_accumulates)
{
	struct kevent ev;
	int fd;

	fd = new_file("f", 1);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, 0, NOTE_WRITE | NOTE_ATTRIB));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));

	/* Without EV_CLEAR the notes stay and accumulate. */
	ASSERT_EQ(1, write(fd, buf, 1));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, (int)ev.fflags);
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, (int)ev.fflags);
	ASSERT_EQ(0, fchmod(fd, 0600));
	ASSERT_EQ(1, kev_poll_one(self->kq, &ev));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB, (int)ev.fflags);

	/* Re-created: nothing fired yet. */
	ASSERT_EQ(0, kq_change(self->kq, fd, EVFILT_VNODE, EV_DELETE, 0, 0,
			       NULL));
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_ONESHOT, NOTE_EXTEND));
	EXPECT_EQ(0, kev_poll_one(self->kq, &ev));
	close(fd);
}

TEST_F(vnode, oneshot_dispatch_disable)
{
	struct waiter w;
	int fd;

	fd = new_file("f", 1);
	ASSERT_GE(fd, 0);

	/* EV_ONESHOT: reported once, then gone. */
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_ONESHOT, NOTE_WRITE));
	ASSERT_EQ(1, write(fd, buf, 1));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	ASSERT_EQ(1, write(fd, buf, 1));
	EXPECT_EQ(0, VN(self->kq, fd));
	EXPECT_EQ(ENOENT, kq_receipt(self->kq, fd, EVFILT_VNODE, EV_DELETE, 0,
				     0, NULL));

	/* EV_DISPATCH: disabled after the report, notes kept meanwhile. */
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_DISPATCH | EV_CLEAR,
			    NOTE_WRITE | NOTE_ATTRIB));
	ASSERT_EQ(1, write(fd, buf, 1));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	ASSERT_EQ(0, fchmod(fd, 0600));
	EXPECT_EQ(0, VN(self->kq, fd));
	ASSERT_EQ(0, kq_change(self->kq, fd, EVFILT_VNODE, EV_ENABLE,
			       NOTE_WRITE | NOTE_ATTRIB, 0, UDATA(fd)));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));

	/* A thread blocked in kevent() is woken by the change. */
	ASSERT_EQ(0, kq_change(self->kq, fd, EVFILT_VNODE, EV_ENABLE,
			       NOTE_WRITE | NOTE_ATTRIB, 0, UDATA(fd)));
	ASSERT_EQ(0, waiter_start(&w, self->kq, 5000, 50));
	EXPECT_FALSE(waiter_done(&w));
	ASSERT_EQ(1, write(fd, buf, 1));
	ASSERT_TRUE(waiter_wait(&w, 3000));
	EXPECT_EQ(1, w.ret);
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, (int)w.ev.fflags);
	EXPECT_LT(waiter_blocked_ms(&w), 3000);
	close(fd);
}

/* Descriptor keying. */

TEST_F(vnode, close_removes_knote)
{
	int fd, fd2;

	fd = new_file("f", 1);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));
	ASSERT_EQ(1, write(fd, buf, 1));
	close(fd);
	/* Pending notes of a closed descriptor are not reported. */
	EXPECT_EQ(0, VN(self->kq, fd));

	/* The same number for another file inherits nothing... */
	fd2 = new_file("g", 1);
	ASSERT_EQ(fd, fd2);
	EXPECT_EQ(ENOENT, kq_receipt(self->kq, fd2, EVFILT_VNODE, EV_DELETE, 0,
				     0, NULL));
	/* ...and changes to the old file are not reported. */
	ASSERT_EQ(0, vn_add(self->kq, fd2, EV_CLEAR, NOTE_ALL));
	ASSERT_EQ(0, chmod("f", 0600));
	EXPECT_EQ(0, VN(self->kq, fd2));
	ASSERT_EQ(0, chmod("g", 0600));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd2));

	/* A duplicate is a separate knote on the same file. */
	fd = dup(fd2);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ATTRIB));
	ASSERT_EQ(0, fchmod(fd, 0644));
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	ASSERT_EQ(0, fchmod(fd, 0600));
	close(fd2);
	EXPECT_EQ(NOTE_ATTRIB, VN(self->kq, fd));
	EXPECT_EQ(0, VN(self->kq, fd2));
	close(fd);
}

/* Many knotes on one inode, in one kqueue and in several. */
TEST_F(vnode, many_knotes_one_inode)
{
	enum { NFD = 200, NKQ = 8 };
	int fds[NFD], kqs[NKQ], i, n, seen;
	struct kevent evs[NFD + 8];
	struct rlimit rl;

	getrlimit(RLIMIT_NOFILE, &rl);
	ASSERT_GE(rl.rlim_cur, (rlim_t)(NFD + NKQ + 16));
	fds[0] = new_file("f", 0);
	ASSERT_GE(fds[0], 0);
	for (i = 1; i < NFD; i++) {
		fds[i] = i % 2 ? dup(fds[0]) : open("f", O_RDONLY | O_CLOEXEC);
		ASSERT_GE(fds[i], 0);
	}
	for (i = 0; i < NFD; i++)
		ASSERT_EQ(0, vn_add(self->kq, fds[i], EV_CLEAR, NOTE_WRITE));
	for (i = 0; i < NKQ; i++) {
		kqs[i] = kqueue();
		ASSERT_GE(kqs[i], 0);
		ASSERT_EQ(0, vn_add(kqs[i], fds[i], EV_CLEAR,
				    NOTE_WRITE | NOTE_EXTEND));
	}

	ASSERT_EQ(1, write(fds[0], buf, 1));
	n = kev_poll(self->kq, evs, NFD + 8);
	ASSERT_EQ(NFD, n);
	seen = 0;
	for (i = 0; i < n; i++) {
		EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, (int)evs[i].fflags);
		seen += evs[i].udata == UDATA(evs[i].ident);
	}
	EXPECT_EQ(NFD, seen);
	for (i = 0; i < NKQ; i++)
		EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(kqs[i], fds[i]));

	/* Half of them gone: the others still get the events. */
	for (i = 0; i < NFD; i += 2)
		ASSERT_EQ(0, kq_change(self->kq, fds[i], EVFILT_VNODE,
				       EV_DELETE, 0, 0, NULL));
	for (i = 0; i < NKQ; i += 2)
		close(kqs[i]);
	ASSERT_EQ(1, pwrite(fds[0], buf, 1, 0));
	EXPECT_EQ(NFD / 2, kev_poll(self->kq, evs, NFD + 8));
	for (i = 1; i < NKQ; i += 2)
		EXPECT_EQ(NOTE_WRITE, VN(kqs[i], fds[i]));

	for (i = 1; i < NKQ; i += 2)
		close(kqs[i]);
	for (i = 0; i < NFD; i++)
		close(fds[i]);
}

/* Writers in several threads, and knotes coming and going meanwhile. */
struct writer_arg {
	int fd;
	int n;
	int err;
};

static void *writer_fn(void *p)
{
	struct writer_arg *a = p;
	char c = 'w';
	int i;

	for (i = 0; i < a->n; i++) {
		if (write(a->fd, &c, 1) != 1) {
			a->err = errno ? errno : EIO;
			break;
		}
		if (i % 64 == 0)
			sched_yield();
	}
	return NULL;
}

struct churn_arg {
	int fd;
	int *stop;		/* read and written atomically */
	int rounds;
	int err;
};

/* Adds and deletes knotes on the file in kqueues of its own. */
static void *churn_fn(void *p)
{
	struct churn_arg *a = p;
	int kq;

	while (!__atomic_load_n(a->stop, __ATOMIC_RELAXED)) {
		kq = kqueue();
		if (kq < 0) {
			a->err = errno;
			break;
		}
		if (vn_add(kq, a->fd, EV_CLEAR, NOTE_ALL) ||
		    (a->rounds % 2 && kq_change(kq, a->fd, EVFILT_VNODE,
						EV_DELETE, 0, 0, NULL)))
			a->err = EINVAL;
		close(kq);
		a->rounds++;
	}
	return NULL;
}

TEST_F(vnode, concurrent_writers)
{
	enum { NW = 4, PER = 2000, NC = 2 };
	struct writer_arg wa[NW];
	struct churn_arg ca[NC];
	pthread_t wt[NW], ct[NC];
	int stop = 0;
	struct kevent ev;
	int fd, i, events = 0, bad = 0;
	struct stat st;

	fd = open("f", O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_WRITE | NOTE_EXTEND));
	for (i = 0; i < NC; i++) {
		ca[i] = (struct churn_arg){ .fd = fd, .stop = &stop };
		ASSERT_EQ(0, pthread_create(&ct[i], NULL, churn_fn, &ca[i]));
	}
	for (i = 0; i < NW; i++) {
		wa[i] = (struct writer_arg){ .fd = fd, .n = PER };
		ASSERT_EQ(0, pthread_create(&wt[i], NULL, writer_fn, &wa[i]));
	}
	/* Collect while they write: every event is a write that extended. */
	for (i = 0; i < 200; i++) {
		int n = kev_wait(self->kq, NULL, 0, &ev, 1, 5);

		if (n == 1) {
			events++;
			bad += ev.fflags != (NOTE_WRITE | NOTE_EXTEND);
		}
	}
	for (i = 0; i < NW; i++) {
		pthread_join(wt[i], NULL);
		EXPECT_EQ(0, wa[i].err);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < NC; i++) {
		pthread_join(ct[i], NULL);
		EXPECT_EQ(0, ca[i].err);
		EXPECT_GT(ca[i].rounds, 0);
	}
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(NW * PER, st.st_size);
	EXPECT_GT(events, 0);
	EXPECT_EQ(0, bad);
	/* At most one more event is pending, then nothing until a write. */
	kev_poll_one(self->kq, &ev);
	EXPECT_EQ(0, VN(self->kq, fd));
	ASSERT_EQ(1, write(fd, buf, 1));
	EXPECT_EQ(NOTE_WRITE | NOTE_EXTEND, VN(self->kq, fd));
	close(fd);
}

/* A filesystem of its own for each test below. */
FIXTURE(disk) {
	int kq;
	char dir[128];
	char img[128];
	bool mounted;
};

FIXTURE_SETUP(disk)
{
	const char *err;

	self->kq = kqueue();
	ASSERT_GE(self->kq, 0);
	snprintf(self->dir, sizeof(self->dir), "/tmp/kqueue-vnode-mnt-%d",
		 (int)getpid());
	snprintf(self->img, sizeof(self->img), "/tmp/kqueue-vnode-%d.img",
		 (int)getpid());
	err = mount_ext2(self->img, self->dir, 4);
	ASSERT_EQ(NULL, err) TH_LOG("%s: %s", err, strerror(errno));
	self->mounted = true;
}

FIXTURE_TEARDOWN(disk)
{
	if (self->kq >= 0)
		close(self->kq);
	if (self->mounted)
		umount2(self->dir, MNT_DETACH);
	rmdir(self->dir);
	unlink(self->img);
}

/* The filesystem shuts down under the watch: NOTE_REVOKE with EV_EOF. */
TEST_F(disk, shutdown_revokes)
{
	unsigned short flags = 0;
	char path[256];
	struct kevent ev;
	__u32 how = SHUTDOWN_NOLOGFLUSH;
	int fd, d, n, other;

	snprintf(path, sizeof(path), "%s/f", self->dir);
	fd = new_file(path, 10);
	ASSERT_GE(fd, 0);
	d = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_REVOKE | NOTE_WRITE));
	/* Not asked for: EV_EOF all the same, with no notes. */
	ASSERT_EQ(0, vn_add(self->kq, d, 0, NOTE_WRITE));
	/* A knote on another filesystem is not revoked. */
	other = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(other, 0);
	ASSERT_EQ(0, vn_add(self->kq, other, 0, NOTE_ALL));

	ASSERT_EQ(0, ioctl(fd, FS_IOC_SHUTDOWN, &how));
	/* Reported from a worker: wait for it. */
	ASSERT_EQ(1, kev_wait_for(self->kq, fd, EVFILT_VNODE, &ev, 3000));
	EXPECT_EQ(NOTE_REVOKE, (int)ev.fflags);
	EXPECT_EQ(EV_CLEAR | EV_EOF, ev.flags);
	ASSERT_EQ(1, kev_wait_for(self->kq, d, EVFILT_VNODE, &ev, 3000));
	EXPECT_EQ(0, (int)ev.fflags);
	EXPECT_EQ(EV_EOF, ev.flags);
	/* Level-triggered: EV_EOF stays. EV_CLEAR: reported once. */
	EXPECT_EQ(0, (int)vn_fflags(self->kq, d, &n, &flags));
	EXPECT_EQ(1, n);
	EXPECT_EQ(EV_EOF, flags);
	EXPECT_EQ(0, (int)vn_fflags(self->kq, fd, &n, NULL));
	EXPECT_EQ(0, n);
	EXPECT_EQ(0, VN(self->kq, other));

	/* I/O on the file fails now. */
	EXPECT_EQ(-1, write(fd, buf, 1));
	close(fd);
	close(d);
	close(other);
}

/*
 * A knote does not keep the filesystem busy: once the descriptor is closed
 * it can be unmounted, even before the kqueue looks at the knote again.
 */
TEST_F(disk, unmount_after_close)
{
	char path[256];
	int fd, d;

	snprintf(path, sizeof(path), "%s/f", self->dir);
	fd = new_file(path, 10);
	ASSERT_GE(fd, 0);
	d = open(self->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(d, 0);
	ASSERT_EQ(0, vn_add(self->kq, fd, EV_CLEAR, NOTE_ALL));
	ASSERT_EQ(0, vn_add(self->kq, d, EV_CLEAR, NOTE_ALL));
	/* Busy while open. */
	EXPECT_EQ(-1, umount(self->dir));
	EXPECT_EQ(EBUSY, errno);
	close(fd);
	close(d);
	ASSERT_EQ(0, umount(self->dir));
	self->mounted = false;
	/* The knotes are stale: nothing is reported. */
	EXPECT_EQ(0, VN(self->kq, fd));
	EXPECT_EQ(0, VN(self->kq, d));
}

TEST_HARNESS_MAIN
