// SPDX-License-Identifier: GPL-2.0
/*
 * kqfuzz: a concurrent fuzzer for /dev/kqueue (see README.md beside it).
 *
 * Several threads issue random KQUEUE_IOC_KEVENT ioctls (bad counts, bad,
 * unaligned, read-only and partially mapped pointers, the same array for
 * changes and events, valid and invalid filters, flags, fflags, data and
 * idents, extreme timers and timeouts) while other threads close, dup2 and
 * reopen the descriptors they name, fork, exec and kill children, send
 * signals, rename and truncate watched files, build kqueue/epoll nestings
 * and loops and close kqueues that threads are blocked in. With
 * --unprivileged a child process does the same as uid/gid 65534.
 *
 * Every result is checked against what doc/semantics.md and the UAPI header
 * allow (see check_call()); anything else is printed as KQFUZZ-UNEXPECTED
 * and fails the run. After the storm everything is closed and the per-user
 * limits and the unreclaimable slab are checked. The last line is
 * "KQFUZZ-RESULT ... status=PASS|FAIL"; exit status 0 on PASS, 1 on FAIL,
 * 2 on bad usage or a missing /dev/kqueue.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <sys/event.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

typedef struct kqueue_event kev_t;
typedef struct kqueue_kevent_args kargs_t;
#define KEV_SZ ((uint64_t)sizeof(kev_t))

/* Errno sets are bit masks; bit 0 stands for success. */
#define B(e)		(1ULL << (e))
#define OKB		B(0)
#define NERR		134

#define TAG_MAGIC	0x4b51ULL	/* "KQ": top 16 bits of every udata */
#define PID_MAX_LIMIT_	4194304ULL	/* the kernel's PID_MAX_LIMIT on 64 bit */
#define NSIG_KERNEL	64

/*
 * Descriptor layout. RLIMIT_NOFILE is FD_LIMIT, so an ident >= FD_LIMIT is
 * never an open descriptor. open() returns the lowest free number, far below
 * these ranges, so nothing but the fuzzer's own dup2() lands in them.
 */
#define FD_LIMIT	1024
#define POOL_BASE	512	/* shared pool: churned by everybody */
#define POOL_N		128
#define SLOT_BASE	700	/* kqueues the ioctl threads share */
#define SLOT_N		8
#define PRIV_BASE	720	/* one private kqueue per thread */
#define PRIV_N		40
#define NEST_BASE	770	/* objects of the nesting scenarios */
#define NEST_N		16
#define LISTEN_FD	800	/* the engine's TCP listener */
#define SECRET_FD	801	/* O_PATH descriptor of a root-only file */

#define CAP		512	/* entries of a thread's change and event buffers */
#define RO_N		256	/* entries of the read-only change list */
#define RING_N		64	/* recently forked pids */
#define MAX_KIDS	48
#define MAXT		32

enum { ACC_NONE, ACC_R, ACC_RW, ACC_UNK };

enum {
	OP_CLOSE, OP_DUP2, OP_OPEN, OP_IO, OP_EPOLL, OP_SCM, OP_FORK, OP_EXEC,
	OP_KILL, OP_REAP, OP_SIGNAL, OP_TGKILL, OP_POKE, OP_FILE, OP_NEST,
	OP_SLOT, OP_PROBE, OP_WAITER, OP_RACE, NOPS
};
static const char *const op_names[NOPS] = {
	"close", "dup2", "open", "io", "epoll_ctl", "scm_rights", "fork",
	"exec", "kill", "reap", "signal", "tgkill", "poke", "fileop", "nest",
	"slot_reopen", "probe", "waiter", "proc_race",
};

/* Counters of one engine, in memory shared with the unprivileged child. */
struct estats {
	_Atomic uint64_t ioctls, ok, events, errents, unexpected, stuck;
	_Atomic uint64_t call_err[NERR], ent_err[NERR], ops[NOPS];
	_Atomic uint64_t limit_fail, elapsed_ms, nioctl_threads, done, limits_ms;
};

struct shared {
	struct estats e[2];
};

/* Per-thread counters, added to struct estats now and then. */
struct lstats {
	uint64_t ioctls, ok, events, errents;
	uint64_t call_err[NERR], ent_err[NERR], ops[NOPS];
};

struct rng {
	uint64_t s;
};

struct engine;

enum role {
	R_IOCTL, R_CHURN, R_FILE, R_PROC, R_SIGNAL, R_SLOT, R_NEST, R_WAITER, R_RACE
};

struct thr {
	pthread_t pt;
	_Atomic pid_t tid;
	_Atomic int done;
	int idx;
	enum role role;
	struct rng rng;
	struct lstats ls;
	struct engine *e;
	int privkq;
	/* Buffers: changes, events, args, partially mapped areas. */
	char *A, *B, *C, *pc, *pe;
	size_t Alen, Blen, Clen;
	kev_t ref[CAP + 1];
	uint64_t allow[CAP + 1], det[CAP + 1];
	kev_t res[CAP + 1];
	uint64_t iter;
	uint64_t last_pid;
};

struct waiter {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	_Atomic int state;	/* 0 idle, 1 posted, 2 entered, 3 done */
	long r;
	int err;
};

struct engine {
	int id;			/* 0: root, 1: nobody */
	const char *name;
	bool unpriv;
	char dir[64];
	struct estats *st;
	uint64_t seed;
	_Atomic int stop;
	_Atomic uint32_t slot_seq[SLOT_N];
	_Atomic int pool_kind[POOL_N];
	_Atomic pid_t ring[RING_N];
	_Atomic uint32_t ring_pos;
	_Atomic pid_t race_pid, race_ack;
	struct thr *thr[MAXT];
	int nthr;
	int nioctl;
	pid_t other_pid;
	struct sockaddr_in laddr;
	struct waiter w;
};

/* Options. */
static int opt_seconds = 60;
static uint64_t opt_seed;
static int opt_threads = 4;
static bool opt_unpriv;
static long opt_slab_margin = -1;
static int opt_settle = 500;
static bool opt_verbose;
static unsigned int opt_disable;

enum {
	D_LOOPS = 1, D_CHAINS = 2, D_PROC = 4, D_SIGNAL = 8, D_FILES = 16,
	D_CHURN = 32, D_SLOTS = 64, D_SCM = 128, D_NEST = 256, D_LIMITS = 512,
	D_HUGE = 1024, D_PROCADD = 2048, D_PLIMIT = 4096,
};
static const struct {
	const char *name;
	unsigned int bit;
	const char *what;
} disable_names[] = {
	{ "loops", D_LOOPS, "kqueue/epoll loops (a kqueue watching an epoll that holds it)" },
	{ "chains", D_CHAINS, "kqueue/epoll chains without a loop" },
	{ "nest", D_NEST, "every nesting scenario" },
	{ "proc", D_PROC, "the fork/exec/kill thread" },
	{ "procadd", D_PROCADD, "EVFILT_PROC changes on children being reaped" },
	{ "signal", D_SIGNAL, "the signal thread" },
	{ "files", D_FILES, "the file thread (unlink, rename, truncate ...)" },
	{ "churn", D_CHURN, "the descriptor churn threads" },
	{ "slots", D_SLOTS, "closing and reopening the shared kqueues" },
	{ "scm", D_SCM, "passing descriptors over unix sockets (SCM_RIGHTS)" },
	{ "huge", D_HUGE, "change lists of up to 2^20 entries" },
	{ "limits", D_LIMITS, "the per-user limit checks after the storm" },
	{ "plimit", D_PLIMIT, "the max_user_proc_watches part of it (slow on the debug kernel)" },
};

/* Memory shared by all threads of a process. */
static long pagesz;
static char *ro_base;		/* PROT_READ: RO_N changes, then a valid args */
static size_t ro_len;
static kev_t ro_ref[RO_N];
static kargs_t ro_args_val;
static char *none_base;		/* PROT_NONE */
static size_t none_len;
static uintptr_t unmapped_addr;	/* munmap()ed: may be reused, never asserted */
static size_t unmapped_len;
static char *hz_base;		/* PROT_READ zeros for huge change lists */
static size_t hz_len;
static struct shared *shm;
static struct timespec t_start;
static sigset_t blocked;
static _Atomic int sig_usr2;

/* Where the time goes outside the storm (ms), for the summary. */
enum { T_SETTLE0, T_JOIN, T_LIMITS, T_SETTLE1, T_N };
static const char *const t_names[T_N] = { "settle before", "join", "limits", "settle after" };
static _Atomic int64_t t_phase[T_N];

/* ------------------------------------------------------------ utilities */

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rn(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

/* true with probability p per mille */
static bool pm(struct rng *r, unsigned int p)
{
	return rn(r, 1000) < p;
}

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t elapsed_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec - t_start.tv_sec) * 1000LL +
	       (ts.tv_nsec - t_start.tv_nsec) / 1000000LL;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* For calls whose failure does not matter. */
static void ign(long r)
{
	(void)r;
}

static pid_t gettid_(void)
{
	return (pid_t)syscall(SYS_gettid);
}

static const char *ename(int e)
{
	const char *n;

	if (e == 0)
		return "OK";
	n = strerrorname_np(e);
	return n ? n : "E?";
}

static void say(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	if (write(1, buf, n) < 0)
		return;
}

static void unexpected(struct thr *t, const char *fmt, ...)
{
	char buf[1536];
	uint64_t n = atomic_fetch_add(&t->e->st->unexpected, 1);
	va_list ap;
	int len;

	if (n >= 40)
		return;
	len = snprintf(buf, sizeof(buf), "KQFUZZ-UNEXPECTED [%s t%d %.3fs] ",
		       t->e->name, t->idx, elapsed_ms() / 1000.0);
	va_start(ap, fmt);
	len += vsnprintf(buf + len, sizeof(buf) - len - 2, fmt, ap);
	va_end(ap);
	if (len > (int)sizeof(buf) - 2)
		len = sizeof(buf) - 2;
	buf[len++] = '\n';
	if (write(1, buf, len) < 0)
		return;
}

static void flush_stats(struct thr *t)
{
	struct estats *s = t->e->st;
	struct lstats *l = &t->ls;
	int i;

	atomic_fetch_add(&s->ioctls, l->ioctls);
	atomic_fetch_add(&s->ok, l->ok);
	atomic_fetch_add(&s->events, l->events);
	atomic_fetch_add(&s->errents, l->errents);
	for (i = 0; i < NERR; i++) {
		if (l->call_err[i])
			atomic_fetch_add(&s->call_err[i], l->call_err[i]);
		if (l->ent_err[i])
			atomic_fetch_add(&s->ent_err[i], l->ent_err[i]);
	}
	for (i = 0; i < NOPS; i++)
		if (l->ops[i])
			atomic_fetch_add(&s->ops[i], l->ops[i]);
	memset(l, 0, sizeof(*l));
}

static inline void op(struct thr *t, int o)
{
	t->ls.ops[o]++;
}

static bool stopping(struct thr *t)
{
	return atomic_load_explicit(&t->e->stop, memory_order_relaxed);
}

static void *map(size_t len, int prot)
{
	void *p = mmap(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED) {
		perror("kqfuzz: mmap");
		exit(2);
	}
	return p;
}

/* Moves @fd to number @to (closing @fd); returns @to, or -1. */
static int place(int fd, int to)
{
	if (fd < 0)
		return -1;
	if (fd == to)
		return to;
	if (dup2(fd, to) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	return to;
}

static int kq_new(struct rng *r)
{
	/* Through the C library or the device directly. */
	switch (rn(r, 3)) {
	case 0:
		return kqueue();
	case 1:
		return kqueue1(O_CLOEXEC);
	default:
		return open("/dev/kqueue", O_RDWR | O_CLOEXEC);
	}
}

static long kev_raw(int kq, const kev_t *ch, uint32_t nch, kev_t *ev, uint32_t nev,
		    int64_t timeout_ns)
{
	kargs_t a;

	memset(&a, 0, sizeof(a));
	a.changelist = (uintptr_t)ch;
	a.eventlist = (uintptr_t)ev;
	a.nchanges = nch;
	a.nevents = nev;
	if (timeout_ns >= 0) {
		a.flags = KQUEUE_KEVENT_TIMEOUT;
		a.timeout.tv_sec = timeout_ns / 1000000000LL;
		a.timeout.tv_nsec = timeout_ns % 1000000000LL;
	}
	return ioctl(kq, KQUEUE_IOC_KEVENT, &a);
}

static void set_kev(kev_t *k, uint64_t ident, int16_t filter, uint16_t flags,
		    uint32_t fflags, int64_t data, uint64_t udata)
{
	memset(k, 0, sizeof(*k));
	k->ident = ident;
	k->filter = filter;
	k->flags = flags;
	k->fflags = fflags;
	k->data = data;
	k->udata = udata;
}

/*
 * One change with EV_RECEIPT; returns the errno of its entry (0 for
 * success), or -errno if the call failed.
 */
static int kev_one(int kq, uint64_t ident, int16_t filter, uint16_t flags,
		   uint32_t fflags, int64_t data)
{
	kev_t c, out;
	long r;

	set_kev(&c, ident, filter, flags | EV_RECEIPT, fflags, data, 0);
	r = kev_raw(kq, &c, 1, &out, 1, 0);
	if (r < 0)
		return -errno;
	if (r != 1 || !(out.flags & EV_ERROR))
		return -1000;
	return (int)out.data;
}

static long meminfo_kb(const char *key)
{
	char line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * Allocates and frees unrelated kernel objects so that the slab is measured
 * in the same state before and after the storm: KASAN's quarantine keeps
 * freed objects (up to 1/32 of memory), per-CPU caches keep some, and freed
 * objects wait for RCU. poll() on FD_LIMIT descriptors allocates and frees
 * about 8 kB of slab per call (its poll_list pages); pipes, sockets and
 * eventfds cycle the caches the fuzzer uses most.
 */
static void settle(int n)
{
	static struct pollfd pfd[FD_LIMIT];
	int i, p[2];

	if (n <= 0)
		return;
	for (i = 0; i < FD_LIMIT; i++)
		pfd[i].fd = -1;
	for (i = 0; i < 4 * n; i++)
		poll(pfd, FD_LIMIT, 0);
	for (i = 0; i < n / 4; i++) {
		if (pipe(p) == 0) {
			close(p[0]);
			close(p[1]);
		}
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) == 0) {
			close(p[0]);
			close(p[1]);
		}
		p[0] = eventfd(0, 0);
		if (p[0] >= 0)
			close(p[0]);
	}
	sleep(2);
}

/* /proc/slabinfo (debug kernel): bytes per cache, to name what grew. */
#define NSLAB 512
struct slabcount {
	char name[40];
	long bytes;
};

static int read_slabinfo(struct slabcount *sc)
{
	char line[512];
	int n = 0;
	FILE *f = fopen("/proc/slabinfo", "r");

	if (!f)
		return 0;
	while (n < NSLAB && fgets(line, sizeof(line), f)) {
		long active, total, size;

		if (line[0] == '#' || !strncmp(line, "slabinfo", 8))
			continue;
		if (sscanf(line, "%39s %ld %ld %ld", sc[n].name, &active, &total, &size) == 4) {
			/* Allocated capacity: what SUnreclaim counts, partial slabs included. */
			sc[n].bytes = total * size;
			n++;
		}
	}
	fclose(f);
	return n;
}

