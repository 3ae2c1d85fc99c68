/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * test_peer_codec.c - the peer protocol codec (cluster/peer_codec.h, the
 * wire of doc/peer-protocol.txt): the exact bytes of a frame, round trips of
 * every message type, the frame decoder fed byte by byte, every header
 * check, truncated and over-long bodies and lengths inside bodies that pass
 * their end, field checks of every body, the encoders' refusals, and the
 * handshake: success both ways, a wrong secret refused by both sides with
 * nothing given away, replays and reflections refused, version and ring
 * mismatches. A random-garbage loop (fixed seeds, local splitmix64) feeds
 * mutated and random bytes to every decoder and to the handshake; run it
 * under ASan (--enable-sanitizers).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "base/buf.h"
#include "base/endian.h"
#include "base/status.h"
#include "cluster/peer_codec.h"
#include "kv/dvv.h"
#include "kv/object.h"

/* ------------------------------------------------------------ helpers */

static const struct peer_limits big = {1, 1u << 24};

static uint64_t
splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Decode the one frame at b->data + off, which must be whole and valid. */
static size_t
frame_at(const struct buf *b, size_t off, struct peer_frame *f)
{
    struct peer_fault fault;
    size_t need = 0;

    assert_int_equal(peer_frame_decode(&big, b->data + off, b->len - off, f, &need, &fault), RC_OK);
    return need;
}

/* A fake format 3 record: its first two bytes and its size are all the codec
 * looks at. */
static void
fake_record(unsigned char *r, size_t n, unsigned char fill)
{
    memset(r, fill, n);
    r[0] = OBJECT_FORMAT_V3;
    r[1] = OBJECT_KIND;
}

/* Run the decoder for whatever type f is. */
static int
decode_any(const struct peer_frame *f)
{
    struct peer_hello hello;
    uint8_t proof[PEER_PROOF_SIZE];
    struct peer_error err;
    struct peer_ping ping;
    struct peer_pong pong;
    struct peer_put put;
    struct peer_put_ack ack;
    struct peer_get get;
    struct peer_get_reply gr;
    struct peer_forward fw;
    struct peer_forward_reply fr;
    struct peer_flush fl;
    struct peer_sibling s;
    struct peer_sibling_iter it;
    struct peer_fault fault;
    int rc;

    switch (f->h.type) {
    case PEER_T_HELLO:
        return peer_hello_decode(f, &hello, &fault);
    case PEER_T_AUTH:
        return peer_auth_decode(f, proof, &fault);
    case PEER_T_ERROR:
        return peer_error_decode(f, &err, &fault);
    case PEER_T_PING:
        return peer_ping_decode(f, &ping, &fault);
    case PEER_T_PONG:
        return peer_pong_decode(f, &pong, &fault);
    case PEER_T_PUT:
        return peer_put_decode(f, &put, &fault);
    case PEER_T_PUT_ACK:
        return peer_put_ack_decode(f, &ack, &fault);
    case PEER_T_GET:
        return peer_get_decode(f, &get, &fault);
    case PEER_T_GET_REPLY:
        return peer_get_reply_decode(f, &gr, &fault);
    case PEER_T_FORWARD:
        return peer_forward_decode(f, &fw, &fault);
    case PEER_T_FORWARD_REPLY:
        rc = peer_forward_reply_decode(f, &fr, &fault);
        if (rc == RC_OK) {
            size_t n = 0;

            it = peer_sibling_iter(&fr);
            while (peer_sibling_next(&it, &s)) {
                n++;
            }
            assert_int_equal(n, fr.nsiblings);
        }
        return rc;
    case PEER_T_FLUSH:
        return peer_flush_decode(f, &fl, &fault);
    case PEER_T_FLUSH_ACK:
        return peer_flush_ack_decode(f, &fault);
    default:
        fail_msg("type %02x", f->h.type);
        return RC_EINVAL;
    }
}

static struct peer_hello
sample_hello(void)
{
    struct peer_hello h;

    memset(&h, 0, sizeof(h));
    h.min_version = 1;
    h.max_version = 1;
    h.role = PEER_ROLE_INITIATOR;
    memset(h.nonce, 0x11, sizeof(h.nonce));
    memset(h.node_id, 0x22, sizeof(h.node_id));
    memset(h.ring_hash, 0x33, sizeof(h.ring_hash));
    h.partitions = 64;
    h.replicas = 3;
    h.max_inflight = 128;
    h.max_body = 33629363;
    h.wall_ms = -5;
    h.name = "node-a.dc1_x";
    h.nname = strlen(h.name);
    h.ext = "\x01\x02\x03";
    h.next = 3;
    return h;
}

static const struct peer_sibling sample_sibs[3] = {
    {7, 1700000000123LL, "alpha", 5},
    {0, -1, NULL, 0},
    {0xffffffffu, 42, "\x00\xff\r\n", 4},
};

static struct peer_forward
sample_forward(void)
{
    struct peer_forward m;

    memset(&m, 0, sizeof(m));
    m.cmd = PEER_CMD_VSET;
    m.dialect = PEER_DIALECT_META;
    m.options = PEER_OPT_WANT_CONTEXT | PEER_OPT_WANT_NLIVE | PEER_OPT_TTL;
    m.flags = 0xdeadbeef;
    m.exptime = -1;
    m.cas = 1;
    m.delta = 2;
    m.compare_cas = 3;
    m.initial = 4;
    m.ttl = 5;
    m.vivify_ttl = -6;
    m.recache_ttl = 7;
    m.key = "k\x00y";
    m.nkey = 3;
    m.context = "abc.def";
    m.ncontext = 7;
    m.value = "the value";
    m.nvalue = 9;
    return m;
}

static struct peer_forward_reply
sample_forward_reply(void)
{
    struct peer_forward_reply m;

    memset(&m, 0, sizeof(m));
    m.status = PEER_NOT_STORED;
    m.rflags = PEER_RF_WIN | PEER_RF_HIT_BEFORE;
    m.miss = PEER_MISS_EXPIRED;
    m.flags = 99;
    m.cas = 0x0102030405060708ull;
    m.number = 18446744073709551615ull;
    m.ttl = -1;
    m.last_access = 12;
    m.nlive = 3;
    m.context = "ctx.token";
    m.ncontext = 9;
    m.message = "disk on fire";
    m.nmessage = 12;
    m.value = "v";
    m.nvalue = 1;
    m.siblings = sample_sibs;
    m.nsiblings = 3;
    return m;
}

/* One frame of every type, appended to b. */
static void
encode_all(struct buf *b)
{
    static unsigned char rec[300];
    struct peer_hello h = sample_hello();
    uint8_t proof[PEER_PROOF_SIZE];
    struct peer_error e = {PEER_RING_MISMATCH, "ring mismatch", 13, "\x00\x01", 2};
    struct peer_error e2 = {PEER_NOT_REPLICA, "", 0, NULL, 0};
    struct peer_ping ping = {0x1234};
    struct peer_pong pong = {0x1234, 1700000000000LL};
    struct peer_put put;
    struct peer_put_ack ack = {PEER_PUT_UNCHANGED, PEER_ACK_SYNCED, 4, 2, 77};
    struct peer_get get = {9, "key", 3};
    struct peer_get_reply gr = {PEER_GET_FOUND, PEER_GET_DEAD, rec, sizeof(rec)};
    struct peer_get_reply nf = {PEER_GET_NOT_FOUND, 0, NULL, 0};
    struct peer_forward fw = sample_forward();
    struct peer_forward_reply fr = sample_forward_reply();
    struct peer_flush fl = {-1, 1700000000000LL};

    fake_record(rec, sizeof(rec), 0xab);
    memset(proof, 0x5a, sizeof(proof));
    memset(&put, 0, sizeof(put));
    put.flags = PEER_PUT_HINT;
    put.partition = 17;
    memset(put.owner, 0x44, sizeof(put.owner));
    put.key = "user:1";
    put.nkey = 6;
    put.record = rec;
    put.nrecord = sizeof(rec);

    assert_int_equal(peer_hello_encode(&h, b), RC_OK);
    assert_int_equal(peer_auth_encode(proof, b), RC_OK);
    assert_int_equal(peer_error_encode(1, 0, &e, b), RC_OK);
    assert_int_equal(peer_error_encode(1, 5, &e2, b), RC_OK);
    assert_int_equal(peer_ping_encode(1, 1, &ping, b), RC_OK);
    assert_int_equal(peer_pong_encode(1, 1, &pong, b), RC_OK);
    assert_int_equal(peer_put_encode(1, 2, &put, b), RC_OK);
    assert_int_equal(peer_put_ack_encode(1, 2, &ack, b), RC_OK);
    assert_int_equal(peer_get_encode(1, 3, &get, b), RC_OK);
    assert_int_equal(peer_get_reply_encode(1, 3, &gr, b), RC_OK);
    assert_int_equal(peer_get_reply_encode(1, 4, &nf, b), RC_OK);
    assert_int_equal(peer_forward_encode(1, 5, &fw, b), RC_OK);
    assert_int_equal(peer_forward_reply_encode(1, 5, &fr, b), RC_OK);
    assert_int_equal(peer_flush_encode(1, 6, &fl, b), RC_OK);
    assert_int_equal(peer_flush_ack_encode(1, 6, b), RC_OK);
}

#define NFRAMES 15

/* Patch a frame's body length field. */
static void
set_len(unsigned char *frame, uint32_t len)
{
    be_put32(frame + 16, len);
}

/* Decode header then body of the bytes p[0..n): RC_OK or RC_EPROTO (EAGAIN
 * is a failure here: the caller gives whole frames). */
static int
decode_bytes(const struct peer_limits *lim, const void *p, size_t n)
{
    struct peer_frame f;
    struct peer_fault fault;
    size_t need;
    int rc;

    rc = peer_frame_decode(lim, p, n, &f, &need, &fault);
    if (rc == RC_EAGAIN) {
        return rc;
    }
    if (rc != RC_OK) {
        assert_int_equal(rc, RC_EPROTO);
        assert_non_null(fault.why);
        return rc;
    }
    rc = decode_any(&f);
    if (rc != RC_OK) {
        assert_int_equal(rc, RC_EPROTO);
    }
    return rc;
}

/* ------------------------------------------------------------ frames */

