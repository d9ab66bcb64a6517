"""The presence benchmark's parts: its site, the subscribers (SIPp), each PBX's native side."""
