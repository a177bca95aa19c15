/* The subscribers of bench.sse, compiled (cc -O2): N raw SSE connections on one epoll loop.

   sse_client <port,port,...> <clients>

   Same protocol as bench/sse_client.py: prints "ready <connected>" once every stream has answered
   ": connected", then stamps each read with the wall clock and keeps the delay of every `"sent":`
   stamp in it, until a line arrives on stdin; then prints {"chunks": n, "delays_ms": [...]} and exits.
   A read costs a system call and a scan of the bytes: the client stays far below the servers' cost. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char REQUEST[] = "GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n";

typedef struct {
    int port;
    int stage; /* 0 connecting, 1 request sent, 2 connected */
    int tries;
    int seen;  /* bytes kept while waiting for ": connected" */
    char head[512];
} conn_t;

static conn_t *conns;
static int *fd_index; /* fd -> connection */
static int epfd;
static double *delays;
static size_t ndelays, cap;
static long chunks;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int open_conn(int i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0) { perror("socket"); exit(2); }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(conns[i].port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) { perror("connect"); exit(2); }
    fd_index[fd] = i;
    conns[i].stage = 0;
    conns[i].seen = 0;
    struct epoll_event ev = {.events = EPOLLOUT | EPOLLIN, .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
    return fd;
}

static void keep(double delay) {
    if (ndelays == cap) {
        cap = cap ? cap * 2 : 1 << 16;
        delays = realloc(delays, cap * sizeof *delays);
        if (!delays) exit(2);
    }
    delays[ndelays++] = delay;
}

/* Returns 1 when a connection has just answered ": connected". */
static int on_event(struct epoll_event *ev, int live, char *buf, size_t size) {
    int fd = ev->data.fd;
    conn_t *c = &conns[fd_index[fd]];
    if (c->stage == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) { /* refused (a listen queue momentarily full): try again */
            epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
            close(fd);
            if (++c->tries > 50) { fprintf(stderr, "connect failed: %s\n", strerror(err)); exit(2); }
            usleep(20000);
            open_conn(fd_index[fd]);
            return 0;
        }
        if (write(fd, REQUEST, sizeof REQUEST - 1) != (ssize_t)(sizeof REQUEST - 1)) { perror("write"); exit(2); }
        c->stage = 1;
        struct epoll_event in = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &in);
        return 0;
    }
    if (!(ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return 0;
    ssize_t n = read(fd, buf, size - 1);
    double at = now();
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN) return 0;
        epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
        close(fd);
        return 0;
    }
    buf[n] = 0;
    if (c->stage == 1) {
        size_t room = sizeof c->head - 1 - c->seen;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(c->head + c->seen, buf, take);
        c->seen += take;
        c->head[c->seen] = 0;
        if (strstr(c->head, ": connected")) { c->stage = 2; return 1; }
        return 0;
    }
    if (!live) return 0;
    chunks++;
    for (char *p = buf; (p = strstr(p, "\"sent\":")) != NULL; p += 7) keep((at - strtod(p + 7, NULL)) * 1000.0);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s port,port,... clients\n", argv[0]); return 2; }
    int ports[64], nports = 0;
    for (char *p = strtok(argv[1], ","); p && nports < 64; p = strtok(NULL, ",")) ports[nports++] = atoi(p);
    int clients = atoi(argv[2]);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    int maxfd = (int)rl.rlim_cur + 16;
    conns = calloc(clients, sizeof *conns);
    fd_index = calloc(maxfd, sizeof *fd_index);
    epfd = epoll_create1(0);
    static char buf[1 << 16];
    struct epoll_event events[512];
    int connected = 0;
    double started = now();
    for (int i = 0; i < clients; i++) {
        conns[i].port = ports[i % nports];
        open_conn(i);
        if (i % 100 == 99) { /* pace the connects; serve what is ready meanwhile */
            double until = now() + 0.02;
            while (now() < until) {
                int k = epoll_wait(epfd, events, 512, 5);
                for (int j = 0; j < k; j++) connected += on_event(&events[j], 0, buf, sizeof buf);
            }
        }
    }
    while (connected < clients && now() - started < 180) {
        int k = epoll_wait(epfd, events, 512, 100);
        for (int j = 0; j < k; j++) connected += on_event(&events[j], 0, buf, sizeof buf);
    }
    printf("ready %d\n", connected);
    fflush(stdout);
    if (connected < clients) return 1;
    struct epoll_event in = {.events = EPOLLIN, .data.fd = 0};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &in);
    for (;;) {
        int k = epoll_wait(epfd, events, 512, -1);
        for (int j = 0; j < k; j++) {
            if (events[j].data.fd == 0) {
                printf("{\"chunks\": %ld, \"delays_ms\": [", chunks);
                for (size_t d = 0; d < ndelays; d++) printf(d ? ",%.3f" : "%.3f", delays[d]);
                printf("]}\n");
                fflush(stdout);
                return 0;
            }
            on_event(&events[j], 1, buf, sizeof buf);
        }
    }
}
