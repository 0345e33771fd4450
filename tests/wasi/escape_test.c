/* escape: every way out of a preopen that weft must close, one test each. Each shows
 * the call fails and that nothing outside the sandbox changed (TMP/outside is
 * fingerprinted before and after, and its secret never reaches guest memory). */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/syscall.h>

#include "harness.h"

#define SECRET "outside secret"

/* Guest memory never contains the outside secret. */
static bool leaked(fixture_t *f) {
    return memmem(f->mem.data, H_MEM_BYTES, SECRET, strlen(SECRET)) != NULL;
}

/* Tries every call that follows path to its end (relative to dir) and checks none of
 * them reaches what lies outside. For a path whose last component is a symlink inside
 * the sandbox: removing or replacing that name is the guest's right, following it is
 * what must fail. */
static void try_following(fixture_t *f, uint32_t dir, const char *path) {
    uint32_t fd;
    uint8_t type;
    uint64_t size;
    char buf[256];
    uint32_t n;
    if (h_open(f, dir, path, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, 0, H_READ, 0, &fd) == OK) {
        h_read(f, fd, buf, sizeof buf, &n);
        W(fd_close)(&f->g, fd);
        CHECK(!"opened for reading");
    }
    CHECK(h_open(f, dir, path, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, WEFT_WASI_OFLAG_CREAT, H_RW, 0,
                 &fd) != OK);
    CHECK(h_open(f, dir, path, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, WEFT_WASI_OFLAG_TRUNC, H_RW, 0,
                 &fd) != OK);
    CHECK(h_stat(f, dir, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, path, &type, &size) != OK);
    uint32_t len = h_str(f, G_PATH, path);
    CHECK(W(path_filestat_set_times)(&f->g, dir, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, G_PATH, len, 0, 0,
                                     WEFT_WASI_FST_MTIM_NOW) != OK);
    CHECK(!leaked(f));
}

/* Every kind of call on a path whose directories lead outside. */
static void try_everything(fixture_t *f, uint32_t dir, const char *path) {
    try_following(f, dir, path);
    uint8_t type;
    uint64_t size;
    CHECK(h_stat(f, dir, 0, path, &type, &size) != OK);
    CHECK(h_unlink(f, dir, path) != OK);
    CHECK(h_rmdir(f, dir, path) != OK);
    CHECK(h_mkdir(f, dir, path) != OK);
    CHECK(h_symlink(f, "x", dir, path) != OK);
    CHECK(h_link(f, dir, 0, path, dir, "hardlink") != OK);
    CHECK(h_rename(f, dir, path, dir, "renamed") != OK);
    uint32_t len = h_str(f, G_PATH, path);
    CHECK(W(path_readlink)(&f->g, dir, G_PATH, len, G_BUF, 256, G_RES) != OK);
    CHECK(!leaked(f));
}

static void test_dotdot_does_not_leave_the_preopen(void) {
    fixture_t f;
    h_setup(&f);
    unsigned long before = h_tree_hash(f.outside);
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "../outside/secret", 0, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "..", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "a"), OK);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "a/../../outside/secret", 0, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "../outside/new"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, ".."), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "../outside/secret"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "../outside"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "a/../.."), WEFT_WASI_ENOTCAPABLE);
    try_everything(&f, FD_PREOPEN, "../outside/secret");
    try_everything(&f, FD_PREOPEN, "a/../../outside/new");
    /* ".." that stays inside is fine */
    h_write_file(f.sandbox, "inside", "ok");
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "a/../inside", 0, 0, H_READ, 0, &fd), OK);
    W(fd_close)(&f.g, fd);
    /* A directory opened beneath the preopen is a boundary of its own, as in wasmtime
     * (cap-std): ".." from it is refused even though it would stay in the preopen. */
    uint32_t sub;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "a", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &sub), OK);
    CHECK_EQ_INT(h_open(&f, sub, "../inside", 0, 0, H_READ, 0, &fd), WEFT_WASI_ENOTCAPABLE);
    W(fd_close)(&f.g, sub);
    CHECK_EQ_INT(h_tree_hash(f.outside), before);
    h_teardown(&f);
}

