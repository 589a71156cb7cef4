# fish completion for authbind(1) (portauth): authbind [--deep] [--depth LEVELS] [--] PROGRAM [ARGS...]

# True while no PROGRAM is on the line yet (options, --depth's value, '--' before it).
function __authbind_before_program
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l skip 0
    for t in $tokens
        if test $skip -eq 1
            set skip 0
        else if test "$t" = --
            return 1
        else if test "$t" = --depth
            set skip 1
        else if not string match -q -- '-*' $t
            return 1
        end
    end
    return 0
end

complete -c authbind -n '__authbind_before_program' -l deep -d 'Accepted for authbind: every process is covered'
complete -c authbind -n '__authbind_before_program' -l depth -x -d 'Accepted for authbind: every depth is covered'
complete -c authbind -n '__authbind_before_program' -s h -l help -d 'Print help with examples'
complete -c authbind -n '__authbind_before_program' -l version -d 'Print the version'
complete -c authbind -n '__authbind_before_program' -x -a '(__fish_complete_command)'
complete -c authbind -n 'not __authbind_before_program' -x -a '(__fish_complete_subcommand --fcs-skip=1)'
