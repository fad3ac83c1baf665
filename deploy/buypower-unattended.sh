#!/bin/sh
# buypower-unattended: pay a batch without a person, settle it, and write the metrics.
#
# Run by deploy/buypower-unattended.service (systemd), deploy/user/ (systemd --user) or
# deploy/crontab.example. Every setting comes from the environment (the service's
# EnvironmentFile; see deploy/unattended.env.example):
#
#   UNATTENDED_BATCH=N           pay batch N (a batch a person prepared)
#   UNATTENDED_REPEAT_FROM=N     the monthly routine: on the first firing on or after
#                                UNATTENDED_PAY_DAY, make this month's batch with
#                                `buypower-tui repeat` from last month's (the latest batch
#                                named "UNATTENDED_NAME YYYY-MM" of the same mode; batch N
#                                the first time; it must be of the mode buypower-tui is in)
#                                and pay it
#   neither                      pay nothing: requery every pending row, write the metrics
#   UNATTENDED_NAME              name of the monthly batches, without the month (default: monthly;
#                                runs of spaces are made one, as the app stores names)
#   UNATTENDED_PAY_DAY           day of the month, 1-28 (default 1)
#   UNATTENDED_MAX_TOTAL         passed to `run --max-total` (a ceiling for one run)
#   UNATTENDED_WAIT_PENDING      passed to `run --wait-pending` (the app's default: 300 s)
#   UNATTENDED_REQUERY_EVERY     seconds between requeries while rows are pending (default 300)
#   UNATTENDED_REQUERY_TIMES     at most this many requeries (default 12: an hour)
#   UNATTENDED_METRICS_FILE      default /var/lib/node_exporter/textfile_collector/buypower.prom;
#                                set it empty to write none (`buypower-tui metrics -o` writes
#                                it whole, mode 0644: node_exporter runs as another user)
#   UNATTENDED_STATE_DIR         where it notes the batches it has paid (default
#                                $XDG_STATE_HOME/buypower-unattended); its file "lock" (flock)
#                                keeps a second firing from running while one runs
#   BUYPOWER_TUI                 the buypower-tui program (default: buypower-tui on PATH)
# and buypower-tui's own variables (BUYPOWER_API_KEY, BUYPOWER_TUI_HOME, BUYPOWER_MODE, ...).
#
# One firing at a time: a firing holds UNATTENDED_STATE_DIR/lock (flock(1), util-linux) from
# start to end; a firing that finds it held pays nothing and exits 2, and so does one without
# flock. A batch is run (`run BATCH --yes --skip-duplicates`) by this script once: a run that
# ended 0 or 3, or 1 with rows that got as far as being sent, is noted in UNATTENDED_STATE_DIR,
# and later firings only requery it. A run that was refused or did not get through (exit 2),
# failed before sending anything (1) or was stopped (130) is tried again at the next firing;
# every row keeps its one orderId, so nothing is paid twice. After the batch, every pending row
# of the store (last month's too) is requeried once: `buypower-tui requery`.
#
# Exit codes (for alerting), the batch's state at the end, as `run` counts it:
#   0   every row paid or closed (no batch: nothing pending, nothing to review)
#   1   rows need a person: FAILED, LOOKUP_FAILED, NEEDS_REVIEW, INVALID (or an unexpected
#       error of buypower-tui: its log says which)
#   2   nothing decided: bad settings, no key or a refused key, BuyPower or the database not
#       answering, the money lock held by another process, the wallet short, a refusal,
#       another firing running (or no flock)
#   3   rows still pending after the last requery (of the batch or any other), or left unpaid
#       on purpose (duplicates skipped, rows over UNATTENDED_MAX_TOTAL)
#   4   all of that was 0, but the metrics file could not be written
#   130 stopped (systemctl stop, SIGTERM, Ctrl+C): rows in flight are requeried next time

set -u
umask 077

BPT=${BUYPOWER_TUI:-buypower-tui}
BATCH=${UNATTENDED_BATCH:-}
REPEAT_FROM=${UNATTENDED_REPEAT_FROM:-}
NAME=${UNATTENDED_NAME:-monthly}
PAY_DAY=${UNATTENDED_PAY_DAY:-1}
MAX_TOTAL=${UNATTENDED_MAX_TOTAL:-}
WAIT_PENDING=${UNATTENDED_WAIT_PENDING:-}
EVERY=${UNATTENDED_REQUERY_EVERY:-300}
TIMES=${UNATTENDED_REQUERY_TIMES:-12}
METRICS_FILE=${UNATTENDED_METRICS_FILE-/var/lib/node_exporter/textfile_collector/buypower.prom}
STATE_DIR=${UNATTENDED_STATE_DIR:-${XDG_STATE_HOME:-${HOME:-/tmp}/.local/state}/buypower-unattended}

