/* File syscalls for argv[2] seconds; prints operations per second.
 *   argv[1] = "openclose": open and close /dev/null
 *   argv[1] = "unlink":    create, close and unlink a file in argv[3]
 *   argv[1] = "rename":    rename a file in argv[3] back and forth */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    double secs = atof(argv[2]);
    const char *dir = argc > 3 ? argv[3] : "/dev/shm";
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/ssh-trace-bench-%d-a", dir, getpid());
    snprintf(b, sizeof b, "%s/ssh-trace-bench-%d-b", dir, getpid());
    int mode = argv[1][0];
    if (mode == 'r') { int fd = open(a, O_CREAT | O_WRONLY | O_EXCL | O_NOFOLLOW, 0600); if (fd < 0) return 1; close(fd); }
    double start = now(), end = start + secs;
    long n = 0;
    while (now() < end) {
        for (int i = 0; i < 64; i++) {
            if (mode == 'o') {
                int fd = open("/dev/null", O_RDONLY);
                if (fd < 0) return 1;
                close(fd);
            } else if (mode == 'u') {
                int fd = open(a, O_CREAT | O_WRONLY | O_EXCL | O_NOFOLLOW, 0600);
                if (fd < 0) return 1;
                close(fd);
                unlink(a);
            } else {
                if (rename(i % 2 ? b : a, i % 2 ? a : b)) return 1;
            }
        }
        n += 64;
    }
    unlink(a);
    printf("%.1f\n", n / (now() - start));
    return 0;
}
