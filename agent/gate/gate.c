/* agent/gate/gate.c: shardcron-gate, the held start of a pre-armed execution.
 *
 * The agent creates an execution's process shortly before its fire time
 * (agent/exec.c, exec_prepare): posix_spawn of this program with the job's
 * environment, working directory, process group, stdin and output already in
 * place, and the read end of a gate socket on fd 3. It waits there; nothing of
 * the job runs. At the scheduled instant the agent writes one byte 'g' and this
 * program execs the job (argv[1] with argv[2..]: "/bin/sh" "sh" "-c" COMMAND),
 * keeping the environment. Anything else — end of file because the agent
 * cancelled the fire or died, a read error — ends it without running anything.
 *
 * Built static by `make` (build/bin/shardcron-gate) so that it starts in a
 * fraction of a millisecond; it links nothing of the project. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#define GATE_FD 3

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    char c = 0;
    ssize_t n;
    do
        n = read(GATE_FD, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1 || c != 'g')
        _exit(0); /* cancelled, or the agent is gone: the job does not run */
    close(GATE_FD);
    execv(argv[1], argv + 2);
    static const char msg[] = "shardcron-gate: cannot run the job's shell: ";
    const char *why = strerror(errno);
    ssize_t w = write(2, msg, sizeof msg - 1);
    w = write(2, why, strlen(why));
    w = write(2, "\n", 1);
    (void)w;
    _exit(127);
}
