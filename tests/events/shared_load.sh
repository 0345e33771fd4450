#!/usr/bin/env bash
# events: shared.sh's load part at full size: 20,000 events through two nodes sharing a
# broker on Redis, each delivered at least once per trigger, the duplicates counted.
# In the optimized build only (WEFT_ONCE_TESTS): the sanitized build runs shared.sh.
SHARED_EVENTS=20000 SHARED_PARTS=load exec bash "$(dirname "$0")/shared.sh"
