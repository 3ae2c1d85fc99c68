#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# meta.t: the meta commands as memcached 1.6.18 answers them, byte for byte:
# mn; mg with every flag (b c f h k l O q s t v, N R T u and the W X Z
# outcomes, duplicate and unknown flags); ms with its modes (MS ME MA MP MR,
# N in append mode), C, I, F, T, q, O, k, b, and bad tokens, bad data
# chunks, too-large values; md with C, I, T, q (and x, which 1.6.18 refuses);
# ma with modes, D, J, N, T, C, t, c, v, q, wrap-around and non-numeric
# values; me; errors; and a pipeline of quiet commands with mn as barrier.
# Where ringcached deliberately differs (LRU bookkeeping: h, l, u and me's
# la/fetch/cls fields, see doc/protocol.txt), the test branches on
# RCTest::is_memcached() and says why.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(90);
my $srv = RCTest::start();
my $s = $srv->sock;
my $MC = RCTest::is_memcached();

# Sends one meta command (with a data block when $data is defined) and
# returns its reply: one line, or a VA line and its data block.
sub meta {
    my ($sock, $line, $data) = @_;
    mc_send($sock, "$line\r\n" . (defined $data ? "$data\r\n" : '')) or return undef;
    my $r = read_line($sock) // return undef;
    if ($r =~ /^VA (\d+)/) {
        my $d = read_bytes($sock, $1 + 2) // return $r;
        $r .= $d;
    }
    return $r;
}

# Sends bytes ending with "mn\r\n" and returns everything up to "MN\r\n".
sub upto_mn {
    my ($sock, $bytes) = @_;
    mc_send($sock, $bytes . "mn\r\n");
    return read_until($sock, qr/^MN\r\n/m);
}

