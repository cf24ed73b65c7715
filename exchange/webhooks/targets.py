"""Where webhooks may be sent: a defence against server-side request forgery.

A subscriber names the URL the platform POSTs to, so without a check it could make the platform call its own
admin ports, cloud metadata (169.254.169.254) or any intranet host. A target must therefore be https and every
address its host resolves to must be public. The check runs when subscribing and again before every delivery,
and the delivery connects to the very address that was checked (the Host header and TLS server name stay the
URL's host): a DNS answer that changes between the check and the connection (DNS rebinding) cannot redirect it.
Redirects are never followed and no proxy from the environment is used.

`CPIP_WEBHOOK_ALLOW_PRIVATE_TARGETS` (development and tests) allows private and loopback addresses, and plain
http to loopback only.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

import httpx

from cpip.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# Never an HTTP server, whatever the setting.
_ALWAYS_REFUSED = ("multicast", "unspecified")
# The resolver, looked up at call time (tests substitute a DNS answer here, as a rebinding server would).
getaddrinfo = socket.getaddrinfo


class WebhookTargetRefused(ValidationFailed):
    """The webhook URL is not https, or its host resolves to an address the platform must not call (private,
    loopback, link-local, multicast or reserved)."""

    slug, title = "exchange-webhook-target-refused", "The webhook URL is not an allowed target"


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the addresses it resolved to, every one of them allowed."""

    given: str
    url: httpx.URL
    addresses: tuple[IPAddress, ...]

    def request_args(self) -> dict[str, Any]:
        """Arguments for httpx that connect to the checked address while speaking to the URL's host."""
        host = self.url.host
        pinned = self.url.copy_with(host=str(self.addresses[0]))
        extensions = {"sni_hostname": host} if self.url.scheme == "https" and not _is_ip(host) else {}
        return {"url": pinned, "headers": {"host": self.url.netloc.decode("ascii")}, "extensions": extensions}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), which is what gets reached."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def forbidden_kind(ip: IPAddress) -> str | None:
    """Why `ip` is not a public address (None: it is)."""
    if isinstance(ip, ipaddress.IPv6Address) and (inner := _embedded_ipv4(ip)) is not None:
        return forbidden_kind(inner)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


def _refuse(url: str, message: str, field: str) -> WebhookTargetRefused:
    return WebhookTargetRefused(f"{field}: {message}", errors=[
        {"field": field, "message": message, "rule": "webhook_target"}], url=url)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to (an IP literal resolves to itself)."""
    if _is_ip(host):
        return [ipaddress.ip_address(host)]
    infos = getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: dict[IPAddress, None] = {}
    for _family, _type, _proto, _name, sockaddr in infos:
        # Drop an IPv6 zone (fe80::1%eth0): the address itself is what is judged.
        found[ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])] = None
    return list(found)


def check_target(url: str, *, allow_private: bool, field: str = "body.url") -> Target:
    """The target of `url` if the platform may POST to it; otherwise `WebhookTargetRefused` naming `field`."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise _refuse(url, f"not a valid URL ({exc})", field) from exc
    if parsed.scheme not in ("https", "http"):
        raise _refuse(url, "must be an https:// URL", field)
    if not parsed.host:
        raise _refuse(url, "has no host", field)
    if parsed.userinfo:
        raise _refuse(url, "must not carry a user name or password; sign-in is by the webhook signature", field)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = resolve(parsed.host, port)
    except (OSError, UnicodeError) as exc:
        raise _refuse(url, f"host {parsed.host} does not resolve ({exc})", field) from exc
    if not addresses:
        raise _refuse(url, f"host {parsed.host} does not resolve", field)
    kinds = {ip: forbidden_kind(ip) for ip in addresses}
    for ip, kind in kinds.items():
        if kind is not None and (kind in _ALWAYS_REFUSED or not allow_private):
            raise _refuse(url, f"host {parsed.host} resolves to {ip}, a {kind} address; webhooks go to public "
                               "addresses only", field)
    if parsed.scheme == "http" and not (allow_private and all(k == "loopback" for k in kinds.values())):
        raise _refuse(url, "must be an https:// URL (plain http is allowed for loopback receivers in development "
                           "only)", field)
    return Target(url, parsed, tuple(addresses))
