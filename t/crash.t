#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# crash.t (ringcached only): durability under kill -9. For --sync=always and
# --sync=batch: 8 child writer processes set keys as fast as they can and log
# each key only after its STORED arrived; after ~2 s the server is killed
# with SIGKILL, then restarted on the same data dir. Every acknowledged key
# must be present with its exact value and flags; keys sent but not
# acknowledged may be absent, but if present their value must be whole.
use strict;
use warnings;
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use RCTest;

RCTest::ringcached_only();
RCTest::set_timeout(180);

my $WRITERS = 8;
my $RUN_SECS = 2;

sub value_for {
    my ($w, $i) = @_;
    return "w$w-i$i:" . ('0123456789abcdef' x (1 + ($i * 7 + $w) % 20)) . ":end";
}

sub writer {
    my ($srv, $w, $log) = @_;
    open(my $fh, '>>', $log) or POSIX::_exit(2);
    my $s = $srv->try_sock or POSIX::_exit(3);
    my $deadline = time + $RUN_SECS + 10;
    for my $i (1 .. 20_000) {    # bounded: at most 160,000 keys in all
        last if time > $deadline;
        my $k = "w${w}_$i";
        my $v = value_for($w, $i);
        syswrite($fh, "S $k\n");
        my $r = mc_store($s, 'set', $k, $v, flags => $w);
        last unless defined $r;
        last unless $r eq "STORED\r\n";
        syswrite($fh, "A $k\n");
    }
    POSIX::_exit(0);
}

for my $mode (qw(always batch)) {
    my $srv = RCTest::start(rc_args => ["--sync=$mode"]);
    ok($srv->pid, "--sync=$mode: server started");
    my @kids;
    my @logs;
    for my $w (1 .. $WRITERS) {
        my $log = $srv->tmpdir . "/writer$w.log";
        push @logs, [ $w, $log ];
        my $pid = fork();
        die "fork: $!" unless defined $pid;
        writer($srv, $w, $log) if $pid == 0;
        push @kids, $pid;
    }
    sleep $RUN_SECS;
    $srv->kill9;
    # Writers see EOF or an error and stop; bounded wait, then kill.
    my $deadline = time + 10;
    while (@kids && time < $deadline) {
        @kids = grep { waitpid($_, WNOHANG) == 0 } @kids;
        sleep 0.05 if @kids;
    }
    for my $pid (@kids) { kill 'KILL', $pid; waitpid($pid, 0) }
    is(scalar(@kids), 0, "--sync=$mode: writers stopped by themselves after kill -9");

    my (%acked, %sent);
    for my $l (@logs) {
        my ($w, $log) = @$l;
        open(my $fh, '<', $log) or next;
        while (my $line = <$fh>) {
            if ($line =~ /^A (w(\d+)_(\d+))$/) { $acked{$1} = [ $2, $3 ] }
            elsif ($line =~ /^S (w(\d+)_(\d+))$/) { $sent{$1} = [ $2, $3 ] }
        }
    }
    my $n = keys %acked;
    ok($n > 0, "--sync=$mode: $n writes acknowledged before the crash");

    $srv->restart;
    my $s = $srv->sock;
    my ($missing, $wrong, $torn) = (0, 0, 0);
    my @keys = sort keys %sent;
    while (my @chunk = splice(@keys, 0, 100)) {
        my $it = RCTest::mc_items($s, 'get ' . join(' ', @chunk));
        if (!$it) { $missing += @chunk; next }
        for my $k (@chunk) {
            my ($w, $i) = @{ $sent{$k} };
            my $got = $it->{$k};
            if ($acked{$k}) {
                if (!$got) {
                    diag("--sync=$mode: acknowledged $k missing") if $missing++ < 5;
                } elsif ($got->{value} ne value_for($w, $i) || $got->{flags} != $w) {
                    diag("--sync=$mode: $k has a wrong value or flags") if $wrong++ < 5;
                }
            } elsif ($got && ($got->{value} ne value_for($w, $i) || $got->{flags} != $w)) {
                diag("--sync=$mode: unacknowledged $k present but torn") if $torn++ < 5;
            }
        }
    }
    is($missing, 0, "--sync=$mode: every acknowledged key present after kill -9");
    is($wrong, 0, "--sync=$mode: every acknowledged key has its exact value and flags");
    is($torn, 0, "--sync=$mode: no torn unacknowledged values");
    is(mc_store($s, 'set', 'after', 'ok'), "STORED\r\n", "--sync=$mode: writable after recovery");
    close $s;
    $srv->stop;
}

done_testing();
