/* limit: the physical limit of "start N services". Run as PID 1 of a fresh
 * namespace, it starts PROGRAM N times as fast as a process can: vfork()
 * and execve(), nothing in between (no signal resets, no file actions, no
 * error pipe; glibc's posix_spawn would add about 120 sigaction calls per
 * child). Then it reaps forever. Whatever an init does beyond this is its
 * overhead.
 *
 *   limit N PROGRAM
 *
 * With -svc (the reference "limit-svc"), each child gets what every cinit
 * service must have before its exec, done the way cinit does it
 * (src/sys/spawn.rs, src/sys/spawn/child.rs) and nothing else: its own log,
 * a pipe PID 1 holds both ends of (read end non-blocking), whose write end
 * is the child's stdout and stderr; /dev/null as stdin; its own session;
 * its service directory SVC/sNNNN (the tree cinit gets) as cwd; the
 * descriptor limit PID 1 started with; the signal dispositions cinit
 * resets back to default; an empty mask. PID 1 raises its own soft
 * descriptor limit to its hard one first (it holds two descriptors per
 * log), as cinit does. The child shares PID 1's descriptor table at
 * clone(CLONE_VM|CLONE_VFORK|CLONE_FILES) and unshares only a prefix of
 * low descriptors (/dev/null and the log's staging slot), so no child
 * copies the 2N log descriptors. LOGS 0: no log (cinit's services have
 * `console` at that size); the child's stdout and stderr are PID 1's
 * stderr, staged the same way.
 *
 * With -svc-dir (the reference "limit-svc+dir"), PID 1 also reads each
 * service directory before the start, as cinit's start does (its files are
 * read at each start): open it, list it to the end, read the `on` link,
 * close it.
 *
 *   limit -svc|-svc-dir N PROGRAM SVC LOGS */
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE (1U << 1)
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* The signals cinit's child sets back to SIG_DFL (11 rt_sigaction per
 * child, the same numbers, as `strace -f` shows them): those cinit's PID 1
 * does not leave at default (the Rust runtime's SIGSEGV and SIGBUS
 * handlers, its ignored SIGPIPE and job-control signals, ...) and libc's
 * internal ones. */
static const int RESET[] = { SIGILL,  SIGABRT, SIGBUS,  SIGFPE, SIGSEGV, SIGPIPE,
			     SIGTSTP, SIGTTIN, SIGTTOU, 32,     33 };
/* The signals cinit's PID 1 keeps blocked (it reads them from a signalfd). */
static const int BLOCKED[] = { SIGHUP, SIGINT, SIGUSR1, SIGUSR2, SIGTERM, SIGCHLD, SIGCONT, SIGPWR };

/* The prefix: 0-2 inherited, 3 /dev/null (the child's stdin), 4 the slot
 * the log's write end is staged in. */
enum { NUL = 3, SLOT = 4, PREFIX = 5 };

struct child {
	const char *path;
	char *const *argv;
	const char *cwd;
	struct rlimit64 nofile;
};

static char *const ENV[] = { NULL };

/* Before the exec, in cinit's order; returns only on failure. */
static int child_main(void *arg)
{
	struct child *c = arg;
	unsigned long empty = 0;
	struct {
		void *handler;
		unsigned long flags;
		void *restorer;
		unsigned long mask;
	} sa = { SIG_DFL, 0, 0, 0 };
	if (syscall(SYS_close_range, PREFIX, ~0U, CLOSE_RANGE_UNSHARE) ||
	    syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) ||
	    syscall(SYS_dup3, NUL, 0, 0) < 0 || syscall(SYS_dup3, SLOT, 1, 0) < 0 ||
	    syscall(SYS_dup3, SLOT, 2, 0) < 0)
		syscall(SYS_exit, 127);
	for (size_t i = 0; i < sizeof RESET / sizeof *RESET; i++)
		if (syscall(SYS_rt_sigaction, RESET[i], &sa, NULL, 8))
			syscall(SYS_exit, 127);
	if (syscall(SYS_setsid) < 0 ||
	    syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &c->nofile, NULL) ||
	    syscall(SYS_chdir, c->cwd) ||
	    syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty, NULL, 8))
		syscall(SYS_exit, 127);
	syscall(SYS_execve, c->path, c->argv, ENV);
	syscall(SYS_exit, 127);
	return 127;
}

