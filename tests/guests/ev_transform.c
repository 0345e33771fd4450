/* The transform of examples/event-flow (TriggerMesh's WebAssembly tutorial), built as a
 * test guest so that the tests run the example's own code. */
#include "../../examples/event-flow/transform.c"
