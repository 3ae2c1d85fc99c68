#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# incrdecr.t: incr/decr on 64-bit unsigned counters: reply is the new value,
# incr wraps at 2^64, decr stops at 0, invalid deltas and non-numeric values
# are refused, misses are NOT_FOUND, noreply; and the value length stored
# after the change exactly as memcached keeps it (a shorter number is padded
# with trailing spaces to the old length, a longer one grows the item).
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $srv = RCTest::start();
my $s = $srv->sock;

is(mc_cmd($s, 'incr nokey 1'), "NOT_FOUND\r\n", 'incr miss');
is(mc_cmd($s, 'decr nokey 1'), "NOT_FOUND\r\n", 'decr miss');
is(mc_get($s, 'nokey'), undef, 'incr does not create');

is(mc_store($s, 'set', 'n', '1', flags => 5), "STORED\r\n", 'set n=1');
is(mc_cmd($s, 'incr n 1'), "2\r\n", 'incr 1');
is(mc_cmd($s, 'incr n 8'), "10\r\n", 'incr 8 (grows to 2 digits)');
is(mc_cmd($s, 'get n'), "VALUE n 5 2\r\n10\r\nEND\r\n", 'stored "10", flags kept');
is(mc_cmd($s, 'decr n 1'), "9\r\n", 'decr 1');
# Shrinking numbers are padded with spaces to the previous length.
is(mc_cmd($s, 'get n'), "VALUE n 5 2\r\n9 \r\nEND\r\n", 'stored "9 " (space padded)');
is(mc_cmd($s, 'incr n 1'), "10\r\n", 'incr a space-padded number');
is(mc_cmd($s, 'decr n 100'), "0\r\n", 'decr below zero stops at 0');
is(mc_cmd($s, 'get n'), "VALUE n 5 2\r\n0 \r\nEND\r\n", 'stored "0 "');
is(mc_cmd($s, 'decr n 1'), "0\r\n", 'decr at 0 stays 0');

is(mc_store($s, 'set', 'h', '99'), "STORED\r\n", 'set h=99');
is(mc_cmd($s, 'incr h 1'), "100\r\n", 'incr to 100');
is(mc_cmd($s, 'get h'), "VALUE h 0 3\r\n100\r\nEND\r\n", 'length grew to 3');
is(mc_cmd($s, 'decr h 95'), "5\r\n", 'decr to 5');
is(mc_cmd($s, 'get h'), "VALUE h 0 3\r\n5  \r\nEND\r\n", 'stored "5  " (length stays 3)');

# 64-bit range and wrap.
my $max = '18446744073709551615';
is(mc_store($s, 'set', 'big', $max), "STORED\r\n", 'set 2^64-1');
is(mc_cmd($s, 'incr big 0'), "$max\r\n", 'incr 0 keeps 2^64-1');
is(mc_cmd($s, 'incr big 1'), "0\r\n", 'incr wraps to 0');
is(mc_cmd($s, 'get big'), "VALUE big 0 20\r\n0" . (' ' x 19) . "\r\nEND\r\n",
    'wrapped 0 padded to 20 bytes');
is(mc_cmd($s, 'incr big 5'), "5\r\n", 'incr after wrap');
is(mc_store($s, 'set', 'b2', '1'), "STORED\r\n", 'set b2=1');
is(mc_cmd($s, "incr b2 $max"), "0\r\n", 'incr 1 + (2^64-1) wraps to 0');
is(mc_cmd($s, "incr b2 $max"), "$max\r\n", 'incr 0 + (2^64-1)');
is(mc_cmd($s, 'incr b2 2'), "1\r\n", 'wraps to 1');
is(mc_store($s, 'set', 'b3', '4294967296'), "STORED\r\n", 'set 2^32');
is(mc_cmd($s, 'incr b3 4294967296'), "8589934592\r\n", 'beyond 32 bits');

# Invalid deltas.
my $bad_delta = "CLIENT_ERROR invalid numeric delta argument\r\n";
is(mc_cmd($s, 'incr n abc'), $bad_delta, 'non-numeric delta');
is(mc_cmd($s, 'incr n -1'), $bad_delta, 'negative delta');
is(mc_cmd($s, 'decr n -1'), $bad_delta, 'negative delta (decr)');
is(mc_cmd($s, 'incr n 18446744073709551616'), $bad_delta, 'delta 2^64');
is(mc_cmd($s, 'incr n 1.5'), $bad_delta, 'fractional delta');
is(mc_cmd($s, 'incr n'), "ERROR\r\n", 'missing delta: ERROR');
is(mc_cmd($s, 'incr'), "ERROR\r\n", 'incr alone: ERROR');

# Non-numeric stored values.
my $nonnum = "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
for my $v ('abc', '12a', '-12', '', '1.5', '18446744073709551616') {
    mc_store($s, 'set', 'nn', $v);
    is(mc_cmd($s, 'incr nn 1'), $nonnum, "incr on \"$v\" refused");
}
mc_store($s, 'set', 'nn', 'abc');
is(mc_cmd($s, 'decr nn 1'), $nonnum, 'decr on non-numeric refused');
is(mc_get($s, 'nn'), 'abc', 'value unchanged');
# Leading zeros are fine; the result is written without them (and padded).
mc_store($s, 'set', 'z', '007');
is(mc_cmd($s, 'incr z 1'), "8\r\n", 'incr "007"');
is(mc_cmd($s, 'get z'), "VALUE z 0 3\r\n8  \r\nEND\r\n", 'stored "8  "');

# noreply
mc_store($s, 'set', 'q', '10');
mc_send($s, "incr q 5 noreply\r\n");
mc_send($s, "decr q 2 noreply\r\n");
mc_send($s, "incr nokey 1 noreply\r\n");
is(RCTest::pending($s, 0.3), '', 'incr/decr noreply: nothing sent');
is(mc_get($s, 'q'), '13', 'noreply incr/decr applied');

# incr changes the cas unique.
my (undef, undef, $c1) = mc_gets($s, 'q');
mc_cmd($s, 'incr q 1');
my (undef, undef, $c2) = mc_gets($s, 'q');
isnt($c2, $c1, 'incr changes cas');

done_testing();
