"""Sans-IO parsers for the product and version strings that text protocols show on the wire.

Each parser takes one header value, banner line or descriptor (str) and returns `Software`
values: what product, which version string as sent (None when the wire shows none), and a display
name. Nothing is inferred beyond what the string says: a banner without a version stays without
one, and version strings are kept as sent (comparison happens later, in `netwatch.judge.eol`).
Packet-derived text is escaped and length-limited here (`protocols.text.clean`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

from netwatch.protocols.text import clean

TEXT_LIMIT = 120  # characters of a raw banner kept as detail


class Software(NamedTuple):
    """One product seen: `product` is the inventory key, `name` what to call it in a report."""

    product: str
    version: str | None
    name: str
    detail: str | None = None  # the raw string it came from (escaped, shortened)


# Windows NT version (major, minor) -> the editions that report it; the wire cannot tell them apart.
WINDOWS_NAMES = {
    (5, 0): "Windows 2000",
    (5, 1): "Windows XP / Embedded POSReady 2009 / WEPOS",
    (5, 2): "Windows Server 2003 / XP x64",
    (6, 0): "Windows Vista / Server 2008",
    (6, 1): "Windows 7 / Server 2008 R2 / POSReady 7 / Embedded Standard 7",
    (6, 2): "Windows 8 / Server 2012",
    (6, 3): "Windows 8.1 / Server 2012 R2",
    (10, 0): "Windows 10 / 11 / Server 2016 or later",
}


def windows(major: int, minor: int, build: int | None = None, detail: str | None = None) -> Software | None:
    """The Windows NT version as `Software`; None for numbers no Windows release has used."""
    name = WINDOWS_NAMES.get((major, minor))
    if name is None:
        return None
    version = f"{major}.{minor}" + (f".{build}" if build else "")
    return Software("Windows", version, name, detail)


# Well-known product tokens (lower-case) -> inventory product name.
PRODUCT_NAMES = {
    "apache": "Apache httpd", "microsoft-iis": "IIS", "nginx": "nginx", "openssl": "OpenSSL",
    "lighttpd": "lighttpd", "php": "PHP", "openssh": "OpenSSH", "dropbear": "Dropbear", "vsftpd": "vsftpd",
    "proftpd": "ProFTPD", "mini_httpd": "mini_httpd", "boa": "Boa", "goahead-webs": "GoAhead", "jetty": "Jetty",
    "apache-coyote": "Apache Tomcat (Coyote)", "microsoft-httpapi": "Microsoft HTTPAPI", "busybox": "BusyBox",
    "thttpd": "thttpd", "allegro-software-rompager": "RomPager", "squid": "Squid", "openresty": "OpenResty",
}
TOKEN = re.compile(r"([A-Za-z][A-Za-z0-9_.+\-]{0,40})/([0-9][A-Za-z0-9_.+\-]{0,30})")
UA_WINDOWS = re.compile(r"Windows NT (\d{1,2})\.(\d{1,2})")
UA_MSIE = re.compile(r"MSIE (\d{1,2}\.\d{1,2})")
CRYPTOAPI = re.compile(r"^Microsoft-(?:CryptoAPI|WNS)/(\d{1,2})\.(\d{1,2})$")


def product_tokens(value: str, limit: int = 6) -> list[Software]:
    """`Name/version` tokens of a Server, SERVER or User-Agent value, well-known names normalised."""
    detail = clean(value, TEXT_LIMIT)
    out: list[Software] = []
    for m in TOKEN.finditer(value):
        name, version = m.group(1), m.group(2)
        product = PRODUCT_NAMES.get(name.lower())
        if product is None:
            continue  # unknown tokens stay in the detail; they are no product claim
        out.append(Software(product, clean(version, 32), product, detail))
        if len(out) >= limit:
            break
    return out


def http_server(value: str) -> list[Software]:
    """HTTP `Server:` (`Apache/2.2.15 (CentOS) OpenSSL/1.0.1e`): every well-known product in it."""
    found = product_tokens(value)
    if not found and value.strip():
        lead = value.strip().split("/")[0].split(" ")[0]
        product = PRODUCT_NAMES.get(lead.lower())
        if product is not None:  # a known server that hides its version
            found.append(Software(product, None, product, clean(value, TEXT_LIMIT)))
    return found


def user_agent(value: str) -> list[Software]:
    """HTTP `User-Agent`: the Windows NT version and Internet Explorer version it claims."""
    out: list[Software] = []
    detail = clean(value, TEXT_LIMIT)
    m = UA_WINDOWS.search(value)
    if m:
        w = windows(int(m.group(1)), int(m.group(2)), None, detail)
        if w is not None:
            out.append(w)
    else:
        m = CRYPTOAPI.match(value.strip())
        if m:  # Windows' own certificate fetcher names its NT version
            w = windows(int(m.group(1)), int(m.group(2)), None, detail)
            if w is not None:
                out.append(w)
    m = UA_MSIE.search(value)
    if m:
        out.append(Software("Internet Explorer", m.group(1), "Internet Explorer", detail))
    return out


SSH_BANNER = re.compile(r"^SSH-(\d\.\d{1,2})-([!-~]{1,200})(?: ([ -~]{0,200}))?$")
SSH_GENERIC = re.compile(r"^([A-Za-z][A-Za-z0-9.]*(?:-[A-Za-z][A-Za-z0-9.]*)*)[_-]v?([0-9][0-9.]{0,20})$")
SSH_SOFTWARE = re.compile(r"^(OpenSSH|dropbear|libssh|libssh2|Cisco|ROSSSH|WeOnlyDo|PuTTY_Release|paramiko)"
                          r"[_-]([0-9][A-Za-z0-9.]{0,20})", re.I)


def ssh_banner(line: str) -> Software | None:
    """`SSH-2.0-OpenSSH_5.3` → OpenSSH 5.3; an unknown implementation keeps its own name, no version."""
    m = SSH_BANNER.match(line.rstrip("\r\n"))
    if not m:
        return None
    soft = m.group(2)
    detail = clean(line.rstrip("\r\n"), TEXT_LIMIT)
    v = SSH_SOFTWARE.match(soft)
    if v:
        product = PRODUCT_NAMES.get(v.group(1).lower(), v.group(1))
        return Software(product, v.group(2), product, detail)
    g = SSH_GENERIC.match(soft)
    if g:  # e.g. APACHE-SSHD-2.5.0: a name and a release number
        name = clean(g.group(1), 40) or "SSH"
        return Software(name, g.group(2), name, detail)
    name = clean(soft.split("_")[0], 40) or "SSH"
    return Software(name, None, name, detail)


def _table(patterns: dict[str, str]) -> list[tuple[re.Pattern[str], str]]:
    """(regex, product) pairs from `product: pattern`, in order (the first match wins); `{v}` in a
    pattern stands for a version as banners write it, the pattern's one group is the version if any."""
    return [(re.compile(p.replace("{v}", r"([0-9][0-9A-Za-z.]{0,15})")), product) for product, p in patterns.items()]