static void
test_ping_bytes(void **state)
{
    static const unsigned char want[] = {
        0xd9, 0x50, 0x01, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x02, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0xca, 0xfe, 0xba, 0xbe,
    };
    struct peer_ping ping = {0xcafebabe};
    struct buf b;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_ping_encode(1, 0x102, &ping, &b), RC_OK);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    buf_deinit(&b);
}

static void
test_round_trip(void **state)
{
    struct buf b;
    struct peer_frame f;
    size_t off = 0, n = 0;
    struct peer_hello h, h0 = sample_hello();
    uint8_t proof[PEER_PROOF_SIZE];
    struct peer_error e;
    struct peer_ping ping;
    struct peer_pong pong;
    struct peer_put put;
    struct peer_put_ack ack;
    struct peer_get get;
    struct peer_get_reply gr;
    struct peer_forward fw, fw0 = sample_forward();
    struct peer_forward_reply fr, fr0 = sample_forward_reply();
    struct peer_flush fl;
    struct peer_sibling s;
    struct peer_sibling_iter it;
    size_t i;

    (void)state;
    buf_init(&b);
    encode_all(&b);

    off += frame_at(&b, off, &f);
    assert_int_equal(f.h.type, PEER_T_HELLO);
    assert_int_equal(f.h.id, 0);
    assert_int_equal(f.h.body_len, 107 + 12 + 3);
    assert_int_equal(peer_hello_decode(&f, &h, NULL), RC_OK);
    assert_int_equal(h.min_version, 1);
    assert_int_equal(h.max_version, 1);
    assert_int_equal(h.role, PEER_ROLE_INITIATOR);
    assert_memory_equal(h.nonce, h0.nonce, PEER_NONCE_SIZE);
    assert_memory_equal(h.node_id, h0.node_id, PEER_NODE_ID_SIZE);
    assert_memory_equal(h.ring_hash, h0.ring_hash, PEER_RING_HASH_SIZE);
    assert_int_equal(h.partitions, 64);
    assert_int_equal(h.replicas, 3);
    assert_int_equal(h.max_inflight, 128);
    assert_int_equal(h.max_body, 33629363);
    assert_int_equal(h.wall_ms, -5);
    assert_int_equal(h.nname, h0.nname);
    assert_memory_equal(h.name, h0.name, h0.nname);
    assert_int_equal(h.next, 3);
    assert_memory_equal(h.ext, "\x01\x02\x03", 3);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(peer_auth_decode(&f, proof, NULL), RC_OK);
    for (i = 0; i < PEER_PROOF_SIZE; i++) {
        assert_int_equal(proof[i], 0x5a);
    }
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(f.h.id, 0);
    assert_int_equal(peer_error_decode(&f, &e, NULL), RC_OK);
    assert_int_equal(e.code, PEER_RING_MISMATCH);
    assert_int_equal(e.ntext, 13);
    assert_memory_equal(e.text, "ring mismatch", 13);
    assert_int_equal(e.ndetail, 2);
    assert_memory_equal(e.detail, "\x00\x01", 2);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(f.h.id, 5);
    assert_int_equal(peer_error_decode(&f, &e, NULL), RC_OK);
    assert_int_equal(e.code, PEER_NOT_REPLICA);
    assert_int_equal(e.ntext, 0);
    assert_int_equal(e.ndetail, 0);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(f.h.id, 1);
    assert_int_equal(peer_ping_decode(&f, &ping, NULL), RC_OK);
    assert_int_equal(ping.echo, 0x1234);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(peer_pong_decode(&f, &pong, NULL), RC_OK);
    assert_int_equal(pong.echo, 0x1234);
    assert_int_equal(pong.wall_ms, 1700000000000LL);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(f.h.id, 2);
    assert_int_equal(peer_put_decode(&f, &put, NULL), RC_OK);
    assert_int_equal(put.flags, PEER_PUT_HINT);
    assert_int_equal(put.partition, 17);
    assert_int_equal(put.owner[0], 0x44);
    assert_int_equal(put.owner[15], 0x44);
    assert_int_equal(put.nkey, 6);
    assert_memory_equal(put.key, "user:1", 6);
    assert_int_equal(put.nrecord, 300);
    assert_int_equal(((const unsigned char *)put.record)[299], 0xab);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(peer_put_ack_decode(&f, &ack, NULL), RC_OK);
    assert_int_equal(ack.result, PEER_PUT_UNCHANGED);
    assert_int_equal(ack.flags, PEER_ACK_SYNCED);
    assert_int_equal(ack.nsiblings, 4);
    assert_int_equal(ack.nlive, 2);
    assert_int_equal(ack.cas, 77);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(peer_get_decode(&f, &get, NULL), RC_OK);
    assert_int_equal(get.partition, 9);
    assert_int_equal(get.nkey, 3);
    assert_memory_equal(get.key, "key", 3);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(peer_get_reply_decode(&f, &gr, NULL), RC_OK);
    assert_int_equal(gr.result, PEER_GET_FOUND);
    assert_int_equal(gr.flags, PEER_GET_DEAD);
    assert_int_equal(gr.nrecord, 300);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(f.h.id, 4);
    assert_int_equal(peer_get_reply_decode(&f, &gr, NULL), RC_OK);
    assert_int_equal(gr.result, PEER_GET_NOT_FOUND);
    assert_int_equal(gr.nrecord, 0);
    assert_null(gr.record);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(f.h.body_len, 82 + 3 + 7 + 9);
    assert_int_equal(peer_forward_decode(&f, &fw, NULL), RC_OK);
    assert_int_equal(fw.cmd, fw0.cmd);
    assert_int_equal(fw.dialect, fw0.dialect);
    assert_int_equal(fw.options, fw0.options);
    assert_int_equal(fw.flags, fw0.flags);
    assert_int_equal(fw.exptime, -1);
    assert_int_equal(fw.cas, 1);
    assert_int_equal(fw.delta, 2);
    assert_int_equal(fw.compare_cas, 3);
    assert_int_equal(fw.initial, 4);
    assert_int_equal(fw.ttl, 5);
    assert_int_equal(fw.vivify_ttl, -6);
    assert_int_equal(fw.recache_ttl, 7);
    assert_int_equal(fw.nkey, 3);
    assert_memory_equal(fw.key, "k\x00y", 3);
    assert_int_equal(fw.ncontext, 7);
    assert_memory_equal(fw.context, "abc.def", 7);
    assert_int_equal(fw.nvalue, 9);
    assert_memory_equal(fw.value, "the value", 9);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(peer_forward_reply_decode(&f, &fr, NULL), RC_OK);
    assert_int_equal(fr.status, fr0.status);
    assert_int_equal(fr.rflags, fr0.rflags);
    assert_int_equal(fr.miss, fr0.miss);
    assert_int_equal(fr.flags, 99);
    assert_int_equal(fr.cas, fr0.cas);
    assert_true(fr.number == fr0.number);
    assert_int_equal(fr.ttl, -1);
    assert_int_equal(fr.last_access, 12);
    assert_int_equal(fr.nlive, 3);
    assert_int_equal(fr.ncontext, 9);
    assert_memory_equal(fr.context, "ctx.token", 9);
    assert_int_equal(fr.nmessage, 12);
    assert_memory_equal(fr.message, "disk on fire", 12);
    assert_int_equal(fr.nvalue, 1);
    assert_memory_equal(fr.value, "v", 1);
    assert_int_equal(fr.nsiblings, 3);
    it = peer_sibling_iter(&fr);
    for (i = 0; i < 3; i++) {
        assert_true(peer_sibling_next(&it, &s));
        assert_int_equal(s.flags, sample_sibs[i].flags);
        assert_int_equal(s.wtime_ms, sample_sibs[i].wtime_ms);
        assert_int_equal(s.nvalue, sample_sibs[i].nvalue);
        if (s.nvalue > 0) {
            assert_memory_equal(s.value, sample_sibs[i].value, s.nvalue);
        }
    }
    assert_false(peer_sibling_next(&it, &s));
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(peer_flush_decode(&f, &fl, NULL), RC_OK);
    assert_int_equal(fl.delay, -1);
    assert_int_equal(fl.origin_ms, 1700000000000LL);
    n++;

    off += frame_at(&b, off, &f);
    assert_int_equal(f.h.body_len, 0);
    assert_int_equal(peer_flush_ack_decode(&f, NULL), RC_OK);
    n++;

    assert_int_equal(off, b.len);
    assert_int_equal(n, NFRAMES);
    buf_deinit(&b);
}

/* A real object, encoded by kv/object, travels in a PUT and loads again. */
static void
test_real_record(void **state)
{
    struct object o, back;
    struct object_payload p = {false, 5, 1700000000000LL, "hello", 5};
    struct dvv_actor self;
    struct buf rec, b;
    struct peer_frame f;
    struct peer_put put;
    bool pruned;

    (void)state;
    memset(&self, 0, sizeof(self));
    self.id[0] = 0xa1;
    object_init(&o);
    object_init(&back);
    buf_init(&rec);
    buf_init(&b);
    assert_int_equal(object_update(&o, NULL, true, &p, &self, 7, 1, 0, &pruned), RC_OK);
    assert_int_equal(object_encode(&o, 0x99, &rec), RC_OK);
    memset(&put, 0, sizeof(put));
    put.key = "k";
    put.nkey = 1;
    put.record = rec.data;
    put.nrecord = rec.len;
    put.flags = PEER_PUT_REPAIR;
    assert_int_equal(peer_put_encode(1, 1, &put, &b), RC_OK);
    frame_at(&b, 0, &f);
    memset(&put, 0, sizeof(put));
    assert_int_equal(peer_put_decode(&f, &put, NULL), RC_OK);
    assert_int_equal(put.nrecord, rec.len);
    assert_int_equal(object_load(put.record, put.nrecord, &self, &back), RC_OK);
    assert_int_equal(object_nlive(&back), 1);
    object_deinit(&o);
    object_deinit(&back);
    buf_deinit(&rec);
    buf_deinit(&b);
}

