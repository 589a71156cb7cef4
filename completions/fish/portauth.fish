# fish completion for portauth(8):
#   portauth COMMAND [OPTIONS] ...
#   (revoke offers the existing grants, from 'portauth list --json')
#   portauth [--deep] [--pin-dir DIR] [--] PROGRAM [ARGS...]

set -g __portauth_subcommands apply status unload check allow revoke list

# Where the command line is, parsed the way portauth parses it:
#   first       nothing after "portauth" yet
#   COMMAND     a subcommand (apply, status, ...)
#   adverb      adverb options, no PROGRAM yet
#   program     PROGRAM is being typed
#   args        after PROGRAM: PROGRAM's own arguments
#   none        after -h, --help, --version or an unknown option
function __portauth_state
    set -l tokens (commandline -opc)
    set -e tokens[1]
    if test (count $tokens) -eq 0
        echo first
        return
    end
    if contains -- $tokens[1] $__portauth_subcommands
        echo $tokens[1]
        return
    end
    set -l skip 0
    for t in $tokens
        if test $skip -eq 1
            set skip 0
        else if test "$t" = --
            # PROGRAM comes next, or is already there.
            if test (count (__portauth_program_tokens)) -gt 0
                echo args
            else
                echo program
            end
            return
        else if test "$t" = --deep; or string match -q -- '--pin-dir=*' $t
            continue
        else if test "$t" = --pin-dir
            set skip 1
        else if string match -q -- '-*' $t
            echo none
            return
        else
            echo args
            return
        end
    end
    echo adverb
end

# PROGRAM and what follows it on the command line (the current token included).
function __portauth_program_tokens
    set -l tokens (commandline -opc) (commandline -ct)
    set -e tokens[1]
    set -l skip 0
    for i in (seq (count $tokens))
        set -l t $tokens[$i]
        if test $skip -eq 1
            set skip 0
        else if test "$t" = --
            set -l next (math $i + 1)
            if test $next -lt (count $tokens)
                printf '%s\n' $tokens[$next..-1]
            end
            return
        else if test "$t" = --deep; or string match -q -- '--pin-dir=*' $t
            continue
        else if test "$t" = --pin-dir
            set skip 1
        else if string match -q -- '-*' $t
            return
        else
            if test $i -lt (count $tokens)
                printf '%s\n' $tokens[$i..-1]
            end
            return
        end
    end
end

# Completes PROGRAM's arguments as PROGRAM itself would.
function __portauth_complete_program
    set -l tokens (__portauth_program_tokens)
    test (count $tokens) -gt 0; or return
    complete -C (string join -- ' ' (string escape -- $tokens))
end

function __portauth_in
    contains -- (__portauth_state) $argv
end

# How many positional arguments of the subcommand precede the current token.
function __portauth_positionals
    set -l tokens (commandline -opc)
    set -e tokens[1..2]
    set -l count 0
    set -l skip 0
    set -l ended 0
    for t in $tokens
        if test $skip -eq 1
            set skip 0
        else if test $ended -eq 1
            set count (math $count + 1)
        else if test "$t" = --
            set ended 1
        else if contains -- $t --policy-dir --authbind-dir --pin-dir --cgroup --user --group
            set skip 1
        else if string match -q -- '-*' $t
            continue
        else
            set count (math $count + 1)
        end
    end
    echo $count
end

function __portauth_positional
    # $argv[1]: the subcommands; $argv[2]: "eq N" or "ge N"
    __portauth_in $argv[1..-3]; or return
    test (__portauth_positionals) -$argv[-2] $argv[-1]
end

# user, uid, %group or %gid
function __portauth_principals
    if string match -q -- '%*' (commandline -ct)
        for g in (__fish_complete_groups)
            echo %$g
        end
    else
        __fish_complete_users
    end
end

