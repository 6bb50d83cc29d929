/* Test helper for tests/adv_trust_identity.rs: a control client whose
 * connecting process leaves while a child keeps the connection.
 *
 *   hold SOCK DIR STATUS FETCH
 *     Connect to the Unix socket SOCK, send the frame STATUS (hex) and read
 *     its reply (so cinit has accepted the connection while the connecting
 *     process lives), then fork. The parent writes its pid to DIR/pid and
 *     exits: the process that connected is gone. The child keeps the
 *     connection: every 200 ms it sends STATUS again and reads the reply
 *     (so cinit's idle deadline never closes it) until DIR/go exists; then
 *     it sends the frame FETCH (hex), writes the reply frame to DIR/reply
 *     and, if a descriptor came with it, what it reads from that
 *     descriptor (at most 4 KiB) to DIR/data; last it creates DIR/done.
 *     The child gives up after 60 s.
 *
 * The frames are encoded by the test (cinit::proto); this program only
 * moves bytes. It never forks after the parent left, so it takes no pid
 * while the test steers the next one. Errors go to DIR/err, exit code 3.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char *dir;

static void put(const char *name, const void *buf, size_t len) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char tmp[520];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        _exit(3);
    if (len && write(fd, buf, len) != (ssize_t)len)
        _exit(3);
    close(fd);
    if (rename(tmp, path) < 0)
        _exit(3);
}

static void die(const char *what) {
    char msg[256];
    int n = snprintf(msg, sizeof msg, "peer: %s: %s\n", what, strerror(errno));
    put("err", msg, (size_t)n);
    _exit(3);
}

static int exists(const char *name) {
    char path[512];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, &st) == 0;
}

static size_t unhex(const char *hex, unsigned char *out, size_t max) {
    size_t n = strlen(hex) / 2;
    if (n > max) {
        errno = E2BIG;
        die("frame too long");
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1) {
            errno = EINVAL;
            die("bad hex");
        }
        out[i] = (unsigned char)v;
    }
    return n;
}

static void send_all(int s, const unsigned char *buf, size_t len) {
    while (len) {
        ssize_t n = send(s, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("send");
        buf += n;
        len -= (size_t)n;
    }
}

/* Read one reply frame into buf (returns its length); *fd gets a
 * descriptor passed with it, if any. */
static size_t read_frame(int s, unsigned char *buf, size_t max, int *fd) {
    size_t have = 0, want = 8;
    while (have < want) {
        char cbuf[CMSG_SPACE(4 * sizeof(int))];
        struct iovec iov = {.iov_base = buf + have, .iov_len = want - have};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1,
                           .msg_control = cbuf, .msg_controllen = sizeof cbuf};
        ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("recvmsg");
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && fd)
                memcpy(fd, CMSG_DATA(c), sizeof(int));
        have += (size_t)n;
        if (have >= 8 && want == 8) {
            size_t len = ((size_t)buf[4] << 24) | ((size_t)buf[5] << 16) |
                         ((size_t)buf[6] << 8) | (size_t)buf[7];
            want = 8 + len;
            if (want > max) {
                errno = E2BIG;
                die("reply too long");
            }
        }
    }
    return have;
}

static int hold(const char *sock, const char *status_hex, const char *fetch_hex) {
    static unsigned char status[4096], fetch[4096], reply[1 << 20];
    size_t status_len = unhex(status_hex, status, sizeof status);
    size_t fetch_len = unhex(fetch_hex, fetch, sizeof fetch);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        die("socket");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, sock, sizeof a.sun_path - 1);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    send_all(s, status, status_len);
    read_frame(s, reply, sizeof reply, NULL);
    pid_t child = fork();
    if (child < 0)
        die("fork");
    if (child > 0) {
        char pid[32];
        int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
        put("pid", pid, (size_t)n);
        _exit(0);
    }
    /* The child: the connection outlives the process that made it. */
    for (int i = 0; !exists("go"); i++) {
        if (i > 300) {
            errno = ETIMEDOUT;
            die("no go within 60 s");
        }
        struct timespec t = {0, 200 * 1000 * 1000};
        nanosleep(&t, NULL);
        send_all(s, status, status_len);
        read_frame(s, reply, sizeof reply, NULL);
    }
    int got = -1;
    send_all(s, fetch, fetch_len);
    size_t n = read_frame(s, reply, sizeof reply, &got);
    put("reply", reply, n);
    if (got >= 0) {
        char data[4096];
        ssize_t r = pread(got, data, sizeof data, 0);
        if (r < 0)
            r = read(got, data, sizeof data);
        put("data", data, r > 0 ? (size_t)r : 0);
    }
    put("done", "", 0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 6 && strcmp(argv[1], "hold") == 0) {
        dir = argv[3];
        return hold(argv[2], argv[4], argv[5]);
    }
    fprintf(stderr, "usage: peer hold SOCK DIR STATUS FETCH\n");
    return 2;
}
