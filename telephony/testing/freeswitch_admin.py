"""An administrator's own FreeSWITCH configuration, for deploy tests: the vanilla
layout (freeswitch.xml including vars.xml, autoload_configs/*.xml, dialplan/*.xml,
directory/*.xml, and sofia.conf including ../sip_profiles/*.xml), with their own SIP
profile, context, directory domain and user, mod_callcenter queue and agent, and ACL.

Loopback only; the modules are the runner's base set (the bundled build's).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from telephony.freeswitch.runner.conf import base_files

ADMIN_DOMAIN = "admin.example"
ADMIN_CONTEXT = "admin-default"
ADMIN_PROFILE = "internal"
ADMIN_QUEUE = "support@admin"
ADMIN_AGENT = "1000@admin"
ADMIN_ACL = "admin-office"
ADMIN_USER = "alice"
ADMIN_PASSWORD = "alice-secret-1"
ADMIN_CALLER = "bob"
ADMIN_CALLER_PASSWORD = "bob-secret-22"
ADMIN_ECHO = "9000"
"""Their number that rings their user."""
ADMIN_QUEUE_NUMBER = "9100"


@dataclass(frozen=True, slots=True)
class AdminPorts:
    """Where their FreeSWITCH listens."""

    sip: int
    control: int
    password: str


def _vars(ports: AdminPorts) -> str:
    return f"""<include>
  <X-PRE-PROCESS cmd="set" data="domain={ADMIN_DOMAIN}"/>
  <X-PRE-PROCESS cmd="set" data="internal_sip_port={ports.sip}"/>
</include>
"""


_FREESWITCH = """<?xml version="1.0"?>
<document type="freeswitch/xml">
  <X-PRE-PROCESS cmd="include" data="vars.xml"/>
  <section name="configuration" description="Various Configuration">
    <X-PRE-PROCESS cmd="include" data="autoload_configs/*.xml"/>
  </section>
  <section name="dialplan" description="Regex/XML Dialplan">
    <X-PRE-PROCESS cmd="include" data="dialplan/*.xml"/>
  </section>
  <section name="directory" description="User Directory">
    <X-PRE-PROCESS cmd="include" data="directory/*.xml"/>
  </section>
  <section name="languages" description="Language Management">
    <X-PRE-PROCESS cmd="include" data="lang/*.xml"/>
  </section>
</document>
"""

_SOFIA = """<configuration name="sofia.conf" description="sofia Endpoint">
  <global_settings>
    <param name="log-level" value="0"/>
  </global_settings>
  <profiles>
    <X-PRE-PROCESS cmd="include" data="../sip_profiles/*.xml"/>
  </profiles>
</configuration>
"""

_PROFILE = f"""<profile name="{ADMIN_PROFILE}">
  <settings>
    <param name="sip-ip" value="127.0.0.1"/>
    <param name="rtp-ip" value="127.0.0.1"/>
    <param name="sip-port" value="$${{internal_sip_port}}"/>
    <param name="dialplan" value="XML"/>
    <param name="context" value="{ADMIN_CONTEXT}"/>
    <param name="auth-calls" value="true"/>
    <param name="force-register-domain" value="$${{domain}}"/>
    <param name="force-register-db-domain" value="$${{domain}}"/>
    <param name="challenge-realm" value="auto_from"/>
    <param name="inbound-codec-prefs" value="PCMU,PCMA"/>
    <param name="outbound-codec-prefs" value="PCMU,PCMA"/>
  </settings>
</profile>
"""

_DIALPLAN = f"""<include>
  <context name="{ADMIN_CONTEXT}">
    <extension name="ring-alice">
      <condition field="destination_number" expression="^{ADMIN_ECHO}$">
        <action application="bridge" data="user/{ADMIN_USER}@$${{domain}}"/>
      </condition>
    </extension>
    <extension name="support">
      <condition field="destination_number" expression="^{ADMIN_QUEUE_NUMBER}$">
        <action application="callcenter" data="{ADMIN_QUEUE}"/>
      </condition>
    </extension>
  </context>
</include>
"""

_DIRECTORY = f"""<include>
  <domain name="$${{domain}}">
    <params>
      <param name="dial-string" value="{{^^:sip_invite_domain=${{dialed_domain}}:presence_id=${{dialed_user}}@${{dialed_domain}}}}${{sofia_contact({ADMIN_PROFILE}/${{dialed_user}}@${{dialed_domain}})}}"/>
    </params>
    <variables>
      <variable name="user_context" value="{ADMIN_CONTEXT}"/>
    </variables>
    <groups>
      <group name="staff">
        <users>
          <user id="{ADMIN_USER}">
            <params>
              <param name="password" value="{ADMIN_PASSWORD}"/>
            </params>
          </user>
          <user id="{ADMIN_CALLER}">
            <params>
              <param name="password" value="{ADMIN_CALLER_PASSWORD}"/>
            </params>
          </user>
        </users>
      </group>
    </groups>
  </domain>
</include>
"""

_CALLCENTER = f"""<configuration name="callcenter.conf" description="CallCenter">
  <settings>
  </settings>
  <queues>
    <queue name="{ADMIN_QUEUE}">
      <param name="strategy" value="longest-idle-agent"/>
      <param name="moh-sound" value="tone_stream://%(2000,4000,440,480);loops=-1"/>
      <param name="max-wait-time" value="30"/>
    </queue>
  </queues>
  <agents>
    <agent name="{ADMIN_AGENT}" type="callback" contact="user/{ADMIN_USER}@{ADMIN_DOMAIN}" status="Available" max-no-answer="0" wrap-up-time="0"/>
  </agents>
  <tiers>
    <tier agent="{ADMIN_AGENT}" queue="{ADMIN_QUEUE}" level="1" position="1"/>
  </tiers>
</configuration>
"""

_ACL = f"""<configuration name="acl.conf" description="Network Lists">
  <network-lists>
    <list name="{ADMIN_ACL}" default="deny">
      <node type="allow" cidr="192.0.2.0/24"/>
    </list>
  </network-lists>
</configuration>
"""


def _event_socket(ports: AdminPorts) -> str:
    return f"""<configuration name="event_socket.conf" description="Socket Client">
  <settings>
    <param name="nat-map" value="false"/>
    <param name="listen-ip" value="127.0.0.1"/>
    <param name="listen-port" value="{ports.control}"/>
    <param name="password" value="{ports.password}"/>
  </settings>
</configuration>
"""


def write_admin_conf(conf: Path, ports: AdminPorts) -> dict[str, str]:
    """Write their configuration into `conf` (created); every file by relative path."""
    base = base_files()
    files = {
        "freeswitch.xml": _FREESWITCH,
        "vars.xml": _vars(ports),
        "autoload_configs/modules.conf.xml": base["modules.conf.xml"],
        "autoload_configs/switch.conf.xml": base["switch.conf.xml"],
        "autoload_configs/logfile.conf.xml": base["logfile.conf.xml"],
        "autoload_configs/db.conf.xml": base["db.conf.xml"],
        "autoload_configs/voicemail.conf.xml": base["voicemail.conf.xml"],
        "autoload_configs/event_socket.conf.xml": _event_socket(ports),
        "autoload_configs/sofia.conf.xml": _SOFIA,
        "autoload_configs/callcenter.conf.xml": _CALLCENTER,
        "autoload_configs/acl.conf.xml": _ACL,
        "sip_profiles/internal.xml": _PROFILE,
        "dialplan/default.xml": _DIALPLAN,
        "directory/default.xml": _DIRECTORY,
        "lang/en.xml": base["languages.xml"],
    }
    for name, text in files.items():
        path = conf / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return files
