/* fs: files and directories beneath a preopen, as a guest uses them. */
#include <time.h>

#include "harness.h"

static void test_preopen_is_fd_3_with_its_guest_name(void) {
    fixture_t f;
    h_setup(&f);
    CHECK_EQ_INT(W(fd_prestat_get)(&f.g, FD_PREOPEN, G_RES), OK);
    CHECK_EQ_INT(h_mem(&f, G_RES)[0], 0);
    CHECK_EQ_INT(h_u32(&f, G_RES + 4), 8);
    CHECK_EQ_INT(W(fd_prestat_dir_name)(&f.g, FD_PREOPEN, G_BUF, 7), WEFT_WASI_ENAMETOOLONG);
    CHECK_EQ_INT(W(fd_prestat_dir_name)(&f.g, FD_PREOPEN, G_BUF, 8), OK);
    CHECK(memcmp(h_mem(&f, G_BUF), "/sandbox", 8) == 0);
    CHECK_EQ_INT(W(fd_prestat_get)(&f.g, 4, G_RES), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, FD_PREOPEN, G_RES), OK);
    CHECK_EQ_INT(h_mem(&f, G_RES)[0], WEFT_WASI_FILETYPE_DIRECTORY);
    h_teardown(&f);
}

static void test_create_write_read_back(void) {
    fixture_t f;
    h_setup(&f);
    uint32_t fd, n;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "new.txt", 0, WEFT_WASI_OFLAG_CREAT, H_RW, 0, &fd), OK);
    CHECK_EQ_INT(h_write(&f, fd, "hello file", &n), OK);
    CHECK_EQ_INT(n, 10);
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, 0, WEFT_WASI_WHENCE_SET, G_RES), OK);
    char buf[64];
    CHECK_EQ_INT(h_read(&f, fd, buf, sizeof buf, &n), OK);
    CHECK_EQ_STR(buf, "hello file");
    CHECK_EQ_INT(W(fd_close)(&f.g, fd), OK);
    CHECK_EQ_INT(W(fd_close)(&f.g, fd), WEFT_WASI_EBADF);
    char host[64];
    CHECK(h_read_file(f.sandbox, "new.txt", host, sizeof host));
    CHECK_EQ_STR(host, "hello file");
    /* O_EXCL on an existing file */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "new.txt", 0, WEFT_WASI_OFLAG_CREAT | WEFT_WASI_OFLAG_EXCL,
                        H_RW, 0, &fd),
                 WEFT_WASI_EEXIST);
    /* O_TRUNC empties it */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "new.txt", 0, WEFT_WASI_OFLAG_TRUNC, H_RW, 0, &fd), OK);
    CHECK_EQ_INT(W(fd_filestat_get)(&f.g, fd, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES + 32), 0);
    CHECK_EQ_INT(h_mem(&f, G_RES)[16], WEFT_WASI_FILETYPE_REGULAR_FILE);
    CHECK_EQ_INT(W(fd_close)(&f.g, fd), OK);
    /* a missing file without O_CREAT */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "missing", 0, 0, H_READ, 0, &fd), WEFT_WASI_ENOENT);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "", 0, 0, H_READ, 0, &fd), WEFT_WASI_ENOENT);
    /* O_DIRECTORY on a file; O_CREAT with O_DIRECTORY */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "new.txt", 0, WEFT_WASI_OFLAG_DIRECTORY, H_READ, 0, &fd),
                 WEFT_WASI_ENOTDIR);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "d", 0, WEFT_WASI_OFLAG_DIRECTORY | WEFT_WASI_OFLAG_CREAT,
                        H_READ, 0, &fd),
                 WEFT_WASI_EINVAL);
    /* a file is not a directory to open things in */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "new.txt", 0, 0, H_READ, 0, &fd), OK);
    uint32_t fd2;
    CHECK_EQ_INT(h_open(&f, fd, "x", 0, 0, H_READ, 0, &fd2), WEFT_WASI_ENOTDIR);
    CHECK_EQ_INT(W(fd_close)(&f.g, fd), OK);
    h_teardown(&f);
}

