// SPDX-License-Identifier: GPL-2.0
/*
 * Introspection: the KQUEUE_IOC_FEATURES ioctl (every field, its errors, on
 * any kqueue descriptor, against what registrations accept) and the knote
 * listing in /proc/PID/fdinfo/FD (format, states, the 4096-line cap, a
 * reader in another process while the owner is blocked in kevent()).
 * doc/semantics.md ("Introspection") is the contract.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <linux/kqueue.h>
#include <sys/event.h>

#include "kselftest_harness.h"
#include "kqueue_test_util.h"

/* Bit of filter @f in struct kqueue_features.filters. */
#define FILTER_BIT(f)	(1u << (-(f) - 1))

/* What this module supports (doc/semantics.md, "Introspection"). */
#define SUPPORTED_FILTERS						\
	(FILTER_BIT(EVFILT_READ) | FILTER_BIT(EVFILT_WRITE) |		\
	 FILTER_BIT(EVFILT_VNODE) | FILTER_BIT(EVFILT_PROC) |		\
	 FILTER_BIT(EVFILT_SIGNAL) | FILTER_BIT(EVFILT_TIMER) |	\
	 FILTER_BIT(EVFILT_PROCDESC) | FILTER_BIT(EVFILT_USER) |	\
	 FILTER_BIT(EVFILT_EMPTY))

#define NOTE_VNODE_ALL							\
	(NOTE_DELETE | NOTE_WRITE | NOTE_EXTEND | NOTE_ATTRIB | NOTE_LINK | \
	 NOTE_RENAME | NOTE_REVOKE | NOTE_OPEN | NOTE_CLOSE |		\
	 NOTE_CLOSE_WRITE | NOTE_READ | NOTE_TRUNCATE)

#define NOTE_TIMER_ALL							\
	(NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS |	\
	 NOTE_ABSTIME)

/*
 * A per-user limit the module should report: the runner exports the module
 * parameters it loaded the module with (selftests/vm/init.sh) as
 * KQ_<PARAMETER>; without one, the default.
 */
static __u32 expected_limit(const char *env, __u32 def)
{
	const char *v = getenv(env);

	return v ? (__u32)strtoul(v, NULL, 10) : def;
}

/* The NOTE_* bits each filter -1 .. -16 accepts, by slot. */
static unsigned int expected_fflags(int slot)
{
	switch (-slot - 1) {
	case EVFILT_READ:
	case EVFILT_WRITE:
	case EVFILT_EMPTY:
		return NOTE_LOWAT | NOTE_FILE_POLL;
	case EVFILT_VNODE:
		return NOTE_VNODE_ALL;
	case EVFILT_PROC:
		return NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK;
	case EVFILT_PROCDESC:
		return NOTE_EXIT;
	case EVFILT_TIMER:
		return NOTE_TIMER_ALL;
	case EVFILT_USER:
		return NOTE_FFCTRLMASK | NOTE_FFLAGSMASK | NOTE_TRIGGER;
	default:
		return 0;	/* SIGNAL, and the unsupported ones */
	}
}

static int raw_features(int fd, struct kqueue_features *f)
{
	return ioctl(fd, KQUEUE_IOC_FEATURES, f);
}

/* Is the kqueue usable after a failed ioctl? A user event round trip. */
static bool kq_works(int kq)
{
	struct kevent ev;

	if (kq_change(kq, 4242, EVFILT_USER, EV_ADD | EV_ONESHOT, NOTE_TRIGGER,
		      0, NULL))
		return false;
	return kev_poll(kq, &ev, 1) == 1 && ev.ident == 4242;
}

/*
 * The whole of /proc/@pid/fdinfo/@fd as a string (malloc'ed), or NULL with
 * errno set.
 */
static char *read_fdinfo(pid_t pid, int fd)
{
	size_t len = 0, size = 65536;
	char path[64], *buf, *bigger;
	ssize_t n;
	int in;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return NULL;
	buf = malloc(size);
	while (buf) {
		if (size - len < 2) {
			size *= 2;
			bigger = realloc(buf, size);
			if (!bigger) {
				free(buf);
				buf = NULL;
				errno = ENOMEM;
				break;
			}
			buf = bigger;
		}
		n = read(in, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			buf = NULL;
			break;
		}
		if (n == 0) {
			buf[len] = '\0';
			break;
		}
		len += (size_t)n;
	}
	close(in);
	return buf;
}

/* The line after @line, or NULL. */
static const char *next_line(const char *line)
{
	const char *nl = strchr(line, '\n');

	return nl ? nl + 1 : NULL;
}

/* The value of the line "@name:\t<value>" of @text, or -1 if absent. */
static long fdinfo_value(const char *text, const char *name)
{
	size_t nlen = strlen(name);
	const char *line;

	for (line = text; line && *line; line = next_line(line))
		if (!strncmp(line, name, nlen) && line[nlen] == ':' &&
		    line[nlen + 1] == '\t')
			return strtol(line + nlen + 2, NULL, 10);
	return -1;
}

