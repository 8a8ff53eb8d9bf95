/* single_thread.c -- a program that never creates a thread: it connects,
 * accepts and leaks a connection whose peer hangs up (so the shim's live
 * detection is running), then reports what it can observe of itself: its
 * tasks (/proc/self/task), whether unshare(CLONE_NEWUSER) works, and
 * whether any child shows up in waitpid(-1) or as a SIGCHLD.
 *
 *     single_thread WAIT_MS
 * Prints {"tasks":N,"unshare_errno":E,"wait_errno":E,"sigchld":N}. */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include "e2e_prog.h"

static volatile sig_atomic_t sigchld;

static void on_sigchld(int sig)
{
    (void)sig;
    sigchld++;
}

static int count_tasks(void)
{
    int n = 0;
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_sigchld };
    CHECK(argc == 2);
    sigemptyset(&sa.sa_mask);
    CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(lfd >= 0);
    int port = bind_loopback(lfd);
    CHECK(listen(lfd, 4) == 0);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(client >= 0);
    connect_loopback(client, port);
    int server = accept(lfd, NULL, NULL);
    CHECK(server >= 0);
    close(server);                  /* the client side is left in CLOSE_WAIT */
    sleep_ms(atol(argv[1]));
    int tasks = count_tasks();
    errno = 0;
    int wait_errno = waitpid(-1, NULL, WNOHANG) < 0 ? errno : 0;
    int unshare_errno = unshare(CLONE_NEWUSER) == 0 ? 0 : errno;
    printf("{\"tasks\":%d,\"unshare_errno\":%d,\"wait_errno\":%d,\"sigchld\":%d}\n",
           tasks, unshare_errno, wait_errno, (int)sigchld);
    return 0;
}
