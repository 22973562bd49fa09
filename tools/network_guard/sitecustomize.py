"""The network guard: refuse, and record, every connection to anything but loopback.

Python imports ``sitecustomize`` at start-up from the first folder on ``sys.path`` that has one, so
putting this folder first on ``PYTHONPATH`` guards every Python process started with it. The root
``conftest.py`` does that for the notebook kernels nbval starts, and fails any cell that tried to
reach the network, even when the code swallowed the error (as telemetry does). Each refusal is
appended as a JSON line to the file named by ``LABKIT_NET_GUARD_LOG``.
"""
import ipaddress
import json
import os
import socket

_LOG = os.environ.get("LABKIT_NET_GUARD_LOG")
_INET = (socket.AF_INET, socket.AF_INET6)


def _local(host) -> bool:
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what, target):
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"call": what, "target": repr(target), "pid": os.getpid()}) + "\n")
    raise OSError(f"network guard: {what} to {target!r} blocked (the lab must run offline)")


_connect, _connect_ex, _sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
_getaddrinfo = socket.getaddrinfo


def connect(self, address):
    if self.family in _INET and not _local(address[0]):
        _refuse("connect", address)
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in _INET and not _local(address[0]):
        _refuse("connect_ex", address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    if self.family in _INET and not _local(args[-1][0]):
        _refuse("sendto", args[-1])
    return _sendto(self, data, *args)


def getaddrinfo(host, *args, **kwargs):
    if not _local(host.decode() if isinstance(host, bytes) else host):
        _refuse("getaddrinfo", host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto = connect, connect_ex, sendto
socket.getaddrinfo = getaddrinfo
