"""The test-bed router's own share of a start(): how long miniupnpd takes to answer an
M-SEARCH, to serve its description, and to make two mappings sent at once (UDP and TCP,
as UPNPPortMapper does). A plain client with no logic of ours, so that the benchmark's
figures can be read against what no client can go below. Run inside the bed's client
namespace (bench-mapper.sh does): python3 router_floor.py ROOTDESC_URL CLIENT_IP PORT RUNS
"""

import http.client
import socket
import statistics
import sys
import threading
import time
from urllib.parse import urlsplit

ROOTDESC, CLIENT, PORT, RUNS = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
HOST = urlsplit(ROOTDESC).hostname
HTTP_PORT = urlsplit(ROOTDESC).port
SERVICE = "urn:schemas-upnp-org:service:WANIPConnection:2"
CONTROL = "/ctl/IPConn"  # miniupnpd's control path


def ms_since(start):
    return (time.perf_counter() - start) * 1000


def ssdp_first_answer():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(3)
    search = (
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
        "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
        'MAN: "ssdp:discover"\r\nMX: 2\r\n\r\n'
    )
    start = time.perf_counter()
    sock.sendto(search.encode(), ("239.255.255.250", 1900))
    sock.recvfrom(4096)
    sock.close()
    return ms_since(start)


def request(method, path, body=None, action=None):
    conn = http.client.HTTPConnection(HOST, HTTP_PORT, timeout=5)
    headers = {"Content-Type": 'text/xml; charset="utf-8"'}
    if action:
        headers["SOAPAction"] = f'"{SERVICE}#{action}"'
    conn.request(method, path, body, headers)
    answer = conn.getresponse()
    answer.read()
    conn.close()
    return answer.status


def soap(action, args):
    body = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        ' s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
        f'<u:{action} xmlns:u="{SERVICE}">{args}</u:{action}></s:Body></s:Envelope>'
    )
    return request("POST", CONTROL, body, action)


def mapping(port, proto):
    return (
        f"<NewRemoteHost></NewRemoteHost><NewExternalPort>{port}</NewExternalPort>"
        f"<NewProtocol>{proto}</NewProtocol>"
    )


def add(port, proto, results):
    args = mapping(port, proto) + (
        f"<NewInternalPort>{port}</NewInternalPort><NewInternalClient>{CLIENT}</NewInternalClient>"
        "<NewEnabled>1</NewEnabled><NewPortMappingDescription>floor</NewPortMappingDescription>"
        "<NewLeaseDuration>3600</NewLeaseDuration>"
    )
    results.append(soap("AddPortMapping", args))


def two_adds_at_once(port):
    results = []
    threads = [threading.Thread(target=add, args=(port, p, results)) for p in ("UDP", "TCP")]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = ms_since(start)
    if results != [200, 200]:
        sys.exit(f"AddPortMapping answered {results}")
    for proto in ("UDP", "TCP"):
        soap("DeletePortMapping", mapping(port, proto))
    return elapsed


def timed(call):
    start = time.perf_counter()
    call()
    return ms_since(start)


def report(label, samples):
    print(
        f"  {label:<44} min {min(samples):8.1f}  median {statistics.median(samples):8.1f}"
        f"  max {max(samples):8.1f}  (n={len(samples)})"
    )


searches, descriptions, adds = [], [], []
for run in range(RUNS):
    searches.append(ssdp_first_answer())
    descriptions.append(timed(lambda: request("GET", urlsplit(ROOTDESC).path)))
    adds.append(two_adds_at_once(PORT + run))
    time.sleep(0.1)
report("M-SEARCH -> the router's first answer", searches)
report("GET description", descriptions)
report("AddPortMapping UDP + TCP sent at once", adds)