/* Prints the caches that grew most between @a (before) and @b (after). */
static void slab_growth(struct slabcount *a, int na, struct slabcount *b, int nb)
{
	char buf[512];
	int i, j, k, n = 0;
	long d[NSLAB];

	for (j = 0; j < nb; j++) {
		d[j] = b[j].bytes;
		for (i = 0; i < na; i++)
			if (!strcmp(a[i].name, b[j].name)) {
				d[j] -= a[i].bytes;
				break;
			}
	}
	for (k = 0; k < 6; k++) {
		int best = -1;

		for (j = 0; j < nb; j++)
			if (d[j] > 4096 && (best < 0 || d[j] > d[best]))
				best = j;
		if (best < 0)
			break;
		n += snprintf(buf + n, sizeof(buf) - n, " %s %+ld kB", b[best].name, d[best] / 1024);
		d[best] = 0;
	}
	if (n)
		say("kqfuzz: slab caches that grew most:%s", buf);
}

static long read_param(const char *name)
{
	char path[128], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/module/kqueue/parameters/%s", name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return strtol(buf, NULL, 10);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------ change generation */

static const int16_t valid_filters[] = {
	EVFILT_READ, EVFILT_WRITE, EVFILT_VNODE, EVFILT_PROC, EVFILT_SIGNAL,
	EVFILT_TIMER, EVFILT_PROCDESC, EVFILT_USER, EVFILT_EMPTY,
};

static bool filter_valid(int16_t f)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(valid_filters); i++)
		if (valid_filters[i] == f)
			return true;
	return false;
}

static bool filter_is_fd(int16_t f)
{
	return f == EVFILT_READ || f == EVFILT_WRITE || f == EVFILT_EMPTY ||
	       f == EVFILT_VNODE || f == EVFILT_PROCDESC;
}

#ifdef KQ_NOTE_TRUNCATE
#define VNODE_ALL	(0x7ffU | KQ_NOTE_TRUNCATE)
#else
#define VNODE_ALL	0x7ffU
#endif
#define PROC_VALID	(NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACK)
#define TIMER_UNITS	(NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS)

static bool timer_invalid(uint32_t ff, int64_t data)
{
	uint32_t u = ff & TIMER_UNITS;

	return (ff & ~(TIMER_UNITS | NOTE_ABSTIME)) || (u & (u - 1)) || data < 0;
}

/*
 * What a change may produce: *allow gets every errno (and OKB) the
 * documented semantics allow whatever the state of the kqueue, *det the
 * errnos it must produce whatever the state (0 if success is possible).
 */
static void expect_change(struct engine *e, const kev_t *c, uint64_t *allow, uint64_t *det)
{
	uint16_t fl = c->flags & ~EV_SYSFLAGS;
	bool addnd = (fl & EV_ADD) && !(fl & EV_DELETE);
	int16_t f = c->filter;
	uint64_t a = 0, d = 0;

	if (f == 0) {
		*allow = 0;	/* skipped: never an entry */
		*det = 0;
		return;
	}
	if ((fl & (EV_ENABLE | EV_DISABLE)) == (EV_ENABLE | EV_DISABLE) ||
	    (fl & (EV_ADD | EV_KEEPUDATA)) == (EV_ADD | EV_KEEPUDATA) || !filter_valid(f)) {
		*allow = *det = B(EINVAL);
		return;
	}
	switch (f) {
	case EVFILT_READ:
	case EVFILT_WRITE:
	case EVFILT_EMPTY:
		a = OKB | B(ENOENT) | B(EBADF) | B(EINVAL) | B(ENOMEM) | B(ELOOP);
		if (addnd && (c->fflags & ~(NOTE_LOWAT | NOTE_FILE_POLL)))
			d = B(EINVAL) | B(EBADF);
		break;
	case EVFILT_VNODE:
		a = OKB | B(ENOENT) | B(EBADF) | B(EINVAL) | B(ENOMEM) | B(EACCES);
		if (addnd && (c->fflags & ~VNODE_ALL))
			d = B(EINVAL) | B(EBADF);
		break;
	case EVFILT_PROCDESC:
		a = OKB | B(ENOENT) | B(EBADF) | B(EINVAL) | B(ENOMEM) | B(ESRCH);
		if (addnd && (c->fflags & ~NOTE_EXIT))
			d = B(EINVAL) | B(EBADF);
		break;
	case EVFILT_PROC:
		a = OKB | B(ENOENT) | B(ESRCH) | B(EACCES) | B(ENOMEM) | B(EINVAL);
		if (addnd && (c->fflags & ~PROC_VALID))
			d = B(EINVAL);
		else if (c->ident == 0 || c->ident > PID_MAX_LIMIT_)
			d = addnd ? B(ESRCH) : B(ENOENT);
		else if (addnd && e->unpriv && c->ident == 1)
			d = B(EACCES);
		if (!d)
			a &= ~B(EINVAL);
		break;
	case EVFILT_SIGNAL:
		a = OKB | B(ENOENT) | B(ENOMEM);
		if (c->ident == 0 || c->ident > NSIG_KERNEL)
			d = addnd ? B(EINVAL) : B(ENOENT);
		else if (addnd && c->fflags)
			d = B(EINVAL);
		break;
	case EVFILT_TIMER:
		a = OKB | B(ENOENT) | B(ENOMEM);
		if (addnd && timer_invalid(c->fflags, c->data))
			d = B(EINVAL);
		break;
	case EVFILT_USER:
		a = OKB | B(ENOENT) | B(ENOMEM);
		break;
	}
	/* A descriptor that cannot be open: EBADF for any change. */
	if (filter_is_fd(f) && c->ident >= FD_LIMIT)
		d = B(EBADF);
	*allow = a | d;
	*det = d;
}

static uint64_t pick_fd_ident(struct thr *t)
{
	static const uint64_t huge[] = {
		INT_MAX, (uint64_t)INT_MAX + 1, UINT32_MAX, 1ULL << 32,
		(1ULL << 32) + POOL_BASE, UINT64_MAX, UINT64_MAX - 1, 1ULL << 63,
	};
	struct rng *r = &t->rng;

	switch (rn(r, 20)) {
	case 0 ... 9:
		return POOL_BASE + rn(r, POOL_N);
	case 10:
	case 11:
		return SLOT_BASE + rn(r, SLOT_N);
	case 12:
		/* Not the nesting range: its scenarios expect their own knotes only. */
		return SLOT_BASE + rn(r, SLOT_N);
	case 13:
		return rn(r, 3);
	case 14:
		return t->privkq >= 0 ? (uint64_t)t->privkq : 0;
	case 15:
		return 3 + rn(r, 60);
	case 16:
		return LISTEN_FD + rn(r, 2);
	case 17:
		return FD_LIMIT + rn(r, 100000);
	default:
		return huge[rn(r, ARRAY_SIZE(huge))];
	}
}

static uint64_t ring_pick(struct engine *e, struct rng *r, bool latest)
{
	uint32_t pos = atomic_load(&e->ring_pos);

	if (latest)
		return (uint64_t)atomic_load(&e->ring[(pos - 1) % RING_N]);
	return (uint64_t)atomic_load(&e->ring[rn(r, RING_N)]);
}

static uint64_t pick_pid_ident(struct thr *t)
{
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	int i;

	switch (rn(r, 24)) {
	case 0 ... 7:
		return ring_pick(e, r, true);
	case 8 ... 11:
		return ring_pick(e, r, false);
	case 12:
	case 13:
		return getpid();
	case 14:
		return 1;
	case 15:
		return getppid();
	case 16:
		return e->other_pid > 0 ? (uint64_t)e->other_pid : 1;
	case 17:
		return 0;
	case 18:
		/* Truncation: the low 32 bits name this process. */
		return (1ULL << 32) + getpid();
	case 19:
		return PID_MAX_LIMIT_ + 1 + rn(r, 1000);
	case 20:
		return UINT64_MAX;
	case 21:
		i = rn(r, e->nthr);
		return e->thr[i] ? (uint64_t)atomic_load(&e->thr[i]->tid) : 1;
	default:
		return 2 + rn(r, 32766);
	}
}

static int64_t timer_data(struct thr *t, uint32_t *ff, bool *oneshot)
{
	static const uint32_t units[] = {
		0, NOTE_SECONDS, NOTE_MSECONDS, NOTE_USECONDS, NOTE_NSECONDS,
	};
	static const int64_t mult[] = { 1000000, 1000000000, 1000000, 1000, 1 };
	struct rng *r = &t->rng;
	int u = rn(r, ARRAY_SIZE(units));
	int64_t ms;

	*ff = units[u];
	if (pm(r, 30)) {
		/* Two units, or stray bits: EINVAL. */
		*ff |= pm(r, 500) ? (NOTE_SECONDS | NOTE_NSECONDS) : (1U << (5 + rn(r, 27)));
	}
	if (pm(r, 80)) {
		*ff |= NOTE_ABSTIME;
		switch (rn(r, 4)) {
		case 0:
			return 0;	/* the epoch: fires at once */
		case 1:
			return INT64_MAX;
		default:
			/* Now, give or take a second, in the unit. */
			return (now_ns(CLOCK_REALTIME) + (int64_t)rn(r, 2000000000) -
				1000000000LL) / mult[u];
		}
	}
	switch (rn(r, 20)) {
	case 0:
		return 0;
	case 1:
		/* Tiny periods: raised to 100 us, so keep most of them one-shot. */
		if (pm(r, 900))
			*oneshot = true;
		return 1;
	case 2:
		return INT64_MAX;
	case 3:
		return INT64_MAX / 1000 + rn(r, 1000);
	case 4:
		return 1LL << 62;
	case 5:
		return -1;
	case 6:
		return INT64_MIN;
	case 7:
		return -(int64_t)rn(r, 1000000) - 1;
	case 8:
		return (int64_t)(rnd(r) & 0xffff);
	default:
		/* 1 to 200 ms, expressed in the unit (seconds round up). */
		ms = 1 + rn(r, 200);
		return u == 1 ? 1 : ms * 1000000 / mult[u];
	}
}

static void gen_change(struct thr *t, kev_t *c, uint32_t idx)
{
	static const uint16_t base[] = {
		EV_ADD, EV_ADD, EV_ADD, EV_ADD, EV_ADD | EV_ENABLE,
		EV_ADD | EV_DISABLE, EV_DELETE, EV_DELETE, EV_ENABLE, EV_DISABLE,
		EV_ADD | EV_DELETE, 0, EV_FORCEONESHOT, EV_ADD | EV_FORCEONESHOT,
		EV_KEEPUDATA, EV_ENABLE | EV_KEEPUDATA, EV_ADD | EV_CLEAR,
		EV_ADD | EV_ONESHOT,
	};
	static const int16_t bad_filters[] = {
		EVFILT_AIO, EVFILT_FS, EVFILT_LIO, EVFILT_SENDFILE, -14, -15,
		-100, 1, 2, 100, SHRT_MIN, SHRT_MAX,
	};
	struct rng *r = &t->rng;
	uint32_t k = rn(r, 1000);
	bool oneshot = false;
	int16_t f;
	uint16_t fl;
	uint32_t ff = 0;
	int64_t data = 0;
	uint64_t ident = 0;

	if (k < 40)
		f = 0;
	else if (k < 70)
		f = bad_filters[rn(r, ARRAY_SIZE(bad_filters))];
	else if (k < 85)
		f = (int16_t)rnd(r);
	else {
		/* Weighted valid filters. */
		static const int16_t w[] = {
			EVFILT_USER, EVFILT_USER, EVFILT_USER, EVFILT_TIMER,
			EVFILT_TIMER, EVFILT_TIMER, EVFILT_READ, EVFILT_READ,
			EVFILT_READ, EVFILT_WRITE, EVFILT_WRITE, EVFILT_EMPTY,
			EVFILT_VNODE, EVFILT_VNODE, EVFILT_PROC, EVFILT_PROC,
			EVFILT_PROC, EVFILT_SIGNAL, EVFILT_SIGNAL, EVFILT_PROCDESC,
		};
		f = w[rn(r, ARRAY_SIZE(w))];
	}

	if (pm(r, 30))
		fl = (uint16_t)rnd(r);
	else if (pm(r, 15))
		fl = EV_ENABLE | EV_DISABLE;
	else if (pm(r, 15))
		fl = EV_ADD | EV_KEEPUDATA;
	else
		fl = base[rn(r, ARRAY_SIZE(base))];
	if (pm(r, 80))
		fl |= EV_ONESHOT;
	if (pm(r, 150))
		fl |= EV_CLEAR;
	if (pm(r, 120))
		fl |= EV_RECEIPT;
	if (pm(r, 80))
		fl |= EV_DISPATCH;
	if (pm(r, 30))
		fl |= (uint16_t)(rn(r, 16) << 12);

	switch (f) {
	case EVFILT_READ:
	case EVFILT_WRITE:
	case EVFILT_EMPTY:
		ident = pick_fd_ident(t);
		k = rn(r, 100);
		if (k < 70)
			ff = 0;
		else if (k < 85) {
			ff = NOTE_LOWAT;
			data = pm(r, 500) ? (int64_t)rn(r, 4096) : (int64_t)rnd(r);
		} else if (k < 95)
			ff = NOTE_FILE_POLL | (pm(r, 300) ? NOTE_LOWAT : 0);
		else
			ff = (uint32_t)rnd(r);
		break;
	case EVFILT_VNODE:
		ident = pick_fd_ident(t);
		k = rn(r, 100);
		if (k < 80)
			ff = (uint32_t)rnd(r) & VNODE_ALL;
		else if (k < 85)
			ff = 0;
		else
			ff = (uint32_t)rnd(r) | (1U << (11 + rn(r, 21)));
		break;
	case EVFILT_PROCDESC:
		ident = pick_fd_ident(t);
		k = rn(r, 100);
		ff = k < 80 ? NOTE_EXIT : k < 90 ? 0 : (uint32_t)rnd(r);
		break;
	case EVFILT_PROC:
		if (t->e->st == NULL || (opt_disable & D_PROCADD))
			ident = getpid();
		else
			ident = pick_pid_ident(t);
		k = rn(r, 100);
		if (k < 80)
			ff = (uint32_t)rnd(r) & PROC_VALID;
		else if (k < 85)
			ff = 0;
		else if (k < 90)
			ff = NOTE_CHILD | NOTE_TRACKERR;
		else
			ff = (uint32_t)rnd(r);
		break;
	case EVFILT_SIGNAL:
		k = rn(r, 100);
		if (k < 85)
			ident = 1 + rn(r, NSIG_KERNEL);
		else if (k < 90)
			ident = 0;
		else if (k < 93)
			ident = NSIG_KERNEL + 1;
		else if (k < 96)
			ident = (1ULL << 32) | SIGUSR1;
		else
			ident = rnd(r);
		ff = pm(r, 900) ? 0 : (uint32_t)rnd(r) | 1;
		break;
	case EVFILT_TIMER:
		ident = pm(r, 950) ? rn(r, 8) : rnd(r);
		data = timer_data(t, &ff, &oneshot);
		if (oneshot)
			fl |= EV_ONESHOT;
		break;
	case EVFILT_USER:
		ident = pm(r, 950) ? rn(r, 32) : rnd(r);
		k = rn(r, 100);
		if (k < 30)
			ff = NOTE_TRIGGER | ((uint32_t)rnd(r) & (NOTE_FFCTRLMASK | NOTE_FFLAGSMASK));
		else if (k < 80)
			ff = (uint32_t)rnd(r) & (NOTE_FFCTRLMASK | NOTE_FFLAGSMASK);
		else
			ff = (uint32_t)rnd(r);
		data = (int64_t)rnd(r);
		break;
	default:
		ident = rnd(r);
		ff = (uint32_t)rnd(r);
		data = (int64_t)rnd(r);
		break;
	}
	set_kev(c, ident, f, fl, ff, data,
		(TAG_MAGIC << 48) | ((uint64_t)(t->e->id * MAXT + t->idx) << 32) | idx);
	if (pm(r, 300)) {
		c->ext[0] = rnd(r);
		c->ext[1] = rnd(r);
		c->ext[2] = rnd(r);
		c->ext[3] = rnd(r);
	}
}

