#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# touch.t: touch replies (TOUCHED / NOT_FOUND), the new exptime taking
# effect (extending and shortening), negative exptime expiring at once,
# noreply, bad exptime and wrong argument counts.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $srv = RCTest::start();
my $s = $srv->sock;

is(mc_cmd($s, 'touch nokey 10'), "NOT_FOUND\r\n", 'touch missing key');
is(mc_store($s, 'set', 't1', 'x', exptime => 2), "STORED\r\n", 'set t1 exptime 2');
is(mc_cmd($s, 'touch t1 100'), "TOUCHED\r\n", 'touch extends');
is(mc_store($s, 'set', 't2', 'y'), "STORED\r\n", 'set t2 no expiry');
is(mc_cmd($s, 'touch t2 2'), "TOUCHED\r\n", 'touch shortens');
my (undef, undef, $cas) = mc_gets($s, 't1');
is(mc_store($s, 'set', 't3', 'z'), "STORED\r\n", 'set t3');
mc_send($s, "touch t3 2 noreply\r\n");
mc_send($s, "touch nokey 2 noreply\r\n");
is(RCTest::pending($s, 0.3), '', 'touch noreply: nothing sent');

sleep 3.2;
is(mc_get($s, 't1'), 'x', 'touched to 100 s: still there after 3 s');
is(mc_get($s, 't2'), undef, 'touched to 2 s: gone after 3 s');
is(mc_get($s, 't3'), undef, 'touch noreply took effect');
my (undef, undef, $cas2) = mc_gets($s, 't1');
is($cas2, $cas, 'touch does not change the cas unique');

is(mc_store($s, 'set', 'tneg', 'x'), "STORED\r\n", 'set tneg');
is(mc_cmd($s, 'touch tneg -1'), "TOUCHED\r\n", 'touch -1');
is(mc_get($s, 'tneg'), undef, 'touch -1 expires at once');

is(mc_cmd($s, 'touch t1 abc'), "CLIENT_ERROR invalid exptime argument\r\n", 'bad exptime');
is(mc_cmd($s, 'touch t1'), "ERROR\r\n", 'touch without exptime: ERROR');
is(mc_cmd($s, 'touch'), "ERROR\r\n", 'touch alone: ERROR');
is(mc_get($s, 't1'), 'x', 't1 unaffected by bad touches');

done_testing();
