"""Local PBXs on 127.0.0.1 for development, tests and CI, whichever kind a site names."""

from telephony.pbx.errors import PbxError, PbxInfo
from telephony.pbx.local import LocalPbx
from telephony.pbx.paths import default_state_dir
from telephony.pbx.runner import Runner

__all__ = ["LocalPbx", "PbxError", "PbxInfo", "Runner", "default_state_dir"]
