"""Helpers of bench/call_latency.py: the hand-written baseline, the SIPp caller, statistics."""