sub cas_of { my ($r) = @_; return ($r // '') =~ /\bc(\d+)\b/ ? $1 : undef }

# ------------------------------------------------------------ mn, misses
is(meta($s, 'mn'), "MN\r\n", 'mn');
is(meta($s, 'mg foo'), "EN\r\n", 'mg miss: EN');
is(meta($s, 'mg foo v'), "EN\r\n", 'mg miss with v: EN');
is(meta($s, 'mg miss k O1'), "EN kmiss O1\r\n", 'mg miss with k and O: they are echoed');
is(upto_mn($s, "mg foo q\r\nmg miss k O1 q\r\n"), "MN\r\n", 'mg miss with q: nothing');

# ------------------------------------------------------------ ms basics, mg flags
is(meta($s, 'ms foo 2', 'hi'), "HD\r\n", 'ms: HD');
my $r = meta($s, 'ms foo 2 T0 F5 c', 'hi');
like($r, qr/\AHD c\d+\r\n\z/, 'ms with c: HD and the cas');
my $cas = cas_of($r);
is(meta($s, 'mg foo'), "HD\r\n", 'mg hit without flags: HD');
is(meta($s, 'mg foo v'), "VA 2\r\nhi\r\n", 'mg v');
is(meta($s, 'mg foo s v f t c k O123'), "VA 2 s2 f5 t-1 c$cas kfoo O123\r\nhi\r\n",
    'mg s v f t c k O: flags returned in the order asked');
is(meta($s, 'mg foo k q v'), "VA 2 kfoo\r\nhi\r\n", 'mg hit with q: answered');
is(meta($s, 'mg foo k O1 q'), "HD kfoo O1\r\n", 'mg hit, no value, with q: HD answered');
is(meta($s, 'mg foo ttt'), "HD t-1\r\n", 'mg: t, no expiry: t-1');
is(meta($s, 'mg foo c'), "HD c$cas\r\n", 'mg c alone');

# base64 keys
# memcached 1.6.18 echoes a base64 key decoded, which breaks the line for
# binary keys; ringcached echoes it as sent, base64 with the b flag, as
# later memcached releases do (doc/protocol.txt, meta differences).
is(meta($s, 'mg Zm9v b v k'),
    RCTest::is_memcached() ? "VA 2 kfoo\r\nhi\r\n" : "VA 2 kZm9v b\r\nhi\r\n",
    'mg b: base64 key "Zm9v" is foo');
is(meta($s, 'ms Zm9vMg== 3 b', 'abc'), "HD\r\n", 'ms b: base64 key');
is(meta($s, 'mg foo2 v'), "VA 3\r\nabc\r\n", 'stored under the decoded key');
is(meta($s, 'mg foo b'), "CLIENT_ERROR error decoding key\r\n", 'mg b with a non-base64 key');

# h and l: hit-before and seconds since last access
is(meta($s, 'ms hl 2', 'aa'), "HD\r\n", 'ms hl');
if ($MC) {
    is(meta($s, 'mg hl h l t'), "HD h0 l0 t-1\r\n", 'mg h l: first fetch h0');
    is(meta($s, 'mg hl h l'), "HD h1 l0\r\n", 'mg h l: then h1');
    is(meta($s, 'mg hl u v'), "VA 2\r\naa\r\n", 'mg u: value, no bump');
} else {
    # ringcached keeps no per-item access bookkeeping (doc/protocol.txt): h
    # and l are answered with their fields, u is accepted.
    like(meta($s, 'mg hl h l t'), qr/\AHD h[01] l\d+ t-1\r\n\z/, 'mg h l: fields present');
    like(meta($s, 'mg hl h l'), qr/\AHD h[01] l\d+\r\n\z/, 'mg h l again: fields present');
    is(meta($s, 'mg hl u v'), "VA 2\r\naa\r\n", 'mg u: value');
}

# T: touch; mg T-1 expires the item. A ttl read back by a later command
# may be one less: a second boundary can pass between the two (a write
# waits for the disk under --sync always).
is(meta($s, 'ms tt 2 T100', 'aa'), "HD\r\n", 'ms T100');
# 100, or 99 once a second boundary passed since the set
like(meta($s, 'mg tt t'), qr/\AHD t(?:100|99)\r\n\z/, 'mg t: remaining ttl');
is(meta($s, 'mg tt T5 t'), "HD t5\r\n", 'mg T5 t: the new ttl');
is(meta($s, 'mg tt T0 t v'), "VA 2 t-1\r\naa\r\n", 'mg T0: no expiry any more');
is(meta($s, 'mg tt T-1 v'), "VA 2\r\naa\r\n", 'mg T-1: answered ...');
is(meta($s, 'mg tt v'), "EN\r\n", '... then expired');

# N: vivify on miss; W Z outcomes
$r = meta($s, 'mg vivi N30 v c t');
like($r, qr/\AVA 0 c\d+ t30 W\r\n\r\n\z/, 'mg N miss: created empty, W (win)');
my $vcas = cas_of($r);
like(meta($s, 'mg vivi N30 v c t'), qr/\AVA 0 c$vcas t(?:30|29) Z\r\n\r\n\z/,
    'mg N again: Z (win already sent)');
is(meta($s, 'mg vivi v'), "VA 0 Z\r\n\r\n", 'plain mg of the vivified item: Z');
is(meta($s, 'ms vivi 3', 'new'), "HD\r\n", 'ms over the vivified item');
is(meta($s, 'mg vivi v'), "VA 3\r\nnew\r\n", 'a set clears the win flags');

# R: recache when the remaining ttl is below the token
is(meta($s, 'ms ttl 2 T1000', 'aa'), "HD\r\n", 'ms T1000');
$r = meta($s, 'mg ttl R2000 v c t');
like($r, qr/\AVA 2 c\d+ t(?:1000|999) W\r\naa\r\n\z/, 'mg R2000 with 1000 s left: W');
my $tcas = cas_of($r);
like(meta($s, 'mg ttl v c t'), qr/\AVA 2 c$tcas t(?:1000|999) Z\r\naa\r\n\z/, 'next mg: Z');
is(meta($s, 'ms ttl2 2 T1000', 'aa'), "HD\r\n", 'ms ttl2 T1000');
like(meta($s, 'mg ttl2 R10 v t'), qr/\AVA 2 t(?:1000|999)\r\naa\r\n\z/,
    'mg R10 with 1000 s left: no W');

# ------------------------------------------------------------ ms modes
is(meta($s, 'ms foo 2 MS', 'ab'), "HD\r\n", 'ms MS (set)');
is(meta($s, 'ms new 2 ME', 'ab'), "HD\r\n", 'ms ME (add) new key');
is(meta($s, 'ms new 2 ME', 'cd'), "NS\r\n", 'ms ME existing key: NS');
is(meta($s, 'ms new 1 MA', 'c'), "HD\r\n", 'ms MA (append)');
is(meta($s, 'ms new 1 MP', 'z'), "HD\r\n", 'ms MP (prepend)');
is(meta($s, 'mg new v'), "VA 4\r\nzabc\r\n", 'append and prepend applied');
is(meta($s, 'ms none 1 MA', 'c'), "NS\r\n", 'ms MA on a missing key: NS');
is(meta($s, 'ms none 1 MA N30', 'c'), "NS\r\n", 'ms MA N30 on a missing key: NS in 1.6.18');
is(meta($s, 'mg none v'), "EN\r\n", 'nothing vivified');
is(meta($s, 'ms none2 1 MR', 'c'), "NS\r\n", 'ms MR (replace) missing: NS');
is(meta($s, 'ms new 1 MR', 'r'), "HD\r\n", 'ms MR existing');
is(meta($s, 'ms new 2 MX', 'zz'), "CLIENT_ERROR invalid mode for ms M token\r\n", 'ms MX: bad mode');
is(meta($s, 'ms app 2 F1 T0', 'xx'), "HD\r\n", 'ms app with F1');
is(meta($s, 'ms app 2 F7 T0 MA', 'yy'), "HD\r\n", 'ms MA with other flags');
is(meta($s, 'mg app f v'), "VA 4 f1\r\nxxyy\r\n", 'append keeps the flags');

# C (compare cas), I (invalidate)
$r = meta($s, 'ms cc 2 c', 'aa');
my $c1 = cas_of($r);
is(meta($s, 'ms cc 2 C' . ($c1 + 1000), 'zz'), "EX\r\n", 'ms C mismatch: EX');
is(meta($s, 'ms nokey 2 C1', 'zz'), "NF\r\n", 'ms C on a missing key: NF');
$r = meta($s, "ms cc 2 C$c1 c", 'bb');
like($r, qr/\AHD c\d+\r\n\z/, 'ms C match: HD');
my $c2 = cas_of($r);
isnt($c2, $c1, 'new cas after ms C');
is(meta($s, 'mg cc v c'), "VA 2 c$c2\r\nbb\r\n", 'value after ms C');
is(meta($s, "ms cc 2 C$c1 q", 'xx'), "EX\r\n", 'ms C mismatch with q: EX still sent');
is(meta($s, 'ms cc 2 I', 'zz'), "HD\r\n", 'ms I without C: a plain set');

# k, O, b on ms; errors
is(meta($s, 'ms ko 2 k O5 c', 'zz') =~ s/ c\d+//r, "HD kko O5\r\n", 'ms k O: echoed');
is(meta($s, 'ms new 2 k O99 b', 'zz'), "CLIENT_ERROR error decoding key\r\n", 'ms b with a bad key');
is(meta($s, 'ms k3 2 S2', 'yy'), "CLIENT_ERROR invalid flag\r\n", 'ms S: invalid flag');
is(meta($s, 'ms k3 2 E12345', 'zz'), "CLIENT_ERROR invalid flag\r\n",
    'ms E: memcached 1.6.18 has no E flag');
is(meta($s, 'ms k3 2 Tabc', 'xx'), "CLIENT_ERROR bad token in command line format\r\n",
    'ms T not a number (data swallowed)');
is(meta($s, 'ms k3 2 Fabc', 'xx'), "CLIENT_ERROR bad command line format\r\n",
    'ms F not a number (data swallowed)');
is(meta($s, 'mn'), "MN\r\n", 'the data blocks were swallowed');
mc_send($s, "ms k3 abc\r\nyy\r\n");
is(read_line($s) . read_line($s), "CLIENT_ERROR bad command line format\r\nERROR\r\n",
    'ms with a bad length: error, data line read as a command');
mc_send($s, "ms k3 2\r\nyyy\r\n");
is(read_line($s) . read_line($s), "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
    'ms data longer than declared: bad data chunk');
mc_send($s, "ms bad key 2\r\naa\r\n");
is(read_line($s) . read_line($s), "CLIENT_ERROR bad command line format\r\nERROR\r\n",
    'ms with a non-numeric length token');
is(meta($s, 'ms big 1048577', 'x' x 1048577), "SERVER_ERROR object too large for cache\r\n",
    'ms too large: value swallowed');
is(meta($s, 'mn'), "MN\r\n", 'connection usable after the too-large value');
is(meta($s, 'mg ' . ('k' x 251) . ' v'), "CLIENT_ERROR bad command line format\r\n", 'mg: 251-byte key');
is(meta($s, 'ms ' . ('k' x 250) . ' 1', 'x'), "HD\r\n", 'ms: 250-byte key');
is(meta($s, 'mg ' . ('k' x 250) . ' v'), "VA 1\r\nx\r\n", 'mg: 250-byte key');

# ------------------------------------------------------------ md
is(meta($s, 'ms d1 2 c', 'aa') =~ /^HD/ ? 1 : 0, 1, 'ms d1');
is(meta($s, 'md d1 C1'), "EX\r\n", 'md C mismatch: EX');
is(meta($s, 'md d1 k O5'), "HD kd1 O5\r\n", 'md k O: HD echoed');
is(meta($s, 'md d1'), "NF\r\n", 'md missing: NF');
is(meta($s, 'md nokey I'), "NF\r\n", 'md I missing: NF');
is(meta($s, 'ms d2 2 T100 c', 'aa') =~ /^HD/ ? 1 : 0, 1, 'ms d2');
my $d2 = cas_of(meta($s, 'mg d2 c'));
is(meta($s, 'md d2 I T30'), "HD\r\n", 'md I T30: invalidated');
$r = meta($s, 'mg d2 v c t');
like($r, qr/\AVA 2 c(\d+) t(?:30|29) X W\r\naa\r\n\z/, 'mg after md I: stale (X), win (W), new ttl');
my $d2b = cas_of($r);
is(meta($s, 'mg d2 v c'), "VA 2 c$d2b Z X\r\naa\r\n", 'next mg: Z X');
like(meta($s, 'ms d2 2 c', 'bb'), qr/\AHD c\d+\r\n\z/, 'ms over a stale item');
is(meta($s, 'mg d2 v'), "VA 2\r\nbb\r\n", 'fresh again');
$r = meta($s, 'mg d2 c');
is(upto_mn($s, 'md d2 C' . cas_of($r) . " q\r\n"), "MN\r\n", 'md C match with q: silent');
is(meta($s, 'mg d2'), "EN\r\n", 'deleted');
is(meta($s, 'md d2 q'), "NF\r\n", 'md miss with q: NF still sent');
is(meta($s, 'ms d3 2', 'aa'), "HD\r\n", 'ms d3');
is(meta($s, 'md d3 x'), "CLIENT_ERROR invalid or duplicate flag\r\n", 'md x: not in memcached 1.6.18');
is(meta($s, 'mg d3 v'), "VA 2\r\naa\r\n", 'item kept after the refused md');

# ------------------------------------------------------------ ma
is(meta($s, 'ma cnt'), "NF\r\n", 'ma missing: NF');
is(meta($s, 'ma cnt N0 J10'), "HD\r\n", 'ma N J: created with the initial value');
is(meta($s, 'ma cnt v'), "VA 2\r\n11\r\n", 'ma: incr by 1');
is(meta($s, 'ma cnt MD D3 v'), "VA 1\r\n8\r\n", 'ma MD D3');
is(meta($s, 'ma cnt M- v'), "VA 1\r\n7\r\n", 'ma M-');
like(meta($s, 'ma cnt M+ D100 v t c'), qr/\AVA 3 t-1 c\d+\r\n107\r\n\z/, 'ma M+ D100 t c');
is(meta($s, 'ma cnt MI D1 v'), "VA 3\r\n108\r\n", 'ma MI');
is(meta($s, 'ma cnt C1 v'), "EX\r\n", 'ma C mismatch: EX');
my $ccas = cas_of(meta($s, 'mg cnt c'));
like(meta($s, "ma cnt C$ccas v c"), qr/\AVA 3 c\d+\r\n109\r\n\z/, 'ma C match');
is(meta($s, 'ma cnt T100 t v'), "VA 3 t100\r\n110\r\n", 'ma T: new ttl');
is(meta($s, 'ma cnt MD D1000 v'), "VA 1\r\n0\r\n", 'ma MD floors at 0');
is(meta($s, 'ma cnt MI D18446744073709551615 v'), "VA 20\r\n18446744073709551615\r\n", 'ma to 2^64-1');
is(meta($s, 'ma cnt v'), "VA 1\r\n0\r\n", 'ma wraps at 2^64');
like(meta($s, 'ma d N100 J7 t v c'), qr/\AVA 1 t100 c\d+\r\n7\r\n\z/, 'ma N100 J7: created with ttl');
is(meta($s, 'ma e N0 J5 MD D10 v'), "VA 1\r\n5\r\n", 'ma MD vivify: the initial value, not decremented');
is(meta($s, 'ma cnt E777 c v'), "CLIENT_ERROR invalid or duplicate flag\r\n", 'ma E: not in 1.6.18');
is(meta($s, 'ma app v'), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    'ma on a non-numeric value');
is(meta($s, 'ma cnt D-1'), "CLIENT_ERROR invalid or duplicate flag\r\n", 'ma D-1');
is(meta($s, 'ma cnt Dabc'), "CLIENT_ERROR invalid or duplicate flag\r\n", 'ma Dabc');
is(meta($s, 'ma cnt MZ'), "CLIENT_ERROR invalid mode for ma M token\r\n", 'ma MZ');
is(upto_mn($s, "ma cnt q\r\nma nocnt q\r\n"), "NF\r\nMN\r\n", 'ma q: success silent, NF sent');
is(meta($s, 'ma cnt k O9'), "HD kcnt O9\r\n", 'ma k O');

# ------------------------------------------------------------ me
is(meta($s, 'ms mekey 2', 'aa'), "HD\r\n", 'ms mekey');
$r = meta($s, 'me mekey');
my $mecas = cas_of(meta($s, 'mg mekey c'));
if ($MC) {
    like($r, qr/\AME mekey exp=-1 la=\d+ cas=$mecas fetch=no cls=\d+ size=\d+\r\n\z/, 'me');
} else {
    # ringcached has no slab classes nor fetch tracking: cls and fetch are
    # its own (doc/protocol.txt); the shape and the other fields match.
    like($r, qr/\AME mekey exp=-1 la=\d+ cas=$mecas fetch=(?:yes|no) cls=\d+ size=\d+\r\n\z/, 'me');
}
is(meta($s, 'me nokey'), "EN\r\n", 'me missing: EN');
is(meta($s, 'me'), "CLIENT_ERROR bad command line format\r\n", 'me without a key');

# ------------------------------------------------------------ errors
is(meta($s, 'mg'), "ERROR\r\n", 'mg without a key');
is(meta($s, 'ms'), "ERROR\r\n", 'ms without a key');
is(meta($s, 'md'), "ERROR\r\n", 'md without a key');
is(meta($s, 'ma'), "ERROR\r\n", 'ma without a key');
is(meta($s, 'mz foo'), "ERROR\r\n", 'unknown meta command');
is(meta($s, 'mg foo !'), "CLIENT_ERROR invalid flag\r\n", 'mg with an unknown flag');
is(meta($s, 'mg foo v v'), "CLIENT_ERROR duplicate flag\r\n", 'mg with a duplicate flag');
is(meta($s, 'mg foo O' . ('a' x 40)), "CLIENT_ERROR opaque token too long\r\n", 'O too long');
is(meta($s, 'mn'), "MN\r\n", 'connection usable after the errors');

# ------------------------------------------------------------ pipeline
# Quiet commands: only misses of md/ma, failures and hits with values speak;
# mn marks the end of the batch.
my $batch = '';
$batch .= "ms p$_ " . length("v$_") . " q\r\nv$_\r\n" for 1 .. 20;
$batch .= "mg p$_ v q k\r\n" for 15 .. 25;
$batch .= "md p$_ q\r\n" for 1 .. 5;
$batch .= "ms p1 2 ME q\r\nzz\r\n";
$batch .= "ms p6 2 ME q\r\nzz\r\n";
$batch .= "ma p7 q\r\n";
my $want = join('', map { "VA 3 kp$_\r\nv$_\r\n" } 15 .. 20) . "NS\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\nMN\r\n";
is(upto_mn($s, $batch), $want, 'a quiet batch: hits, NS and errors only, then MN');
is(meta($s, 'mg p1 v'), "VA 2\r\nzz\r\n", 'md q and ms ME q applied');
is(meta($s, 'mg p5 v'), "EN\r\n", 'md q deleted p5');

# Meta and text commands mixed on one connection.
is(mc_cmd($s, 'get p6'), "VALUE p6 0 2\r\nv6\r\nEND\r\n", 'text get of a meta-set item');
is(mc_store($s, 'set', 'tx', 'abc', flags => 7), "STORED\r\n", 'text set');
is(meta($s, 'mg tx f v'), "VA 3 f7\r\nabc\r\n", 'meta get of a text-set item');

done_testing();
