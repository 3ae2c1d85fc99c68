#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# flush.t: flush_all (immediate, "0", noreply) invalidates every item stored
# before it; flush_all <delay> invalidates, at now+delay, everything stored
# before that moment (memcached semantics: also items set after the
# command but before the deadline); later items survive. ringcached only: a
# pending delayed flush survives a restart.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use RCTest;

RCTest::set_timeout(90);
my $srv = RCTest::start();
my $s = $srv->sock;

mc_store($s, 'set', "a$_", "v$_") for 1 .. 10;
is(mc_cmd($s, 'flush_all'), "OK\r\n", 'flush_all');
is(scalar(grep { defined mc_get($s, "a$_") } 1 .. 10), 0, 'all items gone');
is(mc_store($s, 'add', 'a1', 'new'), "STORED\r\n", 'add works after flush');
is(mc_store($s, 'set', 'b', 'after'), "STORED\r\n", 'set after flush');
is(mc_get($s, 'b'), 'after', 'item set after flush_all is kept');
is(mc_cmd($s, 'flush_all 0'), "OK\r\n", 'flush_all 0');
is(mc_get($s, 'b'), undef, 'flush_all 0 is immediate');

mc_store($s, 'set', 'c', 'x');
mc_send($s, "flush_all noreply\r\n");
is(RCTest::pending($s, 0.3), '', 'flush_all noreply: no reply');
is(mc_get($s, 'c'), undef, 'flush_all noreply took effect');

# Delayed flush.
is(mc_store($s, 'set', 'd1', 'x'), "STORED\r\n", 'set d1');
my $t0 = time;
is(mc_cmd($s, 'flush_all 2'), "OK\r\n", 'flush_all 2');
is(mc_store($s, 'set', 'd2', 'y'), "STORED\r\n", 'set d2 after the delayed flush');
is(mc_get($s, 'd1'), 'x', 'd1 still there before the deadline');
is(mc_get($s, 'd2'), 'y', 'd2 there before the deadline');
sleep(3.3 - (time - $t0));
is(mc_get($s, 'd1'), undef, 'd1 gone after the deadline');
is(mc_get($s, 'd2'), undef, 'd2 (stored before the deadline) gone too');
is(mc_store($s, 'set', 'd3', 'z'), "STORED\r\n", 'set after the deadline');
is(mc_get($s, 'd3'), 'z', 'items set after the deadline survive');
sleep 1.1;
is(mc_get($s, 'd3'), 'z', '... and keep surviving');

SKIP: {
    skip 'delayed flush across restart is ringcached-only', 4 if RCTest::is_memcached();
    mc_store($s, 'set', 'p1', 'x');
    my $t1 = time;
    is(mc_cmd($s, 'flush_all 4'), "OK\r\n", 'flush_all 4');
    close $s;
    $srv->restart;
    $s = $srv->sock;
    if (time - $t1 < 3) {
        is(mc_get($s, 'p1'), 'x', 'item present after restart, before the deadline');
    } else {
        pass('restart took too long to check presence before the deadline');
    }
    sleep(5.5 - (time - $t1)) if time - $t1 < 5.5;
    is(mc_get($s, 'p1'), undef, 'delayed flush applied after restart');
    is(mc_store($s, 'set', 'p2', 'y'), "STORED\r\n", 'set after the deadline');
    is(mc_get($s, 'p2'), 'y', 'kept');
}

done_testing();
