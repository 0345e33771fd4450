/* The digit classifier's trainer, a native program. It reads scikit-learn's handwritten
 * digits (Debian's python3-sklearn ships them as digits.csv.gz: 1797 rows of 64 grey
 * levels 0..16 and a label), keeps a fifth of each digit aside (a stratified split with a
 * fixed seed), trains the network of digits.h on the rest with SGD and momentum, prints
 * the accuracy on both parts and writes the weights.
 *
 *   train [--data FILE] [--out FILE] [--seed N] [--epochs N]
 *   train --png DIGIT OUT [--index N] [--data FILE] [--weights FILE]
 *         draws the N-th held-out sample of DIGIT (default the first) as a 96x96 PNG,
 *         or a JPEG if OUT ends in .jpg; with the weights, says how the model classifies
 *         the sample itself
 *   train --classify IMAGE [--weights FILE]
 *         classifies a PNG or JPEG as the guest does, with the same sentence
 */
#include "digits.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_SIMD /* as in the guest: the same pixels from a JPEG */
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>

#define DEFAULT_DATA "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
#define DEFAULT_WEIGHTS "model/digits.weights"
enum {
    MAX_ROWS = 4096,
    PIXELS = DIGITS_SIDE * DIGITS_SIDE,
    HELD_OUT_EVERY = 5, /* one sample of each digit in five is held out */
    SPLIT_SEED = 1797,  /* the split does not move with --seed */
    DRAW_SCALE = 8,     /* a sample's cell is 8x8 pixels in a drawing ... */
    DRAW_MARGIN = 2,    /* ... with two blank cells around it */
};

typedef struct {
    unsigned char level[PIXELS]; /* 0..16, ink high */
    int label;
    int line; /* in the CSV file, from 1 */
    int held_out;
    float input[PIXELS]; /* digits_prepare's, from the sample drawn at scale 1 */
} sample_t;

/* splitmix64: a small seeded generator, the same on every machine. */
static uint64_t rng_state;
static uint64_t rng_next(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}
static double rng_uniform(void) { /* [0, 1) */
    return (rng_next() >> 11) * (1.0 / 9007199254740992.0);
}
static void shuffle(int *v, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next() % (uint64_t)(i + 1)), t = v[i];
        v[i] = v[j], v[j] = t;
    }
}

/* Reads the CSV (gzip or plain: zlib reads both). Returns the number of rows, or -1
 * with a message naming the file and line. */
static int read_digits(const char *path, sample_t *rows, int max) {
    gzFile f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr,
                "train: %s: cannot open it: %s (install python3-sklearn, or "
                "pass --data FILE)\n",
                path, strerror(errno));
        return -1;
    }
    char line[1024];
    int n = 0;
    while (gzgets(f, line, sizeof line)) {
        if (n == max) {
            fprintf(stderr, "train: %s: more than %d rows\n", path, max);
            goto bad;
        }
        char *p = line, *end;
        for (int i = 0; i <= PIXELS; i++) {
            long v = strtol(p, &end, 10);
            int sep = i < PIXELS ? ',' : '\n';
            if (end == p || v < 0 || v > (i < PIXELS ? 16 : 9) || (*end != sep && *end != '\r')) {
                fprintf(stderr, "train: %s:%d: field %d is not %s\n", path, n + 1, i + 1,
                        i < PIXELS ? "a grey level 0..16" : "a digit 0..9");
                goto bad;
            }
            if (i < PIXELS)
                rows[n].level[i] = (unsigned char)v;
            else
                rows[n].label = (int)v;
            p = end + 1;
        }
        rows[n].line = n + 1;
        rows[n].held_out = 0;
        n++;
    }
    gzclose(f);
    if (n == 0)
        fprintf(stderr, "train: %s: no rows\n", path);
    return n ? n : -1;
bad:
    gzclose(f);
    return -1;
}

/* A sample as a picture: dark ink on white, each cell scale x scale pixels, with a
 * margin of blank cells. *side gets the picture's width and height. */
static unsigned char *draw(const sample_t *s, int scale, int *side) {
    int cells = DIGITS_SIDE + 2 * DRAW_MARGIN, n = cells * scale;
    unsigned char *px = malloc((size_t)n * n);
    if (!px)
        abort();
    memset(px, 255, (size_t)n * n);
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            int cy = y / scale - DRAW_MARGIN, cx = x / scale - DRAW_MARGIN;
            if (cy >= 0 && cy < DIGITS_SIDE && cx >= 0 && cx < DIGITS_SIDE)
                px[y * n + x] =
                    (unsigned char)(255 - (s->level[cy * DIGITS_SIDE + cx] * 255 + 8) / 16);
        }
    *side = n;
    return px;
}

/* Holds out every HELD_OUT_EVERY-th sample of each digit, in an order shuffled with
 * SPLIT_SEED: a stratified 80/20 split, the same on every run. */
