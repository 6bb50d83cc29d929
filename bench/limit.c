/* limit: the physical limit of "start N services". Run as PID 1 of a fresh
 * namespace, it posix_spawn()s PROGRAM N times, as fast as the C library
 * allows (glibc and musl use CLONE_VM|CLONE_VFORK), then reaps forever.
 * No parsing, no supervision, no bookkeeping: whatever an init does beyond
 * this is its overhead.
 *
 *   limit N PROGRAM */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: limit N PROGRAM\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	char *args[] = { argv[2], NULL };
	char *env[] = { NULL };
	for (long i = 0; i < n; i++) {
		pid_t pid;
		int rc = posix_spawn(&pid, argv[2], NULL, NULL, args, env);
		if (rc != 0) {
			fprintf(stderr, "limit: spawn %ld failed: %d\n", i, rc);
			return 1;
		}
	}
	for (;;)
		wait(NULL);
}
