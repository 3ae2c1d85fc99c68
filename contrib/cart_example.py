#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""The shopping cart of doc/protocol-extension.txt section 6, runnable.

A cart is stored as a comma-separated list of item names.  Clients add
items with read-resolve-write: read every sibling with vget, merge them by
taking the union of their items, add the new item, and write with the
context the read returned.  Writes made from the same (or an old) context
do not overwrite each other: they become siblings, and the next reader's
union brings them back together.  No addition is ever lost.

Two modes:

  sequential (default)
      Deterministic, in the spirit of the worked telnet session.  A cart
      is created; then for each of --rounds rounds, all --clients clients
      read the cart first (so they all hold the same context), and only
      then does each one write its own addition.  The server must report
      one more live sibling per client (STORED 1, STORED 2, ...).  Every
      client resolves the siblings it sees before adding, so each round
      merges the previous one.  At the end a reader resolves the last
      siblings and the final cart must contain every item.

  --concurrent
      --clients workers (threads, or processes with --processes) each
      add --rounds distinct items through Client.update() at the same
      time, racing one another.  A final resolution writes the union, and
      the cart must contain every item of every worker.

Exit status: 0 when every addition is present in the final cart (and the
cart has collapsed to one sibling), 1 when anything is missing or wrong,
2 on a connection or protocol error.

    python3 contrib/cart_example.py --host 127.0.0.1 --port 11211
    python3 contrib/cart_example.py --port 11211 --clients 4 --rounds 10 \\
        --concurrent
