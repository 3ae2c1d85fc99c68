#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# stats.t: general "stats" names present and counting (cmd_get, get_hits,
# get_misses, cmd_set, curr_items, total_items, curr_connections,
# delete/incr/decr/cas/touch hits and misses, cmd_flush, bytes_read/written),
# "stats settings", "stats reset", "stats detail on|dump|off" and its usage
# error, unknown sub-command. ringcached only: "stats store" is non-empty.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $srv = RCTest::start(args => ['-c', '123']);
my $s = $srv->sock;

my $st = mem_stats($s);
for my $name (qw(pid uptime time version pointer_size curr_connections
    total_connections max_connections rejected_connections cmd_get cmd_set
    cmd_flush cmd_touch get_hits get_misses get_expired get_flushed
    delete_misses delete_hits incr_misses incr_hits decr_misses decr_hits
    cas_misses cas_hits cas_badval touch_hits touch_misses bytes_read
    bytes_written limit_maxbytes threads bytes curr_items total_items
    evictions)) {
    ok(exists $st->{$name}, "stats has $name");
}
like(mc_cmd($s, 'stats'), qr/\A(?:STAT \S+ [^\r\n]*\r\n)+END\r\n\z/, 'stats reply format');
is($st->{pid}, $srv->pid, 'pid is the server pid');
ok(abs($st->{time} - time) <= 2, 'time is now');
like($st->{uptime}, qr/^\d+$/, 'uptime numeric');
my ($ver) = mc_cmd($s, 'version') =~ /^VERSION (\S+)/;
is($st->{version}, $ver, 'version matches the version command');
is($st->{max_connections}, 123, 'max_connections follows -c');

