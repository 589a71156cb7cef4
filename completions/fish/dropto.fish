# fish completion for dropto(1): dropto [OPTIONS] USER[:GROUP] PROGRAM [ARGS...]

# How many positionals (USER, PROGRAM) are already on the line, counted the way
# dropto parses: options until PROGRAM, --groups takes a value, -- ends options.
function __dropto_positionals
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l count 0
    set -l ended 0
    set -l skip 0
    for t in $tokens
        if test $skip -eq 1
            set skip 0
        else if test $ended -eq 0 -a "$t" = --
            set ended 1
        else if test $ended -eq 0 -a "$t" = --groups
            set skip 1
        else if test $ended -eq 0; and string match -qr -- '^-.' $t
            continue
        else
            set count (math $count + 1)
        end
    end
    echo $count
end

function __dropto_needs_user
    test (__dropto_positionals) -eq 0
end

function __dropto_needs_program
    test (__dropto_positionals) -eq 1
end

function __dropto_in_program
    test (__dropto_positionals) -ge 2
end

# Completes PROGRAM's arguments as PROGRAM itself would.
function __dropto_complete_program
    set -l tokens (commandline -opc) (commandline -ct)
    set -e tokens[1]
    set -l seen 0
    set -l ended 0
    set -l skip 0
    for i in (seq (count $tokens))
        set -l t $tokens[$i]
        if test $skip -eq 1
            set skip 0
        else if test $ended -eq 0 -a "$t" = --
            set ended 1
        else if test $ended -eq 0 -a "$t" = --groups
            set skip 1
        else if test $ended -eq 0; and string match -qr -- '^-.' $t
            continue
        else
            set seen (math $seen + 1)
            if test $seen -eq 2
                complete -C (string join -- ' ' (string escape -- $tokens[$i..-1]))
                return
            end
        end
    end
end

function __dropto_targets
    set -l token (commandline -ct)
    if string match -q -- '*:*' $token
        set -l user (string split -m1 : -- $token)[1]
        for g in (__fish_complete_groups)
            echo $user:$g
        end
    else
        __fish_complete_users
    end
end

complete -c dropto -f
complete -c dropto -n 'not __dropto_in_program' -l groups -x -a '(__fish_complete_list , __fish_complete_groups)' -d 'Exactly these supplementary groups'
complete -c dropto -n 'not __dropto_in_program' -l no-groups -d 'No supplementary groups'
complete -c dropto -n 'not __dropto_in_program' -l keep-env -d 'Leave HOME, USER and LOGNAME as they are'
complete -c dropto -n 'not __dropto_in_program' -l no-new-privs -d 'Set no_new_privs'
complete -c dropto -n 'not __dropto_in_program' -l setsid -d 'New session, no controlling terminal'
complete -c dropto -n 'not __dropto_in_program' -l clear-bounding-set -d 'Empty the capability bounding set'
complete -c dropto -n 'not __dropto_in_program' -s h -l help -d 'Print help with examples'
complete -c dropto -n 'not __dropto_in_program' -l version -d 'Print the version'
complete -c dropto -n __dropto_needs_user -a '(__dropto_targets)'
complete -c dropto -n __dropto_needs_program -a '(__fish_complete_command)'
complete -c dropto -n __dropto_in_program -a '(__dropto_complete_program)'
