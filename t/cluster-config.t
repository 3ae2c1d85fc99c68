#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# cluster-config.t: the cluster options and the ring admin command on a single
# node (doc/replication.txt sections 2, 3, 12). A node alone is a ring of one:
# "ring" prints RING/NODE lines and END, "ring <key>" the key's partition (the
# top log2(Q) bits of hash_key64, checked here against an independent Perl
# computation) and its preference list with this node's version of the key;
# both are stable across calls and restarts; bad usage is a CLIENT_ERROR.
# "stats settings" shows the cluster settings. Refused at start, with a
# message: --partitions 3, --peers without --peer-listen, a bad secret file,
# and (status 1) any valid --peers, as clustering is not available yet.
# ringcached only.
#
# Until the text codec parses a top-level "ring", the command is reached as
# "stats ring [<key>]" and the top-level spelling is a TODO test; once it
# parses, the test checks both agree and uses "ring" from then on. Binary
# "stats ring" answers the text as one stat's value.
use strict;
use warnings;
use Test::More;
use Math::BigInt;
use RCTest;
use RCBinary;

RCTest::ringcached_only();
RCTest::set_timeout(90);

my $bin = RCTest::server_bin();
my @user = $> == 0 ? ('-u', 'root') : ();

# ------------------------------------------------------------ helpers

# hash_key64 (FNV-1a 64, then the fmix64 finaliser) and the partition of a
# key in a ring of $q partitions, computed independently of the daemon.
my $M64 = Math::BigInt->new(2)->bpow(64)->bsub(1);
sub mul64 { my ($a, $b) = @_; return $a->copy->bmul($b)->band($M64) }
sub hash_key64 {
    my ($key) = @_;
    my $h = Math::BigInt->from_hex('cbf29ce484222325');
    my $prime = Math::BigInt->from_hex('100000001b3');
    for my $byte (unpack('C*', $key)) {
        $h = mul64($h->bxor(Math::BigInt->new($byte)), $prime);
    }
    $h = $h->bxor($h->copy->brsft(33));
    $h = mul64($h, Math::BigInt->from_hex('ff51afd7ed558ccd'));
    $h = $h->bxor($h->copy->brsft(33));
    $h = mul64($h, Math::BigInt->from_hex('c4ceb9fe1a85ec53'));
    $h = $h->bxor($h->copy->brsft(33));
    return $h;
}
sub key_partition {
    my ($q, $key) = @_;
    my $bits = 0;
    $bits++ while (1 << $bits) < $q;
    return 0 if $bits == 0;
    return hash_key64($key)->brsft(64 - $bits)->numify;
}
is(key_partition(1024, 'foo'), 702, 'the Perl partition rule matches the known answer (foo)');
is(key_partition(65536, 'user:1000'), 29180, 'and another (user:1000, Q 65536)');

