# SPDX-License-Identifier: BSD-3-Clause
#
# RCBinary: build, send and parse memcached binary-protocol packets for the
# TAP tests, with pack/unpack only (core Perl), on sockets from RCTest.
#
# Every packet is a 24-byte header, all integers big-endian:
#   magic(1) opcode(1) keylen(2) extlen(1) datatype(1) vbucket|status(2)
#   bodylen(4) opaque(4) cas(8)
# then extras, key, value. Requests have magic 0x80, responses 0x81.
#
#   my $pkt = bin_packet(op => BIN_SET, key => 'k', value => 'v',
#                        extras => bin_set_extras(0, 0), opaque => 7);
#   my $r = bin_cmd($s, op => BIN_GET, key => 'k');   # send + read one
#   $r->{status}, $r->{value}, $r->{extras}, $r->{cas}, $r->{opaque}
#   my @replies = bin_until_noop($s);                  # quiet batches
#
# Header fields can be overridden (keylen, extlen, bodylen, magic) to build
# hostile packets whose lengths do not match their contents.
package RCBinary;

use strict;
use warnings;

use Carp qw(croak);
use Exporter qw(import);
use Time::HiRes qw(time);
use RCTest qw(mc_send read_bytes);

use constant {
    BIN_REQ_MAGIC => 0x80,
    BIN_RES_MAGIC => 0x81,
    BIN_HDR_LEN   => 24,

    BIN_GET        => 0x00,
    BIN_SET        => 0x01,
    BIN_ADD        => 0x02,
    BIN_REPLACE    => 0x03,
    BIN_DELETE     => 0x04,
    BIN_INCR       => 0x05,
    BIN_DECR       => 0x06,
    BIN_QUIT       => 0x07,
    BIN_FLUSH      => 0x08,
    BIN_GETQ       => 0x09,
    BIN_NOOP       => 0x0a,
    BIN_VERSION    => 0x0b,
    BIN_GETK       => 0x0c,
    BIN_GETKQ      => 0x0d,
    BIN_APPEND     => 0x0e,
    BIN_PREPEND    => 0x0f,
    BIN_STAT       => 0x10,
    BIN_SETQ       => 0x11,
    BIN_ADDQ       => 0x12,
    BIN_REPLACEQ   => 0x13,
    BIN_DELETEQ    => 0x14,
    BIN_INCRQ      => 0x15,
    BIN_DECRQ      => 0x16,
    BIN_QUITQ      => 0x17,
    BIN_FLUSHQ     => 0x18,
    BIN_APPENDQ    => 0x19,
    BIN_PREPENDQ   => 0x1a,
    BIN_VERBOSITY  => 0x1b,
    BIN_TOUCH      => 0x1c,
    BIN_GAT        => 0x1d,
    BIN_GATQ       => 0x1e,
    BIN_SASL_LIST  => 0x20,
    BIN_SASL_AUTH  => 0x21,
    BIN_SASL_STEP  => 0x22,
    BIN_GATK       => 0x23,
    BIN_GATKQ      => 0x24,

    ST_SUCCESS     => 0x0000,
    ST_NOT_FOUND   => 0x0001,
    ST_EXISTS      => 0x0002,
    ST_TOO_LARGE   => 0x0003,
    ST_EINVAL      => 0x0004,
    ST_NOT_STORED  => 0x0005,
    ST_DELTA_BADVAL => 0x0006,
    ST_AUTH_ERROR  => 0x0020,
    ST_AUTH_CONTINUE => 0x0021,
    ST_UNKNOWN     => 0x0081,
    ST_ENOMEM      => 0x0082,
};

our @EXPORT = qw(
  BIN_REQ_MAGIC BIN_RES_MAGIC BIN_HDR_LEN
  BIN_GET BIN_SET BIN_ADD BIN_REPLACE BIN_DELETE BIN_INCR BIN_DECR BIN_QUIT
  BIN_FLUSH BIN_GETQ BIN_NOOP BIN_VERSION BIN_GETK BIN_GETKQ BIN_APPEND
  BIN_PREPEND BIN_STAT BIN_SETQ BIN_ADDQ BIN_REPLACEQ BIN_DELETEQ BIN_INCRQ
  BIN_DECRQ BIN_QUITQ BIN_FLUSHQ BIN_APPENDQ BIN_PREPENDQ BIN_VERBOSITY
  BIN_TOUCH BIN_GAT BIN_GATQ BIN_SASL_LIST BIN_SASL_AUTH BIN_SASL_STEP
  BIN_GATK BIN_GATKQ
  ST_SUCCESS ST_NOT_FOUND ST_EXISTS ST_TOO_LARGE ST_EINVAL ST_NOT_STORED
  ST_DELTA_BADVAL ST_AUTH_ERROR ST_AUTH_CONTINUE ST_UNKNOWN ST_ENOMEM
  bin_packet bin_send bin_read bin_cmd bin_until_noop bin_set_extras
  bin_incr_extras bin_exp_extras bin_u64 bin_status_text
);

