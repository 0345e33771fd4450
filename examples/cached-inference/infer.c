/* POST /infer: the request body is a PNG or JPEG of a handwritten digit; the answer says
 * which digit, as "The image represents a 7, with 98.2% confidence". A WAGI-style guest
 * (the body on stdin, a CGI response on stdout): it decodes the image with stb_image,
 * prepares it as the model's training data was (digits.c), and runs the convolutional
 * network on the weights in /model/digits.weights (or the file $MODEL names), which
 * train.c wrote.
 *
 * Bad input gets 400 with one line saying what is wrong; weights that are missing or
 * not the ones this program was built for get 500, the reason on stderr (weft logs it). */
#include "digits.h"

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
    const char *model = getenv("MODEL");
    if (!model || !*model)
        model = DEFAULT_MODEL;
    if (digits_load(model, &net, text, sizeof text) != 0) {
        fprintf(stderr, "infer: %s\n", text);
        return answer(500, "the model's weights could not be loaded (see the log)");
    }

    unsigned char *body;
    long len = read_body(&body);
    if (len < 0)
        return answer(400, "the image is larger than 8 MiB");
    if (len == 0)
        return answer(400, "no image: the request body is empty (POST a PNG or JPEG)");
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
    int label = digits_forward(&net, input, &acts);
    digits_sentence(text, sizeof text, &acts, label);
    return answer(200, text);
}
