# bash: arrays, associative arrays, string operations, subshells, pipes,
# command substitution, functions and recursion.
set -e
declare -A seen
words=()
for i in $(seq 1 3000); do
  w="w$((i * 7919 % 1009))"
  words+=("$w")
  seen[$w]=$(( ${seen[$w]:-0} + 1 ))
done
echo "${#words[@]} words, ${#seen[@]} distinct"
fib() { if [ "$1" -lt 2 ]; then echo "$1"; else echo $(( $(fib $(($1 - 1))) + $(fib $(($1 - 2))) )); fi; }
echo "fib 9 = $(fib 9)"
s=""
for i in $(seq 1 2000); do s+="${i}:"; done
echo "${#s} ${s:100:20} ${s//1/one}" | md5sum
printf '%s\n' "${words[@]}" | sort | uniq -c | sort -rn | head -n 3
for k in $(printf '%s\n' "${!seen[@]}" | sort | head -n 5); do echo "$k ${seen[$k]}"; done
x=$( (for i in 1 2 3; do echo "sub $i"; done) | tr a-z A-Z )
echo "$x"
mapfile -t lines < <(seq 1 500)
echo "${#lines[@]} ${lines[499]}"
