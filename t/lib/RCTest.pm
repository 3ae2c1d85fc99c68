# SPDX-License-Identifier: BSD-3-Clause
#
# RCTest: harness for the TAP integration suite in t/.
#
# Starts a real server on 127.0.0.1 and hands the test raw IO::Socket::INET
# connections, so every byte on the wire is the test's own. The server is
# ringcached by default; with RC_TEST_SERVER=memcached it is the real
# memcached (/usr/bin/memcached, or $MEMCACHED), which is how the protocol
# expectations are validated against memcached's true behaviour.
#
#   my $srv  = RCTest::start(args => ['-c', 10]);
#   my $sock = $srv->sock;
#   is(mc_cmd($sock, "version"), ...);
#   $srv->restart; $srv->kill9; $srv->stop;
#
# Safety rules this module keeps for every test:
#   - a hard alarm (RCTest::set_timeout, default 120 s) ends a hung test;
#   - every server is killed by its PID in END (only by the process that
#     started it, never by forked children), temp dirs go with File::Temp;
#   - every wait is bounded in time.
# Core Perl and Test::More only.
package RCTest;

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Errno qw(EINTR EAGAIN);
use File::Basename qw(dirname);
use File::Spec;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(time sleep);
use Exporter qw(import);

our @EXPORT = qw(mc_cmd mc_send mc_store mc_get mc_gets mc_items mem_stats
  read_line read_bytes read_until read_reply wait_for);

our $READ_TIMEOUT = 10;    # seconds any single reply may take

