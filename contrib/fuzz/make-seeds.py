#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""make-seeds.py - regenerate the committed seed corpora of contrib/fuzz.

Writes seeds/text, seeds/bin and seeds/meta next to this script (each
directory is emptied first): every text command and its error cases, a
packet for every binary opcode plus the framing errors, and meta lines. The
inputs are the ones the unit and TAP tests send. Every seed starts with the
fuzz targets' selector byte (bit 0: -I of 1 KiB instead of 1 MiB; bits 1-7:
where the second run splits the stream), then the client's bytes.

Usage: contrib/fuzz/make-seeds.py   (no arguments; Python 3 only)
"""

import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

SPLIT_MIDDLE = 0x80  # split at half the stream, -I 1 MiB
SPLIT_SMALL_ITEM = 0x81  # split at half the stream, -I 1 KiB
SPLIT_EARLY = 0x20  # split an eighth into the stream, -I 1 MiB

# ---------------------------------------------------------------- text

# A context token (doc/protocol-extension.txt section 6).
CTX = b"3AEAAAGfLE4aez1eYIobLD1OX2BxAAAAAAAgAAM.AXt0gv90dXyzw-HuZ9XUbUk"

TEXT = {
    # retrieval
    "get": b"get foo\r\n",
    "get-many": b"get a b c d e f g h i j k l m n o p q r\r\n",
    "gets": b"gets foo bar\r\n",
    "bget": b"bget foo\r\n",
    "gat": b"gat 100 foo bar\r\n",
    "gats": b"gats -1 foo\r\n",
    "gat-nokey": b"gat 10\r\n",
    "gat-bad-exptime": b"gat abc foo\r\n",
    "get-nokey": b"get\r\n",
    "get-key-251": b"get " + b"k" * 251 + b"\r\n",
    "get-lf-only": b"get foo\n",
    # storage
    "set": b"set foo 0 0 3\r\nbar\r\n",
    "set-noreply": b"set foo 5 100 3 noreply\r\nbar\r\n",
    "set-empty": b"set foo 0 0 0\r\n\r\n",
    "add": b"add foo 1 0 1\r\nx\r\n",
    "replace": b"replace foo 4294967295 0 2\r\nxy\r\n",
    "append": b"append foo 0 0 3\r\nabc\r\n",
    "prepend": b"prepend foo 0 0 3 noreply\r\nabc\r\n",
    "cas": b"cas foo 0 0 3 12345\r\nbar\r\n",
    "cas-noreply": b"cas foo 0 0 1 99 noreply\r\nx\r\n",
    "set-bad-chunk": b"set foo 0 0 3\r\nbarbaz\r\n",
    "set-too-large": b"set foo 0 0 2000000\r\n" + b"x" * 64 + b"\r\n",
    "set-too-large-small-item": b"set foo 0 0 2000\r\n" + b"y" * 40 + b"\r\n",
    "set-neg-length": b"set foo 0 0 -1\r\n",
    "set-bad-flags": b"set foo bar 0 1\r\nx\r\n",
    "set-few-tokens": b"set foo 0 0\r\n",
    "set-key-251": b"set " + b"k" * 251 + b" 0 0 1\r\nx\r\n",
    "set-numbers": b"set foo +1 -0 \t3\r\nbar\r\n",
    "set-split-data": b"set foo 0 0 10\r\n01234",
    # keyed writes
    "delete": b"delete foo\r\n",
    "delete-zero": b"delete foo 0\r\n",
    "delete-noreply": b"delete foo 0 noreply\r\n",
    "delete-bad": b"delete foo 5\r\n",
    "incr": b"incr foo 1\r\n",
    "decr": b"decr foo 18446744073709551615\r\n",
    "incr-bad-delta": b"incr foo -1\r\n",
    "incr-noreply": b"incr foo 5 noreply\r\n",
    "touch": b"touch foo 10\r\n",
    "touch-bad": b"touch foo x noreply\r\n",
    # admin
    "flush_all": b"flush_all\r\n",
    "flush_all-delay": b"flush_all 10 noreply\r\n",
    "flush_all-bad": b"flush_all x\r\n",
    "verbosity": b"verbosity 1\r\n",
    "verbosity-noreply": b"verbosity 1 noreply\r\n",
    "version": b"version\r\n",
    "stats": b"stats\r\n",
    "stats-items": b"stats  items  \r\n",
    "shutdown": b"shutdown graceful\r\n",
    "quit": b"quit\r\nget foo\r\n",
    # errors and framing
    "unknown": b"bogus foo\r\n",
    "empty-line": b"\r\n",
    "one-letter": b"g\r\n",
    "nul-in-line": b"get foo\x00bar\r\n",
    "no-newline": b"get foo",
    "long-line": b"x" * 2100,
    "long-get-line": b"get " + b"k " * 1100,
    "spaces-get": b" " * 99 + b"get " + b"k" * 2000,
    "too-many-tokens": b"set a b c d e f g h i j\r\n",
    # meta commands arrive on text connections
    "meta-mg": b"mg foo v f t c k s O123 q\r\n",
    "meta-ms": b"ms foo 3 T10 F5 I\r\nabc\r\n",
    "meta-md": b"md foo q I T30\r\n",
    "meta-ma": b"ma foo N0 J13 D5 MI\r\n",
    "meta-mn": b"mn\r\n",
    "meta-me": b"me foo\r\n",
    # the causal-versioning extension (doc/protocol-extension.txt)
    "vget": b"vget c a c\r\n",
    "vget-nokey": b"vget\r\n",
    "vset": b"vset c 0 0 5 -\r\napple\r\n",
    "vset-context": b"vset c 1 2 11 " + CTX + b" noreply\r\napple,pears\r\n",
    "vset-bad-context": b"vset c 0 0 5 he!lo\r\napple\r\n",
    "vset-too-large": b"vset c 0 0 2000000 " + CTX + b"\r\n" + b"x" * 32 + b"\r\n",
    "vset-few-tokens": b"vset c 0 0 5\r\napple\r\n",
    "vset-bad-chunk": b"vset c 0 0 2 -\r\nabc\r\n",
    "vdel": b"vdel c " + CTX + b"\r\n",
    "vdel-noreply": b"vdel c - noreply\r\n",
    "long-vget-line": b"vget " + b"k " * 1100,
    # several requests in one read
    "pipeline": b"set a 0 0 1\r\n1\r\nget a b\r\nincr a 1\r\ndelete a\r\nversion\r\n",
    "pipeline-swallow": b"set a 0 0 1500\r\n" + b"z" * 1502 + b"get a\r\n",
}

TEXT_SELECTOR = {
    "set-too-large-small-item": SPLIT_SMALL_ITEM,
    "pipeline-swallow": SPLIT_SMALL_ITEM,
    "pipeline": SPLIT_EARLY,
}

# ---------------------------------------------------------------- meta

META = {
    "mg": b"mg foo\r\n",
    "mg-flags": b"mg foo s v f t c k l h O123 q\r\n",
    "mg-vivify": b"mg foo N30 R10 T60 v c\r\n",
    "mg-base64": b"mg Zm9v b v k\r\n",
    "mg-nokey": b"mg\r\n",
    "mg-bad-flag": b"mg foo !\r\n",
    "mg-key-251": b"mg " + b"k" * 251 + b" v\r\n",
    "mg-many-flags": b"mg foo " + b"v " * 40 + b"\r\n",
    "ms": b"ms foo 3\r\nbar\r\n",
    "ms-flags": b"ms foo 3 T10 F5 C99 q O9 k b\r\nbar\r\n",
    "ms-modes": b"ms foo 2 MA N10\r\nxy\r\nms foo 2 MP\r\nxy\r\nms foo 1 ME\r\nz\r\n",
    "ms-invalidate": b"ms foo 3 I C1 E5\r\nbar\r\n",
    "ms-bad-chunk": b"ms foo 3\r\nbarbaz\r\n",
    "ms-too-large": b"ms foo 2000000 T0\r\n" + b"x" * 32 + b"\r\n",
    "ms-no-length": b"ms foo\r\n",
    "ms-bad-length": b"ms foo abc\r\n",
    "md": b"md foo\r\n",
    "md-flags": b"md foo q I T30 C5 O1 k x\r\n",
    "ma": b"ma foo\r\n",
    "ma-flags": b"ma foo N0 J13 D5 MI T10 v t c\r\n",
    "ma-decr": b"ma foo MD D18446744073709551615 q\r\n",
    "ma-bad-mode": b"ma foo MX\r\n",
    "mn": b"mn\r\n",
    "me": b"me foo\r\n",
    "me-nokey": b"me\r\n",
    "pipeline": b"mg a v q\r\nmg b v q\r\nms c 1 q\r\n1\r\nmd d q\r\nmn\r\n",
    "mixed": b"set a 0 0 1\r\nx\r\nmg a v f\r\nget a\r\nma a\r\n",
    # ringcached's a, y, Y flags
    "mg-all": b"mg foo a v f s y c k t h l O1\r\n",
    "mg-context": b"mg foo y v\r\n",
    "mg-Y": b"mg foo Y-\r\n",
    "ms-Y": b"ms foo 3 Y" + CTX + b" a y c k O1 T10 F2\r\nbar\r\n",
    "ms-Y-empty": b"ms foo 3 Y- q\r\nbar\r\n",
    "ms-Y-mode": b"ms foo 3 Y- ME\r\nbar\r\n",
    "ms-Y-cas": b"ms foo 3 Y- C5\r\nbar\r\n",
    "ms-Y-notoken": b"ms foo 3 Y\r\nbar\r\n",
    "ms-a-y": b"ms foo 3 a y MA\r\nbar\r\n",
    "md-Y": b"md foo Y" + CTX + b" a y k q\r\n",
    "md-a-y": b"md foo a y\r\n",
    "ma-a": b"ma foo a\r\n",
}

META_SELECTOR = {"pipeline": SPLIT_EARLY}

# ---------------------------------------------------------------- binary

OP = {
    "get": 0x00, "set": 0x01, "add": 0x02, "replace": 0x03, "delete": 0x04,
    "increment": 0x05, "decrement": 0x06, "quit": 0x07, "flush": 0x08,
    "getq": 0x09, "noop": 0x0A, "version": 0x0B, "getk": 0x0C, "getkq": 0x0D,
    "append": 0x0E, "prepend": 0x0F, "stat": 0x10, "setq": 0x11, "addq": 0x12,
    "replaceq": 0x13, "deleteq": 0x14, "incrementq": 0x15, "decrementq": 0x16,
    "quitq": 0x17, "flushq": 0x18, "appendq": 0x19, "prependq": 0x1A,
    "verbosity": 0x1B, "touch": 0x1C, "gat": 0x1D, "gatq": 0x1E,
    "sasl_list_mechs": 0x20, "sasl_auth": 0x21, "sasl_step": 0x22,
    "gatk": 0x23, "gatkq": 0x24,
    "vget": 0xE8, "vset": 0xE9, "vdelete": 0xEA, "vsetq": 0xEB, "vdeleteq": 0xEC,
}


def packet(opcode, key=b"", extras=b"", value=b"", cas=0, opaque=0xDEADBEEF,
           magic=0x80, keylen=None, extlen=None, bodylen=None):
    """A request packet; the length fields may be overridden to lie."""
    keylen = len(key) if keylen is None else keylen
    extlen = len(extras) if extlen is None else extlen
    if bodylen is None:
        bodylen = len(extras) + len(key) + len(value)
    header = struct.pack(">BBHBBHIIQ", magic, opcode, keylen, extlen, 0, 0,
                         bodylen, opaque, cas)
    return header + extras + key + value


def store_extras(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def arith_extras(delta=1, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


def vset_extras(flags=0, exptime=0, ctxlen=0):
    return struct.pack(">IIH", flags, exptime, ctxlen)


def bin_seeds():
    seeds = {}
    for name in ("get", "getq", "getk", "getkq", "delete", "deleteq"):
        seeds[name] = packet(OP[name], key=b"foo")
    for name in ("set", "setq", "add", "addq", "replace", "replaceq"):
        seeds[name] = packet(OP[name], key=b"foo", extras=store_extras(5, 100),
                             value=b"bar")
    for name in ("append", "appendq", "prepend", "prependq"):
        seeds[name] = packet(OP[name], key=b"foo", value=b"baz")
    for name in ("increment", "incrementq", "decrement", "decrementq"):
        seeds[name] = packet(OP[name], key=b"n", extras=arith_extras(5, 10, 0))
    for name in ("quit", "quitq", "noop", "version", "sasl_list_mechs"):
        seeds[name] = packet(OP[name])
    seeds["flush"] = packet(OP["flush"])
    seeds["flushq-delay"] = packet(OP["flushq"], extras=struct.pack(">I", 10))
    seeds["stat"] = packet(OP["stat"])
    seeds["stat-group"] = packet(OP["stat"], key=b"items")
    for name in ("touch", "gat", "gatq", "gatk", "gatkq"):
        seeds[name] = packet(OP[name], key=b"foo", extras=struct.pack(">I", 10))
    seeds["sasl_auth"] = packet(OP["sasl_auth"], key=b"PLAIN",
                                value=b"\x00user\x00pass")
    seeds["sasl_step"] = packet(OP["sasl_step"], key=b"PLAIN", value=b"more")
    seeds["verbosity"] = packet(OP["verbosity"], extras=struct.pack(">I", 1))
    # cas and the no-create arithmetic expiry
    seeds["set-cas"] = packet(OP["set"], key=b"foo", extras=store_extras(),
                              value=b"v", cas=42)
    seeds["delete-cas"] = packet(OP["delete"], key=b"foo", cas=7)
    seeds["increment-nocreate"] = packet(OP["increment"], key=b"n",
                                         extras=arith_extras(1, 0, 0xFFFFFFFF))
    # framing errors
    seeds["bad-magic"] = packet(OP["get"], key=b"foo", magic=0x81)
    seeds["unknown-opcode"] = packet(0x30, key=b"foo", value=b"body")
    seeds["key-past-body"] = packet(OP["get"], key=b"foo", bodylen=2)
    seeds["key-251"] = packet(OP["get"], key=b"k" * 251)
    seeds["get-extras"] = packet(OP["get"], key=b"foo", extras=b"\x00" * 4)
    seeds["set-no-extras"] = packet(OP["set"], key=b"foo", value=b"bar")
    seeds["set-too-large"] = packet(OP["set"], key=b"foo", extras=store_extras(),
                                    bodylen=8 + 3 + 2000000)
    seeds["set-negative-length"] = packet(OP["set"], key=b"foo",
                                          extras=store_extras(),
                                          bodylen=0x80000000)
    seeds["sasl-too-large"] = packet(OP["sasl_auth"], key=b"PLAIN",
                                     bodylen=5 + 2000000)
    seeds["noop-body"] = packet(OP["noop"], value=b"x")
    seeds["touch-extra-body"] = packet(OP["touch"], key=b"foo",
                                       extras=struct.pack(">I", 1),
                                       value=packet(OP["noop"]))
    seeds["short-header"] = packet(OP["get"], key=b"foo")[:20]
    seeds["short-body"] = packet(OP["set"], key=b"foo", extras=store_extras(),
                                 value=b"bar")[:30]
    # the causal-versioning extension
    seeds["vget"] = packet(OP["vget"], key=b"foo")
    for name in ("vset", "vsetq"):
        seeds[name] = packet(OP[name], key=b"foo",
                             extras=vset_extras(5, 100, len(CTX)), value=CTX + b"bar")
    seeds["vset-empty-context"] = packet(OP["vset"], key=b"foo",
                                         extras=vset_extras(), value=b"bar")
    for name in ("vdelete", "vdeleteq"):
        seeds[name] = packet(OP[name], key=b"foo", extras=struct.pack(">H", len(CTX)),
                             value=CTX)
    seeds["vset-cas"] = packet(OP["vset"], key=b"foo", extras=vset_extras(),
                               value=b"bar", cas=3)
    seeds["vset-dash"] = packet(OP["vset"], key=b"foo", extras=vset_extras(0, 0, 1),
                                value=b"-bar")
    seeds["vset-ctxlen-past-value"] = packet(OP["vset"], key=b"foo",
                                             extras=vset_extras(0, 0, 9), value=b"bar")
    seeds["vset-too-large"] = packet(OP["vset"], key=b"foo", extras=vset_extras(),
                                     bodylen=10 + 3 + 2000000)
    seeds["vdelete-ctxlen-mismatch"] = packet(OP["vdelete"], key=b"foo",
                                              extras=struct.pack(">H", 2), value=b"abc")
    seeds["reserved-opcode"] = packet(0xED, key=b"foo", value=b"body")
    # several packets in one read
    seeds["pipeline"] = (packet(OP["getkq"], key=b"a") + packet(OP["getkq"], key=b"b")
                         + packet(OP["setq"], key=b"c", extras=store_extras(),
                                  value=b"1")
                         + packet(OP["noop"]))
    seeds["pipeline-swallow"] = (packet(OP["set"], key=b"big",
                                        extras=store_extras(),
                                        value=b"x" * 1200)
                                 + packet(OP["get"], key=b"big"))
    return seeds


BIN_SELECTOR = {"pipeline-swallow": SPLIT_SMALL_ITEM, "pipeline": SPLIT_EARLY}

# ---------------------------------------------------------------- output


def write_dir(name, seeds, selectors):
    path = os.path.join(HERE, "seeds", name)
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    for seed, data in sorted(seeds.items()):
        sel = selectors.get(seed, SPLIT_MIDDLE)
        with open(os.path.join(path, seed), "wb") as f:
            f.write(bytes([sel]) + data)
    print("%s: %d seeds" % (path, len(seeds)))


def main():
    write_dir("text", TEXT, TEXT_SELECTOR)
    write_dir("bin", bin_seeds(), BIN_SELECTOR)
    write_dir("meta", META, META_SELECTOR)


if __name__ == "__main__":
    main()
