/* attach_svc.c -- a service started without the shim that leaks: every
 * connection it accepts is kept (never closed) after it answers one line.
 * It prints one line per connection and, when stdin closes, "bye N" and
 * exits 7: sockleak attach must change none of that. A line "fork" on stdin
 * forks a child that makes and keeps a socket, prints "child PID HIGH" (HIGH:
 * its fds at 512 and above) and leaves with _exit(0). A line "dlopen PATH"
 * loads PATH and calls its attach_dl_make_socket(), printing "dl FD". Built three ways
 * (plain, full-RELRO PIE, -fno-plt) by tests/e2e/e2e.mk. */
#include <dirent.h>
#include <dlfcn.h>
#include <poll.h>
#include <sys/wait.h>

#include "e2e_prog.h"

/* The accept that leaks: named so the report's stack can be checked. */
static int __attribute__((noinline)) svc_accept_leaky(int l)
{
    int c = accept(l, NULL, NULL);
    __asm__ volatile("" ::: "memory");   /* not a tail call: keep this frame */
    return c;
}

/* A fork child: no shim of an attached parent may follow it. */
static void fork_child(void)
{
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int high = 0;
        DIR *d = opendir("/proc/self/fd");
        struct dirent *e;
        while (d != NULL && (e = readdir(d)) != NULL)
            high += atoi(e->d_name) >= 512;
        if (d != NULL)
            closedir(d);
        CHECK(socket(AF_INET, SOCK_STREAM, 0) >= 0);
        printf("child %d %d\n", (int)getpid(), high);
        fflush(stdout);
        _exit(0);
    }
    CHECK(waitpid(pid, NULL, 0) == pid);
}

int main(void)
{
    int l = socket(AF_INET, SOCK_STREAM, 0), n = 0;
    int one = 1;
    CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0);
    int port = bind_loopback(l);
    CHECK(listen(l, 128) == 0);
    printf("port %d\n", port);
    fflush(stdout);
    for (;;) {
        struct pollfd p[2] = { { l, POLLIN, 0 }, { 0, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0)
            continue;           /* EINTR is the program's business */
        if (p[1].revents) {
            char b[4096 + 16];   /* "dlopen PATH": any checkout path */
            ssize_t n = read(0, b, sizeof(b) - 1);
            if (n <= 0)
                break;
            b[n] = '\0';
            if (strstr(b, "fork") != NULL)
                fork_child();
            if (!strncmp(b, "dlopen ", 7)) {
                b[strcspn(b, "\n")] = '\0';
                void *h = dlopen(b + 7, RTLD_NOW);
                int (*make)(void) = h ? (int (*)(void))dlsym(h, "attach_dl_make_socket") : NULL;
                CHECK(make != NULL);
                printf("dl %d\n", make());
                fflush(stdout);
            }
        }
        if (p[0].revents & POLLIN) {
            int c = svc_accept_leaky(l);
            if (c < 0)
                continue;
            CHECK(write(c, "hello\n", 6) == 6);
            printf("conn %d\n", ++n);
            fflush(stdout);
        }
    }
    printf("bye %d\n", n);
    return 7;
}
