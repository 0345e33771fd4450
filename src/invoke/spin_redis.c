/* spin_redis: Spin's Redis executor for Spin 1 modules (contract in internal.h).
 *
 * A Spin 1 Redis module (wit-bindgen 0.2's canonical ABI, fermyon/spin's
 * wit/ephemeral/spin-redis.wit: handle-redis-message: function(message: payload) ->
 * expected<_, error>, with payload list<u8> and error the enum { success, error } of
 * redis-types.wit) exports
 *
 *   handle-redis-message(payload_ptr, payload_len) -> ret_ptr
 *   canonical_abi_realloc(old_ptr, old_size, align, new_size) -> ptr
 *
 * The host allocates the payload in the guest's memory with canonical_abi_realloc(0, 0,
 * 1, len), copies the message in and calls the handler; its answer is a 2-byte record at
 * ret_ptr: the expected's case u8 @0 (0 ok, 1 err) and, for err, the error's case u8 @1.
 * As Spin's executor (crates/trigger-redis, spin.rs) judges it, ok(()) and
 * err(success) are success and err(error) a failure. The record is hostile: out of
 * bounds or a case that is neither is a failure with a log line.
 */
#include <string.h>

#include "internal.h"

#define SPIN_REDIS_EXPORT "handle-redis-message"

bool weft_spin_redis_has(weft_module_t *m) {
    const char *sig = weft_module_export_sig(m, SPIN_REDIS_EXPORT);
    const char *re = weft_module_export_sig(m, "canonical_abi_realloc");
    return sig && !strcmp(sig, "ii:i") && re && !strcmp(re, "iiii:i");
}

int weft_spin_redis_exec(weft_module_t *m, const weft_wasi_config_t *cfg, void *host,
                         const weft_limits_t *limits, weft_spin_message_t *call,
                         weft_outcome_t *out, weft_error_t *err) {
    memset(out, 0, sizeof *out);
    call->handled = false;
    call->error = NULL;
    weft_wasi_t *wasi = NULL;
    weft_instance_t *in = NULL;
    int rc = weft_wasi_create(cfg, &wasi, err);
    if (rc)
        return rc;
    weft_guest_t guest = {.wasi = wasi, .host = host};
    if ((rc = weft_instance_new(m, &guest, limits, &in, out, err)) || !in)
        goto done;
    if (!guest.memory) {
        call->error = "the module exports no memory";
        goto done;
    }
    if (call->len > UINT32_MAX) {
        call->error = "the message is larger than a guest's memory";
        goto done;
    }
    weft_value_t args[4] = {0, 0, 1, call->len}, result[1] = {0};
    rc = weft_instance_invoke(in, "canonical_abi_realloc", args, result, out, err);
    if (rc || out->kind != WEFT_OUTCOME_RETURNED)
        goto done;
    uint32_t at = (uint32_t)result[0];
    uint8_t *p = weft_guest_ptr(&guest, at, call->len);
    if (!p) {
        call->error = "canonical_abi_realloc returned an address out of memory bounds";
        goto done;
    }
    if (call->len)
        memcpy(p, call->payload, call->len);
    weft_value_t hargs[2] = {at, call->len};
    rc = weft_instance_invoke(in, SPIN_REDIS_EXPORT, hargs, result, out, err);
    if (rc || out->kind != WEFT_OUTCOME_RETURNED)
        goto done;
    const uint8_t *r = weft_guest_ptr(&guest, (uint32_t)result[0], 2);
    if (!r)
        call->error = "handle-redis-message returned a record out of memory bounds";
    else if (r[0] > 1 || (r[0] == 1 && r[1] > 1))
        call->error = "handle-redis-message returned a case that is neither ok nor err";
    else if (r[0] == 1 && r[1] == 1)
        call->error = "handle-redis-message returned an error";
    else
        call->handled = true;
done:
    weft_instance_free(in);
    weft_wasi_destroy(wasi);
    return rc;
}
