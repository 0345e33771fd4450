/* plugin: the table weft-dist.so exports (store/store.h, weft_dist_plugin_t). */
#include "dist.h"

static const weft_kv_ops_t *const kv[] = {&weft_kv_redis_ops, &weft_kv_redis_unix_ops};
static const weft_doc_ops_t *const doc[] = {&weft_doc_pg_ops, &weft_doc_postgres_ops};
static const weft_blob_ops_t *const blob[] = {&weft_blob_pg_ops, &weft_blob_postgres_ops};
static const weft_journal_ops_t *const journal[] = {&weft_journal_redis_ops,
                                                    &weft_journal_redis_unix_ops};

__attribute__((visibility("default"))) const weft_dist_plugin_t weft_dist_plugin = {
    .head = {.abi = WEFT_DIST_PLUGIN_ABI, .size = sizeof(weft_dist_plugin_t), .name = "weft-dist"},
    .kv = kv,
    .nkv = sizeof kv / sizeof kv[0],
    .doc = doc,
    .ndoc = sizeof doc / sizeof doc[0],
    .blob = blob,
    .nblob = sizeof blob / sizeof blob[0],
    .journal = journal,
    .njournal = sizeof journal / sizeof journal[0],
    .subscribe = dist_redis_subscribe,
    .unsubscribe = dist_redis_unsubscribe,
};
