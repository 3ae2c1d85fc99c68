#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# storage.t: set, add, replace, append, prepend and cas: replies, flags
# (0 .. 2^32-1) kept and returned, empty values, cas uniqueness changing on
# every modification, and the noreply forms of each command.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $srv = RCTest::start();
my $s = $srv->sock;

# set
is(mc_store($s, 'set', 'foo', 'fooval', flags => 5), "STORED\r\n", 'set');
is(mc_cmd($s, 'get foo'), "VALUE foo 5 6\r\nfooval\r\nEND\r\n", 'get after set');
is(mc_store($s, 'set', 'foo', 'second', flags => 9), "STORED\r\n", 'set overwrites');
is(mc_cmd($s, 'get foo'), "VALUE foo 9 6\r\nsecond\r\nEND\r\n", 'new value and flags');
is(mc_store($s, 'set', 'empty', ''), "STORED\r\n", 'set empty value');
is(mc_cmd($s, 'get empty'), "VALUE empty 0 0\r\n\r\nEND\r\n", 'get empty value');
is(mc_store($s, 'set', 'fmax', 'x', flags => 4294967295), "STORED\r\n", 'flags 2^32-1');
is(mc_cmd($s, 'get fmax'), "VALUE fmax 4294967295 1\r\nx\r\nEND\r\n", 'flags 2^32-1 returned');

# add
is(mc_store($s, 'add', 'foo', 'nope'), "NOT_STORED\r\n", 'add existing key');
is(mc_get($s, 'foo'), 'second', 'add did not change value');
is(mc_store($s, 'add', 'addkey', 'a1', flags => 3), "STORED\r\n", 'add new key');
is(mc_cmd($s, 'get addkey'), "VALUE addkey 3 2\r\na1\r\nEND\r\n", 'added value');

# replace
is(mc_store($s, 'replace', 'nokey', 'x'), "NOT_STORED\r\n", 'replace missing key');
is(mc_get($s, 'nokey'), undef, 'replace did not create the key');
is(mc_store($s, 'replace', 'foo', 'third', flags => 1), "STORED\r\n", 'replace existing');
is(mc_cmd($s, 'get foo'), "VALUE foo 1 5\r\nthird\r\nEND\r\n", 'replaced value and flags');

# append / prepend: flags and exptime of the command are ignored, the item
# keeps its own flags.
is(mc_store($s, 'append', 'nokey', 'x'), "NOT_STORED\r\n", 'append missing key');
is(mc_store($s, 'prepend', 'nokey', 'x'), "NOT_STORED\r\n", 'prepend missing key');
is(mc_get($s, 'nokey'), undef, 'append/prepend did not create the key');
is(mc_store($s, 'set', 'ap', 'mid', flags => 7), "STORED\r\n", 'set for append');
is(mc_store($s, 'append', 'ap', '-end', flags => 99), "STORED\r\n", 'append');
is(mc_store($s, 'prepend', 'ap', 'start-', flags => 98), "STORED\r\n", 'prepend');
is(mc_cmd($s, 'get ap'), "VALUE ap 7 13\r\nstart-mid-end\r\nEND\r\n",
    'append+prepend value, original flags kept');
is(mc_store($s, 'append', 'ap', ''), "STORED\r\n", 'append empty');
is(mc_get($s, 'ap'), 'start-mid-end', 'unchanged by empty append');

# cas
my ($v, $f, $cas) = mc_gets($s, 'foo');
like($cas, qr/^\d+$/, 'gets returns a numeric cas');
is(mc_store($s, 'cas', 'foo', 'x', cas => $cas + 1000), "EXISTS\r\n", 'cas with wrong unique');
is(mc_get($s, 'foo'), 'third', 'value unchanged after EXISTS');
is(mc_store($s, 'cas', 'nokey', 'x', cas => $cas), "NOT_FOUND\r\n", 'cas on missing key');
is(mc_get($s, 'nokey'), undef, 'cas NOT_FOUND did not create');
is(mc_store($s, 'cas', 'foo', 'casval', flags => 4, cas => $cas), "STORED\r\n", 'cas with right unique');
is(mc_cmd($s, 'get foo'), "VALUE foo 4 6\r\ncasval\r\nEND\r\n", 'cas stored value and flags');
is(mc_store($s, 'cas', 'foo', 'again', cas => $cas), "EXISTS\r\n", 'same unique again: EXISTS');

# cas uniques: distinct across keys, changed by every modification.
my %seen;
my @uniq;
for my $step (
    [ 'set',     sub { mc_store($s, 'set', 'cu', 'a') } ],
    [ 'set2',    sub { mc_store($s, 'set', 'cu', 'a') } ],
    [ 'append',  sub { mc_store($s, 'append', 'cu', 'b') } ],
    [ 'prepend', sub { mc_store($s, 'prepend', 'cu', 'c') } ],
    [ 'replace', sub { mc_store($s, 'replace', 'cu', '1') } ],
    [ 'incr',    sub { mc_cmd($s, 'incr cu 1') } ],
    [ 'decr',    sub { mc_cmd($s, 'decr cu 1') } ],
  ) {
    $step->[1]->();
    my (undef, undef, $u) = mc_gets($s, 'cu');
    ok(defined $u && !$seen{$u}++, "cas unique is new after $step->[0]");
}
my (undef, undef, $cfoo) = mc_gets($s, 'foo');
my (undef, undef, $ccu) = mc_gets($s, 'cu');
isnt($cfoo, $ccu, 'different keys have different cas uniques');
my (undef, undef, $c1) = mc_gets($s, 'cu');
is($c1, $ccu, 'cas unique stable without modification');

# noreply: nothing is sent back, the command takes effect.
mc_send($s, "set nr 2 0 1 noreply\r\na\r\n");
mc_send($s, "add nr 0 0 1 noreply\r\nz\r\n");
mc_send($s, "add nr2 0 0 1 noreply\r\nb\r\n");
mc_send($s, "replace nr2 3 0 1 noreply\r\nc\r\n");
mc_send($s, "append nr 0 0 1 noreply\r\nd\r\n");
mc_send($s, "prepend nr 0 0 1 noreply\r\ne\r\n");
is(mc_cmd($s, 'get nr nr2'), "VALUE nr 2 3\r\nead\r\nVALUE nr2 3 1\r\nc\r\nEND\r\n",
    'noreply storage commands applied, no replies sent');
(undef, undef, $cas) = mc_gets($s, 'nr');
mc_send($s, "cas nr 0 0 1 " . ($cas + 1000) . " noreply\r\nX\r\n");
is(mc_get($s, 'nr'), 'ead', 'cas noreply with wrong unique: not stored, no reply');
mc_send($s, "cas nr 6 0 1 $cas noreply\r\nY\r\n");
is(mc_cmd($s, 'get nr'), "VALUE nr 6 1\r\nY\r\nEND\r\n", 'cas noreply with right unique');
is(RCTest::pending($s, 0.3), '', 'no stray bytes after noreply commands');

# Value bytes that look like commands are data.
is(mc_store($s, 'set', 'cmdlike', "get foo\r\nset x 0 0 1"), "STORED\r\n", 'value with embedded command text');
is(mc_get($s, 'cmdlike'), "get foo\r\nset x 0 0 1", 'returned verbatim');

done_testing();