/* Every frame of the stream, the input growing one byte at a time. */
static void
test_byte_by_byte(void **state)
{
    struct buf b;
    struct peer_frame f;
    struct peer_fault fault;
    size_t off = 0, avail, need, frames = 0;
    int rc;

    (void)state;
    buf_init(&b);
    encode_all(&b);
    avail = 0;
    while (off < b.len) {
        avail++;
        assert_true(off + avail <= b.len);
        rc = peer_frame_decode(&big, b.data + off, avail, &f, &need, &fault);
        if (rc == RC_EAGAIN) {
            assert_true(need > avail);
            if (avail < PEER_HEADER_SIZE) {
                assert_int_equal(need, PEER_HEADER_SIZE);
            }
            continue;
        }
        assert_int_equal(rc, RC_OK);
        assert_int_equal(need, avail);
        assert_int_equal(decode_any(&f), RC_OK);
        off += need;
        avail = 0;
        frames++;
    }
    assert_int_equal(frames, NFRAMES);
    buf_deinit(&b);
}

static void
expect_header_fault(const struct peer_limits *lim, const unsigned char *h, size_t n, uint16_t code,
                    const char *why)
{
    struct peer_frame f;
    struct peer_fault fault = {0, NULL};
    size_t need;

    if (peer_frame_decode(lim, h, n, &f, &need, &fault) != RC_EPROTO) {
        fail_msg("not refused: %s", why);
    }
    assert_int_equal(fault.code, code);
    assert_string_equal(fault.why, why);
}

static void
test_header_errors(void **state)
{
    struct buf b;
    unsigned char h[64];
    struct peer_ping ping = {1};
    struct peer_limits hs = {1, PEER_HANDSHAKE_MAX_BODY};
    struct peer_limits small = {1, 200};
    static const uint8_t unknown[] = {0x00, 0x03, 0x05, 0x0f, 0x20, 0x2f, 0x30,
                                      0x40, 0x7f, 0x80, 0x81, 0x82, 0xa0, 0xfe};
    static unsigned char rec[300];
    struct peer_put put;
    size_t i;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_ping_encode(1, 9, &ping, &b), RC_OK);

    /* Bad magic, seen from the first byte on. */
    memcpy(h, b.data, b.len);
    h[0] = 0x80;
    expect_header_fault(&big, h, 1, PEER_PROTOCOL, "bad magic");
    h[0] = 'g';
    expect_header_fault(&big, h, 1, PEER_PROTOCOL, "bad magic");
    h[0] = 0xd9;
    h[1] = 0x51;
    expect_header_fault(&big, h, 2, PEER_PROTOCOL, "bad magic");

    /* Versions. */
    memcpy(h, b.data, b.len);
    h[2] = 0;
    expect_header_fault(&big, h, 3, PEER_PROTOCOL, "unknown version");
    h[2] = PEER_VERSION_MAX + 1;
    expect_header_fault(&big, h, 3, PEER_PROTOCOL, "unknown version");
    h[2] = 2; /* known, but not this connection's (version 1) */
    expect_header_fault(&big, h, 3, PEER_PROTOCOL, "wrong version");
    h[2] = 0xff;
    expect_header_fault(&big, h, b.len, PEER_PROTOCOL, "unknown version");

    /* Types. */
    for (i = 0; i < sizeof(unknown); i++) {
        memcpy(h, b.data, b.len);
        h[3] = unknown[i];
        expect_header_fault(&big, h, 4, PEER_PROTOCOL, "unknown type");
    }

    /* Flags and reserved bytes. */
    memcpy(h, b.data, b.len);
    h[4] = 0x80;
    expect_header_fault(&big, h, 6, PEER_PROTOCOL, "flags set");
    memcpy(h, b.data, b.len);
    h[5] = 0x01;
    expect_header_fault(&big, h, b.len, PEER_PROTOCOL, "flags set");
    memcpy(h, b.data, b.len);
    h[7] = 0x01;
    expect_header_fault(&big, h, 8, PEER_PROTOCOL, "reserved bytes set");

    /* Ids: a request with id 0, a handshake frame with an id. */
    memcpy(h, b.data, b.len);
    memset(h + 8, 0, 8);
    expect_header_fault(&big, h, b.len, PEER_PROTOCOL, "request id 0");
    memcpy(h, b.data, b.len);
    h[3] = PEER_T_PONG;
    memset(h + 8, 0, 8);
    set_len(h, 16);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_PROTOCOL, "request id 0");
    memcpy(h, b.data, b.len);
    h[3] = PEER_T_AUTH;
    set_len(h, 32);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_PROTOCOL,
                        "handshake frame with a request id");

    /* Lengths outside the type's bounds: checked from the header alone. */
    memcpy(h, b.data, b.len);
    set_len(h, 7);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_PROTOCOL, "body length wrong for the type");
    set_len(h, 9);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_PROTOCOL, "body length wrong for the type");
    set_len(h, 0xffffffffu);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_PROTOCOL, "body length wrong for the type");
    h[3] = PEER_T_FLUSH_ACK;
    set_len(h, 1);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_PROTOCOL, "body length wrong for the type");
    h[3] = PEER_T_GET;
    set_len(h, 259);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_PROTOCOL, "body length wrong for the type");
    h[3] = PEER_T_ERROR;
    set_len(h, 519);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_PROTOCOL, "body length wrong for the type");

    /* Over the connection's limit: FRAME_TOO_LARGE, before the body. */
    memcpy(h, b.data, b.len);
    h[3] = PEER_T_PUT;
    set_len(h, 0xffffffffu);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_FRAME_TOO_LARGE, "frame too large");
    set_len(h, (1u << 24) + 1);
    expect_header_fault(&big, h, PEER_HEADER_SIZE, PEER_FRAME_TOO_LARGE, "frame too large");
    set_len(h, PEER_HANDSHAKE_MAX_BODY + 1);
    expect_header_fault(&hs, h, PEER_HEADER_SIZE, PEER_FRAME_TOO_LARGE, "frame too large");
    set_len(h, 201);
    expect_header_fault(&small, h, PEER_HEADER_SIZE, PEER_FRAME_TOO_LARGE, "frame too large");

    /* A PUT of exactly the limit is fine. */
    fake_record(rec, sizeof(rec), 0);
    memset(&put, 0, sizeof(put));
    put.key = "abcdefgh";
    put.nkey = 200 - 28 - 104;
    put.record = rec;
    put.nrecord = 104;
    buf_reset(&b);
    put.key = (const char *)rec;
    assert_int_equal(peer_put_encode(1, 1, &put, &b), RC_OK);
    assert_int_equal(b.len, PEER_HEADER_SIZE + 200);
    assert_int_equal(decode_bytes(&small, b.data, b.len), RC_OK);

    /* A wrong version for this connection (handshake limits, version 1):
     * nothing else exists yet, so fake a connection that expects 2. */
    {
        struct peer_limits v2 = {2, 1u << 20};
        buf_reset(&b);
        assert_int_equal(peer_ping_encode(1, 9, &ping, &b), RC_OK);
        expect_header_fault(&v2, (const unsigned char *)b.data, 3, PEER_PROTOCOL, "wrong version");
    }
    buf_deinit(&b);
}

/* Every strict prefix of every body, and every body with a byte more, is
 * refused (at the header's bounds or by the body's layout). */
static void
test_truncated_and_trailing(void **state)
{
    struct buf b, t;
    struct peer_frame f;
    size_t off = 0, need, cut;

    (void)state;
    buf_init(&b);
    buf_init(&t);
    encode_all(&b);
    while (off < b.len) {
        need = frame_at(&b, off, &f);
        for (cut = 0; cut < f.h.body_len; cut++) {
            buf_reset(&t);
            assert_int_equal(buf_append(&t, b.data + off, PEER_HEADER_SIZE + cut), RC_OK);
            set_len((unsigned char *)t.data, (uint32_t)cut);
            assert_int_equal(decode_bytes(&big, t.data, t.len), RC_EPROTO);
        }
        buf_reset(&t);
        assert_int_equal(buf_append(&t, b.data + off, need), RC_OK);
        assert_int_equal(buf_append(&t, "\0", 1), RC_OK);
        set_len((unsigned char *)t.data, f.h.body_len + 1);
        assert_int_equal(decode_bytes(&big, t.data, t.len), RC_EPROTO);
        off += need;
    }
    buf_deinit(&b);
    buf_deinit(&t);
}

/* Encode with `enc`, then corrupt byte `at` of the body (offset from the
 * body start) to `v`, or a u16/u32 field; the decoder must refuse. */
static void
expect_body_fault(const struct buf *frame, size_t at, size_t width, uint32_t v, const char *why)
{
    struct buf t;
    struct peer_frame f;
    struct peer_fault fault = {0, NULL};
    size_t need;
    unsigned char *p;

    buf_init(&t);
    assert_int_equal(buf_append(&t, frame->data, frame->len), RC_OK);
    p = (unsigned char *)t.data + PEER_HEADER_SIZE + at;
    if (width == 1) {
        p[0] = (unsigned char)v;
    } else if (width == 2) {
        be_put16(p, (uint16_t)v);
    } else {
        be_put32(p, v);
    }
    assert_int_equal(peer_frame_decode(&big, t.data, t.len, &f, &need, &fault), RC_OK);
    switch (f.h.type) {
    case PEER_T_HELLO: {
        struct peer_hello m;
        assert_int_equal(peer_hello_decode(&f, &m, &fault), RC_EPROTO);
        break;
    }
    case PEER_T_ERROR: {
        struct peer_error m;
        assert_int_equal(peer_error_decode(&f, &m, &fault), RC_EPROTO);
        break;
    }
    case PEER_T_PUT: {
        struct peer_put m;
        assert_int_equal(peer_put_decode(&f, &m, &fault), RC_EPROTO);
        break;
    }
    case PEER_T_PUT_ACK: {
        struct peer_put_ack m;
        assert_int_equal(peer_put_ack_decode(&f, &m, &fault), RC_EPROTO);
        break;
    }
    case PEER_T_GET: {
        struct peer_get m;
        assert_int_equal(peer_get_decode(&f, &m, &fault), RC_EPROTO);
        break;
    }
    case PEER_T_GET_REPLY: {
        struct peer_get_reply m;
        assert_int_equal(peer_get_reply_decode(&f, &m, &fault), RC_EPROTO);
        break;
    }
    case PEER_T_FORWARD: {
        struct peer_forward m;
        assert_int_equal(peer_forward_decode(&f, &m, &fault), RC_EPROTO);
        break;
    }
    case PEER_T_FORWARD_REPLY: {
        struct peer_forward_reply m;
        assert_int_equal(peer_forward_reply_decode(&f, &m, &fault), RC_EPROTO);
        break;
    }
    default:
        fail_msg("type %02x", f.h.type);
    }
    assert_int_equal(fault.code, PEER_PROTOCOL);
    if (strcmp(fault.why, why) != 0) {
        fail_msg("type %02x at %zu = %u: \"%s\", want \"%s\"", f.h.type, at, (unsigned)v, fault.why,
                 why);
    }
    buf_deinit(&t);
}

