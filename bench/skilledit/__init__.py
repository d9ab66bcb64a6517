"""Parts of bench/skill_edit.py: the generated site and its edits, SIPp registration,
the observers and native operations per PBX, the report."""
