/*
 * pause: the pod sandbox process of the test node (localhost/pause:test). It
 * sleeps until SIGTERM or SIGINT and, as PID 1 of a pod that shares its
 * process namespace, reaps the orphans that are re-parented to it.
 *
 *   musl-gcc -Os -static -s -o pause pause.c
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_stop(int sig) {
	(void)sig;
	_exit(0);
}

static void on_child(int sig) {
	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0) {
	}
}

int main(void) {
	struct sigaction sa = {0};
	sa.sa_handler = on_stop;
	if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
		return 1;
	sa.sa_handler = on_child;
	sa.sa_flags = SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &sa, NULL) != 0)
		return 2;
	for (;;)
		pause();
}