/* Number of lines of @text that start with @prefix. */
static int count_lines(const char *text, const char *prefix)
{
	size_t plen = strlen(prefix);
	const char *line;
	int n = 0;

	for (line = text; line && *line; line = next_line(line))
		if (!strncmp(line, prefix, plen))
			n++;
	return n;
}

/* Does @text have the line @want (without its newline)? */
static bool has_line(const char *text, const char *want)
{
	size_t wlen = strlen(want);
	const char *line;

	for (line = text; line && *line; line = next_line(line))
		if (!strncmp(line, want, wlen) &&
		    (line[wlen] == '\n' || line[wlen] == '\0'))
			return true;
	return false;
}

/*
 * The knote line of (@ident, @filter name) in @text, copied without
 * "knote:\t" and the newline into @out; false if there is none.
 */
static bool knote_line(const char *text, uint64_t ident, const char *filter,
		       char *out, size_t size)
{
	char prefix[96];
	const char *line, *end;
	size_t plen, len;

	plen = (size_t)snprintf(prefix, sizeof(prefix),
				"knote:\tident %" PRIu64 " filter %s ", ident, filter);
	for (line = text; line && *line; line = next_line(line)) {
		if (strncmp(line, prefix, plen))
			continue;
		end = strchrnul(line, '\n');
		len = (size_t)(end - line) - 7;
		if (len >= size)
			len = size - 1;
		memcpy(out, line + 7, len);
		out[len] = '\0';
		return true;
	}
	return false;
}

/*
 * The state of the knote (@ident, @filter) in the kqueue @kq of this
 * process ("-", "active,queued", ...) in @out, or "absent" / "no fdinfo".
 */
static const char *knote_state(int kq, uint64_t ident, const char *filter,
			       char *out, size_t size)
{
	char line[256], *text, *state;

	text = read_fdinfo(getpid(), kq);
	if (!text) {
		snprintf(out, size, "no fdinfo");
		return out;
	}
	if (!knote_line(text, ident, filter, line, sizeof(line))) {
		snprintf(out, size, "absent");
	} else {
		state = strstr(line, " state ");
		snprintf(out, size, "%s", state ? state + 7 : "no state");
	}
	free(text);
	return out;
}

/* The expected knote line, as the module prints it. */
static const char *knote_fmt(char *out, size_t size, uint64_t ident,
			     const char *filter, unsigned int flags,
			     unsigned int fflags, int64_t data, uint64_t udata,
			     const char *state)
{
	/* Rust's {:#x}: 0 is "0x0", unlike C's %#x. */
	snprintf(out, size,
		 "knote:\tident %" PRIu64 " filter %s flags 0x%x fflags 0x%x data %" PRId64
		 " udata 0x%" PRIx64 " state %s",
		 ident, filter, flags, fflags, data, udata, state);
	return out;
}

FIXTURE(info) {
	int kq;
};

FIXTURE_SETUP(info)
{
	self->kq = kqueue();
	ASSERT_GE(self->kq, 0)
		TH_LOG("kqueue(): %s (is kqueue.ko loaded?)", strerror(errno));
}

FIXTURE_TEARDOWN(info)
{
	if (self->kq >= 0)
		close(self->kq);
}

