/* tests/fuzz/fuzz_calendar.c: libFuzzer target for calendar JSON (core/calendar.c).
 *
 * Calendars arrive from `shardcronctl calendar put`, the console's PUT and
 * /calendars/<name> in ZooKeeper. Any input must be refused with a message,
 * or parse into a calendar whose canonical JSON parses again into the same
 * canonical JSON; and then, for a few schedules under every rule and shift,
 * each fire calendar_next gives is later than asked and on a day the rule
 * includes (a fire is never put on an excluded day). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/calendar.h"
#include "core/cron.h"
#include "core/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const crons[] = {"0 0 9 * * ?", "0 30 1,23 * * ?", "0 0 0 L * ?"};
    char *text = malloc(size ? size : 1);
    struct calendar *c = NULL, *again = NULL;
    struct sc_err err;
    if (!text)
        return 0;
    memcpy(text, data, size);
    sc_err_clear(&err);
    if (calendar_parse(text, size, &c, &err) < 0) {
        if (c || !err.msg[0])
            abort();
        free(text);
        return 0;
    }
    char *canon = calendar_to_json(c);
    if (!canon || calendar_parse(canon, strlen(canon), &again, &err) < 0)
        abort();
    char *canon2 = calendar_to_json(again);
    if (!canon2 || strcmp(canon, canon2) != 0)
        abort();
    for (size_t k = 0; k < sizeof crons / sizeof crons[0]; k++) {
        cron_expr *e = NULL;
        if (cron_parse(crons[k], &e, &err) < 0)
            abort();
        for (int rule = 0; rule < 2; rule++)
            for (int shift = 0; shift < 3; shift++) {
                struct cal_sched cs = {c, (enum cal_rule)rule, (enum cal_shift)shift};
                int64_t t = 1790000000; /* 2026-09 */
                for (int i = 0; i < 4; i++) {
                    int64_t u = calendar_next(e, c->zone, &cs, t);
                    if (u < 0)
                        break;
                    if (u <= t || !calendar_included(c, cs.rule, calendar_day_of(c, u)))
                        abort();
                    t = u;
                }
            }
        cron_free(e);
    }
    free(canon2);
    free(canon);
    calendar_unref(again);
    calendar_unref(c);
    free(text);
    return 0;
}
