/* net_plugin: the table weft-net.so exports (host/host.h, weft_net_plugin_t).
 *
 * Built into the plugin with the store, host, events and gateway layers, `weft up`,
 * `weft cesql` and the client commands (send, describe, watch, kv, blob, doc); the weft binary
 * reaches all of them through this one symbol. */
#include "../events/cesql.h"
#include "../host/host.h"
#include "cli.h"

static const weft_plugin_command_t commands[] = {
    {"up", weft_cli_up},       {"cesql", weft_cesql_cli},
    {"send", weft_cli_send},   {"describe", weft_cli_describe},
    {"watch", weft_cli_watch}, {"filter-check", weft_cli_filter_check},
    {"kv", weft_cli_kv},       {"blob", weft_cli_blob},
    {"doc", weft_cli_doc},
};

__attribute__((visibility("default"))) const weft_net_plugin_t weft_net_plugin = {
    .head = {.abi = WEFT_NET_PLUGIN_ABI,
             .size = sizeof(weft_net_plugin_t),
             .name = "weft-net",
             .commands = commands,
             .ncommands = sizeof commands / sizeof commands[0]},
    .host_imports = weft_host_imports,
    .host_create = weft_host_create,
    .host_destroy = weft_host_destroy,
    .host_allowed_check = weft_host_allowed_check,
    .api_imports = weft_api_imports,
    .host_trial = weft_host_trial,
    .host_trial_wrote = weft_host_trial_wrote,
};
