#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# errors.t: every error reply of the text protocol and what memcached does
# with the bytes that follow it: ERROR for unknown/empty/malformed commands,
# CLIENT_ERROR bad command line format, bad data chunk, SERVER_ERROR object
# too large for cache (value swallowed, connection still usable), 250 vs 251
# byte keys, control characters in keys, an over-long line closing the
# connection, invalid delta and exptime arguments.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(90);
my $srv = RCTest::start();
my $s = $srv->sock;
my $bad_fmt = "CLIENT_ERROR bad command line format\r\n";

# Unknown, empty and malformed commands.
is(mc_cmd($s, 'bogus'), "ERROR\r\n", 'unknown command');
is(mc_cmd($s, 'GET a'), "ERROR\r\n", 'commands are case sensitive');
is(mc_cmd($s, ''), "ERROR\r\n", 'empty line');
is(mc_cmd($s, 'get'), "ERROR\r\n", 'get without key');
is(mc_cmd($s, 'gets'), "ERROR\r\n", 'gets without key');
is(mc_cmd($s, 'set a 0 0'), "ERROR\r\n", 'set with too few tokens');
is(mc_cmd($s, 'incr a 1 2 3'), "ERROR\r\n", 'incr with too many tokens');
is(mc_cmd($s, 'cas a 0 0 1'), "ERROR\r\n", 'cas without unique');
is(mc_cmd($s, 'version'), "VERSION " . (mc_cmd($s, 'version') =~ /^VERSION (\S+)/)[0] . "\r\n",
    'connection still usable');

# A set rejected on its command line does NOT swallow the data block: the
# data line is then parsed as a command and answered with ERROR.
is(mc_cmd($s, "set a 0 0 1 2 3 4\r\nx\r\n") . read_line($s), "ERROR\r\nERROR\r\n",
    'set with too many tokens: ERROR, then data line ERROR');
for my $case (
    [ 'set a 0 0 -1',   'negative length' ],
    [ 'set a 0 0 abc',  'non-numeric length' ],
    [ 'set a 0 0 1x',   'trailing garbage in length' ],
    [ 'set a abc 0 1',  'non-numeric flags' ],
    [ 'set a -1 0 1',   'negative flags' ],
    [ 'set a 18446744073709551616 0 1', 'flags beyond 64 bits' ],
    [ 'set a 0 abc 1',  'non-numeric exptime' ],
    [ 'cas a 0 0 1 abc', 'non-numeric cas unique' ],
  ) {
    mc_send($s, "$case->[0]\r\nx\r\n");
    is(read_line($s) . read_line($s), "${bad_fmt}ERROR\r\n",
        "$case->[1]: bad command line format, data line answered ERROR");
}
is(mc_get($s, 'a'), undef, 'nothing stored by the bad sets');

# Bad data chunk: memcached reads exactly <bytes>+2 bytes; when they do not
# end in "\r\n" it answers CLIENT_ERROR bad data chunk and parses whatever
# follows as new commands (here the trailing "\r\n", an empty line: ERROR).
mc_send($s, "set a 0 0 3\r\nabcde\r\n");
is(read_line($s) . read_line($s), "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
    'data longer than declared: bad data chunk, then ERROR');
is(mc_get($s, 'a'), undef, 'not stored');
mc_send($s, "set a 0 0 3\r\nabcd\r\n");
is(read_line($s) . read_line($s), "CLIENT_ERROR bad data chunk\r\nERROR\r\n",
    'one byte too many: bad data chunk, then ERROR for the lone "\n"');
mc_send($s, "set a 0 0 1 noreply\r\nxyz\r\n");
is(read_line($s), "ERROR\r\n", 'noreply silences bad data chunk; the trailing empty line still gets ERROR');
is(mc_get($s, 'a'), undef, 'not stored');

# Too large: SERVER_ERROR, the data block is swallowed, connection usable.
my $big = 'b' x 2_000_000;
is(mc_store($s, 'set', 'big', $big), "SERVER_ERROR object too large for cache\r\n",
    '2,000,000-byte value refused');
