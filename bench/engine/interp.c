/* A register-machine bytecode interpreter that dispatches every instruction through a
 * table of function pointers (an indirect call per instruction). It runs a generated
 * program: a loop whose body is a random mix of arithmetic, logic, shifts and a
 * data-dependent skip, each run starting from different register values.
 * usage: interp [ITERATIONS=200000] [RUNS=100]; prints the instructions executed and a
 * hash of the registers after every run. */
#include "bench.h"

#define NREGS 16
#define BODY 24

typedef struct {
    uint8_t op, a, b, c;
    int32_t imm;
} insn_t;

typedef struct {
    uint32_t r[NREGS];
    uint64_t executed;
} vm_t;

/* A handler executes the instruction at pc and returns the next pc (-1 halts). */
typedef int (*handler_t)(vm_t *, const insn_t *, int);

static int op_add(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] + vm->r[in[pc].c];
    return pc + 1;
}
static int op_sub(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] - vm->r[in[pc].c];
    return pc + 1;
}
static int op_mul(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] * vm->r[in[pc].c];
    return pc + 1;
}
static int op_xor(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] ^ vm->r[in[pc].c];
    return pc + 1;
}
static int op_and(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] & vm->r[in[pc].c];
    return pc + 1;
}
static int op_or(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] | vm->r[in[pc].c];
    return pc + 1;
}
static int op_shl(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] << (vm->r[in[pc].c] & 31);
    return pc + 1;
}
static int op_shr(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] >> (vm->r[in[pc].c] & 31);
    return pc + 1;
}
static int op_addi(vm_t *vm, const insn_t *in, int pc) {
    vm->r[in[pc].a] = vm->r[in[pc].b] + (uint32_t)in[pc].imm;
    return pc + 1;
}
static int op_rotl(vm_t *vm, const insn_t *in, int pc) {
    uint32_t x = vm->r[in[pc].b], s = (uint32_t)in[pc].imm & 31;
    vm->r[in[pc].a] = s ? x << s | x >> (32 - s) : x;
    return pc + 1;
}
/* Skips the next instruction when bit imm of register a is set. */
static int op_skipbit(vm_t *vm, const insn_t *in, int pc) {
    return pc + 1 + (int)(vm->r[in[pc].a] >> (in[pc].imm & 31) & 1);
}
/* Jumps to imm while register a is below register b. */
static int op_jlt(vm_t *vm, const insn_t *in, int pc) {
    return vm->r[in[pc].a] < vm->r[in[pc].b] ? in[pc].imm : pc + 1;
}
static int op_halt(vm_t *vm, const insn_t *in, int pc) {
    (void)vm, (void)in, (void)pc;
    return -1;
}

enum { ADD, SUB, MUL, XOR, AND, OR, SHL, SHR, ADDI, ROTL, SKIPBIT, JLT, HALT, NOPS };
static handler_t const handlers[NOPS] = {op_add,     op_sub, op_mul, op_xor,  op_and,
                                         op_or,      op_shl, op_shr, op_addi, op_rotl,
                                         op_skipbit, op_jlt, op_halt};

static void run(vm_t *vm, const insn_t *code) {
    uint64_t n = 0;
    for (int pc = 0; pc >= 0; n++)
        pc = handlers[code[pc].op](vm, code, pc);
    vm->executed += n;
}

int main(int argc, char **argv) {
    long iterations = bench_arg(argc, argv, 1, 200000);
    long runs = bench_arg(argc, argv, 2, 100);
    if (iterations > INT32_MAX) {
        fprintf(stderr, "interp: ITERATIONS must be at most %d\n", INT32_MAX);
        return 2;
    }
    /* r0 counts iterations up to r1; the body works on r2..r15. */
    insn_t code[BODY + 3];
    uint64_t seed = 0x494E54455250ULL;
    int pc = 0;
    for (int i = 0; i < BODY; i++) {
        uint64_t r = bench_rand(&seed);
        static const uint8_t body_ops[] = {ADD, SUB, MUL,  XOR,  AND,     OR,
                                           SHL, SHR, ADDI, ROTL, SKIPBIT, ADD};
        insn_t in = {body_ops[r % sizeof body_ops], (uint8_t)(2 + (r >> 8) % 14),
                     (uint8_t)(2 + (r >> 16) % 14), (uint8_t)(2 + (r >> 24) % 14),
                     (int32_t)(r >> 32 & 0xffff)};
        if (in.op == AND || in.op == SHL) /* keep the registers from collapsing to 0 */
            in.c = in.a == 15 ? 2 : in.a + 1;
        if (in.op == SKIPBIT && i == BODY - 1) /* never skip the loop counter's step */
            in.op = XOR;
        code[pc++] = in;
    }
    code[pc++] = (insn_t){ADDI, 0, 0, 0, 1};
    code[pc++] = (insn_t){JLT, 0, 1, 0, 0};
    code[pc++] = (insn_t){HALT, 0, 0, 0, 0};

    vm_t vm = {{0}, 0};
    uint64_t h = 0xcbf29ce484222325ULL;
    bench_clock_t start = bench_now();
    for (long k = 0; k < runs; k++) {
        vm.r[0] = 0;
        vm.r[1] = (uint32_t)iterations;
        for (int i = 2; i < NREGS; i++)
            vm.r[i] = (uint32_t)bench_rand(&seed) | 1;
        run(&vm, code);
        for (int i = 0; i < NREGS; i++)
            h = (h ^ vm.r[i]) * 0x100000001b3ULL;
    }
    bench_report(start);
    printf("interp %ld iterations x %ld: %llu instructions, %016llx\n", iterations, runs,
           (unsigned long long)vm.executed, (unsigned long long)h);
    return 0;
}