/* --------------------------------------------------------- access model */

static bool within(uintptr_t p, uint64_t len, const void *base, size_t blen)
{
	uintptr_t b = (uintptr_t)base;

	return p >= b && len <= blen && p - b <= blen - len;
}

/* What the thread may do with [p, p + len): ACC_RW, ACC_R, ACC_NONE or ACC_UNK. */
static int access_of(struct thr *t, uintptr_t p, uint64_t len)
{
	if (len == 0)
		return ACC_RW;
	if (len > (1ULL << 40))
		return ACC_NONE;
	if (p + len > unmapped_addr && p < unmapped_addr + unmapped_len)
		return ACC_UNK;
	if (within(p, len, t->A, t->Alen) || within(p, len, t->B, t->Blen) ||
	    within(p, len, t->C, t->Clen) || within(p, len, t->pc, 2 * pagesz) ||
	    within(p, len, t->pe, 2 * pagesz))
		return ACC_RW;
	if (within(p, len, ro_base, ro_len) || within(p, len, hz_base, hz_len))
		return ACC_R;
	return ACC_NONE;
}

/* A pointer for a list of @n entries: the kind of memory it points to. */
enum {
	P_VALID, P_UNALIGNED, P_SAME, P_NULL, P_RO, P_NONE, P_UNMAPPED,
	P_PARTIAL, P_KERNEL, P_NONCANON, P_HUGE,
};
static const char *const pnames[] = {
	"valid", "unaligned", "same", "null", "ro", "none", "unmapped",
	"partial", "kernel", "noncanon", "huge",
};