/* Every field of the raw ioctl's answer. */
TEST_F(info, features_values)
{
	struct kqueue_features f, again;
	int slot, i, dup_fd, kq2;

	memset(&f, 0xa5, sizeof(f));
	ASSERT_EQ(128u, sizeof(f));
	ASSERT_EQ(0, raw_features(self->kq, &f)) TH_LOG("%s", strerror(errno));

	EXPECT_EQ((__u32)KQUEUE_ABI_VERSION, f.abi_version);
	EXPECT_EQ(1u, f.abi_version);
	/* The test kernels have CONFIG_FPROBE: the close() hook is active. */
	EXPECT_EQ((__u32)(KQUEUE_FEAT_CLOSE_HOOK | KQUEUE_FEAT_FDINFO), f.features);
	EXPECT_EQ(SUPPORTED_FILTERS, f.filters);
	EXPECT_EQ(0x14fbu, f.filters);
	EXPECT_EQ((__u32)(EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE |
			  EV_ONESHOT | EV_CLEAR | EV_RECEIPT | EV_DISPATCH |
			  EV_FORCEONESHOT | EV_KEEPUDATA), f.ev_flags);
	EXPECT_EQ(0x3ffu, f.ev_flags);
	EXPECT_EQ((__u32)KQUEUE_KEVENT_FLAGS, f.kevent_flags);
	EXPECT_EQ(KQUEUE_MAX_CHANGES, f.max_changes);
	EXPECT_EQ(KQUEUE_MAX_EVENTS, f.max_events);
	EXPECT_EQ(0u, f.reserved0);
	for (slot = 0; slot < 16; slot++)
		EXPECT_EQ(expected_fflags(slot), f.fflags[slot])
			TH_LOG("fflags of filter %d", -slot - 1);
	/* The values the lead's brief spells out. */
	EXPECT_EQ(0x3u, f.fflags[-EVFILT_READ - 1]);
	EXPECT_EQ(0xfffu, f.fflags[-EVFILT_VNODE - 1]);
	EXPECT_EQ(0xe0000001u, f.fflags[-EVFILT_PROC - 1]);
	EXPECT_EQ(0x1fu, f.fflags[-EVFILT_TIMER - 1]);
	EXPECT_EQ(0xc1ffffffu, f.fflags[-EVFILT_USER - 1]);
	/* The per-user limits: the module's parameters (the runner's values). */
	EXPECT_EQ(expected_limit("KQ_MAX_USER_KNOTES", 1048576), f.max_user_knotes);
	EXPECT_EQ(expected_limit("KQ_MAX_USER_TIMERS", 4096), f.max_user_timers);
	EXPECT_EQ(expected_limit("KQ_MAX_USER_PROC_WATCHES", 8192),
		  f.max_user_proc_watches);
	EXPECT_EQ(expected_limit("KQ_MAX_USER_VNODE_WATCHES", 65536),
		  f.max_user_vnode_watches);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0u, f.reserved[i]) TH_LOG("reserved[%d]", i);

	/* The same answer on a duplicate and on another kqueue. */
	dup_fd = dup(self->kq);
	ASSERT_GE(dup_fd, 0);
	memset(&again, 0, sizeof(again));
	EXPECT_EQ(0, raw_features(dup_fd, &again));
	EXPECT_EQ(0, memcmp(&f, &again, sizeof(f)));
	close(dup_fd);
	kq2 = kqueue();
	ASSERT_GE(kq2, 0);
	memset(&again, 0, sizeof(again));
	EXPECT_EQ(0, raw_features(kq2, &again));
	EXPECT_EQ(0, memcmp(&f, &again, sizeof(f)));
	close(kq2);
}

/* The library's wrapper and helpers give the same answer. */
TEST_F(info, features_library)
{
	struct kqueue_features raw, lib;
	short filter;

	memset(&raw, 0, sizeof(raw));
	memset(&lib, 0x5a, sizeof(lib));
	ASSERT_EQ(0, raw_features(self->kq, &raw));
	ASSERT_EQ(0, kqueue_features(&lib)) TH_LOG("%s", strerror(errno));
	EXPECT_EQ(0, memcmp(&raw, &lib, sizeof(raw)));

	for (filter = -1; filter >= -16; filter--) {
		EXPECT_EQ(!!(SUPPORTED_FILTERS & FILTER_BIT(filter)),
			  kqueue_features_has_filter(&lib, filter))
			TH_LOG("filter %d", filter);
		EXPECT_EQ(expected_fflags(-filter - 1),
			  kqueue_features_fflags(&lib, filter))
			TH_LOG("filter %d", filter);
	}
	EXPECT_EQ(0, kqueue_features_has_filter(&lib, 0));
	EXPECT_EQ(0, kqueue_features_has_filter(&lib, -100));
	EXPECT_EQ(0u, kqueue_features_fflags(&lib, -17));

	errno = 0;
	EXPECT_EQ(-1, kqueue_features(NULL));
	EXPECT_EQ(EFAULT, errno);
}

/* A result address the kernel cannot write is EFAULT; the kqueue is fine. */
TEST_F(info, features_efault)
{
	struct kqueue_features *f;
	char *pages;

	errno = 0;
	EXPECT_EQ(-1, raw_features(self->kq, NULL));
	EXPECT_EQ(EFAULT, errno);
	errno = 0;
	EXPECT_EQ(-1, raw_features(self->kq, (void *)1));
	EXPECT_EQ(EFAULT, errno);

	pages = mmap(NULL, 8192, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, pages);
	errno = 0;
	EXPECT_EQ(-1, raw_features(self->kq, (void *)pages));
	EXPECT_EQ(EFAULT, errno);

	/* Read-only. */
	ASSERT_EQ(0, mprotect(pages, 4096, PROT_READ));
	errno = 0;
	EXPECT_EQ(-1, raw_features(self->kq, (void *)pages));
	EXPECT_EQ(EFAULT, errno);

	/* Half of it on a writable page, half on an unmapped one. */
	ASSERT_EQ(0, mprotect(pages, 4096, PROT_READ | PROT_WRITE));
	ASSERT_EQ(0, munmap(pages + 4096, 4096));
	f = (struct kqueue_features *)(pages + 4096 - 64);
	errno = 0;
	EXPECT_EQ(-1, raw_features(self->kq, f));
	EXPECT_EQ(EFAULT, errno);
	/* Just fits: fine. */
	f = (struct kqueue_features *)(pages + 4096 - sizeof(*f));
	EXPECT_EQ(0, raw_features(self->kq, f));
	EXPECT_EQ((__u32)KQUEUE_ABI_VERSION, f->abi_version);
	munmap(pages, 4096);

	EXPECT_TRUE(kq_works(self->kq));
}

