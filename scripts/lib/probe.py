#!/usr/bin/env python3
"""Readiness probes for scripts/services, with nothing but the standard library.

    probe.py kafka HOST PORT   Kafka Metadata request (v4); ok when the reply lists a broker.
    probe.py mongo HOST PORT   MongoDB `ping` as an OP_MSG; ok when the reply has ok: 1.

Exit 0 and one line on stdout when the service answers; exit 1 and the reason on stderr
otherwise. Every socket operation has a short timeout, so a probe never hangs.
"""

import socket
import struct
import sys

TIMEOUT_S = 3.0


def recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


# --- Kafka -------------------------------------------------------------------------------


def kafka_string(s):
    data = s.encode()
    return struct.pack(">h", len(data)) + data


def probe_kafka(host, port):
    # Request header v1: api_key, api_version, correlation_id, client_id.
    # Metadata v4 body: topics = null (all topics), allow_auto_topic_creation = false.
    # (Kafka 4 removed Metadata v0-v3; v4-v8 still use the classic, non-flexible encoding.)
    correlation_id = 0x0FDC
    body = struct.pack(">hhi", 3, 4, correlation_id) + kafka_string("fdc-probe")
    body += struct.pack(">ib", -1, 0)
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.settimeout(TIMEOUT_S)
        sock.sendall(struct.pack(">i", len(body)) + body)
        (size,) = struct.unpack(">i", recv_exact(sock, 4))
        reply = recv_exact(sock, size)
    got_id, _throttle, n_brokers = struct.unpack_from(">iii", reply, 0)
    if got_id != correlation_id:
        raise ValueError("unexpected correlation id %d" % got_id)
    if n_brokers < 1:
        raise ValueError("metadata lists no broker yet")
    off = 12
    brokers = []
    for _ in range(n_brokers):
        node_id, host_len = struct.unpack_from(">ih", reply, off)
        off += 6
        b_host = reply[off : off + host_len].decode()
        off += host_len
        (b_port, rack_len) = struct.unpack_from(">ih", reply, off)
        off += 6 + max(rack_len, 0)
        brokers.append("%d@%s:%d" % (node_id, b_host, b_port))
    (cid_len,) = struct.unpack_from(">h", reply, off)
    cluster_id = reply[off + 2 : off + 2 + cid_len].decode() if cid_len >= 0 else None
    return "kafka ok: brokers=%s cluster_id=%s" % (",".join(brokers), cluster_id)


# --- MongoDB wire protocol -----------------------------------------------------------------


def bson_cstring(s):
    return s.encode() + b"\x00"


def bson_ping():
    elements = b"\x10" + bson_cstring("ping") + struct.pack("<i", 1)
    db = bson_cstring("admin")
    elements += b"\x02" + bson_cstring("$db") + struct.pack("<i", len(db)) + db
    return struct.pack("<i", len(elements) + 5) + elements + b"\x00"


def bson_top_level(doc):
    """The top-level scalar fields of a BSON document (nested values are skipped)."""
    fields = {}
    off = 4
    end = len(doc) - 1
    while off < end:
        kind = doc[off]
        name_end = doc.index(b"\x00", off + 1)
        name = doc[off + 1 : name_end].decode()
        off = name_end + 1
        if kind == 0x01:  # double
            fields[name] = struct.unpack_from("<d", doc, off)[0]
            off += 8
        elif kind in (0x02, 0x0D, 0x0E):  # string, js code, symbol
            (n,) = struct.unpack_from("<i", doc, off)
            fields[name] = doc[off + 4 : off + 3 + n].decode(errors="replace")
            off += 4 + n
        elif kind in (0x03, 0x04):  # document, array
            (n,) = struct.unpack_from("<i", doc, off)
            off += n
        elif kind == 0x05:  # binary
            (n,) = struct.unpack_from("<i", doc, off)
            off += 5 + n
        elif kind == 0x07:  # object id
            off += 12
        elif kind == 0x08:  # bool
            fields[name] = doc[off] == 1
            off += 1
        elif kind in (0x09, 0x11, 0x12):  # datetime, timestamp, int64
            fields[name] = struct.unpack_from("<q", doc, off)[0]
            off += 8
        elif kind in (0x06, 0x0A, 0xFF, 0x7F):  # undefined, null, min key, max key
            fields[name] = None
        elif kind == 0x10:  # int32
            fields[name] = struct.unpack_from("<i", doc, off)[0]
            off += 4
        elif kind == 0x13:  # decimal128
            off += 16
        else:
            raise ValueError("unsupported BSON type 0x%02x in field %r" % (kind, name))
    return fields


def probe_mongo(host, port):
    request_id = 0x0FDC
    payload = struct.pack("<I", 0) + b"\x00" + bson_ping()  # flagBits, section kind 0, body
    header = struct.pack("<iiii", 16 + len(payload), request_id, 0, 2013)  # OP_MSG
    with socket.create_connection((host, port), timeout=TIMEOUT_S) as sock:
        sock.settimeout(TIMEOUT_S)
        sock.sendall(header + payload)
        (length,) = struct.unpack("<i", recv_exact(sock, 4))
        reply = recv_exact(sock, length - 4)
    _req, response_to, opcode = struct.unpack_from("<iii", reply, 0)
    if opcode != 2013 or response_to != request_id:
        raise ValueError("unexpected reply: opcode %d, responseTo %d" % (opcode, response_to))
    if reply[16] != 0:
        raise ValueError("unexpected OP_MSG section kind %d" % reply[16])
    (doc_len,) = struct.unpack_from("<i", reply, 17)
    fields = bson_top_level(reply[17 : 17 + doc_len])
    if fields.get("ok") != 1:
        raise ValueError("ping answered %r" % fields)
    return "mongo ok: ping answered ok: 1"


def main(argv):
    if len(argv) != 4 or argv[1] not in ("kafka", "mongo"):
        sys.stderr.write("usage: probe.py kafka|mongo HOST PORT\n")
        return 2
    probe = probe_kafka if argv[1] == "kafka" else probe_mongo
    try:
        print(probe(argv[2], int(argv[3])))
        return 0
    except (OSError, ValueError, IndexError, struct.error) as err:
        sys.stderr.write("%s %s:%s not ready: %s\n" % (argv[1], argv[2], argv[3], err))
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
