/* forkstorm: the fork storm of the QEMU suite's pids.max scenario
 * (tests/vm/cgroup.rs). It forks children that only wait in pause(2), as
 * fast as it can, and keeps trying when the kernel refuses a fork (EAGAIN:
 * its cgroup's pids.max), so the storm goes on as long as the service
 * runs. It stops forking on its own at MAX_CHILDREN, so that without
 * containment the scenario fails on the count instead of taking the
 * machine down. It says on stdout when the first fork is refused and when
 * the cap is reached. Built without libc, like bench/pause.c, so that it
 * adds a few kilobytes to the image. */

enum { SYS_write = 1, SYS_pause = 34, SYS_nanosleep = 35, SYS_fork = 57 };
enum { MAX_CHILDREN = 1000 };

static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

static void say(const char *s)
{
	long n = 0;
	while (s[n])
		n++;
	sys3(SYS_write, 1, (long)s, n);
}

/* Writes n in decimal. */
static void say_number(long n)
{
	char buf[24];
	int i = sizeof buf;
	buf[--i] = 0;
	do {
		buf[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0 && i > 0);
	say(buf + i);
}

__attribute__((force_align_arg_pointer)) void _start(void)
{
	const long pause_1ms[2] = {0, 1000000};
	long children = 0, refused = 0;

	say("forkstorm: forking\n");
	while (children < MAX_CHILDREN) {
		long pid = sys3(SYS_fork, 0, 0, 0);
		if (pid == 0) {
			for (;;)
				sys3(SYS_pause, 0, 0, 0);
		}
		if (pid > 0) {
			children++;
			continue;
		}
		if (!refused) {
			say("forkstorm: fork refused after ");
			say_number(children);
			say(" children (errno ");
			say_number(-pid);
			say(")\n");
		}
		refused++;
		sys3(SYS_nanosleep, (long)pause_1ms, 0, 0);
	}
	say("forkstorm: ");
	say_number(children);
	say(" children, the cap: nothing stopped the storm\n");
	for (;;)
		sys3(SYS_pause, 0, 0, 0);
}
