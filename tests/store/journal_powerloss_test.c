/* store: a power loss loses no acknowledged record of the SQLite journal.
 *
 * A power loss keeps of each file what was synced and may lose every write since. The
 * test simulates the worst case: a child process appends through a VFS that passes every
 * call on to SQLite's own but first copies, for each write and truncation, the bytes and
 * size it replaces into an undo file beside the file; a sync of the file empties its undo
 * file. The parent kills the child with SIGKILL at some point, plays every undo file
 * back (last change first), so that each file holds what it held at its last sync, and
 * removes the -shm file (never synced: it is rebuilt). Then every record whose append
 * the child saw acknowledged must be in the journal. Directory entries are not simulated
 * (open syncs the folder of a new file; SQLite that of a new -wal file).
 *
 * The child appends from several threads, and is killed after some acknowledgements plus
 * a random delay, three times in a row on the same journal, so that kills fall before,
 * during and after checkpoints. With synchronous=NORMAL instead of FULL, this test fails:
 * the kill -9 test of journal_test.c cannot see that difference. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/store.h"
#include "test.h"

/* ---- The VFS that keeps undo files ---------------------------------------------------- */

/* One per path: the undo file, and a descriptor to read the bytes a write replaces.
 * Never closed (the child dies by SIGKILL): closing a descriptor of the database file
 * would drop SQLite's POSIX locks on it. */
typedef struct pl_path {
    char *path;
    int undo_fd, read_fd;
} pl_path_t;

static pthread_mutex_t pl_mu = PTHREAD_MUTEX_INITIALIZER;
static pl_path_t pl_paths[16];
static int pl_npaths;
static sqlite3_vfs *pl_real;

typedef struct pl_file {
    sqlite3_file base;
    pl_path_t *p; /* NULL: a temporary file, passed through */
    sqlite3_file *real;
} pl_file_t;

