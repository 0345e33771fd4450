/* The digit classifier's network, weights file and input preparation (digits.h). Plain
 * C11 with no machine-specific arithmetic, so the native trainer and the wasm32 guest
 * compute the same floats. */
#include "digits.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int digits_forward(const digits_net_t *net, const float input[DIGITS_SIDE * DIGITS_SIDE],
                   digits_acts_t *a) {
    enum { S = DIGITS_SIDE, K = DIGITS_KERNEL, P = DIGITS_POOLED };
    for (int c = 0; c < DIGITS_CONV; c++)
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                float s = net->conv_b[c];
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int iy = y + ky - K / 2, ix = x + kx - K / 2;
                        if (iy >= 0 && iy < S && ix >= 0 && ix < S)
                            s += net->conv_w[c][ky][kx] * input[iy * S + ix];
                    }
                a->conv[c][y][x] = s > 0 ? s : 0;
            }
    for (int c = 0; c < DIGITS_CONV; c++)
        for (int py = 0; py < P; py++)
            for (int px = 0; px < P; px++) {
                int best = (c * S + 2 * py) * S + 2 * px;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) {
                        int at = (c * S + 2 * py + dy) * S + 2 * px + dx;
                        if ((&a->conv[0][0][0])[at] > (&a->conv[0][0][0])[best])
                            best = at;
                    }
                int i = (c * P + py) * P + px;
                a->pool_from[i] = best;
                a->pooled[i] = (&a->conv[0][0][0])[best];
            }
    for (int h = 0; h < DIGITS_HIDDEN; h++) {
        float s = net->hid_b[h];
        for (int i = 0; i < DIGITS_FLAT; i++)
            s += net->hid_w[h][i] * a->pooled[i];
        a->hidden[h] = s > 0 ? s : 0;
    }
    double logit[DIGITS_CLASSES], top = -INFINITY, sum = 0;
    for (int k = 0; k < DIGITS_CLASSES; k++) {
        float s = net->out_b[k];
        for (int h = 0; h < DIGITS_HIDDEN; h++)
            s += net->out_w[k][h] * a->hidden[h];
        logit[k] = s;
        if (logit[k] > top)
            top = logit[k];
    }
    int label = 0;
    for (int k = 0; k < DIGITS_CLASSES; k++)
        sum += logit[k] = exp(logit[k] - top);
    for (int k = 0; k < DIGITS_CLASSES; k++) {
        a->prob[k] = (float)(logit[k] / sum);
        if (a->prob[k] > a->prob[label])
            label = k;
    }
    return label;
}

/* The header's words after the magic: version, the shape, the float count, the hash. */
enum { HEADER_WORDS = 8, FLOATS = sizeof(digits_net_t) / sizeof(float) };

static void header_of(uint32_t words[HEADER_WORDS], const digits_net_t *net) {
    uint32_t hash = 2166136261u; /* FNV-1a */
    const unsigned char *p = (const unsigned char *)net;
    for (size_t i = 0; i < sizeof *net; i++)
        hash = (hash ^ p[i]) * 16777619u;
    uint32_t w[HEADER_WORDS] = {DIGITS_VERSION, DIGITS_SIDE,    DIGITS_KERNEL, DIGITS_CONV,
                                DIGITS_HIDDEN,  DIGITS_CLASSES, FLOATS,        hash};
    memcpy(words, w, sizeof w);
}

