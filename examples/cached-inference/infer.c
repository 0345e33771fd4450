/* POST /infer: the request body is a PNG or JPEG of a handwritten digit; the answer says
 * which digit, as "The image represents a 7, with 98.2% confidence". A WAGI-style guest
 * (the body on stdin, a CGI response on stdout): it decodes the image with stb_image,
 * prepares it as the model's training data was (digits.c), and runs the convolutional
 * network on the weights in /model/digits.weights (or the file $MODEL names), which
 * train.c wrote.
 *
 * Answers are cached in weft's document store: the document whose id is the SHA-256 of
 * the request body (sha256.c), in the collection "classifications", holds the digit and
 * the network's confidence, {"digit":7,"confidence":0.998371243}. The same bytes again are
 * answered from it without decoding or running anything; the answer is the same text
 * either way, and the header X-Cache says which it was: "hit" or "miss". A document that
 * does not read as one of these (written by hand, say) is a miss and is replaced. The
 * confidence is kept with all the digits of the float (%.9g) so that the sentence made
 * of it is the one the network's output gives. When the store cannot be used (weft run
 * has none; the collection is not granted) the answer is computed every time, and the
 * reason goes to stderr.
 *
 * Bad input gets 400 with one line saying what is wrong; weights that are missing or
 * not the ones this program was built for get 500, the reason on stderr (weft logs it). */
#include "digits.h"
#include "sha256.h"
#include "weft.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_SIMD /* no SIMD in wasm2c */
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#include <stb_image.h>

#define DEFAULT_MODEL "/model/digits.weights"
#define CACHE "classifications" /* the document collection of the cache */
enum {
    MAX_BODY = 8 << 20,   /* bytes of image a request may send */
    MAX_PIXELS = 4 << 20, /* decoded, within the 64 MiB a function gets by default */
};

static int answer(int status, const char *text) {
    if (status != 200)
        printf("Status: %d %s\n", status, status == 400 ? "Bad Request" : "Internal Server Error");
    printf("Content-Type: text/plain\n\n%s\n", text);
    return 0;
}

/* A classification, from the network or the cache: the same sentence either way. */
static int answer_digit(int digit, float confidence, int hit) {
    static digits_acts_t acts;
    char text[128];
    acts.prob[digit] = confidence;
    digits_sentence(text, sizeof text, &acts, digit);
    printf("X-Cache: %s\n", hit ? "hit" : "miss");
    return answer(200, text);
}

/* The cached classification of the image whose SHA-256 is key: 1 with *digit and
 * *confidence; 0 when there is none; -1 when the cache cannot be used here (said on
 * stderr: weft run offers no stores, or the collection is not granted). */
static int cache_get(const char *key, int *digit, float *confidence) {
    char *json, why[256];
    weft_error_t e = weft_doc_get(CACHE, key, &json);
    if (e == WEFT_NOT_FOUND)
        return 0;
    if (e) {
        fprintf(stderr, "infer: no cache: %s\n", weft_last_error(why, sizeof why));
        return -1;
    }
    /* Read as cache_put writes it; anything else is not trusted (a miss, replaced). */
    int d, n = 0;
    float c;
    int ok = sscanf(json, "{\"digit\":%d,\"confidence\":%f}%n", &d, &c, &n) == 2 && n > 0 &&
             json[n] == 0 && d >= 0 && d < DIGITS_CLASSES && c >= 0 && c <= 1;
    free(json);
    if (ok)
        *digit = d, *confidence = c;
    return ok;
}

static void cache_put(const char *key, int digit, float confidence) {
    char json[128], why[256];
    snprintf(json, sizeof json, "{\"digit\":%d,\"confidence\":%.9g}", digit, confidence);
    if (weft_doc_put(CACHE, key, json))
        fprintf(stderr, "infer: cache not written: %s\n", weft_last_error(why, sizeof why));
}

/* Reads stdin to its end into *body; returns its length, or -1 past MAX_BODY. */
static long read_body(unsigned char **body) {
    size_t len = 0, cap = 64 << 10;
    unsigned char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len > MAX_BODY) {
            free(buf);
            return -1;
        }
        if (len == cap) {
            unsigned char *more = realloc(buf, cap *= 2);
            if (!more)
                free(buf);
            buf = more;
        }
    }
    if (!buf)
        return -1;
    *body = buf;
    return (long)len;
}

int main(void) {
    static digits_net_t net;
    static digits_acts_t acts;
    char text[256];
    unsigned char *body;
    long len = read_body(&body);
    if (len < 0)
        return answer(400, "the image is larger than 8 MiB");
    if (len == 0)
        return answer(400, "no image: the request body is empty (POST a PNG or JPEG)");

    /* The cache: the same bytes, the same answer, without decoding or running anything. */
    char key[65];
    int digit;
    float confidence;
    sha256_hex(body, (size_t)len, key);
    int cached = cache_get(key, &digit, &confidence);
    if (cached == 1)
        return answer_digit(digit, confidence, 1);

    const char *model = getenv("MODEL");
    if (!model || !*model)
        model = DEFAULT_MODEL;
    if (digits_load(model, &net, text, sizeof text) != 0) {
        fprintf(stderr, "infer: %s\n", text);
        return answer(500, "the model's weights could not be loaded (see the log)");
    }
    int w, h, comp;
    if (!stbi_info_from_memory(body, (int)len, &w, &h, &comp)) {
        snprintf(text, sizeof text, "not a PNG or JPEG image (%s)", stbi_failure_reason());
        return answer(400, text);
    }
    if ((long long)w * h > MAX_PIXELS) {
        snprintf(text, sizeof text, "the image is %dx%d, more than 4 megapixels: scale it down", w,
                 h);
        return answer(400, text);
    }
    unsigned char *grey_alpha = stbi_load_from_memory(body, (int)len, &w, &h, &comp, 2);
    free(body);
    if (!grey_alpha) {
        snprintf(text, sizeof text, "the image could not be decoded (%s)", stbi_failure_reason());
        return answer(400, text);
    }
    unsigned char *grey = malloc((size_t)w * h);
    if (!grey)
        return answer(400, "the image is too large to decode here");
    digits_flatten(grey_alpha, (size_t)w * h, grey);
    stbi_image_free(grey_alpha);

    float input[DIGITS_SIDE * DIGITS_SIDE];
    if (digits_prepare(grey, w, h, input) != 0)
        return answer(400, "no digit in the image: it is blank");
    free(grey);
    digit = digits_forward(&net, input, &acts);
    if (cached == 0)
        cache_put(key, digit, acts.prob[digit]);
    return answer_digit(digit, acts.prob[digit], 0);
}
