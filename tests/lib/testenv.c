/* tests/lib/testenv.c: environment and waiting helpers for integration tests. */
#include "tests/lib/testenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *tenv(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v) {
        fprintf(stderr, "%s is not set: run integration tests through tests/run-integration\n",
                name);
        exit(1);
    }
    return v;
}

const char *tenv_password(void)
{
    static char pw[256];
    FILE *f = fopen(tenv("SC_TEST_MYSQL_PASSWORD_FILE"), "r");
    if (!f || !fgets(pw, sizeof pw, f)) {
        fprintf(stderr, "cannot read the MySQL password file\n");
        exit(1);
    }
    fclose(f);
    pw[strcspn(pw, "\r\n")] = '\0';
    return pw;
}

long long tenv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool tenv_wait(bool (*cond)(void *arg), void *arg, int deadline_ms, int step_ms)
{
    long long end = tenv_now_ms() + deadline_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (tenv_now_ms() >= end)
            return false;
        struct timespec ts = {step_ms / 1000, (long)(step_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
}
