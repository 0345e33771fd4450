/* The digit classifier shared by the trainer (train.c, native) and the guest (infer.c,
 * wasm32-wasi): the network's shape and forward pass, its weights file, and how an image
 * becomes the network's input. Both sides compile the same digits.c, so a picture gives
 * the same answer, to the last digit of the confidence, natively and in the guest. */
#ifndef DIGITS_H
#define DIGITS_H

#include <stddef.h>

/* The network: an 8x8 grey input (ink 0..16, as scikit-learn's digits) -> 3x3
 * convolution, DIGITS_CONV channels, zero-padded -> ReLU -> 2x2 max-pool -> dense
 * DIGITS_HIDDEN -> ReLU -> dense DIGITS_CLASSES -> softmax. */
enum {
    DIGITS_SIDE = 8,
    DIGITS_KERNEL = 3,
    DIGITS_CONV = 16,
    DIGITS_POOLED = DIGITS_SIDE / 2,
    DIGITS_FLAT = DIGITS_CONV * DIGITS_POOLED * DIGITS_POOLED,
    DIGITS_HIDDEN = 64,
    DIGITS_CLASSES = 10,
};

typedef struct {
    float conv_w[DIGITS_CONV][DIGITS_KERNEL][DIGITS_KERNEL];
    float conv_b[DIGITS_CONV];
    float hid_w[DIGITS_HIDDEN][DIGITS_FLAT];
    float hid_b[DIGITS_HIDDEN];
    float out_w[DIGITS_CLASSES][DIGITS_HIDDEN];
    float out_b[DIGITS_CLASSES];
} digits_net_t;

/* Every layer's output, kept for the trainer's backward pass. */
typedef struct {
    float conv[DIGITS_CONV][DIGITS_SIDE][DIGITS_SIDE]; /* after ReLU */
    float pooled[DIGITS_FLAT];
    int pool_from[DIGITS_FLAT];  /* which conv cell (index into conv) each max came from */
    float hidden[DIGITS_HIDDEN]; /* after ReLU */
    float prob[DIGITS_CLASSES];
} digits_acts_t;

/* Runs the network on input (row-major 8x8, 0..16); returns the likeliest class. */
int digits_forward(const digits_net_t *net, const float input[DIGITS_SIDE * DIGITS_SIDE],
                   digits_acts_t *acts);

/* The weights file, little-endian: the magic "DIGITCNN", then uint32 version, the shape
 * (side, kernel, conv, hidden, classes), the number of floats that follow and their
 * FNV-1a hash, then the floats in digits_net_t's order. */
#define DIGITS_MAGIC "DIGITCNN"
#define DIGITS_VERSION 1u

/* Reads path into net. Returns 0, or -1 with a message naming the file and what is
 * wrong with it in err. */
int digits_load(const char *path, digits_net_t *net, char *err, size_t errlen);
int digits_save(const char *path, const digits_net_t *net, char *err, size_t errlen);

/* Makes the network's input from a grey image (w*h bytes, row-major): the polarity is
 * the border's (a light border means dark ink), the background level (the border's
 * median) is taken off, the ink is cropped to its bounding box, fitted into 8x8 keeping
 * its aspect and centred, averaged over each cell's area, and scaled so that the
 * darkest ink is 16. The trainer feeds its 8x8 samples through it too, so a sample drawn
 * at any whole scale gives the very input the sample does. Returns 0, or -1 when the
 * image has no ink. */
int digits_prepare(const unsigned char *grey, int w, int h, float out[DIGITS_SIDE * DIGITS_SIDE]);

/* Grey and alpha byte pairs (n pixels, as stb_image's 2-channel images) laid over
 * white, into n grey bytes: a digit drawn on a transparent background reads as ink on
 * paper. */
void digits_flatten(const unsigned char *grey_alpha, size_t n, unsigned char *grey);

/* "The image represents a 7, with 98.2% confidence" into buf. */
void digits_sentence(char *buf, size_t len, const digits_acts_t *acts, int label);

#endif