static void split(sample_t *rows, int n) {
    int *order = malloc(sizeof(int) * n), count[DIGITS_CLASSES] = {0};
    for (int i = 0; i < n; i++)
        order[i] = i;
    rng_state = SPLIT_SEED;
    shuffle(order, n);
    for (int i = 0; i < n; i++) {
        sample_t *s = &rows[order[i]];
        s->held_out = count[s->label]++ % HELD_OUT_EVERY == 0;
    }
    free(order);
}

static double he_uniform(int fan_in) {
    return (2 * rng_uniform() - 1) * sqrt(6.0 / fan_in);
}

/* One step of SGD with momentum on one sample. */
static void learn(digits_net_t *net, digits_net_t *velocity, const sample_t *s, float rate) {
    enum { S = DIGITS_SIDE, K = DIGITS_KERNEL };
    static digits_acts_t a;
    static digits_net_t g;
    memset(&g, 0, sizeof g);
    digits_forward(net, s->input, &a);
    float dlogit[DIGITS_CLASSES], dhid[DIGITS_HIDDEN] = {0}, dpool[DIGITS_FLAT] = {0};
    float dconv[DIGITS_CONV * S * S] = {0};
    for (int k = 0; k < DIGITS_CLASSES; k++) {
        dlogit[k] = a.prob[k] - (k == s->label);
        g.out_b[k] = dlogit[k];
        for (int h = 0; h < DIGITS_HIDDEN; h++) {
            g.out_w[k][h] = dlogit[k] * a.hidden[h];
            dhid[h] += net->out_w[k][h] * dlogit[k];
        }
    }
    for (int h = 0; h < DIGITS_HIDDEN; h++) {
        if (a.hidden[h] <= 0)
            continue;
        g.hid_b[h] = dhid[h];
        for (int i = 0; i < DIGITS_FLAT; i++) {
            g.hid_w[h][i] = dhid[h] * a.pooled[i];
            dpool[i] += net->hid_w[h][i] * dhid[h];
        }
    }
    for (int i = 0; i < DIGITS_FLAT; i++)
        if (a.pooled[i] > 0)
            dconv[a.pool_from[i]] += dpool[i];
    for (int c = 0; c < DIGITS_CONV; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float d = dconv[(c * S + y) * S + x];
                if (d == 0)
                    continue;
                g.conv_b[c] += d;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int iy = y + ky - K / 2, ix = x + kx - K / 2;
                        if (iy >= 0 && iy < S && ix >= 0 && ix < S)
                            g.conv_w[c][ky][kx] += d * s->input[iy * S + ix];
                    }
            }
    float *w = (float *)net, *v = (float *)velocity, *d = (float *)&g;
    for (size_t i = 0; i < sizeof g / sizeof(float); i++) {
        v[i] = 0.9f * v[i] - rate * d[i];
        w[i] += v[i];
    }
}

/* Correct answers on the held-out (held_out = 1) or training (0) part; *n their count. */
static int score(const digits_net_t *net, const sample_t *rows, int count, int held_out, int *n) {
    static digits_acts_t a;
    int right = 0;
    *n = 0;
    for (int i = 0; i < count; i++)
        if (rows[i].held_out == held_out) {
            ++*n;
            right += digits_forward(net, rows[i].input, &a) == rows[i].label;
        }
    return right;
}

