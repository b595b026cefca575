"""Pure domain logic: no Qt, no inference/index/network/database libraries, no I/O."""