int digits_save(const char *path, const digits_net_t *net, char *err, size_t errlen) {
    uint32_t words[HEADER_WORDS];
    header_of(words, net);
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create it: %s", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(DIGITS_MAGIC, 8, 1, f) == 1 && fwrite(words, sizeof words, 1, f) == 1 &&
             fwrite(net, sizeof *net, 1, f) == 1;
    if (fclose(f) != 0 || !ok) {
        snprintf(err, errlen, "%s: cannot write it: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int digits_load(const char *path, digits_net_t *net, char *err, size_t errlen) {
    static const char *const what[HEADER_WORDS] = {
        "version",      "input side", "kernel size", "convolution channels",
        "hidden units", "classes",    "float count"};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open the weights: %s", path, strerror(errno));
        return -1;
    }
    char magic[8];
    uint32_t words[HEADER_WORDS], want[HEADER_WORDS];
    int rc = -1;
    if (fread(magic, 8, 1, f) != 1 || memcmp(magic, DIGITS_MAGIC, 8) != 0) {
        snprintf(err, errlen, "%s: not a weights file (it does not start with %s)", path,
                 DIGITS_MAGIC);
        goto out;
    }
    if (fread(words, sizeof words, 1, f) != 1 || fread(net, sizeof *net, 1, f) != 1) {
        snprintf(err, errlen, "%s: truncated weights file (%zu bytes expected)", path,
                 8 + sizeof words + sizeof *net);
        goto out;
    }
    if (fgetc(f) != EOF) {
        snprintf(err, errlen, "%s: bytes after the weights (%zu bytes expected)", path,
                 8 + sizeof words + sizeof *net);
        goto out;
    }
    header_of(want, net);
    for (int i = 0; i < HEADER_WORDS - 1; i++)
        if (words[i] != want[i]) {
            snprintf(err, errlen, "%s: %s %u, where this program has %u", path, what[i],
                     (unsigned)words[i], (unsigned)want[i]);
            goto out;
        }
    if (words[HEADER_WORDS - 1] != want[HEADER_WORDS - 1]) {
        snprintf(err, errlen, "%s: corrupted weights (hash %08x, header says %08x)", path,
                 (unsigned)want[HEADER_WORDS - 1], (unsigned)words[HEADER_WORDS - 1]);
        goto out;
    }
    for (size_t i = 0; i < FLOATS; i++)
        if (!isfinite(((const float *)net)[i])) {
            snprintf(err, errlen, "%s: weight %zu is not a finite number", path, i);
            goto out;
        }
    rc = 0;
out:
    fclose(f);
    return rc;
}

/* The weight of each source pixel from..to-1 in the span [lo, hi): the length of the
 * pixel's overlap with it. All bounds are multiples of 1/16 of a pixel, so the weights,
 * and the sums digits_prepare makes with them, are exact in double: a sample drawn at a
 * whole scale gives the same sums times the scale squared, hence the same means. */
static double overlap(int px, double lo, double hi) {
    double a = px > lo ? px : lo, b = px + 1 < hi ? px + 1 : hi;
    return b > a ? b - a : 0;
}

/* A pixel's ink above the background: the image's polarity undone. */
static int ink(unsigned char g, int dark_ink, int background) {
    return (dark_ink ? 255 - g : g) - background;
}

int digits_prepare(const unsigned char *grey, int w, int h, float out[DIGITS_SIDE * DIGITS_SIDE]) {
    enum { S = DIGITS_SIDE };
    /* The border's median says which way round the image is, and its level. */
    size_t hist[256] = {0}, n = 0;
    for (int x = 0; x < w; x++, n += 2)
        hist[grey[x]]++, hist[grey[(size_t)(h - 1) * w + x]]++;
    for (int y = 1; y < h - 1; y++, n += 2)
        hist[grey[(size_t)y * w]]++, hist[grey[(size_t)y * w + w - 1]]++;
    int median = 0;
    for (size_t seen = 0; median < 255 && (seen += hist[median]) * 2 < n;)
        median++;
    int dark_ink = median >= 128, background = dark_ink ? 255 - median : median;
    int top = 0;
    for (size_t i = 0; i < (size_t)w * h; i++) {
        int v = ink(grey[i], dark_ink, background);
        if (v > top)
            top = v;
    }
    if (top == 0)
        return -1;
    /* The bounding box of the ink darker than an eighth of the darkest. */
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int v = ink(grey[(size_t)y * w + x], dark_ink, background);
            if (v * 8 > top) {
                x0 = x < x0 ? x : x0, x1 = x > x1 ? x : x1;
                y0 = y < y0 ? y : y0, y1 = y > y1 ? y : y1;
            }
        }
    /* A square window of the box's longer side, centred on the box. */
    int bw = x1 - x0 + 1, bh = y1 - y0 + 1, side = bw > bh ? bw : bh;
    double wx = x0 + (bw - side) / 2.0, wy = y0 + (bh - side) / 2.0, cell = side / (double)S;
    double sum[S][S] = {{0}};
    for (int y = wy > 0 ? (int)wy : 0; y < h && y < wy + side; y++) {
        double row[S] = {0};
        for (int x = wx > 0 ? (int)wx : 0; x < w && x < wx + side; x++) {
            int v = ink(grey[(size_t)y * w + x], dark_ink, background);
            if (v <= 0)
                continue;
            int j = (int)floor((x - wx) / cell), jend = (int)floor((x + 1 - wx) / cell);
            for (int jj = j > 1 ? j - 1 : 0; jj <= jend + 1 && jj < S; jj++)
                row[jj] += v * overlap(x, wx + jj * cell, wx + (jj + 1) * cell);
        }
        int i = (int)floor((y - wy) / cell), iend = (int)floor((y + 1 - wy) / cell);
        for (int ii = i > 1 ? i - 1 : 0; ii <= iend + 1 && ii < S; ii++) {
            double wgt = overlap(y, wy + ii * cell, wy + (ii + 1) * cell);
            for (int j = 0; j < S; j++)
                sum[ii][j] += wgt * row[j];
        }
    }
    for (int i = 0; i < S; i++)
        for (int j = 0; j < S; j++)
            out[i * S + j] = (float)(sum[i][j] / (cell * cell) * 16.0 / top);
    return 0;
}

void digits_sentence(char *buf, size_t len, const digits_acts_t *acts, int label) {
    snprintf(buf, len, "The image represents %s %d, with %.1f%% confidence",
             label == 8 ? "an" : "a", label, acts->prob[label] * 100.0);
}

void digits_flatten(const unsigned char *ga, size_t n, unsigned char *grey) {
    for (size_t i = 0; i < n; i++)
        grey[i] =
            (unsigned char)((ga[2 * i] * ga[2 * i + 1] + 255 * (255 - ga[2 * i + 1]) + 127) / 255);
}
