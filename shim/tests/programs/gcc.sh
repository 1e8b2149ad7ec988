# gcc and g++: compile (cc1, cc1plus, as, collect2, ld all on the allocator),
# link, run; the objects must be the same bytes.
set -e
cat >prog.c <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
struct item { char name[32]; int value; };
static int by_value(const void *a, const void *b) {
  return ((const struct item *)a)->value - ((const struct item *)b)->value;
}
int main(void) {
  struct item items[1000];
  for (int i = 0; i < 1000; i++) {
    snprintf(items[i].name, sizeof items[i].name, "item%d", i);
    items[i].value = (i * 7919) % 1000;
  }
  qsort(items, 1000, sizeof items[0], by_value);
  long sum = 0;
  for (int i = 0; i < 1000; i++) sum += (long)i * items[i].value;
  printf("%s %s %ld\n", items[0].name, items[999].name, sum);
  return 0;
}
C
cat >prog.cc <<'CC'
#include <algorithm>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>
template <typename T> struct Tree {
  std::map<std::string, std::vector<T>> buckets;
  void add(const std::string &k, T v) { buckets[k].push_back(v); }
  T total() const {
    T t{};
    for (const auto &b : buckets) t = std::accumulate(b.second.begin(), b.second.end(), t);
    return t;
  }
};
int main() {
  Tree<long> tree;
  for (long i = 0; i < 100000; i++) tree.add("k" + std::to_string(i % 97), i);
  std::vector<std::unique_ptr<std::string>> v;
  for (int i = 0; i < 1000; i++) v.push_back(std::make_unique<std::string>(std::to_string(i * i)));
  std::sort(v.begin(), v.end(), [](const auto &a, const auto &b) { return *a < *b; });
  std::cout << tree.buckets.size() << " " << tree.total() << " " << *v.front() << " " << *v.back() << "\n";
}
CC
gcc -O2 -g -frandom-seed=zone -c prog.c -o prog_c.o
g++ -O2 -g -std=c++17 -frandom-seed=zone -c prog.cc -o prog_cc.o
gcc prog_c.o -o prog_c
g++ prog_cc.o -o prog_cc
sha256sum prog_c.o prog_cc.o
./prog_c
./prog_cc
