_execsnoop() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="execsnoop"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        execsnoop)
            opts="-a -d -r -t -T -U -u -P -c -M -n -l -q -x -e -p -o -h -V --max-args --argc --duration --reexec --timestamp --time --print-uid --uid --ppid --cgroup --print-cgroup --print-pcomm --name --line --quote --fails --json --arg-bytes --buffer-kib --exits --wait --summary --top --top-by --top-keys --interval --batch --pid --tree --source --cwd --env --env-bytes --redact --no-redact --context --print-container --container --host --containers --ancestry --names --output --rotate-size --rotate-keep --syslog --syslog-socket --syslog-facility --syslog-app-name --syslog-max-bytes --metrics --metrics-commands --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --argc)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-args)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --duration)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -d)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --uid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -u)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ppid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -P)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --cgroup)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -c)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -n)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --line)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -l)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --arg-bytes)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --buffer-kib)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --top-by)
                    COMPREPLY=($(compgen -W "comm exe user parent container unit cgroup" -- "${cur}"))
                    return 0
                    ;;
                --top-keys)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -p)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --source)
                    COMPREPLY=($(compgen -W "auto bpf ftrace netlink procfs" -- "${cur}"))
                    return 0
                    ;;
                --env-bytes)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --redact)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --container)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ancestry)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --output)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -o)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rotate-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --rotate-keep)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --syslog-socket)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --syslog-facility)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --syslog-app-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --syslog-max-bytes)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --metrics-commands)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _execsnoop -o nosort -o bashdefault -o default execsnoop
else
    complete -F _execsnoop -o bashdefault -o default execsnoop
fi