my %STATUS_TEXT = (
    0x0001 => 'Not found',
    0x0002 => 'Data exists for key.',
    0x0003 => 'Too large.',
    0x0004 => 'Invalid arguments',
    0x0005 => 'Not stored.',
    0x0006 => 'Non-numeric server-side value for incr or decr',
    0x0020 => 'Auth failure.',
    0x0081 => 'Unknown command',
    0x0082 => 'Out of memory',
);

# memcached's error body for a status ('' for success and unknown ones).
sub bin_status_text { return $STATUS_TEXT{ $_[0] } // '' }

# Extras of set/add/replace: flags and exptime.
sub bin_set_extras { my ($flags, $exp) = @_; return pack('NN', $flags // 0, $exp // 0) }

# Extras of incr/decr: delta, initial value, exptime (0xffffffff: no create).
sub bin_incr_extras {
    my ($delta, $initial, $exp) = @_;
    return pack('Q>Q>N', $delta // 1, $initial // 0, $exp // 0);
}

# Extras of touch/gat and flush: one exptime (or delay).
sub bin_exp_extras { return pack('N', $_[0] // 0) }

# Decodes an 8-byte big-endian unsigned integer (incr/decr replies).
sub bin_u64 { return unpack('Q>', $_[0]) }

# One request packet. %o: op (required), key, extras, value, opaque, cas,
# and raw header overrides magic, datatype, vbucket, keylen, extlen, bodylen.
sub bin_packet {
    my (%o) = @_;
    croak 'bin_packet: op required' unless defined $o{op};
    my $key    = $o{key}    // '';
    my $extras = $o{extras} // '';
    my $value  = $o{value}  // '';
    my $body   = $extras . $key . $value;
    return pack('CCnCCnNNQ>',
        $o{magic}    // BIN_REQ_MAGIC,
        $o{op},
        $o{keylen}   // length $key,
        $o{extlen}   // length $extras,
        $o{datatype} // 0,
        $o{vbucket}  // 0,
        $o{bodylen}  // length $body,
        $o{opaque}   // 0,
        $o{cas}      // 0) . $body;
}

sub bin_send {
    my ($s, %o) = @_;
    return mc_send($s, bin_packet(%o));
}

# Reads one response; returns a hashref (magic opcode keylen extlen datatype
# status bodylen opaque cas extras key value), or undef on timeout/EOF.
sub bin_read {
    my ($s, $timeout) = @_;
    my $deadline = time + ($timeout // $RCTest::READ_TIMEOUT);
    my $hdr = read_bytes($s, BIN_HDR_LEN, $deadline - time) // return undef;
    my %r;
    @r{qw(magic opcode keylen extlen datatype status bodylen opaque cas)} =
      unpack('CCnCCnNNQ>', $hdr);
    # A response body larger than 64 MiB means the stream is out of step.
    return undef if $r{bodylen} > 64 * 1024 * 1024;
    my $body = '';
    if ($r{bodylen}) {
        my $left = $deadline - time;
        $body = read_bytes($s, $r{bodylen}, $left > 0 ? $left : 0.01) // return undef;
    }
    $r{extras} = substr($body, 0, $r{extlen});
    $r{key}    = substr($body, $r{extlen}, $r{keylen});
    $r{value}  = substr($body, $r{extlen} + $r{keylen});
    $r{raw}    = $hdr . $body;
    return \%r;
}

# Sends one request and reads one response.
sub bin_cmd {
    my ($s, %o) = @_;
    bin_send($s, %o) or return undef;
    return bin_read($s);
}

# Reads responses up to and including the first Noop response (at most
# $max of them, default 10000, within $timeout seconds). Returns the list;
# the last element is the Noop reply unless time or count ran out.
sub bin_until_noop {
    my ($s, $timeout, $max) = @_;
    my $deadline = time + ($timeout // $RCTest::READ_TIMEOUT);
    $max //= 10000;
    my @out;
    while (@out < $max) {
        my $left = $deadline - time;
        last if $left <= 0;
        my $r = bin_read($s, $left) // last;
        push @out, $r;
        last if $r->{opcode} == BIN_NOOP;
    }
    return @out;
}

1;
