"""Pure functions, no I/O: from Hull messages and settings to plans."""