# Counting.
sub delta {
    my ($before, $after, @names) = @_;
    return join(' ', map { "$_=" . (($after->{$_} // 0) - ($before->{$_} // 0)) } @names);
}
my $b = mem_stats($s);
mc_store($s, 'set', 'a', '1');
mc_store($s, 'set', 'b', '2');
mc_store($s, 'set', 'a', '3');           # overwrite: total_items +1, curr_items +0
mc_store($s, 'add', 'a', 'x');           # fails, still a cmd_set
my $a = mem_stats($s);
is(delta($b, $a, qw(cmd_set curr_items total_items)), 'cmd_set=4 curr_items=2 total_items=3',
    'cmd_set, curr_items, total_items');
$b = $a;
mc_cmd($s, 'get a b nokey');
mc_cmd($s, 'get nokey2');
$a = mem_stats($s);
is(delta($b, $a, qw(cmd_get get_hits get_misses)), 'cmd_get=4 get_hits=2 get_misses=2',
    'cmd_get counts keys, hits and misses');
$b = $a;
mc_cmd($s, 'delete b');
mc_cmd($s, 'delete b');
mc_cmd($s, 'incr a 1');
mc_cmd($s, 'incr nokey 1');
mc_cmd($s, 'decr a 1');
mc_cmd($s, 'decr nokey 1');
mc_cmd($s, 'decr nokey 1');
mc_cmd($s, 'touch a 100');
mc_cmd($s, 'touch nokey 100');
my (undef, undef, $cas) = mc_gets($s, 'a');
mc_store($s, 'cas', 'a', '5', cas => $cas + 1000);
mc_store($s, 'cas', 'a', '5', cas => $cas);
mc_store($s, 'cas', 'nokey', '5', cas => $cas);
$a = mem_stats($s);
is(delta($b, $a, qw(delete_hits delete_misses incr_hits incr_misses decr_hits decr_misses)),
    'delete_hits=1 delete_misses=1 incr_hits=1 incr_misses=1 decr_hits=1 decr_misses=2',
    'delete/incr/decr hits and misses');
is(delta($b, $a, qw(touch_hits touch_misses cmd_touch)), 'touch_hits=1 touch_misses=1 cmd_touch=2',
    'touch hits and misses');
is(delta($b, $a, qw(cas_hits cas_badval cas_misses curr_items)), 'cas_hits=1 cas_badval=1 cas_misses=1 curr_items=-1',
    'cas hits, badval, misses; curr_items after delete');
ok($a->{bytes_read} > $b->{bytes_read}, 'bytes_read grows');
ok($a->{bytes_written} > $b->{bytes_written}, 'bytes_written grows');
$b = $a;
mc_cmd($s, 'flush_all');
$a = mem_stats($s);
is(delta($b, $a, qw(cmd_flush)), 'cmd_flush=1', 'cmd_flush');

# Connections.
$b = mem_stats($s);
my $s2 = $srv->sock;
mc_cmd($s2, 'version');
$a = mem_stats($s);
is($a->{curr_connections} - $b->{curr_connections}, 1, 'curr_connections +1 with a new connection');
ok($a->{total_connections} > $b->{total_connections}, 'total_connections grows');
close $s2;
ok(wait_for(sub { mem_stats($s)->{curr_connections} == $b->{curr_connections} }, 5),
    'curr_connections back after close');

# stats reset
mc_store($s, "set", "r$_", "1") for 1 .. 3;
mc_cmd($s, "get nokey");
is(mc_cmd($s, "stats reset"), "RESET\r\n", "stats reset");
mc_store($s, "set", "r4", "1");
$a = mem_stats($s);
is("$a->{cmd_get} $a->{get_misses} $a->{cmd_set} $a->{total_items}", '0 0 1 1',
    'counters restarted from zero');
# curr_items is a gauge: at least the 4 live r* items (1 if it had been zeroed).
ok($a->{curr_items} >= 4, "curr_items is not reset ($a->{curr_items})");

# stats settings
my $set = mem_stats($s, 'settings');
like(mc_cmd($s, 'stats settings'), qr/\A(?:STAT \S+ [^\r\n]*\r\n)+END\r\n\z/, 'stats settings format');
is($set->{maxconns}, 123, 'settings maxconns');
for my $name (qw(maxbytes tcpport verbosity evictions cas_enabled item_size_max detail_enabled)) {
    ok(exists $set->{$name}, "settings has $name");
}
is($set->{item_size_max}, 1048576, 'item_size_max 1 MB');
is($set->{cas_enabled}, 'yes', 'cas_enabled yes');

# stats detail
is(mc_cmd($s, 'stats detail on'), "OK\r\n", 'stats detail on');
mc_store($s, 'set', 'pfx:1', 'a');
mc_cmd($s, 'get pfx:1 pfx:2');
mc_cmd($s, 'delete pfx:2');
is(mc_cmd($s, 'stats detail dump'), "PREFIX pfx get 2 hit 1 set 1 del 1\r\nEND\r\n",
    'stats detail dump');
is(mc_cmd($s, 'stats detail off'), "OK\r\n", 'stats detail off');
mc_cmd($s, 'get pfx:1');
is(mc_cmd($s, 'stats detail dump'), "PREFIX pfx get 2 hit 1 set 1 del 1\r\nEND\r\n",
    'no counting while off');
my $usage = "CLIENT_ERROR usage: stats detail on|off|dump\r\n";
is(mc_cmd($s, 'stats detail'), $usage, 'stats detail without argument');
is(mc_cmd($s, 'stats detail foo'), $usage, 'stats detail foo');
is(mc_cmd($s, 'stats nosuchthing'), "ERROR\r\n", 'unknown stats sub-command');

SKIP: {
    skip 'stats store is ringcached-only', 2 if RCTest::is_memcached();
    my $r = mc_cmd($s, 'stats store');
    like($r, qr/\A(?:STAT \S+ [^\r\n]*\r\n)+END\r\n\z/, 'stats store: STAT lines then END');
    ok(scalar(keys %{ mem_stats($s, 'store') }) > 0, 'stats store non-empty');
}

done_testing();