static void test_a_file_opened_for_append_writes_at_the_end(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "log", "one\n");
    uint32_t fd, n;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "log", 0, 0, H_RW, WEFT_WASI_FDFLAG_APPEND, &fd), OK);
    CHECK_EQ_INT(W(fd_fdstat_get)(&f.g, fd, G_RES), OK);
    CHECK_EQ_INT(weft_wasi_get_u16(h_mem(&f, G_RES + 2)), WEFT_WASI_FDFLAG_APPEND);
    /* Even after seeking to the start, and even with pwrite at offset 0. */
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, 0, WEFT_WASI_WHENCE_SET, G_RES), OK);
    CHECK_EQ_INT(h_write(&f, fd, "two\n", &n), OK);
    weft_wasi_put_u32(h_mem(&f, G_IOV), G_BUF);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 6);
    memcpy(h_mem(&f, G_BUF), "three\n", 6);
    CHECK_EQ_INT(W(fd_pwrite)(&f.g, fd, G_IOV, 1, 0, G_RES), OK);
    char host[64];
    h_read_file(f.sandbox, "log", host, sizeof host);
    CHECK_EQ_STR(host, "one\ntwo\nthree\n");
    /* Append switched off: writes go where the offset is. */
    CHECK_EQ_INT(W(fd_fdstat_set_flags)(&f.g, fd, 0), OK);
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, 0, WEFT_WASI_WHENCE_SET, G_RES), OK);
    CHECK_EQ_INT(h_write(&f, fd, "ONE", &n), OK);
    h_read_file(f.sandbox, "log", host, sizeof host);
    CHECK_EQ_STR(host, "ONE\ntwo\nthree\n");
    /* ... and on again through set_flags */
    CHECK_EQ_INT(W(fd_fdstat_set_flags)(&f.g, fd, WEFT_WASI_FDFLAG_APPEND), OK);
    CHECK_EQ_INT(h_write(&f, fd, "four\n", &n), OK);
    h_read_file(f.sandbox, "log", host, sizeof host);
    CHECK_EQ_STR(host, "ONE\ntwo\nthree\nfour\n");
    CHECK_EQ_INT(W(fd_fdstat_set_flags)(&f.g, fd, WEFT_WASI_FDFLAG_SYNC), WEFT_WASI_EINVAL);
    W(fd_close)(&f.g, fd);
    h_teardown(&f);
}

static void test_seeking_past_the_end_leaves_a_hole_of_zeros(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "f", "abc");
    uint32_t fd, n;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, H_RW, 0, &fd), OK);
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, 10, WEFT_WASI_WHENCE_END, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES), 13);
    char buf[32];
    CHECK_EQ_INT(h_read(&f, fd, buf, sizeof buf, &n), OK); /* past the end: EOF */
    CHECK_EQ_INT(n, 0);
    CHECK_EQ_INT(h_write(&f, fd, "Z", &n), OK);
    CHECK_EQ_INT(W(fd_tell)(&f.g, fd, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES), 14);
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, (uint64_t)-14, WEFT_WASI_WHENCE_CUR, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES), 0);
    CHECK_EQ_INT(h_read(&f, fd, buf, sizeof buf, &n), OK);
    CHECK_EQ_INT(n, 14);
    CHECK(memcmp(buf, "abc\0\0\0\0\0\0\0\0\0\0Z", 14) == 0);
    /* before the start */
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, (uint64_t)-1, WEFT_WASI_WHENCE_SET, G_RES), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(fd_seek)(&f.g, fd, 0, 3, G_RES), WEFT_WASI_EINVAL);
    /* pread/pwrite leave the offset alone */
    weft_wasi_put_u32(h_mem(&f, G_IOV), G_BUF);
    weft_wasi_put_u32(h_mem(&f, G_IOV + 4), 2);
    CHECK_EQ_INT(W(fd_pread)(&f.g, fd, G_IOV, 1, 1, G_RES), OK);
    CHECK(memcmp(h_mem(&f, G_BUF), "bc", 2) == 0);
    CHECK_EQ_INT(W(fd_tell)(&f.g, fd, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES), 14);
    W(fd_close)(&f.g, fd);
    h_teardown(&f);
}