# The ring command: multi-line replies end with END; errors are one line.
my $RING = 'stats ring';    # until the text codec parses "ring"
sub ring_cmd {
    my ($s, $args, $cmd) = @_;
    $cmd //= $RING;
    my $line = $cmd . (length($args // '') ? " $args" : '');
    mc_send($s, "$line\r\n") or return undef;
    return read_until($s, qr/^(?:END|ERROR|CLIENT_ERROR[^\r\n]*|SERVER_ERROR[^\r\n]*)\r\n/m);
}

# ------------------------------------------------------------ a default node
{
    my $srv = RCTest::start();
    my $s = $srv->sock;
    my $set = mem_stats($s, 'settings');
    my $name = $set->{node_name};
    ok(defined $name && length $name, "node name from stats settings: " . ($name // 'undef'));

    my $top = ring_cmd($s, '', 'ring');
    TODO: {
        local $TODO = 'the text codec does not parse a top-level "ring" yet'
          if defined $top && $top eq "ERROR\r\n";
        like($top, qr/\ARING partitions 1024 /, 'top-level "ring" answers the ring');
    }
    if (defined $top && $top =~ /\ARING /) {
        is($top, ring_cmd($s), 'top-level "ring" and "stats ring" answer the same');
        $RING = 'ring';    # the rest of the test uses the top-level command
    }

    my $ring = ring_cmd($s);
    my $want = '\ARING partitions 1024 replicas 1 read_quorum 1 write_quorum 1 '
      . 'hash [0-9a-f]{16}\r\n' . "NODE \Q$name\E partitions 1024 self" . '\r\nEND\r\n\z';
    like($ring, qr/$want/, 'ring: defaults, a ring of one (N, R, W of 1)') or diag($ring);
    my ($hash) = ($ring // '') =~ /hash ([0-9a-f]{16})/;
    is($set->{ring_hash}, $hash, 'stats settings ring_hash is the ring hash');
    my %want = (peer_listen => 'NULL', peers => 0, replicas => 1, read_quorum => 1,
        write_quorum => 1, partitions => 1024, peer_timeout_ms => 500,
        hint_max_bytes => 1073741824, hint_max_age => 259200, hint_rate => 1000);
    for my $k (sort keys %want) {
        is($set->{$k}, $want{$k}, "stats settings $k: $want{$k}");
    }
    $srv->stop;
}

# ------------------------------------------------------------ options honoured
my $srv = RCTest::start(rc_args => ['--name', 'solo-1', '--partitions', '64', '--replicas', '3',
    '--read-quorum', '3', '--write-quorum', '2', '--peer-timeout-ms', '250',
    '--hint-max-bytes', '2m', '--hint-max-age', '600', '--hint-rate', '5']);
my $s = $srv->sock;

my $ring = ring_cmd($s);
my $want = '\ARING partitions 64 replicas 1 read_quorum 1 write_quorum 1 '
  . 'hash [0-9a-f]{16}\r\nNODE solo-1 partitions 64 self\r\nEND\r\n\z';
like($ring, qr/$want/, 'ring: --partitions 64 and --name; alone, N, R and W are 1')
  or diag($ring);
my ($hash1) = ($ring // '') =~ /hash ([0-9a-f]{16})/;
is(ring_cmd($s), $ring, 'ring: the same on a second call');

my $set = mem_stats($s, 'settings');
is($set->{partitions}, 64, 'stats settings partitions 64');
is($set->{peer_timeout_ms}, 250, 'stats settings peer_timeout_ms 250');
is($set->{hint_max_bytes}, 2097152, 'stats settings hint_max_bytes 2m');
is($set->{hint_max_age}, 600, 'stats settings hint_max_age 600');
is($set->{hint_rate}, 5, 'stats settings hint_rate 5');
is($set->{ring_hash}, $hash1, 'stats settings ring_hash');

# ring <key>
my @keys = ('foo', 'a', 'user:1000', 'ringcached', 'k' x 250, "caf\xc3\xa9");
my %part;
for my $key (@keys) {
    my $label = length $key > 20 ? substr($key, 0, 10) . '...' : $key;
    my $r = ring_cmd($s, $key);
    my ($p) = ($r // '') =~ /\AKEY \Q$key\E partition (\d+)\r\n/;
    like($r, qr/\AKEY \Q$key\E partition \d+\r\nREPLICA 0 solo-1 version -\r\nEND\r\n\z/,
        "ring $label: one replica, absent here") or diag($r);
    ok(defined $p && $p < 64, "ring $label: partition within 0..63");
    is($p, key_partition(64, $key), "ring $label: the top 6 bits of hash_key64");
    is(ring_cmd($s, $key), $r, "ring $label: stable across calls");
    $part{$key} = $p;
}

# This node's version of a key is its cas (as gets shows it).
is(mc_store($s, 'set', 'foo', 'bar'), "STORED\r\n", 'set foo');
my (undef, undef, $cas) = mc_gets($s, 'foo');
my $r = ring_cmd($s, 'foo');
like($r, qr/^REPLICA 0 solo-1 version (\d+)\r\n/m, 'ring foo: a version once stored');
my ($ver) = ($r // '') =~ /version (\d+)/;
is($ver, $cas, 'ring foo: the version is the cas gets reports');
my (undef, undef, $cas2) = mc_gets($s, 'foo');
is($cas2, $cas, 'ring <key> changed nothing (same cas after)');

# Bad usage.
is(ring_cmd($s, 'a b'), "CLIENT_ERROR usage: ring [<key>]\r\n", 'ring with two keys');
is(ring_cmd($s, 'k' x 251), "CLIENT_ERROR usage: ring [<key>]\r\n", 'ring with a 251-byte key');
is(ring_cmd($s, '', 'stats ringx'), "ERROR\r\n", 'stats ringx is not ring');
like(mc_cmd($s, 'version'), qr/^VERSION /, 'the connection still works');

# Binary: stats ring answers the same text as the value of one stat "ring".
for my $key ('', 'foo') {
    my $bs = $srv->sock;
    mc_send($bs, bin_packet(op => BIN_STAT, key => length $key ? "ring $key" : 'ring',
        opaque => 77));
    my @pk;
    while (my $p = bin_read($bs)) { push @pk, $p; last if !$p->{bodylen} || @pk > 3 }
    is(scalar @pk, 2, "binary stats ring $key: one stat and the terminator");
    is($pk[0]{key}, 'ring', "binary stats ring $key: the stat is named ring");
    is($pk[0]{value}, ring_cmd($s, $key) =~ s/END\r\n\z//r,
        "binary stats ring $key: the text reply without END");
    close $bs;
}

# Stable across a restart.
close $s;
$srv->restart;
$s = $srv->sock;
is(ring_cmd($s), $ring, 'ring: the same after a restart');
for my $key (@keys) {
    my ($p) = (ring_cmd($s, $key) // '') =~ /partition (\d+)/;
    is($p, $part{$key}, 'ring ' . substr($key, 0, 10) . ': same partition after a restart');
}
like(ring_cmd($s, 'foo'), qr/version \Q$cas\E\r\n/, 'ring foo: same version after a restart');
close $s;
$srv->stop;

# ------------------------------------------------------------ refused at start
my $tmp = $srv->tmpdir;
my $n = 0;
sub start_argv {
    $n++;
    return ($bin, @user, '-l', '127.0.0.1', '-p', '0', '--port-file', "$tmp/rp$n",
        '--data-dir', "$tmp/rd$n", @_);
}
sub write_secret {
    my ($path, $text, $mode) = @_;
    open(my $fh, '>', $path) or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod $mode, $path;
    return $path;
}
my $good = write_secret("$tmp/secret", ('s' x 40) . "\n", 0600);
my $short = write_secret("$tmp/short", ('s' x 31) . "  \n", 0600);

my @refusals = (
    [ ['--partitions', '3'], qr/--partitions: partitions must be a power of two from 1 to 65536/,
      '--partitions 3' ],
    [ ['--name', 'a', '--peers', 'b=127.0.0.1:1', '--cluster-secret-file', $good],
      qr/--peers: requires --peer-listen HOST:PORT/, '--peers without --peer-listen' ],
    [ ['--name', 'a', '--peers', 'b=127.0.0.1:1', '--peer-listen', '127.0.0.1:0'],
      qr/--peers: requires --cluster-secret-file FILE/, '--peers without a secret file' ],
    [ ['--cluster-secret-file', $short],
      qr/--cluster-secret-file: the secret in '\Q$short\E' is too short: its first line has 31 bytes, at least 32/,
      'a 31-byte secret' ],
    [ ['--cluster-secret-file', "$tmp/no-such-secret"],
      qr/--cluster-secret-file: cannot read '\Q$tmp\E\/no-such-secret'/, 'a missing secret file' ],
    [ ['--name', 'a', '--peers', 'a=127.0.0.1:1', '--peer-listen', '127.0.0.1:0',
       '--cluster-secret-file', $good], qr/--peers: 'a' is this node's own name/,
      'a peer named like this node' ],
    [ ['--peers', 'b=[::1:7000'], qr/--peers: expected \[IPV6\]:PORT/, 'a bad peer address' ],
);
for my $case (@refusals) {
    my ($args, $re, $what) = @$case;
    my ($st, $out) = RCTest::run_capture([ start_argv(@$args) ], 10);
    is($st, 64, "$what: refused with status 64") or diag($out);
    like($out, $re, "$what: the message says why");
}

# A valid cluster configuration starts (its peers are simply down), from
# the command line and from a configuration file.
my $csrv = RCTest::start(rc_args => ['--name', 'node-a', '--peer-listen', '127.0.0.1:0',
    '--peers', 'node-b=127.0.0.1:1,node-c=[::1]:1', '--cluster-secret-file', $good]);
like(ring_cmd($csrv->sock), qr/\ARING partitions 1024 replicas 3 read_quorum 2 write_quorum 2 /,
    'valid --peers: the node starts with a ring of three');
my $members = ring_cmd($csrv->sock, '', 'members');
like($members, qr/^MEMBER node-b down /m, 'valid --peers: members lists node-b, down');
like($members, qr/^MEMBER node-c down /m, 'valid --peers: members lists node-c, down');
$csrv->stop;

open(my $fh, '>', "$tmp/cluster.conf") or die $!;
print $fh "name node-a\npeer-listen 127.0.0.1:0\npeers node-b=localhost:1\n"
  . "cluster-secret-file $good\nreplicas 2\n";
close $fh;
$csrv = RCTest::start(rc_args => ['--config', "$tmp/cluster.conf"]);
like(ring_cmd($csrv->sock), qr/\ARING partitions 1024 replicas 2 /,
    '--peers from --config: the node starts with its ring');
$csrv->stop;

# A group-readable secret is accepted with a warning (alone: no effect).
my $loose = write_secret("$tmp/loose", ('s' x 40) . "\n", 0640);
my $srv2 = RCTest::start(rc_args => ['--cluster-secret-file', $loose]);
like($srv2->log_text, qr/--cluster-secret-file: '\Q$loose\E' is readable by its group/,
    'a group-readable secret file: warned');
like(ring_cmd($srv2->sock), qr/\ARING partitions 1024 replicas 1 /, 'and the node runs alone');
$srv2->stop;

done_testing();
