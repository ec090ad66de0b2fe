/* agent/secrets.h: the agent's secrets store, where a job's
 * `"env": {"NAME": {"secret": "s"}}` is resolved at each start (docs/jobs.md,
 * "Secrets"), so secret values live on the batch hosts only, never in
 * ZooKeeper, the console, an export or a log.
 *
 * The store (setting `secrets`) is a directory holding one file per secret
 * (the file's name is the secret's, its content the value, one trailing newline
 * dropped) or one file of `name=value` lines. Either must be readable by its
 * owner only: a store readable by group or others is refused, with the path and
 * the chmod that fixes it. Read at every start, so a changed value is used by
 * the next run without a restart. */
#ifndef SC_AGENT_SECRETS_H
#define SC_AGENT_SECRETS_H

#include "core/err.h"
#include "core/job.h"

#define AGENT_SECRET_MAX 65536 /* bytes of one value */

/* agent_secrets_check: the store exists, is a directory or a regular file, and
 * no group or other permission bit is set. 0 or -errno with err naming
 * `secrets`. */
int agent_secrets_check(const char *store, struct sc_err *err);

/* agent_secret_read: the value of secret `name` (a job_secret_name_valid name),
 * the caller's to free (and to wipe). store NULL or "": no store is set. 0 or
 * -errno with err naming the secret, the store and what is wrong. */
int agent_secret_read(const char *store, const char *name, char **out, struct sc_err *err);

/* agent_env_build: "NAME=value" strings for a job's env (values as written,
 * secrets read from the store), NULL-terminated, the caller's to free with
 * agent_env_free (which wipes them). 0 or -errno with err naming env.NAME. */
int agent_env_build(const char *store, const struct job_env *env, int nenv, char ***out,
                    struct sc_err *err);
void agent_env_free(char **env);

#endif