static void test_absolute_paths_are_refused(void) {
    fixture_t f;
    h_setup(&f);
    unsigned long before = h_tree_hash(f.outside);
    char abs[PATH_MAX];
    h_path(abs, f.outside, "secret");
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, abs, 0, 0, H_READ, 0, &fd), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "/etc/passwd", 0, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "/", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    /* even the preopen's own host path */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, f.sandbox, 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    h_path(abs, f.outside, "new");
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, abs), WEFT_WASI_ENOTCAPABLE);
    try_everything(&f, FD_PREOPEN, abs);
    h_path(abs, f.outside, "secret");
    try_everything(&f, FD_PREOPEN, abs);
    CHECK_EQ_INT(h_tree_hash(f.outside), before);
    h_teardown(&f);
}

static void test_an_absolute_symlink_is_not_followed_out(void) {
    fixture_t f;
    h_setup(&f);
    unsigned long before = h_tree_hash(f.outside);
    char target[PATH_MAX], link[PATH_MAX];
    h_path(target, f.outside, "secret");
    h_path(link, f.sandbox, "abs");
    CHECK(symlink(target, link) == 0); /* planted by the host, not the guest */
    h_path(target, f.outside, "");
    h_path(link, f.sandbox, "absdir");
    CHECK(symlink(target, link) == 0);
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "abs", WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "absdir/secret", 0, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "absdir/new", 0, WEFT_WASI_OFLAG_CREAT, H_RW, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "absdir/newdir"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "absdir/secret"), WEFT_WASI_ENOTCAPABLE);
    try_following(&f, FD_PREOPEN, "abs");
    try_everything(&f, FD_PREOPEN, "absdir/secret");
    try_everything(&f, FD_PREOPEN, "absdir/new");
    /* The link itself is the guest's to see and remove. */
    uint8_t type;
    uint64_t size;
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "abs", &type, &size), OK);
    CHECK_EQ_INT(type, WEFT_WASI_FILETYPE_SYMBOLIC_LINK);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "abs"), OK);
    CHECK_EQ_INT(h_tree_hash(f.outside), before);
    h_teardown(&f);
}

static void test_a_relative_symlink_chain_does_not_lead_out(void) {
    fixture_t f;
    h_setup(&f);
    unsigned long before = h_tree_hash(f.outside);
    char link[PATH_MAX];
    /* one -> two -> d/three -> ../../outside/secret, each step harmless alone */
    h_path(link, f.sandbox, "d");
    mkdir(link, 0755);
    h_path(link, f.sandbox, "d/three");
    CHECK(symlink("../../outside/secret", link) == 0);
    h_path(link, f.sandbox, "two");
    CHECK(symlink("d/three", link) == 0);
    h_path(link, f.sandbox, "one");
    CHECK(symlink("two", link) == 0);
    /* and a directory chain: up -> d/up2 -> ../.. */
    h_path(link, f.sandbox, "d/up2");
    CHECK(symlink("../..", link) == 0);
    h_path(link, f.sandbox, "up");
    CHECK(symlink("d/up2", link) == 0);
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "one", WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "up/outside/secret", 0, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "up/outside/made"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "up/outside/secret"), WEFT_WASI_ENOTCAPABLE);
    try_following(&f, FD_PREOPEN, "one");
    try_everything(&f, FD_PREOPEN, "up/outside/secret");
    try_everything(&f, FD_PREOPEN, "up/outside/made");
    CHECK_EQ_INT(h_tree_hash(f.outside), before);
    h_teardown(&f);
}

static void test_rename_cannot_move_things_out_or_in(void) {
    fixture_t f;
    h_setup(&f);
    unsigned long before = h_tree_hash(f.outside);
    h_write_file(f.sandbox, "mine", "inside");
    char link[PATH_MAX];
    h_path(link, f.sandbox, "out");
    CHECK(symlink("../outside", link) == 0);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "mine", FD_PREOPEN, "../outside/mine"),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "mine", FD_PREOPEN, "out/mine"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "../outside/secret", FD_PREOPEN, "stolen"),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "out/secret", FD_PREOPEN, "stolen"),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "mine", FD_PREOPEN, "/tmp/mine"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "mine", FD_PREOPEN, ".."), WEFT_WASI_ENOTCAPABLE);
    /* Renaming the link itself is fine: it is a name inside; it stays unfollowable. */
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "out", FD_PREOPEN, "out2"), OK);
    try_everything(&f, FD_PREOPEN, "out2/secret");
    CHECK(!h_exists(f.sandbox, "stolen"));
    CHECK(h_exists(f.sandbox, "mine"));
    CHECK_EQ_INT(h_tree_hash(f.outside), before);
    h_teardown(&f);
}

