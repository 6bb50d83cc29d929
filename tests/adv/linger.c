/* Test helper for tests/adv_trust_fds.rs: hands cinit a TCP socket whose
 * last close must linger, so that whoever makes that close waits.
 *
 *   linger MODE CTLSOCK SECS STATUS_HEX WAIT_HEX
 *
 * First a lingering socket: a TCP connection on 127.0.0.1 whose server
 * side is accepted and never read, both buffers shrunk and filled, with
 * SO_LINGER {1, SECS} on the client side. Then, on the control socket
 * CTLSOCK (frames given in hex, built by the test):
 *
 *   alone   The first half of STATUS_HEX with the lingering socket, our
 *           copy closed, then the rest: cinit holds the only copy until
 *           the frame is complete, then lets go of it. The descriptor
 *           goes with the first bytes on the connection, before cinit
 *           may have accepted it.
 *   late    As alone, after a whole STATUS_HEX was answered (cinit has
 *           accepted the connection and set it up).
 *   fifth   WAIT_HEX (a wait that cinit keeps pending), then, once cinit
 *           took it, STATUS_HEX with five descriptors, the lingering one
 *           fifth (more than a connection may pass), our copy closed.
 *           Says "queued"; cinit reads the message once the wait is
 *           answered (the test makes the waited-for service ready).
 *   unread  As fifth but with the lingering socket alone, and then the
 *           connection is closed while the message is still unread.
 *   oob     As fifth, but the lingering socket goes alone with one
 *           out-of-band byte (MSG_OOB), then STATUS_HEX follows plainly.
 *           A read that skips the out-of-band byte frees its descriptor.
 *
 * Reports on stdout, one line each: "refused ERRNO" if the kernel refused
 * the descriptor at sendmsg (SO_PASSRIGHTS), "sent" once the descriptor
 * is cinit's alone, "close-ms N" (how long our own close took: it must
 * not be the one that lingers), "queued" (fifth), "closed" (unread). Then
 * it keeps the server side open (never reading) for SECS + 10 seconds.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    printf("error %s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(3);
}

static long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static size_t unhex(const char *hex, unsigned char *out, size_t max) {
    size_t n = strlen(hex) / 2;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (unsigned char)v;
    }
    return n;
}

static void set_int(int fd, int level, int opt, int v) {
    if (setsockopt(fd, level, opt, &v, sizeof v) < 0)
        die("setsockopt");
}

/* The lingering client socket; *srv gets the server side. */
static int lingering(int secs, int *srv) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0)
        die("socket");
    set_int(l, SOL_SOCKET, SO_RCVBUF, 2048);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) < 0)
        die("listen");
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0)
        die("socket");
    set_int(c, SOL_SOCKET, SO_SNDBUF, 2048);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect");
    *srv = accept(l, NULL, NULL);
    if (*srv < 0)
        die("accept");
    close(l);
    struct linger lg = {.l_onoff = 1, .l_linger = secs};
    if (setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
        die("SO_LINGER");
    /* Fill both buffers: the peer never reads. */
    fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK);
    char junk[1024];
    memset(junk, 'x', sizeof junk);
    long until = now_ms() + 2000;
    while (now_ms() < until) {
        if (write(c, junk, sizeof junk) < 0) {
            if (errno != EAGAIN)
                die("fill");
            usleep(20000);
            /* Full once the kernel has moved what it can to the peer. */
            if (write(c, junk, sizeof junk) < 0 && errno == EAGAIN)
                break;
        }
    }
    int queued = 0;
    ioctl(c, TIOCOUTQ, &queued);
    if (queued <= 0) {
        printf("error nothing queued on the lingering socket\n");
        exit(3);
    }
    return c;
}

static int control(const char *path) {
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (s < 0)
        die("socket");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
        die("connect to cinit");
    return s;
}

/* Send bytes with descriptors; 0, or the errno. */
static int send_flags(int s, const unsigned char *b, size_t n, const int *fds, int nfds,
                      int flags) {
    char cbuf[CMSG_SPACE(sizeof(int) * 8)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov = {.iov_base = (void *)b, .iov_len = n};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds > 0) {
        m.msg_control = cbuf;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)nfds);
    }
    return sendmsg(s, &m, MSG_NOSIGNAL | flags) < 0 ? errno : 0;
}

static int send_fds(int s, const unsigned char *b, size_t n, const int *fds, int nfds) {
    return send_flags(s, b, n, fds, nfds, 0);
}

/* Wait until cinit has taken everything we sent on s. */
static void taken(int s) {
    for (int i = 0; i < 500; i++) {
        int q = 0;
        if (ioctl(s, TIOCOUTQ, &q) == 0 && q == 0)
            return;
        usleep(10000);
    }
    printf("error cinit did not read the wait\n");
    exit(3);
}

static void close_timed(int fd) {
    long t = now_ms();
    close(fd);
    printf("close-ms %ld\n", now_ms() - t);
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: linger alone|late|fifth|unread|oob CTLSOCK SECS STATUS_HEX WAIT_HEX\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argv[1];
    int secs = atoi(argv[3]);
    unsigned char status[256], wait[256];
    size_t ns = unhex(argv[4], status, sizeof status);
    size_t nw = unhex(argv[5], wait, sizeof wait);
    int srv;
    int c = lingering(secs, &srv);
    int s = control(argv[2]);
    int rc;
    if (strcmp(mode, "late") == 0) {
        if (send_fds(s, status, ns, NULL, 0))
            die("send a status");
        struct pollfd p = {.fd = s, .events = POLLIN};
        char reply[4096];
        if (poll(&p, 1, 10000) != 1 || read(s, reply, sizeof reply) <= 0)
            die("no reply to the status");
        mode = "alone";
    }
    if (strcmp(mode, "alone") == 0) {
        size_t half = ns / 2;
        rc = send_fds(s, status, half, &c, 1);
        if (rc) {
            printf("refused %d\n", rc);
            close_timed(c);
        } else {
            close_timed(c);
            usleep(200000);
            if (send_fds(s, status + half, ns - half, NULL, 0))
                die("send the rest");
            printf("sent\n");
        }
    } else if (strcmp(mode, "oob") == 0) {
        if (send_fds(s, wait, nw, NULL, 0))
            die("send the wait");
        taken(s);
        rc = send_flags(s, (const unsigned char *)"x", 1, &c, 1, MSG_OOB);
        if (rc) {
            printf("refused %d\n", rc);
            close_timed(c);
        } else {
            close_timed(c);
            if (send_fds(s, status, ns, NULL, 0))
                die("send the status");
            printf("sent\nqueued\n");
        }
    } else if (strcmp(mode, "fifth") == 0 || strcmp(mode, "unread") == 0) {
        if (send_fds(s, wait, nw, NULL, 0))
            die("send the wait");
        taken(s);
        int fds[5];
        int n = 1;
        fds[0] = c;
        if (strcmp(mode, "fifth") == 0) {
            for (int i = 0; i < 4; i++)
                fds[i] = open("/dev/null", O_RDONLY);
            fds[4] = c;
            n = 5;
        }
        rc = send_fds(s, status, ns, fds, n);
        if (rc) {
            printf("refused %d\n", rc);
            close_timed(c);
        } else {
            close_timed(c);
            int q = 0;
            ioctl(s, TIOCOUTQ, &q);
            if (q <= 0) {
                printf("error cinit read the message early\n");
                return 3;
            }
            printf("sent\n");
            if (n == 5) {
                printf("queued\n");
            } else {
                close(s);
                printf("closed\n");
            }
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    sleep((unsigned)secs + 10);
    close(srv);
    return 0;
}