static pl_path_t *pl_path(const char *path) {
    pthread_mutex_lock(&pl_mu);
    pl_path_t *p = NULL;
    for (int i = 0; i < pl_npaths && !p; i++)
        if (strcmp(pl_paths[i].path, path) == 0)
            p = &pl_paths[i];
    if (!p && pl_npaths < 16) {
        char undo[600];
        snprintf(undo, sizeof undo, "%s.undo", path);
        p = &pl_paths[pl_npaths++];
        p->path = strdup(path);
        p->undo_fd = open(undo, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
        p->read_fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    pthread_mutex_unlock(&pl_mu);
    return p;
}

/* Before bytes [off, off + len) of the file change (or the file is cut to off): one
 * record of the offset, the length, the size before, and the bytes that were there. */
static void pl_remember(pl_path_t *p, int64_t off, int64_t len) {
    pthread_mutex_lock(&pl_mu);
    struct stat sb;
    int64_t size = fstat(p->read_fd, &sb) == 0 ? sb.st_size : 0;
    int64_t have = off < size ? (size - off < len ? size - off : len) : 0;
    char *old = malloc((size_t)have + 1);
    if (have > 0 && pread(p->read_fd, old, (size_t)have, off) != have)
        abort();
    int64_t head[3] = {off, have, size};
    struct iovec iov[2] = {{head, sizeof head}, {old, (size_t)have}};
    if (writev(p->undo_fd, iov, 2) != (ssize_t)(sizeof head + (size_t)have))
        abort();
    free(old);
    pthread_mutex_unlock(&pl_mu);
}

static int pl_close(sqlite3_file *f) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xClose(pf->real);
}
static int pl_read(sqlite3_file *f, void *buf, int amt, sqlite3_int64 off) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xRead(pf->real, buf, amt, off);
}
static int pl_write(sqlite3_file *f, const void *buf, int amt, sqlite3_int64 off) {
    pl_file_t *pf = (pl_file_t *)f;
    if (pf->p)
        pl_remember(pf->p, off, amt);
    return pf->real->pMethods->xWrite(pf->real, buf, amt, off);
}
static int pl_truncate(sqlite3_file *f, sqlite3_int64 size) {
    pl_file_t *pf = (pl_file_t *)f;
    if (pf->p)
        pl_remember(pf->p, size, INT64_MAX / 2);
    return pf->real->pMethods->xTruncate(pf->real, size);
}
static int pl_sync(sqlite3_file *f, int flags) {
    pl_file_t *pf = (pl_file_t *)f;
    int rc = pf->real->pMethods->xSync(pf->real, flags);
    if (rc == SQLITE_OK && pf->p) {
        pthread_mutex_lock(&pl_mu);
        if (ftruncate(pf->p->undo_fd, 0) != 0)
            abort();
        pthread_mutex_unlock(&pl_mu);
    }
    return rc;
}
static int pl_file_size(sqlite3_file *f, sqlite3_int64 *size) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xFileSize(pf->real, size);
}
static int pl_lock(sqlite3_file *f, int level) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xLock(pf->real, level);
}
static int pl_unlock(sqlite3_file *f, int level) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xUnlock(pf->real, level);
}
static int pl_check_lock(sqlite3_file *f, int *out) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xCheckReservedLock(pf->real, out);
}
static int pl_file_control(sqlite3_file *f, int op, void *arg) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xFileControl(pf->real, op, arg);
}
static int pl_sector_size(sqlite3_file *f) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xSectorSize(pf->real);
}
static int pl_device(sqlite3_file *f) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xDeviceCharacteristics(pf->real);
}
static int pl_shm_map(sqlite3_file *f, int pg, int sz, int extend, void volatile **pp) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xShmMap(pf->real, pg, sz, extend, pp);
}
static int pl_shm_lock(sqlite3_file *f, int offset, int n, int flags) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xShmLock(pf->real, offset, n, flags);
}
static void pl_shm_barrier(sqlite3_file *f) {
    pl_file_t *pf = (pl_file_t *)f;
    pf->real->pMethods->xShmBarrier(pf->real);
}
static int pl_shm_unmap(sqlite3_file *f, int del) {
    pl_file_t *pf = (pl_file_t *)f;
    return pf->real->pMethods->xShmUnmap(pf->real, del);
}
static int pl_fetch(sqlite3_file *f, sqlite3_int64 off, int amt, void **pp) {
    *pp = NULL; /* no memory-mapped I/O: every write goes through pl_write */
    return SQLITE_OK;
}
static int pl_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p) {
    return SQLITE_OK;
}

static const sqlite3_io_methods pl_methods = {
    3,
    pl_close,
    pl_read,
    pl_write,
    pl_truncate,
    pl_sync,
    pl_file_size,
    pl_lock,
    pl_unlock,
    pl_check_lock,
    pl_file_control,
    pl_sector_size,
    pl_device,
    pl_shm_map,
    pl_shm_lock,
    pl_shm_barrier,
    pl_shm_unmap,
    pl_fetch,
    pl_unfetch,
};

static int pl_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out) {
    pl_file_t *pf = (pl_file_t *)f;
    pf->real = (sqlite3_file *)(pf + 1);
    int rc = pl_real->xOpen(pl_real, name, pf->real, flags, out);
    if (rc != SQLITE_OK) {
        pf->base.pMethods = NULL;
        return rc;
    }
    pf->p = name ? pl_path(name) : NULL;
    pf->base.pMethods = &pl_methods;
    return SQLITE_OK;
}
static int pl_delete(sqlite3_vfs *vfs, const char *name, int sync_dir) {
    return pl_real->xDelete(pl_real, name, sync_dir);
}
static int pl_access(sqlite3_vfs *vfs, const char *name, int flags, int *out) {
    return pl_real->xAccess(pl_real, name, flags, out);
}
static int pl_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out) {
    return pl_real->xFullPathname(pl_real, name, n, out);
}
static int pl_randomness(sqlite3_vfs *vfs, int n, char *out) {
    return pl_real->xRandomness(pl_real, n, out);
}
static int pl_sleep(sqlite3_vfs *vfs, int us) {
    return pl_real->xSleep(pl_real, us);
}
static int pl_current_time(sqlite3_vfs *vfs, double *out) {
    return pl_real->xCurrentTime(pl_real, out);
}
static int pl_last_error(sqlite3_vfs *vfs, int n, char *out) {
    return pl_real->xGetLastError(pl_real, n, out);
}
static int pl_current_time64(sqlite3_vfs *vfs, sqlite3_int64 *out) {
    return pl_real->xCurrentTimeInt64(pl_real, out);
}

