#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# cart.t (ringcached only): runs contrib/cart_example.py, the shopping cart
# of doc/protocol-extension.txt section 6, against a started daemon: the
# sequential mode (clients writing from one context make siblings, the
# union resolves them) and the concurrent modes (threads and processes
# racing with read-resolve-write). Each run must exit 0 and report that
# every addition is present; the final cart is then checked over the wire
# as well. Skipped when python3 is missing.
use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use RCTest;
use RCVersion;

RCTest::ringcached_only();
RCTest::set_timeout(180);

my $root = abs_path(dirname(abs_path($0)) . '/..');
my $script = "$root/contrib/cart_example.py";
my $python;
for my $dir (split /:/, $ENV{PATH} // '') {
    if (-x "$dir/python3") { $python = "$dir/python3"; last }
}
plan skip_all => 'python3 not found' unless $python;
plan skip_all => "$script missing" unless -f $script;

my $srv = RCTest::start();
my $s = $srv->sock;
my $port = $srv->port;

# Runs the example with @args (bounded in time); returns (status, output).
sub run_cart {
    my (@args) = @_;
    return RCTest::run_capture([ $python, $script, '--host', '127.0.0.1',
        '--port', $port, @args ], 120);
}

sub cart_items {
    my ($key) = @_;
    my (undef, $o) = vget($s, $key);
    return undef unless $o->[0] && $o->[0]{n} == 1;
    return { map { $_ => 1 } split /,/, $o->[0]{sibs}[0]{value} };
}

# ------------------------------------------------------------ sequential
my ($st, $out) = run_cart('--key', 'cart1');
is($st, 0, 'sequential, 2 clients, 1 round: exit 0') or diag($out);
like($out, qr/^round 1: client 0 adds c0-r1: STORED 1 /m, 'client 0: STORED 1');
like($out, qr/^round 1: client 1 adds c1-r1: STORED 2 /m, 'client 1 from the same context: STORED 2');
like($out, qr/^resolve: 2 sibling\(s\) before the merge$/m, 'the resolver saw two siblings');
like($out, qr/^resolve: STORED 1 /m, 'the union collapsed them');
like($out, qr/^OK: all 3 addition\(s\) present, none lost$/m, 'all three items present');
unlike($out, qr/FAIL/, 'no FAIL line');
is_deeply(cart_items('cart1'), { map { $_ => 1 } qw(apple c0-r1 c1-r1) }, 'the cart over the wire');

($st, $out) = run_cart('--key', 'cart2', '--clients', 4, '--rounds', 5);
is($st, 0, 'sequential, 4 clients, 5 rounds: exit 0') or diag($out);
like($out, qr/^round 5: client 3 adds c3-r5: STORED 4 /m, 'four siblings in the last round');
like($out, qr/^OK: all 21 addition\(s\) present, none lost$/m, 'all 21 items present');
my $items = cart_items('cart2');
is(scalar(keys %{ $items // {} }), 21, 'the cart over the wire has 21 items');

# Running again on an existing cart starts it afresh.
($st, $out) = run_cart('--key', 'cart1', '--clients', 3);
is($st, 0, 'sequential over an existing cart: exit 0') or diag($out);
like($out, qr/^create cart1 = apple: STORED 1 /m, 'the old cart was superseded');
is_deeply(cart_items('cart1'), { map { $_ => 1 } qw(apple c0-r1 c1-r1 c2-r1) }, 'the new cart over the wire');

# ------------------------------------------------------------ concurrent
($st, $out) = run_cart('--key', 'cart3', '--concurrent', '--clients', 6, '--rounds', 15);
is($st, 0, 'concurrent, 6 threads x 15 items: exit 0') or diag($out);
like($out, qr/^OK: all 91 addition\(s\) present, none lost$/m, 'all 91 items present');
$items = cart_items('cart3');
is(scalar(keys %{ $items // {} }), 91, 'the cart over the wire has 91 items');
ok(!grep({ !$items->{"w$_->[0]-i$_->[1]"} } map { my $w = $_; map { [ $w, $_ ] } 1 .. 15 } 0 .. 5),
    'every worker item is in it');

($st, $out) = run_cart('--key', 'cart4', '--concurrent', '--processes', '--clients', 5, '--rounds', 10);
is($st, 0, 'concurrent, 5 processes x 10 items: exit 0') or diag($out);
like($out, qr/^OK: all 51 addition\(s\) present, none lost$/m, 'all 51 items present');
is(scalar(keys %{ cart_items('cart4') // {} }), 51, 'the cart over the wire has 51 items');

my $stats = mem_stats($s);
ok(($stats->{vset_cmds} // 0) > 0, "the server counted extension writes ($stats->{vset_cmds})");

# ------------------------------------------------------------ failure is reported
($st, $out) = run_cart('--port', RCTest::free_port(), '--key', 'x');
isnt($st, 0, 'no server on the port: non-zero exit');

ok($srv->alive, 'server still running');
done_testing();
