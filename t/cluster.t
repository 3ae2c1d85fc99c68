#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# cluster.t (ringcached only): real multi-node clusters on loopback
# (doc/replication.txt). Skipped with the daemon's own message while a node
# given --peers refuses to start ("clustering (--peers) is not available in
# this build yet").
#
#  A. 3 nodes, N=3 R=2 W=2: every node sees the others up; every node
#     computes the same ring; a write through one node reads back through
#     every other (vget: one sibling, the same context everywhere) and
#     reaches every replica; stock clients spread over all three nodes
#     (libmemcached memccp/memccat, pymemcache HashClient) read back what
#     they wrote through another order; two vsets with the same context
#     through two nodes at once leave two siblings visible from any node;
#     incr/append/add/cas/delete through different nodes see each other's
#     results and flush_all through one node reaches all three;
#     kill -9 of one node: writes still succeed, the node shows down; a key
#     written while it was down is repaired onto it by a read through
#     another node after its restart.
#  B. 5 nodes, N=3: a node outside a key's preference list coordinates its
#     reads and forwards its writes; with a replica down, writes go to a
#     fallback with a
#     hint (hints pending > 0 when members or stats cluster shows hints);
#     after the restart the hints are delivered (pending 0) and the node
#     holds every key, without any read.
#  C. 4 nodes where n3 has the wrong cluster secret and n4 a different
#     --partitions: neither ever becomes up; neither stores keys; the good
#     nodes keep serving.
#  D. 3 nodes, R=3 W=3, one down: "SERVER_ERROR write quorum not reached
#     (<got> of 3)" and "read quorum not reached (<got> of 3)"; <got> is what
#     arrived before the quorum went out of reach (the coordinator fails
#     fast), so 1 or 2. Per-request quorums below the node's (vset W=2,
#     mg a r2, ms Y w1, VGet with R=2) succeed; in B a forwarded vset W=3
#     and md Y w3 (the QUORUM option of FORWARD) succeed.
#  E. 3 nodes --sync=always: kill -9 of a replica during 500 writes loses
#     no acknowledged write, read back through every node.
# Every wait is bounded; every node is killed by its PID (RCTest END).
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use FindBin;
use lib "$FindBin::Bin/lib";
use RCTest;
use RCVersion;
use RCBinary;
use RCCluster;

