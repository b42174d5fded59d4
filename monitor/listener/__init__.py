"""Every port Dozor listens on, guarded: header and idle timeouts, connection caps in total
and per client address, request size caps (see site.py). A leaf: imports nothing of monitor."""

from monitor.listener.addresses import address_key
from monitor.listener.limits import ConnectionLimits
from monitor.listener.site import GuardedSite, ListenerStats, serve

__all__ = ["ConnectionLimits", "GuardedSite", "ListenerStats", "address_key", "serve"]
