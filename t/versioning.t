#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# versioning.t (ringcached only): siblings and causal contexts, as
# doc/versioning.txt (V.n) and doc/protocol-extension.txt (E.n) specify
# them, byte for byte:
#   - vget/vset/vdel syntax, replies and errors (E.2);
#   - two clients writing from one context leave two siblings; a covering
#     context collapses them; a stale context leaves a sibling (V.8);
#   - plain reads return the dominant sibling (latest write time) on every
#     read (V.5); gets/cas over siblings (V.6, V.7); plain set, add,
#     replace, append, prepend, incr, touch, delete and too-large sets on a
#     key with siblings (V.7);
#   - vdel with a stale context keeps the concurrent sibling, with a
#     covering one leaves a tombstone that vget shows as "VERSIONS k 0"
#     (V.8, V.12);
#   - malformed, foreign, truncated, made-up and oversized contexts are
#     refused with "CLIENT_ERROR bad context" and write nothing (V.9);
#   - the sibling limit (--max-siblings, V.10);
#   - the meta flags a, y, Y on mg, ms, md (E.3) and the binary opcodes
#     0xe8-0xec with their framing checks and error statuses (E.4);
#   - siblings and tombstones survive kill -9 (--sync=always) and a clean
#     restart, with the same contexts (V.2, V.9);
#   - the statistics of V.14 and "stats versions";
#   - flush_all makes siblings dead and a later write supersedes them.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use RCTest;
use RCBinary;
use RCVersion;

RCTest::ringcached_only();
RCTest::set_timeout(240);

# A long grace keeps tombstones around for the whole test (V.12).
my $srv = RCTest::start(rc_args => [ '--sync=always', '--tombstone-grace=3600' ]);
my $s  = $srv->sock;    # client A
my $s2 = $srv->sock;    # client B