stopped=0
mode=
napper=
trap 'stopped=1; [ -n "$napper" ] && kill "$napper" 2>/dev/null' TERM INT HUP

say() {
    printf '%s buypower-unattended: %s\n' "$(date '+%Y-%m-%dT%H:%M:%S%z')" "$*" >&2
}

whole() {  # a whole number, no sign
    case $1 in '' | *[!0-9]*) return 1 ;; esac
}

nap() {  # sleep, but wake at once on a stop; 1 when stopped
    [ "$stopped" -eq 0 ] || return 1
    sleep "$1" &
    napper=$!
    wait "$napper"
    napper=
    [ "$stopped" -eq 0 ]
}

batch_line() {  # the batch's line of `batches --json`
    list=$("$BPT" batches --json) || return 2
    printf '%s\n' "$list" | grep "^{\"id\": $1, " || { say "there is no batch $1"; return 2; }
}

states() {  # the batch's counts by state, as `batches --json` gives them: "PENDING": 2, "SUCCESS": 5
    line=$(batch_line "$1") || return 2
    printf '%s\n' "$line" | sed -n 's/.*"by_state": {\([^}]*\)}.*/\1/p'
}

current_mode() {  # the mode buypower-tui is in: live or sandbox
    mode=$("$BPT" config | awk '$1 == "mode" { print $2; exit }') || return 2
    [ -n "$mode" ] || { say "could not tell the mode from \`buypower-tui config\`"; return 2; }
    printf '%s\n' "$mode"
}

same_mode() {  # 0 when batch $1 is of mode $2; 2 (said why) when not
    line=$(batch_line "$1") || return 2
    # a name's own quotes are escaped in JSON, so only the mode field reads '"mode": "'
    its=$(printf '%s\n' "$line" | sed -n 's/.*"mode": "\([a-z]*\)".*/\1/p')
    [ "$its" = "$2" ] && return 0
    say "batch $1 is a ${its:-?} batch and buypower-tui is in $2 mode: nothing is made or paid from it (check UNATTENDED_BATCH, UNATTENDED_REPEAT_FROM and BUYPOWER_MODE)"
    return 2
}

sent() {  # 0 when rows of the batch got as far as being sent (the run ran), else 1
    s=$(states "$1") || return 1
    case $s in *'"SENDING"'* | *'"SUCCESS"'* | *'"FAILED"'* | *'"PENDING"'* | *'"NEEDS_REVIEW"'* | *'"NOT_SENT"'*) return 0 ;; esac
    return 1
}

batch_code() {  # the exit code `run` gives for the batch as it stands
    s=$(states "$1") || return 2
    case $s in *'"FAILED"'* | *'"LOOKUP_FAILED"'* | *'"NEEDS_REVIEW"'* | *'"INVALID"'* | *'"VALID"'*) return 1 ;; esac
    case $s in *'"PENDING"'* | *'"SENDING"'* | *'"APPROVED"'* | *'"NOT_SENT"'* | *'"VERIFIED"'*) return 3 ;; esac
    return 0
}

in_flight() {  # rows BuyPower may still settle
    s=$(states "$1") || return 1
    case $s in *'"PENDING"'* | *'"SENDING"'*) return 0 ;; esac
    return 1
}

settle_batch() {  # requery the batch until nothing is in flight, at most TIMES times
    n=0
    while in_flight "$1"; do
        if [ "$n" -ge "$TIMES" ]; then
            say "batch $1: rows still pending after $TIMES requeries; the next firing goes on"
            return 0
        fi
        nap "$EVERY" || return 130
        n=$((n + 1))
        say "batch $1: requery $n of at most $TIMES"
        "$BPT" requery "$1"
        [ "$stopped" -eq 0 ] || return 130
    done
    return 0
}

settle_all() {  # no batch of ours: requery every pending row until settled; requery's own code
    n=0
    while :; do
        "$BPT" requery
        q=$?
        [ "$stopped" -eq 0 ] || return 130
        case $q in 2 | 3) ;; *) return "$q" ;; esac  # 3 pending, 2 BuyPower did not answer
        if [ "$n" -ge "$TIMES" ]; then return "$q"; fi
        nap "$EVERY" || return 130
        n=$((n + 1))
        say "requery $n of at most $TIMES"
    done
}

