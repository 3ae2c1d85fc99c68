#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# clients-protocols.t: real clients in their binary and other modes, talking
# to the server unchanged: libmemcached-tools ("memccapable -b" binary and
# "memccapable -a" ASCII conformance probes, memccp/memccat/memcrm with
# --binary), pymemcache (/usr/bin/python3, python3-pymemcache) get/set/cas/
# incr/delete, php-memcached (php-cli, php-memcached) with
# OPT_BINARY_PROTOCOL and, ringcached only, setSaslAuthData against a server
# started with -S -Y, and memjs (npm, a binary-protocol client) from a node
# script. memjs is looked up with node's own resolution, plus NODE_PATH
# entries from RC_NODE_PATH (default /tmp/rc-memjs/node_modules, where
# "npm install memjs" can be run outside the repository). Each client part
# is skipped with its reason when its program or module is missing.
use strict;
use warnings;
use Test::More;
use File::Temp qw(tempdir);
use RCTest;

RCTest::set_timeout(240);
my $MC = RCTest::is_memcached();
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

sub run { my (@argv) = @_; return RCTest::run_capture(\@argv, 60) }

# ---------------------------------------------------------------- memccapable
SKIP: {
    my $cap = which('memccapable') or skip 'memccapable missing (libmemcached-tools)', 4;
    for my $mode ([ '-b', 'binary' ], [ '-a', 'ASCII' ]) {
        my ($st, $out) = RCTest::run_capture([ $cap, '-h', '127.0.0.1', '-p', $port, $mode->[0],
                '-t', '5' ], 120);
        is($st, 0, "memccapable $mode->[0] exit 0");
        like($out, qr/All tests passed/, "memccapable $mode->[0]: all $mode->[1] tests passed")
          or diag(join "\n", grep { !/\[pass\]/ } split /\n/, $out);
    }
}

