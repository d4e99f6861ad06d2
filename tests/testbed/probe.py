#!/usr/bin/env python3
"""Forwarding prober for the test bed's WAN namespace (igd-up.sh IGD_FORWARD=1).

Sends TOKEN to HOST:PORT (the router's external address and a mapped port) as a UDP
datagram and over a TCP connection, and reports whether each arrived: the listener
behind the mapping echoes what it got, so an answer equal to TOKEN proves the packet
reached it and the answer came back through the router. A refusal (ICMP port
unreachable, TCP reset: the router had no mapping) or no answer within the timeout
means it did not arrive.

HOST may be an IPv6 address (the client's, through an IPv6 pinhole).

Usage: probe.py HOST PORT TOKEN [--udp] [--tcp] [--tries N] [--timeout SECONDS] [--wait-go]
       probe.py --listen PORT [--for SECONDS]
(neither --udp nor --tcp: both). Up to N tries per protocol (default 1, at most 20),
each waiting at most SECONDS (default 1, at most 5) for the echo; a try ended early by
a refusal is followed by the next one 0.1 s later; UDP and TCP are probed at the same
time. --wait-go: print "ready", then start probing only when a line arrives on stdin (at
most 30 s; then, or on end of input, exit 3 without probing), so that a caller can start
the prober early and time the probes from its own event, without the interpreter's
start-up. Prints one JSON line:
  {"UDP": {"arrived": true, "tries": 1, "rtt_ms": 0.4, "since_start_ms": 1.2,
           "error": ""}, "TCP": {...}}
rtt_ms: from the successful try's send to the echo; since_start_ms: from the start of
probing (the go line with --wait-go) to the echo; error: the last failure ("refused",
"timeout", "wrong answer ..."). Exit status 0 whatever arrived (2 on bad arguments).

--listen PORT: the other end, for a host with no listener of its own (run it in the
client namespace): a UDP socket and a TCP server on [::]:PORT (IPv4 too) that echo
what arrives (a datagram; a line), print "ready", then one line per echo ("UDP <from>",
"TCP <from>"), until end of input or SECONDS (default 30, at most 120).
"""

import argparse
import json
import select
import socket
import sys
import threading
import time

GO_WAIT_S = 30.0


def elapsed_ms(since: float) -> float:
    return round((time.monotonic() - since) * 1000.0, 2)


def outcome(exchange, expected: bytes) -> str:
    """Runs EXCHANGE (it returns what came back): "" when that is EXPECTED, else why not."""
    try:
        answer = exchange()
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError as err:
        return "error: %s" % err
    return "" if answer == expected else "wrong answer %r" % answer[:64]


def family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp_try(host: str, port: int, token: bytes, timeout: float) -> str:
    """One datagram out, its echo back: "" when it arrived, else why not."""
    with socket.socket(family(host), socket.SOCK_DGRAM) as sock:
        # connected: only the mapped address may answer, and an ICMP port
        # unreachable from the router is reported as a refusal
        sock.connect((host, port))
        sock.settimeout(timeout)
        sock.send(token)
        return outcome(lambda: sock.recv(2048), token)


def tcp_try(host: str, port: int, token: bytes, timeout: float) -> str:
    """One connection, TOKEN and a newline out, the same line back."""

    def exchange() -> bytes:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(token + b"\n")
            answer = b""
            while not answer.endswith(b"\n") and len(answer) < 2048:
                chunk = sock.recv(2048)
                if not chunk:
                    break
                answer += chunk
            return answer

    return outcome(exchange, token + b"\n")


def probe(try_once, start: float, args: argparse.Namespace) -> dict:
    """Up to args.tries tries of `try_once`; the report of the first that arrived."""
    token = args.token.encode()
    error = ""
    for attempt in range(1, args.tries + 1):
        sent = time.monotonic()
        error = try_once(args.host, args.port, token, args.timeout)
        if not error:
            return {
                "arrived": True,
                "tries": attempt,
                "rtt_ms": elapsed_ms(sent),
                "since_start_ms": elapsed_ms(start),
                "error": "",
            }
        if attempt < args.tries and time.monotonic() - sent < args.timeout:
            time.sleep(0.1)
    return {
        "arrived": False,
        "tries": args.tries,
        "rtt_ms": None,
        "since_start_ms": None,
        "error": error,
    }


def listen(port: int, seconds: float) -> None:
    """Echoes UDP datagrams and TCP lines on [::]:PORT until end of input or SECONDS."""
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    for sock in (udp, tcp):
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("::", port))
    tcp.listen(8)
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([udp, tcp, sys.stdin], [], [], left)
        if sys.stdin in ready and not sys.stdin.readline():
            return
        if udp in ready:
            data, peer = udp.recvfrom(2048)
            udp.sendto(data, peer)
            print("UDP %s" % peer[0], flush=True)
        if tcp in ready:
            conn, peer = tcp.accept()
            with conn:
                conn.settimeout(2.0)
                line = b""
                try:
                    while not line.endswith(b"\n") and len(line) < 2048:
                        chunk = conn.recv(2048)
                        if not chunk:
                            break
                        line += chunk
                    conn.sendall(line)
                except OSError:
                    continue
            print("TCP %s" % peer[0], flush=True)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--listen":
        parser = argparse.ArgumentParser(description="echo listener")
        parser.add_argument("--listen", type=int, required=True)
        parser.add_argument("--for", dest="seconds", type=float, default=30.0)
        args = parser.parse_args()
        if not 1 <= args.listen <= 65535 or not 0 < args.seconds <= 120:
            parser.error("port 1-65535, for (0, 120] seconds")
        listen(args.listen, args.seconds)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("token")
    parser.add_argument("--udp", action="store_true")
    parser.add_argument("--tcp", action="store_true")
    parser.add_argument("--tries", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--wait-go", action="store_true")
    args = parser.parse_args()
    if not 1 <= args.port <= 65535 or not 1 <= args.tries <= 20 or not 0 < args.timeout <= 5:
        parser.error("port 1-65535, tries 1-20, timeout (0, 5] seconds")
    if args.wait_go:
        print("ready", flush=True)
        ready, _, _ = select.select([sys.stdin], [], [], GO_WAIT_S)
        if not ready or not sys.stdin.readline():
            sys.exit(3)
    start = time.monotonic()
    both = not (args.udp or args.tcp)
    result = {}
    threads = []
    for wanted, name, try_once in [(args.udp, "UDP", udp_try), (args.tcp, "TCP", tcp_try)]:
        if wanted or both:
            # a thread per protocol: neither waits for the other's tries
            def run(name=name, try_once=try_once):
                result[name] = probe(try_once, start, args)

            threads.append(threading.Thread(target=run))
            threads[-1].start()
    for thread in threads:
        thread.join()
    print(json.dumps(result, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
