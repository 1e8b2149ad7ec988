# sort: a large generated file sorted several ways (big buffers, threads).
set -e
awk 'BEGIN { srand(1); for (i = 0; i < 400000; i++)
  printf "%08d %s %d\n", int(rand() * 1e8), substr("abcdefghijklmnopqrstuvwxyz", int(rand() * 26) + 1, int(rand() * 20) + 1), i }' >big.txt
wc -l big.txt
sort big.txt | md5sum
sort -k2,2 -k1,1n big.txt | md5sum
sort -n -r -k3 big.txt | head -n 3
sort -u -k2,2 big.txt | wc -l
sort --parallel=2 -S 4M big.txt | tail -n 2