static void test_size_times_allocate_advise_sync(void) {
    fixture_t f;
    h_setup(&f);
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, WEFT_WASI_OFLAG_CREAT, H_RW, 0, &fd), OK);
    CHECK_EQ_INT(W(fd_filestat_set_size)(&f.g, fd, 5000), OK);
    CHECK_EQ_INT(W(fd_filestat_get)(&f.g, fd, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES + 32), 5000);
    CHECK_EQ_INT(W(fd_allocate)(&f.g, fd, 0, 8192), OK);
    CHECK_EQ_INT(W(fd_filestat_get)(&f.g, fd, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES + 32), 8192);
    CHECK_EQ_INT(W(fd_advise)(&f.g, fd, 0, 0, 1), OK);
    CHECK_EQ_INT(W(fd_advise)(&f.g, fd, 0, 0, 6), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(W(fd_datasync)(&f.g, fd), OK);
    CHECK_EQ_INT(W(fd_sync)(&f.g, fd), OK);
    uint64_t t = 1000000000ull * 1234567 + 89;
    CHECK_EQ_INT(
        W(fd_filestat_set_times)(&f.g, fd, t, t + 1, WEFT_WASI_FST_ATIM | WEFT_WASI_FST_MTIM), OK);
    CHECK_EQ_INT(W(fd_filestat_get)(&f.g, fd, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES + 40), t);
    CHECK_EQ_INT(h_u64(&f, G_RES + 48), t + 1);
    CHECK_EQ_INT(
        W(fd_filestat_set_times)(&f.g, fd, 0, 0, WEFT_WASI_FST_ATIM | WEFT_WASI_FST_ATIM_NOW),
        WEFT_WASI_EINVAL);
    /* MTIM_NOW: close to the host's clock */
    CHECK_EQ_INT(W(fd_filestat_set_times)(&f.g, fd, 0, 0, WEFT_WASI_FST_MTIM_NOW), OK);
    CHECK_EQ_INT(W(fd_filestat_get)(&f.g, fd, G_RES), OK);
    CHECK(h_u64(&f, G_RES + 48) > (uint64_t)time(NULL) * 1000000000ull - 10000000000ull);
    CHECK_EQ_INT(h_u64(&f, G_RES + 40), t); /* atime untouched */
    W(fd_close)(&f.g, fd);
    /* path_filestat_set_times, following a link or not */
    CHECK_EQ_INT(h_symlink(&f, "f", FD_PREOPEN, "lnk"), OK);
    uint32_t n = h_str(&f, G_PATH, "lnk");
    CHECK_EQ_INT(W(path_filestat_set_times)(&f.g, FD_PREOPEN, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW,
                                            G_PATH, n, 0, 42, WEFT_WASI_FST_MTIM),
                 OK);
    struct stat st;
    char p[PATH_MAX];
    h_path(p, f.sandbox, "f");
    CHECK(stat(p, &st) == 0 && st.st_mtim.tv_sec == 0 && st.st_mtim.tv_nsec == 42);
    CHECK_EQ_INT(
        W(path_filestat_set_times)(&f.g, FD_PREOPEN, 0, G_PATH, n, 0, 77, WEFT_WASI_FST_MTIM), OK);
    h_path(p, f.sandbox, "lnk");
    CHECK(lstat(p, &st) == 0 && st.st_mtim.tv_nsec == 77);
    h_path(p, f.sandbox, "f");
    CHECK(stat(p, &st) == 0 && st.st_mtim.tv_nsec == 42);
    h_teardown(&f);
}

