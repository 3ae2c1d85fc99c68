# SPDX-License-Identifier: BSD-3-Clause
#
# RCVersion: helpers for the versioning extension of
# doc/protocol-extension.txt (vget/vset/vdel, meta a/y/Y, binary
# 0xe8-0xec), on sockets from RCTest. Core Perl only.
#
#   my ($raw, $objs) = vget($s, 'k1', 'k2');
#       $raw: the whole reply as bytes (up to END, or the one error line);
#       $objs: [ { key, n, ctx, sibs => [ { flags, len, time, value } ] } ]
#   my $line = vset($s, $key, $value, $ctx, flags => 3, exptime => 0);
#   my ($n, $ctx) = stored_of($line);       # from "STORED <n> <ctx>\r\n"
#   my $line = vdel($s, $key, $ctx);
#   my $reply = meta_a($s, "mg k a v f y"); # VS header plus its blocks
#   my $r = bin_vget($s, $key);             # parsed binary VGet reply
package RCVersion;

use strict;
use warnings;

use Exporter qw(import);
use RCTest qw(mc_send read_line read_bytes);
use RCBinary qw(bin_cmd bin_read bin_send);

use constant {
    BIN_VGET     => 0xe8,
    BIN_VSET     => 0xe9,
    BIN_VDELETE  => 0xea,
    BIN_VSETQ    => 0xeb,
    BIN_VDELETEQ => 0xec,
};

# A context token (section 1 and V.9): <vector>.<seal>, vector 7 to 519
# base64url characters, seal exactly 23.
our $CTX_RE = qr/[A-Za-z0-9_-]{7,519}\.[A-Za-z0-9_-]{23}/;

our @EXPORT = qw(BIN_VGET BIN_VSET BIN_VDELETE BIN_VSETQ BIN_VDELETEQ
  $CTX_RE vget vget_raw vset vdel stored_of deleted_of meta_a meta_line
  bin_vget bin_vset bin_vdel parse_vget_value vset_extras);

# Reads one vget reply: VERSIONS/SIBLING blocks up to END, or one other
# line. Returns ($raw, \@objs); $raw is undef on timeout.
sub vget_raw {
    my ($s) = @_;
    my $raw = '';
    my @objs;
    while (1) {
        my $line = read_line($s) // return (undef, \@objs);
        $raw .= $line;
        if ($line =~ /\AVERSIONS (\S+) (\d+) (\S+)\r\n\z/) {
            my $o = { key => $1, n => $2, ctx => $3, sibs => [] };
            for (1 .. $o->{n}) {
                my $sl = read_line($s) // return (undef, \@objs);
                $raw .= $sl;
                $sl =~ /\ASIBLING (\d+) (\d+) (\d+)\r\n\z/
                  or return ($raw, \@objs);
                my ($f, $len, $t) = ($1, $2, $3);
                my $d = read_bytes($s, $len + 2) // return (undef, \@objs);
                $raw .= $d;
                push @{ $o->{sibs} }, { flags => $f, len => $len, time => $t,
                    value => substr($d, 0, $len) };
            }
            push @objs, $o;
            next;
        }
        return ($raw, \@objs);
    }
}

sub vget {
    my ($s, @keys) = @_;
    mc_send($s, "vget @keys\r\n") or return (undef, []);
    return vget_raw($s);
}

