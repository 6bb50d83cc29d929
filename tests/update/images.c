/* Stand-ins for a new cinit image, for the hot-update tests. Built static
 * (they run as the file at cinit's path, inside cinit's namespaces), one
 * binary per mode, chosen at compile time:
 *   -DSEGV     crashes at start (a write through a null pointer).
 *   -DHANG     never answers: waits for signals forever.
 *   -DWRONG    answers almost as cinit does (no version) and exits 0.
 *   -DWRAPPER  a new image that damages the snapshot, then runs the real
 *              cinit: if CINIT_SNAPSHOT_FD is set, runs `/bin/sh SELF.damage`
 *              (SELF = /proc/self/exe) and waits for it; then executes
 *              SELF.real with its own argv (so `--preflight` is answered by
 *              the real cinit).
 */
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    (void)argc;
#if defined(SEGV)
    (void)argv;
    *(volatile int *)0 = 1;
    return 0;
#elif defined(HANG)
    (void)argv;
    for (;;)
        pause();
#elif defined(WRONG)
    (void)argv;
    fputs("cinit-preflight 1 snapshot=1..2\n", stdout);
    return 0;
#elif defined(WRAPPER)
    char self[PATH_MAX], path[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        return 111;
    self[n] = 0;
    if (getenv("CINIT_SNAPSHOT_FD")) {
        snprintf(path, sizeof path, "%s.damage", self);
        pid_t pid = fork();
        if (pid == 0) {
            execl("/bin/sh", "sh", path, (char *)0);
            _exit(127);
        }
        if (pid > 0)
            waitpid(pid, 0, 0);
    }
    snprintf(path, sizeof path, "%s.real", self);
    execv(path, argv);
    return 112;
#else
#error "pick a mode: -DSEGV, -DHANG, -DWRONG or -DWRAPPER"
#endif
}