my $OWNER_PID = $$;        # only this process tears servers down
my %LIVE;                  # pid => server object still running
my $MEMCACHED_MODE = ($ENV{RC_TEST_SERVER} // '') eq 'memcached';

$SIG{PIPE} = 'IGNORE';

# ------------------------------------------------------------ timeouts
sub set_timeout {
    my ($secs) = @_;
    $SIG{ALRM} = sub {
        return unless $$ == $OWNER_PID;
        print STDOUT "Bail out! hard timeout of ${secs}s hit in $0\n";
        _kill_all();
        # exit, not _exit: the script's own END blocks still run (diskfull.t
        # unmounts its tmpfs there) and temporary directories are removed.
        exit(255);
    };
    alarm($secs);
}
set_timeout($ENV{RC_TEST_TIMEOUT} // 120);

END {
    if ($$ == $OWNER_PID) {
        my $status = $?;
        _kill_all();
        $? = $status;
    }
}

sub _kill_all {
    for my $pid (keys %LIVE) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        delete $LIVE{$pid};
    }
}

# ------------------------------------------------------------ which server
sub is_memcached { return $MEMCACHED_MODE }

sub server_name { return $MEMCACHED_MODE ? 'memcached' : 'ringcached' }

# Tests that only make sense for ringcached (persistence, restart, sync
# modes, kill -9) call this first.
sub ringcached_only {
    plan skip_all => 'ringcached-only test (RC_TEST_SERVER=memcached)'
      if $MEMCACHED_MODE;
}

sub memcached_bin { return $ENV{MEMCACHED} // '/usr/bin/memcached' }

sub ringcached_bin {
    return $ENV{RINGCACHED} if $ENV{RINGCACHED};
    my $here = dirname(abs_path($0));    # .../t
    for my $cand (File::Spec->catfile($here, '..', 'ringcached'),
        File::Spec->catfile('.', 'ringcached')) {
        return abs_path($cand) if -x $cand;
    }
    return File::Spec->catfile($here, '..', 'ringcached');
}

sub server_bin { return $MEMCACHED_MODE ? memcached_bin() : ringcached_bin() }

sub free_port {
    my $l = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => 0,
        Proto     => 'tcp',
        Listen    => 1,
        ReuseAddr => 1
    ) or croak "cannot bind a probe socket: $!";
    my $port = $l->sockport;
    close $l;
    return $port;
}

# Runs the server binary with exactly @argv (no defaults added), bounded in
# time. Returns (exit status or undef if it had to be killed, output).
sub run_capture {
    my ($argv, $timeout) = @_;
    $timeout //= 10;
    my $dir = tempdir('rctest-run-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my $out = "$dir/out";
    my $pid = fork() // croak "fork: $!";
    if ($pid == 0) {
        open(STDOUT, '>', $out) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
        open(STDIN, '<', '/dev/null');
        { no warnings "exec"; exec { $argv->[0] } @$argv; }
        POSIX::_exit(127);
    }
    $LIVE{$pid} = { pid => $pid };
    my $deadline = time + $timeout;
    my $status;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) { $status = $? >> 8; last }
        sleep 0.05;
    }
    if (!defined $status) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
    delete $LIVE{$pid};
    open(my $fh, '<', $out);
    local $/;
    my $text = $fh ? (<$fh> // '') : '';
    return ($status, $text);
}

# ------------------------------------------------------------ server object
# Options:
#   args    => [...]  extra arguments for either server (memcached syntax)
#   rc_args => [...]  extra arguments for ringcached only
#   mc_args => [...]  extra arguments for memcached only
#   no_user => 1      do not add -u root even when running as root
#   start_timeout => seconds to wait for the server (default 10)
sub start {
    my (%opts) = @_;
    my $self = bless {
        opts    => \%opts,
        tmp     => tempdir('rctest-XXXXXX', TMPDIR => 1, CLEANUP => 1),
        starts  => 0,
    }, __PACKAGE__;
    $self->{datadir} = "$self->{tmp}/data";
    mkdir $self->{datadir};
    $self->_launch;
    return $self;
}

sub port    { $_[0]{port} }
sub pid     { $_[0]{pid} }
sub datadir { $_[0]{datadir} }
sub tmpdir  { $_[0]{tmp} }
sub log_file { "$_[0]{tmp}/server.log" }

sub log_text {
    my ($self) = @_;
    open(my $fh, '<', $self->log_file) or return '';
    local $/;
    return <$fh> // '';
}

sub _argv {
    my ($self, $port) = @_;
    my $o = $self->{opts};
    my @user = ($> == 0 && !$o->{no_user}) ? ('-u', 'root') : ();
    if ($MEMCACHED_MODE) {
        return (memcached_bin(), '-U', '0', '-l', '127.0.0.1', '-p', $port,
            @user, @{ $o->{args} // [] }, @{ $o->{mc_args} // [] });
    }
    return (ringcached_bin(), '-l', '127.0.0.1', '-p', '0',
        '--port-file', "$self->{tmp}/port", '--data-dir', $self->{datadir},
        @user, @{ $o->{args} // [] }, @{ $o->{rc_args} // [] });
}

sub _spawn {
    my ($self, @argv) = @_;
    my $log = $self->log_file;
    my $pid = fork() // croak "fork: $!";
    if ($pid == 0) {
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>>', $log) or POSIX::_exit(126);
        open(STDERR, '>&', \*STDOUT) or POSIX::_exit(126);
        { no warnings "exec"; exec { $argv[0] } @argv; }
        print STDERR "exec $argv[0]: $!\n";
        POSIX::_exit(127);
    }
    $self->{pid} = $pid;
    $LIVE{$pid} = $self;
    return $pid;
}

sub _launch {
    my ($self) = @_;
    my $limit = $self->{opts}{start_timeout} // 10;
    my $tries = $MEMCACHED_MODE ? 3 : 1;    # a picked port can be raced away
    my $err;
    for my $try (1 .. $tries) {
        unlink "$self->{tmp}/port";
        my $port = $MEMCACHED_MODE ? free_port() : 0;
        my @argv = $self->_argv($port);
        $self->{argv} = \@argv;
        my $pid = $self->_spawn(@argv);
        $err = $self->_await_ready($port, $limit);
        if (!defined $err) { $self->{starts}++; return }
        $self->_reap_hard;
    }
    croak "server did not start: $err\n  argv: @{$self->{argv}}\n  log:\n"
      . $self->log_text;
}

# Waits until the port is known and accepts a connection. Returns undef on
# success, a reason otherwise.
sub _await_ready {
    my ($self, $port, $limit) = @_;
    my $deadline = time + $limit;
    while (time < $deadline) {
        if (waitpid($self->{pid}, WNOHANG) == $self->{pid}) {
            my $st = $?;
            delete $LIVE{ $self->{pid} };
            $self->{pid} = undef;
            return "exited early with status " . ($st >> 8);
        }
        if (!$port) {
            if (open(my $fh, '<', "$self->{tmp}/port")) {
                my $line = <$fh>;
                $port = $1 if defined $line && $line =~ /^\s*(\d+)\s*$/ && $1 > 0;
            }
        }
        if ($port) {
            my $s = IO::Socket::INET->new(
                PeerAddr => '127.0.0.1',
                PeerPort => $port,
                Proto    => 'tcp',
                Timeout  => 1
            );
            if ($s) {
                close $s;
                $self->{port} = $port;
                return undef;
            }
        }
        sleep 0.05;
    }
    return "not ready within ${limit}s";
}

# New connection to the server; dies if it cannot connect.
sub sock {
    my ($self) = @_;
    my $s = $self->try_sock or croak "connect 127.0.0.1:$self->{port}: $!";
    return $s;
}

sub try_sock {
    my ($self) = @_;
    my $s = IO::Socket::INET->new(
        PeerAddr => '127.0.0.1',
        PeerPort => $self->{port},
        Proto    => 'tcp',
        Timeout  => 5
    ) or return undef;
    binmode $s;
    $s->autoflush(1);
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    return $s;
}

sub _reap_hard {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    kill 'KILL', $pid;
    waitpid($pid, 0);
    delete $LIVE{$pid};
    $self->{pid} = undef;
}

# SIGTERM, wait up to $limit seconds, then SIGKILL. Returns the exit status
# (as from $?) of a clean exit, or undef if it had to be killed.
sub stop {
    my ($self, $limit) = @_;
    my $pid = $self->{pid} or return undef;
    $limit //= 10;
    kill 'TERM', $pid;
    my $deadline = time + $limit;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            my $st = $?;
            delete $LIVE{$pid};
            $self->{pid} = undef;
            return $st;
        }
        sleep 0.05;
    }
    diag("server $pid ignored SIGTERM for ${limit}s; sending SIGKILL");
    $self->_reap_hard;
    return undef;
}

sub kill9 {
    my ($self) = @_;
    $self->_reap_hard;
}

sub alive {
    my ($self) = @_;
    my $pid = $self->{pid} or return 0;
    return 0 if waitpid($pid, WNOHANG) == $pid;
    return kill(0, $pid) ? 1 : 0;
}

# Stops the server if still running (cleanly) and starts it again on the
# same data dir with the same options. The port may change.
sub restart {
    my ($self, %o) = @_;
    $self->stop if $self->{pid};
    $self->_launch;
    return $self;
}

# ------------------------------------------------------------ socket IO
# Sockets carry a private read buffer (in the glob's hash) so that line and
# byte reads can be mixed without Perl's buffered IO.
sub _buf { my ($s) = @_; ${*$s}{rctest_buf} //= ''; return \${*$s}{rctest_buf} }

# Reads more bytes into the buffer; false on EOF, error or timeout.
sub _fill {
    my ($s, $deadline) = @_;
    my $buf = _buf($s);
    my $sel = IO::Select->new($s);
    while (1) {
        my $left = $deadline - time;
        return 0 if $left <= 0;
        my @r = $sel->can_read($left);
        next if !@r && $! == EINTR;
        return 0 unless @r;
        my $n = sysread($s, my $chunk, 262144);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            return 0;
        }
        return 0 if $n == 0;
        $$buf .= $chunk;
        return 1;
    }
}

# One line including its "\r\n" (or "\n"), or undef on timeout/EOF.
sub read_line {
    my ($s, $timeout) = @_;
    my $deadline = time + ($timeout // $READ_TIMEOUT);
    my $buf = _buf($s);
    while (1) {
        my $i = index($$buf, "\n");
        return substr($$buf, 0, $i + 1, '') if $i >= 0;
        _fill($s, $deadline) or return undef;
    }
}

# Exactly $n bytes, or undef (the partial data stays buffered).
sub read_bytes {
    my ($s, $n, $timeout) = @_;
    my $deadline = time + ($timeout // $READ_TIMEOUT);
    my $buf = _buf($s);
    while (length($$buf) < $n) {
        _fill($s, $deadline) or return undef;
    }
    return substr($$buf, 0, $n, '');
}

# Reads until the accumulated data matches $re; returns the data up to the
# end of the match. On timeout/EOF returns whatever arrived (possibly '').
sub read_until {
    my ($s, $re, $timeout) = @_;
    my $deadline = time + ($timeout // $READ_TIMEOUT);
    my $buf = _buf($s);
    while (1) {
        if ($$buf =~ $re) {
            return substr($$buf, 0, $+[0], '');
        }
        if (!_fill($s, $deadline)) {
            my $all = $$buf;
            $$buf = '';
            return $all;
        }
    }
}

# True when the peer closed the connection within $timeout seconds (and no
# further data arrived first).
sub closed_by_peer {
    my ($s, $timeout) = @_;
    my $buf = _buf($s);
    return 0 if length $$buf;
    my $sel = IO::Select->new($s);
    my $deadline = time + ($timeout // 2);
    while (time < $deadline) {
        my @r = $sel->can_read($deadline - time) or next;
        my $n = sysread($s, my $chunk, 4096);
        return 1 if defined $n && $n == 0;
        return 1 if !defined $n && $! != EINTR && $! != EAGAIN;
        $$buf .= $chunk if $n;
        return 0 if length $$buf;
    }
    return 0;
}

# Returns the bytes immediately available (waiting at most $timeout), to
# check that nothing unexpected was sent.
sub pending {
    my ($s, $timeout) = @_;
    my $buf = _buf($s);
    _fill($s, time + ($timeout // 0.3)) if !length $$buf;
    my $all = $$buf;
    $$buf = '';
    return $all;
}

# One complete reply: a single line, or VALUE/STAT/ITEM... lines (value data
# read by its length, so binary safe) up to and including "END\r\n".
sub read_reply {
    my ($s, $timeout) = @_;
    my $deadline = time + ($timeout // $READ_TIMEOUT);
    my $out = '';
    while (1) {
        my $line = read_line($s, $deadline - time);
        return (length $out ? $out : undef) unless defined $line;
        $out .= $line;
        if ($line =~ /^VALUE \S+ \d+ (\d+)/) {
            my $data = read_bytes($s, $1 + 2, $deadline - time);
            return $out unless defined $data;
            $out .= $data;
            next;
        }
        next if $line =~ /^(?:STAT|ITEM|PREFIX) /;
        return $out;
    }
}

sub mc_send {
    my ($s, $bytes) = @_;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($s, $bytes, length($bytes) - $off, $off);
        if (!defined $n) {
            next if $! == EINTR || $! == EAGAIN;
            return 0;
        }
        $off += $n;
    }
    return 1;
}

# Sends one command line ("\r\n" added unless present) and returns the whole
# reply (see read_reply), or undef on timeout/EOF.
sub mc_cmd {
    my ($s, $line, $timeout) = @_;
    $line .= "\r\n" unless $line =~ /\r\n\z/;
    mc_send($s, $line) or return undef;
    return read_reply($s, $timeout);
}

# Storage command with a data block. %o: flags, exptime, cas, noreply.
sub mc_store {
    my ($s, $cmd, $key, $val, %o) = @_;
    my $line = sprintf("%s %s %d %d %d", $cmd, $key, $o{flags} // 0,
        $o{exptime} // 0, length $val);
    $line .= " $o{cas}" if defined $o{cas};
    $line .= " noreply" if $o{noreply};
    mc_send($s, "$line\r\n$val\r\n") or return undef;
    return '' if $o{noreply};
    return read_line($s);
}

# Parses a retrieval reply into { key => { value, flags, cas } }.
# Returns undef when the reply is malformed.
sub mc_items {
    my ($s, $cmd) = @_;
    my $reply = mc_cmd($s, $cmd) // return undef;
    my %items;
    while (length $reply) {
        if ($reply =~ s/\AVALUE (\S+) (\d+) (\d+)(?: (\d+))?\r\n//) {
            my ($k, $f, $len, $cas) = ($1, $2, $3, $4);
            return undef if length($reply) < $len + 2
              || substr($reply, $len, 2) ne "\r\n";
            $items{$k} = { value => substr($reply, 0, $len), flags => $f,
                cas => $cas };
            substr($reply, 0, $len + 2, '');
        } elsif ($reply eq "END\r\n") {
            return \%items;
        } else {
            return undef;
        }
    }
    return undef;
}

# Value of one key, or undef when absent.
sub mc_get {
    my ($s, $key) = @_;
    my $it = mc_items($s, "get $key") or return undef;
    return $it->{$key} ? $it->{$key}{value} : undef;
}

# (value, flags, cas) of one key, or () when absent.
sub mc_gets {
    my ($s, $key) = @_;
    my $it = mc_items($s, "gets $key") or return ();
    my $i = $it->{$key} or return ();
    return ($i->{value}, $i->{flags}, $i->{cas});
}

# "stats [sub]" as a hashref name => value.
sub mem_stats {
    my ($s, $sub) = @_;
    my $reply = mc_cmd($s, defined $sub ? "stats $sub" : "stats") // return {};
    my %st;
    for my $line (split /\r\n/, $reply) {
        $st{$1} = $2 if $line =~ /^STAT (\S+) ?(.*)$/;
    }
    return \%st;
}

# Polls $cond every $step seconds until true or $timeout; returns its value.
sub wait_for {
    my ($cond, $timeout, $step) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $v = $cond->();
        return $v if $v;
        return $v if time >= $deadline;
        sleep($step // 0.05);
    }
}

1;
