/* File-system work a real program does, through wasi-libc, one scenario per
 * subcommand: "wasi_fs SCENARIO DIR". Prints what it saw; tests/wasi/guest_fs.sh checks it. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wasi/api.h>

static char path[1024];

static const char *at(const char *dir, const char *name) {
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void put(const char *file, const char *text, const char *mode) {
    FILE *fp = fopen(file, mode);
    if (!fp) {
        printf("fopen %s: %s\n", file, strerror(errno));
        exit(1);
    }
    fputs(text, fp);
    fclose(fp);
}

static void show(const char *file) {
    char buf[256] = {0};
    FILE *fp = fopen(file, "r");
    if (!fp) {
        printf("%s: %s\n", file, strerror(errno));
        return;
    }
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    for (size_t i = 0; i < n; i++)
        if (buf[i] == '\n')
            buf[i] = '|';
        else if (buf[i] == '\0')
            buf[i] = '0';
    printf("%s=[%s]\n", strrchr(file, '/') + 1, buf);
}

/* N files, listed by readdir() and by raw fd_readdir with a 64-byte buffer. */
static int many(const char *dir, int n) {
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "f%04d", i);
        int fd = open(at(dir, name), O_CREAT | O_WRONLY, 0644);
        if (fd < 0) {
            printf("create %s: %s\n", name, strerror(errno));
            return 1;
        }
        close(fd);
    }
    DIR *d = opendir(dir);
    int count = 0, dots = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            dots++;
        else
            count++;
    closedir(d);
    printf("readdir: %d entries, %d dots\n", count, dots);

    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    static char seen[100000];
    memset(seen, 0, sizeof seen);
    __wasi_dircookie_t cookie = 0;
    int calls = 0, twice = 0, total = 0;
    for (;;) {
        uint8_t buf[64];
        __wasi_size_t used;
        if (__wasi_fd_readdir(fd, buf, sizeof buf, cookie, &used) != 0) {
            printf("fd_readdir failed\n");
            return 1;
        }
        calls++;
        size_t off = 0;
        while (off + sizeof(__wasi_dirent_t) <= used) {
            __wasi_dirent_t ent;
            memcpy(&ent, buf + off, sizeof ent);
            if (off + sizeof ent + ent.d_namlen > used)
                break;
            char name[256] = {0};
            memcpy(name, buf + off + sizeof ent, ent.d_namlen);
            if (name[0] == 'f') {
                int i = atoi(name + 1);
                twice += seen[i]++ > 0;
                total++;
            }
            cookie = ent.d_next;
            off += sizeof ent + ent.d_namlen;
        }
        if (used < sizeof buf)
            break;
    }
    close(fd);
    printf("fd_readdir 64-byte buffers: %d entries, %d twice, %s calls\n", total, twice,
           calls > n / 2 ? "many" : "few");
    return 0;
}

static int append(const char *dir) {
    const char *f = at(dir, "log");
    put(f, "one\n", "w");
    int fd = open(f, O_WRONLY | O_APPEND);
    lseek(fd, 0, SEEK_SET);
    if (write(fd, "two\n", 4) != 4)
        printf("write failed\n");
    close(fd);
    put(f, "three\n", "a");
    show(f);
    return 0;
}

static int seek_past_end(const char *dir) {
    const char *f = at(dir, "holes");
    put(f, "abc", "w");
    int fd = open(f, O_RDWR);
    off_t off = lseek(fd, 5, SEEK_END);
    char c;
    printf("offset %lld, read at end: %zd\n", (long long)off, read(fd, &c, 1));
    if (write(fd, "Z", 1) != 1)
        printf("write failed\n");
    struct stat st;
    fstat(fd, &st);
    printf("size %lld\n", (long long)st.st_size);
    close(fd);
    show(f);
    return 0;
}

