/* Test helper for tests/ns_fds.rs, run as a service program inside
 * cinit's namespaces. Modes:
 *   accept           The descriptors cinit passed must be announced for
 *                    this very process (LISTEN_PID = getpid(), LISTEN_FDS
 *                    >= 1); accept on descriptor 3 forever, greeting each
 *                    connection with "hi PID\n".
 *   talk PATH CTL SVC
 *                    If cinit passed a descriptor named "conn"
 *                    (LISTEN_FDNAMES), talk on it and say "back PID\n".
 *                    Otherwise connect to the Unix socket PATH, store the
 *                    connection in cinit's fd store as "conn" by running
 *                    `CTL fdstore SVC put conn --fd N`, and say
 *                    "hello PID\n". Then answer each line L with
 *                    "echo PID L\n" until the peer closes.
 * Errors go to stderr (the service's log) with exit code 3.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "helper: %s: %s\n", what, strerror(errno));
    exit(3);
}

static void say(int fd, const char *word) {
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%s %d\n", word, (int)getpid());
    if (write(fd, buf, (size_t)n) != n)
        die("write");
}

/* The descriptor named NAME in LISTEN_FDNAMES, or -1. */
static int passed_fd(const char *name) {
    const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
    const char *names = getenv("LISTEN_FDNAMES");
    if (!pid || !n || !names || atoi(pid) != (int)getpid())
        return -1;
    int count = atoi(n), i = 0;
    size_t len = strlen(name);
    for (const char *p = names; i < count; i++) {
        const char *end = strchr(p, ':');
        size_t l = end ? (size_t)(end - p) : strlen(p);
        if (l == len && strncmp(p, name, len) == 0)
            return 3 + i;
        if (!end)
            break;
        p = end + 1;
    }
    return -1;
}

static int do_accept(void) {
    const char *pid = getenv("LISTEN_PID"), *n = getenv("LISTEN_FDS");
    if (!pid || atoi(pid) != (int)getpid() || !n || atoi(n) < 1) {
        fprintf(stderr, "helper: bad LISTEN_PID=%s LISTEN_FDS=%s (pid %d)\n",
                pid ? pid : "-", n ? n : "-", (int)getpid());
        return 3;
    }
    for (;;) {
        int c = accept(3, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR)
                continue;
            die("accept");
        }
        say(c, "hi");
        close(c);
    }
}

static int store(const char *ctl, const char *svc, int fd) {
    char num[16];
    snprintf(num, sizeof num, "%d", fd);
    pid_t c = fork();
    if (c < 0)
        die("fork");
    if (c == 0) {
        execl(ctl, ctl, "fdstore", svc, "put", "conn", "--fd", num, (char *)NULL);
        _exit(127);
    }
    int st;
    while (waitpid(c, &st, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static int do_talk(const char *path, const char *ctl, const char *svc) {
    int fd = passed_fd("conn");
    if (fd >= 0) {
        say(fd, "back");
    } else {
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0)
            die("socket");
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        strncpy(a.sun_path, path, sizeof a.sun_path - 1);
        if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
            die("connect");
        int rc = store(ctl, svc, fd);
        if (rc != 0) {
            fprintf(stderr, "helper: storing the connection failed (%d)\n", rc);
            return 3;
        }
        say(fd, "hello");
    }
    char line[256];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, line + have, sizeof line - 1 - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        have += (size_t)n;
        char *nl;
        while ((nl = memchr(line, '\n', have))) {
            *nl = 0;
            char out[320];
            int m = snprintf(out, sizeof out, "echo %d %s\n", (int)getpid(), line);
            if (write(fd, out, (size_t)m) != m)
                die("write");
            size_t used = (size_t)(nl - line) + 1;
            memmove(line, nl + 1, have - used);
            have -= used;
        }
        if (have == sizeof line - 1)
            have = 0;
    }
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "accept") == 0)
        return do_accept();
    if (argc == 5 && strcmp(argv[1], "talk") == 0)
        return do_talk(argv[2], argv[3], argv[4]);
    fprintf(stderr, "usage: helper accept | talk PATH CTL SVC\n");
    return 2;
}
