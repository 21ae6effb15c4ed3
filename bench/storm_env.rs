//! The environment every exec of the storm gets, shared by the storm
//! benchmark (which execs with it) and the pipeline benchmark (which
//! replays records carrying it): about 600 bytes, with one secret-looking
//! name that `--env` redacts.

pub const STORM_ENV: &[&str] = &[
    "HOME=/home/builder",
    "USER=builder",
    "LOGNAME=builder",
    "SHELL=/bin/bash",
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG=C.UTF-8",
    "TERM=xterm-256color",
    "PWD=/home/builder/src/project",
    "OLDPWD=/home/builder",
    "SHLVL=2",
    "MAKEFLAGS=-j2",
    "CC=gcc",
    "CFLAGS=-O2 -g -pipe -fstack-protector-strong",
    "LDFLAGS=-Wl,-z,relro",
    "XDG_RUNTIME_DIR=/run/user/1000",
    "SSH_CONNECTION=10.0.0.2 52144 10.0.0.1 22",
    "CI=true",
    "GITHUB_TOKEN=ghp_0123456789abcdefghijklmnopqrstuvwxyz",
    "_=/usr/bin/make",
];