/* FORWARD with PEER_OPT_QUORUM: r and w follow the value; without the
 * bit the body is the old one, byte for byte. */
static void
test_forward_quorum(void **state)
{
    struct buf b;
    struct peer_frame f;
    struct peer_forward fw = sample_forward(), out;
    size_t plain;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_OK);
    plain = b.len;
    buf_reset(&b);
    fw.options |= PEER_OPT_QUORUM;
    fw.r = 1;
    fw.w = 3;
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_OK);
    assert_int_equal(b.len, plain + 2);
    frame_at(&b, 0, &f);
    assert_int_equal(f.h.body_len, 82 + 3 + 7 + 9 + 2);
    assert_int_equal(peer_forward_decode(&f, &out, NULL), RC_OK);
    assert_int_equal(out.options, fw.options);
    assert_int_equal(out.r, 1);
    assert_int_equal(out.w, 3);
    assert_int_equal(out.nvalue, 9);
    assert_memory_equal(out.value, "the value", 9);
    /* the bytes sit at 82 + k + c + v = 101 */
    expect_body_fault(&b, 101, 1, 17, "quorum above 16");
    expect_body_fault(&b, 102, 1, 255, "quorum above 16");
    expect_body_fault(&b, 4, 4, fw.options & ~PEER_OPT_QUORUM, "trailing bytes");
    expect_body_fault(&b, 78, 4, 11, "truncated body");
    /* 0 means "the node's default"; 16 is the top */
    buf_reset(&b);
    fw.r = 0;
    fw.w = 16;
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_OK);
    frame_at(&b, 0, &f);
    assert_int_equal(peer_forward_decode(&f, &out, NULL), RC_OK);
    assert_int_equal(out.r, 0);
    assert_int_equal(out.w, 16);
    /* the encoder refuses what the decoder would */
    buf_reset(&b);
    fw.w = 17;
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_EINVAL);
    fw = sample_forward();
    fw.r = 2; /* without the bit */
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_EINVAL);
    assert_int_equal(b.len, 0);
    buf_deinit(&b);
}

static void
test_body_errors(void **state)
{
    struct buf b;
    struct peer_hello h = sample_hello();
    struct peer_error e = {PEER_PROTOCOL, "bad", 3, "dd", 2};
    struct peer_error e5 = {PEER_IO, "io", 2, NULL, 0};
    struct peer_put put;
    struct peer_put_ack ack = {0, 0, 1, 1, 1};
    struct peer_get get = {1, "key", 3};
    struct peer_get_reply gr;
    struct peer_forward fw = sample_forward();
    struct peer_forward_reply fr = sample_forward_reply();
    static unsigned char rec[120];
    size_t sib0;

    (void)state;
    buf_init(&b);
    fake_record(rec, sizeof(rec), 1);

    /* HELLO (body offsets of PP.5.1; name at 105, 12 bytes; ext at 117). */
    assert_int_equal(peer_hello_encode(&h, &b), RC_OK);
    expect_body_fault(&b, 0, 1, 0, "bad version range");
    expect_body_fault(&b, 0, 1, 2, "bad version range");
    expect_body_fault(&b, 2, 1, 0, "bad role");
    expect_body_fault(&b, 2, 1, 3, "bad role");
    expect_body_fault(&b, 3, 1, 1, "hello flags set");
    expect_body_fault(&b, 84, 4, 0, "bad partitions or replicas");
    expect_body_fault(&b, 84, 4, 48, "bad partitions or replicas");
    expect_body_fault(&b, 88, 2, 0, "bad partitions or replicas");
    expect_body_fault(&b, 90, 2, 0, "bad max in flight");
    expect_body_fault(&b, 92, 4, 65535, "bad max body");
    expect_body_fault(&b, 92, 4, 0x80000000u, "bad max body");
    expect_body_fault(&b, 104, 1, 0, "truncated body"); /* name 0: ext len misread */
    expect_body_fault(&b, 104, 1, 200, "truncated body");
    expect_body_fault(&b, 105, 1, ' ', "bad node name");
    expect_body_fault(&b, 105, 1, 0xc3, "bad node name");
    expect_body_fault(&b, 117, 2, 4, "truncated body");
    expect_body_fault(&b, 117, 2, 2, "trailing bytes");
    expect_body_fault(&b, 117, 2, 0xffff, "truncated body");
    {
        struct buf z;
        buf_init(&z);
        assert_int_equal(buf_append(&z, b.data, b.len), RC_OK);
        memset(z.data + PEER_HEADER_SIZE + 36, 0, 16);
        expect_body_fault(&z, 36, 1, 0, "zero node id");
        buf_deinit(&z);
    }

    /* ERROR. */
    buf_reset(&b);
    assert_int_equal(peer_error_encode(1, 0, &e, &b), RC_OK);
    expect_body_fault(&b, 2, 2, 4, "truncated body");
    expect_body_fault(&b, 2, 2, 2, "trailing bytes"); /* one byte left over */
    expect_body_fault(&b, 4, 2, 3, "truncated body");
    expect_body_fault(&b, 4, 2, 1, "trailing bytes");
    expect_body_fault(&b, 2, 2, 257, "error text or detail too long");
    expect_body_fault(&b, 4, 2, 0xffff, "error text or detail too long");
    expect_body_fault(&b, 6, 1, '\n', "error text not printable");
    expect_body_fault(&b, 0, 2, PEER_IO, "error code and id disagree");
    buf_reset(&b);
    assert_int_equal(peer_error_encode(1, 7, &e5, &b), RC_OK);
    expect_body_fault(&b, 0, 2, PEER_AUTH_FAILED, "error code and id disagree");

    /* PUT: flags 0, reserved 1, key len 2, partition 4, owner 8, rec len 24. */
    memset(&put, 0, sizeof(put));
    put.key = "key";
    put.nkey = 3;
    put.record = rec;
    put.nrecord = sizeof(rec);
    buf_reset(&b);
    assert_int_equal(peer_put_encode(1, 1, &put, &b), RC_OK);
    expect_body_fault(&b, 0, 1, 0x08, "bad put flags or owner");
    expect_body_fault(&b, 0, 1, PEER_PUT_REPAIR | PEER_PUT_HANDOFF, "bad put flags or owner");
    expect_body_fault(&b, 0, 1, PEER_PUT_HINT, "bad put flags or owner"); /* zero owner */
    expect_body_fault(&b, 8, 1, 1, "bad put flags or owner");             /* owner, no hint */
    expect_body_fault(&b, 1, 1, 1, "reserved bytes set");
    expect_body_fault(&b, 2, 2, 0, "bad key length");
    expect_body_fault(&b, 2, 2, 251, "bad key length");
    expect_body_fault(&b, 2, 2, 200, "truncated body");
    expect_body_fault(&b, 2, 2, 2, "trailing bytes");
    expect_body_fault(&b, 24, 4, 0xffffffffu, "truncated body");
    expect_body_fault(&b, 24, 4, 121, "truncated body");
    expect_body_fault(&b, 24, 4, 119, "trailing bytes");
    expect_body_fault(&b, 28 + 3, 1, 2, "not a format 3 record");
    expect_body_fault(&b, 28 + 4, 1, 0, "not a format 3 record");

    /* PUT_ACK. */
    buf_reset(&b);
    assert_int_equal(peer_put_ack_encode(1, 1, &ack, &b), RC_OK);
    expect_body_fault(&b, 0, 1, 3, "bad put ack");
    expect_body_fault(&b, 1, 1, 2, "bad put ack");
    expect_body_fault(&b, 2, 2, 1, "bad put ack");

    /* GET. */
    buf_reset(&b);
    assert_int_equal(peer_get_encode(1, 1, &get, &b), RC_OK);
    expect_body_fault(&b, 0, 1, 1, "get flags set");
    expect_body_fault(&b, 1, 1, 1, "get flags set");
    expect_body_fault(&b, 2, 2, 0, "bad key length");
    expect_body_fault(&b, 2, 2, 4, "truncated body");
    expect_body_fault(&b, 2, 2, 1, "trailing bytes");

    /* GET_REPLY. */
    memset(&gr, 0, sizeof(gr));
    gr.result = PEER_GET_FOUND;
    gr.record = rec;
    gr.nrecord = sizeof(rec);
    buf_reset(&b);
    assert_int_equal(peer_get_reply_encode(1, 1, &gr, &b), RC_OK);
    expect_body_fault(&b, 0, 1, 2, "bad get reply");
    expect_body_fault(&b, 0, 1, PEER_GET_NOT_FOUND, "bad get reply");
    expect_body_fault(&b, 1, 1, 2, "bad get reply");
    expect_body_fault(&b, 3, 1, 1, "bad get reply");
    expect_body_fault(&b, 4, 4, 121, "truncated body");
    expect_body_fault(&b, 4, 4, 0x7fffffffu, "truncated body");
    expect_body_fault(&b, 4, 4, 103, "trailing bytes");
    expect_body_fault(&b, 8, 1, 1, "bad get reply");

    /* FORWARD: key at 82 (3), context at 85 (7), value at 92 (9). */
    buf_reset(&b);
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_OK);
    expect_body_fault(&b, 0, 1, 0, "unknown forward command");
    expect_body_fault(&b, 0, 1, 18, "unknown forward command");
    expect_body_fault(&b, 0, 1, PEER_CMD_GET, "value on a command without one");
    expect_body_fault(&b, 0, 1, PEER_CMD_SET, "context on a command without one");
    expect_body_fault(&b, 1, 1, 3, "unknown dialect");
    expect_body_fault(&b, 4, 4, 0x0002, "unknown option bit");
    expect_body_fault(&b, 4, 4, 0x0800, "unknown option bit");
    /* QUORUM set but no r and w after the value */
    expect_body_fault(&b, 4, 4, fw.options | PEER_OPT_QUORUM, "truncated body");
    expect_body_fault(&b, 2, 2, 0, "bad key length");
    expect_body_fault(&b, 2, 2, 251, "bad key length");
    expect_body_fault(&b, 76, 2, 544, "context too long");
    expect_body_fault(&b, 76, 2, 17, "truncated body");
    expect_body_fault(&b, 78, 4, 10, "truncated body");
    expect_body_fault(&b, 78, 4, 0xffffffffu, "truncated body");
    expect_body_fault(&b, 78, 4, 8, "trailing bytes");

    /* FORWARD_REPLY: context 9 at 56, message 12 at 65, value 1 at 77,
     * siblings from 78: 16 + 5, 16 + 0, 16 + 4. */
    buf_reset(&b);
    assert_int_equal(peer_forward_reply_encode(1, 1, &fr, &b), RC_OK);
    sib0 = 78;
    expect_body_fault(&b, 0, 2, 0x0100, "connection code as a result");
    expect_body_fault(&b, 2, 1, 0x20, "bad result flags");
    expect_body_fault(&b, 3, 1, 4, "bad result flags");
    expect_body_fault(&b, 44, 2, 544, "forward reply count out of range");
    expect_body_fault(&b, 46, 2, 257, "forward reply count out of range");
    expect_body_fault(&b, 48, 4, 4097, "forward reply count out of range");
    expect_body_fault(&b, 48, 4, 4, "truncated body");
    expect_body_fault(&b, 48, 4, 2, "trailing bytes");
    expect_body_fault(&b, 52, 4, 0xfffffff0u, "truncated body");
    expect_body_fault(&b, 65, 1, 0x7f, "message not printable");
    expect_body_fault(&b, sib0 + 12, 4, 6, "truncated body");
    expect_body_fault(&b, sib0 + 12, 4, 0xffffffffu, "truncated body");
    expect_body_fault(&b, sib0 + 21 + 12, 4, 1, "truncated body");
    expect_body_fault(&b, sib0 + 37 + 12, 4, 3, "trailing bytes");
    buf_deinit(&b);
}

