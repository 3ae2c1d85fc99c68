#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# auth.t: memcached's text-protocol authentication with -Y FILE ("user:pass"
# lines): every command refused with CLIENT_ERROR unauthenticated until a
# "set <any> <flags> <exp> <len>\r\n<user> <pass>\r\n" answers STORED (the
# set stores nothing), bad token format, wrong password and unknown user
# failures that leave the connection usable, the auth_cmds/auth_errors
# stats; then, ringcached only: the file re-read on SIGHUP (memcached 1.6.18
# does not re-read it), and binary SASL PLAIN with -S (ringcached checks it
# against the -Y file; memcached's -S needs Cyrus SASL): list mechs, commands
# refused before authentication, success and failure (status 0x20), and a
# huge SASL token refused without harm.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(sleep);
use RCTest;
use RCBinary;

RCTest::set_timeout(90);
my $MC = RCTest::is_memcached();
my $dir = File::Temp::tempdir('rcauth-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $file = "$dir/users";

sub write_users {
    my (@lines) = @_;
    open(my $fh, '>', $file) or die "$file: $!";
    print $fh map { "$_\n" } @lines;
    close $fh;
}

# One authentication attempt; returns the reply line.
sub auth {
    my ($sock, $user, $pass) = @_;
    my $tok = "$user $pass";
    mc_send($sock, "set auth 0 0 " . length($tok) . "\r\n$tok\r\n");
    return read_line($sock);
}

write_users('alice:secret', 'bob:pw2');
my $srv = RCTest::start(args => [ '-Y', $file ]);
my $unauth = "CLIENT_ERROR unauthenticated\r\n";

# ------------------------------------------------------------ before auth
my $s = $srv->sock;
for my $cmd ('version', 'get a', 'stats', 'mn', 'mg a v', 'delete a', 'flush_all', 'bogus') {
    is(mc_cmd($s, $cmd), $unauth, "unauthenticated: $cmd");
}
is(mc_cmd($s, 'add x 0 0 1'), $unauth, 'add is not an auth command');
mc_send($s, "set x 0 0 1\r\nx\r\n");
is(read_line($s), "CLIENT_ERROR bad authentication token format\r\n", 'token without a space');
is(auth($s, 'alice', 'wrong'), "CLIENT_ERROR authentication failure\r\n", 'wrong password');
is(auth($s, 'mallory', 'secret'), "CLIENT_ERROR authentication failure\r\n", 'unknown user');
is(auth($s, 'ALICE', 'secret'), "CLIENT_ERROR authentication failure\r\n", 'user names are case sensitive');
is(auth($s, 'alice', 'secretX'), "CLIENT_ERROR authentication failure\r\n", 'password with a suffix');
is(auth($s, 'alice', 'x' x 3000), "CLIENT_ERROR authentication failure\r\n", 'long password: failure');
is(mc_cmd($s, 'version'), $unauth, 'still unauthenticated after the failures');
ok($srv->alive, 'server alive');

# ------------------------------------------------------------ auth
# Tokens after the password are ignored, as memcached does.
is(auth($s, 'alice', 'secret extra'), "STORED\r\n", 'right password: STORED');
like(mc_cmd($s, 'version'), qr/\AVERSION 1\.6\.18\S*\r\n\z/, 'authenticated: version');
is(mc_cmd($s, 'get auth'), "END\r\n", 'the auth set stored nothing');
is(mc_store($s, 'set', 'k', 'v'), "STORED\r\n", 'set after auth');
is(mc_get($s, 'k'), 'v', 'get after auth');
is(mc_cmd($s, 'mn'), "MN\r\n", 'meta after auth');

my $t = $srv->sock;
mc_send($t, "set x 0 0 7\r\nbob pw2\r\nget k\r\n");
is(read_line($t), "STORED\r\n", 'pipelined: auth as bob');
is(read_reply($t), "VALUE k 0 1\r\nv\r\nEND\r\n", 'pipelined: the next command runs authenticated');
is(mc_cmd($srv->sock, 'get k'), $unauth, 'authentication is per connection');

# ------------------------------------------------------------ stats
my $before = mem_stats($s);
my $u = $srv->sock;
auth($u, 'alice', 'bad1');
auth($u, 'bob', 'bad2');
auth($u, 'bob', 'pw2');
my $after = mem_stats($s);
is($after->{auth_cmds} - $before->{auth_cmds}, 3, 'auth_cmds counts the attempts');
is($after->{auth_errors} - $before->{auth_errors}, 2, 'auth_errors counts the failures');
my $set = mem_stats($s, 'settings');
is($set->{auth_enabled_ascii}, $file, 'stats settings: auth_enabled_ascii is the file');
is($set->{auth_enabled_sasl}, 'no', 'stats settings: auth_enabled_sasl no');

# ------------------------------------------------------------ SIGHUP
SKIP: {
    skip 'memcached 1.6.18 does not re-read the -Y file on SIGHUP', 5 if $MC;
    write_users('alice:secret', 'carol:pw3');
    kill 'HUP', $srv->pid;
    my $ok = wait_for(sub {
        my $c = $srv->sock;
        (auth($c, 'carol', 'pw3') // '') eq "STORED\r\n";
    }, 5, 0.1);
    ok($ok, 'SIGHUP: the new user can authenticate');
    is(auth($srv->sock, 'bob', 'pw2'), "CLIENT_ERROR authentication failure\r\n",
        'SIGHUP: the removed user cannot');
    is(auth($srv->sock, 'alice', 'secret'), "STORED\r\n", 'SIGHUP: the kept user still can');
    is(mc_get($t, 'k'), 'v', 'a connection authenticated before the reload stays so');
    ok($srv->alive, 'server alive after SIGHUP');
}
$srv->stop;

# ------------------------------------------------------------ binary SASL
SKIP: {
    skip "memcached's -S uses Cyrus SASL, not the -Y file: SASL tests are ringcached-only", 23 if $MC;
    write_users('alice:secret');
    my $sv = RCTest::start(args => [ '-S', '-Y', $file ]);
    my $b = $sv->sock;
    my $r = bin_cmd($b, op => BIN_SASL_LIST, opaque => 1);
    is($r && "$r->{status}/$r->{value}/$r->{opaque}", '0/PLAIN/1', 'sasl list mechs: PLAIN');
    # As memcached with SASL: an auth error, then the connection is closed;
    # version is the one command memcached answers before authentication.
    for my $op (BIN_GET, BIN_NOOP, BIN_DELETE) {
        my $c = $sv->sock;
        mc_send($c, bin_packet(op => $op, key => $op == BIN_NOOP ? '' : 'k', opaque => 2));
        $r = bin_read($c);
        is($r && sprintf('%02x/%x/%s', $r->{opcode}, $r->{status}, $r->{value}),
            sprintf('%02x/20/Auth failure.', $op), "opcode $op before auth: auth error");
        ok(RCTest::closed_by_peer($c, 3), "opcode $op before auth: then closed");
    }
    $r = bin_cmd($b, op => BIN_VERSION, opaque => 7);
    is($r && "$r->{status}/$r->{opaque}", '0/7', 'version before auth: answered');
    $r = bin_cmd($b, op => BIN_SASL_AUTH, key => 'PLAIN', value => "\0alice\0wrong", opaque => 3);
    is($r && "$r->{status}/$r->{value}/$r->{opaque}", '32/Auth failure./3', 'sasl auth, wrong password');
    $r = bin_cmd($b, op => BIN_SASL_AUTH, key => 'PLAIN', value => "\0nobody\0secret");
    is($r && $r->{status}, ST_AUTH_ERROR, 'sasl auth, unknown user');
    $r = bin_cmd($b, op => BIN_SASL_AUTH, key => 'NOPE', value => "\0alice\0secret");
    is($r && $r->{status}, ST_AUTH_ERROR, 'sasl auth, unknown mechanism');
    mc_send($b, bin_packet(op => BIN_SASL_AUTH, key => 'PLAIN', value => 'x' x 2_000_000, opaque => 4)
          . bin_packet(op => BIN_NOOP, opaque => 5));
    my @got = bin_until_noop($b, 10);
    ok(@got >= 1 && $got[0]{status} != ST_SUCCESS, 'huge sasl token: refused');
    ok($sv->alive, 'huge sasl token: server alive');
    my $b2 = $sv->sock;
    $r = bin_cmd($b2, op => BIN_SASL_AUTH, key => 'PLAIN', value => "\0alice\0secret", opaque => 6);
    is($r && "$r->{status}/$r->{value}/$r->{opaque}", '0/Authenticated/6', 'sasl auth PLAIN: success');
    $r = bin_cmd($b2, op => BIN_SET, key => 'sk', extras => bin_set_extras(0, 0), value => 'sv');
    is($r && $r->{status}, ST_SUCCESS, 'set after sasl auth');
    $r = bin_cmd($b2, op => BIN_GET, key => 'sk');
    is($r && $r->{value}, 'sv', 'get after sasl auth');
    my $b3 = $sv->sock;
    $r = bin_cmd($b3, op => BIN_GET, key => 'sk');
    is($r && $r->{status}, ST_AUTH_ERROR, 'another binary connection is not authenticated');
    ok(RCTest::closed_by_peer($b3, 3), '... and is closed');
    $b3 = $sv->sock;
    $r = bin_cmd($b3, op => BIN_SASL_AUTH, key => 'PLAIN', value => "\0alice\0secret");
    is($r && $r->{status}, ST_SUCCESS, 'it authenticates in turn');
    $r = bin_cmd($b3, op => BIN_GET, key => 'sk');
    is($r && $r->{value}, 'sv', 'and reads');
    my $tx = $sv->sock;
    is(mc_cmd($tx, 'get sk'), $unauth, 'text connection on a -S -Y server: unauthenticated');
    is(auth($tx, 'alice', 'secret'), "STORED\r\n", 'text auth with the same file');
    is(mc_get($tx, 'sk'), 'sv', 'text get after auth');
}

done_testing();
