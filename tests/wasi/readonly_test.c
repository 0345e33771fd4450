/* readonly: a read-only preopen (fd 4, "/ro") can be read and listed; every change
 * beneath it fails with EROFS, and the host tree stays as it was. */
#include "harness.h"

static void test_reading_works(void) {
    fixture_t f;
    h_setup_with(&f, NULL, true);
    uint32_t fd, n;
    char buf[64];
    CHECK_EQ_INT(h_open(&f, FD_RO, "data", 0, 0, H_READ, 0, &fd), OK);
    CHECK_EQ_INT(h_read(&f, fd, buf, sizeof buf, &n), OK);
    CHECK_EQ_STR(buf, "read-only data");
    CHECK_EQ_INT(W(fd_close)(&f.g, fd), OK);
    uint8_t type;
    uint64_t size;
    CHECK_EQ_INT(h_stat(&f, FD_RO, 0, "data", &type, &size), OK);
    CHECK_EQ_INT(W(fd_readdir)(&f.g, FD_RO, G_BUF, 4096, 0, G_RES), OK);
    CHECK(h_u32(&f, G_RES) > 2 * WEFT_WASI_DIRENT_SIZE);
    CHECK_EQ_INT(W(fd_prestat_dir_name)(&f.g, FD_RO, G_BUF, 3), OK);
    CHECK(memcmp(h_mem(&f, G_BUF), "/ro", 3) == 0);
    h_teardown(&f);
}

static void test_every_change_is_erofs(void) {
    fixture_t f;
    h_setup_with(&f, NULL, true);
    char p[PATH_MAX];
    h_path(p, f.ro, "sub");
    mkdir(p, 0755);
    h_path(p, f.ro, "link");
    CHECK(symlink("data", p) == 0);
    unsigned long before = h_tree_hash(f.ro);
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_RO, "data", 0, 0, H_RW, 0, &fd), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_open(&f, FD_RO, "data", 0, 0, H_READ, WEFT_WASI_FDFLAG_APPEND, &fd),
                 WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_open(&f, FD_RO, "new", 0, WEFT_WASI_OFLAG_CREAT, H_READ, 0, &fd),
                 WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_open(&f, FD_RO, "data", 0, WEFT_WASI_OFLAG_TRUNC, H_READ, 0, &fd),
                 WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_mkdir(&f, FD_RO, "newdir"), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_rmdir(&f, FD_RO, "sub"), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_unlink(&f, FD_RO, "data"), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_rename(&f, FD_RO, "data", FD_RO, "moved"), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_symlink(&f, "data", FD_RO, "l2"), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_link(&f, FD_RO, 0, "data", FD_RO, "hard"), WEFT_WASI_EROFS);
    uint32_t n = h_str(&f, G_PATH, "data");
    CHECK_EQ_INT(
        W(path_filestat_set_times)(&f.g, FD_RO, 0, G_PATH, n, 0, 0, WEFT_WASI_FST_MTIM_NOW),
        WEFT_WASI_EROFS);
    CHECK_EQ_INT(W(fd_filestat_set_times)(&f.g, FD_RO, 0, 0, WEFT_WASI_FST_MTIM_NOW),
                 WEFT_WASI_EROFS);
    /* through a file opened for reading */
    CHECK_EQ_INT(h_open(&f, FD_RO, "data", 0, 0, H_READ, 0, &fd), OK);
    CHECK_EQ_INT(W(fd_filestat_set_times)(&f.g, fd, 0, 0, WEFT_WASI_FST_MTIM_NOW), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_write(&f, fd, "x", &n), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_filestat_set_size)(&f.g, fd, 0), WEFT_WASI_ENOTCAPABLE);
    W(fd_close)(&f.g, fd);
    /* through a directory opened beneath it */
    uint32_t sub;
    CHECK_EQ_INT(h_open(&f, FD_RO, "sub", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &sub), OK);
    CHECK_EQ_INT(h_open(&f, sub, "new", 0, WEFT_WASI_OFLAG_CREAT, H_RW, 0, &fd), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_mkdir(&f, sub, "x"), WEFT_WASI_EROFS);
    W(fd_close)(&f.g, sub);
    CHECK_EQ_INT(h_tree_hash(f.ro), before);
    h_teardown(&f);
}

static void test_nothing_crosses_between_read_only_and_writable(void) {
    fixture_t f;
    h_setup_with(&f, NULL, true);
    unsigned long before = h_tree_hash(f.ro);
    h_write_file(f.sandbox, "mine", "writable");
    /* A hard link from the read-only tree into the writable one would let the guest
     * write the read-only file through the new name. */
    CHECK_EQ_INT(h_link(&f, FD_RO, 0, "data", FD_PREOPEN, "alias"), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "mine", FD_RO, "alias"), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_rename(&f, FD_RO, "data", FD_PREOPEN, "taken"), WEFT_WASI_EROFS);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "mine", FD_RO, "planted"), WEFT_WASI_EROFS);
    CHECK(!h_exists(f.sandbox, "alias") && !h_exists(f.sandbox, "taken"));
    CHECK(h_exists(f.sandbox, "mine"));
    /* the writable preopen is still writable */
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "new", 0, WEFT_WASI_OFLAG_CREAT, H_RW, 0, &fd), OK);
    W(fd_close)(&f.g, fd);
    CHECK_EQ_INT(h_tree_hash(f.ro), before);
    h_teardown(&f);
}

int main(void) {
    test_reading_works();
    test_every_change_is_erofs();
    test_nothing_crosses_between_read_only_and_writable();
    return TEST_DONE();
}