static void test_directories_symlinks_and_stat(void) {
    fixture_t f;
    h_setup(&f);
    uint8_t type;
    uint64_t size;
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "dir"), OK);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "dir"), WEFT_WASI_EEXIST);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "dir/sub/"), OK);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "dir/."), WEFT_WASI_EEXIST);
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "dir/sub", &type, &size), OK);
    CHECK_EQ_INT(type, WEFT_WASI_FILETYPE_DIRECTORY);
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, ".", &type, &size), OK);
    CHECK_EQ_INT(type, WEFT_WASI_FILETYPE_DIRECTORY);
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "dir/sub/..", &type, &size), OK);
    h_write_file(f.sandbox, "dir/file", "12345");
    CHECK_EQ_INT(h_symlink(&f, "file", FD_PREOPEN, "dir/link"), OK);
    CHECK_EQ_INT(h_symlink(&f, "file", FD_PREOPEN, "dir/link"), WEFT_WASI_EEXIST);
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "dir/link", &type, &size), OK);
    CHECK_EQ_INT(type, WEFT_WASI_FILETYPE_SYMBOLIC_LINK);
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, "dir/link", &type, &size),
                 OK);
    CHECK_EQ_INT(type, WEFT_WASI_FILETYPE_REGULAR_FILE);
    CHECK_EQ_INT(size, 5);
    /* readlink, cut to the buffer like readlink(2) */
    uint32_t n = h_str(&f, G_PATH, "dir/link");
    CHECK_EQ_INT(W(path_readlink)(&f.g, FD_PREOPEN, G_PATH, n, G_BUF, 64, G_RES), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 4);
    CHECK(memcmp(h_mem(&f, G_BUF), "file", 4) == 0);
    CHECK_EQ_INT(W(path_readlink)(&f.g, FD_PREOPEN, G_PATH, n, G_BUF, 2, G_RES), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 2);
    n = h_str(&f, G_PATH, "dir/file");
    CHECK_EQ_INT(W(path_readlink)(&f.g, FD_PREOPEN, G_PATH, n, G_BUF, 64, G_RES), WEFT_WASI_EINVAL);
    /* opening a symlink: followed only when asked */
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "dir/link", 0, 0, H_READ, 0, &fd), WEFT_WASI_ELOOP);
    CHECK_EQ_INT(
        h_open(&f, FD_PREOPEN, "dir/link", WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, 0, H_READ, 0, &fd), OK);
    W(fd_close)(&f.g, fd);
    /* removing */
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "dir"), WEFT_WASI_ENOTEMPTY);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "dir/file"), WEFT_WASI_ENOTDIR);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "dir/sub"), WEFT_WASI_EISDIR);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "dir/file/"), WEFT_WASI_ENOTDIR);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "."), WEFT_WASI_EINVAL);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "dir/link"), OK);
    CHECK(h_exists(f.sandbox, "dir/file")); /* the link went, not its target */
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "dir/file"), OK);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "dir/sub/"), OK);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "dir"), OK);
    CHECK(!h_exists(f.sandbox, "dir"));
    h_teardown(&f);
}

static void test_a_file_renamed_over_another_replaces_it(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "a", "new contents");
    h_write_file(f.sandbox, "b", "old contents");
    uint32_t fd, n;
    /* b stays readable through a descriptor opened before the rename */
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "b", 0, 0, H_READ, 0, &fd), OK);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "a", FD_PREOPEN, "b"), OK);
    char buf[64];
    CHECK(!h_exists(f.sandbox, "a"));
    h_read_file(f.sandbox, "b", buf, sizeof buf);
    CHECK_EQ_STR(buf, "new contents");
    CHECK_EQ_INT(h_read(&f, fd, buf, sizeof buf, &n), OK);
    CHECK_EQ_STR(buf, "old contents");
    W(fd_close)(&f.g, fd);
    /* directories */
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "d1"), OK);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "d1", FD_PREOPEN, "d2/"), OK);
    CHECK(h_exists(f.sandbox, "d2"));
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "b", FD_PREOPEN, "c/"), WEFT_WASI_ENOTDIR);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "b", FD_PREOPEN, "d2"), WEFT_WASI_EISDIR);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "missing", FD_PREOPEN, "x"), WEFT_WASI_ENOENT);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, ".", FD_PREOPEN, "x"), WEFT_WASI_EBUSY);
    /* between two directory descriptors */
    uint32_t dfd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "d2", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &dfd), OK);
    CHECK_EQ_INT(h_rename(&f, FD_PREOPEN, "b", dfd, "moved"), OK);
    CHECK(h_exists(f.sandbox, "d2/moved"));
    W(fd_close)(&f.g, dfd);
    h_teardown(&f);
}

