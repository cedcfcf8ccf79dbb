/* Small writes for argv[2] seconds; prints writes per second.
 *   argv[1] = "devnull": 64-byte write()s to /dev/null
 *   argv[1] = "dgram":   64-byte send()s on a unix datagram socketpair,
 *                        drained by a second process.
 *   argv[1] = "devzero": 64-byte read()s from /dev/zero (prints reads/s). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    double secs = atof(argv[2]);
    char buf[64] = {0};
    int fd, sv[2];
    pid_t p = -1;
    int dgram = strcmp(argv[1], "dgram") == 0;
    int reads = strcmp(argv[1], "devzero") == 0;
    if (dgram) {
        if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv)) return 1;
        p = fork();
        if (p == 0) { close(sv[0]); while (recv(sv[1], buf, sizeof buf, 0) > 0) {} _exit(0); }
        close(sv[1]);
        fd = sv[0];
    } else if (reads) {
        fd = open("/dev/zero", O_RDONLY);
    } else {
        fd = open("/dev/null", O_WRONLY);
    }
    double start = now(), end = start + secs;
    long n = 0;
    while (now() < end) {
        for (int i = 0; i < 256; i++) {
            ssize_t k = dgram ? send(fd, buf, sizeof buf, 0)
                      : reads ? read(fd, buf, sizeof buf) : write(fd, buf, sizeof buf);
            if (k != sizeof buf) return 1;
        }
        n += 256;
    }
    close(fd);
    /* A datagram peer sees no end of file: stop the reader. */
    if (p > 0) { kill(p, SIGKILL); waitpid(p, NULL, 0); }
    printf("%.1f\n", n / (now() - start));
    return 0;
}