static int train(sample_t *rows, int n, const char *out, unsigned seed, int epochs) {
    static digits_net_t net, velocity;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rng_state = seed;
    float *w = (float *)&net;
    for (size_t i = 0; i < sizeof net / sizeof(float); i++) {
        size_t at = i * sizeof(float);
        int fan_in = at < offsetof(digits_net_t, conv_b)  ? DIGITS_KERNEL * DIGITS_KERNEL
                     : at < offsetof(digits_net_t, hid_w) ? 0
                     : at < offsetof(digits_net_t, hid_b) ? DIGITS_FLAT
                     : at < offsetof(digits_net_t, out_w) ? 0
                     : at < offsetof(digits_net_t, out_b) ? DIGITS_HIDDEN
                                                          : 0;
        w[i] = fan_in ? (float)he_uniform(fan_in) : 0;
    }
    int *order = malloc(sizeof(int) * n), m = 0;
    for (int i = 0; i < n; i++)
        if (!rows[i].held_out)
            order[m++] = i;
    for (int e = 0; e < epochs; e++) {
        shuffle(order, m);
        float rate = 0.0005f / (1 + 0.2f * e);
        for (int i = 0; i < m; i++)
            learn(&net, &velocity, &rows[order[i]], rate);
    }
    free(order);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int nt, nh, rt = score(&net, rows, n, 0, &nt), rh = score(&net, rows, n, 1, &nh);
    printf("trained on %d samples, %d epochs, seed %u, in %.2f s\n", nt, epochs, seed,
           (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    printf("training accuracy: %.1f%% (%d of %d)\n", 100.0 * rt / nt, rt, nt);
    printf("held-out accuracy: %.1f%% (%d of %d)\n", 100.0 * rh / nh, rh, nh);
    char err[512];
    if (digits_save(out, &net, err, sizeof err) != 0) {
        fprintf(stderr, "train: %s\n", err);
        return 1;
    }
    printf("weights: %s (%zu bytes)\n", out, 8 + 8 * sizeof(uint32_t) + sizeof net);
    return 0;
}

static int classify(const char *image, const char *weights) {
    static digits_net_t net;
    static digits_acts_t a;
    char err[512], sentence[128];
    if (digits_load(weights, &net, err, sizeof err) != 0) {
        fprintf(stderr, "train: %s\n", err);
        return 1;
    }
    int w, h, comp;
    unsigned char *ga = stbi_load(image, &w, &h, &comp, 2);
    if (!ga) {
        fprintf(stderr, "train: %s: %s\n", image, stbi_failure_reason());
        return 1;
    }
    unsigned char *grey = malloc((size_t)w * h);
    float input[PIXELS];
    digits_flatten(ga, (size_t)w * h, grey);
    int blank = digits_prepare(grey, w, h, input) != 0;
    stbi_image_free(ga);
    free(grey);
    if (blank) {
        fprintf(stderr, "train: %s: no digit in it (it is blank)\n", image);
        return 1;
    }
    int label = digits_forward(&net, input, &a);
    digits_sentence(sentence, sizeof sentence, &a, label);
    printf("%s\n", sentence);
    return 0;
}

static int render(sample_t *rows, int n, int digit, int index, const char *out,
                  const char *weights) {
    sample_t *s = NULL;
    for (int i = 0, seen = 0; i < n && !s; i++)
        if (rows[i].held_out && rows[i].label == digit && seen++ == index)
            s = &rows[i];
    if (!s) {
        fprintf(stderr, "train: there is no held-out %d number %d\n", digit, index);
        return 1;
    }
    int side;
    unsigned char *px = draw(s, DRAW_SCALE, &side);
    size_t len = strlen(out);
    int jpeg =
        (len > 4 && !strcmp(out + len - 4, ".jpg")) || (len > 5 && !strcmp(out + len - 5, ".jpeg"));
    int ok = jpeg ? stbi_write_jpg(out, side, side, 1, px, 90)
                  : stbi_write_png(out, side, side, 1, px, side);
    free(px);
    if (!ok) {
        fprintf(stderr, "train: %s: cannot write it\n", out);
        return 1;
    }
    printf("%s: held-out %d number %d (line %d of the data), %dx%d\n", out, digit, index, s->line,
           side, side);
    static digits_net_t net;
    static digits_acts_t a;
    char err[512], sentence[128];
    if (weights && digits_load(weights, &net, err, sizeof err) == 0) {
        int label = digits_forward(&net, s->input, &a);
        digits_sentence(sentence, sizeof sentence, &a, label);
        printf("the model on the sample: %s\n", sentence);
    }
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: train [--data FILE] [--out FILE] [--seed N] [--epochs N]\n"
                    "       train --png DIGIT OUT [--index N] [--data FILE] [--weights FILE]\n"
                    "       train --classify IMAGE [--weights FILE]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *data = DEFAULT_DATA, *out = DEFAULT_WEIGHTS, *weights = DEFAULT_WEIGHTS;
    const char *png = NULL, *image = NULL;
    int digit = -1, index = 0, epochs = 15;
    unsigned seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        if (!strcmp(a, "--data"))
            data = argv[++i];
        else if (!strcmp(a, "--out"))
            out = argv[++i];
        else if (!strcmp(a, "--weights"))
            weights = argv[++i];
        else if (!strcmp(a, "--seed"))
            seed = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(a, "--epochs"))
            epochs = atoi(argv[++i]);
        else if (!strcmp(a, "--index"))
            index = atoi(argv[++i]);
        else if (!strcmp(a, "--classify"))
            image = argv[++i];
        else if (!strcmp(a, "--png") && i + 2 < argc) {
            digit = atoi(argv[++i]);
            png = argv[++i];
        } else
            usage();
    }
    if (image)
        return classify(image, weights);
    if (png && (digit < 0 || digit > 9))
        usage();
    static sample_t rows[MAX_ROWS];
    int n = read_digits(data, rows, MAX_ROWS);
    if (n < 0)
        return 1;
    split(rows, n);
    for (int i = 0; i < n; i++) {
        int side;
        unsigned char *px = draw(&rows[i], 1, &side);
        if (digits_prepare(px, side, side, rows[i].input) != 0)
            memset(rows[i].input, 0, sizeof rows[i].input); /* a blank sample: all zero */
        free(px);
    }
    if (png)
        return render(rows, n, digit, index, png, weights);
    return train(rows, n, out, seed, epochs);
}