static void test_a_deleted_open_file_stays_readable_and_writable(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "doomed", "still here");
    uint32_t fd, n;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "doomed", 0, 0, H_RW, 0, &fd), OK);
    CHECK_EQ_INT(h_unlink(&f, FD_PREOPEN, "doomed"), OK);
    CHECK(!h_exists(f.sandbox, "doomed"));
    char buf[64];
    CHECK_EQ_INT(h_read(&f, fd, buf, sizeof buf, &n), OK);
    CHECK_EQ_STR(buf, "still here");
    CHECK_EQ_INT(h_write(&f, fd, "!", &n), OK);
    CHECK_EQ_INT(W(fd_filestat_get)(&f.g, fd, G_RES), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES + 24), 0); /* nlink */
    CHECK_EQ_INT(h_u64(&f, G_RES + 32), 11);
    uint8_t type;
    uint64_t size;
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "doomed", &type, &size), WEFT_WASI_ENOENT);
    CHECK_EQ_INT(W(fd_close)(&f.g, fd), OK);
    h_teardown(&f);
}

static void test_hard_links(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "orig", "shared");
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "orig", FD_PREOPEN, "copy"), OK);
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "orig", FD_PREOPEN, "copy"), WEFT_WASI_EEXIST);
    uint8_t type;
    uint64_t size;
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "copy", &type, &size), OK);
    CHECK_EQ_INT(h_u64(&f, G_RES + 24), 2);
    /* following a symlink to its target */
    CHECK_EQ_INT(h_symlink(&f, "orig", FD_PREOPEN, "sl"), OK);
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, WEFT_WASI_LOOKUP_SYMLINK_FOLLOW, "sl", FD_PREOPEN, "third"),
                 OK);
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "third", &type, &size), OK);
    CHECK_EQ_INT(type, WEFT_WASI_FILETYPE_REGULAR_FILE);
    CHECK_EQ_INT(h_u64(&f, G_RES + 24), 3);
    /* ... or linking the symlink itself */
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "sl", FD_PREOPEN, "sl2"), OK);
    CHECK_EQ_INT(h_stat(&f, FD_PREOPEN, 0, "sl2", &type, &size), OK);
    CHECK_EQ_INT(type, WEFT_WASI_FILETYPE_SYMBOLIC_LINK);
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "dir"), OK);
    CHECK_EQ_INT(h_link(&f, FD_PREOPEN, 0, "dir", FD_PREOPEN, "dir2"), WEFT_WASI_EPERM);
    h_teardown(&f);
}

/* Reads fd's whole listing with buffers of bufsize bytes, the way wasi-libc does:
 * entries that are whole are taken, the next call starts at the last whole entry's
 * d_next. Counts each name in seen[] (index from the name "fNNNN"); dots in *dots. */
static int list_all(fixture_t *f, uint32_t fd, uint32_t bufsize, int *seen, int nseen, int *dots,
                    int *calls) {
    uint64_t cookie = 0;
    int total = 0;
    for (;;) {
        uint32_t rc = W(fd_readdir)(&f->g, fd, G_BUF, bufsize, cookie, G_RES);
        (*calls)++;
        if (rc != OK)
            return -1;
        uint32_t used = h_u32(f, G_RES);
        uint32_t off = 0;
        int whole = 0;
        while (off + WEFT_WASI_DIRENT_SIZE <= used) {
            const uint8_t *ent = h_mem(f, G_BUF + off);
            uint32_t namlen = weft_wasi_get_u32(ent + 16);
            if (off + WEFT_WASI_DIRENT_SIZE + namlen > used)
                break;
            char name[256] = {0};
            memcpy(name, ent + WEFT_WASI_DIRENT_SIZE, namlen);
            if (!strcmp(name, ".") || !strcmp(name, ".."))
                (*dots)++;
            else if (name[0] == 'f' && atoi(name + 1) < nseen)
                seen[atoi(name + 1)]++;
            total++;
            whole++;
            cookie = weft_wasi_get_u64(ent);
            off += WEFT_WASI_DIRENT_SIZE + namlen;
        }
        if (used < bufsize)
            return total;
        if (whole == 0)
            return -2; /* buffer too small for one entry */
    }
}

