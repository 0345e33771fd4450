// guest-flags: -I/usr/include/stb -Wno-unused-function
/* A thumbnailer made of third-party code: Debian's libstb-dev (stb_image to decode,
 * stb_image_resize to scale, stb_image_write to encode; about 12,000 lines of C that
 * weft did not write), driven through wasi-libc's stdio:
 *
 *   wasi_thumbnail make DIR          draws a test picture, writes DIR/in.png, DIR/in.jpg
 *   wasi_thumbnail thumb IN OUT W    scales IN to width W, writes OUT (PNG)
 *
 * The same file builds natively, so tests/wasi/guest_thirdparty.sh can check that weft
 * produces the very bytes a native build does. Without the headers (libstb-dev not
 * installed) it builds to a stub that says so. */
#if __has_include(<stb_image.h>)
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_SIMD
#include <stb_image.h>
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#include <stb_image_resize.h>

static int make(const char *dir) {
    enum { W = 640, H = 480 };
    unsigned char *px = malloc(W * H * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *p = px + (y * W + x) * 3;
            p[0] = (unsigned char)(x * 255 / W);
            p[1] = (unsigned char)(y * 255 / H);
            p[2] = (unsigned char)(((x / 40) + (y / 40)) % 2 ? 220 : 30);
        }
    char path[512];
    snprintf(path, sizeof path, "%s/in.png", dir);
    int ok = stbi_write_png(path, W, H, 3, px, W * 3);
    snprintf(path, sizeof path, "%s/in.jpg", dir);
    ok = ok && stbi_write_jpg(path, W, H, 3, px, 90);
    free(px);
    printf("made %dx%d: %s\n", W, H, ok ? "ok" : "failed");
    return ok ? 0 : 1;
}

static int thumb(const char *in, const char *out, int tw) {
    int w, h, comp;
    unsigned char *px = stbi_load(in, &w, &h, &comp, 3);
    if (!px) {
        printf("%s: %s\n", in, stbi_failure_reason());
        return 1;
    }
    int th = h * tw / w;
    unsigned char *small = malloc((size_t)tw * th * 3);
    stbir_resize_uint8(px, w, h, 0, small, tw, th, 0, 3);
    int ok = stbi_write_png(out, tw, th, 3, small, tw * 3);
    printf("%s %dx%d -> %dx%d: %s\n", strrchr(in, '/') ? strrchr(in, '/') + 1 : in, w, h, tw, th,
           ok ? "ok" : "failed");
    stbi_image_free(px);
    free(small);
    return ok ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 3 && !strcmp(argv[1], "make"))
        return make(argv[2]);
    if (argc >= 5 && !strcmp(argv[1], "thumb"))
        return thumb(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: wasi_thumbnail make DIR | thumb IN OUT WIDTH\n");
    return 2;
}
#else
#include <stdio.h>
int main(void) {
    puts("skip: libstb-dev is not installed");
    return 77;
}
#endif
