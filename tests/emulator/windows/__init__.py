"""Windows subsystems of the emulated host, one module each."""
