#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# expiry.t: exptime semantics: 0 never expires, relative seconds, absolute
# unix time (values over 30 days), negative and past times expiring at once,
# expired items invisible to get/incr/append/replace/cas but free for add.
# Waits are short (3-4 s in total) and bounded.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $srv = RCTest::start();
my $s = $srv->sock;
my $now = time;

is(mc_store($s, 'set', 'never', 'v'), "STORED\r\n", 'exptime 0');
# Each short-lived item is read right after its set: with --sync always a
# set waits for the disk, and a slow one must not use up the 2 s.
is(mc_store($s, 'set', 'rel', 'v', exptime => 2), "STORED\r\n", 'relative exptime 2');
is(mc_get($s, 'rel'), 'v', 'relative: present at once');
$now = time;
is(mc_store($s, 'set', 'abs', 'v', exptime => $now + 2), "STORED\r\n", 'absolute exptime now+2');
is(mc_get($s, 'abs'), 'v', 'absolute: present at once');
is(mc_store($s, 'set', 'long', 'v', exptime => 100), "STORED\r\n", 'relative exptime 100');
is(mc_store($s, 'set', 'abslong', 'v', exptime => $now + 100), "STORED\r\n", 'absolute now+100');

# Negative and past exptimes: stored (STORED) but immediately expired.
is(mc_store($s, 'set', 'neg', 'v', exptime => -1), "STORED\r\n", 'negative exptime: STORED');
is(mc_get($s, 'neg'), undef, 'negative exptime: expired at once');
is(mc_store($s, 'set', 'past', 'v', exptime => $now - 10), "STORED\r\n", 'absolute past: STORED');
is(mc_get($s, 'past'), undef, 'absolute past: expired at once');
# 30 days + 1 s is taken as an absolute unix time (in 1970): long past.
is(mc_store($s, 'set', 'over30', 'v', exptime => 2592001), "STORED\r\n", 'exptime 2592001');
is(mc_get($s, 'over30'), undef, 'exptime > 30 days is absolute: expired');
# Exactly 30 days is still relative.
is(mc_store($s, 'set', 'is30', 'v', exptime => 2592000), "STORED\r\n", 'exptime 2592000');
is(mc_get($s, 'is30'), 'v', 'exptime of exactly 30 days is relative');

is(mc_store($s, 'add', 'neg', 'w'), "STORED\r\n", 'add over an expired key');
is(mc_get($s, 'neg'), 'w', 'added');

# Prepare expiring items for the operations checked after the wait.
mc_store($s, 'set', "e$_", '5', exptime => 2) for 1 .. 6;

sleep 3.3;
is(mc_get($s, 'rel'), undef, 'relative 2 s: gone after 3 s');
is(mc_get($s, 'abs'), undef, 'absolute now+2: gone after 3 s');
is(mc_get($s, 'never'), 'v', 'exptime 0 still there');
is(mc_get($s, 'long'), 'v', 'relative 100 still there');
is(mc_get($s, 'abslong'), 'v', 'absolute now+100 still there');
is(mc_cmd($s, 'gets e1'), "END\r\n", 'gets on expired');
is(mc_cmd($s, 'incr e2 1'), "NOT_FOUND\r\n", 'incr on expired');
is(mc_store($s, 'append', 'e3', 'x'), "NOT_STORED\r\n", 'append on expired');
is(mc_store($s, 'replace', 'e4', 'x'), "NOT_STORED\r\n", 'replace on expired');
is(mc_store($s, 'cas', 'e5', 'x', cas => 1), "NOT_FOUND\r\n", 'cas on expired');
is(mc_cmd($s, 'touch e6 100'), "NOT_FOUND\r\n", 'touch on expired');
is(mc_cmd($s, 'delete e6'), "NOT_FOUND\r\n", 'delete on expired');
is(mc_store($s, 'add', 'e1', 'new'), "STORED\r\n", 'add on expired');
is(mc_get($s, 'e1'), 'new', 'added value');

done_testing();
