/* tests/lib/runlog.c: the run log of test jobs (tests/lib/runlog.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "tests/lib/runlog.h"

const char *rl_command(char *buf, size_t len, const char *out, const char *secs, int status)
{
    /* The real clock: libfaketime is preloaded into skewed agents and their
     * children inherit it. */
#define NOW "$(env -u LD_PRELOAD date +%%s%%N)"
#define LINE(k) "echo " k " $SHARDCRON_SHARD_ITEM $f " NOW " $$ $SHARDCRON_TRIGGER >> %s"
    snprintf(buf, len,
             "f=$(date -d \\\"$SHARDCRON_FIRE_TIME\\\" +%%s); trap '" LINE(
                 "K") "; exit 143' TERM; " LINE("S") "; sleep %s & wait $!; " LINE("E") "; exit %d",
             out, out, secs, out, status);
#undef LINE
#undef NOW
    return buf;
}

int rl_load(const char *path, struct rl_run *runs, int max)
{
    FILE *f = fopen(path, "r");
    char line[256], kind, trig[16];
    int n = 0, item, pid;
    long long fire, ns;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%c %d %lld %lld %d %15s", &kind, &item, &fire, &ns, &pid, trig) != 6)
            continue;
        if (kind == 'S' && n < max) {
            runs[n] = (struct rl_run){.item = item, .fire = fire, .start_ns = ns, .pid = pid};
            snprintf(runs[n].trigger, sizeof runs[n].trigger, "%s", trig);
            n++;
        } else if (kind == 'E' || kind == 'K') {
            for (int i = n - 1; i >= 0; i--)
                if (runs[i].pid == pid && runs[i].item == item && runs[i].fire == fire) {
                    if (!runs[i].end_ns)
                        runs[i].end_ns = ns;
                    runs[i].terminated |= kind == 'K';
                    break;
                }
        }
    }
    fclose(f);
    return n;
}

int rl_count(const struct rl_run *runs, int n, int item, long long fire, const char *trigger)
{
    int k = 0;
    for (int i = 0; i < n; i++)
        k += runs[i].item == item && runs[i].fire == fire &&
             (!trigger || strcmp(runs[i].trigger, trigger) == 0);
    return k;
}

int rl_check(const struct rl_run *runs, int n, const char *what)
{
    return rl_check_excused(runs, n, what, NULL, NULL, NULL);
}

int rl_check_excused(const struct rl_run *runs, int n, const char *what,
                     bool (*excused)(const struct rl_run *orig, void *arg), void *arg,
                     int *n_excused)
{
    if (n_excused)
        *n_excused = 0;
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++) {
            const struct rl_run *a = &runs[i], *b = &runs[k];
            if (a->item != b->item)
                continue;
            if (a->fire == b->fire) {
                /* One re-run of a cut-off run on the survivor is the failover
                 * contract; a re-run of a run that ended is a double run. */
                const struct rl_run *orig = a->start_ns <= b->start_ns ? a : b;
                const struct rl_run *again = orig == a ? b : a;
                bool cut_off = !orig->end_ns || orig->terminated;
                bool once = strcmp(again->trigger, "failover") == 0 &&
                            rl_count(runs, n, a->item, a->fire, NULL) == 2;
                if (once && !cut_off && excused && excused(orig, arg)) {
                    if (n_excused)
                        (*n_excused)++;
                    cut_off = true;
                }
                if (!(cut_off && once))
                    fail_msg("%s: item %d fire %lld ran twice (%s then %s; the first %s)", what,
                             a->item, a->fire, orig->trigger, again->trigger,
                             cut_off ? "was cut off" : "had finished");
            }
            /* A run that never logged its end is taken to end when it started
             * (it was killed -9 with its agent, or is still running). */
            long long a_end = a->end_ns ? a->end_ns : a->start_ns + 1;
            long long b_end = b->end_ns ? b->end_ns : b->start_ns + 1;
            if (a->start_ns < b_end && b->start_ns < a_end)
                fail_msg("%s: item %d: runs of fires %lld and %lld overlap", what, a->item, a->fire,
                         b->fire);
        }
    return n;
}
