#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# cluster-tombstone.t (ringcached only): tombstones in a cluster are reaped
# only after every replica acknowledged the delete (doc/replication.txt
# section 10). 3 nodes, N=3 R=2 W=2, --tombstone-grace 2 --hint-max-age 1
# --peer-timeout-ms 500 (so the grace in force is max(2, 1 + 1) = 2 s):
#
#  1. a delete through n1 with every node up is marked on all three (the
#     coordinator's record and two notices) and reaped everywhere once the
#     grace has passed (tombstones_pending back to 0, tombstones_reaped up);
#  2. with n3 killed (kill -9), a delete through n1 is acknowledged by two
#     owners only: after the grace and more, n1 and n2 still keep it
#     (tombstones_pending, tombstones_unacked);
#  3. n3 restarted still holds the old value; a quorum read through n1
#     repairs it with the tombstone, which every owner then holds: marked
#     and reaped on all three, and the old value does not come back.
# Every wait is bounded; every node is killed by its PID (RCTest END).
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/lib";
use RCTest;
use RCCluster;

RCTest::set_timeout($ENV{RC_CLUSTER_TIMEOUT} // 300);
RCCluster::require_member_start();

my $GRACE = 2;
my @ALL = qw(n1 n2 n3);

sub stats_of {
    my ($c, $name) = @_;
    my $s = $c->try_sock($name) or return {};
    return mem_stats($s);
}

sub sum_cluster_stat {
    my ($c, $stat, @names) = @_;
    my $sum = 0;
    $sum += ($c->stats_cluster($_)->{$stat} // 0) for @names;
    return $sum;
}

# Waits until every node in @names has no pending tombstone and reaped more
# than it had in %$before. Bounded.
sub wait_reaped {
    my ($c, $before, $timeout, @names) = @_;
    return RCTest::wait_for(sub {
        for my $n (@names) {
            my $st = stats_of($c, $n);
            return 0 unless ($st->{tombstones_pending} // -1) == 0;
            return 0 unless ($st->{tombstones_reaped} // 0) > ($before->{$n} // 0);
        }
        return 1;
    }, $timeout, 0.2);
}

sub reaped_now {
    my ($c, @names) = @_;
    return { map { $_ => (stats_of($c, $_)->{tombstones_reaped} // 0) } @names };
}

my $c = RCCluster::start(nodes => 3, replicas => 3, read_quorum => 2, write_quorum => 2,
    peer_timeout_ms => 500,
    args => [ '--tombstone-grace', $GRACE, '--hint-max-age', 1 ]);
ok($c->wait_all_up(20), 'every node sees both others up within 20 s')
  or BAIL_OUT('cluster did not come up');
my $s1 = $c->sock('n1');
is($c->stats_cluster('n1')->{tombstone_grace}, $GRACE, 'stats cluster: tombstone_grace in force');

# ---- 1. every owner acknowledged: marked and reaped everywhere
my $before = reaped_now($c, @ALL);
is(mc_store($s1, 'set', 'gone1', 'v1'), "STORED\r\n", '1: set gone1 through n1');
is(mc_cmd($s1, 'delete gone1'), "DELETED\r\n", '1: delete gone1 through n1');
ok(RCTest::wait_for(sub { sum_cluster_stat($c, 'tombstones_acked', @ALL) >= 3 }, 5, 0.1),
    '1: the tombstone is marked on all three nodes');
is(sum_cluster_stat($c, 'tombstone_notices_received', @ALL), 2,
    '1: the coordinator sent its two notices');
ok(wait_reaped($c, $before, 15, @ALL), '1: reaped on every node after the grace')
  or diag(explain({ map { $_ => stats_of($c, $_) } @ALL }));
is(mc_cmd($c->sock('n2'), 'get gone1'), "END\r\n", '1: gone1 stays deleted');

# ---- 2. one owner down: not every replica acknowledged, nothing reaped
is(mc_store($s1, 'set', 'gone2', 'old value'), "STORED\r\n", '2: set gone2 everywhere');
ok(RCTest::wait_for(sub { ($c->local_version('n3', 'gone2') // '-') ne '-' }, 5, 0.1),
    '2: n3 holds gone2');
$c->kill9('n3');
ok($c->wait_state('n1', 'n3', 'down', 10), '2: n1 sees n3 down');
$before = reaped_now($c, qw(n1 n2));
my $acked_before = sum_cluster_stat($c, 'tombstones_acked', qw(n1 n2));
is(mc_cmd($s1, 'delete gone2'), "DELETED\r\n", '2: delete gone2 through n1 (W=2)');
my $kept = RCTest::wait_for(sub {
    for my $n (qw(n1 n2)) {
        return 0 unless ($c->stats_cluster($n)->{tombstones_unacked} // 0) >= 1;
    }
    return 1;
}, 15, 0.2);
ok($kept, '2: past the grace, n1 and n2 report the tombstone kept unacknowledged');
sleep 1; # one more sweep pass
for my $n (qw(n1 n2)) {
    my $st = stats_of($c, $n);
    is($st->{tombstones_pending}, 1, "2: $n still keeps the tombstone");
    is($st->{tombstones_reaped}, $before->{$n}, "2: $n reaped nothing");
}
is(sum_cluster_stat($c, 'tombstones_acked', qw(n1 n2)), $acked_before, '2: nothing was marked');

# ---- 3. back up: a quorum read repairs n3, then every owner has it
$c->restart('n3');
ok($c->wait_all_up(20), '3: n3 restarted; all up within 20 s');
$before = reaped_now($c, @ALL);
my $done = RCTest::wait_for(sub {
    my $r = mc_cmd($s1, 'get gone2') // '';
    return 0 unless $r eq "END\r\n";
    return sum_cluster_stat($c, 'tombstones_acked', @ALL) >= $acked_before + 3;
}, 15, 0.3);
ok($done, '3: a read through n1 repaired n3 and marked the tombstone on all three');
ok(wait_reaped($c, $before, 15, @ALL), '3: then reaped on every node')
  or diag(explain({ map { $_ => stats_of($c, $_) } @ALL }));
for my $n (@ALL) {
    is(mc_cmd($c->sock($n), 'get gone2'), "END\r\n", "3: gone2 stays deleted through $n");
}
is($c->local_version('n3', 'gone2'), '-', '3: n3 holds nothing for gone2 (old value gone)');

$c->shutdown;
done_testing();