static uintptr_t bad_ptr(struct thr *t, int cls)
{
	struct rng *r = &t->rng;

	switch (cls) {
	case P_NONE:
		return (uintptr_t)none_base + rn(r, pagesz);
	case P_UNMAPPED:
		return unmapped_addr + rn(r, pagesz);
	case P_KERNEL:
		return pm(r, 500) ? 0xffff888000000000ULL + rn(r, 1 << 20) * 64ULL :
				    0xffffffff81000000ULL;
	case P_NONCANON:
		/* Non-canonical, or straddling the end of the user address space. */
		return pm(r, 500) ? 0x8000000000000000ULL : 0x800000000000ULL - 32;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------- one call */

struct call {
	int kq;
	int slot;
	uint32_t seq0;
	bool known, strict_ebadf, stable;
	int ccls, ecls, acls;
	uintptr_t ap;
	kargs_t a;
	uint32_t nref;		/* entries of t->ref that are meaningful */
	bool zeros;		/* the change list is all zeros */
	bool any_det, any_receipt;
	uint64_t change_errs;	/* union of the changes' errnos */
	bool canwait;
	bool bad_fields, bad_timeout;
};

static void describe(struct call *c, char *buf, size_t len)
{
	snprintf(buf, len,
		 "kq=%d%s nchanges=%u(%s) nevents=%u(%s) args=%s flags=%#x timeout={%lld,%lld} reserved0=%u",
		 c->kq, c->slot >= 0 ? "(slot)" : c->known ? "(private)" : "",
		 c->a.nchanges, pnames[c->ccls], c->a.nevents, pnames[c->ecls],
		 pnames[c->acls], c->a.flags, (long long)c->a.timeout.tv_sec,
		 (long long)c->a.timeout.tv_nsec, c->a.reserved0);
}

static void describe_change(const kev_t *k, char *buf, size_t len)
{
	snprintf(buf, len,
		 "{ident=%#llx filter=%d flags=%#x fflags=%#x data=%lld}",
		 (unsigned long long)k->ident, k->filter, k->flags, k->fflags,
		 (long long)k->data);
}

static void gen_list(struct thr *t, struct call *c, uint32_t nch)
{
	uint32_t i;

	c->nref = nch;
	for (i = 0; i < nch; i++)
		gen_change(t, &t->ref[i], i);
}

static void analyse_list(struct thr *t, struct call *c)
{
	uint32_t i;

	c->any_det = c->any_receipt = false;
	c->change_errs = 0;
	for (i = 0; i < c->nref; i++) {
		expect_change(t->e, &t->ref[i], &t->allow[i], &t->det[i]);
		c->change_errs |= t->allow[i];
		if (t->ref[i].filter == 0)
			continue;
		if (t->det[i])
			c->any_det = true;
		if (t->ref[i].flags & EV_RECEIPT)
			c->any_receipt = true;
	}
	c->change_errs &= ~OKB;
}

/* Places @n entries of t->ref in a partially mapped area ending at guard page. */
static uintptr_t place_partial(struct thr *t, char *area, uint32_t n, bool fit)
{
	char *guard = area + 2 * pagesz;
	uint64_t bytes = (uint64_t)n * KEV_SZ;
	uintptr_t start;
	uint32_t j;

	if (fit && bytes <= (uint64_t)2 * pagesz) {
		start = (uintptr_t)guard - bytes;
	} else {
		j = rn(&t->rng, n < 120 ? n : 120);
		start = (uintptr_t)guard - (uintptr_t)j * KEV_SZ - rn(&t->rng, KEV_SZ);
	}
	if (start < (uintptr_t)area)
		start = (uintptr_t)area;
	bytes = (uintptr_t)guard - start < bytes ? (uintptr_t)guard - start : bytes;
	memcpy((void *)start, t->ref, bytes);
	return start;
}

static void check_events(struct thr *t, struct call *c, long rr);

static void check_call(struct thr *t, struct call *c, long rr, int err)
{
	char d[512];
	int cacc, eacc, wacc;
	uint32_t nch = c->a.nchanges, nev = c->a.nevents;

	/* An argument in unmapped memory may have been mapped again: unknown. */
	if (err == EINTR && !c->canwait && (c->known || c->strict_ebadf) &&
	    access_of(t, c->ap, sizeof(kargs_t)) != ACC_UNK) {
		describe(c, d, sizeof(d));
		unexpected(t, "EINTR from a call that cannot wait: %s", d);
		return;
	}
	if (c->strict_ebadf) {
		if (!(rr < 0 && err == EBADF)) {
			describe(c, d, sizeof(d));
			unexpected(t, "ioctl on a descriptor that is not open returned %ld (%s): %s",
				   rr, ename(err), d);
		}
		return;
	}
	if (!c->stable)
		return;
	describe(c, d, sizeof(d));

	switch (access_of(t, c->ap, sizeof(kargs_t))) {
	case ACC_NONE:
		if (!(rr < 0 && err == EFAULT))
			unexpected(t, "unreadable argument gave %ld (%s), not EFAULT: %s", rr,
				   ename(err), d);
		return;
	case ACC_UNK:
		return;
	}
	if (c->bad_fields || c->bad_timeout) {
		if (!(rr < 0 && err == EINVAL))
			unexpected(t, "invalid %s gave %ld (%s), not EINVAL: %s",
				   c->bad_fields ? "argument fields" : "timeout", rr, ename(err), d);
		return;
	}
	cacc = access_of(t, c->a.changelist, (uint64_t)nch * KEV_SZ);
	eacc = access_of(t, c->a.eventlist, (uint64_t)nev * KEV_SZ);
	/* Memory that may have been mapped again by now: contents unknown. */
	if (cacc == ACC_UNK || eacc == ACC_UNK)
		return;
	if (rr < 0) {
		uint64_t ok = 0;

		if (cacc == ACC_NONE || cacc == ACC_UNK || eacc != ACC_RW)
			ok |= B(EFAULT);
		if (c->canwait)
			ok |= B(EINTR);
		/* Only a change with no room left for its entry fails the call. */
		if (nev < nch)
			ok |= c->change_errs;
		if (err >= 64 || !(ok & B(err)))
			unexpected(t, "call failed with %s, allowed here: %#llx: %s", ename(err),
				   (unsigned long long)ok, d);
		return;
	}
	if (cacc == ACC_NONE && nch > 0) {
		unexpected(t, "success (%ld) with an unreadable change list: %s", rr, d);
		return;
	}
	if (rr > (long)nev) {
		unexpected(t, "returned %ld > nevents: %s", rr, d);
		return;
	}
	if (rr == 0) {
		if (nev > 0 && (c->any_det || c->any_receipt))
			unexpected(t, "returned 0 although a change must produce an EV_ERROR entry: %s",
				   d);
		else if (nev == 0 && c->any_det)
			unexpected(t, "a change that must fail was accepted (no room for its entry, call returned 0): %s",
				   d);
		return;
	}
	wacc = access_of(t, c->a.eventlist, (uint64_t)rr * KEV_SZ);
	if (wacc == ACC_NONE || wacc == ACC_R) {
		unexpected(t, "returned %ld entries written to memory it cannot write: %s", rr, d);
		return;
	}
	if (wacc != ACC_RW || rr > CAP)
		return;
	memcpy(t->res, (void *)(uintptr_t)c->a.eventlist, rr * KEV_SZ);
	check_events(t, c, rr);
}

static void check_events(struct thr *t, struct call *c, long rr)
{
	char d[512], cd[160];
	uint32_t nch = c->a.nchanges, nev = c->a.nevents, i, j = 0;
	long nerr = 0, k;
	static _Thread_local bool seen[CAP + 1];

	for (k = 0; k < rr; k++)
		if (t->res[k].flags & EV_ERROR)
			nerr++;
	describe(c, d, sizeof(d));
	if (nerr && nerr != rr) {
		unexpected(t, "%ld of %ld entries have EV_ERROR: %s", nerr, rr, d);
		return;
	}
	if (!nerr) {
		if (c->any_det || c->any_receipt) {
			unexpected(t, "events collected although a change must produce an EV_ERROR entry: %s",
				   d);
			return;
		}
		for (k = 0; k < rr; k++) {
			kev_t *ev = &t->res[k];
			const char *bad = NULL;

			if (!filter_valid(ev->filter))
				bad = "unknown filter";
			else if (ev->filter == EVFILT_TIMER && (ev->data < 0 || !(ev->flags & EV_CLEAR)))
				bad = "timer event without EV_CLEAR";
			else if (ev->filter == EVFILT_SIGNAL &&
				 (ev->ident < 1 || ev->ident > NSIG_KERNEL || ev->data < 0))
				bad = "signal event";
			else if (ev->filter == EVFILT_USER && (ev->fflags & ~NOTE_FFLAGSMASK))
				bad = "user event fflags";
			else if (ev->filter == EVFILT_PROC &&
				 (ev->fflags & ~(NOTE_EXIT | NOTE_FORK | NOTE_EXEC | NOTE_TRACKERR | NOTE_CHILD)))
				bad = "proc event fflags";
			else if (ev->filter == EVFILT_PROCDESC && (ev->fflags & ~NOTE_EXIT))
				bad = "procdesc event fflags";
			else if (ev->filter == EVFILT_VNODE && ((ev->fflags & ~VNODE_ALL) || ev->data))
				bad = "vnode event";
			if (bad) {
				describe_change(ev, cd, sizeof(cd));
				unexpected(t, "bad event (%s): %s in %s", bad, cd, d);
				return;
			}
		}
		t->ls.events += rr;
		return;
	}
	if (c->zeros || rr > (long)nch || rr > (long)c->nref) {
		unexpected(t, "%ld EV_ERROR entries for %u changes: %s", rr, nch, d);
		return;
	}
	memset(seen, 0, sizeof(bool) * (c->nref + 1));
	for (k = 0; k < rr; k++) {
		kev_t *ev = &t->res[k];
		const kev_t *ch;
		uint64_t e;

		while (j < c->nref && t->ref[j].udata != ev->udata)
			j++;
		describe_change(ev, cd, sizeof(cd));
		if (j >= c->nref) {
			unexpected(t, "EV_ERROR entry %ld %s (udata %#llx) matches no change, or out of order: %s",
				   k, cd, (unsigned long long)ev->udata, d);
			return;
		}
		ch = &t->ref[j];
		if (ev->flags != EV_ERROR || ev->ident != ch->ident || ev->filter != ch->filter ||
		    ev->fflags != ch->fflags || memcmp(ev->ext, ch->ext, sizeof(ev->ext))) {
			unexpected(t, "EV_ERROR entry %s is not its change as given (flags must be EV_ERROR): %s",
				   cd, d);
			return;
		}
		if (ch->filter == 0) {
			unexpected(t, "an entry for a change with filter 0: %s", d);
			return;
		}
		e = (uint64_t)ev->data;
		if (e == 0) {
			if (!(ch->flags & EV_RECEIPT))
				unexpected(t, "EV_ERROR entry with data 0 for a change without EV_RECEIPT: %s",
					   d);
		} else if (e >= 64 || !(t->allow[j] & B(e)) || (t->det[j] && !(t->det[j] & B(e)))) {
			char chd[160];

			describe_change(ch, chd, sizeof(chd));
			unexpected(t, "change %s gave %s (allowed %#llx, required %#llx)", chd,
				   e < NERR ? ename((int)e) : "?", (unsigned long long)t->allow[j],
				   (unsigned long long)t->det[j]);
		}
		if (!e && t->det[j]) {
			char chd[160];

			describe_change(ch, chd, sizeof(chd));
			unexpected(t, "change %s succeeded but must fail (%#llx)", chd,
				   (unsigned long long)t->det[j]);
		}
		if (e < NERR)
			t->ls.ent_err[e]++;
		seen[j] = true;
		j++;
	}
	t->ls.errents += rr;
	if (rr < (long)nev) {
		for (i = 0; i < c->nref; i++) {
			const kev_t *ch = &t->ref[i];

			if (ch->filter && !seen[i] && (t->det[i] || (ch->flags & EV_RECEIPT))) {
				describe_change(ch, cd, sizeof(cd));
				unexpected(t, "change %u %s produced no EV_ERROR entry: %s", i, cd, d);
				return;
			}
		}
	}
}

static void gen_timeout(struct thr *t, kargs_t *a)
{
	struct rng *r = &t->rng;
	uint32_t k = rn(r, 1000);

	if (k < 860)
		a->flags = KQUEUE_KEVENT_TIMEOUT;
	else if (k < 880)
		a->flags = 0;	/* wait forever: woken by a signal or a close */
	else if (k < 990)
		a->flags = KQUEUE_KEVENT_TIMEOUT;
	else
		a->flags = (uint32_t)rnd(r) | (pm(r, 500) ? KQUEUE_KEVENT_TIMEOUT : 0);
	k = rn(r, 1000);
	if (k < 500) {
		a->timeout.tv_sec = 0;
		a->timeout.tv_nsec = 0;
	} else if (k < 750) {
		a->timeout.tv_nsec = rn(r, 1000000);
	} else if (k < 900) {
		a->timeout.tv_nsec = rn(r, 50000000);
	} else if (k < 950) {
		static const int64_t bad[][2] = {
			{ -1, 0 }, { 0, -1 }, { 0, 1000000000 }, { INT64_MIN, 0 },
			{ 0, INT64_MAX }, { -1, -1 }, { 1, INT64_MIN },
		};
		int i = rn(r, ARRAY_SIZE(bad));

		a->timeout.tv_sec = bad[i][0];
		a->timeout.tv_nsec = bad[i][1];
	} else if (k < 960) {
		/* Effectively forever. */
		a->timeout.tv_sec = pm(r, 500) ? INT64_MAX : 1LL << 40;
		a->timeout.tv_nsec = 999999999;
	} else {
		a->timeout.tv_sec = 0;
		a->timeout.tv_nsec = 1 + rn(r, 1000);
	}
}

static void do_kevent(struct thr *t)
{
	static const uint32_t huge_counts[] = {
		KQUEUE_MAX_CHANGES, KQUEUE_MAX_CHANGES + 1, KQUEUE_MAX_CHANGES - 1,
		UINT32_MAX, 1U << 31, 1U << 16, CAP + 1,
	};
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	struct call c;
	uint32_t nch, nev, k, off;
	uintptr_t cp = 0, ep = 0;
	long rr;
	int err;

	memset(&c, 0, sizeof(c));
	c.slot = -1;

	/* The kqueue. */
	k = rn(r, 100);
	if (k < 64) {
		c.slot = rn(r, SLOT_N);
		c.seq0 = atomic_load(&e->slot_seq[c.slot]);
		c.kq = SLOT_BASE + c.slot;
		c.known = true;
	} else if (k < 78 && t->privkq >= 0) {
		c.kq = t->privkq;
		c.known = true;
	} else if (k < 97) {
		c.kq = POOL_BASE + rn(r, POOL_N);
	} else {
		static const int badfd[] = { -1, FD_LIMIT - 1, 100000, INT_MAX };

		c.kq = badfd[rn(r, ARRAY_SIZE(badfd))];
		c.strict_ebadf = true;
	}

	/* Counts. */
	k = rn(r, 1000);
	if (k < 300)
		nch = 0;
	else if (k < 750)
		nch = 1 + rn(r, 4);
	else if (k < 960)
		nch = 5 + rn(r, 28);
	else if (k < 995)
		nch = 33 + rn(r, CAP - 32);
	else
		nch = huge_counts[rn(r, ARRAY_SIZE(huge_counts))];
	k = rn(r, 1000);
	if (k < 250)
		nev = 0;
	else if (k < 700)
		nev = 1 + rn(r, 16);
	else if (k < 900)
		nev = 17 + rn(r, CAP - 16);
	else if (k < 980)
		nev = nch <= CAP ? nch : CAP;
	else
		nev = huge_counts[rn(r, ARRAY_SIZE(huge_counts))];

	/* The change list. */
	if (nch > CAP) {
		if (!(opt_disable & D_HUGE) && nch <= KQUEUE_MAX_CHANGES + 1 && pm(r, 50)) {
			c.ccls = P_HUGE;
		} else {
			static const int big[] = { P_NONE, P_NULL, P_KERNEL, P_UNMAPPED, P_NONCANON };

			c.ccls = big[rn(r, ARRAY_SIZE(big))];
			if (pm(r, 500))
				nch = KQUEUE_MAX_CHANGES + 1 + rn(r, 1000);
		}
	} else {
		k = rn(r, 1000);
		c.ccls = k < 600 ? P_VALID : k < 700 ? P_UNALIGNED : k < 740 ? P_NULL :
			 k < 790 ? P_RO : k < 820 ? P_NONE : k < 840 ? P_UNMAPPED :
			 k < 960 ? P_PARTIAL : k < 980 ? P_KERNEL : P_NONCANON;
		if (c.ccls == P_RO && nch > RO_N)
			c.ccls = P_VALID;
	}
	switch (c.ccls) {
	case P_HUGE:
		cp = (uintptr_t)hz_base;
		c.zeros = true;
		c.nref = 0;
		break;
	case P_RO:
		off = rn(r, RO_N - nch + 1);
		cp = (uintptr_t)ro_base + off * KEV_SZ;
		memcpy(t->ref, &ro_ref[off], nch * KEV_SZ);
		c.nref = nch;
		break;
	case P_VALID:
	case P_UNALIGNED:
	case P_PARTIAL:
		gen_list(t, &c, nch);
		if (c.ccls == P_PARTIAL) {
			cp = place_partial(t, t->pc, nch, pm(r, 300));
		} else {
			cp = (uintptr_t)t->A + (c.ccls == P_UNALIGNED ? 1 + rn(r, KEV_SZ - 1) : 0);
			memcpy((void *)cp, t->ref, nch * KEV_SZ);
		}
		break;
	default:
		if (nch <= CAP)
			gen_list(t, &c, nch);
		else
			c.nref = 0;
		cp = bad_ptr(t, c.ccls);
		break;
	}
	analyse_list(t, &c);

	/* The event list. */
	k = rn(r, 1000);
	c.ecls = k < 550 ? P_VALID : k < 630 ? P_UNALIGNED : k < 730 ? P_SAME :
		 k < 770 ? P_NULL : k < 800 ? P_RO : k < 830 ? P_NONE : k < 850 ? P_UNMAPPED :
		 k < 960 ? P_PARTIAL : k < 980 ? P_KERNEL : P_NONCANON;
	switch (c.ecls) {
	case P_VALID:
		ep = (uintptr_t)t->B;
		break;
	case P_UNALIGNED:
		ep = (uintptr_t)t->B + 1 + rn(r, KEV_SZ - 1);
		break;
	case P_SAME:
		ep = cp;
		break;
	case P_RO:
		ep = (uintptr_t)ro_base + rn(r, RO_N) * KEV_SZ;
		break;
	case P_PARTIAL:
		if (pm(r, 300) && (uint64_t)nev * KEV_SZ <= (uint64_t)2 * pagesz)
			ep = (uintptr_t)t->pe + 2 * pagesz - (uint64_t)nev * KEV_SZ;
		else
			ep = (uintptr_t)t->pe + 2 * pagesz - rn(r, 120) * KEV_SZ - rn(r, KEV_SZ);
		break;
	default:
		ep = bad_ptr(t, c.ecls);
		break;
	}

	/* The argument. */
	memset(&c.a, 0, sizeof(c.a));
	c.a.changelist = cp;
	c.a.eventlist = ep;
	c.a.nchanges = nch;
	c.a.nevents = nev;
	gen_timeout(t, &c.a);
	if (pm(r, 15))
		c.a.reserved0 = (uint32_t)rnd(r) | 1;
	if (pm(r, 15))
		c.a.reserved[rn(r, 2)] = rnd(r) | 1;
	k = rn(r, 1000);
	c.acls = k < 900 ? P_VALID : k < 940 ? P_UNALIGNED : k < 950 ? P_RO : k < 960 ? P_NULL :
		 k < 970 ? P_NONE : k < 985 ? P_PARTIAL : k < 990 ? P_KERNEL :
		 k < 995 ? P_NONCANON : P_UNMAPPED;
	switch (c.acls) {
	case P_VALID:
		c.ap = (uintptr_t)t->C;
		memcpy(t->C, &c.a, sizeof(c.a));
		break;
	case P_UNALIGNED:
		c.ap = (uintptr_t)t->C + 1 + rn(r, 63);
		memcpy((void *)c.ap, &c.a, sizeof(c.a));
		break;
	case P_RO:
		/* A valid argument in read-only memory: no change, no event. */
		c.ap = (uintptr_t)ro_base + RO_N * KEV_SZ;
		c.a = ro_args_val;
		c.ccls = c.ecls = P_NULL;
		c.nref = 0;
		analyse_list(t, &c);
		break;
	case P_PARTIAL:
		/* Straddles the guard page: the copy must fault. */
		c.ap = (uintptr_t)t->C + t->Clen - 32;
		memcpy((void *)c.ap, &c.a, 32);
		break;
	default:
		c.ap = bad_ptr(t, c.acls);
		break;
	}
	c.bad_fields = (c.a.flags & ~KQUEUE_KEVENT_FLAGS) || c.a.reserved0 || c.a.reserved[0] ||
		       c.a.reserved[1] || c.a.nchanges > KQUEUE_MAX_CHANGES ||
		       c.a.nevents > KQUEUE_MAX_EVENTS;
	c.bad_timeout = (c.a.flags & KQUEUE_KEVENT_TIMEOUT) &&
			(c.a.timeout.tv_sec < 0 || c.a.timeout.tv_nsec < 0 ||
			 c.a.timeout.tv_nsec >= 1000000000LL);
	c.canwait = c.a.nevents > 0 && (!(c.a.flags & KQUEUE_KEVENT_TIMEOUT) ||
					 c.a.timeout.tv_sec > 0 || c.a.timeout.tv_nsec > 0);

	rr = ioctl(c.kq, KQUEUE_IOC_KEVENT, (void *)c.ap);
	err = rr < 0 ? errno : 0;

	if (c.slot >= 0) {
		uint32_t s1 = atomic_load(&e->slot_seq[c.slot]);

		c.stable = s1 == c.seq0 && !(c.seq0 & 1);
	} else {
		c.stable = c.known;
	}
	t->ls.ioctls++;
	if (rr >= 0)
		t->ls.ok++;
	if (err < NERR)
		t->ls.call_err[err]++;
	check_call(t, &c, rr, err);
}

/* ------------------------------------------------------------- probes */

/* Collects from the private kqueue until the user event @ident shows up. */
static int find_user(struct thr *t, uint64_t ident, kev_t *found)
{
	int round;

	for (round = 0; round < 8; round++) {
		long n = kev_raw(t->privkq, NULL, 0, t->res, CAP, 0);
		long i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (i = 0; i < n; i++) {
			if (t->res[i].filter == EVFILT_USER && t->res[i].ident == ident) {
				*found = t->res[i];
				return 1;
			}
		}
		if (n < CAP)
			return 0;
	}
	return 0;
}

static void probe(struct thr *t)
{
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	uint64_t ident = 0xdead0000ULL + t->idx;
	kev_t ev;
	int x, fd;

	op(t, OP_PROBE);
	switch (rn(r, 6)) {
	case 0:
		/* A kqueue watching itself. */
		x = kev_one(t->privkq, t->privkq, EVFILT_READ, EV_ADD, 0, 0);
		if (x != EINVAL && x != ELOOP && x != -EINTR)
			unexpected(t, "EVFILT_READ of a kqueue on itself gave %d, not EINVAL/ELOOP", x);
		break;
	case 1:
		/* EVFILT_USER round trip on the private kqueue. */
		x = kev_one(t->privkq, ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0);
		if (x == ENOMEM || x == -EINTR)
			break;
		if (x) {
			unexpected(t, "EVFILT_USER EV_ADD gave %d", x);
			break;
		}
		x = kev_one(t->privkq, ident, EVFILT_USER, 0, NOTE_TRIGGER | NOTE_FFCOPY | 0x123, 77);
		if (x) {
			if (x != -EINTR)
				unexpected(t, "EVFILT_USER trigger gave %d", x);
			break;
		}
		x = find_user(t, ident, &ev);
		if (x < 0 && x != -EINTR)
			unexpected(t, "collecting the user event failed: %d", x);
		else if (x == 0)
			unexpected(t, "triggered EVFILT_USER event was not reported");
		else if (x > 0 && (ev.fflags != 0x123 || ev.data != 77 || !(ev.flags & EV_CLEAR)))
			unexpected(t, "user event reported fflags=%#x data=%lld flags=%#x",
				   ev.fflags, (long long)ev.data, ev.flags);
		else if (x > 0 && find_user(t, ident, &ev) == 1)
			unexpected(t, "EV_CLEAR user event reported twice");
		kev_one(t->privkq, ident, EVFILT_USER, EV_DELETE, 0, 0);
		break;
	case 2:
		/* The unprivileged engine may not watch a file it cannot read. */
		if (!e->unpriv)
			break;
		fd = open("/tmp/kqfuzz-root/secret", O_PATH | O_CLOEXEC);
		if (fd < 0)
			break;
		x = kev_one(t->privkq, fd, EVFILT_VNODE, EV_ADD, NOTE_WRITE | NOTE_DELETE, 0);
		if (x != EACCES && x != -EINTR)
			unexpected(t, "EVFILT_VNODE on an unreadable file (O_PATH) gave %d, not EACCES",
				   x);
		close(fd);
		break;
	case 3:
		/* Watching this process. */
		x = kev_one(t->privkq, getpid(), EVFILT_PROC, EV_ADD, NOTE_EXIT | NOTE_FORK, 0);
		if (x != 0 && x != ENOMEM && x != -EINTR)
			unexpected(t, "EVFILT_PROC on this process gave %d", x);
		x = kev_one(t->privkq, 1, EVFILT_PROC, EV_ADD, NOTE_EXIT, 0);
		if (e->unpriv ? x != EACCES : (x != 0 && x != ENOMEM))
			if (x != -EINTR)
				unexpected(t, "EVFILT_PROC on pid 1 gave %d", x);
		break;
	case 4: {
		/* A one-shot 1 ms timer fires. */
		int64_t deadline = now_ns(CLOCK_MONOTONIC) + 10000000000LL;
		bool got = false;

		x = kev_one(t->privkq, ident, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_MSECONDS, 1);
		if (x) {
			if (x != ENOMEM && x != -EINTR)
				unexpected(t, "one-shot timer EV_ADD gave %d", x);
			break;
		}
		while (!got && now_ns(CLOCK_MONOTONIC) < deadline && !stopping(t)) {
			long n = kev_raw(t->privkq, NULL, 0, t->res, CAP, 20000000);
			long i;

			if (n < 0 && errno != EINTR) {
				unexpected(t, "waiting for a timer: %s", ename(errno));
				break;
			}
			for (i = 0; i < n; i++)
				if (t->res[i].filter == EVFILT_TIMER && t->res[i].ident == ident)
					got = true;
		}
		if (!got && !stopping(t))
			unexpected(t, "a one-shot 1 ms timer did not fire within 10 s");
		break;
	}
	case 5:
		/* Unknown ioctls are ENOTTY. */
		x = ioctl(t->privkq, _IOWR(KQUEUE_IOC_MAGIC, 0x02 + rn(r, 200), kargs_t), t->C);
		if (!(x < 0 && errno == ENOTTY))
			unexpected(t, "unknown ioctl on a kqueue gave %d (%s)", x,
				   ename(x < 0 ? errno : 0));
		break;
	}
}

/* ------------------------------------------------------ descriptor pool */

enum kind {
	K_NONE, K_PIPE, K_UNIX_STREAM, K_UNIX_DGRAM, K_SEQPACKET, K_TCP, K_UDP,
	K_EVENTFD, K_TIMERFD, K_SIGNALFD, K_FILE, K_DIR, K_OPATH, K_FIFO,
	K_EPOLL, K_KQUEUE, K_KQDUP, K_PIDFD, K_DEVNULL, K_MEMFD, K_INOTIFY,
	K_PTMX, K_LISTENER, K_SECRET, K_NKINDS
};

static int pool_fd(struct rng *r)
{
	return POOL_BASE + rn(r, POOL_N);
}

static void linger0(int fd)
{
	struct linger l = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static void file_name(struct thr *t, char *buf, size_t len)
{
	static const char *const names[] = {
		"f0", "f1", "f2", "f3", "f4", "f5", "d0", "d1", "d0/f6", "d1/f7",
		"fifo", "sym", "d0/d2",
	};

	snprintf(buf, len, "%s/%s", t->e->dir, names[rn(&t->rng, ARRAY_SIZE(names))]);
}

/* Creates an object; returns how many descriptors it put in @fd (0 to 2). */
static int make_obj(struct thr *t, enum kind kind, int fd[2])
{
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	char path[128];
	int i, n;

	fd[0] = fd[1] = -1;
	switch (kind) {
	case K_PIPE:
		return pipe2(fd, O_NONBLOCK) ? 0 : 2;
	case K_UNIX_STREAM:
	case K_UNIX_DGRAM:
	case K_SEQPACKET:
		return socketpair(AF_UNIX, (kind == K_UNIX_STREAM ? SOCK_STREAM :
					    kind == K_UNIX_DGRAM ? SOCK_DGRAM : SOCK_SEQPACKET) |
				  SOCK_NONBLOCK, 0, fd) ? 0 : 2;
	case K_TCP:
		fd[0] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (fd[0] < 0)
			return 0;
		linger0(fd[0]);
		if (connect(fd[0], (struct sockaddr *)&e->laddr, sizeof(e->laddr)) < 0 &&
		    errno != EINPROGRESS)
			return 1;
		fd[1] = accept4(LISTEN_FD, NULL, NULL, SOCK_NONBLOCK);
		if (fd[1] >= 0)
			linger0(fd[1]);
		return fd[1] >= 0 ? 2 : 1;
	case K_UDP: {
		struct sockaddr_in a = { .sin_family = AF_INET };

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		fd[0] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (fd[0] >= 0)
			bind(fd[0], (struct sockaddr *)&a, sizeof(a));
		return fd[0] >= 0;
	}
	case K_EVENTFD:
		fd[0] = eventfd(rn(r, 3), EFD_NONBLOCK | (pm(r, 300) ? EFD_SEMAPHORE : 0));
		return fd[0] >= 0;
	case K_TIMERFD: {
		struct itimerspec its = { { 0, 0 }, { 0, 1000000 + rn(r, 50000000) } };

		fd[0] = timerfd_create(pm(r, 500) ? CLOCK_MONOTONIC : CLOCK_REALTIME, TFD_NONBLOCK);
		if (fd[0] >= 0) {
			if (pm(r, 500))
				its.it_interval.tv_nsec = 10000000 + rn(r, 90000000);
			timerfd_settime(fd[0], 0, &its, NULL);
		}
		return fd[0] >= 0;
	}
	case K_SIGNALFD: {
		sigset_t s;

		sigemptyset(&s);
		sigaddset(&s, SIGURG);
		sigaddset(&s, SIGWINCH);
		fd[0] = signalfd(-1, &s, SFD_NONBLOCK);
		return fd[0] >= 0;
	}
	case K_FILE:
		snprintf(path, sizeof(path), "%s/f%u", e->dir, rn(r, 6));
		fd[0] = open(path, O_RDWR | O_CREAT | O_NONBLOCK, 0644);
		return fd[0] >= 0;
	case K_DIR:
		snprintf(path, sizeof(path), "%s%s", e->dir, pm(r, 500) ? "" : "/d0");
		fd[0] = open(path, O_RDONLY | O_DIRECTORY);
		return fd[0] >= 0;
	case K_OPATH:
		file_name(t, path, sizeof(path));
		fd[0] = open(path, O_PATH | O_NOFOLLOW);
		return fd[0] >= 0;
	case K_FIFO:
		snprintf(path, sizeof(path), "%s/fifo", e->dir);
		fd[0] = open(path, (pm(r, 700) ? O_RDWR : O_RDONLY) | O_NONBLOCK);
		return fd[0] >= 0;
	case K_EPOLL:
		fd[0] = epoll_create1(0);
		if (fd[0] < 0)
			return 0;
		n = rn(r, 4);
		for (i = 0; i < n; i++) {
			struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT };

			if (pm(r, 300))
				ev.events |= EPOLLET;
			epoll_ctl(fd[0], EPOLL_CTL_ADD, pm(r, 200) ? SLOT_BASE + (int)rn(r, SLOT_N) :
				  pool_fd(r), &ev);
		}
		return 1;
	case K_KQUEUE:
		fd[0] = kq_new(r);
		return fd[0] >= 0;
	case K_KQDUP:
		fd[0] = dup(SLOT_BASE + rn(r, SLOT_N));
		return fd[0] >= 0;
	case K_PIDFD: {
		pid_t p = pm(r, 800) ? (pid_t)ring_pick(e, r, pm(r, 500)) : getpid();

		fd[0] = p > 0 ? (int)syscall(SYS_pidfd_open, p, 0) : -1;
		return fd[0] >= 0;
	}
	case K_DEVNULL:
		fd[0] = open("/dev/null", O_RDWR);
		return fd[0] >= 0;
	case K_MEMFD:
		fd[0] = memfd_create("kqfuzz", 0);
		return fd[0] >= 0;
	case K_INOTIFY:
		fd[0] = inotify_init1(IN_NONBLOCK);
		if (fd[0] >= 0)
			inotify_add_watch(fd[0], e->dir, IN_ALL_EVENTS);
		return fd[0] >= 0;
	case K_PTMX:
		fd[0] = open("/dev/ptmx", O_RDWR | O_NONBLOCK | O_NOCTTY);
		return fd[0] >= 0;
	case K_LISTENER:
		fd[0] = dup(LISTEN_FD);
		return fd[0] >= 0;
	case K_SECRET:
		fd[0] = open("/tmp/kqfuzz-root/secret", O_PATH);
		return fd[0] >= 0;
	default:
		return 0;
	}
}

static void churn_open(struct thr *t)
{
	struct rng *r = &t->rng;
	enum kind kind = 1 + rn(r, K_NKINDS - 1);
	int fd[2], n, i;

	n = make_obj(t, kind, fd);
	op(t, OP_OPEN);
	for (i = 0; i < n; i++) {
		int slot = rn(r, POOL_N);

		if (place(fd[i], POOL_BASE + slot) >= 0)
			atomic_store(&t->e->pool_kind[slot], kind);
	}
}

static void send_fds(struct thr *t, int sock)
{
	struct rng *r = &t->rng;
	int fds[3], n = 1 + rn(r, 3), i;
	char cbuf[CMSG_SPACE(sizeof(fds))], b = 'x';
	struct iovec iov = { &b, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf };
	struct cmsghdr *cm;

	for (i = 0; i < n; i++)
		fds[i] = pm(r, 300) ? SLOT_BASE + (int)rn(r, SLOT_N) : pool_fd(r);
	memset(cbuf, 0, sizeof(cbuf));
	mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(n * sizeof(int));
	memcpy(CMSG_DATA(cm), fds, n * sizeof(int));
	sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	op(t, OP_SCM);
}

static void recv_fds(struct thr *t, int sock)
{
	char cbuf[CMSG_SPACE(8 * sizeof(int))], b[64];
	struct iovec iov = { b, sizeof(b) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;

	if (recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) < 0)
		return;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		int *fds = (int *)CMSG_DATA(cm);
		size_t i, n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			if (pm(&t->rng, 500))
				place(fds[i], pool_fd(&t->rng));
			else
				close(fds[i]);
		}
	}
}

