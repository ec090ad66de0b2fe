/* bench/fire/stamp/stamp.c: the command of the fire benchmark's jobs.
 *
 * Prints "began_us=<CLOCK_REALTIME in microseconds at main entry>" on stdout,
 * so the benchmark can tell when the job's own command began, not only when
 * the agent let the process go. Built static by bench/fire/run (a dynamically
 * linked stamp would count the loader's time as lateness). */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char line[64];
    int n = snprintf(line, sizeof line, "began_us=%lld\n",
                     (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    return write(1, line, (size_t)n) == n ? 0 : 1;
}