/* Other ioctl numbers are ENOTTY, and so is the query on other files. */
TEST_F(info, features_enotty)
{
	static const unsigned long bad[] = {
		_IOR(KQUEUE_IOC_MAGIC, 0x03, struct kqueue_features),
		_IOR(KQUEUE_IOC_MAGIC, 0x00, struct kqueue_features),
		_IOW(KQUEUE_IOC_MAGIC, 0x02, struct kqueue_features),
		_IOWR(KQUEUE_IOC_MAGIC, 0x02, struct kqueue_features),
		_IOC(_IOC_READ, KQUEUE_IOC_MAGIC, 0x02, 64),
		_IOC(_IOC_READ, KQUEUE_IOC_MAGIC, 0x02, 256),
		_IOR(0xBA, 0x02, struct kqueue_features),
		_IO(KQUEUE_IOC_MAGIC, 0x02),
		0,
	};
	struct kqueue_features f;
	unsigned int i;
	int p[2], fd;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&f, 0xa5, sizeof(f));
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->kq, bad[i], &f)) TH_LOG("%#lx", bad[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("%#lx", bad[i]);
		/* Nothing was written. */
		EXPECT_EQ(0xa5a5a5a5u, f.abi_version) TH_LOG("%#lx", bad[i]);
	}

	ASSERT_EQ(0, pipe(p));
	errno = 0;
	EXPECT_EQ(-1, raw_features(p[0], &f));
	EXPECT_EQ(ENOTTY, errno);
	close(p[0]);
	close(p[1]);
	fd = open("/dev/null", O_RDWR);
	ASSERT_GE(fd, 0);
	errno = 0;
	EXPECT_EQ(-1, raw_features(fd, &f));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
	EXPECT_TRUE(kq_works(self->kq));
}

/*
 * The query works on a kqueue this process does not own (kevent() is EBADF
 * there), and that process's fdinfo lists the owner's knotes.
 */
TEST_F(info, features_in_child)
{
	struct kqueue_features f;
	struct kevent ev;
	char want[256], *text;
	int status;
	pid_t pid;

	ASSERT_EQ(0, kq_change(self->kq, 5, EVFILT_USER, EV_ADD, 0, 0, UDATA(5)));
	ASSERT_EQ(0, raw_features(self->kq, &f));
	knote_fmt(want, sizeof(want), 5, "USER", 0, 0, 0,
		  (uintptr_t)UDATA(5), "-");
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		struct kqueue_features c;

		memset(&c, 0, sizeof(c));
		if (raw_features(self->kq, &c))
			_exit(10);
		if (memcmp(&c, &f, sizeof(c)))
			_exit(11);
		if (kev_poll(self->kq, &ev, 1) != -1 || errno != EBADF)
			_exit(12);
		text = read_fdinfo(getpid(), self->kq);
		if (!text)
			_exit(13);
		if (fdinfo_value(text, "knotes") != 1 || !has_line(text, want))
			_exit(14);
		free(text);
		_exit(0);
	}
	status = wait_child(pid, 30000);
	EXPECT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
	EXPECT_TRUE(kq_works(self->kq));
}

/* Ident and data for a registration of @filter (-1 .. -13). */
struct registration {
	uintptr_t ident;
	int64_t data;
};

/*
 * Add a knote of @filter with @fflags and delete it again; returns 0 or the
 * errno of the add.
 */
static int try_add(int kq, short filter, const struct registration *r,
		   unsigned int fflags)
{
	int err = kq_change(kq, r->ident, filter, EV_ADD, fflags, r->data, NULL);

	if (!err)
		kq_change(kq, r->ident, filter, EV_DELETE, 0, 0, NULL);
	return err;
}

/*
 * What the report claims is what registrations find: every unsupported
 * filter is EINVAL, each listed NOTE_* bit is accepted on its own, and each
 * other bit is EINVAL (EVFILT_USER accepts and ignores the others).
 */