sub stats { return mem_stats($_[0] // $s) }

sub stat_delta {
    my ($before, $after, $name) = @_;
    return ($after->{$name} // 'undef') - ($before->{$name} // 0)
      if defined $after->{$name} && defined $before->{$name};
    return undef;
}

# Sends bytes followed by "mn\r\n" and returns everything up to "MN\r\n".
sub upto_mn {
    my ($sock, $bytes) = @_;
    mc_send($sock, $bytes . "mn\r\n");
    return read_until($sock, qr/^MN\r\n/m);
}

sub values_of { my ($o) = @_; return [ map { $_->{value} } @{ $o->{sibs} } ] }

# Builds siblings with blind writes (empty context); returns the last reply.
sub blind {
    my ($sock, $key, @vals) = @_;
    my $r;
    for my $v (@vals) {
        $r = vset($sock, $key, $v, '-');
        sleep 0.002;    # distinct write times: dominance by time, V.5
    }
    return $r;
}

# The whole reply of one vget (mc_cmd would stop after its first line).
sub vg { my ($sock, @k) = @_; my ($raw) = vget($sock, @k); return $raw }

sub nsibs { my ($sock, $key) = @_; my (undef, $o) = vget($sock, $key); return $o->[0] ? $o->[0]{n} : undef }

sub ctx_of { my ($sock, $key) = @_; my (undef, $o) = vget($sock, $key); return $o->[0] ? $o->[0]{ctx} : undef }

my $MAXSZ = 1024 * 1024;    # default -I

# ================================================================ basics
is(vg($s, qw(nosuch)), "END\r\n", 'vget of a missing key: END');
is(mc_cmd($s, 'vget'), "ERROR\r\n", 'vget without a key: ERROR');
is(mc_cmd($s, 'vget ' . ('k' x 251)), "CLIENT_ERROR bad command line format\r\n",
    'vget with a 251-byte key: CLIENT_ERROR bad command line format');

my $t0 = int(time * 1000);
my $r = vset($s, 'k1', 'apple', '-', flags => 5);
like($r, qr/\ASTORED 1 $CTX_RE\r\n\z/, 'vset with the empty context on a new key: STORED 1 <ctx>');
my (undef, $k1ctx) = stored_of($r);
my $t1 = int(time * 1000);
my ($raw, $o) = vget($s, 'k1');
my $wt = $o->[0] && $o->[0]{sibs}[0] ? $o->[0]{sibs}[0]{time} : -1;
is($raw, "VERSIONS k1 1 $k1ctx\r\nSIBLING 5 5 $wt\r\napple\r\nEND\r\n",
    'vget: VERSIONS k1 1 <the ctx vset returned>, SIBLING <flags> <bytes> <time>, data, END');
ok($wt >= $t0 - 2000 && $wt <= $t1 + 2000, "sibling time is the write time in Unix ms ($wt)");
ok(length($k1ctx) >= 31 && length($k1ctx) <= 543, 'context length within 31..543 (E.1)');
is(mc_cmd($s, 'get k1'), "VALUE k1 5 5\r\napple\r\nEND\r\n", 'plain get sees the value and flags');
($raw, $o) = vget($s, 'k1', 'nosuch', 'k1');
is($raw, "VERSIONS k1 1 $k1ctx\r\nSIBLING 5 5 $wt\r\napple\r\n" x 2 . "END\r\n",
    'vget k1 nosuch k1: k1 answered twice, the miss omitted');
is(ctx_of($s2, 'k1'), $k1ctx, 'a second connection reads the same context');

# vset syntax errors (E.2.2)
mc_send($s, "vset k1 0 0 5\r\napple\r\n");
is(read_line($s), "ERROR\r\n", 'vset with 5 tokens: ERROR');
is(read_line($s), "ERROR\r\n", '... and the data block is not skipped (read as a command)');
mc_send($s, "vset k1 0 0 5 - noreply extra\r\napple\r\n");
is(read_line($s), "ERROR\r\n", 'vset with 8 tokens: ERROR');
is(read_line($s), "ERROR\r\n", '... data block not skipped');
mc_send($s, "vset k1 x 0 5 -\r\napple\r\n");
is(read_line($s), "CLIENT_ERROR bad command line format\r\n", 'vset with non-numeric flags');
is(read_line($s), "ERROR\r\n", '... data block not skipped');
mc_send($s, "vset k1 0 0 -1 -\r\n");
is(read_line($s), "CLIENT_ERROR bad command line format\r\n", 'vset with negative bytes');
mc_send($s, "vset " . ('k' x 251) . " 0 0 5 -\r\napple\r\n");
is(read_line($s), "CLIENT_ERROR bad command line format\r\n", 'vset with a 251-byte key');
is(read_line($s), "ERROR\r\n", '... data block not skipped');
mc_send($s, "vset k1 0 0 5 hello\r\nXXXXX\r\n");
is(read_line($s), "CLIENT_ERROR bad context\r\n", 'vset with a made-up context: CLIENT_ERROR bad context');
is(RCTest::pending($s), '', '... and the data block was read and discarded');
{
    my $c = $srv->sock;
    mc_send($c, "vset k1 0 0 3 $k1ctx\r\nabcde\r\n");
    is(read_line($c), "CLIENT_ERROR bad data chunk\r\n", 'vset with a bad data chunk');
    close $c;
}
($raw) = vget($s, 'k1');
is($raw, "VERSIONS k1 1 $k1ctx\r\nSIBLING 5 5 $wt\r\napple\r\nEND\r\n",
    'none of the refused vsets changed k1');
is(upto_mn($s, "vset k1 0 0 5 hello noreply\r\nXXXXX\r\n"), "MN\r\n",
    'vset noreply with a bad context: refused silently');
is(upto_mn($s, "vset nr 0 0 2 - noreply\r\nnr\r\n"), "MN\r\n", 'vset noreply: no reply');
is(mc_get($s, 'nr'), 'nr', '... but stored');
($raw) = vget($s, 'k1');
is($raw, "VERSIONS k1 1 $k1ctx\r\nSIBLING 5 5 $wt\r\napple\r\nEND\r\n", 'k1 still unchanged');

# ================================================================ two writers, one context
# E.6's session: A and B read the same context and both write.
my $st0 = stats();
my $sv0 = mem_stats($s, 'versions');
$r = vset($s, 'c', 'apple', '-');
my ($n, $c0) = stored_of($r);
is($n, 1, 'cart created: STORED 1');
my $ca = ctx_of($s, 'c');
my $cb = ctx_of($s2, 'c');
is($ca, $c0, 'client A reads the context vset returned');
is($cb, $c0, 'client B reads the same context');
$r = vset($s, 'c', 'apple,pears', $ca);
like($r, qr/\ASTORED 1 $CTX_RE\r\n\z/, 'A writes with the context it read: STORED 1');
sleep 0.002;
$r = vset($s2, 'c', 'apple,banana', $cb);
like($r, qr/\ASTORED 2 $CTX_RE\r\n\z/, 'B writes with the same, now old, context: STORED 2');
my (undef, $cB) = stored_of($r);
($raw, $o) = vget($s, 'c');
is($o->[0]{n}, 2, 'vget shows two siblings');
is($o->[0]{ctx}, $cB, 'vget context is the one B\'s write returned');
is_deeply(values_of($o->[0]), [ 'apple,banana', 'apple,pears' ],
    'siblings dominant first: the later write (B) first');
my ($ta, $tb) = map { $_->{time} } @{ $o->[0]{sibs} };
is($raw, "VERSIONS c 2 $cB\r\nSIBLING 0 12 $ta\r\napple,banana\r\nSIBLING 0 11 $tb\r\napple,pears\r\nEND\r\n",
    'vget reply byte for byte');
ok($ta >= $tb, 'the dominant sibling has the later write time');
my %seen;
my $cas_c;
for my $i (1 .. 5) {
    for my $sock ($s, $s2) {
        my ($v, $f, $cas) = mc_gets($sock, 'c');
        $seen{ ($v // 'MISS') . "/$f/" . ($cas // '') }++;
        $cas_c = $cas;
    }
}
is_deeply([ keys %seen ], [ "apple,banana/0/$cas_c" ],
    'gets from two clients, 10 times: always the dominant value and one cas');
my $st1 = stats();
is(stat_delta($st0, $st1, 'siblings_hidden_reads'), 10, 'siblings_hidden_reads +10 (one per plain read)');
is(stat_delta($st0, $st1, 'siblings_hidden'), 10, 'siblings_hidden +10 (one hidden sibling each)');
is(stat_delta($st0, $st1, 'objects_with_siblings'), 1, 'objects_with_siblings +1');
my $sv1 = mem_stats($s, 'versions');
is(stat_delta($sv0, $sv1, 'siblings_2'), 1, 'stats versions: siblings_2 +1');
$r = vset($s, 'c', 'apple,pears,banana', $cB);
like($r, qr/\ASTORED 1 $CTX_RE\r\n\z/, 'resolution written with the covering context: STORED 1');
my (undef, $cM) = stored_of($r);
($raw, $o) = vget($s, 'c');
is($o->[0]{n} . ' ' . $o->[0]{ctx} . ' ' . join('|', @{ values_of($o->[0]) }),
    "1 $cM apple,pears,banana", 'vget: one sibling, the merge, with the new context');
is(mc_get($s2, 'c'), 'apple,pears,banana', 'plain get sees the merge');
my $st2 = stats();
is(stat_delta($st1, $st2, 'objects_with_siblings'), -1, 'objects_with_siblings back down');
is(stat_delta($st1, $st2, 'siblings_hidden_reads'), 0, 'vget and a single-sibling get do not count as hidden reads');
my ($v1, $f1, $cas_m) = mc_gets($s, 'c');
isnt($cas_m, $cas_c, 'the cas changed with the write');
my (undef, undef, $cas_m2) = mc_gets($s2, 'c');
is($cas_m2, $cas_m, 'the cas is stable across reads and connections');

# ================================================================ stale context
$r = vset($s, 's', 'v0', '-');
my (undef, $s0) = stored_of($r);
$r = vset($s, 's', 'v1', $s0);
my ($n1, $s1) = stored_of($r);
is($n1, 1, 'stale: v1 written over v0: STORED 1');
sleep 0.002;
$r = vset($s2, 's', 'v2', $s0);
is((stored_of($r))[0], 2, 'v2 written with the stale context (before v1): STORED 2');
sleep 0.002;
$r = vset($s, 's', 'v3', $s1);
my ($n3, $s3) = stored_of($r);
is($n3, 2, 'v3 written with v1\'s context: covers v1 only, v2 stays: STORED 2');
($raw, $o) = vget($s, 's');
is_deeply(values_of($o->[0]), [ 'v3', 'v2' ], 'vget: v3 then v2');
is($o->[0]{ctx}, $s3, 'vget context equals the last STORED context');
$r = vset($s, 's', 'v4', $s3);
is((stored_of($r))[0], 1, 'writing with the covering context collapses: STORED 1');

# ================================================================ dominant sibling
like(blind($s, 'dom', 'x1', 'x2', 'x3'), qr/\ASTORED 3 $CTX_RE\r\n\z/,
    'three blind writes (empty context): STORED 3');
($raw, $o) = vget($s, 'dom');
is_deeply(values_of($o->[0]), [ 'x3', 'x2', 'x1' ], 'vget: latest write first');
my @times = map { $_->{time} } @{ $o->[0]{sibs} };
ok($times[0] >= $times[1] && $times[1] >= $times[2], "write times non-increasing (@times)");
my %got;
$got{ mc_get($_ % 2 ? $s : $s2, 'dom') // 'MISS' }++ for 1 .. 10;
is_deeply(\%got, { x3 => 10 }, 'plain get returns the dominant sibling on every read');
is(RCVersion::meta_line($s, 'mg dom v'), "VA 2\r\nx3\r\n", 'mg without a: the dominant sibling');
$st0 = stats();
mc_get($s, 'dom');
$st1 = stats();
is(stat_delta($st0, $st1, 'siblings_hidden'), 2, 'a get over three live siblings hides two');

# ================================================================ gets / cas
blind($s, 'g', 'g1', 'g2');
my (undef, undef, $gcas1) = mc_gets($s, 'g');
ok(defined $gcas1 && $gcas1 > 0, 'A: gets over two siblings gives a cas');
my $gctx = ctx_of($s2, 'g');
is((stored_of(vset($s2, 'g', 'g3', $gctx)))[0], 1, 'B: vset with the context it read: STORED 1');
is(mc_store($s, 'cas', 'g', 'gA', cas => $gcas1), "EXISTS\r\n", 'A: cas with the old cas: EXISTS');
is(mc_get($s, 'g'), 'g3', '... nothing written');
is((stored_of(vset($s2, 'g', 'g4', '-')))[0], 2, 'B: a blind write makes two siblings again');
my ($gv, undef, $gcas2) = mc_gets($s, 'g');
is($gv, 'g4', 'A: gets shows the dominant sibling');
isnt($gcas2, $gcas1, 'A: the fresh cas differs');
$st0 = stats();
is(mc_store($s, 'cas', 'g', 'g5', cas => $gcas2, flags => 9), "STORED\r\n", 'A: cas with the fresh cas: STORED');
($raw, $o) = vget($s, 'g');
is($o->[0]{n} . ' ' . join('|', @{ values_of($o->[0]) }) . ' ' . $o->[0]{sibs}[0]{flags},
    '1 g5 9', 'cas collapsed the siblings: one sibling g5 (flags 9)');
$st1 = stats();
ok(stat_delta($st0, $st1, 'siblings_collapsed') >= 1, 'siblings_collapsed counted the cas that collapsed');
is(mc_store($s, 'cas', 'nosuch', 'x', cas => $gcas2), "NOT_FOUND\r\n", 'cas on a missing key: NOT_FOUND');
my (undef, undef, $gcas3) = mc_gets($s, 'g');
is(RCVersion::meta_line($s, 'mg g c'), "HD c$gcas3\r\n", 'mg c shows the same cas as gets');

# ================================================================ plain set collapses
blind($s, 'p', 'p1', 'p2', 'p3');
$st0 = stats();
is(mc_store($s, 'set', 'p', 'plain', flags => 4), "STORED\r\n", 'plain set over three siblings: STORED');
($raw, $o) = vget($s, 'p');
is($o->[0]{n} . ' ' . join('|', @{ values_of($o->[0]) }) . ' ' . $o->[0]{sibs}[0]{flags},
    '1 plain 4', 'plain set collapsed them into one sibling');
$st1 = stats();
ok(stat_delta($st0, $st1, 'siblings_collapsed') >= 2, 'siblings_collapsed counted it');
is(stat_delta($st0, $st1, 'objects_with_siblings'), -1, 'objects_with_siblings -1');

# ================================================================ vdel
is(vdel($s, 'nosuch', '-'), "NOT_FOUND\r\n", 'vdel of a missing key: NOT_FOUND');
is(mc_cmd($s, 'vdel d'), "ERROR\r\n", 'vdel with 2 tokens: ERROR');
is(mc_cmd($s, 'vdel d - noreply x'), "ERROR\r\n", 'vdel with 5 tokens: ERROR');
is(mc_cmd($s, 'vdel ' . ('k' x 251) . ' -'), "CLIENT_ERROR bad command line format\r\n",
    'vdel with a 251-byte key');

$r = vset($s, 'd', 'd0', '-');
my (undef, $d0) = stored_of($r);
is((stored_of(vset($s, 'd', 'd1', $d0)))[0], 1, 'A writes d1 over d0');
sleep 0.002;
$st0 = stats();
$r = vdel($s2, 'd', $d0);
like($r, qr/\ADELETED 1 $CTX_RE\r\n\z/, 'B deletes with the old context: DELETED 1 (d1 survives)');
my (undef, $dD) = deleted_of($r);
($raw, $o) = vget($s, 'd');
my $dt = $o->[0] && $o->[0]{sibs}[0] ? $o->[0]{sibs}[0]{time} : -1;
is($raw, "VERSIONS d 1 $dD\r\nSIBLING 0 2 $dt\r\nd1\r\nEND\r\n",
    'vget still shows the concurrent sibling d1, with the delete\'s context');
is(mc_cmd($s, 'get d'), "END\r\n", 'plain get misses: the later tombstone dominates');
is(RCVersion::meta_line($s, 'mg d v'), "EN\r\n", 'mg misses too');
$st1 = stats();
is(stat_delta($st0, $st1, 'objects_with_siblings'), 1, 'a tombstone plus a live sibling: objects_with_siblings +1');
is(stat_delta($st0, $st1, 'tombstones_pending'), 0, 'not a pending tombstone (a live sibling remains)');
is(stat_delta($st0, $st1, 'siblings_hidden_reads'), 0, 'a miss is no hidden read');
$r = vdel($s, 'd', $dD);
like($r, qr/\ADELETED 0 $CTX_RE\r\n\z/, 'vdel with the covering context: DELETED 0');
my (undef, $dE) = deleted_of($r);
is(mc_cmd($s, 'get d'), "END\r\n", 'plain get misses');
is(vg($s, qw(d)), "VERSIONS d 0 $dE\r\nEND\r\n", 'vget: VERSIONS d 0 <ctx>, no siblings');
$st2 = stats();
is(stat_delta($st1, $st2, 'tombstones_pending'), 1, 'tombstones_pending +1');
is(stat_delta($st1, $st2, 'objects_with_siblings'), -1, 'objects_with_siblings -1 (one tombstone left)');
$r = vset($s, 'd', 'back', $dE);
is((stored_of($r))[0], 1, 'vset with the tombstone\'s context writes over the delete: STORED 1');
is(mc_get($s, 'd'), 'back', 'plain get sees it');
is(stat_delta($st2, stats(), 'tombstones_pending'), -1, 'tombstones_pending -1');

$r = vset($s, 'e', 'e0', '-');
my (undef, $e0) = stored_of($r);
$r = vdel($s, 'e', $e0);
like($r, qr/\ADELETED 0 $CTX_RE\r\n\z/, 'vdel of a single sibling with its context: DELETED 0');
my (undef, $eD) = deleted_of($r);
is(vg($s, qw(e)), "VERSIONS e 0 $eD\r\nEND\r\n", 'vget e: VERSIONS e 0 <ctx>');
is(mc_cmd($s, 'get e'), "END\r\n", 'get e misses');
is(upto_mn($s, "vdel e $eD noreply\r\n"), "MN\r\n", 'vdel noreply: no reply');

blind($s, 'pd', 'a', 'b');
is(mc_cmd($s, 'delete pd'), "DELETED\r\n", 'plain delete over two siblings: DELETED');
is(mc_cmd($s, 'get pd'), "END\r\n", 'get misses');
like(vg($s, qw(pd)), qr/\AVERSIONS pd 0 $CTX_RE\r\nEND\r\n\z/,
    'plain delete superseded both siblings: VERSIONS pd 0');
is(mc_cmd($s, 'delete pd'), "NOT_FOUND\r\n", 'a second plain delete: NOT_FOUND');

# ================================================================ plain commands over siblings (V.7)
vset($s, 'n', '5', '-', flags => 3);
sleep 0.002;
vset($s, 'n', '7', '-', flags => 4);
is(mc_cmd($s, 'incr n 1'), "8\r\n", 'incr over siblings 5 and 7 counts on the dominant (7)');
($raw, $o) = vget($s, 'n');
is($o->[0]{n} . ' ' . $o->[0]{sibs}[0]{value} . ' ' . $o->[0]{sibs}[0]{flags}, '1 8 4',
    'incr collapsed the siblings and kept the dominant sibling\'s flags');
vset($s, 'nn', '10', '-');
sleep 0.002;
vset($s, 'nn', 'abc', '-');
my ($nnraw) = vget($s, 'nn');
is(mc_cmd($s, 'incr nn 1'), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    'incr whose dominant sibling is not a number: CLIENT_ERROR');
is((vget($s, 'nn'))[0], $nnraw, '... nothing changed');
is(mc_cmd($s, 'decr nn 1'), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    'decr likewise');

vset($s, 'ap', 'a', '-', flags => 1);
sleep 0.002;
vset($s, 'ap', 'b', '-', flags => 2);
is(mc_store($s, 'append', 'ap', 'X'), "STORED\r\n", 'append over siblings: STORED');
($raw, $o) = vget($s, 'ap');
is($o->[0]{n} . ' ' . $o->[0]{sibs}[0]{value} . ' ' . $o->[0]{sibs}[0]{flags}, '1 bX 2',
    'append: the dominant value with the data after it, its flags, one sibling');
vset($s, 'pp', 'a', '-', flags => 1);
sleep 0.002;
vset($s, 'pp', 'b', '-', flags => 2);
is(mc_store($s, 'prepend', 'pp', 'X'), "STORED\r\n", 'prepend over siblings: STORED');
($raw, $o) = vget($s, 'pp');
is($o->[0]{n} . ' ' . $o->[0]{sibs}[0]{value} . ' ' . $o->[0]{sibs}[0]{flags}, '1 Xb 2',
    'prepend: the data before the dominant value, one sibling');

blind($s, 'ad', 'a1', 'a2');
my ($adraw) = vget($s, 'ad');
is(mc_store($s, 'add', 'ad', 'new'), "NOT_STORED\r\n", 'add over visible siblings: NOT_STORED');
is((vget($s, 'ad'))[0], $adraw, '... nothing changed');
is(mc_store($s, 'replace', 'ad', 'rep'), "STORED\r\n", 'replace over siblings: STORED');
($raw, $o) = vget($s, 'ad');
is($o->[0]{n} . ' ' . join('|', @{ values_of($o->[0]) }), '1 rep', 'replace collapsed them');
is(mc_store($s, 'add', 'e', 'added'), "STORED\r\n", 'add over a tombstone-only key: STORED');
($raw, $o) = vget($s, 'e');
is($o->[0]{n} . ' ' . join('|', @{ values_of($o->[0]) }), '1 added', '... one sibling, the tombstone superseded');

# a deleted key (tombstone dominant) with a live sibling
$r = vset($s, 'dr', 'r0', '-');
my (undef, $dr0) = stored_of($r);
vset($s, 'dr', 'r1', $dr0);
sleep 0.002;
vdel($s, 'dr', $dr0);
my ($drraw) = vget($s, 'dr');
is(mc_store($s, 'replace', 'dr', 'x'), "NOT_STORED\r\n", 'replace on a tombstone-dominant key: NOT_STORED');
is(mc_store($s, 'append', 'dr', 'x'), "NOT_STORED\r\n", 'append on it: NOT_STORED');
is(mc_cmd($s, 'incr dr 1'), "NOT_FOUND\r\n", 'incr on it: NOT_FOUND');
is(mc_cmd($s, 'touch dr 100'), "NOT_FOUND\r\n", 'touch on it: NOT_FOUND');
is(mc_cmd($s, 'delete dr'), "NOT_FOUND\r\n", 'plain delete on it: NOT_FOUND');
is((vget($s, 'dr'))[0], $drraw, 'none of them changed it');
is(mc_store($s, 'add', 'dr', 'added'), "STORED\r\n", 'add on it: STORED');
($raw, $o) = vget($s, 'dr');
is($o->[0]{n} . ' ' . join('|', @{ values_of($o->[0]) }), '1 added',
    'add collapsed the tombstone and the hidden sibling');

blind($s, 'tch', 't1', 't2');
my (undef, undef, $tcas) = mc_gets($s, 'tch');
my ($tchraw) = vget($s, 'tch');
is(mc_cmd($s, 'touch tch 1000'), "TOUCHED\r\n", 'touch over siblings: TOUCHED');
my (undef, undef, $tcas2) = mc_gets($s, 'tch');
is($tcas2, $tcas, 'touch keeps the cas');
is((vget($s, 'tch'))[0], $tchraw, 'touch keeps the siblings and the context');
is(mc_cmd($s, 'gat 0 tch'), "VALUE tch 0 2\r\nt2\r\nEND\r\n", 'gat returns the dominant sibling');

# too large (V.7 set; E.2.2 vset)
blind($s, 'big', 'b1', 'b2');
my ($bigraw) = vget($s, 'big');
my $huge = 'z' x ($MAXSZ + 50_000);
is(vset($s, 'big', $huge, '-'), "SERVER_ERROR object too large for cache\r\n",
    'vset over -I: SERVER_ERROR object too large for cache');
is((vget($s, 'big'))[0], $bigraw, '... and the stored siblings are left alone');
is(upto_mn($s, ''), "MN\r\n", '... the data block was discarded');
is(mc_store($s, 'set', 'big', $huge), "SERVER_ERROR object too large for cache\r\n",
    'plain set over -I: SERVER_ERROR object too large for cache');
is(mc_cmd($s, 'get big'), "END\r\n", '... removes the item, as memcached does');
like(vg($s, qw(big)), qr/\AVERSIONS big 0 $CTX_RE\r\nEND\r\n\z/,
    '... as a tombstone that collapses the siblings');

# ================================================================ meta flags a, y, Y
$r = vset($s, 'mc', 'apple', '-');
my (undef, $m0) = stored_of($r);
vset($s, 'mc', 'apple,pears', $m0);
sleep 0.002;
$r = vset($s2, 'mc', 'apple,banana', $m0);
my ($mn, $mB) = stored_of($r);
is($mn, 2, 'meta: two siblings for mc');
my (undef, undef, $mcas) = mc_gets($s, 'mc');
# E.3.1 lists a among the header flags ("as a<n>"), in request order; the
# example of E.6 ("VS 2 y<ctx>") leaves it out. This test follows E.3.1.
is(meta_a($s, 'mg mc a v f y'),
    "VS 2 a2 y$mB\r\nVA 12 f0\r\napple,banana\r\nVA 11 f0\r\napple,pears\r\n",
    'mg a v f y: VS 2 a2 y<ctx>, then the siblings dominant first (E.6 plus a2, E.3.1)');
is(meta_a($s, 'mg mc a'), "VS 2 a2\r\nHD\r\nHD\r\n", 'mg a without v: VS 2 a2 then one HD per sibling');
is(meta_a($s, 'mg mc a s f'), "VS 2 a2\r\nHD s12 f0\r\nHD s11 f0\r\n", 'mg a s f: sibling flags in request order');
is(meta_a($s, 'mg mc f a v s'), "VS 2 a2\r\nVA 12 f0 s12\r\napple,banana\r\nVA 11 f0 s11\r\napple,pears\r\n",
    'mg f a v s: VA blocks with f then s');
is(meta_a($s, 'mg mc y c a k'), "VS 2 y$mB c$mcas a2 kmc\r\nHD\r\nHD\r\n",
    'mg y c a k: header flags in request order, cas as gets shows it');
is(meta_a($s, 'mg mc a k O77 c'), "VS 2 a2 kmc O77 c$mcas\r\nHD\r\nHD\r\n", 'mg a k O c');
is(meta_a($s, 'mg nosuch a v'), "EN\r\n", 'mg a on a miss: EN');
is(meta_a($s, 'mg nosuch a k O5'), "EN knosuch O5\r\n", 'mg a on a miss with k O: EN knosuch O5');
is(upto_mn($s, "mg nosuch a v q\r\n"), "MN\r\n", 'mg a q: the miss is hidden');
is(meta_a($s, 'mg e a v y'), "VS 1 a1 y" . ctx_of($s, 'e') . "\r\nVA 5\r\nadded\r\n", 'mg a v y on one sibling');
is(meta_a($s, 'mg pd a v y'), "VS 0 a0 y" . ctx_of($s, 'pd') . "\r\n", 'mg a on a tombstone-only key: VS 0 and no blocks');
is(RCVersion::meta_line($s, 'mg mc v y'), "VA 12 y$mB\r\napple,banana\r\n",
    'mg v y without a: the dominant value and the whole context');
is(RCVersion::meta_line($s, 'mg mc Y'), "CLIENT_ERROR invalid flag\r\n", 'mg Y: CLIENT_ERROR invalid flag');
is(RCVersion::meta_line($s, "mg mc Y$mB"), "CLIENT_ERROR invalid flag\r\n", 'mg Y<ctx>: CLIENT_ERROR invalid flag');
vset($s, 'cnt', '1', '-');
for my $f ('a', 'y', 'Y-') {
    is(RCVersion::meta_line($s, "ma cnt $f"), "CLIENT_ERROR invalid or duplicate flag\r\n",
        "ma $f: CLIENT_ERROR invalid or duplicate flag");
}
is(mc_get($s, 'cnt'), '1', 'the refused ma changed nothing');

$st0 = stats();
$r = RCVersion::meta_line($s, "ms mc 18 Y$mB a y", 'apple,pears,banana');
like($r, qr/\AHD a1 y$CTX_RE\r\n\z/, 'ms Y<ctx> a y: HD a1 y<ctx2> (E.6)');
my ($mC) = $r =~ /y($CTX_RE)/;
is(ctx_of($s, 'mc'), $mC, 'the returned context is the object\'s new one');
is(mc_get($s, 'mc'), 'apple,pears,banana', 'the resolution is the only value');
is(stat_delta($st0, stats(), 'vset_cmds'), 1, 'ms Y counts in vset_cmds');
$r = RCVersion::meta_line($s, "ms mc 1 Y$mC y a c k", 'x');
like($r, qr/\AHD y$CTX_RE a1 c\d+ kmc\r\n\z/, 'ms Y with y a c k: flags in request order');
my ($mD, $mcas2) = $r =~ /y($CTX_RE) a1 c(\d+)/;
my (undef, undef, $gc) = mc_gets($s, 'mc');
is($mcas2, $gc, 'ms c returns the cas gets shows');
is(RCVersion::meta_line($s, 'ms mc 1 Y- a', 'y'), "HD a2\r\n", 'ms Y- (blind): HD a2');
is(RCVersion::meta_line($s, 'ms mc 1 Y- MS a', 'z'), "HD a3\r\n", 'ms Y- MS: HD a3');
is(upto_mn($s, "ms mc 1 Y- q\r\nq\r\n"), "MN\r\n", 'ms Y q: HD hidden');
is(nsibs($s, 'mc'), 4, 'four siblings now');
my ($mcraw) = vget($s, 'mc');
for my $m ('MA', 'MP', 'ME', 'MR') {
    is(RCVersion::meta_line($s, "ms mc 1 Y- $m", 'w'), "CLIENT_ERROR context needs set mode\r\n",
        "ms Y $m: CLIENT_ERROR context needs set mode");
}
for my $f ("C$gc", 'I', 'C1 I') {
    is(RCVersion::meta_line($s, "ms mc 1 Y- $f", 'w'), "CLIENT_ERROR context excludes C and I\r\n",
        "ms Y $f: CLIENT_ERROR context excludes C and I");
}
is(RCVersion::meta_line($s, 'ms mc 1 Y', 'w'), "CLIENT_ERROR bad context\r\n", 'ms with Y and no token: bad context');
is(RCVersion::meta_line($s, 'ms mc 1 Ynope', 'w'), "CLIENT_ERROR bad context\r\n", 'ms Ynope: bad context');
is(upto_mn($s, ''), "MN\r\n", 'every refused ms had its data block discarded');
is((vget($s, 'mc'))[0], $mcraw, 'none of the refused ms changed mc');
is(RCVersion::meta_line($s, 'ms mc 1 Y- Y-', 'w'), "CLIENT_ERROR duplicate flag\r\n", 'ms Y twice: duplicate flag');
is(RCVersion::meta_line($s, 'ms mc 1 a a', 'w'), "CLIENT_ERROR duplicate flag\r\n", 'ms a twice: duplicate flag');
is(upto_mn($s, ''), "MN\r\n", '... data discarded');
# b: the context is bound to the decoded key ("bWM=" is "mc")
my $mcctx = ctx_of($s, 'mc');
is(RCVersion::meta_line($s, "ms bWM= 3 b Y$mcctx a", 'b64'), "HD a1\r\n",
    'ms b with a base64 key takes the decoded key\'s context');
is(mc_get($s, 'mc'), 'b64', '... and wrote mc');
is(RCVersion::meta_line($s, 'ms plainkey 2 a', 'pk'), "HD a1\r\n", 'ms without Y, with a: HD a1');

# md
$mcctx = ctx_of($s, 'mc');
is(RCVersion::meta_line($s, 'md nosuch Y-'), "NF\r\n", 'md Y on a missing key: NF');
is(RCVersion::meta_line($s, 'md nosuch Y- k O9'), "NF knosuch O9\r\n", 'md Y on a miss with k O: NF knosuch O9');
is(RCVersion::meta_line($s, 'md mc Y- C5'), "CLIENT_ERROR context excludes C and I\r\n", 'md Y C: excluded');
is(RCVersion::meta_line($s, 'md mc Y- I'), "CLIENT_ERROR context excludes C and I\r\n", 'md Y I: excluded');
is(RCVersion::meta_line($s, 'md mc Y'), "CLIENT_ERROR bad context\r\n", 'md with Y and no token: bad context');
is(RCVersion::meta_line($s, 'md mc Yzzz'), "CLIENT_ERROR bad context\r\n", 'md Yzzz: bad context');
is(RCVersion::meta_line($s, 'md mc Y- Y-'), "CLIENT_ERROR invalid or duplicate flag\r\n",
    'md Y twice: invalid or duplicate flag');
is(mc_get($s, 'mc'), 'b64', 'the refused md changed nothing');
$r = RCVersion::meta_line($s, "md mc Y$mcctx a y k");
like($r, qr/\AHD a0 y$CTX_RE kmc\r\n\z/, 'md Y<ctx> a y k: HD a0 y<ctx> kmc');
my ($mE) = $r =~ /y($CTX_RE)/;
is(vg($s, qw(mc)), "VERSIONS mc 0 $mE\r\nEND\r\n", 'vget after md Y: VERSIONS mc 0 <that ctx>');
is(RCVersion::meta_line($s, 'mg mc v'), "EN\r\n", 'mg after md Y: EN');
vset($s, 'mq', 'q', '-');
is(upto_mn($s, "md mq Y- q\r\n"), "MN\r\n", 'md Y q: HD hidden');
is(RCVersion::meta_line($s, 'md plainkey a'), "HD a0\r\n", 'md without Y, with a: HD a0');

# ================================================================ malformed contexts (V.9)
blind($s, 'bc', 'bc1', 'bc2');
vset($s, 'other', 'o', '-');
my $bcctx = ctx_of($s, 'bc');
my $otherctx = ctx_of($s, 'other');
my ($bcraw) = vget($s, 'bc');
my ($vec, $seal) = split /\./, $bcctx;
my $flip = sub { my ($str, $i) = @_; my $c = substr($str, $i, 1); substr($str, $i, 1, $c eq 'A' ? 'B' : 'A'); $str };
my @bad = (
    [ 'truncated', substr($bcctx, 0, length($bcctx) - 5) ],
    [ 'another key\'s', $otherctx ],
    [ 'made-up', 'hello' ],
    [ 'too long (544 bytes)', ('A' x 520) . '.' . ('A' x 23) ],
    [ 'vector altered', $flip->($vec, 10) . ".$seal" ],
    [ 'seal altered', "$vec." . $flip->($seal, 5) ],
    [ 'two full stops', "$vec.$seal.x" ],
    [ 'no full stop', $vec . $seal ],
    [ 'short vector', 'AAAAAA.' . $seal ],
    [ 'a byte outside the alphabet', "$vec+.$seal" ],
    [ 'only the seal', ".$seal" ],
    [ 'double dash', '--' ],
);
$st0 = stats();
my $nbad = 0;
for my $b (@bad) {
    my ($name, $tok) = @$b;
    is(vset($s, 'bc', 'BAD', $tok), "CLIENT_ERROR bad context\r\n", "vset with a $name context: bad context");
    is(vdel($s, 'bc', $tok), "CLIENT_ERROR bad context\r\n", "vdel with a $name context: bad context");
    is(RCVersion::meta_line($s, "ms bc 3 Y$tok", 'BAD'), "CLIENT_ERROR bad context\r\n",
        "ms Y with a $name context: bad context");
    is(RCVersion::meta_line($s, "md bc Y$tok"), "CLIENT_ERROR bad context\r\n",
        "md Y with a $name context: bad context");
    $nbad += 4;
}
is((vget($s, 'bc'))[0], $bcraw, 'nothing was written by any refused context');
is(stat_delta($st0, stats(), 'context_errors'), $nbad, "context_errors +$nbad");
is(vdel($s, 'nosuch', 'hello'), "CLIENT_ERROR bad context\r\n", 'vdel of a missing key with a bad context: bad context');
is((stored_of(vset($s, 'bc', 'ok', $bcctx)))[0], 1, 'the real context still works: STORED 1');
# a context refused for its key is never treated as the empty context
my $bc2 = ctx_of($s, 'bc');
is(vset($s, 'bc', 'x', $otherctx), "CLIENT_ERROR bad context\r\n", 'a foreign context is refused, not taken as "-"');
is(nsibs($s, 'bc'), 1, 'still one sibling');
is(ctx_of($s, 'bc'), $bc2, 'and the same context');

# ================================================================ binary (E.4)
{
    my $b = $srv->sock;
    blind($s, 'bk', 'one', 'two');
    my ($bkraw, $bko) = vget($s, 'bk');
    my (undef, undef, $bkcas) = mc_gets($s, 'bk');
    my $rv = bin_vget($b, 'bk', opaque => 0x1234);
    ok($rv && $rv->{status} == 0 && $rv->{opcode} == BIN_VGET && $rv->{magic} == BIN_RES_MAGIC,
        'VGet: success');
    is($rv->{opaque}, 0x1234, 'VGet: opaque echoed');
    is(length($rv->{extras}) . '/' . $rv->{keylen}, '8/0', 'VGet: 8 bytes of extras, no key');
    is("$rv->{n} $rv->{L} $rv->{reserved}", "2 " . length($bko->[0]{ctx}) . " 0", 'VGet extras: n, L, 0');
    is($rv->{ctx}, $bko->[0]{ctx}, 'VGet: the context is the text one');
    is_deeply($rv->{sibs}, [ map { { flags => $_->{flags}, time => $_->{time}, value => $_->{value} } }
            @{ $bko->[0]{sibs} } ], 'VGet: siblings as vget shows them, dominant first');
    is($rv->{cas}, $bkcas, 'VGet: cas is the one gets shows');
    $rv = bin_vget($b, 'nosuch');
    is($rv->{status} . ' ' . $rv->{value}, '1 Not found', 'VGet of a missing key: 0x0001 Not found');
    $rv = bin_vset($b, 'bk', 'merged', $bko->[0]{ctx}, flags => 9, opaque => 7);
    ok($rv && $rv->{status} == 0 && $rv->{opcode} == BIN_VSET && $rv->{opaque} == 7, 'VSet: success');
    is(length($rv->{extras}) . ' ' . unpack('N', $rv->{extras} . "\0\0\0\0"), '4 1', 'VSet: extras = 1 live sibling');
    like($rv->{value}, qr/\A$CTX_RE\z/, 'VSet: the value is the new context');
    my $bctx = $rv->{value};
    my (undef, undef, $c2) = mc_gets($s, 'bk');
    is($rv->{cas}, $c2, 'VSet: cas is the new cas');
    like(vg($s, qw(bk)), qr/\AVERSIONS bk 1 \Q$bctx\E\r\nSIBLING 9 6 \d+\r\nmerged\r\nEND\r\n\z/,
        'text vget shows the binary write');
    $rv = bin_vset($b, 'bk', 'blind', '');
    is($rv->{status} . ' ' . unpack('N', $rv->{extras} . "\0\0\0\0"), '0 2', 'VSet with L = 0 (empty context): 2 siblings');
    bin_vset($b, 'bk', 'quiet', '', quiet => 1);
    bin_send($b, op => BIN_NOOP);
    my @q = bin_until_noop($b);
    is(join(',', map { sprintf '%#x', $_->{opcode} } @q), '0xa', 'VSetQ: nothing sent on success');
    is(nsibs($s, 'bk'), 3, 'VSetQ wrote a third sibling');
    my ($bkraw2) = vget($s, 'bk');
    $rv = bin_vset($b, 'bk', 'x', '', cas => 5);
    is($rv->{status} . ' ' . $rv->{value}, '4 Invalid arguments', 'VSet with a cas: 0x0004 Invalid arguments');
    $rv = bin_vset($b, 'bk', 'x', '-');
    is($rv->{status} . ' ' . $rv->{value}, '4 bad context', 'VSet with "-": 0x0004 bad context');
    $rv = bin_vset($b, 'bk', 'x', 'hello');
    is($rv->{status} . ' ' . $rv->{value}, '4 bad context', 'VSet with a made-up context: bad context');
    $rv = bin_vset($b, 'bk', 'x', $otherctx);
    is($rv->{status} . ' ' . $rv->{value}, '4 bad context', 'VSet with another key\'s context: bad context');
    $rv = bin_vdel($b, 'bk', 'hello');
    is($rv->{status} . ' ' . $rv->{value}, '4 bad context', 'VDelete with a made-up context: bad context');
    $rv = bin_vdel($b, 'bk', '', cas => 9);
    is($rv->{status} . ' ' . $rv->{value}, '4 Invalid arguments', 'VDelete with a cas: Invalid arguments');
    $rv = bin_vset($b, 'bk', 'z' x ($MAXSZ + 50_000), '');
    is($rv->{status} . ' ' . $rv->{value}, '3 Too large.', 'VSet over -I: 0x0003 Too large.');
    is((vget($s, 'bk'))[0], $bkraw2, 'none of the refused binary writes changed bk');
    $rv = bin_cmd($b, op => BIN_NOOP);
    is($rv && $rv->{status}, 0, 'the connection goes on after those errors');
    my $bkctx = ctx_of($s, 'bk');
    $rv = bin_vdel($b, 'bk', $bkctx, opaque => 3);
    ok($rv && $rv->{status} == 0 && $rv->{opcode} == BIN_VDELETE && $rv->{opaque} == 3, 'VDelete: success');
    is(unpack('N', $rv->{extras} . "\0\0\0\0") . ' ' . length($rv->{extras}), '0 4', 'VDelete: extras = 0 live siblings');
    like($rv->{value}, qr/\A$CTX_RE\z/, 'VDelete: the value is the new context');
    is(vg($s, qw(bk)), "VERSIONS bk 0 $rv->{value}\r\nEND\r\n", 'text vget shows the tombstone\'s context');
    $rv = bin_vget($b, 'bk');
    is("$rv->{status} $rv->{n} " . ($rv->{ctx} // '') . ' ' . scalar(@{ $rv->{sibs} // [0] }),
        "0 0 " . ctx_of($s, 'bk') . " 0", 'VGet of a tombstone-only key: n = 0 with its context');
    $rv = bin_vdel($b, 'nosuch', '');
    is($rv->{status} . ' ' . $rv->{value}, '1 Not found', 'VDelete of a missing key: 0x0001 Not found');
    bin_vdel($b, 'nosuch', '', quiet => 1, opaque => 11);
    bin_vset($b, 'bq', 'v', '', quiet => 1);
    bin_send($b, op => BIN_NOOP);
    @q = bin_until_noop($b);
    is(join(',', map { sprintf '%#x:%d:%d', $_->{opcode}, $_->{status}, $_->{opaque} } @q), '0xec:1:11,0xa:0:0',
        'VDeleteQ sends its Not found, VSetQ nothing');
    my $bqctx = ctx_of($s, 'bq');
    bin_vdel($b, 'bq', $bqctx, quiet => 1);
    bin_send($b, op => BIN_NOOP);
    @q = bin_until_noop($b);
    is(scalar(@q), 1, 'VDeleteQ: nothing sent on success');
    is(mc_cmd($s, 'get bq'), "END\r\n", '... and bq was deleted');
    for my $op (0xed, 0xee, 0xef) {
        $rv = bin_cmd($b, op => $op, key => 'k', value => 'some body');
        is(sprintf('%#x %s', $rv->{status}, $rv->{value}), '0x81 Unknown command',
            sprintf('opcode %#x: 0x81 Unknown command', $op));
    }
    $rv = bin_cmd($b, op => BIN_NOOP);
    is($rv && $rv->{status}, 0, 'the connection goes on after the reserved opcodes');
    close $b;

    # Framing checks (E.4.4): 0x0004, then the connection is closed.
    my @frame = (
        [ 'VGet with extras', op => BIN_VGET, key => 'bk', extras => pack('N', 0) ],
        [ 'VGet with a value', op => BIN_VGET, key => 'bk', value => 'v' ],
        [ 'VGet without a key', op => BIN_VGET ],
        [ 'VSet with 8 bytes of extras', op => BIN_VSET, key => 'bk', extras => pack('NN', 0, 0), value => 'v' ],
        [ 'VSet without a key', op => BIN_VSET, extras => vset_extras(0, 0, 0), value => 'v' ],
        [ 'VSet with L larger than the value', op => BIN_VSET, key => 'bk', extras => vset_extras(0, 0, 10), value => 'short' ],
        [ 'VSet with L = 544', op => BIN_VSET, key => 'bk', extras => vset_extras(0, 0, 544), value => 'A' x 600 ],
        [ 'VDelete with 4 bytes of extras', op => BIN_VDELETE, key => 'bk', extras => pack('N', 0) ],
        [ 'VDelete with L not the value length', op => BIN_VDELETE, key => 'bk', extras => pack('n', 3), value => 'hello' ],
        [ 'VDelete with L = 544', op => BIN_VDELETE, key => 'bk', extras => pack('n', 544), value => 'A' x 544 ],
        [ 'VDeleteQ without extras', op => BIN_VDELETEQ, key => 'bk' ],
        [ 'VSetQ without extras', op => BIN_VSETQ, key => 'bk', value => 'v' ],
    );
    for my $f (@frame) {
        my ($name, %p) = @$f;
        my $c = $srv->sock;
        my $rr = bin_cmd($c, %p);
        is($rr ? sprintf('%#x %s', $rr->{status}, $rr->{value}) : 'no reply', '0x4 Invalid arguments',
            "$name: 0x0004 Invalid arguments");
        ok(RCTest::closed_by_peer($c, 3), "$name: then the connection is closed");
        close $c;
    }
    is(vg($s, qw(bk)), "VERSIONS bk 0 " . ctx_of($s, 'bk') . "\r\nEND\r\n", 'bk untouched by the framing errors');
}

# ================================================================ statistics (V.14)
{
    blind($s, 'sa', 'a1', 'a2');
    vset($s, 'sb', 'b', '-');
    my $b0 = stats();
    vg($s, qw(sa nosuch sb));
    my $b1 = stats();
    is(stat_delta($b0, $b1, 'vget_cmds'), 3, 'vget of three keys: vget_cmds +3');
    is(stat_delta($b0, $b1, 'cmd_get'), 3, '... cmd_get +3');
    is(stat_delta($b0, $b1, 'get_hits'), 2, '... get_hits +2');
    is(stat_delta($b0, $b1, 'get_misses'), 1, '... get_misses +1');
    is(stat_delta($b0, $b1, 'siblings_hidden_reads'), 0, '... siblings_hidden_reads unchanged');
    meta_a($s, 'mg sa a v');
    my $b2 = stats();
    is(stat_delta($b1, $b2, 'vget_cmds'), 1, 'mg a: vget_cmds +1');
    is(stat_delta($b1, $b2, 'siblings_hidden_reads'), 0, 'mg a is no hidden read');
    RCVersion::meta_line($s, 'mg sa v');
    my $b3 = stats();
    is(stat_delta($b2, $b3, 'siblings_hidden_reads'), 1, 'mg without a over siblings: siblings_hidden_reads +1');
    my $sactx = ctx_of($s, 'sa');
    my $b4 = stats();
    vset($s, 'sb', 'b2', '-');
    vset($s, 'sa', 'a3', $sactx);
    vdel($s, 'sb', '-');
    vdel($s, 'nosuch', '-');
    my $b5 = stats();
    is(stat_delta($b4, $b5, 'vset_cmds'), 4, 'two vsets and two vdels: vset_cmds +4');
    is(stat_delta($b4, $b5, 'cmd_set'), 2, '... cmd_set +2');
    is(stat_delta($b4, $b5, 'delete_hits'), 1, '... delete_hits +1');
    is(stat_delta($b4, $b5, 'delete_misses'), 1, '... delete_misses +1');
    is(stat_delta($b4, $b5, 'objects_with_siblings'), 0,
        '... objects_with_siblings: sa collapsed (-1), sb gained a sibling and a tombstone (+1)');
    my $set = mem_stats($s, 'settings');
    like($set->{node_id} // '', qr/\A[0-9a-f]{32}\z/, 'stats settings: node_id, 32 hex digits');
    ok(defined $set->{node_name} && length $set->{node_name}, 'stats settings: node_name');
    is($set->{max_siblings}, 32, 'stats settings: max_siblings 32 (default)');
    is($set->{tombstone_grace}, 3600, 'stats settings: tombstone_grace as given');
    is($set->{prune_keep}, 12, 'stats settings: prune_keep 12 (default)');
    my $vtext = mc_cmd($s, 'stats versions');
    like($vtext, qr/\A(?:STAT \S+ \d+\r\n)+END\r\n\z/, 'stats versions: STAT lines and END');
    for my $h (qw(siblings_1 siblings_2 siblings_3_4 siblings_5_8 siblings_9_16 siblings_17_32
        siblings_33_64 siblings_65_plus context_1 context_2 context_3_4 context_5_8 context_9_16
        context_17_plus)) {
        like($vtext, qr/^STAT $h \d+\r$/m, "stats versions: $h");
    }
    my $sv = mem_stats($s, 'versions');
    my $st = stats();
    my $nobj = 0;
    $nobj += $sv->{$_} // 0 for grep { /^siblings_/ } keys %$sv;
    my $multi = $nobj - ($sv->{siblings_1} // 0);
    is($multi, $st->{objects_with_siblings}, 'the histogram agrees with objects_with_siblings');
    my $nctx = 0;
    $nctx += $sv->{$_} // 0 for grep { /^context_/ } keys %$sv;
    is($nctx, $nobj, 'both histograms count the same objects');
    is($sv->{context_1}, $nobj, 'a single node: every clock has one entry');
    for my $name (qw(objects_with_siblings siblings_hidden_reads siblings_hidden siblings_collapsed
        sibling_limit_refused context_errors tombstones_pending tombstones_reaped clock_prunes
        vget_cmds vset_cmds)) {
        like($st->{$name} // '', qr/\A\d+\z/, "stats: $name");
    }
    is(mc_cmd($s, 'stats reset'), "RESET\r\n", 'stats reset');
    my $sr = stats();
    is(join(' ', map { $sr->{$_} // 'undef' } qw(siblings_hidden_reads siblings_hidden siblings_collapsed
            context_errors vget_cmds vset_cmds)), '0 0 0 0 0 0', 'stats reset zeroes the reset counters');
    is($sr->{objects_with_siblings}, $st->{objects_with_siblings}, 'but not the objects_with_siblings gauge');
    is($sr->{tombstones_pending}, $st->{tombstones_pending}, 'nor tombstones_pending');
    is_deeply(mem_stats($s, 'versions'), $sv, 'nor the histograms');
}

# ================================================================ expiry (V.3, V.5)
blind($s, 'ex', 'x1');
$r = vset($s, 'ex', 'x2', '-', exptime => 2);
is((stored_of($r))[0], 2, 'a blind vset with exptime 2: STORED 2');
($raw, $o) = vget($s, 'ex');
is(join('|', @{ values_of($o->[0]) }), 'x2|x1', 'both siblings visible');
ok(wait_for(sub { vg($s, qw(ex)) eq "END\r\n" }, 8, 0.1),
    'the exptime is the object\'s: both siblings expire together (vget misses)');
is(mc_cmd($s, 'get ex'), "END\r\n", 'plain get misses');
is(vdel($s, 'ex', '-'), "NOT_FOUND\r\n", 'vdel of an expired key: NOT_FOUND');
like(vset($s, 'ex', 'x3', '-'), qr/\ASTORED 1 $CTX_RE\r\n\z/,
    'a blind vset on the expired object: STORED 1 (dead siblings never come back)');
($raw, $o) = vget($s, 'ex');
is(join('|', @{ values_of($o->[0]) }), 'x3', 'only the new value');

# ================================================================ long vget lines (E.2.1)
{
    my @keys = map { sprintf('longline-key-%05d', $_) } 1 .. 400;
    vset($s, $keys[0], 'first', '-');
    vset($s, $keys[-1], 'last', '-');
    my ($lraw, $lo) = vget($s, @keys);
    ok(length("vget @keys") > 2048, 'a vget line longer than 2048 bytes (' . length("vget @keys") . ')');
    is(join(',', map { "$_->{key}=$_->{sibs}[0]{value}" } @$lo), "$keys[0]=first,$keys[-1]=last",
        '... is answered: the two stored keys, in order');
    like($lraw, qr/END\r\n\z/, '... ending with END');
}

# ================================================================ flush_all
blind($s, 'fl', 'f1', 'f2');
vset($s, 'fl2', 'x', '-');
my $flctx = ctx_of($s, 'fl');
is(mc_cmd($s, 'flush_all'), "OK\r\n", 'flush_all');
is(vg($s, qw(fl fl2)), "END\r\n", 'vget after flush_all: flushed objects are misses');
is(vdel($s, 'fl2', '-'), "NOT_FOUND\r\n", 'vdel of a flushed key: NOT_FOUND');
sleep 0.002;
$r = vset($s, 'fl', 'new', '-');
like($r, qr/\ASTORED 1 $CTX_RE\r\n\z/, 'blind vset on a flushed object with siblings: STORED 1 (dead siblings superseded)');
($raw, $o) = vget($s, 'fl');
is(join('|', @{ values_of($o->[0]) }), 'new', 'only the new value');
is(vset($s, 'fl', 'x', 'hello'), "CLIENT_ERROR bad context\r\n", 'a bad context is still refused');
like(vset($s, 'fl', 'old', $flctx), qr/\ASTORED 2 $CTX_RE\r\n\z/,
    'a write with the pre-flush context does not cover the new value: STORED 2');

ok($srv->alive, 'server still running');
$srv->stop;

# ================================================================ persistence
my $fxctx;
{
    my $ps = RCTest::start(rc_args => [ '--sync=always', '--tombstone-grace=3600' ]);
    my $p = $ps->sock;
    blind($p, 'p2', 'one', 'two');
    my (undef, $p0c) = stored_of(vset($p, 'p0', 'gone', '-', flags => 3));
    vdel($p, 'p0', $p0c);
    my (undef, $pdc) = stored_of(vset($p, 'pd', 'd0', '-'));
    vset($p, 'pd', 'd1', $pdc, flags => 77);
    sleep 0.002;
    vdel($p, 'pd', $pdc);
    mc_store($p, 'set', 'p1', 'plain', flags => 1);
    my ($before) = vget($p, qw(p2 p0 pd p1));
    like($before, qr/\AVERSIONS p2 2 .*VERSIONS p0 0 $CTX_RE\r\nVERSIONS pd 1 .*VERSIONS p1 1 /s,
        'state before the crash: 2 siblings, tombstone, stale delete, plain');
    my $st = stats($p);
    is($st->{objects_with_siblings}, 2, 'objects_with_siblings 2 (p2, pd)');
    is($st->{tombstones_pending}, 1, 'tombstones_pending 1 (p0)');
    my $node = mem_stats($p, 'settings')->{node_id};
    my $sv = mem_stats($p, 'versions');
    is("$sv->{siblings_1} $sv->{siblings_2}", '2 2', 'stats versions: siblings_1 2, siblings_2 2');
    close $p;

    $ps->kill9;
    ok(!$ps->alive, 'kill -9');
    $ps->restart;
    $p = $ps->sock;
    my ($after) = vget($p, qw(p2 p0 pd p1));
    is($after, $before, 'after kill -9 (--sync=always): same siblings, tombstones, times and contexts');
    is(mc_cmd($p, 'get pd p0 p2 p1'), "VALUE p2 0 3\r\ntwo\r\nVALUE p1 1 5\r\nplain\r\nEND\r\n",
        'plain reads after the crash: deleted keys miss, dominant siblings shown');
    my $st2 = stats($p);
    is($st2->{objects_with_siblings}, 2, 'objects_with_siblings recounted at start: 2');
    is($st2->{tombstones_pending}, 1, 'tombstones_pending recounted at start: 1');
    is_deeply(mem_stats($p, 'versions'), $sv, 'stats versions recounted at start');
    is(mem_stats($p, 'settings')->{node_id}, $node, 'node_id unchanged');
    close $p;

    is($ps->stop, 0, 'clean stop');
    $ps->restart;
    $p = $ps->sock;
    ($after) = vget($p, qw(p2 p0 pd p1));
    is($after, $before, 'after a clean restart: the same again');
    my ($ctxs) = [ $before =~ /^VERSIONS \S+ \d+ ($CTX_RE)\r$/mg ];
    is(scalar(@$ctxs), 4, 'four contexts from before the crash');
    is((stored_of(vset($p, 'p2', 'merged', $ctxs->[0])))[0], 1,
        'a context read before the crash still covers what it covered: STORED 1');
    is((stored_of(vset($p, 'p0', 'again', $ctxs->[1])))[0], 1, 'writing over the old tombstone: STORED 1');
    is(vset($p, 'p1', 'x', $ctxs->[2]), "CLIENT_ERROR bad context\r\n",
        'a pre-crash context of another key is still refused');
    (undef, $fxctx) = stored_of(vset($p, 'fx', 'there', '-'));
    $ps->stop;
}

# ================================================================ the sibling limit (V.10)
{
    my $ls = RCTest::start(rc_args => [ '--max-siblings=3', '--tombstone-grace=0' ]);
    my $l = $ls->sock;
    is(mem_stats($l, 'settings')->{max_siblings}, 3, 'stats settings: max_siblings 3');
    is(join(' ', map { (stored_of(vset($l, 'L', "v$_", '-')))[0] // 'x' } 1 .. 3), '1 2 3',
        'three blind writes: STORED 1, 2, 3');
    my ($lraw) = vget($l, 'L');
    my $st0 = stats($l);
    is(vset($l, 'L', 'v4', '-'), "SERVER_ERROR too many siblings\r\n", 'the 4th blind write: SERVER_ERROR too many siblings');
    is(vdel($l, 'L', '-'), "SERVER_ERROR too many siblings\r\n", 'a blind vdel (a tombstone counts): too many siblings');
    is(RCVersion::meta_line($l, 'ms L 2 Y-', 'v4'), "SERVER_ERROR too many siblings\r\n", 'ms Y-: too many siblings');
    is(RCVersion::meta_line($l, 'md L Y- q'), "SERVER_ERROR too many siblings\r\n", 'md Y- q: too many siblings (not hidden)');
    my $lb = $ls->sock;    # a binary connection
    my $rv = bin_vset($lb, 'L', 'v4', '');
    is($rv ? "$rv->{status} $rv->{value}" : 'no reply', '3 too many siblings', 'VSet: 0x0003 too many siblings');
    $rv = bin_vdel($lb, 'L', '');
    is($rv ? "$rv->{status} $rv->{value}" : 'no reply', '3 too many siblings', 'VDelete: 0x0003 too many siblings');
    bin_vset($lb, 'L', 'v4', '', quiet => 1);
    bin_send($lb, op => BIN_NOOP);
    my @q = bin_until_noop($lb);
    is(join(',', map { sprintf '%#x:%d', $_->{opcode}, $_->{status} } @q), '0xeb:3,0xa:0',
        'VSetQ sends its error');
    is(upto_mn($l, "vset L 0 0 2 - noreply\r\nv4\r\n"), "MN\r\n", 'a noreply vset is refused silently');
    is((vget($l, 'L'))[0], $lraw, 'nothing changed');
    my $st1 = stats($l);
    is(stat_delta($st0, $st1, 'sibling_limit_refused'), 8, 'sibling_limit_refused +8');
    my $lctx = ctx_of($l, 'L');
    is((stored_of(vset($l, 'L', 'resolved', $lctx)))[0], 1, 'writing with the read context resolves: STORED 1');
    # tombstones count
    blind($l, 'T', 't1', 't2');
    like(vdel($l, 'T', '-'), qr/\ADELETED 2 $CTX_RE\r\n\z/, 'two live siblings and a blind tombstone: DELETED 2');
    is(vset($l, 'T', 't3', '-'), "SERVER_ERROR too many siblings\r\n", 'a third live sibling would make four: refused');
    is(mc_store($l, 'set', 'T', 'plain'), "STORED\r\n", 'a plain set collapses instead');
    is(nsibs($l, 'T'), 1, '... to one sibling');
    # a context sealed by another node (another data directory, another
    # context key) is refused here, for the same key name
    vset($l, 'fx', 'here', '-');
    my ($fxraw) = vget($l, 'fx');
    is(vset($l, 'fx', 'x', $fxctx), "CLIENT_ERROR bad context\r\n",
        'a context sealed by another node for the same key: bad context');
    is((vget($l, 'fx'))[0], $fxraw, '... nothing written');

    # Reaping (V.12) with --tombstone-grace=0, and seeding (V.4): a
    # context kept across a reap never covers a later version.
    my (undef, $rp0) = stored_of(vset($l, 'rp', 'r0', '-'));
    my $old = $rp0;
    my $before = stats($l);
    my (undef, $rpD) = deleted_of(vdel($l, 'rp', $rp0));
    ok(defined $rpD, 'rp deleted with its context');
    # The sweeper (grace 0) may already have reaped it: pending + reaped
    # grows by exactly one either way.
    my $mid = stats($l);
    is(($mid->{tombstones_pending} // 0) + ($mid->{tombstones_reaped} // 0),
        ($before->{tombstones_pending} // 0) + ($before->{tombstones_reaped} // 0) + 1,
        'tombstones_pending +1 (or already reaped)');
    ok(wait_for(sub { vg($l, qw(rp)) eq "END\r\n" }, 15, 0.1),
        'the sweeper reaps the tombstone (grace 0): vget misses');
    my $after = stats($l);
    is($after->{tombstones_pending}, $before->{tombstones_pending}, 'tombstones_pending back');
    ok(($after->{tombstones_reaped} // 0) >= 1, 'tombstones_reaped counted it');
    is(vdel($l, 'rp', $rpD), "NOT_FOUND\r\n", 'vdel of the reaped key: NOT_FOUND');
    like(vset($l, 'rp', 'r1', '-'), qr/\ASTORED 1 $CTX_RE\r\n\z/, 'the key is written again');
    like(vset($l, 'rp', 'r2', $rpD), qr/\ASTORED 2 $CTX_RE\r\n\z/,
        'a context from before the reap does not cover the new version: STORED 2');
    like(vset($l, 'rp', 'r3', $old), qr/\ASTORED 3 $CTX_RE\r\n\z/, 'nor does an older one: STORED 3');
    my (undef, $rpo) = vget($l, 'rp');
    is(join('|', sort @{ values_of($rpo->[0]) }), 'r1|r2|r3', 'all three survive');
    $ls->stop;
}

ok(1, 'end');
done_testing();
