/* pause: the service every benchmark runs, built without libc so that
 * process start-up costs only the kernel's exec.
 *
 * On start it writes one byte to the FIFO READY_FIFO (compiled in by the
 * harness), so the harness learns "this process is running" without
 * polling /proc, then sleeps in pause(2) until a signal ends it. Every
 * signal keeps its default action: SIGTERM ends it at once. If nobody holds
 * the FIFO open for reading, the write is skipped (ENXIO) and it just
 * sleeps. */
#ifndef READY_FIFO
#error "build with -DREADY_FIFO='\"/path/to/fifo\"'"
#endif

static long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}

enum { SYS_write = 1, SYS_open = 2, SYS_close = 3, SYS_pause = 34, SYS_exit = 60 };
enum { O_WRONLY = 01, O_NONBLOCK = 04000, O_CLOEXEC = 02000000 };

void _start(void)
{
	long fd = sys3(SYS_open, (long)READY_FIFO, O_WRONLY | O_NONBLOCK | O_CLOEXEC, 0);
	if (fd >= 0) {
		sys3(SYS_write, fd, (long)"!", 1);
		sys3(SYS_close, fd, 0, 0);
	}
	for (;;)
		sys3(SYS_pause, 0, 0, 0);
}
