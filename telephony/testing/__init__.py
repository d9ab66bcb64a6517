"""SIP test kit: phones, callers and presence watchers (SIPp) plus pytest fixtures.

Installed as a pytest plugin (`pytest11: telephony`), so a PBX administrator's own tests
get the fixtures `pbx_site`, `pbx`, `ami` and `phones` with no conftest.
"""

from telephony.testing.phones import (
    IncomingCall,
    OnCall,
    OutboundCall,
    Phone,
    PhoneKit,
    Subscription,
)
from telephony.testing.sipp import SippError, SipTestError
from telephony.testing.trace import Direction, SipMessage

__all__ = [
    "Direction",
    "IncomingCall",
    "OnCall",
    "OutboundCall",
    "Phone",
    "PhoneKit",
    "SipMessage",
    "SipTestError",
    "SippError",
    "Subscription",
]