TEST_F(info, features_match_registrations)
{
	struct registration regs[16];
	struct kqueue_features f;
	char path[] = "/tmp/kqueue-info-vnode.XXXXXX", *text;
	int p[2], sv[2], file, pidfd, slot, bit, err;
	short filter;

	ASSERT_EQ(0, raw_features(self->kq, &f));
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	file = mkstemp(path);
	ASSERT_GE(file, 0);
	unlink(path);
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	ASSERT_GE(pidfd, 0);

	memset(regs, 0, sizeof(regs));
	regs[-EVFILT_READ - 1].ident = (uintptr_t)p[0];
	regs[-EVFILT_WRITE - 1].ident = (uintptr_t)p[1];
	regs[-EVFILT_EMPTY - 1].ident = (uintptr_t)sv[0];
	regs[-EVFILT_VNODE - 1].ident = (uintptr_t)file;
	regs[-EVFILT_PROC - 1].ident = (uintptr_t)getpid();
	regs[-EVFILT_PROCDESC - 1].ident = (uintptr_t)pidfd;
	regs[-EVFILT_SIGNAL - 1].ident = SIGUSR1;
	regs[-EVFILT_USER - 1].ident = 1;
	/* 10^11 of any unit (or an ABSTIME deadline centuries ahead). */
	regs[-EVFILT_TIMER - 1].ident = 1;
	regs[-EVFILT_TIMER - 1].data = 100000000000LL;

	for (slot = 0; slot < 16; slot++) {
		filter = (short)(-slot - 1);
		if (!(f.filters & (1u << slot))) {
			EXPECT_EQ(EINVAL, try_add(self->kq, filter, &regs[slot], 0))
				TH_LOG("unsupported filter %d", filter);
			continue;
		}
		EXPECT_EQ(0, try_add(self->kq, filter, &regs[slot], 0))
			TH_LOG("filter %d, no fflags", filter);
		for (bit = 0; bit < 32; bit++) {
			unsigned int note = 1u << bit;
			bool listed = f.fflags[slot] & note;

			err = try_add(self->kq, filter, &regs[slot], note);
			if (listed || filter == EVFILT_USER) {
				EXPECT_EQ(0, err)
					TH_LOG("filter %d, fflags %#x", filter, note);
			} else {
				EXPECT_EQ(EINVAL, err)
					TH_LOG("filter %d, fflags %#x", filter, note);
			}
		}
	}
	/* Every registration was deleted again. */
	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(0, fdinfo_value(text, "knotes"));
	free(text);
	close(pidfd);
	close(file);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

/* The listing: counts, each field, and how the states change. */
TEST_F(info, fdinfo_listing)
{
	struct kevent evs[8];
	char want[256], state[64], *text;
	int p[2], n, rfd;

	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	/* The VFS's own lines come first, then ours. */
	EXPECT_EQ(0, strncmp(text, "pos:\t", 5)) TH_LOG("%s", text);
	ASSERT_NE(NULL, strstr(text, "ino:\t")) TH_LOG("%s", text);
	ASSERT_NE(NULL, strstr(text, "knotes:\t")) TH_LOG("%s", text);
	EXPECT_LT(strstr(text, "ino:\t") - text, strstr(text, "knotes:\t") - text);
	EXPECT_EQ(0, fdinfo_value(text, "knotes"));
	EXPECT_EQ(0, fdinfo_value(text, "queued"));
	EXPECT_EQ(0, count_lines(text, "knote:"));
	EXPECT_EQ(0, count_lines(text, "more:"));
	free(text);

	ASSERT_EQ(0, pipe(p));
	rfd = p[0];
	/* An idle pipe. */
	ASSERT_EQ(0, kq_change(self->kq, rfd, EVFILT_READ, EV_ADD, 0, 0, UDATA(1)));
	/* A triggered user event with EV_CLEAR, stored bits and data. */
	ASSERT_EQ(0, kq_change(self->kq, 1007, EVFILT_USER, EV_ADD | EV_CLEAR,
			       NOTE_FFCOPY | 0x1234, 55, UDATA(7)));
	ASSERT_EQ(0, kq_change(self->kq, 1007, EVFILT_USER, 0, NOTE_TRIGGER, 55,
			       UDATA(7)));
	/* A disabled timer (an hour: it does not fire meanwhile). */
	ASSERT_EQ(0, kq_change(self->kq, 1009, EVFILT_TIMER, EV_ADD | EV_DISABLE,
			       NOTE_SECONDS, 3600, NULL));
	/* A signal (EV_CLEAR implied), an EV_DISPATCH and an EV_ONESHOT one. */
	ASSERT_EQ(0, kq_change(self->kq, SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0,
			       UDATA(10)));
	ASSERT_EQ(0, kq_change(self->kq, 1011, EVFILT_USER, EV_ADD | EV_DISPATCH,
			       0, -3, UDATA(11)));
	ASSERT_EQ(0, kq_receipt(self->kq, 1013, EVFILT_USER, EV_ADD | EV_ONESHOT,
				NOTE_FFOR | 0xff0000, 0, (void *)~(uintptr_t)0));

	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(6, fdinfo_value(text, "knotes")) TH_LOG("%s", text);
	EXPECT_EQ(1, fdinfo_value(text, "queued")) TH_LOG("%s", text);
	EXPECT_EQ(6, count_lines(text, "knote:\t"));
	EXPECT_TRUE(has_line(text, knote_fmt(want, sizeof(want), rfd, "READ", 0,
					     0, 0, (uintptr_t)UDATA(1), "-")))
		TH_LOG("want %s in\n%s", want, text);
	EXPECT_TRUE(has_line(text, knote_fmt(want, sizeof(want), 1007, "USER",
					     EV_CLEAR, 0x1234, 55,
					     (uintptr_t)UDATA(7),
					     "active,queued")))
		TH_LOG("want %s in\n%s", want, text);
	EXPECT_TRUE(has_line(text, knote_fmt(want, sizeof(want), 1009, "TIMER",
					     EV_CLEAR, NOTE_SECONDS, 3600, 0,
					     "disabled")))
		TH_LOG("want %s in\n%s", want, text);
	EXPECT_TRUE(has_line(text, knote_fmt(want, sizeof(want), SIGUSR1,
					     "SIGNAL", EV_CLEAR, 0, 0,
					     (uintptr_t)UDATA(10), "-")))
		TH_LOG("want %s in\n%s", want, text);
	EXPECT_TRUE(has_line(text, knote_fmt(want, sizeof(want), 1011, "USER",
					     EV_DISPATCH, 0, -3,
					     (uintptr_t)UDATA(11), "-")))
		TH_LOG("want %s in\n%s", want, text);
	/* EV_RECEIPT is kept with the knote; udata in full. */
	EXPECT_TRUE(has_line(text, knote_fmt(want, sizeof(want), 1013, "USER",
					     EV_ONESHOT | EV_RECEIPT, 0xff0000,
					     0, UINT64_MAX, "-")))
		TH_LOG("want %s in\n%s", want, text);
	free(text);

	/* Data in the pipe: the READ knote is woken and queued. */
	ASSERT_EQ(3, write(p[1], "abc", 3));
	EXPECT_STREQ("active,queued",
		     knote_state(self->kq, rfd, "READ", state, sizeof(state)));

	/*
	 * Collected: the EV_CLEAR user event is reset (not active, its bits
	 * and data cleared); the pipe, still readable, is queued again.
	 */
	n = kev_poll(self->kq, evs, 8);
	ASSERT_EQ(2, n);
	EXPECT_GE(find_event(evs, n, 1007, EVFILT_USER), 0);
	EXPECT_GE(find_event(evs, n, rfd, EVFILT_READ), 0);
	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	EXPECT_TRUE(has_line(text, knote_fmt(want, sizeof(want), 1007, "USER",
					     EV_CLEAR, 0, 0,
					     (uintptr_t)UDATA(7), "-")))
		TH_LOG("want %s in\n%s", want, text);
	EXPECT_EQ(6, fdinfo_value(text, "knotes"));
	free(text);
	/* Looked at (no longer "active"), queued again for the next look. */
	EXPECT_STREQ("queued", knote_state(self->kq, rfd, "READ", state,
					   sizeof(state)));

	/* Drained: the pipe's knote is dropped from the ready list. */
	ASSERT_EQ(3, read(rfd, want, 3));
	n = kev_poll(self->kq, evs, 8);
	EXPECT_EQ(0, n);
	EXPECT_STREQ("-", knote_state(self->kq, rfd, "READ", state,
				      sizeof(state)));

	/* EV_DISPATCH: reported once, then disabled. */
	ASSERT_EQ(0, kq_change(self->kq, 1011, EVFILT_USER, 0, NOTE_TRIGGER, -3,
			       UDATA(11)));
	EXPECT_STREQ("active,queued",
		     knote_state(self->kq, 1011, "USER", state, sizeof(state)));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 8));
	EXPECT_EQ(1011u, evs[0].ident);
	/* Still triggered (no EV_CLEAR), not reported while disabled. */
	EXPECT_STREQ("active,disabled",
		     knote_state(self->kq, 1011, "USER", state, sizeof(state)));
	EXPECT_EQ(0, kev_poll(self->kq, evs, 8));
	ASSERT_EQ(0, kq_change(self->kq, 1011, EVFILT_USER, EV_ENABLE, 0, -3,
			       UDATA(11)));
	EXPECT_STREQ("active,queued",
		     knote_state(self->kq, 1011, "USER", state, sizeof(state)));

	/* EV_ENABLE of the timer; EV_DISABLE of the user event. */
	ASSERT_EQ(0, kq_change(self->kq, 1009, EVFILT_TIMER, EV_ENABLE, 0, 0, NULL));
	EXPECT_STREQ("-", knote_state(self->kq, 1009, "TIMER", state,
				      sizeof(state)));
	ASSERT_EQ(0, kq_change(self->kq, 1011, EVFILT_USER, EV_DISABLE, 0, -3,
			       UDATA(11)));
	EXPECT_EQ(0, strncmp("active,", knote_state(self->kq, 1011, "USER",
						   state, sizeof(state)), 7))
		TH_LOG("state %s", state);
	EXPECT_NE(NULL, strstr(state, "disabled"));

	/* EV_ONESHOT: gone once reported. */
	ASSERT_EQ(0, kq_change(self->kq, 1013, EVFILT_USER, 0, NOTE_TRIGGER, 0,
			       NULL));
	ASSERT_EQ(1, kev_poll(self->kq, evs, 8));
	EXPECT_EQ(1013u, evs[0].ident);
	EXPECT_STREQ("absent", knote_state(self->kq, 1013, "USER", state,
					   sizeof(state)));

	/* EV_DELETE removes the line; close() (the hook) the pipe's. */
	ASSERT_EQ(0, kq_user_delete(self->kq, 1007));
	EXPECT_STREQ("absent", knote_state(self->kq, 1007, "USER", state,
					   sizeof(state)));
	ASSERT_EQ(0, close(rfd));
	EXPECT_STREQ("absent", knote_state(self->kq, rfd, "READ", state,
					   sizeof(state)));
	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(3, fdinfo_value(text, "knotes")) TH_LOG("%s", text);
	EXPECT_EQ(3, count_lines(text, "knote:\t"));
	free(text);
	close(p[1]);
}