static void test_a_thousand_entries_read_in_small_buffers(void) {
    fixture_t f;
    h_setup(&f);
    enum { N = 1000 };
    char dir[PATH_MAX];
    h_path(dir, f.sandbox, "big");
    mkdir(dir, 0755);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%04d", i);
        h_write_file(dir, name, "");
    }
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "big", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &fd), OK);
    /* 64 bytes: two entries at most per call, most calls end in a cut entry. */
    static int seen[N];
    int dots = 0, calls = 0;
    CHECK_EQ_INT(list_all(&f, fd, 64, seen, N, &dots, &calls), N + 2);
    CHECK_EQ_INT(dots, 2);
    int once = 0;
    for (int i = 0; i < N; i++)
        once += seen[i] == 1;
    CHECK_EQ_INT(once, N);
    CHECK(calls > N / 2);
    /* A buffer that cannot hold one entry whole. */
    CHECK_EQ_INT(W(fd_readdir)(&f.g, fd, G_BUF, 10, 0, G_RES), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 10);
    /* A large buffer in one go. */
    memset(seen, 0, sizeof seen);
    dots = calls = 0;
    CHECK_EQ_INT(list_all(&f, fd, H_BUF_BYTES, seen, N, &dots, &calls), N + 2);
    CHECK_EQ_INT(calls, 1);
    W(fd_close)(&f.g, fd);
    h_teardown(&f);
}

static void test_readdir_resumes_correctly_when_entries_are_deleted_between_calls(void) {
    fixture_t f;
    h_setup(&f);
    enum { N = 200 };
    char dir[PATH_MAX];
    h_path(dir, f.sandbox, "d");
    mkdir(dir, 0755);
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%04d", i);
        h_write_file(dir, name, "");
    }
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "d", 0, WEFT_WASI_OFLAG_DIRECTORY, R_ALL, 0, &fd), OK);
    /* "rm -r": read a few, delete what was read, go on from the cookie. */
    uint64_t cookie = 0;
    int removed = 0;
    for (;;) {
        CHECK_EQ_INT(W(fd_readdir)(&f.g, fd, G_BUF, 200, cookie, G_RES), OK);
        uint32_t used = h_u32(&f, G_RES), off = 0;
        while (off + WEFT_WASI_DIRENT_SIZE <= used) {
            const uint8_t *ent = h_mem(&f, G_BUF + off);
            uint32_t namlen = weft_wasi_get_u32(ent + 16);
            if (off + WEFT_WASI_DIRENT_SIZE + namlen > used)
                break;
            char name[256] = {0};
            memcpy(name, ent + WEFT_WASI_DIRENT_SIZE, namlen);
            if (strcmp(name, ".") && strcmp(name, "..")) {
                char p[300];
                snprintf(p, sizeof p, "d/%s", name);
                removed += h_unlink(&f, FD_PREOPEN, p) == OK;
            }
            cookie = weft_wasi_get_u64(ent);
            off += WEFT_WASI_DIRENT_SIZE + namlen;
        }
        if (used < 200)
            break;
    }
    CHECK_EQ_INT(removed, N);
    CHECK_EQ_INT(h_rmdir(&f, FD_PREOPEN, "d"), OK);
    W(fd_close)(&f.g, fd);
    h_teardown(&f);
}

