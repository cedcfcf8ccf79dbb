/* Connections for argv[2] seconds; prints connections per second.
 *   argv[1] = "tcp":  connect() to a loopback TCP listener, close with a
 *                     reset (SO_LINGER 0: no TIME_WAIT pile-up)
 *   argv[1] = "unix": connect() to a unix stream listener, close
 * A second process accepts and closes. Every connect passes the connect
 * syscall tracepoints and (TCP) sock:inet_sock_set_state. */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    int tcp = strcmp(argv[1], "tcp") == 0;
    double secs = atof(argv[2]);
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof ss);
    int l = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
    if (tcp) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *in;
    } else {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof un->sun_path, "/tmp/ssh-trace-bench-%d.sock", getpid());
        unlink(un->sun_path);
        len = sizeof *un;
    }
    if (bind(l, (struct sockaddr *)&ss, len) || listen(l, 512)) return 1;
    if (tcp && getsockname(l, (struct sockaddr *)&ss, &len)) return 1;
    pid_t p = fork();
    if (p == 0) { for (;;) { int c = accept(l, NULL, NULL); if (c >= 0) close(c); } }
    double start = now(), end = start + secs;
    long n = 0;
    struct linger lg = {1, 0};
    while (now() < end) {
        for (int i = 0; i < 64; i++) {
            int c = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM, 0);
            if (c < 0 || connect(c, (struct sockaddr *)&ss, len)) return 1;
            if (tcp) setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            close(c);
        }
        n += 64;
    }
    kill(p, SIGKILL);
    waitpid(p, NULL, 0);
    if (!tcp) unlink(((struct sockaddr_un *)&ss)->sun_path);
    printf("%.1f\n", n / (now() - start));
    return 0;
}