static void test_a_hard_link_cannot_reach_out(void) {
    fixture_t f;
    h_setup(&f);
    unsigned long before = h_tree_hash(f.outside);
    h_write_file(f.sandbox, "mine", "inside");
    char target[PATH_MAX], link[PATH_MAX];
    h_path(target, f.outside, "secret");
    h_path(link, f.sandbox, "abs");
    CHECK(symlink(target, link) == 0);
    h_path(link, f.sandbox, "rel");
    CHECK(symlink("../outside/secret", link) == 0);
    /* out: a second name for an inside file, outside */
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "mine", FD_PREOPEN, "../outside/mine"),
                 WEFT_WASI_ENOTCAPABLE);
    /* in: a name inside for the outside file, directly or by following a link */
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "../outside/secret", FD_PREOPEN, "stolen"),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(
        h_link(&f, FD_PREOPEN, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, "abs", FD_PREOPEN, "stolen"),
        WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(
        h_link(&f, FD_PREOPEN, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, "rel", FD_PREOPEN, "stolen"),
        WEFT_WASI_ENOTCAPABLE);
    CHECK(!h_exists(f.sandbox, "stolen"));
    /* Without following, the link names the symlink itself: still a symlink that
     * leads nowhere the guest may go. */
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "abs", FD_PREOPEN, "abs2"), OK);
    uint8_t type;
    uint64_t size;
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "abs2", &type, &size), OK);
    CHECK_EQ_INT(type, WEFT_WASI_FILETYPE_SYMBOLIC_LINK);
    try_following(&f, FD_PREOPEN, "abs2");
    struct stat st;
    CHECK(stat(target, &st) == 0 && st.st_nlink == 1); /* no new name for the secret */
    CHECK_EQ_INT(h_tree_hash(f.outside), before);
    h_teardown(&f);
}

static void test_a_symlink_the_guest_makes_cannot_be_followed_out(void) {
    fixture_t f;
    h_setup(&f);
    unsigned long before = h_tree_hash(f.outside);
    /* absolute targets are refused outright */
    CHECK_EQ_INT(h_symlink(&f, "/etc/passwd", FD_PREOPEN, "pw"), WEFT_WASI_ENOTCAPABLE);
    char abs[PATH_MAX];
    h_path(abs, f.outside, "secret");
    CHECK_EQ_INT(h_symlink(&f, abs, FD_PREOPEN, "s0"), WEFT_WASI_ENOTCAPABLE);
    CHECK(!h_exists(f.sandbox, "pw") && !h_exists(f.sandbox, "s0"));
    /* relative ones may be made, but lead nowhere */
    CHECK_EQ_INT(h_symlink(&f, "../outside/secret", FD_PREOPEN, "s1"), OK);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "d"), OK);
    CHECK_EQ_INT(h_symlink(&f, "../../outside", FD_PREOPEN, "d/up"), OK);
    CHECK_EQ_INT(h_symlink(&f, "../outside/created", FD_PREOPEN, "dangling"), OK);
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "s1", WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "d/up/secret", 0, 0, H_READ, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    /* creating through a dangling link would create outside */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "dangling", WEFT_WASI_LOOKUP_SYMLINK_FOLLOW,
                        WEFT_WASI_OFLAG_CREAT, H_RW, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK(!h_exists(f.outside, "created"));
    try_following(&f, FD_PREOPEN, "s1");
    try_everything(&f, FD_PREOPEN, "d/up/secret");
    try_everything(&f, FD_PREOPEN, "d/up/x");
    try_following(&f, FD_PREOPEN, "dangling");
    CHECK_EQ_INT(h_tree_hash(f.outside), before);
    h_teardown(&f);
}

/* ---- a directory swapped for a symlink while the guest uses it ------------------- */

typedef struct swapper {
    fixture_t *f;
    atomic_bool stop;
    long swaps;
} swapper_t;

/* Flips sandbox/d between a real directory and a symlink to outside, atomically
 * (renameat2 RENAME_EXCHANGE), as fast as it can. */
static void *swap_loop(void *arg) {
    swapper_t *s = arg;
    char a[PATH_MAX], b[PATH_MAX];
    h_path(a, s->f->sandbox, "d");
    h_path(b, s->f->sandbox, "d.other");
    while (!atomic_load(&s->stop)) {
        if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, 2 /* RENAME_EXCHANGE */) == 0)
            s->swaps++;
    }
    return NULL;
}

