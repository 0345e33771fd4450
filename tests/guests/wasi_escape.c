/* Tries to get out of its preopen ("/sandbox") every way it can, through wasi-libc,
 * and prints one line per attempt: "NAME: refused (REASON)" or "NAME: ESCAPED ...".
 * tests/wasi/guest_escape.sh checks no attempt escaped and that the host outside the
 * sandbox is unchanged. The host plants links first: sandbox/abs -> OUTSIDE/secret,
 * sandbox/rel -> ../outside/secret, sandbox/updir -> .. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int escaped;

static void report(const char *name, int ok, const char *detail) {
    if (ok) {
        escaped++;
        printf("%s: ESCAPED %s\n", name, detail);
    } else {
        printf("%s: refused (%s)\n", name, strerror(errno));
    }
}

static void try_read(const char *name, const char *p) {
    int fd = open(p, O_RDONLY);
    char buf[64] = {0};
    if (fd >= 0) {
        read(fd, buf, sizeof buf - 1);
        close(fd);
    }
    report(name, fd >= 0, buf);
}

static void try_create(const char *name, const char *p) {
    int fd = open(p, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd >= 0) {
        write(fd, "pwned", 5);
        close(fd);
    }
    report(name, fd >= 0, p);
}

int main(int argc, char **argv) {
    const char *outside = argc > 1 ? argv[1] : "/outside";
    char abs[512];
    snprintf(abs, sizeof abs, "%s/secret", outside);
    try_read("dotdot", "/sandbox/../outside/secret");
    try_read("dotdot-deep", "/sandbox/a/../../outside/secret");
    try_read("absolute-host-path", abs);
    try_read("etc-passwd", "/etc/passwd");
    try_read("absolute-symlink", "/sandbox/abs");
    try_read("relative-symlink", "/sandbox/rel");
    try_read("symlinked-dir", "/sandbox/updir/outside/secret");
    try_create("create-through-symlinked-dir", "/sandbox/updir/outside/created");
    try_create("create-dotdot", "/sandbox/../outside/created");
    report("mkdir-out", mkdir("/sandbox/../outside/made", 0755) == 0, "");
    report("unlink-out", unlink("/sandbox/updir/outside/secret") == 0, "");
    report("rename-out", rename("/sandbox/mine", "/sandbox/updir/outside/mine") == 0, "");
    report("rename-in", rename("/sandbox/updir/outside/secret", "/sandbox/stolen") == 0, "");
    report("link-out", link("/sandbox/mine", "/sandbox/../outside/hard") == 0, "");
    report("link-in",
           link("/sandbox/rel", "/sandbox/hard") == 0 && open("/sandbox/hard", O_RDONLY) >= 0, "");
    /* links the guest makes itself */
    int made = symlink("../outside/secret", "/sandbox/mylink");
    printf("symlink relative out: %s\n", made ? strerror(errno) : "made");
    try_read("own-relative-symlink", "/sandbox/mylink");
    report("own-absolute-symlink", symlink(abs, "/sandbox/myabs") == 0, "made");
    symlink("../../outside", "/sandbox/a/up");
    try_create("own-dir-symlink", "/sandbox/a/up/created");
    printf("escaped: %d\n", escaped);
    return escaped ? 1 : 0;
}
