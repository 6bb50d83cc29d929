/* Test helper for tests/adv_runtime.rs, run as a service program inside
 * cinit's namespaces. Modes:
 *   orphans N MARK   N times: fork a child that forks a grandchild and
 *                    exits; the grandchild exits at once, so it is an
 *                    orphan for PID 1 to reap. Writes N to MARK when done,
 *                    then sleeps.
 *   forkbomb MARK    fork children that sleep until fork fails; writes the
 *                    count and the errno name to MARK, then sleeps.
 *   alloc MB         allocate and touch MB MiB, then sleep.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void mark(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

int main(int argc, char **argv) {
    char buf[64];
    if (argc == 4 && strcmp(argv[1], "orphans") == 0) {
        long n = atol(argv[2]);
        for (long i = 0; i < n; i++) {
            pid_t c = fork();
            if (c == 0) {
                if (fork() < 0)
                    _exit(1);
                _exit(0); /* the grandchild (if any) exits at once, too */
            }
            if (c < 0) {
                usleep(1000);
                i--;
                continue;
            }
            while (waitpid(c, NULL, 0) < 0 && errno == EINTR) {
            }
        }
        snprintf(buf, sizeof buf, "%ld\n", n);
        mark(argv[3], buf);
        for (;;)
            pause();
    }
    if (argc == 3 && strcmp(argv[1], "forkbomb") == 0) {
        long n = 0;
        for (;;) {
            pid_t c = fork();
            if (c == 0) {
                for (;;)
                    pause();
            }
            if (c < 0)
                break;
            n++;
        }
        snprintf(buf, sizeof buf, "%ld %s\n", n, errno == EAGAIN ? "EAGAIN" : strerror(errno));
        mark(argv[2], buf);
        for (;;)
            pause();
    }
    if (argc == 3 && strcmp(argv[1], "alloc") == 0) {
        long mb = atol(argv[2]);
        for (long i = 0; i < mb; i++) {
            char *p = malloc(1 << 20);
            if (!p)
                return 2;
            memset(p, 1, 1 << 20);
        }
        for (;;)
            pause();
    }
    fprintf(stderr, "helper: bad arguments\n");
    return 64;
}