/* A frame of the wrong type is refused by each body decoder. */
static void
test_wrong_type(void **state)
{
    struct buf b;
    struct peer_frame f;
    struct peer_ping ping = {1};
    struct peer_pong pong;
    struct peer_flush fl;
    struct peer_fault fault;

    (void)state;
    buf_init(&b);
    assert_int_equal(peer_ping_encode(1, 1, &ping, &b), RC_OK);
    frame_at(&b, 0, &f);
    assert_int_equal(peer_pong_decode(&f, &pong, &fault), RC_EPROTO);
    assert_string_equal(fault.why, "unexpected frame type");
    assert_int_equal(peer_flush_decode(&f, &fl, NULL), RC_EPROTO);
    assert_int_equal(peer_flush_ack_decode(&f, NULL), RC_EPROTO);
    /* Direction. */
    assert_int_equal(peer_frame_expect(PEER_ROLE_RESPONDER, &f, NULL), RC_OK);
    assert_int_equal(peer_frame_expect(PEER_ROLE_INITIATOR, &f, &fault), RC_EPROTO);
    f.h.type = PEER_T_PONG;
    assert_int_equal(peer_frame_expect(PEER_ROLE_INITIATOR, &f, NULL), RC_OK);
    assert_int_equal(peer_frame_expect(PEER_ROLE_RESPONDER, &f, NULL), RC_EPROTO);
    f.h.type = PEER_T_ERROR;
    assert_int_equal(peer_frame_expect(PEER_ROLE_RESPONDER, &f, NULL), RC_OK);
    assert_int_equal(peer_frame_expect(PEER_ROLE_INITIATOR, &f, NULL), RC_OK);
    f.h.type = PEER_T_HELLO;
    assert_int_equal(peer_frame_expect(PEER_ROLE_RESPONDER, &f, NULL), RC_EPROTO);
    assert_int_equal(peer_frame_expect(PEER_ROLE_INITIATOR, &f, NULL), RC_EPROTO);
    buf_deinit(&b);
}

/* Encoders refuse what decoders refuse, and leave out unchanged. */
static void
test_encode_refuses(void **state)
{
    struct buf b;
    struct peer_hello h;
    struct peer_error e;
    struct peer_ping ping = {1};
    struct peer_put put;
    struct peer_put_ack ack = {0, 0, 0, 0, 0};
    struct peer_get get = {0, "k", 1};
    struct peer_get_reply gr;
    struct peer_forward fw;
    struct peer_forward_reply fr;
    static unsigned char rec[104];
    char longname[80];
    struct peer_sibling sib = {0, 0, NULL, 3};

    (void)state;
    buf_init(&b);
    assert_int_equal(buf_append(&b, "xyz", 3), RC_OK);
    fake_record(rec, sizeof(rec), 0);

    h = sample_hello();
    h.role = 0;
    assert_int_equal(peer_hello_encode(&h, &b), RC_EINVAL);
    h = sample_hello();
    h.partitions = 3;
    assert_int_equal(peer_hello_encode(&h, &b), RC_EINVAL);
    h = sample_hello();
    memset(longname, 'a', sizeof(longname));
    h.name = longname;
    h.nname = 65;
    assert_int_equal(peer_hello_encode(&h, &b), RC_EINVAL);
    h.nname = 64;
    assert_int_equal(peer_hello_encode(&h, &b), RC_OK);
    b.len = 3;
    h.name = "a b";
    h.nname = 3;
    assert_int_equal(peer_hello_encode(&h, &b), RC_EINVAL);
    h = sample_hello();
    h.next = 1024;
    assert_int_equal(peer_hello_encode(&h, &b), RC_EINVAL);
    h = sample_hello();
    memset(h.node_id, 0, sizeof(h.node_id));
    assert_int_equal(peer_hello_encode(&h, &b), RC_EINVAL);

    memset(&e, 0, sizeof(e));
    e.code = PEER_IO;
    assert_int_equal(peer_error_encode(1, 0, &e, &b), RC_EINVAL); /* request code, id 0 */
    e.code = PEER_PROTOCOL;
    assert_int_equal(peer_error_encode(1, 3, &e, &b), RC_EINVAL);
    e.text = "bad\n";
    e.ntext = 4;
    assert_int_equal(peer_error_encode(1, 0, &e, &b), RC_EINVAL);
    e.text = "ok";
    e.ntext = 2;
    assert_int_equal(peer_error_encode(PEER_VERSION_MAX + 1, 0, &e, &b),
                     RC_EINVAL); /* unknown version */

    assert_int_equal(peer_ping_encode(1, 0, &ping, &b), RC_EINVAL);
    assert_int_equal(peer_ping_encode(0, 1, &ping, &b), RC_EINVAL);

    memset(&put, 0, sizeof(put));
    put.key = "k";
    put.nkey = 1;
    put.record = rec;
    put.nrecord = 103;
    assert_int_equal(peer_put_encode(1, 1, &put, &b), RC_EINVAL);
    put.nrecord = 104;
    put.flags = PEER_PUT_HINT;
    assert_int_equal(peer_put_encode(1, 1, &put, &b), RC_EINVAL);
    put.flags = 0;
    put.nkey = 251;
    assert_int_equal(peer_put_encode(1, 1, &put, &b), RC_EINVAL);

    ack.result = 3;
    assert_int_equal(peer_put_ack_encode(1, 1, &ack, &b), RC_EINVAL);
    get.nkey = 0;
    assert_int_equal(peer_get_encode(1, 1, &get, &b), RC_EINVAL);
    memset(&gr, 0, sizeof(gr));
    gr.result = PEER_GET_NOT_FOUND;
    gr.flags = PEER_GET_DEAD;
    assert_int_equal(peer_get_reply_encode(1, 1, &gr, &b), RC_EINVAL);
    gr.flags = 0;
    gr.result = PEER_GET_FOUND;
    assert_int_equal(peer_get_reply_encode(1, 1, &gr, &b), RC_EINVAL);

    fw = sample_forward();
    fw.cmd = PEER_CMD_GET;
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_EINVAL);
    fw = sample_forward();
    fw.cmd = PEER_CMD_SET;
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_EINVAL);
    fw = sample_forward();
    fw.options = 0x8000;
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_EINVAL);
    fw = sample_forward();
    fw.ncontext = 544;
    assert_int_equal(peer_forward_encode(1, 1, &fw, &b), RC_EINVAL);

    fr = sample_forward_reply();
    fr.status = PEER_PROTOCOL;
    assert_int_equal(peer_forward_reply_encode(1, 1, &fr, &b), RC_EINVAL);
    fr = sample_forward_reply();
    fr.siblings = &sib;
    fr.nsiblings = 1;
    assert_int_equal(peer_forward_reply_encode(1, 1, &fr, &b), RC_EINVAL);
    fr = sample_forward_reply();
    fr.nsiblings = 4097;
    assert_int_equal(peer_forward_reply_encode(1, 1, &fr, &b), RC_EINVAL);

    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "xyz", 3);
    buf_deinit(&b);
}

static void
test_code_tables(void **state)
{
    (void)state;
    assert_string_equal(peer_type_name(PEER_T_FORWARD_REPLY), "FORWARD_REPLY");
    assert_string_equal(peer_type_name(0x20), "?");
    assert_string_equal(peer_code_name(PEER_RING_MISMATCH), "RING_MISMATCH");
    assert_string_equal(peer_code_name(0x9999), "?");
    assert_string_equal(peer_cmd_name(PEER_CMD_VDEL), "vdel");
    assert_int_equal(peer_code_to_status(PEER_EXISTS), RC_EEXISTS);
    assert_int_equal(peer_code_to_status(PEER_OK), RC_OK);
    assert_int_equal(peer_code_to_status(0x00ee), RC_EINTERNAL);
    assert_int_equal(peer_code_to_status(PEER_AUTH_FAILED), RC_EPROTO);
    assert_int_equal(peer_code_from_status(RC_ESIBLINGS), PEER_TOO_MANY_SIBLINGS);
    assert_int_equal(peer_code_from_status(RC_EDEADLOCK), PEER_TRY_AGAIN);
    assert_int_equal(peer_code_from_status(RC_ECLOSED), PEER_INTERNAL);
    assert_int_equal(peer_type_kind(PEER_T_AUTH), PEER_KIND_HANDSHAKE);
    assert_int_equal(peer_type_kind(0x05), 0);
}