static void test_a_directory_swapped_for_a_symlink_mid_call_leads_nowhere(void) {
    fixture_t f;
    h_setup(&f);
    /* d is a real directory with a harmless file; d.other a symlink to outside. */
    char p[PATH_MAX];
    h_path(p, f.sandbox, "d");
    mkdir(p, 0755);
    h_write_file(f.sandbox, "d/secret", "inside file");
    h_write_file(f.outside, "victim", "must survive");
    h_path(p, f.sandbox, "d.other");
    CHECK(symlink("../outside", p) == 0);
    unsigned long before = h_tree_hash(f.outside);

    swapper_t s = {.f = &f};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, swap_loop, &s) == 0);
    int opened = 0, refused = 0, leaks = 0, made = 0;
    uint64_t start = weft_now_ns();
    for (int i = 0; i < 200000 && weft_now_ns() - start < 3000000000ull; i++) {
        uint32_t fd, n;
        char buf[64];
        uint32_t rc = h_open(&f, FD_PREOPEN, "d/secret", 0, 0, H_READ, 0, &fd);
        if (rc == OK) {
            opened++;
            h_read(&f, fd, buf, sizeof buf, &n);
            leaks += strcmp(buf, "inside file") != 0;
            W(fd_close)(&f.g, fd);
        } else {
            refused++;
        }
        rc = h_mkdir(&f, FD_PREOPEN, "d/made");
        if (rc == OK) {
            made++;
            h_rmdir(&f, FD_PREOPEN, "d/made");
        }
        h_unlink(&f, FD_PREOPEN, "d/victim");
        h_open(&f, FD_PREOPEN, "d/victim", 0, WEFT_WASI_OFLAG_TRUNC, H_RW, 0, &fd) == OK
            ? (void)W(fd_close)(&f.g, fd)
            : (void)0;
        h_rename(&f, FD_PREOPEN, "d/victim", FD_PREOPEN, "taken");
        uint8_t type;
        uint64_t size;
        h_stat(&f, FD_PREOPEN, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, "d/victim", &type, &size);
        if (leaked(&f))
            leaks++;
    }
    atomic_store(&s.stop, true);
    pthread_join(t, NULL);
    printf("swap race: %ld swaps, %d opens inside, %d refused, %d mkdirs inside\n", s.swaps, opened,
           refused, made);
    CHECK(s.swaps > 100);
    CHECK(opened > 0 && refused > 0); /* both states were really seen */
    CHECK_EQ_INT(leaks, 0);
    CHECK(!h_exists(f.sandbox, "taken"));
    CHECK(!h_exists(f.outside, "made"));
    char buf[64];
    CHECK(h_read_file(f.outside, "victim", buf, sizeof buf));
    CHECK_EQ_STR(buf, "must survive");
    CHECK_EQ_INT(h_tree_hash(f.outside), before);
    h_teardown(&f);
}

static void test_only_handed_over_descriptors_are_visible(void) {
    fixture_t f;
    /* weft itself has descriptors open (this test's own, say): none is a guest fd. */
    int null = open("/dev/null", O_RDONLY);
    int mine = dup2(null, 100);
    close(null);
    h_setup(&f);
    for (uint32_t fd = 4; fd < 64; fd++) {
        CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, fd, G_RES), WEFT_WASI_EBADF);
        CHECK_EQ_INT(W(fd_close)(&f.g, fd), WEFT_WASI_EBADF);
    }
    CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, (uint32_t)mine, G_RES), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, UINT32_MAX, G_RES), WEFT_WASI_EBADF);
    h_teardown(&f);
    close(mine);
}

int main(void) {
    test_dotdot_does_not_leave_the_preopen();
    test_absolute_paths_are_refused();
    test_an_absolute_symlink_is_not_followed_out();
    test_a_relative_symlink_chain_does_not_lead_out();
    test_rename_cannot_move_things_out_or_in();
    test_a_hard_link_cannot_reach_out();
    test_a_symlink_the_guest_makes_cannot_be_followed_out();
    test_a_directory_swapped_for_a_symlink_mid_call_leads_nowhere();
    test_only_handed_over_descriptors_are_visible();
    return TEST_DONE();
}