is(mc_cmd($s, 'get big'), "END\r\n", 'swallowed, not stored, connection usable');
mc_store($s, 'set', 'big', 'small');
is(mc_store($s, 'set', 'big', $big), "SERVER_ERROR object too large for cache\r\n",
    'too large over an existing key');
# memcached unlinks the old item when a replacement is too large.
is(mc_cmd($s, 'get big'), "END\r\n", 'old value of the key removed');
mc_send($s, "set big 0 0 2000000 noreply\r\n$big\r\n");
is(mc_cmd($s, 'get big'), "END\r\n", 'too large with noreply: silent, swallowed');

# Key length: 250 bytes is the maximum, 251 is refused everywhere.
my $k250 = 'k' x 250;
my $k251 = 'k' x 251;
is(mc_store($s, 'set', $k250, 'x'), "STORED\r\n", '250-byte key stored');
is(mc_cmd($s, "get $k250"), "VALUE $k250 0 1\r\nx\r\nEND\r\n", '250-byte key read');
is(mc_cmd($s, "delete $k250"), "DELETED\r\n", '250-byte key deleted');
mc_send($s, "set $k251 0 0 1\r\nx\r\n");
is(read_line($s) . read_line($s), "${bad_fmt}ERROR\r\n",
    '251-byte key on set: bad command line format, data not swallowed');
is(mc_cmd($s, "get $k251"), $bad_fmt, '251-byte key on get');
is(mc_cmd($s, "get a $k251"), $bad_fmt, '251-byte key inside a multi-get');
is(mc_cmd($s, "delete $k251"), $bad_fmt, '251-byte key on delete');
is(mc_cmd($s, "incr $k251 1"), $bad_fmt, '251-byte key on incr');
is(mc_cmd($s, "touch $k251 1"), $bad_fmt, '251-byte key on touch');

# Control characters: the text protocol splits on spaces only, so memcached
# 1.6.18 accepts a key containing \x01 or \x7f and returns it verbatim.
is(mc_store($s, 'set', "a\x01b", 'ctl'), "STORED\r\n", 'key with \x01 accepted');
is(mc_cmd($s, "get a\x01b"), "VALUE a\x01b 0 3\r\nctl\r\nEND\r\n", 'and read back');
is(mc_store($s, 'set', "c\x7fd", 'del'), "STORED\r\n", 'key with \x7f accepted');
is(mc_get($s, "c\x7fd"), 'del', 'and read back');

# Invalid delta and exptime.
mc_store($s, 'set', 'n', '1');
is(mc_cmd($s, 'incr n x'), "CLIENT_ERROR invalid numeric delta argument\r\n", 'invalid delta');
is(mc_cmd($s, 'decr n -5'), "CLIENT_ERROR invalid numeric delta argument\r\n", 'negative delta');
is(mc_cmd($s, 'touch n x'), "CLIENT_ERROR invalid exptime argument\r\n", 'touch invalid exptime');
is(mc_cmd($s, 'gat x n'), "CLIENT_ERROR invalid exptime argument\r\n", 'gat invalid exptime');
is(mc_cmd($s, 'flush_all x'), "CLIENT_ERROR invalid exptime argument\r\n", 'flush_all bad delay');
is(mc_cmd($s, 'verbosity'), "ERROR\r\n", 'verbosity without level');
is(mc_get($s, 'n'), '1', 'value intact after the errors');

# An over-long line: more than 2048 bytes without a newline (and not a
# get/gets) makes memcached close the connection.
my $c = $srv->sock;
mc_send($c, 'x' x 4096);
ok(RCTest::closed_by_peer($c, 3), 'line over 2048 bytes without newline: connection closed');
# A long multi-get line is fine.
my @keys = map { sprintf 'longkey%05d', $_ } 1 .. 400;    # ~5.2 KB line
is(mc_cmd($s, 'get ' . join(' ', @keys)), "END\r\n", '5 KB multi-get line accepted');
is(mc_cmd($s, 'version') =~ /^VERSION /, 1, 'first connection unaffected');

done_testing();