/* ------------------------------------------------------------ handshake */

static const char secret_a[] = "0123456789abcdef0123456789abcdef";
static const char secret_b[] = "0123456789abcdef0123456789abcdeX";

static struct peer_hs_config
config(const char *name, uint8_t id, const char *secret, uint8_t ring)
{
    struct peer_hs_config c;

    memset(&c, 0, sizeof(c));
    c.secret = secret;
    c.nsecret = strlen(secret);
    c.name = name;
    c.nname = strlen(name);
    memset(c.node_id, id, sizeof(c.node_id));
    memset(c.ring_hash, ring, sizeof(c.ring_hash));
    c.partitions = 256;
    c.replicas = 3;
    c.max_inflight = 64;
    c.max_body = 1u << 20;
    c.min_version = 1;
    c.max_version = 1;
    c.wall_ms = 1700000000000LL;
    return c;
}

static void
nonce_of(uint8_t *n, uint64_t seed)
{
    size_t i;

    for (i = 0; i < PEER_NONCE_SIZE; i += 8) {
        be_put64(n + i, splitmix(&seed));
    }
}

/* Feed every frame of `in` (then emptied) to hs, appending its output to
 * `out`. Returns the last status (RC_EAGAIN when `in` was empty). */
static int
deliver(struct peer_hs *hs, struct buf *in, struct buf *out)
{
    struct peer_limits lim;
    struct peer_frame f;
    struct peer_fault fault;
    size_t off = 0, need;
    int rc = RC_EAGAIN;

    while (off < in->len) {
        peer_hs_limits(hs, &lim);
        assert_int_equal(peer_frame_decode(&lim, in->data + off, in->len - off, &f, &need, &fault),
                         RC_OK);
        rc = peer_hs_input(hs, &f, out);
        off += need;
        if (rc != RC_EAGAIN) {
            break;
        }
    }
    buf_reset(in);
    return rc;
}

/* The types of the frames in b, as a string like "HELLO,AUTH". */
static void
types_of(const struct buf *b, char *out, size_t cap)
{
    struct peer_frame f;
    size_t off = 0, w = 0;

    out[0] = '\0';
    while (off < b->len) {
        off += frame_at(b, off, &f);
        w += (size_t)snprintf(out + w, cap - w, "%s%s", w ? "," : "", peer_type_name(f.h.type));
    }
}

static void
assert_types(const struct buf *b, const char *want)
{
    char got[256];

    types_of(b, got, sizeof(got));
    assert_string_equal(got, want);
}

/* The code of the one ERROR frame at the end of b. */
static uint16_t
last_error(const struct buf *b, struct peer_error *e)
{
    struct peer_frame f;
    size_t off = 0;

    f.h.type = 0;
    while (off < b->len) {
        off += frame_at(b, off, &f);
    }
    assert_int_equal(f.h.type, PEER_T_ERROR);
    assert_int_equal(f.h.id, 0);
    assert_int_equal(peer_error_decode(&f, e, NULL), RC_OK);
    return e->code;
}

struct pair {
    struct peer_hs i, r;
    struct buf to_r, to_i;
};

static void
pair_init(struct pair *p, const struct peer_hs_config *ci, const struct peer_hs_config *cr,
          uint64_t seed)
{
    uint8_t ni[PEER_NONCE_SIZE], nr[PEER_NONCE_SIZE];

    nonce_of(ni, seed);
    nonce_of(nr, seed + 1000);
    buf_init(&p->to_r);
    buf_init(&p->to_i);
    assert_int_equal(peer_hs_init(&p->i, PEER_ROLE_INITIATOR, ci, ni), RC_OK);
    assert_int_equal(peer_hs_init(&p->r, PEER_ROLE_RESPONDER, cr, nr), RC_OK);
}

static void
pair_deinit(struct pair *p)
{
    peer_hs_deinit(&p->i);
    peer_hs_deinit(&p->r);
    buf_deinit(&p->to_r);
    buf_deinit(&p->to_i);
}

static void
test_hs_success(void **state)
{
    struct peer_hs_config ca = config("alpha", 0xa1, secret_a, 7);
    struct peer_hs_config cb = config("beta", 0xb2, secret_a, 7);
    struct pair p;
    struct peer_limits lim;
    int round;

    (void)state;
    /* Both ways: alpha dials beta, then beta dials alpha. */
    for (round = 0; round < 2; round++) {
        pair_init(&p, round == 0 ? &ca : &cb, round == 0 ? &cb : &ca, 1 + (uint64_t)round);
        peer_hs_limits(&p.r, &lim);
        assert_int_equal(lim.version, 1);
        assert_int_equal(lim.max_body, PEER_HANDSHAKE_MAX_BODY);

        assert_int_equal(peer_hs_start(&p.r, &p.to_i), RC_OK);
        assert_int_equal(p.to_i.len, 0); /* the responder speaks second */
        assert_int_equal(peer_hs_start(&p.i, &p.to_r), RC_OK);
        assert_types(&p.to_r, "HELLO");
        assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EAGAIN);
        assert_types(&p.to_i, "HELLO");
        assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EAGAIN);
        assert_types(&p.to_r, "AUTH");
        assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_OK);
        assert_types(&p.to_i, "AUTH");
        assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_OK);
        assert_int_equal(p.to_r.len, 0);

        assert_int_equal(p.i.state, PEER_HS_DONE);
        assert_int_equal(p.r.state, PEER_HS_DONE);
        assert_int_equal(p.i.version, 1);
        assert_int_equal(p.r.version, 1);
        assert_int_equal(p.i.hello.nname, round == 0 ? 4 : 5);
        assert_memory_equal(p.i.hello.name, round == 0 ? "beta" : "alpha", p.i.hello.nname);
        assert_int_equal(p.r.hello.node_id[0], round == 0 ? 0xa1 : 0xb2);
        assert_int_equal(p.r.hello.role, PEER_ROLE_INITIATOR);
        peer_hs_limits(&p.i, &lim);
        assert_int_equal(lim.version, 1);
        assert_int_equal(lim.max_body, 1u << 20);
        /* Done: more input is a misuse. */
        assert_int_equal(peer_hs_input(&p.i, NULL, &p.to_r), RC_EINVAL);
        pair_deinit(&p);
    }
}

/* A wrong secret: the responder refuses the initiator's proof, never shows
 * its own, and the initiator learns only AUTH_FAILED. */
static void
test_hs_wrong_secret(void **state)
{
    struct peer_hs_config ci = config("alpha", 0xa1, secret_a, 7);
    struct peer_hs_config cr = config("beta", 0xb2, secret_b, 7);
    struct peer_error e;
    struct pair p;

    (void)state;
    pair_init(&p, &ci, &cr, 10);
    assert_int_equal(peer_hs_start(&p.i, &p.to_r), RC_OK);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EAGAIN);
    assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EAGAIN);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EPROTO);
    assert_int_equal(p.r.state, PEER_HS_FAILED);
    assert_int_equal(p.r.fault.code, PEER_AUTH_FAILED);
    assert_false(p.r.remote);
    assert_types(&p.to_i, "ERROR"); /* no AUTH: nothing to test guesses on */
    assert_int_equal(last_error(&p.to_i, &e), PEER_AUTH_FAILED);
    assert_int_equal(e.ndetail, 0);
    assert_memory_equal(e.text, "authentication failed", e.ntext);
    assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EPROTO);
    assert_int_equal(p.i.state, PEER_HS_FAILED);
    assert_true(p.i.remote);
    assert_int_equal(p.i.fault.code, PEER_AUTH_FAILED);
    assert_int_equal(p.to_r.len, 0);
    /* Failed stays failed. */
    assert_int_equal(peer_hs_input(&p.r, NULL, &p.to_i), RC_EPROTO);
    pair_deinit(&p);
}

/* The initiator also refuses a responder that does not hold the secret:
 * a fake responder that replays the initiator's own proof (reflection), or
 * one made up, gets AUTH_FAILED. */
static void
test_hs_fake_responder(void **state)
{
    struct peer_hs_config ci = config("alpha", 0xa1, secret_a, 7);
    struct peer_hs_config cr = config("beta", 0xb2, secret_b, 7);
    struct peer_hs i, r;
    struct buf to_r, to_i, proof_i;
    struct peer_frame f;
    struct peer_error e;
    uint8_t n1[PEER_NONCE_SIZE], n2[PEER_NONCE_SIZE];

    (void)state;
    nonce_of(n1, 20);
    nonce_of(n2, 21);
    buf_init(&to_r);
    buf_init(&to_i);
    buf_init(&proof_i);
    assert_int_equal(peer_hs_init(&i, PEER_ROLE_INITIATOR, &ci, n1), RC_OK);
    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n2), RC_OK);
    assert_int_equal(peer_hs_start(&i, &to_r), RC_OK);
    assert_int_equal(deliver(&r, &to_r, &to_i), RC_EAGAIN); /* its HELLO is all it needs */
    assert_int_equal(deliver(&i, &to_i, &proof_i), RC_EAGAIN);
    frame_at(&proof_i, 0, &f);
    assert_int_equal(f.h.type, PEER_T_AUTH);
    /* Reflect the initiator's AUTH back to it as the responder's proof. */
    assert_int_equal(buf_append(&to_i, proof_i.data, proof_i.len), RC_OK);
    assert_int_equal(deliver(&i, &to_i, &to_r), RC_EPROTO);
    assert_int_equal(i.fault.code, PEER_AUTH_FAILED);
    assert_false(i.remote);
    assert_int_equal(last_error(&to_r, &e), PEER_AUTH_FAILED);
    peer_hs_deinit(&i);
    peer_hs_deinit(&r);
    buf_deinit(&to_r);
    buf_deinit(&to_i);
    buf_deinit(&proof_i);
}

/* A recorded initiator transcript (HELLO, AUTH) replayed to a responder is
 * refused: the responder's fresh nonce is not the one the proof covers. And a
 * proof obtained by a fake responder is useless at a real one. */