static sqlite3_vfs pl_vfs;

static void pl_register(void) {
    pl_real = sqlite3_vfs_find(NULL);
    pl_vfs = (sqlite3_vfs){
        .iVersion = 2,
        .szOsFile = (int)sizeof(pl_file_t) + pl_real->szOsFile,
        .mxPathname = pl_real->mxPathname,
        .zName = "powerloss",
        .xOpen = pl_open,
        .xDelete = pl_delete,
        .xAccess = pl_access,
        .xFullPathname = pl_full_pathname,
        .xRandomness = pl_randomness,
        .xSleep = pl_sleep,
        .xCurrentTime = pl_current_time,
        .xGetLastError = pl_last_error,
        .xCurrentTimeInt64 = pl_current_time64,
    };
    sqlite3_vfs_register(&pl_vfs, 1);
}

/* The power loss: the file as of its last sync. Returns the changes undone. */
static int play_back(const char *path) {
    char undo[600];
    snprintf(undo, sizeof undo, "%s.undo", path);
    FILE *u = fopen(undo, "rb");
    if (!u)
        return 0;
    typedef struct rec {
        int64_t off, have, size;
        char *old;
    } rec_t;
    rec_t *recs = NULL;
    int n = 0, cap = 0;
    for (;;) {
        int64_t head[3];
        if (fread(head, sizeof head, 1, u) != 1)
            break;
        char *old = malloc((size_t)head[1] + 1);
        if (head[1] && fread(old, (size_t)head[1], 1, u) != 1) {
            free(old); /* cut short by the kill: that write never happened */
            break;
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            recs = realloc(recs, (size_t)cap * sizeof *recs);
        }
        recs[n++] = (rec_t){head[0], head[1], head[2], old};
    }
    fclose(u);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    for (int i = n - 1; fd >= 0 && i >= 0; i--) {
        if (recs[i].have && pwrite(fd, recs[i].old, (size_t)recs[i].have, recs[i].off) < 0)
            perror("pwrite");
        if (ftruncate(fd, recs[i].size) != 0)
            perror("ftruncate");
    }
    if (fd >= 0)
        close(fd);
    for (int i = 0; i < n; i++)
        free(recs[i].old);
    free(recs);
    unlink(undo);
    return n;
}

/* ---- The child and the parent ------------------------------------------------------- */

enum { THREADS = 4, MAX_ACKS = 20000 };

static char dir[256], path[512];

typedef struct appender {
    weft_journal_stream_t *s;
    int id, fd, round;
} appender_t;

static void *append_forever(void *arg) {
    appender_t *a = arg;
    for (int i = 0;; i++) {
        char data[64];
        snprintf(data, sizeof data, "r%d-t%d-%d", a->round, a->id, i);
        weft_journal_entry_t e = {data, strlen(data), data, strlen(data)};
        weft_journal_ack_t ack;
        if (weft_journal_append(a->s, &e, 1, &ack, NULL) != 0)
            _exit(3);
        char line[96];
        int len = snprintf(line, sizeof line, "%" PRIu64 " %d %d\n", ack.seq, a->id, i);
        if (write(a->fd, line, (size_t)len) != len)
            _exit(4);
    }
    return NULL;
}

static uint64_t acked_seq[MAX_ACKS];
static char acked_data[MAX_ACKS][64];
static int nacked;

