#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# retrieval.t: get and gets with one and many keys (order kept, misses
# skipped, duplicates repeated), gat/gats (value returned and exptime
# updated), whitespace tolerance and bare "\n" line endings, a large
# multi-get.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $srv = RCTest::start();
my $s = $srv->sock;

is(mc_cmd($s, 'get nokey'), "END\r\n", 'get miss');
is(mc_cmd($s, 'gets nokey'), "END\r\n", 'gets miss');
is(mc_store($s, 'set', 'g1', 'v1', flags => 1), "STORED\r\n", 'set g1');
is(mc_store($s, 'set', 'g2', 'value2', flags => 2), "STORED\r\n", 'set g2');

is(mc_cmd($s, 'get g1'), "VALUE g1 1 2\r\nv1\r\nEND\r\n", 'get one key');
is(mc_cmd($s, 'get g1 nokey g2'),
    "VALUE g1 1 2\r\nv1\r\nVALUE g2 2 6\r\nvalue2\r\nEND\r\n",
    'multi-get: order kept, miss skipped');
is(mc_cmd($s, 'get g2 g1'),
    "VALUE g2 2 6\r\nvalue2\r\nVALUE g1 1 2\r\nv1\r\nEND\r\n", 'multi-get in request order');
is(mc_cmd($s, 'get g1 g1'), "VALUE g1 1 2\r\nv1\r\nVALUE g1 1 2\r\nv1\r\nEND\r\n",
    'duplicate key returned twice');

my $r = mc_cmd($s, 'gets g1 g2');
like($r, qr/\AVALUE g1 1 2 (\d+)\r\nv1\r\nVALUE g2 2 6 (\d+)\r\nvalue2\r\nEND\r\n\z/,
    'gets multi-key with cas');
my ($c1, $c2) = $r =~ /VALUE g1 1 2 (\d+).*VALUE g2 2 6 (\d+)/s;
isnt($c1, $c2, 'distinct cas per key');

# Whitespace: runs of spaces between tokens and a bare "\n" terminator are
# accepted by memcached.
is(mc_cmd($s, "get  g1   g2 \r\n"),
    "VALUE g1 1 2\r\nv1\r\nVALUE g2 2 6\r\nvalue2\r\nEND\r\n", 'extra spaces tolerated');
mc_send($s, "get g1\n");
is(read_reply($s), "VALUE g1 1 2\r\nv1\r\nEND\r\n", 'bare LF line ending');

# gat / gats: like get/gets, plus a new exptime.
is(mc_cmd($s, 'gat 100 g1 nokey g2'),
    "VALUE g1 1 2\r\nv1\r\nVALUE g2 2 6\r\nvalue2\r\nEND\r\n", 'gat multi-key');
$r = mc_cmd($s, 'gats 100 g1');
like($r, qr/\AVALUE g1 1 2 \d+\r\nv1\r\nEND\r\n\z/, 'gats returns cas');
my ($gc) = $r =~ /VALUE g1 1 2 (\d+)/;
is($gc, $c1, 'gat does not change the cas unique');
is(mc_cmd($s, 'gat 100 nokey'), "END\r\n", 'gat miss');
# memcached 1.6.18 answers a gat with an exptime but no key with a bare END.
is(mc_cmd($s, 'gat 10'), "END\r\n", 'gat without keys: END');
is(mc_cmd($s, 'gat'), "ERROR\r\n", 'gat without exptime: ERROR');
is(mc_cmd($s, 'gat abc g1'), "CLIENT_ERROR invalid exptime argument\r\n", 'gat bad exptime');

# gat with a negative exptime returns the value, then the item is gone.
is(mc_store($s, 'set', 'gneg', 'bye'), "STORED\r\n", 'set gneg');
is(mc_cmd($s, 'gat -1 gneg'), "VALUE gneg 0 3\r\nbye\r\nEND\r\n", 'gat -1 returns the value');
is(mc_cmd($s, 'get gneg'), "END\r\n", '... and expires it');

# gat 2 shortens the life of an item stored without expiry.
is(mc_store($s, 'set', 'gshort', 'v'), "STORED\r\n", 'set gshort');
is(mc_cmd($s, 'gat 2 gshort'), "VALUE gshort 0 1\r\nv\r\nEND\r\n", 'gat 2');
sleep 3.2;
is(mc_cmd($s, 'get gshort'), "END\r\n", 'expired after gat 2');
is(mc_get($s, 'g1'), 'v1', 'g1 (gat 100) still there');

# A 100-key multi-get (50 hits, 50 misses).
my @keys = map { "mk$_" } 1 .. 100;
for my $i (1 .. 50) {
    mc_send($s, "set mk$i 0 0 " . length("val$i") . " noreply\r\nval$i\r\n");
}
my $it = RCTest::mc_items($s, 'get ' . join(' ', @keys));
ok($it, 'large multi-get parsed');
is(scalar(keys %$it), 50, '50 hits');
is(scalar(grep { $it->{"mk$_"} && $it->{"mk$_"}{value} eq "val$_" } 1 .. 50), 50,
    'all values right');

done_testing();
