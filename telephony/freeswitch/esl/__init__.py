"""FreeSWITCH Event Socket (inbound): sans-I/O protocol core, typed messages, asyncio client."""
