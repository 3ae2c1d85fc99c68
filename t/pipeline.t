#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# pipeline.t: many commands in one write answered in order; a command line
# and a value split across several writes with small pauses; binary-safe
# values (\r\n, NUL, all 256 byte values); a 1,000,000-byte value round trip;
# a pipeline mixing noreply and replied commands.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use RCTest;

RCTest::set_timeout(90);
my $srv = RCTest::start();
my $s = $srv->sock;

# 200 sets and gets in a single write.
my $req = '';
my $want = '';
for my $i (1 .. 100) {
    $req .= "set p$i $i 0 " . length("val$i") . "\r\nval$i\r\n";
    $want .= "STORED\r\n";
}
for my $i (1 .. 100) {
    $req .= "get p$i\r\n";
    $want .= "VALUE p$i $i " . length("val$i") . "\r\nval$i\r\nEND\r\n";
}
$req .= "delete p1\r\nincr nokey 1\r\nversion\r\n";
ok(mc_send($s, $req), 'sent ' . length($req) . ' bytes in one write');
my $got = read_until($s, qr/VERSION [^\r\n]*\r\n/, 20);
is(substr($got, 0, length $want), $want, '200 replies in order');
like(substr($got, length $want), qr/\ADELETED\r\nNOT_FOUND\r\nVERSION \S+\r\n\z/, 'tail replies');

# A command split across writes, byte by byte for the line.
for my $ch (split //, "set split 3 0 10\r\n") {
    mc_send($s, $ch);
    sleep 0.01;
}
mc_send($s, 'abc');
sleep 0.1;
mc_send($s, 'defg');
sleep 0.1;
mc_send($s, "hij\r");
sleep 0.1;
mc_send($s, "\n");
is(read_line($s), "STORED\r\n", 'line dribbled byte by byte, value in 4 writes');
is(mc_cmd($s, 'get split'), "VALUE split 3 10\r\nabcdefghij\r\nEND\r\n", 'value assembled');
mc_send($s, "get spl");
sleep 0.1;
mc_send($s, "it\r");
sleep 0.1;
mc_send($s, "\nversion\r\n");
is(read_reply($s), "VALUE split 3 10\r\nabcdefghij\r\nEND\r\n", 'get split across writes');
like(read_line($s), qr/^VERSION /, 'next command in the same write');

# Binary-safe values.
my %bin = (
    crlf   => "line1\r\nline2\r\n",
    endlike => "x\r\nEND\r\n",
    nul    => "a\0b\0\0c",
    allbytes => join('', map { chr } 0 .. 255) x 4,
    onlycrlf => "\r\n",
);
for my $k (sort keys %bin) {
    is(mc_store($s, 'set', "bin_$k", $bin{$k}), "STORED\r\n", "set binary value $k");
}
my $it = RCTest::mc_items($s, 'get ' . join(' ', map { "bin_$_" } sort keys %bin));
for my $k (sort keys %bin) {
    ok($it && $it->{"bin_$k"} && $it->{"bin_$k"}{value} eq $bin{$k}, "binary value $k intact");
}

# 1,000,000-byte value (under memcached's 1 MB item limit).
my $big = join('', map { chr(($_ * 7) % 256) } 0 .. 999) x 1000;
is(length $big, 1_000_000, '1,000,000-byte value built');
is(mc_store($s, 'set', 'big', $big, flags => 77), "STORED\r\n", 'set 1,000,000 bytes');
my $r = mc_cmd($s, 'get big', 30);
ok(defined $r && $r eq "VALUE big 77 1000000\r\n$big\r\nEND\r\n", 'get 1,000,000 bytes back intact');
is(mc_store($s, 'append', 'big', 'tail'), "STORED\r\n", 'append to the big value');
is(length(mc_get($s, 'big') // ''), 1_000_004, 'appended length');

# Mixed noreply and replied commands in one write.
mc_send($s, "set m1 0 0 1 noreply\r\na\r\nset m2 0 0 1\r\nb\r\n"
    . "incr m3 1 noreply\r\ndelete m1 noreply\r\nget m1 m2\r\n");
is(read_line($s), "STORED\r\n", 'replied set');
is(read_reply($s), "VALUE m2 0 1\r\nb\r\nEND\r\n", 'noreply commands silent, order kept');

# Two connections interleaved do not mix replies.
my $t = $srv->sock;
mc_send($s, "get p2\r\n");
mc_send($t, "get p3\r\n");
is(read_reply($t), "VALUE p3 3 4\r\nval3\r\nEND\r\n", 'second connection reply');
is(read_reply($s), "VALUE p2 2 4\r\nval2\r\nEND\r\n", 'first connection reply');

done_testing();
