/* One-byte ping-pong over a unix stream socketpair between two processes
 * for argv[1] seconds; prints round trips per second. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 3;
    int sv[2];
    char c = 'x';
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 1;
    pid_t p = fork();
    if (p == 0) {
        close(sv[0]);
        while (read(sv[1], &c, 1) == 1) if (write(sv[1], &c, 1) != 1) break;
        _exit(0);
    }
    close(sv[1]);
    double start = now(), end = start + secs;
    long n = 0;
    while (now() < end) {
        for (int i = 0; i < 64; i++) {
            if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1) return 1;
        }
        n += 64;
    }
    close(sv[0]);
    waitpid(p, NULL, 0);
    printf("%.1f\n", n / (now() - start));
    return 0;
}
