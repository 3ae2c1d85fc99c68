#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
#
# diskfull.t - a full disk: ringcached keeps its data directory on a small
# tmpfs this test mounts, writes 16 KB values until the store refuses them,
# and checks that the refusal is memcached's SERVER_ERROR with a reason, the
# connection and daemon survive, reads keep working, nothing stored is lost,
# and writes resume once the filesystem grows. ringcached only; needs root
# (to mount), skipped otherwise.

use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use lib 't/lib';
use RCTest;

RCTest::ringcached_only();
plan skip_all => 'needs root to mount a tmpfs' if $> != 0;

my $mnt = tempdir('rc-diskfull-XXXXXX', TMPDIR => 1, CLEANUP => 0);
if (system('mount', '-t', 'tmpfs', '-o', 'size=160m', 'tmpfs', $mnt) != 0) {
    rmdir $mnt;
    plan skip_all => 'cannot mount a tmpfs here';
}
my $mounted = 1;
END {
    if ($mounted) {
        system('umount', '-l', $mnt);
        rmdir $mnt;
    }
}

my $srv = RCTest::start(rc_args => ['--data-dir', "$mnt/data", '--sync', 'batch', '-m', '8']);
my $sock = $srv->sock;
my $val = 'v' x 16384;

# Fill until refused (bounded: 160 MB of 16 KB values is more than fits).
my ($stored, $refusal) = (0, '');
for my $i (1 .. 10_000) {
    my $reply = RCTest::mc_cmd($sock, "set full:$i 0 0 16384\r\n$val");
    if ($reply ne "STORED\r\n") {
        $refusal = $reply;
        last;
    }
    $stored = $i;
}
ok($stored > 100, "stored $stored values before the disk filled");
like($refusal, qr/^SERVER_ERROR out of disk space\r\n$/, 'a full disk answers SERVER_ERROR with the reason');

# The daemon and the connection are still fine; what was stored reads back.
is(RCTest::mc_cmd($sock, "version"), RCTest::mc_cmd($srv->sock, "version"), 'connection survives');
my ($first) = RCTest::mc_get($sock, 'full:1');
is($first, $val, 'the first value reads back');
my ($last) = RCTest::mc_get($sock, "full:$stored");
is($last, $val, 'the last acknowledged value reads back');
like(RCTest::mc_cmd($sock, "set more 0 0 1\r\nx"), qr/^SERVER_ERROR out of disk space/,
    'writes stay refused while the disk is full');
my $stats = RCTest::mem_stats($sock, 'store');
is($stats->{low_disk_space}, 1, 'stats store reports the low disk space');

# Space returns: writes resume without a restart.
is(system('mount', '-o', 'remount,size=800m', $mnt), 0, 'filesystem grown');
my $resumed = RCTest::wait_for(sub {
        RCTest::mc_cmd($sock, "set after 0 0 5\r\nhello") eq "STORED\r\n" }, 10);
ok($resumed, 'writes resume when space returns');
my ($after) = RCTest::mc_get($sock, 'after');
is($after, 'hello', 'the new value reads back');

# And a restart keeps everything that was acknowledged.
$srv->restart;
$sock = $srv->sock;
my ($again) = RCTest::mc_get($sock, "full:$stored");
is($again, $val, 'acknowledged values survive a restart');
my ($again2) = RCTest::mc_get($sock, 'after');
is($again2, 'hello', 'the write after the disk grew survives too');
$srv->stop;

done_testing();