static void churn_io(struct thr *t)
{
	struct rng *r = &t->rng;
	int fd = pool_fd(r);
	char buf[512];
	uint64_t one = 1;

	memset(buf, 'k', sizeof(buf));
	op(t, OP_IO);
	switch (rn(r, 12)) {
	case 0:
	case 1:
		if (write(fd, &one, 8) < 0)
			break;
		break;
	case 2:
	case 3:
		if (write(fd, buf, 1 + rn(r, sizeof(buf))) < 0)
			break;
		break;
	case 4:
	case 5:
		if (read(fd, buf, sizeof(buf)) < 0)
			break;
		break;
	case 6:
		shutdown(fd, rn(r, 3));
		break;
	case 7: {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | (pm(r, 300) ? EPOLLET : 0) };
		int other = pm(r, 150) ? SLOT_BASE + (int)rn(r, SLOT_N) :
			    pm(r, 100) ? NEST_BASE + (int)rn(r, NEST_N) : pool_fd(r);

		epoll_ctl(fd, EPOLL_CTL_ADD + rn(r, 3), other, &ev);
		op(t, OP_EPOLL);
		break;
	}
	case 8:
		if (pwrite(fd, buf, 1 + rn(r, 256), rn(r, 65536)) < 0)
			break;
		break;
	case 9:
		if (ftruncate(fd, rn(r, 65536)) < 0)
			break;
		break;
	case 10:
		if (!(opt_disable & D_SCM))
			send_fds(t, fd);
		break;
	case 11:
		recv_fds(t, fd);
		break;
	}
}

static void churn_step(struct thr *t)
{
	struct rng *r = &t->rng;
	uint32_t k = rn(r, 100);
	int src;

	if (k < 20) {
		close(pool_fd(r));
		op(t, OP_CLOSE);
	} else if (k < 35) {
		k = rn(r, 10);
		/* Never from the nesting range: the waiter scenario closes its last descriptor. */
		src = k < 7 ? pool_fd(r) : k < 9 ? SLOT_BASE + (int)rn(r, SLOT_N) : LISTEN_FD;
		dup2(src, pool_fd(r));
		op(t, OP_DUP2);
	} else if (k < 60) {
		churn_open(t);
	} else {
		churn_io(t);
	}
}

/* ------------------------------------------------------------ threads */

/*
 * EVFILT_PROC changes on the newest child, over and over while the fork
 * thread reaps it: the registration races with the release of its pid.
 */
static void race_step(struct thr *t)
{
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	uint64_t pid = (uint64_t)atomic_load(&e->race_pid);
	int i, x;

	if (pid == t->last_pid || pid == 0) {
		/* Waiting for the next child; collect what the last ones left. */
		if (pm(r, 50)) {
			kev_raw(t->privkq, NULL, 0, t->res, CAP, 0);
			t->ls.ioctls++;
		}
		sleep_ns(50000);
		return;
	}
	t->last_pid = pid;
	atomic_store(&e->race_ack, (pid_t)pid);
	for (i = 0; i < 200 && !stopping(t); i++) {
		uint32_t ff = NOTE_EXIT | ((uint32_t)rnd(r) & (NOTE_FORK | NOTE_EXEC | NOTE_TRACK));
		kev_t ch[2], out[2];
		long n;

		/* Add and delete in one call: every add attaches afresh. */
		set_kev(&ch[0], pid, EVFILT_PROC, EV_ADD | EV_RECEIPT, ff, 0, 0);
		set_kev(&ch[1], pid, EVFILT_PROC, EV_DELETE, 0, 0, 0);
		n = kev_raw(t->privkq, ch, 2, out, 2, 0);
		t->ls.ioctls++;
		op(t, OP_RACE);
		if (n < 1) {
			if (!(n < 0 && errno == EINTR))
				unexpected(t, "EVFILT_PROC add/delete on a child being reaped (pid %llu): %ld (%s)",
					   (unsigned long long)pid, n, ename(n < 0 ? errno : 0));
			break;
		}
		x = (int)out[0].data;
		if (x >= 0 && x < NERR)
			t->ls.ent_err[x]++;
		if (x != 0 && x != ESRCH && x != ENOMEM && x != EACCES)
			unexpected(t, "EVFILT_PROC EV_ADD on a child being reaped (pid %llu) gave %d",
				   (unsigned long long)pid, x);
		if (x == ESRCH)
			break;
	}
}

static void file_step(struct thr *t)
{
	struct rng *r = &t->rng;
	char a[160], b[160];
	struct timespec ts[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
	int fd;

	file_name(t, a, sizeof(a));
	file_name(t, b, sizeof(b));
	op(t, OP_FILE);
	switch (rn(r, 14)) {
	case 0:
		fd = open(a, O_WRONLY | O_CREAT | O_NONBLOCK, 0644);
		if (fd >= 0) {
			ign(write(fd, "data", 4));
			close(fd);
		}
		break;
	case 1:
		unlink(a);
		break;
	case 2:
		rename(a, b);
		break;
	case 3:
		if (truncate(a, rn(r, 65536)) < 0)
			break;
		break;
	case 4:
		link(a, b);
		break;
	case 5:
		chmod(a, pm(r, 500) ? 0600 : 0644);
		break;
	case 6:
		utimensat(AT_FDCWD, a, ts, AT_SYMLINK_NOFOLLOW);
		break;
	case 7:
		snprintf(a, sizeof(a), "%s/d%u", t->e->dir, rn(r, 2));
		if (pm(r, 500))
			mkdir(a, 0755);
		else
			rmdir(a);
		break;
	case 8:
		snprintf(b, sizeof(b), "%s/sym", t->e->dir);
		unlink(b);
		if (symlink(a, b) < 0)
			break;
		break;
	case 9:
		snprintf(b, sizeof(b), "%s/fifo", t->e->dir);
		mkfifo(b, 0644);
		break;
	case 10:
	case 11:
		fd = open(a, O_RDONLY | O_NONBLOCK);
		if (fd >= 0) {
			char buf[64];

			ign(read(fd, buf, sizeof(buf)));
			close(fd);
		}
		break;
	case 12:
		fd = open(a, O_WRONLY | O_APPEND | O_NONBLOCK);
		if (fd >= 0) {
			ign(write(fd, "more", 4));
			close(fd);
		}
		break;
	case 13:
		/* An open file of the directory into the pool. */
		fd = open(a, (pm(r, 300) ? O_PATH : O_RDONLY) | O_NONBLOCK);
		place(fd, pool_fd(r));
		break;
	}
}

/* The child side of a fork: async-signal-safe calls only. */
static void __attribute__((noreturn)) child(int how, int code, int kqfd, long ns)
{
	struct timespec ts = { 0, ns };
	kargs_t a;
	pid_t g;

	switch (how) {
	case 0:
		_exit(code);
	case 1: {
		char *const argv[] = { "true", NULL };
		char *const envp[] = { NULL };

		execve("/bin/true", argv, envp);
		_exit(126);
	}
	case 2:
		nanosleep(&ts, NULL);
		_exit(code);
	case 3:
		g = fork();
		if (g == 0)
			_exit(0);
		if (g > 0)
			waitpid(g, NULL, 0);
		_exit(code);
	case 4:
		ts.tv_sec = 2;
		nanosleep(&ts, NULL);
		_exit(0);
	case 5:
		/* The parent's kqueue is not usable here: EBADF. */
		memset(&a, 0, sizeof(a));
		a.flags = KQUEUE_KEVENT_TIMEOUT;
		if (ioctl(kqfd, KQUEUE_IOC_KEVENT, &a) < 0 && errno == EBADF)
			_exit(0);
		_exit(77);
	default:
		syscall(SYS_kill, syscall(SYS_getpid), SIGKILL);
		_exit(0);
	}
}

struct kid {
	pid_t pid;
	int how;
};

static void reap_status(struct thr *t, struct kid *k, int st)
{
	op(t, OP_REAP);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77 && k->how == 5)
		unexpected(t, "a forked child could use its parent's kqueue (no EBADF)");
}

