complete -c execsnoop -s a -l argc -l max-args -d 'Show at most ARGC arguments after argv[0], then " [...]" when more exist (default: all)' -r
complete -c execsnoop -s d -l duration -d 'Trace for SECS seconds (fractions allowed), then print what was seen in time order and exit' -r
complete -c execsnoop -s u -l uid -d 'Only processes of this user (name or number; filtered in the kernel)' -r
complete -c execsnoop -s P -l ppid -d 'Only processes whose parent is PID (filtered in the kernel)' -r
complete -c execsnoop -s c -l cgroup -d 'Only processes in this cgroup v2 directory or below it (filtered in the kernel)' -r -F
complete -c execsnoop -s n -l name -d 'Only processes whose name (after exec) matches this regular expression; the same as NAME' -r
complete -c execsnoop -s l -l line -d 'Only processes whose command line (the arguments, argv[0] included, joined by single spaces) matches this regular expression' -r
complete -c execsnoop -l arg-bytes -d 'Capture at most BYTES of each process\'s arguments (default 32768, at most 6291456); longer argument lists are marked truncated' -r
complete -c execsnoop -l buffer-kib -d 'Ring buffer size in KiB, a power of two (default 1024, or larger to hold a few records of --arg-bytes)' -r
complete -c execsnoop -l top-by -d 'With --top, what a row stands for: comm (the name), exe (the file run), user, parent (its name), container (id), unit (the systemd unit of its cgroup) or cgroup (path); default comm' -r -f -a "comm\t''
exe\t''
user\t''
parent\t''
container\t''
unit\t''
cgroup\t''"
complete -c execsnoop -l top-keys -d 'With --top, rows of their own per key, at most (default 10000); the rest are added up in one "(other)" row' -r
complete -c execsnoop -l interval -d 'With --top, refresh (or print a table) every SECS seconds (default 1)' -r
complete -c execsnoop -s p -l pid -d 'Only PID and all its descendants, including those forked after tracing started (followed in the kernel from fork)' -r
complete -c execsnoop -l source -d 'Where events come from: auto (the first that starts, best first), or one source by name. ftrace counts as lost, and never shows, an exec whose file name has a newline (its text could forge records)' -r -f -a "auto\t''
bpf\t''
ftrace\t''
netlink\t''
procfs\t''"
complete -c execsnoop -l env-bytes -d 'Capture at most BYTES of each environment block (default 32768)' -r
complete -c execsnoop -l redact -d 'Also redact what this regular expression matches, on the command line (the arguments joined by single spaces: a match may span arguments) and in each environment entry; with capture groups, only what they match (e.g. \'(?:--pin|-P)(?:\\s+|=)(\\S*)\'). May be given more than once. Secret-looking names, values and options are redacted by default (see the README)' -r
complete -c execsnoop -l container -d 'Only processes in a container whose id starts with ID-PREFIX' -r
complete -c execsnoop -l ancestry -d 'With --json, the chain of up to N ancestors (pid, comm, exec_id) of each exec, as far as their execs were seen' -r
complete -c execsnoop -s o -l output -d 'Write the records (text, or --json) to PATH instead of stdout: appended, created mode 0640; refused if it is a symbolic link, not a regular file, or writable by others (or in a directory they can write without the sticky bit); SIGHUP reopens it (for logrotate)' -r -F
complete -c execsnoop -l rotate-size -d 'Rotate --output when it would grow past SIZE (bytes, or with a K, M or G suffix: KiB, MiB, GiB): PATH becomes PATH.1, PATH.1 PATH.2, ...' -r
complete -c execsnoop -l rotate-keep -d 'Rotated files kept, PATH.1 (newest) to PATH.N (default 5; 0: none)' -r
complete -c execsnoop -l syslog-socket -d 'The syslog socket (default /dev/log)' -r -F
complete -c execsnoop -l syslog-facility -d 'The syslog facility: kern, user, mail, daemon (default), auth, syslog, lpr, news, uucp, cron, authpriv, ftp, local0..local7' -r
complete -c execsnoop -l syslog-app-name -d 'The syslog APP-NAME (default execsnoop)' -r
complete -c execsnoop -l syslog-max-bytes -d 'Largest syslog message (default 8192, rsyslog\'s default); a longer record is sent in parts, marked part="K" parts="N"' -r
complete -c execsnoop -l metrics -d 'Serve Prometheus metrics on http://ADDR:PORT/metrics (e.g. 127.0.0.1:9432): execs, failed execs, exits, losses, source. One thread, at most 64 connections (a new one evicts the oldest that has not sent its request), 2 s for a whole request and 2 s to take the answer, headers up to 16 KiB (else 431)' -r
complete -c execsnoop -l metrics-commands -d 'With --metrics, per-command exec counters for a table of N commands (at most 1000) that keeps the busiest (any with over 1/N of all execs), plus one counter for the execs of those pushed out (default: none, to keep cardinality low)' -r
complete -c execsnoop -s r -l reexec -d 'Accepted for compatibility: re-execs are always shown'
complete -c execsnoop -s t -l timestamp -d 'Print a TIMEs column: the kernel timestamp, seconds since boot'
complete -c execsnoop -s T -l time -d 'Print a TIME column: the wall-clock time of the exec, HH:MM:SS in the local time zone'
complete -c execsnoop -s U -l print-uid -d 'Print a UID column: the process\'s real user id'
complete -c execsnoop -l print-cgroup -d 'Print a CGROUP column (JSON: a cgroup field): the process\'s cgroup v2 path, "?" when it cannot be found (removed before it was looked up)'
complete -c execsnoop -s M -l print-pcomm -d 'Print a PCOMM column: the parent process\'s name'
complete -c execsnoop -s q -l quote -d 'Quote the arguments so that ARGS can be pasted into a POSIX shell and run as is; notes such as [...] become a trailing # comment'
complete -c execsnoop -s x -l fails -d 'Also show failed exec attempts, with a RET column (0 or -errno). Attaches syscall tracepoints, which slow every syscall a little'
complete -c execsnoop -l json -d 'One JSON object per line instead of text columns'
complete -c execsnoop -s e -l exits -d 'Also report each process\'s end: exit status (code or signal), lifetime since its exec and CPU time used since its exec'
complete -c execsnoop -l wait -d 'One line per process, printed when it ends, with EXIT, TIME(s) and CPU(s) columns (implies --exits; still-running ones are listed at the end). At most 64 MiB of rows wait: beyond, the oldest are printed at once as running, and stderr says so'
complete -c execsnoop -l summary -d 'When tracing ends, print a table of commands sorted by total CPU: execs, failures (-x), total and mean CPU and lifetime, still running. At most 4096 names get a row; the rest are added up in one "(other commands)" row'
complete -c execsnoop -l top -d 'A live view instead of a log: one row per command (or --top-by key) with execs in the interval and in total, rate, failures (-x), exits by kind, CPU, lifetime (mean, p95) and how many still run, refreshed every --interval. Keys: c n f l sort (< > move), k switch key, / filter rows, p pause, Up/Down select, e recent execs of the row, q quit. Without a terminal (or with --batch), one table per interval; with --json, one interval record per interval'
complete -c execsnoop -l batch -d 'With --top, plain tables even on a terminal (as top -b)'
complete -c execsnoop -l tree -d 'Indent each row by its depth below the traced root (-p or COMMAND), or below the first ancestor seen'
complete -c execsnoop -l cwd -d 'A CWD column (JSON: cwd): the working directory at the exec, as the process sees it'
complete -c execsnoop -l env -d 'Capture the environment (JSON: env; text: a trailing [env: ...]). Secrets in it are redacted unless --no-redact'
complete -c execsnoop -l no-redact -d 'Redact nothing: show arguments and environment values as they are (the default rules off; not with --redact)'
complete -c execsnoop -l context -d 'Who, where and which exec, in JSON (credentials, audit login and session, tty, namespaces, pid in its namespace, exec ids, container); in text, a [setuid] / [setgid] / [caps] mark where an exec raised privileges'
complete -c execsnoop -l print-container -d 'A CONTAINER column: the container id (12 characters, as docker ps shows it), - on the host'
complete -c execsnoop -l host -d 'Only processes in the host\'s pid namespace'
complete -c execsnoop -l containers -d 'Only processes in another pid namespace than the host\'s (containers)'
complete -c execsnoop -l names -d 'With -U, user names instead of numbers (from /etc/passwd, read once)'
complete -c execsnoop -l syslog -d 'Send each record to the local syslog (/dev/log) as an RFC 5424 message whose text is the record\'s JSON'
complete -c execsnoop -s h -l help -d 'Print help'
complete -c execsnoop -s V -l version -d 'Print version'