RCTest::set_timeout($ENV{RC_CLUSTER_TIMEOUT} // 600);
RCCluster::require_member_start();

my $PEER_TIMEOUT = 500;

sub which {
    my ($prog) = @_;
    for my $dir (split /:/, ($ENV{PATH} // '') . ':/usr/bin:/bin') {
        return "$dir/$prog" if $dir ne '' && -x "$dir/$prog";
    }
    return undef;
}

# Waits (up to 10 s) until every node's own replica of $key holds the same
# version. A write is answered after W of N replicas; a check that reads
# one node's own replica (delete's answer, flush_all's reach) first lets
# the last replica catch up. True once settled.
sub settled {
    my ($c, $key) = @_;
    return RCTest::wait_for(sub {
        my %v = map { $_ => $c->local_version($_, $key) // 'undef' } $c->names;
        return !grep({ $_ eq 'undef' } values %v) && keys %{ { reverse %v } } == 1;
    }, 10, 0.05);
}

sub get_value {
    my ($c, $name, $key) = @_;
    my $s = $c->try_sock($name) or return undef;
    return mc_get($s, $key);
}

# ============================================================ A. 3 nodes
{
    my $c = RCCluster::start(nodes => 3, replicas => 3, read_quorum => 2, write_quorum => 2,
        peer_timeout_ms => $PEER_TIMEOUT);
    ok($c->wait_all_up(20), 'A: every node sees both others up within 20 s')
      or BAIL_OUT('cluster never came up');
    for my $n ($c->names) {
        my ($m, $raw) = $c->members($n);
        my @others = grep { $_ ne $n } $c->names;
        is_deeply([ sort keys %{ $m // {} } ], \@others, "A: members through $n lists @others")
          or diag($raw // 'no reply');
        like($raw // '', qr/\A(?:MEMBER \S+ (?:up|down)[^\r\n]*\r\n)+END\r\n\z/,
            "A: members through $n: MEMBER <name> <state> lines, then END");
        # Up means every view of this node reaches the peer: its peer
        # thread's and each worker's (nets_up k/n with k == n >= 2).
        my @partial = grep { ($m->{$_}{nets_up} // '') !~ m{\A(\d+)/\1\z} || $1 < 2 } @others;
        is_deeply(\@partial, [], "A: members through $n: nets_up n/n (n >= 2) for each peer")
          or diag($raw // 'no reply');
    }

    my %hash;
    for my $n ($c->names) {
        my $r = $c->ring($n);
        ok($r, "A: ring through $n") or next;
        $hash{$n} = $r->{hash} // '';
        is(($r->{replicas} // '') . '/' . ($r->{read_quorum} // '') . '/' . ($r->{write_quorum} // ''),
            '3/2/2', "A: ring through $n: N=3 R=2 W=2");
        is_deeply([ map { $_->[0] } @{ $r->{nodes} } ], [qw(n1 n2 n3)], "A: ring through $n names n1 n2 n3");
        is_deeply([ map { $_->[0] } grep { $_->[2] eq 'self' } @{ $r->{nodes} } ], [$n],
            "A: ring through $n marks only $n as self");
    }
    is(scalar(keys %{ { reverse %hash } }), 1, 'A: every node has the same ring hash')
      or diag(explain(\%hash));

    # ---- write through one node, read through every other
    my $s1 = $c->sock('n1');
    is(mc_store($s1, 'set', 'greeting', 'hello cluster', flags => 42), "STORED\r\n",
        'A: set through n1');
    for my $n (qw(n2 n3 n1)) {
        my $s = $c->sock($n);
        is(mc_cmd($s, 'get greeting'), "VALUE greeting 42 13\r\nhello cluster\r\nEND\r\n",
            "A: get through $n returns the value and flags");
    }
    my %ctx;
    for my $n ($c->names) {
        my $s = $c->sock($n);
        my ($raw, $objs) = vget($s, 'greeting');
        my $o = $objs->[0];
        ok($o && $o->{n} == 1 && $o->{sibs}[0]{value} eq 'hello cluster',
            "A: vget through $n shows one sibling with the value") or diag($raw // 'no reply');
        $ctx{$n} = $o ? $o->{ctx} : "none-$n";
    }
    is(scalar(keys %{ { reverse %ctx } }), 1, 'A: vget shows the same context through every node')
      or diag(explain(\%ctx));

    # every replica holds the version (N=3: all three), within a bound
    my %ver;
    my $all = RCTest::wait_for(sub {
        %ver = map { $_ => $c->local_version($_, 'greeting') // 'undef' } $c->names;
        return !grep { $_ eq '-' || $_ eq 'undef' } values %ver;
    }, 10, 0.1);
    ok($all, 'A: ring greeting: every node holds a local version within 10 s')
      or diag(explain(\%ver));
    is(scalar(keys %{ { reverse %ver } }), 1, 'A: the three local versions are equal')
      or diag(explain(\%ver));
    {
        my $k = $c->ring_key('n1', 'greeting');
        my @bad = grep { $_->{version} ne '-' && $_->{version} ne ($ver{ $_->{name} } // '') }
          @{ $k->{replicas} // [] };
        is(scalar(@bad), 0, 'A: ring greeting through n1: any peer version it shows matches the peer')
          or diag($k->{raw});
    }

    # ---- stock clients over all three nodes
    my $servers = join(',', $c->servers);
    my $rservers = join(',', reverse $c->servers);
    SKIP: {
        my @missing = grep { !which($_) } qw(memccp memccat);
        skip "libmemcached-tools missing (@missing)", 4 if @missing;
        my $dir = tempdir('rccluster-cp-XXXXXX', TMPDIR => 1, CLEANUP => 1);
        my @files;
        for my $i (1 .. 6) {
            my $f = "$dir/cfile$i.txt";
            open(my $fh, '>', $f) or die "$f: $!";
            print $fh "file $i through three servers\n" x $i;
            close $fh;
            push @files, $f;
        }
        my ($st, $out) = RCTest::run_capture([ which('memccp'), "--servers=$servers", @files ], 60);
        is($st, 0, 'A: memccp --servers=n1,n2,n3 exit 0') or diag($out);
        my $bad = 0;
        for my $i (1 .. 6) {
            my ($st2, $out2) = RCTest::run_capture(
                [ which('memccat'), "--servers=$rservers", "cfile$i.txt" ], 60);
            $bad++, diag("memccat cfile$i.txt: status " . ($st2 // 'killed') . ": $out2")
              unless defined $st2 && $st2 == 0 && $out2 eq ("file $i through three servers\n" x $i) . "\n";
        }
        is($bad, 0, 'A: memccat --servers=n3,n2,n1 reads every file back');
        my $missing_on = 0;
        for my $n ($c->names) {
            for my $i (1 .. 6) {
                my $v = get_value($c, $n, "cfile$i.txt");
                $missing_on++, diag("cfile$i.txt not readable through $n")
                  unless defined $v && $v eq "file $i through three servers\n" x $i;
            }
        }
        is($missing_on, 0, 'A: every file memccp wrote reads back through every node');
        ok(1, 'A: libmemcached part ran');
    }
    SKIP: {
        my $py = '/usr/bin/python3';
        skip 'python3-pymemcache not installed', 2
          unless -x $py && system("$py -c 'import pymemcache' >/dev/null 2>&1") == 0;
        my $script = <<'PY';
import sys
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
servers = [('127.0.0.1', int(p)) for p in sys.argv[1:]]
def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)
w = HashClient(servers, connect_timeout=5, timeout=10)
for i in range(100):
    if w.set('py:%d' % i, ('value %d' % i).encode(), noreply=False) is not True:
        fail('set py:%d' % i)
w.close()
keys = ['py:%d' % i for i in range(100)]
want = dict((k, ('value %s' % k[3:]).encode()) for k in keys)
r = HashClient(list(reversed(servers)), connect_timeout=5, timeout=10)
got = dict((k, r.get(k)) for k in keys)
bad = [k for k in keys if got.get(k) != want[k]]
if bad:
    fail('reversed HashClient: %d keys wrong, e.g. %s=%r' % (len(bad), bad[0], got.get(bad[0])))
r.close()
for s in servers:
    c = Client(s, connect_timeout=5, timeout=10)
    got = c.get_many(keys)
    bad = [k for k in keys if got.get(k) != want[k]]
    if bad:
        fail('Client(%s): %d keys wrong, e.g. %s=%r' % (s[1], len(bad), bad[0], got.get(bad[0])))
    c.close()
print("ALL OK")
PY
        my ($st, $out) = RCTest::run_capture([ $py, '-c', $script, map { $c->port($_) } $c->names ], 120);
        is($st, 0, 'A: pymemcache script exit 0') or diag($out);
        like($out, qr/ALL OK/,
            'A: pymemcache HashClient over n1,n2,n3 wrote 100 keys; reversed HashClient and each node read them all');
    }

    # ---- two vsets with the same context through two nodes at once
    is(mc_store($s1, 'set', 'cart', 'base'), "STORED\r\n", 'A: set cart through n1');
    my (undef, $objs) = vget($s1, 'cart');
    my $base = $objs->[0] ? $objs->[0]{ctx} : '-';
    {
        my $a = $c->sock('n1');
        my $b = $c->sock('n2');
        mc_send($a, sprintf("vset cart 0 0 %d %s\r\n%s\r\n", length('apple'), $base, 'apple'));
        mc_send($b, sprintf("vset cart 0 0 %d %s\r\n%s\r\n", length('banana'), $base, 'banana'));
        my $ra = read_line($a) // 'timeout';
        my $rb = read_line($b) // 'timeout';
        like($ra, qr/\ASTORED [12] $RCVersion::CTX_RE\r\n\z/, 'A: vset apple through n1 with the base context');
        like($rb, qr/\ASTORED [12] $RCVersion::CTX_RE\r\n\z/, 'A: vset banana through n2 with the same context');
    }
    for my $n ($c->names) {
        my ($raw, $o) = vget($c->sock($n), 'cart');
        my @vals = sort map { $_->{value} } @{ $o->[0]{sibs} // [] };
        is_deeply(\@vals, [qw(apple banana)], "A: vget cart through $n shows both siblings")
          or diag($raw // 'no reply');
    }

    # ---- commands through different nodes see each other (section 9)
    {
        my ($a, $b, $d) = map { $c->sock($_) } qw(n1 n2 n3);
        is(mc_store($a, 'set', 'cnt', '10'), "STORED\r\n", 'A: set cnt 10 through n1');
        is(mc_cmd($b, 'incr cnt 5'), "15\r\n", 'A: incr 5 through n2: 15');
        is(mc_cmd($d, 'incr cnt 5'), "20\r\n", 'A: incr 5 through n3 sees it: 20');
        is(mc_store($d, 'append', 'cnt', 'x'), "STORED\r\n", 'A: append through n3');
        is(mc_get($a, 'cnt'), '20x', 'A: get through n1: 20x');
        is(mc_store($b, 'add', 'cnt', 'y'), "NOT_STORED\r\n", 'A: add of an existing key through n2: NOT_STORED');
        my (undef, undef, $cas) = mc_gets($a, 'cnt');
        is(mc_store($d, 'cas', 'cnt', 'z', cas => $cas // 0), "STORED\r\n", 'A: cas through n3 with the cas n1 gave');
        is(mc_store($b, 'cas', 'cnt', 'w', cas => $cas // 0), "EXISTS\r\n", 'A: the same cas through n2 again: EXISTS');
        is(mc_get($b, 'cnt'), 'z', 'A: get through n2: z');
        is(mc_cmd($b, 'delete cnt'), "DELETED\r\n", 'A: delete through n2');
        is(mc_cmd($d, 'get cnt'), "END\r\n", 'A: get through n3: gone');
        # delete answers from the coordinator's own replica (replication.txt 9)
        ok(settled($c, 'cnt'), 'A: the tombstone reached every replica');
        is(mc_cmd($a, 'delete cnt'), "NOT_FOUND\r\n", 'A: delete again through n1: NOT_FOUND');
        # binary and meta protocols, across nodes (binary on fresh
        # connections: the protocol is chosen by a connection's first byte)
        my $ba = $c->sock('n1');
        my $bd = $c->sock('n3');
        my $r = bin_cmd($ba, op => BIN_SET, key => 'bk', value => 'binary value',
            extras => bin_set_extras(9, 0));
        is($r && $r->{status}, 0, 'A: binary set through n1');
        $r = bin_cmd($bd, op => BIN_GET, key => 'bk');
        ok($r && $r->{status} == 0 && $r->{value} eq 'binary value' && unpack('N', $r->{extras}) == 9,
            'A: binary get through n3 returns the value and flags');
        is(mc_cmd($b, 'mn'), "MN\r\n", 'A: meta no-op through n2');
        mc_send($b, "mg bk v f\r\n");
        is(read_line($b) // '', "VA 12 f9\r\n", 'A: mg through n2: VA 12 f9');
        is(read_line($b) // '', "binary value\r\n", 'A: mg through n2: the value');
        is(mc_store($a, 'set', 'fl', 'x'), "STORED\r\n", 'A: set fl through n1');
        # a PUT still on its way when the FLUSH arrives survives it (9)
        ok(settled($c, 'fl'), 'A: fl reached every replica before the flush');
        is(mc_cmd($b, 'flush_all'), "OK\r\n", 'A: flush_all through n2');
        is(mc_cmd($d, 'get fl'), "END\r\n", 'A: flush_all reached n3');
        is(mc_cmd($a, 'get fl'), "END\r\n", 'A: flush_all reached n1');
    }

    # ---- kill -9 one node: writes still succeed with W=2
    $c->kill9('n3');
    my $fails = 0;
    my $t0 = time;
    for my $i (1 .. 20) {
        my $r = mc_store($s1, 'set', "down$i", "while n3 was down $i") // 'timeout';
        $fails++, diag("set down$i through n1: $r") if $r ne "STORED\r\n";
    }
    is($fails, 0, 'A: n3 killed: 20 sets through n1 all STORED (W=2)');
    diag(sprintf('A: 20 sets with n3 down took %.2f s', time - $t0));
    ok($c->wait_state('n1', 'n3', 'down', 10), 'A: members through n1 shows n3 down within 10 s');
    my $n2bad = grep { (get_value($c, 'n2', "down$_") // '') ne "while n3 was down $_" } 1 .. 20;
    is($n2bad, 0, 'A: every key written with n3 down reads back through n2');
    my $pending = $c->hints_pending('n1', 'n3');
    note('A: hints pending on n1 for n3 (no fallback exists with N = nodes): '
        . ($pending // 'not shown'));

    # ---- read repair of the stale replica
    $c->restart('n3');
    ok($c->wait_all_up(20), 'A: n3 restarted on its ports; all up again within 20 s');
    my $stale = $c->local_version('n3', 'down1');
    my $good = $c->local_version('n1', 'down1');
    note("A: down1 before the read: n3 has " . ($stale // 'undef') . ", n1 has " . ($good // 'undef'));
    SKIP: {
        skip 'n3 already holds down1 after its restart (no stale replica to repair)', 3
          if defined $stale && defined $good && $stale eq $good;
        is(get_value($c, 'n2', 'down1'), 'while n3 was down 1', 'A: read down1 through n2');
        my $fixed = RCTest::wait_for(sub {
            ($c->local_version('n3', 'down1') // '') eq ($good // 'x')
        }, 10, 0.1);
        ok($fixed, 'A: read repair: n3 holds the version n1 has within 10 s')
          or diag('n3: ' . ($c->ring_key('n3', 'down1') // {})->{raw} . 'n1: '
              . ($c->ring_key('n1', 'down1') // {})->{raw});
        is(get_value($c, 'n3', 'down1'), 'while n3 was down 1', 'A: and reads back through n3');
    }
    $c->shutdown;
}

# ============================================================ B. 5 nodes, hints
{
    my $c = RCCluster::start(nodes => 5, replicas => 3, read_quorum => 2, write_quorum => 2,
        peer_timeout_ms => $PEER_TIMEOUT);
    ok($c->wait_all_up(20), 'B: 5 nodes all up within 20 s');
    my @keys;
    for my $i (1 .. 400) {
        last if @keys >= 30;
        my @pl = $c->preflist('n1', "hk$i");
        push @keys, "hk$i" if grep { $_ eq 'n5' } @pl;
    }
    is(scalar(@keys), 30, 'B: 30 keys with n5 in their preference list');

    # A write at a node outside the key's preference list is forwarded.
    my @fkeys;
    for my $i (1 .. 400) {
        last if @fkeys >= 10;
        my @pl = $c->preflist('n1', "fk$i");
        push @fkeys, "fk$i" unless grep { $_ eq 'n1' } @pl;
    }
    my $s1 = $c->sock('n1');
    my $wbad = 0;
    for my $k (@fkeys) {
        my ($owner) = $c->preflist('n1', $k);
        my $r = mc_store($c->sock($owner), 'set', $k, "own $k") // 'timeout';
        $wbad++, diag("set $k through its owner $owner: $r") if $r ne "STORED\r\n";
    }
    is($wbad, 0, 'B: 10 sets of keys n1 does not replicate, through their owners');
    my $rbad1 = grep { (get_value($c, 'n1', $_) // '') ne "own $_" } @fkeys;
    is($rbad1, 0, 'B: they read back through n1 (a non-member coordinates the read)');
    my @fbad;
    for my $k (@fkeys) {
        my $r = mc_store($s1, 'set', $k, "fwd $k") // 'timeout';
        push @fbad, "set $k (preference list " . join(' ', $c->preflist('n1', $k)) . ") through n1: $r"
          if $r ne "STORED\r\n";
    }
    is(scalar(@fbad), 0, 'B: all up: 10 sets through n1 of keys it does not replicate (forwarded) STORED')
      or diag(join('', @fbad[0 .. ($#fbad < 4 ? $#fbad : 4)]));
    my $fread = grep { (get_value($c, 'n1', $_) // '') ne "fwd $_" } @fkeys;
    is($fread, 0, 'B: and the forwarded values read back through n1');
    # per-request W rides the FORWARD (PP.10.1 QUORUM option)
    mc_send($s1, "vset $fkeys[0] 0 0 3 - W=3\r\nw=3\r\n");
    like(read_line($s1) // 'timeout', qr/\ASTORED \d+ $RCVersion::CTX_RE\r\n\z/,
        'B: a forwarded vset with W=3 (all up) STORED');
    like(meta_line($s1, "md $fkeys[1] Y- w3 a") // 'timeout', qr/\AHD a\d+\r\n\z/,
        'B: a forwarded md Y- w3 (all up): HD');

    $c->kill9('n5');
    my $fails = 0;
    for my $k (@keys) {
        # through a live member, so the hints are tested apart from forwarding
        my ($via) = grep { $_ ne 'n5' } $c->preflist('n1', $k);
        my $s = $c->sock($via);
        my $r = mc_store($s, 'set', $k, "hinted $k") // 'timeout';
        $fails++, diag("set $k through $via with n5 down: $r") if $r ne "STORED\r\n";
    }
    is($fails, 0, 'B: n5 killed: every write to its keys (through a live member) STORED (sloppy quorum)');
    my @fb = grep { my $k = $_; !grep { $_ eq 'n1' } $c->preflist('n1', $k) } @keys;
    my $ffails = 0;
    for my $k (@fb[0 .. ($#fb < 4 ? $#fb : 4)]) {
        my $r = mc_store($s1, 'set', $k, "hinted $k") // 'timeout';
        $ffails++, diag("set $k through n1 (forwarded) with n5 down: $r") if $r ne "STORED\r\n";
    }
    is($ffails, 0, 'B: n5 killed: forwarded writes of its keys through n1 STORED too');
    ok($c->wait_state('n1', 'n5', 'down', 10), 'B: members through n1 shows n5 down');
    my @holders = qw(n1 n2 n3 n4);
    my @shown = grep { defined } map { $c->hints_pending($_, 'n5') } @holders;
    SKIP: {
        skip 'neither members nor stats cluster shows hints pending', 3 unless @shown;
        my $sum = 0;
        $sum += $_ for @shown;
        ok($sum > 0, "B: hints pending for n5 on the fallbacks: $sum");
        $c->restart('n5');
        ok($c->wait_all_up(20), 'B: n5 restarted; all up within 20 s');
        my $left;
        my $done = RCTest::wait_for(sub {
            $left = 0;
            $left += ($c->hints_pending($_, 'n5') // 0) for @holders;
            return $left == 0;
        }, 30, 0.2);
        ok($done, 'B: hints delivered within 30 s (pending 0)') or diag("still pending: $left");
    }
    $c->restart('n5') unless $c->alive('n5');
    $c->wait_all_up(20);
    my @missing;
    my $ok = RCTest::wait_for(sub {
        @missing = grep {
            my $k = $_;
            my $v5 = $c->local_version('n5', $k) // '-';
            my @others = grep { $_ ne 'n5' } $c->preflist('n1', $k);
            my $vo = $c->local_version($others[0], $k) // 'x';
            $v5 eq '-' || $v5 ne $vo;
        } @keys;
        return !@missing;
    }, 30, 0.5);
    ok($ok, 'B: n5 holds the same version as the other replicas for all 30 keys (no read needed)')
      or diag(scalar(@missing) . " keys missing on n5, e.g. $missing[0]: "
          . ($c->ring_key('n5', $missing[0]) // {})->{raw});
    my $rbad = grep { (get_value($c, 'n5', $_) // '') ne "hinted $_" } @keys;
    is($rbad, 0, 'B: every key reads back through n5');
    $c->shutdown;
}

# ============================================================ C. refused nodes
{
    my $c = RCCluster::start(nodes => 4, replicas => 3, read_quorum => 2, write_quorum => 2,
        partitions => 1024, peer_timeout_ms => $PEER_TIMEOUT,
        secret => { n3 => RCCluster::random_secret() },
        node_args => { n4 => [ '--partitions', 512 ] });
    ok($c->wait_all_up(20, 'n1', 'n2'), 'C: n1 and n2 see each other up');
    # Give the bad nodes every chance: several probe rounds.
    my $ever_up = 0;
    my $deadline = time + 4;
    while (time < $deadline) {
        for my $n (qw(n1 n2)) {
            my ($m) = $c->members($n);
            for my $bad (qw(n3 n4)) {
                $ever_up++ if $m && $m->{$bad} && $m->{$bad}{state} eq 'up';
            }
        }
        for my $bad (qw(n3 n4)) {
            my ($m) = $c->members($bad);
            $ever_up++ if $m && grep { $_->{state} eq 'up' } values %$m;
        }
        sleep 0.25;
    }
    is($ever_up, 0, 'C: n3 (wrong secret) and n4 (other --partitions) never shown up by anyone in 4 s');
    my ($m1, $raw1) = $c->members('n1');
    like($raw1 // '', qr/^MEMBER n3 down/m, 'C: members through n1: n3 down');
    like($raw1 // '', qr/^MEMBER n4 down/m, 'C: members through n1: n4 down');
    my $st = $c->stats_cluster('n1');
    my @auth = grep { /auth/ } keys %$st;
    SKIP: {
        skip 'stats cluster shows no auth failure counter', 1 unless @auth;
        my $sum = 0;
        $sum += $st->{$_} =~ /^\d+$/ ? $st->{$_} : 0 for @auth;
        ok($sum > 0, "C: stats cluster counts authentication failures (@auth = $sum)");
    }
    my @rm = grep { /ring_mismatch/ } keys %$st;
    SKIP: {
        skip 'stats cluster shows no ring mismatch counter', 1 unless @rm;
        my $sum = 0;
        $sum += $st->{$_} =~ /^\d+$/ ? $st->{$_} : 0 for @rm;
        ok($sum > 0, "C: stats cluster counts ring mismatches (@rm = $sum)");
    }
    like($c->log_text('n1'), qr/auth\w*\W.*fail|fail\w*\W.*auth/i, 'C: n1 logs the failed authentication');
    like($c->log_text('n1'), qr/ring\W+mismatch.*n4/i, 'C: n1 logs the ring mismatch with n4');
    isnt(($c->ring('n4') // {})->{hash}, ($c->ring('n1') // {})->{hash}, 'C: n4 computes another ring hash');

    my @keys;
    for my $i (1 .. 200) {
        last if @keys >= 10;
        my @pl = $c->preflist('n1', "ck$i");
        push @keys, "ck$i" if (grep { $_ eq 'n3' } @pl) && (grep { $_ eq 'n1' || $_ eq 'n2' } @pl) == 2;
    }
    my $fails = 0;
    my $s = $c->sock('n1');
    for my $k (@keys) {
        my $r = mc_store($s, 'set', $k, "v $k") // 'timeout';
        $fails++, diag("set $k through n1: $r") if $r ne "STORED\r\n";
    }
    is($fails, 0, 'C: writes through n1 succeed with n1 and n2 (' . scalar(@keys) . ' keys)');
    my @leak = grep { ($c->local_version('n3', $_) // '-') ne '-' } @keys;
    is(scalar(@leak), 0, 'C: n3 (refused) stores none of the keys in its preference list')
      or diag("n3 holds @leak");
    $c->shutdown;
}

# ============================================================ D. R=3 W=3
{
    my $c = RCCluster::start(nodes => 3, replicas => 3, read_quorum => 3, write_quorum => 3,
        peer_timeout_ms => $PEER_TIMEOUT);
    ok($c->wait_all_up(20), 'D: R=3 W=3 cluster up');
    my $s = $c->sock('n1');
    is(mc_store($s, 'set', 'q1', 'all three'), "STORED\r\n", 'D: set with all three up');
    is(mc_get($s, 'q1'), 'all three', 'D: get with all three up');
    $c->kill9('n3');
    my $t0 = time;
    my $r = mc_store($s, 'set', 'q2', 'two of three') // 'timeout';
    my $took = time - $t0;
    # The count is what arrived before W went out of reach (the coordinator
    # fails as soon as it cannot reach W): 1 or 2 of 3.
    like($r, qr/\ASERVER_ERROR write quorum not reached \([12] of 3\)\r\n\z/,
        'D: n3 down, W=3: SERVER_ERROR write quorum not reached (<got> of 3)');
    note("D: write reply: $r");
    ok($took < 10, sprintf('D: the write error came in %.2f s', $took));
    $r = mc_cmd($s, 'get q1') // 'timeout';
    like($r, qr/\ASERVER_ERROR read quorum not reached \([12] of 3\)\r\n\z/,
        'D: n3 down, R=3: SERVER_ERROR read quorum not reached (<got> of 3)');
    note("D: read reply: $r");
    my $bs = $c->sock('n1');
    my $br = bin_cmd($bs, op => BIN_SET, key => 'q3', value => 'bin', extras => bin_set_extras(0, 0));
    ok($br && $br->{status} == 0x86 && $br->{value} =~ /write quorum not reached/,
        'D: binary set: status 0x0086 with the write quorum text')
      or diag(explain($br));
    $br = bin_cmd($bs, op => BIN_GET, key => 'q1');
    ok($br && $br->{status} == 0x86 && $br->{value} =~ /read quorum not reached/,
        'D: binary get: status 0x0086 with the read quorum text')
      or diag(explain($br));
    # per-request R and W of the extension (section 5): below the node's
    mc_send($s, "mn\r\n");
    read_until($s, qr/^MN\r\n/m); # resynchronise after the failed get
    my $vr = vset($s, 'q6', 'w three', '-') // 'timeout';
    like($vr, qr/\ASERVER_ERROR write quorum not reached \([12] of 3\)\r\n\z/,
        'D: n3 down: vset with the node\'s W=3 fails');
    mc_send($s, "vset q4 0 0 5 - W=2\r\nw two\r\n");
    like(read_line($s) // 'timeout', qr/\ASTORED 1 $RCVersion::CTX_RE\r\n\z/,
        'D: n3 down: vset q4 with W=2 STORED');
    like(meta_a($s, 'mg q4 a r2 v') // 'timeout', qr/\AVS 1 a1\r\nVA 5\r\nw two\r\n\z/,
        'D: n3 down: mg q4 a r2 reads it');
    like(meta_a($s, 'mg q4 a v') // 'timeout', qr/\ASERVER_ERROR read quorum not reached/,
        'D: n3 down: mg q4 a without r: the node\'s R=3 fails');
    like(meta_line($s, 'ms q5 2 Y- w1', 'w1') // 'timeout', qr/\AHD\r\n\z/,
        'D: n3 down: ms Y- w1 HD');
    $br = bin_cmd($bs, op => BIN_VGET, key => 'q4', extras => pack('C', 2));
    ok($br && $br->{status} == 0, 'D: n3 down: binary VGet with R=2 in its extras byte: OK')
      or diag(explain($br));
    my $later = RCTest::wait_for(sub { ($c->local_version('n2', 'q2') // '-') ne '-' }, 3, 0.1);
    note('D: the failed write ' . ($later ? 'reached' : 'did not reach') . ' n2 (never rolled back)');
    $c->shutdown;
}

# ============================================================ E. kill -9 under writes
{
    my $c = RCCluster::start(nodes => 3, replicas => 3, read_quorum => 2, write_quorum => 2,
        peer_timeout_ms => 5000, sync => 'always');
    ok($c->wait_all_up(20), 'E: --sync=always cluster up');
    my $dir = tempdir('rccluster-e-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $log = "$dir/acks";
    my $port = $c->port('n1');
    my $value = sub { my ($i) = @_; return "acked-$i:" . ('x' x (10 + $i % 90)) };
    my $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open(my $fh, '>>', $log) or POSIX::_exit(2);
        my $s = $c->try_sock('n1') or POSIX::_exit(3);
        my $deadline = time + 120;
        for my $i (1 .. 500) {
            last if time > $deadline;
            syswrite($fh, "S e$i\n");
            my $r = mc_store($s, 'set', "e$i", $value->($i));
            if (!defined $r) {
                syswrite($fh, "X e$i timeout\n");
                $s = $c->try_sock('n1') or POSIX::_exit(4);
                next;
            }
            if ($r eq "STORED\r\n") { syswrite($fh, "A e$i\n") }
            else { $r =~ s/\r\n//; syswrite($fh, "N e$i $r\n") }
        }
        POSIX::_exit(0);
    }
    my $killed = RCTest::wait_for(sub {
        open(my $fh, '<', $log) or return 0;
        my $n = grep { /^A / } <$fh>;
        return $n >= 150;
    }, 60, 0.01);
    ok($killed, 'E: 150 writes acknowledged before the kill');
    $c->kill9('n3');
    note('E: n3 killed after ' . (() = do { open(my $f, '<', $log); <$f> }) . ' log lines');
    my $end = time + 150;
    my $done = 0;
    while (time < $end) {
        if (waitpid($pid, WNOHANG) == $pid) { $done = 1; last }
        sleep 0.05;
    }
    if (!$done) { kill 'KILL', $pid; waitpid($pid, 0) }
    ok($done, 'E: the writer finished its 500 writes with n3 down');
    my (%acked, @nacks);
    open(my $fh, '<', $log) or die "$log: $!";
    while (my $l = <$fh>) {
        $acked{$1} = 1 if $l =~ /^A (e\d+)$/;
        push @nacks, $l if $l =~ /^[NX] /;
    }
    close $fh;
    my $n = keys %acked;
    ok($n >= 450, "E: $n of 500 writes acknowledged (at most a few lost to the kill)")
      or diag(join('', @nacks[0 .. ($#nacks < 9 ? $#nacks : 9)]),
        map { "${_}'s log:\n" . $c->log_text($_) } qw(n1 n2));
    diag("E: not acknowledged: " . join('', @nacks)) if @nacks && @nacks <= 10;
    $c->restart('n3');
    ok($c->wait_all_up(20), 'E: n3 restarted; all up');
    for my $node ($c->names) {
        my $s = $c->sock($node);
        my ($missing, $wrong) = (0, 0);
        my @keys = sort keys %acked;
        while (my @chunk = splice(@keys, 0, 50)) {
            my $it = RCTest::mc_items($s, 'get ' . join(' ', @chunk));
            if (!$it) { $missing += @chunk; next }
            for my $k (@chunk) {
                my ($i) = $k =~ /(\d+)/;
                if (!$it->{$k}) { diag("E: acknowledged $k missing through $node") if $missing++ < 5 }
                elsif ($it->{$k}{value} ne $value->($i)) { diag("E: $k wrong through $node") if $wrong++ < 5 }
            }
        }
        is($missing + $wrong, 0, "E: every acknowledged key reads back with its value through $node");
    }

    # E2: kill -9 the node the client writes through (the coordinator of
    # every write: with N = nodes it is a replica of every key). Each
    # acknowledged write was on W = 2 nodes, so the others still have it.
    my $log2 = "$dir/acks2";
    $pid = fork() // die "fork: $!";
    if ($pid == 0) {
        open(my $fh, '>>', $log2) or POSIX::_exit(2);
        my $s = $c->try_sock('n1') or POSIX::_exit(3);
        for my $i (1 .. 2000) {
            my $r = mc_store($s, 'set', "f$i", $value->($i));
            last unless defined $r && $r eq "STORED\r\n";
            syswrite($fh, "A f$i\n");
        }
        POSIX::_exit(0);
    }
    RCTest::wait_for(sub {
        open(my $fh, '<', $log2) or return 0;
        my $n = grep { /^A / } <$fh>;
        return $n >= 200;
    }, 60, 0.01);
    $c->kill9('n1');
    $end = time + 30;
    $done = 0;
    while (time < $end) {
        if (waitpid($pid, WNOHANG) == $pid) { $done = 1; last }
        sleep 0.05;
    }
    if (!$done) { kill 'KILL', $pid; waitpid($pid, 0) }
    ok($done, 'E2: the writer stopped by itself once n1 was killed');
    my %acked2;
    open($fh, '<', $log2) or die "$log2: $!";
    while (my $l = <$fh>) { $acked2{$1} = 1 if $l =~ /^A (f\d+)$/ }
    close $fh;
    ok(keys(%acked2) >= 200 && keys(%acked2) < 2000,
        'E2: ' . scalar(keys %acked2) . ' writes acknowledged before n1 was killed mid-run');
    my $check = sub {
        my ($node, $label) = @_;
        my $s = $c->sock($node);
        my ($missing, $wrong) = (0, 0);
        my @keys = sort keys %acked2;
        while (my @chunk = splice(@keys, 0, 50)) {
            my $it = RCTest::mc_items($s, 'get ' . join(' ', @chunk));
            if (!$it) { $missing += @chunk; diag("E2: get through $node failed"); next }
            for my $k (@chunk) {
                my ($i) = $k =~ /(\d+)/;
                if (!$it->{$k}) { diag("E2: acknowledged $k missing through $node") if $missing++ < 5 }
                elsif ($it->{$k}{value} ne $value->($i)) { diag("E2: $k wrong through $node") if $wrong++ < 5 }
            }
        }
        is($missing + $wrong, 0, "E2: every acknowledged key reads back through $node $label");
    };
    $check->($_, '(n1 down)') for qw(n2 n3);
    $c->restart('n1');
    ok($c->wait_all_up(20), 'E2: n1 restarted; all up');
    $check->('n1', '(after its restart)');
    $c->shutdown;
}

done_testing();