static void proc_step(struct thr *t, struct kid *kids, int *nkids)
{
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	int i, st, how, code;
	pid_t p;

	for (i = 0; i < *nkids; i++) {
		p = waitpid(kids[i].pid, &st, WNOHANG);
		if (p == kids[i].pid || (p < 0 && errno == ECHILD)) {
			if (p > 0)
				reap_status(t, &kids[i], st);
			kids[i--] = kids[--*nkids];
		}
	}
	if (*nkids >= MAX_KIDS) {
		kill(kids[0].pid, SIGKILL);
		op(t, OP_KILL);
		if (waitpid(kids[0].pid, &st, 0) == kids[0].pid)
			reap_status(t, &kids[0], st);
		kids[0] = kids[--*nkids];
		return;
	}
	code = rn(r, 256);
	if (code == 77)
		code = 78;
	if (!(opt_disable & D_PROCADD) && pm(r, 600)) {
		/*
		 * The race of issue 15: a child that is already a zombie, its
		 * pid handed to the racer thread, reaped while the racer adds
		 * EVFILT_PROC knotes on it. vfork: no page tables to copy.
		 */
		int64_t until;

		p = vfork();
		if (p == 0)
			_exit(code);
		if (p < 0)
			return;
		op(t, OP_FORK);
		atomic_store(&e->ring[atomic_fetch_add(&e->ring_pos, 1) % RING_N], p);
		atomic_store(&e->race_pid, p);
		until = now_ns(CLOCK_MONOTONIC) + 2000000;
		while (atomic_load(&e->race_ack) != p && now_ns(CLOCK_MONOTONIC) < until)
			sched_yield();
		if (pm(r, 500))
			sleep_ns(rn(r, 200000));
		if (waitpid(p, &st, 0) == p)
			op(t, OP_REAP);
		return;
	}
	{
		/*
		 * 0 exit, 1 exec, 2 sleep, 5 EBADF check, 6 SIGKILL itself:
		 * vfork (the copy-on-write faults a fork causes in a dozen busy
		 * threads cost more than everything else under KASAN and TCG);
		 * 3 grandchild and 4 sleeper (killed later): a real fork.
		 */
		static const int hows[] = { 0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 5, 5, 5, 6, 3, 3, 4, 4 };

		how = hows[rn(r, ARRAY_SIZE(hows))];
	}
	if (how == 3 || how == 4)
		p = fork();
	else
		p = vfork();
	if (p == 0)
		child(how, code, t->privkq, 1000000 + rn(r, 10000000));
	if (p < 0) {
		sleep_ns(1000000);
		return;
	}
	op(t, OP_FORK);
	if (how == 1)
		op(t, OP_EXEC);
	atomic_store(&e->ring[atomic_fetch_add(&e->ring_pos, 1) % RING_N], p);
	if (pm(r, 150)) {
		int pfd = (int)syscall(SYS_pidfd_open, p, 0);

		place(pfd, pool_fd(r));
	}
	kids[*nkids].pid = p;
	kids[*nkids].how = how;
	(*nkids)++;
	if (how != 4 && pm(r, 600)) {
		/* Reap at once: races with EVFILT_PROC changes naming the pid. */
		if (waitpid(p, &st, 0) == p) {
			reap_status(t, &kids[*nkids - 1], st);
			(*nkids)--;
		}
		return;
	}
	if (pm(r, 150)) {
		static const int sigs[] = { SIGKILL, SIGTERM, SIGUSR1, SIGSTOP, SIGCONT };

		kill(p, sigs[rn(r, ARRAY_SIZE(sigs))]);
		kill(p, SIGCONT);
		op(t, OP_KILL);
	}
}

static void signal_step(struct thr *t)
{
	static const int harmless[] = { SIGURG, SIGWINCH, SIGCONT };
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	union sigval v = { .sival_int = 1 };
	int i, sig;

	switch (rn(r, 10)) {
	case 0:
	case 1: {
		/* A signal every thread blocks, to the process. */
		static const int sigs[] = { SIGUSR1, SIGHUP, SIGALRM, SIGTERM, SIGURG, SIGWINCH };

		kill(getpid(), sigs[rn(r, ARRAY_SIZE(sigs))]);
		op(t, OP_SIGNAL);
		break;
	}
	case 2:
		sigqueue(getpid(), SIGRTMIN + rn(r, 3), v);
		op(t, OP_SIGNAL);
		break;
	case 3:
	case 4:
		/* To one thread. */
		i = rn(r, e->nthr);
		if (e->thr[i] && atomic_load(&e->thr[i]->tid)) {
			static const int sigs[] = { SIGUSR1, SIGHUP, SIGURG, SIGWINCH };

			sig = sigs[rn(r, ARRAY_SIZE(sigs))];
			syscall(SYS_tgkill, getpid(), atomic_load(&e->thr[i]->tid), sig);
			op(t, OP_TGKILL);
		}
		break;
	case 5:
	case 6:
	case 7:
		/* Interrupt an ioctl thread (EINTR). */
		i = rn(r, e->nioctl);
		if (e->thr[i] && !atomic_load(&e->thr[i]->done)) {
			pthread_kill(e->thr[i]->pt, SIGUSR2);
			op(t, OP_POKE);
		}
		break;
	case 8: {
		/* Harmless signals to recent children (their pids may be reused). */
		pid_t p = (pid_t)ring_pick(e, r, pm(r, 500));

		if (p > 1)
			kill(p, harmless[rn(r, ARRAY_SIZE(harmless))]);
		if (e->other_pid > 1)
			kill(e->other_pid, pm(r, 500) ? SIGURG : SIGUSR1);
		op(t, OP_SIGNAL);
		break;
	}
	case 9: {
		/* Drain what is pending for the process. */
		struct timespec z = { 0, 0 };

		for (i = 0; i < 64; i++)
			if (sigtimedwait(&blocked, NULL, &z) < 0)
				break;
		break;
	}
	}
}

static void slot_step(struct thr *t)
{
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	int s = rn(r, SLOT_N), fd;

	atomic_fetch_add(&e->slot_seq[s], 1);
	close(SLOT_BASE + s);
	if (pm(r, 300))
		sleep_ns(rn(r, 2000000));
	fd = kq_new(r);
	if (fd >= 0)
		place(fd, SLOT_BASE + s);
	atomic_fetch_add(&e->slot_seq[s], 1);
	op(t, OP_SLOT);
}

/* ------------------------------------------------ kqueue/epoll nesting */

static int nfd(int fd, int i)
{
	return place(fd, NEST_BASE + i);
}

static void nest_close_all(struct thr *t, int n)
{
	struct rng *r = &t->rng;
	int order[NEST_N], i;

	for (i = 0; i < n; i++)
		order[i] = i;
	for (i = n - 1; i > 0; i--) {
		int j = rn(r, i + 1), x = order[i];

		order[i] = order[j];
		order[j] = x;
	}
	for (i = 0; i < n; i++) {
		if (pm(r, 100))
			dup2(NEST_BASE + order[i], pool_fd(r));	/* leave a copy to the churn */
		close(NEST_BASE + order[i]);
	}
}

static void ep_add(int ep, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

/* A kqueue watching a descriptor that leads back to it: allowed to fail. */
static void watch_loop_ok(struct thr *t, int kq, int fd, const char *what)
{
	int x = kev_one(kq, fd, EVFILT_READ, EV_ADD | (pm(&t->rng, 300) ? EV_CLEAR : 0), 0, 0);

	if (x != 0 && x != EINVAL && x != ELOOP && x != ENOMEM)
		unexpected(t, "%s: EVFILT_READ gave %d", what, x);
}

static void trigger(int kq, uint64_t ident)
{
	kev_one(kq, ident, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0);
	kev_one(kq, ident, EVFILT_USER, 0, NOTE_TRIGGER, 0);
}

/* Blocks the waiter thread in kevent() on @fd (no timeout). */
static void waiter_post(struct engine *e, int fd)
{
	pthread_mutex_lock(&e->w.mu);
	e->w.fd = fd;
	atomic_store(&e->w.state, 1);
	pthread_cond_signal(&e->w.cv);
	pthread_mutex_unlock(&e->w.mu);
}

/* Waits until the waiter took the job (or is gone at the end of the run). */
static void waiter_started(struct thr *t, struct thr *wt)
{
	while (atomic_load(&t->e->w.state) == 1 && !atomic_load(&wt->done))
		sleep_ns(200000);
}

static void waiter_check(struct thr *t, struct thr *wt)
{
	struct engine *e = t->e;
	int64_t deadline = now_ns(CLOCK_MONOTONIC) + 15000000000LL;

	while (atomic_load(&e->w.state) != 3 && !atomic_load(&wt->done)) {
		if (now_ns(CLOCK_MONOTONIC) > deadline && !stopping(t)) {
			unexpected(t, "closing a kqueue did not wake a thread blocked in kevent() on it within 15 s");
			while (atomic_load(&e->w.state) != 3 && !atomic_load(&wt->done)) {
				pthread_kill(wt->pt, SIGUSR2);
				sleep_ns(10000000);
			}
			break;
		}
		sleep_ns(1000000);
	}
	/* At the end of the run every thread gets SIGUSR2: EINTR then. */
	if (atomic_load(&e->w.state) == 3 && e->w.r < 0 && e->w.err != EBADF &&
	    !(e->w.err == EINTR && stopping(t)))
		unexpected(t, "a thread blocked in a kqueue that was closed got %s, not EBADF",
			   ename(e->w.err));
	atomic_store(&e->w.state, 0);
}

static void nest_step(struct thr *t, struct thr *wt)
{
	struct engine *e = t->e;
	struct rng *r = &t->rng;
	int scen = rn(r, 8), n = 0, i, x, p[2];
	kev_t ev[8];

	op(t, OP_NEST);
	if ((opt_disable & D_LOOPS) && (scen == 0 || scen == 2 || scen == 7))
		scen = 3;
	if ((opt_disable & D_CHAINS) && (scen == 1 || scen == 4))
		scen = 3;
	switch (scen) {
	case 0: {
		/* A kqueue inside an epoll set that the kqueue watches; close the kqueue. */
		int K = nfd(kq_new(r), n++), E = nfd(epoll_create1(0), n++);
		bool wait = pm(r, 500) && wt;

		ep_add(E, K);
		watch_loop_ok(t, K, E, "kqueue in an epoll it watches");
		trigger(K, 1);
		if (wait) {
			waiter_post(e, K);
			waiter_started(t, wt);
			sleep_ns(2000000);
		}
		if (pm(r, 500)) {
			struct epoll_event ee;

			epoll_wait(E, &ee, 1, 0);
		}
		close(K);
		if (wait)
			waiter_check(t, wt);
		close(E);
		return;
	}
	case 1: {
		/* K in E1 in E0, K watches E2 holding a pipe; write the pipe. */
		int K = nfd(kq_new(r), n++), E0 = nfd(epoll_create1(0), n++);
		int E1 = nfd(epoll_create1(0), n++), E2 = nfd(epoll_create1(0), n++);
		struct epoll_event ee;

		if (pipe2(p, O_NONBLOCK))
			break;
		p[0] = nfd(p[0], n++);
		p[1] = nfd(p[1], n++);
		ep_add(E1, K);
		ep_add(E0, E1);
		ep_add(E2, p[0]);
		watch_loop_ok(t, K, E2, "kqueue watching an epoll with a pipe");
		ign(write(p[1], "x", 1));
		trigger(K, 2);
		epoll_wait(E0, &ee, 1, 0);
		kev_raw(K, NULL, 0, ev, 8, 0);
		break;
	}
	case 2: {
		/* A chain of epolls ending in K; K watches the head. */
		int len = 2 + rn(r, 5), E[8], K;

		K = nfd(kq_new(r), n++);
		for (i = 0; i < len; i++)
			E[i] = nfd(epoll_create1(0), n++);
		ep_add(E[len - 1], K);
		for (i = len - 2; i >= 0; i--)
			ep_add(E[i], E[i + 1]);
		watch_loop_ok(t, K, E[rn(r, len)], "kqueue watching an epoll chain leading to it");
		trigger(K, 3);
		kev_raw(K, NULL, 0, ev, 8, 0);
		break;
	}
	case 3: {
		/* Kqueues watching kqueues: one level only. */
		int K1 = nfd(kq_new(r), n++), K2 = nfd(kq_new(r), n++), K3 = nfd(kq_new(r), n++);
		int64_t deadline;
		bool got = false;

		x = kev_one(K1, K2, EVFILT_READ, EV_ADD, 0, 0);
		if (x == ENOMEM)
			break;
		if (x) {
			unexpected(t, "a kqueue watching another kqueue: %d", x);
			break;
		}
		x = kev_one(K2, K1, EVFILT_READ, EV_ADD, 0, 0);
		if (x != EINVAL && x != ELOOP)
			unexpected(t, "a loop of two kqueues gave %d, not EINVAL/ELOOP", x);
		x = kev_one(K3, K1, EVFILT_READ, EV_ADD, 0, 0);
		if (x != EINVAL && x != ELOOP)
			unexpected(t, "watching a watching kqueue gave %d, not EINVAL/ELOOP", x);
		x = kev_one(K2, K3, EVFILT_READ, EV_ADD, 0, 0);
		if (x != EINVAL && x != ELOOP)
			unexpected(t, "a watched kqueue watching another gave %d, not EINVAL/ELOOP", x);
		trigger(K2, 4);
		deadline = now_ns(CLOCK_MONOTONIC) + 5000000000LL;
		while (!got && now_ns(CLOCK_MONOTONIC) < deadline) {
			long m = kev_raw(K1, NULL, 0, ev, 8, 50000000);

			for (i = 0; i < m; i++)
				if (ev[i].ident == (uint64_t)K2 && ev[i].filter == EVFILT_READ &&
				    ev[i].data >= 1)
					got = true;
		}
		if (!got && !stopping(t))
			unexpected(t, "a kqueue watching a kqueue with a triggered user event saw nothing in 5 s");
		break;
	}
	case 4: {
		/* K1 watches E, E holds K2, K2 watches a pipe; write the pipe. */
		int K1 = nfd(kq_new(r), n++), K2 = nfd(kq_new(r), n++), E = nfd(epoll_create1(0), n++);
		int64_t deadline;
		bool got = false;

		if (pipe2(p, O_NONBLOCK))
			break;
		p[0] = nfd(p[0], n++);
		p[1] = nfd(p[1], n++);
		ep_add(E, K2);
		x = kev_one(K2, p[0], EVFILT_READ, EV_ADD, 0, 0);
		i = kev_one(K1, E, EVFILT_READ, EV_ADD, 0, 0);
		if (x || i) {
			if ((x && x != ENOMEM && x != ELOOP) || (i && i != ENOMEM && i != ELOOP))
				unexpected(t, "kqueue/epoll/kqueue chain: %d %d", x, i);
			break;
		}
		ign(write(p[1], "x", 1));
		deadline = now_ns(CLOCK_MONOTONIC) + 5000000000LL;
		while (!got && now_ns(CLOCK_MONOTONIC) < deadline) {
			long m = kev_raw(K1, NULL, 0, ev, 8, 50000000);

			for (i = 0; i < m; i++)
				if (ev[i].ident == (uint64_t)E && ev[i].filter == EVFILT_READ)
					got = true;
		}
		if (!got && !stopping(t))
			unexpected(t, "readiness lost through kqueue -> epoll -> kqueue -> pipe in 5 s");
		break;
	}
	case 5:
	case 6: {
		/* Close a kqueue a thread is blocked in. */
		int K = nfd(kq_new(r), n++);

		if (!wt)
			break;
		if (pm(r, 500))
			kev_one(K, 0, EVFILT_TIMER, EV_ADD, NOTE_SECONDS, 3600);
		waiter_post(e, K);
		waiter_started(t, wt);
		sleep_ns(1000000 + rn(r, 5000000));
		close(K);
		waiter_check(t, wt);
		return;
	}
	case 7: {
		/* A random graph of kqueues, epolls and a pipe, left to the churn. */
		int nk = 2 + rn(r, 3), ne = 2 + rn(r, 3), fds[12], nn;
		struct epoll_event ee[4];

		for (i = 0; i < nk; i++)
			fds[i] = nfd(kq_new(r), n++);
		for (i = 0; i < ne; i++)
			fds[nk + i] = nfd(epoll_create1(0), n++);
		if (pipe2(p, O_NONBLOCK))
			break;
		fds[nk + ne] = nfd(p[0], n++);
		nn = nk + ne + 1;
		for (i = 0; i < 2 * nn; i++) {
			int a = rn(r, nk + ne), b = rn(r, nn);

			if (a < nk)
				watch_loop_ok(t, fds[a], fds[b], "random kqueue/epoll graph");
			else
				ep_add(fds[a], fds[b]);
		}
		ign(write(p[1], "y", 1));
		close(p[1]);
		for (i = 0; i < nk; i++) {
			trigger(fds[i], 5);
			kev_raw(fds[i], NULL, 0, ev, 8, 0);
		}
		for (i = 0; i < ne; i++)
			epoll_wait(fds[nk + i], ee, 4, 0);
		if (pm(r, 300)) {
			/* Hand everything to the churn. */
			for (i = 0; i < n; i++)
				dup2(NEST_BASE + i, pool_fd(r));
		}
		break;
	}
	}
	nest_close_all(t, n);
}

static void *waiter_main(struct thr *t)
{
	struct engine *e = t->e;
	kev_t ev[4];

	while (!stopping(t)) {
		kargs_t a;
		int fd;

		pthread_mutex_lock(&e->w.mu);
		while (atomic_load(&e->w.state) != 1 && !stopping(t)) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 50000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&e->w.cv, &e->w.mu, &ts);
		}
		fd = e->w.fd;
		pthread_mutex_unlock(&e->w.mu);
		if (atomic_load(&e->w.state) != 1)
			break;
		memset(&a, 0, sizeof(a));
		a.eventlist = (uintptr_t)ev;
		a.nevents = 4;
		atomic_store(&e->w.state, 2);
		e->w.r = ioctl(fd, KQUEUE_IOC_KEVENT, &a);
		e->w.err = e->w.r < 0 ? errno : 0;
		atomic_store(&e->w.state, 3);
		op(t, OP_WAITER);
	}
	return NULL;
}

