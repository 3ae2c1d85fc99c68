#!/usr/bin/perl
# SPDX-License-Identifier: BSD-3-Clause
# delete.t: delete replies, the legacy "delete <key> 0" form, the usage
# error for any other time argument, noreply, and that a deleted key can be
# added again.
use strict;
use warnings;
use Test::More;
use RCTest;

RCTest::set_timeout(60);
my $srv = RCTest::start();
my $s = $srv->sock;

is(mc_cmd($s, 'delete nokey'), "NOT_FOUND\r\n", 'delete missing');
is(mc_store($s, 'set', 'd1', 'x'), "STORED\r\n", 'set d1');
is(mc_cmd($s, 'delete d1'), "DELETED\r\n", 'delete');
is(mc_cmd($s, 'get d1'), "END\r\n", 'gone');
is(mc_cmd($s, 'delete d1'), "NOT_FOUND\r\n", 'delete again');
is(mc_store($s, 'add', 'd1', 'new'), "STORED\r\n", 'add after delete');
is(mc_get($s, 'd1'), 'new', 'new value');

# "delete <key> 0" is still accepted (old clients sent a hold time of 0).
is(mc_cmd($s, 'delete d1 0'), "DELETED\r\n", 'delete key 0');
is(mc_store($s, 'set', 'd1', 'x'), "STORED\r\n", 'set d1 again');
my $usage = "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n";
is(mc_cmd($s, 'delete d1 5'), $usage, 'delete key 5: usage error (two spaces)');
is(mc_cmd($s, 'delete d1 x'), $usage, 'delete key x: usage error');
is(mc_get($s, 'd1'), 'x', 'not deleted by bad commands');
is(mc_cmd($s, 'delete'), "ERROR\r\n", 'delete without key');
is(mc_cmd($s, 'delete a b c d'), "ERROR\r\n", 'too many tokens: ERROR');

# noreply
mc_send($s, "delete d1 noreply\r\n");
mc_send($s, "delete d1 noreply\r\n");
is(RCTest::pending($s, 0.3), '', 'delete noreply: nothing sent (hit or miss)');
is(mc_get($s, 'd1'), undef, 'deleted by noreply');
is(mc_store($s, 'set', 'd2', 'x'), "STORED\r\n", 'set d2');
mc_send($s, "delete d2 0 noreply\r\n");
is(mc_get($s, 'd2'), undef, 'delete key 0 noreply');

# Deleting one key leaves others.
mc_store($s, 'set', "k$_", "v$_") for 1 .. 5;
is(mc_cmd($s, 'delete k3'), "DELETED\r\n", 'delete k3');
is(join(',', map { mc_get($s, "k$_") // '-' } 1 .. 5), 'v1,v2,-,v4,v5', 'others intact');

done_testing();
