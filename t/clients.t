#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# clients.t: real memcached clients from Debian packages talk to the server
# unchanged: libmemcached-tools (memccp, memccat, memcrm, memcflush,
# memcstat, and the "memccapable -a" ASCII conformance probe),
# python3-pymemcache through an inline python3 script, and
# Cache::Memcached::Fast from Perl. A client is skipped only when its
# program or module is missing.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(120);
my $srv = RCTest::start();
my $port = $srv->port;
my $servers = "--servers=127.0.0.1:$port";
my $s = $srv->sock;

sub which {
    my ($prog) = @_;
    for my $dir (split /:/, ($ENV{PATH} // '') . ':/usr/bin:/bin') {
        return "$dir/$prog" if $dir ne '' && -x "$dir/$prog";
    }
    return undef;
}

sub run {
    my (@argv) = @_;
    return RCTest::run_capture(\@argv, 30);
}

# ---------------------------------------------------------------- libmemcached-tools
SKIP: {
    my @progs = qw(memccp memccat memcrm memcflush memcstat);
    my @missing = grep { !which($_) } @progs;
    skip "libmemcached-tools missing (@missing not found)", 12 if @missing;
    my $dir = $srv->tmpdir;
    my $file = "$dir/clientfile.txt";
    open(my $fh, '>', $file) or die $!;
    binmode $fh;
    print $fh "line one\r\nline two\0with nul\n";
    close $fh;
    my ($st, $out) = run(which('memccp'), $servers, '--flags=42', $file);
    is($st, 0, 'memccp exit 0') or diag($out);
    is(mc_cmd($s, 'get clientfile.txt'),
        "VALUE clientfile.txt 42 28\r\nline one\r\nline two\0with nul\n\r\nEND\r\n",
        'memccp stored the file under its basename with flags 42');
    ($st, $out) = run(which('memccat'), $servers, 'clientfile.txt');
    is($st, 0, 'memccat exit 0');
    is($out, "line one\r\nline two\0with nul\n\n", "memccat prints the value and a newline");
    ($st, $out) = run(which('memccat'), $servers, 'no-such-key');
    isnt($st, 0, 'memccat on a missing key: non-zero exit');
    ($st, $out) = run(which('memcrm'), $servers, 'clientfile.txt');
    is($st, 0, 'memcrm exit 0') or diag($out);
    is(mc_cmd($s, 'get clientfile.txt'), "END\r\n", 'memcrm deleted the key');
    mc_store($s, 'set', 'toflush', 'x');
    ($st, $out) = run(which('memcflush'), $servers);
    is($st, 0, 'memcflush exit 0') or diag($out);
    is(mc_cmd($s, 'get toflush'), "END\r\n", 'memcflush flushed');
    ($st, $out) = run(which('memcstat'), $servers);
    is($st, 0, 'memcstat exit 0') or diag($out);
    like($out, qr/Server: 127\.0\.0\.1 \($port\)/, 'memcstat names the server');
    like($out, qr/^\s*curr_items: \d+$/m, 'memcstat lists stats (curr_items)');
}

SKIP: {
    my $cap = which('memccapable') or skip 'memccapable missing (libmemcached-tools)', 2;
    # memccapable flushes the server; it runs on its own connection.
    my ($st, $out) = RCTest::run_capture([ $cap, '-h', '127.0.0.1', '-p', $port, '-a', '-t', '5' ], 90);
    is($st, 0, 'memccapable -a exit 0') or diag($out);
    like($out, qr/All tests passed/, 'memccapable -a: all ASCII tests passed');
    diag(join "\n", grep { /\[(?!pass)/ } split /\n/, $out) if ($st // 1) != 0;
}

# ---------------------------------------------------------------- pymemcache
SKIP: {
    my ($py) = grep {
        my $p = $_;
        $p && -x $p && system("$p -c 'import pymemcache' >/dev/null 2>&1") == 0
    } ('/usr/bin/python3', which('python3'));
    skip 'python3 with pymemcache (python3-pymemcache) not found', 2 unless $py;
    my $script = <<'PY';
import sys
from pymemcache.client.base import Client
c = Client(('127.0.0.1', int(sys.argv[1])), connect_timeout=5, timeout=10)
def check(name, got, want):
    if got != want:
        print("FAIL %s: got %r want %r" % (name, got, want))
        sys.exit(1)
c.flush_all()
check('set', c.set('py1', b'hello', noreply=False), True)
check('get', c.get('py1'), b'hello')
check('get miss', c.get('pynokey'), None)
check('add existing', c.add('py1', b'x', noreply=False), False)
check('add new', c.add('py2', b'two', noreply=False), True)
check('replace', c.replace('py2', b'2', noreply=False), True)
check('append', c.append('py1', b' world', noreply=False), True)
check('prepend', c.prepend('py1', b'>', noreply=False), True)
check('get_many', c.get_many(['py1', 'py2', 'pynokey']), {'py1': b'>hello world', 'py2': b'2'})
check('incr', c.incr('py2', 40), 42)
check('decr', c.decr('py2', 50), 0)
v, cas = c.gets('py1')
check('gets', v, b'>hello world')
check('cas ok', c.cas('py1', b'casval', cas, noreply=False), True)
check('cas stale', c.cas('py1', b'other', cas, noreply=False), False)
check('touch', c.touch('py1', 100, noreply=False), True)
check('delete', c.delete('py1', noreply=False), True)
check('delete miss', c.delete('py1', noreply=False), False)
bin = bytes(range(256)) + b'\r\nEND\r\n'
check('binary set', c.set('pybin', bin, noreply=False), True)
check('binary get', c.get('pybin'), bin)
check('noreply set', c.set('pynr', b'quiet', noreply=True), True)
check('noreply get', c.get('pynr'), b'quiet')
st = c.stats()
check('stats has curr_items', b'curr_items' in st or 'curr_items' in st, True)
check('version', len(c.version()) > 0, True)
c.close()
print("ALL OK")
PY
    my ($st, $out) = RCTest::run_capture([ $py, '-c', $script, $port ], 60);
    is($st, 0, 'pymemcache script exit 0') or diag($out);
    like($out, qr/ALL OK/, 'pymemcache: every operation as expected');
}

# ---------------------------------------------------------------- Cache::Memcached::Fast
SKIP: {
    eval { require Cache::Memcached::Fast; 1 }
      or skip 'Cache::Memcached::Fast (libcache-memcached-fast-perl) not installed', 14;
    my $m = Cache::Memcached::Fast->new({
        servers         => ["127.0.0.1:$port"],
        connect_timeout => 5,
        io_timeout      => 10,
        close_on_error  => 1,
    });
    ok($m->set('cmf1', 'value one'), 'C::M::F set');
    is($m->get('cmf1'), 'value one', 'C::M::F get');
    ok(!$m->add('cmf1', 'x'), 'C::M::F add existing fails');
    ok($m->add('cmf2', '10'), 'C::M::F add new');
    ok($m->append('cmf1', '!'), 'C::M::F append');
    is($m->incr('cmf2', 5), 15, 'C::M::F incr');
    my $d = $m->decr("cmf2", 20);
    ok(defined $d && $d == 0, "C::M::F decr stops at 0 (returned as 0E0)");
    # "15" decremented to "0" is padded to "0 " (the old length), as memcached does.
    is_deeply($m->get_multi('cmf1', 'cmf2', 'cmfnone'), { cmf1 => 'value one!', cmf2 => "0 " },
        'C::M::F get_multi');
    my $g = $m->gets('cmf1');
    ok($g && $m->cas('cmf1', @$g[0], 'cas value'), 'C::M::F gets + cas');
    ok(!$m->cas('cmf1', @$g[0], 'again'), 'C::M::F cas with stale unique fails');
    is($m->get('cmf1'), 'cas value', 'C::M::F value after cas');
    ok($m->delete('cmf1'), 'C::M::F delete');
    is($m->get('cmf1'), undef, 'C::M::F deleted');
    my $v = $m->server_versions;
    ok($v && (values %$v)[0], 'C::M::F server_versions');
}

done_testing();
