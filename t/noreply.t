#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# noreply.t: every command that accepts "noreply" sends nothing back, hit or
# miss, success or failure, and still takes effect; the next replied command
# answers immediately. Also: errors that memcached still reports under
# noreply (a malformed line gives ERROR, since noreply is only honoured for
# a well-formed command).
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $srv = RCTest::start();
my $s = $srv->sock;

my @cmds = (
    "set a 1 0 1 noreply\r\nA\r\n",
    "set a 1 0 1 noreply\r\nA\r\n",
    "add a 0 0 1 noreply\r\nX\r\n",          # fails
    "add b 2 0 1 noreply\r\nB\r\n",
    "replace nokey 0 0 1 noreply\r\nX\r\n",  # fails
    "replace b 3 0 2 noreply\r\nBB\r\n",
    "append a 0 0 1 noreply\r\nZ\r\n",
    "prepend a 0 0 1 noreply\r\nY\r\n",
    "append nokey 0 0 1 noreply\r\nZ\r\n",   # fails
    "cas b 0 0 1 1 noreply\r\nX\r\n",        # EXISTS (almost surely) or NOT_FOUND
    "cas nokey 0 0 1 1 noreply\r\nX\r\n",    # fails
    "set n 0 0 1 noreply\r\n5\r\n",
    "incr n 10 noreply\r\n",
    "decr n 3 noreply\r\n",
    "incr nokey 1 noreply\r\n",              # fails
    "incr a 1 noreply\r\n",                  # non-numeric
    "touch a 100 noreply\r\n",
    "touch nokey 100 noreply\r\n",
    "set c 0 0 1 noreply\r\nC\r\n",
    "delete c noreply\r\n",
    "delete c noreply\r\n",                  # miss
);
for my $c (@cmds) {
    mc_send($s, $c);
}
is(RCTest::pending($s, 0.5), '', 'no bytes sent for ' . scalar(@cmds) . ' noreply commands');
is(mc_cmd($s, 'get a b n c'),
    "VALUE a 1 3\r\nYAZ\r\nVALUE b 3 2\r\nBB\r\nVALUE n 0 2\r\n12\r\nEND\r\n",
    'all noreply commands took effect');
like(mc_cmd($s, 'version'), qr/^VERSION /, 'next replied command answered');

# Under noreply, a successful cas is silent too.
my (undef, undef, $cas) = mc_gets($s, 'b');
mc_send($s, "cas b 9 0 1 $cas noreply\r\nQ\r\n");
is(mc_cmd($s, 'get b'), "VALUE b 9 1\r\nQ\r\nEND\r\n", 'cas noreply stored silently');

# flush_all noreply and verbosity noreply.
mc_send($s, "verbosity 0 noreply\r\n");
mc_send($s, "flush_all noreply\r\n");
is(RCTest::pending($s, 0.3), '', 'flush_all/verbosity noreply: silent');
is(mc_cmd($s, 'get a'), "END\r\n", 'flush took effect');

# An unknown command is answered even if it ends in "noreply".
is(mc_cmd($s, 'bogus noreply'), "ERROR\r\n", 'unknown command with noreply: ERROR');

done_testing();
