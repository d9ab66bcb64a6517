"""FreeSWITCH: rendering, the names FreeSWITCH uses, the local runner."""