# ---------------------------------------------------------------- memccp & co, --binary
SKIP: {
    my @missing = grep { !which($_) } qw(memccp memccat memcrm);
    skip "libmemcached-tools missing (@missing not found)", 8 if @missing;
    my $dir = tempdir('rcbin-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $file = "$dir/binfile.dat";
    my $data = join('', map { chr } 0 .. 255) . "\r\nEND\r\n";
    open(my $fh, '>', $file) or die $!;
    binmode $fh;
    print $fh $data;
    close $fh;
    my ($st, $out) = run(which('memccp'), $servers, '--binary', '--flags=7', $file);
    is($st, 0, 'memccp --binary exit 0') or diag($out);
    is(mc_cmd($s, 'get binfile.dat'), "VALUE binfile.dat 7 " . length($data) . "\r\n$data\r\nEND\r\n",
        'memccp --binary stored the file with its flags');
    ($st, $out) = run(which('memccat'), $servers, '--binary', 'binfile.dat');
    is($st, 0, 'memccat --binary exit 0');
    is($out, "$data\n", 'memccat --binary prints the value');
    ($st, $out) = run(which('memccat'), $servers, '--binary', 'no-such-key');
    isnt($st, 0, 'memccat --binary, missing key: non-zero exit');
    ($st, $out) = run(which('memcrm'), $servers, '--binary', 'binfile.dat');
    is($st, 0, 'memcrm --binary exit 0') or diag($out);
    is(mc_cmd($s, 'get binfile.dat'), "END\r\n", 'memcrm --binary deleted the key');
    ($st, $out) = run(which('memcrm'), $servers, '--binary', 'binfile.dat');
    isnt($st, 0, 'memcrm --binary, missing key: non-zero exit');
}

# ---------------------------------------------------------------- pymemcache
SKIP: {
    my $py = '/usr/bin/python3';
    skip 'python3-pymemcache not installed (/usr/bin/python3 -c "import pymemcache" fails)', 2
      unless -x $py && system("$py -c 'import pymemcache' >/dev/null 2>&1") == 0;
    my $script = <<'PY';
import sys
from pymemcache.client.base import Client
c = Client(('127.0.0.1', int(sys.argv[1])), connect_timeout=5, timeout=10)
def check(name, got, want):
    if got != want:
        print("FAIL %s: got %r want %r" % (name, got, want))
        sys.exit(1)
check('set', c.set('pp1', b'v1', noreply=False), True)
check('get', c.get('pp1'), b'v1')
v, cas = c.gets('pp1')
check('gets', v, b'v1')
check('cas ok', c.cas('pp1', b'v2', cas, noreply=False), True)
check('cas stale', c.cas('pp1', b'v3', cas, noreply=False), False)
check('cas missing', c.cas('ppnone', b'x', b'1', noreply=False), None)
check('get after cas', c.get('pp1'), b'v2')
check('set counter', c.set('ppn', b'10', noreply=False), True)
check('incr', c.incr('ppn', 5, noreply=False), 15)
check('decr', c.decr('ppn', 20, noreply=False), 0)
check('incr missing', c.incr('ppnone', 1, noreply=False), None)
check('delete', c.delete('pp1', noreply=False), True)
check('delete missing', c.delete('pp1', noreply=False), False)
check('get deleted', c.get('pp1'), None)
c.close()
print("ALL OK")
PY
    my ($st, $out) = RCTest::run_capture([ $py, '-c', $script, $port ], 60);
    is($st, 0, 'pymemcache script exit 0') or diag($out);
    like($out, qr/ALL OK/, 'pymemcache: get/set/cas/incr/delete as expected');
}

# ---------------------------------------------------------------- php-memcached
my $php = which('php');
my $php_ok = $php && system("$php -r 'exit(class_exists(\"Memcached\") ? 0 : 1);' >/dev/null 2>&1") == 0;
my $php_script = <<'PHP';
<?php
$port = (int)$argv[1];
$sasl = count($argv) > 2;
$m = new Memcached();
$m->setOption(Memcached::OPT_BINARY_PROTOCOL, true);
$m->setOption(Memcached::OPT_CONNECT_TIMEOUT, 5000);
$m->setOption(Memcached::OPT_RECV_TIMEOUT, 10000000);
$m->setOption(Memcached::OPT_SEND_TIMEOUT, 10000000);
$m->addServer('127.0.0.1', $port);
if ($sasl) { $m->setSaslAuthData($argv[2], $argv[3]); }
function check($name, $got, $want) {
    global $m;
    if ($got !== $want) {
        printf("FAIL %s: got %s want %s (%s)\n", $name, var_export($got, true),
            var_export($want, true), $m->getResultMessage());
        exit(1);
    }
}
check('set', $m->set('php1', 'hello', 0), true);
check('get', $m->get('php1'), 'hello');
check('get miss', $m->get('phpnone'), false);
check('miss code', $m->getResultCode(), Memcached::RES_NOTFOUND);
check('add existing', $m->add('php1', 'x'), false);
check('add new', $m->add('php2', '5'), true);
check('replace', $m->replace('php2', '10'), true);
check('increment', $m->increment('php2', 5), 15);
check('decrement', $m->decrement('php2', 20), 0);
$m->setOption(Memcached::OPT_COMPRESSION, false);
check('append', $m->append('php1', ' world'), true);
check('prepend', $m->prepend('php1', '>'), true);
check('after append', $m->get('php1'), '>hello world');
$r = $m->get('php1', null, Memcached::GET_EXTENDED);
check('cas ok', $m->cas($r['cas'], 'php1', 'casval'), true);
check('cas stale', $m->cas($r['cas'], 'php1', 'other'), false);
// "15" decremented to 0 is padded to the old length, as memcached does.
check('getMulti', $m->getMulti(['php1', 'php2', 'phpnone']), ['php1' => 'casval', 'php2' => '0 ']);
check('array value', $m->set('phparr', [1, 'two' => 2]), true);
check('array back', $m->get('phparr'), [1, 'two' => 2]);
check('touch', $m->touch('php1', 100), true);
check('delete', $m->delete('php1'), true);
check('delete missing', $m->delete('php1'), false);
check('version', is_array($m->getVersion()), true);
echo "ALL OK\n";
PHP

SKIP: {
    skip 'php-memcached not available (apt-get install php-cli php-memcached)', 2 unless $php_ok;
    my ($st, $out) = RCTest::run_capture([ $php, '-r', substr($php_script, 6), $port ], 60);
    is($st, 0, 'php-memcached (binary protocol) script exit 0') or diag($out);
    like($out, qr/ALL OK/, 'php-memcached with OPT_BINARY_PROTOCOL: every operation as expected');
}

SKIP: {
    skip "php-memcached SASL needs ringcached's -S -Y (memcached's -S is Cyrus SASL)", 4 if $MC;
    skip 'php-memcached not available (apt-get install php-cli php-memcached)', 4 unless $php_ok;
    skip 'php-memcached built without SASL', 4
      unless system("$php -r 'exit(Memcached::HAVE_SASL ? 0 : 1);' >/dev/null 2>&1") == 0;
    my $dir = tempdir('rcsasl-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    open(my $fh, '>', "$dir/users") or die $!;
    print $fh "phpuser:phppass\n";
    close $fh;
    my $sv = RCTest::start(args => [ '-S', '-Y', "$dir/users" ]);
    my ($st, $out) = RCTest::run_capture([ $php, '-r', substr($php_script, 6), $sv->port,
            'phpuser', 'phppass' ], 60);
    is($st, 0, 'php-memcached with SASL: script exit 0') or diag($out);
    like($out, qr/ALL OK/, 'php-memcached setSaslAuthData: every operation as expected');
    ($st, $out) = RCTest::run_capture([ $php, '-r', substr($php_script, 6), $sv->port,
            'phpuser', 'wrong' ], 60);
    isnt($st, 0, 'php-memcached with a wrong SASL password fails');
    like($out, qr/FAIL set/, '... at its first command');
}

# ---------------------------------------------------------------- memjs
SKIP: {
    my $node = which('node') or skip 'node missing', 2;
    my $np = join ':', grep { defined && length } ($ENV{RC_NODE_PATH} // '/tmp/rc-memjs/node_modules'),
      $ENV{NODE_PATH};
    local $ENV{NODE_PATH} = $np;
    skip "memjs not found (npm install memjs into a directory named by RC_NODE_PATH)", 2
      unless system("$node -e 'require(\"memjs\")' >/dev/null 2>&1") == 0;
    my $js = <<'JS';
const memjs = require('memjs');
const c = memjs.Client.create('127.0.0.1:' + process.argv[1],
    { timeout: 10, conntimeout: 5, retries: 0, logger: { log: () => {} } });
function check(name, got, want) {
    if (got !== want) {
        console.log('FAIL ' + name + ': got ' + JSON.stringify(got) + ' want ' + JSON.stringify(want));
        process.exit(1);
    }
}
(async () => {
    check('set', (await c.set('js1', 'hello', { expires: 0 })), true);
    check('get', (await c.get('js1')).value.toString(), 'hello');
    check('get miss', (await c.get('jsnone')).value, null);
    check('add existing', (await c.add('js1', 'x')), false);
    check('set counter', (await c.set('jsn', '10', {})), true);
    check('increment', (await c.increment('jsn', 5, {})).value, 15);
    check('decrement', (await c.decrement('jsn', 20, {})).value, 0);
    check('increment missing, initial', (await c.increment('jsnew', 1, { initial: 7 })).value, 7);
    check('append', (await c.append('js1', '!')), true);
    check('get appended', (await c.get('js1')).value.toString(), 'hello!');
    check('delete', (await c.delete('js1')), true);
    check('delete missing', (await c.delete('js1')), false);
    check('get deleted', (await c.get('js1')).value, null);
    const bin = Buffer.from([...Array(256).keys()]);
    check('binary set', (await c.set('jsbin', bin, {})), true);
    check('binary get', Buffer.compare((await c.get('jsbin')).value, bin), 0);
    c.close();
    console.log('ALL OK');
})().catch((e) => { console.log('FAIL exception: ' + e); process.exit(1); });
JS
    my ($st, $out) = RCTest::run_capture([ $node, '-e', $js, $port ], 60);
    is($st, 0, 'memjs script exit 0') or diag($out);
    like($out, qr/ALL OK/, 'memjs (binary protocol): set/get/delete/increment as expected');
}

done_testing();
