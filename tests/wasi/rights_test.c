/* rights: what a descriptor may do is what its rights say; rights only ever shrink. */
#include "harness.h"

static uint64_t base_of(fixture_t *f, uint32_t fd) {
    CHECK_EQ_INT(W(fd_fdstat_get)(&f->g, fd, G_RES2), OK);
    return h_u64(f, G_RES2 + 8);
}
static uint64_t inheriting_of(fixture_t *f, uint32_t fd) {
    CHECK_EQ_INT(W(fd_fdstat_get)(&f->g, fd, G_RES2), OK);
    return h_u64(f, G_RES2 + 16);
}

static void test_a_file_gets_what_it_asked_for_and_what_applies(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "f", "abc");
    uint32_t fd, n;
    /* asked for everything, opened for reading: no write rights */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, R_ALL & ~WEFT_WASI_RIGHTS_NEED_WRITE, 0, &fd),
                 OK);
    uint64_t b = base_of(&f, fd);
    CHECK(b & WEFT_WASI_RIGHT_FD_READ);
    CHECK(!(b & WEFT_WASI_RIGHT_FD_WRITE));
    CHECK(!(b & WEFT_WASI_RIGHT_PATH_OPEN)); /* directory rights do not apply to a file */
    CHECK_EQ_INT(h_write(&f, fd, "x", &n), WEFT_WASI_ENOTCAPABLE);
    W(fd_close)(&f.g, fd);
    /* asked for reading only: cannot seek either */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, WEFT_WASI_RIGHT_FD_READ, 0, &fd), OK);
    CHECK_EQ_INT(base_of(&f, fd), WEFT_WASI_RIGHT_FD_READ);
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, 1, WEFT_WASI_WHENCE_SET, G_RES), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_filestat_get)(&f.g, fd, G_RES), WEFT_WASI_ENOTCAPABLE);
    char buf[8];
    CHECK_EQ_INT(h_read(&f, fd, buf, sizeof buf, &n), OK);
    CHECK_EQ_STR(buf, "abc");
    W(fd_close)(&f.g, fd);
    /* a directory gets directory rights */
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "d"), OK);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "d", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &fd), OK);
    CHECK_EQ_INT(base_of(&f, fd), WEFT_WASI_RIGHTS_DIR);
    W(fd_close)(&f.g, fd);
    h_teardown(&f);
}

static void test_rights_can_be_dropped_but_not_regained(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "f", "abc");
    uint32_t fd, n;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, H_RW, 0, &fd), OK);
    uint64_t all = base_of(&f, fd);
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, fd, all & ~WEFT_WASI_RIGHT_FD_WRITE, 0), OK);
    CHECK_EQ_INT(h_write(&f, fd, "x", &n), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, fd, all, 0), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(base_of(&f, fd), all & ~WEFT_WASI_RIGHT_FD_WRITE);
    /* tell needs only the tell right, seek the seek right */
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, fd, WEFT_WASI_RIGHT_FD_TELL, 0), OK);
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, 0, WEFT_WASI_WHENCE_CUR, G_RES), OK);
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, 1, WEFT_WASI_WHENCE_CUR, G_RES), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, fd, 0, 0), OK);
    CHECK_EQ_INT(W(fd_tell)(&f.g, fd, G_RES), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_fdstat_set_flags)(&f.g, fd, 0), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_sync)(&f.g, fd), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_advise)(&f.g, fd, 0, 0, 0), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_allocate)(&f.g, fd, 0, 1), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_filestat_set_size)(&f.g, fd, 0), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_filestat_set_times)(&f.g, fd, 0, 0, 0), WEFT_WASI_ENOTCAPABLE);
    W(fd_close)(&f.g, fd);
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, 99, 0, 0), WEFT_WASI_EBADF);
    h_teardown(&f);
}