static void test_readdir_reports_types_and_refuses_files(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "file", "x");
    CHECK_EQ_INT(h_mkdir(&f, FD_PREOPEN, "sub"), OK);
    CHECK_EQ_INT(h_symlink(&f, "file", FD_PREOPEN, "link"), OK);
    CHECK_EQ_INT(W(fd_readdir)(&f.g, FD_PREOPEN, G_BUF, 4096, 0, G_RES), OK);
    uint32_t used = h_u32(&f, G_RES), off = 0;
    int found = 0;
    while (off < used) {
        const uint8_t *ent = h_mem(&f, G_BUF + off);
        uint32_t namlen = weft_wasi_get_u32(ent + 16);
        uint8_t type = ent[20];
        const char *name = (const char *)ent + WEFT_WASI_DIRENT_SIZE;
        if (namlen == 4 && !memcmp(name, "file", 4))
            found += type == WEFT_WASI_FILETYPE_REGULAR_FILE;
        if (namlen == 3 && !memcmp(name, "sub", 3))
            found += type == WEFT_WASI_FILETYPE_DIRECTORY;
        if (namlen == 4 && !memcmp(name, "link", 4))
            found += type == WEFT_WASI_FILETYPE_SYMBOLIC_LINK;
        if (namlen == 1 && name[0] == '.')
            found += weft_wasi_get_u64(ent) == 1;
        off += WEFT_WASI_DIRENT_SIZE + namlen;
    }
    CHECK_EQ_INT(found, 4);
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "file", 0, 0, H_READ, 0, &fd), OK);
    CHECK_EQ_INT(W(fd_readdir)(&f.g, fd, G_BUF, 4096, 0, G_RES), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(fd_readdir)(&f.g, 1, G_BUF, 4096, 0, G_RES), WEFT_WASI_EBADF);
    /* resuming after "." and ".." by cookie */
    CHECK_EQ_INT(W(fd_readdir)(&f.g, FD_PREOPEN, G_BUF, 4096, 2, G_RES), OK);
    CHECK_EQ_INT(h_u32(&f, G_RES), 3 * WEFT_WASI_DIRENT_SIZE + 4 + 3 + 4);
    h_teardown(&f);
}

static void test_reading_a_directory_descriptor_is_ebadf(void) {
    fixture_t f;
    h_setup(&f);
    char buf[8];
    uint32_t n;
    CHECK_EQ_INT(h_read(&f, FD_PREOPEN, buf, sizeof buf, &n), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(fd_seek)(&f.g, FD_PREOPEN, 0, 0, G_RES), WEFT_WASI_EBADF);
    CHECK_EQ_INT(W(fd_close)(&f.g, FD_PREOPEN), OK); /* a guest may close a preopen */
    uint32_t fd;
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "x", 0, WEFT_WASI_OFLAG_CREAT, H_RW, 0, &fd),
                 WEFT_WASI_EBADF);
    h_teardown(&f);
}

static void test_the_descriptor_table_has_a_bound(void) {
    fixture_t f;
    h_setup(&f);
    h_write_file(f.sandbox, "f", "");
    uint32_t fd, last = 0, rc = OK;
    int opened = 0;
    while ((rc = h_open(&f, FD_PREOPEN, "f", 0, 0, H_READ, 0, &fd)) == OK) {
        last = fd;
        opened++;
    }
    CHECK_EQ_INT(rc, WEFT_WASI_EMFILE);
    CHECK_EQ_INT(opened, WEFT_WASI_MAX_FDS - 4);
    CHECK_EQ_INT(last, WEFT_WASI_MAX_FDS - 1);
    /* the lowest free number is reused */
    CHECK_EQ_INT(W(fd_close)(&f.g, 10), OK);
    CHECK_EQ_INT(h_open(&f, FD_PREOPEN, "f", 0, 0, H_READ, 0, &fd), OK);
    CHECK_EQ_INT(fd, 10);
    h_teardown(&f); /* which checks that destroy closed all 1020 */
}

int main(void) {
    test_preopen_is_fd_3_with_its_guest_name();
    test_create_write_read_back();
    test_a_file_opened_for_append_writes_at_the_end();
    test_seeking_past_the_end_leaves_a_hole_of_zeros();
    test_size_times_allocate_advise_sync();
    test_directories_symlinks_and_stat();
    test_a_file_renamed_over_another_replaces_it();
    test_a_deleted_open_file_stays_readable_and_writable();
    test_hard_links();
    test_a_thousand_entries_read_in_small_buffers();
    test_readdir_resumes_correctly_when_entries_are_deleted_between_calls();
    test_readdir_reports_types_and_refuses_files();
    test_reading_a_directory_descriptor_is_ebadf();
    test_the_descriptor_table_has_a_bound();
    return TEST_DONE();
}
