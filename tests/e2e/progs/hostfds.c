/* hostfds.c -- a program that does to its fd table what daemons and
 * servers do (close everything, dup2 over every number it sees, raise or
 * live under RLIMIT_NOFILE) and checks that every fd it owns behaves as
 * without the shim: bytes arrive unchanged, closes it did not own fail.
 * Prints one JSON line of what it observed; exits 1 if a byte went wrong.
 *   closefrom   closefrom(3) after the first socket, then a new thread's
 *               socket() (libunwind validates memory on a fresh thread)
 *   dup2_all    dup2 over every fd >= 3 listed in /proc/self/fd, close them
 *   close_loop  close() every number from 3 to the soft limit
 *   fill        count the sockets it can open before EMFILE
 *   busy_fill   first a listener, a connection to it (both ends), a
 *               socketpair and a backtrace(), then count the fds it can
 *               open before EMFILE; closes them again (count includes the
 *               five sockets before)
 *   raise N     setrlimit(soft N) after the first socket, then fill
 *   exec        close the socket, exec ls -1 /proc/self/fd (what is left
 *               open across exec) */
#include <dirent.h>
#include <execinfo.h>
#include <errno.h>
#include <pthread.h>
#include <sys/resource.h>
#include "e2e_prog.h"

static int pair[2][2];
static const char msg0[] = "to-a: the program's own bytes";
static const char msg1[] = "to-b: the program's own bytes";

static void *thread_socket(void *arg)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0);
    close(fd);
    return arg;
}

/* Two socketpairs with bytes queued both ways, a fresh thread's socket(),
 * then every byte must be where the program put it. */
static int check_bytes(void)
{
    pthread_t t;
    char buf[128];
    int bad = 0;
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair[0]) == 0);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, pair[1]) == 0);
    CHECK(write(pair[0][1], msg0, sizeof(msg0)) == sizeof(msg0));
    CHECK(write(pair[1][1], msg1, sizeof(msg1)) == sizeof(msg1));
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_create(&t, NULL, thread_socket, NULL) == 0);
        pthread_join(t, NULL);
    }
    for (int p = 0; p < 2; p++) {
        const char *want = p ? msg1 : msg0;
        memset(buf, 0, sizeof(buf));
        ssize_t n = recv(pair[p][0], buf, sizeof(buf), MSG_DONTWAIT);
        if (n != (ssize_t)strlen(want) + 1 || memcmp(buf, want, (size_t)n) != 0)
            bad++;
        /* nothing may have arrived at the writing end either */
        if (recv(pair[p][1], buf, sizeof(buf), MSG_DONTWAIT) != -1 || errno != EAGAIN)
            bad++;
    }
    return bad;
}

int make_socket(void)
{
    return socket(AF_INET, SOCK_DGRAM, 0);
}

int make_socket_stream(void)
{
    return socket(AF_INET, SOCK_STREAM, 0);
}

static int fill(void)
{
    int n = 0;
    while (make_socket() >= 0)
        n++;
    CHECK(errno == EMFILE);
    return n;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "closefrom";
    struct rlimit rl;
    int first = make_socket(), bad = 0, closed_ok = 0, dup_fail = 0, count = -1;
    CHECK(first >= 0);
    CHECK(getrlimit(RLIMIT_NOFILE, &rl) == 0);

    if (strcmp(mode, "closefrom") == 0) {
        closefrom(3);
        bad = check_bytes();
    } else if (strcmp(mode, "dup2_all") == 0) {
        int fds[256], nfds = 0;
        DIR *d = opendir("/proc/self/fd");
        CHECK(d != NULL);
        for (struct dirent *e; (e = readdir(d)) != NULL && nfds < 256;)
            if (atoi(e->d_name) >= 3 && atoi(e->d_name) != dirfd(d))
                fds[nfds++] = atoi(e->d_name);
        closedir(d);
        for (int i = 0; i < nfds; i++) {
            if (fds[i] == first)
                continue;
            if (dup2(first, fds[i]) != fds[i])
                dup_fail++;
            else
                close(fds[i]);
        }
        bad = check_bytes();
    } else if (strcmp(mode, "close_loop") == 0) {
        for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
            if (close(fd) == 0)
                closed_ok++;
            else
                CHECK(errno == EBADF);
        bad = check_bytes();
    } else if (strcmp(mode, "fill") == 0) {
        count = fill() + 1;
    } else if (strcmp(mode, "busy_fill") == 0) {
        int listener = make_socket_stream(), client = make_socket_stream(), sv[2];
        void *pcs[16];
        CHECK(listener >= 0 && client >= 0);
        int port = bind_loopback(listener);
        CHECK(listen(listener, 4) == 0);
        connect_loopback(client, port);
        int served = accept(listener, NULL, NULL);
        CHECK(served >= 0);
        CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        CHECK(backtrace(pcs, 16) > 0);
        int from = served > sv[1] ? served : sv[1];
        count = fill() + 1 + 5;      /* `first` and the five above */
        for (int fd = from + 1; fd < (int)rl.rlim_cur; fd++)
            close(fd);
    } else if (strcmp(mode, "raise") == 0 && argc > 2) {
        rl.rlim_cur = (rlim_t)atol(argv[2]);
        CHECK(setrlimit(RLIMIT_NOFILE, &rl) == 0);
        count = fill() + 1;
        for (int fd = 3; fd < (int)rl.rlim_cur; fd++)
            close(fd);
        bad = check_bytes();
    } else if (strcmp(mode, "exec") == 0) {
        close(first);
        fflush(stdout);
        /* without LD_PRELOAD: ls lists what it inherited, not its own shim's */
        char *env[] = { NULL };
        execle("/bin/ls", "ls", "-1", "/proc/self/fd", (char *)NULL, env);
        perror("exec ls");
        return 2;
    } else {
        fprintf(stderr, "hostfds: unknown mode %s\n", mode);
        return 2;
    }
    printf("{\"first\":%d,\"bad\":%d,\"closed_ok\":%d,\"dup_fail\":%d,\"count\":%d}\n",
           first, bad, closed_ok, dup_fail, count);
    return bad ? 1 : 0;
}
