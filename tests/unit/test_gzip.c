/* tests/unit/test_gzip.c: the console's compressed answers (core/http.c):
 * http_wants_gzip reads Accept-Encoding as browsers and curl send it, and
 * http_gzip's output inflates back to its input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/http.h"

static bool wants(const char *accept)
{
    struct evhttp_request *req = evhttp_request_new(NULL, NULL);
    assert_non_null(req);
    if (accept)
        evhttp_add_header(evhttp_request_get_input_headers(req), "Accept-Encoding", accept);
    bool w = http_wants_gzip(req);
    evhttp_request_free(req);
    return w;
}

static void test_accept(void **state)
{
    (void)state;
    assert_true(wants("gzip"));
    assert_true(wants("gzip, deflate, br"));                  /* Chromium */
    assert_true(wants("deflate, gzip"));                      /* curl --compressed */
    assert_true(wants("br;q=1.0, gzip;q=0.8, *;q=0.1"));
    assert_true(wants("GZIP"));
    assert_true(wants("gzip ;q=0.5"));
    assert_false(wants(NULL));
    assert_false(wants(""));
    assert_false(wants("identity"));
    assert_false(wants("deflate, br"));
    assert_false(wants("gzip;q=0"));
    assert_false(wants("gzip;q=0.0, deflate"));
    assert_false(wants("x-gzip2"));
    assert_false(wants("gzipped"));
}

static void roundtrip(const char *in, size_t len)
{
    char *gz = NULL;
    size_t gzlen = 0;
    assert_int_equal(http_gzip(in, len, &gz, &gzlen), 0);
    assert_true(gzlen >= 18); /* a gzip header and trailer at least */
    assert_int_equal((unsigned char)gz[0], 0x1f);
    assert_int_equal((unsigned char)gz[1], 0x8b);
    char *back = malloc(len + 1);
    z_stream z = {0};
    assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = (Bytef *)gz;
    z.avail_in = (uInt)gzlen;
    z.next_out = (Bytef *)back;
    z.avail_out = (uInt)len + 1;
    assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
    assert_int_equal(z.total_out, len);
    inflateEnd(&z);
    assert_memory_equal(back, in, len);
    free(back);
    free(gz);
}

static void test_roundtrip(void **state)
{
    (void)state;
    roundtrip("", 0);
    roundtrip("{}", 2);
    size_t n = 600 * 1024; /* a run of 5,000 tasks is ~540 KB */
    char *big = malloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)("{\"state\":\"succeeded\",\"attempt\":1}"[i % 34] + (i % 977 == 0));
    roundtrip(big, n);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept),
        cmocka_unit_test(test_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
