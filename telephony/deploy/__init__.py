"""Deploying a site onto a PBX that already runs other things (include mode)."""
