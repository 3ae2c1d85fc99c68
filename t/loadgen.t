#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# loadgen.t: contrib/loadgen, which produces every figure in
# doc/benchmarks.md, against a real server: each protocol (and ringcached's
# extension modes) runs a short mixed load with no error, every get a hit
# after the preload and every set stored; --rate holds its offered load
# (loosely: this is a check that pacing works, not a measurement); bad
# options are usage errors. Short runs only: speed is measured by
# contrib/bench.sh, never here.
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;
use JSON::PP qw(decode_json);
use Test::More;
use RCTest;

RCTest::set_timeout(120);
my $lg = File::Spec->catfile(dirname(RCTest::ringcached_bin()), 'contrib', 'loadgen');
plan skip_all => "loadgen is not built ($lg)" unless -x $lg;

# --sync batch: this script checks the load generator, and its --rate check
# must not depend on how fast the disk flushes (rc_args are ringcached's).
my $srv = RCTest::start(rc_args => [ '--sync', 'batch' ]);
my @common = ('--host', '127.0.0.1', '--port', $srv->port, '--json', '--keys', 500);

sub run_lg {
    my (@args) = @_;
    my ($status, $out) = RCTest::run_capture([$lg, @common, @args], 60);
    my $line = (grep { /^\{/ } split /\n/, $out)[0];
    my $r = eval { decode_json($line // '') };
    return ($status, $r, $out);
}

my @protos = qw(text meta binary);
push @protos, qw(vget vtext) unless RCTest::is_memcached();
for my $p (@protos) {
    my ($status, $r, $out) = run_lg('--protocol', $p, '--conns', 4, '--pipeline', 4,
        '--duration', '0.5', '--warmup', '0.2', '--preload');
    is($status, 0, "$p: exit 0") or diag $out;
    SKIP: {
        skip "$p: no JSON result", 6 unless $r;
        is($r->{preload_errors}, 0, "$p: preload without errors");
        cmp_ok($r->{ops}, '>', 0, "$p: operations measured");
        is($r->{errors} + $r->{protocol_errors} + $r->{bad_values}, 0, "$p: no errors");
        is($r->{misses}, 0, "$p: every get a hit after the preload");
        is($r->{not_stored}, 0, "$p: every set stored");
        is($r->{gets} + $r->{sets}, $r->{ops}, "$p: gets and sets add up");
    }
}

# --rate: 400 requests a second over 4 connections for 1 s. The window
# must show roughly that many (generous bounds for a loaded machine), and
# the JSON says what was asked.
{
    my ($status, $r, $out) = run_lg('--rate', 400, '--conns', 4, '--duration', 1,
        '--warmup', '0.3', '--preload');
    is($status, 0, 'rate: exit 0') or diag $out;
    SKIP: {
        skip 'rate: no JSON result', 3 unless $r;
        is($r->{rate}, 400, 'rate: reported');
        cmp_ok($r->{ops_per_sec}, '<=', 480, 'rate: not faster than asked');
        cmp_ok($r->{ops_per_sec}, '>=', 200, 'rate: held within a factor of two');
    }
}

# Usage errors exit 2 without touching the server.
for my $bad (['--rate', -1], ['--pipeline', 0], ['--get-ratio', 2], ['--protocol', 'nope']) {
    my ($status) = RCTest::run_capture([$lg, @common, @$bad], 10);
    is($status, 2, "usage error: @$bad");
}

done_testing();