static void test_a_directory_without_path_rights_can_do_nothing_with_paths(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "f", "abc");
    uint64_t b = base_of(&f, FD_PREOPEN), inh = inheriting_of(&f, FD_PREOPEN);
    uint64_t path_rights = WEFT_WASI_RIGHT_PATH_OPEN | WEFT_WASI_RIGHT_PATH_CREATE_DIRECTORY |
                           WEFT_WASI_RIGHT_PATH_UNLINK_FILE | WEFT_WASI_RIGHT_PATH_RENAME_SOURCE |
                           WEFT_WASI_RIGHT_PATH_SYMLINK | WEFT_WASI_RIGHT_PATH_FILESTAT_GET |
                           WEFT_WASI_RIGHT_FD_READDIR | WEFT_WASI_RIGHT_PATH_READLINK |
                           WEFT_WASI_RIGHT_PATH_LINK_SOURCE | WEFT_WASI_RIGHT_PATH_REMOVE_DIRECTORY;
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, FD_PREOPEN, b & ~path_rights, inh), OK);
    uint32_t fd;
    uint8_t type;
    uint64_t size;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, H_READ, 0, &fd), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "d"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "f"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "d"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "f", FD_PREOPEN, "g"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_symlink(&f, "f", FD_PREOPEN, "s"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "f", FD_PREOPEN, "h"), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "f", &type, &size), WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(W(fd_readdir)(&f.g, FD_PREOPEN, G_BUF, 4096, 0, G_RES), WEFT_WASI_ENOTCAPABLE);
    uint32_t n = h_str(&f, G_PATH, "f");
    CHECK_EQ_INT(W(path_readlink)(&f.g, FD_PREOPEN, G_PATH, n, G_BUF, 16, G_RES),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK(h_exists(f.sandbox, "f") && !h_exists(f.sandbox, "d") && !h_exists(f.sandbox, "g"));
    h_teardown(&f);
}

static void test_creating_needs_the_create_right_and_truncating_the_size_right(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "f", "abc");
    uint64_t b = base_of(&f, FD_PREOPEN), inh = inheriting_of(&f, FD_PREOPEN);
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, FD_PREOPEN,
                                         b & ~(WEFT_WASI_RIGHT_PATH_CREATE_FILE |
                                               WEFT_WASI_RIGHT_PATH_FILESTAT_SET_SIZE),
                                         inh),
                 OK);
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "new", 0, WEFT_WASI_OFLAG_CREAT, H_RW, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, WEFT_WASI_OFLAG_TRUNC, H_RW, 0, &fd),
                 WEFT_WASI_ENOTCAPABLE);
    CHECK(!h_exists(f.sandbox, "new"));
    char buf[8];
    h_read_file(f.sandbox, "f", buf, sizeof buf);
    CHECK_EQ_STR(buf, "abc");
    h_teardown(&f);
}

static void test_inheriting_rights_bound_what_opened_files_get(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "f", "abc");
    uint64_t b = base_of(&f, FD_PREOPEN), inh = inheriting_of(&f, FD_PREOPEN);
    CHECK(inh & WEFT_WASI_RIGHT_FD_WRITE);
    CHECK_EQ_INT(W(fd_fdstat_set_rights)(&f.g, FD_PREOPEN, b, inh & ~WEFT_WASI_RIGHT_FD_WRITE), OK);
    uint32_t fd, n;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, H_RW, 0, &fd), OK);
    CHECK(!(base_of(&f, fd) & WEFT_WASI_RIGHT_FD_WRITE));
    CHECK_EQ_INT(h_write(&f, fd, "x", &n), WEFT_WASI_ENOTCAPABLE);
    W(fd_close)(&f.g, fd);
    /* and a directory opened beneath passes on no more than it got */
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "d"), OK);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "d", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &fd), OK);
    CHECK(!(inheriting_of(&f, fd) & WEFT_WASI_RIGHT_FD_WRITE));
    uint32_t fd2;
    h_write_file(f.sandbox, "d/g", "");
    CHECK_EQ_INT(h_open(&f, fd, "g", 0, 0, H_RW, 0, &fd2), OK);
    CHECK_EQ_INT(h_write(&f, fd2, "x", &n), WEFT_WASI_ENOTCAPABLE);
    W(fd_close)(&f.g, fd2);
    W(fd_close)(&f.g, fd);
    char buf[8];
    h_read_file(f.sandbox, "f", buf, sizeof buf);
    CHECK_EQ_STR(buf, "abc");
    h_teardown(&f);
}

int main(void) {
    test_a_file_gets_what_it_asked_for_and_what_applies();
    test_rights_can_be_dropped_but_not_regained();
    test_a_directory_without_path_rights_can_do_nothing_with_paths();
    test_creating_needs_the_create_right_and_truncating_the_size_right();
    test_inheriting_rights_bound_what_opened_files_get();
    return TEST_DONE();
}
