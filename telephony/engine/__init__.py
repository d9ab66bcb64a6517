"""The engine: keeps the PBX's queue, AstDB and device state right through its adapter."""
