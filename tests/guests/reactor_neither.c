// guest-flags: -nostartfiles -Wl,--no-entry
/* Neither a command nor a reactor: no _start, no _initialize, one function. wasmtime
 * instantiates it and calls nothing unless --invoke names the function. */
__attribute__((export_name("answer"))) int answer(void) {
    return 42;
}
