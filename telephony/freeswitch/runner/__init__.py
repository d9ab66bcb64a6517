"""The local FreeSWITCH: an installed `freeswitch` or the relocatable build, run on
loopback with every state directory under the runner's state directory."""
