# bash completion for wapctl, the wapd admin CLI.
#
# Completes, from a static table kept in step with wapctl's nouns: the global options (anywhere before the
# noun), the nouns, each noun's verbs, and after the verb that noun's field options (the API's camelCase
# field names in kebab case) and the verb's own options. Values are completed where they are known: -o
# table|json, files for --cacert, --out and the like, directories for --state-dir, a plan's --state and
# --checkpoint-mode. Installed as share/bash-completion/completions/wapctl; needs bash 4 (associative arrays)
# and nothing from the bash-completion package.

# One row per noun: its verbs, then after " : " the field options its verbs take (create and update
# bodies, list filters, the verbs' own options).
declare -gA _wapctl_nouns=(
    [clouds]="list show create update delete : --name --description"
    [hosts]="list show create update delete refresh unmanaged simulate : --name --cloud-id --agent-kind
             --agent-uri --agent-token --agent-ca-file --capacity-cores --capacity-memory-mb
             --capacity-storage-gb --state --regenerate-ids"
    [sizes]="list show create update delete : --name --cores --memory-mb --dynamic-memory-enabled
             --dynamic-memory-minimum-mb --dynamic-memory-maximum-mb"
    [images]="list show create update delete : --name --os-type --generation --os-disk-gb"
    [gallery]="list show create update delete : --name --version --image-id --default-size
               --min-instances --max-instances"
    [plans]="list show create update delete : --name --cloud-id --state --quota --image-ids --size-names
             --gallery-item-ids --checkpoint-mode --checkpoint-retention-hours --replica-cloud-ids"
    [users]="list show create update delete : --email --name --state"
    [tokens]="list show create delete : --name --scope --expires-in-days --user-id"
    [subscriptions]="list show create update delete suspend activate reconcile : --user-id --plan-id
                     --display-name --state"
    [vms]="list show reassociate migrate : --subscription-id --host-id --power-state --vm-role-id
           --hypervisor-id"
    [vmroles]="join : --vm-id --host-id --hypervisor-id"
    [jobs]="list show wait cancel restart : --status --kind --resource-id --subscription-id
            --skip-last-failed-step"
    [hooks]="list show create update delete deliveries redeliver : --url --events --secret --active
             --description"
    [events]="list : --after --limit"
    [usage]="list ack export : --after --limit --cursor --out --ack"
    [checkpoints]="prune delete : --cloud-id --plan-id --older-than-hours"
    [backup]=" : --out"
)

_wapctl_globals="--url --token --state-dir --cacert -o --output --wait --help --version"

# Known values of an option (for noun $3), or a file or directory; returns 1 when opt takes no value.
_wapctl_values() {
    local opt=$1 cur=$2 noun=$3
    case $opt in
        --state)
            case $noun in
                hosts) COMPREPLY=($(compgen -W "ok maintenance" -- "$cur")) ;;
                plans) COMPREPLY=($(compgen -W "public private decommissioned" -- "$cur")) ;;
                *) COMPREPLY=($(compgen -W "active suspended" -- "$cur")) ;;
            esac ;;
        --status) COMPREPLY=($(compgen -W "queued running succeeded failed canceled" -- "$cur")) ;;
        --os-type) COMPREPLY=($(compgen -W "windows linux" -- "$cur")) ;;
        --generation) COMPREPLY=($(compgen -W "1 2" -- "$cur")) ;;
        -o|--output) COMPREPLY=($(compgen -W "table json" -- "$cur")) ;;
        --cacert|--out) COMPREPLY=($(compgen -f -- "$cur")) ;;
        --state-dir) COMPREPLY=($(compgen -d -- "$cur")) ;;
        --checkpoint-mode) COMPREPLY=($(compgen -W "disabled viewRestore createViewRestore" -- "$cur")) ;;
        --scope) COMPREPLY=($(compgen -W "admin readOnly usage" -- "$cur")) ;;
        --agent-kind) COMPREPLY=($(compgen -W "sim http libvirt" -- "$cur")) ;;
        --active|--ack|--skip-last-failed-step|--dynamic-memory-enabled)
            COMPREPLY=($(compgen -W "true false" -- "$cur")) ;;
        --url|--token|--name|--description|--email|--display-name|--quota|--cores|--memory-mb|--limit|\
        --after|--cursor|\
        --*-id|--*-ids|--*-mb|--*-gb|--*-hours|--*-days|--*-instances|--*-names|--version|\
        --default-size|--events|--secret|--power-state|--kind|--agent-*|--capacity-*)
            COMPREPLY=() ;;
        *) return 1 ;;
    esac
    return 0
}

_wapctl() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=
    local i word noun= verb= skip=0
    local value_globals=" --url --token --state-dir --cacert -o --output " verbs fields

    [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD-1]}
    COMPREPLY=()
    # Find the noun and the verb: the first words that are neither options nor option values.
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        if [ "$skip" = 1 ]; then
            skip=0
        elif [[ $word == -*=* ]]; then
            :
        elif [[ $word == -* ]]; then
            [[ $value_globals == *" $word "* ]] && skip=1
            [ -n "$noun" ] && [[ $word != --wait && $word != --ack && $word != --help ]] && skip=1
        elif [ -z "$noun" ]; then
            noun=$word
        elif [ -z "$verb" ]; then
            verb=$word
        fi
    done
    if [ -n "$noun" ]; then
        verbs=${_wapctl_nouns[$noun]%%:*}
        fields=${_wapctl_nouns[$noun]#*:}
    fi
    if [[ $prev == -* ]] && _wapctl_values "$prev" "$cur" "$noun"; then
        return 0
    fi
    if [ -z "$noun" ]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W "$_wapctl_globals" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "${!_wapctl_nouns[*]}" -- "$cur"))
        fi
    elif [ -z "$verb" ] && [ -n "${verbs// /}" ] && [[ $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
    elif [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$fields $_wapctl_globals" -- "$cur"))
    fi
    return 0
}

complete -F _wapctl wapctl
