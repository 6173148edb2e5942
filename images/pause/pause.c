/* The pod sandbox ("pause") process of storefleet/pause, built by devtools/images.py with
 * `gcc -Os -static`. It behaves as Kubernetes' own pause: holds the pod's namespaces,
 * exits 0 on SIGINT or SIGTERM, reaps the zombies it inherits as PID 1, and otherwise
 * sleeps. `pause -v` prints its version. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void shut_down(int signo) {
  psignal(signo, "Shutting down, got signal");
  exit(0);
}

static void reap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("storefleet-pause 1\n");
    return 0;
  }
  if (getpid() != 1) {
    fprintf(stderr, "Warning: pause should be the first process\n");
  }
  struct sigaction down = {.sa_handler = shut_down};
  struct sigaction children = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  if (sigaction(SIGINT, &down, NULL) < 0) return 1;
  if (sigaction(SIGTERM, &down, NULL) < 0) return 2;
  if (sigaction(SIGCHLD, &children, NULL) < 0) return 3;
  for (;;) pause();
  return 42;
}
