#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# 00-start.t: the daemon starts and answers "version"; -h and -V exit 0 with
# output; unknown options and bad option values are refused with a message;
# as root, starting without -u is refused (as memcached does); SIGTERM ends it
# cleanly.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $bin = RCTest::server_bin();
ok(-x $bin, "server binary $bin is executable") or BAIL_OUT("no server binary at $bin");

my $srv = RCTest::start();
ok($srv->pid, 'server started, pid ' . $srv->pid);
ok($srv->port > 0, 'listening on port ' . $srv->port);
my $s = $srv->sock;
like(mc_cmd($s, 'version'), qr/^VERSION \S+\r\n\z/, 'version reply');
# A second connection works while the first is open.
my $s2 = $srv->sock;
like(mc_cmd($s2, 'version'), qr/^VERSION \S+\r\n\z/, 'second connection');
is(mc_cmd($s, 'verbosity 1'), "OK\r\n", 'verbosity 1');
is(mc_cmd($s, 'verbosity 0'), "OK\r\n", 'verbosity 0');

# -h and -V: exit 0, print something.
my ($st, $out) = RCTest::run_capture([$bin, '-h']);
is($st, 0, '-h exits 0');
like($out, qr/\S/, '-h prints usage');
($st, $out) = RCTest::run_capture([$bin, '-V']);
is($st, 0, '-V exits 0');
like($out, qr/\d+\.\d+/, "-V prints a version");

# Bad options: refused with non-zero status and a message.
my @user = $> == 0 ? ('-u', 'root') : ();
($st, $out) = RCTest::run_capture([$bin, @user, '--no-such-option']);
ok(defined $st && $st != 0, 'unknown option: non-zero exit')
  or diag("status " . ($st // 'killed') . ", output: $out");
like($out, qr/\S/, "unknown option: message printed");

if (!RCTest::is_memcached()) {
    # memcached silently accepts "-p abc" (atoi gives 0); ringcached refuses
    # malformed numbers. Only checked against ringcached.
    my $tmp = $srv->tmpdir;
    ($st, $out) = RCTest::run_capture([$bin, @user, '-l', '127.0.0.1',
        '-p', 'notaport', '--port-file', "$tmp/p2", '--data-dir', "$tmp/d2"]);
    ok(defined $st && $st != 0, 'bad -p value: non-zero exit')
      or diag("status " . ($st // 'killed') . ", output: $out");
    like($out, qr/\S/, 'bad -p value: message printed');
    ($st, $out) = RCTest::run_capture([$bin, @user, '-l', '127.0.0.1',
        '-p', '0', '-c', '-5', '--port-file', "$tmp/p3", '--data-dir', "$tmp/d3"]);
    ok(defined $st && $st != 0, 'negative -c: non-zero exit')
      or diag("status " . ($st // 'killed') . ", output: $out");
}

SKIP: {
    skip 'not running as root', 3 unless $> == 0;
    my @argv = RCTest::is_memcached()
      ? ($bin, '-U', '0', '-l', '127.0.0.1', '-p', RCTest::free_port())
      : ($bin, '-l', '127.0.0.1', '-p', '0', '--port-file',
        $srv->tmpdir . '/p4', '--data-dir', $srv->tmpdir . '/d4');
    ($st, $out) = RCTest::run_capture(\@argv, 5);
    ok(defined $st, 'root without -u: exits by itself');
    ok(defined $st && $st != 0, 'root without -u: non-zero exit (memcached: 64)');
    like($out, qr/root/i, "root without -u: message mentions root");
}

# Clean shutdown on SIGTERM.
close $s;
close $s2;
my $exit = $srv->stop(10);
ok(defined $exit, 'SIGTERM: exits within 10 s');
ok(defined $exit && ($exit & 127) == 0, 'SIGTERM: exits normally, not by a signal')
  or diag("wait status " . ($exit // 'undef'));

done_testing();
