/* chaos: every host function called over and over with random descriptors, pointers,
 * lengths and flags, the way a hostile or broken guest might. Under ASan any read or
 * write outside guest memory is reported; the test checks that every answer is a WASI
 * errno and that nothing outside the sandbox changed. Deterministic (fixed seed;
 * WEFT_CHAOS_SEED picks another); WEFT_CHAOS_ITERATIONS sets the length. Not here: proc_exit (it
 * ends the guest) and poll_oneoff with long clocks (they would sleep): its clocks are cut to 1 ms.
 */
#include "harness.h"

static uint64_t state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

/* Mostly plausible values, sometimes wild ones. */
static uint32_t any_fd(void) {
    switch (rnd() % 8) {
    case 0:
        return (uint32_t)rnd();
    case 1:
        return (uint32_t)(rnd() % 1100);
    default:
        return (uint32_t)(rnd() % 12);
    }
}
static uint32_t any_ptr(void) {
    switch (rnd() % 8) {
    case 0:
        return (uint32_t)rnd();
    case 1:
        return H_MEM_BYTES - (uint32_t)(rnd() % 64);
    default:
        return (uint32_t)(rnd() % H_MEM_BYTES);
    }
}
static uint32_t any_len(void) {
    switch (rnd() % 8) {
    case 0:
        return (uint32_t)rnd();
    case 1:
        return (uint32_t)(rnd() % H_MEM_BYTES);
    default:
        return (uint32_t)(rnd() % 64);
    }
}
static uint64_t any64(void) {
    return rnd() % 4 ? rnd() % 4096 : rnd();
}
static uint32_t any_flags(void) {
    return rnd() % 4 ? (uint32_t)(rnd() % 32) : (uint32_t)rnd();
}

/* A short path: letters, '/', '.', sometimes "..", so some calls get somewhere. */
static uint32_t any_path(fixture_t *f) {
    static const char *parts[] = {"a", "b", "..", ".", "c", "/", "x/y", "link", "f"};
    char p[64] = {0};
    int n = (int)(rnd() % 4);
    for (int i = 0; i <= n; i++) {
        if (i)
            strcat(p, "/");
        strcat(p, parts[rnd() % (sizeof parts / sizeof parts[0])]);
    }
    return h_str(f, G_PATH + (uint32_t)(rnd() % 2) * 0x100, p);
}

/* Random subscriptions with clocks of at most 1 ms. */
static void any_subscriptions(fixture_t *f, uint32_t at, uint32_t n) {
    for (uint32_t i = 0; i < n && at + (i + 1) * 48 <= H_MEM_BYTES; i++) {
        uint8_t *s = h_mem(f, at + i * 48);
        for (int k = 0; k < 48; k++)
            s[k] = (uint8_t)rnd();
        s[8] = (uint8_t)(rnd() % 4);
        weft_wasi_put_u32(s + 16, rnd() % 3 ? (uint32_t)(rnd() % 12) : (uint32_t)(rnd() % 4));
        weft_wasi_put_u64(s + 24, rnd() % 1000000);
        weft_wasi_put_u16(s + 40, (uint16_t)(rnd() % 2));
    }
}

