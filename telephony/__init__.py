"""Control plane for Asterisk (and FreeSWITCH): hunt groups, direct lines, queues, presence."""

__version__ = "0.1.0"
