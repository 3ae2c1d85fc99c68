#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# cluster-refusals.t (ringcached only): the PUT checks of
# doc/peer-protocol.txt 8.2 steps 1 and 2 against a real daemon. One node,
# n1, runs as a member of a 3-node cluster (n1, n2, n3; N=1, Q=64, so it
# owns about a third of the keys); n3 never runs and n2 is t/peerpoke, a
# fake peer that authenticates as n2 and sends n1 one PUT per case:
#
#   wrong-partition  a key n1 replicates, partition field off by one:
#                    ERROR WRONG_PARTITION, logged, nothing stored
#   not-replica      a key whose preference list leaves n1 out:
#                    ERROR NOT_REPLICA, logged
#   hint-self        HINT naming n1 itself as the owner: ERROR NOT_REPLICA,
#                    logged, no hint kept
#   good             a correct PUT of a key n1 replicates: PUT_ACK STORED,
#                    and a client get on n1 reads the value
#
# Then n1 is still running, serves a plain set and get, and its stats
# cluster counts the four PUTs and no hint, protocol error, auth failure
# or ring mismatch. The tool is found as t/peerpoke beside the daemon
# (RINGCACHED's build dir), or at $PEERPOKE. Every wait is bounded; the
# daemon is killed by its PID (RCTest END).
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use RCTest;
use RCCluster;

RCTest::set_timeout(300);
RCCluster::require_member_start();
my $poke = $ENV{PEERPOKE}
  // File::Spec->catfile(dirname(RCTest::ringcached_bin()), 't', 'peerpoke');
plan skip_all => "peerpoke is not built ($poke)" unless -x $poke;

my @RING = ('--partitions', 64, '--replicas', 1);
my $tmp = tempdir('rcrefusals-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $secret = "$tmp/secret";
{
    my $old = umask(077);
    open(my $fh, '>', $secret) or die "write $secret: $!";
    print $fh RCCluster::random_secret(), "\n";
    close $fh or die "close $secret: $!";
    umask($old);
}

# n1, with n2 and n3 at ports nobody listens on. A peer port lost to a
# race between picking and binding is retried with new ports.
my ($srv, %pport, $err);
for my $try (1 .. 3) {
    my %used;
    for my $n (qw(n1 n2 n3)) {
        my $p;
        do { $p = RCTest::free_port() } while $used{$p}++;
        $pport{$n} = $p;
    }
    $srv = eval {
        RCTest::start(rc_args => [ '--name', 'n1', '--peer-listen', "127.0.0.1:$pport{n1}",
            '--peers', "n2=127.0.0.1:$pport{n2},n3=127.0.0.1:$pport{n3}",
            '--cluster-secret-file', $secret, @RING, '--read-quorum', 1,
            '--write-quorum', 1 ]);
    };
    last if $srv;
    $err = $@;
    last unless $err =~ /in use|EADDRINUSE|bind/i;
}
BAIL_OUT("n1 did not start: $err") unless $srv;

# Runs the tool for one case: (exit status, its outcome line, all output).
sub poke {
    my ($case) = @_;
    my ($status, $out) = RCTest::run_capture([ $poke, '--name', 'n2', '--secret-file', $secret,
        '--peer', "n1=127.0.0.1:$pport{n1}", '--nodes', 'n1,n2,n3', @RING,
        '--value', "poked-$$", '--wait-ms', 20000, '--timeout-ms', 30000, $case ], 60);
    my ($line) = grep { /^(?:OK|ERROR|FAIL)\b/ } split /\n/, $out;
    return ($status, $line // '', $out);
}

# The preference list of $key as n1 computes it (names, owner first).
sub n1_preflist {
    my ($key) = @_;
    my $r = RCCluster::admin($srv->sock, 'ring', $key) // '';
    return map { /^REPLICA \d+ (\S+)/ ? $1 : () } split /\r\n/, $r;
}

my %case = (
    'wrong-partition' => [ qr/^ERROR WRONG_PARTITION key=(\S+)$/, 1 ],
    'not-replica'     => [ qr/^ERROR NOT_REPLICA key=(\S+)$/,     0 ],
    'hint-self'       => [ qr/^ERROR NOT_REPLICA key=(\S+)$/,     1 ],
    'good'            => [ qr/^OK result=0 key=(\S+)$/,           1 ],
);
my %key;
for my $c (qw(wrong-partition not-replica hint-self good)) {
    my ($re, $owned) = @{ $case{$c} };
    my ($status, $line, $out) = poke($c);
    is($status, 0, "$c: peerpoke exits 0") or diag($out, "n1's log:\n", $srv->log_text);
    like($line, $re, "$c: n1 answers as 8.2 says") or diag($out);
    $key{$c} = $line =~ $re ? $1 : undef;
    SKIP: {
        skip "$c: no key", 1 unless defined $key{$c};
        my @pref = n1_preflist($key{$c});
        is(scalar(grep { $_ eq 'n1' } @pref), $owned,
            "$c: n1's ring agrees that n1 " . ($owned ? 'replicates' : 'does not replicate')
              . " $key{$c}")
          or diag("preference list: @pref");
    }
}

my $s = $srv->sock;
SKIP: {
    skip 'no keys', 3 unless defined $key{good} && defined $key{'wrong-partition'};
    is(mc_get($s, $key{good}), "poked-$$", 'good: the value is readable on n1');
    is(mc_get($s, $key{'wrong-partition'}), undef, 'wrong-partition: nothing was stored');
    like($srv->log_text, qr/peer PUT for partition \d+, which this ring computes as \d+/,
        'wrong-partition: logged loudly');
}
like($srv->log_text, qr/peer n2 sent a PUT for a key this node does not own: refused/,
    'not-replica: logged, naming the peer');
like($srv->log_text, qr/peer n2 sent a hint whose owner is this node: refused/,
    'hint-self: logged, naming the peer');

# n1 goes on: alive, a plain set and get of a key it owns, stats cluster.
ok($srv->alive, 'n1 is still running');
my $plain;
for my $i (0 .. 199) {
    my @pref = n1_preflist("plain-$i");
    if (@pref && $pref[0] eq 'n1') { $plain = "plain-$i"; last }
}
ok(defined $plain, 'a key n1 owns') or diag('none of plain-0..199');
SKIP: {
    skip 'no key n1 owns', 2 unless defined $plain;
    is(mc_store($s, 'set', $plain, 'hello'), "STORED\r\n", 'plain set on n1');
    is(mc_get($s, $plain), 'hello', 'plain get on n1');
}
my $st = RCTest::mem_stats($s, 'cluster');
is($st->{cluster_nodes}, 3, 'stats cluster: 3 nodes');
is($st->{peer_puts_received}, 4, 'stats cluster: the four PUTs arrived');
is($st->{hints_stored}, 0, 'stats cluster: no hint stored');
is($st->{hints_pending}, 0, 'stats cluster: no hint pending');
is($st->{peer_errors}, 0, 'stats cluster: no protocol error');
is($st->{peer_auth_failures}, 0, 'stats cluster: no auth failure');
is($st->{peer_ring_mismatches}, 0, 'stats cluster: no ring mismatch');

is($srv->stop(30), 0, 'n1 stops cleanly') or diag("n1's log:\n", $srv->log_text);
done_testing();