static uint32_t call_one(fixture_t *f) {
    weft_guest_t *g = &f->g;
    uint32_t path = G_PATH, plen;
    switch (rnd() % 45) {
    case 0:
        return W(args_get)(g, any_ptr(), any_ptr());
    case 1:
        return W(args_sizes_get)(g, any_ptr(), any_ptr());
    case 2:
        return W(environ_get)(g, any_ptr(), any_ptr());
    case 3:
        return W(environ_sizes_get)(g, any_ptr(), any_ptr());
    case 4:
        return W(clock_res_get)(g, any_flags() % 6, any_ptr());
    case 5:
        return W(clock_time_get)(g, any_flags() % 6, any64(), any_ptr());
    case 6:
        return W(fd_advise)(g, any_fd(), any64(), any64(), any_flags() % 8);
    case 7:
        return W(fd_allocate)(g, any_fd(), any64(), any64() % 65536);
    case 8:
        return W(fd_close)(g, any_fd() % 40 < 3 ? 99 : any_fd()); /* keep stdio mostly */
    case 9:
        return W(fd_datasync)(g, any_fd());
    case 10:
        return W(fd_fdstat_get)(g, any_fd(), any_ptr());
    case 11:
        return W(fd_fdstat_set_flags)(g, any_fd(), any_flags());
    case 12:
        return W(fd_fdstat_set_rights)(g, any_fd(), R_ALL & ~(rnd() % 8), R_ALL & ~(rnd() % 8));
    case 13:
        return W(fd_filestat_get)(g, any_fd(), any_ptr());
    case 14:
        return W(fd_filestat_set_size)(g, any_fd(), any64() % 100000);
    case 15:
        return W(fd_filestat_set_times)(g, any_fd(), any64(), any64(), any_flags());
    case 16:
        return W(fd_pread)(g, any_fd(), any_ptr(), any_len() % 8, any64(), any_ptr());
    case 17:
        return W(fd_prestat_get)(g, any_fd(), any_ptr());
    case 18:
        return W(fd_prestat_dir_name)(g, any_fd(), any_ptr(), any_len());
    case 19:
        return W(fd_pwrite)(g, any_fd(), any_ptr(), any_len() % 8, any64() % 100000, any_ptr());
    case 20:
        return W(fd_read)(g, any_fd(), any_ptr(), any_len() % 8, any_ptr());
    case 21:
        return W(fd_readdir)(g, any_fd(), any_ptr(), any_len(), any64(), any_ptr());
    case 22:
        return W(fd_renumber)(g, any_fd(), any_fd());
    case 23:
        return W(fd_seek)(g, any_fd(), any64(), any_flags() % 4, any_ptr());
    case 24:
        return W(fd_sync)(g, any_fd());
    case 25:
        return W(fd_tell)(g, any_fd(), any_ptr());
    case 26:
        return W(fd_write)(g, any_fd(), any_ptr(), any_len() % 8, any_ptr());
    case 27:
        plen = rnd() % 8 ? any_path(f) : any_len();
        return W(path_create_directory)(g, any_fd(), rnd() % 8 ? path : any_ptr(), plen);
    case 28:
        plen = any_path(f);
        return W(path_filestat_get)(g, any_fd(), any_flags() % 3, path, plen, any_ptr());
    case 29:
        plen = any_path(f);
        return W(path_filestat_set_times)(g, any_fd(), any_flags() % 3, path, plen, any64(),
                                          any64(), any_flags());
    case 30: {
        uint32_t a = h_str(f, G_PATH, "f"), b = any_path(f);
        return W(path_link)(g, any_fd(), any_flags() % 3, G_PATH, a, any_fd(), G_PATH + 0x100, b);
    }
    case 31:
        plen = any_path(f);
        return W(path_open)(g, any_fd(), any_flags() % 3, path, plen, any_flags() % 17, rnd(),
                            rnd(), any_flags() % 33, any_ptr());
    case 32:
        plen = any_path(f);
        return W(path_readlink)(g, any_fd(), path, plen, any_ptr(), any_len(), any_ptr());
    case 33:
        plen = any_path(f);
        return W(path_remove_directory)(g, any_fd(), path, plen);
    case 34: {
        uint32_t a = any_path(f);
        uint32_t b = h_str(f, G_PATH2, rnd() % 2 ? "renamed" : "a/b");
        return W(path_rename)(g, any_fd(), G_PATH, a, any_fd(), G_PATH2, b);
    }
    case 35: {
        uint32_t a = h_str(f, G_PATH2, rnd() % 2 ? "f" : "../x");
        uint32_t b = any_path(f);
        return W(path_symlink)(g, G_PATH2, a, any_fd(), G_PATH, b);
    }
    case 36:
        plen = any_path(f);
        return W(path_unlink_file)(g, any_fd(), path, plen);
    case 37: {
        uint32_t n = rnd() % 16 ? (uint32_t)(rnd() % 5) : any_len();
        uint32_t in = G_BIG + (uint32_t)(rnd() % 4096);
        any_subscriptions(f, in, n < 5000 ? n : 0);
        return W(poll_oneoff)(g, rnd() % 8 ? in : any_ptr(), any_ptr(), n, any_ptr());
    }
    case 38:
        return W(proc_raise)(g, any_flags());
    case 39:
        return W(sched_yield)(g);
    case 40:
        return W(random_get)(g, any_ptr(), any_len());
    case 41:
        return W(sock_accept)(g, any_fd(), any_flags(), any_ptr());
    case 42:
        return W(sock_recv)(g, any_fd(), any_ptr(), any_len() % 8, any_flags(), any_ptr(),
                            any_ptr());
    case 43:
        return W(sock_send)(g, any_fd(), any_ptr(), any_len() % 8, any_flags(), any_ptr());
    default:
        return W(sock_shutdown)(g, any_fd(), any_flags());
    }
}

int main(void) {
    long iterations =
        getenv("WEFT_CHAOS_ITERATIONS") ? atol(getenv("WEFT_CHAOS_ITERATIONS")) : 100000;
    if (getenv("WEFT_CHAOS_SEED"))
        state ^= strtoull(getenv("WEFT_CHAOS_SEED"), NULL, 0) * 0x2545f4914f6cdd1dull;
    fixture_t f;
    static const char *argv[] = {"chaos", "--flag"};
    static const char *envp[] = {"HOME=/sandbox"};
    static const uint8_t in[] = "some input for stdin";
    weft_buf_t out = {0};
    weft_wasi_config_t cfg = {.argv = argv,
                              .argc = 2,
                              .envp = envp,
                              .envc = 1,
                              .stdio = {{.kind = WEFT_STDIO_INPUT, .in = in, .in_len = 20},
                                        {.kind = WEFT_STDIO_OUTPUT, .out = &out, .out_limit = 4096},
                                        {.kind = WEFT_STDIO_NULL}}};
    h_setup_with(&f, &cfg, true);
    h_write_file(f.sandbox, "f", "file");
    char p[PATH_MAX];
    h_path(p, f.sandbox, "link");
    CHECK(symlink("../outside/secret", p) == 0);
    unsigned long outside = h_tree_hash(f.outside), ro = h_tree_hash(f.ro);
    long bad = 0, ok = 0;
    for (long i = 0; i < iterations; i++) {
        uint32_t rc = call_one(&f);
        ok += rc == OK;
        if (rc > WEFT_WASI_ENOTCAPABLE) {
            if (bad++ < 5)
                fprintf(stderr, "iteration %ld: errno %u is not a WASI errno\n", i, rc);
        }
    }
    printf("%ld calls, %ld succeeded\n", iterations, ok);
    CHECK_EQ_INT(bad, 0);
    CHECK(ok > iterations / 50); /* the calls did reach something */
    CHECK_EQ_INT(h_tree_hash(f.outside), outside);
    CHECK_EQ_INT(h_tree_hash(f.ro), ro);
    CHECK(out.len <= 4096);
    h_teardown(&f);
    weft_buf_free(&out);
    return TEST_DONE();
}