static void round_of(int round, int acks_before_kill, int extra_ms) {
    int fds[2];
    CHECK_EQ_INT(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        pl_register();
        weft_journal_t *j = NULL;
        weft_journal_stream_t *s = NULL;
        weft_error_t err = {0};
        if (weft_journal_open(path, NULL, &j, &err) || weft_journal_stream(j, "b", &s, &err)) {
            fprintf(stderr, "child: %s\n", err.msg);
            _exit(2);
        }
        static appender_t a[THREADS];
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++) {
            a[i] = (appender_t){s, i, fds[1], round};
            pthread_create(&th[i], NULL, append_forever, &a[i]);
        }
        for (;;)
            pause();
    }
    close(fds[1]);
    FILE *in = fdopen(fds[0], "r");
    int got = 0;
    uint64_t seq;
    int who, idx;
    while (got < acks_before_kill && nacked < MAX_ACKS &&
           fscanf(in, "%" SCNu64 " %d %d", &seq, &who, &idx) == 3) {
        acked_seq[nacked] = seq;
        snprintf(acked_data[nacked], sizeof acked_data[nacked], "r%d-t%d-%d", round, who, idx);
        nacked++;
        got++;
    }
    /* Acknowledgements still arrive while the kill is on its way: they count too, since
     * the child saw them before it died. */
    usleep((useconds_t)extra_ms * 1000);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    while (nacked < MAX_ACKS && fscanf(in, "%" SCNu64 " %d %d", &seq, &who, &idx) == 3) {
        acked_seq[nacked] = seq;
        snprintf(acked_data[nacked], sizeof acked_data[nacked], "r%d-t%d-%d", round, who, idx);
        nacked++;
        got++;
    }
    fclose(in);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    CHECK_EQ_INT(got >= acks_before_kill, 1);

    char f[600];
    int undone = play_back(path);
    snprintf(f, sizeof f, "%s-wal", path);
    undone += play_back(f);
    snprintf(f, sizeof f, "%s-shm", path);
    unlink(f);

    weft_journal_t *j = NULL;
    weft_journal_stream_t *s = NULL;
    weft_error_t err = {0};
    CHECK_EQ_INT(weft_journal_open(path, NULL, &j, &err), 0);
    if (!j) {
        fprintf(stderr, "reopen: %s\n", err.msg);
        return;
    }
    CHECK_EQ_INT(weft_journal_stream(j, "b", &s, &err), 0);
    uint64_t latest = weft_journal_latest(s);
    char **datas = calloc((size_t)latest + 1, sizeof *datas);
    uint64_t after = 0, n = 0, gaps = 0;
    for (;;) {
        weft_journal_page_t page;
        if (weft_journal_read(s, after, 1000, 0, &page, &err) != 0 || page.n == 0) {
            weft_journal_page_free(&page);
            break;
        }
        for (size_t i = 0; i < page.n; i++) {
            weft_journal_record_t *r = &page.records[i];
            if (r->seq != after + 1)
                gaps++;
            after = r->seq;
            if (r->seq <= latest)
                datas[r->seq] = strndup((const char *)r->data, r->len);
            n++;
        }
        weft_journal_page_free(&page);
    }
    int missing = 0;
    for (int i = 0; i < nacked; i++)
        if (acked_seq[i] > latest || !datas[acked_seq[i]] ||
            strcmp(datas[acked_seq[i]], acked_data[i]) != 0)
            missing++;
    printf("round %d: %d acknowledged in all, %d writes since the last syncs undone, %" PRIu64
           " records after the power loss, %d acknowledged missing, %" PRIu64 " gaps\n",
           round, nacked, undone, n, missing, gaps);
    fflush(stdout);
    CHECK_EQ_INT(missing, 0);
    CHECK_EQ_INT(gaps, 0);
    CHECK_EQ_INT(n, latest);
    for (uint64_t i = 0; i <= latest; i++)
        free(datas[i]);
    free(datas);
    weft_journal_close(j);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/weft-powerloss-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/events.db", dir);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    round_of(1, 300, rand() % 20);
    round_of(2, 2000, rand() % 20);
    round_of(3, 4000, rand() % 20);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return TEST_DONE();
}