"""

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ringcached_client import (Client, RingcachedError,  # noqa: E402
                               TooManySiblings, EMPTY_CONTEXT)


def items_of(value):
    """The set of items of one cart value (bytes)."""
    return set(x for x in value.decode("utf-8").split(",") if x)


def encode(items):
    """A cart value (bytes) from a set of items, sorted for stable output."""
    return ",".join(sorted(items)).encode("utf-8")


def union(values):
    """The resolution: the union of the items of every sibling."""
    items = set()
    for v in values:
        items |= items_of(v)
    return encode(items)


def adder(item):
    """A modifier for Client.update(): adds one item to a cart value."""
    return lambda value: encode(items_of(value) | {item})


def short(ctx):
    return ctx if len(ctx) <= 24 else ctx[:12] + "..." + ctx[-8:]


def connect(args):
    return Client(args.host, args.port, unix_path=args.unix,
                  timeout=args.timeout)


def create_cart(c, key, first_item):
    """Starts a fresh cart, superseding whatever the key held."""
    found = c.get_versions(key)
    ctx = found.context if found is not None else EMPTY_CONTEXT
    n, ctx = c.put(key, encode({first_item}), ctx)
    print("create %s = %s: STORED %d %s" % (key, first_item, n, short(ctx)))
    if n != 1:
        print("FAIL: a fresh cart should have one sibling, has %d" % n)
        return False
    return True


def resolve_final(c, key):
    """Reads the cart, writes the union with its context, returns the
    final set of items, or None when it did not collapse."""
    for attempt in range(20):
        found = c.get_versions(key)
        if found is None:
            print("FAIL: the cart %s is missing" % key)
            return None
        values = [s.value for s in found.siblings]
        print("resolve: %d sibling(s) before the merge" % len(values))
        n, ctx = c.put(key, union(values), found.context)
        print("resolve: STORED %d %s" % (n, short(ctx)))
        if n == 1:
            break
    found = c.get_versions(key)
    if found is None or len(found.siblings) != 1:
        print("FAIL: the cart did not collapse to one sibling: %r" %
              (found,))
        return None
    final = items_of(found.siblings[0].value)
    plain = c.get(key)
    if plain != found.siblings[0].value:
        print("FAIL: plain get shows %r, vget %r" %
              (plain, found.siblings[0].value))
        return None
    return final


def check(final, expected):
    missing = sorted(expected - final)
    extra = sorted(final - expected)
    print("final cart: %d item(s)" % len(final))
    if missing:
        print("FAIL: %d addition(s) lost: %s" % (len(missing),
                                                ", ".join(missing)))
    if extra:
        print("FAIL: unexpected item(s): %s" % ", ".join(extra))
    if not missing and not extra:
        print("OK: all %d addition(s) present, none lost" % len(expected))
        return True
    return False


def run_sequential(args):
    clients = [connect(args) for _ in range(args.clients)]
    key = args.key
    expected = {"apple"}
    ok = create_cart(clients[0], key, "apple")
    for r in range(1, args.rounds + 1):
        # Every client reads before anyone writes: all hold one context.
        reads = []
        for i, c in enumerate(clients):
            found = c.get_versions(key)
            if found is None:
                print("FAIL: round %d: client %d sees no cart" % (r, i))
                return False
            reads.append(found)
            print("round %d: client %d reads %d sibling(s), context %s" %
                  (r, i, len(found.siblings), short(found.context)))
        limited = False
        ctxs = set(f.context for f in reads)
        if len(ctxs) != 1:
            print("FAIL: round %d: the clients read different contexts" % r)
            ok = False
        for i, (c, found) in enumerate(zip(clients, reads)):
            item = "c%d-r%d" % (i, r)
            expected.add(item)
            value = encode(items_of(union([s.value for s in found.siblings]))
                           | {item})
            try:
                n, ctx = c.put(key, value, found.context)
            except TooManySiblings as e:
                # The remedy of doc/versioning.txt section 10: read, resolve
                # and write with the fresh context.
                print("round %d: client %d adds %s: %s; resolving first" %
                      (r, i, item, e.line))
                limited = True
                res = c.update(key, union, modify=adder(item))
                print("round %d: client %d adds %s after resolving: "
                      "STORED %d %s" % (r, i, item, res[1], short(res[2])))
                continue
            print("round %d: client %d adds %s: STORED %d %s" %
                  (r, i, item, n, short(ctx)))
            if n != i + 1 and not limited:
                print("FAIL: expected %d live sibling(s) after this write, "
                      "the server says %d" % (i + 1, n))
                ok = False
        found = clients[0].get_versions(key)
        if limited:
            pass
        elif found is None or len(found.siblings) != len(clients):
            print("FAIL: round %d: expected %d siblings, vget shows %s" %
                  (r, len(clients), None if found is None
                   else len(found.siblings)))
            ok = False
        else:
            # Dominant first: non-increasing write times.
            times = [s.wtime_ms for s in found.siblings]
            if times != sorted(times, reverse=True):
                print("FAIL: siblings not in dominance order: %r" % times)
                ok = False
    final = resolve_final(clients[0], key)
    for c in clients:
        c.close()
    if final is None:
        return False
    return check(final, expected) and ok


def worker(args, wid, errors, lock, conflicts):
    """One concurrent client: adds its items one read-resolve-write each."""
    try:
        with connect(args) as c:
            for r in range(1, args.rounds + 1):
                item = "w%d-i%d" % (wid, r)
                res = c.update(args.key, union, modify=adder(item),
                               default=b"", retries=args.retries)
                if res is None:
                    raise RuntimeError("update wrote nothing")
                if c.last_update_writes > 1:
                    with lock:
                        conflicts[0] += c.last_update_writes - 1
                if args.verbose:
                    with lock:
                        print("worker %d adds %s: %d live sibling(s)" %
                              (wid, item, res[1]))
    except Exception as e:  # reported by the parent
        with lock:
            errors.append("worker %d: %s: %s" % (wid, type(e).__name__, e))


def _proc_worker(args, wid):
    errors = []
    conflicts = [0]
    worker(args, wid, errors, threading.Lock(), conflicts)
    for e in errors:
        print(e, file=sys.stderr)
    if conflicts[0]:
        print("worker %d: %d resolution write(s) after concurrent "
              "siblings" % (wid, conflicts[0]))
    sys.stdout.flush()
    os._exit(1 if errors else 0)


def run_concurrent(args):
    key = args.key
    with connect(args) as c:
        if not create_cart(c, key, "apple"):
            return False
    expected = {"apple"}
    for w in range(args.clients):
        for r in range(1, args.rounds + 1):
            expected.add("w%d-i%d" % (w, r))
    print("concurrent: %d %s adding %d item(s) each" %
          (args.clients, "processes" if args.processes else "threads",
           args.rounds))
    errors = []
    conflicts = [0]
    if args.processes:
        pids = []
        for w in range(args.clients):
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _proc_worker(args, w)
            pids.append(pid)
        for pid in pids:
            _, st = os.waitpid(pid, 0)
            if st != 0:
                errors.append("worker process %d exited with %d" % (pid, st))
    else:
        lock = threading.Lock()
        threads = [threading.Thread(target=worker,
                                    args=(args, w, errors, lock, conflicts))
                   for w in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.timeout * (args.rounds + 1) * (args.retries + 2))
            if t.is_alive():
                errors.append("a worker thread did not finish in time")
    for e in errors:
        print("FAIL: %s" % e)
    if not args.processes:
        print("concurrent: %d resolution write(s) after concurrent siblings"
              % conflicts[0])
    with connect(args) as c:
        found = c.get_versions(key)
        n = len(found.siblings) if found else 0
        print("concurrent: the workers left %d sibling(s)" % n)
        st = c.stats()
        print("server: vset_cmds=%s objects_with_siblings=%s "
              "sibling_limit_refused=%s" % (
                  st.get("vset_cmds"), st.get("objects_with_siblings"),
                  st.get("sibling_limit_refused")))
        final = resolve_final(c, key)
    if final is None:
        return False
    return check(final, expected) and not errors


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Shopping cart over ringcached siblings: concurrent "
        "additions, union resolution, nothing lost.")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=11211)
    ap.add_argument("--unix", metavar="PATH", help="unix socket instead")
    ap.add_argument("--key", default="cart")
    ap.add_argument("--clients", type=int, default=2,
                    help="clients (sequential) or workers (concurrent)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds (sequential) or items per worker")
    ap.add_argument("--concurrent", action="store_true",
                    help="workers race with read-resolve-write")
    ap.add_argument("--processes", action="store_true",
                    help="with --concurrent: processes instead of threads")
    ap.add_argument("--retries", type=int, default=50,
                    help="read-resolve-write attempts per addition")
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    if args.clients < 1 or args.rounds < 1:
        ap.error("--clients and --rounds must be at least 1")
    try:
        ok = run_concurrent(args) if args.concurrent else run_sequential(args)
    except RingcachedError as e:
        print("ERROR: %s: %s" % (type(e).__name__, e))
        return 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
