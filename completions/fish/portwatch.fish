# fish completion for portwatch(8)
set -l commands scan run report check
complete -c portwatch -f
complete -c portwatch -n "not __fish_seen_subcommand_from $commands" -s h -l help -d 'show help'
complete -c portwatch -n "not __fish_seen_subcommand_from $commands" -l version -d 'show the version'
complete -c portwatch -n "not __fish_seen_subcommand_from $commands" -a scan -d 'one pass; exit 1 when squatters are found'
complete -c portwatch -n "not __fish_seen_subcommand_from $commands" -a run -d 'the daemon'
complete -c portwatch -n "not __fish_seen_subcommand_from $commands" -a report -d 'print the record'
complete -c portwatch -n "not __fish_seen_subcommand_from $commands" -a check -d 'Nagios/Icinga plugin'

# scan and run
complete -c portwatch -n "__fish_seen_subcommand_from scan run check" -l policy-dir -r -a '(__fish_complete_directories)' -d 'policy tree'
complete -c portwatch -n "__fish_seen_subcommand_from scan run report check" -l db -r -F -d 'the record'
complete -c portwatch -n "__fish_seen_subcommand_from scan run" -l action -x -a 'log destroy kill' -d 'on a new squatter'
complete -c portwatch -n "__fish_seen_subcommand_from scan run" -l grace -x -d 'kill: seconds from SIGTERM to SIGKILL'
complete -c portwatch -n "__fish_seen_subcommand_from scan run" -l exec -x -a '(__fish_complete_command)' -d 'alert hook'
complete -c portwatch -n "__fish_seen_subcommand_from scan run" -l exec-timeout -x -d 'seconds before the hook is killed'
complete -c portwatch -n "__fish_seen_subcommand_from scan run" -l retention-days -x -d 'delete events not seen for N days'
complete -c portwatch -n "__fish_seen_subcommand_from scan run" -l db-group -x -a '(__fish_complete_groups)' -d 'group that may read the database'
# run
complete -c portwatch -n "__fish_seen_subcommand_from run" -l interval -x -d 'seconds between scans'
complete -c portwatch -n "__fish_seen_subcommand_from run" -l pin-dir -r -a '(__fish_complete_directories)' -d 'where the engine is pinned'
complete -c portwatch -n "__fish_seen_subcommand_from run" -l metrics-file -r -F -d 'Prometheus metrics file'
# report
complete -c portwatch -n "__fish_seen_subcommand_from report" -l since -x -a '1h 24h 7d 30d' -d 'last seen at or after WHEN'
complete -c portwatch -n "__fish_seen_subcommand_from report" -l until -x -d 'first seen at or before WHEN'
complete -c portwatch -n "__fish_seen_subcommand_from report" -l kind -x -a 'squat refused grant_miss' -d 'only this kind'
complete -c portwatch -n "__fish_seen_subcommand_from report" -l format -x -a 'table json csv' -d 'output form'
complete -c portwatch -n "__fish_seen_subcommand_from report" -l stats -d 'the summary and the daemon counters instead of the rows'
complete -c portwatch -n "__fish_seen_subcommand_from $commands" -s h -l help -d 'show help'
