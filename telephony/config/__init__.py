"""Site configuration: one YAML file, validated, rendered to each PBX."""

from telephony.config.load import demo_site_path, load_or_report, load_site, parse_site
from telephony.config.models import Agent, Device, HuntGroup, Site, SkillQueue
from telephony.config.problems import ConfigError, Problem

__all__ = [
    "Agent",
    "ConfigError",
    "Device",
    "HuntGroup",
    "Problem",
    "Site",
    "SkillQueue",
    "demo_site_path",
    "load_or_report",
    "load_site",
    "parse_site",
]