static void *thread_main(void *arg)
{
	struct thr *t = arg;
	struct engine *e = t->e;
	struct kid kids[MAX_KIDS];
	int nkids = 0, i;
	struct thr *wt = NULL;

	atomic_store(&t->tid, gettid_());
	/*
	 * Forking is slow under emulation; the fork thread and the racer get
	 * a larger share of the CPU than the dozen busy threads around them.
	 */
	if (t->role != R_RACE && t->role != R_PROC)
		setpriority(PRIO_PROCESS, atomic_load(&t->tid), 5);
	if ((t->role == R_RACE || t->role == R_PROC) && sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		/* The racer and the reaper on different CPUs, so that they overlap. */
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(t->role == R_RACE ? 0 : 1, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
	for (i = 0; i < e->nthr; i++)
		if (e->thr[i] && e->thr[i]->role == R_WAITER)
			wt = e->thr[i];
	while (!stopping(t)) {
		switch (t->role) {
		case R_IOCTL:
			if (pm(&t->rng, 10))
				probe(t);
			else
				do_kevent(t);
			break;
		case R_CHURN:
			churn_step(t);
			if (pm(&t->rng, 125))
				sleep_ns(rn(&t->rng, 500000));
			break;
		case R_FILE:
			file_step(t);
			sleep_ns(rn(&t->rng, 300000));
			break;
		case R_PROC:
			proc_step(t, kids, &nkids);
			sleep_ns(rn(&t->rng, 2000000));
			break;
		case R_SIGNAL:
			signal_step(t);
			sleep_ns(rn(&t->rng, 2000000));
			break;
		case R_SLOT:
			slot_step(t);
			sleep_ns(rn(&t->rng, 20000000));
			break;
		case R_NEST:
			nest_step(t, wt);
			sleep_ns(rn(&t->rng, 3000000));
			break;
		case R_WAITER:
			waiter_main(t);
			break;
		case R_RACE:
			race_step(t);
			break;
		}
		if ((++t->iter & 255) == 0)
			flush_stats(t);
	}
	for (i = 0; i < nkids; i++) {
		int st;

		kill(kids[i].pid, SIGKILL);
		if (waitpid(kids[i].pid, &st, 0) == kids[i].pid)
			reap_status(t, &kids[i], st);
	}
	flush_stats(t);
	atomic_store(&t->done, 1);
	return NULL;
}

/* ------------------------------------------------------------- engine */

static struct thr *new_thr(struct engine *e, enum role role)
{
	struct thr *t = map(sizeof(*t), PROT_READ | PROT_WRITE);

	t->e = e;
	t->idx = e->nthr;
	t->role = role;
	t->rng.s = e->seed ^ ((uint64_t)(e->id + 1) << 56) ^ ((uint64_t)t->idx * 0x2545f4914f6cdd1dULL);
	rnd(&t->rng);
	/*
	 * A and B end at a guard page: an event list longer than the buffer
	 * (huge nevents) must fault, not overwrite whatever is mapped next.
	 */
	t->Alen = t->Blen = ((CAP + 2) * KEV_SZ + pagesz - 1) / pagesz * pagesz;
	t->A = map(t->Alen + pagesz, PROT_READ | PROT_WRITE);
	mprotect(t->A + t->Alen, pagesz, PROT_NONE);
	t->B = map(t->Blen + pagesz, PROT_READ | PROT_WRITE);
	mprotect(t->B + t->Blen, pagesz, PROT_NONE);
	/* C: one page, then a guard page (args straddling it fault). */
	t->Clen = pagesz;
	t->C = map(2 * pagesz, PROT_READ | PROT_WRITE);
	mprotect(t->C + pagesz, pagesz, PROT_NONE);
	t->pc = map(3 * pagesz, PROT_READ | PROT_WRITE);
	mprotect(t->pc + 2 * pagesz, pagesz, PROT_NONE);
	t->pe = map(3 * pagesz, PROT_READ | PROT_WRITE);
	mprotect(t->pe + 2 * pagesz, pagesz, PROT_NONE);
	t->privkq = -1;
	if (e->nthr < PRIV_N)
		t->privkq = place(kq_new(&t->rng), PRIV_BASE + e->nthr);
	e->thr[e->nthr++] = t;
	return t;
}

static void engine_setup_fs(struct engine *e)
{
	char p[160];
	int fd, i;

	mkdir(e->dir, 0755);
	snprintf(p, sizeof(p), "%s/d0", e->dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/d1", e->dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/fifo", e->dir);
	mkfifo(p, 0644);
	for (i = 0; i < 6; i++) {
		snprintf(p, sizeof(p), "%s/f%d", e->dir, i);
		fd = open(p, O_RDWR | O_CREAT, 0644);
		if (fd >= 0)
			close(fd);
	}
}

static void engine_setup_fds(struct engine *e, struct rng *r)
{
	socklen_t len = sizeof(e->laddr);
	int fd, i;

	for (i = 0; i < SLOT_N; i++)
		place(kq_new(r), SLOT_BASE + i);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	memset(&e->laddr, 0, sizeof(e->laddr));
	e->laddr.sin_family = AF_INET;
	e->laddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0) {
		linger0(fd);
		bind(fd, (struct sockaddr *)&e->laddr, sizeof(e->laddr));
		listen(fd, 128);
		getsockname(fd, (struct sockaddr *)&e->laddr, &len);
		place(fd, LISTEN_FD);
	}
	place(open("/tmp/kqfuzz-root/secret", O_PATH), SECRET_FD);
}

/* After the storm: nothing may stay charged to the user (leaked knotes, timers). */
static void limits_check(struct engine *e)
{
	long mt = read_param("max_user_timers"), mp = read_param("max_user_proc_watches");
	bool dflt = mt < 0 || mp < 0;
	static kev_t ch[512];
	int kq, i, j, nkq, nopen, kqs[200], fails = 0;
	int64_t t_timers = elapsed_ms(), t_watches;
	long r, got = 0;

	if (mt < 0)
		mt = 4096;
	if (mp < 0)
		mp = 8192;
	kq = kqueue();
	if (kq < 0) {
		say("kqfuzz [%s]: limits: kqueue(): %s", e->name, strerror(errno));
		atomic_fetch_add(&e->st->limit_fail, 1);
		return;
	}
	for (i = 0; i < mt; i += j) {
		for (j = 0; j < 512 && i + j < mt; j++)
			set_kev(&ch[j], i + j, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_SECONDS, 3600, 0);
		r = kev_raw(kq, ch, j, NULL, 0, 0);
		if (r < 0) {
			say("kqfuzz [%s]: limits: timer %d of %ld: %s (timers leaked by the storm?)",
			    e->name, i, mt, ename(errno));
			fails++;
			break;
		}
		got += j;
	}
	if (!fails) {
		set_kev(&ch[0], mt, EVFILT_TIMER, EV_ADD | EV_ONESHOT, NOTE_SECONDS, 3600, 0);
		r = kev_raw(kq, ch, 1, NULL, 0, 0);
		if (!(r < 0 && errno == ENOMEM)) {
			say("kqfuzz [%s]: limits: timer %ld beyond max_user_timers=%ld gave %ld (%s), not ENOMEM",
			    e->name, mt + 1, mt, r, ename(r < 0 ? errno : 0));
			fails++;
		}
	}
	close(kq);

	t_timers = elapsed_ms() - t_timers;
	t_watches = elapsed_ms();
	nkq = (int)((mp + 63) / 64);
	if (opt_disable & D_PLIMIT)
		nkq = 0;
	if (nkq > (int)ARRAY_SIZE(kqs) - 1) {
		say("kqfuzz [%s]: limits: max_user_proc_watches=%ld too large to check", e->name, mp);
		nkq = 0;
	}
	nopen = 0;
	for (i = 0; i < nkq && !fails; i++) {
		long left = mp - 64L * i;

		kqs[nopen++] = kqueue();
		for (j = 0; j < 64 && j < left; j++)
			set_kev(&ch[j], j + 1, EVFILT_SIGNAL, EV_ADD, 0, 0, 0);
		r = kev_raw(kqs[i], ch, j, NULL, 0, 0);
		if (r < 0) {
			say("kqfuzz [%s]: limits: signal watch %ld of %ld: %s (watches leaked by the storm?)",
			    e->name, 64L * i, mp, ename(errno));
			fails++;
		}
	}
	if (!fails && nkq) {
		kqs[nopen++] = kqueue();
		/* nkq == nopen - 1 here */
		set_kev(&ch[0], SIGUSR1, EVFILT_SIGNAL, EV_ADD, 0, 0, 0);
		r = kev_raw(kqs[nkq], ch, 1, NULL, 0, 0);
		if (!(r < 0 && errno == ENOMEM)) {
			say("kqfuzz [%s]: limits: watch %ld beyond max_user_proc_watches=%ld gave %ld (%s), not ENOMEM",
			    e->name, mp + 1, mp, r, ename(r < 0 ? errno : 0));
			fails++;
		}
	}
	for (j = 0; j < nopen; j++)
		close(kqs[j]);
	t_watches = elapsed_ms() - t_watches;
	if (fails)
		atomic_fetch_add(&e->st->limit_fail, 1);
	say("kqfuzz [%s]: limits after the storm: %ld timers (max_user_timers=%ld%s, %.1f s), %ld proc/signal watches (max_user_proc_watches=%ld%s, %.1f s): %s",
	    e->name, got, mt, dflt ? ", default" : "", t_timers / 1000.0, fails || !nkq ? 0 : mp, mp,
	    dflt ? ", default" : "", t_watches / 1000.0, fails ? "FAIL" : "ok, and one more is ENOMEM");
}

static void run_engine(struct engine *e)
{
	struct rng r = { e->seed ^ 0x5eedULL ^ e->id };
	struct thr *t;
	int i, nio;
	int64_t t0, deadline, next;

	engine_setup_fs(e);
	engine_setup_fds(e, &r);
	pthread_mutex_init(&e->w.mu, NULL);
	pthread_cond_init(&e->w.cv, NULL);

	nio = e->unpriv ? (opt_threads + 1) / 2 : opt_threads;
	if (nio < 1)
		nio = 1;
	if (nio > 16)
		nio = 16;
	for (i = 0; i < nio; i++)
		new_thr(e, R_IOCTL);
	e->nioctl = nio;
	atomic_store(&e->st->nioctl_threads, nio);
	if (!(opt_disable & D_CHURN)) {
		new_thr(e, R_CHURN);
		if (!e->unpriv)
			new_thr(e, R_CHURN);
	}
	if (!(opt_disable & D_FILES))
		new_thr(e, R_FILE);
	if (!(opt_disable & D_PROC)) {
		new_thr(e, R_PROC);
		if (!(opt_disable & D_PROCADD))
			new_thr(e, R_RACE);
	}
	if (!(opt_disable & D_SIGNAL))
		new_thr(e, R_SIGNAL);
	if (!(opt_disable & D_SLOTS))
		new_thr(e, R_SLOT);
	if (!(opt_disable & D_NEST)) {
		new_thr(e, R_WAITER);
		new_thr(e, R_NEST);
	}

	t0 = elapsed_ms();
	for (i = 0; i < e->nthr; i++) {
		t = e->thr[i];
		if (pthread_create(&t->pt, NULL, thread_main, t)) {
			perror("kqfuzz: pthread_create");
			exit(2);
		}
	}
	deadline = t0 + opt_seconds * 1000LL;
	next = t0 + 10000;
	while (elapsed_ms() < deadline) {
		int64_t left = deadline - elapsed_ms();

		sleep_ns((left < 1000 ? left : 1000) * 1000000LL);
		if (e->id == 0 && elapsed_ms() >= next) {
			uint64_t n = atomic_load(&shm->e[0].ioctls) + atomic_load(&shm->e[1].ioctls);

			say("kqfuzz: %3llds: %llu ioctls, %llu unexpected",
			    (long long)((elapsed_ms() - t0) / 1000), (unsigned long long)n,
			    (unsigned long long)(atomic_load(&shm->e[0].unexpected) +
						 atomic_load(&shm->e[1].unexpected)));
			next += 10000;
		}
	}
	atomic_store(&e->stop, 1);
	atomic_store(&e->st->elapsed_ms, elapsed_ms() - t0);

	/* Join; threads blocked in kevent() get SIGUSR2 until they return. */
	deadline = elapsed_ms() + 60000;
	for (i = 0; i < e->nthr; i++) {
		t = e->thr[i];
		while (!atomic_load(&t->done) && elapsed_ms() < deadline) {
			pthread_kill(t->pt, SIGUSR2);
			sleep_ns(20000000);
		}
		if (!atomic_load(&t->done)) {
			say("KQFUZZ-UNEXPECTED [%s] thread %d (role %d, tid %d) did not finish within 60 s of the end",
			    e->name, t->idx, t->role, atomic_load(&t->tid));
			atomic_fetch_add(&e->st->stuck, 1);
			atomic_fetch_add(&e->st->unexpected, 1);
		} else {
			pthread_join(t->pt, NULL);
		}
	}
	if (atomic_load(&e->st->stuck))
		return;
	/* Close everything; let deferred releases and RCU run. */
	syscall(SYS_close_range, 3U, ~0U, 0U);
	sleep(1);
	if (e->id == 0)
		t_phase[T_JOIN] = elapsed_ms() - t0 - atomic_load(&e->st->elapsed_ms);
	t0 = elapsed_ms();
	/*
	 * Filling both users' limits takes a minute on the debug kernel; with
	 * an unprivileged child, whose storm runs the same code paths, only
	 * its user is checked.
	 */
	if (!(opt_disable & D_LIMITS) && (e->unpriv || !opt_unpriv))
		limits_check(e);
	atomic_store(&e->st->limits_ms, elapsed_ms() - t0);
	rm_rf(e->dir);
	atomic_store(&e->st->done, 1);
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	size_t i;

	fprintf(f,
		"usage: kqfuzz [--seconds N] [--seed S] [--threads T] [--unprivileged]\n"
		"              [--slab-margin KB] [--settle N] [--disable LIST] [--verbose]\n"
		"\n"
		"  --seconds N       length of the storm (default 60)\n"
		"  --seed S          seed (default: random; printed, so that a run can be repeated)\n"
		"  --threads T       ioctl threads (default 4; the unprivileged child gets half)\n"
		"  --unprivileged    also fuzz from a child running as uid/gid 65534\n"
		"  --slab-margin KB  fail if SUnreclaim grew by more (default: no slab gate; -1)\n"
		"  --settle N        allocation rounds that settle the slab before measuring (default 500)\n"
		"  --disable LIST    comma-separated parts to leave out:\n");
	for (i = 0; i < ARRAY_SIZE(disable_names); i++)
		fprintf(f, "                      %-8s %s\n", disable_names[i].name, disable_names[i].what);
}

static void on_usr2(int sig)
{
	(void)sig;
	atomic_fetch_add_explicit(&sig_usr2, 1, memory_order_relaxed);
}

static void setup_ro(void)
{
	struct engine dummy;
	struct thr *t;
	int i;

	memset(&dummy, 0, sizeof(dummy));
	dummy.name = "setup";
	dummy.seed = opt_seed ^ 0x40;
	dummy.id = 1;
	t = map(sizeof(*t), PROT_READ | PROT_WRITE);
	t->e = &dummy;
	t->idx = MAXT - 1;
	t->privkq = PRIV_BASE;
	t->rng.s = opt_seed ^ 0x1234;
	ro_len = (RO_N + 1) * KEV_SZ;
	ro_len = (ro_len + pagesz - 1) / pagesz * pagesz;
	ro_base = map(ro_len, PROT_READ | PROT_WRITE);
	for (i = 0; i < RO_N; i++)
		gen_change(t, &ro_ref[i], i);
	memcpy(ro_base, ro_ref, sizeof(ro_ref));
	memset(&ro_args_val, 0, sizeof(ro_args_val));
	ro_args_val.flags = KQUEUE_KEVENT_TIMEOUT;
	memcpy(ro_base + RO_N * KEV_SZ, &ro_args_val, sizeof(ro_args_val));
	mprotect(ro_base, ro_len, PROT_READ);
	munmap(t, sizeof(*t));

	none_len = 2 * pagesz;
	none_base = map(none_len, PROT_NONE);
	unmapped_len = 4 * pagesz;
	unmapped_addr = (uintptr_t)map(unmapped_len, PROT_READ);
	munmap((void *)unmapped_addr, unmapped_len);
	hz_len = (uint64_t)(KQUEUE_MAX_CHANGES + 1) * KEV_SZ;
	hz_base = map(hz_len, PROT_READ);
}

static void print_engine(int id, const char *name)
{
	struct estats *s = &shm->e[id];
	double secs = atomic_load(&s->elapsed_ms) / 1000.0;
	char buf[1024];
	int i, n;

	if (secs <= 0)
		secs = 1;
	say("kqfuzz [%s]: %llu ioctls (%.0f/s, %llu threads), %llu succeeded, %llu events, %llu EV_ERROR entries, %llu unexpected",
	    name, (unsigned long long)s->ioctls, s->ioctls / secs,
	    (unsigned long long)s->nioctl_threads, (unsigned long long)s->ok,
	    (unsigned long long)s->events, (unsigned long long)s->errents,
	    (unsigned long long)s->unexpected);
	n = 0;
	for (i = 1; i < NERR; i++)
		if (s->call_err[i])
			n += snprintf(buf + n, sizeof(buf) - n, " %s=%llu", ename(i),
				      (unsigned long long)s->call_err[i]);
	say("kqfuzz [%s]: ioctl errno:%s", name, n ? buf : " none");
	n = 0;
	for (i = 1; i < NERR; i++)
		if (s->ent_err[i])
			n += snprintf(buf + n, sizeof(buf) - n, " %s=%llu", ename(i),
				      (unsigned long long)s->ent_err[i]);
	say("kqfuzz [%s]: EV_ERROR data:%s", name, n ? buf : " none");
	n = 0;
	for (i = 0; i < NOPS; i++)
		if (s->ops[i])
			n += snprintf(buf + n, sizeof(buf) - n, " %s=%llu", op_names[i],
				      (unsigned long long)s->ops[i]);
	say("kqfuzz [%s]: other operations:%s", name, n ? buf : " none");
}

static uint64_t total_ops(int id)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < NOPS; i++)
		n += shm->e[id].ops[i];
	return n;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "unprivileged", no_argument, NULL, 'u' },
		{ "slab-margin", required_argument, NULL, 'm' },
		{ "settle", required_argument, NULL, 'x' },
		{ "disable", required_argument, NULL, 'd' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct rlimit rl = { FD_LIMIT, FD_LIMIT };
	struct sigaction sa;
	struct engine *root, *nobody = NULL;
	long slab0, slab1, sunr0, sunr1;
	static struct slabcount sc0[NSLAB], sc1[NSLAB];
	int nsc0;
	bool fail = false, seeded = false;
	pid_t child_pid = -1;
	int c, st;
	uint64_t ioctls, ops;
	double secs;

	while ((c = getopt_long(argc, argv, "s:S:t:um:x:d:vh", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			opt_seconds = atoi(optarg);
			break;
		case 'S':
			opt_seed = strtoull(optarg, NULL, 0);
			seeded = true;
			break;
		case 't':
			opt_threads = atoi(optarg);
			break;
		case 'u':
			opt_unpriv = true;
			break;
		case 'm':
			opt_slab_margin = atol(optarg);
			break;
		case 'x':
			opt_settle = atoi(optarg);
			break;
		case 'd': {
			char *s = strdup(optarg), *tok, *save = NULL;
			size_t i;

			for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				for (i = 0; i < ARRAY_SIZE(disable_names); i++)
					if (!strcmp(tok, disable_names[i].name))
						break;
				if (i == ARRAY_SIZE(disable_names)) {
					fprintf(stderr, "kqfuzz: unknown part to disable: %s\n", tok);
					usage(stderr);
					return 2;
				}
				opt_disable |= disable_names[i].bit;
			}
			free(s);
			break;
		}
		case 'v':
			opt_verbose = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || opt_seconds < 0 || opt_threads < 1 || opt_threads > 16) {
		usage(stderr);
		return 2;
	}
	if (!seeded) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		opt_seed = ((uint64_t)ts.tv_sec * 1000003ULL) ^ (uint64_t)ts.tv_nsec ^
			   ((uint64_t)getpid() << 20);
		opt_seed %= 1000000000000ULL;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	say("kqfuzz: seed %llu, %d s, %d ioctl threads%s (repeat with: kqfuzz --seed %llu --seconds %d --threads %d%s)",
	    (unsigned long long)opt_seed, opt_seconds, opt_threads,
	    opt_unpriv ? ", and an unprivileged child" : "", (unsigned long long)opt_seed,
	    opt_seconds, opt_threads, opt_unpriv ? " --unprivileged" : "");
	if (access("/dev/kqueue", F_OK)) {
		say("kqfuzz: /dev/kqueue: %s (is kqueue.ko loaded?)", strerror(errno));
		return 2;
	}
	pagesz = sysconf(_SC_PAGESIZE);
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		perror("kqfuzz: setrlimit(RLIMIT_NOFILE)");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t_start);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIGHUP);
	sigaddset(&blocked, SIGALRM);
	sigaddset(&blocked, SIGTERM);
	sigaddset(&blocked, SIGWINCH);
	sigaddset(&blocked, SIGURG);
	sigaddset(&blocked, SIGRTMIN);
	sigaddset(&blocked, SIGRTMIN + 1);
	sigaddset(&blocked, SIGRTMIN + 2);
	sigprocmask(SIG_BLOCK, &blocked, NULL);

	shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (shm == MAP_FAILED) {
		perror("kqfuzz: mmap");
		return 2;
	}
	memset(shm, 0, sizeof(*shm));
	setup_ro();

	/* The root-only file the unprivileged engine may name but not watch. */
	mkdir("/tmp/kqfuzz-root", 0755);
	c = open("/tmp/kqfuzz-root/secret", O_RDWR | O_CREAT, 0600);
	if (c >= 0)
		close(c);
	if (opt_unpriv) {
		mkdir("/tmp/kqfuzz-nobody", 0755);
		if (chown("/tmp/kqfuzz-nobody", 65534, 65534))
			perror("kqfuzz: chown");
	}

	t_phase[T_SETTLE0] = elapsed_ms();
	settle(opt_settle);
	t_phase[T_SETTLE0] = elapsed_ms() - t_phase[T_SETTLE0];
	slab0 = meminfo_kb("Slab");
	sunr0 = meminfo_kb("SUnreclaim");
	nsc0 = read_slabinfo(sc0);

	root = map(sizeof(*root), PROT_READ | PROT_WRITE);
	root->id = 0;
	root->name = "root";
	root->st = &shm->e[0];
	root->seed = opt_seed;
	snprintf(root->dir, sizeof(root->dir), "/tmp/kqfuzz-root/work");
	if (opt_unpriv) {
		nobody = map(sizeof(*nobody), PROT_READ | PROT_WRITE);
		nobody->id = 1;
		nobody->name = "nobody";
		nobody->unpriv = true;
		nobody->st = &shm->e[1];
		nobody->seed = opt_seed;
		nobody->other_pid = getpid();
		snprintf(nobody->dir, sizeof(nobody->dir), "/tmp/kqfuzz-nobody/work");
		child_pid = fork();
		if (child_pid == 0) {
			if (setgroups(0, NULL) || setgid(65534) || setuid(65534) || getuid() != 65534) {
				say("KQFUZZ-UNEXPECTED [nobody] cannot drop privileges: %s",
				    strerror(errno));
				_exit(3);
			}
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			run_engine(nobody);
			_exit(0);
		}
		if (child_pid < 0) {
			perror("kqfuzz: fork");
			return 2;
		}
		root->other_pid = child_pid;
	}
	run_engine(root);
	if (child_pid > 0) {
		int64_t deadline = elapsed_ms() + 90000;
		pid_t p;

		while ((p = waitpid(child_pid, &st, WNOHANG)) == 0 && elapsed_ms() < deadline)
			sleep_ns(50000000);
		if (p != child_pid) {
			say("KQFUZZ-UNEXPECTED [nobody] the unprivileged child did not finish in time");
			kill(child_pid, SIGKILL);
			waitpid(child_pid, &st, 0);
			fail = true;
		} else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !shm->e[1].done) {
			say("KQFUZZ-UNEXPECTED [nobody] the unprivileged child ended with status %#x", st);
			fail = true;
		}
	}
	while (waitpid(-1, &st, WNOHANG) > 0)
		;

	print_engine(0, "root");
	if (opt_unpriv)
		print_engine(1, "nobody");

	slab1 = sunr1 = -1;
	if (!shm->e[0].stuck && !shm->e[1].stuck) {
		t_phase[T_SETTLE1] = elapsed_ms();
		settle(opt_settle);
		t_phase[T_SETTLE1] = elapsed_ms() - t_phase[T_SETTLE1];
		slab1 = meminfo_kb("Slab");
		sunr1 = meminfo_kb("SUnreclaim");
		slab_growth(sc0, nsc0, sc1, read_slabinfo(sc1));
		say("kqfuzz: slab before/after the storm: SUnreclaim %ld -> %ld kB (%+ld kB), Slab %ld -> %ld kB (%+ld kB)%s",
		    sunr0, sunr1, sunr1 - sunr0, slab0, slab1, slab1 - slab0,
		    opt_slab_margin >= 0 ? "" : " (not gated)");
		if (opt_slab_margin >= 0 && sunr1 - sunr0 > opt_slab_margin) {
			say("KQFUZZ-UNEXPECTED unreclaimable slab grew by %ld kB, more than the margin of %ld kB",
			    sunr1 - sunr0, opt_slab_margin);
			fail = true;
		}
	}
	rm_rf("/tmp/kqfuzz-root");
	rm_rf("/tmp/kqfuzz-nobody");

	ioctls = shm->e[0].ioctls + shm->e[1].ioctls;
	ops = total_ops(0) + total_ops(1);
	secs = shm->e[0].elapsed_ms / 1000.0;
	if (secs <= 0)
		secs = 1;
	if (shm->e[0].unexpected || shm->e[1].unexpected || shm->e[0].limit_fail ||
	    shm->e[1].limit_fail)
		fail = true;
	{
		char tb[256];
		int i, n = 0;

		t_phase[T_LIMITS] = shm->e[0].limits_ms > shm->e[1].limits_ms ?
				    shm->e[0].limits_ms : shm->e[1].limits_ms;
		for (i = 0; i < T_N; i++)
			n += snprintf(tb + n, sizeof(tb) - n, ", %s %.1f s", t_names[i],
				      t_phase[i] / 1000.0);
		say("kqfuzz: %.0f s in all: storm %.0f s%s", elapsed_ms() / 1000.0, secs, tb);
	}
	say("KQFUZZ-RESULT seed=%llu seconds=%d ioctls=%llu ioctls_per_s=%.0f ops=%llu ops_per_s=%.0f unexpected=%llu sunreclaim_delta_kB=%ld status=%s",
	    (unsigned long long)opt_seed, opt_seconds, (unsigned long long)ioctls, ioctls / secs,
	    (unsigned long long)ops, ops / secs,
	    (unsigned long long)(shm->e[0].unexpected + shm->e[1].unexpected),
	    sunr1 >= 0 ? sunr1 - sunr0 : 0, fail ? "FAIL" : "PASS");
	return fail ? 1 : 0;
}
