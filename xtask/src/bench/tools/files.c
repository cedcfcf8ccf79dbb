/* File syscalls for argv[2] seconds of wall time; prints operations per
 * second of the process's own CPU time (user + system), which other
 * processes competing for the CPU change far less than a wall-time rate.
 *   argv[1] = "write":     64-byte writes to /dev/null
 *   argv[1] = "openclose": open and close /dev/null
 *   argv[1] = "unlink":    create, close and unlink a file in argv[3]
 *   argv[1] = "rename":    rename a file in argv[3] back and forth */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double clock_s(clockid_t c) { struct timespec t; clock_gettime(c, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    double secs = atof(argv[2]);
    const char *dir = argc > 3 ? argv[3] : "/dev/shm";
    char a[256], b[256], buf[64] = {0};
    snprintf(a, sizeof a, "%s/ssh-trace-bench-%d-a", dir, getpid());
    snprintf(b, sizeof b, "%s/ssh-trace-bench-%d-b", dir, getpid());
    int mode = argv[1][0];
    int null = open("/dev/null", O_WRONLY);
    if (null < 0) return 1;
    if (mode == 'r') { int fd = open(a, O_CREAT | O_WRONLY | O_EXCL | O_NOFOLLOW, 0600); if (fd < 0) return 1; close(fd); }
    double end = clock_s(CLOCK_MONOTONIC) + secs, cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    long n = 0;
    while (clock_s(CLOCK_MONOTONIC) < end) {
        for (int i = 0; i < 64; i++) {
            if (mode == 'w') {
                if (write(null, buf, sizeof buf) != sizeof buf) return 1;
            } else if (mode == 'o') {
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
    cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu;
    unlink(a);
    printf("%.1f\n", n / cpu);
    return 0;
}
