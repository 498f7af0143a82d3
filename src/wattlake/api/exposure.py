"""Who can reach the API: refuse to serve data-changing GETs to a network with no key.

``/load-data``, ``/populate-view`` and ``/refreshData`` are GETs because the seed systems'
clients call them that way, so any web page a user opens could trigger them (a cross-site GET
needs no permission). On loopback only local programs can; elsewhere ``WATTLAKE_API_KEYS`` must
be set, or the operator says ``--allow-open`` on purpose.
"""

from __future__ import annotations

import ipaddress
import socket

from wattlake.config import Settings
from wattlake.errors import ConfigError


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback address (127.0.0.0/8, ::1).

    ``0.0.0.0`` and ``::`` (all interfaces) are not; a name that does not resolve is not.
    """
    name = host.strip().strip("[]")
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    if name.lower() == "localhost":
        return True
    try:
        infos = socket.getaddrinfo(name, None)
    except (OSError, UnicodeError):
        return False
    addresses = {str(info[4][0]).split("%")[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


def check_bind(host: str, settings: Settings, *, allow_open: bool) -> None:
    """Raise :class:`ConfigError` when serving on ``host`` would leave the data-changing GETs
    open to the network: not loopback, no API keys, and no ``allow_open``."""
    if allow_open or settings.api_key_set() or is_loopback(host):
        return
    raise ConfigError(
        f"refusing to serve on {host} with no API keys: /load-data, /populate-view and "
        "/refreshData change data on a plain GET, which any web page can trigger",
        hint="set WATTLAKE_API_KEYS=key1[,key2] (callers then send X-API-Key), or serve on "
        "--host 127.0.0.1, or add --allow-open if everyone who can reach this address is trusted",
    )
