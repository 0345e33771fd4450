/* Imports a function weft does not provide: the module must be refused before it is
 * compiled, with the import named. */
__attribute__((import_module("env"), import_name("foo"))) int foo(int);

int main(void) {
    return foo(1);
}
