"""Asterisk: AMI (protocol, client), rendering, the names Asterisk uses, the local runner."""
