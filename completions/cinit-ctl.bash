# bash completion for cinit-ctl
_cinit_ctl_services() {
    local svc="${CINIT_DIR:-/etc/cinit}/svc"
    [ -d "$svc" ] || return
    (cd "$svc" && find . -mindepth 1 -type d ! -name needs ! -name wants \
        ! -path '*/needs/*' ! -path '*/wants/*' ! -name '.*' 2>/dev/null | sed 's|^\./||')
}

_cinit_ctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}"
    local verbs="start stop restart wait status list pid log version reboot halt poweroff rescue update check analyze graph fdstore top"
    local verb="" i
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${COMP_WORDS[i]}" in
            -*) ;;
            *) verb="${COMP_WORDS[i]}"; break ;;
        esac
    done
    # Words after the verb (fdstore: SERVICE, then an action, NAME, PROG...).
    local after=$((COMP_CWORD - i - 1))
    case "$verb" in
        "") COMPREPLY=($(compgen -W "$verbs --json --help --version" -- "$cur")) ;;
        fdstore)
            case "$after" in
                0) COMPREPLY=($(compgen -W "--json $(_cinit_ctl_services)" -- "$cur")) ;;
                1) COMPREPLY=($(compgen -W "put get drop" -- "$cur")) ;;
                *) case "${COMP_WORDS[i+2]}" in
                       put) COMPREPLY=($(compgen -W "--fd" -- "$cur")) ;;
                       get) [ "${COMP_WORDS[COMP_CWORD-1]}" = --fd ] ||
                           COMPREPLY=($(compgen -W "--remove --fd" -c -- "$cur")) ;;
                   esac ;;
            esac ;;
        start) COMPREPLY=($(compgen -W "--no-deps $(_cinit_ctl_services)" -- "$cur")) ;;
        stop|restart|pid) COMPREPLY=($(compgen -W "$(_cinit_ctl_services)" -- "$cur")) ;;
        log) COMPREPLY=($(compgen -W "-n -f $(_cinit_ctl_services)" -- "$cur")) ;;
        wait) [ "${COMP_WORDS[COMP_CWORD-1]}" = --timeout ] ||
            COMPREPLY=($(compgen -W "--timeout $(_cinit_ctl_services)" -- "$cur")) ;;
        status) COMPREPLY=($(compgen -W "--json $(_cinit_ctl_services)" -- "$cur")) ;;
        list) COMPREPLY=($(compgen -W "--json" -- "$cur")) ;;
        top) [ "${COMP_WORDS[COMP_CWORD-1]}" = -n ] ||
            COMPREPLY=($(compgen -W "--cpu -n" -- "$cur")) ;;
        check) COMPREPLY=($(compgen -d -- "$cur")) ;;
        analyze)
            if [ "${COMP_WORDS[COMP_CWORD-1]}" = "--svg" ]; then
                COMPREPLY=($(compgen -f -- "$cur"))
            else
                COMPREPLY=($(compgen -W "--svg --deps --json" -- "$cur"))
            fi ;;
    esac
}
complete -F _cinit_ctl cinit-ctl
