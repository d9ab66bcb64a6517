"""Agent presence: one state per agent (`model`), and the feed of its changes (`feed`)."""