monthly() {  # "ID YYYY-MM" for every batch named "NAME YYYY-MM" in this mode
    printf '%s\n' "$1" | awk -v name="$NAME" -v mode="$2" '
        {
            pre = "{\"id\": "
            if (substr($0, 1, length(pre)) != pre) next
            rest = substr($0, length(pre) + 1)
            id = rest; sub(/,.*/, "", id)
            want = ", \"name\": \"" name " "
            if (index(rest, want) != length(id) + 1) next
            after = substr(rest, length(id) + length(want) + 1)
            month = substr(after, 1, 7)
            if (month !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]$/) next
            tail = "\", \"mode\": \"" mode "\","
            if (substr(after, 8, length(tail)) != tail) next
            print id, month
        }'
}

month_batch() {  # sets BATCH to this month's batch, making it when it is due; 2 when that fails
    this=$(date +%Y-%m)
    day=$(date +%d)
    day=${day#0}
    mode=$(current_mode) || return 2
    list=$("$BPT" batches --json) || return 2
    found=$(monthly "$list" "$mode")
    BATCH=$(printf '%s\n' "$found" | awk -v m="$this" '$2 == m { id = $1 } END { print id }')
    if [ -n "$BATCH" ]; then
        say "this month's batch is $BATCH ($NAME $this, $mode)"
        return 0
    fi
    if [ "$day" -lt "$PAY_DAY" ]; then
        say "this month's batch is due on day $PAY_DAY; nothing to pay yet"
        return 0
    fi
    from=$(printf '%s\n' "$found" | awk -v m="$this" '$2 < m' | sort -k2,2 -k1,1n | tail -n 1 | cut -d' ' -f1)
    from=${from:-$REPEAT_FROM}
    same_mode "$from" "$mode" || return 2
    [ "$stopped" -eq 0 ] || return 130
    say "making this month's batch \"$NAME $this\" from batch $from"
    "$BPT" repeat "$from" --name "$NAME $this"
    case $? in
        0) ;;
        1) say "some rows of the new batch are invalid: they stay unpaid and the run says so" ;;
        *) say "repeat failed: nothing was made or paid"; return 2 ;;
    esac
    list=$("$BPT" batches --json) || return 2
    BATCH=$(monthly "$list" "$mode" | awk -v m="$this" '$2 == m { id = $1 } END { print id }')
    [ -n "$BATCH" ] || { say "the new batch \"$NAME $this\" was not found"; return 2; }
}

requery_all() {  # one `requery` of every pending row of the store (other batches, last month's)
    [ "$stopped" -eq 0 ] || return 130
    say "requerying every pending row of the store"
    "$BPT" requery
    q=$?
    [ "$stopped" -eq 0 ] || return 130
    return "$q"
}

pay() {  # run BATCH once (see above); then settle it; the batch's code
    mark="$STATE_DIR/ran-batch-$BATCH"
    [ "$stopped" -eq 0 ] || return 130
    [ -n "${mode:-}" ] || mode=$(current_mode) || return 2
    same_mode "$BATCH" "$mode" || return 2
    if [ -e "$mark" ]; then
        say "batch $BATCH was run on $(cat "$mark"); requerying what is in flight"
    else
        set -- run "$BATCH" --yes --skip-duplicates
        [ -z "$MAX_TOTAL" ] || set -- "$@" --max-total "$MAX_TOTAL"
        [ -z "$WAIT_PENDING" ] || set -- "$@" --wait-pending "$WAIT_PENDING"
        say "buypower-tui $*"
        "$BPT" "$@"
        r=$?
        [ "$stopped" -eq 0 ] || return 130
        case $r in
            0 | 3) ;;
            1)  # rows need a person, or buypower-tui failed: a run that sent nothing is run again
                if ! sent "$BATCH"; then
                    say "batch $BATCH: the run sent nothing (exit 1); the next firing runs it again"
                    return 1
                fi ;;
            *) return "$r" ;;  # 2, 130: tried again next time
        esac
        if ! { mkdir -p "$STATE_DIR" && date '+%Y-%m-%dT%H:%M:%S%z' >"$mark"; }; then
            say "could not note the run in $STATE_DIR: the next firing runs batch $BATCH again"
        fi
        [ "$r" -ne 0 ] || return 0
    fi
    settle_batch "$BATCH" || return $?
    batch_code "$BATCH"
}

pay_and_requery() {  # pay; then, unless that was refused or stopped, requery the rest once
    pay
    p=$?
    case $p in 0 | 1 | 3) ;; *) return "$p" ;; esac
    requery_all
    q=$?
    case $q in
        0) ;;
        130) return 130 ;;
        1) say "rows of the store need a person (NEEDS_REVIEW)"; p=1 ;;
        3) say "rows of the store are still pending"; [ "$p" -ne 0 ] || p=3 ;;
        *) say "pending rows of the store were not requeried (requery exited $q)"; [ "$p" -ne 0 ] || p=3 ;;
    esac
    return "$p"
}

