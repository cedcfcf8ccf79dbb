/* fork+exec of /bin/true as fast as possible for argv[1] seconds; prints
 * execs per second. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
extern char **environ;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    double secs = argc > 1 ? atof(argv[1]) : 3, end = now() + secs, start = now();
    char *args[] = {"/bin/true", NULL};
    long n = 0;
    while (now() < end) {
        pid_t p;
        if (posix_spawn(&p, "/bin/true", NULL, NULL, args, environ) != 0) return 1;
        waitpid(p, NULL, 0);
        n++;
    }
    printf("%.1f\n", n / (now() - start));
    return 0;
}
