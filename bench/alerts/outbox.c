/* bench/alerts/outbox.c: notices per second through the alert outbox.
 *
 *   outbox URL PASSWORD_FILE NOTICES
 *
 * Against a real MariaDB and a loopback HTTP receiver started here (threads
 * answering 204 on kept-alive connections), the stages the leader runs
 * (agent/maint.c), in the same order and with the same functions:
 *   add      hist_outbox_add, 100 notices per transaction (what one evaluation
 *            decides in a burst);
 *   route    hist_outbox_new_rows + hist_outbox_route, 500 per transaction;
 *   deliver  hist_outbox_claim (as many as the sender has room for) ->
 *            alertch_render -> hist_hooks_send -> hist_outbox_done (the results
 *            at hand in one transaction), until every row is `sent`.
 * Prints one table row per stage and the end-to-end figure. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/alertch.h"
#include "core/config.h"
#include "core/json.h"
#include "sql/db.h"
#include "sql/hist_alert.h"
#include "sql/hist_outbox.h"

static _Atomic long received;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* conn_main: one kept-alive connection: read a request (headers, then
 * Content-Length bytes), answer 204, repeat. */
static void *conn_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    size_t have = 0;
    for (;;) {
        char *end = have ? memmem(buf, have, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t hl = (size_t)(end - buf) + 4, cl = 0;
            char *p = strcasestr(buf, "Content-Length:");
            if (p && p < end)
                cl = strtoul(p + 15, NULL, 10);
            if (have >= hl + cl) {
                memmove(buf, buf + hl + cl, have - hl - cl);
                have -= hl + cl;
                atomic_fetch_add(&received, 1);
                static const char ok[] = "HTTP/1.1 204 No Content\r\n\r\n";
                if (write(fd, ok, sizeof ok - 1) < 0)
                    break;
                continue;
            }
        }
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0)
            break;
        have += (size_t)n;
        buf[have] = 0;
    }
    close(fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    int ls = (int)(intptr_t)arg;
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0)
            continue;
        pthread_t t;
        pthread_create(&t, NULL, conn_main, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

struct res {
    unsigned long long id;
    char claim[64];
    bool ok;
    struct res *next;
};
static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;
static struct res *results;
static _Atomic long inflight;

static void done_cb(void *arg, bool ok, const char *error)
{
    struct res *r = arg;
    (void)error;
    r->ok = ok;
    pthread_mutex_lock(&rlock);
    r->next = results;
    results = r;
    pthread_mutex_unlock(&rlock);
    atomic_fetch_sub(&inflight, 1);
}

static void die(const char *what, const struct sc_err *err)
{
    fprintf(stderr, "outbox: %s: %s\n", what, err->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    struct sc_err err;
    struct db_url url;
    sc_err_clear(&err);
    if (argc != 4) {
        fprintf(stderr, "usage: outbox URL PASSWORD_FILE NOTICES\n");
        return 2;
    }
    long total = atol(argv[3]);
    char *pw = cfg_read_secret(argv[2], &err);
    if (!pw || db_url_parse(argv[1], &url, &err) < 0)
        die("setup", &err);
    MYSQL *m = db_connect(&url, pw, 300, &err);
    if (!m)
        die("connect", &err);

    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    if (bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 128) < 0 ||
        getsockname(ls, (struct sockaddr *)&sa, &sl) < 0) {
        perror("listen");
        return 1;
    }
    pthread_t at;
    pthread_create(&at, NULL, accept_main, (void *)(intptr_t)ls);
    char route[128];
    snprintf(route, sizeof route, "[{\"type\":\"webhook\",\"url\":\"http://127.0.0.1:%d/hook\"}]",
             ntohs(sa.sin_port));

    /* add */
    double t0 = now_s(), t;
    struct hist_alert_notice batch[100];
    for (long done = 0; done < total;) {
        size_t n = total - done < 100 ? (size_t)(total - done) : 100;
        for (size_t i = 0; i < n; i++) {
            memset(&batch[i], 0, sizeof batch[i]);
            batch[i].id = (unsigned long long)(done + (long)i + 1);
            snprintf(batch[i].event, sizeof batch[i].event, "open");
            snprintf(batch[i].kind, sizeof batch[i].kind, "failed");
            snprintf(batch[i].job, sizeof batch[i].job, "job-%ld", (done + (long)i) % 1000);
            batch[i].item = (int)(i % 8);
            snprintf(batch[i].message, sizeof batch[i].message, "item %d failed", batch[i].item);
        }
        if (mysql_query(m, "START TRANSACTION") != 0 ||
            hist_outbox_add(m, batch, n, "bench", &err) < 0 || mysql_query(m, "COMMIT") != 0)
            die("add", &err);
        done += (long)n;
    }
    double add_s = now_s() - t0;

    /* route */
    t = now_s();
    unsigned long long after = 0;
    for (;;) {
        struct hist_outbox_new *nr = NULL;
        size_t nn = 0;
        if (hist_outbox_new_rows(m, after, 0, 500, &nr, &nn, &err) < 0)
            die("new rows", &err);
        if (!nn)
            break;
        if (mysql_query(m, "START TRANSACTION") != 0)
            die("route", &err);
        for (size_t i = 0; i < nn; i++) {
            char *body = hist_alert_payload(NULL, &nr[i].n, "bench");
            if (hist_outbox_route(m, nr[i].id, nr[i].n.id, nr[i].n.event, body, route, NULL, &err) <
                0)
                die("route", &err);
            free(body);
        }
        if (mysql_query(m, "COMMIT") != 0)
            die("route", &err);
        after = nr[nn - 1].id;
        hist_outbox_new_free(nr, nn);
    }
    double route_s = now_s() - t;

    /* deliver */
    struct hist_hooks *h = NULL;
    if (hist_hooks_new(256, 5000, &h) < 0)
        return 1;
    t = now_s();
    long sent = 0, failed = 0, claims = 0;
    char claim[64];
    while (sent < total) {
        int room = hist_hooks_room(h);
        if (room > 0) {
            struct hist_outbox_row *rows = NULL;
            size_t nrows = 0;
            snprintf(claim, sizeof claim, "bench:%ld", ++claims);
            if (hist_outbox_claim(m, claim, 10000, (size_t)room, &rows, &nrows, &err) < 0)
                die("claim", &err);
            for (size_t i = 0; i < nrows; i++) {
                cJSON *ch = cJSON_Parse(rows[i].route), *n = cJSON_Parse(rows[i].notice);
                struct alertch_msg msg;
                if (alertch_render(cJSON_GetArrayItem(ch, 0), n, NULL, 0, &msg, &err) < 0)
                    die("render", &err);
                struct res *r = calloc(1, sizeof *r);
                r->id = rows[i].id;
                snprintf(r->claim, sizeof r->claim, "%s", claim);
                atomic_fetch_add(&inflight, 1);
                if (hist_hooks_send(h, &msg, done_cb, r) < 0) {
                    atomic_fetch_sub(&inflight, 1);
                    free(r);
                }
                cJSON_Delete(ch);
                cJSON_Delete(n);
            }
            hist_outbox_rows_free(rows, nrows);
        }
        pthread_mutex_lock(&rlock);
        struct res *l = results;
        results = NULL;
        pthread_mutex_unlock(&rlock);
        if (!l && room <= 0)
            usleep(200);
        if (l && mysql_query(m, "START TRANSACTION") != 0)
            die("done", &err);
        bool txn = l != NULL;
        while (l) {
            struct res *r = l;
            l = r->next;
            bool applied = false;
            if (hist_outbox_done(m, r->id, r->claim, r->ok, r->ok ? "" : "failed", 60, &applied,
                                 &err) < 0)
                die("done", &err);
            if (r->ok)
                sent++;
            else
                failed++;
            free(r);
        }
        if (txn && mysql_query(m, "COMMIT") != 0)
            die("done", &err);
        if (failed > 0) {
            fprintf(stderr, "outbox: %ld sends failed\n", failed);
            return 1;
        }
    }
    double deliver_s = now_s() - t;
    hist_hooks_free(h);
    long long left = -1;
    db_query_int(m, "SELECT COUNT(*) FROM alert_outbox WHERE state <> 'sent'", &left, &err);
    printf("| stage | notices | seconds | notices/s |\n|---|---:|---:|---:|\n");
    printf("| add (100 per transaction) | %ld | %.2f | %.0f |\n", total, add_s, total / add_s);
    printf("| route (500 per transaction) | %ld | %.2f | %.0f |\n", total, route_s,
           total / route_s);
    printf("| deliver (claim, POST, results per transaction) | %ld | %.2f | %.0f |\n", sent,
           deliver_s, sent / deliver_s);
    printf("| end to end | %ld | %.2f | %.0f |\n", sent, add_s + route_s + deliver_s,
           sent / (add_s + route_s + deliver_s));
    printf("\nreceiver got %ld requests; rows not sent: %lld\n", atomic_load(&received), left);
    mysql_close(m);
    free(pw);
    return left == 0 && atomic_load(&received) == total ? 0 : 1;
}