static int rename_over(const char *dir) {
    put(at(dir, "new"), "new contents", "w");
    put(at(dir, "old"), "old contents", "w");
    FILE *keep = fopen(at(dir, "old"), "r");
    char from[1024];
    snprintf(from, sizeof from, "%s/new", dir);
    printf("rename: %d\n", rename(from, at(dir, "old")));
    show(at(dir, "old"));
    printf("new exists: %d\n", access(at(dir, "new"), F_OK) == 0);
    char buf[64] = {0};
    fread(buf, 1, sizeof buf - 1, keep);
    printf("opened before: [%s]\n", buf);
    fclose(keep);
    return 0;
}

static int delete_open(const char *dir) {
    const char *f = at(dir, "doomed");
    put(f, "still readable", "w");
    FILE *fp = fopen(f, "r+");
    printf("unlink: %d\n", unlink(f));
    printf("exists: %d\n", access(f, F_OK) == 0);
    char buf[64] = {0};
    fread(buf, 1, sizeof buf - 1, fp);
    printf("read after unlink: [%s]\n", buf);
    fclose(fp);
    return 0;
}

static int tree(const char *dir) {
    printf("mkdir: %d\n", mkdir(at(dir, "a"), 0755));
    printf("mkdir again: %s\n", mkdir(at(dir, "a"), 0755) ? strerror(errno) : "ok");
    printf("mkdir deep: %d\n", mkdir(at(dir, "a/b"), 0755));
    put(at(dir, "a/b/file"), "x", "w");
    char target[] = "b/file";
    printf("symlink: %d\n", symlink(target, at(dir, "a/link")));
    char buf[64] = {0};
    printf("readlink: %zd [%s]\n", readlink(at(dir, "a/link"), buf, sizeof buf), buf);
    struct stat st;
    lstat(at(dir, "a/link"), &st);
    printf("lstat link: %s\n", S_ISLNK(st.st_mode) ? "symlink" : "other");
    stat(at(dir, "a/link"), &st);
    printf("stat link: %s size %lld\n", S_ISREG(st.st_mode) ? "file" : "other",
           (long long)st.st_size);
    printf("rmdir non-empty: %s\n", rmdir(at(dir, "a")) ? strerror(errno) : "ok");
    char old[1024];
    snprintf(old, sizeof old, "%s/a/b/file", dir);
    printf("link: %d\n", link(old, at(dir, "hard")));
    stat(at(dir, "hard"), &st);
    printf("nlink: %d\n", (int)st.st_nlink);
    unlink(at(dir, "a/link"));
    unlink(at(dir, "a/b/file"));
    rmdir(at(dir, "a/b"));
    printf("rmdir: %d\n", rmdir(at(dir, "a")));
    printf("gone: %d\n", access(at(dir, "a"), F_OK) != 0);
    return 0;
}

static int readonly(const char *dir) {
    show(at(dir, "data"));
    FILE *fp = fopen(at(dir, "data"), "a");
    printf("append: %s\n", fp ? "opened" : strerror(errno));
    printf("create: %s\n",
           open(at(dir, "new"), O_CREAT | O_WRONLY, 0644) < 0 ? strerror(errno) : "created");
    printf("mkdir: %s\n", mkdir(at(dir, "d"), 0755) ? strerror(errno) : "made");
    printf("unlink: %s\n", unlink(at(dir, "data")) ? strerror(errno) : "removed");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: wasi_fs SCENARIO DIR\n");
        return 2;
    }
    const char *s = argv[1], *dir = argv[2];
    if (!strcmp(s, "many"))
        return many(dir, argc > 3 ? atoi(argv[3]) : 1000);
    if (!strcmp(s, "append"))
        return append(dir);
    if (!strcmp(s, "seek"))
        return seek_past_end(dir);
    if (!strcmp(s, "rename"))
        return rename_over(dir);
    if (!strcmp(s, "delete-open"))
        return delete_open(dir);
    if (!strcmp(s, "tree"))
        return tree(dir);
    if (!strcmp(s, "readonly"))
        return readonly(dir);
    if (!strcmp(s, "exit"))
        exit(atoi(dir));
    fprintf(stderr, "unknown scenario %s\n", s);
    return 2;
}
