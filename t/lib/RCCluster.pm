# SPDX-License-Identifier: BSD-3-Clause
#
# RCCluster: local multi-node ringcached clusters for the TAP suite
# (doc/replication.txt). Every node is an RCTest server (its own temp dir,
# data dir and log, killed by PID in RCTest's END block) started with the
# cluster options; this module adds the peer ports, the secret files, the
# --peers lists, membership polling and the cluster admin commands.
#
#   RCCluster::require_member_start();     # BAIL_OUT if a member cannot start
#   my $c = RCCluster::start(nodes => 3, replicas => 3, read_quorum => 2,
#       write_quorum => 2);
#   $c->wait_all_up(20) or BAIL_OUT(...);
#   my $s = $c->sock('n2');
#   $c->kill9('n3'); $c->restart('n3'); $c->stop('n1');
#   my $m = $c->members('n1');              # { n2 => { state => 'up', ... } }
#   my $r = $c->ring_key('n1', 'k');        # { partition, replicas => [...] }
#
# Nodes are named n1..nN. Each keeps its client port, peer port and data
# dir across restarts (the client port is pinned with a later -p after the
# first start). The peer ports are picked up front (bind port 0, read it,
# close it) because every node names the others' in --peers; a start that
# loses a port to a race is retried with new ports for the whole cluster.
#
# start() options:
#   nodes => N (3), replicas, read_quorum, write_quorum, partitions,
#   peer_timeout_ms, sync (--sync mode; default batch, see below), args => [...] for every node,
#   node_args => { n3 => [...] } extra for one node (after the common ones,
#   so a later option overrides), secret => { n3 => '...' } a different
#   secret for one node, start_timeout (per node, 10 s).
# Core Perl and Test::More only.
package RCCluster;

use strict;
use warnings;

use Carp qw(croak);
use File::Temp qw(tempdir);
use Test::More;
use Time::HiRes qw(time sleep);
use RCTest qw(mc_send read_until mem_stats);

my $OWNER_PID = $$;

# ------------------------------------------------------------ availability

