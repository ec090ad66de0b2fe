/* tests/lib/testenv.h: what integration tests learn from tests/run-integration
 * (server addresses, scratch directory) and a deadline-bounded wait.
 *
 * Environment set by the runner: SC_TEST_ZK (connect string), SC_TEST_MYSQL
 * (mysql:// URL), SC_TEST_MYSQL_PASSWORD_FILE, SC_TEST_TMP (scratch dir),
 * SC_BIN (binaries under test), SC_ROOT (the source tree). */
#ifndef SC_TESTENV_H
#define SC_TESTENV_H

#include <stdbool.h>

/* tenv: value of an SC_TEST_* variable; aborts the test run when unset. */
const char *tenv(const char *name);

/* tenv_password: the MySQL password from SC_TEST_MYSQL_PASSWORD_FILE (static buffer). */
const char *tenv_password(void);

/* tenv_wait: poll `cond(arg)` every `step_ms` until true or `deadline_ms` passes.
 * Returns true when the condition held. */
bool tenv_wait(bool (*cond)(void *arg), void *arg, int deadline_ms, int step_ms);

/* tenv_now_ms: monotonic milliseconds. */
long long tenv_now_ms(void);

#endif
