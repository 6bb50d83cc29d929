/* limit: the physical limit of "start N services". Run as PID 1 of a fresh
 * namespace, it starts PROGRAM N times as fast as a process can: vfork()
 * and execve(), nothing in between (no signal resets, no file actions, no
 * error pipe; glibc's posix_spawn would add about 120 sigaction calls per
 * child). Then it reaps forever. Whatever an init does beyond this is its
 * overhead.
 *
 *   limit N PROGRAM */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

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
