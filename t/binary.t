#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# binary.t: the memcached 1.6 binary protocol, packet by packet: every opcode
# memcached 1.6.18 answers (get/getq/getk/getkq, set/add/replace and their
# quiet forms, delete, incr/decr with initial value and the 0xffffffff
# no-create expiration, quit/quitq, flush/flushq with a delay, noop,
# version, append/prepend, stat with and without a key, touch and the gat
# family), every status with its text body, opaque and cas echoed, quiet
# batches ended by a noop, cas on set/delete/append/incr, too-large values
# swallowed with the connection kept, and the hostile headers from
# memcached's history (body length 0xffffffe8 and above INT_MAX, body shorter
# than key + extras, oversized extras, key too long, bad magic) each answered
# or closed as memcached 1.6.18 does, while another connection and the
# stored data are unaffected.
use strict;
use warnings;
use Test::More;
use RCTest;
use RCBinary;

RCTest::set_timeout(90);
my $srv = RCTest::start();
my $s = $srv->sock;

# Checks one response's opcode, status, opaque and (for errors) the text body.
sub reply_ok {
    my ($r, $op, $status, $opaque, $name, $key) = @_;
    if (!$r) { fail("$name: no reply"); return 0 }
    # An error carries memcached's text, or (GETK/GATK misses) just the key.
    my $want_body = !$status ? undef : defined $key ? '' : bin_status_text($status);
    my $ok = $r->{magic} == BIN_RES_MAGIC && $r->{opcode} == $op
      && $r->{status} == $status && $r->{opaque} == ($opaque // 0)
      && (!defined $want_body || ($r->{value} eq $want_body
          && $r->{key} eq ($key // '') && $r->{extlen} == 0));
    ok($ok, $name) or diag(sprintf("got magic %#x op %#x status %#x opaque %u "
          . "key '%s' value '%s'; want op %#x status %#x opaque %u",
          @$r{qw(magic opcode status opaque key)}, substr($r->{value}, 0, 60),
          $op, $status, $opaque // 0));
    return $ok;
}

sub set_pkt {
    my ($op, $key, $val, %o) = @_;
    return bin_packet(op => $op, key => $key, value => $val,
        extras => bin_set_extras($o{flags} // 0, $o{exp} // 0),
        opaque => $o{opaque} // 0, cas => $o{cas} // 0);
}

sub bset {
    my ($sock, $op, $key, $val, %o) = @_;
    mc_send($sock, set_pkt($op, $key, $val, %o));
    return bin_read($sock);
}

sub bget {
    my ($sock, $key, $op) = @_;
    return bin_cmd($sock, op => $op // BIN_GET, key => $key, opaque => 0x11223344);
}

# ------------------------------------------------------------ noop, version
my $r = bin_cmd($s, op => BIN_NOOP, opaque => 0xdeadbeef);
reply_ok($r, BIN_NOOP, ST_SUCCESS, 0xdeadbeef, 'noop: success, opaque echoed');
is($r->{bodylen}, 0, 'noop: empty body');
$r = bin_cmd($s, op => BIN_VERSION, opaque => 7);
reply_ok($r, BIN_VERSION, ST_SUCCESS, 7, 'version: success');
like($r->{value}, qr/\A1\.6\.18(?:-ringcached-\S+)?\z/, 'version body: 1.6.18[-ringcached-x]');

# ------------------------------------------------------------ set / get family
$r = bset($s, BIN_SET, 'k1', "v\0\r\n1", flags => 0xcafe0001, opaque => 42);
reply_ok($r, BIN_SET, ST_SUCCESS, 42, 'set: success');
ok($r->{cas} > 0, 'set: reply carries a cas');
is($r->{bodylen}, 0, 'set: empty body');
my $cas1 = $r->{cas};

$r = bget($s, 'k1');
reply_ok($r, BIN_GET, ST_SUCCESS, 0x11223344, 'get hit');
is($r->{extras}, pack('N', 0xcafe0001), 'get: extras are the flags');
is($r->{key}, '', 'get: no key in the reply');
is($r->{value}, "v\0\r\n1", 'get: binary-safe value');
is($r->{cas}, $cas1, 'get: cas of the set');

$r = bget($s, 'k1', BIN_GETK);
reply_ok($r, BIN_GETK, ST_SUCCESS, 0x11223344, 'getk hit');
is($r->{key}, 'k1', 'getk: key in the reply');
is($r->{value}, "v\0\r\n1", 'getk: value');

$r = bget($s, 'nokey');
reply_ok($r, BIN_GET, ST_NOT_FOUND, 0x11223344, 'get miss: Not found');
$r = bget($s, 'nokey', BIN_GETK);
reply_ok($r, BIN_GETK, ST_NOT_FOUND, 0x11223344, 'getk miss: the key, no text', 'nokey');

# add / replace
reply_ok(bset($s, BIN_ADD, 'k1', 'x', opaque => 1), BIN_ADD, ST_EXISTS, 1, 'add existing: exists');
reply_ok(bset($s, BIN_ADD, 'k2', 'two', flags => 2, opaque => 2), BIN_ADD, ST_SUCCESS, 2, 'add new');
reply_ok(bset($s, BIN_REPLACE, 'nokey', 'x', opaque => 3), BIN_REPLACE, ST_NOT_FOUND, 3,
    'replace missing: not found');
reply_ok(bset($s, BIN_REPLACE, 'k2', 'TWO', flags => 22, opaque => 4), BIN_REPLACE, ST_SUCCESS, 4,
    'replace existing');
$r = bget($s, 'k2');
is($r->{value} . '/' . unpack('N', $r->{extras}), 'TWO/22', 'replace took value and flags');

# append / prepend
reply_ok(bin_cmd($s, op => BIN_APPEND, key => 'k2', value => '>>', opaque => 5), BIN_APPEND,
    ST_SUCCESS, 5, 'append');
reply_ok(bin_cmd($s, op => BIN_PREPEND, key => 'k2', value => '<<', opaque => 6), BIN_PREPEND,
    ST_SUCCESS, 6, 'prepend');
$r = bget($s, 'k2');
is($r->{value} . '/' . unpack('N', $r->{extras}), '<<TWO>>/22', 'append/prepend keep the flags');
reply_ok(bin_cmd($s, op => BIN_APPEND, key => 'nokey', value => 'x', opaque => 7), BIN_APPEND,
    ST_NOT_STORED, 7, 'append to a missing key: not stored');
reply_ok(bin_cmd($s, op => BIN_PREPEND, key => 'nokey', value => 'x', opaque => 8), BIN_PREPEND,
    ST_NOT_STORED, 8, 'prepend to a missing key: not stored');

# cas on set, delete, append and incr
$r = bset($s, BIN_SET, 'c1', 'orig');
my $c = $r->{cas};
reply_ok(bset($s, BIN_SET, 'c1', 'bad', cas => $c + 1, opaque => 9), BIN_SET, ST_EXISTS, 9,
    'set with a stale cas: exists');
reply_ok(bset($s, BIN_SET, 'nokey', 'bad', cas => 12345, opaque => 10), BIN_SET, ST_NOT_FOUND, 10,
    'set with a cas on a missing key: not found');
$r = bset($s, BIN_SET, 'c1', 'new', cas => $c, opaque => 11);
reply_ok($r, BIN_SET, ST_SUCCESS, 11, 'set with the matching cas');
isnt($r->{cas}, $c, 'cas set: new cas');
reply_ok(bset($s, BIN_SET, 'c1', 'replay', cas => $c), BIN_SET, ST_EXISTS, 0,
    'set replaying the old cas: exists');
reply_ok(bset($s, BIN_ADD, 'c1', 'x', cas => 1), BIN_ADD, ST_EXISTS, 0, 'add with a wrong cas: exists');
reply_ok(bin_cmd($s, op => BIN_APPEND, key => 'c1', value => 'x', cas => 1), BIN_APPEND, ST_EXISTS,
    0, 'append with a wrong cas: exists');
reply_ok(bin_cmd($s, op => BIN_DELETE, key => 'c1', cas => 1), BIN_DELETE, ST_EXISTS, 0,
    'delete with a wrong cas: exists');
is(bget($s, 'c1')->{value}, 'new', 'value after the cas tests');

# ------------------------------------------------------------ delete
reply_ok(bin_cmd($s, op => BIN_DELETE, key => 'c1', opaque => 12), BIN_DELETE, ST_SUCCESS, 12,
    'delete');
reply_ok(bin_cmd($s, op => BIN_DELETE, key => 'c1', opaque => 13), BIN_DELETE, ST_NOT_FOUND, 13,
    'delete again: not found');

# ------------------------------------------------------------ incr / decr
$r = bin_cmd($s, op => BIN_INCR, key => 'n', extras => bin_incr_extras(5, 10, 0), opaque => 14);
reply_ok($r, BIN_INCR, ST_SUCCESS, 14, 'incr on a missing key creates it');
is(bin_u64($r->{value}), 10, 'incr create: the initial value');
ok($r->{cas} > 0, 'incr: cas in the reply');
$r = bin_cmd($s, op => BIN_INCR, key => 'n', extras => bin_incr_extras(5, 10, 0));
is(bin_u64($r->{value}), 15, 'incr by 5');
$r = bin_cmd($s, op => BIN_INCR, key => 'n', extras => bin_incr_extras(2**33, 0, 0));
is(bin_u64($r->{value}), 15 + 2**33, 'incr across 32 bits');
$r = bin_cmd($s, op => BIN_DECR, key => 'n', extras => bin_incr_extras(2**40, 0, 0));
is(bin_u64($r->{value}), 0, 'decr floors at zero');
$r = bin_cmd($s, op => BIN_INCR, key => 'n', extras => bin_incr_extras(~0, 0, 0));
$r = bin_cmd($s, op => BIN_INCR, key => 'n', extras => bin_incr_extras(2, 0, 0));
is(bin_u64($r->{value}), 1, 'incr wraps at 2^64');
# memcached pads a shorter result with spaces to the old length.
like(bget($s, 'n')->{value}, qr/\A1 *\z/, 'the counter is stored as text');
reply_ok(bin_cmd($s, op => BIN_DECR, key => 'nc', extras => bin_incr_extras(1, 7, 0xffffffff),
        opaque => 15), BIN_DECR, ST_NOT_FOUND, 15, 'decr, expiration 0xffffffff: not created');
reply_ok(bin_cmd($s, op => BIN_INCR, key => 'nc', extras => bin_incr_extras(1, 7, 0xffffffff)),
    BIN_INCR, ST_NOT_FOUND, 0, 'incr, expiration 0xffffffff: not created');
reply_ok(bget($s, 'nc'), BIN_GET, ST_NOT_FOUND, 0x11223344, 'no-create: still missing');
$r = bin_cmd($s, op => BIN_DECR, key => 'nd', extras => bin_incr_extras(1, 7, 0));
is(bin_u64($r->{value}), 7, 'decr on a missing key creates it with the initial value');
reply_ok(bin_cmd($s, op => BIN_INCR, key => 'k2', extras => bin_incr_extras(1, 0, 0), opaque => 16),
    BIN_INCR, ST_DELTA_BADVAL, 16, 'incr of a non-numeric value');
reply_ok(bin_cmd($s, op => BIN_INCR, key => 'n', extras => bin_incr_extras(1, 0, 0), cas => 1),
    BIN_INCR, ST_EXISTS, 0, 'incr with a wrong cas: exists');

# ------------------------------------------------------------ touch, gat family
my $tkcas = bset($s, BIN_SET, 'tk', 'tv', flags => 3, exp => 1)->{cas};
$r = bin_cmd($s, op => BIN_TOUCH, key => 'tk', extras => bin_exp_extras(100), opaque => 17);
reply_ok($r, BIN_TOUCH, ST_SUCCESS, 17, 'touch');
is($r->{extras}, pack('N', 3), 'touch reply: the flags, no value');
is($r->{value}, '', 'touch reply: no value');
is($r->{cas}, $tkcas, "touch reply: the item's cas");
reply_ok(bin_cmd($s, op => BIN_TOUCH, key => 'nokey', extras => bin_exp_extras(10), opaque => 18),
    BIN_TOUCH, ST_NOT_FOUND, 18, 'touch missing');
$r = bin_cmd($s, op => BIN_GAT, key => 'tk', extras => bin_exp_extras(100), opaque => 19);
reply_ok($r, BIN_GAT, ST_SUCCESS, 19, 'gat');
is(join('/', unpack('N', $r->{extras}), $r->{key}, $r->{value}), '3//tv', 'gat: flags and value');
my $tcas = $r->{cas};
$r = bin_cmd($s, op => BIN_GATK, key => 'tk', extras => bin_exp_extras(100), opaque => 20);
reply_ok($r, BIN_GATK, ST_SUCCESS, 20, 'gatk');
is(join('/', unpack('N', $r->{extras}), $r->{key}, $r->{value}), '3/tk/tv', 'gatk: flags, key, value');
is($r->{cas}, $tcas, 'gat keeps the cas');
reply_ok(bin_cmd($s, op => BIN_GAT, key => 'nokey', extras => bin_exp_extras(1)), BIN_GAT,
    ST_NOT_FOUND, 0, 'gat miss');
reply_ok(bin_cmd($s, op => BIN_GATK, key => 'nokey', extras => bin_exp_extras(1)), BIN_GATK,
    ST_NOT_FOUND, 0, 'gatk miss: the key, no text', 'nokey');

# ------------------------------------------------------------ quiet batches
# Quiet gets: misses say nothing, hits answer; the noop ends the batch.
bset($s, BIN_SET, "q$_", "val$_", flags => $_) for (1, 3);
mc_send($s, join '',
    bin_packet(op => BIN_GETQ,  key => 'q1',   opaque => 101),
    bin_packet(op => BIN_GETQ,  key => 'q2',   opaque => 102),
    bin_packet(op => BIN_GETKQ, key => 'q3',   opaque => 103),
    bin_packet(op => BIN_GETKQ, key => 'q4',   opaque => 104),
    bin_packet(op => BIN_GATQ,  key => 'q5', extras => bin_exp_extras(0), opaque => 105),
    bin_packet(op => BIN_GATKQ, key => 'q1', extras => bin_exp_extras(0), opaque => 106),
    bin_packet(op => BIN_GATQ,  key => 'q3', extras => bin_exp_extras(0), opaque => 107),
    bin_packet(op => BIN_NOOP, opaque => 199));
my @got = bin_until_noop($s);
is(join(' ', map { sprintf '%02x:%d:%s:%s', $_->{opcode}, $_->{opaque}, $_->{key}, $_->{value} } @got),
    '09:101::val1 0d:103:q3:val3 24:106:q1:val1 1e:107::val3 0a:199::',
    'quiet gets: only the hits (keys for the K forms), then the noop');

# Quiet writes: success says nothing, failures answer.
mc_send($s, join '',
    set_pkt(BIN_SETQ, 'w1', 'a', opaque => 201),
    set_pkt(BIN_ADDQ, 'w1', 'b', opaque => 202),
    set_pkt(BIN_ADDQ, 'w2', 'b', opaque => 203),
    set_pkt(BIN_REPLACEQ, 'w3', 'c', opaque => 204),
    set_pkt(BIN_REPLACEQ, 'w2', 'B', opaque => 205),
    bin_packet(op => BIN_APPENDQ, key => 'w1', value => '+', opaque => 206),
    bin_packet(op => BIN_PREPENDQ, key => 'w1', value => '-', opaque => 207),
    bin_packet(op => BIN_APPENDQ, key => 'w9', value => '+', opaque => 208),
    bin_packet(op => BIN_INCRQ, key => 'w4', extras => bin_incr_extras(1, 40, 0), opaque => 209),
    bin_packet(op => BIN_INCRQ, key => 'w4', extras => bin_incr_extras(2, 0, 0), opaque => 210),
    bin_packet(op => BIN_DECRQ, key => 'w4', extras => bin_incr_extras(1, 0, 0), opaque => 211),
    bin_packet(op => BIN_INCRQ, key => 'w5', extras => bin_incr_extras(1, 0, 0xffffffff), opaque => 212),
    bin_packet(op => BIN_DELETEQ, key => 'w2', opaque => 213),
    bin_packet(op => BIN_DELETEQ, key => 'w2', opaque => 214),
    set_pkt(BIN_SETQ, 'w1', 'x', cas => 1, opaque => 215),
    bin_packet(op => BIN_NOOP, opaque => 299));
@got = bin_until_noop($s);
is(join(' ', map { sprintf '%02x:%d:%d', $_->{opcode}, $_->{opaque}, $_->{status} } @got),
    '12:202:2 13:204:1 19:208:5 15:212:1 14:214:1 11:215:2 0a:299:0',
    'quiet writes: only the failures, then the noop');
is(bget($s, 'w1')->{value}, '-a+', 'setq/appendq/prependq applied');
is(bget($s, 'w4')->{value}, '41', 'incrq/decrq applied');
reply_ok(bget($s, 'w2'), BIN_GET, ST_NOT_FOUND, 0x11223344, 'deleteq applied');

# ------------------------------------------------------------ stat
mc_send($s, bin_packet(op => BIN_STAT, opaque => 300));
my @stats;
for (1 .. 1000) {
    my $p = bin_read($s) or last;
    push @stats, $p;
    last if $p->{keylen} == 0;
}
ok(@stats > 10, 'stat: many stat packets');
ok(!(grep { $_->{opcode} != BIN_STAT || $_->{status} || $_->{opaque} != 300 } @stats),
    'stat: every packet is a successful stat with the opaque');
is($stats[-1]{bodylen}, 0, 'stat: ends with an empty packet');
my %st = map { $_->{key} => $_->{value} } @stats;
like($st{pid} // '', qr/^\d+$/, 'stat: pid');
like($st{curr_items} // '', qr/^\d+$/, 'stat: curr_items');
mc_send($s, bin_packet(op => BIN_STAT, key => 'settings', opaque => 301));
@stats = ();
for (1 .. 1000) {
    my $p = bin_read($s) or last;
    push @stats, $p;
    last if $p->{keylen} == 0;
}
%st = map { $_->{key} => $_->{value} } @stats;
like($st{maxconns} // '', qr/^\d+$/, 'stat settings: maxconns');
is($stats[-1]{bodylen}, 0, 'stat settings: ends with an empty packet');
reply_ok(bin_cmd($s, op => BIN_STAT, key => 'nosuchgroup', opaque => 302), BIN_STAT, ST_NOT_FOUND,
    302, 'stat with an unknown group: not found');

# ------------------------------------------------------------ unknown opcodes
reply_ok(bin_cmd($s, op => 0x50, opaque => 400), 0x50, ST_UNKNOWN, 400, 'unknown opcode 0x50');
# (Without a body: for an unknown opcode memcached swallows its body length
# again after reading extras and key, eating into the next packet.)
reply_ok(bin_cmd($s, op => BIN_VERBOSITY, opaque => 401), BIN_VERBOSITY,
    ST_UNKNOWN, 401, 'verbosity is not answered by memcached 1.6: unknown command');
reply_ok(bin_cmd($s, op => BIN_NOOP, opaque => 402), BIN_NOOP, ST_SUCCESS, 402,
    'connection alive after unknown commands');

# ------------------------------------------------------------ too large
reply_ok(bset($s, BIN_SET, 'big', 'small'), BIN_SET, ST_SUCCESS, 0, 'set big (small value)');
mc_send($s, set_pkt(BIN_SET, 'big', 'x' x (1024 * 1024 + 1), opaque => 500)
      . bin_packet(op => BIN_NOOP, opaque => 501));
@got = bin_until_noop($s);
is(scalar @got, 2, 'too large: one error, then the noop');
reply_ok($got[0], BIN_SET, ST_TOO_LARGE, 500, 'set of 1 MiB + 1: too large');
reply_ok($got[1], BIN_NOOP, ST_SUCCESS, 501, 'the value was swallowed: next packet answered');
reply_ok(bget($s, 'big'), BIN_GET, ST_NOT_FOUND, 0x11223344,
    'a refused set removes the old item (as memcached)');
mc_send($s, set_pkt(BIN_SETQ, 'bigq', 'x' x (1024 * 1024 + 1), opaque => 502)
      . bin_packet(op => BIN_NOOP, opaque => 503));
is(join(' ', map { sprintf '%02x:%d:%d', @$_{qw(opcode opaque status)} } bin_until_noop($s)),
    '11:502:3 0a:503:0', 'setq too large: the error is sent even though quiet');

# ------------------------------------------------------------ flush
bset($s, BIN_SET, 'f1', 'x');
reply_ok(bin_cmd($s, op => BIN_FLUSH, extras => bin_exp_extras(2), opaque => 600), BIN_FLUSH,
    ST_SUCCESS, 600, 'flush with a 2 s delay');
is(bget($s, 'f1')->{value}, 'x', 'delayed flush: item still there');
ok(wait_for(sub { bget($s, 'f1')->{status} == ST_NOT_FOUND }, 5, 0.2), 'delayed flush took effect');
bset($s, BIN_SET, 'f2', 'x');
reply_ok(bin_cmd($s, op => BIN_FLUSH, opaque => 601), BIN_FLUSH, ST_SUCCESS, 601, 'flush now');
reply_ok(bget($s, 'f2'), BIN_GET, ST_NOT_FOUND, 0x11223344, 'flush emptied');
bset($s, BIN_SET, 'f3', 'x');
mc_send($s, bin_packet(op => BIN_FLUSHQ, opaque => 602) . bin_packet(op => BIN_NOOP, opaque => 603));
is(join(' ', map { sprintf '%02x:%d', @$_{qw(opcode opaque)} } bin_until_noop($s)), '0a:603',
    'flushq: silent');
reply_ok(bget($s, 'f3'), BIN_GET, ST_NOT_FOUND, 0x11223344, 'flushq emptied');

# ------------------------------------------------------------ quit
my $q = $srv->sock;
reply_ok(bin_cmd($q, op => BIN_QUIT, opaque => 700), BIN_QUIT, ST_SUCCESS, 700, 'quit: a reply');
ok(RCTest::closed_by_peer($q, 3), 'quit: then closed');
$q = $srv->sock;
mc_send($q, bin_packet(op => BIN_QUITQ, opaque => 701) . bin_packet(op => BIN_NOOP));
ok(RCTest::closed_by_peer($q, 3), 'quitq: closed without a reply, later packets ignored');

# ------------------------------------------------------------ hostile headers
# Each case runs on a fresh connection (after one noop, so it is binary),
# followed by a noop; memcached 1.6.18 either answers and goes on (the noop
# is answered), or answers and closes. Meanwhile $s holds a stored item.
bset($s, BIN_SET, 'keep', 'kept', flags => 9);
my $E = bin_set_extras(0, 0);
my @hostile = (
    # name, bytes, expected replies "op:status[:opaque]", closed?
    [ 'set, body length 0xffffffe8 (value length negative as int): too large, nothing swallowed',
        substr(bin_packet(op => BIN_SET, key => 'h', extras => $E, bodylen => 0xffffffe8, opaque => 5), 0, 33),
        '01:3:5 0a:0:77', 0 ],
    [ 'set, body length 0x80000009 (above INT_MAX): too large',
        substr(bin_packet(op => BIN_SET, key => 'h', extras => $E, bodylen => 0x80000009, opaque => 5), 0, 33),
        '01:3:5 0a:0:77', 0 ],
    [ 'get, body length 0x80000000: invalid arguments, closed',
        bin_packet(op => BIN_GET, key => 'h', bodylen => 0x80000000, opaque => 5), '00:4:5', 1 ],
    [ 'append, body shorter than the key: unknown command, closed',
        bin_packet(op => BIN_APPEND, key => 'abcd', keylen => 10, bodylen => 4, opaque => 5), '0e:81:5', 1 ],
    [ 'prepend, body shorter than the key: unknown command, closed',
        bin_packet(op => BIN_PREPEND, key => 'abcd', keylen => 10, bodylen => 4, opaque => 5), '0f:81:5', 1 ],
    [ 'set, body shorter than key + extras: unknown command, closed',
        bin_packet(op => BIN_SET, key => 'abcd', extras => $E, bodylen => 6, opaque => 5), '01:81:5', 1 ],
    [ 'sasl auth, body shorter than the key: unknown command, closed',
        bin_packet(op => BIN_SASL_AUTH, key => 'PLAIN', keylen => 100, bodylen => 5, opaque => 5) . ('z' x 95),
        '21:81:5', 1 ],
    [ 'set with 255 bytes of extras: invalid arguments, closed',
        bin_packet(op => BIN_SET, key => 'k', extras => 'x' x 255, opaque => 5), '01:4:5', 1 ],
    [ 'get with extras: invalid arguments, closed',
        bin_packet(op => BIN_GET, key => 'k', extras => 'xxxx', opaque => 5), '00:4:5', 1 ],
    [ 'set without extras: invalid arguments, closed',
        bin_packet(op => BIN_SET, key => 'k', value => 'v', opaque => 5), '01:4:5', 1 ],
    [ 'get of a 251-byte key: invalid arguments, closed',
        bin_packet(op => BIN_GET, key => 'k' x 251, opaque => 5), '00:4:5', 1 ],
    [ 'set of a 251-byte key: invalid arguments, closed',
        bin_packet(op => BIN_SET, key => 'k' x 251, extras => $E, value => 'v', opaque => 5), '01:4:5', 1 ],
    [ 'get without a key: invalid arguments, closed',
        bin_packet(op => BIN_GET, opaque => 5), '00:4:5', 1 ],
    [ 'noop with a key: invalid arguments, closed',
        bin_packet(op => BIN_NOOP, key => 'x', opaque => 5), '0a:4:5', 1 ],
    [ 'incr without extras: invalid arguments, closed',
        bin_packet(op => BIN_INCR, key => 'x', opaque => 5), '05:4:5', 1 ],
    [ 'flush with 3 bytes of extras: invalid arguments, closed',
        bin_packet(op => BIN_FLUSH, extras => 'abc', opaque => 5), '08:4:5', 1 ],
    [ 'request magic 0x81: closed without a reply',
        bin_packet(op => BIN_NOOP, magic => 0x81, opaque => 5), '', 1 ],
    [ 'sasl auth with a 2 MB token, no SASL: unknown command, swallowed',
        bin_packet(op => BIN_SASL_AUTH, key => 'PLAIN', value => 'x' x 2_000_000, opaque => 5),
        '21:81:5 0a:0:77', 0 ],
    [ 'get of a 250-byte key: not found',
        bin_packet(op => BIN_GET, key => 'k' x 250, opaque => 5), '00:1:5 0a:0:77', 0 ],
);
for my $h (@hostile) {
    my ($name, $bytes, $want, $closes) = @$h;
    my $c = $srv->sock;
    bin_cmd($c, op => BIN_NOOP);
    mc_send($c, $bytes . bin_packet(op => BIN_NOOP, opaque => 77));
    my @rep;
    for (1 .. 3) {
        my $p = bin_read($c, 3) or last;
        push @rep, $p;
        last if $p->{opcode} == BIN_NOOP && $p->{opaque} == 77;
    }
    is(join(' ', map { sprintf '%02x:%x:%d', @$_{qw(opcode status opaque)} } @rep), $want,
        "$name: replies");
    if ($closes) {
        ok(RCTest::closed_by_peer($c, 3), "$name: connection closed");
    } else {
        ok(!RCTest::closed_by_peer($c, 0.3), "$name: connection open");
    }
    close $c;
}
# Append with body length 0xffffffe8: memcached's answer is undefined here
# (a negative length reaches its allocator); only survival is checked.
{
    my $c = $srv->sock;
    bin_cmd($c, op => BIN_NOOP);
    mc_send($c, substr(bin_packet(op => BIN_APPEND, key => 'keep', bodylen => 0xffffffe8), 0, 28));
    RCTest::pending($c, 0.5);
    close $c;
}
ok($srv->alive, 'server alive after the hostile headers');
$r = bget($s, 'keep');
is(join('/', $r->{status}, $r->{value}, unpack('N', $r->{extras} || "\0\0\0\0")), '0/kept/9',
    'the first connection still works and its data survived');
my $t = $srv->sock;
$r = bget($t, 'keep');
is($r && $r->{value}, 'kept', 'a new connection works');
my $txt = $srv->sock;
like(mc_cmd($txt, 'get keep') // '', qr/\AVALUE keep 9 4\r\nkept\r\nEND\r\n\z/,
    'a text connection sees the binary-written item');

done_testing();