# Starts one throw-away node with --peers (the peer it names does not
# exist), so a daemon that cannot run as a cluster member stops the script
# at once with its reason, before any cluster is wired. Clustering is
# always built in: a failure here is a failure, never a skip.
sub require_member_start {
    RCTest::ringcached_only();
    my $tmp = tempdir('rccluster-probe-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $secret = "$tmp/secret";
    _write_secret($secret, 'p' x 40);
    my $pp = RCTest::free_port();
    my $dead = RCTest::free_port();
    my $srv = eval {
        RCTest::start(
            rc_args => [ '--name', 'probe1', '--peer-listen', "127.0.0.1:$pp",
                '--peers', "probe2=127.0.0.1:$dead", '--cluster-secret-file', $secret ],
            start_timeout => 20);
    };
    if (!$srv) {
        my $err = $@ // '';
        BAIL_OUT("a node with --peers does not start: " . ((split /\n/, $err)[0] // ''));
    }
    $srv->kill9;
    return 1;
}

# ------------------------------------------------------------ secrets

sub _write_secret {
    my ($path, $secret) = @_;
    my $old = umask(077);
    open(my $fh, '>', $path) or croak "write $path: $!";
    print $fh "$secret\n";
    close $fh or croak "close $path: $!";
    umask($old);
    chmod 0600, $path;
}

# A printable secret of 40 bytes.
sub random_secret {
    my @c = ('A' .. 'Z', 'a' .. 'z', '0' .. '9');
    return join('', map { $c[ int(rand(@c)) ] } 1 .. 40);
}

# ------------------------------------------------------------ start

sub start {
    my (%o) = @_;
    my $n = $o{nodes} // 3;
    croak "nodes must be at least 1" if $n < 1;
    my $err;
    for my $try (1 .. 3) {
        my $self = bless {
            opts  => \%o,
            names => [ map { "n$_" } 1 .. $n ],
            tmp   => tempdir('rccluster-XXXXXX', TMPDIR => 1, CLEANUP => 1),
            nodes => {},
        }, __PACKAGE__;
        $self->{secret} = random_secret();
        my %pport;
        my %used;
        for my $name (@{ $self->{names} }) {
            my $p;
            do { $p = RCTest::free_port() } while $used{$p}++;
            $pport{$name} = $p;
        }
        $self->{peer_port} = \%pport;
        my $ok = eval { $self->_start_all; 1 };
        return $self if $ok;
        $err = $@;
        $self->_kill_all;
        last unless $err =~ /in use|EADDRINUSE|bind/i;
        diag("cluster start lost a port to a race (try $try of 3); retrying");
    }
    croak "cluster did not start: $err";
}

sub _node_argv {
    my ($self, $name) = @_;
    my $o = $self->{opts};
    my @peers = map { "$_=127.0.0.1:$self->{peer_port}{$_}" }
      grep { $_ ne $name } @{ $self->{names} };
    my $secret_file = "$self->{tmp}/secret-$name";
    _write_secret($secret_file, $o->{secret}{$name} // $self->{secret});
    my @a = ('--name', $name, '--peer-listen', "127.0.0.1:$self->{peer_port}{$name}",
        '--cluster-secret-file', $secret_file);
    push @a, '--peers', join(',', @peers) if @peers;
    push @a, '--replicas', $o->{replicas} if defined $o->{replicas};
    push @a, '--read-quorum', $o->{read_quorum} if defined $o->{read_quorum};
    push @a, '--write-quorum', $o->{write_quorum} if defined $o->{write_quorum};
    push @a, '--partitions', $o->{partitions} if defined $o->{partitions};
    push @a, '--peer-timeout-ms', $o->{peer_timeout_ms} if defined $o->{peer_timeout_ms};
    # batch unless a test asks: with --sync always a replica acknowledges a
    # PUT only after fdatasync, and one slow flush of a shared CI disk (seen:
    # over 2 s) outlasts the short peer timeouts these tests use, turning a
    # replication check into a disk-speed check. Durability tests pass always.
    push @a, '--sync', $o->{sync} // 'batch';
    push @a, @{ $o->{args} // [] };
    push @a, @{ $o->{node_args}{$name} // [] };
    return \@a;
}

sub _start_all {
    my ($self) = @_;
    for my $name (@{ $self->{names} }) {
        my $srv = RCTest::start(rc_args => $self->_node_argv($name),
            start_timeout => $self->{opts}{start_timeout} // 10);
        # Keep the client port on restarts: a later -p overrides RCTest's -p 0.
        push @{ $srv->{opts}{rc_args} }, '-p', $srv->port;
        $self->{nodes}{$name} = $srv;
    }
}

sub _kill_all {
    my ($self) = @_;
    return unless $$ == $OWNER_PID;
    for my $srv (values %{ $self->{nodes} }) {
        $srv->kill9 if $srv->pid;
    }
}

# Stops every node (SIGTERM, bounded; SIGKILL after).
sub shutdown {
    my ($self) = @_;
    for my $name (@{ $self->{names} }) {
        my $srv = $self->{nodes}{$name} or next;
        $srv->stop(10) if $srv->pid;
    }
}

# ------------------------------------------------------------ accessors

sub names     { @{ $_[0]{names} } }
sub secret    { $_[0]{secret} }
sub node      { my ($self, $name) = @_; return $self->{nodes}{$name} // croak "no node $name" }
sub port      { $_[0]->node($_[1])->port }
sub pid       { $_[0]->node($_[1])->pid }
sub peer_port { $_[0]{peer_port}{ $_[1] } }
sub sock      { $_[0]->node($_[1])->sock }
sub try_sock  { $_[0]->node($_[1])->try_sock }
sub log_text  { $_[0]->node($_[1])->log_text }
sub alive     { $_[0]->node($_[1])->alive }
sub servers   { my ($self) = @_; return map { '127.0.0.1:' . $self->port($_) } $self->names }

sub kill9 { my ($self, $name) = @_; $self->node($name)->kill9; return }

sub stop { my ($self, $name, $limit) = @_; return $self->node($name)->stop($limit) }

# Starts the node again on its ports and data dir (stopping it first if it
# runs). Croaks if it does not start.
sub restart {
    my ($self, $name) = @_;
    my $srv = $self->node($name);
    my $want = $srv->port;
    $srv->restart;
    croak "$name came back on port " . $srv->port . ", not $want" if $srv->port != $want;
    return $srv;
}

# ------------------------------------------------------------ admin commands

# Sends one line and reads a multi-line admin reply up to END, or the one
# error line. undef on timeout.
sub admin_cmd {
    my ($s, $line, $timeout) = @_;
    mc_send($s, "$line\r\n") or return undef;
    my $r = read_until($s,
        qr/^(?:END|ERROR|CLIENT_ERROR[^\r\n]*|SERVER_ERROR[^\r\n]*)\r\n/m, $timeout // 10);
    return (defined $r && length $r) ? $r : undef;
}

# Runs a top-level admin command, or "stats <cmd>" while the text codec does
# not parse it at the top level. Remembers which spelling worked.
my %SPELLING;
sub admin {
    my ($s, $cmd, $args) = @_;
    my $tail = defined $args && length $args ? " $args" : '';
    my @try = $SPELLING{$cmd} ? ($SPELLING{$cmd}) : ($cmd, "stats $cmd");
    my $last;
    for my $form (@try) {
        $last = admin_cmd($s, "$form$tail");
        next unless defined $last;
        next if $last eq "ERROR\r\n" && @try > 1;
        $SPELLING{$cmd} = $form unless $last eq "ERROR\r\n";
        return $last;
    }
    return $last;
}

# members through node $name: { peer => { state => 'up'|'down', k => v } };
# undef if the command fails. The raw reply is the second value.
sub members {
    my ($self, $name, $s) = @_;
    $s //= $self->try_sock($name) or return undef;
    my $r = admin($s, 'members');
    return (undef, $r) unless defined $r && $r =~ /END\r\n\z/;
    my %m;
    for my $line (split /\r\n/, $r) {
        next unless $line =~ /^MEMBER (\S+) (\S+)(.*)$/;
        my ($peer, $state, $rest) = ($1, $2, $3);
        my %f = (state => $state);
        my @t = split ' ', $rest;
        while (@t >= 2) { my $k = shift @t; $f{$k} = shift @t }
        $m{$peer} = \%f;
    }
    return (\%m, $r);
}

# True when node $name sees every other node (or those in @peers) as up.
sub sees_up {
    my ($self, $name, @peers) = @_;
    @peers = grep { $_ ne $name } $self->names unless @peers;
    my ($m) = $self->members($name);
    return 0 unless $m;
    for my $p (@peers) {
        return 0 unless $m->{$p} && $m->{$p}{state} eq 'up';
    }
    return 1;
}

# Waits (bounded, default 20 s) until every running node in @nodes (default
# all) sees every other node in @nodes as up. Returns true on success; on
# failure diag()s the last members replies.
sub wait_all_up {
    my ($self, $timeout, @nodes) = @_;
    @nodes = $self->names unless @nodes;
    my $ok = RCTest::wait_for(sub {
        for my $n (@nodes) {
            return 0 unless $self->sees_up($n, grep { $_ ne $n } @nodes);
        }
        return 1;
    }, $timeout // 20, 0.1);
    if (!$ok) {
        for my $n (@nodes) {
            my (undef, $raw) = $self->members($n);
            diag("members through $n: " . (defined $raw ? $raw : 'no reply'));
        }
    }
    return $ok;
}

# Waits until node $name sees $peer in state $state. Bounded.
sub wait_state {
    my ($self, $name, $peer, $state, $timeout) = @_;
    return RCTest::wait_for(sub {
        my ($m) = $self->members($name);
        return $m && $m->{$peer} && $m->{$peer}{state} eq $state;
    }, $timeout // 20, 0.1);
}

# stats cluster through node $name as a hashref ({} if the command fails).
sub stats_cluster {
    my ($self, $name, $s) = @_;
    $s //= $self->try_sock($name) or return {};
    return mem_stats($s, 'cluster');
}

# Hints pending on node $name (for every target, or only for $target): from
# the "hints" field of members, else from stats cluster (any stat whose name
# says hints pending). undef when neither shows it.
sub hints_pending {
    my ($self, $name, $target) = @_;
    my ($m) = $self->members($name);
    if ($m) {
        my ($sum, $seen) = (0, 0);
        for my $p (keys %$m) {
            next if defined $target && $p ne $target;
            next unless defined $m->{$p}{hints} && $m->{$p}{hints} =~ /^\d+$/;
            $sum += $m->{$p}{hints};
            $seen++;
        }
        return $sum if $seen;
    }
    my $st = $self->stats_cluster($name);
    my ($sum, $seen) = (0, 0);
    for my $k (keys %$st) {
        next unless $k =~ /hints?_pending/ && $st->{$k} =~ /^\d+$/;
        next if defined $target && $k !~ /\Q$target\E/;
        $sum += $st->{$k};
        $seen++;
    }
    return $seen ? $sum : undef;
}

# ring through node $name: { partitions, replicas, read_quorum,
# write_quorum, hash, nodes => [ [name, partitions, self|peer] ] }.
sub ring {
    my ($self, $name, $s) = @_;
    $s //= $self->try_sock($name) or return undef;
    my $r = admin($s, 'ring');
    return undef unless defined $r && $r =~ /END\r\n\z/;
    my %ring = (raw => $r, nodes => []);
    for my $line (split /\r\n/, $r) {
        if ($line =~ /^RING (.*)$/) {
            my @t = split ' ', $1;
            while (@t >= 2) { my $k = shift @t; $ring{$k} = shift @t }
        } elsif ($line =~ /^NODE (\S+) partitions (\d+) (\S+)/) {
            push @{ $ring{nodes} }, [ $1, $2, $3 ];
        }
    }
    return \%ring;
}

# ring <key> through node $name: { partition, replicas => [ { i, name,
# version } ], raw }.
sub ring_key {
    my ($self, $name, $key, $s) = @_;
    $s //= $self->try_sock($name) or return undef;
    my $r = admin($s, 'ring', $key);
    return undef unless defined $r && $r =~ /END\r\n\z/;
    my %k = (raw => $r, replicas => []);
    for my $line (split /\r\n/, $r) {
        if ($line =~ /^KEY \S+ partition (\d+)/) {
            $k{partition} = $1;
        } elsif ($line =~ /^REPLICA (\d+) (\S+) version (\S+)/) {
            push @{ $k{replicas} }, { i => $1, name => $2, version => $3 };
        }
    }
    return \%k;
}

# The preference list of $key as node $name computes it (names, owner first).
sub preflist {
    my ($self, $name, $key) = @_;
    my $k = $self->ring_key($name, $key) or return ();
    return map { $_->{name} } @{ $k->{replicas} };
}

# Node $name's own local version of $key ("-" when it holds none), from
# its ring <key> line for itself; undef when $name is not a replica or the
# command failed.
sub local_version {
    my ($self, $name, $key) = @_;
    my $k = $self->ring_key($name, $key) or return undef;
    for my $r (@{ $k->{replicas} }) {
        return $r->{version} if $r->{name} eq $name;
    }
    return undef;
}

1;