# Sends one vset; returns the reply line ('' with noreply).
sub vset {
    my ($s, $key, $val, $ctx, %o) = @_;
    my $line = sprintf("vset %s %d %d %d %s", $key, $o{flags} // 0,
        $o{exptime} // 0, length $val, $ctx);
    $line .= " noreply" if $o{noreply};
    mc_send($s, "$line\r\n$val\r\n") or return undef;
    return '' if $o{noreply};
    return read_line($s);
}

sub vdel {
    my ($s, $key, $ctx, %o) = @_;
    mc_send($s, "vdel $key $ctx" . ($o{noreply} ? " noreply" : '') . "\r\n")
      or return undef;
    return '' if $o{noreply};
    return read_line($s);
}

# (n, ctx) from "STORED <n> <ctx>\r\n", or () for any other line.
sub stored_of {
    my ($line) = @_;
    return () unless defined $line && $line =~ /\ASTORED (\d+) ($CTX_RE)\r\n\z/;
    return ($1, $2);
}

sub deleted_of {
    my ($line) = @_;
    return () unless defined $line && $line =~ /\ADELETED (\d+) ($CTX_RE)\r\n\z/;
    return ($1, $2);
}

# One meta command line (plus a data block when $data is defined); returns
# one reply line, with its data block when it is a VA line.
sub meta_line {
    my ($s, $line, $data) = @_;
    mc_send($s, "$line\r\n" . (defined $data ? "$data\r\n" : '')) or return undef;
    my $r = read_line($s) // return undef;
    if ($r =~ /\AVA (\d+)/) {
        my $d = read_bytes($s, $1 + 2) // return $r;
        $r .= $d;
    }
    return $r;
}

# mg with a: the VS header and its n blocks (VA with data, or HD lines);
# any other first line alone.
sub meta_a {
    my ($s, $line) = @_;
    mc_send($s, "$line\r\n") or return undef;
    my $r = read_line($s) // return undef;
    return $r unless $r =~ /\AVS (\d+)/;
    my $n = $1;
    for (1 .. $n) {
        my $l = read_line($s) // return $r;
        $r .= $l;
        if ($l =~ /\AVA (\d+)/) {
            my $d = read_bytes($s, $1 + 2) // return $r;
            $r .= $d;
        }
    }
    return $r;
}

# Parses the value of a successful VGet reply given n and L from its
# extras: returns (ctx, [ { flags, time, value } ]) or () if malformed.
sub parse_vget_value {
    my ($value, $n, $L) = @_;
    return () if length($value) < $L;
    my $ctx = substr($value, 0, $L);
    my $off = $L;
    my @sibs;
    for (1 .. $n) {
        return () if length($value) < $off + 16;
        my ($f, $t, $m) = unpack('NQ>N', substr($value, $off, 16));
        $off += 16;
        return () if length($value) < $off + $m;
        push @sibs, { flags => $f, time => $t, value => substr($value, $off, $m) };
        $off += $m;
    }
    return () if $off != length $value;
    return ($ctx, \@sibs);
}

# VGet; returns the bin_read hash plus, on success, n, L, ctx, sibs.
sub bin_vget {
    my ($s, $key, %o) = @_;
    my $r = bin_cmd($s, op => BIN_VGET, key => $key, %o) // return undef;
    if ($r->{status} == 0 && length($r->{extras}) == 8) {
        my ($n, $L, $z) = unpack('Nnn', $r->{extras});
        @$r{qw(n L reserved)} = ($n, $L, $z);
        my ($ctx, $sibs) = parse_vget_value($r->{value}, $n, $L);
        @$r{qw(ctx sibs)} = ($ctx, $sibs);
    }
    return $r;
}

sub vset_extras {
    my ($flags, $exp, $L) = @_;
    return pack('NNn', $flags // 0, $exp // 0, $L);
}

# VSet (or VSetQ with quiet => 1): context and data. Returns the reply
# (undef for a quiet one: nothing is read).
sub bin_vset {
    my ($s, $key, $val, $ctx, %o) = @_;
    my $op = $o{quiet} ? BIN_VSETQ : BIN_VSET;
    my %p = (op => $op, key => $key,
        extras => vset_extras($o{flags}, $o{exptime}, length $ctx),
        value => $ctx . $val, opaque => $o{opaque} // 0, cas => $o{cas} // 0);
    if ($o{quiet}) { bin_send($s, %p); return undef }
    return bin_cmd($s, %p);
}

sub bin_vdel {
    my ($s, $key, $ctx, %o) = @_;
    my $op = $o{quiet} ? BIN_VDELETEQ : BIN_VDELETE;
    my %p = (op => $op, key => $key, extras => pack('n', length $ctx),
        value => $ctx, opaque => $o{opaque} // 0, cas => $o{cas} // 0);
    if ($o{quiet}) { bin_send($s, %p); return undef }
    return bin_cmd($s, %p);
}

1;
