# fish completion for portreserve(8):
#   portreserve add|release [OPTIONS] PROTO/PORT[-PORT][@ADDR] OWNER...
#   (release offers the existing reservations, from 'portreserve list --json')
#   portreserve list [--policy-dir DIR] [--json]

# The subcommand on the command line, or nothing.
function __portreserve_subcommand
    set -l tokens (commandline -opc)
    if set -q tokens[2]; and contains -- $tokens[2] add release list
        echo $tokens[2]
    end
end

function __portreserve_in
    contains -- (__portreserve_subcommand) $argv
end

# How many positional arguments of the subcommand precede the current token.
function __portreserve_positionals
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
        else if contains -- $t --policy-dir --pin-dir
            set skip 1
        else if string match -q -- '-*' $t
            continue
        else
            set count (math $count + 1)
        end
    end
    echo $count
end

# OWNER: user, uid, %group or %gid
function __portreserve_owners
    if string match -q -- '%*' (commandline -ct)
        for g in (__fish_complete_groups)
            echo %$g
        end
    else
        __fish_complete_users
    end
end

# The --policy-dir on the command line, or nothing.
function __portreserve_policy_dir
    set -l tokens (commandline -opc)
    set -l dir
    for i in (seq (count $tokens))
        if test "$tokens[$i]" = --policy-dir; and test $i -lt (count $tokens)
            set dir $tokens[(math $i + 1)]
        else if string match -q -- '--policy-dir=*' $tokens[$i]
            set dir (string replace -- '--policy-dir=' '' $tokens[$i])
        end
    end
    printf '%s\n' $dir
end

# The reservations in the tree, one SPEC a line, from 'portreserve list --json'.
# Nothing, and no message, when the tree cannot be read; only names made of the
# characters a SPEC has.
function __portreserve_reservations
    set -l cmd portreserve list --json
    set -l dir (__portreserve_policy_dir)
    test -n "$dir"; and set cmd $cmd --policy-dir $dir
    set -l json ($cmd 2>/dev/null </dev/null); or return 0
    string match -ar -g -- '[{,]"entry":"([^"\\\\]*)"' "$json" |
        string match -r -- '^[a-z]+/[0-9]+(?:-[0-9]+)?(?:@[][0-9A-Fa-f.:]+)?$'
end

# release SPEC: an existing reservation; tcp/ and udp/ when none can be listed.
function __portreserve_release_specs
    set -l specs (__portreserve_reservations)
    if set -q specs[1]
        printf '%s\n' $specs
    else if not string match -q -- '*/*' (commandline -ct)
        printf '%s\n' tcp/ udp/
    end
end

complete -c portreserve -f

complete -c portreserve -n 'test -z (__portreserve_subcommand)' -a add -d 'Reserve a port or range for owners'
complete -c portreserve -n 'test -z (__portreserve_subcommand)' -a release -d 'Remove owners, or the whole reservation'
complete -c portreserve -n 'test -z (__portreserve_subcommand)' -a list -d 'List reservations and their owners'
complete -c portreserve -n 'test -z (__portreserve_subcommand)' -l version -d 'Print the version'
complete -c portreserve -s h -l help -d 'Print help with examples'

complete -c portreserve -n '__portreserve_in add release list' -l policy-dir -x -a '(__fish_complete_directories)' -d 'Policy tree'
complete -c portreserve -n '__portreserve_in add release' -l pin-dir -x -a '(__fish_complete_directories)' -d 'The engine to update'
complete -c portreserve -n '__portreserve_in add release' -l no-apply -d 'Only write the files; do not re-apply'
complete -c portreserve -n '__portreserve_in list' -l json -d 'Machine-readable output'

# SPEC: PROTO/PORT[-PORT][@ADDR], then OWNER...
complete -c portreserve -n '__portreserve_in add; and test (__portreserve_positionals) -eq 0; and not string match -q -- "*/*" (commandline -ct)' -a 'tcp/ udp/' -d 'Protocol'
complete -c portreserve -n '__portreserve_in release; and test (__portreserve_positionals) -eq 0' -a '(__portreserve_release_specs)' -d 'Reservation'
complete -c portreserve -n '__portreserve_in add release; and test (__portreserve_positionals) -ge 1' -a '(__portreserve_owners)'