def _version(m: re.Match[str]) -> str | None:
    """The version a `_table` pattern caught; None where the product shows none."""
    return (m.group(1) or None) if m.re.groups else None


# Service banners (FTP, SMTP, POP3, IMAP, Telnet).
BANNERS = _table({
    "vsftpd": r"\(vsFTPd {v}\)", "ProFTPD": "ProFTPD {v}", "FileZilla Server": "FileZilla Server(?: version)? {v}",
    "Serv-U": "Serv-U FTP Server v{v}", "Pure-FTPd": "Pure-FTPd", "Microsoft FTP Service": "Microsoft FTP Service",
    "Microsoft SMTP Service": r"Microsoft ESMTP MAIL Service, Version: ([0-9][0-9.]{0,20})",
    "Exim": "ESMTP Exim {v}", "Sendmail": "ESMTP Sendmail {v}", "Postfix": "ESMTP Postfix", "Dovecot": "Dovecot",
    "Microsoft Exchange Server": r"Microsoft Exchange Server (\d{4})", "BusyBox": "BusyBox v{v}",
})


def service_banner(line: str) -> Software | None:
    """A server's greeting line (`220 (vsFTPd 2.3.4)`), when it names a known product."""
    for rx, product in BANNERS:
        m = rx.search(line)
        if m:
            return Software(product, _version(m), product, clean(line.strip(), TEXT_LIMIT))
    return None


SYSDESCR_WINDOWS = re.compile(r"Software: Windows Version (\d{1,2})\.(\d{1,2})(?: \(Build (\d{1,5}))?")
SYSDESCR_LINUX = re.compile(r"^Linux \S+ (\d+\.\d+(?:\.\d+)?)")
SYSDESCR_IOS = re.compile(r"Cisco IOS.{0,80}?Version ([0-9][0-9A-Za-z.()]{0,30})")


def sysdescr(value: str) -> Software:
    """SNMP sysDescr: Windows (version and build), Linux kernel, Cisco IOS; otherwise the text alone."""
    detail = clean(value, TEXT_LIMIT)
    m = SYSDESCR_WINDOWS.search(value)
    if m:
        w = windows(int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) else None, detail)
        if w is not None:
            return w
    m = SYSDESCR_LINUX.search(value)
    if m:
        return Software("Linux kernel", m.group(1), "Linux kernel", detail)
    m = SYSDESCR_IOS.search(value)
    if m:
        return Software("Cisco IOS", m.group(1), "Cisco IOS", detail)
    return Software("SNMP sysDescr", None, "SNMP sysDescr", detail)


SSDP_OS = re.compile(r"^\s*(Windows|Linux|Microsoft-Windows(?:-NT)?)/(\d{1,2}\.\d{1,3}(?:\.\d+)?)", re.I)


def ssdp_server(value: str) -> list[Software]:
    """SSDP/UPnP `SERVER: OS/version UPnP/1.0 product/version`: the OS token and known products."""
    detail = clean(value, TEXT_LIMIT)
    out: list[Software] = []
    m = SSDP_OS.match(value)
    if m:
        if m.group(1).lower().startswith(("windows", "microsoft")):
            parts = m.group(2).split(".")
            w = windows(int(parts[0]), int(parts[1]), None, detail)
            if w is not None:
                out.append(w)
        else:
            out.append(Software("Linux kernel", m.group(2), "Linux kernel", detail))
    return out + product_tokens(value)


DHCP_VENDOR = _table({
    "BusyBox udhcpc": r"^udhcp ([0-9][0-9.]{0,15})$", "dhcpcd": r"^dhcpcd-([0-9][0-9.]{0,15})",
    "Android": r"^android-dhcp-([0-9][0-9.]{0,8})$", "Windows (DHCP client)": r"^MSFT 5\.0$",
})


def dhcp_vendor_class(value: str) -> Software:
    """DHCP option 60: known client stacks with their version; otherwise the class, no version."""
    for rx, product in DHCP_VENDOR:
        m = rx.match(value)
        if m:
            return Software(product, _version(m), product, clean(value, TEXT_LIMIT))
    text = clean(value, 60) or "?"
    return Software("DHCP vendor class", None, "DHCP vendor class", text)
