#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# maxconns.t: the -c connection limit. What memcached 1.6.18 does when the
# limit is hit: it accepts the TCP connection, writes
# "ERROR Too many open connections\r\n", closes it, and counts it in
# rejected_connections; established connections keep working, and once some
# close, new connections are accepted again. memcached reserves some file
# descriptors for itself, so with -c 40 it accepts fewer than 40 clients
# (15 with its default 4 threads); the test accepts any limit in [5, N].
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $N = 40;
my $srv = RCTest::start(args => ['-c', $N]);

my @ok;
my $rejected;
for my $i (1 .. $N + 5) {
    my $c = $srv->try_sock or last;
    my $r = mc_cmd($c, 'version', 3) // '';
    if ($r =~ /^VERSION /) {
        push @ok, $c;
        next;
    }
    is($r, "ERROR Too many open connections\r\n", "connection $i refused with the memcached message");
    ok(RCTest::closed_by_peer($c, 3), 'refused connection closed by the server');
    $rejected = 1;
    last;
}
ok($rejected, 'the limit was hit');
my $n = @ok;
ok($n >= 5 && $n <= $N, "accepted $n connections, within [5, $N]");

# Established connections keep working.
is(scalar(grep { (mc_cmd($_, 'version') // '') =~ /^VERSION / } @ok), $n, 'all accepted connections usable');
my $st = mem_stats($ok[0]);
ok($st->{rejected_connections} >= 1, 'rejected_connections counted');
is($st->{max_connections}, $N, 'max_connections');

# Free three slots; new connections get in again.
close($_) for splice(@ok, -3);
my $again = wait_for(sub {
    my $c = $srv->try_sock or return 0;
    my $r = mc_cmd($c, 'version', 3) // '';
    return 0 unless $r =~ /^VERSION /;
    push @ok, $c;
    return 1;
}, 5, 0.2);
ok($again, 'a new connection is accepted after others closed');

done_testing();