/* Open, list to the end, read `on`, close: cinit's read of a service
 * directory at its start. */
static void read_dir(const char *dir)
{
	char buf[4096], on[PATH_MAX];
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		perror(dir);
		exit(1);
	}
	while (syscall(SYS_getdents64, fd, buf, sizeof buf) > 0)
		;
	if (readlinkat(fd, "on", on, sizeof on) < 0) {
		perror("limit: readlinkat on");
		exit(1);
	}
	close(fd);
}

static int svc(long n, char *program, const char *tree, int logs, int dirs)
{
	static char stack[16384] __attribute__((aligned(16)));
	char *args[] = { program, NULL };
	struct rlimit64 original, raised;
	if (getrlimit64(RLIMIT_NOFILE, &original)) {
		perror("limit: getrlimit");
		return 1;
	}
	raised = original;
	raised.rlim_cur = raised.rlim_max;
	if (setrlimit64(RLIMIT_NOFILE, &raised)) {
		perror("limit: setrlimit");
		return 1;
	}
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null != NUL && (dup3(null, NUL, O_CLOEXEC) != NUL || close(null)))
		null = -1;
	if (null < 0 || dup3(NUL, SLOT, O_CLOEXEC) != SLOT) {
		perror("limit: prefix");
		return 1;
	}
	unsigned long all = ~0UL, old;
	for (long i = 0; i < n; i++) {
		char cwd[PATH_MAX];
		snprintf(cwd, sizeof cwd, "%s/s%04ld", tree, i);
		if (dirs)
			read_dir(cwd);
		int out = 2, p[2];
		if (logs) {
			if (pipe2(p, O_CLOEXEC) || fcntl(p[0], F_SETFL, O_NONBLOCK)) {
				perror("limit: log pipe");
				return 1;
			}
			out = p[1];
		}
		if (dup3(out, SLOT, O_CLOEXEC) != SLOT) {
			perror("limit: stage");
			return 1;
		}
		struct child c = { program, args, cwd, original };
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, 8);
		pid_t pid = clone(child_main, stack + sizeof stack,
				  CLONE_VM | CLONE_VFORK | CLONE_FILES | SIGCHLD, &c);
		syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, NULL, 8);
		if (pid < 0) {
			perror("limit: clone");
			return 1;
		}
		if (dup3(NUL, SLOT, O_CLOEXEC) != SLOT) {
			perror("limit: unstage");
			return 1;
		}
	}
	for (;;)
		wait(NULL);
}

int main(int argc, char **argv)
{
	if (argc == 6 && (!strcmp(argv[1], "-svc") || !strcmp(argv[1], "-svc-dir"))) {
		/* PID 1's own dispositions and mask, as cinit has them. */
		sigset_t blocked;
		sigemptyset(&blocked);
		for (size_t i = 0; i < sizeof BLOCKED / sizeof *BLOCKED; i++)
			sigaddset(&blocked, BLOCKED[i]);
		sigprocmask(SIG_BLOCK, &blocked, NULL);
		signal(SIGPIPE, SIG_IGN);
		signal(SIGTSTP, SIG_IGN);
		signal(SIGTTIN, SIG_IGN);
		signal(SIGTTOU, SIG_IGN);
		return svc(strtol(argv[2], NULL, 10), argv[3], argv[4], atoi(argv[5]),
			   !strcmp(argv[1], "-svc-dir"));
	}
	if (argc != 3) {
		fprintf(stderr, "usage: limit N PROGRAM\n"
				"       limit -svc|-svc-dir N PROGRAM SVC LOGS\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	char *args[] = { argv[2], NULL };
	char *env[] = { NULL };
	for (long i = 0; i < n; i++) {
		pid_t pid = vfork();
		if (pid == 0) {
			execve(argv[2], args, env);
			_exit(127);
		}
		if (pid < 0) {
			perror("limit: vfork");
			return 1;
		}
	}
	for (;;)
		wait(NULL);
}