whole_number() {  # $1 without leading zeros ("01" is batch 1)
    n=$1
    while :; do
        case $n in 0?*) n=${n#0} ;; *) break ;; esac
    done
    printf '%s\n' "$n"
}

main() {
    if [ -n "$BATCH" ] && [ -n "$REPEAT_FROM" ]; then
        say "set UNATTENDED_BATCH or UNATTENDED_REPEAT_FROM, not both"
        return 2
    fi
    for v in "$EVERY" "$TIMES" "$PAY_DAY" ${BATCH:+"$BATCH"} ${REPEAT_FROM:+"$REPEAT_FROM"}; do
        whole "$v" || { say "not a whole number: '$v' (check the UNATTENDED_* settings)"; return 2; }
    done
    [ -z "$BATCH" ] || BATCH=$(whole_number "$BATCH")
    [ -z "$REPEAT_FROM" ] || REPEAT_FROM=$(whole_number "$REPEAT_FROM")
    PAY_DAY=$(whole_number "$PAY_DAY")
    if [ "$PAY_DAY" -lt 1 ] || [ "$PAY_DAY" -gt 28 ]; then
        say "UNATTENDED_PAY_DAY must be 1 to 28 (every month has it)"
        return 2
    fi
    # as the app stores a batch's name: runs of spaces made one, none at either end
    set -f
    # shellcheck disable=SC2086  # split on purpose: the words, joined by one space
    set -- $NAME
    set +f
    NAME=$*
    case $NAME in '' | *'"'* | *\\* | *[[:cntrl:]]*)
        say "UNATTENDED_NAME must be set and hold no \", \\ or control character"; return 2 ;;
    esac
    if [ -n "$REPEAT_FROM" ]; then
        month_batch || return $?
    fi
    if [ -n "$BATCH" ]; then
        pay_and_requery
    else
        settle_all
    fi
}

inode() {  # the inode of the file (not of what a link points to), or nothing
    [ -e "$1" ] || [ -L "$1" ] || return 0
    # shellcheck disable=SC2012  # only the number before the name is read
    ls -di -- "$1" 2>/dev/null | awk 'NR == 1 { print $1 }'
}

write_metrics() {  # 0 written (or not asked for), 1 not written
    if [ -z "$METRICS_FILE" ]; then
        return 0
    fi
    # buypower-tui writes it whole (a temporary file beside it, mode 0644, renamed over it; a
    # link there is replaced, not followed), also when it says degraded (1) or down (2): that
    # the file is new (another inode) tells written from not
    before=$(inode "$METRICS_FILE")
    "$BPT" metrics -o "$METRICS_FILE"
    m=$?
    after=$(inode "$METRICS_FILE")
    if [ -f "$METRICS_FILE" ] && [ ! -L "$METRICS_FILE" ] && [ -n "$after" ] && [ "$after" != "$before" ]; then
        [ "$m" -eq 0 ] || say "metrics: written, but buypower-tui metrics exited $m"
        return 0
    fi
    say "metrics: $METRICS_FILE not written (buypower-tui metrics exited $m)"
    return 1
}

lock() {  # 0: this firing holds STATE_DIR/lock (fd 9) until it ends; 2: no flock; 75: held
    if ! command -v flock >/dev/null 2>&1; then
        say "flock (util-linux) is not installed: without a lock two firings at once could pay twice, so this one pays nothing"
        return 2
    fi
    if ! mkdir -p "$STATE_DIR" || ! command exec 9>>"$STATE_DIR/lock"; then
        say "cannot open the lock file $STATE_DIR/lock: nothing is paid"
        return 2
    fi
    if ! flock -n 9; then
        say "another firing is running (it holds $STATE_DIR/lock): this one does nothing"
        return 75
    fi
}

lock
code=$?
if [ "$code" -eq 75 ]; then  # the firing that runs writes the metrics
    say "exit 2: nothing decided: another firing is running"
    exit 2
fi
if [ "$code" -eq 0 ]; then
    main
    code=$?
fi
[ "$stopped" -eq 0 ] || code=130
write_metrics || { [ "$code" -ne 0 ] || code=4; }
case $code in
    0) said="settled" ;;
    1) said="rows need a person (failed, lookup failed, needs review, invalid)" ;;
    2) said="nothing decided: see the lines above" ;;
    3) said="rows still pending or left unpaid on purpose" ;;
    4) said="settled, but the metrics file was not written" ;;
    130) said="stopped" ;;
    *) said="unexpected" ;;
esac
say "exit $code: $said"
exit "$code"
