#!/usr/bin/env bash
# Per-evaluation CPU time (ln L + gradient at init_i + 0.3·sin(i + 1), off the inits) of several
# HistFactoryBenchmark builds on one reference workspace, interleaved: round by round each build
# runs `--evaluations 10000` and `--evaluations 10000+N`, and the difference of the two processes'
# CPU times (user + system) over N is one evaluation without the model's build. For A/B tests of
# kernel changes, including deliberately broken builds that bound what a part of the kernel costs
# (Benchmarks/results/benchmarks.md, "What limits 06 and 07").
#
#   Benchmarks/HistFactory/ab_eval.sh CASE BUILD... [-- N ROUNDS]     CASE one of 05 06 07 08
#
# Each BUILD is a HistFactoryBenchmark executable. Prints one line per build and round, then the
# medians. Also prints each build's ln L and gradient sum, to see which builds compute the same thing.
set -euo pipefail
reference="$(cd "$(dirname "$0")/../.." && pwd)/../shared/reference/workspaces"
case "${1:-}" in
05) w="$reference/05_atlas_susy2018_31_sbottom_RegionA"; args=("$w/BkgOnly.json" "$w/patch.sbottom_1300_205_60.json") ;;
06) w="$reference/06_atlas_susy2019_08_1Lbb"; args=("$w/BkgOnly.json" "$w/patchset.json:C1N2_Wh_hbb_700_150") ;;
07) w="$reference/07_atlas_susy2018_16_ewkinos_SR2l"; args=("$w/BkgOnly.json" "$w/patchset_SYNTHETIC.json:synthetic_signal") ;;
08) w="$reference/08_atlas_susy2019_09_offshell"; args=("$w/BkgOnly.json" "$w/patchset_SYNTHETIC.json:synthetic_signal") ;;
*) echo "usage: $0 05|06|07|08 BUILD... [-- N ROUNDS]" >&2; exit 2 ;;
esac
shift
builds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do builds+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
n=${1:-150000}
rounds=${2:-3}
[ ${#builds[@]} -gt 0 ] || { echo "no build given" >&2; exit 2; }
cpu() {  # CPU seconds of one run of build $1 with $2 evaluations
    { /usr/bin/time -f "%U %S" "$1" "${args[@]}" --evaluations "$2" --shift 0.3 >/dev/null; } 2>&1 | tail -n 1 | awk '{print $1 + $2}'
}
for b in "${builds[@]}"; do echo "$b: ln L, gradient sum $("$b" "${args[@]}" --evaluations 1 --shift 0.3)"; done
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ((r = 1; r <= rounds; r++)); do
    for b in "${builds[@]}"; do
        t0=$(cpu "$b" 10000)
        t1=$(cpu "$b" $((n + 10000)))
        us=$(awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%.2f", (b - a) / n * 1e6 }')
        echo "round $r: $b $us µs"
        echo "$b $us" >>"$results"
    done
done
echo "medians over $rounds rounds ($n evaluations each, CPU time):"
for b in "${builds[@]}"; do
    awk -v b="$b" '$1 == b { print $2 }' "$results" | sort -g | awk -v b="$b" '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "  %s %.2f µs [%.2f–%.2f]\n", b, m, v[1], v[NR] }'
done
