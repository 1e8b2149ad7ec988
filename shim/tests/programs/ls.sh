# ls: long recursive listings (many small allocations, sorting), of a tree
# made here so that nothing else on the machine can change it between runs.
set -e
for d in $(seq 1 40); do
  mkdir -p "tree/dir$d/sub$((d % 5))"
  (cd "tree/dir$d" && touch -d @1700000000 $(seq -f "file%g.txt" 1 $((d * 5))) && \
   seq 1 $((d * 37)) >"sizes$d" && touch -d @1700000000 "sizes$d")
done
touch -d @1700000000 tree/dir*/sub* tree/dir* tree
ls -lR --time-style=long-iso tree | md5sum
ls -lRS --time-style=long-iso tree | tail -n 5
ls -lRt --time-style=long-iso tree | wc -l
ls -R /usr/lib/x86_64-linux-gnu/perl-base | wc -c | awk '{print ($1 > 0)}'