# The grants in the tree as the SPECs revoke takes (byport/80 -> 80,
# byaddr/127.0.0.1,443 -> 443@127.0.0.1, byaddr/::1,8443 -> 8443@[::1]), from
# 'portauth list --json' with the command line's --policy-dir. Nothing, and no
# message, when the tree cannot be read; only names made of the characters an
# entry has.
function __portauth_grants
    set -l tokens (commandline -opc)
    set -l dir
    for i in (seq (count $tokens))
        if test "$tokens[$i]" = --policy-dir; and test $i -lt (count $tokens)
            set dir $tokens[(math $i + 1)]
        else if string match -q -- '--policy-dir=*' $tokens[$i]
            set dir (string replace -- '--policy-dir=' '' $tokens[$i])
        end
    end
    set -l cmd portauth list --json
    test -n "$dir"; and set cmd $cmd --policy-dir $dir
    set -l json ($cmd 2>/dev/null </dev/null); or return 0
    for entry in (string match -ar -g -- '[{,]"entry":"([^"\\\\]*)"' "$json")
        if set -l port (string match -r -g -- '^byport/!?([0-9]+)$' $entry)
            echo $port
        else if set -l parts (string match -r -g -- '^byaddr/!?([0-9A-Fa-f.:]+)[,:]([0-9]+)$' $entry)
            set -l addr $parts[1]
            string match -q -- '*:*' $addr; and set addr "[$addr]"
            echo $parts[2]@$addr
        end
    end
end

complete -c portauth -f

# First word: a subcommand, the adverb's options, or PROGRAM.
complete -c portauth -n '__portauth_in first' -a apply -d 'Load the policy into the kernel, or replace it'
complete -c portauth -n '__portauth_in first' -a status -d 'Is enforcement active; entries and counters'
complete -c portauth -n '__portauth_in first' -a unload -d 'Detach and unpin the engine'
complete -c portauth -n '__portauth_in first' -a check -d 'Would a bind be allowed, and why'
complete -c portauth -n '__portauth_in first' -a allow -d 'Grant users or groups a port'
complete -c portauth -n '__portauth_in first' -a revoke -d 'Take a grant away again'
complete -c portauth -n '__portauth_in first' -a list -d 'List the grants and who they let through'
complete -c portauth -n '__portauth_in first' -s h -l help -d 'Print help with examples'
complete -c portauth -n '__portauth_in first' -l version -d 'Print the version'
complete -c portauth -n '__portauth_in first adverb' -l deep -d 'authbind compatibility; children are always governed'
complete -c portauth -n '__portauth_in first adverb' -l pin-dir -x -a '(__fish_complete_directories)' -d 'Where the engine is pinned'
complete -c portauth -n '__portauth_in first adverb program' -a '(__fish_complete_command)'
complete -c portauth -n '__portauth_in args' -a '(__portauth_complete_program)'

# Subcommands.
complete -c portauth -n '__portauth_in apply status unload check allow revoke list' -s h -l help -d 'Print help with examples'
complete -c portauth -n '__portauth_in apply check allow revoke list' -l policy-dir -x -a '(__fish_complete_directories)' -d 'Policy tree'
complete -c portauth -n '__portauth_in apply check allow revoke list' -l authbind-dir -x -a '(__fish_complete_directories)' -d 'authbind tree merged under the policy dir'
complete -c portauth -n '__portauth_in apply status unload check allow revoke' -l pin-dir -x -a '(__fish_complete_directories)' -d 'Where the engine is pinned'
complete -c portauth -n '__portauth_in apply status check list' -l json -d 'Machine-readable output'
complete -c portauth -n '__portauth_in apply' -l cgroup -x -a '(__fish_complete_directories)' -d 'Attach to this cgroup v2 directory'
complete -c portauth -n '__portauth_in apply' -l no-fallback -d 'Refused tree, nothing enforced: enforce nothing'
complete -c portauth -n '__portauth_in check' -l tree -d 'Answer from the files now, not the enforced policy'
complete -c portauth -n '__portauth_in check' -l user -x -a '(__fish_complete_users)' -d 'Ask for this user instead of the caller'
complete -c portauth -n '__portauth_in check' -l group -x -a '(__fish_complete_groups)' -d 'Effective gid (first), then supplementary'
complete -c portauth -n '__portauth_in check' -l v6only -d 'Ask as an IPV6_V6ONLY socket ([::] is IPv6 only)'
complete -c portauth -n '__portauth_in allow revoke' -l no-apply -d 'Only write the files; do not re-apply'

# Positionals: check PROTO/PORT[@ADDR]; allow/revoke PORT[@ADDR] PRINCIPAL...
complete -c portauth -n '__portauth_positional check eq 0; and not string match -q -- "*/*" (commandline -ct)' -a 'tcp/ udp/' -d 'Protocol'
complete -c portauth -n '__portauth_positional allow revoke ge 1' -a '(__portauth_principals)'
complete -c portauth -n '__portauth_positional revoke eq 0' -a '(__portauth_grants)' -d 'Grant'
