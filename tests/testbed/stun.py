#!/usr/bin/env python3
"""A minimal STUN client (RFC 8489 Binding request) for the test bed: tells the address
and port the STUN server saw, i.e. the outermost NAT's mapping of this socket.

Independent of the code under test. Sends a Binding request (20-byte header: type
0x0001, length 0, magic cookie 0x2112A442, a random 96-bit transaction ID, no
attributes) from a UDP socket to HOST:PORT, takes the first answer that is a Binding
success response (0x0101) with the same transaction ID, and decodes its
XOR-MAPPED-ADDRESS (0x0020; IPv4: port XOR the cookie's top 16 bits, address XOR the
cookie). MAPPED-ADDRESS (0x0001, plain) is reported too when the server sends it.

Usage: stun.py HOST PORT [--bind ADDRESS] [--tries N] [--timeout SECONDS]
Up to N requests (default 3, at most 10), each waiting at most SECONDS (default 1, at
most 5), retransmitted with the same transaction ID as RFC 8489 6.2.1 says. Prints one
JSON line:
  {"answered": true, "address": "22.33.44.55", "port": 40312, "mapped_address":
   "22.33.44.55", "local": "10.77.0.2:40312", "tries": 1, "rtt_ms": 0.5, "error": ""}
("answered": false with "error" when nothing usable came). Exit status 0 whatever came
(2 on bad arguments).
"""

import argparse
import json
import os
import socket
import struct
import sys
import time

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
XOR_MAPPED_ADDRESS = 0x0020
MAPPED_ADDRESS = 0x0001
FAMILY_IPV4 = 0x01


def request(transaction_id: bytes) -> bytes:
    return struct.pack("!HHI", BINDING_REQUEST, 0, MAGIC_COOKIE) + transaction_id


def attributes(body: bytes):
    """(type, value) pairs of a message body; each value is padded to 4 bytes."""
    at = 0
    while at + 4 <= len(body):
        kind, length = struct.unpack_from("!HH", body, at)
        value = body[at + 4 : at + 4 + length]
        if len(value) < length:
            raise ValueError("attribute 0x%04x truncated" % kind)
        yield kind, value
        at += 4 + (length + 3) // 4 * 4


def ipv4_address(value: bytes, xor: bool):
    """(address, port) of an IPv4 (XOR-)MAPPED-ADDRESS value."""
    family, port, raw = value[1], struct.unpack_from("!H", value, 2)[0], value[4:8]
    if family != FAMILY_IPV4 or len(raw) != 4:
        raise ValueError("not an IPv4 address (family %d)" % family)
    if xor:
        port ^= MAGIC_COOKIE >> 16
        raw = struct.pack("!I", struct.unpack("!I", raw)[0] ^ MAGIC_COOKIE)
    return socket.inet_ntoa(raw), port


def parse(answer: bytes, transaction_id: bytes) -> dict:
    """The mapped addresses of a Binding success response to TRANSACTION_ID."""
    if len(answer) < 20:
        raise ValueError("%d bytes, shorter than a STUN header" % len(answer))
    kind, length, cookie = struct.unpack_from("!HHI", answer)
    if cookie != MAGIC_COOKIE or answer[8:20] != transaction_id:
        raise ValueError("not an answer to our request")
    if kind != BINDING_SUCCESS:
        raise ValueError("message type 0x%04x, not a Binding success response" % kind)
    found = {}
    for attribute, value in attributes(answer[20 : 20 + length]):
        if attribute == XOR_MAPPED_ADDRESS:
            found["address"], found["port"] = ipv4_address(value, xor=True)
        elif attribute == MAPPED_ADDRESS:
            found["mapped_address"] = ipv4_address(value, xor=False)[0]
    if "address" not in found:
        raise ValueError("no XOR-MAPPED-ADDRESS in the answer")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--bind", default="0.0.0.0")
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=1.0)
    args = parser.parse_args()
    if not 1 <= args.tries <= 10 or not 0 < args.timeout <= 5:
        parser.error("--tries must be 1..10 and --timeout 0..5 s")

    result = {"answered": False, "address": "", "port": 0, "mapped_address": "", "tries": 0, "error": ""}
    transaction_id = os.urandom(12)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((args.bind, 0))
        # connected: only the server may answer, and a refusal is reported as one
        sock.connect((args.host, args.port))
        result["local"] = "%s:%d" % sock.getsockname()
        for attempt in range(1, args.tries + 1):
            result["tries"] = attempt
            sent = time.monotonic()
            sock.send(request(transaction_id))
            deadline = sent + args.timeout
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    result["error"] = "timeout"
                    break
                sock.settimeout(left)
                try:
                    answer = sock.recv(2048)
                except socket.timeout:
                    result["error"] = "timeout"
                    break
                except ConnectionRefusedError:
                    result["error"] = "refused"
                    time.sleep(0.1)
                    break
                try:
                    result.update(parse(answer, transaction_id))
                except ValueError as err:
                    result["error"] = str(err)
                    continue
                result.update(answered=True, error="", rtt_ms=round((time.monotonic() - sent) * 1000.0, 2))
                break
            if result["answered"]:
                break
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
