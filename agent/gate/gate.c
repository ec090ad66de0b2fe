/* agent/gate/gate.c: shardcron-gate.so, the held start of a pre-armed execution.
 *
 * The agent creates an execution's process shortly before its fire time
 * (agent/exec.c, exec_prepare): posix_spawn of /bin/sh with the job's
 * environment, working directory, process group, stdin and output in place,
 * this library in LD_PRELOAD, the read end of a gate socket on fd 3, and argv
 * "sh" "-c" "exit 126" with the real command in SHARDCRON_GATE_COMMAND. The
 * dynamic loader maps and relocates the shell, then runs this constructor
 * before the shell's main(): it waits on fd 3. At the scheduled instant the
 * agent writes one byte 'g'; the constructor closes fd 3, puts the command
 * into argv[2], removes LD_PRELOAD and SHARDCRON_GATE_COMMAND from the
 * environment, and returns, so main() runs exactly `sh -c COMMAND` with the
 * job's environment — the exec and loading of the shell were paid before the
 * instant. End of file (the agent cancelled the fire or died) or a read error
 * ends the process without running anything.
 *
 * Fail-safe: a shell that does not honour LD_PRELOAD (static, setuid) never
 * sees the command: it runs the placeholder "exit 126" at once, the agent sees
 * the held process gone and starts the fire the ordinary way at its instant.
 *
 * Built by `make` as build/bin/shardcron-gate.so (beside the agent binary);
 * it links nothing of the project and is never instrumented. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GATE_FD 3
#define GATE_ENV "SHARDCRON_GATE_COMMAND"

/* glibc calls ELF constructors with (argc, argv, envp). */
__attribute__((constructor)) static void gate(int argc, char **argv, char **envp)
{
    (void)envp;
    char *cmd = getenv(GATE_ENV);
    if (!cmd)
        return; /* not a held start */
    if (argc < 3 || strcmp(argv[1], "-c") != 0)
        _exit(126);
    char c = 0;
    ssize_t n;
    do
        n = read(GATE_FD, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1 || c != 'g')
        _exit(0); /* cancelled, or the agent is gone: the job does not run */
    close(GATE_FD);
    /* cmd points into the process's initial environment block, which unsetenv
     * leaves in place (it only removes the pointer from environ). */
    argv[2] = cmd;
    unsetenv(GATE_ENV);
    unsetenv("LD_PRELOAD");
}
