#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# restart.t (ringcached only): a clean restart (SIGTERM, start again on the
# same data dir) keeps every item with its value, flags and exptime, keeps
# deletes deleted, and never hands out a cas unique seen before: items
# modified after the restart get a cas never issued before, an unchanged item
# may keep its own cas but never takes another item's, and a cas taken before
# a later modification still fails with EXISTS.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::ringcached_only();
RCTest::set_timeout(120);
my $srv = RCTest::start();
my $s = $srv->sock;

my %want;    # key => [value, flags]
for my $i (1 .. 200) {
    my $v = "value-$i-" . ('x' x ($i % 37));
    mc_store($s, 'set', "k$i", $v, flags => $i * 1000) eq "STORED\r\n" or last;
    $want{"k$i"} = [ $v, $i * 1000 ];
}
is(scalar(keys %want), 200, '200 items stored');
my $bin = join('', map { chr } 0 .. 255) . "\r\nEND\r\n";
is(mc_store($s, 'set', 'bin', $bin, flags => 4294967295), "STORED\r\n", 'binary value');
$want{bin} = [ $bin, 4294967295 ];
is(mc_store($s, 'set', 'empty', ''), "STORED\r\n", 'empty value');
$want{empty} = [ '', 0 ];
my $big = join('', map { chr(($_ * 13) % 256) } 0 .. 9999) x 50;
is(mc_store($s, 'set', 'big', $big, flags => 3), "STORED\r\n", '500 KB value');
$want{big} = [ $big, 3 ];
mc_store($s, 'set', 'cnt', '99', flags => 8);
is(mc_cmd($s, 'incr cnt 1'), "100\r\n", 'incr');
$want{cnt} = [ '100', 8 ];
mc_store($s, 'set', 'ap', 'mid', flags => 6);
mc_store($s, 'append', 'ap', '>');
mc_store($s, 'prepend', 'ap', '<');
$want{ap} = [ '<mid>', 6 ];
is(mc_store($s, 'set', 'shortlived', 'x', exptime => 2), "STORED\r\n", 'item with exptime 2');
is(mc_store($s, 'set', 'longlived', 'y', exptime => 300), "STORED\r\n", 'item with exptime 300');
$want{longlived} = [ 'y', 0 ];
for my $i (1 .. 20) {
    is(mc_cmd($s, "delete k$i"), "DELETED\r\n", "delete k$i") if $i <= 2;
    mc_cmd($s, "delete k$i") if $i > 2;
    delete $want{"k$i"};
}
mc_store($s, 'set', 'gone', 'x');
mc_cmd($s, 'delete gone');

# cas uniques seen before the restart.
my %cas_before;    # key => cas
my %seen;          # cas => key
for my $k (sort keys %want) {
    my (undef, undef, $c) = mc_gets($s, $k);
    $cas_before{$k} = $c;
    $seen{$c} = $k if defined $c;
}
my (undef, undef, $stale) = mc_gets($s, 'k50');
mc_store($s, 'set', 'k50', $want{k50}[0], flags => $want{k50}[1]);    # makes $stale stale
my (undef, undef, $c50) = mc_gets($s, 'k50');
$cas_before{k50} = $c50;
$seen{$stale} = 'k50(stale)';
$seen{$c50} = 'k50';

sub check_all {
    my ($label) = @_;
    my @keys = sort keys %want;
    my $bad = 0;
    while (my @chunk = splice(@keys, 0, 50)) {
        my $it = RCTest::mc_items($s, 'get ' . join(' ', @chunk));
        for my $k (@chunk) {
            my $i = $it && $it->{$k};
            next if $i && $i->{value} eq $want{$k}[0] && $i->{flags} == $want{$k}[1];
            diag("$label: $k " . ($i ? "has flags $i->{flags}, length " . length($i->{value}) : 'missing'))
              if $bad++ < 5;
        }
    }
    is($bad, 0, "$label: all " . scalar(keys %want) . ' items intact with flags');
    is(mc_cmd($s, 'get k1 k2 k20 gone'), "END\r\n", "$label: deleted items stay deleted");
}
check_all('before restart');

close $s;
my $st = $srv->stop(20);
ok(defined $st, 'SIGTERM: stopped within 20 s');
is($st, 0, 'clean exit status 0');
$srv->restart;
$s = $srv->sock;
check_all('after clean restart');
is(mc_get($s, 'longlived'), 'y', 'exptime 300 item kept');

# cas after restart.
my $collide = 0;
for my $k (sort keys %cas_before) {
    my (undef, undef, $c) = mc_gets($s, $k);
    next unless defined $c;
    $collide++ if exists $seen{$c} && $seen{$c} ne $k;
}
is($collide, 0, 'unchanged items never show another item\'s pre-restart cas');
is(mc_store($s, 'cas', 'k50', 'new', cas => $stale), "EXISTS\r\n", 'stale pre-restart cas: EXISTS');
my $reused = 0;
for my $i (21 .. 120) {
    mc_store($s, 'set', "k$i", "after-$i");
    my (undef, undef, $c) = mc_gets($s, "k$i");
    $reused++ if !defined $c || exists $seen{$c};
    $want{"k$i"} = [ "after-$i", 0 ];
}
mc_store($s, 'set', 'fresh', 'f');
my (undef, undef, $cf) = mc_gets($s, 'fresh');
$reused++ if exists $seen{$cf};
is($reused, 0, 'cas uniques of writes after restart were never issued before');
mc_cmd($s, 'incr cnt 5');
$want{cnt} = [ '105', 8 ];
my (undef, undef, $cc) = mc_gets($s, 'cnt');
ok(defined $cc && !exists $seen{$cc}, 'incr after restart: new cas');
# A cas taken after restart works.
my (undef, undef, $c60) = mc_gets($s, 'k60');
is(mc_store($s, 'cas', 'k60', 'cas-ok', cas => $c60), "STORED\r\n", 'cas with a post-restart unique');
$want{k60} = [ 'cas-ok', 0 ];
$seen{$_} = 1 for map { (mc_gets($s, $_))[2] // () } sort keys %want;

# Short exptime honoured across restart.
sleep 2.5;
is(mc_get($s, 'shortlived'), undef, 'exptime 2 item expired across restart');

# A second restart keeps the post-restart writes too.
close $s;
$srv->restart;
$s = $srv->sock;
check_all('after second restart');
mc_store($s, 'set', 'fresh2', 'f');
my (undef, undef, $cf2) = mc_gets($s, 'fresh2');
ok(defined $cf2 && !exists $seen{$cf2}, 'second restart: new cas never issued before');

done_testing();
