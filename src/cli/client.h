/* client: what the commands that talk to a running `weft up` share (client.c:
 * send, describe, watch; client_store.c: kv, blob, doc). Not part of the cli's contract. */
#ifndef WEFT_CLI_CLIENT_H
#define WEFT_CLI_CLIENT_H

#include <curl/curl.h>
#include <stdbool.h>

#define WEFT_CLIENT_MAX_URL 4096

typedef struct weft_client_server {
    char base[WEFT_CLIENT_MAX_URL]; /* without a trailing '/' */
    char from[WEFT_CLIENT_MAX_URL]; /* the address file it came from; "" for --url */
} weft_client_server_t;

/* The running weft up's base URL in *s: url (--url) when given, else what the manifest
 * (config, or the default one)'s weft up wrote to its address file. 0, or 1 after saying
 * why on stderr. */
int weft_client_locate(const char *cmd, const char *url, const char *config,
                       weft_client_server_t *s);

/* Sets the token every later request of the command carries as "Authorization: Bearer
 * TOKEN": opt (--token) when given, else $WEFT_TOKEN when env is true. Returns the header
 * line (static), or NULL when there is no token. */
const char *weft_client_token(const char *opt, bool env);

/* Says on stderr why a transfer to url failed, and where url came from. */
void weft_client_transfer_error(const char *cmd, const weft_client_server_t *s, const char *url,
                                CURL *c, CURLcode rc, const char *detail);

#endif
