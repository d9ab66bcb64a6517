"""Running Asterisk locally: an installed binary, a container, or a cached root file system."""