static void
test_hs_replay(void **state)
{
    struct peer_hs_config ci = config("alpha", 0xa1, secret_a, 7);
    struct peer_hs_config cr = config("beta", 0xb2, secret_a, 7);
    struct pair p;
    struct buf hello_i, auth_i;
    struct peer_hs r2;
    struct buf out;
    uint8_t n[PEER_NONCE_SIZE];
    struct peer_error e;

    (void)state;
    buf_init(&hello_i);
    buf_init(&auth_i);
    buf_init(&out);
    pair_init(&p, &ci, &cr, 30);
    assert_int_equal(peer_hs_start(&p.i, &p.to_r), RC_OK);
    assert_int_equal(buf_append(&hello_i, p.to_r.data, p.to_r.len), RC_OK);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EAGAIN);
    assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EAGAIN);
    assert_int_equal(buf_append(&auth_i, p.to_r.data, p.to_r.len), RC_OK);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_OK); /* the original succeeds */

    /* The replay, to a responder with a new nonce. */
    nonce_of(n, 31);
    assert_int_equal(peer_hs_init(&r2, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    assert_int_equal(deliver(&r2, &hello_i, &out), RC_EAGAIN);
    assert_types(&out, "HELLO");
    buf_reset(&out);
    assert_int_equal(deliver(&r2, &auth_i, &out), RC_EPROTO);
    assert_int_equal(r2.fault.code, PEER_AUTH_FAILED);
    assert_types(&out, "ERROR");
    assert_int_equal(last_error(&out, &e), PEER_AUTH_FAILED);
    peer_hs_deinit(&r2);

    pair_deinit(&p);
    buf_deinit(&hello_i);
    buf_deinit(&auth_i);
    buf_deinit(&out);
}

static void
test_hs_ring_mismatch(void **state)
{
    struct peer_hs_config ci = config("alpha", 0xa1, secret_a, 7);
    struct peer_hs_config cr = config("beta", 0xb2, secret_a, 8);
    struct peer_error e;
    struct pair p;
    const unsigned char *d;

    (void)state;
    pair_init(&p, &ci, &cr, 40);
    assert_int_equal(peer_hs_start(&p.i, &p.to_r), RC_OK);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EAGAIN);
    assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EAGAIN);
    /* The responder authenticates first, then refuses the ring. */
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EPROTO);
    assert_int_equal(p.r.fault.code, PEER_RING_MISMATCH);
    assert_types(&p.to_i, "AUTH,ERROR");
    assert_int_equal(last_error(&p.to_i, &e), PEER_RING_MISMATCH);
    assert_int_equal(e.ndetail, PEER_RING_DETAIL_SIZE);
    d = e.detail;
    assert_int_equal(d[0], 8);  /* the responder's own hash */
    assert_int_equal(d[32], 7); /* the hash it received */
    assert_int_equal(be_get32(d + 64), 256);
    assert_int_equal(be_get16(d + 68), 3);
    /* The initiator verifies the AUTH, then sees the mismatch itself. */
    assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EPROTO);
    assert_int_equal(p.i.fault.code, PEER_RING_MISMATCH);
    assert_false(p.i.remote);
    assert_int_equal(last_error(&p.to_r, &e), PEER_RING_MISMATCH);
    d = e.detail;
    assert_int_equal(d[0], 7);
    assert_int_equal(d[32], 8);
    pair_deinit(&p);

    /* Same hash, different Q or N: a mismatch too. */
    cr = config("beta", 0xb2, secret_a, 7);
    cr.replicas = 2;
    pair_init(&p, &ci, &cr, 41);
    assert_int_equal(peer_hs_start(&p.i, &p.to_r), RC_OK);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EAGAIN);
    assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EAGAIN);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EPROTO);
    assert_int_equal(p.r.fault.code, PEER_RING_MISMATCH);
    pair_deinit(&p);

    /* With a wrong secret as well, the ring is never compared: the refusal
     * is AUTH_FAILED and no ring detail leaves the node. */
    cr = config("beta", 0xb2, secret_b, 8);
    pair_init(&p, &ci, &cr, 42);
    assert_int_equal(peer_hs_start(&p.i, &p.to_r), RC_OK);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EAGAIN);
    assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EAGAIN);
    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EPROTO);
    assert_int_equal(p.r.fault.code, PEER_AUTH_FAILED);
    assert_types(&p.to_i, "ERROR");
    pair_deinit(&p);
}

