"""Pure core: values in, values out. Imports no AWS SDK, reads no environment, does no I/O."""