/*
 * Knote lines come in (ident, filter) order, the filter as a number: for one
 * descriptor EMPTY (-13), WRITE (-2), READ (-1).
 */
TEST_F(info, fdinfo_order)
{
	static const uintptr_t idents[] = { 900, 3, 70000, 12, 1ULL << 40, 500 };
	uint64_t prev_ident = 0, ident;
	char filter[16], *text, *line;
	int sv[2], i, n = 0;
	short prev_filter = 0;

	for (i = 0; i < 6; i++)
		ASSERT_EQ(0, kq_user_add(self->kq, idents[i], 0));
	/* Two filters on one descriptor. */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	ASSERT_EQ(0, kq_fd_add(self->kq, sv[0], EVFILT_WRITE, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(self->kq, sv[0], EVFILT_READ, 0, 0, 0));
	ASSERT_EQ(0, kq_fd_add(self->kq, sv[0], EVFILT_EMPTY, 0, 0, 0));

	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	for (line = strstr(text, "knote:\t"); line; line = strstr(line + 1, "knote:\t")) {
		short f;
		int got;

		got = sscanf(line, "knote:\tident %" SCNu64 " filter %15s", &ident, filter);
		ASSERT_EQ(2, got);
		f = !strcmp(filter, "READ") ? EVFILT_READ :
		    !strcmp(filter, "WRITE") ? EVFILT_WRITE :
		    !strcmp(filter, "EMPTY") ? EVFILT_EMPTY :
		    !strcmp(filter, "USER") ? EVFILT_USER : 0;
		ASSERT_NE(0, f) TH_LOG("filter %s", filter);
		if (n > 0) {
			EXPECT_TRUE(ident > prev_ident ||
				    (ident == prev_ident && f > prev_filter))
				TH_LOG("%" PRIu64 "/%d after %" PRIu64 "/%d", ident,
				       f, prev_ident, prev_filter);
		}
		prev_ident = ident;
		prev_filter = f;
		n++;
	}
	EXPECT_EQ(9, n) TH_LOG("%s", text);
	free(text);
	close(sv[0]);
	close(sv[1]);
}

/* At most 4096 knote lines, then "more:\t<the rest>". */
TEST_F(info, fdinfo_cap)
{
	enum { TOTAL = 5000, CAP = 4096 };
	struct kevent *changes;
	char want[256], *text, *more;
	int i;

	changes = calloc(TOTAL, sizeof(*changes));
	ASSERT_NE(NULL, changes);
	for (i = 0; i < TOTAL; i++)
		EV_SET(&changes[i], i + 1, EVFILT_USER, EV_ADD, 0, 0, NULL);
	ASSERT_EQ(0, kevent(self->kq, changes, TOTAL, NULL, 0, NULL));

	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(TOTAL, fdinfo_value(text, "knotes"));
	EXPECT_EQ(CAP, count_lines(text, "knote:\t"));
	EXPECT_EQ(TOTAL - CAP, fdinfo_value(text, "more"));
	EXPECT_EQ(904, fdinfo_value(text, "more"));
	/* The first 4096 in order, then the last line. */
	EXPECT_EQ(0, strncmp(strstr(text, "knote:\t"),
			     knote_fmt(want, sizeof(want), 1, "USER", 0, 0, 0, 0, "-"),
			     strlen(want)));
	EXPECT_TRUE(has_line(text, knote_fmt(want, sizeof(want), CAP, "USER", 0,
					     0, 0, 0, "-")));
	EXPECT_FALSE(has_line(text, knote_fmt(want, sizeof(want), CAP + 1,
					      "USER", 0, 0, 0, 0, "-")));
	more = strstr(text, "more:\t");
	ASSERT_NE(NULL, more);
	EXPECT_STREQ("more:\t904\n", more);
	free(text);

	/* Exactly 4096: no "more" line; 4097: one more. */
	for (i = 0; i < TOTAL; i++)
		EV_SET(&changes[i], i + 1, EVFILT_USER, EV_DELETE, 0, 0, NULL);
	ASSERT_EQ(0, kevent(self->kq, changes + CAP, TOTAL - CAP, NULL, 0, NULL));
	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(CAP, fdinfo_value(text, "knotes"));
	EXPECT_EQ(CAP, count_lines(text, "knote:\t"));
	EXPECT_EQ(0, count_lines(text, "more:"));
	free(text);
	ASSERT_EQ(0, kq_user_add(self->kq, CAP + 1, 0));
	text = read_fdinfo(getpid(), self->kq);
	ASSERT_NE(NULL, text);
	EXPECT_EQ(CAP + 1, fdinfo_value(text, "knotes"));
	EXPECT_EQ(CAP, count_lines(text, "knote:\t"));
	EXPECT_EQ(1, fdinfo_value(text, "more"));
	free(text);
	free(changes);
}

/* The state letter of /proc/@pid/stat ('S' sleeping, 'R' running, ...). */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *paren;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return '?';
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return '?';
	buf[n] = '\0';
	paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

/*
 * Another process reads the listing while the owner is blocked in kevent()
 * with a NULL timeout: the read neither waits for the owner nor wakes it.
 * The child then wakes the owner through a pipe (it cannot use the kqueue
 * itself: EBADF in any process but the owner). A NOTE_EXIT knote on the
 * child ends the wait too if the child dies early, so a failure cannot hang.
 */
TEST_F(info, fdinfo_read_while_blocked)
{
	char want_pipe[256], want_user[256], byte;
	int ready[2], wake[2], status, n, i;
	pid_t parent = getpid(), pid;
	struct kevent evs[4];

	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
	ASSERT_EQ(0, pipe2(wake, O_CLOEXEC));
	ASSERT_EQ(0, kq_change(self->kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0,
			       UDATA(1)));
	ASSERT_EQ(0, kq_change(self->kq, wake[0], EVFILT_READ, EV_ADD, 0, 0,
			       UDATA(2)));
	knote_fmt(want_pipe, sizeof(want_pipe), wake[0], "READ", 0, 0, 0,
		  (uintptr_t)UDATA(2), "-");
	knote_fmt(want_user, sizeof(want_user), 1, "USER", EV_CLEAR, 0, 0,
		  (uintptr_t)UDATA(1), "-");

	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char *text;

		/* A read of fdinfo that blocks ends the child here. */
		alarm(60);
		close(ready[1]);
		if (read(ready[0], &byte, 1) != 1)
			_exit(10);
		/* The parent's next sleep is the kevent() call. */
		for (i = 0; i < 2000 && proc_state(parent) != 'S'; i++)
			sleep_ms(5);
		if (proc_state(parent) != 'S')
			_exit(11);
		sleep_ms(50);
		text = read_fdinfo(parent, self->kq);
		if (!text)
			_exit(12);
		if (fdinfo_value(text, "knotes") != 3 ||
		    fdinfo_value(text, "queued") != 0)
			_exit(13);
		if (!has_line(text, want_pipe) || !has_line(text, want_user))
			_exit(14);
		free(text);
		/* The read did not wake the owner. */
		sleep_ms(50);
		if (proc_state(parent) != 'S')
			_exit(15);
		if (write(wake[1], "x", 1) != 1)
			_exit(16);
		_exit(0);
	}
	close(ready[0]);
	ASSERT_EQ(0, kq_change(self->kq, pid, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0,
			       UDATA(3)));
	ASSERT_EQ(1, write(ready[1], "r", 1));
	n = kev_wait(self->kq, NULL, 0, evs, 4, -1);
	ASSERT_GE(n, 1) TH_LOG("kevent: %s", strerror(errno));
	/* Not the child's exit alone: it got to the end. */
	EXPECT_GE(find_event(evs, n, wake[0], EVFILT_READ), 0)
		TH_LOG("woken by filter %d ident %lu: the child failed",
		       evs[0].filter, (unsigned long)evs[0].ident);
	status = wait_child(pid, 30000);
	EXPECT_TRUE(WIFEXITED(status)) TH_LOG("status %#x", status);
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(ready[1]);
	close(wake[0]);
	close(wake[1]);
}

TEST_HARNESS_MAIN