/* Versions, self connections, reflected HELLOs, frames out of order. */
static void
test_hs_refusals(void **state)
{
    struct peer_hs_config ci = config("alpha", 0xa1, secret_a, 7);
    struct peer_hs_config cr = config("beta", 0xb2, secret_a, 7);
    struct peer_hs r, i;
    struct peer_hello h;
    struct buf in, out;
    struct peer_error e;
    struct peer_ping ping = {1};
    uint8_t n[PEER_NONCE_SIZE], proof[PEER_PROOF_SIZE];
    const unsigned char *d;

    (void)state;
    buf_init(&in);
    buf_init(&out);
    nonce_of(n, 50);

    /* An initiator speaking only versions 2-3. */
    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    h = sample_hello();
    h.min_version = 2;
    h.max_version = 3;
    assert_int_equal(peer_hello_encode(&h, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EPROTO);
    assert_int_equal(r.fault.code, PEER_VERSION);
    assert_int_equal(last_error(&out, &e), PEER_VERSION);
    assert_int_equal(e.ndetail, 2);
    d = e.detail;
    assert_int_equal(d[0], 1);
    assert_int_equal(d[1], 1);
    peer_hs_deinit(&r);
    buf_reset(&out);

    /* A range that includes 1 negotiates 1. */
    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    h.min_version = 1;
    h.max_version = 9;
    assert_int_equal(peer_hello_encode(&h, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EAGAIN);
    assert_int_equal(r.version, 1);
    peer_hs_deinit(&r);
    buf_reset(&out);

    /* A HELLO with the responder's own node id: SELF. */
    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    h = sample_hello();
    memset(h.node_id, 0xb2, sizeof(h.node_id));
    assert_int_equal(peer_hello_encode(&h, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EPROTO);
    assert_int_equal(last_error(&out, &e), PEER_SELF);
    peer_hs_deinit(&r);
    buf_reset(&out);

    /* A HELLO carrying the responder's own nonce: reflected. */
    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    h = sample_hello();
    memcpy(h.nonce, n, sizeof(n));
    assert_int_equal(peer_hello_encode(&h, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EPROTO);
    assert_int_equal(r.fault.code, PEER_PROTOCOL);
    assert_string_equal(r.fault.why, "reflected hello");
    peer_hs_deinit(&r);
    buf_reset(&out);

    /* A HELLO from the wrong role (a responder's HELLO sent to a responder). */
    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    h = sample_hello();
    h.role = PEER_ROLE_RESPONDER;
    assert_int_equal(peer_hello_encode(&h, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EPROTO);
    assert_string_equal(r.fault.why, "hello from the wrong role");
    peer_hs_deinit(&r);
    buf_reset(&out);

    /* AUTH before HELLO; a request before the handshake; HELLO twice. */
    memset(proof, 0, sizeof(proof));
    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    assert_int_equal(peer_auth_encode(proof, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EPROTO);
    assert_string_equal(r.fault.why, "expected HELLO");
    assert_int_equal(last_error(&out, &e), PEER_PROTOCOL);
    peer_hs_deinit(&r);
    buf_reset(&out);

    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    assert_int_equal(peer_ping_encode(1, 1, &ping, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EPROTO);
    assert_types(&out, "ERROR");
    peer_hs_deinit(&r);
    buf_reset(&out);

    assert_int_equal(peer_hs_init(&r, PEER_ROLE_RESPONDER, &cr, n), RC_OK);
    h = sample_hello();
    assert_int_equal(peer_hello_encode(&h, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EAGAIN);
    buf_reset(&out);
    assert_int_equal(peer_hello_encode(&h, &in), RC_OK);
    assert_int_equal(deliver(&r, &in, &out), RC_EPROTO);
    assert_string_equal(r.fault.why, "expected AUTH");
    peer_hs_deinit(&r);
    buf_reset(&out);

    /* The initiator: start twice, input before start. */
    assert_int_equal(peer_hs_init(&i, PEER_ROLE_INITIATOR, &ci, n), RC_OK);
    assert_int_equal(peer_hs_input(&i, NULL, &out), RC_EINVAL);
    assert_int_equal(peer_hs_start(&i, &out), RC_OK);
    assert_int_equal(peer_hs_start(&i, &out), RC_EINVAL);
    peer_hs_deinit(&i);
    buf_reset(&out);

    /* Configurations refused. */
    ci.nsecret = PEER_SECRET_MIN - 1;
    assert_int_equal(peer_hs_init(&i, PEER_ROLE_INITIATOR, &ci, n), RC_EINVAL);
    peer_hs_deinit(&i);
    ci = config("al pha", 0xa1, secret_a, 7);
    assert_int_equal(peer_hs_init(&i, PEER_ROLE_INITIATOR, &ci, n), RC_EINVAL);
    peer_hs_deinit(&i);
    ci = config("alpha", 0xa1, secret_a, 7);
    ci.max_version = PEER_VERSION_MAX + 1;
    assert_int_equal(peer_hs_init(&i, PEER_ROLE_INITIATOR, &ci, n), RC_EINVAL);
    peer_hs_deinit(&i);
    ci = config("alpha", 0xa1, secret_a, 7);
    ci.max_body = 1000;
    assert_int_equal(peer_hs_init(&i, PEER_ROLE_INITIATOR, &ci, n), RC_EINVAL);
    peer_hs_deinit(&i);

    buf_deinit(&in);
    buf_deinit(&out);
}

/* ------------------------------------------------------------ robustness */

/* Random bytes and mutated valid frames through the frame decoder and every
 * body decoder; mutated handshake frames through the handshake. Nothing may
 * crash, read out of bounds (ASan) or answer anything but OK/AGAIN/EPROTO. */
static void
test_garbage(void **state)
{
    struct buf valid, t, out;
    struct peer_limits lims[3] = {{1, 1u << 24}, {1, PEER_HANDSHAKE_MAX_BODY}, {1, 200}};
    static const uint8_t known_types[] = {
        PEER_T_HELLO,   PEER_T_AUTH,      PEER_T_PING,      PEER_T_PONG,    PEER_T_PUT,
        PEER_T_PUT_ACK, PEER_T_GET,       PEER_T_GET_REPLY, PEER_T_FORWARD, PEER_T_FORWARD_REPLY,
        PEER_T_FLUSH,   PEER_T_FLUSH_ACK, PEER_T_ERROR,
    };
    uint64_t seed = 0x5eed5eedull;
    unsigned iter, j, ok = 0, bad = 0;
    size_t n;
    int rc;

    (void)state;
    buf_init(&valid);
    buf_init(&t);
    buf_init(&out);
    encode_all(&valid);
    for (iter = 0; iter < 20000; iter++) {
        uint64_t r = splitmix(&seed);
        const struct peer_limits *lim = &lims[r % 3];

        buf_reset(&t);
        if ((r >> 8) % 4 == 0) {
            /* Pure noise, sometimes with a valid magic and version. */
            n = (size_t)(splitmix(&seed) % 600);
            for (j = 0; j < n; j++) {
                unsigned char c = (unsigned char)splitmix(&seed);
                assert_int_equal(buf_append(&t, &c, 1), RC_OK);
            }
            if (n >= 3 && (r >> 16) % 2 == 0) {
                t.data[0] = (char)PEER_MAGIC0;
                t.data[1] = (char)PEER_MAGIC1;
                t.data[2] = 1;
                t.data[3] = (char)known_types[splitmix(&seed) % sizeof(known_types)];
            }
        } else {
            /* One valid frame of the stream, mutated a little. */
            struct peer_frame f;
            size_t off = 0, k = splitmix(&seed) % NFRAMES, len = 0;

            for (j = 0; j <= k; j++) {
                off += len;
                len = frame_at(&valid, off, &f);
            }
            assert_int_equal(buf_append(&t, valid.data + off, len), RC_OK);
            n = 1 + splitmix(&seed) % 4;
            for (j = 0; j < n; j++) {
                size_t at = splitmix(&seed) % t.len;
                uint64_t how = splitmix(&seed);
                if (how % 3 == 0) {
                    t.data[at] = (char)(how >> 8);
                } else if (how % 3 == 1) {
                    t.data[at] ^= (char)(1u << ((how >> 8) % 8));
                } else if (t.len > PEER_HEADER_SIZE) {
                    /* Shrink or grow the body and patch the length. */
                    size_t body = t.len - PEER_HEADER_SIZE;
                    size_t nb =
                        (how >> 8) % 2 ? body - (how >> 16) % (body + 1) : body + (how >> 16) % 16;
                    while (t.len < PEER_HEADER_SIZE + nb) {
                        assert_int_equal(buf_append(&t, "\x7f", 1), RC_OK);
                    }
                    t.len = PEER_HEADER_SIZE + nb;
                    set_len((unsigned char *)t.data, (uint32_t)nb);
                }
            }
        }
        rc = decode_bytes(lim, t.data, t.len);
        assert_true(rc == RC_OK || rc == RC_EAGAIN || rc == RC_EPROTO);
        if (rc == RC_OK) {
            ok++;
        } else {
            bad++;
        }
        /* Every prefix of the input must also be handled safely. */
        if (iter % 64 == 0) {
            for (n = 0; n < t.len; n++) {
                rc = decode_bytes(lim, t.data, n);
                assert_true(rc == RC_OK || rc == RC_EAGAIN || rc == RC_EPROTO);
            }
        }
    }
    assert_true(ok > 0);
    assert_true(bad > 0);

    /* The handshake fed mutated frames of a real exchange never reaches
     * DONE with a wrong byte in anything the proofs cover. */
    for (iter = 0; iter < 500; iter++) {
        struct peer_hs_config ci = config("alpha", 0xa1, secret_a, 7);
        struct peer_hs_config cr = config("beta", 0xb2, secret_a, 7);
        struct pair p;
        struct peer_frame f;
        struct peer_fault fault;
        struct peer_limits lim;
        size_t need, at;

        pair_init(&p, &ci, &cr, 100 + iter);
        assert_int_equal(peer_hs_start(&p.i, &p.to_r), RC_OK);
        /* Mutate one byte of HELLO(I) (iter even) or of AUTH(I) (odd). */
        if (iter % 2 == 0) {
            at = splitmix(&seed) % p.to_r.len;
            p.to_r.data[at] ^= (char)(1 + splitmix(&seed) % 255);
            peer_hs_limits(&p.r, &lim);
            rc = peer_frame_decode(&lim, p.to_r.data, p.to_r.len, &f, &need, &fault);
            if (rc == RC_OK) {
                rc = peer_hs_input(&p.r, &f, &p.to_i);
                if (rc == RC_EAGAIN) {
                    /* Accepted (e.g. a changed nonce or wall clock): the
                     * responder's view of HELLO(I) is not what I sent, so
                     * the proofs cannot agree. */
                    buf_reset(&p.to_r);
                    assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EAGAIN);
                    assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EPROTO);
                    assert_int_equal(p.r.fault.code, PEER_AUTH_FAILED);
                } else {
                    assert_int_equal(rc, RC_EPROTO);
                }
            } else {
                assert_true(rc == RC_EPROTO || rc == RC_EAGAIN);
            }
        } else {
            assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EAGAIN);
            assert_int_equal(deliver(&p.i, &p.to_i, &p.to_r), RC_EAGAIN);
            at = PEER_HEADER_SIZE + splitmix(&seed) % PEER_PROOF_SIZE;
            p.to_r.data[at] ^= (char)(1 + splitmix(&seed) % 255);
            assert_int_equal(deliver(&p.r, &p.to_r, &p.to_i), RC_EPROTO);
            assert_int_equal(p.r.fault.code, PEER_AUTH_FAILED);
            assert_types(&p.to_i, "ERROR");
        }
        pair_deinit(&p);
    }
    buf_deinit(&valid);
    buf_deinit(&t);
    buf_deinit(&out);
}

/* Version 2's tombstone notices (PP.8.4, PP.9.2): PUT ACKED and GET_REPLY
 * ACKED travel in version 2 frames only; version 1 can say neither. */
static void
test_version2_acked(void **state)
{
    static const struct peer_limits v2 = {2, 1u << 24};
    static unsigned char rec[200];
    struct peer_put put, pm;
    struct peer_get_reply gr = {PEER_GET_FOUND, PEER_GET_DEAD | PEER_GET_ACKED, rec, sizeof(rec)};
    struct peer_get_reply gm;
    struct peer_frame f;
    struct peer_fault fault;
    struct buf b;
    size_t need;

    (void)state;
    fake_record(rec, sizeof(rec), 0x3c);
    memset(&put, 0, sizeof(put));
    put.flags = PEER_PUT_ACKED;
    put.key = "gone";
    put.nkey = 4;
    put.record = rec;
    put.nrecord = sizeof(rec);
    buf_init(&b);
    assert_int_equal(peer_put_encode(1, 1, &put, &b), RC_EINVAL); /* not in version 1 */
    assert_int_equal(b.len, 0);
    assert_int_equal(peer_put_encode(2, 1, &put, &b), RC_OK);
    assert_int_equal(peer_frame_decode(&v2, b.data, b.len, &f, &need, &fault), RC_OK);
    assert_int_equal(peer_put_decode(&f, &pm, &fault), RC_OK);
    assert_int_equal(pm.flags, PEER_PUT_ACKED);
    /* ACKED with another flag: still one bit at most */
    ((unsigned char *)b.data)[PEER_HEADER_SIZE] = PEER_PUT_ACKED | PEER_PUT_REPAIR;
    assert_int_equal(peer_frame_decode(&v2, b.data, b.len, &f, &need, &fault), RC_OK);
    assert_int_equal(peer_put_decode(&f, &pm, &fault), RC_EPROTO);
    /* the same bytes in a version 1 frame: refused */
    ((unsigned char *)b.data)[PEER_HEADER_SIZE] = PEER_PUT_ACKED;
    ((unsigned char *)b.data)[2] = 1;
    assert_int_equal(peer_frame_decode(&big, b.data, b.len, &f, &need, &fault), RC_OK);
    assert_int_equal(peer_put_decode(&f, &pm, &fault), RC_EPROTO);
    assert_string_equal(fault.why, "bad put flags or owner");

    /* GET_REPLY: version 2 carries ACKED, version 1's encoder leaves it out
     * and its decoder refuses it. */
    buf_reset(&b);
    assert_int_equal(peer_get_reply_encode(2, 5, &gr, &b), RC_OK);
    assert_int_equal(peer_frame_decode(&v2, b.data, b.len, &f, &need, &fault), RC_OK);
    assert_int_equal(peer_get_reply_decode(&f, &gm, &fault), RC_OK);
    assert_int_equal(gm.flags, PEER_GET_DEAD | PEER_GET_ACKED);
    ((unsigned char *)b.data)[2] = 1;
    assert_int_equal(peer_frame_decode(&big, b.data, b.len, &f, &need, &fault), RC_OK);
    assert_int_equal(peer_get_reply_decode(&f, &gm, &fault), RC_EPROTO);
    buf_reset(&b);
    assert_int_equal(peer_get_reply_encode(1, 5, &gr, &b), RC_OK);
    assert_int_equal(peer_frame_decode(&big, b.data, b.len, &f, &need, &fault), RC_OK);
    assert_int_equal(peer_get_reply_decode(&f, &gm, &fault), RC_OK);
    assert_int_equal(gm.flags, PEER_GET_DEAD);
    buf_deinit(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ping_bytes),      cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_real_record),     cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_header_errors),   cmocka_unit_test(test_truncated_and_trailing),
        cmocka_unit_test(test_body_errors),     cmocka_unit_test(test_forward_quorum),
        cmocka_unit_test(test_wrong_type),      cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_code_tables),     cmocka_unit_test(test_hs_success),
        cmocka_unit_test(test_hs_wrong_secret), cmocka_unit_test(test_hs_fake_responder),
        cmocka_unit_test(test_hs_replay),       cmocka_unit_test(test_hs_ring_mismatch),
        cmocka_unit_test(test_hs_refusals),     cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_version2_acked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
