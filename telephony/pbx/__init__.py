"""The local PBX runner: Asterisk on 127.0.0.1 for development, tests and CI."""

from telephony.pbx.errors import BACKENDS, BackendName, PbxError, PbxInfo
from telephony.pbx.local import LocalPbx
from telephony.pbx.paths import default_state_dir

__all__ = ["BACKENDS", "BackendName", "LocalPbx", "PbxError", "PbxInfo", "default_state_dir"]
